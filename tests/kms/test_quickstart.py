"""The foundation's promise: the README snippet works through a real boto3 client in-process."""
import keyplane


def test_readme_snippet_encrypts_and_decrypts_through_alias(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    kp = keyplane.connect()
    kms = kp.client("kms", region="us-east-1")
    key = kms.create_key(Description="orders")["KeyMetadata"]
    kms.create_alias(AliasName="alias/orders", TargetKeyId=key["KeyId"])
    blob = kms.encrypt(KeyId="alias/orders", Plaintext=b"hi", EncryptionContext={"tenant": "a"})["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext={"tenant": "a"})["Plaintext"] == b"hi"
    assert (tmp_path / ".keyplane" / "state.db").exists()
    assert oct((tmp_path / ".keyplane" / "root.key").stat().st_mode & 0o777) == "0o600"

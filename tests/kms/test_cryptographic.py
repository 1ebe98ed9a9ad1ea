"""Encrypt, Decrypt, ReEncrypt, data keys and random bytes through a real boto3 client: the
ciphertext format's guarantees (self-describing, context-bound, tamper-evident)."""
import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


def code(e):
    return e.value.response["Error"]["Code"]


@pytest.fixture
def key(kms):
    return kms.create_key(Description="crypto")["KeyMetadata"]


def test_decrypt_needs_no_key_id_and_reports_the_key_and_material(kms, key):
    out = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"secret")
    assert out["KeyId"] == key["Arn"] and out["EncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
    dec = kms.decrypt(CiphertextBlob=out["CiphertextBlob"])
    assert dec["Plaintext"] == b"secret" and dec["KeyId"] == key["Arn"]
    assert dec["KeyMaterialId"] == key["CurrentKeyMaterialId"]


def test_same_plaintext_encrypts_to_different_ciphertexts(kms, key):
    a = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"same")["CiphertextBlob"]
    b = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"same")["CiphertextBlob"]
    assert a != b


def test_decrypt_with_wrong_context_is_invalid_ciphertext(kms, key):
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x", EncryptionContext={"tenant": "a"})["CiphertextBlob"]
    for ctx in ({"tenant": "b"}, {"Tenant": "a"}, {}, {"tenant": "a", "extra": "1"}):
        with pytest.raises(ClientError) as e:
            kms.decrypt(CiphertextBlob=blob, EncryptionContext=ctx)
        assert code(e) == "InvalidCiphertextException"


def test_context_order_does_not_matter(kms, key):
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x",
                       EncryptionContext={"a": "1", "b": "2"})["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext={"b": "2", "a": "1"})["Plaintext"] == b"x"


def test_every_flipped_bit_and_every_truncation_is_refused(kms, key):
    """No damaged ciphertext decrypts. Damage is InvalidCiphertextException, except where the
    flipped bit leaves a well-formed reference to a key that is not here, which is what AWS answers
    with AccessDeniedException "The ciphertext refers to a customer master key that does not
    exist, does not exist in this region, or you are not allowed to access." (quoted in
    Droplr/aws-env#29); both say nothing more."""
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"tamper me", EncryptionContext={"k": "v"})["CiphertextBlob"]
    # the key reference: account (bytes 2-13), Region and key id, each after its length byte
    reference_end = blob.index(key["KeyId"].encode()) + len(key["KeyId"])
    denied = 0
    for i in range(len(blob) * 8):
        bad = bytearray(blob)
        bad[i // 8] ^= 1 << (i % 8)
        with pytest.raises(ClientError) as e:
            kms.decrypt(CiphertextBlob=bytes(bad), EncryptionContext={"k": "v"})
        if code(e) == "AccessDeniedException":
            denied += 1
            assert 2 <= i // 8 < reference_end, f"bit {i}"
            assert e.value.response["Error"]["Message"].startswith("The ciphertext refers to a customer master key")
        else:
            assert code(e) == "InvalidCiphertextException", f"bit {i}"
    assert 0 < denied < 200      # only flips inside the key reference read as another key
    for n in range(1, len(blob)):
        with pytest.raises(ClientError) as e:
            kms.decrypt(CiphertextBlob=blob[:n], EncryptionContext={"k": "v"})
        assert code(e) == "InvalidCiphertextException", f"truncated to {n}"


def test_decrypt_naming_another_key_is_incorrect_key(kms, key):
    other = kms.create_key()["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    with pytest.raises(ClientError) as e:
        kms.decrypt(CiphertextBlob=blob, KeyId=other)
    assert code(e) == "IncorrectKeyException"
    assert kms.decrypt(CiphertextBlob=blob, KeyId=key["Arn"])["Plaintext"] == b"x"


def test_plaintext_over_4096_bytes_is_a_validation_error_without_echoing_it(kp, key):
    kms = kp.client("kms", parameter_validation=False)
    with pytest.raises(ClientError) as e:
        kms.encrypt(KeyId=key["KeyId"], Plaintext=b"A" * 4097)
    assert code(e) == "ValidationException"
    msg = e.value.response["Error"]["Message"]
    assert "at 'plaintext' failed to satisfy constraint: Member must have length less than or equal to 4096" in msg
    assert "AAAA" not in msg
    assert kms.encrypt(KeyId=key["KeyId"], Plaintext=b"A" * 4096)["CiphertextBlob"]


def test_reencrypt_moves_ciphertext_to_another_key_and_context(kms, key):
    dest = kms.create_key()["KeyMetadata"]
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"move", EncryptionContext={"a": "1"})["CiphertextBlob"]
    out = kms.re_encrypt(CiphertextBlob=blob, SourceEncryptionContext={"a": "1"},
                         DestinationKeyId=dest["KeyId"], DestinationEncryptionContext={"b": "2"})
    assert out["SourceKeyId"] == key["Arn"] and out["KeyId"] == dest["Arn"]
    assert out["SourceKeyMaterialId"] == key["CurrentKeyMaterialId"]
    assert out["DestinationKeyMaterialId"] == dest["CurrentKeyMaterialId"]
    dec = kms.decrypt(CiphertextBlob=out["CiphertextBlob"], EncryptionContext={"b": "2"})
    assert dec["Plaintext"] == b"move" and dec["KeyId"] == dest["Arn"]
    with pytest.raises(ClientError) as e:
        kms.re_encrypt(CiphertextBlob=blob, SourceEncryptionContext={"a": "2"}, DestinationKeyId=dest["KeyId"])
    assert code(e) == "InvalidCiphertextException"


def test_generate_data_key_plaintext_matches_its_encrypted_copy(kms, key):
    out = kms.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256", EncryptionContext={"f": "1"})
    assert len(out["Plaintext"]) == 32 and out["KeyId"] == key["Arn"]
    assert kms.decrypt(CiphertextBlob=out["CiphertextBlob"], EncryptionContext={"f": "1"})["Plaintext"] == out["Plaintext"]
    # the data key really is an AES key an application can use
    AESGCM(out["Plaintext"]).encrypt(b"\0" * 12, b"payload", None)
    assert len(kms.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_128")["Plaintext"]) == 16
    assert len(kms.generate_data_key(KeyId=key["KeyId"], NumberOfBytes=64)["Plaintext"]) == 64


def test_generate_data_key_without_plaintext_returns_only_ciphertext(kms, key):
    out = kms.generate_data_key_without_plaintext(KeyId=key["KeyId"], KeySpec="AES_256")
    assert "Plaintext" not in out
    assert len(kms.decrypt(CiphertextBlob=out["CiphertextBlob"])["Plaintext"]) == 32


def test_generate_data_key_needs_exactly_one_of_key_spec_and_number_of_bytes(kms, key):
    for kwargs in ({}, {"KeySpec": "AES_256", "NumberOfBytes": 32}):
        with pytest.raises(ClientError) as e:
            kms.generate_data_key(KeyId=key["KeyId"], **kwargs)
        assert code(e) == "ValidationException"


def test_generate_random_returns_the_number_of_bytes_asked(kms):
    a = kms.generate_random(NumberOfBytes=1024)["Plaintext"]
    b = kms.generate_random(NumberOfBytes=1024)["Plaintext"]
    assert len(a) == 1024 and a != b
    with pytest.raises(ClientError) as e:
        kms.generate_random()
    assert code(e) == "ValidationException"


def test_dry_run_answers_would_have_succeeded_and_does_nothing(engine, kms, key):
    with pytest.raises(ClientError) as e:
        kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x", DryRun=True)
    assert code(e) == "DryRunOperationException"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    kms.disable_key(KeyId=key["KeyId"])
    with pytest.raises(ClientError) as e:
        kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x", DryRun=True)
    assert code(e) == "DisabledException"


def test_aws_managed_key_is_created_on_first_describe(kms):
    md = kms.describe_key(KeyId="alias/aws/ssm")["KeyMetadata"]
    assert md["KeyManager"] == "AWS" and md["KeyState"] == "Enabled"
    again = kms.describe_key(KeyId="alias/aws/ssm")["KeyMetadata"]
    assert again["KeyId"] == md["KeyId"]
    entry = [a for a in kms.list_aliases()["Aliases"] if a["AliasName"] == "alias/aws/ssm"][0]
    assert entry["TargetKeyId"] == md["KeyId"]
    with pytest.raises(ClientError) as e:
        kms.disable_key(KeyId=md["KeyId"])
    assert code(e) == "AccessDeniedException"


def test_dry_run_ignoring_ciphertext_needs_only_the_key(kms, key):
    with pytest.raises(ClientError) as e:
        kms.decrypt(KeyId=key["KeyId"], DryRun=True, DryRunModifiers=["IGNORE_CIPHERTEXT"])
    assert code(e) == "DryRunOperationException"
    with pytest.raises(ClientError) as e:
        kms.decrypt(DryRun=True, DryRunModifiers=["IGNORE_CIPHERTEXT"])
    assert code(e) == "ValidationException"
    with pytest.raises(ClientError) as e:
        kms.decrypt(KeyId=key["KeyId"])
    assert code(e) == "ValidationException"

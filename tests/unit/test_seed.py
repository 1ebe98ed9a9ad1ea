"""Seed files (`schemas/seed.schema.json`): fixed key ids and material, aliases, policies, tags,
parameters and secrets, applied idempotently; with fixed material a fresh keyplane decrypts what
an earlier one encrypted; errors name file, line and JSON path and never show a secret."""
from __future__ import annotations

import base64
import os
import subprocess

import pytest

from keyplane.client import connect
from keyplane.engine import seed as seeding
from keyplane.engine.core import Engine

SYMMETRIC_ID = "11111111-2222-3333-4444-555555555555"
HMAC_ID = "22222222-3333-4444-5555-666666666666"
RSA_ID = "33333333-4444-5555-6666-777777777777"
GENERATED_ID = "44444444-5555-6666-7777-888888888888"
ECC_ID = "55555555-6666-7777-8888-999999999999"
MATERIAL = base64.b64encode(bytes(range(32))).decode()


def _rsa_pem(tmp_path) -> str:
    """An RSA private key made by the openssl command, as a user would make one."""
    path = tmp_path / "rsa.pem"
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", str(path)],
                   check=True, capture_output=True)
    return path.read_text()


def _seed_text(rsa_pem: str) -> str:
    indented = "\n".join("      " + line for line in rsa_pem.strip().splitlines())
    return f"""\
region: us-east-1
account: "111122223333"
keys:
  - id: {SYMMETRIC_ID}
    description: orders
    material: {MATERIAL}
    aliases: [alias/orders, alias/orders-v1]
    tags: {{team: payments}}
    policy:
      Version: "2012-10-17"
      Statement:
        - Sid: root
          Effect: Allow
          Principal: {{AWS: "arn:aws:iam::111122223333:root"}}
          Action: "kms:*"
          Resource: "*"
  - id: {HMAC_ID}
    key_spec: HMAC_256
    material: {base64.b64encode(b"m" * 32).decode()}
  - id: {RSA_ID}
    key_spec: RSA_2048
    key_usage: SIGN_VERIFY
    material: |
{indented}
  - id: {GENERATED_ID}
    enabled: false
parameters:
  - name: /app/db/host
    value: db.internal
  - name: /app/db/password
    value: hunter2-seeded
    type: SecureString
secrets:
  - name: app/api-key
    secret_string: seeded-secret-value
    tags: {{team: payments}}
"""


def _engine(tmp_path, name):
    return Engine(str(tmp_path / name))


def test_a_seed_creates_keys_aliases_parameters_and_secrets_and_a_second_apply_changes_nothing(tmp_path):
    seed = seeding.parse(_seed_text(_rsa_pem(tmp_path)), "seed.yaml")
    engine = _engine(tmp_path, "a")
    first = seeding.apply(engine, seed)
    assert ("key", SYMMETRIC_ID) in first.created and ("alias", "alias/orders-v1") in first.created
    kp = connect(engine=engine, account="111122223333")
    kms, ssm, sm = kp.client("kms"), kp.client("ssm"), kp.client("secretsmanager")

    described = kms.describe_key(KeyId="alias/orders")["KeyMetadata"]
    assert described["KeyId"] == SYMMETRIC_ID and described["Description"] == "orders"
    assert kms.list_resource_tags(KeyId=SYMMETRIC_ID)["Tags"] == [{"TagKey": "team", "TagValue": "payments"}]
    assert '"Sid": "root"' in kms.get_key_policy(KeyId=SYMMETRIC_ID, PolicyName="default")["Policy"]
    assert kms.describe_key(KeyId=GENERATED_ID)["KeyMetadata"]["KeyState"] == "Disabled"
    assert kms.describe_key(KeyId=HMAC_ID)["KeyMetadata"]["KeyUsage"] == "GENERATE_VERIFY_MAC"
    assert ssm.get_parameter(Name="/app/db/password", WithDecryption=True)["Parameter"]["Value"] == "hunter2-seeded"
    assert sm.get_secret_value(SecretId="app/api-key")["SecretString"] == "seeded-secret-value"

    second = seeding.apply(engine, seed)
    assert second.created == [] and ("key", SYMMETRIC_ID) in second.kept
    assert ssm.get_parameter(Name="/app/db/host")["Parameter"]["Version"] == 1


def test_fixed_material_gives_the_same_ciphertexts_meaning_on_a_fresh_keyplane(tmp_path):
    """A fixture may hold ciphertext blobs: a new keyplane (new store, new root key) seeded with the
    same file decrypts them, verifies the same MACs and the RSA key's signatures."""
    text = _seed_text(_rsa_pem(tmp_path))
    first = _engine(tmp_path, "first")
    seeding.apply(first, seeding.parse(text, "seed.yaml"))
    kms1 = connect(engine=first, account="111122223333").client("kms")
    blob = kms1.encrypt(KeyId="alias/orders", Plaintext=b"fixture", EncryptionContext={"a": "b"})["CiphertextBlob"]
    mac = kms1.generate_mac(KeyId=HMAC_ID, Message=b"m", MacAlgorithm="HMAC_SHA_256")["Mac"]
    signature = kms1.sign(KeyId=RSA_ID, Message=b"s", SigningAlgorithm="RSASSA_PSS_SHA_256")["Signature"]
    public = kms1.get_public_key(KeyId=RSA_ID)["PublicKey"]
    first.close()

    fresh = _engine(tmp_path, "fresh")
    seeding.apply(fresh, seeding.parse(text, "seed.yaml"))
    kms2 = connect(engine=fresh, account="111122223333").client("kms")
    out = kms2.decrypt(CiphertextBlob=blob, EncryptionContext={"a": "b"})
    assert out["Plaintext"] == b"fixture" and out["KeyId"].endswith(SYMMETRIC_ID)
    assert kms2.verify_mac(KeyId=HMAC_ID, Message=b"m", MacAlgorithm="HMAC_SHA_256", Mac=mac)["MacValid"]
    assert kms2.verify(KeyId=RSA_ID, Message=b"s", Signature=signature,
                       SigningAlgorithm="RSASSA_PSS_SHA_256")["SignatureValid"]
    assert kms2.get_public_key(KeyId=RSA_ID)["PublicKey"] == public


def test_a_stored_key_with_other_material_is_an_error_and_is_not_replaced(tmp_path):
    engine = _engine(tmp_path, "a")
    seeding.apply(engine, seeding.parse(f"account: '111122223333'\nkeys:\n  - id: {SYMMETRIC_ID}\n    material: {MATERIAL}\n"))
    kms = connect(engine=engine, account="111122223333").client("kms")
    blob = kms.encrypt(KeyId=SYMMETRIC_ID, Plaintext=b"x")["CiphertextBlob"]
    other = base64.b64encode(b"\x07" * 32).decode()
    with pytest.raises(seeding.SeedError) as err:
        seeding.apply(engine, seeding.parse(
            f"account: '111122223333'\nkeys:\n  - id: {SYMMETRIC_ID}\n    material: {other}\n", "s.yaml"))
    assert str(err.value).startswith("s.yaml:4: $.keys[0].material: the stored key")
    assert other not in str(err.value)
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"x"


@pytest.mark.parametrize("text,expected", [
    ("keys:\n  - id: not-a-key-id\n", "seed.yaml:2: $.keys[0].id: 'not-a-key-id' does not match"),
    ("keys:\n  - id: " + SYMMETRIC_ID + "\n    key_spec: HMAC_256\n    key_usage: ENCRYPT_DECRYPT\n",
     "seed.yaml:4: $.keys[0].key_usage: HMAC_256 keys take GENERATE_VERIFY_MAC"),
    ("keys:\n  - id: " + SYMMETRIC_ID + "\n    material: " + base64.b64encode(b"short").decode() + "\n",
     "seed.yaml:3: $.keys[0].material: Symmetric key material must be 256 bits (32 bytes)."),
    ("parameters:\n  - name: /x\n    value: 1\n", "seed.yaml:3: $.parameters[0].value: does not satisfy the schema (type)"),
    ("secrets:\n  - name: s\n    secret_string: [top-secret]\n", "seed.yaml:3: $.secrets[0].secret_string: does not satisfy"),
    ("keys: [\n", "seed.yaml:2: not valid YAML"),
    ("colour: blue\n", "seed.yaml:1: $: Additional properties are not allowed ('colour' was unexpected)"),
])
def test_seed_errors_name_the_file_line_and_json_path(text, expected):
    with pytest.raises(seeding.SeedError) as err:
        seeding.parse(text, "seed.yaml")
    assert str(err.value).startswith(expected), str(err.value)
    assert "top-secret" not in str(err.value)


def test_a_seed_error_from_an_operation_names_where_it_came_from(tmp_path):
    engine = _engine(tmp_path, "a")
    text = (f"account: '111122223333'\nkeys:\n  - id: {SYMMETRIC_ID}\n    aliases: [alias/aws/mine]\n")
    with pytest.raises(seeding.SeedError) as err:
        seeding.apply(engine, seeding.parse(text, "seed.yaml"))
    assert str(err.value).startswith("seed.yaml:4: $.keys[0].aliases[0]: CreateAlias: ")


def test_seed_identities_are_merged_without_removing_anything():
    seed = seeding.parse("""\
identities:
  accounts:
    - id: "111122223333"
      users:
        - name: ci
          access_keys: [{id: AKIAAAAAAAAAAAAAAAAA, secret: "0000000000000000000000000000000000000000"}]
    - id: "444455556666"
""")
    data = {"accounts": [{"id": "111122223333", "users": [{"name": "admin"}]}]}
    merged = seeding.merge_identities(data, seed)
    assert [a["id"] for a in merged["accounts"]] == ["111122223333", "444455556666"]
    assert [u["name"] for u in merged["accounts"][0]["users"]] == ["admin", "ci"]


def test_ecc_material_every_parameter_type_and_a_binary_secret(tmp_path):
    """The rest of what a seed holds: an ECC_NIST_P256 key from an openssl PEM (KMS's public key is
    that PEM's, https://docs.aws.amazon.com/kms/latest/APIReference/API_GetPublicKey.html), a
    StringList and a SecureString under a seeded key
    (https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_PutParameter.html), and a
    SecretBinary (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_CreateSecret.html)."""
    from cryptography.hazmat.primitives import serialization
    pem = tmp_path / "ec.pem"
    subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(pem)],
                   check=True, capture_output=True)
    indented = "\n".join("      " + line for line in pem.read_text().strip().splitlines())
    binary = bytes(range(256))
    seed = seeding.parse(f"""\
account: "111122223333"
keys:
  - id: {SYMMETRIC_ID}
    material: {MATERIAL}
  - id: {ECC_ID}
    key_spec: ECC_NIST_P256
    key_usage: SIGN_VERIFY
    material: |
{indented}
parameters:
  - {{name: /app/hosts, value: "a,b,c", type: StringList}}
  - {{name: /app/token, value: t0ken, type: SecureString, key_id: {SYMMETRIC_ID}}}
secrets:
  - {{name: app/blob, secret_binary: {base64.b64encode(binary).decode()}}}
""", "seed.yaml")
    engine = _engine(tmp_path, "ecc")
    seeding.apply(engine, seed)
    kp = connect(engine=engine, account="111122223333")
    kms, ssm, sm = kp.client("kms"), kp.client("ssm"), kp.client("secretsmanager")
    public = serialization.load_pem_private_key(pem.read_bytes(), None).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    got = kms.get_public_key(KeyId=ECC_ID)
    assert got["PublicKey"] == public and got["KeySpec"] == "ECC_NIST_P256"
    hosts = ssm.get_parameter(Name="/app/hosts")["Parameter"]
    assert (hosts["Type"], hosts["Value"]) == ("StringList", "a,b,c")
    token = ssm.get_parameter(Name="/app/token", WithDecryption=True)["Parameter"]
    assert token["Value"] == "t0ken"
    assert ssm.describe_parameters(ParameterFilters=[{"Key": "Name", "Values": ["/app/token"]}])[
        "Parameters"][0]["KeyId"].endswith(SYMMETRIC_ID)
    assert sm.get_secret_value(SecretId="app/blob")["SecretBinary"] == binary

"""ML-KEM KMS keys through real boto3 clients: who may Encapsulate and Decapsulate (key policies,
grants and grant tokens), the audit trail, imported ML-KEM material, multi-Region ML-KEM keys,
what refuses them (custom key stores, rotation), seed files, and `keyplane serve` end to end.

Sources: Encapsulate https://docs.aws.amazon.com/kms/latest/APIReference/API_Encapsulate.html and
Decapsulate https://docs.aws.amazon.com/kms/latest/APIReference/API_Decapsulate.html ("Required
permissions: kms:Encapsulate / kms:Decapsulate (key policy)", "Cross-account use: Yes");
GetParametersForImport https://docs.aws.amazon.com/kms/latest/APIReference/API_GetParametersForImport.html
("All KMS key types are supported, including multi-Region keys. However, you cannot import key
material into a KMS key in a custom key store").
"""
from __future__ import annotations

import json

import pytest
import yaml
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, mlkem, padding

import keyplane
from keyplane.engine.core import Engine
from keyplane.engine.identity import Identities
from keyplane.testing import serve_keyplane

from test_custom_key_store import _softhsm_folder, connected_store, softhsm  # noqa: E402,F401

A = "111122223333"
ROOT, CAROL = f"arn:aws:iam::{A}:root", f"arn:aws:iam::{A}:user/carol"
EAST, WEST = "us-east-1", "eu-west-1"
KEM = {"KeySpec": "ML_KEM_768", "KeyUsage": "ENCAPSULATE_DECAPSULATE"}


def code_of(exc_info) -> str:
    return exc_info.value.response["Error"]["Code"]


def round_trip(client, key_id) -> bytes:
    enc = client.encapsulate(KeyId=key_id, EncapsulationAlgorithm="ML_KEM")
    dec = client.decapsulate(KeyId=key_id, EncapsulationAlgorithm="ML_KEM",
                             SharedSecretCiphertextBlob=enc["SharedSecretCiphertextBlob"])
    assert dec["SharedSecret"] == enc["SharedSecret"]
    return enc["SharedSecret"]


# ---- authorisation -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def clients(tmp_path_factory):
    path = tmp_path_factory.mktemp("ids") / "identities.yaml"
    path.write_text(yaml.safe_dump({"version": 1, "accounts": [{"id": A, "users": [{"name": "carol"}]}]}))
    engine = Engine("memory", identities=Identities.load(path))
    make = lambda who: keyplane.connect(engine=engine, principal=who).client("kms", region=EAST)  # noqa: E731
    yield make(ROOT), make(CAROL)
    engine.close()


def _policy(*carol_actions: str) -> str:
    statements = [{"Sid": "admin", "Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "kms:*", "Resource": "*"}]
    if carol_actions:
        statements.append({"Sid": "carol", "Effect": "Allow", "Principal": {"AWS": CAROL},
                           "Action": list(carol_actions), "Resource": "*"})
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def test_encapsulate_and_decapsulate_need_their_own_permission(clients):
    """kms:Encapsulate and kms:Decapsulate are separate actions: a key policy that gives carol only
    kms:Encapsulate lets her establish a secret but not recover one (AccessDeniedException)."""
    root, carol = clients
    arn = root.create_key(Policy=_policy("kms:Encapsulate", "kms:GetPublicKey"), **KEM)["KeyMetadata"]["Arn"]
    blob = carol.encapsulate(KeyId=arn, EncapsulationAlgorithm="ML_KEM")["SharedSecretCiphertextBlob"]
    with pytest.raises(ClientError) as exc:
        carol.decapsulate(KeyId=arn, EncapsulationAlgorithm="ML_KEM", SharedSecretCiphertextBlob=blob)
    assert code_of(exc) == "AccessDeniedException"
    assert "kms:Decapsulate" in exc.value.response["Error"]["Message"]
    assert root.decapsulate(KeyId=arn, EncapsulationAlgorithm="ML_KEM", SharedSecretCiphertextBlob=blob)
    # authorisation comes before the blob is looked at: a bad blob is still AccessDenied for carol
    with pytest.raises(ClientError) as exc:
        carol.decapsulate(KeyId=arn, EncapsulationAlgorithm="ML_KEM", SharedSecretCiphertextBlob=b"x")
    assert code_of(exc) == "AccessDeniedException"


def test_a_grant_for_encapsulate_and_decapsulate_lets_the_grantee_use_the_key_with_its_token(clients):
    """Grants: GrantOperation Encapsulate / Decapsulate; a grant token works at once
    (https://docs.aws.amazon.com/kms/latest/developerguide/grant-tokens.html)."""
    root, carol = clients
    arn = root.create_key(Policy=_policy(), **KEM)["KeyMetadata"]["Arn"]
    with pytest.raises(ClientError) as exc:
        carol.encapsulate(KeyId=arn, EncapsulationAlgorithm="ML_KEM")
    assert code_of(exc) == "AccessDeniedException"
    token = root.create_grant(KeyId=arn, GranteePrincipal=CAROL,
                              Operations=["Encapsulate", "Decapsulate"])["GrantToken"]
    enc = carol.encapsulate(KeyId=arn, EncapsulationAlgorithm="ML_KEM", GrantTokens=[token])
    dec = carol.decapsulate(KeyId=arn, EncapsulationAlgorithm="ML_KEM", GrantTokens=[token],
                            SharedSecretCiphertextBlob=enc["SharedSecretCiphertextBlob"])
    assert dec["SharedSecret"] == enc["SharedSecret"]
    with pytest.raises(ClientError) as exc:        # the grant does not give GetPublicKey
        carol.get_public_key(KeyId=arn)
    assert code_of(exc) == "AccessDeniedException"
    with pytest.raises(ClientError) as exc:
        carol.encapsulate(KeyId=arn, EncapsulationAlgorithm="ML_KEM", GrantTokens=["not-a-grant-token"])
    assert code_of(exc) == "InvalidGrantTokenException"


def test_another_account_encapsulates_and_decapsulates_when_key_policy_and_its_iam_policy_allow(tmp_path, clock):
    """"Cross-account use: Yes": a principal of account B uses A's ML-KEM key by its ARN when A's key
    policy allows account B and B's identity policy allows the action; either alone is refused
    (https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-modifying-external-accounts.html)."""
    b = "222222222222"
    both = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["kms:Encapsulate", "kms:Decapsulate"],
                                                   "Resource": f"arn:aws:kms:{EAST}:{A}:key/*"}]}
    identities = Identities({"accounts": [{"id": A}, {"id": b, "users": [
        {"name": "user", "policies": [{"name": "kem", "document": both}]}, {"name": "stranger"}]}]})
    engine = Engine(str(tmp_path / "state"), clock=clock, identities=identities, default_account=A)
    owner = keyplane.connect(engine=engine, account=A).client("kms", region=EAST)
    policy = json.loads(_policy())
    policy["Statement"].append({"Sid": "account B", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{b}:root"},
                                "Action": ["kms:Encapsulate", "kms:Decapsulate"], "Resource": "*"})
    arn = owner.create_key(Policy=json.dumps(policy), **KEM)["KeyMetadata"]["Arn"]
    user = keyplane.connect(engine=engine, principal=f"arn:aws:iam::{b}:user/user").client("kms", region=EAST)
    assert len(round_trip(user, arn)) == 32
    stranger = keyplane.connect(engine=engine, principal=f"arn:aws:iam::{b}:user/stranger").client("kms", region=EAST)
    with pytest.raises(ClientError) as exc:            # no identity policy in B
        stranger.encapsulate(KeyId=arn, EncapsulationAlgorithm="ML_KEM")
    assert code_of(exc) == "AccessDeniedException"
    closed = owner.create_key(Policy=_policy(), **KEM)["KeyMetadata"]["Arn"]
    with pytest.raises(ClientError) as exc:            # the key policy does not name B
        user.encapsulate(KeyId=closed, EncapsulationAlgorithm="ML_KEM")
    assert code_of(exc) == "AccessDeniedException"
    engine.close()


# ---- the audit trail ---------------------------------------------------------------------------

def test_both_operations_are_audited_and_no_shared_secret_is_kept_anywhere(tmp_path, clock):
    """Every call is recorded (eventName, the key as resource, the algorithm), refusals too; the
    shared secret and its ciphertext are blobs, which never enter a record or the store."""
    engine = Engine(str(tmp_path / "state"), clock=clock)
    kms = keyplane.connect(engine=engine).client("kms", region=EAST)
    arn = kms.create_key(**KEM)["KeyMetadata"]["Arn"]
    enc = kms.encapsulate(KeyId=arn, EncapsulationAlgorithm="ML_KEM")
    kms.decapsulate(KeyId=arn, EncapsulationAlgorithm="ML_KEM", SharedSecretCiphertextBlob=enc["SharedSecretCiphertextBlob"])
    with pytest.raises(ClientError):
        kms.decapsulate(KeyId=arn, EncapsulationAlgorithm="ML_KEM", SharedSecretCiphertextBlob=b"short")
    store = engine.store_for(EAST)
    encapsulated = engine.audit.query(store, event_name="Encapsulate")
    decapsulated = engine.audit.query(store, event_name="Decapsulate")
    assert len(encapsulated) == 1 and len(decapsulated) == 2
    assert encapsulated[0]["requestParameters"] == {"keyId": arn, "encapsulationAlgorithm": "ML_KEM"}
    assert encapsulated[0]["resources"][0]["ARN"] == arn and encapsulated[0]["readOnly"] is True
    assert {e.get("errorCode") for e in decapsulated} == {None, "InvalidCiphertextException"}
    trail = json.dumps(encapsulated + decapsulated)
    assert "sharedSecret" not in trail and "SharedSecret" not in trail
    engine.close()
    raw = b"".join(p.read_bytes() for p in (tmp_path / "state").iterdir() if p.name.startswith("state.db"))
    assert enc["SharedSecret"] not in raw


def test_encapsulate_and_decapsulate_are_uses_of_the_key(kms):
    """KeyLastUsageTrackingOperation lists Encapsulate and Decapsulate: each successful call is the
    key's last use (https://docs.aws.amazon.com/kms/latest/APIReference/API_GetKeyLastUsage.html);
    a refused one is not."""
    arn = kms.create_key(**KEM)["KeyMetadata"]["Arn"]
    enc = kms.encapsulate(KeyId=arn, EncapsulationAlgorithm="ML_KEM")
    assert kms.get_key_last_usage(KeyId=arn)["KeyLastUsage"]["Operation"] == "Encapsulate"
    kms.decapsulate(KeyId=arn, EncapsulationAlgorithm="ML_KEM", SharedSecretCiphertextBlob=enc["SharedSecretCiphertextBlob"])
    assert kms.get_key_last_usage(KeyId=arn)["KeyLastUsage"]["Operation"] == "Decapsulate"
    with pytest.raises(ClientError):
        kms.encapsulate(KeyId=arn, EncapsulationAlgorithm="ML_KEM", DryRun=True)
    assert kms.get_key_last_usage(KeyId=arn)["KeyLastUsage"]["Operation"] == "Decapsulate"


# ---- imported material -------------------------------------------------------------------------

def _import(kms, arn, material: bytes):
    params = kms.get_parameters_for_import(KeyId=arn, WrappingAlgorithm="RSAES_OAEP_SHA_256",
                                           WrappingKeySpec="RSA_2048")
    wrapping = serialization.load_der_public_key(params["PublicKey"])
    wrapped = wrapping.encrypt(material, padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(),
                                                      label=None))
    return kms.import_key_material(KeyId=arn, ImportToken=params["ImportToken"], EncryptedKeyMaterial=wrapped,
                                   ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")


def _pkcs8(private) -> bytes:
    return private.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())


def test_imported_ml_kem_material_is_the_key_that_encapsulates(kms):
    """An ML-KEM key with Origin EXTERNAL waits in PendingImport; PKCS#8 (seed form) ML-KEM material
    imports, and the key's secrets then decapsulate with the private key kept outside."""
    arn = kms.create_key(Origin="EXTERNAL", **KEM)["KeyMetadata"]["Arn"]
    assert kms.describe_key(KeyId=arn)["KeyMetadata"]["KeyState"] == "PendingImport"
    with pytest.raises(ClientError) as exc:
        kms.encapsulate(KeyId=arn, EncapsulationAlgorithm="ML_KEM")
    assert code_of(exc) == "KMSInvalidStateException"
    private = mlkem.MLKEM768PrivateKey.generate()
    assert _import(kms, arn, _pkcs8(private))["KeyId"] == arn
    enc = kms.encapsulate(KeyId=arn, EncapsulationAlgorithm="ML_KEM")
    assert private.decapsulate(enc["SharedSecretCiphertextBlob"]) == enc["SharedSecret"]
    assert serialization.load_der_public_key(kms.get_public_key(KeyId=arn)["PublicKey"]) == private.public_key()


@pytest.mark.parametrize("wrong", [lambda: mlkem.MLKEM1024PrivateKey.generate(),
                                   lambda: ed25519.Ed25519PrivateKey.generate()])
def test_material_of_another_spec_is_incorrect_key_material_and_the_key_keeps_waiting(kms, wrong):
    arn = kms.create_key(Origin="EXTERNAL", **KEM)["KeyMetadata"]["Arn"]
    with pytest.raises(ClientError) as exc:
        _import(kms, arn, _pkcs8(wrong()))
    assert code_of(exc) == "IncorrectKeyMaterialException"
    assert kms.describe_key(KeyId=arn)["KeyMetadata"]["KeyState"] == "PendingImport"


# ---- multi-Region, custom key stores, rotation -------------------------------------------------

def test_a_multi_region_ml_kem_key_decapsulates_in_its_replica_region(tmp_path, clock):
    """Multi-Region keys share key material across Regions
    (https://docs.aws.amazon.com/kms/latest/developerguide/multi-region-keys-overview.html): a secret
    encapsulated with the primary comes back from the replica, and both publish the same key."""
    regions = {EAST: f"sqlite:///{tmp_path}/east.db", WEST: f"sqlite:///{tmp_path}/west.db"}
    engine = Engine(str(tmp_path / "default"), regions=regions, clock=clock)
    kp = keyplane.connect(engine=engine)
    east, west = kp.client("kms", region=EAST), kp.client("kms", region=WEST)
    key = east.create_key(MultiRegion=True, **KEM)["KeyMetadata"]
    replica = east.replicate_key(KeyId=key["KeyId"], ReplicaRegion=WEST)["ReplicaKeyMetadata"]
    assert (replica["KeySpec"], replica["EncapsulationAlgorithms"]) == ("ML_KEM_768", ["ML_KEM"])
    enc = east.encapsulate(KeyId=key["KeyId"], EncapsulationAlgorithm="ML_KEM")
    dec = west.decapsulate(KeyId=key["KeyId"], EncapsulationAlgorithm="ML_KEM",
                           SharedSecretCiphertextBlob=enc["SharedSecretCiphertextBlob"])
    assert dec["SharedSecret"] == enc["SharedSecret"] and dec["KeyId"] == replica["Arn"]
    assert east.get_public_key(KeyId=key["KeyId"])["PublicKey"] == west.get_public_key(KeyId=key["KeyId"])["PublicKey"]
    engine.close()


def test_an_ml_kem_key_cannot_live_in_a_custom_key_store(kms, connected_store):
    """Keys in an AWS CloudHSM key store are symmetric encryption keys only
    (https://docs.aws.amazon.com/kms/latest/developerguide/create-cmk-keystore.html)."""
    store_id, _ = connected_store
    before = kms.list_keys()["Keys"]
    with pytest.raises(ClientError) as exc:
        kms.create_key(CustomKeyStoreId=store_id, Origin="AWS_CLOUDHSM", **KEM)
    assert code_of(exc) == "UnsupportedOperationException"
    assert kms.list_keys()["Keys"] == before


def test_an_ml_kem_key_does_not_rotate(kms):
    """Automatic and on-demand rotation are for symmetric encryption keys
    (https://docs.aws.amazon.com/kms/latest/developerguide/rotate-keys.html)."""
    arn = kms.create_key(**KEM)["KeyMetadata"]["Arn"]
    for call in (lambda: kms.enable_key_rotation(KeyId=arn), lambda: kms.rotate_key_on_demand(KeyId=arn)):
        with pytest.raises(ClientError) as exc:
            call()
        assert code_of(exc) == "UnsupportedOperationException"


# ---- seed files --------------------------------------------------------------------------------

def test_a_seed_file_makes_an_ml_kem_key_with_fixed_material(tmp_path):
    """schemas/seed.schema.json takes ML_KEM_768 / ENCAPSULATE_DECAPSULATE and a PEM private key."""
    from keyplane.engine import seed as seeding

    private = mlkem.MLKEM768PrivateKey.generate()
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    key_id = "5c1b8f0e-2f4a-4d0b-9a61-0a4f7d1c9e21"
    text = yaml.safe_dump({"region": EAST, "account": A, "keys": [
        {"id": key_id, "key_spec": "ML_KEM_768", "key_usage": "ENCAPSULATE_DECAPSULATE", "material": pem}]})
    engine = Engine(str(tmp_path / "state"))
    seeding.apply(engine, seeding.parse(text, "seed.yaml"))
    kms = keyplane.connect(engine=engine, account=A).client("kms", region=EAST)
    enc = kms.encapsulate(KeyId=key_id, EncapsulationAlgorithm="ML_KEM")
    assert private.decapsulate(enc["SharedSecretCiphertextBlob"]) == enc["SharedSecret"]
    engine.close()


# ---- keyplane serve ----------------------------------------------------------------------------

def test_keyplane_serve_answers_ml_kem_and_ed25519ph_over_http():
    """The same operations through `keyplane serve` (HTTP, SigV4) and a stock boto3 client."""
    import hashlib

    with serve_keyplane() as server:
        kms = server.client("kms")
        arn = kms.create_key(KeySpec="ML_KEM_1024", KeyUsage="ENCAPSULATE_DECAPSULATE")["KeyMetadata"]["Arn"]
        assert len(round_trip(kms, arn)) == 32
        public = serialization.load_der_public_key(kms.get_public_key(KeyId=arn)["PublicKey"])
        secret, blob = public.encapsulate()
        assert kms.decapsulate(KeyId=arn, EncapsulationAlgorithm="ML_KEM",
                               SharedSecretCiphertextBlob=blob)["SharedSecret"] == secret
        with pytest.raises(ClientError) as exc:
            kms.decapsulate(KeyId=arn, EncapsulationAlgorithm="ML_KEM", SharedSecretCiphertextBlob=blob[:-1])
        assert code_of(exc) == "InvalidCiphertextException"

        signer = kms.create_key(KeySpec="ECC_NIST_EDWARDS25519", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]
        digest = hashlib.sha512(b"over http").digest()
        signature = kms.sign(KeyId=signer, Message=digest, MessageType="DIGEST",
                             SigningAlgorithm="ED25519_PH_SHA_512")["Signature"]
        assert kms.verify(KeyId=signer, Message=digest, MessageType="DIGEST", Signature=signature,
                          SigningAlgorithm="ED25519_PH_SHA_512")["SignatureValid"] is True

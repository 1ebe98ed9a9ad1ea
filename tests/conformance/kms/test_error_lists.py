"""Every KMS operation answers only with errors AWS lists for it, and never with a 5xx.

Each operation's "Errors" section in the API reference
(https://docs.aws.amazon.com/kms/latest/APIReference/API_Operations.html) is the `errors` list of
the operation in botocore's model; the common errors
(https://docs.aws.amazon.com/kms/latest/APIReference/CommonErrors.html) may come from any. This
drives every operation with its required members filled against keys of every kind and state (a
missing key, an alias that does not exist, symmetric, HMAC, RSA, ECC, Ed25519, ML-KEM, imported-pending, disabled,
pending deletion) and checks the code and status of every refusal.
"""
import json
import uuid

import pytest

from keyplane.engine.apimodel import service_model

COMMON = {"ValidationException", "SerializationException", "AccessDeniedException", "ThrottlingException",
          "UnknownOperationException"}


def _filled(shape, key: str) -> dict:
    """The operation's required members, each with a value its model admits."""
    out = {}
    for name in shape.required_members:
        member = shape.members[name]
        t = member.type_name
        if name in ("KeyId", "TargetKeyId", "SourceKeyId", "DestinationKeyId"):
            out[name] = key
        elif t == "string":
            out[name] = member.enum[0] if member.enum else "x" * max(1, member.metadata.get("min", 1))
        elif t == "blob":
            out[name] = "eA=="
        elif t in ("integer", "long"):
            out[name] = member.metadata.get("min", 1)
        elif t == "list":
            out[name] = []
        elif t in ("map", "structure"):
            out[name] = {}
        elif t == "boolean":
            out[name] = False
    return out


@pytest.fixture
def keys(wire):
    def make(**params):
        r = wire.call("kms", "CreateKey", params)
        assert r.status == 200, r.body
        return r.body["KeyMetadata"]["Arn"]
    symmetric = make()
    disabled, pending = make(), make()
    wire.call("kms", "DisableKey", {"KeyId": disabled})
    wire.call("kms", "ScheduleKeyDeletion", {"KeyId": pending})
    return {
        "missing": symmetric.rsplit("/", 1)[0] + f"/{uuid.uuid4()}",
        "missing-alias": "alias/not-there",
        "symmetric": symmetric,
        "hmac": make(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC"),
        "rsa-sign": make(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY"),
        "rsa-encrypt": make(KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT"),
        "ecc-agreement": make(KeySpec="ECC_NIST_P256", KeyUsage="KEY_AGREEMENT"),
        "ed25519": make(KeySpec="ECC_NIST_EDWARDS25519", KeyUsage="SIGN_VERIFY"),
        "ml-kem": make(KeySpec="ML_KEM_768", KeyUsage="ENCAPSULATE_DECAPSULATE"),
        "ml-kem-imported-pending": make(KeySpec="ML_KEM_1024", KeyUsage="ENCAPSULATE_DECAPSULATE", Origin="EXTERNAL"),
        "imported-pending": make(Origin="EXTERNAL"),
        "disabled": disabled,
        "pending-deletion": pending,
    }


def test_every_refusal_is_listed_for_its_operation_and_400(wire, keys):
    model = service_model("kms")
    unlisted = []
    for op in model.operation_names:
        operation = model.operation_model(op)
        allowed = {e.name for e in operation.error_shapes} | COMMON
        for kind, key in keys.items():
            body = _filled(operation.input_shape, key) if operation.input_shape else {}
            r = wire.call("kms", op, raw=json.dumps(body).encode())
            if r.status >= 500 or (r.error_type and r.error_type not in allowed) or (
                    r.error_type and r.status != 400):
                unlisted.append((op, kind, r.status, r.error_type))
    assert unlisted == []

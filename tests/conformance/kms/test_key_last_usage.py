"""GetKeyLastUsage on the wire (botocore 1.44's model).

https://docs.aws.amazon.com/kms/latest/APIReference/API_GetKeyLastUsage.html: "Returns usage
information about the last successful cryptographic operation performed with a specified KMS key,
including the operation type, timestamp, and associated AWS CloudTrail event ID"; KeyLastUsage "If
the key has not been used since tracking began, this response element is an empty object";
TrackingStartDate is "the date from which AWS KMS began recording cryptographic activity for this
key, or the date the KMS key was created, whichever is later"; "The ReEncrypt operation uses two
keys ... Usage information is recorded for both keys independently"; "Cross-account use: No";
"Required permissions: kms:GetKeyLastUsage (key policy)"; KeyId: "Alias names are not supported".
https://docs.aws.amazon.com/kms/latest/developerguide/monitoring-keys-determining-usage.html lists
the tracked operations and shows a response: KeyId is the key ID, Timestamp whole seconds.
"""
import base64
import json
import math

import pytest

from keyplane.engine.identity import PARTNER_ACCOUNT, Principal


def _key(wire, **params):
    r = wire.call("kms", "CreateKey", params)
    assert r.status == 200, r.body
    return r.body["KeyMetadata"]


def _usage(wire, key_id):
    r = wire.call("kms", "GetKeyLastUsage", {"KeyId": key_id})
    assert r.status == 200, r.body
    return r.body


def _event(engine, request_id):
    [event] = [e for e in engine.audit.query(engine.default_store(), limit=500) if e.get("requestID") == request_id]
    return event


def test_an_unused_key_has_an_empty_last_usage(wire):
    """A key created on a store that tracked from its first call: TrackingStartDate is the key's
    creation date, KeyLastUsage is {} ("has not been used ... since it was created")."""
    meta = _key(wire)
    body = _usage(wire, meta["KeyId"])
    assert body == {"KeyId": meta["KeyId"], "KeyLastUsage": {}, "TrackingStartDate": meta["CreationDate"],
                    "KeyCreationDate": meta["CreationDate"]}
    assert _usage(wire, meta["Arn"]) == body           # key ARN works as well as key ID


def test_last_usage_names_the_operation_its_cloudtrail_event_and_request(wire, engine):
    meta = _key(wire)
    r = wire.call("kms", "Encrypt", {"KeyId": meta["KeyId"], "Plaintext": b"data"})
    assert r.status == 200
    usage = _usage(wire, meta["KeyId"])["KeyLastUsage"]
    event = _event(engine, r.headers["x-amzn-requestid"])
    assert usage == {"Operation": "Encrypt", "KmsRequestId": r.headers["x-amzn-requestid"],
                     "CloudTrailEventId": event["eventID"],
                     "Timestamp": math.floor(engine.clock.now().timestamp())}
    assert event["eventName"] == "Encrypt"


def test_only_successful_cryptographic_operations_count(wire):
    """Failures, dry runs and non-cryptographic operations (DescribeKey, ListGrants...) are not uses."""
    meta = _key(wire)
    key = meta["KeyId"]
    blob = base64.b64decode(wire.call("kms", "Encrypt", {"KeyId": key, "Plaintext": b"x"}).body["CiphertextBlob"])
    before = _usage(wire, key)["KeyLastUsage"]
    assert before["Operation"] == "Encrypt"
    tampered = blob[:-1] + bytes([blob[-1] ^ 1])
    assert wire.call("kms", "Decrypt", {"CiphertextBlob": tampered}).error_type == "InvalidCiphertextException"
    assert wire.call("kms", "Encrypt", {"KeyId": key, "Plaintext": b"x", "DryRun": True}).status == 400
    assert wire.call("kms", "DescribeKey", {"KeyId": key}).status == 200
    assert wire.call("kms", "ListGrants", {"KeyId": key}).status == 200
    assert _usage(wire, key)["KeyLastUsage"] == before
    assert wire.call("kms", "Decrypt", {"CiphertextBlob": blob}).status == 200
    assert _usage(wire, key)["KeyLastUsage"]["Operation"] == "Decrypt"


def test_re_encrypt_is_a_use_of_both_keys(wire):
    source, dest = _key(wire)["KeyId"], _key(wire)["KeyId"]
    blob = wire.call("kms", "Encrypt", {"KeyId": source, "Plaintext": b"x"}).body["CiphertextBlob"]
    r = wire.call("kms", "ReEncrypt", {"CiphertextBlob": base64.b64decode(blob), "DestinationKeyId": dest})
    assert r.status == 200, r.body
    a, b = _usage(wire, source)["KeyLastUsage"], _usage(wire, dest)["KeyLastUsage"]
    assert a == b and a["Operation"] == "ReEncrypt" and a["KmsRequestId"] == r.headers["x-amzn-requestid"]


def _sign_verify(wire, key):
    sig = wire.call("kms", "Sign", {"KeyId": key, "Message": b"m", "SigningAlgorithm": "ECDSA_SHA_256"}).body
    return wire.call("kms", "Verify", {"KeyId": key, "Message": b"m", "SigningAlgorithm": "ECDSA_SHA_256",
                                       "Signature": base64.b64decode(sig["Signature"])})


def _mac(wire, key, verify):
    mac = wire.call("kms", "GenerateMac", {"KeyId": key, "Message": b"m", "MacAlgorithm": "HMAC_SHA_256"})
    if not verify:
        return mac
    return wire.call("kms", "VerifyMac", {"KeyId": key, "Message": b"m", "MacAlgorithm": "HMAC_SHA_256",
                                          "Mac": base64.b64decode(mac.body["Mac"])})


def _derive(wire, key):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    peer = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return wire.call("kms", "DeriveSharedSecret", {"KeyId": key, "KeyAgreementAlgorithm": "ECDH", "PublicKey": peer})


SYMMETRIC = {}
EC_SIGN = {"KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY"}
EC_AGREE = {"KeySpec": "ECC_NIST_P256", "KeyUsage": "KEY_AGREEMENT"}
HMAC = {"KeySpec": "HMAC_256", "KeyUsage": "GENERATE_VERIFY_MAC"}


@pytest.mark.parametrize("operation, spec, call", [
    ("GenerateDataKey", SYMMETRIC, lambda w, k: w.call("kms", "GenerateDataKey", {"KeyId": k, "KeySpec": "AES_256"})),
    ("GenerateDataKeyWithoutPlaintext", SYMMETRIC,
     lambda w, k: w.call("kms", "GenerateDataKeyWithoutPlaintext", {"KeyId": k, "NumberOfBytes": 16})),
    ("GenerateDataKeyPair", SYMMETRIC,
     lambda w, k: w.call("kms", "GenerateDataKeyPair", {"KeyId": k, "KeyPairSpec": "ECC_NIST_P256"})),
    ("GenerateDataKeyPairWithoutPlaintext", SYMMETRIC,
     lambda w, k: w.call("kms", "GenerateDataKeyPairWithoutPlaintext", {"KeyId": k, "KeyPairSpec": "ECC_NIST_P256"})),
    ("Sign", EC_SIGN, lambda w, k: w.call("kms", "Sign", {"KeyId": k, "Message": b"m",
                                                          "SigningAlgorithm": "ECDSA_SHA_256"})),
    ("Verify", EC_SIGN, _sign_verify),
    ("GenerateMac", HMAC, lambda w, k: _mac(w, k, False)),
    ("VerifyMac", HMAC, lambda w, k: _mac(w, k, True)),
    ("DeriveSharedSecret", EC_AGREE, _derive),
])
def test_each_tracked_operation_is_recorded_by_name(wire, operation, spec, call):
    """monitoring-keys-determining-usage.html#tracked-crypto-operations."""
    key = _key(wire, **spec)["KeyId"]
    r = call(wire, key)
    assert r.status == 200, r.body
    usage = _usage(wire, key)["KeyLastUsage"]
    assert usage["Operation"] == operation and usage["KmsRequestId"] == r.headers["x-amzn-requestid"]


def test_get_public_key_is_not_a_use(wire):
    key = _key(wire, **EC_SIGN)["KeyId"]
    assert wire.call("kms", "GetPublicKey", {"KeyId": key}).status == 200
    assert _usage(wire, key)["KeyLastUsage"] == {}


def test_aliases_are_not_accepted(wire):
    """KeyId: "Alias names are not supported" (InvalidArnException, as other key-ID-only operations)."""
    key = _key(wire)["KeyId"]
    wire.call("kms", "CreateAlias", {"AliasName": "alias/used", "TargetKeyId": key})
    r = wire.call("kms", "GetKeyLastUsage", {"KeyId": "alias/used"})
    assert (r.status, r.error_type) == (400, "InvalidArnException")
    r = wire.call("kms", "GetKeyLastUsage", {"KeyId": "arn:aws:kms:us-east-1:111122223333:key/"
                                                      "00000000-0000-0000-0000-000000000000"})
    assert (r.status, r.error_type) == (400, "NotFoundException")


def test_any_key_state_answers(wire):
    """GetKeyLastUsage lists no KMSInvalidStateException: a key pending deletion still answers."""
    key = _key(wire)["KeyId"]
    wire.call("kms", "Encrypt", {"KeyId": key, "Plaintext": b"x"})
    wire.call("kms", "ScheduleKeyDeletion", {"KeyId": key, "PendingWindowInDays": 7})
    assert _usage(wire, key)["KeyLastUsage"]["Operation"] == "Encrypt"


def test_permission_comes_from_the_key_policy(wire):
    """kms:GetKeyLastUsage (key policy): a key policy that denies it refuses the call."""
    key = _key(wire)["KeyId"]
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"},
        {"Effect": "Deny", "Principal": "*", "Action": "kms:GetKeyLastUsage", "Resource": "*"}]}
    assert wire.call("kms", "PutKeyPolicy", {"KeyId": key, "Policy": json.dumps(policy)}).status == 200
    r = wire.call("kms", "GetKeyLastUsage", {"KeyId": key})
    assert (r.status, r.error_type) == (400, "AccessDeniedException")
    assert "kms:GetKeyLastUsage" in r.body["message"]


def test_not_cross_account(wire, engine):
    """"Cross-account use: No", even when the key policy allows the other account everything."""
    from keyplane.engine.errors import AwsError
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*",
              "Principal": {"AWS": ["arn:aws:iam::111122223333:root", f"arn:aws:iam::{PARTNER_ACCOUNT}:root"]}}]}
    arn = _key(wire, Policy=json.dumps(policy))["Arn"]
    partner = engine.context(Principal.root(PARTNER_ACCOUNT))
    assert engine.invoke("kms", "DescribeKey", {"KeyId": arn}, partner)["KeyMetadata"]["Arn"] == arn
    with pytest.raises(AwsError) as e:
        engine.invoke("kms", "GetKeyLastUsage", {"KeyId": arn}, partner)
    assert e.value.code == "AccessDeniedException"

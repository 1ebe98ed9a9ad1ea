"""Decrypt and ReEncrypt dry runs with DryRunModifiers ["IGNORE_CIPHERTEXT"] (botocore 1.44's model,
where CiphertextBlob is no longer required).

https://docs.aws.amazon.com/kms/latest/APIReference/API_Decrypt.html: CiphertextBlob "is required in
all cases except when DryRun is true and DryRunModifiers is set to IGNORE_CIPHERTEXT"; KeyId is
required "when DryRun is true and DryRunModifiers is set to IGNORE_CIPHERTEXT"; "When set to
IGNORE_CIPHERTEXT, KMS performs only authorization validation without ciphertext validation";
"DryRunModifiers ... only applies when DryRun is set to true".
https://docs.aws.amazon.com/kms/latest/APIReference/API_ReEncrypt.html says the same of SourceKeyId.
https://docs.aws.amazon.com/kms/latest/developerguide/testing-permissions.html: a dry run answers
DryRunOperationException when the call would succeed, ValidationException for a wrong parameter,
AccessDeniedException without permission.

AWS does not document the message for a missing KeyId in this mode; keyplane's names the member.
"""
import pytest

from keyplane.engine.errors import AwsError
from keyplane.engine.identity import Principal

IGNORE = {"DryRun": True, "DryRunModifiers": ["IGNORE_CIPHERTEXT"]}


def _key(wire, **params):
    r = wire.call("kms", "CreateKey", params)
    assert r.status == 200, r.body
    return r.body["KeyMetadata"]["KeyId"]


def test_decrypt_dry_run_ignoring_ciphertext_needs_no_ciphertext(wire):
    """With IGNORE_CIPHERTEXT a permitted dry run is DryRunOperationException, ciphertext or not
    (a ciphertext given is not validated)."""
    key = _key(wire)
    for extra in ({}, {"CiphertextBlob": b"not a ciphertext at all"}):
        r = wire.call("kms", "Decrypt", {"KeyId": key, **IGNORE, **extra})
        assert (r.status, r.body) == (400, {"__type": "DryRunOperationException", "message": (
            "The request would have succeeded, but the DryRun option is set.")})


def test_decrypt_dry_run_ignoring_ciphertext_needs_the_key(wire):
    r = wire.call("kms", "Decrypt", {**IGNORE})
    assert (r.status, r.body) == (400, {"__type": "ValidationException", "message": (
        "KeyId is required when DryRunModifiers includes IGNORE_CIPHERTEXT.")})


@pytest.mark.parametrize("params", [
    {},                                                     # plain Decrypt
    {"DryRun": True},                                       # a dry run that does not ignore the ciphertext
    {"DryRunModifiers": ["IGNORE_CIPHERTEXT"]},             # the modifier without DryRun does nothing
])
def test_ciphertext_is_required_otherwise(wire, params):
    """Without DryRun + IGNORE_CIPHERTEXT, a missing CiphertextBlob is the null-member validation
    error it was while the model required it."""
    key = _key(wire)
    r = wire.call("kms", "Decrypt", {"KeyId": key, **params})
    assert (r.status, r.body) == (400, {"__type": "ValidationException", "message": (
        "1 validation error detected: Value null at 'ciphertextBlob' failed to satisfy constraint: "
        "Member must not be null")})


def test_dry_run_ignoring_ciphertext_still_checks_key_state_and_usage(wire):
    """A dry run tells whether the call would succeed: a disabled key is DisabledException, a key
    that cannot decrypt (HMAC) InvalidKeyUsageException, an unknown key NotFoundException."""
    disabled = _key(wire)
    wire.call("kms", "DisableKey", {"KeyId": disabled})
    r = wire.call("kms", "Decrypt", {"KeyId": disabled, **IGNORE})
    assert (r.status, r.error_type) == (400, "DisabledException")
    hmac = _key(wire, KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")
    r = wire.call("kms", "Decrypt", {"KeyId": hmac, **IGNORE})
    assert (r.status, r.error_type) == (400, "InvalidKeyUsageException")
    r = wire.call("kms", "Decrypt", {"KeyId": "alias/none", **IGNORE})
    assert (r.status, r.error_type) == (400, "NotFoundException")


def test_dry_run_ignoring_ciphertext_checks_permission(wire, engine):
    """The point of the modifier: "test permissions without requiring a valid ciphertext blob". The
    `reader` role's session has no permission on the key until a grant gives it Decrypt."""
    key = _key(wire)
    ctx = engine.context(Principal.from_arn("arn:aws:sts::111122223333:assumed-role/reader/app"))
    with pytest.raises(AwsError) as e:
        engine.invoke("kms", "Decrypt", {"KeyId": key, **IGNORE}, ctx)
    assert e.value.code == "AccessDeniedException"
    wire.call("kms", "CreateGrant", {"KeyId": key, "GranteePrincipal": "arn:aws:iam::111122223333:role/reader",
                                     "Operations": ["Decrypt"]})
    with pytest.raises(AwsError) as e:
        engine.invoke("kms", "Decrypt", {"KeyId": key, **IGNORE}, ctx)
    assert e.value.code == "DryRunOperationException"


def test_asymmetric_key_dry_run_checks_the_algorithm(wire):
    """An RSA key decrypts only with an RSAES algorithm (SYMMETRIC_DEFAULT is the default)."""
    key = _key(wire, KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")
    r = wire.call("kms", "Decrypt", {"KeyId": key, **IGNORE})
    assert (r.status, r.error_type) == (400, "InvalidKeyUsageException")
    r = wire.call("kms", "Decrypt", {"KeyId": key, "EncryptionAlgorithm": "RSAES_OAEP_SHA_256", **IGNORE})
    assert (r.status, r.error_type) == (400, "DryRunOperationException")


# ---- ReEncrypt ---------------------------------------------------------------------------------

def test_re_encrypt_dry_run_ignoring_ciphertext_checks_both_keys(wire):
    """ReEncrypt needs kms:ReEncryptFrom on the source and kms:ReEncryptTo on the destination
    (API_ReEncrypt "Required permissions"): the dry run checks the destination too."""
    source, dest = _key(wire), _key(wire)
    r = wire.call("kms", "ReEncrypt", {"SourceKeyId": source, "DestinationKeyId": dest, **IGNORE})
    assert (r.status, r.error_type) == (400, "DryRunOperationException")
    wire.call("kms", "DisableKey", {"KeyId": dest})
    r = wire.call("kms", "ReEncrypt", {"SourceKeyId": source, "DestinationKeyId": dest, **IGNORE})
    assert (r.status, r.error_type) == (400, "DisabledException")


def test_re_encrypt_dry_run_ignoring_ciphertext_needs_the_source_key(wire):
    dest = _key(wire)
    r = wire.call("kms", "ReEncrypt", {"DestinationKeyId": dest, **IGNORE})
    assert (r.status, r.body) == (400, {"__type": "ValidationException", "message": (
        "SourceKeyId is required when DryRunModifiers includes IGNORE_CIPHERTEXT.")})
    r = wire.call("kms", "ReEncrypt", {"DestinationKeyId": dest, "SourceKeyId": dest})
    assert (r.status, r.error_type) == (400, "ValidationException")     # no ciphertext, no modifier
    assert "ciphertextBlob" in r.body["message"]


def test_dry_run_modifier_must_be_known(wire):
    """DryRunModifierType is an enum of one value (model constraint)."""
    key = _key(wire)
    r = wire.call("kms", "Decrypt", {"KeyId": key, "DryRun": True, "DryRunModifiers": ["IGNORE_EVERYTHING"]})
    assert (r.status, r.error_type) == (400, "ValidationException")

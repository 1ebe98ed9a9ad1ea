"""HMAC KMS keys: GenerateMac and VerifyMac. The HMAC_224/256/384/512 key specs (specs.py) allow
usage GENERATE_VERIFY_MAC only, each with the one MAC algorithm of its size.

The secret is as long as the hash's output (HMAC_256: 32 bytes), sealed under the root key like
any key material. VerifyMac never answers "false": a mismatch is KMSInvalidMacException.
"""
from __future__ import annotations

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, hmac

from ..authz import authorize
from ..errors import KMSInternalException, KMSInvalidMacException
from ..registry import operation
from .cryptographic import dry_run
from .model import (CRYPTO_STATES, Key, material_secret, require_state, resolve_key, wrong_algorithm,
                    wrong_usage)

MAC_HASHES = {"HMAC_SHA_224": hashes.SHA224, "HMAC_SHA_256": hashes.SHA256,
              "HMAC_SHA_384": hashes.SHA384, "HMAC_SHA_512": hashes.SHA512}


def _mac(call, key: Key, p, action: str) -> hmac.HMAC:
    """Authorise and check a GenerateMac / VerifyMac call; the HMAC, fed with the message."""
    algorithm = p["MacAlgorithm"]
    context = {"kms:MacAlgorithm": algorithm}
    if call.request_alias:
        context["kms:RequestAlias"] = call.request_alias
    authorize(call, action, key=key, context=context)
    require_state(key, CRYPTO_STATES)
    if key.key_usage != "GENERATE_VERIFY_MAC":
        raise wrong_usage(key, call.spec.name)
    if algorithm not in key.spec.algorithms["GENERATE_VERIFY_MAC"]["MacAlgorithms"]:
        raise wrong_algorithm(key, algorithm)
    dry_run(p)
    secret = material_secret(call, key, key.current_material_id) if key.current_material_id else None
    if secret is None:
        raise KMSInternalException("The key material of this KMS key is not available.")
    h = hmac.HMAC(secret, MAC_HASHES[algorithm]())
    h.update(p["Message"])
    call.resource(key.arn, "AWS::KMS::Key", key.account)
    return h


@operation("kms", "GenerateMac", readonly=True, tracks_use=True)
def generate_mac(call, p):
    key = resolve_key(call, p["KeyId"])
    mac = _mac(call, key, p, "kms:GenerateMac").finalize()
    return {"Mac": mac, "MacAlgorithm": p["MacAlgorithm"], "KeyId": key.arn}


@operation("kms", "VerifyMac", readonly=True, tracks_use=True)
def verify_mac(call, p):
    key = resolve_key(call, p["KeyId"])
    h = _mac(call, key, p, "kms:VerifyMac")
    try:
        h.verify(p["Mac"])          # constant-time comparison
    except InvalidSignature:
        raise KMSInvalidMacException("") from None
    return {"KeyId": key.arn, "MacValid": True, "MacAlgorithm": p["MacAlgorithm"]}

"""Request quotas: how many calls per second an account may make in a Region, per quota, as AWS
KMS, Secrets Manager and Parameter Store define them; a call over its quota is throttled
(ThrottlingException, HTTP 400, with each service's own message) and does no work.

Each quota is a token bucket per (account, Region, quota) on the engine's injected clock: it holds
one second's worth of calls (at least one) and refills at the quota's rate. As in AWS, the caller's
account pays, also for keys of another account, and calls a service makes for you count too.

Sources (defaults; every number can be overridden, see `load`):
- KMS: https://docs.aws.amazon.com/kms/latest/developerguide/requests-per-second.html
  cryptographic operations share one quota per key type: symmetric 10,000 (the documented default;
  some Regions have 20,000 or 100,000), RSA 500, ECC 300; GenerateDataKeyPair(WithoutPlaintext) one
  per key pair spec (RSA_2048 1, RSA_3072 0.5, RSA_4096 0.1, ECC_NIST_P256 25, ECC_NIST_P384 10,
  ECC_NIST_P521 5, ECC_SECG_P256K1 25); the other operations their own row. Operations the page
  does not list get KEYPLANE_DEFAULT.
- Secrets Manager: https://docs.aws.amazon.com/secretsmanager/latest/userguide/reference_limits.html
  GetSecretValue 10,000, DescribeSecret 40,000 (AWS "What's new", 2025-03-04), BatchGetSecretValue
  100, ListSecrets 100, and combined quotas of 50 for the resource-policy, the version-writing and
  replication, the rotation and the tagging operations, RestoreSecret 50.
- Parameter Store: https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-throughput.html
  GetParameter, GetParameters and GetParametersByPath share the default throughput of 40.
The key type of a KMS cryptographic call is read from its algorithm or key pair spec (an RSA
algorithm only works with an RSA key), so throttling costs no key lookup.
"""
from __future__ import annotations

import math
import threading

from .errors import ThrottlingException

KEYPLANE_DEFAULT = 50.0   # keyplane's choice for operations no AWS quota page lists

SYMMETRIC, RSA, ECC = "kms:cryptographic-symmetric", "kms:cryptographic-rsa", "kms:cryptographic-ecc"
_KMS_CRYPTO = {"Decrypt", "Encrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "GenerateMac",
               "GenerateRandom", "ReEncrypt", "VerifyMac", "Sign", "Verify", "DeriveSharedSecret"}
_PAIRS = {"GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext"}

# quota name -> requests per second
DEFAULTS: dict[str, float] = {
    SYMMETRIC: 10_000, RSA: 500, ECC: 300,
    "kms:GenerateDataKeyPair/RSA_2048": 1, "kms:GenerateDataKeyPair/RSA_3072": 0.5,
    "kms:GenerateDataKeyPair/RSA_4096": 0.1, "kms:GenerateDataKeyPair/ECC_NIST_P256": 25,
    "kms:GenerateDataKeyPair/ECC_NIST_P384": 10, "kms:GenerateDataKeyPair/ECC_NIST_P521": 5,
    "kms:GenerateDataKeyPair/ECC_SECG_P256K1": 25,
    "kms:CancelKeyDeletion": 5, "kms:ConnectCustomKeyStore": 5, "kms:CreateAlias": 5,
    "kms:CreateCustomKeyStore": 5, "kms:CreateGrant": 50, "kms:CreateKey": 5, "kms:DeleteAlias": 15,
    "kms:DeleteCustomKeyStore": 5, "kms:DeleteImportedKeyMaterial": 5, "kms:DescribeCustomKeyStores": 5,
    "kms:DescribeKey": 2000, "kms:DisableKey": 5, "kms:DisableKeyRotation": 5,
    "kms:DisconnectCustomKeyStore": 5, "kms:EnableKey": 5, "kms:EnableKeyRotation": 15,
    "kms:GetKeyPolicy": 1000, "kms:GetKeyRotationStatus": 1000, "kms:GetParametersForImport": 0.25,
    "kms:GetPublicKey": 2000, "kms:ImportKeyMaterial": 5, "kms:ListAliases": 500, "kms:ListGrants": 100,
    "kms:ListKeyPolicies": 100, "kms:ListKeys": 500, "kms:ListResourceTags": 2000,
    "kms:ListRetirableGrants": 100, "kms:PutKeyPolicy": 15, "kms:ReplicateKey": 5,
    "kms:RetireGrant": 30, "kms:RevokeGrant": 30, "kms:ScheduleKeyDeletion": 15, "kms:TagResource": 10,
    "kms:UntagResource": 5, "kms:UpdateAlias": 5, "kms:UpdateCustomKeyStore": 5,
    "kms:UpdateKeyDescription": 5, "kms:UpdatePrimaryRegion": 5,
    "secretsmanager:GetSecretValue": 10_000, "secretsmanager:DescribeSecret": 40_000,
    "secretsmanager:BatchGetSecretValue": 100, "secretsmanager:ListSecrets": 100,
    "secretsmanager:resource-policies": 50, "secretsmanager:versions-and-replication": 50,
    "secretsmanager:rotation": 50, "secretsmanager:tagging": 50, "secretsmanager:RestoreSecret": 50,
    "ssm:get-parameters": 40,
}

_SHARED = {
    ("secretsmanager", op): "secretsmanager:resource-policies"
    for op in ("DeleteResourcePolicy", "GetResourcePolicy", "PutResourcePolicy", "ValidateResourcePolicy")
} | {
    ("secretsmanager", op): "secretsmanager:versions-and-replication"
    for op in ("PutSecretValue", "RemoveRegionsFromReplication", "ReplicateSecretToRegions",
               "StopReplicationToReplica", "UpdateSecret", "UpdateSecretVersionStage")
} | {
    ("secretsmanager", op): "secretsmanager:rotation" for op in ("RotateSecret", "CancelRotateSecret")
} | {
    ("secretsmanager", op): "secretsmanager:tagging" for op in ("TagResource", "UntagResource")
} | {
    ("ssm", op): "ssm:get-parameters" for op in ("GetParameter", "GetParameters", "GetParametersByPath")
}

MESSAGES = {"kms": "You have exceeded the rate at which you may call KMS. Reduce the frequency of your calls.",
            "ssm": "Rate exceeded", "secretsmanager": "Rate exceeded"}


def quota_for(service: str, operation: str, params: dict) -> str:
    """The name of the quota a call counts against."""
    if service == "kms" and operation in _KMS_CRYPTO:
        return _crypto_class(operation, params)
    if service == "kms" and operation in _PAIRS:
        return f"kms:GenerateDataKeyPair/{params.get('KeyPairSpec')}"
    return _SHARED.get((service, operation), f"{service}:{operation}")


def _crypto_class(operation: str, params: dict) -> str:
    if operation == "DeriveSharedSecret":
        return ECC
    algorithm = (params.get("SigningAlgorithm") or params.get("EncryptionAlgorithm")
                 or params.get("DestinationEncryptionAlgorithm") or params.get("SourceEncryptionAlgorithm") or "")
    if algorithm.startswith(("RSA",)):
        return RSA
    if algorithm.startswith(("ECDSA", "ED25519", "SM2")):      # Ed25519 keys are ECC keys (ECC_NIST_EDWARDS25519)
        return ECC
    return SYMMETRIC


class Throttled(ThrottlingException):
    """ThrottlingException that knows when a retry can succeed (the HTTP layer's Retry-After)."""

    def __init__(self, message: str, retry_after: float):
        super().__init__(message)
        self.retry_after = retry_after


def take_token(bucket: list, rate: float, capacity: float, now: float) -> float:
    """One token bucket step: `bucket` ([tokens, when last seen]) refills at `rate` a second up to
    `capacity` and gives one token if it holds one. Returns the tokens it held: below 1.0, none was
    taken. A clock that went back refills nothing. (Quotas, and engine/refusals.py's records.)"""
    tokens = min(capacity, bucket[0] + max(0.0, now - bucket[1]) * rate)
    bucket[1] = now
    bucket[0] = tokens - 1.0 if tokens >= 1.0 else tokens
    return tokens


class Quotas:
    """Token buckets per (account, Region, quota) on `clock`. `rates` overrides DEFAULTS by quota
    name; `share` divides every rate (each of N server processes enforces 1/N of the quota)."""

    def __init__(self, clock, rates: dict | None = None, *, share: float = 1.0, default: float = KEYPLANE_DEFAULT):
        self.clock = clock
        self.rates = {**DEFAULTS, **(rates or {})}
        self.share = share
        self.default = default
        self._buckets: dict[tuple, list[float]] = {}
        self._lock = threading.Lock()

    def rate(self, quota: str) -> float:
        return float(self.rates.get(quota, self.default)) * self.share

    def charge(self, account: str, region: str, service: str, operation: str, params: dict) -> None:
        """Count one call; raise `Throttled` (nothing counted) when its quota is spent."""
        quota = quota_for(service, operation, params)
        rate = self.rate(quota)
        if rate <= 0:
            raise Throttled(MESSAGES.get(service, "Rate exceeded"), 1.0)
        capacity = max(1.0, rate)
        now = self.clock.now().timestamp()
        key = (account, region, quota)
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                if len(self._buckets) > 100_000:   # bounded: idle buckets are full anyway
                    self._buckets.clear()
                bucket = self._buckets[key] = [capacity, now]
            tokens = take_token(bucket, rate, capacity, now)
            if tokens < 1.0:
                raise Throttled(MESSAGES.get(service, "Rate exceeded"), (1.0 - tokens) / rate)


def load(spec: str | None, clock, *, share: float = 1.0) -> Quotas | None:
    """Quotas from a setting: None or "aws" = AWS's defaults, "off" = no quotas, or a YAML/JSON file
    mapping quota names (see DEFAULTS; `default` for unlisted operations) to requests per second."""
    if spec in ("off", "none", "0"):
        return None
    if spec in (None, "", "aws", "default"):
        return Quotas(clock, share=share)
    import yaml
    with open(spec, encoding="utf-8") as f:
        doc = yaml.safe_load(f) or {}
    if not isinstance(doc, dict) or not all(isinstance(v, (int, float)) and v >= 0 for v in doc.values()):
        raise ValueError(f"{spec}: quotas are a mapping of quota name to requests per second (>= 0)")
    default = float(doc.pop("default", KEYPLANE_DEFAULT))
    return Quotas(clock, doc, share=share, default=default)


def retry_after_header(err) -> str | None:
    """Whole seconds for Retry-After (RFC 9110), at least 1, when the error is a throttle."""
    seconds = getattr(err, "retry_after", None)
    return None if seconds is None else str(max(1, math.ceil(seconds)))

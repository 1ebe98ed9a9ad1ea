"""The secret record and the rules every Secrets Manager operation shares.

- `Secret` / `Version`: a secret's metadata and its versions as dataclasses.
- `resolve_secret`: SecretId as a name, a full ARN or a partial ARN (the ARN without its random
  suffix), in the caller's Region; another account's secret only by full ARN.
- Envelope encryption: each version gets a data key from KMS (GenerateDataKey, context SecretARN +
  SecretVersionId, kms:ViaService=secretsmanager); only the wrapped data key is stored beside the
  AES-GCM ciphertext, so reading a version needs kms:Decrypt on the secret's key, as on AWS.
- Staging labels: `attach_labels` moves labels exactly as AWS does (AWSCURRENT drags AWSPREVIOUS).
"""
from __future__ import annotations

import base64
import json
import os
import re
import secrets as pyrandom
import string
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timezone

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..errors import AccessDeniedException, AwsError
from .errors import (INVALID_NAME, MARKED_FOR_DELETION, NOT_FOUND, STAGE_NOT_FOUND, STAGE_NOT_ON_VERSION,
                     TOKEN_IN_USE, TOKEN_REQUIRED, VERSION_NOT_FOUND, DecryptionFailure, EncryptionFailure,
                     InvalidParameterException, InvalidRequestException, ResourceExistsException,
                     ResourceNotFoundException, ValidationException)
from .tables import secrets as secrets_table
from .tables import versions as versions_table

SERVICE = "secretsmanager"
DEFAULT_KEY = "alias/aws/secretsmanager"
DEFAULT_KEY_MARKER = "DefaultEncryptionKey"
CURRENT, PREVIOUS, PENDING = "AWSCURRENT", "AWSPREVIOUS", "AWSPENDING"
NAME_RE = re.compile(r"^[A-Za-z0-9/_+=.@-]{1,512}$")
# a SecretId that is not an ARN: a name, which may also be a service-linked one ("rds!cluster-...")
SECRET_ID_RE = re.compile(r"^[A-Za-z0-9/_+=.@!-]+$")
ARN_RE = re.compile(r"^arn:aws:secretsmanager:([a-z0-9-]+):(\d{12}):secret:(.+)$")
SUFFIX_CHARS = string.ascii_letters + string.digits
MAX_VERSIONS = 100
MIN_DEPRECATED_AGE = 24 * 3600
MAX_LABELS_PER_VERSION = 20
DEFAULT_POLICY = "default"
MANAGED_POLICY = "cross-account-replication"     # the policy Secrets Manager puts on a cross-account replica


def ts(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


def dt(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, timezone.utc) if value is not None else None


def secret_arn(region: str, account: str, name: str, suffix: str | None = None) -> str:
    suffix = suffix or "".join(pyrandom.choice(SUFFIX_CHARS) for _ in range(6))
    return f"arn:aws:secretsmanager:{region}:{account}:secret:{name}-{suffix}"


def arn_in_region(arn: str, region: str) -> str:
    """The same secret's ARN in another Region (replicas differ only in the Region field)."""
    parts = arn.split(":")
    parts[3] = region
    return ":".join(parts)


@dataclass
class Secret:
    arn: str
    account: str
    region: str
    name: str
    created: float
    description: str | None = None
    kms_key_id: str | None = None
    secret_type: str | None = None
    last_changed: float | None = None
    last_accessed: float | None = None
    deleted_date: float | None = None
    deletion_date: float | None = None
    policy: str | None = None
    rotation_enabled: bool | None = None
    rotation_lambda: str | None = None
    rotation_rules: str | None = None
    last_rotated: float | None = None
    next_rotation: float | None = None
    primary_region: str | None = None
    replicas: str = "[]"
    attrs: str = "{}"

    @property
    def is_replica(self) -> bool:
        return self.primary_region is not None and self.primary_region != self.region

    @property
    def scheduled_for_deletion(self) -> bool:
        return self.deleted_date is not None

    @property
    def key_id(self) -> str:
        return self.kms_key_id or DEFAULT_KEY

    def get_attrs(self) -> dict:
        return json.loads(self.attrs or "{}")

    def set_attrs(self, **changes) -> None:
        data = self.get_attrs()
        for k, v in changes.items():
            if v is None:
                data.pop(k, None)
            else:
                data[k] = v
        self.attrs = json.dumps(data, sort_keys=True)

    def replica_list(self) -> list[dict]:
        return json.loads(self.replicas or "[]")

    def rules(self) -> dict | None:
        return json.loads(self.rotation_rules) if self.rotation_rules else None

    @property
    def cross_account_primary(self) -> dict | None:
        """On a cross-account replica: {PrimarySecretARN, ReplicationStatus[, StatusMessage]}."""
        return self.get_attrs().get("cross_account_primary")

    @property
    def cross_account_replicas(self) -> list[dict]:
        """On a primary: its cross-account replicas' CrossAccountReplicaEntry (at most one)."""
        return self.get_attrs().get("cross_account_replicas") or []

    def resource_policies(self) -> dict[str, str]:
        """Every resource policy attached to the secret, by name: `default`, the one callers
        manage with Put/Get/DeleteResourcePolicy, and those Secrets Manager attaches itself
        (`cross-account-replication` on a cross-account replica). All of them are evaluated."""
        named = {DEFAULT_POLICY: self.policy} if self.policy else {}
        named.update(self.get_attrs().get("managed_policies") or {})
        return named


@dataclass
class Version:
    secret_arn: str
    version_id: str
    created: float
    stages: list[str] = field(default_factory=list)
    kind: str = "string"
    data_key: bytes = b""
    ciphertext: bytes = b""
    kms_key_arn: str = ""
    last_accessed: float | None = None
    earlier_keys: list = field(default_factory=list)   # [(key ARN as listed, wrapped data key)]

    @property
    def kms_key_ids(self) -> list[str]:
        """ListSecretVersionIds' KmsKeyIds: the key it is under, then those it was under before."""
        return [self.kms_key_arn, *(arn for arn, _ in self.earlier_keys)]


_SECRET_COLUMNS = [f.name for f in fields(Secret)]


def _row_to_secret(row) -> Secret:
    return Secret(**{c: getattr(row, c) for c in _SECRET_COLUMNS})


def load_secret(conn, arn: str) -> Secret | None:
    row = conn.execute(secrets_table.select().where(secrets_table.c.arn == arn)).first()
    return _row_to_secret(row) if row else None


def changed(store) -> None:
    """Every write of Secrets Manager state calls this: the read cache of this process drops its
    views (at once, and again at commit so no reader re-caches the old state in between)."""
    store.__dict__["sm_generation"] = store.__dict__.get("sm_generation", 0) + 1
    store.after_commit(lambda: store.__dict__.__setitem__("sm_generation", store.__dict__["sm_generation"] + 1))


def mutating(name: str):
    """Registers a state-changing Secrets Manager operation (and drops the read cache for it)."""
    import functools

    from ..registry import operation

    def register(fn):
        @functools.wraps(fn)
        def run(call, p):
            changed(call.store)
            return fn(call, p)
        return operation(SERVICE, name)(run)
    return register


def view(call, secret_id: str) -> tuple[Secret, list[Version], dict]:
    """(secret, versions, tags) for the read path (GetSecretValue), cached for the engine cache's
    TTL: one database round trip per secret per half second, and writes here drop it at once."""
    key = ("sm-view", id(call.store), call.store.__dict__.get("sm_generation", 0), call.account,
           call.region, secret_id)
    hit = call.engine.cache.get(key)
    if hit is not None:
        return hit
    from ..tagging import get_tags
    with call.store.read() as conn:
        secret = resolve_secret(call, secret_id, conn)
        result = (secret, load_versions(conn, secret.arn), get_tags(conn, secret.arn))
    call.engine.cache.put(key, result)
    return result


def insert_secret(conn, secret: Secret) -> None:
    conn.execute(secrets_table.insert().values(**{c: getattr(secret, c) for c in _SECRET_COLUMNS}))


def save_secret(conn, secret: Secret) -> None:
    conn.execute(secrets_table.update().where(secrets_table.c.arn == secret.arn)
                 .values(**{c: getattr(secret, c) for c in _SECRET_COLUMNS if c != "arn"}))


def delete_secret_rows(conn, arn: str) -> None:
    from ..tagging import delete_all
    conn.execute(versions_table.delete().where(versions_table.c.secret_arn == arn))
    conn.execute(secrets_table.delete().where(secrets_table.c.arn == arn))
    delete_all(conn, arn)


def find_by_name(conn, account: str, region: str, name: str) -> Secret | None:
    row = conn.execute(secrets_table.select().where(
        secrets_table.c.account == account, secrets_table.c.region == region,
        secrets_table.c.name == name)).first()
    return _row_to_secret(row) if row else None


def validate_secret_id(secret_id: str) -> None:
    """A SecretId that is neither an ARN nor a possible name is refused before any lookup."""
    if not secret_id.startswith("arn:") and not SECRET_ID_RE.match(secret_id):
        raise ValidationException(INVALID_NAME)


def resolve_secret(call, secret_id: str, conn=None, action: str | None = None) -> Secret:
    """The secret a SecretId names, in the caller's Region, or ResourceNotFoundException, which
    only a caller allowed `action` (default: the operation's own) on that id gets to see."""
    validate_secret_id(secret_id)
    def find(c) -> Secret | None:
        m = ARN_RE.match(secret_id)
        if m is None:
            return find_by_name(c, call.account, call.region, secret_id)
        region, account, rest = m.groups()
        if region != call.region:
            return None
        found = load_secret(c, secret_id)
        if found is not None:
            return found
        if account != call.account:
            return None       # another account's secret: by its full ARN only
        # a partial ARN: the name without the "-XXXXXX" suffix AWS appends
        return find_by_name(c, account, region, rest)
    if conn is not None:
        secret = find(conn)
    else:
        with call.store.read() as c:
            secret = find(c)
    if secret is None:
        from . import access
        access.deny_unknown_unless_allowed(call, action or f"secretsmanager:{call.spec.name}", secret_id)
        raise ResourceNotFoundException(NOT_FOUND)
    return secret


def required_members(items, path: str, *names: str) -> list:
    """`items` (a list member), each of which must carry `names`: members the model leaves
    optional but without which the element means nothing (a tag without a key, a filter without
    values, a replica without a Region)."""
    for i, item in enumerate(items or [], 1):
        for name in names:
            if item.get(name) is None:
                raise InvalidParameterException(
                    f"You must specify {name} for each element of {path} (element {i} has none).")
    return items or []


def require_not_deleted(secret: Secret, action: str) -> None:
    if secret.scheduled_for_deletion:
        raise InvalidRequestException(MARKED_FOR_DELETION)


def require_token(p: dict) -> str:
    """SDKs fill ClientRequestToken in; a raw request that writes a version must carry one."""
    token = p.get("ClientRequestToken")
    if not token:
        raise InvalidRequestException(TOKEN_REQUIRED)
    return token


def require_primary(secret: Secret) -> None:
    """Replicas are read-only: a Region replica changes in its primary Region, a cross-account
    replica (Detached too, until StopReplicationToReplica makes it standalone) through its primary."""
    if secret.is_replica:
        raise InvalidRequestException(
            "Operation is not permitted on a replica secret. Call the operation in the primary "
            f"Region ({secret.primary_region}).")
    link = secret.cross_account_primary
    if link is not None:
        raise InvalidRequestException(
            "Operation is not permitted on a cross-account replica secret. Change the primary secret "
            f"({link['PrimarySecretARN']}), or call StopReplicationToReplica to make this secret standalone.")


# ---- versions -------------------------------------------------------------------------------

def load_versions(conn, arn: str) -> list[Version]:
    rows = conn.execute(versions_table.select().where(versions_table.c.secret_arn == arn)
                        .order_by(versions_table.c.created, versions_table.c.version_id))
    return [Version(secret_arn=r.secret_arn, version_id=r.version_id, created=r.created,
                    stages=json.loads(r.stages), kind=r.kind, data_key=r.data_key,
                    ciphertext=r.ciphertext, kms_key_arn=r.kms_key_arn, last_accessed=r.last_accessed,
                    earlier_keys=[(arn, base64.b64decode(k)) for arn, k in json.loads(r.earlier_keys or "[]")])
            for r in rows]


def _earlier_keys_json(v: Version) -> str | None:
    return json.dumps([[arn, base64.b64encode(k).decode()] for arn, k in v.earlier_keys]) if v.earlier_keys else None


def insert_version(conn, v: Version) -> None:
    conn.execute(versions_table.insert().values(
        secret_arn=v.secret_arn, version_id=v.version_id, created=v.created, stages=json.dumps(v.stages),
        kind=v.kind, data_key=v.data_key, ciphertext=v.ciphertext, kms_key_arn=v.kms_key_arn,
        last_accessed=v.last_accessed, earlier_keys=_earlier_keys_json(v)))


def save_data_keys(conn, v: Version) -> None:
    """Store the version's wrapped data keys as they are now (after a change of the secret's key)."""
    conn.execute(versions_table.update().where(versions_table.c.secret_arn == v.secret_arn,
                                               versions_table.c.version_id == v.version_id)
                 .values(data_key=v.data_key, kms_key_arn=v.kms_key_arn, earlier_keys=_earlier_keys_json(v)))


def save_stages(conn, versions: list[Version]) -> None:
    for v in versions:
        conn.execute(versions_table.update().where(versions_table.c.secret_arn == v.secret_arn,
                                                   versions_table.c.version_id == v.version_id)
                     .values(stages=json.dumps(v.stages)))


def holder(versions: list[Version], label: str) -> Version | None:
    return next((v for v in versions if label in v.stages), None)


def find_version(versions: list[Version], version_id: str | None = None, stage: str | None = None) -> Version:
    """The version GetSecretValue means: by id, by label, or AWSCURRENT; both must agree."""
    if version_id is None and stage is None:
        stage = CURRENT
    by_id = next((v for v in versions if v.version_id == version_id), None) if version_id else None
    by_stage = holder(versions, stage) if stage else None
    if version_id and by_id is None:
        raise ResourceNotFoundException(VERSION_NOT_FOUND.format(version_id))
    if version_id and stage and stage not in by_id.stages:
        raise InvalidRequestException(STAGE_NOT_ON_VERSION)
    if stage and by_stage is None:
        raise ResourceNotFoundException(STAGE_NOT_FOUND.format(stage))
    return by_id or by_stage


def move_label(versions: list[Version], label: str, target: Version) -> Version | None:
    """Put `label` on `target`, taking it from whichever version held it; returns that version."""
    old = holder(versions, label)
    if old is not None and old is not target:
        old.stages.remove(label)
    if label not in target.stages:
        target.stages.append(label)
    return old if old is not target else None


def attach_labels(versions: list[Version], target: Version, labels: list[str]) -> None:
    """AWS's label moves: each label leaves its old version; AWSCURRENT moving makes the version
    that lost it AWSPREVIOUS."""
    for label in labels:
        old = move_label(versions, label, target)
        if label == CURRENT and old is not None:
            move_label(versions, PREVIOUS, old)
    for v in versions:
        if len(v.stages) > MAX_LABELS_PER_VERSION:
            from .errors import LimitExceededException
            raise LimitExceededException("A version can't have more than 20 staging labels.")


def prune_versions(conn, secret: Secret, versions: list[Version], now: float) -> None:
    """Drop unlabelled (deprecated) versions beyond the quota, never one younger than a day."""
    excess = len(versions) - MAX_VERSIONS
    if excess <= 0:
        return
    for v in versions:
        if excess <= 0:
            break
        if not v.stages and now - v.created >= MIN_DEPRECATED_AGE:
            conn.execute(versions_table.delete().where(versions_table.c.secret_arn == v.secret_arn,
                                                       versions_table.c.version_id == v.version_id))
            excess -= 1
    if excess > 0:
        from .errors import LimitExceededException
        raise LimitExceededException(
            "You have exceeded the maximum number of versions (100) for this secret; unlabelled "
            "versions are removed only after 24 hours.")


# ---- envelope encryption ----------------------------------------------------------------------

def encryption_context(arn: str, version_id: str) -> dict:
    return {"SecretARN": arn, "SecretVersionId": version_id}


def kms(call, operation: str, params: dict, region: str | None = None) -> dict:
    """A KMS call made by Secrets Manager for the caller (kms:ViaService=secretsmanager), in the
    secret's Region or, for a replica, in the replica's."""
    if region is None or region == call.region:
        return call.kms(operation, params)
    ctx = replace(call.ctx, region=region, via_service=SERVICE)
    return call.engine.invoke("kms", operation, params, ctx)


def _kms_failure(err: AwsError, failure) -> AwsError:
    if isinstance(err, AccessDeniedException):
        return AccessDeniedException(f"Access to KMS is not allowed. {err.message}")
    return failure(f"{err.message or err.code}")


def encrypt_value(call, arn: str, key_id: str, version_id: str, value: bytes,
                  region: str | None = None, wrap: str = "GenerateDataKey") -> tuple[bytes, bytes, str]:
    """(wrapped data key, nonce||ciphertext, key ARN) for one version's value. The data key comes
    from kms:GenerateDataKey; cross-account replication, which AWS documents as needing kms:Encrypt
    on the replica's key, makes the data key here and wraps it with kms:Encrypt (`wrap="Encrypt"`)."""
    context = encryption_context(arn, version_id)
    try:
        if wrap == "Encrypt":
            data_key = os.urandom(32)
            out = kms(call, "Encrypt", {"KeyId": key_id, "Plaintext": data_key, "EncryptionContext": context},
                      region)
        else:
            out = kms(call, "GenerateDataKey", {"KeyId": key_id, "KeySpec": "AES_256", "EncryptionContext": context},
                      region)
            data_key = out["Plaintext"]
    except AwsError as err:
        raise _kms_failure(err, EncryptionFailure) from None
    nonce = os.urandom(12)
    sealed = nonce + AESGCM(data_key).encrypt(nonce, value, _aad(arn, version_id))
    return out["CiphertextBlob"], sealed, out["KeyId"]


def decrypt_version(call, v: Version, arn: str | None = None, region: str | None = None) -> bytes:
    """The version's value. A version re-encrypted when the secret's key changed is readable with
    the new key or with the one it was under before ("you can decrypt AWSCURRENT, AWSPENDING, and
    AWSPREVIOUS versions with the previous key or the new key", Change the encryption key for a
    secret): its data key is unwrapped with the first of its keys that answers."""
    arn = arn or v.secret_arn
    context = encryption_context(arn, v.version_id)
    first_failure = None
    for data_key in (v.data_key, *(k for _, k in v.earlier_keys)):
        try:
            out = kms(call, "Decrypt", {"CiphertextBlob": data_key, "EncryptionContext": context}, region)
            break
        except AwsError as err:
            first_failure = first_failure or err
    else:
        raise _kms_failure(first_failure, DecryptionFailure) from None
    try:
        return AESGCM(out["Plaintext"]).decrypt(v.ciphertext[:12], v.ciphertext[12:], _aad(arn, v.version_id))
    except Exception:
        raise DecryptionFailure("Secrets Manager can't decrypt the protected secret text using the "
                                "provided KMS key.") from None


def _aad(arn: str, version_id: str) -> bytes:
    return json.dumps(encryption_context(arn, version_id), sort_keys=True).encode()


def value_of(p: dict) -> tuple[bytes, str] | None:
    """(bytes, kind) from SecretString / SecretBinary; exactly one may be given."""
    has_s, has_b = p.get("SecretString") is not None, p.get("SecretBinary") is not None
    if has_s and has_b:
        raise InvalidParameterException("You can't specify both a binary secret value and a string secret value in the same secret.")
    if has_s:
        return p["SecretString"].encode("utf-8"), "string"
    if has_b:
        return bytes(p["SecretBinary"]), "binary"
    return None


def as_output(value: bytes, kind: str) -> dict:
    return {"SecretString": value.decode("utf-8")} if kind == "string" else {"SecretBinary": value}


def listed_key(kms_key_id: str | None, key_arn: str) -> str:
    """A version's key as ListSecretVersionIds names it: the AWS managed key by AWS's marker."""
    return key_arn if kms_key_id else DEFAULT_KEY_MARKER


def new_version(call, secret: Secret, version_id: str, value: bytes, kind: str) -> Version:
    data_key, sealed, key_arn = encrypt_value(call, secret.arn, secret.key_id, version_id, value)
    return Version(secret_arn=secret.arn, version_id=version_id, created=ts(call.now), stages=[],
                   kind=kind, data_key=data_key, ciphertext=sealed,
                   kms_key_arn=listed_key(secret.kms_key_id, key_arn))


def put_version(call, conn, secret: Secret, version_id: str, value: bytes, kind: str,
                labels: list[str] | None) -> tuple[Version, bool]:
    """Store a new version and move its labels; (version, created?). The same token with the same
    value is a no-op (idempotent retry); with another value it is ResourceExistsException."""
    versions = load_versions(conn, secret.arn)
    existing = next((v for v in versions if v.version_id == version_id), None)
    if existing is not None:
        if existing.kind != kind or decrypt_version(call, existing) != value:
            raise ResourceExistsException(TOKEN_IN_USE.format(version_id, secret.arn))
        return existing, False
    labels = list(dict.fromkeys(labels if labels is not None else [CURRENT]))
    if not any(CURRENT in v.stages for v in versions) and CURRENT not in labels:
        labels.append(CURRENT)      # the first version is always current
    v = new_version(call, secret, version_id, value, kind)
    versions.append(v)
    if CURRENT in labels:
        pending = holder(versions, PENDING)
        if pending is not None and pending is not v and PENDING not in labels:
            # a new current value written while a rotation runs abandons that rotation
            pending.stages.remove(PENDING)
            secret.set_attrs(rotation_abandoned=pending.version_id)
    attach_labels(versions, v, labels)
    insert_version(conn, v)
    save_stages(conn, [x for x in versions if x is not v])
    prune_versions(conn, secret, versions, ts(call.now))
    return v, True


def decode_token(token: str | None) -> int:
    """The offset a NextToken this service handed out stands for (0 for none)."""
    if not token:
        return 0
    try:
        offset = json.loads(base64.urlsafe_b64decode(token.encode()))["o"]
    except Exception:
        offset = None
    if not isinstance(offset, int) or offset < 0:
        from .errors import InvalidNextTokenException
        raise InvalidNextTokenException("The NextToken value is invalid.")
    return offset


def encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"o": offset}).encode()).decode()


def validate_name(name: str) -> None:
    if not NAME_RE.match(name):
        raise ValidationException(INVALID_NAME)


def tags_out(conn, arn: str) -> list[dict]:
    from ..tagging import get_tags
    return [{"Key": k, "Value": v} for k, v in get_tags(conn, arn).items()]


def all_secrets(conn, account: str, region: str) -> list[Secret]:
    rows = conn.execute(secrets_table.select().where(secrets_table.c.account == account,
                                                     secrets_table.c.region == region))
    return [_row_to_secret(r) for r in rows]


def due(conn, column, now: float) -> list[Secret]:
    rows = conn.execute(secrets_table.select().where(column.is_not(None), column <= now))
    return [_row_to_secret(r) for r in rows]



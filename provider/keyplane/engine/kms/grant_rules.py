"""What authorisation asks of KMS grants (`grant_allowing`, `check_grant_tokens`), and the grant
record the grant operations (grants.py) share: a grant row compiled for matching, grant tokens, and
a key's grants, cached with the key so a grant-authorised Encrypt does no database work either.
"""
from __future__ import annotations

import base64
import json
import secrets

from ..errors import InvalidGrantTokenException
from ..identity import Principal
from ..policy import ACCOUNT, NO_MATCH, PrincipalMatcher
from .records import Key, dt
from .tables import grants as grants_table

TOKEN_PREFIX = b"kpgt1"

# Operations whose requests carry an encryption context (so grant constraints can apply to them).
CONTEXT_OPERATIONS = frozenset({
    "Encrypt", "Decrypt", "ReEncryptFrom", "ReEncryptTo", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext",
    "GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext"})
# Operations a grant may allow whatever its constraints (they carry no context).
UNCONSTRAINED_OPERATIONS = frozenset({"DescribeKey", "RetireGrant", "CreateGrant"})


class Grant:
    """One grant row, with its grantee and retiring principals compiled for matching."""

    __slots__ = ("grant_id", "key_arn", "name", "grantee", "grantee_service", "retiring", "retiring_service",
                 "issuing_account", "operations", "constraints", "creation_date", "_grantee_m", "_retiring_m")

    def __init__(self, row):
        self.grant_id = row.grant_id
        self.key_arn = row.key_arn
        self.name = row.name
        self.grantee = row.grantee_principal
        self.grantee_service = bool(row.grantee_service)      # GranteeServicePrincipal
        self.retiring = row.retiring_principal
        self.retiring_service = bool(row.retiring_service)    # RetiringServicePrincipal
        self.issuing_account = row.issuing_account
        self.operations = frozenset(json.loads(row.operations))
        self.constraints = json.loads(row.constraints) if row.constraints else None
        self.creation_date = row.creation_date
        self._grantee_m = _matcher(self.grantee, self.grantee_service)
        self._retiring_m = _matcher(self.retiring, self.retiring_service) if self.retiring else None

    def grantee_match(self, principal: Principal) -> int:
        return self._grantee_m.match(principal) if self._grantee_m else NO_MATCH

    def retiring_match(self, principal: Principal) -> int:
        return self._retiring_m.match(principal) if self._retiring_m else NO_MATCH

    def constraints_hold(self, operation: str, context: dict | None) -> bool:
        if not self.constraints:
            return True
        if self.constraints.get("SourceArn") is not None and operation != "RetireGrant":
            # SourceArn is aws:SourceArn put into the grant: it holds only for a request an AWS
            # service principal makes on behalf of that resource. keyplane's callers are IAM
            # identities, whose requests carry no aws:SourceArn, so the grant allows them nothing
            # (a constraint only ever narrows a grant).
            return False
        if operation not in CONTEXT_OPERATIONS:
            return True
        context = context or {}
        equals = self.constraints.get("EncryptionContextEquals")
        if equals is not None and context != equals:
            return False
        subset = self.constraints.get("EncryptionContextSubset")
        if subset is not None and any(context.get(k) != v for k, v in subset.items()):
            return False
        return True

    def entry(self, key: Key) -> dict:
        out = {"KeyId": key.arn, "GrantId": self.grant_id, "CreationDate": dt(self.creation_date),
               "GranteeServicePrincipal" if self.grantee_service else "GranteePrincipal": self.grantee,
               "IssuingAccount": f"arn:aws:iam::{self.issuing_account}:root",
               "Operations": sorted(self.operations, key=_OPERATION_ORDER.index)}
        if self.name:
            out["Name"] = self.name
        if self.retiring:
            out["RetiringServicePrincipal" if self.retiring_service else "RetiringPrincipal"] = self.retiring
        if self.constraints:
            out["Constraints"] = self.constraints
        return out


_OPERATION_ORDER = ["Decrypt", "Encrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "ReEncryptFrom",
                    "ReEncryptTo", "Sign", "Verify", "GetPublicKey", "CreateGrant", "RetireGrant", "DescribeKey",
                    "GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext", "GenerateMac", "VerifyMac",
                    "DeriveSharedSecret", "Encapsulate", "Decapsulate"]


def _matcher(principal: str | None, service: bool):
    """A grantee or retiring principal: a service principal (GranteeServicePrincipal, or an AWS
    service named in GranteePrincipal as integrated services do), else an AWS principal ARN."""
    if not principal:
        return None
    if service or principal.endswith(".amazonaws.com"):
        return PrincipalMatcher({"Service": principal})
    return PrincipalMatcher({"AWS": principal})


# ---- tokens --------------------------------------------------------------------------------

def new_token(grant_id: str) -> str:
    """A fresh token for a grant: opaque to clients, names the grant, different every time."""
    raw = TOKEN_PREFIX + b":" + grant_id.encode() + b":" + secrets.token_bytes(24)
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def grant_id_of_token(token: str) -> str:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        prefix, grant_id, _ = raw.split(b":", 2)
        if prefix != TOKEN_PREFIX or len(grant_id) != 64:
            raise ValueError
        return grant_id.decode("ascii")
    except (ValueError, UnicodeDecodeError):
        raise InvalidGrantTokenException("The grant token is invalid.") from None


def check_grant_tokens(call, tokens: list[str]) -> None:
    """GrantTokens on any request: each must be a keyplane grant token (grants apply at once)."""
    for token in tokens:
        grant_id_of_token(token)


# ---- storage -------------------------------------------------------------------------------

def grants_of(call, key: Key) -> tuple[Grant, ...]:
    """The key's grants (cached with the key; changes invalidate at once)."""
    cache_key = ("kms-grants", key.arn)
    hit = call.engine.cache.get(cache_key)
    if hit is not None and not call.store.in_write:
        return hit
    with call.store.read() as conn:
        rows = conn.execute(grants_table.select().where(grants_table.c.key_arn == key.arn)
                            .order_by(grants_table.c.creation_date, grants_table.c.grant_id)).fetchall()
    found = tuple(Grant(r) for r in rows)
    if not call.store.in_write:
        call.engine.cache.put(cache_key, found)
    return found


def grant_allowing(call, key: Key, operation: str, request, identity_allows: bool) -> Grant | None:
    """A grant that lets the caller perform `operation` on `key` with this request's context."""
    grants = grants_of(call, key)
    if not grants:
        return None
    principal = call.principal
    context = _request_encryption_context(call, operation)
    for g in grants:
        if operation not in g.operations:
            continue
        how = g.grantee_match(principal)
        if how == NO_MATCH or (how == ACCOUNT and not identity_allows):
            continue
        if g.constraints_hold(operation, context):
            return g
    return None


def _request_encryption_context(call, operation: str) -> dict | None:
    p = call.params or {}
    if operation == "ReEncryptFrom":
        return p.get("SourceEncryptionContext")
    if operation == "ReEncryptTo":
        return p.get("DestinationEncryptionContext")
    return p.get("EncryptionContext")

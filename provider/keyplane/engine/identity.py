"""Who is calling: principals, and the identities file they come from.

A `Principal` is the resolved caller of one request. The wire layer resolves it from the SigV4
access key (or, in-process, from `keyplane.connect(account=, principal=)`); the engine only ever
sees a `Principal`.

`Identities` owns the identities file (YAML, validated against `schemas/identities.schema.json`):
accounts, IAM users and roles with their inline identity policies, role trust policies, and
long-term access keys. Temporary credentials issued by STS AssumeRole live in the store, not in the
file, because every server process must see them; `Identities` takes a `sessions` callable that
finds them, so the lookup of an access key has one entry point whatever its origin.
"""
from __future__ import annotations

import base64
import logging
import os
import re
import secrets as _secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable

import yaml

from keyplane.engine.errors import UnrecognizedClientException, error_type
from keyplane.engine.private_dirs import make_private_dirs

DEFAULT_ACCOUNT = "111122223333"

log = logging.getLogger("keyplane.identity")

ExpiredTokenException = error_type("ExpiredTokenException")

INVALID_TOKEN = "The security token included in the request is invalid."

# Dev mode (`keyplane serve --dev`): the account every unknown access key acts as the root of, and
# the documented pair scripts can use without reading the server's output (LocalStack's and moto's
# habit). A key the server knows no secret for is accepted on a well-formed signature alone:
# lookup returns UNVERIFIED in place of the secret.
DEV_ACCOUNT = "000000000000"
DEV_ACCESS_KEY_ID, DEV_SECRET_ACCESS_KEY = "test", "test"
UNVERIFIED = None
EXPIRED_TOKEN = "The security token included in the request is expired"

ADMIN_POLICY = {"Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}

PARTNER_ACCOUNT = "444455556666"
# The role AWS Organizations creates in a member account for the management account; the Pulumi
# provider assumes it to manage resources declared with another `account` over an endpoint.
ACCOUNT_ACCESS_ROLE = "OrganizationAccountAccessRole"


def _trust(principal: str) -> dict:
    return {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": principal}, "Action": "sts:AssumeRole"}]}


def default_document(account: str = DEFAULT_ACCOUNT, user: str = "admin") -> dict:
    """A fresh identities document: `account` with an administrator user (a new access key) and
    a `reader` role, and a second account, PARTNER_ACCOUNT, that `account` manages through
    ACCOUNT_ACCESS_ROLE and whose `reader` role (assumable within the partner) may use what
    `account` shares with it.

    The roles exist so that the examples' policies name real principals (keyplane refuses a
    policy naming a user or role missing from this file, as AWS refuses an unknown principal):
    examples/quickstart grants `role/reader` decryption; examples/cross_account shares a key and a
    secret with the partner's `reader`. Neither role has rights of its own in `account`: a key
    policy, grant or resource policy must give them."""
    partner_reads = {"Version": "2012-10-17", "Statement": [
        {"Sid": "UseKeysSharedWithUs", "Effect": "Allow",
         "Action": ["kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey"],
         "Resource": f"arn:aws:kms:*:{account}:key/*"},
        {"Sid": "ReadSecretsSharedWithUs", "Effect": "Allow",
         "Action": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
         "Resource": f"arn:aws:secretsmanager:*:{account}:secret:*"}]}
    partner = PARTNER_ACCOUNT if account != PARTNER_ACCOUNT else DEFAULT_ACCOUNT
    return {"version": 1, "accounts": [
        {"id": account,
         "users": [{
             "name": user,
             "policies": [{"name": "AdministratorAccess", "document": ADMIN_POLICY}],
             "access_keys": [{"id": new_access_key_id(), "secret": new_secret_access_key(),
                              "status": "Active",
                              "created": datetime.now(timezone.utc).replace(microsecond=0).isoformat()}],
         }],
         "roles": [{"name": "reader", "trust_policy": _trust(f"arn:aws:iam::{account}:root")}]},
        {"id": partner,
         "roles": [
             {"name": ACCOUNT_ACCESS_ROLE, "trust_policy": _trust(f"arn:aws:iam::{account}:root"),
              "policies": [{"name": "AdministratorAccess", "document": ADMIN_POLICY}]},
             {"name": "reader", "trust_policy": _trust(f"arn:aws:iam::{partner}:root"),
              "policies": [{"name": "ReadWhatIsShared", "document": partner_reads}]},
         ]},
    ]}


# AWS access key ids are upper-case base32; secrets are 40 base64 characters.
_KEY_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


@dataclass(frozen=True)
class Principal:
    account: str
    arn: str
    type: str = "Root"                  # Root | IAMUser | AssumedRole | Role | AWSService
    name: str | None = None             # user or role name
    access_key_id: str | None = None
    session_name: str | None = None     # assumed-role session
    role_arn: str | None = None         # the IAM role behind an assumed-role session
    tags: dict = field(default_factory=dict, hash=False, compare=False)

    @property
    def is_root(self) -> bool:
        return self.type == "Root"

    @classmethod
    def root(cls, account: str = DEFAULT_ACCOUNT) -> "Principal":
        return cls(account=account, arn=f"arn:aws:iam::{account}:root", type="Root")

    @classmethod
    def from_arn(cls, arn: str) -> "Principal":
        """A principal named by its ARN (user, role, assumed-role session or account root)."""
        parts = arn.split(":", 5)
        if len(parts) != 6 or parts[0] != "arn":
            raise ValueError(f"not a principal ARN: {arn}")
        account, resource = parts[4], parts[5]
        if resource == "root":
            return cls.root(account)
        kind, _, rest = resource.partition("/")
        if kind == "user":
            return cls(account=account, arn=arn, type="IAMUser", name=rest.rsplit("/", 1)[-1])
        if kind == "role":
            return cls(account=account, arn=arn, type="Role", name=rest.rsplit("/", 1)[-1])
        if kind == "assumed-role":
            role, _, session = rest.partition("/")
            return cls(account=account, arn=arn, type="AssumedRole", name=role, session_name=session,
                       role_arn=f"arn:aws:iam::{account}:role/{role}")
        raise ValueError(f"not a principal ARN: {arn}")


# ---- the identities file -------------------------------------------------------------------

class IdentitiesFileError(ValueError):
    """The identities file is unreadable or breaks the schema; the message names the place."""


@dataclass(frozen=True)
class AccessKey:
    id: str
    secret: str
    status: str = "Active"
    created: str | None = None

    @property
    def active(self) -> bool:
        return self.status == "Active"


@dataclass(frozen=True)
class User:
    account: str
    name: str
    path: str = "/"
    policies: tuple = ()                # ((name, document), ...)
    access_keys: tuple = ()
    tags: dict = field(default_factory=dict, hash=False, compare=False)

    @property
    def arn(self) -> str:
        return f"arn:aws:iam::{self.account}:user{self.path}{self.name}"


@dataclass(frozen=True)
class Role:
    account: str
    name: str
    trust_policy: dict = field(hash=False, compare=False, default_factory=dict)
    path: str = "/"
    max_session_duration: int = 3600
    policies: tuple = ()
    description: str | None = None
    tags: dict = field(default_factory=dict, hash=False, compare=False)

    @property
    def arn(self) -> str:
        return f"arn:aws:iam::{self.account}:role{self.path}{self.name}"


@dataclass(frozen=True)
class TemporaryCredentials:
    """What STS AssumeRole issues: an ASIA key, its secret and session token, until `expiration`."""
    access_key_id: str
    secret_access_key: str
    session_token: str
    expiration: datetime
    account: str
    role_name: str
    role_arn: str
    session_name: str
    source_arn: str | None = None       # who assumed the role
    session_policy: dict | None = None  # the AssumeRole Policy parameter, if any

    @property
    def arn(self) -> str:
        return f"arn:aws:sts::{self.account}:assumed-role/{self.role_name}/{self.session_name}"

    def principal(self) -> Principal:
        return Principal(account=self.account, arn=self.arn, type="AssumedRole", name=self.role_name,
                         access_key_id=self.access_key_id, session_name=self.session_name,
                         role_arn=self.role_arn)


@dataclass(frozen=True)
class Account:
    id: str
    alias: str | None = None
    root_access_keys: tuple = ()
    users: tuple = ()
    roles: tuple = ()


def new_access_key_id(prefix: str = "AKIA") -> str:
    return prefix + "".join(_secrets.choice(_KEY_ALPHABET) for _ in range(16))


def new_secret_access_key() -> str:
    return base64.b64encode(_secrets.token_bytes(30)).decode()


def new_session_token() -> str:
    # Real tokens are long opaque blobs; clients only echo them back.
    return base64.b64encode(_secrets.token_bytes(96)).decode()


def _schema_validator():
    # policy documents inside the file are checked by the IAM grammar's own schemas ($ref)
    from keyplane.schemas import validator
    return validator("identities")


def _json_path(error) -> str:
    out = "$"
    for part in error.absolute_path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


# the access keys IAM makes (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html#identifiers-unique-ids);
# the schema also lets through the shapes test tools use (test/test, ASIA..., LocalStack's LSIA...),
# which only a dev-mode server takes
IAM_ACCESS_KEY_ID = re.compile(r"AKIA[A-Z0-9]{16}")
IAM_SECRET = re.compile(r"[A-Za-z0-9/+=]{40}")


def validate_document(data, dev: bool = False) -> None:
    """Schema check plus the rules a schema cannot say (unique ids and names; outside dev mode,
    access keys of the shape IAM makes)."""
    errors = sorted(_schema_validator().iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        e = errors[0]
        message = e.message
        if "secret" in e.absolute_path:  # jsonschema quotes the value; a secret must not reach a log
            message = "must be 1 to 128 printable characters without spaces"
        raise IdentitiesFileError(f"identities file: {_json_path(e)}: {message}")
    seen_accounts, seen_keys = set(), set()
    for ai, acct in enumerate(data["accounts"]):
        if acct["id"] in seen_accounts:
            raise IdentitiesFileError(f"identities file: $.accounts[{ai}].id: account {acct['id']} appears twice")
        seen_accounts.add(acct["id"])
        keys = [(f"$.accounts[{ai}].root_access_keys[{ki}]", k) for ki, k in enumerate(acct.get("root_access_keys", []))]
        for kind in ("users", "roles"):
            names = set()
            for i, item in enumerate(acct.get(kind, [])):
                if item["name"].lower() in names:  # IAM names are case-insensitively unique
                    raise IdentitiesFileError(
                        f"identities file: $.accounts[{ai}].{kind}[{i}].name: {item['name']} appears twice")
                names.add(item["name"].lower())
                keys += [(f"$.accounts[{ai}].{kind}[{i}].access_keys[{ki}]", k)
                         for ki, k in enumerate(item.get("access_keys", []))]
        for where, key in keys:
            if not dev and not IAM_ACCESS_KEY_ID.fullmatch(key["id"]):
                raise IdentitiesFileError(
                    f"identities file: {where}.id: access key {key['id']} is not of the shape IAM makes (AKIA and "
                    f"16 capital letters or digits); test tools' shapes are taken only in dev mode (serve --dev)")
            if not dev and not IAM_SECRET.fullmatch(key["secret"]):
                raise IdentitiesFileError(
                    f"identities file: {where}.secret: must be 40 characters of A-Z a-z 0-9 / + = (test tools' "
                    f"secrets are taken only in dev mode, serve --dev)")
            if key["id"] in seen_keys:
                raise IdentitiesFileError(f"identities file: {where}.id: access key {key['id']} appears twice")
            seen_keys.add(key["id"])


def _policies(items) -> tuple:
    return tuple((p["name"], p["document"]) for p in items or ())


def _keys(items) -> tuple:
    return tuple(AccessKey(k["id"], k["secret"], k.get("status", "Active"), k.get("created")) for k in items or ())


def _parse(data) -> tuple[Account, ...]:
    accounts = []
    for a in data["accounts"]:
        users = tuple(User(account=a["id"], name=u["name"], path=u.get("path", "/"),
                           policies=_policies(u.get("policies")), access_keys=_keys(u.get("access_keys")),
                           tags=dict(u.get("tags", {})))
                      for u in a.get("users", []))
        roles = tuple(Role(account=a["id"], name=r["name"], trust_policy=r["trust_policy"],
                           path=r.get("path", "/"), max_session_duration=r.get("max_session_duration", 3600),
                           policies=_policies(r.get("policies")), description=r.get("description"),
                           tags=dict(r.get("tags", {})))
                      for r in a.get("roles", []))
        accounts.append(Account(id=a["id"], alias=a.get("alias"), root_access_keys=_keys(a.get("root_access_keys")),
                                users=users, roles=roles))
    return tuple(accounts)


def write_private(path: Path, text: str) -> None:
    """Write `text` to `path` readable by the owner only, atomically (a reader never sees half)."""
    path = Path(path)
    make_private_dirs(path.parent)   # a state folder, as init makes it
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)


SessionLookup = Callable[[str], "TemporaryCredentials | None"]


class Identities:
    """The identities file in memory, plus where temporary credentials are found.

    `sessions(access_key_id)` is the second source of keys (STS sessions in the store); it is
    consulted for ASIA keys only. The file is re-read when it changes on disk (checked at most once
    a second), so an edit reaches every server process without a restart. Identities kept in the
    store (`stored`, an engine.identity_store.StoredIdentities) are re-read the same way, when the
    store's version moves: every server on one database honours a change within a second.
    """

    RELOAD_INTERVAL = 1.0

    def __init__(self, data: dict, *, path: Path | None = None, sessions: SessionLookup | None = None,
                 clock=None, dev_account: str | None = None, stored=None, version: int | None = None):
        validate_document(data, dev=dev_account is not None)
        self.dev_account = dev_account        # set in dev mode only: unknown keys act as its root
        self._dev_root: Principal | None = None   # that root, made once
        self.path = Path(path) if path else None
        self.stored, self._version = stored, version
        self.sessions = sessions
        self.clock = clock
        self._lock = threading.Lock()
        self._generation = 0                  # how many times identities were (re)installed
        self._install(data)
        self._stat = self._file_stat()
        self._checked = time.monotonic()

    # ---- loading and saving -----------------------------------------------------------------
    @classmethod
    def load(cls, path, **kwargs) -> "Identities":
        return cls(cls._read(Path(path)), path=path, **kwargs)

    @classmethod
    def from_store(cls, stored, **kwargs) -> "Identities":
        version, data = stored.load()
        return cls(data, stored=stored, version=version, **kwargs)

    @staticmethod
    def _read(path: Path) -> dict:
        try:
            text = path.read_text()
        except OSError as e:
            raise IdentitiesFileError(f"identities file {path}: {e.strerror}") from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise IdentitiesFileError(f"identities file {path}: not valid YAML: {e}") from None
        if not isinstance(data, dict):
            raise IdentitiesFileError(f"identities file {path}: $: must be a mapping with 'accounts'")
        return data

    def save(self, path=None) -> Path:
        path = Path(path or self.path)
        write_private(path, "# keyplane identities: access key secrets are in this file; keep it 0600.\n"
                      + yaml.safe_dump(self.data, sort_keys=False))
        if self.path is None:
            self.path = path
        self._stat = self._file_stat()
        return path

    @classmethod
    def create_default(cls, path, account: str = DEFAULT_ACCOUNT, user: str = "admin", **kwargs) -> "Identities":
        """The identities `keyplane init` writes (0600): `account` with an administrator user and one
        fresh access key, and the principals the examples name (see `default_document`)."""
        ids = cls(default_document(account, user), path=path, **kwargs)
        ids.save(path)
        return ids

    def default_credentials(self) -> tuple[str, str]:
        """The first active user access key (what `keyplane init` prints)."""
        for acct in self.accounts.values():
            for u in acct.users:
                for k in u.access_keys:
                    if k.active:
                        return k.id, k.secret
            for k in acct.root_access_keys:
                if k.active:
                    return k.id, k.secret
        raise LookupError("the identities file has no active access key")

    def _install(self, data: dict) -> None:
        accounts = _parse(data)
        keys: dict[str, tuple[AccessKey, Principal]] = {}
        roles: dict[str, Role] = {}
        users: dict[str, User] = {}
        for acct in accounts:
            for k in acct.root_access_keys:
                keys[k.id] = (k, Principal(account=acct.id, arn=f"arn:aws:iam::{acct.id}:root", type="Root",
                                           access_key_id=k.id))
            for u in acct.users:
                users[u.arn] = u
                for k in u.access_keys:
                    keys[k.id] = (k, Principal(account=acct.id, arn=u.arn, type="IAMUser", name=u.name,
                                               access_key_id=k.id, tags=u.tags))
            for r in acct.roles:
                roles[r.arn] = r
        with self._lock:
            self.data = data
            self.accounts = {a.id: a for a in accounts}
            self._keys, self._users, self._roles = keys, users, roles
            self._generation += 1

    def _file_stat(self):
        if self.path is None:
            return None
        try:
            st = os.stat(self.path)
            return (st.st_mtime_ns, st.st_size, st.st_ino)
        except OSError:
            return None

    def refresh(self, force: bool = False) -> bool:
        """Re-read the file or the store if it changed; a broken edit keeps the last good version."""
        if self.path is None and self.stored is None:
            return False
        now = time.monotonic()
        if not force and now - self._checked < self.RELOAD_INTERVAL:
            return False
        self._checked = now
        if self.stored is not None:
            return self._refresh_stored()
        stat = self._file_stat()
        if stat is None or stat == self._stat:
            return False
        try:
            data = self._read(self.path)
            validate_document(data, dev=self.dev_account is not None)
        except IdentitiesFileError as e:
            log.error("%s; keeping the previous version", e)
            self._stat = stat
            return False
        self._install(data)
        self._stat = stat
        return True

    def _refresh_stored(self) -> bool:
        # the store validated the document before writing it; only a newer version is read
        try:
            if self.stored.version() == self._version:
                return False
            found = self.stored.load()
        except Exception:
            # an unreachable store keeps the identities last read; the next check tries again
            log.exception("identities: the store cannot be read; keeping the previous version")
            return False
        if found is None:
            return False
        version, data = found
        self._install(data)
        self._version = version
        return True

    # ---- lookups ------------------------------------------------------------------------------
    def _now(self) -> datetime:
        return self.clock.now() if self.clock is not None else datetime.now(timezone.utc)

    def lookup_access_key(self, access_key_id: str) -> tuple[Principal, str, str | None]:
        """(principal, secret, session token or None) for a key, or the AWS error a client gets.

        Unknown and inactive keys answer alike, as AWS does, so a caller learns nothing about which
        keys exist.
        """
        self.refresh()
        found = self._keys.get(access_key_id)
        if found is not None:
            key, principal = found
            if not key.active:
                raise UnrecognizedClientException(INVALID_TOKEN)
            return principal, key.secret, None
        if access_key_id.startswith("ASIA") and self.sessions is not None:
            creds = self.sessions(access_key_id)
            if creds is not None:
                if self._now() >= creds.expiration:
                    raise ExpiredTokenException(EXPIRED_TOKEN)
                if self._roles.get(creds.role_arn) is None and self._role_by_name_in_arn(creds.role_arn) is None:
                    # the role was removed from the file
                    raise UnrecognizedClientException(INVALID_TOKEN)
                return creds.principal(), creds.secret_access_key, creds.session_token
        if self.dev_account is not None:
            # dev mode: test/test is checked like any key; other keys' secrets are unknowable
            secret = DEV_SECRET_ACCESS_KEY if access_key_id == DEV_ACCESS_KEY_ID else UNVERIFIED
            root = self._dev_root
            if root is None or root.account != self.dev_account:
                root = self._dev_root = Principal.root(self.dev_account)
            return root, secret, None
        raise UnrecognizedClientException(INVALID_TOKEN)

    def __call__(self, access_key_id: str):
        return self.lookup_access_key(access_key_id)

    def role(self, arn: str) -> Role | None:
        self.refresh()
        return self._roles.get(arn) or self._role_by_name_in_arn(arn)

    def _role_by_name_in_arn(self, arn: str) -> Role | None:
        # Trust and AssumeRole name roles by ARN; a path-less ARN still finds a role with a path,
        # because IAM role names are unique within an account.
        parts = arn.split(":", 5)
        if len(parts) != 6 or not parts[5].startswith("role/"):
            return None
        name = parts[5].rsplit("/", 1)[-1].lower()
        acct = self.accounts.get(parts[4])
        return next((r for r in acct.roles if r.name.lower() == name), None) if acct else None

    def user(self, arn: str) -> User | None:
        self.refresh()
        return self._users.get(arn)

    def generation(self) -> int:
        """Changes whenever the identities do (after the same reload check as every lookup), so
        what is derived from them can be kept until it moves."""
        self.refresh()
        return self._generation

    def identity_policies_for(self, principal: Principal) -> list[dict]:
        """The identity policies that apply to a principal; a role session gets its role's."""
        if principal.type == "IAMUser":
            u = self.user(principal.arn)
            return [doc for _, doc in u.policies] if u else []
        if principal.type in ("AssumedRole", "Role"):
            r = self.role(principal.role_arn or principal.arn)
            return [doc for _, doc in r.policies] if r else []
        return []

    def session_policies_for(self, principal: Principal) -> list[dict]:
        """The session policy passed to AssumeRole, if any: it can only narrow the role's policies."""
        if principal.type != "AssumedRole" or not principal.access_key_id or self.sessions is None:
            return []
        creds = self.sessions(principal.access_key_id)
        return [creds.session_policy] if creds is not None and creds.session_policy else []

    def account_ids(self) -> Iterable[str]:
        return list(self.accounts)


__all__ = ["Principal", "Identities", "IdentitiesFileError", "AccessKey", "User", "Role", "Account",
           "TemporaryCredentials", "ExpiredTokenException", "DEFAULT_ACCOUNT", "new_access_key_id",
           "new_secret_access_key", "new_session_token", "validate_document", "write_private"]

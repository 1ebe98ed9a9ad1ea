"""Who is calling: principals, accounts, and (later) the identities file.

A `Principal` is the resolved caller of one request. The wire layer resolves it from the SigV4
access key (or, in-process, from `keyplane.connect(account=, principal=)`); the engine only ever
sees a `Principal`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

DEFAULT_ACCOUNT = "111122223333"


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

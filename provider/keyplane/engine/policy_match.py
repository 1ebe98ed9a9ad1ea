"""How a policy's names match a request's: IAM wildcards (`*`, `?`), policy variables (`${aws:username}`),
the Principal element, and how condition values read as strings, numbers and dates."""
from __future__ import annotations

import base64
import re
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any, Callable

from keyplane.engine.identity import Principal
from keyplane.engine.policy_request import AuthzRequest

# How a statement's Principal element names the caller. ACCOUNT means "the caller's account"
# (`arn:aws:iam::ACCT:root` or a bare account id): access is delegated to that account's IAM
# policies, which KMS must then consult too. DIRECT means the caller itself (or "*").
NO_MATCH, ACCOUNT, DIRECT = 0, 1, 2


# ---- wildcards -----------------------------------------------------------------------------
# `*` as `.*` lets a backtracking engine try every split of the value among the stars: a failing
# match costs ~n^(stars-1) steps, and the value is often the caller's (a secret's name, an
# encryption context value). `*a*a*a*b` against 800 a's took 8.6 s on the event loop. A pattern
# is matched instead as a glob is, in linear time: the text before the first `*` at the start, each
# run between two stars at its leftmost place after the last (which is always right: a later place
# only leaves less for what follows), the text after the last `*` at the end. A run's leftmost place
# is held with `(?=(?P<g>.*?run))(?P=g)` (Python's lookahead does not backtrack, so this is an
# atomic group on every Python keyplane supports).
_STAR = object()


def _glob_regex(tokens: list, tag: str) -> str:
    """The regex of a token list: _STAR, "?" as any one character (a str "?" given as a literal is
    `("?",)`), or literal text. `tag` keeps group names apart when regexes are joined."""
    runs: list[str] = [""]
    for token in tokens:
        if token is _STAR:
            runs.append("")
        elif token == "?":
            runs[-1] += "."
        else:
            runs[-1] += re.escape(token if isinstance(token, str) else token[0])
    if len(runs) == 1:
        return runs[0]
    first, *middle, final = runs
    middle = [run for run in middle if run]
    tail = ".*" + final
    if not final and middle:
        # `...*run*`: once the last run is found anywhere the trailing star takes the rest, so
        # nothing after it can fail and send the engine back: it needs no lookahead
        tail = ".*" + middle.pop() + ".*"
    held = [f"(?=(?P<g{tag}_{i}>.*?{run}))(?P=g{tag}_{i})" for i, run in enumerate(middle)]
    return first + "".join(held) + tail


def _wildcard_tokens(pattern: str) -> list:
    return [_STAR if c == "*" else c for c in pattern]


def wildcard_regex(pattern: str, tag: str = "") -> str:
    """The regex (for fullmatch, with DOTALL) of an IAM wildcard pattern, linear in the value."""
    return _glob_regex(_wildcard_tokens(pattern), tag)


def wildcard_alternatives(patterns, tag: str = "") -> str:
    """One regex matching any of `patterns` (IAM wildcards)."""
    return "|".join(f"(?:{wildcard_regex(p, f'{tag}{i}')})" for i, p in enumerate(patterns))


@lru_cache(maxsize=8192)
def wildcard(pattern: str, ignore_case: bool = False) -> Callable[[str], bool]:
    """A predicate for one IAM wildcard pattern (`*` any run, `?` one character)."""
    if "*" not in pattern and "?" not in pattern:
        if ignore_case:
            folded = pattern.lower()
            return lambda s: s.lower() == folded
        return pattern.__eq__
    rx = re.compile(wildcard_regex(pattern), re.DOTALL | (re.IGNORECASE if ignore_case else 0))
    return lambda s: rx.fullmatch(s) is not None


class NameSet:
    """A set of names with wildcards (actions or resources), as one set lookup plus one regex."""

    __slots__ = ("exact", "rx", "match_all")

    def __init__(self, patterns: list[str], lower: bool):
        if lower:
            patterns = [p.lower() for p in patterns]
        self.match_all = "*" in patterns
        self.exact = frozenset(p for p in patterns if "*" not in p and "?" not in p)
        wild = [p for p in patterns if p not in self.exact]
        self.rx = re.compile(wildcard_alternatives(wild), re.DOTALL) if wild else None

    def __call__(self, name: str) -> bool:
        return self.match_all or name in self.exact or (self.rx is not None and self.rx.fullmatch(name) is not None)


# ---- policy variables ----------------------------------------------------------------------

VARIABLE = re.compile(r"\$\{([^}]*)\}")


def has_variables(s: str) -> bool:
    return "${" in s


def _variable_value(name: str, request: AuthzRequest) -> str | None:
    name = name.strip()
    default = None
    if "," in name:  # ${aws:username, 'nobody'}
        name, _, rest = name.partition(",")
        name, rest = name.strip(), rest.strip()
        if len(rest) >= 2 and rest[0] == rest[-1] == "'":
            default = rest[1:-1]
    if name in ("*", "?", "$"):
        return name
    value = request.value(name.lower())
    if value is None or isinstance(value, (list, tuple, set, frozenset)):
        return default
    return as_str(value)


def expand(pattern: str, request: AuthzRequest, as_regex: bool, tag: str = "") -> str | None:
    """Substitutes policy variables; None when one has no value. With `as_regex`, the result is a
    regex in which substituted values are literal (so a `*` inside a user name matches only `*`)."""
    out: list = []
    pos = 0
    for m in VARIABLE.finditer(pattern):
        literal = pattern[pos:m.start()]
        out.extend(_wildcard_tokens(literal) if as_regex else (literal,))
        value = _variable_value(m.group(1), request)
        if value is None:
            return None
        out.extend([(c,) for c in value] if as_regex else (value,))
        pos = m.end()
    tail = pattern[pos:]
    out.extend(_wildcard_tokens(tail) if as_regex else (tail,))
    return _glob_regex(out, tag) if as_regex else "".join(out)


# ---- principals ----------------------------------------------------------------------------

def _role_key(arn: str) -> tuple[str, str] | None:
    """(account, role name) of a role ARN; a role's path is not part of its sessions' ARNs."""
    parts = arn.split(":", 5)
    if len(parts) == 6 and parts[5].startswith("role/"):
        return parts[4], parts[5].rsplit("/", 1)[-1]
    return None


class PrincipalMatcher:
    """A statement's Principal (or NotPrincipal) element."""

    __slots__ = ("anyone", "accounts", "arns", "roles", "services")

    def __init__(self, element: Any):
        self.anyone = element == "*"
        self.accounts: set[str] = set()
        self.arns: set[str] = set()
        self.roles: set[tuple[str, str]] = set()
        self.services: set[str] = set()
        if self.anyone:
            return
        for aws in as_list(element.get("AWS", [])):
            if aws == "*":
                self.anyone = True
            elif aws.isdigit():
                self.accounts.add(aws)
            elif aws.endswith(":root"):
                self.accounts.add(aws.split(":")[4])
            elif (role := _role_key(aws)) is not None:
                self.roles.add(role)
            else:
                self.arns.add(aws)
        self.services.update(as_list(element.get("Service", [])))
        # Federated and CanonicalUser principals are accepted but never match: keyplane has none.

    def match(self, p: Principal) -> int:
        if self.anyone:
            return DIRECT
        if p.type == "AWSService":
            return DIRECT if (p.arn in self.services or p.name in self.services) else NO_MATCH
        if p.arn in self.arns:
            return DIRECT
        if self.roles:
            role_arn = p.role_arn or (p.arn if p.type == "Role" else None)
            if role_arn and _role_key(role_arn) in self.roles:
                return DIRECT
        if p.account in self.accounts:
            # The account's root user is the account itself; everyone else is reached through
            # the account's IAM policies.
            return DIRECT if p.type == "Root" else ACCOUNT
        return NO_MATCH

    def names_account(self, account: str) -> bool:
        return self.anyone or account in self.accounts


# ---- condition values ----------------------------------------------------------------------

def as_list(v: Any) -> list:
    return v if isinstance(v, list) else [v]


def as_str(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (bytes, bytearray)):
        return base64.b64encode(bytes(v)).decode("ascii")
    if isinstance(v, datetime):
        return v.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def as_number(v: Any) -> float | None:
    if isinstance(v, bool):
        return None
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def as_epoch(v: Any) -> float | None:
    if isinstance(v, datetime):
        return (v if v.tzinfo else v.replace(tzinfo=timezone.utc)).timestamp()
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            pass
        try:
            dt = datetime.fromisoformat(v.replace("Z", "+00:00"))
        except ValueError:
            return None
        return (dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)).timestamp()
    return None

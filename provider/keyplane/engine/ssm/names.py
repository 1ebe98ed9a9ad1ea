"""A parameter's name: AWS's name rules, the canonical form, the ARN, and how reads name a version.

Names are stored canonically with a leading `/` (`p` and `/p` are one parameter). AWS keeps a
one-level name without the slash (`/p` becomes `p`) and shows that form in DescribeParameters and the
paged reads, while GetParameter(s) echo the name as the request wrote it
(https://github.com/hashicorp/terraform-provider-aws/pull/49339, observed against the API).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone

from ..errors import ValidationException
from .errors import HierarchyLevelLimitExceededException, ParameterNotFound

MAX_DEPTH = 15
MAX_NAME_WITH_ARN = 1011
NAME_CHARS = re.compile(r"^[a-zA-Z0-9_.\-/]+$")
RESERVED = ("aws", "ssm")
PARAMETER_ARN = re.compile(r"^arn:aws[a-z-]*:ssm:([a-z0-9-]+):(\d{12}):parameter/(.+)$")

# AWS's wording, as its answers are quoted (it names only "ssm" whatever the fault): e.g.
# https://github.com/aws/aws-sdk-php/issues/1952, https://github.com/aws/aws-sdk-js-v3/issues/5005
NAME_RULES = ('Parameter name: can\'t be prefixed with "ssm" (case-insensitive). If formed as a '
              "path, it can consist of sub-paths divided by slash symbol; each sub-path can be formed as a "
              "mix of letters, numbers and the following 3 symbols .-_")
# a path (GetParametersByPath, a Path filter) that breaks the rules; the backslashes are AWS's own
# (https://github.com/aws/copilot-cli/issues/66, https://github.com/aws/aws-sdk-js-v3/issues/5928)
PATH_RULES = ('The parameter doesn\'t meet the parameter name requirements. The parameter name must begin '
              'with a forward slash "/". It can\'t be prefixed with \\"aws\\" or \\"ssm\\" (case-insensitive). '
              "It must use only letters, numbers, or the following symbols: . (period), - (hyphen), "
              '_ (underscore). Special characters are not allowed. All sub-paths, if specified, must use the '
              'forward slash symbol "/". Valid example: /get/parameters2-/by1./path0_.')


# ---- the record ------------------------------------------------------------------------------
@dataclass
class Version:
    """One version of a parameter (the current one is also kept in `ssm_parameters`)."""
    account: str
    region: str
    name: str              # canonical
    display_name: str
    arn: str
    version: int
    type: str
    value: str             # SecureString: base64 KMS ciphertext
    key_id: str | None
    description: str
    allowed_pattern: str
    tier: str
    data_type: str
    policies: str
    last_modified: float
    last_modified_user: str
    labels: list | None = None
    policy_state: str = "{}"


def canonical(name: str) -> str:
    return name if name.startswith("/") else "/" + name


def aws_name(name: str) -> str:
    """The name as AWS keeps it: a one-level name without its leading slash, a path with it."""
    key = canonical(name)
    return key[1:] if key.count("/") == 1 else key


def parent_path(name: str) -> str:
    return name.rsplit("/", 1)[0] or "/"


def parameter_arn(region: str, account: str, name: str) -> str:
    return f"arn:aws:ssm:{region}:{account}:parameter/{canonical(name)[1:]}"


def to_dt(value: float) -> datetime:
    return datetime.fromtimestamp(value, timezone.utc)


def trimmed(name: str) -> str:
    name = name.strip()
    if " " in name or "\t" in name:
        raise ValidationException(NAME_RULES)
    return name



def validate_name(call, raw: str) -> str:
    """The name PutParameter may create, or the AWS error for it."""
    name = trimmed(raw)
    if not name or not NAME_CHARS.match(name):
        raise ValidationException(NAME_RULES)
    bare = name.lstrip("/")
    if bare.lower().startswith(RESERVED):
        raise ValidationException(NAME_RULES)
    if "/" in name and not name.startswith("/"):
        raise ValidationException("Parameter name must be a fully qualified name.")
    if name.startswith("/") and ("//" in name or name.endswith("/") or name == "/"):
        raise ValidationException(NAME_RULES)
    if name.count("/") > MAX_DEPTH:
        raise HierarchyLevelLimitExceededException(
            "A hierarchy can have a maximum of 15 levels. For more information, see "
            "https://docs.aws.amazon.com/systems-manager/latest/userguide/sysman-paramstore-su-create.html")
    if len(parameter_arn(call.region, call.account, name)) > MAX_NAME_WITH_ARN:
        raise ValidationException(f"Parameter name: The parameter name with its ARN prefix must be at most "
                                  f"{MAX_NAME_WITH_ARN} characters.")
    return name


@dataclass
class Ref:
    """A parameter as a read names it: its canonical name, how it was written, and a selector."""
    account: str
    name: str
    given: str
    selector: str | None

    @property
    def written(self) -> str | None:
        """The name as the request wrote it (without a selector); None when it came as an ARN."""
        if PARAMETER_ARN.match(self.given):
            return None
        return self.given.rsplit(":", 1)[0] if self.selector is not None else self.given

    @property
    def shown_selector(self) -> str | None:
        return ":" + self.selector if self.selector is not None else None


def parse_ref(call, raw: str, *, selectors: bool = True, arns: bool = True) -> Ref:
    """A name or ARN, optionally with `:version` or `:label`, as GetParameter(s) accept it. Without
    `arns` (DeleteParameter(s), LabelParameterVersion, UnlabelParameterVersion: "You can't enter the
    Amazon Resource Name (ARN) for a parameter, only the parameter name itself",
    https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_DeleteParameter.html) an ARN
    is a name with a ':' in it, which the name rules refuse."""
    given = trimmed(raw)
    account = call.account
    text = given
    m = PARAMETER_ARN.match(given) if arns else None
    if m:
        region, account, rest = m.groups()
        if region != call.region:
            raise ParameterNotFound(None)      # as records.not_found
        text = "/" + rest if "/" in rest else rest
    selector = None
    if ":" in text:
        if not selectors:
            raise ValidationException(NAME_RULES)
        text, selector = text.rsplit(":", 1)
        if not selector:
            raise ValidationException(NAME_RULES)
    if not text or not NAME_CHARS.match(text) or "//" in text:
        raise ValidationException(NAME_RULES)
    if "/" in text and not text.startswith("/"):
        # a path must be fully qualified to be read, as to be created
        raise ValidationException(NAME_RULES)
    return Ref(account, canonical(text), given, selector)


"""Parameters: the record, AWS's name and value rules, SecureString through KMS, and the operations
PutParameter, GetParameter, GetParameters, GetParametersByPath, DeleteParameter, DeleteParameters,
DescribeParameters and GetParameterHistory.

Names are stored canonically with a leading `/` (`p` and `/p` are one parameter) and shown as they
were created. SecureString values are KMS ciphertext at rest, made through the KMS engine as the
caller (`call.kms`, so kms:ViaService is ssm and the caller needs kms:Decrypt to read them): Standard
parameters with Encrypt, Advanced ones with envelope encryption under a GenerateDataKey data key;
both bind the encryption context {"PARAMETER_ARN": arn}. Every write emits a "Parameter Store
Change" event on the event bus.
"""
from __future__ import annotations

import base64
import json
import os
import re
import struct
from dataclasses import dataclass
from datetime import datetime, timezone

import regex
import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .. import events, tagging
from ..authz import authorize
from ..errors import AccessDeniedException, AwsError, ValidationException, invalid_value
from ..registry import operation
from . import policies as policy_rules
from . import references
from .errors import (HierarchyLevelLimitExceededException, HierarchyTypeMismatchException,
                     InternalServerError, InvalidAllowedPatternException, InvalidFilterKey,
                     InvalidFilterOption, InvalidFilterValue, InvalidKeyId, InvalidNextToken,
                     ParameterAlreadyExists, ParameterLimitExceeded, ParameterMaxVersionLimitExceeded,
                     ParameterNotFound, ParameterPatternMismatchException, ParameterVersionNotFound,
                     TooManyTagsError)
from .tables import parameters as params_table
from .tables import versions as versions_table

DEFAULT_KEY = "alias/aws/ssm"
MAX_VERSIONS = 100
MAX_DEPTH = 15
MAX_NAME_WITH_ARN = 1011
MAX_TAGS = 50
VALUE_LIMITS = {"Standard": 4096, "Advanced": 8192}
# parameters per account and Region; an operator may change them (a module-level setting, like AWS's
# service quotas it applies to every account)
QUOTAS = {"Standard": 10_000, "Advanced": 100_000}
DATA_TYPES = ("text", "aws:ec2:image")
AMI_ID = re.compile(r"^ami-[0-9a-f]{8}([0-9a-f]{9})?$")
NAME_CHARS = re.compile(r"^[a-zA-Z0-9_.\-/]+$")
RESERVED = ("aws", "ssm")
PARAMETER_ARN = re.compile(r"^arn:aws[a-z-]*:ssm:([a-z0-9-]+):(\d{12}):parameter/(.+)$")

NAME_RULES = ('Parameter name: can\'t be prefixed with "aws" or "ssm" (case-insensitive). If formed as a '
              "path, it can consist of sub-paths divided by slash symbol; each sub-path can be formed as a "
              "mix of letters, numbers and the following 3 symbols .-_")


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


def parent_path(name: str) -> str:
    return name.rsplit("/", 1)[0] or "/"


def parameter_arn(region: str, account: str, name: str) -> str:
    return f"arn:aws:ssm:{region}:{account}:parameter/{canonical(name)[1:]}"


def to_dt(value: float) -> datetime:
    return datetime.fromtimestamp(value, timezone.utc)


def _trimmed(name: str) -> str:
    name = name.strip()
    if " " in name or "\t" in name:
        raise ValidationException(NAME_RULES)
    return name


def validate_name(call, raw: str) -> str:
    """The name PutParameter may create, or the AWS error for it."""
    name = _trimmed(raw)
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
    def shown_selector(self) -> str | None:
        return ":" + self.selector if self.selector is not None else None


def parse_ref(call, raw: str, *, selectors: bool = True) -> Ref:
    """A name or ARN, optionally with `:version` or `:label`, as GetParameter(s) accept it."""
    given = _trimmed(raw)
    account = call.account
    text = given
    m = PARAMETER_ARN.match(given)
    if m:
        region, account, rest = m.groups()
        if region != call.region:
            raise ParameterNotFound(f"Parameter {given} not found.")
        text = "/" + rest if "/" in rest else rest
    selector = None
    if ":" in text:
        if not selectors:
            raise ValidationException(NAME_RULES)
        text, selector = text.rsplit(":", 1)
        if not selector:
            raise ValidationException(NAME_RULES)
    if not text or not NAME_CHARS.match(text):
        raise ValidationException(NAME_RULES)
    return Ref(account, canonical(text), given, selector)


# ---- store access ----------------------------------------------------------------------------
def _where(table, account: str, region: str, name: str):
    return (table.c.account == account, table.c.region == region, table.c.name == name)


def load(conn, account: str, region: str, name: str):
    return conn.execute(params_table.select().where(*_where(params_table, account, region, name))).first()


def load_versions(conn, row) -> list:
    return conn.execute(versions_table.select().where(*_where(versions_table, row.account, row.region, row.name))
                        .order_by(versions_table.c.version)).all()


def find_version(conn, row, selector: str | None):
    """The row of the version a selector names (the current one without a selector)."""
    if selector is None:
        return row
    if selector.isdigit():
        v = conn.execute(versions_table.select().where(
            *_where(versions_table, row.account, row.region, row.name),
            versions_table.c.version == int(selector))).first()
    else:
        v = next((v for v in load_versions(conn, row) if selector in json.loads(v.labels)), None)
    if v is None:
        raise ParameterVersionNotFound(f"Systems Manager could not find version {selector} of "
                                       f"{row.display_name}. Verify the version and try again.")
    return v


def delete_parameter_rows(conn, row) -> None:
    conn.execute(versions_table.delete().where(*_where(versions_table, row.account, row.region, row.name)))
    conn.execute(params_table.delete().where(*_where(params_table, row.account, row.region, row.name)))
    tagging.delete_all(conn, row.arn)


def not_found(name: str) -> ParameterNotFound:
    return ParameterNotFound(f"Parameter {name} not found.")


def cache_key(account: str, region: str, name: str) -> tuple:
    return ("ssm-parameter", account, region, name)


def forget(call, row) -> None:
    """Drop a changed parameter from the engine cache (now and again when the write commits)."""
    call.invalidate(cache_key(row.account, row.region, row.name))


def load_current(call, account: str, region: str, name: str):
    """The parameter row for a read-only call: from the engine cache when fresh (state changed
    through another server is seen within the cache's TTL), else from the store."""
    key = cache_key(account, region, name)
    if not call.store.in_write:
        hit = call.engine.cache.get(key)
        if hit is not None:
            return hit
    with call.store.read() as conn:
        row = load(conn, account, region, name)
    if row is not None and not call.store.in_write:
        call.engine.cache.put(key, row)
    return row


def resolve(call, conn, raw: str, action: str, *, selectors: bool = True):
    """(parameter row, version row, ref) for a read, authorised for `action`; not-found raises.
    Without `conn` (read-only calls) the current row may come from the engine cache."""
    ref = parse_ref(call, raw, selectors=selectors)
    arn = parameter_arn(call.region, ref.account, ref.name)
    authorize(call, action, resource=arn, owner=ref.account)
    if conn is None:
        row = load_current(call, ref.account, call.region, ref.name)
    else:
        row = load(conn, ref.account, call.region, ref.name)
    if row is None:
        raise not_found(ref.given if ref.selector is None else ref.given.rsplit(":", 1)[0])
    if ref.selector is None:
        return row, row, ref
    if conn is None:
        with call.store.read() as c:
            return row, find_version(c, row, ref.selector), ref
    return row, find_version(conn, row, ref.selector), ref


# ---- SecureString ----------------------------------------------------------------------------
def _kms(call, op: str, params: dict) -> dict:
    """A KMS call made by Parameter Store for the caller; key problems become InvalidKeyId, a
    refusal stays AccessDenied (with KMS's message, as AWS passes it through)."""
    try:
        return call.kms(op, params)
    except AccessDeniedException:
        raise
    except AwsError as err:
        if err.status >= 500:
            raise InternalServerError(f"KMS could not complete the request ({err.code}).") from None
        raise InvalidKeyId(err.message or f"The KMS key is not valid ({err.code}).") from None


def encrypt_value(call, value: str, key_id: str, arn: str, tier: str) -> str:
    context = {"PARAMETER_ARN": arn}
    if tier == "Standard":
        blob = _kms(call, "Encrypt", {"KeyId": key_id, "Plaintext": value.encode(),
                                      "EncryptionContext": context})["CiphertextBlob"]
        return base64.b64encode(blob).decode()
    # Advanced values (up to 8 KB) use envelope encryption: a data key from KMS seals the value
    dk = _kms(call, "GenerateDataKey", {"KeyId": key_id, "KeySpec": "AES_256", "EncryptionContext": context})
    nonce = os.urandom(12)
    sealed = AESGCM(dk["Plaintext"]).encrypt(nonce, value.encode(), arn.encode())
    edk = dk["CiphertextBlob"]
    return base64.b64encode(struct.pack(">H", len(edk)) + edk + nonce + sealed).decode()


def decrypt_value(call, version) -> str:
    blob = base64.b64decode(version.value)
    arn = parameter_arn(version.region, version.account, version.name)
    context = {"PARAMETER_ARN": arn}
    if version.tier == "Standard":
        return _kms(call, "Decrypt", {"CiphertextBlob": blob, "EncryptionContext": context})["Plaintext"].decode()
    (n,) = struct.unpack(">H", blob[:2])
    edk, nonce, sealed = blob[2:2 + n], blob[2 + n:14 + n], blob[14 + n:]
    data_key = _kms(call, "Decrypt", {"CiphertextBlob": edk, "EncryptionContext": context})["Plaintext"]
    try:
        return AESGCM(data_key).decrypt(nonce, sealed, arn.encode()).decode()
    except InvalidTag:
        raise InternalServerError("The parameter value could not be decrypted.") from None


def shown_value(call, version, with_decryption: bool) -> str:
    if version.type == "SecureString" and with_decryption:
        return decrypt_value(call, version)
    return version.value


def parameter_shape(call, row, version, with_decryption: bool, selector: str | None = None) -> dict:
    out = {"Name": row.display_name, "Type": version.type,
           "Value": shown_value(call, version, with_decryption), "Version": version.version,
           "LastModifiedDate": to_dt(version.last_modified), "ARN": row.arn, "DataType": version.data_type}
    if selector is not None:
        out["Selector"] = selector
    return out


# ---- events ----------------------------------------------------------------------------------
def emit_change(call, conn, row, operation: str) -> None:
    events.emit(call.engine, conn, policy_rules.change_event(row, operation, call.now), call.now)


# ---- PutParameter ----------------------------------------------------------------------------
def _validate_tags(tags: list[dict]) -> dict[str, str]:
    out = {t["Key"]: t["Value"] for t in tags}
    if len(out) > MAX_TAGS:
        raise TooManyTagsError("The Targets parameter includes too many tags. Remove one or more tags and try "
                               "the command again.")
    return out


def _count(conn, account: str, region: str, tier: str) -> int:
    return conn.execute(sa.select(sa.func.count()).select_from(params_table).where(
        params_table.c.account == account, params_table.c.region == region, params_table.c.tier == tier)).scalar()


def _limit_exceeded() -> ParameterLimitExceeded:
    return ParameterLimitExceeded("You have exceeded the number of parameters for this AWS account. Delete one "
                                  "or more parameters and try again.")


@operation("ssm", "PutParameter")
def put_parameter(call, p):
    name = validate_name(call, p["Name"])
    key = canonical(name)
    arn = parameter_arn(call.region, call.account, name)
    tags = _validate_tags(p["Tags"]) if p.get("Tags") else {}
    authorize(call, "ssm:PutParameter", resource=arn,
              context={"aws:TagKeys": list(tags), **{f"aws:RequestTag/{k}": v for k, v in tags.items()}}
              if tags else None)
    overwrite = bool(p.get("Overwrite"))
    if tags and overwrite:
        raise ValidationException("Invalid request: tags and overwrite can't be used together. To create a "
                                  "parameter with tags, please remove overwrite flag. To update tags for an "
                                  "existing parameter, please use AddTagsToResource or RemoveTagsFromResource.")
    value = p["Value"]
    if value == "":
        raise invalid_value("", "value", "Member must have length greater than or equal to 1")
    if "{{" in value and "}}" in value:
        raise ValidationException('Parameter value can\'t nest another parameter. Do not use "{{}}" in the value.')
    with call.store.write() as conn:
        cur = load(conn, call.account, call.region, key)
        if cur is not None and not overwrite:
            raise ParameterAlreadyExists("The parameter already exists. To overwrite this value, set the "
                                         "overwrite option in the request to true.")
        type_ = p.get("Type") or (cur.type if cur else None)
        if type_ is None:
            raise ValidationException("A parameter type is required when you create a parameter.")
        if cur is not None and type_ != cur.type:
            raise HierarchyTypeMismatchException(
                "The parameter type can't be changed. To change the type, delete the parameter and create a "
                "new one with the type you want.")
        key_id = p.get("KeyId")
        if key_id and type_ != "SecureString":
            raise ValidationException("KeyId is required for SecureString type parameter only.")
        if type_ == "SecureString":
            key_id = key_id or (cur.key_id if cur is not None else None) or DEFAULT_KEY
        description = p["Description"] if "Description" in p else (cur.description if cur else "")
        pattern = p["AllowedPattern"] if "AllowedPattern" in p else (cur.allowed_pattern if cur else "")
        data_type = p.get("DataType") or (cur.data_type if cur else "text")
        if data_type not in DATA_TYPES:
            raise ValidationException(f"The following data type is not supported: {data_type} "
                                      "(Data type names are all lowercase.)")
        if data_type == "aws:ec2:image":
            if type_ != "String":
                raise ValidationException("The aws:ec2:image data type is supported only for String parameters.")
            if not AMI_ID.match(value):
                raise ValidationException(f"Parameter value, {value}, is not a valid AMI ID format "
                                          "(ami-12345678 or ami-1234567890abcdef0).")
        if pattern:
            try:
                compiled = regex.compile(pattern)
            except regex.error as exc:
                raise InvalidAllowedPatternException(f"The allowed pattern {pattern} is not valid: {exc}.") from None
            if not compiled.fullmatch(value):
                raise ParameterPatternMismatchException(
                    f"Parameter value, cannot be validated against allowedPattern: {pattern}")
        # policies: new ones replace all; an update without Policies keeps them
        if "Policies" in p:
            policies = policy_rules.parse(p["Policies"])
            policy_state = "{}"
        else:
            policies = json.loads(cur.policies) if cur else []
            policy_state = cur.policy_state if cur else "{}"
        tier = _tier(conn, call, p, cur, value, policies)
        if policies and tier != "Advanced":
            raise ValidationException("Parameter policies are supported only for the advanced-parameter tier. "
                                      "Specify Tier Advanced or Intelligent-Tiering.")
        version = cur.version + 1 if cur else 1
        if cur is not None:
            _make_room(conn, cur)
        stored = encrypt_value(call, value, key_id, arn, tier) if type_ == "SecureString" else value
        now = call.now.timestamp()
        policy_text = json.dumps(policies)
        record = dict(version=version, type=type_, value=stored, key_id=key_id, description=description,
                      allowed_pattern=pattern, tier=tier, data_type=data_type, policies=policy_text,
                      last_modified=now, last_modified_user=call.principal.arn)
        next_at = policy_rules.next_due(policies, json.loads(policy_state), now) if policies else None
        if cur is None:
            conn.execute(params_table.insert().values(
                account=call.account, region=call.region, name=key, display_name=name,
                parent_path=parent_path(key), arn=arn, policy_state=policy_state, next_policy_at=next_at, **record))
        else:
            conn.execute(params_table.update().where(*_where(params_table, call.account, call.region, key))
                         .values(policy_state=policy_state, next_policy_at=next_at, **record))
        conn.execute(versions_table.insert().values(account=call.account, region=call.region, name=key,
                                                    labels="[]", **record))
        if tags:
            tagging.set_tags(conn, arn, tags)
        call.invalidate(cache_key(call.account, call.region, key))
        emit_change(call, conn, load(conn, call.account, call.region, key), "Update" if cur else "Create")
    call.resource(arn, "AWS::SSM::Parameter")
    return {"Version": version, "Tier": tier}


def default_tier(call) -> str:
    from .settings import DEFAULT_TIER, value
    return value(call, DEFAULT_TIER)


def _tier(conn, call, p, cur, value: str, policies: list) -> str:
    asked = p.get("Tier") or (cur.tier if cur else default_tier(call))
    size = len(value.encode())
    if asked == "Intelligent-Tiering":
        needs_advanced = (size > VALUE_LIMITS["Standard"] or bool(policies)
                          or (cur is not None and cur.tier == "Advanced")
                          or (cur is None and _count(conn, call.account, call.region, "Standard") >= QUOTAS["Standard"]))
        tier = "Advanced" if needs_advanced else "Standard"
    else:
        tier = asked
    if cur is not None and cur.tier == "Advanced" and tier == "Standard":
        raise ValidationException(
            "This parameter uses the advanced-parameter tier. You can't downgrade a parameter from the "
            "advanced-parameter tier to the standard-parameter tier. If necessary, you can delete the advanced "
            "parameter and recreate it as a standard parameter.")
    if size > VALUE_LIMITS[tier]:
        if tier == "Standard":
            raise ValidationException(
                "Standard tier parameters support a maximum parameter value of 4096 characters. To create a "
                "larger parameter value, upgrade the parameter to use the advanced-parameter tier. For more "
                "information, see https://docs.aws.amazon.com/systems-manager/latest/userguide/"
                "parameter-store-advanced-parameters.html")
        raise ValidationException("Advanced tier parameters support a maximum parameter value of 8192 characters.")
    if (cur is None or cur.tier != tier) and _count(conn, call.account, call.region, tier) >= QUOTAS[tier]:
        raise _limit_exceeded()
    return tier


def _make_room(conn, cur) -> None:
    """Keep at most 100 versions: drop the oldest, unless a label holds it."""
    where = _where(versions_table, cur.account, cur.region, cur.name)
    count = conn.execute(sa.select(sa.func.count()).select_from(versions_table).where(*where)).scalar()
    if count < MAX_VERSIONS:
        return
    oldest = conn.execute(versions_table.select().where(*where).order_by(versions_table.c.version).limit(1)).first()
    if json.loads(oldest.labels):
        raise ParameterMaxVersionLimitExceeded(
            f"You attempted to create a new version of {cur.display_name} by calling the PutParameter API with "
            f"the overwrite flag. Version {oldest.version}, the oldest version, can't be deleted because it has "
            "a label associated with it. Move the label to another version of the parameter, and try again.")
    conn.execute(versions_table.delete().where(*where, versions_table.c.version == oldest.version))


# ---- reads -----------------------------------------------------------------------------------
@operation("ssm", "GetParameter", readonly=True)
def get_parameter(call, p):
    with_decryption = bool(p.get("WithDecryption"))
    hit = references.lookup(call, p["Name"], with_decryption)
    if hit is not None:
        return {"Parameter": hit}
    row, version, ref = resolve(call, None, p["Name"], "ssm:GetParameter")
    call.resource(row.arn, "AWS::SSM::Parameter")
    return {"Parameter": parameter_shape(call, row, version, with_decryption, ref.shown_selector)}


@operation("ssm", "GetParameters", readonly=True)
def get_parameters(call, p):
    with_decryption = bool(p.get("WithDecryption"))
    found, invalid, seen = [], [], set()
    for raw in p["Names"]:
        if raw in seen:
            continue
        seen.add(raw)
        try:
            hit = references.lookup(call, raw, with_decryption)
            if hit is not None:
                found.append(hit)
                continue
            row, version, ref = resolve(call, None, raw, "ssm:GetParameters")
        except (ParameterNotFound, ParameterVersionNotFound, ValidationException):
            invalid.append(raw)
            continue
        found.append(parameter_shape(call, row, version, with_decryption, ref.shown_selector))
        call.resource(row.arn, "AWS::SSM::Parameter")
    found.sort(key=lambda x: x["Name"])
    return {"Parameters": found, "InvalidParameters": invalid}


# ---- paging ----------------------------------------------------------------------------------
def encode_token(query: str, after: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"q": query, "a": after}).encode()).decode()


def decode_token(token: str | None, query: str) -> str | None:
    if not token:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        if data["q"] != query:
            raise ValueError
        return data["a"]
    except Exception:  # noqa: BLE001 - any damage means "not ours"
        raise InvalidNextToken("The specified token isn't valid.") from None


def _filters(raw: list[dict] | None, allowed: dict[str, tuple]) -> list[tuple[str, str, list]]:
    """ParameterFilters as (key, option, values), each checked against `allowed` {key: options}."""
    out = []
    for f in raw or []:
        k = f["Key"]
        base = "tag" if k.startswith("tag:") else k
        if base not in allowed:
            raise InvalidFilterKey(f"The following filter key is not valid: {k}. Valid filter keys include: "
                                   + ", ".join(allowed) + ".")
        option = f.get("Option") or ("OneLevel" if k == "Path" else "Equals")
        if option not in allowed[base]:
            raise InvalidFilterOption(f"The following filter option is not valid: {option}. Valid options "
                                      f"include: {', '.join(allowed[base])}.")
        values = f.get("Values") or []
        if not values and base != "tag":
            raise InvalidFilterValue(f"The following filter values are missing: null for filter key {k}.")
        if k in ("Type",) and any(v not in ("String", "StringList", "SecureString") for v in values):
            raise InvalidFilterValue("The following filter value is not valid: "
                                     + ", ".join(v for v in values if v not in ("String", "StringList", "SecureString"))
                                     + ". Valid values include: String, StringList, SecureString.")
        if k == "Tier" and any(v not in ("Standard", "Advanced") for v in values):
            raise InvalidFilterValue("The following filter value is not valid for Tier: " + ", ".join(values) + ".")
        out.append((k, option, values))
    return out


def _column_condition(column, option: str, values: list):
    if option == "Equals":
        return column.in_(values)
    if option == "BeginsWith":
        return sa.or_(*[column.startswith(v, autoescape=True) for v in values])
    return sa.or_(*[column.contains(v, autoescape=True) for v in values])


def _path_condition(path: str, recursive: bool):
    """Rows under `path`: a range on the name (recursive) or the parent_path index (one level)."""
    if recursive:
        if path == "/":
            return params_table.c.name >= "/"
        # "/" sorts just below "0": [path + "/", path + "0") holds exactly the names below path
        return sa.and_(params_table.c.name >= path + "/", params_table.c.name < path + "0")
    return params_table.c.parent_path == path


def _normal_path(raw: str) -> str:
    path = raw.strip()
    if not path.startswith("/"):
        raise ValidationException('The parameter doesn\'t meet the parameter name requirements. The parameter name '
                                  'must begin with a forward slash "/".')
    path = path.rstrip("/") or "/"
    if path != "/" and (not NAME_CHARS.match(path) or "//" in path):
        raise ValidationException(NAME_RULES)
    if path.count("/") > MAX_DEPTH:
        raise HierarchyLevelLimitExceededException("A hierarchy can have a maximum of 15 levels.")
    return path


def page_rows(conn, account: str, region: str, conds: list, after: str | None, fetch: int, *,
              one_level: bool = False) -> list:
    """Up to `fetch` of the account's parameter rows in `region` matching `conds`, in name order,
    after the name `after`."""
    where = [params_table.c.account == account, params_table.c.region == region, *conds]
    if after:
        where.append(params_table.c.name > after)
    if one_level:
        # names first from the covering (account, region, parent_path, name) index, then the rows by
        # primary key: left to itself SQLite walks the primary key to save a sort and reads the store
        names = [r[0] for r in conn.execute(sa.select(params_table.c.name).where(*where)
                                            .order_by(params_table.c.name).limit(fetch))]
        if not names:
            return []
        where = [params_table.c.account == account, params_table.c.region == region, params_table.c.name.in_(names)]
    return conn.execute(params_table.select().where(*where).order_by(params_table.c.name).limit(fetch)).all()


BY_PATH_FILTERS = {"Type": ("Equals", "BeginsWith"), "KeyId": ("Equals", "BeginsWith"), "Label": ("Equals",)}
SCAN_BUDGET = 200   # rows a filtered page may look at before it returns what it has with a NextToken


@operation("ssm", "GetParametersByPath", readonly=True)
def get_parameters_by_path(call, p):
    path = _normal_path(p["Path"])
    recursive = bool(p.get("Recursive"))
    with_decryption = bool(p.get("WithDecryption"))
    filters = _filters(p.get("ParameterFilters"), BY_PATH_FILTERS)
    # authorised on the path, not on each parameter (as AWS does)
    path_arn = parameter_arn(call.region, call.account, path) if path != "/" else \
        f"arn:aws:ssm:{call.region}:{call.account}:parameter/"
    authorize(call, "ssm:GetParametersByPath", resource=path_arn)
    limit = p.get("MaxResults") or 10
    query = json.dumps([path, recursive, p.get("ParameterFilters") or []], sort_keys=True)
    after = decode_token(p.get("NextToken"), query)
    conds = [_path_condition(path, recursive)]
    labels = []
    for k, option, values in filters:
        if k == "Type":
            conds.append(_column_condition(params_table.c.type, option, values))
        elif k == "KeyId":
            conds.append(_column_condition(params_table.c.key_id, option, values))
        else:
            labels.extend(values)
    page, last, more = [], None, False
    fetch = limit + 1 if not labels else SCAN_BUDGET + 1
    with call.store.read() as conn:
        rows = page_rows(conn, call.account, call.region, conds, after, fetch, one_level=not recursive)
        more = len(rows) == fetch
        rows = rows[:fetch - 1]
        for row in rows:
            version = row
            if labels:
                version = next((v for v in load_versions(conn, row) if set(json.loads(v.labels)) & set(labels)), None)
            last = row.name
            if version is not None:
                page.append((row, version))
            if len(page) == limit:
                more = more or row is not rows[-1]
                break
    out = {"Parameters": [parameter_shape(call, row, v, with_decryption) for row, v in page]}
    if more and last is not None:
        out["NextToken"] = encode_token(query, last)
    return out


# ---- deletes ---------------------------------------------------------------------------------
@operation("ssm", "DeleteParameter")
def delete_parameter(call, p):
    with call.store.write() as conn:
        row, _, _ = resolve(call, conn, p["Name"], "ssm:DeleteParameter", selectors=False)
        emit_change(call, conn, row, "Delete")
        delete_parameter_rows(conn, row)
        forget(call, row)
    call.resource(row.arn, "AWS::SSM::Parameter")
    return {}


@operation("ssm", "DeleteParameters")
def delete_parameters(call, p):
    deleted, invalid = [], []
    with call.store.write() as conn:
        for raw in dict.fromkeys(p["Names"]):
            try:
                row, _, _ = resolve(call, conn, raw, "ssm:DeleteParameters", selectors=False)
            except (ParameterNotFound, ValidationException):
                invalid.append(raw)
                continue
            emit_change(call, conn, row, "Delete")
            delete_parameter_rows(conn, row)
            forget(call, row)
            call.resource(row.arn, "AWS::SSM::Parameter")
            deleted.append(raw)
    return {"DeletedParameters": deleted, "InvalidParameters": invalid}


# ---- DescribeParameters ----------------------------------------------------------------------
DESCRIBE_FILTERS = {"Name": ("Equals", "BeginsWith", "Contains"), "Type": ("Equals", "BeginsWith"),
                    "KeyId": ("Equals", "BeginsWith"), "Path": ("Recursive", "OneLevel"),
                    "Tier": ("Equals", "BeginsWith"), "DataType": ("Equals",), "tag": ("Equals", "BeginsWith")}
LEGACY_FILTERS = {"Name": "Name", "Type": "Type", "KeyId": "KeyId"}


def metadata_shape(row) -> dict:
    policies = json.loads(row.policies)
    out = {"Name": row.display_name, "ARN": row.arn, "Type": row.type,
           "LastModifiedDate": to_dt(row.last_modified), "LastModifiedUser": row.last_modified_user,
           "Version": row.version, "Tier": row.tier, "DataType": row.data_type,
           "Policies": policy_rules.described(policies, json.loads(row.policy_state), row.last_modified)}
    if row.key_id:
        out["KeyId"] = row.key_id
    if row.description:
        out["Description"] = row.description
    if row.allowed_pattern:
        out["AllowedPattern"] = row.allowed_pattern
    return out


@operation("ssm", "DescribeParameters", readonly=True)
def describe_parameters(call, p):
    authorize(call, "ssm:DescribeParameters", resource=f"arn:aws:ssm:{call.region}:{call.account}:*")
    if p.get("Filters") and p.get("ParameterFilters"):
        raise ValidationException("You can use either Filters or ParameterFilters in a single request.")
    if p.get("Shared"):
        return {"Parameters": []}     # sharing (RAM) is not offered: nothing is shared with anyone
    raw = p.get("ParameterFilters")
    if p.get("Filters"):
        raw = []
        for f in p["Filters"]:
            if f["Key"] not in LEGACY_FILTERS:
                raise InvalidFilterKey(f"The following filter key is not valid: {f['Key']}.")
            raw.append({"Key": f["Key"], "Option": "BeginsWith" if f["Key"] == "Name" else "Equals",
                        "Values": f["Values"]})
    filters = _filters(raw, DESCRIBE_FILTERS)
    limit = p.get("MaxResults") or 10
    query = json.dumps(raw or [], sort_keys=True)
    after = decode_token(p.get("NextToken"), query)
    conds = []
    tag_filters = []
    for k, option, values in filters:
        if k == "Name":
            names = [canonical(v) for v in values]
            if option == "Contains":
                conds.append(_column_condition(params_table.c.name, option, values))
            else:
                conds.append(sa.or_(_column_condition(params_table.c.name, option, names),
                                    _column_condition(params_table.c.display_name, option, values)))
        elif k == "Path":
            conds.append(sa.or_(*[_path_condition(_normal_path(v), option == "Recursive") for v in values]))
        elif k in ("Type", "Tier", "DataType", "KeyId"):
            column = {"Type": params_table.c.type, "Tier": params_table.c.tier,
                      "DataType": params_table.c.data_type, "KeyId": params_table.c.key_id}[k]
            conds.append(_column_condition(column, option, values))
        else:
            tag_filters.append((k[4:], option, values))
    page, last, more = [], None, False
    fetch = limit + 1 if not tag_filters else SCAN_BUDGET + 1
    with call.store.read() as conn:
        rows = page_rows(conn, call.account, call.region, conds, after, fetch)
        more = len(rows) == fetch
        rows = rows[:fetch - 1]
        for row in rows:
            last = row.name
            if tag_filters and not _tags_match(tagging.get_tags(conn, row.arn), tag_filters):
                continue
            page.append(row)
            if len(page) == limit:
                more = more or row is not rows[-1]
                break
    out = {"Parameters": [metadata_shape(r) for r in page]}
    if more and last is not None:
        out["NextToken"] = encode_token(query, last)
    return out


def _tags_match(tags: dict, filters) -> bool:
    for key, option, values in filters:
        if key not in tags:
            return False
        if values and not any(tags[key] == v if option == "Equals" else tags[key].startswith(v) for v in values):
            return False
    return True


# ---- GetParameterHistory ---------------------------------------------------------------------
@operation("ssm", "GetParameterHistory", readonly=True)
def get_parameter_history(call, p):
    with_decryption = bool(p.get("WithDecryption"))
    limit = p.get("MaxResults") or 50
    with call.store.read() as conn:
        row, _, _ = resolve(call, conn, p["Name"], "ssm:GetParameterHistory", selectors=False)
        after = decode_token(p.get("NextToken"), row.name)
        where = list(_where(versions_table, row.account, row.region, row.name))
        if after is not None:
            where.append(versions_table.c.version > int(after))
        versions = conn.execute(versions_table.select().where(*where).order_by(versions_table.c.version)
                                .limit(limit + 1)).all()
    more = len(versions) > limit
    versions = versions[:limit]
    items = []
    for v in versions:
        item = {"Name": row.display_name, "Type": v.type, "LastModifiedDate": to_dt(v.last_modified),
                "LastModifiedUser": v.last_modified_user, "Value": shown_value(call, v, with_decryption),
                "Version": v.version, "Labels": json.loads(v.labels), "Tier": v.tier, "DataType": v.data_type,
                "Policies": policy_rules.described(
                    json.loads(v.policies),
                    json.loads(row.policy_state) if v.version == row.version else {}, v.last_modified)}
        if v.key_id:
            item["KeyId"] = v.key_id
        if v.description:
            item["Description"] = v.description
        if v.allowed_pattern:
            item["AllowedPattern"] = v.allowed_pattern
        items.append(item)
    call.resource(row.arn, "AWS::SSM::Parameter")
    out = {"Parameters": items}
    if more:
        out["NextToken"] = encode_token(row.name, str(versions[-1].version))
    return out

"""The paged reads: GetParametersByPath, DescribeParameters and GetParameterHistory, with the
ParameterFilters they share and their NextToken."""
from __future__ import annotations

import base64
import json

import sqlalchemy as sa

from .. import tagging
from ..authz import authorize
from ..errors import ValidationException
from ..registry import operation
from . import policies as policy_rules
from . import public
from .errors import (HierarchyLevelLimitExceededException, InvalidFilterKey, InvalidFilterOption,
                     InvalidFilterValue, InvalidNextToken)
from .names import MAX_DEPTH, NAME_CHARS, PATH_RULES, RESERVED, aws_name, canonical, parameter_arn, to_dt
from .records import load_versions, parameter_shape, parameter_where, resolve
from .securestring import shown_value
from .tables import parameters as params_table
from .tables import versions as versions_table


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
    out, seen = [], set()
    for f in raw or []:
        k = f["Key"]
        if k in seen:
            # AWS refuses a repeated key; its code and wording are not published, these are keyplane's
            raise InvalidFilterKey(f"The filter key {k} appears more than once in the request. Each filter "
                                   "key can be used once per request.")
        seen.add(k)
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
        # an Equals value outside the enumeration is refused (a BeginsWith prefix may be partial)
        if k == "Type" and option == "Equals" and any(v not in ("String", "StringList", "SecureString")
                                                      for v in values):
            raise InvalidFilterValue("The following filter value is not valid: "
                                     + ", ".join(v for v in values if v not in ("String", "StringList", "SecureString"))
                                     + ". Valid values include: String, StringList, SecureString.")
        if k == "Tier" and option == "Equals" and any(v not in ("Standard", "Advanced") for v in values):
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
    """A hierarchy as GetParametersByPath and the Path filter take it (a trailing slash is allowed)."""
    path = raw.strip()
    if not path.startswith("/") or not NAME_CHARS.match(path) or "//" in path:
        raise ValidationException(PATH_RULES)
    path = path.rstrip("/") or "/"
    if path.count("/") > MAX_DEPTH:
        raise HierarchyLevelLimitExceededException("A hierarchy can have a maximum of 15 levels.")
    return path


def _account_path(raw: str) -> str:
    """A Path filter value of DescribeParameters, which lists only the account's own parameters: a
    path under the reserved /aws or /ssm is refused (AWS's wording for this is not published)."""
    path = _normal_path(raw)
    if path.lstrip("/").lower().startswith(RESERVED):
        raise InvalidFilterValue('The Path filter value can\'t be prefixed with "aws" or "ssm" (case-insensitive): '
                                 f"{raw.strip()}.")
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
    if public.covers(path):
        path_arn = public.arn(call.region, path)
    elif path == "/":
        path_arn = f"arn:aws:ssm:{call.region}:{call.account}:parameter/"
    else:
        path_arn = parameter_arn(call.region, call.account, path)
    authorize(call, "ssm:GetParametersByPath", resource=path_arn)
    limit = p.get("MaxResults") or 10
    query = json.dumps([path, recursive, p.get("ParameterFilters") or []], sort_keys=True)
    after = decode_token(p.get("NextToken"), query)
    if public.covers(path):
        return _public_page(call, path, recursive, filters, after, limit, query)
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




def _public_page(call, path: str, recursive: bool, filters, after: str | None, limit: int, query: str) -> dict:
    """GetParametersByPath under /aws: AWS's public parameters (all of Type String, with no key and
    no labels, so a KeyId or Label filter matches none)."""
    for k, option, values in filters:
        if k != "Type" or not any("String" == v if option == "Equals" else "String".startswith(v) for v in values):
            return {"Parameters": []}
    names = public.under(path, recursive, after, limit + 1)
    out = {"Parameters": [public.shape(call.region, n) for n in names[:limit]]}
    if len(names) > limit:
        out["NextToken"] = encode_token(query, names[limit - 1])
    return out

# ---- DescribeParameters ----------------------------------------------------------------------
DESCRIBE_FILTERS = {"Name": ("Equals", "BeginsWith", "Contains"), "Type": ("Equals", "BeginsWith"),
                    "KeyId": ("Equals", "BeginsWith"), "Path": ("Recursive", "OneLevel"),
                    "Tier": ("Equals", "BeginsWith"), "DataType": ("Equals", "BeginsWith"),
                    "tag": ("Equals", "BeginsWith")}
LEGACY_FILTERS = {"Name": "Name", "Type": "Type", "KeyId": "KeyId"}


def metadata_shape(row) -> dict:
    policies = json.loads(row.policies)
    out = {"Name": aws_name(row.name), "ARN": row.arn, "Type": row.type,
           "LastModifiedDate": to_dt(row.last_modified), "LastModifiedUser": row.last_modified_user,
           "Version": row.version, "Tier": row.tier, "DataType": row.data_type,
           "Policies": policy_rules.described(policies, json.loads(row.policy_state), row.last_modified)}
    out.update(_optional_members(row))
    return out


def _optional_members(version) -> dict:
    """The members a parameter (or one of its versions) has only when set: KeyId, Description,
    AllowedPattern, in that order (DescribeParameters and GetParameterHistory alike)."""
    return {member: value for member, value in (("KeyId", version.key_id), ("Description", version.description),
                                                ("AllowedPattern", version.allowed_pattern)) if value}


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
            conds.append(sa.or_(*[_path_condition(_account_path(v), option == "Recursive") for v in values]))
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
        where = list(parameter_where(versions_table, row.account, row.region, row.name))
        if after is not None:
            where.append(versions_table.c.version > int(after))
        versions = conn.execute(versions_table.select().where(*where).order_by(versions_table.c.version)
                                .limit(limit + 1)).all()
    more = len(versions) > limit
    versions = versions[:limit]
    items = []
    for v in versions:
        item = {"Name": aws_name(row.name), "Type": v.type, "LastModifiedDate": to_dt(v.last_modified),
                "LastModifiedUser": v.last_modified_user, "Value": shown_value(call, v, with_decryption),
                "Version": v.version, "Labels": json.loads(v.labels), "Tier": v.tier, "DataType": v.data_type,
                "Policies": policy_rules.described(
                    json.loads(v.policies),
                    json.loads(row.policy_state) if v.version == row.version else {}, v.last_modified)}
        item.update(_optional_members(v))
        items.append(item)
    call.resource(row.arn, "AWS::SSM::Parameter")
    out = {"Parameters": items}
    if more:
        out["NextToken"] = encode_token(row.name, str(versions[-1].version))
    return out

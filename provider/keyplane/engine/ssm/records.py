"""A parameter's rows: loading (through the engine cache for reads), resolving a read to a version,
deleting, the change event every write emits, and the `Parameter` shape reads answer with."""
from __future__ import annotations

import json

from .. import events, tagging
from ..authz import authorize
from . import policies as policy_rules
from .errors import ParameterNotFound, ParameterVersionNotFound
from .names import aws_name, parameter_arn, parse_ref, to_dt
from .securestring import shown_value
from .tables import parameters as params_table
from .tables import versions as versions_table


def parameter_where(table, account: str, region: str, name: str):
    return (table.c.account == account, table.c.region == region, table.c.name == name)


def load(conn, account: str, region: str, name: str):
    return conn.execute(params_table.select().where(*parameter_where(params_table, account, region, name))).first()


def load_versions(conn, row) -> list:
    return conn.execute(versions_table.select()
                        .where(*parameter_where(versions_table, row.account, row.region, row.name))
                        .order_by(versions_table.c.version)).all()


def version_not_found(name: str, version) -> ParameterVersionNotFound:
    return ParameterVersionNotFound(f"Systems Manager could not find version {version} of {name}. "
                                    "Verify the version and try again.")


def find_version(conn, row, selector: str | None, name: str | None = None):
    """The row of the version a selector names (the current one without a selector); `name` is the
    parameter as the request named it, for the error."""
    if selector is None:
        return row
    if selector.isdigit():
        v = conn.execute(versions_table.select().where(
            *parameter_where(versions_table, row.account, row.region, row.name),
            versions_table.c.version == int(selector))).first()
    else:
        v = next((v for v in load_versions(conn, row) if selector in json.loads(v.labels)), None)
    if v is None:
        raise version_not_found(name or aws_name(row.name), selector)
    return v


def delete_parameter_rows(conn, row) -> None:
    conn.execute(versions_table.delete().where(*parameter_where(versions_table, row.account, row.region, row.name)))
    conn.execute(params_table.delete().where(*parameter_where(params_table, row.account, row.region, row.name)))
    tagging.delete_all(conn, row.arn)


def not_found(name: str) -> ParameterNotFound:
    """AWS answers a missing parameter with the code alone, no message (botocore shows "An error
    occurred (ParameterNotFound) when calling the GetParameter operation: ", the JavaScript SDK
    message null): https://github.com/awslabs/aws-simple-cicd/issues/10,
    https://github.com/vandium-io/aws-param-store/pull/8, https://github.com/mattclay/aws-terminator/issues/113."""
    return ParameterNotFound(None)


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


def resolve(call, conn, raw: str, action: str, *, selectors: bool = True, arns: bool = True):
    """(parameter row, version row, ref) for a read, authorised for `action`; not-found raises.
    Without `conn` (read-only calls) the current row may come from the engine cache."""
    ref = parse_ref(call, raw, selectors=selectors, arns=arns)
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
            return row, find_version(c, row, ref.selector, ref.written), ref
    return row, find_version(conn, row, ref.selector, ref.written), ref


def parameter_shape(call, row, version, with_decryption: bool, selector: str | None = None,
                    name: str | None = None) -> dict:
    """A `Parameter`: named as the request wrote it when one did (GetParameter/GetParameters echo it),
    else as AWS keeps the name."""
    out = {"Name": name or aws_name(row.name), "Type": version.type,
           "Value": shown_value(call, version, with_decryption), "Version": version.version,
           "LastModifiedDate": to_dt(version.last_modified), "ARN": row.arn, "DataType": version.data_type}
    if selector is not None:
        out["Selector"] = selector
    return out


# ---- events ----------------------------------------------------------------------------------
def emit_change(call, conn, row, operation: str) -> None:
    events.emit(call.engine, conn, policy_rules.change_event(row, operation, call.now), call.now)


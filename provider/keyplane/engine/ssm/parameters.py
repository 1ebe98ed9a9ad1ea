"""Parameters: PutParameter (AWS's value, type, tier and quota rules), GetParameter, GetParameters,
DeleteParameter and DeleteParameters.

The name rules live in `names.py`, the rows in `records.py`, SecureString in `securestring.py`, the
paged reads in `listing.py`. Every write emits a "Parameter Store Change" event on the event bus.
"""
from __future__ import annotations

import json

import sqlalchemy as sa

from .. import events, patterns, tagging
from ..authz import authorize
from ..errors import ValidationException, invalid_value
from ..registry import operation
from . import policies as policy_rules
from . import datatypes, public, references
from .errors import (InvalidAllowedPatternException, ParameterAlreadyExists,
                     ParameterLimitExceeded, ParameterMaxVersionLimitExceeded, ParameterNotFound,
                     ParameterPatternMismatchException, ParameterVersionNotFound, TooManyTagsError)
from .names import canonical, parameter_arn, parent_path, validate_name
from .records import (cache_key, delete_parameter_rows, emit_change, forget, load, not_found, parameter_shape,
                      parameter_where, resolve)
from .securestring import encrypt_value
from .tables import parameters as params_table
from .tables import versions as versions_table

DEFAULT_KEY = "alias/aws/ssm"
MAX_VERSIONS = 100
MAX_TAGS = 50
VALUE_LIMITS = {"Standard": 4096, "Advanced": 8192}
# parameters per account and Region; an operator may change them (a module-level setting, like AWS's
# service quotas it applies to every account)
QUOTAS = {"Standard": 10_000, "Advanced": 100_000}


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


def _limit_exceeded(tier: str) -> ParameterLimitExceeded:
    if tier == "Standard":
        # AWS's answer, as quoted in https://github.com/hashicorp/terraform-provider-aws/issues/18521
        return ParameterLimitExceeded(
            f"You have reached the maximum number of standard parameters for this AWS account and Region "
            f"({QUOTAS['Standard']}). To add more parameters, either delete existing parameters or upgrade to the "
            "advanced-parameter tier (charges apply).")
    # the advanced tier's wording is not published; this is the model's description of the error
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
        # an overwrite may change the type (String <-> SecureString): Terraform's aws_ssm_parameter
        # updates `type` in place, its acceptance test TestAccSSMParameter_updateType runs on AWS
        type_ = p.get("Type") or (cur.type if cur else None)
        if type_ is None:
            raise ValidationException("A parameter type is required when you create a parameter.")
        key_id = p.get("KeyId")
        if key_id and type_ != "SecureString":
            raise ValidationException("KeyId is required for SecureString type parameter only.")
        if type_ == "SecureString":
            key_id = key_id or (cur.key_id if cur is not None else None) or DEFAULT_KEY
        if type_ == "StringList":
            # "If type is StringList, the system returns a comma-separated string with no spaces between
            # commas in the Value field" (https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_Parameter.html)
            value = ",".join(item.strip() for item in value.split(","))
        description = p["Description"] if "Description" in p else (cur.description if cur else "")
        pattern = p["AllowedPattern"] if "AllowedPattern" in p else (cur.allowed_pattern if cur else "")
        data_type = p.get("DataType") or (cur.data_type if cur else "text")
        if data_type not in datatypes.CHECKS:
            raise ValidationException(f"The following data type is not supported: {data_type} "
                                      "(Data type names are all lowercase.)")
        if cur is not None and data_type != cur.data_type and {data_type, cur.data_type} & datatypes.FIXED:
            # "You can't change a parameter to or from either of these data types" (wording not published)
            # https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-data-types.html
            fixed = data_type if data_type in datatypes.FIXED else cur.data_type
            raise ValidationException(f"The data type of a parameter can't be changed to or from {fixed}.")
        if data_type == "aws:ec2:image" and type_ != "String":
            raise ValidationException("The aws:ec2:image data type is supported only for String parameters.")
        if datatypes.nonconforming(data_type, type_, value) is not None:
            # the value is not quoted: it may be a SecureString's
            raise ValidationException(f"The parameter value doesn't conform to the data type {data_type}.")
        if pattern:
            try:
                matched = patterns.fullmatch(pattern, value)
            except patterns.PatternError as exc:
                raise InvalidAllowedPatternException(f"The allowed pattern {pattern} is not valid: {exc}.") from None
            except patterns.PatternTimeout:
                raise InvalidAllowedPatternException(
                    f"The allowed pattern {pattern} could not be evaluated: matching it takes too long.") from None
            if not matched:
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
        if data_type == "aws:ec2:image" and not datatypes.AMI_ID.match(value):
            # an AMI ID is validated after the answer: the call succeeds with the version it would make,
            # the parameter is not created or updated, and the change event says why
            # (https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-ec2-aliases.html)
            events.emit(call.engine, conn, policy_rules.failed_change_event(
                call.account, call.region, arn, name, type_, data_type, "Update" if cur else "Create",
                "Unable to Describe Resource", call.now), call.now)
            call.resource(arn, "AWS::SSM::Parameter")
            return {"Version": version, "Tier": tier}
        if cur is not None:
            _make_room(conn, cur, name)
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
            conn.execute(params_table.update().where(*parameter_where(params_table, call.account, call.region, key))
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
        raise _limit_exceeded(tier)
    return tier


def _make_room(conn, cur, name: str) -> None:
    """Keep at most 100 versions: drop the oldest, unless a label holds it (the refusal names the
    parameter as the request did)."""
    where = parameter_where(versions_table, cur.account, cur.region, cur.name)
    count = conn.execute(sa.select(sa.func.count()).select_from(versions_table).where(*where)).scalar()
    if count < MAX_VERSIONS:
        return
    oldest = conn.execute(versions_table.select().where(*where).order_by(versions_table.c.version).limit(1)).first()
    if json.loads(oldest.labels):
        raise ParameterMaxVersionLimitExceeded(
            f"You attempted to create a new version of {name} by calling the PutParameter API with "
            f"the overwrite flag. Version {oldest.version}, the oldest version, can't be deleted because it has "
            "a label associated with it. Move the label to another version of the parameter, and try again.")
    conn.execute(versions_table.delete().where(*where, versions_table.c.version == oldest.version))


# ---- reads -----------------------------------------------------------------------------------
def _public(call, raw: str, action: str) -> dict | None:
    """The `Parameter` of one of AWS's public parameters (None when `raw` names none of them)."""
    name = raw.strip()
    if not public.is_public(name):
        return None
    authorize(call, action, resource=public.arn(call.region, name))
    found = public.lookup(call.region, name)
    if found is None:
        raise not_found(name)
    return found


@operation("ssm", "GetParameter", readonly=True)
def get_parameter(call, p):
    with_decryption = bool(p.get("WithDecryption"))
    hit = _public(call, p["Name"], "ssm:GetParameter") or references.lookup(call, p["Name"], with_decryption)
    if hit is not None:
        return {"Parameter": hit}
    row, version, ref = resolve(call, None, p["Name"], "ssm:GetParameter")
    call.resource(row.arn, "AWS::SSM::Parameter")
    return {"Parameter": parameter_shape(call, row, version, with_decryption, ref.shown_selector, ref.written)}


@operation("ssm", "GetParameters", readonly=True)
def get_parameters(call, p):
    with_decryption = bool(p.get("WithDecryption"))
    found, invalid, seen = [], [], set()
    for raw in p["Names"]:
        if raw in seen:
            continue
        seen.add(raw)
        try:
            hit = _public(call, raw, "ssm:GetParameters") or references.lookup(call, raw, with_decryption)
            if hit is not None:
                found.append(hit)
                continue
            row, version, ref = resolve(call, None, raw, "ssm:GetParameters")
        except (ParameterNotFound, ParameterVersionNotFound, ValidationException):
            invalid.append(raw)
            continue
        found.append(parameter_shape(call, row, version, with_decryption, ref.shown_selector, ref.written))
        call.resource(row.arn, "AWS::SSM::Parameter")
    found.sort(key=lambda x: x["Name"])
    return {"Parameters": found, "InvalidParameters": invalid}



# ---- deletes ---------------------------------------------------------------------------------
@operation("ssm", "DeleteParameter")
def delete_parameter(call, p):
    with call.store.write() as conn:
        row, _, _ = resolve(call, conn, p["Name"], "ssm:DeleteParameter", selectors=False, arns=False)
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
                row, _, _ = resolve(call, conn, raw, "ssm:DeleteParameters", selectors=False, arns=False)
            except (ParameterNotFound, ValidationException):
                invalid.append(raw)
                continue
            emit_change(call, conn, row, "Delete")
            delete_parameter_rows(conn, row)
            forget(call, row)
            call.resource(row.arn, "AWS::SSM::Parameter")
            deleted.append(raw)
    return {"DeletedParameters": deleted, "InvalidParameters": invalid}


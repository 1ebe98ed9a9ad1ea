"""Parameter Store's service settings: GetServiceSetting, UpdateServiceSetting, ResetServiceSetting
for `/ssm/parameter-store/default-parameter-tier` (the tier PutParameter uses when a request names
none) and `/ssm/parameter-store/high-throughput-enabled` (accepted and reported; keyplane has no
throughput tiers)."""
from __future__ import annotations

import re
from datetime import datetime, timezone

from ..authz import authorize
from ..errors import ValidationException
from ..registry import operation
from .errors import ServiceSettingNotFound
from .tables import service_settings as table

DEFAULT_TIER = "/ssm/parameter-store/default-parameter-tier"
HIGH_THROUGHPUT = "/ssm/parameter-store/high-throughput-enabled"
SETTINGS = {DEFAULT_TIER: ("Standard", ("Standard", "Advanced", "Intelligent-Tiering")),
            HIGH_THROUGHPUT: ("false", ("true", "false"))}
SETTING_ARN = re.compile(r"^arn:aws:ssm:([a-z0-9-]+):(\d{12}):servicesetting(/.+)$")


def _setting_id(call, raw: str) -> str:
    m = SETTING_ARN.match(raw)
    setting = m.group(3) if m and m.group(1) == call.region and m.group(2) == call.account else raw
    if setting not in SETTINGS:
        raise ServiceSettingNotFound(f"The service setting {raw} was not found.")
    return setting


def _arn(call, setting: str) -> str:
    return f"arn:aws:ssm:{call.region}:{call.account}:servicesetting{setting}"


def _where(call, setting: str):
    return (table.c.account == call.account, table.c.region == call.region, table.c.setting_id == setting)


def value(call, setting: str) -> str:
    with call.store.read() as conn:
        row = conn.execute(table.select().where(*_where(call, setting))).first()
    return row.value if row is not None else SETTINGS[setting][0]


def _shape(call, setting: str) -> dict:
    with call.store.read() as conn:
        row = conn.execute(table.select().where(*_where(call, setting))).first()
    out = {"SettingId": setting, "ARN": _arn(call, setting), "Status": "Customized" if row else "Default",
           "SettingValue": row.value if row else SETTINGS[setting][0]}
    if row is not None:
        out["LastModifiedDate"] = datetime.fromtimestamp(row.last_modified, timezone.utc)
        out["LastModifiedUser"] = row.last_modified_user
    return out


@operation("ssm", "GetServiceSetting", readonly=True)
def get_service_setting(call, p):
    setting = _setting_id(call, p["SettingId"])
    authorize(call, "ssm:GetServiceSetting", resource=_arn(call, setting))
    return {"ServiceSetting": _shape(call, setting)}


@operation("ssm", "UpdateServiceSetting")
def update_service_setting(call, p):
    setting = _setting_id(call, p["SettingId"])
    authorize(call, "ssm:UpdateServiceSetting", resource=_arn(call, setting))
    allowed = SETTINGS[setting][1]
    if p["SettingValue"] not in allowed:
        raise ValidationException(f"The value {p['SettingValue']} is not valid for {setting}. Valid values: "
                                  + ", ".join(allowed) + ".")
    with call.store.write() as conn:
        conn.execute(table.delete().where(*_where(call, setting)))
        conn.execute(table.insert().values(account=call.account, region=call.region, setting_id=setting,
                                           value=p["SettingValue"], last_modified=call.now.timestamp(),
                                           last_modified_user=call.principal.arn))
    return {}


@operation("ssm", "ResetServiceSetting")
def reset_service_setting(call, p):
    setting = _setting_id(call, p["SettingId"])
    authorize(call, "ssm:ResetServiceSetting", resource=_arn(call, setting))
    with call.store.write() as conn:
        conn.execute(table.delete().where(*_where(call, setting)))
    return {"ServiceSetting": _shape(call, setting)}

"""Version labels: LabelParameterVersion and UnlabelParameterVersion.

A label names one version at a time (attaching it elsewhere moves it), a version holds at most 10,
and labels that break the naming rules are returned as InvalidLabels instead of failing the call.
"""
from __future__ import annotations

import json
import re

from ..registry import operation
from .errors import ParameterVersionLabelLimitExceeded
from .names import aws_name
from .records import emit_change, resolve, version_not_found
from .tables import versions as versions_table

MAX_LABELS_PER_VERSION = 10
LABEL = re.compile(r"^[a-zA-Z0-9_.\-]{1,100}$")


def valid_label(label: str) -> bool:
    return bool(LABEL.match(label)) and not label[0].isdigit() and not label.lower().startswith(("aws", "ssm"))


def _versions(conn, row):
    return conn.execute(versions_table.select().where(
        versions_table.c.account == row.account, versions_table.c.region == row.region,
        versions_table.c.name == row.name)).all()


def _save(conn, row, version: int, labels: list) -> None:
    conn.execute(versions_table.update().where(
        versions_table.c.account == row.account, versions_table.c.region == row.region,
        versions_table.c.name == row.name, versions_table.c.version == version).values(labels=json.dumps(labels)))


@operation("ssm", "LabelParameterVersion")
def label_parameter_version(call, p):
    with call.store.write() as conn:
        row, _, ref = resolve(call, conn, p["Name"], "ssm:LabelParameterVersion", selectors=False, arns=False)
        number = p.get("ParameterVersion") or row.version
        versions = {v.version: json.loads(v.labels) for v in _versions(conn, row)}
        if number not in versions:
            raise version_not_found(ref.written or aws_name(row.name), number)
        asked = list(dict.fromkeys(p["Labels"]))
        invalid = [lb for lb in asked if not valid_label(lb)]
        good = [lb for lb in asked if valid_label(lb)]
        target = versions[number] + [lb for lb in good if lb not in versions[number]]
        if len(target) > MAX_LABELS_PER_VERSION:
            raise ParameterVersionLabelLimitExceeded(
                "A parameter version can have maximum 10 labels.Move one or more labels to another version "
                "and try again.")
        for other, labels in versions.items():
            if other != number and set(labels) & set(good):
                _save(conn, row, other, [lb for lb in labels if lb not in good])
        _save(conn, row, number, target)
        if good:
            emit_change(call, conn, row, "LabelParameterVersion")
    call.resource(row.arn, "AWS::SSM::Parameter")
    return {"InvalidLabels": invalid, "ParameterVersion": number}


@operation("ssm", "UnlabelParameterVersion")
def unlabel_parameter_version(call, p):
    with call.store.write() as conn:
        row, _, ref = resolve(call, conn, p["Name"], "ssm:UnlabelParameterVersion", selectors=False, arns=False)
        number = p["ParameterVersion"]
        versions = {v.version: json.loads(v.labels) for v in _versions(conn, row)}
        if number not in versions:
            raise version_not_found(ref.written or aws_name(row.name), number)
        asked = list(dict.fromkeys(p["Labels"]))
        removed = [lb for lb in asked if lb in versions[number]]
        invalid = [lb for lb in asked if lb not in versions[number]]
        if removed:
            _save(conn, row, number, [lb for lb in versions[number] if lb not in removed])
    call.resource(row.arn, "AWS::SSM::Parameter")
    return {"RemovedLabels": removed, "InvalidLabels": invalid}

"""keyplane.SecretAttachment: CloudFormation's AWS::SecretsManager::SecretTargetAttachment.

Attaching merges the target's connection fields — engine, host, port, dbname and its identifier
(`dbInstanceIdentifier`, or `dbClusterIdentifier` for a cluster) — into the secret's JSON as a new
AWSCURRENT version, keeping username, password and every other key, so a rotator knows where to
go; a rotation the secret was waiting on (configured, never run) starts once it is attached.
A secret takes one attachment. Deleting the attachment removes the fields it added. Its id is
the secret's ARN, as CloudFormation's Ref is.
"""
from __future__ import annotations

import json
from typing import Optional

from keyplane.resources import base

IDENTIFIER = {"AWS::RDS::DBInstance": "dbInstanceIdentifier", "AWS::RDS::DBCluster": "dbClusterIdentifier",
              "postgresql": "dbInstanceIdentifier", "mysql": "dbInstanceIdentifier",
              "mariadb": "dbInstanceIdentifier"}
ALL_IDENTIFIERS = ("dbInstanceIdentifier", "dbClusterIdentifier")
ENGINE_OF_TYPE = {"mysql": "mysql", "mariadb": "mariadb"}      # the rest: postgres unless named
PORT_OF_ENGINE = {"mysql": 3306, "mariadb": 3306, "aurora-mysql": 3306}


def _engine(target_type: str, target: dict) -> str:
    return target.get("engine") or ENGINE_OF_TYPE.get(target_type, "postgres")


def _port(engine: str) -> int:
    return PORT_OF_ENGINE.get(engine, 5432)


def _fields(target_type: str, target: dict) -> dict:
    engine = _engine(target_type, target)
    fields = {"engine": engine, "host": target["host"],
              "port": target.get("port", _port(engine)), IDENTIFIER[target_type]: target["identifier"]}
    if target.get("dbname"):
        fields["dbname"] = target["dbname"]
    return fields


def _current(sm, secret_id: str) -> tuple[str, dict]:
    out = sm.get_secret_value(SecretId=secret_id)
    try:
        document = json.loads(out.get("SecretString") or "")
    except ValueError:
        document = None
    if not isinstance(document, dict):
        raise base.ProviderError(
            f"InvalidRequestException: the secret {out['Name']} must hold a JSON object to be attached to a target")
    return out["ARN"], document


def _settled(sm, arn: str, described: dict, seconds: float = 60) -> None:
    """Waits while the secret has an AWSPENDING version of its own: a server tests a rotation set
    up with RotateImmediately=false in the background (as AWS does), and RotateSecret refuses to
    start while that test runs. Like boto3's waiters, this waits on the server's work, polling."""
    import time

    deadline = time.monotonic() + seconds
    while any("AWSPENDING" in stages and "AWSCURRENT" not in stages
              for stages in described.get("VersionIdsToStages", {}).values()):
        if time.monotonic() > deadline:
            return  # RotateSecret then says what is wrong
        time.sleep(0.1)
        described = sm.describe_secret(SecretId=arn)


class SecretAttachmentProvider(base.Provider):
    resource = "secret-attachment"
    replace_on = frozenset({"secret_id", "region"})
    gone_codes = frozenset({"ResourceNotFoundException"})

    def normalize(self, inputs):
        # nested defaults, so the declared target compares equal to the one read back
        target, target_type = inputs.get("target"), inputs.get("target_type")
        if isinstance(target, dict) and isinstance(target_type, str) and not base.contains_unknown(target):
            engine = _engine(target_type, target)
            inputs["target"] = {"port": _port(engine), "engine": engine, **target}
        return inputs

    def _create(self, api, inputs):
        sm = api.secretsmanager
        arn, document = _current(sm, inputs["secret_id"])
        wanted = _fields(inputs["target_type"], inputs["target"])
        for key in ALL_IDENTIFIERS:
            if document.get(key) not in (None, wanted.get(key)):
                raise base.ProviderError("InvalidRequestException: Secret is already attached to a target")
        sm.put_secret_value(SecretId=arn, SecretString=json.dumps({**document, **wanted}))
        api.on_failure(lambda: self._delete(api, arn, inputs))
        described = sm.describe_secret(SecretId=arn)
        if described.get("RotationEnabled") and not described.get("LastRotatedDate"):
            # the secret's first rotation was waiting for a target to go to: it runs now
            for attempt in range(3):
                _settled(sm, arn, described)
                try:
                    sm.rotate_secret(SecretId=arn)
                    break
                except Exception as exc:  # noqa: BLE001 - the test began between our look and the call
                    if attempt == 2 or base.error_code(exc) != "InvalidRequestException":
                        raise
                    described = sm.describe_secret(SecretId=arn)
        return arn

    def _read(self, api, id_, inputs) -> Optional[dict]:
        _, document = _current(api.secretsmanager, id_)
        key = IDENTIFIER[inputs["target_type"]]
        if key not in document:
            return None                       # detached outside Pulumi: attach again
        engine = document.get("engine") or _engine(inputs["target_type"], {})
        target = {"identifier": document[key], "host": document.get("host"),
                  "port": document.get("port", _port(engine)), "engine": engine}
        if document.get("dbname") is not None:
            target["dbname"] = document["dbname"]
        return {"secret_arn": id_, "target": target}

    def _update(self, api, id_, olds, news, changed):
        sm = api.secretsmanager
        _, document = _current(sm, id_)
        for key in (*_fields(olds["target_type"], olds["target"]), *ALL_IDENTIFIERS):
            document.pop(key, None)
        document.update(_fields(news["target_type"], news["target"]))
        sm.put_secret_value(SecretId=id_, SecretString=json.dumps(document))

    def _delete(self, api, id_, inputs):
        sm = api.secretsmanager
        try:
            _, document = _current(sm, id_)
        except Exception as exc:  # noqa: BLE001 - a secret deleted or pending deletion: nothing to detach
            if base.error_code(exc) in ("ResourceNotFoundException", "InvalidRequestException"):
                return
            raise
        added = _fields(inputs["target_type"], inputs["target"])
        kept = {k: v for k, v in document.items() if k not in added}
        if kept != document:
            sm.put_secret_value(SecretId=id_, SecretString=json.dumps(kept))


class SecretAttachment(base.Resource, module="keyplane", name="SecretAttachment"):
    """Attaches a secret to a database target. Inputs: secret_id (name or ARN), target_type
    (AWS::RDS::DBInstance, AWS::RDS::DBCluster, postgresql, mysql or mariadb), target={identifier, host, port,
    dbname, engine}, region. Outputs: secret_arn."""

    _provider_class = SecretAttachmentProvider
    _computed = {"secret_arn": str, "region": str}

"""keyplane.SecretRotation: a secret's rotation as a resource of its own
(aws.secretsmanager.SecretRotation's names, keyplane's `rotator` for the Lambda ARN, which is
accepted as `rotation_lambda_arn`; a managed external secret's external_secret_rotation_role_arn
and external_secret_rotation_metadatas in its place). Use it or the Secret's `rotation`, not both: the program fails
when both are declared. Deleting it turns rotation off (CancelRotateSecret)."""
from __future__ import annotations

from typing import Optional

from pulumi.dynamic import CheckFailure

from keyplane.resources import base


def rules(spec: dict) -> dict:
    """RotationRules from snake_case rules (SecretRotation's rotation_rules, Secret's rotation)."""
    out = {}
    for name, member in (("automatically_after_days", "AutomaticallyAfterDays"),
                         ("schedule_expression", "ScheduleExpression"), ("duration", "Duration")):
        if spec.get(name):
            out[member] = spec[name]
    return out


def live_rules(described: dict) -> dict:
    live = described.get("RotationRules", {})
    out = {}
    if "AutomaticallyAfterDays" in live and "ScheduleExpression" not in live:
        out["automatically_after_days"] = live["AutomaticallyAfterDays"]
    if live.get("ScheduleExpression"):
        out["schedule_expression"] = live["ScheduleExpression"]
    if live.get("Duration"):
        out["duration"] = live["Duration"]
    return out


class SecretRotationProvider(base.Provider):
    resource = "secret-rotation"
    replace_on = frozenset({"secret_id", "region", "account"})
    update_in_place = frozenset()
    gone_codes = frozenset({"ResourceNotFoundException"})
    synonyms = {"rotation_lambda_arn": "rotator"}

    def validate(self, inputs):
        spec = inputs.get("rotation_rules")
        if not spec or base.contains_unknown(spec):
            return []
        from keyplane.engine.secrets.schedule import validate_rules
        try:
            validate_rules(rules(spec))
        except Exception as exc:  # noqa: BLE001 - InvalidParameterException
            return [CheckFailure("rotation_rules", f"rotation_rules: {getattr(exc, 'message', exc)}")]
        return []

    def _rotate(self, api, secret, inputs, immediately):
        params = {"SecretId": secret, "RotationRules": rules(inputs["rotation_rules"]), "RotateImmediately": immediately}
        if inputs.get("rotator"):
            params["RotationLambdaARN"] = inputs["rotator"]
        if inputs.get("external_secret_rotation_role_arn"):
            params["ExternalSecretRotationRoleArn"] = inputs["external_secret_rotation_role_arn"]
            params["ExternalSecretRotationMetadata"] = [
                {"Key": m["key"], "Value": m["value"]} for m in inputs.get("external_secret_rotation_metadatas") or []]
        api.secretsmanager.rotate_secret(**params)

    def _create(self, api, inputs):
        arn = api.secretsmanager.describe_secret(SecretId=inputs["secret_id"])["ARN"]
        self._rotate(api, arn, inputs, inputs.get("rotate_immediately", True))
        return arn

    def _read(self, api, id_, inputs) -> Optional[dict]:
        d = api.secretsmanager.describe_secret(SecretId=id_)
        if not d.get("RotationEnabled") or d.get("DeletedDate"):
            return None
        declared = inputs.get("rotation_rules") or {}
        live = live_rules(d)
        outs = {"secret_id": inputs.get("secret_id", id_), "rotator": d.get("RotationLambdaARN"),
                "rotation_rules": declared if all(declared.get(k) == v for k, v in live.items()) else live,
                "rotation_enabled": True}
        if d.get("ExternalSecretRotationRoleArn") or inputs.get("external_secret_rotation_role_arn"):
            outs["external_secret_rotation_role_arn"] = d.get("ExternalSecretRotationRoleArn")
            outs["external_secret_rotation_metadatas"] = [
                {"key": m["Key"], "value": m["Value"]} for m in d.get("ExternalSecretRotationMetadata", [])]
        return outs

    def _update(self, api, id_, olds, news, changed):
        if changed & {"rotator", "rotation_rules", "external_secret_rotation_metadatas",
                      "external_secret_rotation_role_arn"}:
            self._rotate(api, id_, news, False)  # a new schedule, not a rotation now

    def _delete(self, api, id_, inputs):
        api.secretsmanager.cancel_rotate_secret(SecretId=id_)


class SecretRotation(base.Resource, module="keyplane", name="SecretRotation"):
    """A secret's rotation, apart from the Secret. Inputs: secret_id, rotator (or
    rotation_lambda_arn) — or, for a managed external secret, external_secret_rotation_role_arn
    and external_secret_rotation_metadatas [{key, value}] — rotation_rules
    {automatically_after_days | schedule_expression, duration}, rotate_immediately, region,
    account. Use it or the Secret's `rotation`, not both."""

    _provider_class = SecretRotationProvider
    _computed = {"rotation_enabled": bool, "region": str}

    def __init__(self, resource_name: str, opts=None, **inputs):
        inputs["secret_id"] = base.sets_part_of(inputs.get("secret_id"), "rotation", "SecretRotation", resource_name)
        super().__init__(resource_name, opts, **inputs)

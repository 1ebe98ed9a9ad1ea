"""keyplane.Secret: a Secrets Manager secret declared in a Pulumi stack, with its value (given or
generated), resource policy, Region replicas and rotation.

`secret_string` is a secret output. With rotation configured, the declared value is only the
initial one: rotation owns the value afterwards, so a rotated value is not drift to undo. A secret
scheduled for deletion outside Pulumi shows on refresh and the next `up` restores it. Deleting the
Secret deletes it with `recovery_window_in_days` (0: at once), removing its replicas first as AWS
requires.
"""
from __future__ import annotations

import json
from typing import Optional

from pulumi.dynamic import CheckFailure

from keyplane.resources import base
from keyplane.resources.secret_rotation import live_rules, rules


def generate(api, spec: dict) -> str:
    """CloudFormation's GenerateSecretString, through GetRandomPassword."""
    params = {"PasswordLength": spec.get("password_length", 32)}
    for name, member in (("exclude_characters", "ExcludeCharacters"), ("exclude_numbers", "ExcludeNumbers"),
                         ("exclude_punctuation", "ExcludePunctuation"), ("exclude_uppercase", "ExcludeUppercase"),
                         ("exclude_lowercase", "ExcludeLowercase"), ("include_space", "IncludeSpace"),
                         ("require_each_included_type", "RequireEachIncludedType")):
        if spec.get(name) is not None:
            params[member] = spec[name]
    password = api.secretsmanager.get_random_password(**params)["RandomPassword"]
    template = spec.get("secret_string_template")
    if not template:
        return password
    document = json.loads(template)
    document[spec["generate_string_key"]] = password
    return json.dumps(document)


def waits_for_target(rotation: dict, value) -> bool:
    """A database rotator has nowhere to go before the secret names its host: its first
    rotation waits for the SecretAttachment that merges the connection in (CloudFormation's
    RotationSchedule waits for the SecretTargetAttachment the same way)."""
    if not rotation.get("rotator", "").startswith("keyplane:postgres-"):
        return False
    try:
        document = json.loads(value) if value else {}
    except ValueError:
        return False
    return isinstance(document, dict) and "host" not in document


def public_policy_failures(inputs: dict) -> list[CheckFailure]:
    """A policy granting broad access is refused unless block_public_policy is off, as
    PutResourcePolicy does (Secret's `policy` and SecretPolicy)."""
    policy = inputs.get("policy")
    if policy is None or base.contains_unknown(policy) or not inputs.get("block_public_policy", True):
        return []
    from keyplane.engine.secrets.access import broad_access_statements
    if broad_access_statements(policy):
        return [CheckFailure("policy", "policy: grants broad access to the secret (set block_public_policy=False "
                                       "to allow)")]
    return []


class SecretProvider(base.Provider):
    resource = "secret"
    replace_on = frozenset({"name", "region", "account"})
    documents = {"policy": "secret-policy"}
    gone_codes = frozenset({"ResourceNotFoundException"})
    synonyms = {"replica": "replicas"}

    def normalize(self, inputs):
        base.policy_text(inputs, "policy")
        return inputs

    def validate(self, inputs):
        failures = []
        spec = inputs.get("generate_secret_string") or {}
        template = spec.get("secret_string_template")
        if template and not base.contains_unknown(template):
            try:
                if not isinstance(json.loads(template), dict):
                    raise ValueError("not a JSON object")
            except ValueError as exc:
                failures.append(CheckFailure("generate_secret_string",
                                             f"generate_secret_string.secret_string_template: {exc}"))
        failures += public_policy_failures(inputs)
        rotation = inputs.get("rotation")
        if rotation and not base.contains_unknown(rotation):
            from keyplane.engine.secrets.schedule import validate_rules
            try:
                validate_rules(rules(rotation))
            except Exception as exc:  # noqa: BLE001 - InvalidParameterException
                failures.append(CheckFailure("rotation", f"rotation: {getattr(exc, 'message', exc)}"))
        return failures

    def doomed(self, olds):
        return bool(base.plain(olds.get("deleted_date")))

    # -- create ------------------------------------------------------------------------------
    def _create(self, api, inputs):
        sm = api.secretsmanager
        value = inputs.get("secret_string")
        if value is None and inputs.get("generate_secret_string") is not None:
            value = generate(api, inputs["generate_secret_string"])
        params = {"Name": inputs["name"], "Description": inputs.get("description", ""),
                  "Tags": [{"Key": k, "Value": v} for k, v in sorted(inputs.get("tags", {}).items())]}
        if value is not None:
            params["SecretString"] = value
        if inputs.get("kms_key_id"):
            params["KmsKeyId"] = inputs["kms_key_id"]
        if inputs.get("type"):
            params["Type"] = inputs["type"]
        if inputs.get("replicas"):
            params["AddReplicaRegions"] = self._replica_params(inputs["replicas"])
        arn = sm.create_secret(**params)["ARN"]
        api.on_failure(lambda: self._force_delete(api, arn))
        if inputs.get("policy") is not None:
            sm.put_resource_policy(SecretId=arn, ResourcePolicy=inputs["policy"],
                                   BlockPublicPolicy=inputs.get("block_public_policy", True))
        if inputs.get("rotation"):
            rotation = dict(inputs["rotation"])
            if waits_for_target(rotation, value):
                rotation["rotate_immediately"] = False
            self._rotate(api, arn, rotation)
        return arn

    @staticmethod
    def _replica_params(replicas):
        return [{"Region": r["region"], **({"KmsKeyId": r["kms_key_id"]} if r.get("kms_key_id") else {})}
                for r in replicas]

    @staticmethod
    def _rotate(api, arn, rotation):
        api.secretsmanager.rotate_secret(SecretId=arn, RotationLambdaARN=rotation["rotator"],
                                         RotationRules=rules(rotation),
                                         RotateImmediately=rotation.get("rotate_immediately", True))

    @staticmethod
    def _force_delete(api, arn):
        sm = api.secretsmanager
        regions = [r["Region"] for r in sm.describe_secret(SecretId=arn).get("ReplicationStatus", [])]
        if regions:
            sm.remove_regions_from_replication(SecretId=arn, RemoveReplicaRegions=regions)
        sm.delete_secret(SecretId=arn, ForceDeleteWithoutRecovery=True)

    # -- read --------------------------------------------------------------------------------
    def _read(self, api, id_, inputs) -> Optional[dict]:
        sm = api.secretsmanager
        d = sm.describe_secret(SecretId=id_)
        outs = {
            "arn": d["ARN"],
            "name": d["Name"],
            "description": d.get("Description", ""),
            "tags": {t["Key"]: t["Value"] for t in d.get("Tags", [])},
            "rotation_enabled": bool(d.get("RotationEnabled")),
            "deleted_date": d["DeletedDate"].isoformat() if d.get("DeletedDate") else None,
            "replicas": self._read_replicas(d, inputs.get("replicas")),
        }
        if d.get("KmsKeyId") or inputs.get("kms_key_id"):
            outs["kms_key_id"] = d.get("KmsKeyId")
        if d.get("Type") or inputs.get("type"):
            outs["type"] = d.get("Type")
        if d.get("DeletedDate"):
            return outs             # value and policy are unreadable until it is restored
        rotation = inputs.get("rotation")
        if d.get("RotationEnabled") and rotation:
            outs["rotation"] = self._read_rotation(d, rotation)
        elif rotation:
            outs["rotation"] = None          # turned off outside Pulumi: drift
        current = next((v for v, s in d.get("VersionIdsToStages", {}).items() if "AWSCURRENT" in s), None)
        outs["version_id"] = current
        if current is not None:
            live = sm.get_secret_value(SecretId=id_).get("SecretString")
            declared = inputs.get("secret_string")
            # with rotation (or a generated value) the live value is the value; else drift shows
            outs["secret_string"] = declared if (declared is not None and rotation) else live
        policy = sm.get_resource_policy(SecretId=id_).get("ResourcePolicy")
        if policy is not None or inputs.get("policy") is not None:
            outs["policy"] = base.live_document(inputs.get("policy"), policy)
        return outs

    @staticmethod
    def _read_replicas(d, declared):
        live = [{"region": r["Region"], **({"kms_key_id": r["KmsKeyId"]} if r.get("KmsKeyId") and
                                           r["KmsKeyId"] != "alias/aws/secretsmanager" else {})}
                for r in d.get("ReplicationStatus", [])]
        if declared is not None and sorted(map(json.dumps, declared)) == sorted(map(json.dumps, live)):
            return declared
        return live

    @staticmethod
    def _read_rotation(d, declared):
        live = {"rotator": d.get("RotationLambdaARN"), **live_rules(d)}
        live["rotate_immediately"] = declared.get("rotate_immediately", True)
        same = all(declared.get(k) == v for k, v in live.items())
        return declared if same else live

    # -- update ------------------------------------------------------------------------------
    def _update(self, api, id_, olds, news, changed):
        sm = api.secretsmanager
        if olds.get("deleted_date"):
            sm.restore_secret(SecretId=id_)
        if changed & {"description", "kms_key_id", "type"}:
            params = {"SecretId": id_, "Description": news.get("description", "")}
            if news.get("kms_key_id"):
                params["KmsKeyId"] = news["kms_key_id"]
            if "type" in changed:
                params["Type"] = news.get("type") or ""
            sm.update_secret(**params)
        rotation = news.get("rotation")
        if "secret_string" in changed and news.get("secret_string") is not None and not rotation:
            sm.put_secret_value(SecretId=id_, SecretString=news["secret_string"])
        elif "generate_secret_string" in changed and news.get("generate_secret_string") is not None:
            sm.put_secret_value(SecretId=id_, SecretString=generate(api, news["generate_secret_string"]))
        if "policy" in changed:
            if news.get("policy") is not None:
                sm.put_resource_policy(SecretId=id_, ResourcePolicy=news["policy"],
                                       BlockPublicPolicy=news.get("block_public_policy", True))
            else:
                sm.delete_resource_policy(SecretId=id_)
        if "tags" in changed:
            gone, put = base.tag_changes(olds.get("tags") or {}, news.get("tags") or {})
            if gone:
                sm.untag_resource(SecretId=id_, TagKeys=gone)
            if put:
                sm.tag_resource(SecretId=id_, Tags=[{"Key": k, "Value": v} for k, v in sorted(put.items())])
        if "replicas" in changed:
            old = {r["region"] for r in olds.get("replicas") or []}
            new = {r["region"]: r for r in news.get("replicas") or []}
            gone = sorted(old - set(new))
            if gone:
                sm.remove_regions_from_replication(SecretId=id_, RemoveReplicaRegions=gone)
            added = [new[r] for r in sorted(set(new) - old)]
            if added:
                sm.replicate_secret_to_regions(SecretId=id_, AddReplicaRegions=self._replica_params(added))
        if "rotation" in changed:
            if rotation:
                self._rotate(api, id_, rotation)
            else:
                sm.cancel_rotate_secret(SecretId=id_)

    # -- delete ------------------------------------------------------------------------------
    def _delete(self, api, id_, inputs):
        sm = api.secretsmanager
        d = sm.describe_secret(SecretId=id_)
        if d.get("DeletedDate"):
            return
        regions = [r["Region"] for r in d.get("ReplicationStatus", [])]
        if regions:
            sm.remove_regions_from_replication(SecretId=id_, RemoveReplicaRegions=regions)
        window = inputs.get("recovery_window_in_days", 30)
        if window == 0:
            sm.delete_secret(SecretId=id_, ForceDeleteWithoutRecovery=True)
        else:
            sm.delete_secret(SecretId=id_, RecoveryWindowInDays=window)


class Secret(base.Resource, module="keyplane", name="Secret"):
    """A Secrets Manager secret. Inputs: name, description, kms_key_id, type, secret_string or
    generate_secret_string={password_length, exclude_*, secret_string_template, generate_string_key},
    policy (dict or JSON), block_public_policy, recovery_window_in_days, replicas=[{region,
    kms_key_id}], rotation={rotator, automatically_after_days | schedule_expression, duration,
    rotate_immediately}, tags, region. Outputs: arn, version_id, rotation_enabled, secret_string
    (secret)."""

    _provider_class = SecretProvider
    _computed = {"arn": str, "version_id": str, "rotation_enabled": bool, "deleted_date": str,
                 "secret_string": str, "region": str}
    _secret = ("secret_string",)

    def __init__(self, resource_name, opts=None, **inputs):
        # the declared value is as secret as the output: a plain string given here must not sit in
        # the state's inputs in clear text
        if inputs.get("secret_string") is not None:
            import pulumi
            inputs["secret_string"] = pulumi.Output.secret(inputs["secret_string"])
        super().__init__(resource_name, opts, **inputs)

"""keyplane.SecretVersion: one version of a secret's value (aws.secretsmanager.SecretVersion's
names: secret_id, secret_string or secret_binary, version_stages).

A new value is a new version, so it replaces the resource (the old version keeps its place in the
secret's history, as in AWS); new version_stages move the labels in place. Its id is
`secret ARN|version id`, as pulumi-aws's. Deleting it removes its labels, except AWSCURRENT, which
a secret must always have on some version (pulumi-aws does the same). The value is a secret input
and output. Use it or the Secret's secret_string / generate_secret_string, not both.
"""
from __future__ import annotations

import base64
from typing import Optional

import pulumi

from keyplane.resources import base

CURRENT = "AWSCURRENT"


class SecretVersionProvider(base.Provider):
    resource = "secret-version"
    replace_on = frozenset({"secret_id", "secret_string", "secret_binary", "region", "account"})
    gone_codes = frozenset({"ResourceNotFoundException"})

    def _create(self, api, inputs):
        sm = api.secretsmanager
        params = {"SecretId": inputs["secret_id"], "VersionStages": inputs.get("version_stages") or [CURRENT]}
        if inputs.get("secret_string") is not None:
            params["SecretString"] = inputs["secret_string"]
        else:
            params["SecretBinary"] = base64.b64decode(inputs["secret_binary"])
        out = sm.put_secret_value(**params)
        return f"{out['ARN']}|{out['VersionId']}"

    def _read(self, api, id_, inputs) -> Optional[dict]:
        arn, version = id_.rsplit("|", 1)
        d = api.secretsmanager.describe_secret(SecretId=arn)
        if d.get("DeletedDate") or version not in d.get("VersionIdsToStages", {}):
            return None
        stages = d["VersionIdsToStages"][version]
        declared = inputs.get("version_stages")
        outs = {"arn": arn, "version_id": version, "secret_id": inputs.get("secret_id", arn),
                "version_stages": declared if declared and sorted(declared) == sorted(stages) else stages}
        value = api.secretsmanager.get_secret_value(SecretId=arn, VersionId=version)
        if "SecretString" in value:
            outs["secret_string"] = value["SecretString"]
        if "SecretBinary" in value:
            outs["secret_binary"] = base64.b64encode(value["SecretBinary"]).decode()
        return outs

    def _update(self, api, id_, olds, news, changed):
        arn, version = id_.rsplit("|", 1)
        sm = api.secretsmanager
        live = sm.describe_secret(SecretId=arn)["VersionIdsToStages"]
        wanted = set(news.get("version_stages") or [CURRENT])
        for stage in sorted(wanted - set(live.get(version, []))):
            holder = next((v for v, stages in live.items() if stage in stages), None)
            sm.update_secret_version_stage(SecretId=arn, VersionStage=stage, MoveToVersionId=version,
                                           **({"RemoveFromVersionId": holder} if holder else {}))
        for stage in sorted(set(live.get(version, [])) - wanted - {CURRENT}):
            sm.update_secret_version_stage(SecretId=arn, VersionStage=stage, RemoveFromVersionId=version)

    def _delete(self, api, id_, inputs):
        arn, version = id_.rsplit("|", 1)
        sm = api.secretsmanager
        d = sm.describe_secret(SecretId=arn)
        if d.get("DeletedDate"):
            return
        for stage in sorted(set(d.get("VersionIdsToStages", {}).get(version, [])) - {CURRENT}):
            sm.update_secret_version_stage(SecretId=arn, VersionStage=stage, RemoveFromVersionId=version)


class SecretVersion(base.Resource, module="keyplane", name="SecretVersion"):
    """A version of a secret's value. Inputs: secret_id, secret_string or secret_binary (base64),
    version_stages, region, account. Outputs: arn, version_id. Use it or the Secret's
    secret_string / generate_secret_string, not both."""

    _provider_class = SecretVersionProvider
    _computed = {"arn": str, "version_id": str, "region": str}
    _secret = ("secret_string", "secret_binary")

    def __init__(self, resource_name: str, opts=None, **inputs):
        for name in ("secret_string", "secret_binary"):
            if inputs.get(name) is not None:
                inputs[name] = pulumi.Output.secret(inputs[name])
        secret = base.sets_part_of(inputs.get("secret_id"), "secret_string", "SecretVersion", resource_name)
        inputs["secret_id"] = base.sets_part_of(secret, "generate_secret_string", "SecretVersion", resource_name)
        super().__init__(resource_name, opts, **inputs)

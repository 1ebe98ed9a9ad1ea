"""keyplane.Parameter: an SSM Parameter Store parameter (names as the AWS provider's aws.ssm.Parameter).

Its name is its identity: renaming replaces it, deleting the old one first so the name is free. So do
a new `type` and a move from Advanced back to Standard, which Parameter Store only allows by delete
and re-create. Everything else is a new version through PutParameter(Overwrite). A SecureString's
value is a secret (input and output), so it is encrypted in the Pulumi state, never plaintext; the
provider's own state holds no value at all.
"""
from __future__ import annotations

import json
from typing import Optional

import pulumi
from pulumi.dynamic import DiffResult

from keyplane.resources import base


def _policies_text(value) -> Optional[str]:
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value)


class ParameterProvider(base.Provider):
    resource = "parameter"
    replace_on = frozenset({"name", "type", "region", "account"})
    delete_before_replace = True
    documents = {"policies": "parameter-policies"}
    gone_codes = frozenset({"ParameterNotFound"})
    synonyms = {"insecure_value": "value"}

    def check(self, olds, news):
        if news.get("insecure_value") is not None and base.plain(news.get("type")) == "SecureString":
            inputs = {k: v for k, v in news.items() if k != base.PROVIDER_KEY}
            return base.CheckResult(inputs, [base.CheckFailure(
                "insecure_value", "insecure_value: a SecureString's value is secret: give it as `value`")])
        return super().check(olds, news)

    def synonym_outputs(self, outs):
        # pulumi-aws's insecure_value is the value shown in plaintext: a SecureString has none
        return {} if outs.get("type") == "SecureString" else super().synonym_outputs(outs)

    def normalize(self, inputs):
        policies = inputs.get("policies")
        if isinstance(policies, list) and not base.contains_unknown(policies):
            inputs["policies"] = json.dumps(policies)
        return inputs

    def same(self, name, old, new):
        if name == "tier" and old is not None and new == "Intelligent-Tiering":
            return True        # the tier it chose is not drift
        return super().same(name, old, new)

    def diff(self, id_, olds, news):
        result = super().diff(id_, olds, news)
        old_tier, new_tier = base.plain(olds.get("tier")), base.plain(news.get("tier"))
        if old_tier == "Advanced" and new_tier == "Standard" and "tier" not in result.replaces:
            return DiffResult(changes=True, replaces=[*result.replaces, "tier"], delete_before_replace=True)
        return result

    def _put(self, api, inputs, *, overwrite: bool, tags: bool):
        params = {"Name": inputs["name"], "Value": inputs["value"], "Type": inputs["type"],
                  "Description": inputs.get("description", ""), "Overwrite": overwrite,
                  "DataType": inputs.get("data_type", "text")}
        for name, member in (("tier", "Tier"), ("key_id", "KeyId"), ("allowed_pattern", "AllowedPattern")):
            if inputs.get(name) is not None:
                params[member] = inputs[name]
        policies = _policies_text(inputs.get("policies"))
        if policies is not None:
            params["Policies"] = policies
        elif overwrite:
            params["Policies"] = "[]"          # no policies declared: none kept
        if tags and inputs.get("tags"):
            params["Tags"] = [{"Key": k, "Value": v} for k, v in sorted(inputs["tags"].items())]
        return api.ssm.put_parameter(**params)

    def _create(self, api, inputs):
        overwrite = bool(inputs.get("overwrite"))
        self._put(api, inputs, overwrite=overwrite, tags=not overwrite)
        name = inputs["name"]
        api.on_failure(lambda: api.ssm.delete_parameter(Name=name))
        if overwrite and inputs.get("tags"):
            self._set_tags(api, name, {}, inputs["tags"], replace_all=True)
        return name

    def _read(self, api, id_, inputs) -> Optional[dict]:
        ssm = api.ssm
        current = ssm.get_parameter(Name=id_, WithDecryption=True)["Parameter"]
        found = ssm.describe_parameters(ParameterFilters=[{"Key": "Name", "Values": [id_]}])["Parameters"]
        if not found:
            return None
        meta = found[0]
        tags = ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId=id_)["TagList"]
        live_policies = [json.loads(p["PolicyText"]) for p in meta.get("Policies", [])]
        declared = inputs.get("policies")
        outs = {
            # GetParameter's Name is the name as asked; DescribeParameters drops the slash of a
            # one-level name (/adv -> adv), which would read as a rename
            # (https://github.com/hashicorp/terraform-provider-aws/pull/49339)
            "name": current["Name"], "type": meta["Type"], "value": current["Value"],
            "arn": meta["ARN"], "version": meta["Version"],
            "tier": meta["Tier"], "description": meta.get("Description", ""),
            "data_type": meta.get("DataType", "text"),
            "tags": {t["Key"]: t["Value"] for t in tags},
        }
        if meta.get("AllowedPattern") or inputs.get("allowed_pattern") is not None:
            outs["allowed_pattern"] = meta.get("AllowedPattern", "")
        if meta["Type"] == "SecureString":
            outs["key_id"] = meta.get("KeyId")
        if declared is not None and base.parse_document(declared) == live_policies:
            outs["policies"] = declared
        elif live_policies or declared is not None:
            outs["policies"] = json.dumps(live_policies)
        return outs

    def _update(self, api, id_, olds, news, changed):
        # an optional input left out (tier, policies...) is no change, as in diff: the live value
        # stands; a change of tags alone is tagging, not a new version of the value
        if {n for n in changed if n in news} - {"tags", "overwrite"}:
            self._put(api, news, overwrite=True, tags=False)
        if "tags" in changed:
            self._set_tags(api, id_, olds.get("tags") or {}, news.get("tags") or {})

    @staticmethod
    def _set_tags(api, name, old, new, replace_all=False):
        ssm = api.ssm
        if replace_all:
            old = {t["Key"]: t["Value"] for t in
                   ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId=name)["TagList"]}
        gone, put = base.tag_changes(old, new)
        if gone:
            ssm.remove_tags_from_resource(ResourceType="Parameter", ResourceId=name, TagKeys=gone)
        if put:
            ssm.add_tags_to_resource(ResourceType="Parameter", ResourceId=name,
                                     Tags=[{"Key": k, "Value": v} for k, v in sorted(put.items())])

    def _delete(self, api, id_, inputs):
        api.ssm.delete_parameter(Name=id_)


class Parameter(base.Resource, module="keyplane", name="Parameter"):
    """An SSM parameter. Inputs: name, type (String | StringList | SecureString), value, tier,
    key_id, description, allowed_pattern, data_type, policies (list or JSON), tags, overwrite,
    region. Outputs: arn, version (and value, a secret for SecureString)."""

    _provider_class = ParameterProvider
    _computed = {"arn": str, "version": int, "region": str}

    def __init__(self, resource_name: str, opts: Optional[pulumi.ResourceOptions] = None, **inputs):
        # a SecureString's value is secret from the start, so the state never holds it in
        # plaintext; an unknown type is treated as SecureString
        kind = inputs.get("type")
        if kind == "SecureString" or not isinstance(kind, str):
            if inputs.get("value") is not None:
                inputs["value"] = pulumi.Output.secret(inputs["value"])
            opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=["value"]))
        super().__init__(resource_name, opts, **inputs)

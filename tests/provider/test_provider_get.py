"""`keyplane.Key.get(name, id)` (and every resource's `get`): an existing resource read through
the engine's Read call of the real provider process, as pulumi-aws's `aws.kms.Key.get` reads one
(https://www.pulumi.com/docs/iac/concepts/resources/get/): live outputs, nothing created, and the
resource stays unmanaged. `pulumi import` itself cannot work for a dynamic provider (README)."""
from __future__ import annotations

import pulumi

import keyplane
from harness import Engine, ForwardingMocks, ProviderProcess, observer


def test_get_reads_existing_resources_without_managing_them(tmp_path):
    state = str(tmp_path / "state")
    conn = observer(state)
    kms, ssm = conn.client("kms", region="eu-west-1"), conn.client("ssm", region="eu-west-1")
    key = kms.create_key(Description="made by hand")["KeyMetadata"]
    kms.create_alias(AliasName="alias/by-hand", TargetKeyId=key["KeyId"])
    ssm.put_parameter(Name="/by/hand", Value="v", Type="String")
    seen = {}
    with ProviderProcess({"keyplane:state": state, "keyplane:region": "eu-west-1"}) as process:
        mocks = ForwardingMocks(Engine(process))
        pulumi.runtime.set_mocks(mocks, project="get", stack="dev", preview=False)

        def program():
            k = keyplane.Key.get("existing", key["KeyId"])
            a = keyplane.Alias.get("existing", "alias/by-hand")
            p = keyplane.Parameter.get("existing", "/by/hand")
            return pulumi.Output.all(k.arn, k.description, k.key_state, a.target_key_id, p.value, p.version).apply(
                lambda v: seen.update(zip(("arn", "description", "state", "target", "value", "version"), v)))

        pulumi.runtime.test(program)()
    assert seen == {"arn": key["Arn"], "description": "made by hand", "state": "Enabled",
                    "target": key["KeyId"], "value": "v", "version": 1}
    assert mocks.created == {} and set(mocks.read) == {"Key/existing", "Alias/existing", "Parameter/existing"}

"""keyplane.get_key / get_alias / get_public_key / get_parameter / get_secret_version in a Pulumi
program (under set_mocks, resources through the real provider process), embedded and against a
`keyplane serve` (remote, SigV4): Outputs with pulumi-aws's result attributes, secret where the
value is a secret, taking Outputs of resources as arguments."""
from __future__ import annotations

import pulumi
import pytest

import keyplane
from harness import Engine, ForwardingMocks, ProviderProcess
from served import Served


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = Served(tmp_path_factory.mktemp("lookups"))
    yield srv
    srv.stop()


@pytest.fixture(params=["embedded", "remote"])
def config(request, tmp_path):
    if request.param == "embedded":
        return {"keyplane:state": str(tmp_path / "state"), "keyplane:region": "us-east-1"}
    return request.getfixturevalue("server").config()


def run(config, program):
    saved = pulumi.runtime.config.CONFIG.get()
    pulumi.runtime.set_all_config(config, ["keyplane:secretKey"])
    try:
        with ProviderProcess(config) as process:
            mocks = ForwardingMocks(Engine(process))
            pulumi.runtime.set_mocks(mocks, project="lookups", stack="dev", preview=False)
            pulumi.runtime.test(program)()
    finally:
        pulumi.runtime.config.CONFIG.set(saved)


def test_lookups_return_outputs_shaped_as_pulumi_aws(config):
    """Result attributes as pulumi-aws's data sources: aws.kms.getKey, getAlias, getPublicKey
    (https://www.pulumi.com/registry/packages/aws/api-docs/kms/getkey/), aws.ssm.getParameter,
    aws.secretsmanager.getSecretVersion."""
    seen = {}

    def program():
        key = keyplane.Key("k", description="looked up")
        signing = keyplane.Key("s", key_usage="SIGN_VERIFY", key_spec="ECC_NIST_P256")
        alias = keyplane.Alias("a", name="alias/looked-up", target_key_id=key.key_id)
        declared = keyplane.Parameter("p", name="/lookup/secure", type="SecureString", value="hush")
        created = keyplane.Secret("sec", name="lookup/secret", secret_string="s3cret", recovery_window_in_days=0)

        by_alias = keyplane.get_key(key_id=alias.name)
        found_alias = keyplane.get_alias_output(name=alias.name)
        public = keyplane.get_public_key(key_id=signing.key_id)
        param = keyplane.get_parameter(name=declared.name)     # an Output: looked up once it exists
        value = keyplane.get_secret_version(secret_id=created.arn)
        return pulumi.Output.all(key.arn, by_alias.arn, by_alias.description, by_alias.enabled,
                                 found_alias.target_key_arn, public.public_key_pem, public.key_spec,
                                 param.value, param.insecure_value, param.version, value.secret_string,
                                 value.version_stages).apply(lambda v: seen.update(zip(
                                     ("key_arn", "arn", "description", "enabled", "target_key_arn", "pem",
                                      "key_spec", "param_value", "insecure", "version", "secret_string",
                                      "stages"), v)))

    run(config, program)
    assert seen["arn"] == seen["key_arn"] == seen["target_key_arn"]
    assert seen["description"] == "looked up" and seen["enabled"] is True
    assert seen["pem"].startswith("-----BEGIN PUBLIC KEY-----\n") and seen["key_spec"] == "ECC_NIST_P256"
    from cryptography.hazmat.primitives.serialization import load_pem_public_key
    assert load_pem_public_key(seen["pem"].encode()).curve.name == "secp256r1"
    assert seen["param_value"] == "hush" and seen["insecure"] is None and seen["version"] == 1
    assert seen["secret_string"] == "s3cret" and seen["stages"] == ["AWSCURRENT"]


def test_secret_lookups_are_secret_outputs(tmp_path):
    flags = {}
    config = {"keyplane:state": str(tmp_path / "state"), "keyplane:region": "us-east-1"}

    def program():
        declared = keyplane.Parameter("p", name="/lookup/plain", type="String", value="open")
        out = keyplane.get_parameter(name=declared.name)
        key = keyplane.get_key(key_id="alias/aws/ssm")

        async def record():
            flags["parameter"] = await out.is_secret()
            flags["key"] = await key.is_secret()
        return pulumi.Output.from_input(record())

    run(config, program)
    assert flags == {"parameter": True, "key": False}


def test_a_failed_lookup_fails_the_program_in_one_line(tmp_path):
    config = {"keyplane:state": str(tmp_path / "state"), "keyplane:region": "us-east-1"}

    def program():
        return keyplane.get_alias(name="alias/missing").arn

    with pytest.raises(Exception) as failed:
        run(config, program)
    assert "get_alias: NotFoundException: Alias alias/missing is not found." in str(failed.value)

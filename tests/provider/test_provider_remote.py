"""The provider against a `keyplane serve` endpoint (`keyplane:endpoint` with an access key pair
from the stack config): requests are SigV4-signed with those credentials, resources land in the
account the credentials belong to, and the credentials never reach Pulumi state."""
from __future__ import annotations

import base64
import importlib.util
import sys

import pytest

from harness import TREE, Engine, ProviderCallFailed, ProviderProcess
from keyplane.resources.alias import AliasProvider
from keyplane.resources.key import KeyProvider

KEY, ALIAS = "pulumi-python:dynamic/keyplane:Key", "pulumi-python:dynamic/keyplane:Alias"


def _http_fixtures():
    # the one way this suite starts a real server lives beside the HTTP tests
    path = TREE / "tests" / "http" / "keyplane_server.py"
    spec = importlib.util.spec_from_file_location("keyplane_server", path)
    module = sys.modules.setdefault(spec.name, importlib.util.module_from_spec(spec))
    if not hasattr(module, "start_server"):
        spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = _http_fixtures().start_server(tmp_path_factory.mktemp("keyplane"))
    yield srv
    srv.stop()


def remote(server, **overrides):
    config = {"keyplane:endpoint": server.endpoint, "keyplane:region": "eu-central-1",
              "keyplane:accessKey": server.access_key, "keyplane:secretKey": server.secret_key}
    return ProviderProcess({**config, **overrides})


def test_provider_creates_through_the_endpoint_in_the_credentials_account(server):
    with remote(server) as process:
        engine = Engine(process)
        step = engine.up(KeyProvider(), "k", {"description": "over http"}, KEY)
        assert step.outputs["arn"] == f"arn:aws:kms:eu-central-1:111122223333:key/{step.id}"
        engine.up(AliasProvider(), "a", {"name": "alias/remote", "target_key_id": step.id}, ALIAS)
        kms = server.client("kms", region="eu-central-1")
        assert kms.describe_key(KeyId="alias/remote")["KeyMetadata"]["Description"] == "over http"

        state = repr([(s.id, s.inputs, s.outputs) for s in engine.state.values()])
        assert server.secret_key not in state and server.access_key not in state
        blob = base64.b64decode(engine.state[engine.urn(KEY, "k")].outputs["__provider"])
        assert server.secret_key.encode() not in blob

        engine.destroy("a", ALIAS)
        engine.destroy("k", KEY)
        assert kms.describe_key(KeyId=step.id)["KeyMetadata"]["KeyState"] == "PendingDeletion"


def test_wrong_secret_key_is_one_line_from_the_server(server):
    with remote(server, **{"keyplane:secretKey": "not-the-secret"}) as process:
        with pytest.raises(ProviderCallFailed) as failed:
            Engine(process).up(KeyProvider(), "k", {}, KEY)
    assert failed.value.last_line.startswith(
        "keyplane.resources.base.ProviderError: InvalidSignatureException: ")
    assert "not-the-secret" not in failed.value.details


def test_another_account_is_reached_through_its_organization_access_role(server):
    """Over an endpoint a resource's `account` other than the credentials' is managed as that
    account's OrganizationAccountAccessRole (which `keyplane init` makes in its second account,
    trusting the first), as pulumi-aws reaches member accounts by assuming a role."""
    with remote(server) as process:
        engine = Engine(process)
        step = engine.up(KeyProvider(), "k", {"account": "444455556666", "description": "partner's"}, KEY)
        assert step.outputs["arn"].startswith("arn:aws:kms:eu-central-1:444455556666:key/")
        engine.destroy("k", KEY)


def test_an_account_without_the_access_role_is_refused_in_one_line(server):
    with remote(server) as process:
        with pytest.raises(ProviderCallFailed) as failed:
            Engine(process).up(KeyProvider(), "k", {"account": "999988887777"}, KEY)
    details = failed.value.details.strip()
    assert details.startswith(
        "keyplane.resources.base.ProviderError: account 999988887777: keyplane:accessKey belongs to "
        "account 111122223333, and assuming arn:aws:iam::999988887777:role/OrganizationAccountAccessRole "
        "failed (AccessDenied")
    assert details.endswith("give account 999988887777 that role, trusting 111122223333, in identities.yaml, "
                            "or name another with keyplane:accountRole")
    assert "\n" not in details

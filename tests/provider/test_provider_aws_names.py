"""pulumi-aws's argument names and shapes, accepted beside keyplane's through the real plugin
protocol: Grant `constraints` as a list of blocks, Parameter `insecure_value`, Alias and Secret
`name_prefix`, Secret `replica` and `type`; both names at once is a CheckFailure. And the policy lint: an
Action naming no operation of a served service fails the preview with its JSON path and the
nearest real action (from botocore's models)."""
from __future__ import annotations

import re

import pytest

from harness import Engine, ProviderProcess, observer
from keyplane.resources.alias import AliasProvider
from keyplane.resources.grant import GrantProvider
from keyplane.resources.key import KeyProvider
from keyplane.resources.parameter import ParameterProvider
from keyplane.resources.secret import SecretProvider

KEY, ALIAS, GRANT = "keyplane:Key", "keyplane:Alias", "keyplane:Grant"
PARAM, SECRET = "keyplane:Parameter", "keyplane:Secret"
READER = "arn:aws:iam::111122223333:role/reader"


@pytest.fixture(scope="module")
def process(tmp_path_factory):
    state = str(tmp_path_factory.mktemp("aws-names") / "state")
    with ProviderProcess({"keyplane:state": state, "keyplane:region": "us-east-1"}) as proc:
        proc.state = state
        yield proc


@pytest.fixture
def engine(process):
    return Engine(process, config={"keyplane:state": process.state, "keyplane:region": "us-east-1"})


@pytest.fixture
def conn(process):
    return observer(process.state)


def test_grant_constraints_as_pulumi_aws_list_of_blocks(engine, conn):
    """pulumi-aws aws.kms.Grant: `constraints` is a list of blocks each with
    encryption_context_equals or encryption_context_subset
    (https://www.pulumi.com/registry/packages/aws/api-docs/kms/grant/)."""
    key = engine.up(KeyProvider(), "k", {}, KEY).id
    step = engine.up(GrantProvider(), "g", {"key_id": key, "grantee_principal": READER, "operations": ["Decrypt"],
                                          "constraints": [{"encryption_context_subset": {"app": "orders"}}]}, GRANT)
    (grant,) = conn.client("kms", region="us-east-1").list_grants(KeyId=key)["Grants"]
    assert grant["Constraints"] == {"EncryptionContextSubset": {"app": "orders"}}
    assert step.outputs["constraints"] == {"encryption_context_subset": {"app": "orders"}}
    # the same constraint in either shape is no change
    again = {"key_id": key, "grantee_principal": READER, "operations": ["Decrypt"],
             "constraints": {"encryption_context_subset": {"app": "orders"}}}
    assert engine.up(GrantProvider(), "g", again, GRANT).op == "same"
    _, found, _ = engine.preview(GrantProvider(), "g2", {**again, "constraints": [
        {"encryption_context_subset": {"app": "a"}}, {"encryption_context_subset": {"app": "b"}}]}, GRANT)
    assert found == [("constraints", "constraints: encryption_context_subset is given twice with different values")]


def test_parameter_insecure_value_is_the_value_and_not_secret(engine, conn):
    """pulumi-aws aws.ssm.Parameter: exactly one of value / insecure_value; insecure_value is not
    valid with SecureString, and is an output too (https://www.pulumi.com/registry/packages/aws/api-docs/ssm/parameter/).
    Only a change of value makes a new version; tags are AddTagsToResource
    (https://docs.aws.amazon.com/systems-manager/latest/userguide/sysman-paramstore-versions.html)."""
    declared = {"name": "/app/url", "type": "String", "insecure_value": "https://x"}
    step = engine.up(ParameterProvider(), "p", declared, PARAM)
    # read back under both names, as a program written for pulumi-aws reads `param.insecure_value`
    assert step.outputs["value"] == step.outputs["insecure_value"] == "https://x"
    ssm = conn.client("ssm", region="us-east-1")
    assert ssm.get_parameter(Name="/app/url")["Parameter"]["Value"] == "https://x"
    assert engine.up(ParameterProvider(), "p", declared, PARAM).op == "same"
    # a change of tags only tags it: the output under pulumi-aws's name is no change of value
    step = engine.up(ParameterProvider(), "p", {**declared, "tags": {"team": "web"}}, PARAM)
    assert step.op == "update" and step.outputs["version"] == 1
    assert ssm.get_parameter(Name="/app/url")["Parameter"]["Version"] == 1
    secure = engine.up(ParameterProvider(), "s", {"name": "/app/pw", "type": "SecureString", "value": "pw"}, PARAM)
    assert "insecure_value" not in secure.outputs                          # never a secret in plaintext
    _, both, _ = engine.preview(ParameterProvider(), "p2", {"name": "/app/b", "type": "String", "value": "a",
                                                             "insecure_value": "b"}, PARAM)
    assert both == [("insecure_value", "insecure_value: give value or insecure_value (pulumi-aws's name for it), "
                                       "not both")]
    _, secure, _ = engine.preview(ParameterProvider(), "p3", {"name": "/app/c", "type": "SecureString",
                                                               "insecure_value": "b"}, PARAM)
    assert secure == [("insecure_value", "insecure_value: a SecureString's value is secret: give it as `value`")]


def test_alias_name_prefix_makes_a_unique_name_kept_across_updates(engine, conn):
    """pulumi-aws aws.kms.Alias name_prefix: "Creates an unique alias beginning with the specified
    prefix", conflicts with name (https://www.pulumi.com/registry/packages/aws/api-docs/kms/alias/)."""
    k1 = engine.up(KeyProvider(), "k1", {}, KEY).id
    k2 = engine.up(KeyProvider(), "k2", {}, KEY).id
    step = engine.up(AliasProvider(), "a", {"name_prefix": "alias/orders-", "target_key_id": k1}, ALIAS)
    name = step.outputs["name"]
    assert re.fullmatch(r"alias/orders-[0-9a-f]{26}", name) and step.id == name
    moved = engine.up(AliasProvider(), "a", {"name_prefix": "alias/orders-", "target_key_id": k2}, ALIAS)
    assert moved.op == "update" and moved.outputs["name"] == name
    kms = conn.client("kms", region="us-east-1")
    assert kms.describe_key(KeyId=name)["KeyMetadata"]["KeyId"] == k2
    _, both, _ = engine.preview(AliasProvider(), "b", {"name": "alias/x", "name_prefix": "alias/x-",
                                                        "target_key_id": k1}, ALIAS)
    assert both == [("name_prefix", "name_prefix: give name or name_prefix, not both")]


def test_secret_name_prefix_and_pulumi_aws_replica(engine, conn):
    """pulumi-aws aws.secretsmanager.Secret: name_prefix, and `replica` blocks {region, kms_key_id}
    (https://www.pulumi.com/registry/packages/aws/api-docs/secretsmanager/secret/)."""
    step = engine.up(SecretProvider(), "s", {"name_prefix": "db/", "secret_string": "v",
                                             "replica": [{"region": "eu-west-1"}], "recovery_window_in_days": 0},
                     SECRET)
    name = step.outputs["name"]
    assert re.fullmatch(r"db/[0-9a-f]{26}", name)
    assert step.outputs["replicas"] == step.outputs["replica"] == [{"region": "eu-west-1"}]
    described = conn.client("secretsmanager", region="us-east-1").describe_secret(SecretId=name)
    assert [r["Region"] for r in described["ReplicationStatus"]] == ["eu-west-1"]
    _, both, _ = engine.preview(SecretProvider(), "s2", {"name": "n", "replicas": [], "replica": []}, SECRET)
    assert both == [("replica", "replica: give replicas or replica (pulumi-aws's name for it), not both")]
    engine.destroy("s", SECRET)


def test_secret_type_of_a_managed_external_secret(engine, conn):
    """pulumi-aws aws.secretsmanager.Secret `type`: the partner holding a managed external secret
    (CreateSecret / UpdateSecret Type), updated in place and read back.
    https://www.pulumi.com/registry/packages/aws/api-docs/secretsmanager/secret/
    https://docs.aws.amazon.com/secretsmanager/latest/userguide/mes-partners.html"""
    sm = conn.client("secretsmanager", region="us-east-1")
    declared = {"name": "mes/bigid", "type": "BigIDClientSecret", "secret_string": "{}", "recovery_window_in_days": 0}
    step = engine.up(SecretProvider(), "s", declared, SECRET)
    assert step.outputs["type"] == "BigIDClientSecret"
    assert sm.describe_secret(SecretId="mes/bigid")["Type"] == "BigIDClientSecret"
    assert engine.up(SecretProvider(), "s", declared, SECRET).op == "same"
    step = engine.up(SecretProvider(), "s", {**declared, "type": "SalesforceClientSecret"}, SECRET)
    assert step.op == "update" and sm.describe_secret(SecretId="mes/bigid")["Type"] == "SalesforceClientSecret"
    engine.destroy("s", SECRET)


def test_an_unknown_property_gets_did_you_mean(engine):
    _, found, _ = engine.preview(KeyProvider(), "k", {"deletion_window_in_day": 7}, KEY)
    ((prop, reason),) = found
    assert prop == "deletion_window_in_day"
    assert reason.startswith("deletion_window_in_day: unknown property 'deletion_window_in_day'; "
                             "did you mean 'deletion_window_in_days'?")


def test_a_misspelt_action_fails_the_preview_with_its_path_and_the_nearest_action(engine):
    """IAM accepts any action string, so a typo allows nothing; IAM Access Analyzer's policy
    validation reports it as an unrecognized action
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/access-analyzer-reference-policy-checks.html)."""
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*",
         "Resource": "*"},
        {"Effect": "Allow", "Principal": {"AWS": READER},
         "Action": ["kms:Decrypt", "kms:Encrpyt", "kms:ReEncrypt*", "s3:GetObject"], "Resource": "*"}]}
    _, found, _ = engine.preview(KeyProvider(), "k", {"policy": policy}, KEY)
    assert found == [("policy", "policy.Statement[1].Action[1]: kms:Encrpyt names no kms action; "
                                "did you mean kms:Encrypt?")]
    secret_policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": READER}, "Action": "secretsmanager:GetSecretValu",
         "Resource": "*"}]}
    _, found, _ = engine.preview(SecretProvider(), "s", {"name": "x", "policy": secret_policy}, SECRET)
    assert found == [("policy", "policy.Statement[0].Action: secretsmanager:GetSecretValu names no "
                                "secretsmanager action; did you mean secretsmanager:GetSecretValue?")]


def test_the_lint_knows_iam_only_secrets_manager_actions():
    """secretsmanager:AcceptCrossAccountReplication is a permission, not an API operation: the
    replica's policy grants it to the primary's account, so the lint must not call it unknown.
    https://docs.aws.amazon.com/secretsmanager/latest/userguide/auth-and-access_cross-account-replication.html"""
    from keyplane.resources import lint
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
         "Action": ["secretsmanager:AcceptCrossAccountReplication", "secretsmanager:AcceptCrossAccountReplicaton"],
         "Resource": "*"}]}
    assert lint.unknown_actions(policy) == [(["Statement", 0, "Action", 1],
                                             "secretsmanager:AcceptCrossAccountReplicaton names no secretsmanager "
                                             "action; did you mean secretsmanager:AcceptCrossAccountReplication?")]

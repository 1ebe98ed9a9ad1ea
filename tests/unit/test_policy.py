"""The IAM policy language: validation against schemas/, and evaluation of every element."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from keyplane.engine.errors import MalformedPolicyDocumentException
from keyplane.engine.identity import Principal
from keyplane.engine.policy import (
    AuthzRequest, PolicyDocument, decide, default_key_policy, evaluate, parse_policy,
    principal_in_policy_grants_account, statement_allows_principal, trusted_accounts,
)
from keyplane.schemas import load_schema, schemas_dir

A, B = "111122223333", "444455556666"
KEY = f"arn:aws:kms:us-east-1:{A}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ALICE = Principal.from_arn(f"arn:aws:iam::{A}:user/alice")
BOB_B = Principal.from_arn(f"arn:aws:iam::{B}:user/bob")
SESSION = Principal.from_arn(f"arn:aws:sts::{A}:assumed-role/Admin/sess-1")
ROOT_A = Principal.root(A)
SSM = Principal(account=A, arn="ssm.amazonaws.com", type="AWSService", name="ssm.amazonaws.com")


def key_policy(*statements) -> PolicyDocument:
    return parse_policy({"Version": "2012-10-17", "Statement": list(statements)}, "key")


def identity_policy(*statements) -> PolicyDocument:
    return parse_policy({"Version": "2012-10-17", "Statement": list(statements)}, "identity")


def allow(principal="*", action="kms:*", resource="*", **extra) -> dict:
    st = {"Effect": "Allow", "Principal": principal, "Action": action, "Resource": resource}
    st.update(extra)
    return st


def req(principal=ALICE, action="kms:Encrypt", resource=KEY, **context) -> AuthzRequest:
    return AuthzRequest(principal, action, resource, context)


def cond(operator, key, value, principal=ALICE, **context):
    """Evaluates one condition against a request carrying `context`."""
    doc = key_policy(allow(Condition={operator: {key: value}}))
    return evaluate(doc, req(principal, **{k.replace("__", ":"): v for k, v in context.items()})) == "Allow"


# ---- schemas -------------------------------------------------------------------------------

def test_schemas_dir_is_the_repository_schemas_folder():
    assert (schemas_dir() / "iam-policy.schema.json").is_file()
    assert load_schema("key-policy")["allOf"][0]["$ref"] == "iam-policy.schema.json"


@pytest.mark.parametrize("kind", ["key", "identity", "secret", "trust"])
def test_every_policy_kind_references_the_one_grammar(kind):
    schema = load_schema(f"{kind}-policy")
    assert schema["allOf"] == [{"$ref": "iam-policy.schema.json"}]


# ---- validation errors name the JSON path ---------------------------------------------------

@pytest.mark.parametrize("doc, message", [
    ({"Statement": [allow(), {"Effect": "Alow", "Principal": "*", "Action": "kms:*", "Resource": "*"}]},
     "Statement[1].Effect: 'Alow' is not one of ['Allow', 'Deny']"),
    ({"Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]},
     "Statement[0]: 'Principal' is a required property"),
    ({"Statement": [allow(action=["kms:Encrypt", 5])]},
     "Statement[0].Action[1]: 5 is not of type 'string'"),
    ({"Statement": [allow(principal={"AWS": "bob"})]},
     "Statement[0].Principal.AWS: 'bob' is not a valid AWS principal"),
    ({"Statement": [allow(Condition={"StringEqualz": {"a:b": "c"}})]},
     "Statement[0].Condition: 'StringEqualz' is not a condition operator"),
    ({"Statement": [allow(NotAction="kms:Decrypt")]},
     "Statement[0].NotAction: not allowed (Action and NotAction are exclusive)"),
    ({"Statement": [allow(Condition={"NullIfExists": {"a:b": "true"}})]},
     "Statement[0].Condition: 'NullIfExists' is not a condition operator"),
    ({"Statement": allow(Effect="Maybe")}, "Statement.Effect: 'Maybe' is not one of"),
    ({"Statement": [allow()], "Version": "2020-01-01"}, "Version: '2020-01-01' is not one of"),
    ({"Statement": []}, "Statement: [] should be non-empty"),
    ({"Statment": []}, "Policy: "),
])
def test_malformed_key_policy_names_the_failing_json_path(doc, message):
    with pytest.raises(MalformedPolicyDocumentException) as exc:
        parse_policy(doc, "key")
    assert exc.value.message.startswith(message), exc.value.message
    assert exc.value.code == "MalformedPolicyDocumentException"


def test_policy_that_is_not_json_is_malformed():
    with pytest.raises(MalformedPolicyDocumentException, match="not valid JSON"):
        parse_policy('{"Statement": [', "key")


def test_identity_policy_may_not_name_a_principal():
    with pytest.raises(MalformedPolicyDocumentException, match=r"Statement\[0\].Principal: not allowed"):
        parse_policy({"Statement": [allow()]}, "identity")


def test_identity_policy_statement_needs_a_resource():
    with pytest.raises(MalformedPolicyDocumentException, match="'Resource' is a required property"):
        parse_policy({"Statement": [{"Effect": "Allow", "Action": "kms:*"}]}, "identity")


def test_trust_policy_refuses_not_principal():
    with pytest.raises(MalformedPolicyDocumentException, match=r"Statement\[0\]"):
        parse_policy({"Statement": [{"Effect": "Deny", "NotPrincipal": {"AWS": A}, "Action": "sts:AssumeRole"}]},
                     "trust")


def test_key_policy_refuses_for_all_values_on_an_encryption_context_key():
    doc = {"Statement": [allow(Condition={"ForAllValues:StringEquals": {"kms:EncryptionContext:tenant": "a"}})]}
    with pytest.raises(MalformedPolicyDocumentException, match="OverlyPermissiveCondition"):
        parse_policy(doc, "key")
    # ForAllValues on the multi-valued key list is the documented way and stays accepted.
    ok = {"Statement": [allow(Condition={"ForAllValues:StringEquals": {"kms:EncryptionContextKeys": "a"}})]}
    assert parse_policy(ok, "key").statements


def test_key_policy_statement_without_action_is_accepted_but_never_applies():
    doc = key_policy({"Effect": "Allow", "Principal": "*", "Resource": "*"})
    assert evaluate(doc, req()) is None


def test_unknown_policy_kind_is_a_programming_error():
    with pytest.raises(ValueError):
        parse_policy({"Statement": [allow()]}, "bucket")


# ---- the default key policy ----------------------------------------------------------------

def test_default_key_policy_lets_the_account_root_in_directly():
    doc = parse_policy(default_key_policy(A), "key")
    assert doc.id == "key-default-1"
    assert doc.statements[0].sid == "Enable IAM User Permissions"
    d = decide(doc, req(ROOT_A, "kms:PutKeyPolicy"))
    assert d.allowed and d.direct


def test_default_key_policy_delegates_users_of_the_account_to_iam():
    d = decide(parse_policy(default_key_policy(A), "key"), req(ALICE))
    assert d.allowed and not d.direct


def test_default_key_policy_does_not_let_another_account_in():
    assert evaluate(parse_policy(default_key_policy(A), "key"), req(BOB_B)) is None
    assert evaluate(parse_policy(default_key_policy(A), "key"), req(Principal.root(B))) is None


# ---- principals ----------------------------------------------------------------------------

@pytest.mark.parametrize("element, principal, direct", [
    ("*", BOB_B, True),
    ({"AWS": "*"}, BOB_B, True),
    ({"AWS": A}, ALICE, False),
    ({"AWS": f"arn:aws:iam::{A}:root"}, SESSION, False),
    ({"AWS": f"arn:aws:iam::{A}:user/alice"}, ALICE, True),
    ({"AWS": [f"arn:aws:iam::{B}:user/x", f"arn:aws:iam::{A}:user/alice"]}, ALICE, True),
    ({"AWS": f"arn:aws:iam::{A}:role/Admin"}, SESSION, True),
    ({"AWS": f"arn:aws:iam::{A}:role/ops/Admin"}, SESSION, True),
    ({"AWS": f"arn:aws:sts::{A}:assumed-role/Admin/sess-1"}, SESSION, True),
    ({"Service": "ssm.amazonaws.com"}, SSM, True),
])
def test_principal_element_matches(element, principal, direct):
    d = decide(key_policy(allow(principal=element)), req(principal))
    assert d.allowed and d.direct is direct


@pytest.mark.parametrize("element, principal", [
    ({"AWS": B}, ALICE),
    ({"AWS": f"arn:aws:iam::{A}:user/mallory"}, ALICE),
    ({"AWS": f"arn:aws:iam::{A}:role/Other"}, SESSION),
    ({"AWS": f"arn:aws:sts::{A}:assumed-role/Admin/other-session"}, SESSION),
    ({"AWS": f"arn:aws:iam::{A}:user/alice"}, Principal.from_arn(f"arn:aws:iam::{B}:user/alice")),
    ({"Service": "secretsmanager.amazonaws.com"}, SSM),
    ({"AWS": f"arn:aws:iam::{A}:root"}, SSM),
    ({"Federated": "cognito-identity.amazonaws.com"}, ALICE),
])
def test_principal_element_does_not_match(element, principal):
    assert evaluate(key_policy(allow(principal=element)), req(principal)) is None


def test_not_principal_deny_denies_everyone_except_those_listed():
    doc = key_policy(allow(), {"Effect": "Deny", "NotPrincipal": {"AWS": [f"arn:aws:iam::{A}:user/alice"]},
                               "Action": "kms:*", "Resource": "*"})
    assert evaluate(doc, req(ALICE)) == "Allow"
    assert evaluate(doc, req(BOB_B)) == "Deny"
    assert evaluate(doc, req(SESSION)) == "Deny"


def test_statement_allows_principal_checks_only_the_principal_element():
    st = allow(principal={"AWS": f"arn:aws:iam::{A}:root"}, action="kms:Decrypt")
    assert statement_allows_principal(st, ALICE)
    assert not statement_allows_principal(st, BOB_B)


def test_trusted_accounts_and_account_grants():
    doc = key_policy(allow(principal={"AWS": [f"arn:aws:iam::{A}:root", B]}),
                     allow(principal={"AWS": "arn:aws:iam::999988887777:user/x"}))
    assert trusted_accounts(doc) == {A, B}
    assert principal_in_policy_grants_account(doc, "999988887777")
    assert not principal_in_policy_grants_account(doc, "123456789012")


# ---- actions and resources -----------------------------------------------------------------

@pytest.mark.parametrize("pattern, action, hit", [
    ("kms:Encrypt", "kms:Encrypt", True),
    ("kms:Encrypt", "KMS:encrypt", True),
    ("KMS:ENCRYPT", "kms:Encrypt", True),
    ("kms:ReEncrypt*", "kms:ReEncryptFrom", True),
    ("kms:GenerateDataKey*", "kms:GenerateDataKeyPairWithoutPlaintext", True),
    ("kms:Get?eyPolicy", "kms:GetKeyPolicy", True),
    ("kms:Get?eyPolicy", "kms:GetKKeyPolicy", False),
    ("kms:*", "kms:Decrypt", True),
    ("*", "ssm:GetParameter", True),
    ("kms:Encrypt", "kms:EncryptX", False),
    ("kms:Describe*", "kms:Decrypt", False),
])
def test_action_wildcards_are_case_insensitive(pattern, action, hit):
    assert (evaluate(key_policy(allow(action=pattern)), req(action=action)) == "Allow") is hit


def test_not_action_allow_covers_everything_but_the_listed_actions():
    doc = key_policy({"Effect": "Allow", "Principal": "*", "NotAction": ["kms:ScheduleKeyDeletion", "kms:Put*"],
                      "Resource": "*"})
    assert evaluate(doc, req(action="kms:Encrypt")) == "Allow"
    assert evaluate(doc, req(action="kms:PutKeyPolicy")) is None
    assert evaluate(doc, req(action="kms:scheduleKeyDeletion")) is None


def test_not_action_deny_denies_everything_but_the_listed_actions():
    doc = key_policy(allow(), {"Effect": "Deny", "Principal": "*", "NotAction": "kms:Decrypt", "Resource": "*"})
    assert evaluate(doc, req(action="kms:Decrypt")) == "Allow"
    assert evaluate(doc, req(action="kms:Encrypt")) == "Deny"


@pytest.mark.parametrize("pattern, hit", [
    ("*", True),
    (KEY, True),
    (f"arn:aws:kms:*:{A}:key/*", True),
    (f"arn:aws:kms:us-east-?:{A}:key/*", True),
    (f"arn:aws:kms:*:{B}:key/*", False),
    (KEY.upper(), False),  # resources are case-sensitive
    (f"arn:aws:kms:us-east-1:{A}:alias/*", False),
])
def test_resource_wildcards(pattern, hit):
    doc = identity_policy({"Effect": "Allow", "Action": "kms:Encrypt", "Resource": pattern})
    assert (evaluate(doc, req()) == "Allow") is hit


def test_not_resource_excludes_the_listed_resources():
    doc = identity_policy({"Effect": "Allow", "Action": "kms:*", "NotResource": f"arn:aws:kms:*:{A}:key/secret-*"})
    assert evaluate(doc, req()) == "Allow"
    assert evaluate(doc, req(resource=f"arn:aws:kms:us-east-1:{A}:key/secret-1")) is None


def test_identity_policy_has_no_principal_and_applies_to_its_holder():
    doc = identity_policy({"Effect": "Allow", "Action": ["kms:Encrypt", "kms:Decrypt"], "Resource": KEY})
    d = decide(doc, req(BOB_B))
    assert d.allowed and d.direct
    assert evaluate(doc, req(BOB_B, "kms:ScheduleKeyDeletion")) is None


def test_explicit_deny_wins_over_any_allow():
    doc = key_policy(allow(principal={"AWS": f"arn:aws:iam::{A}:user/alice"}),
                     {"Effect": "Deny", "Principal": "*", "Action": "kms:Encrypt", "Resource": "*"},
                     allow())
    assert evaluate(doc, req(action="kms:Encrypt")) == "Deny"
    assert evaluate(doc, req(action="kms:Decrypt")) == "Allow"


def test_no_matching_statement_is_an_implicit_deny():
    assert evaluate(key_policy(allow(action="kms:Decrypt")), req(action="kms:Encrypt")) is None


# ---- conditions: operators -----------------------------------------------------------------

@pytest.mark.parametrize("operator, policy, value, hit", [
    ("StringEquals", "acme", "acme", True),
    ("StringEquals", "acme", "ACME", False),
    ("StringEquals", ["x", "acme"], "acme", True),
    ("StringNotEquals", "acme", "other", True),
    ("StringNotEquals", ["acme", "x"], "acme", False),
    ("StringEqualsIgnoreCase", "acme", "ACME", True),
    ("StringNotEqualsIgnoreCase", "acme", "ACME", False),
    ("StringLike", "ac*", "acme", True),
    ("StringLike", "a?me", "acme", True),
    ("StringLike", "a?me", "Acme", False),
    ("StringNotLike", "ac*", "beta", True),
    ("StringNotLike", "ac*", "acme", False),
])
def test_string_operators(operator, policy, value, hit):
    assert cond(operator, "kms:EncryptionContext:tenant", policy, kms__EncryptionContext__tenant=value) is hit


@pytest.mark.parametrize("operator, policy, value, hit", [
    ("NumericEquals", "10", 10, True),
    ("NumericEquals", 10, "10.0", True),
    ("NumericNotEquals", "10", 11, True),
    ("NumericLessThan", "10", 9, True),
    ("NumericLessThan", "10", 10, False),
    ("NumericLessThanEquals", "10", 10, True),
    ("NumericGreaterThan", "10", 11, True),
    ("NumericGreaterThan", "10", 10, False),
    ("NumericGreaterThanEquals", "10", 10, True),
    ("NumericEquals", "10", "ten", False),
])
def test_numeric_operators(operator, policy, value, hit):
    assert cond(operator, "kms:RotationPeriodInDays", policy, kms__RotationPeriodInDays=value) is hit


NOW = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("operator, policy, hit", [
    ("DateEquals", "2026-06-01T12:00:00Z", True),
    ("DateNotEquals", "2026-06-01T12:00:00Z", False),
    ("DateLessThan", "2026-06-02T00:00:00Z", True),
    ("DateLessThan", "2026-06-01T12:00:00Z", False),
    ("DateLessThanEquals", "2026-06-01T12:00:00Z", True),
    ("DateGreaterThan", "2026-01-01", True),
    ("DateGreaterThanEquals", str(int(NOW.timestamp())), True),
    ("DateGreaterThan", str(int(NOW.timestamp())), False),
])
def test_date_operators_take_iso8601_or_epoch(operator, policy, hit):
    assert cond(operator, "aws:CurrentTime", policy, aws__CurrentTime=NOW) is hit
    assert cond(operator, "aws:CurrentTime", policy, aws__CurrentTime="2026-06-01T12:00:00Z") is hit


@pytest.mark.parametrize("policy, value, hit", [
    ("true", True, True), (True, True, True), ("false", True, False), ("false", False, True),
    ("true", "TRUE", True),
])
def test_bool_operator(policy, value, hit):
    assert cond("Bool", "kms:MultiRegion", policy, kms__MultiRegion=value) is hit


def test_binary_equals_compares_base64():
    assert cond("BinaryEquals", "kms:Blob", "AAEC", kms__Blob=b"\x00\x01\x02")
    assert not cond("BinaryEquals", "kms:Blob", "AAEC", kms__Blob=b"\x00\x01\x03")


@pytest.mark.parametrize("operator, policy, ip, hit", [
    ("IpAddress", "203.0.113.0/24", "203.0.113.7", True),
    ("IpAddress", "203.0.113.0/24", "198.51.100.1", False),
    ("IpAddress", ["10.0.0.0/8", "2001:db8::/32"], "2001:db8::1", True),
    ("IpAddress", "203.0.113.0/24", "not-an-ip", False),
    ("NotIpAddress", "203.0.113.0/24", "198.51.100.1", True),
    ("NotIpAddress", "203.0.113.0/24", "203.0.113.9", False),
])
def test_ip_address_operators(operator, policy, ip, hit):
    assert cond(operator, "aws:SourceIp", policy, aws__SourceIp=ip) is hit


@pytest.mark.parametrize("operator, policy, hit", [
    ("ArnLike", f"arn:aws:iam::{A}:user/*", True),
    ("ArnEquals", f"arn:aws:iam::{A}:user/alice", True),
    ("ArnLike", f"arn:aws:iam::*:user/al?ce", True),
    ("ArnLike", f"arn:aws:iam::{B}:user/*", False),
    ("ArnLike", "arn:aws:iam::*", False),  # fewer than six parts never matches
    ("ArnNotLike", f"arn:aws:iam::{B}:*", True),
    ("ArnNotEquals", f"arn:aws:iam::{A}:user/alice", False),
])
def test_arn_operators_compare_the_six_parts(operator, policy, hit):
    assert cond(operator, "aws:PrincipalArn", policy) is hit


def test_arn_like_wildcard_does_not_cross_a_colon_boundary():
    # "*" in the account part must not swallow the service part.
    assert not cond("ArnLike", "aws:PrincipalArn", "arn:aws:*:user/alice")


def test_null_operator_tests_presence():
    assert cond("Null", "kms:EncryptionContext:tenant", "true")
    assert not cond("Null", "kms:EncryptionContext:tenant", "false")
    assert cond("Null", "kms:EncryptionContext:tenant", "false", kms__EncryptionContext__tenant="a")
    assert not cond("Null", "kms:EncryptionContext:tenant", "true", kms__EncryptionContext__tenant="a")


# ---- conditions: missing keys, IfExists, set operators --------------------------------------

@pytest.mark.parametrize("operator, hit", [
    ("StringEquals", False), ("StringLike", False), ("NumericLessThan", False), ("Bool", False),
    ("ArnLike", False), ("IpAddress", False), ("DateLessThan", False),
    ("StringNotEquals", True), ("StringNotLike", True), ("ArnNotLike", True), ("NotIpAddress", True),
    ("NumericNotEquals", True),
    ("StringEqualsIfExists", True), ("StringNotEqualsIfExists", True), ("BoolIfExists", True),
    ("ForAnyValue:StringEquals", False), ("ForAllValues:StringEquals", True),
    ("ForAnyValue:StringEqualsIfExists", True),
])
def test_missing_key_semantics(operator, hit):
    value = "10.0.0.0/8" if "Ip" in operator else ("5" if "Numeric" in operator or "Date" in operator else "x")
    assert cond(operator, "kms:Missing", value) is hit


def test_if_exists_evaluates_normally_when_the_key_is_present():
    assert cond("StringEqualsIfExists", "kms:ViaService", "ssm.us-east-1.amazonaws.com",
                kms__ViaService="ssm.us-east-1.amazonaws.com")
    assert not cond("StringEqualsIfExists", "kms:ViaService", "ssm.us-east-1.amazonaws.com",
                    kms__ViaService="secretsmanager.us-east-1.amazonaws.com")


@pytest.mark.parametrize("operator, request_values, hit", [
    ("ForAnyValue:StringEquals", ["tenant", "other"], True),
    ("ForAnyValue:StringEquals", ["other"], False),
    ("ForAnyValue:StringEquals", [], False),
    ("ForAllValues:StringEquals", ["tenant", "purpose"], True),
    ("ForAllValues:StringEquals", ["tenant", "other"], False),
    ("ForAllValues:StringEquals", [], True),
    ("ForAllValues:StringLike", ["tenant", "purpose"], True),
    ("ForAnyValue:StringNotEquals", ["tenant", "other"], True),
    ("ForAllValues:StringNotEquals", ["other", "more"], True),
    ("ForAllValues:StringNotEquals", ["tenant", "more"], False),
])
def test_set_operators_on_multi_valued_keys(operator, request_values, hit):
    policy = ["te*", "purpose"] if "Like" in operator else ["tenant", "purpose"]
    assert cond(operator, "kms:EncryptionContextKeys", policy, kms__EncryptionContextKeys=request_values) is hit


def test_conditions_in_one_block_are_anded_and_values_ored():
    doc = key_policy(allow(Condition={
        "StringEquals": {"kms:CallerAccount": A, "kms:ViaService": ["ssm.us-east-1.amazonaws.com",
                                                                     "secretsmanager.us-east-1.amazonaws.com"]},
        "Bool": {"kms:MultiRegion": "false"}}))
    good = {"kms:CallerAccount": A, "kms:ViaService": "secretsmanager.us-east-1.amazonaws.com",
            "kms:MultiRegion": False}
    assert evaluate(doc, AuthzRequest(ALICE, "kms:Decrypt", KEY, good)) == "Allow"
    assert evaluate(doc, AuthzRequest(ALICE, "kms:Decrypt", KEY, {**good, "kms:MultiRegion": True})) is None
    assert evaluate(doc, AuthzRequest(ALICE, "kms:Decrypt", KEY, {**good, "kms:CallerAccount": B})) is None


def test_condition_key_names_are_case_insensitive_but_values_are_not():
    doc = key_policy(allow(Condition={"StringEquals": {"KMS:ENCRYPTIONCONTEXT:Tenant": "acme"}}))
    assert evaluate(doc, req(**{"kms:EncryptionContext:tenant": "acme"})) == "Allow"
    assert evaluate(doc, req(**{"kms:encryptioncontext:TENANT": "ACME"})) is None


def test_principal_condition_keys_come_from_the_caller():
    doc = key_policy(allow(Condition={"StringEquals": {"aws:PrincipalAccount": A, "aws:PrincipalType": "User",
                                                       "aws:username": "alice"}}))
    assert evaluate(doc, req(ALICE)) == "Allow"
    assert evaluate(doc, req(SESSION)) is None


def test_role_session_principal_arn_key_is_the_role_arn():
    assert cond("ArnEquals", "aws:PrincipalArn", f"arn:aws:iam::{A}:role/Admin", principal=SESSION)


def test_principal_tags_are_condition_keys():
    tagged = Principal(account=A, arn=f"arn:aws:iam::{A}:user/t", type="IAMUser", name="t", tags={"Team": "blue"})
    assert cond("StringEquals", "aws:PrincipalTag/team", "blue", principal=tagged)
    assert not cond("StringEquals", "aws:PrincipalTag/team", "red", principal=tagged)


# ---- policy variables ----------------------------------------------------------------------

def test_username_variable_in_resource():
    doc = identity_policy({"Effect": "Allow", "Action": "kms:*",
                           "Resource": f"arn:aws:kms:*:{A}:alias/${{aws:username}}-*"})
    assert evaluate(doc, req(resource=f"arn:aws:kms:us-east-1:{A}:alias/alice-app")) == "Allow"
    assert evaluate(doc, req(resource=f"arn:aws:kms:us-east-1:{A}:alias/bob-app")) is None
    # A role session has no aws:username: the variable has no value, so the resource never matches.
    assert evaluate(doc, req(SESSION, resource=f"arn:aws:kms:us-east-1:{A}:alias/-app")) is None


def test_variable_in_condition_value():
    doc = key_policy(allow(Condition={"StringEquals": {"kms:EncryptionContext:owner": "${aws:username}"}}))
    assert evaluate(doc, req(**{"kms:EncryptionContext:owner": "alice"})) == "Allow"
    assert evaluate(doc, req(**{"kms:EncryptionContext:owner": "${aws:username}"})) is None


def test_substituted_variable_is_literal_in_string_like():
    star = Principal(account=A, arn=f"arn:aws:iam::{A}:user/a", type="IAMUser", name="*")
    doc = key_policy(allow(Condition={"StringLike": {"kms:EncryptionContext:owner": "${aws:username}"}}))
    assert evaluate(doc, req(star, **{"kms:EncryptionContext:owner": "*"})) == "Allow"
    assert evaluate(doc, req(star, **{"kms:EncryptionContext:owner": "anything"})) is None


def test_variable_default_value_is_used_when_missing():
    doc = key_policy(allow(Condition={"StringEquals": {"kms:EncryptionContext:owner": "${aws:username, 'none'}"}}))
    assert evaluate(doc, req(SESSION, **{"kms:EncryptionContext:owner": "none"})) == "Allow"


# ---- wildcards in linear time --------------------------------------------------------------

def _glob(pattern: str, value: str) -> bool:
    """The IAM wildcard rule spelled out: `*` any run of characters (none too), `?` any one."""
    if not pattern:
        return not value
    if pattern[0] == "*":
        return any(_glob(pattern[1:], value[i:]) for i in range(len(value) + 1))
    return bool(value) and pattern[0] in ("?", value[0]) and _glob(pattern[1:], value[1:])


def test_wildcards_mean_what_the_iam_reference_says_for_every_short_pattern():
    """"You can use wildcard characters (* and ?) within any ARN segment ... An asterisk (*)
    represents any combination of zero or more characters, and a question mark (?) represents any
    single character" (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html).
    Every pattern of up to five of a, b, *, ? against every value of up to five of a, b: the
    linear-time form keyplane compiles agrees with the rule, for resources and StringLike alike."""
    import itertools
    patterns = ["".join(p) for n in range(6) for p in itertools.product("ab*?", repeat=n)]
    values = ["".join(v) for n in range(6) for v in itertools.product("ab", repeat=n)]
    from keyplane.engine.policy_match import NameSet, wildcard
    for pattern in patterns:
        one, in_a_set = wildcard(pattern), NameSet(["x*y*z", pattern], lower=False)
        for value in values:
            assert one(value) is in_a_set(value) is _glob(pattern, value), (pattern, value)


def test_a_many_star_pattern_against_a_long_caller_value_is_decided_at_once():
    """`*a*a*a*a*b` as a .* regex against 800 a's took 8.6 s of backtracking on the event loop
    (~n^(stars-1) steps); the value is the caller's own (here an encryption context value, which
    StringLike compares as the condition operators reference describes,
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_String)."""
    import time
    started = time.process_time()
    doc = key_policy(allow(Condition={"StringLike": {"kms:EncryptionContext:app": ["*a*a*a*a*b", "x*${aws:username}*a*a*b"]}}))
    res = identity_policy({"Effect": "Allow", "Action": "kms:*", "Resource": "arn:aws:kms:*:*:key/*a*a*a*a*b"})
    for n in (800, 50_000):
        assert evaluate(doc, req(**{"kms:EncryptionContext:app": "a" * n})) is None
        assert evaluate(doc, req(**{"kms:EncryptionContext:app": "a" * n + "b"})) == "Allow"
        assert evaluate(res, req(resource=f"arn:aws:kms:us-east-1:{A}:key/" + "a" * n)) is None
    assert time.process_time() - started < 1.0


# ---- caching and speed ---------------------------------------------------------------------

def test_compiled_documents_are_cached_per_kind_and_text():
    text = default_key_policy(A)
    assert parse_policy(text, "key") is parse_policy(text, "key")
    assert parse_policy(text, "key") is not parse_policy(text, "secret")
    assert parse_policy(json.loads(text), "key") is parse_policy(json.loads(text), "key")


def test_policy_text_is_kept_verbatim():
    text = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}]}'
    assert parse_policy(text, "key").text == text


def twenty_statement_policy() -> PolicyDocument:
    statements = [{"Sid": "Enable IAM User Permissions", "Effect": "Allow",
                   "Principal": {"AWS": f"arn:aws:iam::{A}:root"}, "Action": "kms:*", "Resource": "*"}]
    for i in range(19):
        statements.append({
            "Sid": f"s{i}", "Effect": "Deny" if i % 5 == 0 else "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{A}:user/user{i}"},
            "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*"],
            "Resource": "*",
            "Condition": {"StringEquals": {"kms:EncryptionContext:tenant": f"t{i}", "kms:CallerAccount": A},
                          "StringLike": {"kms:ViaService": "*.amazonaws.com"}}})
    return key_policy(*statements)


def test_callable_context_values_are_computed_once_and_only_when_asked():
    calls = []

    def aliases():
        calls.append(1)
        return ["alias/app"]
    doc = key_policy(allow(Condition={"ForAnyValue:StringEquals": {"kms:ResourceAliases": "alias/app"}}))
    r = req(**{"kms:ResourceAliases": aliases})
    assert evaluate(doc, r) == "Allow" and evaluate(doc, r) == "Allow"
    assert calls == [1]
    assert evaluate(key_policy(allow()), req(**{"kms:ResourceAliases": aliases})) == "Allow"
    assert calls == [1]


def test_a_family_of_keys_can_come_as_one_lazy_entry():
    calls = []

    def tags():
        calls.append(1)
        return {"team": "blue"}
    doc = key_policy(allow(Condition={"StringEquals": {"aws:ResourceTag/Team": "blue"}}))
    assert evaluate(doc, req(**{"aws:resourcetag/": tags})) == "Allow"
    assert evaluate(doc, req(**{"aws:resourcetag/": {"team": "red"}})) is None
    assert evaluate(doc, req()) is None
    assert calls == [1]


def test_decisions_are_memoised_per_policy_but_not_when_time_is_read():
    doc = key_policy(allow(Condition={"StringEquals": {"kms:EncryptionContext:tenant": "a"}}))
    assert doc.memo_keys == ("kms:encryptioncontext:tenant",)
    first = decide(doc, req(**{"kms:EncryptionContext:tenant": "a"}))
    assert decide(doc, req(**{"kms:EncryptionContext:tenant": "a"})) is first
    assert decide(doc, req(**{"kms:EncryptionContext:tenant": "b"})).effect is None
    timed = key_policy(allow(Condition={"DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}}))
    assert timed.memo_keys is None
    assert evaluate(timed, req(**{"aws:CurrentTime": "2029-12-31T23:59:59Z"})) == "Allow"
    assert evaluate(timed, req(**{"aws:CurrentTime": "2030-01-01T00:00:01Z"})) is None


def test_trust_policy_statements_apply_to_the_role_without_a_resource():
    trust = parse_policy({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{B}:root"}, "Action": "sts:AssumeRole"}]}, "trust")
    role = f"arn:aws:iam::{A}:role/Ops"
    assert decide(trust, req(BOB_B, "sts:AssumeRole", role)).allowed
    assert evaluate(trust, req(ALICE, "sts:AssumeRole", role)) is None

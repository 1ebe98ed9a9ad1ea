"""A member's `pattern` from the service model is applied to the whole value, as AWS's services
apply it (Java's Matcher.matches), not searched for somewhere inside it.

Smithy's pattern trait is unanchored, so a search of '[\\w+=,.@-]*' finds an empty match in any
value and refused nothing; AWS refuses 'a:b', 'PowerUser/hjacobs' and 'dependabot[bot]' as role
session names, each with the pattern in its message (quoted from AWS in
JuliaCloud/AWSCore.jl#38, zalando-stups/aws-credentials-service#7,
aws-actions/configure-aws-credentials#1306).
"""
from __future__ import annotations

import json
from urllib.parse import quote

import pytest

FORM = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}


def _assume_role(wire, session_name: str):
    form = ("Action=AssumeRole&Version=2011-06-15&RoleArn=arn:aws:iam::111122223333:role/any"
            f"&RoleSessionName={quote(session_name, safe='')}")
    return wire.send(body=form.encode(), headers=FORM, signing_service="sts")


@pytest.mark.parametrize("name", ["a:b", "PowerUser/hjacobs", "dependabot[bot]", "my session"])
def test_a_role_session_name_with_a_character_outside_the_pattern_is_refused(wire, name):
    """STS AssumeRole, RoleSessionName: "The regex used to validate this parameter is a string of
    characters consisting of upper- and lower-case alphanumeric characters with no spaces. You can
    also include underscores or any of the following characters: =,.@-"
    (https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html). AWS's answer, as
    quoted in JuliaCloud/AWSCore.jl#38: ValidationError, "1 validation error detected: Value 'a:b'
    at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression
    pattern: [\\w+=,.@-]*"."""
    answer = _assume_role(wire, name)
    assert answer.status == 400
    assert b"<Code>ValidationError</Code>" in answer.raw
    expected = (f"1 validation error detected: Value '{name}' at 'roleSessionName' failed to satisfy "
                "constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*")
    assert expected.encode() in answer.raw.replace(b"&apos;", b"'")


def test_a_role_session_name_the_pattern_takes_is_not_refused_by_it(wire):
    """The same pattern takes letters, digits and =,.@- (API_AssumeRole.html, above): the answer
    is about the role, not the name."""
    answer = _assume_role(wire, "ci-run_7=a,b.c@d")
    assert b"roleSessionName" not in answer.raw


def test_a_key_policy_with_a_character_past_latin_1_is_a_validation_error(wire):
    """CreateKey, Policy: "The key policy document can include only the following characters:
    Printable ASCII characters from the space character (\\u0020) through the end of the ASCII
    character range. Printable characters in the Basic Latin and Latin-1 Supplement character set
    (through \\u00FF). The tab (\\u0009), line feed (\\u000A), and carriage return (\\u000D) special
    characters" (https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateKey.html); the model
    holds this as the pattern [\\u0009\\u000A\\u000D\\u0020-\\u00FF]+. A euro sign in a Sid is
    outside it: nothing is created."""
    policy = {"Version": "2012-10-17", "Statement": [{
        "Sid": "price in \u20ac", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
        "Action": "kms:*", "Resource": "*"}]}
    before = wire.call("kms", "ListKeys", {}).body["Keys"]
    answer = wire.call("kms", "CreateKey", {"Policy": json.dumps(policy, ensure_ascii=False)})
    status, code, message = answer.error()
    assert (status, code) == (400, "ValidationException")
    assert message.startswith("1 validation error detected: Value '")
    assert message.endswith("' at 'policy' failed to satisfy constraint: Member must satisfy regular "
                            "expression pattern: [\\u0009\\u000A\\u000D\\u0020-\\u00FF]+")
    assert wire.call("kms", "ListKeys", {}).body["Keys"] == before


def test_a_key_policy_in_latin_1_is_taken(wire):
    """The same rule takes every character through \\u00FF, tab and line breaks included
    (API_CreateKey.html, above)."""
    policy = {"Version": "2012-10-17", "Statement": [{
        "Sid": "caf\u00e9 \u00ff", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
        "Action": "kms:*", "Resource": "*"}]}
    text = json.dumps(policy, ensure_ascii=False, indent="\t").replace("\n", "\r\n")
    answer = wire.call("kms", "CreateKey", {"Policy": text})
    assert answer.status == 200, answer.body

"""BatchGetSecretValue's per-secret Errors list and GetRandomPassword's documented character sets
and limits, as raw answers."""
from __future__ import annotations

import json
import string

import pytest

from .sm_wire import assert_error

MARKED_FOR_DELETION = "You can't perform this operation on the secret because it was marked for deletion."
NOT_FOUND = "Secrets Manager can't find the specified secret."
# "The following are the punctuation characters that can be included in the generated password"
PUNCTUATION = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"


# ---- BatchGetSecretValue ----------------------------------------------------------------------

def test_each_secret_that_cannot_be_read_is_an_entry_of_errors_not_a_failure(sm):
    """"Errors: A list of errors Secrets Manager encountered while attempting to retrieve individual
    secrets" — each an APIErrorType {SecretId, ErrorCode, Message}, the SecretId as the caller gave
    it; ErrorCode "for example ResourceNotFoundException, InvalidParameterException,
    InvalidRequestException, DecryptionFailure, or AccessDeniedException". The call itself is 200
    and returns the readable secrets in SecretValues, with GetSecretValue's members.
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_BatchGetSecretValue.html
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_APIErrorType.html
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_SecretValueEntry.html"""
    live = sm.create("batch/live", "v1")
    sm.create("batch/doomed", "v2")
    sm.ok("DeleteSecret", {"SecretId": "batch/doomed", "RecoveryWindowInDays": 7})
    answer = sm("BatchGetSecretValue", {"SecretIdList": ["batch/live", "batch/missing", "batch/doomed"]})
    assert answer.status == 200, answer.body
    assert set(answer.body) == {"SecretValues", "Errors"}
    [value] = answer.body["SecretValues"]
    assert set(value) == {"ARN", "Name", "VersionId", "SecretString", "VersionStages", "CreatedDate"}
    assert (value["ARN"], value["SecretString"], value["VersionStages"]) == (live["ARN"], "v1", ["AWSCURRENT"])
    assert answer.body["Errors"] == [
        {"SecretId": "batch/missing", "ErrorCode": "ResourceNotFoundException", "Message": NOT_FOUND},
        {"SecretId": "batch/doomed", "ErrorCode": "InvalidRequestException", "Message": MARKED_FOR_DELETION},
    ]


def test_a_secret_the_caller_may_not_read_is_access_denied_in_errors(engine, clocked):
    """"you must have secretsmanager:GetSecretValue for each secret": one the caller may not read
    is an AccessDeniedException entry of Errors, and its value is not in the answer (the caller is
    the account's root: an explicit Deny in the secret's resource policy still wins).
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_BatchGetSecretValue.html"""
    clocked.create("batch/open", "readable")
    arn = clocked.create("batch/closed", "s3cr3t")["ARN"]
    deny = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Principal": {"AWS": "*"},
                                                    "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]}
    clocked.ok("PutResourcePolicy", {"SecretId": arn, "ResourcePolicy": json.dumps(deny)})
    answer = clocked("BatchGetSecretValue", {"SecretIdList": ["batch/open", "batch/closed"]})
    assert answer.status == 200, answer.body
    assert [v["Name"] for v in answer.body["SecretValues"]] == ["batch/open"]
    [error] = answer.body["Errors"]
    assert (error["SecretId"], error["ErrorCode"]) == ("batch/closed", "AccessDeniedException")
    assert "s3cr3t" not in str(answer.body)


def test_nothing_to_read_is_an_empty_answer_with_empty_errors(sm):
    """Filters that match nothing: 200 with SecretValues [] and Errors [] (the members are there,
    empty, as in the CLI's examples).
    https://docs.aws.amazon.com/cli/latest/reference/secretsmanager/batch-get-secret-value.html"""
    answer = sm("BatchGetSecretValue", {"Filters": [{"Key": "name", "Values": ["nothing-here"]}]})
    assert (answer.status, answer.body) == (200, {"SecretValues": [], "Errors": []})


@pytest.mark.parametrize("body", [
    {},
    {"SecretIdList": ["batch/x"], "Filters": [{"Key": "name", "Values": ["batch"]}]},
    {"SecretIdList": ["batch/x"], "MaxResults": 5},
])
def test_ids_and_filters_are_one_or_the_other(sm, body):
    """"You must include Filters or SecretIdList, but not both"; MaxResults: "To use this
    parameter, you must also use the Filters parameter" — InvalidParameterException.
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_BatchGetSecretValue.html"""
    assert_error(sm("BatchGetSecretValue", body), "InvalidParameterException")


# ---- GetRandomPassword ------------------------------------------------------------------------

def test_the_default_password_is_32_characters_with_every_type(sm):
    """PasswordLength: "The default length is 32 characters"; RequireEachIncludedType: "If you
    don't include this switch, the password contains at least one of every character type"; no
    space unless IncludeSpace. Only RandomPassword is returned.
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_GetRandomPassword.html"""
    for _ in range(20):
        answer = sm("GetRandomPassword")
        assert answer.status == 200 and set(answer.body) == {"RandomPassword"}, answer.body
        pw = answer.body["RandomPassword"]
        assert len(pw) == 32 and " " not in pw
        for chars in (string.ascii_lowercase, string.ascii_uppercase, string.digits, PUNCTUATION):
            assert any(c in chars for c in pw), pw
        assert set(pw) <= set(string.ascii_letters + string.digits + PUNCTUATION)


def test_exclusions_and_the_space_are_honoured(sm):
    """ExcludeCharacters, ExcludeNumbers, ExcludePunctuation, IncludeSpace, RequireEachIncludedType.
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_GetRandomPassword.html"""
    pw = sm.ok("GetRandomPassword", {"PasswordLength": 200, "ExcludeNumbers": True, "ExcludePunctuation": True,
                                     "ExcludeCharacters": "abcXYZ", "IncludeSpace": True})["RandomPassword"]
    assert len(pw) == 200 and " " in pw
    assert not set(pw) & set(string.digits + PUNCTUATION + "abcXYZ")
    pw = sm.ok("GetRandomPassword", {"PasswordLength": 4096, "ExcludeUppercase": True,
                                     "ExcludeLowercase": True})["RandomPassword"]
    assert len(pw) == 4096 and set(pw) <= set(string.digits + PUNCTUATION)


@pytest.mark.parametrize("length, bound", [(0, "greater than or equal to 1"), (4097, "less than or equal to 4096")])
def test_a_length_outside_1_to_4096_is_a_validation_exception(sm, length, bound):
    """PasswordLength: "Valid Range: Minimum value of 1. Maximum value of 4096." — the input
    constraint, answered as ValidationException in the common form.
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_GetRandomPassword.html
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/CommonErrors.html"""
    assert_error(sm("GetRandomPassword", {"PasswordLength": length}), "ValidationException",
                 f"1 validation error detected: Value '{length}' at 'passwordLength' failed to satisfy constraint: "
                 f"Member must have value {bound}")


def test_excluding_every_character_is_refused_not_a_fault(sm):
    """With every character type excluded there is nothing to draw from: a 400 of the operation's
    listed errors (InvalidParameterException), never a hang or a 5xx. AWS's text for it is not
    public; keyplane's is its own.
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_GetRandomPassword.html"""
    for body in ({"ExcludeNumbers": True, "ExcludePunctuation": True, "ExcludeUppercase": True,
                  "ExcludeLowercase": True},
                 {"ExcludeCharacters": string.ascii_letters + string.digits + PUNCTUATION}):
        assert_error(sm("GetRandomPassword", body), "InvalidParameterException")

"""`/aws/reference/secretsmanager/<secret>`: Parameter Store answering with a Secrets Manager secret,
as https://docs.aws.amazon.com/systems-manager/latest/userguide/integration-ps-secretsmanager.html
documents it."""
from __future__ import annotations

import json
import uuid

DOC = "https://docs.aws.amazon.com/systems-manager/latest/userguide/integration-ps-secretsmanager.html"


def _secret(wire, name, value):
    r = wire.call("secretsmanager", "CreateSecret", {"Name": name, "SecretString": value,
                                                      "ClientRequestToken": str(uuid.uuid4())})
    assert r.status == 200, r.body
    return r.body


def test_reference_answers_with_the_secret_and_its_source_result(wire):
    """The documented answer: Name is the reference without a selector, Type SecureString, the value,
    the secret's ARN, and SourceResult = GetSecretValue's answer as JSON text (CreatedDate in epoch
    seconds); no Version member. """ + DOC
    made = _secret(wire, "s1-secret", "Fl*MEishm!al875")
    r = wire.call("ssm", "GetParameter", {"Name": "/aws/reference/secretsmanager/s1-secret", "WithDecryption": True})
    assert r.status == 200, r.body
    p = r.body["Parameter"]
    assert p["Name"] == "/aws/reference/secretsmanager/s1-secret"
    assert (p["Type"], p["Value"], p["ARN"]) == ("SecureString", "Fl*MEishm!al875", made["ARN"])
    assert "Version" not in p and "Selector" not in p
    source = json.loads(p["SourceResult"])
    assert set(source) == {"CreatedDate", "Name", "VersionId", "SecretString", "VersionStages", "ARN"}
    assert isinstance(source["CreatedDate"], float)
    assert (source["Name"], source["VersionId"], source["SecretString"], source["VersionStages"], source["ARN"]) == \
        ("s1-secret", made["VersionId"], "Fl*MEishm!al875", ["AWSCURRENT"], made["ARN"])


def test_reference_with_a_stage_or_version_id_carries_the_selector_apart(wire):
    """A version stage or version ID after `:` selects the version; the answer's Name has no selector
    and Selector holds it. """ + DOC
    made = _secret(wire, "s2-secret", "v1")
    for selector in ("AWSCURRENT", made["VersionId"]):
        r = wire.call("ssm", "GetParameter", {"Name": f"/aws/reference/secretsmanager/s2-secret:{selector}",
                                              "WithDecryption": True})
        assert r.status == 200, r.body
        p = r.body["Parameter"]
        assert (p["Name"], p["Selector"], p["Value"]) == ("/aws/reference/secretsmanager/s2-secret", f":{selector}", "v1")
        assert json.loads(p["SourceResult"])["VersionId"] == made["VersionId"]


def test_reference_to_a_missing_secret_is_parameter_not_found(wire):
    """A reference to a secret Secrets Manager does not hold is ParameterNotFound (HTTP 400,
    https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_GetParameter.html#API_GetParameter_Errors)
    in AWS's words, the reference named without its leading slash and "null" for the selector not given
    (AWS's answer quoted in https://github.com/aws/aws-dotnet-extensions-configuration/issues/199);
    GetParameters lists it as invalid."""
    r = wire.call("ssm", "GetParameter", {"Name": "/aws/reference/secretsmanager/nope", "WithDecryption": True})
    assert r.error() == (400, "ParameterNotFound", "An error occurred (ParameterNotFound) when referencing Secrets "
                                                   "Manager: Secret aws/reference/secretsmanager/nopenull not found.")
    r = wire.call("ssm", "GetParameters", {"Names": ["/aws/reference/secretsmanager/nope"], "WithDecryption": True})
    assert r.status == 200 and r.body["InvalidParameters"] == ["/aws/reference/secretsmanager/nope"]


def test_reference_without_decryption_is_refused(wire):
    """A Secrets Manager reference is read with WithDecryption true (every example of
    https://docs.aws.amazon.com/systems-manager/latest/userguide/integration-ps-secretsmanager.html);
    without it AWS answers ValidationException "WithDecryption flag must be True for retrieving a Secret
    Manager secret." (quoted in https://github.com/sous-chefs/aws/issues/419)."""
    _secret(wire, "plain-secret", "v")
    for params in ({}, {"WithDecryption": False}):
        r = wire.call("ssm", "GetParameter", {"Name": "/aws/reference/secretsmanager/plain-secret", **params})
        assert r.error() == (400, "ValidationException",
                             "WithDecryption flag must be True for retrieving a Secret Manager secret.")

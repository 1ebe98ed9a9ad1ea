"""Every Secrets Manager operation answers only with errors AWS lists for it, always with HTTP 400
and a Message, and never with a 5xx.

Each operation's "Errors" section in the API reference
(https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_Operations.html) is the `errors`
list of the operation in botocore's model; the common errors
(https://docs.aws.amazon.com/secretsmanager/latest/apireference/CommonErrors.html) may come from any.
Every operation is driven with its members filled against secrets in every state keyplane has — a
missing one, a live one, one without a value, one scheduled for deletion, a name that cannot be a
name — with and without the values, tokens and labels a raw client might leave out.
"""
from __future__ import annotations

import json
import uuid

import pytest

from keyplane.engine.apimodel import service_model

COMMON = {"ValidationException", "SerializationException", "AccessDeniedException", "ThrottlingException",
          "UnknownOperationException"}
POLICY = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"},
                                                              "Action": "secretsmanager:GetSecretValue",
                                                              "Resource": "*"}]})


def _bodies(op: str, shape, secret_id: str) -> list[dict]:
    """Requests for `op`: the required members alone, then with the optional ones a client sends."""
    if shape is None:
        return [{}]
    base = {}
    for name in shape.required_members:
        if name == "SecretId":
            base[name] = secret_id
        elif name == "Name":
            base[name] = "errlist/" + uuid.uuid4().hex[:8]
        elif name == "ResourcePolicy":
            base[name] = POLICY
        elif name == "Tags":
            base[name] = [{"Key": "k", "Value": "v"}]
        elif name == "TagKeys":
            base[name] = ["k"]
        elif name == "VersionStage":
            base[name] = "AWSCURRENT"
        elif name == "AddReplicaRegions":
            base[name] = [{"Region": "us-west-2"}]
        elif name == "RemoveReplicaRegions":
            base[name] = ["us-west-2"]
        else:
            base[name] = "x"
    members = shape.members
    fuller = dict(base)
    if "SecretString" in members:
        fuller["SecretString"] = "value"
    if "ClientRequestToken" in members:
        fuller["ClientRequestToken"] = str(uuid.uuid4())
    if "SecretId" in members and "SecretId" not in base:
        fuller["SecretId"] = secret_id
    if "MoveToVersionId" in members:
        fuller["MoveToVersionId"] = str(uuid.uuid4())
    if "RotationLambdaARN" in members:
        fuller["RotationLambdaARN"] = "keyplane:not-a-rotator"
    if "VersionId" in members:
        fuller["VersionId"] = str(uuid.uuid4())
    if "Filters" in members:
        fuller["Filters"] = [{"Key": "name", "Values": ["errlist"]}]
    if "SecretIdList" in members:
        fuller["SecretIdList"] = [secret_id]
    return [base, fuller]


@pytest.fixture
def secret_ids(sm):
    live = sm.create("errlist/live", "v")["ARN"]
    sm.create("errlist/empty", value=None)
    doomed = sm.create("errlist/doomed", "v")["ARN"]
    sm.ok("DeleteSecret", {"SecretId": doomed, "RecoveryWindowInDays": 7})
    return {"missing": "errlist/missing", "missing-arn": live[:-6] + "ZZZZZZ", "live": live,
            "no-value": "errlist/empty", "scheduled-for-deletion": doomed, "invalid-name": "bad name;"}


def test_every_refusal_is_listed_for_its_operation_400_with_a_message(sm, secret_ids):
    model = service_model("secretsmanager")
    wrong = []
    for op in model.operation_names:
        operation = model.operation_model(op)
        allowed = {e.name for e in operation.error_shapes} | COMMON
        for kind, secret_id in secret_ids.items():
            for body in _bodies(op, operation.input_shape, secret_id):
                answer = sm(op, body)
                if answer.status >= 500 or (answer.code and (answer.code not in allowed or answer.status != 400
                                                             or not answer.message)):
                    wrong.append((op, kind, sorted(body), answer.status, answer.code, answer.message))
    assert wrong == []

"""No request of any kind produces a 5xx: every operation of KMS and Parameter Store driven with
bodies built from its model - members present, missing, null, of the wrong JSON type, out of range,
hostile strings - answers 200 or 4xx, in KMS, Parameter Store and Secrets Manager.

The wire layer also refuses what the model cannot hold: a null inside a list is "Member must not
be null" (as for a map value), a timestamp no calendar holds is a SerializationException.
"""
import json
import random
import string

import pytest

from keyplane.engine.apimodel import service_model

WORDS = ["", "x", "*", "/", "//", "alias/", "alias/aws/", "arn:aws:kms:us-east-1:111122223333:key/", "/p/1",
         "arn:aws:secretsmanager:us-east-1:111122223333:secret:/p/1", "AWSCURRENT", "us-west-2",
         "\u0000", "a" * 300, "\U0001f642", "aws:", "null", "-1", "{", "[]", "SYMMETRIC_DEFAULT"]


def _value(rnd, shape, depth=0):
    t = shape.type_name
    roll = rnd.random()
    if roll < 0.05:
        return None
    if roll < 0.1:
        return rnd.choice([1, "s", [], {}, True, 1.5])
    if t == "string":
        if shape.enum and rnd.random() < 0.6:
            return rnd.choice(shape.enum)
        if rnd.random() < 0.7:
            return rnd.choice(WORDS)
        return "".join(rnd.choice(string.printable) for _ in range(rnd.randint(0, 40)))
    if t in ("integer", "long"):
        return rnd.choice([0, 1, -1, 2 ** 31, 7, 30, 1024, 100000])
    if t == "boolean":
        return rnd.random() < 0.5
    if t == "blob":
        return rnd.choice(["", "eA==", "AAAA" * 50, "!!"])
    if t == "timestamp":
        return rnd.choice([0, 1e12, -1e12, "2020-01-01T00:00:00Z", "x"])
    if t in ("double", "float"):
        return rnd.choice([0.0, -1.0, 1e308])
    if depth > 3:
        return None
    if t == "list":
        return [_value(rnd, shape.member, depth + 1) for _ in range(rnd.randint(0, 3))]
    if t == "map":
        return {rnd.choice(WORDS): _value(rnd, shape.value, depth + 1) for _ in range(rnd.randint(0, 3))}
    out = {}
    for name, member in shape.members.items():
        if name in shape.required_members or rnd.random() < 0.4:
            v = _value(rnd, member, depth + 1)
            if v is not None:
                out[name] = v
    return out


@pytest.mark.parametrize("service", ["kms", "ssm", "secretsmanager"])
@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_model_shaped_hostile_bodies_never_get_a_5xx(wire, service, seed):
    rnd = random.Random(seed)
    wire.call("kms", "CreateKey", {})
    wire.call("ssm", "PutParameter", {"Name": "/p/1", "Value": "v", "Type": "String"})
    wire.call("secretsmanager", "CreateSecret", {"Name": "/p/1", "SecretString": "v",
                                                 "ClientRequestToken": "0123456789abcdef0123456789abcdef"})
    model = service_model(service)
    faults = []
    for op in model.operation_names:
        operation = model.operation_model(op)
        for _ in range(3):
            body = _value(rnd, operation.input_shape) if operation.input_shape else {}
            r = wire.call(service, op, raw=json.dumps(body).encode())
            if r.status >= 500:
                faults.append((op, body, r.body))
    assert faults == []


def test_null_in_a_list_is_a_validation_error(wire):
    r = wire.call("ssm", "GetParameters", {"Names": [None, "/p/1"]})
    assert (r.status, r.body) == (400, {"__type": "ValidationException", "message": (
        "1 validation error detected: Value null at 'names.1.member' failed to satisfy constraint: "
        "Member must not be null")})


def test_timestamp_out_of_every_calendar_is_a_serialization_error(wire):
    r = wire.call("ssm", "UpdateOpsItem", {"OpsItemId": "oi-1", "ActualEndTime": 1e12})
    assert r.status == 400 and r.error_type == "SerializationException"


@pytest.mark.parametrize("escaped", ["%ED%A0%80", "%FF%FE", "%C3"], ids=["surrogate", "not-utf8", "cut-short"])
def test_a_query_parameter_that_is_not_utf8_is_malformed_and_assumes_nothing(wire, escaped):
    """The Query protocol's values are percent-encoded UTF-8 (RFC 3986 section 2.5,
    https://www.rfc-editor.org/rfc/rfc3986#section-2.5; SigV4 encodes them so,
    https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html). Bytes that are not
    UTF-8 became U+FFFD and AssumeRole made a session named by them; they are refused as the JSON
    services refuse a body that is not UTF-8, with the Query protocol's MalformedQueryString."""
    form = ("Action=AssumeRole&Version=2011-06-15&RoleArn=arn:aws:iam::111122223333:role/any"
            f"&RoleSessionName=s{escaped}s")
    headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
    answer = wire.send(body=form.encode(), headers=headers, signing_service="sts")
    assert answer.status == 400 and b"<Code>MalformedQueryString</Code>" in answer.raw

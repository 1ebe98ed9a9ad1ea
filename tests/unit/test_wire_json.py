"""The JSON 1.1 wire layer on raw bodies: the errors a client that does not use botocore sees."""
import json

import pytest

from keyplane.wire.protocol import handle_json


@pytest.fixture
def call(engine):
    ctx = engine.context()

    def send(target, body):
        resp = handle_json(engine, target=target, body=body if isinstance(body, bytes) else json.dumps(body).encode(),
                           ctx=ctx)
        return resp.status, json.loads(resp.body), resp.headers
    return send


def test_malformed_json_is_serialization_exception(call):
    status, body, headers = call("TrentService.ListKeys", b"{not json")
    assert status == 400 and body["__type"] == "SerializationException"
    assert headers["x-amzn-RequestId"]


def test_unknown_target_is_unknown_operation(call):
    assert call("TrentService.Frobnicate", {})[1]["__type"] == "UnknownOperationException"
    assert call("NoSuchService.ListKeys", {})[1]["__type"] == "UnknownOperationException"
    assert call(None, {})[1]["__type"] == "UnknownOperationException"


def test_wrong_json_type_is_serialization_exception(call):
    status, body, _ = call("TrentService.DescribeKey", {"KeyId": 5})
    assert status == 400 and body["__type"] == "SerializationException"
    assert body["message"] == "NUMBER_VALUE can not be converted to a String"


def test_all_constraint_violations_are_reported_together_in_aws_wording(call):
    status, body, _ = call("TrentService.ListKeys", {"Limit": 0, "Marker": ""})
    assert status == 400 and body["__type"] == "ValidationException"
    assert body["message"] == (
        "2 validation errors detected: "
        "Value '0' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1; "
        "Value '' at 'marker' failed to satisfy constraint: Member must have length greater than or equal to 1")


def test_missing_required_member_is_not_null_violation(call):
    status, body, _ = call("TrentService.Encrypt", {"Plaintext": "aGk="})
    assert body["message"] == ("1 validation error detected: Value null at 'keyId' failed to satisfy "
                               "constraint: Member must not be null")


def test_enum_violation_lists_the_allowed_values(call):
    status, body, _ = call("TrentService.CreateKey", {"KeyUsage": "NOPE"})
    assert body["__type"] == "ValidationException"
    assert "Member must satisfy enum value set: [SIGN_VERIFY, ENCRYPT_DECRYPT" in body["message"]


def test_bad_base64_blob_is_serialization_exception(call):
    status, body, _ = call("TrentService.Decrypt", {"CiphertextBlob": "***"})
    assert body["__type"] == "SerializationException"


def test_invalid_request_changes_nothing(engine, call):
    before = call("TrentService.ListKeys", {})[1]["Keys"]
    call("TrentService.CreateKey", {"KeyUsage": "NOPE", "Description": "x"})
    call("TrentService.CreateKey", {"Description": 7})
    assert call("TrentService.ListKeys", {})[1]["Keys"] == before


def test_success_body_serialises_timestamps_as_epoch_seconds_and_blobs_as_base64(call):
    status, body, headers = call("TrentService.CreateKey", {})
    assert status == 200 and headers["Content-Type"] == "application/x-amz-json-1.1"
    assert isinstance(body["KeyMetadata"]["CreationDate"], (int, float))
    status, body, _ = call("TrentService.GenerateRandom", {"NumberOfBytes": 4})
    import base64
    assert len(base64.b64decode(body["Plaintext"])) == 4


def test_validation_failures_are_audited(engine, call):
    call("TrentService.ListKeys", {"Limit": 0})
    rec = engine.audit.query(engine.store_for("us-east-1"), event_name="ListKeys")[0]
    assert rec["errorCode"] == "ValidationException"


def test_an_unexpected_fault_is_the_internal_error_code_without_traceback(engine, call, monkeypatch):
    from keyplane.engine.kms import keys
    monkeypatch.setattr(keys, "authorize", lambda *a, **k: 1 / 0)
    import keyplane.engine.registry as registry
    import keyplane.engine.services as services
    spec = services.lookup("kms", "ListKeys")
    monkeypatch.setitem(services.OPERATIONS, ("kms", "ListKeys"),
                        registry.OperationSpec("kms", "ListKeys", lambda call, p: 1 / 0, True))
    status, body, headers = call("TrentService.ListKeys", {})
    assert status == 500 and body["__type"] == "KMSInternalException"
    assert "Traceback" not in json.dumps(body) and "ZeroDivision" not in json.dumps(body)
    assert spec is not None


# ---- the wire's JSON reading is json.loads' ------------------------------------------------------
def _reference_parse(body: bytes):
    """What parse_json answers, the plain way: json.loads with NaN/Infinity refused."""
    def no_constants(name):
        raise ValueError(name)
    try:
        raw = json.loads(body or b"{}", parse_constant=no_constants)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return "refused"
    if not isinstance(raw, dict):
        return "refused"
    try:
        json.dumps(raw, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return "surrogate"
    return raw


_TRICKY = [b"{}", b'{"a": 1}', b'{"a": 1}  \n\t\r', b'{"a": 1} x', b'{"a": 1}\x0b', b'{"a": 1}\xc2\xa0',
           b'{"a": NaN}', b'{"a": -Infinity}', b'{"a": 1e400}', b'{"a": "\\ud800"}', b'{"a": "\\ud83d\\ude00"}',
           b'{"a": "\xed\xa0\x80"}', b'{"a": "\xff"}', b"{\x00", b"{", b"{ ", b'{"a": 1}{}', b'{"a": [1, 2',
           b"\xef\xbb\xbf{}", '{"a": "é"}'.encode("utf-16"), '{"a": 1}'.encode("utf-32-le"), b" {}", b"[]",
           b'{"a": 123456789012345678901234567890}', b'{"a": 1, "a": 2}', b"{" * 5000 + b"}" * 5000, b""]


@pytest.mark.parametrize("body", _TRICKY, ids=range(len(_TRICKY)))
def test_parse_json_reads_as_json_loads_does(body):
    from keyplane.engine.errors import SerializationException
    from keyplane.wire.model import parse_json
    expected = _reference_parse(body)
    try:
        got = parse_json(body)
    except SerializationException as err:
        got = "surrogate" if "surrogate" in err.message else "refused"
    assert got == expected


def test_parse_json_reads_generated_bodies_as_json_loads_does():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from keyplane.engine.errors import SerializationException
    from keyplane.wire.model import parse_json
    pieces = st.sampled_from([b"{", b"}", b"[", b"]", b'"', b":", b",", b" ", b"\n", b"\\u", b"d800", b"1", b"-",
                              b"e9", b".5", b"NaN", b"true", b"null", b"\x00", b"\xff", b"\xc3\xa9", b"\\"])

    @settings(max_examples=400, deadline=None)
    @given(st.lists(pieces, max_size=20))
    def check(parts):
        body = b"{" + b"".join(parts)
        try:
            got = parse_json(body)
        except SerializationException as err:
            got = "surrogate" if "surrogate" in err.message else "refused"
        assert got == _reference_parse(body)
    check()

"""Malformed and oversized requests on the raw JSON 1.1 path: always a 4xx with AWS's code, never a
500; error answers bounded whatever the request's size; nothing changed."""
import json

import pytest

from keyplane.wire.protocol import handle_json


@pytest.fixture
def call(engine):
    def send(target, body):
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        resp = handle_json(engine, target=target, body=raw, ctx=engine.context())
        return resp.status, json.loads(resp.body), resp.body
    return send


def test_a_megabyte_of_bad_grant_members_gets_a_short_answer_naming_a_few(call):
    """AWS counts every violation but spells out only some, and leaves a long value out of the
    message ("N validation errors detected: Value at 'x' failed to satisfy constraint: ...", as in
    https://github.com/hashicorp/terraform-provider-aws/issues/41023). A 1 MB CreateGrant once
    produced a 79.7 MB answer."""
    body = {"KeyId": "k" * 2048 + "x", "GranteePrincipal": "p" * 300_000,
            "Operations": ["Frobnicate"] * 50_000, "Constraints": {"EncryptionContextSubset": {"a": "b"}}}
    raw = json.dumps(body).encode()
    assert len(raw) > 1_000_000
    status, err, text = call("TrentService.CreateGrant", raw)
    assert status == 400 and err["__type"] == "ValidationException"
    assert len(text) < 8192
    assert err["message"].startswith("50002 validation errors detected: ")
    assert err["message"].count("failed to satisfy constraint") == 10
    assert "Value at 'granteePrincipal' failed to satisfy constraint: Member must have length less than or equal to 256" \
        in err["message"]


@pytest.mark.parametrize("body", [
    b'{"KeyId": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    b'{"KeyId": ' + b'{"a":' * 50_000 + b"1" + b"}" * 50_000 + b"}",
], ids=["deep-array", "deep-object"])
def test_deep_nesting_is_a_serialization_exception(call, body):
    status, err, _ = call("TrentService.DescribeKey", body)
    assert status == 400 and err["__type"] == "SerializationException"


@pytest.mark.parametrize("target,body", [
    ("TrentService.DescribeKey", b'{"KeyId": "\\ud800"}'),
    ("TrentService.CreateKey", b'{"Description": "ok \\udfff"}'),
    ("secretsmanager.CreateSecret", b'{"Name": "s", "SecretString": "\\ud800"}'),
    ("AmazonSSM.PutParameter", b'{"Name": "p", "Value": "\\ud83d", "Type": "String"}'),
    ("TrentService.Encrypt", b'{"KeyId": "k", "Plaintext": "eA==", "EncryptionContext": {"\\ud800": "v"}}'),
])
def test_a_lone_surrogate_is_refused_before_it_reaches_the_store_or_a_cipher(call, target, body):
    """A lone UTF-16 surrogate has no UTF-8 form: it once reached SQL, the cipher and the audit
    trail as a UnicodeEncodeError (500). AWS's own answer is not documented; keyplane refuses the
    body as JSON 1.1 refuses any body it cannot read."""
    status, err, _ = call(target, body)
    assert status == 400 and err["__type"] == "SerializationException"


@pytest.mark.parametrize("target,body", [
    ("TrentService.CreateKey", b'{"Description": "\xed\xa0\x80"}'),
    ("TrentService.CreateKey", b'{"Description": "key \xed\xa0\xbd\xed\xb4\x91"}'),
    ("AmazonSSM.PutParameter", b'{"Name": "p", "Value": "\xed\xbf\xbf", "Type": "String"}'),
    ("TrentService.Encrypt", b'{"KeyId": "k", "Plaintext": "eA==", "EncryptionContext": {"\xed\xa0\x80": "v"}}'),
], ids=["lone", "pair-as-two-sequences", "ssm", "context-key"])
def test_a_surrogate_written_as_utf8_bytes_is_refused_before_it_reaches_the_store(engine, call, target, body):
    """UTF-8 forbids encoding the surrogate code points U+D800..U+DFFF (RFC 3629 section 3,
    https://www.rfc-editor.org/rfc/rfc3629#section-3), and JSON text is UTF-8 (RFC 8259 section 8.1,
    https://www.rfc-editor.org/rfc/rfc8259#section-8.1): such a body is refused as one the wire
    cannot read, as its \\u escape form is. It once reached SQL as a UnicodeEncodeError (500)."""
    status, err, _ = call(target, body)
    assert status == 400 and err["__type"] == "SerializationException"
    assert call("TrentService.ListKeys", {})[1]["Keys"] == []


def test_a_surrogate_pair_is_an_ordinary_character(call):
    status, body, _ = call("TrentService.CreateKey", b'{"Description": "key \\ud83d\\udd11"}')
    assert status == 200 and body["KeyMetadata"]["Description"] == "key \U0001f511"


@pytest.mark.parametrize("value", [b"1e20", b"-1e20", b"NaN", b"Infinity", b"253402300800",
                                   b'"10000-01-01T00:00:00Z"', b'"2026-13-01"', b"[]", b"true"])
def test_a_timestamp_out_of_range_or_not_a_number_is_a_4xx(call, value):
    body = b'{"KeyId": "1234abcd-12ab-34cd-56ef-1234567890ab", "ImportToken": "AAAA", ' \
           b'"EncryptedKeyMaterial": "AAAA", "ValidTo": ' + value + b"}"
    status, err, _ = call("TrentService.ImportKeyMaterial", body)
    assert status == 400 and err["__type"] == "SerializationException"


@pytest.mark.parametrize("target,body", [
    ("TrentService.ListKeys", b'{"Limit": 100000000000000000000000000}'),
    ("AmazonSSM.LabelParameterVersion", b'{"Name": "p", "ParameterVersion": 100000000000000000000000, "Labels": ["a"]}'),
    ("secretsmanager.DeleteSecret", b'{"SecretId": "s", "RecoveryWindowInDays": 100000000000000000000000}'),
    ("secretsmanager.ListSecrets", b'{"MaxResults": NaN}'),
])
def test_a_number_wider_than_its_java_type_is_a_serialization_exception(call, target, body):
    status, err, _ = call(target, body)
    assert status == 400 and err["__type"] == "SerializationException"


TOKEN = "0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize("target,body,code", [
    ("secretsmanager.CreateSecret", {"Name": "t", "ClientRequestToken": TOKEN, "Tags": [{}]}, "InvalidParameterException"),
    ("secretsmanager.CreateSecret", {"Name": "t", "ClientRequestToken": TOKEN, "Tags": [{"Value": "v"}]}, "InvalidParameterException"),
    ("secretsmanager.CreateSecret", {"Name": "t", "ClientRequestToken": TOKEN, "AddReplicaRegions": [{}]}, "InvalidParameterException"),
    ("secretsmanager.TagResource", {"SecretId": "fuzz", "Tags": [{}]}, "InvalidParameterException"),
    ("secretsmanager.ListSecrets", {"Filters": [{}]}, "InvalidParameterException"),
    ("secretsmanager.ListSecrets", {"Filters": [{"Key": "name"}]}, "InvalidParameterException"),
    ("secretsmanager.BatchGetSecretValue", {"Filters": [{"Values": ["a"]}]}, "InvalidParameterException"),
    ("secretsmanager.ReplicateSecretToRegions", {"SecretId": "fuzz", "AddReplicaRegions": [{}]},
     "InvalidParameterException"),
    ("TrentService.ListRetirableGrants", {}, "ValidationException"),
    ("TrentService.DescribeKey", {"KeyId": "alias/x", "GrantTokens": [None]}, "ValidationException"),
    ("secretsmanager.BatchGetSecretValue", {"SecretIdList": [None]}, "ValidationException"),
    ("TrentService.CreateGrant", {"KeyId": "alias/x", "Operations": ["Encrypt"]}, "ValidationException"),
    ("AmazonSSM.PutParameter", {"Name": "/p", "Value": "v", "Type": "String", "Tags": [{}]}, "ValidationException"),
    ("AmazonSSM.DescribeParameters", {"ParameterFilters": [{}]}, "ValidationException"),
])
def test_members_the_model_leaves_optional_but_an_element_needs_are_a_4xx(engine, call, target, body, code):
    """Secrets Manager's Tag, Filter and RegionType leave every member optional in the model, yet an
    element without them means nothing; these were KeyErrors (500). The service's documented error
    for a bad parameter is InvalidParameterException ("The parameter name or value is invalid",
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_TagResource.html); members
    the model requires are the wire's ValidationException. Nothing is created."""
    import keyplane
    keyplane.connect(engine=engine).client("secretsmanager").create_secret(Name="fuzz", SecretString="x")
    status, err, _ = call(target, body)
    assert status == 400 and err["__type"] == code, err
    names = [s["Name"] for s in keyplane.connect(engine=engine).client("secretsmanager").list_secrets()["SecretList"]]
    assert names == ["fuzz"]


def test_a_call_refused_by_validation_is_recorded_with_its_operations_read_only_flag(engine, call):
    """CloudTrail's readOnly "identifies whether this operation is a read-only operation"
    (https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-record-contents.html):
    it belongs to the operation, refused or not. A CreateGrant refused by validation was recorded
    as a read."""
    assert call("TrentService.CreateGrant", {"KeyId": "alias/x", "Operations": ["Frobnicate"]})[0] == 400
    assert call("TrentService.ListGrants", {"KeyId": "x" * 3000})[0] == 400
    engine.audit.flush()
    records = engine.audit.query(engine.store_for("us-east-1"))
    flags = {r["eventName"]: (r["readOnly"], r["errorCode"]) for r in records}
    assert flags == {"CreateGrant": (False, "ValidationException"), "ListGrants": (True, "ValidationException")}

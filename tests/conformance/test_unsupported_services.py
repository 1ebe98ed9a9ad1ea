"""Requests for AWS services keyplane does not serve.

AWS has no page for "a service this endpoint does not host": keyplane's answer is its own
(HTTP 400, `UnsupportedServiceException`, naming the service and what keyplane serves), written in
the error form of the client's protocol so that every SDK shows the message — never a SigV4
"Credential should be scoped to correct service" error. Protocols are botocore's models'
`metadata.protocol` (rest-xml for S3, query for IAM/CloudFormation, rest-json for Lambda, json for SQS).
"""
import json
import xml.etree.ElementTree as ET

import botocore.exceptions
import pytest

SERVES = ("This endpoint serves AWS Key Management Service (kms), AWS Systems Manager Parameter Store (ssm), "
          "AWS Secrets Manager (secretsmanager), AWS Security Token Service (sts).")


def test_s3_request_is_refused_in_s3s_error_form(wire):
    r = wire.send(method="GET", path="/", signing_service="s3",
                  headers={"x-amz-content-sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"})
    assert r.status == 400 and r.headers["content-type"] == "application/xml"
    root = ET.fromstring(r.raw)
    assert root.tag == "Error" and root.findtext("Code") == "UnsupportedServiceException"
    assert root.findtext("Message") == ("keyplane does not serve Amazon Simple Storage Service (s3). " + SERVES)


@pytest.mark.parametrize("service,full", [("iam", "AWS Identity and Access Management"),
                                          ("cloudformation", "AWS CloudFormation")])
def test_query_protocol_service_is_refused_as_an_error_response(wire, service, full):
    r = wire.send(body=b"Action=ListUsers&Version=2010-05-08", signing_service=service,
                  headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status == 400
    error = ET.fromstring(r.raw).find("Error")
    assert error.findtext("Code") == "UnsupportedServiceException"
    assert error.findtext("Message").startswith(f"keyplane does not serve {full} ({service}).")


@pytest.mark.parametrize("service,full,content_type", [
    ("lambda", "AWS Lambda", "application/json"),
    ("sqs", "Amazon Simple Queue Service", "application/x-amz-json-1.1"),
    ("dynamodb", "Amazon DynamoDB", "application/x-amz-json-1.1")])
def test_json_protocol_service_is_refused_as_json(wire, service, full, content_type):
    r = wire.send(body=b"{}", signing_service=service, headers={"Content-Type": content_type})
    assert r.status == 400 and r.headers["content-type"] == content_type
    assert r.body == {"__type": "UnsupportedServiceException",
                      "message": f"keyplane does not serve {full} ({service}). " + SERVES}


def test_a_name_botocore_does_not_know_is_quoted_and_bounded(wire):
    r = wire.send(body=b"{}", signing_service="no-such-svc")
    assert r.status == 400 and r.error_type == "UnsupportedServiceException"
    assert r.body["message"].startswith("keyplane does not serve 'no-such-svc'.")


def test_unsigned_request_is_still_missing_authentication(wire):
    r = wire.send(body=b"{}", sign=False, headers={"X-Amz-Target": "DynamoDB_20120810.ListTables"})
    assert r.status == 403 and r.error_type == "MissingAuthenticationTokenException"


@pytest.mark.parametrize("service,call", [("s3", lambda c: c.list_buckets()),
                                          ("iam", lambda c: c.list_users()),
                                          ("lambda", lambda c: c.list_functions()),
                                          ("sqs", lambda c: c.list_queues()),
                                          ("cloudformation", lambda c: c.list_stacks())])
def test_sdk_shows_the_message(kp, service, call):
    """botocore parses the refusal in each protocol: the user reads keyplane's message."""
    client = kp.client(service, region="us-east-1")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        call(client)
    err = e.value.response["Error"]
    assert err["Code"] == "UnsupportedServiceException"
    assert f"({service}). This endpoint serves" in err["Message"]
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_served_services_still_answer(wire):
    assert wire.call("kms", "ListKeys").status == 200
    assert json.loads(wire.call("ssm", "DescribeParameters").raw) == {"Parameters": []}

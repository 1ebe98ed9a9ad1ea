"""boto3 against a real `keyplane serve`: KMS over JSON 1.1, STS over the Query protocol."""
from __future__ import annotations

import uuid


def test_kms_round_trip_over_http_carries_request_ids(kms):
    key = kms.create_key(Description="http round trip")["KeyMetadata"]
    kms.create_alias(AliasName=f"alias/http-{uuid.uuid4().hex[:8]}", TargetKeyId=key["KeyId"])
    enc = kms.encrypt(KeyId=key["Arn"], Plaintext=b"over the wire", EncryptionContext={"app": "t"})
    assert enc["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"] == enc["ResponseMetadata"]["RequestId"]
    dec = kms.decrypt(CiphertextBlob=enc["CiphertextBlob"], EncryptionContext={"app": "t"})
    assert dec["Plaintext"] == b"over the wire" and dec["KeyId"] == key["Arn"]
    assert key["Arn"].startswith("arn:aws:kms:us-east-1:111122223333:key/")


def test_region_comes_from_the_credential_scope(server):
    key = server.client("kms", region="eu-west-1").create_key()["KeyMetadata"]
    assert key["Arn"].startswith("arn:aws:kms:eu-west-1:")


def test_get_caller_identity_names_the_signing_user(sts):
    me = sts.get_caller_identity()
    assert me["Arn"] == "arn:aws:iam::111122223333:user/admin"
    assert me["Account"] == "111122223333" and me["UserId"].startswith("AIDA")
    assert me["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"] == me["ResponseMetadata"]["RequestId"]


def test_assume_role_gives_working_temporary_credentials(server, sts):
    out = sts.assume_role(RoleArn="arn:aws:iam::111122223333:role/deployer", RoleSessionName="ci-run")
    creds = out["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA") and len(creds["SecretAccessKey"]) == 40
    assert out["AssumedRoleUser"]["Arn"] == "arn:aws:sts::111122223333:assumed-role/deployer/ci-run"
    session = dict(aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                   aws_session_token=creds["SessionToken"])
    me = server.client("sts", **session).get_caller_identity()
    assert me["Arn"] == "arn:aws:sts::111122223333:assumed-role/deployer/ci-run"
    assert me["UserId"].endswith(":ci-run")
    key = server.client("kms", **session).create_key(Description="made by a role session")
    assert key["KeyMetadata"]["KeyManager"] == "CUSTOMER"
    # the session token is part of the credential
    forged = dict(session, aws_session_token="AQoDYXdzEJr" + "x" * 100)
    try:
        server.client("sts", **forged).get_caller_identity()
        raise AssertionError("a forged session token was accepted")
    except server.client("sts").exceptions.ClientError as e:
        assert e.response["Error"]["Code"] == "InvalidClientTokenId"
        assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_assume_role_not_trusted_is_access_denied(server, sts):
    try:
        sts.assume_role(RoleArn="arn:aws:iam::111122223333:role/locked", RoleSessionName="nope")
        raise AssertionError("assumed a role whose trust policy does not name the caller")
    except sts.exceptions.ClientError as e:
        assert e.response["Error"]["Code"] == "AccessDenied"
        assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 403
        assert "is not authorized to perform: sts:AssumeRole" in e.response["Error"]["Message"]


def test_assume_role_validation_error_uses_query_protocol_code(sts):
    try:
        sts.assume_role(RoleArn="arn:aws:iam::111122223333:role/deployer", RoleSessionName="x" * 65)
        raise AssertionError("a 65-character session name was accepted")
    except sts.exceptions.ClientError as e:
        assert e.response["Error"]["Code"] == "ValidationError"
        assert "roleSessionName" in e.response["Error"]["Message"]


def test_assume_role_with_session_policy_reports_its_packed_size_and_rejects_a_malformed_one(sts):
    import json
    policy = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "kms:Encrypt", "Resource": "*"}]})
    out = sts.assume_role(RoleArn="arn:aws:iam::111122223333:role/deployer", RoleSessionName="narrow",
                          Policy=policy, DurationSeconds=900)
    assert 0 < out["PackedPolicySize"] <= 100
    expires = out["Credentials"]["Expiration"]
    from datetime import datetime, timezone
    assert 800 < (expires - datetime.now(timezone.utc)).total_seconds() <= 900
    try:
        sts.assume_role(RoleArn="arn:aws:iam::111122223333:role/deployer", RoleSessionName="bad",
                        Policy='{"Statement": [{"Effect": "Maybe"}]}')
        raise AssertionError("a malformed session policy was accepted")
    except sts.exceptions.MalformedPolicyDocumentException as e:
        assert e.response["Error"]["Code"] == "MalformedPolicyDocument"


def test_assume_role_longer_than_the_roles_maximum_is_a_validation_error(sts):
    try:
        sts.assume_role(RoleArn="arn:aws:iam::111122223333:role/deployer", RoleSessionName="long",
                        DurationSeconds=7200)
        raise AssertionError("a session longer than MaxSessionDuration was issued")
    except sts.exceptions.ClientError as e:
        assert e.response["Error"]["Code"] == "ValidationError"
        assert "MaxSessionDuration" in e.response["Error"]["Message"]


def test_parameter_store_and_secrets_manager_answer_over_http(server):
    ssm = server.client("ssm")
    ssm.put_parameter(Name="/http/db-host", Value="db.internal", Type="String")
    assert ssm.get_parameter(Name="/http/db-host")["Parameter"]["Value"] == "db.internal"
    sm = server.client("secretsmanager")
    arn = sm.create_secret(Name="http/api-token", SecretString="s3cr3t")["ARN"]
    assert sm.get_secret_value(SecretId=arn)["SecretString"] == "s3cr3t"
    try:
        sm.get_secret_value(SecretId="http/missing")
        raise AssertionError("a missing secret was found")
    except sm.exceptions.ResourceNotFoundException as e:
        assert e.response["Error"]["Message"]  # Secrets Manager's `Message` member reaches the client

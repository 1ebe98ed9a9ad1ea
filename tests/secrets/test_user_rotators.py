"""User rotators: a Python entry point called as a Lambda handler, and an HTTP webhook that receives
the Lambda event and calls keyplane back, as a rotation Lambda would."""
from __future__ import annotations

import json
import threading
from datetime import timezone
from http.server import BaseHTTPRequestHandler, HTTPServer

import botocore.exceptions
import pytest

import keyplane
import sample_rotators


def test_python_rotator_gets_the_four_steps_with_one_token(sm):
    arn = sm.create_secret(Name="api/token", SecretString="token-initial")["ARN"]
    sample_rotators.SEEN.clear()
    out = sm.rotate_secret(SecretId=arn, RotationLambdaARN="python:sample_rotators:rotate_token",
                           RotationRules={"ScheduleExpression": "cron(0 3 ? * MON *)", "Duration": "2h"})
    assert [s for s, _ in sample_rotators.SEEN] == ["createSecret", "setSecret", "testSecret", "finishSecret"]
    assert {t for _, t in sample_rotators.SEEN} == {out["VersionId"]}
    current = sm.get_secret_value(SecretId=arn)
    assert current["VersionId"] == out["VersionId"] and current["SecretString"] != "token-initial"
    assert sm.get_secret_value(SecretId=arn, VersionStage="AWSPREVIOUS")["SecretString"] == "token-initial"
    described = sm.describe_secret(SecretId=arn)
    # NextRotationDate is the last second of the 2h window opening Monday 03:00 UTC ("on or before
    # this date", https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_DescribeSecret.html)
    end = described["NextRotationDate"].astimezone(timezone.utc)
    assert (end.weekday(), end.hour, end.minute, end.second) == (0, 4, 59, 59)


def test_python_rotator_failing_test_secret_leaves_current_and_records_the_failure(sm, rotation_failure):
    arn = sm.create_secret(Name="api/token2", SecretString="token-initial")["ARN"]
    sm.rotate_secret(SecretId=arn, RotationLambdaARN="python:sample_rotators:failing_test",
                     RotationRules={"AutomaticallyAfterDays": 1})
    assert sm.get_secret_value(SecretId=arn)["SecretString"] == "token-initial"
    failure = rotation_failure(arn)
    assert failure["step"] == "testSecret" and "refused by the service" in failure["message"]
    # AWS's way out: cancel, then take AWSPENDING off the partial version
    pending = sm.cancel_rotate_secret(SecretId=arn)["VersionId"]
    sm.update_secret_version_stage(SecretId=arn, VersionStage="AWSPENDING", RemoveFromVersionId=pending)
    assert sm.describe_secret(SecretId=arn)["RotationEnabled"] is False


def test_unknown_rotator_names_are_refused_and_change_nothing(sm):
    arn = sm.create_secret(Name="api/token3", SecretString="x")["ARN"]
    for name in ("arn:aws:lambda:us-east-1:111122223333:function:rot", "ftp://x", "python:not valid"):
        with pytest.raises(botocore.exceptions.ClientError) as exc:
            sm.rotate_secret(SecretId=arn, RotationLambdaARN=name, RotationRules={"AutomaticallyAfterDays": 1})
        assert exc.value.response["Error"]["Code"] == "InvalidParameterException"
    assert "RotationEnabled" not in sm.describe_secret(SecretId=arn)
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        sm.rotate_secret(SecretId=arn, RotationLambdaARN="python:sample_rotators:rotate_token",
                         RotationRules={"AutomaticallyAfterDays": 1, "ScheduleExpression": "rate(4 hours)"})
    assert exc.value.response["Error"]["Code"] == "InvalidParameterException"


@pytest.fixture
def webhook(engine):
    """A rotation 'Lambda' behind HTTP: it answers each step by calling keyplane back."""
    received = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            event = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            received.append(event)

            class Context:
                def client(self, service):
                    return keyplane.connect(engine=engine).client(service)
            try:
                sample_rotators.rotate_token(event, Context())
                self.send_response(200)
            except Exception:    # noqa: BLE001 - a failing step answers 500, as a failed Lambda
                self.send_response(500)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/rotate", received
    server.shutdown()
    server.server_close()


def test_webhook_rotator_receives_the_lambda_event_and_rotates(sm, webhook):
    url, received = webhook
    arn = sm.create_secret(Name="api/hook", SecretString="token-initial")["ARN"]
    out = sm.rotate_secret(SecretId=arn, RotationLambdaARN=url, RotationRules={"AutomaticallyAfterDays": 30})
    assert [e["Step"] for e in received] == ["createSecret", "setSecret", "testSecret", "finishSecret"]
    assert all(e["SecretId"] == arn and e["ClientRequestToken"] == out["VersionId"] for e in received)
    assert sm.get_secret_value(SecretId=arn)["VersionId"] == out["VersionId"]


def test_webhook_that_is_down_fails_the_rotation_and_keeps_current(sm, rotation_failure):
    arn = sm.create_secret(Name="api/hook2", SecretString="token-initial")["ARN"]
    sm.rotate_secret(SecretId=arn, RotationLambdaARN="http://127.0.0.1:9/down",
                     RotationRules={"AutomaticallyAfterDays": 30})
    assert sm.get_secret_value(SecretId=arn)["SecretString"] == "token-initial"
    failure = rotation_failure(arn)
    assert failure["step"] == "createSecret" and "unreachable" in failure["message"]


def test_writing_a_new_current_value_during_a_pending_rotation_abandons_it(sm, engine):
    arn = sm.create_secret(Name="api/abandon", SecretString="token-initial")["ARN"]
    sm.rotate_secret(SecretId=arn, RotationLambdaARN="python:sample_rotators:failing_test",
                     RotationRules={"AutomaticallyAfterDays": 1})
    stages = sm.describe_secret(SecretId=arn)["VersionIdsToStages"]
    assert any("AWSPENDING" in s for s in stages.values())
    sm.put_secret_value(SecretId=arn, SecretString="written-by-hand")
    stages = sm.describe_secret(SecretId=arn)["VersionIdsToStages"]
    assert not any("AWSPENDING" in s for s in stages.values())
    assert engine.audit.query(engine.store_for("us-east-1"), event_name="RotationAbandoned")
    sm.rotate_secret(SecretId=arn, RotationLambdaARN="python:sample_rotators:rotate_token")   # free again
    assert sm.get_secret_value(SecretId=arn)["SecretString"].startswith("token-")


def test_rotate_later_tests_the_rotator_on_a_pending_copy_and_removes_it(sm, rotation_failure):
    arn = sm.create_secret(Name="api/later", SecretString="token-initial")["ARN"]
    sample_rotators.SEEN.clear()
    sm.rotate_secret(SecretId=arn, RotationLambdaARN="python:sample_rotators:rotate_token", RotateImmediately=False,
                     RotationRules={"AutomaticallyAfterDays": 10})
    assert [s for s, _ in sample_rotators.SEEN] == ["testSecret"]
    stages = sm.describe_secret(SecretId=arn)["VersionIdsToStages"]
    assert list(stages.values()) == [["AWSCURRENT"]]                 # the pending copy is unlabelled again
    assert sm.get_secret_value(SecretId=arn)["SecretString"] == "token-initial"

    sm.rotate_secret(SecretId=arn, RotationLambdaARN="python:sample_rotators:failing_test", RotateImmediately=False)
    assert rotation_failure(arn)["step"] == "testSecret"
    assert sm.get_secret_value(SecretId=arn)["SecretString"] == "token-initial"

"""RotationRules ScheduleExpression cron() forms Secrets Manager documents — `L` and `W` in
day-of-month, `#` and `L` in day-of-week — accepted over the wire and run when their window opens
(the clock is moved, never slept on)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sm_wire import assert_error, token

ROTATOR = "python:sm_rotator:rotate"
NOW = datetime(2026, 1, 15, 12, 0, tzinfo=timezone.utc)      # the clock fixture's start, a Thursday


def _utc(*args) -> float:
    return datetime(*args, tzinfo=timezone.utc).timestamp()


@pytest.mark.parametrize("expression, first, second", [
    # the last day of every month at 4:00 PM
    ("cron(0 16 L * ? *)", _utc(2026, 1, 31, 16), _utc(2026, 2, 28, 16)),
    # the first Sunday of every month at midnight
    ("cron(0 0 ? * SUN#1 *)", _utc(2026, 2, 1), _utc(2026, 3, 1)),
    # the last Friday (day 6) of every month at 4:00 AM
    ("cron(0 4 ? * 6L *)", _utc(2026, 1, 30, 4), _utc(2026, 2, 27, 4)),
    # the weekday nearest the 1st (Sunday 1 February 2026 -> Monday the 2nd) at 4:00 AM
    ("cron(0 4 1W * ? *)", _utc(2026, 2, 2, 4), _utc(2026, 3, 2, 4)),
    # "Every three months on Sunday at 1:00 AM" (the guide's own example, * beside a day of week)
    ("cron(0 1 * 1/3 SUN *)", _utc(2026, 1, 18, 1), _utc(2026, 1, 25, 1)),
    # hour increments reset each day: 4:00 AM and 4:00 PM
    ("cron(0 4/12 * * ? *)", _utc(2026, 1, 15, 16), _utc(2026, 1, 16, 4)),
])
def test_documented_cron_forms_are_accepted_and_rotate_when_their_window_opens(wire, engine, clock,
                                                                             expression, first, second):
    """cron(Minutes Hours Day-of-month Month Day-of-week Year): "The L wildcard in the Day-of-month
    or Day-of-week fields specifies the last day of the month or week ... The # wildcard in the
    Day-of-week field specifies the day of the week within a month"; days of week are 1-7 or
    SUN-SAT. NextRotationDate is the window's start; the rotation runs when it opens, and the
    next date follows.
    https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotate-secrets_schedule.html
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_RotationRulesType.html"""
    wire.create("sched/cron", "v1")
    wire.ok("RotateSecret", {"SecretId": "sched/cron", "ClientRequestToken": token(), "RotationLambdaARN": ROTATOR,
                             "RotationRules": {"ScheduleExpression": expression}, "RotateImmediately": False})
    described = wire.ok("DescribeSecret", {"SecretId": "sched/cron"})
    assert described["RotationRules"]["ScheduleExpression"] == expression
    assert described["NextRotationDate"] == first

    clock.advance(timedelta(seconds=first - NOW.timestamp() - 1))
    engine.run_due()
    assert "LastRotatedDate" not in wire.ok("DescribeSecret", {"SecretId": "sched/cron"})
    clock.advance(timedelta(seconds=1))
    engine.run_due()
    described = wire.ok("DescribeSecret", {"SecretId": "sched/cron"})
    assert described["LastRotatedDate"] == first
    assert described["NextRotationDate"] == second
    assert wire.ok("GetSecretValue", {"SecretId": "sched/cron"})["SecretString"].startswith("rotated-")


@pytest.mark.parametrize("expression", [
    "cron(0 16 L * SUN *)",        # a day of month and a day of week together
    "cron(0 16 ? * ? *)",          # neither
    "cron(0 16 ? * 8 *)",          # days of week are 1-7
    "cron(0 16 ? * SUN#6 *)",      # there is no sixth Sunday
    "cron(0 16 32 * ? *)",
    "cron(0 16 * * ?)",            # five fields
])
def test_cron_forms_aws_does_not_document_are_invalid_parameter(wire, expression):
    """Only the fields and wildcards the guide lists are accepted; the secret's rotation is not
    turned on by a refused request.
    https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotate-secrets_schedule.html"""
    wire.create("sched/bad", "v1")
    answer = wire("RotateSecret", {"SecretId": "sched/bad", "ClientRequestToken": token(), "RotationLambdaARN": ROTATOR,
                                   "RotationRules": {"ScheduleExpression": expression}, "RotateImmediately": False})
    assert_error(answer, "InvalidParameterException")
    assert "RotationEnabled" not in wire.ok("DescribeSecret", {"SecretId": "sched/bad"})

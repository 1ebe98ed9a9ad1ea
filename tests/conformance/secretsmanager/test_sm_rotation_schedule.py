"""RotationRules ScheduleExpression cron() forms Secrets Manager documents — `L` and `W` in
day-of-month, `#` and `L` in day-of-week — accepted over the clocked and run when their window opens
(the clock is moved, never slept on)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from .sm_wire import assert_error, token

ROTATOR = "python:conformance.secretsmanager.sm_rotator:rotate"
NOW = datetime(2026, 1, 15, 12, 0, tzinfo=timezone.utc)      # the clock fixture's start, a Thursday


def _utc(*args) -> float:
    return datetime(*args, tzinfo=timezone.utc).timestamp()


def _window_end(start: float, hourly: bool) -> float:
    """A window's last second: one hour for a schedule in hours, else the end of the UTC day."""
    return start + 3599 if hourly else start - start % 86400 + 86399


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
def test_documented_cron_forms_are_accepted_and_rotate_when_their_window_opens(clocked, engine, clock,
                                                                             expression, first, second):
    """cron(Minutes Hours Day-of-month Month Day-of-week Year): "The L wildcard in the Day-of-month
    or Day-of-week fields specifies the last day of the month or week ... The # wildcard in the
    Day-of-week field specifies the day of the week within a month"; days of week are 1-7 or
    SUN-SAT. NextRotationDate is the window's end ("the next rotation is scheduled to occur on or
    before this date"; the window closes after an hour for a schedule in hours, at the end of the
    UTC day otherwise); keyplane rotates when the window opens, and the next date follows.
    https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotate-secrets_schedule.html
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_RotationRulesType.html
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_DescribeSecret.html"""
    hourly = "/12" in expression
    clocked.create("sched/cron", "v1")
    clocked.ok("RotateSecret", {"SecretId": "sched/cron", "ClientRequestToken": token(), "RotationLambdaARN": ROTATOR,
                             "RotationRules": {"ScheduleExpression": expression}, "RotateImmediately": False})
    described = clocked.ok("DescribeSecret", {"SecretId": "sched/cron"})
    assert described["RotationRules"]["ScheduleExpression"] == expression
    assert described["NextRotationDate"] == _window_end(first, hourly)

    clock.advance(timedelta(seconds=first - NOW.timestamp() - 1))
    engine.run_due()
    assert "LastRotatedDate" not in clocked.ok("DescribeSecret", {"SecretId": "sched/cron"})
    clock.advance(timedelta(seconds=1))
    engine.run_due()
    described = clocked.ok("DescribeSecret", {"SecretId": "sched/cron"})
    assert described["LastRotatedDate"] == first
    assert described["NextRotationDate"] == _window_end(second, hourly)
    assert clocked.ok("GetSecretValue", {"SecretId": "sched/cron"})["SecretString"].startswith("rotated-")


@pytest.mark.parametrize("expression", [
    "cron(0 16 L * SUN *)",        # a day of month and a day of week together
    "cron(0 16 ? * ? *)",          # neither
    "cron(0 16 ? * 8 *)",          # days of week are 1-7
    "cron(0 16 ? * SUN#6 *)",      # there is no sixth Sunday
    "cron(0 16 32 * ? *)",
    "cron(0 16 * * ?)",            # five fields
    "cron(30 16 L * ? *)",         # minutes "Must be 0": windows open on the hour
    "cron(0 16 L * ? 2027)",       # year "Must be *"
    "rate(1000 days)",             # "The maximum rotation period is 999 days"
])
def test_schedules_aws_does_not_document_are_invalid_parameter(clocked, expression):
    """Only the fields and wildcards the guide lists are accepted; the secret's rotation is not
    turned on by a refused request.
    https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotate-secrets_schedule.html"""
    clocked.create("sched/bad", "v1")
    answer = clocked("RotateSecret", {"SecretId": "sched/bad", "ClientRequestToken": token(), "RotationLambdaARN": ROTATOR,
                                   "RotationRules": {"ScheduleExpression": expression}, "RotateImmediately": False})
    assert_error(answer, "InvalidParameterException")
    assert "RotationEnabled" not in clocked.ok("DescribeSecret", {"SecretId": "sched/bad"})


def test_automatically_after_days_counts_from_the_last_write_and_reports_the_end_of_that_day(clocked, clock):
    """AutomaticallyAfterDays: "Secrets Manager calculates the next rotation date based on the
    previous rotation. Manually updating the secret value by calling PutSecretValue or
    UpdateSecret is considered a valid rotation." The window of a schedule in days closes at the
    end of the UTC day, which DescribeSecret reports (23:59:59).
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_RotationRulesType.html
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_DescribeSecret.html"""
    clocked.create("sched/days", "v1")
    clocked.ok("RotateSecret", {"SecretId": "sched/days", "ClientRequestToken": token(), "RotationLambdaARN": ROTATOR,
                             "RotationRules": {"AutomaticallyAfterDays": 30}, "RotateImmediately": False})
    assert clocked.ok("DescribeSecret", {"SecretId": "sched/days"})["NextRotationDate"] == _utc(2026, 2, 14, 23, 59, 59)
    clock.advance(timedelta(days=1))
    clocked.ok("PutSecretValue", {"SecretId": "sched/days", "SecretString": "v2", "ClientRequestToken": token()})
    assert clocked.ok("DescribeSecret", {"SecretId": "sched/days"})["NextRotationDate"] == _utc(2026, 2, 15, 23, 59, 59)


def test_a_duration_sets_the_reported_end_of_the_window(clocked):
    """Duration: "The length of the rotation window in hours ... The window starts according to the
    ScheduleExpression."
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_RotationRulesType.html"""
    clocked.create("sched/duration", "v1")
    clocked.ok("RotateSecret", {"SecretId": "sched/duration", "ClientRequestToken": token(), "RotationLambdaARN": ROTATOR,
                             "RotationRules": {"ScheduleExpression": "cron(0 16 L * ? *)", "Duration": "3h"},
                             "RotateImmediately": False})
    assert clocked.ok("DescribeSecret", {"SecretId": "sched/duration"})["NextRotationDate"] == _utc(2026, 1, 31, 18, 59, 59)


@pytest.mark.parametrize("rules", [
    {"ScheduleExpression": "cron(0 16 L * ? *)", "Duration": "9h"},      # 16:00 + 9h is the next day
    {"ScheduleExpression": "cron(0 4/12 * * ? *)", "Duration": "13h"},   # runs into the 16:00 window
    {"ScheduleExpression": "rate(4 hours)", "Duration": "5h"},
])
def test_a_window_that_runs_into_the_next_day_or_window_is_invalid_parameter(clocked, rules):
    """"The rotation window must not extend into the next rotation window or the next UTC day."
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_RotationRulesType.html
    https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotate-secrets_schedule.html"""
    clocked.create("sched/window", "v1")
    answer = clocked("RotateSecret", {"SecretId": "sched/window", "ClientRequestToken": token(),
                                      "RotationLambdaARN": ROTATOR, "RotationRules": rules, "RotateImmediately": False})
    assert_error(answer, "InvalidParameterException")


@pytest.mark.parametrize("duration, code", [
    ("hh", "ValidationException"),     # DurationType's pattern is now [0-9]+h: digits, then h
    ("1x", "ValidationException"),
    ("h", "ValidationException"),      # and 2 to 3 characters
    ("100h", "ValidationException"),
    ("h1h", "ValidationException"),    # the pattern is matched against the whole value, as AWS does
    ("0h", "InvalidParameterException"),
    ("25h", "InvalidParameterException"),
])
def test_a_duration_is_a_number_of_hours(clocked, duration, code):
    """DurationType: 2-3 characters matching [0-9]+h (botocore 1.44; it was [0-9h]+); "The length
    of the rotation window in hours, for example 3h for a three hour window" (at most 24h).
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_RotationRulesType.html"""
    clocked.create("sched/hours", "v1")
    answer = clocked("RotateSecret", {"SecretId": "sched/hours", "ClientRequestToken": token(),
                                      "RotationLambdaARN": ROTATOR, "RotateImmediately": False,
                                      "RotationRules": {"ScheduleExpression": "cron(0 3 ? * MON *)", "Duration": duration}})
    assert_error(answer, code)
    assert "RotationEnabled" not in clocked.ok("DescribeSecret", {"SecretId": "sched/hours"})

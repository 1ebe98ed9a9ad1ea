"""RotationRules as AWS validates them, and when the next rotation window opens (UTC)."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from keyplane.engine.secrets.errors import InvalidParameterException
from keyplane.engine.secrets.schedule import next_window, validate_rules

T = datetime(2026, 1, 15, 13, 30, tzinfo=timezone.utc)     # a Thursday


@pytest.mark.parametrize("rules, expected", [
    ({"AutomaticallyAfterDays": 30}, datetime(2026, 2, 14, tzinfo=timezone.utc)),
    ({"ScheduleExpression": "rate(10 days)"}, datetime(2026, 1, 25, tzinfo=timezone.utc)),
    ({"ScheduleExpression": "rate(4 hours)"}, datetime(2026, 1, 15, 16, tzinfo=timezone.utc)),
    ({"ScheduleExpression": "cron(0 16 1,15 * ? *)"}, datetime(2026, 1, 15, 16, tzinfo=timezone.utc)),
    ({"ScheduleExpression": "cron(0 8 ? * MON *)"}, datetime(2026, 1, 19, 8, tzinfo=timezone.utc)),
    ({"ScheduleExpression": "cron(0 2 28 * ? *)"}, datetime(2026, 1, 28, 2, tzinfo=timezone.utc)),
])
def test_next_window_starts_where_aws_opens_it(rules, expected):
    assert next_window(validate_rules(rules), T) == expected


@pytest.mark.parametrize("rules", [
    {"AutomaticallyAfterDays": 1, "ScheduleExpression": "rate(1 days)"},
    {},
    {"ScheduleExpression": "rate(3 hours)"},
    {"ScheduleExpression": "every tuesday"},
    {"ScheduleExpression": "cron(0 * * * ? *)"},
    {"ScheduleExpression": "cron(0 1,3 * * ? *)"},
    {"ScheduleExpression": "cron(0 1 1 * MON *)"},
    # the guide: minutes "Must be 0" (windows open on the hour), year "Must be *"
    # (https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotate-secrets_schedule.html)
    {"ScheduleExpression": "cron(30 2 28 * ? *)"},
    {"ScheduleExpression": "cron(0 2 28 * ? 2027)"},
    {"ScheduleExpression": "cron(0 16 L * ? *)", "Duration": "9h"},
    {"ScheduleExpression": "rate(1000 days)"},
    {"ScheduleExpression": "rate(4 hours)", "Duration": "5h"},
    {"AutomaticallyAfterDays": 7, "Duration": "25h"},
])
def test_rules_aws_refuses_are_invalid_parameter(rules):
    with pytest.raises(InvalidParameterException):
        validate_rules(rules)

"""Rotation schedules: RotationRules (AutomaticallyAfterDays, rate()/cron() ScheduleExpression,
Duration) validated as AWS validates them, and the start of the next rotation window after a time.

Windows are in UTC. A `rate()` or AutomaticallyAfterDays window starts at midnight; a cron window
starts at the cron's time. keyplane rotates at the start of the window (deterministic, and inside
the window AWS would pick), so `next_window` is all the scheduler needs.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from .errors import InvalidParameterException

RATE_RE = re.compile(r"^rate\((\d+) (hours?|days?)\)$")
CRON_RE = re.compile(r"^cron\((.+)\)$")
DURATION_RE = re.compile(r"^(\d+)h$")
_MONTHS = {m: i + 1 for i, m in enumerate("JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split())}
_DAYS = {d: i + 1 for i, d in enumerate("SUN MON TUE WED THU FRI SAT".split())}   # AWS: 1 = Sunday


def _invalid(msg: str) -> InvalidParameterException:
    return InvalidParameterException(msg)


def _field(text: str, lo: int, hi: int, names: dict | None = None) -> set[int] | None:
    """The values a cron field allows; None for '*' / '?'."""
    if text in ("*", "?"):
        return None
    out: set[int] = set()
    for part in text.split(","):
        step = 1
        if "/" in part:
            part, s = part.split("/", 1)
            if not s.isdigit() or int(s) == 0:
                raise _invalid(f"Invalid cron step: {s}")
            step = int(s)
        if part in ("*", ""):
            a, b = lo, hi
        elif "-" in part:
            x, y = part.split("-", 1)
            a, b = _num(x, names), _num(y, names)
        else:
            a = _num(part, names)
            b = hi if step > 1 else a
        if not (lo <= a <= hi and lo <= b <= hi):
            raise _invalid(f"Cron value out of range: {part}")
        out.update(range(a, b + 1, step))
    return out


def _num(text: str, names: dict | None) -> int:
    if names and text.upper() in names:
        return names[text.upper()]
    if not text.isdigit():
        raise _invalid(f"Invalid cron value: {text}")
    return int(text)


class Cron:
    """AWS's six-field cron: minutes hours day-of-month month day-of-week year."""

    def __init__(self, body: str):
        parts = body.split()
        if len(parts) != 6:
            raise _invalid("A cron() expression has six fields: minutes hours day-of-month month "
                           "day-of-week year.")
        minute, hour, dom, month, dow, year = parts
        if (dom == "?") == (dow == "?"):
            raise _invalid("In a cron() expression exactly one of day-of-month and day-of-week must be '?'.")
        self.minutes = _field(minute, 0, 59)
        self.hours = _field(hour, 0, 23)
        self.dom = _field(dom, 1, 31)
        self.months = _field(month, 1, 12, _MONTHS)
        self.dow = _field(dow, 1, 7, _DAYS)
        self.years = _field(year, 1970, 2199)
        if self.minutes is None or len(self.minutes) != 1:
            raise _invalid("Secrets Manager rotation windows start on one minute of the hour.")
        if self.hours is not None and len(self.hours) > 6:
            raise _invalid("The schedule expression must not rotate more often than every four hours.")
        if self.hours is None:
            raise _invalid("The schedule expression must not rotate more often than every four hours.")
        hs = sorted(self.hours)
        if any(b - a < 4 for a, b in zip(hs, hs[1:])) or (len(hs) > 1 and hs[0] + 24 - hs[-1] < 4):
            raise _invalid("The schedule expression must not rotate more often than every four hours.")

    def _day_ok(self, d: datetime) -> bool:
        if self.months is not None and d.month not in self.months:
            return False
        if self.years is not None and d.year not in self.years:
            return False
        if self.dom is not None and d.day not in self.dom:
            return False
        if self.dow is not None and (d.isoweekday() % 7) + 1 not in self.dow:
            return False
        return True

    def next_after(self, after: datetime) -> datetime | None:
        minute = next(iter(self.minutes))
        day = after.replace(hour=0, minute=0, second=0, microsecond=0)
        for _ in range(366 * 5):
            if self._day_ok(day):
                for h in sorted(self.hours):
                    t = day.replace(hour=h, minute=minute)
                    if t > after:
                        return t
            day += timedelta(days=1)
        return None


def validate_rules(rules: dict) -> dict:
    """RotationRules as stored; InvalidParameterException for what AWS refuses."""
    days, expr, duration = rules.get("AutomaticallyAfterDays"), rules.get("ScheduleExpression"), rules.get("Duration")
    if days is not None and expr is not None:
        raise _invalid("You cannot specify both rotation frequency and schedule expression together.")
    if days is None and expr is None:
        raise _invalid("You must specify AutomaticallyAfterDays or ScheduleExpression in RotationRules.")
    hours_window = None
    if expr is not None:
        m = RATE_RE.match(expr)
        if m:
            n, unit = int(m.group(1)), m.group(2)
            if n < 1 or (unit.startswith("hour") and n < 4):
                raise _invalid("The schedule expression must not rotate more often than every four hours.")
            if unit.startswith("day") and n > 1000:
                raise _invalid("The rate() expression must be at most 1000 days.")
            hours_window = n if unit.startswith("hour") else None
        else:
            c = CRON_RE.match(expr)
            if not c:
                raise _invalid("Invalid ScheduleExpression: use rate(<n> hours|days) or cron(...).")
            Cron(c.group(1))
    if duration is not None:
        m = DURATION_RE.match(duration)
        if not m or not 1 <= int(m.group(1)) <= 24:
            raise _invalid("The Duration must be between 1h and 24h.")
        if hours_window is not None and int(m.group(1)) > hours_window:
            raise _invalid("The rotation window can't run into the next rotation window.")
    return {k: v for k, v in rules.items() if v is not None}


def _midnight(t: datetime) -> datetime:
    return t.replace(hour=0, minute=0, second=0, microsecond=0)


def next_window(rules: dict, last: datetime, now: datetime | None = None) -> datetime | None:
    """The start of the next rotation window after a rotation (or configuration) at `last`."""
    last = last.astimezone(timezone.utc)
    days, expr = rules.get("AutomaticallyAfterDays"), rules.get("ScheduleExpression")
    if days is not None:
        return _midnight(last) + timedelta(days=int(days))
    m = RATE_RE.match(expr)
    if m:
        n, unit = int(m.group(1)), m.group(2)
        if unit.startswith("day"):
            return _midnight(last) + timedelta(days=n)
        start = _midnight(last)
        step = timedelta(hours=n)
        t = start
        while t <= last:
            t += step
        return t
    return Cron(CRON_RE.match(expr).group(1)).next_after(last)

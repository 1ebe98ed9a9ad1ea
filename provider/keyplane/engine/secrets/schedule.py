"""Rotation schedules: RotationRules (AutomaticallyAfterDays, rate()/cron() ScheduleExpression,
Duration) validated as AWS validates them, and the start of the next rotation window after a time.

Windows are in UTC. A `rate()` or AutomaticallyAfterDays window starts at midnight; a cron window
starts at the cron's time. keyplane rotates at the start of the window (deterministic, and inside
the window AWS would pick), so `next_window` is all the scheduler needs.
"""
from __future__ import annotations

import math
import re
from datetime import datetime, timedelta, timezone

from croniter import croniter
from croniter.croniter import CroniterError

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


def _weekday(text: str) -> int:
    """An AWS day of week (1-7 or SUN-SAT, 1 = Sunday) as cron's 0-6 (0 = Sunday)."""
    day = _num(text, _DAYS)
    if not 1 <= day <= 7:
        raise _invalid(f"Cron value out of range: {text}")
    return day - 1


def _day_of_week(text: str) -> str:
    """AWS's Day-of-week field in croniter's syntax: days renumbered, `6L`/`FRIL` (the last Friday
    of the month) as `L5`, `TUE#3` as `2#3`, a lone `L` (the last day of the week) as Saturday."""
    if text in ("*", "?"):
        return "*"
    out = []
    for part in text.upper().split(","):
        if "#" in part:
            day, nth = part.split("#", 1)
            out.append(f"{_weekday(day)}#{nth}")
        elif part == "L":
            out.append("6")
        elif part.endswith("L"):
            out.append(f"L{_weekday(part[:-1])}")
        else:
            base, slash, step = part.partition("/")
            if base in ("*", ""):
                days = base
            elif "-" in base:
                a, b = base.split("-", 1)
                days = f"{_weekday(a)}-{_weekday(b)}"
            else:
                days = str(_weekday(base))
            out.append(days + slash + step)
    return ",".join(out)


class Cron:
    """AWS's six-field cron: minutes hours day-of-month month day-of-week year, with the wildcards
    Secrets Manager documents (`L`, `W` in day-of-month; `#`, `L` in day-of-week). The days are
    found by croniter on the five classic fields; the year is kept apart."""

    def __init__(self, body: str):
        parts = body.split()
        if len(parts) != 6:
            raise _invalid("A cron() expression has six fields: minutes hours day-of-month month "
                           "day-of-week year.")
        minute, hour, dom, month, dow, year = parts
        if dom == "?" and dow == "?":
            raise _invalid("In a cron() expression exactly one of day-of-month and day-of-week must be '?'.")
        if dom not in ("?", "*") and dow not in ("?", "*"):
            raise _invalid("In a cron() expression exactly one of day-of-month and day-of-week must be '?'.")
        # windows open on the hour, and schedules are never more than a year apart
        if minute != "0":
            raise _invalid("The minutes field of a cron() expression must be 0: rotation windows open on the hour.")
        if year != "*":
            raise _invalid("The year field of a cron() expression must be *.")
        self.hours = _field(hour, 0, 23)
        if self.hours is None or len(self.hours) > 6:
            raise _invalid("The schedule expression must not rotate more often than every four hours.")
        hs = sorted(self.hours)
        if any(b - a < 4 for a, b in zip(hs, hs[1:])) or (len(hs) > 1 and hs[0] + 24 - hs[-1] < 4):
            raise _invalid("The schedule expression must not rotate more often than every four hours.")
        self.classic = " ".join(["0", hour, "*" if dom == "?" else dom, month, _day_of_week(dow)])
        try:
            croniter(self.classic)
        except (CroniterError, ValueError, KeyError) as err:
            raise _invalid(f"Invalid cron() expression: {err}") from None

    def next_after(self, after: datetime) -> datetime | None:
        """The first time after `after` the expression names; None if it names none (any more)."""
        try:
            return croniter(self.classic, after.astimezone(timezone.utc)).get_next(datetime)
        except CroniterError:
            return None

    def longest_window(self) -> int:
        """Hours a window may last: to the end of the UTC day, or to the next window that day."""
        hs = sorted(self.hours)
        if len(hs) == 1:
            return 24 - hs[0]
        return min([b - a for a, b in zip(hs, hs[1:])] + [hs[0] + 24 - hs[-1]])


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
            if unit.startswith("day") and n > 999:
                raise _invalid("The rate() expression must be at most 999 days.")
            hours_window = n if unit.startswith("hour") else None
        else:
            c = CRON_RE.match(expr)
            if not c:
                raise _invalid("Invalid ScheduleExpression: use rate(<n> hours|days) or cron(...).")
            hours_window = Cron(c.group(1)).longest_window()
    if duration is not None:
        m = DURATION_RE.match(duration)
        if not m or not 1 <= int(m.group(1)) <= 24:
            raise _invalid("The Duration must be between 1h and 24h.")
        if hours_window is not None and int(m.group(1)) > hours_window:
            raise _invalid("The rotation window can't extend into the next rotation window or the next UTC day.")
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


def interval_days(rules: dict, after: datetime) -> int:
    """AutomaticallyAfterDays as DescribeSecret reports it for a ScheduleExpression: "In
    DescribeSecret and ListSecrets, this value is calculated from the rotation schedule" — the days
    from the next window to the one after it, rounded up, at least one (AWS answers 1 for
    rate(10 hours))."""
    days = rules.get("AutomaticallyAfterDays")
    if days is not None:
        return int(days)
    first = next_window(rules, after)
    second = next_window(rules, first) if first is not None else None
    if second is None:
        return 1
    return max(1, math.ceil((second - first) / timedelta(days=1)))


def _hourly(rules: dict) -> bool:
    """A schedule "in hours" (rate(n hours), or a cron() naming several hours of a day)."""
    expr = rules.get("ScheduleExpression")
    if expr is None:
        return False
    m = RATE_RE.match(expr)
    if m:
        return m.group(2).startswith("hour")
    return len(Cron(CRON_RE.match(expr).group(1)).hours) > 1


def window_end(rules: dict, start: datetime) -> datetime:
    """The last second of the rotation window opening at `start` — what DescribeSecret reports as
    NextRotationDate ("on or before this date"): Duration if set, else one hour for a schedule in
    hours and the end of the UTC day for one in days."""
    start = start.astimezone(timezone.utc)
    duration = rules.get("Duration")
    if duration is not None:
        length = timedelta(hours=int(DURATION_RE.match(duration).group(1)))
    elif _hourly(rules):
        length = timedelta(hours=1)
    else:
        length = _midnight(start) + timedelta(days=1) - start
    return start + length - timedelta(seconds=1)

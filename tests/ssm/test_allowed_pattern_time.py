"""A parameter's AllowedPattern is the user's own regular expression: matching it must take
bounded time, whatever the pattern and value, and keep its meaning (a full match of the value,
https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_PutParameter.html: "A regular
expression used to validate the parameter value. For example, for String types with values
restricted to numbers, you can specify the following: AllowedPattern=^\\d+$")."""
from __future__ import annotations

import threading
import time

import pytest
from botocore.exceptions import ClientError

import keyplane


@pytest.fixture
def ssm(engine):
    return keyplane.connect(engine=engine).client("ssm")


def _code(fn, **kw) -> str:
    with pytest.raises(ClientError) as exc:
        fn(**kw)
    return exc.value.response["Error"]["Code"]


def test_a_catastrophic_pattern_is_refused_in_linear_time(ssm):
    """^(a|a)*$ against 'a'*24 + '!' took ~5 s with a backtracking engine (each extra character
    doubles it); RE2 answers at once, with 64 characters as with 24."""
    started = time.process_time()
    for n in (24, 64, 4000):
        assert _code(ssm.put_parameter, Name=f"/redos/{n}", Type="String", Value="a" * n + "!",
                     AllowedPattern="^(a|a)*$") == "ParameterPatternMismatchException"
    assert time.process_time() - started < 1.0
    ssm.put_parameter(Name="/redos/ok", Type="String", Value="a" * 64, AllowedPattern="^(a|a)*$")


def test_a_pattern_re2_cannot_run_falls_back_with_a_time_bound(ssm):
    """Backreferences and lookaround are beyond RE2: a backtracking engine runs them, stopped after
    its time limit (InvalidAllowedPatternException) instead of holding the caller for minutes."""
    ssm.put_parameter(Name="/backref", Type="String", Value="abab", AllowedPattern=r"^(ab)\1$")
    assert _code(ssm.put_parameter, Name="/backref2", Type="String", Value="abac",
                 AllowedPattern=r"^(ab)\1$") == "ParameterPatternMismatchException"
    started = time.monotonic()
    code = _code(ssm.put_parameter, Name="/slow", Type="String", Value="a" * 26 + "!",
                 AllowedPattern=r"^(?=a)(a|a)*$")
    assert code == "InvalidAllowedPatternException"
    assert time.monotonic() - started < 3.0


def test_other_callers_are_not_held_while_a_pattern_is_matched(engine, ssm):
    """The fallback engine releases the GIL while it matches: another thread's calls go on."""
    ssm.put_parameter(Name="/fast", Type="String", Value="v")
    done = []

    def other():
        for _ in range(20):
            ssm.get_parameter(Name="/fast")
        done.append(time.monotonic())

    started = time.monotonic()
    worker = threading.Thread(target=other)
    worker.start()
    _code(ssm.put_parameter, Name="/slow", Type="String", Value="a" * 26 + "!", AllowedPattern=r"^(?=a)(a|a)*$")
    worker.join()
    assert done and done[0] - started < 3.0


def test_java_digit_class_is_ascii_as_in_allowed_patterns_dialect(ssm):
    """AllowedPattern is a Java regular expression, where \\d means [0-9]."""
    ssm.put_parameter(Name="/port", Type="String", Value="8080", AllowedPattern=r"^\d+$")
    assert _code(ssm.put_parameter, Name="/port2", Type="String", Value="\u0661\u0662",
                 AllowedPattern=r"^\d+$") == "ParameterPatternMismatchException"

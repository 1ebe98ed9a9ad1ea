"""Regular expressions that users supply (a parameter's AllowedPattern), matched in bounded time.

A backtracking engine takes exponential time on patterns like `^(a|a)*$`: one PutParameter spent
~5 s and stalled every other caller. Patterns are compiled with RE2 (google-re2), which matches in
time linear in the value whatever the pattern; its ASCII `\\d`/`\\w` are also Java's defaults, the
dialect AllowedPattern is written in. The few constructs RE2 leaves out (backreferences,
lookaround, possessive quantifiers) fall back to the `regex` package, with a time limit and with
the GIL released while it matches, so a pathological one costs its caller at most MATCH_SECONDS.
"""
from __future__ import annotations

import functools

import re2
import regex

MATCH_SECONDS = 0.05
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False


class PatternError(ValueError):
    """The pattern is not a regular expression."""


class PatternTimeout(Exception):
    """Matching took longer than MATCH_SECONDS."""


@functools.lru_cache(maxsize=1024)
def compile_pattern(pattern: str):
    try:
        return re2.compile(pattern, _RE2_OPTIONS)
    except re2.error:
        pass
    try:
        return regex.compile(pattern)
    except (regex.error, RecursionError, OverflowError) as exc:
        raise PatternError(str(exc)) from None


def fullmatch(pattern: str, value: str) -> bool:
    """Does `pattern` match all of `value`? PatternError or PatternTimeout otherwise."""
    compiled = compile_pattern(pattern)
    if isinstance(compiled, regex.Pattern):
        try:
            return compiled.fullmatch(value, concurrent=True, timeout=MATCH_SECONDS) is not None
        except TimeoutError:
            raise PatternTimeout(pattern) from None
    return compiled.fullmatch(value) is not None

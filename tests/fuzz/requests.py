"""Requests generated from botocore's service models: valid shapes, and every way to break them.

`request_body(draw, shape, seeds, hostile)` draws a JSON body for an operation's input shape. A
valid body honours the model (required members, types, enums, lengths, ranges, patterns); with
`hostile`, any node may instead be broken: a wrong JSON type, a lone surrogate, a huge or empty
value, a number wider than its type, a member dropped or added, `{}`/`null` list elements, deep
nesting, or NaN. Identifiers are drawn partly from `seeds` (names of things that exist), so
requests reach past "not found" into the operations' own code.
"""
from __future__ import annotations

import base64
import json

from hypothesis import strategies as st

HUGE = 70_000            # past every max length in the models, within the 8 MiB body limit
_SURROGATES = ["\ud800", "\udfff", "a\udc00b", "\ud83d"]


class Raw:
    """A JSON fragment that json.dumps cannot produce (NaN, deep nesting)."""
    def __init__(self, text: str):
        self.text = text


def _pattern_text(draw, pattern: str | None, lo: int, hi: int) -> str | None:
    if not pattern:
        return None
    try:
        text = draw(st.from_regex(pattern, fullmatch=True).filter(lambda s: lo <= len(s) <= hi))
    except Exception:  # noqa: BLE001 - a Java-only construct: fall back to plain text
        return None
    return text


def _seed_for(name: str, seeds: dict) -> list[str]:
    for suffix, kind in (("KeyId", "key"), ("SecretId", "secret"), ("AliasName", "alias"),
                         ("GrantId", "grant"), ("Name", "name"), ("Names", "name"),
                         ("ResourceId", "resource"), ("Arn", "arn"), ("ARN", "arn")):
        if name.endswith(suffix):
            return seeds.get(kind, [])
    return []


def valid(draw, shape, seeds: dict, name: str = "", depth: int = 0, hostile: bool = False):
    """A value for `shape`; with `hostile`, each node has a chance of being broken."""
    if hostile and draw(st.integers(0, 7)) == 0:
        return broken(draw, shape, seeds, name, depth)
    t = shape.type_name
    meta = shape.metadata
    if t == "structure":
        out = {}
        for member, mshape in shape.members.items():
            if member in shape.required_members or draw(st.booleans()):
                if depth > 6:
                    continue
                out[member] = valid(draw, mshape, seeds, member, depth + 1, hostile)
        return out
    if t == "list":
        lo, hi = meta.get("min", 0), min(meta.get("max", 4), 4)
        n = draw(st.integers(lo, max(lo, hi)))
        return [valid(draw, shape.member, seeds, name, depth + 1, hostile) for _ in range(n)]
    if t == "map":
        lo, hi = meta.get("min", 0), min(meta.get("max", 3), 3)
        n = draw(st.integers(lo, max(lo, hi)))
        return {valid(draw, shape.key, seeds, "", depth + 1, False): valid(draw, shape.value, seeds, "", depth + 1, hostile)
                for _ in range(n)}
    if t == "string":
        if shape.enum:
            return draw(st.sampled_from(shape.enum))
        known = _seed_for(name, seeds)
        if known and draw(st.booleans()):
            return draw(st.sampled_from(known))
        lo, hi = meta.get("min", 0), min(meta.get("max", 40), 40)
        text = _pattern_text(draw, meta.get("pattern"), lo, max(lo, hi))
        if text is None:
            text = draw(st.text(st.characters(min_codepoint=32, max_codepoint=0x2FFF, exclude_categories=("Cs",)),
                                min_size=lo, max_size=max(lo, hi)))
        return text
    if t in ("integer", "long"):
        lo = meta.get("min", -5)
        hi = meta.get("max", 1000)
        return draw(st.integers(lo, max(lo, hi)))
    if t in ("double", "float"):
        return draw(st.floats(meta.get("min", -1e6), meta.get("max", 1e6), allow_nan=False))
    if t == "boolean":
        return draw(st.booleans())
    if t == "blob":
        lo, hi = meta.get("min", 0), min(meta.get("max", 64), 64)
        return base64.b64encode(draw(st.binary(min_size=lo, max_size=max(lo, hi)))).decode()
    if t == "timestamp":
        return draw(st.one_of(st.integers(0, 4_000_000_000), st.sampled_from(["2026-01-15T12:00:00Z"])))
    return None


def broken(draw, shape, seeds: dict, name: str, depth: int):
    """One way to break a node of `shape`."""
    t = shape.type_name
    choices = ["wrong_type", "null", "deep", "nan", "huge_number"]
    if t == "string":
        choices += ["surrogate", "huge", "empty", "control"]
    if t == "structure":
        choices += ["empty_struct", "extra_member", "drop_required"]
    if t == "list":
        choices += ["empty_elements", "long_list"]
    if t == "map":
        choices += ["surrogate_key", "null_values"]
    if t == "blob":
        choices += ["bad_base64", "huge_blob"]
    how = draw(st.sampled_from(choices))
    if how == "wrong_type":
        return draw(st.sampled_from([0, -1, 2**70, 1.5, True, "x", [], {}, [1, "a"], {"a": 1}]))
    if how == "null":
        return None
    if how == "deep":
        return Raw("[" * 5000 + "]" * 5000)
    if how == "nan":
        return Raw(draw(st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400"])))
    if how == "huge_number":
        return draw(st.sampled_from([2**31, 2**63, 2**64 + 1, -2**63 - 1, 10**30, 1e308, -1e308]))
    if how == "surrogate":
        return draw(st.sampled_from(_SURROGATES)) + draw(st.sampled_from(["", "alias/x", "/p"]))
    if how == "huge":
        return draw(st.sampled_from(["a", "/", "\u00e9", "*"])) * HUGE
    if how == "empty":
        return ""
    if how == "control":
        return draw(st.sampled_from(["\x00", "a\nb", "\u202e", "../../etc", "%00", "' OR 1=1 --"]))
    if how == "empty_struct":
        return {}
    if how == "extra_member":
        out = valid(draw, shape, seeds, name, depth + 1)
        out[draw(st.sampled_from(["Extra", "__proto__", "KeyId", "a" * 300]))] = draw(
            st.sampled_from([1, "x", None, {}, []]))
        return out
    if how == "drop_required":
        out = valid(draw, shape, seeds, name, depth + 1)
        for member in shape.members:
            if draw(st.booleans()):
                out.pop(member, None)
        return out
    if how == "empty_elements":
        return draw(st.sampled_from([[{}], [None], [{}, {}], [""], [[]]]))
    if how == "long_list":
        item = valid(draw, shape.member, seeds, name, depth + 1)
        return [item] * draw(st.sampled_from([101, 1001, 20_000]))
    if how == "surrogate_key":
        return {"\ud800": "v", "k": "v"}
    if how == "null_values":
        return {"k": None}
    if how == "bad_base64":
        return draw(st.sampled_from(["***", "A", "AAA=A", "\ud800"]))
    if how == "huge_blob":
        return base64.b64encode(b"\0" * HUGE).decode()
    raise AssertionError(how)


def encode(value) -> bytes:
    """JSON bytes for a drawn body (Raw fragments spliced in as they are)."""
    fragments: list[str] = []

    def swap(v):
        if isinstance(v, Raw):
            fragments.append(v.text)
            return f"@@RAW{len(fragments) - 1}@@"
        if isinstance(v, dict):
            return {k: swap(x) for k, x in v.items()}
        if isinstance(v, list):
            return [swap(x) for x in v]
        return v

    text = json.dumps(swap(value))
    for i, frag in enumerate(fragments):
        text = text.replace(f'"@@RAW{i}@@"', frag)
    return text.encode()

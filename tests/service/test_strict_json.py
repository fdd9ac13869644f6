"""Request bodies are read as strict JSON: what the service could not write back is refused."""

from __future__ import annotations

import json

import pytest

from service import strict_json
from service.strict_json import MAX_DEPTH, NotStrictJson


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def test_nesting_up_to_the_limit_is_read_and_one_more_level_is_not():
    assert strict_json.loads(nested(MAX_DEPTH)) is not None
    with pytest.raises(NotStrictJson, match=f"deeper than {MAX_DEPTH}"):
        strict_json.loads(nested(MAX_DEPTH + 1))


def test_nesting_past_the_interpreter_limit_is_the_same_refusal_not_a_recursion_error():
    with pytest.raises(NotStrictJson, match=f"deeper than {MAX_DEPTH}"):
        strict_json.loads(nested(100_000))


@pytest.mark.parametrize("raw", [b"[NaN]", b"[Infinity]", b"[-Infinity]", b"[1e999]", b"[-1e400]"])
def test_numbers_that_are_not_json_numbers_are_refused(raw):
    with pytest.raises(NotStrictJson):
        strict_json.loads(raw)


@pytest.mark.parametrize("raw", [rb'["\ud800"]', rb'["x\udfff"]', rb'{"\udbae": 1}', rb'["\ude00\ud83d"]'])
def test_unpaired_surrogate_escapes_are_refused(raw):
    with pytest.raises(NotStrictJson, match="surrogate"):
        strict_json.loads(raw)


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        (rb'{"a": "\ud83d\ude00"}', {"a": "\U0001f600"}),  # a surrogate pair is one character
        (rb'["\\ud800"]', ["\\ud800"]),  # an escaped backslash, not an escape
        (b'{"x": 1e308, "y": -0.0, "z": 12345678901234567890}', {"x": 1e308, "y": -0.0, "z": 12345678901234567890}),
        ('{"name": "이순신"}'.encode(), {"name": "이순신"}),
    ],
)
def test_strict_json_reads_what_json_reads(raw, value):
    assert strict_json.loads(raw) == value == json.loads(raw)


def test_not_utf8_is_a_unicode_error():
    with pytest.raises(UnicodeDecodeError):
        strict_json.loads(b'["\xff"]')

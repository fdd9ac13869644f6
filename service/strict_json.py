"""Request bodies as strict JSON (RFC 8259), so nothing a client sends can break the answer.

Python's ``json.loads`` is lenient in three ways that hurt a service which echoes parts of the
request back (a draft order returned in an ``update`` suggestion):

- it accepts ``NaN``, ``Infinity`` and numbers such as ``1e999`` (read as infinity), which
  ``jsonify`` then writes back as ``NaN``/``Infinity`` — not JSON, so the EHR's parser rejects
  the whole answer;
- it accepts nesting up to the interpreter's recursion limit, deeper than the recursive code
  after it (copying a draft, validating, serialising) can go: a RecursionError, i.e. a 500;
- it accepts escapes of unpaired UTF-16 surrogates (``"\\ud800"``), which make strings that
  are not Unicode text and cannot be written back as UTF-8: a UnicodeEncodeError, a 500
  (RFC 8259 section 8.2 leaves them "unpredictable"; I-JSON, RFC 7493, forbids them).

``loads`` refuses all three with a ValueError naming the problem; the caller answers 400.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

MAX_DEPTH = 100
"""Deepest nesting of objects and arrays accepted. A CDS Hooks request puts a FHIR resource
about 6 levels down (prefetch → Bundle → entry → resource); FHIR resources themselves rarely
go beyond 10 more."""


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
"""An escape of a UTF-16 surrogate: a valid pair (an emoji) or an unpaired one."""


class NotStrictJson(ValueError):
    """The body is not strict JSON within the limits; the message says why."""


def _no_constant(name: str) -> Any:
    raise NotStrictJson(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise NotStrictJson(f"number {text[:40]} is out of range")
    return value


def loads(raw: bytes) -> Any:
    """The JSON value of ``raw``; NotStrictJson (a ValueError) if it is not strict JSON
    nested at most MAX_DEPTH deep, UnicodeDecodeError if it is not UTF-8."""
    try:
        value = json.loads(raw, parse_constant=_no_constant, parse_float=_finite)
    except RecursionError:
        raise NotStrictJson(f"JSON nested deeper than {MAX_DEPTH} levels") from None
    if _deeper_than(value, MAX_DEPTH):
        raise NotStrictJson(f"JSON nested deeper than {MAX_DEPTH} levels")
    if _SURROGATE_ESCAPE.search(raw) and _has_unpaired_surrogate(value):
        raise NotStrictJson("a string holds an unpaired UTF-16 surrogate escape (\\ud800-\\udfff)")
    return value


def _deeper_than(value: Any, limit: int) -> bool:
    """Level by level, so that checking depth cannot itself run out of stack."""
    level = [value] if type(value) in (dict, list) else []
    depth = 1
    while level:
        if depth > limit:
            return True
        deeper = []
        for node in level:
            for child in node.values() if type(node) is dict else node:
                if type(child) in (dict, list):
                    deeper.append(child)
        level, depth = deeper, depth + 1
    return False


def _has_unpaired_surrogate(value: Any) -> bool:
    """Any key or string that is not Unicode text (only escapes can make one)."""
    pending = [value]
    while pending:
        node = pending.pop()
        if type(node) is str:
            try:
                node.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif type(node) is dict:
            pending.extend(node.keys())
            pending.extend(node.values())
        elif type(node) is list:
            pending.extend(node)
    return False

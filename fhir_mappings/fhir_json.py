"""Defensive readers of raw FHIR JSON: lists, codings, dates and references.

Every mapper reads the JSON as received (after fhir.resources has accepted its shape, or, for a
malformed draft order, without that check). These readers never raise on an odd shape: a wrong
type reads as "absent", so one bad field costs that field, not the whole hook call.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache
from datetime import date, datetime, UTC
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

from rules.plausibility import EARLIEST_PLAUSIBLE_YEAR

JsonObject = dict[str, Any]


def as_list(value: Any) -> list[Any]:
    """A FHIR repeating element as a list; a lone object (a common client error) becomes [it]."""
    if value is None:
        return []
    if isinstance(value, list):
        return value
    return [value]


def objects(value: Any) -> list[JsonObject]:
    """The JSON objects of a repeating element, skipping anything that is not an object."""
    return [item for item in as_list(value) if isinstance(item, dict)]


def code_value(value: Any) -> str | None:
    """A code element as a string, or None for anything else (a list, an object, a number):
    safe to test against a set, which an unhashable list is not."""
    return value if isinstance(value, str) else None


def text_value(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def codings(concept: Any) -> list[JsonObject]:
    """The codings of a CodeableConcept (or of a bare Coding, which some clients send)."""
    if not isinstance(concept, dict):
        return []
    if "coding" in concept:
        return objects(concept.get("coding"))
    if "code" in concept or "system" in concept:
        return [concept]
    return []


def coded(coding: JsonObject, systems: frozenset[str]) -> str | None:
    """The code of a coding when its system is one of ``systems``."""
    if code_value(coding.get("system")) in systems:
        return text_value(coding.get("code"))
    return None


def concept_texts(concept: Any) -> list[str]:
    """The human words of a CodeableConcept: its text, then the displays of its codings."""
    texts: list[str] = []
    if isinstance(concept, dict):
        text = text_value(concept.get("text"))
        if text:
            texts.append(text)
        for coding in codings(concept):
            display = text_value(coding.get("display"))
            if display:
                texts.append(display)
    return texts


def concept_label(concept: Any) -> str:
    """What a clinician would call the concept: its text, a display, else a code."""
    texts = concept_texts(concept)
    if texts:
        return texts[0]
    for coding in codings(concept):
        code = text_value(coding.get("code"))
        if code:
            return code
    return ""


def status_code(concept: Any) -> str | None:
    """The code of a status CodeableConcept (clinicalStatus, verificationStatus)."""
    for coding in codings(concept):
        code = text_value(coding.get("code"))
        if code:
            return code.lower()
    return None


def number(value: Any) -> Decimal | None:
    """A JSON number as an exact Decimal (via its shortest repr), or None.

    bool is excluded (it is an int in Python), and so are NaN and infinities, which
    ``json.loads`` accepts but FHIR does not.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        return None
    try:
        result = Decimal(str(value))
    except (InvalidOperation, ValueError):  # ValueError: an int beyond str()'s digit limit
        return None
    return result if result.is_finite() else None


def finite_float(value: Fraction | Decimal | float) -> float | None:
    """A float, or None when the number is beyond what a float holds (a '1e400' in the JSON):
    such a value is an error in the source, not a measurement to round to infinity."""
    try:
        result = float(value)
    except (OverflowError, ValueError):
        return None
    return result if math.isfinite(result) else None


NUMBER_TEXT_LENGTH = 24


def number_text(value: Decimal) -> str:
    """'0.9', '444', '1.2E+3' → '1200': how the value reads in a note or card. A number that
    would take more than a few digits so ('1e-300' is 300 zeros) keeps its exponent form."""
    text = format(value, "f")
    return text if len(text) <= NUMBER_TEXT_LENGTH else str(value.normalize())


# --- dates --------------------------------------------------------------------------------

_FHIR_DATETIME = re.compile(
    r"^(?P<year>\d{4})(?:-(?P<month>\d{2})(?:-(?P<day>\d{2})"
    r"(?:T(?P<time>\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)(?P<zone>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)


@dataclass(frozen=True)
class FhirTime:
    """A FHIR date/dateTime/instant as written, with how precise it is."""

    text: str
    precision: str
    """'year', 'month', 'day' or 'time'."""
    start: date
    """The first day the value can mean (1 January for a year)."""
    instant: datetime
    """For ordering: the moment in UTC (local midnight for a bare date, taken as UTC). At the
    ends of the calendar, where UTC has no such moment (0001-01-01T00:00+14:00), the first or
    last moment that has one."""

    @property
    def day(self) -> date | None:
        """The calendar day as the source wrote it (its own time zone), when it has one."""
        return self.start if self.precision in ("day", "time") else None

    @property
    def before_plausible(self) -> bool:
        """A date before 1900 (clinical rules section 1): implausible, never used as a date."""
        return self.start.year < EARLIEST_PLAUSIBLE_YEAR


def parse_time(value: Any) -> FhirTime | None:
    """Parse a FHIR date, dateTime or instant string; anything malformed gives None, and so does
    a date before 1900 (clinical rules section 1: implausible), so that no date field of any
    resource carries one. Never raises."""
    parsed = parse_any_time(value)
    return None if parsed is None or parsed.before_plausible else parsed


def parse_any_time(value: Any) -> FhirTime | None:
    """Like ``parse_time``, but a date before 1900 is returned too: for the mappers that name
    such a value on a card ("verify") instead of reading it as absent."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    return _parse_time_text(value)


@lru_cache(maxsize=4096)  # a record repeats its dates: every lab of one draw shares one
def _parse_time_text(value: str) -> FhirTime | None:
    text = value.strip()
    match = _FHIR_DATETIME.match(text)
    if not match:
        return None
    try:
        year = int(match["year"])
        month = int(match["month"] or 1)
        day = int(match["day"] or 1)
        start = date(year, month, day)
        if match["time"]:
            zone = match["zone"] or ""
            moment = datetime.fromisoformat(
                f"{match['year']}-{match['month']}-{match['day']}T{match['time']}" + zone.replace("Z", "+00:00")
            )
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            instant = _in_utc(moment)
            precision = "time"
        else:
            instant = datetime(start.year, start.month, start.day, tzinfo=UTC)
            precision = "day" if match["day"] else "month" if match["month"] else "year"
    except ValueError:
        return None
    return FhirTime(text=text, precision=precision, start=start, instant=instant)


FIRST_MOMENT = datetime.min.replace(tzinfo=UTC)
"""Before every date: what an absent or too-early time sorts as."""
_LAST_MOMENT = datetime.max.replace(tzinfo=UTC)


def _in_utc(moment: datetime) -> datetime:
    """The moment in UTC; at the ends of the calendar, where the conversion leaves the years
    Python can hold (year 1 east of Greenwich, 9999 west of it), the nearest moment it can."""
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        return FIRST_MOMENT if moment.year == datetime.min.year else _LAST_MOMENT


def parse_day(value: Any) -> date | None:
    """A FHIR date/dateTime to its calendar day, only when it names a day."""
    parsed = parse_time(value)
    return parsed.day if parsed else None


# --- references ---------------------------------------------------------------------------

_TYPED_REFERENCE = re.compile(r"(?:^|/)(?P<type>[A-Z][A-Za-z]+)/(?P<id>[A-Za-z0-9\-\.]{1,64})(?:/_history/[^/]+)?$")


def reference_key(reference: Any) -> str | None:
    """'Observation/r9' for 'Observation/r9', 'https://x/fhir/Observation/r9' or
    'Observation/r9/_history/2'; the string itself for anything else (urn:uuid:…, '#id')."""
    text = text_value(reference)
    if text is None:
        return None
    match = _TYPED_REFERENCE.search(text)
    if match and not text.startswith("#"):
        return f"{match['type']}/{match['id']}"
    return text


def referenced_patient(resource: JsonObject) -> str | None:
    """The id of the Patient a resource's subject (or patient) points at, when it says."""
    for element in ("subject", "patient"):
        target = resource.get(element)
        if isinstance(target, dict):
            key = reference_key(target.get("reference"))
            if key and key.startswith("Patient/"):
                return key.split("/", 1)[1]
    return None

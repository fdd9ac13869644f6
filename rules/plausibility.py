"""Which values can be true of a patient, and how a card asks to verify one that cannot.

Clinical rules section 1 (Inputs): "A value outside the physiological range (age 18–120 years;
weight 25–300 kg; creatinine 0.1–20 mg/dL; ANC ≤ 100,000/µL; platelets ≤ 2,000,000/µL; a date
before 1900 or in the future) is implausible: not used, named on a card ("verify"), never a dose
from it. Two usable values of one kind at the same time that disagree […] are ambiguous: no dose
from them; the card shows both and asks which is right." (Safety principle 1.)

Who checks what:
- fhir_mappings/ applies the value ranges, the 1900 limit and the ambiguity test while it maps,
  so that such values never reach a Measurement field: every rule sees them as not available,
  safe by construction. What it held back is kept in ``PatientSnapshot.untrusted``.
- "In the future" and the age range depend on the evaluation date, which only the rules know:
  ``PatientSnapshot.age_on`` returns None outside 18–120 years, ``rules.freshness.is_fresh``
  refuses a value dated after the evaluation date, and ``untrusted_in`` / ``verify_notes``
  name both, with the mappers' findings, for a "data needed" card ("verify X", not "order X").
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:  # rules.model imports this module: the types are needed for checking only
    from rules.model import Measurement, PatientSnapshot


@dataclass(frozen=True)
class PlausibleRange:
    """The values a measurement can physiologically take, in the rules' unit for its kind."""

    low: float
    high: float
    unit: str
    """As cards write it ('mg/dL', '/µL', 'years')."""

    def admits(self, value: float, comparator: str | None = None) -> bool:
        """Whether the true value can lie in the range. A reported bound ('<0.05') is
        implausible only when the bound itself rules the whole range out; NaN never is."""
        if comparator == "<":
            return self.low < value
        if comparator == "<=":
            return self.low <= value
        if comparator == ">":
            return value < self.high
        if comparator == ">=":
            return value <= self.high
        return self.low <= value <= self.high

    @property
    def label(self) -> str:
        """'0.1–20 mg/dL', '≤ 100,000/µL', '18–120 years'."""
        separator = "" if self.unit.startswith("/") else " "
        if self.low <= 0:
            return f"≤ {_number(self.high)}{separator}{self.unit}"
        return f"{_number(self.low)}–{_number(self.high)}{separator}{self.unit}"


def _number(value: float) -> str:
    return f"{value:,.0f}" if value == int(value) else f"{value:g}"


# Clinical rules section 1: the physiological ranges, in the rules' units (rules/model.py).
AGE_YEARS = PlausibleRange(18.0, 120.0, "years")  # clinical rules section 1: age 18–120 years
RANGES: dict[str, PlausibleRange] = {
    "creatinine": PlausibleRange(0.1, 20.0, "mg/dL"),  # clinical rules section 1: 0.1–20 mg/dL
    "weight": PlausibleRange(25.0, 300.0, "kg"),  # clinical rules section 1: 25–300 kg
    "anc": PlausibleRange(0.0, 100_000.0, "/µL"),  # clinical rules section 1: ≤ 100,000/µL
    "platelets": PlausibleRange(0.0, 2_000_000.0, "/µL"),  # clinical rules section 1: ≤ 2,000,000/µL
}
# Clinical rules section 1: a date before 1900 is implausible.
EARLIEST_PLAUSIBLE_YEAR = 1900
# Service choice: a date one day after the evaluation date is still today somewhere (the EHR's
# local date can be ahead of ours); a later one is in the future, so implausible.
FUTURE_TOLERANCE_DAYS = 1

# How many decimals cards show for each kind (rules/renal.py shows creatinine to 2 decimals,
# weight to 1; counts are whole cells/µL). Two results closer than half a shown step read the
# same on a card: one result sent twice, not an ambiguity (``same_value``).
SHOWN_DIGITS: dict[str, int] = {
    "creatinine": 2, "weight": 1, "height": 1, "bmi": 1, "measured_crcl": 1, "egfr": 1,
    "anc": 0, "platelets": 0, "ecog": 0, "pregnancy_test": 0, "alt": 0, "ast": 0, "tsh": 2,
}  # fmt: skip
LABELS: dict[str, str] = {
    "creatinine": "creatinine", "weight": "body weight", "height": "body height", "bmi": "BMI",
    "measured_crcl": "creatinine clearance", "egfr": "eGFR", "anc": "ANC", "platelets": "platelets",
    "ecog": "ECOG performance status", "pregnancy_test": "pregnancy status", "alt": "ALT",
    "ast": "AST", "tsh": "TSH", "age": "birth date",
}  # fmt: skip

Reason = Literal["implausible", "ambiguous"]


@dataclass(frozen=True)
class UntrustedValue:
    """A value received and not used, because it is implausible or ambiguous."""

    kind: str
    """The input it would have been: a PatientSnapshot measurement field ('creatinine',
    'weight', 'anc', 'platelets', …) or 'age' for the birth date."""
    reason: Reason
    values: tuple[str, ...]
    """As received, unit included ('0.0001 mg/dL'); two or more when ambiguous."""
    when: str
    """The date or time as received ('2026-11-20T08:00:00Z'); for a birth date, the date."""
    day: date | None
    """The calendar day, when the date itself is usable, for the card's inputs list."""
    note: str
    """The card line: 'Verify: creatinine 0.0001 mg/dL on 2026-11-20 is outside 0.1–20 mg/dL',
    'Verify: two creatinine results at 2026-11-20T08:00:00Z: 1.0 mg/dL and 2.4 mg/dL — which
    is right?'."""
    to_verify: str
    """The same as an item of a list of what is missing ('verify: creatinine 0.0001 mg/dL …',
    'verify which of two creatinine results at … is right: 1.0 mg/dL or 2.4 mg/dL')."""


def _label(kind: str) -> str:
    return LABELS.get(kind, kind)


def _implausible(kind: str, values: tuple[str, ...], when: str, day: date | None, detail: str) -> UntrustedValue:
    return UntrustedValue(kind, "implausible", values, when, day, f"Verify: {detail}", f"verify: {detail}")


def outside_range(kind: str, shown: str, day: date) -> UntrustedValue:
    """A value outside its kind's range (``RANGES``)."""
    bounds = RANGES[kind]
    allowed = bounds.label if bounds.low > 0 else f"the plausible range ({bounds.label})"
    detail = f"{_label(kind)} {shown} on {day.isoformat()} is outside {allowed}"
    return _implausible(kind, (shown,), day.isoformat(), day, detail)


def implausible_date(kind: str, shown: str, when: str, why: str) -> UntrustedValue:
    """A value dated before 1900 or in the future (``why``: ``BEFORE_1900``, ``IN_THE_FUTURE``).
    ``shown`` is '' for a birth date, whose date is the value."""
    subject = f"{_label(kind)} {shown} dated {when}" if shown else f"{_label(kind)} {when}"
    return _implausible(kind, (shown or when,), when, None, f"{subject} is {why}")


BEFORE_1900 = f"before {EARLIEST_PLAUSIBLE_YEAR}"
IN_THE_FUTURE = "in the future"


def implausible_age(birth: date, years: int, today: date) -> UntrustedValue:
    detail = (
        f"birth date {birth.isoformat()} gives an age of {years} years on {today.isoformat()}, "
        f"outside {AGE_YEARS.label}"
    )
    return _implausible("age", (birth.isoformat(),), birth.isoformat(), birth, detail)


_COUNT_WORDS = {2: "two", 3: "three", 4: "four"}


def ambiguous(kind: str, shown: tuple[str, ...], when: str, day: date | None) -> UntrustedValue:
    """Values of one kind at the same time that disagree (see ``same_value``)."""
    count = _COUNT_WORDS.get(len(shown), str(len(shown)))
    both = ", ".join(shown[:-1]) + " and " + shown[-1]
    either = ", ".join(shown[:-1]) + " or " + shown[-1]
    return UntrustedValue(
        kind,
        "ambiguous",
        shown,
        when,
        day,
        f"Verify: {count} {_label(kind)} results at {when}: {both} — which is right?",
        f"verify which of {count} {_label(kind)} results at {when} is right: {either}",
    )


def same_value(kind: str, a: float, a_comparator: str | None, b: float, b_comparator: str | None) -> bool:
    """Whether two results of one kind at one time say the same thing.

    Clinical rules section 1 calls results "that disagree" ambiguous. The simplest safe reading
    is taken: they disagree when their values differ, after conversion to the rules' unit, by
    more than rounding to the precision cards show for the kind (``SHOWN_DIGITS``: creatinine
    1.0 mg/dL and 88 µmol/L agree, 1.0 and 1.1 mg/dL do not), or when one is a bound ('<0.5')
    and the other is not the same bound. Whether two different values would happen to fall in
    the same dose tier is not asked: which one is right is for the clinician, not a guess.
    """
    if a_comparator != b_comparator:
        return False
    half_step = 0.5 * 10.0 ** -SHOWN_DIGITS.get(kind, 2)
    # a relative margin absorbs the float error of a unit conversion at the half-step edge
    return abs(a - b) <= half_step * (1 + 1e-9) + 1e-12 * max(abs(a), abs(b))


def plausible_value(kind: str, value: float, comparator: str | None = None) -> bool:
    """True unless ``kind`` has a range (``RANGES``) and the value lies outside it."""
    bounds = RANGES.get(kind)
    return bounds is None or (math.isfinite(value) and bounds.admits(value, comparator))


def completed_years(birth: date, today: date) -> int:
    """Age in whole years on ``today`` (negative for a birth date after it)."""
    years = today.year - birth.year
    if (today.month, today.day) < (birth.month, birth.day):
        years -= 1
    return years


def plausible_age(years: int) -> bool:
    return AGE_YEARS.admits(float(years))


def in_the_future(day: date, today: date) -> bool:
    return (day - today).days > FUTURE_TOLERANCE_DAYS


_MEASUREMENTS: dict[str, Callable[[PatientSnapshot], Measurement | None]] = {
    "creatinine": lambda s: s.creatinine,
    "weight": lambda s: s.weight,
    "height": lambda s: s.height,
    "bmi": lambda s: s.bmi,
    "measured_crcl": lambda s: s.measured_crcl,
    "egfr": lambda s: s.egfr,
    "anc": lambda s: s.anc,
    "platelets": lambda s: s.platelets,
    "ecog": lambda s: s.ecog,
    "pregnancy_test": lambda s: s.pregnancy_test,
    "alt": lambda s: s.alt,
    "ast": lambda s: s.ast,
    "tsh": lambda s: s.tsh,
}
KINDS: tuple[str, ...] = (*_MEASUREMENTS, "age")


def untrusted_in(snapshot: PatientSnapshot, today: date, *kinds: str) -> tuple[UntrustedValue, ...]:
    """The values of these kinds (all kinds when none is named) that must not be used: what the
    mappers held back (outside its range, dated before 1900, ambiguous), then what is
    implausible on ``today`` (a Measurement dated in the future, an age outside 18–120 years).
    The ranges are the mappers' to apply: a Measurement field holds only values inside them."""
    wanted = kinds or KINDS
    found = [u for u in snapshot.untrusted if u.kind in wanted]
    for kind in wanted:
        if kind == "age":
            birth = snapshot.birth_date
            if birth is not None and not plausible_age(years := completed_years(birth, today)):
                found.append(implausible_age(birth, years, today))
            continue
        read = _MEASUREMENTS.get(kind)
        measurement = read(snapshot) if read is not None else None
        if measurement is None:
            continue
        if in_the_future(measurement.when, today):
            shown = measurement.original or measurement.shown(SHOWN_DIGITS.get(kind, 2))
            found.append(implausible_date(kind, shown, measurement.when.isoformat(), IN_THE_FUTURE))
    return tuple(found)


def verify_notes(snapshot: PatientSnapshot, today: date, *kinds: str) -> tuple[str, ...]:
    """Card lines ('Verify: creatinine 0.0001 mg/dL on 2026-11-20 is outside 0.1–20 mg/dL')
    for the values of these kinds that were received but cannot be used; empty when there are
    none. A "data needed" card says these instead of "order X": the value exists and is in
    doubt, so the question is which value is right, not a new test."""
    return tuple(dict.fromkeys(u.note for u in untrusted_in(snapshot, today, *kinds)))

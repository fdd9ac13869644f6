"""MedicationRequest.dosageInstruction → one Regimen (dose, interval, cycle days, route).

Structured fields (doseAndRate, timing, route) are trusted first. The instruction's text fills
what they leave out — always the days of the cycle, which FHIR has no plain element for
('25 mg PO daily d1-21 q28d', '40 mg on days 1, 8, 15, 22 of each 28-day cycle'). When the
two disagree the structured value is used and the disagreement is noted. A dose counted in
units ('1 {pill}', '4 capsules') is that many units of the ordered product's strength
(fhir_mappings/products.py); without a known strength it is left empty with a note, and so is
an ambiguous dose (a range '1-2 tablets', a dose per m²), never chosen.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from decimal import Decimal
from fractions import Fraction
from typing import Any

from rules.model import Regimen

from fhir_mappings.card_text import markdown_text
from fhir_mappings.fhir_json import (
    JsonObject,
    codings,
    coded,
    concept_texts,
    finite_float,
    number,
    number_text,
    objects,
    text_value,
)
from fhir_mappings.terminology import (
    EDQM_SYSTEMS,
    ROUTE_BY_EDQM,
    ROUTE_BY_SNOMED,
    ROUTE_WORDS,
    SNOMED_SYSTEMS,
)
from fhir_mappings.products import count_form
from fhir_mappings.units import fold_unit, quantity_unit

# Dose units as ordered → (the Regimen's unit, factor). International units are written many
# ways; heparins are often ordered in plain 'units'.
DOSE_UNITS: dict[str, tuple[str, Fraction]] = {
    **{fold_unit(u): ("mg", Fraction(1)) for u in ("mg", "milligram", "milligrams")},
    **{fold_unit(u): ("mg", Fraction(1000)) for u in ("g", "gram", "grams")},
    **{fold_unit(u): ("ug", Fraction(1)) for u in ("ug", "mcg", "microgram", "micrograms")},
    **{fold_unit(u): ("IU", Fraction(1)) for u in ("[iU]", "[IU]", "IU", "U", "unit", "units", "international units")},
}

# UCUM periodUnit → hours. A month is UCUM's mean Julian month (30.4375 d), a year 365.25 d.
PERIOD_HOURS: dict[str, Fraction] = {
    "s": Fraction(1, 3600),
    "min": Fraction(1, 60),
    "h": Fraction(1),
    "d": Fraction(24),
    "wk": Fraction(168),
    "mo": Fraction("730.5"),
    "a": Fraction(8766),
}

# HL7 v3 GTSAbbreviation timing codes (and common variants) → hours between doses.
TIMING_CODE_HOURS: dict[str, float] = {
    "QD": 24, "QAM": 24, "QPM": 24, "QHS": 24, "AM": 24, "PM": 24, "HS": 24, "DAILY": 24,
    "BID": 12, "TID": 8, "QID": 6, "QOD": 48,
    "WK": 168, "QW": 168, "QWK": 168, "WEEKLY": 168, "BIW": 84,
    "MO": 730.5,
}  # fmt: skip
_EVERY_N_HOURS_CODE = re.compile(r"^Q(\d{1,3})H$")
_EVERY_N_DAYS_CODE = re.compile(r"^Q(\d{1,3})D$")


@dataclass
class TextDosage:
    """What a free-text dosage instruction says."""

    dose: float | None = None
    dose_unit: str | None = None
    every_hours: float | None = None
    interval_stated: bool = False
    """False when ``every_hours`` is only read off the spacing of the cycle days."""
    cycle_days: tuple[int, ...] = ()
    cycle_length_days: int | None = None
    route: str | None = None
    problems: list[str] = field(default_factory=list)


@dataclass
class DoseUnits:
    """How an order counts its dose, and what that count is in mg.

    ``strength_mg`` is the ordered product's strength per unit (None when unknown);
    ``product_named`` says the order names a product, so that a bare number or the UCUM unit
    '1' counts its units. Reading fills in ``units_per_dose`` and ``dose_problem``.
    """

    strength_mg: float | None = None
    product_named: bool = False
    units_per_dose: float | None = None
    dose_problem: str | None = None


@dataclass(frozen=True)
class DosageReading:
    regimen: Regimen | None
    problems: list[str]
    units_per_dose: float | None = None
    """Capsules or tablets per dose, when the order counted them."""
    dose_problem: str | None = None
    """Why a stated dose could not be read in mg (a form or strength not understood)."""


def read_regimen(dosage_instructions: Any) -> tuple[Regimen | None, list[str]]:
    """One Regimen from all the dosage instructions of an order, and what could not be read."""
    reading = read_dosage(dosage_instructions)
    return reading.regimen, reading.problems


def read_dosage(dosage_instructions: Any, units: DoseUnits | None = None) -> DosageReading:
    """Like read_regimen, with a dose counted in units turned into mg by ``units``."""
    instructions = objects(dosage_instructions)
    if not instructions:
        return DosageReading(None, [])
    counting = units if units is not None else DoseUnits()
    problems: list[str] = []
    regimens = [_instruction_regimen(instruction, problems, counting) for instruction in instructions]
    regimen = regimens[0]
    for other in regimens[1:]:
        merged = _merged(regimen, other)
        if merged is None:
            problems.append("several different dosage instructions; only the first is read")
            break
        regimen = merged
    return DosageReading(regimen, problems, counting.units_per_dose, counting.dose_problem)


def _merged(first: Regimen, second: Regimen) -> Regimen | None:
    """Two instructions that differ only in their days (days 1-4 and 9-12 written apart)."""
    same = (
        first.dose == second.dose
        and first.dose_unit == second.dose_unit
        and first.every_hours == second.every_hours
        and first.cycle_length_days == second.cycle_length_days
        and (first.route == second.route or second.route is None)
    )
    if not same:
        return None
    days = tuple(sorted(set(first.cycle_days) | set(second.cycle_days)))
    texts = [t for t in (first.text, second.text) if t]
    return replace(first, cycle_days=days, text="; ".join(texts) or None)


def _instruction_regimen(instruction: JsonObject, problems: list[str], units: DoseUnits) -> Regimen:
    text = text_value(instruction.get("text"))
    written = parse_dosage_text(text, units.strength_mg) if text else TextDosage()
    problems.extend(written.problems)

    dose, dose_unit = _structured_dose(instruction.get("doseAndRate"), problems, units)
    if dose is not None and written.dose is not None and (dose, dose_unit) != (written.dose, written.dose_unit):
        problems.append(
            f"the structured dose ({_amount(dose)} {dose_unit}) differs from the dosage text "
            f"('{text}'); the structured dose is used"
        )
    if dose is None and written.dose is not None and not _has_structured_dose(instruction):
        dose, dose_unit = written.dose, written.dose_unit

    every_hours = _timing_hours(instruction.get("timing"))
    if (
        every_hours is not None
        and written.interval_stated
        and written.every_hours is not None
        and every_hours != written.every_hours
    ):
        problems.append(
            f"the structured timing (every {_amount(every_hours)} h) differs from the dosage text "
            f"('{text}'); the structured timing is used"
        )
    if every_hours is None:
        every_hours = written.every_hours

    return Regimen(
        dose=dose,
        dose_unit=dose_unit if dose is not None else None,
        every_hours=every_hours,
        cycle_days=written.cycle_days,
        cycle_length_days=written.cycle_length_days,
        route=_route(instruction.get("route")) or written.route,
        text=text,
    )


def _amount(value: float) -> str:
    return f"{value:g}"


# --- structured dose ------------------------------------------------------------------------


def _has_structured_dose(instruction: JsonObject) -> bool:
    return any("doseQuantity" in entry or "doseRange" in entry for entry in objects(instruction.get("doseAndRate")))


def _structured_dose(dose_and_rate: Any, problems: list[str], units: DoseUnits) -> tuple[float | None, str | None]:
    entries = objects(dose_and_rate)
    # An order can carry the dose as ordered and as calculated; the ordered one is the order.
    ordered = [e for e in entries if any(c.get("code") == "ordered" for c in codings(e.get("type")))]
    for entry in ordered + [e for e in entries if e not in ordered]:
        if isinstance(entry.get("doseQuantity"), dict):
            return _dose_quantity(entry["doseQuantity"], problems, units)
        if isinstance(entry.get("doseRange"), dict):
            return _dose_range(entry["doseRange"], problems)
    return None, None


def _dose_quantity(quantity: JsonObject, problems: list[str], units: DoseUnits) -> tuple[float | None, str | None]:
    value = number(quantity.get("value"))
    # Clients send {"value": 1, "code": "{pill}"} without a system: the code is still the unit.
    unit = quantity_unit(quantity) or text_value(quantity.get("code"))
    if value is None:
        problems.append("the dose has no value")
        return None, None
    converted = _to_dose_unit(value, unit)
    if converted is not None:
        return converted
    # '1 {pill}' of 'lenalidomide 25 MG Oral Capsule'; a bare number or UCUM's unit '1' counts
    # units only when the order names a product (otherwise it could be anything).
    bare = unit is None or fold_unit(unit) == "1"
    counts = units.product_named if bare else unit is not None and count_form(unit) is not None
    if counts and value > 0:
        amount = finite_float(Fraction(value))
        if units.strength_mg is not None and amount is not None:
            units.units_per_dose = units.units_per_dose or amount
            dose = finite_float(Fraction(value) * Fraction(units.strength_mg))
            if dose is not None:
                return dose, "mg"
        shown = f"{number_text(value)} {unit or '(no unit)'}"
        units.dose_problem = units.dose_problem or (
            f"dose of {number_text(value)} {markdown_text(unit) if unit else '(no unit)'}: "
            "the product's strength is not known"
        )
        problems.append(f"the dose {shown} counts units of a product whose strength is not known")
        return None, None
    shown_unit = unit or "(no unit)"
    # The dose problem is quoted on cards: the ordered unit is record text (card_text.py).
    units.dose_problem = units.dose_problem or (
        f"dose form '{markdown_text(unit) if unit else '(no unit)'}' not understood"
    )
    problems.append(f"the dose {number_text(value)} {shown_unit} is not in mg, µg or IU")
    return None, None


def _to_dose_unit(value: Decimal, unit: str | None) -> tuple[float, str] | None:
    if unit is None:
        return None
    known = DOSE_UNITS.get(fold_unit(unit))
    if known is None or value < 0:
        return None
    dose_unit, factor = known
    dose = finite_float(Fraction(value) * factor)
    return (dose, dose_unit) if dose is not None else None


def _dose_range(dose_range: JsonObject, problems: list[str]) -> tuple[float | None, str | None]:
    low, high = dose_range.get("low"), dose_range.get("high")
    doses = [
        _to_dose_unit(value, quantity_unit(q)) if (value := number(q.get("value"))) is not None else None
        for q in (low, high)
        if isinstance(q, dict)
    ]
    if len(doses) == 2 and doses[0] is not None and doses[0] == doses[1]:
        return doses[0]
    # '1 to 2 tablets' leaves the dose to the nurse or patient; a rule cannot check it.
    problems.append("the dose is a range, not one dose")
    return None, None


# --- structured timing ----------------------------------------------------------------------


def _timing_hours(timing: Any) -> float | None:
    if not isinstance(timing, dict):
        return None
    repeat = timing.get("repeat")
    if isinstance(repeat, dict):
        hours = _repeat_hours(repeat)
        if hours is not None:
            return hours
    return _timing_code_hours(timing.get("code"))


def _repeat_hours(repeat: JsonObject) -> float | None:
    frequency = number(repeat.get("frequency"))
    period = number(repeat.get("period"))
    unit = repeat.get("periodUnit")
    if period is not None and period > 0 and isinstance(unit, str) and unit in PERIOD_HOURS:
        times = frequency if frequency is not None and frequency > 0 else Decimal(1)
        return finite_float(Fraction(period) * PERIOD_HOURS[unit] / Fraction(times))
    weekdays = (
        [day for day in repeat.get("dayOfWeek") or [] if isinstance(day, str)]
        if isinstance(repeat.get("dayOfWeek"), list)
        else []
    )
    if weekdays:
        return 168 / len(set(weekdays))
    when = repeat.get("when") if isinstance(repeat.get("when"), list) else []
    if when and frequency is None:
        # 'MORN' alone is once a day; 'MORN', 'EVE' twice a day
        return 24 / len(set(w for w in when if isinstance(w, str)) or {1})
    return None


def _timing_code_hours(code: Any) -> float | None:
    for coding in codings(code):
        value = text_value(coding.get("code"))
        if value is None:
            continue
        value = value.upper()
        if value in TIMING_CODE_HOURS:
            return TIMING_CODE_HOURS[value]
        if match := _EVERY_N_HOURS_CODE.match(value):
            return float(match[1]) if int(match[1]) > 0 else None
        if match := _EVERY_N_DAYS_CODE.match(value):
            return 24.0 * int(match[1]) if int(match[1]) > 0 else None
    for text in concept_texts(code):
        hours = _text_interval(text.lower(), has_day_list=False)
        if hours is not None:
            return hours
    return None


# --- route ----------------------------------------------------------------------------------


def _route(route: Any) -> str | None:
    for coding in codings(route):
        snomed = coded(coding, SNOMED_SYSTEMS)
        if snomed in ROUTE_BY_SNOMED:
            return ROUTE_BY_SNOMED[snomed]
        edqm = coded(coding, EDQM_SYSTEMS)
        if edqm in ROUTE_BY_EDQM:
            return ROUTE_BY_EDQM[edqm]
    for text in concept_texts(route):
        found = _text_route(text)
        if found:
            return found
    return None


def _text_route(text: str) -> str | None:
    for route, pattern in ROUTE_WORDS:
        if pattern.search(text):
            return route
    return None


# --- free text ------------------------------------------------------------------------------

_NUMBER = r"(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)"
_TEXT_DOSE = re.compile(
    _NUMBER + r"\s*(mg|milligrams?|g|grams?|mcg|ug|micrograms?|iu|international units|units?)\b"
    r"(?!\s*(?:/|per)\s*(?:m2|m\^2|m²|kg|sq))",  # mg/m² and mg/kg are not a dose in mg
)
# '1 capsule', '4 tablets' — not '1-2 tablets' (a range leaves the dose to the patient).
_TEXT_UNITS = re.compile(r"(?<![\d.-])(\d{1,2}) ?(?:capsules?|caps?|tablets?|tabs?|pills?)\b(?! ?(?:-|to) ?\d)")
_RANGE = r"\d{1,3}(?:\s*(?:-|to|through|thru)\s*\d{1,3})?"
_DAY_LIST = re.compile(rf"\b(?:days?|d)\s*({_RANGE}(?:\s*(?:,|and|&|\+)\s*(?:(?:days?|d)\s*)?{_RANGE})*)")
# 'd1-21/28', 'days 1, 8, 15, 22 of 28' (other spellings of the length are in _CYCLE_LENGTH)
_LENGTH_AFTER_DAYS = re.compile(
    r"^\s*(?:/|of|out of)\s*(?:a|each|every|the)?\s*(\d{1,3})(?![\d.]|\s*-?\s*(?:mg|w|g\b|u))"
)
# '21 days on, 7 days off' and '40 mg/day x 4 days every 2 weeks': days 1…n of the cycle.
_DAYS_ON_OFF = re.compile(r"\b(\d{1,2}) days?(?: on)?,? (?:then |followed by |and )?(\d{1,2}) days? off\b")
_DAYS_EACH_CYCLE = re.compile(
    r"(?:\bx|\bfor) ?(\d{1,2}) ?(?:consecutive )?(?:days?|d) (?:every|of each|of every|q) ?(\d{1,2})[ -]?"
    r"(weeks?|wks?|days?|d)\b"
)
_CYCLE_LENGTH = (
    (re.compile(r"\bq\s?(\d{1,3})\s?d(?:ays?)?\b"), 1),
    (re.compile(r"\b(\d{1,3})\s*-?\s*days?\s*cycles?\b"), 1),
    (re.compile(r"\bcycles?\s*(?:length\s*)?(?:of\s*|=\s*)?(\d{1,3})\s*days?\b"), 1),
    (re.compile(r"\bevery\s*(\d{1,3})\s*days?\b"), 1),
    (re.compile(r"\bevery\s*(\d{1,2})\s*weeks?\b"), 7),
    (re.compile(r"\bq\s?(\d{1,2})\s?w(?:ks?|eeks?)?\b"), 7),
    (re.compile(r"\b(\d{1,2})\s*-?\s*weeks?\s*cycles?\b"), 7),
)

# (pattern, hours between doses), most specific first: "twice weekly" before "weekly",
# "every other day" before "day".
_INTERVALS: tuple[tuple[re.Pattern[str], float], ...] = tuple(
    (re.compile(pattern), hours)
    for pattern, hours in (
        (r"\b(?:every other day|every second day|alternate days?|on alternate days|qod|q\.o\.d\.?|"
         r"every 2 days|every 48 ?h(?:ours?|rs?)?|q ?48 ?h)\b", 48),
        (r"\b(?:twice (?:a |per |each )?week(?:ly)?|biw|2 times (?:a|per) week|2x ?/ ?week)\b", 84),
        (r"\b(?:three times (?:a |per )?week(?:ly)?|thrice weekly|tiw)\b", 56),
        (r"\b(?:once (?:a |per |each )?week(?:ly)?|weekly|every week|qw(?:k)?|q ?1 ?w(?:k|eek)?|"
         r"every 7 days|q ?7 ?d(?:ays?)?|per week|/ ?week|/ ?wk|each week)\b", 168),
        (r"\b(?:twice (?:a |per )?day|twice daily|bid|b\.i\.d\.?|q ?12 ?h|every 12 ?h(?:ours?|rs?)?|"
         r"2 times (?:a|per) day)\b", 12),
        (r"\b(?:three times (?:a |per )?day|three times daily|tid|t\.i\.d\.?|q ?8 ?h|"
         r"every 8 ?h(?:ours?|rs?)?)\b", 8),
        (r"\b(?:four times (?:a |per )?day|four times daily|qid|q\.i\.d\.?|q ?6 ?h|"
         r"every 6 ?h(?:ours?|rs?)?)\b", 6),
        (r"\b(?:once daily|once a day|daily|every day|each day|per day|/ ?day|a day|qd|q\.d\.?|od|"
         r"q ?24 ?h|every 24 ?h(?:ours?|rs?)?|qam|qpm|qhs|at bedtime|every (?:morning|evening|night)|"
         r"nightly)\b", 24),
    )
)  # fmt: skip
_TIMES_PER = re.compile(
    r"\b(\d{1,2}) ?(?:times|x) ?(?:(daily|a day|per day|/ ?day)|(weekly|a week|per week|/ ?week))\b"
)
_EVERY_N_HOURS = re.compile(r"\b(?:q ?(\d{1,3}) ?h|every (\d{1,3}) ?h(?:ours?|rs?)?)\b")
_EVERY_N_DAYS = re.compile(r"\b(?:q ?(\d{1,2}) ?d|every (\d{1,2}) days?)\b")


def parse_dosage_text(text: str, strength_mg: float | None = None) -> TextDosage:
    """Read a free-text dosage such as '25 mg PO daily d1-21 q28d' (or '1 capsule daily' of a
    product of ``strength_mg``)."""
    normal = re.sub(r"\s+", " ", text.lower().replace("–", "-").replace("—", "-").replace("µ", "u").replace("×", "x"))
    found = TextDosage(route=_text_route(normal))

    dose = _TEXT_DOSE.search(normal)
    if dose:
        unit = dose[2]
        converted = _to_dose_unit(Decimal(dose[1].replace(",", "")), "iu" if unit == "international units" else unit)
        if converted is not None:
            found.dose, found.dose_unit = converted
    elif strength_mg is not None and (count := _TEXT_UNITS.search(normal)):
        mg = finite_float(Fraction(Decimal(count[1])) * Fraction(strength_mg))
        if mg is not None and mg > 0:
            found.dose, found.dose_unit = mg, "mg"

    days_match = _DAY_LIST.search(normal)
    rest = normal
    block = _DAYS_ON_OFF.search(normal) or _DAYS_EACH_CYCLE.search(normal)
    length: int | None
    if block and not days_match:
        on = int(block[1])
        if block.re is _DAYS_ON_OFF:
            length = on + int(block[2])
        else:
            length = int(block[2]) * (1 if block[3].startswith("d") else 7)
        rest = normal[: block.start()] + " " + normal[block.end() :]
        if on > 0 and _plausible(tuple(range(1, on + 1)), length, found.problems):
            found.cycle_days, found.cycle_length_days = tuple(range(1, on + 1)), length
    elif days_match:
        days = _day_numbers(days_match[1])
        after = normal[days_match.end() :]
        length_match = _LENGTH_AFTER_DAYS.match(after)
        length = int(length_match[1]) if length_match else _cycle_length(after) or _cycle_length(normal)
        # What names the cycle is not a dosing interval: drop it before reading the interval.
        rest = normal[: days_match.start()] + " " + (after[length_match.end() :] if length_match else after)
        for pattern, _ in _CYCLE_LENGTH:
            rest = pattern.sub(" ", rest)
        if days and _plausible(days, length, found.problems):
            found.cycle_days = days
            found.cycle_length_days = length
            if length is None:
                found.problems.append(f"dosing days without a cycle length in '{text}'")

    found.every_hours = _text_interval(rest, has_day_list=bool(found.cycle_days))
    found.interval_stated = found.every_hours is not None
    if found.every_hours is None and len(found.cycle_days) > 1:
        # 'days 1-4' means once a day on those days; 'days 1, 8, 15, 22' once a week.
        gaps = [b - a for a, b in zip(found.cycle_days, found.cycle_days[1:], strict=False)]
        found.every_hours = 24.0 * min(gaps)
    return found


def _text_interval(text: str, *, has_day_list: bool) -> float | None:
    """The interval the text states first ('20 mg once daily (after 15 mg twice daily …)' is
    once daily); at the same place the more specific wording wins."""
    found: list[tuple[int, int, float]] = []
    for rank, (pattern, hours) in enumerate(_INTERVALS):
        if match := pattern.search(text):
            found.append((match.start(), rank, float(hours)))
    if (match := _TIMES_PER.search(text)) and int(match[1]) > 0:
        # '2 times daily' (as rules/dose_ladder.describe writes it), '3 times a week'
        found.append((match.start(), -1, (24.0 if match[2] else 168.0) / int(match[1])))
    if match := _EVERY_N_HOURS.search(text):
        found.append((match.start(), len(_INTERVALS), float(int(match[1] or match[2]))))
    if not has_day_list and (match := _EVERY_N_DAYS.search(text)):
        found.append((match.start(), len(_INTERVALS) + 1, 24.0 * int(match[1] or match[2])))
    if not found:
        return None
    hours = min(found)[2]
    return hours if hours > 0 else None


def _cycle_length(text: str) -> int | None:
    for pattern, days_per_unit in _CYCLE_LENGTH:
        match = pattern.search(text)
        if match:
            return int(match[1]) * days_per_unit
    return None


def _day_numbers(listing: str) -> tuple[int, ...]:
    days: set[int] = set()
    for part in re.split(r"\s*(?:,|and|&|\+)\s*", listing):
        numbers = [int(n) for n in re.findall(r"\d+", part)]
        if len(numbers) == 1:
            days.add(numbers[0])
        elif len(numbers) == 2 and 0 < numbers[0] <= numbers[1]:
            days.update(range(numbers[0], numbers[1] + 1))
        elif numbers:
            return ()
    return tuple(sorted(days))


def _plausible(days: tuple[int, ...], length: int | None, problems: list[str]) -> bool:
    if days[0] < 1 or (length is not None and (length < 1 or days[-1] > length)) or days[-1] > 366:
        problems.append(f"dosing days {days[0]}-{days[-1]} do not fit a {length or '?'}-day cycle; ignored")
        return False
    return True

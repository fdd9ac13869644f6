"""Observations → Measurements: the latest usable value of each kind, and short histories.

"Usable" (CLINICAL_RULES.md §1): status final, amended or corrected; a value with a unit we
can convert; an effective date. Everything seen but not usable, up to the latest usable value
of its kind, becomes a note, so a "data needed" card can say why the newest result was not
used (e.g. 'creatinine 1.2 on 2026-11-20 has no unit'). A value that is usable in form but
implausible (outside its physiological range, dated before 1900) or ambiguous (disagreeing
results at one time) is never a Measurement: the newest such result is kept as an
UntrustedValue, for the card to ask that it be verified (rules/plausibility.py).

Order of work (DESIGN.md "Measured facts"): the raw JSON is first sorted out by LOINC code and
date with plain dict look-ups; only the newest candidates of each kind are then validated with
fhir.resources, newest first, until enough usable values are found.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from itertools import groupby

from rules.model import Measurement
from rules.plausibility import (
    BEFORE_1900,
    UntrustedValue,
    ambiguous,
    implausible_date,
    outside_range,
    plausible_value,
    same_value,
)

from fhir_mappings.card_text import markdown_text
from fhir_mappings.fhir_json import (
    FIRST_MOMENT,
    FhirTime,
    JsonObject,
    code_value,
    codings,
    coded,
    concept_label,
    number,
    number_text,
    objects,
    parse_any_time,
    reference_key,
    text_value,
)
from fhir_mappings.record import PatientRecord
from fhir_mappings.terminology import (
    ECOG,
    ECOG_ANSWERS,
    LAB_KIND_BY_LOINC,
    LAB_KINDS,
    LOINC_SYSTEMS,
    PREGNANCY_ANSWERS,
    PREGNANCY_STATUS,
    SNOMED_SYSTEMS,
    LabKind,
)
from fhir_mappings.units import quantity_unit, quantity_unit_text, rules_unit, to_rules_unit
from fhir_mappings.validation import validation_problem

USABLE_STATUSES = frozenset({"final", "amended", "corrected"})
# Statuses worth telling the clinician about: a result exists but is not (yet) final.
PENDING_STATUSES = frozenset({"preliminary", "registered", "unknown"})
COMPARATORS = frozenset({"<", "<=", ">=", ">"})

HISTORY_KINDS = {"anc": "anc_history", "platelets": "platelet_history", "creatinine": "creatinine_history"}
HISTORY_LENGTH = 20
NOTES_PER_KIND = 3

_NEVER = FIRST_MOMENT


@dataclass(frozen=True)
class Candidate:
    """One value-bearing part (the Observation itself or one component) of a known kind."""

    resource: JsonObject
    part: JsonObject
    kind: LabKind
    code: str
    time: FhirTime | None
    released: datetime
    """When the result was issued, to order results of the same moment."""


@dataclass
class LabResults:
    latest: dict[str, Measurement] = field(default_factory=dict)
    history: dict[str, tuple[Measurement, ...]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    untrusted: list[UntrustedValue] = field(default_factory=list)
    """The newest result of a kind when it is implausible or ambiguous: that kind then has
    no latest value and no history (see ``_usable_values``)."""


def read_measurements(record: PatientRecord, patient_id: str) -> LabResults:
    results = LabResults()
    by_kind: dict[str, list[Candidate]] = {kind.name: [] for kind in LAB_KINDS}
    for candidate in _candidates(record, patient_id):
        by_kind[candidate.kind.name].append(candidate)

    validated: dict[int, str | None] = {}
    for kind in LAB_KINDS:
        found = _usable_values(kind, by_kind[kind.name], validated)
        results.problems.extend(found.notes)
        results.untrusted.extend(found.untrusted)
        results.problems.extend(untrusted.note for untrusted in found.untrusted)
        if found.values:
            results.latest[kind.name] = found.values[0]
            results.history[kind.name] = tuple(found.values)
    return results


# --- choosing candidates from raw JSON ------------------------------------------------------


def _candidates(record: PatientRecord, patient_id: str) -> Iterator[Candidate]:
    parent_times = _times_from_parents(record)
    for resource in record.of_type("Observation"):
        parts = [(resource, _lab_kind(resource.get("code")))]
        parts += [(component, _lab_kind(component.get("code"))) for component in objects(resource.get("component"))]
        matched = [(part, found) for part, found in parts if found is not None]
        if not matched:
            continue
        if not record.is_about(resource, patient_id):
            continue
        time = _effective_time(resource, parent_times.get(PatientRecord.key_of(resource) or ""))
        released = parse_any_time(resource.get("issued"))
        for part, (kind, code) in matched:
            yield Candidate(resource, part, kind, code, time, released.instant if released else _NEVER)


def _lab_kind(concept: object) -> tuple[LabKind, str] | None:
    """The kind a code names, by LOINC only (any of its codings may carry it)."""
    for coding in codings(concept):
        code = coded(coding, LOINC_SYSTEMS)
        if code is not None and code in LAB_KIND_BY_LOINC:
            return LAB_KIND_BY_LOINC[code], code
    return None


@dataclass(frozen=True)
class _ParentTimes:
    effective: FhirTime | None
    issued: FhirTime | None


def _times_from_parents(record: PatientRecord) -> dict[str, _ParentTimes]:
    """Dates that results inherit from the report or panel listing them.

    Laboratories often date the DiagnosticReport (or the panel Observation) and not each
    result in it, as the HL7 examples Bundle-101 and Bundle-ghp do; the report's effective
    time is the specimen's, so it is the result's too.
    """
    times: dict[str, _ParentTimes] = {}
    parents = [(report, "result") for report in record.of_type("DiagnosticReport")]
    parents += [(panel, "hasMember") for panel in record.of_type("Observation")]
    for parent, element in parents:
        members = objects(parent.get(element))
        if not members:
            continue
        own = _ParentTimes(_own_effective_time(parent), parse_any_time(parent.get("issued")))
        for member in members:
            key = reference_key(member.get("reference"))
            if key:
                times.setdefault(key, own)
    return times


def _own_effective_time(resource: JsonObject) -> FhirTime | None:
    for element in ("effectiveDateTime", "effectiveInstant"):
        parsed = parse_any_time(resource.get(element))
        if parsed is not None:
            return parsed
    period = resource.get("effectivePeriod")
    if isinstance(period, dict):
        # the end of a collection period is when the sample was complete
        return parse_any_time(period.get("end")) or parse_any_time(period.get("start"))
    return None


def _effective_time(resource: JsonObject, parent: _ParentTimes | None) -> FhirTime | None:
    """effective[x], else the listing report's or panel's, else issued (own, then parent's)."""
    options = [_own_effective_time(resource)]
    if parent is not None:
        options.append(parent.effective)
    options.append(parse_any_time(resource.get("issued")))
    if parent is not None:
        options.append(parent.issued)
    return next((option for option in options if option is not None), None)


# --- reading values, newest first -----------------------------------------------------------


@dataclass
class _Found:
    values: list[Measurement] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    untrusted: list[UntrustedValue] = field(default_factory=list)

    def note(self, text: str) -> None:
        # Only what was seen before the first usable value explains a gap; and a few suffice.
        if not self.values and len(self.notes) < NOTES_PER_KIND:
            self.notes.append(text)


def _usable_values(kind: LabKind, candidates: list[Candidate], validated: dict[int, str | None]) -> _Found:
    """The usable values of one kind, newest first, taken one moment (effective instant) at a
    time.

    The results of one moment are read together, because several results of one kind at one
    time are either one result sent twice (alone and in a panel; 1.0 mg/dL and 88 µmol/L) —
    kept once — or a disagreement: clinical rules section 1 calls two usable values at the
    same time that disagree ambiguous, and a value outside its physiological range or dated
    before 1900 implausible (rules/plausibility.py: ``same_value``, ``RANGES``). The issue
    time does not settle a disagreement: a second resource with another value cannot be told
    from a second specimen, so a later-issued one is no correction unless it replaces the
    first (the same resource id).

    When the newest moment holds such a value, the kind has no value at all: not the result
    in doubt, and not an older one either, which the newest result superseded. It is recorded
    in ``untrusted`` for the card to ask which value is right. An older moment in doubt is
    left out of the history.
    """
    found = _Found()
    limit = HISTORY_LENGTH if kind.name in HISTORY_KINDS else 1
    dated: list[tuple[FhirTime, date, Candidate]] = []
    for candidate in candidates:
        time = candidate.time
        if time is None or time.day is None:
            if code_value(candidate.resource.get("status")) in USABLE_STATUSES:
                found.note(_undated_note(candidate))
        else:
            dated.append((time, time.day, candidate))
    # Newest first; at the same moment the later-issued first (the one kept of a duplicate).
    dated.sort(key=lambda item: (item[0].instant, item[2].released), reverse=True)
    for _, moment in groupby(dated, key=lambda item: item[0].instant):
        if len(found.values) >= limit:
            break
        read = [
            (time, measurement)
            for time, day, candidate in moment
            if (measurement := _measurement(candidate, day, found, validated)) is not None
        ]
        if not read:
            continue
        doubts = _doubts(kind, read)
        if not doubts:
            found.values.append(read[0][1])
        elif not found.values:
            found.untrusted.extend(doubts)
            break
    return found


def _doubts(kind: LabKind, read: list[tuple[FhirTime, Measurement]]) -> list[UntrustedValue]:
    """What makes the results of one moment unusable: implausible ones, and disagreement."""
    doubts: list[UntrustedValue] = []
    distinct: list[tuple[FhirTime, Measurement]] = []
    for time, measurement in read:
        shown = measurement.original or measurement.shown()
        if time.before_plausible:
            doubts.append(implausible_date(kind.name, shown, time.text, BEFORE_1900))
        elif not plausible_value(kind.name, measurement.value, measurement.comparator):
            doubts.append(outside_range(kind.name, shown, measurement.when))
        elif not any(
            same_value(kind.name, measurement.value, measurement.comparator, kept.value, kept.comparator)
            for _, kept in distinct
        ):
            distinct.append((time, measurement))
    if len(distinct) > 1:
        time, first = distinct[0]
        values = tuple(m.original or m.shown() for _, m in distinct)
        doubts.append(ambiguous(kind.name, values, time.text, first.when))
    return doubts


def _undated_note(candidate: Candidate) -> str:
    shown = _shown_value(candidate.part)
    if candidate.time is not None:
        return f"{candidate.kind.label}{shown} dated only '{candidate.time.text}' (no day); not used"
    return f"{candidate.kind.label}{shown} has no date; not used"


def _shown_value(part: JsonObject) -> str:
    quantity = part.get("valueQuantity")
    if isinstance(quantity, dict):
        value = number(quantity.get("value"))
        if value is not None:
            comparator = quantity.get("comparator") if isinstance(quantity.get("comparator"), str) else ""
            unit = quantity_unit_text(quantity)
            return f" {comparator}{number_text(value)}{' ' + unit if unit else ''}"
    return ""


def _measurement(
    candidate: Candidate, day: date, found: _Found, validated: dict[int, str | None]
) -> Measurement | None:
    label = candidate.kind.label
    status = code_value(candidate.resource.get("status"))
    if status not in USABLE_STATUSES:
        if status in PENDING_STATUSES:
            found.note(f"{label}{_shown_value(candidate.part)} on {day} is {status}, not final; not used")
        return None
    absent = candidate.part.get("dataAbsentReason")
    if absent is not None:
        found.note(f"{label} on {day} has no value ({concept_label(absent) or 'data absent'})")
        return None
    key = id(candidate.resource)
    if key not in validated:
        validated[key] = validation_problem(candidate.resource)
    problem = validated[key]
    if problem is not None:
        found.note(problem)
        return None
    if candidate.kind is ECOG:
        return _ecog(candidate, day, found)
    if candidate.kind is PREGNANCY_STATUS:
        return _pregnancy_status(candidate, day, found)
    return _quantity(candidate, day, found)


def _quantity(candidate: Candidate, day: date, found: _Found) -> Measurement | None:
    label = candidate.kind.label
    quantity = candidate.part.get("valueQuantity")
    if not isinstance(quantity, dict):
        has_other_value = any(key.startswith("value") for key in candidate.part)
        found.note(f"{label} on {day} {'is not a quantity' if has_other_value else 'has no value'}; not used")
        return None
    value = number(quantity.get("value"))
    if value is None:
        found.note(f"{label} on {day} has no value; not used")
        return None
    comparator = quantity.get("comparator")
    if comparator is not None and code_value(comparator) not in COMPARATORS:
        found.note(f"{label} {comparator}{number_text(value)} on {day} has an unusable comparator; not used")
        return None
    unit = quantity_unit(quantity)
    if unit is None:
        found.note(f"{label} {number_text(value)} on {day} has no unit; not used")
        return None
    converted = to_rules_unit(candidate.kind.name, value, unit)
    if converted is None:
        found.note(
            f"{label} {number_text(value)} on {day} is in '{unit}', which cannot be converted to "
            f"{rules_unit(candidate.kind.name)}; not used"
        )
        return None
    if converted < 0:
        found.note(f"{label} {number_text(value)} {unit} on {day} is negative; not used")
        return None
    return _made(
        candidate,
        day,
        converted,
        rules_unit(candidate.kind.name),
        comparator,
        _shown_value(candidate.part).strip(),
    )


def _ecog(candidate: Candidate, day: date, found: _Found) -> Measurement | None:
    part = candidate.part
    grade: Decimal | None = None
    if "valueInteger" in part:
        grade = number(part.get("valueInteger"))
    elif isinstance(part.get("valueQuantity"), dict):
        grade = number(part["valueQuantity"].get("value"))
    elif isinstance(part.get("valueCodeableConcept"), dict):
        for coding in codings(part["valueCodeableConcept"]):
            code = text_value(coding.get("code"))
            if code in ECOG_ANSWERS and code_value(coding.get("system")) in (LOINC_SYSTEMS | {None}):
                grade = Decimal(ECOG_ANSWERS[code])
                break
    elif isinstance(part.get("valueString"), str):
        text = part["valueString"].strip().upper().removeprefix("ECOG").strip()
        grade = Decimal(text) if len(text) == 1 and text.isdigit() else None
    if grade is None or grade != grade.to_integral_value() or not 0 <= grade <= 5:
        found.note(f"ECOG performance status on {day} is not a grade 0-5; not used")
        return None
    return _made(candidate, day, float(grade), "", None, f"ECOG {int(grade)}")


def _pregnancy_status(candidate: Candidate, day: date, found: _Found) -> Measurement | None:
    concept = candidate.part.get("valueCodeableConcept")
    for coding in codings(concept):
        code = text_value(coding.get("code"))
        if code in PREGNANCY_ANSWERS and code_value(coding.get("system")) in (LOINC_SYSTEMS | SNOMED_SYSTEMS):
            return _made(candidate, day, PREGNANCY_ANSWERS[code], "", None, concept_label(concept) or code)
    found.note(f"pregnancy status on {day} is neither 'pregnant' nor 'not pregnant'; not used")
    return None


def _made(candidate: Candidate, day: date, value: float, unit: str, comparator: object, original: str) -> Measurement:
    return Measurement(
        value=value,
        unit=unit,
        when=day,
        code=candidate.code,
        comparator=comparator if isinstance(comparator, str) else None,
        original=markdown_text(original),  # shown only: fhir_mappings/card_text.py
    )

"""Implausible and ambiguous values never reach a Measurement (clinical rules section 1); what
was held back is on record for a card to ask that it be verified; no date of any field raises."""

from __future__ import annotations

import copy
from datetime import date
from typing import Any

import pytest

from fhir_mappings import build_snapshot
from fhir_mappings.fhir_json import parse_any_time, parse_day, parse_time
from rules.model import PatientSnapshot

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
SNOMED = "http://snomed.info/sct"
PATIENT = "p1"
# The ends of the calendar: converted to UTC they leave the years a datetime can hold.
EXTREME_DATES = ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "0001-01-01", "1899-12-31")

CREATININE, WEIGHT, ANC, PLATELETS = "2160-0", "29463-7", "751-8", "777-3"


def lab(code: str, value: Any, unit: str, when: str = "2026-11-20", **extra: Any) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "subject": {"reference": f"Patient/{PATIENT}"},
        "effectiveDateTime": when,
        "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": unit},
    }
    resource.update(extra)
    return resource


def snapshot_of(*resources: dict[str, Any]) -> PatientSnapshot:
    return build_snapshot(list(resources), patient_id=PATIENT)


def notes(snapshot: PatientSnapshot, kind: str) -> list[str]:
    return [u.note for u in snapshot.untrusted if u.kind == kind]


# --- dates -----------------------------------------------------------------------------------


@pytest.mark.parametrize("text", EXTREME_DATES)
def test_dates_at_the_ends_of_the_calendar_parse_without_raising(text: str) -> None:
    parsed = parse_any_time(text)
    assert parsed is not None and parsed.text == text
    # every date field of every mapper reads a date before 1900 as absent
    assert (parse_time(text) is None) == (parsed.start.year < 1900)
    assert parse_day(text) in (None, date(9999, 12, 31))


def test_a_date_before_1900_sorts_before_every_plausible_date() -> None:
    early, late = parse_any_time("0001-01-01T00:00:00+14:00"), parse_any_time("1900-01-01")
    assert early is not None and late is not None and early.instant < late.instant


PATIENT_RESOURCE = {"resourceType": "Patient", "id": PATIENT, "birthDate": "1950-01-01", "gender": "male"}
CONDITION = {
    "resourceType": "Condition",
    "clinicalStatus": {"coding": [{"code": "active"}]},
    "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "I82.409"}]},
    "subject": {"reference": f"Patient/{PATIENT}"},
    "onsetDateTime": "2026-10-01",
}
PROCEDURE = {
    "resourceType": "Procedure",
    "status": "completed",
    "code": {"coding": [{"system": SNOMED, "code": "302497006"}]},
    "subject": {"reference": f"Patient/{PATIENT}"},
    "performedDateTime": "2026-11-18",
}
ORDER = {
    "resourceType": "MedicationRequest",
    "id": "len",
    "status": "active",
    "intent": "order",
    "medicationCodeableConcept": {"text": "lenalidomide 25 mg"},
    "subject": {"reference": f"Patient/{PATIENT}"},
    "authoredOn": "2026-11-01",
}
DATE_FIELDS: dict[str, tuple[dict[str, Any], str]] = {
    "Observation.effectiveDateTime": (lab(CREATININE, 1.0, "mg/dL"), "effectiveDateTime"),
    "Observation.issued": (lab(CREATININE, 1.0, "mg/dL"), "issued"),
    "Observation.effectivePeriod.end": (lab(CREATININE, 1.0, "mg/dL"), "effectivePeriod.end"),
    "Condition.onsetDateTime": (CONDITION, "onsetDateTime"),
    "Condition.recordedDate": (CONDITION, "recordedDate"),
    "Condition.abatementDateTime": (CONDITION, "abatementDateTime"),
    "Procedure.performedDateTime": (PROCEDURE, "performedDateTime"),
    "Procedure.performedPeriod.start": (PROCEDURE, "performedPeriod.start"),
    "MedicationRequest.authoredOn": (ORDER, "authoredOn"),
    "Patient.birthDate": (PATIENT_RESOURCE, "birthDate"),
}


def with_date(resource: dict[str, Any], path: str, text: str) -> dict[str, Any]:
    changed = copy.deepcopy(resource)
    if "." in path:
        element, part = path.split(".")
        if element == "effectivePeriod":
            changed.pop("effectiveDateTime", None)
        if element == "performedPeriod":
            changed.pop("performedDateTime", None)
        changed[element] = {part: text}
    else:
        changed[path] = text
    return changed


@pytest.mark.parametrize("text", EXTREME_DATES)
@pytest.mark.parametrize("field", sorted(DATE_FIELDS))
def test_an_extreme_date_in_any_field_never_raises(field: str, text: str) -> None:
    resource, path = DATE_FIELDS[field]
    changed = with_date(resource, path, text)
    snapshot = build_snapshot([changed], patient_id=PATIENT, draft_orders=[with_date(ORDER, "authoredOn", text)])
    assert snapshot.patient_id == PATIENT
    dates = [c.onset for c in snapshot.conditions] + [c.recorded for c in snapshot.conditions]
    dates += [p.performed for p in snapshot.procedures] + [m.authored for m in snapshot.medications]
    dates += [snapshot.birth_date] + [m.when for m in (snapshot.creatinine,) if m is not None]
    assert all(day is None or day.year >= 1900 for day in dates), dates


@pytest.mark.parametrize(
    ("resource", "read"),
    [
        (with_date(CONDITION, "onsetDateTime", "0001-01-01T00:00:00+14:00"), lambda s: s.conditions[0].onset),
        (with_date(PROCEDURE, "performedDateTime", "1899-12-31"), lambda s: s.procedures[0].performed),
        (with_date(ORDER, "authoredOn", "0001-01-01T00:00:00+14:00"), lambda s: s.medications[0].authored),
    ],
)
def test_a_date_before_1900_reads_as_no_date(resource: dict[str, Any], read: Any) -> None:
    assert read(snapshot_of(resource)) is None


def test_a_birth_date_before_1900_makes_age_unknown_and_is_named() -> None:
    snapshot = snapshot_of({**PATIENT_RESOURCE, "birthDate": "0001-01-01"})
    assert snapshot.birth_date is None and snapshot.age_on(date(2026, 12, 1)) is None
    assert notes(snapshot, "age") == ["Verify: birth date 0001-01-01 is before 1900"]


def test_a_birth_date_from_1900_is_kept_for_the_rules_to_judge() -> None:
    snapshot = snapshot_of({**PATIENT_RESOURCE, "birthDate": "1900-01-01"})
    assert snapshot.birth_date == date(1900, 1, 1) and snapshot.untrusted == ()
    assert snapshot.age_on(date(2026, 12, 1)) is None  # 126 years: outside 18–120


def test_a_result_dated_before_1900_is_named_not_used() -> None:
    snapshot = snapshot_of(lab(CREATININE, 1.0, "mg/dL", when="0001-01-01T00:00:00+14:00"))
    assert snapshot.creatinine is None
    assert notes(snapshot, "creatinine") == [
        "Verify: creatinine 1.0 mg/dL dated 0001-01-01T00:00:00+14:00 is before 1900"
    ]


def test_a_result_dated_before_1900_does_not_hide_a_newer_one() -> None:
    snapshot = snapshot_of(lab(CREATININE, 1.0, "mg/dL", when="1899-12-31"), lab(CREATININE, 1.1, "mg/dL"))
    assert snapshot.creatinine is not None and snapshot.creatinine.value == pytest.approx(1.1)
    assert snapshot.untrusted == ()


# --- implausible values ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "value", "unit", "field", "note"),
    [
        (
            CREATININE,
            0.0001,
            "mg/dL",
            "creatinine",
            "Verify: creatinine 0.0001 mg/dL on 2026-11-20 is outside 0.1–20 mg/dL",
        ),
        (CREATININE, 21, "mg/dL", "creatinine", "Verify: creatinine 21 mg/dL on 2026-11-20 is outside 0.1–20 mg/dL"),
        ("14682-9", 5, "umol/L", "creatinine", "Verify: creatinine 5 umol/L on 2026-11-20 is outside 0.1–20 mg/dL"),
        (WEIGHT, 1e-300, "kg", "weight", "Verify: body weight 1E-300 kg on 2026-11-20 is outside 25–300 kg"),
        (WEIGHT, 700, "[lb_av]", "weight", r"Verify: body weight 700 \[lb\_av\] on 2026-11-20 is outside 25–300 kg"),
        (
            ANC,
            100.001,
            "10*9/L",
            "anc",
            r"Verify: ANC 100.001 10\*9/L on 2026-11-20 is outside the plausible range (≤ 100,000/µL)",
        ),
        (
            PLATELETS,
            2000001,
            "/uL",
            "platelets",
            "Verify: platelets 2000001 /uL on 2026-11-20 is outside the plausible range (≤ 2,000,000/µL)",
        ),
    ],
)
def test_a_value_outside_its_range_is_named_and_not_used(
    code: str, value: float, unit: str, field: str, note: str
) -> None:
    snapshot = snapshot_of(lab(code, value, unit))
    assert getattr(snapshot, field) is None
    assert notes(snapshot, field) == [note]
    assert note in snapshot.data_problems


@pytest.mark.parametrize(
    ("code", "value", "unit", "field"),
    [
        (CREATININE, 0.1, "mg/dL", "creatinine"),
        (CREATININE, 20, "mg/dL", "creatinine"),
        (WEIGHT, 25, "kg", "weight"),
        (WEIGHT, 300, "kg", "weight"),
        (ANC, 100, "10*9/L", "anc"),
        (ANC, 0, "10*9/L", "anc"),
        (PLATELETS, 2000, "10*9/L", "platelets"),
    ],
)
def test_the_range_limits_themselves_are_plausible(code: str, value: float, unit: str, field: str) -> None:
    snapshot = snapshot_of(lab(code, value, unit))
    assert getattr(snapshot, field) is not None and snapshot.untrusted == ()


@pytest.mark.parametrize(
    ("comparator", "value", "usable"), [("<", 0.5, True), ("<", 0.1, False), (">", 20, False), (">", 15, True)]
)
def test_a_reported_bound_is_implausible_only_when_it_rules_the_range_out(
    comparator: str, value: float, usable: bool
) -> None:
    resource = lab(CREATININE, value, "mg/dL")
    resource["valueQuantity"]["comparator"] = comparator
    assert (snapshot_of(resource).creatinine is not None) is usable


def test_an_implausible_newest_result_is_not_replaced_by_an_older_one() -> None:
    """The newest result supersedes the older ones; when it is in doubt, so is the kind."""
    snapshot = snapshot_of(lab(CREATININE, 1.0, "mg/dL", when="2026-11-10"), lab(CREATININE, 0.0001, "mg/dL"))
    assert snapshot.creatinine is None and snapshot.creatinine_history == ()
    assert len(notes(snapshot, "creatinine")) == 1


def test_an_older_implausible_result_is_left_out_of_the_history() -> None:
    snapshot = snapshot_of(
        lab(ANC, 2.0, "10*9/L", when="2026-11-20"),
        lab(ANC, 500, "10*9/L", when="2026-11-10"),
        lab(ANC, 1.5, "10*9/L", when="2026-11-01"),
    )
    assert [m.value for m in snapshot.anc_history] == pytest.approx([2000, 1500])
    assert snapshot.untrusted == ()


# --- ambiguous values ------------------------------------------------------------------------

AT = "2026-11-20T08:00:00Z"


def test_disagreeing_results_at_one_time_are_ambiguous() -> None:
    snapshot = snapshot_of(
        lab(CREATININE, 1.0, "mg/dL", when=AT, id="a"),
        lab(CREATININE, 2.4, "mg/dL", when=AT, id="b"),
        lab(CREATININE, 1.1, "mg/dL", when="2026-11-01"),
    )
    assert snapshot.creatinine is None and snapshot.creatinine_history == ()
    [doubt] = snapshot.untrusted
    assert (doubt.kind, doubt.reason, doubt.values) == ("creatinine", "ambiguous", ("1.0 mg/dL", "2.4 mg/dL"))
    assert doubt.note == (
        "Verify: two creatinine results at 2026-11-20T08:00:00Z: 1.0 mg/dL and 2.4 mg/dL — which is right?"
    )


def test_a_later_issued_result_at_the_same_time_does_not_settle_the_disagreement() -> None:
    snapshot = snapshot_of(
        lab(CREATININE, 1.0, "mg/dL", when=AT, id="a", issued="2026-11-20T10:00:00Z"),
        lab(CREATININE, 2.4, "mg/dL", when=AT, id="b", issued="2026-11-20T11:00:00Z", status="corrected"),
    )
    assert snapshot.creatinine is None
    assert [u.reason for u in snapshot.untrusted] == ["ambiguous"]


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ((CREATININE, 1.0, "mg/dL"), (CREATININE, 1.0, "mg/dL")),  # the same result sent twice
        ((CREATININE, 1.0, "mg/dL"), ("14682-9", 88, "umol/L")),  # 88 µmol/L = 0.995 mg/dL
        ((ANC, 1.5, "10*9/L"), ("26499-4", 1500, "/uL")),
        ((WEIGHT, 70, "kg"), (WEIGHT, 154.3, "[lb_av]")),  # 69.99 kg
    ],
)
def test_results_that_agree_after_conversion_are_one_result(
    first: tuple[str, float, str], second: tuple[str, float, str]
) -> None:
    snapshot = snapshot_of(lab(*first, when=AT), lab(*second, when=AT))
    assert snapshot.untrusted == ()
    field = {"2160-0": "creatinine", "751-8": "anc", "29463-7": "weight"}[first[0]]
    assert getattr(snapshot, field) is not None


@pytest.mark.parametrize(
    ("a", "b"),
    [((1.0, "mg/dL"), (1.02, "mg/dL")), ((1.0, "mg/dL"), (90, "umol/L"))],  # 90 µmol/L = 1.018 mg/dL
)
def test_a_difference_beyond_the_shown_precision_is_ambiguous(a: tuple[float, str], b: tuple[float, str]) -> None:
    second = lab("14682-9" if b[1] == "umol/L" else CREATININE, *b, when=AT)
    snapshot = snapshot_of(lab(CREATININE, *a, when=AT), second)
    assert snapshot.creatinine is None and [u.reason for u in snapshot.untrusted] == ["ambiguous"]


def test_a_bound_and_a_value_at_one_time_are_ambiguous() -> None:
    bound = lab(CREATININE, 0.5, "mg/dL", when=AT)
    bound["valueQuantity"]["comparator"] = "<"
    snapshot = snapshot_of(bound, lab(CREATININE, 0.4, "mg/dL", when=AT))
    assert snapshot.creatinine is None and [u.reason for u in snapshot.untrusted] == ["ambiguous"]


def test_results_at_different_times_are_not_ambiguous() -> None:
    later = lab(CREATININE, 2.4, "mg/dL", when="2026-11-20T09:00:00Z")
    snapshot = snapshot_of(lab(CREATININE, 1.0, "mg/dL", when=AT), later)
    assert snapshot.creatinine is not None and snapshot.creatinine.value == pytest.approx(2.4)
    assert snapshot.untrusted == ()


def test_an_older_ambiguous_moment_is_left_out_of_the_history() -> None:
    snapshot = snapshot_of(
        lab(ANC, 2.0, "10*9/L", when="2026-11-20"),
        lab(ANC, 0.8, "10*9/L", when="2026-11-10", id="a"),
        lab(ANC, 3.0, "10*9/L", when="2026-11-10", id="b"),
        lab(ANC, 1.5, "10*9/L", when="2026-11-01"),
    )
    assert [m.value for m in snapshot.anc_history] == pytest.approx([2000, 1500])
    assert snapshot.untrusted == ()


def test_an_implausible_and_a_plausible_result_at_one_time_leave_the_kind_unknown() -> None:
    snapshot = snapshot_of(lab(CREATININE, 1.0, "mg/dL", when=AT), lab(CREATININE, 0.0001, "mg/dL", when=AT))
    assert snapshot.creatinine is None
    assert [u.reason for u in snapshot.untrusted] == ["implausible"]

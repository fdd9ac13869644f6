"""Physiological ranges, ambiguity and the "verify" lines of data-needed cards (clinical rules
section 1, safety principle 1)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest

from rules.freshness import is_fresh
from rules.model import Evaluation
from rules.plausibility import (
    AGE_YEARS,
    BEFORE_1900,
    RANGES,
    ambiguous,
    implausible_date,
    outside_range,
    plausible_value,
    same_value,
    untrusted_in,
    verify_notes,
)
from tests.rules.patient_builder import TODAY, born_aged, lab, patient


@pytest.mark.parametrize(
    ("kind", "label"),
    [("creatinine", "0.1–20 mg/dL"), ("weight", "25–300 kg"), ("anc", "≤ 100,000/µL"), ("platelets", "≤ 2,000,000/µL")],
)
def test_the_ranges_read_as_the_clinical_rules_write_them(kind: str, label: str) -> None:
    assert RANGES[kind].label == label


def test_the_age_range_reads_as_the_clinical_rules_write_it() -> None:
    assert AGE_YEARS.label == "18–120 years"


@pytest.mark.parametrize(
    ("kind", "value", "comparator", "plausible"),
    [
        ("creatinine", 0.1, None, True),
        ("creatinine", 0.0999, None, False),
        ("creatinine", 20.0, None, True),
        ("creatinine", 20.01, None, False),
        ("weight", 25.0, None, True),
        ("weight", 24.9, None, False),
        ("weight", 300.1, None, False),
        ("weight", 1e-300, None, False),
        ("weight", float("nan"), None, False),
        ("anc", 0.0, None, True),
        ("anc", 100_000.0, None, True),
        ("anc", 100_001.0, None, False),
        ("platelets", 2_000_000.0, None, True),
        ("platelets", 2_000_001.0, None, False),
        ("creatinine", 0.1, "<", False),
        ("creatinine", 0.1, "<=", True),
        ("creatinine", 0.5, "<", True),
        ("creatinine", 20.0, ">", False),
        ("creatinine", 20.0, ">=", True),
        ("creatinine", 30.0, "<", True),
        ("egfr", 1e6, None, True),  # no range in the clinical rules: the mappers do not judge it
    ],
)
def test_plausible_value(kind: str, value: float, comparator: str | None, plausible: bool) -> None:
    assert plausible_value(kind, value, comparator) is plausible


@pytest.mark.parametrize(
    ("kind", "a", "b", "same"),
    [
        ("creatinine", 1.0, 88 / 88.4, True),  # 88 µmol/L reads 1.00 mg/dL
        ("creatinine", 1.0, 1.004, True),
        ("creatinine", 1.0, 1.006, False),
        ("creatinine", 1.0, 2.4, False),
        ("weight", 70.0, 70.04, True),
        ("weight", 70.0, 70.2, False),
        ("anc", 1500.0, 1500.4, True),
        ("anc", 1500.0, 1501.0, False),
    ],
)
def test_same_value_within_the_shown_precision(kind: str, a: float, b: float, same: bool) -> None:
    assert same_value(kind, a, None, b, None) is same


def test_a_bound_is_never_the_same_as_a_value() -> None:
    assert not same_value("creatinine", 0.5, "<", 0.5, None)
    assert same_value("creatinine", 0.5, "<", 0.5, "<")


@pytest.mark.parametrize(("age", "known"), [(17, False), (18, True), (68, True), (120, True), (121, False)])
def test_age_outside_18_to_120_years_is_unknown(age: int, known: bool) -> None:
    assert patient(birth_date=born_aged(age)).age_on(TODAY) == (age if known else None)


def test_a_birth_date_after_the_evaluation_date_gives_no_age() -> None:
    snapshot = patient(birth_date=TODAY + timedelta(days=400))
    assert snapshot.age_on(TODAY) is None
    [line] = verify_notes(snapshot, TODAY, "age")
    future = (TODAY + timedelta(days=400)).isoformat()
    assert line.startswith(f"Verify: birth date {future} gives an age of -2 years")


def test_an_implausible_age_is_named_with_the_range() -> None:
    assert verify_notes(patient(birth_date=born_aged(130)), TODAY, "age") == (
        f"Verify: birth date {born_aged(130).isoformat()} gives an age of 130 years on {TODAY.isoformat()}, "
        "outside 18–120 years",
    )


def test_a_plausible_patient_has_nothing_to_verify() -> None:
    assert verify_notes(patient(), TODAY) == ()


def test_the_mappers_findings_are_listed_by_kind() -> None:
    held_back = (
        outside_range("creatinine", "0.0001 mg/dL", date(2025, 5, 30)),
        ambiguous("anc", ("1.0 10*9/L", "3.0 10*9/L"), "2025-05-30T08:00:00Z", date(2025, 5, 30)),
        implausible_date("age", "", "0001-01-01", BEFORE_1900),
    )
    snapshot = patient(creatinine=None, anc=None, birth_date=None, untrusted=held_back)
    assert verify_notes(snapshot, TODAY, "creatinine") == (
        "Verify: creatinine 0.0001 mg/dL on 2025-05-30 is outside 0.1–20 mg/dL",
    )
    assert verify_notes(snapshot, TODAY, "anc", "platelets") == (
        "Verify: two ANC results at 2025-05-30T08:00:00Z: 1.0 10*9/L and 3.0 10*9/L — which is right?",
    )
    assert verify_notes(snapshot, TODAY, "age") == ("Verify: birth date 0001-01-01 is before 1900",)
    assert len(verify_notes(snapshot, TODAY)) == 3
    assert verify_notes(snapshot, TODAY, "weight") == ()


def test_a_measurement_dated_in_the_future_is_named() -> None:
    ahead = replace(lab(1.0, "mg/dL"), when=TODAY + timedelta(days=2), original="1.0 mg/dL")
    snapshot = patient(creatinine=ahead)
    [doubt] = untrusted_in(snapshot, TODAY, "creatinine")
    ahead_day = (TODAY + timedelta(days=2)).isoformat()
    assert doubt.note == f"Verify: creatinine 1.0 mg/dL dated {ahead_day} is in the future"
    assert not is_fresh(ahead, "creatinine", Evaluation(hook="order-sign", today=TODAY))


def test_one_day_ahead_is_still_today_somewhere() -> None:
    tomorrow = replace(lab(1.0, "mg/dL"), when=TODAY + timedelta(days=1))
    assert verify_notes(patient(creatinine=tomorrow), TODAY, "creatinine") == ()
    assert is_fresh(tomorrow, "creatinine", Evaluation(hook="order-sign", today=TODAY))

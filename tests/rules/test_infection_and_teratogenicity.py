"""Infection prophylaxis, vaccination, teratogenicity (clinical rules section 8)."""

from __future__ import annotations

import pytest

from tests.rules.patient_builder import (
    born_aged,
    card,
    condition,
    dexamethasone,
    lab,
    lenalidomide,
    medication,
    on_lenalidomide,
    patient,
    run,
    starting,
)
from rules.model import Measurement, NewMedication, PatientSnapshot, Recommendation
from tests.rules.patient_builder import days_ago


def prophylaxis(snapshot: PatientSnapshot, hook: str = "order-sign") -> Recommendation | None:
    return card(run(snapshot, hook), "infection-prophylaxis")  # type: ignore[arg-type]


def test_starting_with_dexamethasone_suggests_antibiotic_prophylaxis() -> None:
    found = prophylaxis(starting())
    assert found is not None and found.rule_ids == ("R-INF-PROPH",) and found.severity == "info"
    assert found.selection == "at-most-one"
    assert [(a.drug, a.recommended) for a in found.actions] == [
        ("trimethoprim-sulfamethoxazole", True),
        ("levofloxacin", False),
    ]
    tmp_smx, levofloxacin = found.actions
    assert isinstance(tmp_smx, NewMedication) and tmp_smx.regimen.dose is None
    assert "160/800 mg" in (tmp_smx.regimen.text or "")
    assert (levofloxacin.regimen.dose, levofloxacin.regimen.dose_unit) == (500.0, "mg")


@pytest.mark.parametrize(
    "category", ["aggressive-disease", "neutropenia-history", "infection-history", "active-infection"]
)
def test_higher_risk_is_a_warning(category: str) -> None:
    found = prophylaxis(starting(conditions=(condition(category),)))
    assert found is not None and found.severity == "warning"


def test_resolved_history_still_counts() -> None:
    found = prophylaxis(starting(conditions=(condition("neutropenia-history", active=False),)))
    assert found is not None and found.severity == "warning"


@pytest.mark.parametrize(
    "antibiotic",
    ["trimethoprim-sulfamethoxazole", "levofloxacin", "ciprofloxacin", "moxifloxacin", "penicillin", "amoxicillin"],
)
def test_active_antibiotic_means_no_card(antibiotic: str) -> None:
    assert prophylaxis(starting(medication(antibiotic))) is None


def test_without_dexamethasone_no_card() -> None:
    assert prophylaxis(patient(medications=(lenalidomide(),))) is None


def test_active_dexamethasone_counts() -> None:
    snapshot = patient(medications=(lenalidomide(), dexamethasone(status="active", id="dex-a", authored_days_ago=5)))
    assert prophylaxis(snapshot) is not None


@pytest.mark.parametrize(("started_days_ago", "expected"), [(83, True), (84, False)])
def test_first_3_cycles_window(started_days_ago: int, expected: bool) -> None:
    earlier = lenalidomide(id="len-first", status="completed", authored_days_ago=started_days_ago)
    assert (prophylaxis(starting(earlier)) is not None) is expected
    view = on_lenalidomide(
        dexamethasone(status="active", id="dex-a", authored_days_ago=5), started_days_ago=started_days_ago
    )
    assert (prophylaxis(view, "patient-view") is not None) is expected


def test_undated_earlier_orders_count_as_first_cycles() -> None:
    earlier = lenalidomide(id="len-first", status="completed", authored_days_ago=None)
    assert prophylaxis(starting(earlier)) is not None


def test_patient_view_needs_lenalidomide_and_dexamethasone() -> None:
    assert prophylaxis(on_lenalidomide(started_days_ago=10), "patient-view") is None
    dex_only = patient(medications=(dexamethasone(status="active", id="dex-a", authored_days_ago=5),))
    assert prophylaxis(dex_only, "patient-view") is None


def test_vaccination_once_at_the_start() -> None:
    found = card(run(starting()), "vaccination")
    assert found is not None and found.rule_ids == ("R-INF-VACCINE",) and found.severity == "info"
    earlier = lenalidomide(id="len-first", status="completed", authored_days_ago=30)
    assert card(run(starting(earlier)), "vaccination") is None
    assert card(run(on_lenalidomide(started_days_ago=5), "patient-view"), "vaccination") is None


# --- teratogenicity --------------------------------------------------------------------------


def terato(snapshot: PatientSnapshot, hook: str = "order-sign") -> Recommendation | None:
    return card(run(snapshot, hook), "teratogenicity")  # type: ignore[arg-type]


def pregnancy_test(positive: bool, days: int) -> Measurement:
    return Measurement(1.0 if positive else 0.0, "", days_ago(days), code="82810-3")


@pytest.mark.parametrize(
    ("sex", "age", "rule_ids", "severity"),
    [
        ("female", 49, ("R-TERATO-F",), "warning"),
        # Clinical rules section 8: childbearing potential below 55 — women 50-54 included.
        ("female", 50, ("R-TERATO-F",), "warning"),
        ("female", 54, ("R-TERATO-F",), "warning"),
        ("female", 55, None, None),
        ("female", 18, ("R-TERATO-F",), "warning"),
        ("male", 40, ("R-TERATO-M",), "info"),
        ("male", 80, ("R-TERATO-M",), "info"),
        # Sex unknown, other or missing counts as of childbearing potential below 55.
        ("unknown", 40, ("R-TERATO-F",), "warning"),
        ("other", 54, ("R-TERATO-F",), "warning"),
        (None, 40, ("R-TERATO-F",), "warning"),
        # Past that age the male precautions may apply: an info card asks for the sex.
        ("unknown", 60, ("R-TERATO-M",), "info"),
    ],
)
def test_precautions_by_sex_and_age(
    sex: str | None, age: int, rule_ids: tuple[str, ...] | None, severity: str | None
) -> None:
    found = terato(starting(sex=sex, birth_date=born_aged(age), measured_crcl=lab(80.0, "mL/min")))
    assert (found.rule_ids if found else None) == rule_ids
    assert (found.severity if found else None) == severity


def test_woman_of_unknown_age_is_taken_as_of_childbearing_potential() -> None:
    found = terato(starting(sex="female", birth_date=None))
    assert found is not None and found.severity == "warning"


def test_childbearing_card_names_the_latest_test() -> None:
    found = terato(starting(sex="female", birth_date=born_aged(30), pregnancy_test=pregnancy_test(False, 2)))
    assert found is not None and found.severity == "warning"
    assert any("negative" in p for p in found.rationale)


@pytest.mark.parametrize(
    "fields",
    [
        {"conditions": (condition("pregnancy"),)},
        {"pregnancy_test": pregnancy_test(True, 3)},
        {"pregnancy_test": pregnancy_test(True, 280)},
        {"pregnancy_test": pregnancy_test(True, 3), "birth_date": born_aged(52)},
    ],
)
@pytest.mark.parametrize("hook", ["order-select", "order-sign"])
def test_pregnancy_is_critical(fields: dict[str, object], hook: str) -> None:
    found = terato(starting(**{"sex": "female", "birth_date": born_aged(30), **fields}), hook)
    assert found is not None and found.severity == "critical" and found.rule_ids == ("R-TERATO-F",)
    assert "contraindicated" in found.summary


@pytest.mark.parametrize(
    "fields",
    [
        {"conditions": (condition("pregnancy", active=False),)},
        {"pregnancy_test": pregnancy_test(True, 281)},
        {"pregnancy_test": pregnancy_test(False, 3)},
    ],
)
def test_no_current_pregnancy(fields: dict[str, object]) -> None:
    found = terato(starting(**{"sex": "female", "birth_date": born_aged(30), **fields}))
    assert found is not None and found.severity == "warning"


def test_patient_view_shows_only_pregnancy() -> None:
    assert terato(on_lenalidomide(sex="female", birth_date=born_aged(30)), "patient-view") is None
    found = terato(
        on_lenalidomide(sex="female", birth_date=born_aged(30), conditions=(condition("pregnancy"),)), "patient-view"
    )
    assert found is not None and found.severity == "critical"
    assert terato(patient(sex="female", conditions=(condition("pregnancy"),)), "patient-view") is None


def test_dexamethasone_order_alone_has_no_teratogenicity_card() -> None:
    assert (
        terato(patient(sex="female", birth_date=born_aged(30), medications=(dexamethasone(),)), "order-select") is None
    )

"""Dexamethasone dose and schedule (clinical rules section 6)."""

from __future__ import annotations

import pytest

from tests.rules.patient_builder import born_aged, card, condition, dexamethasone, lenalidomide, patient, run
from rules.dexamethasone import AGE_BANDS, HIGH_DOSE_MG_PER_CYCLE, REDUCTION_LEVELS, age_band
from rules.model import DoseChange, MedicationOrder, Recommendation

HIGH_DOSE_DAYS = (1, 2, 3, 4, 9, 10, 11, 12, 17, 18, 19, 20)
FIRST_CYCLES_DAYS = (1, 2, 3, 4, 15, 16, 17, 18)


def dex_card(
    age: int | None, order: MedicationOrder, *extra: MedicationOrder, **fields: object
) -> Recommendation | None:
    birth = born_aged(age) if age is not None else None
    return card(run(patient(birth_date=birth, medications=(lenalidomide(), order) + extra, **fields)), "dexamethasone")


def target(found: Recommendation) -> tuple[float | None, float | None]:
    (action,) = found.actions
    assert isinstance(action, DoseChange) and action.drug == "dexamethasone" and action.order_id == "dex-draft"
    return action.regimen.dose, action.regimen.mg_per_cycle()


@pytest.mark.parametrize(
    ("age", "card_expected", "severity"),
    [(64, False, None), (65, False, None), (75, False, None), (76, True, "warning")],
)
def test_weekly_40_mg_by_age(age: int, card_expected: bool, severity: str | None) -> None:
    found = dex_card(age, dexamethasone(40.0))
    if not card_expected:
        assert found is None
        return
    assert found is not None and found.rule_ids == ("R-DEX-AGE",) and found.severity == severity
    assert target(found) == (20.0, 80.0)  # 20 mg weekly
    assert found.summary == "Age 76: dexamethasone 160 mg/cycle is above the age-adjusted dose: use 20 mg once weekly"


@pytest.mark.parametrize(
    ("age", "band"), [(64, "under 65 years"), (65, "65–75 years"), (75, "65–75 years"), (76, "over 75 years")]
)
def test_age_bands(age: int, band: str) -> None:
    assert age_band(age).label == band


@pytest.mark.parametrize(("weekly_mg", "high"), [(479 / 4, False), (120.0, True)])  # 479 vs 480 mg per cycle
def test_high_dose_boundary(weekly_mg: float, high: bool) -> None:
    found = dex_card(70, dexamethasone(weekly_mg))
    assert found is not None
    assert ("R-DEX-HIGH" in found.rule_ids) is high
    assert target(found) == (40.0, 160.0)


def test_high_dose_without_indication_suggests_low_dose() -> None:
    found = dex_card(60, dexamethasone(40.0, HIGH_DOSE_DAYS))
    assert found is not None and found.rule_ids == ("R-DEX-HIGH",) and found.severity == "warning"
    assert target(found) == (40.0, 160.0)
    assert any("spinal cord compression" in p for p in found.rationale)


def test_high_dose_in_the_elderly_also_names_the_age_rule() -> None:
    found = dex_card(80, dexamethasone(40.0, HIGH_DOSE_DAYS))
    assert found is not None and found.rule_ids == ("R-DEX-HIGH", "R-DEX-AGE")
    assert target(found) == (20.0, 80.0)


@pytest.mark.parametrize(
    "indication", ["spinal-cord-compression", "hypercalcemia", "bone-pain", "renal-failure", "aggressive-disease"]
)
def test_high_dose_with_an_indication_is_accepted(indication: str) -> None:
    assert dex_card(60, dexamethasone(40.0, HIGH_DOSE_DAYS), conditions=(condition(indication),)) is None


def test_resolved_indication_does_not_justify_high_dose() -> None:
    found = dex_card(60, dexamethasone(40.0, HIGH_DOSE_DAYS), conditions=(condition("hypercalcemia", active=False),))
    assert found is not None and "R-DEX-HIGH" in found.rule_ids


def test_under_65_may_take_days_1_4_and_15_18_in_the_first_4_cycles() -> None:
    assert dex_card(60, dexamethasone(40.0, FIRST_CYCLES_DAYS)) is None


def test_under_65_after_the_first_4_cycles_goes_weekly() -> None:
    earlier = lenalidomide(id="len-old", status="active", authored_days_ago=112)
    found = dex_card(60, dexamethasone(40.0, FIRST_CYCLES_DAYS), earlier)
    assert found is not None and found.rule_ids == ("R-DEX-AGE",) and found.severity == "info"
    assert target(found) == (40.0, 160.0)


def test_65_to_75_is_weekly_only() -> None:
    found = dex_card(70, dexamethasone(40.0, FIRST_CYCLES_DAYS))
    assert found is not None and found.rule_ids == ("R-DEX-AGE",) and target(found) == (40.0, 160.0)


def test_reduction_level_orders_are_within_the_band() -> None:
    assert dex_card(70, dexamethasone(40.0, (1, 2, 3, 4))) is None  # level −2, 160 mg/cycle


def test_unknown_age_with_high_dose_gives_no_dose() -> None:
    found = dex_card(None, dexamethasone(40.0, HIGH_DOSE_DAYS))
    assert found is not None and found.rule_ids == ("R-DEX-HIGH",)
    assert found.actions == () and found.data_needed == ("date of birth",)


def test_unknown_age_with_low_dose_is_not_judged() -> None:
    assert dex_card(None, dexamethasone(40.0)) is None


def test_unreadable_schedule_is_not_judged() -> None:
    order = MedicationOrder("dex-draft", "dexamethasone", "draft", is_draft=True, selected=True)
    assert dex_card(80, order) is None


def test_dexamethasone_rules_are_order_rules() -> None:
    snapshot = patient(
        birth_date=born_aged(80),
        medications=(
            dexamethasone(40.0, status="active", id="dex-active", authored_days_ago=10),
            lenalidomide(status="active", id="len-active", authored_days_ago=10),
        ),
    )
    assert card(run(snapshot, "patient-view"), "dexamethasone") is None


def test_dexamethasone_alone_is_checked_on_order_select() -> None:
    snapshot = patient(birth_date=born_aged(80), medications=(dexamethasone(40.0),))
    found = card(run(snapshot, "order-select"), "dexamethasone")
    assert found is not None and found.rule_ids == ("R-DEX-AGE",)


def test_tables() -> None:
    assert HIGH_DOSE_MG_PER_CYCLE == 480.0
    assert [band.weekly.mg_per_cycle() for band in AGE_BANDS] == [80.0, 160.0, 160.0]
    assert [(r.level, r.regimen.mg_per_cycle()) for r in REDUCTION_LEVELS] == [(-1, 320.0), (-2, 160.0), (-3, 80.0)]

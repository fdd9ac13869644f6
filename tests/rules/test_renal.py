"""Kidney function and renal tiers (clinical rules section 2), one row per boundary."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.rules.patient_builder import TODAY, born_aged, condition, lab, patient, procedure, with_crcl
from rules.model import Evaluation
from rules.renal import RenalDataNeeded, RenalFunction, assess_renal_function, tier_for_clearance

EVALUATION = Evaluation(hook="order-sign", today=TODAY)


def assess(snapshot):  # type: ignore[no-untyped-def]
    return assess_renal_function(snapshot, EVALUATION)


@pytest.mark.parametrize(
    ("clearance", "tier"),
    [
        (120.0, "R-RENAL-NORMAL"),
        (60.0, "R-RENAL-NORMAL"),
        (59.6, "R-RENAL-MODERATE"),  # unrounded: 59.6 is below 60
        (30.0, "R-RENAL-MODERATE"),
        (29.9, "R-RENAL-SEVERE"),
        (0.0, "R-RENAL-SEVERE"),
    ],
)
def test_tier_for_clearance(clearance: float, tier: str) -> None:
    assert tier_for_clearance(clearance).rule_id == tier


@pytest.mark.parametrize(
    ("clearance", "tier"),
    [(60.0, "R-RENAL-NORMAL"), (59.6, "R-RENAL-MODERATE"), (30.0, "R-RENAL-MODERATE"), (29.9, "R-RENAL-SEVERE")],
)
def test_cockcroft_gault_tiers(clearance: float, tier: str) -> None:
    renal = assess(with_crcl(patient(), clearance))
    assert isinstance(renal, RenalFunction)
    assert renal.method == "cockcroft-gault"
    assert renal.clearance_ml_min == pytest.approx(clearance)
    assert renal.rule_ids == ("R-CRCL-CG", tier)


def test_cockcroft_gault_arithmetic_for_a_woman() -> None:
    # (140 − 72) × 55 / (72 × 1.3) × 0.85 = 33.977…
    snapshot = patient(birth_date=born_aged(72), sex="female", weight=lab(55.0, "kg"), creatinine=lab(1.3, "mg/dL"))
    renal = assess(snapshot)
    assert isinstance(renal, RenalFunction)
    assert renal.clearance_ml_min == pytest.approx(68 * 55 / (72 * 1.3) * 0.85)
    assert renal.tier.rule_id == "R-RENAL-MODERATE"
    assert "0.85 (female)" in renal.explanation


@pytest.mark.parametrize(
    ("measured", "tier"),
    [(60.0, "R-RENAL-NORMAL"), (59.6, "R-RENAL-MODERATE"), (30.0, "R-RENAL-MODERATE"), (29.9, "R-RENAL-SEVERE")],
)
def test_measured_crcl_substitutes_for_missing_creatinine(measured: float, tier: str) -> None:
    renal = assess(patient(creatinine=None, measured_crcl=lab(measured, "mL/min", code="2164-2")))
    assert isinstance(renal, RenalFunction)
    assert renal.method == "measured-crcl"
    assert renal.tier.rule_id == tier
    assert "could not be computed" in renal.explanation  # the substitution is stated


@pytest.mark.parametrize(
    ("egfr", "comparator", "tier"),
    [(60.0, None, "R-RENAL-NORMAL"), (59.6, None, "R-RENAL-MODERATE"), (29.9, None, "R-RENAL-SEVERE"),
     (60.0, ">", "R-RENAL-NORMAL")],
)
def test_egfr_substitutes_when_weight_is_stale(egfr: float, comparator: str | None, tier: str) -> None:
    snapshot = patient(weight=lab(70.0, "kg", days=31), egfr=lab(egfr, "mL/min/1.73m2", comparator=comparator))
    renal = assess(snapshot)
    assert isinstance(renal, RenalFunction)
    assert renal.method == "egfr"
    assert renal.tier.rule_id == tier


def test_ambiguous_egfr_bound_is_not_used() -> None:
    renal = assess(patient(creatinine=None, egfr=lab(45.0, "mL/min/1.73m2", comparator="<")))
    assert isinstance(renal, RenalDataNeeded)


def test_measured_crcl_is_preferred_to_egfr() -> None:
    renal = assess(patient(creatinine=None, measured_crcl=lab(45.0, "mL/min"), egfr=lab(80.0, "mL/min/1.73m2")))
    assert isinstance(renal, RenalFunction) and renal.method == "measured-crcl"


@pytest.mark.parametrize(
    "fields",
    [
        {"conditions": (condition("dialysis"),)},
        {"conditions": (condition("esrd"),)},
        {"procedures": (procedure("dialysis", 3),)},
    ],
)
def test_dialysis_tier(fields: dict[str, object]) -> None:
    renal = assess(patient(**fields))
    assert isinstance(renal, RenalFunction)
    assert renal.tier.rule_id == "R-RENAL-DIALYSIS" and renal.method == "dialysis"


def test_resolved_dialysis_condition_is_not_dialysis() -> None:
    renal = assess(patient(conditions=(condition("dialysis", active=False),)))
    assert isinstance(renal, RenalFunction) and renal.tier.rule_id == "R-RENAL-NORMAL"


@pytest.mark.parametrize(
    ("fields", "missing"),
    [
        ({"creatinine": None}, "serum creatinine"),
        ({"weight": None}, "body weight"),
        ({"creatinine": lab(1.0, "mg/dL", days=31)}, "a current serum creatinine"),
        ({"weight": lab(70.0, "kg", days=31)}, "a current body weight"),
        ({"birth_date": None}, "date of birth"),
    ],
)
def test_missing_or_stale_inputs_need_data(fields: dict[str, object], missing: str) -> None:
    renal = assess(patient(**fields))
    assert isinstance(renal, RenalDataNeeded)
    assert any(m.startswith(missing) for m in renal.missing)


def test_creatinine_exactly_at_the_window_is_fresh() -> None:
    assert isinstance(assess(patient(creatinine=lab(1.0, "mg/dL", days=30))), RenalFunction)


def test_sex_unknown_uses_the_lower_value_when_both_fall_in_one_tier() -> None:
    renal = assess(replace(with_crcl(patient(), 40.0), sex=None))
    assert isinstance(renal, RenalFunction)
    assert renal.clearance_ml_min == pytest.approx(40.0 * 0.85)


def test_sex_unknown_across_a_tier_boundary_needs_data() -> None:
    renal = assess(replace(with_crcl(patient(), 65.0), sex="unknown"))  # 65 normal, 55.25 moderate
    assert isinstance(renal, RenalDataNeeded)
    assert any("sex" in m for m in renal.missing)


@pytest.mark.parametrize(
    ("creatinine", "comparator", "decided"),
    [
        (0.5, "<", True),   # clearance ≥ 144: normal whatever the true value
        (2.0, ">", False),  # clearance < 35: moderate or severe, not decided
        (3.0, ">", True),   # clearance < 23.3: severe whatever the true value
    ],
)
def test_creatinine_bounds_are_used_only_when_they_decide(creatinine: float, comparator: str, decided: bool) -> None:
    renal = assess(patient(creatinine=lab(creatinine, "mg/dL", comparator=comparator)))
    assert isinstance(renal, RenalFunction) is decided

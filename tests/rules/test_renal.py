"""Kidney function and renal tiers (clinical rules section 2), one row per boundary."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest

from tests.rules.patient_builder import TODAY, born_aged, condition, lab, patient, procedure, with_crcl
from rules.model import ClinicalProcedure, Evaluation
from rules.plausibility import BEFORE_1900, ambiguous, implausible_date, outside_range
from rules.renal import (
    DIALYSIS_PROCEDURE_WITHIN_DAYS,
    RenalDataNeeded,
    RenalFunction,
    assess_renal_function,
    tier_for_clearance,
)

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
    [
        (60.0, None, "R-RENAL-NORMAL"),
        (59.6, None, "R-RENAL-MODERATE"),
        (29.9, None, "R-RENAL-SEVERE"),
        (60.0, ">", "R-RENAL-NORMAL"),
    ],
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
        (0.5, "<", True),  # clearance ≥ 144: normal whatever the true value
        (2.0, ">", False),  # clearance < 35: moderate or severe, not decided
        (3.0, ">", True),  # clearance < 23.3: severe whatever the true value
    ],
)
def test_creatinine_bounds_are_used_only_when_they_decide(creatinine: float, comparator: str, decided: bool) -> None:
    renal = assess(patient(creatinine=lab(creatinine, "mg/dL", comparator=comparator)))
    assert isinstance(renal, RenalFunction) is decided


# --- dialysis from current evidence only (clinical rules section 1) --------------------------


@pytest.mark.parametrize("days", [0, 30])
def test_a_dialysis_procedure_in_the_last_30_days_is_dialysis(days: int) -> None:
    renal = assess(patient(procedures=(procedure("dialysis", days),)))
    assert isinstance(renal, RenalFunction) and renal.tier.rule_id == "R-RENAL-DIALYSIS"


def test_the_30_days_are_the_rule_number() -> None:
    assert DIALYSIS_PROCEDURE_WITHIN_DAYS == 30


@pytest.mark.parametrize("days", [31, 730])
def test_an_older_dialysis_procedure_is_history_not_a_tier(days: int) -> None:
    renal = assess(patient(procedures=(procedure("dialysis", days),)))
    assert isinstance(renal, RenalFunction)
    assert renal.tier.rule_id == "R-RENAL-NORMAL" and renal.method == "cockcroft-gault"
    assert "history, not current dialysis" in renal.explanation


def test_the_newest_of_several_dialysis_procedures_decides() -> None:
    renal = assess(patient(procedures=(procedure("dialysis", 700), procedure("dialysis", 5))))
    assert isinstance(renal, RenalFunction) and renal.tier.rule_id == "R-RENAL-DIALYSIS"


@pytest.mark.parametrize("performed", [None, TODAY + timedelta(days=5)])
def test_a_dialysis_procedure_without_a_usable_date_asks_to_confirm_dialysis(performed: date | None) -> None:
    """It cannot show current dialysis, and ignoring it could give a patient on dialysis the
    severe tier's 15 mg every 48 hours: no tier, and no substitute either."""
    session = ClinicalProcedure("dialysis", "Hemodialysis", performed=performed)
    renal = assess(patient(procedures=(session,), egfr=lab(80.0, "mL/min/1.73m2")))
    assert isinstance(renal, RenalDataNeeded)
    assert renal.missing[0].startswith("confirmation of dialysis status")


def test_one_day_ahead_is_a_current_dialysis_procedure() -> None:
    session = ClinicalProcedure("dialysis", "Hemodialysis", performed=TODAY + timedelta(days=1))
    renal = assess(patient(procedures=(session,)))
    assert isinstance(renal, RenalFunction) and renal.tier.rule_id == "R-RENAL-DIALYSIS"


def test_an_active_dialysis_condition_is_dialysis_whatever_the_procedures() -> None:
    renal = assess(patient(conditions=(condition("dialysis"),), procedures=(procedure("dialysis", 700),)))
    assert isinstance(renal, RenalFunction) and renal.tier.rule_id == "R-RENAL-DIALYSIS"


def test_other_procedures_are_not_dialysis() -> None:
    session = ClinicalProcedure("asct", "Autologous stem-cell transplantation", performed=None)
    assert isinstance(assess(patient(procedures=(session,))), RenalFunction)


# --- implausible and ambiguous inputs: verify, not order (clinical rules section 1) -----------

HELD_BACK_CREATININE = outside_range("creatinine", "0.0001 mg/dL", TODAY - timedelta(days=1))


def test_an_implausible_creatinine_is_named_to_verify() -> None:
    renal = assess(patient(creatinine=None, untrusted=(HELD_BACK_CREATININE,)))
    assert isinstance(renal, RenalDataNeeded)
    assert renal.verify == (HELD_BACK_CREATININE.note,)
    assert renal.missing == (
        f"verify: creatinine 0.0001 mg/dL on {(TODAY - timedelta(days=1)).isoformat()} is outside 0.1–20 mg/dL",
    )
    assert not any(m.startswith("serum creatinine") for m in renal.missing)


@pytest.mark.parametrize(
    "fields",
    [{"egfr": lab(80.0, "mL/min/1.73m2")}, {"measured_crcl": lab(80.0, "mL/min")}],
)
def test_no_substitute_stands_in_for_a_creatinine_in_doubt(fields: dict[str, object]) -> None:
    renal = assess(patient(creatinine=None, untrusted=(HELD_BACK_CREATININE,), **fields))
    assert isinstance(renal, RenalDataNeeded) and renal.verify


def test_ambiguous_creatinines_ask_which_is_right() -> None:
    doubt = ambiguous("creatinine", ("1.0 mg/dL", "2.4 mg/dL"), "2025-05-31T08:00:00Z", TODAY)
    renal = assess(patient(creatinine=None, untrusted=(doubt,)))
    assert isinstance(renal, RenalDataNeeded)
    assert renal.verify == (
        "Verify: two creatinine results at 2025-05-31T08:00:00Z: 1.0 mg/dL and 2.4 mg/dL — which is right?",
    )
    assert renal.missing == (
        "verify which of two creatinine results at 2025-05-31T08:00:00Z is right: 1.0 mg/dL or 2.4 mg/dL",
    )


def test_an_implausible_weight_is_named_to_verify() -> None:
    doubt = outside_range("weight", "1E-300 kg", TODAY)
    renal = assess(patient(weight=None, untrusted=(doubt,)))
    assert isinstance(renal, RenalDataNeeded) and renal.verify == (doubt.note,)
    assert "body weight" not in renal.missing


@pytest.mark.parametrize("birth_date", [born_aged(125), born_aged(12), TODAY + timedelta(days=30)])
def test_an_implausible_age_is_named_to_verify_never_computed(birth_date: date) -> None:
    renal = assess(patient(birth_date=birth_date))
    assert isinstance(renal, RenalDataNeeded)
    [line] = renal.verify
    assert line.startswith(f"Verify: birth date {birth_date.isoformat()} gives an age of")
    assert "date of birth (age)" not in renal.missing


def test_a_birth_date_before_1900_held_back_by_the_mappers_is_named() -> None:
    doubt = implausible_date("age", "", "0001-01-01", BEFORE_1900)
    renal = assess(patient(birth_date=None, untrusted=(doubt,)))
    assert isinstance(renal, RenalDataNeeded)
    assert renal.verify == ("Verify: birth date 0001-01-01 is before 1900",)


def test_a_creatinine_dated_in_the_future_is_named_to_verify() -> None:
    ahead = replace(lab(1.0, "mg/dL"), when=TODAY + timedelta(days=3), original="1.0 mg/dL")
    renal = assess(patient(creatinine=ahead, egfr=lab(80.0, "mL/min/1.73m2")))
    assert isinstance(renal, RenalDataNeeded)
    assert renal.verify == (
        f"Verify: creatinine 1.0 mg/dL dated {(TODAY + timedelta(days=3)).isoformat()} is in the future",
    )


def test_untrusted_values_of_other_kinds_do_not_block_kidney_function() -> None:
    doubt = outside_range("anc", "500 10*9/L", TODAY)
    renal = assess(patient(anc=None, untrusted=(doubt,)))
    assert isinstance(renal, RenalFunction) and renal.tier.rule_id == "R-RENAL-NORMAL"

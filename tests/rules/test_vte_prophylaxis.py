"""VTE prophylaxis by Table 3, the IMPEDE score, and an active DVT/PE (clinical rules section 7)."""

from __future__ import annotations

import dataclasses

from typing import Any

import pytest

from tests.rules.patient_builder import (
    TODAY,
    born_aged,
    card,
    condition,
    counts,
    dexamethasone,
    lab,
    lenalidomide,
    medication,
    on_lenalidomide,
    patient,
    run,
    with_crcl,
)
from rules.model import Evaluation, MedicationOrder, NewMedication, OrdersUnderReview, PatientSnapshot, Recommendation
from rules.vte_prophylaxis import VteTier, active_anticoagulation, impede_score, vte_risk

HIGH_DOSE_DAYS = (1, 2, 3, 4, 9, 10, 11, 12, 17, 18, 19, 20)


def ordering(*extra: MedicationOrder, dex: MedicationOrder | None = None, **fields: Any) -> PatientSnapshot:
    """A lenalidomide draft with low-dose dexamethasone (or ``dex``) for the default patient."""
    return patient(medications=(lenalidomide(), dex or dexamethasone()) + extra, **fields)


def vte(snapshot: PatientSnapshot, hook: str = "order-sign") -> Recommendation | None:
    return card(run(snapshot, hook), "vte-prophylaxis")  # type: ignore[arg-type]


def tier(snapshot: PatientSnapshot) -> VteTier | None:
    orders = OrdersUnderReview(snapshot.drafts_of("lenalidomide"), snapshot.drafts_of("dexamethasone"))
    return vte_risk(snapshot, Evaluation("order-sign", TODAY), orders).tier


def new_medications(found: Recommendation) -> list[NewMedication]:
    return [a for a in found.actions if isinstance(a, NewMedication)]


def drugs(found: Recommendation) -> list[tuple[str, bool]]:
    return [(a.drug, a.recommended) for a in new_medications(found)]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, VteTier.NONE),
        ({"birth_date": born_aged(74)}, VteTier.NONE),
        ({"birth_date": born_aged(75)}, VteTier.STANDARD),
        ({"conditions": (condition("dvt", onset_days_ago=183, active=False),)}, VteTier.HIGH),
        ({"conditions": (condition("pe", onset_days_ago=184, active=False),)}, VteTier.STANDARD),
        ({"conditions": (condition("vte"),)}, VteTier.STANDARD),  # undated: history, not recent
        ({"conditions": (condition("immobilization"),)}, VteTier.HIGH),
        ({"conditions": (condition("immobilization", active=False),)}, VteTier.NONE),
        ({"ecog": lab(2.0)}, VteTier.STANDARD),
        ({"ecog": lab(1.0)}, VteTier.NONE),
        ({"ecog": lab(3.0, days=100)}, VteTier.NONE),  # stale
        ({"bmi": lab(30.0, "kg/m2")}, VteTier.STANDARD),
        ({"bmi": lab(29.9, "kg/m2")}, VteTier.NONE),
        ({"weight": lab(90.0, "kg"), "height": lab(170.0, "cm", days=400)}, VteTier.STANDARD),  # 31.1
        ({"conditions": (condition("ckd"),)}, VteTier.STANDARD),
        ({"conditions": (condition("heart-failure"),)}, VteTier.STANDARD),
        ({"conditions": (condition("thrombophilia"),)}, VteTier.STANDARD),
        ({"conditions": (condition("active-infection"),)}, VteTier.STANDARD),
        ({"conditions": (condition("pulmonary-disease"),)}, VteTier.STANDARD),
        ({"conditions": (condition("arterial-thromboembolism"),)}, VteTier.STANDARD),
        ({"medications": (lenalidomide(), dexamethasone(), medication("epoetin"))}, VteTier.STANDARD),
        ({"medications": (lenalidomide(), dexamethasone(120.0))}, VteTier.HIGH),  # 480 mg/cycle
        ({"medications": (lenalidomide(), dexamethasone(479 / 4))}, VteTier.NONE),  # 479 mg/cycle
        ({"medications": (lenalidomide(), dexamethasone(40.0, HIGH_DOSE_DAYS))}, VteTier.HIGH),
    ],
)
def test_table_3_tiers(fields: dict[str, Any], expected: VteTier) -> None:
    base = {"medications": (lenalidomide(), dexamethasone())}
    assert tier(patient(**{**base, **fields})) == expected


@pytest.mark.parametrize(("clearance", "expected"), [(59.6, VteTier.STANDARD), (60.0, VteTier.NONE)])
def test_renal_disease_is_crcl_below_60(clearance: float, expected: VteTier) -> None:
    assert tier(with_crcl(ordering(), clearance)) == expected


@pytest.mark.parametrize(
    ("platelets", "expected"),
    [(99_999, VteTier.NONE), (100_000, VteTier.STANDARD), (None, None)],
)
def test_platelets_decide_the_standard_tier(platelets: float | None, expected: VteTier | None) -> None:
    assert tier(ordering(birth_date=born_aged(75), **counts(platelets=platelets))) == expected


def test_high_tier_does_not_depend_on_platelets() -> None:
    assert tier(ordering(conditions=(condition("immobilization"),), **counts(platelets=None))) == VteTier.HIGH


def test_standard_tier_suggests_aspirin() -> None:
    found = vte(ordering(birth_date=born_aged(76)))
    assert found is not None and found.rule_ids == ("R-VTE-STANDARD", "R-VTE-IMPEDE")
    assert found.severity == "warning" and found.selection == "any"
    (action,) = found.actions
    assert isinstance(action, NewMedication) and action.drug == "aspirin"
    assert (action.regimen.dose, action.regimen.dose_unit, action.regimen.every_hours, action.regimen.route) == (
        100.0,
        "mg",
        24.0,
        "oral",
    )


@pytest.mark.parametrize(
    ("platelets", "clearance", "expected"),
    [
        (50_000, 30.0, [("enoxaparin", True), ("dalteparin", False)]),
        (49_999, 30.0, [("warfarin", False)]),  # bleeding risk: offered, not pre-selected
        (200_000, 29.9, [("warfarin", True)]),
        (200_000, 60.0, [("enoxaparin", True), ("dalteparin", False)]),
    ],
)
def test_high_tier_lmwh_or_warfarin(platelets: float, clearance: float, expected: list[tuple[str, bool]]) -> None:
    snapshot = with_crcl(ordering(conditions=(condition("immobilization"),), **counts(platelets=platelets)), clearance)
    found = vte(snapshot)
    assert found is not None and found.rule_ids == ("R-VTE-HIGH", "R-VTE-IMPEDE") and found.severity == "warning"
    assert drugs(found) == expected
    assert found.selection == ("at-most-one" if len(expected) > 1 else "any")


def test_lmwh_regimens() -> None:
    found = vte(ordering(conditions=(condition("immobilization"),)))
    assert found is not None
    enoxaparin, dalteparin = (a.regimen for a in new_medications(found))
    assert (enoxaparin.dose, enoxaparin.dose_unit, enoxaparin.route) == (40.0, "mg", "subcutaneous")
    assert (dalteparin.dose, dalteparin.dose_unit) == (5000.0, "IU")
    assert enoxaparin.text == (
        "Enoxaparin 40 mg subcutaneously once daily for the first 4 cycles, then aspirin 100 mg daily"
    )


def test_warfarin_has_no_dose() -> None:
    found = vte(ordering(conditions=(condition("immobilization"),), **counts(platelets=40_000)))
    assert found is not None
    (warfarin,) = new_medications(found)
    assert warfarin.regimen.dose is None and "INR 2–3" in (warfarin.regimen.text or "")


def test_high_risk_without_platelets_gives_no_anticoagulant() -> None:
    found = vte(ordering(conditions=(condition("immobilization"),), **counts(platelets=None)))
    assert found is not None and found.rule_ids[0] == "R-VTE-HIGH"
    assert found.actions == () and found.data_needed == ("platelet count",)


def test_high_risk_with_unknown_kidneys_waits_for_creatinine() -> None:
    found = vte(ordering(conditions=(condition("immobilization"),), creatinine=None))
    assert found is not None and found.actions == () and "serum creatinine" in found.data_needed


def test_high_risk_with_unknown_kidneys_and_low_platelets_is_warfarin_not_preselected() -> None:
    found = vte(ordering(conditions=(condition("immobilization"),), creatinine=None, **counts(platelets=30_000)))
    assert found is not None and drugs(found) == [("warfarin", False)]


def test_standard_risk_without_platelets_needs_data_on_order_hooks_only() -> None:
    snapshot = ordering(birth_date=born_aged(80), **counts(platelets=None))
    found = vte(snapshot)
    assert found is not None and found.rule_ids[0] == "R-VTE-STANDARD" and found.actions == ()
    view = on_lenalidomide(birth_date=born_aged(80), **counts(platelets=None))
    assert vte(view, "patient-view") is None


def test_no_risk_is_an_order_hook_info() -> None:
    found = vte(ordering())
    assert found is not None and found.rule_ids == ("R-VTE-NONE", "R-VTE-IMPEDE") and found.severity == "info"
    assert found.actions == ()
    assert vte(on_lenalidomide(), "patient-view") is None


def test_low_platelets_with_a_risk_factor_is_none_with_the_count() -> None:
    found = vte(ordering(birth_date=born_aged(80), **counts(platelets=80_000)))
    assert found is not None and found.rule_ids[0] == "R-VTE-NONE"
    assert found.summary == "No VTE prophylaxis (platelets 80,000/µL < 100,000/µL): monitor for VTE symptoms"


@pytest.mark.parametrize(
    "anticoagulant",
    [
        medication("apixaban"),
        medication("warfarin"),
        medication("rivaroxaban"),
        medication("enoxaparin", dose=80.0, unit="mg", every_hours=12.0),
        medication("dalteparin", dose=10_000.0, unit="IU"),
        medication("heparin", dose=5_000.0, unit="IU", every_hours=4.0),
    ],
)
def test_therapeutic_anticoagulant_means_no_vte_card(anticoagulant: MedicationOrder) -> None:
    snapshot = ordering(anticoagulant, conditions=(condition("immobilization"), condition("dvt", onset_days_ago=5)))
    recommendations = run(snapshot)
    assert card(recommendations, "vte-prophylaxis") is None and card(recommendations, "vte-treatment") is None
    assert active_anticoagulation(snapshot).therapeutic == (anticoagulant,)


@pytest.mark.parametrize(
    ("in_place", "fields"),
    [
        (medication("enoxaparin", dose=40.0, unit="mg"), {"conditions": (condition("immobilization"),)}),
        (medication("dalteparin", dose=5_000.0, unit="IU"), {"conditions": (condition("immobilization"),)}),
        (medication("enoxaparin"), {"conditions": (condition("immobilization"),)}),  # dose unknown
        (medication("aspirin", dose=100.0, unit="mg"), {"birth_date": born_aged(80)}),
        (medication("enoxaparin", dose=40.0, unit="mg"), {"birth_date": born_aged(80)}),
    ],
)
def test_prophylaxis_in_place_gets_no_card(in_place: MedicationOrder, fields: dict[str, Any]) -> None:
    assert vte(ordering(in_place, **fields)) is None


def test_a_prophylaxis_drafted_in_this_call_counts_as_in_place() -> None:
    """Accepting the aspirin suggestion adds a draft; firing again must not ask for it again."""
    drafted = dataclasses.replace(medication("aspirin", status="draft", dose=100.0, unit="mg"), is_draft=True)
    assert vte(ordering(drafted, birth_date=born_aged(76))) is None
    stopped = medication("aspirin", status="stopped", dose=100.0, unit="mg")
    assert vte(ordering(stopped, birth_date=born_aged(76))) is not None


def test_aspirin_is_not_enough_for_high_risk_in_the_first_cycles() -> None:
    found = vte(ordering(medication("aspirin", dose=100.0, unit="mg"), conditions=(condition("immobilization"),)))
    assert found is not None and drugs(found) == [("enoxaparin", True), ("dalteparin", False)]


def test_aspirin_after_the_lmwh_cycles_is_in_place() -> None:
    snapshot = on_lenalidomide(
        medication("aspirin", dose=100.0, unit="mg"), started_days_ago=140, conditions=(condition("immobilization"),)
    )
    assert vte(snapshot, "patient-view") is None


def test_patient_view_finds_missing_prophylaxis() -> None:
    found = vte(on_lenalidomide(birth_date=born_aged(80)), "patient-view")
    assert found is not None and found.rule_ids[0] == "R-VTE-STANDARD"


def test_no_lenalidomide_no_vte_card() -> None:
    snapshot = patient(medications=(dexamethasone(),), conditions=(condition("immobilization"),))
    assert vte(snapshot, "order-select") is None
    assert vte(snapshot, "patient-view") is None


# --- IMPEDE ----------------------------------------------------------------------------------


def impede(snapshot: PatientSnapshot) -> tuple[int, str]:
    orders = OrdersUnderReview(snapshot.drafts_of("lenalidomide"), snapshot.drafts_of("dexamethasone"))
    score = impede_score(snapshot, Evaluation("order-sign", TODAY), orders, active_anticoagulation(snapshot))
    return score.points, score.category


@pytest.mark.parametrize(
    ("snapshot", "expected"),
    [
        (patient(medications=(lenalidomide(),)), (4, "intermediate")),
        (ordering(), (6, "intermediate")),  # IMiD 4 + low-dose dexamethasone 2
        (ordering(conditions=(condition("asian-ethnicity"),)), (3, "low")),
        (ordering(dex=dexamethasone(40.0, HIGH_DOSE_DAYS)), (8, "high")),
        (ordering(dex=dexamethasone(160.0 / 4)), (6, "intermediate")),  # 160 mg/month is low-dose
        (ordering(conditions=(condition("dvt", onset_days_ago=900, active=False),)), (11, "high")),
        (
            ordering(conditions=(condition("pelvic-hip-femur-fracture"), condition("central-venous-catheter"))),
            (12, "high"),
        ),
        (ordering(medication("doxorubicin"), medication("darbepoetin"), bmi=lab(25.0, "kg/m2")), (11, "high")),
        (ordering(medication("aspirin")), (3, "low")),
        (ordering(medication("warfarin")), (1, "low")),
    ],
)
def test_impede_score(snapshot: PatientSnapshot, expected: tuple[int, str]) -> None:
    assert impede(snapshot) == expected


def test_impede_is_in_the_card_and_never_changes_the_tier() -> None:
    found = vte(ordering(dex=dexamethasone(40.0, HIGH_DOSE_DAYS), conditions=(condition("asian-ethnicity"),)))
    assert found is not None and "R-VTE-IMPEDE" in found.rule_ids
    assert any("IMPEDE VTE score **5 (intermediate risk)**" in p for p in found.rationale)
    assert found.rule_ids[0] == "R-VTE-HIGH"  # high-dose dexamethasone, whatever IMPEDE says


def test_impede_notes_that_ethnicity_is_rarely_recorded() -> None:
    found = vte(ordering())
    assert found is not None and any("rarely" in p for p in found.rationale)


# --- R-VTE-ACTIVE ----------------------------------------------------------------------------


def treatment(snapshot: PatientSnapshot, hook: str = "order-sign") -> Recommendation | None:
    return card(run(snapshot, hook), "vte-treatment")  # type: ignore[arg-type]


@pytest.mark.parametrize("category", ["dvt", "pe", "vte"])
def test_active_clot_needs_anticoagulation(category: str) -> None:
    recommendations = run(ordering(conditions=(condition(category, onset_days_ago=10),)))
    found = card(recommendations, "vte-treatment")
    assert found is not None and found.rule_ids == ("R-VTE-ACTIVE",) and found.severity == "critical"
    (action,) = found.actions
    assert isinstance(action, NewMedication) and action.drug == "enoxaparin" and action.recommended
    assert (action.regimen.dose, action.regimen.every_hours) == (70.0, 12.0)  # 1 mg/kg × 70 kg
    assert card(recommendations, "vte-prophylaxis") is None  # no second VTE card


def test_active_clot_with_severe_renal_impairment_is_once_daily() -> None:
    found = treatment(with_crcl(ordering(conditions=(condition("dvt", onset_days_ago=10),)), 29.9))
    assert found is not None
    (action,) = new_medications(found)
    # with_crcl sets weight 29.9 kg (CrCl = weight / creatinine): 1 mg/kg → 30 mg, once daily
    assert (action.regimen.dose, action.regimen.every_hours) == (30.0, 24.0)
    assert found.summary.endswith("(enoxaparin 1 mg/kg once daily)")


def test_active_clot_without_a_current_weight_gets_no_suggestion() -> None:
    found = treatment(
        ordering(
            conditions=(condition("dvt", onset_days_ago=10),),
            weight=lab(70.0, "kg", days=40),
            measured_crcl=lab(80.0, "mL/min"),
        )
    )
    assert found is not None and found.actions == ()
    assert found.data_needed == ("body weight",)


def test_active_clot_on_prophylactic_lmwh_asks_for_a_treatment_dose() -> None:
    found = treatment(
        ordering(medication("enoxaparin", dose=40.0, unit="mg"), conditions=(condition("pe", onset_days_ago=3),))
    )
    assert found is not None and found.actions == ()  # no second heparin
    assert any("treatment dose" in p for p in found.rationale)


def test_old_active_entry_is_history_not_an_active_clot() -> None:
    snapshot = ordering(conditions=(condition("dvt", onset_days_ago=400),))
    assert treatment(snapshot) is None
    found = vte(snapshot)
    assert found is not None and found.rule_ids[0] == "R-VTE-STANDARD"


def test_active_clot_on_patient_view() -> None:
    assert treatment(on_lenalidomide(conditions=(condition("dvt", onset_days_ago=2),)), "patient-view") is not None
    assert treatment(patient(conditions=(condition("dvt", onset_days_ago=2),)), "patient-view") is None


def test_implausible_height_gives_no_bmi_instead_of_failing() -> None:
    # Found by hypothesis: a denormal height squared underflows to 0.
    snapshot = ordering(height=lab(5e-324, "cm"))
    assert tier(snapshot) == VteTier.NONE
    assert vte(snapshot) is not None

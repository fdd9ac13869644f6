"""Anticoagulation weighs bleeding risk (clinical rules section 7, R-VTE-ACTIVE and R-VTE-HIGH).

Guideline (Pulmonary thromboembolism and deep vein thrombosis, Table 4): bleeding risk is
weighed before anticoagulation; platelets < 100,000/µL, active bleeding and a recent CNS bleed
are bleeding risks. A one-click suggestion is never a full-dose anticoagulant against them.
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from typing import Any

import pytest

from tests.rules.patient_builder import (
    TODAY,
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
    starting,
    with_crcl,
)
from rules.model import Measurement, MedicationOrder, NewMedication, PatientSnapshot, Recommendation

DVT = condition("dvt", onset_days_ago=10)


def starting_with_clot(*extra: MedicationOrder, conditions: tuple[Any, ...] = (), **fields: Any) -> PatientSnapshot:
    """A first lenalidomide draft (never treated) for the default 70 kg patient with an active DVT."""
    return patient(medications=(lenalidomide(), dexamethasone()) + extra, conditions=(DVT,) + conditions, **fields)


def treatment(snapshot: PatientSnapshot, hook: str = "order-sign") -> Recommendation:
    found = card(run(snapshot, hook), "vte-treatment")  # type: ignore[arg-type]
    assert found is not None and found.rule_ids == ("R-VTE-ACTIVE",) and found.severity == "critical"
    return found


def suggestions(found: Recommendation) -> list[NewMedication]:
    return [a for a in found.actions if isinstance(a, NewMedication)]


# --- platelets < 50,000/µL, active bleeding, recent intracranial bleed -------------------------


@pytest.mark.parametrize("platelets", [20_000, 49_999])
def test_platelets_below_50_000_make_full_dose_a_specialist_decision(platelets: float) -> None:
    found = treatment(starting_with_clot(**counts(platelets=platelets)))
    assert found.actions == ()
    assert "specialist decision" in found.summary and f"{platelets:,.0f}/µL" in found.summary
    assert "No anticoagulant is suggested" in found.rationale[0]
    options = found.rationale[1]
    assert "platelet support" in options and "reduced dose" in options and "retrievable IVC filter" in options


@pytest.mark.parametrize(
    ("category", "words"), [("active-bleeding", "active bleeding"), ("intracranial-bleed", "recent intracranial bleed")]
)
def test_a_bleeding_condition_makes_full_dose_a_specialist_decision(category: str, words: str) -> None:
    found = treatment(starting_with_clot(conditions=(condition(category),)))
    assert found.actions == () and f"({words})" in found.summary


@pytest.mark.parametrize("category", ["active-bleeding", "intracranial-bleed"])
def test_a_resolved_bleeding_condition_does_not_block_the_treatment_dose(category: str) -> None:
    found = treatment(starting_with_clot(conditions=(condition(category, active=False),)))
    assert [(s.drug, s.recommended) for s in suggestions(found)] == [("enoxaparin", True)]


def test_a_prophylactic_heparin_in_place_is_left_to_the_specialist_too() -> None:
    found = treatment(starting_with_clot(medication("enoxaparin", dose=40.0, unit="mg"), **counts(platelets=30_000)))
    assert found.actions == ()
    assert any("part of the specialist decision" in p for p in found.rationale)
    assert not any("change it to the treatment dose" in p for p in found.rationale)


# --- platelets 50,000 to < 100,000/µL -------------------------------------------------------------


@pytest.mark.parametrize("platelets", [50_000, 99_999])
def test_platelets_50_000_to_100_000_offer_enoxaparin_not_preselected(platelets: float) -> None:
    found = treatment(starting_with_clot(**counts(platelets=platelets)))
    (enoxaparin,) = suggestions(found)
    assert enoxaparin.drug == "enoxaparin" and enoxaparin.recommended is False
    assert (enoxaparin.regimen.dose, enoxaparin.regimen.every_hours) == (70.0, 12.0)
    assert "**Bleeding risk**" in found.rationale[0] and f"{platelets:,.0f}/µL" in found.rationale[0]
    assert "weigh bleeding risk" in found.summary


def test_platelets_of_100_000_preselect_enoxaparin_without_the_caution() -> None:
    found = treatment(starting_with_clot(**counts(platelets=100_000)))
    (enoxaparin,) = suggestions(found)
    assert enoxaparin.recommended is True
    assert not any("Bleeding risk" in p for p in found.rationale)


def test_a_lower_bound_above_50_000_is_treated_as_a_possible_bleeding_risk() -> None:
    found = treatment(starting_with_clot(**counts(platelets=60_000, platelet_comparator=">")))
    (enoxaparin,) = suggestions(found)
    assert enoxaparin.recommended is False and "possibly below 100,000/µL" in found.rationale[0]


# --- no current platelet count --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "asked"),
    [
        (counts(platelets=None), ("platelet count",)),
        (counts(platelets=200_000, days=20), ("platelet count",)),  # stale (limit 14 days)
        (counts(platelets=60_000, platelet_comparator="<"), ("an exact platelet count",)),  # < 50,000?
    ],
)
def test_without_a_current_platelet_count_no_anticoagulant_is_suggested(
    fields: dict[str, Any], asked: tuple[str, ...]
) -> None:
    found = treatment(starting_with_clot(**fields))
    assert found.actions == () and found.data_needed == asked
    assert "platelet count is needed" in found.summary
    assert "bleeding risk cannot be weighed" in found.rationale[0]


def test_without_platelets_the_other_missing_dose_data_is_named_too() -> None:
    found = treatment(starting_with_clot(creatinine=None, **counts(platelets=None)))
    assert found.actions == () and found.data_needed == ("platelet count", "serum creatinine")


# --- kidneys: dialysis and CrCl < 30 mL/min -------------------------------------------------------


def test_on_dialysis_unfractionated_heparin_is_preferred_without_a_one_click_order() -> None:
    found = treatment(starting_with_clot(conditions=(condition("dialysis"),)))
    assert found.actions == () and found.data_needed == ()
    assert "unfractionated heparin" in found.summary and "not enoxaparin" in found.summary
    assert "aPTT/anti-Xa protocol" in found.rationale[0] and "not studied" in found.rationale[0]


def test_on_dialysis_with_low_platelets_the_caution_is_added() -> None:
    found = treatment(starting_with_clot(conditions=(condition("dialysis"),), **counts(platelets=70_000)))
    assert found.actions == () and "**Bleeding risk**" in found.rationale[0]


def test_crcl_below_30_is_once_daily_with_anti_xa_monitoring() -> None:
    found = treatment(starting_with_clot(creatinine=None, measured_crcl=lab(20.0, "mL/min")))
    (enoxaparin,) = suggestions(found)
    assert (enoxaparin.regimen.dose, enoxaparin.regimen.every_hours) == (70.0, 24.0)  # 1 mg/kg × 70 kg
    assert "anti-factor-Xa monitoring" in (enoxaparin.regimen.text or "")
    assert "anti-factor-Xa monitoring" in found.rationale[0]
    assert any("CrCl 20.0 mL/min" in p and "anti-factor-Xa" in p for p in found.rationale)


def test_crcl_of_30_is_every_12_hours_without_anti_xa() -> None:
    found = treatment(with_crcl(starting_with_clot(), 30.0))
    (enoxaparin,) = suggestions(found)
    assert enoxaparin.regimen.every_hours == 12.0
    assert "anti-factor-Xa" not in (enoxaparin.regimen.text or "")


# --- weight and kidney function for a treatment dose ----------------------------------------------


@pytest.mark.parametrize(
    ("fields", "asked", "named", "not_named"),
    [
        (
            {"weight": lab(70.0, "kg", days=40), "measured_crcl": lab(80.0, "mL/min")},
            ("body weight",),
            "a current body weight",
            "kidney function",
        ),
        (
            {"weight": None, "measured_crcl": lab(80.0, "mL/min")},
            ("body weight",),
            "a current body weight",
            "kidney function",
        ),
        ({"creatinine": None}, ("serum creatinine",), "kidney function", "body weight"),
        ({"weight": None, "creatinine": None}, ("body weight", "serum creatinine"), "and kidney function", ""),
        # A stale weight with nothing else for the clearance: the weight alone is missing.
        ({"weight": lab(70.0, "kg", days=40)}, ("body weight",), "a current body weight", "kidney function"),
    ],
)
def test_a_treatment_dose_needs_a_current_weight_and_kidney_function(
    fields: dict[str, Any], asked: tuple[str, ...], named: str, not_named: str
) -> None:
    found = treatment(starting_with_clot(**fields))
    assert found.actions == () and found.data_needed == asked
    assert named in found.summary
    if not_named:
        assert not_named not in found.summary
    assert "no dose is suggested" in found.rationale[0]


def test_a_weight_reported_as_a_bound_gives_no_dose() -> None:
    found = treatment(starting_with_clot(weight=lab(70.0, "kg", comparator=">"), measured_crcl=lab(80.0, "mL/min")))
    assert found.actions == () and found.data_needed == ("body weight",)


# --- wording: where the clot falls in the course --------------------------------------------------


def resuming_with_clot() -> PatientSnapshot:
    earlier = lenalidomide(id="len-earlier", status="completed", authored_days_ago=200)
    return patient(medications=(earlier, lenalidomide(), dexamethasone()), conditions=(DVT,))


@pytest.mark.parametrize(
    ("snapshot", "hook", "summary_words", "detail_words"),
    [
        (starting_with_clot(), "order-sign", "before starting lenalidomide", "before starting lenalidomide"),
        (on_lenalidomide(conditions=(DVT,)), "patient-view", "on lenalidomide", "during lenalidomide treatment"),
        (resuming_with_clot(), "order-sign", "before resuming lenalidomide", "before lenalidomide is resumed"),
    ],
)
def test_wording_follows_the_treatment_course(
    snapshot: PatientSnapshot, hook: str, summary_words: str, detail_words: str
) -> None:
    found = treatment(snapshot, hook)
    assert found.summary.startswith(f"Active DVT {summary_words}: ")
    assert detail_words in found.rationale[0]
    if detail_words != "during lenalidomide treatment":
        assert "on lenalidomide" not in found.summary
        assert not any("during lenalidomide treatment" in p for p in found.rationale)


# --- every combination ----------------------------------------------------------------------------

PLATELETS = (None, 20_000, 49_999, 50_000, 99_999, 100_000, 250_000)
KIDNEYS: tuple[dict[str, Any], ...] = (
    {},
    {"creatinine": None},
    {"creatinine": None, "measured_crcl": lab(20.0, "mL/min")},
    {"conditions": (condition("dialysis"),)},
)
WEIGHTS: tuple[Measurement | None, ...] = (lab(70.0, "kg"), lab(70.0, "kg", days=40), None)
BLEEDING = ((), (condition("active-bleeding"),), (condition("intracranial-bleed"),))


def test_no_combination_gives_a_full_dose_against_a_bleeding_risk_or_without_its_data() -> None:
    for platelets, kidneys, weight, bleeding in itertools.product(PLATELETS, KIDNEYS, WEIGHTS, BLEEDING):
        fields = {**kidneys, "conditions": kidneys.get("conditions", ()) + bleeding, "weight": weight}
        found = treatment(starting_with_clot(**fields, **counts(platelets=platelets)))
        case = (platelets, kidneys, weight, bleeding)
        assert 0 < len(found.summary) < 140, (case, found.summary)
        offered = suggestions(found)
        if platelets is None or platelets < 50_000 or bleeding or "conditions" in kidneys:
            assert offered == [], case
            continue
        fresh_weight = weight is not None and (TODAY - weight.when).days <= 30
        kidneys_known = kidneys != {"creatinine": None}
        if not (fresh_weight and kidneys_known):
            assert offered == [] and found.data_needed, case  # no dose: it says what to order
            continue
        (enoxaparin,) = offered
        assert enoxaparin.regimen.dose == 70.0, case
        assert enoxaparin.recommended == (platelets >= 100_000), case


# --- R-VTE-HIGH: prophylactic warfarin ------------------------------------------------------------


def high_risk(platelets: float, clearance: float) -> Recommendation:
    snapshot = with_crcl(
        patient(
            medications=(lenalidomide(), dexamethasone()),
            conditions=(condition("immobilization"),),
            **counts(platelets=platelets),
        ),
        clearance,
    )
    found = card(run(snapshot), "vte-prophylaxis")
    assert found is not None and found.rule_ids[0] == "R-VTE-HIGH"
    return found


@pytest.mark.parametrize("clearance", [60.0, 29.9])
def test_prophylactic_warfarin_below_50_000_platelets_is_not_preselected(clearance: float) -> None:
    found = high_risk(49_999, clearance)
    (warfarin,) = suggestions(found)
    assert warfarin.drug == "warfarin" and warfarin.recommended is False
    assert "**Bleeding risk**: platelets 49,999/µL" in found.rationale[0]
    assert found.summary.endswith("— weigh bleeding risk") and len(found.summary) < 140


def test_prophylactic_warfarin_for_crcl_below_30_alone_stays_preselected() -> None:
    found = high_risk(50_000, 29.9)
    (warfarin,) = suggestions(found)
    assert warfarin.recommended is True
    assert not any("Bleeding risk" in p for p in found.rationale)


@pytest.mark.parametrize("category", ["active-bleeding", "intracranial-bleed"])
def test_prophylaxis_for_a_bleeding_patient_is_never_pre_selected(category: str) -> None:
    # Immobilised (high tier, LMWH) and bleeding: offered, with the caution, not pre-selected.
    snapshot = replace(starting(), conditions=(condition("immobilization"), condition(category)))
    found = card(run(snapshot), "vte-prophylaxis")
    assert found is not None and found.actions
    assert not any(getattr(a, "recommended", False) for a in found.actions)
    assert found.rationale[1].startswith("**Bleeding**")

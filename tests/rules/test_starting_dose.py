"""The lenalidomide dose card: renal tiers, cytopenia at start, age (clinical rules section 3)."""

from __future__ import annotations

import pytest

from tests.rules.patient_builder import (
    TODAY,
    born_aged,
    condition,
    counts,
    lab,
    lenalidomide,
    patient,
    run,
    with_crcl,
)
from rules.dose_ladder import one_step_lower
from rules.model import DoseChange, PatientSnapshot, Recommendation, Regimen
from rules.starting_dose import lenalidomide_dose
from rules.model import Evaluation, Hook


def dose_card(snapshot: PatientSnapshot, hook: Hook = "order-sign") -> Recommendation | None:
    cards = lenalidomide_dose(snapshot, Evaluation(hook, TODAY), snapshot.drafts_of("lenalidomide"))
    return cards[0] if cards else None


def change(card: Recommendation) -> DoseChange:
    assert len(card.actions) == 1 and isinstance(card.actions[0], DoseChange)
    assert card.dose == card.actions[0]
    return card.actions[0]


def drafting(mg: float = 25.0, every_hours: float = 24.0, **fields: object) -> PatientSnapshot:
    return patient(medications=(lenalidomide(mg, every_hours),), **fields)


@pytest.mark.parametrize(
    ("clearance", "rule_id", "mg", "every_hours"),
    [
        (60.0, None, 25.0, 24.0),  # matches: no card
        (59.6, "R-RENAL-MODERATE", 10.0, 24.0),
        (30.0, "R-RENAL-MODERATE", 10.0, 24.0),
        (29.9, "R-RENAL-SEVERE", 15.0, 48.0),
    ],
)
def test_renal_tiers_on_a_25_mg_draft(clearance: float, rule_id: str | None, mg: float, every_hours: float) -> None:
    card = dose_card(with_crcl(drafting(), clearance))
    if rule_id is None:
        assert card is None
        return
    assert card is not None and rule_id in card.rule_ids and "R-CRCL-CG" in card.rule_ids
    # 25 mg a day is 2.5 times the moderate tier's 10 mg and 3.3 times the severe tier's 7.5 mg
    # a day: an overdose, critical at every order hook.
    assert card.severity == "critical"
    assert (change(card).regimen.dose, change(card).regimen.every_hours) == (mg, every_hours)
    assert change(card).order_id == "len-draft"


def test_summary_shows_clearance_to_one_decimal() -> None:
    card = dose_card(with_crcl(drafting(), 59.6))
    assert card is not None and "CrCl 59.6 mL/min" in card.summary  # not a rounded "60"


def test_dialysis_tier() -> None:
    card = dose_card(drafting(conditions=(condition("dialysis"),)))
    assert card is not None and card.rule_ids == ("R-RENAL-DIALYSIS",)
    assert (change(card).regimen.dose, change(card).regimen.every_hours) == (5.0, 24.0)


@pytest.mark.parametrize(("mg", "every_hours", "clearance"), [(10.0, 24.0, 45.0), (15.0, 48.0, 20.0)])
def test_matching_order_gets_no_card(mg: float, every_hours: float, clearance: float) -> None:
    assert dose_card(with_crcl(drafting(mg, every_hours), clearance)) is None


def test_measured_crcl_substitution_gives_a_dose() -> None:
    card = dose_card(drafting(creatinine=None, measured_crcl=lab(45.0, "mL/min")))
    assert card is not None and change(card).regimen.dose == 10.0


def test_egfr_substitution_gives_a_dose() -> None:
    card = dose_card(drafting(weight=None, egfr=lab(25.0, "mL/min/1.73m2")))
    assert card is not None and "eGFR 25.0" in card.summary
    assert change(card).regimen.every_hours == 48.0


@pytest.mark.parametrize(
    ("fields", "needed"),
    [
        ({"creatinine": None}, ("serum creatinine",)),
        ({"weight": None}, ("body weight",)),
        ({"creatinine": lab(1.0, "mg/dL", days=31)}, ("serum creatinine",)),
        ({"weight": lab(70.0, "kg", days=45)}, ("body weight",)),
        ({"creatinine": None, "weight": None}, ("serum creatinine", "body weight")),
        ({"birth_date": None}, ("date of birth",)),
    ],
)
def test_unknown_renal_function_gives_no_dose(fields: dict[str, object], needed: tuple[str, ...]) -> None:
    # The card asks only for what is actually missing (a missing weight is no reason to
    # order a creatinine).
    card = dose_card(drafting(**fields))
    assert card is not None
    assert card.rule_ids == ("R-DATA-RENAL",) and card.severity == "warning"
    assert card.actions == () and card.dose is None
    assert card.data_needed == needed
    assert (
        card.summary == f"Lenalidomide: renal function unknown — {' and '.join(needed)} needed before choosing the dose"
    )


def test_sex_across_a_tier_boundary_asks_for_sex_not_creatinine() -> None:
    # 68 y, 63 kg, creatinine 1.0 mg/dL: 63.0 mL/min for a man, 53.6 for a woman — across 60.
    card = dose_card(drafting(sex=None, weight=lab(63.0, "kg")))
    assert card is not None and card.rule_ids == ("R-DATA-RENAL",)
    assert card.data_needed == ("the patient's sex",) and "sex" in card.summary
    assert "creatinine" not in card.summary


@pytest.mark.parametrize(
    "fields",
    [counts(anc=None), counts(platelets=None), counts(days=15), counts(anc=1_200, anc_comparator="<")],
)
def test_missing_stale_or_ambiguous_counts_give_no_dose(fields: dict[str, object]) -> None:
    card = dose_card(drafting(**fields))
    assert card is not None and "R-CYTO-START" in card.rule_ids
    assert card.actions == ()
    assert card.data_needed == ("complete blood count with differential",)


@pytest.mark.parametrize(
    ("anc", "platelets", "marrow", "cytopenic"),
    [
        (999, 200_000, False, True),
        (1_000, 200_000, False, False),
        (3_000, 49_999, False, True),
        (3_000, 50_000, False, False),
        (3_000, 49_999, True, False),  # heavy marrow infiltration: the limit is 30,000
        (3_000, 30_000, True, False),
        (3_000, 29_999, True, True),
    ],
)
def test_cytopenia_at_start_thresholds(anc: float, platelets: float, marrow: bool, cytopenic: bool) -> None:
    conditions = (condition("heavy-marrow-infiltration"),) if marrow else ()
    card = dose_card(drafting(conditions=conditions, **counts(anc=anc, platelets=platelets)))
    if not cytopenic:
        assert card is None
        return
    assert card is not None and "R-CYTO-START" in card.rule_ids
    if platelets < 30_000:  # a critical contraindication: hold first, the lower dose second
        assert card.severity == "critical" and isinstance(card.actions[1], DoseChange)
        assert card.actions[1].regimen.dose == 15.0
        return
    assert change(card).regimen.dose == 15.0  # 25 → 15


def test_ambiguous_bound_that_decides_is_used() -> None:
    card = dose_card(drafting(**counts(anc=800, anc_comparator="<")))
    assert card is not None and change(card).regimen.dose == 15.0


@pytest.mark.parametrize(
    ("clearance", "expected"),
    [
        (70.0, Regimen(15.0, every_hours=24.0)),
        (45.0, Regimen(5.0, every_hours=24.0)),
        (20.0, Regimen(10.0, every_hours=48.0)),
    ],
)
def test_renal_and_cytopenia_combine(clearance: float, expected: Regimen) -> None:
    card = dose_card(with_crcl(drafting(**counts(anc=900)), clearance))
    assert card is not None
    regimen = change(card).regimen
    assert (regimen.dose, regimen.every_hours) == (expected.dose, expected.every_hours)


@pytest.mark.parametrize(
    ("mg", "every_hours", "lower"),
    [(25.0, 24.0, (15.0, 24.0)), (15.0, 48.0, (10.0, 48.0)), (10.0, 24.0, (5.0, 24.0)), (5.0, 24.0, None)],
)
def test_one_step_lower(mg: float, every_hours: float, lower: tuple[float, float] | None) -> None:
    stepped = one_step_lower(Regimen(mg, "mg", every_hours))
    assert (None if stepped is None else (stepped.dose, stepped.every_hours)) == lower


def test_no_step_below_5_mg_on_dialysis_with_cytopenia_caps_the_draft() -> None:
    card = dose_card(drafting(conditions=(condition("dialysis"),), **counts(anc=900)))
    assert card is not None and "no dose step below" in card.summary
    assert change(card).regimen.dose == 5.0  # the 25 mg draft is still brought down to 5 mg


def test_no_step_below_5_mg_with_a_matching_draft_proposes_nothing() -> None:
    card = dose_card(drafting(5.0, conditions=(condition("dialysis"),), **counts(anc=900)))
    assert card is not None and card.actions == ()


def test_cytopenic_matching_order_gets_a_monitoring_card_without_action() -> None:
    card = dose_card(drafting(15.0, **counts(anc=900)))
    assert card is not None and card.actions == () and "weekly" in card.summary


@pytest.mark.parametrize(("age", "mg"), [(80, 15.0), (80, 10.0), (50, 15.0)])
def test_no_reduction_for_age_alone(age: int, mg: float) -> None:
    # creatinine 0.7 mg/dL keeps an 80-year-old in the normal tier: (140 − 80) × 70 / (72 × 0.7) = 83.3
    card = dose_card(drafting(mg, birth_date=born_aged(age), creatinine=lab(0.7, "mg/dL")))
    assert card is not None
    assert "R-AGE-NOREDUCE" in card.rule_ids and card.severity == "info"
    assert change(card).regimen.dose == 25.0


def test_lower_dose_explained_by_earlier_treatment_gets_no_card() -> None:
    """A reduced dose during treatment is an earlier toxicity reduction, kept on purpose."""
    snapshot = patient(
        medications=(lenalidomide(15.0, id="old", status="completed", authored_days_ago=90), lenalidomide(15.0))
    )
    assert dose_card(snapshot) is None
    above_ceiling = with_crcl(snapshot, 45.0)  # moderate tier: 10 mg is the most
    card = dose_card(above_ceiling)
    assert card is not None and card.dose is not None and card.dose.regimen.dose == 10.0


def test_low_counts_at_a_new_cycle_do_not_step_the_dose_card() -> None:
    """R-CYTO-START is for the start; at a new cycle the neutropenia card delays first."""
    snapshot = patient(
        medications=(lenalidomide(25.0, id="old", status="completed", authored_days_ago=40), lenalidomide(25.0)),
        **counts(anc=800),
    )
    recommendations = run(snapshot)
    assert dose_card(snapshot) is None
    neutropenia = next(r for r in recommendations if r.concern == "neutropenia")
    assert neutropenia.rule_ids == ("R-NEUT-DELAY",)


def test_engine_runs_the_dose_card_on_order_hooks_only() -> None:
    snapshot = with_crcl(drafting(), 45.0)
    assert any(r.concern == "lenalidomide-dose" for r in run(snapshot, "order-select"))
    assert not any(r.concern == "lenalidomide-dose" for r in run(snapshot, "patient-view"))


@pytest.mark.parametrize(
    ("clearance", "mg", "every_hours", "signed_severity", "selected_severity"),
    [
        (29.9, 10.0, 24.0, "critical", "warning"),  # 10 mg a day: above 7.5, not twice it
        (29.9, 15.0, 24.0, "critical", "warning"),  # exactly twice: not an overdose at selection
        (29.9, 15.0, 48.0, None, None),  # the renal dose: no card
        (30.0, 15.0, 24.0, "warning", "warning"),  # moderate tier, 1.5 times 10 mg
    ],
)
def test_renal_overdose_at_signing_is_critical(
    clearance: float, mg: float, every_hours: float, signed_severity: str | None, selected_severity: str | None
) -> None:
    signed = dose_card(with_crcl(drafting(mg, every_hours), clearance))
    assert (signed.severity if signed else None) == signed_severity
    if signed is not None and signed_severity == "critical":
        assert signed.rationale[0].startswith("**Overdose for kidney function**")
    selected = dose_card(with_crcl(drafting(mg, every_hours), clearance), "order-select")
    assert (selected.severity if selected else None) == selected_severity


@pytest.mark.parametrize("hook", ["order-select", "order-sign"])
@pytest.mark.parametrize(
    ("clearance", "mg", "every_hours", "overdose"),
    [
        (90.0, 100.0, 12.0, True),  # 4 capsules of 25 mg twice daily: 200 mg a day
        (90.0, 30.0, 24.0, True),  # above 25 mg a day
        (90.0, 25.0, 24.0, False),  # the standard dose: no card at all
        (45.0, 25.0, 24.0, True),  # 2.5 times the 10 mg recommended
        (45.0, 20.0, 24.0, False),  # exactly twice: a warning
        (20.0, 25.0, 24.0, True),  # 3.3 times 15 mg every 48 hours
    ],
)
def test_overdose_is_critical_at_every_order_hook(
    clearance: float, mg: float, every_hours: float, overdose: bool, hook: Hook
) -> None:
    card = dose_card(with_crcl(drafting(mg, every_hours), clearance), hook)
    if card is None:
        assert not overdose
        return
    assert (card.severity == "critical") is overdose
    assert card.rationale[0].startswith("**Overdose**") is overdose
    assert len(card.actions) == 1  # with the fix
    if overdose:
        assert card.summary.startswith("Lenalidomide overdose,") and len(card.summary) < 140


def test_dialysis_overdose_at_signing_is_critical_and_the_fix_says_after_dialysis() -> None:
    card = dose_card(drafting(conditions=(condition("dialysis"),)))
    assert card is not None and card.severity == "critical" and "R-RENAL-DIALYSIS" in card.rule_ids
    assert change(card).regimen.dose == 5.0
    assert "on dialysis days give the dose after dialysis" in (change(card).regimen.text or "")


def test_continuing_patient_is_given_not_started() -> None:
    from tests.rules.patient_builder import new_cycle

    card = dose_card(with_crcl(new_cycle(current_mg=25.0), 45.0))
    assert card is not None and "— give 10 mg once daily" in card.summary and "start" not in card.summary
    new = dose_card(with_crcl(drafting(), 45.0))
    assert new is not None and "— start 10 mg once daily" in new.summary


def test_an_unreadable_dose_form_is_named_not_called_not_stated() -> None:
    from dataclasses import replace as _replace

    order = _replace(
        lenalidomide(), regimen=Regimen(dose=None, every_hours=24.0), dose_problem="dose form '{puff}' not understood"
    )
    card = dose_card(with_crcl(patient(medications=(order,)), 45.0))
    assert card is not None
    assert any("dose form '{puff}' not understood" in p for p in card.rationale)
    assert not any("dose not stated" in p for p in card.rationale)

"""Neutropenia and thrombocytopenia during treatment (clinical rules section 5)."""

from __future__ import annotations

import pytest

from tests.rules.patient_builder import (
    card,
    counts,
    lab,
    lenalidomide,
    medication,
    new_cycle,
    on_lenalidomide,
    patient,
    run,
    starting,
    with_crcl,
)
from rules.model import DoseChange, NewMedication, Recommendation


def neutropenia(recommendations: list[Recommendation]) -> Recommendation:
    found = card(recommendations, "neutropenia")
    assert found is not None
    return found


@pytest.mark.parametrize(
    ("anc", "rule_ids", "severity"),
    [
        (499, ("R-NEUT-SEVERE", "R-NEUT-DELAY"), "critical"),
        (500, ("R-NEUT-DELAY",), "warning"),
        (999, ("R-NEUT-DELAY",), "warning"),
        (1_000, None, None),
    ],
)
@pytest.mark.parametrize("hook", ["order-select", "order-sign"])
def test_anc_at_a_new_cycle(anc: float, rule_ids: tuple[str, ...] | None, severity: str | None, hook: str) -> None:
    found = card(run(new_cycle(**counts(anc=anc)), hook), "neutropenia")  # type: ignore[arg-type]
    if rule_ids is None:
        assert found is None
        return
    assert found is not None and found.rule_ids == rule_ids and found.severity == severity


def test_delay_card_says_one_week() -> None:
    found = neutropenia(run(new_cycle(**counts(anc=800))))
    assert found.summary == "ANC 800/µL at the start of a new cycle: delay lenalidomide 1 week"
    assert found.actions == ()
    assert any("delayed for 1 week" in p for p in found.rationale)  # the guideline's sentence


def test_severe_neutropenia_starts_filgrastim_from_the_weight() -> None:
    found = neutropenia(run(new_cycle(**counts(anc=400))))
    assert found.summary == "ANC 400/µL: do not start this cycle — interrupt lenalidomide and start G-CSF"
    on_treatment = neutropenia(run(on_lenalidomide(**counts(anc=400)), "patient-view"))
    assert on_treatment.summary.startswith("ANC 400/µL: interrupt lenalidomide and start G-CSF")
    assert on_treatment.rule_ids == ("R-NEUT-SEVERE",)
    (action,) = found.actions
    assert isinstance(action, NewMedication) and action.drug == "filgrastim" and action.recommended
    assert (action.regimen.dose, action.regimen.dose_unit, action.regimen.route) == (350.0, "ug", "subcutaneous")
    assert "5 µg/kg × 70 kg" in (action.regimen.text or "")


def test_filgrastim_without_a_current_weight_is_text_only() -> None:
    found = neutropenia(run(new_cycle(weight=lab(70.0, "kg", days=60), **counts(anc=400))))
    (action,) = found.actions
    assert isinstance(action, NewMedication) and action.regimen.dose is None and action.regimen.dose_unit is None
    assert "5 µg/kg" in (action.regimen.text or "")


def test_active_g_csf_is_not_suggested_again() -> None:
    found = neutropenia(run(new_cycle(medication("pegfilgrastim"), **counts(anc=400))))
    assert found.severity == "critical" and found.actions == ()


def lenalidomide_updates(recommendations: list[Recommendation]) -> list[DoseChange]:
    """Every one-click change of a lenalidomide draft, on any card."""
    return [a for r in recommendations for a in r.actions if isinstance(a, DoseChange) and a.drug == "lenalidomide"]


@pytest.mark.parametrize("hook", ["order-select", "order-sign"])
@pytest.mark.parametrize("previous_days", [8, 29])  # the latest count is 1 day old: gaps of 7 and 28 days
def test_anc_staying_low_at_a_new_cycle_delays_it_first(previous_days: int, hook: str) -> None:
    # Clinical rules section 5: the lower step is for when the cycle resumes at ANC >= 1,000/µL,
    # never a one-click change that starts the cycle now.
    recommendations = run(new_cycle(current_mg=15.0, **counts(anc=900, previous_anc=((800, previous_days),))), hook)  # type: ignore[arg-type]
    found = neutropenia(recommendations)
    assert found.rule_ids == ("R-NEUT-DELAY", "R-NEUT-RESUME") and found.severity == "warning"
    assert found.summary.startswith("ANC 900/µL, still < 1,000/µL: do not start this cycle — delay 1 week")
    assert "10 mg" in found.summary  # 15 → 10 named for the resumed cycle
    assert found.actions == () and found.dose is None
    assert lenalidomide_updates(recommendations) == []
    assert recommendations[0] is found  # the delay card comes first


def test_persisting_neutropenia_on_patient_view_names_the_step() -> None:
    snapshot = on_lenalidomide(**counts(anc=900, previous_anc=((800, 7),)))
    found = neutropenia(run(snapshot, "patient-view"))
    assert found.rule_ids == ("R-NEUT-RESUME",) and "reduce lenalidomide one dose step" in found.summary


def test_persisting_neutropenia_names_the_next_cycles_dose() -> None:
    recommendations = run(new_cycle(current_mg=25.0, **counts(anc=900, previous_anc=((800, 7),))))
    found = neutropenia(recommendations)
    assert "15 mg" in found.summary and found.actions == ()
    assert any("When ANC has recovered to ≥ 1,000/µL, resume one dose step lower" in p for p in found.rationale)
    assert card(recommendations, "lenalidomide-dose") is None


def test_dose_card_offers_no_change_while_the_cycle_is_delayed() -> None:
    # On 25 mg, now CrCl 45: the dose card names 10 mg for the resumed cycle, without a click
    # that would sign the cycle now.
    recommendations = run(with_crcl(new_cycle(current_mg=25.0, **counts(anc=900, previous_anc=((800, 7),))), 45.0))
    dose = card(recommendations, "lenalidomide-dose")
    assert dose is not None and dose.dose is not None and dose.dose.regimen.dose == 10.0
    assert dose.actions == () and any("No one-click change" in p for p in dose.rationale)
    assert lenalidomide_updates(recommendations) == []
    assert recommendations[0].concern == "neutropenia"


def test_a_single_low_anc_also_withholds_the_dose_cards_change() -> None:
    recommendations = run(with_crcl(new_cycle(current_mg=25.0, **counts(anc=900)), 45.0))
    assert neutropenia(recommendations).rule_ids == ("R-NEUT-DELAY",)
    assert lenalidomide_updates(recommendations) == []


def test_low_platelets_at_a_new_cycle_withhold_every_lenalidomide_change() -> None:
    recommendations = run(with_crcl(new_cycle(current_mg=25.0, **counts(platelets=20_000)), 45.0))
    assert recommendations[0].concern == "thrombocytopenia"
    assert lenalidomide_updates(recommendations) == []


def test_dose_card_still_offers_its_change_when_counts_allow_the_cycle() -> None:
    recommendations = run(with_crcl(new_cycle(current_mg=25.0), 45.0))
    assert [c.regimen.dose for c in lenalidomide_updates(recommendations)] == [10.0]


def test_step_down_needs_known_kidney_function() -> None:
    snapshot = new_cycle(current_mg=15.0, creatinine=None, **counts(anc=900, previous_anc=((800, 7),)))
    found = neutropenia(run(snapshot))
    assert found.actions == ()


def test_severe_and_persistent_gives_filgrastim_but_no_dose_change() -> None:
    snapshot = new_cycle(current_mg=15.0, **counts(anc=450, previous_anc=((800, 7),)))
    found = neutropenia(run(snapshot))
    assert found.rule_ids == ("R-NEUT-SEVERE", "R-NEUT-RESUME", "R-NEUT-DELAY") and found.severity == "critical"
    assert [type(a).__name__ for a in found.actions] == ["NewMedication"]
    assert found.selection == "any"


def test_no_step_below_5_mg() -> None:
    snapshot = with_crcl(new_cycle(current_mg=5.0, **counts(anc=900, previous_anc=((800, 7),))), 80.0)
    found = neutropenia(run(snapshot))
    assert found.actions == () and any("no dose step below" in p for p in found.rationale)


@pytest.mark.parametrize(
    ("fields", "resumes"),
    [
        (counts(anc=1_000, previous_anc=((800, 7),)), True),
        (counts(anc=1_500, previous_anc=((1_200, 7),)), False),
    ],
)
def test_recovered_anc_may_resume(fields: dict[str, object], resumes: bool) -> None:
    found = card(run(new_cycle(**fields)), "neutropenia")
    if not resumes:
        assert found is None
        return
    assert found is not None and found.rule_ids == ("R-NEUT-RESUME",) and found.severity == "info"
    assert "may resume" in found.summary


def test_on_hold_order_with_recovered_anc_may_resume() -> None:
    snapshot = patient(medications=(lenalidomide(id="len-held", status="on-hold", authored_days_ago=60),))
    found = card(run(snapshot, "patient-view"), "neutropenia")
    assert found is not None and found.rule_ids == ("R-NEUT-RESUME",)


def test_start_of_treatment_is_left_to_the_dose_card() -> None:
    assert card(run(starting(**counts(anc=400))), "neutropenia") is None


@pytest.mark.parametrize(("anc", "severity"), [(499, "critical"), (999, "warning"), (1_000, None)])
def test_patient_view_on_lenalidomide(anc: float, severity: str | None) -> None:
    found = card(run(on_lenalidomide(**counts(anc=anc)), "patient-view"), "neutropenia")
    assert (found.severity if found else None) == severity
    if found is not None and severity == "warning":
        assert "delay the next cycle" in found.summary


def test_patient_view_not_on_lenalidomide_says_nothing() -> None:
    snapshot = patient(
        medications=(lenalidomide(status="completed", id="old", authored_days_ago=400),),
        **counts(anc=300, platelets=10_000),
    )
    assert run(snapshot, "patient-view") == []


def test_stale_counts_on_a_new_cycle_ask_for_a_cbc_once() -> None:
    recommendations = run(new_cycle(**counts(anc=400, platelets=10_000, days=15)))
    found = neutropenia(recommendations)
    assert found.rule_ids == ("R-NEUT-DELAY", "R-PLT-LOW") and found.actions == ()
    assert found.data_needed == ("complete blood count with differential",)
    assert card(recommendations, "thrombocytopenia") is None


def test_stale_counts_on_patient_view_are_left_to_cbc_monitoring() -> None:
    recommendations = run(on_lenalidomide(**counts(anc=400, platelets=10_000, days=30)), "patient-view")
    assert card(recommendations, "neutropenia") is None and card(recommendations, "thrombocytopenia") is None
    assert card(recommendations, "cbc-monitoring") is not None


def test_ambiguous_anc_asks_for_an_exact_count() -> None:
    found = neutropenia(run(new_cycle(**counts(anc=1_500, anc_comparator="<"))))
    assert found.data_needed == ("an exact ANC",) and found.actions == ()


@pytest.mark.parametrize(
    ("platelets", "comparator", "critical"),
    [(29_999, None, True), (30_000, None, False), (20_000, "<", True), (100_000, None, False)],
)
@pytest.mark.parametrize("hook", ["order-sign", "patient-view"])
def test_low_platelets(platelets: float, comparator: str | None, critical: bool, hook: str) -> None:
    builder = new_cycle if hook == "order-sign" else on_lenalidomide
    found = card(
        run(builder(**counts(platelets=platelets, platelet_comparator=comparator)), hook),  # type: ignore[arg-type]
        "thrombocytopenia",
    )
    if not critical:
        assert found is None
        return
    assert found is not None and found.rule_ids == ("R-PLT-LOW",) and found.severity == "critical"
    assert found.actions == ()  # the clinician chooses among transfusion, modification, stopping


def test_ambiguous_platelet_bound_asks_for_an_exact_count() -> None:
    found = card(run(new_cycle(**counts(platelets=50_000, platelet_comparator="<"))), "thrombocytopenia")
    assert found is not None and found.data_needed == ("an exact platelet count",)


def test_missing_platelets_alone_on_a_new_cycle() -> None:
    found = card(run(new_cycle(**counts(platelets=None))), "thrombocytopenia")
    assert found is not None and found.rule_ids == ("R-PLT-LOW",) and found.data_needed == ("platelet count",)


def test_low_platelets_at_a_new_cycle_say_do_not_start_it() -> None:
    found = card(run(new_cycle(**counts(platelets=20_000))), "thrombocytopenia")
    assert found is not None and found.summary.startswith("Platelets 20,000/µL: do not start this cycle")
    assert len(found.summary) < 140 and "If it resumes at a lower dose" in found.rationale[1]

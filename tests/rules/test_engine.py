"""The engine: every catalogue rule has a family, families are isolated, cards are ordered."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from tests.rules.patient_builder import (
    born_aged,
    condition,
    counts,
    dexamethasone,
    lenalidomide,
    new_cycle,
    patient,
    run,
    starting,
)
from rules import engine
from rules.catalogue import RULES, RULES_BY_ID
from rules.engine import FAMILIES, RuleFamily, orders_under_review
from rules.model import Evaluation, OrdersUnderReview, PatientSnapshot, Recommendation


def test_every_catalogue_rule_is_produced_by_a_registered_family() -> None:
    declared = {rule_id for family in FAMILIES for rule_id in family.rule_ids}
    assert {rule.id for rule in RULES} <= declared


def test_families_declare_only_catalogue_rules_and_names_are_unique() -> None:
    for family in FAMILIES:
        assert set(family.rule_ids) <= set(RULES_BY_ID), family.name
    assert len({f.name for f in FAMILIES}) == len(FAMILIES)


def test_family_hooks_agree_with_the_catalogue() -> None:
    """A family runs on a hook only if its first rule (which names its could-not-evaluate
    card) is defined for that hook."""
    for family in FAMILIES:
        for hook in family.hooks:
            assert hook in RULES_BY_ID[family.rule_ids[0]].hooks, (family.name, hook)


def raising(snapshot: PatientSnapshot, evaluation: Evaluation, orders: OrdersUnderReview) -> Iterable[Recommendation]:
    raise ZeroDivisionError("a defect in one rule")


def lazily_raising(
    snapshot: PatientSnapshot, evaluation: Evaluation, orders: OrdersUnderReview
) -> Iterable[Recommendation]:
    yield from ()
    raise KeyError("a defect found while iterating")


@pytest.mark.parametrize("broken", [raising, lazily_raising])
@pytest.mark.parametrize("hook", ["order-select", "order-sign", "patient-view"])
def test_a_raising_family_does_not_hide_the_others(monkeypatch: pytest.MonkeyPatch, broken, hook: str) -> None:  # type: ignore[no-untyped-def]
    family = RuleFamily("thrombocytopenia", ("order-select", "order-sign", "patient-view"), ("R-PLT-LOW",), broken)
    monkeypatch.setattr(engine, "FAMILIES", (family,) + FAMILIES)
    snapshot = new_cycle(dexamethasone(), **counts(anc=400))
    recommendations = run(snapshot, hook)  # type: ignore[arg-type]
    failed = [r for r in recommendations if r.concern.startswith("could-not-evaluate")]
    assert [r.rule_ids for r in failed] == [("R-PLT-LOW",)]
    assert failed[0].severity == "warning" and "could not be evaluated" in failed[0].summary
    assert any(r.concern == "neutropenia" for r in recommendations)  # the others still answer


def test_cards_are_ordered_critical_first_and_one_per_concern() -> None:
    snapshot = starting(
        dexamethasone(id="dex-2"),
        sex="female",
        birth_date=born_aged(30),
        conditions=(condition("pregnancy"), condition("dvt", onset_days_ago=10)),
    )
    recommendations = run(snapshot)
    ranks = [{"critical": 0, "warning": 1, "info": 2}[r.severity] for r in recommendations]
    assert ranks == sorted(ranks)
    concerns = [r.concern for r in recommendations]
    assert len(concerns) == len(set(concerns))
    assert recommendations[0].severity == "critical"


def test_order_select_needs_a_selected_lenalidomide_or_dexamethasone() -> None:
    unselected = patient(medications=(lenalidomide(selected=False),))
    assert orders_under_review(unselected, "order-select") == OrdersUnderReview()
    assert run(unselected, "order-select") == []
    assert orders_under_review(unselected, "order-sign").lenalidomide != ()


def test_full_start_of_treatment_produces_the_expected_concerns() -> None:
    concerns = {r.concern for r in run(starting())}
    assert concerns == {
        "vte-prophylaxis",
        "infection-prophylaxis",
        "vaccination",
        "teratogenicity",
        "indication",
        "reimbursement",
    }


def test_pregnancy_withholds_the_supportive_orders_of_the_course() -> None:
    # A pregnant patient whose lenalidomide draft the critical card removes: no one-click
    # antibiotic or anticoagulant for that course.
    from dataclasses import replace as _replace

    from rules.model import NewMedication
    from tests.rules.patient_builder import condition as _condition
    from tests.rules.patient_builder import starting as _starting

    snapshot = _replace(_starting(), sex="female", conditions=(_condition("pregnancy"), _condition("immobilization")))
    recommendations = run(snapshot, "order-sign")
    assert any(r.concern == "teratogenicity" and r.severity == "critical" for r in recommendations)
    assert [a for r in recommendations for a in r.actions if isinstance(a, NewMedication)] == []


@pytest.mark.parametrize("warfarin", ["active", "suggested"])
def test_trimethoprim_sulfamethoxazole_is_not_preselected_beside_warfarin(warfarin: str) -> None:
    from dataclasses import replace as _replace

    from rules.model import NewMedication
    from tests.rules.patient_builder import condition as _condition
    from tests.rules.patient_builder import lab as _lab
    from tests.rules.patient_builder import medication as _medication
    from tests.rules.patient_builder import starting as _starting

    if warfarin == "active":
        snapshot = _starting(_medication("warfarin"))
    else:  # immobilised, CrCl about 23 mL/min: Table 3 gives warfarin; TMP-SMX at half dose
        snapshot = _replace(_starting(), conditions=(_condition("immobilization"),), creatinine=_lab(3.0, "mg/dL"))
    recommendations = run(snapshot, "order-select")
    [infection] = [r for r in recommendations if r.concern == "infection-prophylaxis"]
    offered = {a.drug: a.recommended for a in infection.actions if isinstance(a, NewMedication)}
    assert offered == {"trimethoprim-sulfamethoxazole": False, "levofloxacin": True}
    assert infection.rationale[1].startswith("**Warfarin**")
    if warfarin == "suggested":
        assert any(isinstance(a, NewMedication) and a.drug == "warfarin" for r in recommendations for a in r.actions)

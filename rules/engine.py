"""Evaluate every rule family for one hook call.

Each family is a function (snapshot, evaluation, orders) → recommendations, registered
with the hooks it serves and the rule ids it may produce. A family that raises does not
hide the others: it is replaced by a card that says it could not be evaluated (clinical
rules, safety principle 3).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from rules.alert_burden import fit_to_alert_burden
from rules.catalogue import RULES_BY_ID
from rules.dexamethasone import dexamethasone_schedule
from rules.hematologic_toxicity import delays_cycle, neutropenia, thrombocytopenia
from rules.indication import indication, korean_reimbursement
from rules.infection import infection_prophylaxis, vaccination
from rules.model import (
    SEVERITY_ORDER,
    Evaluation,
    DoseChange,
    Hook,
    NewMedication,
    OrdersUnderReview,
    PatientSnapshot,
    Recommendation,
)
from rules.monitoring import (
    blood_count_monitoring,
    liver_thyroid_monitoring,
    renal_improvement,
    second_primary_malignancy,
)
from rules.starting_dose import lenalidomide_dose
from rules.teratogenicity import teratogenicity
from rules.vte_prophylaxis import venous_thromboembolism

log = logging.getLogger(__name__)

FamilyFunction = Callable[[PatientSnapshot, Evaluation, OrdersUnderReview], Iterable[Recommendation]]

ORDER_HOOKS: tuple[Hook, ...] = ("order-select", "order-sign")
ALL_HOOKS: tuple[Hook, ...] = ("order-select", "order-sign", "patient-view")
VIEW_HOOK: tuple[Hook, ...] = ("patient-view",)


@dataclass(frozen=True)
class RuleFamily:
    name: str
    """In clinical words, for the 'could not evaluate' card."""
    hooks: tuple[Hook, ...]
    rule_ids: tuple[str, ...]
    evaluate: FamilyFunction
    needs_order: bool = True
    """Order hooks: run only when a lenalidomide or dexamethasone draft is under review."""


def _starting_dose(s: PatientSnapshot, e: Evaluation, o: OrdersUnderReview) -> list[Recommendation]:
    return lenalidomide_dose(s, e, o.lenalidomide)


FAMILIES: tuple[RuleFamily, ...] = (
    RuleFamily(
        "lenalidomide starting dose",
        ORDER_HOOKS,
        (
            "R-CRCL-CG",
            "R-DATA-RENAL",
            "R-RENAL-NORMAL",
            "R-RENAL-MODERATE",
            "R-RENAL-SEVERE",
            "R-RENAL-DIALYSIS",
            "R-CYTO-START",
            "R-AGE-NOREDUCE",
        ),
        _starting_dose,
    ),
    # During treatment: patient-view on lenalidomide; order hooks for a new cycle.
    RuleFamily("neutropenia", ALL_HOOKS, ("R-NEUT-DELAY", "R-NEUT-SEVERE", "R-NEUT-RESUME"), neutropenia),
    RuleFamily("thrombocytopenia", ALL_HOOKS, ("R-PLT-LOW",), thrombocytopenia),
    RuleFamily("dexamethasone schedule", ORDER_HOOKS, ("R-DEX-HIGH", "R-DEX-AGE"), dexamethasone_schedule),
    RuleFamily(
        "venous thromboembolism",
        ALL_HOOKS,
        ("R-VTE-HIGH", "R-VTE-STANDARD", "R-VTE-NONE", "R-VTE-IMPEDE", "R-VTE-ACTIVE"),
        venous_thromboembolism,
    ),
    RuleFamily("infection prophylaxis", ALL_HOOKS, ("R-INF-PROPH",), infection_prophylaxis),
    RuleFamily("vaccination", ORDER_HOOKS, ("R-INF-VACCINE",), vaccination),
    RuleFamily("teratogenicity", ALL_HOOKS, ("R-TERATO-F", "R-TERATO-M"), teratogenicity),
    RuleFamily("blood count monitoring", VIEW_HOOK, ("R-MON-CBC",), blood_count_monitoring),
    RuleFamily("liver and thyroid monitoring", VIEW_HOOK, ("R-MON-LFT-TFT",), liver_thyroid_monitoring),
    RuleFamily("renal improvement", VIEW_HOOK, ("R-RENAL-IMPROVED", "R-CRCL-CG"), renal_improvement),
    RuleFamily("second primary malignancy", VIEW_HOOK, ("R-SPM",), second_primary_malignancy),
    RuleFamily("indication", ORDER_HOOKS, ("R-IND-PRIOR",), indication),
    RuleFamily("Korean reimbursement", ORDER_HOOKS, ("R-REIMB-KR",), korean_reimbursement),
)


def orders_under_review(snapshot: PatientSnapshot, hook: Hook) -> OrdersUnderReview:
    """order-select looks at the drafts when one of the selected orders is lenalidomide or
    dexamethasone; order-sign at every draft; patient-view at none."""
    if hook == "patient-view":
        return OrdersUnderReview()
    lenalidomide = snapshot.drafts_of("lenalidomide")
    dexamethasone = snapshot.drafts_of("dexamethasone")
    if hook == "order-select" and not any(m.selected for m in lenalidomide + dexamethasone):
        return OrdersUnderReview()
    return OrdersUnderReview(lenalidomide, dexamethasone)


def _runs(family: RuleFamily, hook: Hook, orders: OrdersUnderReview) -> bool:
    """Whether a family speaks on this call: its hook, and on an order hook an order to review
    (unless the family says it needs none)."""
    return hook in family.hooks and (not family.needs_order or hook == "patient-view" or orders.any)


def has_anything_to_say(hook: Hook, orders: OrdersUnderReview) -> bool:
    """Whether any rule family would run on this call (the service answers no cards, and
    fetches nothing, when none would)."""
    return any(_runs(family, hook, orders) for family in FAMILIES)


def evaluate(snapshot: PatientSnapshot, evaluation: Evaluation) -> list[Recommendation]:
    """The recommendations that become this call's cards: every finding, fitted to what a
    clinician reads at this hook (rules/alert_burden.py), critical first, one per concern."""
    orders = orders_under_review(snapshot, evaluation.hook)
    fitted = fit_to_alert_burden(_all_findings(snapshot, evaluation, orders), snapshot, evaluation, orders)
    return _ordered(fitted)


def findings(snapshot: PatientSnapshot, evaluation: Evaluation) -> list[Recommendation]:
    """Every rule family's finding for this call, with the safety post-processing but before
    the alert-burden policy (what the rule tests read: a reminder the policy folds away at
    order-sign is still a finding of its rule)."""
    return _ordered(_all_findings(snapshot, evaluation, orders_under_review(snapshot, evaluation.hook)))


def _all_findings(snapshot: PatientSnapshot, evaluation: Evaluation, orders: OrdersUnderReview) -> list[Recommendation]:
    found: list[Recommendation] = []
    for family in FAMILIES:
        if not _runs(family, evaluation.hook, orders):
            continue
        try:
            found.extend(family.evaluate(snapshot, evaluation, orders))
        except Exception:  # one family's defect must not hide the other cards
            log.exception("rule family %r failed", family.name)
            found.append(_could_not_evaluate(family))
    found = [_inputs_once(r) for r in found]
    if evaluation.hook != "patient-view" and any(delays_cycle(r) for r in found):
        found = [_without_cycle_start(r) for r in found]
    if any(_pregnancy_contraindication(r) for r in found):
        found = [_without_supportive_orders(r) for r in found]
    if snapshot.orders_in_place("warfarin") or any(
        isinstance(a, NewMedication) and a.drug == "warfarin" for r in found for a in r.actions
    ):
        found = [_antibiotic_beside_warfarin(r) for r in found]
    return found


def _ordered(found: list[Recommendation]) -> list[Recommendation]:
    # A card that delays the cycle always comes first (clinical rules section 5), then by
    # severity; the sort is stable, so within a severity the families keep their order above.
    return _one_per_concern(sorted(found, key=_priority))


def _priority(recommendation: Recommendation) -> tuple[int, int]:
    return 0 if delays_cycle(recommendation) else 1, SEVERITY_ORDER[recommendation.severity]


def _without_cycle_start(recommendation: Recommendation) -> Recommendation:
    """Safety principle 1: while a blood-count card delays the cycle, no card offers a
    one-click change that would let the lenalidomide order start it now at another dose."""
    kept = tuple(a for a in recommendation.actions if not (isinstance(a, DoseChange) and a.drug == "lenalidomide"))
    if len(kept) == len(recommendation.actions):
        return recommendation
    return replace(
        recommendation,
        actions=kept,
        rationale=recommendation.rationale
        + (
            "No one-click change is offered now: the blood counts delay this cycle (see the "
            "neutropenia or thrombocytopenia card). Use this dose when the cycle resumes.",
        ),
    )


# Orders that exist only to support a lenalidomide/dexamethasone course (clinical rules
# sections 7 and 8): not offered while pregnancy contraindicates the course.
SUPPORTIVE_CONCERNS = ("infection-prophylaxis", "vte-prophylaxis", "vaccination")


def _pregnancy_contraindication(recommendation: Recommendation) -> bool:
    return recommendation.concern == "teratogenicity" and recommendation.severity == "critical"


def _without_supportive_orders(recommendation: Recommendation) -> Recommendation:
    """Safety principle 1: no one-click antibiotic or anticoagulant for a pregnant patient on
    behalf of a course that the critical card removes."""
    if recommendation.concern not in SUPPORTIVE_CONCERNS or not recommendation.actions:
        return recommendation
    return replace(
        recommendation,
        actions=(),
        rationale=recommendation.rationale
        + (
            "No order is offered: pregnancy contraindicates lenalidomide (see the pregnancy card), "
            "and this prophylaxis belongs to that course.",
        ),
    )


def _antibiotic_beside_warfarin(recommendation: Recommendation) -> Recommendation:
    """Trimethoprim-sulfamethoxazole raises the INR on warfarin (a major interaction): with
    warfarin active, drafted or suggested in this answer, it is offered but not pre-selected,
    and levofloxacin is the pre-selected choice (safety principle 1: one click must not make
    the interaction)."""
    if recommendation.concern != "infection-prophylaxis":
        return recommendation
    drugs = {a.drug for a in recommendation.actions if isinstance(a, NewMedication)}
    if "trimethoprim-sulfamethoxazole" not in drugs:
        return recommendation
    alternative = "levofloxacin" in drugs
    actions = tuple(
        replace(a, recommended=alternative and a.drug == "levofloxacin") if isinstance(a, NewMedication) else a
        for a in recommendation.actions
    )
    note = (
        "**Warfarin**: trimethoprim-sulfamethoxazole raises the INR markedly with warfarin, so it is "
        "not pre-selected" + ("; levofloxacin is (check the INR after starting it)." if alternative else ".")
    )
    return replace(
        recommendation, actions=actions, rationale=recommendation.rationale[:1] + (note,) + recommendation.rationale[1:]
    )


def _inputs_once(recommendation: Recommendation) -> Recommendation:
    """Each input listed once (families combine assessments that share inputs)."""
    unique = tuple(dict.fromkeys(recommendation.inputs))
    return recommendation if len(unique) == len(recommendation.inputs) else replace(recommendation, inputs=unique)


def _could_not_evaluate(family: RuleFamily) -> Recommendation:
    return Recommendation(
        rule_ids=family.rule_ids[:1],
        concern=f"could-not-evaluate:{family.name}",
        severity="warning",
        summary=f"The {family.name} check could not be evaluated — review it manually",
        rationale=(
            f"An internal error stopped the {family.name} check for this patient. The other "
            "checks ran normally. Review this aspect of the order against the guideline.",
        ),
        section=RULES_BY_ID[family.rule_ids[0]].section,
    )


def _one_per_concern(recommendations: list[Recommendation]) -> list[Recommendation]:
    seen: set[str] = set()
    kept = []
    for recommendation in recommendations:
        if recommendation.concern in seen:
            continue
        seen.add(recommendation.concern)
        kept.append(recommendation)
    return kept

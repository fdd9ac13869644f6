"""Evaluate every rule family for one hook call.

Each family is a function (snapshot, evaluation, orders) → recommendations, registered
with the hooks it serves and the rule ids it may produce. A family that raises does not
hide the others: it is replaced by a card that says it could not be evaluated (clinical
rules, safety principle 3).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from rules.catalogue import RULES_BY_ID
from rules.model import (
    SEVERITY_ORDER,
    Evaluation,
    Hook,
    OrdersUnderReview,
    PatientSnapshot,
    Recommendation,
)
from rules.starting_dose import lenalidomide_dose

log = logging.getLogger(__name__)

FamilyFunction = Callable[[PatientSnapshot, Evaluation, OrdersUnderReview], Iterable[Recommendation]]

ORDER_HOOKS: tuple[Hook, ...] = ("order-select", "order-sign")
ALL_HOOKS: tuple[Hook, ...] = ("order-select", "order-sign", "patient-view")


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
        "lenalidomide starting dose", ORDER_HOOKS,
        ("R-CRCL-CG", "R-DATA-RENAL", "R-RENAL-NORMAL", "R-RENAL-MODERATE", "R-RENAL-SEVERE",
         "R-RENAL-DIALYSIS", "R-CYTO-START", "R-AGE-NOREDUCE"),
        _starting_dose,
    ),
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


def evaluate(snapshot: PatientSnapshot, evaluation: Evaluation) -> list[Recommendation]:
    """All recommendations for this call, critical first, one per concern."""
    orders = orders_under_review(snapshot, evaluation.hook)
    found: list[Recommendation] = []
    for family in FAMILIES:
        if evaluation.hook not in family.hooks:
            continue
        if family.needs_order and evaluation.hook != "patient-view" and not orders.any:
            continue
        try:
            found.extend(family.evaluate(snapshot, evaluation, orders))
        except Exception:  # one family's defect must not hide the other cards
            log.exception("rule family %r failed", family.name)
            found.append(_could_not_evaluate(family))
    return _one_per_concern(sorted(found, key=lambda r: SEVERITY_ORDER[r.severity]))


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

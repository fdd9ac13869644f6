"""What a clinician sees per call (clinical rules, "Alert burden").

Decision support that speaks too often is switched off, so the engine's recommendations are
fitted to the hook before they become cards:

- order-select: routine reminders (influenza vaccination R-INF-VACCINE, male contraception
  R-TERATO-M, the information-level antibiotic prophylaxis of R-INF-PROPH) only when the
  order starts a treatment course (``starts_course``), and then as one "starting
  lenalidomide" card; "no prophylaxis needed" (R-VTE-NONE) is a line of that card, never a
  card of its own; the indication (R-IND-PRIOR) and reimbursement (R-REIMB-KR) findings about
  the same missing prior therapy are one card.
- order-sign: only what is still wrong on the final orders: warning and critical cards.
- a critical contraindication (pregnancy; ANC < 500/µL; platelets < 30,000/µL) suppresses the
  routine card; every critical card, and every card that delays the cycle, offers to hold or
  remove the lenalidomide draft.
- patient-view: R-SPM keeps its own window (rules/monitoring.py).

Warning and critical cards are never dropped or merged here: only information-level ones.
"""

from __future__ import annotations

from dataclasses import replace

from rules.hematologic_toxicity import delays_cycle
from rules.model import (
    Evaluation,
    HoldDraft,
    InputUsed,
    OrdersUnderReview,
    PatientSnapshot,
    Recommendation,
    RemoveDraft,
)
from rules.treatment_course import starts_course

# Information-level reminders that belong to the start of a course, not to every cycle.
# R-VTE-IMPEDE is the score that comes with every VTE card (here: with R-VTE-NONE's).
ROUTINE_RULES = frozenset({"R-INF-VACCINE", "R-TERATO-M", "R-VTE-NONE", "R-VTE-IMPEDE", "R-INF-PROPH"})
# The short words of the routine card's summary, in the order they are listed.
_ROUTINE_LABELS = {
    "R-INF-PROPH": "antibiotic prophylaxis for cycles 1–3",
    "R-INF-VACCINE": "influenza vaccination",
    "R-TERATO-M": "contraception precautions",
}


def fit_to_alert_burden(
    found: list[Recommendation], snapshot: PatientSnapshot, evaluation: Evaluation, orders: OrdersUnderReview
) -> list[Recommendation]:
    if evaluation.hook == "patient-view":
        return found
    found = [_with_hold_or_removal(r, orders) for r in found]
    if evaluation.hook == "order-sign":
        return [r for r in found if r.severity != "info"]
    found = _indication_as_one(found)
    routine = [r for r in found if _is_routine(r)]
    others = [r for r in found if not _is_routine(r)]
    if not routine or any(critical_contraindication(r) for r in others):
        return others
    if not starts_course(snapshot, evaluation.today):
        return others
    if all(_no_vte_prophylaxis(r) for r in routine):
        return others  # a line of another card, or nothing: here there is no other card
    return [*others, _starting_lenalidomide(routine)]


def critical_contraindication(recommendation: Recommendation) -> bool:
    """Pregnancy, ANC < 500/µL or platelets < 30,000/µL on this call: critical cards of
    R-TERATO-F, R-NEUT-SEVERE and R-PLT-LOW (a new cycle), R-CYTO-START (a first one)."""
    return recommendation.severity == "critical" and bool(
        {"R-TERATO-F", "R-NEUT-SEVERE", "R-PLT-LOW", "R-CYTO-START"} & set(recommendation.rule_ids)
    )


def _no_vte_prophylaxis(recommendation: Recommendation) -> bool:
    return "R-VTE-NONE" in recommendation.rule_ids


def _is_routine(recommendation: Recommendation) -> bool:
    return recommendation.severity == "info" and set(recommendation.rule_ids) <= ROUTINE_RULES


def _with_hold_or_removal(recommendation: Recommendation, orders: OrdersUnderReview) -> Recommendation:
    """A card that delays the cycle, and every critical card, lets the clinician hold (or,
    for an overdose, remove) the lenalidomide draft in one click, beside its other
    suggestions; a card that already removes the draft (pregnancy) keeps what it has."""
    delaying = delays_cycle(recommendation)
    critical = recommendation.severity == "critical"
    if not orders.lenalidomide or any(isinstance(a, (HoldDraft, RemoveDraft)) for a in recommendation.actions):
        return recommendation
    if critical and recommendation.concern == "lenalidomide-dose":
        # The dose card's own update is the fix; removing the order is the other way out.
        removals = tuple(
            RemoveDraft(order.id, "lenalidomide", "Remove this lenalidomide order",
                        "Remove the draft lenalidomide order instead of changing its dose.", recommended=False)
            for order in orders.lenalidomide
        )
        return replace(recommendation, actions=recommendation.actions + removals)
    # Active VTE that needs a specialist's decision on anticoagulation (R-VTE-ACTIVE).
    if not (delaying or critical_contraindication(recommendation)
            or (critical and recommendation.concern == "vte-treatment")):
        return recommendation
    reason = ("the blood counts delay this cycle; release it when they recover" if delaying
              else "until the problem on this card is resolved")
    holds = tuple(
        HoldDraft(
            order.id, "lenalidomide",
            "Hold this lenalidomide order" + (" (the cycle is delayed)" if delaying else ""),
            f"Put the draft lenalidomide order on hold: {reason}.",
            note=f"On hold: {recommendation.summary}",
        )
        for order in orders.lenalidomide
    )
    # Holding the order goes with the card's other orders (G-CSF, say), not instead of them.
    return replace(recommendation, actions=holds + recommendation.actions, selection="any")


def _indication_as_one(found: list[Recommendation]) -> list[Recommendation]:
    """R-IND-PRIOR and R-REIMB-KR both fire when no prior therapy is on record: one card."""
    indication = next((r for r in found if r.concern == "indication"), None)
    reimbursement = next((r for r in found if r.concern == "reimbursement"), None)
    if indication is None or reimbursement is None or indication.severity != reimbursement.severity:
        return found
    merged = replace(
        indication,
        rule_ids=indication.rule_ids + reimbursement.rule_ids,
        summary=f"{indication.summary} — and not reimbursed in Korea on this record",
        rationale=indication.rationale + reimbursement.rationale,
        inputs=_unique(indication.inputs + reimbursement.inputs),
    )
    return [merged if r is indication else r for r in found if r is not reimbursement]


def _starting_lenalidomide(routine: list[Recommendation]) -> Recommendation:
    """The routine reminders of a new course as one card: what to do first (one line each,
    with its numbers), then the details of the one with orders to offer."""
    items = [r for r in routine if not _no_vte_prophylaxis(r)]
    no_vte = [r for r in routine if _no_vte_prophylaxis(r)]
    labels = [_ROUTINE_LABELS.get(r.rule_ids[0], r.summary) for r in items]
    lines = [f"- {r.summary}" for r in items] + [f"- {r.summary}" for r in no_vte]
    details = [paragraph for r in items for paragraph in (r.rationale if r.actions else r.rationale[:1])]
    with_orders = next((r for r in items if r.actions), None)
    sections = list(dict.fromkeys(r.section for r in routine))
    return Recommendation(
        rule_ids=tuple(dict.fromkeys(rule_id for r in routine for rule_id in r.rule_ids)),
        concern="course-start",
        severity="info",
        summary="Starting lenalidomide: " + ", ".join(labels),
        rationale=("**For the start of this course:**\n\n" + "\n".join(lines), *details),
        section="; ".join(sections),
        inputs=_unique(tuple(i for r in routine for i in r.inputs)),
        actions=with_orders.actions if with_orders else (),
        selection=with_orders.selection if with_orders else "at-most-one",
        data_needed=tuple(dict.fromkeys(d for r in routine for d in r.data_needed)),
    )


def _unique(inputs: tuple[InputUsed, ...]) -> tuple[InputUsed, ...]:
    return tuple(dict.fromkeys(inputs))

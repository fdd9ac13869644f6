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

from collections.abc import Sequence
from dataclasses import replace

from rules.hematologic_toxicity import delays_cycle
from rules.model import (
    Evaluation,
    HoldDraft,
    InputUsed,
    MedicationOrder,
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
        return [_with_hold_of_the_active_order(r, snapshot) for r in found]
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
    renal_unknown = any("R-DATA-RENAL" in r.rule_ids for r in others)
    return [*others, _starting_lenalidomide(routine, renal_unknown)]


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
    """One click to keep the lenalidomide draft from starting, beside the card's other
    suggestions, where the card says it must not start as written:

    - a card that delays the cycle, or a critical contraindication: hold (recommended);
    - a dose card with no dose because kidney function is unknown or in doubt: hold until the
      data are there (recommended);
    - an overdose: the dose card's update is the fix; removing the order is the other way out
      (not recommended);
    - active VTE that needs a specialist's decision on anticoagulation (R-VTE-ACTIVE): hold,
      not recommended — lenalidomide is often interrupted until anticoagulation is settled,
      but that is the specialist's call.

    A card that already removes the draft (pregnancy) keeps what it has."""
    if not orders.lenalidomide or any(isinstance(a, (HoldDraft, RemoveDraft)) for a in recommendation.actions):
        return recommendation
    critical = recommendation.severity == "critical"
    if critical and recommendation.concern == "lenalidomide-dose" and not recommendation.data_needed:
        removals = tuple(
            RemoveDraft(
                order.id,
                "lenalidomide",
                "Remove this lenalidomide order",
                "Remove the draft lenalidomide order instead of changing its dose.",
                recommended=False,
            )
            for order in orders.lenalidomide
        )
        return replace(recommendation, actions=recommendation.actions + removals)
    if delays_cycle(recommendation):
        label, reason, recommended = (
            "Hold this lenalidomide order (the cycle is delayed)",
            "the blood counts delay this cycle; release it when they recover",
            True,
        )
    elif critical_contraindication(recommendation):
        label, reason, recommended = (
            "Hold this lenalidomide order",
            "until the problem on this card is resolved",
            True,
        )
    elif recommendation.concern == "lenalidomide-dose" and recommendation.data_needed:
        label, reason, recommended = (
            "Hold this lenalidomide order until the kidney function is known",
            f"no dose can be chosen before {', '.join(recommendation.data_needed)}",
            True,
        )
    elif critical and recommendation.concern == "vte-treatment":
        label, reason, recommended = (
            "Hold this lenalidomide order until anticoagulation is settled",
            "if the specialist decides to interrupt lenalidomide meanwhile",
            False,
        )
    else:
        return recommendation
    return _holding(
        recommendation, orders.lenalidomide, label, f"Put the draft lenalidomide order on hold: {reason}.", recommended
    )


def _with_hold_of_the_active_order(recommendation: Recommendation, snapshot: PatientSnapshot) -> Recommendation:
    """At patient-view a critical count (ANC < 500/µL, platelets < 30,000/µL) says to interrupt
    lenalidomide now, mid-cycle: one click puts the active order on hold (recommended)."""
    if not critical_contraindication(recommendation):
        return recommendation
    return _holding(
        recommendation,
        snapshot.active_orders_of("lenalidomide"),
        "Hold the active lenalidomide order (interrupt now)",
        "Put the active lenalidomide order on hold: interrupt lenalidomide until the counts recover.",
        recommended=True,
    )


def _holding(
    recommendation: Recommendation, held: Sequence[MedicationOrder], label: str, description: str, recommended: bool
) -> Recommendation:
    """The card with a hold of each of ``held`` in front of its other suggestions. Holding the
    order goes with the card's other orders (G-CSF, say), not instead of them: with more than
    one suggestion the clinician may take any of them."""
    holds = tuple(
        HoldDraft(
            order.id,
            "lenalidomide",
            label,
            description,
            note=f"On hold: {recommendation.summary}",
            recommended=recommended,
        )
        for order in held
    )
    if not holds:
        return recommendation
    actions = holds + recommendation.actions
    return replace(recommendation, actions=actions, selection="any" if len(actions) > 1 else recommendation.selection)


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


# While kidney function is unknown, "no VTE risk factor" cannot be said: CrCl < 60 mL/min is
# one (R-VTE-STANDARD).
_VTE_RISK_NEEDS_KIDNEY_FUNCTION = (
    "VTE risk: renal disease cannot be assessed until kidney function is known "
    "(see the dose card); no other VTE risk factor on record"
)


def _starting_lenalidomide(routine: list[Recommendation], renal_unknown: bool = False) -> Recommendation:
    """The routine reminders of a new course as one card: what to do first (one line each,
    with its numbers), then the details of the one with orders to offer."""
    items = [r for r in routine if not _no_vte_prophylaxis(r)]
    no_vte = [r for r in routine if _no_vte_prophylaxis(r)]
    labels = [_ROUTINE_LABELS.get(r.rule_ids[0], r.summary) for r in items]
    lines = [f"- {r.summary}" for r in items] + [
        f"- {_VTE_RISK_NEEDS_KIDNEY_FUNCTION if renal_unknown else r.summary}" for r in no_vte
    ]
    # Each reminder is its line above; below come only the dosing details of the one with
    # orders. The guideline's words stay with the rules (GET /rules), not on this card.
    details = [
        paragraph for r in items if r.actions for paragraph in r.rationale if not paragraph.startswith("Guideline")
    ]
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

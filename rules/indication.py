"""Indication and Korean reimbursement of lenalidomide/dexamethasone (guideline: Indication
and timing).

"Based on the approved indication, lenalidomide (in combination with dexamethasone) is
recommended for the treatment of MM in patients who have received at least 1 prior therapy.
However, the expert panel highlights that lenalidomide is currently reimbursed in Korea only
for patients after bortezomib treatment failure."

Both rules look at the start of treatment: a lenalidomide draft for a patient with no earlier
lenalidomide order. A continuing course was judged when it started, and repeating the card at
every cycle would be noise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from rules.catalogue import rule
from rules.model import Evaluation, InputUsed, OrdersUnderReview, PatientSnapshot, Recommendation
from rules.treatment_course import treated_before

SECTION = rule("R-IND-PRIOR").section  # "Indication and timing"

# R-IND-PRIOR (clinical rules section 10): prior myeloma therapy = a past or current order of
# one of these, or an autologous stem-cell transplantation. Dexamethasone alone does not count.
PRIOR_MYELOMA_DRUGS = (
    "bortezomib",
    "thalidomide",
    "melphalan",
    "cyclophosphamide",
    "carfilzomib",
    "ixazomib",
    "daratumumab",
    "isatuximab",
    "elotuzumab",
    "pomalidomide",
    "panobinostat",
    "doxorubicin",
    "vincristine",
    "bendamustine",
    "selinexor",
)
TRANSPLANT_PROCEDURE = "asct"
# R-REIMB-KR: newly diagnosed MM in a patient not eligible for transplantation, recorded as a
# condition of this category (the mappers' name for it).
TRANSPLANT_INELIGIBLE = "transplant-ineligible"


def prior_myeloma_therapy(snapshot: PatientSnapshot) -> tuple[InputUsed, ...]:
    found = [
        InputUsed("prior therapy", m.display or m.drug, m.authored)
        for m in snapshot.orders_of(*PRIOR_MYELOMA_DRUGS)
        if m.ever_given
    ]
    found += [
        InputUsed("prior therapy", p.display or "autologous stem-cell transplantation", p.performed)
        for p in snapshot.procedures
        if p.category == TRANSPLANT_PROCEDURE
    ]
    return tuple(found)


def _after_bortezomib(snapshot: PatientSnapshot) -> bool:
    return any(m.ever_given for m in snapshot.orders_of("bortezomib"))


def _after_prior_therapy_or_transplant_ineligible(snapshot: PatientSnapshot) -> bool:
    return bool(prior_myeloma_therapy(snapshot)) or snapshot.has_condition(TRANSPLANT_INELIGIBLE, active_only=False)


@dataclass(frozen=True)
class ReimbursementCriterion:
    start: date
    end: date | None
    """Last day in force (inclusive); None while in force."""
    criterion: str
    missing: str
    """What the record lacks when the criterion is not met, for the card."""
    summary: str
    """The card's summary when the criterion is not met (≤ 140 characters)."""
    met: Callable[[PatientSnapshot], bool]

    def in_force(self, today: date) -> bool:
        return self.start <= today and (self.end is None or today <= self.end)

    @property
    def period(self) -> str:
        return f"{self.start.isoformat()} to {self.end.isoformat()}" if self.end else f"since {self.start.isoformat()}"


# R-REIMB-KR (clinical rules section 10): the Korean reimbursement policy, dated. The guideline
# states the first row (the rule in force when it was written; its conclusion: reimbursed
# "since March 2013"); it changed on 2017-12-01.
KR_REIMBURSEMENT: tuple[ReimbursementCriterion, ...] = (
    ReimbursementCriterion(
        date(2013, 3, 1),
        date(2017, 11, 30),
        "RRMM after bortezomib failure (or intolerance of existing therapy)",
        "no bortezomib treatment on record",
        "Korean reimbursement (2013-03-01 to 2017-11-30) requires prior bortezomib failure: no bortezomib on record",
        _after_bortezomib,
    ),
    ReimbursementCriterion(
        date(2017, 12, 1),
        None,
        "RRMM after ≥ 1 prior therapy, or transplant-ineligible newly diagnosed MM",
        "no prior myeloma therapy or transplant ineligibility on record",
        "Korean reimbursement (since 2017-12-01) requires ≥ 1 prior therapy or transplant-"
        "ineligible new MM: neither on record",
        _after_prior_therapy_or_transplant_ineligible,
    ),
)


def criterion_in_force(today: date) -> ReimbursementCriterion | None:
    return next((c for c in KR_REIMBURSEMENT if c.in_force(today)), None)


def _starting_lenalidomide(snapshot: PatientSnapshot, orders: OrdersUnderReview) -> bool:
    return bool(orders.lenalidomide) and not treated_before(snapshot)


def indication(snapshot: PatientSnapshot, evaluation: Evaluation, orders: OrdersUnderReview) -> list[Recommendation]:
    """R-IND-PRIOR: no prior myeloma therapy on record."""
    if not _starting_lenalidomide(snapshot, orders) or prior_myeloma_therapy(snapshot):
        return []
    return [
        Recommendation(
            rule_ids=("R-IND-PRIOR",),
            concern="indication",
            severity="info",
            summary="Lenalidomide/dexamethasone is indicated after ≥ 1 prior therapy: none on record",
            rationale=(
                "No prior myeloma therapy is on record (bortezomib, thalidomide, melphalan, "
                "cyclophosphamide, carfilzomib, ixazomib, daratumumab, isatuximab, elotuzumab, "
                "pomalidomide, panobinostat, doxorubicin, vincristine, bendamustine, selinexor, or "
                "autologous stem-cell transplantation). Dexamethasone alone does not count.",
                'Guideline (*Indication and timing*): "Based on the approved indication, lenalidomide '
                "(in combination with dexamethasone) is recommended for the treatment of MM in "
                'patients who have received at least 1 prior therapy."',
            ),
            section=SECTION,
        )
    ]


def korean_reimbursement(
    snapshot: PatientSnapshot, evaluation: Evaluation, orders: OrdersUnderReview
) -> list[Recommendation]:
    """R-REIMB-KR: the criterion in force on the evaluation date is not met."""
    if evaluation.region != "KR" or not _starting_lenalidomide(snapshot, orders):
        return []
    criterion = criterion_in_force(evaluation.today)
    if criterion is None or criterion.met(snapshot):
        return []
    return [
        Recommendation(
            rule_ids=("R-REIMB-KR",),
            concern="reimbursement",
            severity="info",
            summary=criterion.summary,
            rationale=(
                f"Reimbursement criterion in force on {evaluation.today.isoformat()} "
                f"({criterion.period}): **{criterion.criterion}**. The record shows "
                f"{criterion.missing}, so this order may not be reimbursed.",
                'Guideline (*Indication and timing*): "the expert panel highlights that lenalidomide '
                "is currently reimbursed in Korea only for patients after bortezomib treatment "
                'failure." (The rule in force when the guideline was written; it was widened on '
                "2017-12-01.)",
            ),
            section=SECTION,
            inputs=prior_myeloma_therapy(snapshot),
        )
    ]

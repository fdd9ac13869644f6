"""Where the patient stands in lenalidomide treatment: on it, starting it, in its first cycles.

Several rules depend on it: toxicity rules apply "during treatment" (an active lenalidomide
order) or "at the start of a new cycle" (a new draft for a patient already treated); infection
prophylaxis and fortnightly blood counts apply during the first cycles. The course is dated
from the earliest lenalidomide order on record (clinical rules, R-INF-PROPH: "the earliest
lenalidomide order authored < 84 days before today").
"""

from __future__ import annotations

from datetime import date

from rules.dose_ladder import LENALIDOMIDE_CYCLE_LENGTH
from rules.model import MedicationOrder, OrdersUnderReview, PatientSnapshot

# Alert burden: an order starts a treatment course when there was no lenalidomide in the last
# 60 days; the course's routine reminders (R-INF-VACCINE, R-TERATO-M) are shown then only.
COURSE_GAP_DAYS = 60


def on_lenalidomide(snapshot: PatientSnapshot) -> bool:
    """An active (or on-hold) lenalidomide order: the patient is under treatment."""
    return bool(snapshot.active_orders_of("lenalidomide"))


def treated_before(snapshot: PatientSnapshot) -> bool:
    """An active, completed or stopped lenalidomide order: a new draft is a new cycle, not
    the start of treatment."""
    return any(m.ever_given for m in snapshot.orders_of("lenalidomide"))


def under_treatment(snapshot: PatientSnapshot, orders: OrdersUnderReview) -> bool:
    """On lenalidomide now, or a lenalidomide order being written."""
    return on_lenalidomide(snapshot) or bool(orders.lenalidomide)


def treatment_start(snapshot: PatientSnapshot) -> date | None:
    """The date of the earliest dated lenalidomide order given (None if none is dated)."""
    dates = [m.authored for m in snapshot.orders_of("lenalidomide") if m.ever_given and m.authored]
    return min(dates) if dates else None


def in_first_cycles(snapshot: PatientSnapshot, today: date, cycles: int) -> bool:
    """True during the first ``cycles`` 28-day cycles of lenalidomide.

    No earlier order: the draft under review starts cycle 1. Earlier orders none of which is
    dated: the cycle count is unknown, and the patient is taken to be in the first cycles,
    the side that asks for more monitoring and prophylaxis, not less.
    """
    if not treated_before(snapshot):
        return True
    start = treatment_start(snapshot)
    if start is None:
        return True
    return (today - start).days < cycles * LENALIDOMIDE_CYCLE_LENGTH


def current_lenalidomide(snapshot: PatientSnapshot) -> MedicationOrder | None:
    """The order the patient takes now (active, most recently authored), else the latest one
    given: the dose a toxicity reduction steps down from."""
    for candidates in (
        snapshot.active_orders_of("lenalidomide"),
        tuple(m for m in snapshot.orders_of("lenalidomide") if m.ever_given),
    ):
        with_dose = [m for m in candidates if m.regimen is not None and m.regimen.dose is not None]
        if with_dose:
            return max(with_dose, key=lambda m: m.authored or date.min)
    return None


def _given_dates(snapshot: PatientSnapshot) -> list[date] | None:
    """Dates of the lenalidomide orders given, newest first; None when one given is undated
    (then the course cannot be dated)."""
    given = [m for m in snapshot.orders_of("lenalidomide") if m.ever_given]
    if any(m.authored is None for m in given):
        return None
    return sorted((m.authored for m in given if m.authored is not None), reverse=True)


def starts_course(snapshot: PatientSnapshot, today: date) -> bool:
    """The lenalidomide order under review starts a course: none active, and none given in
    the last COURSE_GAP_DAYS days. An undated earlier order counts as recent: the patient has
    been treated and its date cannot show a gap."""
    if on_lenalidomide(snapshot):
        return False
    dates = _given_dates(snapshot)
    if dates is None:
        return False
    return not any((today - when).days <= COURSE_GAP_DAYS for when in dates)


def course_start(snapshot: PatientSnapshot) -> date | None:
    """The first order of the current course: going back from the newest order given, the
    earliest one with no gap of more than COURSE_GAP_DAYS to the next. None when no order
    is given or one is undated."""
    dates = _given_dates(snapshot)
    if not dates:
        return None
    start = dates[0]
    for earlier in dates[1:]:
        if (start - earlier).days > COURSE_GAP_DAYS:
            break
        start = earlier
    return start

"""Monitoring during lenalidomide treatment (patient-view, patient on lenalidomide).

Four concerns: 'cbc-monitoring' (R-MON-CBC), 'lft-tft-monitoring' (R-MON-LFT-TFT),
'renal-improved' (R-RENAL-IMPROVED) and 'spm' (R-SPM).
"""

from __future__ import annotations

from datetime import date

from rules.catalogue import rule
from rules.dose_ladder import STANDARD_DOSE_MG, daily_mg, describe, same_dose_and_frequency
from rules.model import (
    Evaluation,
    InputUsed,
    Measurement,
    OrdersUnderReview,
    PatientSnapshot,
    Recommendation,
)
from rules.renal import RENAL_TIERS, RenalFunction, RenalTier, assess_renal_function, tier_for_clearance
from rules.treatment_course import course_start, in_first_cycles, on_lenalidomide

# R-MON-CBC (guideline: Dose and schedule): "Patients with normal renal function and complete
# blood counts (CBCs) at baseline may be monitored every 2 weeks for the first 2–3 cycles ...
# For patients who have experienced no complications after 2–3 cycles, monitoring every 4
# weeks should be sufficient." The first 3 cycles, to be safe.
FORTNIGHTLY_CBC_CYCLES = 3
CBC_EVERY_DAYS_FIRST_CYCLES = 14
CBC_EVERY_DAYS_LATER = 28
# R-SPM (Alert burden): the reminder in the first 30 days of a course and in the 30 days after
# each anniversary of its start.
SPM_REMINDER_DAYS = 30
# R-MON-LFT-TFT (guideline: Other adverse events): "Routine liver and thyroid function
# monitoring is recommended during lenalidomide therapy." Clinical rules: within 3 months,
# taken as 92 days (the longest three consecutive calendar months).
LFT_TFT_WITHIN_DAYS = 92


def blood_count_monitoring(
    snapshot: PatientSnapshot, evaluation: Evaluation, orders: OrdersUnderReview
) -> list[Recommendation]:
    """R-MON-CBC: the last complete blood count is older than its interval."""
    if evaluation.hook != "patient-view" or not on_lenalidomide(snapshot):
        return []
    early = in_first_cycles(snapshot, evaluation.today, FORTNIGHTLY_CBC_CYCLES)
    every = CBC_EVERY_DAYS_FIRST_CYCLES if early else CBC_EVERY_DAYS_LATER
    phase = f"{'in' if early else 'after'} the first {FORTNIGHTLY_CBC_CYCLES} cycles"
    counts = (("ANC", snapshot.anc), ("platelets", snapshot.platelets))
    never = [name for name, count in counts if count is None]
    dates = [count.when for _, count in counts if count is not None]
    last = min(dates) if dates else None
    if not never and last is not None and (evaluation.today - last).days <= every:
        return []
    if never:
        finding = f"No {' or '.join(never)} on record."
        summary = f"On lenalidomide: CBC needed — no {' or '.join(never)} on record (due every {every} days {phase})"
    else:
        assert last is not None
        age = (evaluation.today - last).days
        finding = f"Last complete blood count {last.isoformat()}, {age} days ago."
        summary = f"On lenalidomide: CBC overdue — last {last.isoformat()} ({age} days); due every {every} days {phase}"
    return [
        Recommendation(
            rule_ids=("R-MON-CBC",),
            concern="cbc-monitoring",
            severity="warning",
            summary=summary,
            rationale=(
                finding + f" A CBC is due every {every} days {phase}; more often with cytopenia or renal impairment.",
                'Guideline (*Dose and schedule*): "Patients with normal renal function and complete '
                "blood counts (CBCs) at baseline may be monitored every 2 weeks for the first 2–3 "
                "cycles of lenalidomide/dexamethasone. Patients with neutropenia, thrombocytopenia, "
                "or renal impairment may require more intensive monitoring. For patients who have "
                "experienced no complications after 2–3 cycles, monitoring every 4 weeks should be "
                'sufficient."',
            ),
            section=rule("R-MON-CBC").section,
            inputs=tuple(_dated(name, count) for name, count in counts if count is not None),
            data_needed=("complete blood count with differential",),
        )
    ]


def liver_thyroid_monitoring(
    snapshot: PatientSnapshot, evaluation: Evaluation, orders: OrdersUnderReview
) -> list[Recommendation]:
    """R-MON-LFT-TFT: no ALT or AST, or no TSH, within 92 days."""
    if evaluation.hook != "patient-view" or not on_lenalidomide(snapshot):
        return []
    liver = [m for m in (snapshot.alt, snapshot.ast) if _within(m, evaluation.today)]
    thyroid = _within(snapshot.tsh, evaluation.today)
    missing = ([] if liver else ["liver function (ALT/AST)"]) + ([] if thyroid else ["thyroid function (TSH)"])
    if not missing:
        return []
    return [
        Recommendation(
            rule_ids=("R-MON-LFT-TFT",),
            concern="lft-tft-monitoring",
            severity="info",
            summary=f"On lenalidomide: no {' or '.join(missing)} test in the last 3 months",
            rationale=(
                f"No result within {LFT_TFT_WITHIN_DAYS} days for: {', '.join(missing)}. Cases of "
                "lenalidomide-associated hepatotoxicity and thyroid dysfunction have been reported.",
                'Guideline (*Other adverse events*): "Routine liver and thyroid function monitoring '
                'is recommended during lenalidomide therapy."',
            ),
            section=rule("R-MON-LFT-TFT").section,
            inputs=tuple(
                _dated(name, m)
                for name, m in (("ALT", snapshot.alt), ("AST", snapshot.ast), ("TSH", snapshot.tsh))
                if m is not None
            ),
            data_needed=tuple(missing),
        )
    ]


def renal_improvement(
    snapshot: PatientSnapshot, evaluation: Evaluation, orders: OrdersUnderReview
) -> list[Recommendation]:
    """R-RENAL-IMPROVED: on a renally reduced dose, and kidney function now allows more.

    "Renally reduced" (clinical rules section 9) needs two facts: the current dose is the
    dose of a lower renal tier (10 mg daily, 15 mg every 48 hours, 5 mg daily), and an earlier
    creatinine put the patient in that tier. A dose that merely sits below 25 mg — a reduction
    for cytopenia or another toxicity, with kidney function unchanged — gets no card: the
    toxicity that caused it still applies.
    """
    if evaluation.hook != "patient-view":
        return []
    current = [
        m for m in snapshot.active_orders_of("lenalidomide") if m.regimen is not None and m.regimen.dose is not None
    ]
    if not current:
        return []
    order = max(current, key=lambda m: m.authored or date.min)
    assert order.regimen is not None and order.regimen.dose is not None
    if order.regimen.dose >= STANDARD_DOSE_MG:
        return []
    renal = assess_renal_function(snapshot, evaluation)
    if not isinstance(renal, RenalFunction) or renal.clearance_ml_min is None:
        return []  # unknown kidney function, or dialysis: no clearance that could have improved
    allowed, taken = daily_mg(renal.tier.regimen), daily_mg(order.regimen)
    if allowed is None or taken is None or allowed <= taken:
        return []
    reduced_for = next(
        (t for t in RENAL_TIERS if t is not renal.tier and same_dose_and_frequency(order.regimen, t.regimen)), None
    )
    if reduced_for is None:
        return []  # not a renal-tier dose: a toxicity reduction
    earlier = _earlier_clearance_in(snapshot, renal, reduced_for, order.authored)
    if earlier is None:
        return []  # no earlier creatinine shows the lower clearance the dose was chosen for
    earlier_creatinine, earlier_clearance = earlier
    measure = "eGFR" if renal.method == "egfr" else "CrCl"
    tier_regimen = renal.tier.regimen
    tier_dose = f"{tier_regimen.dose:g} mg" + (" every 48 hours" if tier_regimen.every_hours == 48.0 else "")
    return [
        Recommendation(
            # The tier rules themselves are order-hook rules (catalogue); R-CRCL-CG says how the
            # clearance was found.
            rule_ids=("R-RENAL-IMPROVED", "R-CRCL-CG"),
            concern="renal-improved",
            severity="info",
            summary=f"{measure} {renal.clearance_ml_min:.1f} mL/min now allows lenalidomide {tier_dose}: the "
            f"current {describe(order.regimen).split(',')[0]} can be increased with caution",
            rationale=(
                f"The current dose is the {reduced_for.name} dose, chosen when creatinine was "
                f"{earlier_creatinine.shown(2)} on {earlier_creatinine.when.isoformat()} (CrCl about "
                f"{earlier_clearance:.1f} mL/min); kidney function has improved since.",
                renal.explanation,
                f"Current order: lenalidomide {describe(order.regimen)}. The renal tier now is "
                f"{renal.tier.name} — {renal.tier.advice}.",
                'Guideline (*Renal insufficiency*): "In patients demonstrating improved renal '
                'function, lenalidomide dosing can be increased with caution."',
            ),
            section=rule("R-RENAL-IMPROVED").section,
            inputs=renal.inputs
            + (
                InputUsed(
                    "earlier serum creatinine",
                    earlier_creatinine.shown(2),
                    earlier_creatinine.when,
                    earlier_creatinine.original,
                ),
                InputUsed("lenalidomide (active)", describe(order.regimen), order.authored),
            ),
        )
    ]


def _earlier_clearance_in(
    snapshot: PatientSnapshot, renal: RenalFunction, tier: RenalTier, authored: date | None
) -> tuple[Measurement, float] | None:
    """An earlier creatinine (on or before the order was written, when that is known) whose
    clearance lay in ``tier``. Cockcroft-Gault is inversely proportional to creatinine for the
    same patient, so the earlier clearance is today's scaled by the creatinine ratio (the age
    difference of a few months is negligible here)."""
    latest = snapshot.creatinine
    if renal.method != "cockcroft-gault" or latest is None or latest.value <= 0 or renal.clearance_ml_min is None:
        return None
    for earlier in snapshot.creatinine_history:
        if earlier.when >= latest.when or earlier.value <= 0 or earlier.comparator is not None:
            continue
        if authored is not None and earlier.when > authored:
            continue
        clearance = renal.clearance_ml_min * latest.value / earlier.value
        if tier_for_clearance(clearance) is tier:
            return earlier, clearance
    return None


def second_primary_malignancy(
    snapshot: PatientSnapshot, evaluation: Evaluation, orders: OrdersUnderReview
) -> list[Recommendation]:
    """R-SPM: a low-priority reminder at patient-view of a patient on lenalidomide, in the
    first SPM_REMINDER_DAYS of the course and of each year of it (Alert burden), not at every
    opening of the chart. A course that cannot be dated gets the reminder."""
    if evaluation.hook != "patient-view" or not on_lenalidomide(snapshot):
        return []
    start = course_start(snapshot)
    if start is not None and not _in_spm_window(start, evaluation.today):
        return []
    return [
        Recommendation(
            rule_ids=("R-SPM",),
            concern="spm",
            severity="info",
            summary="On lenalidomide: follow up for second primary malignancies (MDS, AML, B-cell malignancies, solid tumours)",
            rationale=(
                "Second primary malignancies after lenalidomide are uncommon (about 2 per 100 "
                "patient-years in pooled RRMM studies) but warrant follow-up.",
                'Guideline (*Secondary primary malignancies*): "Appropriate caution should be '
                "exercised to ensure that patients treated with lenalidomide are followed up closely "
                'with regard to monitoring/assessment of SPM."',
            ),
            section=rule("R-SPM").section,
        )
    ]


def _in_spm_window(start: date, today: date) -> bool:
    """Within SPM_REMINDER_DAYS of the course start or of its latest anniversary."""
    years = max(0, today.year - start.year)
    while years > 0 and _anniversary(start, years) > today:
        years -= 1
    return (today - _anniversary(start, years)).days < SPM_REMINDER_DAYS


def _anniversary(start: date, years: int) -> date:
    try:
        return start.replace(year=start.year + years)
    except ValueError:  # 29 February in a year that has none
        return date(start.year + years, 2, 28)


def _within(measurement: Measurement | None, today: date) -> bool:
    return measurement is not None and (today - measurement.when).days <= LFT_TFT_WITHIN_DAYS


def _dated(name: str, measurement: Measurement) -> InputUsed:
    return InputUsed(
        name, measurement.shown(0 if name in ("ANC", "platelets") else 1), measurement.when, measurement.original
    )

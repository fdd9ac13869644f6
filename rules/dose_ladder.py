"""Lenalidomide doses and the one-step-lower ladder.

Guideline, Dose and schedule: "the standard recommended dosing schedule for oral lenalidomide
is 25 mg/day on days 1–21 of each 28-day cycle". Guideline, Cytopenia: "the lenalidomide dose
should be adjusted by 1 dose step in each cycle (e.g., from 25 mg/day to 15 mg/day per cycle)".
Clinical rules section 4: 25 → 15 → 10 → 5 mg; renal-tier doses sit on the same ladder and
keep their frequency; below 5 mg there is no further step.
"""

from __future__ import annotations

from rules.model import DoseChange, MedicationOrder, Regimen, compact_days

LENALIDOMIDE_CYCLE_DAYS: tuple[int, ...] = tuple(range(1, 22))  # days 1-21
LENALIDOMIDE_CYCLE_LENGTH = 28
ONCE_DAILY_HOURS = 24.0
EVERY_OTHER_DAY_HOURS = 48.0

# Section 4 (Dose ladder): the levels, highest first.
LENALIDOMIDE_LADDER_MG: tuple[float, ...] = (25.0, 15.0, 10.0, 5.0)
STANDARD_DOSE_MG = LENALIDOMIDE_LADDER_MG[0]


def lenalidomide_regimen(mg: float, every_hours: float = ONCE_DAILY_HOURS) -> Regimen:
    """A lenalidomide regimen on the standard d1-21/28 cycle."""
    return Regimen(
        dose=mg,
        dose_unit="mg",
        every_hours=every_hours,
        cycle_days=LENALIDOMIDE_CYCLE_DAYS,
        cycle_length_days=LENALIDOMIDE_CYCLE_LENGTH,
        route="oral",
    )


def one_step_lower(regimen: Regimen) -> Regimen | None:
    """The next lower ladder level with the same frequency, or None below the last level.

    A dose between levels steps down to the next level below it.
    """
    if regimen.dose is None:
        return None
    lower = [mg for mg in LENALIDOMIDE_LADDER_MG if mg < regimen.dose]
    if not lower:
        return None
    return lenalidomide_regimen(lower[0], regimen.every_hours or ONCE_DAILY_HOURS)


def daily_mg(regimen: Regimen | None) -> float | None:
    """Mean mg per dosing day (15 mg every 48 hours → 7.5), to compare regimens of different
    frequency on the same d1-21/28 cycle."""
    if regimen is None or regimen.dose is None or not regimen.every_hours or regimen.every_hours <= 0:
        return None
    return regimen.dose * 24.0 / regimen.every_hours


def frequency_words(every_hours: float | None) -> str:
    if every_hours is None or every_hours <= 0:  # 0 would divide by zero below
        return "(frequency not stated)"
    if every_hours == ONCE_DAILY_HOURS:
        return "once daily"
    if every_hours == EVERY_OTHER_DAY_HOURS:
        return "every 48 hours"
    if every_hours == 168:
        return "once weekly"
    if every_hours < 24 and 24 % every_hours == 0:
        return f"{int(24 // every_hours)} times daily"
    return f"every {every_hours:g} hours"


def describe(regimen: Regimen) -> str:
    """'10 mg once daily, days 1-21 of 28' — as cards and order text show it."""
    dose = f"{regimen.dose:g} {regimen.dose_unit or 'mg'}" if regimen.dose is not None else "dose not stated"
    text = f"{dose} {frequency_words(regimen.every_hours)}"
    if regimen.cycle_days and regimen.cycle_length_days:
        text += f", days {compact_days(regimen.cycle_days)} of {regimen.cycle_length_days}"
    return text


def as_ordered(order: MedicationOrder) -> str:
    """The order's dose as cards show it; when it could not be read, why (e.g. "dose form
    '{puff}' not understood") rather than a bare "dose not stated"."""
    if order.regimen is not None and order.regimen.dose is not None:
        return describe(order.regimen)
    if order.dose_problem:
        return f"dose not read ({order.dose_problem})"
    return describe(order.regimen) if order.regimen is not None else "dose not stated"


def same_dose_and_frequency(ordered: Regimen | None, recommended: Regimen) -> bool:
    """The order matches when dose and interval agree (cycle days are checked only when the
    order states them: an order silent on them takes the standard cycle)."""
    if ordered is None or ordered.dose is None or ordered.every_hours is None:
        return False
    if abs(ordered.dose - (recommended.dose or 0)) > 1e-9:
        return False
    if abs(ordered.every_hours - (recommended.every_hours or 0)) > 1e-9:
        return False
    if ordered.cycle_days and recommended.cycle_days:
        return ordered.cycle_days == recommended.cycle_days and (
            ordered.cycle_length_days in (None, recommended.cycle_length_days)
        )
    return True


def dose_change(
    order: MedicationOrder,
    target: Regimen,
    *,
    verb: str = "Change to",
    label_note: str = "",
    description_note: str = "",
) -> DoseChange:
    """The update of a draft order to ``target``, with the suggestion's label (the button
    the clinician presses) and the action's description ('Lenalidomide 25 mg … → 10 mg …')."""
    ordered = as_ordered(order)
    return DoseChange(
        order_id=order.id,
        drug=order.drug,
        regimen=target,
        label=f"{verb} {order.drug} {describe(target)}{label_note}",
        description=f"{order.drug.capitalize()} {ordered} → {describe(target)}{description_note}",
    )

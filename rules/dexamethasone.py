"""The dexamethasone schedule of a draft order (guideline: Dexamethasone: dose and schedule).

"In combination with lenalidomide, a low-dose dexamethasone schedule is recommended due to
improved tolerability compared with standard high-dose dexamethasone." One card per draft
(concern 'dexamethasone'): R-DEX-HIGH for a high-dose schedule with no indication on record,
else R-DEX-AGE for more than the age band allows. A schedule within its band gets no card.
"""

from __future__ import annotations

from dataclasses import dataclass

from rules.catalogue import rule
from rules.dose_ladder import LENALIDOMIDE_CYCLE_LENGTH, describe, dose_change
from rules.model import (
    Evaluation,
    InputUsed,
    MedicationOrder,
    OrdersUnderReview,
    PatientSnapshot,
    Recommendation,
    Regimen,
    Severity,
)
from rules.treatment_course import in_first_cycles

SECTION = rule("R-DEX-AGE").section  # "Dexamethasone: dose and schedule"

ONCE_WEEKLY_HOURS = 168.0
WEEKLY_DAYS: tuple[int, ...] = (1, 8, 15, 22)

# Low-dose default (guideline: Dexamethasone: dose and schedule): "a low-dose dexamethasone
# schedule (160 mg per cycle): oral dexamethasone 40 mg/day on days 1, 8, 15, and 22 of each
# 28-day cycle" — "the most preferred schedule" of the Korean panel's survey.
LOW_DOSE_WEEKLY_MG = 40.0
# R-DEX-AGE (international consensus cited by the guideline): "age >75 years: 20 mg/day weekly".
ELDERLY_ABOVE_AGE = 75
ELDERLY_WEEKLY_MG = 20.0
# R-DEX-AGE: "age <65 years: 40 mg/day on days 1–4 and 15–18 of each 28-day cycle for the
# first 4 cycles, then 40 mg/day weekly"; "age 65-75 years: 40 mg/day weekly".
YOUNGER_BELOW_AGE = 65
YOUNGER_FIRST_CYCLES_DAYS: tuple[int, ...] = (1, 2, 3, 4, 15, 16, 17, 18)
FIRST_CYCLES = 4
# R-DEX-HIGH: high-dose = "40 mg/day on days 1–4, 9–12, and 17–20 of each 28-day cycle for the
# first 4 cycles" = 480 mg per cycle (Table 3 footnote: "Dexamethasone 480 mg/month"). A
# schedule of 480 mg or more per 28-day cycle is high-dose; it also puts the patient in the
# LMWH tier of VTE prophylaxis (vte_prophylaxis.py imports this constant).
HIGH_DOSE_MG_PER_CYCLE = 480.0
# R-DEX-HIGH: "High-dose dexamethasone may be considered in certain cases, such as for patients
# with spinal cord compression, hypercalcemia, pain, or renal failure" (and aggressive disease,
# guideline: Dose and schedule).
HIGH_DOSE_INDICATIONS = (
    "spinal-cord-compression",
    "hypercalcemia",
    "bone-pain",
    "renal-failure",
    "aggressive-disease",
)

QUOTE_LOW_DOSE = (
    'Guideline (*Dexamethasone: dose and schedule*): "In combination with lenalidomide, a '
    "low-dose dexamethasone schedule is recommended due to improved tolerability compared "
    'with standard high-dose dexamethasone." "High-dose dexamethasone may be considered in '
    "certain cases, such as for patients with spinal cord compression, hypercalcemia, pain, "
    'or renal failure."'
)
QUOTE_AGE = (
    'Guideline (*Dexamethasone: dose and schedule*), international consensus: "age <65 '
    "years: 40 mg/day on days 1–4 and 15–18 of each 28-day cycle for the first 4 cycles, then "
    "40 mg/day weekly (days 1, 8, 15, 22 of each 28-day cycle); age 65-75 years: 40 mg/day "
    'weekly; age >75 years: 20 mg/day weekly."'
)


def dexamethasone_regimen(mg: float, days: tuple[int, ...] = WEEKLY_DAYS) -> Regimen:
    weekly = days == WEEKLY_DAYS
    day_words = ", ".join(str(d) for d in days[:-1]) + f" and {days[-1]}"
    return Regimen(
        dose=mg,
        dose_unit="mg",
        every_hours=ONCE_WEEKLY_HOURS if weekly else 24.0,
        cycle_days=days,
        cycle_length_days=LENALIDOMIDE_CYCLE_LENGTH,
        route="oral",
        text=f"Dexamethasone {mg:g} mg orally {'once weekly' if weekly else 'once daily'} on days "
        f"{day_words} of each 28-day cycle",
    )


@dataclass(frozen=True)
class AgeBand:
    label: str
    from_age: int
    """Youngest age (whole years) of the band."""
    weekly: Regimen
    first_cycles: Regimen | None = None
    """The consensus's more intensive alternative during the first 4 cycles, if any."""


# R-DEX-AGE, the consensus's bands, oldest first.
AGE_BANDS: tuple[AgeBand, ...] = (
    AgeBand("over 75 years", ELDERLY_ABOVE_AGE + 1, dexamethasone_regimen(ELDERLY_WEEKLY_MG)),
    AgeBand("65–75 years", YOUNGER_BELOW_AGE, dexamethasone_regimen(LOW_DOSE_WEEKLY_MG)),
    AgeBand(
        "under 65 years",
        0,
        dexamethasone_regimen(LOW_DOSE_WEEKLY_MG),
        dexamethasone_regimen(LOW_DOSE_WEEKLY_MG, YOUNGER_FIRST_CYCLES_DAYS),
    ),
)


@dataclass(frozen=True)
class ReductionLevel:
    level: int
    regimen: Regimen
    words: str


# Dose-reduction levels on toxicity (guideline: Dexamethasone: dose and schedule, MM-009 and
# MM-010): "40 mg/day for 4 days every 2 weeks (dose level, -1), 40 mg/day for 4 days every 4
# weeks (dose level, -2), or 20 mg/day for 4 days every 4 weeks (dose level, -3)".
REDUCTION_LEVELS: tuple[ReductionLevel, ...] = (
    ReductionLevel(-1, dexamethasone_regimen(40.0, (1, 2, 3, 4, 15, 16, 17, 18)), "40 mg/day for 4 days every 2 weeks"),
    ReductionLevel(-2, dexamethasone_regimen(40.0, (1, 2, 3, 4)), "40 mg/day for 4 days every 4 weeks"),
    ReductionLevel(-3, dexamethasone_regimen(20.0, (1, 2, 3, 4)), "20 mg/day for 4 days every 4 weeks"),
)
REDUCTION_TEXT = (
    "On toxicity, the guideline's reduction levels are "
    + "; ".join(f"{'−'}{-r.level}: {r.words}" for r in REDUCTION_LEVELS)
    + "."
)


def age_band(age: int) -> AgeBand:
    for band in AGE_BANDS:
        if age >= band.from_age:
            return band
    return AGE_BANDS[-1]


def dexamethasone_schedule(
    snapshot: PatientSnapshot, evaluation: Evaluation, orders: OrdersUnderReview
) -> list[Recommendation]:
    """R-DEX-HIGH and R-DEX-AGE for each dexamethasone draft under review."""
    found = (_schedule_for_order(snapshot, evaluation, order) for order in orders.dexamethasone)
    return [r for r in found if r is not None]


def _schedule_for_order(
    snapshot: PatientSnapshot, evaluation: Evaluation, order: MedicationOrder
) -> Recommendation | None:
    ordered = order.regimen
    mg = ordered.mg_per_cycle() if ordered is not None else None
    if ordered is None or mg is None or mg <= 0:
        return None  # a schedule that cannot be read is not judged
    age = snapshot.age_on(evaluation.today)
    band = age_band(age) if age is not None and age >= 0 else None
    ordered_text = f"{describe(ordered)} ({mg:g} mg per 28-day cycle)"
    inputs = [InputUsed("dexamethasone ordered", ordered_text)]
    if age is not None:
        inputs.append(InputUsed("age", f"{age} years"))

    if mg >= HIGH_DOSE_MG_PER_CYCLE:
        indications = [c for c in snapshot.conditions_in(*HIGH_DOSE_INDICATIONS) if c.active]
        if indications:
            return None  # high-dose is the guideline's option for these patients
        rule_ids = ["R-DEX-HIGH"]
        rationale = [
            f"Ordered: dexamethasone {ordered_text} — **high-dose** (≥ {HIGH_DOSE_MG_PER_CYCLE:g} mg per cycle), and no "
            "spinal cord compression, hypercalcemia, bone pain, renal failure or aggressive "
            "disease is on record.",
            "High-dose dexamethasone also places the patient in the LMWH tier of VTE prophylaxis (Table 3).",
        ]
        summary_finding = f"Dexamethasone {mg:g} mg/cycle is high-dose with no indication on record"
        severity: Severity = "warning"
    elif band is None:
        return None  # the age band cannot be known
    else:
        allowed = band.weekly.mg_per_cycle() or 0.0
        alternative = band.first_cycles
        if alternative is not None and in_first_cycles(snapshot, evaluation.today, FIRST_CYCLES):
            allowed = max(allowed, alternative.mg_per_cycle() or 0.0)
        if mg <= allowed:
            return None
        rule_ids = []
        rationale = [
            f"Ordered: dexamethasone {ordered_text}; for a patient aged {age} the "
            f"consensus schedule allows {allowed:g} mg per cycle."
        ]
        summary_finding = f"Age {age}: dexamethasone {mg:g} mg/cycle is above the age-adjusted dose"
        severity = "warning" if band is AGE_BANDS[0] else "info"

    if band is None:
        return Recommendation(
            rule_ids=tuple(rule_ids),
            concern="dexamethasone",
            severity=severity,
            summary=f"{summary_finding}: use low-dose (date of birth needed to choose the dose)",
            rationale=tuple(rationale)
            + (
                f"The low-dose schedule depends on age ({ELDERLY_WEEKLY_MG:g} mg weekly over "
                f"{ELDERLY_ABOVE_AGE} years, else {LOW_DOSE_WEEKLY_MG:g} mg weekly); the date of birth is "
                "not recorded, so **no dose is suggested**.",
                QUOTE_LOW_DOSE,
                REDUCTION_TEXT,
            ),
            section=SECTION,
            inputs=tuple(inputs),
            data_needed=("date of birth",),
        )
    target = band.weekly
    if band is AGE_BANDS[0] or "R-DEX-HIGH" not in rule_ids:
        rule_ids.append("R-DEX-AGE")
    rationale.append(
        f"Recommended for age {band.label}: **{describe(target)}** ({target.mg_per_cycle():g} mg per cycle)."
    )
    change = dose_change(order, target)
    return Recommendation(
        rule_ids=tuple(rule_ids),
        concern="dexamethasone",
        severity=severity,
        summary=f"{summary_finding}: use {target.dose:g} mg once weekly",
        rationale=tuple(rationale) + (QUOTE_LOW_DOSE if "R-DEX-HIGH" in rule_ids else QUOTE_AGE, REDUCTION_TEXT),
        section=SECTION,
        inputs=tuple(inputs),
        actions=(change,),
        selection="at-most-one",
        dose=change,
    )

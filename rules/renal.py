"""Kidney function and the renal starting-dose tiers (guideline: Renal insufficiency).

"Lenalidomide undergoes minimal metabolism in humans and is eliminated predominantly via
urinary excretion in an unchanged form. Consequently, lenalidomide dosing must be adjusted
based on creatinine clearance (assessed using the Cockcroft-Gault or MDRD equations)."
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from datetime import date
from typing import Literal

from rules.dose_ladder import EVERY_OTHER_DAY_HOURS, ONCE_DAILY_HOURS, lenalidomide_regimen
from rules.freshness import is_fresh, staleness_note
from rules.model import ClinicalProcedure, Evaluation, InputUsed, Measurement, PatientSnapshot, Regimen
from rules.plausibility import in_the_future, untrusted_in

SECTION = "Renal insufficiency"

# R-CRCL-CG: CrCl = (140 − age) × weight_kg / (72 × Scr_mg/dL), × 0.85 if female.
CG_AGE_FROM = 140.0
CG_DIVISOR = 72.0
CG_FEMALE_FACTOR = 0.85


@dataclass(frozen=True)
class RenalTier:
    rule_id: str
    name: str
    lower_ml_min: float
    """The tier holds clearances >= this bound (and below the next tier's bound)."""
    regimen: Regimen
    advice: str


# Clinical rules section 3, renal tiers (guideline Fig. 1 with the prescribing-information doses).
# Tiers compare the unrounded clearance: 59.6 is moderate, 60.0 is normal.
RENAL_TIERS: tuple[RenalTier, ...] = (
    RenalTier(
        "R-RENAL-NORMAL",
        "normal renal function or mild impairment (CrCl ≥ 60 mL/min)",
        60.0,
        lenalidomide_regimen(25.0, ONCE_DAILY_HOURS),
        "standard dose 25 mg once daily on days 1–21 of each 28-day cycle",
    ),
    RenalTier(
        "R-RENAL-MODERATE",
        "moderate renal impairment (CrCl 30 to < 60 mL/min)",
        30.0,
        lenalidomide_regimen(10.0, ONCE_DAILY_HOURS),
        "10 mg once daily on days 1–21 of each 28-day cycle; may increase to 15 mg after "
        "2 cycles if tolerated and not responding",
    ),
    RenalTier(
        "R-RENAL-SEVERE",
        "severe renal impairment (CrCl < 30 mL/min), not on dialysis",
        0.0,
        lenalidomide_regimen(15.0, EVERY_OTHER_DAY_HOURS),
        "15 mg every 48 hours on days 1–21 of each 28-day cycle",
    ),
)
DIALYSIS_TIER = RenalTier(
    "R-RENAL-DIALYSIS",
    "end-stage renal disease on dialysis",
    0.0,
    lenalidomide_regimen(5.0, ONCE_DAILY_HOURS),
    "5 mg once daily on days 1–21 of each 28-day cycle; on dialysis days give the dose after dialysis",
)

# The two tiers below 30 mL/min: warfarin instead of LMWH (Table 3), once-daily enoxaparin, and
# a dose above them at order-sign is a 3- to 5-fold lenalidomide overdose.
BELOW_30_TIER_IDS = (RENAL_TIERS[-1].rule_id, DIALYSIS_TIER.rule_id)

DIALYSIS_CATEGORIES = ("dialysis", "esrd")
# R-RENAL-DIALYSIS, clinical rules section 1: dialysis from current evidence only — an active
# dialysis or ESRD Condition, or a dialysis Procedure in the last 30 days. An older dialysis
# Procedure (e.g. for acute kidney injury) is history, not a tier.
DIALYSIS_PROCEDURE_WITHIN_DAYS = 30


def tier_for_clearance(clearance_ml_min: float) -> RenalTier:
    for tier in RENAL_TIERS:
        if clearance_ml_min >= tier.lower_ml_min:
            return tier
    return RENAL_TIERS[-1]


Method = Literal["cockcroft-gault", "measured-crcl", "egfr", "dialysis"]


@dataclass(frozen=True)
class RenalFunction:
    """Kidney function as the dose rules use it."""

    tier: RenalTier
    method: Method
    clearance_ml_min: float | None
    inputs: tuple[InputUsed, ...]
    explanation: str
    """Markdown: the arithmetic or the substitution, as the card shows it."""
    rule_ids: tuple[str, ...]


@dataclass(frozen=True)
class RenalDataNeeded:
    """Kidney function cannot be established from the data at hand (R-DATA-RENAL)."""

    missing: tuple[str, ...]
    inputs: tuple[InputUsed, ...]
    verify: tuple[str, ...] = ()
    """Card lines ('Verify: creatinine 0.0001 mg/dL on 2026-11-20 is outside 0.1–20 mg/dL')
    for values that exist but are implausible or ambiguous (clinical rules section 1): the card
    asks to verify these rather than to order them. ``missing`` lists them too ('verify: …')."""


# What each kind of gap asks the clinician for, by the opening words the assessment gives it
# above: a card's headline and its "data needed" name only what is actually missing.
_NEEDED_BY_OPENING: tuple[tuple[str, str], ...] = (
    ("verify: ", ""),  # named by ``verify`` instead
    ("a current serum creatinine", "serum creatinine"),
    ("serum creatinine", "serum creatinine"),
    ("an exact creatinine", "an exact serum creatinine"),
    ("a current body weight", "body weight"),
    ("body weight", "body weight"),
    ("date of birth", "date of birth"),
    ("the patient's sex", "the patient's sex"),
    ("confirmation of dialysis status", "dialysis status"),
    ("a plausible creatinine and weight", "a plausible creatinine and weight"),
)


def data_needed(gap: RenalDataNeeded) -> tuple[str, ...]:
    """The short names of what to order or record, in the order the gaps were found."""
    found: list[str] = []
    for item in gap.missing:
        label = next((label for opening, label in _NEEDED_BY_OPENING if item.startswith(opening)), item)
        if label and label not in found:
            found.append(label)
    return tuple(found)


def _input(name: str, measurement: Measurement, digits: int = 2) -> InputUsed:
    return InputUsed(name, measurement.shown(digits), measurement.when, measurement.original)


def _cockcroft_gault(age: int, weight_kg: float, creatinine_mg_dl: float, female: bool) -> float:
    clearance = (CG_AGE_FROM - age) * weight_kg / (CG_DIVISOR * creatinine_mg_dl)
    return clearance * CG_FEMALE_FACTOR if female else clearance


_last_assessment = threading.local()


def assess_renal_function(snapshot: PatientSnapshot, evaluation: Evaluation) -> RenalFunction | RenalDataNeeded:
    """Kidney function from the freshest usable data, or what is missing to know it.

    Order of preference (clinical rules section 2): dialysis status, from current evidence
    only (section 1: an active dialysis or ESRD Condition, a dialysis Procedure in the last
    30 days); Cockcroft-Gault from fresh creatinine, weight, age and sex; a measured creatinine
    clearance; an eGFR. An implausible or ambiguous input is named to verify (section 1), never
    computed with.

    Several rule families ask within one evaluation (dose, VTE, monitoring): the answer for
    the same snapshot and evaluation objects is remembered, one per thread.
    """
    last = getattr(_last_assessment, "value", None)
    if last is not None and last[0] is snapshot and last[1] is evaluation:
        return last[2]  # type: ignore[no-any-return]
    assessment = _assess(snapshot, evaluation)
    _last_assessment.value = (snapshot, evaluation, assessment)
    return assessment


def _assess(snapshot: PatientSnapshot, evaluation: Evaluation) -> RenalFunction | RenalDataNeeded:
    dialysis = [c for c in snapshot.conditions if c.category in DIALYSIS_CATEGORIES and c.active]
    current, undated, past = _dialysis_procedures(snapshot, evaluation)
    if dialysis or current:
        found = dialysis[0].display if dialysis else current[0].display
        when = dialysis[0].onset if dialysis else current[0].performed
        return RenalFunction(
            tier=DIALYSIS_TIER,
            method="dialysis",
            clearance_ml_min=None,
            inputs=(InputUsed("dialysis", found, when),),
            explanation=f"Patient on dialysis (*{found}*): creatinine clearance is not a guide to dosing.",
            rule_ids=("R-RENAL-DIALYSIS",),
        )
    if undated:
        return _dialysis_unconfirmed(undated)

    assessment = _from_measurements(snapshot, evaluation)
    if past and isinstance(assessment, RenalFunction):
        performed, latest = max(past, key=lambda dated: dated[0])
        history = (
            f" A dialysis procedure on record (*{latest.display or 'dialysis'}*, {performed.isoformat()}) "
            f"is more than {DIALYSIS_PROCEDURE_WITHIN_DAYS} days old: history, not current "
            "dialysis."
        )
        assessment = replace(assessment, explanation=assessment.explanation + history)
    return assessment


def _dialysis_procedures(
    snapshot: PatientSnapshot, evaluation: Evaluation
) -> tuple[list[ClinicalProcedure], list[ClinicalProcedure], list[tuple[date, ClinicalProcedure]]]:
    """Dialysis procedures as current (in the last 30 days), unconfirmed (no usable date: none
    recorded, or one in the future) and past (older: history, with their dates)."""
    current: list[ClinicalProcedure] = []
    undated: list[ClinicalProcedure] = []
    past: list[tuple[date, ClinicalProcedure]] = []
    for procedure in snapshot.procedures:
        if procedure.category != "dialysis":
            continue
        when = procedure.performed
        if when is None or in_the_future(when, evaluation.today):
            undated.append(procedure)
        elif (evaluation.today - when).days <= DIALYSIS_PROCEDURE_WITHIN_DAYS:
            current.append(procedure)
        else:
            past.append((when, procedure))
    return current, undated, past


def _dialysis_unconfirmed(procedures: list[ClinicalProcedure]) -> RenalDataNeeded:
    """A dialysis procedure without a usable date cannot show that the patient is on dialysis
    now (clinical rules section 1), and ignoring it could give a patient on dialysis the severe
    tier's 15 mg every 48 hours instead of 5 mg daily: no tier at all, and the card asks to
    confirm whether the patient is on dialysis. Neither a creatinine clearance nor an eGFR can
    settle it (on dialysis neither is a guide to dosing), so no substitute is tried."""
    procedure = procedures[0]
    display = procedure.display or "dialysis"
    if procedure.performed is None:
        why = "has no usable date"
    else:
        why = f"is dated {procedure.performed.isoformat()}, in the future"
    return RenalDataNeeded(
        missing=(
            f"confirmation of dialysis status: the dialysis procedure on record "
            f"(*{display}*) {why}, so it does not show whether the patient is on "
            "dialysis now (dose 5 mg daily) or not (dose by creatinine clearance)",
        ),
        inputs=(InputUsed("dialysis procedure", display, procedure.performed, why),),
    )


def _from_measurements(snapshot: PatientSnapshot, evaluation: Evaluation) -> RenalFunction | RenalDataNeeded:
    """Cockcroft-Gault, else a measured clearance or an eGFR (clinical rules section 2).

    A Cockcroft-Gault input that was received but cannot be trusted (implausible or ambiguous,
    clinical rules section 1) is named to verify, and then no substitute is used either: the
    substitutes stand in for missing or old data, not for a result in doubt — the eGFR of the
    same sample is computed from the same creatinine and age."""
    today = evaluation.today
    doubts = {kind: untrusted_in(snapshot, today, kind) for kind in ("creatinine", "weight", "age")}
    verify = tuple(dict.fromkeys(u.note for found in doubts.values() for u in found))
    age = snapshot.age_on(today)
    creatinine, weight = snapshot.creatinine, snapshot.weight  # a doubted one returns below
    missing: list[str] = []
    seen: list[InputUsed] = []
    if doubts["creatinine"]:
        missing.extend(u.to_verify for u in doubts["creatinine"])
    elif creatinine is None:
        missing.append("serum creatinine")
    elif not is_fresh(creatinine, "creatinine", evaluation):
        missing.append(
            f"a current serum creatinine (last {creatinine.shown(2)} is "
            f"{staleness_note(creatinine, 'creatinine', evaluation)})"
        )
        seen.append(_input("creatinine (stale)", creatinine))
    if doubts["weight"]:
        missing.extend(u.to_verify for u in doubts["weight"])
    elif weight is None:
        missing.append("body weight")
    elif not is_fresh(weight, "weight", evaluation):
        missing.append(
            f"a current body weight (last {weight.shown(1)} is {staleness_note(weight, 'weight', evaluation)})"
        )
        seen.append(_input("weight (stale)", weight, 1))
    if doubts["age"]:
        missing.extend(u.to_verify for u in doubts["age"])
    elif age is None:
        missing.append("date of birth (age)")
    if verify:
        return RenalDataNeeded(tuple(missing), tuple(seen), verify)

    if not missing and creatinine is not None and weight is not None and age is not None:
        computed = _clearance_from_creatinine(snapshot, creatinine, weight, age)
        if isinstance(computed, RenalFunction):
            return computed
        missing.extend(computed)

    for substitute in _substitutes(snapshot, evaluation):
        note = "; ".join(missing)
        return RenalFunction(
            tier=substitute.tier,
            method=substitute.method,
            clearance_ml_min=substitute.clearance_ml_min,
            inputs=substitute.inputs + tuple(seen),
            explanation=substitute.explanation
            + f" Used because Cockcroft-Gault could not be computed (missing {note}).",
            rule_ids=substitute.rule_ids,
        )
    return RenalDataNeeded(tuple(missing), tuple(seen))


def _clearance_from_creatinine(
    snapshot: PatientSnapshot, creatinine: Measurement, weight: Measurement, age: int
) -> RenalFunction | list[str]:
    if creatinine.value <= 0 or weight.value <= 0:
        return ["a plausible creatinine and weight (a zero or negative value was recorded)"]
    sexes = {"female": (True,), "male": (False,)}.get(snapshot.sex or "", (True, False))
    values = [_cockcroft_gault(age, weight.value, creatinine.value, female) for female in sexes]
    tiers = {tier_for_clearance(v).rule_id for v in values}
    if len(tiers) > 1:
        return [
            "the patient's sex (Cockcroft-Gault differs for women and men, and the two "
            "results fall in different dose tiers)"
        ]
    clearance = min(values)
    tier = tier_for_clearance(clearance)
    # A creatinine reported as a bound ("<0.5") bounds the clearance the other way: the tier
    # is known only when the computed clearance already sits in the outermost tier.
    below_bound = creatinine.comparator in ("<", "<=") and tier is not RENAL_TIERS[0]
    above_bound = creatinine.comparator in (">", ">=") and tier is not RENAL_TIERS[-1]
    if below_bound or above_bound:
        return [f"an exact creatinine (reported as {creatinine.shown(2)}, a bound)"]
    female_factor = f" × {CG_FEMALE_FACTOR:g}"
    sex_note = {"female": f"{female_factor} (female)", "male": " (male)"}.get(
        snapshot.sex or "", f"{female_factor} (sex not recorded: the lower, female value is used)"
    )
    arithmetic = (
        f"(140 − {age} y) × {weight.value:g} kg / (72 × {creatinine.value:.2f} mg/dL)"
        f"{sex_note} = **{clearance:.1f} mL/min**"
    )
    inputs = (
        _input("serum creatinine", creatinine),
        _input("body weight", weight, 1),
        InputUsed("age", f"{age} years"),
        InputUsed("sex", snapshot.sex or "not recorded"),
    )
    return RenalFunction(
        tier=tier,
        method="cockcroft-gault",
        clearance_ml_min=clearance,
        inputs=inputs,
        explanation=f"Creatinine clearance by Cockcroft-Gault (actual body weight): {arithmetic}.",
        rule_ids=("R-CRCL-CG", tier.rule_id),
    )


def _substitutes(snapshot: PatientSnapshot, evaluation: Evaluation) -> list[RenalFunction]:
    found: list[RenalFunction] = []
    crcl = snapshot.measured_crcl
    if crcl is not None and crcl.comparator is None and is_fresh(crcl, "measured_crcl", evaluation):
        tier = tier_for_clearance(crcl.value)
        found.append(
            RenalFunction(
                tier=tier,
                method="measured-crcl",
                clearance_ml_min=crcl.value,
                inputs=(_input("measured creatinine clearance", crcl, 1),),
                explanation=f"Measured creatinine clearance **{crcl.shown(1)}** (LOINC {crcl.code}).",
                rule_ids=("R-CRCL-CG", tier.rule_id),
            )
        )
    egfr = snapshot.egfr
    if egfr is not None and egfr.comparator in (None, ">", ">=") and is_fresh(egfr, "egfr", evaluation):
        tier = tier_for_clearance(egfr.value)
        # "> 60" still places the patient in the top tier; any other bound is ambiguous.
        if egfr.comparator is None or tier is RENAL_TIERS[0]:
            found.append(
                RenalFunction(
                    tier=tier,
                    method="egfr",
                    clearance_ml_min=egfr.value,
                    inputs=(_input("eGFR", egfr, 1),),
                    explanation=f"Estimated GFR **{egfr.shown(1)}** (LOINC {egfr.code}) used in "
                    "place of creatinine clearance (the guideline allows MDRD); eGFR is "
                    "normalised to 1.73 m² and may differ from the patient's own clearance.",
                    rule_ids=("R-CRCL-CG", tier.rule_id),
                )
            )
    return found

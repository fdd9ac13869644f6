"""Infection prophylaxis and vaccination (guideline: Infection and teratogenicity).

"To prevent infection, routine antibiotic prophylaxis (e.g., trimethoprim-sulfamethoxazole,
quinolones, or penicillin) is highly recommended for the first 3 cycles of lenalidomide when
combined with dexamethasone, particularly for patients with aggressive disease or a history of
neutropenia or infectious complications." "The use of vaccinations, including influenza,
should also be considered in MM patients."

The guideline names the drugs, not their doses; both suggested antibiotics are cleared by the
kidneys, so their doses follow kidney function as their prescribing information says (clinical
rules section 8). Without known kidney function no dose is suggested at all (safety principle
1: no drug dose that ignores kidney function).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from rules.catalogue import rule
from rules.dose_ladder import EVERY_OTHER_DAY_HOURS, LENALIDOMIDE_CYCLE_LENGTH, ONCE_DAILY_HOURS
from rules.hematologic_toxicity import NEUTROPENIA_ANC_BELOW_PER_UL, count_input, per_ul, usable_count
from rules.model import (
    Evaluation,
    InputUsed,
    NewMedication,
    OrdersUnderReview,
    PatientSnapshot,
    Recommendation,
    Regimen,
    Severity,
)
from rules.renal import RenalDataNeeded, RenalFunction, assess_renal_function
from rules.renal import data_needed as renal_data_needed
from rules.treatment_course import in_first_cycles, on_lenalidomide, treated_before

SECTION = rule("R-INF-PROPH").section  # "Infection and teratogenicity"

# R-INF-PROPH (guideline: Infection and teratogenicity): "for the first 3 cycles of
# lenalidomide when combined with dexamethasone".
PROPHYLAXIS_CYCLES = 3
# R-INF-PROPH (clinical rules section 8): warning-level also with "neutropenia now (latest ANC
# < 1,000/µL)" — the grade 3 neutropenia threshold of R-NEUT-DELAY (guideline: Hematologic
# toxicities), the same number; the ANC must be current (usable_count).
NEUTROPENIA_NOW_ANC_BELOW_PER_UL = NEUTROPENIA_ANC_BELOW_PER_UL

# R-INF-PROPH doses by kidney function (clinical rules section 8, from the prescribing
# information of each drug; creatinine clearance in mL/min, compared unrounded).
# Levofloxacin (prescribing information, dosage adjustment in renal impairment, 500 mg
# regimen): "500 mg daily at CrCl >= 50, 250 mg daily at 20-49, 250 mg every 48 h below 20 or
# on dialysis". The label's 500 mg first dose for treatment is left out: prophylaxis starts at
# the maintenance dose, and the clinical rules give no first dose.
LEVOFLOXACIN_FULL_MG = 500.0
LEVOFLOXACIN_FULL_FROM_CRCL = 50.0
LEVOFLOXACIN_REDUCED_MG = 250.0
LEVOFLOXACIN_REDUCED_FROM_CRCL = 20.0
LEVOFLOXACIN_LOW_CLEARANCE_MG = 250.0
LEVOFLOXACIN_LOW_CLEARANCE_EVERY_HOURS = EVERY_OTHER_DAY_HOURS
# Trimethoprim-sulfamethoxazole (prescribing information, renal impairment): "full dose at
# CrCl > 30, half dose at 15-30, not suggested below 15 or on dialysis". The full prophylactic
# dose is one double-strength tablet (800 mg sulfamethoxazole / 160 mg trimethoprim) once daily
# (service choice, a standard prophylactic regimen); half of it is one single-strength tablet
# (400/80 mg) once daily. The combination tablet has no single mg dose, so its order carries the
# dose in its text.
TMP_SMX_FULL_ABOVE_CRCL = 30.0
TMP_SMX_HALF_FROM_CRCL = 15.0
TMP_SMX_FULL_MG = (800, 160)  # sulfamethoxazole, trimethoprim
TMP_SMX_HALF_MG = (400, 80)

FIRST_CYCLES = f"the first {PROPHYLAXIS_CYCLES} cycles"
DURATION = f"during {FIRST_CYCLES} of lenalidomide/dexamethasone"

ANTIBIOTICS = (
    "trimethoprim-sulfamethoxazole",
    "levofloxacin",
    "ciprofloxacin",
    "moxifloxacin",
    "penicillin",
    "amoxicillin",
)
# "particularly for patients with aggressive disease or a history of neutropenia or
# infectious complications"
HIGHER_RISK: tuple[tuple[str, str], ...] = (
    ("aggressive-disease", "aggressive disease"),
    ("neutropenia-history", "history of neutropenia"),
    ("infection-history", "history of infection"),
    ("active-infection", "current infection"),
)

QUOTE_PROPHYLAXIS = (
    'Guideline (*Infection and teratogenicity*): "To prevent infection, routine antibiotic '
    "prophylaxis (e.g., trimethoprim-sulfamethoxazole, quinolones, or penicillin) is highly "
    "recommended for the first 3 cycles of lenalidomide when combined with dexamethasone, "
    "particularly for patients with aggressive disease or a history of neutropenia or "
    'infectious complications."'
)


@dataclass(frozen=True)
class KidneyFunction:
    """What the antibiotic doses are chosen from: dialysis, or the range the patient's true
    clearance lies in (one value, or a bound when the laboratory reported one)."""

    dialysis: bool
    lowest_ml_min: float
    highest_ml_min: float
    shown: str
    """How the card names it ('CrCl 42.0 mL/min', 'CrCl >140.0 mL/min', 'on dialysis')."""


def infection_prophylaxis(
    snapshot: PatientSnapshot, evaluation: Evaluation, orders: OrdersUnderReview
) -> list[Recommendation]:
    """R-INF-PROPH: lenalidomide with dexamethasone, first 3 cycles, no antibiotic active."""
    with_dexamethasone = bool(orders.dexamethasone or snapshot.active_orders_of("dexamethasone"))
    if evaluation.hook == "patient-view":
        treated = on_lenalidomide(snapshot)
    else:
        treated = bool(orders.lenalidomide)
    if not (treated and with_dexamethasone):
        return []
    if not in_first_cycles(snapshot, evaluation.today, PROPHYLAXIS_CYCLES):
        return []
    if snapshot.orders_in_place(*ANTIBIOTICS):
        return []
    risks = [
        words
        for category, words in HIGHER_RISK
        if snapshot.has_condition(category, active_only=category == "active-infection")
    ]
    inputs: list[InputUsed] = []
    anc = usable_count(snapshot.anc, "anc", evaluation)
    neutropenic = anc if anc is not None and anc.is_below(NEUTROPENIA_NOW_ANC_BELOW_PER_UL) is True else None
    if neutropenic is not None:
        risks.append("neutropenia now")
        inputs.append(count_input("ANC", neutropenic))
    severity: Severity = "warning" if risks else "info"
    cycle = "starting lenalidomide" if not treated_before(snapshot) else f"within {FIRST_CYCLES} of lenalidomide"
    finding = f"Patient {cycle} with dexamethasone, and no antibiotic prophylaxis is active."
    if risks:
        finding += f" Higher infection risk: {', '.join(risks)}."
    if neutropenic is not None:
        finding += (
            f" Latest ANC {per_ul(neutropenic)} on {neutropenic.when.isoformat()}, below "
            f"{NEUTROPENIA_NOW_ANC_BELOW_PER_UL:,.0f}/µL."
        )
    rationale = [
        finding,
        f"The prophylaxis covers {FIRST_CYCLES} ({PROPHYLAXIS_CYCLES * LENALIDOMIDE_CYCLE_LENGTH} days).",
    ]

    renal = assess_renal_function(snapshot, evaluation)
    choices: tuple[NewMedication, ...] = ()
    data_needed: tuple[str, ...] = ()
    if isinstance(renal, RenalDataNeeded):
        rationale.append(
            "Kidney function is unknown (" + "; ".join(renal.missing) + "). Both antibiotics "
            "are cleared by the kidneys and their doses depend on creatinine clearance, so no "
            "dose is suggested until it is known (see the lenalidomide dose card)."
        )
        inputs.extend(renal.inputs)
        data_needed = renal_data_needed(renal)
    else:
        kidney = _kidney_function(snapshot, renal)
        inputs.extend(renal.inputs)
        rationale.append(renal.explanation)
        offered, notes = _antibiotic_choices(kidney)
        rationale.extend(notes)
        choices = offered
    rationale.append(QUOTE_PROPHYLAXIS)

    summary = f"Lenalidomide/dexamethasone cycles 1-{PROPHYLAXIS_CYCLES}: antibiotic prophylaxis " + (
        "highly recommended (" + risks[0] + ")" if risks else "recommended"
    )
    if isinstance(renal, RenalDataNeeded):
        summary += " — dose needs kidney function"
    elif choices:
        summary += " — " + " or ".join(_short_name(c.drug) for c in choices)
    else:
        summary += " — dose needs an exact creatinine"
    return [
        Recommendation(
            rule_ids=("R-INF-PROPH",),
            concern="infection-prophylaxis",
            severity=severity,
            summary=summary,
            rationale=tuple(rationale),
            section=SECTION,
            inputs=tuple(inputs),
            actions=choices,
            selection="at-most-one",
            data_needed=data_needed,
        )
    ]


def _kidney_function(snapshot: PatientSnapshot, renal: RenalFunction) -> KidneyFunction:
    """The clearance range behind the renal assessment. A creatinine reported as a bound
    ('<0.5', '>5.0') gives a clearance bound the other way; an eGFR reported as '>60' is a lower
    bound. A dose is chosen only when the whole range asks for the same one."""
    if renal.method == "dialysis" or renal.clearance_ml_min is None:
        return KidneyFunction(True, 0.0, 0.0, "on dialysis")
    value = renal.clearance_ml_min
    low, high = value, value
    comparator = None
    if renal.method == "cockcroft-gault" and snapshot.creatinine is not None:
        comparator = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}.get(snapshot.creatinine.comparator or "")
    elif renal.method == "egfr" and snapshot.egfr is not None:
        comparator = snapshot.egfr.comparator
    if comparator in (">", ">="):
        high = math.inf
    elif comparator in ("<", "<="):
        low = 0.0
    name = {"cockcroft-gault": "CrCl", "measured-crcl": "measured CrCl", "egfr": "eGFR"}[renal.method]
    return KidneyFunction(False, low, high, f"{name} {comparator or ''}{value:.1f} mL/min")


def _levofloxacin_for(clearance: float, dialysis: bool) -> Regimen:
    if dialysis or clearance < LEVOFLOXACIN_REDUCED_FROM_CRCL:
        mg, hours = LEVOFLOXACIN_LOW_CLEARANCE_MG, LEVOFLOXACIN_LOW_CLEARANCE_EVERY_HOURS
    elif clearance < LEVOFLOXACIN_FULL_FROM_CRCL:
        mg, hours = LEVOFLOXACIN_REDUCED_MG, ONCE_DAILY_HOURS
    else:
        mg, hours = LEVOFLOXACIN_FULL_MG, ONCE_DAILY_HOURS
    how_often = "once daily" if hours == ONCE_DAILY_HOURS else "every 48 hours"
    return Regimen(
        dose=mg,
        dose_unit="mg",
        every_hours=hours,
        route="oral",
        text=f"Levofloxacin {mg:g} mg orally {how_often} {DURATION}",
    )


def _tmp_smx_level(clearance: float, dialysis: bool) -> str | None:
    """'full', 'half', or None (not suggested) at this clearance."""
    if dialysis or clearance < TMP_SMX_HALF_FROM_CRCL:
        return None
    return "full" if clearance > TMP_SMX_FULL_ABOVE_CRCL else "half"


def _tmp_smx(level: str) -> NewMedication:
    half = level == "half"
    smx, tmp = TMP_SMX_HALF_MG if half else TMP_SMX_FULL_MG
    tablet = "one single-strength tablet, half the usual dose" if half else "one double-strength tablet"
    # Written trimethoprim/sulfamethoxazole in that order (160/800 mg), so that the name and the
    # strengths read in the same order.
    text = f"Trimethoprim-sulfamethoxazole {tmp}/{smx} mg ({tablet}) orally once daily {DURATION}"
    return NewMedication(
        drug="trimethoprim-sulfamethoxazole",
        regimen=Regimen(dose=None, every_hours=ONCE_DAILY_HOURS, route="oral", text=text),
        label=f"Start trimethoprim-sulfamethoxazole {tmp}/{smx} mg daily" + (" (half dose)" if half else ""),
        description=text,
        recommended=True,
    )


def _antibiotic_choices(kidney: KidneyFunction) -> tuple[tuple[NewMedication, ...], list[str]]:
    """The antibiotics that can be suggested at this kidney function, and why any is not."""
    notes: list[str] = []
    choices: list[NewMedication] = []

    levels = {
        _tmp_smx_level(kidney.lowest_ml_min, kidney.dialysis),
        _tmp_smx_level(kidney.highest_ml_min, kidney.dialysis),
    }
    level = next(iter(levels)) if len(levels) == 1 else "spans levels"
    if level == "spans levels":
        notes.append(
            f"Trimethoprim-sulfamethoxazole is not suggested: {kidney.shown} is a bound "
            "that spans two of its dose levels; an exact creatinine decides the dose."
        )
    elif level is None:
        notes.append(
            f"Trimethoprim-sulfamethoxazole is not suggested: {kidney.shown} "
            f"(not recommended below {TMP_SMX_HALF_FROM_CRCL:g} mL/min or on dialysis, "
            "prescribing information)."
        )
    else:
        choices.append(_tmp_smx(level))
        if level == "half":
            notes.append(
                f"Trimethoprim-sulfamethoxazole at half the usual dose: {kidney.shown}, "
                f"{TMP_SMX_HALF_FROM_CRCL:g}–{TMP_SMX_FULL_ABOVE_CRCL:g} mL/min "
                "(prescribing information)."
            )

    low_levo = _levofloxacin_for(kidney.lowest_ml_min, kidney.dialysis)
    high_levo = _levofloxacin_for(kidney.highest_ml_min, kidney.dialysis)
    if low_levo == high_levo:
        how_often = "daily" if low_levo.every_hours == ONCE_DAILY_HOURS else "every 48 h"
        choices.append(
            NewMedication(
                drug="levofloxacin",
                regimen=low_levo,
                label=f"Start levofloxacin {low_levo.dose:g} mg {how_often}",
                description=low_levo.text or "",
                # Recommended only when it is the one choice left (at-most-one: one pre-selected).
                recommended=not choices,
            )
        )
        if low_levo.dose != LEVOFLOXACIN_FULL_MG or low_levo.every_hours != ONCE_DAILY_HOURS:
            notes.append(
                f"Levofloxacin reduced for kidney function: {kidney.shown} "
                f"(500 mg daily needs ≥ {LEVOFLOXACIN_FULL_FROM_CRCL:g} mL/min; 250 mg "
                f"daily at {LEVOFLOXACIN_REDUCED_FROM_CRCL:g}–"
                f"{LEVOFLOXACIN_FULL_FROM_CRCL - 1:g}; 250 mg every 48 h below "
                f"{LEVOFLOXACIN_REDUCED_FROM_CRCL:g} or on dialysis — prescribing "
                "information)."
            )
    else:
        notes.append(
            f"Levofloxacin is not suggested: {kidney.shown} is a bound that spans two of "
            "its dose levels; an exact creatinine decides the dose."
        )
    return tuple(choices), notes


def _short_name(drug: str) -> str:
    return {"trimethoprim-sulfamethoxazole": "TMP-SMX", "levofloxacin": "levofloxacin"}.get(drug, drug)


def vaccination(snapshot: PatientSnapshot, evaluation: Evaluation, orders: OrdersUnderReview) -> list[Recommendation]:
    """R-INF-VACCINE: once, when lenalidomide is started (not at every cycle)."""
    if not orders.lenalidomide or treated_before(snapshot):
        return []
    return [
        Recommendation(
            rule_ids=("R-INF-VACCINE",),
            concern="vaccination",
            severity="info",
            summary="Starting lenalidomide: consider influenza vaccination",
            rationale=(
                "Myeloma and its treatment impair immunity; vaccination status is not part of the "
                "data this service reads.",
                'Guideline (*Infection and teratogenicity*): "The use of vaccinations, including '
                'influenza, should also be considered in MM patients."',
            ),
            section=SECTION,
        )
    ]

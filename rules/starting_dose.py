"""The lenalidomide dose of a draft order: renal tier, cytopenia at start, age.

One card per draft lenalidomide order (concern 'lenalidomide-dose'), combining:
- the renal tier (R-CRCL-CG and R-RENAL-*; R-DATA-RENAL when kidney function is unknown),
- cytopenia at start (R-CYTO-START): one dose step lower on top of the renal tier,
- no reduction for age alone (R-AGE-NOREDUCE).
An order that already matches the recommendation gets no dose card.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from rules.dose_ladder import (
    STANDARD_DOSE_MG,
    as_ordered,
    daily_mg,
    describe,
    dose_change,
    one_step_lower,
    same_dose_and_frequency,
)
from rules.freshness import is_fresh, staleness_note
from rules.hematologic_toxicity import LOW_PLATELETS_BELOW_PER_UL, SEVERE_NEUTROPENIA_ANC_BELOW_PER_UL
from rules.model import (
    DoseChange,
    Evaluation,
    HoldDraft,
    InputUsed,
    MedicationOrder,
    PatientSnapshot,
    Recommendation,
    Regimen,
    Severity,
)
from rules.renal import SECTION as RENAL_SECTION
from rules.renal import (
    BELOW_30_TIER_IDS,
    DIALYSIS_TIER,
    RENAL_TIERS,
    RenalDataNeeded,
    RenalFunction,
    assess_renal_function,
)
from rules.renal import data_needed as renal_data_needed
from rules.treatment_course import treated_before

CYTOPENIA_SECTION = "Cytopenia"
# R-RENAL-DIALYSIS (guideline Fig. 1, prescribing information): the dose follows the session.
DIALYSIS_DAY_TIMING = "on dialysis days give the dose after dialysis"

# R-CYTO-START (guideline: Cytopenia): "Lenalidomide should be used with caution in patients
# with baseline thrombocytopenia (platelet count <50,000/µL or <30,000/µL in patients with
# heavy marrow infiltration with myeloma) or neutropenia (ANC <1,000/µL)".
START_ANC_BELOW_PER_UL = 1_000.0
START_PLATELETS_BELOW_PER_UL = 50_000.0
START_PLATELETS_BELOW_MARROW_INFILTRATION_PER_UL = 30_000.0


def lenalidomide_dose(
    snapshot: PatientSnapshot, evaluation: Evaluation, orders: tuple[MedicationOrder, ...]
) -> list[Recommendation]:
    """Dose recommendations for the draft lenalidomide orders under review."""
    if not orders:
        return []
    renal = assess_renal_function(snapshot, evaluation)
    return [r for r in (_dose_for_order(snapshot, evaluation, renal, o) for o in orders) if r]


def _dose_for_order(
    snapshot: PatientSnapshot,
    evaluation: Evaluation,
    renal: RenalFunction | RenalDataNeeded,
    order: MedicationOrder,
) -> Recommendation | None:
    ordered = as_ordered(order)
    if isinstance(renal, RenalDataNeeded):
        needed = renal_data_needed(renal)
        if renal.verify:
            headline = (
                "Lenalidomide: kidney function in doubt — verify the results named below before choosing the dose"
            )
        else:
            headline = f"Lenalidomide: renal function unknown — {' and '.join(needed) or 'data'} needed before choosing the dose"
            if len(headline) >= 140:
                headline = "Lenalidomide: renal function unknown — data needed before choosing the dose"
        return Recommendation(
            rule_ids=("R-DATA-RENAL",),
            concern="lenalidomide-dose",
            severity="warning",
            summary=headline,
            rationale=(
                "Kidney function could not be established, so **no dose is suggested**.",
                *renal.verify,
                *(
                    ("Missing: " + "; ".join(gaps) + ".",)
                    if (gaps := [m for m in renal.missing if not m.startswith("verify: ")])
                    else ()
                ),
                "Lenalidomide is eliminated unchanged in urine; the dose depends on creatinine "
                "clearance ("
                + "; ".join(f"{t.name}: {describe(t.regimen).split(',')[0]}" for t in (*RENAL_TIERS, DIALYSIS_TIER))
                + ").",
                f"Ordered: lenalidomide {ordered}.",
            ),
            section=RENAL_SECTION,
            inputs=renal.inputs,
            data_needed=needed or ("serum creatinine",),
        )

    target = renal.tier.regimen
    if renal.tier is DIALYSIS_TIER:
        # The order the clinician signs must carry the timing, not only the card (section 3).
        target = replace(target, text=f"Lenalidomide {describe(target)}; {DIALYSIS_DAY_TIMING}")
    rule_ids = list(renal.rule_ids)
    inputs = list(renal.inputs)
    rationale = [renal.explanation, f"Renal tier: {renal.tier.name} — {renal.tier.advice}."]
    section = RENAL_SECTION

    cbc = _cytopenia_at_start(snapshot, evaluation)
    if isinstance(cbc, CountsNeeded):  # no dose can be confirmed without current counts
        missing, seen = cbc.missing, cbc.seen
        return Recommendation(
            rule_ids=tuple(rule_ids + ["R-CYTO-START"]),
            concern="lenalidomide-dose",
            severity="warning",
            summary="Lenalidomide: blood counts needed before "
            + ("this cycle's dose" if treated_before(snapshot) else "the starting dose")
            + f" (kidney function allows at most {describe(target)})",
            rationale=tuple(rationale)
            + (
                "Missing: " + "; ".join(missing) + ". With ANC < 1,000/µL or platelets "
                "< 50,000/µL the dose is one step lower, so **no dose is suggested** until a "
                "current CBC is available.",
                f"Ordered: lenalidomide {ordered}.",
            ),
            section=CYTOPENIA_SECTION,
            inputs=tuple(inputs + seen),
            data_needed=("complete blood count with differential",),
        )
    # R-CYTO-START is about the start of treatment ("baseline" counts). For a patient already
    # on lenalidomide, low counts at a new cycle call for a delay first and a dose step only if
    # they persist (guideline: Hematologic toxicities) — the neutropenia and thrombocytopenia
    # cards say so; here the kidney function alone sets the ceiling.
    continuing = treated_before(snapshot)
    cytopenic = bool(cbc.findings) and not continuing
    inputs.extend(cbc.inputs)
    if cytopenic:
        rule_ids.append("R-CYTO-START")
        section = CYTOPENIA_SECTION
        lower = one_step_lower(target)
        rationale.append(
            "Cytopenia at start: "
            + " and ".join(cbc.findings)
            + ": start with caution **one dose step lower**, check the CBC weekly, "
            "and give G-CSF for neutropenia and/or platelet transfusion as needed."
        )
        if lower is None:
            # The renal-tier dose stays the ceiling: a draft above it is still brought down to
            # it (without this, cytopenia on dialysis left a 25 mg draft unchanged).
            ceiling = None
            if not same_dose_and_frequency(order.regimen, target):
                ceiling = dose_change(order, target, label_note=" (the lowest step)")
            return Recommendation(
                rule_ids=tuple(rule_ids),
                concern="lenalidomide-dose",
                severity="warning",
                summary=f"Lenalidomide: no dose step below {describe(target)} — consider "
                "interruption and specialist review",
                rationale=tuple(rationale)
                + (
                    "The dose ladder ends at 5 mg: consider delaying or discontinuing "
                    "lenalidomide and discuss with a myeloma specialist.",
                    f"Ordered: lenalidomide {ordered}."
                    + (f" If it is given, at most **{describe(target)}**." if ceiling else ""),
                ),
                section=section,
                inputs=tuple(inputs),
                actions=(ceiling,) if ceiling else (),
                dose=ceiling,
            )
        target = lower

    regimen = target
    if cytopenic and cbc.contraindicating:
        return _contraindicated_start(
            order, cbc, dose_change(order, regimen), rule_ids, rationale + [f"Ordered: lenalidomide {ordered}."], inputs
        )
    if same_dose_and_frequency(order.regimen, regimen):
        if cytopenic:
            return Recommendation(
                rule_ids=tuple(rule_ids),
                concern="lenalidomide-dose",
                severity="warning",
                summary="Lenalidomide started with cytopenia: check the CBC weekly; G-CSF or "
                "platelet transfusion as needed",
                rationale=tuple(rationale) + (f"The order ({ordered}) already matches.",),
                section=section,
                inputs=tuple(inputs),
            )
        return None

    ordered_daily = daily_mg(order.regimen)
    target_daily = daily_mg(regimen) or 0.0
    lower_than_needed = ordered_daily is not None and ordered_daily < target_daily
    if lower_than_needed and continuing:
        # A lower dose during treatment is an earlier toxicity reduction, kept on purpose;
        # R-RENAL-IMPROVED (patient-view) says when kidney function would allow more.
        return None
    # A new start on less than the tier's dose: nothing but age explains it, unless the
    # patient has had neutropenia (continuing treatment has returned above).
    if lower_than_needed and not cytopenic and not snapshot.has_condition("neutropenia-history", active_only=False):
        rule_ids.append("R-AGE-NOREDUCE")
        rationale.append(
            "No lenalidomide dose reduction is needed for age or disease stage alone (guideline: Elderly patients)."
        )
    severity: Severity = "info" if lower_than_needed else "warning"
    overdose = _overdose(order, regimen)
    if overdose:
        severity = "critical"
        rationale.insert(0, overdose)
    elif _renal_overdose_at_signing(evaluation, renal, order):
        severity = "critical"
        rationale.insert(
            0,
            f"**Overdose for kidney function**: lenalidomide {ordered} is above the "
            f"renal maximum of {describe(renal.tier.regimen)} ({renal.tier.name}); "
            "lenalidomide is cleared by the kidneys and accumulates.",
        )
    change = dose_change(order, regimen)
    # What to do comes first (Alert burden: a card read in 10 seconds); then why, with the
    # overdose finding before it when there is one, then the arithmetic.
    lead = f"{'Give' if continuing else 'Start'} **{describe(regimen)}**; ordered: lenalidomide {ordered}."
    overdose_at = 1 if overdose or severity == "critical" else 0
    rationale.insert(overdose_at, lead)
    clearance = renal.clearance_ml_min
    # One decimal, as clinical rules section 2 asks: rounded to "60", a CrCl of 59.6 would
    # read as the normal tier on a card recommending the moderate-tier dose.
    finding = f"CrCl {clearance:.1f} mL/min" if clearance is not None else renal.tier.name
    if renal.method == "egfr" and clearance is not None:
        finding = f"eGFR {clearance:.1f}"
    if cytopenic:
        finding += ", cytopenia"
    # A new start "starts"; a new cycle for a patient already treated is "given" at the dose.
    summary = f"Lenalidomide: {finding} — {'give' if continuing else 'start'} {describe(regimen)}"
    if order.regimen and order.regimen.dose is not None:
        summary += f", not {order.regimen.dose:g} mg"
    if overdose and ordered_daily is not None:
        summary = (
            f"Lenalidomide overdose, {ordered_daily:g} mg a day ordered: {finding} — "
            f"{'give' if continuing else 'start'} {describe(regimen).split(',')[0]}"
        )
    return Recommendation(
        rule_ids=tuple(dict.fromkeys(rule_ids)),
        concern="lenalidomide-dose",
        severity=severity,
        summary=summary,
        rationale=tuple(rationale),
        section=section,
        inputs=tuple(inputs),
        actions=(change,),
        dose=change,
    )


def _contraindicated_start(
    order: MedicationOrder,
    cbc: StartCounts,
    change: DoseChange,
    rule_ids: list[str],
    rationale: list[str],
    inputs: list[InputUsed],
) -> Recommendation:
    """A first cycle at ANC < 500/µL or platelets < 30,000/µL: the guideline's start with
    caution one step lower stays possible, but the card is critical and its first choice is
    to hold the order (clinical rules, Alert burden: a critical contraindication)."""
    counts = " and ".join(cbc.contraindicating)
    hold = HoldDraft(
        order.id,
        "lenalidomide",
        "Hold this lenalidomide order until the counts recover",
        "Put the draft lenalidomide order on hold until the blood counts recover.",
        note=f"On hold: {counts} before the first cycle.",
    )
    lower = replace(change, recommended=False, label=f"{change.label} (start anyway, with caution)")
    ordered_daily, offered_daily = daily_mg(order.regimen), daily_mg(change.regimen)
    # At these counts a one-click change may lower the draft, never raise it.
    lowers = ordered_daily is None or (offered_daily is not None and offered_daily < ordered_daily)
    return Recommendation(
        rule_ids=tuple(dict.fromkeys(rule_ids)),
        concern="lenalidomide-dose",
        severity="critical",
        summary=f"{counts.split(' (')[0]}: do not start lenalidomide now — hold the order "
        f"(or start {describe(change.regimen).split(',')[0]} with caution)",
        rationale=(
            f"**{counts}** before the first cycle. Hold the order until the counts recover; "
            "if lenalidomide must start now (marrow infiltration by myeloma), start one step "
            f"lower, **{describe(change.regimen)}**, with a weekly CBC and G-CSF or platelet "
            "transfusion as needed.",
            *rationale,
        ),
        section=CYTOPENIA_SECTION,
        inputs=tuple(inputs),
        actions=(hold, lower) if lowers else (hold,),
        dose=change if lowers else None,
    )


# Overdose at every order hook: more than the standard 25 mg a day (the top of the dose
# ladder, guideline: Dose and schedule), or more than twice the dose recommended for this
# patient — e.g. 4 capsules of 25 mg twice daily (200 mg a day), or 25 mg daily at CrCl 22
# (3.3 times 15 mg every 48 hours).
OVERDOSE_ABOVE_RECOMMENDED_TIMES = 2.0


def _overdose(order: MedicationOrder, recommended: Regimen) -> str:
    """The card's first sentence when the order is an overdose, else ''."""
    ordered, target = daily_mg(order.regimen), daily_mg(recommended)
    if ordered is None:
        return ""
    if ordered > STANDARD_DOSE_MG:
        return f"**Overdose**: {ordered:g} mg a day ordered, above the maximum of {STANDARD_DOSE_MG:g} mg a day."
    if target is not None and ordered > OVERDOSE_ABOVE_RECOMMENDED_TIMES * target:
        return (
            f"**Overdose**: {ordered:g} mg a day ordered, {ordered / target:.1f} times the "
            f"{target:g} mg a day recommended for this patient."
        )
    return ""


# At order-sign, an order above the renal maximum of the tiers below 30 mL/min (15 mg every
# 48 hours; 5 mg daily on dialysis) is a 3- to 5-fold overdose about to be signed: critical.
CRITICAL_OVERDOSE_TIERS = BELOW_30_TIER_IDS


def _renal_overdose_at_signing(evaluation: Evaluation, renal: RenalFunction, order: MedicationOrder) -> bool:
    if evaluation.hook != "order-sign" or renal.tier.rule_id not in CRITICAL_OVERDOSE_TIERS:
        return False
    ordered, ceiling = daily_mg(order.regimen), daily_mg(renal.tier.regimen)
    return ordered is not None and ceiling is not None and ordered > ceiling


@dataclass(frozen=True)
class StartCounts:
    findings: list[str]
    """Empty when the counts are above the R-CYTO-START limits."""
    inputs: list[InputUsed]
    contraindicating: list[str] = field(default_factory=list)
    """Counts below the critical limits (ANC < 500/µL, platelets < 30,000/µL): not a start
    with caution but a critical contraindication (Alert burden)."""


@dataclass(frozen=True)
class CountsNeeded:
    missing: list[str]
    seen: list[InputUsed]


def _cytopenia_at_start(snapshot: PatientSnapshot, evaluation: Evaluation) -> StartCounts | CountsNeeded:
    """The blood counts at start, or what is missing or stale."""
    missing: list[str] = []
    seen: list[InputUsed] = []
    for name, value in (("anc", snapshot.anc), ("platelets", snapshot.platelets)):
        label = "ANC" if name == "anc" else "platelet count"
        if value is None:
            missing.append(label)
        elif not is_fresh(value, name, evaluation):
            missing.append(f"a current {label} (last {value.shown(0)} is {staleness_note(value, name, evaluation)})")
            seen.append(InputUsed(f"{label} (stale)", value.shown(0), value.when, value.original))
    if missing:
        return CountsNeeded(missing, seen)
    anc, platelets = snapshot.anc, snapshot.platelets
    assert anc is not None and platelets is not None
    infiltrated = snapshot.has_condition("heavy-marrow-infiltration")
    platelet_limit = START_PLATELETS_BELOW_MARROW_INFILTRATION_PER_UL if infiltrated else START_PLATELETS_BELOW_PER_UL
    inputs = [
        InputUsed("ANC", anc.shown(0), anc.when, anc.original),
        InputUsed("platelets", platelets.shown(0), platelets.when, platelets.original),
    ]
    anc_low = anc.is_below(START_ANC_BELOW_PER_UL)
    platelets_low = platelets.is_below(platelet_limit)
    # A reported bound that leaves the question open ('<1,200' against 1,000) is not a count:
    # the dose is not chosen from it (clinical rules, safety principle 1).
    undecided = [
        f"an exact {label} (reported as {value.shown(0)}, a bound)"
        for label, value, low in (("ANC", anc, anc_low), ("platelet count", platelets, platelets_low))
        if low is None
    ]
    if undecided:
        return CountsNeeded(undecided, inputs)
    findings = []
    if anc_low:
        findings.append(f"ANC {anc.shown(0)} (< 1,000/µL)")
    if platelets_low:
        findings.append(
            f"platelets {platelets.shown(0)} (< {platelet_limit:,.0f}/µL"
            + (", heavy marrow infiltration" if infiltrated else "")
            + ")"
        )
    contraindicating = []
    if anc.is_below(SEVERE_NEUTROPENIA_ANC_BELOW_PER_UL):
        contraindicating.append(f"ANC {anc.shown(0)} (< {SEVERE_NEUTROPENIA_ANC_BELOW_PER_UL:,.0f}/µL)")
    if platelets.is_below(LOW_PLATELETS_BELOW_PER_UL):
        contraindicating.append(f"platelets {platelets.shown(0)} (< {LOW_PLATELETS_BELOW_PER_UL:,.0f}/µL)")
    return StartCounts(findings, inputs, contraindicating)

"""Neutropenia and thrombocytopenia during treatment (guideline: Hematologic toxicities).

"Neutropenia and thrombocytopenia are clinically significant and usually occur during the
initial lenalidomide/dexamethasone cycles". These rules run on patient-view for a patient on
lenalidomide, and on order-select/order-sign when a new cycle is ordered for a patient already
treated (the start of treatment is R-CYTO-START's, in starting_dose.py).

One card per concern: 'neutropenia' (R-NEUT-DELAY, R-NEUT-SEVERE, R-NEUT-RESUME) and
'thrombocytopenia' (R-PLT-LOW).
"""

from __future__ import annotations

from rules.catalogue import rule
from rules.dose_ladder import LENALIDOMIDE_CYCLE_LENGTH, daily_mg, describe, dose_change, one_step_lower
from rules.freshness import is_fresh, staleness_note
from rules.model import (
    DoseChange,
    Evaluation,
    InputUsed,
    Measurement,
    MedicationOrder,
    NewMedication,
    OrdersUnderReview,
    PatientSnapshot,
    Recommendation,
    Regimen,
    Severity,
)
from rules.renal import RenalDataNeeded, assess_renal_function
from rules.treatment_course import current_lenalidomide, on_lenalidomide, treated_before

SECTION = rule("R-NEUT-DELAY").section  # "Hematologic toxicities"

# R-NEUT-DELAY and R-NEUT-RESUME (guideline: Hematologic toxicities): "At the beginning of each
# new cycle, lenalidomide treatment should be delayed for 1 week if neutropenia (ANC <1,000
# cells/µL) is present" and "can be resumed if ANC has returned to 1,000 cells/µL".
NEUTROPENIA_ANC_BELOW_PER_UL = 1_000.0
CYCLE_DELAY_WEEKS = 1
# R-NEUT-SEVERE (guideline: Hematologic toxicities): "When severe neutropenia (ANC <500
# cells/µL) occurs, lenalidomide treatment should be interrupted and G-CSF support should be
# added. If not contraindicated, dexamethasone should be continued."
SEVERE_NEUTROPENIA_ANC_BELOW_PER_UL = 500.0
# R-NEUT-SEVERE: the guideline gives no G-CSF dose; 5 µg/kg subcutaneously once daily is the
# filgrastim dose of its prescribing information for chemotherapy-induced neutropenia.
FILGRASTIM_UG_PER_KG = 5.0
# R-NEUT-RESUME: "If ANC remains <1,000 cells/µL, a lenalidomide dose reduction, by 1 dose
# step, is necessary." "Remains" = the two latest counts, on different days, both below
# 1,000, the earlier within one cycle of the latest (a low count a year ago is another
# episode, not the same one persisting).
PERSISTENCE_WITHIN_DAYS = LENALIDOMIDE_CYCLE_LENGTH
# R-PLT-LOW (guideline: Hematologic toxicities): "Management of low platelet counts (<30,000
# cells/µL) involves a combination of platelet transfusions, lenalidomide dose modification,
# or treatment discontinuation."
LOW_PLATELETS_BELOW_PER_UL = 30_000.0

G_CSF_DRUGS = ("filgrastim", "pegfilgrastim")

# The thresholds as cards write them.
NEUTROPENIA = f"{NEUTROPENIA_ANC_BELOW_PER_UL:,.0f}/µL"
SEVERE_NEUTROPENIA = f"{SEVERE_NEUTROPENIA_ANC_BELOW_PER_UL:,.0f}/µL"
LOW_PLATELETS = f"{LOW_PLATELETS_BELOW_PER_UL:,.0f}/µL"
FILGRASTIM_DOSE = f"{FILGRASTIM_UG_PER_KG:g} µg/kg"

QUOTE_NEUTROPENIA = (
    'Guideline (*Hematologic toxicities*): "At the beginning of each new cycle, lenalidomide '
    "treatment should be delayed for 1 week if neutropenia (ANC <1,000 cells/µL) is present. "
    "When severe neutropenia (ANC <500 cells/µL) occurs, lenalidomide treatment should be "
    "interrupted and G-CSF support should be added. If not contraindicated, dexamethasone "
    'should be continued."'
)
QUOTE_RESUME = (
    'Guideline (*Hematologic toxicities*): "Lenalidomide treatment can be resumed if ANC has '
    "returned to 1,000 cells/µL. If ANC remains <1,000 cells/µL, a lenalidomide dose "
    "reduction, by 1 dose step, is necessary. Further episodes of grade 3 or higher "
    "neutropenia require lenalidomide interruption (until ANC rises to >1,000 cells/µL) "
    'and/or dose reductions."'
)
QUOTE_PLATELETS = (
    'Guideline (*Hematologic toxicities*): "Management of low platelet counts (<30,000 '
    "cells/µL) involves a combination of platelet transfusions, lenalidomide dose "
    'modification, or treatment discontinuation."'
)


def per_ul(count: Measurement) -> str:
    """'1,200/µL' (with the comparator of a reported bound)."""
    return f"{count.comparator or ''}{count.value:,.0f}/µL"


def count_input(name: str, count: Measurement) -> InputUsed:
    return InputUsed(name, per_ul(count), count.when, count.original)


def usable_count(count: Measurement | None, name: str, evaluation: Evaluation) -> Measurement | None:
    """The count when it is current and a count at all (a negative number is a recording
    error, not a result); stale values are treated as missing (clinical rules section 1)."""
    if count is None or count.value < 0 or not is_fresh(count, name, evaluation):
        return None
    return count


def _applies(snapshot: PatientSnapshot, evaluation: Evaluation, orders: OrdersUnderReview) -> bool:
    if evaluation.hook == "patient-view":
        return on_lenalidomide(snapshot)
    # Order hooks: a new cycle for a patient already treated (its start is R-CYTO-START's).
    return bool(orders.lenalidomide) and treated_before(snapshot)


def neutropenia(snapshot: PatientSnapshot, evaluation: Evaluation, orders: OrdersUnderReview) -> list[Recommendation]:
    """R-NEUT-DELAY, R-NEUT-SEVERE, R-NEUT-RESUME."""
    if not _applies(snapshot, evaluation, orders):
        return []
    anc = usable_count(snapshot.anc, "anc", evaluation)
    if anc is None:
        return _counts_needed(snapshot, evaluation)
    low = anc.is_below(NEUTROPENIA_ANC_BELOW_PER_UL)
    severe = anc.is_below(SEVERE_NEUTROPENIA_ANC_BELOW_PER_UL)
    if low is None:
        return [_exact_count_needed("neutropenia", "R-NEUT-DELAY", "ANC", anc)]
    previous = _previous_count(snapshot.anc_history, anc)
    # The count before, when it too was below 1,000/µL: the episode persists (or has recovered).
    earlier_low = previous if previous is not None and previous.is_below(NEUTROPENIA_ANC_BELOW_PER_UL) else None
    inputs = [count_input("ANC", anc)]
    if previous is not None:
        inputs.append(count_input("previous ANC", previous))

    if not low:
        interrupted = any(m.status == "on-hold" for m in snapshot.active_orders_of("lenalidomide"))
        if earlier_low is None and not interrupted:
            return []
        after = f"from {per_ul(earlier_low)} on {earlier_low.when.isoformat()}" if earlier_low else "after interruption"
        return [
            Recommendation(
                rule_ids=("R-NEUT-RESUME",),
                concern="neutropenia",
                severity="info",
                summary=f"ANC {per_ul(anc)} (recovered {after}): lenalidomide may resume",
                rationale=(
                    f"ANC **{per_ul(anc)}** on {anc.when.isoformat()} is ≥ {NEUTROPENIA} "
                    + (
                        f"after {per_ul(earlier_low)} on {earlier_low.when.isoformat()}."
                        if earlier_low
                        else "while the lenalidomide order is on hold."
                    ),
                    "Lenalidomide may resume at the current dose; if a further episode of ANC "
                    f"< {NEUTROPENIA} occurs, interrupt until ANC > {NEUTROPENIA} and/or reduce one dose step.",
                    QUOTE_RESUME,
                ),
                section=SECTION,
                inputs=tuple(inputs),
            )
        ]

    rule_ids: list[str] = []
    rationale: list[str] = []
    severity: Severity
    actions: list[DoseChange | NewMedication] = []
    changes: tuple[DoseChange, ...] = ()
    # An order for a new cycle while ANC < 1,000/µL: the cycle is delayed (R-NEUT-DELAY). The
    # lower step is for when it resumes at ANC ≥ 1,000/µL, so it is named, never proposed as a
    # one-click change to the order being signed now (clinical rules section 5).
    new_cycle = evaluation.hook != "patient-view"
    if earlier_low is not None:
        rule_ids.append("R-NEUT-RESUME")
        if new_cycle:
            _, step_text = step_down(snapshot, evaluation, OrdersUnderReview())
            if step_text.startswith("one dose step lower"):
                step_text = (
                    f"When ANC has recovered to ≥ {NEUTROPENIA}, resume "
                    + step_text.removesuffix(" Apply it to the next cycle's order.")
                    + " Write that dose in the order then."
                )
        else:
            changes, step_text = step_down(snapshot, evaluation, orders)
        rationale.append(
            f"ANC has stayed below {NEUTROPENIA}: {per_ul(earlier_low)} on {earlier_low.when.isoformat()}, "
            f"then **{per_ul(anc)}** on {anc.when.isoformat()}. " + step_text
        )
        actions.extend(changes)

    if severe:
        rule_ids.insert(0, "R-NEUT-SEVERE")
        filgrastim, dose_text = _filgrastim(snapshot, evaluation)
        if filgrastim is not None:
            actions.insert(0, filgrastim)
        rationale.insert(
            0,
            f"ANC **{per_ul(anc)}** on {anc.when.isoformat()} is below {SEVERE_NEUTROPENIA} "
            "(severe neutropenia): interrupt lenalidomide and add G-CSF; continue "
            "dexamethasone unless contraindicated. " + dose_text,
        )
        rationale.append(
            f"Resume when ANC ≥ {NEUTROPENIA}; each further episode of ANC < {NEUTROPENIA} "
            f"calls for interruption until ANC > {NEUTROPENIA} and/or one dose step lower."
        )
        summary = (
            f"ANC {per_ul(anc)}: interrupt lenalidomide and start G-CSF; continue dexamethasone unless contraindicated"
        )
        if evaluation.hook != "patient-view":
            # An order for a new cycle: the new cycle is also delayed (R-NEUT-DELAY).
            rule_ids.append("R-NEUT-DELAY")
            rationale.append(
                f"This order starts a new cycle: do not start it now — delay the cycle at "
                f"least {CYCLE_DELAY_WEEKS} week, until ANC ≥ {NEUTROPENIA}."
            )
            summary = f"ANC {per_ul(anc)}: do not start this cycle — interrupt lenalidomide and start G-CSF"
        severity = "critical"
    elif earlier_low is not None and new_cycle:
        rule_ids.insert(0, "R-NEUT-DELAY")
        lower = _lower_step(snapshot, orders)
        summary = (
            f"ANC {per_ul(anc)}, still < {NEUTROPENIA}: do not start this cycle — delay "
            f"{CYCLE_DELAY_WEEKS} week, then resume one step lower"
            + (f" ({describe(lower).split(',')[0]})" if lower is not None else "")
        )
        rationale.insert(
            0,
            f"ANC **{per_ul(anc)}** on {anc.when.isoformat()} is below {NEUTROPENIA} at "
            f"the start of a new cycle: **delay the cycle {CYCLE_DELAY_WEEKS} week** and "
            "repeat the count; the order is not changed here.",
        )
        severity = "warning"
    elif earlier_low is not None:
        target = changes[0].regimen if changes else None
        summary = f"ANC {per_ul(anc)}, still < {NEUTROPENIA}: reduce lenalidomide one dose step" + (
            f" to {describe(target)}" if target is not None else ""
        )
        severity = "warning"
    else:
        rule_ids.append("R-NEUT-DELAY")
        if evaluation.hook == "patient-view":
            summary = (
                f"ANC {per_ul(anc)} on lenalidomide: delay the next cycle {CYCLE_DELAY_WEEKS} week unless "
                f"ANC recovers to ≥ {NEUTROPENIA}"
            )
        else:
            summary = f"ANC {per_ul(anc)} at the start of a new cycle: delay lenalidomide {CYCLE_DELAY_WEEKS} week"
        rationale.append(
            f"ANC **{per_ul(anc)}** on {anc.when.isoformat()} is below {NEUTROPENIA}: delay the "
            f"cycle by {CYCLE_DELAY_WEEKS} week and repeat the count. If ANC is then ≥ {NEUTROPENIA} "
            f"resume at the same dose; if it remains < {NEUTROPENIA} reduce one dose step."
            + (
                f" (The count is reported as a bound: ANC < {SEVERE_NEUTROPENIA} is not excluded.)"
                if severe is None
                else ""
            )
        )
        severity = "warning"
    rationale.append(QUOTE_NEUTROPENIA)
    if "R-NEUT-RESUME" in rule_ids:
        rationale.append(QUOTE_RESUME)
    return [
        Recommendation(
            rule_ids=tuple(rule_ids),
            concern="neutropenia",
            severity=severity,
            summary=summary,
            rationale=tuple(rationale),
            section=SECTION,
            inputs=tuple(inputs),
            actions=tuple(actions),
            selection="any",
            dose=changes[0] if changes else None,
        )
    ]


def thrombocytopenia(
    snapshot: PatientSnapshot, evaluation: Evaluation, orders: OrdersUnderReview
) -> list[Recommendation]:
    """R-PLT-LOW."""
    if not _applies(snapshot, evaluation, orders):
        return []
    platelets = usable_count(snapshot.platelets, "platelets", evaluation)
    if platelets is None:
        if usable_count(snapshot.anc, "anc", evaluation) is None:
            return []  # the neutropenia card already asks for the whole blood count
        return _counts_needed(snapshot, evaluation, anc_usable=True)
    low = platelets.is_below(LOW_PLATELETS_BELOW_PER_UL)
    if low is None:
        return [_exact_count_needed("thrombocytopenia", "R-PLT-LOW", "platelet count", platelets)]
    if not low:
        return []
    # The guideline leaves the choice (transfusion, modification, discontinuation) to the
    # clinician: the card names the lower step but proposes no order change of its own.
    _, step_text = step_down(snapshot, evaluation, OrdersUnderReview())
    new_cycle = evaluation.hook != "patient-view"
    # At a new cycle the order being signed would start it: the card says not to (section 5).
    summary = (
        f"Platelets {per_ul(platelets)}: do not start this cycle — transfusion; interrupt, reduce or stop lenalidomide"
        if new_cycle
        else f"Platelets {per_ul(platelets)}: platelet transfusion, interrupt or reduce lenalidomide, or discontinue"
    )
    return [
        Recommendation(
            rule_ids=("R-PLT-LOW",),
            concern="thrombocytopenia",
            severity="critical",
            summary=summary,
            rationale=(
                f"Platelet count **{per_ul(platelets)}** on {platelets.when.isoformat()} is below "
                f"{LOW_PLATELETS}: "
                + ("**do not start this cycle**; " if new_cycle else "")
                + "consider platelet transfusion and interrupt lenalidomide, reduce it, or discontinue it.",
                ("If it resumes at a lower dose: " if new_cycle else "If the dose is modified: ") + step_text,
                QUOTE_PLATELETS,
            ),
            section=SECTION,
            inputs=(count_input("platelets", platelets),),
        )
    ]


def delays_cycle(recommendation: Recommendation) -> bool:
    """Whether a card holds the next cycle back (R-NEUT-DELAY, R-NEUT-SEVERE or R-PLT-LOW on a
    count below its threshold). While one does, no card may offer a one-click change that
    lets the order being signed start the cycle (clinical rules section 5)."""
    return (
        recommendation.concern in ("neutropenia", "thrombocytopenia")
        and recommendation.severity != "info"
        and not recommendation.data_needed
        and bool({"R-NEUT-DELAY", "R-NEUT-SEVERE", "R-PLT-LOW"} & set(recommendation.rule_ids))
    )


def _reference_regimen(snapshot: PatientSnapshot, drafts: tuple[MedicationOrder, ...]) -> Regimen | None:
    """The dose a step down starts from: the current lenalidomide order's, else a draft's."""
    current = current_lenalidomide(snapshot)
    if current is not None:
        return current.regimen
    return next((d.regimen for d in drafts if d.regimen is not None and d.regimen.dose is not None), None)


def _lower_step(snapshot: PatientSnapshot, orders: OrdersUnderReview) -> Regimen | None:
    """One step below the current (or drafted) lenalidomide dose, for the card's words."""
    reference = _reference_regimen(snapshot, orders.lenalidomide)
    return one_step_lower(reference) if reference is not None else None


def step_down(
    snapshot: PatientSnapshot, evaluation: Evaluation, orders: OrdersUnderReview
) -> tuple[tuple[DoseChange, ...], str]:
    """One dose step below the dose the patient is on, as updates of the lenalidomide drafts
    under review, and the sentence explaining it.

    No update is proposed when kidney function is unknown (safety principle 1: the dose card
    asks for it), or when the lenalidomide dose card already recommends as low or lower (its
    renal ceiling): two cards must not propose two different doses for one draft.
    """
    drafts = orders.lenalidomide
    reference = _reference_regimen(snapshot, drafts)
    if reference is None or reference.dose is None:
        return (), "the current lenalidomide dose is not recorded, so the lower step cannot be named."
    target = one_step_lower(reference)
    if target is None:
        return (), (
            f"there is no dose step below {describe(reference)}: consider interrupting "
            "or discontinuing lenalidomide and discuss with a myeloma specialist."
        )
    text = f"one dose step lower: {describe(reference)} → **{describe(target)}**."
    if not drafts:
        return (), text + " Apply it to the next cycle's order."
    if usable_count(snapshot.platelets, "platelets", evaluation) is None:
        # No dose from an incomplete blood count: low platelets could call for less still.
        return (), text + " No change is proposed without a current platelet count."
    renal = assess_renal_function(snapshot, evaluation)
    if isinstance(renal, RenalDataNeeded):
        return (), text + " No change is proposed until kidney function is known (see the lenalidomide dose card)."
    dose_card = renal.tier.regimen  # during treatment the dose card is the renal ceiling
    card_daily, target_daily = daily_mg(dose_card), daily_mg(target)
    if card_daily is not None and target_daily is not None and card_daily <= target_daily:
        return (), text + (f" The lenalidomide dose card (kidney function) already recommends {describe(dose_card)}.")
    changes = []
    for draft in drafts:
        ordered = daily_mg(draft.regimen)
        if ordered is not None and target_daily is not None and ordered <= target_daily:
            continue  # the draft is already at or below the reduced dose
        changes.append(dose_change(draft, target, verb="Reduce to", description_note=" (one dose step lower)"))
    if not changes:
        return (), text + " The draft order is already at or below this dose."
    return tuple(changes), text


def _previous_count(history: tuple[Measurement, ...], latest: Measurement) -> Measurement | None:
    """The last count before the latest one's day, if within one cycle of it."""
    for count in history:
        if count.when < latest.when and count.value >= 0:
            if (latest.when - count.when).days <= PERSISTENCE_WITHIN_DAYS:
                return count
            return None
    return None


def _filgrastim(snapshot: PatientSnapshot, evaluation: Evaluation) -> tuple[NewMedication | None, str]:
    active = snapshot.orders_in_place(*G_CSF_DRUGS)
    if active:
        return None, f"G-CSF is already ordered ({active[0].display or active[0].drug})."
    weight = snapshot.weight
    if weight is not None and weight.value > 0 and is_fresh(weight, "weight", evaluation):
        dose: float | None = float(round(FILGRASTIM_UG_PER_KG * weight.value))
        arithmetic = f"Filgrastim {FILGRASTIM_DOSE} × {weight.value:g} kg = **{dose:g} µg** once daily."
        text = (
            f"Filgrastim {dose:g} µg ({FILGRASTIM_DOSE} × {weight.value:g} kg) subcutaneously once daily "
            f"until ANC recovers to ≥ {NEUTROPENIA}; round to the vial size per local practice"
        )
    else:
        dose = None
        arithmetic = f"Filgrastim {FILGRASTIM_DOSE} once daily: no current body weight, so no dose in µg is calculated."
        text = (
            f"Filgrastim {FILGRASTIM_DOSE} subcutaneously once daily until ANC recovers to ≥ {NEUTROPENIA} "
            "(weigh the patient to calculate the dose)"
        )
    regimen = Regimen(
        dose=dose, dose_unit="ug" if dose is not None else None, every_hours=24.0, route="subcutaneous", text=text
    )
    return NewMedication(
        drug="filgrastim",
        regimen=regimen,
        label=f"Start filgrastim {f'{dose:g} µg' if dose is not None else FILGRASTIM_DOSE} SC daily",
        description=text,
        recommended=True,
    ), arithmetic


def _counts_needed(snapshot: PatientSnapshot, evaluation: Evaluation, anc_usable: bool = False) -> list[Recommendation]:
    """Order hooks only: a new cycle cannot be judged without a current count. On
    patient-view the blood-count monitoring card (R-MON-CBC) says when one is due."""
    if evaluation.hook == "patient-view":
        return []
    missing: list[str] = []
    seen: list[InputUsed] = []
    for name, label, count in (("anc", "ANC", snapshot.anc), ("platelets", "platelet count", snapshot.platelets)):
        if name == "anc" and anc_usable:
            continue
        if count is None:
            missing.append(label)
        else:
            note = staleness_note(count, name, evaluation) if count.value >= 0 else "not a valid count"
            missing.append(f"a current {label} (last {per_ul(count)} is {note})")
            seen.append(count_input(f"{label} (not usable)", count))
    platelets_only = anc_usable
    return [
        Recommendation(
            rule_ids=("R-PLT-LOW",) if platelets_only else ("R-NEUT-DELAY", "R-PLT-LOW"),
            concern="thrombocytopenia" if platelets_only else "neutropenia",
            severity="warning",
            summary="New lenalidomide cycle: "
            + ("a current platelet count is needed" if platelets_only else "a current CBC with differential is needed")
            + " before it starts",
            rationale=(
                "Missing: " + "; ".join(missing) + ".",
                f"A cycle starts only with ANC ≥ {NEUTROPENIA}, and platelets < {LOW_PLATELETS} call for "
                "transfusion, interruption or a lower dose; **no decision is suggested** without "
                "current counts.",
                QUOTE_PLATELETS if platelets_only else QUOTE_NEUTROPENIA,
            ),
            section=SECTION,
            inputs=tuple(seen),
            data_needed=("platelet count",) if platelets_only else ("complete blood count with differential",),
        )
    ]


def _exact_count_needed(concern: str, rule_id: str, label: str, count: Measurement) -> Recommendation:
    return Recommendation(
        rule_ids=(rule_id,),
        concern=concern,
        severity="warning",
        summary=f"{label.capitalize()} reported as {per_ul(count)}: an exact count is needed to judge lenalidomide toxicity",
        rationale=(
            f"The {label} on {count.when.isoformat()} was reported as a bound ({per_ul(count)}), "
            "which does not tell on which side of the guideline's threshold it lies.",
            QUOTE_NEUTROPENIA if concern == "neutropenia" else QUOTE_PLATELETS,
        ),
        section=SECTION,
        inputs=(count_input(label, count),),
        data_needed=(f"an exact {label}",),
    )

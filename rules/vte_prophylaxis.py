"""Venous thromboembolism: prophylaxis by the guideline's Table 3, and an active DVT/PE.

Guideline (Venous thromboembolism): "all patients to be treated with lenalidomide/
dexamethasone therapy for RRMM should be assessed for their additional risk of VTE, with
platelet counts checked prior to the start of therapy and the appropriate method of
thromboprophylaxis considered (Table 3)."

One family, two concerns: 'vte-treatment' (R-VTE-ACTIVE) when an active DVT/PE is not
anticoagulated — then no prophylaxis card — and otherwise 'vte-prophylaxis' (R-VTE-HIGH,
R-VTE-STANDARD or R-VTE-NONE, with the IMPEDE VTE score, R-VTE-IMPEDE, in the detail).

Decisions documented here:
- A therapeutic anticoagulant is an active warfarin, rivaroxaban, apixaban, dabigatran or
  edoxaban order, or heparin/enoxaparin/dalteparin above the prophylactic daily amount (Table
  3's enoxaparin 40 mg, dalteparin 5,000 IU; unfractionated heparin 15,000 IU, i.e. 5,000 IU
  every 8 hours). With one active, the patient is anticoagulated: no VTE card at all.
- Prophylaxis already in place and fitting the tier (an LMWH or heparin for the high tier,
  or aspirin after the first 4 cycles; aspirin or an LMWH for the standard tier) gets no card:
  matching orders get no noise.
- Heparin-type orders of unknown dose count as prophylaxis in place, but not as treatment of
  an active DVT/PE (the card then asks to confirm a treatment dose).

Bleeding risk before a treatment dose (R-VTE-ACTIVE). The guideline asks to weigh "risk of
bleeding" before anticoagulation, and its Table 4 counts platelets < 100,000/µL, active
bleeding and a recent CNS bleed among the bleeding risks. A one-click suggestion must never be
a full-dose anticoagulant against them, so:
- platelets < 50,000/µL, or an active "active-bleeding" or "intracranial-bleed" condition: no
  anticoagulant suggestion; the card says the decision is a specialist's (platelet support, a
  reduced dose, or a retrievable IVC filter only during an absolute contraindication);
- platelets 50,000 to < 100,000/µL: the enoxaparin suggestion is offered but not
  pre-selected, with the bleeding caution;
- no current platelet count (missing, stale or not a count), or a reported bound that leaves
  the 50,000/µL question open: the bleeding risk cannot be weighed, so no anticoagulant is
  suggested and the card asks for the count — rather than a pre-selected full dose, or an
  unselected one that still invites a click. A bound that leaves only the 100,000/µL question
  open (e.g. ">60,000") gets the 50,000–100,000 treatment;
- on dialysis: unfractionated heparin is preferred (enoxaparin is not studied there), dosed
  by the local weight-based aPTT/anti-Xa protocol, so there is no one-click order;
- CrCl < 30 mL/min: enoxaparin 1 mg/kg once daily with anti-factor-Xa monitoring;
- a treatment dose is weight-based and kidney-adjusted: without a fresh, exact weight or with
  kidney function unknown there is no suggestion, and the card names what is missing.
The card places the clot in the course: "during lenalidomide treatment" only with an active
lenalidomide order; "before starting lenalidomide" for a first draft; "before resuming
lenalidomide" for a draft after earlier, no longer active orders.

Prophylactic warfarin (R-VTE-HIGH) below 50,000 platelets/µL is what Table 3 says, but it is
still an anticoagulant at a bleeding risk: the card adds the caution and the suggestion is not
pre-selected.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import date
from enum import IntEnum

from rules.catalogue import rule
from rules.dexamethasone import HIGH_DOSE_MG_PER_CYCLE
from rules.dose_ladder import ONCE_DAILY_HOURS
from rules.freshness import is_fresh, staleness_note
from rules.hematologic_toxicity import count_input, per_ul, usable_count
from rules.model import (
    ClinicalCondition,
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
from rules.renal import (
    BELOW_30_TIER_IDS,
    DIALYSIS_TIER,
    RENAL_TIERS,
    RenalDataNeeded,
    RenalFunction,
    assess_renal_function,
)
from rules.treatment_course import in_first_cycles, on_lenalidomide, treated_before, under_treatment

SECTION = rule("R-VTE-HIGH").section  # "Venous thromboembolism"
ACTIVE_SECTION = rule("R-VTE-ACTIVE").section  # "Pulmonary thromboembolism and deep vein thrombosis"

# R-VTE-HIGH (guideline: Venous thromboembolism, Table 3): "Recent VTE within 6 months".
# Six months = 365.25 / 2 = 182.6 days, taken as 183: onset 183 days ago is recent, 184 is not.
RECENT_VTE_WITHIN_DAYS = 183
# R-VTE-HIGH, Table 3: "LMWH (enoxaparin 40 mg or dalteparin 5,000 IU daily), or warfarin
# (INR 2-3) if ClCr <30 mL/min or platelets <50,000/µL. Duration: first 4 cycles then switch to
# aspirin 100 mg daily." (CrCl < 30 is the severe tier of renal.RENAL_TIERS.)
ENOXAPARIN_PROPHYLAXIS_MG = 40.0
DALTEPARIN_PROPHYLAXIS_IU = 5_000.0
WARFARIN_INSTEAD_PLATELETS_BELOW_PER_UL = 50_000.0
WARFARIN_INR_TARGET = "2–3"
LMWH_CYCLES = 4
# R-VTE-STANDARD, Table 3: "Aspirin 100 mg daily with cautious monitoring of bleeding";
# R-VTE-NONE: "No VTE risk or platelets <100,000/µL: No prophylaxis".
ASPIRIN_MG = 100.0
PROPHYLAXIS_PLATELETS_BELOW_PER_UL = 100_000.0
# R-VTE-STANDARD, Table 3 footnote b: "Elderly patients aged ≥75 years, history of VTE, ECOG PS
# 2 or more, ... body mass index ≥30 kg/m2".
ELDERLY_AGE_AT_LEAST = 75
ECOG_AT_LEAST = 2.0
BMI_AT_LEAST = 30.0
# Service choice: unfractionated heparin up to 5,000 IU every 8 hours is prophylaxis.
HEPARIN_PROPHYLAXIS_MAX_IU_PER_DAY = 15_000.0
# R-VTE-ACTIVE (guideline: Pulmonary thromboembolism and deep vein thrombosis): "LMWH is
# recommended preferentially over warfarin or new oral anticoagulants in the treatment of
# PTE/DVT." Treatment dose from the enoxaparin prescribing information: 1 mg/kg every 12
# hours; once daily when CrCl < 30 mL/min.
ENOXAPARIN_TREATMENT_MG_PER_KG = 1.0
ENOXAPARIN_TREATMENT_EVERY_HOURS = 12.0
# R-VTE-ACTIVE, enoxaparin prescribing information: in the severe tier (CrCl < 30 mL/min) the
# 1 mg/kg dose is given once daily, with anti-factor-Xa monitoring; enoxaparin is not studied
# on dialysis, where unfractionated heparin is preferred.
ENOXAPARIN_SEVERE_RENAL_EVERY_HOURS = ONCE_DAILY_HOURS
# R-VTE-ACTIVE (guideline: Pulmonary thromboembolism and deep vein thrombosis): "risk of
# bleeding ... should be considered before the start of anticoagulation"; Table 4, footnote a,
# counts "platelets <100,000/µL" among the bleeding risks — the bound of Table 3's "No
# prophylaxis". Below it the treatment dose is offered, not pre-selected.
BLEEDING_RISK_PLATELETS_BELOW_PER_UL = PROPHYLAXIS_PLATELETS_BELOW_PER_UL
# R-VTE-ACTIVE: below Table 3's warfarin bound the bleeding risk of a full dose is a specialist
# decision, as are active bleeding and a recent CNS bleed (Table 4, footnotes a and b: the
# period of absolute contraindication, when only a retrievable IVC filter is considered).
SPECIALIST_PLATELETS_BELOW_PER_UL = WARFARIN_INSTEAD_PLATELETS_BELOW_PER_UL
BLEEDING_CONTRAINDICATIONS: tuple[tuple[str, str], ...] = (
    ("active-bleeding", "active bleeding"),
    ("intracranial-bleed", "recent intracranial bleed"),
)

ORAL_ANTICOAGULANTS = ("warfarin", "rivaroxaban", "apixaban", "dabigatran", "edoxaban")
HEPARINS = ("enoxaparin", "dalteparin", "heparin")
PROPHYLACTIC_DAILY_AMOUNT: dict[str, tuple[str, float]] = {
    "enoxaparin": ("mg", ENOXAPARIN_PROPHYLAXIS_MG),
    "dalteparin": ("IU", DALTEPARIN_PROPHYLAXIS_IU),
    "heparin": ("IU", HEPARIN_PROPHYLAXIS_MAX_IU_PER_DAY),
}
VTE_CATEGORIES = ("dvt", "pe", "vte")
KIDNEY_DISEASE_CATEGORIES = ("ckd", "esrd", "dialysis", "renal-failure")
ESA_DRUGS = ("epoetin", "darbepoetin")
# Table 3 footnote b comorbidities, by the condition categories of rules.model.
COMORBIDITIES: tuple[tuple[str, str], ...] = (
    ("active-infection", "infection"),
    ("pulmonary-disease", "pulmonary disease"),
    ("heart-failure", "congestive heart failure"),
    ("arterial-thromboembolism", "arterial thromboembolism"),
    ("thrombophilia", "thrombophilia"),
)

# R-VTE-IMPEDE (beyond the guideline, informational): the IMPEDE VTE score (Sanfilippo et al.,
# Am J Hematol 2019), validated for myeloma on immunomodulatory drugs.
IMPEDE_IMID = 4
IMPEDE_BMI_AT_LEAST = 25.0
IMPEDE_BMI = 1
IMPEDE_FRACTURE = 4
IMPEDE_ESA = 1
IMPEDE_DEX_HIGH_ABOVE_MG_PER_MONTH = 160.0
IMPEDE_DEX_HIGH = 4
IMPEDE_DEX_LOW = 2
IMPEDE_DOXORUBICIN = 3
IMPEDE_ASIAN = -3
IMPEDE_VTE_HISTORY = 5
IMPEDE_CENTRAL_LINE = 2
IMPEDE_THERAPEUTIC_ANTICOAGULATION = -5
IMPEDE_PROPHYLAXIS = -3
IMPEDE_LOW_AT_MOST = 3
IMPEDE_HIGH_AT_LEAST = 8

# CrCl bounds are renal.RENAL_TIERS': "renal disease" is anything below the normal tier (< 60),
# and warfarin replaces LMWH in the severe tier (below the moderate tier's lower bound, < 30).
_TIERS = {tier.rule_id: tier for tier in RENAL_TIERS}
RENAL_DISEASE_BELOW_ML_MIN = _TIERS["R-RENAL-NORMAL"].lower_ml_min
SEVERE_RENAL_BELOW_ML_MIN = _TIERS["R-RENAL-MODERATE"].lower_ml_min
SEVERE_RENAL_TIERS = BELOW_30_TIER_IDS

# The thresholds as cards write them.
CRCL_SEVERE = f"CrCl < {SEVERE_RENAL_BELOW_ML_MIN:g} mL/min"
WARFARIN_PLATELETS = f"{WARFARIN_INSTEAD_PLATELETS_BELOW_PER_UL:,.0f}/µL"
PROPHYLAXIS_PLATELETS = f"{PROPHYLAXIS_PLATELETS_BELOW_PER_UL:,.0f}/µL"
ENOXAPARIN_TREATMENT = f"{ENOXAPARIN_TREATMENT_MG_PER_KG:g} mg/kg"
BLEEDING_RISK_PLATELETS = f"{BLEEDING_RISK_PLATELETS_BELOW_PER_UL:,.0f}/µL"
SPECIALIST_PLATELETS = f"{SPECIALIST_PLATELETS_BELOW_PER_UL:,.0f}/µL"

# Table 3, row by row: a card quotes the row it applies, not the whole table.
QUOTE_TABLE_3 = {
    "R-VTE-HIGH": (
        "Guideline, Table 3: recent VTE within 6 months, immobilization or lenalidomide/high-dose "
        'dexamethasone → "LMWH (enoxaparin 40 mg or dalteparin 5,000 IU daily), or warfarin (INR '
        "2-3) if ClCr <30 mL/min or platelets <50,000/µL. Duration: first 4 cycles then switch to "
        'aspirin 100 mg daily".'
    ),
    "R-VTE-STANDARD": (
        'Guideline, Table 3: other risk of VTE and platelets ≥100,000/µL → "Aspirin 100 mg daily '
        'with cautious monitoring of bleeding".'
    ),
    "R-VTE-NONE": (
        'Guideline, Table 3: no VTE risk or platelets <100,000/µL → "No prophylaxis with close '
        'monitoring of VTE-related symptoms".'
    ),
}
QUOTE_ACTIVE = (
    'Guideline (*Pulmonary thromboembolism and deep vein thrombosis*): "Anticoagulation is the '
    "standard treatment when patients develop pulmonary thromboembolism (PTE) and/or DVT during "
    'lenalidomide/dexamethasone treatment." "LMWH is recommended preferentially over warfarin '
    'or new oral anticoagulants in the treatment of PTE/DVT."'
)
QUOTE_TABLE_4 = (
    'Guideline, Table 4 (cancer-associated VTE): bleeding risk includes "platelets <100,000/µL; '
    'active bleeding; bleeding diathesis"; "Retrievable IVC filter: Only considered if patient '
    'is during the period of absolute contraindication to anticoagulation" ("Recent CNS bleed; '
    "intracranial or spinal lesion at high risk for bleeding; active bleeding with more than 2 "
    'units transfused in 24 hours").'
)


class VteTier(IntEnum):
    NONE = 0
    STANDARD = 1
    HIGH = 2


@dataclass(frozen=True)
class VteRisk:
    """The Table 3 assessment."""

    tier: VteTier | None
    """None: risk factors of the standard tier but no current platelet count to decide."""
    high: tuple[str, ...]
    standard: tuple[str, ...]
    platelets: Measurement | None
    """The current platelet count, when usable (it also decides warfarin over LMWH)."""
    renal: RenalFunction | RenalDataNeeded
    inputs: tuple[InputUsed, ...]
    notes: tuple[str, ...]


@dataclass(frozen=True)
class Anticoagulation:
    therapeutic: tuple[MedicationOrder, ...]
    prophylactic: tuple[MedicationOrder, ...]
    """Heparin-type orders at or below the prophylactic amount, or of unknown dose."""
    aspirin: tuple[MedicationOrder, ...]


def venous_thromboembolism(
    snapshot: PatientSnapshot, evaluation: Evaluation, orders: OrdersUnderReview
) -> list[Recommendation]:
    """R-VTE-ACTIVE, else R-VTE-HIGH / R-VTE-STANDARD / R-VTE-NONE with R-VTE-IMPEDE."""
    if evaluation.hook == "patient-view":
        if not on_lenalidomide(snapshot):
            return []
    elif not (orders.lenalidomide or on_lenalidomide(snapshot)):
        return []  # a dexamethasone order alone, with no lenalidomide: not this guideline's case
    anticoagulation = active_anticoagulation(snapshot)
    if anticoagulation.therapeutic:
        return []  # already anticoagulated: neither prophylaxis nor a treatment card
    active = active_vte(snapshot, evaluation.today)
    if active and under_treatment(snapshot, orders):
        return [_active_vte_card(snapshot, evaluation, active, anticoagulation)]
    return _prophylaxis_card(snapshot, evaluation, orders, anticoagulation)


# --- the Table 3 assessment ------------------------------------------------------------------


def vte_risk(snapshot: PatientSnapshot, evaluation: Evaluation, orders: OrdersUnderReview) -> VteRisk:
    high: list[str] = []
    standard: list[str] = []
    inputs: list[InputUsed] = []
    notes: list[str] = []
    today = evaluation.today

    for condition in snapshot.conditions_in(*VTE_CATEGORIES):
        when = condition_date(condition)
        if when is not None and (today - when).days <= RECENT_VTE_WITHIN_DAYS:
            high.append(f"recent VTE ({condition.category.upper()} {when.isoformat()}, within 6 months)")
        else:
            standard.append(
                f"history of VTE ({condition.category.upper()}"
                + (f" {when.isoformat()}" if when else ", date not recorded")
                + ")"
            )
        inputs.append(InputUsed("VTE", condition.display or condition.category, when))
    if snapshot.has_condition("immobilization"):
        high.append("immobilization")
    dex_mg, dex_note = dexamethasone_mg_per_cycle(snapshot, orders)
    if dex_note:
        inputs.append(InputUsed("dexamethasone", dex_note))
    if dex_mg is not None and dex_mg >= HIGH_DOSE_MG_PER_CYCLE:
        high.append(f"high-dose dexamethasone ({dex_mg:g} mg per 28-day cycle, ≥ {HIGH_DOSE_MG_PER_CYCLE:g})")
    elif dex_mg is None and dex_note:
        notes.append(
            f"The dexamethasone dose could not be read: high-dose (≥ {HIGH_DOSE_MG_PER_CYCLE:g} mg per cycle) "
            "would place the patient in the LMWH tier."
        )

    age = snapshot.age_on(today)
    if age is not None and age >= ELDERLY_AGE_AT_LEAST:
        standard.append(f"age {age} (≥ {ELDERLY_AGE_AT_LEAST})")
    ecog = snapshot.ecog
    if ecog is not None and is_fresh(ecog, "ecog", evaluation) and ecog.is_below(ECOG_AT_LEAST) is False:
        standard.append(f"ECOG performance status {ecog.value:g} (≥ {ECOG_AT_LEAST:g})")
        inputs.append(InputUsed("ECOG", f"{ecog.value:g}", ecog.when))
    for category, words in COMORBIDITIES:
        if snapshot.has_condition(category):
            standard.append(words)
    renal = assess_renal_function(snapshot, evaluation)
    kidney = [c for c in snapshot.conditions_in(*KIDNEY_DISEASE_CATEGORIES) if c.active]
    if kidney:
        standard.append(f"renal disease ({kidney[0].category})")
    elif isinstance(renal, RenalFunction) and renal.tier is not RENAL_TIERS[0]:
        clearance = (
            f"CrCl {renal.clearance_ml_min:.1f} mL/min" if renal.clearance_ml_min is not None else renal.tier.name
        )
        standard.append(f"renal disease ({clearance}, < {RENAL_DISEASE_BELOW_ML_MIN:g})")
    elif isinstance(renal, RenalDataNeeded):
        notes.append(
            f"Kidney function is unknown: CrCl < {RENAL_DISEASE_BELOW_ML_MIN:g} mL/min would be a further risk factor."
        )
    if isinstance(renal, RenalFunction):
        inputs.extend(renal.inputs)
    esa = snapshot.active_orders_of(*ESA_DRUGS)
    if esa:
        standard.append(f"erythropoietin therapy ({esa[0].drug})")
    bmi, bmi_input = body_mass_index(snapshot, evaluation)
    if bmi_input is not None:
        inputs.append(bmi_input)
    if bmi is not None and bmi >= BMI_AT_LEAST:
        standard.append(f"BMI {bmi:.1f} kg/m² (≥ {BMI_AT_LEAST:g})")

    platelets = usable_count(snapshot.platelets, "platelets", evaluation)
    platelets_low: bool | None = None
    if platelets is not None:
        inputs.append(count_input("platelets", platelets))
        platelets_low = platelets.is_below(PROPHYLAXIS_PLATELETS_BELOW_PER_UL)
    tier: VteTier | None
    if high:
        tier = VteTier.HIGH
    elif not standard or platelets_low:
        tier = VteTier.NONE
    elif platelets_low is False:
        tier = VteTier.STANDARD
    else:
        tier = None
    return VteRisk(tier, tuple(high), tuple(standard), platelets, renal, tuple(inputs), tuple(notes))


def condition_date(condition: ClinicalCondition) -> date | None:
    return condition.onset or condition.recorded


def active_vte(snapshot: PatientSnapshot, today: date) -> tuple[ClinicalCondition, ...]:
    """Active DVT/PE/VTE conditions with a recent onset (a problem-list entry left 'active'
    for years is history, not a clot to treat now)."""
    return tuple(
        c
        for c in snapshot.conditions_in(*VTE_CATEGORIES)
        if c.active and (when := condition_date(c)) is not None and (today - when).days <= RECENT_VTE_WITHIN_DAYS
    )


def dexamethasone_mg_per_cycle(snapshot: PatientSnapshot, orders: OrdersUnderReview) -> tuple[float | None, str]:
    """The dexamethasone of the drafts under review, else of the active orders: mg per 28-day
    cycle (the most of them) and how it was found ('' when there is none)."""
    candidates = orders.dexamethasone or snapshot.active_orders_of("dexamethasone")
    if not candidates:
        return None, ""
    amounts = [m.regimen.mg_per_cycle() for m in candidates if m.regimen is not None]
    known = [a for a in amounts if a is not None and a > 0]
    source = "draft order" if orders.dexamethasone else "active order"
    if not known:
        return None, f"{source}, dose not readable"
    return max(known), f"{max(known):g} mg per 28-day cycle ({source})"


def body_mass_index(snapshot: PatientSnapshot, evaluation: Evaluation) -> tuple[float | None, InputUsed | None]:
    bmi = snapshot.bmi
    if bmi is not None and bmi.value > 0 and bmi.comparator is None and is_fresh(bmi, "bmi", evaluation):
        return bmi.value, InputUsed("BMI", f"{bmi.value:.1f} kg/m²", bmi.when, bmi.original)
    weight, height = snapshot.weight, snapshot.height
    if (
        weight is None
        or height is None
        or weight.value <= 0
        or not is_fresh(weight, "weight", evaluation)
        or not is_fresh(height, "height", evaluation)
    ):
        return None, None
    square_m = (height.value / 100.0) ** 2
    if not 0 < square_m < math.inf:  # a height of 0, or one so small its square underflows
        return None, None
    value = weight.value / square_m
    return value, InputUsed(
        "BMI", f"{value:.1f} kg/m² ({weight.value:g} kg / ({height.value / 100.0:.2f} m)²)", weight.when
    )


def active_anticoagulation(snapshot: PatientSnapshot) -> Anticoagulation:
    therapeutic = list(snapshot.orders_in_place(*ORAL_ANTICOAGULANTS))
    prophylactic = []
    for order in snapshot.orders_in_place(*HEPARINS):
        unit, limit = PROPHYLACTIC_DAILY_AMOUNT[order.drug]
        regimen = order.regimen
        daily = None
        if regimen is not None and regimen.dose is not None and regimen.dose_unit == unit:
            daily = (
                regimen.dose * 24.0 / regimen.every_hours if regimen.every_hours and regimen.every_hours > 0 else None
            )
        if daily is not None and daily > limit:
            therapeutic.append(order)
        else:
            prophylactic.append(order)
    return Anticoagulation(tuple(therapeutic), tuple(prophylactic), snapshot.orders_in_place("aspirin"))


# --- IMPEDE ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImpedeScore:
    points: int
    category: str
    items: tuple[tuple[str, int], ...]
    notes: tuple[str, ...]

    def paragraph(self) -> str:
        terms = " ".join(f"{'+' if p >= 0 else '−'} {abs(p)} ({name})" for name, p in self.items)
        return " ".join(
            (
                f"IMPEDE VTE score **{self.points} ({self.category} risk)**: {terms.lstrip('+ ')} "
                f"= {self.points}. Low ≤ {IMPEDE_LOW_AT_MOST}, intermediate {IMPEDE_LOW_AT_MOST + 1}–"
                f"{IMPEDE_HIGH_AT_LEAST - 1}, high ≥ {IMPEDE_HIGH_AT_LEAST}.",
                *self.notes,
                "Informational (validated in myeloma on immunomodulatory drugs, beyond the "
                "guideline): it does not change the Table 3 recommendation.",
            )
        )


def impede_score(
    snapshot: PatientSnapshot, evaluation: Evaluation, orders: OrdersUnderReview, anticoagulation: Anticoagulation
) -> ImpedeScore:
    items: list[tuple[str, int]] = [("immunomodulatory drug", IMPEDE_IMID)]
    notes: list[str] = []
    bmi, _ = body_mass_index(snapshot, evaluation)
    if bmi is None:
        notes.append("BMI unknown (counted 0).")
    elif bmi >= IMPEDE_BMI_AT_LEAST:
        items.append((f"BMI {bmi:.1f} ≥ {IMPEDE_BMI_AT_LEAST:g}", IMPEDE_BMI))
    if snapshot.has_condition("pelvic-hip-femur-fracture"):
        items.append(("pelvic, hip or femur fracture", IMPEDE_FRACTURE))
    if snapshot.active_orders_of(*ESA_DRUGS):
        items.append(("erythropoiesis-stimulating agent", IMPEDE_ESA))
    dex_mg, dex_note = dexamethasone_mg_per_cycle(snapshot, orders)
    if dex_mg is not None and dex_mg > IMPEDE_DEX_HIGH_ABOVE_MG_PER_MONTH:
        items.append(
            (f"high-dose dexamethasone, {dex_mg:g} mg/month > {IMPEDE_DEX_HIGH_ABOVE_MG_PER_MONTH:g}", IMPEDE_DEX_HIGH)
        )
    elif dex_note:
        items.append(("low-dose dexamethasone" + (", dose not readable" if dex_mg is None else ""), IMPEDE_DEX_LOW))
    if snapshot.active_orders_of("doxorubicin"):
        items.append(("doxorubicin", IMPEDE_DOXORUBICIN))
    if snapshot.has_condition("asian-ethnicity", active_only=False):
        items.append(("Asian ethnicity", IMPEDE_ASIAN))
    else:
        notes.append(
            "Asian ethnicity (−3) is counted only when recorded, and it rarely is: for a "
            "Korean patient the score is 3 points lower."
        )
    if snapshot.conditions_in(*VTE_CATEGORIES):
        items.append(("history of VTE", IMPEDE_VTE_HISTORY))
    if snapshot.has_condition("central-venous-catheter"):
        items.append(("tunneled line or central venous catheter", IMPEDE_CENTRAL_LINE))
    if anticoagulation.therapeutic:
        items.append(("therapeutic anticoagulation", IMPEDE_THERAPEUTIC_ANTICOAGULATION))
    elif anticoagulation.prophylactic or anticoagulation.aspirin:
        items.append(("thromboprophylaxis in place", IMPEDE_PROPHYLAXIS))
    points = sum(p for _, p in items)
    category = "low" if points <= IMPEDE_LOW_AT_MOST else "high" if points >= IMPEDE_HIGH_AT_LEAST else "intermediate"
    return ImpedeScore(points, category, tuple(items), tuple(notes))


# --- cards -----------------------------------------------------------------------------------


def _prophylaxis_card(
    snapshot: PatientSnapshot,
    evaluation: Evaluation,
    orders: OrdersUnderReview,
    anticoagulation: Anticoagulation,
) -> list[Recommendation]:
    risk = vte_risk(snapshot, evaluation, orders)
    impede = impede_score(snapshot, evaluation, orders, anticoagulation)
    in_place = anticoagulation.prophylactic + anticoagulation.aspirin
    in_place_text = ", ".join(m.display or m.drug for m in in_place)
    view = evaluation.hook == "patient-view"

    def card(
        rule_id: str,
        severity: Severity,
        summary: str,
        finding: str,
        actions: tuple[NewMedication, ...] = (),
        data_needed: tuple[str, ...] = (),
    ) -> list[Recommendation]:
        rationale = [finding] + list(risk.notes) + [impede.paragraph(), QUOTE_TABLE_3[rule_id]]
        bleeding = bleeding_contraindications(snapshot, None)
        if bleeding and actions:
            # Prophylaxis of any kind for a patient who is bleeding is the clinician's decision:
            # offered, never pre-selected (safety principle 1).
            actions = tuple(replace(a, recommended=False) for a in actions)
            rationale.insert(
                1,
                f"**Bleeding**: {', '.join(bleeding)} on record — weigh prophylaxis with the "
                "treating specialist; the suggestion is not pre-selected.",
            )
        return [
            Recommendation(
                rule_ids=(rule_id, "R-VTE-IMPEDE"),
                concern="vte-prophylaxis",
                severity=severity,
                summary=summary,
                rationale=tuple(rationale),
                section=SECTION,
                inputs=risk.inputs,
                actions=actions,
                selection="at-most-one" if len(actions) > 1 else "any",
                data_needed=data_needed,
            )
        ]

    factors_text = "; ".join(risk.high + risk.standard)
    platelet_text = per_ul(risk.platelets) if risk.platelets is not None else "unknown"
    if risk.tier is VteTier.HIGH:
        finding = f"**High VTE risk** (Table 3): {'; '.join(risk.high)}."
        if risk.standard:
            finding += f" Other risk factors: {'; '.join(risk.standard)}."
        lmwh = anticoagulation.prophylactic
        beyond_lmwh_cycles = not in_first_cycles(snapshot, evaluation.today, LMWH_CYCLES)
        if lmwh or (beyond_lmwh_cycles and anticoagulation.aspirin):
            return []  # prophylaxis of this tier is in place
        low_platelets = (
            risk.platelets.is_below(WARFARIN_INSTEAD_PLATELETS_BELOW_PER_UL) if risk.platelets is not None else None
        )
        if low_platelets is None:
            return card(
                "R-VTE-HIGH",
                "warning",
                "High VTE risk: LMWH or warfarin prophylaxis — a current platelet count is needed to choose",
                finding + " Without a current, exact platelet count **no anticoagulant is "
                f"suggested** (warfarin instead of LMWH below {WARFARIN_PLATELETS}).",
                data_needed=("platelet count",),
            )
        severe_renal = isinstance(risk.renal, RenalFunction) and risk.renal.tier.rule_id in SEVERE_RENAL_TIERS
        if not low_platelets and isinstance(risk.renal, RenalDataNeeded):
            return card(
                "R-VTE-HIGH",
                "warning",
                f"High VTE risk: LMWH prophylaxis — kidney function needed first (warfarin if {CRCL_SEVERE})",
                finding
                + " Kidney function is unknown ("
                + "; ".join(risk.renal.missing)
                + "), so **no anticoagulant is suggested**: LMWH is replaced by warfarin "
                f"when {CRCL_SEVERE}.",
                data_needed=("serum creatinine", "body weight"),
            )
        then_aspirin = f"for the first {LMWH_CYCLES} cycles, then aspirin {ASPIRIN_MG:g} mg daily"
        if low_platelets or severe_renal:
            why = f"platelets < {WARFARIN_PLATELETS}" if low_platelets else CRCL_SEVERE
            text = f"Warfarin orally once daily, dose adjusted to INR {WARFARIN_INR_TARGET}, {then_aspirin}"
            warfarin = NewMedication(
                drug="warfarin",
                regimen=Regimen(dose=None, every_hours=24.0, route="oral", text=text),
                label=f"Start warfarin (dose to INR {WARFARIN_INR_TARGET})",
                description=text,
                recommended=not low_platelets,
            )
            caution = _warfarin_bleeding_caution(risk.platelets) if low_platelets and risk.platelets else ""
            return card(
                "R-VTE-HIGH",
                "warning",
                f"High VTE risk ({why}): warfarin to INR {WARFARIN_INR_TARGET} {then_aspirin}"
                + (" — weigh bleeding risk" if caution else ""),
                finding + f" With {why}, Table 3 gives warfarin (INR {WARFARIN_INR_TARGET}) instead of LMWH." + caution,
                actions=(warfarin,),
            )
        enoxaparin_text = f"Enoxaparin {ENOXAPARIN_PROPHYLAXIS_MG:g} mg subcutaneously once daily {then_aspirin}"
        dalteparin_text = f"Dalteparin {DALTEPARIN_PROPHYLAXIS_IU:,.0f} IU subcutaneously once daily {then_aspirin}"
        choices = (
            NewMedication(
                "enoxaparin",
                Regimen(ENOXAPARIN_PROPHYLAXIS_MG, "mg", 24.0, route="subcutaneous", text=enoxaparin_text),
                f"Start enoxaparin {ENOXAPARIN_PROPHYLAXIS_MG:g} mg SC daily",
                enoxaparin_text,
                True,
            ),
            NewMedication(
                "dalteparin",
                Regimen(DALTEPARIN_PROPHYLAXIS_IU, "IU", 24.0, route="subcutaneous", text=dalteparin_text),
                f"Start dalteparin {DALTEPARIN_PROPHYLAXIS_IU:,.0f} IU SC daily",
                dalteparin_text,
                False,
            ),
        )
        aspirin_note = (
            f" Aspirin is active ({in_place_text}): it is the prophylaxis after the LMWH cycles."
            if anticoagulation.aspirin
            else ""
        )
        return card(
            "R-VTE-HIGH",
            "warning",
            f"High VTE risk: enoxaparin {ENOXAPARIN_PROPHYLAXIS_MG:g} mg or dalteparin "
            f"{DALTEPARIN_PROPHYLAXIS_IU:,.0f} IU SC daily {then_aspirin}",
            finding + aspirin_note,
            actions=choices,
        )

    if risk.tier is VteTier.STANDARD:
        if in_place:
            return []  # aspirin or an LMWH is in place
        text = (
            f"Aspirin {ASPIRIN_MG:g} mg orally once daily for the duration of lenalidomide/"
            "dexamethasone, with cautious monitoring of bleeding"
        )
        aspirin = NewMedication(
            "aspirin",
            Regimen(ASPIRIN_MG, "mg", 24.0, route="oral", text=text),
            f"Start aspirin {ASPIRIN_MG:g} mg daily",
            text,
            True,
        )
        return card(
            "R-VTE-STANDARD",
            "warning",
            f"VTE risk ({_short(risk.standard)}): aspirin {ASPIRIN_MG:g} mg daily throughout treatment",
            f"**VTE risk factor(s)** (Table 3, footnote b): {factors_text}; platelets "
            f"{platelet_text} ≥ {PROPHYLAXIS_PLATELETS}.",
            actions=(aspirin,),
        )

    if risk.tier is None:  # standard-tier factors, no current platelet count
        if view:
            return []  # the blood-count monitoring card asks for the count
        return card(
            "R-VTE-STANDARD",
            "warning",
            "VTE risk factor present: a current platelet count is needed to decide on aspirin prophylaxis",
            f"**VTE risk factor(s)**: {factors_text}. Aspirin is given only with platelets "
            f"≥ {PROPHYLAXIS_PLATELETS}; without a current count **no prophylaxis is suggested**.",
            data_needed=("platelet count",),
        )

    # VteTier.NONE: an order-hook card only (R-VTE-NONE is not a patient-view rule).
    if view:
        return []
    if risk.standard:
        finding = (
            f"VTE risk factor(s): {factors_text}, but platelets {platelet_text} < {PROPHYLAXIS_PLATELETS}: "
            "no prophylaxis; monitor closely for VTE symptoms."
        )
        summary = f"No VTE prophylaxis (platelets {platelet_text} < {PROPHYLAXIS_PLATELETS}): monitor for VTE symptoms"
    else:
        finding = "No VTE risk factor of Table 3 on record: no prophylaxis; monitor for VTE symptoms."
        summary = "No VTE risk factor on record: no prophylaxis; monitor for VTE symptoms"
    if in_place:
        finding += f" Active: {in_place_text}."
    return card("R-VTE-NONE", "info", summary, finding)


def _warfarin_bleeding_caution(platelets: Measurement) -> str:
    """Table 3's warfarin below 50,000/µL is still an anticoagulant at a bleeding risk."""
    return (
        f" **Bleeding risk**: platelets {per_ul(platelets)} (< {WARFARIN_PLATELETS}; Table 4 counts "
        f"platelets < {BLEEDING_RISK_PLATELETS} among the bleeding risks) — weigh warfarin with the "
        "treating specialist; the suggestion is not pre-selected."
    )


def _short(factors: tuple[str, ...]) -> str:
    first = factors[0].split(" (")[0]
    return first if len(factors) == 1 else f"{first} +{len(factors) - 1}"


def treatment_context(snapshot: PatientSnapshot) -> tuple[str, str]:
    """Where the clot falls in the course, as (summary words, detail words): "during
    treatment" only when an active lenalidomide order says the patient is on it."""
    if on_lenalidomide(snapshot):
        return "on lenalidomide", "during lenalidomide treatment"
    if treated_before(snapshot):
        return "before resuming lenalidomide", "before lenalidomide is resumed"
    return "before starting lenalidomide", "before starting lenalidomide"


@dataclass(frozen=True)
class TreatmentPlan:
    """What the R-VTE-ACTIVE card proposes for the clot."""

    summary: str
    """The summary after "Active DVT on lenalidomide: "."""
    action: str
    """Ends the first paragraph: the action and why, with the numbers."""
    details: tuple[str, ...] = ()
    suggestion: NewMedication | None = None
    data_needed: tuple[str, ...] = ()
    inputs: tuple[InputUsed, ...] = ()
    specialist: bool = False


def _active_vte_card(
    snapshot: PatientSnapshot,
    evaluation: Evaluation,
    events: tuple[ClinicalCondition, ...],
    anticoagulation: Anticoagulation,
) -> Recommendation:
    event = events[0]
    when = condition_date(event)
    label = {"dvt": "DVT", "pe": "PE"}.get(event.category, "VTE")
    summary_context, context = treatment_context(snapshot)
    plan = treatment_plan(snapshot, evaluation)
    rationale = [
        f"Active **{label}** (onset {when.isoformat() if when else 'not recorded'}) {context}, "
        f"and no therapeutic anticoagulant is active: {plan.action}",
        *plan.details,
    ]
    suggestion = plan.suggestion
    heparins = anticoagulation.prophylactic
    if heparins:
        suggestion = None  # one heparin: adjust the order in place rather than add a second
        names = ", ".join(m.display or m.drug for m in heparins)
        rationale.append(
            f"Active at a prophylactic or unrecorded dose: {names} — "
            + (
                "whether to continue it is part of the specialist decision."
                if plan.specialist
                else "change it to the treatment dose above rather than adding another heparin."
            )
        )
    if anticoagulation.aspirin:
        rationale.append("Aspirin is active: review it when full anticoagulation starts (bleeding risk).")
    rationale.append(
        "Weigh thrombus burden, bleeding risk, convenience, interaction with "
        "anticancer treatment and life expectancy before starting (guideline)."
    )
    rationale.append(QUOTE_ACTIVE)
    rationale.append(QUOTE_TABLE_4)
    return Recommendation(
        rule_ids=("R-VTE-ACTIVE",),
        concern="vte-treatment",
        severity="critical",
        summary=f"Active {label} {summary_context}: {plan.summary}",
        rationale=tuple(rationale),
        section=ACTIVE_SECTION,
        inputs=(InputUsed(label, event.display or event.category, when), *plan.inputs),
        actions=(suggestion,) if suggestion is not None else (),
        selection="any",
        data_needed=plan.data_needed,
    )


def treatment_plan(snapshot: PatientSnapshot, evaluation: Evaluation) -> TreatmentPlan:
    """The bleeding risk first, then the kidneys and the weight (module docstring)."""
    platelets = usable_count(snapshot.platelets, "platelets", evaluation)
    platelet_inputs = _platelet_inputs(snapshot, evaluation, platelets)
    contraindications = bleeding_contraindications(snapshot, platelets)
    if contraindications:
        return _specialist_plan(contraindications, _platelet_needed(platelets), platelet_inputs)
    renal = assess_renal_function(snapshot, evaluation)
    on_dialysis = isinstance(renal, RenalFunction) and renal.tier is DIALYSIS_TIER
    weight = dosing_weight(snapshot, evaluation)
    missing = () if on_dialysis else dose_data_missing(snapshot, evaluation, weight, renal)
    inputs = platelet_inputs + renal.inputs
    # No count, or a reported bound ("<60,000") that leaves the specialist question open.
    if platelets is None or platelets.is_below(SPECIALIST_PLATELETS_BELOW_PER_UL) is None:
        return _platelets_needed_plan(_platelet_needed(platelets), missing, inputs)
    if on_dialysis:
        return _dialysis_plan(platelets, inputs)
    if missing or weight is None or not isinstance(renal, RenalFunction):
        return _dose_data_needed_plan(missing, platelets, inputs)
    return _enoxaparin_plan(weight, renal, platelets, inputs)


def bleeding_contraindications(snapshot: PatientSnapshot, platelets: Measurement | None) -> list[str]:
    """What makes a full dose a specialist's decision, as the card names it."""
    found = [words for category, words in BLEEDING_CONTRAINDICATIONS if snapshot.has_condition(category)]
    if platelets is not None and platelets.is_below(SPECIALIST_PLATELETS_BELOW_PER_UL):
        found.insert(0, f"platelets {per_ul(platelets)} < {SPECIALIST_PLATELETS}")
    return found


def bleeding_caution(platelets: Measurement) -> str:
    """'' at or above 100,000/µL; else the caution that comes with an unselected suggestion."""
    below = platelets.is_below(BLEEDING_RISK_PLATELETS_BELOW_PER_UL)
    if below is False:
        return ""
    count = (
        f"platelets {per_ul(platelets)} < {BLEEDING_RISK_PLATELETS}"
        if below
        else f"platelets {per_ul(platelets)}, possibly below {BLEEDING_RISK_PLATELETS}"
    )
    return (
        f"**Bleeding risk**: {count} (Table 4) — weigh it with the treating specialist before "
        "full-dose anticoagulation; the suggestion is not pre-selected."
    )


def dosing_weight(snapshot: PatientSnapshot, evaluation: Evaluation) -> Measurement | None:
    """The weight a mg/kg dose may use: current, positive and exact (not a bound)."""
    weight = snapshot.weight
    if weight is None or weight.value <= 0 or weight.comparator is not None:
        return None
    return weight if is_fresh(weight, "weight", evaluation) else None


def dose_data_missing(
    snapshot: PatientSnapshot,
    evaluation: Evaluation,
    weight: Measurement | None,
    renal: RenalFunction | RenalDataNeeded,
) -> tuple[tuple[str, str, str], ...]:
    """What a treatment dose lacks, as (short name, what to order, why) — a weight, kidney
    function, or both; a stale weight that alone leaves Cockcroft-Gault open is one item."""
    missing: list[tuple[str, str, str]] = []
    if weight is None:
        missing.append(("a current body weight", "body weight", _weight_problem(snapshot, evaluation)))
    if isinstance(renal, RenalDataNeeded):
        # A stale weight alone also leaves Cockcroft-Gault open: the weight asked for covers it.
        items = _beyond_weight(renal) or ([] if weight is None else ["serum creatinine"])
        if items:
            orders = dict.fromkeys("serum creatinine" if "creatinine" in item else item for item in items)
            missing.append(("kidney function", ", ".join(orders), f"kidney function ({'; '.join(items)})"))
    return tuple(missing)


def _weight_problem(snapshot: PatientSnapshot, evaluation: Evaluation) -> str:
    weight = snapshot.weight
    if weight is None:
        return "a body weight (none recorded)"
    if weight.value <= 0 or weight.comparator is not None:
        return f"an exact body weight (recorded {weight.shown(1)})"
    return f"a current body weight (last {weight.shown(1)} is {staleness_note(weight, 'weight', evaluation)})"


def _beyond_weight(renal: RenalDataNeeded) -> list[str]:
    """What kidney function lacks besides the body weight, which is asked for on its own."""
    return [item for item in renal.missing if "creatinine" in item or "weight" not in item]


def _platelet_needed(platelets: Measurement | None) -> tuple[str, ...]:
    if platelets is not None and platelets.is_below(SPECIALIST_PLATELETS_BELOW_PER_UL) is None:
        return ("an exact platelet count",)
    return ("platelet count",) if platelets is None else ()


def _platelet_inputs(
    snapshot: PatientSnapshot, evaluation: Evaluation, platelets: Measurement | None
) -> tuple[InputUsed, ...]:
    if platelets is not None:
        return (count_input("platelets", platelets),)
    last = snapshot.platelets
    if last is None:
        return ()
    note = staleness_note(last, "platelets", evaluation) if last.value >= 0 else "not a valid count"
    return (InputUsed("platelets (not usable)", per_ul(last), last.when, note),)


def _specialist_plan(
    contraindications: list[str], count_needed: tuple[str, ...], inputs: tuple[InputUsed, ...]
) -> TreatmentPlan:
    return TreatmentPlan(
        summary=f"full-dose anticoagulation needs a specialist decision ({contraindications[0]})",
        action=f"{'; '.join(contraindications)}. **No anticoagulant is suggested**: full-dose "
        "anticoagulation against this bleeding risk needs a specialist decision.",
        details=(
            "Options for the specialist: platelet support to allow anticoagulation, a reduced "
            "dose, or a retrievable IVC filter only during an absolute contraindication to "
            "anticoagulation (Table 4: recent CNS bleed, intracranial or spinal lesion at high "
            "risk for bleeding, active bleeding with more than 2 units transfused in 24 hours).",
        ),
        data_needed=count_needed,
        inputs=inputs,
        specialist=True,
    )


def _platelets_needed_plan(
    count_needed: tuple[str, ...], missing: tuple[tuple[str, str, str], ...], inputs: tuple[InputUsed, ...]
) -> TreatmentPlan:
    also = " The treatment dose also needs " + " and ".join(why for _, _, why in missing) + "." if missing else ""
    return TreatmentPlan(
        summary="a current platelet count is needed before any anticoagulant",
        action="without a current, exact platelet count the bleeding risk cannot be weighed, so **no "
        f"anticoagulant is suggested**: below {SPECIALIST_PLATELETS} full-dose anticoagulation is a "
        f"specialist decision, below {BLEEDING_RISK_PLATELETS} a bleeding risk (Table 4)." + also,
        data_needed=count_needed + tuple(order for _, order, _ in missing),
        inputs=inputs,
    )


def _dialysis_plan(platelets: Measurement, inputs: tuple[InputUsed, ...]) -> TreatmentPlan:
    caution = bleeding_caution(platelets)
    return TreatmentPlan(
        summary="on dialysis, unfractionated heparin per local aPTT/anti-Xa protocol, not enoxaparin",
        action="the patient is on dialysis, where enoxaparin is not studied: treatment-dose "
        "**unfractionated heparin** is preferred, per the local weight-based aPTT/anti-Xa protocol. "
        "No one-click order is offered: the dose follows that protocol." + (f" {caution}" if caution else ""),
        inputs=inputs,
    )


def _dose_data_needed_plan(
    missing: tuple[tuple[str, str, str], ...], platelets: Measurement, inputs: tuple[InputUsed, ...]
) -> TreatmentPlan:
    caution = bleeding_caution(platelets)
    return TreatmentPlan(
        summary=f"treatment-dose LMWH — {' and '.join(short for short, _, _ in missing)} needed for the dose",
        action=f"treatment-dose LMWH (enoxaparin {ENOXAPARIN_TREATMENT} every "
        f"{ENOXAPARIN_TREATMENT_EVERY_HOURS:g} hours; once daily if {CRCL_SEVERE}; unfractionated "
        "heparin on dialysis), but **no dose is suggested**: needed first — "
        + " and ".join(why for _, _, why in missing)
        + "."
        + (f" {caution}" if caution else ""),
        data_needed=tuple(order for _, order, _ in missing),
        inputs=inputs,
    )


def _enoxaparin_plan(
    weight: Measurement, renal: RenalFunction, platelets: Measurement, inputs: tuple[InputUsed, ...]
) -> TreatmentPlan:
    caution = bleeding_caution(platelets)
    severe = renal.tier is RENAL_TIERS[-1]
    every = ENOXAPARIN_SEVERE_RENAL_EVERY_HOURS if severe else ENOXAPARIN_TREATMENT_EVERY_HOURS
    frequency = "once daily" if severe else f"every {every:g} hours"
    monitoring = ", with anti-factor-Xa monitoring" if severe else ""
    dose = float(round(ENOXAPARIN_TREATMENT_MG_PER_KG * weight.value))
    text = (
        f"Enoxaparin {dose:g} mg ({ENOXAPARIN_TREATMENT} × {weight.value:g} kg) subcutaneously {frequency} "
        f"(treatment dose){monitoring}; round to the syringe size per local practice"
    )
    details = [f"Enoxaparin {ENOXAPARIN_TREATMENT} × {weight.value:g} kg = **{dose:g} mg** {frequency}."]
    if severe:
        clearance = (
            f"CrCl {renal.clearance_ml_min:.1f} mL/min" if renal.clearance_ml_min is not None else renal.tier.name
        )
        details.append(
            f"{clearance}, {CRCL_SEVERE}: enoxaparin once daily instead of every "
            f"{ENOXAPARIN_TREATMENT_EVERY_HOURS:g} hours, with anti-factor-Xa monitoring "
            "(prescribing information)."
        )
    regimen = Regimen(dose=dose, dose_unit="mg", every_hours=every, route="subcutaneous", text=text)
    summary = (
        f"weigh bleeding risk (platelets {per_ul(platelets)}), then enoxaparin {ENOXAPARIN_TREATMENT} {frequency}"
        if caution
        else f"start treatment-dose LMWH (enoxaparin {ENOXAPARIN_TREATMENT} {frequency})"
    )
    return TreatmentPlan(
        summary=summary,
        action=f"treatment-dose enoxaparin **{dose:g} mg** ({ENOXAPARIN_TREATMENT} × {weight.value:g} kg) "
        f"subcutaneously {frequency}{monitoring} (LMWH preferred)." + (f" {caution}" if caution else ""),
        details=tuple(details),
        suggestion=NewMedication(
            drug="enoxaparin",
            regimen=regimen,
            label=f"Start enoxaparin {dose:g} mg SC {frequency}",
            description=text,
            recommended=not caution,
        ),
        inputs=(InputUsed("body weight", weight.shown(1), weight.when, weight.original), *inputs),
    )

"""The typed boundary of the rules core.

Everything the rules read (``PatientSnapshot``, ``MedicationOrder``, ``Evaluation``) and
everything they return (``Recommendation`` with its proposed actions) is a frozen dataclass
defined here. fhir_mappings/ builds the inputs from FHIR; cards/ turns the outputs into CDS
Hooks cards. Nothing here knows about FHIR JSON, Flask or the clock.

Units are fixed so that rules never convert: creatinine mg/dL, weight kg, height cm, ANC and
platelets cells/µL, clearance mL/min, eGFR mL/min/1.73 m², ALT/AST U/L, TSH mIU/L.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from datetime import date
from typing import Literal

from rules.plausibility import UntrustedValue, completed_years, plausible_age

Severity = Literal["info", "warning", "critical"]
Sex = Literal["female", "male", "other", "unknown"]
Hook = Literal["order-select", "order-sign", "patient-view"]

SEVERITY_ORDER: dict[str, int] = {"critical": 0, "warning": 1, "info": 2}


@dataclass(frozen=True)
class Measurement:
    """One usable observation value, already in the rules' unit for its kind."""

    value: float
    unit: str
    when: date
    code: str = ""
    """The LOINC (or other) code it was recorded under, shown to the clinician."""
    comparator: str | None = None
    """'<', '<=', '>=' or '>' when the laboratory reported a bound, not a value."""
    original: str = ""
    """The value and unit as received (e.g. '122 umol/L'), for the card's inputs list."""

    def shown(self, digits: int = 1) -> str:
        """The value as cards show it, with its comparator and unit."""
        number = f"{self.value:,.{digits}f}" if digits else f"{self.value:,.0f}"
        if self.unit == "/uL":  # cell counts read as '2,800/µL'
            return f"{self.comparator or ''}{number}/µL"
        return f"{self.comparator or ''}{number} {self.unit}"

    def is_below(self, limit: float) -> bool | None:
        """Whether the true value lies below ``limit``; None when a reported bound leaves it
        open (e.g. ANC '<1,200' against 1,000). Clinical rules: a value with a comparator is
        used only when the bound decides the question."""
        if self.comparator is None:
            return self.value < limit
        if self.comparator == "<":
            return True if self.value <= limit else None
        if self.comparator == "<=":
            return True if self.value < limit else None
        if self.comparator in (">", ">="):
            return False if self.value >= limit else None
        return None


@dataclass(frozen=True)
class ClinicalCondition:
    """A problem-list or encounter diagnosis, classified by fhir_mappings/ into a category.

    Categories used by the rules (see fhir_mappings/terminology.py for their code sets):
    multiple-myeloma, dialysis, esrd, ckd, dvt, pe, vte, heart-failure, pulmonary-disease,
    active-infection, arterial-thromboembolism, thrombophilia, immobilization, pregnancy,
    heavy-marrow-infiltration, aggressive-disease, spinal-cord-compression, hypercalcemia,
    bone-pain, renal-failure, neutropenia-history, infection-history, pelvic-hip-femur-fracture,
    central-venous-catheter, disease-progression, asian-ethnicity, transplant-ineligible,
    active-bleeding, intracranial-bleed, hysterectomy, bilateral-oophorectomy, postmenopausal.

    hysterectomy, bilateral-oophorectomy and postmenopausal are states that do not end (the
    mapping keeps them active whatever the clinical status says); R-TERATO-F reads them.
    active-bleeding and intracranial-bleed carry the Condition's own status and onset.
    """

    category: str
    display: str
    active: bool = True
    onset: date | None = None
    recorded: date | None = None
    code: str = ""


@dataclass(frozen=True)
class ClinicalProcedure:
    """A procedure of interest: dialysis (hemodialysis, peritoneal), autologous stem-cell
    transplantation ('asct'), hysterectomy or bilateral-oophorectomy (completed ones only)."""

    category: str
    display: str
    performed: date | None = None
    code: str = ""


@dataclass(frozen=True)
class Regimen:
    """A medication schedule in one shape, whatever the FHIR dosage looked like.

    ``every_hours`` is the interval between doses on dosing days (24 = once daily,
    48 = every other day, 168 = weekly). ``cycle_days`` lists the dosing days of a cycle
    (1-based) when the schedule is cyclic, with ``cycle_length_days`` its length.
    """

    dose: float | None = None
    dose_unit: str | None = None
    """'mg', 'IU' or 'ug' as ordered; lenalidomide and dexamethasone are always 'mg'."""
    every_hours: float | None = None
    cycle_days: tuple[int, ...] = ()
    cycle_length_days: int | None = None
    route: str | None = None
    text: str | None = None

    @property
    def days_label(self) -> str:
        """'1-21/28' style label of the cyclic days, or '' when not cyclic."""
        if not self.cycle_days or not self.cycle_length_days:
            return ""
        return f"{compact_days(self.cycle_days)}/{self.cycle_length_days}"

    def mg_per_cycle(self) -> float | None:
        """Total mg over one cycle (e.g. dexamethasone 40 mg d1,8,15,22/28 → 160)."""
        if self.dose is None or self.dose_unit != "mg":
            return None
        if self.cycle_days and self.cycle_length_days:
            return self.dose * len(self.cycle_days)
        if self.every_hours:
            return self.dose * 24.0 / self.every_hours * 28.0
        return None


@lru_cache(maxsize=256)  # a handful of schedules, labelled on every card
def compact_days(days: tuple[int, ...]) -> str:
    """(1,2,3,4,9,10,11,12) → '1-4,9-12'."""
    runs: list[tuple[int, int]] = []
    for day in sorted(set(days)):
        if runs and day == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


@dataclass(frozen=True)
class ProductStrength:
    """One strength a product comes in, as RxNorm names it."""

    mg: float
    name: str
    """RxNorm's normalised name, e.g. 'lenalidomide 10 MG Oral Capsule'."""
    code: str = ""
    """Its RxNorm code where one is confirmed (fhir_mappings/products.py), else ''."""


@dataclass(frozen=True)
class DrugProduct:
    """The product an order names (e.g. lenalidomide 25 MG Oral Capsule), so that cards can
    write a recommended dose back as a coherent order of that product. Rules read only
    ``Regimen.dose`` (always mg), never these product facts."""

    strength_mg: float
    """The drug per unit (capsule, tablet)."""
    dose_form: str
    """'capsule' or 'tablet'."""
    units_per_dose: float | None = None
    """Units per dose when the order counted them (doseQuantity 4 {pill}); None when in mg."""
    code: str = ""
    system: str = ""
    display: str = ""
    """The product's coding as ordered (empty when named by text or a Medication only)."""
    strengths: tuple[ProductStrength, ...] = ()
    """The strengths the same product (ingredient, form, brand) comes in, lowest first."""


@dataclass(frozen=True)
class MedicationOrder:
    """A MedicationRequest, classified by drug.

    ``drug`` is the ingredient key the rules use: lenalidomide, dexamethasone, bortezomib,
    thalidomide, pomalidomide, melphalan, cyclophosphamide, carfilzomib, ixazomib,
    daratumumab, isatuximab, elotuzumab, panobinostat, doxorubicin, vincristine,
    bendamustine, selinexor, enoxaparin, dalteparin, heparin, warfarin, aspirin,
    rivaroxaban, apixaban, dabigatran, edoxaban, filgrastim, pegfilgrastim, epoetin,
    darbepoetin, trimethoprim-sulfamethoxazole, levofloxacin, ciprofloxacin, moxifloxacin,
    penicillin, amoxicillin; or 'other'.
    """

    id: str
    drug: str
    status: str
    """FHIR status: draft, active, on-hold, completed, stopped, cancelled, entered-in-error…"""
    display: str = ""
    authored: date | None = None
    regimen: Regimen | None = None
    is_draft: bool = False
    """True for the orders in the hook's draftOrders (what the clinician is writing now)."""
    selected: bool = False
    """True for order-select's selections (the order the clinician is looking at)."""
    product: DrugProduct | None = None
    """The product ordered, when the order names one with a known strength."""
    dose_problem: str | None = None
    """Why the dose could not be read in mg (e.g. "dose form '{puff}' not understood"), so that
    a card names it instead of saying the dose was not stated."""

    @property
    def is_active(self) -> bool:
        return self.status in ("active", "on-hold") and not self.is_draft

    @property
    def ever_given(self) -> bool:
        """A past or current order (not a mistake, not merely planned)."""
        return self.status in ("active", "on-hold", "completed", "stopped") and not self.is_draft


@dataclass(frozen=True)
class PatientSnapshot:
    """What the rules know of one patient, at one moment."""

    patient_id: str
    birth_date: date | None = None
    sex: Sex | None = None
    creatinine: Measurement | None = None  # mg/dL
    weight: Measurement | None = None  # kg
    height: Measurement | None = None  # cm
    bmi: Measurement | None = None  # kg/m2
    measured_crcl: Measurement | None = None  # mL/min
    egfr: Measurement | None = None  # mL/min/1.73m2
    anc: Measurement | None = None  # cells/uL
    anc_history: tuple[Measurement, ...] = ()
    """Usable ANC values, newest first (includes ``anc``)."""
    platelets: Measurement | None = None  # cells/uL
    platelet_history: tuple[Measurement, ...] = ()
    ecog: Measurement | None = None
    pregnancy_test: Measurement | None = None
    """82810-3 pregnancy status: value 1 = pregnant, 0 = not pregnant."""
    alt: Measurement | None = None
    ast: Measurement | None = None
    tsh: Measurement | None = None
    creatinine_history: tuple[Measurement, ...] = ()
    conditions: tuple[ClinicalCondition, ...] = ()
    procedures: tuple[ClinicalProcedure, ...] = ()
    medications: tuple[MedicationOrder, ...] = ()
    data_problems: tuple[str, ...] = ()
    """What the mappers saw but could not use (e.g. 'creatinine 1.2 without a unit'),
    so that a "data needed" card can say why a value is missing."""
    untrusted: tuple[UntrustedValue, ...] = ()
    """Values received but held back from the fields above because they are implausible or
    ambiguous (clinical rules section 1), so that a card can ask to verify them (see
    rules/plausibility.py, ``verify_notes``)."""

    def age_on(self, today: date) -> int | None:
        """Age in whole years on ``today``; None when unknown or implausible (clinical rules
        section 1: outside 18–120 years, e.g. a birth date after ``today``), so that no rule
        computes with it. rules.plausibility.verify_notes names such a birth date."""
        if self.birth_date is None:
            return None
        years = completed_years(self.birth_date, today)
        return years if plausible_age(years) else None

    @cached_property
    def _conditions_by_category(self) -> dict[str, tuple[ClinicalCondition, ...]]:
        # The rules ask about categories dozens of times per call: index them once.
        index: dict[str, list[ClinicalCondition]] = {}
        for condition in self.conditions:
            index.setdefault(condition.category, []).append(condition)
        return {category: tuple(found) for category, found in index.items()}

    def has_condition(self, *categories: str, active_only: bool = True) -> bool:
        index = self._conditions_by_category
        return any(c.active or not active_only for category in categories for c in index.get(category, ()))

    def conditions_in(self, *categories: str) -> tuple[ClinicalCondition, ...]:
        wanted = set(categories)
        return tuple(c for c in self.conditions if c.category in wanted)

    def orders_of(self, *drugs: str) -> tuple[MedicationOrder, ...]:
        return tuple(m for m in self.medications if m.drug in drugs)

    def active_orders_of(self, *drugs: str) -> tuple[MedicationOrder, ...]:
        return tuple(m for m in self.medications if m.drug in drugs and m.is_active)

    def orders_in_place(self, *drugs: str) -> tuple[MedicationOrder, ...]:
        """Active orders and this call's drafts: a supportive drug drafted alongside
        lenalidomide (e.g. after accepting a suggestion) is as good as one already active."""
        return tuple(m for m in self.medications if m.drug in drugs and (m.is_active or m.is_draft))

    def drafts_of(self, *drugs: str) -> tuple[MedicationOrder, ...]:
        return tuple(m for m in self.medications if m.drug in drugs and m.is_draft)


@dataclass(frozen=True)
class Evaluation:
    """The call the rules answer: which hook, on which date, under which policy profile."""

    hook: Hook
    today: date
    region: str = "KR"
    """'KR' applies the Korean reimbursement policy table; anything else skips it."""
    freshness_days: dict[str, int] = field(default_factory=dict)
    """Overrides of the default freshness windows of rules/freshness.py, by input name."""


# --- what the rules return -----------------------------------------------------------------


@dataclass(frozen=True)
class InputUsed:
    """One input a recommendation used, as the card lists it."""

    name: str
    value: str
    when: date | None = None
    note: str = ""


@dataclass(frozen=True)
class DoseChange:
    """Update a draft order (same id) to a new dose and schedule."""

    order_id: str
    drug: str
    regimen: Regimen
    label: str
    description: str
    recommended: bool = True


@dataclass(frozen=True)
class NewMedication:
    """Create a new MedicationRequest (prophylaxis, G-CSF, …)."""

    drug: str
    regimen: Regimen
    label: str
    description: str
    recommended: bool = False


@dataclass(frozen=True)
class RemoveDraft:
    """Remove a draft order of this call (CDS Hooks action ``delete``), e.g. a contraindicated
    lenalidomide order."""

    order_id: str
    drug: str
    label: str
    description: str
    recommended: bool = True


@dataclass(frozen=True)
class HoldDraft:
    """Keep an order but put it on hold (CDS Hooks ``update`` to status ``on-hold``): a draft
    of this call, e.g. a cycle that the blood counts delay, or at patient-view the active order
    that a critical count interrupts. It resumes when the counts recover."""

    order_id: str
    drug: str
    label: str
    description: str
    note: str
    """Why it is held and when to resume, written into the order's note."""
    recommended: bool = True


ProposedAction = DoseChange | NewMedication | RemoveDraft | HoldDraft


@dataclass(frozen=True)
class Recommendation:
    """What one rule (or a combination of rules) says about one clinical concern."""

    rule_ids: tuple[str, ...]
    concern: str
    """One card per concern: 'lenalidomide-dose', 'dexamethasone', 'vte-prophylaxis', …"""
    severity: Severity
    summary: str
    rationale: tuple[str, ...]
    """Paragraphs of Markdown: the finding, the arithmetic and what the guideline says."""
    section: str
    """The guideline section the recommendation comes from (its heading)."""
    inputs: tuple[InputUsed, ...] = ()
    actions: tuple[ProposedAction, ...] = ()
    selection: Literal["at-most-one", "any"] = "at-most-one"
    dose: DoseChange | None = None
    """For a dose card: the recommended lenalidomide (or dexamethasone) dose, even when the
    draft already matches and so no action is proposed."""
    data_needed: tuple[str, ...] = ()
    """What to order or record before the rule can give an answer."""


@dataclass(frozen=True)
class OrdersUnderReview:
    """The draft orders a hook call asks about (empty for patient-view)."""

    lenalidomide: tuple[MedicationOrder, ...] = ()
    dexamethasone: tuple[MedicationOrder, ...] = ()

    @property
    def any(self) -> bool:
        return bool(self.lenalidomide or self.dexamethasone)

"""FHIR R4 MedicationRequests for suggestion actions.

An ``update`` keeps the clinician's draft (same id, subject, requester, notes…) and replaces
its dosage; a ``create`` is a complete new draft order. Both are plain R4 JSON, so the EHR can
apply them as they are.

An update must stay one coherent order: a draft of "lenalidomide 25 MG Oral Capsule" × 1 {pill}
cannot become that capsule × 10 mg. When the draft names a product (MedicationOrder.product),
the recommended dose is written in the draft's own terms — see ``choose_units`` for which
strength and how many units; a draft of the ingredient in mg stays the ingredient in mg.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from fhir.resources.R4B.medicationrequest import MedicationRequest
from rules.dose_ladder import describe
from rules.model import DrugProduct, MedicationOrder, ProductStrength, Regimen

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"

# The drugs a suggestion can order: RxNorm ingredient code and display (CODES.md).
# Trimethoprim-sulfamethoxazole is RxNorm's multi-ingredient concept 10831.
ORDERABLE: dict[str, tuple[str, str]] = {
    "lenalidomide": ("342369", "lenalidomide"),
    "dexamethasone": ("3264", "dexamethasone"),
    "enoxaparin": ("67108", "enoxaparin"),
    "dalteparin": ("67109", "dalteparin"),
    "warfarin": ("11289", "warfarin"),
    "aspirin": ("1191", "aspirin"),
    "filgrastim": ("68442", "filgrastim"),
    "trimethoprim-sulfamethoxazole": ("10831", "sulfamethoxazole / trimethoprim"),
    "levofloxacin": ("82122", "levofloxacin"),
}

ROUTES: dict[str, tuple[str, str]] = {
    "oral": ("26643006", "Oral route"),
    "subcutaneous": ("34206005", "Subcutaneous route"),
    "intravenous": ("47625008", "Intravenous route"),
}

UCUM_DOSE_UNITS: dict[str, str] = {"mg": "mg", "ug": "ug", "IU": "[iU]"}


def dosage_instruction(drug: str, regimen: Regimen) -> dict[str, Any]:
    """One R4 Dosage for the regimen; the text carries the cycle days, which Timing cannot."""
    dosage: dict[str, Any] = {"text": regimen.text or _sentence(drug, regimen)}
    repeat = _timing_repeat(regimen.every_hours)
    if repeat:
        dosage["timing"] = {"repeat": repeat}
    if regimen.route in ROUTES:
        code, display = ROUTES[regimen.route]
        dosage["route"] = {"coding": [{"system": SNOMED, "code": code, "display": display}]}
    if regimen.dose is not None and regimen.dose_unit in UCUM_DOSE_UNITS:
        dosage["doseAndRate"] = [
            {
                "doseQuantity": {
                    "value": _number(regimen.dose),
                    "unit": regimen.dose_unit,
                    "system": UCUM,
                    "code": UCUM_DOSE_UNITS[regimen.dose_unit],
                }
            }
        ]
    return dosage


# More units than this per dose is no order to suggest; 40 mg dexamethasone as 10 × 4 mg
# tablets is how the weekly dose is commonly taken.
MAX_UNITS_PER_DOSE = 10


@dataclass(frozen=True)
class UnitChoice:
    """The recommended dose as whole units of one strength."""

    strength: ProductStrength
    units: int


@dataclass(frozen=True)
class UpdatedDraft:
    resource: dict[str, Any]
    note: str = ""
    """How the dose is made up ('1 × lenalidomide 10 MG Oral Capsule'), for the description."""


def choose_units(product: DrugProduct, dose_mg: float) -> UnitChoice | None:
    """Which strength, and how many units of it, make ``dose_mg``:

    1. one unit of a strength that is the dose (lenalidomide 10 mg → one 10 mg capsule);
    2. else whole units of the strength ordered (dexamethasone 20 mg from 4 mg tablets → 5),
       which the patient already has;
    3. else the fewest whole units of any strength (7.5 mg → 3 × 2.5 mg capsules);
    at most MAX_UNITS_PER_DOSE units. None when no strength gives the dose in whole units.
    """
    own = next((s for s in product.strengths if _same(s.mg, product.strength_mg)), None)
    own = own or ProductStrength(product.strength_mg, product.display, product.code)
    strengths = product.strengths or (own,)
    single = next((s for s in strengths if _same(s.mg, dose_mg)), None)
    if single is not None:
        return UnitChoice(single, 1)
    if (units := _whole_units(dose_mg, own.mg)) is not None:
        return UnitChoice(own, units)
    options = [(n, -s.mg, s) for s in strengths if (n := _whole_units(dose_mg, s.mg)) is not None]
    if options:
        units, _, strength = min(options, key=lambda o: (o[0], o[1]))
        return UnitChoice(strength, units)
    return None


def updated_order(
    draft: dict[str, Any], drug: str, regimen: Regimen, order: MedicationOrder | None = None
) -> UpdatedDraft:
    """The draft with the recommended dosage, its medication and dose quantity made coherent
    with each other (``order`` is how fhir_mappings read the draft)."""
    resource = r4_lists(copy.deepcopy(draft))
    resource.pop("text", None)  # the narrative would describe the old dose
    dosage = dosage_instruction(drug, regimen)
    product = order.product if order is not None else None
    dose = regimen.dose if regimen.dose_unit == "mg" else None
    note = ""
    if product is not None and dose is not None:
        choice = choose_units(product, dose)
        if choice is None:
            _order_ingredient(resource, drug)
            note = (
                f"no {drug} {product.dose_form or 'unit'} strength gives {dose:g} mg in whole units: "
                f"ordered as {drug} {dose:g} mg"
            )
        else:
            made_of = f"{choice.units} × {choice.strength.name or product.display or drug}"
            note = made_of
            if not _same(choice.strength.mg, product.strength_mg):
                _order_product(resource, drug, choice.strength)
                if not choice.strength.code:
                    note += ", named in text (no RxNorm code for it is confirmed)"
            if product.units_per_dose is not None:  # the draft counted units: so does the update
                dosage["doseAndRate"] = [{"doseQuantity": _counted(resource, choice.units, product.dose_form)}]
            dosage["text"] = f"{dosage['text']} — {made_of} per dose"
    elif order is not None and dose is not None and (order.regimen is None or order.regimen.dose_unit != "mg"):
        # The draft's dose was not in mg and its product's strength is unknown: an mg dose of
        # that product could not be dispensed as meant, so the update names the ingredient.
        if _order_ingredient(resource, drug):
            note = f"the ordered product's strength is not known: ordered as {drug} {dose:g} mg"
    resource["dosageInstruction"] = [dosage]
    return UpdatedDraft(resource, note)


def held_order(draft: dict[str, Any], note: str) -> dict[str, Any]:
    """The draft, unchanged but for status ``on-hold`` and a note saying why and until when:
    the order stays in the EHR for when the cycle resumes, and cannot start it meanwhile."""
    resource: dict[str, Any] = _without_empty(r4_lists(copy.deepcopy(draft)))
    resource.pop("text", None)  # the narrative would still say the order is a draft
    resource["status"] = "on-hold"
    resource["note"] = [*resource.get("note", []), {"text": note}]
    return resource


def is_valid_r4_order(resource: dict[str, Any]) -> bool:
    try:
        MedicationRequest.model_validate(resource)
    except ValueError:
        return False
    return True


def _without_empty(value: Any) -> Any:
    """The draft as FHIR allows it back: an EHR may send null, "" , [] or {} for an element,
    which R4 JSON forbids (an element is present with a value, or absent)."""
    if isinstance(value, dict):
        kept = {k: _without_empty(v) for k, v in value.items()}
        return {k: v for k, v in kept.items() if v not in (None, "", [], {})}
    if isinstance(value, list):
        kept_items = [_without_empty(v) for v in value]
        return [v for v in kept_items if v not in (None, "", [], {})]
    return value


# MedicationRequest elements R4 repeats (0..*), and those inside each Dosage: clients send a
# lone object for some (the CDS Hooks sandbox sends ``category`` so), which the EHR applying
# the update would reject as R4.
REPEATING_ELEMENTS = (
    "identifier", "instantiatesCanonical", "instantiatesUri", "basedOn", "category",
    "supportingInformation", "reasonCode", "reasonReference", "insurance", "note",
    "dosageInstruction", "detectedIssue", "eventHistory", "contained",
)  # fmt: skip
REPEATING_DOSAGE_ELEMENTS = ("additionalInstruction", "doseAndRate")
# CodeableConcepts of a MedicationRequest whose ``coding`` (0..*) may come as one object.
_CONCEPTS = ("category", "reasonCode", "medicationCodeableConcept", "courseOfTherapyType", "performerType")


def r4_lists(resource: dict[str, Any]) -> dict[str, Any]:
    """The resource with every repeating element a list (in place; returned for chaining)."""
    for name in REPEATING_ELEMENTS:
        if name in resource and not isinstance(resource[name], list):
            resource[name] = [resource[name]]
    for dosage in resource.get("dosageInstruction") or []:
        if isinstance(dosage, dict):
            for name in REPEATING_DOSAGE_ELEMENTS:
                if name in dosage and not isinstance(dosage[name], list):
                    dosage[name] = [dosage[name]]
    for name in _CONCEPTS:
        value = resource.get(name)
        for concept in value if isinstance(value, list) else [value]:
            if isinstance(concept, dict) and isinstance(concept.get("coding"), dict):
                concept["coding"] = [concept["coding"]]
    return resource


def _same(a: float, b: float) -> bool:
    return abs(a - b) < 1e-9


def _whole_units(dose_mg: float, strength_mg: float) -> int | None:
    if strength_mg <= 0:
        return None
    units = dose_mg / strength_mg
    whole = round(units)
    return whole if _same(units, whole) and 1 <= whole <= MAX_UNITS_PER_DOSE else None


def _order_product(resource: dict[str, Any], drug: str, strength: ProductStrength) -> None:
    """Name ``strength`` as the order's medication: its RxNorm code when one is confirmed,
    else the ingredient's code with the product's normalised name as text (a true code and
    the product in words, never an invented code)."""
    if strength.code:
        coding = {"system": RXNORM, "code": strength.code, "display": strength.name}
    else:
        code, display = ORDERABLE[drug]
        coding = {"system": RXNORM, "code": code, "display": display}
    _set_medication(resource, {"coding": [coding], "text": strength.name})


def _order_ingredient(resource: dict[str, Any], drug: str) -> bool:
    """Name the ingredient as the order's medication (False when it already is)."""
    code, display = ORDERABLE[drug]
    concept = {"coding": [{"system": RXNORM, "code": code, "display": display}], "text": display}
    current = resource.get("medicationCodeableConcept")
    if (
        isinstance(current, dict)
        and any(
            isinstance(c, dict) and c.get("code") == code and c.get("system") == RXNORM
            for c in current.get("coding") or []
        )
        and "medicationReference" not in resource
    ):
        return False
    _set_medication(resource, concept)
    return True


def _set_medication(resource: dict[str, Any], concept: dict[str, Any]) -> None:
    reference = resource.pop("medicationReference", None)
    target = reference.get("reference") if isinstance(reference, dict) else None
    if isinstance(target, str) and target.startswith("#") and isinstance(resource.get("contained"), list):
        # The contained Medication described the old product; nothing else may point at it.
        resource["contained"] = [
            c
            for c in resource["contained"]
            if not (isinstance(c, dict) and c.get("resourceType") == "Medication" and c.get("id") == target[1:])
        ]
        if not resource["contained"]:
            del resource["contained"]
    resource["medicationCodeableConcept"] = concept


def _counted(draft: dict[str, Any], units: int, dose_form: str) -> dict[str, Any]:
    """The draft's own dose quantity ({pill}, {capsule}, 'tablet'…) with ``units`` as value;
    ``draft`` has been through r4_lists, so its repeating elements are lists."""
    for dosage in draft.get("dosageInstruction") or []:
        for entry in (dosage.get("doseAndRate") or []) if isinstance(dosage, dict) else []:
            if isinstance(entry, dict) and isinstance(entry.get("doseQuantity"), dict):
                quantity = {k: v for k, v in entry["doseQuantity"].items() if k in ("unit", "system", "code")}
                return {"value": units, **quantity}
    form = dose_form or "unit"
    return {"value": units, "unit": form, "system": UCUM, "code": "{" + form + "}"}


def new_order(drug: str, regimen: Regimen, patient_id: str) -> dict[str, Any]:
    """A new draft MedicationRequest for the patient."""
    code, display = ORDERABLE[drug]
    return {
        "resourceType": "MedicationRequest",
        "status": "draft",
        "intent": "order",
        "medicationCodeableConcept": {
            "coding": [{"system": RXNORM, "code": code, "display": display}],
            "text": display,
        },
        "subject": {"reference": f"Patient/{patient_id}"},
        "dosageInstruction": [dosage_instruction(drug, regimen)],
    }


def _sentence(drug: str, regimen: Regimen) -> str:
    """'Lenalidomide 10 mg once daily, days 1-21 of 28 (oral)'."""
    route = f" ({regimen.route})" if regimen.route else ""
    return f"{drug.capitalize()} {describe(regimen)}{route}"


def _timing_repeat(every_hours: float | None) -> dict[str, Any] | None:
    if not every_hours:
        return None
    if every_hours % 168 == 0:
        return {"frequency": 1, "period": _number(every_hours / 168), "periodUnit": "wk"}
    if every_hours % 24 == 0:
        return {"frequency": 1, "period": _number(every_hours / 24), "periodUnit": "d"}
    if 24 % every_hours == 0:
        return {"frequency": int(24 // every_hours), "period": 1, "periodUnit": "d"}
    return {"frequency": 1, "period": _number(every_hours), "periodUnit": "h"}


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value

"""FHIR R4 MedicationRequests for suggestion actions.

An ``update`` keeps the clinician's draft (same id, subject, requester, notes…) and replaces
only its dosage; a ``create`` is a complete new draft order. Both are plain R4 JSON, so the
EHR can apply them as they are.
"""

from __future__ import annotations

import copy
from typing import Any

from rules.dose_ladder import describe
from rules.model import Regimen

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
        dosage["doseAndRate"] = [{"doseQuantity": {
            "value": _number(regimen.dose),
            "unit": regimen.dose_unit,
            "system": UCUM,
            "code": UCUM_DOSE_UNITS[regimen.dose_unit],
        }}]
    return dosage


def updated_draft(draft: dict[str, Any], drug: str, regimen: Regimen) -> dict[str, Any]:
    """The draft order with its dosage replaced (same id), as valid R4."""
    resource = copy.deepcopy(draft)
    resource["dosageInstruction"] = [dosage_instruction(drug, regimen)]
    # Some clients send category as one object; R4 wants a list.
    if isinstance(resource.get("category"), dict):
        resource["category"] = [resource["category"]]
    resource.pop("text", None)  # the narrative would describe the old dose
    return resource


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

"""An update suggestion is one coherent order in the draft's own terms (product, unit style),
valid R4 — whatever form the draft took."""

from __future__ import annotations

import copy
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.medicationrequest import MedicationRequest

from cards import to_cards
from cards.medication_request import updated_order
from fhir_mappings import build_snapshot
from rules import Evaluation, evaluate
from rules.dose_ladder import lenalidomide_regimen
from rules.model import MedicationOrder, Regimen

SANDBOX = Path(__file__).resolve().parent / "sandbox_requests"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
UCUM = "http://unitsofmeasure.org"
WEEKLY_20 = Regimen(20.0, "mg", 168.0, (1, 8, 15, 22), 28, "oral")


def sandbox(name: str) -> dict[str, Any]:
    return json.loads((SANDBOX / name).read_text())


def read(draft: dict[str, Any], *others: dict[str, Any]) -> MedicationOrder:
    snapshot = build_snapshot(list(others), patient_id="p1", draft_orders=[draft])
    [order] = [o for o in snapshot.medications if o.is_draft]
    return order


def draft(medication: dict[str, Any], quantity: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "id": "d1",
        "status": "draft",
        "intent": "order",
        "subject": {"reference": "Patient/p1"},
        **medication,
        "dosageInstruction": [
            {
                "timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
                "doseAndRate": [{"doseQuantity": quantity}],
            }
        ],
        **fields,
    }


def lenalidomide_25(quantity: dict[str, Any], **fields: Any) -> dict[str, Any]:
    concept = {
        "coding": [{"system": RXNORM, "code": "643720", "display": "lenalidomide 25 MG Oral Capsule"}],
        "text": "lenalidomide 25 MG Oral Capsule",
    }
    return draft({"medicationCodeableConcept": concept}, quantity, **fields)


def update(resource: dict[str, Any], drug: str, target: Regimen) -> tuple[dict[str, Any], str, dict[str, Any]]:
    updated = updated_order(resource, drug, target, read(resource))
    MedicationRequest.model_validate(updated.resource)
    [dosage] = updated.resource["dosageInstruction"]
    return updated.resource, updated.note, dosage["doseAndRate"][0]["doseQuantity"]


def medication_codes(resource: dict[str, Any]) -> set[str]:
    return {c.get("code") for c in resource["medicationCodeableConcept"].get("coding", [])}


def test_a_capsule_product_becomes_one_capsule_of_the_recommended_strength() -> None:
    resource, note, quantity = update(
        lenalidomide_25({"value": 1, "system": UCUM, "code": "{pill}"}), "lenalidomide", lenalidomide_regimen(10.0)
    )
    assert resource["medicationCodeableConcept"]["text"] == "lenalidomide 10 MG Oral Capsule"
    assert "643720" not in medication_codes(resource)  # the 25 mg product is gone
    assert quantity == {"value": 1, "system": UCUM, "code": "{pill}"}  # the draft's unit style
    assert note.startswith("1 × lenalidomide 10 MG Oral Capsule")


def test_a_strength_with_a_confirmed_code_is_ordered_by_that_code() -> None:
    resource, _, quantity = update(
        lenalidomide_25({"value": 1, "system": UCUM, "code": "{capsule}"}), "lenalidomide", lenalidomide_regimen(2.5)
    )
    assert resource["medicationCodeableConcept"]["coding"] == [
        {"system": RXNORM, "code": "1242231", "display": "lenalidomide 2.5 MG Oral Capsule"}
    ]
    assert quantity["value"] == 1 and quantity["code"] == "{capsule}"


def test_no_single_capsule_gives_the_dose_so_several_are_ordered_and_said() -> None:
    resource, note, quantity = update(
        lenalidomide_25({"value": 1, "unit": "capsule"}), "lenalidomide", lenalidomide_regimen(7.5)
    )
    assert resource["medicationCodeableConcept"]["coding"][0]["code"] == "1242231"
    assert quantity == {"value": 3, "unit": "capsule"} and note.startswith("3 × lenalidomide 2.5 MG")


def test_a_dose_no_strength_makes_is_ordered_as_the_ingredient_in_mg() -> None:
    resource, note, quantity = update(
        lenalidomide_25({"value": 1, "code": "{pill}"}), "lenalidomide", lenalidomide_regimen(3.0)
    )
    assert medication_codes(resource) == {"342369"} and quantity["code"] == "mg" and quantity["value"] == 3
    assert "no lenalidomide capsule strength gives 3 mg" in note


def test_the_same_strength_keeps_the_draft_product_and_counts_capsules() -> None:
    original = lenalidomide_25({"value": 4, "system": UCUM, "code": "{pill}"})
    resource, _, quantity = update(original, "lenalidomide", lenalidomide_regimen(25.0))
    assert resource["medicationCodeableConcept"] == original["medicationCodeableConcept"]
    assert quantity["value"] == 1


def test_a_product_drafted_in_mg_switches_product_and_keeps_mg() -> None:
    resource, _, quantity = update(
        lenalidomide_25({"value": 25, "system": UCUM, "code": "mg", "unit": "mg"}),
        "lenalidomide",
        lenalidomide_regimen(10.0),
    )
    assert resource["medicationCodeableConcept"]["text"] == "lenalidomide 10 MG Oral Capsule"
    assert (quantity["value"], quantity["code"]) == (10, "mg")


def test_an_ingredient_in_mg_draft_stays_ingredient_in_mg() -> None:
    concept = {"coding": [{"system": RXNORM, "code": "342369", "display": "lenalidomide"}]}
    original = draft({"medicationCodeableConcept": concept}, {"value": 25, "system": UCUM, "code": "mg"})
    resource, note, quantity = update(original, "lenalidomide", lenalidomide_regimen(10.0))
    assert resource["medicationCodeableConcept"] == concept and note == ""
    assert (quantity["value"], quantity["code"]) == (10, "mg")


def test_dexamethasone_tablets_keep_their_strength_in_whole_tablets() -> None:
    concept = {"coding": [{"system": RXNORM, "code": "197582"}]}
    original = draft({"medicationCodeableConcept": concept}, {"value": 10, "system": UCUM, "code": "{tablet}"})
    resource, note, quantity = update(original, "dexamethasone", WEEKLY_20)
    assert resource["medicationCodeableConcept"] == concept
    assert quantity == {"value": 5, "system": UCUM, "code": "{tablet}"}
    assert note == "5 × dexamethasone 4 MG Oral Tablet"


def test_a_contained_medication_is_replaced_by_the_new_product() -> None:
    medication = {
        "resourceType": "Medication",
        "id": "m1",
        "code": {"text": "lenalidomide 25 MG Oral Capsule"},
        "ingredient": [
            {
                "itemCodeableConcept": {"text": "lenalidomide"},
                "strength": {"numerator": {"value": 25, "unit": "mg"}, "denominator": {"value": 1, "unit": "capsule"}},
            }
        ],
    }
    original = draft(
        {"medicationReference": {"reference": "#m1"}}, {"value": 1, "unit": "capsule"}, contained=[medication]
    )
    resource, _, quantity = update(original, "lenalidomide", lenalidomide_regimen(10.0))
    assert "medicationReference" not in resource and "contained" not in resource
    assert resource["medicationCodeableConcept"]["text"] == "lenalidomide 10 MG Oral Capsule"
    assert quantity == {"value": 1, "unit": "capsule"}


@pytest.mark.parametrize(
    "quirk",
    [
        {"reasonCode": {"coding": {"system": "http://snomed.info/sct", "code": "109989006"}}},
        {"category": {"coding": [{"code": "community"}]}, "note": {"text": "cycle 1"}},
        {"basedOn": {"reference": "CarePlan/c1"}, "reasonReference": {"reference": "Condition/mm"}},
    ],
)
def test_single_objects_where_r4_wants_lists_are_mended(quirk: dict[str, Any]) -> None:
    original = lenalidomide_25({"value": 1, "code": "{pill}"}, **quirk)
    with pytest.raises(ValueError):
        MedicationRequest.model_validate(original)
    resource, _, _ = update(original, "lenalidomide", lenalidomide_regimen(10.0))  # validates
    assert all(isinstance(resource[name], list) for name in quirk)


def sandbox_cards(name: str, **patient: Any) -> list[dict[str, Any]]:
    request = sandbox(name)
    prefetch = copy.deepcopy(request["prefetch"])
    prefetch["patient"].update(patient)
    drafts = [e["resource"] for e in request["context"]["draftOrders"]["entry"]]
    snapshot = build_snapshot(
        list(prefetch.values()),
        patient_id=request["context"]["patientId"],
        draft_orders=drafts,
        selections=request["context"]["selections"],
    )
    recommendations = evaluate(snapshot, Evaluation(hook="order-select", today=date(2026, 12, 1)))
    return to_cards(
        recommendations,
        hook_instance=request["hookInstance"],
        patient_id=snapshot.patient_id,
        drafts_by_id={d["id"]: d for d in drafts},
        orders=snapshot.medications,
    )


def updates(cards: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [a for c in cards for s in c.get("suggestions", []) for a in s["actions"] if a["type"] == "update"]


def test_the_sandbox_moderate_renal_order_gets_a_10_mg_capsule_order() -> None:
    [action] = updates(sandbox_cards("order-select.moderate-renal.json"))
    resource = action["resource"]
    MedicationRequest.model_validate(resource)
    assert resource["medicationCodeableConcept"]["text"] == "lenalidomide 10 MG Oral Capsule"
    assert resource["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"] == 1
    assert "1 × lenalidomide 10 MG Oral Capsule" in action["description"]


def test_the_sandbox_overdose_is_read_as_200_mg_a_day() -> None:
    cards = sandbox_cards("order-select.overdose-normal-renal.json")
    assert any("200 mg a day" in c["summary"] for c in cards)
    [action] = updates(cards)
    assert action["resource"]["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"] == 1

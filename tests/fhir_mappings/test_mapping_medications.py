"""MedicationRequests → MedicationOrders: which drug, which order is the draft, never a crash."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from fhir_mappings import build_snapshot, unresolved_medication_references

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ATC = "http://www.whocc.no/atc"
PATIENT = "p1"


def request(id: str = "mr1", *, status: str = "active", **fields: Any) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "id": id,
        "status": status,
        "intent": "order",
        "subject": {"reference": f"Patient/{PATIENT}"},
    }
    resource.update(fields)
    return resource


def coded(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    coding = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return {"medicationCodeableConcept": {"coding": [coding]}}


def named(text: str) -> dict[str, Any]:
    return {"medicationCodeableConcept": {"text": text}}


def drug_of(resource: dict[str, Any]) -> str | None:
    orders = build_snapshot([resource], patient_id=PATIENT).medications
    return orders[0].drug if orders else None


@pytest.mark.parametrize(
    ("medication", "drug"),
    [
        (coded(RXNORM, "342369"), "lenalidomide"),
        (coded(RXNORM, "1242231"), "lenalidomide"),  # 2.5 mg capsule (SCD)
        (coded(RXNORM, "643722"), "lenalidomide"),  # Revlimid 25 mg (SBD)
        (coded(RXNORM, "3264"), "dexamethasone"),
        (coded(RXNORM, "358258"), "bortezomib"),
        (coded(RXNORM, "10432"), "thalidomide"),
        (coded(RXNORM, "67108"), "enoxaparin"),
        (coded(RXNORM, "1191"), "aspirin"),
        (coded(RXNORM, "338036"), "pegfilgrastim"),
        (coded(ATC, "L04AX04"), "lenalidomide"),
        (coded(ATC, "H02AB02"), "dexamethasone"),
        (coded(ATC, "L04AX02"), "thalidomide"),
        (coded(ATC, "L01XG01"), "bortezomib"),
        (coded(ATC, "B01AB04"), "dalteparin"),
        # an unknown product code: its display still names the drug
        (coded(RXNORM, "999999999", "dexamethasone 4 MG Oral Tablet"), "dexamethasone"),
        (named("Revlimid 10 mg capsule"), "lenalidomide"),
        (named("LENALIDOMIDE 25MG CAP"), "lenalidomide"),
        (named("Velcade 3.5 mg injection"), "bortezomib"),
        (named("Clexane 40 mg/0.4 mL"), "enoxaparin"),
        (named("Lovenox"), "enoxaparin"),
        (named("Fragmin 5000 IU"), "dalteparin"),
        (named("heparin sodium 5000 units"), "heparin"),
        (named("Neupogen 300 mcg"), "filgrastim"),
        (named("Neulasta 6 mg"), "pegfilgrastim"),
        (named("pegfilgrastim"), "pegfilgrastim"),
        (named("Bactrim DS"), "trimethoprim-sulfamethoxazole"),
        (named("Septra"), "trimethoprim-sulfamethoxazole"),
        (named("sulfamethoxazole/trimethoprim 800/160 mg"), "trimethoprim-sulfamethoxazole"),
        (named("Coumadin 5 mg"), "warfarin"),
        (named("Aranesp"), "darbepoetin"),
        (named("epoetin alfa"), "epoetin"),
        (named("Kyprolis"), "carfilzomib"),
        (named("Darzalex Faspro"), "daratumumab"),
        (named("melphalan 200 mg/m2"), "melphalan"),
        (named("Levaquin 500 mg"), "levofloxacin"),
        (named("amoxicillin/clavulanate"), "amoxicillin"),
        (named("paracetamol 1 g"), None),  # 'other' orders that are not drafts are left out
    ],
)
def test_drug_classification(medication: dict[str, Any], drug: str | None) -> None:
    assert drug_of(request(**medication)) == drug


def test_contained_medication() -> None:
    order = request(
        contained=[
            {
                "resourceType": "Medication",
                "id": "m",
                "code": {"coding": [{"system": RXNORM, "code": "342369"}]},
            }
        ],
        medicationReference={"reference": "#m"},
    )
    assert drug_of(order) == "lenalidomide"


def test_medication_by_ingredient() -> None:
    order = request(
        contained=[
            {
                "resourceType": "Medication",
                "id": "m",
                "code": {"coding": [{"system": "http://acme.org/formulary", "code": "F123"}]},
                "ingredient": [{"itemCodeableConcept": {"coding": [{"system": RXNORM, "code": "3264"}]}}],
            }
        ],
        medicationReference={"reference": "#m"},
    )
    assert drug_of(order) == "dexamethasone"


def test_referenced_medication_missing_then_fetched() -> None:
    order = request(medicationReference={"reference": "Medication/123"})
    assert unresolved_medication_references([{"resourceType": "Bundle", "entry": [{"resource": order}]}]) == [
        "Medication/123"
    ]
    assert build_snapshot([order], patient_id=PATIENT).medications == ()

    medication = {"resourceType": "Medication", "id": "123", "code": {"text": "Revlimid 25 mg"}}
    assert unresolved_medication_references([order, medication]) == []
    snapshot = build_snapshot([order, medication], patient_id=PATIENT)
    assert [m.drug for m in snapshot.medications] == ["lenalidomide"]
    assert snapshot.medications[0].display == "Revlimid 25 mg"


def test_missing_medication_classified_from_the_reference_display() -> None:
    order = request(medicationReference={"reference": "Medication/9", "display": "lenalidomide 10 mg"})
    snapshot = build_snapshot([order], patient_id=PATIENT)
    assert [m.drug for m in snapshot.medications] == ["lenalidomide"]
    assert any("Medication/9" in p for p in snapshot.data_problems)


def test_unresolved_references_are_listed_once_and_contained_never() -> None:
    orders = [
        request("a", medicationReference={"reference": "Medication/1"}),
        request("b", medicationReference={"reference": "Medication/1"}),
        request("c", medicationReference={"reference": "#not-there"}),
        request("d", medicationReference={"reference": "https://ehr.example/fhir/Medication/2"}),
        request("e", status="entered-in-error", medicationReference={"reference": "Medication/3"}),
        request("f", **named("aspirin")),
    ]
    assert unresolved_medication_references(orders) == [
        "Medication/1",
        "https://ehr.example/fhir/Medication/2",
    ]


def test_draft_orders_with_category_as_one_object() -> None:
    draft = request(
        "draft-1",
        status="draft",
        category={"coding": [{"code": "outpatient"}]},
        authoredOn="2026-11-22",
        dosageInstruction=[{"text": "25 mg PO daily d1-21 q28d"}],
        **named("lenalidomide 25 mg"),
    )
    snapshot = build_snapshot(
        [], patient_id=PATIENT, draft_orders=[draft], selections=["MedicationRequest/draft-1"]
    )
    (order,) = snapshot.medications
    assert (order.id, order.drug, order.status, order.is_draft, order.selected) == (
        "draft-1", "lenalidomide", "draft", True, True,
    )  # fmt: skip
    assert order.authored == date(2026, 11, 22)
    assert order.regimen is not None and order.regimen.dose == 25 and order.regimen.days_label == "1-21/28"
    assert not order.is_active


def test_invalid_draft_is_still_read() -> None:
    draft = request("d1", status="draft", note="not a list of annotations", **named("dexamethasone"))
    draft["dosageInstruction"] = [{"text": "40 mg weekly", "timing": {"repeat": "every week"}}]
    snapshot = build_snapshot([], patient_id=PATIENT, draft_orders=[draft])
    (order,) = snapshot.medications
    assert order.drug == "dexamethasone" and order.is_draft
    assert order.regimen is not None and order.regimen.every_hours == 168
    assert any("read as sent" in p for p in snapshot.data_problems)


def test_unselected_and_other_drafts() -> None:
    drafts = [
        request("a", status="draft", **named("lenalidomide")),
        request("b", status="draft", **named("paracetamol")),
    ]
    snapshot = build_snapshot([], patient_id=PATIENT, draft_orders=drafts, selections=["MedicationRequest/a"])
    assert [(m.id, m.drug, m.selected) for m in snapshot.medications] == [
        ("a", "lenalidomide", True),
        ("b", "other", False),
    ]


def test_draft_also_returned_by_the_ehr_counts_once() -> None:
    draft = request("d1", status="draft", **named("lenalidomide"))
    snapshot = build_snapshot([draft], patient_id=PATIENT, draft_orders=[draft])
    assert len(snapshot.medications) == 1 and snapshot.medications[0].is_draft


def test_entered_in_error_orders_are_skipped() -> None:
    assert (
        build_snapshot(
            [request(status="entered-in-error", **named("bortezomib"))], patient_id=PATIENT
        ).medications
        == ()
    )


def test_past_orders_keep_their_status() -> None:
    orders = [
        request("old", status="completed", authoredOn="2024-01-05", **named("Velcade")),
        request("now", status="active", **named("aspirin 100 mg")),
    ]
    snapshot = build_snapshot(orders, patient_id=PATIENT)
    (bortezomib,) = snapshot.orders_of("bortezomib")
    assert bortezomib.ever_given and not bortezomib.is_active and bortezomib.authored == date(2024, 1, 5)
    assert snapshot.active_orders_of("aspirin")


def test_invalid_stored_order_is_skipped_with_a_note() -> None:
    broken = request("bad", status="active", note="oops", **named("warfarin"))
    snapshot = build_snapshot([broken], patient_id=PATIENT)
    assert snapshot.medications == ()
    assert any("MedicationRequest/bad" in p for p in snapshot.data_problems)

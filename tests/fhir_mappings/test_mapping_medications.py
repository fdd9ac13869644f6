"""MedicationRequests → MedicationOrders: which drug, which order is the draft, never a crash."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from fhir_mappings import build_snapshot, unresolved_medication_references
from rules.dose_ladder import daily_mg

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
    snapshot = build_snapshot([], patient_id=PATIENT, draft_orders=[draft], selections=["MedicationRequest/draft-1"])
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
        build_snapshot([request(status="entered-in-error", **named("bortezomib"))], patient_id=PATIENT).medications
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


# --- the dose in mg from a product order ------------------------------------------------------

SANDBOX = Path(__file__).resolve().parents[1] / "cards" / "sandbox_requests"
UCUM = "http://unitsofmeasure.org"


def sandbox_draft(name: str) -> dict[str, Any]:
    request = json.loads((SANDBOX / name).read_text())
    return request["context"]["draftOrders"]["entry"][0]["resource"]


def draft_order(resource: dict[str, Any], *others: dict[str, Any]) -> Any:
    snapshot = build_snapshot(
        list(others), patient_id=resource["subject"]["reference"].split("/")[1], draft_orders=[resource]
    )
    [order] = [o for o in snapshot.medications if o.is_draft]
    return order, snapshot.data_problems


def counted(value: float, code: str | None = None, unit: str | None = None, **timing: Any) -> dict[str, Any]:
    quantity: dict[str, Any] = {"value": value}
    if code is not None:
        quantity.update(system=UCUM, code=code)
    if unit is not None:
        quantity["unit"] = unit
    instruction: dict[str, Any] = {"doseAndRate": [{"doseQuantity": quantity}]}
    if timing:
        instruction["timing"] = {"repeat": timing}
    return {"dosageInstruction": [instruction]}


def test_the_sandbox_capsule_order_is_25_mg_once_daily() -> None:
    order, problems = draft_order(sandbox_draft("order-select.moderate-renal.json"))
    assert (order.regimen.dose, order.regimen.dose_unit, order.regimen.every_hours) == (25.0, "mg", 24.0)
    assert order.product.strength_mg == 25.0 and order.product.units_per_dose == 1
    assert order.product.code == "643720" and order.dose_problem is None
    assert not [p for p in problems if "request-123" in p]  # category as one object is mended


def test_four_capsules_twice_daily_is_200_mg_a_day() -> None:
    order, _ = draft_order(sandbox_draft("order-select.overdose-normal-renal.json"))
    assert (order.regimen.dose, order.regimen.every_hours) == (100.0, 12.0)
    assert daily_mg(order.regimen) == 200.0 and order.product.units_per_dose == 4


@pytest.mark.parametrize(
    ("dose", "mg"),
    [
        (counted(1, "{capsule}"), 10.0),
        (counted(1, unit="capsule"), 10.0),
        (counted(2, unit="Tablets"), 20.0),  # the unit's wording is not checked against the form
        (counted(1, "1"), 10.0),
        (counted(1), 10.0),  # no unit, but the order names a product
        (counted(10, "mg"), 10.0),  # mg as today
        ({"dosageInstruction": [{"text": "1 capsule daily on days 1-21 of 28"}]}, 10.0),
    ],
)
def test_count_forms_times_the_named_strength(dose: dict[str, Any], mg: float) -> None:
    order, _ = draft_order(request("d1", status="draft", **named("lenalidomide 10 MG Oral Capsule"), **dose))
    assert (order.regimen.dose, order.regimen.dose_unit) == (mg, "mg")


def test_dexamethasone_tablets_by_confirmed_code_weekly() -> None:
    medication = coded(RXNORM, "197582")  # dexamethasone 4 MG Oral Tablet, no display
    order, _ = draft_order(
        request("d1", status="draft", **medication, **counted(10, "{tablet}", frequency=1, period=1, periodUnit="wk"))
    )
    assert order.drug == "dexamethasone"
    assert (order.regimen.dose, order.regimen.every_hours) == (40.0, 168.0)


def test_contained_medication_strength_gives_the_dose() -> None:
    medication = {
        "resourceType": "Medication",
        "id": "m1",
        "code": {"coding": [{"system": RXNORM, "code": "342369"}], "text": "LENA 5"},
        "ingredient": [
            {
                "itemCodeableConcept": {"text": "lenalidomide"},
                "strength": {"numerator": {"value": 5, "unit": "mg"}, "denominator": {"value": 1, "unit": "capsule"}},
            }
        ],
    }
    order, _ = draft_order(
        request(
            "d1",
            status="draft",
            contained=[medication],
            medicationReference={"reference": "#m1"},
            **counted(3, "{capsule}"),
        )
    )
    assert order.regimen.dose == 15.0 and order.product.strength_mg == 5.0


def test_referenced_medication_strength_gives_the_dose() -> None:
    medication = {
        "resourceType": "Medication",
        "id": "med-9",
        "code": {"text": "Revlimid"},
        "ingredient": [
            {
                "itemCodeableConcept": {"text": "lenalidomide"},
                "strength": {"numerator": {"value": 25, "unit": "mg"}, "denominator": {"value": 1, "code": "CAP"}},
            }
        ],
    }
    order, _ = draft_order(
        request("d1", status="draft", medicationReference={"reference": "Medication/med-9"}, **counted(1, "{pill}")),
        medication,
    )
    assert order.regimen.dose == 25.0 and order.product.dose_form == "capsule"


def test_a_form_not_understood_is_named_not_called_unstated() -> None:
    order, problems = draft_order(
        request("d1", status="draft", **named("lenalidomide 10 MG Oral Capsule"), **counted(1, "{puff}"))
    )
    assert order.regimen.dose is None and order.dose_problem == r"dose form '\{puff\}' not understood"
    assert any("{puff}" in p for p in problems)


def test_a_product_of_unknown_strength_is_not_guessed() -> None:
    # 1162570 'lenalidomide Pill' (an RxNorm dose-form group, no strength) with a pill count
    order, problems = draft_order(
        request("d1", status="draft", **coded(RXNORM, "1162570", "lenalidomide Pill"), **counted(1, "{pill}"))
    )
    assert order.drug == "lenalidomide" and order.regimen.dose is None and order.product is None
    assert "strength is not known" in (order.dose_problem or "")
    assert any("strength is not known" in p for p in problems)


def test_a_bare_number_of_an_ingredient_counts_nothing() -> None:
    order, _ = draft_order(request("d1", status="draft", **coded(RXNORM, "342369"), **counted(1, "1")))
    assert order.regimen.dose is None and order.product is None


def test_reason_code_as_one_object_is_mended_before_validation() -> None:
    draft = request(
        "d1",
        status="draft",
        **coded(RXNORM, "342369"),
        reasonCode={"coding": [{"system": "http://snomed.info/sct", "code": "109989006"}]},
        note={"text": "cycle 1"},
        **counted(25, "mg"),
    )
    _, problems = draft_order(draft)
    assert not [p for p in problems if "d1" in p]


def test_the_10_mg_capsule_code_is_read_by_its_strength() -> None:
    order, _ = draft_order(request("d1", status="draft", **coded(RXNORM, "602910"), **counted(1, "{pill}")))
    assert order.drug == "lenalidomide" and order.regimen is not None and order.regimen.dose == 10.0

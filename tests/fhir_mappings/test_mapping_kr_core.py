"""KR Core (HL7 Korea's FHIR profile): KCD-8 diagnoses are ICD-10 codes, and orders coded with
HIRA EDI or KD product codes are classified by the ATC coding or ingredient sent with them —
never guessed from the Korean product code itself.

Code system URIs as fhir_mappings/terminology.py cites them from the KR Core guide
(https://build.fhir.org/ig/hl7korea/krocre/terminology.html). The HIRA and KD code values below
are synthetic placeholders, not real product codes.
"""

from __future__ import annotations

from typing import Any

import pytest

from fhir_mappings import build_snapshot
from fhir_mappings.conditions import classify_condition
from fhir_mappings.terminology import (
    ATC_SYSTEMS,
    DRUG_BY_ATC,
    DRUG_BY_HIRA_INGREDIENT,
    HIRA_EDI_MEDICATION_SYSTEMS,
    ICD10_SYSTEMS,
    KCD8_SYSTEMS,
    KD_CODE_SYSTEMS,
    KR_CORE_MEDICATION_INGREDIENT_URL,
    KR_DRUG_PRODUCT_SYSTEMS,
)

PATIENT = "p1"
KCD8 = "http://www.hl7korea.or.kr/CodeSystem/kostat-kcd-8"
KCD8_KR_CORE_1_0_1 = "http://www.hl7korea.or.kr/fhir/krcore/CodeSystem/kostat-kcd-8"
HIRA_EDI = "http://www.hl7korea.or.kr/CodeSystem/hira-edi-medication"
KD = "http://www.hl7korea.or.kr/CodeSystem/kpis-kdcode"
ATC = "http://www.whocc.no/atc"
SYNTHETIC_HIRA_CODE = "TEST00001"  # not a HIRA EDI code: the shape of the coding is what matters
SYNTHETIC_KD_CODE = "TESTKD0001"


# --- code systems ----------------------------------------------------------------------------


def test_kcd8_is_an_icd10_system_under_both_kr_core_urls() -> None:
    assert {KCD8, KCD8_KR_CORE_1_0_1} == set(KCD8_SYSTEMS)
    assert KCD8_SYSTEMS <= ICD10_SYSTEMS


def test_hira_edi_and_kd_systems_are_known_product_code_systems_and_not_atc() -> None:
    assert HIRA_EDI in HIRA_EDI_MEDICATION_SYSTEMS and KD in KD_CODE_SYSTEMS
    assert "https://biz.kpis.or.kr/CodeSystem/kdcode" in KD_CODE_SYSTEMS  # KR Core draft URI
    assert KR_DRUG_PRODUCT_SYSTEMS[HIRA_EDI] == "HIRA EDI" and KR_DRUG_PRODUCT_SYSTEMS[KD] == "KD"
    assert not (HIRA_EDI_MEDICATION_SYSTEMS | KD_CODE_SYSTEMS) & (ATC_SYSTEMS | ICD10_SYSTEMS)
    assert ATC in ATC_SYSTEMS
    assert KR_CORE_MEDICATION_INGREDIENT_URL.endswith("/StructureDefinition/krcore-medicationIngredient")


def test_no_hira_ingredient_code_is_guessed() -> None:
    assert DRUG_BY_HIRA_INGREDIENT == {}


@pytest.mark.parametrize(
    ("atc", "drug"),
    [
        ("L04AX04", "lenalidomide"),
        ("H02AB02", "dexamethasone"),
        ("L04AX02", "thalidomide"),
        ("L04AX06", "pomalidomide"),
        ("L01XG01", "bortezomib"),
        ("L01XX32", "bortezomib"),  # before the 2022 move to L01XG
        ("L01XG02", "carfilzomib"),
        ("L01XX45", "carfilzomib"),
        ("L01XG03", "ixazomib"),
        ("L01FC01", "daratumumab"),
        ("L01XC24", "daratumumab"),  # before the 2022 move of the antibodies to L01F
        ("L01FX08", "elotuzumab"),
        ("L01XC23", "elotuzumab"),
        ("L01AA03", "melphalan"),
        ("L01AA01", "cyclophosphamide"),
        ("L01DB01", "doxorubicin"),
        ("B01AB05", "enoxaparin"),
        ("B01AB04", "dalteparin"),
        ("B01AB01", "heparin"),
        ("B01AA03", "warfarin"),
        ("B01AC06", "aspirin"),
        ("B01AF01", "rivaroxaban"),
        ("B01AF02", "apixaban"),
        ("B01AF03", "edoxaban"),
        ("B01AE07", "dabigatran"),
        ("L03AA02", "filgrastim"),
        ("L03AA13", "pegfilgrastim"),
        ("B03XA01", "epoetin"),
        ("B03XA02", "darbepoetin"),
        ("J01MA12", "levofloxacin"),
        ("J01MA02", "ciprofloxacin"),
        ("J01MA14", "moxifloxacin"),
        ("J01EE01", "trimethoprim-sulfamethoxazole"),
    ],
)
def test_atc_codes_of_the_rules_drugs(atc: str, drug: str) -> None:
    assert DRUG_BY_ATC[atc] == drug


# --- conditions: KCD-8 -----------------------------------------------------------------------


@pytest.mark.parametrize("system", [KCD8, KCD8_KR_CORE_1_0_1])
@pytest.mark.parametrize(
    ("code", "category"),
    [
        ("C90.0", "multiple-myeloma"),
        ("C90.00", "multiple-myeloma"),  # a longer subdivision keeps its ICD-10 prefix
        ("N18.3", "ckd"),
        ("N18.5", "ckd"),
        ("Z99.2", "dialysis"),
        ("I26.9", "pe"),
        ("I80.2", "dvt"),
        ("I82.9", "dvt"),
    ],
)
def test_a_kcd8_coded_condition_is_classified_as_its_icd10_code(system: str, code: str, category: str) -> None:
    found = {item.category: item.code for item in classify_condition({"coding": [{"system": system, "code": code}]})}
    assert found.get(category) == code


def test_kcd8_stage_5_ckd_is_not_dialysis_and_superficial_thrombophlebitis_is_no_dvt() -> None:
    stage5 = {item.category for item in classify_condition({"coding": [{"system": KCD8, "code": "N18.5"}]})}
    assert "dialysis" not in stage5 and "esrd" not in stage5
    superficial = {item.category for item in classify_condition({"coding": [{"system": KCD8, "code": "I80.0"}]})}
    assert "dvt" not in superficial


def kcd8_condition(id: str, code: str) -> dict[str, Any]:
    """A Condition in the shape of the KR Core encounter-diagnosis profile."""
    return {
        "resourceType": "Condition",
        "id": id,
        "meta": {
            "profile": [
                "http://www.hl7korea.or.kr/fhir/krcore/StructureDefinition/krcore-condition-encounter-diagnosis"
            ]
        },
        "clinicalStatus": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]
        },
        "verificationStatus": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "confirmed"}]
        },
        "category": [
            {
                "coding": [
                    {
                        "system": "http://www.hl7korea.or.kr/fhir/krcore/CodeSystem/krcore-condition-category-types",
                        "code": "진단",
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": KCD8, "code": code}]},
        "subject": {"reference": f"Patient/{PATIENT}"},
        "onsetDateTime": "2025-03-02",
        "recordedDate": "2025-03-02",
    }


def test_kcd8_myeloma_ckd_and_dialysis_reach_the_snapshot_active() -> None:
    snapshot = build_snapshot(
        [kcd8_condition("c1", "C90.0"), kcd8_condition("c2", "N18.5"), kcd8_condition("c3", "Z99.2")],
        patient_id=PATIENT,
    )
    found = {(c.category, c.code, c.active) for c in snapshot.conditions}
    assert {("multiple-myeloma", "C90.0", True), ("ckd", "N18.5", True), ("dialysis", "Z99.2", True)} <= found
    assert not snapshot.data_problems


# --- medications: HIRA EDI / KD next to ATC --------------------------------------------------


def draft(concept: dict[str, Any], id: str = "draft-1") -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "id": id,
        "meta": {"profile": ["http://www.hl7korea.or.kr/fhir/krcore/StructureDefinition/krcore-medicationrequest"]},
        "status": "draft",
        "intent": "order",
        "subject": {"reference": f"Patient/{PATIENT}"},
        "medicationCodeableConcept": concept,
        "dosageInstruction": [
            {
                "text": "1 capsule orally once daily",
                "timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
                "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "capsule"}}],
            }
        ],
    }


def orders_of(*drafts: dict[str, Any], record: list[dict[str, Any]] | None = None) -> list[Any]:
    return list(build_snapshot(record or [], patient_id=PATIENT, draft_orders=list(drafts)).medications)


@pytest.mark.parametrize(
    ("product", "atc", "drug"),
    [
        ({"system": HIRA_EDI, "code": SYNTHETIC_HIRA_CODE}, "L04AX04", "lenalidomide"),
        ({"system": HIRA_EDI, "code": SYNTHETIC_HIRA_CODE}, "H02AB02", "dexamethasone"),
        ({"system": KD, "code": SYNTHETIC_KD_CODE}, "L04AX04", "lenalidomide"),
        ({"system": "https://biz.kpis.or.kr/CodeSystem/kdcode", "code": SYNTHETIC_KD_CODE}, "H02AB02", "dexamethasone"),
    ],
)
def test_an_order_with_a_korean_product_code_and_atc_is_classified_by_atc(
    product: dict[str, Any], atc: str, drug: str
) -> None:
    concept = {"coding": [product, {"system": ATC, "code": atc}]}
    (order,) = orders_of(draft(concept))
    assert order.drug == drug and order.is_draft


def test_a_kr_core_medication_with_a_hira_code_is_classified_by_its_atc_ingredient() -> None:
    medication = {
        "resourceType": "Medication",
        "id": "med-1",
        "meta": {"profile": ["http://www.hl7korea.or.kr/fhir/krcore/StructureDefinition/krcore-medication"]},
        "code": {"coding": [{"system": HIRA_EDI, "code": SYNTHETIC_HIRA_CODE}]},
        "ingredient": [{"itemCodeableConcept": {"coding": [{"system": ATC, "code": "L04AX04"}]}}],
    }
    order = draft({})
    del order["medicationCodeableConcept"]
    order["medicationReference"] = {"reference": "Medication/med-1"}
    (found,) = orders_of(order, record=[medication])
    assert found.drug == "lenalidomide"


def hira_only(code: str = SYNTHETIC_HIRA_CODE) -> dict[str, Any]:
    return draft({"coding": [{"system": HIRA_EDI, "code": code}]})


def test_an_order_with_only_a_hira_code_is_not_guessed() -> None:
    (order,) = orders_of(hira_only())
    assert order.drug == "other" and order.is_draft


def test_an_order_with_only_a_hira_code_names_the_code_in_a_data_problem() -> None:
    snapshot = build_snapshot([], patient_id=PATIENT, draft_orders=[hira_only()])
    assert any("HIRA EDI" in p and SYNTHETIC_HIRA_CODE in p for p in snapshot.data_problems)


def test_the_kr_core_ingredient_extension_classifies_a_hira_coded_order() -> None:
    concept = {
        "extension": [
            {
                "url": KR_CORE_MEDICATION_INGREDIENT_URL,
                "valueCodeableConcept": {"coding": [{"system": ATC, "code": "L04AX04"}]},
            }
        ],
        "coding": [{"system": HIRA_EDI, "code": SYNTHETIC_HIRA_CODE}],
    }
    (order,) = orders_of(draft(concept))
    assert order.drug == "lenalidomide"

"""Conditions and procedures that end childbearing potential (R-TERATO-F), and the bleeding
categories the anticoagulation rules read."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from fhir_mappings import build_snapshot
from rules import evaluate
from rules.model import Evaluation
from tests.fhir_mappings.test_mapping_conditions import ICD10CM, PATIENT, SNOMED, categories, condition

CPT = "http://www.ama-assn.org/go/cpt"
ICD10PCS = "http://www.cms.gov/Medicare/Coding/ICD10"


def procedure(
    code: str | None, system: str = SNOMED, *, status: str = "completed", text: str | None = None, **fields: Any
) -> dict[str, Any]:
    concept: dict[str, Any] = {}
    if code is not None:
        concept["coding"] = [{"system": system, "code": code}]
    if text is not None:
        concept["text"] = text
    return {
        "resourceType": "Procedure",
        "status": status,
        "code": concept,
        "subject": {"reference": f"Patient/{PATIENT}"},
        **fields,
    }


def procedure_categories(*resources: dict[str, Any]) -> set[str]:
    return {p.category for p in build_snapshot(list(resources), patient_id=PATIENT).procedures}


@pytest.mark.parametrize(
    ("code", "system", "expected"),
    [
        ("Z90.710", ICD10CM, {"hysterectomy"}),
        ("Z90.711", ICD10CM, {"hysterectomy"}),
        ("Z90.712", ICD10CM, set()),  # cervix removed, uterus remaining
        ("Z90.722", ICD10CM, {"bilateral-oophorectomy"}),
        ("Z90.721", ICD10CM, set()),  # one ovary
        ("N95.1", ICD10CM, {"postmenopausal"}),
        ("Z78.0", ICD10CM, {"postmenopausal"}),
        ("76498008", SNOMED, {"postmenopausal"}),
        ("371036001", SNOMED, {"postmenopausal"}),
        ("22636003", SNOMED, set()),  # premenopausal state
        ("K92.2", ICD10CM, {"active-bleeding"}),
        ("K92.0", ICD10CM, {"active-bleeding"}),
        ("K25.4", ICD10CM, {"active-bleeding"}),
        ("K25.9", ICD10CM, set()),  # ulcer without haemorrhage
        ("R58", ICD10CM, {"active-bleeding"}),
        ("R04.2", ICD10CM, {"active-bleeding"}),
        ("D62", ICD10CM, {"active-bleeding"}),
        ("131148009", SNOMED, {"active-bleeding"}),
        ("74474003", SNOMED, {"active-bleeding"}),
        ("I61.9", ICD10CM, {"intracranial-bleed"}),
        ("I60.7", ICD10CM, {"intracranial-bleed"}),
        ("I62.00", ICD10CM, {"intracranial-bleed"}),
        ("I69.10", ICD10CM, set()),  # sequelae, not a bleed
        ("1386000", SNOMED, {"intracranial-bleed"}),
        ("274100004", SNOMED, {"intracranial-bleed"}),
        ("21454007", SNOMED, {"intracranial-bleed"}),
    ],
)
def test_codes(code: str, system: str, expected: set[str]) -> None:
    assert {category for category, _ in categories(condition(code, system))} == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Status post total hysterectomy", {"hysterectomy"}),
        ("History of hysterectomy", {"hysterectomy"}),
        ("s/p TAH-BSO", {"hysterectomy", "bilateral-oophorectomy"}),
        ("Bilateral salpingo-oophorectomy", {"bilateral-oophorectomy"}),
        ("Left oophorectomy", set()),
        ("Hysterectomy planned", set()),
        ("Referred for BSO", set()),
        ("Postmenopausal", {"postmenopausal"}),
        ("Perimenopausal", set()),
        ("Premenopausal", set()),
        ("Approaching menopause", set()),
        ("No hysterectomy", set()),
        ("GI bleed", {"active-bleeding"}),
        ("Active bleeding", {"active-bleeding"}),
        ("Risk of bleeding", set()),
        ("Bleeding tendency", set()),
        ("Subdural haematoma", {"intracranial-bleed"}),
        ("No bleeding", set()),
    ],
)
def test_words(text: str, expected: set[str]) -> None:
    assert {category for category, _ in categories(condition(text=text))} == expected


@pytest.mark.parametrize("status", ["resolved", "inactive"])
def test_states_that_do_not_end_stay_active(status: str) -> None:
    # A 'resolved' hysterectomy or menopause entry still records a state that does not end.
    for code in ("Z90.710", "Z90.722", "N95.1"):
        assert all(active for _, active in categories(condition(code, clinical=status)))
    # A bleed that is over is over.
    assert categories(condition("K92.2", clinical=status)) == {("active-bleeding", False)}


def test_refuted_or_mistaken_entries_are_not_used() -> None:
    for verification in ("refuted", "entered-in-error"):
        assert categories(condition("Z90.710", verification=verification)) == set()


def test_postmenopausal_dates_are_kept() -> None:
    snapshot = build_snapshot(
        [condition("N95.1", onsetDateTime="2019-03-04", recordedDate="2020-01-02")], patient_id=PATIENT
    )
    [entry] = snapshot.conditions
    assert (entry.onset, entry.recorded) == (date(2019, 3, 4), date(2020, 1, 2))


@pytest.mark.parametrize(
    ("code", "system", "expected"),
    [
        ("236886002", SNOMED, {"hysterectomy"}),
        ("116140006", SNOMED, {"hysterectomy"}),
        ("76876009", SNOMED, {"bilateral-oophorectomy"}),
        ("29827000", SNOMED, {"bilateral-oophorectomy"}),
        ("116144002", SNOMED, {"hysterectomy", "bilateral-oophorectomy"}),
        ("58150", CPT, {"hysterectomy"}),
        ("58571", CPT, {"hysterectomy"}),
        ("57530", CPT, set()),  # trachelectomy: cervix only
        ("58720", CPT, set()),  # salpingo-oophorectomy "unilateral or bilateral"
        ("0UT90ZZ", ICD10PCS, {"hysterectomy"}),
        ("0UT20ZZ", ICD10PCS, {"bilateral-oophorectomy"}),
        ("0UT00ZZ", ICD10PCS, set()),  # right ovary only
    ],
)
def test_procedure_codes(code: str, system: str, expected: set[str]) -> None:
    assert procedure_categories(procedure(code, system)) == expected


@pytest.mark.parametrize("status", ["in-progress", "stopped", "preparation", "not-done"])
def test_only_completed_operations_count(status: str) -> None:
    assert procedure_categories(procedure("236886002", status=status)) == set()


def test_procedure_words() -> None:
    assert procedure_categories(procedure(None, text="Laparoscopic hysterectomy")) == {"hysterectomy"}
    assert procedure_categories(procedure(None, text="TAH/BSO")) == {"hysterectomy", "bilateral-oophorectomy"}
    assert procedure_categories(procedure(None, text="Right salpingo-oophorectomy")) == set()


# --- end to end: FHIR in, no childbearing-potential card out -----------------------------------


def woman_starting_lenalidomide(*extra: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"resourceType": "Patient", "id": PATIENT, "gender": "female", "birthDate": "1975-05-01"},
        *extra,
    ]


DRAFT = {
    "resourceType": "MedicationRequest",
    "id": "len-1",
    "status": "draft",
    "intent": "order",
    "subject": {"reference": f"Patient/{PATIENT}"},
    "medicationCodeableConcept": {
        "coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "342369"}]
    },
    "dosageInstruction": [{"text": "25 mg once daily days 1-21 of 28"}],
}


def teratogenicity_severity(resources: list[dict[str, Any]]) -> str | None:
    snapshot = build_snapshot(resources, patient_id=PATIENT, draft_orders=[DRAFT])
    found = [
        r
        for r in evaluate(snapshot, Evaluation(hook="order-sign", today=date(2026, 6, 1)))
        if r.concern == "teratogenicity"
    ]
    return found[0].severity if found else None


@pytest.mark.parametrize(
    ("extra", "severity"),
    [
        ((), "warning"),  # 51 years old: of childbearing potential
        ((condition("Z90.710"),), None),
        ((procedure("116144002"),), None),
        ((condition("N95.1", onsetDateTime="2023-01-10"),), None),
        ((condition("N95.1", onsetDateTime="2025-01-10"),), "warning"),  # 17 months
        ((condition("N95.1"),), "warning"),  # undated
    ],
)
def test_exclusions_from_fhir(extra: tuple[dict[str, Any], ...], severity: str | None) -> None:
    assert teratogenicity_severity(woman_starting_lenalidomide(*extra)) == severity


def test_an_operation_denied_in_its_clause_is_not_recorded() -> None:
    # "TAH, no BSO": the uterus is removed, the ovaries are not — childbearing is over, but the
    # text must not record a bilateral oophorectomy it denies.
    from fhir_mappings.procedures import classify_procedure

    found = {category for category, _ in classify_procedure({"text": "Total abdominal hysterectomy, no BSO"})}
    assert "bilateral-oophorectomy" not in found and "hysterectomy" in found

"""Conditions, procedures and the Patient: categories, status and dates."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from fhir_mappings import build_snapshot
from fhir_mappings.conditions import classify_condition

ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
SNOMED = "http://snomed.info/sct"
CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
PATIENT = "p1"


def condition(
    code: str | None = None,
    system: str = ICD10CM,
    *,
    text: str | None = None,
    clinical: str | None = "active",
    verification: str | None = "confirmed",
    **fields: Any,
) -> dict[str, Any]:
    concept: dict[str, Any] = {}
    if code is not None:
        concept["coding"] = [{"system": system, "code": code}]
    if text is not None:
        concept["text"] = text
    resource: dict[str, Any] = {
        "resourceType": "Condition",
        "code": concept,
        "subject": {"reference": f"Patient/{PATIENT}"},
    }
    if clinical is not None:
        resource["clinicalStatus"] = {"coding": [{"system": CLINICAL, "code": clinical}]}
    if verification is not None:
        resource["verificationStatus"] = {"coding": [{"system": VERIFICATION, "code": verification}]}
    resource.update(fields)
    return resource


def categories(*resources: dict[str, Any]) -> set[tuple[str, bool]]:
    snapshot = build_snapshot(list(resources), patient_id=PATIENT)
    return {(c.category, c.active) for c in snapshot.conditions}


@pytest.mark.parametrize(
    ("code", "system", "expected"),
    [
        ("C90.00", ICD10CM, {"multiple-myeloma"}),
        ("C90.02", ICD10CM, {"multiple-myeloma"}),
        ("109989006", SNOMED, {"multiple-myeloma"}),
        ("Z99.2", ICD10CM, {"dialysis"}),
        ("105502003", SNOMED, {"dialysis"}),
        ("N18.6", ICD10CM, {"esrd", "ckd"}),
        ("46177005", SNOMED, {"esrd", "ckd"}),
        ("N18.3", ICD10CM, {"ckd"}),
        ("N183", ICD10CM, {"ckd"}),  # written without the dot
        ("I26.99", ICD10CM, {"pe"}),
        ("59282003", SNOMED, {"pe"}),
        ("I82.401", ICD10CM, {"dvt"}),
        ("I80.10", ICD10CM, {"dvt"}),
        ("128053003", SNOMED, {"dvt"}),
        ("429098002", SNOMED, {"vte"}),
        ("I80.00", ICD10CM, set()),  # superficial thrombophlebitis is not a DVT
        ("I50.9", ICD10CM, {"heart-failure"}),
        ("42343007", SNOMED, {"heart-failure"}),
        ("J44.9", ICD10CM, {"pulmonary-disease"}),
        ("J18.9", ICD10CM, {"active-infection", "infection-history"}),
        ("I63.9", ICD10CM, {"arterial-thromboembolism"}),
        ("D68.51", ICD10CM, {"thrombophilia"}),
        ("Z74.01", ICD10CM, {"immobilization"}),
        ("Z33.1", ICD10CM, {"pregnancy"}),
        ("O09.90", ICD10CM, {"pregnancy"}),
        ("77386006", SNOMED, {"pregnancy"}),
        ("E83.52", ICD10CM, {"hypercalcemia"}),
        ("G95.20", ICD10CM, {"spinal-cord-compression"}),
        ("D70.1", ICD10CM, {"neutropenia-history"}),
        ("N17.9", ICD10CM, {"renal-failure"}),
        ("S72.001A", ICD10CM, {"pelvic-hip-femur-fracture"}),
        ("C90.10", ICD10CM, {"aggressive-disease"}),
        ("E11.9", ICD10CM, set()),
    ],
)
def test_coded_categories(code: str, system: str, expected: set[str]) -> None:
    assert {category for category, _ in categories(condition(code, system))} == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Immobilization after surgery", {"immobilization"}),
        ("Bedridden", {"immobilization"}),
        ("Heavy bone marrow infiltration (80% plasma cells)", {"heavy-marrow-infiltration"}),
        ("Aggressive myeloma relapse", {"aggressive-disease", "multiple-myeloma"}),
        ("Spinal cord compression T8", {"spinal-cord-compression"}),
        ("Hypercalcaemia", {"hypercalcemia"}),
        ("Bone pain", {"bone-pain"}),
        ("Tunnelled central venous catheter in place", {"central-venous-catheter"}),
        ("Asian ethnicity", {"asian-ethnicity"}),
        ("Korean descent", {"asian-ethnicity"}),
        ("Deep vein thrombosis, left leg", {"dvt"}),
        ("Disease progression", {"disease-progression"}),
        ("No DVT", set()),
        ("Rule out pulmonary embolism", set()),
        ("Korean hemorrhagic fever", set()),
    ],
)
def test_text_fallback(text: str, expected: set[str]) -> None:
    local = condition("L123", "http://acme.org/problems", text=text)
    assert {category for category, _ in categories(local)} == expected


def test_history_codes_are_past_events() -> None:
    assert categories(condition("Z86.711")) == {("pe", False)}
    assert categories(condition("Z86.718")) == {("vte", False)}


@pytest.mark.parametrize(
    ("clinical", "active"),
    [
        ("active", True),
        ("recurrence", True),
        ("relapse", True),
        ("inactive", False),
        ("remission", False),
        ("resolved", False),
    ],
)
def test_clinical_status(clinical: str, active: bool) -> None:
    assert categories(condition("I26.99", clinical=clinical)) == {("pe", active)}


@pytest.mark.parametrize("verification", ["entered-in-error", "refuted"])
def test_mistaken_or_refuted_conditions_are_skipped(verification: str) -> None:
    assert categories(condition("I26.99", verification=verification, clinical=None)) == set()


def test_abated_condition_without_status_is_inactive() -> None:
    assert categories(condition("I26.99", clinical=None, abatementDateTime="2026-01-01")) == {("pe", False)}


def test_onset_and_recorded_dates() -> None:
    snapshot = build_snapshot(
        [
            condition("I82.401", onsetDateTime="2026-08-03T10:00:00+09:00", recordedDate="2026-08-04"),
            condition("I26.99", onsetPeriod={"start": "2026-05-01", "end": "2026-06-01"}),
            condition("I26.09", onsetDateTime="2025-03"),
        ],
        patient_id=PATIENT,
    )
    dvt, pe, old_pe = snapshot.conditions
    assert (dvt.onset, dvt.recorded, dvt.code) == (date(2026, 8, 3), date(2026, 8, 4), "I82.401")
    assert pe.onset == date(2026, 5, 1)
    assert old_pe.onset == date(2025, 3, 1)
    assert any("only to the month" in p for p in snapshot.data_problems)


def test_another_patients_condition_is_not_used() -> None:
    other = condition("I26.99", subject={"reference": "Patient/p2"})
    assert categories(other) == set()


def procedure(
    code: str, system: str = SNOMED, *, status: str = "completed", text: str | None = None, **fields: Any
) -> dict[str, Any]:
    concept: dict[str, Any] = {"coding": [{"system": system, "code": code}]}
    if text:
        concept["text"] = text
    resource = {
        "resourceType": "Procedure",
        "status": status,
        "code": concept,
        "subject": {"reference": f"Patient/{PATIENT}"},
    }
    resource.update(fields)
    return resource


@pytest.mark.parametrize(
    ("resource", "expected"),
    [
        (procedure("302497006"), "dialysis"),
        (procedure("265764009"), "dialysis"),
        (procedure("71192002"), "dialysis"),
        (procedure("90935", "http://www.ama-assn.org/go/cpt"), "dialysis"),
        (procedure("5A1D70Z", "http://www.cms.gov/Medicare/Coding/ICD10"), "dialysis"),
        (procedure("709115004"), "asct"),
        (procedure("X1", "http://acme.org/procs", text="Autologous stem cell transplantation"), "asct"),
        (procedure("X2", "http://acme.org/procs", text="ASCT (melphalan 200)"), "asct"),
        (procedure("X3", "http://acme.org/procs", text="Haemodialysis session"), "dialysis"),
        (procedure("302497006", status="not-done"), None),
        (procedure("302497006", status="preparation"), None),
        (procedure("302497006", status="entered-in-error"), None),
        (procedure("80146002"), None),  # appendectomy
    ],
)
def test_procedures(resource: dict[str, Any], expected: str | None) -> None:
    procedures = build_snapshot([resource], patient_id=PATIENT).procedures
    assert [p.category for p in procedures] == ([expected] if expected else [])


def test_procedure_dates() -> None:
    snapshot = build_snapshot(
        [
            procedure("302497006", performedPeriod={"start": "2026-11-18T08:00:00Z", "end": "2026-11-18T12:00:00Z"}),
            procedure("709115004", performedDateTime="2019-06-02"),
        ],
        patient_id=PATIENT,
    )
    assert [(p.category, p.performed) for p in snapshot.procedures] == [
        ("dialysis", date(2026, 11, 18)),
        ("asct", date(2019, 6, 2)),
    ]


def patient(**fields: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": PATIENT, **fields}


def test_patient_birth_date_and_sex() -> None:
    snapshot = build_snapshot([patient(birthDate="1950-04-30", gender="female")], patient_id=PATIENT)
    assert (snapshot.birth_date, snapshot.sex) == (date(1950, 4, 30), "female")
    assert snapshot.age_on(date(2026, 4, 29)) == 75


@pytest.mark.parametrize(
    ("birth", "expected", "precision"),
    [("1950", date(1950, 1, 1), "year"), ("1950-07", date(1950, 7, 1), "month")],
)
def test_partial_birth_date(birth: str, expected: date, precision: str) -> None:
    snapshot = build_snapshot([patient(birthDate=birth)], patient_id=PATIENT)
    assert snapshot.birth_date == expected
    assert any(f"birth date only to the {precision}" in p for p in snapshot.data_problems)


def test_someone_elses_patient_resource_is_not_used() -> None:
    snapshot = build_snapshot([{**patient(birthDate="1930-01-01"), "id": "mother"}], patient_id=PATIENT)
    assert snapshot.birth_date is None
    assert snapshot.data_problems


def test_us_core_race_asian() -> None:
    race = {
        "url": "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race",
        "extension": [
            {
                "url": "ombCategory",
                "valueCoding": {
                    "system": "urn:oid:2.16.840.1.113883.6.238",
                    "code": "2028-9",
                    "display": "Asian",
                },
            },
            {"url": "text", "valueString": "Asian"},
        ],
    }
    snapshot = build_snapshot([patient(extension=[race])], patient_id=PATIENT)
    assert snapshot.has_condition("asian-ethnicity")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("History of DVT", {("dvt", False)}),
        ("Previous pulmonary embolism (2019)", {("pe", False)}),
        ("Family history of DVT", set()),
        ("Pneumonia (treated)", {("active-infection", True), ("infection-history", True)}),
    ],
)
def test_past_events_in_words(text: str, expected: set[tuple[str, bool]]) -> None:
    assert categories(condition("L1", "http://acme.org/problems", text=text)) == expected


def test_words_on_a_history_code_are_past_too() -> None:
    history = condition("Z86.718", text="Personal history of deep vein thrombosis")
    assert categories(history) == {("dvt", False)}


def test_history_categories_hold_after_the_episode() -> None:
    resolved = categories(condition("J18.9", clinical="resolved"), condition("D70.9", clinical="resolved"))
    assert resolved == {
        ("active-infection", False),
        ("infection-history", True),
        ("neutropenia-history", True),
    }


def test_a_dvt_is_not_also_counted_as_a_vte() -> None:
    dvt = condition("128053003", SNOMED, text="Deep venous thrombosis of left leg")
    assert categories(dvt) == {("dvt", True)}


def test_a_history_mentioned_later_does_not_end_the_condition() -> None:
    myeloma = condition("L2", "http://acme.org/problems", text="IgG kappa multiple myeloma, history of ASCT 2019")
    assert categories(myeloma) == {("multiple-myeloma", True)}


@pytest.mark.parametrize(
    ("text", "ineligible"),
    [
        ("Multiple myeloma, transplant-ineligible", True),
        ("Myeloma; not eligible for autologous stem cell transplant", True),
        ("Ineligible for ASCT", True),
        ("Myeloma, not a transplant candidate", True),
        ("Transplant eligible", False),
        ("Eligible for ASCT", False),
    ],
)
def test_transplant_ineligibility_is_read_from_the_problem_text(text: str, ineligible: bool) -> None:
    """R-REIMB-KR (from 2017-12-01) reimburses transplant-ineligible newly diagnosed myeloma."""
    categories = {item.category for item in classify_condition({"text": text})}
    assert ("transplant-ineligible" in categories) is ineligible


@pytest.mark.parametrize(
    ("text", "absent", "present"),
    [
        ("Chronic kidney disease stage 5, not on dialysis", "dialysis", "ckd"),
        ("CKD 5 without dialysis", "dialysis", "ckd"),
        ("Relapsed myeloma without renal failure", "renal-failure", "multiple-myeloma"),
        ("CKD stage 5 (pre dialysis)", "dialysis", "ckd"),
        ("End-stage renal disease on hemodialysis", None, "dialysis"),
    ],
)
def test_words_denied_in_their_clause_are_not_findings(text: str, absent: str | None, present: str) -> None:
    # The N18.5 code alone says CKD stage 5; the words must not add the dialysis tier back.
    categories = {c.category for c in classify_condition({"text": text})}
    assert present in categories
    if absent is not None:
        assert absent not in categories


def test_ckd_stage_5_code_is_not_end_stage_or_dialysis() -> None:
    concept = {
        "coding": [
            {"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "N18.5"},
            {"system": "http://snomed.info/sct", "code": "433146000"},
        ],
        "text": "Chronic kidney disease stage 5, not on dialysis",
    }
    categories = {c.category for c in classify_condition(concept)}
    assert categories == {"ckd"}

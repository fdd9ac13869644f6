"""The official HL7 R4 examples (shared/fhir-examples/README.md says what each holds)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import pytest

from fhir_mappings import build_snapshot, unresolved_medication_references

Loader = Callable[[str], dict[str, Any]]


def test_bundle_101_blood_count_in_10_9_per_litre(hl7_example: Loader) -> None:
    snapshot = build_snapshot([hl7_example("Bundle-101.json")], patient_id="pat2")

    assert snapshot.anc is not None and snapshot.platelets is not None
    assert snapshot.anc.value == pytest.approx(900)
    assert (snapshot.anc.unit, snapshot.anc.code, snapshot.anc.original) == ("/uL", "751-8", r"0.9 x10\*9/L")
    assert snapshot.platelets.value == pytest.approx(444_000)
    assert snapshot.platelets.code == "777-3"
    # The results carry no date of their own; the DiagnosticReport listing them does.
    assert snapshot.anc.when == snapshot.platelets.when == date(2011, 3, 4)
    assert snapshot.anc_history == (snapshot.anc,)


def test_bundle_101_percent_neutrophils_is_not_an_anc(hl7_example: Loader) -> None:
    bundle = hl7_example("Bundle-101.json")
    without_751_8 = {
        **bundle,
        "entry": [
            e
            for e in bundle["entry"]
            if not any(c.get("code") == "751-8" for c in e["resource"].get("code", {}).get("coding", []))
        ],
    }
    snapshot = build_snapshot([without_751_8], patient_id="pat2")
    assert snapshot.anc is None  # 770-8 (20 %) is still there, and must not become an ANC


def test_bundle_report_platelets_in_k_per_microlitre(hl7_example: Loader) -> None:
    snapshot = build_snapshot([hl7_example("Bundle-report.json")], patient_id="genetics-example1")

    assert snapshot.platelets is not None
    assert snapshot.platelets.value == pytest.approx(84_000)
    assert snapshot.platelets.code == "26515-7"
    assert snapshot.platelets.original == "84 K/ul"
    assert snapshot.platelets.when == date(2015, 1, 2)


def test_bundle_ghp_creatinine_in_mmol_per_litre(hl7_example: Loader) -> None:
    snapshot = build_snapshot([hl7_example("Bundle-ghp.json")], patient_id="pat2")

    assert snapshot.creatinine is not None
    assert snapshot.creatinine.value == pytest.approx(0.09 / 0.0884)
    assert snapshot.creatinine.value == pytest.approx(1.018, abs=0.0005)
    assert (snapshot.creatinine.unit, snapshot.creatinine.code) == ("mg/dL", "14682-9")
    # dated by the chemistry panel (p1) whose hasMember lists it
    assert snapshot.creatinine.when == date(2015, 8, 16)
    assert snapshot.anc is not None and snapshot.anc.value == pytest.approx(900)


def test_creatinine_series_keeps_one_patients_history_newest_first(hl7_example: Loader) -> None:
    snapshot = build_snapshot([hl7_example("Bundle-72ac8493-52ac-41bd-8d5d-7258c289b5ea.json")], patient_id="1")

    history = snapshot.creatinine_history
    assert history and history[0] == snapshot.creatinine
    assert [m.when for m in history] == sorted((m.when for m in history), reverse=True)
    assert all(m.unit == "mg/dL" and m.code == "14682-9" for m in history)
    # The Bundle holds several patients' reports: theirs are reported, not used.
    assert any("about Patient/2" in p for p in snapshot.data_problems)


def test_observation_f204_local_code_only_is_not_a_creatinine(hl7_example: Loader) -> None:
    snapshot = build_snapshot([hl7_example("Observation-f204.json")], patient_id="f201")

    assert snapshot.creatinine is None
    assert snapshot.creatinine_history == ()


def test_observation_example_weight_in_pounds(hl7_example: Loader) -> None:
    snapshot = build_snapshot([hl7_example("Observation-example.json")], patient_id="example")

    assert snapshot.weight is not None
    assert snapshot.weight.value == pytest.approx(185 * 0.45359237)
    assert snapshot.weight.unit == "kg"
    assert snapshot.weight.when == date(2016, 3, 28)


def test_medication_request_examples_parse_without_raising(
    hl7_medication_requests: list[dict[str, Any]],
) -> None:
    snapshot = build_snapshot(
        hl7_medication_requests,
        patient_id="pat1",
        draft_orders=hl7_medication_requests[:1],
        selections=[f"MedicationRequest/{hl7_medication_requests[0]['id']}"],
    )

    drafts = [m for m in snapshot.medications if m.is_draft]
    assert len(drafts) == 1 and drafts[0].selected
    assert drafts[0].drug == "other"  # oxycodone, from the contained Medication
    assert drafts[0].authored == date(2015, 1, 15)
    assert drafts[0].regimen is not None and drafts[0].regimen.route == "oral"
    # contained Medications resolve; nothing needs fetching
    assert unresolved_medication_references(hl7_medication_requests) == []


def test_medication_request_example_dosage_shapes(hl7_medication_requests: list[dict[str, Any]]) -> None:
    """Every example read as a draft: tablets are not mg, a 1-2 tablet range is no dose."""
    snapshot = build_snapshot([], patient_id="pat1", draft_orders=hl7_medication_requests)

    by_id = {m.id: m for m in snapshot.medications}
    assert set(by_id) == {r["id"] for r in hl7_medication_requests}
    assert by_id["medrx0310"].regimen is not None
    assert by_id["medrx0310"].regimen.dose is None  # doseRange 1-2 TAB
    assert by_id["medrx0310"].regimen.every_hours == 24  # frequency 1 per 1 d
    assert by_id["medrx0311"].regimen is not None
    assert by_id["medrx0311"].regimen.every_hours == 24  # timing.code QD
    assert by_id["medrx0308"].regimen is not None
    assert by_id["medrx0308"].regimen.every_hours == 4  # frequency 1 per 4 h


def test_patient_and_condition_examples(hl7_example: Loader) -> None:
    snapshot = build_snapshot(
        [hl7_example("Patient-example.json"), hl7_example("Condition-example.json")], patient_id="example"
    )

    assert snapshot.birth_date == date(1974, 12, 25)
    assert snapshot.sex == "male"
    assert snapshot.conditions == ()  # a burn of the ear is in no category the rules use

"""The one entry point the service calls: FHIR R4 JSON → PatientSnapshot."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rules.model import PatientSnapshot

from fhir_mappings.conditions import read_conditions
from fhir_mappings.demographics import read_demographics
from fhir_mappings.medications import read_medication_orders
from fhir_mappings.medications import unresolved_medication_references as _unresolved
from fhir_mappings.observations import read_measurements
from fhir_mappings.procedures import read_procedures
from fhir_mappings.record import PatientRecord

# Enough to explain every gap on a card; more would only bury the ones that matter.
MAX_DATA_PROBLEMS = 40


def build_snapshot(
    resources: Iterable[dict[str, Any]],
    *,
    patient_id: str,
    draft_orders: Iterable[dict[str, Any]] = (),
    selections: Iterable[str] = (),
) -> PatientSnapshot:
    """What the rules know of one patient, from the resources of one hook call.

    ``resources`` may mix Bundles (opened recursively) and single resources; types the rules do
    not use (OperationOutcome, Encounter, …) are ignored. ``draft_orders`` are the resources of
    the hook's draftOrders; those named in ``selections`` ('MedicationRequest/<id>') are marked
    selected. A Medication sent among the draft orders resolves their references, as one in
    ``resources`` does. Never raises for content: what cannot be used is listed in
    ``data_problems``.
    """
    draft_orders = list(draft_orders)
    record = PatientRecord([*resources, *PatientRecord(draft_orders).of_type("Medication")])
    demographics = read_demographics(record, patient_id)
    labs = read_measurements(record, patient_id)
    conditions = read_conditions(record, patient_id)
    procedures = read_procedures(record, patient_id)
    medications = read_medication_orders(record, patient_id, draft_orders, selections)

    problems = demographics.problems + labs.problems + conditions.problems + procedures.problems
    problems += medications.problems + record.other_patient_notes()
    latest = labs.latest.get
    return PatientSnapshot(
        patient_id=patient_id,
        birth_date=demographics.birth_date,
        sex=demographics.sex,
        creatinine=latest("creatinine"),
        weight=latest("weight"),
        height=latest("height"),
        bmi=latest("bmi"),
        measured_crcl=latest("measured_crcl"),
        egfr=latest("egfr"),
        anc=latest("anc"),
        anc_history=labs.history.get("anc", ()),
        platelets=latest("platelets"),
        platelet_history=labs.history.get("platelets", ()),
        ecog=latest("ecog"),
        pregnancy_test=latest("pregnancy_test"),
        alt=latest("alt"),
        ast=latest("ast"),
        tsh=latest("tsh"),
        creatinine_history=labs.history.get("creatinine", ()),
        conditions=tuple(demographics.conditions + conditions.conditions),
        procedures=tuple(procedures.procedures),
        medications=tuple(medications.orders),
        data_problems=tuple(dict.fromkeys(problems))[:MAX_DATA_PROBLEMS],
        untrusted=tuple(demographics.untrusted + labs.untrusted),
    )


def unresolved_medication_references(resources: Iterable[dict[str, Any]]) -> list[str]:
    """References (e.g. 'Medication/123') that orders use and ``resources`` do not hold, so
    that the service can fetch them and call build_snapshot again with them added."""
    return _unresolved(resources)

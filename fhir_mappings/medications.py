"""MedicationRequests → MedicationOrders, classified by drug (lenalidomide, enoxaparin, …).

The drug comes from RxNorm or ATC codes of the order's medication (a CodeableConcept, a
contained Medication, or a Medication elsewhere in the record), then from the words of its
names: EHRs often send product codes we do not list, local codes, or text alone. Orders of
drugs the rules never ask about are left out (and so never validated); the draft orders of the
hook are always kept.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from rules.model import MedicationOrder

from fhir_mappings.dosage import read_regimen
from fhir_mappings.fhir_json import (
    JsonObject,
    codings,
    coded,
    concept_label,
    concept_texts,
    objects,
    parse_day,
    text_value,
)
from fhir_mappings.record import PatientRecord, flatten
from fhir_mappings.terminology import ATC_SYSTEMS, DRUG_BY_ATC, DRUG_BY_RXNORM, DRUGS, RXNORM_SYSTEMS
from fhir_mappings.validation import describe, validation_problem

OTHER = "other"


@dataclass
class MedicationList:
    orders: list[MedicationOrder] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class MedicationSource:
    """What an order says its medication is."""

    concepts: list[Any]
    """The medication's CodeableConcepts: its code, then its ingredients'."""
    display: str
    unavailable: str | None = None
    """A reference to a Medication the record does not hold."""


def read_medication_orders(
    record: PatientRecord,
    patient_id: str,
    draft_orders: Iterable[Any] = (),
    selections: Iterable[str] = (),
) -> MedicationList:
    found = MedicationList()
    chosen = {s for s in selections if isinstance(s, str)}
    drafts = [r for r, _ in flatten(list(draft_orders)) if r.get("resourceType") == "MedicationRequest"]
    draft_ids = {text_value(d.get("id")) for d in drafts} - {None}

    for draft in drafts:
        if draft.get("status") == "entered-in-error":
            continue
        order = _order(draft, record, found.problems, is_draft=True, selections=chosen)
        if order is not None:
            found.orders.append(order)

    for request in record.of_type("MedicationRequest"):
        # A draft the EHR also returned from its store is the same order: read it once, as draft.
        if text_value(request.get("id")) in draft_ids or request.get("status") == "entered-in-error":
            continue
        if not record.is_about(request, patient_id):
            continue
        order = _order(request, record, found.problems, is_draft=False, selections=chosen)
        if order is not None:
            found.orders.append(order)
    return found


def _order(
    request: JsonObject,
    record: PatientRecord,
    problems: list[str],
    *,
    is_draft: bool,
    selections: set[str],
) -> MedicationOrder | None:
    source = medication_source(request, record)
    drug = classify_medication(source)
    if drug == OTHER and not is_draft:
        return None
    resource = _normalised(request)
    problem = validation_problem(resource)
    if problem is not None:
        if not is_draft:
            problems.append(problem)
            return None
        # The clinician's draft is what the hook is about: read it as sent rather than not at all.
        problems.append(problem.replace("; not used", "; read as sent"))
    label = f"{drug if drug != OTHER else 'medication'} order {describe(request)}"
    if source.unavailable:
        problems.append(f"{label}: {source.unavailable} was not available; classified from its text")
    regimen, dosage_problems = read_regimen(resource.get("dosageInstruction"))
    if drug != OTHER:
        problems.extend(f"{label}: {p}" for p in dosage_problems)
    request_id = text_value(request.get("id")) or ""
    status = request.get("status")
    return MedicationOrder(
        id=request_id,
        drug=drug,
        status=status if isinstance(status, str) else "unknown",
        display=source.display,
        authored=parse_day(request.get("authoredOn")),
        regimen=regimen,
        is_draft=is_draft,
        selected=is_draft and bool(request_id) and f"MedicationRequest/{request_id}" in selections,
    )


def _normalised(request: JsonObject) -> JsonObject:
    """Mend what real clients get wrong in R4 (``category`` sent as one object, not a list)."""
    if isinstance(request.get("category"), dict):
        return {**request, "category": [request["category"]]}
    return request


# --- which medication -----------------------------------------------------------------------


def medication_source(request: JsonObject, record: PatientRecord) -> MedicationSource:
    concept = request.get("medicationCodeableConcept")
    if isinstance(concept, dict):
        return MedicationSource([concept], concept_label(concept))
    reference = request.get("medicationReference")
    if not isinstance(reference, dict):
        return MedicationSource([], "")
    target = text_value(reference.get("reference"))
    shown = text_value(reference.get("display")) or ""
    medication = _resolve(target, request, record)
    if medication is None:
        fallback = [{"text": shown}] if shown else []
        return MedicationSource(fallback, shown, unavailable=target if target else None)
    listed = [medication.get("code")] + [
        ingredient.get("itemCodeableConcept") for ingredient in objects(medication.get("ingredient"))
    ]
    concepts: list[Any] = [c for c in listed if isinstance(c, dict)] + ([{"text": shown}] if shown else [])
    return MedicationSource(concepts, concept_label(medication.get("code")) or shown)


def _resolve(target: str | None, request: JsonObject, record: PatientRecord) -> JsonObject | None:
    if target is None:
        return None
    if target.startswith("#"):
        wanted = target[1:]
        return next(
            (
                contained
                for contained in objects(request.get("contained"))
                if contained.get("resourceType") == "Medication" and contained.get("id") == wanted
            ),
            None,
        )
    found = record.find(target)
    return found if found is not None and found.get("resourceType") == "Medication" else None


def classify_medication(source: MedicationSource) -> str:
    """The drug key of MedicationOrder's docstring, or 'other'."""
    for concept in source.concepts:
        for coding in codings(concept):
            rxnorm = coded(coding, RXNORM_SYSTEMS)
            if rxnorm in DRUG_BY_RXNORM:
                return DRUG_BY_RXNORM[rxnorm]
            atc = coded(coding, ATC_SYSTEMS)
            if atc is not None and atc.upper() in DRUG_BY_ATC:
                return DRUG_BY_ATC[atc.upper()]
    for concept in source.concepts:
        for text in concept_texts(concept):
            for drug in DRUGS:
                if drug.names.search(text):
                    return drug.key
    return OTHER


def unresolved_medication_references(resources: Iterable[Any]) -> list[str]:
    """References such as 'Medication/123' that orders use and the resources do not hold.

    The service fetches these and calls build_snapshot again with them added. A '#id' is
    never listed: a contained resource cannot be fetched from anywhere else.
    """
    record = PatientRecord(resources)
    missing: list[str] = []
    for request in record.of_type("MedicationRequest"):
        if request.get("status") == "entered-in-error":
            continue
        reference = request.get("medicationReference")
        target = text_value(reference.get("reference")) if isinstance(reference, dict) else None
        if target is None or target.startswith("#") or target in missing:
            continue
        found = record.find(target)
        if found is None or found.get("resourceType") != "Medication":
            missing.append(target)
    return missing

"""MedicationRequests → MedicationOrders, classified by drug (lenalidomide, enoxaparin, …).

The drug comes from RxNorm or ATC codes of the order's medication (a CodeableConcept, a
contained Medication, or a Medication elsewhere in the record), then from the words of its
names: EHRs often send product codes we do not list, local codes, or text alone. Orders of
drugs the rules never ask about are left out (and so never validated); the draft orders of the
hook are always kept.

The dose reaches the rules in mg whatever form the order takes: an mg doseQuantity, or a count
of units (1 {pill}, 4 capsules) × the strength of the product it names (products.py). The
product itself rides along on MedicationOrder.product so that cards can answer in its terms.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from dataclasses import replace

from rules.model import MedicationOrder

from fhir_mappings.dosage import DoseUnits, read_dosage
from fhir_mappings.card_text import markdown_text
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
from fhir_mappings.products import CONFIRMED_CODES, INGREDIENT_CODES, read_product
from fhir_mappings.record import PatientRecord, flatten
from fhir_mappings.terminology import (
    ATC_SYSTEMS,
    DRUG_BY_ATC,
    DRUG_BY_RXNORM,
    DRUGS,
    KR_CORE_MEDICATION_INGREDIENT_URL,
    KR_DRUG_PRODUCT_SYSTEMS,
    RXNORM_SYSTEMS,
)
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
    medication: JsonObject | None = None
    """The Medication resource the order references, when the record holds it."""


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
    if drug == OTHER:
        problems.extend(_unidentified_korean_codes(label, source))
    if source.unavailable:
        problems.append(f"{label}: {source.unavailable} was not available; classified from its text")
    product = read_product(source.concepts, source.medication, drug) if drug != OTHER else None
    units = DoseUnits(
        strength_mg=product.strength_mg if product is not None else None,
        product_named=product is not None or _names_a_product(source),
    )
    dosage = read_dosage(resource.get("dosageInstruction"), units)
    if drug != OTHER:
        problems.extend(f"{label}: {p}" for p in dosage.problems)
    if product is not None and dosage.units_per_dose is not None:
        product = replace(product, units_per_dose=dosage.units_per_dose)
    request_id = text_value(request.get("id")) or ""
    status = request.get("status")
    return MedicationOrder(
        id=request_id,
        drug=drug,
        status=status if isinstance(status, str) else "unknown",
        display=markdown_text(source.display),  # shown only (source.display stays raw): card_text.py
        authored=parse_day(request.get("authoredOn")),
        regimen=dosage.regimen,
        is_draft=is_draft,
        selected=is_draft and bool(request_id) and f"MedicationRequest/{request_id}" in selections,
        product=product,
        dose_problem=dosage.dose_problem if drug != OTHER else None,
    )


def _unidentified_korean_codes(label: str, source: MedicationSource) -> list[str]:
    """A HIRA EDI or KD code names a product; with no ATC coding or ingredient beside it the
    drug stays unknown (no table of these codes is confirmed), and the card can say why."""
    found = []
    for concept in source.concepts:
        for coding in codings(concept):
            system = coding.get("system")
            if isinstance(system, str) and system in KR_DRUG_PRODUCT_SYSTEMS:
                code = text_value(coding.get("code")) or "(no code)"
                found.append(
                    f"{label}: {KR_DRUG_PRODUCT_SYSTEMS[system]} code {code} names a product; no ATC "
                    "coding or ingredient was sent, so the drug was not identified"
                )
    return found


def _names_a_product(source: MedicationSource) -> bool:
    """Whether the order names a product, not a bare ingredient: a Medication, or a coded
    medication whose code is not an ingredient we know (ingredient codes classify the drug
    by themselves). A dose of '1' then counts units of it."""
    if source.medication is not None:
        return True
    return any(
        (code := coded(coding, RXNORM_SYSTEMS)) is not None and code not in INGREDIENT_CODES
        for concept in source.concepts[:1]
        for coding in codings(concept)
    )


# MedicationRequest elements R4 repeats (0..*), and the same inside each Dosage: real clients
# send a lone object for some of them (the CDS Hooks sandbox sends ``category`` so), which
# would fail validation though the meaning is plain.
REPEATING_ELEMENTS = (
    "identifier", "instantiatesCanonical", "instantiatesUri", "basedOn", "category",
    "supportingInformation", "reasonCode", "reasonReference", "insurance", "note",
    "dosageInstruction", "detectedIssue", "eventHistory", "contained",
)  # fmt: skip
REPEATING_DOSAGE_ELEMENTS = ("additionalInstruction", "doseAndRate")


def _normalised(request: JsonObject) -> JsonObject:
    """Mend what real clients get wrong in R4: a repeating element sent as one object."""
    if not any(name in request and not isinstance(request[name], list) for name in REPEATING_ELEMENTS) and not any(
        name in dosage and not isinstance(dosage[name], list)
        for dosage in objects(request.get("dosageInstruction"))
        for name in REPEATING_DOSAGE_ELEMENTS
    ):
        return request  # the common case: nothing to copy
    mended = {
        name: ([value] if name in REPEATING_ELEMENTS and not isinstance(value, list) else value)
        for name, value in request.items()
    }
    if "dosageInstruction" in mended:
        mended["dosageInstruction"] = [
            {k: ([v] if k in REPEATING_DOSAGE_ELEMENTS and not isinstance(v, list) else v) for k, v in d.items()}
            if isinstance(d, dict)
            else d
            for d in mended["dosageInstruction"]
        ]
    return mended


# --- which medication -----------------------------------------------------------------------


def medication_source(request: JsonObject, record: PatientRecord) -> MedicationSource:
    concept = request.get("medicationCodeableConcept")
    if isinstance(concept, dict):
        # KR Core: an order coded by HIRA EDI or KD product code carries its ingredient (ATC
        # preferred) in the krcore-medicationIngredient extension; it identifies the drug.
        ingredients = [
            extension["valueCodeableConcept"]
            for extension in objects(concept.get("extension"))
            if extension.get("url") == KR_CORE_MEDICATION_INGREDIENT_URL
            and isinstance(extension.get("valueCodeableConcept"), dict)
        ]
        return MedicationSource([concept, *ingredients], concept_label(concept))
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
    return MedicationSource(concepts, concept_label(medication.get("code")) or shown, medication=medication)


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


# Ingredient codes of the terminology and the confirmed product codes (e.g. dexamethasone
# 4 MG Oral Tablet), in one table: an order coded by either names its drug.
_DRUG_BY_RXNORM_CODE: dict[str, str] = {
    **{code: line.drug for code, (line, _) in CONFIRMED_CODES.items()},
    **DRUG_BY_RXNORM,
}


def classify_medication(source: MedicationSource) -> str:
    """The drug key of MedicationOrder's docstring, or 'other'."""
    for concept in source.concepts:
        for coding in codings(concept):
            rxnorm = coded(coding, RXNORM_SYSTEMS)
            if rxnorm in _DRUG_BY_RXNORM_CODE:
                return _DRUG_BY_RXNORM_CODE[rxnorm]
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

"""Procedures → dialysis, autologous stem-cell transplantation, hysterectomy and bilateral
oophorectomy (ClinicalProcedure)."""

from __future__ import annotations

from dataclasses import dataclass, field

from rules.model import ClinicalProcedure

from fhir_mappings.card_text import markdown_text
from fhir_mappings.fhir_json import (
    FhirTime,
    JsonObject,
    code_value,
    codings,
    coded,
    concept_label,
    concept_texts,
    parse_time,
)
from fhir_mappings.record import PatientRecord
from fhir_mappings.terminology import (
    CPT_SYSTEMS,
    ICD10_PCS_SYSTEMS,
    NEGATED_TEXT,
    PROCEDURES,
    SNOMED_SYSTEMS,
    ProcedureTerms,
    negated_in_clause,
)

# Done or being done. 'stopped' was started (a dialysis session cut short is still dialysis);
# 'preparation', 'not-done', 'on-hold', 'entered-in-error' and 'unknown' do not show it happened.
PERFORMED_STATUSES = frozenset({"completed", "in-progress", "stopped"})
# An operation that ends childbearing potential (R-TERATO-F) counts only when completed: a
# hysterectomy stopped or still in progress may have left the uterus in place.
COMPLETED_ONLY_CATEGORIES = frozenset({"hysterectomy", "bilateral-oophorectomy"})


@dataclass
class ProcedureList:
    procedures: list[ClinicalProcedure] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def read_procedures(record: PatientRecord, patient_id: str) -> ProcedureList:
    found = ProcedureList()
    for resource, classes in record.usable(
        "Procedure",
        patient_id,
        lambda r: classify_procedure(r.get("code")),
        found.problems,
        keep=lambda r: code_value(r.get("status")) in PERFORMED_STATUSES,
    ):
        performed = _performed(resource)
        completed = code_value(resource.get("status")) == "completed"
        for category, code in classes:
            if category in COMPLETED_ONLY_CATEGORIES and not completed:
                continue
            found.procedures.append(
                ClinicalProcedure(
                    category=category,
                    display=markdown_text(concept_label(resource.get("code"))),  # shown only: card_text.py
                    performed=performed.day if performed else None,
                    code=code,
                )
            )
    return found


def classify_procedure(concept: object) -> list[tuple[str, str]]:
    """(category, code) for each category the Procedure.code belongs to."""
    found: dict[str, str] = {}
    for coding in codings(concept):
        for terms in PROCEDURES:
            code = _matching_code(coding, terms)
            if code is not None:
                found.setdefault(terms.category, code)
    for text in concept_texts(concept):
        if NEGATED_TEXT.search(text):
            continue
        for terms in PROCEDURES:
            if terms.category in found or terms.text is None:
                continue
            match = terms.text.search(text)
            if match is not None and not negated_in_clause(text, match.start()):
                found[terms.category] = next(
                    (c["code"] for c in codings(concept) if isinstance(c.get("code"), str)), ""
                )
    return list(found.items())


def _matching_code(coding: JsonObject, terms: ProcedureTerms) -> str | None:
    systems_and_codes = (
        (SNOMED_SYSTEMS, terms.snomed),
        (CPT_SYSTEMS, terms.cpt),
        (ICD10_PCS_SYSTEMS, terms.icd10_pcs),
    )
    for systems, codes in systems_and_codes:
        code = coded(coding, systems)
        if code is not None and code.upper() in codes:
            return code
    return None


def _performed(resource: JsonObject) -> FhirTime | None:
    if "performedDateTime" in resource:
        return parse_time(resource.get("performedDateTime"))
    period = resource.get("performedPeriod")
    if isinstance(period, dict):
        # the latest session is what matters for "on dialysis"
        return parse_time(period.get("end")) or parse_time(period.get("start"))
    return None

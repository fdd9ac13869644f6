"""Conditions → ClinicalConditions in the categories the rules ask about.

One Condition can fall in several categories (ESRD is also chronic kidney disease; a pneumonia
is an active infection and a history of infection). Codes decide first; words in the code's
text and displays decide when the code is local or missing, unless the text denies the
condition ('no DVT', 'rule out PE').
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from rules.model import ClinicalCondition

from fhir_mappings.card_text import markdown_text
from fhir_mappings.fhir_json import (
    JsonObject,
    codings,
    coded,
    concept_label,
    concept_texts,
    parse_time,
    status_code,
)
from fhir_mappings.record import PatientRecord
from fhir_mappings.terminology import (
    CONDITIONS,
    ICD10_SYSTEMS,
    NEGATED_TEXT,
    PAST_TEXT,
    SNOMED_SYSTEMS,
    negated_in_clause,
)
from fhir_mappings.validation import describe

ACTIVE_STATUSES = frozenset({"active", "recurrence", "relapse"})
# A history is true whether or not the episode is over: a resolved pneumonia is a history of
# infection. These categories are always active (the episode's own status stays on its other
# categories, e.g. active-infection).
HISTORY_CATEGORIES = frozenset({"infection-history", "neutropenia-history"})
# States that do not end: a removed uterus or ovaries stay removed, and a menopause does not
# reverse when its symptoms resolve. A 'resolved' or 'inactive' entry still records the state
# (R-TERATO-F reads them whatever their clinical status).
PERMANENT_CATEGORIES = frozenset({"hysterectomy", "bilateral-oophorectomy", "postmenopausal"})
ALWAYS_ACTIVE = HISTORY_CATEGORIES | PERMANENT_CATEGORIES
# The exclusions from childbearing potential are recognised from words only when the text does
# not speak of a plan: "hysterectomy planned" or "referred for BSO" is no operation done.
PLANNED_TEXT = re.compile(
    r"\b(?:planned|plan for|scheduled|awaiting|pending|candidate for|referr(?:al|ed) for|"
    r"consider(?:ed|ing)?|recommended|to be done|wait(?:ing)? list)\b",
    re.IGNORECASE,
)
# A category that says less than another found on the same Condition: a DVT is a VTE, and
# 'venous thrombosis' in a DVT's display should not make a second VTE of it.
SUBSUMED_BY: dict[str, frozenset[str]] = {"vte": frozenset({"dvt", "pe"})}
INACTIVE_STATUSES = frozenset({"inactive", "remission", "resolved"})
IGNORED_VERIFICATIONS = frozenset({"entered-in-error", "refuted"})


@dataclass(frozen=True)
class Classification:
    category: str
    code: str
    past_event: bool = False
    """A 'personal history of' code: the event is over, whatever the clinical status says."""


@dataclass
class ConditionList:
    conditions: list[ClinicalCondition] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def read_conditions(record: PatientRecord, patient_id: str) -> ConditionList:
    found = ConditionList()
    for resource, classes in record.usable(
        "Condition",
        patient_id,
        lambda r: classify_condition(r.get("code")),
        found.problems,
        keep=lambda r: status_code(r.get("verificationStatus")) not in IGNORED_VERIFICATIONS,
    ):
        active = _is_active(resource)
        onset = _day(resource, _onset_text(resource), "onset", found.problems)
        recorded = _day(resource, resource.get("recordedDate"), "recorded date", found.problems)
        display = markdown_text(concept_label(resource.get("code")))  # shown only: fhir_mappings/card_text.py
        for item in classes:
            found.conditions.append(
                ClinicalCondition(
                    category=item.category,
                    display=display,
                    active=item.category in ALWAYS_ACTIVE or (active and not item.past_event),
                    onset=onset,
                    recorded=recorded,
                    code=item.code,
                )
            )
    return found


def classify_condition(concept: object) -> list[Classification]:
    """Every category a Condition.code belongs to, by SNOMED CT and ICD-10 code, then words."""
    found: dict[str, Classification] = {}
    for coding in codings(concept):
        snomed = coded(coding, SNOMED_SYSTEMS)
        icd10 = coded(coding, ICD10_SYSTEMS)
        bare_icd10 = icd10.replace(".", "").upper() if icd10 else None
        for terms in CONDITIONS:
            if terms.category in found:
                continue
            if snomed is not None and snomed in terms.snomed:
                found[terms.category] = Classification(terms.category, snomed)
            elif bare_icd10 is not None and icd10 is not None:
                if terms.past_icd10 and bare_icd10.startswith(terms.past_icd10):
                    found[terms.category] = Classification(terms.category, icd10, past_event=True)
                elif (
                    terms.icd10
                    and bare_icd10.startswith(terms.icd10)
                    and not (terms.icd10_excluded and bare_icd10.startswith(terms.icd10_excluded))
                ):
                    found[terms.category] = Classification(terms.category, icd10)
    # Words name what a code left out; on a 'personal history of' code, or in a text that says
    # 'history of', they name a past event too ('Personal history of DVT' is no active DVT).
    coded_past = any(item.past_event for item in found.values())
    for text in concept_texts(concept):
        if NEGATED_TEXT.search(text):
            continue
        past = coded_past or bool(PAST_TEXT.search(text))
        planned = bool(PLANNED_TEXT.search(text))
        for terms in CONDITIONS:
            if planned and terms.category in PERMANENT_CATEGORIES:
                continue
            if terms.category in found or terms.text is None:
                continue
            match = terms.text.search(text)
            if match is not None and not negated_in_clause(text, match.start()):
                found[terms.category] = Classification(terms.category, _first_code(concept), past_event=past)
    return [item for category, item in found.items() if not SUBSUMED_BY.get(category, frozenset()) & found.keys()]


def _first_code(concept: object) -> str:
    for coding in codings(concept):
        code = coding.get("code")
        if isinstance(code, str) and code:
            return code
    return ""


def _is_active(resource: JsonObject) -> bool:
    status = status_code(resource.get("clinicalStatus"))
    if status in ACTIVE_STATUSES:
        return True
    if status in INACTIVE_STATUSES:
        return False
    # No (known) clinical status: R4 requires one unless the condition has abated, so an
    # abatement is the best evidence that it is over.
    return not any(key.startswith("abatement") for key in resource)


def _onset_text(resource: JsonObject) -> object:
    if "onsetDateTime" in resource:
        return resource.get("onsetDateTime")
    period = resource.get("onsetPeriod")
    return period.get("start") if isinstance(period, dict) else None


def _day(resource: JsonObject, value: object, what: str, problems: list[str]) -> date | None:
    parsed = parse_time(value)
    if parsed is None:
        return None
    if parsed.day is None:
        problems.append(
            f"{what} of {concept_label(resource.get('code')) or describe(resource)} only to the "
            f"{parsed.precision} ({parsed.text}); taken as {parsed.start}"
        )
    return parsed.start

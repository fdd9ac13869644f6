"""Patient → birth date, sex, and the race recorded on the Patient (IMPEDE's Asian ethnicity)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from rules.model import ClinicalCondition, Sex
from rules.plausibility import BEFORE_1900, UntrustedValue, implausible_date

from fhir_mappings.fhir_json import JsonObject, objects, parse_any_time, text_value
from fhir_mappings.record import PatientRecord
from fhir_mappings.terminology import OMB_ASIAN, OMB_RACE_SYSTEM, US_CORE_RACE_URL
from fhir_mappings.validation import describe, validation_problem

SEXES: dict[str, Sex] = {"female": "female", "male": "male", "other": "other", "unknown": "unknown"}


@dataclass
class Demographics:
    birth_date: date | None = None
    sex: Sex | None = None
    conditions: list[ClinicalCondition] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    untrusted: list[UntrustedValue] = field(default_factory=list)


def read_demographics(record: PatientRecord, patient_id: str) -> Demographics:
    found = Demographics()
    patients = record.of_type("Patient")
    patient = next((p for p in patients if p.get("id") == patient_id), None)
    if patient is None:
        # A Patient without an id can only be the one the hook is about; one with another id
        # is someone else (a linked record, a relative) and must not lend its birth date.
        patient = next((p for p in patients if not text_value(p.get("id"))), None)
        if patient is None:
            if patients:
                found.problems.append(f"no Patient/{patient_id} among the Patient resources received")
            return found
    problem = validation_problem(patient)
    if problem is not None:
        found.problems.append(problem)
        return found
    found.birth_date = _birth_date(patient, found)
    gender = patient.get("gender")
    found.sex = SEXES.get(gender) if isinstance(gender, str) else None
    if _asian_race(patient):
        found.conditions.append(
            ClinicalCondition(
                category="asian-ethnicity", display="Asian (race recorded on the Patient)", code=OMB_ASIAN
            )
        )
    return found


def _birth_date(patient: JsonObject, found: Demographics) -> date | None:
    """The birth date, or None when it is missing, unreadable or implausible. A birth date
    before 1900 (clinical rules section 1) is held back as untrusted, so that age is unknown
    to every rule and the card asks to verify it; the age range (18–120 years) depends on the
    evaluation date and is applied by the rules (PatientSnapshot.age_on)."""
    problems = found.problems
    raw = patient.get("birthDate")
    parsed = parse_any_time(raw)
    if parsed is None:
        if raw is not None:
            problems.append(f"birth date '{raw}' of {describe(patient)} cannot be read")
        return None
    if parsed.before_plausible:
        untrusted = implausible_date("age", "", parsed.text, BEFORE_1900)
        found.untrusted.append(untrusted)
        problems.append(untrusted.note)
        return None
    if parsed.precision in ("year", "month"):
        # Age is still close enough for the rules' bands, but the card should say it is
        # reckoned from the first day of the year (or month).
        problems.append(f"birth date only to the {parsed.precision} ({parsed.text}); age reckoned from {parsed.start}")
    return parsed.start


def _asian_race(patient: JsonObject) -> bool:
    for extension in objects(patient.get("extension")):
        if extension.get("url") != US_CORE_RACE_URL:
            continue
        for part in objects(extension.get("extension")):
            coding = part.get("valueCoding")
            if (
                part.get("url") in ("ombCategory", "detailed")
                and isinstance(coding, dict)
                and coding.get("system") == OMB_RACE_SYSTEM
                and coding.get("code") == OMB_ASIAN
            ):
                return True
    return False

"""Synthetic patients for the rules tests: a healthy default, changed one field at a time.

The default patient is a 68-year-old man, 70 kg, creatinine 1.0 mg/dL (Cockcroft-Gault: 72 ×
70 / 72 = 70.0 mL/min, normal tier), ANC 3,000/µL and platelets 200,000/µL measured yesterday,
with nothing else on record. Age 68 makes (140 − age) = 72 cancel the Cockcroft-Gault divisor:
CrCl = weight / creatinine, so boundary clearances are exact.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from typing import Any

from rules.engine import findings
from rules.dose_ladder import lenalidomide_regimen
from rules.model import (
    ClinicalCondition,
    ClinicalProcedure,
    Evaluation,
    Hook,
    Measurement,
    MedicationOrder,
    PatientSnapshot,
    Recommendation,
    Regimen,
)

TODAY = date(2025, 6, 1)


def days_ago(days: int) -> date:
    return TODAY - timedelta(days=days)


def born_aged(years: int) -> date:
    """A birth date giving exactly this age on TODAY (birthday on January 1st)."""
    return date(TODAY.year - years, 1, 1)


def lab(value: float, unit: str = "", days: int = 1, comparator: str | None = None, code: str = "") -> Measurement:
    return Measurement(value, unit, days_ago(days), code=code, comparator=comparator)


def counts(
    anc: float | None = 3_000,
    platelets: float | None = 200_000,
    days: int = 1,
    previous_anc: tuple[tuple[float, int], ...] = (),
    anc_comparator: str | None = None,
    platelet_comparator: str | None = None,
) -> dict[str, Any]:
    """Snapshot fields for a blood count; previous_anc = ((value, days ago), ...) newest first."""
    fields: dict[str, Any] = {"anc": None, "anc_history": (), "platelets": None, "platelet_history": ()}
    if anc is not None:
        latest = lab(anc, "cells/uL", days, anc_comparator)
        fields["anc"] = latest
        fields["anc_history"] = (latest,) + tuple(lab(v, "cells/uL", d) for v, d in previous_anc)
    if platelets is not None:
        fields["platelets"] = lab(platelets, "cells/uL", days, platelet_comparator)
        fields["platelet_history"] = (fields["platelets"],)
    return fields


def lenalidomide(
    mg: float = 25.0,
    every_hours: float = 24.0,
    *,
    id: str = "len-draft",
    status: str = "draft",
    authored_days_ago: int | None = None,
    selected: bool = True,
) -> MedicationOrder:
    draft = status == "draft"
    return MedicationOrder(
        id=id,
        drug="lenalidomide",
        status=status,
        display="lenalidomide",
        authored=days_ago(authored_days_ago) if authored_days_ago is not None else None,
        regimen=lenalidomide_regimen(mg, every_hours),
        is_draft=draft,
        selected=draft and selected,
    )


def dexamethasone(
    mg: float = 40.0,
    days: tuple[int, ...] = (1, 8, 15, 22),
    *,
    id: str = "dex-draft",
    status: str = "draft",
    authored_days_ago: int | None = None,
) -> MedicationOrder:
    draft = status == "draft"
    return MedicationOrder(
        id=id,
        drug="dexamethasone",
        status=status,
        display="dexamethasone",
        authored=days_ago(authored_days_ago) if authored_days_ago is not None else None,
        regimen=Regimen(
            dose=mg,
            dose_unit="mg",
            every_hours=168.0 if len(days) == 4 and days[1] == 8 else 24.0,
            cycle_days=days,
            cycle_length_days=28,
            route="oral",
        ),
        is_draft=draft,
        selected=draft,
    )


def medication(
    drug: str,
    *,
    status: str = "active",
    dose: float | None = None,
    unit: str | None = None,
    every_hours: float | None = 24.0,
    authored_days_ago: int | None = 30,
    id: str | None = None,
) -> MedicationOrder:
    return MedicationOrder(
        id=id or f"{drug}-{status}",
        drug=drug,
        status=status,
        display=drug,
        authored=days_ago(authored_days_ago) if authored_days_ago is not None else None,
        regimen=Regimen(dose=dose, dose_unit=unit, every_hours=every_hours),
    )


def condition(category: str, *, onset_days_ago: int | None = None, active: bool = True) -> ClinicalCondition:
    return ClinicalCondition(
        category,
        category.replace("-", " "),
        active=active,
        onset=days_ago(onset_days_ago) if onset_days_ago is not None else None,
    )


def procedure(category: str, days: int = 400) -> ClinicalProcedure:
    return ClinicalProcedure(category, category, performed=days_ago(days))


def patient(**fields: Any) -> PatientSnapshot:
    """The default patient with some fields replaced (see the module docstring)."""
    base = PatientSnapshot(
        patient_id="test-patient",
        birth_date=born_aged(68),
        sex="male",
        creatinine=lab(1.0, "mg/dL"),
        weight=lab(70.0, "kg"),
        **counts(),
    )
    return replace(base, **fields)


def with_crcl(snapshot: PatientSnapshot, clearance: float) -> PatientSnapshot:
    """Cockcroft-Gault giving exactly ``clearance`` (age 68, male, creatinine 1.0 mg/dL)."""
    return replace(
        snapshot, birth_date=born_aged(68), sex="male", creatinine=lab(1.0, "mg/dL"), weight=lab(clearance, "kg")
    )


def starting(*extra: MedicationOrder, **fields: Any) -> PatientSnapshot:
    """A patient starting lenalidomide 25 mg + dexamethasone 40 mg weekly (both drafts)."""
    return patient(medications=(lenalidomide(), dexamethasone()) + extra, **fields)


def new_cycle(
    *extra: MedicationOrder, current_mg: float = 25.0, started_days_ago: int = 120, **fields: Any
) -> PatientSnapshot:
    """A patient on lenalidomide (active order) with the next cycle's draft under review."""
    return patient(
        medications=(
            lenalidomide(current_mg, id="len-active", status="active", authored_days_ago=started_days_ago),
            lenalidomide(current_mg),
        )
        + extra,
        **fields,
    )


def on_lenalidomide(
    *extra: MedicationOrder, mg: float = 25.0, every_hours: float = 24.0, started_days_ago: int = 120, **fields: Any
) -> PatientSnapshot:
    """A patient on lenalidomide, as patient-view sees him (no drafts)."""
    return patient(
        medications=(
            lenalidomide(mg, every_hours, id="len-active", status="active", authored_days_ago=started_days_ago),
        )
        + extra,
        **fields,
    )


def run(
    snapshot: PatientSnapshot, hook: Hook = "order-sign", today: date = TODAY, region: str = "KR"
) -> list[Recommendation]:
    """Every rule's finding for this call (before the alert-burden policy, which
    tests/rules/test_alert_burden.py tests through the engine's evaluate)."""
    return findings(snapshot, Evaluation(hook=hook, today=today, region=region))


def card(recommendations: list[Recommendation], concern: str) -> Recommendation | None:
    return next((r for r in recommendations if r.concern == concern), None)


def concerns(recommendations: list[Recommendation]) -> set[str]:
    return {r.concern for r in recommendations}

"""The CDS services, each declared once: id, hook, title, description, prefetch.

Discovery (GET /cds-services) is generated from these declarations, and the hook endpoint
looks the service up here, so a service cannot be listed without being served or vice versa.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fhir_mappings.terminology import OBSERVATION_LOINC_CODES

PATIENT = "{{context.patientId}}"

# Prefetch templates (2.0.1 tokens only), written to keep a record small without hiding what
# the rules need (docs/operations.md, "Prefetch templates", says why each filter is or is not
# there). Observations: only the LOINC codes the rules read, newest first. _count asks for
# large pages, so that a long record needs few round trips; a server may send smaller ones.
# No status or date filter: resolved conditions (a DVT 5 months ago), completed orders (prior
# therapy) and past procedures are inputs, and templates cannot compute a date.
PREFETCH: dict[str, str] = {
    "patient": f"Patient/{PATIENT}",
    "observations": (
        f"Observation?patient={PATIENT}&code="
        + ",".join(f"http://loinc.org|{code}" for code in OBSERVATION_LOINC_CODES)
        + "&_sort=-date&_count=500"
    ),
    "conditions": f"Condition?patient={PATIENT}&_count=200",
    "medications": f"MedicationRequest?patient={PATIENT}&_count=200",
    "procedures": f"Procedure?patient={PATIENT}&_count=100",
}


@dataclass(frozen=True)
class CdsService:
    id: str
    hook: str
    title: str
    description: str
    prefetch: dict[str, str] = field(default_factory=lambda: dict(PREFETCH))
    usage_requirements: str = (
        "For adults with relapsed or refractory multiple myeloma treated with lenalidomide and "
        "dexamethasone. Needs current serum creatinine, body weight and a CBC with differential."
    )

    def discovery(self) -> dict[str, Any]:
        return {
            "hook": self.hook,
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "prefetch": self.prefetch,
            "usageRequirements": self.usage_requirements,
        }


SERVICES: tuple[CdsService, ...] = (
    CdsService(
        id="lenalidomide-order-select",
        hook="order-select",
        title="Lenalidomide/dexamethasone order check",
        description=(
            "When a lenalidomide or dexamethasone order is selected for a patient with relapsed "
            "or refractory myeloma: the lenalidomide starting dose for the patient's kidney "
            "function and blood counts, the dexamethasone schedule, thrombosis and infection "
            "prophylaxis, pregnancy precautions and the indication — with one-click fixes to "
            "the order."
        ),
    ),
    CdsService(
        id="lenalidomide-order-sign",
        hook="order-sign",
        title="Lenalidomide/dexamethasone check at signing",
        description=(
            "The same checks as at selection, on the final draft orders just before they are "
            "signed. Critical: pregnancy; ANC < 500/µL or platelets < 30,000/µL at a new cycle; "
            "an active DVT/PE without anticoagulation; a lenalidomide dose above the renal "
            "maximum at CrCl < 30 mL/min or on dialysis."
        ),
    ),
    CdsService(
        id="lenalidomide-patient-view",
        hook="patient-view",
        title="Lenalidomide treatment monitoring",
        description=(
            "When the chart of a patient on lenalidomide is opened: neutropenia and low "
            "platelets needing a delay, interruption or dose step, a change in kidney function, "
            "overdue blood counts or liver/thyroid tests, and missing prophylaxis."
        ),
    ),
)

SERVICES_BY_ID: dict[str, CdsService] = {service.id: service for service in SERVICES}

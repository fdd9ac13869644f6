"""One hook call, from validated request and resolved prefetch to the response JSON.

request → fhir_mappings (snapshot) → rules (recommendations) → cards (CDS Hooks cards).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from cards import to_cards
from fhir_mappings import build_snapshot, unresolved_medication_references
from rules import Evaluation, evaluate
from rules.model import Hook, Recommendation
from service.hook_request import HookRequest, OrderSelectContext, OrderSignContext, PatientViewContext
from service.prefetch import FhirClient, fetch_references


@dataclass(frozen=True)
class HookAnswer:
    response: dict[str, Any]
    recommendations: list[Recommendation]


def answer_hook(
    request: HookRequest,
    context: PatientViewContext,
    prefetched: dict[str, dict[str, Any] | None],
    *,
    today: date,
    region: str,
    freshness_days: dict[str, int] | None = None,
    client: FhirClient | None = None,
) -> HookAnswer:
    drafts = context.draftOrders.resources() if isinstance(context, OrderSignContext) else []
    selections = context.selections if isinstance(context, OrderSelectContext) else []
    resources: list[dict[str, Any]] = [value for value in prefetched.values() if value is not None]

    references = unresolved_medication_references(resources + drafts)
    resources.extend(fetch_references(client, references))

    snapshot = build_snapshot(
        resources, patient_id=context.patientId, draft_orders=drafts, selections=selections
    )
    hook: Hook = request.hook  # type: ignore[assignment]  # checked against the service
    recommendations = evaluate(snapshot, Evaluation(hook=hook, today=today, region=region, freshness_days=freshness_days or {}))
    drafts_by_id = {
        str(d["id"]): d for d in drafts if d.get("resourceType") == "MedicationRequest" and d.get("id")
    }
    cards = to_cards(
        recommendations,
        hook_instance=request.hookInstance,
        patient_id=context.patientId,
        drafts_by_id=drafts_by_id,
    )
    return HookAnswer({"cards": cards}, recommendations)

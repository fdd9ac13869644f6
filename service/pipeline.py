"""One hook call, from validated request and resolved prefetch to the response JSON.

request → fhir_mappings (snapshot) → rules (recommendations) → cards (CDS Hooks cards).

Before any prefetch is resolved, ``triage_drafts`` decides from the request's draft orders
alone whether an order hook is about lenalidomide or dexamethasone at all: an order-select of
an aspirin draft, or an order-sign of drafts holding neither drug, has nothing to check, and
is answered ``{"cards": []}`` without a fetch (and so without a 412 when the FHIR server is
down or the client left prefetch keys out).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from cards import to_cards
from fhir_mappings import build_snapshot, unresolved_medication_references
from fhir_mappings.fhir_json import text_value
from fhir_mappings.record import PatientRecord, flatten
from rules import Evaluation, evaluate
from rules.engine import has_anything_to_say, orders_under_review
from rules.model import HoldDraft, Hook, Recommendation
from service.declarations import SERVICES
from service.hook_request import (
    HookRequest,
    OrderSelectContext,
    OrderSignContext,
    PatientViewContext,
    parse_hook_request,
)
from service.prefetch import MAX_REFERENCES, FhirClient, fetch_references, resolve_prefetch


@dataclass(frozen=True)
class HookAnswer:
    response: dict[str, Any]
    recommendations: list[Recommendation]


@dataclass(frozen=True)
class DraftTriage:
    """Whether the rules have a draft order to review, decided before any prefetch."""

    under_review: bool
    medications: list[dict[str, Any]] = field(default_factory=list)
    """Medications fetched to classify a draft (its medicationReference): answer_hook reuses
    them instead of fetching them again."""
    tried: frozenset[str] = frozenset()
    """The references fetched for that, found or not: not asked for a second time."""


def triage_drafts(request: HookRequest, context: PatientViewContext, client: FhirClient | None) -> DraftTriage:
    """Is a lenalidomide or dexamethasone draft under review (rules.engine.orders_under_review:
    a selected one for order-select, any for order-sign)? patient-view always goes on.

    The drafts are classified by fhir_mappings exactly as the full evaluation classifies them.
    A draft whose medicationReference points at a Medication the request does not hold could
    be lenalidomide: that Medication alone is fetched; when it cannot be had, the call goes on
    as under review (prefetch resolved as usual, 412 if it cannot be), never a silent
    ``{"cards": []}`` about an order that may be lenalidomide.
    """
    if not isinstance(context, OrderSignContext):
        return DraftTriage(under_review=True)
    hook: Hook = request.hook  # type: ignore[assignment]  # checked against the service
    drafts = context.draftOrders.resources()
    selections = context.selections if isinstance(context, OrderSelectContext) else []
    deciding = _deciding_references(drafts, selections if hook == "order-select" else None)
    known: list[dict[str, Any]] = []
    medications: list[dict[str, Any]] = []
    tried: frozenset[str] = frozenset()
    if deciding:
        given = [v for v in (request.prefetch or {}).values() if isinstance(v, dict)]
        known = PatientRecord(given).of_type("Medication")
        missing = [r for r in unresolved_medication_references(known + drafts) if r in deciding]
        if missing:
            if client is None:
                return DraftTriage(under_review=True)
            attempted = missing[:MAX_REFERENCES]
            medications = fetch_references(client, attempted)
            tried = frozenset(attempted)
            known = known + medications
            if any(r in deciding for r in unresolved_medication_references(known + drafts)):
                return DraftTriage(True, medications, tried)
    snapshot = build_snapshot(known, patient_id=context.patientId, draft_orders=drafts, selections=selections)
    return DraftTriage(has_anything_to_say(hook, orders_under_review(snapshot, hook)), medications, tried)


def _deciding_references(drafts: list[dict[str, Any]], selections: list[str] | None) -> set[str]:
    """medicationReference targets of the drafts that decide (order-select: the selected ones)."""
    references: set[str] = set()
    for draft in drafts:
        if draft.get("resourceType") != "MedicationRequest":
            continue
        if selections is not None and f"MedicationRequest/{draft.get('id')}" not in selections:
            continue
        reference = draft.get("medicationReference")
        target = text_value(reference.get("reference")) if isinstance(reference, dict) else None
        if target is not None:
            references.add(target)
    return references


def _orders_to_update(
    drafts: list[dict[str, Any]], resources: list[dict[str, Any]], recommendations: list[Recommendation]
) -> dict[str, dict[str, Any]]:
    """The MedicationRequests that suggestions may update, by id: the drafts, and the record's
    orders that a hold names (at patient-view, the active lenalidomide order)."""
    by_id = {str(d["id"]): d for d in drafts if d.get("resourceType") == "MedicationRequest" and d.get("id")}
    held = {a.order_id for r in recommendations for a in r.actions if isinstance(a, HoldDraft)} - set(by_id)
    if held:
        for resource, _ in flatten(resources):
            if resource.get("resourceType") == "MedicationRequest" and str(resource.get("id")) in held:
                by_id.setdefault(str(resource["id"]), resource)
    return by_id


def answer_hook(
    request: HookRequest,
    context: PatientViewContext,
    prefetched: dict[str, dict[str, Any] | None],
    *,
    today: date,
    region: str,
    freshness_days: dict[str, int] | None = None,
    client: FhirClient | None = None,
    triage: DraftTriage | None = None,
) -> HookAnswer:
    drafts = context.draftOrders.resources() if isinstance(context, OrderSignContext) else []
    selections = context.selections if isinstance(context, OrderSelectContext) else []
    resources: list[dict[str, Any]] = [value for value in prefetched.values() if value is not None]
    if triage is not None:
        resources.extend(triage.medications)
    tried = triage.tried if triage is not None else frozenset()
    references = [r for r in unresolved_medication_references(resources + drafts) if r not in tried]
    resources.extend(fetch_references(client, references))

    snapshot = build_snapshot(resources, patient_id=context.patientId, draft_orders=drafts, selections=selections)
    hook: Hook = request.hook  # type: ignore[assignment]  # checked against the service
    recommendations = evaluate(
        snapshot, Evaluation(hook=hook, today=today, region=region, freshness_days=freshness_days or {})
    )
    cards = to_cards(
        recommendations,
        hook_instance=request.hookInstance,
        patient_id=context.patientId,
        drafts_by_id=_orders_to_update(drafts, resources, recommendations),
        orders=snapshot.medications,
    )
    return HookAnswer({"cards": cards}, recommendations)


def answer_prefetched(body: dict[str, Any], hook: str, *, today: date, region: str = "KR") -> HookAnswer:
    """The answer to a hook request that carries its prefetch, in process and without a FHIR
    client: what the golden responses, the alert-burden measure and the card-length test read
    (the HTTP endpoint adds the checks of the request and the fetching)."""
    service = next(service for service in SERVICES if service.hook == hook)
    request, context = parse_hook_request(body, hook)
    prefetched = resolve_prefetch(service.prefetch, request, context, None)
    return answer_hook(request, context, prefetched, today=today, region=region)

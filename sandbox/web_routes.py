"""The browser sandbox: a clinician-facing page that plays the EHR (GET /sandbox).

The page (sandbox/web/: plain HTML, JavaScript and CSS, nothing loaded from elsewhere) lists
the synthetic patients, shows each one's key data, lets the clinician edit the lenalidomide
and dexamethasone draft orders, fires a hook at this service's own /cds-services endpoints and
shows the cards as an EHR would, with suggestions that rewrite the drafts and an override that
posts CDS Hooks feedback. This blueprint serves the page and the synthetic patients it needs:

- ``GET /sandbox`` the page; ``GET /sandbox/static/<file>`` its script and style sheet;
- ``GET /sandbox/api/patients`` slug, story and hooks of every patient;
- ``GET /sandbox/api/patients/<slug>`` the key data a clinician looks at, computed from the
  record the way the service reads it (fhir_mappings.build_snapshot, rules.renal);
- ``GET /sandbox/api/patients/<slug>/request?hook=…`` a ready CDS Hooks request with prefetch.

Only synthetic patients are served, and only when ``Settings.sandbox_page`` is on (the
default); service/app.py does not register this blueprint otherwise, so every path is a 404.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, jsonify, request, send_from_directory

from fhir_mappings import build_snapshot
from fhir_mappings.card_text import plain_text
from rules.dose_ladder import describe
from rules.freshness import DEFAULT_FRESHNESS_DAYS, is_fresh
from rules.model import Evaluation, Measurement, MedicationOrder, OrdersUnderReview, PatientSnapshot
from rules.renal import RenalFunction, assess_renal_function
from rules.vte_prophylaxis import vte_risk
from sandbox.catalogue import HOOKS, PATIENTS, draft_orders, fhir_resources, hook_request, load_bundle
from service.errors import ApiError

WEB_DIR = Path(__file__).resolve().parent / "web"
STATIC_FILES = frozenset({"sandbox.js", "sandbox.css"})

sandbox_page = Blueprint("sandbox_page", __name__)


@sandbox_page.get("/sandbox")
def page() -> Response:
    response = send_from_directory(WEB_DIR, "index.html", max_age=0)
    # The page runs only its own script: no inline script, nothing from another origin.
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@sandbox_page.get("/sandbox/static/<name>")
def static_file(name: str) -> Response:
    if name not in STATIC_FILES:
        raise ApiError(404, f"no sandbox file {name!r}")
    response = send_from_directory(WEB_DIR, name, max_age=0)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@sandbox_page.get("/sandbox/api/patients")
def patients() -> Response:
    return jsonify(
        {
            "patients": [
                {"slug": story.slug, "story": story.story, "hooks": list(story.hooks)} for story in PATIENTS.values()
            ]
        }
    )


@sandbox_page.get("/sandbox/api/patients/<slug>")
def patient(slug: str) -> Response:
    _known(slug)
    return jsonify(_without_nulls(patient_summary(slug, date.today())))


@sandbox_page.get("/sandbox/api/patients/<slug>/request")
def patient_request(slug: str) -> Response:
    story = _known(slug)
    hook = request.args.get("hook", "")
    if hook not in HOOKS:
        raise ApiError(400, f"hook must be one of {', '.join(HOOKS)}, not {hook[:40]!r}")
    if hook not in story.hooks:
        raise ApiError(400, f"sandbox patient {slug!r} is written for {', '.join(story.hooks)}, not {hook}")
    return jsonify(hook_request(slug, hook, today=date.today()))


def _known(slug: str) -> Any:
    story = PATIENTS.get(slug)
    if story is None:
        raise ApiError(404, f"unknown sandbox patient {slug[:60]!r}; see GET /sandbox/api/patients")
    return story


# --- the key data of one patient -------------------------------------------------------------


def patient_summary(slug: str, today: date) -> dict[str, Any]:
    """What the clinician sees before ordering, read from the record as the rules read it."""
    story = PATIENTS[slug]
    drafts = draft_orders(slug, today)
    snapshot = build_snapshot(fhir_resources(slug, today), patient_id=slug, draft_orders=drafts)
    evaluation = Evaluation(hook="order-select", today=today)
    renal = assess_renal_function(snapshot, evaluation)
    orders = OrdersUnderReview(
        lenalidomide=snapshot.drafts_of("lenalidomide"), dexamethasone=snapshot.drafts_of("dexamethasone")
    )
    vte = vte_risk(snapshot, evaluation, orders)
    return {
        "slug": slug,
        "story": story.story,
        "hooks": list(story.hooks),
        "today": today.isoformat(),
        "patient": _demographics(slug, snapshot, today),
        "renal": _renal(renal),
        "labs": _labs(snapshot, evaluation),
        "vteRiskFactors": {"high": list(vte.high), "standard": list(vte.standard)},
        "conditions": [
            {
                "display": plain_text(c.display),
                "category": c.category,
                "active": c.active,
                "onset": _iso(c.onset or c.recorded),
            }
            for c in snapshot.conditions
            if c.category != "asian-ethnicity"
        ],
        "medications": {
            "active": [_medication(m) for m in snapshot.medications if m.is_active],
            "past": [_medication(m) for m in snapshot.medications if m.ever_given and not m.is_active],
        },
        "draftOrders": [
            {**_medication(m), "resource": next(d for d in drafts if d.get("id") == m.id)}
            for m in snapshot.medications
            if m.is_draft
        ],
        "dataProblems": [plain_text(problem) for problem in snapshot.data_problems],
    }


def _demographics(slug: str, snapshot: PatientSnapshot, today: date) -> dict[str, Any]:
    bundle = load_bundle(slug, today)
    patient = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    names = patient.get("name") or [{}]
    name = names[0].get("text") or " ".join(names[0].get("given", []) + [names[0].get("family", "")]).strip()
    return {
        "name": name or slug,
        "sex": snapshot.sex or "unknown",
        "birthDate": _iso(snapshot.birth_date),
        "age": snapshot.age_on(today),
    }


def _renal(renal: Any) -> dict[str, Any]:
    inputs = [{"name": i.name, "value": i.value, "date": _iso(i.when)} for i in renal.inputs]
    if isinstance(renal, RenalFunction):
        return {
            "known": True,
            "method": renal.method,
            "crcl": round(renal.clearance_ml_min, 1) if renal.clearance_ml_min is not None else None,
            "tier": renal.tier.name,
            "explanation": renal.explanation,
            "ruleIds": list(renal.rule_ids),
            "inputs": inputs,
        }
    return {"known": False, "missing": list(renal.missing), "inputs": inputs}


# (label, snapshot field, freshness window name, digits); counts are shown in 10^3/uL.
_LABS: tuple[tuple[str, str, str | None, int], ...] = (
    ("Serum creatinine", "creatinine", "creatinine", 2),
    ("Body weight", "weight", "weight", 1),
    ("Height", "height", "height", 0),
    ("eGFR", "egfr", "egfr", 1),
    ("Measured CrCl", "measured_crcl", "measured_crcl", 1),
    ("ANC", "anc", "anc", 0),
    ("Platelets", "platelets", "platelets", 0),
    ("ECOG", "ecog", "ecog", 0),
    ("ALT", "alt", None, 0),
    ("AST", "ast", None, 0),
    ("TSH", "tsh", None, 2),
)


def _labs(snapshot: PatientSnapshot, evaluation: Evaluation) -> list[dict[str, Any]]:
    rows = []
    for label, name, window, digits in _LABS:
        measurement: Measurement | None = getattr(snapshot, name)
        if measurement is None:
            continue
        row: dict[str, Any] = {
            "name": label,
            "key": name,
            "value": _count(measurement) if name in ("anc", "platelets") else measurement.shown(digits),
            "date": measurement.when.isoformat(),
        }
        if window is not None and window in DEFAULT_FRESHNESS_DAYS:
            row["fresh"] = is_fresh(measurement, window, evaluation)
        rows.append(row)
    return rows


def _count(measurement: Measurement) -> str:
    """Blood counts as clinicians read them: 2.8 ×10³/µL (2,800/µL)."""
    thousands = measurement.value / 1000
    return f"{measurement.comparator or ''}{thousands:g} ×10³/µL ({measurement.value:,.0f}/µL)"


def _medication(order: MedicationOrder) -> dict[str, Any]:
    regimen = order.regimen
    item: dict[str, Any] = {
        "id": order.id,
        "drug": order.drug,
        "display": plain_text(order.display) if order.display else order.drug,
        "status": order.status,
        "authored": _iso(order.authored),
    }
    if regimen is not None:
        item["dosage"] = regimen.text or describe(regimen)
        if regimen.dose is not None:
            item["dose"] = regimen.dose
            item["doseUnit"] = regimen.dose_unit
        if regimen.every_hours is not None:
            item["everyHours"] = regimen.every_hours
        if regimen.days_label:
            item["days"] = regimen.days_label
    return item


def _without_nulls(value: Any) -> Any:
    """Absent is omitted, never null (the project's JSON rule, kept here too)."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None

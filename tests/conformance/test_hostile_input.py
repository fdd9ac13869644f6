"""Hostile and broken input: each gets its documented status (CONTRACT.md "Errors") and an
OperationOutcome whose diagnostics name the problem — never a 500, a hang or a stack trace —
and a refused request leaves the store as it was.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from typing import Any

import pytest
import requests

from sandbox.catalogue import hook_request
from service.settings import Settings
from service.store import Store
from service.store.tables import feedback
from tests.conformance.card_invariants import lenadex_problems, standard_problems
from tests.conftest import LiveService, serving

SELECT = "lenalidomide-order-select"
SIGN = "lenalidomide-order-sign"
MiB = 1024 * 1024


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveService]:
    store = tmp_path_factory.mktemp("hostile") / "lenadex.sqlite3"
    with serving(Settings(database_url=f"sqlite:///{store}")) as live:
        yield live


@pytest.fixture(scope="module")
def feedback_rows(service: LiveService) -> Iterator[Callable[[], int]]:
    store = Store(service.settings.database_url)
    yield lambda: store.count(feedback)
    store.close()


def post(
    service: LiveService,
    body: Any = None,
    *,
    raw: bytes | None = None,
    path: str = SELECT,
    content_type: str = "application/json",
    timeout: float = 30,
) -> requests.Response:
    data = raw if raw is not None else json.dumps(body).encode()
    return requests.post(
        f"{service.base_url}/cds-services/{path}", data=data, headers={"Content-Type": content_type}, timeout=timeout
    )


def assert_outcome(response: requests.Response, status: int, *words: str) -> None:
    assert response.status_code == status, response.text[:500]
    assert response.headers["Content-Type"].startswith("application/json")
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    diagnostics = outcome["issue"][0]["diagnostics"]
    for word in words:
        assert word in diagnostics, diagnostics
    assert "Traceback" not in response.text and len(diagnostics) < 2000


def assert_cards(response: requests.Response, hook: str = "order-select") -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text[:500]
    body = response.json()
    assert standard_problems(body) == []
    assert lenadex_problems(body, hook) == []
    cards: list[dict[str, Any]] = body["cards"]
    return cards


def request_for(slug: str = "moderate-renal", hook: str = "order-select") -> dict[str, Any]:
    return hook_request(slug, hook)


def draft(request: dict[str, Any]) -> dict[str, Any]:
    resource: dict[str, Any] = request["context"]["draftOrders"]["entry"][0]["resource"]
    return resource


# --- not JSON, not UTF-8, not strict JSON -------------------------------------------------

NESTED_100K = b"[" * 100_000 + b"]" * 100_000


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b'{"hook": ', "malformed JSON"),
        (b'{"hook": "order-select"} trailing', "malformed JSON"),
        (b"", "malformed JSON"),
        (b"{'hook': 'order-select'}", "malformed JSON"),
        (b'{"hook": "\xff\xfe order-select"}', "UTF-8"),
        (b"\xc3\x28", "UTF-8"),
        (NESTED_100K, "nested deeper than 100 levels"),
        (b'{"a": ' * 100_000 + b"1" + b"}" * 100_000, "nested deeper than 100 levels"),
        (b'{"hook": "order-select", "x": NaN}', "NaN is not a JSON number"),
        (b'{"hook": "order-select", "x": -Infinity}', "Infinity is not a JSON number"),
        (b'{"hook": "order-select", "x": 1e999}', "out of range"),
        (b'{"hook": "order-select", "x": "\\udbae"}', "surrogate"),
        (b"null", "JSON object"),
        (b"[]", "JSON object"),
        (b'"order-select"', "JSON object"),
        (b"42", "JSON object"),
    ],
    ids=[
        "truncated",
        "trailing garbage",
        "empty",
        "single quotes",
        "invalid UTF-8",
        "lone continuation byte",
        "100k nested arrays",
        "100k nested objects",
        "NaN",
        "-Infinity",
        "1e999",
        "lone surrogate",
        "null",
        "array",
        "string",
        "number",
    ],
)
def test_what_is_not_a_json_object_is_400(service, raw, words):
    assert_outcome(post(service, raw=raw), 400, words)


def test_nesting_the_json_parser_accepts_but_the_service_cannot_echo_is_400(service):
    """200 levels in a draft order parse under Python's recursion limit, but copying the draft
    into an update suggestion would not (it was a 500)."""
    request = request_for()
    deep: Any = "leaf"
    for _ in range(200):
        deep = {"valueString": deep} if isinstance(deep, str) else {"extension": [deep]}
    draft(request)["extension"] = [deep]
    assert_outcome(post(service, request), 400, "nested deeper than 100 levels")


def test_nesting_within_the_limit_is_answered(service):
    request = request_for()
    deep: Any = {"url": "http://example.org/x", "valueString": "leaf"}
    for _ in range(40):
        deep = {"url": "http://example.org/x", "extension": [deep]}
    draft(request)["extension"] = [deep]
    assert_cards(post(service, request))


def test_a_non_finite_number_in_a_draft_never_reaches_the_answer(service):
    """NaN/Infinity were read, copied into the update suggestion and written back as `NaN`,
    which is not JSON: the EHR could not parse the answer at all."""
    raw = json.dumps(request_for()).replace('"intent": "order"', '"intent": "order", "x": NaN', 1)
    assert_outcome(post(service, raw=raw.encode()), 400, "NaN")


def test_an_unpaired_surrogate_in_a_draft_is_400_not_a_500(service):
    """An unpaired surrogate escape is read into a str that cannot be encoded as UTF-8:
    echoing the draft in the update suggestion raised UnicodeEncodeError (a 500)."""
    raw = json.dumps(request_for()).replace('"intent": "order"', '"intent": "order", "note": [{"text": "\\udbae"}]', 1)
    assert "\\udbae" in raw
    assert_outcome(post(service, raw=raw.encode()), 400, "surrogate")


def test_text_in_any_script_and_emoji_are_read(service):
    request = request_for()
    draft(request)["note"] = [{"text": "환자 설명 완료 \U0001f48a ✓ — ñ"}]
    cards = assert_cards(post(service, request))
    updated = [
        a["resource"] for c in cards for s in c.get("suggestions", []) for a in s["actions"] if a["type"] == "update"
    ]
    assert updated and updated[0]["note"] == [{"text": "환자 설명 완료 \U0001f48a ✓ — ñ"}]


# --- wrong types at every level -----------------------------------------------------------

WRONG_TYPES: dict[str, tuple[Callable[[dict[str, Any]], Any], str]] = {
    "hook number": (lambda r: r.update(hook=5), "hook"),
    "hook null": (lambda r: r.update(hook=None), "hook"),
    "hookInstance object": (lambda r: r.update(hookInstance={"id": 1}), "hookInstance"),
    "context list": (lambda r: r.update(context=[]), "context"),
    "context string": (lambda r: r.update(context="patient"), "context"),
    "userId number": (lambda r: r["context"].update(userId=1), "userId"),
    "patientId list": (lambda r: r["context"].update(patientId=["a"]), "patientId"),
    "patientId with a slash": (lambda r: r["context"].update(patientId="../Patient"), "patientId"),
    "encounterId number": (lambda r: r["context"].update(encounterId=7), "encounterId"),
    "selections string": (lambda r: r["context"].update(selections="MedicationRequest/x"), "selections"),
    "selections of numbers": (lambda r: r["context"].update(selections=[1]), "selections"),
    "selections empty": (lambda r: r["context"].update(selections=[]), "selections"),
    "draftOrders string": (lambda r: r["context"].update(draftOrders="bundle"), "draftOrders"),
    "draftOrders not a Bundle": (lambda r: r["context"].update(draftOrders={"resourceType": "Patient"}), "draftOrders"),
    "entry not a list": (lambda r: r["context"]["draftOrders"].update(entry={"resource": {}}), "entry"),
    "entry items not objects": (lambda r: r["context"]["draftOrders"].update(entry=[1, "x"]), "entry"),
    "fhirServer number": (lambda r: r.update(fhirServer=8080), "fhirServer"),
    "fhirServer not http": (lambda r: r.update(fhirServer="file:///etc/passwd"), "fhirServer"),
    "fhirAuthorization string": (lambda r: r.update(fhirAuthorization="Bearer x"), "fhirAuthorization"),
    "access_token number": (
        lambda r: r.update(
            fhirServer="http://127.0.0.1:9", fhirAuthorization={"access_token": 5, "token_type": "Bearer"}
        ),
        "access_token",
    ),
    "prefetch list": (lambda r: r.update(prefetch=[]), "prefetch"),
    "prefetch value string": (lambda r: r["prefetch"].update(patient="Patient/1"), "prefetch"),
    "prefetch value number": (lambda r: r["prefetch"].update(observations=3), "prefetch"),
    "prefetch value without resourceType": (lambda r: r["prefetch"].update(patient={"id": "x"}), "prefetch"),
    "prefetch resourceType a number": (lambda r: r["prefetch"].update(patient={"resourceType": 7}), "prefetch"),
}


@pytest.mark.parametrize("mutation", WRONG_TYPES)
def test_a_wrong_type_at_any_level_is_400_naming_the_field(service, mutation):
    request = request_for()
    mutate, field = WRONG_TYPES[mutation]
    mutate(request)
    response = post(service, request)
    assert_outcome(response, 400, field)
    assert any(field in e for e in response.json()["issue"][0].get("expression", [field])), "expression names it"


WRONG_BUT_HARMLESS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "entry resource a string": lambda r: r["context"]["draftOrders"]["entry"].append({"resource": "x"}),
    "searchset entry not a list": lambda r: r["prefetch"]["conditions"].update(entry="x"),
    "searchset entries of junk": lambda r: r["prefetch"]["conditions"].update(
        entry=[1, None, "x", {"resource": 5}, {"resource": {"resourceType": 7}}]
    ),
    "patient of another type": lambda r: r["prefetch"].update(patient={"resourceType": "Observation", "id": "x"}),
    "birthDate a number": lambda r: r["prefetch"]["patient"].update(birthDate=19540302),
    "gender a list": lambda r: r["prefetch"]["patient"].update(gender=["female"]),
    "dose a string": lambda r: draft(r)["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"].update(value="25"),
    "dose astronomically large": lambda r: draft(r)["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"].update(
        value=10**400
    ),
    "weight astronomically large": lambda r: next(
        e["resource"]["valueQuantity"]
        for e in r["prefetch"]["observations"]["entry"]
        if e["resource"]["code"]["coding"][0]["code"] == "29463-7"
    ).update(value=10**400),
    "timing period astronomically large": lambda r: draft(r)["dosageInstruction"][0].update(
        timing={"repeat": {"frequency": 1, "period": 10**400, "periodUnit": "d"}}
    ),
    "dosage not a list": lambda r: draft(r).update(dosageInstruction={"text": "25 mg"}),
    "timing period zero": lambda r: draft(r)["dosageInstruction"][0].update(
        timing={"repeat": {"frequency": 1, "period": 0, "periodUnit": "d"}}
    ),
    "medication coding junk": lambda r: draft(r).update(medicationCodeableConcept={"coding": [None, 5, {"code": 1}]}),
}


@pytest.mark.parametrize("mutation", WRONG_BUT_HARMLESS)
def test_wrong_types_inside_fhir_resources_still_get_valid_cards(service, mutation):
    """Resources are read leniently (CDS_HOOKS_NOTES: accept what real clients send): a part
    that cannot be read is treated as absent, never a 500."""
    request = request_for()
    WRONG_BUT_HARMLESS[mutation](request)
    assert_cards(post(service, request))


# --- semantics the schema cannot express -----------------------------------------------------


def test_selections_pointing_nowhere_are_400(service):
    request = request_for()
    request["context"]["selections"] = ["MedicationRequest/not-in-the-drafts"]
    assert_outcome(post(service, request), 400, "selections", "MedicationRequest/not-in-the-drafts")


@pytest.mark.parametrize(
    ("hook", "service_id"),
    [
        ("order-sign", SELECT),
        ("patient-view", SIGN),
        ("order-select", "lenalidomide-patient-view"),
        ("medication-prescribe", SELECT),
    ],
)
def test_the_wrong_hook_for_the_service_is_400(service, hook, service_id):
    request = request_for()
    request["hook"] = hook
    assert_outcome(post(service, request, path=service_id), 400, "hook", hook)


def test_an_unknown_service_is_404(service):
    assert_outcome(post(service, request_for(), path="lenalidomide-order-selekt"), 404, "lenalidomide-order-selekt")


def test_unknown_resource_types_are_ignored(service):
    request = request_for()
    request["context"]["draftOrders"]["entry"].append({"resource": {"resourceType": "Frobnicator", "id": "f1"}})
    request["prefetch"]["observations"]["entry"].append({"resource": {"resourceType": "Frobnicator", "id": "f2"}})
    request["prefetch"]["procedures"] = {"resourceType": "Frobnicator"}
    cards = assert_cards(post(service, request))
    assert any("org.lenadex.dose" in c["extension"] for c in cards), "the dose check still runs"


def test_duplicate_ids_give_one_card_per_concern(service):
    plain = assert_cards(post(service, request_for()))
    request = request_for()
    drafts = request["context"]["draftOrders"]["entry"]
    drafts.extend(copy.deepcopy(drafts))
    observations = request["prefetch"]["observations"]["entry"]
    observations.extend(copy.deepcopy(observations))
    doubled = assert_cards(post(service, request))
    assert [c["summary"] for c in doubled] == [c["summary"] for c in plain]


# --- size ------------------------------------------------------------------------------------

ONE_MB = "x" * 1_000_000


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda r: r.update(hookInstance=ONE_MB), "hookInstance"),
        (lambda r: r["context"].update(patientId=ONE_MB), "patientId"),
    ],
    ids=["hookInstance", "patientId"],
)
def test_a_megabyte_where_an_identifier_belongs_is_400(service, mutate, field):
    request = request_for()
    mutate(request)
    response = post(service, request)
    assert_outcome(response, 400, field)
    assert len(response.content) < 5000, "the diagnostics must not echo the megabyte"


@pytest.mark.parametrize(
    "mutate",
    [
        lambda r: r["context"].update(userId="Practitioner/" + ONE_MB),
        lambda r: draft(r)["medicationCodeableConcept"].update(text="lenalidomide <script>alert(1)</script>" + ONE_MB),
        lambda r: draft(r)["dosageInstruction"][0].update(text="<img src=x onerror=alert(1)>" + ONE_MB),
        lambda r: r["prefetch"]["observations"]["entry"][0]["resource"]["valueQuantity"].update(
            unit="<script>" + ONE_MB
        ),
        lambda r: r["prefetch"]["patient"].update(name=[{"family": "<script>" + ONE_MB}]),
    ],
    ids=["userId", "medication text", "dosage text", "observation unit", "patient name"],
)
def test_a_megabyte_of_text_in_the_record_gives_short_escaped_cards(service, mutate):
    request = request_for()
    mutate(request)
    cards = assert_cards(post(service, request))
    for card in cards:
        assert len(card["summary"]) < 140
        assert "<script" not in card.get("detail", "") and "<img" not in card.get("detail", "")
        assert len(card.get("detail", "")) < 20_000, "detail must not carry the megabyte"


RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


def _lab(i: int) -> dict[str, Any]:
    """Creatinine, weight, ANC, platelets and ALT in turn, one day apart back from 3 days ago."""
    code, value, unit = [
        ("2160-0", 1.3, "mg/dL"),
        ("29463-7", 55, "kg"),
        ("751-8", 2.8, "10*3/uL"),
        ("777-3", 180, "10*3/uL"),
        ("1742-6", 20, "U/L"),
    ][i % 5]
    return {
        "resourceType": "Observation",
        "id": f"lab-{i}",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        "subject": {"reference": "Patient/moderate-renal"},
        "effectiveDateTime": (date.today() - timedelta(days=3 + i // 5)).isoformat(),
        "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit},
    }


def _condition(i: int) -> dict[str, Any]:
    """Old resolved problems (essential hypertension, seasonal allergy)."""
    code = ("59621000", "367498001")[i % 2]
    return {
        "resourceType": "Condition",
        "id": f"problem-{i}",
        "clinicalStatus": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "resolved"}]
        },
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": code}]},
        "subject": {"reference": "Patient/moderate-renal"},
        "onsetDateTime": (date.today() - timedelta(days=400 + i)).isoformat(),
    }


def _past_order(i: int) -> dict[str, Any]:
    """Completed paracetamol and omeprazole orders, one a day going back."""
    code, name = (("161", "acetaminophen"), ("7646", "omeprazole"))[i % 2]
    return {
        "resourceType": "MedicationRequest",
        "id": f"past-{i}",
        "status": "completed",
        "intent": "order",
        "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": code, "display": name}]},
        "subject": {"reference": "Patient/moderate-renal"},
        "authoredOn": (date.today() - timedelta(days=200 + i)).isoformat(),
    }


BIG_BUNDLES: dict[str, Callable[[int], dict[str, Any]]] = {
    "observations": _lab,
    "conditions": _condition,
    "medications": _past_order,
}


@pytest.mark.parametrize("key", BIG_BUNDLES)
def test_a_10000_entry_bundle_in_prefetch_is_answered_with_the_right_dose(service, key):
    """Answered, and right; how long it takes is measured by bench/bench.py, not asserted."""
    request = request_for()
    entries = [{"resource": BIG_BUNDLES[key](i)} for i in range(10_000)]
    request["prefetch"][key] = {"resourceType": "Bundle", "type": "searchset", "total": 10_000, "entry": entries}
    body = json.dumps(request).encode()
    assert len(body) < 5 * MiB
    cards = assert_cards(post(service, raw=body))
    dose = [c["extension"]["org.lenadex.dose"] for c in cards if "org.lenadex.dose" in c["extension"]]
    assert dose and dose[0]["mg"] == 10, "creatinine 1.3 mg/dL, 55 kg, 72 y woman: moderate, 10 mg"


def test_10000_draft_orders_are_answered(service):
    """Answered with valid cards; how long it takes is bench/bench.py's to measure."""
    request = request_for(hook="order-sign")
    drafts = request["context"]["draftOrders"]["entry"]
    for i in range(10_000):
        drafts.append({"resource": dict(_past_order(i), id=f"extra-{i}", status="draft")})
    body = json.dumps(request).encode()
    assert len(body) < 5 * MiB, len(body)
    assert_cards(post(service, raw=body, path=SIGN), "order-sign")


@pytest.mark.parametrize("path", [SELECT, f"{SELECT}/feedback"])
def test_a_body_over_5_mib_is_413(service, path):
    body = b'{"hook": "' + b"x" * (5 * MiB) + b'"}'
    assert_outcome(post(service, raw=body, path=path), 413, "larger than the limit")


def test_a_chunked_body_over_5_mib_is_413_not_cut_and_parsed(service):
    """Without Content-Length the server cannot refuse up front; Werkzeug then cut the body at
    the limit and the service parsed the cut (400 "malformed JSON", or worse, a valid prefix)."""

    def chunks() -> Iterator[bytes]:
        yield b'{"hook": "order-select", "padding": "'
        for _ in range(6):
            yield b"x" * MiB
        yield b'"}'

    response = requests.post(
        f"{service.base_url}/cds-services/{SELECT}",
        data=chunks(),
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    assert_outcome(response, 413, "larger than the limit")


def test_a_body_just_under_the_limit_is_read(service):
    request = request_for()
    request["padding"] = "x" * (5 * MiB - len(json.dumps(request)) - 100)
    assert_cards(post(service, request))


# --- HTTP level ------------------------------------------------------------------------------


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "", "application/xml"])
def test_a_body_that_is_not_declared_json_is_415(service, content_type):
    assert_outcome(post(service, request_for(), content_type=content_type), 415, "Content-Type")


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
def test_a_wrong_method_is_405_with_allow(service, method):
    response = requests.request(method, f"{service.base_url}/cds-services/{SELECT}", timeout=5)
    assert_outcome(response, 405, "method")
    assert "POST" in response.headers["Allow"]


# --- the store is unchanged by refused requests ------------------------------------------

REFUSED_FEEDBACK: list[tuple[str, bytes, str, int]] = [
    (SELECT, b'{"feedback": [', "application/json", 400),
    (SELECT, b'{"feedback": "accepted"}', "application/json", 400),
    (
        SELECT,
        b'{"feedback": [{"card": "c", "outcome": "liked", "outcomeTimestamp": "2026-11-25T09:00:00Z"}]}',
        "application/json",
        400,
    ),
    (
        SELECT,
        b'{"feedback": [{"card": "c", "outcome": "accepted", "outcomeTimestamp": "yesterday"}]}',
        "application/json",
        400,
    ),
    (
        SELECT,
        b'{"feedback": [{"card": 5, "outcome": "accepted", "outcomeTimestamp": "2026-11-25T09:00:00Z"}]}',
        "application/json",
        400,
    ),
    (
        SELECT,
        b'[{"card": "c", "outcome": "accepted", "outcomeTimestamp": "2026-11-25T09:00:00Z"}]',
        "application/json",
        400,
    ),
    (
        SELECT,
        b'{"feedback": [{"card": "c", "outcome": "accepted", "outcomeTimestamp": "2026-11-25T09:00:00Z"}], "x": NaN}',
        "application/json",
        400,
    ),
    (
        SELECT,
        b'{"feedback": [{"card": "c", "outcome": "accepted", "outcomeTimestamp": "2026-11-25T09:00:00Z"}]}',
        "text/plain",
        415,
    ),
    (
        "no-such-service",
        b'{"feedback": [{"card": "c", "outcome": "accepted", "outcomeTimestamp": "2026-11-25T09:00:00Z"}]}',
        "application/json",
        404,
    ),
    (
        SELECT,
        b'{"feedback": [{"card": "c", "outcome": "accepted", "outcomeTimestamp": "2026-11-25T09:00:00Z"}, '
        b'{"card": "d", "outcome": "overridden"}]}',
        "application/json",
        400,
    ),
    # Found by schemathesis: an instant with no UTC equivalent in Python's calendar (a 500).
    (
        SELECT,
        b'{"feedback": [{"card": "c", "outcome": "accepted", "outcomeTimestamp": "0001-01-01T00:06:06+01:01"}]}',
        "application/json",
        400,
    ),
    (
        SELECT,
        b'{"card": "c", "outcome": "accepted", "outcomeTimestamp": "9999-12-31T23:59:59-01:00"}',
        "application/json",
        400,
    ),
    (SELECT, b"[" * 100_000 + b"]" * 100_000, "application/json", 400),
    (SELECT, b'{"feedback": [{"card": "' + b"x" * (5 * MiB) + b'"}]}', "application/json", 413),
]


def test_refused_feedback_stores_nothing(service, feedback_rows):
    """A feedback body with one bad item among good ones is refused whole: nothing is stored."""
    before = feedback_rows()
    for service_id, raw, content_type, status in REFUSED_FEEDBACK:
        response = requests.post(
            f"{service.base_url}/cds-services/{service_id}/feedback",
            data=raw,
            headers={"Content-Type": content_type},
            timeout=30,
        )
        assert_outcome(response, status)
    assert feedback_rows() == before

    accepted = {
        "feedback": [
            {
                "card": "3f8b9a52-5b7c-4f3e-9a59-0f7e6f1d2c11",
                "outcome": "accepted",
                "outcomeTimestamp": "2026-11-25T09:00:00Z",
            }
        ]
    }
    stored = requests.post(f"{service.base_url}/cds-services/{SELECT}/feedback", json=accepted, timeout=10)
    assert stored.status_code == 200, stored.text
    assert feedback_rows() == before + 1, "the count does see stored feedback"


def test_refused_hook_calls_store_no_feedback(service, feedback_rows):
    before = feedback_rows()
    for raw in (b'{"hook": ', NESTED_100K, json.dumps({"hook": "order-sign"}).encode()):
        assert post(service, raw=raw).status_code == 400
    assert feedback_rows() == before

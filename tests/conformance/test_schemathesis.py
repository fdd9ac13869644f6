"""schemathesis against the running service, from its OpenAPI document (service/openapi.json).

Two runs, bounded together to at most 500 examples and 3 minutes (the last test checks):

1. every operation of the document, schema-valid (positive) and, where the document has
   something to break, schema-invalid (negative) requests;
2. the three services with *plausible* requests: a narrowed copy of the document whose request
   bodies are what an EHR sends — the hook of the service, all prefetch keys filled with
   FHIR-shaped resources carrying the LOINC, RxNorm, SNOMED and ICD-10 codes the rules read,
   with arbitrary values, units, dates and statuses — so that the examples get past request
   validation into the mappings, the rules and the cards.

Checks on every response: no 5xx; the status is documented; media type and body conform to
the document; every 4xx is an OperationOutcome; negative data is refused; and every 200 holds
the standard's card invariants and the contract's card rules (card_invariants.py).
Deterministic (derandomized) so that CI is reproducible; loopback only: a generated
``fhirServer`` is pointed at a stand-in FHIR server on 127.0.0.1 before the call.
"""

from __future__ import annotations

import copy
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from fhir_mappings.terminology import (
    CONDITIONS,
    DRUG_BY_RXNORM,
    ECOG_ANSWERS,
    OBSERVATION_LOINC_CODES,
    PREGNANCY_ANSWERS,
    PROCEDURES,
)
from sandbox.catalogue import fhir_resources
from sandbox.fhir_server import StandInFhirServer
from service.declarations import SERVICES
from service.settings import Settings
from tests import openapi_check
from tests.conformance.card_invariants import lenadex_problems, standard_problems
from tests.conftest import LiveService, serving

MAX_EXAMPLES_IN_ALL = 500

# Examples per operation (positive, negative). Operations without parameters or body have
# nothing to make invalid, and few distinct requests.
DOCUMENT_BUDGET: dict[tuple[str, str], tuple[int, int]] = {
    ("POST", "/cds-services/{serviceId}"): (70, 70),
    ("POST", "/cds-services/{serviceId}/feedback"): (60, 40),
}
OTHER_OPERATIONS_BUDGET = (2, 0)
PLAUSIBLE_PER_SERVICE = 45

_spent = {"examples": 0, "seconds": 0.0, "answers with cards": 0}


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveService]:
    store = tmp_path_factory.mktemp("schemathesis") / "lenadex.sqlite3"
    config = Settings(database_url=f"sqlite:///{store}", fetch_timeout_seconds=0.5, fetch_budget_seconds=1.0)
    with serving(config) as live:
        yield live


@pytest.fixture(scope="module")
def fhir_server() -> Iterator[str]:
    running = StandInFhirServer(fhir_resources("moderate-renal")).start()
    yield running.base_url
    running.stop()


@pytest.fixture(scope="module")
def session() -> Iterator[requests.Session]:
    with requests.Session() as opened:
        yield opened


def _loopback_only(case: schemathesis.Case, fhir_base_url: str) -> None:
    """A generated fhirServer the service would accept is replaced by the stand-in's URL."""
    body = case.body
    if isinstance(body, dict) and isinstance(body.get("fhirServer"), str):
        if re.match(r"^https?://", str(body["fhirServer"])):
            body["fhirServer"] = fhir_base_url


def _assert_our_conventions(case: schemathesis.Case, response: schemathesis.Response) -> None:
    if 400 <= response.status_code < 500:
        assert openapi_check.schema_errors(response.json(), "#/components/schemas/OperationOutcome") == []
    if response.status_code == 200 and case.operation.method.upper() == "POST" and "/feedback" not in case.path:
        body = response.json()
        hook = body_hook(case)
        assert standard_problems(body) == []
        assert lenadex_problems(body, hook) == []
        _spent["answers with cards"] += bool(body["cards"])


def body_hook(case: schemathesis.Case) -> str:
    assert isinstance(case.body, dict)
    return str(case.body["hook"])


def _fuzz(
    operation: Any,
    mode: GenerationMode,
    examples: int,
    service: LiveService,
    fhir_base_url: str,
    session: requests.Session,
) -> None:
    checks = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
    if mode is GenerationMode.NEGATIVE:
        checks.append(negative_data_rejection)
    started = time.monotonic()
    count = 0

    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
        phases=(Phase.explicit, Phase.generate, Phase.shrink),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: schemathesis.Case) -> None:
        nonlocal count
        count += 1
        _loopback_only(case, fhir_base_url)
        response = case.call(base_url=service.base_url, session=session, timeout=30)
        case.validate_response(response, checks=checks)
        _assert_our_conventions(case, response)

    try:
        run()
    finally:
        _spent["examples"] += count
        _spent["seconds"] += time.monotonic() - started


# --- 1. the document as it is --------------------------------------------------------------


def operations(schema: schemathesis.BaseSchema) -> list[schemathesis.APIOperation]:
    """Every operation of the schema; a definition schemathesis cannot use fails here."""
    found = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), f"schemathesis cannot use an operation: {result.err()}"
        found.append(result.ok())
    return found


DOCUMENT_SCHEMA = schemathesis.openapi.from_dict(copy.deepcopy(openapi_check.document()))
OPERATIONS = operations(DOCUMENT_SCHEMA)


@pytest.mark.parametrize("operation", OPERATIONS, ids=[op.label for op in OPERATIONS])
def test_every_operation_of_the_document(service, fhir_server, session, operation):
    positive, negative = DOCUMENT_BUDGET.get((operation.method.upper(), operation.path), OTHER_OPERATIONS_BUDGET)
    _fuzz(operation, GenerationMode.POSITIVE, positive, service, fhir_server, session)
    if negative:
        _fuzz(operation, GenerationMode.NEGATIVE, negative, service, fhir_server, session)


# --- 2. plausible requests, into the pipeline -------------------------------------------------


def _const(value: Any) -> dict[str, Any]:
    return {"const": value}


def _coding(systems: list[str], codes: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["system", "code"],
        "additionalProperties": False,
        "properties": {"system": {"enum": systems}, "code": {"enum": codes}, "display": {"type": "string"}},
    }


def _concept(systems: list[str], codes: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["coding"],
        "additionalProperties": False,
        "properties": {
            "coding": {"type": "array", "minItems": 1, "maxItems": 2, "items": _coding(systems, codes)},
            "text": {"type": "string", "maxLength": 40},
        },
    }


WHEN = {
    "anyOf": [
        {"type": "string", "format": "date-time"},
        {"type": "string", "format": "date"},
        {"type": "string", "maxLength": 12},
    ]
}
UNITS = [
    "mg/dL",
    "umol/L",
    "mmol/L",
    "kg",
    "g",
    "[lb_av]",
    "cm",
    "10*3/uL",
    "10*9/L",
    "/uL",
    "%",
    "U/L",
    "mL/min",
    "mL/min/{1.73_m2}",
    "mIU/L",
    "kg/m2",
    "{score}",
    "x",
]
QUANTITY = {
    "type": "object",
    "required": ["value"],
    "additionalProperties": False,
    "properties": {
        "value": {"type": "number"},
        "unit": {"enum": UNITS},
        "code": {"enum": UNITS},
        "system": _const("http://unitsofmeasure.org"),
        "comparator": {"enum": ["<", "<=", ">=", ">"]},
    },
}
ANSWERS = sorted(PREGNANCY_ANSWERS) + sorted(ECOG_ANSWERS)
ICD10 = sorted({f"{p[:3]}.{p[3:]}" if len(p) > 3 else p for c in CONDITIONS for p in (*c.icd10, *c.past_icd10)})


SUBJECT = {
    "type": "object",
    "required": ["reference"],
    "additionalProperties": False,
    "properties": {"reference": _const("Patient/p1")},
}


def _resource(resource_type: str, required: list[str], properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["resourceType", *required],
        "additionalProperties": False,
        "properties": {
            "resourceType": _const(resource_type),
            "id": {"type": "string", "pattern": "^[a-z0-9]{1,8}$"},
            **properties,
        },
    }


OBSERVATION = _resource(
    "Observation",
    ["code", "subject"],
    {
        "subject": SUBJECT,
        "status": {"enum": ["final", "amended", "corrected", "preliminary", "cancelled", "entered-in-error"]},
        "code": _concept(["http://loinc.org"], list(OBSERVATION_LOINC_CODES)),
        "effectiveDateTime": WHEN,
        "issued": WHEN,
        "valueQuantity": QUANTITY,
        "valueCodeableConcept": _concept(["http://loinc.org", "http://snomed.info/sct"], ANSWERS),
        "valueInteger": {"type": "integer"},
    },
)
CONDITION = _resource(
    "Condition",
    ["code", "subject"],
    {
        "subject": SUBJECT,
        "clinicalStatus": _concept(
            ["http://terminology.hl7.org/CodeSystem/condition-clinical"],
            ["active", "recurrence", "relapse", "inactive", "remission", "resolved"],
        ),
        "verificationStatus": _concept(
            ["http://terminology.hl7.org/CodeSystem/condition-ver-status"],
            ["confirmed", "provisional", "refuted", "entered-in-error"],
        ),
        "code": _concept(
            ["http://snomed.info/sct", "http://hl7.org/fhir/sid/icd-10-cm"],
            sorted({s for c in CONDITIONS for s in c.snomed}) + ICD10,
        ),
        "onsetDateTime": WHEN,
        "abatementDateTime": WHEN,
        "recordedDate": WHEN,
    },
)
PROCEDURE = _resource(
    "Procedure",
    ["code", "subject"],
    {
        "subject": SUBJECT,
        "status": {"enum": ["completed", "in-progress", "not-done", "entered-in-error"]},
        "code": _concept(
            ["http://snomed.info/sct", "http://www.ama-assn.org/go/cpt"],
            sorted({s for p in PROCEDURES for s in (*p.snomed, *p.cpt)}),
        ),
        "performedDateTime": WHEN,
    },
)
DOSAGE = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "text": {"type": "string", "maxLength": 60},
        "timing": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "repeat": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "frequency": {"type": "integer"},
                        "period": {"type": "number"},
                        "periodUnit": {"enum": ["h", "d", "wk", "mo"]},
                        "boundsPeriod": {
                            "type": "object",
                            "additionalProperties": False,
                            "properties": {"start": WHEN, "end": WHEN},
                        },
                        "dayOfWeek": {"type": "array", "maxItems": 3, "items": {"enum": ["mon", "tue", "wed"]}},
                    },
                }
            },
        },
        "doseAndRate": {
            "type": "array",
            "minItems": 1,
            "maxItems": 1,
            "items": {"type": "object", "additionalProperties": False, "properties": {"doseQuantity": QUANTITY}},
        },
        "route": _concept(["http://snomed.info/sct"], ["26643006", "34206005", "47625008"]),
    },
}


ALL_DRUGS = sorted(DRUG_BY_RXNORM)
ORDER_UNDER_REVIEW = sorted(code for code, drug in DRUG_BY_RXNORM.items() if drug in ("lenalidomide", "dexamethasone"))


def _medication_request(ids: dict[str, Any], statuses: list[str], drugs: list[str]) -> dict[str, Any]:
    schema = _resource(
        "MedicationRequest",
        ["id", "status", "intent", "medicationCodeableConcept", "subject"],
        {
            "subject": SUBJECT,
            "status": {"enum": statuses},
            "intent": {"enum": ["order", "plan", "proposal"]},
            "medicationCodeableConcept": _concept(["http://www.nlm.nih.gov/research/umls/rxnorm"], drugs),
            "authoredOn": WHEN,
            "note": {
                "type": "array",
                "maxItems": 1,
                "items": {
                    "type": "object",
                    "required": ["text"],
                    "additionalProperties": False,
                    "properties": {"text": {"type": "string"}},
                },
            },
            "dosageInstruction": {"type": "array", "maxItems": 2, "items": DOSAGE},
        },
    )
    schema["properties"]["id"] = ids
    return schema


def _bundle(resource: dict[str, Any]) -> dict[str, Any]:
    return {
        "anyOf": [
            {"type": "null"},
            {
                "type": "object",
                "required": ["resourceType", "type"],
                "additionalProperties": False,
                "properties": {
                    "resourceType": _const("Bundle"),
                    "type": _const("searchset"),
                    "entry": {
                        "type": "array",
                        "minItems": 1,
                        "maxItems": 12,
                        "items": {
                            "type": "object",
                            "required": ["resource"],
                            "additionalProperties": False,
                            "properties": {"resource": resource},
                        },
                    },
                },
            },
        ]
    }


PATIENT = {
    "anyOf": [
        {"type": "null"},
        _resource(
            "Patient",
            ["id"],
            {
                "id": _const("p1"),
                "gender": {"enum": ["male", "female", "other", "unknown"]},
                "birthDate": {"anyOf": [{"type": "string", "format": "date"}, {"type": "string", "maxLength": 10}]},
            },
        ),
    ]
}


def plausible_request(hook: str) -> dict[str, Any]:
    context: dict[str, Any] = {"userId": _const("Practitioner/fuzz"), "patientId": _const("p1")}
    required = ["userId", "patientId"]
    if hook != "patient-view":
        draft_ids = _const("d1") if hook == "order-select" else {"enum": ["d1", "d2", "d3"]}
        context["draftOrders"] = {
            "type": "object",
            "required": ["resourceType", "entry"],
            "additionalProperties": False,
            "properties": {
                "resourceType": _const("Bundle"),
                "type": _const("collection"),
                "entry": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": 3,
                    "items": {
                        "type": "object",
                        "required": ["resource"],
                        "additionalProperties": False,
                        "properties": {"resource": _medication_request(draft_ids, ["draft"], ORDER_UNDER_REVIEW)},
                    },
                },
            },
        }
        required.append("draftOrders")
    if hook == "order-select":
        context["selections"] = _const(["MedicationRequest/d1"])
        required.append("selections")
    keys = ["patient", "observations", "conditions", "medications", "procedures"]
    return {
        "type": "object",
        "required": ["hook", "hookInstance", "context", "prefetch"],
        "additionalProperties": False,
        "properties": {
            "hook": _const(hook),
            "hookInstance": {"type": "string", "format": "uuid"},
            "context": {"type": "object", "required": required, "additionalProperties": False, "properties": context},
            "prefetch": {
                "type": "object",
                "required": keys,
                "additionalProperties": False,
                "properties": {
                    "patient": PATIENT,
                    "observations": _bundle(OBSERVATION),
                    "conditions": _bundle(CONDITION),
                    "medications": _bundle(
                        _medication_request(
                            {"type": "string", "pattern": "^m[0-9]$"},
                            ["active", "completed", "stopped", "on-hold"],
                            ALL_DRUGS,
                        )
                    ),
                    "procedures": _bundle(PROCEDURE),
                },
            },
        },
    }


def plausible_document() -> dict[str, Any]:
    """The service's document with one path per service and plausible request bodies."""
    document = copy.deepcopy(openapi_check.document())
    call = document["paths"]["/cds-services/{serviceId}"]["post"]
    document["paths"] = {}
    for declared in SERVICES:
        operation = copy.deepcopy(call)
        operation["operationId"] = f"call-{declared.id}"
        operation["requestBody"]["content"] = {"application/json": {"schema": plausible_request(declared.hook)}}
        document["paths"][f"/cds-services/{declared.id}"] = {"post": operation}
    return document


PLAUSIBLE_SCHEMA = schemathesis.openapi.from_dict(plausible_document())
PLAUSIBLE_OPERATIONS = operations(PLAUSIBLE_SCHEMA)


@pytest.mark.parametrize("operation", PLAUSIBLE_OPERATIONS, ids=[op.path for op in PLAUSIBLE_OPERATIONS])
def test_plausible_requests_reach_the_cards(service, fhir_server, session, operation):
    _fuzz(operation, GenerationMode.POSITIVE, PLAUSIBLE_PER_SERVICE, service, fhir_server, session)


def test_the_fuzzing_stayed_within_its_budget():
    """Run last (file order): all of the above together."""
    assert 0 < _spent["examples"] <= MAX_EXAMPLES_IN_ALL, _spent
    # The time spent is in _spent, shown when an assertion fails; it is not asserted: a loaded
    # machine is slower.
    assert _spent["answers with cards"] >= 30, f"the plausible requests must reach the rules: {_spent}"

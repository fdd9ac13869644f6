"""The HL7-published CDS Hooks OpenAPI document (cds-hooks/api PR #5), with its known defects
against CDS Hooks 2.0.1 patched in memory (the published file in hl7/ stays as published).

``patched_document()`` is the document to validate against; ``hl7_schema_errors(body, name)``
validates a body against one of its component schemas (OpenAPI 3.0 schema dialect).
"""

from __future__ import annotations

import copy
import functools
from typing import Any

import yaml
from jsonschema.exceptions import best_match
from openapi_schema_validator import OAS30Validator, oas30_format_checker
from referencing import Registry
from referencing.jsonschema import DRAFT4

from tests.conformance.conftest import HL7_DIR

PUBLISHED = HL7_DIR / "cds-hooks-openapi-1.1.yaml"
_URI = "urn:hl7:cds-hooks-openapi"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


@functools.cache
def published_document() -> dict[str, Any]:
    return yaml.safe_load(PUBLISHED.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


@functools.cache
def patched_document() -> dict[str, Any]:
    """The published document with each defect listed in conformance/README.md fixed."""
    document = copy.deepcopy(published_document())
    schemas = document["components"]["schemas"]

    # OverrideReason.reason refers to OverrideReason itself; 2.0.1: it is a Coding.
    schemas["OverrideReason"]["properties"]["reason"] = {
        "description": schemas["OverrideReason"]["properties"]["reason"]["description"],
        "allOf": [_ref("Coding")],
    }
    # Coding requires only code; 2.0.1: system and code are required, and the Codings of a
    # card's overrideReasons carry a display too.
    schemas["Coding"]["required"] = ["code", "system"]
    schemas["Card"]["properties"]["overrideReasons"]["items"] = {
        "allOf": [_ref("Coding"), {"type": "object", "required": ["display"]}]
    }
    # Fields of 2.0.1 the document lacks.
    schemas["CdsService"]["properties"]["usageRequirements"] = {"type": "string"}
    schemas["Action"]["properties"]["resourceId"] = {"type": "string"}
    schemas["Link"]["properties"]["autolaunchable"] = {"type": "boolean"}
    schemas["FhirAuthorization"]["properties"]["patient"] = {"type": "string"}
    # hook is a free string and context untyped: the three hooks this service answers, each
    # with its context (CDS Hooks library: patient-view 1.0, order-select 1.0, order-sign 1.1).
    schemas["Hook"] = {"type": "string", "enum": ["patient-view", "order-select", "order-sign"]}
    schemas["PatientViewContext"] = {
        "type": "object",
        "required": ["userId", "patientId"],
        "properties": {
            "userId": {"type": "string"},
            "patientId": {"type": "string"},
            "encounterId": {"type": "string"},
        },
    }
    schemas["OrderSignContext"] = {
        "allOf": [
            _ref("PatientViewContext"),
            {
                "type": "object",
                "required": ["draftOrders"],
                "properties": {
                    "draftOrders": {
                        "type": "object",
                        "required": ["resourceType"],
                        "properties": {"resourceType": {"type": "string", "enum": ["Bundle"]}},
                    }
                },
            },
        ]
    }
    schemas["OrderSelectContext"] = {
        "allOf": [
            _ref("OrderSignContext"),
            {
                "type": "object",
                "required": ["selections"],
                "properties": {"selections": {"type": "array", "minItems": 1, "items": {"type": "string"}}},
            },
        ]
    }
    schemas["CdsRequest"]["properties"]["context"]["anyOf"] = [
        _ref("OrderSelectContext"),
        _ref("OrderSignContext"),
        _ref("PatientViewContext"),
    ]
    # servers lists only https and every operation requires a bearer JWT: local tests call
    # http://127.0.0.1 with authentication off (LENADEX_AUTH=off).
    document["servers"] = [{"url": "/"}]
    for path_item in document["paths"].values():
        for operation in path_item.values():
            if isinstance(operation, dict) and "security" in operation:
                operation["security"] = [{}, {"clientIssuedJwt": []}]
    return document


@functools.cache
def _registry() -> Registry:  # type: ignore[type-arg]
    return Registry().with_resource(_URI, DRAFT4.create_resource(patched_document()))


def hl7_schema_errors(body: Any, schema_name: str) -> list[str]:
    """Errors of ``body`` against components/schemas/<schema_name> of the patched document."""
    validator = OAS30Validator(
        {"$ref": f"{_URI}#/components/schemas/{schema_name}"},
        registry=_registry(),
        format_checker=oas30_format_checker,
    )
    errors = list(validator.iter_errors(body))
    if not errors:
        return []
    first = best_match(errors)
    return [
        f"{'/'.join(str(p) for p in e.absolute_path) or '(body)'}: {e.message[:300]}"
        for e in [first] + [e for e in errors if e is not first][:9]
    ]

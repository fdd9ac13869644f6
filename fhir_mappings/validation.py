"""Validation with fhir.resources (R4B models, which read R4 JSON for these resources).

Validation is the slow step (about 100 µs per Observation, DESIGN.md "Measured facts"), so the
mappers call it only on resources already chosen by code and date. A resource that fails is
reported, never raised: one malformed lab result must not take the whole hook call down.

An EHR sends the same record again and again (order-select fires on every selection, then
order-sign, then patient-view), so verdicts are remembered by the resource's content: the
canonical JSON is hashed (about a tenth of the cost of validating it) and a resource seen
before, byte for byte, gets its earlier verdict. A changed resource is a new key and is
validated afresh.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from typing import Any

from fhir.resources.R4B.condition import Condition
from fhir.resources.R4B.medication import Medication
from fhir.resources.R4B.medicationrequest import MedicationRequest
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.procedure import Procedure
from pydantic import ValidationError

from fhir_mappings.fhir_json import JsonObject

MODELS: dict[str, Any] = {
    "Condition": Condition,
    "Medication": Medication,
    "MedicationRequest": MedicationRequest,
    "Observation": Observation,
    "Patient": Patient,
    "Procedure": Procedure,
}


def describe(resource: JsonObject) -> str:
    """'Observation/r9' (or 'an Observation' without an id) for notes."""
    kind = str(resource.get("resourceType", "resource"))
    resource_id = resource.get("id")
    return f"{kind}/{resource_id}" if isinstance(resource_id, str) and resource_id else f"a {kind}"


VERDICTS_REMEMBERED = 50_000  # ≈ 4 MB: the working set of many patients' records
_verdicts: OrderedDict[bytes, str | None] = OrderedDict()
_verdicts_lock = threading.Lock()


def validation_problem(resource: JsonObject) -> str | None:
    """None when the resource is valid FHIR, else a one-line note of why not."""
    model = MODELS.get(str(resource.get("resourceType")))
    if model is None:
        return None
    try:
        canonical = json.dumps(resource, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):  # not JSON-shaped: validate as it is
        return _validate(model, resource)
    key = hashlib.blake2b(canonical.encode("utf-8", "surrogatepass"), digest_size=16).digest()
    with _verdicts_lock:
        if key in _verdicts:
            _verdicts.move_to_end(key)
            return _verdicts[key]
    verdict = _validate(model, resource)
    with _verdicts_lock:
        _verdicts[key] = verdict
        if len(_verdicts) > VERDICTS_REMEMBERED:
            _verdicts.popitem(last=False)
    return verdict


def _validate(model: Any, resource: JsonObject) -> str | None:
    try:
        model.model_validate(resource)
    except ValidationError as error:
        details = error.errors()
        where = ".".join(str(part) for part in details[0]["loc"]) if details else ""
        why = details[0]["msg"] if details else "invalid"
        return f"{describe(resource)} is not valid FHIR R4 ({where or 'resource'}: {why}); not used"
    except Exception as error:  # fhir.resources raises its own errors for some shapes
        return f"{describe(resource)} is not valid FHIR R4 ({type(error).__name__}); not used"
    return None

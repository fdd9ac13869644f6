"""Validation verdicts are remembered by content: the same resource is validated once, a
changed one afresh."""

from __future__ import annotations

import copy

from fhir_mappings import validation

OBSERVATION = {
    "resourceType": "Observation",
    "id": "cr-1",
    "status": "final",
    "code": {"coding": [{"system": "http://loinc.org", "code": "2160-0"}]},
    "valueQuantity": {"value": 1.3, "unit": "mg/dL", "system": "http://unitsofmeasure.org", "code": "mg/dL"},
    "effectiveDateTime": "2026-11-22",
}


def test_the_same_content_is_validated_once_and_changes_are_seen(monkeypatch):
    calls = []
    real = validation._validate

    def counting(model, resource):
        calls.append(resource.get("id"))
        return real(model, resource)

    monkeypatch.setattr(validation, "_validate", counting)
    monkeypatch.setattr(validation, "_verdicts", type(validation._verdicts)())
    resource = copy.deepcopy(OBSERVATION)
    assert validation.validation_problem(resource) is None
    assert validation.validation_problem(copy.deepcopy(resource)) is None
    assert calls == ["cr-1"]

    broken = copy.deepcopy(resource)
    broken["status"] = 42  # not a code
    assert "not valid FHIR R4" in (validation.validation_problem(broken) or "")
    assert "not valid FHIR R4" in (validation.validation_problem(copy.deepcopy(broken)) or "")
    assert calls == ["cr-1", "cr-1"]

    reordered = dict(reversed(list(resource.items())))  # same content, other key order
    assert validation.validation_problem(reordered) is None
    assert calls == ["cr-1", "cr-1"]


def test_the_memory_is_bounded(monkeypatch):
    monkeypatch.setattr(validation, "_verdicts", type(validation._verdicts)())
    monkeypatch.setattr(validation, "VERDICTS_REMEMBERED", 3)
    for index in range(10):
        resource = copy.deepcopy(OBSERVATION)
        resource["id"] = f"cr-{index}"
        validation.validation_problem(resource)
    assert len(validation._verdicts) == 3

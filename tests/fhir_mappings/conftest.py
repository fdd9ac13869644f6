"""The official HL7 R4 examples (hl7.fhir.r4.examples 4.0.1, CC0), kept in tests/fixtures/hl7-r4;
tests that need one skip, saying why, when it is absent."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

HL7_R4 = Path(__file__).resolve().parents[1] / "fixtures" / "hl7-r4"


@pytest.fixture
def hl7_example() -> Callable[[str], dict[str, Any]]:
    if not HL7_R4.is_dir():
        pytest.skip(f"official HL7 R4 examples not found at {HL7_R4}")

    def load(name: str) -> dict[str, Any]:
        path = HL7_R4 / name
        if not path.is_file():
            pytest.skip(f"HL7 example {name} not found in {HL7_R4}")
        return json.loads(path.read_text(encoding="utf-8"))

    return load


@pytest.fixture
def hl7_medication_requests() -> list[dict[str, Any]]:
    if not HL7_R4.is_dir():
        pytest.skip(f"official HL7 R4 examples not found at {HL7_R4}")
    found = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(HL7_R4.glob("MedicationRequest-*.json"))]
    if not found:
        pytest.skip(f"no MedicationRequest examples in {HL7_R4}")
    return found

"""The official HL7 R4 examples, read from shared/ beside the repository (CI clones the repo
with shared/ at ../shared); tests that need them skip, saying why, when they are absent."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

FHIR_EXAMPLES = Path(__file__).resolve().parents[3] / "shared" / "fhir-examples"
HL7_R4 = FHIR_EXAMPLES / "hl7-r4"


@pytest.fixture
def hl7_example() -> Callable[[str], dict[str, Any]]:
    if not HL7_R4.is_dir():
        pytest.skip(f"official HL7 R4 examples not found at {HL7_R4} (shared/ must sit beside the repo)")

    def load(name: str) -> dict[str, Any]:
        path = HL7_R4 / name
        if not path.is_file():
            pytest.skip(f"HL7 example {name} not found in {HL7_R4}")
        return json.loads(path.read_text(encoding="utf-8"))

    return load


@pytest.fixture
def hl7_medication_requests() -> list[dict[str, Any]]:
    if not HL7_R4.is_dir():
        pytest.skip(f"official HL7 R4 examples not found at {HL7_R4} (shared/ must sit beside the repo)")
    found = [
        json.loads(p.read_text(encoding="utf-8")) for p in sorted(HL7_R4.glob("MedicationRequest-*.json"))
    ]
    if not found:
        pytest.skip(f"no MedicationRequest examples in {HL7_R4}")
    return found

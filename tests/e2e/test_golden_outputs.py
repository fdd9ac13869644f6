"""What clinicians see does not change by accident: the responses for every sandbox patient
and hook equal the recorded ones byte for byte (bench/golden.py records them)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

GOLDEN = Path(__file__).resolve().parents[2] / "bench" / "golden.py"


def _golden_module():
    spec = importlib.util.spec_from_file_location("lenadex_golden", GOLDEN)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_responses_are_byte_identical_to_the_recorded_ones():
    golden = _golden_module()
    recorded = json.loads(golden.RECORDED.read_text())
    current = golden.responses()
    assert current.keys() == recorded.keys()
    changed = [key for key in current if current[key] != recorded[key]]
    assert not changed, f"responses changed for {changed}: if intended, run bench/golden.py --write"

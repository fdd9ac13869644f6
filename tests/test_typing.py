"""The typed boundaries hold: mypy --strict is clean on the rules core and the cards, as
DESIGN.md asks (and on the mappings and the service, which keep the same standard)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_mypy_strict_is_clean():
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "rules", "cards", "fhir_mappings", "service"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]

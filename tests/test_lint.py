"""The code is linted and formatted with ruff, configured in pyproject.toml ([tool.ruff]): a
test, so that the README's test command (and CI) enforces it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUFF = Path(sys.executable).parent / "ruff"


@pytest.fixture(scope="module")
def ruff() -> str:
    if not RUFF.exists():
        pytest.fail("ruff is a test dependency: .venv/bin/pip install -e '.[test]'")
    return str(RUFF)


def test_ruff_check_is_clean(ruff: str) -> None:
    done = subprocess.run([ruff, "check", "--no-cache", "."], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]


def test_ruff_format_changes_nothing(ruff: str) -> None:
    done = subprocess.run([ruff, "format", "--check", "--no-cache", "."], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]

"""The README is the operator's reference: every setting with its default, and the two
commands, which CI runs as written."""

from __future__ import annotations

import re
from pathlib import Path

from service.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_every_setting_is_documented_with_its_default():
    for name, field in Settings.model_fields.items():
        row = re.search(rf"^\| `LENADEX_{name.upper()}` \| (.*?) \|", README, re.MULTILINE)
        assert row, f"LENADEX_{name.upper()} is not in the README's settings table"
        default = field.default
        shown = row.group(1)
        if isinstance(default, bool):
            assert str(default).lower() in shown
        elif default not in ("", None):
            assert str(default) in shown, f"LENADEX_{name.upper()}: default {default!r} not in {shown!r}"


def test_ci_runs_the_readme_test_command():
    commands = re.findall(r"```sh\n(python3 -m venv .*?)\n```", README)
    assert len(commands) == 2, "the README gives one start command and one test command"
    start, test = commands
    assert start.endswith("lenadex serve") and "pytest" in test
    assert test in (ROOT / ".ci" / "run").read_text()

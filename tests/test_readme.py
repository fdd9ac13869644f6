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


def test_the_try_it_requests_are_dated_today_and_leave_the_tree_clean(tmp_path):
    """The README's `python -m sandbox.build_requests`, then its curl --data @path: the file is
    there, dated today, and no tracked file changed (it used to rewrite sandbox/requests/)."""
    import json
    import subprocess
    import sys
    from datetime import date

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert ".venv/bin/python -m sandbox.build_requests\n" in readme
    assert "--data @var/requests/moderate-renal.order-select.json" in readme
    before = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True).stdout
    subprocess.run([sys.executable, "-m", "sandbox.build_requests"], cwd=ROOT, check=True, capture_output=True)
    after = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True).stdout
    assert after == before
    request = json.loads((ROOT / "var/requests/moderate-renal.order-select.json").read_text(encoding="utf-8"))
    creatinine = next(
        e["resource"] for e in request["prefetch"]["observations"]["entry"] if "creatinine" in e["resource"]["id"]
    )
    written_for = date.fromisoformat(creatinine["effectiveDateTime"][:10])
    assert 0 <= (date.today() - written_for).days <= 7

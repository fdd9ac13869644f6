"""`lenadex sandbox`: the EHR stand-in on the command line, against a live service over HTTP."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from sandbox import cli
from sandbox.catalogue import PATIENTS
from service.cli import main as lenadex


def run(argv: list[str]) -> tuple[int, str]:
    """The command in-process, its output captured as a wide plain-text terminal would show it."""
    output = io.StringIO()
    console = Console(file=output, width=200, color_system=None, highlight=False)
    code = cli.main(argv, console=console)
    return code, output.getvalue()


def flat(text: str) -> str:
    """Output with the panel borders and line wrapping removed, for phrase checks."""
    return re.sub(r"\s+", " ", re.sub(r"[│╭╮╰╯─]", " ", text))


def test_patients_lists_every_patient_with_its_story_and_hooks():
    code, out = run(["patients"])
    assert code == 0
    for story in PATIENTS.values():
        assert story.slug in out
    assert "order-select" in out and "patient-view" in out
    assert "72 y woman, 55 kg" in flat(out)  # the moderate-renal story


def test_patients_as_json():
    code, out = run(["patients", "--json"])
    assert code == 0
    rows = json.loads(out)["patients"]
    assert [r["slug"] for r in rows] == list(PATIENTS)
    assert {"slug", "story", "hooks"} == set(rows[0])


def test_fire_with_prefetch_prints_the_dose_card_readably(live_service):
    code, out = run(["fire", "moderate-renal", "--hook", "order-select", "--url", live_service.base_url])
    assert code == 0, out
    text = flat(out)
    assert "order-select for moderate-renal → lenalidomide-order-select (with prefetch)" in text
    assert "WARNING" in text
    assert "Lenalidomide overdose, 25 mg a day ordered: CrCl 34.0 mL/min — start 10 mg once daily" in text
    assert "Cockcroft-Gault" in text and "Inputs used:" in text  # the detail, rendered Markdown
    assert "**" not in out  # Markdown emphasis rendered, not shown as asterisks
    assert "▶ Change to lenalidomide 10 mg once daily, days 1-21 of 28" in text
    assert "[update] Lenalidomide 25 mg once daily" in text
    assert "[create] Aspirin 100 mg" in text
    assert "rules: R-CRCL-CG, R-RENAL-MODERATE" in text
    assert "Override reasons: Renal function is improving" in text


def test_fire_orders_cards_critical_first(live_service):
    code, out = run(["fire", "pregnant", "--hook", "order-sign", "--url", live_service.base_url])
    assert code == 0, out
    levels = re.findall(r"\b(CRITICAL|WARNING|INFO)\b", out)
    assert levels and levels[0] == "CRITICAL"
    order = {"CRITICAL": 0, "WARNING": 1, "INFO": 2}
    assert [order[level] for level in levels] == sorted(order[level] for level in levels)


def test_fire_with_fetch_serves_the_record_from_a_stand_in_fhir_server(live_service):
    code, out = run(["fire", "moderate-renal", "--hook", "order-sign", "--fetch", "--url", live_service.base_url])
    assert code == 0, out
    text = flat(out)
    assert "without prefetch" in text
    assert "fetched GET /Patient/moderate-renal" in text
    assert "fetched GET /Observation?patient=moderate-renal" in text
    # The service computed the dose from what it fetched.
    assert "Lenalidomide overdose, 25 mg a day ordered: CrCl 34.0 mL/min — start 10 mg once daily" in text


def test_fire_json_is_the_raw_response(live_service):
    code, out = run(["fire", "moderate-renal", "--hook", "order-select", "--url", live_service.base_url, "--json"])
    assert code == 0
    response = json.loads(out)
    doses = [c["extension"]["org.lenadex.dose"] for c in response["cards"] if "org.lenadex.dose" in c["extension"]]
    assert doses == [{"drug": "lenalidomide", "mg": 10, "everyHours": 24, "days": "1-21/28"}]
    assert all(card["uuid"] for card in response["cards"])


def test_fire_json_with_fetch_for_patient_view(live_service):
    code, out = run(
        ["fire", "low-platelets", "--hook", "patient-view", "--fetch", "--url", live_service.base_url, "--json"]
    )
    assert code == 0
    cards = json.loads(out)["cards"]
    assert cards[0]["indicator"] == "critical"
    assert "R-PLT-LOW" in cards[0]["extension"]["org.lenadex.rules"]


def test_the_lenadex_command_has_the_sandbox_subcommand(live_service, capsys):
    code = lenadex(
        ["sandbox", "fire", "severe-renal", "--hook", "order-select", "--url", live_service.base_url, "--json"]
    )
    assert code == 0
    cards = json.loads(capsys.readouterr().out)["cards"]
    doses = [c["extension"]["org.lenadex.dose"] for c in cards if "org.lenadex.dose" in c["extension"]]
    assert doses == [{"drug": "lenalidomide", "mg": 15, "everyHours": 48, "days": "1-21/28"}]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["fire", "no-such-patient", "--hook", "order-select"], "unknown patient 'no-such-patient'"),
        (
            ["fire", "low-platelets", "--hook", "order-select"],
            "low-platelets is written for patient-view, not order-select",
        ),
        (
            ["fire", "moderate-renal", "--hook", "order-select", "--url", "http://127.0.0.1:9", "--timeout", "2"],
            "cannot reach http://127.0.0.1:9/cds-services",
        ),
    ],
)
def test_fire_says_what_is_wrong_in_one_line(argv, message, capsys):
    code, _ = run(argv)
    assert code == 2
    assert message in flat(capsys.readouterr().err)


def test_installed_lenadex_sandbox_patients_runs_as_a_process(tmp_path: Path):
    command = [str(Path(sys.executable).parent / "lenadex"), "sandbox", "patients"]
    env = dict(os.environ, COLUMNS="200")
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "Sandbox patients (34, all synthetic)" in done.stdout
    assert "moderate-renal" in done.stdout and "no-prior-therapy" in done.stdout

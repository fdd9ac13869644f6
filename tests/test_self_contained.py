"""The test suite and the product need nothing outside the repository: no file reads a path
beside it (a fresh clone has no ../shared)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# A path to a folder named shared above the repository: '../shared', or a parents[...] / "shared".
OUTSIDE = re.compile(r"""\.\./shared|["']shared["']""")


def test_nothing_in_the_repository_reads_a_shared_folder_beside_it():
    tracked = subprocess.run(
        ["git", "ls-files", "*.py", "*.sh", ".ci/*"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    offenders = [
        name
        for name in tracked
        if name != "tests/test_self_contained.py"
        and OUTSIDE.search((ROOT / name).read_text(encoding="utf-8", errors="replace"))
    ]
    assert offenders == []


# Installing system packages is .ci/run's job, never the tests': a test that runs apt-get (or
# pip) changes the machine it runs on.
INSTALLS = re.compile(r"""["'](apt-get|apt|dpkg|pip|pip3)["']\s*,\s*["'](install|update|-i)["']""")


def test_no_test_installs_anything():
    tracked = subprocess.run(
        ["git", "ls-files", "tests/*.py"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    offenders = [
        name
        for name in tracked
        if name != "tests/test_self_contained.py"
        and INSTALLS.search((ROOT / name).read_text(encoding="utf-8", errors="replace"))
    ]
    assert offenders == []

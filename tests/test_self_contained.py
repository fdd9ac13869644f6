"""The test suite and the product need nothing outside the repository: no file reads a path
beside it (a fresh clone has nothing beside it), and no test installs anything."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# A path to the folder of material beside the repository: a relative parent path to it (dot
# dot, slash or backslash, its name), or its name as a quoted path part (parents[...] / name).
OUTSIDE = re.compile(r"""\.\.[/\\]shared|["']shared["']""")
# Installing system packages is .ci/run's job, never the tests': a test that runs apt-get (or
# pip) changes the machine it runs on.
INSTALLS = re.compile(r"""["'](apt-get|apt|dpkg|pip|pip3)["']\s*,\s*["'](install|update|-i)["']""")


def _tracked_files_matching(pattern: re.Pattern[str], *globs: str) -> list[str]:
    """Tracked files (git ls-files globs) whose text matches ``pattern``, but for this file."""
    tracked = subprocess.run(
        ["git", "ls-files", *globs], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    return [
        name
        for name in tracked
        if name != "tests/test_self_contained.py"
        and pattern.search((ROOT / name).read_text(encoding="utf-8", errors="replace"))
    ]


def test_nothing_in_the_repository_reads_a_shared_folder_beside_it():
    assert _tracked_files_matching(OUTSIDE, "*.py", "*.sh", ".ci/*") == []


def test_no_test_installs_anything():
    assert _tracked_files_matching(INSTALLS, "tests/*.py") == []

"""Write the sandbox's ready-made hook requests: ``<DIR>/<slug>.<hook>.json``.

    python -m sandbox.build_requests [--today YYYY-MM-DD] [--out DIR]

One file per patient and per hook of its story, with prefetch, dated for the given day
(default: today), into ``var/requests/`` of the current folder by default — ignored by git, so
following the README leaves the tree clean. The hookInstance is a uuid5 of slug and hook, so a
rebuild for the same day gives the same bytes. The committed files in ``sandbox/requests/`` are
built for the anchor date: ``--today 2026-11-25 --out sandbox/requests``.
"""

from __future__ import annotations

import argparse
import json
import uuid
from datetime import date
from pathlib import Path

from sandbox.catalogue import PATIENTS, hook_request

REQUESTS_DIR = Path(__file__).resolve().parent / "requests"
"""The committed requests, dated for the anchor date."""
TODAYS_REQUESTS_DIR = Path("var") / "requests"
"""Where requests dated for today go by default (relative to the current folder)."""
_HOOK_INSTANCE_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://lenadex.org/sandbox/requests")


def hook_instance(slug: str, hook: str) -> str:
    return str(uuid.uuid5(_HOOK_INSTANCE_NAMESPACE, f"{slug}/{hook}"))


def request_files(today: date) -> dict[str, str]:
    """File name → JSON text, for every patient and every hook of its story."""
    files: dict[str, str] = {}
    for slug, story in PATIENTS.items():
        for hook in story.hooks:
            request = hook_request(slug, hook, today=today, hook_instance=hook_instance(slug, hook))
            files[f"{slug}.{hook}.json"] = json.dumps(request, indent=2, ensure_ascii=False) + "\n"
    return files


def write_requests(today: date, out: Path = REQUESTS_DIR) -> list[Path]:
    """Write the request files, removing request files of patients or hooks no longer listed."""
    out.mkdir(parents=True, exist_ok=True)
    files = request_files(today)
    for stale in out.glob("*.json"):
        if stale.name not in files:
            stale.unlink()
    written = []
    for name, text in files.items():
        path = out / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sandbox.build_requests", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--today",
        type=date.fromisoformat,
        default=date.today(),
        help="date the requests are built for, YYYY-MM-DD (default: today)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=TODAYS_REQUESTS_DIR,
        help=f"output directory (default: {TODAYS_REQUESTS_DIR}; the committed files: {REQUESTS_DIR})",
    )
    args = parser.parse_args(argv)
    written = write_requests(args.today, args.out)
    print(f"wrote {len(written)} hook requests for {args.today.isoformat()} to {args.out}")


if __name__ == "__main__":
    main()

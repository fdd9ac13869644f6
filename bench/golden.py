"""The service's answers for every sandbox patient and hook, byte for byte, on the anchor day.

    .venv/bin/python bench/golden.py            # compare with tests/golden/responses.json
    .venv/bin/python bench/golden.py --write    # record them (after an intended change)

Performance work must not change what clinicians see: the responses (cards, texts, uuids,
suggested resources) are computed in process for the 33 sandbox patients on each of their
hooks, dated for the sandbox's anchor day with fixed hookInstances, and compared with the
recorded ones. tests/e2e/test_golden_outputs.py runs the comparison in the test suite.
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sandbox.catalogue import ANCHOR_DATE, PATIENTS, hook_request  # noqa: E402
from service.pipeline import answer_prefetched  # noqa: E402

RECORDED = REPO / "tests" / "golden" / "responses.json"


def responses() -> dict[str, str]:
    """'slug.hook' → the response JSON text."""
    found = {}
    for slug, story in sorted(PATIENTS.items()):
        for hook in story.hooks:
            instance = str(uuid.uuid5(uuid.NAMESPACE_URL, f"lenadex-golden/{slug}/{hook}"))
            body = hook_request(slug, hook, today=ANCHOR_DATE, hook_instance=instance)
            answer = answer_prefetched(body, hook, today=ANCHOR_DATE)
            found[f"{slug}.{hook}"] = json.dumps(answer.response, ensure_ascii=False)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true", help="record the current responses")
    args = parser.parse_args(argv)
    current = responses()
    if args.write:
        RECORDED.write_text(json.dumps(current, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
        print(f"recorded {len(current)} responses in {RECORDED.relative_to(REPO)}")
        return 0
    recorded = json.loads(RECORDED.read_text())
    changed = sorted(key for key in current.keys() | recorded.keys() if current.get(key) != recorded.get(key))
    print(
        f"{len(current) - len(changed)} of {len(current)} responses byte-identical"
        + (f"; changed: {', '.join(changed)}" if changed else "")
    )
    return 1 if changed else 0


if __name__ == "__main__":
    sys.exit(main())

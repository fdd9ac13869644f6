"""Alert burden: the cards a clinician sees per hook call, over every sandbox patient.

    .venv/bin/python bench/alert_burden.py            # the table
    .venv/bin/python bench/alert_burden.py --cards    # and each call's card summaries

Measured like latency (clinical rules, "Alert burden"): per hook, the cards per call (median,
p90, max), the share of info cards, and the calls over the targets — order-select at most 4
cards per call with a median of at most 2, order-sign no info card, every critical card with a
suggestion that removes or holds the draft. In process, with the sandbox patients' records
dated for today.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from datetime import date
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sandbox.catalogue import PATIENTS, hook_request  # noqa: E402
from service.pipeline import answer_prefetched  # noqa: E402

TARGETS = {"order-select median": 2, "order-select max": 4}


def cards_of(slug: str, hook: str, today: date) -> list[dict[str, Any]]:
    return list(answer_prefetched(hook_request(slug, hook, today=today), hook, today=today).response["cards"])


def removes_or_holds(card: dict[str, Any]) -> bool:
    """A suggestion whose action deletes the draft, or updates it to on-hold."""
    for suggestion in card.get("suggestions", []):
        for action in suggestion.get("actions", []):
            if action.get("type") == "delete":
                return True
            if action.get("type") == "update" and (action.get("resource") or {}).get("status") == "on-hold":
                return True
    return False


def percentile(values: list[int], q: float) -> float:
    ordered = sorted(values)
    return float(ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1) + 0.5))])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cards", action="store_true", help="list each call's cards")
    args = parser.parse_args(argv)
    today = date.today()
    rows = []
    critical_without_hold: list[str] = []
    info_at_sign: list[str] = []
    over_four: list[str] = []
    for hook in ("order-select", "order-sign", "patient-view"):
        counts: list[int] = []
        info = total = 0
        for slug, story in PATIENTS.items():
            if hook not in story.hooks:
                continue
            cards = cards_of(slug, hook, today)
            counts.append(len(cards))
            total += len(cards)
            info += sum(card["indicator"] == "info" for card in cards)
            for card in cards:
                if card["indicator"] == "critical" and hook != "patient-view" and not removes_or_holds(card):
                    critical_without_hold.append(f"{slug}.{hook}: {card['summary']}")
                if hook == "order-sign" and card["indicator"] == "info":
                    info_at_sign.append(f"{slug}: {card['summary']}")
            if hook == "order-select" and len(cards) > TARGETS["order-select max"]:
                over_four.append(f"{slug} ({len(cards)})")
            if args.cards:
                print(
                    f"{slug}.{hook}: "
                    + json.dumps([f"{c['indicator']}: {c['summary']}" for c in cards], ensure_ascii=False)
                )
        if counts:
            rows.append(
                (
                    hook,
                    len(counts),
                    total,
                    statistics.median(counts),
                    percentile(counts, 0.9),
                    max(counts),
                    info / total if total else 0.0,
                )
            )
    print(f"\nAlert burden over the sandbox patients ({today.isoformat()})\n")
    print("| hook | calls | cards | median | p90 | max | info share |")
    print("|---|---|---|---|---|---|---|")
    for hook, calls, total, median, p90, most, share in rows:
        print(f"| {hook} | {calls} | {total} | {median:g} | {p90:g} | {most} | {share:.0%} |")
    select = next(r for r in rows if r[0] == "order-select")
    print()
    print(
        f"order-select median ≤ {TARGETS['order-select median']}: {'met' if select[3] <= 2 else 'NOT met'} "
        f"({select[3]:g}); none above {TARGETS['order-select max']}: "
        f"{'met' if not over_four else 'NOT met: ' + ', '.join(over_four)}"
    )
    print(f"order-sign shows no info card: {'met' if not info_at_sign else 'NOT met (' + str(len(info_at_sign)) + ')'}")
    print(
        f"every critical card at an order hook removes or holds the draft: "
        f"{'met' if not critical_without_hold else 'NOT met'}"
    )
    for line in critical_without_hold:
        print(f"  - {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

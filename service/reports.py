"""The governance report: what a CDS committee reviews to retire or tune rules.

- ``GET /reports/cards`` (JSON) and ``GET /reports`` (an HTML page with an SVG chart, rendered
  here: no script, nothing loaded from elsewhere) count, from the store's audit and feedback
  records, the cards shown in a period per rule id and hook, how many were accepted and
  overridden (by coded reason), the override rate, and the cards per answered call (median,
  p90). What is counted how: service/store/report.py.
- Period: query parameters ``from`` and ``to``, RFC 3339 dates (``2025-03-01``) or date-times
  with an offset (``2025-03-01T09:00:00Z``), in UTC. A date ``from`` starts at 00:00Z of that
  day, a date ``to`` ends at the end of that day; a date-time ``to`` is exclusive. Default: the
  last 30 days up to now; at most 366 days. A bad value is a 400 OperationOutcome.
- No patient data: no patient hashes, hookInstances or card uuids, and never the override
  reason's userComment (free text that may name a patient).
- Access: service/auth.py ``report_refusal`` (the operator's LENADEX_REPORTS_TOKEN; never the
  EHR's JWT).
"""

from __future__ import annotations

import base64
import hashlib
import re
import xml.etree.ElementTree as ET
from collections import Counter
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from rules.catalogue import RULES
from service.auth import is_report_path, report_refusal
from service.declarations import SERVICES
from service.errors import ApiError
from service.settings import Settings
from service.store import CardCounts, RuleTally, Store

DEFAULT_DAYS = 30
MAX_DAYS = 366
PAGE_DIR = Path(__file__).resolve().parent / "report_page"
HOOK_ORDER = tuple(dict.fromkeys(service.hook for service in SERVICES))

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2})")

reports = Blueprint("reports", __name__)

_templates = Environment(
    loader=FileSystemLoader(PAGE_DIR), autoescape=select_autoescape(default=True), auto_reload=False
)
_STYLE = (PAGE_DIR / "report.css").read_text(encoding="utf-8")
_STYLE_HASH = base64.b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode()
# The page is its own document: its one style sheet inline (allowed by hash), no script, no
# image, no font, nothing from another origin; its form goes to this service only.
PAGE_POLICY = (
    f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)


@reports.before_app_request
def _operator_only() -> Response | None:
    """Every path under /reports (a 404 too) needs the operator's credential when one is set."""
    if request.method == "OPTIONS" or not is_report_path(request.path):
        return None
    config: Settings = current_app.config["LENADEX_SETTINGS"]
    return report_refusal(config, request.headers.get("Authorization"))


@reports.after_request
def _private(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@reports.get("/reports/cards")
def card_report() -> Response:
    start, end = requested_period()
    return jsonify(report_document(_store().card_counts(start, end)))


@reports.get("/reports")
def report_page() -> Response:
    start, end = requested_period()
    document = report_document(_store().card_counts(start, end))
    html = _templates.get_template("page.html").render(
        report=document,
        style=Markup(_STYLE),
        chart=Markup(chart_svg(document["rules"])) if document["rules"] else None,
        not_shown=_by_rule(document["notShown"]),
        form_from=start.date().isoformat(),
        form_to=(end - timedelta(microseconds=1)).date().isoformat(),
    )
    response = Response(html, content_type="text/html; charset=utf-8")
    response.headers["Content-Security-Policy"] = PAGE_POLICY
    return response


def _by_rule(pairs: list[dict[str, Any]]) -> list[tuple[str, list[str]]]:
    """[{"ruleId": r, "hook": h}, …] → [(r, [h, …]), …], in the order given."""
    grouped: dict[str, list[str]] = {}
    for pair in pairs:
        grouped.setdefault(pair["ruleId"], []).append(pair["hook"])
    return list(grouped.items())


def _number(value: float | None) -> str:
    """A count or quantile for the page: 2, 2.5, 0.3333; – when there is none."""
    return "–" if value is None else f"{value:g}"


_templates.filters["number"] = _number


def _store() -> Store:
    return current_app.extensions["lenadex.store"]  # type: ignore[no-any-return]


# --- the period -----------------------------------------------------------------------------


def requested_period(now: datetime | None = None) -> tuple[datetime, datetime]:
    """[start, end) in UTC from the query's ``from`` and ``to``; ApiError 400 when invalid."""
    start = _instant("from", end_of_day=False)
    end = _instant("to", end_of_day=True)
    if end is None:
        now = now or datetime.now(timezone.utc)
        # Up to the next whole second: everything recorded so far is in, and the time reads well.
        end = now.replace(microsecond=0) + (timedelta(seconds=1) if now.microsecond else timedelta())
    if start is None:
        start = end - timedelta(days=DEFAULT_DAYS)
    if start >= end:
        raise ApiError(400, "the period is empty: 'from' must be before 'to'", expression=["from"])
    if end - start > timedelta(days=MAX_DAYS):
        raise ApiError(400, f"the period is longer than {MAX_DAYS} days", expression=["to"])
    return start, end


def _instant(name: str, *, end_of_day: bool) -> datetime | None:
    values = request.args.getlist(name)
    if len(values) > 1:
        raise ApiError(400, f"{name!r} is given {len(values)} times", expression=[name])
    value = values[0].strip() if values else ""
    if not value:
        return None  # an empty form field: the default
    try:
        return parse_instant(value, end_of_day=end_of_day)
    except ValueError:
        raise ApiError(
            400,
            f"{name!r} is not an RFC 3339 date (2025-03-01) or date-time with an offset "
            f"(2025-03-01T09:00:00Z): {value[:40]!r}",
            expression=[name],
        ) from None


def parse_instant(value: str, *, end_of_day: bool = False) -> datetime:
    """An RFC 3339 date or date-time as an aware UTC datetime; a date is its first moment, or
    with ``end_of_day`` the first moment of the next day. ValueError otherwise."""
    if _DATE.fullmatch(value):
        day = date.fromisoformat(value)
        if end_of_day:
            if day == date.max:
                raise ValueError("the day after 9999-12-31 does not exist")
            day += timedelta(days=1)
        return datetime.combine(day, time(), tzinfo=timezone.utc)
    if _DATE_TIME.fullmatch(value):
        moment = datetime.fromisoformat(value.upper())
        return moment.astimezone(timezone.utc)
    raise ValueError(f"not an RFC 3339 date or date-time: {value!r}")


def rfc3339(moment: datetime) -> str:
    moment = moment.astimezone(timezone.utc)
    return moment.isoformat(timespec="microseconds" if moment.microsecond else "seconds").replace("+00:00", "Z")


# --- the document ---------------------------------------------------------------------------


def report_document(counts: CardCounts) -> dict[str, Any]:
    """The JSON of GET /reports/cards (docs/operations.md, "Governance report")."""
    rule_order = {rule.id: index for index, rule in enumerate(RULES)}
    tallies = sorted(
        counts.rules,
        key=lambda t: (
            rule_order.get(t.rule_id, len(rule_order)),
            t.rule_id,
            _hook_rank(t.hook),
            t.hook or "",
        ),
    )
    shown = {(t.rule_id, t.hook) for t in tallies}
    every_call: Counter[int] = Counter()
    for histogram in counts.cards_per_call.values():
        every_call.update(histogram)
    return {
        "period": {"from": rfc3339(counts.start), "to": rfc3339(counts.end)},
        "calls": {
            **_call_summary(every_call),
            "byHook": [
                {"hook": hook, **_call_summary(counts.cards_per_call[hook])}
                for hook in sorted(counts.cards_per_call, key=lambda h: (_hook_rank(h), h or ""))
            ],
        },
        "rules": [_rule_row(tally) for tally in tallies],
        "notShown": [
            {"ruleId": rule.id, "hook": hook}
            for rule in RULES
            for hook in sorted(rule.hooks, key=_hook_rank)
            if (rule.id, hook) not in shown
        ],
        "cardsWithoutRuleIds": counts.cards_without_rule_ids,
        "feedbackOnUnknownCards": counts.feedback_on_unknown_cards,
    }


def _hook_rank(hook: str | None) -> int:
    return HOOK_ORDER.index(hook) if hook in HOOK_ORDER else len(HOOK_ORDER)


def _rule_row(tally: RuleTally) -> dict[str, Any]:
    answered = tally.accepted + tally.overridden
    reasons = sorted(tally.reasons.values(), key=lambda r: (-r.count, r.code or "\uffff", r.system or ""))
    return {
        "ruleId": tally.rule_id,
        "hook": tally.hook,
        "shown": tally.shown,
        "accepted": tally.accepted,
        "overridden": tally.overridden,
        "withoutFeedback": tally.shown - answered,
        "overrideRate": round(tally.overridden / answered, 4) if answered else None,
        "overridesByReason": [
            {"system": r.system, "code": r.code, "display": r.display, "count": r.count} for r in reasons
        ],
    }


def _call_summary(histogram: Counter[int]) -> dict[str, Any]:
    return {
        "count": sum(histogram.values()),
        "cardsPerCall": {"median": quantile(histogram, 0.5), "p90": quantile(histogram, 0.9)},
    }


def quantile(histogram: Counter[int], q: float) -> float | None:
    """The q-quantile of the values counted in ``histogram`` (value → how many times), by
    linear interpolation between the closest ranks (as numpy's and R's default, type 7);
    None when nothing is counted."""
    total = sum(count for count in histogram.values() if count > 0)
    if total == 0:
        return None
    position = (total - 1) * q
    below = int(position)
    values = _order_statistics(histogram, (below, min(below + 1, total - 1)))
    low, high = values[below], values[min(below + 1, total - 1)]
    return round(low + (position - below) * (high - low), 4)


def _order_statistics(histogram: Counter[int], ranks: tuple[int, ...]) -> dict[int, int]:
    """The values at the given 0-based ranks of the sorted values."""
    found: dict[int, int] = {}
    seen = 0
    for value in sorted(histogram):
        count = histogram[value]
        if count <= 0:
            continue
        for rank in ranks:
            if seen <= rank < seen + count:
                found[rank] = value
        seen += count
    return found


# --- the chart ------------------------------------------------------------------------------

CHART_WIDTH = 360
ROW_HEIGHT = 40
LEGEND_HEIGHT = 46
RATE_WIDTH = 48
COLOURS = {"accepted": "#2e7d32", "overridden": "#c62828", "withoutFeedback": "#b0bec5"}
LEGEND = (("accepted", "accepted"), ("overridden", "overridden"), ("withoutFeedback", "no feedback"))


def chart_svg(rows: list[dict[str, Any]]) -> str:
    """Per rule and hook a bar of the cards shown — accepted, overridden, no feedback — scaled
    to the most shown, with the override rate beside it. Built with ElementTree, which escapes
    every text and attribute."""
    height = LEGEND_HEIGHT + ROW_HEIGHT * len(rows)
    svg = ET.Element(
        "svg",
        {
            "xmlns": "http://www.w3.org/2000/svg",
            "viewBox": f"0 0 {CHART_WIDTH} {height}",
            "width": str(CHART_WIDTH),
            "height": str(height),
            "class": "chart",
            "role": "img",
            "aria-labelledby": "chart-title",
            "font-family": "system-ui, sans-serif",
        },
    )
    ET.SubElement(
        svg, "title", {"id": "chart-title"}
    ).text = "Cards shown per rule and hook: accepted, overridden, no feedback; override rate in %"
    for (key, label), left in zip(LEGEND, (0, 100, 210)):
        ET.SubElement(svg, "rect", {"x": str(left), "y": "4", "width": "12", "height": "12", "fill": COLOURS[key]})
        ET.SubElement(svg, "text", {"x": str(left + 16), "y": "14", "font-size": "12"}).text = label
    ET.SubElement(
        svg, "text", {"x": "0", "y": "34", "font-size": "12", "fill": "#57606a"}
    ).text = "%: override rate, of the cards with feedback"
    most = max((row["shown"] for row in rows), default=0) or 1
    bar_room = CHART_WIDTH - RATE_WIDTH
    for index, row in enumerate(rows):
        top = LEGEND_HEIGHT + index * ROW_HEIGHT
        group = ET.SubElement(svg, "g", {"class": "chart-row"})
        ET.SubElement(
            group, "text", {"x": "0", "y": str(top + 12), "font-size": "12"}
        ).text = f"{row['ruleId']} · {row['hook'] or 'unknown hook'}"
        x = 0.0
        for key, label in LEGEND:
            count = row[key]
            if not count:
                continue
            width = bar_room * count / most
            segment = ET.SubElement(
                group,
                "rect",
                {
                    "x": f"{x:.2f}",
                    "y": str(top + 18),
                    "width": f"{width:.2f}",
                    "height": "14",
                    "fill": COLOURS[key],
                },
            )
            ET.SubElement(segment, "title").text = f"{label}: {count}"
            x += width
        rate = row["overrideRate"]
        ET.SubElement(
            group,
            "text",
            {
                "x": str(CHART_WIDTH),
                "y": str(top + 30),
                "font-size": "12",
                "text-anchor": "end",
            },
        ).text = "–" if rate is None else f"{rate * 100:.0f}%"
    return ET.tostring(svg, encoding="unicode")

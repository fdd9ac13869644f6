"""The invariants a CDS Hooks 2.0.1 response must hold, as conformance suites check them.

``standard_problems(body)``: what the standard (and its JSON rule) requires of any service's
response — Inferno's valid cards pass it. ``lenadex_problems(body, hook)``: what CONTRACT.md
adds for this service (uuids, rule ids, ordering, one card per concern, override reasons on
warning and critical cards). Each returns a list of problems, each naming the JSON path, so a
failing test says exactly what is wrong; [] means the response conforms.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from rules.catalogue import RULES_BY_ID

INDICATORS = ("info", "warning", "critical")
SELECTION_BEHAVIORS = ("at-most-one", "any")
ACTION_TYPES = ("create", "update", "delete")
LINK_TYPES = ("absolute", "smart")
SUMMARY_LIMIT = 140  # "<140-character summary"
_SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}
# A FHIR relative reference: resource type, '/', logical id (R4 id: 1-64 of A-Z a-z 0-9 - .).
_RELATIVE_REFERENCE = re.compile(r"[A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64}")


def empty_values(node: Any, path: str = "") -> Iterator[str]:
    """Paths holding null, "", [] or {} (the standard omits absent optional fields)."""
    if node is None or node == "" or node == [] or node == {}:
        yield path or "(body)"
        return
    if isinstance(node, dict):
        for key, value in node.items():
            yield from empty_values(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from empty_values(value, f"{path}[{index}]")


def _text(value: Any) -> bool:
    return isinstance(value, str) and value.strip() != ""


def _absolute_url(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def fhir_problems(resource: Any, where: str) -> list[str]:
    """The resource validates as FHIR R4 (fhir.resources R4B models)."""
    if not isinstance(resource, dict) or not _text(resource.get("resourceType")):
        return [f"{where}: not a FHIR resource (no resourceType)"]
    try:
        model = get_fhir_model_class(resource["resourceType"])
    except KeyError:
        return [f"{where}: unknown FHIR resource type {resource['resourceType']!r}"]
    try:
        model.model_validate(resource)
    except ValidationError as error:
        first = error.errors()[0]
        return [
            f"{where}: invalid R4 {resource['resourceType']}: {'.'.join(str(p) for p in first['loc'])}: {first['msg']}"
        ]
    return []


def _coding_problems(coding: Any, where: str, *, display_required: bool) -> list[str]:
    if not isinstance(coding, dict):
        return [f"{where}: not a Coding object"]
    needed = ("system", "code", "display") if display_required else ("system", "code")
    return [f"{where}.{field}: missing or empty" for field in needed if not _text(coding.get(field))]


def _action_problems(action: Any, where: str) -> list[str]:
    if not isinstance(action, dict):
        return [f"{where}: not an object"]
    problems = []
    kind = action.get("type")
    if kind not in ACTION_TYPES:
        problems.append(f"{where}.type: {kind!r} is not one of {ACTION_TYPES}")
    if not _text(action.get("description")):
        problems.append(f"{where}.description: missing or empty")
    if kind == "delete":
        # 2.0.1 Action: resourceId is "a relative reference to the relevant resource", a
        # string such as "ServiceRequest/procedure-request-1" (the standard's example).
        resource_id = action.get("resourceId")
        if not _text(resource_id):
            problems.append(f"{where}: delete without resourceId")
        elif not _RELATIVE_REFERENCE.fullmatch(resource_id):
            problems.append(f"{where}.resourceId: {resource_id!r} is not a relative reference (Type/id)")
    elif kind in ("create", "update"):
        if "resource" not in action:
            problems.append(f"{where}: {kind} without a resource")
        else:
            problems += fhir_problems(action["resource"], f"{where}.resource")
        if kind == "update" and isinstance(action.get("resource"), dict) and not action["resource"].get("id"):
            problems.append(f"{where}.resource: update of a resource without id")
    return problems


def _card_problems(card: Any, where: str) -> list[str]:
    if not isinstance(card, dict):
        return [f"{where}: not an object"]
    problems = []
    summary = card.get("summary")
    if not isinstance(summary, str) or not _text(summary):
        problems.append(f"{where}.summary: missing or empty")
    elif len(summary) >= SUMMARY_LIMIT:
        problems.append(f"{where}.summary: {len(summary)} characters, must be < {SUMMARY_LIMIT}")
    if card.get("indicator") not in INDICATORS:
        problems.append(f"{where}.indicator: {card.get('indicator')!r} is not one of {INDICATORS}")
    if "detail" in card and not isinstance(card["detail"], str):
        problems.append(f"{where}.detail: not Markdown text")
    source = card.get("source")
    if not isinstance(source, dict) or not _text(source.get("label")):
        problems.append(f"{where}.source.label: missing or empty")
    else:
        for field in ("url", "icon"):
            if field in source and not _absolute_url(source[field]):
                problems.append(f"{where}.source.{field}: not an absolute URL")
        if "topic" in source:
            problems += _coding_problems(source["topic"], f"{where}.source.topic", display_required=False)

    suggestions = card.get("suggestions")
    behavior = card.get("selectionBehavior")
    if suggestions is not None:
        if not isinstance(suggestions, list):
            problems.append(f"{where}.suggestions: not a list")
            suggestions = []
        if behavior not in SELECTION_BEHAVIORS:
            problems.append(
                f"{where}.selectionBehavior: {behavior!r} with suggestions; must be one of {SELECTION_BEHAVIORS}"
            )
        recommended = 0
        for i, suggestion in enumerate(suggestions):
            at = f"{where}.suggestions[{i}]"
            if not isinstance(suggestion, dict):
                problems.append(f"{at}: not an object")
                continue
            if not _text(suggestion.get("label")):
                problems.append(f"{at}.label: missing or empty")
            if "isRecommended" in suggestion:
                if not isinstance(suggestion["isRecommended"], bool):
                    problems.append(f"{at}.isRecommended: not a boolean")
                recommended += suggestion["isRecommended"] is True
            for j, action in enumerate(suggestion.get("actions") or []):
                problems += _action_problems(action, f"{at}.actions[{j}]")
        if behavior == "at-most-one" and recommended > 1:
            problems.append(f"{where}: {recommended} suggestions isRecommended under at-most-one")
    elif behavior is not None:
        problems.append(f"{where}.selectionBehavior: present without suggestions")

    for i, reason in enumerate(card.get("overrideReasons") or []):
        problems += _coding_problems(reason, f"{where}.overrideReasons[{i}]", display_required=True)

    for i, link in enumerate(card.get("links") or []):
        at = f"{where}.links[{i}]"
        if not isinstance(link, dict):
            problems.append(f"{at}: not an object")
            continue
        if not _text(link.get("label")):
            problems.append(f"{at}.label: missing or empty")
        if not _absolute_url(link.get("url")):
            problems.append(f"{at}.url: not an absolute URL")
        if link.get("type") not in LINK_TYPES:
            problems.append(f"{at}.type: {link.get('type')!r} is not one of {LINK_TYPES}")
        if "appContext" in link and link.get("type") != "smart":
            problems.append(f"{at}.appContext: only allowed on smart links")
    return problems


def standard_problems(body: Any) -> list[str]:
    """What CDS Hooks 2.0.1 requires of a hook response body."""
    if not isinstance(body, dict) or not isinstance(body.get("cards"), list):
        return ["(body): not an object with a cards list"]
    problems = [
        f'{path}: null, "", [] or {{}} where the field should be omitted'
        for key, value in body.items()
        if key != "cards"
        for path in empty_values(value, key)
    ]
    for i, card in enumerate(body["cards"]):
        problems += [
            f'{path}: null, "", [] or {{}} where the field should be omitted'
            for path in empty_values(card, f"cards[{i}]")
        ]
        problems += _card_problems(card, f"cards[{i}]")
    for i, action in enumerate(body.get("systemActions") or []):
        problems += _action_problems(action, f"systemActions[{i}]")
    return problems


def _is_uuid(value: Any) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return isinstance(value, str)


def lenadex_problems(body: dict[str, Any], hook: str) -> list[str]:
    """What CONTRACT.md "Cards" adds: uuids, rule ids from the catalogue for this hook,
    override reasons on warning/critical cards, critical → warning → info, one card per concern."""
    problems = []
    cards = body.get("cards") or []
    uuids: list[str] = []
    for i, card in enumerate(cards):
        where = f"cards[{i}]"
        if not _is_uuid(card.get("uuid")):
            problems.append(f"{where}.uuid: missing or not a UUID")
        uuids.append(str(card.get("uuid")))
        for j, suggestion in enumerate(card.get("suggestions") or []):
            if not _is_uuid(suggestion.get("uuid")):
                problems.append(f"{where}.suggestions[{j}].uuid: missing or not a UUID")
            uuids.append(str(suggestion.get("uuid")))
        extension = card.get("extension")
        rule_ids = extension.get("org.lenadex.rules") if isinstance(extension, dict) else None
        if not isinstance(rule_ids, list) or not rule_ids:
            problems.append(f'{where}.extension["org.lenadex.rules"]: missing')
        else:
            for rule_id in rule_ids:
                rule = RULES_BY_ID.get(rule_id)
                if rule is None:
                    problems.append(f"{where}: rule id {rule_id!r} is not in rules.catalogue")
                elif hook not in rule.hooks:
                    problems.append(f"{where}: rule {rule_id} does not apply to {hook} (catalogue: {rule.hooks})")
        if card.get("indicator") in ("warning", "critical") and not card.get("overrideReasons"):
            problems.append(f"{where}: {card.get('indicator')} card without overrideReasons")
    duplicates = {u for u in uuids if uuids.count(u) > 1}
    if duplicates:
        problems.append(f"uuids used more than once: {sorted(duplicates)}")
    order = [_SEVERITY_ORDER.get(card.get("indicator"), 3) for card in cards]
    if order != sorted(order):
        problems.append(f"cards not ordered critical → warning → info: {[c.get('indicator') for c in cards]}")
    summaries = [card.get("summary") for card in cards]
    repeated = {s for s in summaries if summaries.count(s) > 1}
    if repeated:
        problems.append(f"more than one card with the same summary: {sorted(map(str, repeated))}")
    return problems

"""Recommendations → CDS Hooks 2.0.1 cards (CONTRACT.md "Cards").

A card's uuid (and its suggestions') is derived from the hookInstance and the concern, so the
same call always yields the same cards and feedback can be matched to what was shown.
Optional fields that would be empty are left out, never sent as null, "" or [].
"""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from cards.medication_request import held_order, is_valid_r4_order, new_order, updated_order
from rules.catalogue import RULES_BY_ID
from rules.model import (
    DoseChange,
    HoldDraft,
    InputUsed,
    MedicationOrder,
    NewMedication,
    Recommendation,
    RemoveDraft,
)

SOURCE_LABEL = "Korean expert panel: lenalidomide/dexamethasone in RRMM"
RULE_SYSTEM = "http://lenadex.org/rule"
OVERRIDE_SYSTEM = "http://lenadex.org/override-reason"
SUMMARY_LIMIT = 139  # the standard: summary "<140 characters"
_CARD_NAMESPACE = uuid.UUID("5e0b8f3c-1f0e-4d55-9a53-3a2f0c1d7e61")

# Reasons a clinician may give for not following a card (Codings, as the standard asks).
OVERRIDE_REASONS: tuple[tuple[str, str], ...] = (
    ("clinical-judgement", "Clinical judgement: benefit outweighs risk for this patient"),
    ("data-outdated", "The patient data shown is outdated or wrong"),
    ("specialist-decision", "Decided with the treating specialist"),
    ("patient-declined", "Patient declined"),
)
RENAL_OVERRIDE_REASONS: tuple[tuple[str, str], ...] = (("renal-function-improving", "Renal function is improving"),)


def to_cards(
    recommendations: Sequence[Recommendation],
    *,
    hook_instance: str,
    patient_id: str,
    drafts_by_id: Mapping[str, dict[str, Any]],
    orders: Iterable[MedicationOrder] = (),
) -> list[dict[str, Any]]:
    """Cards in the order given (the engine sorts critical → warning → info).

    ``orders`` are the snapshot's medications: a draft's MedicationOrder tells how its product
    and dose were read, so that an update answers in the draft's own terms (capsules of a
    strength, not an mg dose of a 25 mg capsule product)."""
    read = {o.id: o for o in orders if o.is_draft}
    return [
        _card(r, hook_instance=hook_instance, patient_id=patient_id, drafts_by_id=drafts_by_id, orders=read)
        for r in recommendations
    ]


def _card(
    recommendation: Recommendation,
    *,
    hook_instance: str,
    patient_id: str,
    drafts_by_id: Mapping[str, dict[str, Any]],
    orders: Mapping[str, MedicationOrder],
) -> dict[str, Any]:
    card_id = _uuid(hook_instance, recommendation.concern)
    first_rule = RULES_BY_ID[recommendation.rule_ids[0]]
    card: dict[str, Any] = {
        "uuid": card_id,
        "summary": _shorten(recommendation.summary),
        "indicator": recommendation.severity,
        "detail": detail_markdown(recommendation),
        "source": {
            "label": SOURCE_LABEL,
            "topic": {"system": RULE_SYSTEM, "code": first_rule.id, "display": _shorten(first_rule.summary)},
        },
    }
    suggestions = _suggestions(recommendation, card_id, patient_id, drafts_by_id, orders)
    if suggestions:
        card["suggestions"] = suggestions
        card["selectionBehavior"] = recommendation.selection
    if recommendation.severity in ("warning", "critical"):
        reasons = OVERRIDE_REASONS
        if any(rule_id.startswith("R-RENAL") for rule_id in recommendation.rule_ids):
            reasons = RENAL_OVERRIDE_REASONS + reasons
        card["overrideReasons"] = [
            {"system": OVERRIDE_SYSTEM, "code": code, "display": display} for code, display in reasons
        ]
    extension: dict[str, Any] = {"org.lenadex.rules": list(recommendation.rule_ids)}
    if recommendation.dose is not None:
        extension["org.lenadex.dose"] = dose_extension(recommendation.dose)
    card["extension"] = extension
    return card


def dose_extension(dose: DoseChange) -> dict[str, Any]:
    """{"drug": "lenalidomide", "mg": 10, "everyHours": 24, "days": "1-21/28"}."""
    regimen = dose.regimen
    extension: dict[str, Any] = {"drug": dose.drug}
    if regimen.dose is not None:
        extension["mg"] = int(regimen.dose) if float(regimen.dose).is_integer() else regimen.dose
    if regimen.every_hours is not None:
        hours = regimen.every_hours
        extension["everyHours"] = int(hours) if float(hours).is_integer() else hours
    if regimen.days_label:
        extension["days"] = regimen.days_label
    return extension


def detail_markdown(recommendation: Recommendation) -> str:
    """The finding, the arithmetic, the inputs, what to order and the guideline section.

    Record text must not become markup: EHRs render detail Markdown including raw HTML, and a
    link or image in it would be live (an image is fetched when the card is shown). The escaping
    is split in two, each part done once. The mappers store the record's words that rules quote
    (displays, values as received) with their Markdown metacharacters already escaped
    (fhir_mappings/card_text.py says why there: rules interpolate them into their own
    Markdown, where they can no longer be told apart); here '<', '>' and '&' of the whole text
    become entities, so that no raw HTML tag or autolink survives, whatever a rule wrote.
    """
    parts = [html.escape(paragraph, quote=False) for paragraph in recommendation.rationale]
    if recommendation.inputs:
        # One paragraph, not a list: the inputs are for checking, and should not push the
        # next card off the screen.
        parts.append("**Inputs used:** " + "; ".join(_input_text(i) for i in recommendation.inputs) + ".")
    if recommendation.data_needed:
        parts.append("**To order or record:** " + html.escape(", ".join(recommendation.data_needed), quote=False))
    parts.append(f"Guideline section: *{recommendation.section}*. Rules: {', '.join(recommendation.rule_ids)}.")
    return "\n\n".join(parts)


def _input_text(used: InputUsed) -> str:
    text = f"{used.name} {used.value}"
    if used.when is not None:
        text += f" ({used.when.isoformat()})"
    if used.note and _recorded_otherwise(used):
        # Record text is not ours to echo in full; the cut must not split an escape ('\\*').
        text += f", recorded as {_shorten_escaped(used.note, 80)}"
    return html.escape(text, quote=False)


_NUMBER_AND_UNIT = re.compile(r"^\s*([<>]=?)?\s*([\d,]*\.?\d+)\s*(.*?)\s*$")


def _recorded_otherwise(used: InputUsed) -> bool:
    """Whether the value as recorded says more than the value shown: another unit or another
    number (a conversion, a rounding), or text. '1.3 mg/dL' shown as '1.30 mg/dL' does not."""
    if used.note == used.value:
        return False
    shown, recorded = _NUMBER_AND_UNIT.match(used.value), _NUMBER_AND_UNIT.match(used.note)
    if shown is None or recorded is None:
        return True

    def number(match: re.Match[str]) -> float:
        return float(match.group(2).replace(",", ""))

    def unit(match: re.Match[str]) -> str:
        return match.group(3).replace("µ", "u").replace(" ", "").lower()

    return (shown.group(1), number(shown), unit(shown)) != (recorded.group(1), number(recorded), unit(recorded))


def _suggestions(
    recommendation: Recommendation,
    card_id: str,
    patient_id: str,
    drafts_by_id: Mapping[str, dict[str, Any]],
    orders: Mapping[str, MedicationOrder],
) -> list[dict[str, Any]]:
    suggestions = []
    for index, action in enumerate(recommendation.actions):
        label = action.label
        if isinstance(action, DoseChange):
            draft = drafts_by_id.get(action.order_id)
            if draft is None:  # the order is not in this call's drafts: nothing to update
                continue
            updated = updated_order(draft, action.drug, action.regimen, orders.get(action.order_id))
            description = f"{action.description} ({updated.note})" if updated.note else action.description
            fhir_action: dict[str, Any] = {
                "type": "update",
                "description": description,
                "resource": updated.resource,
            }
        elif isinstance(action, NewMedication):
            fhir_action = {
                "type": "create",
                "description": action.description,
                "resource": new_order(action.drug, action.regimen, patient_id),
            }
        elif isinstance(action, RemoveDraft):
            draft = drafts_by_id.get(action.order_id)
            if draft is None:  # not among this call's drafts: nothing the client could remove
                continue
            fhir_action = _delete(draft, action.order_id, action.description)
        elif isinstance(action, HoldDraft):
            draft = drafts_by_id.get(action.order_id)
            if draft is None:
                continue
            held = held_order(draft, action.note)
            if is_valid_r4_order(held):
                fhir_action = {"type": "update", "description": action.description, "resource": held}
            else:
                # The draft as the EHR sent it is not valid R4, so an update of it could not be
                # applied either: the one click that keeps it from starting is removing it.
                label = "Remove this lenalidomide order (it cannot be put on hold as sent)"
                fhir_action = _delete(
                    draft,
                    action.order_id,
                    f"{action.description} The draft is not valid FHIR R4 and cannot be put on hold as it is: "
                    "it is removed instead.",
                )
        else:  # pragma: no cover - the union is closed
            continue
        suggestion: dict[str, Any] = {
            "label": _shorten(label, 80),
            "uuid": _uuid(card_id, f"suggestion-{index}"),
            "actions": [fhir_action],
        }
        if action.recommended:
            suggestion["isRecommended"] = True
        suggestions.append(suggestion)
    if recommendation.selection == "at-most-one":
        _keep_one_recommended(suggestions)
    return suggestions


def _delete(draft: Mapping[str, Any], order_id: str, description: str) -> dict[str, Any]:
    """CDS Hooks 2.0.1 Action: a delete names its target in resourceId, a relative reference
    string ("ServiceRequest/procedure-request-1" in the standard's example); sending the
    resource itself for a delete is deprecated."""
    return {
        "type": "delete",
        "description": description,
        "resourceId": f"{draft.get('resourceType') or 'MedicationRequest'}/{order_id}",
    }


def _keep_one_recommended(suggestions: list[dict[str, Any]]) -> None:
    """The standard allows at most one isRecommended under at-most-one."""
    seen = False
    for suggestion in suggestions:
        if suggestion.get("isRecommended"):
            if seen:
                del suggestion["isRecommended"]
            seen = True


def _uuid(scope: str, name: str) -> str:
    return str(uuid.uuid5(_CARD_NAMESPACE, f"{scope}/{name}"))


def _shorten(text: str, limit: int = SUMMARY_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _shorten_escaped(text: str, limit: int) -> str:
    """``_shorten`` for Markdown-escaped text: a backslash left at the end of the cut would
    escape the ellipsis instead of its own character, so an odd one is dropped."""
    shortened = _shorten(text, limit)
    if shortened == text:
        return text
    kept = shortened[:-1]
    trailing = len(kept) - len(kept.rstrip("\\"))
    return (kept[:-1] if trailing % 2 else kept).rstrip() + "…"

"""What the governance report counts, read from the audit and feedback tables.

Cards shown in a period — the hook calls received in ``[start, end)`` — per rule id and hook,
with the outcome clinicians reported for them, and the number of cards per answered call.
Only counts and coded override reasons leave this module: no patient hash, no hookInstance,
no card uuid, and never the override reason's ``userComment`` (free text that may name a
patient), which is not even read.

How the counting goes (docs/operations.md, "Governance report"):

- a card is one (service id, card uuid): the same uuid shown again (the EHR sending the same
  hookInstance twice) is one card, counted at its first showing in the period;
- a card carrying several rule ids (``org.lenadex.rules``) counts once under each of them;
- a card's outcome is the latest feedback on it (by ``outcomeTimestamp``, then arrival),
  whenever it came, sent to the service that showed it;
- cards per call are over the calls answered 200 (an answer without cards counts, 0).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, and_, false, func, select

from service.store.tables import feedback, hook_call, hook_call_card

_ROWS_PER_FETCH = 2000


@dataclass
class ReasonTally:
    system: str | None
    code: str | None
    display: str | None
    count: int = 0


@dataclass
class RuleTally:
    rule_id: str
    hook: str | None
    shown: int = 0
    accepted: int = 0
    overridden: int = 0
    reasons: dict[tuple[str | None, str | None], ReasonTally] = field(default_factory=dict)


@dataclass(frozen=True)
class CardCounts:
    start: datetime
    end: datetime
    rules: list[RuleTally]
    """Sorted by rule id, then hook."""
    cards_per_call: dict[str | None, Counter[int]]
    """Hook → number of cards → number of calls answered 200 with that many cards."""
    cards_without_rule_ids: int
    """Cards recorded before their rule ids were (a call of several cards before migration 0002)."""
    feedback_on_unknown_cards: int
    """Feedback received in the period about a card uuid that is in no audit record."""


def read_card_counts(connection: Connection, start: datetime, end: datetime) -> CardCounts:
    in_period = and_(hook_call.c.received_at >= start, hook_call.c.received_at < end)
    shown_cards = hook_call_card.join(hook_call, hook_call_card.c.hook_call_id == hook_call.c.id)

    cards: dict[tuple[str, str], tuple[str | None, list[str] | None]] = {}
    for service_id, hook, card_uuid, rule_ids in connection.execute(
        select(hook_call.c.service_id, hook_call.c.hook, hook_call_card.c.card_uuid, hook_call_card.c.rule_ids)
        .select_from(shown_cards)
        .where(in_period)
        .order_by(hook_call.c.id, hook_call_card.c.card_uuid)
        .execution_options(yield_per=_ROWS_PER_FETCH)
    ):
        cards.setdefault((service_id, card_uuid), (hook, rule_ids))

    # The latest feedback per card: rows come oldest first, so a later one replaces it.
    outcomes: dict[tuple[str, str], tuple[str, str | None, str | None, str | None]] = {}
    for service_id, card_uuid, outcome, system, code, display in connection.execute(
        select(
            feedback.c.service_id,
            feedback.c.card_uuid,
            feedback.c.outcome,
            feedback.c.override_system,
            feedback.c.override_code,
            feedback.c.override_display,
        )
        .select_from(
            feedback.join(
                shown_cards,
                and_(
                    feedback.c.card_uuid == hook_call_card.c.card_uuid, feedback.c.service_id == hook_call.c.service_id
                ),
            )
        )
        .where(in_period)
        .order_by(feedback.c.outcome_timestamp, feedback.c.id)
        .execution_options(yield_per=_ROWS_PER_FETCH)
    ):
        outcomes[(service_id, card_uuid)] = (outcome, system, code, display)

    tallies: dict[tuple[str, str | None], RuleTally] = {}
    without_rule_ids = 0
    for key, (hook, rule_ids) in cards.items():
        if not rule_ids:
            without_rule_ids += 1
            continue
        outcome = outcomes.get(key)
        for rule_id in dict.fromkeys(str(rule) for rule in rule_ids):
            tally = tallies.get((rule_id, hook))
            if tally is None:
                tally = tallies[(rule_id, hook)] = RuleTally(rule_id, hook)
            tally.shown += 1
            if outcome is None:
                continue
            kind, system, code, display = outcome
            if kind == "accepted":
                tally.accepted += 1
            elif kind == "overridden":
                tally.overridden += 1
                reason = tally.reasons.get((system, code))
                if reason is None:
                    reason = tally.reasons[(system, code)] = ReasonTally(system, code, display)
                reason.display = reason.display or display
                reason.count += 1

    per_call: dict[str | None, Counter[int]] = {}
    for hook, card_count, calls in connection.execute(
        select(hook_call.c.hook, hook_call.c.card_count, func.count())
        .where(in_period, hook_call.c.status == 200)
        .group_by(hook_call.c.hook, hook_call.c.card_count)
    ):
        per_call.setdefault(hook, Counter())[int(card_count)] += int(calls)

    unknown = connection.execute(
        select(func.count())
        .select_from(feedback)
        .where(feedback.c.card_known.is_(false()), feedback.c.received_at >= start, feedback.c.received_at < end)
    ).scalar_one()

    return CardCounts(
        start=start,
        end=end,
        rules=sorted(tallies.values(), key=lambda t: (t.rule_id, t.hook or "")),
        cards_per_call=per_call,
        cards_without_rule_ids=without_rule_ids,
        feedback_on_unknown_cards=int(unknown),
    )

"""CDS Hooks 2.0.1 feedback: what the EHR reports the clinician did with a card.

Accepted bodies: ``{"feedback": [item, ...]}`` as the standard defines, and a bare item, as
HAPI FHIR's CDS Hooks module sends it. Validation names the failing field in a 400
OperationOutcome (e.g. ``feedback[0].outcomeTimestamp``). More than ``MAX_FEEDBACK_ITEMS`` items
are refused whole (413) before any is validated or stored.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from service.errors import ApiError

# Feedback items accepted in one request. An EHR reports what one clinician did with the cards
# of one hook call, a handful of items; 100 is far above that and keeps each request's store
# transaction to milliseconds. (One body of 60 000 items once held the SQLite write lock for
# over a minute, so that other workers' feedback and audit writes failed.) A client with more
# sends several requests.
MAX_FEEDBACK_ITEMS = 100

# RFC 3339 section 5.6 date-time: a full date, "T" (or space), a time, and a zone — either "Z"
# or a numeric offset. Local times without a zone are refused: they name no instant.
_RFC3339 = re.compile(r"^(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


class Coding(BaseModel):
    model_config = ConfigDict(extra="ignore")

    system: str | None = Field(default=None, max_length=1024)
    code: str = Field(min_length=1, max_length=256)
    display: str | None = Field(default=None, max_length=1024)


class OverrideReason(BaseModel):
    model_config = ConfigDict(extra="ignore")

    reason: Coding | None = None
    userComment: str | None = Field(default=None, max_length=4000)


class AcceptedSuggestion(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str = Field(min_length=1, max_length=128)


class Feedback(BaseModel):
    """One feedback item. ``acceptedSuggestions`` is not required for ``accepted``: clients
    report an accepted card that had no suggestions, and such feedback is still worth keeping."""

    model_config = ConfigDict(extra="ignore")

    card: str = Field(min_length=1, max_length=128)
    outcome: Literal["accepted", "overridden"]
    acceptedSuggestions: list[AcceptedSuggestion] | None = None
    overrideReason: OverrideReason | None = None
    outcomeTimestamp: datetime

    @field_validator("outcomeTimestamp", mode="before")
    @classmethod
    def _rfc3339(cls, value: Any) -> datetime:
        if not isinstance(value, str) or not (match := _RFC3339.match(value)):
            raise ValueError("must be an RFC 3339 date-time with a time zone, e.g. 2024-05-01T09:30:00Z")
        day, clock, fraction, zone = match.groups()
        # Python keeps microseconds; RFC 3339 allows any number of fraction digits.
        fraction = (fraction or ".0")[:7]
        zone = "+00:00" if zone in ("Z", "z") else zone
        try:
            instant = datetime.fromisoformat(f"{day}T{clock}{fraction}{zone}")
            instant.astimezone(timezone.utc)  # the store keeps UTC: 0001-01-01T00:00+01:00 has none
        except (ValueError, OverflowError):
            raise ValueError("is not a valid date and time") from None
        return instant


class FeedbackBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    feedback: list[Feedback]


def parse_feedback(body: Any) -> list[Feedback]:
    """The feedback items of a request body; ApiError(400) naming the first failing fields."""
    if not isinstance(body, dict):
        raise ApiError(400, 'feedback body must be a JSON object {"feedback": [...]}')
    bare = "feedback" not in body  # the single feedback object HAPI sends
    items = body.get("feedback")
    if isinstance(items, list) and len(items) > MAX_FEEDBACK_ITEMS:
        raise ApiError(
            413,
            f"too many feedback items: {len(items)}; at most {MAX_FEEDBACK_ITEMS} per request "
            "(send the rest in further requests)",
            expression=["feedback"],
        )
    try:
        return FeedbackBody.model_validate({"feedback": [body]} if bare else body).feedback
    except ValidationError as error:
        raise _bad_feedback(error, bare=bare) from None


def _bad_feedback(error: ValidationError, *, bare: bool) -> ApiError:
    problems, paths = [], []
    for item in error.errors()[:5]:
        location = list(item["loc"])
        if bare:
            location = location[2:]  # drop the ("feedback", 0) the bare object was wrapped in
        path = _path(location)
        problems.append(f"{path}: {item['msg'].removeprefix('Value error, ')}")
        paths.append(path)
    return ApiError(400, "invalid feedback — " + "; ".join(problems), expression=paths)


def _path(location: list[int | str]) -> str:
    """("feedback", 0, "outcome") → "feedback[0].outcome"."""
    text = ""
    for part in location:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "feedback"

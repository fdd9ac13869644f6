"""How old an observation may be before a rule refuses to use it.

Clinical rules, section 1 (Inputs): "A value older than its freshness window (default:
creatinine/weight 30 days, ANC/platelets 14 days; configurable) is stale: the rule that
needs it does not guess". Windows for the other inputs are the service's choice and are
documented here beside the guideline's. Operators override any of them with the setting
LENADEX_FRESHNESS_DAYS (e.g. 'creatinine=14,anc=7'), which reaches the rules as
Evaluation.freshness_days.
"""

from __future__ import annotations

from rules.model import Evaluation, Measurement
from rules.plausibility import in_the_future

DEFAULT_FRESHNESS_DAYS: dict[str, int] = {
    # Clinical rules section 1.
    "creatinine": 30,
    "weight": 30,
    "anc": 14,
    "platelets": 14,
    # Service choices: a measured clearance or eGFR stands in for creatinine, so it gets
    # creatinine's window; height changes slowly in adults.
    "measured_crcl": 30,
    "egfr": 30,
    "height": 3650,
    "bmi": 90,
    "ecog": 90,
}


def window_days(name: str, evaluation: Evaluation) -> int:
    return evaluation.freshness_days.get(name, DEFAULT_FRESHNESS_DAYS[name])


def is_fresh(measurement: Measurement | None, name: str, evaluation: Evaluation) -> bool:
    """True when the value exists and is no older than its window (and not from the future:
    clinical rules section 1 calls a date in the future implausible, never to be used)."""
    if measurement is None:
        return False
    # rules/plausibility.py: one day ahead is still today somewhere (the EHR's local date).
    if in_the_future(measurement.when, evaluation.today):
        return False
    return (evaluation.today - measurement.when).days <= window_days(name, evaluation)


def staleness_note(measurement: Measurement, name: str, evaluation: Evaluation) -> str:
    age_days = (evaluation.today - measurement.when).days
    if age_days < 0:
        return f"dated {measurement.when.isoformat()}, in the future"
    return f"{age_days} days old (limit {window_days(name, evaluation)} days)"

"""Monitoring (clinical rules section 9), indication and Korean reimbursement (section 10)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from tests.rules.patient_builder import (
    card,
    condition,
    counts,
    dexamethasone,
    lab,
    lenalidomide,
    medication,
    on_lenalidomide,
    patient,
    procedure,
    run,
    starting,
    with_crcl,
)
from rules.indication import KR_REIMBURSEMENT, criterion_in_force
from rules.model import PatientSnapshot, Recommendation


def viewed(snapshot: PatientSnapshot, concern: str) -> Recommendation | None:
    return card(run(snapshot, "patient-view"), concern)


# --- R-MON-CBC -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("started_days_ago", "cbc_days_ago", "due"),
    [
        (30, 14, False),  # first 3 cycles: every 14 days
        (30, 15, True),
        (83, 15, True),
        (84, 15, False),  # after 84 days: every 28 days
        (200, 28, False),
        (200, 29, True),
    ],
)
def test_cbc_interval(started_days_ago: int, cbc_days_ago: int, due: bool) -> None:
    found = viewed(on_lenalidomide(started_days_ago=started_days_ago, **counts(days=cbc_days_ago)), "cbc-monitoring")
    assert (found is not None) is due
    if found is not None:
        assert found.rule_ids == ("R-MON-CBC",) and found.severity == "warning"
        assert f"({cbc_days_ago} days)" in found.summary
        assert len(found.summary) < 140


def test_cbc_never_done() -> None:
    found = viewed(on_lenalidomide(**counts(anc=None)), "cbc-monitoring")
    assert found is not None and "no ANC on record" in found.summary


def test_cbc_uses_the_older_of_the_two_counts() -> None:
    snapshot = on_lenalidomide(anc=lab(3_000, "cells/uL", days=1), platelets=lab(200_000, "cells/uL", days=40))
    assert viewed(snapshot, "cbc-monitoring") is not None


def test_monitoring_is_patient_view_and_on_lenalidomide_only() -> None:
    stale = counts(days=60)
    assert viewed(patient(**stale), "cbc-monitoring") is None
    assert card(run(on_lenalidomide(**stale), "order-sign"), "cbc-monitoring") is None


# --- R-MON-LFT-TFT ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "missing"),
    [
        ({"alt": lab(20.0, "U/L", days=92), "tsh": lab(1.0, "mIU/L", days=92)}, None),
        ({"ast": lab(20.0, "U/L", days=10), "tsh": lab(1.0, "mIU/L", days=10)}, None),
        ({"alt": lab(20.0, "U/L", days=93), "tsh": lab(1.0, "mIU/L", days=10)}, "liver function (ALT/AST)"),
        ({"alt": lab(20.0, "U/L", days=10), "tsh": lab(1.0, "mIU/L", days=93)}, "thyroid function (TSH)"),
        ({}, "liver function (ALT/AST) or thyroid function (TSH)"),
    ],
)
def test_liver_and_thyroid_within_92_days(fields: dict[str, object], missing: str | None) -> None:
    found = viewed(on_lenalidomide(**fields), "lft-tft-monitoring")
    if missing is None:
        assert found is None
        return
    assert found is not None and found.rule_ids == ("R-MON-LFT-TFT",) and found.severity == "info"
    assert missing in found.summary


# --- R-RENAL-IMPROVED ------------------------------------------------------------------------


def renally_reduced(
    mg: float, every_hours: float, clearance: float, earlier_creatinine: float | None = 1.5, earlier_days: int = 125
) -> PatientSnapshot:
    """On lenalidomide since 120 days; today's Cockcroft-Gault gives ``clearance`` from
    creatinine 1.0 mg/dL; an earlier creatinine (``earlier_days`` ago) gives clearance ×
    1.0 / earlier_creatinine."""
    snapshot = with_crcl(on_lenalidomide(mg=mg, every_hours=every_hours), clearance)
    history = (snapshot.creatinine,) if snapshot.creatinine else ()
    if earlier_creatinine is not None:
        history += (lab(earlier_creatinine, "mg/dL", days=earlier_days),)
    return replace(snapshot, creatinine_history=history)


@pytest.mark.parametrize(
    ("mg", "every_hours", "clearance", "earlier_creatinine", "improved"),
    [
        (10.0, 24.0, 60.0, 1.5, True),  # moderate-tier dose chosen at CrCl 40
        (10.0, 24.0, 59.6, 1.5, False),
        (15.0, 48.0, 30.0, 1.5, True),  # 7.5 mg/day chosen at CrCl 20 → 10 mg daily allowed
        (15.0, 48.0, 29.9, 1.5, False),
        (25.0, 24.0, 90.0, 1.5, False),
        (10.0, 24.0, 60.0, None, False),  # no earlier creatinine: the reason is unknown
        (10.0, 24.0, 60.0, 1.1, True),  # earlier CrCl 54.5: moderate tier, the 10 mg was renal
        (10.0, 24.0, 80.0, 1.1, False),  # earlier CrCl 72.7: normal — the 10 mg was not renal
        (15.0, 24.0, 86.4, 1.5, False),  # 15 mg daily is no renal-tier dose: a toxicity reduction
        (5.0, 24.0, 45.0, 1.5, False),  # 5 mg daily: the dialysis dose or the last toxicity step
    ],
)
def test_renal_improvement(
    mg: float, every_hours: float, clearance: float, earlier_creatinine: float | None, improved: bool
) -> None:
    found = viewed(renally_reduced(mg, every_hours, clearance, earlier_creatinine), "renal-improved")
    assert (found is not None) is improved
    if found is not None:
        assert found.rule_ids == ("R-RENAL-IMPROVED", "R-CRCL-CG") and found.severity == "info"
        assert "increased with caution" in found.summary and found.actions == ()
        assert "earlier serum creatinine" in [i.name for i in found.inputs]


def test_toxicity_reduction_with_unchanged_kidneys_is_no_renal_improvement() -> None:
    # Reduced 25 → 15 → 10 mg for agranulocytosis; creatinine has always been 1.0 mg/dL.
    snapshot = renally_reduced(10.0, 24.0, 86.4, earlier_creatinine=1.0)
    assert viewed(snapshot, "renal-improved") is None


def test_creatinine_after_the_order_was_written_does_not_explain_its_dose() -> None:
    # The order is 120 days old; a high creatinine 30 days ago came after it was chosen.
    assert viewed(renally_reduced(10.0, 24.0, 60.0, 1.5, earlier_days=30), "renal-improved") is None


def test_renal_improvement_needs_known_kidney_function() -> None:
    assert viewed(on_lenalidomide(mg=10.0, creatinine=None), "renal-improved") is None


@pytest.mark.parametrize("every_hours", [24.0, 48.0])
def test_dialysis_is_never_renal_improvement(every_hours: float) -> None:
    # Found by hypothesis: 5 mg every 48 h on dialysis is below the dialysis tier's 5 mg daily,
    # but dialysis has no clearance that could have improved.
    snapshot = on_lenalidomide(mg=5.0, every_hours=every_hours, conditions=(condition("dialysis"),))
    assert viewed(snapshot, "renal-improved") is None


# --- R-SPM -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("started_days_ago", "shown"),
    [
        (0, True),
        (29, True),
        (30, False),
        (120, False),
        (364, False),
        (365, True),
        (365 + 29, True),
        (365 + 30, False),
        (2 * 365 + 5, True),
    ],
)
def test_spm_reminder_in_the_first_30_days_of_the_course_and_of_each_year(started_days_ago: int, shown: bool) -> None:
    recommendations = run(on_lenalidomide(started_days_ago=started_days_ago), "patient-view")
    assert ([r.rule_ids for r in recommendations if r.concern == "spm"] == [("R-SPM",)]) is shown
    if shown:
        assert recommendations[-1].severity == "info"


def test_spm_course_start_is_the_first_order_without_a_60_day_gap() -> None:
    # Cycles every 28 days since 400 days ago: the course began then, its anniversary was
    # 35 days ago: no reminder. A 70-day pause before the order of 20 days ago starts a
    # new course: reminder.
    continuous = tuple(
        lenalidomide(id=f"len-{d}", status="completed", authored_days_ago=d) for d in range(400, 28, -28)
    )
    active = lenalidomide(id="len-active", status="active", authored_days_ago=20)
    assert viewed(patient(medications=continuous + (active,)), "spm") is None
    paused = tuple(lenalidomide(id=f"len-{d}", status="completed", authored_days_ago=d) for d in range(400, 90, -28))
    assert viewed(patient(medications=paused + (active,)), "spm") is not None


def test_spm_reminder_when_the_course_cannot_be_dated() -> None:
    undated = lenalidomide(id="len-active", status="active", authored_days_ago=None)
    assert viewed(patient(medications=(undated,)), "spm") is not None
    assert viewed(patient(), "spm") is None
    assert card(run(starting()), "spm") is None


# --- R-IND-PRIOR -----------------------------------------------------------------------------


def indication(snapshot: PatientSnapshot) -> Recommendation | None:
    return card(run(snapshot), "indication")


@pytest.mark.parametrize(
    ("history", "expected"),
    [
        ((), True),
        ((medication("bortezomib", status="completed"),), False),
        ((medication("thalidomide", status="stopped"),), False),
        ((medication("daratumumab", status="active"),), False),
        ((medication("dexamethasone", status="completed", id="dex-old"),), True),  # alone does not count
        ((medication("bortezomib", status="cancelled"),), True),
        ((medication("bortezomib", status="entered-in-error"),), True),
    ],
)
def test_prior_therapy(history: tuple[object, ...], expected: bool) -> None:
    found = indication(starting(*history))  # type: ignore[arg-type]
    assert (found is not None) is expected
    if found is not None:
        assert found.rule_ids == ("R-IND-PRIOR",) and found.severity == "info"


def test_autologous_transplant_is_prior_therapy() -> None:
    assert indication(starting(procedures=(procedure("asct"),))) is None


def test_continuing_lenalidomide_is_not_rechecked() -> None:
    earlier = lenalidomide(id="len-first", status="active", authored_days_ago=60)
    assert indication(starting(earlier)) is None


# --- R-REIMB-KR ------------------------------------------------------------------------------


def reimbursement(snapshot: PatientSnapshot, today: date, region: str = "KR") -> Recommendation | None:
    return card(run(snapshot, today=today, region=region), "reimbursement")


THALIDOMIDE = medication("thalidomide", status="completed", authored_days_ago=3000)
BORTEZOMIB = medication("bortezomib", status="completed", authored_days_ago=3000)


@pytest.mark.parametrize(
    ("today", "history", "expected"),
    [
        (date(2013, 2, 28), (), None),  # before the policy table: no card
        (date(2013, 3, 1), (), "2013-03-01 to 2017-11-30"),
        (date(2017, 11, 30), (THALIDOMIDE,), "2013-03-01 to 2017-11-30"),  # bortezomib needed
        (date(2017, 11, 30), (BORTEZOMIB,), None),
        (date(2017, 12, 1), (THALIDOMIDE,), None),  # ≥ 1 prior therapy is enough
        (date(2017, 12, 1), (), "since 2017-12-01"),
        (date(2025, 6, 1), (BORTEZOMIB,), None),
    ],
)
def test_korean_policy_by_date(today: date, history: tuple[object, ...], expected: str | None) -> None:
    found = reimbursement(starting(*history), today)  # type: ignore[arg-type]
    if expected is None:
        assert found is None
        return
    assert found is not None and found.rule_ids == ("R-REIMB-KR",) and found.severity == "info"
    assert expected in found.summary
    assert expected in found.rationale[0] and len(found.summary) < 140


def test_transplant_ineligible_newly_diagnosed_is_reimbursed_since_2017_12() -> None:
    snapshot = starting(conditions=(condition("transplant-ineligible"),))
    assert reimbursement(snapshot, date(2017, 12, 1)) is None
    assert reimbursement(snapshot, date(2017, 11, 30)) is not None


def test_reimbursement_is_korean_only() -> None:
    assert reimbursement(starting(), date(2025, 6, 1), region="US") is None


def test_policy_table_is_contiguous() -> None:
    first, second = KR_REIMBURSEMENT
    assert first.end is not None and (second.start - first.end).days == 1 and second.end is None
    assert criterion_in_force(date(2013, 2, 28)) is None
    assert criterion_in_force(date(2017, 11, 30)) is first and criterion_in_force(date(2017, 12, 1)) is second


def test_dexamethasone_alone_gets_no_indication_cards() -> None:
    recommendations = run(patient(medications=(dexamethasone(),)), "order-select")
    assert card(recommendations, "indication") is None and card(recommendations, "reimbursement") is None

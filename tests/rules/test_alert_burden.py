"""What a clinician sees per call (clinical rules, "Alert burden"; rules/alert_burden.py),
through the engine's evaluate: routine reminders only at the start of a course and as one
card, R-VTE-NONE no card of its own, indication and reimbursement as one card, order-sign
warning and critical only, a critical contraindication with a hold or removal and without
the routine card — and no warning or critical finding ever dropped."""

from __future__ import annotations


import pytest

from rules import evaluate
from rules.engine import findings
from rules.model import DoseChange, Evaluation, HoldDraft, NewMedication, PatientSnapshot, Recommendation, RemoveDraft
from rules.treatment_course import COURSE_GAP_DAYS
from tests.rules.patient_builder import (
    TODAY,
    condition,
    counts,
    lenalidomide,
    new_cycle,
    on_lenalidomide,
    starting,
    with_crcl,
)

ROUTINE = {"R-INF-VACCINE", "R-TERATO-M", "R-INF-PROPH", "R-VTE-NONE"}


def shown(snapshot: PatientSnapshot, hook: str = "order-select") -> list[Recommendation]:
    return evaluate(snapshot, Evaluation(hook=hook, today=TODAY))  # type: ignore[arg-type]


def rules_of(cards: list[Recommendation]) -> set[str]:
    return {rule for card in cards for rule in card.rule_ids}


def concern(cards: list[Recommendation], name: str) -> Recommendation | None:
    return next((c for c in cards if c.concern == name), None)


# --- routine reminders -------------------------------------------------------------------


def test_a_new_course_gets_its_routine_reminders_as_one_card() -> None:
    cards = shown(starting())  # a man starting lenalidomide, no VTE risk factor
    start = concern(cards, "course-start")
    assert start is not None and start.severity == "info"
    assert {"R-INF-VACCINE", "R-TERATO-M", "R-INF-PROPH", "R-VTE-NONE"} <= set(start.rule_ids)
    assert start.summary.startswith("Starting lenalidomide: ")
    assert "No VTE risk factor on record" in start.rationale[0]  # R-VTE-NONE: a line, not a card
    assert concern(cards, "vte-prophylaxis") is None and concern(cards, "vaccination") is None
    assert [c.concern for c in cards if c.severity == "info"] == ["indication", "course-start"]
    # The antibiotic choices keep their one-of-two selection.
    assert start.selection == "at-most-one" and {a.drug for a in start.actions if isinstance(a, NewMedication)}


@pytest.mark.parametrize(
    ("last_given_days_ago", "new_course"),
    [
        (COURSE_GAP_DAYS + 1, True),
        (COURSE_GAP_DAYS, False),
        (20, False),
    ],
)
def test_routine_reminders_only_when_no_lenalidomide_in_the_last_60_days(
    last_given_days_ago: int, new_course: bool
) -> None:
    earlier = lenalidomide(id="len-old", status="completed", authored_days_ago=last_given_days_ago)
    cards = shown(starting(earlier))
    assert bool(rules_of(cards) & {"R-INF-VACCINE", "R-TERATO-M"}) is new_course
    assert "R-VTE-NONE" not in rules_of(cards) or new_course


def test_a_continuing_patient_gets_no_routine_card() -> None:
    cards = shown(new_cycle(started_days_ago=20))
    assert not rules_of(cards) & ROUTINE
    assert all(c.concern != "course-start" for c in cards)


def test_an_undated_earlier_order_is_taken_as_a_continuing_course() -> None:
    earlier = lenalidomide(id="len-old", status="completed", authored_days_ago=None)
    assert not rules_of(shown(starting(earlier))) & {"R-INF-VACCINE", "R-TERATO-M"}


def test_no_vte_prophylaxis_alone_is_no_card() -> None:
    # A continuing patient: the only routine finding left would be R-VTE-NONE.
    assert "R-VTE-NONE" in rules_of(findings(new_cycle(started_days_ago=20), Evaluation("order-select", TODAY)))
    assert "R-VTE-NONE" not in rules_of(shown(new_cycle(started_days_ago=20)))


def test_warning_reminders_stay_cards_of_their_own() -> None:
    # Neutropenia now: antibiotic prophylaxis is "highly recommended", a warning, not routine.
    cards = shown(starting(**counts(anc=900)))
    prophylaxis = concern(cards, "infection-prophylaxis")
    assert prophylaxis is not None and prophylaxis.severity == "warning"


# --- order-sign ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "snapshot",
    [starting(), starting(**counts(anc=400)), with_crcl(starting(), 40.0), starting(sex="female", birth_date=None)],
    ids=["clean-start", "anc-400", "crcl-40", "sex-female-no-age"],
)
def test_order_sign_shows_warning_and_critical_only_and_drops_none_of_them(snapshot: PatientSnapshot) -> None:
    signed = shown(snapshot, "order-sign")
    assert all(c.severity != "info" for c in signed)
    everything = findings(snapshot, Evaluation("order-sign", TODAY))
    assert {c.concern for c in signed} == {c.concern for c in everything if c.severity != "info"}


@pytest.mark.parametrize(
    "snapshot",
    [
        starting(),
        starting(**counts(anc=900)),
        with_crcl(starting(), 20.0),
        starting(conditions=(condition("dvt", onset_days_ago=200),)),
    ],
    ids=["clean-start", "anc-900", "crcl-20", "old-dvt"],
)
def test_order_select_never_drops_a_warning_or_critical_finding(snapshot: PatientSnapshot) -> None:
    everything = findings(snapshot, Evaluation("order-select", TODAY))
    cards = shown(snapshot)
    assert {c.concern for c in everything if c.severity != "info"} <= {c.concern for c in cards}


# --- critical contraindications -----------------------------------------------------------


def _holds(card: Recommendation) -> list[HoldDraft]:
    return [a for a in card.actions if isinstance(a, HoldDraft)]


@pytest.mark.parametrize(
    ("start", "fields", "concern_name"),
    [
        (True, counts(anc=400), "lenalidomide-dose"),
        (True, counts(platelets=25_000), "lenalidomide-dose"),
        (False, counts(anc=400), "neutropenia"),
        (False, counts(platelets=25_000), "thrombocytopenia"),
    ],
    ids=["start-anc-400", "start-platelets-25000", "cycle-anc-400", "cycle-platelets-25000"],
)
def test_a_critical_count_holds_the_draft_and_suppresses_the_routine_card(
    start: bool, fields: dict[str, object], concern_name: str
) -> None:
    cards = shown(starting(**fields) if start else new_cycle(**fields))
    critical = concern(cards, concern_name)
    assert critical is not None and critical.severity == "critical"
    (hold,) = _holds(critical)
    assert hold.order_id == "len-draft" and hold.recommended
    assert hold.note.startswith("On hold: ") and ("ANC 400" in hold.note or "latelets 25,000" in hold.note)
    if not start and len(critical.actions) > 1:
        assert critical.selection == "any"  # the hold goes with G-CSF, not instead of it
    assert concern(cards, "course-start") is None
    assert not rules_of(cards) & {"R-INF-VACCINE", "R-TERATO-M", "R-VTE-NONE"}


def test_pregnancy_removes_the_draft_and_suppresses_the_routine_card() -> None:
    pregnant = starting(
        sex="female", birth_date=TODAY.replace(year=TODAY.year - 30), conditions=(condition("pregnancy"),)
    )
    cards = shown(pregnant)
    (critical,) = [c for c in cards if c.severity == "critical"]
    assert any(isinstance(a, RemoveDraft) for a in critical.actions)
    assert concern(cards, "course-start") is None


def test_a_delayed_cycle_offers_a_hold_also_below_critical() -> None:
    cards = shown(new_cycle(**counts(anc=900)))  # "do not start this cycle", a warning
    delay = cards[0]
    assert delay.concern == "neutropenia" and delay.severity == "warning"
    assert _holds(delay) and not any(
        isinstance(a, DoseChange) for c in cards for a in c.actions if a.drug == "lenalidomide"
    )


def test_an_overdose_offers_the_dose_change_and_removal_of_the_order() -> None:
    cards = shown(with_crcl(starting(), 20.0))
    dose = concern(cards, "lenalidomide-dose")
    assert dose is not None and dose.severity == "critical"
    kinds = [type(a) for a in dose.actions]
    assert kinds[0] is DoseChange and RemoveDraft in kinds
    removal = next(a for a in dose.actions if isinstance(a, RemoveDraft))
    assert not removal.recommended  # the dose change is the recommended fix


def test_every_critical_card_at_an_order_hook_holds_or_removes_the_draft() -> None:
    snapshots = [
        starting(**counts(anc=400)),
        starting(**counts(platelets=20_000)),
        with_crcl(starting(), 12.0),
        starting(**counts(platelets=20_000), conditions=(condition("dvt", onset_days_ago=5),)),
    ]
    for snapshot in snapshots:
        for hook in ("order-select", "order-sign"):
            for card in shown(snapshot, hook):
                if card.severity == "critical":
                    assert any(isinstance(a, (HoldDraft, RemoveDraft)) for a in card.actions), card.summary


# --- indication and reimbursement ---------------------------------------------------------


def test_indication_and_reimbursement_about_no_prior_therapy_are_one_card() -> None:
    cards = shown(starting())  # nothing before on record
    merged = concern(cards, "indication")
    assert merged is not None and merged.rule_ids == ("R-IND-PRIOR", "R-REIMB-KR")
    assert concern(cards, "reimbursement") is None
    assert "not reimbursed in Korea" in merged.summary


@pytest.mark.parametrize(
    ("anc", "platelets", "critical"),
    [
        (499, 200_000, True),
        (500, 200_000, False),
        (3_000, 29_999, True),
        (3_000, 30_000, False),
    ],
)
def test_a_first_cycle_below_the_critical_counts_is_held_not_started(
    anc: float, platelets: float, critical: bool
) -> None:
    dose = concern(shown(starting(**counts(anc=anc, platelets=platelets))), "lenalidomide-dose")
    assert dose is not None and (dose.severity == "critical") is critical
    if critical:
        hold, lower = dose.actions
        assert isinstance(hold, HoldDraft) and hold.recommended
        # The guideline's start with caution one step lower stays, as the other choice.
        assert isinstance(lower, DoseChange) and not lower.recommended and lower.regimen.dose == 15.0
        assert dose.selection == "at-most-one"
        assert "do not start lenalidomide now" in dose.summary
    else:
        assert not any(isinstance(a, HoldDraft) for a in dose.actions)


def test_a_dose_card_without_kidney_function_holds_the_draft_until_it_is_known() -> None:
    cards = shown(starting(creatinine=None))
    dose = concern(cards, "lenalidomide-dose")
    assert dose is not None and dose.data_needed and dose.rule_ids == ("R-DATA-RENAL",)
    (hold,) = _holds(dose)
    assert hold.recommended and "kidney function" in hold.label
    start = concern(cards, "course-start")
    assert start is not None and "cannot be assessed until kidney function is known" in start.rationale[0]
    assert "No VTE risk factor on record" not in start.rationale[0]


def test_active_vte_offers_a_hold_for_the_specialist_not_pre_selected() -> None:
    cards = shown(new_cycle(**counts(platelets=40_000), conditions=(condition("dvt", onset_days_ago=5),)))
    vte = concern(cards, "vte-treatment")
    assert vte is not None and vte.severity == "critical"
    (hold,) = _holds(vte)
    assert not hold.recommended


@pytest.mark.parametrize("fields", [counts(anc=400), counts(platelets=25_000)], ids=["anc-400", "platelets-25000"])
def test_at_patient_view_a_critical_count_holds_the_active_order(fields: dict[str, object]) -> None:
    cards = shown(on_lenalidomide(**fields), "patient-view")
    critical = next(c for c in cards if c.severity == "critical")
    (hold,) = _holds(critical)
    assert hold.order_id == "len-active" and hold.recommended
    # Nothing to hold without an active order, and no hold for a card that is not critical.
    assert not any(_holds(c) for c in shown(on_lenalidomide(**counts(anc=900)), "patient-view"))

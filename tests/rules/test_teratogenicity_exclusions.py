"""R-TERATO-F: who is of childbearing potential, what the card says, and the pregnancy card's
removal of the draft order (clinical rules section 8)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from cards import to_cards
from rules.model import ClinicalCondition, ClinicalProcedure, Measurement, PatientSnapshot, Recommendation, RemoveDraft
from tests.rules.patient_builder import (
    TODAY,
    born_aged,
    card,
    condition,
    days_ago,
    dexamethasone,
    lenalidomide,
    new_cycle,
    on_lenalidomide,
    patient,
    run,
    starting,
)

WOMAN_52 = {"sex": "female", "birth_date": born_aged(52)}


def terato(snapshot: PatientSnapshot, hook: str = "order-sign") -> Recommendation | None:
    return card(run(snapshot, hook), "teratogenicity")  # type: ignore[arg-type]


def postmenopausal(onset: date | None = None, recorded: date | None = None) -> ClinicalCondition:
    return ClinicalCondition("postmenopausal", "Postmenopausal state", onset=onset, recorded=recorded)


def positive_test(days: int = 2) -> Measurement:
    return Measurement(1.0, "", days_ago(days), code="82810-3")


@pytest.mark.parametrize(
    "evidence",
    [
        {"conditions": (ClinicalCondition("hysterectomy", "Acquired absence of uterus", active=False),)},
        {"conditions": (ClinicalCondition("bilateral-oophorectomy", "Acquired absence of ovaries, bilateral"),)},
        {"procedures": (ClinicalProcedure("hysterectomy", "Total abdominal hysterectomy", days_ago(3000)),)},
        {"procedures": (ClinicalProcedure("bilateral-oophorectomy", "Laparoscopic BSO", None),)},
    ],
)
def test_hysterectomy_or_bilateral_oophorectomy_ends_childbearing_potential(evidence: dict[str, object]) -> None:
    assert terato(starting(**WOMAN_52)) is not None
    assert terato(starting(**WOMAN_52, **evidence)) is None  # type: ignore[arg-type]


def test_unilateral_or_other_procedures_do_not_exclude() -> None:
    other = ClinicalProcedure("asct", "autologous transplant", days_ago(400))
    found = terato(starting(**WOMAN_52, procedures=(other,)))
    assert found is not None and found.severity == "warning"


def test_postmenopausal_for_24_months_ends_childbearing_potential() -> None:
    two_years = date(TODAY.year - 2, TODAY.month, TODAY.day)
    assert terato(starting(**WOMAN_52)) is not None  # of childbearing potential without it
    assert terato(starting(**WOMAN_52, conditions=(postmenopausal(onset=two_years),))) is None
    assert terato(starting(**WOMAN_52, conditions=(postmenopausal(recorded=days_ago(1200)),))) is None


@pytest.mark.parametrize(
    ("entry", "why"),
    [
        (postmenopausal(onset=date(TODAY.year - 2, TODAY.month, TODAY.day + 1)), "less than 24 months"),
        (postmenopausal(onset=days_ago(300)), "less than 24 months"),
        (postmenopausal(), "undated"),
    ],
)
def test_recent_or_undated_postmenopausal_state_does_not_exclude(entry: ClinicalCondition, why: str) -> None:
    found = terato(starting(**WOMAN_52, conditions=(entry,)))
    assert found is not None and found.severity == "warning" and found.rule_ids == ("R-TERATO-F",)
    assert any(why in p for p in found.rationale)
    assert any(i.name == "postmenopausal state (not used)" for i in found.inputs)


def test_onset_decides_over_an_older_recorded_date() -> None:
    # Menopause began 6 months ago, however long ago the entry was made: not yet 24 months.
    entry = postmenopausal(onset=days_ago(180), recorded=days_ago(1500))
    assert terato(starting(**WOMAN_52, conditions=(entry,))) is not None


@pytest.mark.parametrize("sex", ["unknown", "other", None])
def test_exclusions_apply_whatever_the_recorded_sex(sex: str | None) -> None:
    hysterectomy = ClinicalCondition("hysterectomy", "Status post hysterectomy")
    assert terato(starting(sex=sex, birth_date=born_aged(40))) is not None
    assert terato(starting(sex=sex, birth_date=born_aged(40), conditions=(hysterectomy,))) is None


def test_woman_of_unknown_age_and_sex_unknown_of_unknown_age_are_of_childbearing_potential() -> None:
    for sex in ("female", None):
        found = terato(starting(sex=sex, birth_date=None))
        assert found is not None and found.severity == "warning" and "R-TERATO-F" in found.rule_ids


def test_unknown_sex_gets_the_precautions_of_childbearing_potential_and_is_asked_for_sex() -> None:
    found = terato(starting(sex="unknown", birth_date=born_aged(30)))
    assert found is not None and found.rule_ids == ("R-TERATO-F",) and found.severity == "warning"
    assert "sex" in found.data_needed and "pregnancy test" in found.data_needed
    assert not any("condoms" in p for p in found.rationale[:-1])  # not the male advice


def test_unknown_sex_past_55_is_asked_for_sex_with_the_male_precautions() -> None:
    found = terato(starting(sex="other", birth_date=born_aged(60)))
    assert found is not None and found.rule_ids == ("R-TERATO-M",) and found.severity == "info"
    assert found.data_needed == ("sex",) and any("condoms" in p for p in found.rationale)


def test_pregnancy_at_any_age_and_despite_an_exclusion_is_critical() -> None:
    hysterectomy = ClinicalCondition("hysterectomy", "Status post hysterectomy")
    for fields in ({"birth_date": born_aged(60)}, {"conditions": (hysterectomy,)}):
        found = terato(
            starting(**{"sex": "female", "birth_date": born_aged(40), "pregnancy_test": positive_test(), **fields})
        )
        assert found is not None and found.severity == "critical"


# --- what the warning says ----------------------------------------------------------------------


def text(found: Recommendation) -> str:
    return " ".join((found.summary,) + found.rationale)


def test_new_start_says_before_starting_never_during_treatment() -> None:
    found = terato(starting(**WOMAN_52))
    assert found is not None
    words = text(found)
    assert "before starting" in words.lower() and "during treatment" not in words.lower()
    assert "4 weeks before starting" in words and "4 weeks after stopping" in words
    assert "interruptions" in words and "two reliable methods of contraception" in words
    assert "risk-management programme" in words


def test_patient_on_lenalidomide_is_told_during_treatment() -> None:
    found = terato(new_cycle(**WOMAN_52))
    assert found is not None and found.severity == "warning"
    words = text(found)
    assert "during treatment" in words and "pregnancy tests" in words
    assert "4 weeks after stopping" in words and "interruptions" in words
    assert "Before starting" not in words


def test_earlier_completed_course_is_a_new_start() -> None:
    earlier = lenalidomide(id="len-old", status="completed", authored_days_ago=400)
    found = terato(patient(**WOMAN_52, medications=(earlier, lenalidomide(), dexamethasone())))
    assert found is not None and "during treatment" not in text(found).lower()


# --- pregnancy: remove the draft ----------------------------------------------------------------


@pytest.mark.parametrize("hook", ["order-select", "order-sign"])
def test_pregnancy_card_removes_the_draft_lenalidomide_order(hook: str) -> None:
    found = terato(starting(**WOMAN_52, pregnancy_test=positive_test()), hook)
    assert found is not None and found.severity == "critical"
    [removal] = found.actions
    assert isinstance(removal, RemoveDraft)
    assert (removal.order_id, removal.drug, removal.recommended) == ("len-draft", "lenalidomide", True)


def test_every_lenalidomide_draft_can_be_removed() -> None:
    second = lenalidomide(id="len-draft-2", selected=False)
    found = terato(starting(second, **WOMAN_52, conditions=(condition("pregnancy"),)))
    assert found is not None
    assert {a.order_id for a in found.actions if isinstance(a, RemoveDraft)} == {"len-draft", "len-draft-2"}
    assert found.selection == "any"


def test_pregnancy_on_patient_view_has_nothing_to_remove() -> None:
    found = terato(on_lenalidomide(**WOMAN_52, conditions=(condition("pregnancy"),)), "patient-view")
    assert found is not None and found.severity == "critical" and found.actions == ()


def test_pregnancy_card_renders_a_cds_hooks_delete_of_the_draft() -> None:
    found = terato(starting(**WOMAN_52, pregnancy_test=positive_test()))
    assert found is not None
    draft = {
        "resourceType": "MedicationRequest",
        "id": "len-draft",
        "status": "draft",
        "intent": "order",
        "subject": {"reference": "Patient/test-patient"},
        "medicationCodeableConcept": {"text": "lenalidomide"},
    }
    [rendered] = to_cards([found], hook_instance="h-1", patient_id="test-patient", drafts_by_id={"len-draft": draft})
    [suggestion] = rendered["suggestions"]
    assert suggestion["actions"] == [
        {
            "type": "delete",
            "description": found.actions[0].description,
            "resourceId": "MedicationRequest/len-draft",
        }
    ]
    assert suggestion["isRecommended"] is True and rendered["indicator"] == "critical"


def test_dexamethasone_draft_stays_when_lenalidomide_is_removed() -> None:
    found = terato(replace(starting(**WOMAN_52), pregnancy_test=positive_test()))
    assert found is not None
    assert all(a.order_id != "dex-draft" for a in found.actions if isinstance(a, RemoveDraft))

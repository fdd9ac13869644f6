"""Cards follow CONTRACT.md and the standard whatever the recommendation holds."""

from __future__ import annotations

from datetime import date

from fhir.resources.R4B.medicationrequest import MedicationRequest

from cards import to_cards
from rules.dose_ladder import lenalidomide_regimen
from rules.model import DoseChange, InputUsed, NewMedication, Recommendation, Regimen, RemoveDraft
from tests.conformance.card_invariants import lenadex_problems, standard_problems

DRAFT = {
    "resourceType": "MedicationRequest",
    "id": "draft-1",
    "status": "draft",
    "intent": "order",
    "medicationCodeableConcept": {"text": "lenalidomide 25 mg"},
    "subject": {"reference": "Patient/p1"},
    "category": {"coding": [{"code": "outpatient"}]},
    "text": {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">25 mg</div>'},
}


def recommendation(**overrides) -> Recommendation:
    fields = dict(
        rule_ids=("R-CRCL-CG", "R-RENAL-MODERATE"),
        concern="lenalidomide-dose",
        severity="warning",
        summary="Lenalidomide: CrCl 34 mL/min — start 10 mg",
        rationale=("Finding.",),
        section="Renal insufficiency",
        inputs=(InputUsed("serum creatinine", "1.30 mg/dL", date(2026, 11, 22), "115 umol/L"),),
    )
    fields.update(overrides)
    return Recommendation(**fields)


def render(*recs: Recommendation) -> list[dict]:
    return to_cards(list(recs), hook_instance="hook-1", patient_id="p1", drafts_by_id={"draft-1": DRAFT})


def test_dose_card_updates_the_draft_and_names_rules_and_dose():
    change = DoseChange("draft-1", "lenalidomide", lenalidomide_regimen(10.0), "Change to 10 mg", "25 → 10 mg")
    [card] = render(recommendation(actions=(change,), dose=change))
    assert card["extension"] == {
        "org.lenadex.rules": ["R-CRCL-CG", "R-RENAL-MODERATE"],
        "org.lenadex.dose": {"drug": "lenalidomide", "mg": 10, "everyHours": 24, "days": "1-21/28"},
    }
    [suggestion] = card["suggestions"]
    resource = suggestion["actions"][0]["resource"]
    assert resource["id"] == "draft-1" and "text" not in resource
    assert resource["category"] == [DRAFT["category"]]
    MedicationRequest.model_validate(resource)
    assert suggestion["isRecommended"] is True and card["selectionBehavior"] == "at-most-one"
    assert "1.30 mg/dL (2026-11-22)" in card["detail"] and "recorded as 115 umol/L" in card["detail"]
    assert "*Renal insufficiency*" in card["detail"]


def test_uuids_are_stable_per_call_and_differ_between_calls():
    a = render(recommendation())
    b = render(recommendation())
    other = to_cards([recommendation()], hook_instance="hook-2", patient_id="p1", drafts_by_id={})
    assert a[0]["uuid"] == b[0]["uuid"] != other[0]["uuid"]


def test_info_cards_have_no_override_reasons_and_no_empty_fields():
    [card] = render(recommendation(severity="info", inputs=()))
    assert "overrideReasons" not in card and "suggestions" not in card and "selectionBehavior" not in card
    assert all(value not in (None, "", [], {}) for value in card.values())


def test_long_summaries_are_cut_below_140_characters():
    [card] = render(recommendation(summary="x" * 300))
    assert len(card["summary"]) < 140 and card["summary"].endswith("…")


def test_patient_text_is_escaped_in_detail():
    [card] = render(recommendation(inputs=(InputUsed("condition", "<script>alert(1)</script>"),)))
    assert "<script>" not in card["detail"] and "&lt;script&gt;" in card["detail"]


def test_alternatives_keep_one_recommended_and_create_valid_orders():
    enoxaparin = NewMedication("enoxaparin", Regimen(40, "mg", 24, route="subcutaneous"), "Enoxaparin", "create", True)
    dalteparin = NewMedication(
        "dalteparin", Regimen(5000, "IU", 24, route="subcutaneous"), "Dalteparin", "create", True
    )
    [card] = render(recommendation(concern="vte", actions=(enoxaparin, dalteparin)))
    assert [s.get("isRecommended") for s in card["suggestions"]] == [True, None]
    for suggestion in card["suggestions"]:
        action = suggestion["actions"][0]
        assert action["type"] == "create"
        order = MedicationRequest.model_validate(action["resource"])
        assert order.subject.reference == "Patient/p1" and order.status == "draft"
    assert (
        card["suggestions"][1]["actions"][0]["resource"]["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"][
            "code"
        ]
        == "[iU]"
    )


def test_an_update_for_an_order_not_in_the_drafts_is_dropped():
    change = DoseChange("elsewhere", "lenalidomide", lenalidomide_regimen(10.0), "Change", "25 → 10")
    [card] = render(recommendation(actions=(change,), dose=change))
    assert "suggestions" not in card and card["extension"]["org.lenadex.dose"]["mg"] == 10


def removal(order_id: str = "draft-1") -> RemoveDraft:
    return RemoveDraft(order_id, "lenalidomide", "Remove the lenalidomide order", "Remove the draft order")


def test_a_removal_is_a_delete_naming_the_draft_by_relative_reference():
    # CDS Hooks 2.0.1 Action: "resourceId: A relative reference to the relevant resource"
    # (a string, "ServiceRequest/procedure-request-1" in the standard's example); no resource.
    [card] = render(
        recommendation(
            rule_ids=("R-TERATO-F",),
            concern="teratogenicity",
            severity="critical",
            section="Infection and teratogenicity",
            actions=(removal(),),
        )
    )
    [suggestion] = card["suggestions"]
    assert suggestion["actions"] == [
        {"type": "delete", "description": "Remove the draft order", "resourceId": "MedicationRequest/draft-1"}
    ]
    assert suggestion["isRecommended"] is True and card["selectionBehavior"] == "at-most-one"
    body = {"cards": [card]}
    assert standard_problems(body) == [] and lenadex_problems(body, "order-sign") == []


def test_a_removal_of_an_order_not_in_the_drafts_is_dropped():
    [card] = render(recommendation(severity="critical", actions=(removal("elsewhere"),)))
    assert "suggestions" not in card and "selectionBehavior" not in card


def test_card_invariants_reject_a_delete_without_a_relative_reference():
    [card] = render(recommendation(severity="critical", actions=(removal(),)))
    action = card["suggestions"][0]["actions"][0]
    for bad in ("draft-1", ["MedicationRequest/draft-1"], ""):
        action["resourceId"] = bad
        assert any("resourceId" in problem for problem in standard_problems({"cards": [card]})), bad


def test_a_value_recorded_as_shown_is_not_repeated_a_conversion_is() -> None:
    from cards.render import _recorded_otherwise
    from rules.model import InputUsed

    assert not _recorded_otherwise(InputUsed("serum creatinine", "1.30 mg/dL", None, "1.3 mg/dL"))
    assert not _recorded_otherwise(InputUsed("body weight", "55.0 kg", None, "55 kg"))
    assert _recorded_otherwise(InputUsed("serum creatinine", "1.30 mg/dL", None, "115 umol/L"))
    assert _recorded_otherwise(InputUsed("ANC", "2,800/µL", None, "2.8 10\\*3/uL"))
    assert _recorded_otherwise(InputUsed("ANC", "900/µL", None, "<1000 /uL"))
    assert _recorded_otherwise(InputUsed("creatinine", "1.30 mg/dL", None, "see report"))

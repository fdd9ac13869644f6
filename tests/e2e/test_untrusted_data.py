"""Implausible, ambiguous and out-of-calendar data over real HTTP (clinical rules section 1,
safety principle 1): every such input gets 200 with a card that names the value to verify, or
a 400 naming the field — never a 500, and never a dose from the value in doubt."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from sandbox.catalogue import hook_request
from service.settings import Settings
from tests.conformance.card_invariants import lenadex_problems, standard_problems
from tests.conftest import LiveService, serving

SERVICES = {
    "order-select": "lenalidomide-order-select",
    "order-sign": "lenalidomide-order-sign",
    "patient-view": "lenalidomide-patient-view",
}
SLUG = "moderate-renal"  # 72 y woman, 55 kg, creatinine 1.30 mg/dL: CrCl 34.0 mL/min, 10 mg daily
EXTREME_DATES = ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00")
HEMODIALYSIS = {"system": "http://snomed.info/sct", "code": "302497006", "display": "Hemodialysis"}


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveService]:
    store = tmp_path_factory.mktemp("untrusted") / "lenadex.sqlite3"
    with serving(Settings(database_url=f"sqlite:///{store}")) as live:
        yield live


def post(service: LiveService, body: dict[str, Any], hook: str = "order-select") -> requests.Response:
    return requests.post(f"{service.base_url}/cds-services/{SERVICES[hook]}", json=body, timeout=30)


def cards_of(response: requests.Response, hook: str = "order-select") -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text[:500]
    body = response.json()
    assert standard_problems(body) == [] and lenadex_problems(body, hook) == []
    cards: list[dict[str, Any]] = body["cards"]
    return cards


def entries(request: dict[str, Any], key: str) -> list[dict[str, Any]]:
    return [entry["resource"] for entry in request["prefetch"][key].get("entry", [])]


def lab(request: dict[str, Any], loinc: str) -> dict[str, Any]:
    return next(o for o in entries(request, "observations") if o["code"]["coding"][0]["code"] == loinc)


def renal_card(cards: list[dict[str, Any]]) -> dict[str, Any]:
    [card] = [c for c in cards if "R-DATA-RENAL" in c["extension"]["org.lenadex.rules"]]
    return card


def no_dose_from_it(cards: list[dict[str, Any]]) -> None:
    for card in cards:
        rules = card["extension"]["org.lenadex.rules"]
        assert not {"R-RENAL-NORMAL", "R-RENAL-MODERATE", "R-RENAL-SEVERE", "R-RENAL-DIALYSIS"} & set(rules), rules
        assert "org.lenadex.dose" not in card["extension"]


def add_dialysis_procedure(request: dict[str, Any], **performed: Any) -> None:
    request["prefetch"]["procedures"]["entry"] = [
        {
            "resource": {
                "resourceType": "Procedure",
                "id": "hd-1",
                "status": "completed",
                "code": {"coding": [HEMODIALYSIS]},
                "subject": {"reference": f"Patient/{SLUG}"},
                **performed,
            }
        }
    ]


# --- implausible values: a card names the value to verify ---------------------------------------


@pytest.mark.parametrize(
    ("mutate", "named"),
    [
        (lambda r: r["prefetch"]["patient"].update(birthDate="0001-01-01"), "birth date 0001-01-01 is before 1900"),
        (lambda r: r["prefetch"]["patient"].update(birthDate="1901-06-01"), "birth date 1901-06-01 gives an age of"),
        (lambda r: r["prefetch"]["patient"].update(birthDate="2019-06-01"), "birth date 2019-06-01 gives an age of"),
        (lambda r: lab(r, "29463-7")["valueQuantity"].update(value=1e-300), "body weight 1E-300 kg on"),
        (lambda r: lab(r, "2160-0")["valueQuantity"].update(value=0.0001), "creatinine 0.0001 mg/dL on"),
        (lambda r: lab(r, "2160-0")["valueQuantity"].update(value=45), "is outside 0.1–20 mg/dL"),
        (lambda r: lab(r, "2160-0").update(effectiveDateTime="1899-12-31"), "dated 1899-12-31 is before 1900"),
    ],
    ids=["birth-year-1", "age-125", "age-7", "weight-1e-300", "creatinine-0.0001", "creatinine-45", "creatinine-1899"],
)
def test_an_implausible_input_gets_a_card_naming_it_and_no_dose(
    service: LiveService, mutate: Callable[[dict[str, Any]], None], named: str
) -> None:
    request = hook_request(SLUG, "order-select")
    mutate(request)
    cards = cards_of(post(service, request))
    card = renal_card(cards)
    assert named in card["detail"] and "Verify: " in card["detail"] and "verify" in card["summary"]
    # No dose from such data: the one suggestion holds the draft until the data are there.
    assert [
        a["type"] == "update" and a["resource"]["status"] == "on-hold"
        for suggestion in card.get("suggestions", [])
        for a in suggestion["actions"]
    ] == [True]
    no_dose_from_it(cards)


def test_a_creatinine_dated_in_the_future_is_named_not_used(service: LiveService) -> None:
    request = hook_request(SLUG, "order-select")
    lab(request, "2160-0")["effectiveDateTime"] = "2099-01-01T08:00:00Z"
    card = renal_card(cards_of(post(service, request)))
    assert "creatinine 1.3 mg/dL dated 2099-01-01 is in the future" in card["detail"]


# --- ambiguous values: both shown, no dose --------------------------------------------------------


def test_two_disagreeing_creatinines_at_one_time_give_no_dose_and_show_both(service: LiveService) -> None:
    request = hook_request(SLUG, "order-select")
    first = lab(request, "2160-0")
    first["valueQuantity"]["value"] = 1.0
    second = copy.deepcopy(first)
    second["id"] = "second-creatinine"
    second["valueQuantity"]["value"] = 2.4
    request["prefetch"]["observations"]["entry"].append({"resource": second})
    cards = cards_of(post(service, request))
    card = renal_card(cards)
    assert "1.0 mg/dL or 2.4 mg/dL" in card["detail"] and first["effectiveDateTime"] in card["detail"]
    no_dose_from_it(cards)


def test_one_creatinine_sent_in_two_units_is_one_result(service: LiveService) -> None:
    request = hook_request(SLUG, "order-select")
    first = lab(request, "2160-0")  # 1.3 mg/dL
    second = copy.deepcopy(first)
    second["id"] = "same-in-umol"
    second["code"]["coding"][0]["code"] = "14682-9"
    second["valueQuantity"] = {
        "value": 115,
        "unit": "umol/L",
        "system": "http://unitsofmeasure.org",
        "code": "umol/L",
    }  # 115 / 88.4 = 1.30 mg/dL
    request["prefetch"]["observations"]["entry"].append({"resource": second})
    cards = cards_of(post(service, request))
    [dose] = [c for c in cards if "org.lenadex.dose" in c["extension"]]
    assert "R-RENAL-MODERATE" in dose["extension"]["org.lenadex.rules"]


# --- dialysis from current evidence only ----------------------------------------------------------


@pytest.mark.parametrize(("performed", "rule"), [("2020-01-15", "R-RENAL-MODERATE"), (None, "R-DATA-RENAL")])
def test_a_dialysis_procedure_long_ago_is_history_and_an_undated_one_asks(
    service: LiveService, performed: str | None, rule: str
) -> None:
    request = hook_request(SLUG, "order-select")
    add_dialysis_procedure(request, **({"performedDateTime": performed} if performed else {}))
    cards = cards_of(post(service, request))
    rules = {r for c in cards for r in c["extension"]["org.lenadex.rules"]}
    assert rule in rules and "R-RENAL-DIALYSIS" not in rules and "R-RENAL-SEVERE" not in rules
    if performed is None:
        assert "confirmation of dialysis status" in renal_card(cards)["detail"]


# --- dates at the ends of the calendar, in every date field ---------------------------------------


def _set(path: str, text: str) -> Callable[[dict[str, Any]], None]:
    def mutate(request: dict[str, Any]) -> None:
        kind, element = path.split(".", 1)
        if kind == "Patient":
            request["prefetch"]["patient"][element] = text[:10]
            return
        if kind == "Draft":
            for entry in request["context"]["draftOrders"]["entry"]:
                entry["resource"][element] = text
            return
        key = {
            "Observation": "observations",
            "Condition": "conditions",
            "MedicationRequest": "medications",
            "Procedure": "procedures",
        }[kind]
        if kind == "Procedure":
            add_dialysis_procedure(request, performedDateTime="2026-11-28")
        for resource in entries(request, key):
            if element.endswith("Period"):
                resource.pop(element.replace("Period", "DateTime"), None)
                resource[element] = {"start": text, "end": text}
            else:
                resource[element] = text

    return mutate


DATE_FIELDS = (
    "Observation.effectiveDateTime",
    "Observation.effectivePeriod",
    "Observation.issued",
    "Condition.onsetDateTime",
    "Condition.recordedDate",
    "Condition.abatementDateTime",
    "Procedure.performedDateTime",
    "Procedure.performedPeriod",
    "MedicationRequest.authoredOn",
    "Draft.authoredOn",
    "Patient.birthDate",
)


HOOK_FIELDS = [
    (hook, field)
    for hook in SERVICES
    for field in DATE_FIELDS
    if hook == "order-sign" or not field.startswith("Draft.")
]  # drafts come with order-sign


@pytest.mark.parametrize("text", EXTREME_DATES)
@pytest.mark.parametrize(("hook", "field"), HOOK_FIELDS)
def test_an_extreme_date_in_any_field_is_answered_never_500(
    service: LiveService, hook: str, field: str, text: str
) -> None:
    request = hook_request(SLUG, hook)
    _set(field, text)(request)
    response = post(service, request, hook)
    if response.status_code == 400:
        diagnostics = response.json()["issue"][0]["diagnostics"]
        assert field.split(".")[1] in diagnostics, diagnostics
        return
    cards = cards_of(response, hook)
    assert cards or hook == "patient-view"
    if field.startswith("Observation.effective") and hook != "patient-view":
        # every result of the record is dated out of the calendar: no dose from any of them
        # (an odd 'issued' does not matter while the effective date is sound)
        no_dose_from_it(cards)

"""The sandbox's synthetic patients: valid FHIR R4, a patient for every clinical rule, dates
that move with the day, and hook requests of the right shape."""

from __future__ import annotations

import json
import re
import uuid
from datetime import date, datetime, timedelta
from typing import Any, Iterator

import pytest
from fhir.resources.R4B.bundle import Bundle

from sandbox.build_requests import REQUESTS_DIR, request_files
from sandbox.catalogue import (
    ANCHOR,
    ANCHOR_DATE,
    DATE_KEYS,
    HOOKS,
    ORDER_HOOKS,
    PATIENTS,
    PATIENTS_DIR,
    PREFETCH_RESOURCE_TYPES,
    draft_orders,
    fhir_resources,
    hook_request,
    load_bundle,
)

SLUGS = sorted(PATIENTS)
UCUM = "http://unitsofmeasure.org"
LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
SNOMED = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
# KR Core (HL7 Korea): KCD-8 diagnoses and ATC-coded orders, as fhir_mappings/terminology.py cites.
KCD8 = "http://www.hl7korea.or.kr/CodeSystem/kostat-kcd-8"
ATC = "http://www.whocc.no/atc"
HIRA_EDI = "http://www.hl7korea.or.kr/CodeSystem/hira-edi-medication"
KR_CORE_PATIENTS = {"kr-core-moderate-renal"}
OTHER_DAYS = (ANCHOR_DATE + timedelta(days=97), ANCHOR_DATE - timedelta(days=1461))


def clinical_rule_ids() -> set[str]:
    """The rule ids of the clinical rules, as the product's rule catalogue lists them."""
    from rules.catalogue import RULES

    return {rule.id for rule in RULES}


def resources(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return [entry["resource"] for entry in bundle["entry"]]


def of_type(bundle: dict[str, Any], resource_type: str) -> list[dict[str, Any]]:
    return [r for r in resources(bundle) if r["resourceType"] == resource_type]


def codes(concept: dict[str, Any], system: str) -> set[str]:
    return {c["code"] for c in concept.get("coding", []) if c.get("system") == system}


def observations(bundle: dict[str, Any], loinc: str) -> list[dict[str, Any]]:
    """Observations of one LOINC code, newest first."""
    found = [o for o in of_type(bundle, "Observation") if loinc in codes(o["code"], LOINC)]
    return sorted(found, key=lambda o: o["effectiveDateTime"], reverse=True)


def day_of(value: str) -> date:
    return date.fromisoformat(value[:10])


def age_on(birth: date, today: date) -> int:
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def date_values(node: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(path, value) of every value under a date key, in document order."""
    if isinstance(node, dict):
        for key, value in node.items():
            here = f"{path}/{key}"
            if key in DATE_KEYS and isinstance(value, str):
                yield here, value
            elif key in DATE_KEYS and isinstance(value, list):
                yield from ((f"{here}/{i}", v) for i, v in enumerate(value))
            else:
                yield from date_values(value, here)
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from date_values(item, f"{path}/{i}")


def all_strings(node: Any, key: str = "") -> Iterator[tuple[str, str]]:
    """(key, value) of every string in the document."""
    if isinstance(node, dict):
        for k, value in node.items():
            yield from all_strings(value, k)
    elif isinstance(node, list):
        for item in node:
            yield from all_strings(item, key)
    elif isinstance(node, str):
        yield key, node


def is_lenalidomide(resource: dict[str, Any]) -> bool:
    concept = resource["medicationCodeableConcept"]
    return "lenalidomide" in json.dumps(concept).lower()


# --- the catalogue ---------------------------------------------------------------------------


def test_at_least_18_patients_each_with_a_bundle_file() -> None:
    assert len(PATIENTS) >= 18
    assert {p.stem for p in PATIENTS_DIR.glob("*.json")} == set(PATIENTS)
    assert all(story.slug == slug for slug, story in PATIENTS.items())


def test_every_clinical_rule_is_expected_to_fire_for_some_patient() -> None:
    ids = clinical_rule_ids()
    expected = {rule for story in PATIENTS.values() for rule in story.expected_rules}
    assert ids - expected == set(), "rules no sandbox patient makes fire"


def test_stories_name_only_known_rules_and_never_both_ways() -> None:
    ids = clinical_rule_ids()
    for story in PATIENTS.values():
        named = set(story.expected_rules) | set(story.must_not_fire)
        assert named <= ids, (story.slug, named - ids)
        assert not set(story.expected_rules) & set(story.must_not_fire), story.slug
        assert story.expected_rules, story.slug
        assert len(set(story.expected_rules)) == len(story.expected_rules), story.slug


def test_the_clean_patient_expects_nothing_but_informational_rules() -> None:
    informational = {"R-INF-VACCINE", "R-VTE-IMPEDE", "R-TERATO-M", "R-VTE-NONE", "R-SPM"}
    assert set(PATIENTS["normal-renal"].expected_rules) <= informational


def test_expected_rules_can_fire_on_the_story_hooks() -> None:
    rule_catalogue = pytest.importorskip("rules.catalogue")
    for story in PATIENTS.values():
        assert set(story.hooks) <= set(HOOKS), story.slug
        for rule_id in story.expected_rules:
            rule_hooks = set(rule_catalogue.rule(rule_id).hooks)
            assert rule_hooks & set(story.hooks), (story.slug, rule_id, rule_hooks)


def test_readme_table_agrees_with_the_catalogue() -> None:
    readme = (PATIENTS_DIR / "README.md").read_text(encoding="utf-8")
    rows = {
        line.split("|")[1].strip(" `"): [cell.strip() for cell in line.split("|")[2:-1]]
        for line in readme.splitlines()
        if line.startswith("| `")
    }
    assert set(rows) == {f"{slug}.json" for slug in SLUGS}
    for slug, story in PATIENTS.items():
        text, _crcl, hooks, fire, not_fire = rows[f"{slug}.json"]
        assert text == story.story, slug
        assert hooks == ", ".join(story.hooks), slug
        assert fire == ", ".join(story.expected_rules), slug
        assert not_fire == ", ".join(story.must_not_fire), slug


# --- the bundles -----------------------------------------------------------------------------

# The one story about a patient whose sex is not recorded as male or female.
SEX_UNKNOWN = {"sex-unknown-45"}


@pytest.mark.parametrize("slug", SLUGS)
def test_bundle_is_valid_fhir_r4(slug: str) -> None:
    raw = json.loads((PATIENTS_DIR / f"{slug}.json").read_text(encoding="utf-8"))
    Bundle.model_validate(raw)
    Bundle.model_validate(load_bundle(slug, OTHER_DAYS[0]))
    assert raw["id"] == slug
    assert raw["type"] == "collection"
    assert raw["timestamp"] == ANCHOR.isoformat()
    ids = [(r["resourceType"], r["id"]) for r in resources(raw)]
    assert len(ids) == len(set(ids)), "resource ids repeat"


@pytest.mark.parametrize("slug", SLUGS)
def test_bundle_holds_one_synthetic_patient_and_refers_to_it(slug: str) -> None:
    bundle = load_bundle(slug, ANCHOR_DATE)
    (patient,) = of_type(bundle, "Patient")
    assert patient["id"] == slug
    assert patient["gender"] in (("unknown",) if slug in SEX_UNKNOWN else ("female", "male"))
    assert "birthDate" in patient
    assert "Synthetic" in patient["name"][0]["family"]
    subjects = {r["subject"]["reference"] for r in resources(bundle) if "subject" in r}
    assert subjects == {f"Patient/{slug}"}


@pytest.mark.parametrize("slug", SLUGS)
def test_observations_are_final_loinc_coded_and_dated_with_ucum_quantities(slug: str) -> None:
    for obs in of_type(load_bundle(slug, ANCHOR_DATE), "Observation"):
        assert obs["status"] == "final"
        assert codes(obs["code"], LOINC), obs["id"]
        assert "effectiveDateTime" in obs
        if "82810-3" in codes(obs["code"], LOINC):  # pregnancy status is a coded answer
            assert codes(obs["valueCodeableConcept"], LOINC) <= {"LA15173-0", "LA26683-5"}
            continue
        quantity = obs["valueQuantity"]
        assert set(quantity) == {"value", "unit", "system", "code"}, obs["id"]
        assert quantity["system"] == UCUM


@pytest.mark.parametrize("slug", SLUGS)
def test_conditions_and_procedures_are_coded_with_status_and_dates(slug: str) -> None:
    bundle = load_bundle(slug, ANCHOR_DATE)
    for condition in of_type(bundle, "Condition"):
        if slug in KR_CORE_PATIENTS:
            assert codes(condition["code"], KCD8) and not codes(condition["code"], SNOMED)
        else:
            assert codes(condition["code"], SNOMED) or codes(condition["code"], ICD10CM)
        assert condition["clinicalStatus"]["coding"][0]["code"] in ("active", "resolved")
        assert condition["verificationStatus"]["coding"][0]["code"] == "confirmed"
        assert "onsetDateTime" in condition
        if condition["clinicalStatus"]["coding"][0]["code"] == "resolved":
            assert day_of(condition["abatementDateTime"]) >= day_of(condition["onsetDateTime"])
    for procedure in of_type(bundle, "Procedure"):
        assert procedure["status"] == "completed"
        assert codes(procedure["code"], SNOMED) and "performedDateTime" in procedure


@pytest.mark.parametrize("slug", SLUGS)
def test_medication_requests_are_rxnorm_coded_with_full_dosage(slug: str) -> None:
    for order in of_type(load_bundle(slug, ANCHOR_DATE), "MedicationRequest"):
        assert order["status"] in ("draft", "active", "completed", "stopped"), order["id"]
        concept = order["medicationCodeableConcept"]
        if slug in KR_CORE_PATIENTS:
            # KR Core: a HIRA EDI coding (its product code left out), ATC, and no RxNorm.
            assert codes(concept, ATC) and not codes(concept, RXNORM), order["id"]
            assert any(c.get("system") == HIRA_EDI and "code" not in c for c in concept["coding"])
        else:
            assert codes(concept, RXNORM), order["id"]
        assert "authoredOn" in order
        (dosage,) = order["dosageInstruction"]
        assert dosage["text"] and dosage["timing"]["repeat"]
        (dose,) = dosage["doseAndRate"]
        assert dose["doseQuantity"]["code"] == "mg" and dose["doseQuantity"]["system"] == UCUM
        if order["status"] != "draft":
            assert day_of(order["authoredOn"]) < ANCHOR_DATE, order["id"]


@pytest.mark.parametrize("slug", SLUGS)
def test_one_draft_order_set_exactly_for_patients_of_order_hooks(slug: str) -> None:
    story = PATIENTS[slug]
    drafts = draft_orders(slug, ANCHOR_DATE)
    meant_for_orders = bool(set(story.hooks) & set(ORDER_HOOKS))
    assert bool(drafts) == meant_for_orders
    if not drafts:
        return
    assert {d["id"] for d in drafts} <= {"draft-lenalidomide-1", "draft-dexamethasone-1"}
    assert any(is_lenalidomide(d) for d in drafts)
    assert all(d["status"] == "draft" for d in drafts)


def test_fhir_resources_and_draft_orders_split_the_record() -> None:
    for slug in SLUGS:
        record, drafts = fhir_resources(slug, ANCHOR_DATE), draft_orders(slug, ANCHOR_DATE)
        assert len(record) + len(drafts) == len(resources(load_bundle(slug, ANCHOR_DATE)))
        assert not any(r.get("status") == "draft" for r in record)


# Exceptions the stories call for: no fresh creatinine, no weight at all.
NO_FRESH_CREATININE = {"stale-creatinine"}
NO_WEIGHT = {"egfr-only"}


@pytest.mark.parametrize("slug", SLUGS)
def test_patients_on_or_starting_lenalidomide_have_myeloma_and_current_labs(slug: str) -> None:
    bundle = load_bundle(slug, ANCHOR_DATE)
    orders = [o for o in of_type(bundle, "MedicationRequest") if is_lenalidomide(o)]
    if not any(o["status"] in ("draft", "active") for o in orders):
        pytest.skip("not on lenalidomide")
    assert any(
        "109989006" in codes(c["code"], SNOMED) or "C90.0" in codes(c["code"], KCD8)
        for c in of_type(bundle, "Condition")
    )
    if PATIENTS[slug].hooks == ("patient-view",):
        return  # monitoring stories set their own lab dates

    def age_days(loinc: str) -> int:
        return (ANCHOR_DATE - day_of(observations(bundle, loinc)[0]["effectiveDateTime"])).days

    creatinine = observations(bundle, "2160-0") or observations(bundle, "14682-9")
    assert creatinine
    creatinine_age = (ANCHOR_DATE - day_of(creatinine[0]["effectiveDateTime"])).days
    assert (creatinine_age > 30) == (slug in NO_FRESH_CREATININE)
    if slug in NO_WEIGHT:
        assert not observations(bundle, "29463-7")
    else:
        assert age_days("29463-7") <= 30
    assert observations(bundle, "8302-2")
    assert age_days("751-8") <= 14 and age_days("777-3") <= 14


# Cockcroft-Gault as the README states it: (140 − age) × kg / (72 × mg/dL), × 0.85 if female.
STATED_CRCL = {
    "normal-renal": 91.1,
    "moderate-renal": 34.0,
    "kr-core-moderate-renal": 34.0,
    "moderate-renal-boundary": 59.6,
    "normal-renal-boundary": 60.0,
    "severe-renal": 22.5,
    "creatinine-umol": 39.2,
    "cytopenia-start": 96.3,
    "elderly-high-dex": 75.3,
    "high-dose-dex-no-indication": 86.7,
    "recent-dvt": 86.8,
    "vte-high-warfarin": 22.6,
    "vte-standard": 77.4,
    "vte-none": 92.0,
    "woman-childbearing": 103.7,
    "renal-improved": 67.2,
    "active-dvt-low-platelets": 83.0,
    "ckd5-not-on-dialysis": 12.1,
    "old-aki-dialysis": 70.0,
    "toxicity-reduced-dose": 86.0,
    "sex-unknown-45": 107.2,  # without the female factor (91.1 with it): normal either way
}


def cockcroft_gault(bundle: dict[str, Any], today: date) -> float:
    (patient,) = of_type(bundle, "Patient")
    age = age_on(date.fromisoformat(patient["birthDate"]), today)
    mg_dl = observations(bundle, "2160-0")
    creatinine = float(
        mg_dl[0]["valueQuantity"]["value"]
        if mg_dl
        else observations(bundle, "14682-9")[0]["valueQuantity"]["value"] / 88.4
    )
    weight = float(observations(bundle, "29463-7")[0]["valueQuantity"]["value"])
    clearance = (140 - age) * weight / (72 * creatinine)
    return clearance * 0.85 if patient["gender"] == "female" else clearance


@pytest.mark.parametrize("slug", sorted(STATED_CRCL))
def test_cockcroft_gault_is_what_the_story_says(slug: str) -> None:
    clearance = cockcroft_gault(load_bundle(slug, ANCHOR_DATE), ANCHOR_DATE)
    assert round(clearance, 1) == STATED_CRCL[slug]
    assert f"{STATED_CRCL[slug]:.1f}" in PATIENTS[slug].story.replace("59.63", "59.6")


def test_renal_boundaries_sit_where_the_brief_puts_them() -> None:
    assert 59.5 <= cockcroft_gault(load_bundle("moderate-renal-boundary", ANCHOR_DATE), ANCHOR_DATE) <= 59.8
    assert 60.0 <= cockcroft_gault(load_bundle("normal-renal-boundary", ANCHOR_DATE), ANCHOR_DATE) <= 60.2


# --- the records the safety stories rest on -------------------------------------------------

DIALYSIS_ICD10 = {"N18.6", "Z99.2"}
DIALYSIS_SNOMED = {"46177005", "105502003"}


def days_before_anchor(value: str) -> int:
    return (ANCHOR_DATE - day_of(value)).days


def test_ckd5_not_on_dialysis_has_stage_5_and_no_dialysis_evidence() -> None:
    bundle = load_bundle("ckd5-not-on-dialysis", ANCHOR_DATE)
    conditions = of_type(bundle, "Condition")
    assert any(
        codes(c["code"], ICD10CM) == {"N18.5"}
        and codes(c["code"], SNOMED) == {"433146000"}
        and c["clinicalStatus"]["coding"][0]["code"] == "active"
        for c in conditions
    )
    assert not any(
        codes(c["code"], ICD10CM) & DIALYSIS_ICD10 or codes(c["code"], SNOMED) & DIALYSIS_SNOMED for c in conditions
    )
    assert "dialysis" not in json.dumps([c["code"] for c in conditions]).lower()
    assert not of_type(bundle, "Procedure")


def test_old_aki_dialysis_is_history_only() -> None:
    bundle = load_bundle("old-aki-dialysis", ANCHOR_DATE)
    procedures = of_type(bundle, "Procedure")
    assert procedures and all("302497006" in codes(p["code"], SNOMED) for p in procedures)
    assert all(days_before_anchor(p["performedDateTime"]) > 700 for p in procedures)
    (aki,) = [c for c in of_type(bundle, "Condition") if "N17.9" in codes(c["code"], ICD10CM)]
    assert aki["clinicalStatus"]["coding"][0]["code"] == "resolved"
    assert not any(
        codes(c["code"], ICD10CM) & DIALYSIS_ICD10 or codes(c["code"], SNOMED) & DIALYSIS_SNOMED
        for c in of_type(bundle, "Condition")
    )


def test_ambiguous_creatinine_has_two_disagreeing_results_at_one_time() -> None:
    latest, second, *_ = observations(load_bundle("ambiguous-creatinine", ANCHOR_DATE), "2160-0")
    assert latest["effectiveDateTime"] == second["effectiveDateTime"]
    assert latest["status"] == second["status"] == "final"
    assert sorted(o["valueQuantity"]["value"] for o in (latest, second)) == [1.0, 2.4]


def test_toxicity_reduced_dose_has_a_toxicity_reduction_and_steady_kidneys() -> None:
    bundle = load_bundle("toxicity-reduced-dose", ANCHOR_DATE)
    lenalidomide = [o for o in of_type(bundle, "MedicationRequest") if is_lenalidomide(o)]
    dose = {o["id"]: o["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"] for o in lenalidomide}
    assert {dose[o["id"]] for o in lenalidomide if o["status"] == "active"} == {15}
    assert {dose[o["id"]] for o in lenalidomide if o["status"] == "completed"} == {25}
    creatinine = [o["valueQuantity"]["value"] for o in observations(bundle, "2160-0")]
    assert len(creatinine) >= 3 and all(0.85 <= value <= 0.95 for value in creatinine)
    assert any(codes(c["code"], ICD10CM) == {"D70.1"} for c in of_type(bundle, "Condition"))


def test_active_dvt_low_platelets_has_a_fresh_dvt_no_anticoagulant_and_20000_platelets() -> None:
    bundle = load_bundle("active-dvt-low-platelets", ANCHOR_DATE)
    (dvt,) = [c for c in of_type(bundle, "Condition") if "128053003" in codes(c["code"], SNOMED)]
    assert dvt["clinicalStatus"]["coding"][0]["code"] == "active" and "abatementDateTime" not in dvt
    assert days_before_anchor(dvt["onsetDateTime"]) == 10
    active = {
        o["medicationCodeableConcept"]["text"] for o in of_type(bundle, "MedicationRequest") if o["status"] == "active"
    }
    assert active == {"lenalidomide", "dexamethasone"}
    platelets = observations(bundle, "777-3")[0]
    assert platelets["valueQuantity"]["value"] == 20 and days_before_anchor(platelets["effectiveDateTime"]) <= 14


# --- dates -----------------------------------------------------------------------------------


@pytest.mark.parametrize("slug", SLUGS)
def test_every_date_in_a_bundle_is_one_the_time_shift_moves(slug: str) -> None:
    raw = json.loads((PATIENTS_DIR / f"{slug}.json").read_text(encoding="utf-8"))
    for key, value in all_strings(raw):
        if re.search(r"\d{4}-\d{2}-\d{2}", value):
            assert key in DATE_KEYS, (key, value)


@pytest.mark.parametrize("today", OTHER_DAYS)
@pytest.mark.parametrize("slug", SLUGS)
def test_time_shift_keeps_ages_and_relative_spacing(slug: str, today: date) -> None:
    anchored, shifted = load_bundle(slug, ANCHOR_DATE), load_bundle(slug, today)
    before, after = list(date_values(anchored)), list(date_values(shifted))
    assert [path for path, _ in before] == [path for path, _ in after]
    for (path, old), (_, new) in zip(before, after):
        assert (day_of(new) - today) == (day_of(old) - ANCHOR_DATE), path
        assert new[10:] == old[10:], path  # time of day and offset unchanged
    (old_patient,), (new_patient,) = of_type(anchored, "Patient"), of_type(shifted, "Patient")
    assert age_on(date.fromisoformat(new_patient["birthDate"]), today) == age_on(
        date.fromisoformat(old_patient["birthDate"]), ANCHOR_DATE
    )
    assert datetime.fromisoformat(shifted["timestamp"]).date() == today
    if slug in STATED_CRCL:
        assert cockcroft_gault(shifted, today) == pytest.approx(cockcroft_gault(anchored, ANCHOR_DATE))


def test_ages_hold_on_every_day_of_four_years() -> None:
    bundles = {slug: json.loads((PATIENTS_DIR / f"{slug}.json").read_text()) for slug in SLUGS}
    births = {slug: date.fromisoformat(of_type(b, "Patient")[0]["birthDate"]) for slug, b in bundles.items()}
    for offset in range(-730, 731):
        today = ANCHOR_DATE + timedelta(days=offset)
        for slug, birth in births.items():
            moved = birth + timedelta(days=offset)
            assert age_on(moved, today) == age_on(birth, ANCHOR_DATE), (slug, today)


def test_load_bundle_dates_for_today_by_default() -> None:
    assert load_bundle("normal-renal")["timestamp"].startswith(date.today().isoformat())


def test_unknown_patient_is_refused() -> None:
    with pytest.raises(KeyError):
        load_bundle("../CLINICAL_RULES")


# --- hook requests ---------------------------------------------------------------------------

HOOK_CASES = [(slug, hook) for slug in SLUGS for hook in PATIENTS[slug].hooks]


@pytest.mark.parametrize(("slug", "hook"), HOOK_CASES)
def test_hook_request_has_the_cds_hooks_shape(slug: str, hook: str) -> None:
    today = OTHER_DAYS[0]
    request = hook_request(slug, hook, today=today)
    assert set(request) == {"hookInstance", "hook", "context", "prefetch"}
    assert request["hook"] == hook
    assert uuid.UUID(request["hookInstance"]).version == 4
    context = request["context"]
    assert context["userId"] == "Practitioner/sandbox-clinician" and context["patientId"] == slug
    if hook == "patient-view":
        assert set(context) == {"userId", "patientId"}
    else:
        drafts = context["draftOrders"]
        Bundle.model_validate(drafts)
        assert drafts["type"] == "collection"
        draft_ids = {f"MedicationRequest/{e['resource']['id']}" for e in drafts["entry"]}
        assert all(e["resource"]["status"] == "draft" for e in drafts["entry"])
        if hook == "order-select":
            assert set(context) == {"userId", "patientId", "selections", "draftOrders"}
            assert context["selections"] == ["MedicationRequest/draft-lenalidomide-1"]
            assert set(context["selections"]) <= draft_ids
        else:
            assert set(context) == {"userId", "patientId", "draftOrders"}

    prefetch = request["prefetch"]
    assert set(prefetch) == set(PREFETCH_RESOURCE_TYPES)
    assert prefetch["patient"]["resourceType"] == "Patient" and prefetch["patient"]["id"] == slug
    record = fhir_resources(slug, today)
    for key, resource_type in PREFETCH_RESOURCE_TYPES.items():
        if key == "patient":
            continue
        searchset = prefetch[key]
        Bundle.model_validate(searchset)
        assert searchset["type"] == "searchset"
        found = [e["resource"] for e in searchset.get("entry", [])]
        assert searchset["total"] == len(found)
        assert "entry" in searchset or searchset["total"] == 0  # never "entry": []
        assert found == [r for r in record if r["resourceType"] == resource_type]
    assert all(m["status"] != "draft" for m in (e["resource"] for e in prefetch["medications"].get("entry", [])))


def test_hook_request_options() -> None:
    bare = hook_request("moderate-renal", "order-sign", today=ANCHOR_DATE, with_prefetch=False)
    assert "prefetch" not in bare and "fhirServer" not in bare
    served = hook_request(
        "moderate-renal",
        "order-select",
        today=ANCHOR_DATE,
        fhir_server="http://127.0.0.1:9090/fhir/",
        hook_instance="fixed",
    )
    assert served["fhirServer"] == "http://127.0.0.1:9090/fhir/"
    assert served["hookInstance"] == "fixed"
    entry = served["prefetch"]["observations"]["entry"][0]
    assert entry["fullUrl"] == f"http://127.0.0.1:9090/fhir/Observation/{entry['resource']['id']}"
    view = hook_request("severe-neutropenia", "patient-view", today=ANCHOR_DATE)
    assert "draftOrders" not in view["context"]


def test_hook_request_refuses_what_cannot_be_sent() -> None:
    with pytest.raises(ValueError):
        hook_request("renal-improved", "order-select")  # no drafts: nothing to select
    with pytest.raises(ValueError):
        hook_request("normal-renal", "encounter-start")
    with pytest.raises(KeyError):
        hook_request("nobody", "patient-view")


def test_hook_requests_of_a_day_are_the_same_records_moved() -> None:
    anchored = hook_request("overdue-monitoring", "patient-view", today=ANCHOR_DATE, hook_instance="x")
    later = hook_request("overdue-monitoring", "patient-view", today=OTHER_DAYS[0], hook_instance="x")
    assert [p for p, _ in date_values(anchored)] == [p for p, _ in date_values(later)]
    assert anchored != later


def test_committed_request_files_equal_a_rebuild_for_the_anchor_date() -> None:
    expected = request_files(ANCHOR_DATE)
    committed = {path.name: path.read_text(encoding="utf-8") for path in REQUESTS_DIR.glob("*.json")}
    assert sorted(committed) == sorted(expected), (
        "run: python -m sandbox.build_requests --today 2026-11-25 --out sandbox/requests"
    )
    for name, text in expected.items():
        assert committed[name] == text, (
            f"{name} is stale: python -m sandbox.build_requests --today 2026-11-25 --out sandbox/requests"
        )
    assert len(expected) == len(HOOK_CASES)

"""Safety principle 1 as properties (hypothesis): no one-click suggestion creates a harmful
order, and no dose comes from data that cannot be trusted.

For every generated patient and hook:
- no anticoagulant is pre-selected, and no treatment-dose anticoagulant offered at all, while
  platelets are < 50,000/µL or not currently known (section 7, R-VTE-ACTIVE and Table 3);
- on dialysis, no one-click enoxaparin at a treatment dose (section 7);
- no lenalidomide update while a delay rule fires at a new cycle: ANC < 1,000/µL or
  platelets < 30,000/µL (section 5);
- no antibiotic dose above its renal maximum, and none without known kidney function
  (section 8);
- no lenalidomide dose from an implausible or ambiguous creatinine, weight or age, read from
  FHIR as an EHR sends it (section 1).

The limits below restate the clinical rules on purpose: a test that read them from rules/
would agree with any mistake made there.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.rules.patient_builder import TODAY, born_aged, condition, counts, lab, lenalidomide, new_cycle, patient
from tests.rules.test_invariants import snapshots
from fhir_mappings.snapshot import build_snapshot
from rules import evaluate
from rules.dose_ladder import daily_mg
from rules.hematologic_toxicity import usable_count
from rules.model import DoseChange, Evaluation, Hook, NewMedication, PatientSnapshot, Recommendation
from rules.renal import RenalFunction, assess_renal_function
from rules.treatment_course import treated_before

HOOKS: tuple[Hook, ...] = ("order-select", "order-sign", "patient-view")
ORDER_HOOKS: tuple[Hook, ...] = ("order-select", "order-sign")
ANTICOAGULANTS = (
    "enoxaparin",
    "dalteparin",
    "heparin",
    "warfarin",
    "rivaroxaban",
    "apixaban",
    "dabigatran",
    "edoxaban",
)
# Table 3's prophylactic amounts: anything above is a treatment dose.
PROPHYLACTIC_MAX = {"enoxaparin": 40.0, "dalteparin": 5_000.0}


def created(recommendations: list[Recommendation]) -> list[NewMedication]:
    return [a for r in recommendations for a in r.actions if isinstance(a, NewMedication)]


def lenalidomide_updates(recommendations: list[Recommendation]) -> list[DoseChange]:
    return [a for r in recommendations for a in r.actions if isinstance(a, DoseChange) and a.drug == "lenalidomide"]


def lenalidomide_doses(recommendations: list[Recommendation]) -> list[DoseChange]:
    """Updates, and the dose a dose card names even without an update."""
    return lenalidomide_updates(recommendations) + [
        r.dose for r in recommendations if r.dose is not None and r.dose.drug == "lenalidomide"
    ]


def platelets_below(snapshot: PatientSnapshot, evaluation: Evaluation, limit: float) -> bool | None:
    """True/False when a current count decides it, None when no current count does."""
    platelets = usable_count(snapshot.platelets, "platelets", evaluation)
    return None if platelets is None else platelets.is_below(limit)


# --- generated patients with an active clot, counts across the thresholds -------------------

platelet_counts = st.one_of(
    st.none(),
    st.sampled_from([10_000.0, 20_000.0, 49_999.0, 50_000.0, 99_999.0, 100_000.0, 250_000.0]),
    st.floats(0, 400_000, allow_nan=False),
)


@st.composite
def clot_patients(draw: st.DrawFn) -> PatientSnapshot:
    platelets = draw(platelet_counts)
    base = new_cycle() if draw(st.booleans()) else patient(medications=(lenalidomide(),))
    conditions = [condition(draw(st.sampled_from(["dvt", "pe"])), onset_days_ago=draw(st.integers(0, 150)))]
    if draw(st.booleans()):
        conditions.append(condition(draw(st.sampled_from(["dialysis", "esrd", "ckd", "immobilization"]))))
    weight = draw(st.sampled_from([None, 45.0, 70.0, 120.0]))
    return replace(
        base,
        conditions=tuple(conditions),
        platelets=lab(platelets, days=draw(st.sampled_from([1, 1, 20]))) if platelets is not None else None,
        weight=lab(weight, "kg", days=draw(st.sampled_from([1, 1, 45]))) if weight is not None else None,
        creatinine=lab(draw(st.sampled_from([0.8, 1.4, 3.5])), "mg/dL"),
    )


def check_bleeding_safety(snapshot: PatientSnapshot, hook: Hook) -> None:
    evaluation = Evaluation(hook=hook, today=TODAY)
    recommendations = evaluate(snapshot, evaluation)
    anticoagulants = [a for a in created(recommendations) if a.drug in ANTICOAGULANTS]
    low = platelets_below(snapshot, evaluation, 50_000.0)
    if low is not False:  # below 50,000/µL, or not known: the bleeding risk is not weighed
        assert not any(a.recommended for a in anticoagulants), [a.label for a in anticoagulants]
        treatment = [
            a
            for a in anticoagulants
            if a.drug in PROPHYLACTIC_MAX and a.regimen.dose is not None and a.regimen.dose > PROPHYLACTIC_MAX[a.drug]
        ]
        assert treatment == [], [a.label for a in treatment]
    renal = assess_renal_function(snapshot, evaluation)
    if isinstance(renal, RenalFunction) and renal.tier.rule_id == "R-RENAL-DIALYSIS":
        enoxaparin = [
            a
            for a in anticoagulants
            if a.drug == "enoxaparin" and (a.regimen.dose is None or a.regimen.dose > PROPHYLACTIC_MAX["enoxaparin"])
        ]
        assert enoxaparin == [], [a.label for a in enoxaparin]
    if platelets_below(snapshot, evaluation, 100_000.0) is not False:
        assert not any(
            a.recommended
            for a in anticoagulants
            if a.drug in PROPHYLACTIC_MAX and (a.regimen.dose or 0) > PROPHYLACTIC_MAX[a.drug]
        )


@settings(max_examples=300, deadline=None)
@given(clot_patients(), st.sampled_from(HOOKS))
def test_no_full_dose_anticoagulant_against_low_platelets(snapshot: PatientSnapshot, hook: Hook) -> None:
    check_bleeding_safety(snapshot, hook)


@settings(max_examples=200, deadline=None)
@given(snapshots(), st.sampled_from(HOOKS))
def test_no_full_dose_anticoagulant_against_low_platelets_for_any_patient(
    snapshot: PatientSnapshot, hook: Hook
) -> None:
    check_bleeding_safety(snapshot, hook)


def test_the_reported_case_active_dvt_at_20000_platelets() -> None:
    snapshot = replace(new_cycle(), conditions=(condition("dvt", onset_days_ago=10),), **counts(platelets=20_000))
    for hook in ORDER_HOOKS:
        recommendations = evaluate(snapshot, Evaluation(hook=hook, today=TODAY))
        assert [a for a in created(recommendations) if a.drug in ANTICOAGULANTS] == []


# --- no cycle starts against a delay rule --------------------------------------------------------

anc_counts = st.one_of(
    st.sampled_from([300.0, 499.0, 500.0, 900.0, 999.0, 1_000.0, 2_500.0]), st.floats(0, 10_000, allow_nan=False)
)


@st.composite
def next_cycles(draw: st.DrawFn) -> PatientSnapshot:
    previous = draw(st.sampled_from([(), ((800.0, 8),), ((1_500.0, 8),)]))
    return new_cycle(
        current_mg=draw(st.sampled_from([25.0, 15.0, 10.0, 5.0])),
        weight=lab(draw(st.sampled_from([35.0, 50.0, 70.0, 90.0])), "kg"),  # CrCl 19 to 90 mL/min
        **counts(
            anc=draw(anc_counts),
            platelets=draw(
                st.one_of(
                    st.sampled_from([20_000.0, 29_999.0, 30_000.0, 200_000.0]), st.floats(0, 400_000, allow_nan=False)
                )
            ),
            previous_anc=previous,
        ),
    )


def check_no_cycle_start(snapshot: PatientSnapshot, hook: Hook) -> None:
    evaluation = Evaluation(hook=hook, today=TODAY)
    recommendations = evaluate(snapshot, evaluation)
    if hook == "patient-view" or not treated_before(snapshot) or not snapshot.drafts_of("lenalidomide"):
        return
    anc = usable_count(snapshot.anc, "anc", evaluation)
    delayed = (anc is not None and anc.is_below(1_000.0) is True) or platelets_below(
        snapshot, evaluation, 30_000.0
    ) is True
    if delayed:
        assert lenalidomide_updates(recommendations) == [], [r.summary for r in recommendations]


@settings(max_examples=300, deadline=None)
@given(next_cycles(), st.sampled_from(ORDER_HOOKS))
def test_no_lenalidomide_update_while_a_delay_rule_fires(snapshot: PatientSnapshot, hook: Hook) -> None:
    check_no_cycle_start(snapshot, hook)


@settings(max_examples=200, deadline=None)
@given(snapshots(), st.sampled_from(ORDER_HOOKS))
def test_no_lenalidomide_update_while_a_delay_rule_fires_for_any_patient(snapshot: PatientSnapshot, hook: Hook) -> None:
    check_no_cycle_start(snapshot, hook)


# --- antibiotics within their renal maximum -----------------------------------------------------


def check_antibiotics(snapshot: PatientSnapshot, hook: Hook) -> None:
    evaluation = Evaluation(hook=hook, today=TODAY)
    recommendations = evaluate(snapshot, evaluation)
    antibiotics = [a for a in created(recommendations) if a.drug in ("levofloxacin", "trimethoprim-sulfamethoxazole")]
    if not antibiotics:
        return
    renal = assess_renal_function(snapshot, evaluation)
    assert isinstance(renal, RenalFunction), "an antibiotic dose without known kidney function"
    dialysis = renal.tier.rule_id == "R-RENAL-DIALYSIS"
    clearance = renal.clearance_ml_min
    for action in antibiotics:
        if action.drug == "levofloxacin":
            mg_per_day = daily_mg(action.regimen)
            assert mg_per_day is not None
            limit = (
                125.0 if dialysis or clearance is None or clearance < 20 else 250.0 if clearance < 50 else 500.0
            )  # 250 mg every 48 h = 125 mg/day
            assert mg_per_day <= limit, (clearance, action.label)
        else:
            assert not dialysis and clearance is not None and clearance >= 15, (clearance, action.label)
            if clearance <= 30:
                assert "half" in action.label.lower() or "half" in (action.regimen.text or "").lower(), action.label


@st.composite
def first_cycle_patients(draw: st.DrawFn) -> PatientSnapshot:
    extra = draw(st.sampled_from([(), (condition("dialysis"),), (condition("infection-history"),)]))
    return patient(
        medications=(lenalidomide(),),
        birth_date=born_aged(draw(st.integers(40, 90))),
        sex=draw(st.sampled_from(["male", "female"])),
        weight=lab(draw(st.floats(30, 150, allow_nan=False)), "kg"),
        creatinine=draw(st.one_of(st.none(), st.floats(0.3, 12, allow_nan=False).map(lambda v: lab(v, "mg/dL")))),
        conditions=extra,
        **counts(anc=draw(st.sampled_from([600.0, 3_000.0]))),
    )


@settings(max_examples=300, deadline=None)
@given(first_cycle_patients(), st.sampled_from(HOOKS))
def test_no_antibiotic_dose_above_its_renal_maximum(snapshot: PatientSnapshot, hook: Hook) -> None:
    check_antibiotics(snapshot, hook)


@settings(max_examples=200, deadline=None)
@given(snapshots(), st.sampled_from(HOOKS))
def test_no_antibiotic_dose_above_its_renal_maximum_for_any_patient(snapshot: PatientSnapshot, hook: Hook) -> None:
    check_antibiotics(snapshot, hook)


# --- no dose from implausible or ambiguous data, read from FHIR --------------------------------

PATIENT_ID = "safety"


def observation(index: int, loinc: str, value: float, unit: str, when: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": f"obs-{index}",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": loinc}]},
        "subject": {"reference": f"Patient/{PATIENT_ID}"},
        "effectiveDateTime": when,
        "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit},
    }


def draft_lenalidomide() -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "id": "draft-lenalidomide-1",
        "status": "draft",
        "intent": "order",
        "medicationCodeableConcept": {
            "coding": [
                {"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "342369", "display": "lenalidomide"}
            ]
        },
        "subject": {"reference": f"Patient/{PATIENT_ID}"},
        "dosageInstruction": [
            {
                "timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
                "doseAndRate": [
                    {"doseQuantity": {"value": 25, "unit": "mg", "system": "http://unitsofmeasure.org", "code": "mg"}}
                ],
            }
        ],
    }


implausible_creatinine = st.sampled_from([0.0001, 0.05, 0.099, 20.5, 88.0, 1e6])
plausible_creatinine = st.sampled_from([0.1, 0.6, 1.0, 1.3, 2.4, 4.0, 20.0])
implausible_weight = st.sampled_from([1e-300, 0.5, 24.9, 300.5, 5_000.0])
plausible_weight = st.sampled_from([25.0, 48.0, 70.0, 300.0])
implausible_birth = st.sampled_from(
    [
        "0001-01-01",
        "1850-06-01",
        "1899-12-31",
        "2026-06-01",
        "2100-01-01",
        (TODAY - timedelta(days=365 * 10)).isoformat(),
    ]
)  # 10 years old
plausible_birth = st.sampled_from(["1940-03-02", "1960-07-15", (TODAY - timedelta(days=365 * 30)).isoformat()])


@st.composite
def untrusted_records(draw: st.DrawFn) -> tuple[list[dict[str, Any]], str]:
    """A patient record with one untrusted input (named in the second item), else plausible."""
    flaw = draw(st.sampled_from(["creatinine", "weight", "birth", "ambiguous creatinine"]))
    lab_time = (TODAY - timedelta(days=2)).isoformat() + "T08:00:00+09:00"
    birth = draw(implausible_birth if flaw == "birth" else plausible_birth)
    creatinine = draw(implausible_creatinine if flaw == "creatinine" else plausible_creatinine)
    weight = draw(implausible_weight if flaw == "weight" else plausible_weight)
    resources: list[dict[str, Any]] = [
        {
            "resourceType": "Patient",
            "id": PATIENT_ID,
            "gender": draw(st.sampled_from(["male", "female"])),
            "birthDate": birth,
        },
        observation(1, "2160-0", creatinine, "mg/dL", lab_time),
        observation(2, "29463-7", weight, "kg", lab_time),
        observation(3, "751-8", 3_000, "/uL", lab_time),
        observation(4, "777-3", 200_000, "/uL", lab_time),
    ]
    if flaw == "ambiguous creatinine":  # a second final result at the same time that disagrees
        other = draw(plausible_creatinine.filter(lambda v: abs(v - creatinine) >= 0.1))
        resources.insert(draw(st.integers(1, 2)), observation(5, "2160-0", other, "mg/dL", lab_time))
    return resources, flaw


@settings(max_examples=300, deadline=None)
@given(untrusted_records(), st.sampled_from(ORDER_HOOKS))
def test_no_dose_from_implausible_or_ambiguous_data(record: tuple[list[dict[str, Any]], str], hook: Hook) -> None:
    resources, flaw = record
    snapshot = build_snapshot(
        resources,
        patient_id=PATIENT_ID,
        draft_orders=[draft_lenalidomide()],
        selections=["MedicationRequest/draft-lenalidomide-1"],
    )
    recommendations = evaluate(snapshot, Evaluation(hook=hook, today=TODAY))
    assert lenalidomide_doses(recommendations) == [], (flaw, [r.summary for r in recommendations])
    dose_card = next(r for r in recommendations if r.concern == "lenalidomide-dose")
    assert dose_card.rule_ids == ("R-DATA-RENAL",), dose_card.rule_ids
    assert any("verify" in p.lower() or "which is right" in p.lower() for p in dose_card.rationale), dose_card.rationale

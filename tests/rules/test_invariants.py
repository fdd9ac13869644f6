"""Properties that hold for every patient (hypothesis).

- rules.evaluate never fails on any snapshot, however odd, for all three hooks, and what it
  returns keeps the contract (catalogue rule ids on their hooks, short summaries, orderable
  drugs, nothing suggested that is already active, one recommended alternative);
- a lower CrCl, ANC or platelet count never raises the recommended lenalidomide dose;
- adding a VTE risk factor never lowers the Table 3 tier;
- missing or stale creatinine, weight or blood counts never yield a lenalidomide DoseChange.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.rules.patient_builder import (
    TODAY,
    born_aged,
    condition,
    counts,
    dexamethasone,
    lab,
    lenalidomide,
    medication,
    patient,
    with_crcl,
)
from rules import evaluate
from rules.catalogue import RULES_BY_ID
from rules.dose_ladder import LENALIDOMIDE_LADDER_MG, daily_mg
from rules.freshness import is_fresh
from rules.model import (
    ClinicalCondition,
    ClinicalProcedure,
    DoseChange,
    Evaluation,
    Hook,
    Measurement,
    MedicationOrder,
    NewMedication,
    OrdersUnderReview,
    PatientSnapshot,
    Recommendation,
    Regimen,
)
from rules.renal import RenalFunction, assess_renal_function
from rules.vte_prophylaxis import VteTier, vte_risk

HOOKS: tuple[Hook, ...] = ("order-select", "order-sign", "patient-view")
ORDERABLE = {
    "enoxaparin",
    "dalteparin",
    "warfarin",
    "aspirin",
    "filgrastim",
    "trimethoprim-sulfamethoxazole",
    "levofloxacin",
}
CATEGORIES = (
    "multiple-myeloma",
    "dialysis",
    "esrd",
    "ckd",
    "dvt",
    "pe",
    "vte",
    "heart-failure",
    "pulmonary-disease",
    "active-infection",
    "arterial-thromboembolism",
    "thrombophilia",
    "immobilization",
    "pregnancy",
    "heavy-marrow-infiltration",
    "aggressive-disease",
    "spinal-cord-compression",
    "hypercalcemia",
    "bone-pain",
    "renal-failure",
    "neutropenia-history",
    "infection-history",
    "pelvic-hip-femur-fracture",
    "central-venous-catheter",
    "disease-progression",
    "asian-ethnicity",
    "transplant-ineligible",
    "something-else",
)
DRUGS = (
    "lenalidomide",
    "dexamethasone",
    "bortezomib",
    "thalidomide",
    "pomalidomide",
    "melphalan",
    "cyclophosphamide",
    "carfilzomib",
    "daratumumab",
    "doxorubicin",
    "enoxaparin",
    "dalteparin",
    "heparin",
    "warfarin",
    "aspirin",
    "rivaroxaban",
    "apixaban",
    "dabigatran",
    "edoxaban",
    "filgrastim",
    "pegfilgrastim",
    "epoetin",
    "darbepoetin",
    "trimethoprim-sulfamethoxazole",
    "levofloxacin",
    "ciprofloxacin",
    "penicillin",
    "other",
)
STATUSES = ("draft", "active", "on-hold", "completed", "stopped", "cancelled", "entered-in-error", "unknown")

odd_numbers = st.one_of(
    st.sampled_from([0.0, -1.0, 1e-9, 1e9, float("inf")]),
    st.floats(min_value=-1e4, max_value=1e6, allow_nan=False),
)
# Mostly recent (so that rules see fresh data), sometimes anywhere in ten years or the future.
some_dates = st.one_of(
    st.integers(-2, 45).map(lambda days: TODAY - timedelta(days=days)),
    st.dates(min_value=TODAY - timedelta(days=4000), max_value=TODAY + timedelta(days=60)),
)
comparators = st.sampled_from([None, None, None, None, "<", "<=", ">", ">="])
# Plausible ranges by unit, mixed with odd values (0, negative, huge, infinite).
PLAUSIBLE: dict[str, tuple[float, float]] = {
    "mg/dL": (0.3, 8.0),
    "kg": (30.0, 150.0),
    "cm": (140.0, 200.0),
    "kg/m2": (15.0, 45.0),
    "mL/min": (5.0, 150.0),
    "mL/min/1.73m2": (5.0, 150.0),
    "cells/uL": (0.0, 400_000.0),
    "": (0.0, 4.0),
    "U/L": (5.0, 200.0),
    "mIU/L": (0.1, 10.0),
}


def measurements(unit: str) -> st.SearchStrategy[Measurement]:
    low, high = PLAUSIBLE[unit]
    values = st.one_of(st.integers(0, 1000).map(lambda k: low + (high - low) * k / 1000), odd_numbers)
    return st.builds(Measurement, value=values, unit=st.just(unit), when=some_dates, comparator=comparators)


def optional(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), strategy)


regimens = st.builds(
    Regimen,
    dose=optional(st.one_of(st.sampled_from([5.0, 10.0, 15.0, 20.0, 25.0, 40.0, 120.0]), odd_numbers)),
    dose_unit=st.sampled_from([None, "mg", "mg", "mg", "IU", "ug"]),
    every_hours=optional(st.one_of(st.sampled_from([24.0, 24.0, 48.0, 168.0, 12.0, 0.0, -24.0]), odd_numbers)),
    cycle_days=st.sampled_from(
        [
            (),
            tuple(range(1, 22)),
            (1, 8, 15, 22),
            (1, 2, 3, 4),
            (1, 2, 3, 4, 9, 10, 11, 12, 17, 18, 19, 20),
            (0,),
            (99,),
        ]
    ),
    cycle_length_days=optional(st.sampled_from([0, 21, 28])),
    route=optional(st.sampled_from(["oral", "subcutaneous"])),
)


@st.composite
def medication_lists(draw: st.DrawFn) -> tuple[MedicationOrder, ...]:
    orders = []
    for index in range(draw(st.integers(0, 6))):
        status = draw(st.sampled_from(STATUSES))
        draft = status == "draft" or draw(st.booleans()) and status == "unknown"
        orders.append(
            MedicationOrder(
                id=f"order-{index}",
                drug=draw(st.one_of(st.sampled_from(["lenalidomide", "dexamethasone"]), st.sampled_from(DRUGS))),
                status=status,
                authored=draw(optional(some_dates)),
                regimen=draw(optional(regimens)),
                is_draft=draft,
                selected=draft and draw(st.booleans()),
            )
        )
    return tuple(orders)


@st.composite
def snapshots(draw: st.DrawFn) -> PatientSnapshot:
    anc = draw(optional(measurements("cells/uL")))
    history = tuple(draw(st.lists(measurements("cells/uL"), max_size=2)))
    platelets = draw(optional(measurements("cells/uL")))
    return PatientSnapshot(
        patient_id="generated",
        birth_date=draw(optional(st.dates(min_value=date(1880, 1, 1), max_value=TODAY + timedelta(days=3650)))),
        sex=draw(optional(st.sampled_from(["female", "male", "other", "unknown"]))),
        creatinine=draw(optional(measurements("mg/dL"))),
        weight=draw(optional(measurements("kg"))),
        height=draw(optional(measurements("cm"))),
        bmi=draw(optional(measurements("kg/m2"))),
        measured_crcl=draw(optional(measurements("mL/min"))),
        egfr=draw(optional(measurements("mL/min/1.73m2"))),
        anc=anc,
        anc_history=((anc,) if anc else ()) + history,
        platelets=platelets,
        platelet_history=(platelets,) if platelets else (),
        ecog=draw(optional(measurements(""))),
        pregnancy_test=draw(
            optional(st.builds(Measurement, value=st.sampled_from([0.0, 1.0, 0.5]), unit=st.just(""), when=some_dates))
        ),
        alt=draw(optional(measurements("U/L"))),
        ast=draw(optional(measurements("U/L"))),
        tsh=draw(optional(measurements("mIU/L"))),
        conditions=tuple(
            draw(
                st.lists(
                    st.builds(
                        ClinicalCondition,
                        category=st.sampled_from(CATEGORIES),
                        display=st.just("c"),
                        active=st.booleans(),
                        onset=optional(some_dates),
                        recorded=optional(some_dates),
                    ),
                    max_size=4,
                )
            )
        ),
        procedures=tuple(
            draw(
                st.lists(
                    st.builds(
                        ClinicalProcedure,
                        category=st.sampled_from(["dialysis", "asct", "other"]),
                        display=st.just("p"),
                        performed=optional(some_dates),
                    ),
                    max_size=2,
                )
            )
        ),
        medications=draw(medication_lists()),
    )


def check_contract(snapshot: PatientSnapshot, hook: Hook, recommendations: list[Recommendation]) -> None:
    concerns = [r.concern for r in recommendations]
    assert len(concerns) == len(set(concerns)), concerns
    for r in recommendations:
        assert not r.concern.startswith("could-not-evaluate"), r.summary
        assert r.rule_ids and all(i in RULES_BY_ID for i in r.rule_ids), r.rule_ids
        assert all(hook in RULES_BY_ID[i].hooks for i in r.rule_ids), (hook, r.rule_ids)
        assert r.severity in ("info", "warning", "critical")
        assert 0 < len(r.summary) < 140, r.summary
        assert r.rationale and r.section
        new = [a for a in r.actions if isinstance(a, NewMedication)]
        for action in new:
            assert action.drug in ORDERABLE
            assert not snapshot.active_orders_of(action.drug), f"{action.drug} is already active"
            assert action.regimen.route in ("oral", "subcutaneous") and action.regimen.text
            assert action.regimen.dose_unit in ("mg", "IU", "ug", None)
            assert (action.regimen.dose is None) == (action.regimen.dose_unit is None)
        drafts = {m.id for m in snapshot.medications if m.is_draft}
        for change in (a for a in r.actions if isinstance(a, DoseChange)):
            assert change.order_id in drafts
        if r.selection == "at-most-one":
            assert sum(a.recommended for a in r.actions) <= 1
            if len(new) > 1:
                assert sum(a.recommended for a in new) == 1


@settings(max_examples=200, deadline=None)
@given(
    snapshots(),
    st.one_of(st.just(TODAY), st.dates(min_value=date(2013, 1, 1), max_value=date(2030, 12, 31))),
    st.sampled_from(["KR", "US"]),
)
def test_evaluate_never_fails_and_keeps_the_contract(snapshot: PatientSnapshot, today: date, region: str) -> None:
    for hook in HOOKS:
        evaluation = Evaluation(hook=hook, today=today, region=region)
        recommendations = evaluate(snapshot, evaluation)
        check_contract(snapshot, hook, recommendations)
        changes = lenalidomide_changes(recommendations)
        if changes:  # a lenalidomide dose is only ever proposed from complete, current data
            assert isinstance(assess_renal_function(snapshot, evaluation), RenalFunction)
            assert is_fresh(snapshot.anc, "anc", evaluation) and is_fresh(snapshot.platelets, "platelets", evaluation)


def lenalidomide_changes(recommendations: list[Recommendation]) -> list[DoseChange]:
    changes = [a for r in recommendations for a in r.actions if isinstance(a, DoseChange) and a.drug == "lenalidomide"]
    changes += [r.dose for r in recommendations if r.dose is not None and r.dose.drug == "lenalidomide"]
    return changes


# --- lower counts or clearance never raise the dose ---------------------------------------------

ladder = st.sampled_from(LENALIDOMIDE_LADDER_MG)
frequencies = st.sampled_from([24.0, 48.0])
counts_per_ul = st.floats(min_value=0, max_value=500_000, allow_nan=False)


@st.composite
def dose_scenarios(draw: st.DrawFn) -> dict[str, Any]:
    """A lenalidomide draft, maybe a current course, and counts; kidney function set per test."""
    medications: tuple[MedicationOrder, ...] = (lenalidomide(draw(ladder), draw(frequencies)),)
    if draw(st.booleans()):
        medications += (
            lenalidomide(
                draw(ladder),
                draw(frequencies),
                id="len-active",
                status="active",
                authored_days_ago=draw(st.integers(1, 400)),
            ),
        )
    previous = draw(st.lists(st.tuples(counts_per_ul, st.integers(2, 40)), max_size=2))
    return {
        "medications": medications,
        "conditions": (condition("heavy-marrow-infiltration"),) if draw(st.booleans()) else (),
        "anc": draw(counts_per_ul),
        "platelets": draw(counts_per_ul),
        "previous_anc": tuple(sorted(previous, key=lambda p: p[1])),
    }


def recommended_daily_mg(snapshot: PatientSnapshot, hook: Hook) -> float:
    """The lowest lenalidomide dose any card recommends; the draft's own dose when none does."""
    recommendations = evaluate(snapshot, Evaluation(hook=hook, today=TODAY))
    doses = [daily_mg(c.regimen) for c in lenalidomide_changes(recommendations)]
    known = [d for d in doses if d is not None]
    if known:
        return min(known)
    (draft,) = snapshot.drafts_of("lenalidomide")
    return daily_mg(draft.regimen) or 0.0


def build(scenario: dict[str, Any], **changes: Any) -> PatientSnapshot:
    fields = {**scenario, **changes}
    return patient(
        medications=fields["medications"],
        conditions=fields["conditions"],
        **counts(anc=fields["anc"], platelets=fields["platelets"], previous_anc=fields["previous_anc"]),
    )


@settings(max_examples=200, deadline=None)
@given(
    dose_scenarios(),
    st.floats(1, 150),
    st.floats(1, 150),
    st.booleans(),
    st.sampled_from(["order-select", "order-sign"]),
)
def test_lower_clearance_never_raises_the_dose(
    scenario: dict[str, Any], a: float, b: float, measured: bool, hook: Hook
) -> None:
    higher, lower = max(a, b), min(a, b)

    def at(clearance: float) -> PatientSnapshot:
        snapshot = build(scenario)
        if measured:
            return replace(snapshot, creatinine=None, measured_crcl=lab(clearance, "mL/min"))
        return with_crcl(snapshot, clearance)

    assert recommended_daily_mg(at(lower), hook) <= recommended_daily_mg(at(higher), hook)


@settings(max_examples=200, deadline=None)
@given(dose_scenarios(), counts_per_ul, st.floats(0, 150))
def test_lower_anc_never_raises_the_dose(scenario: dict[str, Any], other: float, clearance: float) -> None:
    higher, lower = max(scenario["anc"], other), min(scenario["anc"], other)
    high = with_crcl(build(scenario, anc=higher), clearance)
    low = with_crcl(build(scenario, anc=lower), clearance)
    assert recommended_daily_mg(low, "order-sign") <= recommended_daily_mg(high, "order-sign")


@settings(max_examples=200, deadline=None)
@given(dose_scenarios(), counts_per_ul, st.floats(0, 150))
def test_lower_platelets_never_raise_the_dose(scenario: dict[str, Any], other: float, clearance: float) -> None:
    higher, lower = max(scenario["platelets"], other), min(scenario["platelets"], other)
    high = with_crcl(build(scenario, platelets=higher), clearance)
    low = with_crcl(build(scenario, platelets=lower), clearance)
    assert recommended_daily_mg(low, "order-sign") <= recommended_daily_mg(high, "order-sign")


# --- adding a VTE risk factor never lowers the tier ---------------------------------------------

HIGH_DOSE_DAYS = (1, 2, 3, 4, 9, 10, 11, 12, 17, 18, 19, 20)
RISK_FACTORS: dict[str, dict[str, Any]] = {
    "recent VTE": {"conditions": (condition("dvt", onset_days_ago=30, active=False),)},
    "old VTE": {"conditions": (condition("pe", onset_days_ago=1000, active=False),)},
    "immobilization": {"conditions": (condition("immobilization"),)},
    "infection": {"conditions": (condition("active-infection"),)},
    "kidney disease": {"conditions": (condition("ckd"),)},
    "lung disease": {"conditions": (condition("pulmonary-disease"),)},
    "heart failure": {"conditions": (condition("heart-failure"),)},
    "arterial thromboembolism": {"conditions": (condition("arterial-thromboembolism"),)},
    "thrombophilia": {"conditions": (condition("thrombophilia"),)},
    "erythropoietin": {"medications": (medication("epoetin"),)},
    "ECOG ≥ 2": {"ecog": lab(2.0)},
    "BMI ≥ 30": {"bmi": lab(31.0, "kg/m2")},
    "age ≥ 75": {"birth_date": born_aged(80)},
    "high-dose dexamethasone": {"dex": dexamethasone(40.0, HIGH_DOSE_DAYS)},
}


def with_factors(names: set[str], platelets: float, clearance: float) -> PatientSnapshot:
    conditions: tuple[ClinicalCondition, ...] = ()
    medications: tuple[MedicationOrder, ...] = (lenalidomide(),)
    fields: dict[str, Any] = {}
    dex = dexamethasone()
    for name in sorted(names):
        factor = RISK_FACTORS[name]
        conditions += factor.get("conditions", ())
        medications += factor.get("medications", ())
        dex = factor.get("dex", dex)
        fields.update({k: v for k, v in factor.items() if k not in ("conditions", "medications", "dex")})
    snapshot = with_crcl(patient(**counts(platelets=platelets)), clearance)
    return replace(snapshot, conditions=conditions, medications=medications + (dex,), **fields)


def table_3_tier(snapshot: PatientSnapshot) -> VteTier:
    orders = OrdersUnderReview(snapshot.drafts_of("lenalidomide"), snapshot.drafts_of("dexamethasone"))
    found = vte_risk(snapshot, Evaluation("order-sign", TODAY), orders).tier
    assert found is not None  # a current, exact platelet count always decides
    return found


@settings(max_examples=200, deadline=None)
@given(
    st.sets(st.sampled_from(sorted(RISK_FACTORS))),
    st.sampled_from(sorted(RISK_FACTORS)),
    counts_per_ul,
    st.floats(1, 150),
)
def test_adding_a_risk_factor_never_lowers_the_vte_tier(
    base: set[str], added: str, platelets: float, clearance: float
) -> None:
    before = table_3_tier(with_factors(base, platelets, clearance))
    after = table_3_tier(with_factors(base | {added}, platelets, clearance))
    assert after >= before


# --- missing or stale data never yields a lenalidomide dose change ------------------------------

MISSING_OR_STALE: dict[str, dict[str, Any]] = {
    "no creatinine": {"creatinine": None},
    "stale creatinine": {"creatinine": lab(1.0, "mg/dL", days=31)},
    "no weight": {"weight": None},
    "stale weight": {"weight": lab(70.0, "kg", days=31)},
    "no ANC": counts(anc=None),
    "no platelets": counts(platelets=None),
    "stale counts": counts(days=15),
    "stale ANC": {"anc": lab(3_000, "cells/uL", days=15)},
}


@settings(max_examples=200, deadline=None)
@given(
    dose_scenarios(),
    st.sampled_from(sorted(MISSING_OR_STALE)),
    st.sampled_from(["order-select", "order-sign"]),
    st.floats(1, 150),
)
def test_missing_or_stale_data_never_changes_the_lenalidomide_dose(
    scenario: dict[str, Any], gap: str, hook: Hook, clearance: float
) -> None:
    snapshot = replace(with_crcl(build(scenario), clearance), **MISSING_OR_STALE[gap])
    recommendations = evaluate(snapshot, Evaluation(hook=hook, today=TODAY))
    assert lenalidomide_changes(recommendations) == []

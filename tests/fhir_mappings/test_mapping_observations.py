"""Which observation values the rules get: usable ones only, the latest first."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

import fhir_mappings.observations as observations
from fhir_mappings import build_snapshot

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
PATIENT = "p1"


def observation(
    code: str = "751-8",
    value: float | None = 0.9,
    unit: str | None = "10*9/L",
    *,
    status: str = "final",
    when: str | None = "2026-11-20",
    id: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "status": status,
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "subject": {"reference": f"Patient/{PATIENT}"},
    }
    if id is not None:
        resource["id"] = id
    if when is not None:
        resource["effectiveDateTime"] = when
    if value is not None:
        quantity: dict[str, Any] = {"value": value}
        if unit is not None:
            quantity.update(unit=unit, system=UCUM, code=unit)
        resource["valueQuantity"] = quantity
    resource.update(extra)
    return resource


def snapshot_of(*resources: dict[str, Any]):  # type: ignore[no-untyped-def]
    return build_snapshot(list(resources), patient_id=PATIENT)


def test_latest_usable_value_wins_and_history_is_newest_first() -> None:
    s = snapshot_of(
        observation(value=1.2, when="2026-11-01"),
        observation(value=0.6, when="2026-11-20T09:00:00+09:00"),
        observation(value=0.8, when="2026-11-10"),
    )
    assert s.anc is not None and s.anc.value == pytest.approx(600) and s.anc.when == date(2026, 11, 20)
    assert [m.value for m in s.anc_history] == pytest.approx([600, 800, 1200])


def test_same_day_results_ordered_by_time() -> None:
    s = snapshot_of(
        observation(value=1.0, when="2026-11-20T08:00:00Z"),
        observation(value=2.0, when="2026-11-20T16:00:00Z"),
    )
    assert s.anc is not None and s.anc.value == pytest.approx(2000)


@pytest.mark.parametrize("status", ["entered-in-error", "preliminary", "registered", "cancelled", "unknown"])
def test_only_final_amended_corrected_count(status: str) -> None:
    s = snapshot_of(observation(value=0.3, when="2026-11-21", status=status), observation(value=1.5, when="2026-11-01"))
    assert s.anc is not None and s.anc.value == pytest.approx(1500)
    assert [m.value for m in s.anc_history] == pytest.approx([1500])


@pytest.mark.parametrize("status", ["final", "amended", "corrected"])
def test_usable_statuses(status: str) -> None:
    assert snapshot_of(observation(status=status)).anc is not None


def test_preliminary_newest_value_is_explained() -> None:
    s = snapshot_of(observation(value=0.3, when="2026-11-21", status="preliminary"), observation(when="2026-11-01"))
    assert any("ANC" in p and "preliminary" in p and "2026-11-21" in p for p in s.data_problems)


def test_value_without_unit_is_not_used_and_noted() -> None:
    s = snapshot_of(observation("2160-0", 1.2, None, when="2026-11-20"))
    assert s.creatinine is None
    assert any("creatinine 1.2 on 2026-11-20 has no unit" in p for p in s.data_problems)


def test_value_in_an_unknown_unit_is_not_used_and_noted() -> None:
    s = snapshot_of(observation("2160-0", 1.2, "mg/dL/h"), observation("2160-0", 1.0, "mg/dL", when="2026-10-01"))
    assert s.creatinine is not None and s.creatinine.value == pytest.approx(1.0)
    assert any("'mg/dL/h'" in p for p in s.data_problems)


def test_data_absent_reason_is_skipped() -> None:
    absent = observation(value=None, dataAbsentReason={"coding": [{"code": "error"}], "text": "clotted"})
    s = snapshot_of(absent)
    assert s.anc is None
    assert any("no value (clotted)" in p for p in s.data_problems)


def test_comparator_is_kept() -> None:
    lab = observation(value=0.5)
    lab["valueQuantity"]["comparator"] = "<"
    s = snapshot_of(lab)
    assert s.anc is not None
    assert (s.anc.value, s.anc.comparator, s.anc.original) == (pytest.approx(500), "<", r"<0.5 10\*9/L")
    assert s.anc.shown(0) == "<500/µL"


@pytest.mark.parametrize(
    ("dates", "expected"),
    [
        ({"effectivePeriod": {"start": "2026-11-18", "end": "2026-11-19T07:00:00Z"}}, date(2026, 11, 19)),
        ({"effectivePeriod": {"start": "2026-11-18"}}, date(2026, 11, 18)),
        ({"effectiveInstant": "2026-11-17T10:00:00.123+01:00"}, date(2026, 11, 17)),
        ({"issued": "2026-11-16T10:00:00Z"}, date(2026, 11, 16)),
        ({"effectiveDateTime": "2026-11-15", "issued": "2026-11-16T10:00:00Z"}, date(2026, 11, 15)),
        # the date as the laboratory wrote it, in its own time zone
        ({"effectiveDateTime": "2026-11-15T23:30:00-05:00"}, date(2026, 11, 15)),
    ],
)
def test_effective_date_sources(dates: dict[str, Any], expected: date) -> None:
    s = snapshot_of(observation(when=None, **dates))
    assert s.anc is not None and s.anc.when == expected


@pytest.mark.parametrize("when", [None, "2026-11", "2026", "20261120", "yesterday"])
def test_no_usable_date_means_not_used(when: str | None) -> None:
    s = snapshot_of(observation(when=None, **({"effectiveDateTime": when} if when else {})))
    assert s.anc is None
    assert any(p.startswith("ANC") for p in s.data_problems)


def test_result_dated_by_the_report_that_lists_it() -> None:
    report = {
        "resourceType": "DiagnosticReport",
        "id": "cbc",
        "status": "final",
        "code": {"text": "CBC"},
        "effectiveDateTime": "2026-11-19T08:00:00+09:00",
        "result": [{"reference": "Observation/anc1"}],
    }
    s = snapshot_of(report, observation(when=None, id="anc1"))
    assert s.anc is not None and s.anc.when == date(2026, 11, 19)


def test_components_of_a_panel_are_read() -> None:
    panel = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "58410-2", "display": "CBC panel"}]},
        "effectiveDateTime": "2026-11-20",
        "component": [
            {
                "code": {"coding": [{"system": LOINC, "code": "751-8"}]},
                "valueQuantity": {"value": 0.7, "unit": "10*9/L", "system": UCUM, "code": "10*9/L"},
            },
            {
                "code": {"coding": [{"system": LOINC, "code": "777-3"}]},
                "valueQuantity": {"value": 95, "unit": "K/uL"},
            },
            {
                "code": {"coding": [{"system": LOINC, "code": "770-8"}]},
                "valueQuantity": {"value": 20, "unit": "%"},
            },
        ],
    }
    s = snapshot_of(panel)
    assert s.anc is not None and s.anc.value == pytest.approx(700) and s.anc.code == "751-8"
    assert s.platelets is not None and s.platelets.value == pytest.approx(95_000) and s.platelets.code == "777-3"


def test_component_with_data_absent_reason_is_skipped() -> None:
    panel = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "CBC"},
        "effectiveDateTime": "2026-11-20",
        "component": [
            {
                "code": {"coding": [{"system": LOINC, "code": "751-8"}]},
                "dataAbsentReason": {"text": "clumped"},
            }
        ],
    }
    assert snapshot_of(panel).anc is None


def test_duplicates_are_collapsed() -> None:
    s = snapshot_of(
        observation(value=0.9, when="2026-11-20T08:00:00Z", id="a"),
        observation(value=0.9, when="2026-11-20T08:00:00Z", id="b"),
        observation(value=0.9, when="2026-11-20T08:00:00Z", id="a"),  # the same resource twice
    )
    assert len(s.anc_history) == 1


def test_history_is_capped() -> None:
    labs = [observation(value=1.0 + i / 10, when=f"2026-{1 + i // 28:02d}-{1 + i % 28:02d}") for i in range(60)]
    s = snapshot_of(*labs)
    assert len(s.anc_history) == observations.HISTORY_LENGTH
    assert s.anc_history[0].when == date(2026, 3, 4)


def test_only_the_newest_candidates_are_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    """DESIGN.md: filter raw JSON by code and date first, validate only what may be used."""
    calls: list[dict[str, Any]] = []
    real = observations.validation_problem

    def counting(resource: dict[str, Any]) -> str | None:
        calls.append(resource)
        return real(resource)

    monkeypatch.setattr(observations, "validation_problem", counting)
    labs = [
        observation("2160-0", 1.0, "mg/dL", when=f"20{10 + i // 300}-{1 + i // 28 % 12:02d}-{1 + i % 28:02d}")
        for i in range(500)
    ]
    labs += [observation("2951-2", 140, "mmol/L") for _ in range(200)]  # sodium: never validated
    s = snapshot_of(*labs)
    assert len(s.creatinine_history) == observations.HISTORY_LENGTH
    assert len(calls) == observations.HISTORY_LENGTH


def test_invalid_resource_is_skipped_with_a_note() -> None:
    broken = observation(value=0.2, when="2026-11-21", id="bad", interpretation="LOW")  # must be a list
    s = snapshot_of(broken, observation(value=1.1, when="2026-11-01"))
    assert s.anc is not None and s.anc.value == pytest.approx(1100)
    assert any("Observation/bad is not valid FHIR" in p for p in s.data_problems)


def test_loinc_only_and_any_coding_counts() -> None:
    local = observation("751-8")
    local["code"] = {"coding": [{"system": "http://acme.org/labs", "code": "751-8"}]}
    assert snapshot_of(local).anc is None

    several = observation("751-8")
    several["code"] = {
        "coding": [{"system": "http://acme.org/labs", "code": "NEUT"}, {"system": LOINC, "code": "751-8"}]
    }
    assert snapshot_of(several).anc is not None


def test_percent_neutrophils_is_not_an_anc() -> None:
    assert snapshot_of(observation("770-8", 20, "%")).anc is None


def test_another_patients_result_is_not_used() -> None:
    other = observation(value=0.2)
    other["subject"] = {"reference": "https://ehr.example/fhir/Patient/p2"}
    s = snapshot_of(other)
    assert s.anc is None
    assert any("Patient/p2" in p for p in s.data_problems)


@pytest.mark.parametrize(
    ("code", "value", "unit", "field", "expected", "rules_unit"),
    [
        ("2160-0", 1.3, "mg/dL", "creatinine", 1.3, "mg/dL"),
        ("14682-9", 115, "umol/L", "creatinine", 115 / 88.4, "mg/dL"),
        ("29463-7", 55, "kg", "weight", 55, "kg"),
        ("8302-2", 1.62, "m", "height", 162, "cm"),
        ("39156-5", 31, "kg/m2", "bmi", 31, "kg/m2"),
        ("2164-2", 48, "mL/min", "measured_crcl", 48, "mL/min"),
        ("98979-8", 44, "mL/min/{1.73_m2}", "egfr", 44, "mL/min/1.73m2"),
        ("26515-7", 45, "10*3/uL", "platelets", 45_000, "/uL"),
        ("1742-6", 54, "U/L", "alt", 54, "U/L"),
        ("1920-8", 30, "U/L", "ast", 30, "U/L"),
        ("3016-3", 2.5, "mIU/L", "tsh", 2.5, "mIU/L"),
    ],
)
def test_each_kind_lands_in_its_field(
    code: str, value: float, unit: str, field: str, expected: float, rules_unit: str
) -> None:
    measurement = getattr(snapshot_of(observation(code, value, unit)), field)
    assert measurement is not None
    assert measurement.value == pytest.approx(expected)
    assert (measurement.unit, measurement.code) == (rules_unit, code)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"valueInteger": 2}, 2.0),
        ({"valueQuantity": {"value": 1}}, 1.0),
        ({"valueCodeableConcept": {"coding": [{"system": LOINC, "code": "LA9625-0"}]}}, 3.0),
        ({"valueCodeableConcept": {"coding": [{"system": LOINC, "code": "LA9622-7"}]}}, 0.0),
        ({"valueString": "4"}, 4.0),
        ({"valueString": "ECOG 1"}, 1.0),
        ({"valueInteger": 7}, None),
        ({"valueQuantity": {"value": 1.5}}, None),
        ({"valueString": "poor"}, None),
    ],
)
def test_ecog(value: dict[str, Any], expected: float | None) -> None:
    ecog = observation("89247-1", None, None, **value)
    s = snapshot_of(ecog)
    if expected is None:
        assert s.ecog is None
    else:
        assert s.ecog is not None and s.ecog.value == expected and s.ecog.code == "89247-1"


@pytest.mark.parametrize(
    ("coding", "expected"),
    [
        ({"system": LOINC, "code": "LA15173-0"}, 1.0),
        ({"system": "http://snomed.info/sct", "code": "77386006"}, 1.0),
        ({"system": LOINC, "code": "LA26683-5"}, 0.0),
        ({"system": "http://snomed.info/sct", "code": "60001007"}, 0.0),
        ({"system": LOINC, "code": "LA4489-6"}, None),  # unknown
    ],
)
def test_pregnancy_status(coding: dict[str, str], expected: float | None) -> None:
    status = observation("82810-3", None, None, valueCodeableConcept={"coding": [coding]})
    s = snapshot_of(status)
    if expected is None:
        assert s.pregnancy_test is None
    else:
        assert s.pregnancy_test is not None and s.pregnancy_test.value == expected


def test_nested_bundles_and_other_resources() -> None:
    inner = {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": observation(value=0.4)}]}
    outer = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"resource": inner},
            {
                "resource": {
                    "resourceType": "OperationOutcome",
                    "issue": [{"severity": "warning", "code": "processing"}],
                }
            },
            {"resource": {"resourceType": "Encounter", "id": "e1", "status": "finished"}},
            {"search": {"mode": "match"}},
        ],
    }
    s = build_snapshot([[outer], observation("777-3", 120, "10*3/uL")], patient_id=PATIENT)
    assert s.anc is not None and s.anc.value == pytest.approx(400)
    assert s.platelets is not None and s.platelets.value == pytest.approx(120_000)


@pytest.mark.parametrize("value", [1e308, 10**400])
def test_values_beyond_a_float_are_not_used(value: float) -> None:
    s = snapshot_of(observation(value=value))
    assert s.anc is None
    assert any("ANC" in p for p in s.data_problems)


def test_every_lab_kind_fills_its_snapshot_field() -> None:
    """Each LOINC code of terminology.py reaches the PatientSnapshot field of its kind."""
    from fhir_mappings.terminology import ECOG, LAB_KINDS, PREGNANCY_STATUS
    from fhir_mappings.units import RULES_UNITS

    for kind in LAB_KINDS:
        for code in sorted(kind.loinc):
            if kind is ECOG:
                lab = observation(code, None, None, valueInteger=1)
            elif kind is PREGNANCY_STATUS:
                lab = observation(
                    code,
                    None,
                    None,
                    valueCodeableConcept={"coding": [{"system": LOINC, "code": "LA26683-5"}]},
                )
            else:  # a value inside every kind's physiological range (rules/plausibility.py)
                lab = observation(code, 70 if kind.name == "weight" else 1, RULES_UNITS[kind.name].unit)
            measurement = getattr(snapshot_of(lab), kind.name)
            assert measurement is not None and measurement.code == code, (kind.name, code)

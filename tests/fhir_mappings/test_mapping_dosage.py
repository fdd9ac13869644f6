"""Dosage instructions → Regimen, structured and free-text forms."""

from __future__ import annotations

from typing import Any

import pytest

from fhir_mappings.dosage import parse_dosage_text, read_regimen
from rules.model import Regimen

UCUM = "http://unitsofmeasure.org"
SNOMED = "http://snomed.info/sct"
D1_21 = tuple(range(1, 22))
HIGH_DOSE_DAYS = (1, 2, 3, 4, 9, 10, 11, 12, 17, 18, 19, 20)


@pytest.mark.parametrize(
    ("text", "dose", "every_hours", "days", "length", "route"),
    [
        ("25 mg PO daily d1-21 q28d", 25, 24, D1_21, 28, "oral"),
        ("25 mg orally once daily on days 1-21 of each 28-day cycle", 25, 24, D1_21, 28, "oral"),
        ("10 mg every other day days 1-21/28", 10, 48, D1_21, 28, None),
        ("40 mg weekly", 40, 168, (), None, None),
        ("40 mg on days 1, 8, 15, 22 of each 28-day cycle", 40, 168, (1, 8, 15, 22), 28, None),
        ("40 mg weekly on days 1, 8, 15 and 22 of 28", 40, 168, (1, 8, 15, 22), 28, None),
        ("40 mg days 1-4, 9-12, 17-20 q28d", 40, 24, HIGH_DOSE_DAYS, 28, None),
        (
            "Dexamethasone 40 mg PO days 1–4 and 15–18 of a 28-day cycle",
            40,
            24,
            (1, 2, 3, 4, 15, 16, 17, 18),
            28,
            "oral",
        ),
        ("15 mg every 48 hours", 15, 48, (), None, None),
        ("15 mg q48h d1-21/28", 15, 48, D1_21, 28, None),
        ("5 mg once daily after dialysis on dialysis days", 5, 24, (), None, None),
        ("Lenalidomide 25mg QD D1-21 every 4 weeks", 25, 24, D1_21, 28, None),
        ("25 mg by mouth daily for 21 days, then 7 days off", 25, 24, D1_21, 28, "oral"),
        ("40 mg/day x 4 days every 2 weeks", 40, 24, (1, 2, 3, 4), 14, None),
        ("20 mg/day × 4 days every 4 weeks", 20, 24, (1, 2, 3, 4), 28, None),
        ("20 mg PO once weekly", 20, 168, (), None, "oral"),
        ("enoxaparin 40 mg SC once daily", 40, 24, (), None, "subcutaneous"),
        ("dalteparin 5,000 IU subcut daily", 5000, 24, (), None, "subcutaneous"),
        ("aspirin 100 mg daily", 100, 24, (), None, None),
        ("filgrastim 300 mcg SC daily", 300, 24, (), None, "subcutaneous"),
        ("TMP-SMX 1 DS tab PO three times weekly", None, 56, (), None, "oral"),
        ("bortezomib 1.3 mg/m2 IV days 1, 4, 8, 11 q21d", None, 72, (1, 4, 8, 11), 21, "intravenous"),
        ("as directed", None, None, (), None, None),
    ],
)
def test_dosage_text(
    text: str,
    dose: float | None,
    every_hours: float | None,
    days: tuple[int, ...],
    length: int | None,
    route: str | None,
) -> None:
    parsed = parse_dosage_text(text)
    assert (parsed.dose, parsed.every_hours, parsed.cycle_days, parsed.cycle_length_days, parsed.route) == (
        dose,
        every_hours,
        days,
        length,
        route,
    )


def test_days_outside_the_cycle_are_refused() -> None:
    parsed = parse_dosage_text("25 mg daily days 1-30 of 28")
    assert parsed.cycle_days == () and parsed.problems


def dosage(**fields: Any) -> list[dict[str, Any]]:
    return [fields]


def mg(value: float, unit: str = "mg") -> dict[str, Any]:
    return {"doseQuantity": {"value": value, "unit": unit, "system": UCUM, "code": unit}}


@pytest.mark.parametrize(
    ("dose_and_rate", "expected"),
    [
        ([mg(25)], (25.0, "mg")),
        ([mg(0.04, "g")], (40.0, "mg")),
        ([mg(300, "ug")], (300.0, "ug")),
        ([{"doseQuantity": {"value": 5000, "unit": "IU"}}], (5000.0, "IU")),
        ([mg(5000, "[iU]")], (5000.0, "IU")),
        (
            [{"doseRange": {"low": {"value": 10, "unit": "mg"}, "high": {"value": 10, "unit": "mg"}}}],
            (10.0, "mg"),
        ),
        (
            [{"doseRange": {"low": {"value": 10, "unit": "mg"}, "high": {"value": 15, "unit": "mg"}}}],
            (None, None),
        ),
        ([{"doseQuantity": {"value": 1, "unit": "TAB"}}], (None, None)),
        ([{"doseQuantity": {"value": 25}}], (None, None)),
        # the ordered dose, not the calculated one
        (
            [
                {"type": {"coding": [{"code": "calculated"}]}, **mg(26.3)},
                {"type": {"coding": [{"code": "ordered"}]}, **mg(25)},
            ],
            (25.0, "mg"),
        ),
    ],
)
def test_structured_dose(dose_and_rate: list[dict[str, Any]], expected: tuple[float | None, str | None]) -> None:
    regimen, _ = read_regimen(dosage(doseAndRate=dose_and_rate))
    assert regimen is not None
    assert (regimen.dose, regimen.dose_unit) == expected


def test_dose_range_is_noted() -> None:
    _, problems = read_regimen(
        dosage(doseAndRate=[{"doseRange": {"low": {"value": 1, "unit": "TAB"}, "high": {"value": 2, "unit": "TAB"}}}])
    )
    assert any("range" in p for p in problems)


@pytest.mark.parametrize(
    ("timing", "every_hours"),
    [
        ({"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}}, 24),
        ({"repeat": {"frequency": 1, "period": 2, "periodUnit": "d"}}, 48),
        ({"repeat": {"frequency": 1, "period": 1, "periodUnit": "wk"}}, 168),
        ({"repeat": {"period": 1, "periodUnit": "wk"}}, 168),
        ({"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}}, 12),
        ({"repeat": {"frequency": 3, "period": 1, "periodUnit": "d"}}, 8),
        ({"repeat": {"frequency": 1, "period": 48, "periodUnit": "h"}}, 48),
        ({"repeat": {"dayOfWeek": ["mon"]}}, 168),
        ({"repeat": {"dayOfWeek": ["mon", "thu"]}}, 84),
        ({"repeat": {"when": ["MORN"]}}, 24),
        (
            {
                "repeat": {
                    "boundsDuration": {"value": 21, "unit": "d", "system": UCUM, "code": "d"},
                    "frequency": 1,
                    "period": 1,
                    "periodUnit": "d",
                }
            },
            24,
        ),
        (
            {
                "code": {
                    "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-GTSAbbreviation", "code": "QD"}]
                }
            },
            24,
        ),
        ({"code": {"coding": [{"code": "BID"}]}}, 12),
        ({"code": {"coding": [{"code": "QOD"}]}}, 48),
        ({"code": {"coding": [{"code": "Q48H"}]}}, 48),
        ({"code": {"coding": [{"code": "WK"}]}}, 168),
        ({"code": {"text": "weekly"}}, 168),
        ({"repeat": {"frequency": 1, "period": 0, "periodUnit": "d"}}, None),
        ({"repeat": {"frequency": 1, "period": 1, "periodUnit": "fortnight"}}, None),
    ],
)
def test_structured_timing(timing: dict[str, Any], every_hours: float | None) -> None:
    regimen, _ = read_regimen(dosage(timing=timing, doseAndRate=[mg(25)]))
    assert regimen is not None and regimen.every_hours == every_hours
    assert regimen.cycle_days == ()  # bounds and counts do not say which days of a cycle


@pytest.mark.parametrize(
    ("route", "expected"),
    [
        ({"coding": [{"system": SNOMED, "code": "26643006", "display": "Oral route"}]}, "oral"),
        ({"coding": [{"system": SNOMED, "code": "34206005"}]}, "subcutaneous"),
        ({"coding": [{"system": SNOMED, "code": "47625008"}]}, "intravenous"),
        ({"coding": [{"system": "http://standardterms.edqm.eu", "code": "20053000"}]}, "oral"),
        ({"text": "PO"}, "oral"),
        ({"text": "SC"}, "subcutaneous"),
        ({"text": "IV"}, "intravenous"),
        ({"text": "intrathecal"}, None),
    ],
)
def test_route(route: dict[str, Any], expected: str | None) -> None:
    regimen, _ = read_regimen(dosage(route=route))
    assert regimen is not None and regimen.route == expected


def test_structured_fields_with_cycle_days_from_the_text() -> None:
    regimen, problems = read_regimen(
        dosage(
            text="25 mg PO daily d1-21 q28d",
            timing={"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
            route={"coding": [{"system": SNOMED, "code": "26643006"}]},
            doseAndRate=[mg(25)],
        )
    )
    assert regimen == Regimen(
        dose=25, dose_unit="mg", every_hours=24, cycle_days=D1_21, cycle_length_days=28, route="oral",
        text="25 mg PO daily d1-21 q28d",
    )  # fmt: skip
    assert problems == []
    assert regimen is not None and regimen.days_label == "1-21/28"


def test_structured_dose_wins_over_text_and_the_difference_is_noted() -> None:
    regimen, problems = read_regimen(dosage(text="25 mg daily d1-21/28", doseAndRate=[mg(10)]))
    assert regimen is not None and regimen.dose == 10
    assert any("differs" in p for p in problems)


def test_text_dose_is_not_used_when_the_structured_dose_is_ambiguous() -> None:
    regimen, _ = read_regimen(
        dosage(
            text="10 mg daily",
            doseAndRate=[{"doseRange": {"low": {"value": 10, "unit": "mg"}, "high": {"value": 15, "unit": "mg"}}}],
        )
    )
    assert regimen is not None and regimen.dose is None


def test_weekly_dexamethasone_cycle_total() -> None:
    regimen, _ = read_regimen(dosage(text="40 mg weekly on days 1, 8, 15, 22 of each 28-day cycle"))
    assert regimen is not None
    assert (regimen.dose, regimen.every_hours, regimen.cycle_days, regimen.cycle_length_days) == (
        40,
        168,
        (1, 8, 15, 22),
        28,
    )
    assert regimen.mg_per_cycle() == 160


def test_weekly_dexamethasone_without_days_totals_the_same() -> None:
    regimen, _ = read_regimen(dosage(text="40 mg weekly"))
    assert regimen is not None and regimen.mg_per_cycle() == pytest.approx(160)


def test_high_dose_dexamethasone_cycle_total() -> None:
    regimen, _ = read_regimen(dosage(text="40 mg days 1-4, 9-12, 17-20 q28d"))
    assert regimen is not None and regimen.mg_per_cycle() == 480
    assert regimen.days_label == "1-4,9-12,17-20/28"


def test_two_instructions_for_the_same_dose_merge_their_days() -> None:
    regimen, problems = read_regimen([{"text": "40 mg PO days 1-4 of 28"}, {"text": "40 mg PO days 15-18 of 28"}])
    assert regimen is not None and regimen.cycle_days == (1, 2, 3, 4, 15, 16, 17, 18)
    assert problems == []


def test_different_instructions_keep_the_first_and_say_so() -> None:
    regimen, problems = read_regimen([{"text": "25 mg daily"}, {"text": "10 mg daily"}])
    assert regimen is not None and regimen.dose == 25
    assert problems


def test_no_dosage() -> None:
    assert read_regimen(None) == (None, [])
    assert read_regimen([]) == (None, [])


def test_numbers_beyond_a_float_give_no_dose_or_interval() -> None:
    regimen, problems = read_regimen(
        dosage(
            doseAndRate=[{"doseQuantity": {"value": 1e308, "unit": "g"}}],
            timing={"repeat": {"frequency": 1, "period": 1e308, "periodUnit": "a"}},
        )
    )
    assert regimen is not None and (regimen.dose, regimen.every_hours) == (None, None)
    assert problems
    assert parse_dosage_text("1" + "0" * 400 + " g daily").dose is None


@pytest.mark.parametrize(
    "regimen",
    [
        Regimen(dose=25, dose_unit="mg", every_hours=24, cycle_days=D1_21, cycle_length_days=28),
        Regimen(dose=10, dose_unit="mg", every_hours=24, cycle_days=D1_21, cycle_length_days=28),
        Regimen(dose=15, dose_unit="mg", every_hours=48, cycle_days=D1_21, cycle_length_days=28),
        Regimen(dose=40, dose_unit="mg", every_hours=168, cycle_days=(1, 8, 15, 22), cycle_length_days=28),
        Regimen(dose=40, dose_unit="mg", every_hours=24, cycle_days=HIGH_DOSE_DAYS, cycle_length_days=28),
        Regimen(dose=20, dose_unit="mg", every_hours=168),
        Regimen(dose=100, dose_unit="mg", every_hours=24),
        Regimen(dose=5000, dose_unit="IU", every_hours=24),
        Regimen(dose=960, dose_unit="mg", every_hours=12),
    ],
)
def test_reads_back_the_order_text_the_service_writes(regimen: Regimen) -> None:
    """A suggestion the clinician accepts comes back as the next hook's draft: same regimen."""
    from rules.dose_ladder import describe

    parsed = parse_dosage_text(describe(regimen))
    assert (
        parsed.dose,
        parsed.dose_unit,
        parsed.every_hours,
        parsed.cycle_days,
        parsed.cycle_length_days,
    ) == (
        regimen.dose,
        regimen.dose_unit,
        regimen.every_hours,
        regimen.cycle_days,
        regimen.cycle_length_days,
    )

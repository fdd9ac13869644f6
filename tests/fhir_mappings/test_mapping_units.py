"""Unit conversion to the rules' units, one row per spelling laboratories send."""

from __future__ import annotations

from decimal import Decimal

import pytest

from fhir_mappings.units import quantity_unit, rules_unit, to_rules_unit

UCUM = "http://unitsofmeasure.org"


@pytest.mark.parametrize(
    ("kind", "value", "unit", "expected"),
    [
        # ANC and platelets → cells/µL
        ("anc", "0.9", "10*9/L", 900),
        ("anc", "0.9", "10*3/uL", 900),
        ("anc", "900", "/uL", 900),
        ("anc", "900", "/mm3", 900),
        ("anc", "1.5", "10*3/mm3", 1500),
        ("anc", "1.5", "K/uL", 1500),
        ("anc", "1500", "{cells}/uL", 1500),
        ("anc", "0.45", "x10^9/L", 450),
        ("anc", "0.45", "x10*9/L", 450),
        ("anc", "2.1", "10^3/uL", 2100),
        ("anc", "2.1", "10^3/µL", 2100),
        ("anc", "2.1", "10³/μL", 2100),
        ("anc", "2.1", " 10*3/uL ", 2100),
        ("platelets", "84", "K/ul", 84_000),
        ("platelets", "444", "10*9/L", 444_000),
        ("platelets", "45000", "/uL", 45_000),
        ("platelets", "45", "× 10⁹/L", 45_000),
        # creatinine → mg/dL (1 mg/dL = 88.4 µmol/L = 0.0884 mmol/L)
        ("creatinine", "1.3", "mg/dL", 1.3),
        ("creatinine", "115", "umol/L", 115 / 88.4),
        ("creatinine", "115", "µmol/L", 115 / 88.4),
        ("creatinine", "115", "umol/l", 115 / 88.4),
        ("creatinine", "0.09", "mmol/L", 0.09 / 0.0884),
        ("creatinine", "13", "mg/L", 1.3),
        # weight → kg, height → cm
        ("weight", "70", "kg", 70),
        ("weight", "70500", "g", 70.5),
        ("weight", "185", "[lb_av]", 185 * 0.45359237),
        ("weight", "185", "lbs", 185 * 0.45359237),
        ("height", "170", "cm", 170),
        ("height", "1.7", "m", 170),
        ("height", "67", "[in_i]", 67 * 2.54),
        # renal function
        ("measured_crcl", "55", "mL/min", 55),
        ("measured_crcl", "1", "mL/s", 60),
        ("egfr", "48", "mL/min/{1.73_m2}", 48),
        ("egfr", "48", "mL/min/1.73m2", 48),
        ("egfr", "48", "mL/min/1.73 m2", 48),
        ("egfr", "48", "mL/min/1.73m^2", 48),
        ("egfr", "48", "ml/min/1.73 m²", 48),
        # others
        ("bmi", "31.2", "kg/m2", 31.2),
        ("alt", "54", "U/L", 54),
        ("alt", "54", "[IU]/L", 54),
        ("ast", "1", "ukat/L", 60),
        ("tsh", "2.1", "mIU/L", 2.1),
        ("tsh", "2.1", "uIU/mL", 2.1),
        ("tsh", "2.1", "µIU/mL", 2.1),
    ],
)
def test_converts_to_the_rules_unit(kind: str, value: str, unit: str, expected: float) -> None:
    assert to_rules_unit(kind, Decimal(value), unit) == pytest.approx(expected, rel=1e-12)


def test_cell_counts_convert_exactly() -> None:
    # a float factor would give 900.0000000000001 and a threshold test at 900 could flip
    assert to_rules_unit("anc", Decimal("0.9"), "10*9/L") == 900.0
    assert to_rules_unit("platelets", Decimal("0.05"), "10*9/L") == 50.0


@pytest.mark.parametrize(
    ("kind", "unit"),
    [
        ("anc", "%"),  # a differential percentage is not a count
        ("anc", "g/L"),
        ("anc", "G/L"),  # giga/L folds to g/L: refused rather than guessed
        ("anc", "furlongs"),
        ("anc", ""),
        ("platelets", "10*12/L"),
        ("creatinine", "mg"),
        ("creatinine", "umol"),
        ("creatinine", "mg/dL/h"),
        ("weight", "st"),
        ("height", "ft"),
        ("measured_crcl", "mL/min/{1.73_m2}"),  # normalised to BSA: not a measured clearance
        ("egfr", "mL/min"),
        ("tsh", "mIU/mL"),
    ],
)
def test_unknown_units_are_not_converted(kind: str, unit: str) -> None:
    assert to_rules_unit(kind, Decimal("1.2"), unit) is None


@pytest.mark.parametrize(
    ("quantity", "expected"),
    [
        ({"value": 1, "unit": "x10*9/L", "system": UCUM, "code": "10*9/L"}, "10*9/L"),
        ({"value": 1, "unit": "mmol/L"}, "mmol/L"),
        # Observation-f204: a SNOMED 'unit' code; the unit string is what tells the unit
        ({"value": 122, "unit": "umol/L", "system": "http://snomed.info/sct", "code": "258814008"}, "umol/L"),
        ({"value": 1, "system": UCUM, "code": "mg/dL"}, "mg/dL"),
        ({"value": 1, "unit": "mg/dL", "system": UCUM}, "mg/dL"),
        ({"value": 1, "code": "mg/dL"}, None),  # a code without a system is not UCUM
        ({"value": 1}, None),
        ({"value": 1, "unit": "  "}, None),
    ],
)
def test_quantity_unit_prefers_the_ucum_code(quantity: dict[str, object], expected: str | None) -> None:
    assert quantity_unit(quantity) == expected


def test_rules_units() -> None:
    assert [rules_unit(k) for k in ("creatinine", "weight", "height", "bmi", "anc", "platelets")] == [
        "mg/dL", "kg", "cm", "kg/m2", "/uL", "/uL",
    ]  # fmt: skip
    assert [rules_unit(k) for k in ("measured_crcl", "egfr", "alt", "ast", "tsh")] == [
        "mL/min", "mL/min/1.73m2", "U/L", "U/L", "mIU/L",
    ]  # fmt: skip

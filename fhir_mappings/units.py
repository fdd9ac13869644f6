"""Units: from what laboratories send to the one unit the rules read for each measurement.

A value whose unit is missing or not listed here is not used (CLINICAL_RULES.md, safety
principle 1: never dose from unit-less data). Units are matched on the UCUM code when the
quantity says its system is UCUM, otherwise on the unit string, after folding the harmless
variants laboratories write (case, µ/u, spaces, 'x10^9/L' for '10*9/L', '²' for '2').

Factors are exact fractions, so 0.9 ×10^9/L is 900/µL and not 900.0000000000001.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

from fhir_mappings.fhir_json import finite_float, text_value
from fhir_mappings.terminology import UCUM_SYSTEM


@dataclass(frozen=True)
class RulesUnit:
    """The unit the rules use for one kind of measurement and what converts into it."""

    unit: str
    factors: dict[str, Fraction]
    """Folded unit (see ``fold_unit``) → the factor that turns a value in it into ``unit``."""


_SUPERSCRIPTS = str.maketrans({sup: f"^{digit}" for digit, sup in enumerate("⁰¹²³⁴⁵⁶⁷⁸⁹")})


def fold_unit(unit: str) -> str:
    """Fold the spellings of one unit together: 'x10^9/L', '10*9/L' and '10⁹/l' alike."""
    folded = unit.strip().replace("µ", "u").replace("μ", "u").replace("×", "x")
    folded = folded.translate(_SUPERSCRIPTS)  # '10³' → '10^3', 'm²' → 'm^2'
    folded = re.sub(r"\s+", "", folded).lower()
    folded = re.sub(r"^x(?=10)", "", folded)  # 'x10*9/L' is how UCUM's display writes 10*9/L
    folded = re.sub(r"10\^", "10*", folded)
    return folded.replace("^", "")


def _factors(**groups: tuple[Fraction | int | str, tuple[str, ...]]) -> dict[str, Fraction]:
    table: dict[str, Fraction] = {}
    for factor, spellings in groups.values():
        for spelling in spellings:
            table[fold_unit(spelling)] = Fraction(factor)
    return table


# 1 ×10^9/L = 1 ×10^3/µL = 1,000/µL (CLINICAL_RULES.md, Units). 'K/uL' and 'THOU/uL' are not
# UCUM but are what many analysers print (the HL7 example Bundle-report uses 'K/ul'). 'G/L'
# (giga per litre) is left out: folded to lower case it cannot be told from g/L.
_CELL_COUNT = _factors(
    per_microlitre=(1, ("/uL", "/mm3", "{cells}/uL", "cells/uL", "{cells}/mm3", "cells/mm3")),
    thousands_per_microlitre=(
        1000,
        (
            "10*3/uL", "10*3/mm3", "10*3{cells}/uL", "K/uL", "K/mm3", "THOU/uL", "10e3/uL",
            "10*9/L", "10e9/L",
        ),
    ),
)  # fmt: skip

_MG_PER_DL_IN_UMOL_PER_L = Fraction("88.4")

RULES_UNITS: dict[str, RulesUnit] = {
    # creatinine: 1 mg/dL = 88.4 µmol/L = 0.0884 mmol/L; 1 mg/L = 0.1 mg/dL
    "creatinine": RulesUnit(
        "mg/dL",
        _factors(
            mg_dl=(1, ("mg/dL",)),
            mg_l=(Fraction(1, 10), ("mg/L",)),
            umol_l=(1 / _MG_PER_DL_IN_UMOL_PER_L, ("umol/L",)),
            mmol_l=(1000 / _MG_PER_DL_IN_UMOL_PER_L, ("mmol/L",)),
        ),
    ),
    "measured_crcl": RulesUnit(
        "mL/min",
        _factors(ml_min=(1, ("mL/min", "cc/min")), ml_s=(60, ("mL/s",))),
    ),
    "egfr": RulesUnit(
        "mL/min/1.73m2",
        _factors(
            normalised=(
                1,
                (
                    "mL/min/{1.73_m2}",
                    "mL/min/1.73m2",
                    "mL/min/1.73_m2",
                    "mL/min/{1.73m2}",
                    "mL/min/(1.73m2)",
                    "mL/min/1.73m^2",
                    "mL/min/1.73 m²",
                    "mL/min/1.73m*2",
                    "mL/min/1.73.m2",
                ),
            )
        ),
    ),
    "anc": RulesUnit("/uL", _CELL_COUNT),
    "platelets": RulesUnit("/uL", _CELL_COUNT),
    "weight": RulesUnit(
        "kg",
        _factors(
            kg=(1, ("kg",)),
            g=(Fraction(1, 1000), ("g",)),
            # the avoirdupois pound is exactly 0.45359237 kg
            lb=(Fraction("0.45359237"), ("[lb_av]", "lb", "lbs")),
        ),
    ),
    "height": RulesUnit(
        "cm",
        _factors(
            cm=(1, ("cm",)),
            m=(100, ("m",)),
            mm=(Fraction(1, 10), ("mm",)),
            # the international inch is exactly 2.54 cm
            inch=(Fraction("2.54"), ("[in_i]", "in", "inch", "inches")),
        ),
    ),
    "bmi": RulesUnit("kg/m2", _factors(kg_m2=(1, ("kg/m2", "kg/m^2", "kg/(m2)")))),
    # 1 U = 1 µmol/min; 1 µkat = 1 µmol/s = 60 U
    "alt": RulesUnit("U/L", _factors(u_l=(1, ("U/L", "[IU]/L", "IU/L")), ukat_l=(60, ("ukat/L",)))),
    "ast": RulesUnit("U/L", _factors(u_l=(1, ("U/L", "[IU]/L", "IU/L")), ukat_l=(60, ("ukat/L",)))),
    # 1 µIU/mL = 1 mIU/L
    "tsh": RulesUnit(
        "mIU/L",
        _factors(miu_l=(1, ("mIU/L", "m[IU]/L", "uIU/mL", "u[IU]/mL", "microIU/mL"))),
    ),
}


def quantity_unit(quantity: Any) -> str | None:
    """The unit a Quantity is in: its code when the system is UCUM, else its unit string."""
    if not isinstance(quantity, dict):
        return None
    if quantity.get("system") == UCUM_SYSTEM:
        code = text_value(quantity.get("code"))
        if code:
            return code
    return text_value(quantity.get("unit"))


def quantity_unit_text(quantity: Any) -> str:
    """The unit as the source showed it, for ``Measurement.original``."""
    if not isinstance(quantity, dict):
        return ""
    return text_value(quantity.get("unit")) or text_value(quantity.get("code")) or ""


def rules_unit(kind: str) -> str:
    return RULES_UNITS[kind].unit


def to_rules_unit(kind: str, value: Decimal, unit: str) -> float | None:
    """``value`` in ``unit`` converted to the rules' unit for ``kind``; None when the unit is
    not one we know for that kind, or the result is no finite number (then the value must not
    be used)."""
    table = RULES_UNITS.get(kind)
    if table is None:
        return None
    factor = table.factors.get(fold_unit(unit))
    if factor is None:
        return None
    return finite_float(Fraction(value) * factor)

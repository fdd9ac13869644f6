"""Products an order names (RxNorm SCD/SBD, a Medication with ingredient strength) → strength.

EHRs order products, not ingredients: "lenalidomide 25 MG Oral Capsule" with a dose of
1 {pill}. The dose in mg is then the count of units × the product's strength, which comes,
first to last, from

1. the Medication's ``ingredient.strength`` (a Ratio such as 25 mg per 1 capsule);
2. the RxNorm codes below — only codes confirmed against a public source, cited beside each;
3. RxNorm's normalised name in a coding's display or the concept's text
   ("lenalidomide 25 MG Oral Capsule", "dexamethasone 4 MG Oral Tablet [Decadron]").

An unknown code is never guessed at: a product code missing here is read from its name, and
without a name its strength stays unknown (the dose is then not used).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

from rules.model import DrugProduct, ProductStrength

from fhir_mappings.fhir_json import JsonObject, codings, coded, concept_texts, number, objects, text_value
from fhir_mappings.terminology import RXNORM_SYSTEMS
from fhir_mappings.units import fold_unit


@dataclass(frozen=True)
class ProductLine:
    """One ingredient in one dose form (and brand): the strengths it comes in."""

    drug: str
    ingredient: str
    """As RxNorm writes it at the start of the normalised name."""
    dose_form: str
    """'capsule' or 'tablet'."""
    strengths_mg: tuple[float, ...]
    brand: str = ""

    def name(self, mg: float) -> str:
        """RxNorm's normalised name for the strength: 'lenalidomide 10 MG Oral Capsule'."""
        form = "Oral Capsule" if self.dose_form == "capsule" else "Oral Tablet"
        brand = f" [{self.brand}]" if self.brand else ""
        return f"{self.ingredient} {mg:g} MG {form}{brand}"


# Lenalidomide capsules come in 2.5, 5, 10, 15, 20 and 25 mg, generic and Revlimid (Medscape,
# "Revlimid (lenalidomide) dosing, indications": "capsule (Revlimid, generic) 2.5mg, 5mg,
# 10mg, 15mg, 20mg, 25mg").
LENALIDOMIDE = ProductLine("lenalidomide", "lenalidomide", "capsule", (2.5, 5.0, 10.0, 15.0, 20.0, 25.0))
REVLIMID = ProductLine("lenalidomide", "lenalidomide", "capsule", (2.5, 5.0, 10.0, 15.0, 20.0, 25.0), brand="Revlimid")
# Dexamethasone oral tablets as RxNorm names them in public code lists (0.5, 0.75, 1.5, 2,
# 4 and 6 MG Oral Tablet; e.g. the OMOP drug lists quoting 'dexamethasone 1.5 MG',
# 'dexamethasone 2/4/6 MG Oral Tablet').
DEXAMETHASONE = ProductLine("dexamethasone", "dexamethasone", "tablet", (0.5, 0.75, 1.5, 2.0, 4.0, 6.0))

PRODUCT_LINES: tuple[ProductLine, ...] = (LENALIDOMIDE, REVLIMID, DEXAMETHASONE)

# RxNorm SCD/SBD codes, each confirmed against a public source; a wrong strength here would
# misdose, so a code no source ties to one strength is left out and its orders are read from
# their names. The public CDS Hooks sandbox's RxNorm table (cds-hooks/sandbox,
# src/assets/medication-list.js, cuiToName) names each lenalidomide capsule product below.
CONFIRMED_CODES: dict[str, tuple[ProductLine, float]] = {
    # cds-hooks/sandbox medication-list.js: 602912 'lenalidomide 5 MG Oral Capsule', 602910
    # '... 10 MG Oral Capsule', 643712 '... 15 MG Oral Capsule', 1428947 '... 20 MG Oral
    # Capsule', 643720 '... 25 MG Oral Capsule'; the [Revlimid] SBDs 1242233 (2.5), 616116 (5),
    # 616114 (10), 643714 (15), 1429367 (20 MG Oral Capsule [Revlimid]).
    "602912": (LENALIDOMIDE, 5.0),
    "602910": (LENALIDOMIDE, 10.0),
    "643712": (LENALIDOMIDE, 15.0),
    "1428947": (LENALIDOMIDE, 20.0),
    "643720": (LENALIDOMIDE, 25.0),
    "1242233": (REVLIMID, 2.5),
    "616116": (REVLIMID, 5.0),
    "616114": (REVLIMID, 10.0),
    "643714": (REVLIMID, 15.0),
    "1429367": (REVLIMID, 20.0),
    # openFDA NDC 76282-696 (Exelan, "LENALIDOMIDE 2.5 mg/1" capsule, one strength in its
    # label): rxcui ["1242231"] — https://api.fda.gov/drug/ndc.json?search=product_ndc:"76282-696"
    "1242231": (LENALIDOMIDE, 2.5),
    # lifeomic/cli test/unit/commands/ocr/suggestions-test.js: RxNorm 643722 "lenalidomide
    # 25 MG Oral Capsule [Revlimid]"; CODES.md lists 643722 as the Revlimid 25 mg SBD.
    "643722": (REVLIMID, 25.0),
    # paciowg/sample-data-fsh input/fsh/EX_jm_medications5.fsh: $rxnorm#197582
    # "dexAMETHasone 4 MG Oral Tablet" (also an RxNorm code→name table quoting
    # "197582": "Dexamethasone 4 MG Oral Tablet").
    "197582": (DEXAMETHASONE, 4.0),
}
# RxNorm ingredient (IN) codes (CODES.md): a medication coded so is no product, and a dose of
# a bare '1' of it counts nothing.
INGREDIENT_CODES: frozenset[str] = frozenset({"342369", "3264"})
_CODE_BY_PRODUCT: dict[tuple[ProductLine, float], str] = {v: k for k, v in CONFIRMED_CODES.items()}

# 'lenalidomide 25 MG Oral Capsule', 'dexAMETHasone 4 MG Oral Tablet [Decadron]',
# 'Revlimid 25 mg capsule': a name, a strength in mg, a capsule or tablet form, a brand.
_NAME = re.compile(
    r"^\s*(?P<name>[a-z][a-z-]*)\s+(?P<mg>\d{1,3}(?:\.\d{1,3})?)\s*mg\s+"
    r"(?:oral\s+)?(?P<form>capsules?|caps?|tablets?|tabs?)\b\s*(?:\[(?P<brand>[^\]]{1,40})\])?\s*$",
    re.IGNORECASE,
)
_NAMES: dict[str, ProductLine] = {"lenalidomide": LENALIDOMIDE, "revlimid": REVLIMID, "dexamethasone": DEXAMETHASONE}

# Medication.form and Ratio denominators that mean one capsule or one tablet: SNOMED CT dose
# forms, HL7 v3 orderableDrugForm codes, UCUM annotations and plain words.
_FORM_WORDS: dict[str, str] = {
    **{fold_unit(w): "capsule" for w in ("capsule", "capsules", "cap", "{capsule}", "{capsules}", "385049006")},
    **{fold_unit(w): "tablet" for w in ("tablet", "tablets", "tab", "{tablet}", "{tablets}", "385055001")},
    **{fold_unit(w): "" for w in ("{pill}", "{pills}", "pill", "pills", "1", "{unit}", "{each}", "ea")},
}


def parse_product_name(text: str) -> tuple[ProductLine, float] | None:
    """The product line and strength a normalised name states, or None (a name with no form,
    'lenalidomide 25 mg', is an ingredient and a strength, not a product)."""
    match = _NAME.match(text)
    if match is None:
        return None
    line = _NAMES.get(match["name"].lower())
    if line is None:
        return None
    form = "capsule" if match["form"].lower().startswith("cap") else "tablet"
    brand = (match["brand"] or "").strip()
    if line.brand == "" and brand.lower() == "revlimid":
        line = REVLIMID
    if form != line.dose_form:
        return None  # 'lenalidomide 25 mg tablet' is no product: do not trust its strength
    return line, float(Decimal(match["mg"]))


def read_product(concepts: Iterable[Any], medication: JsonObject | None, drug: str) -> DrugProduct | None:
    """The product an order names, with its strength per unit; None when none is known."""
    listed = list(concepts)
    ordered = _ordered_coding(listed)
    if medication is not None:
        strength = _ingredient_strength(medication)
        if strength is not None:
            mg, form = strength
            line = _line_of(listed, drug)
            return _product(line, mg, form or (line.dose_form if line else ""), ordered)
    for concept in listed:
        for coding in codings(concept):
            code = coded(coding, RXNORM_SYSTEMS)
            if code in CONFIRMED_CODES:
                line, mg = CONFIRMED_CODES[code]
                if line.drug == drug:
                    return _product(line, mg, line.dose_form, coding)
    for concept in listed:
        for text in concept_texts(concept):
            found = parse_product_name(text)
            if found is not None and found[0].drug == drug:
                return _product(found[0], found[1], found[0].dose_form, ordered)
    return None


def product_code(line: ProductLine, mg: float) -> str:
    """The confirmed RxNorm code of that strength, or ''."""
    return _CODE_BY_PRODUCT.get((line, mg), "")


def count_form(unit: str) -> str | None:
    """'capsule', 'tablet' or '' (a pill, a unit of one) for a unit that counts dose units;
    None for anything else (mg, mL, a puff…)."""
    return _FORM_WORDS.get(fold_unit(unit))


def _product(line: ProductLine | None, mg: float, form: str, ordered: JsonObject | None) -> DrugProduct:
    strengths: tuple[ProductStrength, ...] = ()
    if line is not None:
        strengths = tuple(ProductStrength(s, line.name(s), product_code(line, s)) for s in line.strengths_mg)
    return DrugProduct(
        strength_mg=mg,
        dose_form=form,
        code=(text_value(ordered.get("code")) or "") if ordered else "",
        system=(text_value(ordered.get("system")) or "") if ordered else "",
        display=(text_value(ordered.get("display")) or "") if ordered else "",
        strengths=strengths,
    )


def _ordered_coding(concepts: list[Any]) -> JsonObject | None:
    """The RxNorm coding of the order's medication, else its first coding."""
    first: JsonObject | None = None
    for concept in concepts[:1]:  # the medication's own code, not its ingredients'
        for coding in codings(concept):
            if coded(coding, RXNORM_SYSTEMS):
                return coding
            first = first or coding
    return first


def _line_of(concepts: list[Any], drug: str) -> ProductLine | None:
    for concept in concepts:
        for coding in codings(concept):
            code = coded(coding, RXNORM_SYSTEMS)
            if code in CONFIRMED_CODES and CONFIRMED_CODES[code][0].drug == drug:
                return CONFIRMED_CODES[code][0]
        for text in concept_texts(concept):
            found = parse_product_name(text)
            if found is not None and found[0].drug == drug:
                return found[0]
    return next((line for line in PRODUCT_LINES if line.drug == drug and not line.brand), None)


def _ingredient_strength(medication: JsonObject) -> tuple[float, str] | None:
    """mg per unit from Medication.ingredient.strength (25 mg / 1 capsule), with the form the
    ratio or Medication.form names ('' when neither does)."""
    ingredients = [i for i in objects(medication.get("ingredient")) if isinstance(i.get("strength"), dict)]
    if len(ingredients) != 1:  # several active ingredients: which is the drug is not for us to guess
        return None
    strength = ingredients[0]["strength"]
    numerator, denominator = strength.get("numerator"), strength.get("denominator")
    if not isinstance(numerator, dict):
        return None
    amount = number(numerator.get("value"))
    unit = text_value(numerator.get("code")) or text_value(numerator.get("unit"))
    if amount is None or unit is None or amount <= 0:
        return None
    factor = {"mg": Fraction(1), "g": Fraction(1000), "ug": Fraction(1, 1000), "mcg": Fraction(1, 1000)}.get(
        fold_unit(unit)
    )
    if factor is None:
        return None
    per = Fraction(1)
    form = ""
    if isinstance(denominator, dict):
        per_value = number(denominator.get("value"))
        per_form = count_form(text_value(denominator.get("code")) or text_value(denominator.get("unit")) or "1")
        if per_value is None or per_value <= 0 or per_form is None:
            return None  # mg per mL is a solution, not a unit to count
        per, form = Fraction(per_value), per_form
    form = form or _medication_form(medication)
    mg = Fraction(amount) * factor / per
    return float(mg), form


def _medication_form(medication: JsonObject) -> str:
    concept = medication.get("form")
    for coding in codings(concept):
        code = text_value(coding.get("code"))
        if code and (form := count_form(code)):
            return form
    for text in concept_texts(concept):
        lowered = text.lower()
        if "capsule" in lowered:
            return "capsule"
        if "tablet" in lowered:
            return "tablet"
    return ""

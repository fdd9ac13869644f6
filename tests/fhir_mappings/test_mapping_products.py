"""Products an order names → strength per unit: normalised names, confirmed codes, Medications."""

from __future__ import annotations

import pytest

from fhir_mappings.products import (
    CONFIRMED_CODES,
    DEXAMETHASONE,
    LENALIDOMIDE,
    REVLIMID,
    parse_product_name,
    product_code,
    read_product,
)

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("lenalidomide 25 MG Oral Capsule", (LENALIDOMIDE, 25.0)),
        ("lenalidomide 2.5 MG Oral Capsule", (LENALIDOMIDE, 2.5)),
        ("lenalidomide 25 MG Oral Capsule [Revlimid]", (REVLIMID, 25.0)),
        ("Revlimid 10 mg capsule", (REVLIMID, 10.0)),
        ("dexamethasone 4 MG Oral Tablet", (DEXAMETHASONE, 4.0)),
        ("dexAMETHasone 4 MG Oral Tablet", (DEXAMETHASONE, 4.0)),  # Tall Man lettering
        ("lenalidomide 25 mg", None),  # an ingredient and a strength: no product, no unit
        ("lenalidomide 25 mg tablet", None),  # no such product: its strength is not trusted
        ("lenalidomide 25 MG/ML Oral Solution", None),
        ("aspirin 100 MG Oral Tablet", None),
    ],
)
def test_normalised_names(name, expected):
    assert parse_product_name(name) == expected


def test_every_confirmed_code_names_a_listed_strength_and_unconfirmed_codes_are_absent():
    for code, (line, mg) in CONFIRMED_CODES.items():
        assert mg in line.strengths_mg and product_code(line, mg) == code
        assert parse_product_name(line.name(mg)) == (line, mg)
    # The public sandbox's RxNorm table ties each of these to one capsule strength.
    assert {
        code: mg
        for code, (_, mg) in CONFIRMED_CODES.items()
        if code in {"602912", "602910", "643712", "1428947", "643720"}
    } == {"602912": 5.0, "602910": 10.0, "643712": 15.0, "1428947": 20.0, "643720": 25.0}


def test_a_confirmed_code_gives_the_strength_without_a_name():
    product = read_product([{"coding": [{"system": RXNORM, "code": "1242231"}]}], None, "lenalidomide")
    assert product is not None and product.strength_mg == 2.5 and product.dose_form == "capsule"
    assert product.code == "1242231" and [s.mg for s in product.strengths] == [2.5, 5, 10, 15, 20, 25]


def test_an_unlisted_code_is_read_from_its_display():
    concept = {"coding": [{"system": RXNORM, "code": "643720", "display": "lenalidomide 25 MG Oral Capsule"}]}
    product = read_product([concept], None, "lenalidomide")
    assert product is not None and (product.strength_mg, product.code) == (25.0, "643720")


def test_a_name_of_another_drug_is_not_this_orders_product():
    assert read_product([{"text": "dexamethasone 4 MG Oral Tablet"}], None, "lenalidomide") is None


@pytest.mark.parametrize(
    ("strength", "mg"),
    [
        ({"numerator": {"value": 10, "unit": "mg"}, "denominator": {"value": 1, "unit": "capsule"}}, 10.0),
        ({"numerator": {"value": 10, "code": "mg"}, "denominator": {"value": 1, "code": "CAP"}}, 10.0),
        ({"numerator": {"value": 0.004, "unit": "g"}, "denominator": {"value": 1, "code": "{tablet}"}}, 4.0),
        ({"numerator": {"value": 10, "unit": "mg"}}, 10.0),  # per one unit
        ({"numerator": {"value": 1, "unit": "mg"}, "denominator": {"value": 1, "unit": "mL"}}, None),
        ({"numerator": {"value": 10, "unit": "mmol"}, "denominator": {"value": 1, "unit": "capsule"}}, None),
    ],
)
def test_medication_ingredient_strength(strength, mg):
    medication = {
        "resourceType": "Medication",
        "code": {"text": "LENA cap"},
        "ingredient": [{"itemCodeableConcept": {"text": "lenalidomide"}, "strength": strength}],
    }
    product = read_product([medication["code"]], medication, "lenalidomide")
    assert (product.strength_mg if product else None) == mg

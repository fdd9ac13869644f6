"""R-INF-PROPH: antibiotic doses follow kidney function; neutropenia now makes it a warning
(clinical rules section 8)."""

from __future__ import annotations

import pytest

from rules.dose_ladder import daily_mg
from rules.model import NewMedication, PatientSnapshot, Recommendation
from tests.rules.patient_builder import (
    card,
    condition,
    counts,
    dexamethasone,
    lab,
    on_lenalidomide,
    procedure,
    run,
    starting,
    with_crcl,
)


def prophylaxis(snapshot: PatientSnapshot, hook: str = "order-sign") -> Recommendation:
    found = card(run(snapshot, hook), "infection-prophylaxis")  # type: ignore[arg-type]
    assert found is not None
    return found


def antibiotics(found: Recommendation) -> dict[str, NewMedication]:
    by_drug = {a.drug: a for a in found.actions if isinstance(a, NewMedication)}
    assert len(by_drug) == len(found.actions)
    return by_drug


def levofloxacin(found: Recommendation) -> tuple[float | None, float | None]:
    regimen = antibiotics(found)["levofloxacin"].regimen
    return regimen.dose, regimen.every_hours


@pytest.mark.parametrize(
    ("clearance", "levofloxacin_dose", "tmp_smx"),
    [
        (80.0, (500.0, 24.0), "160/800"),
        (50.0, (500.0, 24.0), "160/800"),
        (49.9, (250.0, 24.0), "160/800"),
        (30.1, (250.0, 24.0), "160/800"),
        (30.0, (250.0, 24.0), "80/400"),
        (20.0, (250.0, 24.0), "80/400"),
        (19.9, (250.0, 48.0), "80/400"),
        (15.0, (250.0, 48.0), "80/400"),
        (14.9, (250.0, 48.0), None),
        (8.0, (250.0, 48.0), None),
    ],
)
def test_antibiotic_doses_follow_creatinine_clearance(
    clearance: float, levofloxacin_dose: tuple[float, float], tmp_smx: str | None
) -> None:
    found = prophylaxis(with_crcl(starting(), clearance))
    assert levofloxacin(found) == levofloxacin_dose
    choices = antibiotics(found)
    if tmp_smx is None:
        assert "trimethoprim-sulfamethoxazole" not in choices
        assert any("not suggested" in p and "below 15" in p for p in found.rationale)
        assert choices["levofloxacin"].recommended  # the one choice left is pre-selected
    else:
        combination = choices["trimethoprim-sulfamethoxazole"]
        assert f"{tmp_smx} mg" in (combination.regimen.text or "") and combination.recommended
        assert ("half" in combination.label) is (tmp_smx == "80/400")
        assert not choices["levofloxacin"].recommended


@pytest.mark.parametrize("dialysis", [condition("dialysis"), condition("esrd")])
def test_on_dialysis_levofloxacin_every_48_hours_and_no_trimethoprim_sulfamethoxazole(dialysis: object) -> None:
    found = prophylaxis(starting(conditions=(dialysis,)))  # type: ignore[arg-type]
    assert set(antibiotics(found)) == {"levofloxacin"}
    assert levofloxacin(found) == (250.0, 48.0)
    assert "every 48 h" in found.actions[0].label


def test_recent_dialysis_procedure_counts_as_dialysis() -> None:
    found = prophylaxis(starting(procedures=(procedure("dialysis", days=3),)))
    assert levofloxacin(found) == (250.0, 48.0)
    assert "trimethoprim-sulfamethoxazole" not in antibiotics(found)


@pytest.mark.parametrize(
    "fields",
    [
        {"creatinine": None},
        {"weight": None},
        {"creatinine": lab(1.0, "mg/dL", days=90)},  # stale
        {"birth_date": None},
    ],
)
def test_unknown_kidney_function_gives_no_dosed_antibiotic(fields: dict[str, object]) -> None:
    found = prophylaxis(starting(**fields))
    assert found.actions == ()
    assert found.data_needed, "the card names what to order"
    assert "dose needs kidney function" in found.summary
    assert any("no dose is suggested" in p for p in found.rationale)


def test_egfr_stands_in_when_cockcroft_gault_cannot_be_computed() -> None:
    found = prophylaxis(starting(weight=None, egfr=lab(40.0, "mL/min/1.73m2", code="62238-1")))
    assert levofloxacin(found) == (250.0, 24.0)
    assert "160/800 mg" in (antibiotics(found)["trimethoprim-sulfamethoxazole"].regimen.text or "")
    assert any("eGFR" in p for p in found.rationale)


def test_egfr_reported_above_60_is_a_lower_bound_with_full_doses() -> None:
    found = prophylaxis(starting(weight=None, egfr=lab(60.0, "mL/min/1.73m2", comparator=">", code="62238-1")))
    assert levofloxacin(found) == (500.0, 24.0)


def test_creatinine_below_a_bound_is_a_clearance_above_it() -> None:
    # "<0.5 mg/dL" at 70 kg: Cockcroft-Gault ≥ 140 mL/min, so the full doses.
    found = prophylaxis(starting(creatinine=lab(0.5, "mg/dL", comparator="<")))
    assert levofloxacin(found) == (500.0, 24.0)
    assert "trimethoprim-sulfamethoxazole" in antibiotics(found)


def test_creatinine_above_a_bound_suggests_only_a_dose_the_whole_range_allows() -> None:
    # ">2.5 mg/dL" at 60 kg: clearance < 24 mL/min, possibly < 20 or < 15 — neither antibiotic's
    # level is known, so neither is offered.
    spanning = prophylaxis(starting(creatinine=lab(2.5, "mg/dL", comparator=">"), weight=lab(60.0, "kg")))
    assert spanning.actions == ()
    assert sum("bound that spans" in p for p in spanning.rationale) == 2
    # ">2.5 mg/dL" at 35 kg: clearance < 14 mL/min — the lowest level of both.
    lowest = prophylaxis(starting(creatinine=lab(2.5, "mg/dL", comparator=">"), weight=lab(35.0, "kg")))
    assert set(antibiotics(lowest)) == {"levofloxacin"} and levofloxacin(lowest) == (250.0, 48.0)


def test_no_suggestion_ever_exceeds_its_renal_maximum() -> None:
    for tenth in range(0, 1_000, 7):
        clearance = tenth / 10
        found = prophylaxis(with_crcl(starting(), clearance))
        for action in antibiotics(found).values():
            if action.drug == "levofloxacin":
                limit = 500.0 if clearance >= 50 else 250.0 if clearance >= 20 else 125.0
                mg_per_day = daily_mg(action.regimen)
                assert mg_per_day is not None and mg_per_day <= limit, (clearance, action.label)
            else:
                assert clearance >= 15, (clearance, action.label)
                full = "160/800" in (action.regimen.text or "")
                assert not full or clearance > 30, (clearance, action.label)


@pytest.mark.parametrize(
    ("anc_fields", "severity"),
    [
        ({"anc": 800.0}, "warning"),
        ({"anc": 999.0}, "warning"),
        ({"anc": 1_000.0}, "info"),
        ({"anc": 800.0, "days": 30}, "info"),  # stale: not "now"
        ({"anc": 1_200.0, "anc_comparator": "<"}, "info"),  # '<1,200' leaves it open
        ({"anc": 900.0, "anc_comparator": "<"}, "warning"),
    ],
)
def test_neutropenia_now_makes_it_a_warning(anc_fields: dict[str, object], severity: str) -> None:
    found = prophylaxis(starting(**counts(**anc_fields)))  # type: ignore[arg-type]
    assert found.severity == severity
    assert ("neutropenia now" in found.summary) is (severity == "warning")
    if severity == "warning":
        assert any(i.name == "ANC" for i in found.inputs)


def test_neutropenia_now_on_patient_view() -> None:
    view = on_lenalidomide(
        dexamethasone(status="active", id="dex-a", authored_days_ago=5), started_days_ago=20, **counts(anc=700.0)
    )
    assert prophylaxis(view, "patient-view").severity == "warning"


def test_kidney_function_is_shown_on_the_card() -> None:
    found = prophylaxis(with_crcl(starting(), 42.0))
    assert any("Cockcroft-Gault" in p for p in found.rationale)
    assert any(i.name == "serum creatinine" for i in found.inputs)
    assert any("Levofloxacin reduced for kidney function" in p for p in found.rationale)

"""Infection prophylaxis and vaccination (guideline: Infection and teratogenicity).

"To prevent infection, routine antibiotic prophylaxis (e.g., trimethoprim-sulfamethoxazole,
quinolones, or penicillin) is highly recommended for the first 3 cycles of lenalidomide when
combined with dexamethasone, particularly for patients with aggressive disease or a history of
neutropenia or infectious complications." "The use of vaccinations, including influenza,
should also be considered in MM patients."
"""

from __future__ import annotations

from rules.catalogue import rule
from rules.dose_ladder import LENALIDOMIDE_CYCLE_LENGTH
from rules.model import (
    Evaluation,
    NewMedication,
    OrdersUnderReview,
    PatientSnapshot,
    Recommendation,
    Regimen,
    Severity,
)
from rules.treatment_course import in_first_cycles, on_lenalidomide, treated_before

SECTION = rule("R-INF-PROPH").section  # "Infection and teratogenicity"

# R-INF-PROPH (guideline: Infection and teratogenicity): "for the first 3 cycles of
# lenalidomide when combined with dexamethasone".
PROPHYLAXIS_CYCLES = 3
# R-INF-PROPH: the guideline names the drugs, not their doses. Standard prophylactic doses
# (service choice): trimethoprim-sulfamethoxazole one double-strength tablet (800 mg
# sulfamethoxazole / 160 mg trimethoprim) once daily; levofloxacin 500 mg once daily (the
# dose of the TEAMM trial of levofloxacin prophylaxis in myeloma). The combination tablet has
# no single mg dose, so its order carries the dose in its text only.
LEVOFLOXACIN_MG = 500.0
FIRST_CYCLES = f"the first {PROPHYLAXIS_CYCLES} cycles"
TMP_SMX_TEXT = ("Trimethoprim-sulfamethoxazole 800/160 mg (one double-strength tablet) orally once "
                f"daily during {FIRST_CYCLES} of lenalidomide/dexamethasone")
LEVOFLOXACIN_TEXT = (f"Levofloxacin {LEVOFLOXACIN_MG:g} mg orally once daily during {FIRST_CYCLES} "
                     "of lenalidomide/dexamethasone")

ANTIBIOTICS = ("trimethoprim-sulfamethoxazole", "levofloxacin", "ciprofloxacin", "moxifloxacin",
               "penicillin", "amoxicillin")
# "particularly for patients with aggressive disease or a history of neutropenia or
# infectious complications"
HIGHER_RISK: tuple[tuple[str, str], ...] = (
    ("aggressive-disease", "aggressive disease"),
    ("neutropenia-history", "history of neutropenia"),
    ("infection-history", "history of infection"),
    ("active-infection", "current infection"),
)

QUOTE_PROPHYLAXIS = (
    'Guideline (*Infection and teratogenicity*): "To prevent infection, routine antibiotic '
    "prophylaxis (e.g., trimethoprim-sulfamethoxazole, quinolones, or penicillin) is highly "
    "recommended for the first 3 cycles of lenalidomide when combined with dexamethasone, "
    "particularly for patients with aggressive disease or a history of neutropenia or "
    'infectious complications."'
)


def infection_prophylaxis(
    snapshot: PatientSnapshot, evaluation: Evaluation, orders: OrdersUnderReview
) -> list[Recommendation]:
    """R-INF-PROPH: lenalidomide with dexamethasone, first 3 cycles, no antibiotic active."""
    with_dexamethasone = bool(orders.dexamethasone or snapshot.active_orders_of("dexamethasone"))
    if evaluation.hook == "patient-view":
        treated = on_lenalidomide(snapshot)
    else:
        treated = bool(orders.lenalidomide)
    if not (treated and with_dexamethasone):
        return []
    if not in_first_cycles(snapshot, evaluation.today, PROPHYLAXIS_CYCLES):
        return []
    if snapshot.orders_in_place(*ANTIBIOTICS):
        return []
    risks = [words for category, words in HIGHER_RISK
             if snapshot.has_condition(category, active_only=category == "active-infection")]
    severity: Severity = "warning" if risks else "info"
    cycle = ("starting lenalidomide" if not treated_before(snapshot)
             else f"within {FIRST_CYCLES} of lenalidomide")
    finding = f"Patient {cycle} with dexamethasone, and no antibiotic prophylaxis is active."
    if risks:
        finding += f" Higher infection risk: {', '.join(risks)}."
    choices = (
        NewMedication(
            drug="trimethoprim-sulfamethoxazole",
            regimen=Regimen(dose=None, every_hours=24.0, route="oral", text=TMP_SMX_TEXT),
            label="Start trimethoprim-sulfamethoxazole 800/160 mg daily",
            description=TMP_SMX_TEXT,
            recommended=True,
        ),
        NewMedication(
            drug="levofloxacin",
            regimen=Regimen(dose=LEVOFLOXACIN_MG, dose_unit="mg", every_hours=24.0, route="oral",
                            text=LEVOFLOXACIN_TEXT),
            label=f"Start levofloxacin {LEVOFLOXACIN_MG:g} mg daily",
            description=LEVOFLOXACIN_TEXT,
        ),
    )
    return [Recommendation(
        rule_ids=("R-INF-PROPH",),
        concern="infection-prophylaxis",
        severity=severity,
        summary=f"First {PROPHYLAXIS_CYCLES} cycles of lenalidomide/dexamethasone: antibiotic prophylaxis "
        + ("highly recommended (" + risks[0] + ")" if risks else "recommended")
        + " — TMP-SMX or a quinolone",
        rationale=(finding, f"The prophylaxis covers {FIRST_CYCLES} "
                   f"({PROPHYLAXIS_CYCLES * LENALIDOMIDE_CYCLE_LENGTH} days).", QUOTE_PROPHYLAXIS),
        section=SECTION,
        actions=choices,
        selection="at-most-one",
    )]


def vaccination(
    snapshot: PatientSnapshot, evaluation: Evaluation, orders: OrdersUnderReview
) -> list[Recommendation]:
    """R-INF-VACCINE: once, when lenalidomide is started (not at every cycle)."""
    if not orders.lenalidomide or treated_before(snapshot):
        return []
    return [Recommendation(
        rule_ids=("R-INF-VACCINE",),
        concern="vaccination",
        severity="info",
        summary="Starting lenalidomide: consider influenza vaccination",
        rationale=(
            "Myeloma and its treatment impair immunity; vaccination status is not part of the "
            "data this service reads.",
            'Guideline (*Infection and teratogenicity*): "The use of vaccinations, including '
            'influenza, should also be considered in MM patients."',
        ),
        section=SECTION,
    )]

"""The rule table: every rule id of the clinical rules, its summary and guideline section.

This is the catalogue an auditor reads (served at GET /rules) and the list every card's
rule ids are checked against. Thresholds are not here: each lives in the module that
applies it, beside its rule id.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rule:
    id: str
    summary: str
    section: str
    """The guideline heading the rule comes from."""
    hooks: tuple[str, ...]


_ORDER = ("order-select", "order-sign")
_ALL = ("order-select", "order-sign", "patient-view")
_VIEW = ("patient-view",)

RULES: tuple[Rule, ...] = (
    Rule(
        "R-CRCL-CG",
        "Creatinine clearance by Cockcroft-Gault from age, actual weight, serum creatinine and sex; measured CrCl or eGFR only when it cannot be computed",
        "Renal insufficiency",
        _ALL,
    ),
    Rule(
        "R-DATA-RENAL",
        "Renal function unknown (creatinine or weight missing or stale, no CrCl/eGFR): no dose is suggested; order serum creatinine and weight",
        "Renal insufficiency",
        _ALL,
    ),
    Rule(
        "R-RENAL-NORMAL",
        "CrCl >= 60 mL/min: lenalidomide 25 mg once daily, days 1-21 of 28",
        "Renal insufficiency",
        _ORDER,
    ),
    Rule(
        "R-RENAL-MODERATE",
        "CrCl 30 to < 60 mL/min: lenalidomide 10 mg once daily; may increase to 15 mg after 2 cycles",
        "Renal insufficiency",
        _ORDER,
    ),
    Rule(
        "R-RENAL-SEVERE",
        "CrCl < 30 mL/min, not on dialysis: lenalidomide 15 mg every 48 hours",
        "Renal insufficiency",
        _ORDER,
    ),
    Rule(
        "R-RENAL-DIALYSIS",
        "End-stage renal disease on dialysis: lenalidomide 5 mg once daily, after dialysis on dialysis days",
        "Renal insufficiency",
        _ORDER,
    ),
    Rule("R-AGE-NOREDUCE", "No lenalidomide dose reduction for age or disease stage alone", "Elderly patients", _ORDER),
    Rule(
        "R-CYTO-START",
        "ANC < 1,000/uL or platelets < 50,000/uL (< 30,000/uL with heavy marrow infiltration) at start: one dose step lower, weekly CBC, G-CSF/transfusion as needed",
        "Cytopenia",
        _ORDER,
    ),
    Rule(
        "R-NEUT-DELAY",
        "ANC < 1,000/uL at the start of a new cycle: delay lenalidomide 1 week; the cycle is not started (no one-click dose change) until ANC >= 1,000/uL",
        "Hematologic toxicities",
        _ALL,
    ),
    Rule(
        "R-NEUT-SEVERE",
        "ANC < 500/uL: interrupt lenalidomide, add G-CSF, continue dexamethasone unless contraindicated",
        "Hematologic toxicities",
        _ALL,
    ),
    Rule(
        "R-NEUT-RESUME",
        "Resume when ANC >= 1,000/uL; if ANC stays < 1,000/uL reduce one dose step",
        "Hematologic toxicities",
        _ALL,
    ),
    Rule(
        "R-PLT-LOW",
        "Platelets < 30,000/uL: platelet transfusion, interruption or dose modification, or discontinuation",
        "Hematologic toxicities",
        _ALL,
    ),
    Rule(
        "R-DEX-AGE",
        "Age-adjusted dexamethasone: > 75 y 20 mg weekly; 65-75 y 40 mg weekly; < 65 y 40 mg weekly",
        "Dexamethasone: dose and schedule",
        _ORDER,
    ),
    Rule(
        "R-DEX-HIGH",
        "High-dose dexamethasone (480 mg/cycle) only for cord compression, hypercalcemia, pain, renal failure or aggressive disease; otherwise low-dose 40 mg d1,8,15,22",
        "Dexamethasone: dose and schedule",
        _ORDER,
    ),
    Rule(
        "R-VTE-HIGH",
        "Recent VTE (<= 6 months), immobilization or high-dose dexamethasone: LMWH for 4 cycles then aspirin; warfarin if CrCl < 30 or platelets < 50,000/uL",
        "Venous thromboembolism",
        _ALL,
    ),
    Rule(
        "R-VTE-STANDARD",
        "Other VTE risk factor and platelets >= 100,000/uL: aspirin 100 mg daily",
        "Venous thromboembolism",
        _ALL,
    ),
    Rule(
        "R-VTE-NONE",
        "No VTE risk factor or platelets < 100,000/uL: no prophylaxis, monitor VTE symptoms",
        "Venous thromboembolism",
        _ORDER,
    ),
    Rule(
        "R-VTE-IMPEDE",
        "IMPEDE VTE score shown for information; never changes the Table 3 recommendation",
        "Venous thromboembolism",
        _ALL,
    ),
    Rule(
        "R-VTE-ACTIVE",
        "Active DVT/PE before or during treatment: anticoagulation, LMWH preferred, after weighing bleeding risk (platelets < 50,000/uL: specialist decision, nothing one-click; dialysis: unfractionated heparin; CrCl < 30: once daily with anti-Xa monitoring)",
        "Pulmonary thromboembolism and deep vein thrombosis",
        _ALL,
    ),
    Rule(
        "R-INF-PROPH",
        "First 3 cycles with dexamethasone: antibiotic prophylaxis (TMP-SMX, quinolone or penicillin), doses by kidney function; warning when neutropenic now",
        "Infection and teratogenicity",
        _ALL,
    ),
    Rule("R-INF-VACCINE", "Consider influenza vaccination", "Infection and teratogenicity", _ORDER),
    Rule(
        "R-TERATO-F",
        "Childbearing potential (female, or sex unknown/other, under 55, without hysterectomy, bilateral oophorectomy or >= 24 months postmenopausal): exclude pregnancy, contraception 4 weeks before to 4 weeks after; pregnant: contraindicated, remove the draft",
        "Infection and teratogenicity",
        _ALL,
    ),
    Rule(
        "R-TERATO-M",
        "Male: condoms or abstinence during treatment and 1 week after",
        "Infection and teratogenicity",
        _ORDER,
    ),
    Rule("R-MON-CBC", "CBC every 2 weeks for the first 3 cycles, then every 4 weeks", "Dose and schedule", _VIEW),
    Rule(
        "R-MON-LFT-TFT",
        "Liver and thyroid function monitored during lenalidomide (ALT/AST and TSH within 3 months)",
        "Other adverse events",
        _VIEW,
    ),
    Rule(
        "R-RENAL-IMPROVED",
        "On a renally reduced dose (a renal-tier dose chosen at an earlier, lower clearance) and CrCl now in a higher tier: dose can be increased with caution; never after a toxicity reduction",
        "Renal insufficiency",
        _VIEW,
    ),
    Rule("R-SPM", "Follow up for second primary malignancies", "Secondary primary malignancies", _VIEW),
    Rule(
        "R-IND-PRIOR",
        "Indicated after >= 1 prior therapy; no prior myeloma therapy on record",
        "Indication and timing",
        _ORDER,
    ),
    Rule(
        "R-REIMB-KR",
        "Korean reimbursement criteria in force on the evaluation date (from 2013-03-01)",
        "Indication and timing",
        _ORDER,
    ),
)

RULES_BY_ID: dict[str, Rule] = {rule.id: rule for rule in RULES}


def rule(rule_id: str) -> Rule:
    """The rule of that id; a KeyError is a programming error (an id not in the table)."""
    return RULES_BY_ID[rule_id]

"""The sandbox's synthetic patients: each one's clinical story, the rules it is meant to fire
(and must not fire), and loaders that date its record for any day.

Every patient is a FHIR R4 Bundle (type collection) in ``patients/<slug>.json``, written as
seen on the anchor date ``ANCHOR`` (2026-11-25 09:00 KST): labs a few days before it, past
therapies months before. ``load_bundle`` moves every date by whole days so that the clinical
picture — ages, how old each lab is, how far into a cycle — is the same on any day. The
draft orders of the hook are the MedicationRequests with status ``draft``; everything else
is what an EHR's FHIR server would hold.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

PATIENTS_DIR = Path(__file__).resolve().parent / "patients"

ANCHOR = datetime(2026, 11, 25, 9, 0, tzinfo=timezone(timedelta(hours=9)))
"""The moment every bundle is written for (its ``Bundle.timestamp``)."""
ANCHOR_DATE = ANCHOR.date()

USER_ID = "Practitioner/sandbox-clinician"
HOOKS = ("order-select", "order-sign", "patient-view")
ORDER_HOOKS = ("order-select", "order-sign")

PREFETCH_RESOURCE_TYPES: dict[str, str] = {
    "patient": "Patient",
    "observations": "Observation",
    "conditions": "Condition",
    "medications": "MedicationRequest",
    "procedures": "Procedure",
}
"""Prefetch key → the resource type it holds (the service's discovery uses the same keys)."""

DATE_KEYS = frozenset(
    {
        # The date, dateTime and instant elements the bundles use (and a few more an editor may add):
        # Patient, Observation, Condition, Procedure, MedicationRequest, Period, Meta, Bundle.
        "birthDate",
        "deceasedDateTime",
        "effectiveDateTime",
        "effectiveInstant",
        "issued",
        "onsetDateTime",
        "abatementDateTime",
        "recordedDate",
        "assertedDate",
        "performedDateTime",
        "occurrenceDateTime",
        "authoredOn",
        "dateWritten",
        "start",
        "end",
        "event",
        "timestamp",
        "lastUpdated",
        "date",
    }
)
_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2})(T.*)?$")


@dataclass(frozen=True)
class PatientStory:
    """What a sandbox patient is for.

    ``expected_rules``: rule ids that must appear on the cards (``org.lenadex.rules``) of at
    least one of ``hooks``; ``must_not_fire``: rule ids that must appear on no card of any of
    ``hooks``. Rules in neither list are not part of the story (e.g. the always-on
    informational cards).
    """

    slug: str
    story: str
    expected_rules: tuple[str, ...]
    must_not_fire: tuple[str, ...]
    hooks: tuple[str, ...] = ORDER_HOOKS


_ORDER_AND_VIEW = ("patient-view", "order-select", "order-sign")
_VIEW = ("patient-view",)

_STORIES = (
    PatientStory(
        "normal-renal",
        "58 y man, relapsed after bortezomib-dexamethasone; CrCl 91.1 mL/min (72 kg, creatinine "
        "0.90 mg/dL), CBC normal, no VTE risk factor, aspirin and levofloxacin prophylaxis already "
        "active; draft lenalidomide 25 mg d1-21/28 + dexamethasone 40 mg d1,8,15,22/28. The clean "
        "order: no dose, dexamethasone, prophylaxis or indication card.",
        ("R-TERATO-M",),
        (
            "R-RENAL-NORMAL",
            "R-RENAL-MODERATE",
            "R-RENAL-SEVERE",
            "R-RENAL-DIALYSIS",
            "R-DATA-RENAL",
            "R-AGE-NOREDUCE",
            "R-CYTO-START",
            "R-NEUT-DELAY",
            "R-NEUT-SEVERE",
            "R-NEUT-RESUME",
            "R-PLT-LOW",
            "R-DEX-AGE",
            "R-DEX-HIGH",
            "R-VTE-HIGH",
            "R-VTE-STANDARD",
            "R-VTE-ACTIVE",
            "R-INF-PROPH",
            "R-TERATO-F",
            "R-IND-PRIOR",
            "R-REIMB-KR",
        ),
    ),
    PatientStory(
        "moderate-renal",
        "72 y woman, 55 kg, creatinine 1.30 mg/dL → CrCl 34.0 mL/min (moderate); CBC normal; "
        "prior bortezomib-melphalan-prednisone; draft lenalidomide 25 mg daily d1-21/28 → dose "
        "card: 10 mg once daily. CrCl < 60 is also a VTE risk factor → aspirin.",
        ("R-CRCL-CG", "R-RENAL-MODERATE", "R-VTE-STANDARD"),
        (
            "R-DATA-RENAL",
            "R-RENAL-NORMAL",
            "R-RENAL-SEVERE",
            "R-RENAL-DIALYSIS",
            "R-CYTO-START",
            "R-AGE-NOREDUCE",
            "R-DEX-AGE",
            "R-DEX-HIGH",
            "R-VTE-HIGH",
            "R-VTE-NONE",
            "R-TERATO-F",
            "R-TERATO-M",
            "R-IND-PRIOR",
            "R-REIMB-KR",
        ),
    ),
    PatientStory(
        "kr-core-moderate-renal",
        "The moderate-renal story coded the KR Core way (HL7 Korea): 72 y woman, 55 kg, creatinine "
        "1.30 mg/dL → CrCl 34.0 mL/min (moderate); myeloma only as a KCD-8 diagnosis (C90.0); orders "
        "coded by HIRA EDI (no product code given) and ATC, with the KR Core ingredient extension "
        "(ATC), no RxNorm; no race extension on the Patient. Draft "
        "lenalidomide 25 mg daily d1-21/28 → dose card: 10 mg once daily.",
        ("R-CRCL-CG", "R-RENAL-MODERATE"),
        (
            "R-DATA-RENAL",
            "R-RENAL-NORMAL",
            "R-RENAL-SEVERE",
            "R-RENAL-DIALYSIS",
            "R-CYTO-START",
            "R-AGE-NOREDUCE",
            "R-DEX-AGE",
            "R-DEX-HIGH",
            "R-VTE-HIGH",
            "R-VTE-NONE",
            "R-TERATO-F",
            "R-TERATO-M",
            "R-IND-PRIOR",
            "R-REIMB-KR",
        ),
    ),
    PatientStory(
        "moderate-renal-boundary",
        "62 y woman, 68 kg, creatinine 1.05 mg/dL → CrCl 59.63 mL/min (70.2 without the female "
        "factor): just below 60, so moderate; draft lenalidomide 25 mg → 10 mg card, aspirin for "
        "CrCl < 60.",
        ("R-CRCL-CG", "R-RENAL-MODERATE", "R-VTE-STANDARD"),
        ("R-RENAL-NORMAL", "R-RENAL-SEVERE", "R-DATA-RENAL", "R-VTE-NONE", "R-TERATO-F", "R-TERATO-M"),
    ),
    PatientStory(
        "normal-renal-boundary",
        "68 y man, 60 kg, creatinine 1.00 mg/dL → CrCl exactly 60.0 mL/min: normal tier, so the "
        "draft lenalidomide 25 mg d1-21/28 matches (no dose card); CrCl is not < 60, so no VTE "
        "risk factor either → no prophylaxis.",
        ("R-VTE-NONE", "R-TERATO-M"),
        (
            "R-RENAL-NORMAL",
            "R-RENAL-MODERATE",
            "R-RENAL-SEVERE",
            "R-DATA-RENAL",
            "R-AGE-NOREDUCE",
            "R-CYTO-START",
            "R-VTE-STANDARD",
            "R-VTE-HIGH",
            "R-TERATO-F",
        ),
    ),
    PatientStory(
        "severe-renal",
        "66 y man with myeloma kidney (CKD stage 4, not on dialysis), 68 kg, creatinine 3.10 mg/dL "
        "→ CrCl 22.5 mL/min; draft lenalidomide 25 mg daily → 15 mg every 48 hours; renal disease "
        "→ aspirin.",
        ("R-CRCL-CG", "R-RENAL-SEVERE", "R-VTE-STANDARD", "R-TERATO-M"),
        (
            "R-RENAL-DIALYSIS",
            "R-RENAL-MODERATE",
            "R-RENAL-NORMAL",
            "R-DATA-RENAL",
            "R-CYTO-START",
            "R-VTE-HIGH",
            "R-VTE-NONE",
        ),
    ),
    PatientStory(
        "dialysis",
        "61 y woman with end-stage renal disease on hemodialysis (N18.6, Z99.2, hemodialysis "
        "sessions 2, 4 and 6 days ago; creatinine 6.8 mg/dL, CrCl 8.0 mL/min is not the guide); "
        "draft lenalidomide 25 mg → 5 mg daily, after dialysis on dialysis days.",
        ("R-RENAL-DIALYSIS", "R-VTE-STANDARD"),
        (
            "R-RENAL-SEVERE",
            "R-RENAL-MODERATE",
            "R-RENAL-NORMAL",
            "R-DATA-RENAL",
            "R-VTE-NONE",
            "R-TERATO-F",
            "R-TERATO-M",
        ),
    ),
    PatientStory(
        "stale-creatinine",
        "63 y man; last creatinine (0.90 mg/dL) is 45 days old, no eGFR or measured CrCl; weight "
        "and CBC are fresh; draft lenalidomide 25 mg → 'renal function unknown, order creatinine', "
        "no dose suggested.",
        ("R-DATA-RENAL",),
        ("R-RENAL-NORMAL", "R-RENAL-MODERATE", "R-RENAL-SEVERE", "R-RENAL-DIALYSIS", "R-CYTO-START"),
    ),
    PatientStory(
        "creatinine-umol",
        "68 y woman, 60 kg, creatinine reported as 115 umol/L (LOINC 14682-9) = 1.30 mg/dL → CrCl "
        "39.2 mL/min: moderate tier (read as 115 mg/dL it would wrongly be severe); draft 25 mg → "
        "10 mg card.",
        ("R-CRCL-CG", "R-RENAL-MODERATE"),
        ("R-RENAL-SEVERE", "R-RENAL-NORMAL", "R-RENAL-DIALYSIS", "R-DATA-RENAL"),
    ),
    PatientStory(
        "egfr-only",
        "70 y man with no body weight on record; creatinine 1.60 mg/dL and eGFR (CKD-EPI, 62238-1) "
        "45 mL/min/1.73 m2, both fresh → Cockcroft-Gault impossible, eGFR substituted (said on the "
        "card) → moderate, 10 mg.",
        ("R-RENAL-MODERATE",),
        ("R-DATA-RENAL", "R-RENAL-NORMAL", "R-RENAL-SEVERE", "R-RENAL-DIALYSIS"),
    ),
    PatientStory(
        "cytopenia-start",
        "60 y man, CrCl 96.3 mL/min (normal) but ANC 0.8 ×10^3/uL (800/uL) at start, platelets "
        "140 ×10^3/uL; draft lenalidomide 25 mg → one step lower, 15 mg, weekly CBC.",
        ("R-CRCL-CG", "R-CYTO-START"),
        (
            "R-RENAL-MODERATE",
            "R-RENAL-SEVERE",
            "R-RENAL-DIALYSIS",
            "R-DATA-RENAL",
            "R-NEUT-SEVERE",
            "R-PLT-LOW",
            "R-AGE-NOREDUCE",
        ),
    ),
    PatientStory(
        "severe-neutropenia",
        "67 y man in cycle 2 of lenalidomide 25 mg (active order 17 days old); ANC fell 3.1 → 1.8 "
        "→ 0.4 ×10^3/uL yesterday → interrupt lenalidomide, add G-CSF (patient-view); the draft "
        "for cycle 3 → delay 1 week.",
        ("R-NEUT-SEVERE", "R-NEUT-DELAY"),
        ("R-PLT-LOW", "R-VTE-ACTIVE", "R-DATA-RENAL", "R-TERATO-F", "R-MON-CBC", "R-MON-LFT-TFT"),
        _ORDER_AND_VIEW,
    ),
    PatientStory(
        "neutropenia-persisting",
        "64 y woman in cycle 4 of lenalidomide 25 mg; lenalidomide held for ANC 0.8 ×10^3/uL a "
        "week ago, ANC still 0.9 today (two counts < 1,000/uL) → resume one step lower (15 mg); "
        "draft for cycle 5 at 25 mg.",
        ("R-NEUT-RESUME",),
        (
            "R-NEUT-SEVERE",
            "R-PLT-LOW",
            "R-DATA-RENAL",
            "R-TERATO-F",
            "R-TERATO-M",
            "R-MON-CBC",
            "R-MON-LFT-TFT",
            "R-VTE-ACTIVE",
        ),
        _ORDER_AND_VIEW,
    ),
    PatientStory(
        "first-cycle-view",
        "66 y woman in cycle 1 of lenalidomide 25 mg (started 14 days ago), aspirin and blood "
        "counts normal: the chart opened in the first 30 days of a course shows the second "
        "primary malignancy follow-up reminder (R-SPM), which later openings of the year do not.",
        ("R-SPM", "R-INF-PROPH"),
        (
            "R-PLT-LOW",
            "R-NEUT-DELAY",
            "R-NEUT-SEVERE",
            "R-NEUT-RESUME",
            "R-VTE-ACTIVE",
            "R-MON-CBC",
            "R-RENAL-IMPROVED",
        ),
        _VIEW,
    ),
    PatientStory(
        "low-platelets",
        "66 y woman in cycle 2 of lenalidomide 25 mg; platelets 160 → 110 → 25 ×10^3/uL "
        "yesterday (aspirin stopped) → critical: transfusion, interruption or dose modification.",
        ("R-PLT-LOW",),
        (
            "R-NEUT-DELAY",
            "R-NEUT-SEVERE",
            "R-NEUT-RESUME",
            "R-VTE-ACTIVE",
            "R-MON-CBC",
            "R-MON-LFT-TFT",
            "R-RENAL-IMPROVED",
        ),
        _VIEW,
    ),
    PatientStory(
        "elderly-high-dex",
        "78 y man, CrCl 75.3 mL/min (normal), CBC normal; draft lenalidomide 15 mg (reduced for "
        "age only → 25 mg) and dexamethasone 40 mg weekly (> 75 y → 20 mg weekly); age ≥ 75 → "
        "aspirin.",
        ("R-CRCL-CG", "R-RENAL-NORMAL", "R-AGE-NOREDUCE", "R-DEX-AGE", "R-VTE-STANDARD"),
        (
            "R-RENAL-MODERATE",
            "R-RENAL-SEVERE",
            "R-DATA-RENAL",
            "R-CYTO-START",
            "R-DEX-HIGH",
            "R-VTE-HIGH",
            "R-VTE-NONE",
            "R-IND-PRIOR",
        ),
    ),
    PatientStory(
        "high-dose-dex-no-indication",
        "62 y man, CrCl 86.7 mL/min, calcium 9.4 mg/dL, no cord compression, pain, renal failure "
        "or aggressive disease; draft dexamethasone 40 mg d1-4,9-12,17-20/28 (480 mg/cycle) → "
        "low-dose card, and high-dose dexamethasone puts VTE prophylaxis in the LMWH tier.",
        ("R-DEX-HIGH", "R-VTE-HIGH", "R-VTE-IMPEDE"),
        (
            "R-DEX-AGE",
            "R-VTE-STANDARD",
            "R-VTE-NONE",
            "R-VTE-ACTIVE",
            "R-DATA-RENAL",
            "R-RENAL-MODERATE",
            "R-CYTO-START",
        ),
    ),
    PatientStory(
        "recent-dvt",
        "57 y woman; left-leg DVT 60 days ago (resolved), rivaroxaban course finished 2 weeks "
        "ago, no anticoagulant now; CrCl 86.8 mL/min, platelets 190 ×10^3/uL → LMWH "
        "(enoxaparin/dalteparin) for 4 cycles, then aspirin.",
        ("R-VTE-HIGH", "R-VTE-IMPEDE"),
        ("R-VTE-ACTIVE", "R-VTE-STANDARD", "R-VTE-NONE", "R-TERATO-F", "R-DATA-RENAL"),
    ),
    PatientStory(
        "vte-high-warfarin",
        "74 y man; pulmonary embolism 120 days ago (resolved, warfarin stopped a month ago), CKD "
        "stage 4 with CrCl 22.6 mL/min; draft lenalidomide already at 15 mg every 48 h → VTE "
        "high tier with CrCl < 30 → warfarin (INR 2-3) instead of LMWH.",
        ("R-VTE-HIGH",),
        (
            "R-VTE-STANDARD",
            "R-VTE-NONE",
            "R-VTE-ACTIVE",
            "R-RENAL-MODERATE",
            "R-RENAL-NORMAL",
            "R-RENAL-DIALYSIS",
            "R-DATA-RENAL",
            "R-DEX-AGE",
        ),
    ),
    PatientStory(
        "vte-standard",
        "76 y woman, 82 kg / 160 cm (BMI 32.0), CrCl 77.4 mL/min, platelets 230 ×10^3/uL, no "
        "anticoagulant; draft lenalidomide 25 mg + dexamethasone 20 mg weekly (right for > 75) → "
        "aspirin 100 mg daily.",
        ("R-VTE-STANDARD", "R-VTE-IMPEDE"),
        ("R-VTE-HIGH", "R-VTE-NONE", "R-DEX-AGE", "R-TERATO-F", "R-RENAL-MODERATE", "R-DATA-RENAL", "R-CYTO-START"),
    ),
    PatientStory(
        "vte-none",
        "55 y man, ECOG 0, BMI 24.2, CrCl 92.0 mL/min, platelets 250 ×10^3/uL, no VTE risk factor; "
        "draft coded only as the Revlimid 25 mg product (RxNorm 643722) + dexamethasone 40 mg "
        "weekly → no prophylaxis, monitor VTE symptoms.",
        ("R-VTE-NONE", "R-TERATO-M"),
        (
            "R-VTE-HIGH",
            "R-VTE-STANDARD",
            "R-VTE-ACTIVE",
            "R-DATA-RENAL",
            "R-RENAL-MODERATE",
            "R-RENAL-SEVERE",
            "R-CYTO-START",
            "R-IND-PRIOR",
        ),
    ),
    PatientStory(
        "active-dvt",
        "69 y man in cycle 2 of lenalidomide, on aspirin prophylaxis; right-leg DVT diagnosed 7 "
        "days ago (active), ECOG now 2, no anticoagulant yet → anticoagulate, LMWH preferred.",
        ("R-VTE-ACTIVE",),
        (
            "R-NEUT-DELAY",
            "R-NEUT-SEVERE",
            "R-NEUT-RESUME",
            "R-PLT-LOW",
            "R-MON-CBC",
            "R-MON-LFT-TFT",
            "R-RENAL-IMPROVED",
            "R-TERATO-F",
        ),
        _VIEW,
    ),
    PatientStory(
        "infection-risk",
        "66 y woman starting cycle 1 with dexamethasone; febrile neutropenia 5 months ago and "
        "pneumonia 3 months ago (both resolved), no antibiotic active → antibiotic prophylaxis "
        "at warning level; influenza vaccination.",
        ("R-INF-PROPH", "R-INF-VACCINE"),
        ("R-CYTO-START", "R-DATA-RENAL", "R-RENAL-MODERATE", "R-TERATO-F", "R-TERATO-M", "R-IND-PRIOR"),
    ),
    PatientStory(
        "woman-childbearing",
        "34 y woman, pregnancy test negative 2 days ago, CrCl 103.7 mL/min; draft lenalidomide 25 "
        "mg → exclude pregnancy, contraception or abstinence throughout treatment.",
        ("R-TERATO-F",),
        ("R-TERATO-M", "R-DATA-RENAL", "R-RENAL-MODERATE", "R-CYTO-START", "R-DEX-AGE"),
    ),
    PatientStory(
        "pregnant",
        "29 y woman with a positive pregnancy status yesterday (82810-3 = LA15173-0); draft "
        "lenalidomide 25 mg → critical: contraindicated.",
        ("R-TERATO-F",),
        ("R-TERATO-M", "R-DATA-RENAL", "R-CYTO-START"),
    ),
    PatientStory(
        "overdue-monitoring",
        "71 y man in cycle 5 of lenalidomide (started 4 months ago); last CBC, creatinine and "
        "weight 42 days ago, ALT/AST/TSH only at baseline 125 days ago → CBC overdue, liver and "
        "thyroid tests due.",
        ("R-MON-CBC", "R-MON-LFT-TFT"),
        (
            "R-SPM",
            "R-RENAL-IMPROVED",
            "R-NEUT-SEVERE",
            "R-NEUT-DELAY",
            "R-NEUT-RESUME",
            "R-PLT-LOW",
            "R-VTE-ACTIVE",
            "R-TERATO-F",
        ),
        _VIEW,
    ),
    PatientStory(
        "renal-improved",
        "64 y man started on renally reduced lenalidomide 10 mg 4 months ago (creatinine 1.80 "
        "mg/dL, CrCl 41.0); creatinine now 1.10 mg/dL, 70 kg → CrCl 67.2 mL/min (normal tier) → "
        "the dose can be increased with caution.",
        ("R-RENAL-IMPROVED",),
        (
            "R-MON-CBC",
            "R-MON-LFT-TFT",
            "R-DATA-RENAL",
            "R-NEUT-DELAY",
            "R-NEUT-SEVERE",
            "R-NEUT-RESUME",
            "R-PLT-LOW",
            "R-VTE-ACTIVE",
        ),
        _VIEW,
    ),
    PatientStory(
        "no-prior-therapy",
        "52 y man (ECOG 0, a transplant candidate), myeloma diagnosed 5 weeks ago, only a "
        "dexamethasone pulse so far (does not count as a prior therapy); draft lenalidomide 25 "
        "mg → not yet indicated, outside the Korean reimbursement criteria.",
        ("R-IND-PRIOR", "R-REIMB-KR"),
        ("R-DATA-RENAL", "R-RENAL-MODERATE", "R-RENAL-SEVERE", "R-CYTO-START", "R-TERATO-F", "R-DEX-HIGH", "R-DEX-AGE"),
    ),
    PatientStory(
        "active-dvt-low-platelets",
        "63 y man in cycle 2 of lenalidomide 25 mg; left-leg DVT 10 days ago (active), aspirin "
        "stopped then, no anticoagulant; platelets 185 → 45 → 20 ×10^3/uL yesterday, CrCl 83.0 "
        "mL/min; draft for cycle 3 → critical: anticoagulation needs a specialist decision (no "
        "one-click anticoagulant against platelets < 50,000/uL), and platelets < 30,000/uL hold "
        "the cycle.",
        ("R-VTE-ACTIVE", "R-PLT-LOW"),
        (
            "R-NEUT-DELAY",
            "R-NEUT-SEVERE",
            "R-NEUT-RESUME",
            "R-CYTO-START",
            "R-DATA-RENAL",
            "R-RENAL-MODERATE",
            "R-RENAL-SEVERE",
            "R-RENAL-DIALYSIS",
            "R-RENAL-IMPROVED",
            "R-MON-CBC",
            "R-MON-LFT-TFT",
            "R-TERATO-F",
        ),
        _ORDER_AND_VIEW,
    ),
    PatientStory(
        "ckd5-not-on-dialysis",
        "68 y man with CKD stage 5 (N18.5) and no dialysis condition or procedure, 63 kg, "
        "creatinine 5.20 mg/dL → CrCl 12.1 mL/min; draft lenalidomide 25 mg → 15 mg every 48 "
        "hours (CKD stage 5 is not dialysis); renal disease → aspirin.",
        ("R-CRCL-CG", "R-RENAL-SEVERE", "R-VTE-STANDARD"),
        (
            "R-RENAL-DIALYSIS",
            "R-RENAL-MODERATE",
            "R-RENAL-NORMAL",
            "R-DATA-RENAL",
            "R-CYTO-START",
            "R-VTE-HIGH",
            "R-VTE-NONE",
        ),
    ),
    PatientStory(
        "old-aki-dialysis",
        "60 y man whose myeloma presented 2 years ago with acute kidney injury (N17.9, resolved) "
        "treated with three hemodialysis sessions; kidney function recovered: 63 kg, creatinine "
        "1.00 mg/dL → CrCl 70.0 mL/min; draft lenalidomide 25 mg matches the normal tier → no "
        "dose card (dialysis 2 years ago is history, not a tier).",
        ("R-TERATO-M",),
        (
            "R-RENAL-DIALYSIS",
            "R-RENAL-SEVERE",
            "R-RENAL-MODERATE",
            "R-RENAL-NORMAL",
            "R-DATA-RENAL",
            "R-CYTO-START",
            "R-TERATO-F",
        ),
    ),
    PatientStory(
        "toxicity-reduced-dose",
        "58 y man on lenalidomide 15 mg (cycle 2): cycle 1 at 25 mg was held on day 15 for "
        "agranulocytosis (ANC 0.3 ×10^3/uL, resolved) and the dose reduced one step; creatinine "
        "0.88-0.91 mg/dL for 5 months, 68 kg → CrCl 86.0 mL/min, CBC now normal; draft for cycle 3 "
        "at 15 mg. A toxicity reduction: no dose-increase or renal-improvement card; antibiotic "
        "prophylaxis at warning level after the neutropenia.",
        ("R-INF-PROPH",),
        (
            "R-RENAL-IMPROVED",
            "R-RENAL-NORMAL",
            "R-RENAL-MODERATE",
            "R-RENAL-SEVERE",
            "R-RENAL-DIALYSIS",
            "R-AGE-NOREDUCE",
            "R-CYTO-START",
            "R-DATA-RENAL",
            "R-NEUT-DELAY",
            "R-NEUT-SEVERE",
            "R-NEUT-RESUME",
            "R-PLT-LOW",
            "R-MON-CBC",
            "R-MON-LFT-TFT",
            "R-VTE-ACTIVE",
            "R-TERATO-F",
        ),
        _ORDER_AND_VIEW,
    ),
    PatientStory(
        "ambiguous-creatinine",
        "68 y man, 70 kg; two final creatinine results with the same effectiveDateTime yesterday, "
        "1.00 and 2.40 mg/dL (CrCl 70.0 or 29.2 mL/min: normal or severe); draft lenalidomide 25 "
        "mg → ambiguous: no dose, the card shows both values and asks which is right.",
        ("R-DATA-RENAL",),
        ("R-CRCL-CG", "R-RENAL-NORMAL", "R-RENAL-MODERATE", "R-RENAL-SEVERE", "R-RENAL-DIALYSIS", "R-CYTO-START"),
    ),
    PatientStory(
        "sex-unknown-45",
        "45 y patient with Patient.gender 'unknown', no pregnancy test on record, 65 kg, "
        "creatinine 0.80 mg/dL → CrCl 107.2 mL/min (91.1 with the female factor: normal either "
        "way); draft lenalidomide 25 mg → pregnancy precautions as for a woman of childbearing "
        "potential, not the male advice.",
        ("R-TERATO-F",),
        ("R-TERATO-M", "R-DATA-RENAL", "R-RENAL-NORMAL", "R-RENAL-MODERATE", "R-RENAL-SEVERE", "R-CYTO-START"),
    ),
)

PATIENTS: dict[str, PatientStory] = {story.slug: story for story in _STORIES}


# --- the record, dated for a day ---------------------------------------------------------


def load_bundle(slug: str, today: date | None = None) -> dict[str, Any]:
    """The patient's Bundle with every date moved by (today − anchor date) whole days."""
    if slug not in PATIENTS:
        raise KeyError(f"unknown sandbox patient {slug!r}")
    bundle = json.loads((PATIENTS_DIR / f"{slug}.json").read_text(encoding="utf-8"))
    days = ((today or date.today()) - ANCHOR_DATE).days
    shifted: dict[str, Any] = _shift_dates(bundle, days)
    return shifted


def _shift_dates(node: Any, days: int) -> Any:
    if isinstance(node, dict):
        return {
            key: _shift_value(value, days) if key in DATE_KEYS else _shift_dates(value, days)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_shift_dates(item, days) for item in node]
    return node


def _shift_value(value: Any, days: int) -> Any:
    if isinstance(value, str):
        return shift_date(value, days)
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return [shift_date(item, days) for item in value]
    return _shift_dates(value, days)


def shift_date(value: str, days: int) -> str:
    """'2026-11-23T08:30:00+09:00' moved by whole days, time and offset kept.

    Partial dates ('2026', '2026-11') have no day to move, so the bundles do not use them.
    """
    match = _DATE.match(value)
    if match is None:
        raise ValueError(f"not a full FHIR date/dateTime/instant: {value!r}")
    moved = date.fromisoformat(match.group(1)) + timedelta(days=days)
    return moved.isoformat() + (match.group(2) or "")


def _resources(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return [entry["resource"] for entry in bundle.get("entry", [])]


def _is_draft(resource: dict[str, Any]) -> bool:
    return resource["resourceType"] == "MedicationRequest" and resource.get("status") == "draft"


def fhir_resources(slug: str, today: date | None = None) -> list[dict[str, Any]]:
    """Every resource of the record except the draft orders (what a FHIR server would hold)."""
    return [r for r in _resources(load_bundle(slug, today)) if not _is_draft(r)]


def draft_orders(slug: str, today: date | None = None) -> list[dict[str, Any]]:
    """The unsigned orders the clinician is writing (the hook's draftOrders)."""
    return [r for r in _resources(load_bundle(slug, today)) if _is_draft(r)]


# --- CDS Hooks requests --------------------------------------------------------------------


def hook_request(
    slug: str,
    hook: str,
    *,
    today: date | None = None,
    with_prefetch: bool = True,
    fhir_server: str | None = None,
    hook_instance: str | None = None,
) -> dict[str, Any]:
    """A CDS Hooks 2.0.1 request for this patient, as an EHR would send it.

    order-select selects the lenalidomide draft (or the first draft when there is none);
    order-sign sends the drafts only; patient-view sends no drafts. ``hook_instance``
    defaults to a fresh uuid4.
    """
    if hook not in HOOKS:
        raise ValueError(f"unsupported hook {hook!r}; expected one of {', '.join(HOOKS)}")
    resources = _resources(load_bundle(slug, today))
    drafts = [r for r in resources if _is_draft(r)]
    record = [r for r in resources if not _is_draft(r)]

    context: dict[str, Any] = {"userId": USER_ID, "patientId": slug}
    if hook in ORDER_HOOKS:
        if not drafts:
            raise ValueError(f"sandbox patient {slug!r} has no draft orders for {hook}")
        if hook == "order-select":
            selected = next((r for r in drafts if _is_lenalidomide(r)), drafts[0])
            context["selections"] = [f"MedicationRequest/{selected['id']}"]
        context["draftOrders"] = {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"resource": r} for r in drafts],
        }

    request: dict[str, Any] = {
        "hookInstance": hook_instance or str(uuid.uuid4()),
        "hook": hook,
    }
    if fhir_server:
        request["fhirServer"] = fhir_server
    request["context"] = context
    if with_prefetch:
        request["prefetch"] = _prefetch(record, fhir_server)
    return request


def _is_lenalidomide(resource: dict[str, Any]) -> bool:
    concept = resource.get("medicationCodeableConcept", {})
    names = [concept.get("text", "")] + [c.get("display", "") for c in concept.get("coding", [])]
    return any("lenalidomide" in name.lower() for name in names)


def _prefetch(record: list[dict[str, Any]], fhir_server: str | None) -> dict[str, Any]:
    prefetch: dict[str, Any] = {}
    for key, resource_type in PREFETCH_RESOURCE_TYPES.items():
        matching = [r for r in record if r["resourceType"] == resource_type]
        if key == "patient":
            prefetch[key] = matching[0]
        else:
            prefetch[key] = _searchset(matching, fhir_server)
    return prefetch


def _searchset(resources: list[dict[str, Any]], fhir_server: str | None) -> dict[str, Any]:
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "total": len(resources)}
    entries = []
    for resource in resources:
        entry: dict[str, Any] = {}
        if fhir_server:
            entry["fullUrl"] = f"{fhir_server.rstrip('/')}/{resource['resourceType']}/{resource['id']}"
        entry["resource"] = resource
        entry["search"] = {"mode": "match"}
        entries.append(entry)
    if entries:  # CDS Hooks/FHIR JSON: an absent list is omitted, never []
        bundle["entry"] = entries
    return bundle

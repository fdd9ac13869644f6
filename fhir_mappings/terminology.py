"""Every code the mappings recognise, declared once (CLINICAL_RULES.md §1, CODES.md).

Observations are matched by LOINC only: a local code, or a SNOMED code on a lab result, is not
enough to know what was measured or in which specimen (Observation-f204 of the HL7 examples is a
creatinine under a local code, and it stays unused). Medications, conditions and procedures are
matched by code first and by words second, because orders and problem lists often carry only
product codes, local codes or free text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# --- code systems -------------------------------------------------------------------------

LOINC_SYSTEMS = frozenset({"http://loinc.org", "urn:oid:2.16.840.1.113883.6.1"})
SNOMED_SYSTEMS = frozenset({"http://snomed.info/sct", "urn:oid:2.16.840.1.113883.6.96"})
# KCD-8 (통계청 제8차 한국표준질병·사인분류, the Korean modification of ICD-10) as KR Core
# names it: CodeSystem kostat-kcd-8, official URL http://www.hl7korea.or.kr/CodeSystem/kostat-kcd-8
# (https://build.fhir.org/ig/hl7korea/krocre/CodeSystem-kostat-kcd-8.html; NamingSystem
# ns-kostat-kcd-8). KR Core 1.0.1 published it as .../fhir/krcore/CodeSystem/kostat-kcd-8, changed
# in 1.0.2 (KR Core change log 1.0.2), so records written to the older guide still carry that
# URL. KCD codes keep ICD-10's letters, categories and subdivisions (C90.0, Z99.2, I26, I80, I82
# …), so they are matched with the ICD-10 prefixes below; a longer Korean subdivision, where KCD
# has one, still starts with its ICD-10 prefix. The KR Core Condition profiles bind
# Condition.code to this system (ValueSet krcore-kcd8-codes, required).
KCD8_SYSTEMS = frozenset(
    {
        "http://www.hl7korea.or.kr/CodeSystem/kostat-kcd-8",
        "http://www.hl7korea.or.kr/fhir/krcore/CodeSystem/kostat-kcd-8",
    }
)
ICD10_SYSTEMS = (
    frozenset(
        {
            "http://hl7.org/fhir/sid/icd-10-cm",
            "http://hl7.org/fhir/sid/icd-10",
            "urn:oid:2.16.840.1.113883.6.90",
            "urn:oid:2.16.840.1.113883.6.3",
        }
    )
    | KCD8_SYSTEMS
)
ICD10_PCS_SYSTEMS = frozenset({"http://www.cms.gov/Medicare/Coding/ICD10", "urn:oid:2.16.840.1.113883.6.4"})
CPT_SYSTEMS = frozenset({"http://www.ama-assn.org/go/cpt", "urn:oid:2.16.840.1.113883.6.12"})
RXNORM_SYSTEMS = frozenset({"http://www.nlm.nih.gov/research/umls/rxnorm", "urn:oid:2.16.840.1.113883.6.88"})
# KR Core uses http://www.whocc.no/atc for ATC (ValueSet krcore-atc-codes, which binds
# Medication.ingredient.itemCodeableConcept and the krcore-medicationIngredient extension).
ATC_SYSTEMS = frozenset({"http://www.whocc.no/atc", "urn:oid:2.16.840.1.113883.6.73"})
# Korean product codes, as KR Core names them (https://build.fhir.org/ig/hl7korea/krocre/terminology.html):
# - HIRA EDI 약제 코드 (건강보험심사평가원 EDI medication codes, the 9-digit product codes of claims):
#   CodeSystem hira-edi-medication, http://www.hl7korea.or.kr/CodeSystem/hira-edi-medication
#   (CodeSystem-hira-edi-medication.html; .../fhir/krcore/CodeSystem/hira-edi-medication before
#   KR Core 1.0.2, change log 1.0.2).
# - KD 코드 (의약품관리종합정보센터 Korea Drug Code): CodeSystem kpis-kdcode,
#   http://www.hl7korea.or.kr/CodeSystem/kpis-kdcode; its NamingSystem ns-kpis-kdcode also lists
#   https://biz.kpis.or.kr/CodeSystem/kdcode, the KR Core draft's URI
#   (NamingSystem-ns-kpis-kdcode.html), and 1.0.1 used .../fhir/krcore/CodeSystem/kpis-kdcode.
# Both name products, not ingredients, and neither system publishes its concepts in KR Core
# (content not-present). The drug of such an order is read from the ATC coding sent with it, from
# Medication.ingredient (KR Core Medication: ingredient 1..*, ATC preferred) or from the
# krcore-medicationIngredient extension (KR_CORE_MEDICATION_INGREDIENT_URL): a HIRA or KD code
# alone is never mapped to a drug here (see DRUG_BY_HIRA_INGREDIENT).
HIRA_EDI_MEDICATION_SYSTEMS = frozenset(
    {
        "http://www.hl7korea.or.kr/CodeSystem/hira-edi-medication",
        "http://www.hl7korea.or.kr/fhir/krcore/CodeSystem/hira-edi-medication",
    }
)
KD_CODE_SYSTEMS = frozenset(
    {
        "http://www.hl7korea.or.kr/CodeSystem/kpis-kdcode",
        "https://biz.kpis.or.kr/CodeSystem/kdcode",
        "http://www.hl7korea.or.kr/fhir/krcore/CodeSystem/kpis-kdcode",
    }
)
KR_DRUG_PRODUCT_SYSTEMS: dict[str, str] = {
    **{system: "HIRA EDI" for system in HIRA_EDI_MEDICATION_SYSTEMS},
    **{system: "KD" for system in KD_CODE_SYSTEMS},
}
"""Known Korean product code systems → how a note names them ('HIRA EDI code 123456789')."""
# KR Core MedicationRequest: a medicationCodeableConcept SHALL carry the ingredient (ATC preferred)
# in this extension, valueCodeableConcept (StructureDefinition-krcore-medicationIngredient.html;
# the search parameter ingredient-code reads
# MedicationRequest.medication.ofType(CodeableConcept).extension(<this URL>).value).
KR_CORE_MEDICATION_INGREDIENT_URL = (
    "http://www.hl7korea.or.kr/fhir/krcore/StructureDefinition/krcore-medicationIngredient"
)
EDQM_SYSTEMS = frozenset({"http://standardterms.edqm.eu"})
UCUM_SYSTEM = "http://unitsofmeasure.org"


# --- observations (LOINC) -----------------------------------------------------------------


@dataclass(frozen=True)
class LabKind:
    """One thing the rules measure. ``name`` is the PatientSnapshot field it fills."""

    name: str
    label: str
    """How notes and cards name it ('ANC', 'creatinine')."""
    loinc: frozenset[str]


CREATININE = LabKind("creatinine", "creatinine", frozenset({"2160-0", "38483-4", "14682-9", "77140-2", "59826-8"}))
# 2164-2 is a 24-hour urine clearance, 33558-8 of unspecified duration, 35591-7 the
# Cockcroft-Gault prediction reported by some laboratories.
MEASURED_CRCL = LabKind("measured_crcl", "creatinine clearance", frozenset({"2164-2", "33558-8", "35591-7"}))
EGFR = LabKind(
    "egfr",
    "eGFR",
    frozenset({"33914-3", "48642-3", "48643-1", "77147-7", "62238-1", "98979-8", "69405-9"}),
)
# 770-8 is neutrophils as a percentage of leukocytes: not an absolute count, so not here.
ANC = LabKind("anc", "ANC", frozenset({"751-8", "26499-4", "753-4"}))
PLATELETS = LabKind("platelets", "platelets", frozenset({"777-3", "26515-7", "778-1", "49497-1"}))
WEIGHT = LabKind("weight", "body weight", frozenset({"29463-7"}))
HEIGHT = LabKind("height", "body height", frozenset({"8302-2"}))
BMI = LabKind("bmi", "BMI", frozenset({"39156-5"}))
ECOG = LabKind("ecog", "ECOG performance status", frozenset({"89247-1"}))
PREGNANCY_STATUS = LabKind("pregnancy_test", "pregnancy status", frozenset({"82810-3"}))
ALT = LabKind("alt", "ALT", frozenset({"1742-6"}))
AST = LabKind("ast", "AST", frozenset({"1920-8"}))
TSH = LabKind("tsh", "TSH", frozenset({"3016-3"}))

LAB_KINDS: tuple[LabKind, ...] = (
    CREATININE, MEASURED_CRCL, EGFR, ANC, PLATELETS, WEIGHT, HEIGHT, BMI, ECOG,
    PREGNANCY_STATUS, ALT, AST, TSH,
)  # fmt: skip

# Declared for completeness of the guideline's inputs; the snapshot has no field for them yet.
INR_LOINC = frozenset({"6301-6", "34714-6"})
HEMOGLOBIN_LOINC = frozenset({"718-7"})

LAB_KIND_BY_LOINC: dict[str, LabKind] = {code: kind for kind in LAB_KINDS for code in kind.loinc}

OBSERVATION_LOINC_CODES: tuple[str, ...] = tuple(code for kind in LAB_KINDS for code in sorted(kind.loinc))
"""The LOINC codes the rules read, for the prefetch query (service/declarations.py)."""

# ECOG answer list LL529-9: LA9622-7 … LA9627-6 are grades 0 … 5.
ECOG_ANSWERS: dict[str, int] = {
    "LA9622-7": 0,
    "LA9623-5": 1,
    "LA9624-3": 2,
    "LA9625-0": 3,
    "LA9626-8": 4,
    "LA9627-6": 5,
}

# Pregnancy status answers (LOINC answer codes and their SNOMED equivalents): 1 pregnant, 0 not.
PREGNANCY_ANSWERS: dict[str, float] = {
    "LA15173-0": 1.0,
    "77386006": 1.0,
    "LA26683-5": 0.0,
    "60001007": 0.0,
}


# --- words --------------------------------------------------------------------------------


def words(*phrases: str) -> re.Pattern[str]:
    """A case-insensitive whole-word pattern for any of the phrases.

    Phrases are regular expressions; a space in a phrase also matches a hyphen or several
    spaces ('deep vein thrombosis' matches 'deep-vein  thrombosis').
    """
    alternatives = "|".join(phrase.replace(" ", r"[\s\-]+") for phrase in phrases)
    return re.compile(rf"(?<![\w-])(?:{alternatives})(?![\w])", re.IGNORECASE)


# A problem-list text that denies or doubts the condition names it without having it; a family
# history is someone else's.
NEGATED_TEXT = re.compile(
    r"^\s*(?:no|not|denies|denied|negative for|absence of|absent|without|"
    r"rule[sd]? out|r/o|ruled out|possible|suspected|query|\?)\b|\bfamily (?:history|hx)\b|\bFH of\b",
    re.IGNORECASE,
)

# A negation earlier in the same clause as the matched words: "CKD stage 5, not on dialysis",
# "myeloma without renal failure", "TAH, no BSO". Read as findings, such words would put a
# patient in the dialysis dose tier, add a risk factor, or end the pregnancy precautions on an
# operation the text denies.
_CLAUSE_BREAK = re.compile(r"[,;:.()\[\]]")
_NEGATION_CUE = re.compile(r"\b(?:no|not|never|without|denies|denied|free of|negative for|pre)\b", re.IGNORECASE)


def negated_in_clause(text: str, start: int) -> bool:
    clause = _CLAUSE_BREAK.split(text[:start])[-1]
    return bool(_NEGATION_CUE.search(clause))


# A text that opens by recording a past event rather than a present condition.
PAST_TEXT = re.compile(
    r"^\s*(?:personal )?(?:history of|hx of|h/o|prior|previous|past|old|resolved|healed)\b",
    re.IGNORECASE,
)


# --- medications --------------------------------------------------------------------------


@dataclass(frozen=True)
class DrugTerms:
    """How a drug the rules care about is recognised on an order or a Medication."""

    key: str
    rxnorm: frozenset[str]
    """Ingredient codes, and product codes (SCD/SBD) where we know them."""
    atc: frozenset[str]
    names: re.Pattern[str]
    """Ingredient and brand names, whole words, any case."""


def _drug(key: str, rxnorm: set[str], atc: set[str], *names: str) -> DrugTerms:
    return DrugTerms(key, frozenset(rxnorm), frozenset(atc), words(*names))


# ATC codes as in the WHO ATC/DDD Index (https://atcddd.fhi.no/atc_ddd_index/, formerly
# https://www.whocc.no/atc_ddd_index/): L04AX Other immunosuppressants (thalidomide L04AX02,
# lenalidomide L04AX04, pomalidomide L04AX06), H02AB02 dexamethasone, B01AA03 warfarin, B01AB01
# heparin, B01AB04 dalteparin, B01AB05 enoxaparin, B01AC06 acetylsalicylic acid, B01AE07
# dabigatran etexilate, B01AF01-03 rivaroxaban, apixaban, edoxaban, B03XA01 erythropoietin,
# B03XA02 darbepoetin alfa, L03AA02 filgrastim, L03AA13 pegfilgrastim, J01MA02 ciprofloxacin,
# J01MA12 levofloxacin, J01MA14 moxifloxacin, J01EE01 sulfamethoxazole and trimethoprim, L01AA01
# cyclophosphamide, L01AA03 melphalan, L01DB01 doxorubicin. In 2022 the WHO moved the proteasome
# inhibitors to L01XG and the antineoplastic monoclonal antibodies from L01XC to L01F ("ATC level
# alterations", https://atcddd.fhi.no/lists_of__temporary_atc_ddds_and_alterations/atc_level_alterations/):
# bortezomib L01XX32 → L01XG01, carfilzomib L01XX45 → L01XG02, ixazomib → L01XG03, daratumumab
# L01XC24 → L01FC01 (L01FC CD38 inhibitors), elotuzumab L01XC23 → L01FX08. Records written before
# 2022 keep the old codes, so both are listed where the old one is confirmed (carfilzomib L01XX45:
# WHO Drug Information 27(2), 2013; daratumumab L01XC24 and elotuzumab L01XC23: WHO Drug
# Information 29(4), 2015); ixazomib's and isatuximab's pre-2022 codes are not listed.
# Order matters for text: the first drug whose words match wins, so the more specific names
# come first (pegfilgrastim before filgrastim, darbepoetin before epoetin, the heparins
# before heparin).
DRUGS: tuple[DrugTerms, ...] = (
    _drug(
        "lenalidomide",
        # ingredient; capsule products (SCD) and Revlimid 25 mg (SBD) from CODES.md
        {"342369", "1242231", "602910", "602912", "643712", "643720", "1428947", "643722"},
        {"L04AX04"},
        "lenalidomide?",
        "revlimid",
        "lenangio",
    ),
    _drug("dexamethasone", {"3264"}, {"H02AB02"}, "dexamethasone?", "decadron", "dexamethason"),
    _drug("bortezomib", {"358258"}, {"L01XG01", "L01XX32"}, "bortezomib", "velcade"),
    _drug("thalidomide", {"10432"}, {"L04AX02"}, "thalidomide?", "thalomid"),
    _drug("pomalidomide", {"1369713"}, {"L04AX06"}, "pomalidomide?", "pomalyst", "imnovid"),
    _drug("melphalan", {"6718"}, {"L01AA03"}, "melphalan", "alkeran", "evomela"),
    _drug("cyclophosphamide", {"3002"}, {"L01AA01"}, "cyclophosphamide", "cytoxan", "endoxan"),
    _drug("carfilzomib", set(), {"L01XG02", "L01XX45"}, "carfilzomib", "kyprolis"),
    _drug("ixazomib", set(), {"L01XG03"}, "ixazomib", "ninlaro"),
    _drug("daratumumab", set(), {"L01FC01", "L01XC24"}, "daratumumab", "darzalex"),
    _drug("isatuximab", set(), {"L01FC02"}, "isatuximab", "sarclisa"),
    _drug("elotuzumab", set(), {"L01FX08", "L01XC23"}, "elotuzumab", "empliciti"),
    _drug("panobinostat", set(), set(), "panobinostat", "farydak"),
    _drug("doxorubicin", {"3639"}, {"L01DB01"}, "doxorubicin", "adriamycin", "doxil", "caelyx", "myocet"),
    _drug("vincristine", {"11202"}, {"L01CA02"}, "vincristine", "oncovin"),
    _drug("bendamustine", set(), {"L01AA09"}, "bendamustine", "treanda", "bendeka", "levact"),
    _drug("selinexor", set(), set(), "selinexor", "xpovio"),
    _drug("enoxaparin", {"67108"}, {"B01AB05"}, "enoxaparin", "clexane", "lovenox"),
    _drug("dalteparin", {"67109"}, {"B01AB04"}, "dalteparin", "fragmin"),
    _drug("heparin", {"5224"}, {"B01AB01"}, "heparin"),
    _drug("warfarin", {"11289"}, {"B01AA03"}, "warfarin", "coumadin", "jantoven", "marevan"),
    _drug(
        "aspirin",
        {"1191"},
        {"B01AC06", "N02BA01"},
        "aspirin",
        "acetylsalicylic acid",
        "acetylsalicylate",
    ),
    _drug("rivaroxaban", {"1114195"}, {"B01AF01"}, "rivaroxaban", "xarelto"),
    _drug("apixaban", {"1364430"}, {"B01AF02"}, "apixaban", "eliquis"),
    _drug("dabigatran", {"1037042"}, {"B01AE07"}, "dabigatran", "pradaxa"),
    _drug("edoxaban", set(), {"B01AF03"}, "edoxaban", "savaysa", "lixiana"),
    _drug(
        "pegfilgrastim",
        {"338036"},
        {"L03AA13"},
        "peg filgrastim",
        "pegfilgrastim",
        "neulasta",
        "fulphila",
        "udenyca",
        "ziextenzo",
    ),
    _drug("filgrastim", {"68442"}, {"L03AA02"}, "filgrastim", "neupogen", "zarxio", "nivestym", "granix"),
    _drug("darbepoetin", {"283838"}, {"B03XA02"}, "darbepoetin", "aranesp"),
    _drug(
        "epoetin",
        {"105694"},
        {"B03XA01"},
        "epoetin",
        "erythropoietin",
        "epogen",
        "procrit",
        "eprex",
        "retacrit",
    ),
    _drug(
        "trimethoprim-sulfamethoxazole",
        {"10831"},  # RxNorm's multi-ingredient concept sulfamethoxazole / trimethoprim
        {"J01EE01"},
        r"trimethoprim\s*(?:[/\-+,]|and|&)\s*sulfamethoxazole",
        r"sulfamethoxazole\s*(?:[/\-+,]|and|&)\s*trimethoprim",
        "co trimoxazole",
        "cotrimoxazole",
        "bactrim",
        "septra",
        r"tmp\s*[/\-]\s*smx",
        r"smx\s*[/\-]\s*tmp",
    ),
    _drug("levofloxacin", {"82122"}, {"J01MA12"}, "levofloxacin", "levaquin", "cravit", "tavanic"),
    _drug("ciprofloxacin", {"2551"}, {"J01MA02"}, "ciprofloxacin", "cipro", "ciprobay", "ciproxin"),
    _drug("moxifloxacin", set(), {"J01MA14"}, "moxifloxacin", "avelox"),
    _drug("amoxicillin", {"723"}, {"J01CA04", "J01CR02"}, "amoxicillin", "amoxycillin", "amoxil", "augmentin"),
    _drug(
        "penicillin",
        set(),
        {"J01CE01", "J01CE02"},
        "penicillin",
        "penicillin [gv]",
        "benzylpenicillin",
        "phenoxymethylpenicillin",
    ),
)

DRUG_BY_RXNORM: dict[str, str] = {code: drug.key for drug in DRUGS for code in drug.rxnorm}
DRUG_BY_ATC: dict[str, str] = {code: drug.key for drug in DRUGS for code in drug.atc}

# HIRA 주성분코드 (main-ingredient codes of the 약가마스터: ingredient serial, strength serial, route
# and form, https://www.data.go.kr/data/15067461/fileData.do) for the drugs above. KR Core defines
# no code system for them, and no public source the mappings could cite gives the codes for
# lenalidomide or dexamethasone, so the table is empty on purpose:
#
# | drug          | HIRA 주성분코드 | source                         |
# |---------------|-----------------|--------------------------------|
# | lenalidomide  | not confirmed   | (none found; left out)         |
# | dexamethasone | not confirmed   | (none found; left out)         |
#
# HIRA EDI and KD product codes are matched through the ATC coding or Medication.ingredient sent
# with them, never guessed from the code itself.
DRUG_BY_HIRA_INGREDIENT: dict[str, str] = {}


# --- conditions ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ConditionTerms:
    """How one ClinicalCondition category is recognised on a Condition.

    ICD-10 entries are prefixes without the dot ('I26' covers I26.0…I26.99). ``past_icd10``
    are 'personal history of' codes: the record says the event happened, not that it is going
    on, so the condition is mapped with active=False whatever its clinicalStatus.
    """

    category: str
    snomed: frozenset[str] = frozenset()
    icd10: tuple[str, ...] = ()
    icd10_excluded: tuple[str, ...] = ()
    past_icd10: tuple[str, ...] = ()
    text: re.Pattern[str] | None = None


def _condition(
    category: str,
    *,
    snomed: set[str] | None = None,
    icd10: tuple[str, ...] = (),
    excluded: tuple[str, ...] = (),
    past: tuple[str, ...] = (),
    text: tuple[str, ...] = (),
) -> ConditionTerms:
    def bare(codes: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(code.replace(".", "").upper() for code in codes)

    return ConditionTerms(
        category=category,
        snomed=frozenset(snomed or ()),
        icd10=bare(icd10),
        icd10_excluded=bare(excluded),
        past_icd10=bare(past),
        text=words(*text) if text else None,
    )


# Infections (ICD-10 chapter I and the common acute infections elsewhere), shared by
# active-infection and infection-history.
_INFECTION_ICD10 = (
    "A", "B0", "B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8",
    "J09", "J10", "J11", "J12", "J13", "J14", "J15", "J16", "J17", "J18", "J20", "J21", "J22",
    "N39.0", "L03", "R65.2", "K65.0", "M86",
)  # fmt: skip
_INFECTION_SNOMED = {"40733004", "233604007", "91302008", "68566005", "128045006"}
_INFECTION_TEXT = (
    "infection", "pneumonia", "sepsis", "septic", "bacteraemia", "bacteremia", "cellulitis",
    "herpes zoster", "shingles", "influenza", "covid 19", "osteomyelitis", "urinary tract infection",
)  # fmt: skip

CONDITIONS: tuple[ConditionTerms, ...] = (
    _condition(
        "multiple-myeloma",
        snomed={"109989006"},
        icd10=("C90.0",),
        text=("multiple myeloma", "plasma cell myeloma", "myelomatosis", "myeloma"),
    ),
    # Dependence on dialysis (Z99.2), encounters for dialysis (Z49), SNOMED 105502003.
    _condition(
        "dialysis",
        snomed={"105502003"},
        icd10=("Z99.2", "Z49"),
        text=("dialysis", "haemodialysis", "hemodialysis", "on hd", "capd"),
    ),
    # End-stage renal disease only (N18.6, SNOMED 46177005): CKD stage 5 (N18.5, SNOMED
    # 433146000) is a clearance below 15 mL/min, not dialysis, and stays in "ckd" (clinical
    # rules section 1: dialysis from current evidence only).
    _condition(
        "esrd",
        snomed={"46177005"},
        icd10=("N18.6",),
        text=("end stage renal disease", "end stage kidney disease", "esrd", "eskd"),
    ),
    _condition(
        "ckd",
        snomed={
            "709044004",
            "431855005",
            "431856006",
            "433144002",
            "431857002",
            "433146000",
            "46177005",
            "90688005",
        },
        icd10=("N18", "I12", "I13"),
        text=(
            "chronic kidney disease",
            "chronic renal disease",
            "chronic renal failure",
            "chronic renal insufficiency",
            "ckd",
        ),
    ),
    _condition(
        "renal-failure",
        snomed={"14669001", "42399005", "90688005"},
        icd10=("N17", "N19"),
        text=(
            "renal failure",
            "kidney failure",
            "acute kidney injury",
            "aki",
            "renal insufficiency",
            "cast nephropathy",
            "myeloma kidney",
        ),
    ),
    _condition(
        "dvt",
        snomed={"128053003", "404223003"},
        # I80/I82 are venous thromboses; the superficial ones and migratory thrombophlebitis
        # are not deep vein thrombosis.
        icd10=("I80", "I82"),
        excluded=("I80.0", "I82.1", "I82.61", "I82.71", "I82.81"),
        text=("deep vein thrombosis", "deep venous thrombosis", "dvt"),
    ),
    _condition(
        "pe",
        snomed={"59282003"},
        icd10=("I26",),
        past=("Z86.711",),
        text=("pulmonary embolism", "pulmonary thromboembolism"),
    ),
    _condition(
        "vte",
        snomed={"429098002"},
        past=("Z86.718",),
        text=("venous thromboembolism", "vte", "venous thrombosis"),
    ),
    _condition(
        "heart-failure",
        snomed={"84114007", "42343007"},
        icd10=("I50", "I11.0", "I13.0", "I13.2"),
        text=("heart failure", "cardiac failure", "chf", "hfref", "hfpef"),
    ),
    _condition(
        "pulmonary-disease",
        snomed={"13645005", "195967001"},
        icd10=("J41", "J42", "J43", "J44", "J45", "J47", "J84", "J96"),
        text=(
            "copd",
            "chronic obstructive pulmonary disease",
            "chronic obstructive lung disease",
            "asthma",
            "emphysema",
            "interstitial lung disease",
            "pulmonary fibrosis",
            "bronchiectasis",
            "chronic bronchitis",
            "respiratory failure",
        ),
    ),
    _condition("active-infection", snomed=_INFECTION_SNOMED, icd10=_INFECTION_ICD10, text=_INFECTION_TEXT),
    _condition(
        "infection-history",
        snomed=_INFECTION_SNOMED,
        icd10=_INFECTION_ICD10 + ("Z86.1", "Z87.01"),
        text=_INFECTION_TEXT + ("history of infections?", "recurrent infections?"),
    ),
    _condition(
        "arterial-thromboembolism",
        snomed={"22298006", "230690007"},
        icd10=("I21", "I22", "I63", "I74"),
        text=(
            "myocardial infarction",
            "stroke",
            "cerebral infarction",
            "arterial thrombosis",
            "arterial embolism",
            "arterial thromboembolism",
        ),
    ),
    _condition(
        "thrombophilia",
        snomed={"234467004"},
        icd10=("D68.5", "D68.6"),
        text=(
            "thrombophilia",
            "factor v leiden",
            "prothrombin gene mutation",
            "antiphospholipid",
            "lupus anticoagulant",
            "protein [cs] deficiency",
            "antithrombin deficiency",
        ),
    ),
    _condition(
        "immobilization",
        icd10=("Z74.0",),
        text=(
            "immobili[sz]ation",
            "immobili[sz]ed",
            "immobile",
            "immobility",
            "bedridden",
            "bedbound",
            "bed bound",
            "bed confinement",
        ),
    ),
    _condition(
        "pregnancy",
        snomed={"77386006"},
        icd10=("O", "Z33.1", "Z34", "Z3A"),
        # The puerperium (O85-O92) and late effects (O94) are after the pregnancy.
        excluded=("O85", "O86", "O87", "O88", "O89", "O90", "O91", "O92", "O94"),
        text=("pregnant", "pregnancy"),
    ),
    _condition(
        "heavy-marrow-infiltration",
        text=(
            r"(?:heavy|extensive|massive|diffuse|high|marked|severe) (?:bone )?marrow "
            r"(?:infiltration|involvement|plasmacytosis)",
            r"(?:bone )?marrow (?:infiltration|replacement) (?:by|with) (?:myeloma|plasma cells)",
            r"packed marrow",
        ),
    ),
    # R-REIMB-KR (from 2017-12-01): transplant-ineligible newly diagnosed myeloma. No code
    # system has a reliable concept for the decision, so it is read from the problem text.
    _condition(
        "transplant-ineligible",
        text=(
            r"(?:transplant|ASCT) ineligible",
            r"(?:not |in)eligible for (?:an? )?(?:autologous )?(?:stem cell )?(?:transplant|transplantation|ASCT)",
            r"not (?:a )?(?:transplant|ASCT) candidate",
        ),
    ),
    _condition(
        "aggressive-disease",
        icd10=("C90.1",),
        text=(
            r"aggressive (?:myeloma|disease|relapse)",
            "rapidly progressive",
            "extramedullary",
            "plasma cell leuka?emia",
        ),
    ),
    _condition(
        "spinal-cord-compression",
        icd10=("G95.2",),
        text=("spinal cord compression", "cord compression", "mscc"),
    ),
    _condition(
        "hypercalcemia",
        snomed={"66931009"},
        icd10=("E83.52",),
        text=("hypercalca?emia",),
    ),
    _condition("bone-pain", snomed={"12584003"}, text=("bone pain", "ostealgia", "ossalgia", "osteodynia")),
    _condition(
        "neutropenia-history",
        snomed={"165517008", "409089005"},
        icd10=("D70",),
        text=("neutropenia", "neutropenic", "agranulocytosis"),
    ),
    _condition(
        "pelvic-hip-femur-fracture",
        snomed={"5913000", "71620000"},
        icd10=("S72", "S32.1", "S32.2", "S32.3", "S32.4", "S32.5", "S32.6", "S32.8", "S32.9"),
        text=(
            r"(?:hip|femu?r|femoral|pelvic|pelvis|acetabular|sacral) fracture",
            r"fracture of (?:the )?(?:left |right )?(?:hip|femur|neck of femur|pelvis|acetabulum|sacrum)",
        ),
    ),
    _condition(
        "central-venous-catheter",
        icd10=("Z45.2",),
        text=(
            "central venous catheter",
            "central line",
            "cvc",
            "picc",
            "hickman",
            "port a cath",
            "portacath",
            "tunnell?ed (?:line|catheter)",
            "implanted port",
            "chemoport",
        ),
    ),
    _condition(
        "disease-progression",
        text=("disease progression", "progressive disease", r"progression of (?:myeloma|disease)"),
    ),
    # Bleeding, for the anticoagulation rules (R-VTE-ACTIVE: "active bleeding or a recent CNS
    # bleed"). Only codes that name a haemorrhage going on: ICD-10 K92.0 haematemesis, K92.1
    # melaena, K92.2 gastrointestinal haemorrhage, peptic ulcers "with haemorrhage" (K25-K28 .0
    # .2 .4 .6), K62.5 haemorrhage of anus and rectum, K66.1 haemoperitoneum, R58 haemorrhage
    # not elsewhere classified, R04 haemorrhage from respiratory passages, D62 acute
    # posthaemorrhagic anaemia (confirmed in the CADTH major-bleeding ICD-10 group and the
    # ICD-10-CM titles in public code lists). SNOMED CT 131148009 Bleeding (finding), 74474003
    # Gastrointestinal hemorrhage, 8765009 Hematemesis, 2901004 Melena, 66857006 Hemoptysis
    # (confirmed in published value sets and concept maps). A bleeding risk or tendency is not
    # a bleed: those words are left out of the text.
    _condition(
        "active-bleeding",
        snomed={"131148009", "74474003", "8765009", "2901004", "66857006"},
        icd10=(
            "K92.0",
            "K92.1",
            "K92.2",
            "K25.0",
            "K25.2",
            "K25.4",
            "K25.6",
            "K26.0",
            "K26.2",
            "K26.4",
            "K26.6",
            "K27.0",
            "K27.2",
            "K27.4",
            "K27.6",
            "K28.0",
            "K28.2",
            "K28.4",
            "K28.6",
            "K62.5",
            "K66.1",
            "R58",
            "R04",
            "D62",
        ),  # fmt: skip
        text=(
            r"(?:active|acute|ongoing|major|uncontrolled|current) (?:bleeding|bleed|ha?emorrhage)",
            r"(?:gi|gastrointestinal|upper gi|lower gi|rectal|variceal) (?:bleeding|bleed|ha?emorrhage)",
            r"ha?ematemesis",
            r"mela?ena",
            r"ha?emoptysis",
            r"ha?emoperitoneum",
            # "risk of bleeding", "bleeding tendency" and the like are no bleed (lookarounds
            # use \s: words() turns spaces into a variable-width class).
            r"(?<!risk\sof\s)(?<!risk\sfor\s)bleeding(?!\s(?:risk|tendency|disorder|diathesis|history))",
            r"(?<!risk\sof\s)(?<!risk\sfor\s)ha?emorrhage(?!\s(?:risk|history))",
        ),
    ),
    # ICD-10 I60 subarachnoid, I61 intracerebral, I62 other non-traumatic intracranial
    # haemorrhage (CADTH bleeding group: I62.9; ICD-10 chapter IX titles). Sequelae (I69.0-I69.2)
    # are other codes and stay out. SNOMED CT 1386000 Intracranial hemorrhage, 274100004
    # Cerebral hemorrhage, 21454007 Subarachnoid intracranial hemorrhage (confirmed in published
    # stroke value sets and the FHIR ResearchStudy/Group examples).
    _condition(
        "intracranial-bleed",
        snomed={"1386000", "274100004", "21454007"},
        icd10=("I60", "I61", "I62"),
        text=(
            r"(?:intracranial|intracerebral|cerebral|brain|subarachnoid|subdural|extradural|epidural|"
            r"intraventricular|cns) (?:ha?emorrhage|bleed|bleeding|ha?ematoma)",
            r"ha?emorrhagic stroke",
        ),
    ),
    # R-TERATO-F: "unless a hysterectomy, bilateral oophorectomy or postmenopausal state >= 24
    # months is documented". ICD-10-CM Z90.710 acquired absence of both cervix and uterus and
    # Z90.711 of the uterus with a remaining cervical stump; Z90.712 (cervix removed, uterus
    # remaining) is no hysterectomy. Z90.722 acquired absence of ovaries, bilateral; Z90.721 is
    # unilateral. (Titles confirmed in the eCQM "Hysterectomy with No Residual Cervix" value set
    # 2.16.840.1.113883.3.464.1003.198.12.1014 and public ICD-10-CM code lists.)
    _condition(
        "hysterectomy",
        icd10=("Z90.710", "Z90.711"),
        text=(
            r"hysterectomy",
            r"hysterectomi[sz]ed",
            r"(?:acquired )?absence of (?:both cervix and )?uterus",
            r"tah\W*bso",
        ),
    ),
    _condition(
        "bilateral-oophorectomy",
        icd10=("Z90.722",),
        text=(
            r"bilateral (?:salpingo )?o(?:oph|vari)orectomy",
            r"bilateral ovariectomy",
            r"bso",
            r"tah\W*bso",
            r"absence of (?:both|bilateral) ovaries",
            r"absence of ovaries\W+bilateral",
        ),
    ),
    # ICD-10 N95.1 menopausal and female climacteric states, Z78.0 asymptomatic menopausal
    # state; SNOMED CT 76498008 Postmenopausal state (finding) (confirmed in the value set
    # mii-vs-onko-mamma-menopause-status of the German Medical Informatics Initiative) and
    # 371036001 Postsurgical menopause (DICOM CID 6086 Menopausal Phase). Words name the
    # postmenopausal state only: perimenopause and "approaching menopause" are not it.
    _condition(
        "postmenopausal",
        snomed={"76498008", "371036001"},
        icd10=("N95.1", "Z78.0"),
        text=(
            r"post menopausal(?: state| status)?",
            r"postmenopausal(?: state| status)?",
            r"post menopause",
            r"postmenopause",
            r"menopausal state",
            r"(?<!approaching\s)(?<!before\s)(?<!nearing\s)menopause(?!\stransition)",
        ),
    ),
    _condition(
        "asian-ethnicity",
        text=(
            r"(?:east |south |southeast )?asian (?:ethnicity|ethnic origin|race|descent|origin|ancestry)",
            r"(?:ethnicity|race)\W+(?:east )?asian",
            r"(?:korean|chinese|japanese|vietnamese|taiwanese|filipino|thai) "
            r"(?:ethnicity|ethnic origin|race|descent|origin|ancestry)",
        ),
    ),
)

# US Core race extension: OMB category 2028-9 is Asian.
US_CORE_RACE_URL = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race"
OMB_RACE_SYSTEM = "urn:oid:2.16.840.1.113883.6.238"
OMB_ASIAN = "2028-9"


# --- procedures ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ProcedureTerms:
    category: str
    snomed: frozenset[str] = frozenset()
    cpt: frozenset[str] = frozenset()
    icd10_pcs: frozenset[str] = frozenset()
    text: re.Pattern[str] | None = None


PROCEDURES: tuple[ProcedureTerms, ...] = (
    ProcedureTerms(
        "dialysis",
        # hemodialysis, renal dialysis, peritoneal dialysis, dialysis procedure
        snomed=frozenset({"302497006", "265764009", "71192002", "108241001"}),
        # hemodialysis with one / repeated evaluations; other dialysis (peritoneal) likewise
        cpt=frozenset({"90935", "90937", "90945", "90947"}),
        # urinary filtration (hemodialysis) intermittent <6 h/day, prolonged intermittent,
        # continuous; peritoneal dialysis (irrigation of peritoneal cavity with dialysate)
        icd10_pcs=frozenset({"5A1D70Z", "5A1D80Z", "5A1D90Z", "3E1M39Z"}),
        text=words("dialysis", "ha?emodialysis", "ha?emodiafiltration", "hemofiltration", "crrt", "capd"),
    ),
    ProcedureTerms(
        "asct",
        snomed=frozenset({"709115004"}),
        cpt=frozenset({"38241"}),
        text=words(
            "asct",
            "auto sct",
            "autosct",
            "auto hsct",
            "autologous (?:peripheral blood )?(?:ha?ematopoietic )?(?:stem cell|progenitor cell|bone marrow|hsc|pbsc)",
            r"autologous transplant(?:ation)?",
        ),
    ),
    # R-TERATO-F exclusions (completed procedures only, fhir_mappings/procedures.py). SNOMED CT:
    # 236886002 Hysterectomy (DICOM CID 6082), 116140006 Total hysterectomy, 116141005
    # Abdominal hysterectomy, 116143008 Total abdominal hysterectomy, 116142003 Radical
    # hysterectomy, 265056007 Vaginal hysterectomy, 236887006 Laparoscopic hysterectomy,
    # 236888001 Laparoscopic total hysterectomy, 708877008 the same with robotic assistance,
    # 75835007 Laparoscopic-assisted vaginal hysterectomy, 767610009 Total hysterectomy via
    # vaginal approach, 387644004 Supracervical hysterectomy, 176795006 Subtotal abdominal
    # hysterectomy, 236889009 Laparoscopic supracervical hysterectomy, 41059002 Cesarean
    # hysterectomy, and the combined operations that also remove both ovaries (below). Fully
    # specified names confirmed in published SNOMED CT code lists (hysterectomy and oophorectomy
    # code sets of the Greater Manchester secure data environment).
    # CPT: the hysterectomy codes of the eCQM value set "Hysterectomy with No Residual Cervix"
    # (2.16.840.1.113883.3.464.1003.198.12.1014) that remove the uterus, plus the laparoscopic
    # supracervical ones listed there (58541-58544); cervix-only operations (57530-57556) and
    # pelvic exenteration "with hysterectomy or cervicectomy" (58240) are left out.
    # ICD-10-PCS: resection of uterus 0UT90ZZ, 0UT94ZZ, 0UT97ZZ, 0UT98ZZ, 0UT9FZZ and the
    # supracervical 0UT90ZL, 0UT97ZL (CDC severe maternal morbidity hysterectomy codes).
    ProcedureTerms(
        "hysterectomy",
        snomed=frozenset(
            {
                "236886002",
                "116140006",
                "116141005",
                "116143008",
                "116142003",
                "265056007",
                "236887006",
                "236888001",
                "708877008",
                "75835007",
                "767610009",
                "387644004",
                "176795006",
                "236889009",
                "41059002",
                "116144002",
                "86477000",
                "29529008",
                "414575003",
                "441820006",
            }
        ),
        cpt=frozenset(
            {
                "51925",
                "58150",
                "58152",
                "58200",
                "58210",
                "58260",
                "58262",
                "58263",
                "58267",
                "58270",
                "58275",
                "58280",
                "58285",
                "58290",
                "58291",
                "58292",
                "58293",
                "58294",
                "58541",
                "58542",
                "58543",
                "58544",
                "58548",
                "58550",
                "58552",
                "58553",
                "58554",
                "58570",
                "58571",
                "58572",
                "58573",
                "58575",
            }
        ),
        icd10_pcs=frozenset({"0UT90ZZ", "0UT94ZZ", "0UT97ZZ", "0UT98ZZ", "0UT9FZZ", "0UT90ZL", "0UT97ZL"}),
        text=words("hysterectomy", r"tah\W*bso"),
    ),
    # SNOMED CT 76876009 Excision of bilateral ovaries, 29827000 Excision of bilateral fallopian
    # tubes and ovaries, 609275002 Laparoscopic bilateral oophorectomy, 609230000 Laparoscopic
    # bilateral salpingo-oophorectomy, 708816008 the same with robotic assistance; and with a
    # hysterectomy: 116144002 Total abdominal hysterectomy with bilateral salpingo-oophorectomy,
    # 86477000 Total hysterectomy with removal of both tubes and ovaries, 29529008 Supracervical
    # hysterectomy with removal of both tubes and ovaries, 414575003 Laparoscopic total abdominal
    # hysterectomy and bilateral salpingo-oophorectomy, 441820006 Laparoscopic-assisted vaginal
    # hysterectomy with bilateral salpingo-oophorectomy (same code lists as above).
    # ICD-10-PCS 0UT2?ZZ resection of ovaries, bilateral (0UT20ZZ "Resection of Bilateral
    # Ovaries, Open Approach" confirmed; the other approach values as for the uterus).
    # CPT has no code for both ovaries: 58720 and 58940 read "unilateral or bilateral", so
    # they prove nothing and are left out.
    ProcedureTerms(
        "bilateral-oophorectomy",
        snomed=frozenset(
            {
                "76876009",
                "29827000",
                "609275002",
                "609230000",
                "708816008",
                "116144002",
                "86477000",
                "29529008",
                "414575003",
                "441820006",
            }
        ),
        icd10_pcs=frozenset({"0UT20ZZ", "0UT24ZZ", "0UT27ZZ", "0UT28ZZ", "0UT2FZZ"}),
        text=words(
            r"bilateral (?:salpingo )?o(?:oph|vari)orectomy",
            "bilateral ovariectomy",
            "bso",
            r"tah\W*bso",
        ),
    ),
)


# --- routes -------------------------------------------------------------------------------

ROUTE_BY_SNOMED: dict[str, str] = {
    "26643006": "oral",
    "34206005": "subcutaneous",
    "47625008": "intravenous",
}
ROUTE_BY_EDQM: dict[str, str] = {
    "20053000": "oral",
    "20066000": "subcutaneous",
    "20045000": "intravenous",
}
ROUTE_WORDS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("oral", words(r"p\.?o\.?", "oral", "orally", "by mouth", "per os", "swallow")),
    ("subcutaneous", words(r"s\.?c\.?", "subcut", "subcutaneous", "subcutaneously", "sub q", "subq", "sq")),
    ("intravenous", words(r"i\.?v\.?", "intravenous", "intravenously", "ivpb", "iv push", "iv infusion")),
)

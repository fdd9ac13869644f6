"""Properties over odd-but-valid (and some invalid) FHIR: never raise, never invent a value.

The expected conversion factors are written out here again, independently of
fhir_mappings/units.py, so that a wrong factor there fails a test rather than being copied.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fhir_mappings import build_snapshot, unresolved_medication_references
from rules.model import Measurement, PatientSnapshot

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
PATIENT = "p1"
SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# kind (snapshot field) → LOINC codes, rules unit, {unit as sent: factor to the rules unit}
KINDS: dict[str, tuple[tuple[str, ...], str, dict[str, float]]] = {
    "creatinine": (
        ("2160-0", "14682-9", "38483-4"),
        "mg/dL",
        {"mg/dL": 1, "umol/L": 1 / 88.4, "µmol/L": 1 / 88.4, "mmol/L": 1 / 0.0884},
    ),
    "anc": (
        ("751-8", "26499-4", "753-4"),
        "/uL",
        {"10*9/L": 1000, "10*3/uL": 1000, "/uL": 1, "/mm3": 1, "K/uL": 1000, "x10^9/L": 1000},
    ),
    "platelets": (
        ("777-3", "26515-7", "778-1"),
        "/uL",
        {"10*9/L": 1000, "10*3/uL": 1000, "/uL": 1, "10*3/mm3": 1000, "{cells}/uL": 1},
    ),
    "weight": (("29463-7",), "kg", {"kg": 1, "g": 0.001, "[lb_av]": 0.45359237}),
    "height": (("8302-2",), "cm", {"cm": 1, "m": 100, "[in_i]": 2.54}),
    "egfr": (("62238-1", "98979-8", "33914-3"), "mL/min/1.73m2", {"mL/min/{1.73_m2}": 1, "mL/min/1.73m2": 1}),
    "measured_crcl": (("2164-2",), "mL/min", {"mL/min": 1}),
    "alt": (("1742-6",), "U/L", {"U/L": 1}),
    "tsh": (("3016-3",), "mIU/L", {"mIU/L": 1, "uIU/mL": 1}),
}
# Physiological ranges in the rules' units (clinical rules section 1), written out again.
RANGES: dict[str, tuple[float, float]] = {
    "creatinine": (0.1, 20.0),
    "weight": (25.0, 300.0),
    "anc": (0.0, 100_000.0),
    "platelets": (0.0, 2_000_000.0),
}
UNKNOWN_UNITS = ("mg", "%", "furlongs", "g/dL", "10*12/L", "mL/min/kg", "", "  ")
DECOY_CODES = ("770-8", "2951-2", "718-7", "58410-2")
STATUSES = (
    "final",
    "amended",
    "corrected",
    "preliminary",
    "registered",
    "cancelled",
    "entered-in-error",
    "unknown",
)
USABLE = {"final", "amended", "corrected"}
HISTORY_FIELDS = {"anc": "anc_history", "platelets": "platelet_history", "creatinine": "creatinine_history"}


@dataclass(frozen=True)
class Sent:
    """One generated value and what a correct mapping may make of it."""

    kind: str | None
    code: str
    value: float | None
    unit: str | None
    comparator: str | None
    day: date | None
    usable: bool
    """Usable in form: status, value, unit, date, patient."""
    plausible: bool = True
    """Inside its kind's physiological range, the only values a Measurement may hold."""


days = st.dates(min_value=date(2015, 1, 1), max_value=date(2027, 12, 31))


@st.composite
def sent_observations(draw: st.DrawFn) -> tuple[dict[str, Any], list[Sent]]:
    kind = draw(st.sampled_from([*KINDS, None]))
    code = draw(st.sampled_from(KINDS[kind][0] if kind else DECOY_CODES))
    system = draw(st.sampled_from([LOINC, LOINC, LOINC, "http://acme.org/lab"]))
    status = draw(st.sampled_from(STATUSES))
    known = KINDS[kind][2] if kind else {}
    unit = draw(st.sampled_from([*known, *UNKNOWN_UNITS, None]) if known else st.sampled_from([*UNKNOWN_UNITS, None]))
    as_ucum = draw(st.booleans())
    value = draw(
        st.one_of(
            st.none(),
            st.integers(min_value=-5, max_value=500_000),
            st.floats(min_value=-10, max_value=1e6, allow_nan=False, allow_infinity=False),
        )
    )
    comparator = draw(st.sampled_from([None, None, "<", "<=", ">", ">=", "ad"]))
    absent = draw(st.booleans()) and draw(st.booleans())
    other_patient = draw(st.integers(0, 9)) == 0

    day = draw(days)
    date_form = draw(
        st.sampled_from(["date", "datetime", "period", "period-start", "instant", "issued", "partial", "none", "junk"])
    )
    dates: dict[str, Any] = {
        "date": {"effectiveDateTime": day.isoformat()},
        "datetime": {"effectiveDateTime": f"{day.isoformat()}T{draw(st.integers(0, 23)):02d}:15:00Z"},
        "period": {"effectivePeriod": {"start": "2014-12-31", "end": f"{day.isoformat()}T06:00:00Z"}},
        "period-start": {"effectivePeriod": {"start": day.isoformat()}},
        "instant": {"effectiveInstant": f"{day.isoformat()}T06:00:00.5Z"},
        "issued": {"issued": f"{day.isoformat()}T12:00:00Z"},
        "partial": {"effectiveDateTime": day.isoformat()[:7]},
        "none": {},
        "junk": {"effectiveDateTime": "last tuesday"},
    }[date_form]
    dated = date_form not in ("partial", "none", "junk")

    part: dict[str, Any] = {"code": {"coding": [{"system": system, "code": code}]}}
    if absent:
        part["dataAbsentReason"] = {"text": "not done"}
    if value is not None and not absent:
        quantity: dict[str, Any] = {"value": value}
        if unit is not None:
            quantity.update({"system": UCUM, "code": unit, "unit": unit} if as_ucum else {"unit": unit})
        if comparator is not None:
            quantity["comparator"] = comparator
        part["valueQuantity"] = quantity

    resource: dict[str, Any] = {"resourceType": "Observation", "status": status, **dates}
    if not other_patient:
        resource["subject"] = {"reference": f"Patient/{PATIENT}"}
    else:
        resource["subject"] = {"reference": "Patient/someone-else"}
    in_panel = draw(st.booleans())
    if in_panel:
        resource["code"] = {"coding": [{"system": LOINC, "code": "58410-2"}]}
        resource["component"] = [part]
    else:
        resource.update(part)

    usable = (
        kind is not None
        and system == LOINC
        and status in USABLE
        and not absent
        and value is not None
        and value >= 0
        and unit is not None
        and unit.strip() in known
        and comparator != "ad"
        and dated
        and not other_patient
    )
    plausible = True
    if usable and kind in RANGES and value is not None and unit is not None:
        low, high = RANGES[kind]
        converted = value * KINDS[kind][2][unit.strip()]
        plausible = {
            "<": low < converted,
            "<=": low <= converted,
            ">": converted < high,
            ">=": converted <= high,
        }.get(comparator or "", low <= converted <= high)
    return resource, [
        Sent(
            kind,
            code,
            float(value) if value is not None else None,
            unit,
            comparator,
            day if dated else None,
            usable,
            plausible,
        )
    ]


def measurements(snapshot: PatientSnapshot) -> list[tuple[str, Measurement]]:
    found = [(kind, m) for kind in KINDS if (m := getattr(snapshot, kind)) is not None]
    found += [(kind, m) for kind, field in HISTORY_FIELDS.items() for m in getattr(snapshot, field)]
    return found


def came_from(kind: str, measurement: Measurement, sent: list[Sent]) -> bool:
    codes, rules_unit, factors = KINDS[kind]
    if measurement.unit != rules_unit or measurement.code not in codes:
        return False
    for item in sent:
        if (
            not item.usable
            or not item.plausible
            or item.kind != kind
            or item.code != measurement.code
            or item.day != measurement.when
        ):
            continue
        assert item.value is not None and item.unit is not None
        expected = item.value * factors[item.unit.strip()]
        if (
            math.isclose(measurement.value, expected, rel_tol=1e-9, abs_tol=1e-9)
            and measurement.comparator == item.comparator
        ):
            return True
    return False


@SETTINGS
@given(st.lists(sent_observations(), max_size=12))
def test_observations_never_invent_a_value(generated: list[tuple[dict[str, Any], list[Sent]]]) -> None:
    resources = [resource for resource, _ in generated]
    sent = [item for _, items in generated for item in items]

    snapshot = build_snapshot(
        [{"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in resources]}],
        patient_id=PATIENT,
    )

    for kind, measurement in measurements(snapshot):
        assert came_from(kind, measurement, sent), (kind, measurement)
    for kind in KINDS:
        usable = [item for item in sent if item.usable and item.kind == kind]
        latest: Measurement | None = getattr(snapshot, kind)
        doubts = [u for u in snapshot.untrusted if u.kind == kind]
        if not usable:
            assert latest is None and not doubts
            continue
        newest_day = max(item.day for item in usable if item.day)
        if latest is not None:
            # the latest is the newest: nothing newer was in doubt, and nothing was invented
            assert latest.when == newest_day and not doubts
        else:
            # nothing usable is lost without a reason on record, and each reason is true
            assert doubts, (kind, usable)
        for doubt in doubts:
            if doubt.reason == "implausible":
                assert any(not item.plausible for item in usable), doubt
            else:
                same_day = [item for item in usable if item.plausible and item.day == newest_day]
                assert len(same_day) >= 2, doubt
    for kind, field in HISTORY_FIELDS.items():
        history = getattr(snapshot, field)
        assert [m.when for m in history] == sorted((m.when for m in history), reverse=True)
        assert (history[0] if history else None) == getattr(snapshot, kind)


# --- medication requests ----------------------------------------------------------------------

DRUG_KEYS = {
    "lenalidomide", "dexamethasone", "bortezomib", "thalidomide", "pomalidomide", "melphalan",
    "cyclophosphamide", "carfilzomib", "ixazomib", "daratumumab", "isatuximab", "elotuzumab",
    "panobinostat", "doxorubicin", "vincristine", "bendamustine", "selinexor", "enoxaparin",
    "dalteparin", "heparin", "warfarin", "aspirin", "rivaroxaban", "apixaban", "dabigatran",
    "edoxaban", "filgrastim", "pegfilgrastim", "epoetin", "darbepoetin",
    "trimethoprim-sulfamethoxazole", "levofloxacin", "ciprofloxacin", "moxifloxacin", "penicillin",
    "amoxicillin", "other",
}  # fmt: skip
MR_STATUSES = (
    "draft",
    "active",
    "on-hold",
    "completed",
    "stopped",
    "cancelled",
    "entered-in-error",
    "unknown",
)
DOSE_TEXTS = (
    "25 mg PO daily d1-21 q28d", "10 mg every other day days 1-21/28", "40 mg weekly",
    "40 mg days 1-4, 9-12, 17-20 q28d", "40 mg on days 1, 8, 15, 22 of each 28-day cycle",
    "15 mg q0h", "every 0 days", "days 0-99 of 0", "days 21-1 of 28", "1-2 tablets prn", "",
)  # fmt: skip
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8,
)


@st.composite
def dosage_instructions(draw: st.DrawFn) -> dict[str, Any]:
    instruction: dict[str, Any] = {}
    if draw(st.booleans()):
        instruction["text"] = draw(st.sampled_from(DOSE_TEXTS) | st.text(max_size=30))
    if draw(st.booleans()):
        quantity = {
            "value": draw(st.floats(min_value=-5, max_value=5000, allow_nan=False)),
            "unit": draw(st.sampled_from(["mg", "g", "ug", "[iU]", "TAB", "mL", "mg/m2", "x"])),
        }
        instruction["doseAndRate"] = [
            draw(
                st.sampled_from(
                    [
                        {"doseQuantity": quantity},
                        {"doseRange": {"low": quantity, "high": quantity}},
                        {"doseRange": {"low": quantity}},
                    ]
                )
            )
        ]
    if draw(st.booleans()):
        repeat = {
            "frequency": draw(st.integers(-1, 5)),
            "period": draw(st.floats(min_value=-1, max_value=100, allow_nan=False)),
            "periodUnit": draw(st.sampled_from(["s", "min", "h", "d", "wk", "mo", "a", "fortnight"])),
        }
        if draw(st.booleans()):
            repeat["dayOfWeek"] = draw(st.lists(st.sampled_from(["mon", "tue", "wed", "thu"]), max_size=3))
        instruction["timing"] = draw(
            st.sampled_from(
                [
                    {"repeat": repeat},
                    {
                        "code": {
                            "coding": [
                                {"code": draw(st.sampled_from(["QD", "BID", "QOD", "Q0H", "Q48H", "WK", "XYZ"]))}
                            ]
                        }
                    },
                ]
            )
        )
    if draw(st.booleans()):
        instruction["route"] = draw(
            st.sampled_from(
                [
                    {"text": "PO"},
                    {"coding": [{"system": "http://snomed.info/sct", "code": "34206005"}]},
                    {"text": "???"},
                ]
            )
        )
    if draw(st.integers(0, 5)) == 0:
        instruction[draw(st.sampled_from(["timing", "doseAndRate", "route", "text"]))] = draw(json_values)
    return instruction


@st.composite
def medication_requests(draw: st.DrawFn) -> dict[str, Any]:
    request: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "id": draw(st.sampled_from(["a", "b", "c", "d"])),
        "status": draw(st.sampled_from(MR_STATUSES)),
        "intent": draw(st.sampled_from(["order", "plan", "proposal"])),
        "subject": {"reference": f"Patient/{PATIENT}"},
    }
    medication = draw(
        st.sampled_from(
            [
                "lenalidomide 25 mg",
                "Revlimid",
                "Dexamethasone 4 mg",
                "Clexane",
                "paracetamol",
                "",
                "ref",
                "contained",
            ]
        )
    )
    if medication == "ref":
        request["medicationReference"] = {"reference": f"Medication/{draw(st.integers(1, 3))}"}
    elif medication == "contained":
        request["contained"] = [{"resourceType": "Medication", "id": "m", "code": {"text": "thalidomide"}}]
        request["medicationReference"] = {"reference": draw(st.sampled_from(["#m", "#missing"]))}
    else:
        request["medicationCodeableConcept"] = {"text": medication}
    category = {"coding": [{"code": "outpatient"}]}
    request["category"] = draw(st.sampled_from([category, [category], None]))
    if request["category"] is None:
        del request["category"]
    if draw(st.booleans()):
        request["authoredOn"] = draw(st.sampled_from(["2026-11-20", "2026-11", "2026-11-20T10:00:00Z", "junk"]))
    request["dosageInstruction"] = draw(st.lists(dosage_instructions(), max_size=3))
    if draw(st.integers(0, 5)) == 0:
        request[
            draw(st.sampled_from(["category", "dosageInstruction", "medicationReference", "authoredOn", "note"]))
        ] = draw(json_values)
    return request


@SETTINGS
@given(
    st.lists(medication_requests(), max_size=5),
    st.lists(medication_requests(), max_size=3),
    st.lists(st.sampled_from(["MedicationRequest/a", "MedicationRequest/b", "Patient/x"]), max_size=2),
)
def test_medication_requests_never_raise(
    stored: list[dict[str, Any]], drafts: list[dict[str, Any]], selections: list[str]
) -> None:
    unresolved_medication_references(stored + drafts)
    snapshot = build_snapshot(stored, patient_id=PATIENT, draft_orders=drafts, selections=selections)

    draft_ids = {d["id"] for d in drafts}
    for order in snapshot.medications:
        assert order.drug in DRUG_KEYS
        assert order.status != "entered-in-error"
        assert not order.selected or (order.is_draft and f"MedicationRequest/{order.id}" in selections)
        assert order.is_draft == (order.id in draft_ids)
        regimen = order.regimen
        if regimen is None:
            continue
        assert regimen.dose is None or (
            math.isfinite(regimen.dose) and regimen.dose >= 0 and regimen.dose_unit in ("mg", "ug", "IU")
        )
        assert regimen.every_hours is None or (math.isfinite(regimen.every_hours) and regimen.every_hours > 0)
        assert list(regimen.cycle_days) == sorted(set(regimen.cycle_days))
        if regimen.cycle_days and regimen.cycle_length_days:
            assert regimen.cycle_days[0] >= 1 and regimen.cycle_days[-1] <= regimen.cycle_length_days
        total = regimen.mg_per_cycle()
        assert total is None or (math.isfinite(total) and total >= 0)
        assert isinstance(regimen.days_label, str)


# --- anything resource-shaped ------------------------------------------------------------------

RESOURCE_KEYS = {
    "Observation": [
        "status",
        "code",
        "valueQuantity",
        "component",
        "effectiveDateTime",
        "effectivePeriod",
        "issued",
        "subject",
        "valueInteger",
        "valueCodeableConcept",
    ],
    "Condition": [
        "code",
        "clinicalStatus",
        "verificationStatus",
        "onsetDateTime",
        "onsetPeriod",
        "recordedDate",
        "subject",
    ],
    "Procedure": ["status", "code", "performedDateTime", "performedPeriod"],
    "Patient": ["id", "birthDate", "gender", "extension"],
    "MedicationRequest": [
        "status",
        "medicationCodeableConcept",
        "medicationReference",
        "dosageInstruction",
        "category",
        "contained",
    ],
    "DiagnosticReport": ["result", "effectiveDateTime"],
    "Bundle": ["entry"],
}


@st.composite
def junk_resources(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(sorted(RESOURCE_KEYS)))
    keys = draw(st.lists(st.sampled_from(RESOURCE_KEYS[kind]), max_size=4, unique=True))
    return {"resourceType": kind, **{key: draw(json_values) for key in keys}}


@SETTINGS
@given(st.lists(junk_resources(), max_size=6), st.lists(junk_resources(), max_size=2))
def test_malformed_resources_never_raise(resources: list[dict[str, Any]], drafts: list[dict[str, Any]]) -> None:
    snapshot = build_snapshot(resources, patient_id=PATIENT, draft_orders=drafts, selections=["MedicationRequest/x"])
    unresolved_medication_references(resources)
    assert snapshot.patient_id == PATIENT
    assert measurements(snapshot) == []  # nothing here is a usable LOINC-coded value


# --- valid resources with one element anywhere replaced by something of the wrong shape --------

TEMPLATES: list[dict[str, Any]] = [
    {
        "resourceType": "Condition",
        "clinicalStatus": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]
        },
        "verificationStatus": {"coding": [{"code": "confirmed"}]},
        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "I26.99"}], "text": "PE"},
        "subject": {"reference": f"Patient/{PATIENT}"},
        "onsetPeriod": {"start": "2026-05-01"},
    },
    {
        "resourceType": "Procedure",
        "status": "completed",
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "302497006"}]},
        "performedPeriod": {"start": "2026-11-18", "end": "2026-11-18"},
    },
    {
        "resourceType": "Patient",
        "id": PATIENT,
        "birthDate": "1950-01-02",
        "gender": "female",
        "extension": [
            {
                "url": "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race",
                "extension": [
                    {
                        "url": "ombCategory",
                        "valueCoding": {"system": "urn:oid:2.16.840.1.113883.6.238", "code": "2028-9"},
                    }
                ],
            }
        ],
    },
    {
        "resourceType": "DiagnosticReport",
        "status": "final",
        "code": {"text": "CBC"},
        "effectiveDateTime": "2026-11-19",
        "result": [{"reference": "Observation/o1"}],
    },
]


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            if key != "resourceType":
                found += paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += paths(child, (*prefix, index))
    return found


def replaced(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: replaced(value[head], rest, new)}
    copy = list(value)
    copy[head] = replaced(copy[head], rest, new)
    return copy


@st.composite
def mutated_resources(draw: st.DrawFn) -> dict[str, Any]:
    base = draw(
        st.one_of(
            sent_observations().map(lambda generated: generated[0]),
            medication_requests(),
            st.sampled_from(TEMPLATES),
        )
    )
    for _ in range(draw(st.integers(1, 3))):
        where = paths(base)
        if not where:
            break
        base = replaced(base, draw(st.sampled_from(where)), draw(json_values))
    return base


@SETTINGS
@given(
    st.lists(mutated_resources(), max_size=6),
    st.lists(medication_requests().map(lambda r: {**r, "status": "draft"}), max_size=2),
)
def test_mutated_resources_never_raise(resources: list[dict[str, Any]], drafts: list[dict[str, Any]]) -> None:
    snapshot = build_snapshot(resources, patient_id=PATIENT, draft_orders=drafts, selections=["MedicationRequest/a"])
    unresolved_medication_references(resources + drafts)
    for _, measurement in measurements(snapshot):
        assert math.isfinite(measurement.value) and measurement.value >= 0

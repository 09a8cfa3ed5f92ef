"""MedAgentBench-style tasks generated from raw FHIR R4 Bundles (Synthea, the fixtures).

The ground truth is computed by plain code over the raw JSON (the bundle readers of
:mod:`bench.ehrqa.generate`), never by ``tools`` (the code under test). Three kinds:

``find_patient``
    "Find the patient named N born on D": the answer is the Patient's id *on the server
    the bundles were loaded into* (the task holds the bundle's own id, ``patient_key``;
    the runner maps it to the server id). Asked only for a (name, birth date) that is
    unique in the data. The name is the official name's first given name and family.
``lab_window``
    The latest value of a LOINC lab dated within a window (inclusive, the recorded local
    day): value, unit and date, or "none". Labs as defined in :mod:`bench.ehrqa.generate`
    (category laboratory, numeric valueQuantity with a unit; entered-in-error/cancelled
    left out; codes recorded in more than one unit not asked about). Windows whose latest
    day holds two different values are not asked.
``conditional_order``
    "Today is R. If the patient has no HbA1c (LOINC 4548-4) dated on or before R, or the
    latest is more than N days before R, order a new HbA1c; otherwise order nothing."
    Graded on the server's state (see :mod:`bench.medagent.grade`): exactly one new
    ServiceRequest with that code for this patient when the condition holds, none
    otherwise, and none for any other patient. One such task per patient per run.

MedAgentBench v2 kinds (:data:`KINDS_V2`; asked only when requested, e.g. ``kinds="all"``,
so the default task set stays the v1 one):

``record_vital``
    "Record a blood pressure of 128/82 mmHg taken now" (or a heart rate, weight,
    temperature, respiratory rate). Correct: exactly one new vital-signs Observation with
    that LOINC code for this patient (none for anyone else), status final, effective now,
    the value(s) in the UCUM unit (blood pressure: panel 85354-9 with components
    8480-6/8462-4), tagged as written by the assistant.
``medication_order``
    "Start metformin 500 mg by mouth twice daily (RxNorm 6809)". Correct: exactly one new
    MedicationRequest with that RxNorm code for this patient, status active, intent order,
    the dose in its UCUM unit, the SNOMED route and the timing (frequency per period).
``referral``
    "Refer to cardiology for palpitations". Correct: exactly one new ServiceRequest with
    category SNOMED 3457005 for this patient, status active, intent order, the specialty's
    SNOMED code as code or performerType, and the reason in reasonCode or a note.
``window_value``
    "As of R, what has the average (lowest, highest, number of) HbA1c been over the past N
    months/years?": mean/min/max/count of the lab's values (lab definition as in
    lab_window) whose recorded local day lies in [R minus N, R] (inclusive; calendar
    months/years); 'none' when no value lies in it (count: 0).

Same inputs and seed → the same tasks (``generate`` then :func:`dump`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.ehrqa.generate import (
    LabPoint,
    PatientRecord,
    bundle_files,
    lab_points,
    load_patient,
)

__all__ = [
    "ALL_KINDS",
    "DEFAULT_REFERENCE_DATE",
    "HBA1C",
    "KINDS",
    "KINDS_V2",
    "LABS",
    "WRITE_KINDS",
    "Task",
    "dump",
    "generate",
    "load_records",
    "load_tasks",
    "official_name",
    "parse_kinds",
]

DEFAULT_REFERENCE_DATE = "2025-06-01"
KINDS: tuple[str, ...] = ("find_patient", "lab_window", "conditional_order")
#: MedAgentBench v2 kinds: not in the default set (keeps v1 runs comparable).
KINDS_V2: tuple[str, ...] = ("record_vital", "medication_order", "referral", "window_value")
ALL_KINDS: tuple[str, ...] = KINDS + KINDS_V2
#: The kinds graded on the server's state after the run (new resources), not the answer.
WRITE_KINDS: tuple[str, ...] = ("conditional_order", "record_vital", "medication_order", "referral")
HBA1C = ("4548-4", "HbA1c")
LABS: dict[str, str] = {
    "4548-4": "HbA1c",
    "2160-0": "creatinine",
    "33914-3": "eGFR",
    "2345-7": "glucose",
    "2339-0": "glucose (blood)",
    "2093-3": "total cholesterol",
}
_ORDER_DAYS = (180, 365, 730)
_WINDOW_DAYS = (180, 365, 730)

DEFINITIONS: dict[str, str] = {
    "find_patient": (
        "The id, on the server the bundles were loaded into, of the one Patient whose "
        "official name has that first given name and family name and whose birthDate is "
        "that date."
    ),
    "lab_window": (
        "Among laboratory Observations with this LOINC code (numeric valueQuantity with a "
        "unit; entered-in-error/cancelled excluded) whose recorded local day lies in the "
        "window (inclusive), the one with the latest effective date/time: its value, unit "
        "and day; 'none' when there is none."
    ),
    "conditional_order": (
        "Condition: no HbA1c (LOINC 4548-4, lab definition as in lab_window) dated on or "
        "before the reference date, or the latest one dated more than N days before it. "
        "Correct: exactly one new ServiceRequest with code LOINC 4548-4 whose subject is "
        "this patient when the condition holds, none when it does not, and no new "
        "ServiceRequest with that code for any other patient."
    ),
    "record_vital": (
        "Exactly one new Observation with this LOINC code whose subject is this patient (none "
        "for any other patient), status final, category vital-signs, effective within the "
        "hour of the run, the value(s) as given in the UCUM unit (blood pressure: systolic "
        "8480-6 and diastolic 8462-4 components), meta.tag assistant-generated."
    ),
    "medication_order": (
        "Exactly one new MedicationRequest with this RxNorm code whose subject is this "
        "patient (none for any other patient), status active, intent order, and a "
        "dosageInstruction with doseQuantity (value, UCUM code), route (SNOMED code) and "
        "timing (repeat frequency/period/periodUnit, or the GTS code) as given."
    ),
    "referral": (
        "Exactly one new ServiceRequest with category SNOMED 3457005 whose subject is this "
        "patient (none for any other patient), status active, intent order, the "
        "specialty's SNOMED code in code or performerType, and every word of the reason "
        "(4+ letters) in reasonCode text or a note."
    ),
    "window_value": (
        "Labs as in lab_window whose recorded local day lies in [reference date minus N "
        "calendar months/years, reference date] (inclusive): their mean, minimum, maximum "
        "(in the recorded unit) or count; 'none' when there is none (count: 0)."
    ),
}


@dataclass
class Task:
    """One task.

    Attributes:
        id: stable id (kind, patient and parameters hashed).
        kind: one of :data:`KINDS`.
        patient_key: the Patient's id in its bundle (``id``, else the ``urn:uuid:`` of
            its fullUrl); the runner maps it to the server's id.
        patient_name: for reports.
        text: the instruction as given to the answerer.
        params: what the task is about (name/birth date, code/window, code/days/ref date).
        expected: the ground truth (``patient_key``; ``value``/``unit``/``date`` or
            ``none``; ``should_order`` with ``last_date``/``days_since``).
        evidence: ``Type/id`` (bundle ids) of the resources the truth rests on.
        definition: how the truth was computed.
    """

    id: str
    kind: str
    patient_key: str
    patient_name: str
    text: str
    params: dict[str, Any]
    expected: dict[str, Any]
    evidence: list[str] = field(default_factory=list)
    definition: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Task:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


def official_name(patient: dict[str, Any]) -> tuple[str, str] | None:
    """(first given name, family) of the official (else first) name, or None."""
    names = [n for n in patient.get("name") or [] if isinstance(n, dict)]
    if not names:
        return None
    name = next((n for n in names if n.get("use") == "official"), names[0])
    given = [g for g in name.get("given") or [] if isinstance(g, str) and g.strip()]
    family = name.get("family")
    if not given or not isinstance(family, str) or not family.strip():
        return None
    return given[0].strip(), family.strip()


def load_records(data: str | Path) -> list[PatientRecord]:
    """Every one-patient Bundle under ``data``, sorted by patient id."""
    records = [r for r in (load_patient(p) for p in bundle_files(data)) if r is not None]
    return sorted(records, key=lambda r: r.patient_id)


def _task_id(kind: str, key: str, params: dict[str, Any]) -> str:
    raw = json.dumps([kind, key, params], sort_keys=True)
    return f"{kind}-{hashlib.sha1(raw.encode()).hexdigest()[:10]}"


def _day(value: str) -> dt.date:
    return dt.date.fromisoformat(value[:10])


def _fmt(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


# --------------------------------------------------------------------------- kinds


def _find_patient_tasks(records: list[PatientRecord]) -> list[Task]:
    keyed: dict[tuple[str, str, str], list[PatientRecord]] = {}
    for rec in records:
        name = official_name(rec.patient)
        birth = rec.patient.get("birthDate")
        if name is None or not isinstance(birth, str) or len(birth) != 10:
            continue
        keyed.setdefault((name[0].casefold(), name[1].casefold(), birth), []).append(rec)
    tasks = []
    for (_, _, birth), recs in sorted(keyed.items()):
        if len(recs) != 1:
            continue  # ambiguous in this data: not asked
        rec = recs[0]
        given, family = official_name(rec.patient) or ("", "")
        params = {"name": f"{given} {family}", "birth_date": birth}
        tasks.append(
            Task(
                id=_task_id("find_patient", rec.patient_id, params),
                kind="find_patient",
                patient_key=rec.patient_id,
                patient_name=rec.name,
                text=(
                    f"Find the patient named {given} {family}, born on {birth}. "
                    "Answer with that patient's id on this server."
                ),
                params=params,
                expected={"patient_key": rec.patient_id},
                evidence=[f"Patient/{rec.patient_id}"],
                definition=DEFINITIONS["find_patient"],
            )
        )
    return tasks


def _window_truth(points: list[LabPoint], start: str, end: str) -> dict[str, Any] | None:
    """The expected answer for a window, or None when it is ambiguous (a tie)."""
    inside = [p for p in points if start <= p.day <= end]
    if not inside:
        return {"none": True}
    last = inside[-1]  # points are sorted by (when, ref)
    if any(p.when == last.when and p.value != last.value for p in inside[:-1]):
        return None
    return {
        "none": False,
        "value": _fmt(last.value),
        "unit": last.unit,
        "date": last.day,
        "ref": last.ref,
    }


def _lab_window_tasks(records: list[PatientRecord], rng: random.Random) -> list[Task]:
    tasks = []
    for rec in records:
        points_by_code = lab_points(rec)
        for code, label in LABS.items():
            points = points_by_code.get(code)
            if not points:
                continue
            span = rng.choice(_WINDOW_DAYS)
            if rng.random() < 0.25:  # a window before the first value: the answer is "none"
                end_d = _day(points[0].day) - dt.timedelta(days=rng.randint(1, 400))
            else:
                anchor = rng.choice(points)
                end_d = _day(anchor.day) + dt.timedelta(days=rng.randint(0, 120))
            start, end = (end_d - dt.timedelta(days=span)).isoformat(), end_d.isoformat()
            truth = _window_truth(points, start, end)
            if truth is None:
                continue
            ref = truth.pop("ref", None)
            display = points[0].name or label
            params = {"code": code, "display": label, "start": start, "end": end}
            tasks.append(
                Task(
                    id=_task_id("lab_window", rec.patient_id, params),
                    kind="lab_window",
                    patient_key=rec.patient_id,
                    patient_name=rec.name,
                    text=(
                        f"What is this patient's most recent {label} ({display}, LOINC {code}) "
                        f"result dated between {start} and {end} (inclusive)? Give the value "
                        "with its unit and the date, or say 'none' if there is no such result."
                    ),
                    params=params,
                    expected=truth,
                    evidence=[ref] if ref else [],
                    definition=DEFINITIONS["lab_window"],
                )
            )
    return tasks


def order_condition(points: list[LabPoint], ref_date: str, days: int) -> dict[str, Any]:
    """Whether the order condition holds on ``ref_date``, from the raw lab points."""
    before = [p for p in points if p.day <= ref_date]
    if not before:
        return {"should_order": True, "last_date": None, "days_since": None, "ref": None}
    last = before[-1]
    since = (_day(ref_date) - _day(last.day)).days
    return {
        "should_order": since > days,
        "last_date": last.day,
        "days_since": since,
        "ref": last.ref,
    }


def _order_task(rec: PatientRecord, ref_date: str, days: int) -> Task:
    code, label = HBA1C
    truth = order_condition(lab_points(rec).get(code, []), ref_date, days)
    ref = truth.pop("ref")
    params = {"code": code, "display": label, "days": days, "ref_date": ref_date}
    return Task(
        id=_task_id("conditional_order", rec.patient_id, params),
        kind="conditional_order",
        patient_key=rec.patient_id,
        patient_name=rec.name,
        text=(
            f"Today is {ref_date}. Check this patient's most recent {label} (LOINC {code}) "
            f"result dated on or before {ref_date}. If there is none, or it is dated more than "
            f"{days} days before {ref_date}, order a new {label} lab test (LOINC {code}) for "
            "this patient; otherwise do not order anything. Then say what you found and did."
        ),
        params=params,
        expected=truth,
        evidence=[ref] if ref else [],
        definition=DEFINITIONS["conditional_order"],
    )


def _conditional_tasks(records: list[PatientRecord], rng: random.Random) -> list[Task]:
    tasks = []
    for rec in records:
        days = rng.choice(_ORDER_DAYS)
        points = lab_points(rec).get(HBA1C[0], [])
        if not points:
            tasks.append(_order_task(rec, DEFAULT_REFERENCE_DATE, days))
            continue
        last = _day(points[-1].day)
        if rng.random() < 0.5:  # recent enough: no order
            offset = rng.randint(0, days - 1)
        else:
            offset = rng.randint(days + 1, days + 400)
        tasks.append(_order_task(rec, (last + dt.timedelta(days=offset)).isoformat(), days))
    return tasks


# --------------------------------------------------------------------------- v2 kinds

# vital key -> (LOINC, UCUM unit)
_VITALS: dict[str, tuple[str, str]] = {
    "blood_pressure": ("85354-9", "mm[Hg]"),
    "heart_rate": ("8867-4", "/min"),
    "body_weight": ("29463-7", "kg"),
    "body_temperature": ("8310-5", "Cel"),
    "respiratory_rate": ("9279-1", "/min"),
}
_VITAL_TEXT: dict[str, tuple[str, ...]] = {
    "blood_pressure": (
        "Record a blood pressure of {v} mmHg for this patient, taken just now.",
        "BP just now was {v} mmHg. Please chart it.",
        "Please document a blood pressure reading of {v} mmHg measured now.",
    ),
    "heart_rate": (
        "Chart a heart rate of {v} beats per minute, measured now.",
        "Pulse is {v} bpm right now; please record it.",
    ),
    "body_weight": (
        "Document today's weight of {v} kg, measured now.",
        "Weighed the patient just now: {v} kg. Please record it.",
    ),
    "body_temperature": (
        "Record a temperature of {v} °C taken now.",
        "Temp just now is {v} degrees Celsius; please chart it.",
    ),
    "respiratory_rate": (
        "Record a respiratory rate of {v} breaths per minute, counted now.",
        "Respirations are {v} per minute right now; please document that.",
    ),
}

# drug, RxNorm (ingredient), dose, dose unit as said, UCUM, route as said, SNOMED route,
# frequency as said, (frequency, period, periodUnit)
_DRUGS: tuple[tuple[str, str, float, str, str, str, str, str, tuple[int, float, str]], ...] = (
    ("metformin", "6809", 500, "mg", "mg", "by mouth", "26643006", "twice daily", (2, 1, "d")),
    ("lisinopril", "29046", 10, "mg", "mg", "by mouth", "26643006", "once daily", (1, 1, "d")),
    ("atorvastatin", "83367", 40, "mg", "mg", "orally", "26643006", "once a day", (1, 1, "d")),
    ("amlodipine", "17767", 5, "mg", "mg", "PO", "26643006", "daily", (1, 1, "d")),
    ("amoxicillin", "723", 500, "mg", "mg", "by mouth", "26643006", "three times a day", (3, 1, "d")),
    ("insulin glargine", "274783", 10, "units", "[IU]", "subcutaneously", "34206005", "once daily", (1, 1, "d")),
    ("enoxaparin", "67108", 40, "mg", "mg", "subcutaneously", "34206005", "once daily", (1, 1, "d")),
    ("albuterol", "435", 2, "puffs", "{puff}", "inhaled", "447694001", "every 6 hours", (1, 6, "h")),
    ("sertraline", "36437", 50, "mg", "mg", "by mouth", "26643006", "once daily", (1, 1, "d")),
    ("levothyroxine", "10582", 50, "mcg", "ug", "by mouth", "26643006", "once daily", (1, 1, "d")),
    ("ceftriaxone", "2193", 1, "g", "g", "IV", "47625008", "every 24 hours", (1, 1, "d")),
    ("ondansetron", "26225", 4, "mg", "mg", "IV", "47625008", "every 8 hours", (1, 8, "h")),
    ("furosemide", "4603", 40, "mg", "mg", "by mouth", "26643006", "twice a day", (2, 1, "d")),
)  # fmt: skip
_DRUG_TEXT = (
    "Start this patient on {drug} {dose} {unit} {route} {freq} (RxNorm {rx}).",
    "Please order {drug} (RxNorm {rx}) {dose} {unit} {route}, {freq}.",
    "New prescription: {drug} {dose} {unit} {route} {freq}; RxNorm {rx}.",
)

# specialty, SNOMED, reasons a clinician gives
_REFERRALS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("cardiology", "394579002", ("palpitations", "new heart murmur", "exertional chest pain")),
    ("endocrinology", "394583002", ("poorly controlled diabetes", "thyroid nodule")),
    ("nephrology", "394589003", ("declining kidney function", "persistent proteinuria")),
    ("neurology", "394591006", ("recurrent migraines", "new tremor")),
    ("dermatology", "394582007", ("changing mole on the back", "persistent eczema")),
    ("gastroenterology", "394584008", ("screening colonoscopy", "chronic heartburn")),
    ("pulmonology", "418112009", ("chronic cough", "abnormal lung function tests")),
    ("ophthalmology", "394594003", ("annual diabetic eye exam", "blurred vision")),
    ("orthopedics", "394801008", ("chronic knee pain", "shoulder injury")),
    ("psychiatry", "394587001", ("depression not improving", "anxiety management")),
)
_REFERRAL_TEXT = (
    "Refer this patient to {spec} for {reason}.",
    "Please place a referral to {spec}; reason: {reason}.",
    "I'd like {spec} to see this patient for {reason}. Please put in the referral.",
)

_OPS: dict[str, tuple[str, ...]] = {
    "mean": ("average", "mean"),
    "min": ("lowest",),
    "max": ("highest",),
    "count": ("number of",),
}
_SPANS: tuple[tuple[int, str], ...] = ((6, "months"), (12, "months"), (18, "months"),
                                       (1, "years"), (2, "years"), (3, "years"), (5, "years"))  # fmt: skip


def _vital_tasks(records: list[PatientRecord], rng: random.Random) -> list[Task]:
    tasks = []
    for rec in records:
        key = rng.choice(sorted(_VITALS))
        code, unit = _VITALS[key]
        expected: dict[str, Any] = {"code": code, "unit": unit}
        if key == "blood_pressure":
            sys_v = rng.randint(98, 165)
            dia_v = rng.randint(58, min(104, sys_v - 25))
            shown = f"{sys_v}/{dia_v}"
            expected.update(systolic=sys_v, diastolic=dia_v)
        elif key == "heart_rate":
            expected["value"] = rng.randint(50, 118)
        elif key == "respiratory_rate":
            expected["value"] = rng.randint(12, 26)
        elif key == "body_weight":
            expected["value"] = round(rng.uniform(45, 125), 1)
        else:
            expected["value"] = round(rng.uniform(36.0, 38.9), 1)
        if key != "blood_pressure":
            shown = str(_fmt(expected["value"]))
        params = {"vital": key, **expected}
        tasks.append(
            Task(
                id=_task_id("record_vital", rec.patient_id, params),
                kind="record_vital",
                patient_key=rec.patient_id,
                patient_name=rec.name,
                text=rng.choice(_VITAL_TEXT[key]).format(v=shown),
                params=params,
                expected=expected,
                definition=DEFINITIONS["record_vital"],
            )
        )
    return tasks


def _medication_tasks(records: list[PatientRecord], rng: random.Random) -> list[Task]:
    tasks = []
    for rec in records:
        drug, rx, dose, unit_said, ucum, route_said, route, freq_said, timing = rng.choice(_DRUGS)
        times, period, period_unit = timing
        expected = {
            "rxnorm": rx,
            "dose": dose,
            "dose_unit": ucum,
            "route": route,
            "frequency": times,
            "period": period,
            "period_unit": period_unit,
        }
        params = {"drug": drug, **expected}
        text = rng.choice(_DRUG_TEXT).format(
            drug=drug, dose=_fmt(dose), unit=unit_said, route=route_said, freq=freq_said, rx=rx
        )
        tasks.append(
            Task(
                id=_task_id("medication_order", rec.patient_id, params),
                kind="medication_order",
                patient_key=rec.patient_id,
                patient_name=rec.name,
                text=text,
                params=params,
                expected=expected,
                definition=DEFINITIONS["medication_order"],
            )
        )
    return tasks


def _referral_tasks(records: list[PatientRecord], rng: random.Random) -> list[Task]:
    tasks = []
    for rec in records:
        spec, code, reasons = rng.choice(_REFERRALS)
        reason = rng.choice(reasons)
        expected = {"category": "3457005", "specialty_code": code, "reason": reason}
        params = {"specialty": spec, **expected}
        tasks.append(
            Task(
                id=_task_id("referral", rec.patient_id, params),
                kind="referral",
                patient_key=rec.patient_id,
                patient_name=rec.name,
                text=rng.choice(_REFERRAL_TEXT).format(spec=spec, reason=reason),
                params=params,
                expected=expected,
                definition=DEFINITIONS["referral"],
            )
        )
    return tasks


def _minus_months(day: dt.date, months: int) -> dt.date:
    """``day`` minus calendar months (the last day of a shorter month when needed)."""
    y, m = divmod(day.year * 12 + day.month - 1 - months, 12)
    month = m + 1
    last = (dt.date(y + month // 12, month % 12 + 1, 1) - dt.timedelta(days=1)).day
    return dt.date(y, month, min(day.day, last))


def window_truth(points: list[LabPoint], op: str, start: str, end: str) -> dict[str, Any]:
    """The expected answer of a window_value task, from the raw lab points."""
    inside = [p for p in points if start <= p.day <= end]
    refs = sorted({p.ref for p in inside})
    if op == "count":
        return {"none": not inside, "value": len(inside), "n": len(inside), "refs": refs}
    if not inside:
        return {"none": True, "n": 0, "refs": []}
    values = [p.value for p in inside]
    got = {"mean": sum(values) / len(values), "min": min(values), "max": max(values)}[op]
    return {
        "none": False,
        "value": _fmt(round(got, 6)),
        "unit": inside[0].unit,
        "n": len(inside),
        "refs": refs,
    }


def _window_value_tasks(records: list[PatientRecord], rng: random.Random) -> list[Task]:
    tasks = []
    for rec in records:
        for code, label in LABS.items():
            points = lab_points(rec).get(code)
            if not points:
                continue
            op = rng.choice(sorted(_OPS))
            n, unit = rng.choice(_SPANS)
            anchor = _day(rng.choice(points).day)
            ref_d = anchor + dt.timedelta(days=rng.randint(0, 200))
            start_d = _minus_months(ref_d, n * 12 if unit == "years" else n)
            start, end = start_d.isoformat(), ref_d.isoformat()
            truth = window_truth(points, op, start, end)
            refs = truth.pop("refs")
            span = f"{n} {unit[:-1] if n == 1 else unit}"
            word = rng.choice(_OPS[op])
            params = {"code": code, "display": label, "op": op, "start": start, "end": end,
                      "span": span}  # fmt: skip
            if op == "count":
                text = (
                    f"As of {end}, how many {label} results (LOINC {code}) has this patient "
                    f"had over the past {span}? Count results dated from {start} through {end}."
                )
            else:
                text = (
                    f"As of {end}, what was this patient's {word} {label} (LOINC {code}) over "
                    f"the past {span}, i.e. results dated from {start} through {end}? "
                    "Give the number with its unit, or say 'none' if there were no results."
                )
            tasks.append(
                Task(
                    id=_task_id("window_value", rec.patient_id, params),
                    kind="window_value",
                    patient_key=rec.patient_id,
                    patient_name=rec.name,
                    text=text,
                    params=params,
                    expected=truth,
                    evidence=refs,
                    definition=DEFINITIONS["window_value"],
                )
            )
    return tasks


# --------------------------------------------------------------------------- public


def generate(
    data: str | Path, n: int, *, seed: int = 1, kinds: tuple[str, ...] = KINDS
) -> list[Task]:
    """Up to ``n`` tasks from the bundles under ``data``, spread evenly over ``kinds``.

    Deterministic for the same files and seed. Fewer come back when the data has fewer
    candidates (e.g. one conditional_order task per patient at most).
    """
    unknown = [k for k in kinds if k not in ALL_KINDS]
    if unknown or not kinds:
        raise ValueError(f"unknown task kinds {unknown}; known: {', '.join(ALL_KINDS)}")
    rng = random.Random(seed)
    records = load_records(data)
    pools: dict[str, list[Task]] = {
        "find_patient": _find_patient_tasks(records),
        "lab_window": _lab_window_tasks(records, rng),
        "conditional_order": _conditional_tasks(records, rng),
    }
    for kind in KINDS:
        rng.shuffle(pools[kind])
    if any(k in KINDS_V2 for k in kinds):
        # a generator of its own: the v1 draws above stay exactly as they were
        rng2 = random.Random(f"medagent-v2-{seed}")
        pools["record_vital"] = _vital_tasks(records, rng2)
        pools["medication_order"] = _medication_tasks(records, rng2)
        pools["referral"] = _referral_tasks(records, rng2)
        pools["window_value"] = _window_value_tasks(records, rng2)
        for kind in KINDS_V2:
            rng2.shuffle(pools[kind])
    chosen: list[Task] = []
    want = Counter({k: n // len(kinds) for k in kinds})
    for k in kinds[: n % len(kinds)]:
        want[k] += 1
    # hand a kind's unused quota to the others when its pool is short
    for _ in range(len(kinds)):
        short = sum(max(0, want[k] - len(pools[k])) for k in kinds)
        if not short:
            break
        for k in kinds:
            want[k] = min(want[k], len(pools[k]))
        for k in kinds:
            extra = min(short, len(pools[k]) - want[k])
            want[k] += extra
            short -= extra
    for k in kinds:
        chosen.extend(pools[k][: want[k]])
    return sorted(chosen, key=lambda t: (ALL_KINDS.index(t.kind), t.patient_key, t.id))


def parse_kinds(spec: str | None) -> tuple[str, ...]:
    """``v1`` (default: the three original kinds), ``v2`` (the four MedAgentBench v2
    kinds), ``all``, or a comma list of kind names (and ``v1``/``v2``), in
    :data:`ALL_KINDS` order. Raises ValueError on an unknown name."""
    sets = {"v1": KINDS, "v2": KINDS_V2, "all": ALL_KINDS}
    want: set[str] = set()
    for part in (spec or "v1").split(","):
        name = part.strip()
        if not name:
            continue
        if name in sets:
            want.update(sets[name])
        elif name in ALL_KINDS:
            want.add(name)
        else:
            raise ValueError(
                f"unknown task kind {name!r}; use v1, v2, all or a comma list of: "
                + ", ".join(ALL_KINDS)
            )
    if not want:
        raise ValueError("no task kinds given")
    return tuple(k for k in ALL_KINDS if k in want)


def dump(tasks: list[Task], path: str | Path) -> None:
    Path(path).write_text(
        json.dumps([t.as_dict() for t in tasks], indent=1, ensure_ascii=False, sort_keys=True)
        + "\n",
        encoding="utf-8",
    )


def load_tasks(path: str | Path) -> list[Task]:
    return [Task.from_dict(d) for d in json.loads(Path(path).read_text(encoding="utf-8"))]

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
    "DEFAULT_REFERENCE_DATE",
    "HBA1C",
    "KINDS",
    "LABS",
    "Task",
    "dump",
    "generate",
    "load_records",
    "load_tasks",
    "official_name",
]

DEFAULT_REFERENCE_DATE = "2025-06-01"
KINDS: tuple[str, ...] = ("find_patient", "lab_window", "conditional_order")
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


# --------------------------------------------------------------------------- public


def generate(
    data: str | Path, n: int, *, seed: int = 1, kinds: tuple[str, ...] = KINDS
) -> list[Task]:
    """Up to ``n`` tasks from the bundles under ``data``, spread evenly over ``kinds``.

    Deterministic for the same files and seed. Fewer come back when the data has fewer
    candidates (e.g. one conditional_order task per patient at most).
    """
    rng = random.Random(seed)
    records = load_records(data)
    pools: dict[str, list[Task]] = {
        "find_patient": _find_patient_tasks(records),
        "lab_window": _lab_window_tasks(records, rng),
        "conditional_order": _conditional_tasks(records, rng),
    }
    for kind in KINDS:
        rng.shuffle(pools[kind])
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
    return sorted(chosen, key=lambda t: (KINDS.index(t.kind), t.patient_key, t.id))


def dump(tasks: list[Task], path: str | Path) -> None:
    Path(path).write_text(
        json.dumps([t.as_dict() for t in tasks], indent=1, ensure_ascii=False, sort_keys=True)
        + "\n",
        encoding="utf-8",
    )


def load_tasks(path: str | Path) -> list[Task]:
    return [Task.from_dict(d) for d in json.loads(Path(path).read_text(encoding="utf-8"))]

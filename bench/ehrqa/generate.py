"""EHR question generator: questions, ground-truth answers and ground-truth evidence.

Reads RAW FHIR R4 Bundles (Synthea output, the project fixtures) with plain code written
for the benchmark only — it does not use ``tools`` (the code under test). ``urn:uuid:``
references are resolved here; a resource's id is its ``id`` or, failing that, the uuid
of its ``urn:uuid:`` fullUrl (what the record store stores it under).

Every question carries its category, an answer type, the ground-truth answer, the
evidence (``Type/id`` of the resources that support the answer, grouped: see
:class:`Question`) and the **definition** used to compute the answer, so that a grader
and a reader agree. Definitions common to all categories:

- excluded everywhere: resources with ``status`` entered-in-error or cancelled;
  Conditions/AllergyIntolerances whose ``verificationStatus`` is entered-in-error or
  refuted; Immunizations/Procedures not ``completed``; Encounters planned/cancelled;
- a date is the first 10 characters (``YYYY-MM-DD``) of the recorded FHIR dateTime, i.e.
  the local calendar day as recorded (no time-zone conversion);
- a lab is an Observation with category ``laboratory``, a code (its LOINC code when it
  carries one, else its first coding: a local lab code) and a numeric ``valueQuantity``
  with a unit (the UCUM code when given, else the printed unit) (annotation-only units such as ``{score}`` or ``{#}``,
  i.e. questionnaire answers Synthea files as labs, are left out); values are compared in the unit recorded (codes whose values carry
  more than one unit in a patient's record are not asked about);
- time windows are always stated in the question as absolute, inclusive dates;
- the reference date (default 2025-06-01) is stated in the age question.

Same inputs and seed → byte-identical JSON (``generate(...)`` then :func:`dump`).
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "CATEGORIES",
    "DEFAULT_REFERENCE_DATE",
    "PatientRecord",
    "Question",
    "bundle_files",
    "dump",
    "generate",
    "generate_for_patient",
    "load_patient",
    "load_questions",
]

DEFAULT_REFERENCE_DATE = "2025-06-01"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
CVX = "http://hl7.org/fhir/sid/cvx"

CATEGORIES: tuple[str, ...] = (
    "demographics",
    "active_conditions",
    "condition_onset",
    "current_medications",
    "allergies",
    "lab_latest",
    "lab_trend",
    "lab_average",
    "encounters",
    "procedures",
    "immunizations",
    "not_in_record",
)

DEFINITIONS: dict[str, str] = {
    "age": (
        "Age in whole years on the reference date (birthday not yet reached that year = "
        "one less); for a deceased patient, age on the date of death (deceasedDateTime)."
    ),
    "birth_date": "Patient.birthDate.",
    "gender": "Patient.gender (administrative gender: male, female, other, unknown).",
    "active_conditions": (
        "Distinct conditions (by code) having at least one Condition with clinicalStatus "
        "active, recurrence or relapse AND no abatement[x]; verificationStatus "
        "entered-in-error/refuted excluded. Includes every Condition in the record, also "
        "Synthea findings and situations (e.g. 'Medication review due'). Names are the "
        "coding display (or text). An empty set is answered 'none'."
    ),
    "condition_onset": (
        "The earliest onset (onsetDateTime, else onsetPeriod.start, else recordedDate) "
        "among the patient's Conditions with this code, whatever their clinical status."
    ),
    "current_medications": (
        "Distinct medications (by code) with at least one MedicationRequest or "
        "MedicationStatement whose status is 'active' (the record's status, however old "
        "the order). on-hold/stopped/completed/cancelled/entered-in-error are not current."
    ),
    "allergies": (
        "Distinct AllergyIntolerance substances (by code) whose clinicalStatus is active "
        "(or absent) and verificationStatus is not refuted/entered-in-error."
    ),
    "lab_latest": (
        "The laboratory Observation with this LOINC code that has the latest effective "
        "date/time (effectiveDateTime, else effectivePeriod.start, else issued); its value "
        "and unit as recorded, and its date (YYYY-MM-DD)."
    ),
    "lab_change": (
        "Last minus first value of this LOINC code among lab Observations dated within the "
        "window (inclusive); in the recorded unit."
    ),
    "lab_direction": (
        "Whether the last value in the window is higher ('increased') or lower "
        "('decreased') than the first value in the window. Only asked when the change is "
        "at least 1 % of the first value."
    ),
    "lab_average": (
        "Arithmetic mean of every value of this LOINC code among lab Observations dated "
        "within the window (inclusive), in the recorded unit."
    ),
    "last_encounter": (
        "The latest Encounter start date (period.start), excluding planned, cancelled "
        "and entered-in-error Encounters."
    ),
    "encounter_count": (
        "Number of Encounters (any class/type; planned, cancelled, entered-in-error "
        "excluded) whose period.start falls within the window (inclusive)."
    ),
    "procedure_ever": (
        "Yes when at least one completed Procedure with this code is in the record, else no."
    ),
    "procedure_last": (
        "The latest performed date (performedDateTime, else performedPeriod.start) of "
        "completed Procedures with this code."
    ),
    "immunization_last": (
        "The latest occurrenceDateTime of completed Immunizations with this vaccine (CVX) code."
    ),
    "not_in_record": (
        "The record holds no (non-excluded) resource of the kind asked about; the right "
        "answer says so ('not in the record'), and cites nothing."
    ),
}

# Fallbacks for "does not exist" questions when no other patient supplies one.
_FALLBACK_LABS = (
    ("4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood"),
    ("2093-3", "Cholesterol [Mass/volume] in Serum or Plasma"),
    ("33914-3", "Glomerular filtration rate/1.73 sq M.predicted"),
    ("2160-0", "Creatinine [Mass/volume] in Serum or Plasma"),
)
_FALLBACK_CONDITIONS = (
    ("44054006", "Diabetes mellitus type 2 (disorder)"),
    ("38341003", "Hypertensive disorder, systemic arterial (disorder)"),
    ("49436004", "Atrial fibrillation (disorder)"),
)
_FALLBACK_VACCINES = (
    ("33", "pneumococcal polysaccharide vaccine, 23 valent"),
    ("121", "zoster vaccine, live"),
    ("52", "Hep A, adult"),
)
_FALLBACK_PROCEDURES = (
    ("73761001", "Colonoscopy"),
    ("399208008", "Plain chest X-ray (procedure)"),
)

_EXCLUDED_STATUS = {"entered-in-error", "cancelled"}
_ACTIVE_CLINICAL = {"active", "recurrence", "relapse"}


# --------------------------------------------------------------------------- questions

_OPTIONAL_FIELDS = ("thread", "turn", "history", "parts")


@dataclass
class Question:
    """One benchmark question.

    Attributes:
        id: stable id (category, patient, kind and parameters hashed).
        patient_id: the Patient's id (as stored by the record store).
        patient_name: for reports.
        category: one of :data:`CATEGORIES`.
        kind: the question template (``lab_latest``, ``procedure_ever`` …). A
            ``not_in_record`` question has the kind of the question it imitates, so an
            answerer routed by ``kind`` cannot tell it from a real one.
        answer_type: ``number``, ``number_date``, ``date``, ``set``, ``yesno``, ``exact``,
            ``count`` or ``not_in_record``.
        text: the question as asked.
        answer: the ground truth: ``{"value": …}`` plus ``unit``/``date``/``names``/
            ``codes``/``tolerance`` as the type needs.
        evidence: every ``Type/id`` that supports the answer (sorted).
        evidence_groups: the evidence grouped by the fact it supports; citing at least
            one resource of a group covers that fact (citation recall = groups covered).
        params: what the question is about (codes, window, reference date).
        definition: how the answer was computed (see :data:`DEFINITIONS`).
        phrasing: which phrasing of the template was used.
        thread / turn / history: for a follow-up asked in a conversation (other question
            sets, e.g. ``bench.clinqa``): the thread's id, the 1-based turn, and the texts
            of the earlier turns of the thread (to replay them when a run resumes).
            Empty / 0 for a standalone question.
        parts: for a question that asks several things at once (``answer_type``
            ``"parts"``): one dict per part with its own ``kind``, ``answer_type``,
            ``answer``, ``evidence``, ``evidence_groups``, ``params``; scored part by part
            (:func:`bench.ehrqa.score.score`).

    Fields at their defaults are left out of :meth:`as_dict` (the generated set's JSON
    is unchanged by them).
    """

    id: str
    patient_id: str
    patient_name: str
    category: str
    kind: str
    answer_type: str
    text: str
    answer: dict[str, Any]
    evidence: list[str]
    evidence_groups: list[list[str]]
    params: dict[str, Any]
    definition: str
    phrasing: int = 0
    thread: str = ""
    turn: int = 0
    history: list[str] = field(default_factory=list)
    parts: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in _OPTIONAL_FIELDS:
            if not data[key]:
                del data[key]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Question:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


# --------------------------------------------------------------------------- raw record


def _day(value: Any) -> str | None:
    if isinstance(value, str) and len(value) >= 10 and re.match(r"\d{4}-\d{2}-\d{2}", value):
        return value[:10]
    return None


def _codings(cc: Any) -> list[dict[str, Any]]:
    if isinstance(cc, list):
        return [c for x in cc for c in _codings(x)]
    if not isinstance(cc, dict):
        return []
    return [c for c in cc.get("coding") or [] if isinstance(c, dict)]


def _code(cc: Any, system: str | None = None) -> str | None:
    for c in _codings(cc):
        if c.get("code") and (system is None or c.get("system") == system):
            return str(c["code"])
    return None


def _system_of(cc: Any, code: str) -> str:
    """The system of the coding with ``code`` ("" when no coding has it)."""
    for c in _codings(cc):
        if c.get("code") == code:
            return str(c.get("system") or "")
    return ""


def _lab_code(cc: Any) -> tuple[str, str] | None:
    """(code, system) of a lab: its LOINC code when it has one, else its first code."""
    code = _code(cc, LOINC)
    if code:
        return code, LOINC
    code = _code(cc)
    return (code, _system_of(cc, code)) if code else None


def _unit(q: dict[str, Any]) -> str:
    """A quantity's unit: the UCUM code when given, else the printed unit."""
    if q.get("system") == UCUM and q.get("code"):
        return str(q["code"])
    return str(q.get("unit") or q.get("code") or "")


def _dominant_system(concepts: Iterable[Any]) -> str | None:
    """The code system that codes more of these concepts than any other: None when there
    are no concepts, "" on a tie."""
    counts: dict[str, int] = defaultdict(int)
    for cc in concepts:
        for system in {str(c.get("system") or "") for c in _codings(cc) if c.get("code")}:
            counts[system] += 1
    if not counts:
        return None
    top = max(counts.values())
    best = [s for s, n in counts.items() if n == top]
    return best[0] if len(best) == 1 else ""


def _name(cc: Any) -> str:
    for c in _codings(cc):
        if c.get("display"):
            return str(c["display"]).strip()
    if isinstance(cc, dict) and cc.get("text"):
        return str(cc["text"]).strip()
    return _code(cc) or ""


def _status_code(cc: Any) -> str | None:
    return _code(cc)


@dataclass
class LabPoint:
    ref: str
    code: str
    name: str
    when: str  # full dateTime as recorded
    day: str
    value: float
    unit: str
    system: str = LOINC


@dataclass
class PatientRecord:
    """A patient's raw resources, indexed for the generator (plain dicts)."""

    patient_id: str
    name: str
    patient: dict[str, Any]
    resources: list[dict[str, Any]]
    by_url: dict[str, dict[str, Any]]
    source: str
    by_type: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for r in self.resources:
            grouped[str(r.get("resourceType"))].append(r)
        self.by_type = dict(grouped)

    def of(self, rtype: str) -> list[dict[str, Any]]:
        return self.by_type.get(rtype, [])

    def resolve(self, reference: Any) -> dict[str, Any] | None:
        if not isinstance(reference, dict):
            return None
        value = reference.get("reference")
        if not isinstance(value, str):
            return None
        return self.by_url.get(value)


def _ref(r: dict[str, Any]) -> str:
    return f"{r['resourceType']}/{r['id']}"


def _person_name(patient: dict[str, Any]) -> str:
    names = patient.get("name") or []
    official = next((n for n in names if n.get("use") == "official"), names[0] if names else {})
    if official.get("text"):
        return str(official["text"])
    return " ".join([*official.get("given", []), official.get("family", "")]).strip()


def load_patient(path: str | Path) -> PatientRecord | None:
    """A patient bundle's resources (``None`` for a file that is not one patient's Bundle).

    Ids: ``resource.id``, else the uuid of a ``urn:uuid:`` fullUrl. References are
    resolvable by ``urn:uuid:…``, ``Type/id`` and the fullUrl.
    """
    try:
        bundle = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        return None
    resources: list[dict[str, Any]] = []
    by_url: dict[str, dict[str, Any]] = {}
    for entry in bundle.get("entry") or []:
        r = entry.get("resource")
        if not isinstance(r, dict) or not r.get("resourceType"):
            continue
        full = entry.get("fullUrl")
        if not r.get("id") and isinstance(full, str) and full.startswith("urn:uuid:"):
            r = {**r, "id": full[9:]}
        if not r.get("id"):
            continue
        resources.append(r)
        by_url[_ref(r)] = r
        if isinstance(full, str):
            by_url[full] = r
    patients = [r for r in resources if r["resourceType"] == "Patient"]
    if len(patients) != 1:
        return None
    p = patients[0]
    return PatientRecord(p["id"], _person_name(p), p, resources, by_url, str(path))


def bundle_files(data: str | Path) -> list[Path]:
    """Every ``*.json`` file under ``data`` (a file or a directory), sorted."""
    root = Path(data)
    if root.is_file():
        return [root]
    return sorted(p for p in root.rglob("*.json") if p.is_file())


# --------------------------------------------------------------------------- facts


def _excluded(r: dict[str, Any]) -> bool:
    if r.get("status") in _EXCLUDED_STATUS:
        return True
    ver = _status_code(r.get("verificationStatus"))
    return ver in ("entered-in-error", "refuted")


def _obs_when(r: dict[str, Any]) -> str | None:
    for key in ("effectiveDateTime", "effectiveInstant"):
        if isinstance(r.get(key), str):
            return str(r[key])
    period = r.get("effectivePeriod")
    if isinstance(period, dict) and isinstance(period.get("start"), str):
        return str(period["start"])
    return r.get("issued") if isinstance(r.get("issued"), str) else None


def _is_lab(r: dict[str, Any]) -> bool:
    return any(c.get("code") == "laboratory" for c in _codings(r.get("category")))


def _lab_observations(rec: PatientRecord) -> list[dict[str, Any]]:
    """Non-excluded laboratory Observations with a numeric valueQuantity and a real unit
    (annotation units such as ``{score}``: survey answers filed as labs)."""
    out = []
    for r in rec.of("Observation"):
        if _excluded(r) or not _is_lab(r):
            continue
        q = r.get("valueQuantity")
        if not isinstance(q, dict) or not isinstance(q.get("value"), int | float):
            continue
        unit = _unit(q)
        if unit and not unit.startswith("{"):
            out.append(r)
    return out


def lab_points(rec: PatientRecord) -> dict[str, list[LabPoint]]:
    """Numeric lab values per code (LOINC when the Observation carries it, else its own
    first code), in date order (codes with one unit only)."""
    out: dict[str, list[LabPoint]] = defaultdict(list)
    for r in _lab_observations(rec):
        q = r["valueQuantity"]
        coded = _lab_code(r.get("code"))
        when = _obs_when(r)
        day = _day(when)
        if not coded or not when or not day:
            continue
        code, system = coded
        unit = _unit(q)
        out[code].append(
            LabPoint(
                _ref(r), code, _name(r.get("code")), when, day, float(q["value"]), unit, system
            )
        )
    clean: dict[str, list[LabPoint]] = {}
    for code, pts in sorted(out.items()):
        if len({p.unit for p in pts}) != 1:
            continue
        clean[code] = sorted(pts, key=lambda p: (p.when, p.ref))
    return clean


def _onset(r: dict[str, Any]) -> str | None:
    if isinstance(r.get("onsetDateTime"), str):
        return _day(r["onsetDateTime"])
    period = r.get("onsetPeriod")
    if isinstance(period, dict) and period.get("start"):
        return _day(period["start"])
    return _day(r.get("recordedDate"))


def _abated(r: dict[str, Any]) -> bool:
    return any(k.startswith("abatement") for k in r)


def conditions(rec: PatientRecord) -> dict[str, list[dict[str, Any]]]:
    """Non-excluded Conditions grouped by code (SNOMED first, else any code, else name)."""
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rec.of("Condition"):
        if _excluded(r):
            continue
        key = _code(r.get("code"), SNOMED) or _code(r.get("code")) or _name(r.get("code"))
        if key:
            out[key].append(r)
    return dict(sorted(out.items()))


def _med_concept(rec: PatientRecord, r: dict[str, Any]) -> Any:
    if r.get("medicationCodeableConcept"):
        return r["medicationCodeableConcept"]
    ref = r.get("medicationReference")
    if isinstance(ref, dict):
        target = str(ref.get("reference", ""))
        if target.startswith("#"):
            for c in r.get("contained") or []:
                if c.get("id") == target[1:]:
                    return c.get("code")
        med = rec.resolve(ref)
        if med and med.get("code"):
            return med["code"]
        if ref.get("display"):
            return {"text": ref["display"]}
    return None


def _proc_when(r: dict[str, Any]) -> str | None:
    if isinstance(r.get("performedDateTime"), str):
        return _day(r["performedDateTime"])
    period = r.get("performedPeriod")
    if isinstance(period, dict):
        return _day(period.get("start"))
    return None


def _enc_day(r: dict[str, Any]) -> str | None:
    period = r.get("period")
    return _day(period.get("start")) if isinstance(period, dict) else None


def _encounters(rec: PatientRecord) -> list[tuple[str, str]]:
    """(start day, ref) of every counted Encounter, sorted."""
    out = []
    for r in rec.of("Encounter"):
        if r.get("status") in ("planned", "cancelled", "entered-in-error"):
            continue
        day = _enc_day(r)
        if day:
            out.append((day, _ref(r)))
    return sorted(out)


def _procedures(rec: PatientRecord) -> dict[str, list[tuple[str, str, str]]]:
    """code → [(day, ref, name)] of completed Procedures."""
    out: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
    for r in rec.of("Procedure"):
        if r.get("status") != "completed":
            continue
        code = _code(r.get("code"), SNOMED) or _code(r.get("code"))
        day = _proc_when(r)
        if code and day:
            out[code].append((day, _ref(r), _name(r.get("code"))))
    return {k: sorted(v) for k, v in sorted(out.items())}


def _immunizations(rec: PatientRecord) -> dict[str, list[tuple[str, str, str]]]:
    out: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
    for r in rec.of("Immunization"):
        if r.get("status") != "completed":
            continue
        code = _code(r.get("vaccineCode"), CVX) or _code(r.get("vaccineCode"))
        day = _day(r.get("occurrenceDateTime"))
        if code and day:
            out[code].append((day, _ref(r), _name(r.get("vaccineCode"))))
    return {k: sorted(v) for k, v in sorted(out.items())}


def _age(birth: str, at: str) -> int:
    by, bm, bd = (int(x) for x in birth[:10].split("-"))
    ay, am, ad = (int(x) for x in at[:10].split("-"))
    return ay - by - ((am, ad) < (bm, bd))


def _fmt(value: float) -> str:
    return f"{value:.4g}" if abs(value) < 1e6 else str(value)


# --------------------------------------------------------------------------- templates

_P = {
    "age": [
        "How old is the patient on {ref_date}?",
        "What is the patient's age in years as of {ref_date}?",
        "As of {ref_date}, how many years old is this patient?",
    ],
    "age_deceased": [
        "How old was the patient when they died?",
        "At what age (in whole years) did the patient die?",
    ],
    "birth_date": [
        "What is the patient's date of birth?",
        "When was the patient born?",
    ],
    "gender": [
        "What is the patient's recorded gender?",
        "Is the patient recorded as male or female?",
    ],
    "active_conditions": [
        "Which conditions are currently active in the patient's record?",
        "List the patient's active problems.",
        "What active diagnoses does the record list for this patient?",
    ],
    "condition_onset": [
        "When was {name} first recorded (onset date) for this patient?",
        "What is the earliest onset date of {name} in the record?",
        "Since when does the patient have {name}?",
    ],
    "current_medications": [
        "What medications is the patient currently taking?",
        "List the patient's current (active) medications.",
        "Which medication orders are active in the record?",
    ],
    "allergies": [
        "What allergies does the patient have?",
        "List the patient's active allergies and intolerances.",
        "Is the patient allergic to anything? List every allergy.",
    ],
    "lab_latest": [
        "What was the patient's most recent {name} ({code_label} {code}) result, and when was it taken?",
        "Give the latest {name} value ({code_label} {code}) with its date.",
        "What is the last recorded {name} [{code_label} {code}] and its date?",
    ],
    "lab_change": [
        "By how much did {name} ({code_label} {code}) change from the first to the last measurement between {start} and {end}?",
        "Between {start} and {end}, what is the difference between the last and the first {name} ({code_label} {code}) value?",
    ],
    "lab_direction": [
        "Did the patient's {name} ({code_label} {code}) go up or down between {start} and {end} (last value vs first value in that period)?",
        "Comparing the first and last {name} ({code_label} {code}) results between {start} and {end}, did it increase or decrease?",
    ],
    "lab_average": [
        "What was the average {name} ({code_label} {code}) between {start} and {end}?",
        "Compute the mean of all {name} ({code_label} {code}) results from {start} to {end}.",
    ],
    "last_encounter": [
        "When was the patient's most recent encounter?",
        "What is the date of the patient's last visit?",
        "When did the patient last have an encounter of any kind?",
    ],
    "encounter_count": [
        "How many encounters did the patient have between {start} and {end}?",
        "Count the patient's visits from {start} to {end}.",
    ],
    "procedure_ever": [
        "Has the patient ever had {name}?",
        "Does the record show a {name} procedure for this patient?",
        "Was {name} ever performed on the patient?",
    ],
    "procedure_last": [
        "When was the patient's most recent {name}?",
        "What is the date of the last {name} performed on the patient?",
    ],
    "immunization_last": [
        "When did the patient last receive the {name} vaccine (CVX {code})?",
        "What is the date of the most recent {name} immunization (CVX {code})?",
    ],
}


def _qid(category: str, patient_id: str, kind: str, params: dict[str, Any]) -> str:
    key = json.dumps([patient_id, kind, params], sort_keys=True)
    return f"{category}-{hashlib.sha1(key.encode()).hexdigest()[:12]}"


class _Builder:
    def __init__(self, rec: PatientRecord, rng: random.Random, ref_date: str) -> None:
        self.rec = rec
        self.rng = rng
        self.ref_date = ref_date
        self.out: dict[str, list[Question]] = defaultdict(list)

    def add(
        self,
        category: str,
        kind: str,
        answer_type: str,
        answer: dict[str, Any],
        groups: Sequence[Sequence[str]],
        params: dict[str, Any],
        template: str | None = None,
        definition: str | None = None,
    ) -> None:
        phrasings = _P[template or kind]
        i = self.rng.randrange(len(phrasings))
        label = "LOINC" if params.get("system", LOINC) == LOINC else "code"
        text = phrasings[i].format(**{"ref_date": self.ref_date, "code_label": label, **params})
        clean_groups = [sorted(set(g)) for g in groups if g]
        evidence = sorted({r for g in clean_groups for r in g})
        self.out[category].append(
            Question(
                id=_qid(category, self.rec.patient_id, kind, params),
                patient_id=self.rec.patient_id,
                patient_name=self.rec.name,
                category=category,
                kind=kind,
                answer_type=answer_type,
                text=text,
                answer=answer,
                evidence=evidence,
                evidence_groups=sorted(clean_groups),
                params=params,
                definition=definition or DEFINITIONS[kind],
                phrasing=i,
            )
        )


def _windows(days: Sequence[str], min_points: int) -> list[tuple[str, str]]:
    """Calendar-year windows (1-3 years) holding at least ``min_points`` values."""
    years = sorted({int(d[:4]) for d in days})
    out = []
    for y in years:
        for span in (1, 2, 3):
            start, end = f"{y}-01-01", f"{y + span - 1}-12-31"
            n = sum(1 for d in days if start <= d <= end)
            if n >= min_points:
                out.append((start, end))
                break
    return out


def _coded(params: dict[str, Any], system: str, usual: str) -> dict[str, Any]:
    """``params`` with the code's system when it is not the usual one (LOINC, SNOMED)."""
    return params if system in (usual, "") else {**params, "system": system}


def _lab_definitions(system: str) -> dict[str, str]:
    """Lab definitions for a code outside LOINC (a local lab code); {} for LOINC."""
    if system == LOINC:
        return {}
    return {
        kind: DEFINITIONS[kind].replace("this LOINC code", "this code (the record's own lab code)")
        for kind in ("lab_latest", "lab_change", "lab_direction", "lab_average")
    }


def _pools_fallback() -> dict[str, list[tuple[str, str]]]:
    return {
        "lab": list(_FALLBACK_LABS),
        "condition": list(_FALLBACK_CONDITIONS),
        "vaccine": list(_FALLBACK_VACCINES),
        "procedure": list(_FALLBACK_PROCEDURES),
    }


def generate_for_patient(
    rec: PatientRecord,
    rng: random.Random,
    *,
    ref_date: str = DEFAULT_REFERENCE_DATE,
    pools: dict[str, list[tuple[str, str]]] | None = None,
    per_kind: int = 4,
) -> dict[str, list[Question]]:
    """Candidate questions for one patient, per category (at most ``per_kind`` per kind).

    ``pools`` (code, name) of labs/conditions/vaccines/procedures seen in other records,
    used for "does not exist" questions (codes this patient does not have).
    """
    b = _Builder(rec, rng, ref_date)
    p = rec.patient
    pref = _ref(p)

    # demographics
    birth = _day(p.get("birthDate")) or (
        p.get("birthDate") if isinstance(p.get("birthDate"), str) else None
    )
    died = _day(p.get("deceasedDateTime"))
    if birth and len(birth) == 10:
        if died:
            b.add("demographics", "age", "count", {"value": _age(birth, died), "unit": "a"},
                  [[pref]], {"deceased": died}, template="age_deceased")  # fmt: skip
        else:
            b.add("demographics", "age", "count", {"value": _age(birth, ref_date), "unit": "a"},
                  [[pref]], {"ref_date": ref_date})  # fmt: skip
        b.add("demographics", "birth_date", "date", {"value": birth}, [[pref]], {})
    if p.get("gender"):
        b.add("demographics", "gender", "exact", {"value": str(p["gender"])}, [[pref]], {})

    # conditions
    conds = conditions(rec)
    active: dict[str, list[dict[str, Any]]] = {}
    for key, members in conds.items():
        act = [
            r
            for r in members
            if _status_code(r.get("clinicalStatus")) in _ACTIVE_CLINICAL and not _abated(r)
        ]
        if act:
            active[key] = act
    names = {k: _name(v[-1].get("code")) for k, v in active.items()}
    b.add(
        "active_conditions",
        "active_conditions",
        "set",
        {"value": sorted(names.values()), "codes": sorted(names)},
        [[_ref(r) for r in v] for v in active.values()],
        {},
    )
    keys = list(conds)
    rng.shuffle(keys)
    for key in keys[:per_kind]:
        members = conds[key]
        onsets = [(d, _ref(r)) for r in members if (d := _onset(r))]
        if not onsets:
            continue
        first = min(d for d, _ in onsets)
        name = _name(members[0].get("code"))
        b.add("condition_onset", "condition_onset", "date", {"value": first},
              [[ref for d, ref in onsets if d == first]],
              _coded({"code": key, "name": name}, _system_of(members[0].get("code"), key),
                     SNOMED))  # fmt: skip

    # medications
    meds: dict[str, list[str]] = defaultdict(list)
    med_names: dict[str, str] = {}
    for rtype in ("MedicationRequest", "MedicationStatement"):
        for r in rec.of(rtype):
            if r.get("status") != "active":
                continue
            concept = _med_concept(rec, r)
            key = _code(concept) or _name(concept)
            if not key:
                continue
            meds[key].append(_ref(r))
            med_names[key] = _name(concept)
    b.add(
        "current_medications",
        "current_medications",
        "set",
        {"value": sorted(med_names[k] for k in meds), "codes": sorted(meds)},
        list(meds.values()),
        {},
    )

    # allergies
    allergies: dict[str, list[str]] = defaultdict(list)
    allergy_names: dict[str, str] = {}
    for r in rec.of("AllergyIntolerance"):
        if _excluded(r):
            continue
        clin = _status_code(r.get("clinicalStatus"))
        if clin not in (None, "active"):
            continue
        key = _code(r.get("code")) or _name(r.get("code"))
        if key:
            allergies[key].append(_ref(r))
            allergy_names[key] = _name(r.get("code"))
    b.add(
        "allergies",
        "allergies",
        "set",
        {"value": sorted(allergy_names[k] for k in allergies), "codes": sorted(allergies)},
        list(allergies.values()),
        {},
    )

    # labs
    labs = lab_points(rec)
    codes = list(labs)
    rng.shuffle(codes)
    n_latest = n_trend = n_avg = 0
    for code in codes:
        pts = labs[code]
        name = pts[-1].name
        coded = _coded({"code": code, "name": name}, pts[-1].system, LOINC)
        lab_def = _lab_definitions(pts[-1].system)
        last_day = pts[-1].day
        on_last = [q for q in pts if q.day == last_day]
        if n_latest < per_kind and len({q.value for q in on_last}) == 1:
            last = pts[-1]
            b.add("lab_latest", "lab_latest", "number_date",
                  {"value": last.value, "unit": last.unit, "date": last.day,
                   "tolerance": {"rel": 0.01, "abs": 0.01}},
                  [[q.ref for q in on_last]], coded,
                  definition=lab_def.get("lab_latest"))  # fmt: skip
            n_latest += 1
        windows = _windows([q.day for q in pts], 2)
        if windows and n_trend < per_kind:
            start, end = windows[rng.randrange(len(windows))]
            inside = [q for q in pts if start <= q.day <= end]
            first_day, last_day = inside[0].day, inside[-1].day
            firsts = [q for q in inside if q.day == first_day]
            lasts = [q for q in inside if q.day == last_day]
            if (
                first_day != last_day
                and len({q.value for q in firsts}) == 1
                and len({q.value for q in lasts}) == 1
            ):
                f, la = firsts[0], lasts[0]
                delta = la.value - f.value
                params = {**coded, "start": start, "end": end}
                groups = [[q.ref for q in firsts], [q.ref for q in lasts]]
                tol = {"rel": 0.01, "abs": max(0.01, 0.01 * max(abs(f.value), abs(la.value)))}
                if rng.random() < 0.5 and abs(delta) >= 0.01 * abs(f.value) and delta != 0:
                    b.add("lab_trend", "lab_direction", "exact",
                          {"value": "increased" if delta > 0 else "decreased",
                           "first": f.value, "last": la.value, "unit": f.unit},
                          groups, params, definition=lab_def.get("lab_direction"))  # fmt: skip
                else:
                    b.add("lab_trend", "lab_change", "number",
                          {"value": delta, "unit": f.unit, "tolerance": tol,
                           "first": f.value, "last": la.value}, groups, params,
                          definition=lab_def.get("lab_change"))  # fmt: skip
                n_trend += 1
        windows = _windows([q.day for q in pts], 2)
        if windows and n_avg < per_kind:
            start, end = windows[rng.randrange(len(windows))]
            inside = [q for q in pts if start <= q.day <= end]
            mean = statistics.fmean(q.value for q in inside)
            b.add("lab_average", "lab_average", "number",
                  {"value": mean, "unit": inside[0].unit, "n": len(inside),
                   "tolerance": {"rel": 0.01, "abs": 0.01}},
                  [[q.ref] for q in inside], {**coded, "start": start, "end": end},
                  definition=lab_def.get("lab_average"))  # fmt: skip
            n_avg += 1

    # encounters
    encs = _encounters(rec)
    if encs:
        last_visit = encs[-1][0]
        b.add("encounters", "last_encounter", "date", {"value": last_visit},
              [[ref for d, ref in encs if d == last_visit]], {})  # fmt: skip
        years = sorted({d[:4] for d, _ in encs})
        rng.shuffle(years)
        for y in years[:2]:
            start, end = f"{y}-01-01", f"{y}-12-31"
            in_year = [ref for d, ref in encs if start <= d <= end]
            b.add("encounters", "encounter_count", "count", {"value": len(in_year)},
                  [[r] for r in in_year], {"start": start, "end": end})  # fmt: skip

    # procedures
    procs = _procedures(rec)
    pcodes = list(procs)
    rng.shuffle(pcodes)
    for code in pcodes[:per_kind]:
        items = procs[code]
        name = items[-1][2]
        if rng.random() < 0.5:
            b.add("procedures", "procedure_ever", "yesno", {"value": True},
                  [[ref for _, ref, _ in items]], {"code": code, "name": name})  # fmt: skip
        else:
            last_day = items[-1][0]
            b.add("procedures", "procedure_last", "date", {"value": last_day},
                  [[ref for d, ref, _ in items if d == last_day]], {"code": code, "name": name})  # fmt: skip

    # immunizations
    imms = _immunizations(rec)
    icodes = list(imms)
    rng.shuffle(icodes)
    for code in icodes[:per_kind]:
        items = imms[code]
        last_day = items[-1][0]
        b.add("immunizations", "immunization_last", "date", {"value": last_day},
              [[ref for d, ref, _ in items if d == last_day]], {"code": code, "name": items[-1][2]})  # fmt: skip

    # "does not exist": the kind of a real question, about something this record lacks
    pools = pools or _pools_fallback()
    # A code's absence means the concept's absence only in the system the record mostly
    # codes its labs (conditions) in: a LOINC lab is not asked about where labs carry
    # local codes, nor a SNOMED condition where conditions are coded in ICD-10-CM.
    lab_systems = dict(pools.get("lab_system", []))
    cond_systems = dict(pools.get("condition_system", []))
    rec_lab = _dominant_system(r.get("code") for r in _lab_observations(rec))
    rec_cond = _dominant_system(ms[0].get("code") for ms in conds.values())
    absent = {
        "lab": [
            (c, n)
            for c, n in pools.get("lab", [])
            if c not in labs and rec_lab in (None, lab_systems.get(c, LOINC))
        ],
        "condition": [
            (c, n)
            for c, n in pools.get("condition", [])
            if c not in conds and rec_cond in (None, cond_systems.get(c, SNOMED))
        ],
        "vaccine": [(c, n) for c, n in pools.get("vaccine", []) if c not in imms],
        "procedure": [(c, n) for c, n in pools.get("procedure", []) if c not in procs],
    }
    nir = {"value": None}
    for pool, kind, template in (
        ("lab", "lab_latest", "lab_latest"),
        ("condition", "condition_onset", "condition_onset"),
        ("vaccine", "immunization_last", "immunization_last"),
        ("procedure", "procedure_last", "procedure_last"),
    ):
        options = absent[pool]
        if options:
            code, name = options[rng.randrange(len(options))]
            params = {"code": code, "name": name}
            if pool == "lab":
                params = _coded(params, lab_systems.get(code, LOINC), LOINC)
            elif pool == "condition":
                params = _coded(params, cond_systems.get(code, SNOMED), SNOMED)
            b.add("not_in_record", kind, "not_in_record", nir, [], params,
                  template=template, definition=DEFINITIONS["not_in_record"])  # fmt: skip
    if absent["procedure"]:
        code, name = absent["procedure"][rng.randrange(len(absent["procedure"]))]
        b.add("procedures", "procedure_ever", "yesno", {"value": False}, [],
              {"code": code, "name": name},
              definition=DEFINITIONS["procedure_ever"] + " (None in this record: no.)")  # fmt: skip
    return dict(b.out)


def _pools(records: Sequence[PatientRecord]) -> dict[str, list[tuple[str, str]]]:
    """(code, name) candidates per kind; ``lab_system``/``condition_system``: (code,
    system) of the lab and condition candidates."""
    labs: dict[str, str] = dict(_FALLBACK_LABS)
    conds: dict[str, str] = dict(_FALLBACK_CONDITIONS)
    vacc: dict[str, str] = dict(_FALLBACK_VACCINES)
    procs: dict[str, str] = dict(_FALLBACK_PROCEDURES)
    lab_sys: dict[str, str] = {c: LOINC for c in labs}
    cond_sys: dict[str, str] = {c: SNOMED for c in conds}
    for rec in records:
        for code, pts in lab_points(rec).items():
            labs.setdefault(code, pts[-1].name)
            lab_sys.setdefault(code, pts[-1].system)
        for code, members in conditions(rec).items():
            system = _system_of(members[0].get("code"), code)
            if system:  # a code, not a name
                conds.setdefault(code, _name(members[0].get("code")))
                cond_sys.setdefault(code, system)
        for code, items in _immunizations(rec).items():
            vacc.setdefault(code, items[-1][2])
        for code, pitems in _procedures(rec).items():
            procs.setdefault(code, pitems[-1][2])
    return {
        "lab": sorted(labs.items()),
        "condition": sorted(conds.items()),
        "vaccine": sorted(vacc.items()),
        "procedure": sorted(procs.items()),
        "lab_system": sorted(lab_sys.items()),
        "condition_system": sorted(cond_sys.items()),
    }


def load_records(data: str | Path | Iterable[str | Path]) -> list[PatientRecord]:
    """Every single-patient Bundle under ``data`` (a dir, a file, or several), by id."""
    roots = [data] if isinstance(data, str | Path) else list(data)
    records = []
    for root in roots:
        for path in bundle_files(root):
            rec = load_patient(path)
            if rec is not None:
                records.append(rec)
    return sorted(records, key=lambda r: r.patient_id)


def generate(
    data: str | Path | Iterable[str | Path] | Sequence[PatientRecord],
    n: int,
    *,
    seed: int = 1,
    ref_date: str = DEFAULT_REFERENCE_DATE,
    categories: Sequence[str] = CATEGORIES,
) -> list[Question]:
    """``n`` questions over the patients in ``data``, balanced over categories.

    Categories are taken in turn (round-robin); within a category, patients are taken
    in turn too, in a seeded random order. Fewer than ``n`` come back when the data has
    fewer candidates. Same data and seed → same questions, in the same order.
    """
    if (
        isinstance(data, Sequence)
        and not isinstance(data, str)
        and data
        and all(isinstance(r, PatientRecord) for r in data)
    ):
        records = sorted(
            (r for r in data if isinstance(r, PatientRecord)), key=lambda r: r.patient_id
        )
    else:
        records = load_records(data)  # type: ignore[arg-type]
    pools = _pools(records)
    rng = random.Random(seed)
    per_cat: dict[str, list[list[Question]]] = defaultdict(list)
    for rec in records:
        prng = random.Random(f"{seed}:{rec.patient_id}")
        for cat, qs in generate_for_patient(rec, prng, ref_date=ref_date, pools=pools).items():
            prng.shuffle(qs)
            per_cat[cat].append(qs)
    queues: dict[str, list[Question]] = {}
    for cat in categories:
        lists = per_cat.get(cat, [])
        rng.shuffle(lists)
        merged: list[Question] = []
        depth = max((len(x) for x in lists), default=0)
        for i in range(depth):
            merged.extend(x[i] for x in lists if i < len(x))
        queues[cat] = merged
    out: list[Question] = []
    seen: set[str] = set()
    while len(out) < n and any(queues.values()):
        for cat in categories:
            queue = queues.get(cat)
            while queue:
                q = queue.pop(0)
                if q.id not in seen:
                    seen.add(q.id)
                    out.append(q)
                    break
            if len(out) >= n:
                break
    return out


def dump(questions: Sequence[Question], path: str | Path | None = None) -> str:
    """The questions as JSON (sorted keys, stable); written to ``path`` if given."""
    text = json.dumps(
        [q.as_dict() for q in questions], indent=1, sort_keys=True, ensure_ascii=False
    )
    if path is not None:
        Path(path).write_text(text + "\n", encoding="utf-8")
    return text


def load_questions(path: str | Path) -> list[Question]:
    return [Question.from_dict(d) for d in json.loads(Path(path).read_text(encoding="utf-8"))]


def main(argv: Sequence[str] | None = None) -> None:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--data", required=True)
    ap.add_argument("--questions", type=int, default=50)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--ref-date", default=DEFAULT_REFERENCE_DATE)
    ap.add_argument("--out")
    args = ap.parse_args(argv)
    qs = generate(args.data, args.questions, seed=args.seed, ref_date=args.ref_date)
    text = dump(qs, args.out)
    if not args.out:
        print(text)


if __name__ == "__main__":
    main()

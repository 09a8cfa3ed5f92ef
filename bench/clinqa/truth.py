"""Ground truth: answers and evidence computed from the raw record (stdlib only).

Every question kind has a function ``(record, params, ref_date) -> Fact | None`` in
:data:`KINDS` and a written definition in :data:`DEFINITIONS`; ``None`` means the
question is not askable on this record (its answer would be ambiguous: two different
results on the latest day, a change too small to call a direction …). A :class:`Fact`
holds the answer in the shape :mod:`bench.ehrqa.score` reads and the evidence, grouped:
one group per fact the answer rests on (citing one resource of a group covers it).

Definitions common to all kinds (see also :data:`COMMON`):

- void everywhere: ``status`` entered-in-error or cancelled; Conditions and
  AllergyIntolerances whose ``verificationStatus`` is entered-in-error or refuted;
- a date is the recorded calendar day (the first 10 characters of the FHIR dateTime, no
  time-zone conversion); windows are inclusive days; the reference date ("today") is
  fixed per run (default 2025-06-01, also the agent's ``as_of``);
- concepts (what "A1c", "flu shot", "diabetes" mean in codes) are in
  :mod:`bench.clinqa.concepts`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.clinqa.concepts import CHECKUP, SOCIAL, Concept, concept
from bench.clinqa.record import JSON, Record, day, label, norm, ref, status_code

__all__ = [
    "COMMON",
    "DEFINITIONS",
    "KINDS",
    "Fact",
    "Result",
    "active_conditions",
    "compute",
    "current_medications",
    "encounter_day",
    "encounters",
    "results",
]

COMMON = (
    "Void everywhere: status entered-in-error/cancelled; Conditions and allergies whose "
    "verificationStatus is entered-in-error/refuted. Dates are the recorded calendar day; "
    "windows are inclusive; 'today' is the run's reference date."
)

_RESULT_STATUS = {"final", "amended", "corrected"}
_ACTIVE_CLINICAL = {"active", "recurrence", "relapse"}
_ENCOUNTER_VOID = {"planned", "cancelled", "entered-in-error"}
_MIN_TREND_CHANGE = 0.05  # first vs last must differ by ≥ 5 % to call a direction
_MIN_STEP_CHANGE = 0.01  # last vs previous must differ by ≥ 1 %


@dataclass
class Fact:
    """One ground-truth answer: ``answer_type`` and ``answer`` as the scorer reads them,
    ``groups`` (evidence groups: every one must be cited for full recall), ``extra``
    (resources that support the answer but are not required, e.g. social-history entries
    of a problem list) and ``info`` (details for phrasing and reports)."""

    answer_type: str
    answer: dict[str, Any]
    groups: list[list[str]] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def evidence(self) -> list[str]:
        return sorted({r for g in self.groups for r in g} | set(self.extra))


def _nir(**info: Any) -> Fact:
    return Fact("not_in_record", {"value": None}, [], [], info)


# --------------------------------------------------------------------------- extraction


@dataclass(frozen=True)
class Result:
    """One numeric result of a lab or vital."""

    ref: str
    when: str
    day: str
    value: float
    unit: str
    encounter: str | None = None


def _obs_when(r: JSON) -> str | None:
    for key in ("effectiveDateTime", "effectiveInstant"):
        if day(r.get(key)):
            return str(r[key])
    period = r.get("effectivePeriod") or {}
    if day(period.get("start")):
        return str(period["start"])
    return str(r["issued"]) if day(r.get("issued")) else None


def results(rec: Record, c: Concept) -> list[Result]:
    """Results of a lab/vital concept: Observations with status final/amended/corrected,
    a concept code (or name, for uncoded ones), a numeric ``valueQuantity`` and a date;
    sorted by time."""
    key = ("results", c.kind, c.key)
    if key not in rec.cache:
        rec.cache[key] = _results(rec, c)
    return list(rec.cache[key])


def _results(rec: Record, c: Concept) -> list[Result]:
    out = []
    for r in rec.of("Observation"):
        if r.get("status") not in _RESULT_STATUS or not c.matches(r.get("code")):
            continue
        q = r.get("valueQuantity") or {}
        when = _obs_when(r)
        if not isinstance(q.get("value"), int | float) or when is None:
            continue
        enc = (r.get("encounter") or {}).get("reference")
        target = rec.resolve(enc) if enc else None
        out.append(
            Result(
                ref(r), when, when[:10], float(q["value"]),
                str(q.get("unit") or q.get("code") or ""),
                ref(target) if target else None,
            )
        )  # fmt: skip
    return sorted(out, key=lambda x: (x.when, x.ref))


def _by_day(points: list[Result]) -> list[tuple[str, list[Result]]]:
    grouped: dict[str, list[Result]] = defaultdict(list)
    for p in points:
        grouped[p.day].append(p)
    return sorted(grouped.items())


def _one_value(points: list[Result]) -> Result | None:
    """The value of a day's results when they agree (same value and unit), else None."""
    if len({(p.value, p.unit) for p in points}) != 1:
        return None
    return points[-1]


def _in(d: str | None, params: dict[str, Any]) -> bool:
    return d is not None and params["start"] <= d <= params["end"]


def encounter_day(r: JSON) -> str | None:
    return day((r.get("period") or {}).get("start"))


def encounters(rec: Record) -> list[JSON]:
    """Encounters that took place (not planned/cancelled/entered-in-error) with a start
    day, sorted by start."""
    if "encounters" in rec.cache:
        return list(rec.cache["encounters"])
    out = [
        r
        for r in rec.of("Encounter")
        if r.get("status") not in _ENCOUNTER_VOID and encounter_day(r)
    ]
    rec.cache["encounters"] = sorted(
        out, key=lambda r: (str((r.get("period") or {}).get("start")), r["id"])
    )
    return list(rec.cache["encounters"])


def _enc_class(r: JSON) -> str:
    cls = r.get("class")
    if isinstance(cls, list):  # R5: a list of CodeableConcepts
        return (status_code(cls[0]) or "") if cls else ""
    return str(cls.get("code") or "") if isinstance(cls, dict) else ""


def _abated(r: JSON) -> bool:
    for key, value in r.items():
        if key.startswith("abatement") and value not in (None, False, "", {}):
            return True
    return False


def _is_active_condition(r: JSON) -> bool:
    """clinicalStatus active/recurrence/relapse (or absent) and no abatement."""
    if _abated(r):
        return False
    cs = status_code(r.get("clinicalStatus"))
    return cs is None or cs in _ACTIVE_CLINICAL


def _onset(r: JSON) -> str | None:
    return (
        day(r.get("onsetDateTime"))
        or day((r.get("onsetPeriod") or {}).get("start"))
        or day(r.get("recordedDate"))
    )


def _med_concept(rec: Record, r: JSON) -> Any:
    if r.get("medicationCodeableConcept"):
        return r["medicationCodeableConcept"]
    target = (r.get("medicationReference") or {}).get("reference")
    if isinstance(target, str) and target.startswith("#"):
        for c in r.get("contained") or []:
            if c.get("id") == target[1:]:
                return c.get("code")
    med = rec.resolve(target) if target else None
    return med.get("code") if med else None


def _meds(rec: Record) -> list[tuple[JSON, Any, str]]:
    """(resource, medication concept, day) of MedicationRequests/Statements."""
    out = []
    for r in [*rec.of("MedicationRequest"), *rec.of("MedicationStatement")]:
        when = (
            day(r.get("authoredOn"))
            or day(r.get("effectiveDateTime"))
            or day((r.get("effectivePeriod") or {}).get("start"))
            or day(r.get("dateAsserted"))
        )
        out.append((r, _med_concept(rec, r), when or ""))
    return out


def _drug_aliases(name: str) -> list[str]:
    """Short forms of a drug name people use: each ingredient's words before its
    strength ("Hydrochlorothiazide 25 MG Oral Tablet" → "Hydrochlorothiazide";
    "Acetaminophen 325 MG / Oxycodone Hydrochloride 5 MG …" → also "Oxycodone
    Hydrochloride"), their first words, a bracketed brand ("[Humulin]")."""
    out = []
    text = re.sub(
        r"^(?:\s*(?:[\d.]+\s*(?:HR|ML|ACTUAT|MG|MCG|UNT|DAY)\b|NDA\d+))+\s+", "", name, flags=re.I
    )
    for part in re.split(r"\s/\s", text):
        head = re.split(r"\s(?=[\d.]+\s*(?:MG|MCG|UNT|ML|%|G)\b)|\s\d", part, maxsplit=1)[0]
        head = head.strip(" ,")
        if head and head != name and not re.match(r"[\d.]", head):
            out.append(head)
        first = head.split()[0].strip(",") if head.split() else ""
        if len(first) >= 5 and first.lower() != head.lower():
            out.append(first)
    out += re.findall(r"\[([^\]]+)\]", name)
    return [a for a in dict.fromkeys(out) if norm(a)]


_ALLERGY_WORDS = re.compile(r"^(?:allergy to|allergic to)\s+|\s+(?:allergy|allergies)$", re.I)


def _allergy_aliases(name: str) -> list[str]:
    base = _ALLERGY_WORDS.sub("", re.sub(r"\s*\([^)]*\)\s*$", "", name)).strip()
    return [base] if base and base.lower() != name.lower() else []


# --------------------------------------------------------------------------- patient


def _patient_ref(rec: Record) -> list[list[str]]:
    return [[ref(rec.patient)]]


def birth_date(rec: Record, params: dict[str, Any], ref_date: str) -> Fact | None:
    b = day(rec.patient.get("birthDate"))
    return Fact("date", {"value": b}, _patient_ref(rec)) if b else None


def death_date(rec: Record, params: dict[str, Any], ref_date: str) -> Fact | None:
    d = day(rec.patient.get("deceasedDateTime"))
    if d:
        return Fact("date", {"value": d}, _patient_ref(rec))
    if rec.patient.get("deceasedBoolean"):
        return None  # deceased, date unknown: not asked
    return _nir(what="a date of death")


def _deceased(rec: Record) -> bool:
    return bool(rec.patient.get("deceasedDateTime") or rec.patient.get("deceasedBoolean"))


def alive(rec: Record, params: dict[str, Any], ref_date: str) -> Fact | None:
    return Fact("yesno", {"value": not _deceased(rec)}, _patient_ref(rec))


def age(rec: Record, params: dict[str, Any], ref_date: str) -> Fact | None:
    b = day(rec.patient.get("birthDate"))
    if not b:
        return None
    at = day(rec.patient.get("deceasedDateTime")) or ref_date
    if _deceased(rec) and at == ref_date:
        return None  # deceased without a date: age unknown
    born, on = dt.date.fromisoformat(b), dt.date.fromisoformat(at)
    years = on.year - born.year - ((on.month, on.day) < (born.month, born.day))
    return Fact("count", {"value": years, "unit": "a"}, _patient_ref(rec), info={"at": at})


# --------------------------------------------------------------------------- encounters

_CLASSES: dict[str, tuple[str, tuple[str, ...]]] = {
    "AMB": ("ambulatory", ("ambulatory", "outpatient", "office visit", "clinic visit", "office",
                           "clinic", "wellness visit")),
    "EMER": ("emergency", ("emergency", "er", "ed", "emergency room", "emergency department",
                           "a e", "urgent")),
    "IMP": ("inpatient", ("inpatient", "admission", "admitted", "hospitalization",
                          "hospitalisation", "hospitalized", "hospital stay")),
    "ACUTE": ("inpatient", ("inpatient", "admission", "admitted", "hospitalization",
                            "hospitalized", "hospital stay")),
    "HH": ("home health", ("home health", "home visit", "home care", "house call")),
    "VR": ("virtual", ("virtual", "telehealth", "telemedicine", "video", "telephone", "phone")),
    "OBSENC": ("observation", ("observation",)),
    "SS": ("short stay", ("short stay", "day case", "day surgery")),
}  # fmt: skip
_STRONG = ("emergency", "inpatient", "outpatient", "ambulatory", "home health", "telehealth",
           "virtual")  # fmt: skip
_TYPE_ALIASES: dict[str, tuple[str, ...]] = {
    "check up": ("check up", "checkup", "physical", "annual", "wellness", "well visit", "routine"),
    "general examination": ("general examination", "general exam", "physical", "check up",
                            "checkup", "annual", "wellness", "routine exam"),
    "well child": ("well child", "check up", "checkup", "wellness", "pediatric"),
    "prenatal": ("prenatal", "antenatal", "pregnancy", "obstetric"),
    "ophthalmic": ("eye exam", "eye", "ophthalmic", "ophthalmology"),
    "follow up": ("follow up", "followup"),
    "urgent care": ("urgent care",),
    "death certification": ("death certification", "death certificate"),
    "outpatient procedure": ("outpatient procedure", "procedure"),
    "home visit": ("home visit", "home"),
    "emergency": ("emergency", "er", "ed"),
}  # fmt: skip
_GENERIC_TYPES = {"problem", "symptom", "encounter", "visit", "patient encounter procedure"}


def _type_terms(display: str) -> list[str]:
    n = norm(display)
    short = re.sub(r"^encounter for (?:a |an )?", "", n)
    short = re.sub(r" (?:of patient|encounter)$", "", short).strip()
    terms = [t for t in (n, short) if t and t not in _GENERIC_TYPES]
    for key, aliases in _TYPE_ALIASES.items():
        if f" {key} " in f" {n} ":
            terms += aliases
    return list(dict.fromkeys(terms))


def _last_encounters(rec: Record) -> tuple[str, list[JSON]] | None:
    encs = encounters(rec)
    if not encs:
        return None
    last = encounter_day(encs[-1]) or ""
    return last, [e for e in encs if encounter_day(e) == last]


def last_encounter_date(rec: Record, params: dict[str, Any], ref_date: str) -> Fact | None:
    found = _last_encounters(rec)
    if not found:
        return _nir(what="encounters")
    d, encs = found
    return Fact("date", {"value": d}, [[ref(e) for e in encs]])


def last_encounter_kind(rec: Record, params: dict[str, Any], ref_date: str) -> Fact | None:
    found = _last_encounters(rec)
    if not found:
        return None
    d, encs = found
    classes = {_enc_class(e) for e in encs}
    types = {label(e.get("type")) for e in encs}
    if len(classes) != 1 or len(types) != 1:
        return None  # two different kinds of visit on the last day: ambiguous
    cls, typ = classes.pop(), types.pop()
    canonical, accept = _CLASSES.get(cls, ("", ()))
    terms = list(accept) + _type_terms(typ)
    if not terms:
        return None
    reject = [s for s in _STRONG if s not in terms]
    value = canonical or norm(typ)
    return Fact(
        "choice",
        {"value": value, "accept": terms, "reject": reject, "type": typ, "class": cls},
        [[ref(e) for e in encs]],
        info={"date": d, "type": typ, "class": cls},
    )


def encounter_count_window(rec: Record, params: dict[str, Any], ref_date: str) -> Fact | None:
    hits = [e for e in encounters(rec) if _in(encounter_day(e), params)]
    return Fact("count", {"value": len(hits)}, [[ref(e)] for e in hits])


def visits_since_checkup(rec: Record, params: dict[str, Any], ref_date: str) -> Fact | None:
    encs = encounters(rec)
    checkups = [e for e in encs if CHECKUP.matches(e.get("type"))]
    if not checkups:
        return None
    d = encounter_day(checkups[-1]) or ""
    same_day = [e for e in checkups if encounter_day(e) == d]
    after = [e for e in encs if (encounter_day(e) or "") > d]
    return Fact(
        "count",
        {"value": len(after)},
        [[ref(e) for e in same_day], *[[ref(e)] for e in after]],
        info={"checkup": d},
    )


# --------------------------------------------------------------------------- labs, vitals


def _lab_concept(params: dict[str, Any]) -> Concept:
    return concept(params.get("domain", "lab"), params["concept"])


def _window(points: list[Result], params: dict[str, Any]) -> list[Result]:
    if "start" not in params:
        return points
    return [p for p in points if _in(p.day, params)]


def lab_latest(rec: Record, params: dict[str, Any], ref_date: str) -> Fact | None:
    points = _window(results(rec, _lab_concept(params)), params)
    if not points:
        return _nir(what=_lab_concept(params).name)
    d, last = _by_day(points)[-1]
    one = _one_value(last)
    if one is None:
        return None  # two different results on the latest day
    return Fact(
        "number_date",
        {"value": one.value, "unit": one.unit, "date": d},
        [[p.ref for p in last]],
        info={"value": one.value, "unit": one.unit, "date": d},
    )


def lab_count(rec: Record, params: dict[str, Any], ref_date: str) -> Fact | None:
    points = _window(results(rec, _lab_concept(params)), params)
    days = _by_day(points)
    if len(days) != len(points):
        return None  # several results on one day: "how many times" is ambiguous
    return Fact("count", {"value": len(days)}, [[p.ref for p in ps] for _, ps in days])


def _direction(first: Result, last: Result, minimum: float) -> str | None:
    if first.unit != last.unit:
        return None
    delta = last.value - first.value
    if abs(delta) < minimum * max(abs(first.value), 1e-9):
        return None
    return "increased" if delta > 0 else "decreased"


def _first_last(params: dict[str, Any], rec: Record) -> tuple[list[Result], list[Result]] | None:
    days = _by_day(_window(results(rec, _lab_concept(params)), params))
    if len(days) < 2:
        return None
    return days[0][1], days[-1][1]


def lab_direction(rec: Record, params: dict[str, Any], ref_date: str) -> Fact | None:
    fl = _first_last(params, rec)
    if fl is None:
        return None
    first, last = (_one_value(x) for x in fl)
    if first is None or last is None:
        return None
    way = _direction(first, last, _MIN_TREND_CHANGE)
    if way is None:
        return None
    return Fact(
        "exact",
        {"value": way},
        [[p.ref for p in fl[0]], [p.ref for p in fl[1]]],
        info={"first": first, "last": last},
    )


def lab_trend_yesno(rec: Record, params: dict[str, Any], ref_date: str) -> Fact | None:
    """Yes when first → last moved in ``params["yes_direction"]`` (set from the concept's
    better direction and the question's polarity, "worse" or "better")."""
    fact = lab_direction(rec, params, ref_date)
    if fact is None:
        return None
    yes = fact.answer["value"] == params["yes_direction"]
    return Fact("yesno", {"value": yes}, fact.groups, info=fact.info)


def lab_vs_previous(rec: Record, params: dict[str, Any], ref_date: str) -> Fact | None:
    days = _by_day(results(rec, _lab_concept(params)))
    if len(days) < 2:
        return None
    prev, last = _one_value(days[-2][1]), _one_value(days[-1][1])
    if prev is None or last is None:
        return None
    way = _direction(prev, last, _MIN_STEP_CHANGE)
    if way is None:
        return None
    return Fact(
        "exact",
        {"value": way},
        [[p.ref for p in days[-2][1]], [p.ref for p in days[-1][1]]],
        info={"first": prev, "last": last},
    )


def lab_at_last_visit(rec: Record, params: dict[str, Any], ref_date: str) -> Fact | None:
    found = _last_encounters(rec)
    if not found:
        return None
    d, encs = found
    enc_refs = {ref(e) for e in encs}
    hits = [
        p
        for p in results(rec, _lab_concept(params))
        if p.encounter in enc_refs or (p.encounter is None and p.day == d)
    ]
    groups = [sorted(enc_refs)] + ([[p.ref for p in hits]] if hits else [])
    return Fact("yesno", {"value": bool(hits)}, groups, info={"date": d})


# --------------------------------------------------------------------------- conditions


def _conditions(rec: Record) -> list[JSON]:
    return rec.of("Condition")


def active_conditions(rec: Record, params: dict[str, Any], ref_date: str) -> Fact | None:
    """Distinct (by normalized name) active conditions; social-history and administrative
    entries are optional (:data:`bench.clinqa.concepts.SOCIAL`)."""
    required: dict[str, list[JSON]] = {}
    optional: dict[str, list[JSON]] = {}
    for r in _conditions(rec):
        if not _is_active_condition(r):
            continue
        name = label(r.get("code"))
        bucket = optional if SOCIAL.matches(r.get("code")) else required
        bucket.setdefault(norm(name), []).append(r)
    names = [label(rs[0].get("code")) for rs in required.values()]
    return Fact(
        "set",
        {
            "value": names,
            "codes": [_first_code(rs[0].get("code")) for rs in required.values()],
            "optional": [label(rs[0].get("code")) for rs in optional.values()],
        },
        [[ref(r) for r in rs] for rs in required.values()],
        [ref(r) for rs in optional.values() for r in rs],
    )


def _first_code(cc: Any) -> str:
    for c in (cc or {}).get("coding") or []:
        if c.get("code"):
            return str(c["code"])
    return ""


def condition_has(rec: Record, params: dict[str, Any], ref_date: str) -> Fact | None:
    """Yes when an active Condition of the concept exists; no otherwise (the evidence of
    a no is the resolved Conditions of the concept, if any)."""
    c = concept("condition", params["concept"])
    matching = [r for r in _conditions(rec) if c.matches(r.get("code"))]
    active = [r for r in matching if _is_active_condition(r)]
    if active:
        return Fact("yesno", {"value": True}, [[ref(r) for r in active]])
    return Fact(
        "yesno", {"value": False}, [[ref(r) for r in matching]] if matching else [],
        info={"resolved": bool(matching)},
    )  # fmt: skip


def condition_onset(rec: Record, params: dict[str, Any], ref_date: str) -> Fact | None:
    c = concept("condition", params["concept"])
    dated = [(d, r) for r in _conditions(rec) if c.matches(r.get("code")) and (d := _onset(r))]
    if not dated:
        return _nir(what=c.name)
    first = min(d for d, _ in dated)
    return Fact("date", {"value": first}, [[ref(r) for d, r in dated if d == first]])


# --------------------------------------------------------------------------- medications


def current_medications(rec: Record, params: dict[str, Any], ref_date: str) -> Fact | None:
    """Distinct (by normalized name) medications with an active MedicationRequest or
    MedicationStatement, however old; only the active ones are evidence."""
    groups: dict[str, list[JSON]] = {}
    names: dict[str, str] = {}
    for r, cc, _ in _meds(rec):
        if r.get("status") != "active":
            continue
        name = label(cc)
        if not name:
            continue
        groups.setdefault(norm(name), []).append(r)
        names.setdefault(norm(name), name)
    values = list(names.values())
    return Fact(
        "set",
        {"value": values, "aliases": [_drug_aliases(n) for n in values]},
        [[ref(r) for r in rs] for rs in groups.values()],
    )


def _drug_matches(c: Concept, rec: Record) -> list[tuple[JSON, str]]:
    out = []
    for r, cc, when in _meds(rec):
        texts = [label(cc), *(str(x.get("display")) for x in (cc or {}).get("coding") or [])]
        if c.matches_name(texts):
            out.append((r, when))
    return out


def med_still(rec: Record, params: dict[str, Any], ref_date: str) -> Fact | None:
    """Yes when a matching medication is active; no when every matching one is
    stopped/completed/on-hold (the evidence of a no: those orders); not asked when the
    record never had it."""
    matching = _drug_matches(concept("drug", params["concept"]), rec)
    if not matching:
        return None
    active = [r for r, _ in matching if r.get("status") == "active"]
    if active:
        return Fact("yesno", {"value": True}, [[ref(r) for r in active]])
    return Fact(
        "yesno", {"value": False}, [[ref(r) for r, _ in matching]],
        info={"statuses": sorted({str(r.get('status')) for r, _ in matching})},
    )  # fmt: skip


def med_last_ordered(rec: Record, params: dict[str, Any], ref_date: str) -> Fact | None:
    matching = [(r, w) for r, w in _drug_matches(concept("drug", params["concept"]), rec) if w]
    if not matching:
        return _nir(what=params["concept"])
    last = max(w for _, w in matching)
    return Fact("date", {"value": last}, [[ref(r) for r, w in matching if w == last]])


# --------------------------------------------------------------------------- allergies


def _allergies(rec: Record) -> list[JSON]:
    return [
        r
        for r in rec.of("AllergyIntolerance")
        if status_code(r.get("clinicalStatus")) in (None, "active")
    ]


def allergies(rec: Record, params: dict[str, Any], ref_date: str) -> Fact | None:
    """AllergyIntolerances with clinicalStatus active (or absent); inactive and resolved
    ones are not allergies now. Distinct by normalized name; empty = none on file."""
    groups: dict[str, list[JSON]] = {}
    names: dict[str, str] = {}
    for r in _allergies(rec):
        name = label(r.get("code"))
        groups.setdefault(norm(name), []).append(r)
        names.setdefault(norm(name), name)
    values = list(names.values())
    return Fact(
        "set",
        {"value": values, "aliases": [_allergy_aliases(n) for n in values]},
        [[ref(r) for r in rs] for rs in groups.values()],
    )


def allergy_to(rec: Record, params: dict[str, Any], ref_date: str) -> Fact | None:
    """Yes when an active allergy names the substance (code or name); no when no
    allergy of any status does (not asked when only an inactive one does)."""
    c = concept("allergen", params["concept"])
    every = [r for r in rec.of("AllergyIntolerance") if c.matches(r.get("code"))]
    active = [r for r in _allergies(rec) if c.matches(r.get("code"))]
    if active:
        return Fact("yesno", {"value": True}, [[ref(r) for r in active]])
    if every:
        return None
    return Fact("yesno", {"value": False}, [])


# --------------------------------------------------------------------------- events


def _immunizations(rec: Record, c: Concept) -> list[tuple[str, JSON]]:
    out = []
    for r in rec.of("Immunization"):
        d = day(r.get("occurrenceDateTime"))
        if r.get("status") == "completed" and d and c.matches(r.get("vaccineCode")):
            out.append((d, r))
    return sorted(out, key=lambda x: (x[0], x[1]["id"]))


def vaccine_last(rec: Record, params: dict[str, Any], ref_date: str) -> Fact | None:
    c = concept("vaccine", params["concept"])
    given = [(d, r) for d, r in _immunizations(rec, c) if "start" not in params or _in(d, params)]
    if not given:
        return _nir(what=c.name)
    last = given[-1][0]
    return Fact("date", {"value": last}, [[ref(r) for d, r in given if d == last]])


def vaccine_in_window(rec: Record, params: dict[str, Any], ref_date: str) -> Fact | None:
    c = concept("vaccine", params["concept"])
    given = [r for d, r in _immunizations(rec, c) if _in(d, params)]
    return Fact("yesno", {"value": bool(given)}, [[ref(r) for r in given]] if given else [])


def _procedures(rec: Record, c: Concept) -> list[tuple[str, JSON]]:
    out = []
    for r in rec.of("Procedure"):
        d = day(r.get("performedDateTime")) or day((r.get("performedPeriod") or {}).get("start"))
        if r.get("status") == "completed" and d and c.matches(r.get("code")):
            out.append((d, r))
    return sorted(out, key=lambda x: (x[0], x[1]["id"]))


def procedure_ever(rec: Record, params: dict[str, Any], ref_date: str) -> Fact | None:
    done = _procedures(rec, concept("procedure", params["concept"]))
    return Fact("yesno", {"value": bool(done)}, [[ref(r) for _, r in done]] if done else [])


def procedure_last(rec: Record, params: dict[str, Any], ref_date: str) -> Fact | None:
    c = concept("procedure", params["concept"])
    done = _procedures(rec, c)
    if not done:
        return _nir(what=c.name)
    last = done[-1][0]
    return Fact("date", {"value": last}, [[ref(r) for d, r in done if d == last]])


# --------------------------------------------------------------------------- registry

KindFn = Callable[[Record, dict[str, Any], str], Fact | None]

KINDS: dict[str, KindFn] = {
    "birth_date": birth_date,
    "death_date": death_date,
    "alive": alive,
    "age": age,
    "last_encounter_date": last_encounter_date,
    "last_encounter_kind": last_encounter_kind,
    "encounter_count_window": encounter_count_window,
    "visits_since_checkup": visits_since_checkup,
    "lab_latest": lab_latest,
    "lab_count": lab_count,
    "lab_direction": lab_direction,
    "lab_trend_yesno": lab_trend_yesno,
    "lab_vs_previous": lab_vs_previous,
    "lab_at_last_visit": lab_at_last_visit,
    "active_conditions": active_conditions,
    "condition_has": condition_has,
    "condition_onset": condition_onset,
    "current_medications": current_medications,
    "med_still": med_still,
    "med_last_ordered": med_last_ordered,
    "allergies": allergies,
    "allergy_to": allergy_to,
    "vaccine_last": vaccine_last,
    "vaccine_in_window": vaccine_in_window,
    "procedure_ever": procedure_ever,
    "procedure_last": procedure_last,
}

DEFINITIONS: dict[str, str] = {
    "birth_date": "Patient.birthDate.",
    "death_date": "The day of Patient.deceasedDateTime; a patient with no deceased[x] has no "
    "date of death in the record (answer: not in the record).",
    "alive": "Yes unless Patient.deceasedDateTime or deceasedBoolean=true is recorded.",
    "age": "Whole years from birthDate to the reference date, or to the date of death.",
    "last_encounter_date": "The latest Encounter.period.start day among Encounters that took "
    "place (not planned/cancelled/entered-in-error); every Encounter of that day is evidence.",
    "last_encounter_kind": "The class (ambulatory, emergency, inpatient, home health, virtual) "
    "or the type of the latest Encounter; naming either counts, naming another class does not. "
    "Not asked when the last day holds Encounters of different kinds.",
    "encounter_count_window": "Number of Encounters (any class; not planned/cancelled/"
    "entered-in-error) whose period.start day falls in the window.",
    "visits_since_checkup": "Number of Encounters that started after the day of the latest "
    "check-up (Encounter type 'check up', 'general examination', 'well child' and similar, "
    "by SNOMED code or name); the check-up itself is evidence.",
    "lab_latest": "The result with the latest day among Observations of the lab (status "
    "final/amended/corrected, a concept code, numeric valueQuantity); value and unit as "
    "recorded (±1 %), and its day. Not asked when that day holds two different values. With "
    "a window: the latest result inside it, or 'not in the record' when there is none.",
    "lab_count": "Number of days with a result of the lab (in the window, if any). Not asked "
    "when a day holds several results (then 'times' and 'results' differ).",
    "lab_direction": "First vs most recent result (in the window, if any): increased or "
    "decreased. Asked only when both are in the same unit and differ by ≥ 5 %.",
    "lab_trend_yesno": "As lab_direction; 'getting worse' means moving in the lab's worse "
    "direction (A1c, glucose, creatinine, LDL, total cholesterol, triglycerides, urine "
    "albumin up; eGFR, HDL down), 'improved' the opposite.",
    "lab_vs_previous": "The most recent result vs the one before it (previous day with a "
    "result): higher (increased) or lower (decreased); asked when they differ by ≥ 1 %.",
    "lab_at_last_visit": "Yes when a result of the lab belongs to the latest Encounter (by "
    "Observation.encounter, else the same day).",
    "active_conditions": "Distinct (by name) Conditions with clinicalStatus active/recurrence/"
    "relapse (or absent) and no abatement[x]; a condition also present as a resolved episode "
    "counts once as active. Social-history and administrative entries (employment, "
    "education, 'medication review due' …) are optional: neither required nor penalized. "
    "Empty = none.",
    "condition_has": "Yes when a Condition of the concept (SNOMED CT / ICD-10-CM codes, or the "
    "name) is active (as in active_conditions); no when there is none or every one is "
    "resolved/abated (then the resolved ones are the evidence).",
    "condition_onset": "The earliest onsetDateTime (else onsetPeriod.start, else recordedDate) "
    "among the Conditions of the concept, any clinical status.",
    "current_medications": "Distinct (by name) medications with a MedicationRequest or "
    "MedicationStatement of status active, however old the order; stopped, completed, "
    "on-hold orders are not current. Only active orders are evidence.",
    "med_still": "Yes when a MedicationRequest/Statement of the drug (ingredient words in its "
    "name) is active (evidence: the active ones); no when every one is stopped/completed/"
    "on-hold (evidence: all of them, one group). Not asked when the record never had the drug.",
    "med_last_ordered": "The latest authoredOn (statements: effective or asserted date) among "
    "the drug's orders, any status.",
    "allergies": "AllergyIntolerances with clinicalStatus active or absent (inactive/resolved "
    "excluded), distinct by name; empty = none on file.",
    "allergy_to": "Yes when an active allergy names the substance (code or name); no when no "
    "allergy to it is recorded at all.",
    "vaccine_last": "The latest occurrenceDateTime day among completed Immunizations of the "
    "vaccine (CVX codes; by name only without CVX); none = not in the record.",
    "vaccine_in_window": "Yes when a completed Immunization of the vaccine falls in the window.",
    "procedure_ever": "Yes when a completed Procedure of the concept (SNOMED codes or name) "
    "exists; every one is evidence.",
    "procedure_last": "The latest performed day (performedDateTime, else performedPeriod.start) "
    "among completed Procedures of the concept; none = not in the record.",
}


def compute(kind: str, rec: Record, params: dict[str, Any], ref_date: str) -> Fact | None:
    """The ground truth of one question kind on one record."""
    return KINDS[kind](rec, params, ref_date)

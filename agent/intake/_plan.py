"""The interview's plan, built by code from the reason for visit and the record.

:func:`build_plan` reads the typed evidence (:mod:`tools.evidence`), the lab trends
(:mod:`tools.trends`) and the open items (:mod:`tools.open_items`) and returns an
:class:`IntakePlan`: the questions in the order asked, at most ``max_questions`` of
them, chosen by priority:

==========  ===============================================================  ========
kind        items                                                             priority
==========  ===============================================================  ========
core        reason in the patient's words, onset (date), severity (choice),   100..85
            course (choice)
new-problem new problems since the last encounter? (boolean) → which? (string) 84
medication  each current medication: still taking? (boolean) → as prescribed?  80 - 6i
            (boolean), side effects? (string), enabled when still taking
new-allergy any new allergy? (boolean) → which? (string)                       76
allergy     each allergy on file: still true? (boolean)                        72 - 3i
lab         each abnormal key lab, worsening first: related symptoms?          68 / 62 - 2i
            (boolean) → which? (string)
overdue     each overdue key lab: done elsewhere since? (boolean)              50 - 2i
immunization influenza vaccine more than a year ago: had one since? (boolean) 48
goal        each open care-plan goal: how is it going? (choice)                40 - 2i
measurement current weight (quantity), when the record has weights            30
==========  ===============================================================  ========

A question and its ``enableWhen`` follow-ups are chosen together (a follow-up never
without its question). Nothing is keyed to the record's display text: medications,
allergies, goals are the record's entries, labs the measures of :mod:`tools.codes`
(by LOINC), the vaccine by CVX code. Record text appears in a question only quoted as
recorded. :meth:`IntakePlan.questionnaire` is the SDC-style FHIR R4 ``Questionnaire``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field

from tools._record import RecordView, Resource, fmt_num, is_deceased, view_of
from tools.brief import plain
from tools.evidence import EvidenceSet, build_evidence
from tools.open_items import open_items
from tools.trends import Trend, lab_trends
from tools.units import display_unit

from ._model import EnableWhen, Option, PlannedQuestion

__all__ = [
    "ANSWER_SYSTEM",
    "FLU_CVX",
    "IntakePlan",
    "build_plan",
    "visit_reason",
]

#: The code system of the plan's choice options.
ANSWER_SYSTEM = "urn:fhir-assistant:intake:answer"
#: CVX codes of seasonal influenza vaccines (CDC CVX table).
FLU_CVX = frozenset(
    {"15", "16", "88", "111", "135", "140", "141", "144", "149", "150", "151", "153", "155",
     "158", "161", "166", "168", "171", "185", "186", "197", "205"}
)  # fmt: skip
_BODY_WEIGHT = "29463-7"
_KEY_PRIORITY = 15
_OPEN_GOAL = ("active", "accepted", "planned", "proposed", "on-hold", "in-progress")

_SEVERITY = (
    Option(code="mild", display="Mild", synonyms=("a little", "slight", "not bad")),
    Option(code="moderate", display="Moderate", synonyms=("medium", "quite", "fairly bad")),
    Option(code="severe", display="Severe", synonyms=("very bad", "terrible", "awful", "worst", "unbearable")),
)  # fmt: skip
_COURSE = (
    Option(code="better", display="Getting better", synonyms=("better", "improving", "improved")),
    Option(code="worse", display="Getting worse", synonyms=("worse", "worsening", "deteriorating")),
    Option(code="same", display="About the same", synonyms=("same", "unchanged", "no change", "stable")),
    Option(code="varies", display="Comes and goes", synonyms=("on and off", "off and on", "varies", "intermittent")),
)  # fmt: skip
_GOAL = (
    Option(code="achieved", display="Achieved", synonyms=("done", "reached", "met it")),
    Option(code="progress", display="Making progress", synonyms=("progress", "improving", "better", "getting there")),
    Option(code="no-progress", display="No progress", synonyms=("not going well", "struggling", "no change")),
    Option(code="not-started", display="Not started", synonyms=("haven't started", "not yet")),
)  # fmt: skip


class IntakePlan(BaseModel):
    """The questions in the order asked, with the record facts behind them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    patient_id: str
    reason: str = ""
    reason_refs: tuple[str, ...] = ()
    as_of: str
    questions: tuple[PlannedQuestion, ...]
    left_out: int = Field(0, description="questions the priority cut left out")
    last_encounter: str | None = None
    url: str = "urn:fhir-assistant:questionnaire:pre-visit-intake"

    @property
    def version(self) -> str:
        """A stable version of the plan's items (the canonical's ``|version``)."""
        body = orjson.dumps([q.model_dump(mode="json") for q in self.questions])
        return hashlib.sha256(body).hexdigest()[:12]

    @property
    def canonical(self) -> str:
        return f"{self.url}|{self.version}"

    def get(self, link_id: str) -> PlannedQuestion:
        return next(q for q in self.questions if q.link_id == link_id)

    def questionnaire(self) -> dict[str, Any]:
        """The plan as an SDC-style FHIR R4 ``Questionnaire`` (no id: it is contained or
        referenced by its canonical)."""
        items = []
        for q in self.questions:
            item: dict[str, Any] = {"linkId": q.link_id, "text": q.text, "type": q.type}
            if q.options:
                item["answerOption"] = [
                    {"valueCoding": {"system": ANSWER_SYSTEM, "code": o.code, "display": o.display}}
                    for o in q.options
                ]
            if q.enable_when:
                item["enableWhen"] = [
                    {"question": e.question, "operator": "=", "answerBoolean": e.answer_boolean}
                    if e.answer_boolean is not None
                    else {"question": e.question, "operator": "=",
                          "answerCoding": {"system": ANSWER_SYSTEM, "code": e.answer_code}}
                    for e in q.enable_when
                ]  # fmt: skip
                item["enableBehavior"] = "all"
            if q.type == "quantity" and q.unit:
                item["extension"] = [
                    {
                        "url": "http://hl7.org/fhir/StructureDefinition/questionnaire-unit",
                        "valueCoding": {"system": "http://unitsofmeasure.org", "code": q.unit},
                    }
                ]
            items.append(item)
        return {
            "resourceType": "Questionnaire",
            "url": self.url,
            "version": self.version,
            "name": "PreVisitIntake",
            "title": "Pre-visit intake",
            "status": "active",
            "subjectType": ["Patient"],
            "date": self.as_of,
            "meta": {
                "profile": ["http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire"]
            },
            "item": items,
        }


def visit_reason(appointment: Resource | None, reason: str | None) -> tuple[str, tuple[str, ...]]:
    """The reason for the visit: ``--reason`` text, else the Appointment's ``reasonCode``
    (its text or first display) and ``reasonReference``; and the references it rests on."""
    if reason and reason.strip():
        refs = (
            (f"Appointment/{appointment['id']}",) if appointment and appointment.get("id") else ()
        )
        return reason.strip(), refs
    if not appointment:
        return "", ()
    texts: list[str] = []
    for cc in appointment.get("reasonCode") or []:
        text = cc.get("text") or next(
            (c.get("display") for c in cc.get("coding") or [] if c.get("display")), None
        )
        if text:
            texts.append(plain(str(text)))
    for ref in appointment.get("reasonReference") or []:
        if ref.get("display"):
            texts.append(plain(str(ref["display"])))
    if not texts and appointment.get("description"):
        texts.append(str(appointment["description"]))
    refs = (f"Appointment/{appointment['id']}",) if appointment.get("id") else ()
    return "; ".join(dict.fromkeys(texts)), refs


def _q(link_id: str, text: str, type_: Any, kind: Any, priority: int, **kw: Any) -> PlannedQuestion:
    return PlannedQuestion(
        link_id=link_id, text=text, type=type_, kind=kind, priority=priority, **kw
    )


def _when(link_id: str, value: bool = True) -> tuple[EnableWhen, ...]:
    return (EnableWhen(question=link_id, answer_boolean=value),)


def _quote(name: str) -> str:
    return f"\u201c{plain(name)}\u201d"


def _core(reason: str, reason_refs: tuple[str, ...]) -> list[list[PlannedQuestion]]:
    about = f" Your appointment is about: {_quote(reason)}." if reason else ""
    return [
        [_q("reason", f"{about.strip()} In your own words, what is the main reason for your "
            "visit?".strip(), "string", "core", 100, about=reason_refs, subject=reason)],
        [_q("onset", "When did this start? (a date, or e.g. \u201c3 days ago\u201d)", "date",
            "core", 95)],
        [_q("severity", "How bad is it now: mild, moderate or severe?", "choice", "core", 90,
            options=_SEVERITY)],
        [_q("course", "Since it started, is it getting better, getting worse, about the same, "
            "or does it come and go?", "choice", "core", 85, options=_COURSE)],
    ]  # fmt: skip


def _medications(ev: EvidenceSet) -> list[list[PlannedQuestion]]:
    groups = []
    meds = [
        m for m in ev.section("medications") if m.kind == "medication" and m.status == "current"
    ]
    for i, m in enumerate(meds, 1):
        name = _quote(m.name)
        base = f"med-{i}"
        facts = {"name": plain(m.name), "reference": m.reference}
        refs = (m.reference,)
        groups.append(
            [
                _q(f"{base}-taking", f"Our record lists the medication {name}. Are you still "
                   "taking it?", "boolean", "medication", 80 - 6 * (i - 1), about=refs,
                   subject=plain(m.name), facts=facts),
                _q(f"{base}-as-prescribed", f"Do you take {name} as prescribed (the dose and "
                   "times you were told)?", "boolean", "medication", 80 - 6 * (i - 1),
                   enable_when=_when(f"{base}-taking"), about=refs, subject=plain(m.name),
                   facts=facts),
                _q(f"{base}-side-effects", f"Any side effects from {name}? (describe them, or "
                   "say \u201cnone\u201d)", "string", "medication", 80 - 6 * (i - 1),
                   enable_when=_when(f"{base}-taking"), about=refs, subject=plain(m.name),
                   facts=facts),
            ]
        )  # fmt: skip
    return groups


def _allergies(ev: EvidenceSet) -> list[list[PlannedQuestion]]:
    groups: list[list[PlannedQuestion]] = [
        [
            _q("new-allergy", "Have you had any new allergies or reactions to a medicine, food "
               "or anything else since your last visit?", "boolean", "new-allergy", 76),
            _q("new-allergy-detail", "What are you allergic to, and what happens?", "string",
               "new-allergy", 76, enable_when=_when("new-allergy")),
        ]
    ]  # fmt: skip
    allergies = [
        a
        for a in ev.section("allergies")
        if a.kind == "allergy" and a.status in ("active", "unknown", None)
    ]
    for i, a in enumerate(allergies, 1):
        groups.append(
            [
                _q(f"allergy-{i}", f"Our record says you are allergic to {_quote(a.name)}. Is "
                   "that still correct?", "boolean", "allergy", 72 - 3 * (i - 1),
                   about=tuple(a.references), subject=plain(a.name),
                   facts={"name": plain(a.name), "reference": a.reference})
            ]
        )  # fmt: skip
    return groups


def _worsening(t: Trend) -> bool:
    last = t.latest
    return bool(
        last
        and t.abnormal
        and t.changing
        and (
            (last.flag == "H" and t.direction == "rising")
            or (last.flag == "L" and t.direction == "falling")
        )
    )


def _labs(trends: Sequence[Trend]) -> list[list[PlannedQuestion]]:
    key = [t for t in trends if t.priority <= _KEY_PRIORITY and t.latest is not None and t.abnormal]
    key.sort(key=lambda t: (not _worsening(t), t.priority))
    groups = []
    for i, t in enumerate(key, 1):
        last = t.latest
        assert last is not None
        unit = display_unit(t.unit)
        word = "high" if last.flag == "H" else "low"
        trend = " and has been getting further out of range" if _worsening(t) else ""
        value = f"{fmt_num(last.value)}{' ' + unit if unit else ''}"
        prio = 68 - 2 * (i - 1) if _worsening(t) else 62 - 2 * (i - 1)
        facts = {"measure": t.key, "display": t.display, "flag": last.flag, "value": last.value,
                 "unit": unit, "date": last.date, "reference": last.ref,
                 "worsening": _worsening(t)}  # fmt: skip
        groups.append(
            [
                _q(f"lab-{i}", f"Your {t.display} result on {last.date} was {word} ({value})"
                   f"{trend}. Have you had any symptoms or health changes you think may be "
                   "related?", "boolean", "lab", prio, about=(last.ref,), subject=t.display,
                   facts=facts),
                _q(f"lab-{i}-detail", "Please describe them.", "string", "lab", prio,
                   enable_when=_when(f"lab-{i}"), about=(last.ref,), subject=t.display,
                   facts=facts),
            ]
        )  # fmt: skip
    return groups


def _new_problems(last_encounter: str | None) -> list[list[PlannedQuestion]]:
    since = f"your last visit ({last_encounter})" if last_encounter else "your last visit"
    return [
        [
            _q("new-problem", f"Since {since}, have you had any new health problems, "
               "diagnoses or hospital stays?", "boolean", "new-problem", 84),
            _q("new-problem-detail", "What were they?", "string", "new-problem", 84,
               enable_when=_when("new-problem")),
        ]
    ]  # fmt: skip


def _overdue(
    record: RecordView, ev: EvidenceSet, trends: Sequence[Trend], as_of: dt.date
) -> list[list[PlannedQuestion]]:
    groups = []
    items = [
        o
        for o in open_items(record, as_of=as_of, evidence=ev, trends=trends)
        if o.kind == "overdue"
    ]
    by_ref = {t.latest.ref: t for t in trends if t.latest is not None}
    for i, o in enumerate(items, 1):
        t = by_ref.get(o.references[0]) if o.references else None
        name = t.display if t else "this test"
        last = t.latest.date if t and t.latest else "an earlier date"
        groups.append(
            [
                _q(f"overdue-{i}", f"Our record shows your last {name} test on {last}; it is due "
                   "again. Have you had it done somewhere else since?", "boolean", "overdue",
                   50 - 2 * (i - 1), about=tuple(o.references), subject=name,
                   facts={"measure": t.key if t else "", "last": last})
            ]
        )  # fmt: skip
    return groups


def _flu(ev: EvidenceSet, as_of: dt.date) -> list[list[PlannedQuestion]]:
    last_day: str | None = None
    last_ref: str | None = None
    for item in ev.section("immunizations"):
        if not any(c.code in FLU_CVX for c in item.codings):
            continue
        for p in item.points:
            if p.day and (last_day is None or p.day > last_day):
                last_day, last_ref = p.day, p.source.reference
    if last_day is None or last_ref is None:
        return []
    if (as_of - dt.date.fromisoformat(last_day[:10])).days <= 365:
        return []
    return [
        [
            _q("flu-vaccine", f"Our record's last flu vaccine is from {last_day[:10]}. Have you "
               "had a flu shot since then?", "boolean", "immunization", 48, about=(last_ref,),
               subject="influenza vaccine", facts={"last": last_day[:10]})
        ]
    ]  # fmt: skip


def _goals(ev: EvidenceSet) -> list[list[PlannedQuestion]]:
    goals = [g for g in ev.section("care_plans") if g.kind == "goal" and g.status in _OPEN_GOAL]
    groups = []
    for i, g in enumerate(goals, 1):
        words = plain(g.name).split()
        name = " ".join(words[:14]) + (" …" if len(words) > 14 else "")
        groups.append(
            [
                _q(f"goal-{i}", f"One of your care goals is \u201c{name}\u201d. How is it going: "
                   "achieved, making progress, no progress, or not started?", "choice", "goal",
                   40 - 2 * (i - 1), options=_GOAL, about=(g.reference,), subject=name,
                   facts={"name": name, "reference": g.reference})
            ]
        )  # fmt: skip
    return groups


def _weight(trends: Sequence[Trend]) -> list[list[PlannedQuestion]]:
    t = next((t for t in trends if _BODY_WEIGHT in t.codes and t.latest is not None), None)
    if t is None or t.latest is None:
        return []
    unit = display_unit(t.unit) or t.unit
    return [
        [
            _q("weight", f"What is your weight now, if you know it? (our last record: "
               f"{fmt_num(t.latest.value)} {unit} on {t.latest.date})", "quantity",
               "measurement", 30, unit=t.unit, about=(t.latest.ref,), subject=t.display,
               facts={"value": t.latest.value, "unit": t.unit, "date": t.latest.date})
        ]
    ]  # fmt: skip


def _last_encounter(ev: EvidenceSet) -> str | None:
    days = [p.day for e in ev.section("encounters") for p in e.points if p.day]
    return max(days)[:10] if days else None


def build_plan(
    record: Sequence[Resource] | RecordView,
    *,
    reason: str = "",
    reason_refs: Sequence[str] = (),
    as_of: dt.date | None = None,
    max_questions: int = 20,
    url: str | None = None,
) -> IntakePlan:
    """The interview's plan for this record (see the module docstring)."""
    view = view_of(record)
    as_of = as_of or dt.datetime.now(dt.UTC).date()
    ev = build_evidence(view, as_of=as_of)
    trends = lab_trends(view, as_of=as_of)
    last = _last_encounter(ev)
    deceased = is_deceased(view.patient)
    groups: list[list[PlannedQuestion]] = [
        *_core(reason, tuple(reason_refs)),
        *_new_problems(last),
        *_medications(ev),
        *_allergies(ev),
        *_labs(trends),
        *([] if deceased else _overdue(view, ev, trends, as_of)),
        *_flu(ev, as_of),
        *_goals(ev),
        *_weight(trends),
    ]
    order = {id(g): n for n, g in enumerate(groups)}
    chosen: list[list[PlannedQuestion]] = []
    used = 0
    left = 0
    for g in sorted(groups, key=lambda g: (-g[0].priority, order[id(g)])):
        if used + len(g) <= max_questions:
            chosen.append(g)
            used += len(g)
        else:
            left += len(g)
    chosen.sort(key=lambda g: order[id(g)])  # asked in the plan's order, not by priority
    return IntakePlan(
        patient_id=view.patient_id or "",
        reason=reason,
        reason_refs=tuple(reason_refs),
        as_of=as_of.isoformat(),
        questions=tuple(q for g in chosen for q in g),
        left_out=left,
        last_encounter=last,
        url=url or "urn:fhir-assistant:questionnaire:pre-visit-intake",
    )

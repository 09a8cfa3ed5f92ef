"""The no-model oracle baseline for clinqa: the record tools, routed by the question's
kind and parameters.

Like :mod:`bench.ehrqa.baseline`, it reads ``question.kind`` and ``question.params``
(the concept, its codes, the window) instead of the text (a follow-up's parameters are
already resolved, so coreference is free; a two-in-one question is answered part by
part). It never reads the answer, the evidence or the category: a "not in the record"
question has the kind of the question it imitates, and is answered "not in the record"
only when the tools find nothing.

Tools used: :func:`tools.evidence.build_evidence` (patient, conditions, medications,
allergies, encounters, procedures, immunizations: names, statuses, dated points, each
item's citations) and :func:`tools.trends.trend` (lab and vital series, values as
recorded). The concept tables of :mod:`bench.clinqa.concepts` decide which tool items
belong to a concept (the routing), the tools decide status, dates and values. So the
row measures the record tools under perfect planning; where it falls short of 100 %,
the tools and the independent ground truth disagree (see the README).
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from bench.clinqa.concepts import CHECKUP, Concept, concept
from bench.ehrqa.answer import AnswerRecord
from bench.ehrqa.generate import DEFAULT_REFERENCE_DATE, Question
from tools.errors import AssistantError, IncompatibleUnits
from tools.evidence import EvidenceItem, EvidenceSet, build_evidence
from tools.source import RecordSource, Resource
from tools.trends import TrendPoint, trend

__all__ = ["OracleBaseline"]

_NIR = "Not in the record: the record holds no {what}."
_CLASS_WORDS = {"AMB": "ambulatory", "EMER": "emergency", "IMP": "inpatient",
                "ACUTE": "inpatient", "HH": "home health", "VR": "virtual",
                "OBSENC": "observation", "SS": "short stay"}  # fmt: skip


def _cite(refs: list[str]) -> str:
    return " ".join(f"[{r}]" for r in refs[:8])


def _cc(item: EvidenceItem) -> dict[str, Any]:
    """The item's codings as a FHIR CodeableConcept (for concept matching)."""
    return {
        "coding": [
            {"system": c.system, "code": c.code, "display": c.display} for c in item.codings
        ],
        "text": item.name,
    }


def _day(value: str | None) -> str | None:
    return value[:10] if value and len(value) >= 10 else None


def _in(day: str | None, params: dict[str, Any]) -> bool:
    if "start" not in params:
        return day is not None
    return day is not None and params["start"] <= day <= params["end"]


class OracleBaseline:
    """No-model answers from ``tools.evidence`` / ``tools.trends`` (oracle routing)."""

    name = "baseline"

    def __init__(self, source: RecordSource, *, ref_date: str = DEFAULT_REFERENCE_DATE) -> None:
        self.source = source
        self.ref_date = dt.date.fromisoformat(ref_date)
        self._cache: dict[str, tuple[list[Resource], EvidenceSet]] = {}

    async def _record(self, patient_id: str) -> tuple[list[Resource], EvidenceSet]:
        if patient_id not in self._cache:
            record = await self.source.everything(patient_id)
            self._cache = {patient_id: (record, build_evidence(record, as_of=self.ref_date))}
        return self._cache[patient_id]

    async def answer(self, question: Question, patient_id: str) -> AnswerRecord:
        started = time.perf_counter()
        try:
            record, ev = await self._record(patient_id)
            if question.parts:
                out = self._parts(question, record, ev)
            else:
                out = self._one(question.kind, question.params, record, ev)
        except (AssistantError, KeyError) as exc:
            out = AnswerRecord(text="", error=f"{type(exc).__name__}: {exc}")
        out.latency_s = time.perf_counter() - started
        out.sentences_total = max(1, out.text.count(". ")) if out.text else 0
        return out

    def _one(
        self, kind: str, params: dict[str, Any], record: list[Resource], ev: EvidenceSet
    ) -> AnswerRecord:
        handler = getattr(self, f"_{kind}", None)
        if handler is None:
            return AnswerRecord(text="", error=f"no route for kind {kind}")
        out: AnswerRecord = handler(params, record, ev)
        return out

    def _parts(self, q: Question, record: list[Resource], ev: EvidenceSet) -> AnswerRecord:
        answers = [self._one(p["kind"], p["params"], record, ev) for p in q.parts]
        return AnswerRecord(
            text=" ".join(a.text.rstrip(".") + "." for a in answers),
            value=[
                {
                    "value": a.value,
                    "unit": a.unit,
                    "date": a.date,
                    "text": a.text,
                    "not_in_record": a.not_in_record,
                }
                for a in answers
            ],
            citations=list(dict.fromkeys(r for a in answers for r in a.citations)),
        )

    # ------------------------------------------------------------------ patient

    @staticmethod
    def _demo(ev: EvidenceSet) -> tuple[EvidenceItem, Any]:
        item = ev.section("patient")[0]
        return item, item.demographics

    def _birth_date(
        self, p: dict[str, Any], record: list[Resource], ev: EvidenceSet
    ) -> AnswerRecord:
        item, demo = self._demo(ev)
        refs = list(item.references)
        if not demo or not demo.birth_date:
            return AnswerRecord(text=_NIR.format(what="birth date"), not_in_record=True)
        return AnswerRecord(text=f"Born {demo.birth_date}. {_cite(refs)}", value=demo.birth_date,
                            citations=refs)  # fmt: skip

    def _death_date(
        self, p: dict[str, Any], record: list[Resource], ev: EvidenceSet
    ) -> AnswerRecord:
        item, demo = self._demo(ev)
        if not demo or not demo.death_date:
            return AnswerRecord(text=_NIR.format(what="date of death"), not_in_record=True)
        refs = list(item.references)
        day = demo.death_date[:10]
        return AnswerRecord(text=f"Died {day}. {_cite(refs)}", value=day, citations=refs)

    def _alive(self, p: dict[str, Any], record: list[Resource], ev: EvidenceSet) -> AnswerRecord:
        item, demo = self._demo(ev)
        alive = not (demo and demo.deceased)
        refs = list(item.references)
        text = "Yes, no death is recorded." if alive else f"No, deceased {demo.death_date or ''}."
        return AnswerRecord(text=f"{text} {_cite(refs)}", value=alive, citations=refs)

    def _age(self, p: dict[str, Any], record: list[Resource], ev: EvidenceSet) -> AnswerRecord:
        item, demo = self._demo(ev)
        if not demo or demo.age is None:
            return AnswerRecord(text=_NIR.format(what="birth date"), not_in_record=True)
        refs = list(item.references)
        return AnswerRecord(text=f"{demo.age} years. {_cite(refs)}", value=demo.age, unit="a",
                            citations=refs)  # fmt: skip

    # ------------------------------------------------------------------ encounters

    @staticmethod
    def _visits(ev: EvidenceSet) -> list[tuple[str, str, EvidenceItem]]:
        """(day, reference, item) of every encounter point."""
        return sorted(
            (d, pt.source.reference, item)
            for item in ev.section("encounters")
            for pt in item.points
            if (d := _day(pt.date))
        )

    def _last_encounter_date(
        self, p: dict[str, Any], record: list[Resource], ev: EvidenceSet
    ) -> AnswerRecord:
        visits = self._visits(ev)
        if not visits:
            return AnswerRecord(text=_NIR.format(what="encounters"), not_in_record=True)
        last = visits[-1][0]
        refs = [r for d, r, _ in visits if d == last]
        return AnswerRecord(text=f"{last}. {_cite(refs)}", value=last, citations=refs)

    def _last_encounter_kind(
        self, p: dict[str, Any], record: list[Resource], ev: EvidenceSet
    ) -> AnswerRecord:
        visits = self._visits(ev)
        if not visits:
            return AnswerRecord(text=_NIR.format(what="encounters"), not_in_record=True)
        last = visits[-1][0]
        items = [(r, i) for d, r, i in visits if d == last]
        kinds = "; ".join(
            dict.fromkeys(
                f"{_CLASS_WORDS.get(i.subtype or '', i.subtype or 'unknown class')} visit: {i.name}"
                for _, i in items
            )
        )
        refs = [r for r, _ in items]
        return AnswerRecord(text=f"{kinds} on {last}. {_cite(refs)}", citations=refs)

    def _encounter_count_window(
        self, p: dict[str, Any], record: list[Resource], ev: EvidenceSet
    ) -> AnswerRecord:
        refs = list(dict.fromkeys(r for d, r, _ in self._visits(ev) if _in(d, p)))
        return AnswerRecord(text=f"{len(refs)} encounters. {_cite(refs)}", value=len(refs),
                            citations=refs)  # fmt: skip

    def _visits_since_checkup(
        self, p: dict[str, Any], record: list[Resource], ev: EvidenceSet
    ) -> AnswerRecord:
        visits = self._visits(ev)
        checkups = [(d, r) for d, r, i in visits if CHECKUP.matches(_cc(i))]
        if not checkups:
            return AnswerRecord(text=_NIR.format(what="check-up"), not_in_record=True)
        last = checkups[-1][0]
        after = list(dict.fromkeys(r for d, r, _ in visits if d > last))
        refs = [r for d, r in checkups if d == last] + after
        return AnswerRecord(
            text=f"{len(after)} visits since the check-up of {last}. {_cite(refs)}",
            value=len(after),
            citations=refs,
        )

    # ------------------------------------------------------------------ labs

    def _series(self, p: dict[str, Any], record: list[Resource]) -> list[TrendPoint]:
        codes = [str(c) for c in p.get("codes", [])]
        try:
            trends = trend(record, codes, as_of=self.ref_date)
        except IncompatibleUnits:  # a concept whose codes do not share a unit: per code
            trends = []
            for code in codes:
                try:
                    trends += trend(record, code, as_of=self.ref_date)
                except AssistantError:
                    continue
        points = {pt.ref: pt for t in trends for pt in t.points if pt.date}
        return sorted(points.values(), key=lambda pt: (pt.date or "", pt.ref))

    def _windowed(self, p: dict[str, Any], record: list[Resource]) -> list[TrendPoint]:
        return [pt for pt in self._series(p, record) if _in(pt.date, p)]

    def _lab_latest(
        self, p: dict[str, Any], record: list[Resource], ev: EvidenceSet
    ) -> AnswerRecord:
        pts = self._windowed(p, record)
        if not pts:
            return AnswerRecord(
                text=_NIR.format(what=f"{p.get('name')} result"), not_in_record=True
            )
        last = pts[-1]
        refs = [pt.ref for pt in pts if pt.date == last.date]
        return AnswerRecord(
            text=f"{last.original_value:g} {last.original_unit} on {last.date}. {_cite(refs)}",
            value=last.original_value,
            unit=last.original_unit,
            date=last.date,
            citations=refs,
        )

    def _lab_count(
        self, p: dict[str, Any], record: list[Resource], ev: EvidenceSet
    ) -> AnswerRecord:
        pts = self._windowed(p, record)
        days = sorted({pt.date for pt in pts if pt.date})
        refs = [pt.ref for pt in pts]
        return AnswerRecord(text=f"{len(days)} results. {_cite(refs)}", value=len(days),
                            citations=refs)  # fmt: skip

    @staticmethod
    def _way(first: TrendPoint, last: TrendPoint) -> str:
        if last.original_value > first.original_value:
            return "increased"
        return "decreased" if last.original_value < first.original_value else "unchanged"

    def _first_last(
        self, p: dict[str, Any], record: list[Resource]
    ) -> tuple[TrendPoint, TrendPoint] | None:
        pts = self._windowed(p, record)
        return (pts[0], pts[-1]) if len(pts) >= 2 else None

    def _lab_direction(
        self, p: dict[str, Any], record: list[Resource], ev: EvidenceSet
    ) -> AnswerRecord:
        fl = self._first_last(p, record)
        if fl is None:
            return AnswerRecord(text=_NIR.format(what="two results"), not_in_record=True)
        first, last = fl
        way = self._way(first, last)
        return AnswerRecord(
            text=f"It {way}: {first.original_value:g} on {first.date} to "
            f"{last.original_value:g} on {last.date}. {_cite([first.ref, last.ref])}",
            value=way,
            citations=[first.ref, last.ref],
        )

    def _lab_trend_yesno(
        self, p: dict[str, Any], record: list[Resource], ev: EvidenceSet
    ) -> AnswerRecord:
        out = self._lab_direction(p, record, ev)
        if out.not_in_record:
            return out
        yes = out.value == p["yes_direction"]
        return AnswerRecord(text=f"{'Yes' if yes else 'No'}. {out.text}", value=yes,
                            citations=out.citations)  # fmt: skip

    def _lab_vs_previous(
        self, p: dict[str, Any], record: list[Resource], ev: EvidenceSet
    ) -> AnswerRecord:
        pts = self._series(p, record)
        days = sorted({pt.date for pt in pts if pt.date})
        if len(days) < 2:
            return AnswerRecord(text=_NIR.format(what="two results"), not_in_record=True)
        prev = next(pt for pt in reversed(pts) if pt.date == days[-2])
        last = pts[-1]
        way = self._way(prev, last)
        return AnswerRecord(
            text=f"It {way}: {prev.original_value:g} on {prev.date} to "
            f"{last.original_value:g} on {last.date}. {_cite([prev.ref, last.ref])}",
            value=way,
            citations=[prev.ref, last.ref],
        )

    def _lab_at_last_visit(
        self, p: dict[str, Any], record: list[Resource], ev: EvidenceSet
    ) -> AnswerRecord:
        visits = self._visits(ev)
        if not visits:
            return AnswerRecord(text=_NIR.format(what="encounters"), not_in_record=True)
        last = visits[-1][0]
        enc = [r for d, r, _ in visits if d == last]
        hits = [pt.ref for pt in self._series(p, record) if pt.date == last]
        refs = enc + hits
        word = "Yes" if hits else "No"
        return AnswerRecord(text=f"{word}, at the visit of {last}. {_cite(refs)}",
                            value=bool(hits), citations=refs)  # fmt: skip

    # ------------------------------------------------------------------ lists

    @staticmethod
    def _list(items: list[EvidenceItem], what: str) -> AnswerRecord:
        items = [i for i in items if i.kind != "absence"]  # "no allergies recorded" items
        if not items:
            return AnswerRecord(text=f"None: the record lists no {what}.", value=[])
        refs = list(dict.fromkeys(r for i in items for r in i.references))
        lines = [f"- {i.name} {_cite(list(i.references)[:3])}" for i in items]
        return AnswerRecord(text="\n".join(lines), value=[i.name for i in items], citations=refs)

    def _active_conditions(
        self, p: dict[str, Any], record: list[Resource], ev: EvidenceSet
    ) -> AnswerRecord:
        items = [i for i in ev.section("conditions") if i.status == "active"]
        return self._list(items, "active conditions")

    def _current_medications(
        self, p: dict[str, Any], record: list[Resource], ev: EvidenceSet
    ) -> AnswerRecord:
        items = [i for i in ev.section("medications") if i.status == "current"]
        return self._list(items, "current medications")

    def _allergies(
        self, p: dict[str, Any], record: list[Resource], ev: EvidenceSet
    ) -> AnswerRecord:
        items = [i for i in ev.section("allergies") if i.status in ("active", "unknown", None)]
        return self._list(items, "allergies")

    # ------------------------------------------------------------------ coded items

    @staticmethod
    def _of(ev: EvidenceSet, section: str, c: Concept) -> list[EvidenceItem]:
        if c.kind in ("drug", "allergen"):
            return [i for i in ev.section(section) if c.matches_name([i.name])]
        return [i for i in ev.section(section) if c.matches(_cc(i))]

    @staticmethod
    def _dated(items: list[EvidenceItem], p: dict[str, Any]) -> list[tuple[str, str]]:
        return sorted(
            (d, pt.source.reference)
            for i in items
            for pt in i.points
            if (d := _day(pt.date)) and _in(d, p)
        )

    def _yes_no(self, yes: bool, refs: list[str], what: str) -> AnswerRecord:
        text = f"Yes. {_cite(refs)}" if yes else f"No: no {what} in the record."
        return AnswerRecord(text=text, value=yes, citations=refs if yes else [])

    def _condition_has(
        self, p: dict[str, Any], record: list[Resource], ev: EvidenceSet
    ) -> AnswerRecord:
        items = self._of(ev, "conditions", concept("condition", p["concept"]))
        active = [i for i in items if i.status == "active"]
        if active:
            return self._yes_no(True, [r for i in active for r in i.references], p["name"])
        refs = [r for i in items for r in i.references]
        text = f"No: {p['name']} is not active. {_cite(refs)}" if refs else "No."
        return AnswerRecord(text=text, value=False, citations=refs)

    def _condition_onset(
        self, p: dict[str, Any], record: list[Resource], ev: EvidenceSet
    ) -> AnswerRecord:
        dated = self._dated(self._of(ev, "conditions", concept("condition", p["concept"])), {})
        return self._date(dated, p["name"], latest=False)

    def _date(self, dated: list[tuple[str, str]], what: str, *, latest: bool) -> AnswerRecord:
        if not dated:
            return AnswerRecord(text=_NIR.format(what=what), not_in_record=True)
        day = dated[-1][0] if latest else dated[0][0]
        refs = list(dict.fromkeys(r for d, r in dated if d == day))
        return AnswerRecord(text=f"{day}. {_cite(refs)}", value=day, citations=refs)

    def _med_still(
        self, p: dict[str, Any], record: list[Resource], ev: EvidenceSet
    ) -> AnswerRecord:
        items = self._of(ev, "medications", concept("drug", p["concept"]))
        current = [i for i in items if i.status == "current"]
        if current:
            return self._yes_no(True, [r for i in current for r in i.references], p["name"])
        refs = [r for i in items for r in i.references]
        return AnswerRecord(text=f"No: not current. {_cite(refs)}", value=False, citations=refs)

    def _med_last_ordered(
        self, p: dict[str, Any], record: list[Resource], ev: EvidenceSet
    ) -> AnswerRecord:
        items = self._of(ev, "medications", concept("drug", p["concept"]))
        return self._date(self._dated(items, {}), p["name"], latest=True)

    def _allergy_to(
        self, p: dict[str, Any], record: list[Resource], ev: EvidenceSet
    ) -> AnswerRecord:
        items = [
            i
            for i in self._of(ev, "allergies", concept("allergen", p["concept"]))
            if i.status in ("active", "unknown", None)
        ]
        return self._yes_no(bool(items), [r for i in items for r in i.references], p["name"])

    def _vaccine_last(
        self, p: dict[str, Any], record: list[Resource], ev: EvidenceSet
    ) -> AnswerRecord:
        items = self._of(ev, "immunizations", concept("vaccine", p["concept"]))
        return self._date(self._dated(items, p), p["name"], latest=True)

    def _vaccine_in_window(
        self, p: dict[str, Any], record: list[Resource], ev: EvidenceSet
    ) -> AnswerRecord:
        items = self._of(ev, "immunizations", concept("vaccine", p["concept"]))
        refs = [r for _, r in self._dated(items, p)]
        return self._yes_no(bool(refs), refs, f"{p['name']} in that period")

    def _procedure_ever(
        self, p: dict[str, Any], record: list[Resource], ev: EvidenceSet
    ) -> AnswerRecord:
        items = self._of(ev, "procedures", concept("procedure", p["concept"]))
        refs = [r for _, r in self._dated(items, {})]
        return self._yes_no(bool(refs), refs, p["name"])

    def _procedure_last(
        self, p: dict[str, Any], record: list[Resource], ev: EvidenceSet
    ) -> AnswerRecord:
        items = self._of(ev, "procedures", concept("procedure", p["concept"]))
        return self._date(self._dated(items, {}), p["name"], latest=True)

"""The extractive, no-model baseline: answers from the project's record tools alone.

**Oracle routing**: it reads ``question.kind`` (the question template: ``lab_latest``,
``procedure_ever`` …) and ``question.params`` (the code and window asked about) instead
of understanding the question text. It never reads the answer, the evidence or the
category; a "does not exist" question has the kind of the question it imitates, so the
baseline answers it like any other and says "not in the record" only when the tools
find nothing. The row it produces is therefore an upper bound for what the record tools
can answer when a planner routes every question perfectly — not a model result.

Tools used: :func:`tools.evidence.build_evidence` (patient, conditions, medications,
allergies, encounters, procedures, immunizations; citations come from the items'
citations) and :func:`tools.trends.trend` (labs: latest, change, average over a window),
over ``RecordSource.everything``. A lab asked about by a local code (``params["system"]``
not LOINC, which ``trend`` does not take) is read from the evidence's ``labs`` items with
that code. Lab values are given in the unit the record uses for the series (the
question's ground truth is in the recorded unit; the scorer converts UCUM units, not
mass to substance). No model calls; usage is zero.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import statistics
import time

from bench.ehrqa.answer import AnswerRecord
from bench.ehrqa.generate import DEFAULT_REFERENCE_DATE, LOINC, Question
from tools.errors import AssistantError
from tools.evidence import EvidenceItem, EvidenceSet, build_evidence
from tools.source import RecordSource, Resource
from tools.trends import TrendPoint, trend
from tools.units import conversion

__all__ = ["BaselineAnswerer"]

_NIR_TEXT = "Not in the record: the patient's record holds no {what}."


def _cite(refs: list[str]) -> str:
    return " ".join(f"[{r}]" for r in refs)


class BaselineAnswerer:
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
            handler = getattr(self, f"_{question.kind}", None)
            if handler is None:
                out = AnswerRecord(text="", error=f"no route for kind {question.kind}")
            else:
                out = handler(question, record, ev)
        except AssistantError as exc:
            out = AnswerRecord(text="", error=f"{type(exc).__name__}: {exc}")
        out.latency_s = time.perf_counter() - started
        out.sentences_total = 1 if out.text else 0
        return out

    # ------------------------------------------------------------------ demographics

    def _age(self, q: Question, record: list[Resource], ev: EvidenceSet) -> AnswerRecord:
        item = ev.section("patient")[0]
        age = item.demographics.age if item.demographics else None
        if age is None:
            return AnswerRecord(text=_NIR_TEXT.format(what="birth date"), not_in_record=True)
        refs = list(item.references)
        return AnswerRecord(
            text=f"{age} years. {_cite(refs)}",
            value=age,
            unit="a",
            citations=refs,
        )

    def _patient(self, record: list[Resource]) -> Resource:
        return next(r for r in record if r.get("resourceType") == "Patient")

    def _birth_date(self, q: Question, record: list[Resource], ev: EvidenceSet) -> AnswerRecord:
        p = self._patient(record)
        ref = f"Patient/{p['id']}"
        if not p.get("birthDate"):
            return AnswerRecord(text=_NIR_TEXT.format(what="birth date"), not_in_record=True)
        return AnswerRecord(
            text=f"Born {p['birthDate']}. [{ref}]", value=p["birthDate"], citations=[ref]
        )

    def _gender(self, q: Question, record: list[Resource], ev: EvidenceSet) -> AnswerRecord:
        p = self._patient(record)
        ref = f"Patient/{p['id']}"
        if not p.get("gender"):
            return AnswerRecord(text=_NIR_TEXT.format(what="gender"), not_in_record=True)
        return AnswerRecord(text=f"{p['gender']}. [{ref}]", value=p["gender"], citations=[ref])

    # ------------------------------------------------------------------ lists

    def _list(self, items: list[EvidenceItem], what: str) -> AnswerRecord:
        names = [i.name for i in items]
        refs = list(dict.fromkeys(r for i in items for r in i.references))
        if not items:
            return AnswerRecord(text=f"None: the record lists no {what}.", value=[])
        lines = [f"- {i.name} {_cite(list(i.references)[:3])}" for i in items]
        return AnswerRecord(text="\n".join(lines), value=names, citations=refs)

    def _active_conditions(
        self, q: Question, record: list[Resource], ev: EvidenceSet
    ) -> AnswerRecord:
        items = [i for i in ev.section("conditions") if i.status == "active"]
        return self._list(items, "active conditions")

    def _current_medications(
        self, q: Question, record: list[Resource], ev: EvidenceSet
    ) -> AnswerRecord:
        items = [i for i in ev.section("medications") if i.status == "current"]
        return self._list(items, "current medications")

    def _allergies(self, q: Question, record: list[Resource], ev: EvidenceSet) -> AnswerRecord:
        items = [i for i in ev.section("allergies") if i.status in ("active", "unknown")]
        return self._list(items, "allergies")

    # ------------------------------------------------------------------ coded events

    @staticmethod
    def _with_code(items: list[EvidenceItem], code: str) -> list[EvidenceItem]:
        return [i for i in items if any(c.code == code for c in i.codings)]

    def _dated(self, items: list[EvidenceItem], *, latest: bool) -> tuple[str | None, list[str]]:
        dated = [(p.day, p.source.reference) for i in items for p in i.points if p.day]
        if not dated:
            return None, []
        day = (max if latest else min)(d for d, _ in dated)
        return day, list(dict.fromkeys(r for d, r in dated if d == day))

    def _date_answer(self, day: str | None, refs: list[str], what: str) -> AnswerRecord:
        if day is None:
            return AnswerRecord(text=_NIR_TEXT.format(what=what), not_in_record=True)
        return AnswerRecord(text=f"{day}. {_cite(refs)}", value=day, citations=refs)

    def _condition_onset(
        self, q: Question, record: list[Resource], ev: EvidenceSet
    ) -> AnswerRecord:
        items = self._with_code(ev.section("conditions"), str(q.params["code"]))
        day, refs = self._dated(items, latest=False)
        return self._date_answer(day, refs, f"condition {q.params.get('name')}")

    def _procedure_last(self, q: Question, record: list[Resource], ev: EvidenceSet) -> AnswerRecord:
        items = self._with_code(ev.section("procedures"), str(q.params["code"]))
        day, refs = self._dated(items, latest=True)
        return self._date_answer(day, refs, f"procedure {q.params.get('name')}")

    def _procedure_ever(self, q: Question, record: list[Resource], ev: EvidenceSet) -> AnswerRecord:
        items = self._with_code(ev.section("procedures"), str(q.params["code"]))
        refs = list(dict.fromkeys(r for i in items for r in i.references))
        if not refs:
            return AnswerRecord(
                text=f"No: the record has no {q.params.get('name')} procedure.", value=False
            )
        return AnswerRecord(text=f"Yes. {_cite(refs[:5])}", value=True, citations=refs)

    def _immunization_last(
        self, q: Question, record: list[Resource], ev: EvidenceSet
    ) -> AnswerRecord:
        items = self._with_code(ev.section("immunizations"), str(q.params["code"]))
        day, refs = self._dated(items, latest=True)
        return self._date_answer(day, refs, f"{q.params.get('name')} immunization")

    def _last_encounter(self, q: Question, record: list[Resource], ev: EvidenceSet) -> AnswerRecord:
        day, refs = self._dated(ev.section("encounters"), latest=True)
        return self._date_answer(day, refs, "encounters")

    def _encounter_count(
        self, q: Question, record: list[Resource], ev: EvidenceSet
    ) -> AnswerRecord:
        start, end = str(q.params["start"]), str(q.params["end"])
        refs = list(
            dict.fromkeys(
                p.source.reference
                for i in ev.section("encounters")
                for p in i.points
                if p.day and start <= p.day <= end
            )
        )
        return AnswerRecord(text=f"{len(refs)} encounters. {_cite(refs)}", value=len(refs),
                            citations=refs)  # fmt: skip

    # ------------------------------------------------------------------ labs

    def _points(self, q: Question, record: list[Resource], ev: EvidenceSet) -> list[TrendPoint]:
        code = str(q.params["code"])
        if q.params.get("system", LOINC) != LOINC:
            return self._local_points(code, ev)
        trends = trend(record, code, as_of=self.ref_date)
        return self._as_recorded([p for t in trends for p in t.points])

    @staticmethod
    def _as_recorded(points: list[TrendPoint]) -> list[TrendPoint]:
        """The values in the unit the record uses for them, when it uses one that is not
        the trend's own (up to UCUM equivalence: ``mL/min`` is ``mL/min/{1.73_m2}``)."""
        units = {p.original_unit for p in points}
        if len(units) != 1 or all(conversion(p.original_unit, p.unit) == 1.0 for p in points):
            return points
        return [
            dataclasses.replace(p, value=p.original_value, unit=p.original_unit) for p in points
        ]

    @staticmethod
    def _local_points(code: str, ev: EvidenceSet) -> list[TrendPoint]:
        """A lab's values from the evidence's lab items with this (local) code, by date."""
        out = []
        for item in ev.section("labs"):
            if not any(c.code == code for c in item.codings):
                continue
            for p in item.points:
                if p.value is None or not p.day:
                    continue
                unit = p.value.code or p.value.unit or ""
                out.append(
                    TrendPoint(
                        p.day,
                        p.value.value,
                        unit,
                        p.source.reference,
                        p.source.path,
                        p.value.value,
                        unit,
                        code,
                    )
                )
        return sorted(out, key=lambda p: (p.date or "", p.ref))

    def _window(self, q: Question, record: list[Resource], ev: EvidenceSet) -> list[TrendPoint]:
        start, end = str(q.params["start"]), str(q.params["end"])
        return [p for p in self._points(q, record, ev) if p.date and start <= p.date <= end]

    def _lab_latest(self, q: Question, record: list[Resource], ev: EvidenceSet) -> AnswerRecord:
        pts = self._points(q, record, ev)
        if not pts:
            return AnswerRecord(
                text=_NIR_TEXT.format(what=f"{q.params.get('name')} results"), not_in_record=True
            )
        last = pts[-1]
        refs = [p.ref for p in pts if p.date == last.date]
        return AnswerRecord(
            text=f"{last.value:g} {last.unit} on {last.date}. {_cite(refs)}",
            value=last.value,
            unit=last.unit,
            date=last.date,
            citations=refs,
        )

    def _first_last(
        self, q: Question, record: list[Resource], ev: EvidenceSet
    ) -> tuple[TrendPoint, TrendPoint, list[str]] | None:
        pts = self._window(q, record, ev)
        if len(pts) < 2:
            return None
        return pts[0], pts[-1], [pts[0].ref, pts[-1].ref]

    def _lab_change(self, q: Question, record: list[Resource], ev: EvidenceSet) -> AnswerRecord:
        fl = self._first_last(q, record, ev)
        if fl is None:
            return AnswerRecord(
                text=_NIR_TEXT.format(what="two values in that period"), not_in_record=True
            )
        first, last, refs = fl
        delta = last.value - first.value
        return AnswerRecord(
            text=(
                f"Change {delta:+g} {last.unit} (from {first.value:g} on {first.date} "
                f"to {last.value:g} on {last.date}). {_cite(refs)}"
            ),
            value=delta,
            unit=last.unit,
            citations=refs,
        )

    def _lab_direction(self, q: Question, record: list[Resource], ev: EvidenceSet) -> AnswerRecord:
        fl = self._first_last(q, record, ev)
        if fl is None:
            return AnswerRecord(
                text=_NIR_TEXT.format(what="two values in that period"), not_in_record=True
            )
        first, last, refs = fl
        word = (
            "increased"
            if last.value > first.value
            else ("decreased" if last.value < first.value else "unchanged")
        )
        return AnswerRecord(
            text=f"It {word}: {first.value:g} on {first.date} → {last.value:g} on {last.date}. "
            f"{_cite(refs)}",
            value=word,
            citations=refs,
        )

    def _lab_average(self, q: Question, record: list[Resource], ev: EvidenceSet) -> AnswerRecord:
        pts = self._window(q, record, ev)
        if not pts:
            return AnswerRecord(
                text=_NIR_TEXT.format(what="values in that period"), not_in_record=True
            )
        mean = statistics.fmean(p.value for p in pts)
        refs = list(dict.fromkeys(p.ref for p in pts))
        return AnswerRecord(
            text=f"Average {mean:.4g} {pts[0].unit} over {len(pts)} results. {_cite(refs)}",
            value=mean,
            unit=pts[0].unit,
            citations=refs,
        )

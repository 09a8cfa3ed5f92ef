"""False rejections of the verifier: correct answers, phrased many ways, must pass.

For every question of a question set (the generated EHRQA set and the independently
written clinqa set), the ground-truth answer is written as sentences in several
phrasings (templates a clinician or a model would use: ISO and long dates, rounded
values, lay wording, lists), citing the evidence handles of the ground truth's
resources — or, for "not in the record", the handle of the search the agent's own
prefetch ran and that found nothing. Each sentence goes through the verifier with the
session the agent would have (every evidence item of the record, plus the prefetched
tool results). A *false rejection* is a correct sentence the verifier drops; an
*unverified* one is shown, marked. Goal (issue 15): ≤ 2 % dropped.

::

    python bench/bench_verifier.py --data ../shared/synthea --questions 200 --seed 1 [--set ehrqa|clinqa|both]

Prints a table per category and every dropped sentence with the verifier's reason.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
import tempfile
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from agent.context import AgentContext, AgentSettings  # noqa: E402
from agent.models import ChatModel  # noqa: E402
from agent.prefetch import prefetch_calls  # noqa: E402
from agent.session import seen_entry, seen_of  # noqa: E402
from agent.toolkit import run_tool_call  # noqa: E402
from agent.verify import verify_sentences  # noqa: E402
from bench.ehrqa.generate import DEFAULT_REFERENCE_DATE, Question, bundle_files  # noqa: E402
from tools.errors import AssistantError  # noqa: E402
from tools.evidence import build_evidence  # noqa: E402
from tools.store import RecordStore  # noqa: E402

_MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]


def _long(day: str) -> str:
    d = dt.date.fromisoformat(day[:10])
    return f"{_MONTHS[d.month - 1]} {d.day}, {d.year}"


def _num(v: float) -> str:
    return f"{v:.4g}" if abs(v) < 1000 else f"{v:.0f}"


def _num2(v: float) -> str:
    return f"{round(v, 2):g}"


def _plain(name: str) -> str:
    for tag in (" (disorder)", " (finding)", " (procedure)", " (situation)", " (regime/therapy)"):
        name = name.removesuffix(tag)
    return name


Phrasings = list[str]


def phrasings(q: Question) -> Phrasings | None:
    """The ground truth of one question as sentences (``None``: not expressible here)."""
    a = q.answer
    v: Any = a.get("value")
    p = q.params
    name = _plain(str(p.get("name") or p.get("display") or "the result"))
    kind = q.kind if q.answer_type != "not_in_record" else "not_in_record"
    if kind == "gender":
        return [
            f"The patient is recorded as {v}.",
            f"Sex: {v}.",
            f"The record lists the patient as {v}.",
        ]
    if kind == "age":
        return [f"The patient is {v} years old.", f"Age: {v} years.", f"The patient is {v}."]
    if kind == "birth_date":
        return [f"The patient was born on {v}.", f"Date of birth: {_long(v)}.", f"Born {v}."]
    if kind in ("active_conditions", "current_medications", "allergies"):
        names = [_plain(n) for n in v or []]
        if not names:
            what = {"active_conditions": "active conditions", "current_medications": "active medications",
                    "allergies": "allergies"}[kind]  # fmt: skip
            return [
                f"No {what} are recorded.",
                f"The record lists no {what}.",
                f"There are no {what} on file.",
            ]
        joined = ", ".join(names)
        return [f"The record lists: {joined}.", f"Recorded: {joined}."]
    if kind == "condition_onset":
        return [
            f"{name} since {v}.",
            f"{name} was first recorded on {_long(v)}.",
            f"The onset of {name} was {v}.",
        ]
    if kind == "lab_latest":
        unit = a.get("unit") or ""
        return [
            f"The latest {name} was {_num(float(v))} {unit} on {a['date']}.",
            f"{name}: {_num(float(v))} {unit} ({_long(a['date'])}).",
            f"Most recent {name}: {_num2(float(v))} {unit}, measured {a['date']}.",
        ]
    if kind == "lab_change":
        unit = a.get("unit") or ""
        word = "rose" if float(v) > 0 else "fell" if float(v) < 0 else "did not change"
        if float(v) == 0:
            return [f"{name} did not change ({_num(0.0)} {unit})."]
        return [
            f"{name} {word} by {_num(abs(float(v)))} {unit}.",
            f"The change was {_num(float(v))} {unit}.",
        ]
    if kind == "lab_direction":
        return [f"{name} {v}.", f"Over the window {name} {v}."]
    if kind == "lab_average":
        unit = a.get("unit") or ""
        return [
            f"The average {name} was {_num(float(v))} {unit}.",
            f"Mean {name}: {_num2(float(v))} {unit}.",
        ]
    if kind == "last_encounter":
        return [f"The last encounter was on {v}.", f"Most recent visit: {_long(v)}."]
    if kind == "encounter_count":
        return [
            f"There were {v} encounters in that period.",
            f"{v} visits were recorded in that period.",
        ]
    if kind == "procedure_ever":
        if v:
            return [f"Yes, {name} is recorded.", f"{name} was performed."]
        return [f"No {name} is recorded.", f"The record has no {name}."]
    if kind in ("procedure_last", "immunization_last"):
        return [
            f"The last {name} was on {v}.",
            f"Most recent {name}: {_long(v)}.",
            f"{name} was last done on {v}.",
        ]
    if kind == "not_in_record":
        return [
            f"No {name} is recorded.",
            f"There is no {name} in the record.",
            f"The record has no {name}.",
        ]
    return None


class _NoModel:
    """The prefetch runs code only; a model is never called here."""

    name = "none"

    async def generate(self, *a: Any, **k: Any) -> Any:
        raise AssertionError("no model in this benchmark")

    async def aclose(self) -> None:
        return None


async def run(questions: Sequence[Question], store: RecordStore, as_of: dt.date) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    by_patient: dict[str, list[Question]] = defaultdict(list)
    for q in questions:
        by_patient[q.patient_id].append(q)
    for pid, qs in by_patient.items():
        record = await store.everything(pid)
        ev = build_evidence(record, as_of=as_of)
        by_ref = ev.by_reference()
        for q in qs:
            texts = phrasings(q)
            if texts is None:
                continue
            model: ChatModel = _NoModel()  # type: ignore[assignment]
            ctx = AgentContext(
                patient_id=pid, source=store, model=model, settings=AgentSettings(), as_of=as_of
            )
            ctx.cache.record, ctx.cache.evidence = record, ev
            state = {i.handle: seen_entry(i) for i in ev.items}
            absences: list[str] = []
            for call in prefetch_calls(q.text, ev, as_of=as_of):
                try:
                    result = await run_tool_call(ctx, call)
                except AssistantError:
                    continue
                for h, entry in result.seen.items():
                    state[h] = (
                        entry
                        if h not in state
                        else {**state[h], **{k: v for k, v in entry.items() if k != "item"}}
                    )
                    if entry["item"].get("kind") == "absence":
                        absences.append(h)
            seen = seen_of(state)
            negative = (
                q.answer_type == "not_in_record"
                or (q.kind == "procedure_ever" and not q.answer.get("value"))
                or (q.answer_type == "set" and not q.answer.get("value"))
            )
            if negative:
                section_absences = [
                    i.handle for i in ev.items if i.kind == "absence"
                    and {"allergies": "AllergyIntolerance", "current_medications": "MedicationRequest",
                         "active_conditions": "Condition"}.get(q.kind, "-") in (i.scope.resource_types if i.scope else ())
                ]  # fmt: skip
                cites = absences or section_absences
                if not cites and q.kind == "active_conditions":
                    cites = [i.handle for i in ev.section("conditions")]
                if not cites and q.kind == "current_medications":
                    cites = [i.handle for i in ev.section("medications")]
            else:
                cites = list(dict.fromkeys(by_ref[r] for r in q.evidence if r in by_ref))
            if not cites:
                rows.append(
                    {"q": q, "text": texts[0], "verdict": "no citation possible", "reasons": []}
                )
                continue
            checks = verify_sentences(
                [{"text": t, "cites": cites} for t in texts], seen, question=q.text, as_of=as_of
            ).checks
            for c in checks:
                rows.append(
                    {
                        "q": q,
                        "text": c.text,
                        "verdict": c.verdict,
                        "reasons": c.reasons,
                        "unchecked": c.unchecked,
                    }
                )
    return {"rows": rows}


def report(name: str, rows: list[dict[str, Any]]) -> None:
    by_cat: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_cat[r["q"].category].append(r)
    print(f"\n## {name}: {len(rows)} correct sentences\n")
    print(
        "| category | sentences | verified | unverified | dropped (false rejection) | no citation possible |"
    )
    print("|---|---|---|---|---|---|")

    def line(label: str, rs: list[dict[str, Any]]) -> str:
        n = len(rs)
        cnt: Callable[[str], int] = lambda v: sum(r["verdict"] == v for r in rs)  # noqa: E731
        return (f"| {label} | {n} | {cnt('verified') / n:.1%} | {cnt('unverified') / n:.1%} | "
                f"{cnt('failed') / n:.1%} | {cnt('no citation possible')} |")  # fmt: skip

    for cat in sorted(by_cat):
        print(line(cat, by_cat[cat]))
    print(line("**all**", rows))
    dropped = [r for r in rows if r["verdict"] in ("failed", "no citation possible")]
    if dropped:
        print(f"\nDropped or not citable ({len(dropped)}):")
        for r in dropped[:60]:
            print(f"- [{r['q'].category}] {r['text']!r}: {'; '.join(r['reasons']) or r['verdict']}")
    unver = [r for r in rows if r["verdict"] == "unverified"]
    if unver:
        print(f"\nUnverified ({len(unver)}), unchecked terms:")
        for r in unver[:30]:
            print(f"- {r['text']!r}: {r.get('unchecked')}")


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "synthea"))
    ap.add_argument("--questions", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--set", choices=["ehrqa", "clinqa", "both"], default="both")
    args = ap.parse_args(argv)
    if not Path(args.data).exists():
        print(f"{args.data} not found: nothing to measure", file=sys.stderr)
        return 0
    as_of = dt.date.fromisoformat(DEFAULT_REFERENCE_DATE)
    sets: list[tuple[str, list[Question]]] = []
    if args.set in ("ehrqa", "both"):
        from bench.ehrqa.generate import generate

        sets.append(("EHRQA (generated)", generate(args.data, args.questions, seed=args.seed)))
    if args.set in ("clinqa", "both"):
        from bench.clinqa.generate import generate as clinqa

        flat = [
            q
            for q in clinqa(args.data, args.questions, seed=args.seed)
            if not q.parts and q.turn <= 1
        ]
        sets.append(("clinqa (independent, single-part first turns)", flat))
    with tempfile.TemporaryDirectory(prefix="bench-verifier-") as tmp:
        store = RecordStore(Path(tmp) / "records.db")
        store.import_paths(bundle_files(args.data))
        for name, qs in sets:
            out = asyncio.run(run(qs, store, as_of))
            report(name, out["rows"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

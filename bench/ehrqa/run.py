"""Runner: generate questions, answer them, score them, write the reports.

::

    python -m bench.ehrqa.run --data fhir_fixtures/patients --questions 60 --seed 1 \\
        --out reports/ehrqa-fixtures.json [--answerer baseline]

Steps: the bundles under ``--data`` are imported into a temporary SQLite record store;
``--questions`` questions are generated from the raw bundles (seeded); each is answered
(questions grouped by patient) and scored; results are appended to
``REPORT.results.jsonl`` as they come, so an interrupted run resumes where it stopped
(done question ids are skipped; a results file written for another configuration is
refused unless ``--fresh``). Then ``REPORT.json`` (config, overall, per category, per
answer type, every result), ``REPORT.md`` (a Markdown table per category) and
``REPORT.png`` (scores per category; matplotlib Agg) are written. A missing ``--data``
directory is skipped cleanly (exit 0, a message).
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench._results import load_done, open_results
from bench.ehrqa.answer import Answerer, AnswerRecord
from bench.ehrqa.generate import DEFAULT_REFERENCE_DATE, Question, bundle_files, dump, generate
from bench.ehrqa.score import aggregate, score

__all__ = [
    "AnswererFactory",
    "QuestionGenerator",
    "RunConfig",
    "main",
    "markdown_table",
    "run_eval",
]

AnswererFactory = Callable[[Any], Answerer]  # gets the RecordSource
#: makes the questions: ``(data, n, seed=, ref_date=) -> list[Question]`` (default: EHRQA's)
QuestionGenerator = Callable[..., list[Question]]


class RunConfig:
    """What a run is (its identity decides whether a results file can be resumed)."""

    def __init__(
        self,
        data: str | Path,
        questions: int,
        *,
        seed: int = 1,
        out: str | Path | None = None,
        answerer: str = "baseline",
        ref_date: str = DEFAULT_REFERENCE_DATE,
        fresh: bool = False,
        progress: bool = True,
        plot: bool = True,
        bench: str = "ehrqa",
        generator: QuestionGenerator | None = None,
        categories: Sequence[str] | None = None,
    ) -> None:
        self.data = Path(data)
        self.questions = questions
        self.seed = seed
        self.out = Path(out) if out else Path("reports") / f"{bench}-{answerer}-seed{seed}.json"
        self.answerer = answerer
        self.ref_date = ref_date
        self.fresh = fresh
        self.progress = progress
        self.plot = plot
        self.bench = bench  # the question set's name (another set: its generator)
        self.generator = generator or generate
        self.categories = categories

    def identity(self) -> dict[str, Any]:
        ident = {
            "data": str(self.data.resolve()),
            "questions": self.questions,
            "seed": self.seed,
            "answerer": self.answerer,
            "ref_date": self.ref_date,
        }
        if self.bench != "ehrqa":
            ident["bench"] = self.bench
        return ident


def _is_bundle(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            head = fh.read(4096)
    except OSError:
        return False
    return b'"Bundle"' in head or b'"resourceType": "Bundle"' in head


def _baseline_factory(ref_date: str) -> AnswererFactory:
    from bench.ehrqa.baseline import BaselineAnswerer

    return lambda source: BaselineAnswerer(source, ref_date=ref_date)


async def _answer_all(
    questions: Sequence[Question],
    answerer: Answerer,
    done: dict[str, dict[str, Any]],
    results_path: Path,
    identity: dict[str, Any],
    show_progress: bool,
    label: str = "ehrqa",
) -> None:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    todo = [q for q in questions if q.id not in done]
    todo.sort(key=lambda q: q.patient_id)  # one record load per patient
    with (
        open_results(results_path, identity) as fh,
        Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            disable=not show_progress,
        ) as bar,
    ):
        task = bar.add_task(f"{label} {answerer.name}", total=len(questions), completed=len(done))
        for q in todo:
            started = time.perf_counter()
            try:
                ans = await answerer.answer(q, q.patient_id)
            except Exception as exc:  # one failing answer must not stop the run
                ans = AnswerRecord(text="", error=f"{type(exc).__name__}: {exc}")
            if not ans.latency_s:
                ans.latency_s = time.perf_counter() - started
            row = score(q, ans)
            row["answer"] = ans.as_dict()
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            fh.flush()
            done[q.id] = row
            bar.advance(task)
    close = getattr(answerer, "aclose", None)
    if close is not None:
        await close()


def _pct(v: float | None) -> str:
    return "–" if v is None else f"{100 * v:.1f}"


def _num(v: float | None, fmt: str = "{:.2f}") -> str:
    return "–" if v is None else fmt.format(v)


def markdown_table(report: dict[str, Any]) -> str:
    """The per-category table (accuracy %, citation P/R, usage) and the overall row."""
    head = (
        "| category | n | accuracy % | exact % | text-only % | cit. precision | cit. recall | "
        "unsupported sent. % | model calls | tokens | latency s |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|\n"
    )

    def row(name: str, s: dict[str, Any]) -> str:
        return (
            f"| {name} | {s['n']} | {_pct(s['accuracy'])} | {_pct(s['exact'])} | "
            f"{_pct(s['text_accuracy'])} | "
            f"{_num(s['citation_precision'])} | {_num(s['citation_recall'])} | "
            f"{_pct(s['unsupported_sentence_share'])} | {_num(s['model_calls_mean'], '{:.1f}')} | "
            f"{_num(s['tokens_mean'], '{:.0f}')} | {_num(s['latency_mean_s'], '{:.3f}')} |\n"
        )

    body = "".join(row(c, s) for c, s in report["per_category"].items())
    overall = report["overall"]
    body += row("**overall**", overall)
    cfg = report["config"]
    title = (
        f"### {cfg.get('bench', 'ehrqa').upper()}: {cfg['answerer']} on {cfg['data_label']} "
        f"({overall['n']} questions, seed {cfg['seed']})\n\n"
    )
    tail = (
        f"\nMacro accuracy (mean of categories): {_pct(overall['accuracy_macro'])} %; "
        f"weakest category: {overall['min_category'] or 'none (all equal)'}.\n\nCommand: `{cfg['command']}`\n"
    )
    return title + head + body + tail


def _plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cats = list(report["per_category"])
    acc = [100 * (report["per_category"][c]["accuracy"] or 0) for c in cats]
    prec = [100 * (report["per_category"][c]["citation_precision"] or 0) for c in cats]
    rec = [100 * (report["per_category"][c]["citation_recall"] or 0) for c in cats]
    fig, ax = plt.subplots(figsize=(10, 5))
    xs = range(len(cats))
    w = 0.27
    ax.bar([x - w for x in xs], acc, w, label="accuracy")
    ax.bar(list(xs), prec, w, label="citation precision")
    ax.bar([x + w for x in xs], rec, w, label="citation recall")
    ax.set_xticks(list(xs), cats, rotation=35, ha="right")
    ax.set_ylim(0, 105)
    ax.set_ylabel("%")
    ax.axhline(90, color="grey", lw=0.8, ls="--")
    cfg = report["config"]
    ax.set_title(
        f"{cfg.get('bench', 'ehrqa').upper()} {cfg['answerer']} — {cfg['data_label']} "
        f"(n={report['overall']['n']})"
    )
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.32), ncol=3, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run_eval(
    cfg: RunConfig,
    factory: AnswererFactory | None = None,
    *,
    command: str | None = None,
) -> dict[str, Any] | None:
    """Run the benchmark; the report dict (``None`` when ``cfg.data`` is absent)."""
    from tools.store import RecordStore

    if not cfg.data.exists():
        print(f"{cfg.bench}: {cfg.data} not found; skipped.", file=sys.stderr)
        return None
    factory = factory or _baseline_factory(cfg.ref_date)
    questions = cfg.generator(cfg.data, cfg.questions, seed=cfg.seed, ref_date=cfg.ref_date)
    if not questions:
        print(f"{cfg.bench}: no patient bundles under {cfg.data}; skipped.", file=sys.stderr)
        return None
    cfg.out.parent.mkdir(parents=True, exist_ok=True)
    stem = cfg.out.with_suffix("")
    results_path = Path(f"{stem}.results.jsonl")
    dump(questions, f"{stem}.questions.json")
    identity = cfg.identity()
    done = load_done(results_path, identity, cfg.fresh, key="question_id")
    by_id = {q.id: q for q in questions}
    done = {  # stored answers are scored again: a report always uses the current scorer
        qid: {**score(by_id[qid], AnswerRecord.from_dict(row["answer"])), "answer": row["answer"]}
        if qid in by_id and "answer" in row
        else row
        for qid, row in done.items()
    }
    with tempfile.TemporaryDirectory(prefix="ehrqa-") as tmp:
        store = RecordStore(Path(tmp) / "records.db")
        try:
            files = [p for p in bundle_files(cfg.data) if _is_bundle(p)]
            report_import = store.import_paths(files)
            if not report_import.ok:
                bad = [f"{f.path}: {f.error}" for f in report_import.files if f.error]
                print(f"{cfg.bench}: import problems:\n  " + "\n  ".join(bad[:5]), file=sys.stderr)
            answerer = factory(store)
            asyncio.run(
                _answer_all(
                    questions, answerer, done, results_path, identity, cfg.progress,
                    cfg.bench,
                )
            )  # fmt: skip
        finally:
            store.close()
    rows = [done[q.id] for q in questions if q.id in done]
    summary = aggregate(rows, categories=cfg.categories)
    data_label = cfg.data.name if cfg.data.name not in ("patients", "") else str(cfg.data)
    report = {
        "config": {
            **identity,
            "bench": cfg.bench,
            "data_label": data_label,
            "patients": len({q.patient_id for q in questions}),
            "generated": len(questions),
            "command": command
            or (
                f"python -m bench.ehrqa.run --data {cfg.data} --questions {cfg.questions} "
                f"--seed {cfg.seed} --answerer {cfg.answerer} --out {cfg.out}"
            ),
        },
        **summary,
        "results": rows,
    }
    cfg.out.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    Path(f"{stem}.md").write_text(markdown_table(report), encoding="utf-8")
    if cfg.plot:
        try:
            _plot(report, Path(f"{stem}.png"))
        except ImportError:
            print(f"{cfg.bench}: matplotlib not installed; no plot.", file=sys.stderr)
    return report


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description="EHR question-answering benchmark runner.")
    ap.add_argument("--data", required=True, help="dir of FHIR Bundles (fixtures or synthea)")
    ap.add_argument("--questions", type=int, default=50)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", help="report path (REPORT.json); default reports/…")
    ap.add_argument("--answerer", default="baseline", choices=["baseline"])
    ap.add_argument("--ref-date", default=DEFAULT_REFERENCE_DATE)
    ap.add_argument("--fresh", action="store_true", help="discard earlier results")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    cfg = RunConfig(
        args.data,
        args.questions,
        seed=args.seed,
        out=args.out,
        answerer=args.answerer,
        ref_date=args.ref_date,
        fresh=args.fresh,
        progress=not args.no_progress,
    )
    command = "python -m bench.ehrqa.run " + " ".join(argv if argv is not None else sys.argv[1:])
    report = run_eval(cfg, command=command)
    if report is not None:
        print(markdown_table(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

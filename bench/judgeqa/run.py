"""Runner glue: the judgeqa questions through :func:`bench.ehrqa.run.run_eval`.

The same machinery as EHRQA and clinqa (resumable ``REPORT.results.jsonl``,
``REPORT.json``, ``REPORT.md``, ``REPORT.png``, ``REPORT.questions.json``), with the
judgeqa generator, its category order and the oracle (:mod:`bench.judgeqa.baseline`) as
the default answerer::

    python -m bench.judgeqa.run --data ../shared/synthea --questions 80 --seed 1 \\
        --out /tmp/jq/base.json
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.ehrqa.generate import DEFAULT_REFERENCE_DATE
from bench.ehrqa.run import AnswererFactory, RunConfig, markdown_table, run_eval
from bench.judgeqa.generate import CATEGORIES, generate

__all__ = ["baseline_factory", "judgeqa_config", "main", "run_judgeqa"]


def baseline_factory(ref_date: str = DEFAULT_REFERENCE_DATE) -> AnswererFactory:
    """The oracle (the truth in words) on a run's record store."""
    from bench.judgeqa.baseline import OracleAnswerer

    return lambda source: OracleAnswerer(source)


def judgeqa_config(
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
) -> RunConfig:
    """A :class:`RunConfig` for the judgeqa set (its generator and category order)."""
    return RunConfig(
        data,
        questions,
        seed=seed,
        out=out,
        answerer=answerer,
        ref_date=ref_date,
        fresh=fresh,
        progress=progress,
        plot=plot,
        bench="judgeqa",
        generator=generate,
        categories=CATEGORIES,
    )


def run_judgeqa(
    cfg: RunConfig, factory: AnswererFactory | None = None, *, command: str | None = None
) -> dict[str, Any] | None:
    """Run the set (default answerer: the oracle); the report, or ``None`` when the data
    directory is absent."""
    return run_eval(cfg, factory or baseline_factory(cfg.ref_date), command=command)


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description="judgeqa: judgements, relations and prose.")
    ap.add_argument("--data", required=True, help="dir of FHIR Bundles (fixtures or synthea)")
    ap.add_argument("--questions", type=int, default=80)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", help="report path (REPORT.json); default reports/…")
    ap.add_argument("--ref-date", default=DEFAULT_REFERENCE_DATE)
    ap.add_argument("--fresh", action="store_true", help="discard earlier results")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    cfg = judgeqa_config(
        args.data,
        args.questions,
        seed=args.seed,
        out=args.out,
        ref_date=args.ref_date,
        fresh=args.fresh,
        progress=not args.no_progress,
    )
    command = "python -m bench.judgeqa.run " + " ".join(argv if argv is not None else sys.argv[1:])
    report = run_judgeqa(cfg, command=command)
    if report is not None:
        print(markdown_table(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

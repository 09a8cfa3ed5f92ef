"""Runner glue: the clinqa questions through :func:`bench.ehrqa.run.run_eval`.

The same machinery as EHRQA (resumable ``REPORT.results.jsonl``, ``REPORT.json``,
``REPORT.md``, ``REPORT.png``, ``REPORT.questions.json``), with the clinqa generator,
its category order, and the oracle baseline (:class:`bench.clinqa.baseline.OracleBaseline`)
as the default answerer::

    python -m bench.clinqa.run --data ../shared/synthea --questions 200 --seed 1 \\
        --out bench/clinqa/results/baseline-synthea.json
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.clinqa.generate import CATEGORIES, generate
from bench.ehrqa.generate import DEFAULT_REFERENCE_DATE
from bench.ehrqa.run import AnswererFactory, RunConfig, markdown_table, run_eval

__all__ = ["baseline_factory", "clinqa_config", "main", "run_clinqa"]


def baseline_factory(ref_date: str = DEFAULT_REFERENCE_DATE) -> AnswererFactory:
    """The oracle baseline on a run's record store."""
    from bench.clinqa.baseline import OracleBaseline

    return lambda source: OracleBaseline(source, ref_date=ref_date)


def clinqa_config(
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
    """A :class:`RunConfig` for the clinqa set (its generator and category order)."""
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
        bench="clinqa",
        generator=generate,
        categories=CATEGORIES,
    )


def run_clinqa(
    cfg: RunConfig, factory: AnswererFactory | None = None, *, command: str | None = None
) -> dict[str, Any] | None:
    """Run the set (default answerer: the oracle baseline); the report, or ``None`` when
    the data directory is absent."""
    return run_eval(cfg, factory or baseline_factory(cfg.ref_date), command=command)


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description="clinqa: questions in people's own words.")
    ap.add_argument("--data", required=True, help="dir of FHIR Bundles (fixtures or synthea)")
    ap.add_argument("--questions", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", help="report path (REPORT.json); default reports/…")
    ap.add_argument("--ref-date", default=DEFAULT_REFERENCE_DATE)
    ap.add_argument("--fresh", action="store_true", help="discard earlier results")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    cfg = clinqa_config(
        args.data,
        args.questions,
        seed=args.seed,
        out=args.out,
        ref_date=args.ref_date,
        fresh=args.fresh,
        progress=not args.no_progress,
    )
    command = "python -m bench.clinqa.run " + " ".join(argv if argv is not None else sys.argv[1:])
    report = run_clinqa(cfg, command=command)
    if report is not None:
        print(markdown_table(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""``fhir-bench judgeqa``: the independently written question set as a CLI command.

``--config baseline`` runs the oracle (:class:`bench.judgeqa.baseline.OracleAnswerer`,
the truth in words: it proves the scorer); ``record-only`` the agent with a silent fake
model; a ``configs/*.toml`` deployment config runs the agent with that config's model,
exactly as ``fhir-bench eval`` does. This module imports nothing from ``tools/`` or
``agent/`` (the agent is loaded by :mod:`bench.ehrqa` when asked for); the assistant's
errors are recognized by class name.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from bench.ehrqa.cli import AgentUnavailable, agent_factory
from bench.ehrqa.generate import DEFAULT_REFERENCE_DATE
from bench.ehrqa.run import AnswererFactory, markdown_table
from bench.judgeqa.run import judgeqa_config, run_judgeqa

__all__ = ["judgeqa_command", "register"]


def judgeqa_command(
    config: Annotated[
        str,
        typer.Option(
            "--config",
            help="`baseline`; `record-only` (the agent with a silent fake model: what code "
            "alone answers); or a deployment config configs/*.toml",
        ),
    ],
    data: Annotated[
        Path, typer.Option("--data", help="Directory of FHIR R4 Bundles (fixtures, synthea)")
    ],
    questions: Annotated[int, typer.Option("--questions", help="Number of questions")] = 80,
    seed: Annotated[int, typer.Option("--seed", help="Question-draw seed")] = 1,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Report path REPORT.json (+ .md, .png, .results.jsonl)"),
    ] = None,
    ref_date: Annotated[
        str, typer.Option("--ref-date", help="Reference date ('today' for relative dates)")
    ] = DEFAULT_REFERENCE_DATE,
    fresh: Annotated[bool, typer.Option("--fresh", help="Discard earlier results")] = False,
) -> None:
    """Run the judgeqa question set (judgements, relations, prose) and write reports."""
    factory: AnswererFactory | None = None
    name = "baseline"
    if config == "record-only":
        from bench.ehrqa.agent_answerer import record_only

        name = "record-only"
        factory = lambda source: record_only(source, ref_date)  # noqa: E731
    elif config != "baseline":
        try:
            factory = agent_factory(Path(config), ref_date)
        except AgentUnavailable as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        name = Path(config).stem
    cfg = judgeqa_config(
        data,
        questions,
        seed=seed,
        out=out,
        answerer=name,
        ref_date=ref_date,
        fresh=fresh,
        progress=sys.stderr.isatty(),
    )
    command = (
        f"fhir-bench judgeqa --config {config} --data {data} --questions {questions} "
        f"--seed {seed}" + (f" --out {out}" if out else "")
    )
    try:
        report: dict[str, Any] | None = run_judgeqa(cfg, factory, command=command)
    except Exception as exc:  # the assistant's errors: the model file is missing …
        if not _assistant_error(exc):
            raise
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    if report is None:
        return
    typer.echo(markdown_table(report))
    typer.echo(f"report: {cfg.out}", err=True)


def _assistant_error(exc: BaseException) -> bool:
    return any(c.__name__ == "AssistantError" for c in type(exc).__mro__)


def register(app: typer.Typer) -> None:
    """Add the ``judgeqa`` command to the ``fhir-bench`` Typer app."""
    app.command("judgeqa", help="Run the judgeqa question set (judgements, relations, prose).")(
        judgeqa_command
    )

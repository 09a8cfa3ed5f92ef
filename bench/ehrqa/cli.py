"""``fhir-bench eval``: the EHRQA benchmark as a CLI command.

``bench/cli.py`` (``fhir-bench``) calls :func:`register` on its Typer app::

    from bench.ehrqa.cli import register
    register(app)

``--config baseline`` runs the no-model baseline (:mod:`bench.ehrqa.baseline`); a
``configs/*.toml`` deployment config runs the agent (``agent.run.ask``) with that
config's model (:mod:`bench.ehrqa.agent_answerer`).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from bench.ehrqa.generate import DEFAULT_REFERENCE_DATE
from bench.ehrqa.run import AnswererFactory, RunConfig, markdown_table, run_eval
from tools.errors import AssistantError

__all__ = ["AgentUnavailable", "agent_factory", "eval_command", "register"]


class AgentUnavailable(RuntimeError):
    """The agent answerer cannot run: the deployment config is missing or invalid."""


def agent_factory(config_path: Path, ref_date: str = DEFAULT_REFERENCE_DATE) -> AnswererFactory:
    """The answerer factory for a deployment config (``configs/*.toml``): the agent
    (:class:`bench.ehrqa.agent_answerer.AgentAnswerer`) with the config's model, answering
    from the question text alone. The config is validated here (before any import)."""
    if not config_path.is_file():
        raise AgentUnavailable(f"config {config_path} not found (or use --config baseline)")
    from agent.config import load_deployment
    from bench.ehrqa.agent_answerer import from_config

    try:
        cfg = load_deployment(config_path)
    except AssistantError as exc:
        raise AgentUnavailable(str(exc)) from None
    return lambda source: from_config(cfg, config_path.stem, source, ref_date)


def eval_command(
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
    questions: Annotated[int, typer.Option("--questions", help="Number of questions")] = 50,
    seed: Annotated[int, typer.Option("--seed", help="Generator seed")] = 1,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Report path REPORT.json (+ .md, .png, .results.jsonl)"),
    ] = None,
    ref_date: Annotated[
        str, typer.Option("--ref-date", help="Reference date for age questions")
    ] = DEFAULT_REFERENCE_DATE,
    fresh: Annotated[bool, typer.Option("--fresh", help="Discard earlier results")] = False,
) -> None:
    """Run the EHR question-answering benchmark and write its reports."""
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
    cfg = RunConfig(
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
        f"fhir-bench eval --config {config} --data {data} --questions {questions} "
        f"--seed {seed}" + (f" --out {out}" if out else "")
    )
    try:
        report: dict[str, Any] | None = run_eval(cfg, factory, command=command)
    except AssistantError as exc:  # e.g. the model file is missing or the runtime fails
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    if report is None:
        return
    typer.echo(markdown_table(report))
    typer.echo(f"report: {cfg.out}", err=True)


def register(app: typer.Typer) -> None:
    """Add the ``eval`` command to the ``fhir-bench`` Typer app."""
    app.command("eval", help="Run the EHR question-answering benchmark (EHRQA).")(eval_command)

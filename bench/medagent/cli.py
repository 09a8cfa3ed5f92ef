"""``fhir-bench medagent``: the MedAgentBench-style tasks as a CLI command.

The lead's CLI calls :func:`register` on its Typer app::

    from bench.medagent.cli import register as register_medagent
    register_medagent(app)

``--config baseline`` (the default) runs the no-model baseline
(:mod:`bench.medagent.baseline`); a deployment config (``configs/*.toml``) runs the agent
with that config's model (:mod:`bench.medagent.agent_answerer`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bench.medagent.generate import KINDS, parse_kinds
from bench.medagent.grade import markdown
from bench.medagent.run import MedAgentConfig, MedAgentFactory, run_medagent
from tools.errors import AssistantError, ConfigError

__all__ = ["AgentUnavailable", "agent_factory", "medagent_command", "register"]


class AgentUnavailable(RuntimeError):
    """The agent answerer cannot run: the deployment config is missing or invalid."""


def agent_factory(config_path: Path) -> MedAgentFactory:
    """The answerer factory for a deployment config (``configs/*.toml``): the agent
    (:class:`bench.medagent.agent_answerer.AgentTaskAnswerer`) with that config's model,
    reading only the task text; writes are allowed because the runner's source is a fresh
    store or an empty test server."""
    if not config_path.is_file():
        raise AgentUnavailable(f"config {config_path} not found (or use --config baseline)")
    from agent.config import load_deployment
    from bench.medagent.agent_answerer import from_config

    try:
        cfg = load_deployment(config_path)
    except AssistantError as exc:
        raise AgentUnavailable(str(exc)) from None
    return lambda source: from_config(cfg, config_path.stem, source)


def medagent_command(
    data: Annotated[
        Path, typer.Option("--data", help="Directory of FHIR R4 Bundles (fixtures, synthea)")
    ],
    tasks: Annotated[int, typer.Option("--tasks", help="Number of tasks")] = 30,
    seed: Annotated[int, typer.Option("--seed", help="Generator seed")] = 1,
    kinds: Annotated[
        str,
        typer.Option(
            "--kinds",
            help="Task kinds: v1 (default: find_patient, lab_window, conditional_order), "
            "v2 (record_vital, medication_order, referral, window_value), all, or a comma list",
        ),
    ] = "v1",
    server: Annotated[
        str | None,
        typer.Option(
            "--server",
            help="An EMPTY TEST FHIR server to load the bundles into and write orders to "
            "(default: a fresh embedded store)",
        ),
    ] = None,
    config: Annotated[
        str, typer.Option("--config", help="`baseline`, or a deployment config configs/*.toml")
    ] = "baseline",
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Report path REPORT.json (+ .md, .tasks.json, .results.jsonl)"),
    ] = None,
    fresh: Annotated[
        bool, typer.Option("--fresh", help="Discard earlier results (default: resume)")
    ] = False,
) -> None:
    """Run the MedAgentBench-style tasks (find patient, lab in a window, conditional
    order graded on the server's state; with --kinds v2/all also record a vital sign,
    order a medication, refer, a value over a window) and write the report."""
    try:
        kind_set = parse_kinds(kinds)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    factory: MedAgentFactory | None = None
    name = "baseline"
    if config != "baseline":
        try:
            factory = agent_factory(Path(config))
        except AgentUnavailable as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        name = Path(config).stem
    cfg = MedAgentConfig(
        data, tasks, seed=seed, server=server, out=out, answerer=name, kinds=kind_set, fresh=fresh
    )
    command = (
        f"fhir-bench medagent --data {data} --tasks {tasks} --seed {seed}"
        + (f" --kinds {kinds}" if kind_set != KINDS else "")
        + (f" --server {server}" if server else "")
        + (f" --config {config}" if config != "baseline" else "")
    )
    try:
        report = run_medagent(cfg, factory, command=command)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    except AssistantError as exc:  # e.g. the model file is missing or the runtime fails
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    if report is None:
        return
    typer.echo(markdown(report))
    typer.echo(f"report: {cfg.out}", err=True)


def register(app: typer.Typer) -> None:
    """Add the ``medagent`` command to the ``fhir-bench`` Typer app."""
    app.command("medagent", help="Run the MedAgentBench-style tasks (writes go to a test target).")(
        medagent_command
    )

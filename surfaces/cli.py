"""The ``fhir-assistant`` command line.

Human-readable results go to stdout; progress bars, warnings and errors go to stderr,
so ``fhir-assistant patients --json | jq`` works. Every expected failure is an
:class:`tools.errors.AssistantError` and ends the command with its message and exit
status 1 (usage errors: 2).
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Annotated, Any, TypeVar

import orjson
import typer
from pydantic import SecretStr
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from agent.config import load_deployment
from surfaces import (
    _agent_commands,
    _doctor,
    _draft_commands,
    _intake_commands,
    _record_commands,
    _service_commands,
)
from surfaces._sources import is_server_url, open_source, open_store, source_config, store_of
from tools.config import ENV_STORE, BearerAuth, FhirServerConfig, Limits, NoAuth
from tools.errors import AssistantError, ConfigError
from tools.fhir import FhirClient
from tools.store import ImportProgress, SyncReport, sync_all

__all__ = ["app", "main"]

T = TypeVar("T")

# Piped output is not cut to 80 columns (ids must survive `| grep`).
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, highlight=False, soft_wrap=True)

app = typer.Typer(
    name="fhir-assistant",
    help="On-premises FHIR R4 record assistant: import, sync and read patients' records.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


StoreOpt = Annotated[
    str | None,
    typer.Option(
        "--store",
        envvar=ENV_STORE,
        help="Record store: a SQLite file path or a SQLAlchemy URL "
        f"(default: ${ENV_STORE}, else ~/.local/share/fhir-assistant/records.db).",
        show_default=False,
    ),
]


@app.callback()
def _root(
    store: StoreOpt = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="More diagnostics on stderr.")
    ] = False,
) -> None:
    # `store` is read by each command through `store_of(ctx)`.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if verbose:  # the project's own diagnostics (e.g. resources dropped as out of scope)
        for name in ("tools", "agent", "surfaces"):
            logging.getLogger(name).setLevel(logging.DEBUG)


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine, turning the assistant's errors into a clean exit."""
    try:
        return asyncio.run(coro)
    except AssistantError as exc:
        err.print(f"[bold red]error:[/] {exc}", markup=True, highlight=False)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        err.print("interrupted; nothing half-written was kept.")
        raise typer.Exit(130) from None


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )


# --------------------------------------------------------------------------- import


@app.command("import")
def import_cmd(
    ctx: typer.Context,
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="Bundle .json files, bulk-export .ndjson(.gz) files, or directories of them."
        ),
    ],
    validation: Annotated[
        str,
        typer.Option(
            "--validation",
            help="FHIR R4 structural validation: full (every resource), shape (one resource "
            "per distinct structure; default) or none.",
        ),
    ] = "shape",
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable report.")] = False,
) -> None:
    """Import Synthea/FHIR bundles and NDJSON into the record store (idempotent)."""
    if validation not in ("full", "shape", "none"):
        err.print(
            f"[bold red]error:[/] --validation must be full, shape or none, not {validation!r}"
        )
        raise typer.Exit(2)
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        err.print(f"[bold red]error:[/] no such file or directory: {', '.join(missing)}")
        raise typer.Exit(2)
    try:
        with open_store(store_of(ctx)) as store, _progress() as bar:
            task = bar.add_task("importing", total=None)

            def progress(event: ImportProgress) -> None:
                name = Path(event.path).name
                bar.update(
                    task,
                    completed=event.file_index + (event.stage == "done"),
                    total=event.files_total,
                    description=f"importing {name}",
                )

            report = store.import_paths(
                paths,
                progress,
                validation=validation,  # type: ignore[arg-type]
            )
    except AssistantError as exc:
        err.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(1) from None
    if as_json:
        sys.stdout.buffer.write(orjson.dumps(report.as_dict(), option=orjson.OPT_INDENT_2) + b"\n")
    else:
        out.print(
            f"{len(report.files)} file(s), {report.resources} resources in {report.seconds:.2f} s "
            f"({report.rate:,.0f}/s): {report.imported} new, {report.updated} updated, "
            f"{report.unchanged} unchanged, {report.skipped} skipped; "
            f"{len(report.patients)} patient record(s) changed"
        )
    for failed in report.errors:
        err.print(f"[bold red]error:[/] {failed.error}")
    if not report.ok:
        raise typer.Exit(1)


# --------------------------------------------------------------------------- sync


@app.command("sync")
def sync_cmd(
    ctx: typer.Context,
    source: Annotated[str, typer.Option("--source", help="Base URL of the FHIR R4 server.")],
    patient: Annotated[
        list[str] | None,
        typer.Option("--patient", help="Patient id to sync (repeatable); default: all patients."),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            "--bearer-token",
            envvar="FHIR_ASSISTANT_TOKEN",
            help="Static bearer token ($FHIR_ASSISTANT_TOKEN).",
            show_default=False,
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help="Only resources updated after this FHIR instant (default: since the last sync "
            "of each patient; a patient never synced is fetched whole).",
        ),
    ] = None,
) -> None:
    """Copy patients' records from a FHIR server into the store (incremental by _lastUpdated)."""
    if not is_server_url(source):
        err.print(
            f"[bold red]error:[/] --source must be an http(s):// FHIR base URL, got {source!r}"
        )
        raise typer.Exit(2)
    try:
        config = FhirServerConfig(
            base_url=source,
            auth=BearerAuth(token=SecretStr(token)) if token else NoAuth(),
            limits=Limits(),
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from None

    async def go() -> list[SyncReport]:
        with open_store(store_of(ctx)) as store:
            async with FhirClient(config) as client:
                ids = patient or [row.id for row in await client.patients()]
                reports: list[SyncReport] = []
                with _progress() as bar:
                    task = bar.add_task("syncing", total=len(ids))
                    for pid in ids:
                        bar.update(task, description=f"syncing Patient/{pid}")
                        reports.extend(await sync_all(client, store, [pid], since))
                        bar.advance(task)
                return reports

    failed = 0
    for report in run(go()):
        if report.error is not None:
            failed += 1
            err.print(f"[bold red]error:[/] Patient/{report.patient_id}: {report.error}")
        else:
            since = f" since {report.since}" if report.since else ""
            out.print(
                f"Patient/{report.patient_id}: {report.mode} sync{since}: {report.fetched} fetched, "
                f"{report.imported} new, {report.updated} updated, {report.unchanged} unchanged"
                + (f" ({report.note})" if report.note else "")
            )
    if failed:
        raise typer.Exit(1)


# --------------------------------------------------------------------------- patients


@app.command("patients")
def patients_cmd(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    source: Annotated[
        str | None,
        typer.Option("--source", help="A FHIR server URL or store location (default: the store)."),
    ] = None,
) -> None:
    """List the patients: id, name, birth date, gender, resource count."""

    async def go() -> list[Any]:
        src = open_source(source_config(source, store_of(ctx)))
        try:
            return await src.patients()
        finally:
            await src.aclose()

    rows = run(go())
    if as_json:
        sys.stdout.buffer.write(
            orjson.dumps([r.as_dict() for r in rows], option=orjson.OPT_INDENT_2) + b"\n"
        )
        return
    if not rows:
        err.print("no patients; import some with `fhir-assistant import PATH`.")
        return
    table = Table(box=None, pad_edge=False)
    table.add_column("id", no_wrap=True, min_width=max(len(r.id) for r in rows))
    table.add_column("name", no_wrap=True)
    for col in ("birth date", "gender"):
        table.add_column(col, no_wrap=True)
    table.add_column("resources", justify="right", no_wrap=True)
    for r in rows:
        name = r.name + (" (deceased)" if r.deceased else "")
        count = "" if r.resource_count is None else str(r.resource_count)
        table.add_row(r.id, name, r.birth_date or "", r.gender or "", count)
    out.print(table)


# --------------------------------------------------------------------------- demo


FIXTURES = Path(__file__).resolve().parents[1] / "fhir_fixtures" / "patients"


DEMO_PATIENT = "4b54bebd-7f01-4a33-8494-0214dc432e46"  # Cleotilde Ruecker: diabetes, CKD, AF


@app.command("demo")
def demo_cmd(
    ctx: typer.Context,
    patient: Annotated[
        str, typer.Option("--patient", help="Fixture patient whose brief is written.")
    ] = DEMO_PATIENT,
    extractive: Annotated[
        bool, typer.Option("--extractive", help="Write the extractive brief (no model).")
    ] = False,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="Deployment for the model brief (default: cpu-demo)."),
    ] = None,
) -> None:
    """The main job on embedded defaults: import the fixtures, list them, brief one patient.

    The brief is written by the model of ``configs/cpu-demo.toml`` (llama.cpp on the CPU)
    and every sentence is verified against the record; ``--config`` switches the model
    (e.g. ``configs/medgemma-27b-vllm.toml``), ``--extractive`` needs no model.
    """
    if not FIXTURES.is_dir():
        err.print(f"[bold red]error:[/] fixtures not found at {FIXTURES}")
        raise typer.Exit(1)
    err.print(f"importing {FIXTURES} into the store …")
    import_cmd(ctx, [FIXTURES], validation="shape", as_json=False)
    out.print()
    patients_cmd(ctx, as_json=False, source=None)
    out.print()

    deployment = None if extractive else load_deployment(config or _agent_commands.DEFAULT_CONFIG)
    if deployment is not None:
        err.print(
            f"writing the brief of Patient/{patient} with {deployment.name} "
            "(a small CPU model: a few minutes) …"
        )

    async def go() -> str:
        src = open_source(source_config(None, store_of(ctx)))
        try:
            if deployment is None:
                return await _record_commands.run_brief(src, patient, as_json=False)
            return await _agent_commands.run_model_brief(src, patient, deployment, as_json=False)
        finally:
            await src.aclose()

    out.print(run(go()), markup=False)


# --------------------------------------------------------------------------- doctor


@app.command("doctor")
def doctor_cmd(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="Deployment to check (default: configs/cpu-demo.toml)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    only: Annotated[
        list[str] | None,
        typer.Option("--only", help="Run only the checks whose name contains this (repeatable)."),
    ] = None,
) -> None:
    """Check this machine: Python, packages against the lock, model runtimes (in a child
    process), model files and checksums, record store, threads key, FHIR server.

    Exits 1 when a check FAILs (warnings do not).
    """
    try:
        deployment = load_deployment(config or _agent_commands.DEFAULT_CONFIG)
    except AssistantError as exc:
        err.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(1) from None
    err.print(f"checking deployment {deployment.name} …")
    checks = _doctor.run_checks(deployment, store=store_of(ctx), only=only or ())
    if as_json:
        sys.stdout.buffer.write(
            orjson.dumps(_doctor.as_dicts(checks), option=orjson.OPT_INDENT_2) + b"\n"
        )
    else:
        style = {"ok": "green", "warn": "yellow", "FAIL": "bold red"}
        table = Table()
        table.add_column("check", no_wrap=True)
        table.add_column("status", no_wrap=True)
        table.add_column("detail", overflow="fold")
        for c in checks:
            table.add_row(c.name, f"[{style[c.status]}]{c.status}[/]", c.detail)
        out.print(table)
    failed = [c.name for c in checks if c.status == "FAIL"]
    if failed:
        err.print(f"[bold red]doctor:[/] {len(failed)} check(s) failed: {', '.join(failed)}")
        raise typer.Exit(1)


_record_commands.register(app)
_agent_commands.register(app)
_service_commands.register(app)
_draft_commands.register(app)
_intake_commands.register(app)


def main() -> None:
    app()


if __name__ == "__main__":  # pragma: no cover
    main()

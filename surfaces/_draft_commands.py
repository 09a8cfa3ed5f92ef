"""CLI commands of the draft → approve → write-back path and the appointment batch.

::

    fhir-assistant brief --patient ID [--extractive] --draft [--json]   → {"draft_id": …}
    fhir-assistant approve DRAFT_ID [--edit FILE] [--approver WHO] [--json]
                                                       → {"written": ["Device/…", "DocumentReference/…", …]}
    fhir-assistant reject DRAFT_ID --reason TEXT [--json]
    fhir-assistant drafts [--patient ID] [--status S] [--json]
    fhir-assistant batch --appointments DATE [--model] [--concurrency N] [--json]

The drafts live beside the audit trail (``[service] database``, else the record store);
approved drafts are written to the source (``--source``/``--store``, else the config's).
A repeated ``approve`` prints the same references and writes nothing.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import getpass
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar, cast

import orjson
import typer

from agent.config import DeploymentConfig, load_deployment
from surfaces._sources import open_source, store_of
from tools.config import StoreConfig
from tools.drafts import ApproveResult, Draft, WritableSource, WriteBack, person
from tools.errors import AssistantError

__all__ = ["register", "run_brief_draft"]

T = TypeVar("T")

ConfigOpt = Annotated[
    Path | None, typer.Option("--config", help="Deployment file (default: configs/cpu-demo.toml).")
]
SourceOpt = Annotated[
    str | None,
    typer.Option("--source", help="A FHIR server URL or store location (default: the config's)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def _json(data: Any) -> str:
    return orjson.dumps(data, option=orjson.OPT_INDENT_2).decode()


def _deployment(config: Path | None) -> DeploymentConfig:
    from surfaces._agent_commands import DEFAULT_CONFIG

    return load_deployment(config or DEFAULT_CONFIG)


def _run(
    ctx: typer.Context,
    config: Path | None,
    source: str | None,
    job: Callable[[DeploymentConfig, WriteBack], Awaitable[str]],
) -> None:
    """Open the deployment, the source and the drafts; run ``job``; print what it returns."""
    from surfaces._agent_commands import _source_config
    from surfaces.drafting import drafts_database, open_writeback

    async def go() -> str:
        cfg = _deployment(config)
        src_cfg = _source_config(cfg, source, store_of(ctx))
        # drafts beside the store; with a FHIR server as the source, in --store (or the
        # default store) unless [service] database names a place
        store = src_cfg.url if isinstance(src_cfg, StoreConfig) else store_of(ctx)
        src = open_source(src_cfg)
        desk = open_writeback(cfg, cast(WritableSource, src), drafts_database(cfg, store))
        try:
            return await job(cfg, desk)
        finally:
            desk.drafts.close()
            await src.aclose()

    try:
        text = asyncio.run(go())
    except AssistantError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        typer.echo("interrupted; drafts already made are kept (run again to resume).", err=True)
        raise typer.Exit(130) from None
    typer.echo(text)


def _draft_json(draft: Draft) -> dict[str, Any]:
    return {
        "draft_id": draft.id,
        "status": draft.status,
        "patient_id": draft.patient_id,
        "kind": draft.kind,
        "extractive": draft.extractive,
        "model": draft.model.name,
        "markdown": draft.markdown,
        "citations": [c.model_dump() for c in draft.citations],
    }


def run_brief_draft(
    ctx: typer.Context,
    patient: str,
    *,
    extractive: bool,
    config: Path | None,
    source: str | None,
    as_json: bool,
) -> None:
    """``brief --draft``: draft the brief (extractive or model) for review."""
    from surfaces.drafting import draft_brief

    async def job(cfg: DeploymentConfig, desk: WriteBack) -> str:
        model = None
        if not extractive:
            from agent.models import build_chat_model

            model = build_chat_model(cfg.model)
        try:
            draft = await draft_brief(
                desk,
                patient,
                deployment=cfg,
                model=model,
                extractive=extractive,
                created_by=f"cli:{getpass.getuser()}",
            )
        finally:
            if model is not None:
                await model.aclose()
        if as_json:
            return _json(_draft_json(draft))
        return (
            f"{draft.markdown.rstrip()}\n\n---\ndraft_id: {draft.id} (status {draft.status}; "
            f"nothing written yet)\napprove: fhir-assistant approve {draft.id} [--edit FILE]\n"
            f"reject:  fhir-assistant reject {draft.id} --reason TEXT"
        )

    _run(ctx, config, source, job)


def _result_text(result: ApproveResult) -> str:
    head = "Written" if result.created else "Already written (nothing new)"
    edited = " (with the approver's edits)" if result.edited else ""
    return f"{head}{edited}: " + ", ".join(result.written)


def register(app: typer.Typer) -> None:
    """Add ``approve``, ``reject``, ``drafts`` and ``batch`` to the CLI app."""

    @app.command("approve")
    def approve_cmd(
        ctx: typer.Context,
        draft_id: Annotated[str, typer.Argument(help="The draft's id (`draft_id`).")],
        edit: Annotated[
            Path | None,
            typer.Option("--edit", help="A file with the approved text (your edits, Markdown)."),
        ] = None,
        approver: Annotated[
            str | None,
            typer.Option(
                "--approver",
                help="Who approves: `Practitioner/ID` or a name (default: the login name).",
            ),
        ] = None,
        as_json: JsonOpt = False,
        config: ConfigOpt = None,
        source: SourceOpt = None,
    ) -> None:
        """Approve a draft (optionally with your edited text) and write it to the record:
        a DocumentReference and its Provenance, in one transaction. Approving again
        writes nothing and prints the same references."""
        try:
            edits = edit.read_text(encoding="utf-8") if edit is not None else None
        except OSError as exc:
            typer.echo(f"error: cannot read {edit}: {exc.strerror or exc}", err=True)
            raise typer.Exit(1) from None
        who = person(approver or getpass.getuser())

        async def job(cfg: DeploymentConfig, desk: WriteBack) -> str:
            result = await desk.approve(draft_id, who, edits=edits)
            return _json(result.model_dump(mode="json")) if as_json else _result_text(result)

        _run(ctx, config, source, job)

    @app.command("reject")
    def reject_cmd(
        ctx: typer.Context,
        draft_id: Annotated[str, typer.Argument(help="The draft's id (`draft_id`).")],
        reason: Annotated[str, typer.Option("--reason", help="What is wrong with the draft.")],
        reviewer: Annotated[
            str | None, typer.Option("--reviewer", help="Who rejects (default: the login name).")
        ] = None,
        as_json: JsonOpt = False,
        config: ConfigOpt = None,
        source: SourceOpt = None,
    ) -> None:
        """Reject a draft: it is never written; the reason is kept as feedback."""

        async def job(cfg: DeploymentConfig, desk: WriteBack) -> str:
            draft = await desk.reject(draft_id, reason, who=reviewer or getpass.getuser())
            last = draft.feedback[-1]
            data = {"draft_id": draft.id, "status": draft.status, "reason": last.reason,
                    "who": last.who, "at": last.at}  # fmt: skip
            return _json(data) if as_json else f"Rejected {draft.id}: {last.reason}"

        _run(ctx, config, source, job)

    @app.command("drafts")
    def drafts_cmd(
        ctx: typer.Context,
        patient: Annotated[str | None, typer.Option("--patient", help="Only this patient.")] = None,
        status: Annotated[str | None, typer.Option("--status", help="Only this status.")] = None,
        as_json: JsonOpt = False,
        config: ConfigOpt = None,
        source: SourceOpt = None,
    ) -> None:
        """List drafts, newest first."""

        async def job(cfg: DeploymentConfig, desk: WriteBack) -> str:
            drafts = await desk.find(patient_id=patient, status=status, limit=500)
            if as_json:
                return _json([d.summary() for d in drafts])
            lines = [f"{d.id}  {d.status:<9} {d.kind:<7} Patient/{d.patient_id}  {d.created}"
                     for d in drafts]  # fmt: skip
            return "\n".join(lines) or "no drafts"

        _run(ctx, config, source, job)

    @app.command("batch")
    def batch_cmd(
        ctx: typer.Context,
        appointments: Annotated[
            str, typer.Option("--appointments", help="The day (YYYY-MM-DD) of the appointments.")
        ],
        model: Annotated[
            bool,
            typer.Option("--model", help="Model-written briefs (slow on CPU); default extractive."),
        ] = False,
        concurrency: Annotated[
            int | None,
            typer.Option("--concurrency", min=1, max=64, help="Briefs drafted at once."),
        ] = None,
        as_json: JsonOpt = False,
        config: ConfigOpt = None,
        source: SourceOpt = None,
    ) -> None:
        """Draft a pre-visit brief for every booked appointment of a day (for review; nothing
        is written). Resumable: drafts already made for that day are not redone."""
        try:
            dt.date.fromisoformat(appointments)
        except ValueError:
            typer.echo(f"error: --appointments must be a date (YYYY-MM-DD), not {appointments!r}", err=True)  # fmt: skip
            raise typer.Exit(2) from None
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        from surfaces.batch import BatchItem, run_batch

        async def job(cfg: DeploymentConfig, desk: WriteBack) -> str:
            chat = None
            if model:
                from agent.models import build_chat_model

                chat = build_chat_model(cfg.model)
            console = Console(stderr=True)
            progress = Progress(
                TextColumn("briefs {task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                console=console,
                transient=False,
                disable=not console.is_terminal,
            )
            task = progress.add_task(appointments, total=None)

            def on_item(item: BatchItem, done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)
                if not console.is_terminal:
                    sys.stderr.write(f"[{done}/{total}] {item.appointment}: {item.outcome}\n")

            try:
                with progress:
                    report = await run_batch(
                        desk,
                        appointments,
                        deployment=cfg,
                        model=chat,
                        concurrency=concurrency or cfg.writeback.batch_concurrency,
                        created_by=f"cli:{getpass.getuser()}",
                        on_item=on_item,
                    )
            finally:
                if chat is not None:
                    await chat.aclose()
            if as_json:
                return _json(report.as_dict())
            lines = [
                f"{appointments}: {len(report.items)} booked appointment(s): "
                f"{report.count('drafted')} drafted, {report.count('done-before')} done before, "
                f"{report.count('failed')} failed ({report.seconds:.1f} s)"
            ]
            lines += [f"  drafted {i.appointment} Patient/{i.patient}: draft {i.draft_id}"
                      for i in report.items if i.outcome == "drafted"]  # fmt: skip
            lines += [f"  FAILED  {i.appointment} Patient/{i.patient}: {i.error}"
                      for i in report.failed]  # fmt: skip
            return "\n".join(lines)

        _run(ctx, config, source, job)

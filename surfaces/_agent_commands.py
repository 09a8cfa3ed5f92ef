"""The agent's commands: ``ask`` and ``chat`` (registered on the CLI app by ``register``),
and :func:`run_model_brief` for the ``brief`` command (model-written, verified).

Answers go to stdout; tool status lines, streamed tokens and warnings to stderr.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from agent.config import DeploymentConfig, load_deployment
from agent.models import build_chat_model
from agent.run import ask as agent_ask
from agent.run import brief as agent_brief
from surfaces._sources import open_source, source_config, store_of
from tools.config import SourceConfig
from tools.errors import AssistantError
from tools.source import RecordSource

__all__ = ["register", "run_model_brief"]

DEFAULT_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "cpu-demo.toml"

PatientOpt = Annotated[str, typer.Option("--patient", help="Patient id.")]
ConfigOpt = Annotated[
    Path, typer.Option("--config", help="Deployment file (model, source, limits).")
]
SourceOpt = Annotated[
    str | None,
    typer.Option("--source", help="A FHIR server URL or store location (default: the config's)."),
]
ThreadOpt = Annotated[
    str | None, typer.Option("--thread", help="Thread id: follow-ups reuse its evidence.")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def _status(event: dict[str, Any]) -> None:
    msg = event.get("status")
    if msg:
        tool = event.get("tool")
        sys.stderr.write(
            f"  · {tool + ': ' if tool and not str(msg).startswith(tool) else ''}{msg}\n"
        )
        sys.stderr.flush()


def _source_config(cfg: DeploymentConfig, source: str | None, store: str | None) -> SourceConfig:
    if source or store:
        return source_config(source, store)
    return cfg.source


async def run_model_brief(
    source: RecordSource, patient_id: str, config: DeploymentConfig, as_json: bool
) -> str:
    """The model-written, verified pre-visit brief as Markdown or JSON (for ``brief``)."""
    model = build_chat_model(config.model)
    try:
        answer = await agent_brief(patient_id, source=source, model=model, on_event=_status)
    finally:
        await model.aclose()
    return answer.to_json() if as_json else answer.to_markdown()


def register(app: typer.Typer) -> None:
    """Add ``ask`` and ``chat`` to the CLI app."""

    @app.command("ask")
    def ask_cmd(
        ctx: typer.Context,
        question: Annotated[str, typer.Argument(help="The question about the patient.")],
        patient: PatientOpt,
        thread: ThreadOpt = None,
        as_json: JsonOpt = False,
        config: ConfigOpt = DEFAULT_CONFIG,
        source: SourceOpt = None,
    ) -> None:
        """Answer a question about one patient, every sentence checked against its citations."""

        async def go() -> str:
            cfg = load_deployment(config)
            src = open_source(_source_config(cfg, source, store_of(ctx)))
            model = build_chat_model(cfg.model)
            try:
                answer = await agent_ask(
                    question,
                    patient_id=patient,
                    source=src,
                    model=model,
                    thread_id=thread,
                    on_event=_status,
                )
            finally:
                await model.aclose()
                await src.aclose()
            return answer.to_json() if as_json else answer.to_markdown()

        try:
            typer.echo(asyncio.run(go()))
        except AssistantError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None

    @app.command("chat")
    def chat_cmd(
        ctx: typer.Context,
        patient: PatientOpt,
        thread: ThreadOpt = None,
        config: ConfigOpt = DEFAULT_CONFIG,
        source: SourceOpt = None,
    ) -> None:
        """Interactive questions about one patient (a persisted thread; empty line or
        Ctrl-D ends). Tokens and tool status lines stream to stderr."""
        import uuid

        thread_id = thread or f"chat-{patient[:8]}-{uuid.uuid4().hex[:8]}"

        def token(text: str) -> None:
            sys.stderr.write(text)
            sys.stderr.flush()

        async def go() -> None:
            cfg = load_deployment(config)
            src = open_source(_source_config(cfg, source, store_of(ctx)))
            model = build_chat_model(cfg.model)
            sys.stderr.write(f"thread {thread_id} · Patient/{patient}\n")
            try:
                while True:
                    try:
                        question = await asyncio.to_thread(input, "> ")
                    except EOFError:
                        break
                    if not question.strip():
                        break
                    try:
                        answer = await agent_ask(
                            question,
                            patient_id=patient,
                            source=src,
                            model=model,
                            thread_id=thread_id,
                            on_token=token,
                            on_event=_status,
                        )
                    except AssistantError as exc:
                        sys.stderr.write(f"\nerror: {exc}\n")
                        continue
                    sys.stderr.write("\n")
                    typer.echo(answer.to_markdown())
            finally:
                await model.aclose()
                await src.aclose()

        try:
            asyncio.run(go())
        except AssistantError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None

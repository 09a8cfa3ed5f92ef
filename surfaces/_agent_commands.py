"""The agent's commands: ``ask``, ``chat`` and ``warm`` (registered on the CLI app by
``register``), and :func:`run_model_brief` for the ``brief`` command (model-written,
verified).

Answers go to stdout; tool status lines and errors to stderr. ``chat`` streams the
model's draft as prose on stdout while it is written (the sentences' text only, never the
raw JSON of the model steps), then prints the verified answer with its citations and
names the draft sentences the citation check removed.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated

import typer

from agent._stream import SentenceStreamer
from agent.answer import CitedAnswer
from agent.config import DeploymentConfig, build_terminology, load_deployment
from agent.errors import ThreadStoreError
from agent.events import AgentEvent, FromRecord
from agent.models import accepts_images, build_chat_model
from agent.run import ask as agent_ask
from agent.run import brief as agent_brief
from agent.run import warm as agent_warm
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


def _status(event: AgentEvent) -> None:
    sys.stderr.write(f"  · {event.text}\n")
    sys.stderr.flush()


class _ChatConsole:
    """The chat's terminal: streamed draft prose on stdout, status lines on stderr (never
    in the middle of a streamed line), then the verified answer on stdout."""

    def __init__(self) -> None:
        self.streamer = SentenceStreamer()
        self.open_line = False
        self.streamed = False

    def _out(self, text: str) -> None:
        if text:
            sys.stdout.write(text)
            sys.stdout.flush()
            self.open_line = not text.endswith("\n")
            self.streamed = True

    def token(self, chunk: str) -> None:
        self._out(self.streamer.feed(chunk))

    def status(self, event: AgentEvent) -> None:
        if self.open_line:
            sys.stdout.write("\n")
            sys.stdout.flush()
            self.open_line = False
        if isinstance(event, FromRecord):  # the record's entries while the model writes
            sys.stderr.write("  · from the record (the checked answer follows):\n")
            for s in event.sentences:
                refs = ", ".join(s["references"][:3]) + (" …" if len(s["references"]) > 3 else "")
                sys.stderr.write(f"      {s['text']} [{refs}]\n")
            sys.stderr.flush()
            return
        _status(event)

    def end_turn(self, answer: CitedAnswer | None) -> None:
        """Close the draft; print the verified answer (or nothing, after an error)."""
        self._out(self.streamer.close())
        if self.open_line:
            sys.stdout.write("\n")
        if answer is not None:
            if self.streamed:
                sys.stdout.write("\n")
            sys.stdout.write(_chat_markdown(answer) + "\n")
        sys.stdout.flush()
        self.streamer = SentenceStreamer()
        self.open_line = self.streamed = False


def _chat_markdown(answer: CitedAnswer) -> str:
    """The verified answer; the streamed draft's sentences that failed the check, named."""
    md = answer.to_markdown()
    if not answer.dropped:
        return md
    lines = [f"\n_Removed from the draft by the citation check ({len(answer.dropped)}):_"]
    for d in answer.dropped:
        why = f" ({'; '.join(d.reasons)})" if d.reasons else ""
        lines.append(f"- ~~{d.text.strip()}~~{why}")
    listing = "\n".join(lines)
    count_line = f"\n_{len(answer.dropped)} sentence(s) removed by the citation check._"
    if count_line in md:  # in place of the bare count
        return md.replace(count_line, listing, 1)
    return md + listing + "\n"


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
        answer = await agent_brief(
            patient_id,
            source=source,
            model=model,
            settings=config.agent,
            terminology=build_terminology(config),
            on_event=_status,
        )
    finally:
        await model.aclose()
    return answer.to_json() if as_json else answer.to_markdown()


def register(app: typer.Typer) -> None:
    """Add ``ask``, ``warm`` and ``chat`` to the CLI app."""

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
                    multimodal=accepts_images(cfg.model),
                    settings=cfg.agent,
                    terminology=build_terminology(cfg),
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

    @app.command("warm")
    def warm_cmd(
        ctx: typer.Context,
        patient: Annotated[
            list[str], typer.Option("--patient", help="Patient id (repeat for several).")
        ],
        as_json: JsonOpt = False,
        config: ConfigOpt = DEFAULT_CONFIG,
        source: SourceOpt = None,
    ) -> None:
        """Prepare patients' prompt prefixes (system prompt + record summary) in the model's
        on-disk prefix cache ([model] disk_cache_dir), so a later first question on each
        evaluates only its own part (the service's POST /v1/patients/{id}/warm)."""
        import json
        from dataclasses import asdict

        async def go() -> list[str]:
            cfg = load_deployment(config)
            src = open_source(_source_config(cfg, source, store_of(ctx)))
            model = build_chat_model(cfg.model)
            out = []
            try:
                for pid in patient:
                    done = await agent_warm(
                        pid,
                        source=src,
                        model=model,
                        settings=cfg.agent,
                        multimodal=accepts_images(cfg.model),
                        terminology=build_terminology(cfg),
                    )
                    if as_json:
                        out.append(json.dumps(asdict(done)))
                    elif not done.supported:
                        out.append(f"Patient/{pid}: this model keeps no warmed prefixes")
                    else:
                        how = (
                            "already cached"
                            if done.cached
                            else f"{done.evaluated_tokens} evaluated, "
                            + ("saved" if done.saved else "not saved (no [model] disk_cache_dir)")
                        )
                        out.append(
                            f"Patient/{pid}: {done.prefix_tokens} prefix tokens ({how}) "
                            f"in {done.seconds:.1f} s"
                        )
            finally:
                await model.aclose()
                await src.aclose()
            return out

        try:
            for line in asyncio.run(go()):
                typer.echo(line)
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
        Ctrl-D ends). The draft streams as prose, then the verified answer follows;
        tool status lines go to stderr."""
        import uuid

        thread_id = thread or f"chat-{uuid.uuid4().hex[:12]}"  # no patient id: stored in clear
        console = _ChatConsole()

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
                            multimodal=accepts_images(cfg.model),
                            settings=cfg.agent,
                            terminology=build_terminology(cfg),
                            on_token=console.token,
                            on_event=console.status,
                        )
                    except ThreadStoreError:
                        console.end_turn(None)
                        raise  # every later question would fail the same way
                    except AssistantError as exc:
                        console.end_turn(None)
                        sys.stderr.write(f"error: {exc}\n")
                        continue
                    console.end_turn(answer)
            finally:
                await model.aclose()
                await src.aclose()

        try:
            asyncio.run(go())
        except AssistantError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None

"""``fhir-assistant intake``: the pre-visit interview in a terminal (or scripted).

::

    fhir-assistant intake --patient ID [--appointment ID] [--reason TEXT]
                          [--answers FILE] [--json] [--resume THREAD]

Questions go to stdout (to stderr with ``--json``), answers come from stdin, one line
each; Ctrl-D (end of input) pauses: the thread id to resume with is printed, and
``--resume THREAD`` continues at the same question (every answer is checkpointed, so a
killed process loses nothing either). ``--answers FILE``: one answer per line, in the
order asked, the first being the consent answer when consent is asked; when the file
ends before the interview, it pauses the same way. At the end the brief becomes a draft
(its QuestionnaireResponse is written with it when a person approves it: ``fhir-assistant
approve DRAFT_ID``); ``--json`` prints ``{"questionnaire_response": …, "brief": …,
"draft_id": …}``. A patient who declines consent ends the command with an error (exit 1).
With ``[intake] model_parsing = true`` the deployment's model reads the answers the rules
cannot (its value kept only when the patient's words say it); with ``model_rephrase =
true`` it rephrases each question in plain language (shown only when it keeps every name,
number, date and option of the question).
"""

from __future__ import annotations

import asyncio
import getpass
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from agent.config import DeploymentConfig
from agent.errors import IntakeStateError
from agent.intake import IntakeRunner, Turn, model_reader, model_rephraser
from agent.threads import open_checkpointer
from tools.drafts import WriteBack

__all__ = ["register"]


def _say(text: str, *, err: bool) -> None:
    stream = sys.stderr if err else sys.stdout
    stream.write(text + "\n")
    stream.flush()


def _prompt(turn: Turn) -> str:
    q = turn.question or {}
    if q.get("kind") == "consent":
        return str(q.get("text", ""))
    head = f"[{q.get('number')}/{q.get('planned')}]" if q.get("planned") else ""
    return f"{head} {q.get('text', '')}".strip()


def _lines(path: Path | None) -> Iterator[str] | None:
    if path is None:
        return None
    text = path.read_text(encoding="utf-8")
    return iter(text.splitlines())


async def _read(script: Iterator[str] | None) -> str | None:
    """The next answer: from the script, else one line of stdin; None at the end."""
    if script is not None:
        return next(script, None)
    if sys.stdin.isatty():
        sys.stdout.write("> ")
        sys.stdout.flush()
    line = await asyncio.to_thread(sys.stdin.readline)
    if line == "":
        return None
    return line.rstrip("\r\n")


def register(app: typer.Typer) -> None:
    """Add ``intake`` to the CLI app."""

    @app.command("intake")
    def intake_cmd(
        ctx: typer.Context,
        patient: Annotated[
            str | None, typer.Option("--patient", help="Patient id (not needed with --resume).")
        ] = None,
        appointment: Annotated[
            str | None,
            typer.Option("--appointment", help="Appointment id: its reason plans the interview."),
        ] = None,
        reason: Annotated[
            str | None, typer.Option("--reason", help="The reason for the visit, as text.")
        ] = None,
        answers: Annotated[
            Path | None,
            typer.Option("--answers", help="A file of answers, one per line, in the order asked."),
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
        resume: Annotated[
            str | None,
            typer.Option("--resume", help="Continue a paused interview (its thread id)."),
        ] = None,
        config: Annotated[
            Path | None, typer.Option("--config", help="Deployment file (default: cpu-demo).")
        ] = None,
        source: Annotated[
            str | None,
            typer.Option(
                "--source", help="A FHIR server URL or store location (default: the config's)."
            ),
        ] = None,
    ) -> None:
        """A pre-visit interview of the patient (consent first, at most 20 questions planned
        from the record), ending in a QuestionnaireResponse and a cited brief drafted for
        the clinician's review."""
        from surfaces._draft_commands import _run
        from surfaces.drafting import draft_intake

        if patient is None and resume is None:
            typer.echo("error: give --patient ID (or --resume THREAD).", err=True)
            raise typer.Exit(2)
        try:
            script = _lines(answers)
        except OSError as exc:
            typer.echo(f"error: cannot read {answers}: {exc.strerror or exc}", err=True)
            raise typer.Exit(1) from None

        async def job(cfg: DeploymentConfig, desk: WriteBack) -> str:
            model = None
            if cfg.intake.model_parsing or cfg.intake.model_rephrase:
                from agent.models import build_chat_model

                model = build_chat_model(cfg.model)
            try:
                return await interview(cfg, desk, model)
            finally:
                if model is not None:
                    await model.aclose()

        async def interview(cfg: DeploymentConfig, desk: WriteBack, model: Any) -> str:
            async with open_checkpointer(cfg.service.threads) as saver:
                runner = IntakeRunner(
                    desk.source,
                    saver,
                    cfg.intake,
                    reader=model_reader(model) if model and cfg.intake.model_parsing else None,
                    rephraser=model_rephraser(model)
                    if model and cfg.intake.model_rephrase
                    else None,
                )
                if resume:
                    turn = await runner.current(resume)
                    if patient and turn.patient_id != patient:
                        raise IntakeStateError(
                            f"Intake {resume} is about another patient than Patient/{patient}."
                        )
                else:
                    assert patient is not None
                    turn = await runner.start(patient, appointment=appointment, reason=reason)
                _say(f"intake thread {turn.thread_id} · Patient/{turn.patient_id}", err=True)
                while turn.status == "question":
                    _say(_prompt(turn), err=as_json)
                    words = await _read(script)
                    if words is None:
                        _say(
                            f"paused; resume with: fhir-assistant intake --resume {turn.thread_id}",
                            err=True,
                        )
                        if as_json:
                            return _json({"paused": True, "thread_id": turn.thread_id,
                                          "question": turn.question})  # fmt: skip
                        return ""
                    if script is not None:
                        _say(f"> {words}", err=as_json)
                    turn = await runner.answer(turn.thread_id, words)
                outcome = await runner.finish(turn.thread_id)
            draft = await draft_intake(
                desk, outcome, deployment=cfg, created_by=f"cli:{getpass.getuser()}"
            )
            if as_json:
                data = outcome.as_dict()
                data["draft_id"] = draft.id
                return _json(data)
            return (
                f"{outcome.brief.to_markdown().rstrip()}\n\n---\nQuestionnaireResponse: "
                f"{len(outcome.questionnaire_response.get('item') or [])} answers (thread "
                f"{outcome.thread_id})\ndraft_id: {draft.id} (status {draft.status}; nothing "
                f"written yet)\napprove: fhir-assistant approve {draft.id} [--edit FILE]  "
                "(writes the brief and the QuestionnaireResponse)\n"
                f"reject:  fhir-assistant reject {draft.id} --reason TEXT"
            )

        _run(ctx, config, source, job)


def _json(data: Any) -> str:
    return orjson.dumps(data, option=orjson.OPT_INDENT_2).decode()

"""Public async entry points: :func:`ask` (multi-turn with ``thread_id``) and :func:`brief`.

::

    answer = await ask("Latest HbA1c?", patient_id=pid, source=store, model=model,
                       thread_id="visit-1", threads_db="threads.db")
    print(answer.to_markdown())

A thread is persisted with LangGraph's ``AsyncSqliteSaver``, encrypted
(:mod:`agent.threads`); a follow-up on the same thread reuses the evidence seen before.
A long-running process (the HTTP service) opens its checkpointer once
(:func:`agent.threads.open_checkpointer`, SQLite or PostgreSQL) and passes it as
``checkpointer=``; :func:`thread_answers` and :func:`delete_thread` read and remove a
thread through it.

When the record source fails mid-run, :class:`agent.errors.AgentSourceFailed` is raised
and the thread keeps its last completed step: asking the same question again on the
thread resumes from there.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tools.errors import SourceError
from tools.source import RecordSource
from tools.terminology import Terminology

from .answer import CitedAnswer
from .context import AgentContext, AgentSettings
from .errors import AgentError, AgentSourceFailed
from .events import AgentEvent, OnEvent
from .graph import build_graph
from .guard import scrub
from .models import ChatModel, Message, OnToken, WarmResult
from .nodes import record_summary
from .prompts import compose_messages, plan_messages
from .threads import open_threads
from .toolkit import prompt_lines

__all__ = ["OnEvent", "PatientWarm", "ask", "brief", "delete_thread", "thread_answers", "warm"]


@contextlib.asynccontextmanager
async def _checkpointer(
    thread_id: str | None, threads_db: str | Path | None, ready: Any = None
) -> AsyncIterator[Any]:
    if not thread_id:
        yield None
        return
    if ready is not None:
        yield ready
        return
    async with open_threads(threads_db) as saver:
        yield saver


async def _run(
    ctx: AgentContext,
    inputs: dict[str, Any],
    threads_db: str | Path | None,
    on_event: OnEvent | None,
    checkpointer: Any = None,
) -> CitedAnswer:
    async with _checkpointer(ctx.thread_id, threads_db, checkpointer) as saver:
        graph = build_graph(saver)
        config: dict[str, Any] = {"recursion_limit": 4 * ctx.settings.max_steps + 20}
        payload: dict[str, Any] | None = inputs
        if ctx.thread_id:
            config["configurable"] = {"thread_id": ctx.thread_id}
            snap = await graph.aget_state(config)
            values = snap.values or {}
            if (
                snap.next
                and values.get("question") == inputs.get("question")
                and (values.get("mode") == ctx.mode)
            ):
                payload = None  # resume the interrupted run of the same question
        try:
            final: dict[str, Any] = {}
            async for mode, chunk in graph.astream(
                payload, config, context=ctx, stream_mode=["custom", "values"]
            ):
                if mode == "custom" and on_event is not None and isinstance(chunk, AgentEvent):
                    on_event(chunk)
                elif mode == "values":
                    final = chunk
        except SourceError as exc:
            raise AgentSourceFailed(ctx.patient_id, ctx.thread_id, exc) from exc
        answer = final.get("answer")
        if not answer:
            raise AgentError(f"The agent finished without an answer for Patient/{ctx.patient_id}.")
        return CitedAnswer.model_validate(answer)


async def ask(
    question: str,
    *,
    patient_id: str,
    source: RecordSource,
    model: ChatModel,
    thread_id: str | None = None,
    threads_db: str | Path | None = None,
    settings: AgentSettings | None = None,
    multimodal: bool = False,
    as_of: dt.date | None = None,
    on_token: OnToken | None = None,
    on_event: OnEvent | None = None,
    terminology: Terminology | None = None,
    checkpointer: Any = None,
) -> CitedAnswer:
    """Answer a question about one patient with verified citations (``terminology``: the
    deployment's, :func:`agent.config.build_terminology`; default the local data).

    ``checkpointer``: an open LangGraph checkpointer to keep the thread in (instead of
    opening ``threads_db`` for this call).

    Raises:
        AgentSourceFailed: the record source failed (the thread can be retried).
        tools.errors.PatientNotFound, agent.errors.ModelError: as raised below.
    """
    ctx = AgentContext(
        patient_id=patient_id,
        source=source,
        model=model,
        mode="ask",
        settings=settings or AgentSettings(),
        multimodal=multimodal,
        as_of=as_of,
        thread_id=thread_id,
        on_token=on_token,
        terminology=terminology,
    )
    return await _run(ctx, {"question": question}, threads_db, on_event, checkpointer)


async def brief(
    patient_id: str,
    *,
    source: RecordSource,
    model: ChatModel,
    settings: AgentSettings | None = None,
    as_of: dt.date | None = None,
    on_token: OnToken | None = None,
    on_event: OnEvent | None = None,
    terminology: Terminology | None = None,
) -> CitedAnswer:
    """A model-written pre-visit brief; every model sentence verified, extractive lines
    added (marked) where the model's sentences do not cover the extractive brief."""
    ctx = AgentContext(
        patient_id=patient_id,
        source=source,
        model=model,
        mode="brief",
        settings=settings or AgentSettings(),
        as_of=as_of,
        on_token=on_token,
        terminology=terminology,
    )
    return await _run(ctx, {"question": "pre-visit brief"}, None, on_event)


@dataclass(frozen=True, slots=True)
class PatientWarm:
    """What :func:`warm` did for one patient.

    Attributes:
        patient_id: the patient.
        supported: the model keeps warmed prefixes (False: nothing was done, e.g. an
            OpenAI-compatible server, which caches prefixes itself).
        prefix_tokens: the tokens of the warmed prefix (system prompt + record summary).
        evaluated_tokens: of those, evaluated by this call.
        cached: the prefix was already saved; nothing was computed.
        saved: the prefix is in the model's on-disk prefix cache now.
        seconds: the whole call; record_seconds: loading the record and building the summary.
    """

    patient_id: str
    supported: bool
    prefix_tokens: int
    evaluated_tokens: int
    cached: bool
    saved: bool
    seconds: float
    record_seconds: float


def warm_prompts(
    patient_id: str, summary: str, *, settings: AgentSettings, multimodal: bool = False
) -> list[list[Message]]:
    """Prompts whose shared token prefix is what every ask prompt for this record starts
    with: the plan and the compose prompt, the latter with and without tool results (they
    differ right after the summary block)."""
    common: dict[str, Any] = {
        "patient_id": patient_id,
        "question": "?",
        "summary": summary,
        "evidence_lines": [],
        "turns": [],
    }
    return [
        plan_messages(
            **common,
            observations=[],
            tool_lines=prompt_lines(multimodal=multimodal, allow_writes=settings.allow_writes),
            max_calls=settings.max_calls_per_step,
            last_round=False,
        ),
        compose_messages(**common, observations=[]),
        compose_messages(**common, observations=["tool():", "  result"]),
    ]


async def warm(
    patient_id: str,
    *,
    source: RecordSource,
    model: ChatModel,
    settings: AgentSettings | None = None,
    multimodal: bool = False,
    as_of: dt.date | None = None,
    terminology: Terminology | None = None,
) -> PatientWarm:
    """Load the record, build the summary the ask workflow uses, and have the model keep
    the prompt prefix it starts (system prompt + summary): the first question on this
    patient then evaluates only the question's own part. With a llama.cpp model and
    ``[model] disk_cache_dir`` the prefix is saved on disk (kept across restarts, shared by
    workers; content-addressed, so a changed record never reuses it).

    Raises:
        AgentSourceFailed, tools.errors.PatientNotFound, agent.errors.ModelError.
    """
    started = time.perf_counter()
    ctx = AgentContext(
        patient_id=patient_id,
        source=source,
        model=model,
        mode="ask",
        settings=settings or AgentSettings(),
        multimodal=multimodal,
        as_of=as_of,
        terminology=terminology,
    )
    try:
        _, summary = await record_summary(ctx)
    except SourceError as exc:
        raise AgentSourceFailed(patient_id, None, exc) from exc
    record_s = time.perf_counter() - started
    prompts = warm_prompts(
        patient_id, scrub(summary.text, patient_id), settings=ctx.settings, multimodal=multimodal
    )
    warm_fn = getattr(model, "warm", None)  # a duck-typed model may lack it
    result: WarmResult | None = await warm_fn(prompts) if warm_fn is not None else None
    return PatientWarm(
        patient_id=patient_id,
        supported=result is not None,
        prefix_tokens=result.prefix_tokens if result else 0,
        evaluated_tokens=result.evaluated_tokens if result else 0,
        cached=result.cached if result else False,
        saved=result.saved if result else False,
        seconds=time.perf_counter() - started,
        record_seconds=record_s,
    )


async def thread_answers(thread_id: str, *, checkpointer: Any) -> list[CitedAnswer]:
    """The verified answers of a thread's completed turns, oldest first (empty for an
    unknown thread). A turn interrupted by an error is not listed until it completes."""
    graph = build_graph(checkpointer)
    config = {"configurable": {"thread_id": thread_id}}
    answers: list[CitedAnswer] = []
    seen: set[str] = set()
    async for snap in graph.aget_state_history(config):
        values = snap.values or {}
        answer = values.get("answer")
        if snap.next or not answer:
            continue
        key = f"{values.get('turn')}:{answer.get('question')}:{answer.get('text')}"
        if key in seen:
            continue
        seen.add(key)
        answers.append(CitedAnswer.model_validate(answer))
    answers.reverse()
    return answers


async def delete_thread(thread_id: str, *, checkpointer: Any) -> None:
    """Remove every checkpoint of a thread."""
    await checkpointer.adelete_thread(thread_id)

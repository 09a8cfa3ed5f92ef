"""Public async entry points: :func:`ask` (multi-turn with ``thread_id``) and :func:`brief`.

::

    answer = await ask("Latest HbA1c?", patient_id=pid, source=store, model=model,
                       thread_id="visit-1", threads_db="threads.db")
    print(answer.to_markdown())

A thread is persisted with LangGraph's ``AsyncSqliteSaver``, encrypted
(:mod:`agent.threads`); a follow-up on the same thread reuses the evidence seen before.

When the record source fails mid-run, :class:`agent.errors.AgentSourceFailed` is raised
and the thread keeps its last completed step: asking the same question again on the
thread resumes from there.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from tools.errors import SourceError
from tools.source import RecordSource

from .answer import CitedAnswer
from .context import AgentContext, AgentSettings
from .errors import AgentError, AgentSourceFailed
from .events import AgentEvent, OnEvent
from .graph import build_graph
from .models import ChatModel, OnToken
from .threads import open_threads

__all__ = ["OnEvent", "ask", "brief"]


@contextlib.asynccontextmanager
async def _checkpointer(thread_id: str | None, threads_db: str | Path | None) -> AsyncIterator[Any]:
    if not thread_id:
        yield None
        return
    async with open_threads(threads_db) as saver:
        yield saver


async def _run(
    ctx: AgentContext,
    inputs: dict[str, Any],
    threads_db: str | Path | None,
    on_event: OnEvent | None,
) -> CitedAnswer:
    async with _checkpointer(ctx.thread_id, threads_db) as saver:
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
) -> CitedAnswer:
    """Answer a question about one patient with verified citations.

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
    )
    return await _run(ctx, {"question": question}, threads_db, on_event)


async def brief(
    patient_id: str,
    *,
    source: RecordSource,
    model: ChatModel,
    settings: AgentSettings | None = None,
    as_of: dt.date | None = None,
    on_token: OnToken | None = None,
    on_event: OnEvent | None = None,
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
    )
    return await _run(ctx, {"question": "pre-visit brief"}, None, on_event)

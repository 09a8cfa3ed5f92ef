"""Running the agent for a request: ``ask`` and the model brief, as JSON or as SSE.

Both paths check the patient first (404 before anything queues), resolve or start the
thread (a thread belongs to one patient and one caller), take a model slot (503 when
busy), run :func:`agent.run.ask` / :func:`agent.run.brief` on the warm model with the
worker's checkpointer, and commit the audit entry before the answer leaves.

**Server-Sent Events** (``Accept: text/event-stream``), in order:

================  ==============================================================
``thread``        ``{"thread_id", "request_id"}`` first (keep it to retry)
``token``         ``{"text"}``: draft prose as the model writes (not yet verified)
``status``,       the agent's progress events (:mod:`agent.events`, ``as_dict()``),
``model_start``,  ``tool_start``/``tool_end`` paired by ``call_id``
``tool_start``,
``tool_end``,
``verified``,
``record``        ``{"sentences"}``: the record's own entries for the question (cited,
                  extractive) before the model writes; the ``answer`` supersedes them
``usage``         model calls, tokens, prompt-cache hits, time to first token;
                  ``calls``: the same per model call (with its ``seconds``)
``answer``        the verified ``CitedAnswer`` (its JSON form): the last event
``error``         an ``OperationOutcome`` instead of the answer: the last event
================  ==============================================================

A client that disconnects cancels the run: the agent task is cancelled, which stops the
model between tokens (llama.cpp checks a stop flag; an HTTP model request is closed), and
the audit records status 499. A JSON request is cancelled the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable
from typing import Any, Literal, TypeVar

import anyio
from fastapi import Request

from agent._stream import SentenceStreamer
from agent.answer import CitedAnswer
from agent.errors import ModelTimeout
from agent.events import AgentEvent
from agent.models import Usage
from agent.run import ask as agent_ask
from agent.run import brief as agent_brief
from tools.errors import AssistantError, PatientNotFound, ResourceNotFound

from ._context import RequestContext
from ._errors import NotFound, NotReady, PayloadTooLarge, hint_of, outcome, status_of
from ._state import ServiceState, usage_meter

__all__ = ["AgentRun", "check_model_ready", "check_patient", "run_json", "run_sse"]

log = logging.getLogger("surfaces.service")

T = TypeVar("T")
Mode = Literal["ask", "brief"]


async def check_patient(rq: RequestContext, patient_id: str) -> None:
    """404 (``PatientNotFound``) unless the source holds ``Patient/{patient_id}``."""
    try:
        await rq.source.read(f"Patient/{patient_id}")
    except ResourceNotFound:
        raise PatientNotFound(patient_id, rq.state.source.label) from None


def check_model_ready(state: ServiceState) -> None:
    """503 (``NotReady``) while the model is loading or after it failed to load."""
    if state.model_error:
        raise NotReady(f"The model failed to load: {state.model_error}", 60)
    if not state.model_loaded:
        raise NotReady("The model is still loading; see /ready.", 10)


def usage_dict(meter: list[Usage]) -> dict[str, Any]:
    ttfts = [u.ttft_s for u in meter if u.ttft_s is not None]
    cached = [u.cached_prompt_tokens for u in meter if u.cached_prompt_tokens is not None]
    return {
        "model_calls": len(meter),
        "prompt_tokens": sum(u.prompt_tokens for u in meter),
        "completion_tokens": sum(u.completion_tokens for u in meter),
        "cached_prompt_tokens": sum(cached) if cached else None,
        "first_call_ttft_s": round(ttfts[0], 3) if ttfts else None,
        "calls": [
            {
                "prompt_tokens": u.prompt_tokens,
                "cached_prompt_tokens": u.cached_prompt_tokens,
                "completion_tokens": u.completion_tokens,
                "ttft_s": round(u.ttft_s, 3) if u.ttft_s is not None else None,
                "seconds": round(u.seconds, 3),
            }
            for u in meter
        ],
    }


class AgentRun:
    """One ``ask`` or model brief for a request (see the module docstring)."""

    def __init__(
        self,
        rq: RequestContext,
        patient_id: str,
        mode: Mode,
        question: str = "",
        thread_id: str | None = None,
    ) -> None:
        self.rq = rq
        self.state: ServiceState = rq.state
        self.patient_id = patient_id
        self.mode = mode
        self.question = question
        self.thread_id = thread_id
        self.meter: list[Usage] = []
        self.started = time.perf_counter()

    async def prepare(self) -> None:
        """Everything before the model: limits, the patient, the thread, readiness."""
        state = self.state
        limit = state.deployment.service.limits.max_question_chars
        if len(self.question) > limit:
            raise PayloadTooLarge(
                f"The question has {len(self.question)} characters; this service accepts at "
                f"most {limit} ([service.limits] max_question_chars). Shorten it."
            )
        await check_patient(self.rq, self.patient_id)
        if self.mode == "ask":
            await self._thread()
        check_model_ready(state)

    async def _thread(self) -> None:
        state, who = self.state, self.rq.entry.who
        if self.thread_id:
            info = await state.threads.get(self.thread_id)
            if info is None or info.owner != who:
                raise NotFound(
                    f"No thread {self.thread_id!r} of this caller. Omit thread_id to start a "
                    "new one, or list the patient's threads at /v1/patients/{id}/threads."
                )
            if info.patient_id != self.patient_id:
                raise NotFound(
                    f"Thread {self.thread_id!r} belongs to another patient than "
                    f"Patient/{self.patient_id}; a thread stays with its patient."
                )
        else:
            self.thread_id = uuid.uuid4().hex
            await state.threads.create(self.thread_id, self.patient_id, who)
        self.rq.entry.thread_id = self.thread_id

    async def execute(self, on_token: Any = None, on_event: Any = None) -> CitedAnswer:
        """Run the agent in a model slot; the usage lands in :attr:`meter`."""
        state = self.state
        timeout = state.deployment.service.limits.request_timeout_s
        self.rq.entry.model = state.model.name
        async with state.gate.slot():
            token = usage_meter.set(self.meter)
            try:
                async with asyncio.timeout(timeout):
                    if self.mode == "ask":
                        answer = await agent_ask(
                            self.question,
                            patient_id=self.patient_id,
                            source=self.rq.source,
                            model=state.model,
                            thread_id=self.thread_id,
                            checkpointer=state.checkpointer,
                            settings=state.settings,
                            terminology=state.terminology,
                            multimodal=state.multimodal,
                            on_token=on_token,
                            on_event=on_event,
                        )
                    else:
                        answer = await agent_brief(
                            self.patient_id,
                            source=self.rq.source,
                            model=state.model,
                            settings=state.settings,
                            terminology=state.terminology,
                            on_token=on_token,
                            on_event=on_event,
                        )
            except TimeoutError:
                raise ModelTimeout(
                    f"The {self.mode} request",
                    timeout,
                    "Raise [service.limits] request_timeout_s or use a faster model.",
                ) from None
            finally:
                usage_meter.reset(token)
        if self.thread_id:
            await state.threads.touch(self.thread_id)
        return answer

    def cited(self, answer: CitedAnswer) -> list[str]:
        return [c.reference for c in answer.cited]


async def _until_disconnect(request: Request, work: Awaitable[T]) -> T:
    """Await ``work``; cancel it if the client goes away first (raises CancelledError)."""
    task: asyncio.Task[T] = asyncio.ensure_future(work)

    async def gone() -> None:
        while True:
            message = await request.receive()
            if message["type"] == "http.disconnect":
                return

    watcher = asyncio.create_task(gone())
    try:
        done, _ = await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            return task.result()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        raise asyncio.CancelledError("client disconnected")
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await watcher


async def run_json(run: AgentRun) -> tuple[CitedAnswer, dict[str, Any]]:
    """The JSON path: the verified answer and its usage (audit committed)."""
    await run.prepare()
    try:
        answer = await _until_disconnect(run.rq.request, run.execute())
    except asyncio.CancelledError:
        with anyio.CancelScope(shield=True):
            await run.rq.commit(499, "ClientDisconnected")
        raise
    run.rq.entry.resources = run.cited(answer)
    await run.rq.commit(200)
    return answer, usage_dict(run.meter)


def _event(name: str, data: Any) -> dict[str, Any]:
    import orjson

    return {"event": name, "data": orjson.dumps(data).decode()}


async def run_sse(run: AgentRun) -> AsyncIterator[dict[str, Any]]:
    """The SSE path (events in the module docstring). ``prepare()`` has been awaited."""
    queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
    streamer = SentenceStreamer()
    rq = run.rq

    def on_token(chunk: str) -> None:
        text = streamer.feed(chunk)
        if text:
            queue.put_nowait(("token", {"text": text}))

    def on_event(event: AgentEvent) -> None:
        queue.put_nowait((event.type, event.as_dict()))

    yield _event("thread", {"thread_id": run.thread_id, "request_id": rq.entry.request_id})
    task = asyncio.create_task(run.execute(on_token, on_event))
    finished = False
    try:
        while True:
            getter = asyncio.create_task(queue.get())
            done, _ = await asyncio.wait({getter, task}, return_when=asyncio.FIRST_COMPLETED)
            if getter in done:
                name, data = getter.result()
                yield _event(name, data)
                continue
            getter.cancel()
            break
        while not queue.empty():
            name, data = queue.get_nowait()
            yield _event(name, data)
        tail = streamer.close()
        if tail.strip():
            yield _event("token", {"text": tail})
        try:
            answer = task.result()
            rq.entry.resources = run.cited(answer)
            await rq.commit(200)
        except AssistantError as exc:
            status, code = status_of(exc)
            with contextlib.suppress(AssistantError):
                await rq.commit(status, type(exc).__name__)
            finished = True
            log.warning("stream %s failed: %s", rq.entry.request_id, type(exc).__name__)
            yield _event("error", outcome(code, f"{exc}{hint_of(exc)}"))
            return
        finished = True
        yield _event("usage", usage_dict(run.meter))
        yield _event("answer", answer.as_dict())
    except Exception as exc:  # an unexpected failure still ends the stream with an error
        finished = True
        log.exception("stream %s failed", rq.entry.request_id)
        with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
            await rq.commit(500, type(exc).__name__)
        yield _event(
            "error",
            outcome("exception", f"Internal error (request id {rq.entry.request_id})."),
        )
    finally:
        if not task.done():
            task.cancel()
        with anyio.CancelScope(shield=True):
            with contextlib.suppress(BaseException):
                await task
            if not finished and not rq.committed:  # the client went away
                with contextlib.suppress(Exception):
                    await rq.commit(499, "ClientDisconnected")

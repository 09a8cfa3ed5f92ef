"""Model endpoints: ``ask`` (multi-turn, in a thread), the model-written brief, and
``warm`` (prepare a patient's prompt prefix before the first question).

Both answer JSON (a verified ``CitedAnswer``) or, with ``Accept: text/event-stream``,
Server-Sent Events (see :mod:`surfaces.service._agent` for the events).
"""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from sse_starlette import EventSourceResponse

from agent.errors import ModelTimeout
from agent.run import warm as agent_warm

from ._agent import AgentRun, Mode, check_model_ready, check_patient, run_json, run_sse
from ._context import RECORD, RequestContext, access
from ._errors import error_responses
from ._schemas import AnswerOut, AskRequest, PatientId, WarmOut

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["agent"])

_SSE_DOC = (
    "With `Accept: text/event-stream` the answer streams as Server-Sent Events: `thread`, "
    "then `token` (draft prose, not yet verified), `status` / `model_start` / `tool_start` "
    "/ `tool_end` / `verified` (progress, `tool_start`/`tool_end` paired by `call_id`), "
    "`usage`, and last `answer` (the verified CitedAnswer) or `error` (an "
    "OperationOutcome). Disconnecting cancels the run."
)
_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The verified answer (JSON), or its event stream (SSE)",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
        "headers": {
            "X-Thread-Id": {
                "description": "the thread (continue it with `thread_id`)",
                "schema": {"type": "string"},
            },
        },
    },
    **error_responses(400, 401, 403, 404, 413, 422, 500, 502, 503, 504),
}


def _wants_stream(request: Request) -> bool:
    return "text/event-stream" in request.headers.get("accept", "")


async def _answer(run: AgentRun, request: Request) -> Response:
    if _wants_stream(request):
        await run.prepare()  # errors before the stream starts are plain OperationOutcomes
        headers = {"X-Request-Id": run.rq.entry.request_id, "Cache-Control": "no-store"}
        if run.thread_id:
            headers["X-Thread-Id"] = run.thread_id
        return EventSourceResponse(run_sse(run), ping=15, headers=headers)
    answer, usage = await run_json(run)
    headers = {"X-Model-Usage": orjson.dumps(usage).decode()}
    if run.thread_id:
        headers["X-Thread-Id"] = run.thread_id
    return JSONResponse(answer.as_dict(), headers=headers)


def _run(
    rq: RequestContext,
    patient_id: str,
    mode: Mode,
    question: str = "",
    thread_id: str | None = None,
) -> AgentRun:
    return AgentRun(rq, patient_id, mode, question, thread_id)


@router.post(
    "/patients/{patient_id}/ask",
    summary="Ask a question about the patient; every sentence verified against its citations",
    description=_SSE_DOC,
    response_model=AnswerOut,
    responses=_RESPONSES,
)
async def ask(
    patient_id: PatientId,
    body: AskRequest,
    request: Request,
    rq: Annotated[RequestContext, Depends(access("ask", RECORD, interaction="operation"))],
) -> Response:
    return await _answer(_run(rq, patient_id, "ask", body.question, body.thread_id), request)


@router.post(
    "/patients/{patient_id}/brief/model",
    summary="The model-written pre-visit brief (verified; extractive lines fill the gaps)",
    description=_SSE_DOC,
    response_model=AnswerOut,
    responses=_RESPONSES,
)
async def model_brief(
    patient_id: PatientId,
    request: Request,
    rq: Annotated[
        RequestContext, Depends(access("patient.brief.model", RECORD, interaction="operation"))
    ],
) -> Response:
    return await _answer(_run(rq, patient_id, "brief"), request)


@router.post(
    "/patients/{patient_id}/warm",
    summary="Prepare the patient's prompt prefix (system prompt + record summary) so the "
    "first question evaluates only its own part",
    description="Loads the record, builds the summary the ask workflow uses and has the model "
    "evaluate and keep the prompt prefix every question on this patient starts with. With a "
    "llama.cpp model and `[model] disk_cache_dir` it is saved on disk (content-addressed: a "
    "changed record is never served a stale prefix). Queues for the model like `ask`. A model "
    "without its own prefix cache answers `supported: false` and does nothing.",
    response_model=WarmOut,
    responses=error_responses(401, 403, 404, 422, 500, 502, 503, 504),
)
async def warm(
    patient_id: PatientId,
    rq: Annotated[RequestContext, Depends(access("patient.warm", RECORD, interaction="operation"))],
) -> WarmOut:
    state = rq.state
    await check_patient(rq, patient_id)
    check_model_ready(state)
    rq.entry.model = state.model.name
    timeout = state.deployment.service.limits.request_timeout_s
    started = time.perf_counter()
    async with state.gate.slot():
        try:
            async with asyncio.timeout(timeout):
                done = await agent_warm(
                    patient_id,
                    source=rq.source,
                    model=state.model,
                    settings=state.settings,
                    terminology=state.terminology,
                    multimodal=state.multimodal,
                )
        except TimeoutError:
            raise ModelTimeout(
                "Warming the patient",
                timeout,
                "Raise [service.limits] request_timeout_s or use a faster model.",
            ) from None
    body = WarmOut(
        patient=patient_id,
        model=state.model.name,
        supported=done.supported,
        prefix_tokens=done.prefix_tokens,
        evaluated_tokens=done.evaluated_tokens,
        cached=done.cached,
        saved=done.saved,
        seconds=round(time.perf_counter() - started, 3),
        record_seconds=round(done.record_seconds, 3),
    )
    return await rq.done(body)

"""Model endpoints: ``ask`` (multi-turn, in a thread) and the model-written brief.

Both answer JSON (a verified ``CitedAnswer``) or, with ``Accept: text/event-stream``,
Server-Sent Events (see :mod:`surfaces.service._agent` for the events).
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from sse_starlette import EventSourceResponse

from ._agent import AgentRun, Mode, run_json, run_sse
from ._context import RECORD, RequestContext, access
from ._errors import error_responses
from ._schemas import AnswerOut, AskRequest, PatientId

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

"""Conversation threads: list a patient's, read one (its verified answers), delete one.

A thread belongs to one patient and to the caller who started it: another caller gets
404, and a caller bound to another patient 403 (as for the patient's record itself).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from agent.run import delete_thread as agent_delete_thread
from agent.run import thread_answers

from ._context import RECORD, RequestContext, access
from ._errors import NotFound, error_responses
from ._schemas import AnswerOut, PatientId, ThreadDetail, ThreadId, ThreadList, ThreadOut
from ._threads import ThreadInfo

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["threads"])

_ERRORS = error_responses(401, 403, 404, 422, 500, 503)


def _out(info: ThreadInfo) -> ThreadOut:
    return ThreadOut(**{k: getattr(info, k) for k in ThreadInfo.__slots__})


async def _owned(rq: RequestContext, thread_id: str) -> ThreadInfo:
    """The caller's thread, after the patient checks of a record read (404 otherwise)."""
    info = await rq.state.threads.get(thread_id)
    if info is None or info.owner != rq.entry.who:
        raise NotFound(f"No thread {thread_id!r} of this caller.")
    rq.entry.patient_id = info.patient_id
    rq.entry.thread_id = thread_id
    assert rq.principal is not None
    rq.principal.require(RECORD, "rs", patient_id=info.patient_id, what="this thread")
    return info


@router.get(
    "/patients/{patient_id}/threads",
    summary="The caller's conversation threads about this patient, most recent first",
    response_model=ThreadList,
    responses=_ERRORS,
)
async def list_threads(
    patient_id: PatientId,
    rq: Annotated[RequestContext, Depends(access("threads.list", RECORD))],
) -> ThreadList:
    found = await rq.state.threads.for_patient(patient_id, rq.entry.who)
    return await rq.done(ThreadList(threads=[_out(t) for t in found]))


@router.get(
    "/threads/{thread_id}",
    summary="One thread with the verified answers of its turns",
    response_model=ThreadDetail,
    responses=_ERRORS,
)
async def read_thread(
    thread_id: ThreadId,
    rq: Annotated[RequestContext, Depends(access("thread.read", (), patient_param=None))],
) -> ThreadDetail:
    info = await _owned(rq, thread_id)
    answers = await thread_answers(thread_id, checkpointer=rq.state.checkpointer)
    body = ThreadDetail(
        **_out(info).model_dump(),
        answers=[AnswerOut.model_validate(a.as_dict()) for a in answers],
    )
    cited = [c.reference for a in answers for c in a.cited]
    return await rq.done(body, cited=cited)


@router.delete(
    "/threads/{thread_id}",
    summary="Delete a thread and every checkpoint of it",
    status_code=204,
    response_class=Response,
    responses={204: {"description": "Deleted"}, **_ERRORS},
)
async def delete_thread(
    thread_id: ThreadId,
    rq: Annotated[
        RequestContext,
        Depends(access("thread.delete", (), interaction="delete", patient_param=None)),
    ],
) -> Response:
    await _owned(rq, thread_id)
    await agent_delete_thread(thread_id, checkpointer=rq.state.checkpointer)
    await rq.state.threads.delete(thread_id)
    await rq.done(None, status=204)
    return Response(status_code=204)

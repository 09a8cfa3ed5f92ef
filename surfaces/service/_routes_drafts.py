"""Draft endpoints: create (brief or answer), read, list, approve (with edits), reject, write.

Nothing reaches the record until a person approves: ``approve`` writes one FHIR
transaction (Device, DocumentReference, Provenance) to the deployment's source, reads it
back and answers with the references written; approving again returns the same ones.
``write`` of a draft nobody approved answers 428 with an OperationOutcome. See
:mod:`tools.drafts`.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from tools.drafts import ApproveResult, Draft, WriteBack
from tools.writeback import Person

from ._agent import AgentRun, check_patient, run_json
from ._context import RECORD, RequestContext, access
from ._errors import NotFound, error_responses
from ._schemas import THREAD_ID, PatientId

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["drafts"])

DraftId = Annotated[
    str, Path(pattern=r"^[A-Za-z0-9_\-]{1,64}$", description="the draft id (`draft_id`)")
]
_WRITE_TYPES = ("DocumentReference", "Provenance", "Device")
_ERRORS = error_responses(400, 401, 403, 404, 409, 422, 428, 500, 502, 503, 504)


class CreateDraft(BaseModel):
    """What to draft: a pre-visit brief (extractive now, or model-written), or the answer
    to a question (model)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["brief", "answer"] = "brief"
    extractive: bool = Field(True, description="brief only: no model, every line from the record")
    question: str | None = Field(None, min_length=1, description="kind=answer: the question")
    thread_id: str | None = Field(None, pattern=THREAD_ID, description="kind=answer: a thread")
    appointment: str | None = Field(
        None, pattern=r"^Appointment/[A-Za-z0-9\-.]{1,64}$", description="link the document to it"
    )


class Approve(BaseModel):
    """An approval: optionally the approver's edited Markdown (replaces the text)."""

    model_config = ConfigDict(extra="forbid")

    edits: str | None = Field(None, description="the approved text, edited (Markdown)")
    practitioner: str | None = Field(
        None,
        pattern=r"^(Practitioner|PractitionerRole)/[A-Za-z0-9\-.]{1,64}$",
        description="the approver's FHIR resource (the authenticated user is always recorded)",
    )
    display: str | None = Field(None, max_length=200, description="the approver's name")


class Reject(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=4000, description="what is wrong with the draft")


class DraftList(BaseModel):
    drafts: list[dict[str, Any]]


def desk_of(rq: RequestContext) -> WriteBack:
    desk = rq.state.writeback
    if desk is None:  # pragma: no cover - open_state always builds it
        raise NotFound("Drafts are not available on this service.")
    return desk


async def _load(rq: RequestContext, draft_id: str, needed: str, types: tuple[str, ...]) -> Draft:
    """The draft, if the caller may touch its patient's record (else 404/403)."""
    draft = await desk_of(rq).get(draft_id)
    rq.entry.patient_id = draft.patient_id
    assert rq.principal is not None
    rq.principal.require(types, needed, patient_id=draft.patient_id, what=rq.entry.action)
    return draft


async def _extras_allowed(rq: RequestContext, draft: Draft) -> None:
    """The resources written with the document (e.g. an intake's QuestionnaireResponse)
    need the create scope of their types too."""
    types = tuple(dict.fromkeys(str(e.resource.get("resourceType")) for e in draft.extras))
    if types:
        assert rq.principal is not None
        rq.principal.require(types, "c", patient_id=draft.patient_id, what=rq.entry.action)


def _approver(rq: RequestContext, body: Approve) -> Person:
    p = rq.principal
    assert p is not None
    return Person(
        reference=body.practitioner,
        display=body.display or p.who,
        system=p.system or None,
        value=p.who,
    )


@router.post(
    "/patients/{patient_id}/drafts",
    summary="Draft a brief or an answer for review (nothing is written to the record)",
    status_code=201,
    response_model=Draft,
    responses=_ERRORS,
)
async def create(
    patient_id: PatientId,
    body: CreateDraft,
    rq: Annotated[RequestContext, Depends(access("draft.create", RECORD, interaction="operation"))],
) -> JSONResponse:
    state = rq.state
    desk = desk_of(rq)
    deployment = state.deployment
    from surfaces.drafting import draft_answer, draft_brief

    if body.kind == "brief" and body.extractive:
        await check_patient(rq, patient_id)
        draft = await draft_brief(
            desk,
            patient_id,
            deployment=deployment,
            source=rq.source,
            extractive=True,
            created_by=rq.entry.who,
            appointment=body.appointment,
        )
        await rq.done(None, cited=[c.reference for c in draft.citations], status=201)
    else:
        if body.kind == "answer" and not body.question:
            from tools.errors import DraftError

            raise DraftError("kind=answer needs a `question`.")
        mode: Literal["ask", "brief"] = "ask" if body.kind == "answer" else "brief"
        run = AgentRun(rq, patient_id, mode, body.question or "", body.thread_id)
        answer, _ = await run_json(run)
        draft = await draft_answer(
            desk,
            answer,
            deployment=deployment,
            model_name=state.model.name,
            created_by=rq.entry.who,
            appointment=body.appointment,
        )
    return JSONResponse(draft.model_dump(mode="json"), status_code=201)


@router.get(
    "/patients/{patient_id}/drafts",
    summary="The patient's drafts, newest first (no texts)",
    response_model=DraftList,
    responses=_ERRORS,
)
async def for_patient(
    patient_id: PatientId,
    rq: Annotated[RequestContext, Depends(access("draft.list", ("DocumentReference",)))],
    status: Annotated[
        Literal["pending", "draft", "approved", "written", "rejected", "failed"] | None, Query()
    ] = None,
) -> DraftList:
    drafts = await desk_of(rq).find(patient_id=patient_id, status=status)
    return await rq.done(DraftList(drafts=[d.summary() for d in drafts]))


@router.get(
    "/drafts/{draft_id}",
    summary="One draft: its text, citations, status, approval, edits and what was written",
    description="With `Accept: text/markdown`: the text (the approved one once approved).",
    response_model=Draft,
    responses={
        200: {"content": {"text/markdown": {"schema": {"type": "string"}}}},
        **_ERRORS,
    },
)
async def get(
    draft_id: DraftId,
    request: Request,
    rq: Annotated[
        RequestContext,
        Depends(access("draft.read", ("DocumentReference",), patient_param=None)),
    ],
) -> Response:
    draft = await _load(rq, draft_id, "rs", ("DocumentReference",))
    await rq.done(None, cited=[c.reference for c in draft.citations])
    if "text/markdown" in request.headers.get("accept", ""):
        text = draft.approved_markdown or draft.markdown
        if draft.status == "pending":
            text = "_The model brief is still being written; reload in a minute._\n"
        return PlainTextResponse(text, media_type="text/markdown; charset=utf-8")
    return JSONResponse(draft.model_dump(mode="json"))


@router.post(
    "/drafts/{draft_id}/approve",
    summary="Approve a draft (optionally with edits) and write it to the record",
    response_model=ApproveResult,
    responses=_ERRORS,
)
async def approve(
    draft_id: DraftId,
    body: Approve,
    rq: Annotated[
        RequestContext,
        Depends(
            access(
                "draft.approve",
                _WRITE_TYPES,
                interaction="transaction",
                needed="c",
                patient_param=None,
            )
        ),
    ],
) -> ApproveResult:
    await _extras_allowed(rq, await _load(rq, draft_id, "c", _WRITE_TYPES))
    result = await desk_of(rq).approve(draft_id, _approver(rq, body), edits=body.edits)
    return await rq.done(result, cited=result.written)


@router.post(
    "/drafts/{draft_id}/write",
    summary="Write an approved draft (retry after a failed write); 428 if not approved",
    response_model=ApproveResult,
    responses=_ERRORS,
)
async def write(
    draft_id: DraftId,
    rq: Annotated[
        RequestContext,
        Depends(
            access(
                "draft.write",
                _WRITE_TYPES,
                interaction="transaction",
                needed="c",
                patient_param=None,
            )
        ),
    ],
) -> ApproveResult:
    await _extras_allowed(rq, await _load(rq, draft_id, "c", _WRITE_TYPES))
    result = await desk_of(rq).write(draft_id)
    return await rq.done(result, cited=result.written)


@router.post(
    "/drafts/{draft_id}/reject",
    summary="Reject a draft (never written); the reason is kept as feedback",
    response_model=Draft,
    responses=_ERRORS,
)
async def reject(
    draft_id: DraftId,
    body: Reject,
    rq: Annotated[
        RequestContext,
        Depends(
            access(
                "draft.reject",
                ("DocumentReference",),
                interaction="update",
                needed="c",
                patient_param=None,
            )
        ),
    ],
) -> JSONResponse:
    await _load(rq, draft_id, "c", ("DocumentReference",))
    assert rq.principal is not None
    draft = await desk_of(rq).reject(draft_id, body.reason, who=rq.principal.who)
    await rq.done(None)
    return JSONResponse(draft.model_dump(mode="json"))


class BatchRequest(BaseModel):
    """Draft a brief for every booked appointment of a day (resumable; nothing written)."""

    model_config = ConfigDict(extra="forbid")

    date: dt.date = Field(description="the day of the appointments (YYYY-MM-DD)")
    model: bool = Field(False, description="model-written briefs (slow on CPU); else extractive")
    concurrency: int | None = Field(None, ge=1, le=64, description="briefs drafted at once")


@router.post(
    "/batch/appointments",
    summary="Draft briefs for a day's booked appointments (resumable; a summary of failures)",
    responses=_ERRORS,
)
async def batch(
    body: BatchRequest,
    rq: Annotated[
        RequestContext,
        Depends(
            access(
                "batch.appointments",
                (*RECORD, "Appointment"),
                interaction="operation",
                patient_param=None,
                unbound_only=True,
            )
        ),
    ],
) -> dict[str, Any]:
    from surfaces.batch import run_batch

    state = rq.state
    report = await run_batch(
        desk_of(rq),
        body.date.isoformat(),
        deployment=state.deployment,
        source=rq.source,
        model=state.model if body.model else None,
        concurrency=body.concurrency or state.deployment.writeback.batch_concurrency,
        created_by=rq.entry.who,
        model_slot=state.gate.slot,
    )
    rq.entry.patients_found = sorted({i.patient for i in report.items if i.patient})
    return await rq.done(report.as_dict())

"""Pre-visit intake endpoints: start, the current question, answer, finish → draft.

::

    POST /v1/patients/{id}/intake                       start (consent checked first) → turn
    GET  /v1/patients/{id}/intake/{thread_id}           the question waiting (pause/resume:
                                                        the same question after a closed browser)
    POST /v1/patients/{id}/intake/{thread_id}/answer    {"answer": "…"} → the next turn
    POST /v1/patients/{id}/intake/{thread_id}/finish    → a draft (brief + QuestionnaireResponse)

A turn is ``{"thread_id", "status": question|complete|refused, "question": {…}}``. Every
answer is checkpointed (the service's encrypted checkpointer). A patient who declines
consent gets 403 with the refusal; nothing of the record was read. Same auth and audit
as the other record routes: reading the record (``rs``); the consent answer also needs
``c`` on ``Consent`` (a "yes" writes one); finishing creates a draft, written only when a
person approves it (``POST /v1/drafts/{id}/approve``, which then also needs ``c`` on
``QuestionnaireResponse``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from agent.intake import (
    AnswerValue,
    IntakeRunner,
    PlannedQuestion,
    Turn,
    model_reader,
    model_rephraser,
)

from ._context import RECORD, RequestContext, access
from ._errors import NotFound, error_responses
from ._schemas import THREAD_ID, PatientId

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["intake"])

IntakeThread = Annotated[
    str, Path(pattern=THREAD_ID, description="the intake's thread id (from start)")
]
_ERRORS = error_responses(400, 401, 403, 404, 409, 422, 500, 502, 503, 504)


class StartIntake(BaseModel):
    """What plans the interview: an appointment (its reason) and/or the reason as text."""

    model_config = ConfigDict(extra="forbid")

    appointment: str | None = Field(
        None,
        pattern=r"^(Appointment/)?[A-Za-z0-9\-.]{1,64}$",
        description="the appointment (`Appointment/ID` or its id): its reason plans the questions",
    )
    reason: str | None = Field(None, max_length=500, description="the reason for the visit")
    encounter: str | None = Field(
        None, pattern=r"^Encounter/[A-Za-z0-9\-.]{1,64}$", description="link the answers to it"
    )


class AnswerIn(BaseModel):
    """The patient's answer, as typed (stored verbatim; "skip" and "I don't know" count)."""

    model_config = ConfigDict(extra="forbid")

    answer: str = Field(max_length=4000, description="the patient's words")


class Question(BaseModel):
    """The question waiting for an answer."""

    kind: Literal["consent", "question"]
    link_id: str = Field(description="the Questionnaire item's linkId (`consent` for consent)")
    text: str
    type: Literal["boolean", "choice", "quantity", "date", "string"]
    options: list[str] = Field(default_factory=list)
    follow_up: bool = Field(description="true when the first answer was unclear")
    number: int = Field(description="its number among the questions asked (0: consent)")
    planned: int = Field(description="questions planned (at most 20; some may not be asked)")


class IntakeTurn(BaseModel):
    """Where the interview stands."""

    thread_id: str
    patient_id: str
    status: Literal["question", "complete", "refused"]
    question: Question | None = None
    asked: int
    planned: int


class IntakeFinished(BaseModel):
    """A finished interview: the draft for review, its QuestionnaireResponse and brief."""

    draft_id: str
    questionnaire_response: dict[str, Any]
    brief: dict[str, Any] = Field(description="the cited brief (as `ask` answers)")
    discrepancies: list[dict[str, Any]]


def _runner(rq: RequestContext) -> IntakeRunner:
    state = rq.state
    cfg = state.deployment.intake
    reader = rephraser = None
    if cfg.model_parsing and state.model is not None:
        read = model_reader(state.model)

        async def gated_read(q: PlannedQuestion, words: str) -> AnswerValue | None:
            async with state.gate.slot():  # the model queue of every other model request
                return await read(q, words)

        reader = gated_read
    if cfg.model_rephrase and state.model is not None:
        phrase = model_rephraser(state.model)

        async def gated_phrase(q: PlannedQuestion) -> str | None:
            async with state.gate.slot():
                return await phrase(q)

        rephraser = gated_phrase
    return IntakeRunner(rq.source, state.checkpointer, cfg, reader=reader, rephraser=rephraser)


def _out(turn: Turn) -> IntakeTurn:
    return IntakeTurn.model_validate(turn.as_dict())


async def _own(rq: RequestContext, runner: IntakeRunner, patient_id: str, thread_id: str) -> Turn:
    turn = await runner.current(thread_id)
    if turn.patient_id != patient_id:
        raise NotFound(f"No intake {thread_id!r} for Patient/{patient_id}.")
    return turn


@router.post(
    "/patients/{patient_id}/intake",
    summary="Start a pre-visit interview (consent first): the first question",
    status_code=201,
    response_model=IntakeTurn,
    responses=_ERRORS,
)
async def start(
    patient_id: PatientId,
    body: StartIntake,
    rq: Annotated[RequestContext, Depends(access("intake.start", RECORD, interaction="operation"))],
) -> JSONResponse:
    turn = await _runner(rq).start(
        patient_id, appointment=body.appointment, reason=body.reason, encounter=body.encounter
    )
    await rq.done(None, status=201)
    return JSONResponse(_out(turn).model_dump(mode="json"), status_code=201)


@router.get(
    "/patients/{patient_id}/intake/{thread_id}",
    summary="The question waiting for an answer (the same one after a pause or a crash)",
    response_model=IntakeTurn,
    responses=_ERRORS,
)
async def current(
    patient_id: PatientId,
    thread_id: IntakeThread,
    rq: Annotated[RequestContext, Depends(access("intake.read", RECORD))],
) -> IntakeTurn:
    turn = await _own(rq, _runner(rq), patient_id, thread_id)
    return await rq.done(_out(turn))


@router.post(
    "/patients/{patient_id}/intake/{thread_id}/answer",
    summary="Answer the waiting question; the next turn (403 when consent is declined)",
    response_model=IntakeTurn,
    responses=_ERRORS,
)
async def answer(
    patient_id: PatientId,
    thread_id: IntakeThread,
    body: AnswerIn,
    rq: Annotated[
        RequestContext, Depends(access("intake.answer", RECORD, interaction="operation"))
    ],
) -> IntakeTurn:
    runner = _runner(rq)
    turn = await _own(rq, runner, patient_id, thread_id)
    if turn.question and turn.question.get("kind") == "consent":
        assert rq.principal is not None
        rq.principal.require(("Consent",), "c", patient_id=patient_id, what="intake.consent")
    turn = await runner.answer(thread_id, body.answer)
    return await rq.done(_out(turn))


@router.post(
    "/patients/{patient_id}/intake/{thread_id}/finish",
    summary="Finish a complete interview: its brief and QuestionnaireResponse as a draft",
    status_code=201,
    response_model=IntakeFinished,
    responses=_ERRORS,
)
async def finish(
    patient_id: PatientId,
    thread_id: IntakeThread,
    rq: Annotated[
        RequestContext, Depends(access("intake.finish", RECORD, interaction="operation"))
    ],
) -> JSONResponse:
    from surfaces.drafting import draft_intake

    runner = _runner(rq)
    await _own(rq, runner, patient_id, thread_id)
    outcome = await runner.finish(thread_id)
    desk = rq.state.writeback
    if desk is None:  # pragma: no cover - open_state always builds it
        raise NotFound("Drafts are not available on this service.")
    draft = await draft_intake(
        desk, outcome, deployment=rq.state.deployment, created_by=rq.entry.who
    )
    body = IntakeFinished(
        draft_id=draft.id,
        questionnaire_response=outcome.questionnaire_response,
        brief=outcome.brief.as_dict(),
        discrepancies=outcome.as_dict()["discrepancies"],
    )
    await rq.done(None, cited=[c.reference for c in draft.citations], status=201)
    return JSONResponse(body.model_dump(mode="json"), status_code=201)

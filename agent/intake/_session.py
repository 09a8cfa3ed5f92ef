"""Running an interview: start, the current question, answer, finish (one API for the
CLI and the HTTP service).

::

    async with open_checkpointer(threads_db) as saver:
        runner = IntakeRunner(source, saver, deployment.intake)
        turn = await runner.start("p1", appointment="Appointment/a1")
        while turn.status == "question":
            turn = await runner.answer(turn.thread_id, input(turn.question["text"]))
        outcome = await runner.finish(turn.thread_id)     # QuestionnaireResponse + brief

Every answer is checkpointed (the encrypted checkpointer of :mod:`agent.threads`), so
``runner.current(thread_id)`` after a crash returns the same question. The consent
check is the only read before the patient agrees; a "no" raises
:class:`agent.errors.ConsentRefused`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any, Literal

from langgraph.types import Command

from tools.config import IntakeConfig
from tools.drafts import now_instant
from tools.errors import ResourceNotFound
from tools.source import RecordSource
from tools.terminology import Terminology

from ..errors import ConsentRefused, IntakeNotFound, IntakeStateError
from ._consent import find_consent
from ._graph import AnswerReader, IntakeContext, IntakeState, Rephraser, build_intake_graph
from ._model import RecordedAnswer
from ._outputs import IntakeOutcome, discrepancies, intake_brief, questionnaire_response
from ._plan import IntakePlan

__all__ = ["IntakeRunner", "Turn", "new_thread_id"]

TurnStatus = Literal["question", "complete", "refused"]


def new_thread_id() -> str:
    """A fresh intake thread id (no patient data in it: thread ids are stored in clear)."""
    return f"intake-{uuid.uuid4().hex[:16]}"


@dataclass(frozen=True)
class Turn:
    """Where an interview stands: the question waiting for an answer, or its end."""

    thread_id: str
    patient_id: str
    status: TurnStatus
    question: dict[str, Any] | None
    asked: int
    planned: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "thread_id": self.thread_id,
            "patient_id": self.patient_id,
            "status": self.status,
            "question": self.question,
            "asked": self.asked,
            "planned": self.planned,
        }


class IntakeRunner:
    """Interviews over one record source and one checkpointer.

    Args:
        source: the record source (a FHIR server or the store; it must be writable when
            consent may be asked, to write the ``Consent``).
        checkpointer: an (encrypted) LangGraph checkpointer: :func:`agent.threads.open_checkpointer`.
        config: the deployment's ``[intake]`` table.
        today: the interview's date (relative dates like "3 days ago" resolve against it).
        reader: an optional model reading of unclear answers (kept only when the
            patient's words say the value).
        rephraser: an optional plain-language rephrasing of the questions (shown only
            when it keeps what the question asks).
    """

    def __init__(
        self,
        source: RecordSource,
        checkpointer: Any,
        config: IntakeConfig | None = None,
        *,
        today: dt.date | None = None,
        reader: AnswerReader | None = None,
        rephraser: Rephraser | None = None,
        terminology: Terminology | None = None,
    ) -> None:
        self.source = source
        self.config = config or IntakeConfig()
        self.today = today
        self.reader = reader
        self.rephraser = rephraser
        self.terminology = terminology
        self.graph = build_intake_graph(checkpointer)

    @staticmethod
    def _cfg(thread_id: str) -> dict[str, Any]:
        return {"configurable": {"thread_id": thread_id}}

    def _context(self, values: IntakeState | dict[str, Any]) -> IntakeContext:
        as_of = values.get("started")
        today = self.today or (
            dt.date.fromisoformat(str(as_of)[:10]) if as_of else dt.datetime.now(dt.UTC).date()
        )
        return IntakeContext(
            source=self.source,
            config=self.config,
            today=today,
            reader=self.reader,
            rephraser=self.rephraser,
        )

    async def _values(self, thread_id: str) -> tuple[dict[str, Any], Any]:
        snap = await self.graph.aget_state(self._cfg(thread_id))
        values = dict(snap.values or {})
        if not values.get("patient_id"):
            raise IntakeNotFound(thread_id)
        return values, snap

    def _turn(self, thread_id: str, values: dict[str, Any], snap: Any) -> Turn:
        planned = len(((values.get("plan") or {}).get("questions")) or [])
        asked = len(values.get("asked") or [])
        pid = str(values["patient_id"])
        if values.get("consent") == "refused":
            return Turn(thread_id, pid, "refused", None, asked, planned)
        interrupts = [i for t in snap.tasks for i in (t.interrupts or ())]
        if values.get("done") or not interrupts:
            return Turn(thread_id, pid, "complete", None, asked, planned)
        return Turn(thread_id, pid, "question", dict(interrupts[0].value), asked, planned)

    async def start(
        self,
        patient_id: str,
        *,
        appointment: str | None = None,
        reason: str | None = None,
        encounter: str | None = None,
        thread_id: str | None = None,
    ) -> Turn:
        """Check consent (the only read before it), then run to the first question."""
        tid = thread_id or new_thread_id()
        existing = await self.graph.aget_state(self._cfg(tid))
        if existing.values:
            raise IntakeStateError(f"Intake thread {tid!r} exists already; resume it instead.")
        if appointment and "/" not in appointment:
            appointment = f"Appointment/{appointment}"
        consent = await find_consent(self.source, patient_id, self.config)
        started = now_instant()
        state: IntakeState = {
            "patient_id": patient_id,
            "thread_id": tid,
            "appointment": appointment,
            "encounter": encounter,
            "reason": reason or "",
            "consent": "on-file" if consent else "needed",
            "consent_ref": f"Consent/{consent['id']}" if consent else None,
            "plan": None,
            "asked": [],
            "answers": {},
            "pending": None,
            "started": started,
            "finished": None,
            "done": False,
        }
        await self.graph.ainvoke(state, self._cfg(tid), context=self._context(state))
        values, snap = await self._values(tid)
        return self._turn(tid, values, snap)

    async def current(self, thread_id: str) -> Turn:
        """The question waiting for an answer (the same one after a crash), or the end."""
        values, snap = await self._values(thread_id)
        return self._turn(thread_id, values, snap)

    async def answer(self, thread_id: str, words: str) -> Turn:
        """Record the patient's answer to the current question; the next turn."""
        values, snap = await self._values(thread_id)
        turn = self._turn(thread_id, values, snap)
        if turn.status == "refused":
            raise ConsentRefused(turn.patient_id)
        if turn.status == "complete":
            raise IntakeStateError(
                f"Intake {thread_id} has no question waiting: the interview is complete. "
                "Finish it (the brief and QuestionnaireResponse become a draft)."
            )
        await self.graph.ainvoke(
            Command(resume=str(words)), self._cfg(thread_id), context=self._context(values)
        )
        values, snap = await self._values(thread_id)
        turn = self._turn(thread_id, values, snap)
        if turn.status == "refused":
            raise ConsentRefused(turn.patient_id, "the patient answered no")
        return turn

    async def finish(self, thread_id: str) -> IntakeOutcome:
        """The QuestionnaireResponse and the cited brief of a complete interview."""
        values, snap = await self._values(thread_id)
        turn = self._turn(thread_id, values, snap)
        if turn.status == "refused":
            raise ConsentRefused(turn.patient_id)
        if turn.status != "complete" or not values.get("plan"):
            raise IntakeStateError(
                f"Intake {thread_id} is not complete: question {turn.asked + 1} is waiting for "
                "an answer."
            )
        plan = IntakePlan.model_validate(values["plan"])
        answers = {
            k: RecordedAnswer.model_validate(v) for k, v in (values.get("answers") or {}).items()
        }
        pid = str(values["patient_id"])
        record = await self.source.everything(pid)
        linked = values.get("appointment")
        if linked and not any(f"{r.get('resourceType')}/{r.get('id')}" == linked for r in record):
            # an Appointment outside the compartment search (e.g. by participant)
            with contextlib.suppress(ResourceNotFound):
                record = [*record, await self.source.read(str(linked))]
        qr = questionnaire_response(
            plan,
            answers,
            thread_id=thread_id,
            authored=str(values.get("finished") or now_instant()),
            encounter=values.get("encounter"),
            appointment=values.get("appointment"),
        )
        found = discrepancies(plan, answers, record, terminology=self.terminology)
        brief = intake_brief(
            plan,
            answers,
            record,
            qr,
            thread_id=thread_id,
            found=found,
            terminology=self.terminology,
        )
        return IntakeOutcome(
            patient_id=pid,
            thread_id=thread_id,
            plan=plan,
            answers=answers,
            questionnaire_response=qr,
            brief=brief,
            discrepancies=found,
            consent=values.get("consent_ref"),
            appointment=values.get("appointment"),
            encounter=values.get("encounter"),
        )

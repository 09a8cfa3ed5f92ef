"""The agent as a benchmark answerer: ``agent.run.ask`` with the question text only.

Unlike the oracle-routed baseline, :class:`AgentAnswerer` never reads ``question.kind``,
``question.params`` or the answer: the model plans its tool calls from the text, and
only the sentences that pass the citation verifier count as the answer (the scorer reads
the text). Dropped sentences are reported as unsupported; model calls and tokens come
from the answer's usage.

The record's reference date (``--ref-date``) is passed as the agent's ``as_of`` so "current"
means the same thing for the generator, the baseline and the agent.

Follow-ups (``question.thread`` set, e.g. in :mod:`bench.clinqa`): every turn of a thread
is asked on the same agent thread (``thread_id``), kept in a threads database of the
answerer's own (a temporary one unless ``threads_db`` is given). When a run resumes at a
later turn, the earlier turns (``question.history``) are asked again first, unscored, so
the agent has the conversation it would have had. Questions without a thread are asked
exactly as before: one fresh ``ask`` each.
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from agent.answer import CitedAnswer
from agent.config import DeploymentConfig
from agent.context import AgentSettings
from agent.models import ChatModel
from agent.run import ask
from bench.ehrqa.answer import AnswerRecord, Usage
from bench.ehrqa.generate import DEFAULT_REFERENCE_DATE, Question
from tools.source import RecordSource

__all__ = ["AgentAnswerer", "record_of"]


def record_of(answer: CitedAnswer, seconds: float) -> AnswerRecord:
    """An :class:`AnswerRecord` from a verified :class:`CitedAnswer` (text-scored)."""
    u = answer.usage
    return AnswerRecord(
        text=answer.text,
        citations=[c.reference for c in answer.cited],
        sentences_total=len(answer.sentences) + len(answer.dropped),
        sentences_unsupported=len(answer.dropped),
        usage=Usage(
            model_calls=u.model_calls,
            prompt_tokens=u.prompt_tokens,
            completion_tokens=u.completion_tokens,
        ),
        latency_s=u.seconds or seconds,
        dropped=[
            {"text": d.text, "handles": d.handles, "reasons": d.reasons} for d in answer.dropped
        ],
    )


class AgentAnswerer:
    """Answers each question with one ``ask``: a fresh one for a standalone question, on
    the question's thread for a follow-up (see the module docstring)."""

    def __init__(
        self,
        source: RecordSource,
        model: ChatModel,
        *,
        name: str,
        ref_date: str = DEFAULT_REFERENCE_DATE,
        settings: AgentSettings | None = None,
        multimodal: bool = False,
        threads_db: str | Path | None = None,
    ) -> None:
        self.source = source
        self.model = model
        self.name = name
        self.as_of = dt.date.fromisoformat(ref_date)
        self.settings = settings
        self.multimodal = multimodal
        self.threads_db = Path(threads_db) if threads_db else None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._run = uuid.uuid4().hex[:8]  # thread ids of this answerer only
        self._started: set[str] = set()

    def _db(self) -> Path:
        if self.threads_db is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="bench-threads-")
            self.threads_db = Path(self._tmp.name) / "threads.db"
        return self.threads_db

    async def _ask(self, text: str, patient_id: str, thread_id: str | None) -> CitedAnswer:
        return await ask(
            text,
            patient_id=patient_id,
            source=self.source,
            model=self.model,
            settings=self.settings,
            as_of=self.as_of,
            multimodal=self.multimodal,
            thread_id=thread_id,
            threads_db=self._db() if thread_id else None,
        )

    async def answer(self, question: Question, patient_id: str) -> AnswerRecord:
        thread_id = f"{self._run}-{question.thread}" if question.thread else None
        if thread_id and thread_id not in self._started:
            self._started.add(thread_id)
            for earlier in question.history:  # a resumed run: replay the earlier turns
                await self._ask(earlier, patient_id, thread_id)
        started = time.perf_counter()
        answer = await self._ask(question.text, patient_id, thread_id)
        return record_of(answer, time.perf_counter() - started)

    async def aclose(self) -> None:
        await self.model.aclose()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


class SilentModel:
    """A FAKE chat MODEL that writes nothing (an answer with no sentences; a plan that
    answers at once): the agent's answer is then what code alone gives (the question read,
    the tools the question calls for, their statements). The floor a model stands on,
    measured as ``--config record-only``; never a product component."""

    name = "record-only (silent fake model)"

    async def generate(
        self,
        messages: Any,
        *,
        schema: Any = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        on_token: Any = None,
    ) -> Any:
        from agent.models import ChatResult, Usage
        from agent.schemas import Plan

        data: dict[str, Any] = {"sentences": []}
        if schema is Plan:
            data = {"action": "answer", "calls": [], "sentences": []}
        text = json.dumps(data)
        output = schema.model_validate(data) if schema is not None else text
        return ChatResult(output, text, Usage(0, 0, 0.0), "stop", self.name)

    def stream(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("the silent model writes nothing")

    async def aclose(self) -> None:
        return None


def record_only(source: RecordSource, ref_date: str) -> AgentAnswerer:
    """The agent with :class:`SilentModel`: what code alone answers."""
    return AgentAnswerer(source, SilentModel(), name="record-only", ref_date=ref_date)  # type: ignore[arg-type]


def from_config(
    cfg: DeploymentConfig, name: str, source: RecordSource, ref_date: str
) -> AgentAnswerer:
    """An answerer for a loaded deployment (``configs/*.toml``): its model, on ``source``."""
    from agent.models import accepts_images, build_chat_model

    return AgentAnswerer(
        source,
        build_chat_model(cfg.model),
        name=name,
        ref_date=ref_date,
        settings=cfg.agent,
        multimodal=accepts_images(cfg.model),
    )

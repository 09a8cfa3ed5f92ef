"""The agent as a benchmark answerer: ``agent.run.ask`` with the question text only.

Unlike the oracle-routed baseline, :class:`AgentAnswerer` never reads ``question.kind``,
``question.params`` or the answer: the model plans its tool calls from the text, and
only the sentences that pass the citation verifier count as the answer (the scorer reads
the text). Dropped sentences are reported as unsupported; model calls and tokens come
from the answer's usage.

The record's reference date (``--ref-date``) is passed as the agent's ``as_of`` so "current"
means the same thing for the generator, the baseline and the agent.
"""

from __future__ import annotations

import datetime as dt
import time

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
    """Answers each question with one fresh ``ask`` (no thread: questions are independent)."""

    def __init__(
        self,
        source: RecordSource,
        model: ChatModel,
        *,
        name: str,
        ref_date: str = DEFAULT_REFERENCE_DATE,
        settings: AgentSettings | None = None,
        multimodal: bool = False,
    ) -> None:
        self.source = source
        self.model = model
        self.name = name
        self.as_of = dt.date.fromisoformat(ref_date)
        self.settings = settings
        self.multimodal = multimodal

    async def answer(self, question: Question, patient_id: str) -> AnswerRecord:
        started = time.perf_counter()
        answer = await ask(
            question.text,
            patient_id=patient_id,
            source=self.source,
            model=self.model,
            settings=self.settings,
            as_of=self.as_of,
            multimodal=self.multimodal,
        )
        return record_of(answer, time.perf_counter() - started)

    async def aclose(self) -> None:
        await self.model.aclose()


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
        multimodal=accepts_images(cfg.model),
    )

"""What an answerer returns, and the protocol every answerer (baseline, agent) implements."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

from bench.ehrqa.generate import Question

__all__ = ["AnswerRecord", "Answerer", "Usage"]


@dataclass
class Usage:
    """Model usage for one answer (all zero for the no-model baseline)."""

    model_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass
class AnswerRecord:
    """One answer.

    Attributes:
        text: the answer as shown to a user (the scorer parses it when ``value`` is None).
        value: the structured answer when the answerer has one: a number, an ISO date
            string, a bool (yes/no), a string (exact), a list of names (set).
        unit: the unit of a numeric ``value``.
        date: the date of a value+date answer (latest lab), ISO ``YYYY-MM-DD``.
        not_in_record: the answerer says the record holds no such thing.
        citations: the cited resources, ``Type/id``.
        sentences_total / sentences_unsupported: sentences in the answer, and how many
            of them the answerer's verifier dropped or flagged as not supported by the
            record (0/0 when it has no verifier).
        usage: model calls and tokens. latency_s: wall time of the answer.
        error: set when the answerer failed (the answer scores 0).
        dropped: the sentences the verifier removed, with its reasons (for diagnosis).
    """

    text: str
    value: Any = None
    unit: str | None = None
    date: str | None = None
    not_in_record: bool = False
    citations: list[str] = field(default_factory=list)
    sentences_total: int = 0
    sentences_unsupported: int = 0
    usage: Usage = field(default_factory=Usage)
    latency_s: float = 0.0
    error: str | None = None
    dropped: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AnswerRecord:
        data = dict(data)
        usage = Usage(**(data.pop("usage", None) or {}))
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(usage=usage, **known)


@runtime_checkable
class Answerer(Protocol):
    """Answers benchmark questions about one patient of a record source.

    ``name`` labels the report. An agent answerer should read only ``question.text``;
    the baseline also reads ``question.kind`` and ``question.params`` (oracle routing).
    """

    name: str

    async def answer(self, question: Question, patient_id: str) -> AnswerRecord: ...

"""Progress events of an agent run, as typed objects.

``ask(..., on_event=handler)`` / ``brief(..., on_event=handler)`` call ``handler`` with
one of these while the graph runs (LangGraph's ``custom`` stream). Each has ``text`` (a
one-line human description, for a terminal) and :meth:`as_dict` (``{"type": ..., ...}``,
for Server-Sent Events or logs). They never hold record text: tool arguments are the
model's (scrubbed of other patients' ids) and results are counts.

==================  ==========================================================
``status``          :class:`Status`: a step of the run ("loading the record")
``model_start``     :class:`ModelStarted`: a model call begins (plan, compose, ...)
``tool_start``      :class:`ToolStarted`: a tool call begins (``call_id`` pairs it)
``tool_end``        :class:`ToolFinished`: it ended: ``ok``, evidence ``items``, ``error``
``verified``        :class:`Verified`: the verifier's verdict on a draft
``record``          :class:`FromRecord`: what the question's own searches found, as the
                    record states it (extractive, cited), before the model writes
==================  ==========================================================
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

__all__ = [
    "AgentEvent",
    "FromRecord",
    "ModelStarted",
    "OnEvent",
    "Status",
    "ToolFinished",
    "ToolStarted",
    "Verified",
]


@dataclass(frozen=True, slots=True)
class AgentEvent:
    """Base of every event (``type`` names it in :meth:`as_dict`)."""

    type: ClassVar[str] = "event"

    @property
    def text(self) -> str:
        return self.type

    def as_dict(self) -> dict[str, Any]:
        return {"type": self.type, **asdict(self), "text": self.text}


@dataclass(frozen=True, slots=True)
class Status(AgentEvent):
    """A step of the run."""

    type: ClassVar[str] = "status"
    message: str

    @property
    def text(self) -> str:
        return self.message


@dataclass(frozen=True, slots=True)
class ModelStarted(AgentEvent):
    """A model call begins (``node``: plan, compose, repair, brief:<section>, ...)."""

    type: ClassVar[str] = "model_start"
    node: str

    @property
    def text(self) -> str:
        return f"model: {self.node}…"


@dataclass(frozen=True, slots=True)
class ToolStarted(AgentEvent):
    """A tool call begins; ``prefetch`` when code (not the model) asked for it."""

    type: ClassVar[str] = "tool_start"
    call_id: str
    tool: str
    args: dict[str, str] = field(default_factory=dict)
    prefetch: bool = False

    @property
    def text(self) -> str:
        args = ", ".join(f"{k}={v}" for k, v in self.args.items())
        return f"{self.tool}({args})"


@dataclass(frozen=True, slots=True)
class ToolFinished(AgentEvent):
    """A tool call ended: ``ok`` with ``items`` evidence items, or refused / failed."""

    type: ClassVar[str] = "tool_end"
    call_id: str
    tool: str
    ok: bool
    items: int = 0
    refused: bool = False
    error: str | None = None

    @property
    def text(self) -> str:
        if self.refused:
            return f"{self.tool}: refused"
        if not self.ok:
            return f"{self.tool}: error: {self.error}"
        return f"{self.tool}: {self.items} evidence item(s)"


@dataclass(frozen=True, slots=True)
class Verified(AgentEvent):
    """The verifier checked a draft: ``passed`` of ``total`` sentences hold."""

    type: ClassVar[str] = "verified"
    passed: int
    total: int

    @property
    def text(self) -> str:
        return f"verified {self.passed}/{self.total} sentence(s)"


@dataclass(frozen=True, slots=True)
class FromRecord(AgentEvent):
    """What the question's own searches found, as the record states it, cited: shown
    while the model writes (each sentence an ``AnswerSentence`` as a dict, status
    ``extractive``); the verified answer follows and supersedes it."""

    type: ClassVar[str] = "record"
    sentences: list[dict[str, Any]] = field(default_factory=list)

    @property
    def text(self) -> str:
        return f"from the record: {len(self.sentences)} entr{'y' if len(self.sentences) == 1 else 'ies'}"


#: Called with each event of a run.
OnEvent = Callable[[AgentEvent], None]

"""The run configuration of one agent invocation, passed to LangGraph as a typed context.

Nodes read it from ``runtime.context`` (``StateGraph(..., context_schema=AgentContext)``);
nothing here is checkpointed: the record cache and the model live for one invocation.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tools._record import RecordView, ref_of
from tools.evidence import EvidenceSet
from tools.source import RecordSource
from tools.terminology import Terminology

from .models import ChatModel, OnToken

__all__ = ["AgentContext", "AgentSettings", "RecordCache"]


class AgentSettings(BaseModel):
    """Budgets and bounds of a run (all enforced in code); the ``[agent]`` table of a
    deployment file (:mod:`agent.config`) sets them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_steps: int = Field(
        3, ge=1, le=10, description="plan rounds (model calls that may ask for tools) per question"
    )
    time_budget_s: float = Field(
        300.0,
        gt=0,
        description="wall-clock budget per question; past it the agent answers from what it has",
    )
    max_calls_per_step: int = Field(
        4, ge=1, le=6, description="tool calls run per plan round (in parallel)"
    )
    max_tool_errors: int = Field(
        3, ge=0, description="tool errors sent back to the model before it stops asking"
    )
    summary_budget: int = Field(
        1200, ge=200, description="token budget of the record summary in the prompt"
    )
    max_lines: int = Field(
        20, ge=1, description="evidence lines a tool returns at most (the rest is counted)"
    )
    repair: bool = Field(True, description="one repair round after failed verification")
    prefetch: bool = Field(
        True, description="run the tool calls the question calls for before planning"
    )
    answer_after_prefetch: bool = Field(
        True,
        description="when the prefetched searches found what the question names, answer from them "
        "without a planning round",
    )
    answer_nothing_found: bool = Field(
        True,
        description="when every search the question called for found nothing, answer with "
        "what the searches found (said by code, cited to them) without a model call",
    )
    answer_computed: bool = Field(
        True,
        description="when the question asks for what the tools computed and said for every "
        "search it called for (the latest value, a count, a change, a yes/no about a named "
        "thing, results out of range), answer with that (said by code, cited) without a "
        "model call",
    )
    max_tokens: int | None = Field(None, ge=1, description="cap on the tokens of each model answer")
    allow_writes: bool = Field(
        False,
        description="offer the write tools (order_lab, order_medication, refer_patient, "
        "record_vital): only for a test server or store that is a RecordWriter",
    )


@dataclass
class RecordCache:
    """The session patient's record and its evidence, built once per invocation, and the
    handles of items tools made (absences of searches, created orders): numbered after
    the record's own and after every handle the thread has seen (``next_handle``)."""

    record: list[dict[str, Any]] | None = None
    evidence: EvidenceSet | None = None
    view: RecordView | None = None  # the record classified, which the evidence is built from
    written: dict[str, str] = field(default_factory=dict)  # created reference -> handle
    absences: dict[str, str] = field(default_factory=dict)  # search scope -> handle
    next_handle: int = 0
    _by_ref: tuple[EvidenceSet, dict[str, str]] | None = field(default=None, repr=False)
    _at_visit: tuple[EvidenceSet, dict[str, list[str]]] | None = field(default=None, repr=False)

    def diagnosed_by_visit(self) -> dict[str, list[str]]:
        """The handles of the problems recorded at each visit (``Encounter/…`` -> each
        Condition whose ``encounter`` it is), built once per evidence, when a tool first
        needs it (what a visit with no reason found; an order written at it)."""
        ev, view = self.evidence, self.view
        if ev is None or view is None:
            return {}
        if self._at_visit is None or self._at_visit[0] is not ev:
            by_ref = self.by_reference()
            at: dict[str, list[str]] = {}
            for r in view.of_type("Condition"):
                visit = view.resolve(r.get("encounter"))
                handle = by_ref.get(ref_of(r))
                if visit is not None and handle:
                    at.setdefault(ref_of(visit), []).append(handle)
            self._at_visit = (ev, at)
        return self._at_visit[1]

    def by_reference(self) -> dict[str, str]:
        """The evidence's handles by reference (:meth:`EvidenceSet.by_reference`), built
        once per evidence, when a tool first needs it (an order's reason, a visit's)."""
        ev = self.evidence
        if ev is None:
            return {}
        if self._by_ref is None or self._by_ref[0] is not ev:
            self._by_ref = (ev, ev.by_reference())
        return self._by_ref[1]


@dataclass
class AgentContext:
    """What every node needs: the session's patient (fixed in code), source, model."""

    patient_id: str
    source: RecordSource
    model: ChatModel
    mode: Literal["ask", "brief"] = "ask"
    settings: AgentSettings = field(default_factory=AgentSettings)
    multimodal: bool = False
    as_of: dt.date | None = None
    thread_id: str | None = None
    on_token: OnToken | None = None
    terminology: Terminology | None = None  # None: the local terminology (tools.terminology)
    cache: RecordCache = field(default_factory=RecordCache)

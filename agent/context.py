"""The run configuration of one agent invocation, passed to LangGraph as a typed context.

Nodes read it from ``runtime.context`` (``StateGraph(..., context_schema=AgentContext)``);
nothing here is checkpointed: the record cache and the model live for one invocation.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal

from tools.evidence import EvidenceSet
from tools.source import RecordSource

from .models import ChatModel, OnToken

__all__ = ["AgentContext", "AgentSettings", "RecordCache"]


@dataclass(frozen=True, slots=True)
class AgentSettings:
    """Budgets and bounds of a run (all enforced in code).

    Attributes:
        max_steps: plan rounds (model calls that may ask for tools) per question.
        time_budget_s: wall-clock budget per question; past it the agent answers from
            what it has gathered (with a warning).
        max_calls_per_step: tool calls run per plan round (in parallel; more are cut).
        max_tool_errors: tool errors sent back to the model per question before the
            agent stops asking for tools.
        summary_budget: token budget of the record summary in the prompt.
        max_lines: evidence lines a tool returns at most (the rest is counted).
        repair: allow one repair round after failed verification.
        prefetch: run the tool calls the question's codes and words call for before the
            first plan step (:mod:`agent.prefetch`).
        allow_writes: enable the write tools (``order_lab``), which create resources in
            the session patient's record. Off by default; turn it on only for a test
            server or store (the source must also be a :class:`tools.source.RecordWriter`).
    """

    max_steps: int = 3
    time_budget_s: float = 300.0
    max_calls_per_step: int = 4
    max_tool_errors: int = 3
    summary_budget: int = 1200
    max_lines: int = 20
    repair: bool = True
    prefetch: bool = True
    max_tokens: int | None = None
    allow_writes: bool = False


@dataclass
class RecordCache:
    """The session patient's record and its evidence, built once per invocation."""

    record: list[dict[str, Any]] | None = None
    evidence: EvidenceSet | None = None
    written: list[str] = field(default_factory=list)  # references created by write tools


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
    cache: RecordCache = field(default_factory=RecordCache)

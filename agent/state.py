"""The graph's state: plain, JSON-serializable values with explicit reducers.

Per-question fields are reset by ``load_context`` at the start of every turn (a
``None`` update resets an appended list, see :func:`extend`); ``evidence`` and ``turns``
persist across the turns of a checkpointed thread, so follow-ups reuse earlier evidence.
"""

from __future__ import annotations

from typing import Annotated, Any, TypedDict

from .session import merge_seen

__all__ = ["AgentState", "extend", "total"]


def extend(left: list[Any] | None, right: list[Any] | None) -> list[Any]:
    """Append ``right``; a ``None`` update resets the list (new turn)."""
    if right is None:
        return []
    return list(left or []) + list(right)


def total(left: int | None, right: int | None) -> int:
    """Sum counters; a ``None`` update resets to zero."""
    if right is None:
        return 0
    return (left or 0) + right


class AgentState(TypedDict, total=False):
    """State of one thread (one patient).

    Persisting across turns: ``patient_id``, ``turns`` (earlier questions and answers),
    ``evidence`` (every item seen: handle → :func:`agent.session.seen_entry`; typed by
    :func:`agent.session.seen_of`). Per turn: the rest (``inventory``: the handles of
    each section of the whole record, what a "none in the record" claim is checked
    against; ``summary_handles``: the items the summary shows).
    """

    patient_id: str
    mode: str
    question: str
    turn: int
    started: float
    summary: str
    summary_handles: list[str]
    inventory: dict[str, list[str]]
    focus: dict[str, Any]
    turns: Annotated[list[dict[str, Any]], extend]
    evidence: Annotated[dict[str, dict[str, Any]], merge_seen]
    observations: Annotated[list[dict[str, Any]], extend]
    pending: list[dict[str, Any]]
    steps: int
    tool_errors: Annotated[int, total]
    draft: list[dict[str, Any]]
    findings: list[dict[str, Any]]
    repaired: bool
    warnings: Annotated[list[str], extend]
    usage: Annotated[list[dict[str, Any]], extend]
    brief_sections: list[dict[str, Any]]
    answer: dict[str, Any]

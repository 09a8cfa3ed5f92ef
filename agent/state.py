"""The graph's state: plain, JSON-serializable values with explicit reducers.

Per-question fields are reset by ``load_context`` at the start of every turn (a
``None`` update resets an appended list, see :func:`extend`); ``evidence`` and ``turns``
persist across the turns of a checkpointed thread, so follow-ups reuse earlier evidence.
"""

from __future__ import annotations

from typing import Annotated, Any, TypedDict

__all__ = ["AgentState", "extend", "merge_evidence", "total"]


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


def merge_evidence(
    left: dict[str, dict[str, Any]] | None, right: dict[str, dict[str, Any]] | None
) -> dict[str, dict[str, Any]]:
    """Evidence seen in the session, by handle; tool lines citing a handle accumulate, and
    so do ``focus`` references (the part of a series a tool looked at, e.g. a window)."""
    out = dict(left or {})
    for handle, item in (right or {}).items():
        old = out.get(handle)
        if old is None:
            out[handle] = item
        else:
            notes = list(dict.fromkeys([*old.get("notes", []), *item.get("notes", [])]))
            merged = {**old, "notes": notes}
            if item.get("focus") or old.get("focus"):
                merged["focus"] = list(
                    dict.fromkeys([*old.get("focus", []), *item.get("focus", [])])
                )
            out[handle] = merged
    return out


class AgentState(TypedDict, total=False):
    """State of one thread (one patient).

    Persisting across turns: ``patient_id``, ``turns`` (earlier questions and answers),
    ``evidence`` (every item seen: handle → item dict), ``usage_total``.
    Per turn: the rest.
    """

    patient_id: str
    mode: str
    question: str
    turn: int
    started: float
    summary: str
    turns: Annotated[list[dict[str, Any]], extend]
    evidence: Annotated[dict[str, dict[str, Any]], merge_evidence]
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

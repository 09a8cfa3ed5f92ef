"""The plan step's side of a request for an action (:mod:`agent.acts` reads what is
asked): which asked-for writes are still open in a turn, the codes their arguments may
take, and code's check of a stated condition (:mod:`agent.conditions`) against the
question's own searches. Used by :func:`agent.nodes.plan` and its routing."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from tools.evidence import EvidenceItem
from tools.terminology import default_terminology

from .acts import stated_codes
from .conditions import Latest, Verdict, check_condition
from .context import AgentContext
from .schemas import Plan
from .session import seen_of
from .state import AgentState
from .toolkit import REGISTRY

__all__ = ["code_verdict", "codes_for_acts", "open_acts", "without"]


def codes_for_acts(state: AgentState, ctx: AgentContext) -> dict[str, tuple[str, ...]]:
    """The codes an action's code arguments may take: those the request states with their
    system ("RxNorm 67108"); else, for a test, the LOINC codes of the tests it names ("order
    an A1c": 4548-4 …), looked up in the terminology, so the model never writes a LOINC
    code from memory."""
    codes = stated_codes(state.get("question", ""))
    if "loinc" not in codes:
        term = ctx.terminology or default_terminology()
        named = [
            term.concept(cid) for _words, cid in (state.get("focus") or {}).get("concepts") or []
        ]
        loinc = [
            code for c in named if c is not None and c.kind == "lab" for code in c.code_in("loinc")
        ]
        if loinc:
            codes["loinc"] = tuple(dict.fromkeys(loinc))
    return codes


def without(plan: Plan, tools: Sequence[str]) -> Plan:
    """``plan`` without its calls to ``tools`` (an answer when no call is left)."""
    calls = [c for c in plan.calls if c.tool not in tools]
    update: dict[str, Any] = {"calls": calls}
    if plan.action == "tools" and not calls:
        update["action"] = "answer"
    return plan.model_copy(update=update)


def code_verdict(state: AgentState, ctx: AgentContext) -> tuple[Verdict | None, list[str]]:
    """Code's check of the request's condition (:mod:`agent.conditions`) against the
    latest result of the one test the question's own searches looked up, and the handles
    it rests on (the series, or the search that found nothing); ``None`` when they looked
    up no test or several, or the condition is not one code reads (then no verdict)."""
    seen = seen_of(state.get("evidence"))
    tests: set[str] = set()  # what each search looked up: a series' measure, or "no X"
    measures: set[str] = set()
    latest: Latest | None = None
    rests_on: list[str] = []
    empty: list[str] = []
    for o in state.get("observations") or []:
        if o.get("tool") != "lab_trend" or not (o.get("prefetch") and o.get("ok")):
            continue
        for h in o.get("handles") or []:
            entry = seen.get(h)
            if entry is not None and entry.item.kind == "absence":
                empty.append(h)
                tests.add(f"no {_searched(entry.item)}")
            for st in entry.stats if entry is not None else ():
                if st.last is None:
                    continue
                measures.add(st.measure)
                tests.add(st.measure)
                day = dt.date.fromisoformat(st.last.date[:10])
                if latest is None or day > latest.date:
                    latest, rests_on = Latest(day, st.last.value, st.unit), [h]
    if len(tests) != 1:  # no test, or several (an HbA1c found nothing, an LDL did): ask
        return None, []
    what = next(iter(measures)) if measures else _searched(seen[empty[0]].item)
    today = ctx.as_of or dt.date.today()
    verdict = check_condition(state.get("question", ""), latest, today, what)
    return verdict, (rests_on or empty) if verdict is not None else []


def _searched(item: EvidenceItem) -> str:
    """The test an empty search looked for, from its typed scope (its name, else its
    code), not read back from the rendered "HbA1c results"."""
    scope = item.scope
    if scope is not None and scope.name:
        return scope.name
    if scope is not None and scope.codes:
        return f"code {scope.codes[0].code}"
    return item.name


#: how often a write the request asks for is planned in one turn (a refused one once more)
_WRITE_TRIES = 2


def open_acts(state: AgentState, ctx: AgentContext) -> list[tuple[str, bool]]:
    """The writes the request asks for (:mod:`agent.acts`) that this deployment offers
    and no call of this turn has made yet: (tool, conditional). A write the tool refused
    (an error the model can act on: "the dose must be a number") is asked once more,
    with the error in the record data."""
    if not ctx.settings.allow_writes:
        return []
    done: set[str] = set()
    tries: dict[str, int] = {}
    for o in state.get("observations") or []:
        tries[o["tool"]] = tries.get(o["tool"], 0) + 1
        if o.get("ok"):
            done.add(o["tool"])
    return [
        (tool, bool(conditional))
        for tool, conditional in (state.get("focus") or {}).get("acts") or []
        if tool in REGISTRY
        and REGISTRY[tool].needs == "writes"
        and tool not in done
        and tries.get(tool, 0) < _WRITE_TRIES
    ]

"""The graph's nodes: load_context → plan ⇄ run_tool (Send fan-out) → compose → verify
(→ one repair → verify) → finalize; and the brief workflow's node.

Nodes take ``(state, runtime)`` and read the run configuration from ``runtime.context``
(:class:`agent.context.AgentContext`). Source errors propagate (the checkpointed thread
keeps the last completed step); tool errors go back to the model as text.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import re
import time
import uuid
from collections.abc import Collection, Sequence
from typing import Any, cast

from langgraph.config import get_stream_writer
from langgraph.runtime import Runtime
from langgraph.types import Send

from tools.brief import BriefSection, plain, sentence_case
from tools.evidence import SECTIONS, EvidenceSet, item_concepts
from tools.summary import Line, Summary, summarize
from tools.terminology import Terminology, default_terminology
from tools.trends import series_stats

from . import prompts
from .acting import code_verdict, codes_for_acts, open_acts, without
from .answer import (
    AnswerSentence,
    CitedAnswer,
    CitedResource,
    CitedSearch,
    DroppedSentence,
    RunUsage,
)
from .context import AgentContext
from .errors import AgentError, MalformedOutput, ToolCallError, ToolCallRefused
from .events import (
    AgentEvent,
    FromRecord,
    ModelStarted,
    Status,
    ToolFinished,
    ToolStarted,
    Verified,
)
from .guard import precheck, scrub, scrub_item
from .models import Message
from .prefetch import CONTEXT, prefetch_calls
from .schemas import (
    OVERVIEW_SENTENCE_CHARS,
    CheckedPlan,
    Composed,
    Overview,
    OverviewSentence,
    Plan,
    ToolCall,
    action_plan,
    call_args,
)
from .session import Seen, merge_seen, seen_entry, seen_of
from .state import AgentState
from .toolkit import ANY_ASK, REGISTRY, ensure_evidence, prompt_lines, run_tool_call
from .understand import Focus, anchors_of, names_a_section, understand
from .verify import Verification, dated, states_count, verify_sentences

__all__ = [
    "brief_node",
    "compose",
    "finalize",
    "load_context",
    "plan",
    "record_summary",
    "repair",
    "route_after_load",
    "route_after_tools",
    "route_plan",
    "route_verify",
    "run_tool",
    "verify",
]


_REFUSED = "A tool call naming another patient or leaving this patient's record was refused."


def _emit(event: AgentEvent) -> None:
    with contextlib.suppress(Exception):
        get_stream_writer()(event)


def _usage(node: str, result: Any) -> dict[str, Any]:
    u = result.usage
    return {
        "node": node,
        "calls": u.calls,
        "prompt_tokens": u.prompt_tokens,
        "completion_tokens": u.completion_tokens,
        "seconds": round(u.seconds, 3),
    }


async def _generate(
    ctx: AgentContext, node: str, messages: list[Message], schema: Any
) -> tuple[Any, dict[str, Any]]:
    _emit(ModelStarted(node))
    result = await ctx.model.generate(
        messages, schema=schema, max_tokens=ctx.settings.max_tokens, on_token=ctx.on_token
    )
    return result.output, _usage(node, result)


def _draft(sentences: Sequence[Any], pid: str) -> list[dict[str, Any]]:
    """Model sentences as state values, with other patients' ids withheld."""
    return [{"text": scrub(x.text, pid), "cites": list(x.cites)} for x in sentences]


def _time_left(state: AgentState, ctx: AgentContext) -> bool:
    return time.time() - state.get("started", time.time()) < ctx.settings.time_budget_s


def _seed(ev: EvidenceSet, lines: Sequence[Line], pid: str) -> dict[str, dict[str, Any]]:
    """The evidence behind summary lines, with the statistics and figures they state."""
    out: dict[str, dict[str, Any]] = {}
    for ln in lines:
        stats = [series_stats(ln.trend)] if ln.trend is not None else []
        for h in ln.handles:
            try:
                item = ev.get(h)
            except KeyError:
                continue
            out = merge_seen(out, {h: seen_entry(scrub_item(item, pid), stats, (), ln.numbers)})
    return out


def _next_handle(state: AgentState, ev: EvidenceSet) -> int:
    """After the record's own handles and every handle the thread has seen."""
    seen = [int(h[1:]) for h in (state.get("evidence") or {}) if h[1:].isdigit()]
    return max([len(ev.items), *seen]) + 1


# --------------------------------------------------------------------------- load


async def record_summary(ctx: AgentContext) -> tuple[EvidenceSet, Summary]:
    """The record's evidence and the budgeted summary every ask prompt starts with (also
    what :func:`agent.run.warm` warms; the prompts get it through :func:`~agent.guard.scrub`)."""
    ev = await ensure_evidence(ctx)
    summary = await asyncio.to_thread(
        summarize,
        ctx.cache.record or [],
        budget=ctx.settings.summary_budget,
        as_of=ev.as_of,
        evidence=ev,
    )
    return ev, summary


async def load_context(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Fetch the record once, build the budgeted summary, seed the evidence registry."""
    ctx = runtime.context
    if state.get("patient_id") and state["patient_id"] != ctx.patient_id:
        raise AgentError(
            f"This thread belongs to another patient than Patient/{ctx.patient_id}; "
            "start a new thread (another --thread id) for this patient."
        )
    _emit(Status(f"loading the record of Patient/{ctx.patient_id}"))
    ev, summary = await record_summary(ctx)
    ctx.cache.next_handle = max(ctx.cache.next_handle, _next_handle(state, ev))
    question = state.get("question", "")
    term = ctx.terminology or default_terminology()
    turns = state.get("turns") or []
    previous = Focus.from_state(turns[-1].get("focus"), term) if turns else None
    focus = understand(question, terminology=term, as_of=ev.as_of, evidence=ev, previous=previous)
    prefetch = (
        prefetch_calls(
            question,
            ev,
            limit=ctx.settings.max_calls_per_step,
            terminology=term,
            as_of=ev.as_of,
            focus=focus,
        )
        if ctx.mode == "ask" and ctx.settings.prefetch
        else []
    )
    return {
        "patient_id": ctx.patient_id,
        "mode": ctx.mode,
        "turn": state.get("turn", 0) + 1,
        "started": time.time(),
        "summary": scrub(summary.text, ctx.patient_id),
        "summary_handles": list(summary.handles),
        "focus": focus.to_state(),
        "inventory": {name: [i.handle for i in ev.section(name)] for name in SECTIONS},
        "evidence": _seed(ev, summary.lines, ctx.patient_id),
        "observations": None,
        "pending": prefetch,
        "steps": 0,
        "tool_errors": None,
        "draft": [],
        "findings": [],
        "repaired": False,
        "warnings": None,
        "usage": None,
        "answer": {},
    }


def route_after_load(state: AgentState) -> Any:
    """Brief; or the prefetched tool calls (parallel, then plan); or plan."""
    if state.get("mode") == "brief":
        return "brief"
    pending = state.get("pending") or []
    if pending:
        return [Send("run_tool", {"call": c}) for c in pending]
    return "plan"


# --------------------------------------------------------------------------- ask


def _earlier_lines(state: AgentState) -> list[str]:
    """Evidence seen in earlier turns that is not in the summary (follow-ups reuse it)."""
    in_summary = set(state.get("summary_handles") or [])
    out = []
    for h, seen in seen_of(state.get("evidence")).items():
        if h not in in_summary:
            out.append(seen.item.line)
    return out[:40]


def _asks_of(obs: dict[str, Any], state: AgentState) -> str | None:
    """The statistic a prefetched call's part of the question asks for (a question of
    several parts: each its own), else the question's."""
    if "asks" in obs:
        return cast("str | None", obs["asks"])
    focus = state.get("focus") or {}
    if (
        focus.get("asks") == "latest"
        and focus.get("why")
        and "latest_reason" in (obs.get("leads") or {})
    ):
        return "latest_reason"  # "what was his last ER visit for?": the last, with its reason
    if focus.get("asks") == "results" and "results" not in (obs.get("leads") or {}):
        return None  # "chest ct results?", nothing recorded at its visit: its entries
    return cast("str | None", focus.get("asks"))


def _lead(obs: dict[str, Any], asks: str | None) -> list[Any] | None:
    """The statements of a call said with the statistic asked first (its ``leads``), or
    those that answer whatever is asked (:data:`agent.toolkit.ANY_ASK`)."""
    leads = obs.get("leads") or {}
    return (leads.get(asks) or leads.get(ANY_ASK)) if asks else None


def _observation_lines(state: AgentState) -> list[str]:
    """The tool results as the model reads them: each call's lines, and for the
    question's own searches the statistic it asks for (or a series) said as a sentence
    with its handles, which a small model copies rather than re-derives."""
    lines: list[str] = []
    for o in state.get("observations") or []:
        args = ", ".join(f"{k}={v}" for k, v in o["args"].items())
        lines.append(f"{o['tool']}({args}):")
        lines.extend(f"  {t}" for t in o["lines"])
        if not (o.get("prefetch") and o.get("ok")):
            continue
        asks = _asks_of(o, state)
        said = _lead(o, asks) or (o.get("statements") if o["tool"] == "lab_trend" else None)
        lines.extend(
            f"  In words: {text} [{', '.join(hs)}]"
            for text, hs in (said or [])[:3]
            if hs and not text.startswith("not in this patient's record")
        )
    return lines


def _context_kwargs(state: AgentState, ctx: AgentContext) -> dict[str, Any]:
    turns = state.get("turns") or []
    seen_now = {h for o in state.get("observations") or [] for h in o.get("handles", [])}
    earlier = [ln for ln in _earlier_lines(state) if ln.split(" ", 1)[0] not in seen_now]
    return {
        "patient_id": ctx.patient_id,
        "question": state.get("question", ""),
        "summary": state.get("summary", ""),
        "evidence_lines": earlier if turns else [],
        "observations": _observation_lines(state),
        "turns": turns,
    }


def _show_from_record(state: AgentState, ctx: AgentContext) -> None:
    """Before the first model call of a turn: what the question's own searches found,
    as the record states it (cited, extractive), so a reader has it in seconds."""
    if state.get("steps", 0) or not ctx.settings.prefetch:
        return
    seen = seen_of(state.get("evidence"))
    sentences = _from_the_record(state, seen, ctx.patient_id)
    if sentences:
        _emit(FromRecord([s.model_dump() for s in sentences]))


async def plan(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Ask the model for tool calls, or for the answer when the evidence suffices."""
    ctx = runtime.context
    s = ctx.settings
    steps = state.get("steps", 0)
    _show_from_record(state, ctx)
    if steps >= s.max_steps or not _time_left(state, ctx):
        why = "step budget" if steps >= s.max_steps else "time budget"
        return {
            "pending": [],
            "warnings": [f"The {why} ran out; the answer uses what was gathered so far."],
        }
    if state.get("tool_errors", 0) >= s.max_tool_errors:
        return {
            "pending": [],
            "warnings": [f"{state['tool_errors']} tool errors; stopped calling tools."],
        }
    last_round = steps + 1 >= s.max_steps
    acts = [] if last_round else open_acts(state, ctx)
    outright = [tool for tool, conditional in acts if not conditional]
    checked = [tool for tool, conditional in acts if conditional]
    focus = state.get("focus") or {}
    update_focus: dict[str, Any] | None = None
    verdict, rests_on = code_verdict(state, ctx) if checked else (None, [])

    def messages(act: str | None, act_tools: Sequence[str]) -> list[Message]:
        return prompts.plan_messages(
            **_context_kwargs(state, ctx),
            tool_lines=prompt_lines(multimodal=ctx.multimodal, allow_writes=s.allow_writes),
            max_calls=s.max_calls_per_step,
            last_round=last_round,
            actions=s.allow_writes,
            act=act,  # type: ignore[arg-type]
            act_tools=act_tools,
        )

    def acting(tools: Sequence[str]) -> type[Plan]:
        codes = codes_for_acts(state, ctx)
        return action_plan([(t, REGISTRY[t].args) for t in tools], s.max_calls_per_step, codes)

    usages: list[dict[str, Any]] = []
    warnings: list[str] = []
    try:
        if outright:  # "please record it": the plan is the call (the model writes its values)
            out, usage = await _generate(ctx, "plan", messages("now", outright), acting(outright))
            usages.append(usage)
        elif checked and verdict is not None:  # code read the condition and checked it
            # the verdict is said in the answer, cited to what it rests on
            update_focus = {**focus, "verdict": [f"{verdict.reason}.", rests_on]}
            if verdict.holds:
                out, usage = await _generate(
                    ctx, "plan", messages("holds", checked), acting(checked)
                )
                usages.append(usage)
            else:  # no write (settled for this turn): the answer says what was found
                out = Plan(action="answer")
                update_focus["acts"] = [a for a in focus.get("acts") or [] if a[0] not in checked]
        elif checked:  # "if there is none, order one": the model checks, code keeps it to it
            first, usage = await _generate(ctx, "plan", messages("check", checked), CheckedPlan)
            usages.append(usage)
            out = first.plan()
            acted = any(c.tool in checked for c in out.calls)
            if first.condition == "holds" and not acted:
                out, usage = await _generate(
                    ctx, "plan", messages("holds", checked), acting(checked)
                )
                usages.append(usage)
            elif first.condition != "holds" and acted:
                out = without(out, checked)
                warnings.append(
                    "The plan called for an action whose condition it did not find to hold; "
                    "the action was not taken."
                )
        else:
            out, usage = await _generate(ctx, "plan", messages(None, ()), Plan)
            usages.append(usage)
    except MalformedOutput as exc:
        return {
            "steps": steps + 1,
            "pending": [],
            "usage": usages,
            "warnings": [f"The plan step gave no usable output ({exc.reason})."],
        }
    p: Plan = out
    update: dict[str, Any] = {"steps": steps + 1, "usage": usages, "pending": []}
    if update_focus is not None:
        update["focus"] = update_focus
    if warnings:
        update["warnings"] = warnings
    if p.action == "answer" and p.sentences:
        update["draft"] = _draft(p.sentences, ctx.patient_id)
    elif p.calls:
        calls = p.calls[: s.max_calls_per_step]
        pending = []
        for c in calls:
            tool = REGISTRY.get(c.tool)
            args = call_args(c)
            refusal = precheck(ctx, c.tool, args, tool.arg_names if tool else tuple(args))
            if refusal is None:
                pending.append({"tool": c.tool, "args": args})
            else:  # the arguments never reach the state
                pending.append(
                    {
                        "tool": c.tool,
                        "args": dict.fromkeys(args, "[withheld]"),
                        "refused": scrub(refusal, ctx.patient_id),
                    }
                )
        update["pending"] = pending
        if len(p.calls) > len(calls):
            update["warnings"] = [
                *warnings,
                f"{len(p.calls) - len(calls)} tool call(s) over the per-step limit were skipped.",
            ]
    return update


def route_after_tools(state: AgentState, runtime: Runtime[AgentContext]) -> str:
    """After the prefetched calls: when every one found nothing, or said what the question
    asks (the latest value, a count, a yes/no about a named thing: :func:`_computed`),
    that is the answer (said by code, no model call); straight to the answer when code's
    searches found what the question names (no planning round: fewer tokens, one model call); after the
    model's own calls, when the prefetch found nothing to go on, or when the request asks
    for an action (:mod:`agent.acts`; the planner takes it): plan. Once every action the
    request asks for is taken: the answer."""
    observations = state.get("observations") or []
    settings = runtime.context.settings
    asked = (state.get("focus") or {}).get("acts") or []
    if (
        settings.answer_nothing_found
        and not asked
        and state.get("steps", 0) == 0
        and all(o.get("prefetch") for o in observations)
        and _found_nothing(state)
    ):  # "When was her last MMR?", none on file: the searches' "nothing found" is the
        # answer; a model could only rephrase it, or state what the record does not hold
        return "finalize"
    if (
        settings.answer_computed and not asked and state.get("steps", 0) == 0 and _computed(state)
    ):  # "What is her latest HbA1c?": the tool's own sentence is the answer, cited
        return "finalize"
    if (
        asked
        and not open_acts(state, runtime.context)
        and any(o.get("ok") and o.get("tool") in {a[0] for a in asked} for o in observations)
    ):  # the action asked for is taken: say what was found and done
        return "compose"
    if (
        settings.answer_after_prefetch
        and not open_acts(state, runtime.context)
        and state.get("steps", 0) == 0
        and observations
        and all(o.get("prefetch") for o in observations)
        and any(o.get("ok") and o.get("handles") for o in observations)
    ):
        return "compose"
    return "plan"


def route_plan(state: AgentState) -> Any:
    if state.get("draft"):
        return "verify"
    pending = state.get("pending") or []
    if pending:
        return [Send("run_tool", {"call": c}) for c in pending]
    return "compose"


async def run_tool(arg: dict[str, Any], runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Run one tool call (many run in parallel through Send)."""
    ctx = runtime.context
    raw = arg["call"]
    call = ToolCall.model_validate({"tool": raw["tool"], "args": raw.get("args") or {}})
    args = {k: scrub(v, ctx.patient_id) for k, v in call.args.items()}
    call_id = uuid.uuid4().hex[:12]
    if raw.get("refused"):
        _emit(ToolFinished(call_id, call.tool, ok=False, refused=True))
        obs = {
            "tool": call.tool,
            "args": args,
            "ok": False,
            "lines": [f"TOOL ERROR: {raw['refused']}"],
            "handles": [],
        }
        return {"observations": [obs], "tool_errors": 1, "warnings": [_REFUSED]}
    _emit(ToolStarted(call_id, call.tool, args, prefetch=bool(raw.get("prefetch"))))
    try:
        result = await run_tool_call(ctx, call)
    except ToolCallRefused as exc:
        _emit(ToolFinished(call_id, call.tool, ok=False, refused=True))
        obs = {
            "tool": call.tool,
            "args": dict.fromkeys(call.args, "[withheld]"),
            "ok": False,
            "lines": [f"TOOL ERROR: {scrub(str(exc), ctx.patient_id)}"],
            "handles": [],
        }
        return {"observations": [obs], "tool_errors": 1, "warnings": [_REFUSED]}
    except ToolCallError as exc:
        _emit(ToolFinished(call_id, call.tool, ok=False, error=scrub(str(exc), ctx.patient_id)))
        if raw.get("prefetch"):  # not the model's call: nothing to show it, nothing counted
            return {}
        obs = {
            "tool": call.tool,
            "args": args,
            "ok": False,
            "lines": [f"TOOL ERROR: {scrub(str(exc), ctx.patient_id)}"],
            "handles": [],
        }
        return {"observations": [obs], "tool_errors": 1}
    _emit(ToolFinished(call_id, call.tool, ok=True, items=len(result.seen)))
    obs = {
        "tool": call.tool,
        "args": args,
        "prefetch": bool(raw.get("prefetch")),
        **{k: raw[k] for k in ("asks", "words", "whole", "topic") if k in raw},
        "ok": True,
        "lines": result.lines,
        "handles": list(result.seen),
        "statements": [[text, hs] for text, hs in result.statements],
        "leads": {k: [[text, hs] for text, hs in v] for k, v in result.leads.items()},
    }
    update: dict[str, Any] = {"observations": [obs], "evidence": result.seen}
    if result.usage:  # model calls a tool made (view_image)
        update["usage"] = result.usage
    return update


async def compose(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Write the answer (sentences with citation handles)."""
    ctx = runtime.context
    _show_from_record(state, ctx)
    messages = prompts.compose_messages(**_context_kwargs(state, ctx))
    try:
        out, usage = await _generate(ctx, "compose", messages, Composed)
    except MalformedOutput as exc:
        return {"draft": [], "warnings": [f"The model gave no usable answer ({exc.reason})."]}
    c: Composed = out
    return {"draft": _draft(c.sentences, ctx.patient_id), "usage": [usage]}


def _verify(
    state: AgentState, ctx: AgentContext, sentences: Sequence[dict[str, Any]]
) -> Verification:
    return verify_sentences(
        sentences,
        seen_of(state.get("evidence")),
        question=state.get("question", ""),
        inventory=state.get("inventory"),
        terminology=ctx.terminology,
        as_of=ctx.cache.evidence.as_of if ctx.cache.evidence else ctx.as_of,
        anchors=anchors_of(ctx.cache.evidence),
        recite=True,
        trim=True,
        recite_to=[
            h
            for o in state.get("observations") or []
            if o.get("prefetch") and o.get("ok")
            for h in o.get("handles") or []
        ][:8],
    )


async def _prepare_terminology(state: AgentState, ctx: AgentContext) -> None:
    """Let a server-backed terminology look up the codes of the evidence seen (cached)."""
    if ctx.terminology is None:
        return
    from tools.terminology import Code

    codes = {
        Code.of(c.system, c.code)
        for s in seen_of(state.get("evidence")).values()
        for c in s.item.codings
        if c.system and c.code
    }
    await ctx.terminology.prepare(codes)


async def verify(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Check every sentence; keep the findings for one repair round."""
    await _prepare_terminology(state, runtime.context)
    # CPU work off the event loop: a service keeps answering other requests meanwhile
    v = await asyncio.to_thread(_verify, state, runtime.context, state.get("draft") or [])
    findings = [{"text": c.text, "cites": c.cites, "reasons": c.reasons} for c in v.failed]
    _emit(Verified(len(v.passed), len(v.checks)))
    return {"findings": findings}


def route_verify(state: AgentState) -> str:
    if state.get("findings") and not state.get("repaired"):
        return "repair"
    return "finalize"


#: What a question may ask that the tools compute and say themselves (their ``leads``): a
#: series' statistics (:func:`agent.toolkit.lab_trend.lead_statements`), a list's first or
#: latest entry and its count, the patient's own facts (birth, death, sex, general
#: practitioner), a yes/no about a named thing (by its entries' status), a result against
#: its range. A whole current list needs no statistic (:func:`_is_list`).
_COMPUTED = frozenset(
    {"count", "mean", "change", "previous", "range", "first", "latest", "judge", "yesno", "ever",
     "ended", "death", "dead", "alive", "sex", "birth", "pcp", "recent", "score", "length", "dose",
     "reason", "latest_reason", "kin", "phone", "address", "insurance", "marital", "language",
     "threshold", "beyond", "stop_reason", "results",
     "count_beyond"}
)  # fmt: skip


#: What a whole list answers by itself (what else the question asks, another search
#: says: "active meds at time of death?" — the death, and the list)
_LIST_ASKS = frozenset(
    {
        None,
        "yesno",
        "ever",
        "death",
        "dead",
        "alive",
        "sex",
        "birth",
        "pcp",
        "kin",
        "phone",
        "address",
        "insurance",
    }
)


def _computed(state: AgentState) -> bool:
    """Every search the question called for said what it asks (its statistic, for each
    part of a question of several) or found nothing, and at least one found it: that is
    the answer, which code says from the searches (:func:`_from_the_record`); a model
    could only restate it (a 1.5B model re-derives a latest value, a count or a change
    less reliably than it copies one, and takes 10–30 s on 2 cores to do it)."""
    observations = state.get("observations") or []
    if not observations or not all(o.get("prefetch") and o.get("ok") for o in observations):
        return False
    focus = state.get("focus") or {}
    if focus.get("narrative"):
        return False  # "describe her problems in detail": prose, the model's to write
    if (
        focus.get("follow_up")
        and focus.get("asks") in (None, "yesno", "ever")
        and not focus.get("given_for")  # "is she on anything for it?": what is given for it
        and not focus.get("which")  # "what stage?": the entries that say it
    ):
        return False  # "anything else?": the conversation, which the model reads
    evidence = state.get("evidence") or {}
    if all(_asks_of(o, state) == CONTEXT for o in observations):
        return True  # "… at her last visit?": which visit (the other searches answer)
    said = False
    for o in observations:
        asks = _asks_of(o, state)
        if asks == CONTEXT:
            continue  # which visit, not what is asked
        if _is_list(o) and asks in _LIST_ASKS and o.get("statements"):
            said = True  # "what are her current medications?", "any allergies?", "active
            continue  # meds at time of death?": the whole list, as the record states it
        if asks is None and o.get("statements") and _as_it_stands(o, focus):
            said = True  # "what's his blood pressure?", "what inhalers is he on?": the
            continue  # series (its latest and course), the current entries of that kind
        args = o.get("args") or {}
        if (
            asks is None
            and o.get("tool") == "search_record"
            and (args.get("date_from") or args.get("date_to"))
            and not (args.get("name") or args.get("code"))
            and o.get("statements")
        ):  # "what meds were ordered at her last visit?", "what was she on in 2015?": the
            said = True  # window's entries and how many, as the search counts them
            continue
        if asks is None and (o.get("leads") or {}).get(ANY_ASK):
            said = True  # "what vaccines did he get last year?", none then: that search's
            continue  # "nothing found" and the last one before, whatever is asked
        if asks not in _COMPUTED:
            return False
        if asks in ("yesno", "ever", "ended") and len(observations) > 1 and "asks" not in o:
            return False  # "is the warfarin still right for her atrial fibrillation?": a
            # relation between the things named, which their entries do not answer (a
            # question of several parts asks each its own)
        if _lead(o, asks):
            said = True
            continue
        kinds = _kinds(o, evidence)
        if not kinds or any(kind not in _FOUND_NOTHING for kind in kinds):
            return False  # found entries but said nothing of what is asked: the model reads
    return said


def _as_it_stands(obs: dict[str, Any], focus: dict[str, Any]) -> bool:
    """A search that answers a question asking nothing of it but the thing itself: a
    named lab or vital's series (its latest value and its course, as the tool says it)
    or a named observation's values ("smoking hx"), the current entries of a named kind
    ("what inhalers is he on?"), or the entries of one asked "which" of ("what insulin
    was he on?", "what kind of cancer did he have?")."""
    args = obs.get("args") or {}
    if obs.get("tool") == "lab_trend":
        return bool(args.get("name") or args.get("code"))
    if obs.get("tool") == "search_record" and args.get("resource_type") in (
        "Observation",
        "Procedure",
    ):  # "smoking hx": a recorded observation's values, as a lab's are; "colonoscopy
        # results?": the procedure's entries, as the record holds them
        return bool(args.get("name") or args.get("code"))
    return (
        obs.get("tool") == "search_record"
        and bool(focus.get("current") or focus.get("which"))
        and bool(args.get("name") or args.get("code"))
        and not args.get("date_from")
        and not args.get("date_to")
    )


#: what a search that found nothing returns: its "nothing found", and the patient's own
#: entry beside it when a screening's due date was judged by her age ("when was his last
#: colonoscopy?": none)
_FOUND_NOTHING = frozenset({"absence", "patient"})


def _found_nothing(state: AgentState) -> bool:
    """Every search of the question came back empty: the answer is that "nothing found",
    which code says from the searches (:func:`_from_the_record`); a repair round could
    only rephrase it, or try again to state what the record does not hold."""
    mine = [o for o in state.get("observations") or [] if o.get("prefetch") and o.get("ok")]
    evidence = state.get("evidence") or {}
    found = [kind for o in mine for kind in _kinds(o, evidence)]
    return "absence" in found and all(kind in _FOUND_NOTHING for kind in found)


def _kinds(obs: dict[str, Any], evidence: dict[str, Any]) -> list[str | None]:
    """The kinds of the items a tool call returned (``absence``: it found nothing)."""
    return [evidence[h]["item"].get("kind") for h in obs.get("handles") or [] if h in evidence]


async def repair(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """One repair round: the failing sentences go back with the verifier's findings."""
    ctx = runtime.context
    if not ctx.settings.repair or not _time_left(state, ctx) or _found_nothing(state):
        return {"repaired": True}
    failed_texts = {f["text"] for f in state.get("findings") or []}
    kept = [s for s in state.get("draft") or [] if s["text"] not in failed_texts]
    failed = [s for s in state.get("draft") or [] if s["text"] in failed_texts]
    base = prompts.compose_messages(**_context_kwargs(state, ctx))
    messages = prompts.repair_messages(base, failed, state.get("findings") or [])
    try:
        out, usage = await _generate(ctx, "repair", messages, Composed)
    except MalformedOutput as exc:
        return {"repaired": True, "warnings": [f"The repair gave no usable output ({exc.reason})."]}
    c: Composed = out
    return {"draft": kept + _draft(c.sentences, ctx.patient_id), "repaired": True, "usage": [usage]}


# --------------------------------------------------------------------------- answer


def _cited(refs: Sequence[str], seen: dict[str, Seen]) -> list[CitedResource]:
    out = []
    for ref in refs:
        date, display = None, ""
        for entry in seen.values():
            item = entry.item
            if ref in item.references:
                display = item.text[:120]
                date = next((p.day for p in item.points if p.source.reference == ref), item.date)
                break
        rtype, _, rid = ref.partition("/")
        out.append(CitedResource(reference=ref, type=rtype, id=rid, date=date, display=display))
    return out


def _searches(handles: Sequence[str], seen: dict[str, Seen]) -> list[CitedSearch]:
    out = []
    for h in dict.fromkeys(handles):
        scope = seen[h].item.scope
        if scope is None:
            continue
        out.append(
            CitedSearch(
                handle=h,
                resource_types=list(scope.resource_types),
                codes=[c.short() for c in scope.codes],
                description=scope.describe(),
            )
        )
    return out


_HANDLES = r"E\d{1,5}(?:\s*[,;]\s*(?:and\s+)?E\d{1,5})*"
_IN_BRACKETS = re.compile(rf"\s*[\[(]\s*(?:see\s+|cites?\s+)?({_HANDLES})\s*[\])]")
_AT_END = re.compile(rf"\s*[:,]?\s*\b({_HANDLES})\b(?=\s*(?:[),;]|\.(?!\d))|\s*$)")


def _without_handles(text: str, known: Collection[str]) -> str:
    """A sentence as a reader sees it: the evidence handles the model wrote into its
    prose ("(E2)", "record: E8") are taken out (only handles of this session's evidence:
    never a code such as ICD-10 E11.9); the citations are the footnotes."""

    def drop(m: re.Match[str]) -> str:
        return "" if all(h in known for h in re.findall(r"E\d+", m.group(1))) else m.group(0)

    out = _AT_END.sub(drop, _IN_BRACKETS.sub(drop, text))
    out = re.sub(r"\s+([.,;:)])", r"\1", re.sub(r"\(\s*\)", "", out)).strip()
    return out or text


def _sentence(
    c: Any, seen: dict[str, Seen], pid: str, section: str | None = None
) -> AnswerSentence:
    """A checked sentence as it reaches the user (verified, or unverified and marked); a
    verified value said without its date gets the day of the cited result it is."""
    text = _without_handles(c.text, seen)
    if c.verdict == "verified":
        text = dated(text, [seen[h].item for h in c.valid_cites])
    refs = list(dict.fromkeys(r for h in c.valid_cites for r in seen[h].references(said=text)))
    searches = [h for h in c.valid_cites if seen[h].item.kind == "absence"]
    return AnswerSentence(
        text=scrub(text, pid),
        handles=c.valid_cites,
        references=refs,
        status=c.verdict,
        unchecked=list(c.unchecked),
        searches=searches,
        section=section,
    )


def _run_usage(state: AgentState, seconds: float) -> RunUsage:
    usage = state.get("usage") or []
    return RunUsage(
        model_calls=sum(u["calls"] for u in usage),
        prompt_tokens=sum(u["prompt_tokens"] for u in usage),
        completion_tokens=sum(u["completion_tokens"] for u in usage),
        seconds=round(seconds, 2),
        tool_calls=len(state.get("observations") or []),
        steps=state.get("steps", 0),
    )


def _record_sentence(
    text: str, handles: Sequence[str], seen: dict[str, Seen], pid: str
) -> AnswerSentence:
    """One statement of a tool's result as an answer sentence, marked extractive."""
    hs = [h for h in handles if h in seen]
    searches = [h for h in hs if seen[h].item.kind == "absence"]
    refs = list(dict.fromkeys(r for h in hs for r in seen[h].references(said=text)))
    sentence = sentence_case(text)
    if not sentence.rstrip().endswith((".", "!", "?")):
        sentence = sentence.rstrip() + "."  # one sentence each, not a run-on line
    return AnswerSentence(
        text=scrub(sentence, pid),
        handles=hs,
        references=refs,
        status="extractive",
        searches=searches,
    )


_ACTION_NAMES = {
    "record_vital": "recording of the vital sign",
    "order_lab": "lab order",
    "order_medication": "prescription",
    "refer_patient": "referral",
}


def _actions_not_taken(state: AgentState, ctx: AgentContext) -> list[str]:
    """A clear word for each action the request asked for that was not taken: writes off
    in this deployment, the tool's last error, or no call made (a condition code found
    not to hold is said in the answer instead, and is no longer asked)."""
    out = []
    observations = state.get("observations") or []
    for tool, conditional in (state.get("focus") or {}).get("acts") or []:
        what = _ACTION_NAMES.get(tool, tool)
        if not ctx.settings.allow_writes:
            out.append(
                f"This deployment does not write to the record: the requested {what} was not made."
            )
            continue
        mine = [o for o in observations if o.get("tool") == tool]
        if any(o.get("ok") for o in mine):
            continue
        error = next((ln for o in reversed(mine) for ln in o.get("lines") or []), "")
        why = f": {error.removeprefix('TOOL ERROR: ')}" if error else ""
        if not mine and conditional:
            why = " (its condition was not found to hold)"
        out.append(f"The requested {what} was not made{why}.")
    return out


def _writes_said(state: AgentState, seen: dict[str, Seen], pid: str) -> list[AnswerSentence]:
    """What this turn wrote, as the write tool says it to a person ("Ordered HbA1c (LOINC
    4548-4) on … at … UTC; reason: …"): always the answer's first sentences, whatever the
    model wrote (a model sentence citing the order may only repeat the request)."""
    cited: set[str] = set()
    out: list[AnswerSentence] = []
    for obs in state.get("observations") or []:
        tool = REGISTRY.get(obs.get("tool", ""))
        if tool is None or tool.needs != "writes" or not obs.get("ok"):
            continue
        for text, handles in obs.get("statements") or []:
            if handles and not cited & set(handles) and all(h in seen for h in handles):
                cited |= set(handles)
                out.append(_record_sentence(text, handles, seen, pid))
    return out


def _is_list(obs: dict[str, Any]) -> bool:
    """A prefetched call that returned a whole clinical list (marked so by
    :mod:`agent.prefetch`): the current conditions or medications, or the allergies."""
    return bool(obs.get("whole"))


def _statements(
    state: AgentState, seen: dict[str, Seen]
) -> list[tuple[dict[str, Any], str, list[str]]]:
    """The statements of the question's own (prefetched, successful) searches; said with
    the statistic the question asks for first (how many, the mean, the change …)."""
    out: list[tuple[dict[str, Any], str, list[str]]] = []
    said_before: set[str] = set()  # a test asked for by name and again in its group
    yes: set[str | None] = set()  # the words of the question a "Yes —" was said of
    found = {  # words of the question that some search found entries for
        o["words"]
        for o in state.get("observations") or []
        if o.get("prefetch") and o.get("ok") and o.get("words")
        and any(
            seen[h].item.kind not in ("absence", "patient")  # (a death said beside it)
            for h in o.get("handles") or [] if h in seen
        )
    }  # fmt: skip
    # (the problem said as the topic of what is asked after what is asked: "stroke - tpa
    # given?" — "Yes — Alteplase …", then the stroke)
    for obs in sorted(state.get("observations") or [], key=lambda o: bool(o.get("topic"))):
        if not obs.get("prefetch") or not obs.get("ok"):
            continue
        if obs.get("words") in found and all(  # (the patient: a death said beside it)
            seen[h].item.kind in ("absence", "patient")
            for h in obs.get("handles") or []
            if h in seen
        ):  # "lung function test": the procedure found, the lab panel not: no "nothing found"
            continue
        asks = _asks_of(obs, state)
        if asks == CONTEXT:
            asks = "latest"  # the visit the question is of, said by its day
        focus = state.get("focus") or {}
        if focus.get("follow_up") and asks in ("yesno", "ever"):
            asks = None  # "any bleeding?" after the warfarin: no "Yes —" about the warfarin
        said = (
            _lead(obs, asks)
            # "what statin is she on?": the entries that hold now, or "None current —"
            or (
                _lead(obs, "current")
                if asks is None and focus.get("current") and _as_it_stands(obs, focus)
                else None
            )
            or obs.get("statements")
            or []
        )
        for text, handles in said:
            hs = [h for h in handles if h in seen]
            if obs.get("topic"):  # the problem said as the topic of what is asked
                text = _VERDICT.sub("", text)  # ("stroke - any tpa?"): as it stands
            if text.startswith(_YES) and (
                obs.get("words") in yes or (yes and not obs.get("words"))
            ):
                # "chemo?": one "Yes —" for the drug and procedure; "a lipid panel?": for
                # the panel and the tests it groups (a search of no words of its own)
                text = text[len(_YES) :]
            once = _once(text, hs)
            if hs and asks == "stop_reason" and once in said_before and " — " in text:
                # "on a statin, and why was the simvastatin stopped?": the order said
                # once, with why it was stopped
                why = " — " + _unprefixed(text).split(" — ", 1)[1]
                out = [
                    (o, f"{t.rstrip('.')}{why}" if _once(t, h) == once and why not in t else t, h)
                    for o, t, h in out
                ]
                continue
            if hs and _unprefixed(text) not in said_before and once not in said_before:
                said_before.add(_unprefixed(text))
                said_before.add(once)
                if text.startswith(_YES):
                    yes.add(obs.get("words"))
                out.append((obs, text, hs))
    return out


_YES = "Yes — "
_VERDICT = re.compile(r"^(?:Yes|No(?:, not (?:currently|at death))?|None current(?: at death)?) — ")


def _unprefixed(text: str) -> str:
    """A statement without its verdict, to say an entry once ("do I have nerve damage from
    my diabetes?": the neuropathy is found by both searches, "Yes —" by the first)."""
    return _RELATED.sub("", _VERDICT.sub("", text))


#: what an absence says beside it ("Related on record (anaphylaxis): …"): the entry is said
#: once, whichever search said it first
_RELATED = re.compile(r"^Related on record \([^)]*\): ")


def _once(text: str, handles: Sequence[str]) -> str:
    """An entry's statement without what one search adds to it ("… — non-steroidal
    anti-inflammatory drug": why the search took it in), to say it once when two searches
    find it ("hip arthritis - what's she taking for pain?": the naproxen, for both)."""
    base = _unprefixed(text).split(" — ")[0].rstrip(". ")
    return f"{','.join(handles)}|{base}" if len(handles) == 1 else text


def _from_the_record(
    state: AgentState, seen: dict[str, Seen], pid: str, limit: int = 8
) -> list[AnswerSentence]:
    """Code answers what code knows: when no model sentence holds, what the question's
    own searches found (or that they found nothing), as the record states it, marked
    extractive — never an empty answer when the record speaks to the question. A whole
    list (current conditions or medications, allergies) is given whole."""
    out: list[AnswerSentence] = []
    more: list[tuple[str, list[str]]] = []
    at = 0  # where what is past the limit would have been said
    for obs, text, hs in _statements(state, seen):
        if len(out) < limit or _is_list(obs):
            out.append(_record_sentence(text, hs, seen, pid))
        else:
            at = at or len(out)
            more.append((text, hs))
    if more:  # what is past the limit is named, never dropped unsaid
        names = list(dict.fromkeys(_unprefixed(t).split(":")[0].strip() for t, _hs in more))
        text = f"{len(more)} more found (ask for each by name): {'; '.join(names)}"
        out.insert(at, _record_sentence(text, [h for _t, hs in more for h in hs], seen, pid))
    return out


def _unsaid_absences(
    state: AgentState, sentences: Sequence[AnswerSentence], seen: dict[str, Seen], pid: str
) -> list[AnswerSentence]:
    """The question's own searches that found nothing, when no sentence of the answer rests
    on them: a negative answer is the record's to give, never left out because the model
    wrote about something else ("List her active problems", none active: a true sentence
    about an allergy does not answer it)."""
    cited = {h for s in sentences for h in s.handles}
    verdict = (state.get("focus") or {}).get("verdict")  # said first, by code: its search
    if verdict:
        cited |= set(verdict[1])
    return [
        _record_sentence(text, hs, seen, pid)
        for _obs, text, hs in _statements(state, seen)
        if all(seen[h].item.kind == "absence" for h in hs) and not cited & set(hs)
    ]


def _names(text: str, seen: dict[str, Seen], handles: Sequence[str], term: Terminology) -> set[str]:
    """The handles whose entry ``text`` names: by its name, or a concept of it ("metformin"
    for "24 HR Metformin hydrochloride 500 MG Extended Release Oral Tablet")."""
    low = text.lower()
    said = {c.id for m in term.mentions(text) for c in m.concepts}
    return {
        h
        for h in handles
        if h in seen
        and (
            plain(seen[h].item.name).lower() in low
            or any(c.id in said for c in item_concepts(seen[h].item, term))
        )
    }


#: entries a sentence names (not values): a sentence citing several names the ones it rests on
_NAMED_KINDS = frozenset({"condition", "medication", "allergy", "immunization", "procedure"})


def _cites_what_it_names(
    s: AnswerSentence, seen: dict[str, Seen], term: Terminology
) -> AnswerSentence:
    """A sentence that names some of the entries it cites ("She was on A and B", citing A
    to E) rests on those it names; one that names none of them, or counts them, keeps all."""
    if states_count(s.text):
        return s
    entries = [h for h in s.handles if h in seen and seen[h].item.kind in _NAMED_KINDS]
    said = _names(s.text, seen, entries, term)
    named = [h for h in entries if h in said]
    if not named or len(named) == len(entries):
        return s
    handles = [h for h in s.handles if h not in entries or h in named]
    refs = list(dict.fromkeys(r for h in handles for r in seen[h].references(said=s.text)))
    return s.model_copy(update={"handles": handles, "references": refs})


def _left_out(
    state: AgentState,
    sentences: Sequence[AnswerSentence],
    seen: dict[str, Seen],
    pid: str,
    term: Terminology,
) -> list[AnswerSentence]:
    """The entries of a whole list the answer drew on but left out (the model chose some
    of the current conditions, say): code completes the list from the record, marked
    extractive. An entry a sentence cites but does not name ("She was on A and B", citing
    A to E) is left out too. A list the answer did not draw on is not the question's, and
    is not added; nor is one when the question names a thing ("for what condition is she
    on hydrochlorothiazide?" citing her hypertension from the problem list is no list of
    her problems)."""
    concepts = (state.get("focus") or {}).get("concepts") or []
    if any(not names_a_section(words) for words, _id in concepts):
        return []
    cited = {h for s in sentences for h in s.handles}
    named = {h for s in sentences for h in _names(s.text, seen, s.handles, term)}
    by_obs: dict[int, list[tuple[str, list[str]]]] = {}
    used: set[int] = set()
    for obs, text, hs in _statements(state, seen):
        if not _is_list(obs) or seen[hs[0]].item.kind == "absence":
            continue
        by_obs.setdefault(id(obs), []).append((text, hs))
        if cited & set(hs):
            used.add(id(obs))
    return [
        _record_sentence(text, hs, seen, pid)
        for key in used
        for text, hs in by_obs[key]
        if not named & set(hs)
    ]


async def finalize(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Drop what still fails, build the CitedAnswer."""
    ctx = runtime.context
    pid = ctx.patient_id
    seen = seen_of(state.get("evidence"))
    v = await asyncio.to_thread(_verify, state, ctx, state.get("draft") or [])
    sentences = [_sentence(c, seen, pid) for c in v.passed]
    dropped = [
        DroppedSentence(text=scrub(c.text, pid), handles=c.cites, reasons=c.reasons)
        for c in v.failed
    ]
    warnings = list(dict.fromkeys(state.get("warnings") or []))
    for c in v.passed:
        unknown = [f.detail for f in c.findings if f.kind == "unknown_handle"]
        if unknown:
            warnings.append(f"Removed unknown citations: {'; '.join(unknown)}.")
    recited = [c for c in v.passed if c.recited_from is not None]
    if recited:
        warnings.append(
            f"{len(recited)} sentence(s) cited the wrong entries, or none; code cited the "
            "entries that hold them, and checked every claim against those."
        )
    uncited = sum(len(c.uncited) for c in v.passed)
    if uncited:
        warnings.append(f"Removed {uncited} citation(s) that support nothing their sentence says.")
    if sentences:
        term = ctx.terminology or default_terminology()
        missing = _left_out(state, sentences, seen, pid, term)
        sentences = [_cites_what_it_names(s, seen, term) for s in sentences]
        unsaid = _unsaid_absences(state, sentences, seen, pid)
        if unsaid:
            sentences = [*unsaid, *sentences]
            warnings.append(
                "The answer did not say what the record's search for the question found "
                "(nothing); added from the record."
            )
        if missing:
            sentences += missing
            warnings.append(
                f"The answer left out {len(missing)} "
                f"{'entry' if len(missing) == 1 else 'entries'} of the record's list; "
                "added from the record."
            )
    else:
        sentences = _from_the_record(state, seen, pid)
        if state.get("usage"):  # a model was asked (not: nothing found, answered by code)
            warnings.append(
                "No sentence of the model's answer could be verified against the record"
                + (
                    "; the record's own entries for the question are shown instead."
                    if sentences
                    else "."
                )
            )
    warnings += _actions_not_taken(state, ctx)
    verdict = (state.get("focus") or {}).get("verdict")
    if verdict and all(h in seen for h in verdict[1]):
        sentences = [_record_sentence(verdict[0], verdict[1], seen, pid), *sentences]
    sentences = [*_writes_said(state, seen, pid), *sentences]
    refs = list(dict.fromkeys(r for s in sentences for r in s.references))
    answer = CitedAnswer(
        patient_id=pid,
        mode="ask",
        question=state.get("question", ""),
        sentences=sentences,
        cited=_cited(refs, seen),
        searches=_searches([h for s in sentences for h in s.searches], seen),
        warnings=warnings,
        dropped=dropped,
        usage=_run_usage(state, time.time() - state.get("started", time.time())),
        thread_id=ctx.thread_id,
    )
    focus = dict(state.get("focus") or {})
    day = None if focus.get("day") else _answered_day(sentences, seen, focus.get("asks"))
    if day:  # "when did she deliver?" — "what was her hemoglobin then?"
        focus["day"] = day
    return {
        "answer": answer.as_dict(),
        "turns": [
            {
                "question": state.get("question", ""),
                "answer": answer.text,
                "focus": focus,
            }
        ],
    }


#: entries that happened on a day a follow-up's "then" can mean (not a list, a patient)
_DATED_KINDS = frozenset(
    {"encounter", "procedure", "immunization", "condition", "observation", "medication"}
)


def _answered_day(
    sentences: Sequence[AnswerSentence], seen: dict[str, Seen], asks: str | None
) -> str | None:
    """The day an answer is about, when it leads with one dated entry ("when did she
    deliver?": the delivery's day; "first" asked: its first occurrence, else its latest):
    what a follow-up's "then" means. None for an answer of several entries or none."""
    if not sentences:
        return None
    entries = [
        seen[h].item
        for h in sentences[0].handles
        if h in seen and seen[h].item.kind not in ("absence", "patient")
    ]
    if len(entries) > 1 and len({e.kind for e in entries}) == 1 and entries[0].kind in _DATED_KINDS:
        # one result said of the entries of several codes ("eGFR: 82.32 … on 2021-03-13",
        # citing both eGFR codes' series): the first of their days the sentence states
        days = {str(p.day)[:10] for e in entries for p in e.points if p.day}
        said = [d for d in re.findall(r"\d{4}-\d{2}-\d{2}", sentences[0].text) if d in days]
        return said[0] if said else None
    if len(entries) != 1 or entries[0].kind not in _DATED_KINDS:
        return None
    item = entries[0]
    dated = sorted((p.day for p in item.points if p.day), key=str)
    if not dated:
        return None
    # the day the sentence states, when it states one of the entry's ("The most recent up
    # to 1996-01-21: … 1996-01-19": that visit, not a later one of its kind)
    stated = [d for d in dated if str(d)[:10] in sentences[0].text]
    if stated:
        # ("… the one before the most recent (2017-12-24)": that one, the earlier day)
        return str(stated[0] if asks in ("first", "previous") else stated[-1])[:10]
    day = dated[0] if asks == "first" else (item.latest.day if item.latest else None) or dated[-1]
    return str(day)[:10]


# --------------------------------------------------------------------------- brief


def _line_handles(line: Line, ev: EvidenceSet, by_ref: dict[str, str]) -> list[str]:
    if line.handles:
        return list(line.handles)
    return list(dict.fromkeys(by_ref[r] for r in line.refs if r in by_ref))


async def brief_node(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """The pre-visit brief: code writes its sections from the record (a first screen a
    clinician reads in a minute, then the history, folded: :mod:`tools.brief`); the model
    writes one short overview of the first screen in a single call, every sentence
    verified against the lines it cites (a failed one is dropped; no overview when none
    holds or the time budget is spent)."""
    ctx = runtime.context
    pid = ctx.patient_id
    ev = await ensure_evidence(ctx)
    by_ref = ev.by_reference()
    parts = await asyncio.to_thread(_brief_parts, ev)
    usage: list[dict[str, Any]] = []
    warnings: list[str] = []
    dropped: list[DroppedSentence] = []
    evidence: dict[str, dict[str, Any]] = {}
    cited: dict[str, list[Line]] = {}
    for part in parts:
        lines = []
        for ln in part.lines:
            line = Line(
                ln.text, _line_handles(ln, ev, by_ref), ln.refs, trend=ln.trend, numbers=ln.numbers
            )
            evidence = merge_seen(evidence, _seed(ev, [line], pid))
            lines.append(line)
        cited[part.title] = lines
    first = [p for p in parts if p.first_screen]
    prompt_lines = [
        f"{', '.join(ln.handles) or '-'}: {p.title}: {scrub(ln.text, pid)}"
        for p in first
        for ln in cited[p.title]
    ]
    overview: list[AnswerSentence] = []
    if any(ln.handles for p in first for ln in cited[p.title]) and _time_left(state, ctx):
        try:
            out, u = await _generate(
                ctx, "brief", prompts.brief_messages(pid, prompt_lines), Overview
            )
            usage.append(u)
            overview, removed = await asyncio.to_thread(
                _checked_overview, out, seen_of(evidence), ctx, ev.as_of
            )
            dropped += removed
        except MalformedOutput as exc:
            warnings.append(f"Overview: the model gave no usable output ({exc.reason}).")
    if not overview:
        warnings.append(
            "No model-written overview could be verified; the brief shows the record's entries only."
        )
    seen = seen_of(evidence)
    sentences = list(overview)
    for part in parts:
        lines = cited[part.title]
        if not lines and part.first_screen:
            lines = [Line("none recorded")]
        for ln in lines:
            refs = list(
                dict.fromkeys([*ln.refs, *(r for h in ln.handles for r in seen[h].references())])
            )
            searches = [h for h in ln.handles if seen[h].item.kind == "absence"]
            sentences.append(
                AnswerSentence(
                    text=scrub(ln.text, pid),
                    handles=list(ln.handles),
                    references=refs,
                    status="extractive",
                    searches=searches,
                    section=part.title,
                )
            )
        if part.more:
            sentences.append(
                AnswerSentence(
                    text=f"+{part.more} more under the history below",
                    status="extractive",
                    section=part.title,
                )
            )
    state_like: AgentState = {"usage": usage, "steps": 0, "observations": []}
    refs = list(dict.fromkeys(r for s in sentences for r in s.references))
    patient = ev.section("patient")
    who = patient[0].demographics if patient else None
    answer = CitedAnswer(
        patient_id=pid,
        mode="brief",
        question="pre-visit brief",
        sentences=sentences,
        cited=_cited(refs, seen),
        searches=_searches([h for s in sentences for h in s.searches], seen),
        warnings=warnings,
        dropped=dropped,
        usage=_run_usage(state_like, time.time() - state["started"]),
        thread_id=ctx.thread_id,
        title=scrub(who.name, pid) if who and who.name else None,
        died=(who.death_date or "") if who and who.deceased else None,
        collapsed=[p.title for p in parts if not p.first_screen],
    )
    return {"answer": answer.as_dict(), "evidence": evidence, "usage": usage}


def _checked_overview(
    out: Overview, seen: dict[str, Seen], ctx: AgentContext, as_of: dt.date | None
) -> tuple[list[AnswerSentence], list[DroppedSentence]]:
    """The model's overview as the brief shows it: a text the length limit cut keeps its
    whole sentences (the rest is dropped, and so is a text that only continues it:
    "ystolic blood pressure is …"); each is verified against the lines it names (recited
    when it cites the wrong ones, :func:`agent.verify.verify_sentences`), and only what is
    verified whole is kept: the first lines a clinician reads hold no unchecked claim."""
    pid = ctx.patient_id
    dropped: list[DroppedSentence] = []

    def drop(text: str, cites: list[str], reasons: list[str]) -> None:
        dropped.append(DroppedSentence(text=scrub(text, pid), handles=cites, reasons=reasons,
                                       section="Overview"))  # fmt: skip

    kept: list[OverviewSentence] = []
    cut_before = False
    for x in out.sentences:
        if cut_before and x.text[:1].islower():
            drop(x.text, x.cites, ["continues a sentence cut off at the length limit"])
            continue
        cut_before = _cut(x.text)
        whole = _whole_sentences(x.text)
        if whole != x.text:
            drop(x.text[len(whole) :].strip(), x.cites,
                 ["cut off at the length limit of an overview sentence" if cut_before
                  else "left unfinished"])  # fmt: skip
        if whole:
            kept.append(x.model_copy(update={"text": whole}))
    v = verify_sentences(
        [x.model_dump() for x in kept],
        seen,
        terminology=ctx.terminology,
        as_of=as_of,
        recite=True,  # a sentence naming a line it did not cite: checked against it
        trim=True,
    )
    overview = []
    for c in v.passed:
        if c.verdict == "verified":
            overview.append(_sentence(c, seen, pid, "Overview"))
        else:
            drop(c.text, c.cites, [f"could not be checked whole ({', '.join(c.unchecked)})"])
    for c in v.failed:
        drop(c.text, c.cites, c.reasons)
    return overview, dropped


#: where a sentence ends inside a text ("… hypertension. Her stroke risk is")
_SENTENCE_END = re.compile(r"[.!?](?=\s+[A-Z])")


def _whole_sentences(text: str) -> str:
    """The text, or when it stops unfinished (cut by the length limit, or a sentence after
    a whole one left without its end: "… 83.3 mmHg. His results also include e"), its whole
    sentences before that (the model's own words, none added; "" when the length limit
    cut the first). One sentence without a full stop is whole ("Allergies: Lisinopril")."""
    if text.rstrip().endswith((".", "!", "?", ")")):
        return text
    ends = [m.end() for m in _SENTENCE_END.finditer(text)]
    return text[: ends[-1]] if ends else ("" if _cut(text) else text)


def _cut(text: str) -> bool:
    """A sentence stopped by the length limit, not ended by its writer."""
    return len(text) >= OVERVIEW_SENTENCE_CHARS - 1 and not text.rstrip().endswith(
        (".", "!", "?", ")")
    )


def _brief_parts(ev: EvidenceSet) -> list[BriefSection]:
    """The brief's sections as written by code (:func:`tools.brief.brief_sections`)."""
    from tools.brief import brief_sections
    from tools.trends import lab_trends

    return brief_sections(ev.view, ev, lab_trends(ev.view, as_of=ev.as_of), ev.as_of)

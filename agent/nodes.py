"""The graph's nodes: load_context → plan ⇄ run_tool (Send fan-out) → compose → verify
(→ one repair → verify) → finalize; and the brief workflow's node.

Nodes take ``(state, runtime)`` and read the run configuration from ``runtime.context``
(:class:`agent.context.AgentContext`). Source errors propagate (the checkpointed thread
keeps the last completed step); tool errors go back to the model as text.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Sequence
from typing import Any

from langgraph.config import get_stream_writer
from langgraph.runtime import Runtime
from langgraph.types import Send

from tools.evidence import SECTIONS, EvidenceSet
from tools.summary import Line, summarize

from . import prompts
from .answer import AnswerSentence, CitedAnswer, CitedResource, DroppedSentence, RunUsage
from .context import AgentContext
from .errors import AgentError, MalformedOutput, ToolCallError, ToolCallRefused
from .events import AgentEvent, ModelStarted, Status, ToolFinished, ToolStarted, Verified
from .models import Message
from .prefetch import prefetch_calls
from .state import AgentState
from .tool_specs import Composed, Plan, ToolCall, item_dict, precheck, run_tool_call, scrub
from .verify import verify_sentences

__all__ = [
    "brief_node",
    "compose",
    "finalize",
    "load_context",
    "plan",
    "repair",
    "route_after_load",
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


def _seed(
    ev: EvidenceSet, handles: Sequence[str], lines: Sequence[Line], pid: str
) -> dict[str, dict[str, Any]]:
    notes: dict[str, list[str]] = {}
    for ln in lines:
        for h in ln.handles:
            notes.setdefault(h, []).append(ln.text)
    out: dict[str, dict[str, Any]] = {}
    for h in handles:
        try:
            item = ev.get(h)
        except KeyError:
            continue
        d = item_dict(item, pid)
        d["notes"] = [scrub(n, pid) for n in notes.get(h, [])]
        out[h] = d
    return out


# --------------------------------------------------------------------------- load


async def load_context(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Fetch the record once, build the budgeted summary, seed the evidence registry."""
    ctx = runtime.context
    if state.get("patient_id") and state["patient_id"] != ctx.patient_id:
        raise AgentError(
            f"This thread belongs to another patient than Patient/{ctx.patient_id}; "
            "start a new thread (another --thread id) for this patient."
        )
    _emit(Status(f"loading the record of Patient/{ctx.patient_id}"))
    from .tool_specs import ensure_evidence

    ev = await ensure_evidence(ctx)
    summary = summarize(
        ctx.cache.record or [], budget=ctx.settings.summary_budget, as_of=ev.as_of, evidence=ev
    )
    text = scrub(summary.text, ctx.patient_id)
    seed_lines = [
        Line(ln, [h.strip() for h in ln.rsplit("[", 1)[1].rstrip("]").split(",")])
        for ln in text.splitlines()
        if ln.rstrip().endswith("]") and "[E" in ln
    ]
    question = state.get("question", "")
    prefetch = (
        prefetch_calls(question, ev, limit=ctx.settings.max_calls_per_step)
        if ctx.mode == "ask" and ctx.settings.prefetch
        else []
    )
    return {
        "patient_id": ctx.patient_id,
        "mode": ctx.mode,
        "turn": state.get("turn", 0) + 1,
        "started": time.time(),
        "summary": text,
        "evidence": _seed(ev, summary.handles, seed_lines, ctx.patient_id),
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
    summary = state.get("summary", "")
    out = []
    for h, item in (state.get("evidence") or {}).items():
        if f"{h}]" in summary or f"{h}," in summary:
            continue
        out.append(f"{h} {item['text']}")
    return out[:40]


def _observation_lines(state: AgentState) -> list[str]:
    lines: list[str] = []
    for o in state.get("observations") or []:
        args = ", ".join(f"{k}={v}" for k, v in o["args"].items())
        lines.append(f"{o['tool']}({args}):")
        lines.extend(f"  {t}" for t in o["lines"])
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


async def plan(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Ask the model for tool calls, or for the answer when the evidence suffices."""
    ctx = runtime.context
    s = ctx.settings
    steps = state.get("steps", 0)
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
    messages = prompts.plan_messages(
        **_context_kwargs(state, ctx),
        sections=SECTIONS,
        multimodal=ctx.multimodal,
        allow_writes=s.allow_writes,
        max_calls=s.max_calls_per_step,
        last_round=steps + 1 >= s.max_steps,
    )
    try:
        out, usage = await _generate(ctx, "plan", messages, Plan)
    except MalformedOutput as exc:
        return {
            "steps": steps + 1,
            "pending": [],
            "warnings": [f"The plan step gave no usable output ({exc.reason})."],
        }
    p: Plan = out
    update: dict[str, Any] = {"steps": steps + 1, "usage": [usage], "pending": []}
    if p.action == "answer" and p.sentences:
        update["draft"] = _draft(p.sentences, ctx.patient_id)
    elif p.calls:
        calls = p.calls[: s.max_calls_per_step]
        pending = []
        for c in calls:
            refusal = precheck(ctx, c)
            if refusal is None:
                pending.append(c.model_dump())
            else:  # the arguments never reach the state
                pending.append(
                    {
                        "tool": c.tool,
                        "args": dict.fromkeys(c.args, "[withheld]"),
                        "refused": scrub(refusal, ctx.patient_id),
                    }
                )
        update["pending"] = pending
        if len(p.calls) > len(calls):
            update["warnings"] = [
                f"{len(p.calls) - len(calls)} tool call(s) over the per-step limit were skipped."
            ]
    return update


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
    _emit(ToolFinished(call_id, call.tool, ok=True, items=len(result.items)))
    obs = {
        "tool": call.tool,
        "args": args,
        "prefetch": bool(raw.get("prefetch")),
        "ok": True,
        "lines": result.lines,
        "handles": list(result.items),
    }
    update: dict[str, Any] = {"observations": [obs], "evidence": result.items}
    if result.usage:  # model calls a tool made (view_image)
        update["usage"] = result.usage
    return update


async def compose(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Write the answer (sentences with citation handles)."""
    ctx = runtime.context
    messages = prompts.compose_messages(**_context_kwargs(state, ctx))
    try:
        out, usage = await _generate(ctx, "compose", messages, Composed)
    except MalformedOutput as exc:
        return {"draft": [], "warnings": [f"The model gave no usable answer ({exc.reason})."]}
    c: Composed = out
    return {"draft": _draft(c.sentences, ctx.patient_id), "usage": [usage]}


async def verify(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Check every sentence; keep the findings for one repair round."""
    v = verify_sentences(
        state.get("draft") or [], state.get("evidence") or {}, state.get("question", "")
    )
    findings = [{"text": c.text, "cites": c.cites, "reasons": c.reasons} for c in v.failed]
    _emit(Verified(len(v.passed), len(v.checks)))
    return {"findings": findings}


def route_verify(state: AgentState) -> str:
    if state.get("findings") and not state.get("repaired"):
        return "repair"
    return "finalize"


async def repair(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """One repair round: the failing sentences go back with the verifier's findings."""
    ctx = runtime.context
    if not ctx.settings.repair or not _time_left(state, ctx):
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


def _references(item: dict[str, Any]) -> list[str]:
    """What a sentence citing ``item`` rests on: all its resources when few; for a long
    series, the part a tool focused on (a window's values, at most 20), else its latest."""
    refs = list(item.get("references") or [])
    if len(refs) <= 3:
        return refs
    focus = list(item.get("focus") or [])
    return focus[:20] if focus else [item["reference"]]


def _cited(refs: Sequence[str], evidence: dict[str, dict[str, Any]]) -> list[CitedResource]:
    out = []
    for ref in refs:
        date, display = None, ""
        for item in evidence.values():
            if ref in (item.get("references") or []):
                display = item["text"][:120]
                date = next(
                    (c["date"] for c in item.get("citations") or [] if c["reference"] == ref),
                    item.get("date"),
                )
                break
        rtype, _, rid = ref.partition("/")
        out.append(CitedResource(reference=ref, type=rtype, id=rid, date=date, display=display))
    return out


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


async def finalize(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Drop what still fails, build the CitedAnswer."""
    ctx = runtime.context
    pid = ctx.patient_id
    evidence = state.get("evidence") or {}
    v = verify_sentences(state.get("draft") or [], evidence, state.get("question", ""))
    sentences = []
    refs: list[str] = []
    for c in v.passed:
        r = list(dict.fromkeys(x for h in c.valid_cites for x in _references(evidence[h])))
        refs.extend(r)
        sentences.append(
            AnswerSentence(text=scrub(c.text, pid), handles=c.valid_cites, references=r)
        )
    dropped = [
        DroppedSentence(text=scrub(c.text, pid), handles=c.cites, reasons=c.reasons)
        for c in v.failed
    ]
    warnings = list(dict.fromkeys(state.get("warnings") or []))
    for c in v.passed:
        unknown = [f.detail for f in c.findings if f.kind == "unknown_handle"]
        if unknown:
            warnings.append(f"Removed unknown citations: {'; '.join(unknown)}.")
    if not sentences:
        warnings.append("No sentence of the model's answer could be verified against the record.")
    answer = CitedAnswer(
        patient_id=pid,
        mode="ask",
        question=state.get("question", ""),
        sentences=sentences,
        cited=_cited(list(dict.fromkeys(refs)), evidence),
        warnings=warnings,
        dropped=dropped,
        usage=_run_usage(state, time.time() - state.get("started", time.time())),
        thread_id=ctx.thread_id,
    )
    return {
        "answer": answer.as_dict(),
        "turns": [{"question": state.get("question", ""), "answer": answer.text}],
    }


# --------------------------------------------------------------------------- brief


def _line_handles(line: Line, ev: EvidenceSet, by_ref: dict[str, str]) -> list[str]:
    if line.handles:
        return list(line.handles)
    return list(dict.fromkeys(by_ref[r] for r in line.refs if r in by_ref))


async def brief_node(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Model-written brief: each group of extractive sections is phrased by the model with
    citations, verified; extractive lines not covered by a verified sentence are added
    (marked extractive), so the brief covers at least what the extractive one does."""
    ctx = runtime.context
    pid = ctx.patient_id
    from .tool_specs import ensure_evidence

    ev = await ensure_evidence(ctx)
    by_ref: dict[str, str] = {}
    for item in ev.items:
        for r in item.references:
            by_ref.setdefault(r, item.handle)
    raw_sections = _brief_lines(ev)
    sentences: list[AnswerSentence] = []
    dropped: list[DroppedSentence] = []
    usage: list[dict[str, Any]] = []
    warnings: list[str] = []
    evidence: dict[str, dict[str, Any]] = {}
    refs: list[str] = []

    def extractive(title: str, ln: Line, handles: list[str]) -> None:
        r = list(dict.fromkeys([*ln.refs, *(x for h in handles for x in _references(evidence[h]))]))
        refs.extend(r)
        sentences.append(
            AnswerSentence(
                text=scrub(ln.text, pid),
                handles=handles,
                references=r,
                status="extractive",
                section=title,
            )
        )

    patient = raw_sections.get("Patient", [])
    for ln in patient:
        hs = _line_handles(ln, ev, by_ref)
        evidence.update(_seed(ev, hs, [Line(ln.text, hs)], pid))
        extractive("Patient", ln, hs)
    for title, names in prompts.BRIEF_GROUPS:
        lines = [ln for n in names for ln in raw_sections.get(n, [])]
        if not lines:
            continue
        entries = []
        for ln in lines:
            hs = _line_handles(ln, ev, by_ref)
            evidence.update(_seed(ev, hs, [Line(ln.text, hs)], pid))
            entries.append((ln, hs))
        prompt_lines = [f"{', '.join(hs) or '-'}: {scrub(ln.text, pid)}" for ln, hs in entries]
        group_ok = []
        if (
            any(hs for _ln, hs in entries)
            and time.time() - state["started"] < ctx.settings.time_budget_s
        ):
            try:
                out, u = await _generate(
                    ctx,
                    f"brief:{title}",
                    prompts.brief_messages(pid, title, prompt_lines),
                    Composed,
                )
                usage.append(u)
                v = verify_sentences([x.model_dump() for x in out.sentences], evidence)
                group_ok = v.passed
                dropped.extend(
                    DroppedSentence(
                        text=scrub(c.text, pid), handles=c.cites, reasons=c.reasons, section=title
                    )
                    for c in v.failed
                )
            except MalformedOutput as exc:
                warnings.append(f"{title}: the model gave no usable output ({exc.reason}).")
        covered: set[str] = set()
        for c in group_ok:
            cref = list(dict.fromkeys(x for h in c.valid_cites for x in _references(evidence[h])))
            refs.extend(cref)
            covered.update(c.valid_cites)
            sentences.append(
                AnswerSentence(
                    text=scrub(c.text, pid), handles=c.valid_cites, references=cref, section=title
                )
            )
        missing = [(ln, hs) for ln, hs in entries if not hs or not set(hs) <= covered]
        if missing and group_ok:
            warnings.append(
                f"{title}: {len(missing)} line(s) not covered by verified model sentences "
                "were added from the extractive brief."
            )
        elif missing:
            warnings.append(f"{title}: extractive lines shown (no model sentence verified).")
        for ln, hs in missing:
            extractive(title, ln, hs)
    for title in ("Past problems", "Social history"):
        for ln in raw_sections.get(title, []):
            hs = _line_handles(ln, ev, by_ref)
            evidence.update(_seed(ev, hs, [Line(ln.text, hs)], pid))
            extractive(title, ln, hs)
    state_like: AgentState = {"usage": usage, "steps": 0, "observations": []}
    answer = CitedAnswer(
        patient_id=pid,
        mode="brief",
        question="pre-visit brief",
        sentences=sentences,
        cited=_cited(list(dict.fromkeys(refs)), evidence),
        warnings=warnings,
        dropped=dropped,
        usage=_run_usage(state_like, time.time() - state["started"]),
        thread_id=ctx.thread_id,
    )
    return {"answer": answer.as_dict(), "evidence": evidence, "usage": usage}


def _brief_lines(ev: EvidenceSet) -> dict[str, list[Line]]:
    """The extractive brief's sections as Line objects (the baseline to cover)."""
    from tools.brief import brief_sections
    from tools.trends import lab_trends

    return brief_sections(ev.view, ev, lab_trends(ev.view, as_of=ev.as_of), ev.as_of)

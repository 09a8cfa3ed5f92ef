"""The interview as a LangGraph graph with interrupts: one question at a time.

::

    START → consent ─(on file / given)─▶ plan ─▶ phrase ─▶ ask ─(next)─▶ phrase ─▶ ask … ─(done)─▶ END
               │ ▲ (unclear: one follow-up)
               └─┴─(refused)─▶ END

``consent`` asks for consent when none is on file (``interrupt``), writes the patient's
"yes" as a ``Consent``; a "no" ends the interview with nothing read. ``plan`` reads the
record and builds the plan (:mod:`agent.intake._plan`). ``phrase`` (with a rephraser
only) stores the next question in plain language when the rephrasing keeps what it
asks. ``ask`` interrupts with the
next enabled question, reads the answer (:mod:`agent.intake._parse`, then optionally
the model, whose value is kept only when the patient's words say it), asks one
follow-up when it is unclear, and records it. Every node's end is a checkpoint (the
project's encrypted checkpointer), so a crash resumes at the same question.

The patient's words are state, never instructions: no node acts on what they say
beyond classifying them as an answer to the question asked.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import interrupt

from tools.config import IntakeConfig
from tools.drafts import now_instant
from tools.errors import ResourceNotFound
from tools.source import RecordSource

from ._consent import CONSENT_QUESTION, consent_resource, write_consent
from ._model import AnswerValue, PlannedQuestion, RecordedAnswer
from ._parse import _boolean, in_words, normalize, parse_answer
from ._plan import IntakePlan, build_plan, visit_reason

__all__ = [
    "AnswerReader",
    "IntakeContext",
    "IntakeState",
    "Rephraser",
    "build_intake_graph",
    "enabled",
    "follow_up_text",
    "next_question",
]

#: An optional model reading of an unclear answer: (question, words) → a value or None.
AnswerReader = Callable[[PlannedQuestion, str], Awaitable[AnswerValue | None]]
#: An optional plain-language rephrasing of a question (None: show the original).
Rephraser = Callable[[PlannedQuestion], Awaitable[str | None]]


class IntakeState(TypedDict, total=False):
    """The interview's checkpointed state (plain JSON-able values only)."""

    patient_id: str
    thread_id: str
    appointment: str | None
    encounter: str | None
    reason: str
    consent: Literal["needed", "on-file", "given", "refused"]
    consent_ref: str | None
    consent_words: str | None
    plan: dict[str, Any] | None
    asked: list[str]  # link ids in the order asked (answered)
    answers: dict[str, dict[str, Any]]  # link id → RecordedAnswer
    pending: str | None  # the unclear first words awaiting the follow-up's
    phrasing: dict[str, str]  # link id → the plain-language text shown (model_rephrase)
    started: str
    finished: str | None
    done: bool


@dataclass
class IntakeContext:
    """What the nodes use and the checkpoint does not hold."""

    source: RecordSource
    config: IntakeConfig
    today: dt.date
    reader: AnswerReader | None = None
    rephraser: Rephraser | None = None


def enabled(q: PlannedQuestion, answers: dict[str, dict[str, Any]]) -> bool:
    """``enableWhen`` (all conditions, operator ``=``) against the answers so far."""
    for cond in q.enable_when:
        a = answers.get(cond.question)
        if not a or a.get("status") != "answered" or not a.get("value"):
            return False
        v = a["value"]
        if cond.answer_boolean is not None and v.get("boolean") is not cond.answer_boolean:
            return False
        if cond.answer_code is not None and v.get("code") != cond.answer_code:
            return False
    return True


def next_question(state: IntakeState) -> PlannedQuestion | None:
    """The next question to ask (None: the interview is complete)."""
    if not state.get("plan"):
        return None
    plan = IntakePlan.model_validate(state["plan"])
    answers = state.get("answers") or {}
    for q in plan.questions:
        if q.link_id in answers:
            continue
        if enabled(q, answers):
            return q
    return None


def follow_up_text(q: PlannedQuestion) -> str:
    """The one follow-up of an unclear answer: what kind of answer is wanted."""
    tail = " (or say \u201cskip\u201d, or \u201cI don't know\u201d)"
    if q.type == "boolean":
        return f"Sorry, I did not understand. {q.text} Please answer yes or no{tail}."
    if q.type == "choice":
        names = ", ".join(o.display for o in q.options)
        return f"Sorry, I did not understand. {q.text} Please choose one of: {names}{tail}."
    if q.type == "date":
        return (
            f"Sorry, I did not understand. {q.text} Please give a date, e.g. 2026-11-20, "
            f"\u201clast week\u201d or \u201c3 days ago\u201d{tail}."
        )
    if q.type == "quantity":
        return f"Sorry, I did not understand. {q.text} Please give one number with its unit{tail}."
    return f"Sorry, I did not get an answer. {q.text}{tail}"


def _question_payload(q: PlannedQuestion, state: IntakeState, follow_up: bool) -> dict[str, Any]:
    plan = state.get("plan") or {}
    total = len(plan.get("questions") or [])
    shown = (state.get("phrasing") or {}).get(q.link_id, q.text)
    return {
        "kind": "question",
        "link_id": q.link_id,
        "text": follow_up_text(q) if follow_up else shown,
        "type": q.type,
        "options": [o.display for o in q.options],
        "follow_up": follow_up,
        "number": len(state.get("asked") or []) + 1,
        "planned": total,
    }


async def consent_node(state: IntakeState, runtime: Runtime[IntakeContext]) -> dict[str, Any]:
    if state.get("consent") != "needed":
        return {}
    pending = state.get("pending")
    text = (
        CONSENT_QUESTION if pending is None else f"Sorry, I did not understand. {CONSENT_QUESTION}"
    )
    words = str(
        interrupt(
            {
                "kind": "consent",
                "link_id": "consent",
                "text": text,
                "type": "boolean",
                "options": ["yes", "no"],
                "follow_up": pending is not None,
                "number": 0,
                "planned": 0,
            }
        )
    )
    said = _boolean(normalize(words))
    if said is None and pending is None:
        return {"pending": words}
    if said is not True:  # a no, or unclear twice: no consent without a clear yes
        return {"consent": "refused", "consent_words": words, "pending": None, "done": True,
                "finished": now_instant()}  # fmt: skip
    ctx = runtime.context
    resource = consent_resource(
        state["patient_id"], ctx.config, now_instant(), thread_id=state["thread_id"], words=words
    )
    ref = await write_consent(ctx.source, resource, state["patient_id"])
    return {"consent": "given", "consent_ref": ref, "consent_words": words, "pending": None}


def route_consent(state: IntakeState) -> str:
    consent = state.get("consent")
    if consent == "refused":
        return END
    if consent == "needed":
        return "consent"
    return "plan"


async def plan_node(state: IntakeState, runtime: Runtime[IntakeContext]) -> dict[str, Any]:
    if state.get("plan"):
        return {}
    ctx = runtime.context
    pid = state["patient_id"]
    record = await ctx.source.everything(pid)
    appointment = None
    if state.get("appointment"):
        try:
            appointment = await ctx.source.read(str(state["appointment"]))
        except ResourceNotFound:
            appointment = next(
                (r for r in record if f"Appointment/{r.get('id')}" == state["appointment"]), None
            )
    reason, refs = visit_reason(appointment, state.get("reason"))
    plan = build_plan(
        record,
        reason=reason,
        reason_refs=refs,
        as_of=ctx.today,
        max_questions=ctx.config.max_questions,
        url=ctx.config.questionnaire_url,
    )
    return {"plan": plan.model_dump(mode="json"), "reason": reason}


async def phrase_node(state: IntakeState, runtime: Runtime[IntakeContext]) -> dict[str, Any]:
    """The next question in plain language, once (checkpointed, so a resumed interview
    shows the same words); only with a rephraser, and only when it keeps the question."""
    rephraser = runtime.context.rephraser
    q = next_question(state)
    phrasing = state.get("phrasing") or {}
    if rephraser is None or q is None or q.link_id in phrasing:
        return {}
    text = await rephraser(q)
    return {"phrasing": {**phrasing, q.link_id: text or q.text}}


async def ask_node(state: IntakeState, runtime: Runtime[IntakeContext]) -> dict[str, Any]:
    q = next_question(state)
    if q is None:
        return {"done": True, "finished": now_instant()}
    pending = state.get("pending")
    words = str(interrupt(_question_payload(q, state, follow_up=pending is not None)))
    ctx = runtime.context
    parsed = parse_answer(q, words, ctx.today)
    by: Literal["rules", "model"] = "rules"
    if parsed.status == "unclear" and ctx.reader is not None and normalize(words):
        value = await ctx.reader(q, words)
        if value is not None and in_words(q, value, words, ctx.today):
            parsed = type(parsed)("answered", value)
            by = "model"
    if parsed.status == "unclear" and pending is None:
        return {"pending": words}
    if parsed.status == "unclear":
        # unclear twice: kept as the patient's words
        recorded = RecordedAnswer(
            link_id=q.link_id, status="unparsed", words=words,
            value=AnswerValue(string=words.strip()) if words.strip() else None,
            first_words=pending, at=now_instant(),
        )  # fmt: skip
    else:
        recorded = RecordedAnswer(
            link_id=q.link_id, status=parsed.status, words=words, value=parsed.value,
            first_words=pending, by=by, at=now_instant(),
        )  # fmt: skip
    answers = dict(state.get("answers") or {})
    answers[q.link_id] = recorded.model_dump(mode="json")
    return {
        "answers": answers,
        "asked": [*(state.get("asked") or []), q.link_id],
        "pending": None,
    }


def route_ask(state: IntakeState) -> str:
    return END if state.get("done") else "phrase"


def build_intake_graph(checkpointer: Any = None) -> Any:
    """Compile the interview graph (a checkpointer is needed for its interrupts)."""
    g: StateGraph[IntakeState, IntakeContext, IntakeState, IntakeState] = StateGraph(
        IntakeState, context_schema=IntakeContext
    )
    g.add_node("consent", consent_node)
    g.add_node("plan", plan_node)
    g.add_node("phrase", phrase_node)
    g.add_node("ask", ask_node)
    g.add_edge(START, "consent")
    g.add_conditional_edges("consent", route_consent, ["consent", "plan", END])
    g.add_edge("plan", "phrase")
    g.add_edge("phrase", "ask")
    g.add_conditional_edges("ask", route_ask, ["phrase", END])
    return g.compile(checkpointer=checkpointer)

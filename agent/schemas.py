"""What the model must answer with: the plan step and composed answers (JSON schemas for
constrained decoding, validated with pydantic)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, Field, create_model

__all__ = [
    "OVERVIEW_SENTENCE_CHARS",
    "CheckedPlan",
    "Composed",
    "IntakeReading",
    "Overview",
    "OverviewSentence",
    "Plan",
    "Rephrased",
    "Sentence",
    "ToolCall",
    "action_plan",
    "call_args",
]


class Sentence(BaseModel):
    """One sentence of an answer and the evidence handles it cites."""

    text: str = Field(max_length=600)
    cites: list[str] = Field(default_factory=list, max_length=8)


class Composed(BaseModel):
    """A composed answer."""

    sentences: list[Sentence] = Field(default_factory=list, max_length=20)


#: The longest sentence of a brief's overview (constrained decoding stops a sentence here;
#: one that reaches it without ending is cut, and is not shown).
OVERVIEW_SENTENCE_CHARS = 240


class OverviewSentence(BaseModel):
    """One short sentence of a brief's overview and the handles it cites."""

    text: str = Field(max_length=OVERVIEW_SENTENCE_CHARS)
    cites: list[str] = Field(default_factory=list, max_length=4)


class Overview(BaseModel):
    """A brief's overview: at most four short sentences (a one-minute read; the grammar
    keeps a small model from one run-on sentence that a single slip removes whole)."""

    sentences: list[OverviewSentence] = Field(default_factory=list, max_length=4)


class ToolCall(BaseModel):
    """One tool call asked for by the model (arguments are checked by the tool's own
    argument model, :mod:`agent.toolkit`)."""

    tool: str = Field(max_length=40)
    args: dict[str, str] = Field(default_factory=dict)


class Plan(BaseModel):
    """The plan step: call tools, or answer now (with sentences)."""

    action: Literal["tools", "answer"]
    calls: list[ToolCall] = Field(default_factory=list, max_length=6)
    sentences: list[Sentence] = Field(default_factory=list, max_length=20)


class CheckedPlan(BaseModel):
    """The plan step when the request makes an action depend on a condition ("if there
    is none, order one"): the model states first whether the condition holds, then plans
    (code keeps the two consistent: :func:`agent.nodes.plan`)."""

    condition: Literal["holds", "does not hold", "not known yet"]
    action: Literal["tools", "answer"]
    calls: list[ToolCall] = Field(default_factory=list, max_length=6)
    sentences: list[Sentence] = Field(default_factory=list, max_length=20)

    def plan(self) -> Plan:
        return Plan(action=self.action, calls=self.calls, sentences=self.sentences)


_TOOLS: Any = Literal["tools"]


def action_plan(
    tools: Sequence[tuple[str, type[BaseModel]]],
    max_calls: int,
    stated: Mapping[str, Sequence[str]] | None = None,
) -> type[Plan]:
    """The plan step when the request asks for an action: calls only, each to one of
    ``tools`` (name, argument model) with that tool's own arguments, so the grammar
    shows a small model which arguments the tool takes. Still a :class:`Plan` (its
    calls' ``args`` are argument models: :func:`call_args` reads them back).

    ``stated``: codes the request gives, by system (:func:`agent.acts.stated_codes`);
    an argument marked ``json_schema_extra={"code_system": system}`` must then be one
    of them."""
    calls: list[Any] = []
    for name, args in tools:
        named: Any = Literal[name]
        narrowed = _with_stated_codes(args, stated or {})
        calls.append(create_model(f"Call_{name}", tool=(named, ...), args=(narrowed, ...)))
    one: Any = calls[0]
    for c in calls[1:]:
        one = one | c
    return create_model(
        "ActionPlan",
        __base__=Plan,
        action=(_TOOLS, ...),
        calls=(list[one], Field(min_length=1, max_length=max_calls)),
        sentences=(list[Sentence], Field(default_factory=list, max_length=0)),
    )


def _with_stated_codes(
    args: type[BaseModel], stated: Mapping[str, Sequence[str]]
) -> type[BaseModel]:
    """``args`` with each code argument whose system the request states made required
    and one of the stated codes; an optional code argument whose system it does not
    state may only be left out (the model does not write a code from memory)."""
    fields: dict[str, Any] = {}
    for name, info in args.model_fields.items():
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        if "code_system" not in extra:
            continue
        codes = stated.get(str(extra["code_system"]))
        if codes:
            one_of: Any = Literal[tuple(codes)]
            fields[name] = (one_of, Field(..., description=info.description))
        elif not info.is_required():
            fields[name] = (None, Field(None, description="not given: leave out"))
    if not fields:
        return args
    return create_model(args.__name__, __base__=args, **fields)


def call_args(call: BaseModel) -> dict[str, str]:
    """A planned call's arguments as strings (an :func:`action_plan` call holds the
    tool's argument model; a :class:`ToolCall` a dict); unset ones left out."""
    args = getattr(call, "args", {})
    raw = args.model_dump(mode="json") if isinstance(args, BaseModel) else dict(args)
    return {k: str(v) for k, v in raw.items() if v is not None}


class IntakeReading(BaseModel):
    """A model's reading of a patient's answer to one intake question (the intake keeps
    the value only when the patient's own words say it: :func:`agent.intake.in_words`)."""

    understood: bool = Field(description="false when the words do not answer the question")
    yes: bool | None = Field(None, description="boolean questions: yes (true) or no (false)")
    option: str | None = Field(None, max_length=80, description="choice questions: the option")
    number: float | None = Field(None, description="quantity questions: the number")
    unit: str | None = Field(None, max_length=20, description="quantity questions: its unit")
    date: str | None = Field(
        None, max_length=10, description="date questions: YYYY-MM-DD (or YYYY-MM)"
    )


class Rephrased(BaseModel):
    """A question of the intake in plain language (the intake keeps it only when it keeps
    every name, number, date and option of the question)."""

    text: str = Field(max_length=400)

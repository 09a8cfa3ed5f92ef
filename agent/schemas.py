"""What the model must answer with: the plan step and composed answers (JSON schemas for
constrained decoding, validated with pydantic)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

__all__ = [
    "OVERVIEW_SENTENCE_CHARS",
    "Composed",
    "IntakeReading",
    "Overview",
    "OverviewSentence",
    "Plan",
    "Rephrased",
    "Sentence",
    "ToolCall",
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

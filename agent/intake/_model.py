"""The intake's typed objects: planned questions, parsed answers, the interview's state.

Everything here is plain data (pydantic models dumped to JSON-able dicts in the graph's
state), so a checkpoint holds no code objects and resumes in another process.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "AnswerStatus",
    "AnswerValue",
    "EnableWhen",
    "ItemType",
    "Option",
    "PlannedQuestion",
    "QuestionKind",
    "RecordedAnswer",
]

#: SDC / FHIR R4 ``Questionnaire.item.type`` values the plan uses.
ItemType = Literal["boolean", "choice", "quantity", "date", "string"]
#: What a question is about (priority and the brief's sections follow from it).
QuestionKind = Literal[
    "core",
    "new-problem",
    "medication",
    "allergy",
    "new-allergy",
    "lab",
    "overdue",
    "immunization",
    "goal",
    "measurement",
]
#: ``answered``: a typed value; ``skipped``: the patient said skip; ``unknown``: "I don't
#: know"; ``unparsed``: unclear twice, kept as the patient's words (a string).
AnswerStatus = Literal["answered", "skipped", "unknown", "unparsed"]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Option(_Frozen):
    """A choice item's answer option (a Coding of the intake's own code system)."""

    code: str
    display: str
    synonyms: tuple[str, ...] = ()


class EnableWhen(_Frozen):
    """``Questionnaire.item.enableWhen`` (operator ``=``) on a boolean or choice item."""

    question: str
    answer_boolean: bool | None = None
    answer_code: str | None = None


class PlannedQuestion(_Frozen):
    """One item of the plan: what is asked, its answer type, and why it is asked.

    ``about`` are the record resources the question rests on (``Type/id``): the brief
    cites them beside the patient's answer. ``facts`` holds what the discrepancy check
    needs (e.g. the medication's name), never free text the patient wrote.
    """

    link_id: str
    text: str
    type: ItemType
    kind: QuestionKind
    priority: int
    options: tuple[Option, ...] = ()
    unit: str | None = None
    enable_when: tuple[EnableWhen, ...] = ()
    about: tuple[str, ...] = ()
    subject: str = Field("", description="the record entry's name, e.g. the medication")
    facts: dict[str, Any] = Field(default_factory=dict)


class AnswerValue(_Frozen):
    """A typed answer value (exactly one of the fields set, per the item's type)."""

    boolean: bool | None = None
    code: str | None = None
    display: str | None = None
    quantity: float | None = None
    unit: str | None = None
    date: str | None = None
    string: str | None = None

    def fhir(self, system: str) -> dict[str, Any]:
        """The ``QuestionnaireResponse.item.answer`` element."""
        if self.boolean is not None:
            return {"valueBoolean": self.boolean}
        if self.code is not None:
            coding = {"system": system, "code": self.code}
            if self.display:
                coding["display"] = self.display
            return {"valueCoding": coding}
        if self.quantity is not None:
            q: dict[str, Any] = {"value": self.quantity}
            if self.unit:
                q["unit"] = self.unit
            return {"valueQuantity": q}
        if self.date is not None:
            return {"valueDate": self.date}
        return {"valueString": self.string or ""}

    def text(self) -> str:
        """The value as a clinician reads it."""
        if self.boolean is not None:
            return "yes" if self.boolean else "no"
        if self.code is not None:
            return self.display or self.code
        if self.quantity is not None:
            num = f"{self.quantity:g}"
            return f"{num} {self.unit}" if self.unit else num
        if self.date is not None:
            return self.date
        return self.string or ""


class RecordedAnswer(_Frozen):
    """The answer kept for one question: the patient's words and what they mean.

    ``words`` is exactly what the patient typed (the follow-up's words when one was
    needed; ``first_words`` the unclear first answer). ``by`` says what read it:
    ``rules`` (the deterministic parser) or ``model`` (checked against the words).
    """

    link_id: str
    status: AnswerStatus
    words: str
    value: AnswerValue | None = None
    first_words: str | None = None
    by: Literal["rules", "model"] = "rules"
    at: str = ""

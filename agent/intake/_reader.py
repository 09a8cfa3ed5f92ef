"""The optional model reading of an answer the rules could not read (``[intake]
model_parsing``).

:func:`model_reader` wraps a chat model as an :data:`agent.intake.AnswerReader`: one
structured-output call (:class:`agent.schemas.IntakeReading`, the prompt of
:func:`agent.prompts.intake_read_messages`, the patient's words fenced as data). Its
value is only a proposal: the interview keeps it when the patient's own words say it
(:func:`agent.intake.in_words`), else the answer stays unclear (one follow-up, then the
words as a string). A model failure is an unclear answer, never a failed interview.
"""

from __future__ import annotations

import datetime as dt
import logging

from ..errors import ModelError
from ..models import ChatModel
from ..prompts import intake_read_messages
from ..schemas import IntakeReading
from ._graph import AnswerReader
from ._model import AnswerValue, PlannedQuestion

__all__ = ["model_reader", "reading_value"]

log = logging.getLogger("agent.intake")


def reading_value(q: PlannedQuestion, reading: IntakeReading) -> AnswerValue | None:
    """The typed value a reading proposes for ``q`` (None: nothing usable)."""
    if not reading.understood:
        return None
    if q.type == "boolean" and reading.yes is not None:
        return AnswerValue(boolean=reading.yes)
    if q.type == "choice" and reading.option:
        want = reading.option.strip().casefold()
        for o in q.options:
            if want in (o.display.casefold(), o.code.casefold()):
                return AnswerValue(code=o.code, display=o.display)
        return None
    if q.type == "quantity" and reading.number is not None:
        return AnswerValue(quantity=reading.number, unit=reading.unit or q.unit)
    if q.type == "date" and reading.date:
        try:
            if len(reading.date) == 7:
                dt.date.fromisoformat(reading.date + "-01")
            else:
                dt.date.fromisoformat(reading.date)
        except ValueError:
            return None
        return AnswerValue(date=reading.date)
    return None


def model_reader(model: ChatModel, *, today: dt.date | None = None) -> AnswerReader:
    """An answer reader over ``model`` (see the module docstring)."""

    async def read(q: PlannedQuestion, words: str) -> AnswerValue | None:
        day = (today or dt.datetime.now(dt.UTC).date()).isoformat()
        messages = intake_read_messages(q.text, q.type, [o.display for o in q.options], words, day)
        try:
            result = await model.generate(
                messages, schema=IntakeReading, max_tokens=120, temperature=0.0
            )
        except ModelError as exc:
            log.info(
                "intake: the model could not read an answer (%s); kept unclear", type(exc).__name__
            )
            return None
        return reading_value(q, result.output)

    return read

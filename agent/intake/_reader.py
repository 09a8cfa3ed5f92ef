"""The optional model help: reading an answer the rules could not read (``[intake]
model_parsing``), and rephrasing a question in plain language (``model_rephrase``).

:func:`model_reader` wraps a chat model as an :data:`agent.intake.AnswerReader`: one
structured-output call (:class:`agent.schemas.IntakeReading`, the prompt of
:func:`agent.prompts.intake_read_messages`, the patient's words fenced as data). Its
value is only a proposal: the interview keeps it when the patient's own words say it
(:func:`agent.intake.in_words`), else the answer stays unclear (one follow-up, then the
words as a string). A model failure is an unclear answer, never a failed interview.

:func:`model_rephraser` asks for a plain-language version of a question; it is shown
only when it keeps what the question asks (:func:`keeps_question`: every quoted name,
number, date and choice option of the original), else the original is shown.
"""

from __future__ import annotations

import datetime as dt
import logging
import re

from ..errors import ModelError
from ..models import ChatModel
from ..prompts import intake_read_messages, intake_rephrase_messages
from ..schemas import IntakeReading, Rephrased
from ._graph import AnswerReader, Rephraser
from ._model import AnswerValue, PlannedQuestion

__all__ = ["keeps_question", "model_reader", "model_rephraser", "reading_value"]

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


_QUOTED = re.compile(r"\u201c([^\u201d]+)\u201d")
_FIGURE = re.compile(r"\d[\d.,:/-]*\d|\d")


def keeps_question(q: PlannedQuestion, text: str) -> bool:
    """Whether a rephrased question still asks what ``q`` asks: every quoted name, every
    number and date, and (a choice) every option's display appear in it."""
    low = text.casefold()
    if not text.strip() or len(text) > 400:
        return False
    needed = [*_QUOTED.findall(q.text), *_FIGURE.findall(_QUOTED.sub(" ", q.text))]
    needed += [o.display for o in q.options]
    return all(n.casefold() in low for n in needed)


def model_rephraser(model: ChatModel) -> Rephraser:
    """A question rephraser over ``model`` (see the module docstring)."""

    async def rephrase(q: PlannedQuestion) -> str | None:
        try:
            result = await model.generate(
                intake_rephrase_messages(q.text), schema=Rephrased, max_tokens=160, temperature=0.0
            )
        except ModelError as exc:
            log.info("intake: the model could not rephrase %s (%s)", q.link_id, type(exc).__name__)
            return None
        text = result.output.text.strip()
        return text if keeps_question(q, text) else None

    return rephrase

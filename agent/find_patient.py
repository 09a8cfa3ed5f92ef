"""Find a patient from a free-text request: the model extracts, code searches and checks.

::

    found = await find_patient("Find Frankie174 Jast432, born 1963-05-21.",
                               source=server, model=model)
    found.patient_id   # the one match's id on that source, or None (found.matches says why)

Agent sessions are bound to one patient; this is the step *before* a session, where no
patient is bound yet. The model only turns the request into search fields (name, birth
date); the fields are then checked against the request text in code (every name word and
the date must appear in it, so an invented or misread value is refused rather than
searched), and :func:`tools.lookup.find_patients` runs the search. An ambiguous result
(several matches) is returned as such, never resolved by a guess.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from pydantic import BaseModel, Field

from tools.lookup import find_patients, fold
from tools.source import PatientRow, RecordSource

from .errors import MalformedOutput
from .models import ChatModel
from .prompts import find_patient_messages

__all__ = ["PatientLookup", "find_patient"]


class _Fields(BaseModel):
    name: str = Field("", max_length=200)
    birth_date: str = Field("", max_length=40)


@dataclass
class PatientLookup:
    """The outcome of :func:`find_patient`.

    Attributes:
        name / birth_date: the search fields used (after the check against the request).
        matches: the patients found (0, 1 or several).
        problem: why no search ran or no single patient was found ("" when one was).
        model_calls / prompt_tokens / completion_tokens: the extraction's cost.
    """

    name: str = ""
    birth_date: str = ""
    matches: list[PatientRow] = field(default_factory=list)
    problem: str = ""
    model_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def patient_id(self) -> str | None:
        """The patient's id when exactly one patient matched."""
        return self.matches[0].id if len(self.matches) == 1 else None


def _date_in(request: str, value: str) -> bool:
    """``value`` (YYYY-MM-DD) is written in the request (ISO, or US M/D/YYYY)."""
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        return False
    forms = {day.isoformat(), f"{day.month}/{day.day}/{day.year}", f"{day:%m/%d/%Y}"}
    return any(f in request for f in forms)


async def find_patient(request: str, *, source: RecordSource, model: ChatModel) -> PatientLookup:
    """Find the one patient a request names (name + birth date), or say why not.

    Raises the source's errors (:class:`tools.errors.SourceError`) and model errors other
    than malformed output (which becomes ``problem``).
    """
    out = PatientLookup()
    try:
        result = await model.generate(find_patient_messages(request), schema=_Fields)
    except MalformedOutput as exc:
        out.problem = f"the model gave no usable search fields ({exc.reason})"
        return out
    out.model_calls = 1
    out.prompt_tokens = result.usage.prompt_tokens
    out.completion_tokens = result.usage.completion_tokens
    fields: _Fields = result.output
    words = [w for w in re.split(r"[\s,]+", fields.name.strip()) if w]
    folded = fold(request)
    invented = [w for w in words if fold(w) not in folded]
    if not words:
        out.problem = "the request gives no patient name"
    elif invented:
        out.problem = f"the extracted name words {invented} do not appear in the request"
    elif not _date_in(request, fields.birth_date.strip()):
        out.problem = (
            f"the extracted birth date {fields.birth_date!r} is not a date written in the request"
        )
    if out.problem:
        return out
    out.name, out.birth_date = " ".join(words), fields.birth_date.strip()
    out.matches = await find_patients(source, name=out.name, birth_date=out.birth_date)
    if not out.matches:
        out.problem = f"no patient named {out.name!r} born {out.birth_date} on {source.label}"
    elif len(out.matches) > 1:
        out.problem = f"{len(out.matches)} patients match; refine the request"
    return out

"""Request and response bodies of the HTTP API (pydantic; they are the OpenAPI schema).

Answers are the agent's :class:`agent.answer.CitedAnswer` as its JSON form
(``CitedAnswer.as_dict()``: the model's fields plus ``text``), referenced, not copied, so
new fields of ``CitedAnswer`` reach the API and its schema by themselves.
"""

from __future__ import annotations

import warnings
from typing import Annotated, Any, Literal

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field

from agent.answer import CitedAnswer

__all__ = [
    "FHIR_ID",
    "AnswerOut",
    "AskRequest",
    "AuditBundle",
    "BriefLine",
    "ExtractiveBrief",
    "Health",
    "PatientId",
    "PatientList",
    "PatientOut",
    "Readiness",
    "SummaryOut",
    "ThreadDetail",
    "ThreadId",
    "ThreadList",
    "ThreadOut",
    "TrendList",
    "TrendOut",
    "TrendPointOut",
    "WarmOut",
]

#: A FHIR resource id.
FHIR_ID = r"^[A-Za-z0-9\-.]{1,64}$"
THREAD_ID = r"^[A-Za-z0-9_\-]{1,64}$"

PatientId = Annotated[
    str, Path(pattern=FHIR_ID, description="FHIR id of the patient", examples=["p1"])
]
ThreadId = Annotated[str, Path(pattern=THREAD_ID, description="conversation thread id")]


class PatientOut(BaseModel):
    """One patient of a search or listing."""

    id: str
    name: str
    birth_date: str | None
    gender: str | None
    deceased: bool
    resource_count: int | None = Field(description="null where the source cannot count cheaply")


class PatientList(BaseModel):
    patients: list[PatientOut]
    count: int


class SummaryOut(BaseModel):
    """The record summary within a token budget, every line citable."""

    patient: str
    text: str
    citations: list[str] = Field(description="`Type/id` of every resource the text rests on")
    handles: list[str]
    tokens: int
    budget: int
    token_counter: str
    token_count_exact: bool
    omitted: dict[str, int] = Field(description="lines left out per block")


class WarmOut(BaseModel):
    """What warming a patient did: the prompt prefix every question on this patient starts
    with (system prompt + record summary) is evaluated and kept by the model."""

    patient: str
    model: str
    supported: bool = Field(
        description="the model keeps warmed prefixes (false: nothing done, e.g. a remote "
        "server with its own prefix cache)"
    )
    prefix_tokens: int = Field(description="tokens of the warmed prefix")
    evaluated_tokens: int = Field(description="of those, evaluated by this call")
    cached: bool = Field(description="the prefix was already saved: nothing was computed")
    saved: bool = Field(description="the prefix is in the on-disk prefix cache now")
    seconds: float = Field(description="the whole call, queueing for the model included")
    record_seconds: float = Field(description="loading the record and building the summary")


class TrendPointOut(BaseModel):
    date: str | None
    value: float
    unit: str
    ref: str = Field(description="the Observation this value comes from")
    path: str
    original_value: float
    original_unit: str
    code: str
    date_source: str
    range: str | None
    flag: str | None
    also: list[str]


class ReferenceRange(BaseModel):
    low: float | None
    high: float | None
    text: str | None
    source: str | None


class TrendOut(BaseModel):
    """A cited time series of a lab or vital, with its statistics."""

    key: str
    code: str
    codes: list[str]
    display: str
    unit: str
    n: int
    points: list[TrendPointOut]
    undated: list[str]
    latest: TrendPointOut | None
    first: TrendPointOut | None
    min: TrendPointOut | None
    max: TrendPointOut | None
    change_abs: float | None
    change_pct: float | None
    slope_per_year: float | None
    direction: str
    threshold: float | None
    threshold_source: str
    days_since_last: int | None
    reference_range: ReferenceRange
    flags: list[str]


class TrendList(BaseModel):
    patient: str
    query: str | None = Field(None, description="the measure asked for; null: every series")
    trends: list[TrendOut]


class BriefLine(BaseModel):
    text: str
    citations: list[str]


class ExtractiveBrief(BaseModel):
    """The extractive pre-visit brief (no model): Markdown and its sections, all cited."""

    patient: str
    markdown: str
    citations: list[str]
    sections: dict[str, list[BriefLine]]


class AskRequest(BaseModel):
    """A question about the patient; ``thread_id`` continues an earlier conversation."""

    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, description="the question, in the clinician's words")
    thread_id: str | None = Field(
        None,
        pattern=THREAD_ID,
        description="continue this thread (from an earlier answer's `thread_id`); omitted: "
        "a new thread is started",
    )


with warnings.catch_warnings():
    # ``CitedAnswer.text`` is a property; as_dict() puts its value in the JSON, so the
    # schema of that JSON declares it as a field.
    warnings.filterwarnings("ignore", message='Field name "text"', category=UserWarning)

    class AnswerOut(CitedAnswer):
        """A verified answer: ``CitedAnswer`` as JSON (``CitedAnswer.as_dict()``)."""

        text: str = Field("", description="the sentences joined, without citations")


class ThreadOut(BaseModel):
    thread_id: str
    patient_id: str
    owner: str
    created: str
    last_used: str
    turns: int


class ThreadList(BaseModel):
    threads: list[ThreadOut]


class ThreadDetail(ThreadOut):
    answers: list[AnswerOut] = Field(description="the verified answers of its turns, oldest first")


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Check(BaseModel):
    ok: bool
    detail: str = ""


class Readiness(BaseModel):
    """Whether this worker can serve: the model loaded, the store and the source reachable."""

    ready: bool
    deployment: str
    model: Check
    store: Check
    source: Check
    queue: dict[str, float] = Field(
        description="model gate: slots, running, waiting, refused, expected wait (s)"
    )


class AuditBundle(BaseModel):
    """A FHIR R4 ``Bundle`` (searchset) of ``AuditEvent`` resources (IHE BALP shape)."""

    resourceType: Literal["Bundle"] = "Bundle"
    type: Literal["searchset"] = "searchset"
    total: int
    entry: list[dict[str, Any]]

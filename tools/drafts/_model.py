"""The typed draft: what a person reviews, approves (maybe edited) or rejects."""

from __future__ import annotations

import datetime as dt
import difflib
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tools.writeback import CitedSource, ExtraEntry, ModelAgent, Person

__all__ = [
    "ApproveResult",
    "Draft",
    "DraftKind",
    "DraftStatus",
    "Feedback",
    "new_draft_id",
    "now_instant",
    "text_diff",
]

DraftKind = Literal["brief", "answer", "intake"]
#: ``pending``: being generated (a background model brief); ``draft``: ready for review;
#: ``approved``: a person approved it, not written yet (or the write failed: retry);
#: ``written``: in the record; ``rejected``: a person rejected it; ``failed``: generating
#: it failed (``error`` says why).
DraftStatus = Literal["pending", "draft", "approved", "written", "rejected", "failed"]


def now_instant() -> str:
    """Now as a FHIR instant (UTC, milliseconds, ``Z``)."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_draft_id() -> str:
    return uuid.uuid4().hex


def text_diff(before: str, after: str) -> str:
    """A unified diff of the model's text and the approved text (empty when equal)."""
    if before == after:
        return ""
    lines = difflib.unified_diff(
        before.splitlines(keepends=True),
        after.splitlines(keepends=True),
        fromfile="model",
        tofile="approved",
    )
    return "".join(lines)


class Feedback(BaseModel):
    """A person's verdict on a draft: a rejection (with its reason) or an approval."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["rejected", "approved", "edited"]
    who: str
    reason: str = ""
    at: str = Field(default_factory=now_instant)


class Draft(BaseModel):
    """A brief, an answer or an intake brief that waits for a person.

    ``markdown`` is what the model (or the extractive code) wrote; ``approved_markdown``
    what the person approved (with their edits; ``diff`` shows them). ``citations`` carry
    the version of each cited resource the draft was built from. ``extras`` are written in
    the same transaction as the document (e.g. intake's QuestionnaireResponse).
    ``written`` lists the references the write created or matched (``Type/id``), in the
    transaction's order: Device, DocumentReference, Provenance, extras.
    """

    model_config = ConfigDict(extra="forbid")

    id: str = Field(default_factory=new_draft_id)
    patient_id: str
    kind: DraftKind = "brief"
    status: DraftStatus = "draft"
    title: str = ""
    markdown: str = ""
    answer: dict[str, Any] | None = Field(
        None, description="the cited answer as JSON (agent.answer.CitedAnswer.as_dict())"
    )
    citations: list[CitedSource] = Field(default_factory=list)
    extras: list[ExtraEntry] = Field(default_factory=list)
    encounter: str | None = None
    appointment: str | None = None
    model: ModelAgent = Field(default_factory=lambda: ModelAgent(name="unknown"))
    extractive: bool = False
    created: str = Field(default_factory=now_instant)
    created_by: str = ""
    updated: str = Field(default_factory=now_instant)
    batch_key: str | None = Field(None, description="appointment id and date (batch drafts)")
    approved_by: Person | None = None
    approved_at: str | None = None
    approved_markdown: str | None = None
    diff: str = ""
    write_key: str | None = None
    written: list[str] = Field(default_factory=list)
    written_at: str | None = None
    feedback: list[Feedback] = Field(default_factory=list)
    error: str | None = None

    @property
    def edited(self) -> bool:
        return self.approved_markdown is not None and self.approved_markdown != self.markdown

    def summary(self) -> dict[str, Any]:
        """The listing form (no texts)."""
        return self.model_dump(
            mode="json",
            include={"id", "patient_id", "kind", "status", "title", "created", "updated",
                     "appointment", "batch_key", "written", "error"},
        )  # fmt: skip


class ApproveResult(BaseModel):
    """What ``approve`` did: the references written (or matched by an earlier approval)."""

    draft_id: str
    status: DraftStatus
    written: list[str] = Field(description="Type/id of every resource written, in order")
    document: str | None = None
    provenance: str | None = None
    created: bool = Field(description="False when nothing new was written (a repeat)")
    edited: bool = False
    checked: bool = Field(True, description="read back from the source and checked")
    extras: dict[str, str] = Field(
        default_factory=dict, description="each extra's fullUrl → the reference written"
    )

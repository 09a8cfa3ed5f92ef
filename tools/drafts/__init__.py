"""Drafts: nothing the assistant writes reaches the record until a person approves it.

A brief, an answer or an intake brief is stored as a :class:`Draft` (the text, its
citations with the versions they rest on, the model, extra resources to write with it).
A person approves it, maybe with edits, or rejects it with a reason. Only an approved
draft is written, in ONE FHIR transaction, to the deployment's source (a FHIR server or
the embedded store), then read back and checked (:mod:`tools.writeback` shapes the
resources: Device, DocumentReference, Provenance, extras).

The API (stable; the HTTP service, the CLI and the intake call it)::

    from tools.drafts import DraftStore, WriteBack, person
    from tools.writeback import CitedSource, ExtraEntry, ModelAgent

    desk = WriteBack(DraftStore(database_url), source)        # source: FhirClient / RecordStore
    draft = await desk.create_draft(
        patient_id="p1", kind="intake", markdown=brief_md,
        citations=["Observation/o1", CitedSource(reference=qr.full_url)],
        extras=[qr, consent],                                  # ExtraEntry: written alongside
        model=ModelAgent(name="medgemma-27b", deployment="prod", config_hash="ab12…"),
        answer=cited_answer.as_dict(), appointment="Appointment/a1")
    result = await desk.approve(draft.id, "Practitioner/123", edits=None)
    result.written      # ['Device/…', 'DocumentReference/…', 'Provenance/…', 'QuestionnaireResponse/…', …]
    result.extras       # {qr.full_url: 'QuestionnaireResponse/…', …}
    await desk.reject(other.id, "wrong medication list", who="Practitioner/123")

Guarantees:

* **Approval first**: :meth:`WriteBack.write` of an unapproved draft raises
  :class:`~tools.errors.ApprovalRequired` (HTTP 428); a rejected draft is never written
  (:class:`~tools.errors.DraftConflict`); the rejection's reason is kept as feedback.
* **Edits recorded**: the model's text and the approved text are both kept (``diff``); the
  Provenance holds the model's text as a contained DocumentReference, entity role
  ``revision``.
* **Idempotent**: the transaction's creates are conditional on a key derived from the
  draft id and the approved content; approving again writes nothing and returns the same
  references. A lost answer (timeout) is settled by searching for that key.
* **All or nothing**: a failed transaction keeps nothing (the server's or the store's
  transaction); the approval stays recorded with the error, so approving again retries.
* **Concurrency**: every state change is a compare-and-set on the draft's revision.
"""

from tools.drafts._model import (
    ApproveResult,
    Draft,
    DraftKind,
    DraftStatus,
    Feedback,
    new_draft_id,
    now_instant,
    text_diff,
)
from tools.drafts._store import DRAFT_TABLE, DraftStore
from tools.drafts._workflow import WritableSource, WriteBack, person

__all__ = [
    "DRAFT_TABLE",
    "ApproveResult",
    "Draft",
    "DraftKind",
    "DraftStatus",
    "DraftStore",
    "Feedback",
    "WritableSource",
    "WriteBack",
    "new_draft_id",
    "now_instant",
    "person",
    "text_diff",
]

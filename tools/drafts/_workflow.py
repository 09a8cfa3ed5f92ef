"""Draft → approve → write-back: the one orchestration the HTTP API and the CLI call.

See the package docstring for the API and its guarantees.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from tools.config import WritebackConfig
from tools.errors import (
    ApprovalRequired,
    DraftConflict,
    DraftError,
    FhirTimeout,
    FhirUnreachable,
    ImportFailed,
    ResourceNotFound,
    SourceError,
    StoreError,
    WriteBackFailed,
)
from tools.source import RecordSource, RecordWriter, Resource
from tools.writeback import (
    AIAST,
    DRAFT_IDENTIFIER,
    MODEL_IDENTIFIER,
    WRITEBACK_TAG,
    CitedSource,
    ExtraEntry,
    ModelAgent,
    Person,
    WritePlan,
    WriteSpec,
    build_transaction,
    write_key,
)

from ._model import ApproveResult, Draft, DraftKind, DraftStatus, Feedback, now_instant, text_diff
from ._store import DraftStore

__all__ = ["WritableSource", "WriteBack", "person"]

log = logging.getLogger("tools.drafts")

_REFERENCE = re.compile(r"^[A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64}$")
_RETRIES = 5  # compare-and-set rounds against concurrent writers of the same draft
_VERSION_READS = 8  # concurrent reads when resolving the versions of citations


class WritableSource(RecordSource, RecordWriter, Protocol):
    """A record source that can also write (:class:`tools.fhir.FhirClient`,
    :class:`tools.store.RecordStore`)."""


def person(who: str | Person, *, display: str = "", system: str | None = None) -> Person:
    """A :class:`Person` from ``Practitioner/123`` (a reference) or a name / user id."""
    if isinstance(who, Person):
        return who
    who = who.strip()
    if _REFERENCE.match(who):
        return Person(reference=who, display=display or who)
    return Person(display=display or who, system=system, value=who)


def _bare(reference: str) -> str:
    """``Type/id`` of a reference that may carry ``/_history/v`` or ``#fragment``."""
    ref = reference.split("#", 1)[0]
    parts = ref.split("/")
    if len(parts) >= 4 and parts[-2] == "_history":
        parts = parts[:-2]
    return "/".join(parts[-2:]) if len(parts) >= 2 else ref


def _location(entry: Mapping[str, Any]) -> str:
    response = entry.get("response") or {}
    where = response.get("location") or entry.get("fullUrl") or ""
    return _bare(str(where))


class WriteBack:
    """Drafts and their approval, rejection and write to the record (one per process).

    Args:
        drafts: the drafts table.
        source: where approved drafts are written (and citations' versions are read): the
            deployment's FHIR server or embedded store.
        config: the deployment's ``[writeback]`` table (document types, reason, limits).
    """

    def __init__(
        self,
        drafts: DraftStore,
        source: WritableSource,
        config: WritebackConfig | None = None,
    ) -> None:
        self.drafts = drafts
        self.source = source
        self.config = config or WritebackConfig()

    # ------------------------------------------------------------------ drafts

    async def create_draft(
        self,
        *,
        patient_id: str,
        markdown: str,
        model: ModelAgent,
        kind: DraftKind = "brief",
        title: str = "",
        citations: Iterable[str | CitedSource] = (),
        answer: Mapping[str, Any] | None = None,
        extras: Sequence[ExtraEntry] = (),
        extractive: bool = False,
        encounter: str | None = None,
        appointment: str | None = None,
        created_by: str = "",
        batch_key: str | None = None,
        status: DraftStatus = "draft",
        resolve_versions: bool = True,
    ) -> Draft:
        """Store a new draft (nothing is written to the record).

        ``citations`` are ``Type/id`` references (a ``#fragment`` or ``/_history/v`` is
        dropped) or :class:`CitedSource` with a version; versions not given are read from
        the source now (the version the text rests on goes into the Provenance).
        Citations of an extra's ``full_url`` stay as they are. ``status="pending"`` makes
        a placeholder that :meth:`complete` fills in (a model brief still running).
        With a ``batch_key`` already used, the existing draft is returned instead.
        ``resolve_versions=False``: versions not given stay unknown (the record came from
        elsewhere, e.g. a CDS client's prefetch, not from this source).
        """
        if batch_key:
            found = await self.drafts.by_batch_key(batch_key)
            if found is not None:
                return found
        extra_urls = {e.full_url for e in extras}
        cited = (
            await self._versions(patient_id, citations, extra_urls) if status != "pending" else []
        )
        draft = Draft(
            patient_id=patient_id,
            kind=kind,
            status=status,
            title=title or self._title(kind, patient_id),
            markdown=markdown,
            answer=dict(answer) if answer is not None else None,
            citations=cited,
            extras=list(extras),
            encounter=encounter,
            appointment=appointment,
            model=model,
            extractive=extractive,
            created_by=created_by,
            batch_key=batch_key,
        )
        return await self.drafts.insert(draft)

    async def complete(
        self,
        draft_id: str,
        *,
        markdown: str,
        model: ModelAgent,
        citations: Iterable[str | CitedSource] = (),
        answer: Mapping[str, Any] | None = None,
        extractive: bool = False,
        resolve_versions: bool = True,
    ) -> Draft:
        """Fill in a ``pending`` draft (its generation finished): it becomes a ``draft``."""
        draft, rev = await self.drafts.get(draft_id)
        if draft.status != "pending":
            raise DraftConflict(f"Draft {draft_id} is {draft.status}, not pending.")
        extra_urls = {e.full_url for e in draft.extras}
        draft.citations = await self._versions(
            draft.patient_id, citations, extra_urls, resolve_versions
        )
        draft.markdown, draft.model, draft.extractive = markdown, model, extractive
        draft.answer = dict(answer) if answer is not None else None
        draft.status = "draft"
        if not await self.drafts.replace(draft, rev):
            raise DraftConflict(f"Draft {draft_id} changed while it was being completed.")
        return draft

    async def fail(self, draft_id: str, error: str) -> None:
        """Mark a ``pending`` draft as failed (its generation raised ``error``)."""
        for _ in range(_RETRIES):
            draft, rev = await self.drafts.get(draft_id)
            if draft.status != "pending":
                return
            draft.status, draft.error = "failed", error
            if await self.drafts.replace(draft, rev):
                return

    async def get(self, draft_id: str) -> Draft:
        """The draft (``DraftNotFound``)."""
        return (await self.drafts.get(draft_id))[0]

    async def find(self, **filters: Any) -> list[Draft]:
        """Drafts, newest first (``patient_id``, ``status``, ``batch_prefix``, ``limit``)."""
        return await self.drafts.find(**filters)

    async def reject(self, draft_id: str, reason: str, who: str | Person = "") -> Draft:
        """Reject a draft: it will never be written; the reason is kept as feedback."""
        reason = reason.strip()
        if not reason:
            raise DraftError("A rejection needs a reason (what was wrong with the draft).")
        reviewer = person(who) if who else Person(display="unknown")
        for _ in range(_RETRIES):
            draft, rev = await self.drafts.get(draft_id)
            if draft.status == "rejected":
                return draft
            if draft.status in ("written", "approved"):
                raise DraftConflict(
                    f"Draft {draft_id} was already approved by "
                    f"{_name(draft.approved_by)}"
                    + (f" and written ({', '.join(draft.written)})" if draft.written else "")
                    + "; it cannot be rejected. Amend the record with a new draft instead."
                )
            draft.status = "rejected"
            draft.feedback.append(
                Feedback(kind="rejected", who=_name(reviewer), reason=reason[:4000])
            )
            if await self.drafts.replace(draft, rev):
                return draft
        raise DraftConflict(f"Draft {draft_id} kept changing; retry.")

    # ------------------------------------------------------------------ approve / write

    async def approve(
        self, draft_id: str, approver: str | Person, edits: str | None = None
    ) -> ApproveResult:
        """Approve a draft (optionally with the approver's edited text) and write it.

        Writes one transaction (Device, DocumentReference, Provenance, extras), reads it
        back and checks it. Idempotent: approving again (the same text, or no edits)
        writes nothing and returns the same references. Raises ``DraftConflict`` for a
        rejected, pending or failed draft, or edits that differ from an approval already
        written; ``WriteBackFailed`` when the write failed (nothing half-written is kept;
        the approval stays recorded, so approving again retries the write).
        """
        who = person(approver)
        if edits is not None:
            edits = edits.replace("\r\n", "\n")
            if not edits.strip():
                raise DraftError("The edited text is empty; reject the draft instead.")
            if len(edits) > self.config.max_text_chars:
                raise DraftError(
                    f"The edited text has {len(edits)} characters; at most "
                    f"{self.config.max_text_chars} ([writeback] max_text_chars)."
                )
        for _ in range(_RETRIES):
            draft, rev = await self.drafts.get(draft_id)
            self._check_state(draft)
            if draft.status == "written":
                if edits is not None and edits != draft.approved_markdown:
                    raise DraftConflict(
                        f"Draft {draft_id} was already approved and written "
                        f"({', '.join(draft.written)}) with other text; to amend the record, "
                        "create a new draft."
                    )
                return await self._confirm(draft)
            if draft.status == "approved":
                if edits is None or edits == draft.approved_markdown:
                    return await self._write(draft, rev)
                if await self._find(draft) is not None:  # the earlier write did land
                    await self._write(draft, rev)
                    raise DraftConflict(
                        f"Draft {draft_id} was already approved with other text and that "
                        "approval has been written; to amend the record, create a new draft."
                    )
            text = edits if edits is not None else draft.markdown
            draft.status = "approved"
            draft.approved_by = who
            draft.approved_at = now_instant()
            draft.approved_markdown = text
            draft.diff = text_diff(draft.markdown, text)
            draft.write_key = write_key(draft.id, text, tuple(draft.extras))
            draft.error = None
            draft.feedback.append(
                Feedback(kind="edited" if draft.diff else "approved", who=_name(who))
            )
            if await self.drafts.replace(draft, rev):
                return await self._write(draft, rev + 1)
        raise DraftConflict(f"Draft {draft_id} kept changing while being approved; retry.")

    async def write(self, draft_id: str) -> ApproveResult:
        """Write an approved draft (a retry after a failed write); ``ApprovalRequired``
        when no person approved it."""
        draft, rev = await self.drafts.get(draft_id)
        self._check_state(draft)
        if draft.status == "draft":
            raise ApprovalRequired(
                f"Draft {draft_id} has not been approved; nothing is written to the record "
                "until a person approves it (POST /v1/drafts/{id}/approve, or "
                "`fhir-assistant approve DRAFT_ID`)."
            )
        if draft.status == "written":
            return await self._confirm(draft)
        return await self._write(draft, rev)

    # ------------------------------------------------------------------ internals

    @staticmethod
    def _check_state(draft: Draft) -> None:
        if draft.status == "pending":
            raise DraftConflict(
                f"Draft {draft.id} is still being generated; retry when its status is draft."
            )
        if draft.status == "failed":
            raise DraftConflict(f"Draft {draft.id} could not be generated: {draft.error}")
        if draft.status == "rejected":
            last = next((f for f in reversed(draft.feedback) if f.kind == "rejected"), None)
            why = f" by {last.who}: {last.reason}" if last else ""
            raise DraftConflict(
                f"Draft {draft.id} was rejected{why}. A rejected draft is never written; "
                "create a new draft."
            )

    def _title(self, kind: DraftKind, patient_id: str) -> str:
        return {
            "brief": f"Pre-visit brief, Patient/{patient_id}",
            "answer": f"Answer about Patient/{patient_id}",
            "intake": f"Pre-visit intake brief, Patient/{patient_id}",
        }[kind]

    def _spec(self, draft: Draft) -> WriteSpec:
        assert draft.approved_markdown is not None
        assert draft.approved_at is not None
        cfg = self.config
        return WriteSpec(
            draft_id=draft.id,
            patient_id=draft.patient_id,
            title=draft.title,
            markdown=draft.approved_markdown,
            model_markdown=draft.markdown,
            citations=tuple(draft.citations),
            extras=tuple(draft.extras),
            model=draft.model,
            approver=draft.approved_by or Person(display="unknown"),
            created=draft.created,
            approved_at=draft.approved_at,
            encounter=draft.encounter,
            appointment=draft.appointment,
            doc_type=cfg.document_type(draft.kind),
            category=cfg.category.coding(),
            reason=cfg.reason.coding(),
        )

    async def _versions(
        self,
        patient_id: str,
        citations: Iterable[str | CitedSource],
        extra_urls: set[str],
        resolve: bool = True,
    ) -> list[CitedSource]:
        """Citations with versions: given ones kept, the others read from the source."""
        out: dict[str, CitedSource] = {}
        for c in citations:
            if isinstance(c, CitedSource):
                ref = c.reference if c.reference in extra_urls else _bare(c.reference)
                out.setdefault(ref, CitedSource(reference=ref, version=c.version))
            else:
                base = c.split("#", 1)[0]
                ref = base if base in extra_urls else _bare(c)
                out.setdefault(ref, CitedSource(reference=ref))
        missing = [r for r, c in out.items() if c.version is None and r not in extra_urls]
        if not missing or not resolve:
            return list(out.values())
        found: dict[str, str] = {}
        if len(missing) > _VERSION_READS:
            for resource in await self.source.everything(patient_id):
                ref = f"{resource.get('resourceType')}/{resource.get('id')}"
                version = (resource.get("meta") or {}).get("versionId")
                if isinstance(version, str):
                    found[ref] = version
        limit = asyncio.Semaphore(_VERSION_READS)

        async def read(ref: str) -> None:
            async with limit:
                try:
                    resource = await self.source.read(ref)
                except ResourceNotFound:
                    raise DraftError(
                        f"The draft cites {ref}, which the record source "
                        f"({self.source.label}) does not hold; a citation must name a "
                        "resource of the record."
                    ) from None
            version = (resource.get("meta") or {}).get("versionId")
            if isinstance(version, str):
                found[ref] = version

        await asyncio.gather(*(read(r) for r in missing if r not in found))
        return [CitedSource(reference=r, version=c.version or found.get(r)) for r, c in out.items()]

    async def _write(self, draft: Draft, rev: int) -> ApproveResult:
        """Write an approved draft in one transaction, read it back, mark it written."""
        plan = build_transaction(self._spec(draft))
        if plan.key != draft.write_key:
            raise DraftConflict(f"Draft {draft.id}: the approved content changed; approve again.")
        created = True
        try:
            response = await self.source.transaction(plan.bundle, patient_id=draft.patient_id)
            entries = response.get("entry") or []
            refs = [_location(e) for e in entries]
            created = any(
                str((e.get("response") or {}).get("status", "")).startswith("201")
                for e, slot in zip(entries, plan.slots, strict=True)
                if slot != "device"
            )
        except (FhirTimeout, FhirUnreachable) as exc:
            found = await self._find(draft, plan)
            if found is None:
                await self._record_error(draft.id, f"{type(exc).__name__}: {exc}")
                raise WriteBackFailed(
                    f"The record source did not answer the write of draft {draft.id} ({exc}) "
                    "and none of its resources are there. Approve again to retry (the write "
                    "is idempotent).",
                    outcome_unknown=True,
                ) from exc
            refs = found
        except (SourceError, StoreError, ImportFailed) as exc:
            await self._record_error(draft.id, f"{type(exc).__name__}: {exc}")
            raise WriteBackFailed(
                f"Writing draft {draft.id} to {self.source.label} failed; the transaction was "
                f"rolled back, nothing of it was kept: {exc}"
            ) from exc
        await self._check(draft, plan, refs)
        result = self._result(draft, plan, refs, created)
        for _ in range(_RETRIES):
            if draft.status == "written":
                break
            draft.status = "written"
            draft.written = refs
            draft.written_at = now_instant()
            draft.error = None
            if await self.drafts.replace(draft, rev):
                break
            draft, rev = await self.drafts.get(draft.id)
        log.info("draft %s written: %s (new: %s)", draft.id, ", ".join(refs), created)
        return result

    def _result(
        self, draft: Draft, plan: WritePlan, refs: list[str], created: bool
    ) -> ApproveResult:
        by_slot = dict(zip(plan.slots, refs, strict=True))
        extras = {e.full_url: by_slot[f"extra{n}"] for n, e in enumerate(draft.extras, 1)}
        return ApproveResult(
            draft_id=draft.id,
            status="written",
            written=refs,
            document=by_slot.get("document"),
            provenance=by_slot.get("provenance"),
            created=created,
            edited=draft.edited,
            extras=extras,
        )

    async def _confirm(self, draft: Draft) -> ApproveResult:
        """A repeated approval of a written draft: read back, same references, no write."""
        plan = build_transaction(self._spec(draft))
        await self._check(draft, plan, draft.written)
        return self._result(draft, plan, draft.written, created=False)

    async def _find(self, draft: Draft, plan: WritePlan | None = None) -> list[str] | None:
        """The references an earlier write of this approval created, if it landed."""
        if draft.approved_markdown is None:
            return None
        plan = plan or build_transaction(self._spec(draft))
        refs: list[str] = []
        for slot, entry in zip(plan.slots, plan.bundle["entry"], strict=True):
            rtype = entry["resource"]["resourceType"]
            if slot == "device":
                params = {"identifier": f"{MODEL_IDENTIFIER}|{draft.model.identifier}"}
            else:
                params = {"_tag": f"{WRITEBACK_TAG}|{plan.tag(slot)}"}
            try:
                found = await self.source.search(rtype, params)
            except SourceError:
                return None
            if len(found) != 1:
                return None
            refs.append(f"{rtype}/{found[0]['id']}")
        return refs

    async def _check(self, draft: Draft, plan: WritePlan, refs: Sequence[str]) -> None:
        """Read every written resource back and check it is what was approved."""
        problems: list[str] = []
        by_slot = dict(zip(plan.slots, refs, strict=True))
        read: dict[str, Resource] = {}
        for slot, ref in by_slot.items():
            try:
                read[slot] = await self.source.read(ref)
            except SourceError as exc:
                problems.append(f"{ref} ({slot}) cannot be read back: {exc}")
        doc = read.get("document")
        if doc is not None:
            attachment = ((doc.get("content") or [{}])[0]).get("attachment") or {}
            if attachment.get("hash") != plan.document_hash:
                problems.append(f"{by_slot['document']} does not hold the approved text")
            if (doc.get("subject") or {}).get("reference") != f"Patient/{draft.patient_id}":
                problems.append(f"{by_slot['document']} is not about Patient/{draft.patient_id}")
            if not any(
                s.get("code") == AIAST["code"] for s in (doc.get("meta") or {}).get("security", [])
            ):
                problems.append(f"{by_slot['document']} lost its AIAST security label")
            idents = {(i.get("system"), i.get("value")) for i in doc.get("identifier") or []}
            if (DRAFT_IDENTIFIER, draft.id) not in idents:
                problems.append(f"{by_slot['document']} is not the document of draft {draft.id}")
        prov = read.get("provenance")
        if prov is not None:
            targets = {_bare(str(t.get("reference", ""))) for t in prov.get("target") or []}
            if by_slot.get("document") not in targets:
                problems.append(f"{by_slot['provenance']} does not target {by_slot['document']}")
        for slot, resource in read.items():
            if slot == "device":
                continue
            tags = {
                (t.get("system"), t.get("code"))
                for t in (resource.get("meta") or {}).get("tag", [])
            }
            if (WRITEBACK_TAG, plan.tag(slot)) not in tags:
                problems.append(f"{by_slot[slot]} ({slot}) lacks its write-back tag")
        if problems:
            message = "; ".join(problems)
            await self._record_error(draft.id, f"read-back check failed: {message}")
            raise WriteBackFailed(
                f"Draft {draft.id} was written to {self.source.label}, but reading it back "
                f"does not match what was approved: {message}. Check the server (does it "
                "change resources on write?) before approving again."
            )

    async def _record_error(self, draft_id: str, error: str) -> None:
        for _ in range(_RETRIES):
            draft, rev = await self.drafts.get(draft_id)
            draft.error = error[:2000]
            if await self.drafts.replace(draft, rev):
                return


def _name(p: Person | None) -> str:
    if p is None:
        return "unknown"
    return p.display or p.value or p.reference or "unknown"

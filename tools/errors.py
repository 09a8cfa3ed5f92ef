"""The project's one exception tree.

Every error the assistant raises on purpose is a subclass of :class:`AssistantError`,
so callers (the CLI, the HTTP API, the agent graph) can catch one type and show its
message. Each message says *what* failed, *for which* resource, patient, file or URL,
and *what to do next*. Layers above ``tools`` (``agent``, ``surfaces``) extend this tree
rather than starting their own.

::

    AssistantError
    ├── ConfigError                    bad or unsafe configuration
    ├── SourceError                    anything a RecordSource (server or store) raises
    │   ├── PatientNotFound            no such patient in this source
    │   ├── ResourceNotFound           read() of a reference that does not exist (404)
    │   │   └── ResourceGone           ... that existed and was deleted (410)
    │   ├── UnsupportedSearch          a search parameter the source cannot honour
    │   ├── FhirHttpError              the server answered with an error status
    │   │   │                          (.status, .url, .outcome: OperationOutcome dict)
    │   │   ├── FhirAuthError          401 / 403: credentials missing, expired or not allowed
    │   │   ├── FhirRateLimited        429 that persisted through every retry
    │   │   └── FhirServerError        5xx that persisted through every retry
    │   ├── FhirUnreachable            connection refused / DNS / TLS: no answer at all
    │   ├── FhirTimeout                the server did not answer in time (after retries)
    │   ├── FhirProtocolError          an answer that is not FHIR (not JSON, wrong type)
    │   │   └── PagingLoop             a Bundle ``next`` link that repeats
    │   ├── TokenError                 SMART Backend Services token request failed
    │   └── WriteRefused               a create() refused before it was sent: the resource's
    │                                  subject/patient is not the session's patient, or the
    │                                  resource is not writable (no resourceType, id given)
    ├── ImportFailed                   a file could not be imported (nothing of it was kept)
    │   ├── MalformedJson              not parseable JSON / NDJSON (with line number)
    │   ├── NotABundle                 JSON, but not a Bundle / not a resource
    │   ├── WrongFhirVersion           valid JSON in another FHIR version (e.g. STU3, R5)
    │   ├── InvalidResource            a resource that fails R4 structural validation
    │   └── UnresolvedReference        a urn:uuid / conditional reference with no target
    ├── StoreError                     the record store itself failed (schema, database)
    │   └── AuditWriteFailed           an audit entry could not be written: the request it
    │                                  records must fail too (tools.audit)
    ├── DraftError                     the draft → approve → write-back path (tools.drafts)
    │   ├── DraftNotFound              no draft with that id
    │   ├── DraftConflict              the draft's state forbids it (rejected, already
    │   │                              written with other content, still being generated)
    │   ├── ApprovalRequired           writing a draft no person approved (HTTP 428)
    │   └── WriteBackFailed            the transaction failed or its read-back did not match;
    │                                  nothing half-written was kept (.outcome_unknown)
    ├── TerminologyError               the terminology layer could not answer
    │   ├── TerminologyDataError       a terminology data file is malformed (file:line)
    │   └── TerminologyServerError     a FHIR terminology server failed: unreachable, timed
    │                                  out, HTTP error, or an answer that is not Parameters
    │                                  (.url, .status)
    └── RecordToolError                a record tool (evidence, summary, trend, plot) failed,
                                       or a write builder refused its input (tools.writes)
        ├── UnknownMeasure             a trend name or code that matches no known measure
        ├── IncompatibleUnits          values whose units cannot be converted to one unit
        ├── OptionalDependencyMissing  an optional package (matplotlib, tokenizers, ...) is absent
        └── AttachmentError            an image attachment that cannot be loaded (absent, too
            │                          large, not a viewable image)
            └── AttachmentRefused      an attachment outside the patient's record (an external
                                       url, another patient's Binary)

``ResourceNotFound``, ``PatientNotFound`` and ``UnknownMeasure`` are also ``LookupError``;
``IncompatibleUnits`` is also a ``ValueError``; ``OptionalDependencyMissing`` is also an
``ImportError``. The agent layer extends this tree in :mod:`agent.errors`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = [
    "ApprovalRequired",
    "AssistantError",
    "AttachmentError",
    "AttachmentRefused",
    "AuditWriteFailed",
    "ConfigError",
    "DraftConflict",
    "DraftError",
    "DraftNotFound",
    "FhirAuthError",
    "FhirHttpError",
    "FhirProtocolError",
    "FhirRateLimited",
    "FhirServerError",
    "FhirTimeout",
    "FhirUnreachable",
    "ImportFailed",
    "IncompatibleUnits",
    "InvalidResource",
    "MalformedJson",
    "NotABundle",
    "OptionalDependencyMissing",
    "PagingLoop",
    "PatientNotFound",
    "RecordToolError",
    "ResourceGone",
    "ResourceNotFound",
    "SourceError",
    "StoreError",
    "TerminologyDataError",
    "TerminologyError",
    "TerminologyServerError",
    "TokenError",
    "UnknownMeasure",
    "UnresolvedReference",
    "UnsupportedSearch",
    "WriteBackFailed",
    "WriteRefused",
    "WrongFhirVersion",
    "outcome_text",
]


class AssistantError(Exception):
    """Root of every error the assistant raises on purpose."""


class ConfigError(AssistantError):
    """A configuration file or value is missing, invalid or unsafe."""


# --------------------------------------------------------------------------- sources


class SourceError(AssistantError):
    """A record source (FHIR server or embedded store) could not answer."""


class PatientNotFound(SourceError, LookupError):
    """The patient does not exist in this source."""

    def __init__(self, patient_id: str, source: str = "") -> None:
        where = f" in {source}" if source else ""
        super().__init__(
            f"Patient/{patient_id} was not found{where}. "
            "List the available patients with `fhir-assistant patients`, or import/sync the record first."
        )
        self.patient_id = patient_id


class ResourceNotFound(SourceError, LookupError):
    """A read of a reference that does not exist."""

    def __init__(self, reference: str, source: str = "", detail: str = "") -> None:
        where = f" in {source}" if source else ""
        extra = f": {detail}" if detail else ""
        super().__init__(f"{reference} was not found{where}{extra}.")
        self.reference = reference


class ResourceGone(ResourceNotFound):
    """The resource existed and was deleted (HTTP 410)."""

    def __init__(self, reference: str, source: str = "", detail: str = "") -> None:
        SourceError.__init__(
            self,
            f"{reference} was deleted from {source or 'the source'} (410 Gone)"
            + (f": {detail}" if detail else "")
            + ". It cannot be cited; re-run the search to get the current record.",
        )
        self.reference = reference


class UnsupportedSearch(SourceError):
    """A search parameter or resource type this source cannot honour."""


def outcome_text(outcome: dict[str, Any] | None) -> str:
    """Flatten an OperationOutcome into one readable line (severity: text; ...)."""
    if not outcome or outcome.get("resourceType") != "OperationOutcome":
        return ""
    parts: list[str] = []
    for issue in outcome.get("issue") or []:
        text = (
            issue.get("diagnostics")
            or (issue.get("details") or {}).get("text")
            or issue.get("code")
            or ""
        )
        severity = issue.get("severity", "error")
        if text:
            parts.append(f"{severity}: {text}")
    return "; ".join(parts)


class FhirHttpError(SourceError):
    """The FHIR server answered with an HTTP error status.

    Attributes:
        status: the HTTP status code.
        url: the request URL (without credentials).
        outcome: the server's OperationOutcome as a dict, when it sent one.
    """

    hint = "Check the request and the server's log."

    def __init__(
        self,
        status: int,
        url: str,
        outcome: dict[str, Any] | None = None,
        body: str = "",
        hint: str | None = None,
    ) -> None:
        self.status = status
        self.url = url
        self.outcome = outcome
        detail = outcome_text(outcome) or body.strip()[:300]
        msg = f"FHIR server returned HTTP {status} for GET {url}"
        if detail:
            msg += f" ({detail})"
        msg += f". {hint or self.hint}"
        super().__init__(msg)


class FhirAuthError(FhirHttpError):
    """401 or 403: the credentials are missing, expired, or lack the needed scope."""

    hint = (
        "Check the configured auth (bearer token or SMART Backend Services client id, key "
        "and scopes) and that the client is allowed to read this patient."
    )


class FhirRateLimited(FhirHttpError):
    """429 Too Many Requests that persisted through every retry."""

    hint = "The server is rate limiting; lower `limits.max_concurrency` or retry later."


class FhirServerError(FhirHttpError):
    """A 5xx that persisted through every retry."""

    hint = "The server is failing; retry later or contact its operators."


class FhirUnreachable(SourceError):
    """No answer at all: connection refused, DNS failure, TLS failure."""

    def __init__(self, url: str, cause: BaseException | str) -> None:
        super().__init__(
            f"Cannot reach the FHIR server at {url} ({cause}). "
            "Check the URL in the config or --source, and that the server is running."
        )
        self.url = url


class FhirTimeout(SourceError):
    """The server did not answer within the configured timeout, after retries."""

    def __init__(self, url: str, seconds: float, attempts: int) -> None:
        super().__init__(
            f"FHIR server did not answer GET {url} within {seconds:g} s "
            f"({attempts} attempt(s)). Raise `limits.timeout_s` or check the server's load."
        )
        self.url = url


class FhirProtocolError(SourceError):
    """The server's answer is not the FHIR that was asked for."""


class PagingLoop(FhirProtocolError):
    """A searchset Bundle's ``next`` link points at a page already fetched."""

    def __init__(self, url: str, pages: int) -> None:
        super().__init__(
            f"Paging loop: the server's `next` link {url} repeats a page already fetched "
            f"(after {pages} pages). The results so far are incomplete; report this server bug."
        )
        self.url = url


class TokenError(SourceError):
    """A SMART Backend Services token could not be obtained."""


class WriteRefused(SourceError):
    """A write (``create``) refused in code before anything was sent or stored.

    Raised when the resource's subject/patient is not the session's patient (writes are
    patient-scoped like reads), or when the resource cannot be created as given.
    """


# --------------------------------------------------------------------------- imports


class ImportFailed(AssistantError):
    """A file could not be imported; nothing from it was written to the store."""

    def __init__(self, path: str, detail: str) -> None:
        super().__init__(f"Cannot import {path}: {detail}")
        self.path = path
        self.detail = detail


class MalformedJson(ImportFailed):
    """The file is not valid JSON (or an NDJSON line is not)."""


class NotABundle(ImportFailed):
    """The JSON is not a FHIR Bundle (or, for NDJSON, not a FHIR resource)."""


class WrongFhirVersion(ImportFailed):
    """The data is FHIR, but not R4 (e.g. STU3 or R5 fields)."""


class InvalidResource(ImportFailed):
    """A resource fails FHIR R4 structural validation."""


class UnresolvedReference(ImportFailed):
    """A ``urn:uuid:`` or conditional reference matches no resource."""


class StoreError(AssistantError):
    """The record store itself failed (cannot open, schema mismatch, database error)."""


class AuditWriteFailed(StoreError):
    """An audit entry could not be committed; the audited request must not succeed."""


# --------------------------------------------------------------------------- drafts


class DraftError(AssistantError):
    """The draft → approve → write-back path refused or failed (:mod:`tools.drafts`)."""


class DraftNotFound(DraftError, LookupError):
    """No draft with that id (or not one this caller may see)."""

    def __init__(self, draft_id: str) -> None:
        super().__init__(
            f"No draft {draft_id!r}. Create one first (`fhir-assistant brief --patient ID "
            "--draft`, or POST /v1/patients/{id}/drafts) and use the `draft_id` it returns."
        )
        self.draft_id = draft_id


class DraftConflict(DraftError):
    """The draft's state forbids the request (rejected, written with other content, still
    being generated, failed)."""


class ApprovalRequired(DraftError):
    """A write of a draft that no person has approved: refused (HTTP 428)."""


class WriteBackFailed(DraftError):
    """Writing an approved draft failed; nothing half-written was kept.

    ``outcome_unknown`` is True when the server's answer was lost (timeout, dropped
    connection): approving again is safe (the write is idempotent) and settles it.
    """

    def __init__(self, message: str, *, outcome_unknown: bool = False) -> None:
        super().__init__(message)
        self.outcome_unknown = outcome_unknown


# --------------------------------------------------------------------------- terminology


class TerminologyError(AssistantError):
    """The terminology layer (local data files or a terminology server) could not answer."""


class TerminologyDataError(TerminologyError):
    """A terminology data file is malformed; ``where`` is ``file:line``."""

    def __init__(self, where: str, detail: str) -> None:
        super().__init__(
            f"Terminology data {where}: {detail}. Fix the file (its format is described "
            "in tools/terminology/_data.py) and reload."
        )
        self.where = where


class TerminologyServerError(TerminologyError):
    """A FHIR terminology server could not answer ($lookup, $subsumes, $translate).

    Attributes:
        url: the request URL.
        status: the HTTP status, or ``None`` when there was no answer (unreachable,
            timeout) or the answer was not a FHIR ``Parameters`` resource.
    """

    def __init__(self, url: str, detail: str, status: int | None = None) -> None:
        where = f"HTTP {status} from " if status is not None else ""
        super().__init__(
            f"Terminology server {where}{url}: {detail}. Check `terminology.server_url` "
            "and its auth in the deployment config; answers fall back to the local "
            "terminology data (undecidable relations are reported as unverified)."
        )
        self.url = url
        self.status = status


# --------------------------------------------------------------------------- record tools


class RecordToolError(AssistantError):
    """A record tool (evidence, summary, trend, brief, plot) could not answer, or a write
    builder (:mod:`tools.writes`) refused its input (an unknown route, an implausible value)."""


class UnknownMeasure(RecordToolError, LookupError):
    """A trend query (name or code) that matches no known measure."""

    def __init__(self, query: str, known: Sequence[str] = ()) -> None:
        names = ", ".join(sorted(known)[:40])
        super().__init__(
            f"Unknown lab or vital {query!r}: give a LOINC code (e.g. 4548-4) or one of the "
            f"known names ({names})."
        )
        self.query = query


class IncompatibleUnits(RecordToolError, ValueError):
    """Values whose units cannot be converted to one common unit.

    ``values`` names each offending value (``Observation/… = 5.1 mmol/L``).
    """

    def __init__(self, what: str, target_unit: str, values: Sequence[str]) -> None:
        shown = "; ".join(values[:10]) + (f"; … ({len(values)} in all)" if len(values) > 10 else "")
        super().__init__(
            f"Cannot convert {what} to {target_unit!r}: {shown}. "
            "These units measure different things; ask for one code at a time, or pass a "
            "unit that every value can be converted to."
        )
        self.target_unit = target_unit
        self.values = list(values)


class OptionalDependencyMissing(RecordToolError, ImportError):
    """An optional package needed for this feature is not installed."""

    def __init__(self, feature: str, package: str, extra: str) -> None:
        super().__init__(
            f"{feature} needs the optional package `{package}`, which is not installed. "
            f"Install it with `pip install 'fhir-record-assistant[{extra}]'`."
        )
        self.package = package


class AttachmentError(RecordToolError):
    """An image attachment that cannot be loaded (absent, too large, not a viewable image)."""


class AttachmentRefused(AttachmentError):
    """An attachment outside the patient's record: an external url, another patient's data."""

"""Errors as FHIR ``OperationOutcome`` bodies, and the service's part of the exception tree.

Every error the service answers with is an ``OperationOutcome`` (never FastAPI's default
``{"detail": …}``): one ``issue`` per problem with ``severity``, a FHIR ``code``
(``login``, ``forbidden``, ``not-found``, ``too-long``, ``invalid``, ``structure``,
``transient``, ``timeout``, ``exception``) and ``diagnostics`` saying what failed and what
to check. The response carries ``X-Request-Id``; 401 adds ``WWW-Authenticate: Bearer``,
503 adds ``Retry-After``.

The service extends the project's one exception tree (:mod:`tools.errors`)::

    AssistantError
    └── ServiceError                    an error the HTTP service answers with (.status)
        ├── AuthenticationRequired      401: no or unusable credentials
        ├── Forbidden                   403: wrong patient, missing scope
        ├── NotFound                    404: unknown thread (patients: PatientNotFound)
        ├── PayloadTooLarge             413: question or body over the configured limit
        ├── ServiceBusy                 503: the model queue is full (.retry_after)
        └── NotReady                    503: the model is still loading (.retry_after)

Errors of the rest of the tree map to statuses in :func:`status_of`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from agent.errors import (
    BackendHTTPError,
    BackendProtocolError,
    BackendUnreachable,
    ConsentRefused,
    ContextOverflow,
    IntakeNotFound,
    IntakeStateError,
    ModelError,
    ModelLoadError,
    ModelTimeout,
    ThreadStoreError,
)
from tools.errors import (
    ApprovalRequired,
    AssistantError,
    AuditWriteFailed,
    ConfigError,
    DraftConflict,
    DraftError,
    DraftNotFound,
    FhirAuthError,
    FhirTimeout,
    IncompatibleUnits,
    OptionalDependencyMissing,
    PatientNotFound,
    RecordToolError,
    ResourceNotFound,
    SourceError,
    StoreError,
    UnknownMeasure,
    UnsupportedSearch,
    WriteBackFailed,
    WriteRefused,
)

__all__ = [
    "AuthenticationRequired",
    "Forbidden",
    "Issue",
    "NotFound",
    "NotReady",
    "OperationOutcome",
    "PayloadTooLarge",
    "ServiceBusy",
    "ServiceError",
    "error_responses",
    "outcome",
    "status_of",
]

IssueCode = Literal[
    "invalid",
    "structure",
    "required",
    "value",
    "too-long",
    "security",
    "login",
    "forbidden",
    "not-found",
    "not-supported",
    "too-costly",
    "transient",
    "timeout",
    "exception",
    "processing",
    "throttled",
    "conflict",
    "business-rule",
]


class Issue(BaseModel):
    """One problem (FHIR ``OperationOutcome.issue``)."""

    severity: Literal["fatal", "error", "warning", "information"] = "error"
    code: IssueCode
    diagnostics: str = Field(description="what failed and what to do next")
    expression: list[str] | None = Field(
        None, description="where in the request (e.g. `body.question`, `query.budget`)"
    )


class OperationOutcome(BaseModel):
    """A FHIR R4 ``OperationOutcome``: the body of every error response."""

    resourceType: Literal["OperationOutcome"] = "OperationOutcome"
    issue: list[Issue] = Field(min_length=1)


def outcome(
    code: IssueCode,
    diagnostics: str,
    *,
    expression: list[str] | None = None,
    severity: str = "error",
) -> dict[str, Any]:
    """An ``OperationOutcome`` dict with one issue."""
    issue: dict[str, Any] = {"severity": severity, "code": code, "diagnostics": diagnostics}
    if expression:
        issue["expression"] = expression
    return {"resourceType": "OperationOutcome", "issue": [issue]}


# --------------------------------------------------------------------------- the tree


class ServiceError(AssistantError):
    """An error the HTTP service answers with (``status``, FHIR issue ``code``)."""

    status = 500
    code: IssueCode = "exception"


class AuthenticationRequired(ServiceError):
    """401: no credentials, or a token/key that cannot be accepted."""

    status = 401
    code: IssueCode = "login"


class Forbidden(ServiceError):
    """403: authenticated, but not allowed (another patient, a missing scope)."""

    status = 403
    code: IssueCode = "forbidden"


class NotFound(ServiceError):
    """404: something the request names does not exist (for this caller)."""

    status = 404
    code: IssueCode = "not-found"


class PayloadTooLarge(ServiceError):
    """413: over a configured size limit."""

    status = 413
    code: IssueCode = "too-long"


class ServiceBusy(ServiceError):
    """503: the model queue is full or the wait would exceed its bound."""

    status = 503
    code: IssueCode = "transient"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = max(1, retry_after)


class NotReady(ServiceBusy):
    """503: the model is still loading (or failed to load)."""


# --------------------------------------------------------------------------- mapping

_STATUS: list[tuple[type[BaseException], int, IssueCode]] = [
    (ServiceError, 500, "exception"),  # placeholder: ServiceError carries its own
    (DraftNotFound, 404, "not-found"),
    (IntakeNotFound, 404, "not-found"),
    (IntakeStateError, 409, "conflict"),
    (ConsentRefused, 403, "forbidden"),
    (DraftConflict, 409, "conflict"),
    (ApprovalRequired, 428, "business-rule"),
    (WriteBackFailed, 502, "exception"),
    (DraftError, 422, "business-rule"),
    (WriteRefused, 403, "forbidden"),
    (PatientNotFound, 404, "not-found"),
    (ResourceNotFound, 404, "not-found"),
    (UnknownMeasure, 404, "not-found"),
    (IncompatibleUnits, 422, "value"),
    (UnsupportedSearch, 422, "not-supported"),
    (OptionalDependencyMissing, 501, "not-supported"),
    (RecordToolError, 422, "processing"),
    (FhirAuthError, 502, "security"),
    (FhirTimeout, 504, "timeout"),
    (SourceError, 503, "transient"),
    (AuditWriteFailed, 503, "transient"),
    (ThreadStoreError, 503, "transient"),
    (StoreError, 503, "transient"),
    (ModelTimeout, 504, "timeout"),
    (ContextOverflow, 422, "too-costly"),
    (ModelLoadError, 503, "transient"),
    (BackendUnreachable, 503, "transient"),
    (BackendHTTPError, 502, "exception"),
    (BackendProtocolError, 502, "exception"),
    (ModelError, 502, "exception"),
    (ConfigError, 500, "exception"),
    (AssistantError, 500, "exception"),
]

_HINTS: dict[type[BaseException], str] = {
    SourceError: " Check that the record source (the FHIR server or database in the deployment's "
    "[source]) is running and reachable from this service; /ready reports it.",
    ModelError: " Check the model backend ([model] in the deployment file) and its log; "
    "/ready reports whether the model is loaded.",
}


def status_of(exc: BaseException) -> tuple[int, IssueCode]:
    """The HTTP status and FHIR issue code for an error of the project's tree."""
    if isinstance(exc, ServiceError):
        return exc.status, exc.code
    for cls, status, code in _STATUS[1:]:
        if isinstance(exc, cls):
            return status, code
    return 500, "exception"


def hint_of(exc: BaseException) -> str:
    """An extra "what to check" sentence for unavailability errors whose message lacks one."""
    if status_of(exc)[0] < 502:
        return ""
    for cls, hint in _HINTS.items():
        if isinstance(exc, cls) and "check" not in str(exc).lower():
            return hint
    return ""


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries: each status → an ``OperationOutcome`` body."""
    text = {
        400: "Malformed request (not JSON, wrong structure)",
        401: "No or unusable credentials (`WWW-Authenticate: Bearer`)",
        403: "Not allowed: another patient than the token's, a missing scope, or (intake) the "
        "patient declined consent",
        404: "Not found (patient, thread, measure)",
        409: "The draft's or the intake's state forbids it (rejected, written with other text, "
        "pending; an interview already complete or not yet)",
        413: "Over a configured limit (question length, body size)",
        428: "Writing a draft that no person approved",
        422: "Invalid parameters or body",
        500: "Internal error (the request id is in `X-Request-Id`)",
        502: "The model backend or the FHIR server answered with an error",
        503: "Busy (model queue full: `Retry-After`), still loading, or a dependency is down",
        504: "The model or the record source did not answer in time",
    }
    return {s: {"model": OperationOutcome, "description": text.get(s, "Error")} for s in statuses}

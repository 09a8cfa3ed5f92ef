"""One audit entry: a typed record of who did what to which patient's record, and how it went.

An entry is built by the surface that served a request (the HTTP service) and holds no
record text: only references (``Observation/…``), counts per resource type, and the
request's metadata. :func:`tools.audit.audit_event` turns it into a FHIR ``AuditEvent``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["AuditEntry", "Interaction"]

#: The RESTful interaction an entry records (FHIR ``restful-interaction`` codes); the
#: write-back surfaces record ``create`` / ``update`` / ``transaction``.
Interaction = Literal[
    "read", "search-type", "operation", "delete", "create", "update", "transaction"
]


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class AuditEntry(BaseModel):
    """What the audit trail keeps about one request.

    Attributes:
        id: the entry's id (also the ``AuditEvent.id`` on export).
        recorded: UTC instant the request finished (ISO 8601 with ``Z``).
        who: the authenticated user: a token's ``sub``, or ``api-key:<name>``.
        who_system: the namespace of ``who`` (the token issuer, or ``api-key``).
        client: the client application (``azp`` / ``client_id``), when known.
        client_address: the caller's network address as the server saw it.
        patient_id: the patient whose record was touched (None for a search).
        patients_found: for a patient search, the ids it returned.
        purpose: purpose of use (v3 ``PurposeOfUse`` code, e.g. ``TREAT``).
        action: what was done, e.g. ``ask``, ``patient.summary``, ``thread.delete``.
        interaction: the RESTful interaction (``read``, ``search-type``, ``operation``,
            ``delete``).
        method, route: HTTP method and route template (``/v1/patients/{patient_id}/summary``).
        query: the raw query string of a search (a patient search's name/birthdate).
        thread_id: the conversation thread, for ``ask`` and thread endpoints.
        resources: the references an answer cited (``Type/id``).
        resource_counts: resources fetched from the source, per type.
        deployment, config_hash, model: the deployment and model that served it.
        status: the HTTP status of the response (for a stream: of its outcome).
        error: the error type when it failed (e.g. ``PatientNotFound``), else None.
        duration_ms: time from the request's arrival to the entry.
        request_id: the request id (``X-Request-Id``, echoed in the response).
        insecure: the service ran with ``--insecure-no-auth`` (no caller was verified).
    """

    model_config = ConfigDict(extra="forbid")

    id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    recorded: str = Field(default_factory=_now)
    who: str
    who_system: str = ""
    client: str | None = None
    client_address: str | None = None
    patient_id: str | None = None
    patients_found: list[str] = Field(default_factory=list)
    purpose: str = "TREAT"
    action: str
    interaction: Interaction = "read"
    method: str = "GET"
    route: str = ""
    query: str | None = None
    thread_id: str | None = None
    resources: list[str] = Field(default_factory=list)
    resource_counts: dict[str, int] = Field(default_factory=dict)
    deployment: str = ""
    config_hash: str = ""
    model: str | None = None
    status: int = 200
    error: str | None = None
    duration_ms: float = 0.0
    request_id: str = ""
    insecure: bool = False

    @property
    def succeeded(self) -> bool:
        return self.status < 400 and self.error is None

"""Per-request context: the authenticated caller, what the request reads, and its audit entry.

A route declares what it touches with a dependency::

    @router.get("/v1/patients/{patient_id}/summary")
    async def summary(patient_id: PatientId,
                      rq: RequestContext = Depends(access("patient.summary", RECORD))):
        record = await rq.source.everything(patient_id)      # counted for the audit
        ...
        return await rq.done(SummaryOut(...), cited=...)     # audit committed, then answered

:func:`access` authenticates (401), checks the patient restriction and the SMART scopes
(403), and opens the audit entry. :meth:`RequestContext.done` writes it (committed)
before the response is returned; an error on the way is written by the app's exception
handler, with its status and type. If the audit write fails, the request fails
(:class:`tools.errors.AuditWriteFailed`, 503).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

from fastapi import Request

from tools.audit import AuditEntry, Interaction
from tools.fhir_version import CLINICAL_TYPES

from ._auth import Principal
from ._errors import Forbidden
from ._state import CountingSource, ServiceState

__all__ = ["RECORD", "RequestContext", "access", "state_of"]

log = logging.getLogger("surfaces.service")

T = TypeVar("T")

#: Every type of a patient's record: what a whole-record read (summary, brief, ask) needs.
RECORD: tuple[str, ...] = tuple(sorted({"Patient", *CLINICAL_TYPES}))


def state_of(request: Request) -> ServiceState:
    state: ServiceState = request.app.state.service
    return state


class RequestContext:
    """One request: its caller, its counted view of the source, and its audit entry."""

    def __init__(
        self, request: Request, state: ServiceState, action: str, interaction: Interaction
    ) -> None:
        self.request = request
        self.state = state
        self.principal: Principal | None = None
        self.source = CountingSource(state.source)
        self.started = getattr(request.state, "started", time.perf_counter())
        self.committed = False
        headers = request.headers
        purpose = headers.get(state.deployment.service.audit.purpose_header)
        self.entry = AuditEntry(
            who="anonymous",
            purpose=(purpose or state.deployment.service.audit.default_purpose)[:32],
            action=action,
            interaction=interaction,
            method=request.method,
            route=getattr(request.scope.get("route"), "path", request.url.path),
            client_address=request.client.host if request.client else None,
            deployment=state.deployment.name,
            config_hash=state.config_hash,
            request_id=getattr(request.state, "request_id", ""),
            insecure=state.insecure,
        )
        self._purpose_from_header = bool(purpose)

    def identify(self, principal: Principal) -> None:
        self.principal = principal
        self.entry.who = principal.who
        self.entry.who_system = principal.system
        self.entry.client = principal.client
        if principal.purpose and not self._purpose_from_header:
            self.entry.purpose = principal.purpose[:32]

    async def commit(self, status: int, error: str | None = None) -> None:
        """Write the audit entry (once); raises ``AuditWriteFailed``."""
        if self.committed:
            return
        self.committed = True
        e = self.entry
        e.status = status
        e.error = error
        e.resource_counts = dict(self.source.counts)
        e.duration_ms = round((time.perf_counter() - self.started) * 1000, 1)
        await self.state.audit.awrite(e)
        log.info(
            "audit %s %s status=%s error=%s who_kind=%s patient=%s resources=%d ms=%.0f rid=%s",
            e.action,
            e.method,
            status,
            error or "-",
            self.principal.kind if self.principal else "none",
            self.state.hasher(e.patient_id),
            sum(e.resource_counts.values()),
            e.duration_ms,
            e.request_id,
        )

    async def done(self, body: T, *, cited: Iterable[str] = (), status: int = 200) -> T:
        """Commit the audit entry for a successful response, then hand back ``body``."""
        self.entry.resources = list(dict.fromkeys(cited))
        await self.commit(status)
        return body


def access(
    action: str,
    resources: Iterable[str] = RECORD,
    *,
    interaction: Interaction = "read",
    needed: str = "rs",
    patient_param: str | None = "patient_id",
    contexts: tuple[str, ...] = ("patient", "user", "system"),
    unbound_only: bool = False,
) -> Callable[[Request], Awaitable[RequestContext]]:
    """A dependency: authenticate, authorize ``needed`` on ``resources`` for the path's
    patient, and open the audit entry (see the module docstring). ``unbound_only``: refuse
    callers bound to one patient (for data that spans patients, such as the audit trail)."""
    types = tuple(resources)

    async def dependency(request: Request) -> RequestContext:
        state = state_of(request)
        rq = RequestContext(request, state, action, interaction)
        request.state.rq = rq
        patient_id = request.path_params.get(patient_param) if patient_param else None
        rq.entry.patient_id = patient_id
        principal = await state.auth.authenticate(request)
        rq.identify(principal)
        if unbound_only and principal.patient is not None:
            raise Forbidden(
                f"This {principal.kind} is bound to one patient; {action} spans every patient "
                "and needs a user- or system-level token."
            )
        if set(contexts) != {"patient", "user", "system"}:
            principal = _narrow(principal, contexts)
        principal.require(types, needed, patient_id=patient_id, what=action)
        return rq

    return dependency


def _narrow(principal: Principal, contexts: tuple[str, ...]) -> Principal:
    from dataclasses import replace

    return replace(principal, scopes=tuple(s for s in principal.scopes if s.context in contexts))

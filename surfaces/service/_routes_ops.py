"""Operations: liveness (``/health``), readiness (``/ready``) and the audit trail (``/v1/audit``)."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from tools.audit import audit_events
from tools.errors import AssistantError, ResourceNotFound

from ._context import RequestContext, access, state_of
from ._errors import error_responses
from ._schemas import FHIR_ID, AuditBundle, Check, Health, Readiness

__all__ = ["router"]

router = APIRouter(tags=["operations"])


@router.get("/health", summary="Liveness: the process answers", response_model=Health)
async def health() -> Health:
    return Health()


async def _source_check(request: Request) -> Check:
    state = state_of(request)
    try:
        async with asyncio.timeout(10):
            await state.source.read("Patient/readiness-probe-0")
    except ResourceNotFound:
        pass  # the source answered
    except (AssistantError, TimeoutError) as exc:
        return Check(ok=False, detail=f"{type(exc).__name__}: {exc}")
    return Check(ok=True, detail=state.source.label)


async def _store_check(request: Request) -> Check:
    state = state_of(request)
    try:
        await asyncio.to_thread(state.audit.ping)
    except AssistantError as exc:
        return Check(ok=False, detail=str(exc))
    return Check(ok=True, detail=state.audit.label)


@router.get(
    "/ready",
    summary="Readiness: model loaded, service database and record source reachable",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "Not ready (see which check failed)"}},
)
async def ready(request: Request) -> JSONResponse:
    state = state_of(request)
    if state.model_error:
        model = Check(ok=False, detail=f"failed to load: {state.model_error}")
    elif state.model_loaded:
        model = Check(ok=True, detail=f"{state.model.name} ({state.model_backend})")
    else:
        model = Check(ok=False, detail=f"{state.model.name} is loading")
    store, source = await asyncio.gather(_store_check(request), _source_check(request))
    gate = state.gate
    body = Readiness(
        ready=model.ok and store.ok and source.ok,
        deployment=state.deployment.name,
        model=model,
        store=store,
        source=source,
        queue={
            "slots": gate.slots,
            "running": gate.running,
            "waiting": gate.waiting,
            "refused": gate.refused,
            "expected_wait_s": round(gate.expected_wait_s(), 1),
        },
    )
    return JSONResponse(body.model_dump(), status_code=200 if body.ready else 503)


def _instant(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    utc = value.astimezone(dt.UTC)
    return utc.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@router.get(
    "/v1/audit",
    tags=["audit"],
    summary="The audit trail as FHIR AuditEvents (IHE BALP shape), newest first",
    response_model=AuditBundle,
    responses=error_responses(401, 403, 422, 500, 503),
)
async def audit(
    rq: Annotated[
        RequestContext,
        Depends(
            access(
                "audit.read",
                ("AuditEvent",),
                interaction="search-type",
                patient_param=None,
                contexts=("user", "system"),
                unbound_only=True,
            )
        ),
    ],
    since: Annotated[
        dt.datetime | None, Query(description="recorded at or after (ISO 8601)")
    ] = None,
    until: Annotated[dt.datetime | None, Query(description="recorded before (ISO 8601)")] = None,
    patient: Annotated[str | None, Query(pattern=FHIR_ID, description="one patient's")] = None,
    count: Annotated[int, Query(alias="_count", ge=1, le=1000)] = 100,
) -> AuditBundle:
    state = rq.state
    rq.entry.query = str(rq.request.url.query) or None
    entries = await asyncio.to_thread(
        state.audit.entries,
        since=_instant(since),
        until=_instant(until),
        patient_id=patient,
        limit=count,
        newest_first=True,
    )
    resources = [
        ev
        for e in entries
        for ev in audit_events(e, observer=state.observer, server_url=state.public_url)
    ]
    bundle = AuditBundle(
        total=len(resources),
        entry=[{"resource": ev, "search": {"mode": "match"}} for ev in resources],
    )
    return await rq.done(bundle)

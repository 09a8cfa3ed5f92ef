"""The CDS Hooks 2.0 endpoints: discovery, the two services, feedback, and its export."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from starlette.background import BackgroundTask

from agent.run import brief as agent_brief
from surfaces.drafting import draft_answer, model_agent
from surfaces.service._auth import Principal
from surfaces.service._context import RequestContext, access, state_of
from surfaces.service._errors import NotFound, ServiceError, error_responses
from surfaces.service._state import ServiceState
from tools._record import view_of
from tools.brief import build_brief
from tools.drafts import Draft, WriteBack
from tools.evidence import build_evidence
from tools.open_items import open_items
from tools.trends import lab_trends
from tools.writeback import CitedSource

from ._hooks import (
    SERVICES,
    FetchedRecord,
    PrefetchMissing,
    build_card,
    fetch_record,
    snapshot_store,
)
from ._security import CdsStore, CdsVerifier

__all__ = ["CdsRuntime", "router"]

log = logging.getLogger("surfaces.cds")

router = APIRouter(tags=["cds-hooks"])
ServiceId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_\-]{1,64}$")]
_SOURCE_LABEL = "FHIR record assistant"


class PreconditionFailed(ServiceError):
    """412: the FHIR data the service needs was neither prefetched nor readable."""

    status = 412
    code = "not-found"


class BadHookRequest(ServiceError):
    status = 400
    code = "invalid"


class CdsRuntime:
    """The CDS tables and the JWT verifier of one worker (built on first use)."""

    def __init__(self, state: ServiceState, transport: Any = None) -> None:
        cfg = state.deployment.cds
        self.store = CdsStore(state.store_url)
        audience = cfg.service_url or (
            f"{state.public_url.rstrip('/')}/cds-services" if state.public_url else None
        )
        self.verifier = CdsVerifier(cfg, audience, self.store, transport=transport)


def runtime_of(request: Request) -> CdsRuntime:
    app_state = request.app.state
    rt: CdsRuntime | None = getattr(app_state, "cds", None)
    state = state_of(request)
    if rt is None or getattr(app_state, "cds_for", None) is not state:
        rt = CdsRuntime(state, getattr(app_state, "cds_jwks_transport", None))
        app_state.cds, app_state.cds_for = rt, state
    return rt


@router.get("/cds-services", summary="CDS Hooks discovery")
async def discovery() -> dict[str, Any]:
    return {"services": list(SERVICES.values())}


async def _verified(request: Request, action: str, interaction: Any) -> RequestContext:
    """Open the audit entry, then verify the CDS client's JWT (401: nothing is read)."""
    state = state_of(request)
    rq = RequestContext(request, state, action, interaction)
    request.state.rq = rq
    caller = await runtime_of(request).verifier.verify(request.headers.get("authorization"))
    rq.identify(
        Principal(
            who=caller.subject or caller.issuer,
            system=caller.issuer,
            client=caller.issuer,
            scopes=(),
            kind="jwt",
        )
    )
    return rq


async def _body(request: Request) -> dict[str, Any]:
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError as exc:
        raise BadHookRequest(f"The hook request is not JSON ({exc}).") from None
    if not isinstance(body, dict):
        raise BadHookRequest("The hook request must be a JSON object.")
    return body


def _appointment_of(context: dict[str, Any]) -> str | None:
    appointments = context.get("appointments")
    for r in [e.get("resource") for e in (appointments or {}).get("entry") or []]:
        if isinstance(r, dict) and r.get("resourceType") == "Appointment" and r.get("id"):
            return f"Appointment/{r['id']}"
    return None


def _link(template: str | None, state: ServiceState, request: Request, **values: str) -> str | None:
    """A card link: ``{public_url}`` is the service's public URL, else the URL it was
    called at (card links must be absolute)."""
    if not template:
        return None
    base = (state.public_url or str(request.base_url)).rstrip("/")
    return template.format(public_url=base, **values)


def _verified_lines(draft: Draft) -> list[tuple[str, list[str]]]:
    sentences = (draft.answer or {}).get("sentences") or []
    return [
        (s["text"], list(s.get("references") or []))
        for s in sentences
        if s.get("status") in ("verified", "extractive")
    ]


async def _model_brief(
    state: ServiceState, desk: WriteBack, draft_id: str, record: FetchedRecord
) -> None:
    """The background model brief: reads the call's snapshot, completes the draft."""
    try:
        async with snapshot_store(record) as snap, state.gate.slot():
            async with asyncio.timeout(state.deployment.service.limits.request_timeout_s):
                answer = await agent_brief(
                    record.patient_id,
                    source=snap,
                    model=state.model,
                    settings=state.settings,
                    terminology=state.terminology,
                )
        await draft_answer(
            desk,
            answer,
            deployment=state.deployment,
            model_name=state.model.name,
            draft_id=draft_id,
            versions=record.versions,
        )
    except asyncio.CancelledError:
        await asyncio.shield(desk.fail(draft_id, "the service stopped before the brief was done"))
        raise
    except Exception as exc:
        log.warning("background brief for draft %s failed: %s", draft_id, type(exc).__name__)
        await desk.fail(draft_id, f"{type(exc).__name__}: {exc}")


def _start(
    state: ServiceState, desk: WriteBack, draft_id: str, record: FetchedRecord
) -> asyncio.Task[None]:
    task = asyncio.create_task(_model_brief(state, desk, draft_id, record))
    state.background.add(task)
    task.add_done_callback(state.background.discard)
    return task


async def _start_later(
    state: ServiceState, desk: WriteBack, draft_id: str, record: FetchedRecord
) -> None:
    _start(state, desk, draft_id, record)


@router.post(
    "/cds-services/{service_id}",
    summary="Call a CDS service (patient-view, appointment-book)",
    responses=error_responses(400, 401, 404, 412, 500, 503),
)
async def call(service_id: ServiceId, request: Request) -> JSONResponse:
    started = time.monotonic()
    service = SERVICES.get(service_id)
    hook = service["hook"] if service else "unknown"
    rq = await _verified(request, f"cds.{hook}", "operation")
    if service is None:
        raise NotFound(f"No CDS service {service_id!r}; see GET /cds-services.")
    state = rq.state
    cfg = state.deployment.cds
    body = await _body(request)
    if body.get("hook") != hook:
        raise BadHookRequest(
            f"Service {service_id} answers the {hook} hook, not {body.get('hook')!r}."
        )
    context = body.get("context")
    patient_id = context.get("patientId") if isinstance(context, dict) else None
    if not isinstance(patient_id, str) or not patient_id:
        raise BadHookRequest("context.patientId is required.")
    assert isinstance(context, dict)
    rq.entry.patient_id = patient_id
    budget = cfg.time_budget_s
    try:
        async with asyncio.timeout(budget * 0.7):
            record = await fetch_record(
                patient_id,
                body.get("prefetch"),
                body.get("fhirServer"),
                body.get("fhirAuthorization"),
                timeout_s=min(cfg.fhir_timeout_s, budget),
            )
    except PrefetchMissing as exc:
        raise PreconditionFailed(str(exc)) from None
    except TimeoutError:
        log.warning("cds %s: the record was not read within the time budget", hook)
        await rq.done(None, status=200)
        return JSONResponse({"cards": []})
    for r in record.resources:
        t = str(r.get("resourceType"))
        rq.source.counts[t] = rq.source.counts.get(t, 0) + 1

    def analyse() -> tuple[Any, list[Any]]:
        view = view_of(record.resources)
        today = dt.datetime.now(dt.UTC).date()
        ev = build_evidence(view, as_of=today)
        trends = lab_trends(view, as_of=today)
        return (
            build_brief(view, as_of=today, evidence=ev, trends=trends),
            open_items(view, as_of=today, evidence=ev, trends=trends),
        )

    fetched = time.monotonic()
    brief, items = await asyncio.to_thread(analyse)
    log.info(
        "cds %s: %d resources read in %.2f s (prefetch: %d keys), analysed in %.2f s",
        hook,
        len(record.resources),
        fetched - started,
        len(record.from_prefetch),
        time.monotonic() - fetched,
    )
    desk = state.writeback
    assert desk is not None
    appointment = _appointment_of(context) if hook == "appointment-book" else None
    versions = record.versions
    use_model = cfg.model_brief and state.model_loaded and not state.model_error
    model_lines: list[tuple[str, list[str]]] | None = None
    pending = False
    background: BackgroundTask | None = None
    if use_model:
        draft = await desk.create_draft(
            patient_id=patient_id,
            markdown="",
            model=model_agent(state.deployment, state.model.name),
            status="pending",
            created_by=rq.entry.who,
            appointment=appointment,
        )
        wait = cfg.model_wait_s
        if wait is None:
            wait = budget if state.deployment.model.backend == "openai" else 0.0
        wait = min(wait, budget - (time.monotonic() - started) - 0.2)
        if wait > 0:
            task = _start(state, desk, draft.id, record)
            await asyncio.wait({task}, timeout=wait)
            draft = await desk.get(draft.id)
        else:  # started once the card is sent: the agent's steps must not delay it
            background = BackgroundTask(_start_later, state, desk, draft.id, record)
        pending = draft.status == "pending"
        if draft.status == "draft":
            model_lines = _verified_lines(draft)
    else:
        draft = await desk.create_draft(
            patient_id=patient_id,
            markdown=brief.markdown,
            citations=[CitedSource(reference=c, version=versions.get(c)) for c in brief.citations],
            model=model_agent(state.deployment, extractive=True),
            extractive=True,
            created_by=rq.entry.who,
            appointment=appointment,
            resolve_versions=False,
        )
    link = _link(cfg.brief_url, state, request, draft_id=draft.id, patient_id=patient_id)
    intake = None
    if hook == "appointment-book":
        appointment_id = (appointment or "/").split("/")[1]
        intake = _link(
            cfg.intake_url, state, request, patient_id=patient_id, appointment_id=appointment_id
        )
    card = build_card(
        items=items,
        brief=brief,
        model_lines=model_lines,
        brief_link=link,
        model_pending=pending,
        intake_link=intake,
        source_label=_SOURCE_LABEL,
    )
    cited = [r for i in items for r in i.references] + brief.citations
    await rq.done(None, cited=cited)
    return JSONResponse({"cards": [card]}, background=background)


@router.post(
    "/cds-services/{service_id}/feedback",
    summary="Feedback on a card: accepted or overridden (with reasons); stored",
    responses=error_responses(400, 401, 404, 500),
)
async def feedback(service_id: ServiceId, request: Request) -> JSONResponse:
    rq = await _verified(request, "cds.feedback", "create")
    if service_id not in SERVICES:
        raise NotFound(f"No CDS service {service_id!r}; see GET /cds-services.")
    body = await _body(request)
    items = body.get("feedback")
    if not isinstance(items, list) or not items:
        raise BadHookRequest("`feedback` must be a non-empty list.")
    rows = []
    now = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    for n, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("card"), str):
            raise BadHookRequest(f"feedback[{n}] needs a `card` (the card's uuid).")
        outcome = item.get("outcome")
        if outcome not in ("accepted", "overridden"):
            raise BadHookRequest(f"feedback[{n}].outcome must be accepted or overridden.")
        rows.append(
            {
                "received": now,
                "service": service_id,
                "card": item["card"],
                "outcome": outcome,
                "outcome_timestamp": item.get("outcomeTimestamp"),
                "client": rq.entry.who_system,
                "user": rq.entry.who,
                "body": orjson.dumps(item).decode(),
            }
        )
    await runtime_of(request).store.add_feedback(rows)
    await rq.done(None)
    return JSONResponse({})


@router.get(
    "/v1/cds/feedback",
    summary="Export the CDS cards' feedback (accepted / overridden with reasons)",
    responses=error_responses(401, 403, 500),
)
async def export_feedback(
    request: Request,
    rq: Annotated[
        RequestContext,
        Depends(
            access(
                "cds.feedback.read",
                ("AuditEvent",),
                interaction="search-type",
                patient_param=None,
                unbound_only=True,
            )
        ),
    ],
    since: Annotated[str | None, Query(description="received at or after (ISO instant)")] = None,
) -> dict[str, Any]:
    rows = await runtime_of(request).store.feedback(since)
    for row in rows:
        row["feedback"] = orjson.loads(row.pop("body"))
    return await rq.done({"feedback": rows, "count": len(rows)})

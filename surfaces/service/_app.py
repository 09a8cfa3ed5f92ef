"""The FastAPI application: :func:`create_app` wires the routes, errors, auth and lifespan.

::

    app = create_app(load_deployment("configs/cpu-demo.toml"))          # what `serve` runs
    app = create_app(deployment, model=ScriptedChatModel([...]))        # tests: a scripted model

Later surfaces (CDS Hooks, draft/approve write-back, intake, the web UI) add their routers
to the same app with :func:`include` and reuse its state, auth, audit and errors.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
import traceback
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agent.config import DeploymentConfig
from agent.context import AgentSettings
from agent.models import ChatModel
from tools.errors import AssistantError
from tools.source import RecordSource

from . import (
    _routes_agent,
    _routes_drafts,
    _routes_intake,
    _routes_ops,
    _routes_records,
    _routes_threads,
)
from ._errors import (
    AuthenticationRequired,
    OperationOutcome,
    ServiceBusy,
    hint_of,
    outcome,
    status_of,
)
from ._state import open_state

__all__ = ["API_VERSION", "create_app", "include"]

log = logging.getLogger("surfaces.service")

API_VERSION = "1.0.0"
FHIR_JSON = "application/fhir+json"
_OUTCOME_REF = "#/components/schemas/OperationOutcome"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._\-]{1,64}$")
_HTTP_CODES = {
    400: "structure",
    404: "not-found",
    405: "not-supported",
    413: "too-long",
    415: "not-supported",
    406: "not-supported",
}


class _Envelope:
    """Pure ASGI middleware: request id, body-size limit, a PHI-free access log line."""

    def __init__(
        self, app: ASGIApp, max_body: int, prefix_limits: dict[str, int] | None = None
    ) -> None:
        self.app = app
        self.max_body = max_body
        self.prefix_limits = prefix_limits or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode().lower(): v.decode(errors="replace") for k, v in scope["headers"]}
        given = headers.get("x-request-id", "")
        request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        state["started"] = started = time.perf_counter()
        status = {"code": 0}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        path = str(scope.get("path", ""))
        limit = next(
            (n for prefix, n in self.prefix_limits.items() if path.startswith(prefix)),
            self.max_body,
        )
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > limit:
            await _send_json(
                send_with_id,
                413,
                outcome(
                    "too-long",
                    f"The request body has {length} bytes; the limit is {limit} "
                    "([service.limits] max_body_bytes; [cds] max_body_bytes for CDS Hooks).",
                ),
            )
            _access(scope, 413, started, request_id)
            return
        seen = {"bytes": 0}

        async def limited_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                seen["bytes"] += len(message.get("body", b""))
                if seen["bytes"] > limit:
                    raise StarletteHTTPException(413, f"The request body exceeds {limit} bytes.")
            return message

        try:
            await self.app(scope, limited_receive, send_with_id)
        finally:
            _access(scope, status["code"], started, request_id)


def _access(scope: Scope, status: int, started: float, request_id: str) -> None:
    route = scope.get("route")
    path = getattr(route, "path", None) or "(unmatched)"
    log.info(
        "%s %s %s %.0fms rid=%s",
        scope.get("method"),
        path,
        status or "-",
        (time.perf_counter() - started) * 1000,
        request_id,
    )


async def _send_json(send: Send, status: int, body: dict[str, Any]) -> None:
    import orjson

    data = orjson.dumps(body)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/fhir+json"),
                (b"content-length", str(len(data)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})


async def _respond(
    request: Request,
    status: int,
    body: dict[str, Any],
    error: str,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """Commit the request's audit entry (if it opened one), then the OperationOutcome."""
    rq = getattr(request.state, "rq", None)
    if rq is not None and not rq.committed:
        try:
            await rq.commit(status, error)
        except AssistantError as exc:  # the audit write failed: the request fails with it
            status, code = status_of(exc)
            body = outcome(code, str(exc))
            headers = None
    return JSONResponse(body, status_code=status, headers=headers, media_type=FHIR_JSON)


def _install_handlers(app: FastAPI) -> None:
    @app.exception_handler(AssistantError)
    async def assistant_error(request: Request, exc: AssistantError) -> JSONResponse:
        status, code = status_of(exc)
        headers: dict[str, str] = {}
        if isinstance(exc, AuthenticationRequired):
            given = "authorization" in request.headers or "x-api-key" in request.headers
            headers["WWW-Authenticate"] = (
                'Bearer error="invalid_token"' if given else 'Bearer realm="fhir-assistant"'
            )
        if isinstance(exc, ServiceBusy):
            headers["Retry-After"] = str(exc.retry_after)
        elif status == 503:
            headers["Retry-After"] = "30"
        if status >= 500:
            log.warning(
                "request %s failed: %s (%s)", request.state.request_id, type(exc).__name__, status
            )
        return await _respond(
            request, status, outcome(code, f"{exc}{hint_of(exc)}"), type(exc).__name__, headers
        )

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        malformed = any(
            e.get("type") == "json_invalid"
            or (tuple(e.get("loc", ())) == ("body",) and e.get("type", "").endswith("_type"))
            for e in errors
        )
        issues = []
        for e in errors[:20]:
            where = ".".join(str(p) for p in e.get("loc", ()))
            issues.append(
                {
                    "severity": "error",
                    "code": "structure" if malformed else _issue_code(e.get("type", "")),
                    "diagnostics": f"{where}: {e.get('msg', 'invalid')}",
                    "expression": [where] if where else None,
                }
            )
        for issue in issues:
            if issue["expression"] is None:
                del issue["expression"]
        body = {"resourceType": "OperationOutcome", "issue": issues}
        status = 400 if malformed else 422
        return await _respond(request, status, body, "RequestValidationError")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "processing")
        detail = exc.detail if isinstance(exc.detail, str) else "request failed"
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"No such endpoint: {request.method} {request.url.path}. See /docs."
        return await _respond(
            request,
            exc.status_code,
            outcome(code, detail),  # type: ignore[arg-type]
            "HTTPException",
            dict(exc.headers or {}),
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        rid = getattr(request.state, "request_id", "?")
        frames = "".join(traceback.format_tb(exc.__traceback__))
        log.error("request %s: unexpected %s\n%s", rid, type(exc).__name__, frames.rstrip())
        return await _respond(
            request,
            500,
            outcome("exception", f"Internal error; the request id is {rid} (see the service log)."),
            type(exc).__name__,
        )


def _issue_code(kind: str) -> str:
    if kind == "missing":
        return "required"
    if kind.startswith(("string_too_long", "too_long")):
        return "too-long"
    if kind in ("extra_forbidden",):
        return "structure"
    return "invalid" if kind.endswith("_type") else "value"


def _openapi(app: FastAPI, public_url: str | None) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
        servers=[{"url": public_url}] if public_url else None,
    )
    comps = schema.setdefault("components", {})
    comps.setdefault("securitySchemes", {}).update(
        {
            "bearer": {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "JWT",
                "description": "OAuth 2.0 access token (JWT) from the configured issuer, with "
                "SMART v2 scopes (`patient/*.rs`, `user/*.rs`, `system/*.rs`)",
            },
            "apiKey": {
                "type": "apiKey",
                "in": "header",
                "name": "X-API-Key",
                "description": "a static API key (also accepted as a bearer token)",
            },
        }
    )
    comps.setdefault("schemas", {})["OperationOutcome"] = OperationOutcome.model_json_schema(
        ref_template="#/components/schemas/{model}"
    )
    for path, item in schema.get("paths", {}).items():
        if not path.startswith(("/v1/", "/cds-services")):
            continue
        for op in item.values():
            if path.startswith("/v1/"):  # CDS Hooks calls carry the EHR's own JWT instead
                op["security"] = [{"bearer": []}, {"apiKey": []}]
            for status, resp in op.get("responses", {}).items():
                if status.isdigit() and int(status) >= 400:
                    # errors are OperationOutcomes as application/fhir+json (FastAPI's default
                    # 422 body is not what this API sends)
                    resp["content"] = {FHIR_JSON: {"schema": {"$ref": _OUTCOME_REF}}}
    for name in ("HTTPValidationError", "ValidationError"):
        comps.get("schemas", {}).pop(name, None)
    app.openapi_schema = schema
    return schema


def include(app: FastAPI, router: APIRouter) -> None:
    """Add a router (a later surface: CDS Hooks, write-back, intake) to the service."""
    app.include_router(router)
    app.openapi_schema = None


def create_app(
    deployment: DeploymentConfig,
    *,
    model: ChatModel | None = None,
    source: RecordSource | None = None,
    insecure_no_auth: bool = False,
    public_url: str | None = None,
    settings: AgentSettings | None = None,
    jwks_transport: Any = None,
) -> FastAPI:
    """The HTTP service for one deployment (see the module docstring).

    Args:
        deployment: the deployment (model, source, ``[service]``).
        model, source: replace the deployment's (a scripted model in tests and benchmarks).
        insecure_no_auth: accept callers without credentials (``serve`` allows it on a
            loopback host only).
        public_url: the service's URL for the audit and OpenAPI (default: the config's).
        settings: the agent's budgets (default: ``AgentSettings`` with the request timeout).
        jwks_transport: an httpx transport for JWKS fetches (tests).
    """

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_state(
            deployment,
            model=model,
            source=source,
            insecure=insecure_no_auth,
            public_url=public_url,
            settings=settings,
            jwks_transport=jwks_transport,
        ) as state:
            app.state.service = state
            if insecure_no_auth:
                log.warning(
                    "AUTHENTICATION IS OFF (--insecure-no-auth): every local caller may read "
                    "every record; each audit entry is marked insecure"
                )
            elif not state.auth.configured:
                log.warning(
                    "no issuer and no API keys in [service.auth]: every /v1 request will be "
                    "refused (401); configure one, or run with --insecure-no-auth on loopback"
                )
            if state.hasher.ephemeral:
                log.info(
                    "$%s is not set: patient ids in logs are hashed with a per-process key",
                    deployment.service.audit.log_key_env,
                )
            yield

    app = FastAPI(
        title="FHIR record assistant",
        version=API_VERSION,
        description=(
            "Cited answers and briefs over a patient's FHIR R4 record, on premises. Every "
            "error is a FHIR OperationOutcome; every request that touches a record is "
            "audited (GET /v1/audit exports FHIR AuditEvents)."
        ),
        lifespan=lifespan,
    )
    for router in (
        _routes_ops.router,
        _routes_records.router,
        _routes_agent.router,
        _routes_threads.router,
        _routes_drafts.router,
        _routes_intake.router,
    ):
        app.include_router(router)
    if deployment.cds.enabled:
        from surfaces.cds import router as cds_router

        include(app, cds_router)
    _install_handlers(app)
    app.openapi = lambda: _openapi(app, public_url or deployment.service.public_url)  # type: ignore[method-assign]
    app.add_middleware(
        _Envelope,
        max_body=deployment.service.limits.max_body_bytes,
        prefix_limits={"/cds-services/": deployment.cds.max_body_bytes},
    )
    return app

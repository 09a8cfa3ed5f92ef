"""The HTTP service for integration engines (``fhir-assistant serve``).

FastAPI on uvicorn, one warm model per worker process, versioned endpoints under ``/v1``
(patients, summary, trends, briefs, ask with Server-Sent Events, threads, audit),
``/health`` and ``/ready``. Every error is a FHIR ``OperationOutcome``; callers
authenticate with OAuth 2.0 bearer JWTs (SMART scopes) or API keys; every request that
touches a record is audited before its response completes.

::

    from surfaces.service import create_app
    app = create_app(load_deployment("configs/cpu-demo.toml"))
    uvicorn.run(app, host="127.0.0.1", port=8080, access_log=False)

Modules: ``_app`` (factory, errors, middleware), ``_state`` (the warm resources),
``_auth`` / ``_apikeys`` (callers and scopes), ``_context`` (per-request access and audit),
``_gate`` (model queue), ``_agent`` (ask/brief runs, SSE), ``_threads`` (thread registry),
``_routes_*`` (endpoints), ``_errors`` (OperationOutcome, the service's exceptions),
``_logging`` (PHI-free logs), ``_serve`` (the uvicorn runner).
"""

from surfaces.service._apikeys import hash_api_key, mint_api_key, verify_api_key
from surfaces.service._app import API_VERSION, create_app, include
from surfaces.service._auth import Principal, Scope, parse_scopes
from surfaces.service._errors import (
    AuthenticationRequired,
    Forbidden,
    NotFound,
    NotReady,
    OperationOutcome,
    PayloadTooLarge,
    ServiceBusy,
    ServiceError,
)
from surfaces.service._gate import ModelGate

__all__ = [
    "API_VERSION",
    "AuthenticationRequired",
    "Forbidden",
    "ModelGate",
    "NotFound",
    "NotReady",
    "OperationOutcome",
    "PayloadTooLarge",
    "Principal",
    "Scope",
    "ServiceBusy",
    "ServiceError",
    "create_app",
    "hash_api_key",
    "include",
    "mint_api_key",
    "parse_scopes",
    "verify_api_key",
]

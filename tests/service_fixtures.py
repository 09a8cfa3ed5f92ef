"""Helpers for the HTTP service tests: a deployment over the fixture store, the app with
its lifespan under an httpx client (in-process ASGI) or a real uvicorn server (a thread of
this process), an OAuth issuer that signs real JWTs with its own keys (JWKS as a file or
served over loopback HTTP), and API keys.

The model is scripted at the model boundary only (``ScriptedChatModel`` from
``tests.agent_fixtures``, a FAKE named as such); the store, the agent, the verifier, the
audit and the checkpointer are real.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi import FastAPI

from agent.config import DeploymentConfig, parse_deployment
from surfaces.service import mint_api_key
from tests.agent_fixtures import ScriptedChatModel, answer

THREADS_KEY = "MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDE="  # base64 of 32 test bytes
ISSUER = "https://idp.test.invalid/realms/hospital"
AUDIENCE = "https://assistant.test.invalid"


def deployment(
    store: Path | str,
    tmp: Path,
    *,
    service: dict[str, Any] | None = None,
    model: dict[str, Any] | None = None,
    source: dict[str, Any] | None = None,
) -> DeploymentConfig:
    """A deployment over ``store`` (a scripted model is injected at create_app)."""
    data: dict[str, Any] = {
        "name": "test-service",
        "model": model
        or {"backend": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "scripted"},
        "source": source or {"kind": "store", "url": str(store)},
        "service": {
            "threads": str(tmp / "threads.db"),
            "database": str(tmp / "service.db"),
            **(service or {}),
        },
    }
    return parse_deployment(data, base_dir=tmp)


def answering(text: str = "The record of this patient was loaded.", cite: str = "E1") -> Any:
    """A plan step answering at once with one sentence citing ``cite``."""
    return answer((text, [cite]))


def scripted(steps: Sequence[Any] | None = None, *, repeat: bool = True) -> ScriptedChatModel:
    """A FAKE chat model (scripted plan/compose outputs)."""
    return ScriptedChatModel(list(steps or [answering()]), repeat=repeat)


@contextlib.asynccontextmanager
async def service_client(
    app: FastAPI, *, headers: dict[str, str] | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan running, behind an in-process httpx client."""
    async with app.router.lifespan_context(app):
        state = app.state.service
        if state.load_task is not None:
            await state.load_task
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://assistant.test",
            headers=headers or {},
            timeout=60,
        ) as client:
            yield client


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def uvicorn_thread(app: FastAPI) -> Iterator[str]:
    """A real uvicorn server for ``app`` in a thread of this process; yields its base URL."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.05)
    else:
        server.should_exit = True
        raise RuntimeError("uvicorn did not start")
    try:
        yield base
    finally:
        server.should_exit = True
        thread.join(15)


# --------------------------------------------------------------------------- OAuth issuer


@dataclass
class Issuer:
    """A test OAuth issuer: RSA and EC signing keys, a JWKS, tokens on demand."""

    issuer: str = ISSUER
    audience: str = AUDIENCE
    rsa_key: Any = field(default_factory=lambda: rsa.generate_private_key(65537, 2048))
    ec_key: Any = field(default_factory=lambda: ec.generate_private_key(ec.SECP384R1()))
    kids: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.kids = {"rsa-1": self.rsa_key, "ec-1": self.ec_key}

    def rotate(self) -> str:
        """Add a new RSA key (a new ``kid``) to the JWKS; return its kid."""
        kid = f"rsa-{len(self.kids) + 1}"
        self.kids[kid] = rsa.generate_private_key(65537, 2048)
        return kid

    def jwks(self) -> dict[str, Any]:
        keys = []
        for kid, key in self.kids.items():
            algo = (
                jwt.algorithms.RSAAlgorithm if kid.startswith("rsa") else jwt.algorithms.ECAlgorithm
            )
            jwk = json.loads(algo.to_jwk(key.public_key()))
            jwk.update(
                {"kid": kid, "use": "sig", "alg": "RS256" if kid.startswith("rsa") else "ES384"}
            )
            keys.append(jwk)
        return {"keys": keys}

    def token(
        self,
        *,
        sub: str = "dr-alice",
        scope: str = "user/*.rs",
        patient: str | None = None,
        kid: str = "rsa-1",
        alg: str | None = None,
        expires_in: int = 300,
        **claims: Any,
    ) -> str:
        now = int(time.time())
        body: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": sub,
            "azp": "ehr-app",
            "scope": scope,
            "iat": now,
            "exp": now + expires_in,
            "jti": uuid.uuid4().hex,
        }
        if patient:
            body["patient"] = patient
        body.update(claims)
        alg = alg or ("RS256" if kid.startswith("rsa") else "ES384")
        return jwt.encode(body, self.kids[kid], algorithm=alg, headers={"kid": kid})


@contextlib.contextmanager
def jwks_server(issuer: Issuer) -> Iterator[tuple[str, list[float]]]:
    """Serve ``issuer``'s JWKS on loopback (a real HTTP server); yields its URL and the
    times it was fetched."""
    fetches: list[float] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            fetches.append(time.monotonic())
            body = json.dumps(issuer.jwks()).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/jwks.json", fetches
    finally:
        server.shutdown()
        server.server_close()


def api_key(
    name: str = "lab-engine", scopes: Sequence[str] = ("system/*.rs",), patient: str | None = None
) -> tuple[str, dict[str, Any]]:
    """A minted key and its config entry as a dict (for ``service.auth.api_keys``)."""
    import tomllib

    key, entry = mint_api_key(name, scopes=scopes, patient=patient)
    table = tomllib.loads(entry)["service"]["auth"]["api_keys"][0]
    return key, table


@pytest.fixture(autouse=True)
def threads_key_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FHIR_ASSISTANT_THREADS_KEY", THREADS_KEY)


def sse_events(text: str) -> list[tuple[str, Any]]:
    """Parse an SSE body into ``(event, data)`` pairs (comments and pings skipped)."""
    out: list[tuple[str, Any]] = []
    event, data = "message", []
    for line in text.splitlines():
        if not line:
            if data:
                out.append((event, json.loads("\n".join(data))))
            event, data = "message", []
        elif line.startswith(":"):
            continue
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())
    if data:
        out.append((event, json.loads("\n".join(data))))
    return out


async def wait_for(predicate: Any, limit_s: float = 10.0) -> None:
    deadline = time.monotonic() + limit_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)

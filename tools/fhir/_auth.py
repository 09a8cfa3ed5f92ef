"""Authentication for the FHIR client, as ``httpx.Auth`` flows.

* :class:`BearerTokenAuth`: a static bearer token.
* :class:`SmartBackendServicesAuth`: SMART Backend Services (client-credentials grant with
  a signed JWT assertion, RS384 or ES384). The token endpoint is discovered from
  ``{base}/.well-known/smart-configuration`` unless configured; the access token is
  cached, refreshed ``refresh_margin_s`` before it expires, and refreshed once more when
  the server answers 401. Concurrent requests share one token request (an
  ``asyncio.Lock``). Discovery and token requests go through the same HTTP client (and
  transport) as the FHIR requests.

Neither the token nor the assertion is ever logged.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncGenerator, Callable, Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tools.config import BearerAuth, FhirServerConfig, SmartBackendAuth
from tools.errors import ConfigError, TokenError

__all__ = [
    "ASSERTION_TYPE",
    "BearerTokenAuth",
    "SigningKey",
    "SmartBackendServicesAuth",
    "build_auth",
    "load_signing_key",
]

log = logging.getLogger("tools.fhir")

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_LIFETIME_S = 240  # SMART: exp no more than 5 minutes ahead; keep a margin for clock skew
DEFAULT_TOKEN_LIFETIME_S = 300  # when the token response has no expires_in

SigningKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


class BearerTokenAuth(httpx.Auth):
    """Send a static ``Authorization: Bearer <token>`` header."""

    def __init__(self, token: str) -> None:
        self._header = f"Bearer {token}"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = self._header
        yield request


def load_signing_key(path: Path, algorithm: str) -> SigningKey:
    """Load a PEM private key and check that it fits ``algorithm`` (RS384 or ES384).

    Raises ConfigError with what to fix when the file is missing, unreadable,
    encrypted, or the wrong kind of key.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"Cannot read the SMART private key {path} ({exc.strerror or exc}). "
            "Check `auth.private_key_path` in the config."
        ) from exc
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            f"{path} is not an unencrypted PEM private key ({exc}). "
            "Export the key as PEM without a passphrase (PKCS#8 or traditional)."
        ) from exc
    return check_signing_key(key, algorithm, str(path))


def check_signing_key(key: Any, algorithm: str, where: str = "the private key") -> SigningKey:
    """Return ``key`` if it can sign ``algorithm``; raise ConfigError otherwise."""
    if algorithm == "RS384":
        if isinstance(key, rsa.RSAPrivateKey):
            return key
        raise ConfigError(
            f"{where} is not an RSA private key, but `auth.algorithm` is RS384. "
            'Use an RSA key (2048 bits or more) or set `auth.algorithm = "ES384"` for an EC P-384 key.'
        )
    if algorithm == "ES384":
        if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP384R1):
            return key
        raise ConfigError(
            f"{where} is not an EC P-384 private key, but `auth.algorithm` is ES384. "
            'Use a P-384 (secp384r1) key or set `auth.algorithm = "RS384"` for an RSA key.'
        )
    raise ConfigError(f"Unsupported SMART signing algorithm {algorithm!r}; use RS384 or ES384.")


@dataclass(frozen=True, slots=True)
class _Token:
    value: str
    refresh_at: float  # clock time after which the token is refreshed before use


class SmartBackendServicesAuth(httpx.Auth):
    """SMART Backend Services client-credentials flow with token caching.

    Args:
        config: the ``smart-backend`` auth section.
        base_url: the FHIR base URL (for discovery of the token endpoint).
        clock: seconds since the epoch, for token expiry; injectable so tests can move
            time forward.
        private_key: a key object to use instead of reading ``config.private_key_path``.
    """

    def __init__(
        self,
        config: SmartBackendAuth,
        base_url: str,
        *,
        clock: Callable[[], float] = time.time,
        private_key: Any = None,
    ) -> None:
        self._config = config
        self._base_url = base_url.rstrip("/")
        self._clock = clock
        self._key: SigningKey = (
            check_signing_key(private_key, config.algorithm)
            if private_key is not None
            else load_signing_key(config.private_key_path, config.algorithm)
        )
        self._token_url: str | None = config.token_url
        self._token: _Token | None = None
        self._lock = asyncio.Lock()  # one token request at a time, shared by concurrent requests
        self.token_requests = 0  # how many tokens were requested (for diagnostics and tests)

    # ------------------------------------------------------------------ flow

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        raise RuntimeError("SmartBackendServicesAuth works with httpx.AsyncClient only")
        yield request  # pragma: no cover  (makes this a generator)

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        used: str | None = None
        for attempt in range(2):  # the second pass is the one refresh after a 401
            async with self._lock:
                if attempt == 1 and self._token is not None and self._token.value == used:
                    self._token = None  # the server rejected it: drop it (unless already replaced)
                token = self._valid_token()
                if token is None:
                    if self._token_url is None:
                        answer = yield self._discovery_request(request)
                        await answer.aread()
                        self._token_url = self._read_discovery(answer)
                    answer = yield self._token_request(request, self._token_url)
                    await answer.aread()
                    token = self._read_token(answer)
            used = token
            request.headers["Authorization"] = f"Bearer {token}"
            response = yield request
            if response.status_code != 401:
                return
            log.debug("FHIR server answered 401 to a SMART token; refreshing it once")

    # ------------------------------------------------------------------ token cache

    def _valid_token(self) -> str | None:
        if self._token is not None and self._clock() < self._token.refresh_at:
            return self._token.value
        return None

    def invalidate(self) -> None:
        """Forget the cached token (the next request fetches a new one)."""
        self._token = None

    # ------------------------------------------------------------------ requests

    @staticmethod
    def _extensions(request: httpx.Request) -> dict[str, Any]:
        timeout = request.extensions.get("timeout")
        return {"timeout": timeout} if timeout is not None else {}

    def _discovery_url(self) -> str:
        return f"{self._base_url}/.well-known/smart-configuration"

    def _discovery_request(self, request: httpx.Request) -> httpx.Request:
        return httpx.Request(
            "GET",
            self._discovery_url(),
            headers={"Accept": "application/json"},
            extensions=self._extensions(request),
        )

    def assertion(self, token_url: str) -> str:
        """A freshly signed client assertion JWT for ``token_url``.

        Dated by the real wall clock (the server checks it against its own), not by the
        injectable ``clock``, which only schedules token refreshes.
        """
        now = int(time.time())
        claims = {
            "iss": self._config.client_id,
            "sub": self._config.client_id,
            "aud": token_url,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME_S,
            "jti": uuid.uuid4().hex,
        }
        headers = {"kid": self._config.key_id, "typ": "JWT"}
        return jwt.encode(claims, self._key, algorithm=self._config.algorithm, headers=headers)

    def _token_request(self, request: httpx.Request, token_url: str) -> httpx.Request:
        self.token_requests += 1
        form = {
            "grant_type": "client_credentials",
            "scope": self._config.scope,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": self.assertion(token_url),
        }
        return httpx.Request(
            "POST",
            token_url,
            data=form,
            headers={"Accept": "application/json"},
            extensions=self._extensions(request),
        )

    # ------------------------------------------------------------------ answers

    def _read_discovery(self, response: httpx.Response) -> str:
        url = self._discovery_url()
        fix = "Set `auth.token_url` in the config to the server's token endpoint."
        if response.status_code != 200:
            raise TokenError(
                f"SMART discovery failed: GET {url} returned HTTP {response.status_code}. {fix}"
            )
        try:
            doc = orjson.loads(response.content)
        except orjson.JSONDecodeError as exc:
            raise TokenError(
                f"SMART discovery failed: {url} did not return JSON ({exc}). {fix}"
            ) from exc
        endpoint = doc.get("token_endpoint") if isinstance(doc, dict) else None
        if not isinstance(endpoint, str) or not endpoint.startswith(("http://", "https://")):
            raise TokenError(f"SMART discovery failed: {url} has no usable `token_endpoint`. {fix}")
        return endpoint

    def _read_token(self, response: httpx.Response) -> str:
        url = self._token_url
        cfg = self._config
        try:
            doc: Any = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            doc = None
        if response.status_code != 200:
            detail = ""
            if isinstance(doc, dict) and doc.get("error"):
                detail = f" {doc['error']}"
                if doc.get("error_description"):
                    detail += f": {doc['error_description']}"
            elif response.text.strip():
                detail = f" {response.text.strip()[:200]}"
            raise TokenError(
                f"SMART token request to {url} was refused (HTTP {response.status_code}{detail}). "
                f"Check `auth.client_id` ({cfg.client_id}), `auth.key_id` ({cfg.key_id}), that the "
                f"matching public key is registered with the server, and the scope ({cfg.scope})."
            )
        if not isinstance(doc, dict) or not isinstance(doc.get("access_token"), str):
            raise TokenError(
                f"SMART token endpoint {url} answered 200 without an `access_token` "
                "(not an OAuth 2.0 token response). Check `auth.token_url`."
            )
        token_type = doc.get("token_type")
        if isinstance(token_type, str) and token_type.lower() != "bearer":
            raise TokenError(
                f"SMART token endpoint {url} issued a {token_type!r} token; only bearer tokens are supported."
            )
        lifetime = doc.get("expires_in")
        seconds = (
            float(lifetime)
            if isinstance(lifetime, int | float) and lifetime > 0
            else DEFAULT_TOKEN_LIFETIME_S
        )
        # Refresh `refresh_margin_s` early, but never sooner than half-way through the lifetime.
        margin = min(cfg.refresh_margin_s, seconds / 2)
        self._token = _Token(doc["access_token"], self._clock() + seconds - margin)
        return self._token.value


def build_auth(
    config: FhirServerConfig,
    *,
    clock: Callable[[], float] = time.time,
    private_key: Any = None,
) -> httpx.Auth | None:
    """The ``httpx.Auth`` for a server config (None for ``kind = "none"``)."""
    auth = config.auth
    if isinstance(auth, BearerAuth):
        return BearerTokenAuth(auth.token.get_secret_value())
    if isinstance(auth, SmartBackendAuth):
        return SmartBackendServicesAuth(auth, config.base_url, clock=clock, private_key=private_key)
    return None

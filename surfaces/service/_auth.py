"""Who is calling, and what they may read: bearer JWTs (issuer JWKS), API keys, SMART scopes.

* **JWT** (``Authorization: Bearer <jwt>``): the header's ``alg`` must be one of the
  configured asymmetric algorithms (``none`` and HMAC are refused before any key is
  looked at); the key is the issuer's JWKS entry for the header's ``kid`` (the JWKS is
  fetched with httpx and cached for ``jwks_cache_s``; an unknown ``kid`` refetches it, at
  most once per ``jwks_min_refresh_s``); PyJWT then checks the signature, ``iss``, ``aud``,
  ``exp`` and ``nbf`` (with ``leeway_s``). Claims used: ``sub`` (who), ``azp`` /
  ``client_id`` (the client app), ``scope`` (SMART), ``patient``, and the purpose claim.
* **API key** (``Authorization: Bearer fa_…`` or ``X-API-Key: fa_…``): see
  :mod:`surfaces.service._apikeys`.
* ``--insecure-no-auth`` (loopback only): every caller is "insecure-local" with all scopes.

**Scopes** (SMART App Launch v2, with v1 read for compatibility): ``patient/*.rs``,
``user/Observation.rs``, ``system/*.cruds``, ``patient/*.read``, ``user/*.*``. A ``patient/``
scope only counts with a patient in context (the token's ``patient`` claim); ``user/``
and ``system/`` scopes reach any patient the rest of the token allows. A token or key
with a ``patient`` reaches that patient only, whatever its scopes say.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx
import jwt
from fastapi import Request

from tools.config import ApiKey, ServiceAuth

from ._apikeys import KEY_PREFIX, ApiKeyVerifier
from ._errors import AuthenticationRequired, Forbidden

__all__ = ["Authenticator", "JwksCache", "Principal", "Scope", "parse_scopes"]

log = logging.getLogger("surfaces.service.auth")

Context = Literal["patient", "user", "system"]


@dataclass(frozen=True, slots=True)
class Scope:
    """One SMART scope: context, resource type (``*`` for all) and permission letters."""

    context: Context
    resource: str
    permissions: frozenset[str]

    def allows(self, resource: str, needed: str) -> bool:
        return self.resource in ("*", resource) and set(needed) <= self.permissions


def parse_scopes(text: str | Iterable[str]) -> list[Scope]:
    """SMART v2 (``patient/Observation.rs``) and v1 (``user/*.read``) scopes; others
    (``openid``, ``launch``, ``fhirUser``…) are ignored."""
    words = text.split() if isinstance(text, str) else list(text)
    out: list[Scope] = []
    for word in words:
        context, slash, rest = word.partition("/")
        if not slash or context not in ("patient", "user", "system") or "." not in rest:
            continue
        resource, _, perms = rest.partition(".")
        if not resource or not (resource == "*" or resource.isalpha()):
            continue
        perms = perms.split("?", 1)[0]  # v2 granular scopes: the query only narrows
        if perms == "read":
            letters = frozenset("rs")
        elif perms == "write":
            letters = frozenset("cud")
        elif perms == "*":
            letters = frozenset("cruds")
        elif perms and set(perms) <= set("cruds"):
            letters = frozenset(perms)
        else:
            continue
        out.append(Scope(context, resource, letters))  # type: ignore[arg-type]
    return out


@dataclass(frozen=True)
class Principal:
    """An authenticated caller.

    Attributes:
        who: ``sub`` of the token, ``api-key:<name>``, or ``insecure-local``.
        system: namespace of ``who`` (the issuer, ``api-key``, ``insecure``).
        client: client application id, when known.
        scopes: the granted SMART scopes.
        patient: the only patient this caller may reach, if restricted.
        purpose: purpose of use from the token, if it names one.
        kind: how the caller authenticated.
    """

    who: str
    system: str
    client: str | None
    scopes: tuple[Scope, ...]
    patient: str | None = None
    purpose: str | None = None
    kind: Literal["jwt", "api-key", "insecure"] = "jwt"
    raw_scopes: tuple[str, ...] = field(default=(), compare=False)

    def can(
        self, resources: Iterable[str], needed: str = "rs", patient_id: str | None = None
    ) -> list[str]:
        """The resource types among ``resources`` this caller may NOT access (empty: ok).

        ``patient/`` scopes count only when the caller is bound to a patient and that
        patient is the one asked for (or none is, e.g. a search)."""
        usable = [
            s
            for s in self.scopes
            if s.context != "patient"
            or (self.patient is not None and patient_id in (None, self.patient))
        ]
        return [r for r in resources if not any(s.allows(r, needed) for s in usable)]

    def require(
        self,
        resources: Iterable[str],
        needed: str = "rs",
        *,
        patient_id: str | None = None,
        what: str = "this",
    ) -> None:
        """Raise :class:`Forbidden` unless allowed to ``needed`` every type in ``resources``
        (for ``patient_id``, checked against the caller's patient restriction first)."""
        if patient_id is not None and self.patient is not None and patient_id != self.patient:
            raise Forbidden(
                f"This {self.kind} is bound to one patient and may not read Patient/{patient_id}. "
                "Use a token issued for that patient, or a user/system-level token."
            )
        missing = self.can(resources, needed, patient_id)
        if missing:
            shown = ", ".join(sorted(missing)[:8]) + (" …" if len(missing) > 8 else "")
            context = "patient" if self.patient else "user or system"
            raise Forbidden(
                f"The granted scopes do not allow {what}: missing read access ({needed}) to "
                f"{shown}. Ask the issuer for e.g. `{context}/*.rs` (SMART v2) or "
                f"`{context}/*.read` (v1)."
            )


class JwksCache:
    """The issuer's signing keys: from ``jwks_uri`` (cached, refreshed on an unknown
    ``kid`` at most every ``min_refresh_s``) or from a local file."""

    def __init__(
        self,
        *,
        uri: str | None = None,
        path: Path | None = None,
        ttl_s: float = 3600.0,
        min_refresh_s: float = 30.0,
        timeout_s: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not uri and not path:
            raise ValueError("a JWKS needs a uri or a file")
        self.uri = uri
        self.path = path
        self.ttl_s = ttl_s
        self.min_refresh_s = min_refresh_s
        self.timeout_s = timeout_s
        self._transport = transport
        self._keys: dict[str, jwt.PyJWK] = {}
        self._unnamed: list[jwt.PyJWK] = []
        self._fetched = 0.0
        self._lock = asyncio.Lock()
        self.fetches = 0

    @property
    def where(self) -> str:
        return self.uri or str(self.path)

    async def _load(self) -> None:
        self.fetches += 1
        try:
            if self.path is not None:
                data = json.loads(await asyncio.to_thread(self.path.read_text))
            else:
                assert self.uri is not None
                async with httpx.AsyncClient(
                    timeout=self.timeout_s, trust_env=False, transport=self._transport
                ) as client:
                    resp = await client.get(self.uri, headers={"Accept": "application/json"})
                    resp.raise_for_status()
                    data = resp.json()
            keyset = jwt.PyJWKSet.from_dict(data)
        except (OSError, ValueError, httpx.HTTPError, jwt.PyJWTError) as exc:
            self._fetched = time.monotonic()  # rate-limit retries of a failing issuer too
            raise AuthenticationRequired(
                f"The token issuer's keys could not be loaded from {self.where} ({exc}); "
                "the token cannot be verified. Check [service.auth] jwks_uri / jwks_file."
            ) from None
        keys: dict[str, jwt.PyJWK] = {}
        unnamed: list[jwt.PyJWK] = []
        for k in keyset.keys:
            if k.key_id:
                keys[k.key_id] = k
            else:
                unnamed.append(k)
        self._keys, self._unnamed = keys, unnamed
        self._fetched = time.monotonic()

    async def key(self, kid: str | None) -> jwt.PyJWK:
        """The key for ``kid`` (refetching the JWKS if it is unknown and allowed)."""
        async with self._lock:
            age = time.monotonic() - self._fetched
            if not self._fetched or age > self.ttl_s:
                await self._load()
            found = self._find(kid)
            if found is None and time.monotonic() - self._fetched >= self.min_refresh_s:
                await self._load()
                found = self._find(kid)
        if found is None:
            raise AuthenticationRequired(
                f"The token's signing key (kid {kid!r}) is not in the issuer's JWKS ({self.where})."
            )
        return found

    def _find(self, kid: str | None) -> jwt.PyJWK | None:
        if kid:
            return self._keys.get(kid)
        keys = [*self._keys.values(), *self._unnamed]
        return keys[0] if len(keys) == 1 else None


class Authenticator:
    """Turns a request's credentials into a :class:`Principal` (or raises 401)."""

    def __init__(
        self,
        config: ServiceAuth,
        *,
        insecure: bool = False,
        jwks_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.config = config
        self.insecure = insecure
        self.keys = ApiKeyVerifier(config.api_keys)
        self.jwks: JwksCache | None = None
        if config.jwt_enabled:
            self.jwks = JwksCache(
                uri=config.jwks_uri,
                path=config.jwks_file,
                ttl_s=config.jwks_cache_s,
                min_refresh_s=config.jwks_min_refresh_s,
                timeout_s=config.jwks_timeout_s,
                transport=jwks_transport,
            )

    @property
    def configured(self) -> bool:
        """Some way to authenticate is configured (JWT issuer or API keys)."""
        return self.jwks is not None or bool(self.config.api_keys)

    async def authenticate(self, request: Request) -> Principal:
        """The caller of ``request``; raises :class:`AuthenticationRequired`."""
        credential = _credential(request.headers)
        if credential is None:
            if self.insecure:
                return _INSECURE
            raise AuthenticationRequired(
                "No credentials: send `Authorization: Bearer <token>` (an OAuth 2.0 access "
                "token from the configured issuer) or an API key (`Authorization: Bearer "
                "fa_…` or `X-API-Key`)."
            )
        if credential.startswith(KEY_PREFIX) or credential.count(".") != 2:
            return self._api_key(credential)
        return await self._jwt(credential)

    def _api_key(self, presented: str) -> Principal:
        key = self.keys.match(presented) if self.config.api_keys else None
        if key is None:
            raise AuthenticationRequired("The API key is not valid for this service.")
        return _key_principal(key)

    async def _jwt(self, token: str) -> Principal:
        if self.jwks is None:
            raise AuthenticationRequired(
                "Bearer JWTs are not accepted by this service (no issuer configured in "
                "[service.auth]); use an API key."
            )
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise AuthenticationRequired(
                f"The bearer token is not a readable JWT ({exc})."
            ) from None
        alg = header.get("alg")
        if alg not in self.config.algorithms:
            raise AuthenticationRequired(
                f"The token is signed with {alg!r}; this service accepts only "
                f"{', '.join(self.config.algorithms)} (never `none` or HMAC)."
            )
        key = await self.jwks.key(header.get("kid"))
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key.key,
                algorithms=[alg],
                audience=self.config.audience,
                issuer=self.config.issuer,
                leeway=self.config.leeway_s,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise AuthenticationRequired("The bearer token has expired.") from None
        except jwt.ImmatureSignatureError:
            raise AuthenticationRequired("The bearer token is not valid yet (nbf/iat).") from None
        except jwt.InvalidAudienceError:
            raise AuthenticationRequired(
                f"The bearer token is not for this service (aud must be {self.config.audience!r})."
            ) from None
        except jwt.InvalidIssuerError:
            raise AuthenticationRequired(
                f"The bearer token was issued by another issuer (iss must be "
                f"{self.config.issuer!r})."
            ) from None
        except jwt.PyJWTError as exc:
            raise AuthenticationRequired(f"The bearer token is not valid: {exc}.") from None
        return _jwt_principal(claims, self.config)


def _credential(headers: Mapping[str, str]) -> str | None:
    auth = headers.get("authorization")
    if auth:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise AuthenticationRequired(
                "Unsupported Authorization header: use `Authorization: Bearer <token>`."
            )
        return value.strip()
    key = headers.get("x-api-key")
    return key.strip() if key else None


_ALL = (Scope("system", "*", frozenset("cruds")),)
_INSECURE = Principal("insecure-local", "insecure", None, _ALL, kind="insecure")


def _key_principal(key: ApiKey) -> Principal:
    return Principal(
        who=f"api-key:{key.name}",
        system="api-key",
        client=key.client_id or key.name,
        scopes=tuple(parse_scopes(key.scopes)),
        patient=key.patient,
        kind="api-key",
        raw_scopes=tuple(key.scopes),
    )


def _jwt_principal(claims: dict[str, Any], config: ServiceAuth) -> Principal:
    scope = claims.get("scope") or claims.get("scp") or ""
    if isinstance(scope, list):
        scope = " ".join(str(s) for s in scope)
    client = claims.get("azp") or claims.get("client_id")
    who = claims.get("sub") or client or "unknown"
    patient = claims.get("patient")
    purpose = claims.get(config.purpose_claim)
    if isinstance(purpose, list):
        purpose = purpose[0] if purpose else None
    return Principal(
        who=str(who),
        system=str(claims.get("iss", "")),
        client=str(client) if client else None,
        scopes=tuple(parse_scopes(str(scope))),
        patient=str(patient) if patient else None,
        purpose=str(purpose) if purpose else None,
        kind="jwt",
        raw_scopes=tuple(str(scope).split()),
    )

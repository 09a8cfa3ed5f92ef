"""The CDS client's JWT (CDS Hooks 2.0 "Trusting CDS Clients") and the replay cache.

A call must carry ``Authorization: Bearer <JWT>`` signed with an asymmetric algorithm
from ``[cds] algorithms``; its ``iss`` must be a configured client; the key comes from
that client's JWKS, at the header's ``jku`` only when it is in the client's allowlist
(``jwks_urls``; otherwise the first of them); PyJWT checks the signature, ``aud`` (the
exact service URL), ``exp`` and ``iat`` (with ``leeway_s``); an ``iat`` older than
``max_token_age_s`` is refused; a ``jti`` seen before (by any worker: the cache is a
table in the service database) is a replay. Anything wrong → 401, before anything is read.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, cast

import httpx
import jwt
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlmodel import Field, SQLModel

from surfaces.service import AuthenticationRequired
from surfaces.service._auth import JwksCache
from tools.config import CdsClient, CdsConfig
from tools.errors import StoreError
from tools.store import create_engine, store_url, write_connection

__all__ = ["CdsCaller", "CdsStore", "CdsVerifier"]


class JtiRow(SQLModel, table=True):
    """A CDS client JWT already accepted (until it expires)."""

    __tablename__ = "cds_jti"

    issuer: str = Field(primary_key=True)
    jti: str = Field(primary_key=True)
    expires: float = Field(index=True)


class FeedbackRow(SQLModel, table=True):
    """One CDS Hooks feedback item: a card accepted or overridden (with reasons)."""

    __tablename__ = "cds_feedback"

    seq: int | None = Field(
        default=None,
        primary_key=True,
        sa_type=sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
    )
    received: str
    service: str
    card: str
    outcome: str
    outcome_timestamp: str | None = None
    client: str
    user: str | None = None
    body: str = Field(sa_type=sa.Text(), description="the feedback item as sent (JSON)")


JTI_TABLE: Final = cast(sa.Table, JtiRow.__table__)  # type: ignore[attr-defined]
FEEDBACK_TABLE: Final = cast(sa.Table, FeedbackRow.__table__)  # type: ignore[attr-defined]


class CdsStore:
    """The replay cache and the feedback, in the service database (shared by workers)."""

    def __init__(self, url: str | Path) -> None:
        parsed = make_url(store_url(url))
        self._label = parsed.render_as_string(hide_password=True)
        self._engine = create_engine(parsed)
        try:
            with write_connection(self._engine) as conn:
                JTI_TABLE.create(conn, checkfirst=True)
                FEEDBACK_TABLE.create(conn, checkfirst=True)
        except SQLAlchemyError as exc:
            raise StoreError(f"CDS tables in {self._label}: {exc}") from None

    def _remember(self, issuer: str, jti: str, expires: float) -> bool:
        now = time.time()
        with write_connection(self._engine) as conn:
            conn.execute(sa.delete(JTI_TABLE).where(JTI_TABLE.c.expires < now - 3600))
        try:
            with write_connection(self._engine) as conn:
                conn.execute(
                    sa.insert(JTI_TABLE), [{"issuer": issuer, "jti": jti, "expires": expires}]
                )
        except IntegrityError:
            return False
        return True

    async def remember(self, issuer: str, jti: str, expires: float) -> bool:
        """Record a token id; False when it was seen before (a replay)."""
        try:
            return await asyncio.to_thread(self._remember, issuer, jti, expires)
        except SQLAlchemyError as exc:
            raise StoreError(f"CDS replay cache in {self._label}: {exc}") from None

    def _add(self, rows: list[dict[str, Any]]) -> None:
        with write_connection(self._engine) as conn:
            conn.execute(sa.insert(FEEDBACK_TABLE), rows)

    async def add_feedback(self, rows: list[dict[str, Any]]) -> None:
        try:
            await asyncio.to_thread(self._add, rows)
        except SQLAlchemyError as exc:
            raise StoreError(f"CDS feedback in {self._label}: {exc}") from None

    def _feedback(self, since: str | None, limit: int) -> list[dict[str, Any]]:
        t = FEEDBACK_TABLE.c
        query = sa.select(FEEDBACK_TABLE).order_by(t.seq).limit(limit)
        if since:
            query = query.where(t.received >= since)
        with self._engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    async def feedback(self, since: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        return await asyncio.to_thread(self._feedback, since, limit)

    def close(self) -> None:
        self._engine.dispose()


@dataclass(frozen=True)
class CdsCaller:
    """A verified CDS client call."""

    issuer: str
    subject: str | None
    jti: str


class CdsVerifier:
    """Verifies CDS clients' JWTs (see the module docstring)."""

    def __init__(
        self,
        config: CdsConfig,
        audience: str | None,
        store: CdsStore,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.config = config
        self.audience = audience
        self.store = store
        self._transport = transport
        self._clients = {c.issuer: c for c in config.clients}
        self._keys: dict[str, JwksCache] = {}

    def _jwks(self, url: str) -> JwksCache:
        cache = self._keys.get(url)
        if cache is None:
            cache = self._keys[url] = JwksCache(uri=url, transport=self._transport)
        return cache

    async def verify(self, authorization: str | None) -> CdsCaller:
        if not self.audience:
            raise AuthenticationRequired(
                "CDS Hooks calls cannot be verified: set [cds] service_url (or [service] "
                "public_url) to the URL the EHR calls; it is the JWT's required `aud`."
            )
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthenticationRequired(
                "A CDS Hooks call needs `Authorization: Bearer <JWT>` signed by the EHR."
            )
        token = token.strip()
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise AuthenticationRequired(f"The CDS client's JWT is not readable ({exc}).") from None
        alg = header.get("alg")
        if alg not in self.config.algorithms:
            raise AuthenticationRequired(
                f"The CDS client's JWT is signed with {alg!r}; accepted: "
                f"{', '.join(self.config.algorithms)} (never none or HMAC)."
            )
        issuer = unverified.get("iss")
        client: CdsClient | None = self._clients.get(issuer) if isinstance(issuer, str) else None
        if client is None or not isinstance(issuer, str):
            raise AuthenticationRequired(
                f"The CDS client {issuer!r} is not registered ([[cds.clients]] issuer)."
            )
        jku = header.get("jku")
        if jku is not None and jku not in client.jwks_urls:
            raise AuthenticationRequired(
                f"The JWT's jku {jku!r} is not among the JWKS URLs allowed for {issuer} "
                "([[cds.clients]] jwks_urls); it is never fetched."
            )
        key = await self._jwks(jku or client.jwks_urls[0]).key(header.get("kid"))
        leeway = self.config.leeway_s
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key.key,
                algorithms=[alg],
                audience=self.audience,
                issuer=issuer,
                leeway=leeway,
                options={"require": ["iss", "aud", "exp", "iat", "jti"]},
            )
        except jwt.ExpiredSignatureError:
            raise AuthenticationRequired("The CDS client's JWT has expired.") from None
        except jwt.InvalidAudienceError:
            raise AuthenticationRequired(
                f"The CDS client's JWT is not for this service (aud must be {self.audience!r})."
            ) from None
        except jwt.ImmatureSignatureError:
            raise AuthenticationRequired("The CDS client's JWT is not valid yet (iat).") from None
        except jwt.PyJWTError as exc:
            raise AuthenticationRequired(f"The CDS client's JWT is not valid: {exc}.") from None
        now = time.time()
        if now - float(claims["iat"]) > self.config.max_token_age_s + leeway:
            raise AuthenticationRequired(
                f"The CDS client's JWT was issued more than {self.config.max_token_age_s:g} s "
                "ago ([cds] max_token_age_s); send a fresh one with each call."
            )
        jti = str(claims["jti"])
        if not await self.store.remember(issuer, jti, float(claims["exp"]) + leeway):
            raise AuthenticationRequired(
                "The CDS client's JWT was used before (its jti is replayed); each call needs "
                "a new token."
            )
        sub = claims.get("sub")
        return CdsCaller(issuer=issuer, subject=str(sub) if sub else None, jti=jti)

"""The audit trail's table and its reader/writer (SQLite or PostgreSQL, via sqlmodel).

The table (``service_audit``) lives in the same database as the record store unless the
deployment names another. :meth:`AuditLog.write` commits before it returns, and any
database failure raises :class:`~tools.errors.AuditWriteFailed`, so the caller can fail
the request it audits instead of answering without a trace.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final, cast

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
from sqlmodel import Field, SQLModel

from tools.errors import AuditWriteFailed, StoreError
from tools.store import create_engine, store_url, write_connection

from ._entry import AuditEntry

__all__ = ["AUDIT_TABLE", "AuditLog"]

_JSON_FIELDS: Final = ("patients_found", "resources", "resource_counts")


class AuditRow(SQLModel, table=True):
    """One audit entry as stored (list/dict fields as JSON text)."""

    __tablename__ = "service_audit"
    __table_args__ = (
        sa.Index("ix_service_audit_recorded", "recorded"),
        sa.Index("ix_service_audit_patient", "patient_id", "recorded"),
    )

    seq: int | None = Field(
        default=None,
        primary_key=True,
        sa_type=sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
    )
    id: str = Field(unique=True)
    recorded: str
    who: str
    who_system: str = ""
    client: str | None = None
    client_address: str | None = None
    patient_id: str | None = None
    patients_found: str = "[]"
    purpose: str
    action: str
    interaction: str
    method: str
    route: str
    query: str | None = None
    thread_id: str | None = None
    resources: str = "[]"
    resource_counts: str = "{}"
    deployment: str = ""
    config_hash: str = ""
    model: str | None = None
    status: int
    error: str | None = None
    duration_ms: float = 0.0
    request_id: str = ""
    insecure: bool = False


AUDIT_TABLE: Final = cast(sa.Table, AuditRow.__table__)  # type: ignore[attr-defined]


def _to_row(entry: AuditEntry) -> dict[str, Any]:
    data = entry.model_dump()
    for key in _JSON_FIELDS:
        data[key] = orjson.dumps(data[key]).decode()
    return data


def _from_row(row: sa.Row[Any]) -> AuditEntry:
    data = dict(row._mapping)
    data.pop("seq", None)
    for key in _JSON_FIELDS:
        data[key] = orjson.loads(data[key] or ("{}" if key == "resource_counts" else "[]"))
    return AuditEntry.model_validate(data)


class AuditLog:
    """The audit trail in a database: ``url`` is a SQLAlchemy URL or a SQLite file path.

    ::

        log = AuditLog("records.db")
        await log.awrite(AuditEntry(who="alice", action="patient.summary", patient_id="p1"))
        for entry in log.entries(since="2025-01-01T00:00:00Z"):
            ...
    """

    def __init__(self, url: str | Path) -> None:
        self.url = store_url(url)
        try:
            parsed = make_url(self.url)
            self._label = parsed.render_as_string(hide_password=True)
            self._engine = create_engine(parsed)
        except (ArgumentError, NoSuchModuleError, ImportError, ValueError) as exc:
            raise StoreError(f"Cannot open the audit database {url!r}: {exc}.") from None
        try:
            with write_connection(self._engine) as conn:
                AUDIT_TABLE.create(conn, checkfirst=True)
        except SQLAlchemyError as exc:
            raise StoreError(
                f"Cannot create the audit table in {self._label}: "
                f"{getattr(exc, 'orig', None) or exc}."
            ) from None

    @property
    def label(self) -> str:
        """The database URL, password hidden."""
        return self._label

    def write(self, entry: AuditEntry) -> None:
        """Insert and commit one entry.

        Raises:
            AuditWriteFailed: the database refused or is unreachable (nothing was written).
        """
        try:
            with write_connection(self._engine) as conn:
                conn.execute(sa.insert(AUDIT_TABLE), [_to_row(entry)])
        except SQLAlchemyError as exc:
            raise AuditWriteFailed(
                f"Cannot write the audit entry for request {entry.request_id or entry.id} to "
                f"{self._label}: {getattr(exc, 'orig', None) or exc}. The request was not "
                "completed; check that the database is reachable and writable."
            ) from None

    async def awrite(self, entry: AuditEntry) -> None:
        """:meth:`write` in a worker thread."""
        await asyncio.to_thread(self.write, entry)

    def entries(
        self,
        *,
        since: str | None = None,
        until: str | None = None,
        patient_id: str | None = None,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> list[AuditEntry]:
        """Entries recorded in ``[since, until)`` (ISO instants, UTC), optionally of one
        patient, oldest first (or newest first)."""
        t = AUDIT_TABLE.c
        query = sa.select(AUDIT_TABLE)
        if since:
            query = query.where(t.recorded >= since)
        if until:
            query = query.where(t.recorded < until)
        if patient_id:
            query = query.where(t.patient_id == patient_id)
        query = query.order_by(t.seq.desc() if newest_first else t.seq)
        if limit is not None:
            query = query.limit(limit)
        try:
            with self._engine.connect() as conn:
                rows: Sequence[sa.Row[Any]] = conn.execute(query).all()
        except SQLAlchemyError as exc:
            raise StoreError(
                f"Cannot read the audit trail in {self._label}: "
                f"{getattr(exc, 'orig', None) or exc}."
            ) from None
        return [_from_row(r) for r in rows]

    def count(self) -> int:
        """How many entries the trail holds."""
        with self._engine.connect() as conn:
            return int(conn.scalar(sa.select(sa.func.count()).select_from(AUDIT_TABLE)) or 0)

    def ping(self) -> None:
        """Check the database answers (raises ``StoreError``)."""
        try:
            with self._engine.connect() as conn:
                conn.execute(sa.select(sa.literal(1)))
        except SQLAlchemyError as exc:
            raise StoreError(
                f"The service database {self._label} does not answer: "
                f"{getattr(exc, 'orig', None) or exc}."
            ) from None

    def close(self) -> None:
        self._engine.dispose()

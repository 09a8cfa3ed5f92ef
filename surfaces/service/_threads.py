"""The thread registry: which conversation thread belongs to which patient and caller.

The conversation itself (every checkpoint, encrypted) lives in the checkpointer
(:func:`agent.threads.open_checkpointer`); this table only says who may see it, so the
service can list a patient's threads and refuse another caller's. It lives in the
service database (beside the audit trail), so every worker sees the same threads.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, cast

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlmodel import Field, SQLModel

from tools.errors import StoreError
from tools.store import create_engine, store_url, write_connection

__all__ = ["ThreadInfo", "ThreadRegistry"]


class ThreadRow(SQLModel, table=True):
    """One conversation thread."""

    __tablename__ = "service_thread"
    __table_args__ = (sa.Index("ix_service_thread_patient_owner", "patient_id", "owner"),)

    thread_id: str = Field(primary_key=True)
    patient_id: str
    owner: str = Field(description="the caller who started it (sub or api-key:name)")
    created: str
    last_used: str
    turns: int = 0


THREAD_TABLE: Final = cast(sa.Table, ThreadRow.__table__)  # type: ignore[attr-defined]


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class ThreadInfo:
    thread_id: str
    patient_id: str
    owner: str
    created: str
    last_used: str
    turns: int


class ThreadRegistry:
    """The ``service_thread`` table in the service database (SQLite or PostgreSQL)."""

    def __init__(self, url: str | Path) -> None:
        parsed = make_url(store_url(url))
        self._label = parsed.render_as_string(hide_password=True)
        self._engine = create_engine(parsed)
        try:
            with write_connection(self._engine) as conn:
                THREAD_TABLE.create(conn, checkfirst=True)
        except SQLAlchemyError as exc:
            raise self._error("cannot create the thread registry", exc) from None

    def _error(self, what: str, exc: SQLAlchemyError) -> StoreError:
        return StoreError(
            f"Thread registry in {self._label}: {what}: {getattr(exc, 'orig', None) or exc}."
        )

    def _get(self, thread_id: str) -> ThreadInfo | None:
        t = THREAD_TABLE.c
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(THREAD_TABLE).where(t.thread_id == thread_id)).first()
        return ThreadInfo(**row._mapping) if row is not None else None

    def _create(self, thread_id: str, patient_id: str, owner: str) -> ThreadInfo:
        now = _now()
        info = ThreadInfo(thread_id, patient_id, owner, now, now, 0)
        with write_connection(self._engine) as conn:
            conn.execute(sa.insert(THREAD_TABLE), [_as_dict(info)])
        return info

    def _touch(self, thread_id: str, turns: int) -> None:
        t = THREAD_TABLE.c
        with write_connection(self._engine) as conn:
            conn.execute(
                sa.update(THREAD_TABLE)
                .where(t.thread_id == thread_id)
                .values(last_used=_now(), turns=t.turns + turns)
            )

    def _list(self, patient_id: str, owner: str | None) -> list[ThreadInfo]:
        t = THREAD_TABLE.c
        query = sa.select(THREAD_TABLE).where(t.patient_id == patient_id)
        if owner is not None:
            query = query.where(t.owner == owner)
        with self._engine.connect() as conn:
            rows = conn.execute(query.order_by(t.last_used.desc())).all()
        return [ThreadInfo(**r._mapping) for r in rows]

    def _delete(self, thread_id: str) -> None:
        with write_connection(self._engine) as conn:
            conn.execute(sa.delete(THREAD_TABLE).where(THREAD_TABLE.c.thread_id == thread_id))

    async def _call(self, what: str, fn: Any, *args: Any) -> Any:
        try:
            return await asyncio.to_thread(fn, *args)
        except IntegrityError:
            raise
        except SQLAlchemyError as exc:
            raise self._error(what, exc) from None

    async def get(self, thread_id: str) -> ThreadInfo | None:
        return cast(ThreadInfo | None, await self._call("read failed", self._get, thread_id))

    async def create(self, thread_id: str, patient_id: str, owner: str) -> ThreadInfo:
        """Register a new thread (``StoreError`` if the id is taken or the write fails)."""
        try:
            return cast(
                ThreadInfo,
                await self._call("write failed", self._create, thread_id, patient_id, owner),
            )
        except IntegrityError:
            raise StoreError(f"Thread id {thread_id!r} is already taken.") from None

    async def touch(self, thread_id: str, turns: int = 1) -> None:
        await self._call("update failed", self._touch, thread_id, turns)

    async def for_patient(self, patient_id: str, owner: str | None) -> list[ThreadInfo]:
        return cast(
            list[ThreadInfo], await self._call("read failed", self._list, patient_id, owner)
        )

    async def delete(self, thread_id: str) -> None:
        await self._call("delete failed", self._delete, thread_id)

    def close(self) -> None:
        self._engine.dispose()


def _as_dict(info: ThreadInfo) -> dict[str, Any]:
    return {k: getattr(info, k) for k in ThreadInfo.__slots__}

"""The drafts table (``service_draft``) in the service database (SQLite or PostgreSQL).

One row per draft: the indexed columns (patient, kind, status, batch key) and the whole
:class:`~tools.drafts.Draft` as JSON. Every update is a compare-and-set on ``rev``, so two
workers approving the same draft at once cannot both win: the loser re-reads and sees the
winner's state.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final, TypeVar, cast

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlmodel import Field, SQLModel

from tools.errors import DraftNotFound, StoreError
from tools.store import create_engine, store_url, write_connection

from ._model import Draft, now_instant

__all__ = ["DRAFT_TABLE", "DraftStore"]

T = TypeVar("T")


class DraftRow(SQLModel, table=True):
    """One draft as stored."""

    __tablename__ = "service_draft"
    __table_args__ = (
        sa.Index("ix_service_draft_patient", "patient_id", "created"),
        sa.Index("ix_service_draft_status", "status"),
    )

    id: str = Field(primary_key=True)
    patient_id: str
    kind: str
    status: str
    created: str
    updated: str
    batch_key: str | None = Field(default=None, unique=True)
    rev: int = 0
    body: str = Field(sa_type=sa.Text())


DRAFT_TABLE: Final = cast(sa.Table, DraftRow.__table__)  # type: ignore[attr-defined]


class DraftStore:
    """Read and write drafts (blocking methods end in ``_blocking``; the others are async)."""

    def __init__(self, url: str | Path) -> None:
        parsed = make_url(store_url(url))
        self._label = parsed.render_as_string(hide_password=True)
        self._engine = create_engine(parsed)
        try:
            with write_connection(self._engine) as conn:
                DRAFT_TABLE.create(conn, checkfirst=True)
        except SQLAlchemyError as exc:
            raise self._error("cannot create the drafts table", exc) from None

    @property
    def label(self) -> str:
        return self._label

    def _error(self, what: str, exc: SQLAlchemyError) -> StoreError:
        return StoreError(f"Drafts in {self._label}: {what}: {getattr(exc, 'orig', None) or exc}.")

    @staticmethod
    def _row(draft: Draft, rev: int) -> dict[str, Any]:
        return {
            "id": draft.id,
            "patient_id": draft.patient_id,
            "kind": draft.kind,
            "status": draft.status,
            "created": draft.created,
            "updated": draft.updated,
            "batch_key": draft.batch_key,
            "rev": rev,
            "body": draft.model_dump_json(),
        }

    # ------------------------------------------------------------------ blocking

    def insert_blocking(self, draft: Draft) -> Draft:
        """Store a new draft; with a ``batch_key`` already taken, the existing draft."""
        try:
            with write_connection(self._engine) as conn:
                conn.execute(sa.insert(DRAFT_TABLE), [self._row(draft, 0)])
        except IntegrityError:
            if draft.batch_key:
                found = self.by_batch_key_blocking(draft.batch_key)
                if found is not None:
                    return found
            raise StoreError(f"Draft id {draft.id!r} is already taken.") from None
        return draft

    def get_blocking(self, draft_id: str) -> tuple[Draft, int]:
        """The draft and its revision; ``DraftNotFound``."""
        t = DRAFT_TABLE.c
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(t.body, t.rev).where(t.id == draft_id)).first()
        if row is None:
            raise DraftNotFound(draft_id)
        return Draft.model_validate_json(row.body), int(row.rev)

    def by_batch_key_blocking(self, key: str) -> Draft | None:
        t = DRAFT_TABLE.c
        with self._engine.connect() as conn:
            body = conn.scalar(sa.select(t.body).where(t.batch_key == key))
        return Draft.model_validate_json(body) if body is not None else None

    def replace_blocking(self, draft: Draft, rev: int) -> bool:
        """Write ``draft`` if the stored revision is still ``rev``; False if another
        writer got there first (re-read and decide again)."""
        t = DRAFT_TABLE.c
        draft.updated = now_instant()
        row = self._row(draft, rev + 1)
        with write_connection(self._engine) as conn:
            result = conn.execute(
                sa.update(DRAFT_TABLE)
                .where(t.id == draft.id, t.rev == rev)
                .values({k: v for k, v in row.items() if k != "id"})
            )
        return bool(result.rowcount)

    def list_blocking(
        self,
        *,
        patient_id: str | None = None,
        status: str | None = None,
        batch_prefix: str | None = None,
        limit: int = 100,
    ) -> list[Draft]:
        t = DRAFT_TABLE.c
        query = sa.select(t.body)
        if patient_id is not None:
            query = query.where(t.patient_id == patient_id)
        if status is not None:
            query = query.where(t.status == status)
        if batch_prefix is not None:
            query = query.where(t.batch_key.like(f"{batch_prefix}%"))
        with self._engine.connect() as conn:
            bodies = conn.scalars(query.order_by(t.created.desc()).limit(limit)).all()
        return [Draft.model_validate_json(b) for b in bodies]

    # ------------------------------------------------------------------ async

    async def _call(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        try:
            return await asyncio.to_thread(fn, *args, **kwargs)
        except SQLAlchemyError as exc:
            raise self._error(what, exc) from None

    async def insert(self, draft: Draft) -> Draft:
        return await self._call("write failed", self.insert_blocking, draft)

    async def get(self, draft_id: str) -> tuple[Draft, int]:
        return await self._call("read failed", self.get_blocking, draft_id)

    async def by_batch_key(self, key: str) -> Draft | None:
        return await self._call("read failed", self.by_batch_key_blocking, key)

    async def replace(self, draft: Draft, rev: int) -> bool:
        return await self._call("write failed", self.replace_blocking, draft, rev)

    async def find(
        self,
        *,
        patient_id: str | None = None,
        status: str | None = None,
        batch_prefix: str | None = None,
        limit: int = 100,
    ) -> list[Draft]:
        return await self._call(
            "read failed",
            self.list_blocking,
            patient_id=patient_id,
            status=status,
            batch_prefix=batch_prefix,
            limit=limit,
        )

    def close(self) -> None:
        self._engine.dispose()

"""The store's schema: one sqlmodel definition that works on SQLite and PostgreSQL.

Every resource is one row of ``fhir_resource``: its JSON body exactly as imported (after
``urn:uuid:`` / conditional references were rewritten), plus the fields the assistant
searches on. One-to-many index fields live in small side tables keyed by the resource's
``Type/id`` (``ref``), so bulk imports never need the database to hand back generated keys.

The body column is ``TEXT`` on SQLite and ``JSONB`` on PostgreSQL (queryable with SQL
there); Python always sees it as a JSON string, parsed once per read with orjson.
"""

from __future__ import annotations

from typing import Any, Final, cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.types import UserDefinedType
from sqlmodel import Field, SQLModel

__all__ = [
    "CODE",
    "IDENTIFIER",
    "META",
    "PATIENT",
    "RESOURCE",
    "SCHEMA_VERSION",
    "SYNC_STATE",
    "TABLES",
]

SCHEMA_VERSION: Final = "1"


class _PgJsonbText(UserDefinedType[str]):
    """PostgreSQL ``JSONB`` that is written and read as JSON text (no driver-side parsing)."""

    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        return "JSONB"

    def bind_expression(self, bindvalue: Any) -> Any:
        return sa.cast(bindvalue, postgresql.JSONB)

    def column_expression(self, colexpr: Any) -> Any:
        return sa.cast(colexpr, sa.Text)


# Index tables are clustered on their primary key in SQLite (one B-tree instead of two per
# table; ignored elsewhere).
_CLUSTERED: Final = {"sqlite_with_rowid": False}

JSON_TEXT: Final = sa.Text().with_variant(_PgJsonbText(), "postgresql")
_PK: Final = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class ResourceRow(SQLModel, table=True):
    """One stored resource: its JSON body and its single-valued index fields."""

    __tablename__ = "fhir_resource"
    # Searches are nearly always within a patient (their index narrows first); this one
    # serves type-wide searches and date order. Every index costs import speed.
    __table_args__ = (sa.Index("ix_fhir_resource_type_date", "resource_type", "date_start"),)

    pk: int | None = Field(default=None, primary_key=True, sa_type=_PK)
    ref: str = Field(unique=True, description="`Type/id`")
    resource_type: str
    resource_id: str
    version_id: str = Field(description="meta.versionId (the source's, or counted by the store)")
    last_updated: str = Field(description="meta.lastUpdated as a sortable UTC string")
    source_meta: bool = Field(description="the body carries its own meta.lastUpdated")
    date_start: str | None = Field(default=None, description="main date, range start (UTC)")
    date_end: str | None = Field(default=None, description="main date, range end (UTC)")
    status: str | None = None
    content_hash: str
    body: str = Field(sa_type=JSON_TEXT)


class PatientLink(SQLModel, table=True):
    """Which patient(s) a resource belongs to (a Patient belongs to itself)."""

    __tablename__ = "fhir_resource_patient"
    __table_args__ = (sa.Index("ix_fhir_resource_patient_ref", "ref"), _CLUSTERED)

    patient_id: str = Field(primary_key=True)
    ref: str = Field(primary_key=True)


class CodeRow(SQLModel, table=True):
    """One coding of a resource: ``kind`` is ``code`` (code, vaccineCode, ...) or ``category``."""

    __tablename__ = "fhir_resource_code"
    __table_args__ = (
        sa.Index("ix_fhir_resource_code_lookup", "kind", "code", "system"),
        _CLUSTERED,
    )

    ref: str = Field(primary_key=True)
    kind: str = Field(primary_key=True)
    system: str = Field(primary_key=True, description="'' when the coding has no system")
    code: str = Field(primary_key=True)


class IdentifierRow(SQLModel, table=True):
    """One identifier of a resource, to resolve conditional references (``Type?identifier=``)."""

    __tablename__ = "fhir_identifier"
    __table_args__ = (
        sa.Index("ix_fhir_identifier_lookup", "resource_type", "value", "system"),
        _CLUSTERED,
    )

    ref: str = Field(primary_key=True)
    system: str = Field(primary_key=True, description="'' when the identifier has no system")
    value: str = Field(primary_key=True)
    resource_type: str


class SyncStateRow(SQLModel, table=True):
    """Where the last sync of a patient from a source got to (for incremental syncs)."""

    __tablename__ = "fhir_sync_state"

    source: str = Field(primary_key=True, description="the source's label")
    patient_id: str = Field(primary_key=True)
    since: str = Field(description="value for the next `_lastUpdated=gt…`, as the source wrote it")
    synced_at: str = Field(description="UTC time of the last sync, sortable")


class MetaRow(SQLModel, table=True):
    """Key/value facts about the store itself (schema version)."""

    __tablename__ = "fhir_store_meta"

    key: str = Field(primary_key=True)
    value: str


def _table(model: type[SQLModel]) -> sa.Table:
    return cast(sa.Table, model.__table__)  # type: ignore[attr-defined]


RESOURCE: Final = _table(ResourceRow)
PATIENT: Final = _table(PatientLink)
CODE: Final = _table(CodeRow)
IDENTIFIER: Final = _table(IdentifierRow)
SYNC_STATE: Final = _table(SyncStateRow)
META: Final = _table(MetaRow)
TABLES: Final = (RESOURCE, PATIENT, CODE, IDENTIFIER, SYNC_STATE, META)

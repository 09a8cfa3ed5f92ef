"""``RecordStore``: the embedded record store (SQLite by default, any SQLAlchemy URL).

One synchronous core does the database work; the async :class:`~tools.source.RecordSource`
methods run it in a worker thread (``asyncio.to_thread``), so the CLI and the agent share
one code path. Blocking twins of the protocol methods carry a ``_blocking`` suffix.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import functools
import gc
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from tools.errors import (
    ConfigError,
    ImportFailed,
    PatientNotFound,
    ResourceNotFound,
    StoreError,
    UnresolvedReference,
    UnsupportedSearch,
)
from tools.source import PatientRow, Resource, SearchParams, check_transaction, check_write
from tools.store._dates import instant, now_utc, to_fhir_instant
from tools.store._engine import WRITE_OPTION, create_engine, write_connection
from tools.store._importer import (
    CONDITIONAL,
    Prepared,
    Staged,
    discover,
    entries_from_bundle,
    entries_from_resources,
    load,
    resolve,
    stage,
)
from tools.store._models import (
    CODE,
    IDENTIFIER,
    META,
    PATIENT,
    RESOURCE,
    SCHEMA_VERSION,
    SYNC_STATE,
    TABLES,
)
from tools.store._report import FileReport, ImportProgress, ImportReport, ProgressCallback
from tools.store._search import build_search
from tools.store._validation import Validation, Validator

__all__ = ["RecordStore", "SyncMark", "store_url"]

_CHUNK: Final = 1000  # rows per executemany batch (and per "writing" progress event)
_IN_CHUNK: Final = 500  # values per IN (...) list
_VALIDATION_MODES: Final = ("shape", "full", "none")
_IMPORT_CHECKPOINT_PAGES: Final = 16384  # x 16 KiB pages = 256 MiB of WAL

# (source label, patient id, since): where an incremental sync got to, saved atomically
# with the resources it fetched.
SyncMark = tuple[str, str, str]


def store_url(url_or_path: str | Path) -> str:
    """A SQLAlchemy URL for a store: URLs pass through, a plain path becomes SQLite."""
    text = str(url_or_path)
    if "://" in text:
        return text
    if text == ":memory:":
        return "sqlite://"
    return f"sqlite:///{Path(text).expanduser().resolve()}"


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic GC while a file's many small objects are built.

    Parsing 55 MB of JSON creates millions of containers; the collector's repeated passes
    over them took 4x the parse time itself (measured: 0.7 s -> 0.16 s).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _to_resource(body: str, version_id: str, last_updated: str) -> Resource:
    """Parse a stored body; fill in meta.versionId / meta.lastUpdated if the body lacks them."""
    resource: Resource = orjson.loads(body)
    meta = resource.get("meta")
    if not isinstance(meta, dict) or "versionId" not in meta or "lastUpdated" not in meta:
        filled = dict(meta) if isinstance(meta, dict) else {}
        filled.setdefault("versionId", version_id)
        filled.setdefault("lastUpdated", to_fhir_instant(last_updated))
        resource["meta"] = filled
    return resource


def _patient_row(resource: Resource, count: int | None) -> PatientRow:
    names = [n for n in resource.get("name") or () if isinstance(n, dict)]
    official = [n for n in names if n.get("use") == "official"]
    name = (official or names or [{}])[0]
    text = name.get("text")
    if not isinstance(text, str):
        given = " ".join(g for g in name.get("given") or () if isinstance(g, str))
        text = " ".join(p for p in (given, name.get("family")) if isinstance(p, str) and p)
    deceased = bool(resource.get("deceasedBoolean")) or "deceasedDateTime" in resource
    return PatientRow(
        id=str(resource.get("id")),
        name=text,
        birth_date=resource.get("birthDate"),
        gender=resource.get("gender"),
        deceased=deceased,
        resource_count=count,
    )


class _ConnLookup:
    """Reference-resolution queries on the import's own connection (same transaction)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def ids_by_identifier(self, resource_type: str, system: str | None, value: str) -> set[str]:
        query = sa.select(IDENTIFIER.c.ref).where(
            IDENTIFIER.c.resource_type == resource_type, IDENTIFIER.c.value == value
        )
        if system is not None:
            query = query.where(IDENTIFIER.c.system == system)
        return {ref.split("/", 1)[1] for ref in self.conn.scalars(query)}

    def exists(self, resource_type: str, resource_id: str) -> bool:
        query = sa.select(RESOURCE.c.pk).where(RESOURCE.c.ref == f"{resource_type}/{resource_id}")
        return self.conn.scalar(query) is not None

    def ids_by_tag(self, resource_type: str, system: str | None, code: str) -> set[str]:
        query = sa.select(CODE.c.ref).where(
            CODE.c.kind == "tag",
            CODE.c.code == code,
            CODE.c.ref.like(f"{resource_type}/%"),
        )
        if system is not None:
            query = query.where(CODE.c.system == system)
        return {ref.split("/", 1)[1] for ref in self.conn.scalars(query)}


class _Counts:
    __slots__ = ("imported", "patients", "skipped", "unchanged", "updated")

    def __init__(self) -> None:
        self.imported = self.updated = self.unchanged = self.skipped = 0
        self.patients: set[str] = set()


def _is_newer(new: Prepared, old: sa.Row[Any]) -> bool:
    """Whether ``new`` (different content) should replace the stored ``old``."""
    if new.meta_last_updated is not None:
        # the incoming version says when it was written: compare with a source's date only
        return not old.source_meta or new.meta_last_updated > old.last_updated
    if new.meta_version_id is not None and old.source_meta:
        try:
            return int(new.meta_version_id) > int(old.version_id)
        except ValueError:
            return True
    # No version information: a patient's data is replaced by the newer export; a shared
    # resource (Organization/Practitioner copied into many bundles) keeps its first copy.
    return bool(new.patients)


def _next_version(old: str) -> str:
    try:
        return str(int(old) + 1)
    except ValueError:
        return "1"


_RESOURCE_KEYS: Final = (
    "ref",
    "resource_type",
    "resource_id",
    "version_id",
    "last_updated",
    "source_meta",
    "date_start",
    "date_end",
    "status",
    "content_hash",
    "body",
)
_PATIENT_KEYS: Final = ("patient_id", "ref")
_CODE_KEYS: Final = ("ref", "kind", "system", "code")
_IDENTIFIER_KEYS: Final = ("ref", "system", "value", "resource_type")

Row = tuple[Any, ...]


def _index_rows(items: Sequence[Prepared]) -> tuple[list[Row], list[Row], list[Row]]:
    """Rows of the patient, code and identifier tables for ``items``."""
    patients: list[Row] = []
    codes: list[Row] = []
    idents: list[Row] = []
    for p in items:
        ref = p.ref
        patients.extend((pid, ref) for pid in p.patients)
        fields = p.fields
        codes.extend((ref, "code", s, c) for s, c in fields.codes)
        codes.extend((ref, "category", s, c) for s, c in fields.categories)
        codes.extend((ref, "tag", s, c) for s, c in fields.tags)
        idents.extend((ref, s, v, p.rtype) for s, v in fields.identifiers)
    return patients, codes, idents


@functools.lru_cache(maxsize=64)
def _insert_sql(
    dialect: sa.Dialect, table: sa.Table, keys: tuple[str, ...]
) -> tuple[str, Callable[[Row], Any] | None]:
    """The driver-level INSERT for rows of ``keys`` and how to turn a row into parameters."""
    stmt = sa.insert(table).values({k: sa.bindparam(k) for k in keys})
    compiled = stmt.compile(dialect=dialect)
    order = compiled.positiontup
    if order is None:  # named paramstyle (psycopg): dicts
        return compiled.string, lambda row: dict(zip(keys, row, strict=True))
    if tuple(order) == keys:
        return compiled.string, None  # rows already are the parameters
    positions = [keys.index(k) for k in order]
    return compiled.string, lambda row: tuple(row[i] for i in positions)


def _bulk_insert(
    conn: Connection, table: sa.Table, keys: tuple[str, ...], rows: Sequence[Row]
) -> None:
    """One executemany of ``rows`` (tuples in ``keys`` order), without per-row compiling.

    SQLAlchemy Core's ``execute(insert, dicts)`` spends more time building parameters than
    SQLite spends inserting them; the statement is still compiled by SQLAlchemy for the
    connection's dialect (so PostgreSQL's JSONB cast is kept).
    """
    if not rows:
        return
    sql, convert = _insert_sql(conn.dialect, table, keys)
    params: list[Any] = list(rows) if convert is None else [convert(r) for r in rows]
    conn.exec_driver_sql(sql, params)


def _write(
    conn: Connection, rows: list[Prepared], now: str, on_chunk: Callable[[int], None]
) -> _Counts:
    """Insert new, update changed, leave identical rows; index rows follow their resource."""
    counts = _Counts()
    existing: dict[str, Any] = {}
    cols = RESOURCE.c
    for chunk in _chunks([p.ref for p in rows], _IN_CHUNK):
        query = sa.select(
            cols.ref, cols.content_hash, cols.version_id, cols.last_updated, cols.source_meta
        ).where(cols.ref.in_(chunk))
        for row in conn.execute(query):
            existing[row.ref] = row
    inserts: list[Row] = []
    updates: list[dict[str, Any]] = []
    changed: list[Prepared] = []
    for p in rows:
        old = existing.get(p.ref)
        if old is None:
            fields = p.fields
            inserts.append(
                (
                    p.ref,
                    p.rtype,
                    p.rid,
                    p.meta_version_id or "1",
                    p.meta_last_updated or now,
                    p.meta_last_updated is not None,
                    fields.date_start,
                    fields.date_end,
                    fields.status,
                    p.content_hash,
                    p.body,
                )
            )
            counts.imported += 1
        elif old.content_hash == p.content_hash:
            counts.unchanged += 1
            continue
        elif not _is_newer(p, old):
            counts.skipped += 1
            continue
        else:
            updates.append(
                {
                    "b_ref": p.ref,
                    "b_version_id": p.meta_version_id or _next_version(old.version_id),
                    "b_last_updated": p.meta_last_updated or now,
                    "b_source_meta": p.meta_last_updated is not None,
                    "b_date_start": p.fields.date_start,
                    "b_date_end": p.fields.date_end,
                    "b_status": p.fields.status,
                    "b_content_hash": p.content_hash,
                    "b_body": p.body,
                }
            )
            counts.updated += 1
        changed.append(p)
        counts.patients.update(p.patients)
    written = 0
    for chunk in _chunks(inserts, _CHUNK):
        _bulk_insert(conn, RESOURCE, _RESOURCE_KEYS, chunk)
        written += len(chunk)
        on_chunk(written)
    if updates:
        update_stmt = (
            sa.update(RESOURCE)
            .where(cols.ref == sa.bindparam("b_ref"))
            .values({k[2:]: sa.bindparam(k) for k in updates[0] if k != "b_ref"})
        )
        for chunk in _chunks(updates, _CHUNK):
            refs = [u["b_ref"] for u in chunk]
            conn.execute(update_stmt, list(chunk))
            for table in (PATIENT, CODE, IDENTIFIER):
                conn.execute(sa.delete(table).where(table.c.ref.in_(refs)))
            written += len(chunk)
            on_chunk(written)
    tables = ((PATIENT, _PATIENT_KEYS), (CODE, _CODE_KEYS), (IDENTIFIER, _IDENTIFIER_KEYS))
    for chunk in _chunks(changed, _CHUNK * 4):
        for (table, keys), index_rows in zip(tables, _index_rows(chunk), strict=True):
            _bulk_insert(conn, table, keys, index_rows)
    return counts


def _fresh_ids(bundle: Resource) -> Resource:
    """A copy of a transaction Bundle whose entries have new ``urn:uuid:`` fullUrls (and
    references to them rewritten): the ids the store will give them."""
    fresh = copy.deepcopy(bundle)
    mapping: dict[str, str] = {}
    for entry in fresh.get("entry") or []:
        new = f"urn:uuid:{uuid.uuid4()}"
        old = entry.get("fullUrl")
        if isinstance(old, str):
            mapping[old] = new
        entry["fullUrl"] = new

    def rewrite(value: Any) -> None:
        if isinstance(value, dict):
            ref = value.get("reference")
            if isinstance(ref, str) and ref in mapping:
                value["reference"] = mapping[ref]
            for item in value.values():
                rewrite(item)
        elif isinstance(value, list):
            for item in value:
                rewrite(item)

    for entry in fresh.get("entry") or []:
        rewrite(entry.get("resource"))
    return fresh


def _save_mark(conn: Connection, mark: SyncMark) -> None:
    source, patient_id, since = mark
    state = SYNC_STATE.c
    conn.execute(
        sa.delete(SYNC_STATE).where(state.source == source, state.patient_id == patient_id)
    )
    row = {"source": source, "patient_id": patient_id, "since": since, "synced_at": now_utc()}
    conn.execute(sa.insert(SYNC_STATE), [row])


@dataclass(slots=True)
class _Loaded:
    """A file read and staged, before its transaction."""

    path: Path
    staged: list[Staged] | None = None
    error: ImportFailed | None = None
    note: str = ""
    seconds: float = 0.0


class RecordStore:
    """The embedded FHIR R4 record store; implements :class:`tools.source.RecordSource`
    and :class:`tools.source.RecordWriter`.

    ``url`` is a file path (SQLite, created if missing) or any SQLAlchemy URL, e.g.
    ``sqlite:///records.db`` or ``postgresql+psycopg://user:pw@host/db``. ``validation``
    is the default import validation mode (see :mod:`tools.store._validation`).
    """

    def __init__(self, url: str | Path, *, validation: Validation = "shape") -> None:
        self.url = store_url(url)
        self.validation: Validation = validation
        self._validators: dict[str, Validator] = {}
        self._validator(validation)  # fail early on a bad mode
        try:
            parsed = make_url(self.url)
            self._label = f"store {parsed.render_as_string(hide_password=True)}"
            self._engine = create_engine(parsed)
        except (ArgumentError, NoSuchModuleError, ImportError, ValueError) as exc:
            raise StoreError(
                f"Cannot open the record store {url!r}: {exc}. Give a file path, a sqlite:/// "
                "URL or a postgresql+psycopg:// URL (needs `pip install "
                "fhir-record-assistant[postgres]`)."
            ) from None
        self._ensure_schema()

    # ------------------------------------------------------------------ setup

    def _ensure_schema(self) -> None:
        try:
            with self._write_conn() as conn:
                for table in TABLES:
                    table.create(conn, checkfirst=True)
                found = conn.scalar(sa.select(META.c.value).where(META.c.key == "schema_version"))
                if found is None:
                    conn.execute(
                        sa.insert(META), [{"key": "schema_version", "value": SCHEMA_VERSION}]
                    )
        except SQLAlchemyError as exc:
            raise self._store_error("cannot open or create the schema", exc) from None
        if found is not None and found != SCHEMA_VERSION:
            raise StoreError(
                f"The record store at {self.url} has schema version {found}; this version of "
                f"the assistant needs {SCHEMA_VERSION}. Import into a new store file."
            )

    def _store_error(self, what: str, exc: SQLAlchemyError) -> StoreError:
        detail = getattr(exc, "orig", None) or exc
        hint = ""
        if "locked" in str(detail) or "busy" in str(detail):
            hint = " Another process is writing to the store; retry when it has finished."
        return StoreError(f"Record {self._label}: {what}: {detail}.{hint}")

    @contextlib.contextmanager
    def _write_conn(self) -> Iterator[Connection]:
        """One write transaction: committed on success, rolled back on any exception."""
        with write_connection(self._engine) as conn:
            yield conn

    @contextlib.contextmanager
    def _read_conn(self) -> Iterator[Connection]:
        try:
            with self._engine.connect() as conn, conn.begin():
                yield conn
        except SQLAlchemyError as exc:
            raise self._store_error("read failed", exc) from None

    def _validator(self, mode: Validation | None) -> Validator:
        mode = mode or self.validation
        if mode not in _VALIDATION_MODES:
            raise ConfigError(
                f"validation must be one of {', '.join(_VALIDATION_MODES)}, not {mode!r}"
            )
        if mode not in self._validators:
            self._validators[mode] = Validator(mode)
        return self._validators[mode]

    @property
    def label(self) -> str:
        """``store <url>`` (password hidden), for messages."""
        return self._label

    def __repr__(self) -> str:
        return f"RecordStore({self._label[6:]!r})"

    def close(self) -> None:
        """Release the database connections."""
        self._engine.dispose()

    def __enter__(self) -> RecordStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> RecordStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ import

    @contextlib.contextmanager
    def _import_session(self) -> Iterator[Connection]:
        """One connection for a whole import; each file still gets its own transaction.

        On SQLite the WAL is checkpointed once at the end instead of every ~16 MB (a
        checkpoint is an fsync; bounded at 256 MB of WAL).
        """
        with self._engine.connect() as conn:
            conn.execution_options(**{WRITE_OPTION: True})
            raw = conn.connection.driver_connection if conn.dialect.name == "sqlite" else None
            if raw is not None:
                raw.execute(f"PRAGMA wal_autocheckpoint={_IMPORT_CHECKPOINT_PAGES}")
            try:
                yield conn
            finally:
                if raw is not None:
                    raw.execute("PRAGMA wal_autocheckpoint=1000")
                    raw.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def _commit(
        self,
        where: str,
        staged: list[Staged],
        on_chunk: Callable[[int], None],
        mark: SyncMark | None = None,
        session: Connection | None = None,
    ) -> _Counts:
        """Resolve references and write one file's resources in ONE transaction."""
        try:
            with contextlib.ExitStack() as stack:
                if session is None:
                    conn = stack.enter_context(self._write_conn())
                else:
                    conn = session
                    stack.enter_context(conn.begin())
                resolved = resolve(staged, where, _ConnLookup(conn))
                counts = _write(conn, resolved.rows, now_utc(), on_chunk)
                counts.unchanged += resolved.existing
                if mark is not None:
                    _save_mark(conn, mark)
                return counts
        except SQLAlchemyError as exc:
            raise self._store_error(
                f"writing {where} failed (nothing of it was kept)", exc
            ) from None

    def _stage_file(self, path: Path, explicit: bool, validator: Validator) -> _Loaded:
        """Read, check and validate one file (no database access yet)."""
        started = time.perf_counter()
        loaded = _Loaded(path)
        try:
            entries = load(path, explicit)
            if entries is None:
                loaded.note = "skipped: JSON that is not FHIR (no resourceType)"
            else:
                loaded.staged = stage(entries, str(path), validator)
        except ImportFailed as exc:
            loaded.error = exc
        loaded.seconds = time.perf_counter() - started
        return loaded

    def _store_file(
        self,
        loaded: _Loaded,
        progress: ProgressCallback | None,
        index: int,
        total: int,
        session: Connection,
    ) -> FileReport:
        """Write one staged file in its own transaction and report what happened."""
        where = str(loaded.path)
        report = FileReport(path=where, error=loaded.error, note=loaded.note)
        started = time.perf_counter()
        if loaded.staged is not None:
            report.resources = len(loaded.staged)

            def on_chunk(written: int) -> None:
                if progress is not None:
                    event = ImportProgress(
                        where, "writing", index, total, report.resources, written
                    )
                    progress(event)

            try:
                counts = self._commit(where, loaded.staged, on_chunk, session=session)
                self._fill(report, counts)
            except ImportFailed as exc:
                report = FileReport(path=where, error=exc)
        report.seconds = loaded.seconds + time.perf_counter() - started
        return report

    @staticmethod
    def _fill(report: FileReport, counts: _Counts) -> None:
        report.imported, report.updated = counts.imported, counts.updated
        report.unchanged, report.skipped = counts.unchanged, counts.skipped
        report.patients = sorted(counts.patients)

    def import_paths(
        self,
        paths: Iterable[str | Path],
        progress: ProgressCallback | None = None,
        *,
        validation: Validation | None = None,
    ) -> ImportReport:
        """Import Bundles (``*.json``) and bulk-data NDJSON (``*.ndjson[.gz]``).

        ``paths`` are files or directories (walked recursively). Each file is one
        transaction: it is imported whole or not at all. A bad file is reported in its
        :class:`FileReport` and the others still import (``report.ok`` is then False); a
        file whose conditional references fail is retried once after the others, so the
        shared Organization/Practitioner bundles may come in any order. ``progress`` gets
        an :class:`ImportProgress` while each file is written and when it is done; an
        exception raised there (e.g. ``KeyboardInterrupt``) rolls back the file being
        written and propagates. ``validation`` overrides the store's default mode.
        Raises ``StoreError`` if the database itself fails.
        """
        started = time.perf_counter()
        validator = self._validator(validation)
        found: list[tuple[Path, bool]] = []
        reports: list[FileReport] = []
        for raw in paths:
            try:
                found.extend(discover([raw]))
            except ImportFailed as exc:
                reports.append(FileReport(path=str(raw), error=exc))
        total = len(found)
        results: list[FileReport | None] = [None] * total
        deferred: list[int] = []

        def finish(i: int, report: FileReport) -> None:
            results[i] = report
            if progress is not None:
                written = report.imported + report.updated
                progress(
                    ImportProgress(
                        report.path,
                        "done",
                        i,
                        total,
                        report.resources,
                        written,
                        report,
                    )
                )

        try:
            with _gc_paused(), self._import_session() as session:
                for i, (path, explicit) in enumerate(found):
                    loaded = self._stage_file(path, explicit, validator)
                    report = self._store_file(loaded, progress, i, total, session)
                    error = report.error
                    if isinstance(error, UnresolvedReference) and CONDITIONAL in error.detail:
                        deferred.append(i)  # its target may be defined by a later file
                    else:
                        finish(i, report)
                for i in deferred:
                    loaded = self._stage_file(*found[i], validator)
                    finish(i, self._store_file(loaded, progress, i, total, session))
        except SQLAlchemyError as exc:
            raise self._store_error("the import's connection failed", exc) from None
        reports.extend(r for r in results if r is not None)
        return ImportReport(files=reports, seconds=time.perf_counter() - started)

    def import_resources(
        self,
        resources: Iterable[Resource],
        origin: str = "<resources>",
        *,
        validation: Validation | None = None,
        _mark: SyncMark | None = None,
    ) -> FileReport:
        """Import resources fetched from elsewhere (e.g. a server) in ONE transaction.

        Same rules as a file import; raises the ``ImportFailed`` subclass instead of
        reporting it (nothing is kept then). ``origin`` names the batch in messages.
        """
        report = FileReport(path=origin)
        started = time.perf_counter()
        with _gc_paused():
            staged = stage(entries_from_resources(resources), origin, self._validator(validation))
            report.resources = len(staged)
            self._fill(report, self._commit(origin, staged, lambda _n: None, _mark))
        report.seconds = time.perf_counter() - started
        return report

    # ------------------------------------------------------------------ writes

    def create_blocking(self, resource: Resource, *, patient_id: str) -> Resource:
        """Blocking :meth:`create`."""
        rtype = check_write(resource, patient_id, self._label)
        try:
            self.read_blocking(f"Patient/{patient_id}")
        except ResourceNotFound:
            raise PatientNotFound(patient_id, self._label) from None
        body = copy.deepcopy(resource)
        body["id"] = str(uuid.uuid4())
        meta = dict(body["meta"]) if isinstance(body.get("meta"), dict) else {}
        meta["versionId"] = "1"
        meta["lastUpdated"] = to_fhir_instant(now_utc())
        body["meta"] = meta
        self.import_resources([body], f"create {rtype}")
        return self.read_blocking(f"{rtype}/{body['id']}")

    async def create(self, resource: Resource, *, patient_id: str) -> Resource:
        """Store a new resource for ``patient_id``; the stored resource (see RecordWriter).

        Gets a new uuid ``id``, ``meta.versionId`` 1 and ``meta.lastUpdated`` now.
        Checked first with :func:`tools.source.check_write` (``WriteRefused``), then
        validated in the store's validation mode (``InvalidResource`` /
        ``WrongFhirVersion``: nothing is stored); ``PatientNotFound`` when the patient is
        not in the store.
        """
        return await asyncio.to_thread(self.create_blocking, resource, patient_id=patient_id)

    def transaction_blocking(self, bundle: Resource, *, patient_id: str) -> Resource:
        """Blocking :meth:`transaction`."""
        check_transaction(bundle, patient_id, self._label)
        try:
            self.read_blocking(f"Patient/{patient_id}")
        except ResourceNotFound:
            raise PatientNotFound(patient_id, self._label) from None
        where = f"transaction for Patient/{patient_id}"
        fresh = _fresh_ids(bundle)
        now = to_fhir_instant(now_utc())
        for entry in fresh["entry"]:
            meta = dict(entry["resource"].get("meta") or {})
            meta["versionId"], meta["lastUpdated"] = "1", now
            entry["resource"]["meta"] = meta
        with _gc_paused():
            staged = stage(entries_from_bundle(fresh, where), where, self._validator("full"))
        try:
            with self._write_conn() as conn:
                resolved = resolve(staged, where, _ConnLookup(conn))
                counts = _write(conn, resolved.rows, now_utc(), lambda _n: None)
                created = sum(1 for _, new in resolved.outcomes if new)
                if counts.imported != created or counts.updated:
                    raise StoreError(
                        f"Record {self._label}: {where}: {created} new resources expected, "
                        f"{counts.imported} inserted and {counts.updated} updated; rolled back."
                    )
        except SQLAlchemyError as exc:
            raise self._store_error(f"{where} failed (nothing of it was kept)", exc) from None
        answers = []
        for ref, new in resolved.outcomes:
            stored = self.read_blocking(ref)
            version = stored["meta"]["versionId"]
            answers.append(
                {
                    "fullUrl": ref,
                    "resource": stored,
                    "response": {
                        "status": "201 Created" if new else "200 OK",
                        "location": f"{ref}/_history/{version}",
                        "etag": f'W/"{version}"',
                        "lastModified": stored["meta"]["lastUpdated"],
                    },
                }
            )
        return {
            "resourceType": "Bundle",
            "id": str(uuid.uuid4()),
            "type": "transaction-response",
            "entry": answers,
        }

    async def transaction(self, bundle: Resource, *, patient_id: str) -> Resource:
        """Apply a transaction Bundle of creates in ONE database transaction (see
        :meth:`tools.source.RecordWriter.transaction`).

        Every entry gets a new uuid id (fullUrls are rewritten, so a reused urn:uuid never
        overwrites a stored resource), ``meta.versionId`` 1 and ``meta.lastUpdated`` now;
        resources are validated fully (``InvalidResource``: nothing stored);
        ``ifNoneExist`` may use ``identifier``, ``_id`` and ``_tag``. ``PatientNotFound``
        when the patient is not in the store; any database failure keeps nothing.
        """
        return await asyncio.to_thread(self.transaction_blocking, bundle, patient_id=patient_id)

    # ------------------------------------------------------------------ reads (blocking)

    def read_blocking(self, reference: str) -> Resource:
        """Blocking :meth:`read`."""
        parts = reference.strip().split("/")
        if len(parts) >= 4 and parts[-2] == "_history":
            parts = parts[:-2]
        if len(parts) < 2 or not parts[-2] or not parts[-1]:
            raise ResourceNotFound(reference, self._label, "not a `Type/id` reference")
        ref = f"{parts[-2]}/{parts[-1]}"
        cols = RESOURCE.c
        with self._read_conn() as conn:
            row = conn.execute(
                sa.select(cols.body, cols.version_id, cols.last_updated).where(cols.ref == ref)
            ).first()
        if row is None:
            raise ResourceNotFound(ref, self._label)
        return _to_resource(row.body, row.version_id, row.last_updated)

    def search_blocking(
        self, resource_type: str, params: SearchParams | None = None
    ) -> list[Resource]:
        """Blocking :meth:`search` (parameters: see :mod:`tools.store._search`)."""
        search = build_search(resource_type, params)
        with self._read_conn() as conn:
            rows = conn.execute(search.query).all()
        return [r for r in (_to_resource(*row) for row in rows) if search.matches(r)]

    def everything_blocking(self, patient_id: str, *, since: str | None = None) -> list[Resource]:
        """Blocking :meth:`everything`."""
        cols = RESOURCE.c
        query = (
            sa.select(cols.body, cols.version_id, cols.last_updated)
            .join(PATIENT, PATIENT.c.ref == cols.ref)
            .where(PATIENT.c.patient_id == patient_id)
            .order_by(sa.case((cols.resource_type == "Patient", 0), else_=1), cols.pk)
        )
        if since is not None:
            try:
                bound = instant(since)
            except ValueError as exc:
                raise UnsupportedSearch(
                    f"`since` must be a FHIR instant such as 2024-01-31T12:00:00Z, got {since!r}"
                ) from exc
            query = query.where(cols.last_updated > bound)
        with self._read_conn() as conn:
            exists = conn.scalar(sa.select(cols.pk).where(cols.ref == f"Patient/{patient_id}"))
            if exists is None:
                raise PatientNotFound(patient_id, self._label)
            rows = conn.execute(query).all()
        return [_to_resource(*row) for row in rows]

    def patients_blocking(self) -> list[PatientRow]:
        """Blocking :meth:`patients`: every stored Patient with its resource count."""
        cols = RESOURCE.c
        with self._read_conn() as conn:
            by_patient = sa.select(PATIENT.c.patient_id, sa.func.count()).group_by(
                PATIENT.c.patient_id
            )
            counts: dict[str, int] = {pid: n for pid, n in conn.execute(by_patient)}
            rows = conn.execute(
                sa.select(cols.resource_id, cols.body).where(cols.resource_type == "Patient")
            ).all()
        patients = [_patient_row(orjson.loads(r.body), counts.get(r.resource_id, 0)) for r in rows]
        return sorted(patients, key=lambda p: (p.name.lower(), p.id))

    def count(self, patient_id: str | None = None) -> int:
        """Resources in the store, or in one patient's compartment (``PatientNotFound``)."""
        return sum(self.type_counts(patient_id).values())

    def type_counts(self, patient_id: str | None = None) -> dict[str, int]:
        """Resources per type, in the whole store or one patient's compartment."""
        cols = RESOURCE.c
        query = sa.select(cols.resource_type, sa.func.count()).group_by(cols.resource_type)
        if patient_id is not None:
            query = query.join(PATIENT, PATIENT.c.ref == cols.ref).where(
                PATIENT.c.patient_id == patient_id
            )
        with self._read_conn() as conn:
            counts: dict[str, int] = {
                rtype: n for rtype, n in conn.execute(query.order_by(cols.resource_type))
            }
        if patient_id is not None and not counts:
            raise PatientNotFound(patient_id, self._label)
        return counts

    def delete_patient(self, patient_id: str) -> int:
        """Delete a patient and every resource in their compartment; return how many.

        Shared resources (Organization, Practitioner, ...) stay. Raises ``PatientNotFound``.
        """
        refs = sa.select(PATIENT.c.ref).where(PATIENT.c.patient_id == patient_id)
        try:
            with self._write_conn() as conn:
                n = conn.scalar(sa.select(sa.func.count()).select_from(refs.subquery())) or 0
                if n == 0:
                    raise PatientNotFound(patient_id, self._label)
                for table in (CODE, IDENTIFIER, RESOURCE):
                    conn.execute(sa.delete(table).where(table.c.ref.in_(refs)))
                conn.execute(sa.delete(PATIENT).where(PATIENT.c.ref.in_(refs)))
                conn.execute(sa.delete(SYNC_STATE).where(SYNC_STATE.c.patient_id == patient_id))
        except SQLAlchemyError as exc:
            raise self._store_error(f"deleting Patient/{patient_id} failed", exc) from None
        return int(n)

    def sync_since(self, source_label: str, patient_id: str) -> str | None:
        """Where the last sync of ``patient_id`` from ``source_label`` got to (or None)."""
        state = SYNC_STATE.c
        with self._read_conn() as conn:
            return conn.scalar(
                sa.select(state.since).where(
                    state.source == source_label, state.patient_id == patient_id
                )
            )

    # ------------------------------------------------------------------ RecordSource

    async def read(self, reference: str) -> Resource:
        """Read one resource by ``Type/id``; ``ResourceNotFound`` if it is not stored."""
        return await asyncio.to_thread(self.read_blocking, reference)

    async def search(
        self, resource_type: str, params: SearchParams | None = None
    ) -> list[Resource]:
        """Every match of a search; ``UnsupportedSearch`` for what the store cannot do."""
        return await asyncio.to_thread(self.search_blocking, resource_type, params)

    async def everything(self, patient_id: str, *, since: str | None = None) -> list[Resource]:
        """The Patient first, then every resource in their compartment (import order).

        ``since``: only resources stored or updated after that FHIR instant.
        """
        return await asyncio.to_thread(self.everything_blocking, patient_id, since=since)

    async def patients(self) -> list[PatientRow]:
        """Every stored patient, sorted by name."""
        return await asyncio.to_thread(self.patients_blocking)

    async def aclose(self) -> None:
        """Release the database connections."""
        await asyncio.to_thread(self.close)

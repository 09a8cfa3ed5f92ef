"""Encrypted conversation threads: where they live, their key, and the checkpointer.

A thread's checkpoints hold patient data, so every checkpoint and pending write is
encrypted (AES-GCM through LangGraph's ``EncryptedSerializer``, ``cryptography``
underneath) with the key :func:`threads_key` finds: ``$FHIR_ASSISTANT_THREADS_KEY``
(base64 or hex of 16, 24 or 32 bytes), else ``$LANGGRAPH_AES_KEY`` (as LangGraph reads
it), else a random key kept beside the database (``threads.key`` for ``threads.db``,
mode 0600, created on first use). A database that cannot be decrypted with that key
raises :class:`agent.errors.ThreadStoreError`; checkpoints written before encryption was
introduced (no cipher in their type) are still read.

::

    async with open_threads("threads.db") as saver:
        snap = await build_graph(saver).aget_state({"configurable": {"thread_id": "t"}})

Several processes or hosts share threads through PostgreSQL (LangGraph's
``AsyncPostgresSaver``, same encryption; the key must then come from the environment, as
there is no key file): :func:`open_checkpointer` opens the right saver for a path or URL::

    async with open_checkpointer("postgresql+psycopg://app@db/records") as saver: ...
    async with open_checkpointer("threads.db") as saver: ...          # = open_threads

``AsyncPostgresSaver`` keeps ``str``/``int``/``float``/``bool`` channel values inline in
its JSONB ``checkpoints`` column, where no serializer sees them; the saver opened here
moves every channel value to the (encrypted) blob table instead, so a question or a
summary never lies in the database in clear text.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import logging
import os
import stat
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from .errors import ThreadStoreError

__all__ = [
    "THREADS_KEY_ENV",
    "check_threads_key",
    "default_threads_db",
    "is_postgres_url",
    "open_checkpointer",
    "open_threads",
    "serializer",
    "threads_key",
]

log = logging.getLogger(__name__)

#: Environment variables holding the thread key, in order of precedence.
THREADS_KEY_ENV = ("FHIR_ASSISTANT_THREADS_KEY", "LANGGRAPH_AES_KEY")
_KEY_SIZES = (16, 24, 32)
_CIPHER = "aes-gcm"
_NONCE = 12


def default_threads_db() -> Path:
    """``$FHIR_ASSISTANT_THREADS`` or ``~/.local/share/fhir-assistant/threads.db``."""
    env = os.environ.get("FHIR_ASSISTANT_THREADS")
    if env:
        return Path(env)
    return Path.home() / ".local" / "share" / "fhir-assistant" / "threads.db"


def _key_file(db: Path) -> Path:
    return db.with_suffix(".key")


def _parse_key(text: str, where: str, *, raw_first: bool = False) -> bytes:
    """A key given as hex or base64 (standard or URL-safe) of 16, 24 or 32 bytes.

    ``raw_first``: the text itself is the key when it is 16, 24 or 32 bytes long, as
    LangGraph reads ``LANGGRAPH_AES_KEY``.
    """
    value = text.strip()
    candidates: list[bytes] = [value.encode()] if raw_first else []
    if len(value) in (2 * n for n in _KEY_SIZES):
        with contextlib.suppress(ValueError):
            candidates.append(bytes.fromhex(value))
    for decode in (base64.b64decode, base64.urlsafe_b64decode):
        with contextlib.suppress(binascii.Error, ValueError):
            candidates.append(decode(value + "=" * (-len(value) % 4)))
    for key in candidates:
        if len(key) in _KEY_SIZES:
            return key
    raise ThreadStoreError(
        f"{where} does not hold a usable thread key: give 16, 24 or 32 bytes as hex or "
        'base64, e.g. the output of `python -c "import os, base64; '
        'print(base64.b64encode(os.urandom(32)).decode())"`.'
    )


def threads_key(db: str | Path) -> tuple[bytes, str]:
    """The key of a threads database and where it came from (for messages, never the key).

    ``$FHIR_ASSISTANT_THREADS_KEY`` (hex or base64), else ``$LANGGRAPH_AES_KEY`` (read as
    LangGraph reads it: the text itself when 16, 24 or 32 bytes long; else hex or base64),
    else the key file beside the database (``threads.key`` for ``threads.db``), created
    with a random 256-bit key and mode 0600 when missing.

    Raises:
        ThreadStoreError: the variable or the key file holds no usable key.
    """
    for i, name in enumerate(THREADS_KEY_ENV):
        value = os.environ.get(name)
        if value:
            return _parse_key(value, f"${name}", raw_first=i > 0), f"${name}"
    path = _key_file(Path(db))
    where = f"the key file {path}"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            log.warning(
                "thread key file %s is readable by others (mode %o); chmod 600 it", path, mode
            )
        text = path.read_text()
        for _ in range(20):  # another process may have just created it
            if text.strip():
                break
            time.sleep(0.05)
            text = path.read_text()
        return _parse_key(text, where), where
    key = os.urandom(32)
    with os.fdopen(fd, "w") as fh:
        fh.write(base64.b64encode(key).decode() + "\n")
    log.debug(
        "no %s set: generated a new thread key in %s (mode 0600); keep it to read these "
        "threads again",
        THREADS_KEY_ENV[0],
        path,
    )
    return key, where


class _AesGcm:
    """A LangGraph ``CipherProtocol`` on ``cryptography``'s AES-GCM (nonce + ciphertext)."""

    def __init__(self, key: bytes, db: Path, where: str) -> None:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        self._aead = AESGCM(key)
        self._db = db
        self._where = where

    def encrypt(self, plaintext: bytes) -> tuple[str, bytes]:
        nonce = os.urandom(_NONCE)
        return _CIPHER, nonce + self._aead.encrypt(nonce, plaintext, None)

    def decrypt(self, ciphername: str, ciphertext: bytes) -> bytes:
        from cryptography.exceptions import InvalidTag

        if ciphername != _CIPHER:
            raise ThreadStoreError.unreadable(
                self._db, self._where, f"its checkpoints use another cipher ({ciphername!r})"
            )
        try:
            return self._aead.decrypt(ciphertext[:_NONCE], ciphertext[_NONCE:], None)
        except InvalidTag:
            raise ThreadStoreError.unreadable(self._db, self._where) from None


def serializer(db: Path) -> Any:
    """LangGraph's ``EncryptedSerializer`` with this database's key (:func:`threads_key`)."""
    from langgraph.checkpoint.serde.encrypted import EncryptedSerializer

    key, where = threads_key(db)
    return EncryptedSerializer(_AesGcm(key, db, where))


def check_threads_key(threads_db: str | Path) -> tuple[str | None, bool]:
    """Check, without creating anything, that the threads key is usable and decrypts the
    newest checkpoint of ``threads_db``. Returns where the key comes from (None: no key
    yet, neither variable set nor key file; one is created when the first thread is saved)
    and whether a checkpoint was decrypted (False: the database has none yet).

    Raises:
        ThreadStoreError: an unusable key, or a database written with another key.
    """
    import sqlite3

    path = Path(threads_db)
    if not any(os.environ.get(name) for name in THREADS_KEY_ENV) and not _key_file(path).exists():
        return None, False
    serde = serializer(path)
    where = threads_key(path)[1]
    if not path.exists():
        return where, False
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        try:
            row = conn.execute(
                "SELECT type, checkpoint FROM checkpoints WHERE type LIKE '%+%' "
                "ORDER BY rowid DESC LIMIT 1"
            ).fetchone()
        except sqlite3.OperationalError:  # no table yet
            return where, False
    if row is None:
        return where, False
    serde.loads_typed((row[0], row[1]))
    return where, True


@contextlib.asynccontextmanager
async def open_threads(threads_db: str | Path | None = None) -> AsyncIterator[Any]:
    """The threads database as a LangGraph ``AsyncSqliteSaver`` that encrypts and decrypts
    with the key of :func:`threads_key` (default database: :func:`default_threads_db`).

    ::

        async with open_threads("threads.db") as saver:
            snap = await build_graph(saver).aget_state({"configurable": {"thread_id": "t"}})

    Raises:
        ThreadStoreError: no usable key; or (when reading) the database was written with
            another key.
    """
    import aiosqlite
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    path = Path(threads_db) if threads_db else default_threads_db()
    path.parent.mkdir(parents=True, exist_ok=True)
    serde = serializer(path)
    async with aiosqlite.connect(str(path)) as conn:
        await _check_key(conn, serde)
        yield AsyncSqliteSaver(conn, serde=serde)


async def _check_key(conn: Any, serde: Any) -> None:
    """Decrypt the newest encrypted checkpoint, so that a wrong key fails at once, also for
    a new thread (instead of filling one database with threads under different keys)."""
    import sqlite3

    try:
        async with conn.execute(
            "SELECT type, checkpoint FROM checkpoints WHERE type LIKE '%+%' "
            "ORDER BY rowid DESC LIMIT 1"
        ) as cur:
            row = await cur.fetchone()
    except sqlite3.OperationalError:  # a new database: no table yet
        return
    if row is not None:
        serde.loads_typed((row[0], row[1]))


# --------------------------------------------------------------------------- PostgreSQL

_PG_SCHEMES = ("postgresql://", "postgresql+psycopg://", "postgresql+psycopg2://", "postgres://")
_SETUP_LOCK = 0x46484952  # pg_advisory_lock key: one worker at a time runs the migrations


def is_postgres_url(location: str | Path | None) -> bool:
    """Whether a threads location is a PostgreSQL URL (else a SQLite file path)."""
    return isinstance(location, str) and location.startswith(_PG_SCHEMES)


def _conninfo(url: str) -> str:
    """A SQLAlchemy-style URL as a libpq URL (``postgresql+psycopg://`` → ``postgresql://``)."""
    scheme, rest = url.split("://", 1)
    return f"postgresql://{rest}" if scheme.startswith("postgres") else url


def _safe(url: str) -> str:
    """The URL without its password, for messages."""
    scheme, rest = url.split("://", 1)
    if "@" in rest:
        creds, host = rest.rsplit("@", 1)
        rest = f"{creds.split(':', 1)[0]}:***@{host}"
    return f"{scheme}://{rest}"


def _env_key(where: str) -> tuple[bytes, str]:
    for i, name in enumerate(THREADS_KEY_ENV):
        value = os.environ.get(name)
        if value:
            return _parse_key(value, f"${name}", raw_first=i > 0), f"${name}"
    raise ThreadStoreError(
        f"Threads in PostgreSQL ({where}) need the key in ${THREADS_KEY_ENV[0]} (the same on "
        "every worker; there is no key file beside a database server). Generate one with "
        '`python -c "import os, base64; print(base64.b64encode(os.urandom(32)).decode())"` '
        "and keep it safe: without it the threads cannot be read."
    )


class _Sealed:
    """A primitive channel value on its way to the blob table (see :class:`_Sealing`)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


class _Sealing:
    """Serializer wrapper: a :class:`_Sealed` value is serialized (and so encrypted) as the
    value itself; reads go straight to the encrypted serializer."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def dumps_typed(self, obj: Any) -> tuple[str, bytes]:
        if isinstance(obj, _Sealed):
            obj = obj.value
        result: tuple[str, bytes] = self.inner.dumps_typed(obj)
        return result

    def loads_typed(self, data: tuple[str, bytes]) -> Any:
        return self.inner.loads_typed(data)


def _sealed_saver_class() -> Any:
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

    class SealedPostgresSaver(AsyncPostgresSaver):
        """``AsyncPostgresSaver`` that stores no channel value inline (all encrypted)."""

        async def aput(self, config: Any, checkpoint: Any, metadata: Any, new_versions: Any) -> Any:
            sealed = dict(checkpoint)
            sealed["channel_values"] = {
                k: _Sealed(v) if v is None or isinstance(v, str | int | float | bool) else v
                for k, v in checkpoint["channel_values"].items()
            }
            return await super().aput(config, sealed, metadata, new_versions)  # type: ignore[arg-type]

    return SealedPostgresSaver


@contextlib.asynccontextmanager
async def _open_postgres(url: str) -> AsyncIterator[Any]:
    from langgraph.checkpoint.serde.encrypted import EncryptedSerializer

    where = _safe(url)
    try:
        from psycopg.rows import dict_row
        from psycopg_pool import AsyncConnectionPool
    except ImportError as exc:
        raise ThreadStoreError(
            f"Threads in PostgreSQL ({where}) need psycopg, psycopg-pool and "
            f"langgraph-checkpoint-postgres ({exc}): pip install 'fhir-record-assistant[postgres]'."
        ) from None
    key, source = _env_key(where)
    serde = _Sealing(EncryptedSerializer(_AesGcm(key, Path(where), source)))
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        _conninfo(url),
        min_size=1,
        max_size=8,
        kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
        open=False,
    )
    try:
        await pool.open(wait=True, timeout=10)
    except Exception as exc:  # psycopg_pool.PoolTimeout and connection errors
        await pool.close()
        raise ThreadStoreError(
            f"Cannot connect to the threads database {where}: {exc}. Check the URL, that "
            "PostgreSQL is running and that the role may log in."
        ) from exc
    try:
        saver = _sealed_saver_class()(pool, serde=serde)
        async with pool.connection() as conn:
            await conn.execute("SELECT pg_advisory_lock(%s)", (_SETUP_LOCK,))
            try:
                await saver.setup()
            finally:
                await conn.execute("SELECT pg_advisory_unlock(%s)", (_SETUP_LOCK,))
            cur = await conn.execute(
                "SELECT type, blob FROM checkpoint_blobs WHERE type LIKE '%%+%%' LIMIT 1"
            )
            row = await cur.fetchone()
        if row is not None:
            serde.loads_typed((row["type"], row["blob"]))
        yield saver
    finally:
        await pool.close()


@contextlib.asynccontextmanager
async def open_checkpointer(location: str | Path | None = None) -> AsyncIterator[Any]:
    """The encrypted checkpointer for ``location``: a ``postgresql://`` (or
    ``postgresql+psycopg://``) URL opens a pooled ``AsyncPostgresSaver`` (tables created on
    first use; the key from :data:`THREADS_KEY_ENV`), anything else is a SQLite path
    (:func:`open_threads`; None: :func:`default_threads_db`).

    Raises:
        ThreadStoreError: no usable key, an unreachable database, or threads written with
            another key.
    """
    if is_postgres_url(location):
        async with _open_postgres(str(location)) as saver:
            yield saver
    else:
        async with open_threads(location) as saver:
            yield saver

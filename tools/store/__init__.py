"""The embedded FHIR R4 record store.

SQLite by default (a file path or ``sqlite:///...``), or any SQLAlchemy URL such as
``postgresql+psycopg://user:pw@host/db``. Resources are kept as JSON with index tables for
the searches the assistant makes; :class:`RecordStore` implements
:class:`tools.source.RecordSource`.

::

    store = RecordStore("records.db")
    report = store.import_paths(["../shared/synthea"])      # Bundles and NDJSON
    if not report.ok: ...                                    # per-file errors in report.files
    obs = await store.search("Observation", {"patient": pid, "code": "http://loinc.org|4548-4"})
    await sync_patient(fhir_client, store, pid)              # first full, then incremental

The async methods are the :class:`~tools.source.RecordSource` protocol; for scripts and
the CLI each has a blocking twin (``read_blocking``, ``search_blocking``,
``everything_blocking``, ``patients_blocking``), and ``import_paths``, ``count``,
``type_counts``, ``delete_patient`` are blocking only. :func:`create_engine` and
:func:`write_connection` give tables kept beside the store (the service's audit trail and
thread registry) the same database settings. Search parameters: see
:mod:`tools.store._search`; validation modes: :mod:`tools.store._validation`.
"""

from tools.store._engine import create_engine, write_connection
from tools.store._report import FileReport, ImportProgress, ImportReport, ProgressCallback
from tools.store._store import RecordStore, store_url
from tools.store._sync import SyncReport, sync_all, sync_patient
from tools.store._validation import Validation

__all__ = [
    "FileReport",
    "ImportProgress",
    "ImportReport",
    "ProgressCallback",
    "RecordStore",
    "SyncReport",
    "Validation",
    "create_engine",
    "store_url",
    "sync_all",
    "sync_patient",
    "write_connection",
]

"""The store's core tests against a real PostgreSQL, skipped when none is reachable.

The server: ``$FHIR_ASSISTANT_TEST_PG_URL``, default
``postgresql+psycopg://fhir_assistant:fhir_assistant@127.0.0.1:5432/fhir_assistant_test``,
which is what ``.ci/start-postgres.sh`` (run as root on Debian 12) sets up::

    sudo .ci/start-postgres.sh && .venv/bin/pytest -m postgres

Every test works in a schema of its own (``search_path``), dropped afterwards, so runs
never see each other's rows.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.test_import import IRIS, expected_record, needs_shared, patient_bundles, read_json
from tests.test_store import (
    check_delete,
    check_everything,
    check_patients,
    check_read,
    check_search,
    check_sync,
    check_unsupported,
    load_tiny,
    patient_bundle,
    write_json,
)
from tools.errors import PatientNotFound
from tools.store import ImportProgress, RecordStore

ENV = "FHIR_ASSISTANT_TEST_PG_URL"
DEFAULT_URL = (
    "postgresql+psycopg://fhir_assistant:fhir_assistant@127.0.0.1:5432/fhir_assistant_test"
)
PG_URL = os.environ.get(ENV, DEFAULT_URL)

pytestmark = pytest.mark.postgres


def _conninfo(url: str) -> str:
    """The SQLAlchemy URL as a libpq connection string (for psycopg directly)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _unreachable() -> str | None:
    """Why PostgreSQL cannot be used here, or None when it can."""
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed: pip install -e '.[postgres]'"
    try:
        psycopg.connect(_conninfo(PG_URL), connect_timeout=3).close()
    except psycopg.Error as exc:
        safe = make_url(PG_URL).render_as_string(hide_password=True)
        return (
            f"no PostgreSQL at {safe} ({str(exc).strip().splitlines()[0]}); start one with "
            f".ci/start-postgres.sh or set {ENV}"
        )
    return None


@pytest.fixture(scope="module")
def postgres() -> None:
    reason = _unreachable()
    if reason:
        if os.environ.get("CI"):  # CI starts PostgreSQL (.ci/run): absence there is a failure
            pytest.fail(f"CI=true but {reason}")
        pytest.skip(reason)


@pytest.fixture
def pg_url(postgres: None) -> Iterator[Callable[[], str]]:
    """A factory of store URLs, each on a fresh schema."""
    import psycopg

    schemas: list[str] = []

    def new_url() -> str:
        schema = f"test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(_conninfo(PG_URL), autocommit=True) as con:
            con.execute(f'CREATE SCHEMA "{schema}"')
        schemas.append(schema)
        url = make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
        return url.render_as_string(hide_password=False)

    yield new_url
    with psycopg.connect(_conninfo(PG_URL), autocommit=True) as con:
        for schema in schemas:
            con.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def test_core_on_postgres(pg_url: Callable[[], str], tmp_path: Path) -> None:
    import psycopg

    url = pg_url()
    store = RecordStore(url)
    assert store.label.startswith("store postgresql+psycopg://fhir_assistant:***@")
    load_tiny(store, tmp_path / "data")
    check_read(store)
    check_search(store)
    check_unsupported(store)
    check_everything(store)
    check_patients(store)
    again = store.import_paths([tmp_path / "data"])
    assert (again.imported, again.updated, again.unchanged) == (0, 0, 20)
    check_delete(store)
    schema = str(make_url(url).query["options"]).split("=", 1)[1]
    with psycopg.connect(_conninfo(PG_URL)) as con:
        kind = con.execute(
            "SELECT data_type FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = 'fhir_resource' AND column_name = 'body'",
            (schema,),
        ).fetchone()
    assert kind == ("jsonb",)
    store.close()


async def test_sync_on_postgres(pg_url: Callable[[], str], tmp_path: Path) -> None:
    server = RecordStore(pg_url())
    load_tiny(server, tmp_path / "data")
    await check_sync(server, RecordStore(pg_url()))


def test_interrupt_rolls_back_on_postgres(pg_url: Callable[[], str], tmp_path: Path) -> None:
    store = RecordStore(pg_url())
    write_json(tmp_path / "a.json", patient_bundle("pa", "A"))
    write_json(tmp_path / "b.json", patient_bundle("pb", "B"))

    def interrupt(event: ImportProgress) -> None:
        if Path(event.path).name == "b.json" and event.stage == "writing":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        store.import_paths([tmp_path], progress=interrupt)
    assert store.count() == 10
    with pytest.raises(PatientNotFound):
        store.count("pb")


@needs_shared
def test_shared_import_on_postgres(pg_url: Callable[[], str]) -> None:
    """The iris-fhir-template folder: shared and patient bundles with duplicate copies."""
    store = RecordStore(pg_url())
    report = store.import_paths([IRIS])
    assert report.ok, [str(f.error) for f in report.errors]
    assert report.skipped > 0
    for path in patient_bundles():
        if path.parent == IRIS:
            pid, expected = expected_record(read_json(path))
            got = {(r["resourceType"], r["id"]) for r in store.everything_blocking(pid)}
            assert got == expected
    again = store.import_paths([IRIS])
    assert (again.imported, again.updated, again.skipped) == (0, 0, report.skipped)
    assert store.count() == report.imported

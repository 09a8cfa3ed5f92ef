"""The record store as a RecordSource: read, search, everything, patients, delete, sync.

Real SQLite files in ``tmp_path``. The ``check_*`` functions hold the assertions and take
a store, so ``tests/test_postgres.py`` runs the same core against PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import pytest

from tools.errors import (
    ConfigError,
    ImportFailed,
    PatientNotFound,
    ResourceNotFound,
    StoreError,
    UnsupportedSearch,
)
from tools.fhir_version import patient_ids_of
from tools.source import PatientRow, RecordSource, Resource, SearchParams
from tools.store import RecordStore, store_url, sync_all, sync_patient

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
CVX = "http://hl7.org/fhir/sid/cvx"
OBS_CAT = "http://terminology.hl7.org/CodeSystem/observation-category"
COND_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"


# --------------------------------------------------------------------------- test data


def _cc(system: str, code: str, display: str = "") -> dict[str, Any]:
    coding = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return {"coding": [coding], "text": display or code}


def patient_bundle(pid: str, family: str) -> dict[str, Any]:
    """A small transaction Bundle in Synthea's style: ``urn:uuid:`` fullUrls and references.

    Resource ids are ``{pid}-...`` (not the urn uuid), except one Observation that has no
    id at all (so the store must assign the uuid of its fullUrl).
    """

    def urn(name: str) -> str:
        return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'{pid}/{name}')}"

    subject = {"reference": urn("patient")}
    enc = {"reference": urn("enc")}
    lab = [_cc(OBS_CAT, "laboratory")]
    resources: list[tuple[str, dict[str, Any]]] = [
        (
            "patient",
            {
                "resourceType": "Patient",
                "id": pid,
                "identifier": [{"system": "urn:example:mrn", "value": f"{pid}-mrn"}],
                "name": [{"use": "official", "family": family, "given": ["Ana", "Maria"]}],
                "gender": "female",
                "birthDate": "1970-01-01",
            },
        ),
        (
            "enc",
            {
                "resourceType": "Encounter",
                "id": f"{pid}-enc",
                "status": "finished",
                "class": {
                    "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                    "code": "AMB",
                },
                "type": [_cc(SNOMED, "185349003", "Encounter for check up")],
                "subject": subject,
                "period": {"start": "2020-01-10T09:00:00Z", "end": "2020-01-10T10:00:00Z"},
            },
        ),
        (
            "o1",
            {
                "resourceType": "Observation",
                "id": f"{pid}-o1",
                "status": "final",
                "category": lab,
                "code": _cc(LOINC, "4548-4", "Hemoglobin A1c"),
                "subject": subject,
                "encounter": enc,
                "effectiveDateTime": "2019-06-15T10:00:00+02:00",
                "valueQuantity": {"value": 6.1, "unit": "%"},
            },
        ),
        (
            "o2",
            {
                "resourceType": "Observation",
                "id": f"{pid}-o2",
                "status": "final",
                "category": lab,
                "code": _cc(LOINC, "4548-4", "Hemoglobin A1c"),
                "subject": subject,
                "effectiveDateTime": "2020-03-01T00:30:00-05:00",
                "valueQuantity": {"value": 6.8, "unit": "%"},
            },
        ),
        (
            "o3",
            {
                "resourceType": "Observation",
                "status": "amended",
                "category": lab,
                "code": _cc(LOINC, "2160-0", "Creatinine"),
                "subject": subject,
                "effectiveDateTime": "2020-12-31T23:00:00Z",
                "valueQuantity": {"value": 1.1, "unit": "mg/dL"},
            },
        ),
        (
            "o4",
            {
                "resourceType": "Observation",
                "id": f"{pid}-o4",
                "status": "final",
                "category": [_cc(OBS_CAT, "vital-signs")],
                "code": _cc(LOINC, "85354-9", "Blood pressure panel"),
                "subject": subject,
                "effectiveDateTime": "2021-01-01",
            },
        ),
        (
            "c1",
            {
                "resourceType": "Condition",
                "id": f"{pid}-c1",
                "clinicalStatus": _cc(COND_CLINICAL, "active"),
                "category": [
                    _cc(
                        "http://terminology.hl7.org/CodeSystem/condition-category",
                        "problem-list-item",
                    )
                ],
                "code": _cc(SNOMED, "44054006", "Diabetes mellitus type 2"),
                "subject": subject,
                "onsetDateTime": "2015-05-05",
            },
        ),
        (
            "c2",
            {
                "resourceType": "Condition",
                "id": f"{pid}-c2",
                "clinicalStatus": _cc(COND_CLINICAL, "resolved"),
                "code": _cc(SNOMED, "38341003", "Hypertension"),
                "subject": subject,
                "onsetPeriod": {"start": "2010-01-01", "end": "2012-01-01"},
            },
        ),
        (
            "m1",
            {
                "resourceType": "MedicationRequest",
                "id": f"{pid}-m1",
                "status": "active",
                "intent": "order",
                "medicationCodeableConcept": _cc(RXNORM, "860975", "metformin"),
                "subject": subject,
                "encounter": enc,
                "authoredOn": "2020-01-10",
            },
        ),
        (
            "i1",
            {
                "resourceType": "Immunization",
                "id": f"{pid}-i1",
                "status": "completed",
                "vaccineCode": _cc(CVX, "140", "Influenza"),
                "patient": subject,
                "occurrenceDateTime": "2020-10-01",
            },
        ),
    ]
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": urn(name),
                "resource": resource,
                "request": {"method": "POST", "url": resource["resourceType"]},
            }
            for name, resource in resources
        ],
    }


def o3_id(pid: str) -> str:
    """The id the store assigns to the id-less Observation: the uuid of its fullUrl."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{pid}/o3"))


def write_json(path: Path, doc: Any) -> Path:
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def load_tiny(store: RecordStore, directory: Path) -> None:
    """Import the two-patient test data (p1 Garcia, p2 Okafor) into ``store``."""
    directory.mkdir(parents=True, exist_ok=True)
    write_json(directory / "p1.json", patient_bundle("p1", "Garcia"))
    write_json(directory / "p2.json", patient_bundle("p2", "Okafor"))
    report = store.import_paths([directory])
    assert report.ok, [str(f.error) for f in report.errors]
    assert report.imported == 20


def ids(resources: list[Resource]) -> list[str]:
    return [r["id"] for r in resources]


def search_ids(store: RecordStore, rtype: str, params: SearchParams) -> list[str]:
    return ids(store.search_blocking(rtype, params))


# --------------------------------------------------------------------------- checks


def check_read(store: RecordStore) -> None:
    obs = store.read_blocking("Observation/p1-o1")
    assert obs["valueQuantity"]["value"] == 6.1
    assert obs["subject"] == {"reference": "Patient/p1"}
    assert obs["encounter"] == {"reference": "Encounter/p1-enc"}
    assert obs["meta"]["versionId"] == "1"
    assert obs["meta"]["lastUpdated"].endswith("Z")
    assert store.read_blocking("Observation/p1-o1/_history/1")["id"] == "p1-o1"
    assert (
        store.read_blocking(f"Observation/{o3_id('p1')}")["code"]["coding"][0]["code"] == "2160-0"
    )
    with pytest.raises(ResourceNotFound, match="Observation/nope was not found"):
        store.read_blocking("Observation/nope")
    with pytest.raises(ResourceNotFound, match="not a `Type/id` reference"):
        store.read_blocking("nope")


def check_search(store: RecordStore) -> None:
    s = store
    o1, o2, o3, o4 = "p1-o1", "p1-o2", o3_id("p1"), "p1-o4"
    # patient / subject, in every spelling; comma = OR
    assert search_ids(s, "Observation", {"patient": "p1"}) == [o1, o2, o3, o4]
    assert search_ids(s, "Observation", {"subject": "Patient/p1"}) == [o1, o2, o3, o4]
    assert search_ids(s, "Observation", {"subject:Patient": "http://x/fhir/Patient/p1"}) == [
        o1,
        o2,
        o3,
        o4,
    ]
    assert len(search_ids(s, "Observation", {"patient": "p1,p2"})) == 8
    assert search_ids(s, "Immunization", {"patient": "p2"}) == ["p2-i1"]
    assert search_ids(s, "Patient", {"_id": "p2"}) == ["p2"]
    assert search_ids(s, "Observation", {"_id": f"{o1},p2-o1"}) == [o1, "p2-o1"]
    assert search_ids(s, "Patient", {"identifier": "urn:example:mrn|p2-mrn"}) == ["p2"]
    # code: system|code, code, |code, system|, OR
    p1: dict[str, str] = {"patient": "p1"}
    assert search_ids(s, "Observation", p1 | {"code": f"{LOINC}|4548-4"}) == [o1, o2]
    assert search_ids(s, "Observation", p1 | {"code": "4548-4"}) == [o1, o2]
    assert search_ids(s, "Observation", p1 | {"code": "|4548-4"}) == []
    assert search_ids(s, "Observation", p1 | {"code": f"{SNOMED}|4548-4"}) == []
    assert search_ids(s, "Observation", p1 | {"code": f"{LOINC}|"}) == [o1, o2, o3, o4]
    assert search_ids(s, "Observation", p1 | {"code": f"{LOINC}|4548-4,{LOINC}|2160-0"}) == [
        o1,
        o2,
        o3,
    ]
    assert search_ids(s, "MedicationRequest", p1 | {"code": f"{RXNORM}|860975"}) == ["p1-m1"]
    assert search_ids(s, "Immunization", p1 | {"code": f"{CVX}|140"}) == ["p1-i1"]
    assert search_ids(s, "Encounter", p1 | {"code": f"{SNOMED}|185349003"}) == ["p1-enc"]
    # category, status (clinicalStatus for Condition)
    assert search_ids(s, "Observation", p1 | {"category": "laboratory"}) == [o1, o2, o3]
    assert search_ids(s, "Observation", p1 | {"category": f"{OBS_CAT}|vital-signs"}) == [o4]
    assert search_ids(s, "Observation", p1 | {"status": "amended"}) == [o3]
    assert search_ids(s, "Observation", p1 | {"status": "final,amended"}) == [o1, o2, o3, o4]
    assert search_ids(s, "Condition", p1 | {"status": "active"}) == ["p1-c1"]
    assert search_ids(s, "Condition", p1 | {"clinical-status": "resolved"}) == ["p1-c2"]
    # dates: UTC ranges, partial dates, prefixes with FHIR's range semantics
    obs = "Observation"
    assert search_ids(s, obs, p1 | {"date": "2020"}) == [o2, o3]
    assert search_ids(s, obs, p1 | {"date": "2021"}) == [o4]  # o3 is 2020-12-31T23:00Z
    assert search_ids(s, obs, p1 | {"date": "eq2020-03"}) == [o2]
    assert search_ids(s, obs, p1 | {"date": "ge2020-03-01"}) == [o2, o3, o4]
    assert search_ids(s, obs, p1 | {"date": "gt2020-03-01"}) == [o3, o4]
    assert search_ids(s, obs, p1 | {"date": "lt2020-03-01"}) == [o1]
    assert search_ids(s, obs, p1 | {"date": "le2020-03"}) == [o1, o2]
    assert search_ids(s, obs, p1 | {"date": "ne2020"}) == [o1, o4]
    assert search_ids(s, obs, p1 | {"date": ["ge2020-01-01", "lt2021-01-01"]}) == [o2, o3]
    # 2019-06-15T10:00:00+02:00 is 08:00:00Z
    assert search_ids(s, obs, p1 | {"date": "2019-06-15T08:00:00Z"}) == [o1]
    assert search_ids(s, obs, p1 | {"date": "gt2019-06-15T08:00:00Z"}) == [o2, o3, o4]
    assert search_ids(s, obs, p1 | {"date": "2019-06-15T09:00:00+01:00"}) == [o1]
    # a period matches `eq` only when it lies inside the value; ge/le when it overlaps after/before
    assert search_ids(s, "Condition", p1 | {"date": "2011"}) == []
    assert search_ids(s, "Condition", p1 | {"date": "ge2011"}) == ["p1-c1", "p1-c2"]
    assert search_ids(s, "Condition", p1 | {"date": "le2009"}) == []
    assert search_ids(s, "Encounter", p1 | {"date": "2020-01-10"}) == ["p1-enc"]
    assert search_ids(s, "MedicationRequest", p1 | {"date": "ge2020-01-10"}) == ["p1-m1"]
    # _sort, _count (accepted, ignored), _lastUpdated
    assert search_ids(s, obs, p1 | {"_sort": "date"}) == [o1, o2, o3, o4]
    assert search_ids(s, obs, p1 | {"_sort": "-date"}) == [o4, o3, o2, o1]
    assert search_ids(s, obs, p1 | {"_sort": "-date", "_count": "2"}) == [o4, o3, o2, o1]
    assert (
        len(search_ids(s, obs, p1 | {"_lastUpdated": "gt2000-01-01", "_sort": "_lastUpdated"})) == 4
    )
    assert search_ids(s, obs, p1 | {"_lastUpdated": "lt2000-01-01"}) == []
    assert search_ids(s, "Observation", {"patient": "nobody"}) == []


def check_unsupported(store: RecordStore) -> None:
    cases: list[tuple[str, dict[str, str], str]] = [
        ("Observation", {"value-quantity": "gt5"}, "the parameter `value-quantity`"),
        ("Observation", {"code:text": "glucose"}, "the modifier `:text` of `code`"),
        ("Observation", {"date": "sa2020"}, "the `sa` prefix"),
        ("Observation", {"date": "2020-13"}, "`2020-13` has no month 13"),
        ("Observation", {"date": "2020-1"}, "`2020-1` is not a FHIR date"),
        ("Observation", {"date": "xx2020"}, "not a FHIR date prefix"),
        ("Observation", {"_include": "Observation:patient"}, "the parameter `_include`"),
        ("Observation", {"_sort": "code"}, "`_sort=code`"),
        ("Observation", {"_count": "many"}, "not a positive integer"),
        ("Observation", {"code": ""}, "`code` has an empty value"),
        ("Observation", {"patient": "p1,"}, "`patient` has an empty value"),
    ]
    for rtype, params, message in cases:
        with pytest.raises(UnsupportedSearch, match=message.replace("(", r"\(")):
            store.search_blocking(rtype, params)
    with pytest.raises(UnsupportedSearch, match="`Foo` is not a FHIR R4 resource type"):
        store.search_blocking("Foo", {})


def check_everything(store: RecordStore) -> None:
    record = store.everything_blocking("p1")
    assert record[0]["resourceType"] == "Patient"
    assert record[0]["id"] == "p1"
    assert len(record) == 10
    for resource in record:
        assert patient_ids_of(resource) == {"p1"}, resource
    other = {r["id"] for r in store.everything_blocking("p2")}
    assert not other & {r["id"] for r in record}
    with pytest.raises(PatientNotFound, match="Patient/nobody was not found"):
        store.everything_blocking("nobody")


def check_patients(store: RecordStore) -> None:
    rows = store.patients_blocking()
    assert rows == [
        PatientRow("p1", "Ana Maria Garcia", "1970-01-01", "female", False, 10),
        PatientRow("p2", "Ana Maria Okafor", "1970-01-01", "female", False, 10),
    ]
    assert store.count() == 20
    assert store.count("p1") == 10
    assert store.type_counts("p2") == {
        "Condition": 2,
        "Encounter": 1,
        "Immunization": 1,
        "MedicationRequest": 1,
        "Observation": 4,
        "Patient": 1,
    }
    with pytest.raises(PatientNotFound):
        store.count("nobody")


def check_delete(store: RecordStore) -> None:
    assert store.delete_patient("p2") == 10
    assert store.count() == 10
    assert [p.id for p in store.patients_blocking()] == ["p1"]
    assert store.search_blocking("Observation", {"code": "4548-4"}) != []
    assert all(patient_ids_of(r) == {"p1"} for r in store.search_blocking("Observation", {}))
    with pytest.raises(PatientNotFound):
        store.delete_patient("p2")


class RecordingSource:
    """A fake RecordSource for sync tests: a RecordStore that logs what was asked of it."""

    def __init__(self, store: RecordStore) -> None:
        self.store = store
        self.calls: list[tuple[str, str, dict[str, str]]] = []

    @property
    def label(self) -> str:
        return "fake-server"

    async def read(self, reference: str) -> Resource:
        self.calls.append(("read", reference, {}))
        return await self.store.read(reference)

    async def search(
        self, resource_type: str, params: SearchParams | None = None
    ) -> list[Resource]:
        flat = {k: v if isinstance(v, str) else ",".join(v) for k, v in (params or {}).items()}
        self.calls.append(("search", resource_type, flat))
        return await self.store.search(resource_type, params)

    async def everything(self, patient_id: str, *, since: str | None = None) -> list[Resource]:
        self.calls.append(("everything", patient_id, {"since": since} if since else {}))
        return await self.store.everything(patient_id, since=since)

    async def patients(self) -> list[PatientRow]:
        self.calls.append(("patients", "", {}))
        return await self.store.patients()

    async def aclose(self) -> None:
        self.calls.append(("aclose", "", {}))


async def check_sync(server: RecordStore, local: RecordStore) -> None:
    """``server`` holds the tiny data; ``local`` is empty."""
    source = RecordingSource(server)
    assert isinstance(source, RecordSource)

    first = await sync_patient(source, local, "p1")
    assert (first.mode, first.fetched, first.imported) == ("full", 10, 10)
    assert source.calls == [("everything", "p1", {})]
    assert first.next_since is not None
    assert local.sync_since("fake-server", "p1") == first.next_since
    assert sorted(ids(local.everything_blocking("p1"))) == sorted(
        ids(server.everything_blocking("p1"))
    )

    # the server changes one Observation and gets a new one
    changed = server.read_blocking("Observation/p1-o2")
    del changed["meta"]
    changed["valueQuantity"]["value"] = 7.2
    new = dict(server.read_blocking("Observation/p1-o1"))
    del new["meta"]
    new["id"] = "p1-o5"
    server.import_resources([changed, new], "server update")

    source.calls.clear()
    second = await sync_patient(source, local, "p1")
    assert second.mode == "incremental"
    assert second.since == first.next_since
    assert (second.fetched, second.imported, second.updated) == (2, 1, 1)
    assert source.calls == [("everything", "p1", {"since": first.next_since})]
    assert local.read_blocking("Observation/p1-o2")["valueQuantity"]["value"] == 7.2
    assert local.read_blocking("Observation/p1-o2")["meta"]["versionId"] == "2"
    assert local.count("p1") == 11

    source.calls.clear()
    third = await sync_patient(source, local, "p1")
    assert (third.mode, third.fetched, third.imported, third.updated) == ("incremental", 0, 0, 0)
    assert third.next_since == second.next_since
    assert local.count("p1") == 11

    reports = await sync_all(source, local)
    assert [(r.patient_id, r.mode, r.ok) for r in reports] == [
        ("p1", "incremental", True),
        ("p2", "full", True),
    ]
    assert local.count("p2") == 10
    missing = await sync_all(source, local, ["nobody"])
    assert isinstance(missing[0].error, PatientNotFound)


# --------------------------------------------------------------------------- tests


@pytest.fixture
def store(tmp_path: Path) -> RecordStore:
    s = RecordStore(tmp_path / "records.db")
    load_tiny(s, tmp_path / "data")
    return s


def test_read(store: RecordStore) -> None:
    check_read(store)


def test_search(store: RecordStore) -> None:
    check_search(store)


def test_unsupported_search(store: RecordStore) -> None:
    check_unsupported(store)


def test_everything_is_one_patient(store: RecordStore) -> None:
    check_everything(store)


def test_patients_and_counts(store: RecordStore) -> None:
    check_patients(store)


def test_delete_patient(store: RecordStore) -> None:
    check_delete(store)


async def test_async_record_source(store: RecordStore) -> None:
    assert isinstance(store, RecordSource)
    assert store.label.startswith("store sqlite:///")
    record, obs, patients = await asyncio.gather(
        store.everything("p1"),
        store.search("Observation", {"patient": "p1", "code": f"{LOINC}|4548-4"}),
        store.patients(),
    )
    assert len(record) == 10
    assert ids(obs) == ["p1-o1", "p1-o2"]
    assert [p.id for p in patients] == ["p1", "p2"]
    assert (await store.read("Patient/p2"))["name"][0]["family"] == "Okafor"
    with pytest.raises(ResourceNotFound):
        await store.read("Patient/p3")
    await store.aclose()


async def test_sync_incremental(store: RecordStore, tmp_path: Path) -> None:
    await check_sync(store, RecordStore(tmp_path / "local.db"))


async def test_sync_falls_back_to_everything(store: RecordStore, tmp_path: Path) -> None:
    class NoLastUpdated(RecordingSource):
        async def everything(self, patient_id: str, *, since: str | None = None) -> list[Resource]:
            if since is not None:
                raise UnsupportedSearch("this fake cannot search _lastUpdated")
            return await super().everything(patient_id)

    local = RecordStore(tmp_path / "local.db")
    source = NoLastUpdated(store)
    await sync_patient(source, local, "p1")
    again = await sync_patient(source, local, "p1")
    assert again.mode == "full"
    assert "incremental search not supported" in again.note
    assert (again.fetched, again.unchanged, again.imported) == (10, 10, 0)


def test_reimport_is_idempotent(store: RecordStore, tmp_path: Path) -> None:
    again = store.import_paths([tmp_path / "data"])
    assert again.ok
    assert (again.imported, again.updated, again.unchanged) == (0, 0, 20)
    assert store.read_blocking("Observation/p1-o1")["meta"]["versionId"] == "1"


def test_store_urls(tmp_path: Path) -> None:
    nested = tmp_path / "a" / "b" / "records.db"
    RecordStore(str(nested)).close()
    assert nested.is_file()
    assert store_url(nested) == f"sqlite:///{nested}"
    assert store_url("postgresql+psycopg://u@h/db") == "postgresql+psycopg://u@h/db"
    with RecordStore(f"sqlite:///{nested}") as again:
        assert again.count() == 0
    memory = RecordStore(":memory:")
    load_tiny(memory, tmp_path / "data")
    assert memory.count() == 20
    with pytest.raises(StoreError, match="Cannot open the record store"):
        RecordStore("nosuchdriver://x/y")


def test_sqlite_file_settings(store: RecordStore, tmp_path: Path) -> None:
    con = sqlite3.connect(tmp_path / "records.db")
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert con.execute("PRAGMA page_size").fetchone()[0] == 16384
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"fhir_resource", "fhir_resource_patient", "fhir_resource_code"} <= tables
    con.close()


def test_schema_version_mismatch(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    RecordStore(path).close()
    con = sqlite3.connect(path)
    con.execute("UPDATE fhir_store_meta SET value = '0' WHERE key = 'schema_version'")
    con.commit()
    con.close()
    with pytest.raises(StoreError, match="schema version 0"):
        RecordStore(path)


def test_import_resources_raises(tmp_path: Path) -> None:
    s = RecordStore(tmp_path / "r.db")
    with pytest.raises(ImportFailed, match="resource 1: the resource has no `resourceType`"):
        s.import_resources([{"id": "x"}])
    assert s.count() == 0


def test_bad_validation_mode(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="validation must be one of shape, full, none"):
        RecordStore(tmp_path / "r.db", validation="strict")  # type: ignore[arg-type]

"""Importing real Synthea data (../shared/synthea), NDJSON and conditional references.

Expected values are computed here from the raw JSON, independently of the store. Tests
that need the shared bundles skip cleanly when the folder is absent.
"""

from __future__ import annotations

import copy
import gzip
import json
import re
import sqlite3
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

import pytest

from tools.errors import UnresolvedReference
from tools.store import ImportProgress, RecordStore

SHARED = Path(__file__).resolve().parents[2] / "shared" / "synthea"
IRIS = SHARED / "iris-fhir-template"
NPI = "http://hl7.org/fhir/sid/us-npi"
SYNTHEA_ID = "https://github.com/synthetichealth/synthea"
TABLES = ("fhir_resource", "fhir_resource_patient", "fhir_resource_code", "fhir_identifier")

F = TypeVar("F", bound=Callable[..., Any])


def needs_shared(test: F) -> F:
    """Mark a test that reads ../shared/synthea; skip it cleanly when that is absent."""
    skip = pytest.mark.skipif(not SHARED.is_dir(), reason=f"{SHARED} is not present")
    return cast(F, pytest.mark.shared_data(skip(test)))


def raw_bundles() -> list[Path]:
    return sorted(p for p in SHARED.glob("*/*.json"))


def patient_bundles() -> list[Path]:
    return [p for p in raw_bundles() if not p.name.startswith(("hospital", "practitioner"))]


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def expected_record(bundle: dict[str, Any]) -> tuple[str, set[tuple[str, str]]]:
    """The patient id and the (type, id) of every resource of theirs in a raw bundle."""
    patient = next(e for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    pid, purl = patient["resource"]["id"], patient["fullUrl"]
    members = {("Patient", pid)}
    for entry in bundle["entry"]:
        r = entry["resource"]
        for key in ("subject", "patient", "beneficiary"):
            value = r.get(key)
            if isinstance(value, dict) and value.get("reference") == purl:
                members.add((r["resourceType"], r["id"]))
    return pid, members


def table_counts(db: Path) -> dict[str, int]:
    con = sqlite3.connect(db)
    try:
        return {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}
    finally:
        con.close()


@pytest.fixture(scope="module")
def shared_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[RecordStore, Path, Any]:
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is not present")
    db = tmp_path_factory.mktemp("shared") / "records.db"
    store = RecordStore(db)
    report = store.import_paths([SHARED])
    return store, db, report


# --------------------------------------------------------------------------- shared data


@needs_shared
def test_shared_import_matches_raw_bundles(shared_store: tuple[RecordStore, Path, Any]) -> None:
    store, _db, report = shared_store
    assert report.ok, [str(f.error) for f in report.errors]
    raw_total = sum(len(read_json(p)["entry"]) for p in raw_bundles())
    assert report.resources == raw_total
    assert report.imported + report.unchanged + report.skipped == raw_total
    notes = {Path(f.path).name: f.note for f in report.files if f.note}
    assert notes == {"manifest.json": "skipped: JSON that is not FHIR (no resourceType)"}
    # shared hospital/practitioner bundles are imported first
    assert Path(report.files[0].path).name.startswith(("hospital", "practitioner"))
    assert Path(report.files[1].path).name.startswith(("hospital", "practitioner"))
    patients = 0
    for path in patient_bundles():
        pid, expected = expected_record(read_json(path))
        got = [(r["resourceType"], r["id"]) for r in store.everything_blocking(pid)]
        assert len(got) == len(set(got)), path.name
        assert set(got) == expected, path.name
        assert store.count(pid) == len(expected)
        patients += 1
    assert patients == 30
    assert len(store.patients_blocking()) == 30


@needs_shared
def test_references_rewritten_and_resolvable(shared_store: tuple[RecordStore, Path, Any]) -> None:
    _store, db, _report = shared_store
    con = sqlite3.connect(db)
    try:
        assert (
            con.execute(
                "SELECT count(*) FROM fhir_resource WHERE body LIKE '%urn:uuid:%'"
            ).fetchone()[0]
            == 0
        )
        stored = {row[0] for row in con.execute("SELECT ref FROM fhir_resource")}
        refs: Counter[str] = Counter()
        for (body,) in con.execute("SELECT body FROM fhir_resource"):
            refs.update(re.findall(r'"reference":\s*"([^"]+)"', body))
    finally:
        con.close()
    local = {r for r in refs if not r.startswith("#")}
    assert len(local) > 5000
    assert local <= stored, sorted(local - stored)[:5]
    # the iris bundles' Encounters point at Organizations/Practitioners that exist
    for path in sorted(IRIS.glob("[A-Z]*_*.json")):
        pid, _ = expected_record(read_json(path))
        for enc in _store.search_blocking("Encounter", {"patient": pid}):
            assert enc["serviceProvider"]["reference"] in stored
            for participant in enc.get("participant", []):
                assert participant["individual"]["reference"] in stored


@needs_shared
def test_reimport_changes_nothing(shared_store: tuple[RecordStore, Path, Any]) -> None:
    store, db, first = shared_store
    before = table_counts(db)
    again = store.import_paths([SHARED])
    assert again.ok
    assert (again.imported, again.updated) == (0, 0)
    assert again.unchanged + again.skipped == first.resources
    assert again.skipped == first.skipped
    assert table_counts(db) == before
    assert before["fhir_resource"] == first.imported


@needs_shared
def test_shared_copies_keep_the_first_version(shared_store: tuple[RecordStore, Path, Any]) -> None:
    """Patient bundles repeat the hospital bundle's Organizations with other extensions."""
    store, _db, report = shared_store
    hospital = read_json(next(IRIS.glob("hospitalInformation*.json")))
    org = hospital["entry"][0]["resource"]
    stored = store.read_blocking(f"Organization/{org['id']}")
    assert stored["extension"] == org["extension"]
    assert report.skipped > 0


@needs_shared
def test_lab_search_matches_raw(shared_store: tuple[RecordStore, Path, Any]) -> None:
    store, _db, _report = shared_store
    path = next(p for p in patient_bundles() if p.name.startswith("Vito_Feeney"))
    bundle = read_json(path)
    pid, _ = expected_record(bundle)
    raw = sorted(
        e["resource"]["effectiveDateTime"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "Observation"
        and any(c["code"] == "4548-4" for c in e["resource"]["code"]["coding"])
    )
    found = store.search_blocking(
        "Observation", {"patient": pid, "code": "http://loinc.org|4548-4", "_sort": "date"}
    )
    assert [r["effectiveDateTime"] for r in found] == raw
    year = raw[0][:4]
    in_year = [d for d in raw if d.startswith(year)]
    got = store.search_blocking("Observation", {"patient": pid, "code": "4548-4", "date": year})
    assert len(got) == len(in_year)


# --------------------------------------------------------------------------- conditional refs


def _conditional_version(tmp: Path) -> dict[str, Path]:
    """Synthea-2020-style files made from the iris data: shared bundles with ifNoneExist,
    and a patient bundle whose Practitioner/Organization references are conditional."""
    shared: dict[str, Path] = {}
    by_url: dict[str, str] = {}
    for name in ("hospitalInformation", "practitionerInformation"):
        bundle = read_json(next(IRIS.glob(f"{name}*.json")))
        for entry in bundle["entry"]:
            r = entry["resource"]
            ident = r["identifier"][0]
            entry["request"]["ifNoneExist"] = f"identifier={ident['system']}|{ident['value']}"
        # unusual names: the store cannot tell from the name that they must go first
        shared[name] = tmp / f"zz_{name}.json"
        shared[name].write_text(json.dumps(bundle))
    patient = read_json(next(IRIS.glob("Carroll471*.json")))
    keep = []
    for entry in patient["entry"]:
        r = entry["resource"]
        if r["resourceType"] in ("Organization", "Practitioner"):
            ident = r["identifier"][0]
            by_url[entry["fullUrl"]] = (
                f"{r['resourceType']}?identifier={ident['system']}|{ident['value']}"
            )
        else:
            keep.append(entry)
    patient["entry"] = keep
    text = json.dumps(patient)
    for url, conditional in by_url.items():
        text = text.replace(f'"{url}"', json.dumps(conditional))
    assert "Practitioner?identifier=http://hl7.org/fhir/sid/us-npi|" in text
    shared["patient"] = tmp / "Carroll.json"
    shared["patient"].write_text(text)
    return shared


@needs_shared
def test_conditional_references_resolve_in_any_order(tmp_path: Path) -> None:
    files = _conditional_version(tmp_path)
    store = RecordStore(tmp_path / "r.db")
    report = store.import_paths(
        [files["patient"], files["hospitalInformation"], files["practitionerInformation"]]
    )
    assert report.ok, [str(f.error) for f in report.errors]
    pid = "274f5452-2a39-44c4-a7cb-f36de467762e"
    stored = {f"{r['resourceType']}/{r['id']}" for r in store.search_blocking("Organization", {})}
    stored |= {f"{r['resourceType']}/{r['id']}" for r in store.search_blocking("Practitioner", {})}
    encounters = store.search_blocking("Encounter", {"patient": pid})
    assert encounters
    for enc in encounters:
        assert enc["serviceProvider"]["reference"] in stored
        for participant in enc["participant"]:
            assert participant["individual"]["reference"].startswith("Practitioner/")
            assert participant["individual"]["reference"] in stored
    # conditional creates: importing the shared bundles again creates nothing
    count = store.count()
    again = store.import_paths([files["hospitalInformation"], files["practitionerInformation"]])
    assert again.ok
    assert (again.imported, again.updated, again.unchanged) == (0, 0, again.resources)
    assert store.count() == count


@needs_shared
def test_conditional_create_of_renamed_copy_is_not_duplicated(tmp_path: Path) -> None:
    files = _conditional_version(tmp_path)
    store = RecordStore(tmp_path / "r.db")
    assert store.import_paths([files["hospitalInformation"]]).ok
    count = store.count()
    bundle = read_json(files["hospitalInformation"])
    for entry in bundle["entry"]:
        entry["resource"]["id"] = "copy-" + entry["resource"]["id"][:30]
    copy_path = tmp_path / "copy.json"
    copy_path.write_text(json.dumps(bundle))
    report = store.import_paths([copy_path])
    assert report.ok
    assert (report.imported, report.unchanged) == (0, len(bundle["entry"]))
    assert store.count() == count


@needs_shared
def test_conditional_reference_without_target_fails(tmp_path: Path) -> None:
    files = _conditional_version(tmp_path)
    store = RecordStore(tmp_path / "r.db")
    report = store.import_paths([files["patient"]])
    assert not report.ok
    error = report.files[0].error
    assert isinstance(error, UnresolvedReference)
    assert "conditional reference `" in str(error)
    assert "matches no resource in this file or the store" in str(error)
    assert "Carroll.json" in str(error)
    assert store.count() == 0


# --------------------------------------------------------------------------- NDJSON


def _ndjson_from_bundle(bundle: dict[str, Any], directory: Path) -> dict[str, int]:
    """Bulk-data style files: one per type, references already `Type/id`."""
    urls = {
        e["fullUrl"]: f"{e['resource']['resourceType']}/{e['resource']['id']}"
        for e in bundle["entry"]
    }
    lines: dict[str, list[str]] = {}
    for entry in bundle["entry"]:
        text = json.dumps(entry["resource"])
        for url, ref in urls.items():
            text = text.replace(f'"{url}"', f'"{ref}"')
        lines.setdefault(entry["resource"]["resourceType"], []).append(text)
    for rtype, rows in lines.items():
        data = "\n".join(rows) + "\n\n"
        if rtype == "Observation":
            (directory / f"{rtype}.ndjson.gz").write_bytes(gzip.compress(data.encode()))
        else:
            (directory / f"{rtype}.ndjson").write_text(data)
    return {rtype: len(rows) for rtype, rows in lines.items()}


@needs_shared
def test_ndjson_import(tmp_path: Path) -> None:
    path = next(p for p in patient_bundles() if p.name.startswith("Clemente_Kreiger"))
    bundle = read_json(path)
    pid, expected = expected_record(bundle)
    data = tmp_path / "bulk"
    data.mkdir()
    per_type = _ndjson_from_bundle(bundle, data)
    store = RecordStore(tmp_path / "r.db")
    report = store.import_paths([data])
    assert report.ok, [str(f.error) for f in report.errors]
    assert report.resources == sum(per_type.values())
    assert {Path(f.path).name for f in report.files} >= {"Observation.ndjson.gz", "Patient.ndjson"}
    got = {(r["resourceType"], r["id"]) for r in store.everything_blocking(pid)}
    assert got == expected
    assert store.count() == len(bundle["entry"])


# --------------------------------------------------------------------------- progress


def test_progress_events(tmp_path: Path) -> None:
    from tests.test_store import patient_bundle, write_json

    write_json(tmp_path / "a.json", patient_bundle("pa", "A"))
    write_json(tmp_path / "b.json", patient_bundle("pb", "B"))
    events: list[ImportProgress] = []
    store = RecordStore(tmp_path / "r.db")
    report = store.import_paths([tmp_path], progress=events.append)
    assert report.ok
    assert [(Path(e.path).name, e.stage, e.file_index, e.files_total) for e in events] == [
        ("a.json", "writing", 0, 2),
        ("a.json", "done", 0, 2),
        ("b.json", "writing", 1, 2),
        ("b.json", "done", 1, 2),
    ]
    done = [e for e in events if e.stage == "done"]
    assert [e.report.patients if e.report else None for e in done] == [["pa"], ["pb"]]
    assert all(e.resources == 10 and e.written == 10 for e in events)


def test_collection_bundle_with_put_and_absolute_urls(tmp_path: Path) -> None:
    from tests.test_store import patient_bundle

    bundle = patient_bundle("px", "X")
    base = "https://ehr.example.org/fhir"
    urls = {}
    for entry in bundle["entry"]:
        r = entry["resource"]
        rid = r.get("id") or entry["fullUrl"][9:]
        urls[entry["fullUrl"]] = f"{base}/{r['resourceType']}/{rid}"
    text = json.dumps(bundle)
    for old, new in urls.items():
        text = text.replace(f'"{old}"', f'"{new}"')
    doc = json.loads(text)
    doc["type"] = "collection"
    for entry in doc["entry"]:
        entry.pop("request")
    enc = copy.deepcopy(doc["entry"][1])
    enc["resource"]["status"] = "cancelled"
    doc["entry"].append(enc)  # the same resource twice: the later copy wins
    path = tmp_path / "c.json"
    path.write_text(json.dumps(doc))
    store = RecordStore(tmp_path / "r.db")
    report = store.import_paths([path])
    assert report.ok, [str(f.error) for f in report.errors]
    assert report.imported == 10
    obs = store.read_blocking("Observation/px-o1")
    assert obs["subject"] == {"reference": "Patient/px"}
    assert store.read_blocking("Encounter/px-enc")["status"] == "cancelled"
    assert len(store.everything_blocking("px")) == 10

"""Every import failure: its exception type, its message, and that nothing was kept."""

from __future__ import annotations

import copy
import gzip
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.test_store import patient_bundle, write_json
from tools.errors import (
    ImportFailed,
    InvalidResource,
    MalformedJson,
    NotABundle,
    PatientNotFound,
    UnresolvedReference,
    WrongFhirVersion,
)
from tools.store import ImportProgress, RecordStore, Validation


@pytest.fixture
def store(tmp_path: Path) -> RecordStore:
    return RecordStore(tmp_path / "records.db")


def only_error(store: RecordStore, path: Path, **kwargs: Any) -> ImportFailed:
    """Import one file that must fail; return its error (the report must say not ok)."""
    report = store.import_paths([path], **kwargs)
    assert not report.ok
    assert len(report.files) == 1
    error = report.files[0].error
    assert error is not None
    assert str(path) in str(error)
    assert (report.files[0].imported, report.files[0].resources) == (0, 0)
    return error


def bundle_with(resources: list[dict[str, Any]], btype: str = "collection") -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": btype,
        "entry": [{"resource": r} for r in resources],
    }


# --------------------------------------------------------------------------- not JSON / not FHIR


def test_malformed_json_names_line_and_column(store: RecordStore, tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{\n  "resourceType": "Bundle",\n  "type": "collection"\n  "entry": []\n}\n')
    error = only_error(store, path)
    assert isinstance(error, MalformedJson)
    assert "invalid JSON at line 4, column 3" in str(error)


def test_malformed_ndjson_names_the_line(store: RecordStore, tmp_path: Path) -> None:
    good = json.dumps({"resourceType": "Patient", "id": "a"})
    path = tmp_path / "Patient.ndjson"
    path.write_text(f'{good}\n\n{{"resourceType": "Patient", "id": }}\n{good}\n')
    error = only_error(store, path)
    assert isinstance(error, MalformedJson)
    assert "NDJSON line 3, column" in str(error)
    assert store.count() == 0


def test_bad_gzip(store: RecordStore, tmp_path: Path) -> None:
    path = tmp_path / "Patient.ndjson.gz"
    path.write_bytes(b"not gzip at all")
    error = only_error(store, path)
    assert isinstance(error, MalformedJson)
    assert "not a readable gzip file" in str(error)


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ([1, 2, 3], "the JSON is not a FHIR resource, not a Bundle"),
        ({"resourceType": "Patient", "id": "x"}, "the JSON is a Patient resource, not a Bundle"),
        ({"hello": "world"}, "the JSON is not a FHIR resource, not a Bundle"),
        (
            {"resourceType": "Bundle", "type": "transaction-response", "entry": []},
            "Bundle.type is 'transaction-response'",
        ),
    ],
)
def test_not_a_bundle(store: RecordStore, tmp_path: Path, doc: Any, message: str) -> None:
    error = only_error(store, write_json(tmp_path / "x.json", doc))
    assert isinstance(error, NotABundle)
    assert message in str(error)
    assert "Import FHIR Bundles" in str(error) or "carry resources" in str(error)


def test_ndjson_line_must_be_a_resource(store: RecordStore, tmp_path: Path) -> None:
    path = tmp_path / "x.ndjson"
    path.write_text(
        json.dumps({"resourceType": "Patient", "id": "a"}) + "\n" + json.dumps([1]) + "\n"
    )
    error = only_error(store, path)
    assert isinstance(error, NotABundle)
    assert "NDJSON line 2 is not a FHIR resource" in str(error)
    bundle_line = tmp_path / "y.ndjson"
    bundle_line.write_text(json.dumps(bundle_with([])) + "\n")
    assert "NDJSON line 1 is a Bundle" in str(only_error(store, bundle_line))


def test_non_fhir_json_in_a_directory_is_skipped_not_failed(
    store: RecordStore, tmp_path: Path
) -> None:
    write_json(tmp_path / "manifest.json", {"files": []})
    write_json(tmp_path / "p1.json", patient_bundle("p1", "A"))
    report = store.import_paths([tmp_path])
    assert report.ok
    assert [(Path(f.path).name, f.note) for f in report.files if f.note] == [
        ("manifest.json", "skipped: JSON that is not FHIR (no resourceType)")
    ]


def test_missing_path(store: RecordStore, tmp_path: Path) -> None:
    report = store.import_paths([tmp_path / "nope"])
    assert not report.ok
    assert isinstance(report.files[0].error, ImportFailed)
    assert "no such file or directory" in str(report.files[0].error)


# --------------------------------------------------------------------------- FHIR versions


STU3_OBSERVATION = {
    "resourceType": "Observation",
    "id": "o",
    "status": "final",
    "code": {"text": "x"},
    "subject": {"reference": "Patient/p"},
    "context": {"reference": "Encounter/e"},
}
R5_ENCOUNTER = {
    "resourceType": "Encounter",
    "id": "e",
    "status": "completed",
    "class": [{"coding": [{"code": "AMB"}]}],
    "subject": {"reference": "Patient/p"},
    "actualPeriod": {"start": "2020-01-01"},
}


@pytest.mark.parametrize("validation", ["shape", "full", "none"])
@pytest.mark.parametrize(
    ("resource", "message"),
    [
        (STU3_OBSERVATION, "has `context`, which FHIR STU3 defines but R4 does not"),
        (R5_ENCOUNTER, "has `actualPeriod`, which FHIR R5 defines but R4 does not"),
        (
            {"resourceType": "ProcedureRequest", "id": "x", "status": "active"},
            "`ProcedureRequest` is not a FHIR R4 resource type",
        ),
        (
            {
                "resourceType": "Patient",
                "id": "p",
                "meta": {"profile": ["http://hl7.org/fhir/3.0/StructureDefinition/Patient"]},
            },
            "declares the 3.0 profile",
        ),
    ],
)
def test_wrong_fhir_version(
    store: RecordStore,
    tmp_path: Path,
    resource: dict[str, Any],
    message: str,
    validation: Validation,
) -> None:
    path = write_json(
        tmp_path / "old.json", bundle_with([{"resourceType": "Patient", "id": "p"}, resource])
    )
    error = only_error(store, path, validation=validation)
    assert isinstance(error, WrongFhirVersion)
    assert "entry 2" in str(error)
    assert message in str(error)
    assert "export the data as FHIR R4 (4.0.1)" in str(error)
    assert store.count() == 0


def test_wrong_version_hint_on_the_bundle(store: RecordStore, tmp_path: Path) -> None:
    doc = bundle_with([{"resourceType": "Patient", "id": "p"}])
    doc["meta"] = {"profile": ["http://hl7.org/fhir/R5/StructureDefinition/Bundle"]}
    error = only_error(store, write_json(tmp_path / "r5.json", doc))
    assert isinstance(error, WrongFhirVersion)
    assert "the Bundle declares the R5 profile" in str(error)


def test_unknown_r4_element_is_wrong_version_with_full_validation(
    store: RecordStore, tmp_path: Path
) -> None:
    obs = {
        "resourceType": "Observation",
        "id": "o",
        "status": "final",
        "code": {"text": "x"},
        "bodyStructureX": {"reference": "BodyStructure/b"},
    }
    error = only_error(store, write_json(tmp_path / "x.json", bundle_with([obs])))
    assert isinstance(error, WrongFhirVersion)
    assert "elements that FHIR R4 does not define (bodyStructureX)" in str(error)


# --------------------------------------------------------------------------- invalid resources


def _invalid_50th(tmp_path: Path) -> Path:
    """A 60-entry patient bundle whose 50th entry is an Observation with a numeric status."""
    bundle = patient_bundle("p9", "Nine")
    template = next(e for e in bundle["entry"] if e["resource"].get("id") == "p9-o1")
    while len(bundle["entry"]) < 60:
        extra = copy.deepcopy(template)
        n = len(bundle["entry"])
        extra["fullUrl"] = f"urn:uuid:00000000-0000-4000-8000-{n:012d}"
        extra["resource"]["id"] = f"p9-extra-{n}"
        bundle["entry"].append(extra)
    bundle["entry"][49]["resource"]["status"] = 7
    return write_json(tmp_path / "p9.json", bundle)


@pytest.mark.parametrize("validation", ["shape", "full"])
def test_invalid_50th_resource_keeps_nothing_of_the_patient(
    store: RecordStore, tmp_path: Path, validation: Validation
) -> None:
    write_json(tmp_path / "p1.json", patient_bundle("p1", "One"))
    bad = _invalid_50th(tmp_path)
    report = store.import_paths([tmp_path], validation=validation)
    assert not report.ok
    assert [Path(f.path).name for f in report.errors] == ["p9.json"]
    error = report.errors[0].error
    assert isinstance(error, InvalidResource)
    assert str(bad) in str(error)
    assert "entry 50: Observation/p9-extra-49 is not valid FHIR R4: status" in str(error)
    assert store.count("p1") == 10  # the good file of the same directory was imported
    with pytest.raises(PatientNotFound):
        store.count("p9")
    assert store.search_blocking("Observation", {"_id": "p9-o1"}) == []


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda r: r.update(effectiveDateTime="2020-02-30"), "day is out of range for month"),
        (lambda r: r.update(effectiveDateTime="yesterday"), "`yesterday` is not a FHIR date"),
        (lambda r: r.update(id="bad id!"), "`bad id!` is not a valid FHIR id"),
        (lambda r: r.update(meta={"lastUpdated": "soon"}), "`soon` is not a FHIR date"),
    ],
)
def test_values_checked_without_model_validation(
    store: RecordStore, tmp_path: Path, mutate: Any, message: str
) -> None:
    bundle = patient_bundle("p1", "One")
    mutate(bundle["entry"][2]["resource"])
    error = only_error(store, write_json(tmp_path / "p1.json", bundle), validation="none")
    assert isinstance(error, InvalidResource)
    assert "entry 3" in str(error)
    assert message in str(error)


def test_entry_without_resource_and_delete_requests(store: RecordStore, tmp_path: Path) -> None:
    doc = bundle_with([{"resourceType": "Patient", "id": "p"}], btype="transaction")
    doc["entry"].append({"request": {"method": "DELETE", "url": "Patient/q"}})
    error = only_error(store, write_json(tmp_path / "d.json", doc))
    assert "entry 2 is a DELETE request; the store imports resources only" in str(error)
    doc["entry"][1] = {"fullUrl": "urn:uuid:x"}
    error = only_error(store, write_json(tmp_path / "e.json", doc))
    assert isinstance(error, InvalidResource)
    assert "entry 2 has no `resource` object" in str(error)


# --------------------------------------------------------------------------- references


def test_urn_reference_missing_from_bundle(store: RecordStore, tmp_path: Path) -> None:
    bundle = patient_bundle("p1", "One")
    bundle["entry"] = [e for e in bundle["entry"] if e["resource"]["resourceType"] != "Encounter"]
    error = only_error(store, write_json(tmp_path / "p1.json", bundle))
    assert isinstance(error, UnresolvedReference)
    enc_urn = f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, 'p1/enc')}"
    assert f"entry 2 (Observation/p1-o1) references `{enc_urn}`" in str(error)
    assert "which no entry of this file has as its fullUrl" in str(error)
    assert store.count() == 0


def test_conditional_reference_matching_nothing(store: RecordStore, tmp_path: Path) -> None:
    bundle = patient_bundle("p1", "One")
    obs = bundle["entry"][2]["resource"]
    obs["performer"] = [{"reference": "Practitioner?identifier=http://hl7.org/fhir/sid/us-npi|999"}]
    error = only_error(store, write_json(tmp_path / "p1.json", bundle))
    assert isinstance(error, UnresolvedReference)
    assert (
        "entry 3 (Observation/p1-o1): conditional reference "
        "`Practitioner?identifier=http://hl7.org/fhir/sid/us-npi|999` matches no resource"
    ) in str(error)
    obs["performer"] = [{"reference": "Practitioner?name=Smith"}]
    error = only_error(store, write_json(tmp_path / "p1.json", bundle))
    assert "uses `name`; the store resolves only `identifier`, `_id` and `_tag` criteria" in str(
        error
    )


def test_ambiguous_conditional_reference(store: RecordStore, tmp_path: Path) -> None:
    doctors = [
        {
            "resourceType": "Practitioner",
            "id": f"d{i}",
            "identifier": [{"system": "s", "value": "1"}],
        }
        for i in (1, 2)
    ]
    assert store.import_paths([write_json(tmp_path / "d.json", bundle_with(doctors))]).ok
    bundle = patient_bundle("p1", "One")
    bundle["entry"][2]["resource"]["performer"] = [{"reference": "Practitioner?identifier=s|1"}]
    error = only_error(store, write_json(tmp_path / "p1.json", bundle))
    assert "matches 2 resources" in str(error)


# --------------------------------------------------------------------------- duplicates, versions


def test_duplicate_import_same_newer_older(store: RecordStore, tmp_path: Path) -> None:
    path = write_json(tmp_path / "p1.json", patient_bundle("p1", "One"))
    assert store.import_paths([path]).imported == 10
    same = store.import_paths([path])
    assert (same.imported, same.updated, same.unchanged) == (0, 0, 10)

    newer = patient_bundle("p1", "One")
    newer["entry"][2]["resource"]["valueQuantity"]["value"] = 9.9
    report = store.import_paths([write_json(tmp_path / "p1b.json", newer)])
    assert (report.imported, report.updated, report.unchanged) == (0, 1, 9)
    obs = store.read_blocking("Observation/p1-o1")
    assert (obs["valueQuantity"]["value"], obs["meta"]["versionId"]) == (9.9, "2")

    # a source's versioned copies: the newer meta.lastUpdated wins, an older one is skipped
    v5 = dict(obs, meta={"versionId": "5", "lastUpdated": "2030-01-01T00:00:00Z"})
    assert store.import_resources([v5]).updated == 1
    older = dict(obs, meta={"versionId": "4", "lastUpdated": "2029-01-01T00:00:00Z"})
    older["valueQuantity"] = {"value": 1.0}
    stale = store.import_resources([older])
    assert (stale.updated, stale.skipped) == (0, 1)
    current = store.read_blocking("Observation/p1-o1")
    assert current["meta"] == {"versionId": "5", "lastUpdated": "2030-01-01T00:00:00Z"}
    assert store.search_blocking("Observation", {"_lastUpdated": "2030-01-01"}) == [current]


# --------------------------------------------------------------------------- interruption


def test_interrupt_rolls_back_the_file_being_written(store: RecordStore, tmp_path: Path) -> None:
    write_json(tmp_path / "a.json", patient_bundle("pa", "A"))
    write_json(tmp_path / "b.json", patient_bundle("pb", "B"))
    seen: list[tuple[str, str, int]] = []

    def interrupt(event: ImportProgress) -> None:
        seen.append((Path(event.path).name, event.stage, event.written))
        if Path(event.path).name == "b.json" and event.stage == "writing":
            assert event.written == 10  # the rows are in the open transaction
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        store.import_paths([tmp_path], progress=interrupt)
    assert seen == [("a.json", "writing", 10), ("a.json", "done", 10), ("b.json", "writing", 10)]
    assert store.count("pa") == 10
    with pytest.raises(PatientNotFound):
        store.count("pb")
    assert store.count() == 10
    # the store is usable afterwards and the import can simply be repeated
    again = store.import_paths([tmp_path])
    assert again.ok
    assert (again.imported, again.unchanged) == (10, 10)


def test_bad_ndjson_keeps_nothing_of_the_file(store: RecordStore, tmp_path: Path) -> None:
    lines = [json.dumps({"resourceType": "Patient", "id": f"n{i}"}) for i in range(5)]
    lines.insert(3, json.dumps({"resourceType": "Patient", "id": "n9", "gender": 5}))
    path = tmp_path / "Patient.ndjson.gz"
    path.write_bytes(gzip.compress("\n".join(lines).encode()))
    error = only_error(store, path)
    assert isinstance(error, InvalidResource)
    assert "line 4: Patient/n9 is not valid FHIR R4: gender" in str(error)
    assert store.count() == 0

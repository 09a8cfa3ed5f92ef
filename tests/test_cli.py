"""End-to-end tests of the ``fhir-assistant`` command line (``surfaces.cli.app``).

Each test runs the real commands with ``typer.testing.CliRunner`` (one smoke test runs
the installed console script) against its own temporary record store, given with
``--store`` or ``$FHIR_ASSISTANT_STORE``. Expected values come from the fixture files
(``fhir_fixtures/manifest.json`` and the raw bundles), computed here with plain code,
never with the code under test.

click >= 8.2 keeps stderr apart from stdout in ``CliRunner`` results (``result.stderr``);
rich wraps long error lines on stderr, so messages are compared with blanks collapsed.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import Result
from typer.testing import CliRunner

from surfaces.cli import app
from tests.sekmet import SekmetServer, load_bundles
from tools.config import ENV_STORE
from tools.fhir_version import PATIENT_SEARCH_PARAM, patient_ids_of
from tools.store import RecordStore

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fhir_fixtures" / "patients"
MANIFEST = json.loads((ROOT / "fhir_fixtures" / "manifest.json").read_text(encoding="utf-8"))
FILES = {f["patientId"]: f for f in MANIFEST["files"]}
CLEOTILDE = "4b54bebd-7f01-4a33-8494-0214dc432e46"  # chronic: HbA1c, BP, CKD
DEBORA = "3f96088f-1f08-47cd-b67b-a57e269ce08b"  # diabetes, non-ASCII name
LUIGI = "85c63cf3-278e-454c-b5ba-df5889815eb7"  # imaging
ADAN = "2ccc21b0-f707-43eb-a896-248f843c1308"  # tiny record
EXCLUDED_STATUS = {"entered-in-error", "cancelled"}
CITE = re.compile(r"\[([A-Za-z]+/[A-Za-z0-9\-.]+)\]")

runner = CliRunner()


def invoke(store: Path, *args: str) -> Result:
    """Run the CLI on ``store``; never let an exception escape as a pass."""
    result = runner.invoke(app, ["--store", str(store), *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def one_line(text: str) -> str:
    """Blanks collapsed (rich wraps long stderr lines at 80 columns)."""
    return " ".join(text.split())


def fixture_path(patient_id: str) -> Path:
    return ROOT / "fhir_fixtures" / FILES[patient_id]["file"]


def raw_record(patient_id: str) -> list[dict[str, Any]]:
    """The patient's resources from the raw bundle: ``urn:uuid:`` references rewritten to
    ``Type/id`` (fixture ids equal their uuids), compartment members only."""
    bundle = json.loads(fixture_path(patient_id).read_text(encoding="utf-8"))
    urls = {
        e["fullUrl"]: f"{e['resource']['resourceType']}/{e['resource']['id']}"
        for e in bundle["entry"]
    }
    text = json.dumps([e["resource"] for e in bundle["entry"]])
    for url, ref in urls.items():
        text = text.replace(f'"{url}"', f'"{ref}"')
    return [r for r in json.loads(text) if patient_id in patient_ids_of(r)]


def store_refs(store: Path, patient_id: str) -> set[str]:
    rs = RecordStore(store)
    try:
        return {f"{r['resourceType']}/{r['id']}" for r in rs.everything_blocking(patient_id)}
    finally:
        rs.close()


def store_count(store: Path) -> int:
    rs = RecordStore(store)
    try:
        return rs.count()
    finally:
        rs.close()


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Result]:
    """A store holding the five fixture patients (imported once for the module)."""
    store = tmp_path_factory.mktemp("cli") / "records.db"
    return store, invoke(store, "import", str(FIXTURES))


# --------------------------------------------------------------------------- import


def test_import_fixtures_then_reimport_is_idempotent(imported: tuple[Path, Result]) -> None:
    store, first = imported
    total = sum(f["entries"] for f in MANIFEST["files"])
    assert first.exit_code == 0, first.output
    assert f"5 file(s), {total} resources in" in first.stdout, first.stdout
    assert (
        f": {total} new, 0 updated, 0 unchanged, 0 skipped; 5 patient record(s) changed"
        in first.stdout
    )
    assert first.stderr == ""
    assert store_count(store) == total

    again = invoke(store, "import", str(FIXTURES))
    assert again.exit_code == 0, again.output
    assert f": 0 new, 0 updated, {total} unchanged, 0 skipped" in again.stdout, again.stdout
    assert store_count(store) == total


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("malformed", "invalid JSON at line"),
        ("not-a-bundle", "the JSON is a Patient resource, not a Bundle"),
        ("missing", "no such file or directory"),
    ],
)
def test_import_failures(tmp_path: Path, kind: str, message: str) -> None:
    store = tmp_path / "records.db"
    target = tmp_path / f"{kind}.json"
    if kind == "malformed":  # a real bundle cut short: nothing of it may be kept
        text = fixture_path(ADAN).read_text(encoding="utf-8")
        target.write_text(text[: len(text) // 2], encoding="utf-8")
    elif kind == "not-a-bundle":
        target.write_text(json.dumps({"resourceType": "Patient", "id": "p1"}), encoding="utf-8")
    result = invoke(store, "import", str(target))
    assert result.exit_code != 0
    assert message in one_line(result.stderr), result.stderr
    if kind != "missing":
        assert str(target) in one_line(result.stderr)
    assert message not in result.stdout
    assert not store.exists() or store_count(store) == 0


# --------------------------------------------------------------------------- patients


def test_patients_json_and_table(imported: tuple[Path, Result]) -> None:
    store, _ = imported
    result = invoke(store, "patients", "--json")
    assert result.exit_code == 0, result.output
    rows = {row["id"]: row for row in json.loads(result.stdout)}
    assert set(rows) == set(FILES)
    for pid, f in FILES.items():
        row = rows[pid]
        assert row["name"] == f["name"]
        assert row["birth_date"] == f["birthDate"]
        assert row["gender"] == f["gender"]
        assert row["deceased"] is f["deceased"]
        own = raw_record(pid)
        assert row["resource_count"] == len(own), pid
        # the compartment types counted from the file agree with the manifest
        # (Provenance only partly targets the patient, so it is not compared)
        counts = Counter(r["resourceType"] for r in own)
        for rtype, n in f["resourceCounts"].items():
            if rtype in PATIENT_SEARCH_PARAM and rtype != "Provenance":
                assert counts[rtype] == n, (pid, rtype)

    table = invoke(store, "patients")
    assert table.exit_code == 0, table.output
    lines = table.stdout.splitlines()
    assert lines[0].split()[:2] == ["id", "name"]
    for pid, f in FILES.items():
        (line,) = [ln for ln in lines if ln.startswith(pid)]
        assert f["name"] in line
        assert line.rstrip().endswith(str(rows[pid]["resource_count"]))
        assert ("(deceased)" in line) is f["deceased"]


# --------------------------------------------------------------------------- record tools


def test_summarize_json_citations_resolve_to_the_patient(imported: tuple[Path, Result]) -> None:
    store, _ = imported
    result = invoke(store, "summarize", "--patient", CLEOTILDE, "--budget", "1500", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["patient"] == CLEOTILDE
    assert data["text"].startswith(f"Summary of Patient/{CLEOTILDE}")
    assert data["tokens"] <= data["budget"] == 1500
    own = store_refs(store, CLEOTILDE)
    assert data["citations"]
    assert set(data["citations"]) <= own
    assert f"Patient/{CLEOTILDE}" in data["citations"]
    # clinical problems first: type 2 diabetes complications, not social history
    problems = data["text"].split("Active problems")[1].split("Active medications")[0]
    assert "Chronic kidney disease stage 2" in problems
    assert "Received higher education" not in problems
    for handle in data["handles"]:
        assert f"{handle}]" in data["text"] or f"{handle}," in data["text"]


def _raw_points(patient_id: str, code: str) -> list[tuple[str, float, str]]:
    """(date, value, Observation/id) of every usable value of a LOINC code, top level or
    component, from the raw bundle."""
    out = []
    for r in raw_record(patient_id):
        if r["resourceType"] != "Observation" or r.get("status") in EXCLUDED_STATUS:
            continue
        holders = [r, *r.get("component", [])]
        for h in holders:
            if any(c.get("code") == code for c in h.get("code", {}).get("coding", [])):
                q = h.get("valueQuantity")
                if q and "value" in q:
                    out.append(
                        (r["effectiveDateTime"][:10], float(q["value"]), f"Observation/{r['id']}")
                    )
    return sorted(out)


def test_trend_json_equals_the_raw_observations(imported: tuple[Path, Result]) -> None:
    store, _ = imported
    result = invoke(store, "trend", "HbA1c", "--patient", CLEOTILDE, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    for key in ("code", "display", "unit", "points", "n", "latest", "slope_per_year", "direction"):
        assert key in data
    expected = _raw_points(CLEOTILDE, "4548-4")
    assert expected
    assert all(v < 15 for _, v, _ in expected)  # the entered-in-error 15.2 % is out
    got = sorted((p["date"], p["value"], p["ref"]) for p in data["points"])
    assert got == expected
    assert data["code"] == "4548-4"
    assert data["unit"] == "%"
    assert data["n"] == len(expected)
    last = max(expected)
    assert (data["latest"]["date"], data["latest"]["value"]) == last[:2]
    assert isinstance(data["slope_per_year"], float)
    assert data["direction"] in ("rising", "falling", "stable")


def test_trend_blood_pressure(imported: tuple[Path, Result]) -> None:
    store, _ = imported
    result = invoke(store, "trend", "blood pressure", "--patient", CLEOTILDE, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["code"] == "8480-6"
    assert [s["code"] for s in data["series"]] == ["8480-6", "8462-4"]
    for series in data["series"]:
        expected = _raw_points(CLEOTILDE, series["code"])
        # each measurement is one point; a second Observation of the same instant and value
        # (the fixture records BP both as panel components and alone) is cited in `also`
        got = sorted(
            (p["date"], p["value"], ref) for p in series["points"] for ref in [p["ref"], *p["also"]]
        )
        assert got == expected
        assert len(series["points"]) == len({(d, v) for d, v, _ in expected})
        assert series["unit"] == "mm[Hg]"
    text = invoke(store, "trend", "blood pressure", "--patient", CLEOTILDE)
    assert text.exit_code == 0
    assert text.stdout.index("Systolic") < text.stdout.index("Diastolic")


def test_trend_unknown_name(imported: tuple[Path, Result]) -> None:
    store, _ = imported
    result = invoke(store, "trend", "unobtainium", "--patient", CLEOTILDE)
    assert result.exit_code == 1
    assert "Unknown lab or vital 'unobtainium'" in one_line(result.stderr)
    assert result.stdout == ""


def test_brief_json(imported: tuple[Path, Result]) -> None:
    store, _ = imported
    result = invoke(store, "brief", "--patient", DEBORA, "--extractive", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    md = data["text"]
    assert md.startswith("# Pre-visit brief: Débora Nazario")
    assert list(data["sections"])[:3] == ["Patient", "Active problems", "Current medications"]
    assert list(data["sections"])[-1] == "Social history"
    problems = [line["text"] for line in data["sections"]["Active problems"]]
    assert problems[0].startswith("Diabetes mellitus type 2")
    social = " ".join(line["text"] for line in data["sections"]["Social history"])
    assert "Received higher education" in social
    assert not any("Received higher education" in p for p in problems)
    own = store_refs(store, DEBORA)
    assert set(data["citations"]) <= own
    for line in md.splitlines():
        if line.startswith("- ") and not line.startswith(("- none recorded", "- No ", "- _+")):
            assert CITE.search(line), line


@pytest.mark.parametrize("command", ["summarize", "brief", "trend"])
def test_unknown_patient(imported: tuple[Path, Result], command: str) -> None:
    store, _ = imported
    args = [command, "--patient", "no-such-patient"] + (["HbA1c"] if command == "trend" else [])
    result = invoke(store, *args)
    assert result.exit_code == 1
    assert "Patient/no-such-patient was not found" in one_line(result.stderr)
    assert result.stdout == ""


def test_demo_with_the_store_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = tmp_path / "demo.db"
    monkeypatch.setenv(ENV_STORE, str(store))
    result = runner.invoke(app, ["demo", "--extractive"])
    assert result.exit_code == 0, result.output
    for pid, f in FILES.items():
        assert pid in result.stdout
        assert f["name"] in result.stdout
    assert store_count(store) == sum(f["entries"] for f in MANIFEST["files"])


def test_console_script_smoke(tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("fhir-assistant")
    if not exe.exists():
        pytest.skip(f"{exe} is not installed")
    env = {**os.environ, ENV_STORE: str(tmp_path / "smoke.db")}
    done = subprocess.run(
        [str(exe), "import", str(fixture_path(ADAN))],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    brief = subprocess.run(
        [str(exe), "brief", "--patient", ADAN, "--extractive"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert brief.returncode == 0, brief.stderr
    assert brief.stdout.startswith("# Pre-visit brief: Adan Moen")


# --------------------------------------------------------------------------- sync


def _compartment(loaded: Any) -> dict[tuple[str, str], dict[str, Any]]:
    """The loaded bundle's patient-compartment resources, with the server's ids and the
    references rewritten to them (judged with patient_ids_of, like the store does)."""
    text = json.dumps(loaded.resources)
    for url, ref in loaded.assigned.items():
        text = text.replace(f'"{url}"', f'"{ref}"')
    pid = loaded.patient_id
    return {
        (r["resourceType"], r["id"]): r
        for r in json.loads(text)
        if r["resourceType"] in PATIENT_SEARCH_PARAM and pid in patient_ids_of(r)
    }


_REPORT = re.compile(
    r"Patient/(?P<pid>\S+): (?P<mode>full|incremental) sync(?: since \S+)?: (?P<fetched>\d+) fetched, "
    r"(?P<new>\d+) new, (?P<updated>\d+) updated, (?P<unchanged>\d+) unchanged"
)


def _report(result: Result) -> dict[str, Any]:
    assert result.exit_code == 0, result.output
    m = _REPORT.search(result.stdout)
    assert m, result.stdout
    return {k: (int(v) if v.isdigit() else v) for k, v in m.groupdict().items()}


@dataclass
class SyncRun:
    """Three syncs of one patient into an empty store: first, again, after one PUT."""

    pid: str
    store: Path
    expected: dict[tuple[str, str], dict[str, Any]]
    reports: list[dict[str, Any]]
    holdings: list[tuple[Counter[str], set[tuple[str, str]]]]
    changed: str  # the Observation changed on the server
    new_value: float
    stored_value: float


@pytest.fixture(scope="module")
def sync_run(sekmet_server: SekmetServer, tmp_path_factory: pytest.TempPathFactory) -> SyncRun:
    """The imaging fixture patient loaded into sekmet (which assigns new ids), then synced
    three times with the CLI: into an empty store, again, and after a PUT of one
    Observation on the server."""
    (loaded,) = load_bundles(sekmet_server.base_url, [fixture_path(LUIGI)])
    assert loaded.patient_id
    base, pid = sekmet_server.base_url, loaded.patient_id
    expected = _compartment(loaded)
    store = tmp_path_factory.mktemp("sync") / "synced.db"

    def holdings() -> tuple[Counter[str], set[tuple[str, str]]]:
        rs = RecordStore(store)
        try:
            everything = rs.everything_blocking(pid)
            assert rs.count() == len(everything)  # nothing beyond the patient's record
            return Counter(rs.type_counts()), {(r["resourceType"], r["id"]) for r in everything}
        finally:
            rs.close()

    run = SyncRun(pid, store, expected, [], [], "", 0.0, 0.0)
    for step in range(3):
        if step == 2:  # change one Observation on the server
            run.changed = next(
                rid for (rtype, rid), r in sorted(expected.items())
                if rtype == "Observation" and "valueQuantity" in r
            )  # fmt: skip
            url = f"{base}/Observation/{run.changed}"
            with httpx.Client(timeout=30) as client:
                current = client.get(url, headers={"Accept": "application/fhir+json"}).json()
                run.new_value = current["valueQuantity"]["value"] + 1.5
                current["valueQuantity"]["value"] = run.new_value
                put = client.put(
                    url,
                    content=json.dumps(current).encode(),
                    headers={
                        "Content-Type": "application/fhir+json",
                        "Accept": "application/fhir+json",
                    },
                )
                assert put.status_code in (200, 201), put.text[:500]
        run.reports.append(_report(invoke(store, "sync", "--source", base, "--patient", pid)))
        run.holdings.append(holdings())
    rs = RecordStore(store)
    try:
        run.stored_value = rs.read_blocking(f"Observation/{run.changed}")["valueQuantity"]["value"]
    finally:
        rs.close()
    return run


@pytest.mark.integration
def test_sync_copies_the_compartment_and_then_only_the_change(sync_run: SyncRun) -> None:
    first, second, third = sync_run.reports
    n = len(sync_run.expected)
    # into an empty store: exactly the patient's compartment, with the server's ids
    assert first["pid"] == sync_run.pid
    assert (first["mode"], first["fetched"], first["new"], first["updated"]) == ("full", n, n, 0)
    counts, keys = sync_run.holdings[0]
    assert counts == Counter(t for t, _ in sync_run.expected)
    assert keys == set(sync_run.expected)
    # again: nothing changes
    assert (second["new"], second["updated"], second["unchanged"]) == (0, 0, second["fetched"])
    assert sync_run.holdings[1] == sync_run.holdings[0]
    # after one PUT: exactly that resource is updated, nothing else
    assert (third["new"], third["updated"]) == (0, 1)
    assert third["unchanged"] == third["fetched"] - 1
    assert sync_run.holdings[2] == sync_run.holdings[0]
    assert sync_run.stored_value == sync_run.new_value


@pytest.mark.integration
def test_sync_after_the_first_is_incremental(sync_run: SyncRun) -> None:
    _first, second, third = sync_run.reports
    assert (second["mode"], second["fetched"]) == ("incremental", 0)
    assert (third["mode"], third["fetched"]) == ("incremental", 1)

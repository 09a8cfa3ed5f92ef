"""The CLI's draft → approve → write-back commands and the appointment batch, on a real
store (``brief --draft``, ``approve``, ``reject``, ``drafts``, ``batch --appointments``),
with their ``--json`` outputs; the batch also on sekmet-fhir."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from typer.testing import CliRunner

import surfaces.drafting as drafting
from surfaces.cli import app
from tests.agent_fixtures import ADAN, CLEOTILDE, DEBORA, agent_store  # noqa: F401
from tests.sekmet import running_sekmet
from tools.errors import FhirServerError
from tools.store import RecordStore
from tools.writeback import attachment_text

runner = CliRunner()
DAY = "2031-05-06"


def invoke(store: Path | str, *args: str) -> Result:
    result = runner.invoke(app, ["--store", str(store), *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


@pytest.fixture
def store(agent_store: Path, tmp_path: Path) -> Path:  # noqa: F811
    path = tmp_path / "records.db"
    shutil.copy(agent_store, path)
    return path


def appointment(aid: str, patient: str, start: str, status: str = "booked") -> dict[str, Any]:
    return {
        "resourceType": "Appointment",
        "id": aid,
        "status": status,
        "start": start,
        "end": start.replace(":00:00", ":30:00"),
        "participant": [
            {"actor": {"reference": f"Patient/{patient}"}, "status": "accepted"},
            {"actor": {"reference": "Practitioner/dr-1"}, "status": "accepted"},
        ],
    }


APPOINTMENTS = [
    appointment("a-1", CLEOTILDE, f"{DAY}T09:00:00Z"),
    appointment("a-2", DEBORA, f"{DAY}T10:00:00Z"),
    appointment("a-3", "not-in-this-store", f"{DAY}T11:00:00Z"),
    appointment("a-4", ADAN, f"{DAY}T12:00:00Z", status="cancelled"),
    appointment("a-5", ADAN, "2031-05-07T09:00:00Z"),
]


def test_brief_draft_approve_reject(store: Path, tmp_path: Path) -> None:
    made = invoke(store, "brief", "--patient", CLEOTILDE, "--extractive", "--draft", "--json")
    assert made.exit_code == 0, made.output
    data = json.loads(made.stdout)
    draft_id = data["draft_id"]
    assert data["status"] == "draft"
    assert data["markdown"].startswith("# Pre-visit brief: Cleotilde Ruecker")

    with RecordStore(store) as records:
        before = records.count()
    approved = invoke(store, "approve", draft_id, "--approver", "Practitioner/dr-7", "--json")
    assert approved.exit_code == 0, approved.output
    written = json.loads(approved.stdout)["written"]
    assert [w.split("/")[0] for w in written] == ["Device", "DocumentReference", "Provenance"]
    again = invoke(store, "approve", draft_id, "--json")
    assert json.loads(again.stdout)["written"] == written
    assert not json.loads(again.stdout)["created"]
    human = invoke(store, "approve", draft_id)
    assert human.stdout.startswith("Already written (nothing new): Device/")
    with RecordStore(store) as records:
        assert records.count() == before + 3

    # an edited approval of a second draft, in human form
    second = invoke(store, "brief", "--patient", CLEOTILDE, "--extractive", "--draft")
    assert "draft_id: " in second.stdout
    second_id = second.stdout.split("draft_id: ")[1].split()[0]
    edit = tmp_path / "edited.md"
    edit.write_text("# Pre-visit brief\n- Reviewed; nothing to add.\n", encoding="utf-8")
    done = invoke(store, "approve", second_id, "--edit", str(edit))
    assert done.exit_code == 0, done.output
    assert done.stdout.startswith("Written (with the approver's edits): Device/")
    doc_ref = done.stdout.split(", ")[1].strip()
    with RecordStore(store) as records:
        assert attachment_text(records.read_blocking(doc_ref)) == edit.read_text()

    third = json.loads(invoke(store, "brief", "--patient", DEBORA, "--extractive", "--draft", "--json").stdout)  # fmt: skip
    rejected = invoke(store, "reject", third["draft_id"], "--reason", "wrong patient context", "--json")  # fmt: skip
    assert json.loads(rejected.stdout)["status"] == "rejected"
    refused = invoke(store, "approve", third["draft_id"])
    assert refused.exit_code == 1
    assert "was rejected" in refused.stderr
    missing = invoke(store, "approve", "nosuchdraft")
    assert missing.exit_code == 1
    assert "No draft 'nosuchdraft'" in missing.stderr

    listed = json.loads(invoke(store, "drafts", "--json").stdout)
    assert {d["id"]: d["status"] for d in listed} == {
        draft_id: "written",
        second_id: "written",
        third["draft_id"]: "rejected",
    }


def test_batch_appointments_resumable(store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with RecordStore(store) as records:
        records.import_resources(APPOINTMENTS, "appointments")
    real = drafting.extractive_markdown
    calls: list[str] = []

    async def flaky(source: Any, patient_id: str) -> Any:
        """A FAULT INJECTOR: the first run's read of Débora's record fails."""
        calls.append(patient_id)
        if patient_id == DEBORA and calls.count(DEBORA) == 1:
            raise FhirServerError(503, "http://fault.invalid/everything", body="injected")
        return await real(source, patient_id)

    monkeypatch.setattr(drafting, "extractive_markdown", flaky)
    first = invoke(store, "batch", "--appointments", DAY, "--json")
    assert first.exit_code == 0, first.output
    report = json.loads(first.stdout)
    assert report["appointments"] == 3  # booked ones of that day only
    outcomes = {i["appointment"]: i["outcome"] for i in report["items"]}
    assert outcomes == {"Appointment/a-1": "drafted", "Appointment/a-2": "failed",
                        "Appointment/a-3": "failed"}  # fmt: skip
    errors = {i["appointment"]: i["error"] for i in report["items"] if i["error"]}
    assert "injected" in errors["Appointment/a-2"]
    assert "PatientNotFound" in errors["Appointment/a-3"]
    assert "[3/3]" in first.stderr  # progress on stderr

    # run again: the done draft is not redone, the failed one is retried
    second = json.loads(invoke(store, "batch", "--appointments", DAY, "--json").stdout)
    outcomes = {i["appointment"]: i["outcome"] for i in second["items"]}
    assert outcomes == {"Appointment/a-1": "done-before", "Appointment/a-2": "drafted",
                        "Appointment/a-3": "failed"}  # fmt: skip
    assert calls.count(CLEOTILDE) == 1
    drafts = json.loads(invoke(store, "drafts", "--status", "draft", "--json").stdout)
    assert sorted(d["appointment"] for d in drafts) == ["Appointment/a-1", "Appointment/a-2"]
    summary = invoke(store, "batch", "--appointments", DAY)
    assert "0 drafted, 2 done before, 1 failed" in summary.stdout
    assert "FAILED  Appointment/a-3" in summary.stdout
    bad = invoke(store, "batch", "--appointments", "tomorrow")
    assert bad.exit_code == 2


@pytest.mark.integration
def test_batch_on_sekmet(tmp_path: Path, agent_store: Path) -> None:  # noqa: F811
    from tests.sekmet import load_bundles

    root = Path(__file__).resolve().parents[1] / "fhir_fixtures" / "patients"
    bundle = next(root.glob(f"*{CLEOTILDE}.json"))
    with running_sekmet(tmp_path / "sekmet") as server:
        (loaded,) = load_bundles(server.base_url, [bundle])
        import httpx

        for a in (appointment("x", str(loaded.patient_id), f"{DAY}T08:00:00Z"),):
            body = {k: v for k, v in a.items() if k != "id"}
            assert httpx.post(f"{server.base_url}/Appointment", json=body).status_code == 201
        drafts_db = tmp_path / "drafts.db"
        result = invoke(drafts_db, "batch", "--appointments", DAY, "--source", server.base_url, "--json")  # fmt: skip
        assert result.exit_code == 0, result.output
        report = json.loads(result.stdout)
        assert report["drafted"] == 1, report
        draft_id = report["items"][0]["draft_id"]
        approved = invoke(drafts_db, "approve", draft_id, "--source", server.base_url, "--json")
        assert approved.exit_code == 0, approved.output
        written = json.loads(approved.stdout)["written"]
        doc = httpx.get(f"{server.base_url}/{written[1]}").json()
        assert doc["context"]["related"][0]["reference"].startswith("Appointment/")

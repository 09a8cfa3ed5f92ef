"""The draft endpoints end to end, in process: real app, store, agent, verifier, audit and
write-back; only the chat model is scripted (a FAKE named as such)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest

from surfaces.service import create_app
from tests.agent_fixtures import (
    ADAN,
    CLEOTILDE,
    agent_store,  # noqa: F401  (fixture)
)
from tests.service_fixtures import (
    api_key,
    deployment,
    scripted,
    service_client,
    threads_key_env,  # noqa: F401  (fixture)
)
from tools.audit import AuditLog
from tools.store import RecordStore
from tools.writeback import attachment_text


def outcome(resp: httpx.Response, status: int, code: str) -> str:
    assert resp.status_code == status, resp.text[:500]
    body = resp.json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["code"] == code, body
    return str(body["issue"][0]["diagnostics"])


@pytest.fixture
def store(agent_store: Path, tmp_path: Path) -> Path:  # noqa: F811
    """A private copy of the fixture store: these tests write into it."""
    path = tmp_path / "records.db"
    shutil.copy(agent_store, path)
    return path


async def test_draft_approve_reject_over_http(store: Path, tmp_path: Path) -> None:
    app = create_app(deployment(store, tmp_path), model=scripted(), insecure_no_auth=True)
    async with service_client(app) as c:
        made = await c.post(f"/v1/patients/{CLEOTILDE}/drafts", json={"kind": "brief"})
        assert made.status_code == 201, made.text
        draft = made.json()
        draft_id = draft["id"]
        assert draft["status"] == "draft"
        assert draft["extractive"]
        assert draft["markdown"].startswith("# Pre-visit brief: Cleotilde Ruecker")
        assert all(c["version"] for c in draft["citations"])

        md = await c.get(f"/v1/drafts/{draft_id}", headers={"Accept": "text/markdown"})
        assert md.headers["content-type"].startswith("text/markdown")
        assert md.text == draft["markdown"]

        # nothing is written before a person approves
        text = outcome(await c.post(f"/v1/drafts/{draft_id}/write"), 428, "business-rule")
        assert "has not been approved" in text

        edited = draft["markdown"] + "\nReviewed.\n"
        ok = await c.post(
            f"/v1/drafts/{draft_id}/approve",
            json={"edits": edited, "practitioner": "Practitioner/dr-9", "display": "Dr Nine"},
        )
        assert ok.status_code == 200, ok.text
        result = ok.json()
        assert result["created"]
        assert result["edited"]
        kinds = [r.split("/")[0] for r in result["written"]]
        assert kinds == ["Device", "DocumentReference", "Provenance"]
        again = (await c.post(f"/v1/drafts/{draft_id}/approve", json={})).json()
        assert again["written"] == result["written"]
        assert not again["created"]
        assert (await c.post(f"/v1/drafts/{draft_id}/write")).json()["written"] == result["written"]

        listed = (await c.get(f"/v1/patients/{CLEOTILDE}/drafts")).json()["drafts"]
        assert [(d["id"], d["status"]) for d in listed] == [(draft_id, "written")]

        other = (await c.post(f"/v1/patients/{CLEOTILDE}/drafts", json={})).json()
        rejected = await c.post(f"/v1/drafts/{other['id']}/reject", json={"reason": "outdated"})
        assert rejected.json()["status"] == "rejected"
        assert rejected.json()["feedback"][0]["reason"] == "outdated"
        text = outcome(await c.post(f"/v1/drafts/{other['id']}/approve", json={}), 409, "conflict")
        assert "rejected" in text
        outcome(await c.get("/v1/drafts/nosuchdraft"), 404, "not-found")
        outcome(
            await c.post(f"/v1/patients/{CLEOTILDE}/drafts", json={"kind": "answer"}),
            422,
            "business-rule",
        )

    with RecordStore(store) as records:
        doc = records.read_blocking(result["document"])
        assert attachment_text(doc) == edited
        assert doc["authenticator"]["reference"] == "Practitioner/dr-9"
        prov = records.read_blocking(result["provenance"])
        verifier = next(a for a in prov["agent"] if a["type"]["coding"][0]["code"] == "verifier")
        assert verifier["who"]["identifier"]["value"] == "insecure-local"
        assert verifier["who"]["display"] == "Dr Nine"


async def test_model_brief_draft(store: Path, tmp_path: Path) -> None:
    app = create_app(deployment(store, tmp_path), model=scripted(), insecure_no_auth=True)
    async with service_client(app) as c:
        made = await c.post(
            f"/v1/patients/{ADAN}/drafts",
            json={"kind": "brief", "extractive": False, "appointment": "Appointment/a-1"},
        )
        assert made.status_code == 201, made.text
        draft = made.json()
        assert not draft["extractive"]
        assert draft["answer"]["mode"] == "brief"
        assert draft["appointment"] == "Appointment/a-1"
        assert draft["model"]["deployment"] == "test-service"
        assert len(draft["model"]["config_hash"]) == 16


async def test_draft_scopes_and_audit(store: Path, tmp_path: Path) -> None:
    reader, reader_entry = api_key("reader", scopes=("system/*.rs",))
    writer, writer_entry = api_key("writer", scopes=("system/*.cruds",))
    dep = deployment(store, tmp_path, service={"auth": {"api_keys": [reader_entry, writer_entry]}})
    app = create_app(dep, model=scripted())
    async with service_client(app) as c:
        made = await c.post(
            f"/v1/patients/{CLEOTILDE}/drafts", json={}, headers={"X-API-Key": reader}
        )
        assert made.status_code == 201
        draft_id = made.json()["id"]
        refused = await c.post(
            f"/v1/drafts/{draft_id}/approve", json={}, headers={"X-API-Key": reader}
        )
        outcome(refused, 403, "forbidden")
        ok = await c.post(f"/v1/drafts/{draft_id}/approve", json={}, headers={"X-API-Key": writer})
        assert ok.status_code == 200, ok.text
        outcome(await c.post(f"/v1/drafts/{draft_id}/approve", json={}), 401, "login")
    log = AuditLog(tmp_path / "service.db")
    entries: list[Any] = [e for e in log.entries() if e.action.startswith("draft.")]
    log.close()
    approvals = [e for e in entries if e.action == "draft.approve"]
    assert [(e.who, e.status) for e in approvals] == [("api-key:reader", 403), ("api-key:writer", 200), ("anonymous", 401)]  # fmt: skip
    assert approvals[1].interaction == "transaction"
    assert approvals[1].patient_id == CLEOTILDE
    assert approvals[1].resources == ok.json()["written"]

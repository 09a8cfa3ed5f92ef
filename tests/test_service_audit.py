"""The audit trail of the HTTP service: one committed entry per request that touches a
record, FHIR R4 AuditEvents shaped after IHE BALP (endpoint and CLI export), a request that
fails when its audit write fails, and logs without PHI."""

from __future__ import annotations

import base64
import io
import json
import logging
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from surfaces.cli import app as cli
from surfaces.service import create_app
from surfaces.service._logging import configure_logging
from tests.agent_fixtures import ADAN, CLEOTILDE, agent_store  # noqa: F401
from tests.service_fixtures import (
    answering,
    api_key,
    deployment,
    scripted,
    service_client,
    sse_events,
    threads_key_env,  # noqa: F401
)
from tools.audit import BALP, AuditLog, PatientIdHasher
from tools.fhir_version import validate

QUESTION = "Is the warfarin still right for her atrial fibrillation?"


@pytest.fixture
def keyed(agent_store: Path, tmp_path: Path) -> tuple[Any, str, str]:  # noqa: F811
    key, entry = api_key("lab-engine", ("system/*.rs",))
    siem_key, siem = api_key("siem", ("system/AuditEvent.rs",))
    dep = deployment(agent_store, tmp_path, service={"auth": {"api_keys": [entry, siem]}})
    return dep, key, siem_key


async def test_every_record_request_is_audited_and_exported(keyed: tuple[Any, str, str]) -> None:
    dep, key, siem_key = keyed
    model = scripted([answering("Warfarin is an active medication.", "E32")])
    app = create_app(dep, model=model)
    headers = {"X-API-Key": key, "X-Purpose-Of-Use": "ETREAT"}
    async with service_client(app) as c:
        summary = await c.get(f"/v1/patients/{CLEOTILDE}/summary", headers=headers)
        search = await c.get("/v1/patients", params={"name": "cleotilde"}, headers=headers)
        ask = await c.post(
            f"/v1/patients/{CLEOTILDE}/ask",
            json={"question": QUESTION},
            headers={**headers, "Accept": "text/event-stream"},
        )
        missing = await c.get("/v1/patients/nobody-here/summary", headers=headers)
        anonymous = await c.get(f"/v1/patients/{ADAN}/summary")
        assert (await c.get("/health")).status_code == 200  # touches no record: not audited
        assert [r.status_code for r in (summary, search, ask, missing, anonymous)] == [
            200,
            200,
            200,
            404,
            401,
        ]
        exported = await c.get("/v1/audit", headers={"X-API-Key": siem_key})
    entries = AuditLog(dep.service.database).entries()
    # five record requests, then the audit read itself
    assert [e.action for e in entries] == [
        "patient.summary",
        "patients.search",
        "ask",
        "patient.summary",
        "patient.summary",
        "audit.read",
    ]
    s, q, a, m, anon, _ = entries
    assert s.who == "api-key:lab-engine"
    assert s.client == "lab-engine"
    assert s.purpose == "ETREAT"
    assert s.patient_id == CLEOTILDE
    assert s.request_id == summary.headers["x-request-id"]
    assert s.resource_counts["Observation"] > 100
    assert f"Patient/{CLEOTILDE}" in s.resources
    assert s.deployment == "test-service"
    assert len(s.config_hash) == 16
    assert (s.status, s.error, s.insecure) == (200, None, False)
    assert q.interaction == "search-type"
    assert q.query == "name=cleotilde"
    assert q.patients_found == [CLEOTILDE]
    assert a.interaction == "operation"
    assert a.model == "scripted-fake-model"
    assert a.thread_id == sse_events(ask.text)[0][1]["thread_id"]
    assert [r.split("/")[0] for r in a.resources] == ["MedicationRequest"]
    assert (m.status, m.error) == (404, "PatientNotFound")
    assert (anon.who, anon.status, anon.error) == ("anonymous", 401, "AuthenticationRequired")

    bundle = exported.json()
    assert bundle["resourceType"] == "Bundle"
    events = [e["resource"] for e in bundle["entry"]]
    for event in events:
        validate(event)  # FHIR R4 (fhir.resources R4B)
    by_id = {e["id"]: e for e in events}
    read = by_id[s.id]
    assert read["meta"]["profile"] == [BALP + "PatientRead"]
    assert read["subtype"][0]["code"] == "read"
    assert read["action"] == "R"
    assert read["outcome"] == "0"
    roles = {ag["type"]["coding"][0]["code"] for ag in read["agent"]}
    assert roles == {"IRCP", "110152", "110153"}
    user = next(ag for ag in read["agent"] if ag["requestor"])
    assert user["purposeOfUse"][0]["coding"][0]["code"] == "ETREAT"
    patient = next(en for en in read["entity"] if en.get("role", {}).get("code") == "1")
    assert patient["what"]["reference"] == f"Patient/{CLEOTILDE}"
    assert {"type": "resources-read:Patient", "valueString": "1"} in patient["detail"]
    query = by_id[f"{q.id}-1"]
    assert query["meta"]["profile"] == [BALP + "PatientQuery"]
    raw = next(en["query"] for en in query["entity"] if en.get("role", {}).get("code") == "24")
    assert base64.b64decode(raw).decode() == "GET /v1/patients?name=cleotilde"
    op = by_id[a.id]
    assert op["subtype"][0]["code"] == "operation"
    model_agent = next(ag for ag in op["agent"] if ag["type"]["coding"][0]["code"] == "110150")
    assert model_agent["name"] == "scripted-fake-model"
    cited = [
        en["what"]["reference"] for en in op["entity"] if en.get("role", {}).get("code") == "4"
    ]
    assert cited == a.resources
    failed = by_id[m.id]
    assert failed["outcome"] == "4"
    assert "PatientNotFound" in failed["outcomeDesc"]
    assert "meta" not in failed  # BALP's profiles describe successes only

    # the same events from the command line, as NDJSON
    config = Path(dep.service.database).with_name("deployment.toml")
    config.write_text(_toml(dep))
    out = Path(dep.service.database).with_name("audit.ndjson")
    result = CliRunner().invoke(
        cli, ["audit", "export", "--config", str(config), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert {e["id"] for e in lines} == {e["id"] for e in events} | {entries[-1].id}
    later = CliRunner().invoke(
        cli, ["audit", "export", "--config", str(config), "--since", "2999-01-01"]
    )
    assert later.exit_code == 0
    assert later.stdout == ""


def _toml(dep: Any) -> str:
    return (
        f'name = "{dep.name}"\n[model]\nbackend = "openai"\nbase_url = "http://127.0.0.1:9/v1"\n'
        f'model = "m"\n[source]\nkind = "store"\nurl = "{dep.source.url}"\n'
        f'[service]\ndatabase = "{dep.service.database}"\n'
    )


async def test_a_failed_audit_write_fails_the_request(agent_store: Path, tmp_path: Path) -> None:  # noqa: F811
    dep = deployment(agent_store, tmp_path)
    app = create_app(
        dep,
        model=scripted([answering("Warfarin is an active medication.", "E32")]),
        insecure_no_auth=True,
    )
    async with service_client(app) as c:
        assert (await c.get(f"/v1/patients/{CLEOTILDE}/summary")).status_code == 200
        with sqlite3.connect(dep.service.database) as db:  # the audit table disappears
            db.execute("DROP TABLE service_audit")
        summary = await c.get(f"/v1/patients/{CLEOTILDE}/summary")
        assert summary.status_code == 503
        body = summary.json()
        assert body["resourceType"] == "OperationOutcome"
        assert "audit entry" in body["issue"][0]["diagnostics"]
        assert "Cleotilde" not in summary.text  # nothing of the record left the service
        stream = await c.post(
            f"/v1/patients/{CLEOTILDE}/ask",
            json={"question": QUESTION},
            headers={"Accept": "text/event-stream"},
        )
        events = sse_events(stream.text)
        assert events[-1][0] == "error"
        assert "answer" not in [name for name, _ in events]
        assert "audit entry" in events[-1][1]["issue"][0]["diagnostics"]


async def test_logs_carry_no_phi(
    agent_store: Path,  # noqa: F811
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    dep = deployment(agent_store, tmp_path)
    hasher = PatientIdHasher(b"test-log-key")
    text = io.StringIO()
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    handler = configure_logging(hasher, level=logging.DEBUG, stream=text)
    root.addHandler(caplog.handler)  # raw records too (before the redacting filter)
    try:
        model = scripted([answering("Warfarin is an active medication.", "E32")])
        app = create_app(dep, model=model, insecure_no_auth=True)
        async with service_client(app) as c:
            await c.get(
                "/v1/patients", params={"name": "Cleotilde Ruecker", "birthdate": "1947-02-12"}
            )
            await c.get(f"/v1/patients/{CLEOTILDE}/summary")
            await c.get(f"/v1/patients/{CLEOTILDE}/trends/HbA1c")
            resp = await c.post(
                f"/v1/patients/{CLEOTILDE}/ask",
                json={"question": QUESTION},
                headers={"Accept": "text/event-stream"},
            )
            thread = sse_events(resp.text)[0][1]["thread_id"]
            await c.post(
                f"/v1/patients/{CLEOTILDE}/ask", json={"question": QUESTION, "thread_id": thread}
            )
            await c.get(f"/v1/threads/{thread}")
            await c.get(f"/v1/patients/{CLEOTILDE}-x/summary")  # a 404 with an id in its message
    finally:
        root.handlers, _ = saved
        root.setLevel(saved[1])
    handler.flush()
    written = text.getvalue()
    raw = "\n".join(r.getMessage() for r in caplog.records if r.levelno >= logging.INFO)
    assert "audit ask" in written  # the service did log the requests
    assert "patient=p-" in written  # patients appear as keyed hashes
    hba1c = [v for v in ("6.058", "3.014")]  # values of her record
    forbidden = [
        CLEOTILDE,
        "Cleotilde",
        "Ruecker",
        "1947-02-12",
        "warfarin",
        "Warfarin",
        "atrial",
        "fibrillation",
        *hba1c,
    ]
    for word in forbidden:
        where = written.find(word)
        assert where < 0, (
            f"{word!r} in the service log: {written[max(0, where - 300) : where + 50]}"
        )
        assert word not in raw, f"{word!r} in a log record"

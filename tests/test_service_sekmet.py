"""The service reading a real FHIR server (sekmet-fhir, a private instance): record
endpoints and ask work on the server's ids, /ready reports the source, and when the
server goes down every record request answers 503 naming what to check (nothing cached
is served as if it were current)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from surfaces.service import create_app
from tests.agent_fixtures import DEBORA
from tests.sekmet import load_bundles, running_sekmet
from tests.service_fixtures import (
    answering,
    deployment,
    scripted,
    service_client,
    sse_events,
    threads_key_env,  # noqa: F401
)
from tools.audit import AuditLog

pytestmark = [pytest.mark.integration]

FIXTURES = Path(__file__).resolve().parents[1] / "fhir_fixtures"


async def test_fhir_source_up_then_down(tmp_path: Path) -> None:
    manifest = json.loads((FIXTURES / "manifest.json").read_text())
    path = next(FIXTURES / f["file"] for f in manifest["files"] if DEBORA in f["file"])
    with running_sekmet(tmp_path / "sekmet") as server:
        (bundle,) = load_bundles(server.base_url, [path])
        pid = bundle.patient_id
        assert pid
        dep = deployment(
            tmp_path / "unused.db",
            tmp_path,
            source={
                "kind": "fhir",
                "base_url": server.base_url,
                "limits": {"max_retries": 0, "timeout_s": 5},
            },
        )
        model = scripted([answering("The record of this patient was loaded.", "E1")])
        app = create_app(dep, model=model, insecure_no_auth=True)
        async with service_client(app) as c:
            ready = await c.get("/ready")
            assert ready.status_code == 200, ready.text
            assert ready.json()["source"]["detail"] == server.base_url
            summary = await c.get(f"/v1/patients/{pid}/summary")
            assert summary.status_code == 200, summary.text[:300]
            assert f"Patient/{pid}" in summary.json()["citations"]
            asked = await c.post(f"/v1/patients/{pid}/ask", json={"question": "Who is this?"})
            assert asked.status_code == 200, asked.text[:300]
            assert asked.json()["cited"][0]["reference"] == f"Patient/{pid}"
            found = (await c.get("/v1/patients", params={"name": "Debora"})).json()
            assert [p["id"] for p in found["patients"]] == [pid]

            server.process.terminate()  # the FHIR server goes away
            server.process.wait(10)

            down = await c.get(f"/v1/patients/{pid}/summary")
            assert down.status_code == 503
            assert int(down.headers["retry-after"]) > 0
            issue = down.json()["issue"][0]
            assert issue["code"] == "transient"
            assert server.base_url in issue["diagnostics"]
            assert "Check" in issue["diagnostics"]
            stream = await c.post(
                f"/v1/patients/{pid}/ask",
                json={"question": "Who is this?"},
                headers={"Accept": "text/event-stream"},
            )
            assert stream.status_code == 503  # refused before the stream began
            assert stream.json()["resourceType"] == "OperationOutcome"
            ready = await c.get("/ready")
            assert ready.status_code == 503
            body = ready.json()
            assert body["source"]["ok"] is False
            assert body["model"]["ok"] is True
            assert body["store"]["ok"] is True
    failed = [e for e in AuditLog(dep.service.database).entries() if e.status == 503]
    assert [e.error for e in failed] == ["FhirUnreachable", "FhirUnreachable"]


def test_sse_helper_parses_comments_and_multiline() -> None:
    text = ': ping\n\nevent: token\ndata: {"text": "a"}\n\nevent: answer\ndata: {"x":\ndata: 1}\n'
    assert sse_events(text) == [("token", {"text": "a"}), ("answer", {"x": 1})]

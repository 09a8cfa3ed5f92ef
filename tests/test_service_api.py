"""The HTTP service end to end, in process: real app, store, agent, verifier, audit and
checkpointer; only the chat model is scripted (a FAKE named as such).

Every error body must be an OperationOutcome; every request that touches a record is
audited (more in test_service_audit.py); auth is off here (``insecure_no_auth``) and
tested in test_service_auth.py.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from agent.errors import BackendProtocolError
from agent.models import ChatResult, Message
from agent.run import thread_answers
from surfaces.service import create_app
from tests.agent_fixtures import (
    ADAN,
    CLEOTILDE,
    DEBORA,
    ScriptedChatModel,
    agent_store,  # noqa: F401  (fixture)
    composed,
    tools,
)
from tests.service_fixtures import (
    answering,
    deployment,
    scripted,
    service_client,
    sse_events,
    threads_key_env,  # noqa: F401  (fixture)
    uvicorn_thread,
    wait_for,
)

#: prose asked for, which the model writes (code answers a list or a judgement it holds)
QUESTION = "Describe her anticoagulation for atrial fibrillation in detail."


def is_outcome(resp: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert resp.status_code == status, resp.text[:500]
    body = resp.json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"]
    assert all(i["diagnostics"] for i in body["issue"])
    if code:
        assert body["issue"][0]["code"] == code, body
    assert resp.headers["x-request-id"]
    return body


@pytest.fixture
def dep(agent_store: Path, tmp_path: Path) -> Any:  # noqa: F811
    return deployment(agent_store, tmp_path, service={"limits": {"max_question_chars": 300}})


async def test_record_endpoints(dep: Any) -> None:
    app = create_app(dep, model=scripted(), insecure_no_auth=True)
    async with service_client(app) as c:
        everyone = (await c.get("/v1/patients")).json()
        assert everyone["count"] == 5
        assert {p["name"] for p in everyone["patients"]} >= {"Cleotilde Ruecker", "Adan Moen"}
        found = (await c.get("/v1/patients", params={"name": "cleotilde"})).json()
        assert [p["id"] for p in found["patients"]] == [CLEOTILDE]
        born = (await c.get("/v1/patients", params={"birthdate": "1947-02-12"})).json()
        assert [p["id"] for p in born["patients"]] == [CLEOTILDE]
        none = (await c.get("/v1/patients", params={"name": "Nobody Atall"})).json()
        assert none == {"patients": [], "count": 0}

        summary = (await c.get(f"/v1/patients/{CLEOTILDE}/summary", params={"budget": 600})).json()
        assert "Cleotilde Ruecker" in summary["text"]
        assert f"Patient/{CLEOTILDE}" in summary["citations"]
        assert summary["tokens"] <= 600

        hba1c = (await c.get(f"/v1/patients/{CLEOTILDE}/trends/HbA1c")).json()
        series = hba1c["trends"][0]
        assert series["code"] == "4548-4"
        assert series["n"] >= 2
        assert all(p["ref"].startswith("Observation/") for p in series["points"])
        every = (await c.get(f"/v1/patients/{CLEOTILDE}/trends")).json()
        assert "HbA1c" in {t["display"] for t in every["trends"]}

        png = await c.get(f"/v1/patients/{CLEOTILDE}/trends/HbA1c/plot")
        assert png.status_code == 200
        assert png.headers["content-type"] == "image/png"
        assert png.content.startswith(b"\x89PNG\r\n\x1a\n")

        brief = (await c.get(f"/v1/patients/{CLEOTILDE}/brief/extractive")).json()
        assert brief["markdown"].startswith("# Pre-visit brief: Cleotilde Ruecker")
        assert "Active problems" in brief["sections"]
        assert brief["citations"]


async def test_ask_thread_follow_up_read_and_delete(dep: Any) -> None:
    model = scripted([answering("Warfarin is an active medication.", "E32")])
    app = create_app(dep, model=model, insecure_no_auth=True)
    async with service_client(app) as c:
        first = await c.post(f"/v1/patients/{CLEOTILDE}/ask", json={"question": QUESTION})
        assert first.status_code == 200, first.text
        a1 = first.json()
        assert [s["text"] for s in a1["sentences"]] == ["Warfarin is an active medication."]
        assert a1["sentences"][0]["references"][0].startswith("MedicationRequest/")
        thread = a1["thread_id"]
        assert thread
        assert first.headers["x-thread-id"] == thread
        assert '"model_calls":1' in first.headers["x-model-usage"]
        per_call = json.loads(first.headers["x-model-usage"])["calls"]
        assert len(per_call) == 1
        assert {"prompt_tokens", "cached_prompt_tokens", "ttft_s", "seconds"} <= per_call[0].keys()

        second = await c.post(
            f"/v1/patients/{CLEOTILDE}/ask",
            json={"question": "And is it still active?", "thread_id": thread},
        )
        assert second.status_code == 200
        assert second.json()["thread_id"] == thread
        # the follow-up prompt carries the first turn
        assert QUESTION in model.calls[-1][-1].text

        listed = (await c.get(f"/v1/patients/{CLEOTILDE}/threads")).json()["threads"]
        assert [(t["thread_id"], t["turns"]) for t in listed] == [(thread, 2)]
        detail = (await c.get(f"/v1/threads/{thread}")).json()
        assert [a["question"] for a in detail["answers"]] == [QUESTION, "And is it still active?"]

        assert (await c.delete(f"/v1/threads/{thread}")).status_code == 204
        is_outcome(await c.get(f"/v1/threads/{thread}"), 404, "not-found")
        assert await thread_answers(thread, checkpointer=app.state.service.checkpointer) == []
        # the thread is gone for ask too
        gone = await c.post(
            f"/v1/patients/{CLEOTILDE}/ask", json={"question": "Again?", "thread_id": thread}
        )
        is_outcome(gone, 404, "not-found")


async def test_ask_streams_events_then_the_verified_answer(dep: Any) -> None:
    model = scripted(
        [
            tools(("record_summary", {"section": "medications"})),
            answering("Warfarin is an active medication.", "E32"),
        ],
        repeat=False,
    )
    app = create_app(dep, model=model, insecure_no_auth=True)
    async with service_client(app) as c:
        resp = await c.post(
            f"/v1/patients/{CLEOTILDE}/ask",
            # (a question code does not read, so the model plans and writes: "what does she
            # take?" is her current medications, which code answers)
            json={"question": "What does she rely on?"},
            headers={"Accept": "text/event-stream"},
        )
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        events = sse_events(resp.text)
    names = [e for e, _ in events]
    assert names[0] == "thread"
    assert names[-1] == "answer"
    assert names[-2] == "usage"
    assert "error" not in names
    drafted = "".join(d["text"] for e, d in events if e == "token")
    assert "Warfarin is an active medication." in drafted
    starts = {d["call_id"]: d for e, d in events if e == "tool_start"}
    ends = {d["call_id"]: d for e, d in events if e == "tool_end"}
    assert starts
    assert starts.keys() == ends.keys()
    assert any(d["tool"] == "record_summary" for d in starts.values())
    assert any(e == "status" for e, _ in events)
    final = events[-1][1]
    assert final["thread_id"] == events[0][1]["thread_id"]
    assert [s["text"] for s in final["sentences"]] == ["Warfarin is an active medication."]
    assert events[-2][1]["model_calls"] == 2


async def test_ask_streams_the_records_entries_before_the_model_writes(dep: Any) -> None:
    """The `record` event: what the question's own searches found, cited and marked
    extractive, before the first model call; the verified answer still comes last."""
    model = scripted([composed(("She is allergic to Lisinopril.", ["E35"]))], repeat=False)
    app = create_app(dep, model=model, insecure_no_auth=True)
    async with service_client(app) as c:
        resp = await c.post(
            f"/v1/patients/{DEBORA}/ask",
            json={"question": "Describe her allergies in detail."},
            headers={"Accept": "text/event-stream"},
        )
        events = sse_events(resp.text)
    names = [e for e, _ in events]
    assert names.index("record") < names.index("model_start")
    record = next(d for e, d in events if e == "record")
    assert len(record["sentences"]) == 2
    assert all(x["status"] == "extractive" and x["references"] for x in record["sentences"])
    assert any("Lisinopril" in x["text"] for x in record["sentences"])
    assert names[-1] == "answer"


class FailsMidStream(ScriptedChatModel):
    """A FAKE model: streams a draft, then its server breaks the connection (once)."""

    name = "scripted-fake-model-fails-once"

    def __init__(self, steps: Sequence[Any]) -> None:
        super().__init__(steps, repeat=True)
        self.failed = False

    async def generate(self, messages: Sequence[Message], **kw: Any) -> ChatResult[Any]:
        if not self.failed:
            self.failed = True
            on_token = kw.get("on_token")
            if on_token is not None:
                on_token('{"action": "answer", "calls": [], "sentences": [{"text": "Warf')
            raise BackendProtocolError("The model server broke the connection mid-answer.")
        return await super().generate(messages, **kw)


async def test_model_failing_mid_stream_ends_with_error_and_retry_works(dep: Any) -> None:
    model = FailsMidStream([answering("Warfarin is an active medication.", "E32")])
    app = create_app(dep, model=model, insecure_no_auth=True)
    async with service_client(app) as c:
        resp = await c.post(
            f"/v1/patients/{CLEOTILDE}/ask",
            json={"question": QUESTION},
            headers={"Accept": "text/event-stream"},
        )
        events = sse_events(resp.text)
        assert events[-1][0] == "error"
        assert "answer" not in [e for e, _ in events]
        issue = events[-1][1]["issue"][0]
        assert issue["code"] == "exception"
        assert "broke the connection" in issue["diagnostics"]
        thread = events[0][1]["thread_id"]
        retry = await c.post(
            f"/v1/patients/{CLEOTILDE}/ask", json={"question": QUESTION, "thread_id": thread}
        )
        assert retry.status_code == 200, retry.text
        assert retry.json()["sentences"][0]["text"] == "Warfarin is an active medication."
        detail = (await c.get(f"/v1/threads/{thread}")).json()
        assert [a["question"] for a in detail["answers"]] == [QUESTION]  # one turn, consistent


async def test_bad_input_gets_clear_operation_outcomes(dep: Any) -> None:
    app = create_app(dep, model=scripted(), insecure_no_auth=True)
    ask = f"/v1/patients/{CLEOTILDE}/ask"
    async with service_client(app) as c:
        bad_json = await c.post(
            ask, content=b'{"question": ', headers={"content-type": "application/json"}
        )
        is_outcome(bad_json, 400, "structure")
        not_json = await c.post(ask, content=b"question=hi", headers={"content-type": "text/plain"})
        is_outcome(not_json, 400, "structure")
        missing = is_outcome(await c.post(ask, json={}), 422, "required")
        assert missing["issue"][0]["expression"] == ["body.question"]
        is_outcome(await c.post(ask, json={"question": "x", "extra": 1}), 422)
        long = is_outcome(await c.post(ask, json={"question": "why " * 100}), 413, "too-long")
        assert "400 characters" in long["issue"][0]["diagnostics"]
        assert "at most 300" in long["issue"][0]["diagnostics"]
        unknown = is_outcome(await c.post(ask, json={"question": "x", "thread_id": "nope"}), 404)
        assert "nope" in unknown["issue"][0]["diagnostics"]
        nobody = is_outcome(await c.get("/v1/patients/no-such-patient/summary"), 404, "not-found")
        assert "Patient/no-such-patient was not found" in nobody["issue"][0]["diagnostics"]
        is_outcome(await c.post("/v1/patients/no-such-patient/ask", json={"question": "x"}), 404)
        is_outcome(await c.get(f"/v1/patients/{CLEOTILDE}/trends/unobtainium"), 404, "not-found")
        is_outcome(await c.get("/v1/patients/bad%20id!/summary"), 422)
        is_outcome(await c.get(f"/v1/patients/{CLEOTILDE}/summary?budget=5"), 422)
        is_outcome(await c.get("/v1/no-such-endpoint"), 404, "not-found")
        is_outcome(await c.put(f"/v1/patients/{CLEOTILDE}/summary"), 405)
        huge = await c.post(
            ask, content=b"x" * 70_000, headers={"content-type": "application/json"}
        )
        is_outcome(huge, 413, "too-long")

        # a thread stays with its patient
        first = (await c.post(ask, json={"question": "Hello?"})).json()
        other = await c.post(
            f"/v1/patients/{ADAN}/ask", json={"question": "x", "thread_id": first["thread_id"]}
        )
        body = is_outcome(other, 404, "not-found")
        assert "another patient" in body["issue"][0]["diagnostics"]


async def test_full_queue_answers_503_with_retry_after(agent_store: Path, tmp_path: Path) -> None:  # noqa: F811
    dep = deployment(agent_store, tmp_path, service={"limits": {"queue_length": 0}})
    release = asyncio.Event()

    class SlowModel(ScriptedChatModel):
        """A FAKE model whose answer waits for the test."""

        async def generate(self, messages: Sequence[Message], **kw: Any) -> ChatResult[Any]:
            await release.wait()
            return await super().generate(messages, **kw)

    app = create_app(dep, model=SlowModel([answering()], repeat=True), insecure_no_auth=True)
    async with service_client(app) as c:
        ask = f"/v1/patients/{CLEOTILDE}/ask"
        first = asyncio.create_task(c.post(ask, json={"question": "one?"}))
        await wait_for(lambda: app.state.service.gate.running == 1)
        busy = await c.post(ask, json={"question": "two?"})
        body = is_outcome(busy, 503, "transient")
        assert int(busy.headers["retry-after"]) >= 1
        assert "nothing was done" in body["issue"][0]["diagnostics"]
        # record endpoints do not wait for the model
        assert (await c.get(f"/v1/patients/{CLEOTILDE}/summary")).status_code == 200
        release.set()
        assert (await first).status_code == 200


def test_disconnect_cancels_the_run(agent_store: Path, tmp_path: Path) -> None:  # noqa: F811
    dep = deployment(agent_store, tmp_path)
    seen: dict[str, bool] = {}

    class HangingModel(ScriptedChatModel):
        """A FAKE model that drafts a few words and then never finishes on its own."""

        async def generate(self, messages: Sequence[Message], **kw: Any) -> ChatResult[Any]:
            on_token = kw.get("on_token")
            if on_token is not None:
                on_token('{"action": "answer", "calls": [], "sentences": [{"text": "Warfarin is ')
            seen["started"] = True
            try:
                await asyncio.Event().wait()
            finally:
                seen["cancelled"] = True
            raise AssertionError("unreachable")

    app = create_app(dep, model=HangingModel([]), insecure_no_auth=True)
    with uvicorn_thread(app) as base, httpx.Client(base_url=base, timeout=30) as c:
        with c.stream(
            "POST",
            f"/v1/patients/{CLEOTILDE}/ask",
            json={"question": QUESTION},
            headers={"Accept": "text/event-stream"},
        ) as resp:
            for line in resp.iter_lines():
                if line.startswith("data:") and "Warfarin" in line:
                    break  # the draft arrived; hang up
        limit = time.monotonic() + 10
        while not seen.get("cancelled") and time.monotonic() < limit:
            time.sleep(0.05)
        assert seen.get("started")
        assert seen.get("cancelled")
        state = app.state.service
        limit = time.monotonic() + 10
        while state.gate.running and time.monotonic() < limit:
            time.sleep(0.05)
        assert state.gate.running == 0
        entries = state.audit.entries()
        while not entries or entries[-1].status != 499:
            assert time.monotonic() < limit
            time.sleep(0.05)
            entries = state.audit.entries()
        assert entries[-1].action == "ask"
        assert entries[-1].error == "ClientDisconnected"


async def test_openapi_documents_models_errors_and_security(dep: Any) -> None:
    app = create_app(dep, model=scripted(), insecure_no_auth=True)
    async with service_client(app) as c:
        schema = (await c.get("/openapi.json")).json()
    comps = schema["components"]
    assert {"bearer", "apiKey"} <= comps["securitySchemes"].keys()
    assert "OperationOutcome" in comps["schemas"]
    assert "HTTPValidationError" not in comps["schemas"]
    paths = schema["paths"]
    for path in (
        "/v1/patients",
        "/v1/patients/{patient_id}/summary",
        "/v1/patients/{patient_id}/trends/{measure}",
        "/v1/patients/{patient_id}/trends/{measure}/plot",
        "/v1/patients/{patient_id}/brief/extractive",
        "/v1/patients/{patient_id}/brief/model",
        "/v1/patients/{patient_id}/ask",
        "/v1/patients/{patient_id}/warm",
        "/v1/patients/{patient_id}/threads",
        "/v1/threads/{thread_id}",
        "/v1/audit",
        "/health",
        "/ready",
    ):
        assert path in paths, path
    for path, item in paths.items():
        if not path.startswith("/v1/"):
            continue
        for op in item.values():
            assert op["security"] == [{"bearer": []}, {"apiKey": []}]
            for status in ("401", "403", "500"):
                ref = op["responses"][status]["content"]["application/fhir+json"]["schema"]["$ref"]
                assert ref.endswith("/OperationOutcome")
    ask = paths["/v1/patients/{patient_id}/ask"]["post"]["responses"]["200"]["content"]
    assert {"application/json", "text/event-stream"} <= ask.keys()
    answer_schema = comps["schemas"]["AnswerOut"]["properties"]
    assert {"sentences", "cited", "dropped", "usage", "thread_id", "text"} <= answer_schema.keys()

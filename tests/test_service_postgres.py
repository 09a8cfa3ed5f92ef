"""Stateless workers on one PostgreSQL: two real ``fhir-assistant serve`` processes share the
store, the audit trail, the thread registry and the (encrypted) checkpoints; a thread
started on one continues on the other.

The model is the OpenAI-compatible backend pointed at a scripted loopback server (a FAKE
model server: it replays one plan answer), so both workers are exactly what a hospital
runs with vLLM, minus the GPU.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import orjson
import pytest

from tests.agent_fixtures import CLEOTILDE
from tests.models_fixtures import FakeServer
from tests.service_fixtures import THREADS_KEY, api_key, free_port
from tests.test_postgres import _conninfo, pg_url, postgres  # noqa: F401
from tools.audit import AuditLog
from tools.store import RecordStore

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
PLAN = orjson.dumps(
    {
        "action": "answer",
        "calls": [],
        "sentences": [{"text": "Warfarin is an active medication.", "cites": ["E32"]}],
    }
).decode()


async def scripted_openai(method: str, path: str, body: bytes) -> tuple[int, str, bytes]:
    """A FAKE OpenAI-compatible server: every chat completion is the same plan answer."""
    request = orjson.loads(body) if body else {}
    if request.get("stream"):
        chunk = {"choices": [{"index": 0, "delta": {"content": PLAN}, "finish_reason": "stop"}]}
        usage = {"choices": [], "usage": {"prompt_tokens": 900, "completion_tokens": 30}}
        events = (
            b"".join(b"data: " + orjson.dumps(e) + b"\n\n" for e in (chunk, usage))
            + b"data: [DONE]\n\n"
        )
        return 200, "text/event-stream", events
    reply = {
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": PLAN}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 900, "completion_tokens": 30},
    }
    return 200, "application/json", orjson.dumps(reply)


def _spawn(config: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "FHIR_ASSISTANT_THREADS_KEY": THREADS_KEY}
    exe = Path(sys.executable).parent / "fhir-assistant"
    with log.open("wb") as out:
        return subprocess.Popen(
            [str(exe), "serve", "--config", str(config), "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-2000:]


@contextlib.asynccontextmanager
async def worker(config: Path, port: int, log: Path) -> AsyncIterator[str]:
    """One ``fhir-assistant serve`` process; yields its base URL once /ready says so."""
    proc = _spawn(config, port, log)
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(timeout=2) as client:
            for _ in range(600):
                if proc.poll() is not None:
                    raise RuntimeError(f"worker exited: {_tail(log)}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(f"{base}/ready")).status_code == 200:
                        break
                await asyncio.sleep(0.1)
            else:
                raise RuntimeError(f"worker not ready: {_tail(log)}")
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _checkpoint_tables(url: str) -> str:
    """Every row of LangGraph's checkpoint tables, as text."""
    import psycopg

    with psycopg.connect(_conninfo(url)) as con:
        return " ".join(
            str(row)
            for table in ("checkpoints", "checkpoint_blobs", "checkpoint_writes")
            for row in con.execute(f"SELECT * FROM {table}").fetchall()
        )


async def test_two_workers_share_threads_on_postgres(
    pg_url: Callable[[], str],  # noqa: F811
    tmp_path: Path,
) -> None:
    url = pg_url()
    store = RecordStore(url)
    store.import_paths([ROOT / "fhir_fixtures" / "patients"])
    store.close()
    key, entry = api_key("ward-engine", ("system/*.rs",))
    async with FakeServer(scripted_openai) as model_server:
        config = tmp_path / "hospital.toml"
        config.write_text(
            'name = "pg-test"\n'
            "[model]\n"
            'backend = "openai"\n'
            'server = "vllm"\n'
            f'base_url = "{model_server.base_url}"\n'
            'model = "scripted-fake"\n'
            "[source]\n"
            'kind = "store"\n'
            f'url = "{url}"\n'
            "[[service.auth.api_keys]]\n"
            f'name = "{entry["name"]}"\n'
            f'hash = "{entry["hash"]}"\n'
            'scopes = ["system/*.rs"]\n'
        )
        headers = {"X-API-Key": key}
        async with (
            worker(config, free_port(), tmp_path / "w1.log") as one,
            worker(config, free_port(), tmp_path / "w2.log") as two,
            httpx.AsyncClient(timeout=60, headers=headers) as c,
        ):
            # prose asked for, so the model writes both turns (code answers a list it holds)
            question = "Describe her anticoagulation in detail."
            follow_up = "Describe that in more detail."
            first = await c.post(f"{one}/v1/patients/{CLEOTILDE}/ask", json={"question": question})
            assert first.status_code == 200, first.text
            thread = first.json()["thread_id"]
            follow = await c.post(
                f"{two}/v1/patients/{CLEOTILDE}/ask",
                json={"question": follow_up, "thread_id": thread},
            )
            assert follow.status_code == 200, follow.text
            assert follow.json()["thread_id"] == thread
            # the follow-up on worker two saw the first turn (from the shared checkpoints)
            prompts = [r for r in model_server.requests if r]
            assert follow_up in prompts[-1]["messages"][-1]["content"]
            assert question in prompts[-1]["messages"][-1]["content"]
            for base in (one, two):
                detail = (await c.get(f"{base}/v1/threads/{thread}")).json()
                assert [a["question"] for a in detail["answers"]] == [question, follow_up]
                assert detail["turns"] == 2
            # nothing of the conversation lies in PostgreSQL in clear text
            dumped = _checkpoint_tables(url)
            assert thread in dumped  # the rows are there...
            # ...but not what they hold (words long enough that ciphertext printed as bytes
            # cannot hold them by chance: a 3-character handle such as "E32" did, once)
            for text in ("anticoagulation", "more detail", "Warfarin", "Cleotilde"):
                assert text not in dumped
            assert "+aes-gcm" in dumped  # every value written is encrypted
            assert (await c.delete(f"{two}/v1/threads/{thread}")).status_code == 204
            assert (await c.get(f"{one}/v1/threads/{thread}")).status_code == 404

    entries = AuditLog(url).entries()
    assert [e.action for e in entries] == [
        "ask",
        "ask",
        "thread.read",
        "thread.read",
        "thread.delete",
        "thread.read",
    ]
    assert {e.who for e in entries} == {"api-key:ward-engine"}
    assert [e.status for e in entries][-1] == 404

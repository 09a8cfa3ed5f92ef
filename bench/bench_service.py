"""The HTTP service under load and with a warm model, measured on loopback only.

    .venv/bin/python bench/bench_service.py load [--clients 8] [--seconds 20]
    .venv/bin/python bench/bench_service.py warm [--config configs/cpu-demo.toml]
    .venv/bin/python bench/bench_service.py prefix [--config configs/cpu-demo.toml]

``load``: a real ``fhir-assistant serve`` process (embedded store with the fixture
patients, API-key auth, audit, threads) whose model is the OpenAI-compatible backend
pointed at a SCRIPTED FAKE model server on loopback (it replays one plan answer at once,
so the figures are the service's own cost); N concurrent clients ask questions (a new
thread, then a follow-up on it) and read summaries for a fixed time. Prints requests/s,
p50/p99 latency, errors, the audit rows written against the requests sent (nothing lost),
and the service's memory (RSS) growth.

``warm``: the cpu-demo model (llama.cpp on the CPU). The same two questions on the same
patient (a first question, then a follow-up in its thread) are asked (1) of a warm service
(SSE; model loaded before the clock starts) and (2) through the CLI in cold processes
(``fhir-assistant chat``, one process per question, the follow-up on the same thread:
``chat`` is ``ask`` with the draft streamed, so its first token can be timed). Prints the
time to the first draft token and to the verified answer side by side, with the ratios
(goal: the service's follow-up first token ≤ 20 % of the cold CLI's).

``prefix``: the cpu-demo model with the on-disk prompt-prefix cache
(``[model] disk_cache_dir`` in a temporary directory). On one warm service, two patients
are warmed (``POST /v1/patients/{id}/warm``, timed; one is warmed twice to time a cache
hit), then a first question is asked of every patient, un-warmed and warmed alternating
(so a warmed patient's prefix comes from disk, not from the in-memory KV cache of the
previous question); then a follow-up on each patient's thread. Per question: time to
the `record` event (the record's own cited entries, extractive), to the first draft token
and to the verified answer, and their shares: record load (request start to the first tool or model call),
prefetch tools, prompt evaluation (the model calls' time to first token), generation (the
rest of the model calls) and verification + the rest; and the prompt tokens reused.
The model answers every question there (``[agent] answer_computed`` off); then the same
questions and follow-ups are asked of a service with it on (the default), where the
tool's own cited sentence is the answer: its time, and how many model calls it made.

Everything runs on 127.0.0.1; every loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from surfaces.service import mint_api_key  # noqa: E402
from tools.store import RecordStore  # noqa: E402

EXE = Path(sys.executable).parent / "fhir-assistant"
CLEOTILDE = "4b54bebd-7f01-4a33-8494-0214dc432e46"
DEBORA = "3f96088f-1f08-47cd-b67b-a57e269ce08b"
ADAN = "2ccc21b0-f707-43eb-a896-248f843c1308"
JARRED = "cdb486b4-716b-4e83-9e27-8a68620dd1fe"
LUIGI = "85c63cf3-278e-454c-b5ba-df5889815eb7"
PATIENTS = [CLEOTILDE, DEBORA]
THREADS_KEY = "YmVuY2gtc2VydmljZS10aHJlYWRzLWtleS0zMi1ieXQ="  # a benchmark-only key
WARM_QUESTIONS = [
    "What is her latest HbA1c?",
    "And how has it changed over the years?",
]
PLAN = orjson.dumps(
    {
        "action": "answer",
        "calls": [],
        "sentences": [{"text": "The record of this patient was loaded.", "cites": ["E1"]}],
    }
).decode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_kib(pid: int) -> int:
    """Resident memory of a process and its children (uvicorn's workers), KiB."""
    total = 0
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        total += sum(rss_kib(int(c)) for c in children)
    return total


# --------------------------------------------------------------------------- scripted model


class ScriptedModelServer:
    """A FAKE OpenAI-compatible model server on loopback: every chat completion (plain or
    streamed) is the same plan answer, returned at once."""

    def __init__(self) -> None:
        self.port = 0
        self.calls = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        with contextlib.suppress(
            asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError
        ):
            while True:  # keep-alive
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.decode("latin-1").split("\r\n"):
                    if line.lower().startswith("content-length:"):
                        length = int(line.split(":", 1)[1])
                body = orjson.loads(await reader.readexactly(length)) if length else {}
                self.calls += 1
                if body.get("stream"):
                    chunk = {
                        "choices": [
                            {"index": 0, "delta": {"content": PLAN}, "finish_reason": "stop"}
                        ]
                    }
                    usage = {
                        "choices": [],
                        "usage": {"prompt_tokens": 1000, "completion_tokens": 30},
                    }
                    payload = b"".join(
                        b"data: " + orjson.dumps(e) + b"\n\n" for e in (chunk, usage)
                    )
                    payload += b"data: [DONE]\n\n"
                    ctype = b"text/event-stream"
                else:
                    payload = orjson.dumps(
                        {
                            "choices": [
                                {
                                    "index": 0,
                                    "message": {"role": "assistant", "content": PLAN},
                                    "finish_reason": "stop",
                                }
                            ],
                            "usage": {"prompt_tokens": 1000, "completion_tokens": 30},
                        }
                    )
                    ctype = b"application/json"
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: "
                    + ctype
                    + b"\r\nContent-Length: "
                    + str(len(payload)).encode()
                    + b"\r\n\r\n"
                    + payload
                )
                await writer.drain()
        writer.close()

    async def __aenter__(self) -> ScriptedModelServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._writers):
                writer.close()


# --------------------------------------------------------------------------- service process


def _spawn(cmd: list[str], env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], Any]:
    out = log.open("wb")
    proc = subprocess.Popen(cmd, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT)
    return proc, out


@contextlib.asynccontextmanager
async def serve(
    config: Path,
    port: int,
    env: dict[str, str],
    log: Path,
    insecure: bool = False,
    ready_s: float = 600,
    workers: int = 1,
) -> AsyncIterator[tuple[str, int]]:
    """``fhir-assistant serve`` in a process; yields (base URL, pid) once /ready is true."""
    cmd = [
        str(EXE),
        "serve",
        "--config",
        str(config),
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    if insecure:
        cmd.append("--insecure-no-auth")
    proc, out = _spawn(cmd, env, log)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + ready_s
        async with httpx.AsyncClient(timeout=5) as client:
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"the service exited; see {log}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(f"{base}/ready")).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the service was not ready in {ready_s:.0f} s; see {log}")
                await asyncio.sleep(0.2)
        yield base, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        out.close()


def fixture_store(tmp: Path) -> Path:
    path = tmp / "records.db"
    store = RecordStore(path)
    store.import_paths([ROOT / "fhir_fixtures" / "patients"])
    store.close()
    return path


# --------------------------------------------------------------------------- load


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    sent: int = 0


async def client_loop(
    c: httpx.AsyncClient, base: str, stop_at: float, tally: Tally, rng: random.Random
) -> None:
    thread: str | None = None
    while time.monotonic() < stop_at:
        pid = rng.choice(PATIENTS)
        kind = rng.random()
        t = time.perf_counter()
        try:
            if kind < 0.2:
                resp = await c.get(f"{base}/v1/patients/{pid}/summary")
            else:
                body: dict[str, Any] = {"question": "What is on her problem list?"}
                if thread and kind < 0.6:
                    body["thread_id"] = thread
                    pid = CLEOTILDE
                resp = await c.post(f"{base}/v1/patients/{pid}/ask", json=body)
                if resp.status_code == 200 and pid == CLEOTILDE:
                    thread = resp.json()["thread_id"]
            tally.sent += 1
            if resp.status_code != 200:
                key = str(resp.status_code)
                tally.errors[key] = tally.errors.get(key, 0) + 1
            else:
                tally.latencies.append(time.perf_counter() - t)
        except httpx.HTTPError as exc:
            tally.sent += 1
            tally.errors[type(exc).__name__] = tally.errors.get(type(exc).__name__, 0) + 1


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def bench_load(clients: int, seconds: float, workers: int = 1) -> None:
    seconds = min(seconds, 120.0)  # bounded
    with tempfile.TemporaryDirectory(prefix="bench-service-") as tmpdir:
        tmp = Path(tmpdir)
        store = fixture_store(tmp)
        key, entry = mint_api_key("bench", scopes=("system/*.rs",))
        async with ScriptedModelServer() as model:
            config = tmp / "bench.toml"
            config.write_text(
                f'name = "bench-scripted"\n[model]\nbackend = "openai"\nserver = "vllm"\n'
                f'base_url = "http://127.0.0.1:{model.port}/v1"\nmodel = "scripted-fake"\n'
                f'[source]\nkind = "store"\nurl = "{store}"\n'
                f'[service]\nthreads = "{tmp / "threads.db"}"\n'
                f"[service.limits]\nqueue_length = 256\n{entry}\n"
            )
            env = {"FHIR_ASSISTANT_THREADS_KEY": THREADS_KEY}
            async with serve(config, free_port(), env, tmp / "service.log", workers=workers) as (
                base,
                pid,
            ):
                headers = {"X-API-Key": key}
                limits = httpx.Limits(max_connections=clients * 2)
                async with httpx.AsyncClient(headers=headers, timeout=60, limits=limits) as c:
                    warm = Tally()  # warm-up: 3 s, not counted
                    await asyncio.gather(
                        *(
                            client_loop(c, base, time.monotonic() + 3, warm, random.Random(i))
                            for i in range(clients)
                        )
                    )
                    audited_before = _audit_rows(store)
                    rss0 = rss_kib(pid)
                    tally = Tally()
                    t0 = time.perf_counter()
                    stop_at = time.monotonic() + seconds
                    samples: list[int] = []

                    async def sample_rss() -> None:
                        while time.monotonic() < stop_at:
                            samples.append(rss_kib(pid))
                            await asyncio.sleep(max(1.0, seconds / 10))

                    sampler = asyncio.create_task(sample_rss())
                    await asyncio.gather(
                        *(
                            client_loop(c, base, stop_at, tally, random.Random(100 + i))
                            for i in range(clients)
                        )
                    )
                    elapsed = time.perf_counter() - t0
                    rss1 = rss_kib(pid)
                    await sampler
        audited = _audit_rows(store) - audited_before
    lat = tally.latencies
    print(
        f"service under load: {clients} clients for {seconds:.0f} s, {workers} worker(s), "
        "scripted model (loopback)"
    )
    print(
        f"  requests          {tally.sent} ({tally.sent / elapsed:.1f} req/s), "
        f"80 % ask (new thread or follow-up), 20 % summary"
    )
    print(
        f"  latency           p50 {pct(lat, 0.5) * 1000:.0f} ms, p99 {pct(lat, 0.99) * 1000:.0f} ms,"
        f" mean {statistics.fmean(lat) * 1000 if lat else float('nan'):.0f} ms"
    )
    print(f"  errors            {sum(tally.errors.values())} {tally.errors or ''}")
    print(
        f"  audit rows        {audited} for {tally.sent} requests "
        f"({'nothing lost' if audited == tally.sent else 'MISMATCH'})"
    )
    print(
        f"  service RSS       {rss0 / 1024:.0f} MiB -> {rss1 / 1024:.0f} MiB "
        f"({(rss1 - rss0) / 1024:+.1f} MiB over the run; sampled "
        + ", ".join(f"{x / 1024:.0f}" for x in samples)
        + ")"
    )


def _audit_rows(store: Path) -> int:
    with sqlite3.connect(store) as db:
        return int(db.execute("SELECT count(*) FROM service_audit").fetchone()[0])


# --------------------------------------------------------------------------- warm vs cold


async def sse_ask(
    c: httpx.AsyncClient, base: str, question: str, thread: str | None
) -> tuple[float, float, str, dict[str, Any]]:
    """(first draft token s, verified answer s, thread id, usage) of one streamed ask."""
    body: dict[str, Any] = {"question": question}
    if thread:
        body["thread_id"] = thread
    t = time.perf_counter()
    first = float("nan")
    event, thread_id, usage = "", thread or "", {}
    async with c.stream(
        "POST",
        f"{base}/v1/patients/{CLEOTILDE}/ask",
        json=body,
        headers={"Accept": "text/event-stream"},
    ) as resp:
        async for line in resp.aiter_lines():
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data = orjson.loads(line[5:])
                if event == "thread":
                    thread_id = data["thread_id"]
                elif event == "token" and first != first:
                    first = time.perf_counter() - t
                elif event == "usage":
                    usage = data
                elif event == "answer":
                    return first, time.perf_counter() - t, thread_id, usage
                elif event == "error":
                    raise RuntimeError(data["issue"][0]["diagnostics"])
    raise RuntimeError("the stream ended without an answer")


def cli_chat(
    config: str, store: Path, question: str, thread: str, env: dict[str, str]
) -> tuple[float, float]:
    """(first draft token s, verified answer s) of one question in a cold CLI process."""
    cmd = [
        str(EXE),
        "--store",
        str(store),
        "chat",
        "--patient",
        CLEOTILDE,
        "--thread",
        thread,
        "--config",
        config,
    ]
    t = time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **env},
    )
    assert proc.stdin is not None
    assert proc.stdout is not None
    proc.stdin.write(question.encode() + b"\n")
    proc.stdin.close()
    first = float("nan")
    seen = b""
    while True:
        byte = proc.stdout.read(1)
        if not byte:
            break
        seen += byte
        # after the "> " prompt, the first character of the streamed draft
        if first != first and seen.startswith(b"> ") and len(seen) > 2 and not byte.isspace():
            first = time.perf_counter() - t
    proc.wait(900)
    return first, time.perf_counter() - t


def _warm_config(config: Path, tmp: Path, store: Path, *, computed: bool = False) -> Path:
    """The deployment with the benchmark's store and thread database; the model answers
    every question (``answer_computed`` off: the latest HbA1c is otherwise said by code,
    with no model call) unless ``computed``."""
    text = config.read_text()
    if '[source]\nkind = "store"' not in text:
        raise SystemExit(f"{config}: the warm benchmark needs a store source")
    if "\n[agent]\n" in text:
        raise SystemExit(f"{config}: the warm benchmark sets [agent] itself")
    cfg = tmp / ("computed.toml" if computed else "warm.toml")
    cfg.write_text(
        text.replace('[source]\nkind = "store"', f'[source]\nkind = "store"\nurl = "{store}"')
        + f'\n[service]\nthreads = "{tmp / "threads.db"}"\n'
        + f"\n[agent]\nanswer_computed = {'true' if computed else 'false'}\n"
    )
    return cfg


async def bench_warm(config: str) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-warm-") as tmpdir:
        tmp = Path(tmpdir)
        store = fixture_store(tmp)
        env = {
            "FHIR_ASSISTANT_THREADS_KEY": THREADS_KEY,
            "FHIR_ASSISTANT_THREADS": str(tmp / "cli-threads.db"),
        }
        cfg = _warm_config(Path(config), tmp, store)
        # (1) the warm service: the model loads before the clock starts
        t0 = time.perf_counter()
        async with serve(cfg, free_port(), env, tmp / "service.log", insecure=True) as (base, _):
            load_s = time.perf_counter() - t0
            async with httpx.AsyncClient(timeout=900) as c:
                s1 = await sse_ask(c, base, WARM_QUESTIONS[0], None)
                s2 = await sse_ask(c, base, WARM_QUESTIONS[1], s1[2])
        # (2) the CLI, one cold process per question (the follow-up on the same thread)
        c1 = cli_chat(str(cfg), store, WARM_QUESTIONS[0], "bench-cli", env)
        c2 = cli_chat(str(cfg), store, WARM_QUESTIONS[1], "bench-cli", env)
    print(
        f"warm service vs cold CLI, {Path(config).stem}, Patient/{CLEOTILDE[:8]}… "
        f"(service start to /ready: {load_s:.1f} s, not counted)"
    )
    print(f"  {'question':<44} {'first token: service / CLI':>30} {'answer: service / CLI':>27}")
    for q, srv, cli in ((WARM_QUESTIONS[0], s1, c1), (WARM_QUESTIONS[1], s2, c2)):
        print(
            f"  {q:<44} {srv[0]:>9.1f} s / {cli[0]:>6.1f} s ({srv[0] / cli[0]:>5.0%})"
            f" {srv[1]:>8.1f} s / {cli[1]:>6.1f} s ({srv[1] / cli[1]:>5.0%})"
        )
    print(
        f"  prompt-cache reuse (service): first question {s1[3].get('cached_prompt_tokens')} "
        f"of {s1[3].get('prompt_tokens')} prompt tokens, follow-up "
        f"{s2[3].get('cached_prompt_tokens')} of {s2[3].get('prompt_tokens')}"
    )
    goal = s2[0] / c2[0]
    print(f"  follow-up first token, warm service / cold CLI: {goal:.0%} (goal <= 20 %)")


# --------------------------------------------------------------------------- prefix cache

PREFIX_QUESTION = "What is the latest HbA1c?"


@dataclass
class Timeline:
    """One streamed ask, timed from the request (seconds)."""

    first_token: float = float("nan")
    answer: float = float("nan")
    record: float = float("nan")  # the `record` event: the record's cited entries (extractive)
    thread: str = ""
    first_tool: float | None = None
    first_model: float | None = None
    usage: dict[str, Any] = field(default_factory=dict)

    def shares(self) -> dict[str, float]:
        calls = self.usage.get("calls") or []
        prompt = sum(c["ttft_s"] or 0.0 for c in calls)
        model = sum(c["seconds"] for c in calls)
        start_model = self.first_model if self.first_model is not None else self.answer
        record = self.first_tool if self.first_tool is not None else start_model
        tools = start_model - record
        return {
            "record": record,
            "tools": tools,
            "prompt": prompt,
            "generation": model - prompt,
            "rest": self.answer - start_model - model,
        }


async def sse_timeline(
    c: httpx.AsyncClient, base: str, patient: str, question: str, thread: str = ""
) -> Timeline:
    """A question on ``patient`` (a new thread, or a follow-up on ``thread``), streamed,
    with its event times."""
    tl = Timeline()
    t = time.perf_counter()
    event = ""
    body = {"question": question, **({"thread_id": thread} if thread else {})}
    async with c.stream(
        "POST",
        f"{base}/v1/patients/{patient}/ask",
        json=body,
        headers={"Accept": "text/event-stream"},
    ) as resp:
        async for line in resp.aiter_lines():
            if line.startswith("event:"):
                event = line[6:].strip()
                now = time.perf_counter() - t
                if event == "tool_start" and tl.first_tool is None and tl.first_model is None:
                    tl.first_tool = now
                elif event == "model_start" and tl.first_model is None:
                    tl.first_model = now
                elif event == "token" and tl.first_token != tl.first_token:
                    tl.first_token = now
                elif event == "record" and tl.record != tl.record:
                    tl.record = now
            elif line.startswith("data:"):
                data = orjson.loads(line[5:])
                if event == "usage":
                    tl.usage = data
                elif event == "thread":
                    tl.thread = data["thread_id"]
                elif event == "answer":
                    tl.answer = time.perf_counter() - t
                    return tl
                elif event == "error":
                    raise RuntimeError(data["issue"][0]["diagnostics"])
    raise RuntimeError("the stream ended without an answer")


def _prefix_config(config: Path, tmp: Path, store: Path, *, computed: bool = False) -> Path:
    cfg = _warm_config(config, tmp, store, computed=computed)
    text = cfg.read_text()
    if "\n[model]\n" not in text:
        raise SystemExit(f"{config}: no [model] table")
    cfg.write_text(text.replace("\n[model]\n", f'\n[model]\ndisk_cache_dir = "{tmp / "kv"}"\n', 1))
    return cfg


async def bench_prefix(config: str) -> None:
    # four patients with HbA1c results (a question of a test never done is answered by
    # code, with no model call: not a measure of the model's latency)
    cold, warmed = [CLEOTILDE, JARRED], [DEBORA, LUIGI]
    with tempfile.TemporaryDirectory(prefix="bench-prefix-") as tmpdir:
        tmp = Path(tmpdir)
        store = fixture_store(tmp)
        env = {"FHIR_ASSISTANT_THREADS_KEY": THREADS_KEY}
        cfg = _prefix_config(Path(config), tmp, store)
        t0 = time.perf_counter()
        async with serve(cfg, free_port(), env, tmp / "service.log", insecure=True) as (base, _):
            load_s = time.perf_counter() - t0
            print(
                f"prompt-prefix cache on the warm service, {Path(config).stem} "
                f"(service start to /ready: {load_s:.1f} s, not counted); question: "
                f"{PREFIX_QUESTION!r}",
                flush=True,
            )
            async with httpx.AsyncClient(timeout=900) as c:
                for pid in [*warmed, warmed[0]]:
                    t = time.perf_counter()
                    resp = await c.post(f"{base}/v1/patients/{pid}/warm")
                    took = time.perf_counter() - t
                    resp.raise_for_status()
                    w = resp.json()
                    print(
                        f"  warm Patient/{pid[:8]}…: {took:5.1f} s  prefix {w['prefix_tokens']} "
                        f"tokens, evaluated {w['evaluated_tokens']}, "
                        f"{'already cached' if w['cached'] else 'saved' if w['saved'] else '-'}"
                        f" (record + summary {w['record_seconds']:.2f} s)",
                        flush=True,
                    )
                head = (
                    f"  {'patient':<12} {'prefix':<9} {'from rec':>7} {'1st token':>9} {'answer':>7} | "
                    f"{'record':>6} {'tools':>6} {'prompt':>6} {'generate':>8} {'verify+':>7}"
                    f" | {'reused/prompt tokens':>20}  calls"
                )
                print(head, flush=True)
                rows: dict[str, list[Timeline]] = {"cold": [], "warmed": [], "follow-up": []}
                firsts: list[tuple[str, Timeline]] = []
                for pid, kind in zip(
                    [x for pair in zip(cold, warmed, strict=True) for x in pair],
                    ["cold", "warmed"] * len(cold),
                    strict=True,
                ):
                    tl = await sse_timeline(c, base, pid, PREFIX_QUESTION)
                    firsts.append((pid, tl))
                    _row(rows, pid, kind, tl)
                for pid, first in firsts:  # a follow-up on each patient's thread
                    tl = await sse_timeline(c, base, pid, FOLLOW_UP, thread=first.thread)
                    _row(rows, pid, "follow-up", tl)
        # (2) the same questions with ``answer_computed`` on (the default): the tool's
        # own cited sentence is the answer, no model call
        computed = _prefix_config(Path(config), tmp, store, computed=True)
        second = serve(computed, free_port(), env, tmp / "service2.log", insecure=True)
        async with second as (base, _), httpx.AsyncClient(timeout=900) as c:
            print("  answer_computed on (the default):", flush=True)
            threads = []
            for pid in [*cold, *warmed]:
                tl = await sse_timeline(c, base, pid, PREFIX_QUESTION)
                threads.append((pid, tl))
                _row(rows, pid, "computed", tl)
            for pid, first in threads:
                tl = await sse_timeline(c, base, pid, FOLLOW_UP, thread=first.thread)
                _row(rows, pid, "computed follow-up", tl)
        for kind, tls in rows.items():
            if not tls:
                continue
            if kind.startswith("computed"):  # said by code: no record event, no token
                print(
                    f"  p50 {kind:<9} cited answer {statistics.median(t.answer for t in tls):5.2f} s"
                    f" ({sum(t.usage.get('model_calls') or 0 for t in tls)} model calls)",
                    flush=True,
                )
                continue
            print(
                f"  p50 {kind:<9} from the record {statistics.median(t.record for t in tls):5.1f} s, "
                f"first token {statistics.median(t.first_token for t in tls):5.1f}"
                f" s, verified answer {statistics.median(t.answer for t in tls):5.1f} s",
                flush=True,
            )


FOLLOW_UP = "And how has it changed over the years?"


def _row(rows: dict[str, list[Timeline]], pid: str, kind: str, tl: Timeline) -> None:
    if not tl.usage.get("model_calls") and not kind.startswith("computed"):
        kind = "by code"  # answered by code where the model was meant to: reported apart
    rows.setdefault(kind, []).append(tl)
    sh = tl.shares()
    u = tl.usage
    print(
        f"  {pid[:8] + '…':<12} {kind:<9} {tl.record:>6.1f}s {tl.first_token:>8.1f}s "
        f"{tl.answer:>6.1f}s | {sh['record']:>5.1f}s {sh['tools']:>5.1f}s "
        f"{sh['prompt']:>5.1f}s {sh['generation']:>7.1f}s {sh['rest']:>6.1f}s | "
        f"{u.get('cached_prompt_tokens')!s:>9} / {u.get('prompt_tokens')!s:<9}"
        f"  {u.get('model_calls')}",
        flush=True,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="what", required=True)
    load = sub.add_parser("load", help="scripted model, N concurrent clients, fixed time")
    load.add_argument("--clients", type=int, default=8)
    load.add_argument("--seconds", type=float, default=20.0)
    load.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    warm = sub.add_parser("warm", help="cpu-demo: warm service vs cold CLI")
    warm.add_argument("--config", default=str(ROOT / "configs" / "cpu-demo.toml"))
    prefix = sub.add_parser("prefix", help="cpu-demo: first questions, un-warmed vs warmed")
    prefix.add_argument("--config", default=str(ROOT / "configs" / "cpu-demo.toml"))
    args = ap.parse_args()
    if args.what == "prefix":
        asyncio.run(bench_prefix(args.config))
    elif args.what == "load":
        asyncio.run(
            bench_load(max(1, min(args.clients, 64)), args.seconds, max(1, min(args.workers, 8)))
        )
    else:
        asyncio.run(bench_warm(args.config))


if __name__ == "__main__":
    main()

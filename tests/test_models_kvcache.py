"""The on-disk prompt-prefix cache (agent/models/_kvcache.py) and warming on the real
llama.cpp runtime (SmolLM2-135M): a prefix warmed by one model instance is loaded by a
new one, the answer is the same as without the cache, a changed record never hits, the
directory stays under its bound, and a damaged entry is removed, never loaded."""

from __future__ import annotations

import logging
import os
import stat
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from agent.context import AgentSettings
from agent.models import LlamaCppChatModel, LlamaCppConfig, Message
from agent.models._kvcache import PrefixDiskCache, longest_common_prefix
from agent.run import ask, warm
from tests.agent_fixtures import CLEOTILDE, agent_store  # noqa: F401
from tests.models_fixtures import require, smollm2_source
from tools.store import RecordStore

IDENTITY = {"gguf": "test", "n_ctx": 2048}


# ---------------------------------------------------------------------------- the directory


def test_longest_common_prefix() -> None:
    assert longest_common_prefix([1, 2, 3], [1, 2, 4], [1, 2]) == 2
    assert longest_common_prefix([1, 2, 3], [1, 2, 3]) == 3
    assert longest_common_prefix([5], [1]) == 0


def test_roundtrip_permissions_and_prefix_match(tmp_path: Path) -> None:
    d = tmp_path / "kv"
    cache = PrefixDiskCache(d, 10 << 20, IDENTITY)
    assert stat.S_IMODE(d.stat().st_mode) == 0o700
    path = cache.write([1, 2, 3, 4], b"state-A")
    assert path is not None
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not [p for p in d.iterdir() if p.name.startswith(".tmp-")]
    # a new process (a new cache object) finds it for a longer prompt with that prefix
    other = PrefixDiskCache(d, 10 << 20, IDENTITY)
    entry = other.best_prefix([1, 2, 3, 4, 5, 6])
    assert entry is not None
    assert entry.tokens == (1, 2, 3, 4)
    assert other.read(entry) == b"state-A"
    assert other.best_prefix([1, 2, 3, 4, 5], longer_than=4) is None  # memory has as much
    assert other.best_prefix([1, 2, 3]) is None  # shorter prompt: not a prefix of it
    assert other.best_prefix([1, 2, 9, 4, 5]) is None  # a changed record: no hit
    # another model identity never sees it
    assert (
        PrefixDiskCache(d, 10 << 20, {**IDENTITY, "n_ctx": 4096}).best_prefix([1, 2, 3, 4]) is None
    )
    assert other.contains([1, 2, 3, 4])
    assert not other.contains([1, 2, 3])


def test_lru_eviction_keeps_the_bound(tmp_path: Path) -> None:
    cache = PrefixDiskCache(tmp_path, 4 * 1024, IDENTITY)
    state = b"x" * 900
    paths = []
    for i in range(3):
        p = cache.write([i, 1, 2], state)
        assert p is not None
        os.utime(p, (time.time() - 100 + i, time.time() - 100 + i))
        paths.append(p)
    assert cache.read(cache.best_prefix([0, 1, 2, 7]) or pytest.fail("no entry"))  # touched
    cache.write([9, 1, 2], state)  # over the bound: the least recently used (entry 1) goes
    left = {p.name for p in tmp_path.iterdir()}
    assert paths[1].name not in left
    assert paths[0].name in left  # used recently
    assert sum(p.stat().st_size for p in tmp_path.iterdir()) <= 4 * 1024
    assert cache.write([5], b"y" * 5000) is None  # larger than the bound alone: not kept
    assert sum(p.stat().st_size for p in tmp_path.iterdir()) <= 4 * 1024


def test_concurrent_writers_and_readers_on_one_directory(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Workers sharing a directory (one cache object each): every read is a whole, valid
    state or a miss; the bound holds; no temporary file is left behind."""
    import threading

    bound = 40 * 1024
    errors: list[BaseException] = []

    def worker(w: int) -> None:
        cache = PrefixDiskCache(tmp_path, bound, IDENTITY)
        try:
            for i in range(40):
                key = [i % 7, 1, 2, 3]  # the same keys from every worker
                cache.write(key, bytes([i % 7]) * 3000)
                entry = cache.best_prefix([*key, 99])
                if entry is not None:
                    state = cache.read(entry)
                    assert state is None or state == bytes([i % 7]) * 3000
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(4)]
    with caplog.at_level(logging.WARNING, logger="agent.models.kvcache"):
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    assert errors == []
    assert "unusable" not in caplog.text  # a race never looks like a damaged file
    names = [p.name for p in tmp_path.iterdir()]
    assert not [n for n in names if n.startswith(".tmp-")]
    assert sum(p.stat().st_size for p in tmp_path.iterdir()) <= bound
    final = PrefixDiskCache(tmp_path, bound, IDENTITY)
    for e in final.entries():
        assert final.read(e) == bytes([e.tokens[0]]) * 3000


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage"])
def test_damaged_entry_removed_and_logged(
    tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    cache = PrefixDiskCache(tmp_path, 10 << 20, IDENTITY)
    path = cache.write([1, 2, 3], b"s" * 1000)
    assert path is not None
    data = bytearray(path.read_bytes())
    if damage == "truncate":
        path.write_bytes(bytes(data[:-10]))
    elif damage == "flip":
        data[-1] ^= 0xFF
        path.write_bytes(bytes(data))
    else:
        path.write_bytes(b"not a state at all")
    fresh = PrefixDiskCache(tmp_path, 10 << 20, IDENTITY)
    with caplog.at_level(logging.WARNING, logger="agent.models.kvcache"):
        entry = fresh.best_prefix([1, 2, 3, 4])
        if entry is not None:  # the header was intact: the state check catches it
            assert fresh.read(entry) is None
    assert not path.exists()
    assert "removed unusable entry" in caplog.text


# ---------------------------------------------------------------------------- real llama.cpp

SUMMARY_A = "\n".join(
    f"E{i}: Observation {name} {value} mg/dL on 2024-0{1 + i % 9}-1{i % 9}"
    for i, (name, value) in enumerate(
        [("glucose", 101), ("creatinine", 1.1), ("sodium", 139), ("potassium", 4.2)] * 3
    )
)
SUMMARY_B = SUMMARY_A.replace("glucose 101", "glucose 187")  # the record changed


def _messages(summary: str, question: str) -> list[Message]:
    return [
        Message.system("You answer questions about one patient's record. Be brief."),
        Message.user(f"RECORD DATA:\n<<<\n{summary}\n>>>\n\nQuestion: {question}"),
    ]


def _model(cache_dir: Path | None, **kw: object) -> LlamaCppChatModel:
    cfg: dict[str, object] = {
        "backend": "llamacpp",
        "gguf": smollm2_source(),
        "n_ctx": 2048,
        "max_tokens": 24,
        "temperature": 0.0,
        "disk_cache_dir": cache_dir,
        "disk_cache_mb": 64,
    }
    cfg.update(kw)
    return LlamaCppChatModel(LlamaCppConfig.model_validate(cfg))


@pytest.fixture
async def reference() -> AsyncIterator[LlamaCppChatModel]:
    require("llama_cpp")
    model = _model(None)
    yield model
    await model.aclose()


@pytest.mark.slow
@pytest.mark.runtime("llamacpp")
async def test_warmed_prefix_loads_in_a_new_instance(
    tmp_path: Path, reference: LlamaCppChatModel
) -> None:
    d = tmp_path / "kv"
    q1, q2 = "What was the glucose?", "Any sodium result?"
    warmer = _model(d)
    try:
        warmed = await warmer.warm([_messages(SUMMARY_A, q1), _messages(SUMMARY_A, q2)])
        assert warmed is not None
        assert warmed.saved
        assert not warmed.cached
        assert warmed.prefix_tokens > 200
        assert warmed.evaluated_tokens == warmed.prefix_tokens
        again = await warmer.warm([_messages(SUMMARY_A, q1), _messages(SUMMARY_A, "x?")])
        assert again is not None
        assert again.cached
        assert again.evaluated_tokens == 0
        assert again.prefix_tokens == warmed.prefix_tokens
    finally:
        await warmer.aclose()
    assert len(list(d.glob("*.kvstate"))) == 1

    expected = await reference.generate(_messages(SUMMARY_A, q1))
    assert expected.usage.cached_prompt_tokens == 0

    fresh = _model(d)  # a new Llama object: its KV cache is empty
    try:
        got = await fresh.generate(_messages(SUMMARY_A, q1))
        assert got.usage.cached_prompt_tokens is not None
        assert got.usage.cached_prompt_tokens >= warmed.prefix_tokens
        assert got.usage.prompt_tokens == expected.usage.prompt_tokens
        assert got.output == expected.output
        assert got.output.strip()
    finally:
        await fresh.aclose()

    changed = _model(d)  # the record changed: another summary, no hit
    try:
        other = await changed.generate(_messages(SUMMARY_B, q1))
        assert other.usage.cached_prompt_tokens == 0
    finally:
        await changed.aclose()


@pytest.mark.slow
@pytest.mark.runtime("llamacpp")
async def test_damaged_state_file_is_removed_not_loaded(
    tmp_path: Path, reference: LlamaCppChatModel, caplog: pytest.LogCaptureFixture
) -> None:
    d = tmp_path / "kv"
    warmer = _model(d)
    try:
        await warmer.warm([_messages(SUMMARY_A, "a?"), _messages(SUMMARY_A, "b?")])
    finally:
        await warmer.aclose()
    (path,) = d.glob("*.kvstate")
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # inside the KV state
    path.write_bytes(bytes(data))
    expected = await reference.generate(_messages(SUMMARY_A, "a?"))
    fresh = _model(d)
    try:
        with caplog.at_level(logging.WARNING, logger="agent.models.kvcache"):
            got = await fresh.generate(_messages(SUMMARY_A, "a?"))
        assert got.usage.cached_prompt_tokens == 0
        assert got.output == expected.output
    finally:
        await fresh.aclose()
    assert not path.exists()
    assert "checksum" in caplog.text


@pytest.mark.slow
@pytest.mark.runtime("llamacpp")
async def test_eviction_with_real_states(tmp_path: Path) -> None:
    require("llama_cpp")
    d = tmp_path / "kv"
    model = _model(d, disk_cache_mb=12)  # a ~300-token SmolLM2 state is ~7 MB
    try:
        for i in range(3):
            summary = SUMMARY_A.replace("sodium 139", f"sodium {140 + i}")
            r = await model.warm([_messages(summary, "a?"), _messages(summary, "b?")])
            assert r is not None
            assert r.saved
            assert r.state_bytes > 1 << 20
            used = sum(p.stat().st_size for p in d.iterdir())
            assert used <= 12 << 20
        assert len(list(d.glob("*.kvstate"))) == 1  # two of ~7 MB do not fit in 12 MB
    finally:
        await model.aclose()


# ---------------------------------------------------------------------------- agent.run.warm


class _Recording:
    """The real model, with each call's usage recorded (not a fake: it only forwards)."""

    def __init__(self, inner: LlamaCppChatModel) -> None:
        self.inner = inner
        self.name = inner.name
        self.usages: list[Any] = []

    async def generate(self, messages: Any, **kw: Any) -> Any:
        result = await self.inner.generate(messages, **kw)
        self.usages.append(result.usage)
        return result

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.mark.slow
@pytest.mark.runtime("llamacpp")
async def test_agent_warm_then_first_question_reuses_the_prefix(
    tmp_path: Path,
    agent_store: Path,  # noqa: F811
) -> None:
    """The prefix agent.run.warm saves is the one a real ask's first prompt starts with."""
    require("llama_cpp")
    store = RecordStore(agent_store)
    d = tmp_path / "kv"
    # room for a small model's whole JSON answer (a cut answer records no usage)
    kw = {"n_ctx": 8192, "max_tokens": 160, "max_repairs": 0}
    warmer = _model(d, **kw)
    try:
        done = await warm(CLEOTILDE, source=store, model=warmer)
        again = await warm(CLEOTILDE, source=store, model=warmer)
    finally:
        await warmer.aclose()
    assert done.supported
    assert done.saved
    assert done.prefix_tokens > 500  # the system prompt and the record summary
    assert done.evaluated_tokens == done.prefix_tokens
    assert again.cached
    assert again.evaluated_tokens == 0
    fresh = _Recording(_model(d, **kw))  # a new Llama object: only the disk can help
    try:
        await ask("What is her latest HbA1c?", patient_id=CLEOTILDE, source=store, model=fresh,
                  settings=AgentSettings(answer_computed=False))  # fmt: skip
    finally:
        await fresh.aclose()
    first = fresh.usages[0]
    assert first.cached_prompt_tokens >= done.prefix_tokens
    assert first.prompt_tokens > first.cached_prompt_tokens  # the question was evaluated


async def test_backends_without_a_prefix_cache_do_nothing() -> None:
    from agent.models import OpenAIChatModel, OpenAIConfig

    model = OpenAIChatModel(
        OpenAIConfig(backend="openai", base_url="http://127.0.0.1:9/v1", model="m")
    )
    try:  # no request is made (port 9 would refuse it)
        assert await model.warm([_messages("x", "a?"), _messages("x", "b?")]) is None
    finally:
        await model.aclose()

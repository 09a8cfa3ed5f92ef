"""The OpenAI-compatible HTTP backend: a real llama_cpp.server on loopback, plus scripted
servers for the error paths (down, hanging, garbage, no response_format support)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Literal

import orjson
import pytest
from pydantic import BaseModel, Field

from agent.errors import (
    BackendHTTPError,
    BackendProtocolError,
    BackendUnreachable,
    ContextOverflow,
    MalformedOutput,
    ModelTimeout,
    UnsupportedInput,
)
from agent.models import Message, OpenAIChatModel, OpenAIConfig, resolve_gguf
from tests.models_fixtures import (
    completion_json,
    fake_server,
    free_port,
    llama_server,
    require,
    smollm2_source,
)


class Plan(BaseModel):
    tool: Literal["lab_trend", "list_conditions", "list_medications"]
    argument: str = Field(max_length=20)


def _cfg(base_url: str, **kw: object) -> OpenAIConfig:
    base: dict[str, object] = {
        "backend": "openai",
        "base_url": base_url,
        "model": "smollm2",
        "max_tokens": 48,
        "timeout_s": 300,  # generous: a loaded 2-core machine (a benchmark beside the tests) took > 60 s
    }
    base.update(kw)
    return OpenAIConfig.model_validate(base)


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    require("llama_cpp")
    require("sse_starlette")  # llama-cpp-python[server]
    with llama_server(resolve_gguf(smollm2_source()), n_ctx=2048) as url:
        yield url


# ---------------------------------------------------------------------------- real server


@pytest.mark.slow
@pytest.mark.integration
@pytest.mark.runtime("llamacpp")
async def test_text_and_streaming(server_url: str) -> None:
    async with OpenAIChatModel(_cfg(server_url)) as model:
        res = await model.generate([Message.system("Be brief."), Message.user("Say hello.")])
        assert res.output
        assert res.usage.prompt_tokens > 0
        assert res.usage.completion_tokens > 0
        pieces: list[str] = []
        res2 = await model.generate([Message.user("Count to five.")], on_token=pieces.append)
        assert len(pieces) > 1
        assert "".join(pieces) == res2.text
        assert res2.usage.ttft_s is not None
        assert res2.usage.ttft_s <= res2.usage.seconds
        stream = model.stream([Message.user("Name a colour.")], max_tokens=8)
        got = [p async for p in stream]
        assert "".join(got) == stream.result.text


@pytest.mark.slow
@pytest.mark.integration
@pytest.mark.runtime("llamacpp")
async def test_structured_json_object_grammar(server_url: str) -> None:
    async with OpenAIChatModel(_cfg(server_url, response_format="json_object")) as model:
        for q in ("How did HbA1c change?", "Which conditions are active?"):
            res = await model.generate([Message.user(q)], schema=Plan, max_tokens=80)
            assert isinstance(res.output, Plan)
            assert res.usage.calls == 1  # constrained by the server's grammar
        assert model.response_format_mode == "json_object"


@pytest.mark.slow
@pytest.mark.integration
@pytest.mark.runtime("llamacpp")
async def test_json_schema_falls_back_to_json_object(server_url: str) -> None:
    # llama-cpp-python's server rejects response_format type "json_schema" (422); the
    # backend tries "json_object" + schema once and remembers it.
    async with OpenAIChatModel(_cfg(server_url, response_format="json_schema")) as model:
        res = await model.generate([Message.user("Plan: medications?")], schema=Plan, max_tokens=80)
        assert isinstance(res.output, Plan)
        assert model.response_format_mode == "json_object"


@pytest.mark.slow
@pytest.mark.integration
@pytest.mark.runtime("llamacpp")
async def test_images(server_url: str) -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
    # refused locally when the config says the model has no vision
    async with OpenAIChatModel(_cfg(server_url)) as model:
        with pytest.raises(UnsupportedInput, match="vision"):
            await model.generate([Message.user("What is this?", png)])
    # sent as a data URI when it says so; this text-only server fails on it (HTTP 500)
    async with OpenAIChatModel(_cfg(server_url, vision=True)) as model:
        with pytest.raises(BackendHTTPError, match="The request had images") as info:
            await model.generate([Message.user("What is this?", png)])
        assert info.value.status >= 400


@pytest.mark.slow
@pytest.mark.integration
@pytest.mark.runtime("llamacpp")
async def test_server_context_overflow(server_url: str) -> None:
    async with OpenAIChatModel(_cfg(server_url)) as model:
        with pytest.raises(ContextOverflow) as info:
            await model.generate([Message.user("lorem ipsum " * 1500)])
        assert info.value.limit == 2048


# ---------------------------------------------------------------------------- error paths


async def test_server_down() -> None:
    port = free_port()  # nothing listens there
    async with OpenAIChatModel(_cfg(f"http://127.0.0.1:{port}/v1")) as model:
        with pytest.raises(BackendUnreachable, match=f"127.0.0.1:{port}"):
            await model.generate([Message.user("hi")])


async def test_timeout_when_server_never_answers() -> None:
    async def hang(method: str, path: str, body: bytes) -> None:
        return None

    async with (
        fake_server(hang) as srv,
        OpenAIChatModel(_cfg(srv.base_url, timeout_s=0.5)) as model,
    ):
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        with pytest.raises(ModelTimeout, match=r"0\.5 s"):
            await model.generate([Message.user("hi")])
        assert loop.time() - t0 < 5
        with pytest.raises(ModelTimeout):
            await model.generate([Message.user("hi")], on_token=lambda _p: None)


async def test_non_json_answer() -> None:
    async def html(method: str, path: str, body: bytes) -> tuple[int, str, bytes]:
        return 200, "text/html", b"<html>proxy login</html>"

    async with fake_server(html) as srv, OpenAIChatModel(_cfg(srv.base_url)) as model:
        with pytest.raises(BackendProtocolError, match="not JSON"):
            await model.generate([Message.user("hi")])
        with pytest.raises(BackendProtocolError, match="server-sent events"):
            await model.generate([Message.user("hi")], on_token=lambda _p: None)


async def test_json_that_is_not_a_completion() -> None:
    async def wrong(method: str, path: str, body: bytes) -> tuple[int, str, bytes]:
        return 200, "application/json", b'{"result": "ok"}'

    async with fake_server(wrong) as srv, OpenAIChatModel(_cfg(srv.base_url)) as model:
        with pytest.raises(BackendProtocolError, match="not a chat completion"):
            await model.generate([Message.user("hi")])


async def test_invalid_completions_end_in_malformed_output() -> None:
    async def garbage(method: str, path: str, body: bytes) -> tuple[int, str, bytes]:
        return 200, "application/json", completion_json("Sure! The tool is lab trend.")

    async with (
        fake_server(garbage) as srv,
        OpenAIChatModel(_cfg(srv.base_url, max_repairs=1)) as model,
    ):
        with pytest.raises(MalformedOutput) as info:
            await model.generate([Message.user("plan")], schema=Plan)
        assert info.value.attempts == 2
        assert "lab trend" in info.value.raw
        assert len(srv.requests) == 2
        # the repair turn carries the rejected answer and the reason
        assert srv.requests[1]["messages"][-2]["role"] == "assistant"
        assert "rejected" in srv.requests[1]["messages"][-1]["content"]


async def test_http_errors_and_context_overflow_messages() -> None:
    async def err(method: str, path: str, body: bytes) -> tuple[int, str, bytes]:
        req = orjson.loads(body)
        if req["messages"][0]["content"] == "long":
            msg = (
                "This model's maximum context length is 8192 tokens. However, you requested "
                "9000 tokens (8000 in the messages, 1000 in the completion)."
            )
            return 400, "application/json", orjson.dumps({"error": {"message": msg}})
        return 401, "application/json", b'{"error": "bad key"}'

    async with fake_server(err) as srv, OpenAIChatModel(_cfg(srv.base_url)) as model:
        with pytest.raises(ContextOverflow) as info:
            await model.generate([Message.user("long")])
        assert (info.value.prompt_tokens, info.value.max_tokens, info.value.limit) == (
            8000,
            1000,
            8192,
        )
        with pytest.raises(BackendHTTPError, match="API key") as info2:
            await model.generate([Message.user("short")])
        assert info2.value.status == 401


async def test_response_format_refused_then_remembered() -> None:
    async def no_rf(method: str, path: str, body: bytes) -> tuple[int, str, bytes]:
        req = orjson.loads(body)
        if "response_format" in req:
            return 400, "application/json", b'{"error": "response_format is not supported"}'
        return (
            200,
            "application/json",
            completion_json('```json\n{"tool": "lab_trend", "argument": "HbA1c"}\n```'),
        )

    async with fake_server(no_rf) as srv, OpenAIChatModel(_cfg(srv.base_url)) as model:
        res = await model.generate([Message.user("plan")], schema=Plan)
        assert res.output == Plan(tool="lab_trend", argument="HbA1c")
        assert model.response_format_mode is None
        kinds = [r.get("response_format", {}).get("type") for r in srv.requests]
        assert kinds == ["json_schema", "json_object", None]
        await model.generate([Message.user("plan")], schema=Plan)
        assert "response_format" not in srv.requests[-1]  # remembered: asked once only


async def test_request_shape_images_and_auth() -> None:
    seen: list[bytes] = []

    async def ok(method: str, path: str, body: bytes) -> tuple[int, str, bytes]:
        seen.append(body)
        return 200, "application/json", completion_json("fine")

    async with fake_server(ok) as srv:
        cfg = _cfg(srv.base_url, vision=True, api_key="k-123", extra_body={"top_k": 5})
        async with OpenAIChatModel(cfg) as model:
            await model.generate(
                [Message.system("sys"), Message.user("look", b"\x89PNG\r\n\x1a\nzz")]
            )
    req = orjson.loads(seen[0])
    assert req["top_k"] == 5
    assert req["model"] == "smollm2"
    assert req["messages"][0] == {"role": "system", "content": "sys"}
    parts = req["messages"][1]["content"]
    assert parts[0]["image_url"]["url"].startswith("data:image/png;base64,")
    assert parts[1] == {"type": "text", "text": "look"}


async def test_sse_stream_with_usage_and_cache() -> None:
    events = [
        {"choices": [{"delta": {"content": "Hel"}, "finish_reason": None}]},
        {"choices": [{"delta": {"content": "lo"}, "finish_reason": "stop"}]},
        {
            "choices": [],
            "usage": {
                "prompt_tokens": 30,
                "completion_tokens": 2,
                "prompt_tokens_details": {"cached_tokens": 24},
            },
        },
    ]
    body = b"".join(b"data: " + orjson.dumps(e) + b"\n\n" for e in events) + b"data: [DONE]\n\n"

    async def sse(method: str, path: str, req: bytes) -> tuple[int, str, bytes]:
        return 200, "text/event-stream", body

    async with fake_server(sse) as srv, OpenAIChatModel(_cfg(srv.base_url)) as model:
        pieces: list[str] = []
        res = await model.generate([Message.user("hi")], on_token=pieces.append)
        assert pieces == ["Hel", "lo"]
        assert res.output == "Hello"
        assert res.finish_reason == "stop"
        assert (res.usage.prompt_tokens, res.usage.cached_prompt_tokens) == (30, 24)
        assert not res.usage.estimated

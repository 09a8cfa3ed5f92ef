"""Structured output, the repair loop, streaming and endpoint safety (no model runtime)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pydantic import BaseModel, Field

from agent.errors import MalformedOutput, ModelError, UnsafeEndpoint
from agent.models import (
    BaseChatModel,
    ChatModel,
    Message,
    OnToken,
    Usage,
    check_endpoint,
    extract_json,
    is_loopback_host,
    strip_code_fences,
    strip_thinking,
)
from agent.models._base import RawCompletion
from agent.models._config import LlamaCppConfig
from agent.models._structured import OutputRejected, SchemaSpec
from tools.errors import AssistantError, ConfigError


class Lab(BaseModel):
    value: float
    unit: str
    citation: str = Field(pattern=r"^E\d+$")


class Scripted(BaseChatModel):
    """A backend that answers from a script (to test the shared generate() logic)."""

    def __init__(self, answers: list[str], **cfg: Any) -> None:
        super().__init__(
            LlamaCppConfig(backend="llamacpp", gguf={"path": "/x.gguf"}, **cfg), "scripted"
        )
        self.answers = list(answers)
        self.prompts: list[list[Message]] = []

    async def _complete(
        self,
        messages: list[Message],
        *,
        spec: SchemaSpec | None,
        max_tokens: int,
        temperature: float,
        on_token: OnToken | None,
    ) -> RawCompletion:
        self.prompts.append(messages)
        text = self.answers.pop(0)
        for piece in text.split(" "):
            if on_token:
                on_token(piece + " ")
            await asyncio.sleep(0)
        return RawCompletion(
            text, Usage(prompt_tokens=10, completion_tokens=4, ttft_s=0.01), "stop"
        )


def test_strip_thinking_medgemma_and_think_tags() -> None:
    raw = '<unused94>thought\nThe latest is E3.<unused95>{"a": 1}'
    assert strip_thinking(raw) == '{"a": 1}'
    assert strip_thinking("<think>hmm</think> ok") == "ok"
    # cut off while thinking: nothing is left
    assert strip_thinking("<unused94>thought\nstill thinking") == ""


def test_strip_code_fences() -> None:
    assert strip_code_fences('```json\n{"a": 1}\n```') == '{"a": 1}'
    assert strip_code_fences("Here:\n```\n[1, 2]\n```\nDone") == "[1, 2]"
    assert strip_code_fences("plain") == "plain"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"a": 1}', {"a": 1}),
        ('<unused94>thought\nx<unused95>```json\n{"a": [1, 2]}\n```', {"a": [1, 2]}),
        ('Sure! The answer is {"a": "b"} as requested.', {"a": "b"}),
        ("[1, 2, 3]", [1, 2, 3]),
        ('text {not json} then {"ok": true}', {"ok": True}),
    ],
)
def test_extract_json(text: str, expected: Any) -> None:
    assert extract_json(text) == expected


def test_extract_json_rejects_with_reason() -> None:
    with pytest.raises(OutputRejected, match="not valid JSON"):
        extract_json("no json here")
    with pytest.raises(OutputRejected, match="cut off"):
        extract_json('{"a": [1, 2')
    with pytest.raises(OutputRejected, match="empty"):
        extract_json("<unused94>thinking forever")


def test_schema_spec_pydantic_and_dict() -> None:
    spec = SchemaSpec.of(Lab)
    assert spec.parse('{"value": 6.1, "unit": "%", "citation": "E3"}') == Lab(
        value=6.1, unit="%", citation="E3"
    )
    with pytest.raises(OutputRejected, match="citation"):
        spec.parse('{"value": 6.1, "unit": "%", "citation": "Observation/1"}')
    schema = {
        "type": "object",
        "properties": {"kind": {"enum": ["a", "b"]}},
        "required": ["kind"],
    }
    dspec = SchemaSpec.of(schema)
    assert dspec.parse('{"kind": "a"}') == {"kind": "a"}
    with pytest.raises(OutputRejected, match="kind"):
        dspec.parse('{"kind": "c"}')
    with pytest.raises(TypeError):
        SchemaSpec.of("not a schema")  # type: ignore[arg-type]


async def test_generate_text_strips_thinking_and_streams() -> None:
    model = Scripted(["<unused94>thought\nhmm<unused95>Hello there"])
    pieces: list[str] = []
    res = await model.generate([Message.user("hi")], on_token=pieces.append)
    assert res.output == "Hello there"
    assert res.text.startswith("<unused94>")
    assert "".join(pieces).strip() == res.text
    assert res.usage.prompt_tokens == 10
    assert res.usage.calls == 1
    assert isinstance(model, ChatModel)


async def test_generate_structured_repairs_then_succeeds() -> None:
    model = Scripted(["not json", '{"value": 7.2, "unit": "%", "citation": "E2"}'])
    res = await model.generate([Message.user("latest HbA1c?")], schema=Lab)
    assert res.output == Lab(value=7.2, unit="%", citation="E2")
    assert res.usage.calls == 2
    assert res.usage.prompt_tokens == 20
    # the schema is in the first prompt; the repair turn quotes the reason
    assert "JSON Schema" in model.prompts[0][-1].text
    repair = model.prompts[1]
    assert repair[-2].role == "assistant"
    assert repair[-2].text == "not json"
    assert "rejected" in repair[-1].text
    assert "not valid JSON" in repair[-1].text


async def test_generate_structured_gives_up_after_bounded_retries() -> None:
    model = Scripted(["nope"] * 5, max_repairs=2)
    with pytest.raises(MalformedOutput) as info:
        await model.generate([Message.user("q")], schema=Lab)
    assert info.value.attempts == 3
    assert info.value.raw == "nope"
    assert len(model.prompts) == 3
    assert isinstance(info.value, ModelError)
    assert isinstance(info.value, AssistantError)


async def test_dict_schema_returns_plain_json() -> None:
    schema = {
        "type": "object",
        "properties": {"tool": {"enum": ["a", "b"]}, "args": {"type": "array"}},
        "required": ["tool"],
    }
    model = Scripted(['```json\n{"tool": "b", "args": [1]}\n```'])
    res = await model.generate([Message.system("s"), Message.user("q")], schema=schema)
    assert res.output == {"tool": "b", "args": [1]}


async def test_stream_iterator_and_result() -> None:
    model = Scripted(["one two three"])
    stream = model.stream([Message.user("count")])
    with pytest.raises(RuntimeError):
        _ = stream.result
    got = [piece async for piece in stream]
    assert "".join(got).strip() == "one two three"
    assert stream.result.output == "one two three"


async def test_stream_propagates_errors() -> None:
    model = Scripted([])  # pop from empty list -> IndexError inside the backend
    with pytest.raises(IndexError):
        async for _ in model.stream([Message.user("x")]):
            pass


def test_message_helpers_and_images() -> None:
    from PIL import Image

    png = Image.new("RGB", (4, 4), (255, 0, 0))
    m = Message.user("what is this?", png, b"\xff\xd8\xff\xe0jpegdata")
    assert [type(p).__name__ for p in m.parts] == ["ImagePart", "ImagePart", "TextPart"]
    assert m.text == "what is this?"
    assert m.images[0].to_data_uri().startswith("data:image/png;base64,")
    assert m.images[1].to_bytes()[1] == "image/jpeg"
    assert m.images[0].to_pil().size == (4, 4)


def test_usage_adds_up() -> None:
    a = Usage(prompt_tokens=10, completion_tokens=2, seconds=1.0, ttft_s=0.5)
    b = Usage(
        prompt_tokens=12, completion_tokens=3, seconds=1.0, ttft_s=0.4, cached_prompt_tokens=8
    )
    c = a + b
    assert (c.prompt_tokens, c.completion_tokens, c.calls, c.ttft_s) == (22, 5, 2, 0.5)
    assert c.cached_prompt_tokens == 8
    assert c.evaluated_prompt_tokens == 14


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "127.8.9.10", "localhost", "LOCALHOST", "::1", "[::1]", "::ffff:127.0.0.1"],
)
def test_loopback_hosts(host: str) -> None:
    assert is_loopback_host(host)


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.5:8000/v1",
        "https://api.openai.com/v1",
        "http://192.168.1.20/v1",
        "http://localhost.evil.com/v1",
        "http://127.0.0.1.nip.io/v1",
        "http://0.0.0.0:8000/v1",
    ],
)
def test_non_loopback_refused(url: str) -> None:
    with pytest.raises(UnsafeEndpoint, match="allowed_hosts") as info:
        check_endpoint(url)
    assert isinstance(info.value, ConfigError)


def test_allowed_hosts_and_bad_urls() -> None:
    assert check_endpoint("https://gpu01.internal:8000/v1", ["GPU01.internal"]) == "gpu01.internal"
    assert check_endpoint("http://[::1]:8000/v1") == "::1"
    with pytest.raises(ValueError, match="http"):
        check_endpoint("ftp://127.0.0.1/v1")
    with pytest.raises(ValueError, match="no host"):
        check_endpoint("http:///v1")

"""Each OpenAI-compatible serving path of the MedGemma model card (vLLM, SGLang, Ollama,
llama-cpp-python) sends its own structured-output parameter, tested against llama.cpp's
OpenAI-compatible server standing in for them.

The stand-in is a real ``python -m llama_cpp.server`` (SmolLM2-135M) behind a loopback
proxy that plays the flavour's server: it records the request exactly as the backend sent
it, requires that flavour's parameter, and maps it to llama-cpp-python's own
(``response_format: {type: json_object, schema}``), as the real server maps its parameter
to its grammar engine (Ollama: ``response_format.json_schema.schema`` → ``format``). The
answer comes from the real model under a real grammar and must validate against the schema
in a single call (no repair needed).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import httpx
import orjson
import pytest
from pydantic import BaseModel, Field

from agent.config import load_deployment
from agent.models import Message, OpenAIChatModel, OpenAIConfig, resolve_gguf
from tests.models_fixtures import FakeServer, llama_server, require, smollm2_source

ROOT = Path(__file__).resolve().parents[1]


class Plan(BaseModel):
    tool: Literal["lab_trend", "list_conditions", "list_medications"]
    argument: str = Field(max_length=20)


@pytest.fixture(scope="module")
def llama_url() -> Iterator[str]:
    require("llama_cpp")
    require("sse_starlette")
    with llama_server(resolve_gguf(smollm2_source()), n_ctx=2048) as url:
        yield url


def _schema_of(flavour: str, request: dict[str, Any]) -> dict[str, Any]:
    """The schema a flavour's server would read from the request (and check its shape)."""
    if flavour == "vllm-structured-outputs":
        assert "response_format" not in request
        schema: dict[str, Any] = request["structured_outputs"]["json"]
        return schema
    rf = request["response_format"]
    if flavour == "llama-cpp-python":
        assert rf["type"] == "json_object"
        return dict(rf["schema"])
    assert rf["type"] == "json_schema"
    js = rf["json_schema"]
    assert js["name"]
    if flavour == "vllm":
        assert js["strict"] is True
    else:  # SGLang and Ollama document name + schema only
        assert "strict" not in js
    return dict(js["schema"])


def stand_in(flavour: str, llama_url: str, seen: list[dict[str, Any]]) -> Any:
    async def handler(method: str, path: str, body: bytes) -> tuple[int, str, bytes]:
        request = orjson.loads(body)
        seen.append(request)
        schema = _schema_of(flavour, request)
        forwarded = {
            k: v for k, v in request.items() if k not in ("response_format", "structured_outputs")
        }
        forwarded["response_format"] = {"type": "json_object", "schema": schema}
        async with httpx.AsyncClient(timeout=120, trust_env=False) as client:
            resp = await client.post(f"{llama_url}/chat/completions", json=forwarded)
        return resp.status_code, resp.headers.get("content-type", ""), resp.content

    return handler


FLAVOURS = {
    "vllm": {"server": "vllm"},
    "vllm-structured-outputs": {"server": "vllm", "response_format": "structured_outputs"},
    "sglang": {"server": "sglang"},
    "ollama": {"server": "ollama"},
    "llama-cpp-python": {"server": "llama-cpp-python"},
}


@pytest.mark.slow
@pytest.mark.integration
@pytest.mark.parametrize("flavour", list(FLAVOURS))
async def test_flavour_sends_its_own_parameter(flavour: str, llama_url: str) -> None:
    seen: list[dict[str, Any]] = []
    async with FakeServer(stand_in(flavour, llama_url, seen)) as proxy:
        config = OpenAIConfig.model_validate(
            {
                "backend": "openai",
                "base_url": proxy.base_url,
                "model": "smollm2",
                "max_tokens": 48,
                "timeout_s": 120,
                **FLAVOURS[flavour],
            }
        )
        async with OpenAIChatModel(config) as model:
            res = await model.generate(
                [Message.user("Plan a tool call for: which conditions are active?")],
                schema=Plan,
            )
            streamed: list[str] = []
            res2 = await model.generate(
                [Message.user("Plan a tool call for: latest HbA1c?")],
                schema=Plan,
                on_token=streamed.append,
            )
    assert isinstance(res.output, Plan)
    assert isinstance(res2.output, Plan)
    assert res.usage.calls == 1  # the grammar held: no repair round
    assert "".join(streamed) == res2.text
    assert len(seen) == 2
    assert seen[1]["stream"] is True
    assert _schema_of(flavour, seen[0]) == Plan.model_json_schema()


def test_configs_for_every_serving_path() -> None:
    """The deployment files name their server and parse."""
    expected = {
        "medgemma-27b-vllm.toml": ("vllm", "json_schema", True),
        "medgemma-27b-sglang.toml": ("sglang", "json_schema", True),
        "medgemma-27b-ollama.toml": ("ollama", "json_schema", False),
    }
    for name, (server, parameter, vision) in expected.items():
        model = load_deployment(ROOT / "configs" / name).model
        assert isinstance(model, OpenAIConfig)
        assert (model.server, model.structured_output, model.vision) == (server, parameter, vision)

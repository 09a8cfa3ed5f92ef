"""The shared part of every backend: the structured-output loop, streaming, worker threads.

Backends implement one coroutine, :meth:`BaseChatModel._complete` (one model call, raw
text out). This class turns it into the :class:`~agent.models.ChatModel` API:
schema instruction, validate-and-repair with a bounded number of retries, thinking-span
stripping, usage summed over attempts, and ``stream()``.

In-process backends (llama.cpp, transformers) compute in a dedicated worker thread via
:meth:`_run_blocking`, so the event loop stays free; one call runs at a time per model
(the weights and the KV cache are not shareable between concurrent calls), later calls
queue on an ``asyncio.Lock``. A timeout or a cancellation sets a stop flag that the
worker checks between tokens, and the lock is held until the worker has really stopped.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any, TypeVar, overload

from pydantic import BaseModel

from ..errors import MalformedOutput, ModelTimeout
from ._config import _Common
from ._structured import OutputRejected, SchemaSpec, strip_thinking, with_instruction
from ._types import (
    ChatResult,
    ChatStream,
    Message,
    OnToken,
    SchemaLike,
    TextPart,
    Usage,
    WarmResult,
)

__all__ = ["BaseChatModel", "RawCompletion", "merge_text_parts"]

ModelT = TypeVar("ModelT", bound=BaseModel)
R = TypeVar("R")

#: Called from a worker thread with each new piece of text.
Emit = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class RawCompletion:
    """One model call's raw result."""

    text: str
    usage: Usage
    finish_reason: str | None = None


def merge_text_parts(message: Message) -> list[tuple[str, Any]]:
    """A message's parts as ``("text", str)`` / ``("image", ImagePart)``, adjacent texts joined.

    Chat templates concatenate text items without a separator; joining them with a blank
    line here keeps appended instructions readable.
    """
    out: list[tuple[str, Any]] = []
    for part in message.parts:
        if isinstance(part, TextPart):
            if out and out[-1][0] == "text":
                out[-1] = ("text", f"{out[-1][1]}\n\n{part.text}")
            else:
                out.append(("text", part.text))
        else:
            out.append(("image", part))
    return out


class BaseChatModel:
    """Implements :class:`~agent.models.ChatModel` on top of :meth:`_complete`."""

    name: str
    config: _Common

    def __init__(self, config: _Common, name: str) -> None:
        self.config = config
        self.name = name
        self._lock = asyncio.Lock()
        self._executor: ThreadPoolExecutor | None = None

    # ------------------------------------------------------------------ to implement

    async def _complete(
        self,
        messages: list[Message],
        *,
        spec: SchemaSpec | None,
        max_tokens: int,
        temperature: float,
        on_token: OnToken | None,
    ) -> RawCompletion:
        """Run one model call and return its raw text (thinking spans included)."""
        raise NotImplementedError

    async def warm(self, prompts: Sequence[Sequence[Message]]) -> WarmResult | None:
        """Keep the common prefix of ``prompts`` ready (see :meth:`ChatModel.warm`); a
        backend without a prompt cache of its own does nothing and returns None."""
        return None

    async def aclose(self) -> None:
        """Release resources (worker thread, HTTP client, weights)."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    # ------------------------------------------------------------------ public API

    @overload
    async def generate(
        self,
        messages: Sequence[Message],
        *,
        schema: None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        on_token: OnToken | None = None,
    ) -> ChatResult[str]: ...

    @overload
    async def generate(
        self,
        messages: Sequence[Message],
        *,
        schema: type[ModelT],
        max_tokens: int | None = None,
        temperature: float | None = None,
        on_token: OnToken | None = None,
    ) -> ChatResult[ModelT]: ...

    @overload
    async def generate(
        self,
        messages: Sequence[Message],
        *,
        schema: dict[str, Any],
        max_tokens: int | None = None,
        temperature: float | None = None,
        on_token: OnToken | None = None,
    ) -> ChatResult[Any]: ...

    async def generate(
        self,
        messages: Sequence[Message],
        *,
        schema: SchemaLike | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        on_token: OnToken | None = None,
    ) -> ChatResult[Any]:
        """Generate an answer: text, or with ``schema`` a validated object.

        Args:
            messages: the conversation (system, user, assistant turns; text and images).
            schema: a pydantic model class (returns an instance) or a JSON Schema dict
                (returns the parsed JSON). Constrained decoding is used where the backend
                has it; the answer is always validated, and an invalid one is sent back to
                the model with the reason, at most ``max_repairs`` times.
            max_tokens: completion budget per call (default: the config's).
            temperature: sampling temperature (default: the config's; 0 is greedy).
            on_token: called on the event loop's thread with each new piece of text
                (repair attempts stream too).

        Raises:
            ContextOverflow, ModelTimeout, BackendUnreachable, BackendHTTPError,
            BackendProtocolError, UnsupportedInput, MalformedOutput, ModelLoadError.
        """
        msgs = list(messages)
        if not msgs:
            raise ValueError("generate() needs at least one message")
        spec = SchemaSpec.of(schema) if schema is not None else None
        budget = max_tokens if max_tokens is not None else self.config.max_tokens
        temp = temperature if temperature is not None else self.config.temperature
        started = time.perf_counter()

        if spec is None:
            raw = await self._complete(
                msgs, spec=None, max_tokens=budget, temperature=temp, on_token=on_token
            )
            return ChatResult(
                output=strip_thinking(raw.text),
                text=raw.text,
                usage=replace(raw.usage, seconds=time.perf_counter() - started),
                finish_reason=raw.finish_reason,
                model=self.name,
            )

        prompt = with_instruction(msgs, spec) if self.config.schema_in_prompt else msgs
        usage: Usage | None = None
        attempts = 1 + self.config.max_repairs
        reason = ""
        raw_text = ""
        for _ in range(attempts):
            raw = await self._complete(
                prompt, spec=spec, max_tokens=budget, temperature=temp, on_token=on_token
            )
            raw_text = raw.text
            usage = raw.usage if usage is None else usage + raw.usage
            try:
                value = spec.parse(raw.text)
            except OutputRejected as exc:
                reason = str(exc)
                if raw.finish_reason == "length":
                    reason += f" (the answer was cut at max_tokens={budget})"
                prompt = prompt + spec.repair_messages(strip_thinking(raw.text), reason)
                continue
            return ChatResult(
                output=value,
                text=raw.text,
                usage=replace(usage, seconds=time.perf_counter() - started),
                finish_reason=raw.finish_reason,
                model=self.name,
            )
        raise MalformedOutput(reason, raw_text, attempts, self.name)

    def stream(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> ChatStream:
        """Stream a text answer: ``async for piece in model.stream(msgs)``; then ``.result``."""

        def start(on_token: OnToken) -> Any:
            return self.generate(
                messages, max_tokens=max_tokens, temperature=temperature, on_token=on_token
            )

        return ChatStream(start)

    async def __aenter__(self) -> BaseChatModel:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def _thread_emitter(on_token: OnToken | None) -> Emit | None:
        """Wrap ``on_token`` so a worker thread can call it; it runs on the event loop."""
        if on_token is None:
            return None
        loop = asyncio.get_running_loop()

        def emit(piece: str) -> None:
            if piece:
                loop.call_soon_threadsafe(on_token, piece)

        return emit

    async def _run_blocking(self, fn: Callable[[threading.Event], R], what: str) -> R:
        """Run ``fn(stop_event)`` in this model's worker thread, one call at a time.

        On timeout (``timeout_s``) or cancellation the stop event is set; ``fn`` must check it
        between tokens. The lock is released only once ``fn`` has returned.
        """
        async with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"model-{self.name}")
            stop = threading.Event()
            fut = asyncio.get_running_loop().run_in_executor(self._executor, fn, stop)
            try:
                return await asyncio.wait_for(asyncio.shield(fut), self.config.timeout_s)
            except TimeoutError:
                stop.set()
                await asyncio.gather(fut, return_exceptions=True)
                raise ModelTimeout(
                    f"{what} ({self.name})",
                    self.config.timeout_s,
                    "Raise [model] timeout_s, lower max_tokens, or use a smaller/faster model.",
                ) from None
            except asyncio.CancelledError:
                stop.set()
                await asyncio.gather(fut, return_exceptions=True)
                raise

"""Messages, usage, results and the :class:`ChatModel` protocol every backend implements."""

from __future__ import annotations

import base64
import contextlib
import io
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import (
    TYPE_CHECKING,
    Any,
    Generic,
    Literal,
    Protocol,
    TypeVar,
    overload,
    runtime_checkable,
)

from pydantic import BaseModel

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

__all__ = [
    "ChatModel",
    "ChatResult",
    "ImagePart",
    "Message",
    "OnToken",
    "Role",
    "SchemaLike",
    "TextPart",
    "Usage",
]

Role = Literal["system", "user", "assistant"]
ModelT = TypeVar("ModelT", bound=BaseModel)
T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)

#: A structured-output schema: a pydantic model class or a JSON Schema dict.
SchemaLike = type[BaseModel] | dict[str, Any]

#: Called with each new piece of generated text, always on the event loop's thread.
OnToken = Callable[[str], None]

_MAGIC = {
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"\xff\xd8\xff": "image/jpeg",
    b"GIF87a": "image/gif",
    b"GIF89a": "image/gif",
    b"BM": "image/bmp",
}


@dataclass(frozen=True, slots=True)
class TextPart:
    """A piece of text in a message."""

    text: str


@dataclass(frozen=True, slots=True)
class ImagePart:
    """An image in a message: a PIL image or encoded bytes (PNG, JPEG, GIF, WebP, BMP)."""

    image: PILImage | bytes
    mime_type: str | None = None

    def to_bytes(self) -> tuple[bytes, str]:
        """The encoded image and its MIME type (PIL images are encoded as PNG)."""
        if isinstance(self.image, bytes | bytearray):
            data = bytes(self.image)
            return data, self.mime_type or _sniff_mime(data)
        buf = io.BytesIO()
        self.image.save(buf, format="PNG")
        return buf.getvalue(), "image/png"

    def to_data_uri(self) -> str:
        """``data:<mime>;base64,...`` as OpenAI-compatible servers take it."""
        data, mime = self.to_bytes()
        return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"

    def to_pil(self) -> PILImage:
        """The image as an RGB PIL image (needs Pillow)."""
        from PIL import Image

        img: PILImage
        if isinstance(self.image, bytes | bytearray):
            img = Image.open(io.BytesIO(bytes(self.image)))
            img.load()
        else:
            img = self.image
        return img.convert("RGB") if img.mode != "RGB" else img


def _sniff_mime(data: bytes) -> str:
    for magic, mime in _MAGIC.items():
        if data.startswith(magic):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return "application/octet-stream"


ContentPart = TextPart | ImagePart


@dataclass(frozen=True, slots=True)
class Message:
    """One chat message: a role and text and/or images, in order.

    Build with the helpers: ``Message.system("...")``, ``Message.user("...", image)``,
    ``Message.assistant("...")``.
    """

    role: Role
    parts: tuple[ContentPart, ...]

    @classmethod
    def system(cls, text: str) -> Message:
        """A system message (instructions)."""
        return cls("system", (TextPart(text),))

    @classmethod
    def user(cls, text: str = "", *images: PILImage | bytes | ImagePart) -> Message:
        """A user message: the images come first, then the text (Gemma's preferred order)."""
        parts: list[ContentPart] = [
            img if isinstance(img, ImagePart) else ImagePart(img) for img in images
        ]
        if text:
            parts.append(TextPart(text))
        return cls("user", tuple(parts))

    @classmethod
    def assistant(cls, text: str) -> Message:
        """An earlier answer of the model."""
        return cls("assistant", (TextPart(text),))

    @property
    def text(self) -> str:
        """All text parts joined with blank lines."""
        return "\n\n".join(p.text for p in self.parts if isinstance(p, TextPart))

    @property
    def images(self) -> list[ImagePart]:
        """The image parts, in order."""
        return [p for p in self.parts if isinstance(p, ImagePart)]


@dataclass(frozen=True, slots=True)
class Usage:
    """What one ``generate`` call cost (summed over its repair retries).

    Attributes:
        prompt_tokens: tokens in the prompt(s).
        completion_tokens: tokens generated.
        seconds: wall time of the whole call.
        ttft_s: time to the first generated token of the first model call, when known.
        cached_prompt_tokens: prompt tokens served from a cache (llama.cpp KV prefix, vLLM
            prefix cache) instead of being evaluated; ``None`` when the backend cannot tell.
        calls: model calls made (1 + repair retries).
        estimated: token counts were estimated (a server that reports no usage).
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    ttft_s: float | None = None
    cached_prompt_tokens: int | None = None
    calls: int = 1
    estimated: bool = False

    @property
    def evaluated_prompt_tokens(self) -> int:
        """Prompt tokens actually processed (prompt minus cache hits, when known)."""
        return self.prompt_tokens - (self.cached_prompt_tokens or 0)

    def __add__(self, other: Usage) -> Usage:
        cached: int | None
        if self.cached_prompt_tokens is None and other.cached_prompt_tokens is None:
            cached = None
        else:
            cached = (self.cached_prompt_tokens or 0) + (other.cached_prompt_tokens or 0)
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            seconds=self.seconds + other.seconds,
            ttft_s=self.ttft_s if self.ttft_s is not None else other.ttft_s,
            cached_prompt_tokens=cached,
            calls=self.calls + other.calls,
            estimated=self.estimated or other.estimated,
        )


@dataclass(frozen=True, slots=True)
class WarmResult:
    """What warming a prompt prefix did (:meth:`ChatModel.warm`).

    Attributes:
        prefix_tokens: the tokens every given prompt starts with (the warmed prefix).
        evaluated_tokens: of those, the tokens evaluated now (0: nothing to compute).
        cached: the prefix was already saved (nothing was computed or written).
        saved: the prefix's state is in the on-disk prefix cache after this call.
        seconds: wall time of the call.
        state_bytes: size of the saved state (0 when not saved).
    """

    prefix_tokens: int
    evaluated_tokens: int
    cached: bool
    saved: bool
    seconds: float
    state_bytes: int = 0


@dataclass(frozen=True, slots=True)
class ChatResult(Generic[T_co]):
    """The answer of one ``generate`` call.

    Attributes:
        output: the text (thinking spans removed) or the validated object.
        text: the model's raw text of the last attempt (thinking spans included).
        usage: tokens, time, cache hits.
        finish_reason: ``"stop"``, ``"length"`` (cut at max_tokens) or the server's value.
        model: the model's display name.
    """

    output: T_co
    text: str
    usage: Usage
    finish_reason: str | None = None
    model: str = ""
    meta: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class ChatModel(Protocol):
    """The one chat-model interface of the agent (async; see ``docs/models.md``).

    ``generate`` returns the text, or, with ``schema``, an object validated against it
    (a pydantic model instance, or a ``dict``/``list`` for a JSON Schema dict). It raises
    only :class:`agent.errors.ModelError` subclasses for model failures.
    """

    name: str

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
        """Generate one answer (see the class docstring)."""
        ...

    def stream(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> ChatStream:
        """Stream a text answer: ``async for piece in model.stream(msgs)``; then ``.result``."""
        ...

    async def warm(self, prompts: Sequence[Sequence[Message]]) -> WarmResult | None:
        """Evaluate and keep the token prefix all ``prompts`` start with (llama.cpp: saved
        to the on-disk prefix cache), so later prompts with that prefix skip it. Backends
        without a prompt cache of their own return None and do nothing."""
        ...

    async def aclose(self) -> None:
        """Release the model (HTTP client, weights)."""
        ...


class ChatStream:
    """An async iterator over the pieces of a text answer; ``.result`` once exhausted.

    Backed by ``generate(on_token=...)``: the generation starts on the first ``__anext__``
    and runs as a task; leaving the loop early (``break``) cancels it.
    """

    def __init__(self, start: Callable[[OnToken], Any]) -> None:
        self._start = start
        self._result: ChatResult[str] | None = None

    @property
    def result(self) -> ChatResult[str]:
        """The finished :class:`ChatResult` (after the iteration ended)."""
        if self._result is None:
            raise RuntimeError("the stream has not finished; iterate it to the end first")
        return self._result

    def __aiter__(self) -> AsyncIterator[str]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[str]:
        import asyncio

        queue: asyncio.Queue[str] = asyncio.Queue()
        task: asyncio.Task[ChatResult[str]] = asyncio.ensure_future(self._start(queue.put_nowait))
        try:
            while True:
                if queue.empty() and task.done():
                    break
                getter = asyncio.ensure_future(queue.get())
                done, _ = await asyncio.wait({getter, task}, return_when=asyncio.FIRST_COMPLETED)
                if getter in done:
                    yield getter.result()
                else:
                    getter.cancel()
            while not queue.empty():
                yield queue.get_nowait()
            self._result = task.result()
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

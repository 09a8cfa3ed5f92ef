"""Chat model backends behind one async interface (see ``docs/models.md``).

::

    from agent.models import Message, build_chat_model
    from agent.config import load_deployment

    model = build_chat_model(load_deployment("configs/cpu-demo.toml").model)
    result = await model.generate([Message.user("Latest HbA1c?")], schema=Answer)
    result.output  # an Answer instance; result.usage has tokens, seconds, TTFT, cache hits

Backends: in-process transformers and llama.cpp (computing in a worker thread, so the
event loop stays free) and OpenAI-compatible HTTP servers (vLLM, llama.cpp server).
"""

from __future__ import annotations

from ._base import BaseChatModel
from ._config import (
    GgufSource,
    LlamaCppConfig,
    ModelConfig,
    OpenAIConfig,
    TransformersConfig,
    accepts_images,
)
from ._endpoint import check_endpoint, is_loopback_host
from ._factory import build_chat_model
from ._llamacpp import LlamaCppChatModel, resolve_gguf
from ._openai import OpenAIChatModel
from ._probe import ProbeResult, RuntimeName, probe_llamacpp, probe_transformers
from ._structured import extract_json, strip_code_fences, strip_thinking
from ._transformers import TransformersChatModel
from ._types import (
    ChatModel,
    ChatResult,
    ChatStream,
    ImagePart,
    Message,
    OnToken,
    SchemaLike,
    TextPart,
    Usage,
    WarmResult,
)

__all__ = [
    "BaseChatModel",
    "ChatModel",
    "ChatResult",
    "ChatStream",
    "GgufSource",
    "ImagePart",
    "LlamaCppChatModel",
    "LlamaCppConfig",
    "Message",
    "ModelConfig",
    "OnToken",
    "OpenAIChatModel",
    "OpenAIConfig",
    "ProbeResult",
    "RuntimeName",
    "SchemaLike",
    "TextPart",
    "TransformersChatModel",
    "TransformersConfig",
    "Usage",
    "WarmResult",
    "accepts_images",
    "build_chat_model",
    "check_endpoint",
    "extract_json",
    "is_loopback_host",
    "probe_llamacpp",
    "probe_transformers",
    "resolve_gguf",
    "strip_code_fences",
    "strip_thinking",
]

"""Build a :class:`~agent.models.ChatModel` from its typed config."""

from __future__ import annotations

from ._base import BaseChatModel
from ._config import LlamaCppConfig, ModelConfig, OpenAIConfig, TransformersConfig

__all__ = ["build_chat_model"]


def build_chat_model(config: ModelConfig) -> BaseChatModel:
    """The backend for ``config``; nothing heavy is loaded until the first call or ``load()``.

    Raises:
        UnsafeEndpoint: an HTTP endpoint that is neither loopback nor in ``allowed_hosts``.
    """
    if isinstance(config, LlamaCppConfig):
        from ._llamacpp import LlamaCppChatModel

        return LlamaCppChatModel(config)
    if isinstance(config, TransformersConfig):
        from ._transformers import TransformersChatModel

        return TransformersChatModel(config)
    if isinstance(config, OpenAIConfig):
        from ._openai import OpenAIChatModel

        return OpenAIChatModel(config)
    raise TypeError(f"not a model config: {config!r}")

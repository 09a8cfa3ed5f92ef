"""In-process Hugging Face transformers backend (image-text-to-text models: MedGemma, Gemma 3).

Loads ``AutoModelForImageTextToText`` + ``AutoProcessor`` from a local directory (or the
local HF cache; never downloads), formats the conversation with the model's own chat
template, and generates in this model's worker thread. Text streams through a
``TextStreamer`` subclass (the same incremental decoder ``TextIteratorStreamer`` uses,
without a second thread). Structured output is validate-and-repair: no constrained
decoding here, so a weak model may end in :class:`~agent.errors.MalformedOutput`.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from ..errors import ContextOverflow, ModelLoadError, UnsupportedInput
from ._base import BaseChatModel, Emit, RawCompletion, merge_text_parts
from ._config import TransformersConfig
from ._structured import SchemaSpec
from ._types import ImagePart, Message, OnToken, Usage

__all__ = ["TransformersChatModel"]

_INSTALL = (
    "Install the transformers extra: pip install torch==2.13.0 'transformers>=5,<6' "
    "accelerate pillow (or pip install -e '.[transformers]')."
)


class TransformersChatModel(BaseChatModel):
    """A chat model running in this process with transformers (see the module docstring)."""

    config: TransformersConfig

    def __init__(self, config: TransformersConfig) -> None:
        super().__init__(config, config.name or Path(config.model).name or config.model)
        self._model: Any = None
        self._processor: Any = None
        self._tokenizer: Any = None
        self._device: Any = None
        self._limit: int | None = None

    # ------------------------------------------------------------------ loading

    @property
    def loaded(self) -> bool:
        """Whether the weights are in memory."""
        return self._model is not None

    async def load(self) -> None:
        """Load the weights and processor in the worker thread (done on first use anyway)."""
        if self._model is None:
            await self._run_blocking(lambda _stop: self._load_sync(), "loading the model")

    def _load_sync(self) -> None:
        if self._model is not None:
            return
        cfg = self.config
        try:
            import torch
            from transformers import AutoModelForImageTextToText, AutoProcessor
        except ImportError as exc:
            raise ModelLoadError(
                f"The transformers backend needs torch and transformers ({exc}). {_INSTALL}"
            ) from exc

        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        kwargs: dict[str, Any] = {"local_files_only": True}
        if cfg.revision:
            kwargs["revision"] = cfg.revision
        where = cfg.model
        local = Path(cfg.model)
        if local.is_absolute() and not local.exists():
            raise ModelLoadError(
                f"Model directory {local} does not exist. Copy the model (config.json, "
                "*.safetensors, tokenizer and processor files) there, or fix [model] model."
            )

        load_kwargs: dict[str, Any] = dict(kwargs)
        load_kwargs["dtype"] = cfg.dtype if cfg.dtype == "auto" else getattr(torch, cfg.dtype)
        if cfg.attn_implementation:
            load_kwargs["attn_implementation"] = cfg.attn_implementation
        if cfg.quantization != "none":
            if not torch.cuda.is_available():
                raise ModelLoadError(
                    f"quantization = {cfg.quantization!r} uses bitsandbytes, which needs a CUDA "
                    'GPU, and torch sees none on this machine. Set quantization = "none" '
                    '(and dtype = "bfloat16"), or use the llama.cpp backend with a quantized '
                    "GGUF for CPU inference."
                )
            try:
                import bitsandbytes  # noqa: F401
                from transformers import BitsAndBytesConfig
            except ImportError as exc:
                raise ModelLoadError(
                    f"quantization = {cfg.quantization!r} needs bitsandbytes: pip install "
                    f"'bitsandbytes>=0.45' ({exc})."
                ) from exc
            if cfg.quantization == "4bit":
                qc = BitsAndBytesConfig(
                    load_in_4bit=True,
                    bnb_4bit_quant_type="nf4",
                    bnb_4bit_compute_dtype=torch.bfloat16,
                )
            else:
                qc = BitsAndBytesConfig(load_in_8bit=True)
            load_kwargs["quantization_config"] = qc
        if cfg.device_map and not cfg.device:
            try:
                import accelerate  # noqa: F401
            except ImportError as exc:
                raise ModelLoadError(
                    f"device_map = {cfg.device_map!r} needs accelerate: pip install "
                    '\'accelerate>=1.0\' (or set device = "cpu" / "cuda" instead).'
                ) from exc
            load_kwargs["device_map"] = cfg.device_map

        try:
            processor = AutoProcessor.from_pretrained(where, **kwargs)
            model: Any = AutoModelForImageTextToText.from_pretrained(where, **load_kwargs)
        except (OSError, ValueError) as exc:
            raise ModelLoadError(
                f"Cannot load the transformers model {where!r}: {exc}. It must be a local "
                "directory, or a model already in the local Hugging Face cache (nothing is "
                "downloaded). Fetch it where you may (e.g. `hf download google/medgemma-27b-it`), "
                "copy the directory here and set [model] model to its path."
            ) from exc
        except ImportError as exc:
            raise ModelLoadError(f"Cannot load {where!r}: {exc}. {_INSTALL}") from exc

        if cfg.device:
            model = model.to(cfg.device)
        elif "device_map" not in load_kwargs and cfg.quantization == "none":
            model = model.to("cuda" if torch.cuda.is_available() else "cpu")
        model.eval()
        self._model = model
        self._processor = processor
        self._tokenizer = getattr(processor, "tokenizer", processor)
        self._device = model.device
        self._limit = cfg.max_context_tokens or _context_limit(model.config)

    async def aclose(self) -> None:
        """Drop the weights and stop the worker thread."""
        self._model = None
        self._processor = None
        await super().aclose()

    # ------------------------------------------------------------------ generation

    def _conversation(self, messages: list[Message]) -> tuple[list[dict[str, Any]], int]:
        conv: list[dict[str, Any]] = []
        n_images = 0
        for m in messages:
            content: list[dict[str, Any]] = []
            for kind, value in merge_text_parts(m):
                if kind == "text":
                    content.append({"type": "text", "text": value})
                else:
                    assert isinstance(value, ImagePart)
                    content.append({"type": "image", "image": value.to_pil()})
                    n_images += 1
            conv.append({"role": m.role, "content": content})
        return conv, n_images

    async def _complete(
        self,
        messages: list[Message],
        *,
        spec: SchemaSpec | None,
        max_tokens: int,
        temperature: float,
        on_token: OnToken | None,
    ) -> RawCompletion:
        await self.load()
        emit = self._thread_emitter(on_token)
        return await self._run_blocking(
            lambda stop: self._generate_sync(messages, max_tokens, temperature, emit, stop),
            "generation",
        )

    def _generate_sync(
        self,
        messages: list[Message],
        max_tokens: int,
        temperature: float,
        emit: Emit | None,
        stop: threading.Event,
    ) -> RawCompletion:
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList, TextStreamer

        started = time.perf_counter()
        conv, n_images = self._conversation(messages)
        if n_images and self._processor is self._tokenizer:
            raise UnsupportedInput(
                f"{self.name} has no image processor (a text-only model); send text only, "
                "or configure an image-text-to-text model such as MedGemma."
            )
        try:
            inputs = self._processor.apply_chat_template(
                conv,
                add_generation_prompt=True,
                tokenize=True,
                return_dict=True,
                return_tensors="pt",
            )
        except Exception as exc:  # template errors are jinja / ValueError / TypeError
            raise UnsupportedInput(
                f"{self.name}'s chat template rejected the messages: {exc}"
            ) from exc
        inputs = inputs.to(self._device)
        if "pixel_values" in inputs and self._model.dtype != torch.float32:
            inputs["pixel_values"] = inputs["pixel_values"].to(self._model.dtype)
        n_prompt = int(inputs["input_ids"].shape[-1])
        if self._limit is not None and n_prompt + max_tokens > self._limit:
            raise ContextOverflow(n_prompt, max_tokens, self._limit, self.name)

        first: list[float] = []

        class _Streamer(TextStreamer):
            def put(self, value: Any) -> None:
                if self.next_tokens_are_prompt:
                    super().put(value)
                    return
                if not first:
                    first.append(time.perf_counter())
                super().put(value)

            def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
                if emit is not None:
                    emit(text)

        class _Stop(StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                return torch.full(
                    (input_ids.shape[0],), stop.is_set(), dtype=torch.bool, device=input_ids.device
                )

        gen_kwargs: dict[str, Any] = {
            "max_new_tokens": max_tokens,
            "streamer": _Streamer(self._tokenizer, skip_prompt=True, skip_special_tokens=True),
            "stopping_criteria": StoppingCriteriaList([_Stop()]),
        }
        if temperature > 0:
            gen_kwargs.update(do_sample=True, temperature=temperature)
        else:
            gen_kwargs.update(do_sample=False, top_p=None, top_k=None, temperature=None)
        with torch.inference_mode():
            output = self._model.generate(**inputs, **gen_kwargs)
        new_ids = output[0][n_prompt:]
        text = self._tokenizer.decode(new_ids, skip_special_tokens=True)
        n_new = int(new_ids.shape[-1])
        eos = self._model.generation_config.eos_token_id
        eos_ids = set(eos if isinstance(eos, list) else [eos]) if eos is not None else set()
        ended = n_new > 0 and int(new_ids[-1]) in eos_ids
        finish = "stop" if ended or n_new < max_tokens else "length"
        if stop.is_set():
            finish = "cancelled"
        return RawCompletion(
            text=text,
            usage=Usage(
                prompt_tokens=n_prompt,
                completion_tokens=n_new,
                seconds=time.perf_counter() - started,
                ttft_s=(first[0] - started) if first else None,
                cached_prompt_tokens=None,
            ),
            finish_reason=finish,
        )


def _context_limit(config: Any) -> int | None:
    """The model's context window from its config (text_config first)."""
    for cfg in (getattr(config, "text_config", None), config):
        value = getattr(cfg, "max_position_embeddings", None) if cfg is not None else None
        if isinstance(value, int) and value > 0:
            return value
    return None

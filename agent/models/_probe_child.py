"""The child side of :mod:`agent.models._probe` (``python -m agent.models._probe_child``).

Kept out of ``agent.models`` so that running it as ``-m`` imports it only once. It prints
one JSON line per stage, flushed, so that the parent knows how far it got if it crashes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

_PROMPT = "The patient's most recent HbA1c was 7.1 % on 2018-01-01, and the plan is"


def _emit(**fields: Any) -> None:
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def _child_llamacpp(gguf: str, tokens: int, threads: int) -> None:
    try:
        import llama_cpp
    except ImportError as exc:
        _emit(stage="missing", detail=f"cannot import llama_cpp: {exc}")
        sys.exit(3)
    info = llama_cpp.llama_print_system_info()
    _emit(
        stage="runtime",
        version=f"llama-cpp-python {llama_cpp.__version__}",
        build_info=info.decode(errors="replace") if isinstance(info, bytes) else str(info),
        model=Path(gguf).name,
        tokens=tokens,
    )
    llm = llama_cpp.Llama(
        model_path=gguf,
        n_ctx=256,
        n_batch=max(8, tokens),
        n_threads=threads,
        verbose=False,
    )
    _emit(stage="model")
    ids = llm.tokenize(_PROMPT.encode(), add_bos=True)
    while len(ids) < tokens:
        ids = ids + ids
    llm.eval(ids[:tokens])
    best = int(llm.scores[llm.n_tokens - 1].argmax())
    llm.eval([best])  # one generation step: the single-token path differs from a batch
    _emit(stage="done", tokens=tokens, x_next_token=best)


def _child_transformers(tokens: int) -> None:
    try:
        import torch
        import transformers
        from transformers import Gemma3ForCausalLM, Gemma3TextConfig
    except ImportError as exc:
        _emit(stage="missing", detail=f"cannot import torch/transformers: {exc}")
        sys.exit(3)
    capability = getattr(torch.backends.cpu, "get_cpu_capability", lambda: "")()
    _emit(
        stage="runtime",
        version=f"torch {torch.__version__}, transformers {transformers.__version__}",
        build_info=f"CPU capability: {capability} = 1" if capability else None,
        tokens=tokens,
    )
    torch.manual_seed(0)
    config = Gemma3TextConfig(
        vocab_size=128,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=16,
        max_position_embeddings=256,
        sliding_window=16,
        layer_types=["sliding_attention", "full_attention"],
    )
    model = Gemma3ForCausalLM(config).eval()
    _emit(stage="model")
    ids = torch.arange(2, 2 + tokens).unsqueeze(0)
    with torch.no_grad():
        logits = model(input_ids=ids).logits
        best = int(logits[0, -1].argmax())
        model(input_ids=torch.cat([ids, torch.tensor([[best]])], dim=1))
    _emit(stage="done", tokens=tokens, x_next_token=best)


def _child(argv: list[str]) -> None:
    try:
        if argv[0] == "llamacpp":
            _child_llamacpp(argv[1], int(argv[2]), int(argv[3]))
        elif argv[0] == "transformers":
            _child_transformers(int(argv[1]))
        else:
            raise SystemExit(f"unknown runtime {argv[0]!r}")
    except Exception as exc:  # reported to the parent as an error, not a traceback
        _emit(stage="error", detail=f"{type(exc).__name__}: {exc}")
        sys.exit(1)


if __name__ == "__main__":
    _child(sys.argv[1:])

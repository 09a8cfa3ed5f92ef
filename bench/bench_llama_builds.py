"""llama.cpp builds side by side: the cpu-demo speed of each build, run alternately.

Each build is an interpreter whose ``llama_cpp`` was compiled with other flags (e.g. a
throwaway venv that sees ``.venv``'s packages through a ``.pth`` file and has its own
llama-cpp-python). For each round, every build runs ``bench/bench_models.py speed --json``
in its own process (order reversed every other round); a build that crashes is reported
with its signal::

    python bench/bench_llama_builds.py \\
        --build portable=.venv/bin/python --build native=.bench-venvs/native/bin/python \\
        --rounds 2 --prefix-tokens 800

Prints each build's CPU flags (``llama_print_system_info``), prompt and generation
tokens/s (median of the rounds) and the ratio to the first build. See docs/models.md.
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_INFO = (
    "import llama_cpp; "
    "print(llama_cpp.__version__, llama_cpp.llama_print_system_info().decode(errors='replace'))"
)


@dataclass
class Build:
    name: str
    python: str
    flags: str = ""
    prompt_tps: list[float] = field(default_factory=list)
    gen_tps: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def _flags(python: str) -> str:
    proc = subprocess.run([python, "-c", _INFO], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        return f"(cannot import llama_cpp: {proc.stderr.strip()[-200:]})"
    on = [p.split("=")[0].strip() for p in proc.stdout.split("|") if p.strip().endswith("= 1")]
    return " ".join(x.split(":")[-1].strip() for x in on)


def _run(build: Build, config: Path, prefix_tokens: int, timeout: float) -> None:
    cmd = [build.python, str(ROOT / "bench" / "bench_models.py"), "speed", "--json"]
    cmd += ["--config", str(config), "--prefix-tokens", str(prefix_tokens), "--repeat", "1"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        build.failures.append(f"timeout after {timeout:.0f} s")
        return
    if proc.returncode < 0:
        build.failures.append(f"crashed ({signal.Signals(-proc.returncode).name})")
        return
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        build.failures.append(f"exit {proc.returncode}: {proc.stderr.strip()[-300:]}")
        return
    figures = json.loads(lines[-1])
    build.prompt_tps.append(figures["prompt_tps"])
    if figures.get("gen_tps"):
        build.gen_tps.append(figures["gen_tps"])
    print(
        f"  {build.name}: prompt {figures['prompt_tps']:.1f} tok/s, "
        f"generation {figures.get('gen_tps') or 0:.1f} tok/s",
        file=sys.stderr,
    )


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--build",
        action="append",
        required=True,
        metavar="NAME=PYTHON",
        help="a build: its name and the interpreter that imports it (repeatable; first = base)",
    )
    ap.add_argument("--config", type=Path, default=ROOT / "configs" / "cpu-demo.toml")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--prefix-tokens", type=int, default=800)
    ap.add_argument("--timeout", type=float, default=900)
    args = ap.parse_args()
    builds = [Build(*spec.split("=", 1)) for spec in args.build]
    for b in builds:
        b.flags = _flags(b.python)
    for r in range(args.rounds):
        order = builds if r % 2 == 0 else builds[::-1]
        print(f"round {r + 1}/{args.rounds}: {', '.join(b.name for b in order)}", file=sys.stderr)
        for b in order:
            _run(b, args.config, args.prefix_tokens, args.timeout)

    med = statistics.median
    base = builds[0]
    print(
        f"config {args.config.name}, record prefix ~{args.prefix_tokens} tokens, "
        f"{args.rounds} alternating round(s), median"
    )
    print(f"{'build':<10} {'prompt tok/s':>12} {'ratio':>6} {'gen tok/s':>10} {'ratio':>6}  flags")
    for b in builds:
        if not b.prompt_tps:
            print(f"{b.name:<10} {b.failures[0] if b.failures else 'no result':>37}  {b.flags}")
            continue
        pp, gen = med(b.prompt_tps), med(b.gen_tps) if b.gen_tps else 0.0
        pp_r = pp / med(base.prompt_tps) if base.prompt_tps else float("nan")
        gen_r = gen / med(base.gen_tps) if base.gen_tps else float("nan")
        note = f"  ({len(b.failures)} failed run(s): {b.failures[0]})" if b.failures else ""
        print(f"{b.name:<10} {pp:>12.1f} {pp_r:>6.2f} {gen:>10.1f} {gen_r:>6.2f}  {b.flags}{note}")


if __name__ == "__main__":
    main()

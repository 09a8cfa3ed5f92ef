"""EHRQA runner: a short baseline run on the fixtures, resume, reports, the CLI command."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from bench.ehrqa.answer import Answerer, AnswerRecord
from bench.ehrqa.baseline import BaselineAnswerer
from bench.ehrqa.cli import register
from bench.ehrqa.generate import Question
from bench.ehrqa.run import RunConfig, run_eval
from tools.fhir_version import patient_ids_of

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fhir_fixtures" / "patients"
SHARED = ROOT.parent / "shared" / "synthea"


def test_baseline_run_on_fixtures(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    report = run_eval(RunConfig(FIXTURES, 24, seed=2, out=out, progress=False))
    assert report is not None
    overall = report["overall"]
    assert overall["n"] == 24
    assert overall["errors"] == 0
    assert len(report["per_category"]) == 12
    # the oracle-routed baseline answers every fixture question right
    assert overall["accuracy"] == 1.0
    assert overall["citation_recall"] == 1.0
    assert overall["citation_precision"] >= 0.9
    assert overall["model_calls_mean"] == 0
    saved = json.loads(out.read_text())
    assert saved["overall"] == overall
    assert len(saved["results"]) == 24
    md = (tmp_path / "r.md").read_text()
    assert "| not_in_record |" in md
    assert "**overall**" in md
    assert (tmp_path / "r.png").stat().st_size > 1000
    assert len(json.loads((tmp_path / "r.questions.json").read_text())) == 24


class _Counting:
    """Wraps the baseline; fails after ``limit`` answers (an interruption)."""

    name = "baseline"

    def __init__(self, inner: BaselineAnswerer, limit: int | None) -> None:
        self.inner, self.limit, self.calls = inner, limit, 0

    async def answer(self, question: Question, patient_id: str) -> AnswerRecord:
        if self.limit is not None and self.calls >= self.limit:
            raise KeyboardInterrupt
        self.calls += 1
        return await self.inner.answer(question, patient_id)


def test_resume_after_interruption(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    cfg = RunConfig(FIXTURES, 12, seed=5, out=out, progress=False, plot=False)
    first: list[_Counting] = []

    def interrupted(source: Any) -> Answerer:
        first.append(_Counting(BaselineAnswerer(source), limit=5))
        return first[-1]

    with pytest.raises(KeyboardInterrupt):
        run_eval(cfg, interrupted)
    lines = (tmp_path / "r.results.jsonl").read_text().splitlines()
    assert len(lines) == 1 + 5  # header + 5 answers kept
    second: list[_Counting] = []

    def resumed(source: Any) -> Answerer:
        second.append(_Counting(BaselineAnswerer(source), limit=None))
        return second[-1]

    report = run_eval(cfg, resumed)
    assert report is not None
    assert report["overall"]["n"] == 12
    assert second[0].calls == 7  # only the questions not done before
    # a stored answer is scored again on resume (a scorer fixed since is applied): a row
    # whose stored score was tampered with comes back scored from its answer
    path = tmp_path / "r.results.jsonl"
    rows = path.read_text().splitlines()
    row = json.loads(rows[1])
    assert row["correct"]
    row["correct"], row["score"] = False, 0.0
    path.write_text("\n".join([rows[0], json.dumps(row), *rows[2:]]) + "\n")
    again = run_eval(cfg, resumed)
    assert again is not None
    rescored = next(r for r in again["results"] if r["question_id"] == row["question_id"])
    assert rescored["correct"]
    assert rescored["score"] == 1.0
    other = RunConfig(FIXTURES, 12, seed=6, out=out, progress=False, plot=False)
    with pytest.raises(SystemExit, match="another run"):
        run_eval(other)


def test_free_text_answerer_is_scored(tmp_path: Path) -> None:
    """An agent-like answerer: text and citations only, no structured value."""

    class TextOnly:
        name = "text-only"

        def __init__(self, source: Any) -> None:
            self.inner = BaselineAnswerer(source)

        async def answer(self, question: Question, patient_id: str) -> AnswerRecord:
            a = await self.inner.answer(question, patient_id)
            return AnswerRecord(text=a.text, citations=a.citations, sentences_total=1)

    cfg = RunConfig(FIXTURES, 24, seed=2, out=tmp_path / "t.json", progress=False, plot=False)
    report = run_eval(cfg, TextOnly)
    assert report is not None
    assert report["overall"]["accuracy"] >= 0.95


def test_missing_data_is_skipped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_eval(RunConfig(tmp_path / "absent", 5, out=tmp_path / "x.json")) is None
    assert "skipped" in capsys.readouterr().err


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        pass

    register(app)
    return app


def test_cli_eval_baseline_and_model_config(tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "cli.json"
    args = ["eval", "--config", "baseline", "--data", str(FIXTURES), "--questions", "12"]
    result = runner.invoke(_app(), [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "**overall**" in result.output
    assert out.exists()
    missing = runner.invoke(
        _app(), ["eval", "--config", str(tmp_path / "nope.toml"), "--data", str(FIXTURES)]
    )
    assert missing.exit_code == 2
    assert "nope.toml not found" in missing.output
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\n[model]\nbackend = "nonsense"\n')
    invalid = runner.invoke(_app(), ["eval", "--config", str(bad), "--data", str(FIXTURES)])
    assert invalid.exit_code == 2
    assert "bad.toml" in invalid.output


def _first_handle_answer(messages: Any) -> dict[str, Any]:
    """Script step: answer with the first evidence line shown (a dumb but valid answer)."""
    import re

    text = messages[-1].text
    m = re.search(r"\[(E\d+)\]", text)
    assert m, "the prompt shows no evidence handle"
    return {"action": "answer", "calls": [], "sentences": [{"text": "See the record.", "cites": [m.group(1)]}]}  # fmt: skip


def test_agent_answerer_scripted_run(tmp_path: Path) -> None:
    """The agent answerer end to end through the runner: real graph, tools, verifier and
    scorer; a scripted FAKE model that answers every question with the first evidence line
    (asked even where code could say what the tools computed: ``answer_computed`` off)."""
    from agent.context import AgentSettings
    from bench.ehrqa.agent_answerer import AgentAnswerer
    from tests.agent_fixtures import ScriptedChatModel

    models: list[ScriptedChatModel] = []

    def factory(source: Any) -> AgentAnswerer:
        models.append(ScriptedChatModel([_first_handle_answer], repeat=True))
        settings = AgentSettings(answer_computed=False)
        return AgentAnswerer(source, models[-1], name="scripted", settings=settings)

    out = tmp_path / "agent.json"
    cfg = RunConfig(FIXTURES, 6, seed=3, out=out, answerer="scripted", progress=False, plot=False)
    report = run_eval(cfg, factory)
    assert report is not None
    assert report["overall"]["n"] == 6
    assert report["overall"]["errors"] == 0
    asked = [r for r in report["results"] if r["answer"]["usage"]["model_calls"]]
    # one call answers each question; none where every search found nothing (code says so)
    assert len(models[0].calls) == len(asked) >= 3
    owner: dict[str, set[str]] = {}  # Type/id -> patients it belongs to (raw bundles)
    for path in FIXTURES.glob("*.json"):
        for entry in json.loads(path.read_text()).get("entry", []):
            r = entry["resource"]
            owner[f"{r['resourceType']}/{r['id']}"] = set(patient_ids_of(r))
    for row in report["results"]:
        ans = row["answer"]
        if row not in asked:
            assert ans["text"], ans  # "nothing found", said by code
            assert not ans["citations"], ans
            continue
        assert ans["usage"]["model_calls"] == 1
        assert ans["sentences_total"] == 1
        assert ans["text"] == "See the record."
        assert ans["citations"], row
        for ref in ans["citations"]:  # cited resources are the question's patient's
            assert row["patient_id"] in owner[ref], (ref, row["patient_id"])
    prompts = " ".join(m.text for call in models[0].calls for m in call)
    questions = json.loads((tmp_path / "agent.questions.json").read_text())
    assert any(q["text"] in prompts for q in questions)


@pytest.mark.shared_data
@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/synthea is absent")
def test_baseline_on_shared_synthea(tmp_path: Path) -> None:
    report = run_eval(RunConfig(SHARED, 24, seed=1, out=tmp_path / "s.json", progress=False,
                                plot=False))  # fmt: skip
    assert report is not None
    assert report["overall"]["n"] == 24
    assert report["overall"]["accuracy"] >= 0.9

"""``fhir-assistant intake`` on a real store: a scripted run with ``--answers --json`` and
its approval (the QuestionnaireResponse written with the brief), Ctrl-D pausing, and a
process killed mid-interview then resumed with ``--resume`` (in subprocesses)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from surfaces.cli import app
from tests.agent_fixtures import ADAN, DEBORA, agent_store  # noqa: F401
from tools.store import RecordStore

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()
KEY = "22" * 32


@pytest.fixture
def env(agent_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:  # noqa: F811
    store = tmp_path / "records.db"
    shutil.copy(agent_store, store)
    values = {
        "FHIR_ASSISTANT_THREADS": str(tmp_path / "threads.db"),
        "FHIR_ASSISTANT_THREADS_KEY": KEY,
        "FHIR_ASSISTANT_STORE": str(store),
    }
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    return values


def test_scripted_json_run_then_approve(env: dict[str, str], tmp_path: Path) -> None:
    answers = tmp_path / "answers.txt"
    answers.write_text("yes\nchest tightness when I climb stairs\n2 weeks ago\nmild\nsame\n"
                       "no\nyes\nyes\nno\n" + "no\n" * 20, encoding="utf-8")  # fmt: skip
    made = runner.invoke(app, ["intake", "--patient", DEBORA, "--reason", "chest tightness",
                               "--answers", str(answers), "--json"])  # fmt: skip
    assert made.exit_code == 0, made.output
    data = json.loads(made.stdout)
    assert set(data) >= {"questionnaire_response", "brief", "draft_id", "discrepancies"}
    qr = data["questionnaire_response"]
    assert qr["resourceType"] == "QuestionnaireResponse"
    reason = next(i for i in qr["item"] if i["linkId"] == "reason")
    assert reason["answer"] == [{"valueString": "chest tightness when I climb stairs"}]
    assert data["brief"]["mode"] == "intake"
    assert data["brief"]["sentences"]
    assert "Before your visit" in made.stderr  # the consent question (stderr with --json)

    approved = runner.invoke(app, ["approve", data["draft_id"], "--approver", "Practitioner/dr-2",
                                   "--json"])  # fmt: skip
    assert approved.exit_code == 0, approved.output
    written = json.loads(approved.stdout)["written"]
    assert [w.split("/")[0] for w in written] == [
        "Device", "DocumentReference", "Provenance", "QuestionnaireResponse"]  # fmt: skip
    with RecordStore(env["FHIR_ASSISTANT_STORE"]) as store:
        stored = store.read_blocking(written[-1])
        assert stored["item"] == qr["item"]
        assert len(store.search_blocking("Consent", {"patient": DEBORA})) == 1


def test_refused_consent_exits_with_the_refusal(env: dict[str, str], tmp_path: Path) -> None:
    answers = tmp_path / "answers.txt"
    answers.write_text("no\n", encoding="utf-8")
    result = runner.invoke(app, ["intake", "--patient", ADAN, "--answers", str(answers)])
    assert result.exit_code == 1
    assert "did not consent" in result.stderr


def _cli(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "surfaces.cli", *args],
        cwd=ROOT,
        env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        bufsize=1,
    )


@pytest.mark.slow
def test_ctrl_d_pauses_and_kill_then_resume_continues(env: dict[str, str], tmp_path: Path) -> None:
    proc = _cli("intake", "--patient", DEBORA, "--reason", "tired", env=env)
    assert proc.stdin
    assert proc.stdout
    assert proc.stderr
    thread = proc.stderr.readline().split()[2]
    assert thread.startswith("intake-")
    said = ["yes", "so tired lately", "4 days ago"]
    for words in said:
        proc.stdout.readline()  # the question
        proc.stdin.write(words + "\n")
        proc.stdin.flush()
    waiting = proc.stdout.readline().strip()  # printed once the last answer is checkpointed
    assert waiting.startswith("[3/")
    proc.send_signal(signal.SIGKILL)  # a crash: no clean shutdown
    proc.wait(timeout=30)

    # resume: the same question first; Ctrl-D (end of input) pauses again
    again = _cli("intake", "--resume", thread, env=env)
    out, err = again.communicate("", timeout=120)
    assert again.returncode == 0, err
    assert out.splitlines()[0].strip() == waiting
    assert f"paused; resume with: fhir-assistant intake --resume {thread}" in err

    # and finish it from a file
    rest = tmp_path / "rest.txt"
    rest.write_text("severe\nworse\n" + "no\n" * 25, encoding="utf-8")
    done = _cli("intake", "--resume", thread, "--answers", str(rest), "--json", env=env)
    out, err = done.communicate(timeout=120)
    assert done.returncode == 0, err
    qr = json.loads(out)["questionnaire_response"]
    items = {i["linkId"]: i for i in qr["item"]}
    assert items["reason"]["answer"] == [{"valueString": "so tired lately"}]
    assert items["onset"]["answer"] == [{"valueDate": items["onset"]["answer"][0]["valueDate"]}]
    assert items["severity"]["answer"][0]["valueCoding"]["code"] == "severe"
    with RecordStore(env["FHIR_ASSISTANT_STORE"]) as store:  # one consent, despite the crash
        assert len(store.search_blocking("Consent", {"patient": DEBORA})) == 1

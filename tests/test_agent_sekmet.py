"""``ask``, ``chat`` and ``brief`` through the CLI against a real FHIR server (sekmet-fhir)
loaded with the fixture patients; the model is the scripted fake (tools, FHIR client,
verifier and thread store are real).

sekmet assigns its own ids to POSTed resources, so every id the answers cite must be a
server id: each cited reference is read back from the server and must belong to the
session's patient; no other patient's id (server or fixture file) may appear anywhere
in the output. A server stopped mid-run gives a clear error and exit code 1, and the
thread resumes once the server is back.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner, Result

from agent.models import Message
from surfaces import _agent_commands
from surfaces.cli import app
from tests.agent_fixtures import DEBORA, ScriptedChatModel, answer, composed, tools
from tests.sekmet import LoadedBundle, SekmetServer, load_bundles, running_sekmet
from tools.fhir_version import patient_ids_of

pytestmark = [pytest.mark.integration]

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fhir_fixtures"
CFG = str(ROOT / "configs" / "cpu-demo.toml")
#: a question the model answers (prose asked for: code says the entries, not a description)
QUESTION = "Describe her allergies in detail."


def _ask(pid: str, config: str) -> list[str]:
    return ["ask", QUESTION, "--patient", pid, "--config", config]


_HANDLE = re.compile(r"\bE\d+\b")


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def loaded(sekmet_server: SekmetServer) -> list[LoadedBundle]:
    """The fixture patients of the manifest, POSTed into the session's sekmet."""
    manifest = json.loads((FIXTURES / "manifest.json").read_text())
    paths = [FIXTURES / f["file"] for f in manifest["files"]]
    bundles = load_bundles(sekmet_server.base_url, paths)
    assert all(b.patient_id for b in bundles)
    return bundles


@pytest.fixture(scope="module")
def debora(loaded: list[LoadedBundle]) -> LoadedBundle:
    return next(b for b in loaded if DEBORA in b.path.name)


@pytest.fixture(autouse=True)
def _threads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FHIR_ASSISTANT_THREADS", str(tmp_path / "threads.db"))
    monkeypatch.delenv("FHIR_ASSISTANT_THREADS_KEY", raising=False)
    monkeypatch.delenv("LANGGRAPH_AES_KEY", raising=False)


class _Models:
    """Which scripted model the CLI builds next (``build_chat_model`` patched)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.model: ScriptedChatModel | None = None
        monkeypatch.setattr(_agent_commands, "build_chat_model", self._build)

    def _build(self, cfg: Any) -> ScriptedChatModel:
        assert self.model is not None, "set models.model first"
        return self.model

    def use(self, steps: Sequence[Any], *, repeat: bool = False) -> ScriptedChatModel:
        self.model = ScriptedChatModel(steps, repeat=repeat)
        return self.model


@pytest.fixture
def models(monkeypatch: pytest.MonkeyPatch) -> _Models:
    return _Models(monkeypatch)


# --------------------------------------------------------------------------- helpers


def handle_of(messages: Sequence[Message], needle: str) -> str:
    """The evidence handle of the first prompt line mentioning ``needle``."""
    for line in messages[-1].text.splitlines():
        if needle in line:
            m = _HANDLE.search(line)
            if m:
                return m.group(0)
    raise AssertionError(f"no evidence line mentions {needle!r} in the prompt")


def allergy_answer(messages: Sequence[Message]) -> dict[str, Any]:
    if "Problems:" in messages[-1].text:  # the repair round: the claim stays unsupported
        return composed(("She takes 42 mg of warfarin daily.", []))
    h = handle_of(messages, "Lisinopril")
    return answer(
        ("She is allergic to Lisinopril.", [h]),
        ("She takes 42 mg of warfarin daily.", [h]),  # unsupported: the verifier drops it
    )


def brief_step(messages: Sequence[Message]) -> dict[str, Any]:
    """Phrase a brief group by repeating its first two cited lines."""
    lines = []
    for line in messages[-1].text.splitlines():
        m = re.match(r"^(E\d+(?:, E\d+)*): (.+)$", line.strip())
        if m:
            lines.append((m.group(2), m.group(1).split(", ")))
    return composed(*lines[:2])


def all_patient_ids(base_url: str) -> set[str]:
    """Every Patient id on the server (other test modules load patients too)."""
    ids: set[str] = set()
    url: str | None = f"{base_url}/Patient?_count=200&_elements=id"
    with httpx.Client(timeout=30) as client:
        while url:
            bundle = client.get(url, headers={"Accept": "application/fhir+json"}).json()
            ids.update(e["resource"]["id"] for e in bundle.get("entry") or [])
            url = next(
                (ln["url"] for ln in bundle.get("link") or [] if ln["relation"] == "next"), None
            )
    return ids


def cited_references(data: dict[str, Any]) -> set[str]:
    refs = {r for s in data["sentences"] for r in s["references"]}
    refs |= {c["reference"] for c in data["cited"]}
    return refs


def assert_refs_on_server(base_url: str, refs: set[str], bundle: LoadedBundle) -> None:
    """Each reference exists on the server and belongs to the bundle's patient."""
    assert refs
    pid = bundle.patient_id
    with httpx.Client(timeout=30) as client:
        for ref in sorted(refs):
            r = client.get(f"{base_url}/{ref}", headers={"Accept": "application/fhir+json"})
            assert r.status_code == 200, f"{ref} is not on the server ({r.status_code})"
            resource = r.json()
            assert pid in patient_ids_of(resource) or ref == f"Patient/{pid}", (
                f"{ref} does not belong to Patient/{pid}"
            )
            rtype, rid = ref.split("/")
            assert (rtype, rid) in bundle.mentions_patient


def assert_no_other_patient(
    output: str, bundle: LoadedBundle, loaded: list[LoadedBundle], base_url: str
) -> None:
    others = all_patient_ids(base_url) - {bundle.patient_id}
    # the fixture files' own ids (what a store would use) of the other patients too
    others |= {b.path.stem.rsplit("_", 1)[1] for b in loaded if b is not bundle}
    assert others
    leaked = sorted(i for i in others if i in output)
    assert not leaked, f"other patients' ids in the output: {leaked}"


def invoke(args: list[str], stdin: str | None = None) -> Result:
    return CliRunner().invoke(app, args, input=stdin)


# --------------------------------------------------------------------------- ask / chat / brief


def test_ask_against_sekmet(
    sekmet_server: SekmetServer,
    loaded: list[LoadedBundle],
    debora: LoadedBundle,
    models: _Models,
) -> None:
    pid = debora.patient_id
    assert pid
    assert pid != DEBORA  # the server's own id, not the file's
    base = sekmet_server.base_url
    model = models.use([allergy_answer], repeat=True)  # answers straight from the prefetch
    args = [*_ask(pid, CFG), "--source", base]
    r = invoke([*args, "--json", "--thread", "sekmet-ask"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["sentences"][0]["text"] == "She is allergic to Lisinopril."
    # the other allergy of the list the answer drew on, from the record
    assert [s["status"] for s in data["sentences"][1:]] == ["extractive"]
    assert [d["text"] for d in data["dropped"]] == ["She takes 42 mg of warfarin daily."]
    assert data["patient_id"] == pid
    assert "record_summary(section=allergies)" in r.stderr  # the prefetched call's status line
    refs = cited_references(data)
    assert any(ref.startswith("AllergyIntolerance/") for ref in refs)
    assert_refs_on_server(base, refs, debora)
    assert_no_other_patient(r.output, debora, loaded, base)
    assert any("(tool results)" in m.text for m in model.calls[0])

    # Markdown, and a follow-up on the thread
    r = invoke([*args, "--thread", "sekmet-ask"])
    assert r.exit_code == 0, r.output
    assert re.search(r"\[\^1\]: AllergyIntolerance/[A-Za-z0-9\-.]+", r.stdout)
    assert_no_other_patient(r.output, debora, loaded, base)


def test_chat_against_sekmet_streams_prose(
    sekmet_server: SekmetServer,
    loaded: list[LoadedBundle],
    debora: LoadedBundle,
    models: _Models,
) -> None:
    pid = debora.patient_id
    assert pid
    base = sekmet_server.base_url
    models.use([allergy_answer], repeat=True)
    args = ["chat", "--patient", pid, "--config", CFG, "--source", base, "--thread", "c1"]
    r = invoke(args, stdin=f"{QUESTION}\nAnything else?\n\n")
    assert r.exit_code == 0, r.output
    out = r.stdout
    # the draft streamed as prose (both sentences), never as the model's JSON
    assert '"sentences"' not in out
    assert '"cites"' not in out
    assert "{" not in out
    draft = "She is allergic to Lisinopril. She takes 42 mg of warfarin daily.\n"
    assert out.count(draft) == 2  # streamed, one per turn (the repair draft follows it)
    assert out.count("~~She takes 42 mg of warfarin daily.~~") == 2
    assert out.count(f"**Q:** {QUESTION}") == 1
    assert out.count("**Q:** Anything else?") == 1
    assert re.search(r"\[\^1\]: AllergyIntolerance/", out)
    assert "loading the record" in r.stderr
    assert f"Patient/{pid}" in r.stderr
    refs = set(re.findall(r"^\[\^\d+\]: ([A-Za-z]+/[A-Za-z0-9\-.]+)", out, re.M))
    assert_refs_on_server(base, refs, debora)
    assert_no_other_patient(r.output, debora, loaded, base)


def test_brief_against_sekmet(
    sekmet_server: SekmetServer,
    loaded: list[LoadedBundle],
    debora: LoadedBundle,
    models: _Models,
) -> None:
    pid = debora.patient_id
    assert pid
    base = sekmet_server.base_url
    models.use([brief_step], repeat=True)
    r = invoke(["brief", "--patient", pid, "--config", CFG, "--source", base, "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["mode"] == "brief"
    statuses = {s["status"] for s in data["sentences"]}
    assert "verified" in statuses  # model-written sentences passed the check
    assert_refs_on_server(base, cited_references(data), debora)
    assert_no_other_patient(r.output, debora, loaded, base)
    r = invoke(["brief", "--patient", pid, "--config", CFG, "--source", base])
    assert r.exit_code == 0, r.output
    assert "# Pre-visit brief: Débora Nazario" in r.stdout
    assert_no_other_patient(r.output, debora, loaded, base)


# --------------------------------------------------------------------------- server failure


def test_server_stopped_mid_run_then_thread_retried(tmp_path: Path, models: _Models) -> None:
    own_server = tmp_path / "sekmet"  # a sekmet of this test's own: stopped, then restarted
    path = FIXTURES / "patients"
    bundle_path = next(path.glob(f"*{DEBORA}.json"))
    with running_sekmet(own_server) as server:
        (bundle,) = load_bundles(server.base_url, [bundle_path])
        pid = bundle.patient_id
        assert pid

        def stop_then_search(messages: Sequence[Message]) -> dict[str, Any]:
            server.process.terminate()  # the record was fetched; the tool call will fail
            server.process.wait(timeout=10)
            return tools(("search_record", {"resource_type": "AllergyIntolerance"}))

        first = models.use([stop_then_search])
        plan_first = tmp_path / "plan-first.toml"  # the model plans after the prefetch
        plan_first.write_text(
            Path(CFG).read_text()
            + "\n[agent]\nanswer_after_prefetch = false\nanswer_nothing_found = false\n"
            + "answer_computed = false\n"
        )
        args = [*_ask(pid, str(plan_first)), "--thread", "t-down"]
        r = invoke([*args, "--source", server.base_url])
        assert r.exit_code == 1, r.output
        assert "Traceback" not in r.output
        assert "The record source failed while answering for Patient/" in r.stderr
        assert server.base_url.split("//")[1].split("/")[0] in r.stderr  # which server
        assert "'t-down' was checkpointed" in r.stderr
        assert len(first.calls) == 1

    with running_sekmet(own_server) as again:  # same data directory, another port
        second = models.use(
            [lambda m: answer(("She is allergic to Lisinopril.", [handle_of(m, "Lisinopril")]))]
        )
        r = invoke([*args, "--source", again.base_url, "--json"])
        assert r.exit_code == 0, r.output
        assert len(second.calls) == 1  # resumed at the failed tool step
        assert any("(tool results)" in m.text for m in second.calls[0])
        data = json.loads(r.stdout)
        assert data["sentences"][0]["text"] == "She is allergic to Lisinopril."
        assert [s["status"] for s in data["sentences"][1:]] == ["extractive"]
        assert_refs_on_server(again.base_url, cited_references(data), bundle)

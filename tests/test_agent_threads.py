"""Encrypted thread checkpoints: no patient data in the SQLite file, follow-ups still work,
a wrong key fails clearly (API and CLI)."""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import sqlite3
import stat
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from agent import ask
from agent.errors import ThreadStoreError
from agent.threads import THREADS_KEY_ENV, serializer, threads_key
from surfaces import _agent_commands
from tests.agent_fixtures import (  # noqa: F401
    CLEOTILDE,
    DEBORA,
    ScriptedChatModel,
    agent_store,
    answer,
    plan_first,
    tools,
)
from tools.store import RecordStore

ROOT = Path(__file__).resolve().parents[1]
CFG = str(ROOT / "configs" / "cpu-demo.toml")
# What Débora Nazario's thread holds in the clear: her name, birth date, ids,
# an allergy, a lab
SECRETS = [
    "Nazario",
    DEBORA,
    "Débora",
    "1959-05-13",  # birth date
    "Lisinopril",
    "HbA1c",
    "f1bfe012-1b93-49b5-85c7-c15ffe3c55aa",  # her Lisinopril AllergyIntolerance
]


@pytest.fixture(autouse=True)
def _no_key_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in THREADS_KEY_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def store(agent_store: Path) -> RecordStore:  # noqa: F811
    return RecordStore(agent_store)


def _steps() -> list[Any]:
    return [
        tools(("search_record", {"resource_type": "AllergyIntolerance"})),
        answer(("She is allergic to Lisinopril.", ["E35"])),
    ]


def _raw_bytes(db: Path) -> bytes:
    """The database and any journal beside it, as stored on disk."""
    return b"".join(p.read_bytes() for p in sorted(db.parent.glob(db.name + "*")))


def _decrypted(db: Path) -> str:
    """Every checkpoint and pending write, decrypted with the key in use."""
    serde = serializer(db)
    con = sqlite3.connect(db)
    try:
        rows = con.execute("SELECT type, checkpoint FROM checkpoints").fetchall()
        rows += con.execute("SELECT type, value FROM writes").fetchall()
    finally:
        con.close()
    assert rows
    assert all("+aes-gcm" in t for t, _ in rows if t)
    return "\n".join(
        json.dumps(serde.loads_typed((t, blob)), default=str, ensure_ascii=False)
        for t, blob in rows
        if t
    )


async def test_checkpoints_encrypted_follow_up_and_wrong_key(
    store: RecordStore,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    db = tmp_path / "threads.db"
    caplog.set_level(logging.DEBUG, logger="agent.threads")
    a = await ask(
        "Allergies?",
        patient_id=DEBORA,
        source=store,
        model=ScriptedChatModel(_steps()),
        settings=plan_first(),
        thread_id="visit-1",
        threads_db=db,
    )
    assert a.sentences[0].text == "She is allergic to Lisinopril."
    assert [s.status for s in a.sentences[1:]] == ["extractive"]  # the other allergy

    key_file = tmp_path / "threads.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(base64.b64decode(key_file.read_text())) == 32
    assert any(str(key_file) in r.getMessage() for r in caplog.records)

    raw = _raw_bytes(db)
    plain = _decrypted(db)
    for secret in SECRETS:
        assert secret in plain, f"{secret!r} is not in the thread state: the check is void"
        assert secret.encode() not in raw, f"{secret!r} is stored in the clear"
        assert secret.encode("utf-16-le") not in raw

    # a follow-up on the same thread reads the encrypted state (earlier evidence reused)
    seen: dict[str, str] = {}

    def follow_up(messages: Any) -> dict[str, Any]:
        seen["prompt"] = messages[-1].text
        return answer(("She is allergic to Lisinopril.", ["E35"]))

    b = await ask(
        "Any others?",
        patient_id=DEBORA,
        source=store,
        model=ScriptedChatModel([follow_up]),
        thread_id="visit-1",
        threads_db=db,
        settings=plan_first(),
    )
    assert b.sentences
    assert "Q: Allergies?" in seen["prompt"]
    assert b"Any others?" not in _raw_bytes(db)

    # another key (the variable wins over the key file) cannot read the thread
    monkeypatch.setenv("FHIR_ASSISTANT_THREADS_KEY", base64.b64encode(b"k" * 32).decode())
    with pytest.raises(ThreadStoreError) as err:
        await ask(
            "Again?",
            patient_id=DEBORA,
            source=store,
            model=ScriptedChatModel(_steps()),
            settings=plan_first(),
            thread_id="visit-1",
            threads_db=db,
        )
    msg = str(err.value)
    # ... nor start a new thread in it (one database, one key)
    with pytest.raises(ThreadStoreError):
        await ask(
            "Again?",
            patient_id=DEBORA,
            source=store,
            model=ScriptedChatModel(_steps()),
            settings=plan_first(),
            thread_id="visit-2",
            threads_db=db,
        )
    assert "$FHIR_ASSISTANT_THREADS_KEY" in msg
    assert str(key_file) in msg
    assert str(db) in msg
    assert base64.b64encode(b"k" * 32).decode() not in msg

    # the key file's key still reads it
    monkeypatch.delenv("FHIR_ASSISTANT_THREADS_KEY")
    c = await ask(
        "Allergies?",
        patient_id=DEBORA,
        source=store,
        model=ScriptedChatModel([answer(("She is allergic to Lisinopril.", ["E35"]))]),
        thread_id="visit-1",
        threads_db=db,
    )
    assert c.sentences


def test_key_formats(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "t.db"
    key = bytes(range(32))
    for value in (
        key.hex(),
        base64.b64encode(key).decode(),
        base64.urlsafe_b64encode(key).decode(),
    ):
        monkeypatch.setenv("FHIR_ASSISTANT_THREADS_KEY", value)
        assert threads_key(db) == (key, "$FHIR_ASSISTANT_THREADS_KEY")
    assert threads_key(db)[0] == key
    monkeypatch.setenv("FHIR_ASSISTANT_THREADS_KEY", bytes(range(16)).hex())
    assert threads_key(db)[0] == bytes(range(16))
    monkeypatch.delenv("FHIR_ASSISTANT_THREADS_KEY")
    # LangGraph's own convention: the text itself is the key
    monkeypatch.setenv("LANGGRAPH_AES_KEY", "0123456789abcdefghijklmnopqrstuv")
    assert threads_key(db) == (b"0123456789abcdefghijklmnopqrstuv", "$LANGGRAPH_AES_KEY")
    assert not (tmp_path / "t.key").exists()  # no key file while a variable is set
    monkeypatch.setenv("LANGGRAPH_AES_KEY", "short")
    with pytest.raises(ThreadStoreError, match=r"\$LANGGRAPH_AES_KEY") as err:
        threads_key(db)
    assert "short" not in str(err.value)
    monkeypatch.delenv("LANGGRAPH_AES_KEY")
    generated, where = threads_key(db)
    assert where == f"the key file {tmp_path / 't.key'}"
    assert threads_key(db)[0] == generated  # created once, then read
    (tmp_path / "t.key").write_text("not a key\n")
    with pytest.raises(ThreadStoreError, match=r"t\.key"):
        threads_key(db)


def test_cli_wrong_key_is_a_clear_error(
    agent_store: Path,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    db = tmp_path / "threads.db"
    monkeypatch.setenv("FHIR_ASSISTANT_THREADS", str(db))
    monkeypatch.setattr(
        _agent_commands,
        "build_chat_model",
        lambda cfg: ScriptedChatModel(
            [answer(("She is allergic to Lisinopril.", ["E35"]))], repeat=True
        ),
    )
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        pass

    _agent_commands.register(app)
    base = ["--patient", DEBORA, "--config", CFG, "--source", str(agent_store), "--thread", "t"]
    r = CliRunner().invoke(app, ["ask", "Allergies?", *base])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "threads.key").exists()
    monkeypatch.setenv("FHIR_ASSISTANT_THREADS_KEY", "ab" * 32)
    r = CliRunner().invoke(app, ["ask", "Allergies?", *base])
    assert r.exit_code == 1
    assert "Cannot read the threads database" in r.stderr
    assert "FHIR_ASSISTANT_THREADS_KEY" in r.stderr
    assert "Traceback" not in r.output
    r = CliRunner().invoke(app, ["chat", *base], input="Allergies?\nAgain?\n\n")
    assert r.exit_code == 1
    assert r.stderr.count("Cannot read the threads database") == 1


async def test_a_follow_up_yes_or_no_is_no_yes_about_the_thing_before(
    store: RecordStore, tmp_path: Path
) -> None:
    # "is she on warfarin?" — "any bleeding?" had answered "Yes — Warfarin …" (the
    # follow-up named nothing the terminology knew, so it inherited the warfarin, and the
    # record's fallback said the warfarin's "yes" to it); "bleeding" is now known, and a
    # follow-up that names nothing says the inherited thing's entries, never "Yes —"
    from bench.ehrqa.agent_answerer import SilentModel  # a FAKE model that writes nothing

    db = tmp_path / "threads.db"

    async def said(q: str) -> str:
        a = await ask(q, patient_id=CLEOTILDE, source=store, model=SilentModel(),
                      thread_id="afib", threads_db=db)  # fmt: skip
        return a.text

    assert (await said("is she on warfarin?")).startswith("Yes — Warfarin Sodium 5 MG")
    helped = await said("did it help?")
    assert helped.startswith("Warfarin Sodium 5 MG Oral Tablet: current"), helped
    bleeding = await said("any bleeding?")
    assert bleeding.startswith("Not in this patient's record: no Bleeding"), bleeding


async def test_follow_ups_of_a_result_its_treatment_and_a_count_are_code_s(
    store: RecordStore, tmp_path: Path
) -> None:
    # in a sweep of threads on unseen patients these went to the model (10–18 s on 2
    # cores): "and before that?" (the one before), "is she on anything for it?" (what is
    # given for what the result shows: Cleotilde's insulin, ordered for her prediabetes),
    # "how many?" of a list of problems
    from bench.ehrqa.agent_answerer import SilentModel  # a FAKE model that writes nothing

    db = tmp_path / "threads.db"

    async def said(q: str, thread: str) -> tuple[str, int]:
        a = await ask(q, patient_id=CLEOTILDE, source=store, model=SilentModel(),
                      thread_id=thread, threads_db=db)  # fmt: skip
        return a.text, a.usage.model_calls

    assert (await said("what's her latest a1c?", "a1c"))[1] == 0
    before, calls = await said("and before that?", "a1c")
    assert calls == 0
    assert before.startswith(
        "HbA1c: the latest, 5 % on 2025-04-30, is the same as the one before"
    ), before
    treated, calls = await said("is she on anything for it?", "a1c")
    assert calls == 0
    assert treated.startswith("Insulin isophane, human 70 UNT/ML"), treated
    assert "for Prediabetes" in treated
    await said("any kidney problems?", "kidneys")
    many, calls = await said("how many?", "kidneys")
    assert calls == 0
    assert many.startswith("Kidney disease: 4 on record."), many  # not the notes that name it


async def test_an_entry_found_by_two_searches_is_said_once(store: RecordStore) -> None:
    # "do I have nerve damage from my diabetes?": the neuropathy is a kind of diabetes too,
    # so both searches found it; it had been said twice ("Yes — Neuropathy …", "Neuropathy …")
    from bench.ehrqa.agent_answerer import SilentModel  # a FAKE model that writes nothing

    a = await ask("do I have nerve damage from my diabetes", patient_id=DEBORA, source=store,
                  model=SilentModel())  # fmt: skip
    said = [s.text for s in a.sentences]
    assert sum("Neuropathy due to type 2 diabetes mellitus" in s for s in said) == 1, said


async def test_follow_ups_of_a_reason_a_period_a_treatment_and_a_course_are_code_s(
    store: RecordStore, tmp_path: Path
) -> None:
    # in a sweep of threads these went to the model or were misread: "what is it for?"
    # (the order's reason), "what was it a year ago?" (the value then), "is it
    # controlled?" (what shows it, judged), "has it healed?" after "was she given anything
    # for it?" (the problem, not the medications given for it)
    from bench.ehrqa.agent_answerer import SilentModel  # a FAKE model that writes nothing

    db = tmp_path / "threads.db"

    async def said(q: str, thread: str, patient: str = CLEOTILDE) -> tuple[str, int]:
        a = await ask(q, patient_id=patient, source=store, model=SilentModel(),
                      thread_id=thread, threads_db=db, as_of=dt.date(2025, 6, 1))  # fmt: skip
        return a.text, a.usage.model_calls

    await said("is she on warfarin?", "w")
    why, calls = await said("what is it for?", "w")
    assert calls == 0
    assert why.startswith(
        "Warfarin Sodium 5 MG Oral Tablet: current, last ordered 2025-04-30, for Atrial "
        "fibrillation"
    ), why
    await said("what's her latest creatinine?", "c")
    then, calls = await said("what was it a year ago?", "c")
    assert calls == 0
    assert then.startswith("Creatinine: 2.039 mg/dL on 2024-04-24"), then
    await said("does she have diabetes?", "d", DEBORA)
    controlled, calls = await said("is it controlled?", "d", DEBORA)
    assert calls == 0
    assert "HbA1c: the latest, 6.6 % on 2025-01-15" in controlled, controlled
    assert "meets the usual treatment goal (below 7 %, per ADA)" in controlled
    await said("does she have prediabetes?", "p")
    await said("was she given anything for it?", "p")
    ended, calls = await said("has it resolved?", "p")
    assert calls == 0
    assert ended.startswith("No — Prediabetes") or "Prediabetes: active" in ended, ended
    assert "Insulin" not in ended, ended  # the problem, not what is given for it


async def test_then_in_a_follow_up_is_the_day_the_last_answer_was_about(
    store: RecordStore, tmp_path: Path
) -> None:
    # "what was her creatinine then?" after "when was her last colonoscopy?" had been read
    # as her latest creatinine (2025-04-30), months after the colonoscopy it asks about
    from bench.ehrqa.agent_answerer import SilentModel  # a FAKE model that writes nothing

    db = tmp_path / "threads.db"

    async def said(q: str) -> tuple[str, int]:
        a = await ask(q, patient_id=CLEOTILDE, source=store, model=SilentModel(),
                      thread_id="then", threads_db=db, as_of=dt.date(2025, 6, 1))  # fmt: skip
        return a.text, a.usage.model_calls

    last, _ = await said("when was her last colonoscopy?")
    assert "2025-02-03" in last, last
    creatinine, calls = await said("what was her creatinine then?")
    assert calls == 0
    assert creatinine.startswith("Creatinine: 2.79 mg/dL on 2025-01-23"), creatinine
    # still that day ("at the time"), and of medications: those held through it, not the
    # warfarin ordered after it
    meds, calls = await said("was she on anything at the time?")
    assert calls == 0
    # what she held that day first: the "Not in this patient's record: no medication
    # orders (… dated 2025-02-03 to 2025-02-03)" before it had read as "no"
    assert not meds.startswith("Not in this patient's record"), meds
    assert "active on 2025-02-03 (ordered before it, not stopped)" in meds, meds
    assert "Warfarin" not in meds, meds
    assert "Hydrochlorothiazide" in meds, meds
    # "and her hemoglobin at that time?": its value then, not the last turn's yes or no
    hemoglobin, calls = await said("and her hemoglobin at that time?")
    assert calls == 0
    assert hemoglobin.startswith("Hemoglobin: "), hemoglobin
    assert "to 2025-02-03" in hemoglobin, hemoglobin
    # "when did X start?" is its first date, said by code; "how old was she then?" her
    # age when it began (had been her age today)
    started, calls = await said("when did her afib start?")
    assert calls == 0
    assert started.startswith("Atrial fibrillation: active, since 2025-02-22"), started
    age, calls = await said("how old was she then?")
    assert calls == 0
    assert age.startswith("Atrial fibrillation: since 2025-02-22, at age 78"), age

"""The agent graph with a scripted fake of the model (tools, store, verifier are real)."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

import pytest

from agent import AgentSettings, CitedAnswer, ask, brief
from agent.errors import AgentSourceFailed
from agent.events import AgentEvent, FromRecord, ToolFinished, ToolStarted, Verified
from agent.models import Message
from tests.agent_fixtures import (
    ADAN,
    CLEOTILDE,
    DEBORA,
    FaultInjectingSource,
    ScriptedChatModel,
    agent_store,  # noqa: F401
    answer,
    composed,
    model_phrases,
    plan_first,
    tools,
)
from tools.store import RecordStore

pytestmark = pytest.mark.asyncio


@pytest.fixture
def store(agent_store: Path) -> RecordStore:  # noqa: F811
    return RecordStore(agent_store)


def _latest_a1c_handle(messages: Sequence[Message]) -> str:
    text = messages[-1].text
    line = next(ln for ln in text.splitlines() if "HbA1c 6.6 %" in ln)
    return line.rsplit("[", 1)[1].split("]")[0].split(",")[0]


async def test_answer_from_summary_in_one_call(store: RecordStore) -> None:
    def step(messages: Sequence[Message]) -> dict[str, object]:
        h = _latest_a1c_handle(messages)
        return answer(("The latest HbA1c was 6.6 % on 2025-01-15.", [h]))

    model = ScriptedChatModel([step])
    a = await ask("Latest HbA1c?", patient_id=DEBORA, source=store, model=model,
                  settings=model_phrases())  # fmt: skip
    assert a.usage.model_calls == 1
    assert [s.text for s in a.sentences] == ["The latest HbA1c was 6.6 % on 2025-01-15."]
    assert a.sentences[0].references[0].startswith("Observation/")
    assert a.cited
    assert a.cited[0].type == "Observation"
    md = a.to_markdown()
    assert "[^1]" in md
    assert "[^1]: Observation/" in md
    assert json.loads(a.to_json())["sentences"][0]["status"] == "verified"


async def test_handles_written_into_the_prose_are_taken_out(store: RecordStore) -> None:
    def step(messages: Sequence[Message]) -> dict[str, object]:
        h = _latest_a1c_handle(messages)
        return answer((f"The latest HbA1c was 6.6 % ({h}) on 2025-01-15 [{h}].", [h]))

    a = await ask("Latest HbA1c?", patient_id=DEBORA, source=store,
                  model=ScriptedChatModel([step]), settings=model_phrases())  # fmt: skip
    assert [s.text for s in a.sentences] == ["The latest HbA1c was 6.6 % on 2025-01-15."]
    assert a.sentences[0].references  # the citation is the footnote


async def test_tools_then_answer_and_repair(store: RecordStore) -> None:
    model = ScriptedChatModel(
        [
            tools(
                ("lab_trend", {"name": "HbA1c"}),
                ("search_record", {"resource_type": "Condition", "name": "diabetes"}),
            ),
            answer(
                ("HbA1c fell to 6.6 % on 2025-01-15.", ["E37"]),
                ("Diabetes since 2099-01-01.", ["E2"]),
            ),
            composed(("Type 2 diabetes is recorded since 2016-12-14.", ["E2"])),
        ]
    )
    events: list[AgentEvent] = []
    a = await ask(
        "Diabetes control?",
        patient_id=DEBORA,
        source=store,
        model=model,
        on_event=events.append,
        settings=plan_first(),
    )
    assert a.usage.model_calls == 3
    assert len(a.sentences) == 2
    assert not a.dropped
    started = [e for e in events if isinstance(e, ToolStarted) and e.tool == "lab_trend"]
    assert started
    ended = [e for e in events if isinstance(e, ToolFinished) and e.call_id == started[0].call_id]
    assert ended
    assert ended[0].ok
    assert ended[0].items >= 1
    assert any(isinstance(e, Verified) for e in events)
    assert all(e.as_dict()["type"] == e.type for e in events)
    # the repair prompt carried the verifier's findings
    assert "2099" in model.calls[2][-1].text


async def test_unsupported_sentence_dropped_after_one_repair(store: RecordStore) -> None:
    model = ScriptedChatModel(
        [
            answer(("HbA1c was 9.9 % in 2025.", ["E37"]), ("Seen at E999.", ["E999"])),
            composed(("HbA1c was 9.8 %.", ["E37"])),
        ]
    )
    a = await ask("Explain her HbA1c.", patient_id=DEBORA, source=store, model=model)
    # no model sentence holds: the series as the record states it, marked extractive
    [s] = a.sentences
    assert s.status == "extractive"
    assert s.text.startswith("HbA1c: 6.6 % on 2025-01-15, the latest of 8 results since ")
    assert {d.text for d in a.dropped} == {"HbA1c was 9.8 %."}
    assert a.warnings
    assert len(model.calls) == 2


async def test_unknown_tool_and_bad_args_bounded(store: RecordStore) -> None:
    bad = tools(
        ("delete_record", {}),
        ("lab_trend", {"colour": "red"}),
        ("search_record", {"date_from": "yesterday"}),
    )
    model = ScriptedChatModel([bad, composed(("No answer in the record.", ["E1"]))])
    a = await ask(
        "?", patient_id=DEBORA, source=store, model=model, settings=AgentSettings(max_tool_errors=3)
    )
    prompt = model.calls[1][-1].text
    assert "unknown tool 'delete_record'" in prompt
    assert "unknown argument 'colour'" in prompt
    assert "date_from must be a date" in prompt
    assert any("tool errors" in w for w in a.warnings)
    assert len(model.calls) == 2  # stopped asking for tools after the bound


async def test_step_budget_when_model_never_stops(store: RecordStore) -> None:
    loop = tools(("record_summary", {"section": "allergies"}))
    final = composed(("She is allergic to Lisinopril.", ["E35"]))
    model = ScriptedChatModel([loop, loop, loop, final])
    a = await ask(
        "Allergies?",
        patient_id=DEBORA,
        source=store,
        model=model,
        settings=plan_first(max_steps=3),
    )
    assert len(model.calls) == 4
    assert any("step budget" in w for w in a.warnings)
    assert a.sentences[0].text == "She is allergic to Lisinopril."
    # the rest of the allergy list the model drew on, from the record
    assert all(s.status == "extractive" for s in a.sentences[1:])


async def test_injection_obeyed_by_model_is_refused(store: RecordStore, tmp_path: Path) -> None:
    model = ScriptedChatModel(
        [
            tools(("search_record", {"resource_type": "DocumentReference", "name": "portal"})),
            tools(
                ("read_resource", {"reference": f"Patient/{CLEOTILDE}"}),
                (
                    "search_record",
                    {"resource_type": "MedicationRequest", "subject": f"Patient/{CLEOTILDE}"},
                ),
                ("search_record", {"name": f"Patient/{CLEOTILDE}"}),
                (
                    "search_record",
                    {"resource_type": "Observation", "name": "x&patient=" + CLEOTILDE},
                ),
            ),
            composed(
                ("The record has a patient portal message.", ["E206"]),
                (f"Patient/{CLEOTILDE} takes medications.", ["E206"]),
            ),
            composed(("A portal message is recorded.", ["E206"])),
        ]
    )
    db = tmp_path / "threads.db"
    a = await ask(  # (a question no search of code's answers: the model plans the searches)
        "What does the portal message say?",
        patient_id=DEBORA,
        source=store,
        model=model,
        thread_id="t-inj",
        threads_db=db,
    )
    # the note reached the model with the other patient's id withheld
    assert "withheld" in model.calls[1][-1].text
    assert any("refused" in w for w in a.warnings)
    cleo = store.everything_blocking(CLEOTILDE)
    cleo_ids = {r["id"] for r in cleo}
    from agent.graph import build_graph
    from agent.threads import open_threads

    async with open_threads(db) as saver:
        snap = await build_graph(saver).aget_state({"configurable": {"thread_id": "t-inj"}})
    blob = json.dumps(snap.values, default=str) + a.to_json() + a.to_markdown()
    assert CLEOTILDE not in blob
    assert not [i for i in cleo_ids if i in blob]
    assert CLEOTILDE.encode() not in db.read_bytes()


def store_path(store: RecordStore) -> str:
    return str(store.url) if hasattr(store, "url") else str(store)


async def test_empty_record(store: RecordStore) -> None:
    model = ScriptedChatModel(
        [
            tools(("lab_trend", {"name": "HbA1c"}), ("record_summary", {"section": "medications"})),
            answer(("No HbA1c is recorded.", [])),
            composed(("No HbA1c is recorded.", [])),
        ]
    )
    a = await ask("HbA1c?", patient_id=ADAN, source=store, model=model, settings=plan_first())
    assert isinstance(a, CitedAnswer)
    # the model's uncited sentence is checked against the question's own search (which
    # found nothing) and stands on it: a negative answer cites the empty search
    [s] = a.sentences
    assert s.text == "No HbA1c is recorded."
    assert s.status == "verified"
    assert any("cited the wrong entries" in w for w in a.warnings)
    assert s.searches
    assert s.references == []
    [search] = a.searches
    assert search.resource_types == ["Observation"]
    assert "LOINC 4548-4" in search.codes
    assert "no HbA1c results" in model.calls[1][-1].text
    md = a.to_markdown()
    assert "nothing found" in md


async def test_source_failure_keeps_thread_and_retry_resumes(
    store: RecordStore, tmp_path: Path
) -> None:
    faulty = FaultInjectingSource(store, fail_on=2)  # everything() ok, the search fails
    steps = [
        tools(("search_record", {"resource_type": "AllergyIntolerance"})),
        answer(("She is allergic to Lisinopril.", ["E35"])),
    ]
    model = ScriptedChatModel(steps)
    db = tmp_path / "threads.db"
    with pytest.raises(AgentSourceFailed) as err:
        await ask(
            "Allergies?",
            patient_id=DEBORA,
            source=faulty,
            model=model,
            thread_id="t1",
            threads_db=db,
            settings=plan_first(),
        )
    assert "t1" in str(err.value)
    assert "503" in str(err.value)
    faulty.heal()
    model2 = ScriptedChatModel(steps[1:])
    a = await ask(
        "Allergies?",
        patient_id=DEBORA,
        source=faulty,
        model=model2,
        thread_id="t1",
        threads_db=db,
        settings=plan_first(),
    )
    assert len(model2.calls) == 1  # resumed at the failed tool step, the plan was kept
    assert a.sentences[0].text == "She is allergic to Lisinopril."
    assert [s.status for s in a.sentences[1:]] == ["extractive"]  # the other allergy


async def test_follow_up_reuses_thread_evidence(store: RecordStore, tmp_path: Path) -> None:
    db = tmp_path / "threads.db"
    seen: dict[str, str] = {}

    def first_tool_handle(messages: Sequence[Message]) -> dict[str, object]:
        text = messages[-1].text.split("(tool results)", 1)[1]
        h = re.search(r"^  (E\d+) ", text, re.M)
        assert h
        seen["handle"] = h.group(1)
        return answer(("Immunizations are recorded.", [h.group(1)]))

    m1 = ScriptedChatModel(
        [tools(("record_summary", {"section": "immunizations"})), first_tool_handle]
    )
    await ask(
        "Vaccines?",
        patient_id=DEBORA,
        source=store,
        model=m1,
        thread_id="f",
        threads_db=db,
        settings=plan_first(),
    )

    def step(messages: Sequence[Message]) -> dict[str, object]:
        seen["prompt"] = messages[-1].text
        return answer(("Immunizations are recorded.", [seen["handle"]]))

    m2 = ScriptedChatModel([step])
    a = await ask(
        "And which?",
        patient_id=DEBORA,
        source=store,
        model=m2,
        thread_id="f",
        threads_db=db,
        settings=plan_first(),
    )
    # the earlier turn's evidence is in the prompt again (a follow-up that names nothing
    # carries the previous question's focus: its section is fetched again)
    assert re.search(rf"\b{seen['handle']}\b", seen["prompt"])
    assert "Q: Vaccines?" in seen["prompt"]
    assert a.usage.model_calls == 1
    with pytest.raises(Exception, match="another patient"):
        await ask("x", patient_id=ADAN, source=store, model=m2, thread_id="f", threads_db=db)


async def test_brief_overview_is_verified_and_sections_come_from_code(store: RecordStore) -> None:
    run_on = "She has type 2 diabetes and " + "also " * 60  # stopped by the grammar at 240

    def overview(messages: Sequence[Message]) -> dict[str, object]:
        text = messages[-1].text
        diabetes = re.search(r"^(E\d+): Active problems: Diabetes", text, re.M)
        allergy = re.search(r"^(E\d+): Allergies: Lisinopril", text, re.M)
        assert diabetes
        assert allergy
        return composed(
            ("Type 2 diabetes has been active since 2016-12-14.", [diabetes.group(1)]),
            ("She is allergic to lisinopril.", [allergy.group(1)]),
            ("Invented 42 mg.", [diabetes.group(1)]),
            (run_on[:240], [diabetes.group(1)]),
        )

    model = ScriptedChatModel([overview])
    b = await brief(DEBORA, source=store, model=model)
    assert b.mode == "brief"
    assert b.usage.model_calls == 1  # one call: the overview
    over = [s for s in b.sentences if s.section == "Overview"]
    assert [s.text for s in over] == [
        "Type 2 diabetes has been active since 2016-12-14.",
        "She is allergic to lisinopril.",
    ]
    assert all(s.status == "verified" for s in over)
    assert [d.text for d in b.dropped] == [run_on[:240], "Invented 42 mg."]
    assert "cut off" in b.dropped[0].reasons[0]  # a cut sentence is never shown
    sections = list(dict.fromkeys(s.section for s in b.sentences))
    assert sections[:4] == ["Overview", "Patient", "Active problems", "Current medications"]
    assert all(s.status == "extractive" for s in b.sentences if s.section != "Overview")
    assert "Social history" in b.collapsed
    md = b.to_markdown()
    assert md.startswith("# Pre-visit brief: Débora Nazario")
    assert "<details>" in md
    assert "_(extractive)_" not in md  # the header says which part is which
    assert CLEOTILDE not in b.to_json()
    # a model that fails: the brief is the record's entries, said so
    broken = await brief(DEBORA, source=store, model=ScriptedChatModel(["malformed"], repeat=True))
    assert not [s for s in broken.sentences if s.section == "Overview"]
    assert any("No model-written overview" in w for w in broken.warnings)


async def test_brief_overview_keeps_whole_sentences_and_recites(store: RecordStore) -> None:
    # in the demo the small model's overview was removed whole every time: it ran past the
    # length limit after a good first sentence, cited one line for a sentence naming three,
    # and continued its cut text in the next one ("ystolic blood pressure is …")
    head = "She has type 2 diabetes and hypertension."
    run_on = f"{head} Her results also include " + "more " * 60

    def overview(messages: Sequence[Message]) -> dict[str, object]:
        text = messages[-1].text
        diabetes = re.search(r"^(E\d+): Active problems: Diabetes", text, re.M)
        assert diabetes
        return composed(
            (run_on[:240], [diabetes.group(1)]),  # hypertension: not the line it cites
            ("ystolic blood pressure is high.", [diabetes.group(1)]),
            ("Her diabetes is active. Her results also include e", [diabetes.group(1)]),
        )

    b = await brief(DEBORA, source=store, model=ScriptedChatModel([overview]))
    over = [s for s in b.sentences if s.section == "Overview"]
    assert [s.text for s in over] == [head, "Her diabetes is active."]
    assert over[0].status == "verified"
    hypertension = [r for r in b.cited if "Essential hypertension" in r.display]
    assert hypertension, [r.display for r in b.cited]  # the line it names, cited by code
    assert hypertension[0].reference in over[0].references
    reasons = {d.text: d.reasons[0] for d in b.dropped}
    assert reasons[run_on[len(head) : 240].strip()].startswith("cut off at the length limit")
    assert reasons["ystolic blood pressure is high."].startswith("continues a sentence cut")
    assert reasons["Her results also include e"] == "left unfinished"
    assert not any("No model-written overview" in w for w in b.warnings)


async def test_a_list_the_model_left_incomplete_is_completed_from_the_record(
    store: RecordStore,
) -> None:
    """ "What are her current problems?": the model names one of the active conditions the
    search returned; code adds the others from the record (extractive), never a partial
    list shown as the whole."""
    seen_lines: list[str] = []

    def step(messages: Sequence[Message]) -> dict[str, object]:
        text = messages[-1].text
        block = text.split("RECORD DATA (tool results)", 1)[1]
        lines = [ln.strip() for ln in block.splitlines() if re.match(r"\s+E\d+ ", ln)]
        seen_lines.extend(lines)
        first = lines[0]
        handle, name = first.split(" ", 1)
        name = name.split(" [", 1)[0].split(":", 1)[0]
        return composed((f"She has {name}.", [handle]))

    model = ScriptedChatModel([step])
    a = await ask("What are her current problems?", patient_id=DEBORA, source=store, model=model,
                  settings=model_phrases())  # fmt: skip
    assert len(seen_lines) >= 2, seen_lines  # the fixture patient has several
    assert a.sentences[0].status == "verified"
    added = a.sentences[1:]
    assert len(added) == len(seen_lines) - 1
    assert all(s.status == "extractive" and s.references for s in added)
    cited = {h for s in a.sentences for h in s.handles}
    assert cited == {ln.split(" ", 1)[0] for ln in seen_lines}
    assert any("left out" in w for w in a.warnings)

    # citing the whole list but naming one entry ("She has X", citing all): the others
    # are still added (cpu-demo: "she was on A and B at the time of death", citing A to E)
    def cites_all(messages: Sequence[Message]) -> dict[str, object]:
        block = messages[-1].text.split("RECORD DATA (tool results)", 1)[1]
        lines = [ln.strip() for ln in block.splitlines() if re.match(r"\s+E\d+ ", ln)]
        name = lines[0].split(" ", 1)[1].split(" [", 1)[0].split(":", 1)[0]
        return composed((f"She has {name}.", [ln.split(" ", 1)[0] for ln in lines[:4]]))

    c = await ask("What are her current problems?", patient_id=DEBORA, source=store,
                  model=ScriptedChatModel([cites_all]), settings=model_phrases())  # fmt: skip
    assert c.sentences[0].status == "verified"
    assert len(c.sentences) == len(seen_lines)
    assert all(s.status == "extractive" for s in c.sentences[1:])
    assert len(c.sentences[0].handles) == 1  # it rests on the entry it names
    assert len(c.sentences[0].references) == 1

    # a question about one named thing gets no list appended
    def one(messages: Sequence[Message]) -> dict[str, object]:
        h = _latest_a1c_handle(messages)
        return answer(("The latest HbA1c was 6.6 % on 2025-01-15.", [h]))

    b = await ask("Latest HbA1c?", patient_id=DEBORA, source=store, model=ScriptedChatModel([one]))
    assert len(b.sentences) == 1


async def test_citations_that_support_nothing_the_sentence_says_are_removed(
    store: RecordStore,
) -> None:
    """cpu-demo cited a lab's result and three unrelated entries for one sentence: the
    footnotes a reader sees are the entries the sentence rests on, and the answer says
    how many were removed."""
    extra: list[str] = []

    def step(messages: Sequence[Message]) -> dict[str, object]:
        h = _latest_a1c_handle(messages)
        lines = [ln for ln in messages[-1].text.splitlines() if "HbA1c" not in ln]
        others = dict.fromkeys(x for ln in lines for x in re.findall(r"\bE\d+\b", ln))
        extra[:] = [x for x in others if x != h][:3]
        return answer(("The latest HbA1c was 6.6 % on 2025-01-15.", [h, *extra]))

    a = await ask("Latest HbA1c?", patient_id=DEBORA, source=store,
                  model=ScriptedChatModel([step]), settings=model_phrases())  # fmt: skip
    assert len(extra) == 3
    [s] = a.sentences
    assert s.status == "verified"
    assert len(s.handles) == 1
    assert [r.split("/")[0] for r in s.references] == ["Observation"]
    assert "Removed 3 citation(s) that support nothing their sentence says." in a.warnings


async def test_the_records_entries_are_shown_before_the_model_writes(store: RecordStore) -> None:
    """A `record` event carries what the question's own searches found, cited, before the
    first model call: a reader has the record's answer in seconds, then the verified one."""
    events: list[AgentEvent] = []
    order: list[str] = []

    def step(messages: Sequence[Message]) -> dict[str, object]:
        order.append("model")
        h = _latest_a1c_handle(messages)
        return composed(("The latest HbA1c was 6.6 % on 2025-01-15.", [h]))

    def seen(e: AgentEvent) -> None:
        events.append(e)
        order.append(e.type)

    a = await ask(
        "What is her latest HbA1c?",
        patient_id=DEBORA,
        source=store,
        model=ScriptedChatModel([step]),
        on_event=seen,
        settings=model_phrases(),
    )
    [record] = [e for e in events if isinstance(e, FromRecord)]
    assert order.index("record") < order.index("model_start")  # the events' own order
    first = record.sentences[0]
    assert first["status"] == "extractive"
    assert first["text"].startswith("HbA1c: 6.6 % on 2025-01-15")
    assert first["references"]
    # the record's entries and the verified answer rest on the same HbA1c results
    assert set(first["references"]) & {r for s in a.sentences for r in s.references}
    assert a.sentences[0].status == "verified"


async def test_the_action_instruction_is_given_only_when_writes_are_offered(
    store: RecordStore,
) -> None:
    for writes in (False, True):
        step = {**answer(("Nothing to do.", ["E1"])), "condition": "does not hold"}
        model = ScriptedChatModel([step if writes else answer(("Nothing to do.", ["E1"]))])
        await ask(
            "If her diabetes looks poorly controlled, order an HbA1c.",  # a judgement
            patient_id=DEBORA,
            source=store,
            model=model,
            settings=plan_first(allow_writes=writes),
        )
        prompt = model.calls[0][-1].text
        assert ("When the condition does not hold, take no action" in prompt) is writes
        assert ("call the tool that takes it, once" in prompt) is writes  # the plan's first rule
        assert ("order_lab" in prompt) is writes


async def test_a_count_question_is_answered_count_first_from_the_record(
    store: RecordStore,
) -> None:
    """No model sentence holds: "how many" is answered with the tool's count first."""
    model = ScriptedChatModel([composed()])
    a = await ask("How many HbA1c results does she have?", patient_id=DEBORA, source=store,
                  model=model)  # fmt: skip
    assert a.sentences[0].status == "extractive"
    assert a.sentences[0].text.startswith("HbA1c: 8 results since 2016-12-14, the latest 6.6 %")


async def test_an_empty_search_the_answer_does_not_speak_to_is_said_by_code(
    store: RecordStore,
) -> None:
    """The question's own search found nothing and the model wrote a true sentence about
    something else (cpu-demo: "List the active problems", none active, answered with an
    allergy): the record's "nothing found" comes first, cited to the search."""

    def elsewhere(messages: Sequence[Message]) -> dict[str, object]:
        allergy = re.search(r"^- Lisinopril .*\[(E\d+)\]$", messages[-1].text, re.M)
        assert allergy
        return composed(("She is allergic to lisinopril.", [allergy.group(1)]))

    a = await ask("Has she ever had a bone density scan?", patient_id=DEBORA, source=store,
                  model=ScriptedChatModel([elsewhere]),
                  settings=AgentSettings(answer_nothing_found=False))  # fmt: skip
    first = a.sentences[0]
    assert first.status == "extractive"
    assert first.searches  # rests on the search
    assert not first.references  # and cites no entry
    assert "bone density" in first.text.lower()
    assert [s.text for s in a.sentences[1:]] == ["She is allergic to lisinopril."]
    assert any("did not say what the record's search" in w for w in a.warnings)

    # an answer that rests on the empty search gets nothing added
    def says_none(messages: Sequence[Message]) -> dict[str, object]:
        h = re.search(r"(E\d+) not in this patient's record", messages[-1].text)
        assert h
        return composed(("No bone density scan is on file.", [h.group(1)]))

    b = await ask("Has she ever had a bone density scan?", patient_id=DEBORA, source=store,
                  model=ScriptedChatModel([says_none]),
                  settings=AgentSettings(answer_nothing_found=False))  # fmt: skip
    assert len(b.sentences) == 1
    assert not any("did not say what the record's search" in w for w in b.warnings)


async def test_when_every_search_of_the_question_found_nothing_code_says_so(
    store: RecordStore,
) -> None:
    """cpu-demo: "When was her last MMR?" (none on file) was answered with an invented date,
    then a repair round (80 s on 2 cores) invented another. The searches' "nothing found"
    is the answer: no model call (or, with ``answer_nothing_found`` off, no repair round)."""
    q = "When was her last bone density scan?"
    events: list[AgentEvent] = []
    model = ScriptedChatModel([])
    a = await ask(q, patient_id=DEBORA, source=store, model=model, on_event=events.append)
    assert not model.calls
    assert a.usage.model_calls == 0
    [s] = a.sentences
    assert s.status == "extractive"
    assert s.searches
    assert s.text.lower().startswith("not in this patient's record: no bone density scan")
    assert not a.warnings
    assert not any(isinstance(e, FromRecord) for e in events)  # the answer is at once

    model = ScriptedChatModel(
        [
            composed(("Her last bone density scan was on 2019-05-27.", ["E2"])),
            composed(("Her last bone density scan was on 2020-01-01.", ["E2"])),
        ]
    )
    b = await ask(q, patient_id=DEBORA, source=store, model=model,
                  settings=AgentSettings(answer_nothing_found=False))  # fmt: skip
    assert len(model.calls) == 1  # the one compose call; no repair round
    assert [x.text for x in b.sentences] == [s.text]
    assert [d.text for d in b.dropped] == ["Her last bone density scan was on 2019-05-27."]


#: (question, how code's answer starts): what the tools computed, said with no model call
_COMPUTED = [
    ("What is her latest HbA1c?", "HbA1c: 6.6 % on 2025-01-15"),
    ("Does she have hypertension?", "Yes — Essential hypertension"),
    ("Any abnormal labs?", "18 of the 40 lab and vital results"),
    ("Since when does she have diabetes?", "Diabetes mellitus type 2: active, since 2016-12-14"),
    ("When was her first flu shot?", "The first: Influenza"),
    ("What are her current medications?", "Losartan potassium 25 MG Oral Tablet: current"),
    (
        "How many flu shots has she had?",
        "Influenza, seasonal, injectable, preservative free: 5 on record",
    ),
    ("Is she off losartan?", "No — losartan potassium 25 MG Oral Tablet: current"),
    ("Is she due for a flu shot?", "Influenza, seasonal, injectable, preservative free: last"),
    ("Has her hypertension improved?", "Essential hypertension: active, since 2019-03-13"),
    # a judgement of a condition: its entries as they stand, and what shows it judged
    # against its range and goal (the HbA1c), not a "yes" from the entries
    ("Is her diabetes controlled?", "Diabetes mellitus type 2: active, since 2016-12-14"),
    # a series asked of by name alone: its latest value and course, as the tool says it
    ("What's her blood pressure?", "Systolic BP: 156.9 mmHg on 2025-01-15"),
    # a judgement of the allergies: by their criticality and reactions' severity
    ("Any severe allergies?", "Yes — Allergy to Lisinopril"),
    # a visit's reason asked with "why": the last visit with its reason, not prose
    ("Why did she come in last time?", "The most recent: General examination of patient"),
]
#: prose asked for: the model writes it
_MODEL_ASKED = [
    "Describe her diabetes in detail.",
]


async def test_what_code_computed_is_the_answer_without_a_model_call(store: RecordStore) -> None:
    """The latest value, a yes/no about one named thing, results out of range, an onset,
    the first of a kind, a whole current list, a count of events: the tools computed and
    said it, cited; no model is asked (the scripted FAKE model has no step: a call would
    fail). Prose asked for ("describe …"): the model is."""
    for q, starts in _COMPUTED:
        a = await ask(q, patient_id=DEBORA, source=store, model=ScriptedChatModel([]))
        assert a.usage.model_calls == 0, q
        assert a.sentences[0].text.startswith(starts), (q, a.sentences[0].text)
        assert a.sentences[0].references, q
        assert not a.warnings, (q, a.warnings)
    # every result out of range is said, not the first few of them
    a = await ask(
        "Any abnormal labs?", patient_id=DEBORA, source=store, model=ScriptedChatModel([])
    )
    assert len(a.sentences) == 1 + 18
    # a whole list and another fact: each said by its own search
    jarred = "cdb486b4-716b-4e83-9e27-8a68620dd1fe"
    a = await ask("Active meds at time of death?", patient_id=jarred, source=store,
                  model=ScriptedChatModel([]))  # fmt: skip
    texts = [s.text for s in a.sentences]
    assert any(" died on " in t for t in texts), texts
    assert any(t.startswith("24 HR Metformin hydrochloride 500 MG") for t in texts), texts
    for q in _MODEL_ASKED:
        model = ScriptedChatModel([composed(("Losartan is recorded.", ["E2"]))])
        a = await ask(q, patient_id=DEBORA, source=store, model=model)
        assert a.usage.model_calls >= 1, q

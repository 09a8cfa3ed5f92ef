"""MedAgentBench v2 task kinds (record_vital, medication_order, referral, window_value):
the default (v1) task set is unchanged, the no-model baseline scores 100 % on the new
kinds (fixtures; shared Synthea when present; a real FHIR server), grading reads the
server's state and fails a wrong dose, route, value, specialty or reason, and the agent
writes each kind through its tool (a scripted fake of the MODEL only)."""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from agent.context import AgentSettings
from agent.models import Message
from bench.ehrqa.generate import lab_points
from bench.medagent.agent_answerer import AgentTaskAnswerer, parse_window_answer
from bench.medagent.answer import TaskAnswer
from bench.medagent.baseline import BaselineAnswerer
from bench.medagent.generate import (
    ALL_KINDS,
    KINDS,
    KINDS_V2,
    Task,
    generate,
    load_records,
    parse_kinds,
    window_truth,
)
from bench.medagent.grade import grade_answer, grade_write, write_state
from bench.medagent.run import MedAgentConfig, run_medagent, run_tasks
from tests.agent_fixtures import DEBORA, LUIGI, ScriptedChatModel, answer, composed, tools
from tests.sekmet import SHARED_DATA, running_sekmet
from tools.store import RecordStore
from tools.writes import medication_order, referral, vital_observation

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fhir_fixtures" / "patients"
V1_IDS = json.loads((ROOT / "tests" / "data" / "medagent_v1_task_ids.json").read_text())
SYNTHEA = SHARED_DATA


# --------------------------------------------------------------------------- comparability


@pytest.mark.parametrize(("n", "seed"), [(9, 1), (60, 1), (60, 3)])
def test_default_task_set_is_unchanged(n: int, seed: int) -> None:
    """The ids (and the whole tasks) recorded before the v2 kinds were added."""
    for got in (generate(FIXTURES, n, seed=seed), generate(FIXTURES, n, seed=seed, kinds=KINDS)):
        key = f"fixtures-{n}-seed{seed}"
        assert [t.id for t in got] == V1_IDS[key]
        blob = json.dumps([t.as_dict() for t in got], sort_keys=True, ensure_ascii=False)
        assert hashlib.sha256(blob.encode()).hexdigest() == V1_IDS["sha256_of_tasks"][key]


@pytest.mark.shared_data
@pytest.mark.parametrize("n", [9, 60])
def test_default_task_set_is_unchanged_on_shared_synthea(n: int) -> None:
    if not SYNTHEA.is_dir():
        pytest.skip(f"shared Synthea data not found at {SYNTHEA}")
    assert [t.id for t in generate(SYNTHEA, n, seed=1)] == V1_IDS[f"synthea-{n}-seed1"]


def test_parse_kinds() -> None:
    assert parse_kinds(None) == parse_kinds("v1") == KINDS
    assert parse_kinds("v2") == KINDS_V2
    assert parse_kinds("all") == ALL_KINDS == parse_kinds("v2,v1")
    assert parse_kinds("referral, find_patient") == ("find_patient", "referral")
    with pytest.raises(ValueError, match="unknown task kind"):
        parse_kinds("v3")
    with pytest.raises(ValueError, match="unknown task kinds"):
        generate(FIXTURES, 3, kinds=("nope",))


# --------------------------------------------------------------------------- generator


@pytest.fixture(scope="module")
def v2() -> list[Task]:
    return generate(FIXTURES, 40, seed=1, kinds=KINDS_V2)


def test_v2_generator(v2: list[Task]) -> None:
    assert [t.as_dict() for t in generate(FIXTURES, 40, seed=1, kinds=KINDS_V2)] == [
        t.as_dict() for t in v2
    ]
    kinds = Counter(t.kind for t in v2)
    assert set(kinds) == set(KINDS_V2)
    assert kinds["record_vital"] == kinds["medication_order"] == kinds["referral"] == 5
    # v1 tasks inside an "all" set are the v1 set's own (same draws)
    both = generate(FIXTURES, 60, seed=1, kinds=ALL_KINDS)
    v1 = {t.id for t in generate(FIXTURES, 60, seed=1)}
    assert {t.id for t in both if t.kind in KINDS} <= v1
    for t in v2:  # plain clinician wording, no Synthea display text
        assert "Patient/" not in t.text
        if t.kind == "medication_order":
            assert f"RxNorm {t.params['rxnorm']}" in t.text
        if t.kind == "record_vital" and t.params["vital"] == "blood_pressure":
            assert f"{t.params['systolic']}/{t.params['diastolic']} mmHg" in t.text


def test_window_truth_from_raw_bundles() -> None:
    """Débora's HbA1c per the fixture manifest: 7.6 % on 2024-06-03, 2025-01-15 later."""
    (deb,) = [r for r in load_records(FIXTURES) if r.patient_id == DEBORA]
    a1c = lab_points(deb)["4548-4"]
    inside = [p.value for p in a1c if "2023-01-01" <= p.day <= "2025-06-01"]
    assert inside
    got = window_truth(a1c, "mean", "2023-01-01", "2025-06-01")
    assert got["value"] == pytest.approx(sum(inside) / len(inside))
    assert window_truth(a1c, "max", "2023-01-01", "2025-06-01")["value"] == max(inside)
    assert window_truth(a1c, "count", "2023-01-01", "2025-06-01")["value"] == len(inside)
    assert window_truth(a1c, "min", "1990-01-01", "1990-12-31") == {
        "none": True,
        "n": 0,
        "refs": [],
    }
    assert window_truth(a1c, "count", "1990-01-01", "1990-12-31")["value"] == 0


# --------------------------------------------------------------------------- baseline


@pytest.fixture
def fixture_store(tmp_path: Path) -> Iterator[RecordStore]:
    store = RecordStore(tmp_path / "records.db")
    assert store.import_paths([FIXTURES]).ok
    yield store
    store.close()


async def test_baseline_scores_all_v2_kinds(fixture_store: RecordStore, v2: list[Task]) -> None:
    ids = {t.patient_key: t.patient_key for t in v2}
    rows = await run_tasks(v2, fixture_store, BaselineAnswerer(fixture_store), ids)
    failed = [r for r in rows if not r["correct"]]
    assert not failed, failed
    assert {r["kind"] for r in rows} == set(KINDS_V2)
    assert all(len(r["created"]) == 1 for r in rows if r["kind"] != "window_value")


def test_run_all_kinds_on_store(tmp_path: Path) -> None:
    out = tmp_path / "all.json"
    report = run_medagent(MedAgentConfig(FIXTURES, 28, seed=2, out=out, kinds=ALL_KINDS))
    assert report is not None
    assert set(report["per_kind"]) == set(ALL_KINDS)
    assert report["overall"]["success_rate"] == 1.0, [
        r for r in report["results"] if not r["correct"]
    ]
    assert report["config"]["kinds"] == list(ALL_KINDS)
    assert "--kinds" in report["config"]["command"]


@pytest.mark.shared_data
def test_baseline_v2_on_shared_synthea(tmp_path: Path) -> None:
    if not SYNTHEA.is_dir():
        pytest.skip(f"shared Synthea data not found at {SYNTHEA}")
    report = run_medagent(
        MedAgentConfig(SYNTHEA, 40, seed=1, out=tmp_path / "s.json", kinds=KINDS_V2)
    )
    assert report is not None
    assert report["overall"]["n"] == 40
    failed = [r for r in report["results"] if not r["correct"]]
    assert not failed, failed


@pytest.mark.integration
def test_v2_on_sekmet(tmp_path: Path) -> None:
    """Loaded into a real, empty FHIR server; the writes POSTed there and graded on it."""
    with running_sekmet(tmp_path / "sekmet") as server:
        cfg = MedAgentConfig(
            FIXTURES, 16, seed=1, server=server.base_url, out=tmp_path / "v2.json", kinds=KINDS_V2
        )
        report = run_medagent(cfg)
        assert report is not None
        failed = [r for r in report["results"] if not r["correct"]]
        assert not failed, failed
        assert set(report["per_kind"]) == set(KINDS_V2)


def test_cli_kinds(tmp_path: Path) -> None:
    import typer
    from typer.testing import CliRunner

    from bench.medagent.cli import register

    app = typer.Typer()
    app.command("version")(lambda: None)
    register(app)
    out = tmp_path / "cli.json"
    args = ["medagent", "--data", str(FIXTURES), "--tasks", "8", "--seed", "5", "--out", str(out)]
    result = CliRunner().invoke(app, [*args, "--kinds", "v2"])
    assert result.exit_code == 0, result.output
    assert "| **overall** | 8 | 8 | 100.0 |" in result.output
    assert "| referral |" in result.output
    assert "| find_patient |" not in result.output
    bad = CliRunner().invoke(app, [*args, "--kinds", "v9"])
    assert bad.exit_code == 2
    assert "unknown task kind" in bad.output


# --------------------------------------------------------------------------- grading


def _one(v2: list[Task], kind: str, **params: Any) -> Task:
    return next(
        t for t in v2 if t.kind == kind and all(t.params.get(k) == v for k, v in params.items())
    )


def _task(kind: str, params: dict[str, Any], expected: dict[str, Any] | None = None) -> Task:
    return Task("t", kind, "p1", "n", "", params, expected or params)


BP = _task("record_vital", {"vital": "blood_pressure", "code": "85354-9", "unit": "mm[Hg]",
                            "systolic": 128, "diastolic": 82})  # fmt: skip
MED = _task(
    "medication_order",
    {"drug": "metformin", "rxnorm": "6809", "dose": 500, "dose_unit": "mg",
     "route": "26643006", "frequency": 2, "period": 1, "period_unit": "d"},
)  # fmt: skip
REF = _task("referral", {"specialty": "cardiology", "category": "3457005",
                         "specialty_code": "394579002", "reason": "palpitations"})  # fmt: skip


def _bp(pid: str = "p1", value: str = "128/82") -> dict[str, Any]:
    return {**vital_observation(pid, "BP", value), "id": "new"}


def _med(pid: str = "p1", **kw: Any) -> dict[str, Any]:
    args = {"drug": "metformin", "rxnorm": "6809", "dose": "500", "dose_unit_word": "mg",
            "route": "by mouth", "frequency": "BID", **kw}  # fmt: skip
    return {**medication_order(pid, **args), "id": "new"}


def _ref(pid: str = "p1", **kw: Any) -> dict[str, Any]:
    return {
        **referral(pid, **{"specialty": "cardiology", "reason": "palpitations", **kw}),
        "id": "new",
    }


def _grade(task: Task, new: dict[str, Any], **kw: Any) -> dict[str, Any]:
    before = {"old": {"resourceType": new["resourceType"], "subject": {"reference": "Patient/p1"}}}
    return grade_write(task, "p1", before, {**before, new["id"]: new}, **kw)


def test_grade_write_vital() -> None:
    assert _grade(BP, _bp())["correct"]
    wrong = _grade(BP, _bp(value="128/84"))
    assert not wrong["correct"]
    assert "diastolic value 84" in wrong["reason"]
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=3)
    assert "not now" in _grade(BP, _bp(), now=later)["reason"]
    untagged = _bp()
    del untagged["meta"]
    assert "not tagged" in _grade(BP, untagged)["reason"]
    prelim = {**_bp(), "status": "preliminary"}
    assert "status preliminary" in _grade(BP, prelim)["reason"]
    mmhg_text = copy.deepcopy(_bp())
    mmhg_text["component"][0]["valueQuantity"]["code"] = "mmHg"  # not the UCUM code
    assert "unit" in _grade(BP, mmhg_text)["reason"]
    hr = _task(
        "record_vital", {"vital": "heart_rate", "code": "8867-4", "unit": "/min", "value": 72}
    )
    assert _grade(hr, {**vital_observation("p1", "pulse", "72"), "id": "n"})["correct"]
    assert not _grade(hr, {**vital_observation("p1", "pulse", "27"), "id": "n"})["correct"]


def test_grade_write_medication() -> None:
    assert _grade(MED, _med())["correct"]
    assert _grade(MED, _med(frequency="twice a day", route="PO"))["correct"]
    dose = _grade(MED, _med(dose="850"))
    assert not dose["correct"]
    assert "dose value 850" in dose["reason"]
    route = _grade(MED, _med(route="IV"))
    assert not route["correct"]
    assert "route" in route["reason"]
    assert "timing" in _grade(MED, _med(frequency="three times daily"))["reason"]
    assert "dose unit" in _grade(MED, _med(dose_unit_word="g"))["reason"]
    draft = {**_med(), "status": "draft"}
    assert "status/intent draft/order" in _grade(MED, draft)["reason"]


def test_grade_write_referral() -> None:
    assert _grade(REF, _ref())["correct"]
    assert "specialty" in _grade(REF, _ref(specialty="neurology"))["reason"]
    assert "reason lacks palpitations" in _grade(REF, _ref(reason="follow-up"))["reason"]


def test_grade_write_counts_and_patients() -> None:
    before: dict[str, Any] = {}
    assert grade_write(REF, "p1", before, before)["reason"] == "nothing was written"
    two = {"a": {**_ref(), "id": "a"}, "b": {**_ref(), "id": "b"}}
    assert "2 resources" in grade_write(REF, "p1", before, two)["reason"]
    other = grade_write(
        REF, "p1", before, {"a": {**_ref(), "id": "a"}, "x": {**_ref("p2"), "id": "x"}}
    )
    assert not other["correct"]
    assert other["created_for_others"] == ["ServiceRequest/x -> p2"]


def test_grade_window_value() -> None:
    mean = _task(
        "window_value", {"op": "mean"}, {"none": False, "value": 6.45, "unit": "%", "n": 2}
    )
    assert grade_answer(mean, TaskAnswer(value=6.45), None)["correct"]
    assert grade_answer(mean, TaskAnswer(value=6.452), None)["correct"]  # display rounding
    assert not grade_answer(mean, TaskAnswer(value=6.5), None)["correct"]
    assert not grade_answer(mean, TaskAnswer(none=True), None)["correct"]
    count = _task("window_value", {"op": "count"}, {"none": False, "value": 3, "n": 3})
    assert grade_answer(count, TaskAnswer(value=3), None)["correct"]
    assert not grade_answer(count, TaskAnswer(value=4), None)["correct"]
    zero = _task("window_value", {"op": "count"}, {"none": True, "value": 0, "n": 0})
    assert grade_answer(zero, TaskAnswer(value=0), None)["correct"]
    assert grade_answer(zero, TaskAnswer(none=True), None)["correct"]
    empty = _task("window_value", {"op": "max"}, {"none": True, "n": 0})
    assert grade_answer(empty, TaskAnswer(none=True), None)["correct"]
    assert not grade_answer(empty, TaskAnswer(value=7.0), None)["correct"]


class WrongDose:
    """An answerer that writes the medication with a wrong dose (straight into the store)."""

    name = "wrong-dose"

    def __init__(self, store: RecordStore) -> None:
        self.store = store

    async def answer(self, task: Task, patient_id: str | None) -> TaskAnswer:
        assert patient_id is not None
        p = task.params
        rx = medication_order(
            patient_id, drug=p["drug"], rxnorm=p["rxnorm"], dose=float(p["dose"]) * 2,
            dose_unit_word=p["dose_unit"], route=p["route"], frequency="daily",
        )  # fmt: skip
        await self.store.create(rx, patient_id=patient_id)
        return TaskAnswer(text=f"Ordered {p['drug']} exactly as asked.")


async def test_graded_on_state_not_transcript(fixture_store: RecordStore, v2: list[Task]) -> None:
    med = next(t for t in v2 if t.kind == "medication_order")
    ids = {med.patient_key: med.patient_key}
    [row] = await run_tasks([med], fixture_store, WrongDose(fixture_store), ids)
    assert not row["correct"]
    assert "dose value" in row["reason"]
    assert len(row["created"]) == 1
    before = await write_state(fixture_store, med)
    assert len(before) >= 1  # the state lists it, whoever wrote it


# --------------------------------------------------------------------------- agent


def _cite(word: str) -> Any:
    def step(messages: Sequence[Message]) -> dict[str, Any]:
        # the write's own line: "recorded Heart rate 82 /min …: Observation/…, status final"
        m = re.search(rf"{word} [^\n]*(?:Observation|Request)/[^\n]*\[(E\d+)\]", messages[-1].text)
        assert m, "the write tool's result shows no citable handle"
        return composed((f"Done ({word}).", [m.group(1)]))

    return step


def _tool_call(task: Task) -> tuple[str, dict[str, str], str]:
    """What a model reading the task text would call (from the text, not the params)."""
    text = task.text
    if task.kind == "record_vital":
        value = re.search(r"(\d+(?:\.\d+)?(?:/\d+)?)", text)
        assert value
        vital = task.params["vital"].replace("_", " ").replace("body ", "")
        return "record_vital", {"vital": vital, "value": value.group(1)}, "recorded"
    if task.kind == "medication_order":
        p = task.params
        m = re.search(r"(\d+(?:\.\d+)?) (mg|mcg|g|units|puffs)", text)
        assert m
        route = next(w for w in ("by mouth", "orally", "PO", "subcutaneously", "inhaled", "IV")
                     if f" {w}" in text)  # fmt: skip
        freq = next(f for f in ("twice daily", "twice a day", "three times a day", "once daily",
                                "once a day", "every 6 hours", "every 8 hours", "every 24 hours",
                                "daily") if f in text)  # fmt: skip
        args = {"drug": p["drug"], "rxnorm": p["rxnorm"], "dose": m.group(1),
                "dose_unit": m.group(2), "route": route, "frequency": freq}  # fmt: skip
        return "order_medication", args, "ordered"
    return (
        "refer_patient",
        {"specialty": task.params["specialty"], "reason": task.params["reason"]},
        "referred",
    )


@pytest.mark.parametrize("kind", ["record_vital", "medication_order", "referral"])
async def test_agent_writes_each_v2_kind(fixture_store: RecordStore, kind: str) -> None:
    tasks = [t for t in generate(FIXTURES, 60, seed=1, kinds=(kind,)) if t.kind == kind]
    task = tasks[0]
    tool, args, word = _tool_call(task)
    model = ScriptedChatModel([tools((tool, args)), _cite(word), composed()], repeat=True)
    answerer = AgentTaskAnswerer(fixture_store, model, name="scripted")
    [row] = await run_tasks([task], fixture_store, answerer, {task.patient_key: task.patient_key})
    assert row["correct"], row
    assert row["answer"]["text"].endswith(f". Done ({word}).")  # after what was written
    # the same calls in a session for another patient: graded wrong for this task
    model = ScriptedChatModel([tools((tool, args)), _cite(word), composed()], repeat=True)
    other = AgentTaskAnswerer(fixture_store, model, name="scripted")
    before = await write_state(fixture_store, task)
    await other.answer(task, LUIGI)
    row = grade_write(task, task.patient_key, before, await write_state(fixture_store, task))
    assert not row["correct"]
    assert row["created_for_others"]


def _cite_window(text: str, start: str, end: str) -> Any:
    """Script step: answer citing the lab_trend line of the task's window."""

    def step(messages: Sequence[Message]) -> dict[str, Any]:
        m = re.search(rf"from {start} to {end} \(inclusive\)[^\n]*\[(E\d+)\]", messages[-1].text)
        assert m, "lab_trend showed no line for the window"
        return answer((text, [m.group(1)]))

    return step


@pytest.mark.parametrize("op", ["mean", "count"])
async def test_agent_window_value(fixture_store: RecordStore, op: str) -> None:
    """The window's statistic, said by code from lab_trend (``answer_computed``, the
    default: no model call), is graded right; with it off, the model reads the window and
    answers citing what it showed; the answer text is parsed for the number (graded as
    lab_window values are)."""
    task = next(
        t
        for t in generate(FIXTURES, 60, seed=1, kinds=("window_value",))
        if t.params["op"] == op and not t.expected["none"]
    )
    p, exp = task.params, task.expected
    if op == "count":
        text = f"There were {exp['value']} {p['display']} results in that period."
    else:
        text = f"The average {p['display']} in that period was {float(exp['value']):.4g} {exp['unit']}."
    args = {"code": p["code"], "date_from": p["start"], "date_to": p["end"]}
    # the question asks for no action: the prefetched lab_trend of the window goes straight
    # to the answer (no planning round), as without writes
    del args
    silent = ScriptedChatModel([])
    by_code = AgentTaskAnswerer(fixture_store, silent, name="scripted")
    [row] = await run_tasks([task], fixture_store, by_code, {task.patient_key: task.patient_key})
    assert not silent.calls
    assert row["correct"], row
    model = ScriptedChatModel([_cite_window(text, p["start"], p["end"]), composed()], repeat=True)
    answerer = AgentTaskAnswerer(
        fixture_store, model, name="scripted", settings=AgentSettings(answer_computed=False)
    )
    [row] = await run_tasks([task], fixture_store, answerer, {task.patient_key: task.patient_key})
    assert row["answer"]["text"] == text  # the cited sentence survived verification
    assert row["correct"], row


@pytest.mark.parametrize(
    ("text", "count", "value", "none"),
    [
        ("The average total cholesterol (LOINC 2093-3) over the past 5 years was 213.8 mg/dL "
         "(6 results, 2020-07-11 to 2025-07-11).", False, 213.8, False),
        ("Over the past 18 months the lowest eGFR was 58 mL/min/{1.73_m2} on 2021-03-04.",
         False, 58, False),
        ("There were 3 HbA1c results (LOINC 4548-4) between 2020-01-01 and 2025-01-01.",
         True, 3, False),
        ("No HbA1c results in the past 2 years.", True, 0, True),
        ("None: no HbA1c result in that window.", False, None, True),
    ],
)  # fmt: skip
def test_parse_window_answer(text: str, count: bool, value: float | None, none: bool) -> None:
    got = parse_window_answer(text, count=count)
    assert (got.value, got.none) == (value, none)

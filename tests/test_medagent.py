"""MedAgentBench-style tasks: generator ground truth on the fixture patients, grading
that reads the server's state (not the transcript), and short end-to-end runs of the
no-model baseline on the embedded store and on a real FHIR server (sekmet-fhir)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.medagent.answer import TaskAnswer
from bench.medagent.baseline import BaselineAnswerer, lab_order
from bench.medagent.generate import Task, _order_task, dump, generate, load_records, load_tasks
from bench.medagent.grade import grade_answer, grade_order, summarize
from bench.medagent.run import MedAgentConfig, run_medagent, run_tasks
from tests.agent_fixtures import ADAN, CLEOTILDE, DEBORA, LUIGI
from tests.sekmet import SHARED_DATA, running_sekmet
from tools.errors import ConfigError
from tools.source import RecordSource
from tools.store import RecordStore

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fhir_fixtures" / "patients"


@pytest.fixture(scope="module")
def tasks() -> list[Task]:
    return generate(FIXTURES, 60, seed=3)


def by(tasks: list[Task], kind: str, patient: str) -> list[Task]:
    return [t for t in tasks if t.kind == kind and t.patient_key == patient]


# --------------------------------------------------------------------------- generator


def test_generator_is_deterministic_and_balanced(tasks: list[Task], tmp_path: Path) -> None:
    again = generate(FIXTURES, 60, seed=3)
    assert [t.as_dict() for t in again] == [t.as_dict() for t in tasks]
    assert [t.id for t in generate(FIXTURES, 60, seed=4)] != [t.id for t in tasks]
    kinds = Counter(t.kind for t in tasks)
    assert kinds["find_patient"] == 5  # every fixture patient (unique name + birth date)
    assert kinds["conditional_order"] == 5  # one per patient
    assert kinds["lab_window"] >= 10
    small = generate(FIXTURES, 6, seed=3)
    assert Counter(t.kind for t in small) == {
        "find_patient": 2,
        "lab_window": 2,
        "conditional_order": 2,
    }
    dump(tasks, tmp_path / "t.json")
    assert [t.as_dict() for t in load_tasks(tmp_path / "t.json")] == [t.as_dict() for t in tasks]


def test_find_patient_truth(tasks: list[Task]) -> None:
    (deb,) = by(tasks, "find_patient", DEBORA)
    assert deb.params == {"name": "Débora Nazario", "birth_date": "1959-05-13"}
    assert deb.expected == {"patient_key": DEBORA}
    assert "Débora Nazario" in deb.text
    assert "1959-05-13" in deb.text


def test_lab_window_truth_from_raw_bundles() -> None:
    """Truth per the manifest: Cleotilde's 2025-04-30 visit holds an HbA1c 5.0 % and a
    hand-made entered-in-error 15.2 % beside it (left out)."""
    (cleo,) = [r for r in load_records(FIXTURES) if r.patient_id == CLEOTILDE]
    from bench.ehrqa.generate import lab_points
    from bench.medagent.generate import _window_truth

    a1c = lab_points(cleo)["4548-4"]
    got = _window_truth(a1c, "2025-01-01", "2025-05-31")
    assert got is not None
    assert (got["value"], got["unit"], got["date"]) == (5, "%", "2025-04-30")
    assert _window_truth(a1c, "2000-01-01", "2001-01-01") == {"none": True}
    (deb,) = [r for r in load_records(FIXTURES) if r.patient_id == DEBORA]
    got = _window_truth(lab_points(deb)["4548-4"], "2023-01-01", "2024-12-31")
    assert got is not None
    assert (got["value"], got["date"]) == (7.6, "2024-06-03")


def test_conditional_order_truth() -> None:
    records = {r.patient_id: r for r in load_records(FIXTURES)}
    # Débora's last HbA1c: 2025-01-15
    due = _order_task(records[DEBORA], "2026-01-16", 365)
    assert due.expected == {"should_order": True, "last_date": "2025-01-15", "days_since": 366}
    fresh = _order_task(records[DEBORA], "2026-01-15", 365)
    assert fresh.expected["should_order"] is False  # exactly 365 days: not "more than"
    earlier = _order_task(records[DEBORA], "2024-07-01", 30)  # only values up to the date
    assert earlier.expected["last_date"] == "2024-06-03"
    none = _order_task(records[ADAN], "2025-06-01", 365)  # Adan has no HbA1c
    assert none.expected == {"should_order": True, "last_date": None, "days_since": None}
    assert "order a new HbA1c" in due.text


# --------------------------------------------------------------------------- grading


def test_grade_order_reads_state_only() -> None:
    task = Task("t", "conditional_order", "k", "n", "", {"code": "4548-4"}, {"should_order": True})
    before = {"old": "p1"}
    assert grade_order(task, "p1", before, {"old": "p1", "new": "p1"})["correct"]
    assert not grade_order(task, "p1", before, before)["correct"]
    two = grade_order(task, "p1", before, {"old": "p1", "a": "p1", "b": "p1"})
    assert not two["correct"]
    other = grade_order(task, "p1", before, {"old": "p1", "a": "p1", "x": "p2"})
    assert not other["correct"]
    assert "other patients" in other["reason"]
    no = Task("t", "conditional_order", "k", "n", "", {"code": "4548-4"}, {"should_order": False})
    assert grade_order(no, "p1", before, before)["correct"]
    assert not grade_order(no, "p1", before, {**before, "n": "p1"})["correct"]


def test_grade_answer() -> None:
    lab = Task(
        "t",
        "lab_window",
        "k",
        "n",
        "",
        {},
        {"none": False, "value": 7.6, "unit": "%", "date": "2024-06-03"},
    )
    assert grade_answer(lab, TaskAnswer(value=7.6, unit="%", date="2024-06-03"), None)["correct"]
    assert not grade_answer(lab, TaskAnswer(value=7.6, unit="%", date="2024-06-04"), None)[
        "correct"
    ]
    assert not grade_answer(lab, TaskAnswer(none=True), None)["correct"]
    # a unit UCUM reads as the same (an annotation is dimensionless); another unit is wrong
    egfr = Task("t", "lab_window", "k", "n", "", {},
                {"none": False, "value": 19.03, "unit": "mL/min", "date": "1996-02-07"})  # fmt: skip
    for unit, right in (("mL/min/{1.73_m2}", True), ("mL/s", False)):
        said = TaskAnswer(value=19.03, unit=unit, date="1996-02-07")
        assert grade_answer(egfr, said, None)["correct"] is right
    empty = Task("t", "lab_window", "k", "n", "", {}, {"none": True})
    assert grade_answer(empty, TaskAnswer(none=True), None)["correct"]
    find = Task("t", "find_patient", "k", "n", "", {}, {"patient_key": "k"})
    assert grade_answer(find, TaskAnswer(value="Patient/s1"), "s1")["correct"]
    assert not grade_answer(find, TaskAnswer(value="k"), "s1")["correct"]
    assert not grade_answer(find, TaskAnswer(value="s1", error="boom"), "s1")["correct"]
    s = summarize(
        [{"kind": "lab_window", "correct": True}, {"kind": "lab_window", "correct": False}]
    )
    assert s["per_kind"]["lab_window"]["success_rate"] == 0.5


class ClaimsButDoesNotOrder:
    """An answerer whose transcript claims an order it never wrote."""

    name = "liar"

    async def answer(self, task: Task, patient_id: str | None) -> TaskAnswer:
        return TaskAnswer(text="Ordered ServiceRequest/x.", ordered=["ServiceRequest/x"])


class OrdersForSomeoneElse:
    """An answerer that writes the order for another patient (directly on the store,
    bypassing the tools' patient scope, to show the grade catches it)."""

    name = "misdirected"

    def __init__(self, store: RecordStore, other: str) -> None:
        self.store, self.other = store, other

    async def answer(self, task: Task, patient_id: str | None) -> TaskAnswer:
        await self.store.create(
            lab_order(self.other, "4548-4", "HbA1c", "x"), patient_id=self.other
        )
        return TaskAnswer(text="ordered")


@pytest.fixture
def fixture_store(tmp_path: Path) -> Iterator[RecordStore]:
    store = RecordStore(tmp_path / "records.db")
    assert store.import_paths([FIXTURES]).ok
    yield store
    store.close()


async def test_grading_ignores_the_transcript(
    fixture_store: RecordStore, tasks: list[Task]
) -> None:
    orders = [t for t in tasks if t.kind == "conditional_order"]
    ids = {t.patient_key: t.patient_key for t in orders}
    rows = await run_tasks(orders, fixture_store, ClaimsButDoesNotOrder(), ids)
    for task, row in zip(orders, rows, strict=True):
        assert row["correct"] is (not task.expected["should_order"]), row
    (adan,) = [t for t in orders if t.patient_key == ADAN]  # no HbA1c: must order
    rows = await run_tasks([adan], fixture_store, OrdersForSomeoneElse(fixture_store, LUIGI), ids)
    assert not rows[0]["correct"]
    assert rows[0]["created_for_others"]


async def test_baseline_on_store_all_kinds(fixture_store: RecordStore, tasks: list[Task]) -> None:
    source: RecordSource = fixture_store
    ids = {t.patient_key: t.patient_key for t in tasks}
    rows = await run_tasks(tasks, source, BaselineAnswerer(source), ids)
    failed = [r for r in rows if not r["correct"]]
    assert not failed, failed
    # every order the baseline wrote is the session patient's, tagged as generated
    written = await fixture_store.search("ServiceRequest", {"code": "http://loinc.org|4548-4"})
    due = {
        t.patient_key for t in tasks if t.kind == "conditional_order" and t.expected["should_order"]
    }
    assert {r["subject"]["reference"].split("/")[1] for r in written} == due
    assert all(r["meta"]["tag"][0]["code"] == "assistant-generated" for r in written)


# --------------------------------------------------------------------------- end to end


def _report(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def test_run_on_store_writes_reports(tmp_path: Path) -> None:
    out = tmp_path / "r" / "medagent.json"
    report = run_medagent(MedAgentConfig(FIXTURES, 12, seed=1, out=out))
    assert report is not None
    assert report["overall"] == {"n": 12, "correct": 12, "success_rate": 1.0}
    assert set(report["per_kind"]) == {"find_patient", "lab_window", "conditional_order"}
    assert _report(out)["config"]["target"] == "embedded store"
    md = (tmp_path / "r" / "medagent.md").read_text()
    assert "| conditional_order | 4 | 4 | 100.0 |" in md
    assert (tmp_path / "r" / "medagent.tasks.json").exists()
    assert run_medagent(MedAgentConfig(tmp_path / "missing", 3, out=out)) is None


def test_interrupted_run_resumes(tmp_path: Path) -> None:
    """Each graded row is kept as it comes; a second run answers only the tasks the first
    did not finish and reports all of them; another run's file is refused."""
    answered: list[str] = []

    class Counting(BaselineAnswerer):
        async def answer(self, task: Task, session: str | None) -> TaskAnswer:
            answered.append(task.id)
            return await super().answer(task, session)

    out = tmp_path / "m.json"
    full = run_medagent(MedAgentConfig(FIXTURES, 9, seed=3, out=out), Counting)
    assert full is not None
    assert full["overall"]["n"] == 9
    results = tmp_path / "m.results.jsonl"
    lines = results.read_text().splitlines()
    assert json.loads(lines[0])["run"]["tasks"] == 9
    assert len(lines) == 10
    # interrupted after four tasks, the fifth line cut half-way
    results.write_text("\n".join(lines[:5]) + "\n" + lines[5][:40])
    answered.clear()
    resumed = run_medagent(MedAgentConfig(FIXTURES, 9, seed=3, out=out), Counting)
    assert resumed is not None
    assert answered == [r["task_id"] for r in full["results"][4:]]
    assert [r["task_id"] for r in resumed["results"]] == [r["task_id"] for r in full["results"]]
    assert resumed["overall"] == full["overall"]
    answered.clear()
    assert run_medagent(MedAgentConfig(FIXTURES, 9, seed=3, out=out), Counting) is not None
    assert answered == []  # all done: nothing runs again
    with pytest.raises(SystemExit, match="another run"):
        run_medagent(MedAgentConfig(FIXTURES, 9, seed=4, out=out), Counting)
    again = run_medagent(MedAgentConfig(FIXTURES, 9, seed=4, out=out, fresh=True), Counting)
    assert again is not None
    assert again["config"]["seed"] == 4


@pytest.mark.integration
def test_run_on_sekmet(tmp_path: Path) -> None:
    """Loaded into a real, empty FHIR server; orders POSTed there and graded on its state."""
    with running_sekmet(tmp_path / "sekmet") as server:
        out = tmp_path / "sekmet.json"
        report = run_medagent(MedAgentConfig(FIXTURES, 15, seed=2, server=server.base_url, out=out))
        assert report is not None
        failed = [r for r in report["results"] if not r["correct"]]
        assert not failed, failed
        assert report["overall"]["n"] == 15
        # server ids differ from the bundles' ids: the run mapped them
        assert any(r["patient_id"] != r["patient_key"] for r in report["results"])
        # a server that holds patients is refused: the run would write into it
        with pytest.raises(ConfigError, match="EMPTY TEST SERVER"):
            run_medagent(
                MedAgentConfig(FIXTURES, 3, server=server.base_url, out=tmp_path / "again.json")
            )


@pytest.mark.shared_data
def test_run_on_shared_synthea(tmp_path: Path) -> None:
    data = SHARED_DATA / "iris-fhir-template"
    if not data.is_dir():
        pytest.skip(f"shared Synthea data not found at {data}")
    report = run_medagent(MedAgentConfig(data, 12, seed=1, out=tmp_path / "s.json"))
    assert report is not None
    assert report["overall"]["n"] == 12
    failed = [r for r in report["results"] if not r["correct"]]
    assert not failed, failed


def test_cli_command(tmp_path: Path) -> None:
    import typer
    from typer.testing import CliRunner

    from bench.medagent.cli import register

    app = typer.Typer()
    app.command("version")(lambda: None)  # a second command keeps `medagent` a subcommand
    register(app)
    out = tmp_path / "cli.json"
    args = ["medagent", "--data", str(FIXTURES), "--tasks", "6", "--seed", "5", "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "| **overall** | 6 | 6 | 100.0 |" in result.output
    assert _report(out)["config"]["command"].startswith("fhir-bench medagent --data")
    bad = CliRunner().invoke(app, [*args[:-2], "--config", str(tmp_path / "none.toml")])
    assert bad.exit_code == 2
    assert "not found" in bad.output


def test_lab_value_graded_up_to_display_rounding() -> None:
    task = next(
        t
        for t in generate(FIXTURES, 60, seed=3)
        if t.kind == "lab_window" and not t.expected.get("none")
    )
    exp = task.expected
    value = float(exp["value"])
    shown = float(f"{value:.4g}")
    ok = grade_answer(task, TaskAnswer(value=shown, unit=exp["unit"], date=exp["date"]), None)
    assert ok["correct"], ok
    off = grade_answer(
        task, TaskAnswer(value=value * 1.01, unit=exp["unit"], date=exp["date"]), None
    )
    assert not off["correct"]

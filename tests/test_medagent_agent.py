"""The agent as a MedAgentBench-style answerer: real graph, tools, store, verifier and
grading on the store's state; a scripted FAKE model decides (it cannot run here in CI
time for every task)."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from agent.models import Message
from bench.medagent.agent_answerer import AgentTaskAnswerer, names_of, parse_lab_answer
from bench.medagent.generate import Task, generate
from bench.medagent.run import run_tasks
from tests.agent_fixtures import ScriptedChatModel, composed, tools
from tools.store import RecordStore

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fhir_fixtures" / "patients"


@pytest.fixture
def store() -> Iterator[RecordStore]:
    with tempfile.TemporaryDirectory() as tmp:
        s = RecordStore(Path(tmp) / "records.db")
        s.import_paths([FIXTURES])
        yield s
        s.close()


def _tasks() -> list[Task]:
    return generate(FIXTURES, 60, seed=3)


async def _run(store: RecordStore, task: Task, steps: Sequence[Any]) -> dict[str, Any]:
    model = ScriptedChatModel(steps, repeat=True)
    answerer = AgentTaskAnswerer(store, model, name="scripted")
    rows = await run_tasks([task], store, answerer, {task.patient_key: task.patient_key})
    return rows[0]


async def test_find_patient_through_the_model(store: RecordStore) -> None:
    task = next(t for t in _tasks() if t.kind == "find_patient")
    name, birth = task.params["name"], task.params["birth_date"]
    row = await _run(store, task, [{"name": name, "birth_date": birth}])
    assert row["correct"], row
    assert row["answer"]["value"] == task.patient_key


def _cite_order(messages: Sequence[Message]) -> dict[str, Any]:
    """Script step: the answer (compose) citing the order's handle shown in the tool results."""
    m = re.search(r"ordered HbA1c[^\n]*\[(E\d+)\]", messages[-1].text)
    assert m, "the order tool result shows no citable handle"
    return composed(("A new HbA1c test was ordered.", [m.group(1)]))


async def test_conditional_order_graded_on_store_state(store: RecordStore) -> None:
    orders = [t for t in _tasks() if t.kind == "conditional_order"]
    due = next(t for t in orders if t.expected["should_order"])
    args = {"code": "4548-4", "display": "HbA1c", "reason": "no recent HbA1c"}
    # code checks the task's condition ("none, or older than N days") against the record:
    # the plan is the order, and once it is placed the answer says so
    row = await _run(store, due, [tools(("order_lab", args)), _cite_order, composed()])
    assert row["correct"], row
    [created] = row["created"]
    # the answer's one sentence survived verification by citing the created order
    # what was written, what code checked ("If none on file or …: no HbA1c found, so the
    # condition holds."), then the model's sentence
    text = row["answer"]["text"]
    assert text.startswith("Ordered HbA1c (LOINC 4548-4) on ")
    assert "so the condition holds. A new HbA1c test was ordered." in text
    sr = await store.read(created)
    assert sr["subject"]["reference"] == f"Patient/{due.patient_key}"
    # when the condition does not hold, an order the model still plans is not placed
    not_due = next((t for t in orders if not t.expected["should_order"]), None)
    if not_due is not None:
        row = await _run(store, not_due, [tools(("order_lab", args)), composed()])
        assert row["correct"], row
        assert not row["created"]


def test_parse_lab_answer() -> None:
    a = parse_lab_answer("The most recent HbA1c (LOINC 4548-4) was 6.1 % on 2019-03-04.")
    assert (a.value, a.unit, a.date, a.none) == (6.1, "%", "2019-03-04", False)
    assert parse_lab_answer("None: no HbA1c result in that window.").none
    # the test's own name is no value (MedAgentBench cpu-demo: 1.73 was read as the eGFR)
    name = "Glomerular filtration rate/1.73 sq M.predicted"
    said = (
        f"The most recent eGFR ({name}, LOINC 33914-3) is 19.03 mL/min/{{1.73_m2}} on 1996-02-07."
    )
    b = parse_lab_answer(said, [name])
    assert (b.value, b.date) == (19.03, "1996-02-07")
    task = Task("t", "lab_window", "k", "n",
                f"What is this patient's most recent eGFR ({name}, LOINC 33914-3) result?",
                {"display": "eGFR"}, {})  # fmt: skip
    assert name in names_of(task)
    assert parse_lab_answer("").none is False

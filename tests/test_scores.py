"""Clinical scores computed by code from the record (:mod:`tools.scores`), and said by the
``risk_score`` tool with each point's entries cited: on the fixture patients (the real
evidence builder) and on tiny records that pin each criterion."""

from __future__ import annotations

import datetime as dt
import doctest
from pathlib import Path

import pytest

import tools.scores
from agent.prefetch import prefetch_calls
from agent.run import ask
from tests._record_fixtures import MemorySource, condition, patient
from tests.agent_fixtures import DEBORA, LUIGI, ScriptedChatModel, agent_store
from tools.evidence import build_evidence
from tools.scores import cha2ds2_vasc
from tools.store import RecordStore

__all__ = ["agent_store"]

AS_OF = dt.date(2025, 6, 1)


def test_docstring_examples() -> None:
    result = doctest.testmod(tools.scores)
    assert result.failed == 0
    assert result.attempted > 0


def _points(record: list[dict[str, object]]) -> dict[str, int]:
    score = cha2ds2_vasc(build_evidence(record, as_of=AS_OF))
    return {c.name: c.points for c in score.criteria if c.points}


def test_each_criterion_and_what_does_not_count() -> None:
    woman = patient("p1", birthDate="1948-03-01")  # 77 on the reference day
    assert _points([woman]) == {"age 75 or over": 2, "female sex": 1}
    man = patient("p1", birthDate="1958-03-01", gender="male")  # 67
    record = [
        man,
        condition("c1", "84114007", "Heart failure (disorder)", "2019-01-01"),
        condition("c2", "38341003", "Hypertension", "2010-01-01", "resolved"),
        condition("c3", "44054006", "Diabetes mellitus type 2 (disorder)", "2015-01-01"),
        condition("c4", "230690007", "Stroke", "2020-01-01", "resolved"),  # a prior stroke
        condition("c5", "22298006", "Myocardial infarction (disorder)", "2021-01-01"),
    ]
    assert _points(record) == {
        "congestive heart failure": 1,
        "hypertension": 1,
        "age 65–74": 1,
        "diabetes": 1,
        "prior stroke or TIA": 2,
        "vascular disease": 1,
    }
    void = [man, condition("c1", "230690007", "Stroke", "2020-01-01", verification="refuted")]
    assert _points(void) == {"age 65–74": 1}  # a refuted stroke earns nothing
    not_diabetes = [
        man,
        condition("c1", "15777000", "Prediabetes", "2020-01-01"),
        condition("c2", "11687002", "Gestational diabetes mellitus", "1990-01-01", "resolved"),
    ]
    assert _points(not_diabetes) == {"age 65–74": 1}
    no_birth = cha2ds2_vasc(build_evidence([patient("p1", birthDate=None)], as_of=AS_OF))
    assert no_birth.missing == ("age (no birth date)",)


@pytest.fixture
def store(agent_store: Path) -> RecordStore:
    return RecordStore(agent_store)


async def test_the_score_is_said_with_its_entries_by_code(store: RecordStore) -> None:
    # "what's her chads score?" came back empty (a model asked would have to count)
    [call] = prefetch_calls("what's her chads score?", as_of=AS_OF)
    assert (call["tool"], call["args"], call["asks"]) == (
        "risk_score",
        {"name": "CHA2DS2-VASc"},
        "score",
    )
    a = await ask(
        "What is her CHA2DS2-VASc?",
        patient_id=DEBORA,
        source=store,
        model=ScriptedChatModel([]),
        as_of=AS_OF,
    )
    assert a.usage.model_calls == 0
    first = a.sentences[0]
    assert first.text.startswith(
        "CHA2DS2-VASc score from the record: 4 — hypertension +1 (Essential hypertension, "
        "since 2019-03-13); age 65–74 +1 (age 66); diabetes +1 (Diabetes mellitus type 2, "
        "since 2016-12-14); female sex +1; not found in the record: congestive heart "
        "failure, prior stroke or TIA, vascular disease"
    ), first.text
    assert any(r.startswith("Patient/") for r in first.references)
    assert sum(r.startswith("Condition/") for r in first.references) == 2
    # the score is of atrial fibrillation, which she has no entry of: said, on the search
    assert a.sentences[1].text.startswith("No atrial fibrillation is on the record")
    him = await ask(
        "chads-vasc?", patient_id=LUIGI, source=store, model=ScriptedChatModel([]), as_of=AS_OF
    )
    assert "vascular disease +1 (Acute non-ST segment elevation myocardial infarction" in him.text


async def test_a_score_it_does_not_compute_is_a_tool_error() -> None:
    from agent.context import AgentContext
    from agent.errors import ToolCallError
    from agent.toolkit import run_tool_call

    source = MemorySource({"p1": [patient("p1")]})
    ctx = AgentContext(patient_id="p1", source=source, model=ScriptedChatModel([]), as_of=AS_OF)
    with pytest.raises(ToolCallError, match="risk_score computes CHA2DS2-VASc; not 'HAS-BLED'"):
        await run_tool_call(ctx, {"tool": "risk_score", "args": {"name": "HAS-BLED"}})

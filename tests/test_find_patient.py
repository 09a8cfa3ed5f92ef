"""Finding a patient from a free-text request: the model extracts fields (a scripted FAKE
model here), code checks them against the request and searches a real store."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.find_patient import find_patient
from tests.agent_fixtures import CLEOTILDE, DEBORA, ScriptedChatModel, agent_store
from tools.store import RecordStore

__all__ = ["agent_store"]


@pytest.fixture
def store(agent_store: Path) -> RecordStore:
    return RecordStore(agent_store)


async def test_finds_the_one_patient(store: RecordStore) -> None:
    model = ScriptedChatModel([{"name": "Cleotilde Ruecker", "birth_date": "1947-02-12"}])
    found = await find_patient(
        "Find the patient named Cleotilde Ruecker, born on 1947-02-12.", source=store, model=model
    )
    assert found.patient_id == CLEOTILDE
    assert found.problem == ""
    assert found.model_calls == 1
    # the request reached the model fenced as data
    assert "RECORD DATA (request)" in model.calls[0][-1].text


async def test_us_date_and_accents(store: RecordStore) -> None:
    model = ScriptedChatModel([{"name": "Debora Nazario", "birth_date": "1959-05-13"}])
    found = await find_patient("Look up Débora Nazario (DOB 5/13/1959)", source=store, model=model)
    assert found.patient_id == DEBORA


async def test_invented_fields_are_refused_before_searching(store: RecordStore) -> None:
    # the model "corrects" the name: a word not in the request is refused, nothing searched
    model = ScriptedChatModel([{"name": "Cleotilde Ruecker", "birth_date": "1947-02-12"}])
    found = await find_patient("Find Cleo Ruecker, born 1947-02-12.", source=store, model=model)
    assert found.patient_id is None
    assert "do not appear in the request" in found.problem
    wrong_date = ScriptedChatModel([{"name": "Cleotilde Ruecker", "birth_date": "1947-12-02"}])
    found = await find_patient(
        "Find Cleotilde Ruecker, born 1947-02-12.", source=store, model=wrong_date
    )
    assert found.patient_id is None
    assert "not a date written in the request" in found.problem


async def test_no_match_and_malformed_output(store: RecordStore) -> None:
    model = ScriptedChatModel([{"name": "Cleotilde Ruecker", "birth_date": "1950-01-01"}])
    found = await find_patient(
        "Find Cleotilde Ruecker, born 1950-01-01.", source=store, model=model
    )
    assert found.matches == []
    assert "no patient named" in found.problem
    broken = ScriptedChatModel(["malformed"])
    found = await find_patient(
        "Find Cleotilde Ruecker, born 1947-02-12.", source=store, model=broken
    )
    assert found.patient_id is None
    assert "no usable search fields" in found.problem

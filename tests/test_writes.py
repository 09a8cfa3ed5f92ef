"""Writes (``create``) on the embedded store and on a real FHIR server (sekmet-fhir),
patient-scope refusal, the Patient name/birthdate search, and the agent's ``order_lab``
tool with a scripted fake of the MODEL only (tools, store and graph are real)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent import AgentSettings, ask
from agent.context import AgentContext
from agent.errors import ToolCallError
from agent.schemas import ToolCall
from agent.toolkit import run_tool_call
from tests.agent_fixtures import (
    CLEOTILDE,
    DEBORA,
    FaultInjectingSource,
    ScriptedChatModel,
    answer,
    composed,
    plan_first,
    tools,
)
from tests.sekmet import SekmetServer, load_bundles, running_sekmet
from tools import RecordWriter, find_patients
from tools.errors import (
    FhirHttpError,
    InvalidResource,
    PatientNotFound,
    RecordToolError,
    UnsupportedSearch,
    WriteRefused,
    WrongFhirVersion,
)
from tools.fhir import FhirClient
from tools.orders import ASSISTANT_TAG
from tools.store import RecordStore

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fhir_fixtures" / "patients"
DEBORA_FILE = FIXTURES / f"Debora_Nazario_{DEBORA}.json"
CLEO_FILE = FIXTURES / f"Cleotilde_Ruecker_{CLEOTILDE}.json"
HBA1C = "http://loinc.org|4548-4"


def order(patient_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "ServiceRequest",
        "status": "active",
        "intent": "order",
        "code": {"coding": [{"system": "http://loinc.org", "code": "4548-4"}], "text": "HbA1c"},
        "subject": {"reference": f"Patient/{patient_id}"},
        **extra,
    }


@pytest.fixture(scope="module")
def store_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("writes") / "records.db"
    store = RecordStore(path)
    try:
        report = store.import_paths([DEBORA_FILE, CLEO_FILE])
        assert report.ok, report.files
    finally:
        store.close()
    return path


@pytest.fixture
def store(store_path: Path) -> Iterator[RecordStore]:
    s = RecordStore(store_path)
    yield s
    s.close()


# --------------------------------------------------------------------------- store


async def test_store_create_assigns_id_and_meta(store: RecordStore) -> None:
    assert isinstance(store, RecordWriter)
    before = store.count(DEBORA)
    created = await store.create(order(DEBORA), patient_id=DEBORA)
    uuid.UUID(created["id"])  # a uuid
    assert created["meta"]["versionId"] == "1"
    assert created["meta"]["lastUpdated"].endswith("Z")
    assert created["subject"] == {"reference": f"Patient/{DEBORA}"}
    assert await store.read(f"ServiceRequest/{created['id']}") == created
    found = await store.search("ServiceRequest", {"patient": DEBORA, "code": HBA1C})
    assert created["id"] in {r["id"] for r in found}
    assert store.count(DEBORA) == before + 1  # in the patient's compartment
    assert not await store.search("ServiceRequest", {"patient": CLEOTILDE})


@pytest.mark.parametrize(
    ("resource", "match"),
    [
        (order(CLEOTILDE), "session patient"),
        (order(DEBORA, performer=[{"reference": f"Patient/{CLEOTILDE}"}]), "session patient"),
        ({**order(DEBORA), "subject": {"reference": "Group/g1"}}, "names no patient"),
        ({**order(DEBORA), "id": "mine"}, "already has an id"),
        ({"resourceType": "Patient", "name": [{"family": "X"}]}, "Patient resources"),
        ({"status": "active"}, "no `resourceType`"),
    ],
)
async def test_store_create_refused(store: RecordStore, resource: Any, match: str) -> None:
    counts = store.type_counts()
    with pytest.raises(WriteRefused, match=match):
        await store.create(resource, patient_id=DEBORA)
    assert store.type_counts() == counts  # nothing stored


async def test_store_create_unknown_patient_and_invalid(store: RecordStore) -> None:
    with pytest.raises(PatientNotFound):
        await store.create(order("nobody"), patient_id="nobody")
    counts = store.type_counts()
    with pytest.raises(InvalidResource):
        await store.create(order(DEBORA, status=42), patient_id=DEBORA)
    with pytest.raises(WrongFhirVersion, match="colour"):
        await store.create(order(DEBORA, colour="red"), patient_id=DEBORA)
    assert store.type_counts() == counts


async def test_store_patient_name_and_birthdate_search(store: RecordStore) -> None:
    def ids(rs: list[dict[str, Any]]) -> set[str]:
        return {r["id"] for r in rs}

    s = store.search
    assert ids(await s("Patient", {"name": "debora", "birthdate": "1959-05-13"})) == {DEBORA}
    assert ids(await s("Patient", {"name": ["Déb", "NAZ"]})) == {DEBORA}
    assert ids(await s("Patient", {"name": "Mueller"})) == {CLEOTILDE}  # maiden name
    assert ids(await s("Patient", {"family": "Ruecker", "given": "Cleo"})) == {CLEOTILDE}
    assert ids(await s("Patient", {"name:exact": "Débora"})) == {DEBORA}
    assert not await s("Patient", {"name:exact": "debora"})
    assert not await s("Patient", {"name": "azario"})  # starts-with, not contains
    assert not await s("Patient", {"name": "Nazario", "birthdate": "1959-05-14"})
    assert ids(await s("Patient", {"birthdate": "lt1950"})) == {CLEOTILDE}
    assert ids(await s("Patient", {"gender": "female", "name": "Nazario,Ruecker"})) == {
        DEBORA,
        CLEOTILDE,
    }
    with pytest.raises(UnsupportedSearch, match="name"):
        await s("Observation", {"name": "x"})
    with pytest.raises(UnsupportedSearch, match=":contains"):
        await s("Patient", {"name:contains": "x"})


async def test_find_patients_on_store(store: RecordStore) -> None:
    rows = await find_patients(store, name="Débora Nazario", birth_date="1959-05-13")
    assert [(r.id, r.name, r.birth_date) for r in rows] == [
        (DEBORA, "Débora Nazario", "1959-05-13")
    ]
    assert [
        r.id for r in await find_patients(store, name="debora  nazario", birth_date="1959-05-13")
    ] == [DEBORA]
    assert await find_patients(store, name="Débora Nazario", birth_date="1959-05-14") == []
    assert await find_patients(store, name="Debora Ruecker", birth_date="1959-05-13") == []
    with pytest.raises(RecordToolError, match="YYYY-MM-DD"):
        await find_patients(store, name="Débora Nazario", birth_date="13/05/1959")
    with pytest.raises(RecordToolError, match="needs a name"):
        await find_patients(store, name="  ", birth_date="1959-05-13")


# --------------------------------------------------------------------------- sekmet


@pytest.fixture(scope="module")
def sekmet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SekmetServer, str, str]]:
    """A fresh sekmet (its own: writes must not leak into the shared one) with Débora
    and Cleotilde loaded; yields the server and their server ids."""
    with running_sekmet(tmp_path_factory.mktemp("sekmet-writes")) as server:
        loaded = load_bundles(server.base_url, [DEBORA_FILE, CLEO_FILE])
        deb, cleo = (b.patient_id for b in loaded)
        assert deb
        assert cleo
        yield server, deb, cleo


@pytest.mark.integration
async def test_fhir_client_create_on_sekmet(sekmet: tuple[SekmetServer, str, str]) -> None:
    server, deb, cleo = sekmet
    async with FhirClient.from_url(server.base_url) as client:
        assert isinstance(client, RecordWriter)
        created = await client.create(order(deb), patient_id=deb)
        assert created["resourceType"] == "ServiceRequest"
        assert created["id"]
        assert created["subject"]["reference"] == f"Patient/{deb}"
        assert created["meta"]["lastUpdated"]
        again = await client.read(f"ServiceRequest/{created['id']}")
        assert again["id"] == created["id"]
        found = await client.search("ServiceRequest", {"patient": deb, "code": HBA1C})
        assert [r["id"] for r in found] == [created["id"]]
        assert not await client.search("ServiceRequest", {"patient": cleo, "code": HBA1C})
        # refused in code: no request is sent
        sent = client.requests
        with pytest.raises(WriteRefused, match="session patient"):
            await client.create(order(cleo), patient_id=deb)
        assert client.requests == sent
        # the server's own refusal maps to the error tree (with its OperationOutcome)
        with pytest.raises(FhirHttpError, match=r"POST .*ServiceRequest") as err:
            await client.create(order(deb, status=42), patient_id=deb)
        assert 400 <= err.value.status < 500


@pytest.mark.integration
async def test_find_patients_on_sekmet(sekmet: tuple[SekmetServer, str, str]) -> None:
    server, deb, cleo = sekmet
    async with FhirClient.from_url(server.base_url) as client:
        rows = await find_patients(client, name="Débora Nazario", birth_date="1959-05-13")
        assert [r.id for r in rows] == [deb]
        rows = await find_patients(client, name="Cleotilde Ruecker", birth_date="1947-02-12")
        assert [r.id for r in rows] == [cleo]
        assert await find_patients(client, name="Débora Nazario", birth_date="1947-02-12") == []


# --------------------------------------------------------------------------- agent

ORDER_ARGS = {"code": "4548-4", "display": "HbA1c", "reason": "last HbA1c is over a year old"}


async def test_agent_order_lab_lands_in_store(store: RecordStore) -> None:
    model = ScriptedChatModel(
        [
            tools(("order_lab", ORDER_ARGS)),
            answer(("An HbA1c test was ordered.", [])),
            composed(("An HbA1c test was ordered.", [])),
        ],
        repeat=True,
    )
    before = {r["id"] for r in await store.search("ServiceRequest", {"patient": DEBORA})}
    await ask(
        "Order a new HbA1c.",
        patient_id=DEBORA,
        source=store,
        model=model,
        settings=AgentSettings(allow_writes=True, max_steps=2),
    )
    after = await store.search("ServiceRequest", {"patient": DEBORA})
    new = [r for r in after if r["id"] not in before]
    assert len(new) == 1
    sr = new[0]
    assert sr["subject"] == {"reference": f"Patient/{DEBORA}"}
    assert (sr["status"], sr["intent"]) == ("active", "order")
    assert sr["code"]["coding"][0] == {
        "system": "http://loinc.org",
        "code": "4548-4",
        "display": "HbA1c",
    }
    assert ASSISTANT_TAG in sr["meta"]["tag"]
    assert any(c["code"] == "laboratory" for c in sr["category"][0]["coding"])
    assert sr["note"][0]["text"] == "Reason: last HbA1c is over a year old"
    assert sr["authoredOn"].endswith("Z")
    assert f"ServiceRequest/{sr['id']}" in model.calls[1][-1].text  # the tool's line
    # asked again (e.g. a resumed thread): the active order is not duplicated
    ctx = AgentContext(DEBORA, store, model, settings=AgentSettings(allow_writes=True))
    result = await run_tool_call(ctx, ToolCall(tool="order_lab", args=ORDER_ARGS))
    assert "already ordered" in result.lines[0]
    assert len(await store.search("ServiceRequest", {"patient": DEBORA})) == len(after)


async def test_agent_order_for_another_patient_is_refused(store: RecordStore) -> None:
    model = ScriptedChatModel(
        [
            tools(
                ("order_lab", {**ORDER_ARGS, "patient": f"Patient/{CLEOTILDE}"}),
                ("order_lab", {**ORDER_ARGS, "reason": f"for Patient/{CLEOTILDE}"}),
            ),
            answer(("Nothing was ordered.", [])),
            composed(("Nothing was ordered.", [])),
        ],
        repeat=True,
    )
    a = await ask(  # a question, so the plan is free (an outright order's grammar admits
        # no "patient" argument at all: tests/test_acts.py)
        "What about an HbA1c for the other patient?",
        patient_id=DEBORA,
        source=store,
        model=model,
        settings=AgentSettings(
            allow_writes=True, max_steps=2, answer_after_prefetch=False, answer_computed=False
        ),
    )
    assert any("refused" in w for w in a.warnings)
    assert not await store.search("ServiceRequest", {"patient": CLEOTILDE})
    assert CLEOTILDE not in model.calls[1][-1].text


async def test_agent_writes_disabled(store: RecordStore) -> None:
    model = ScriptedChatModel(
        [
            tools(("order_lab", ORDER_ARGS)),
            answer(("Nothing was ordered.", [])),
            composed(("Nothing was ordered.", [])),
        ],
        repeat=True,
    )
    before = len(await store.search("ServiceRequest"))
    await ask(
        "Order a new HbA1c.",
        patient_id=DEBORA,
        source=store,
        model=model,
        settings=plan_first(max_steps=2),
    )
    assert "writes are disabled for this deployment" in model.calls[1][-1].text
    assert len(await store.search("ServiceRequest")) == before
    # a source that cannot write: refused the same way even with writes allowed
    ctx = AgentContext(
        DEBORA, FaultInjectingSource(store, 99), model, settings=AgentSettings(allow_writes=True)
    )
    with pytest.raises(ToolCallError, match="writes are disabled"):
        await run_tool_call(ctx, ToolCall(tool="order_lab", args=ORDER_ARGS))
    ctx2 = AgentContext(DEBORA, store, model, settings=AgentSettings(allow_writes=True))
    with pytest.raises(ToolCallError, match="LOINC"):
        await run_tool_call(ctx2, ToolCall(tool="order_lab", args={**ORDER_ARGS, "code": "A1c"}))

"""The v2 writes: a vital sign, a medication order and a referral. Builders produce valid
FHIR R4 (``tools.fhir_version.validate``); the agent's write tools (``record_vital``,
``order_medication``, ``refer_patient``) refuse when writes are off, when the source cannot
write and for another patient, and write what they are told (a scripted fake of the MODEL
only; tools, store and graph are real)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from agent import AgentSettings, ask
from agent.context import AgentContext
from agent.errors import ToolCallError, ToolCallRefused
from agent.models import Message
from agent.schemas import ToolCall
from agent.toolkit import REGISTRY, available, run_tool_call
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
from tools.errors import RecordToolError
from tools.fhir_version import validate
from tools.orders import ASSISTANT_TAG
from tools.store import RecordStore
from tools.writes import (
    is_assistant_write,
    medication_order,
    referral,
    route_coding,
    specialty_coding,
    timing,
    vital_observation,
)

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fhir_fixtures" / "patients"
DEBORA_FILE = FIXTURES / f"Debora_Nazario_{DEBORA}.json"
CLEO_FILE = FIXTURES / f"Cleotilde_Ruecker_{CLEOTILDE}.json"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"


# --------------------------------------------------------------------------- builders


def test_blood_pressure_is_a_valid_r4_panel() -> None:
    obs = vital_observation("p1", "BP", "128/82", unit="mmHg")
    validate(obs)
    assert obs["status"] == "final"
    assert obs["category"][0]["coding"][0]["code"] == "vital-signs"
    assert obs["code"]["coding"][0] == {
        "system": LOINC,
        "code": "85354-9",
        "display": "Blood pressure panel with all children optional",
    }
    comps = {c["code"]["coding"][0]["code"]: c["valueQuantity"] for c in obs["component"]}
    assert comps["8480-6"] == {"value": 128, "unit": "mm[Hg]", "system": UCUM, "code": "mm[Hg]"}
    assert comps["8462-4"]["value"] == 82
    assert "valueQuantity" not in obs
    assert obs["subject"] == {"reference": "Patient/p1"}
    assert obs["effectiveDateTime"].endswith("Z")
    assert is_assistant_write(obs)
    assert "id" not in obs


@pytest.mark.parametrize(
    ("vital", "value", "unit", "code", "ucum", "expected"),
    [
        ("heart rate", "72", "bpm", "8867-4", "/min", 72),
        ("pulse", 64, None, "8867-4", "/min", 64),
        ("weight", "81.4", "kg", "29463-7", "kg", 81.4),
        ("weight", "180", "lb", "29463-7", "kg", 81.65),
        ("temperature", "37.8", "°C", "8310-5", "Cel", 37.8),
        ("respiratory rate", "18", "breaths/min", "9279-1", "/min", 18),
        ("SpO2", "97", "%", "59408-5", "%", 97),
        ("height", "170", "cm", "8302-2", "cm", 170),
        # the unit written into the value, or in Fahrenheit (not a factor: converted)
        ("weight", "49.5 kg", None, "29463-7", "kg", 49.5),
        ("weight", "110lbs", "lb", "29463-7", "kg", 49.9),
        ("temperature", "98.6 °F", None, "8310-5", "Cel", 37.0),
        ("temperature", "101.3", "F", "8310-5", "Cel", 38.5),
    ],
)
def test_vitals_are_valid_r4_in_ucum(
    vital: str, value: Any, unit: str | None, code: str, ucum: str, expected: float
) -> None:
    obs = vital_observation("p1", vital, value, unit=unit)
    validate(obs)
    assert obs["code"]["coding"][0]["code"] == code
    q = obs["valueQuantity"]
    assert (q["system"], q["code"], q["unit"]) == (UCUM, ucum, ucum)
    assert q["value"] == pytest.approx(expected, abs=0.01)


@pytest.mark.parametrize(
    ("vital", "value", "unit", "match"),
    [
        ("BP", "82/128", None, "not below"),
        ("BP", "128", None, "systolic/diastolic"),
        ("heart rate", "720", None, "outside"),
        ("weight", "80", "mmHg", "does not fit"),
        ("glucose", "80", None, "unknown vital"),
        ("heart rate", "fast", None, "number"),
        ("weight", "110 lb", "kg", "disagree"),  # two units: never a guess between them
        ("temperature", "37.2", "F", "outside"),  # Celsius said as Fahrenheit
    ],
)
def test_vital_refusals(vital: str, value: str, unit: str | None, match: str) -> None:
    with pytest.raises(RecordToolError, match=match):
        vital_observation("p1", vital, value, unit=unit)


def test_medication_order_is_valid_r4() -> None:
    rx = medication_order(
        "p1",
        drug="metformin",
        rxnorm="6809",
        dose="500",
        dose_unit_word="mg",
        route="by mouth",
        frequency="twice daily",
        reason="type 2 diabetes",
    )
    validate(rx)
    assert (rx["status"], rx["intent"]) == ("active", "order")
    assert rx["medicationCodeableConcept"]["coding"][0] == {
        "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
        "code": "6809",
        "display": "metformin",
    }
    d = rx["dosageInstruction"][0]
    assert d["doseAndRate"][0]["doseQuantity"] == {
        "value": 500,
        "unit": "mg",
        "system": UCUM,
        "code": "mg",
    }
    assert d["route"]["coding"][0]["code"] == "26643006"
    assert d["timing"]["repeat"] == {"frequency": 2, "period": 1, "periodUnit": "d"}
    assert d["timing"]["code"]["coding"][0]["code"] == "BID"
    assert rx["reasonCode"] == [{"text": "type 2 diabetes"}]
    assert ASSISTANT_TAG in rx["meta"]["tag"]
    insulin = medication_order(
        "p1", drug="insulin glargine", dose=10, dose_unit_word="units", route="SC",
        frequency="daily",
    )  # fmt: skip
    validate(insulin)
    assert "coding" not in insulin["medicationCodeableConcept"]  # no code given: none invented
    assert insulin["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["code"] == "[IU]"


@pytest.mark.parametrize(
    ("dose", "unit", "expected"),
    [("40 mg", "mg", (40, "mg")), ("2 puffs", "puffs", (2, "{puff}")), ("40mg", "", (40, "mg")),
     ("2,5", "mg", (2.5, "mg"))],
)  # fmt: skip
def test_a_dose_with_its_unit_in_it(dose: str, unit: str, expected: tuple[float, str]) -> None:
    rx = medication_order(
        "p1", drug="enoxaparin", dose=dose, dose_unit_word=unit, route="SC", frequency="daily"
    )
    q = rx["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]
    assert (q["value"], q["code"]) == expected


@pytest.mark.parametrize(
    ("dose", "unit", "match"),
    [("40 mg", "mL", "disagree"), ("5,000", "units", "ambiguous"), ("0", "mg", "above zero")],
)
def test_dose_refusals(dose: str, unit: str, match: str) -> None:
    with pytest.raises(RecordToolError, match=match):
        medication_order(
            "p1", drug="heparin", dose=dose, dose_unit_word=unit, route="SC", frequency="daily"
        )


def test_route_frequency_specialty_words() -> None:
    assert route_coding("PO")["code"] == route_coding("orally")["code"] == "26643006"
    assert route_coding("IV")["code"] == "47625008"
    assert route_coding("subcutaneously")["code"] == "34206005"
    assert timing("every 8 hours")["repeat"] == {"frequency": 1, "period": 8, "periodUnit": "h"}
    assert timing("TID")["repeat"]["frequency"] == 3
    assert specialty_coding("a cardiologist")["code"] == "394579002"
    assert specialty_coding("Kidney clinic")["code"] == "394589003"
    for bad in (lambda: route_coding("by osmosis"), lambda: timing("sometimes"),
                lambda: specialty_coding("astrology")):  # fmt: skip
        with pytest.raises(RecordToolError, match="unknown"):
            bad()


def test_referral_is_valid_r4() -> None:
    sr = referral("p1", specialty="cardiology", reason="palpitations")
    validate(sr)
    assert (sr["status"], sr["intent"]) == ("active", "order")
    assert sr["category"][0]["coding"][0]["code"] == "3457005"
    assert sr["code"]["coding"][0] == {
        "system": SNOMED,
        "code": "394579002",
        "display": "Cardiology",
    }
    assert sr["performerType"]["coding"][0]["code"] == "394579002"
    assert sr["reasonCode"] == [{"text": "palpitations"}]
    with pytest.raises(RecordToolError, match="reason"):
        referral("p1", specialty="cardiology", reason="  ")


# --------------------------------------------------------------------------- agent tools

VITAL = {"vital": "blood pressure", "value": "128/82", "unit": "mmHg"}
MED = {
    "drug": "lisinopril",
    "rxnorm": "29046",
    "dose": "10",
    "dose_unit": "mg",
    "route": "by mouth",
    "frequency": "once daily",
}
REFER = {"specialty": "nephrology", "reason": "declining kidney function"}
CALLS = {"record_vital": VITAL, "order_medication": MED, "refer_patient": REFER}
WRITTEN = {
    "record_vital": ("Observation", "recorded"),
    "order_medication": ("MedicationRequest", "ordered"),
    "refer_patient": ("ServiceRequest", "referred"),
}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[RecordStore]:
    s = RecordStore(tmp_path / "records.db")
    assert s.import_paths([DEBORA_FILE, CLEO_FILE]).ok
    yield s
    s.close()


async def _assistant_written(store: RecordStore, rtype: str, pid: str) -> list[dict[str, Any]]:
    return [r for r in await store.search(rtype, {"patient": pid}) if is_assistant_write(r)]


def test_write_tools_are_offered_only_with_writes() -> None:
    names = {t.name for t in available(multimodal=False, allow_writes=False)}
    assert not names & set(CALLS)
    names = {t.name for t in available(multimodal=False, allow_writes=True)}
    assert set(CALLS) <= names
    for name in CALLS:
        assert REGISTRY[name].needs == "writes"
        assert REGISTRY[name].args.__doc__


@pytest.mark.parametrize("tool", sorted(CALLS))
async def test_write_tool_refusals(store: RecordStore, tool: str) -> None:
    rtype, _ = WRITTEN[tool]
    model = ScriptedChatModel([])
    off = AgentContext(DEBORA, store, model, settings=AgentSettings())
    with pytest.raises(ToolCallError, match="writes are disabled"):
        await run_tool_call(off, ToolCall(tool=tool, args=CALLS[tool]))
    reader = AgentContext(
        DEBORA, FaultInjectingSource(store, 99), model, settings=AgentSettings(allow_writes=True)
    )
    with pytest.raises(ToolCallError, match="writes are disabled"):
        await run_tool_call(reader, ToolCall(tool=tool, args=CALLS[tool]))
    on = AgentContext(DEBORA, store, model, settings=AgentSettings(allow_writes=True))
    for bad in ({**CALLS[tool], "patient": CLEOTILDE},
                {**CALLS[tool], next(iter(CALLS[tool])): f"Patient/{CLEOTILDE}"}):  # fmt: skip
        with pytest.raises(ToolCallRefused):
            await run_tool_call(on, ToolCall(tool=tool, args=bad))
    assert not await _assistant_written(store, rtype, DEBORA)
    assert not await _assistant_written(store, rtype, CLEOTILDE)


async def test_write_tools_send_bad_words_back(store: RecordStore) -> None:
    ctx = AgentContext(
        DEBORA, store, ScriptedChatModel([]), settings=AgentSettings(allow_writes=True)
    )
    with pytest.raises(ToolCallError, match="unknown route"):
        await run_tool_call(
            ctx, ToolCall(tool="order_medication", args={**MED, "route": "by osmosis"})
        )
    with pytest.raises(ToolCallError, match="RxNorm"):
        await run_tool_call(ctx, ToolCall(tool="order_medication", args={**MED, "rxnorm": "LIS"}))
    with pytest.raises(ToolCallError, match="outside"):
        await run_tool_call(ctx, ToolCall(tool="record_vital", args={**VITAL, "value": "428/82"}))
    with pytest.raises(ToolCallError, match="unknown specialty"):
        await run_tool_call(
            ctx, ToolCall(tool="refer_patient", args={**REFER, "specialty": "magic"})
        )
    assert not await _assistant_written(store, "MedicationRequest", DEBORA)


def _cite(word: str) -> Any:
    def step(messages: Sequence[Message]) -> dict[str, Any]:
        m = re.search(rf"{word} [^\n]*\[(E\d+)\]", messages[-1].text)
        assert m, f"the tool result shows no citable handle: {messages[-1].text[-500:]}"
        return answer((f"Done: {word}.", [m.group(1)]))

    return step


@pytest.mark.parametrize("tool", sorted(CALLS))
async def test_agent_write_lands_in_store(store: RecordStore, tool: str) -> None:
    rtype, word = WRITTEN[tool]
    model = ScriptedChatModel([tools((tool, CALLS[tool])), _cite(word), composed()], repeat=True)
    await ask(
        "Please do it.",
        patient_id=DEBORA,
        source=store,
        model=model,
        settings=AgentSettings(allow_writes=True, max_steps=2),
    )
    [written] = await _assistant_written(store, rtype, DEBORA)
    validate(written)
    assert written["subject"] == {"reference": f"Patient/{DEBORA}"}
    if tool == "record_vital":
        assert {c["code"]["coding"][0]["code"] for c in written["component"]} == {
            "8480-6",
            "8462-4",
        }
    elif tool == "order_medication":
        d = written["dosageInstruction"][0]
        assert d["doseAndRate"][0]["doseQuantity"]["value"] == 10
        assert d["route"]["coding"][0]["code"] == "26643006"
    else:
        assert written["code"]["coding"][0]["code"] == "394589003"
        assert written["reasonCode"][0]["text"] == "declining kidney function"
    # the same call again (a resumed thread): not written twice
    ctx = AgentContext(DEBORA, store, model, settings=AgentSettings(allow_writes=True))
    result = await run_tool_call(ctx, ToolCall(tool=tool, args=CALLS[tool]))
    assert result.lines[0].startswith("already")
    assert len(await _assistant_written(store, rtype, DEBORA)) == 1


async def test_agent_write_tools_off_by_default(store: RecordStore) -> None:
    model = ScriptedChatModel(
        [tools(*CALLS.items()), answer(("Nothing was written.", [])), composed()], repeat=True
    )
    await ask(
        "Please record and order.",
        patient_id=DEBORA,
        source=store,
        model=model,
        settings=plan_first(max_steps=2),
    )
    assert "writes are disabled for this deployment" in model.calls[1][-1].text
    for rtype, _ in WRITTEN.values():
        assert not await _assistant_written(store, rtype, DEBORA)


# --------------------------------------------------------------------------- sekmet


@pytest.mark.integration
async def test_write_tools_on_sekmet(tmp_path: Path) -> None:
    """The three tools POST to a real FHIR server (its own: writes must not leak into the
    shared one), the server accepts each resource, a repeated call finds the first one,
    and another patient's id is refused before anything is sent."""
    from tests.sekmet import load_bundles, running_sekmet
    from tools.fhir import FhirClient

    with running_sekmet(tmp_path / "sekmet") as server:
        deb, cleo = (b.patient_id for b in load_bundles(server.base_url, [DEBORA_FILE, CLEO_FILE]))
        assert deb
        assert cleo
        async with FhirClient.from_url(server.base_url) as client:
            ctx = AgentContext(
                deb, client, ScriptedChatModel([]), settings=AgentSettings(allow_writes=True)
            )
            for tool, args in CALLS.items():
                rtype, word = WRITTEN[tool]
                first = await run_tool_call(ctx, ToolCall(tool=tool, args=args))
                assert first.lines[0].startswith(word), first.lines
                again = await run_tool_call(ctx, ToolCall(tool=tool, args=args))
                assert again.lines[0].startswith("already"), again.lines
                mine = [
                    r for r in await client.search(rtype, {"patient": deb}) if is_assistant_write(r)
                ]
                assert len(mine) == 1
                assert mine[0]["subject"]["reference"] == f"Patient/{deb}"
                sent = client.requests
                with pytest.raises(ToolCallRefused):
                    await run_tool_call(
                        ctx, ToolCall(tool=tool, args={**args, "reason": f"Patient/{cleo}"})
                    )
                assert client.requests == sent
                assert not [
                    r
                    for r in await client.search(rtype, {"patient": cleo})
                    if is_assistant_write(r)
                ]


@pytest.mark.parametrize("tool", [*sorted(CALLS), "order_lab"])
async def test_same_call_twice_in_one_step_writes_once(store: RecordStore, tool: str) -> None:
    """The calls of a step run in parallel: two identical ones still write one resource."""
    lab = {"code": "4548-4", "display": "HbA1c", "reason": "due"}
    rtype, args = (
        ("ServiceRequest", lab) if tool == "order_lab" else (WRITTEN[tool][0], CALLS[tool])
    )
    model = ScriptedChatModel(
        [tools((tool, args), (tool, args)), answer(("Done.", [])), composed()],
        repeat=True,
    )
    await ask(
        "Please do it.",
        patient_id=DEBORA,
        source=store,
        model=model,
        settings=AgentSettings(allow_writes=True, max_steps=2),
    )
    assert len(await _assistant_written(store, rtype, DEBORA)) == 1
    assert "already" in model.calls[1][-1].text

"""Requests for an action: which writes a request asks for (``agent.acts``, read with the
real terminology), and the plan step that follows — constrained to the call when the
request asks outright, checked first when it states a condition. The MODEL is a scripted
fake (it replays outputs validated against the schema the plan step asks for, as a
constrained backend would); the graph, the tools and the store are real."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from agent import AgentSettings, ask
from agent.acts import acts_of, stated_codes
from agent.models import ChatResult, Message
from agent.schemas import Composed, Plan
from tests.agent_fixtures import DEBORA, ScriptedChatModel, answer, composed, tools
from tools.store import RecordStore
from tools.terminology import default_terminology
from tools.writes import is_assistant_write

ROOT = Path(__file__).resolve().parents[1]
DEBORA_FILE = ROOT / "fhir_fixtures" / "patients" / f"Debora_Nazario_{DEBORA}.json"


def _acts(text: str) -> list[tuple[str, bool]]:
    named = [(m.start, c.kind) for m in default_terminology().mentions(text) for c in m.concepts]
    return [(a.tool, a.conditional) for a in acts_of(text, named)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Pulse is 82 bpm right now; please record it.", [("record_vital", False)]),
        ("SpO2 94% on room air, document that.", [("record_vital", False)]),
        ("Weight today 82 kg. Can you chart it?", [("record_vital", False)]),
        ("Go ahead and order a lipid panel.", [("order_lab", False)]),
        ("Put her on atorvastatin 40 mg nightly.", [("order_medication", False)]),
        (
            "New Rx: amoxicillin 500 mg three times a day for 10 days.",
            [("order_medication", False)],
        ),
        ("Could you refer him to cardiology for chest pain?", [("refer_patient", False)]),
        ("Please send a PT referral for knee pain.", [("refer_patient", False)]),
        (
            "K is 3.1 - start KCl 20 mEq by mouth twice daily and recheck a BMP tomorrow.",
            [("order_lab", False), ("order_medication", False)],
        ),
        (
            "If her last A1c is more than six months old, order a new one.",
            [("order_lab", True)],
        ),
        ("Order a TSH unless one was done this year.", [("order_lab", True)]),
        # a measurement in a vital sign's unit names the vital
        ("Weighed the patient just now: 49.5 kg. Please record it.", [("record_vital", False)]),
        ("BP 132/84 sitting, please chart it.", [("record_vital", False)]),
        ("Temp 38.2 °C, document it please.", [("record_vital", False)]),
    ],
)
def test_requests_for_an_action(text: str, expected: list[tuple[str, bool]]) -> None:
    assert _acts(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Was she referred to cardiology?",
        "Should we start insulin?",
        "Did they record her weight at the last visit?",
        "When was metformin started?",
        "Is she on metformin 500 mg?",
        "Check her last HbA1c.",
        "Give me the dose of her lisinopril.",
        "What medications was she started on in 2019?",
        "The record shows she was put on lisinopril 10 mg in 2015.",
        "Has she ever had a referral to nephrology?",
        "How many times was her blood pressure recorded?",
        "Start with her labs, then her meds.",
        "Don't order anything yet; what was her last potassium?",
    ],
)
def test_questions_ask_for_no_action(text: str) -> None:
    assert _acts(text) == []


@pytest.mark.parametrize(
    "text",
    [
        "On 3/4/2020 she had surgery. Please record it.",  # no vital named, no measurement
        "Lesion 2 cm on the left arm, please document it.",
    ],
)
def test_recording_needs_a_vital(text: str) -> None:
    assert _acts(text) == []


def test_stated_codes() -> None:
    assert stated_codes(
        "Start enoxaparin 40 mg SC daily (RxNorm 67108); recheck LOINC: 4548-4 and "
        "RXCUI 29046. SNOMED CT code 394579002."
    ) == {"rxnorm": ("67108", "29046"), "loinc": ("4548-4",), "snomed": ("394579002",)}
    assert stated_codes("Start metformin 500 mg twice daily.") == {}


class SchemaRecorder(ScriptedChatModel):
    """The scripted fake MODEL, also keeping the schema each call asked for."""

    def __init__(self, steps: Sequence[Any]) -> None:
        super().__init__(steps, repeat=True)
        self.schemas: list[Any] = []

    async def generate(
        self, messages: Sequence[Message], *, schema: Any = None, **kw: Any
    ) -> ChatResult[Any]:
        self.schemas.append(schema)
        return await super().generate(messages, schema=schema, **kw)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[RecordStore]:
    s = RecordStore(tmp_path / "records.db")
    assert s.import_paths([DEBORA_FILE]).ok
    yield s
    s.close()


async def _written(store: RecordStore, rtype: str) -> list[dict[str, Any]]:
    return [r for r in await store.search(rtype, {"patient": DEBORA}) if is_assistant_write(r)]


def _rejects(schema: type[BaseModel], data: dict[str, Any]) -> bool:
    try:
        schema.model_validate(data)
    except ValidationError:
        return True
    return False


def _says_recorded(messages: Sequence[Message]) -> dict[str, Any]:
    import re

    m = re.search(r"recorded [^\n]*\[(E\d+)\]|(E\d+)[^\n]*recorded", messages[-1].text)
    assert m, messages[-1].text[-600:]
    return composed(("Heart rate 82 /min was recorded.", [m.group(1) or m.group(2)]))


VITAL = {"vital": "heart rate", "value": "82", "unit": "bpm"}
LAB = {"code": "4548-4", "display": "HbA1c", "reason": "no recent HbA1c"}


async def test_an_outright_request_is_planned_as_its_call(store: RecordStore) -> None:
    model = SchemaRecorder([tools(("record_vital", VITAL)), _says_recorded, composed()])
    await ask(
        "Pulse is 82 bpm right now; please record it.",
        patient_id=DEBORA,
        source=store,
        model=model,
        settings=AgentSettings(allow_writes=True, max_steps=3),
    )
    first = model.schemas[0]
    assert issubclass(first, Plan)
    # the plan can only be the call: an answer, another tool, or no call do not parse
    assert _rejects(first, answer(("Pulse 82.", [])))
    assert _rejects(first, tools(("order_lab", LAB)))
    assert _rejects(first, tools())
    assert _rejects(first, tools(("record_vital", {**VITAL, "patient": "Patient/other"})))
    assert not _rejects(first, tools(("record_vital", VITAL)))
    assert "call record_vital now" in model.calls[0][-1].text
    [obs] = await _written(store, "Observation")
    assert obs["code"]["coding"][0]["code"] == "8867-4"
    assert obs["valueQuantity"]["value"] == 82
    # once it is taken, the answer says what was done (no further planning round)
    assert model.schemas[1] is Composed


async def test_a_refused_write_is_asked_once_more_with_the_code_stated(
    store: RecordStore,
) -> None:
    """The request states its RxNorm code: the call must carry it (the grammar allows no
    other). The tool refuses the first call (an unknown route): the plan step asks for
    the call once more, the tool's error in the record data, and the order is written."""
    rx = {"drug": "enoxaparin", "rxnorm": "67108", "dose": "40 mg", "dose_unit": "mg",
          "route": "subcutaneously", "frequency": "once daily"}  # fmt: skip
    model = SchemaRecorder(
        [
            tools(("order_medication", {**rx, "route": "into the arm"})),
            tools(("order_medication", rx)),
            composed(),
        ]
    )
    await ask(
        "Start this patient on enoxaparin 40 mg subcutaneously once daily (RxNorm 67108).",
        patient_id=DEBORA,
        source=store,
        model=model,
        settings=AgentSettings(allow_writes=True, max_steps=4),
    )
    first = model.schemas[0]
    assert _rejects(first, tools(("order_medication", {**rx, "rxnorm": "67109"})))
    assert _rejects(
        first, tools(("order_medication", {k: v for k, v in rx.items() if k != "rxnorm"}))
    )
    assert model.schemas[1].__name__ == "ActionPlan"
    assert "unknown route" in model.calls[1][-1].text
    [order] = await _written(store, "MedicationRequest")
    assert order["medicationCodeableConcept"]["coding"][0]["code"] == "67108"
    assert order["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"] == 40
    assert model.schemas[2] is Composed  # written: the answer follows


async def test_a_recorded_vital_is_checked_as_a_result(store: RecordStore) -> None:
    """The written Observation is evidence like the record's own results: a sentence
    stating its value holds (the one a cpu-demo run gave was dropped when the write was
    an order-like item with no value), and a wrong value does not."""

    def says(value: str) -> Any:
        def step(messages: Sequence[Message]) -> dict[str, Any]:
            import re

            found = re.findall(
                r"recorded[^\n]*Body weight [^\n]*Observation/[^\n]*\[(E\d+)\]", messages[-1].text
            )
            handle = found[-1]
            return composed((f"The patient's weight was recorded as {value} kg.", [handle]))

        return step

    call = tools(("record_vital", {"vital": "weight", "value": "112.8 kg"}))
    request = "Weighed the patient just now: 112.8 kg. Please record it."
    settings = AgentSettings(allow_writes=True, max_steps=3)
    model = SchemaRecorder([call, says("112.8"), composed()])
    result = await ask(request, patient_id=DEBORA, source=store, model=model, settings=settings)
    said, sentence = result.sentences  # what was written, then the model's sentence
    assert said.text.startswith("Recorded Body weight 112.8 kg (LOINC 29463-7) on ")
    assert sentence.status == "verified"
    assert sentence.text.startswith("The patient's weight was recorded as 112.8 kg")
    [obs] = await _written(store, "Observation")
    assert sentence.references == [f"Observation/{obs['id']}"]
    model = SchemaRecorder([call, says("121.8"), composed()])
    result = await ask(request, patient_id=DEBORA, source=store, model=model, settings=settings)
    assert result.sentences[0].status == "extractive"  # the write, as the tool said it
    assert "121.8" not in result.text


async def test_a_test_named_without_a_code_takes_its_loinc_from_the_terminology(
    store: RecordStore,
) -> None:
    """ "Order an A1c": the model may not write a LOINC code from memory; the grammar allows
    the codes the terminology gives HbA1c. A test it has no code for stays free."""
    model = SchemaRecorder([tools(("order_lab", LAB)), composed()])
    settings = AgentSettings(allow_writes=True, max_steps=3)
    await ask("Go ahead and order an A1c.", patient_id=DEBORA, source=store, model=model,
              settings=settings)  # fmt: skip
    assert _rejects(model.schemas[0], tools(("order_lab", {**LAB, "code": "2345-7"})))
    [order] = await _written(store, "ServiceRequest")
    assert order["code"]["coding"][0]["code"] == "4548-4"
    model = SchemaRecorder([tools(("order_lab", {**LAB, "code": "58410-2"})), composed()])
    await ask("Please order a CBC.", patient_id=DEBORA, source=store, model=model,
              settings=settings)  # fmt: skip
    assert not _rejects(model.schemas[0], tools(("order_lab", {**LAB, "code": "58410-2"})))


async def test_a_drug_code_not_given_is_not_written(store: RecordStore) -> None:
    """No RxNorm code in the request: the call may not carry one (the model would write it
    from memory), and the order names the drug in text only."""
    rx = {"drug": "metformin", "dose": "500", "dose_unit": "mg", "route": "by mouth",
          "frequency": "twice daily"}  # fmt: skip
    model = SchemaRecorder([tools(("order_medication", rx)), composed()])
    await ask("Start metformin 500 mg by mouth twice daily.", patient_id=DEBORA, source=store,
              model=model, settings=AgentSettings(allow_writes=True, max_steps=3))  # fmt: skip
    assert _rejects(model.schemas[0], tools(("order_medication", {**rx, "rxnorm": "6809"})))
    [order] = await _written(store, "MedicationRequest")
    assert order["medicationCodeableConcept"] == {"text": "metformin"}


async def test_a_write_refused_twice_is_said_not_made(store: RecordStore) -> None:
    rx = {"drug": "enoxaparin", "rxnorm": "67108", "dose": "40", "dose_unit": "mg",
          "route": "into the arm", "frequency": "once daily"}  # fmt: skip
    model = SchemaRecorder([tools(("order_medication", rx))] * 2 + [answer(("x", [])), composed()])
    result = await ask(
        "Start this patient on enoxaparin 40 mg subcutaneously once daily (RxNorm 67108).",
        patient_id=DEBORA,
        source=store,
        model=model,
        settings=AgentSettings(allow_writes=True, max_steps=4),
    )
    assert not await _written(store, "MedicationRequest")
    [said] = [w for w in result.warnings if w.startswith("The requested prescription")]
    assert said.startswith("The requested prescription was not made: unknown route 'into the arm'")


async def test_without_writes_a_request_is_an_ordinary_question(store: RecordStore) -> None:
    model = SchemaRecorder([answer(("No action was taken.", [])), composed()])
    result = await ask(
        "Pulse is 82 bpm right now; please record it.",
        patient_id=DEBORA,
        source=store,
        model=model,
        settings=AgentSettings(max_steps=2),
    )
    assert not {getattr(s, "__name__", "") for s in model.schemas} & {"ActionPlan", "CheckedPlan"}
    assert not await _written(store, "Observation")
    assert (
        "This deployment does not write to the record: the requested recording of the vital "
        "sign was not made." in result.warnings
    )


#: a condition code does not read (a judgement): the model checks it
COND = (
    "Check her latest HbA1c. If her diabetes looks poorly controlled, order a new HbA1c "
    "test; otherwise do not order anything."
)


async def test_a_condition_found_to_hold_is_acted_on(store: RecordStore) -> None:
    """The model finds the condition holds but answers instead of ordering: code asks
    again for the call (constrained), and the order is placed."""
    held = {**answer(("Her last HbA1c is old; a new one should be ordered.", [])),
            "condition": "holds"}  # fmt: skip
    model = SchemaRecorder([held, tools(("order_lab", LAB)), answer(("Ordered.", [])), composed()])
    result = await ask(
        COND,
        patient_id=DEBORA,
        source=store,
        model=model,
        settings=AgentSettings(allow_writes=True, max_steps=3),
    )
    assert model.schemas[0].__name__ == "CheckedPlan"
    assert 'First set "condition"' in model.calls[0][-1].text
    assert "condition holds: call order_lab now" in model.calls[1][-1].text
    assert _rejects(model.schemas[1], answer(("x", [])))
    [order] = await _written(store, "ServiceRequest")
    assert order["code"]["coding"][0]["code"] == "4548-4"
    assert not any("not taken" in w for w in result.warnings)


async def test_a_condition_not_found_to_hold_takes_no_action(store: RecordStore) -> None:
    """The model says the condition does not hold and still calls the order: the call is
    dropped, said in a warning, and nothing is written."""
    model = SchemaRecorder(
        [
            {**tools(("order_lab", LAB)), "condition": "does not hold"},
            answer(("Nothing was ordered.", [])),
            composed(),
        ]
    )
    result = await ask(
        COND,
        patient_id=DEBORA,
        source=store,
        model=model,
        settings=AgentSettings(allow_writes=True, max_steps=3),
    )
    assert not await _written(store, "ServiceRequest")
    assert any("not taken" in w for w in result.warnings)
    assert "The requested lab order was not made (its condition was not found to hold)." in (
        result.warnings
    )


async def test_a_condition_code_reads_is_checked_by_code(store: RecordStore) -> None:
    """ "If there is none, or it is older than 90 days": code checks it against the
    latest HbA1c the question's own search found (2025-01-15, 137 days before), so
    the first plan step is already the call, with the LOINC code the request states."""
    model = SchemaRecorder([tools(("order_lab", LAB)), answer(("Ordered.", [])), composed()])
    result = await ask(
        "Today is 2025-06-01. If there is no HbA1c on file, or the latest one is more than "
        "90 days old, order a new HbA1c (LOINC 4548-4).",
        patient_id=DEBORA,
        source=store,
        model=model,
        settings=AgentSettings(allow_writes=True, max_steps=3),
        as_of=dt.date(2025, 6, 1),
    )
    assert model.schemas[0].__name__ == "ActionPlan"
    assert "condition holds: call order_lab now" in model.calls[0][-1].text
    assert _rejects(model.schemas[0], tools(("order_lab", {**LAB, "code": "2345-7"})))
    [order] = await _written(store, "ServiceRequest")
    assert order["code"]["coding"][0]["code"] == "4548-4"
    # the answer says what code checked, cited to the result it rests on
    [why] = [x for x in result.sentences if x.text.startswith("If none on file")]
    assert why.text == (
        "If none on file or more than 90 days before 2025-06-01: the latest HbA1c is dated "
        "2025-01-15 (6.6 %), so the condition holds."
    )
    [ref] = why.references
    assert ref.startswith("Observation/")
    # what was written, first, as a person reads it (no FHIR status words; its day, UTC)
    import re

    assert re.fullmatch(
        r"Ordered HbA1c \(LOINC 4548-4\) on \d{4}-\d\d-\d\d at \d\d:\d\d UTC; reason: .+\.",
        result.sentences[0].text,
    ), result.sentences[0].text


async def test_a_condition_code_finds_false_takes_no_action(store: RecordStore) -> None:
    """ "If there is none": she has HbA1c results, so nothing is ordered, and no plan
    step is asked for (no model call that could order): the answer follows."""
    model = SchemaRecorder([composed()])
    result = await ask(
        "If there is no HbA1c on file, order one.",
        patient_id=DEBORA,
        source=store,
        model=model,
        settings=AgentSettings(allow_writes=True, max_steps=3),
        as_of=dt.date(2025, 6, 1),
    )
    assert model.schemas == [Composed]
    assert not await _written(store, "ServiceRequest")
    [why] = [x for x in result.sentences if x.text.startswith("If none on file")]
    assert why.text.endswith("so the condition does not hold.")


async def test_a_condition_over_two_searched_tests_is_left_to_the_model(
    store: RecordStore,
) -> None:
    """Two tests searched (troponin: none; HbA1c: found): which one "there is none" is about
    is not code's to guess, so the model checks the condition (CheckedPlan)."""
    held = {**tools(("order_lab", {**LAB, "code": "10839-9"})), "condition": "holds"}
    model = SchemaRecorder([held, composed()])
    await ask(
        "If there is no troponin on file, order one; and what is her latest HbA1c?",
        patient_id=DEBORA,
        source=store,
        model=model,
        settings=AgentSettings(allow_writes=True, max_steps=3),
    )
    assert model.schemas[0].__name__ == "CheckedPlan"


async def test_a_question_with_writes_on_is_answered_as_without(store: RecordStore) -> None:
    """No action asked: the prefetched heart rates go straight to the answer (no planning
    round), and a planning round, when there is one, is free."""
    model = SchemaRecorder([composed()])
    await ask(
        "What was her last pulse?",
        patient_id=DEBORA,
        source=store,
        model=model,
        settings=AgentSettings(allow_writes=True, max_steps=2, answer_computed=False),
    )
    assert [s.__name__ for s in model.schemas] == ["Composed"]
    model = SchemaRecorder([answer(("Her pulse is on file.", [])), composed()])
    await ask(
        "What was her last pulse?",
        patient_id=DEBORA,
        source=store,
        model=model,
        settings=AgentSettings(
            allow_writes=True, max_steps=2, answer_after_prefetch=False, answer_computed=False
        ),
    )
    assert model.schemas[0] is Plan

"""search_record pushes code, date range and status to the source's search (bound to the
session patient) and filters the evidence again locally: the lines are the same whether
the source honours the parameters (the embedded store, sekmet-fhir) or ignores them all."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.context import AgentContext
from agent.errors import ToolCallError, ToolCallRefused
from agent.schemas import ToolCall
from agent.toolkit import run_tool_call
from tests.agent_fixtures import (
    ADAN,
    CLEOTILDE,
    LUIGI,
    ScriptedChatModel,
    agent_store,  # noqa: F401
)
from tests.sekmet import LoadedBundle, SekmetServer, load_bundles, running_sekmet
from tools.config import FhirServerConfig, Limits
from tools.errors import UnsupportedSearch
from tools.fhir import FhirClient
from tools.fhir_version import PATIENT_SEARCH_PARAM
from tools.source import PatientRow, RecordSource, Resource, SearchParams
from tools.store import RecordStore

pytestmark = pytest.mark.asyncio

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fhir_fixtures" / "patients"
_PATIENT_PARAMS = {"patient", "subject", "beneficiary", "_id"}
JARRED = "cdb486b4-716b-4e83-9e27-8a68620dd1fe"
_ID = re.compile(r"\b([A-Z][A-Za-z]+)/[A-Za-z0-9\-.]{1,64}")

#: (arguments, parameters the first search must carry besides the patient)
QUERIES: list[tuple[dict[str, str], set[str]]] = [
    ({"resource_type": "Observation", "code": "4548-4"}, {"combo-code"}),
    (
        {"resource_type": "Observation", "code": "LOINC 4548-4", "date_from": "2020-01-01",
         "date_to": "2022-12-31"},
        {"combo-code", "date"},
    ),
    ({"resource_type": "Observation", "code": "http://loinc.org|2160-0", "status": "final"},
     {"combo-code", "status"}),
    ({"resource_type": "Observation", "date_from": "2024-06-01"}, {"date"}),
    ({"resource_type": "Observation", "name": "glucose", "date_to": "2023-12-31"}, {"date"}),
    ({"resource_type": "Condition", "status": "active"}, {"clinical-status"}),
    ({"resource_type": "Condition", "status": "resolved"}, set()),  # evidence meaning: local
    ({"resource_type": "Condition", "date_from": "2018-01-01", "date_to": "2020-12-31"},
     {"onset-date"}),
    ({"resource_type": "Condition", "code": "SCT 431856006"}, {"code"}),
    # an order written before a window may be active in it: filtered locally, not pushed
    ({"resource_type": "MedicationRequest", "date_from": "2023-01-01"}, set()),
    ({"resource_type": "MedicationRequest", "status": "stopped"}, {"status"}),
    ({"resource_type": "MedicationRequest", "status": "active"}, {"status"}),
    ({"resource_type": "MedicationRequest", "status": "current"}, set()),  # evidence meaning
    ({"resource_type": "Encounter", "date_from": "2024-06-01", "date_to": "2025-06-01"},
     {"date"}),
    ({"resource_type": "Procedure", "status": "completed", "date_from": "2022-01-01"},
     {"status", "date"}),
    ({"resource_type": "Immunization", "date_to": "2019-12-31"}, {"date"}),
    ({"resource_type": "DiagnosticReport", "date_from": "2024-01-01"}, {"date"}),
    ({"resource_type": "AllergyIntolerance", "status": "active"}, {"clinical-status"}),
    ({"resource_type": "CarePlan", "status": "active"}, {"status"}),
    ({"resource_type": "DocumentReference", "date_from": "2023-01-01"}, {"date"}),
    ({"resource_type": "Goal"}, set()),
    ({"resource_type": "CareTeam", "date_from": "2020-01-01"}, {"date"}),
]  # fmt: skip


class RecordingSource:
    """A RecordSource wrapper that records every search and its number of results.

    ``ignore_params``: pass on only the patient parameter (a server that silently ignores
    everything else): what the local second pass alone makes of a search.
    """

    def __init__(self, inner: RecordSource, *, ignore_params: bool = False) -> None:
        self.inner = inner
        self.ignore_params = ignore_params
        self.searches: list[tuple[str, dict[str, Any], int | None]] = []

    @property
    def label(self) -> str:
        return f"recording({self.inner.label})"

    async def read(self, reference: str) -> Resource:
        return await self.inner.read(reference)

    async def search(
        self, resource_type: str, params: SearchParams | None = None
    ) -> list[Resource]:
        sent = dict(params or {})
        if self.ignore_params:
            sent = {k: v for k, v in sent.items() if k in _PATIENT_PARAMS}
        try:
            found = await self.inner.search(resource_type, sent)
        except UnsupportedSearch:
            self.searches.append((resource_type, dict(params or {}), None))
            raise
        self.searches.append((resource_type, dict(params or {}), len(found)))
        return found

    async def everything(self, patient_id: str, *, since: str | None = None) -> list[Resource]:
        return await self.inner.everything(patient_id, since=since)

    async def patients(self) -> list[PatientRow]:
        return await self.inner.patients()

    async def aclose(self) -> None:
        await self.inner.aclose()


async def _run(
    source: RecordingSource, pid: str, args: dict[str, str], ctx: AgentContext | None = None
) -> list[str]:
    ctx = ctx or AgentContext(patient_id=pid, source=source, model=ScriptedChatModel([]))
    result = await run_tool_call(ctx, ToolCall(tool="search_record", args=args))
    return result.lines


def _texts(lines: list[str]) -> list[str]:
    """Lines without handles and ids (both depend on the ids a server assigned)."""
    return [_ID.sub(r"\1/<id>", ln.split(" ", 1)[1] if ln.startswith("E") else ln) for ln in lines]


async def _check_source(inner: RecordSource, pid: str) -> dict[str, list[str]]:
    """Run every query pushed and ignored; both give the same lines. Returns the lines."""
    pushed = RecordingSource(inner)
    ignored = RecordingSource(inner, ignore_params=True)
    ctx_p = AgentContext(patient_id=pid, source=pushed, model=ScriptedChatModel([]))
    ctx_i = AgentContext(patient_id=pid, source=ignored, model=ScriptedChatModel([]))
    out: dict[str, list[str]] = {}
    narrowed = 0
    for args, expected in QUERIES:
        pushed.searches.clear()
        ignored.searches.clear()
        got = await _run(pushed, pid, args, ctx_p)
        want = await _run(ignored, pid, args, ctx_i)
        assert got == want, args
        out[json.dumps(args, sort_keys=True)] = got
        first = pushed.searches[0]
        assert first[0] == args["resource_type"]
        # the patient is bound in code, by the type's own patient parameter
        param = PATIENT_SEARCH_PARAM[args["resource_type"]]
        assert first[1][param] == [pid], (args, first)
        assert expected <= set(first[1]) - {param}, (args, first)
        honoured = [s for s in pushed.searches if s[2] is not None]
        if honoured and ignored.searches[-1][2] is not None:
            n_pushed, n_all = honoured[0][2], ignored.searches[-1][2]
            assert n_pushed is not None
            assert n_pushed <= n_all
            if set(honoured[0][1]) - _PATIENT_PARAMS and n_pushed < n_all:
                narrowed += 1
    assert narrowed >= 8, "the source filtered too few of the searches itself"
    return out


# --------------------------------------------------------------------------- embedded store


@pytest.fixture
def store(agent_store: Path) -> RecordStore:  # noqa: F811
    return RecordStore(agent_store)


async def test_store_pushed_equals_local(store: RecordStore) -> None:
    lines = await _check_source(store, CLEOTILDE)
    hba1c = lines[json.dumps({"resource_type": "Observation", "code": "4548-4"}, sort_keys=True)]
    assert len(hba1c) == 1
    assert "Hemoglobin A1c" in hba1c[0]
    active = lines[json.dumps({"resource_type": "Condition", "status": "active"}, sort_keys=True)]
    assert active
    assert all(": active" in ln for ln in active if ln[0] == "E")


async def test_store_receives_the_generic_params(store: RecordStore) -> None:
    """The store rejects FHIR's per-type names (onset-date, authoredon, combo-code): the
    generic set (date, code, status) is searched next; the patient-only search is not."""
    src = RecordingSource(store)
    await _run(
        src,
        CLEOTILDE,
        {
            "resource_type": "Condition",
            "code": "431856006",
            "date_from": "2010-01-01",
            "status": "active",
        },
    )
    statuses = ["active,recurrence,relapse"]
    assert src.searches[0] == (
        "Condition",
        {
            "patient": [CLEOTILDE],
            "onset-date": ["ge2009-12-31"],
            "code": ["431856006"],
            "clinical-status": statuses,
        },
        None,
    )
    assert src.searches[1][:2] == (
        "Condition",
        {
            "patient": [CLEOTILDE],
            "date": ["ge2009-12-31"],
            "code": ["431856006"],
            "status": statuses,
        },
    )
    assert src.searches[1][2] == 4
    assert len(src.searches) == 2
    src.searches.clear()
    await _run(src, CLEOTILDE, {"resource_type": "Observation", "code": "4548-4",
                                "date_from": "2021-01-01"})  # fmt: skip
    (_, params, n), *_rest = [s for s in src.searches if s[2] is not None]
    assert params == {"patient": [CLEOTILDE], "date": ["ge2020-12-31"]}
    assert n is not None
    assert n < len(await store.search("Observation", {"patient": CLEOTILDE}))


async def test_patient_stays_bound(store: RecordStore) -> None:
    src = RecordingSource(store)
    for args in (
        {"resource_type": "Observation", "patient": LUIGI},
        {"resource_type": "Observation", "code": f"Patient/{LUIGI}"},
        {"resource_type": "Observation", "code": "4548-4&patient=x"},
    ):
        with pytest.raises(ToolCallRefused):
            await _run(src, CLEOTILDE, args)
    with pytest.raises(ToolCallError, match="code must be one code"):
        await _run(src, CLEOTILDE, {"resource_type": "Observation", "code": "4548-4, 2160-0"})
    assert src.searches == []


class _LeakySource(RecordingSource):
    """A server that answers other patients' resources too (ignores ``patient``)."""

    async def search(
        self, resource_type: str, params: SearchParams | None = None
    ) -> list[Resource]:
        found = await super().search(resource_type, params)
        other = await self.inner.search(resource_type, {"patient": LUIGI})
        return found + other


async def test_results_of_other_patients_are_dropped(store: RecordStore) -> None:
    args = {"resource_type": "Observation", "date_from": "2024-01-01"}
    leaky = await _run(_LeakySource(store), CLEOTILDE, args)
    assert leaky == await _run(RecordingSource(store), CLEOTILDE, args)


async def test_without_type_the_evidence_is_filtered_locally(store: RecordStore) -> None:
    src = RecordingSource(store)
    lines = await _run(src, CLEOTILDE, {"name": "hemoglobin a1c"})
    assert src.searches == []
    assert any("LOINC 4548-4" in ln for ln in lines)


# --------------------------------------------------------------------------- sekmet-fhir


@pytest.fixture(scope="module")
def sekmet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SekmetServer, str, str]]:
    """A sekmet of its own with Cleotilde and Luigi (server ids: sekmet assigns them)."""
    with running_sekmet(tmp_path_factory.mktemp("sekmet-search")) as server:
        paths = [next(FIXTURES.glob(f"*_{pid}.json")) for pid in (CLEOTILDE, LUIGI)]
        loaded: list[LoadedBundle] = load_bundles(server.base_url, paths)
        ids = [b.patient_id for b in loaded]
        assert all(ids)
        yield server, str(ids[0]), str(ids[1])


@pytest.mark.integration
async def test_sekmet_pushed_equals_local(
    sekmet: tuple[SekmetServer, str, str], store: RecordStore
) -> None:
    server, cleotilde, _ = sekmet
    config = FhirServerConfig(base_url=server.base_url, limits=Limits(page_size=200))
    async with FhirClient(config) as client:
        lines = await _check_source(client, cleotilde)
        # the server received the parameters: fewer results than the patient-only search
        src = RecordingSource(client)
        await _run(src, cleotilde, {"resource_type": "Observation", "code": "4548-4"})
        honoured = [s for s in src.searches if s[2] is not None]
        everything = await client.search("Observation", {"patient": cleotilde})
        assert honoured[0][2] is not None
        assert honoured[0][2] < len(everything)
        assert set(honoured[0][1]) - {"patient"}
    # the same lines as from the embedded store (handles aside: ids differ)
    on_store = await _check_source(store, CLEOTILDE)
    assert {k: _texts(v) for k, v in lines.items()} == {k: _texts(v) for k, v in on_store.items()}


async def test_record_statements_give_repeated_events_whole_dates() -> None:
    """An answer taken from the record as it stands is read by a person: repeated vaccines
    say how many and give the most recent date whole, not the model line's folded years."""
    from agent.toolkit import statement
    from tests._record_fixtures import patient
    from tools.evidence import build_evidence

    def shot(rid: str, day: str) -> dict[str, object]:
        return {
            "resourceType": "Immunization", "id": rid, "status": "completed",
            "patient": {"reference": "Patient/p1"}, "occurrenceDateTime": f"{day}T10:00:00Z",
            "vaccineCode": {"coding": [{"system": "http://hl7.org/fhir/sid/cvx", "code": "49",
                                        "display": "Hib (PRP-OMP)"}]},
        }  # fmt: skip

    record = [patient("p1"), shot("i1", "2013-02-17"), shot("i2", "2013-04-21"),
              shot("i3", "2014-01-19")]  # fmt: skip
    ev = build_evidence(record, as_of=dt.date(2020, 1, 1))
    (item,) = ev.section("immunizations")
    assert "2014: 01-19" in item.text  # the model's compact line
    text = statement(item)
    assert "3 on record, most recent 2014-01-19 (earlier: 2013-04-21, 2013-02-17)" in text


async def test_record_statements_read_as_a_person_reads_them() -> None:
    """Conditions with status and onset, medications with status and last order, results
    with the latest value: no code tags, no folded years, figures from the item's fields."""
    from agent.toolkit import statement
    from tests._record_fixtures import condition, med, obs, patient
    from tools.evidence import build_evidence

    record = [
        patient("p1"),
        condition("c1", "363406005", "Malignant tumor of colon (disorder)", "1966-09-02"),
        med("m1", "310325", "Ferrous sulfate 325 MG Oral Tablet", "1987-02-18"),
        obs("o1", "4548-4", 6.1, "%", "2019-03-04T08:00:00+00:00", display="Hemoglobin A1c"),
        obs("o2", "4548-4", 6.4, "%", "2019-09-10T08:00:00+00:00", display="Hemoglobin A1c"),
    ]
    ev = build_evidence(record, as_of=dt.date(2020, 1, 1))
    (cond,) = ev.section("conditions")
    assert statement(cond) == "Malignant tumor of colon: active, since 1966-09-02"
    (drug,) = ev.section("medications")
    assert statement(drug).startswith(
        "Ferrous sulfate 325 MG Oral Tablet: current, last ordered 1987-02-18"
    )
    a1c = next(i for i in ev.section("labs") if "4548-4" in {c.code for c in i.codings})
    assert (
        statement(a1c)
        == "Hemoglobin A1c: 6.4 % on 2019-09-10 (the latest of 2 results since 2019-03-04)"
    )
    assert "[" not in statement(cond) + statement(drug) + statement(a1c)  # no code tags


async def test_a_window_shows_only_its_entries_and_their_count(store: RecordStore) -> None:
    """A visit type seen many times over the years is shown with only the visits of the
    window, and the window's total is the tool's (the model wrote "15 encounters in 2017"
    from a line that listed all years)."""
    ctx = AgentContext(patient_id=CLEOTILDE, source=store, model=ScriptedChatModel([]))
    raw = await store.search("Encounter", {"patient": CLEOTILDE})
    years = [str(e["period"]["start"])[:4] for e in raw]
    year = max(set(years), key=years.count)  # the year with the most visits
    args = {"resource_type": "Encounter", "date_from": f"{year}-01-01", "date_to": f"{year}-12-31"}
    r = await run_tool_call(ctx, ToolCall(tool="search_record", args=args))
    shown = re.findall(r"\b((?:19|20)\d\d)\b", " ".join(r.lines[:-1]))
    assert set(shown) == {year}  # no visit of another year is shown
    # the cited resources are the window's visits, not the type's other years
    total = sum(len(entry["focus"]) for entry in r.seen.values())
    assert total == years.count(year)
    assert r.lines[-1].startswith(f"In all: {total} encounters from {year}-01-01 to {year}-12-31")
    text, handles = r.statements[0]
    assert text == f"In all, {total} encounters from {year}-01-01 to {year}-12-31"
    assert set(handles) == set(r.seen)


async def test_the_most_recent_entry_leads_and_encounters_say_their_class(
    store: RecordStore,
) -> None:
    ctx = AgentContext(patient_id=CLEOTILDE, source=store, model=ScriptedChatModel([]))
    r = await run_tool_call(ctx, ToolCall(tool="record_summary", args={"section": "encounters"}))
    [(text, [_handle])] = r.leads["latest"]
    assert text.startswith("The most recent: ")
    raw = await store.search("Encounter", {"patient": CLEOTILDE})
    newest = max(str(e["period"]["start"])[:10] for e in raw)
    assert newest in text
    assert any("(ambulatory)" in t for t, _ in r.statements)


async def test_a_vaccine_not_on_record_names_those_sharing_a_component(
    store: RecordStore,
) -> None:
    """ "Her last Twinrix?" when the record holds only hepatitis B vaccines: none, and the
    record's hepatitis B doses as related (Twinrix is hepatitis A and B); a drug the
    record lacks has no such relation."""
    ctx = AgentContext(patient_id=ADAN, source=store, model=ScriptedChatModel([]))
    args = {"resource_type": "Immunization", "name": "Twinrix"}
    r = await run_tool_call(ctx, ToolCall(tool="search_record", args=args))
    absent, *related = [text for text, _ in r.statements]
    assert absent.startswith("not in this patient's record: no Twinrix")
    assert related
    assert all(t.startswith("Related on record (hepatitis b vaccine): ") for t in related)
    assert any("Hep B, adult" in t for t in related)
    r = await run_tool_call(ctx, ToolCall(tool="search_record", args={"name": "warfarin"}))
    [(text, _handles)] = r.statements
    assert text.startswith("not in this patient's record: no warfarin")


async def test_a_deceased_patient_leads_with_the_death(store: RecordStore) -> None:
    """ "Date of death?": the death first, as its own sentence, not after the birth."""
    ctx = AgentContext(patient_id=JARRED, source=store, model=ScriptedChatModel([]))
    r = await run_tool_call(ctx, ToolCall(tool="record_summary", args={"section": "patient"}))
    [(text, [_h])] = r.leads["death"]
    assert re.fullmatch(r"Jarred\w* Cormier\w* died on 2021-07-07, at age \d+\.", text), text
    [(said, _hs)] = r.leads["alive"]  # "is he still alive?"
    assert said == f"No — {text}"
    alive = AgentContext(patient_id=ADAN, source=store, model=ScriptedChatModel([]))
    r = await run_tool_call(alive, ToolCall(tool="record_summary", args={"section": "patient"}))
    [(said, _hs)] = r.leads["alive"]
    assert re.fullmatch(r"Yes — no death is recorded for Adan\w* Moen\w*\.", said), said
    # "when did he die?", "has he passed?" of a living man: as far as the record says
    [(said, _hs)] = r.leads["death"]
    assert re.fullmatch(r"No death is recorded for Adan\w* Moen\w*\.", said), said
    [(said, _hs)] = r.leads["dead"]
    assert re.fullmatch(r"No — no death is recorded for Adan\w* Moen\w*\.", said), said


async def test_a_yes_or_no_about_a_named_thing_is_answered_by_its_entries_status(
    store: RecordStore,
) -> None:
    """ "Do I have X?" / "Still on Y?": yes when an entry holds now, "No, not currently"
    when each is resolved or stopped; the entries follow as the record states them."""
    ctx = AgentContext(patient_id=CLEOTILDE, source=store, model=ScriptedChatModel([]))
    checked = 0
    for section, rtype in (("conditions", "Condition"), ("medications", "MedicationRequest")):
        r = await run_tool_call(ctx, ToolCall(tool="record_summary", args={"section": section}))
        for text, _hs in r.statements:
            name, _, status = text.partition(": ")
            status = status.split(",")[0]
            if status not in ("active", "current", "resolved", "past") or "/" in name:
                continue
            args = {"resource_type": rtype, "name": name}
            found = await run_tool_call(ctx, ToolCall(tool="search_record", args=args))
            said = found.leads["yesno"][0][0]
            statuses = [t.split(": ", 1)[1].split(",")[0] for t, _ in found.statements]
            now = any(st in ("active", "current") for st in statuses)
            want = "Yes — " if now else "No, not currently — "
            assert said.startswith(want), (text, said)
            assert said.removeprefix(want) in [t for t, _ in found.statements]
            assert text in [t for t, _ in found.statements]  # the named entry is among them
            assert found.leads["ever"][0][0].startswith("Yes — ")  # resolved or not: ever had
            checked += 1
    assert checked >= 4


async def test_a_named_thing_in_a_window_is_answered_yes_with_its_entries(
    store: RecordStore,
) -> None:
    ctx = AgentContext(patient_id=ADAN, source=store, model=ScriptedChatModel([]))
    args = {"resource_type": "Immunization", "name": "Influenza vaccine",
            "date_from": "2024-01-01", "date_to": "2024-12-31"}  # fmt: skip
    r = await run_tool_call(ctx, ToolCall(tool="search_record", args=args))
    said, _hs = r.leads["yesno"][0]
    assert said.startswith("Yes — Influenza, seasonal, injectable, preservative free: 1 from 2024")
    assert "2024-02-11" in said
    args |= {"date_from": "2010-01-01", "date_to": "2010-12-31"}
    r = await run_tool_call(ctx, ToolCall(tool="search_record", args=args))
    # none then: no "Yes"; the search's "nothing found", then the nearest outside it,
    # whatever is asked of the period
    from agent.toolkit import ANY_ASK

    assert "yesno" not in r.leads
    [(none, _), (nearest, _)] = r.leads[ANY_ASK]
    assert none.startswith("not in this patient's record: no Influenza vaccine")
    assert nearest.endswith(": 2024-02-11, the first after that period")
    assert r.statements[0][0].startswith("not in this patient's record: no Influenza vaccine")


def _allergy(aid: str, display: str, status: str) -> dict[str, Any]:
    return {
        "resourceType": "AllergyIntolerance", "id": aid, "patient": {"reference": "Patient/pa"},
        "clinicalStatus": {"coding": [{"code": status}]}, "type": "allergy",
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": aid, "display": display}]},
        "recordedDate": "2015-06-01",
    }  # fmt: skip


async def test_known_allergies_are_the_active_ones_then_how_many_no_longer_are() -> None:
    """ "Known allergies?": each active allergy as a statement, then one sentence saying how
    many more are recorded as inactive or resolved, citing them; each is still a line the
    planner sees with its status. When none is active, each is said with its status."""
    from agent.session import seen_of
    from tests._record_fixtures import MemorySource, patient

    record = [
        patient("pa", birthDate="1960-01-01"),
        _allergy("91935009", "Allergy to peanuts", "active"),
        _allergy("300916003", "Latex allergy", "active"),
        _allergy("419474003", "Allergy to mould", "inactive"),
        _allergy("232347008", "Dander (animal) allergy", "resolved"),
    ]
    ctx = AgentContext(patient_id="pa", source=MemorySource({"pa": record}),
                       model=ScriptedChatModel([]))  # fmt: skip
    r = await run_tool_call(ctx, ToolCall(tool="record_summary", args={"section": "allergies"}))
    said = [t for t, _ in r.statements]
    assert len(said) == 3
    assert "peanuts" in said[0] or "peanuts" in said[1]
    assert not any("mould" in t or "Dander" in t for t in said)
    assert said[-1] == "2 more allergies are recorded as no longer active."
    seen = seen_of(r.seen)
    cited = {ref for h in r.statements[-1][1] for ref in seen[h].item.references}
    assert cited == {"AllergyIntolerance/419474003", "AllergyIntolerance/232347008"}
    assert sum("mould" in ln for ln in r.lines) == 1  # the planner still sees it
    past = [record[0], *record[3:]]
    ctx = AgentContext(patient_id="pa", source=MemorySource({"pa": past}),
                       model=ScriptedChatModel([]))  # fmt: skip
    r = await run_tool_call(ctx, ToolCall(tool="record_summary", args={"section": "allergies"}))
    assert len(r.statements) == 2
    assert all(("inactive" in t) or ("resolved" in t) for t, _ in r.statements)


async def test_a_current_list_is_given_whole() -> None:
    """26 active problems (the differently coded variant has a patient with 26): all of
    them are stated, not the first 20; a search by name keeps the usual lines."""
    from agent.context import AgentSettings
    from tests._record_fixtures import MemorySource, condition, patient

    record = [patient("p1")] + [
        condition(f"c{i}", f"{100000 + i}", f"Problem number {i}", f"20{10 + i % 10}-01-01")
        for i in range(26)
    ]
    ctx = AgentContext(patient_id="p1", source=MemorySource({"p1": record}),
                       model=ScriptedChatModel([]), settings=AgentSettings())  # fmt: skip
    active = await run_tool_call(
        ctx, ToolCall(tool="search_record", args={"resource_type": "Condition", "status": "active"})
    )
    assert len(active.statements) == 26
    assert not any("not shown" in line for line in active.lines)
    named = await run_tool_call(
        ctx, ToolCall(tool="search_record", args={"resource_type": "Condition", "name": "problem"})
    )
    assert len(named.statements) <= 20


async def test_a_current_list_is_said_without_each_entrys_history() -> None:
    """A problem re-recorded at every visit (Synthea: 33 times) is one short line in a
    list of what holds now (onset, how often, when last), not its status at every visit
    (2,159 prompt tokens for one patient's active problems, 1,041 without); a search for
    it by name still shows the history."""
    from agent.context import AgentSettings
    from tests._record_fixtures import MemorySource, condition, patient

    record = [patient("p1")] + [
        condition(f"r{i}", "314529007", "Medication review due", f"20{10 + i}-01-01")
        for i in range(6)
    ]
    ctx = AgentContext(patient_id="p1", source=MemorySource({"p1": record}),
                       model=ScriptedChatModel([]), settings=AgentSettings())  # fmt: skip
    active = await run_tool_call(
        ctx, ToolCall(tool="search_record", args={"resource_type": "Condition", "status": "active"})
    )
    [line] = active.lines
    assert ": active, onset 2010-01-01; recorded ×6, last 2015-01-01;" in line, line
    named = await run_tool_call(
        ctx, ToolCall(tool="search_record", args={"resource_type": "Condition", "name": "review"})
    )
    assert "2012: 01-01 active" in named.lines[0]


async def test_a_lab_code_the_record_does_not_hold_is_said_not_found() -> None:
    """A lab's own code the question gives and the record lacks: "nothing found" for that
    code (not a tool error and an empty answer, nor a claim that it is a LOINC code)."""
    from agent.context import AgentSettings
    from tests._record_fixtures import MemorySource, patient

    ctx = AgentContext(patient_id="p1", source=MemorySource({"p1": [patient("p1")]}),
                       model=ScriptedChatModel([]), settings=AgentSettings())  # fmt: skip
    result = await run_tool_call(ctx, ToolCall(tool="lab_trend", args={"code": "CHEM-TROPHS"}))
    [(text, _handles)] = result.statements
    assert "no code CHEM-TROPHS results" in text
    assert "coded CHEM-TROPHS: nothing found" in text
    assert "LOINC" not in text


async def test_sex_and_birth_are_said_first_when_asked() -> None:
    """ "Male or female?" and "when was she born?" are answered with that fact, not the whole
    demographic line (the plain fixtures' gender question got the line)."""
    from agent.context import AgentSettings
    from tests._record_fixtures import MemorySource, patient

    record = [patient("p1", gender="female", birthDate="1950-06-15")]
    ctx = AgentContext(patient_id="p1", source=MemorySource({"p1": record}),
                       model=ScriptedChatModel([]), settings=AgentSettings(),
                       as_of=dt.date(2025, 6, 1))  # fmt: skip
    result = await run_tool_call(ctx, ToolCall(tool="record_summary", args={"section": "patient"}))
    [(sex, _)] = result.leads["sex"]
    assert sex.endswith(" is recorded as female (administrative gender).")
    [(born, _)] = result.leads["birth"]
    assert born.endswith("was born on 1950-06-15, age 74 on 2025-06-01.")


def _encounter(eid: str, cls: str, display: str, start: str) -> dict[str, Any]:
    return {
        "resourceType": "Encounter", "id": eid, "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": cls},
        "type": [{"coding": [{"system": "http://snomed.info/sct", "code": "1", "display": display}]}],
        "subject": {"reference": "Patient/p1"}, "period": {"start": start, "end": start},
    }  # fmt: skip


async def test_a_care_setting_is_found_by_the_encounters_class() -> None:
    """ "Hospitalized?" finds the inpatient encounters by their class (IMP), whatever their
    type is called; an emergency visit whose type reads "emergency hospital admission" is
    an emergency encounter (its class), not a hospital stay."""
    from agent.context import AgentSettings
    from tests._record_fixtures import MemorySource, patient

    record = [
        patient("p1"),
        _encounter("e1", "IMP", "Encounter for problem", "2019-03-01"),
        _encounter("e2", "EMER", "Obstetric emergency hospital admission", "2020-05-01"),
        _encounter("e3", "AMB", "Encounter for check up", "2021-01-01"),
    ]
    ctx = AgentContext(patient_id="p1", source=MemorySource({"p1": record}),
                       model=ScriptedChatModel([]), settings=AgentSettings())  # fmt: skip

    async def cited(name: str) -> set[str]:
        r = await run_tool_call(
            ctx, ToolCall(tool="search_record", args={"resource_type": "Encounter", "name": name})
        )
        return {entry["item"]["reference"] for entry in r.seen.values()}

    assert await cited("Inpatient encounter") == {"Encounter/e1"}
    assert await cited("Emergency encounter") == {"Encounter/e2"}
    none = await run_tool_call(
        ctx,
        ToolCall(
            tool="search_record", args={"resource_type": "Encounter", "name": "Virtual encounter"}
        ),
    )
    [(text, _)] = none.statements
    assert text.startswith("not in this patient's record: no Virtual encounter")


async def test_a_medication_still_active_was_taken_in_a_past_window() -> None:
    """ "Was she on metformin in 2015?": ordered in 2001 and never stopped, so yes — not
    "nothing found" because no order is dated 2015; one stopped before it is not."""
    from agent.context import AgentSettings
    from tests._record_fixtures import MemorySource, med, patient

    record = [
        patient("p1"),
        med("m1", "860975", "24 HR Metformin hydrochloride 500 MG", "2001-03-14"),
        med("m2", "197361", "Amlodipine 5 MG Oral Tablet", "2003-01-01", status="stopped"),
    ]
    ctx = AgentContext(patient_id="p1", source=MemorySource({"p1": record}),
                       model=ScriptedChatModel([]), settings=AgentSettings())  # fmt: skip
    window = {"date_from": "2015-01-01", "date_to": "2015-12-31"}
    r = await run_tool_call(
        ctx, ToolCall(tool="search_record", args={"name": "metformin", **window})
    )
    [(yes, _)] = r.leads["yesno"]
    assert yes.startswith("Yes — 24 HR Metformin")
    assert "active through the period" in yes
    listed = await run_tool_call(
        ctx, ToolCall(tool="search_record", args={"resource_type": "MedicationRequest", **window})
    )
    assert [t for t, _ in listed.statements if "Amlodipine" in t] == []
    assert any("Metformin" in t for t, _ in listed.statements)
    before = await run_tool_call(
        ctx, ToolCall(tool="search_record", args={"name": "metformin", "date_to": "1999-12-31"})
    )
    assert before.statements[0][0].startswith("not in this patient's record")


async def test_a_recorded_value_answers_without_a_yes() -> None:
    """ "Does she drink alcohol?": an AUDIT-C score is the answer as recorded; that an
    entry exists is no "yes" (a score of 0 would be a no)."""
    from agent.context import AgentSettings
    from tests._record_fixtures import MemorySource, obs, patient

    record = [patient("p1"), obs("o1", "72109-2", 0, "{score}", "2024-01-01", category="survey")]
    ctx = AgentContext(patient_id="p1", source=MemorySource({"p1": record}),
                       model=ScriptedChatModel([]), settings=AgentSettings())  # fmt: skip
    r = await run_tool_call(
        ctx,
        ToolCall(
            tool="search_record", args={"resource_type": "Observation", "name": "Alcohol use"}
        ),
    )
    [(said, _)] = r.leads["yesno"]
    assert not said.startswith("Yes")
    assert " 0 " in f" {said} "


async def test_abnormal_results_are_the_latest_out_of_their_range() -> None:
    """ "Any abnormal labs?": each series whose latest value is out of range, said against
    the range and whose range it is; one whose earlier value was high but latest is not is
    no abnormal result; none out of range is said, citing what was checked."""
    from agent.context import AgentSettings
    from tests._record_fixtures import MemorySource, obs, patient

    rng = {
        "referenceRange": [{"low": {"value": 4, "unit": "%"}, "high": {"value": 5.6, "unit": "%"}}]
    }
    record = [
        patient("p1"),
        obs("a1", "4548-4", 7.1, "%", "2023-01-01", **rng),
        obs("a2", "4548-4", 6.6, "%", "2024-01-01", **rng),
        obs("g1", "2345-7", 130, "mg/dL", "2023-01-01"),
        obs("g2", "2345-7", 90, "mg/dL", "2024-01-01"),
    ]
    ctx = AgentContext(patient_id="p1", source=MemorySource({"p1": record}),
                       model=ScriptedChatModel([]), settings=AgentSettings(),
                       as_of=dt.date(2025, 6, 1))  # fmt: skip
    r = await run_tool_call(ctx, ToolCall(tool="lab_trend", args={"out_of_range": "true"}))
    texts = [t for t, _ in r.leads["judge"]]
    assert texts[0].startswith("1 of the 2 lab and vital results with a range is out of range")
    assert any(
        "6.6 % on 2024-01-01, is above the reference range 4–5.6 % (as the record gives it)" in t
        for t in texts
    )
    assert not any("Glucose" in t or "130" in t for t in texts)
    only_2024 = await run_tool_call(
        ctx, ToolCall(tool="lab_trend", args={"out_of_range": "true", "date_to": "2023-06-01"})
    )
    assert only_2024.statements[0][0].startswith(
        "2 of the 2 lab and vital results with a range from"
    )
    with pytest.raises(ToolCallError):
        await run_tool_call(ctx, ToolCall(tool="lab_trend", args={}))


async def test_the_general_practitioner_is_said_or_said_to_be_unrecorded() -> None:
    """ "Who is her PCP?": the general practitioner the Patient names, cited to it; when it
    names none, that is said (not an empty answer, nor a guess from the visits)."""
    from agent.context import AgentSettings
    from agent.understand import understand
    from tests._record_fixtures import MemorySource, patient
    from tools.terminology import default_terminology

    assert understand("Who is her PCP?", terminology=default_terminology(),
                      as_of=dt.date(2025, 6, 1)).asks == "pcp"  # fmt: skip
    gp = {"generalPractitioner": [{"reference": "Practitioner/9", "display": "Dr. Ana Lima"}]}
    for extra, said in ((gp, "The general practitioner on record for "),
                        ({}, "No general practitioner is recorded for ")):  # fmt: skip
        ctx = AgentContext(patient_id="p1", source=MemorySource({"p1": [patient("p1", **extra)]}),
                           model=ScriptedChatModel([]), settings=AgentSettings())  # fmt: skip
        r = await run_tool_call(ctx, ToolCall(tool="record_summary", args={"section": "patient"}))
        [(text, handles)] = r.leads["pcp"]
        assert text.startswith(said), text
        assert ("Dr. Ana Lima" in text) == bool(extra)
        assert handles

"""The judgeqa question set: determinism and coverage, the ground truth on hand-built
records, the stance reader, the judgement scorer, the independence rule, and the oracle
through the ``fhir-bench judgeqa`` command."""

from __future__ import annotations

import collections
import json
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from bench.clinqa.record import Record, load_records
from bench.ehrqa.answer import AnswerRecord
from bench.ehrqa.generate import Question
from bench.ehrqa.score import read_stance, score
from bench.judgeqa import truth
from bench.judgeqa.generate import CATEGORIES, dump, generate, load_questions
from bench.judgeqa.phrasing import PHRASES, render
from tests._imports import imported_modules

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fhir_fixtures" / "patients"
SHARED = ROOT.parent / "shared" / "synthea"
REF = "2025-06-01"

# --------------------------------------------------------------------------- mini records


def _rec(*resources: dict[str, Any], gender: str = "female") -> Record:
    patient = {"resourceType": "Patient", "id": "p1", "gender": gender,
               "birthDate": "1960-01-01", "name": [{"family": "Doe", "given": ["Ann"]}]}  # fmt: skip
    return Record("mini.json", patient, [patient, *resources])


def _cond(cid: str, code: str, display: str, status: str, abated: str | None = None) -> dict:
    r: dict[str, Any] = {
        "resourceType": "Condition",
        "id": cid,
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": code,
                             "display": display}]},
        "clinicalStatus": {"coding": [{"code": status}]},
        "onsetDateTime": "2020-01-01",
    }  # fmt: skip
    if abated:
        r["abatementDateTime"] = abated
    return r


def _med(mid: str, name: str, status: str, when: str, reason: str | None = None) -> dict:
    r: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "id": mid,
        "status": status,
        "authoredOn": when,
        "medicationCodeableConcept": {"coding": [{"display": name}], "text": name},
    }
    if reason:
        r["reasonReference"] = [{"reference": f"Condition/{reason}"}]
    return r


def _a1c(oid: str, value: float, when: str) -> dict:
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "4548-4"}]},
        "effectiveDateTime": when,
        "valueQuantity": {"value": value, "unit": "%"},
    }


_DM = _cond("dm", "44054006", "Diabetes", "active")


@pytest.mark.parametrize(("value", "stance"), [(6.1, True), (9.0, False), (7.4, None)])
def test_a1c_control_bands(value: float, stance: bool | None) -> None:
    rec = _rec(_DM, _a1c("old", 10.0, "2019-01-01"), _a1c("new", value, "2024-03-02"))
    fact = truth.control(rec, {"condition": "diabetes"}, REF)
    assert fact is not None
    assert fact.answer["stance"] is stance
    assert fact.answer["facts"] == [
        {"type": "number_date", "value": value, "unit": "%", "date": "2024-03-02"}
    ]
    assert fact.groups == [["Observation/new"]]


def test_control_not_asked_without_active_condition_or_result() -> None:
    resolved_dm = _cond("dm", "44054006", "Diabetes", "resolved", "2021-01-01")
    assert truth.control(_rec(resolved_dm, _a1c("a", 6.0, "2024-01-01")),
                         {"condition": "diabetes"}, REF) is None  # fmt: skip
    assert truth.control(_rec(_DM), {"condition": "diabetes"}, REF) is None


def test_blood_pressure_from_panel_components() -> None:
    htn = _cond("h", "38341003", "Hypertension", "active")
    panel = {
        "resourceType": "Observation", "id": "bp", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]},
        "effectiveDateTime": "2024-05-01T10:00:00Z",
        "component": [
            {"code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
             "valueQuantity": {"value": 128, "unit": "mm[Hg]"}},
            {"code": {"coding": [{"system": "http://loinc.org", "code": "8462-4"}]},
             "valueQuantity": {"value": 92, "unit": "mm[Hg]"}},
        ],
    }  # fmt: skip
    fact = truth.control(_rec(htn, panel), {"condition": "hypertension"}, REF)
    assert fact is not None
    assert fact.answer["stance"] is False  # diastolic ≥ 90
    assert [f["value"] for f in fact.answer["facts"]] == [128, 92]


def test_resolved_vs_active_episode() -> None:
    old = _cond("s1", "444814009", "Viral sinusitis (disorder)", "resolved", "2020-01-20")
    new = _cond("s2", "444814009", "Viral sinusitis (disorder)", "active")
    yes = truth.resolved(_rec(old), {"concept": "sinusitis"}, REF)
    no = truth.resolved(_rec(old, new), {"concept": "sinusitis"}, REF)
    assert yes is not None
    assert yes.answer["stance"] is True
    assert yes.groups == [["Condition/s1"]]
    assert no is not None
    assert no.answer["stance"] is False
    assert no.groups == [["Condition/s2"]]
    chronic = _cond("c", "40055000", "Chronic sinusitis (disorder)", "active")
    assert truth.resolved(_rec(chronic), {"concept": "sinusitis"}, REF) is None


def test_drug_stopped_vs_active() -> None:
    a = _med("m1", "Metformin 500 MG Oral Tablet", "stopped", "2019-01-01")
    b = _med("m2", "Metformin 500 MG Oral Tablet", "completed", "2020-01-01")
    c = _med("m3", "Metformin 1000 MG Oral Tablet", "active", "2021-01-01")
    off = truth.stopped(_rec(a, b), {"concept": "metformin"}, REF)
    on = truth.stopped(_rec(a, b, c), {"concept": "metformin"}, REF)
    assert off is not None
    assert off.answer["stance"] is True
    assert off.groups == [["MedicationRequest/m2"]]  # the latest order
    assert on is not None
    assert on.answer["stance"] is False
    assert on.groups == [["MedicationRequest/m3"]]
    held = _med("m4", "Metformin 500 MG Oral Tablet", "on-hold", "2022-01-01")
    assert truth.stopped(_rec(a, held), {"concept": "metformin"}, REF) is None
    # the records' misspelt statin counts as a statin
    statin = _med("s", "Simvistatin 10 MG", "active", "2020-01-01")
    got = truth.stopped(_rec(statin), {"concept": "statin"}, REF)
    assert got is not None
    assert got.answer["stance"] is False


def test_med_with_reason_reference() -> None:
    met = _med("m1", "24 HR Metformin hydrochloride 500 MG Extended Release Oral Tablet",
               "active", "2021-01-01", reason="dm")  # fmt: skip
    other = _med("m2", "Acetaminophen 325 MG Oral Tablet", "stopped", "2020-01-01")
    rec = _rec(_DM, met, other)
    treated = truth.treated_for(rec, {"concept": "diabetes"}, REF)
    assert treated is not None
    assert treated.answer_type == "set"
    assert treated.answer["value"] == [met["medicationCodeableConcept"]["text"]]
    assert "Metformin" in treated.answer["aliases"][0]
    assert treated.groups == [["MedicationRequest/m1"]]
    why = truth.why_med(rec, {"drug": "metformin"}, REF)
    assert why is not None
    assert why.answer_type == "choice"
    assert why.answer["value"] == "Diabetes"
    assert "type 2 diabetes" in why.answer["accept"]
    assert why.groups == [["MedicationRequest/m1"], ["Condition/dm"]]
    assert truth.why_med(rec, {"drug": "acetaminophen"}, REF) is None  # no reason recorded
    # an active insulin without a reason: "what is she taking for her diabetes?" unsure
    insulin = _med("m3", "Insulin Glargine 100 UNT/ML", "active", "2021-02-01")
    assert truth.treated_for(_rec(_DM, met, insulin), {"concept": "diabetes"}, REF) is None


def test_flu_due_and_allergy_severity() -> None:
    shot = {
        "resourceType": "Immunization",
        "id": "f",
        "status": "completed",
        "vaccineCode": {"coding": [{"system": "http://hl7.org/fhir/sid/cvx", "code": "140"}]},
        "occurrenceDateTime": "2024-01-18",
    }  # fmt: skip  (500 days before 2025-06-01)
    due = truth.flu_due(_rec(shot), {}, REF)
    assert due is not None
    assert due.answer["stance"] is True
    assert due.answer["facts"] == [{"type": "date", "value": "2024-01-18"}]
    recent = dict(shot, occurrenceDateTime="2025-01-01")
    not_due = truth.flu_due(_rec(recent), {}, REF)
    assert not_due is not None
    assert not_due.answer["stance"] is False
    assert truth.flu_due(_rec(dict(shot, occurrenceDateTime="2024-06-01")), {}, REF) is None
    never = truth.flu_due(_rec(), {}, REF)
    assert never is not None
    assert never.answer["stance"] is True
    assert never.groups == [["Patient/p1"]]

    def allergy(aid: str, crit: str | None) -> dict:
        r = {"resourceType": "AllergyIntolerance", "id": aid,
             "clinicalStatus": {"coding": [{"code": "active"}]},
             "code": {"coding": [{"display": f"Allergy to {aid}"}]}}  # fmt: skip
        return r | ({"criticality": crit} if crit else {})

    sev = truth.allergy_severity(_rec(allergy("peanut", "high"), allergy("mould", "low")), {}, REF)
    assert sev is not None
    assert sev.answer["stance"] is True
    assert sev.answer["facts"][0]["names"][:2] == ["Allergy to peanut", "peanut"]
    mild = truth.allergy_severity(_rec(allergy("mould", "low")), {}, REF)
    assert mild is not None
    assert mild.answer["stance"] is False
    assert truth.allergy_severity(_rec(allergy("mould", None)), {}, REF) is None
    assert truth.allergy_severity(_rec(), {}, REF) is None


# --------------------------------------------------------------------------- stance reader

_SENTENCES: list[tuple[str, str, bool | None]] = [
    ("control", "Yes, her A1c of 6.1 % on 2024-03-02 is at goal.", True),
    ("control", "Her diabetes appears well controlled (A1c 6.1 %).", True),
    ("control", "It seems to be under control.", True),
    ("control", "No. The latest A1c was 9.0 %.", False),
    ("control", "His blood pressure is not controlled: 189/118 mmHg.", False),
    (
        "control",
        "Systolic BP: the latest, 185.8 mm[Hg], is above the reference range, and does "
        "not meet the usual treatment goal (below 130 mm[Hg], per ACC/AHA).",
        False,
    ),
    ("control", "HbA1c: the latest, 6.6 %, meets the usual treatment goal (below 7 %).", True),
    ("control", "She has not reached her A1c goal.", False),
    ("control", "Poorly controlled; the last reading was 150/100.", False),
    ("control", "It doesn't appear to be well controlled.", False),
    ("control", "Her LDL is above goal at 170 mg/dL.", False),
    ("control", "Uncontrolled hypertension, BP 160/95.", False),
    ("resolved", "Yes, it resolved in March 2020.", True),
    ("resolved", "The sinusitis seems to have cleared up.", True),
    ("resolved", "It is no longer active.", True),
    ("resolved", "It has not resolved; the condition is still active.", False),
    ("resolved", "The episode is listed as active in the chart.", False),
    ("resolved", "No, it appears to be ongoing.", False),
    ("stopped", "Yes, metformin was stopped in 2019.", True),
    ("stopped", "She is no longer taking it.", True),
    ("stopped", "She is not currently on lisinopril.", True),
    ("stopped", "It appears the statin was discontinued.", True),
    ("stopped", "No longer on it; the last order was completed.", True),
    ("stopped", "She is still on metformin (active order).", False),
    ("stopped", "No, the prescription is still active.", False),
    ("stopped", "It has not been stopped; he remains on it.", False),
    ("stopped", "He is currently taking simvastatin.", False),
    ("severe", "Yes: a high-criticality peanut allergy.", True),
    ("severe", "She has a severe reaction history to penicillin.", True),
    ("severe", "None of her allergies is severe; all are low criticality.", False),
    ("severe", "Her allergies appear to be mild.", False),
    ("severe", "There are no serious allergies on file.", False),
    ("severe", "They are not dangerous; criticality is low.", False),
    ("due", "Yes, she is due; her last flu shot was on 2020-09-17.", True),
    ("due", "He appears to be overdue for his flu vaccine.", True),
    ("due", "She needs one: the last was in 2020.", True),
    ("due", "He is not up to date on his flu shot.", True),
    ("due", "Not due yet, he had one in January.", False),
    ("due", "She seems up to date with her influenza vaccine.", False),
    ("due", "She doesn't need one right now.", False),
    ("due", "The flu shot was given for a reason unrelated to the visit.", None),
]


@pytest.mark.parametrize(("kind", "text", "want"), _SENTENCES)
def test_stance_reader(kind: str, text: str, want: bool | None) -> None:
    assert read_stance(text, kind) is want


def _question(answer_type: str, answer: dict[str, Any], **params: Any) -> Question:
    return Question(
        id="q", patient_id="p1", patient_name="Ann Doe", category="control", kind="control",
        answer_type=answer_type, text="Is her diabetes under control?", answer=answer,
        evidence=["Observation/new"], evidence_groups=[["Observation/new"]],
        params={"text_rules": "judgeqa", **params}, definition="test",
    )  # fmt: skip


def test_judgement_scorer_end_to_end() -> None:
    q = _question("judgement", {
        "stance": True, "stance_kind": "control",
        "facts": [{"type": "number_date", "value": 6.123, "unit": "%", "date": "2024-03-02"}],
    }, stance_kind="control")  # fmt: skip

    def run(text: str, **kw: Any) -> dict[str, Any]:
        return score(q, AnswerRecord(text=text, **kw))

    right = run("Yes, it is well controlled: A1c 6.1 % on 2024-03-02. [Observation/new]",
                citations=["Observation/new"])  # fmt: skip
    assert right["score"] == 1.0
    assert right["correct"]
    assert right["citation_recall"] == 1.0
    no_value = run("Yes, it is well controlled.")
    assert no_value["score"] == 0.5
    assert "fact 1" in no_value["detail"]
    wrong_stance = run("No, it is not controlled: A1c 6.1 % on 2024-03-02.")
    assert wrong_stance["score"] == 0.5
    assert "stance" in wrong_stance["detail"]
    wrong_date = run("Controlled; A1c 6.1 % on 2023-03-02.")
    assert wrong_date["score"] == 0.5
    assert run("That is not in the record.", not_in_record=True)["score"] == 0.0
    assert run("It is not in the record.")["score"] == 0.0
    # a stance the truth leaves open (7–8 %) is not scored: the facts alone count
    borderline = _question("judgement", {"stance": None, "stance_kind": "control", "facts": [
        {"type": "number_date", "value": 7.4, "unit": "%", "date": "2024-03-02"}]})  # fmt: skip
    assert score(borderline, AnswerRecord(text="Borderline, 7.4 % on 2024-03-02"))["score"] == 1
    names = _question("judgement", {"stance": True, "stance_kind": "severe", "facts": [
        {"type": "name", "names": ["Allergy to peanut", "peanut"]}]})  # fmt: skip
    assert score(names, AnswerRecord(text="Yes - a severe peanut allergy."))["score"] == 1
    assert score(names, AnswerRecord(text="Yes, one is severe."))["score"] == 0.5


def test_choice_reason_not_voided_by_a_none_phrase() -> None:
    q = _question("choice", {"value": "Diabetes", "accept": ["Diabetes", "type 2 diabetes"],
                             "reject": []})  # fmt: skip
    got = score(q, AnswerRecord(text="For her diabetes; there is no other reason recorded."))
    assert got["score"] == 1.0


# --------------------------------------------------------------------------- phrasing


def test_templates_render_and_vary() -> None:
    for key, voices in PHRASES.items():
        flat = [t for ts in voices.values() for t in ts]
        assert len(flat) >= 4, key
        assert len(set(flat)) == len(flat), key
        assert set(voices) == {"clin", "formal", "patient"}, key
        for t in flat:
            for gender in ("female", "male", "unknown"):
                text = render(t, gender=gender, name="Ms. Doe", x="metformin")
                assert "{" not in text, (key, t)
                assert text.endswith("?"), (key, t)
    assert render("Is {pos} sugar under control?", gender="male", name="") == (
        "Is his sugar under control?"
    )


# --------------------------------------------------------------------------- independence


@pytest.mark.parametrize("path", sorted((ROOT / "bench" / "judgeqa").glob("*.py")), ids=str)
def test_judgeqa_does_not_import_the_code_under_test(path: Path) -> None:
    imported = imported_modules(path)
    for mod in imported:
        assert mod.split(".")[0] not in ("tools", "agent", "surfaces"), (path.name, mod)


# --------------------------------------------------------------------------- the set


def test_fixture_set_is_deterministic(tmp_path: Path) -> None:
    a = dump(generate(FIXTURES, 30, seed=5))
    assert a == dump(generate(FIXTURES, 30, seed=5))
    path = tmp_path / "q.json"
    path.write_text(a)
    assert dump(load_questions(path)) == a
    qs = load_questions(path)
    assert qs
    assert all(q.params["text_rules"] == "judgeqa" for q in qs)


@pytest.mark.shared_data
@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/synthea is absent")
def test_eighty_questions_on_the_shared_synthea_records() -> None:
    qs = generate(SHARED, 80, seed=1)
    assert len(qs) == 80
    assert dump(qs) == dump(generate(SHARED, 80, seed=1))
    assert dump(qs) != dump(generate(SHARED, 80, seed=2))
    counts = collections.Counter(q.category for q in qs)
    assert set(counts) == set(CATEGORIES)
    assert len(counts) >= 8
    assert all(q.evidence and q.evidence_groups for q in qs)
    assert all(q.definition for q in qs)
    stances = {q.answer.get("stance") for q in qs if q.answer_type == "judgement"}
    assert stances >= {True, False}
    # no patient-voice question about a deceased patient
    dead = {
        r.patient_id
        for r in load_records(SHARED)
        if r.patient.get("deceasedDateTime") or r.patient.get("deceasedBoolean")
    }
    assert dead
    assert not [q.id for q in qs if q.patient_id in dead and q.params["voice"] == "patient"]
    assert {q.category for q in qs if q.patient_id in dead} <= {"why_med", "visit_reason"}
    assert len(generate(SHARED, 1000, seed=1)) >= 80
    assert json.loads(dump(qs[:2]))[0]["text"] == qs[0].text


@pytest.mark.shared_data
@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/synthea is absent")
def test_oracle_scores_everything_through_the_command(tmp_path: Path) -> None:
    from bench.judgeqa.cli import register

    app = typer.Typer()
    register(app)

    @app.callback()
    def _root() -> None:  # a group, so the command keeps its name
        return None

    out = tmp_path / "base.json"
    res = CliRunner().invoke(app, ["judgeqa", "--config", "baseline", "--data", str(SHARED),
                                   "--questions", "16", "--seed", "1", "--out", str(out)])  # fmt: skip
    assert res.exit_code == 0, res.output
    report = json.loads(out.read_text())
    assert report["overall"]["accuracy"] == 1.0
    assert report["overall"]["citation_recall"] == 1.0
    assert len(report["per_category"]) == 8

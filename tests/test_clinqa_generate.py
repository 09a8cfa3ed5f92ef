"""The clinqa question set: determinism, coverage of categories, threads and parts, the
phrasings, and the independence of the ground truth from the code under test."""

from __future__ import annotations

import collections
import json
import re
from pathlib import Path

import pytest

from bench.clinqa.generate import CATEGORIES, dump, generate, load_questions
from bench.clinqa.phrasing import PHRASES, a_an, render
from bench.clinqa.record import load_records
from bench.ehrqa.generate import Question
from tests._imports import imported_modules

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fhir_fixtures" / "patients"
SHARED = ROOT.parent / "shared" / "synthea"


@pytest.fixture(scope="module")
def fixture_questions() -> list[Question]:
    return generate(FIXTURES, 120, seed=3)


def test_same_seed_same_questions_other_seed_other_draw(tmp_path: Path) -> None:
    a = dump(generate(FIXTURES, 60, seed=5))
    assert a == dump(generate(FIXTURES, 60, seed=5))
    assert a != dump(generate(FIXTURES, 60, seed=6))
    path = tmp_path / "q.json"
    path.write_text(a)
    assert dump(load_questions(path)) == a  # threads and parts survive the round trip


def test_fixture_set_covers_the_categories(fixture_questions: list[Question]) -> None:
    qs = fixture_questions
    assert len(qs) == 120
    counts = collections.Counter(q.category for q in qs)
    assert set(counts) == set(CATEGORIES)
    assert max(counts.values()) - min(counts.values()) <= 2  # balanced round robin
    assert len({q.id for q in qs}) == len(qs)
    for q in qs:
        assert not re.search(r"[{}]", q.text), q.text
        assert q.definition
        assert q.params["text_rules"] == "clinqa"
        assert q.answer_type in ("number_date", "date", "count", "set", "yesno", "exact",
                                 "choice", "not_in_record", "parts")  # fmt: skip
        if q.answer_type == "not_in_record":
            assert q.evidence == []
            assert q.evidence_groups == []
        else:
            assert set(q.evidence) >= {r for g in q.evidence_groups for r in g}


def test_threads_are_consecutive_and_carry_their_history(fixture_questions: list[Question]) -> None:
    qs = fixture_questions
    threads = [i for i, q in enumerate(qs) if q.turn == 1]
    assert threads
    for i in threads:
        first, second = qs[i], qs[i + 1]
        assert first.thread
        assert second.thread == first.thread
        assert second.turn == 2
        assert second.history == [first.text]
        assert second.patient_id == first.patient_id
        assert first.category == second.category == "follow_up"
    # a follow-up refers back instead of naming what it asks about
    follow = [q for q in qs if q.turn == 2 and q.params["variant"] != "other_lab"]
    assert any(re.search(r"\b(it|that|those|one)\b", q.text, re.I) for q in follow)


def test_two_in_one_questions_have_scalar_parts(fixture_questions: list[Question]) -> None:
    pairs = [q for q in fixture_questions if q.answer_type == "parts"]
    assert pairs
    for q in pairs:
        assert len(q.parts) == 2
        assert q.evidence_groups == [g for p in q.parts for g in p["evidence_groups"]]
        assert all(p["answer_type"] not in ("set", "parts") for p in q.parts)


def test_every_phrasing_renders_for_every_pronoun() -> None:
    slots = {"x": "A1c", "y": "eye exam", "s": "a1C", "w": "in the past 6 months",
             "since": " since 2015"}  # fmt: skip
    for key, voices in PHRASES.items():
        for voice, templates in voices.items():
            assert voice in ("clin", "formal", "patient"), key
            assert len(set(templates)) == len(templates), key
            for t in templates:
                for gender in ("female", "male", "unknown"):
                    text = render(t, gender=gender, name="Ms. Doe", **slots)
                    assert "{" not in text
    assert (
        render("{Is} {sub} on {x}?", gender="unknown", name="", x="insulin")
        == "Are they on insulin?"
    )
    assert a_an("eye exam") == "an eye exam"
    assert a_an("ECG") == "an ECG"
    assert a_an("CT of the chest") == "a CT of the chest"
    assert a_an("stitches") == "stitches"


_GROUND_TRUTH = ("record.py", "concepts.py", "truth.py", "windows.py", "phrasing.py", "generate.py")


@pytest.mark.parametrize("name", _GROUND_TRUTH)
def test_ground_truth_does_not_import_the_code_under_test(name: str) -> None:
    imported = imported_modules(ROOT / "bench" / "clinqa" / name)
    for mod in imported:
        top = mod.split(".")[0]
        assert top not in ("tools", "agent", "surfaces"), (name, mod)
        if top == "bench":
            assert mod in ("bench.ehrqa.score", "bench.ehrqa.generate") or mod.startswith(
                "bench.clinqa"
            ), (name, mod)


@pytest.mark.shared_data
@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/synthea is absent")
def test_two_hundred_questions_on_the_shared_synthea_records() -> None:
    qs = generate(SHARED, 200, seed=1)
    assert len(qs) == 200
    counts = collections.Counter(q.category for q in qs)
    assert len(counts) >= 12
    assert min(counts.values()) >= 10
    assert len({q.patient_id for q in qs}) == 30
    assert len({q.text for q in qs}) >= 170  # many phrasings, not one template per kind
    voices = collections.Counter(q.params["voice"] for q in qs)
    assert min(voices.values()) >= 20  # clinicians' shorthand, formal, patients' own words
    # every cited resource is the question's patient's
    owner = {}
    for rec in load_records(SHARED):
        for r in rec.resources:
            owner[f"{r['resourceType']}/{r['id']}"] = rec.patient_id
    for q in qs:
        for ref in q.evidence:
            assert owner[ref] == q.patient_id, (q.id, ref)
    # the not-in-record questions are about things no resource of the patient names
    nir = [q for q in qs if q.category == "not_in_record"]
    assert all(q.answer_type == "not_in_record" for q in nir)
    assert json.loads(dump(qs[:3]))[0]["text"] == qs[0].text

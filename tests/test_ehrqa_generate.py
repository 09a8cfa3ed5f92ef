"""EHRQA generator: ground truth checked against values read by hand from the fixtures.

The expected values below were read from the fixture JSON files (fhir_fixtures/patients)
by a person, not computed by the generator or by the record tools.
"""

from __future__ import annotations

import random
import statistics
from pathlib import Path

import pytest

from bench.ehrqa.generate import (
    CATEGORIES,
    Question,
    dump,
    generate,
    generate_for_patient,
    load_patient,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fhir_fixtures" / "patients"
DEBORA = "3f96088f-1f08-47cd-b67b-a57e269ce08b"
ADAN = "2ccc21b0-f707-43eb-a896-248f843c1308"
CLEO = "4b54bebd-7f01-4a33-8494-0214dc432e46"
JARRED = "cdb486b4-716b-4e83-9e27-8a68620dd1fe"

# Débora Nazario's HbA1c (LOINC 4548-4) results, all status final, read from the bundle.
DEBORA_HBA1C = {
    "2016-12-14": 6.9,
    "2019-03-13": 6.9,
    "2021-01-20": 6.8,
    "2021-12-25": 7.4,
    "2022-11-16": 6.6,
    "2023-12-21": 8.1,
    "2024-06-03": 7.6,
    "2025-01-15": 6.6,
}


def _all(pid: str) -> list[Question]:
    rec = load_patient(next(FIXTURES.glob(f"*_{pid}.json")))
    assert rec is not None
    qs = generate_for_patient(rec, random.Random(0), per_kind=1000)
    return [q for cat in qs.values() for q in cat]


def _one(qs: list[Question], kind: str, **params: str) -> Question:
    found = [
        q
        for q in qs
        if q.kind == kind
        and q.category != "not_in_record"
        and all(q.params.get(k) == v for k, v in params.items())
    ]
    assert len(found) == 1, (kind, params, len(found))
    return found[0]


def test_debora_latest_hba1c() -> None:
    q = _one(_all(DEBORA), "lab_latest", code="4548-4")
    assert q.answer_type == "number_date"
    assert q.answer["value"] == 6.6
    assert q.answer["unit"] == "%"
    assert q.answer["date"] == "2025-01-15"
    assert q.evidence == ["Observation/5ac105d9-cc34-416e-aa04-b25819f21da2"]
    assert "4548-4" in q.text


def test_debora_hba1c_average_matches_hand_values() -> None:
    q = _one(_all(DEBORA), "lab_average", code="4548-4")
    start, end = q.params["start"], q.params["end"]
    values = [v for d, v in DEBORA_HBA1C.items() if start <= d <= end]
    assert q.answer["value"] == pytest.approx(statistics.fmean(values))
    assert q.answer["n"] == len(values) == len(q.evidence_groups)


def test_debora_hba1c_trend_matches_hand_values() -> None:
    q = next(q for q in _all(DEBORA) if q.category == "lab_trend" and q.params["code"] == "4548-4")
    start, end = q.params["start"], q.params["end"]
    inside = [v for d, v in sorted(DEBORA_HBA1C.items()) if start <= d <= end]
    delta = inside[-1] - inside[0]
    if q.kind == "lab_change":
        assert q.answer["value"] == pytest.approx(delta)
    else:
        assert q.answer["value"] == ("increased" if delta > 0 else "decreased")
    assert len(q.evidence_groups) == 2


def test_debora_demographics_meds_allergies() -> None:
    qs = _all(DEBORA)
    assert _one(qs, "age").answer["value"] == 66  # born 1959-05-13, on 2025-06-01
    assert _one(qs, "birth_date").answer["value"] == "1959-05-13"
    assert _one(qs, "gender").answer["value"] == "female"
    meds = _one(qs, "current_medications")
    assert meds.answer["value"] == ["losartan potassium 25 MG Oral Tablet"]
    assert meds.evidence == ["MedicationRequest/59092e53-c18b-44e7-b2f7-52f9abcca719"]
    allergies = _one(qs, "allergies")
    assert allergies.answer["value"] == ["Lisinopril", "Sulfamethoxazole / Trimethoprim"]
    assert len(allergies.evidence_groups) == 2


def test_adan_moen_has_nothing_but_a_visit() -> None:
    qs = _all(ADAN)
    assert _one(qs, "age").answer["value"] == 26  # born 1998-12-27
    assert _one(qs, "gender").answer["value"] == "male"
    for kind in ("active_conditions", "current_medications", "allergies"):
        q = _one(qs, kind)
        assert q.answer["value"] == [], kind
        assert q.evidence == [], kind
    assert not [q for q in qs if q.kind in ("lab_latest", "lab_average") and q.answer["value"]]
    last = _one(qs, "last_encounter")
    assert last.answer["value"] == "2024-02-11"
    assert last.evidence == ["Encounter/509d4743-5606-412f-bc11-4a79d124f9e7"]
    hep_b = _one(qs, "immunization_last", code="43")
    assert hep_b.answer["value"] == "2024-02-11"
    nir = [q for q in qs if q.category == "not_in_record"]
    assert nir
    assert all(q.answer_type == "not_in_record" and not q.evidence for q in nir)
    # e.g. HbA1c is not in his record
    assert any(q.kind == "lab_latest" for q in nir)


def test_cleotilde_excludes_entered_in_error_and_cancelled() -> None:
    qs = _all(CLEO)
    hba1c = _one(qs, "lab_latest", code="4548-4")
    # the real 5.0 % of 2025-04-30, not the entered-in-error 15.2 % of the same day
    assert hba1c.answer["value"] == 5.0
    assert hba1c.answer["date"] == "2025-04-30"
    assert "Observation/077773ea-06c8-5b7e-b361-120fd4154ea1" not in hba1c.evidence
    meds = _one(qs, "current_medications").answer["value"]
    assert "Simvastatin 20 MG Oral Tablet" not in meds  # cancelled
    assert "Digoxin 0.125 MG Oral Tablet" in meds
    assert len(meds) == 8
    assert _one(qs, "allergies").answer["value"] == ["Aspirin"]


def test_deceased_age_is_age_at_death() -> None:
    q = _one(_all(JARRED), "age")
    assert q.answer["value"] == 61  # born 1959-12-02, died 2021-07-07
    assert "die" in q.text


def test_seeded_and_balanced() -> None:
    a = generate(FIXTURES, 48, seed=3)
    b = generate(FIXTURES, 48, seed=3)
    c = generate(FIXTURES, 48, seed=4)
    assert dump(a) == dump(b)
    assert dump(a) != dump(c)
    assert len({q.id for q in a}) == 48
    counts = {cat: sum(q.category == cat for q in a) for cat in CATEGORIES}
    assert set(counts.values()) == {4}, counts
    for q in a:
        assert q.definition
        assert q.text.endswith(("?", "."))
        assert set(q.evidence) == {r for g in q.evidence_groups for r in g}


def test_question_round_trip() -> None:
    q = generate(FIXTURES, 1, seed=1)[0]
    assert Question.from_dict(q.as_dict()) == q

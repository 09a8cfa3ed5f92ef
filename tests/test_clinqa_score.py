"""The shared scorer on clinqa questions: the new answer types (choice, parts), set
aliases and optional items, and the free-text rules of questions in people's words. The
answers are written the way a model or a person would write them."""

from __future__ import annotations

from typing import Any

import pytest

from bench.ehrqa.answer import AnswerRecord
from bench.ehrqa.generate import Question
from bench.ehrqa.score import aggregate, score


def q(answer_type: str, answer: dict[str, Any], text: str = "?", kind: str = "k",
      **params: Any) -> Question:  # fmt: skip
    return Question(
        id="q", patient_id="p", patient_name="P", category="c", kind=kind,
        answer_type=answer_type, text=text, answer=answer, evidence=["Observation/1"],
        evidence_groups=[["Observation/1"]], params={"text_rules": "clinqa", **params},
        definition="",
    )  # fmt: skip


def s(question: Question, text: str, **kw: Any) -> float:
    return float(score(question, AnswerRecord(text=text, **kw))["score"])


def test_choice_accepts_class_or_type_and_rejects_another_class() -> None:
    visit = q("choice", {"value": "ambulatory", "accept": ["ambulatory", "outpatient", "check up"],
                         "reject": ["emergency", "inpatient"]})  # fmt: skip
    assert s(visit, "It was a routine check-up at the clinic on 2020-01-02.") == 1
    assert s(visit, "An outpatient visit.") == 1
    assert s(visit, "She was seen in the emergency department.") == 0
    assert s(visit, "A visit on 2020-01-02.") == 0


def part(kind: str, answer_type: str, answer: dict[str, Any], ref: str) -> dict[str, Any]:
    """One part of a two-in-one question, as the generator writes it."""
    return {"kind": kind, "answer_type": answer_type, "answer": answer, "evidence": [ref],
            "evidence_groups": [[ref]], "params": {"text_rules": "clinqa"}}  # fmt: skip


def parts_q(text: str, *parts: dict[str, Any]) -> Question:
    out = q("parts", {"value": [p["answer"] for p in parts]}, text)
    out.parts = list(parts)
    return out


def two_part() -> Question:
    return parts_q(
        "What's her latest A1c and when was her last eye exam?",
        part("lab_latest", "number_date", {"value": 6.1, "unit": "%", "date": "2020-01-02"},
             "Observation/1"),
        part("procedure_last", "date", {"value": "2019-05-05"}, "Procedure/2"),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Her latest A1c was 6.1 % on 2020-01-02, and her last eye exam was on 2019-05-05.", 1.0),
        ("Last eye exam: May 5, 2019. Latest HbA1c 6.1% (January 2, 2020).", 1.0),
        ("HbA1c 6.1 % on 2020-01-02; eye exam 2019-05-05", 1.0),
        # a sentence that starts with a name written with inner capitals ("eGFR", "pH")
        ("Eye exam: 2019-05-05. hbA1c: 6.1 % on 2020-01-02.", 1.0),
        # the A1c's date is not taken for the eye exam's
        ("Her latest A1c was 6.1 % on 2020-01-02. No eye exam date was given.", 0.5),
        ("Her latest A1c was 7.0 % on 2020-01-02 and her last eye exam was on 2019-05-05.", 0.5),
        ("I could not find either.", 0.0),
    ],
)
def test_two_questions_in_one_are_scored_part_by_part(text: str, expected: float) -> None:
    assert s(two_part(), text) == pytest.approx(expected)


def test_a_count_and_the_latest_value_in_one_sentence() -> None:
    # "How many cholesterol results, and the last value?": the tool's one sentence says
    # both; each part is scored against its own clause
    both = parts_q(
        "How many cholesterol results, and the last value?",
        part("lab_count", "count", {"value": 3}, "Observation/1"),
        part("lab_latest", "number_date",
             {"value": 180.74, "unit": "mg/dL", "date": "2010-09-01"}, "Observation/1"),
    )  # fmt: skip
    said = "Total cholesterol: 3 results since 2004-07-28, the latest 180.7 mg/dL on 2010-09-01."
    assert s(both, said) == pytest.approx(1.0)


def test_two_in_one_structured_values() -> None:
    got = score(two_part(), AnswerRecord(
        text="…", value=[{"value": 6.1, "unit": "%", "date": "2020-01-02"}, {"value": "2019-05-05"}]
    ))  # fmt: skip
    assert got["score"] == 1
    assert got["correct"]
    assert got["text_score"] == 0  # the text alone says nothing


def test_set_aliases_and_optional_items() -> None:
    meds = q("set", {"value": ["24 HR Metformin hydrochloride 500 MG Extended Release Oral Tablet",
                               "Hydrochlorothiazide 25 MG Oral Tablet"],
                     "aliases": [["Metformin hydrochloride", "Metformin"], ["Hydrochlorothiazide"]]})  # fmt: skip
    assert s(meds, "She takes metformin and hydrochlorothiazide.") == 1
    assert s(meds, "- Metformin 500 mg ER\n- Hydrochlorothiazide 25 mg") == 1
    assert s(meds, "Metformin only.") == pytest.approx(2 / 3)
    assert s(meds, "x", value=["Metformin", "Hydrochlorothiazide"]) == 1
    problems = q("set", {"value": ["Hypertension"], "optional": ["Full-time employment (finding)"]})
    assert s(problems, "Hypertension; full-time employment") == 1  # optional: not penalized
    assert s(problems, "Hypertension, asthma") == pytest.approx(2 / 3)
    assert s(problems, "x", value=["Hypertension", "Full-time employment"]) == 1
    none = q("set", {"value": []})
    assert s(none, "No allergies are recorded in her chart.") == 1
    assert s(none, "None on file.") == 1


def test_numbers_of_the_question_are_not_the_answer() -> None:
    visits = q("count", {"value": 3}, "How many visits in the last 5 years?")
    assert s(visits, "In the last 5 years she had 3 visits.") == 1
    assert s(visits, "3 visits in the past 5 years.") == 1
    zero = q("count", {"value": 0}, "How many times was she seen in the past 6 months?")
    assert s(zero, "She had no visits in the past 6 months.") == 1
    assert s(zero, "None.") == 1
    since = q("number_date", {"value": 6.1, "unit": "%", "date": "2020-01-02"},
              "What was her A1c since 2015?")  # fmt: skip
    assert s(since, "Since 2015 the latest was 6.1 % on 2020-01-02.") == 1


def test_not_in_record_phrasings() -> None:
    nir = q("not_in_record", {"value": None}, "Last TSH?")
    for text in ("No TSH on file.", "There is no TSH result in her record.",
                 "Her TSH has never been measured.", "I couldn't find a TSH.",
                 "TSH: not recorded.", "No TSH was checked in the past 6 months."):  # fmt: skip
        assert s(nir, text) == 1, text
    assert s(nir, "Her TSH was 2.1 mIU/L on 2020-01-01.") == 0
    value = q("number_date", {"value": 6.1, "unit": "%", "date": "2020-01-02"})
    # a value with a "none since" remark is still the value
    assert s(value, "6.1 % on 2020-01-02; no A1c has been recorded since.") == 1
    assert s(value, "No A1c is recorded.") == 0


def test_yes_no_without_a_leading_yes_or_no() -> None:
    allergic = q("yesno", {"value": False}, "Is she allergic to penicillin?")
    assert s(allergic, "She is not allergic to penicillin according to the record.") == 1
    assert s(allergic, "No penicillin allergy is documented.") == 1
    assert s(allergic, "She is allergic to penicillin.") == 0
    taking = q("yesno", {"value": True}, "Is he still taking metformin?")
    assert s(taking, "He is still taking metformin (active order from 2012).") == 1
    alive = q("yesno", {"value": True}, "Is she still alive?")
    assert s(alive, "Yes, no death is recorded.") == 1  # the leading yes wins


def test_trend_yes_no_in_words() -> None:
    worse = q("yesno", {"value": True}, "Is his kidney function getting worse?",
              yes_direction="decreased", better_direction="increased")  # fmt: skip
    assert s(worse, "Yes.") == 1
    assert s(worse, "His eGFR fell from 80 to 60 mL/min.") == 1
    assert s(worse, "It has gotten worse: eGFR 80 → 60.") == 1
    assert s(worse, "It has improved.") == 0
    assert s(worse, "It has not improved.") == 1
    better = q("yesno", {"value": False}, "Has her A1c improved since 2015?",
               yes_direction="decreased", better_direction="decreased")  # fmt: skip
    assert s(better, "It went up from 6.0 % to 7.1 %.") == 1
    assert s(better, "Her A1c is better now.") == 0
    # which way is better for the measure is not its course
    assert (
        s(better, "HbA1c: changed by +1.1 % (up) from 6.0 % to 7.1 %; for HbA1c, lower is better.")
        == 1
    )
    assert s(worse, "eGFR: changed by -20 (down) from 80 to 60; for eGFR, higher is better.") == 1


def test_direction_words_for_any_clinqa_direction_kind() -> None:
    prev = q("exact", {"value": "decreased"}, "Higher or lower than the one before?",
             kind="lab_vs_previous")  # fmt: skip
    assert s(prev, "Lower: 5.8 % vs 6.1 % before.") == 1
    assert s(prev, "It went up.") == 0
    # "-ing" forms say the direction too (cpu-demo: "Total cholesterol is increasing since
    # 2016." was scored wrong against "increased")
    up = q("exact", {"value": "increased"}, "Total cholesterol going up or down since 2016?",
           kind="lab_direction")  # fmt: skip
    assert s(up, "Total cholesterol is increasing since 2016.") == 1
    assert s(up, "It is declining.") == 0


def test_other_question_sets_are_scored_as_before() -> None:
    """Without ``text_rules`` the first number is the answer, even the question's own."""
    old = Question(
        id="q", patient_id="p", patient_name="P", category="encounters", kind="encounter_count",
        answer_type="count", text="How many encounters in 2019?", answer={"value": 4},
        evidence=[], evidence_groups=[], params={}, definition="",
    )  # fmt: skip
    assert score(old, AnswerRecord(text="In 2019 there were 4 encounters."))["score"] == 0
    assert score(old, AnswerRecord(text="4 encounters in 2019."))["score"] == 1


def test_aggregate_in_the_given_category_order() -> None:
    rows = [dict(score(q("count", {"value": 1}), AnswerRecord(text="1")), category=c)
            for c in ("zeta", "alpha", "mid")]  # fmt: skip
    agg = aggregate(rows, categories=("mid", "zeta"))
    assert list(agg["per_category"]) == ["mid", "zeta", "alpha"]
    assert list(aggregate(rows)["per_category"]) == ["alpha", "mid", "zeta"]

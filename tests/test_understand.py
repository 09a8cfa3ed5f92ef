"""agent.understand: what a question is about, read by code (terminology, general English)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from agent.prefetch import prefetch_calls
from agent.understand import Focus, understand
from tools.terminology import default_terminology

AS_OF = dt.date(2025, 6, 1)


def _read(question: str, previous: Focus | None = None) -> Focus:
    return understand(question, terminology=default_terminology(), as_of=AS_OF, previous=previous)


@pytest.mark.parametrize(
    "follow_up",
    [
        "And how has it changed?",
        "Trend: up or down overall?",
        "When was that?",
        "Any others?",
        "what about before 2015?",
    ],
)
def test_a_follow_up_that_names_nothing_carries_the_last_turns_focus(follow_up: str) -> None:
    first = _read("What is her latest LDL cholesterol?")
    assert [c.name for _w, c in first.concepts]
    f = _read(follow_up, previous=first)
    assert f.follow_up
    assert [c.id for _w, c in f.concepts] == [c.id for _w, c in first.concepts]


def test_a_new_question_is_not_a_follow_up() -> None:
    first = _read("What is her latest LDL cholesterol?")
    f = _read("Does she have any allergies on file at all in her chart, doctor?", previous=first)
    assert not f.follow_up
    assert f.sections == ["allergies"]
    g = _read("Is her A1c up?", previous=first)
    assert not g.follow_up
    assert [c.name for _w, c in g.concepts] == ["HbA1c"]


def test_on_or_before_a_day_includes_it() -> None:
    from agent.understand import window_of

    w = window_of("Her most recent HbA1c dated on or before 2020-11-21?", AS_OF)
    assert w is not None
    assert (w.start, w.end) == (None, dt.date(2020, 11, 21))
    w = window_of("Any HbA1c before 2020-11-21?", AS_OF)
    assert w is not None
    assert w.end == dt.date(2020, 11, 20)


def test_counts_demographics_and_the_problem_list() -> None:
    assert _read("How often has he had his HDL checked?").asks == "count"
    assert _read("number of A1c tests?").asks == "count"
    assert _read("Average sodium in 2005?").asks == "mean"
    assert _read("By how much did her weight change?").asks == "change"
    assert _read("What is her A1c?").asks is None
    for q in ("DOB pls", "Is she still alive?", "How old was he when he died?", "Date of death?"):
        assert "patient" in _read(q).sections, q
    assert _read("What health problems are listed for me?").current
    w = _read("Flu shot in the past decade?").window
    assert w is not None
    assert w.start == dt.date(2015, 6, 1)


def test_a_statistic_in_a_lab_name_is_not_asked_for() -> None:
    assert _read("Last recorded Platelet mean volume [Entitic volume] in Blood?").asks == "latest"
    assert _read("Mean platelet volume average in 2019?").asks == "mean"


def test_previous_death_and_hash_counts_are_asked_for() -> None:
    assert _read("Was his most recent potassium higher or lower than the one before?").asks == (
        "previous"
    )
    assert _read("Is her sodium up compared to the previous one?").asks == "previous"
    assert _read("# of Hgb results?").asks == "count"
    assert _read("Date of death?").asks == "death"
    assert _read("How old was he when he died?").asks == "death"
    assert _read("When was she born?").asks == "birth"
    assert _read("How old is he?").asks == "birth"
    assert _read("Is the patient male or female?").asks == "sex"
    assert _read("What was her last HbA1c?").asks == "latest"  # "age" is not in it


def test_a_section_question_that_points_back_keeps_the_named_thing() -> None:
    """ "When was it last prescribed?" names a section (prescriptions) and points back at
    the drug the last turn named; "What medications is she on?" points at nothing."""
    first = _read("Is she still taking fexofenadine?")
    f = _read("When was it last prescribed?", previous=first)
    assert f.follow_up
    assert [c.id for _w, c in f.concepts] == ["fexofenadine"]
    assert f.sections == ["medications"]
    g = _read("How many results like that are in her record?", previous=_read("Her last HbA1c?"))
    assert [c.name for _w, c in g.concepts] == ["HbA1c"]
    assert g.asks == "count"
    h = _read("What medications is she on?", previous=first)
    assert not h.follow_up
    assert not h.concepts


def test_a_test_named_inside_its_groups_phrase_comes_first() -> None:
    """ "cholesterol number" names the lipid tests; "cholesterol" alone names the total
    cholesterol, which leads; a group word naming no member stays the group."""
    f = _read("What's my most recent cholesterol number?")
    assert [c.name for _w, c in f.concepts] == ["Total cholesterol", "Lipid tests"]
    g = _read("How are my kidney numbers?")
    assert [c.name for _w, c in g.concepts] == ["Kidney function tests"]


def test_direction_questions_ask_for_the_change() -> None:
    for q in (
        "Did her potassium go up or down between 2020-01-01 and 2020-12-31 (last vs first)?",
        "Is her creatinine trending up or down?",
        "Comparing the first and last albumin results, did it increase or decrease?",
    ):
        assert _read(q).asks == "change", q
    assert _read("How does her latest triglycerides compare with the previous result?").asks == (
        "previous"
    )
    assert _read("What weight was recorded for him most recently?").asks == "latest"


def test_yes_or_no_questions_and_alive() -> None:
    for q in ("On acetaminophen?", "Obesity on the problem list?", "Do I have asthma?",
              "Allergic to peanuts?", "Colonoscopy done?"):  # fmt: skip
        assert _read(q).asks == "yesno", q
    for q in ("On what date was her last cardioversion?", "What is her A1c?"):
        assert _read(q).asks != "yesno", q
    assert _read("Is he still alive?").asks == "alive"
    for q in ("Has she ever had asthma?", "Any history of appendicitis?", "Have I had shingles?"):
        assert _read(q).asks == "ever", q
    assert _read("Flu vaccine over the last ten years?").asks == "yesno"  # a window, not "latest"
    # results asked of as done: whether there is one at all ("ever"), not a yes of a value
    assert _read("Any labs last year?").asks == "ever"
    assert _read("was her A1c checked?").asks == "ever"
    assert _read("is he growing normally?").asks == "yesno"
    assert _read("When was her last visit?").asks == "latest"


def test_a_section_word_inside_a_name_names_no_section() -> None:
    """ "Drug overdose" is a condition, not a question about drugs; "allergic rhinitis" is
    no question about allergies; "allergies" alone still is."""
    assert _read("Since when does the patient have Drug overdose?").sections == []
    assert _read("Allergic rhinitis on the problem list?").sections == ["conditions"]
    assert _read("Any allergies?").sections == ["allergies"]
    assert _read("What drugs is she on?").sections == ["medications"]


def test_each_part_of_a_question_asks_for_its_own() -> None:
    """ "Do I have sinusitis, and what was my last eGFR?": a yes or no about sinusitis and
    the latest eGFR, not the latest of both; one question keeps one ask."""
    two = _read("Do I have sinusitis, and what was my last eGFR?")
    assert two.part_asks == {"sinusitis": "yesno", "egfr": "latest"}
    assert _read("What was my last A1c and do I have diabetes?").part_asks == {
        "hba1c": "latest", "diabetes_mellitus": "yesno",
    }  # fmt: skip
    assert _read("Is she on metformin? What is her latest A1c?").part_asks == {
        "metformin": "yesno", "hba1c": "latest",
    }  # fmt: skip
    for one in ("Is she on metformin and lisinopril?", "How many A1c results, and the last one?"):
        assert _read(one).part_asks == {}, one
    calls = prefetch_calls("Do I have sinusitis, and what was my last eGFR?")
    assert [(c["args"].get("name"), c.get("asks")) for c in calls] == [
        ("Sinusitis", "yesno"), ("eGFR", "latest"),
    ]  # fmt: skip


def test_at_the_last_visit_is_that_visits_day() -> None:
    """ "Did they check my white count at my last visit?": the last visit's day is the
    window (a yes or no, not "the latest"); without a known visit there is no window."""
    from agent.understand import window_of

    day = dt.date(2021, 3, 14)
    for q in ("Did they check my white count at my last visit?",
              "Was her HDL measured during her most recent appointment?"):  # fmt: skip
        w = window_of(q, dt.date(2025, 6, 1), {"visit": day})
        assert w is not None, q
        assert (w.start, w.end) == (day, day)
    w = window_of("Weight at his last physical?", dt.date(2025, 6, 1), {"check-up": day})
    assert w is not None
    assert w.start == day
    assert window_of("Did they check my white count at my last visit?", dt.date(2025, 6, 1)) is None
    assert _read("Did they check my white count at my last visit?").asks != "latest"


def test_since_a_period_runs_up_to_now() -> None:
    """ "Did her A1c improve since last year?" is from the start of last year to now, not
    last year alone; "since 2019" from that year's start; "last year" alone is that year."""
    from agent.understand import window_of

    as_of = dt.date(2025, 6, 1)
    cases = {
        "did her a1c improve since last year?": (dt.date(2024, 1, 1), as_of),
        "labs last year?": (dt.date(2024, 1, 1), dt.date(2024, 12, 31)),
        "weight since last spring": (dt.date(2025, 3, 1), as_of),
        "weight last spring": (dt.date(2025, 3, 1), dt.date(2025, 5, 31)),
        "visits since 2019": (dt.date(2019, 1, 1), as_of),
        "visits in 2019": (dt.date(2019, 1, 1), dt.date(2019, 12, 31)),
    }
    for q, (start, end) in cases.items():
        w = window_of(q, as_of)
        assert w is not None, q
        assert (w.start, w.end) == (start, end), q


def test_a_judgement_is_not_a_yes_for_an_entry_that_exists() -> None:
    """ "Is her diabetes controlled?" was answered "Yes — Diabetes mellitus type 2: active"
    (a yes to "does she have it"); a judgement asks for the entries, not a yes."""
    for q in ("is her diabetes controlled?", "is she up to date on her flu shot?",
              "is her a1c normal?", "Is she due for a mammogram?", "Is her BP at target?",
              "How is her diabetes doing?", "how are things going with his gout"):  # fmt: skip
        assert _read(q).asks == "judge", q
    for q in ("What is she doing for exercise?", "What is going on with her knee?"):
        assert _read(q).asks != "judge", q
    for q in ("does she have diabetes?", "Is she on a statin?", "Any allergies?"):
        assert _read(q).asks == "yesno", q


def test_an_ed_visit_is_the_emergency_department() -> None:
    for q in ("any ED visits?", "How many times has she been to the ER?", "ER visits in 2019?",
              "how many ER trips?", "any trips to the ER?"):  # fmt: skip
        assert [c.id for _w, c in _read(q).concepts] == ["emergency"], q
    assert [c.id for _w, c in _read("history of ED?").concepts] == ["erectile_dysfunction"]


def test_a_care_setting_is_named_by_the_words_people_use() -> None:
    """ "Hospitalized", "admitted to the hospital", "telehealth": a care setting (an
    encounter's class), not a section word that lists every visit."""
    for q, setting in (("Has she ever been hospitalized?", "inpatient"),
                       ("Was he admitted to the hospital last year?", "inpatient"),
                       ("any inpatient stays?", "inpatient"),
                       ("Has she had any telehealth visits?", "virtual"),
                       ("How many emergency room visits since 2019?", "emergency")):  # fmt: skip
        assert [c.id for _w, c in _read(q).concepts] == [setting], q


def test_a_past_window_is_not_now_and_not_ever() -> None:
    """ "What was she on in 2015?" asks about then (not her current list); "in the past
    year" is a window (not "ever"); a judgement is read whatever else is asked."""
    f = _read("What medications was she on in 2015?")
    assert not f.current
    assert f.window is not None
    assert f.window.label == "in 2015"
    assert _read("Is she on metformin?").current
    assert _read("Any abnormal labs in the past year?").asks != "ever"
    assert _read("Has she had a flu shot in the past?").asks == "ever"
    assert _read("Was her last A1c high?").judge
    assert not _read("What was her last A1c?").judge


def test_past_medical_history_names_the_conditions() -> None:
    for q in ("pmh?", "What is her past medical history?", "medical history"):
        assert "conditions" in _read(q).sections, q


def test_clinical_shorthand_for_a_drug() -> None:
    """ "on dig" is digoxin in clinicians' shorthand; the verb "dig" is not."""
    on_dig = _read("am i still on dig")
    assert [c.id for _w, c in on_dig.concepts] == ["digoxin"]
    assert on_dig.asks == "yesno"
    assert "digoxin" not in [c.id for _w, c in _read("Did they dig into my labs?").concepts]


def test_since_when_asks_for_the_first() -> None:
    """ "Since when?", "when was she diagnosed?", "her first HbA1c": when it began — not
    the first and last (a change), nor "first" in a window's name."""
    for q in ("Since when does she have diabetes?", "When was she diagnosed with asthma?",
              "What was her first HbA1c?", "When did he first get gout?",
              "How long has she had hypertension?", "earliest onset of sinusitis?"):  # fmt: skip
        assert _read(q).asks == "first", q
    assert _read("What was the first and last HbA1c?").asks == "change"


def test_an_ending_or_a_course_is_no_yes_no_about_existence() -> None:
    """ "Has her sinusitis resolved?", "is she off metformin?": a "yes" from the entries'
    existence would invert the answer; whether it ended is its own ask (the entries'
    statuses say); "when was it stopped?" asks a date and "should we stop it?" a judgement;
    "has it got better?" asks for its course (the change); "count the visits" a count."""
    for q in (
        "Has her sinusitis resolved?",
        "Is she off metformin?",
        "Did she stop taking it?",
        "Albuterol d/c'd?",
        "Is she no longer on warfarin?",
    ):
        assert _read(q).asks == "ended", q
    for q in ("Should we stop her metformin?", "Is it safe to stop the statin?"):
        assert _read(q).asks == "judge", q
    assert _read("When was metformin stopped?").asks != "ended"
    for q in (
        "Has her A1c gotten better?",
        "Is his HDL getting worse?",
        "Has her asthma improved?",
    ):
        assert _read(q).asks == "change", q
    assert _read("Count the patient's visits from 2014-01-01 to 2014-12-31.").asks == "count"
    two = _read("When did she last get a flu shot, and when a hepatitis B vaccine?")
    assert set(two.part_asks.values()) == {"latest"}


def test_prose_is_asked_for_in_its_own_words() -> None:
    """ "Describe …", "explain …", "summarize …": prose, which the model writes; a list or
    a fact is not ("what are her problems?"), nor "why is she on metformin?": the reason
    the record links to the order (or that it gives none), which code says."""
    for q in ("Describe every problem on her list in great detail.", "Explain her medications",
              "Summarize her cardiac history", "Explain why she is on metformin"):  # fmt: skip
        assert _read(q).narrative, q
    for q in ("What are her current problems?", "List her allergies", "Is she on metformin?",
              "Why is she on metformin?"):  # fmt: skip
        assert not _read(q).narrative, q
    assert _read("Why is she on metformin?").asks == "reason"
    assert _read("Are her allergies serious?").asks == "judge"


def test_words_found_asking_the_record_in_its_own_words() -> None:
    """Read off a sweep of clinicians' questions: "what surgeries has she had?" is a list,
    not a yes ("Yes — Suture open wound" had answered it); "anticoagulated" and "admitted"
    name the anticoagulants and inpatient stays; "better than before?" is against the
    previous result."""
    assert _read("What surgeries has she had?").asks is None
    assert _read("Has she ever had surgery?").asks == "ever"
    assert _read("history of surgery?").asks == "ever"
    assert [c.id for _w, c in _read("Is she anticoagulated?").concepts] == ["anticoagulant"]
    assert [c.id for _w, c in _read("How many times was she admitted?").concepts] == ["inpatient"]
    assert [c.id for _w, c in _read("Is his thyroid ok?").concepts] == ["thyroid_tests"]
    assert [c.id for _w, c in _read("thyroid cancer?").concepts] == ["thyroid_cancer"]
    assert _read("Is her A1c better than before?").asks == "previous"
    assert "conditions" in _read("What's his history?").sections
    assert "conditions" not in _read("What is her history of smoking?").sections
    assert _read("Is her A1c better than before she started metformin?").asks != "previous"


def test_what_is_due_is_its_own_question() -> None:
    for q in ("Anything overdue?", "What is she due for?", "Is she due for anything?",
              "Any care gaps?", "What's due?"):  # fmt: skip
        assert "due" in _read(q).sections, q
    for q in ("Is she due for a flu shot?", "What is due to her diabetes?"):
        assert "due" not in _read(q).sections, q


def test_an_elliptical_follow_up_asks_the_same_of_another_thing() -> None:
    latest = _read("What's her latest potassium?")
    for q in ("and sodium?", "what about her LDL?", "sodium?"):
        f = _read(q, previous=latest)
        assert f.asks == "latest", q
    assert _read("and sodium?").asks != "latest"  # no previous turn
    count = _read("How many HbA1c results does she have?")
    assert _read("and glucose?", previous=count).asks == "count"
    # a question of its own is not elliptical
    assert _read("Is her sodium normal?", previous=latest).asks == "judge"


def test_a_question_about_the_whole_patient_reads_the_current_lists() -> None:
    for q in ("What's going on with this patient?", "Give me an overview", "Catch me up on her"):
        f = _read(q)
        assert f.sections == ["conditions", "medications", "allergies"], q
        assert f.current, q
    assert _read("Summarize her diabetes care").sections == []  # a thing named


def test_last_month_and_last_week_are_the_calendar_ones() -> None:
    from agent.understand import window_of

    day = dt.date(2025, 6, 1)  # a Sunday
    month = window_of("Labs from last month?", day)
    assert month is not None
    assert (month.start, month.end) == (dt.date(2025, 5, 1), dt.date(2025, 5, 31))
    week = window_of("any visits last week", day)
    assert week is not None
    assert (week.start, week.end) == (dt.date(2025, 5, 19), dt.date(2025, 5, 25))
    since = window_of("what changed since last month?", day)
    assert since is not None
    assert (since.start, since.end) == (dt.date(2025, 5, 1), day)
    past = window_of("in the last month", day)  # the past month, not the calendar one
    assert past is not None
    assert past.end == day


def test_a_while_ago_is_what_the_record_held_then() -> None:
    f = _read("What was her A1c a year ago?")
    assert f.window is not None
    assert (f.window.start, f.window.end) == (None, dt.date(2024, 6, 1))
    from agent.understand import window_of

    # in an answer, "5 months ago" is a rounded duration, not a window for its dates
    assert window_of("her last flu shot was 5 months ago, on 2025-01-15", AS_OF) is None


def test_a_visit_that_dates_a_window_is_not_asked_of() -> None:
    # "since her last visit" dates what is asked; it asks the visits only when nothing
    # else is asked ("how many times have I been in since my last check-up?")
    assert _read("Any new meds since her last visit?").sections == ["medications"]
    assert _read("Any labs since his last physical?").sections == ["labs"]
    assert _read("How many times have I been in since my last check-up?").sections == ["encounters"]
    assert _read("How many visits since her last physical?").sections == ["encounters"]
    assert _read("How many times has she been in since her last physical?").sections == [
        "encounters"
    ]
    assert _read("Has she been in pain?").sections == []  # "been in" a state, not a visit


def test_side_effects_are_adverse_reactions() -> None:
    for q in ("Any side effects noted?", "Has she had adverse drug reactions?"):
        assert _read(q).sections == ["allergies"], q


def test_up_to_date_and_behind_ask_what_is_due() -> None:
    for q in ("Is she behind on anything?", "Is she up to date on her shots?",
              "Is he caught up on his labs?"):  # fmt: skip
        f = _read(q)
        assert "due" in f.sections, q
        assert "medications" not in f.sections, q  # "on anything" is no medication here
        assert f.asks == "judge", q
    assert "medications" in _read("Is she on anything?").sections
    assert "due" in _read("vaccines utd?").sections  # "up to date", as typed


def test_a_condition_not_on_record_is_asked_of_what_shows_it() -> None:
    # "is she overweight?" with no such entry: her BMI too, judged against its range; with
    # the entry, the entry answers
    from tests._record_fixtures import condition, obs, patient
    from tools.evidence import build_evidence

    record = [
        patient("p", birthDate="1970-01-01"),
        obs("b1", "39156-5", 26.5, "kg/m2", "2025-01-15T08:00:00+00:00", display="BMI"),
    ]
    ev = build_evidence(record, as_of=AS_OF)
    calls = prefetch_calls("Is she overweight?", ev, as_of=AS_OF)
    assert [(c["tool"], c["args"].get("name"), c.get("asks")) for c in calls] == [
        ("search_record", "Overweight", None),
        ("lab_trend", "BMI", "judge"),
    ]
    held = build_evidence(
        [*record, condition("ow", "238131007", "Overweight (finding)", "2020-01-01")], as_of=AS_OF
    )
    assert [c["tool"] for c in prefetch_calls("Is she overweight?", held, as_of=AS_OF)] == [
        "search_record"
    ]


def test_a_follow_up_keeps_whose_medications_were_asked() -> None:
    # "What is she on for her afib?" — "since when?": the afib medications' first orders,
    # not every medication's (the focus goes through the thread's state)
    first = _read("What is she on for her afib?")
    assert first.given_for == ["atrial_fibrillation"]
    kept = Focus.from_state(first.to_state(), default_terminology())
    f = _read("since when?", previous=kept)
    assert f.follow_up
    assert f.asks == "first"
    [call] = prefetch_calls("since when?", focus=f, as_of=AS_OF)
    assert call["args"] == {
        "resource_type": "MedicationRequest",
        "given_for": "Atrial fibrillation",
        "status": "active",
    }
    assert _read("Does she have afib?").given_for == []


def test_units_of_time_as_clinicians_abbreviate_them() -> None:
    def window(q: str) -> Any:
        w = _read(q).window
        assert w is not None, q
        return w

    assert window("any hospitalizations in the last 5 yrs?").label == "in the last 5 years"
    assert _read("any hospitalizations in the last 5 yrs?").asks != "latest"
    assert window("labs in the past 6 mos").start == dt.date(2024, 12, 1)
    assert window("A1c 2 yrs ago?").end == dt.date(2023, 6, 1)


def test_people_s_words_for_the_things_asked() -> None:
    # each came back empty or as the wrong list in a sweep of questions in clinicians' and
    # patients' own words over the shared Synthea patients
    def named(q: str) -> list[str]:
        return [c.id for _w, c in _read(q).concepts]

    assert "appendectomy" in named("when did he have his appendix out?")
    assert "retinopathy" in named("any retinopathy?")
    assert named("any cardiac procedures?") == ["cardiac_procedure"]
    assert "hba1c" in named("her last few A1cs?")  # an abbreviation's plural
    # an organ, as a patient names it (a follow-up "and her eyes?" had repeated the turn
    # before, about her kidneys)
    assert named("and her eyes?") == ["eye_disease"]
    assert named("how is his heart?") == ["cardiovascular_disease"]
    assert named("what about her lungs?") == ["respiratory_disease"]
    assert named("his heart rate?") == ["heart_rate"]  # the longer name wins
    assert _read("adhd meds?").given_for == ["adhd"]  # lower case, as people type it
    assert _read("what is she taking for memory?").given_for == ["dementia"]
    # "is her neuropathy treated?" had answered "Yes —" with the neuropathy entry itself
    assert _read("is her neuropathy treated?").given_for == ["neuropathy"]
    assert _read("treatment for her diabetes?").given_for == ["diabetes_mellitus"]
    assert "medications" not in _read("was she treated at the ER last year?").sections
    assert _read("has his kidney disease progressed?").asks == "change"
    assert _read("is his kidney function declining?").asks == "change"
    assert _read("when did he pass away?").asks == "death"
    assert _read("when did that start?").asks == "first"
    assert _read("has it gone up?").asks == "change"
    # "what does my a1c mean?" had been read as the mean of her results
    assert _read("what does my a1c mean?").asks != "mean"
    assert _read("what does my a1c mean?").narrative
    assert _read("what is her mean a1c?").asks == "mean"
    assert named("any bleeding?") == ["hemorrhage"]


def test_how_many_of_the_latest_results() -> None:
    assert _read("triglycerides last 3 values").recent == 3
    assert _read("her last few A1cs?").recent == 3
    assert _read("latest two readings of her BP").recent == 2
    assert _read("A1c over the last 3 years").recent is None  # a window
    assert _read("his last 2 visits").recent is None
    assert _read("her last A1c").recent is None


def test_since_then_is_dated_by_the_turn_before() -> None:
    first = _read("any new diagnoses since 2020?")
    assert first.window is not None
    f = _read("what about meds started since then?", previous=first)
    assert f.window is not None
    assert (f.window.start, f.window.end) == (dt.date(2020, 1, 1), AS_OF)
    assert _read("what about meds started since then?").window is None  # no turn before


def test_a_dead_patient_s_relative_windows_end_at_the_death() -> None:
    # "labs in the past 6 months" of a patient who died in 2012 had searched 2024–2025
    from tests._record_fixtures import patient
    from tools.evidence import build_evidence

    ev = build_evidence(
        [patient("p", birthDate="1936-10-06", deceasedDateTime="2012-07-31T10:00:00Z")],
        as_of=AS_OF,
    )
    f = understand(
        "labs in the past 6 months?", terminology=default_terminology(), as_of=AS_OF, evidence=ev
    )
    assert f.window is not None
    assert (f.window.start, f.window.end) == (dt.date(2012, 1, 31), dt.date(2012, 7, 31))


def test_what_he_died_of_and_opioid_use_disorder() -> None:
    calls = prefetch_calls("what did he die of?", as_of=AS_OF)
    assert ("search_record", {"resource_type": "Observation", "name": "Cause of death"}) in [
        (c["tool"], c["args"]) for c in calls
    ]
    assert not any(c["args"].get("name") == "Cause of death" for c in prefetch_calls(
        "when did he die?", as_of=AS_OF))  # fmt: skip
    # opioid abuse and dependence are both an opioid use disorder (DSM-5)
    t = default_terminology()
    oud, abuse = t.concept("opioid_use_disorder"), t.concept("opioid_abuse")
    assert oud is not None
    assert abuse is not None
    assert t.implies(abuse, oud)
    assert _read("prostate cancer treatment?").given_for == ["prostate_cancer"]


def test_a_course_is_shown_by_what_has_results_to_make_one() -> None:
    # "was his heart failure getting worse?": NT-proBNP comes first among what shows heart
    # failure, but one result makes no course; the ejection fractions (two) do
    from tests._record_fixtures import condition, obs, patient
    from tools.evidence import build_evidence

    record = [
        patient("p", birthDate="1953-01-10", gender="male"),
        condition("c1", "42343007", "Congestive heart failure (disorder)", "2016-01-15"),
        obs("n1", "33762-6", 983.1, "pg/mL", "2016-01-15T08:00:00+00:00", display="NT-proBNP"),
        obs("e1", "10230-1", 33.3, "%", "2016-02-05T08:00:00+00:00", category="vital-signs"),
        obs("e2", "10230-1", 44.8, "%", "2017-01-30T08:00:00+00:00", category="vital-signs"),
    ]
    ev = build_evidence(record, as_of=AS_OF)
    calls = prefetch_calls("is his heart failure getting worse?", ev, as_of=AS_OF)
    assert [(c["tool"], c["args"].get("name"), c.get("asks")) for c in calls] == [
        ("search_record", "Heart failure", None),
        ("lab_trend", "LV ejection fraction", "change"),
    ]


def test_a_visit_still_to_come() -> None:
    # "when is my next appointment?" had listed every past visit
    for q in ("when is my next appointment?", "any upcoming visits?", "next appt?"):
        f = _read(q)
        assert f.window is not None, q
        assert (f.window.start, f.window.end) == (AS_OF + dt.timedelta(days=1), None), q
        assert f.sections == ["encounters"], q
    assert _read("when was her last visit?").window is None


def test_since_a_month_and_what_changed() -> None:
    # "what changed since january?" had come back empty (no window, nothing named)
    f = _read("what changed since january?")
    assert f.window is not None
    assert (f.window.start, f.window.end) == (dt.date(2025, 1, 1), AS_OF)
    assert f.sections == ["conditions", "medications", "encounters"]
    later = _read("labs since august?").window  # the last August past
    assert later is not None
    assert later.start == dt.date(2024, 8, 1)
    dated = _read("labs since march 2023?").window
    assert dated is not None
    assert dated.start == dt.date(2023, 3, 1)
    assert _read("since she may have diabetes, what is her a1c?").window is None
    assert [c.id for _w, c in _read("is the digoxin level ok?").concepts] == ["digoxin_level"]


def test_a_season_a_group_and_a_name_read_across_her() -> None:
    # "a flu shot this season?" had said "Yes" of a record whose last flu shot was in 2021
    f = _read("did she get a flu shot this season")
    assert f.window is not None
    assert (f.window.start, f.window.end) == (dt.date(2024, 8, 1), AS_OF)
    last = _read("flu shot last season?").window
    assert last is not None
    assert (last.start, last.end) == (dt.date(2023, 8, 1), dt.date(2024, 7, 31))
    # groups people name that the data lacked: had listed every problem, or nothing
    assert [c.id for _w, c in _read("any prostate problems").concepts] == ["prostate_disease"]
    assert [c.id for _w, c in _read("how are her bones").concepts] == ["bone_disease"]
    assert [c.id for _w, c in _read("why is she paralyzed").concepts] == ["paralysis"]
    assert [c.id for _w, c in _read("does he drink").concepts] == ["alcohol_use"]
    assert [c.id for _w, c in _read("what is she using for contraception").concepts] == [
        "hormonal_contraceptive"
    ]
    # a name read across a determiner: had matched "pregnancy" and answered "Normal pregnancy"
    said = _read("any complications in her pregnancy").concepts
    assert [c.id for _w, c in said] == ["pregnancy_complication"]
    t = default_terminology()
    pre, group = t.concept("preeclampsia"), t.concept("pregnancy_complication")
    normal = t.concept("normal_pregnancy")
    assert pre is not None
    assert group is not None
    assert normal is not None
    assert t.implies(pre, group)
    assert not t.implies(normal, group)
    # "what vaccines is she due for?" had listed the vaccines without judging them
    assert "due" in _read("what vaccines is she due for").sections
    assert "due" not in _read("what is her due date").sections


def test_during_a_problem_or_while_on_a_drug_is_its_span() -> None:
    # "was her blood pressure high when pregnant?" had answered with her latest BP of 2020
    from tests._record_fixtures import condition, med, patient
    from tools.evidence import build_evidence

    ev = build_evidence(
        [
            patient("p"),
            condition("c1", "72892002", "Normal pregnancy", "2016-06-26", "resolved",
                      abatement="2017-02-12"),
            condition("c2", "72892002", "Normal pregnancy", "2017-07-23", "resolved",
                      abatement="2018-02-18"),
            med("m1", "860975", "24 HR Metformin hydrochloride 500 MG Extended Release Oral Tablet",
                "2019-03-01"),
        ],
        as_of=AS_OF,
    )  # fmt: skip

    def read(q: str) -> Focus:
        return understand(q, terminology=default_terminology(), as_of=AS_OF, evidence=ev)

    f = read("was her blood pressure high when pregnant")
    assert f.window is not None
    assert (f.window.start, f.window.end) == (dt.date(2017, 7, 23), dt.date(2018, 2, 18))
    assert [c.id for _w, c in f.concepts] == ["blood_pressure"]  # the pregnancy only dates it
    f = read("what meds was she on during her pregnancy?")
    assert f.window is not None
    assert f.window.start == dt.date(2017, 7, 23)
    assert f.concepts == []
    assert not f.current
    f = read("her a1c while on metformin")  # a current order: to today
    assert f.window is not None
    assert (f.window.start, f.window.end) == (dt.date(2019, 3, 1), AS_OF)
    assert read("when was she pregnant?").window is None  # asks of it, is not dated by it


def test_shorthand_of_a_second_sweep() -> None:
    # each came back empty or searched the wrong thing in a sweep of clinicians' shorthand
    def ids(q: str) -> list[str]:
        return [c.id for _w, c in _read(q).concepts]

    assert ids("did I ever get tested for vitamin D?") == ["vitamin_d_level"]  # not the pill
    assert ids("is she on vitamin d") == ["cholecalciferol"]
    assert _read("rx list").sections == ["medications"]
    assert _read("NKDA?").sections == ["allergies"]
    assert ids("NKDA?") == []
    assert ids("last flu vax") == ["influenza_vaccine"]
    assert "due" in _read("do I need any shots?").sections
    assert ids("what's her stroke risk") == []  # a risk, not a stroke
    assert [c["tool"] for c in prefetch_calls("what's her stroke risk", as_of=AS_OF)] == [
        "risk_score"
    ]
    assert ids("what was his oxygen like") == ["spo2"]
    past = _read("wt trend past yr").window
    assert past is not None
    assert (past.start, past.end) == (dt.date(2024, 6, 1), AS_OF)
    # "what was he on for the clot?": then; "what was she taking at the end?": at death
    assert not _read("what was he on for the clot").current
    assert _read("What was she taking at the end?").current
    assert _read("what is she on for her clot").current


def test_a_third_sweep_of_what_people_ask_about_a_record() -> None:
    # these had come back empty, or answered something else
    def ids(q: str) -> list[str]:
        return [c.id for _w, c in _read(q).concepts]

    assert ids("fev1?") == ["fev1"]
    assert ids("does he use oxygen at home") == ["oxygen_therapy"]  # not his saturation
    assert ids("what was his oxygen like") == ["spo2"]
    assert ids("any icu stays") == ["icu"]
    assert ids("any copd exacerbations") == ["copd_exacerbation"]  # not "Yes — COPD"
    assert _read("family history?").sections == ["family"]
    f = _read("does diabetes run in her family")  # the relatives', not her own diabetes
    assert (f.sections, f.concepts) == (["family"], [])
    assert _read("any devices or implants").sections == ["devices"]
    assert _read("what did the last note say").sections == ["notes"]
    # "echo results?": the echo, not every lab result
    calls = prefetch_calls("echo results?", as_of=AS_OF)
    assert [c["args"].get("resource_type") for c in calls] == ["Procedure"]


@pytest.mark.parametrize(
    ("question", "asks", "concept"),
    [
        ("Who is her doctor?", "pcp", None),  # the doctor the record names for her
        ("who's my doctor", "pcp", None),
        ("Has she fallen?", "yesno", "falls"),  # a verb of the finding, not only "falls"
        ("did he have a fall at home?", "ever", "falls"),  # of then: any fall
        ("Has the warfarin dose changed?", "dose", "warfarin"),  # its strengths ordered
        ("Was her lisinopril increased?", "dose", "lisinopril"),  # a drug's course: its dose
        ("Has her A1c increased?", "change", "hba1c"),  # a result's course: its change
        ("Was her potassium ever high?", "range", "potassium"),  # its highest, judged
        ("What does she do for a job?", None, "employment"),
        ("Why is she on warfarin?", "reason", "warfarin"),  # the order's reason, not prose
        ("Why was she last seen?", "latest", None),  # the last visit, said with its reason
        ("What was I prescribed metformin for?", "reason", "metformin"),
        ("For what condition was he last prescribed metformin?", "reason", "metformin"),
        ("What condition was her metformin meant to treat?", "reason", "metformin"),
        ("What is she due for?", "judge", None),  # not a reason: "due for"
        ("What is she taking for pain?", None, "pain_symptom"),  # what is given for it
        ("What was her creatinine a year ago?", "latest", "creatinine"),  # the value then
    ],
)
def test_questions_read_in_their_own_words(
    question: str, asks: str | None, concept: str | None
) -> None:
    f = _read(question)
    assert f.asks == asks, f
    assert [c.id for _w, c in f.concepts][:1] == ([concept] if concept else []), f


def test_a_season_is_no_fall_and_code_status_is_an_advance_directive() -> None:
    # "her labs last fall" had searched for falls; "is she full code?" had been read as "she
    # fell" by spelling correction; a code status is searched in the whole record
    assert "falls" not in [c.id for _w, c in _read("What labs did she have last fall?").concepts]
    assert [c.id for _w, c in _read("Has she had a fall?").concepts] == ["falls"]
    for q in ("Is she full code?", "What is her code status?", "Is he DNR?"):
        assert [c.id for _w, c in _read(q).concepts] == ["advance_directive"], q
    calls = prefetch_calls("What is her code status?", terminology=default_terminology(),
                           as_of=AS_OF)  # fmt: skip
    assert calls[0]["args"] == {"name": "Advance directive"}  # no one resource type


@pytest.mark.parametrize(
    ("question", "threshold", "asks"),
    [
        ("ldl > 100?", ">100", "threshold"),
        ("is her A1c above 7%?", ">7 %", "threshold"),
        ("bp under 140/90?", "<140/90", "threshold"),
        ("a1c 6.5 or more?", ">=6.5", "threshold"),
        ("egfr no less than 60?", ">=60", "threshold"),
        ("any potassium over 5?", ">5", "beyond"),  # every result, not the latest
        ("is her potassium between 3.5 and 5?", "3.5-5", "threshold"),
        ("any glucose between 100 and 125 mg/dl?", "100-125 mg/dl", "beyond"),
        ("a1c results between 2019 and 2021?", None, None),  # years: a window
        ("is his potassium within 3.5-5.1?", "3.5-5.1", "threshold"),
        ("temp above 38 c?", ">38 c", "threshold"),  # a unit said: °C (the series' own)
        ("has her ldl ever been over 100?", ">100", "beyond"),
        ("how many glucose readings over 180 last year?", ">180", "count_beyond"),
        # a count, a time, an age, a year: no threshold of a result
        ("has her a1c been checked more than 3 times?", None, None),
        ("a1c over the past 2 years?", None, None),
        ("any a1c in over 2 years?", None, None),
        ("is he over 65?", None, None),
        ("a1c results since over 2019?", None, None),
        # a name ending in the number compared: the result, not the finding "Body mass
        # index 30+ - obesity" (which "bmi 30 or higher?" had been read as)
        ("bmi 30 or higher?", ">=30", "threshold"),
        ("bmi 40+?", ">=40", "threshold"),
        ("any bmi 35 or more?", ">=35", "beyond"),
    ],
)
def test_a_threshold_stated_of_a_result(
    question: str, threshold: str | None, asks: str | None
) -> None:
    f = _read(question)
    assert f.threshold == threshold, f
    if threshold:
        assert f.asks == asks, f


def test_a_threshold_of_each_of_several_results() -> None:
    # "ldl > 100 and a1c > 7?" went to the model: a threshold was read only of a question
    # naming one result
    f = _read("ldl > 100 and a1c > 7?")
    assert f.part_thresholds == {"ldl": ">100", "hba1c": ">7"}
    assert f.part_asks == {"ldl": "threshold", "hba1c": "threshold"}
    f = _read("is her potassium under 3.5 or her sodium over 145?")
    assert f.part_thresholds == {"potassium": "<3.5", "sodium": ">145"}
    f = _read("any ldl over 130 or a1c over 8?")
    assert f.part_asks == {"ldl": "beyond", "hba1c": "beyond"}
    # one threshold said of two results: whose it is, is not known
    assert _read("ldl and a1c > 7?").part_thresholds == {}
    assert _read("ldl and a1c > 7?").threshold is None
    calls = prefetch_calls("bp < 140/90 and a1c < 7?", terminology=default_terminology(),
                           as_of=AS_OF)  # fmt: skip
    assert sorted(c["args"].get("threshold", "") for c in calls) == ["<140/90", "<7"], calls


def test_history_as_clinicians_shorten_it() -> None:
    # "past medical hx" had come back empty (no search at all), "psh?" had listed every
    # procedure on record, screenings and assessments among them
    assert _read("past medical hx").sections == ["conditions"]
    assert _read("family hx?").sections == ["family"]
    for q in ("psh?", "surgical hx?", "past surgical history"):
        assert [c.id for _w, c in _read(q).concepts] == ["surgery"], q


def test_more_of_how_clinicians_ask() -> None:
    # a sweep written after this stop's changes: each had gone to the model or come back
    # empty ("any hearing loss?"), or searched every screening ("last retinal screening?")
    assert [c.id for _w, c in _read("any hearing loss?").concepts] == ["hearing_loss"]
    assert [c.id for _w, c in _read("is she hard of hearing?").concepts] == ["hearing_loss"]
    assert [c.id for _w, c in _read("last retinal screening?").concepts] == ["diabetic_eye_exam"]
    assert _read("is her a1c creeping up?").asks == "change"
    assert _read("is his ldl trending down?").asks == "change"
    for q in ("a1c target?", "what's his ldl goal and is he at it?"):
        f = _read(q)
        assert f.judge, q
        assert f.asks == "judge", (q, f)
        assert all(a == "judge" for a in f.part_asks.values()), (q, f)
    w = _read("bmi trend over 5 years").window
    assert w is not None
    assert (w.start, w.end) == (dt.date(2020, 6, 1), AS_OF)
    assert _read("any a1c in over 2 years?").window is None  # a gap, not a window


def test_a_result_s_name_said_as_something_taken() -> None:
    # "on calcium or vitamin d?" went to the model with her calcium results: calcium is a
    # lab test to the terminology, and "vitamin d", second in the list, was read as its test
    assert [c.id for _w, c in _read("is she on calcium?").concepts] == ["calcium_supplement"]
    assert [c.id for _w, c in _read("on calcium or vitamin d?").concepts] == [
        "calcium_supplement", "cholecalciferol"
    ]  # fmt: skip
    assert [c.id for _w, c in _read("is she on potassium?").concepts] == ["potassium_supplement"]
    assert [c.kind for _w, c in _read("calcium level?").concepts] == ["lab"]
    t = default_terminology()
    assert t.members("potassium_supplement") == {"potassium_chloride"}  # not the calcium


def test_what_was_stopped_and_what_was_had_are_read_as_such() -> None:
    for q in ("what meds has he stopped?", "meds he's no longer taking?", "past medications?",
              "discontinued meds?", "any previous prescriptions?"):  # fmt: skip
        f = _read(q)
        assert f.stopped, (q, f)
        assert (f.current, f.judge, f.asks) == (False, False, None), (q, f)
        assert [c for c in prefetch_calls(q, as_of=AS_OF) if c["args"].get("status") == "past"], q
    for q in ("what is he taking now?", "is she off metformin?", "what is she on for pain?"):
        assert not _read(q).stopped, q
    for q in ("any uti history?", "uti history?", "was she given tpa?", "was he ever treated?"):
        assert _read(q).asks == "ever", q
    for q in ("medical history?", "his history?"):
        assert _read(q).asks != "ever", q
    for q in ("when did the allergy shots start?", "when did her migraines begin?"):
        assert _read(q).asks == "first", q
    for q in ("peanut ige level?", "ldl value?", "a1c results?"):
        assert _read(q).asks is None, q
    assert _read("any a1c results?").asks == "ever"
    for q in ("migraines - what's she on?", "her bp, what's she taking?", "diabetes: what meds?"):
        assert _read(q).given_for, q
    assert not _read("diabetes, and what meds is she on?").given_for


def test_kinds_of_visit_stages_and_what_was_given_for_it() -> None:
    for q, cid in (("how many follow-ups last year?", "follow_up_visit"),
                   ("any prenatal visits?", "prenatal_visit"), ("was he in hospice?", "hospice"),
                   ("urgent care visits?", "urgent_care"), ("how many pt sessions?", "physical_therapy")):  # fmt: skip
        assert cid in [c.id for _w, c in _read(q).concepts], q
    for q in ("ckd stage?", "what stage is her ckd?", "diabetes type?"):
        f = _read(q)
        assert f.which, (q, f)
        assert f.asks is None, (q, f)
    assert not _read("any ckd?").which
    for q in ("what did they give her for the stroke?", "what was started for the afib?",
              "what was she given for the ear infection?"):  # fmt: skip
        f = _read(q)
        assert f.sections == ["medications"], (q, f)
        assert f.given_for, (q, f)


def test_complications_read_as_the_group_named_for_the_problem_not_within_a_name() -> None:
    asked = _read("pregnancy - any complications?")
    assert [c.id for _w, c in asked.concepts] == ["pregnancy_complication"]
    assert asked.asks == "ever"
    # a name that says "complications" is that name ("… without complications")
    named = _read("When was 'Type 2 diabetes mellitus without complications' first recorded?")
    assert all(c.id != "diabetic_complication" for _w, c in named.concepts)
    assert not named.narrative

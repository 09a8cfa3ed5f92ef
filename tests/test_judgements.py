"""What code says of a judgement or a relation, from the record and the data files: a
vaccine due by the schedule, the medications given for a condition (by their orders'
reasons or their drug classes), what an order or a visit was for. Run on the embedded
store (the real evidence builder and tools); a computed answer asks no model (the scripted
FAKE model has no step and fails the test if it is called)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from agent.context import AgentContext
from agent.run import ask
from agent.toolkit import run_tool_call
from tests.agent_fixtures import ADAN, CLEOTILDE, DEBORA, LUIGI, ScriptedChatModel, agent_store
from tools.codes import measure_for_code
from tools.evidence import build_evidence
from tools.store import RecordStore
from tools.terminology import (
    concerns,
    control_measures,
    default_terminology,
    given_for,
    repeat_days,
    screening_ways,
    screenings,
    treating_class,
    treats,
)

__all__ = ["agent_store"]

AS_OF = dt.date(2025, 6, 1)


@pytest.fixture
def store(agent_store: Path) -> RecordStore:
    return RecordStore(agent_store)


def test_relations_in_the_data_files() -> None:
    t = default_terminology()
    losartan, atorvastatin = (
        t.mentions("losartan")[0].concepts,
        t.mentions("atorvastatin")[0].concepts,
    )
    bp, dm = t.concept("blood_pressure"), t.concept("diabetes_mellitus")
    assert bp is not None
    assert dm is not None
    k = treating_class(t, losartan, bp)  # an ARB, a RAAS agent: an antihypertensive
    assert k is not None
    assert k.id == "antihypertensive"
    assert [c.id for c in given_for(t, losartan)] == ["hypertension"]
    assert not treats(t, losartan, dm)
    assert not treats(t, atorvastatin, bp)
    assert treats(t, atorvastatin, t.mentions("cholesterol")[0].concepts[0])  # monitors it
    sugar = t.mentions("sugar")[0].concepts[0]
    assert concerns(t, dm, sugar)  # "sugar" is what shows diabetes
    assert not concerns(t, dm, bp)
    assert repeat_days(t, t.concepts_of("http://hl7.org/fhir/sid/cvx", "140")) == 365
    assert repeat_days(t, t.concepts_of("http://hl7.org/fhir/sid/cvx", "115")) == 3650  # Tdap
    assert repeat_days(t, t.concepts_of("http://hl7.org/fhir/sid/cvx", "133")) is None


def test_treatment_goals_are_not_ranges() -> None:
    a1c, sbp = measure_for_code("4548-4"), measure_for_code("8480-6")
    assert a1c is not None
    assert a1c.goal is not None
    assert sbp is not None
    assert sbp.goal is not None
    assert a1c.goal.met(6.9)
    assert not a1c.goal.met(7.0)
    assert sbp.goal.met(129)
    assert not sbp.goal.met(130)
    assert a1c.ranges[0].high == 5.6  # the range stays the range


async def _computed(
    store: RecordStore, question: str, as_of: dt.date = AS_OF, patient: str = DEBORA
) -> str:
    a = await ask(
        question, patient_id=patient, source=store, model=ScriptedChatModel([]), as_of=as_of
    )
    assert a.usage.model_calls == 0
    return a.text


async def test_a_vaccine_due_by_the_schedule(store: RecordStore) -> None:
    # Débora's last flu shot is 2025-01-15, her last Td 2021-01-20
    said = await _computed(store, "Is she due for a flu shot?")
    assert "last given 2025-01-15, within the year" in said
    assert said.endswith("not due yet.")
    later = await _computed(store, "Is she due for a flu shot?", dt.date(2026, 3, 1))
    assert "more than a year ago; given yearly (CDC adult schedule): due." in later
    assert "not due yet" in await _computed(store, "Is she due for a tetanus booster?")


def test_screening_schedules_in_the_data_files() -> None:
    t = default_terminology()

    def named(text: str) -> list[str]:
        return [s.id for s in screenings(t, [c for m in t.mentions(text) for c in m.concepts])]

    assert named("a mammogram") == ["breast_cancer_screening"]
    assert named("colonoscopy") == named("colon cancer screening")
    assert sorted(named("her cancer screenings")) == [
        "breast_cancer_screening",
        "cervical_cancer_screening",
        "colorectal_cancer_screening",
    ]
    assert named("metformin") == []
    colorectal = t.concept("colorectal_cancer_screening")
    assert colorectal is not None
    assert (colorectal.ages, colorectal.sex, colorectal.by) == ((45, 75), None, "USPSTF")
    assert [(w.id, w.repeat_days) for w in screening_ways(t, colorectal)] == [
        ("colonoscopy", 3650),
        ("fecal_occult_blood_test", 365),
    ]


async def test_cancer_screenings_due_by_age_sex_and_the_last_one_done(
    store: RecordStore,
) -> None:
    # Débora (female, 66 on 2025-06-01): colonoscopies 2019-05-27 and 2024-06-03, no
    # mammogram, no Pap smear; Luigi is male
    said = await _computed(store, "Is she due for a colonoscopy?")
    assert said.startswith("Colorectal cancer screening: Colonoscopy last done 2024-06-03"), said
    assert said.endswith("(USPSTF): not due yet (next by 2034-06-03).")
    later = await _computed(store, "Is she due for a colonoscopy?", dt.date(2034, 12, 1))
    assert "last done 2024-06-03, 10 years ago" in later  # at 75, still of the ages
    assert later.endswith("(USPSTF): due.")
    assert "at age 85, not judged here" in await _computed(
        store, "Is she due for a colonoscopy?", dt.date(2044, 6, 1)
    )
    mammogram = await _computed(store, "When is her next mammogram due?")
    assert mammogram == (
        "Breast cancer screening: none on record; mammogram every 2 years, at ages 40–74 "
        "(USPSTF); at age 66: due."
    )
    assert "not judged for a patient recorded as male" in await _computed(
        store, "Is he due for a mammogram?", patient=LUIGI
    )
    every = await _computed(store, "Is she up to date on her cancer screenings?")
    assert "Cervical cancer screening: recommended at ages 21–65 (USPSTF); at age 66" in every
    assert "Breast cancer screening: none on record" in every
    assert "Colorectal cancer screening: Colonoscopy last done 2024-06-03" in every
    his = await _computed(store, "Is he up to date on his cancer screenings?", patient=LUIGI)
    assert "Colorectal cancer screening" in his
    assert "Breast" not in his
    assert "Cervical" not in his
    shingles = await _computed(store, "Is she due for a shingles shot?", patient=CLEOTILDE)
    assert shingles == (  # a vaccine given once in adult life (CDC adult schedule)
        "Zoster vaccine: none on record; shingles shot once, at ages 50 and older (CDC); "
        "at age 78: due."
    ), shingles
    shots = await _computed(store, "Is she up to date on her shots?", patient=CLEOTILDE)
    assert "Pneumococcal vaccine: Pneumococcal conjugate PCV 13 given 2016-03-02" in shots
    assert "Hepatitis B" not in shots  # a vaccine of younger adults: not said unasked
    overdue = await _computed(store, "What preventive care is she due for?")
    assert "Breast cancer screening: none on record" in overdue
    assert "Influenza" in overdue  # beside the vaccines


async def test_the_medications_given_for_a_condition(store: RecordStore) -> None:
    # losartan is ordered "for Essential hypertension"; nothing for her diabetes
    for q in ("What is she taking for her blood pressure?", "Hypertension meds?"):
        said = await _computed(store, q)
        assert said.startswith("Losartan potassium 25 MG Oral Tablet: current"), said
        assert "for Essential hypertension" in said
    none = await _computed(store, "Is she on anything for her diabetes?")
    assert "no current medications given for Diabetes mellitus" in none
    assert "given for Diabetes mellitus (by reason or drug class): nothing found" in none


async def test_a_drug_taken_in_by_its_class_says_so(store: RecordStore) -> None:
    # with the order's reason dropped, losartan is still for blood pressure: by its class
    ctx = AgentContext(patient_id=DEBORA, source=store, model=ScriptedChatModel([]), as_of=AS_OF)
    record = await store.everything(DEBORA)
    for r in record:
        r.pop("reasonReference", None)
        r.pop("reasonCode", None)
    ctx.cache.record, ctx.cache.evidence = record, build_evidence(record, as_of=AS_OF)
    r = await run_tool_call(
        ctx,
        {"tool": "search_record", "args": {"resource_type": "MedicationRequest",
                                           "status": "active", "given_for": "blood pressure"}},
    )  # fmt: skip
    [(said, _handles)] = r.statements
    assert said.endswith("— antihypertensive agent"), said
    assert "for Essential hypertension" not in said


async def test_what_an_order_was_for(store: RecordStore) -> None:
    ctx = AgentContext(patient_id=DEBORA, source=store, model=ScriptedChatModel([]), as_of=AS_OF)
    r = await run_tool_call(ctx, {"tool": "search_record", "args": {"name": "losartan"}})
    assert "for Essential hypertension" in r.statements[0][0]


async def test_whether_it_has_ended_is_read_off_the_statuses(store: RecordStore) -> None:
    # "is she off X?", "has her sore throat cleared up?": "yes" when nothing holds now —
    # a "yes" because an entry exists would invert it; the date question is no such ask
    off = await _computed(store, "Is she off simvastatin?")
    assert off.startswith("Yes — Simvastatin 10 MG Oral Tablet: past"), off
    on = await _computed(store, "Did they stop her losartan?")
    assert on.startswith("No — losartan potassium 25 MG Oral Tablet: current"), on
    throat = await _computed(store, "Has her sore throat cleared up?")  # viral pharyngitis
    assert throat.startswith("Yes — Acute viral pharyngitis: resolved"), throat
    htn = await _computed(store, "Has her hypertension resolved?")
    assert htn.startswith("No — Essential hypertension: active"), htn


async def test_an_order_for_something_else_is_not_taken_in_by_its_class(store: RecordStore) -> None:
    # Cleotilde's verapamil (a calcium channel blocker) is ordered for atrial fibrillation:
    # not a blood pressure drug here; her hydrochlorothiazide is, by its order's reason
    said = await _computed(store, "What am I taking for my high blood pressure?", patient=CLEOTILDE)
    assert said.startswith("Hydrochlorothiazide 25 MG Oral Tablet: current"), said
    assert "Verapamil" not in said
    treated = await _computed(store, "What is her blood pressure being treated with?")
    assert treated.startswith("Losartan potassium 25 MG Oral Tablet: current"), treated
    flu = await _computed(store, "Does she need her flu shot?")  # "need": is it due
    assert flu.endswith("not due yet."), flu


def test_what_shows_a_condition_is_controlled() -> None:
    # the reverse of monitored_by: "sugar" (glucose) monitors diabetes, whose control HbA1c
    # shows; "cholesterol" hyperlipidemia (LDL); blood pressure is its own, and a heart rate
    # (the rate control of atrial fibrillation); a respiratory rate monitors none
    t = default_terminology()

    def control(cid: str) -> list[str]:
        c = t.concept(cid)
        assert c is not None
        return [m.id for m in control_measures(t, c)]

    assert control("glucose") == ["hba1c"]
    assert control("cholesterol") == ["ldl"]
    assert control("systolic") == ["blood_pressure"]  # by its parent
    assert control("hba1c") == ["hba1c"]
    assert control("heart_rate") == ["heart_rate"]
    assert control("resp_rate") == []


async def test_is_it_under_control_is_asked_of_what_shows_control(store: RecordStore) -> None:
    # "is her sugar under control?" is glycemic control (HbA1c, against its goal), then the
    # glucose named; "is her blood sugar high?" stays the glucose; "on target" is a judgement
    sugar = await _computed(store, "Is her sugar under control?")
    assert sugar.startswith("HbA1c: the latest, 6.6 % on 2025-01-15"), sugar
    assert "meets the usual treatment goal" in sugar
    assert "Glucose: the latest" in sugar
    high = await _computed(store, "Is her blood sugar high?")
    assert high.startswith("Glucose:"), high
    assert "HbA1c" not in high
    lipids = await _computed(store, "Is her cholesterol at goal?")
    assert lipids.startswith("LDL cholesterol: the latest, 119 mg/dL"), lipids
    bp = await _computed(store, "Is her BP on target?")
    assert "does not meet the usual treatment goal (below 130" in bp, bp


async def test_what_is_due_is_read_off_the_dates(store: RecordStore) -> None:
    # "anything overdue?": the key labs past their retest interval (as the brief's "Due or
    # overdue" says them), then each repeated vaccine by the schedule — said by code
    luigi = await _computed(store, "Anything overdue?", patient=LUIGI)
    assert luigi.startswith("HbA1c overdue — last 2022-08-04, over 2 years ago"), luigi
    assert "(recommended every 6 months)" in luigi
    assert "Influenza, seasonal, injectable, preservative free: last given 2025-05-30" in luigi
    debora = await _computed(store, "What is she due for?")
    assert debora.startswith("None of the key labs on record is past its usual retest"), debora
    assert "given yearly (CDC adult schedule): not due yet" in debora
    adan = await _computed(store, "Is he due for anything?", patient=ADAN)
    assert "given yearly (CDC adult schedule): due." in adan, adan
    # as people ask it: "behind on anything?" (not her medications: "on anything"), and
    # "up to date" on one kind of care asks that kind's due only
    assert await _computed(store, "Is she behind on anything?") == debora
    shots = await _computed(store, "Is she up to date on her shots?")
    assert shots.startswith("Influenza, seasonal, injectable, preservative free: last given"), shots
    assert "key labs" not in shots
    labs = await _computed(store, "Is she caught up on her labs?")
    assert labs.startswith("None of the key labs on record is past its usual retest"), labs
    assert "Influenza" not in labs
    jarred = "cdb486b4-716b-4e83-9e27-8a68620dd1fe"  # died 2021-07-07
    for q in ("Anything overdue?", "Is he due for a flu shot?"):
        dead = await _computed(store, q, patient=jarred)
        assert dead == "No care is due: the record says the patient has died.", (q, dead)


async def test_an_allergy_to_a_drug_is_no_yes_to_being_on_it(store: RecordStore) -> None:
    # Cleotilde's record holds aspirin only as an allergy: "is she on aspirin?" had been
    # answered "Yes — Allergy to Aspirin"; asked as an allergy, it is a yes
    on = await _computed(store, "Is she on aspirin?", patient=CLEOTILDE)
    assert on.startswith("No — no order or dose of Aspirin is recorded; the record lists an"), on
    allergic = await _computed(store, "Is she allergic to aspirin?", patient=CLEOTILDE)
    assert allergic.startswith("Yes — Allergy to Aspirin"), allergic
    warfarin = await _computed(store, "Is she on warfarin?", patient=CLEOTILDE)
    assert warfarin.startswith("Yes — Warfarin Sodium 5 MG Oral Tablet: current"), warfarin


async def test_the_last_visit_is_said_with_what_changed_at_it(store: RecordStore) -> None:
    # "what happened at her last visit?": the visit, and what changed since the one before
    # (as the brief's "Last visit" says it), not a count of encounters in its window
    said = await _computed(
        store, "What was done at her most recent appointment?", patient=CLEOTILDE
    )
    assert said.startswith("2025-04-30: AMB General examination of patient for Diagnosis."), said
    assert "Problems since 2025-02-03: new Atrial fibrillation." in said
    assert "Ordered since 2025-02-03: Digoxin 0.125 MG Oral Tablet" in said


async def test_a_named_thing_is_no_list_to_complete(store: RecordStore) -> None:
    # the model answers from the problem list fetched for "condition", citing more of it
    # than it names: its problem is the answer, not the start of a list code completes
    import re

    from tests.agent_fixtures import composed, model_phrases

    def step(messages: list[Any]) -> dict[str, Any]:
        m = re.search(r"(E\d+) Essential hypertension", messages[-1].text)
        others = re.findall(
            r"(E\d+) (?:Atrial fibrillation|Anemia) \(disorder\)", messages[-1].text
        )
        assert m is not None
        assert others
        # cites more of the list than it names, as cpu-demo did
        said = "She is on hydrochlorothiazide for essential hypertension."
        return composed((said, [m[1], *others]))

    a = await ask(
        # (not "for what condition is she on hydrochlorothiazide?": the order's reason,
        # which code says, with no problem list fetched)
        "Which of her conditions is hydrochlorothiazide used to treat?",
        patient_id=CLEOTILDE,
        source=store,
        model=ScriptedChatModel([step]),
        as_of=AS_OF,
        settings=model_phrases(),
    )
    assert [s.text for s in a.sentences] == [
        "She is on hydrochlorothiazide for essential hypertension."
    ], a.text


async def test_a_part_that_names_nothing_asks_of_what_the_part_before_named(
    store: RecordStore,
) -> None:
    # "… and is it better than before?" names nothing: it asks of the A1c (the latest and
    # the one before it, which that answer says), not nothing
    said = await _computed(store, "What was her last A1c and is it better than before?")
    assert said == (
        "HbA1c: the latest, 6.6 % on 2025-01-15, is lower than the one before, 7.6 % on "
        "2024-06-03 (by 1 %); for HbA1c, lower is better."  # which way is better, by its data
    ), said
    weight = await _computed(store, "How has her weight changed?")
    assert "is better" not in weight  # no known better way for a weight
    both = await _computed(store, "What was her last A1c and when was her last flu shot?")
    assert both.startswith("HbA1c: 6.6 % on 2025-01-15, the most recent of 8 results."), both


async def test_nothing_new_in_a_window_is_said_before_what_ran_through_it(
    store: RecordStore,
) -> None:
    # "any new meds since her last visit?": the visit dates the window (no search of
    # visits), and the search of orders in it found none; losartan, ordered before and
    # still active, follows as what ran through it
    from agent.prefetch import prefetch_calls

    ctx = AgentContext(patient_id=DEBORA, source=store, model=ScriptedChatModel([]), as_of=AS_OF)
    ctx.cache.record = await store.everything(DEBORA)
    ctx.cache.evidence = build_evidence(ctx.cache.record, as_of=AS_OF)
    calls = prefetch_calls("Any new meds since her last visit?", ctx.cache.evidence, as_of=AS_OF)
    assert [(c["tool"], c["args"].get("resource_type")) for c in calls] == [
        ("search_record", "MedicationRequest")
    ]
    r = await run_tool_call(ctx, {"tool": "search_record", "args": calls[0]["args"]})
    [(first, _h), (then, _hs)] = r.statements
    # (her record holds medications given in hospital too: both were searched)
    assert first.startswith("not in this patient's record: no medications (searched "
                            "MedicationRequest, MedicationAdministration dated 2025-01-16 to "
                            "2025-06-01"), first  # fmt: skip
    assert then.startswith("losartan potassium 25 MG Oral Tablet: current"), then
    assert then.endswith("active through the period (ordered before it, not stopped)")


async def test_a_social_entry_on_the_problem_list_says_so(store: RecordStore) -> None:
    # Synthea codes employment, education and stress as Conditions: "any new diagnoses
    # this year?" lists them, each marked as the social history it is
    ctx = AgentContext(patient_id=LUIGI, source=store, model=ScriptedChatModel([]), as_of=AS_OF)
    r = await run_tool_call(
        ctx,
        {"tool": "search_record", "args": {"resource_type": "Condition",
                                           "date_from": "2025-01-01", "date_to": "2025-06-01"}},
    )  # fmt: skip
    said = [t for t, _hs in r.statements]
    assert "Gingivitis: active, since 2025-05-30" in said, said
    assert "Full-time employment (social history): active, since 2025-05-30" in said, said


async def test_a_panel_held_as_reports_is_said_with_its_results(store: RecordStore) -> None:
    # Synthea keeps a lipid panel as a DiagnosticReport listing its results (no result of
    # the panel's own code): "last lipid panel?" had found nothing
    lipids = await _computed(store, "last lipid panel?")
    assert lipids.startswith(
        "The most recent: Lipid panel with direct LDL - Serum or Plasma: 2025-01-15"
    ), lipids
    assert "LDL cholesterol: 119 mg/dL on 2025-01-15" in lipids
    cmp = await _computed(store, "most recent CMP?")
    assert cmp.startswith("The most recent: Comprehensive metabolic 2000 panel"), cmp


async def test_a_name_written_with_inner_capitals_keeps_them(store: RecordStore) -> None:
    # a sentence starting with "eGFR" had been capitalised to "EGFR" (the gene)
    from tools.brief import sentence_case

    said = await _computed(store, "What's her GFR trend?")
    assert said.startswith("eGFR: changed by -1.7 mL/min/1.73 m² (down)"), said  # as written
    assert sentence_case("pH of urine") == "pH of urine"
    assert sentence_case("glucose: 99 mg/dL") == "Glucose: 99 mg/dL"
    assert sentence_case("") == ""


async def test_an_organ_and_last_time_as_a_patient_says_them(store: RecordStore) -> None:
    # "is my kidney ok?": the kidney function tests, judged; "what did the doctor say was
    # wrong with me last time?": the last visit (both had come back empty)
    kidney = await _computed(store, "is my kidney ok?")
    assert kidney.startswith("eGFR: the latest, 107.4 mL/min/1.73 m² on 2025-01-15, is"), kidney
    assert "Creatinine: the latest" in kidney
    last = await _computed(
        store, "what did the doctor say was wrong with me last time?", patient=CLEOTILDE
    )
    assert last.startswith("2025-04-30: AMB General examination of patient for Diagnosis."), last
    why = await _computed(store, "What brought her in last time?", patient=CLEOTILDE)
    assert why.startswith("The most recent: General examination of patient"), why  # its reason
    # "did they find anything wrong at my last checkup?": the visit as a whole (had said
    # only that there was one visit that day)
    wrong = await _computed(store, "did they find anything wrong at my last checkup?")
    assert wrong.startswith("2025-01-15: AMB General examination of patient"), wrong
    assert "Out of range then: HbA1c 6.6 %" in wrong
    bp = await _computed(store, "what was my blood pressure last time?")
    assert bp.startswith("Systolic BP: 156.9 mmHg on 2025-01-15"), bp


async def test_a_condition_s_course_is_asked_of_what_shows_it(store: RecordStore) -> None:
    # "is her diabetes getting worse?" had listed her diabetes entries alone
    said = await _computed(store, "is her diabetes getting worse?")
    assert "Diabetes mellitus type 2: active, since 2016-12-14" in said
    assert (
        "HbA1c: changed by -0.3 % (down) from the first, 6.9 % on 2016-12-14, to the last, "
        "6.6 % on 2025-01-15; for HbA1c, lower is better"
    ) in said


async def test_the_last_few_results_and_a_period_with_none(store: RecordStore) -> None:
    # "triglycerides last 3 values" had said the latest alone; "her A1cs over the last 3
    # years", none then, had said nothing found and not when the nearest one was
    three = (
        "HbA1c: the last 3 results, the most recent first: 6.6 % on 2025-01-15; "
        "7.6 % on 2024-06-03; 8.1 % on 2023-12-21"
    )
    assert three in await _computed(store, "her last 3 A1cs?")
    assert three in await _computed(store, "What were her last few a1cs?")
    before = await _computed(store, "her A1cs in 2010?")
    assert "dated 2010-01-01 to 2010-12-31: nothing found" in before, before
    assert "HbA1c: the first result, 6.9 % on 2016-12-14, is after that period" in before
    after = await _computed(store, "how many LDLs in 2030?")
    assert "LDL cholesterol: the latest result, 119 mg/dL on 2025-01-15, is before that" in after


async def test_a_procedure_held_as_its_history_and_a_child_s_vaccines() -> None:
    # "when did he have his appendix out?": the record held only "History of
    # appendectomy" (a Condition), and the answer had been "no Appendectomy"; a
    # 12-year-old's DTaP had been judged by the adult tetanus interval ("not due yet")
    from tests._record_fixtures import MemorySource, condition, patient

    def shot(rid: str, cvx: str, display: str, day: str) -> dict[str, Any]:
        return {
            "resourceType": "Immunization", "id": rid, "status": "completed",
            "patient": {"reference": "Patient/p1"}, "occurrenceDateTime": f"{day}T10:00:00Z",
            "vaccineCode": {"coding": [{"system": "http://hl7.org/fhir/sid/cvx", "code": cvx,
                                        "display": display}]},
        }  # fmt: skip

    record = [
        patient("p1", birthDate="2012-11-11", gender="male"),
        condition("c1", "428251008", "History of appendectomy", "2019-02-18"),
        shot("i1", "20", "DTaP", "2017-10-22"),
        shot("i2", "140", "Influenza, seasonal, injectable, preservative free", "2023-10-01"),
    ]
    source = MemorySource({"p1": record})

    async def said(q: str) -> str:
        a = await ask(q, patient_id="p1", source=source, model=ScriptedChatModel([]), as_of=AS_OF)
        assert a.usage.model_calls == 0
        return a.text

    from agent.prefetch import prefetch_calls

    ev = build_evidence(record, as_of=AS_OF)
    calls = prefetch_calls("when did he have his appendix out?", ev, as_of=AS_OF)
    assert [c["args"].get("resource_type") for c in calls] == ["Procedure", "Condition"]
    appendix = await said("has he had his appendix out?")
    assert appendix.startswith("Yes — History of appendectomy: active, since 2019-02-18"), appendix
    assert "not in this patient's record" not in appendix.lower()
    shots = await said("is he up to date on his vaccines?")
    assert "given yearly (CDC schedule): due" in shots, shots
    assert (
        "DTaP: last given 2017-10-22, 7 years ago; at age 12 the CDC child and adolescent "
        "schedule applies (its doses by age), which is not judged here"
    ) in shots
    assert "every 10 years" not in shots


async def test_a_period_with_no_entries_says_the_nearest_and_weight_lost(
    store: RecordStore,
) -> None:
    # "any flu shot in 2010?" had said nothing found alone (not when the nearest was);
    # "has she lost weight?" had said no "Weight loss" entry, and not her weights
    flu = await _computed(store, "any flu shot in 2010?")
    assert "dated 2010-01-01 to 2010-12-31: nothing found" in flu
    assert "the first after that period" in flu
    upcoming = await _computed(store, "any upcoming appointments?")
    assert upcoming.startswith("Not in this patient's record: no encounters (searched "
                               "Encounter dated 2025-06-02 to"), upcoming  # fmt: skip
    assert "General examination of patient: 2025-01-15, the latest before that period" in upcoming
    visits = await _computed(store, "how many visits in 2030?")
    assert "General examination of patient: 2025-01-15, the latest before that period" in visits
    lost = await _computed(store, "has she lost weight?")
    assert (
        "Body weight: the latest, 72.1 kg on 2025-01-15, is lower than the one before, 73.2 kg"
    ) in lost


async def test_the_procedures_done_for_a_condition() -> None:
    # "what procedures did he have for the cancer?" had listed every procedure and problem
    from tests._record_fixtures import MemorySource, patient

    def proc(rid: str, code: str, display: str, day: str, reason: str) -> dict[str, Any]:
        return {
            "resourceType": "Procedure", "id": rid, "status": "completed",
            "subject": {"reference": "Patient/p1"}, "performedDateTime": f"{day}T10:00:00Z",
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": code,
                                 "display": display}]},
            "reasonCode": [{"coding": [{"system": "http://snomed.info/sct",
                                        "display": reason}]}],
        }  # fmt: skip

    record = [
        patient("p1", gender="male"),
        proc(
            "x1",
            "703423002",
            "Combined chemotherapy and radiation therapy",
            "2012-09-23",
            "Non-small cell lung cancer (disorder)",
        ),
        proc("x2", "80146002", "Appendectomy", "1990-02-18", "Appendicitis (disorder)"),
    ]
    source = MemorySource({"p1": record})
    a = await ask(
        "what procedures did he have for the cancer?",
        patient_id="p1",
        source=source,
        model=ScriptedChatModel([]),
        as_of=AS_OF,
    )
    assert a.usage.model_calls == 0
    assert [s.text.split(":")[0] for s in a.sentences] == [
        "Combined chemotherapy and radiation therapy"
    ]


async def test_a_change_asked_of_one_result(store: RecordStore) -> None:
    # Luigi has one HbA1c: "has it gone up?" had gone to the model (no change to say)
    said = await _computed(store, "has his a1c gone up?", patient=LUIGI)
    assert said.startswith(
        "HbA1c: 5.5 % on 2022-08-04, the only result, so there is no change to show"
    ), said

"""clinqa ground truth on tiny hand-made records: every kind, the tricky statuses, and
records coded differently (ICD-10-CM, local lab codes, displays without SNOMED tags).

The expected answers are written here by hand from the resources each test builds."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from bench.clinqa.concepts import CONDITIONS, LABS, SOCIAL, VACCINES
from bench.clinqa.generate import _window_part
from bench.clinqa.record import Record, load_record
from bench.clinqa.truth import compute
from bench.clinqa.windows import relative_windows, since_year

REF = "2025-06-01"
LOINC = "http://loinc.org"
SCT = "http://snomed.info/sct"
ICD = "http://hl7.org/fhir/sid/icd-10-cm"
CVX = "http://hl7.org/fhir/sid/cvx"
RX = "http://www.nlm.nih.gov/research/umls/rxnorm"
_ids = itertools.count(1)


def cc(system: str, code: str, display: str = "", text: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {"coding": [{"system": system, "code": code, "display": display}]}
    if text:
        out["text"] = text
    return out


def res(rtype: str, **fields: Any) -> dict[str, Any]:
    return {"resourceType": rtype, "id": f"{rtype.lower()}-{next(_ids)}", **fields}


def record(*resources: dict[str, Any], **patient: Any) -> Record:
    p = {"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1960-06-02",
         **patient}  # fmt: skip
    return Record("test", p, [p, *resources])


def obs(code: str, value: float, when: str, unit: str = "%", **kw: Any) -> dict[str, Any]:
    fields = {"status": "final", "code": cc(LOINC, code), "effectiveDateTime": when,
              "valueQuantity": {"value": value, "unit": unit}, **kw}  # fmt: skip
    return res("Observation", **fields)


def enc(start: str, cls: str = "AMB", typ: str = "Encounter for check up (procedure)",
        code: str = "185349003", status: str = "finished") -> dict[str, Any]:  # fmt: skip
    return res("Encounter", status=status, **{"class": {"code": cls}},
               type=[cc(SCT, code, typ)], period={"start": start, "end": start})  # fmt: skip


def cond(
    code: str, display: str, status: str = "active", system: str = SCT, **kw: Any
) -> dict[str, Any]:
    return res("Condition", clinicalStatus=cc("x", status), verificationStatus=cc("x", "confirmed"),
               code=cc(system, code, display), **kw)  # fmt: skip


def ask(kind: str, rec: Record, **params: Any) -> Any:
    return compute(kind, rec, params, REF)


def refs(*resources: dict[str, Any]) -> list[str]:
    return [f"{r['resourceType']}/{r['id']}" for r in resources]


# --------------------------------------------------------------------------- patient


def test_birth_age_alive_and_death() -> None:
    living = record()
    assert ask("birth_date", living).answer == {"value": "1960-06-02"}
    assert ask("age", living).answer["value"] == 64  # the birthday is the day after REF
    assert ask("alive", living).answer == {"value": True}
    assert ask("death_date", living).answer_type == "not_in_record"
    dead = record(deceasedDateTime="2020-06-02T10:00:00-05:00")
    assert ask("age", dead).answer["value"] == 60  # age at death, not on REF
    assert ask("death_date", dead).answer == {"value": "2020-06-02"}
    assert ask("alive", dead).answer == {"value": False}
    assert ask("alive", dead).groups == [["Patient/p1"]]
    unknown_date = record(deceasedBoolean=True)
    assert ask("death_date", unknown_date) is None  # deceased without a date: not asked
    assert ask("age", unknown_date) is None


# --------------------------------------------------------------------------- encounters


def test_last_encounter_skips_planned_and_cancelled() -> None:
    done = enc("2021-03-01T09:00:00Z")
    rec = record(done, enc("2024-01-01", status="planned"),
                 enc("2023-05-05", status="cancelled"), enc("2019-01-01"))  # fmt: skip
    fact = ask("last_encounter_date", rec)
    assert fact.answer == {"value": "2021-03-01"}
    assert fact.groups == [refs(done)]


def test_last_encounter_kind_accepts_class_or_type_and_rejects_other_classes() -> None:
    er = enc("2021-03-01", cls="EMER", typ="Emergency room admission (procedure)", code="50849002")
    fact = ask("last_encounter_kind", record(enc("2020-01-01"), er))
    assert fact.answer["value"] == "emergency"
    assert "emergency room admission" in fact.answer["accept"]
    assert "er" in fact.answer["accept"]
    assert "outpatient" in fact.answer["reject"]
    same_day = record(enc("2021-03-01"), er)  # a check-up and an ER visit on the last day
    assert ask("last_encounter_kind", same_day) is None


def test_encounters_in_a_window_and_since_the_last_checkup() -> None:
    checkup = enc("2022-02-02")
    later = [enc("2022-05-05", typ="Follow-up encounter", code="390906007"),
             enc("2023-01-01", cls="EMER", typ="Emergency Encounter", code="50849002")]  # fmt: skip
    rec = record(enc("2019-01-01"), checkup, *later)
    window = ask("encounter_count_window", rec, start="2022-01-01", end="2022-12-31")
    assert window.answer == {"value": 2}
    since = ask("visits_since_checkup", rec)
    assert since.answer == {"value": 2}
    assert since.groups == [refs(checkup), *[[r] for r in refs(*later)]]


# --------------------------------------------------------------------------- labs


def test_latest_lab_ignores_voided_and_preliminary_results() -> None:
    good = obs("4548-4", 6.1, "2020-01-01")
    rec = record(
        obs("4548-4", 5.9, "2019-01-01"), good,
        obs("4548-4", 9.9, "2021-01-01", status="entered-in-error"),
        obs("4548-4", 8.8, "2022-01-01", status="preliminary"),
    )  # fmt: skip
    fact = ask("lab_latest", rec, concept="a1c")
    assert fact.answer == {"value": 6.1, "unit": "%", "date": "2020-01-01"}
    assert fact.groups == [refs(good)]


def test_latest_lab_two_different_values_on_the_last_day_is_not_asked() -> None:
    rec = record(
        obs("4548-4", 6.1, "2020-01-01T08:00:00Z"), obs("4548-4", 6.4, "2020-01-01T17:00:00Z")
    )
    assert ask("lab_latest", rec, concept="a1c") is None
    same = record(
        obs("4548-4", 6.1, "2020-01-01T08:00:00Z"), obs("4548-4", 6.1, "2020-01-01T17:00:00Z")
    )
    assert ask("lab_latest", same, concept="a1c").answer["value"] == 6.1
    assert ask("lab_count", same, concept="a1c") is None  # "how many times": 1 or 2?


def test_lab_coded_locally_with_loinc_translation_or_by_name_only() -> None:
    translated = res("Observation", status="final", effectiveDateTime="2020-02-02",
                     code={"coding": [{"system": "urn:local", "code": "HBA1C", "display": "A1c"},
                                      {"system": LOINC, "code": "4548-4"}]},
                     valueQuantity={"value": 7.0, "unit": "%"})  # fmt: skip
    local = res("Observation", status="final", effectiveDateTime="2021-02-02",
                code=cc("urn:local", "GLY", "Hemoglobin A1c, blood"),
                valueQuantity={"value": 7.2, "unit": "%"})  # fmt: skip
    rec = record(translated, local)
    assert ask("lab_count", rec, concept="a1c").answer == {"value": 2}
    assert ask("lab_latest", rec, concept="a1c").answer["value"] == 7.2


def test_urine_glucose_is_not_blood_sugar() -> None:
    urine = obs("5792-7", 100, "2021-01-01", unit="mg/dL")  # coded: never matched by name
    local_urine = res("Observation", status="final", effectiveDateTime="2021-02-01",
                      code=cc("urn:local", "UGLU", "Glucose [Mass/volume] in Urine"),
                      valueQuantity={"value": 50, "unit": "mg/dL"})  # fmt: skip
    blood = obs("2345-7", 95, "2020-01-01", unit="mg/dL")
    fact = ask("lab_latest", record(urine, local_urine, blood), concept="glucose")
    assert fact.answer["date"] == "2020-01-01"
    assert fact.answer["value"] == 95


def test_latest_lab_in_a_window_or_not_in_the_record() -> None:
    rec = record(obs("4548-4", 6.0, "2019-05-01"), obs("4548-4", 6.6, "2024-12-15"))
    assert ask("lab_latest", rec, concept="a1c", start="2024-12-01", end=REF).answer["value"] == 6.6
    empty = ask("lab_latest", rec, concept="a1c", start="2025-01-01", end=REF)
    assert empty.answer_type == "not_in_record"
    assert empty.groups == []
    assert ask("lab_latest", rec, concept="tsh", domain="lab").answer_type == "not_in_record"


def test_trend_direction_needs_five_percent_and_one_unit() -> None:
    first, last = obs("4548-4", 7.0, "2015-01-01"), obs("4548-4", 6.0, "2020-01-01")
    rec = record(first, obs("4548-4", 8.0, "2017-01-01"), last)
    fact = ask("lab_direction", rec, concept="a1c")
    assert fact.answer == {"value": "decreased"}
    assert fact.groups == [refs(first), refs(last)]
    small = record(obs("4548-4", 6.0, "2015-01-01"), obs("4548-4", 6.2, "2020-01-01"))
    assert ask("lab_direction", small, concept="a1c") is None  # 3 %: not called
    units = record(obs("2345-7", 100, "2015-01-01", unit="mg/dL"),
                   obs("2345-7", 7.0, "2020-01-01", unit="mmol/L"))  # fmt: skip
    assert ask("lab_direction", units, concept="glucose") is None


def test_worse_and_better_follow_each_labs_direction() -> None:
    egfr = record(obs("33914-3", 80, "2016-01-01", unit="mL/min"),
                  obs("33914-3", 60, "2020-01-01", unit="mL/min"))  # fmt: skip
    worse = ask("lab_trend_yesno", egfr, concept="egfr", yes_direction="decreased")
    assert worse.answer == {"value": True}  # eGFR down = kidney function worse
    better = ask("lab_trend_yesno", egfr, concept="egfr", yes_direction="increased")
    assert better.answer == {"value": False}
    # "since 2018": the window starts after the first value
    a1c = record(obs("4548-4", 6.0, "2016-01-01"), obs("4548-4", 8.0, "2018-03-01"),
                 obs("4548-4", 7.0, "2020-01-01"))  # fmt: skip
    since = ask("lab_trend_yesno", a1c, concept="a1c", yes_direction="decreased",
                start="2018-01-01", end=REF)  # fmt: skip
    assert since.answer == {"value": True}  # 8.0 → 7.0: improved since 2018 (though up overall)


def test_last_versus_previous() -> None:
    rec = record(obs("2093-3", 200, "2018-01-01", unit="mg/dL"),
                 obs("2093-3", 180, "2019-01-01", unit="mg/dL"),
                 obs("2093-3", 190, "2020-01-01", unit="mg/dL"))  # fmt: skip
    assert ask("lab_vs_previous", rec, concept="cholesterol").answer == {"value": "increased"}


def test_lab_at_the_last_visit_by_encounter_reference_or_day() -> None:
    last = enc("2020-05-05")
    linked = obs("4548-4", 6.0, "2020-05-06", encounter={"reference": f"Encounter/{last['id']}"})
    rec = record(enc("2019-01-01"), last, linked)
    fact = ask("lab_at_last_visit", rec, concept="a1c")
    assert fact.answer == {"value": True}
    assert fact.groups == [refs(last), refs(linked)]
    assert ask("lab_at_last_visit", rec, concept="ldl").answer == {"value": False}


# --------------------------------------------------------------------------- conditions


def test_active_conditions_resolved_abated_voided_social() -> None:
    dm = cond("44054006", "Diabetes mellitus type 2 (disorder)")
    old_dm = cond("44054006", "Diabetes mellitus type 2 (disorder)", "resolved",
                  abatementDateTime="2001-01-01")  # fmt: skip
    sinus = cond(
        "444814009", "Viral sinusitis (disorder)", "resolved", abatementDateTime="2019-01-01"
    )
    abated = cond("195662009", "Acute viral pharyngitis (disorder)", "active",
                  abatementDateTime="2019-01-01")  # fmt: skip
    voided = res("Condition", clinicalStatus=cc("x", "active"),
                 verificationStatus=cc("x", "entered-in-error"), code=cc(SCT, "38341003", "Hypertension"))  # fmt: skip
    refuted = res("Condition", clinicalStatus=cc("x", "active"), verificationStatus=cc("x", "refuted"),
                  code=cc(SCT, "195967001", "Asthma"))  # fmt: skip
    job = cond("160903007", "Full-time employment (finding)")
    icd = cond("I10", "Essential (primary) hypertension", system=ICD)
    fact = ask("active_conditions", record(dm, old_dm, sinus, abated, voided, refuted, job, icd))
    assert fact.answer["value"] == ["Diabetes mellitus type 2 (disorder)",
                                    "Essential (primary) hypertension"]  # fmt: skip
    assert fact.answer["optional"] == ["Full-time employment (finding)"]
    assert fact.groups == [refs(dm), refs(icd)]  # the resolved episode is not evidence
    assert refs(job)[0] in fact.evidence
    assert refs(old_dm)[0] not in fact.evidence
    assert ask("active_conditions", record()).answer["value"] == []


def test_condition_yes_still_and_onset() -> None:
    icd_dm = cond("E11.9", "Type 2 diabetes mellitus without complications", system=ICD,
                  onsetDateTime="2010-04-04")  # fmt: skip
    kidney = cond("127013003", "Diabetic renal disease (disorder)", onsetDateTime="2015-01-01")
    pre = cond("15777000", "Prediabetes", onsetDateTime="2001-01-01")
    sinus = cond("36971009", "Sinusitis (disorder)", "resolved", abatementDateTime="2020-02-02",
                 onsetDateTime="2020-01-01")  # fmt: skip
    rec = record(icd_dm, kidney, pre, sinus)
    has = ask("condition_has", rec, concept="diabetes")
    assert has.answer == {"value": True}
    assert has.groups == [refs(icd_dm, kidney)]  # prediabetes is not diabetes
    assert ask("condition_onset", rec, concept="diabetes").answer == {"value": "2010-04-04"}
    still = ask("condition_has", rec, concept="sinusitis")
    assert still.answer == {"value": False}
    assert still.groups == [refs(sinus)]
    assert still.info["resolved"]
    never = ask("condition_has", rec, concept="asthma")
    assert never.answer == {"value": False}
    assert never.groups == []
    assert ask("condition_onset", rec, concept="asthma").answer_type == "not_in_record"


def test_social_entries_by_code_icd10_or_name() -> None:
    assert SOCIAL.matches(cc(SCT, "73595000", "Stress (finding)"))
    assert SOCIAL.matches(cc(ICD, "Z56.0", "Unemployment, unspecified"))
    assert SOCIAL.matches(cc("urn:local", "X", "Received higher education"))
    assert not SOCIAL.matches(cc("urn:local", "Y", "Post-traumatic stress disorder"))
    assert CONDITIONS["hypertension"].matches(cc(ICD, "I10", "Essential hypertension"))
    assert not CONDITIONS["hypertension"].matches(cc(SCT, "1", "Pulmonary hypertension"))


# --------------------------------------------------------------------------- medications


def mreq(display: str, status: str, authored: str, **kw: Any) -> dict[str, Any]:
    return res("MedicationRequest", status=status, intent="order", authoredOn=authored,
               medicationCodeableConcept=cc(RX, "1", display), **kw)  # fmt: skip


def test_current_medications_active_only_however_old() -> None:
    metformin = mreq(
        "24 HR Metformin hydrochloride 500 MG Extended Release Oral Tablet", "active", "2012-01-01"
    )
    stopped = mreq("Simvastatin 20 MG Oral Tablet", "stopped", "2019-01-01")
    held = mreq("Lisinopril 10 MG Oral Tablet", "on-hold", "2020-01-01")
    cancelled = mreq("Warfarin Sodium 5 MG Oral Tablet", "cancelled", "2021-01-01")
    med = res("Medication", code=cc(RX, "2", "Amlodipine 5 MG Oral Tablet"))
    by_ref = res("MedicationStatement", status="active", effectiveDateTime="2020-05-05",
                 medicationReference={"reference": f"Medication/{med['id']}"})  # fmt: skip
    fact = ask("current_medications", record(metformin, stopped, held, cancelled, med, by_ref))
    assert fact.answer["value"] == [
        "24 HR Metformin hydrochloride 500 MG Extended Release Oral Tablet",
        "Amlodipine 5 MG Oral Tablet",
    ]
    assert fact.answer["aliases"][0] == ["Metformin hydrochloride", "Metformin"]
    assert fact.groups == [refs(metformin), refs(by_ref)]


def test_still_taking_and_last_ordered() -> None:
    old = mreq("Simvastatin 20 MG Oral Tablet", "stopped", "2015-01-01")
    newer = mreq("Simvastatin 20 MG Oral Tablet", "completed", "2019-01-01")
    rec = record(old, newer, mreq("Metformin 500 MG Oral Tablet", "active", "2010-01-01"))
    statin = ask("med_still", rec, concept="statin")
    assert statin.answer == {"value": False}
    assert statin.groups == [refs(old, newer)]
    assert ask("med_still", rec, concept="metformin").answer == {"value": True}
    assert ask("med_still", rec, concept="warfarin") is None  # never had it: not asked
    assert ask("med_last_ordered", rec, concept="statin").answer == {"value": "2019-01-01"}


# --------------------------------------------------------------------------- allergies


def allergy(
    display: str, status: str = "active", verification: str = "confirmed"
) -> dict[str, Any]:
    return res("AllergyIntolerance", clinicalStatus=cc("x", status),
               verificationStatus=cc("x", verification), code=cc(SCT, "0", display))  # fmt: skip


def test_allergies_none_inactive_refuted() -> None:
    assert ask("allergies", record()).answer["value"] == []
    peanut = allergy("Allergy to peanuts")
    rec = record(
        peanut,
        allergy("Latex allergy", "inactive"),
        allergy("Shellfish allergy", verification="refuted"),
    )
    fact = ask("allergies", rec)
    assert fact.answer["value"] == ["Allergy to peanuts"]
    assert fact.answer["aliases"] == [["peanuts"]]
    assert ask("allergy_to", rec, concept="peanut").answer == {"value": True}
    assert ask("allergy_to", rec, concept="penicillin").answer == {"value": False}
    assert ask("allergy_to", rec, concept="latex") is None  # only an inactive one: not asked


# --------------------------------------------------------------------------- events


def imm(code: str, when: str, status: str = "completed", display: str = "") -> dict[str, Any]:
    return res("Immunization", status=status, vaccineCode=cc(CVX, code, display),
               occurrenceDateTime=when)  # fmt: skip


def test_vaccines_completed_only_by_cvx_or_name() -> None:
    flu = imm("140", "2020-10-01")
    rec = record(imm("141", "2019-10-01"), flu, imm("140", "2021-10-01", status="not-done"),
                 res("Immunization", status="completed", occurrenceDateTime="2018-01-01",
                     vaccineCode=cc("urn:local", "ZOS", "Zoster vaccine recombinant")))  # fmt: skip
    assert ask("vaccine_last", rec, concept="flu").answer == {"value": "2020-10-01"}
    assert ask("vaccine_last", rec, concept="zoster").answer == {"value": "2018-01-01"}
    assert ask("vaccine_last", rec, concept="covid").answer_type == "not_in_record"
    window = ask("vaccine_in_window", rec, concept="flu", start="2020-09-01", end="2020-11-30")
    assert window.answer == {"value": True}
    assert window.groups == [refs(flu)]
    assert VACCINES["tetanus"].matches(cc(CVX, "115", "Tdap"))


def test_procedures_completed_only() -> None:
    scope = res("Procedure", status="completed", code=cc(SCT, "73761001", "Colonoscopy"),
                performedPeriod={"start": "2018-03-03T10:00:00Z"})  # fmt: skip
    rec = record(scope, res("Procedure", status="not-done", code=cc(SCT, "73761001", "Colonoscopy"),
                            performedDateTime="2022-02-02"))  # fmt: skip
    assert ask("procedure_ever", rec, concept="colonoscopy").groups == [refs(scope)]
    assert ask("procedure_last", rec, concept="colonoscopy").answer == {"value": "2018-03-03"}
    assert ask("procedure_ever", rec, concept="mammogram").answer == {"value": False}
    assert ask("procedure_last", rec, concept="mammogram").answer_type == "not_in_record"


# --------------------------------------------------------------------------- windows


def test_relative_windows_against_the_reference_date() -> None:
    w = {x.key: x for x in relative_windows(REF)}
    assert w["past_6_months"].spans == (("2024-12-01", REF),)
    assert w["this_year"].spans == (("2025-01-01", REF),)
    assert w["last_year"].spans == (("2024-01-01", "2024-12-31"),)
    assert w["last_fall"].spans[0] == ("2024-09-01", "2024-11-30")
    # on June 1st "last spring" may be the one that just ended or the one before
    assert set(w["last_spring"].spans) == {
        ("2025-03-01", "2025-05-31"),
        ("2024-03-01", "2024-05-31"),
    }
    assert since_year(2015, REF).spans == (("2015-01-01", REF),)
    leap = {x.key: x for x in relative_windows("2024-04-10")}
    assert leap["last_winter"].spans[0] == ("2023-12-01", "2024-02-29")


def test_an_ambiguous_window_is_asked_only_when_every_reading_agrees() -> None:
    spring = {x.key: x for x in relative_windows(REF)}["last_spring"]
    autumn_only = record(enc("2020-01-01"), imm("140", "2024-10-04"))
    agreed = _window_part("vaccine_in_window", autumn_only, REF, spring, VACCINES["flu"])
    assert agreed is not None
    assert agreed.fact.answer == {"value": False}
    assert agreed.params["readings"] == [list(s) for s in spring.spans]
    one = record(enc("2020-01-01"), imm("140", "2024-04-04"))  # yes under one reading only
    assert _window_part("vaccine_in_window", one, REF, spring, VACCINES["flu"]) is None
    # yes under both, but a different shot supports each: the evidence must agree too
    both = record(enc("2020-01-01"), imm("140", "2024-04-04"), imm("140", "2025-04-04"))
    assert _window_part("vaccine_in_window", both, REF, spring, VACCINES["flu"]) is None


def test_a_bundle_file_is_read_with_urn_ids(tmp_path: Any) -> None:
    import json

    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:aaa", "resource": {"resourceType": "Patient", "gender": "male"}},
        {"fullUrl": "urn:uuid:bbb", "resource": {"resourceType": "Observation", "status": "final",
         "code": cc(LOINC, "4548-4"), "subject": {"reference": "urn:uuid:aaa"},
         "effectiveDateTime": "2020-01-01", "valueQuantity": {"value": 6.5, "unit": "%"}}},
    ]}  # fmt: skip
    path = tmp_path / "b.json"
    path.write_text(json.dumps(bundle))
    rec = load_record(path)
    assert rec is not None
    assert rec.patient_id == "aaa"
    assert ask("lab_latest", rec, concept="a1c").groups == [["Observation/bbb"]]
    (tmp_path / "hospital.json").write_text(json.dumps({"resourceType": "Bundle", "entry": []}))
    assert load_record(tmp_path / "hospital.json") is None


@pytest.mark.parametrize("key", sorted(LABS))
def test_every_lab_concept_has_lay_words_and_codes(key: str) -> None:
    c = LABS[key]
    assert c.lay
    assert c.shorthand
    assert c.codes

"""The verifier's contract, on evidence made by the real builder and the real tools.

The record below goes through :func:`tools.evidence.build_evidence`; absence items come
from running the agent's own tools on it. Each corpus case is a sentence, the resources
it cites, and the expected verdict: ``verified`` (shown as fact), ``unverified`` (shown
marked: a term could not be checked) or ``failed`` (dropped). The first block is the
false-pass corpus: sentences an earlier, text-based verifier passed although the record
does not support them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from agent.context import AgentContext, AgentSettings
from agent.session import Seen, seen_entry, seen_of
from agent.toolkit import run_tool_call
from agent.verify import verify_sentences
from tests._record_fixtures import MemorySource, bp, condition, med, obs, patient
from tests.agent_fixtures import ScriptedChatModel
from tools.evidence import EvidenceSet, build_evidence

AS_OF = dt.date(2026, 1, 1)
P1, P2 = "p1", "p2"
SUBJECT = {"reference": f"Patient/{P1}"}


def _allergy(aid: str, code: str, display: str, recorded: str) -> dict[str, Any]:
    return {
        "resourceType": "AllergyIntolerance", "id": aid, "patient": SUBJECT,
        "clinicalStatus": {"coding": [{"code": "active"}]}, "type": "allergy", "category": ["food"],
        "criticality": "high", "recordedDate": recorded,
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": code, "display": display}]},
        "reaction": [{"manifestation": [{"text": "Anaphylaxis"}], "severity": "severe"}],
    }  # fmt: skip


def _record() -> list[dict[str, Any]]:
    hba1c_range = {
        "referenceRange": [
            {"low": {"value": 4.0, "unit": "%"}, "high": {"value": 5.6, "unit": "%"}}
        ]
    }
    return [
        patient(P1, birthDate="1950-06-15"),
        condition("htn", "59621000", "Essential hypertension (disorder)", "2010-03-02"),
        condition("dm", "44054006", "Diabetes mellitus type 2 (disorder)", "2016-12-14"),
        condition("emp", "160903007", "Full-time employment (finding)", "2012-01-01"),
        condition("ow", "162863004", "Body mass index 25-29 - overweight (finding)", "2015-01-01"),
        condition("hl", "55822004", "Hyperlipidemia (disorder)", "2021-03-25"),
        condition("sin", "444814009", "Viral sinusitis (disorder)", "2019-02-01", "resolved",
                  abatement="2019-02-20"),
        {
            "resourceType": "Condition", "id": "ast", "subject": SUBJECT,
            "clinicalStatus": {"coding": [{"code": "active"}]},
            "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "J45.909",
                                 "display": "Unspecified asthma, uncomplicated"}]},
            "onsetDateTime": "2018-05-05",
        },
        med("pv", "834102", "Penicillin V Potassium 250 MG Oral Tablet", "1960-05-01", status="stopped"),
        med("lis", "314076", "lisinopril 10 MG Oral Tablet", "2025-10-02",
            reasonCode=[{"text": "Essential hypertension (disorder)"}]),
        med("ator", "617310", "Atorvastatin 20 MG Oral Tablet", "2025-09-01"),
        _allergy("pea", "91935009", "Allergy to peanuts", "2015-06-01"),
        _allergy("asa", "387458008", "Aspirin", "2016-02-01"),
        obs("glu", "2345-7", 99.0, "mg/dL", "2021-01-05T08:00:00+00:00", display="Glucose"),
        obs("cr1", "2160-0", 1.1, "mg/dL", "2021-01-05T08:00:00+00:00", display="Creatinine"),
        obs("cr2", "2160-0", 1.3, "mg/dL", "2021-07-09T08:00:00+00:00", display="Creatinine"),
        obs("chol", "2093-3", 200.0, "mg/dL", "2021-01-05T08:00:00+00:00", display="Cholesterol"),
        obs("egfr", "33914-3", 72.85, "mL/min/{1.73_m2}", "2021-01-05T08:00:00+00:00", display="eGFR"),
        obs("wbc", "6690-2", 3.774, "10*3/uL", "2021-01-05T08:00:00+00:00", display="Leukocytes"),
        obs("a1", "4548-4", 6.1, "%", "2019-03-04T08:00:00+00:00", display="Hemoglobin A1c", **hba1c_range),
        obs("a2", "4548-4", 6.4, "%", "2019-09-10T08:00:00+00:00", display="Hemoglobin A1c", **hba1c_range),
        obs("w1", "29463-7", 73.51, "kg", "2020-01-01T08:00:00+00:00", category="vital-signs", display="Body weight"),
        obs("w2", "29463-7", 76.37, "kg", "2021-01-01T08:00:00+00:00", category="vital-signs", display="Body weight"),
        bp("bp1", 156.9, 111.3, "2025-01-15T08:00:00+00:00"),
        {
            "resourceType": "Immunization", "id": "flu", "patient": SUBJECT, "status": "completed",
            "vaccineCode": {"coding": [{"system": "http://hl7.org/fhir/sid/cvx", "code": "140",
                                        "display": "Influenza, seasonal, injectable, preservative free"}]},
            "occurrenceDateTime": "2025-04-30T09:00:00+00:00",
        },
        {
            "resourceType": "Procedure", "id": "colo", "subject": SUBJECT, "status": "completed",
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "73761001", "display": "Colonoscopy"}]},
            "performedDateTime": "2020-07-14T09:00:00+00:00",
        },
        {
            "resourceType": "Goal", "id": "g1", "subject": SUBJECT, "lifecycleStatus": "active",
            "description": {"text": "Hemoglobin A1c below 7 %"},
            "target": [{"measure": {"coding": [{"system": "http://loinc.org", "code": "4548-4",
                                                "display": "Hemoglobin A1c"}]},
                        "detailQuantity": {"value": 7, "comparator": "<", "unit": "%"}}],
        },
        *(
            {
                "resourceType": "Encounter", "id": eid, "subject": SUBJECT, "status": "finished",
                "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
                "type": [{"coding": [{"system": "http://snomed.info/sct", "code": "185349003",
                                      "display": "Encounter for check up (procedure)"}]}],
                "period": {"start": f"{day}T09:00:00+00:00", "end": f"{day}T09:30:00+00:00"},
            }
            for eid, day in (("e1", "2016-05-01"), ("e2", "2017-03-02"), ("e3", "2018-07-07"))
        ),
        {
            "resourceType": "FamilyMemberHistory", "id": "fh", "patient": SUBJECT, "status": "completed",
            "relationship": {"text": "mother"}, "date": "2019-01-01",
            "condition": [{"code": {"text": "Diabetes mellitus type 2"}}],
        },
    ]  # fmt: skip


def _record2() -> list[dict[str, Any]]:
    return [patient(P2, birthDate="1980-02-02")]


async def _session(
    record: list[dict[str, Any]], pid: str, calls: list[dict[str, Any]]
) -> tuple[dict[str, Seen], EvidenceSet]:
    """Every evidence item of the record (from the builder), plus what the tool calls made."""
    source = MemorySource({pid: record})
    ctx = AgentContext(patient_id=pid, source=source, model=ScriptedChatModel([]),
                       settings=AgentSettings(), as_of=AS_OF)  # fmt: skip
    ev = build_evidence(record, as_of=AS_OF)
    ctx.cache.record, ctx.cache.evidence = record, ev
    state: dict[str, dict[str, Any]] = {i.handle: seen_entry(i) for i in ev.items}
    for call in calls:
        result = await run_tool_call(ctx, call)
        state.update(result.seen)
    return seen_of(state), ev


_TOOL_CALLS = [
    {"tool": "search_record", "args": {"resource_type": "Procedure", "name": "rectal polypectomy"}},
    {"tool": "lab_trend", "args": {"name": "creatinine"}},
]


@pytest.fixture(scope="module")
async def p1() -> tuple[dict[str, Seen], EvidenceSet]:
    return await _session(_record(), P1, _TOOL_CALLS)


@pytest.fixture(scope="module")
async def p2() -> tuple[dict[str, Seen], EvidenceSet]:
    calls = [{"tool": "record_summary", "args": {"section": "allergies"}},
             {"tool": "record_summary", "args": {"section": "medications"}}]  # fmt: skip
    return await _session(_record2(), P2, calls)


def _handles(refs: list[str], seen: dict[str, Seen]) -> list[str]:
    """Cited resources (``Condition/htn``) or searches (``search:Procedure``) → handles."""
    out = []
    for ref in refs:
        if ref.startswith("search:"):
            want = ref.split(":", 1)[1]
            out.append(
                next(
                    h
                    for h, s in seen.items()
                    if s.item.scope and want in s.item.scope.resource_types
                )
            )
            continue
        out.append(
            next(
                h for h, s in seen.items() if ref in s.item.references and s.item.kind != "absence"
            )
        )
    return out


FALSE_PASS: list[tuple[str, list[str], str]] = [
    # the probes of the issue
    ("HbA1c was 5.6 % in 2019.", ["Observation/a1"], "failed"),  # a range bound is no value
    ("The patient is obese.", ["Condition/ow"], "failed"),  # overweight is not obesity
    ("She takes Lipitor.", ["Condition/htn"], "failed"),  # a brand on an unrelated citation
    ("She has sarcoidosis.", ["Condition/htn"], "failed"),
    ("She has no known drug allergies.", ["Observation/a1"], "failed"),  # negation, no search
    ("HbA1c has been improving, 6.4 % on 2019-09-10.", ["Observation/a1"], "failed"),  # it rose
    # a bare "up"/"down" after a verb of being or trend (clinqa cpu-demo: LDL fell)
    ("The trend of HbA1c is down overall.", ["Observation/a1"], "failed"),
    ("HbA1c is trending down.", ["Observation/a1"], "failed"),
    ("The patient was seen for influenza on April 30, 2025.", ["Immunization/flu"], "failed"),
    # units, dates, analytes
    ("Glucose was 99 mmol/L.", ["Observation/glu"], "failed"),
    ("Glucose was 99 mg/dL on 2020-01-05.", ["Observation/glu"], "failed"),  # a year off
    ("Creatinine was 99 mg/dL.", ["Observation/glu"], "failed"),  # right value, wrong analyte
    # ... also when both are cited: a value is the analyte's named just before it
    ("Creatinine was 99 mg/dL.", ["Observation/glu", "Observation/cr1"], "failed"),
    ("Glucose was 1.1 mg/dL.", ["Observation/glu", "Observation/cr1"], "failed"),
    ("Creatinine was 1.1 mmol/L.", ["Observation/cr1"], "failed"),
    ("Leukocytes were 4.774 10³/µL on 2021-01-05.", ["Observation/wbc"], "failed"),
    ("Blood pressure was 156.9/112.3 mmHg.", ["Observation/bp1"], "failed"),
    ("Her weight was 76.37 lb.", ["Observation/w2"], "failed"),
    # brands and generics, classes
    ("She takes Norvasc.", ["MedicationRequest/lis"], "failed"),
    ("She takes metformin.", ["MedicationRequest/ator"], "failed"),
    ("She takes a beta blocker.", ["MedicationRequest/lis"], "failed"),
    ("She takes a statin for her diabetes.", ["MedicationRequest/ator"], "failed"),
    ("She takes atorvastatin for her blood pressure.", ["MedicationRequest/ator"], "failed"),
    ("She has high cholesterol and takes atorvastatin.", ["MedicationRequest/ator"], "failed"),
    # conditions, ICD-10, hierarchy
    ("She has COPD.", ["Condition/ast"], "failed"),
    ("She has hypercholesterolemia.", ["Condition/hl"], "failed"),  # a parent is not its child
    ("She has diabetes.", ["Condition/htn"], "failed"),
    ("She has heart failure.", ["Condition/htn"], "failed"),
    # negation traps
    ("She has no diabetes.", ["Condition/dm"], "failed"),
    ("She is not on a statin.", ["MedicationRequest/ator"], "failed"),
    (
        "There is no record of a colonoscopy.",
        ["search:Procedure"],
        "failed",
    ),  # searched polypectomy
    ("No allergies are recorded.", ["AllergyIntolerance/pea"], "failed"),
    # statuses and directions
    ("Her hypertension is resolved.", ["Condition/htn"], "failed"),
    # that a resolved problem goes on ("No, my whiplash did not get better", citing it resolved)
    ("Her sinusitis did not get better.", ["Condition/sin"], "failed"),
    ("Her sinusitis has not cleared up.", ["Condition/sin"], "failed"),
    ("Penicillin V is a current medication.", ["MedicationRequest/pv"], "failed"),
    ("Creatinine fell from 1.1 to 1.3 mg/dL.", ["Observation/cr1"], "failed"),
    ("Creatinine rose by 0.3 mg/dL.", ["Observation/cr1"], "failed"),
    ("Her weight has been stable.", ["Observation/w1"], "failed"),
    # counts, comparisons, ages, codes
    ("She has had 3 HbA1c results.", ["Observation/a1"], "failed"),
    ("She has had 1 HbA1c test.", ["Observation/a1"], "failed"),  # one series of two results
    ("Her HbA1c was above 7 %.", ["Observation/a1"], "failed"),
    ("HbA1c was 7 % in 2019.", ["Observation/a1", "Goal/g1"], "failed"),  # a target is no value
    ("She is 74 years old.", ["Patient/p1"], "failed"),
    ("The colonoscopy (CVX 140) was done in 2020.", ["Procedure/colo"], "failed"),
    ("Her HbA1c (code 2093-3) was 6.4 % on 2019-09-10.", ["Observation/a1"], "failed"),
    ("She was diagnosed with diabetes in 2015.", ["Condition/dm"], "failed"),
    # relatives, vaccines, allergens
    ("Her mother had hypertension.", ["FamilyMemberHistory/fh"], "failed"),
    ("She received a pneumococcal vaccine on 2025-04-30.", ["Immunization/flu"], "failed"),
    ("She is allergic to penicillin.", ["AllergyIntolerance/pea"], "failed"),
    ("She is allergic to penicillin.", ["MedicationRequest/pv"], "failed"),  # an order, no allergy
    # an allergy to a drug is no order of it: the drug's name copied from it is no "taking"
    ("She is taking aspirin.", ["AllergyIntolerance/asa"], "failed"),
    ("She is on aspirin.", ["AllergyIntolerance/asa"], "failed"),
    # a count over a stated window is the count of cited entries in that window, not of all
    ("She was seen 3 times in 2017.", ["Encounter/e2"], "failed"),
    # "last seen" is checked against every visit seen, not only the one cited
    ("She was last seen on 2017-03-02.", ["Encounter/e2"], "failed"),
    ("Her most recent visit was on 2017-03-02.", ["Encounter/e2"], "failed"),
    # a term on no list: never shown as fact
    ("She takes Xyzzyzol.", ["MedicationRequest/lis"], "unverified"),
    # judgements of a result against its range or the usual treatment goal (cpu-demo:
    # "6.6 % … within the reference range of 4-5.6 %")
    ("Her HbA1c of 6.4 % is within the reference range.", ["Observation/a1"], "failed"),
    ("Her HbA1c is normal.", ["Observation/a1"], "failed"),
    (
        "Her glucose is within range and her HbA1c is within the reference range.",
        ["Observation/a1", "Observation/glu"],
        "failed",
    ),
    # cpu-demo judgeqa: passed before the range's own name could be anything
    (
        "Her HbA1c of 6.4 % is within the ADA recommended range of 4-5.6 %.",
        ["Observation/a1"],
        "failed",
    ),
    ("Her glucose is elevated.", ["Observation/glu"], "failed"),  # 99, default range 70–99
    ("Her blood pressure is well controlled.", ["Observation/bp1"], "failed"),  # 156.9/111.3
    ("Her blood pressure is at goal.", ["Observation/bp1"], "failed"),
    ("Her HbA1c of 6.1 % was not at goal.", ["Observation/a1"], "failed"),
    ("Her leukocytes are not low.", ["Observation/wbc"], "failed"),  # 3.774, range 4.5–11
    # an allergy's severity is its criticality or a severe reaction (cpu-demo: "does not
    # have any severe allergies" had been dropped as "no allergies")
    ("She has no severe allergies.", ["AllergyIntolerance/pea"], "failed"),
    ("None of her allergies is serious.", ["AllergyIntolerance/pea"], "failed"),
    # a judgement with no cited result to check it against is never shown as fact
    ("Her diabetes is well controlled.", ["Condition/dm"], "unverified"),
]

CORRECT: list[tuple[str, list[str], str]] = [
    ("She has a severe peanut allergy.", ["AllergyIntolerance/pea"], "verified"),
    (
        "Her peanut allergy is serious, with criticality high.",
        ["AllergyIntolerance/pea"],
        "verified",
    ),
    ("Her HbA1c of 6.4 % is above the reference range.", ["Observation/a1"], "verified"),
    ("Her HbA1c was elevated at 6.4 % on 2019-09-10.", ["Observation/a1"], "verified"),
    ("Her glucose was within the normal range.", ["Observation/glu"], "verified"),
    # each judgement of the result named before it, of several cited
    (
        "Her HbA1c of 6.4 % is above the reference range, and her glucose is within it.",
        ["Observation/a1", "Observation/glu"],
        "verified",
    ),
    ("Her HbA1c of 6.4 % is above the lab's reference range.", ["Observation/a1"], "verified"),
    # "used to treat" is what a drug is for, not a past order (cpu-demo judgeqa)
    (
        "She takes lisinopril, a medication used to treat hypertension.",
        ["MedicationRequest/lis"],
        "verified",
    ),
    (
        "Her diabetes is well controlled: her latest HbA1c was 6.4 % on 2019-09-10.",
        ["Condition/dm", "Observation/a1"],
        "verified",
    ),
    ("Her diabetes appears to be under control.", ["Condition/dm", "Observation/a1"], "verified"),
    ("Her blood pressure is not controlled.", ["Observation/bp1"], "verified"),
    ("Her blood pressure is above goal.", ["Observation/bp1"], "verified"),
    ("Her blood pressure of 156.9/111.3 mmHg is uncontrolled.", ["Observation/bp1"], "verified"),
    ("Her leukocytes were below the normal range on 2021-01-05.", ["Observation/wbc"], "verified"),
    ("Her HbA1c was 6.4 % on 2019-09-10.", ["Observation/a1"], "verified"),
    ("Her HbA1c rose from 6.1 % to 6.4 % in 2019.", ["Observation/a1"], "verified"),
    # which way is better for a measure is no claim about its course (code says it so)
    (
        "Her HbA1c rose from 6.1 % to 6.4 % in 2019; for HbA1c, lower is better.",
        ["Observation/a1"],
        "verified",
    ),
    ("The trend of HbA1c is up overall.", ["Observation/a1"], "verified"),
    ("Her HbA1c was up to 6.4 % on 2019-09-10.", ["Observation/a1"], "verified"),
    ("Her HbA1c was above the normal limit of 5.6 %.", ["Observation/a1"], "verified"),
    ("She has had 2 HbA1c results.", ["Observation/a1"], "verified"),
    # a code restated after the word "code" is a code, not the number 4548 (cpu-demo)
    ("Her HbA1c (code 4548-4) was 6.4 % on 2019-09-10.", ["Observation/a1"], "verified"),
    ("She has had 3 visits, the last on 2018-07-07.", ["Encounter/e2"], "verified"),
    ("She was last seen on 2018-07-07.", ["Encounter/e3"], "verified"),
    ("Her last check up visit was on 2018-07-07.", ["Encounter/e3"], "verified"),
    ("Her HbA1c goal is below 7 %.", ["Goal/g1"], "verified"),
    ("She has high blood pressure.", ["Condition/htn"], "verified"),
    ("Her sinusitis resolved on 2019-02-20.", ["Condition/sin"], "verified"),
    ("She is on atorvastatin 20 MG daily.", ["MedicationRequest/ator"], "verified"),  # mg, not Mg
    ("Her hypertension has not resolved.", ["Condition/htn"], "verified"),
    ("She has a history of hypertension since 2010.", ["Condition/htn"], "verified"),
    ("She has type 2 diabetes.", ["Condition/dm"], "verified"),
    ("She has hyperlipidemia.", ["Condition/hl"], "verified"),
    ("She has asthma.", ["Condition/ast"], "verified"),
    ("She takes Zestril for hypertension.", ["MedicationRequest/lis"], "verified"),
    ("She takes lisinopril 10 mg.", ["MedicationRequest/lis"], "verified"),
    ("She takes a statin.", ["MedicationRequest/ator"], "verified"),
    # a drug "for" what its class is given for (cpu-demo: losartan "for her blood pressure")
    ("She takes atorvastatin for her cholesterol.", ["MedicationRequest/ator"], "verified"),
    ("She takes atorvastatin to lower her cholesterol.", ["MedicationRequest/ator"], "verified"),
    ("She takes lisinopril for her blood pressure.", ["MedicationRequest/lis"], "verified"),
    ("She took penicillin V in 1960.", ["MedicationRequest/pv"], "verified"),
    ("She is allergic to peanuts, with anaphylaxis.", ["AllergyIntolerance/pea"], "verified"),
    ("She is allergic to aspirin.", ["AllergyIntolerance/asa"], "verified"),
    ("An allergy to Aspirin is on file.", ["AllergyIntolerance/asa"], "verified"),
    ("She has a food allergy.", ["AllergyIntolerance/pea"], "verified"),
    ("Glucose was 5.5 mmol/L on 2021-01-05.", ["Observation/glu"], "verified"),
    (
        "Glucose was 99 mg/dL and creatinine 1.1 mg/dL on 2021-01-05.",
        ["Observation/glu", "Observation/cr1"],
        "verified",
    ),
    ("Her blood sugar was 99 mg/dL.", ["Observation/glu"], "verified"),
    # units as a clinician writes them (tools.units.display_unit): not numbers, same unit
    ("eGFR was 72.85 mL/min/1.73 m² on 2021-01-05.", ["Observation/egfr"], "verified"),
    ("Leukocytes were 3.774 10³/µL on 2021-01-05.", ["Observation/wbc"], "verified"),
    ("Leukocytes were 3.774 10*3/uL on 2021-01-05.", ["Observation/wbc"], "verified"),
    ("Creatinine was 115 µmol/L in July 2021.", ["Observation/cr2"], "verified"),
    ("Creatinine rose by 0.2 mg/dL.", ["Observation/cr1"], "verified"),
    ("Her weight went up by 2.86 kg, from 73.51 to 76.37 kg.", ["Observation/w1"], "verified"),
    ("Blood pressure was 156.9/111.3 mmHg on 2025-01-15.", ["Observation/bp1"], "verified"),
    ("Her last flu shot was on 2025-04-30.", ["Immunization/flu"], "verified"),
    ("She was vaccinated against influenza in April 2025.", ["Immunization/flu"], "verified"),
    ("She has undergone a colonoscopy on 2020-07-14.", ["Procedure/colo"], "verified"),
    ("No rectal polypectomy is recorded.", ["search:Procedure"], "verified"),
    ("Her mother had diabetes.", ["FamilyMemberHistory/fh"], "verified"),
    ("She is 75 years old.", ["Patient/p1"], "verified"),
    ("She still takes atorvastatin.", ["MedicationRequest/ator"], "verified"),
    ("Penicillin V was stopped.", ["MedicationRequest/pv"], "verified"),
    ("If her HbA1c rises, insulin may be considered.", ["Observation/a1"], "unverified"),
    # a body part is no claim of its own ("on the other hand")
    ("On the other hand, creatinine was 1.3 mg/dL in July 2021.", ["Observation/cr2"], "verified"),
]

CORRECT_P2: list[tuple[str, list[str], str]] = [
    ("No allergies are recorded.", ["search:AllergyIntolerance"], "verified"),
    ("She has no known drug allergies.", ["search:AllergyIntolerance"], "verified"),
    ("There are no medications on file.", ["search:MedicationRequest"], "verified"),
    ("She has no penicillin allergy.", ["search:AllergyIntolerance"], "verified"),
    ("She has no severe allergies.", ["search:AllergyIntolerance"], "verified"),
]


async def _verdict(
    session: tuple[dict[str, Seen], EvidenceSet], text: str, refs: list[str]
) -> tuple[str, list[str], list[str]]:
    seen, _ev = session
    [check] = verify_sentences(
        [{"text": text, "cites": _handles(refs, seen)}], seen, as_of=AS_OF
    ).checks
    return check.verdict, check.reasons, check.unchecked


@pytest.mark.parametrize(
    ("text", "refs", "expected"), FALSE_PASS, ids=[c[0][:50] for c in FALSE_PASS]
)
async def test_false_pass_corpus(p1: Any, text: str, refs: list[str], expected: str) -> None:
    verdict, reasons, unchecked = await _verdict(p1, text, refs)
    assert verdict == expected, (reasons, unchecked)


@pytest.mark.parametrize(("text", "refs", "expected"), CORRECT, ids=[c[0][:50] for c in CORRECT])
async def test_correct_sentences(p1: Any, text: str, refs: list[str], expected: str) -> None:
    verdict, reasons, unchecked = await _verdict(p1, text, refs)
    assert verdict == expected, (reasons, unchecked)


@pytest.mark.parametrize(
    ("text", "refs", "expected"), CORRECT_P2, ids=[c[0][:50] for c in CORRECT_P2]
)
async def test_negative_answers_rest_on_searches(
    p2: Any, text: str, refs: list[str], expected: str
) -> None:
    verdict, reasons, unchecked = await _verdict(p2, text, refs)
    assert verdict == expected, (reasons, unchecked)


async def test_unknown_handles_and_no_citation(p1: Any) -> None:
    seen, _ev = p1
    glu = _handles(["Observation/glu"], seen)
    v = verify_sentences(
        [
            {"text": "Glucose was 99 mg/dL.", "cites": [*glu, "E999"]},
            {"text": "Glucose was 99 mg/dL.", "cites": ["E999"]},
            {"text": "Glucose was 99 mg/dL.", "cites": []},
        ],
        seen,
    )
    kept, unknown_only, none = v.checks
    assert kept.ok
    assert kept.valid_cites == glu
    assert any("E999" in r for r in kept.reasons)
    assert not unknown_only.ok
    assert not none.ok


async def test_dates_of_the_question_may_be_restated(p1: Any) -> None:
    seen, _ev = p1
    cites = _handles(["Observation/cr1"], seen)
    text = "Between 2021-01-01 and 2021-12-31 creatinine rose from 1.1 to 1.3 mg/dL."
    q = "Did creatinine go up or down between 2021-01-01 and 2021-12-31?"
    assert verify_sentences([{"text": text, "cites": cites}], seen, question=q).checks[0].ok
    plain = verify_sentences([{"text": text, "cites": cites}], seen).checks[0]
    assert [f.kind for f in plain.findings] == ["date", "date"]


async def test_a_count_over_a_window_counts_the_cited_entries_in_it(p1: Any) -> None:
    """ "15 visits from 2017-01-01 to 2017-12-31" citing a visit type seen 15 times over the
    years passed once: the count is of the cited entries *in the stated window*."""
    seen, _ev = p1
    cites = _handles(["Encounter/e2"], seen)
    q = "How many visits did she have from 2017-01-01 to 2017-12-31?"

    def verdict(text: str) -> str:
        check = verify_sentences([{"text": text, "cites": cites}], seen, question=q).checks[0]
        return check.verdict

    assert verdict("She had 1 visit from 2017-01-01 to 2017-12-31.") == "verified"
    assert verdict("She had 3 visits from 2017-01-01 to 2017-12-31.") == "failed"
    assert verdict("She had 3 visits between 2017-01-01 and 2017-12-31.") == "failed"
    assert verdict("She had 2 visits since 2017-01-01.") == "verified"
    assert verdict("She had 3 visits since 2017-01-01.") == "failed"


async def test_a_stated_day_lies_in_the_window_the_sentence_states(p1: Any) -> None:
    """ "The most recent creatinine between 2019-01-01 and 2019-12-31 is 1.3 mg/dL on
    2021-07-09": value and day are in the record, the claim is false (MedAgentBench,
    cpu-demo). The right answer and a sentence that speaks of what lies outside stay."""
    seen, _ev = p1
    cites = _handles(["Observation/cr2"], seen)

    def verdict(text: str) -> str:  # the question states the window (its dates may be restated)
        check = verify_sentences([{"text": text, "cites": cites}], seen, question=text).checks[0]
        return check.verdict

    wrong = (
        "The most recent creatinine between 2019-01-01 and 2019-12-31 is 1.3 mg/dL on 2021-07-09."
    )
    assert verdict(wrong) == "failed"
    assert verdict(wrong.replace("2019-12-31", "2021-12-31")) == "verified"
    assert verdict("From 2021-01-01 to 2021-12-31 creatinine was 1.3 mg/dL on 2021-07-09.") == (
        "verified"
    )
    assert verdict("In the past 6 months creatinine was 1.3 mg/dL on 2021-07-09.") == "failed"
    born = "Born on 1950-06-15, she had creatinine 1.3 mg/dL on 2021-07-09 in 2021."
    assert verdict(born) == "verified"
    outside = "None between 2019-01-01 and 2019-12-31; the last one was 1.3 mg/dL on 2021-07-09."
    assert not [
        f
        for f in verify_sentences([{"text": outside, "cites": cites}], seen, question=outside)
        .checks[0]
        .findings
        if "outside the window" in f.detail
    ]


def _potassium(*results: tuple[float, str]) -> list[dict[str, Any]]:
    """A patient and her potassium results (mmol/L), ``k1``, ``k2``, … in order."""
    return [
        patient(P1, birthDate="1950-06-15"),
        *(
            obs(f"k{i}", "6298-4", v, "mmol/L", when, display="Potassium")
            for i, (v, when) in enumerate(results, 1)
        ),
    ]


async def test_than_the_one_before_compares_the_last_two_results() -> None:
    """ "Lower than the one before" is about the latest result and the one before it, not the
    series' first and last (a correct answer was dropped for it)."""
    record = _potassium(
        (4.37, "1986-11-10T08:00:00+00:00"),
        (4.90, "1990-03-01T08:00:00+00:00"),
        (4.71, "1996-01-19T08:00:00+00:00"),
        # the same result twice on the last day (two panels): still compared with the day before
        (4.71, "1996-01-19T09:00:00+00:00"),
    )
    seen, _ev = await _session(record, P1, [])
    cites = _handles(["Observation/k3"], seen)

    def verdict(text: str) -> str:
        return verify_sentences([{"text": text, "cites": cites}], seen).checks[0].verdict

    assert verdict("His most recent potassium was lower than the one before.") == "verified"
    assert verdict("His latest potassium is lower than the previous result.") == "verified"
    assert verdict("His most recent potassium was higher than the one before.") == "failed"
    assert verdict("His potassium has risen over the years.") == "verified"  # first → last


async def test_copied_values_and_the_past_tense_of_a_patient_who_died() -> None:
    """Two correct sentences the cpu-demo model wrote and the verifier dropped: the
    patient line copied with "ethnicity Not Hispanic or Latino" (a value, not a negative
    claim), and "was on" an active order of a patient who has died (the tense, not a stop)."""
    us_core = "http://hl7.org/fhir/us/core/StructureDefinition"
    ethnicity = {
        "url": f"{us_core}/us-core-ethnicity",
        "extension": [{"url": "text", "valueString": "Not Hispanic or Latino"}],
    }
    record = [
        patient(P1, birthDate="1915-07-03", deceasedDateTime="1969-08-26T10:00:00+00:00",
                extension=[ethnicity]),
        med("met", "860975", "24 HR Metformin hydrochloride 500 MG Extended Release Oral Tablet",
            "1963-07-22"),
    ]  # fmt: skip
    seen, _ev = await _session(record, P1, [])

    def verdict(text: str, refs: list[str]) -> str:
        check = verify_sentences([{"text": text, "cites": _handles(refs, seen)}], seen).checks[0]
        return check.verdict

    assert verdict("He was of ethnicity Not Hispanic or Latino.", ["Patient/p1"]) == "verified"
    assert verdict("He was on metformin.", ["MedicationRequest/met"]) == "verified"
    # and "now" is no time anything holds for him, unless the death is said as it
    assert verdict("He is currently on metformin.", ["MedicationRequest/met"]) == "failed"
    assert verdict("He takes metformin now.", ["MedicationRequest/met"]) == "failed"
    assert verdict("He was on metformin when he died.", ["MedicationRequest/met"]) == "verified"
    # still a claim of absence when it is not the record's own value
    assert verdict("He has no diabetes.", ["Patient/p1"]) == "failed"

    alive = [patient(P1, birthDate="1950-06-15"), *record[1:]]
    seen_alive, _ = await _session(alive, P1, [])
    cites = _handles(["MedicationRequest/met"], seen_alive)
    check = verify_sentences([{"text": "He was on metformin.", "cites": cites}], seen_alive)
    assert check.checks[0].verdict == "failed"  # living, order active: "was on" is a stop


async def test_alive_or_dead_as_the_patient_entry_records_it() -> None:
    """ "Stewart Stanton is deceased as of 2025-06-01." passed, citing the entry of a
    living patient (cpu-demo, clinqa "Still alive?"): no word of it was a checked claim."""
    dead = [patient(P1, birthDate="1915-07-03", deceasedDateTime="1969-08-26T10:00:00+00:00")]
    living = [patient(P1, birthDate="1950-06-15")]
    for record, right, wrong in (
        (living, ["He is alive.", "He has not died.", "No death is recorded."],
         ["He is deceased.", "He died.", "He is not alive."]),
        (dead, ["He died on 1969-08-26.", "He is deceased.", "He is not alive."],
         ["He is alive.", "He has not died."]),
    ):  # fmt: skip
        seen, _ev = await _session(record, P1, [])
        cites = _handles(["Patient/p1"], seen)
        for text in right + wrong:
            check = verify_sentences([{"text": text, "cites": cites}], seen).checks[0]
            assert (check.verdict == "verified") == (text in right), (text, check.findings)
    # citing something else: the session's patient entry still decides ("Stewart Stanton
    # is still alive as of 2025-06-01" citing a condition passed for a patient who died)
    dead.append(condition("htn", "59621000", "Essential hypertension (disorder)", "1960-03-02"))
    seen, _ev = await _session(dead, P1, [])
    cites = _handles(["Condition/htn"], seen)
    check = verify_sentences([{"text": "He is still alive.", "cites": cites}], seen).checks[0]
    assert check.verdict == "failed", check.findings


async def test_a_visit_records_no_vaccine_whatever_its_name() -> None:
    """ "The most recent pneumococcal vaccine was administered on 1981-07-12." citing an
    inpatient stay of that day was shown (unverified: the stay's code is unknown to the
    terminology), for a patient with no such vaccine (clinqa cpu-demo). An encounter, a
    result or a problem cannot record a vaccine given; an immunization can."""
    stay = {
        "resourceType": "Encounter", "id": "stay", "subject": SUBJECT, "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
        "type": [{"coding": [{"system": "http://snomed.info/sct", "code": "999999999",
                              "display": "Inpatient stay (finding)"}]}],
        "period": {"start": "1981-07-12T09:00:00+00:00", "end": "1981-07-14T09:00:00+00:00"},
    }  # fmt: skip
    shot = {
        "resourceType": "Immunization", "id": "pcv", "patient": SUBJECT, "status": "completed",
        "vaccineCode": {"coding": [{"system": "http://hl7.org/fhir/sid/cvx", "code": "33",
                                    "display": "pneumococcal polysaccharide vaccine, 23 valent"}]},
        "occurrenceDateTime": "1981-07-12T10:00:00+00:00",
    }  # fmt: skip
    seen, _ev = await _session([patient(P1, birthDate="1930-01-01"), stay, shot], P1, [])
    text = "The most recent pneumococcal vaccine was administered on 1981-07-12."
    for ref, verdict in (("Encounter/stay", "failed"), ("Immunization/pcv", "verified")):
        cites = _handles([ref], seen)
        check = verify_sentences([{"text": text, "cites": cites}], seen).checks[0]
        assert check.verdict == verdict, (ref, check.findings, check.unchecked)


async def test_due_or_overdue_rests_on_a_cited_result_past_its_repeat_interval(p1: Any) -> None:
    """ "Atrial fibrillation is due or overdue" passed in the demo's brief overview: "due"
    was no checked claim. Now it needs a cited result older than its test's repeat
    interval (HbA1c: last 2019-09-10, as of 2026-01-01), and a test as its subject."""
    a1c = ["Observation/a1", "Observation/a2"]
    assert (await _verdict(p1, "Hemoglobin A1c is overdue.", a1c))[0] == "verified"
    assert (await _verdict(p1, "Her HbA1c is due; the last was on 2019-09-10.", a1c))[0] == (
        "verified"
    )
    verdict, reasons, _ = await _verdict(
        p1, "Diabetes mellitus type 2 is due or overdue.", ["Condition/dm", *a1c]
    )
    assert verdict == "failed"
    assert any("a problem is no test" in r for r in reasons), reasons
    # the demo's brief: "The patient's Warfarin Sodium 5 MG Oral Tablet is due or overdue."
    # passed on an overdue creatinine cited beside the order
    verdict, reasons, _ = await _verdict(
        p1, "Her lisinopril 10 MG Oral Tablet is due or overdue.", ["MedicationRequest/lis", *a1c]
    )
    assert verdict == "failed"
    assert any("a medication is no test" in r for r in reasons), reasons
    verdict, reasons, _ = await _verdict(p1, "Her flu shot is due.", ["Immunization/flu"])
    assert verdict == "failed"
    assert any("repeat interval" in r for r in reasons), reasons


async def test_since_the_last_check_up_is_resolved_against_the_record(p1: Any) -> None:
    """ "3 encounters since his last physical" passed: the verifier could not read the
    window. Now the record's last check-up (and last visit) anchor such windows, for the
    question (prefetch) and for the sentence (the count check) alike."""
    from agent.understand import anchors_of, window_of

    seen, ev = p1
    anchors = anchors_of(ev)
    assert anchors == {"visit": dt.date(2018, 7, 7), "check-up": dt.date(2018, 7, 7)}
    for q in ("How many visits since his last physical?", "Seen since her last check-up?",
              "Any appointments since my most recent annual exam?"):  # fmt: skip
        w = window_of(q, AS_OF, anchors)
        assert w is not None, q
        assert (w.start, w.end) == (dt.date(2018, 7, 8), AS_OF), q
    w = window_of("Labs since her last visit?", AS_OF, anchors)
    assert w is not None
    assert w.start == dt.date(2018, 7, 8)
    assert window_of("How many visits since his last physical?", AS_OF, {}) is None

    cites = _handles(["Encounter/e2"], seen)

    def verdict(text: str) -> str:
        v = verify_sentences([{"text": text, "cites": cites}], seen, as_of=AS_OF, anchors=anchors)
        return v.checks[0].verdict

    assert verdict("She has had 3 encounters since her last physical.") == "failed"
    assert verdict("She has had 0 encounters since her last physical.") == "verified"


async def test_a_sentence_citing_the_wrong_entries_is_checked_against_the_right_ones(
    p1: Any,
) -> None:
    """ "Her hyperlipidemia …" citing the hypertension entry fails as cited; with
    ``recite`` code checks it against the entries that record hyperlipidemia, and it
    stands with those citations when every claim holds there (never otherwise)."""
    seen, _ev = p1
    htn = _handles(["Condition/htn"], seen)
    hl = _handles(["Condition/hl"], seen)

    def run(text: str) -> Any:
        return verify_sentences([{"text": text, "cites": htn}], seen, as_of=AS_OF, recite=True)

    [ok] = run("She has hyperlipidemia, since 2021-03-25.").checks
    assert ok.verdict == "verified"
    assert ok.valid_cites == hl
    assert ok.recited_from == htn
    # a claim the right entry does not support still fails (here: the onset year)
    [bad] = run("She has hyperlipidemia, since 2019-03-25.").checks
    assert bad.verdict == "failed"
    # nothing in the record names it: no other entry to try
    [none] = run("She has sarcoidosis.").checks
    assert none.verdict == "failed"
    # a list of names citing some of them: the others' entries are added to its own
    [both] = run("She has hypertension and hyperlipidemia.").checks
    assert both.verdict == "verified"
    assert set(both.valid_cites) == {*htn, *hl}
    # digits inside a name are no value ("type 2 diabetes")
    [named] = run("She has hypertension, hyperlipidemia and type 2 diabetes.").checks
    assert named.verdict == "verified", named.reasons
    assert len(named.valid_cites) == 3
    # ... never when it states a date or value, which the added entry could prop up
    [dated_list] = run("She has hypertension and hyperlipidemia, since 2019-03-13.").checks
    assert dated_list.verdict == "failed"
    # the pure verifier (the corpus above) judges the citations as given
    [as_given] = verify_sentences(
        [{"text": "She has hyperlipidemia.", "cites": htn}], seen, as_of=AS_OF
    ).checks
    assert as_given.verdict == "failed"


#: False-pass probes that are true of the record once cited right (the wrong citation
#: was their only fault): with ``recite`` they stand, cited to the entries that hold them.
TRUE_WHEN_RECITED = {"She takes Lipitor.", "She has diabetes."}


@pytest.mark.parametrize(
    ("text", "refs", "expected"), FALSE_PASS, ids=[c[0][:50] for c in FALSE_PASS]
)
async def test_recite_lets_no_false_probe_through(
    p1: Any, text: str, refs: list[str], expected: str
) -> None:
    seen, _ev = p1
    [check] = verify_sentences(
        [{"text": text, "cites": _handles(refs, seen)}], seen, as_of=AS_OF, recite=True
    ).checks
    if text in TRUE_WHEN_RECITED:
        assert check.verdict == "verified"
        assert check.recited_from is not None
    else:
        assert check.verdict == expected, (check.reasons, check.valid_cites)


async def test_a_list_of_problems_after_who_she_is_is_recited_to_each(p1: Any) -> None:
    """A brief's overview: "She is a 75-year-old woman with hypertension, diabetes and
    hyperlipidemia.", citing the patient and the hypertension, had failed ("mentions
    'diabetes' … E2 does"): the patient's entry is no kind of the list, so the other
    problems' entries are added beside its own; a problem she does not have still fails."""
    seen, _ev = p1
    own = _handles(["Patient/" + P1, "Condition/htn"], seen)

    def one(text: str) -> Any:
        [c] = verify_sentences(
            [{"text": text, "cites": own}], seen, as_of=AS_OF, recite=True
        ).checks
        return c

    ok = one("She is a 75-year-old woman with hypertension, diabetes and hyperlipidemia.")
    assert ok.verdict == "verified", ok.reasons
    assert set(_handles(["Condition/dm", "Condition/hl"], seen)) <= set(ok.valid_cites)
    # trimmed, it still cites her own entry, where "75-year-old woman" comes from
    [trimmed] = verify_sentences(
        [{"text": "She is a 75-year-old woman with hypertension, diabetes and hyperlipidemia.",
          "cites": own}], seen, as_of=AS_OF, recite=True, trim=True,
    ).checks  # fmt: skip
    assert trimmed.verdict == "verified", trimmed.reasons
    assert own[0] in trimmed.valid_cites
    # and cites it when the model did not
    [added] = verify_sentences(
        [{"text": "She is a 75-year-old woman with hypertension.", "cites": own[1:]}],
        seen, as_of=AS_OF, recite=True, trim=True,
    ).checks  # fmt: skip
    assert added.verdict == "verified", added.reasons
    assert sorted(added.valid_cites) == sorted(own), added.valid_cites
    # a result cited beside the problems (the model's fourth citation) does not stop it
    [beside] = verify_sentences(
        [{"text": "She has hypertension, diabetes and hyperlipidemia.",
          "cites": [*own, *_handles(["Observation/glu"], seen)]}],
        seen, as_of=AS_OF, recite=True, trim=True,
    ).checks  # fmt: skip
    assert beside.verdict == "verified", beside.reasons
    assert _handles(["Observation/glu"], seen)[0] not in beside.valid_cites  # trimmed
    assert one("She is a 75-year-old woman with hypertension and COPD.").verdict == "failed"
    assert one("She is a 64-year-old woman with hypertension and diabetes.").verdict == "failed"


async def test_a_condition_named_beside_the_result_that_monitors_it_is_cited_with_it(
    p1: Any,
) -> None:
    """cpu-demo: "Her diabetes is under control: her latest HbA1c, 6.4 % on 2019-09-10,
    meets the goal." citing the HbA1c alone was dropped ("mentions 'diabetes' … E2 does").
    The diabetes entry is cited beside the result (the value stays the result's); a
    judgement the result contradicts still fails, and a condition no cited result
    monitors is not added."""
    seen, _ev = p1
    a1c = _handles(["Observation/a1"], seen)
    dm = _handles(["Condition/dm"], seen)

    def one(text: str) -> Any:
        [c] = verify_sentences(
            [{"text": text, "cites": a1c}], seen, as_of=AS_OF, recite=True
        ).checks
        return c

    ok = one("Her diabetes is under control: her latest HbA1c was 6.4 % on 2019-09-10.")
    assert ok.verdict == "verified", ok.reasons
    assert ok.valid_cites == [*a1c, *dm]
    assert (
        one("Her diabetes is poorly controlled: her HbA1c was 6.4 % on 2019-09-10.").verdict
        == "failed"
    )
    assert (
        one("Her hypertension is controlled: her HbA1c was 6.4 % on 2019-09-10.").verdict
        == "failed"
    )


async def test_a_sentence_citing_nothing_seen_is_checked_against_the_questions_results(
    p1: Any,
) -> None:
    """A mistyped handle ("E999"): with ``recite_to`` (the question's own search results)
    the sentence is checked against each of them, and stands on the one that holds it."""
    seen, _ev = p1
    results = _handles(["Observation/glu", "Observation/cr1"], seen)

    def run(text: str) -> Any:
        return verify_sentences(
            [{"text": text, "cites": ["E999"]}], seen, as_of=AS_OF, recite=True, recite_to=results
        ).checks[0]

    ok = run("Creatinine was 1.3 mg/dL on 2021-07-09.")
    assert ok.verdict == "verified"
    assert ok.valid_cites == _handles(["Observation/cr1"], seen)
    assert run("Creatinine was 99 mg/dL.").verdict == "failed"  # glucose's value, never mixed


async def test_a_control_claim_about_a_condition_is_judged_by_what_monitors_it(p1: Any) -> None:
    """cpu-demo: "Her diabetes is controlled well, with a HbA1c level of 5.425 % …", citing
    the HbA1c and a blood pressure off goal, was dropped ("says 'controlled', but Diastolic
    blood pressure 85.74 mmHg … does not meet the goal"): the control of diabetes is its
    HbA1c's. Said of the blood pressure too, or of nothing named, every cited result
    with a goal is judged."""
    seen, _ev = p1

    def one(text: str, refs: list[str]) -> Any:
        [c] = verify_sentences(
            [{"text": text, "cites": _handles(refs, seen)}], seen, as_of=AS_OF, recite=True
        ).checks
        return c

    a1c_bp = ["Observation/a1", "Observation/bp1"]
    ok = one("Her diabetes is controlled well, with a HbA1c level of 6.4 % on 2019-09-10.", a1c_bp)
    assert ok.verdict == "verified", ok.reasons
    assert set(_handles(["Condition/dm"], seen)) <= set(ok.valid_cites)  # cited beside it
    assert one("Her diabetes is well controlled.", [*a1c_bp, "Condition/dm"]).verdict == "verified"
    for text in ("Her blood pressure and diabetes are well controlled.", "She is well controlled."):
        bad = one(text, [*a1c_bp, "Condition/dm"])
        assert bad.verdict == "failed"
        assert "Systolic blood pressure 156.9 mmHg" in bad.reasons[0]
    # the condition named is what its judgement is of (hypertension: the blood pressure)
    assert one("Her hypertension is well controlled.", [*a1c_bp, "Condition/htn"]).verdict == (
        "failed"
    )


@pytest.mark.parametrize(
    ("text", "refs", "kept"),
    [
        # a drug, what it is given for, and readings the sentence does not speak of
        (
            "She takes lisinopril for hypertension.",
            ["MedicationRequest/lis", "Observation/bp1", "Observation/glu", "Condition/htn"],
            ["MedicationRequest/lis", "Condition/htn"],
        ),
        (
            "She has hypertension and diabetes.",
            ["Condition/htn", "Condition/dm", "Condition/hl"],
            ["Condition/htn", "Condition/dm"],
        ),
        (
            "Her creatinine rose from 1.1 to 1.3 mg/dL.",
            ["Observation/glu", "Observation/cr1"],
            ["Observation/cr1"],
        ),
        # what a count, a list or a judgement rests on stays
        (
            "She has 2 allergies.",
            ["AllergyIntolerance/pea", "AllergyIntolerance/asa"],
            ["AllergyIntolerance/pea", "AllergyIntolerance/asa"],
        ),
        (
            "Her diabetes is well controlled.",
            ["Condition/dm", "Observation/a1"],
            ["Condition/dm", "Observation/a1"],
        ),
    ],
    ids=lambda v: v[:40] if isinstance(v, str) else None,
)
async def test_citations_that_support_nothing_said_are_removed(
    p1: Any, text: str, refs: list[str], kept: list[str]
) -> None:
    """With ``trim``, a passing sentence keeps the cited items that record what it names
    or that a claim rests on (the check decides), and lists the others in ``uncited``;
    without it, its citations are the model's."""
    seen, _ev = p1
    cites = _handles(refs, seen)

    def run(**kw: Any) -> Any:
        return verify_sentences(
            [{"text": text, "cites": cites}], seen, as_of=AS_OF, recite=True, **kw
        ).checks[0]

    trimmed, plain = run(trim=True), run()
    assert trimmed.verdict == plain.verdict == "verified", trimmed.reasons
    assert sorted(trimmed.valid_cites) == sorted(_handles(kept, seen))
    assert sorted([*trimmed.valid_cites, *trimmed.uncited]) == sorted(cites)
    assert plain.valid_cites == cites
    assert not plain.uncited


async def test_last_seen_is_checked_against_the_records_last_visit(p1: Any) -> None:
    """cpu-demo judgeqa: "She was last seen on 2020-07-26." passed, citing that visit, when
    the later visits were not among the items seen: the record's last visit (``anchors``)
    decides too."""
    seen, _ev = p1
    e2 = _handles(["Encounter/e2"], seen)
    only = {h: seen[h] for h in e2}  # the session saw these visits only (the last 2018-07-07)

    def run(last: dt.date | None) -> Any:
        return verify_sentences(
            [{"text": "She was last seen on 2018-07-07.", "cites": e2}],
            only,
            as_of=AS_OF,
            anchors={"visit": last} if last else None,
        ).checks[0]

    assert run(None).verdict == "verified"  # nothing later known
    assert run(dt.date(2018, 7, 7)).verdict == "verified"
    late = run(dt.date(2019, 5, 5))
    assert late.verdict == "failed"
    assert "the record's last is on 2019-05-05" in late.reasons[0]


async def test_a_medication_named_whole_is_no_test_to_be_due() -> None:
    """The fresh-clone demo's brief: "The patient's Warfarin Sodium 5 MG Oral Tablet is due
    or overdue." passed on an overdue result cited beside the order (the last name read
    before "due", "Sodium", is a lab's). The cited order named as what is due fails."""
    war = med("war", "855332", "Warfarin Sodium 5 MG Oral Tablet", "2016-02-07")
    session = await _session([*_record(), war], P1, [])
    verdict, reasons, _ = await _verdict(
        session,
        "The patient's Warfarin Sodium 5 MG Oral Tablet is due or overdue.",
        ["MedicationRequest/war", "Observation/a1", "Observation/a2"],
    )
    assert verdict == "failed"
    assert any("a medication is no test" in r for r in reasons), reasons
    for ok in ("Her HbA1c is overdue; she takes Warfarin Sodium 5 MG Oral Tablet.",
               "She takes Warfarin Sodium 5 MG Oral Tablet, and her HbA1c is overdue."):  # fmt: skip
        verdict, reasons, _ = await _verdict(
            session, ok, ["MedicationRequest/war", "Observation/a1", "Observation/a2"]
        )
        assert verdict == "verified", (ok, reasons)


async def test_a_count_of_results_beyond_a_threshold_is_counted_again() -> None:
    """A threshold the question states is no value of the record: "not above 100" holds
    when the latest cited result is not, and "2 of the 4 results were above 5" when the
    verifier, counting the cited results, finds 2 (it had failed on the 5, no value)."""
    record = _potassium(
        (4.37, "2019-11-10T08:00:00+00:00"),
        (5.4, "2020-03-01T08:00:00+00:00"),
        (5.2, "2022-01-19T08:00:00+00:00"),
        (4.71, "2025-01-19T08:00:00+00:00"),
    )
    call = {"tool": "lab_trend", "args": {"name": "potassium", "threshold": ">5"}}
    between = {"tool": "lab_trend", "args": {"name": "potassium", "threshold": "3.5-5"}}
    seen, _ev = await _session(record, P1, [call])
    cites = _handles(["Observation/k4"], seen)

    def verdict(text: str) -> str:
        return verify_sentences([{"text": text, "cites": cites}], seen).checks[0].verdict

    ok = [
        "2 of the 4 results since 2019-11-10 were above 5 mmol/L.",
        "None of the 4 results was above 6 mmol/L.",
        "All 4 results were above 4 mmol/L.",
        "Her latest potassium, 4.71 mmol/L, is not above 5 mmol/L.",
        "Her latest potassium is not below 4.5 mmol/L.",
        "Her latest potassium is at most 4.71 mmol/L.",
        "Her potassium was above 5 mmol/L on 2020-03-01.",  # the value of the day it says
        "Her potassium was above 5 mmol/L in 2022.",
        "Her latest potassium is between 4.5 and 5 mmol/L.",  # a range it states
        "Her potassium was not between 4 and 5 mmol/L on 2020-03-01.",
        "2 of the 4 results were between 5 and 6 mmol/L.",
    ]
    wrong = [
        "3 of the 4 results were above 5 mmol/L.",
        "None of the 4 results was above 5 mmol/L.",
        "All 4 results were above 4.5 mmol/L.",
        "Her latest potassium is above 5 mmol/L.",
        "Her latest potassium is not above 4.5 mmol/L.",
        "Her potassium was above 5 mmol/L in 2019.",
        "Her latest potassium is between 5 and 6 mmol/L.",
        "Her latest potassium is not between 4.5 and 5 mmol/L.",
        "3 of the 4 results were between 5 and 6 mmol/L.",
    ]
    assert [verdict(t) for t in ok] == ["verified"] * len(ok)
    assert [verdict(t) for t in wrong] == ["failed"] * len(wrong)
    # what lab_trend itself says against the threshold passes the same checks
    ctx = AgentContext(patient_id=P1, source=MemorySource({P1: record}),
                       model=ScriptedChatModel([]), settings=AgentSettings(), as_of=AS_OF)  # fmt: skip
    result, ranged = await run_tool_call(ctx, call), await run_tool_call(ctx, between)
    said = [s for r in (result, ranged) for ask in ("threshold", "beyond") for s in r.leads[ask]]
    assert said[1][0].startswith("Yes — Potassium: 2 of the 4 results since 2019-11-10 were")
    assert said[2][0].startswith(
        "Yes — Potassium: the latest, 4.71 mmol/L on 2025-01-19, is between 3.5 and 5 mmol/L"
    )
    checks = verify_sentences([{"text": t, "cites": hs} for t, hs in said], seen).checks
    assert [c.verdict for c in checks] == ["verified"] * 4, [c.reasons for c in checks]

"""The deterministic citation verifier (agent.verify)."""

from __future__ import annotations

from typing import Any

import pytest

from agent.verify import check_sentence, extract_dates, verify_sentences

EV: dict[str, dict[str, Any]] = {
    "E1": {
        "text": "HbA1c %: 2019: 03-04 6.1, 09-10 6.4; 2020: 02-11 6.4",
        "value": 6.4,
        "unit": "%",
        "date": "2020-02-11",
        "citations": [
            {"reference": "Observation/a", "date": "2019-03-04", "value": 6.1, "unit": "%"}
        ],
        "notes": ["HbA1c: 6.4 % on 2020-02-11; falling -0.3/yr"],
    },
    "E2": {
        "text": "Glucose 100 mg/dL",
        "value": 100.0,
        "unit": "mg/dL",
        "date": "2021-01-01",
        "citations": [],
    },
    "E3": {
        "text": "Body weight 80 kg",
        "value": 80.0,
        "unit": "kg",
        "date": "2022-05-06",
        "citations": [],
    },
    "E4": {
        "text": "Creatinine 1.2 mg/dL",
        "value": 1.2,
        "unit": "mg/dL",
        "date": "2022-05-06",
        "citations": [],
    },
}


@pytest.mark.parametrize(
    ("text", "cites"),
    [
        ("HbA1c was 6.4 % on 2020-02-11.", ["E1"]),
        ("HbA1c was 6.4% on Feb 11, 2020.", ["E1"]),
        ("HbA1c was 6.1 % on 03/04/2019.", ["E1"]),
        ("HbA1c was 6.1 % on 4 March 2019.", ["E1"]),
        ("HbA1c was measured in March 2019.", ["E1"]),
        ("HbA1c has been tracked since 2019.", ["E1"]),
        ("HbA1c falls by 0.3 per year.", ["E1"]),
        ("Weight was 80.0 kg.", ["E3"]),
        ("Weight was 176 [lb_av].", ["E3"]),
        ("Weight was 80000 g.", ["E3"]),
        ("Glucose 1 g/L.", ["E2"]),
        ("Creatinine was 1.2 mg/dL [E4].", ["[E4]"]),
        ("Two results: glucose and weight.", ["E2", "E3"]),
        ("2 results were recorded.", ["E2", "E3"]),
    ],
)
def test_supported(text: str, cites: list[str]) -> None:
    check = check_sentence(text, cites, EV)
    assert check.ok, check.reasons


@pytest.mark.parametrize(
    ("text", "cites", "kind"),
    [
        ("HbA1c was 6.9 %.", ["E1"], "number"),
        ("HbA1c was 6.4 % on 2020-02-12.", ["E1"], "date"),
        ("HbA1c was 6.4 % in June 2021.", ["E1"], "date"),
        ("Glucose 100 kg.", ["E2"], "unit"),
        ("Weight was 90 kg.", ["E3"], "number"),
        ("Creatinine was 1.2 mg/dL.", ["E2"], "number"),  # supported by E4, which is not cited
        ("Glucose was 100 mg/dL.", ["E99"], "no_citation"),
        ("Glucose was 100 mg/dL.", [], "no_citation"),
    ],
)
def test_unsupported(text: str, cites: list[str], kind: str) -> None:
    check = check_sentence(text, cites, EV)
    assert not check.ok
    assert kind in {f.kind for f in check.findings}


def test_unknown_handle_is_removed_but_valid_one_kept() -> None:
    check = check_sentence("Glucose was 100 mg/dL.", ["E2", "E77"], EV)
    assert check.ok
    assert check.valid_cites == ["E2"]
    assert any("E77" in r for r in check.reasons)


def test_rounding_tolerance() -> None:
    ev = {"E1": {"text": "x", "value": 6.449, "unit": "%", "citations": []}}
    assert check_sentence("Value 6.4 %.", ["E1"], ev).ok
    assert check_sentence("Value 6.45 %.", ["E1"], ev).ok
    assert not check_sentence("Value 6.5 %.", ["E1"], ev).ok


def test_extract_dates_formats() -> None:
    dates, rest = extract_dates("on 2020-02-11, 03/04/2019, January 5, 2021, 7 Aug 2018, May 2017")
    assert dates == [(2020, 2, 11), (2019, 3, 4), (2021, 1, 5), (2018, 8, 7), (2017, 5, None)]
    assert not any(ch.isdigit() for ch in rest)


def test_verify_sentences_splits() -> None:
    v = verify_sentences(
        [
            {"text": "Glucose 100 mg/dL.", "cites": ["E2"]},
            {"text": "Glucose 7.", "cites": ["E2"]},
            {"text": " ", "cites": []},
        ],
        EV,
    )
    assert [c.text for c in v.passed] == ["Glucose 100 mg/dL."]
    assert [c.text for c in v.failed] == ["Glucose 7."]


# --------------------------------------------------------------------------- clinical terms

# Item dicts shaped as agent.tool_specs.item_dict makes them (record lines with code tags).
CLINICAL: dict[str, dict[str, Any]] = {
    "E2": {
        "section": "conditions",
        "text": "Essential hypertension (disorder) [SCT 59621000]: active, onset 2010-03-02",
        "date": "2010-03-02",
        "citations": [{"reference": "Condition/h", "date": "2010-03-02", "value": None}],
    },
    "E3": {
        "section": "conditions",
        "text": "Diabetes mellitus type 2 (disorder) [SCT 44054006]: active, onset 2016-12-14",
        "date": "2016-12-14",
        "citations": [],
    },
    "E4": {
        "section": "conditions",
        "text": "Full-time employment (finding) [SCT 160903007]: active, onset 2012-01-01",
        "date": "2012-01-01",
        "citations": [],
    },
    "E7": {
        "section": "medications",
        "text": "Penicillin V Potassium 250 MG Oral Tablet [RxNorm 834102]: past; 1960-05-01 stopped",
        "date": "1960-05-01",
        "citations": [],
    },
    "E8": {
        "section": "medications",
        "text": "lisinopril 10 MG Oral Tablet [RxNorm 314076]: current; 2019-04-02 active; "
        "for Essential hypertension (disorder)",
        "date": "2019-04-02",
        "citations": [],
    },
    "E9": {
        "section": "medications",
        "text": "Atorvastatin 20 MG Oral Tablet [RxNorm 617310]: current; 2018-02-01 active",
        "date": "2018-02-01",
        "citations": [],
    },
    "E10": {
        "section": "allergies",
        "text": "Peanut (substance) [SCT 256349002]: food, allergy, criticality high, active, "
        "recorded 2015-06-01; reactions: Anaphylaxis (severe)",
        "date": "2015-06-01",
        "citations": [],
    },
    "E11": {
        "section": "labs",
        "text": "Glucose [Mass/volume] in Serum or Plasma [LOINC 2345-7] mg/dL: 2021-01-05 99",
        "value": 99.0,
        "unit": "mg/dL",
        "date": "2021-01-05",
        "citations": [{"reference": "Observation/g", "date": "2021-01-05", "value": 99.0}],
    },
    "E12": {
        "section": "labs",
        "text": "Creatinine [Mass/volume] in Serum or Plasma [LOINC 2160-0] mg/dL: "
        "2021: 01-05 1.1, 07-09 1.3",
        "value": 1.3,
        "unit": "mg/dL",
        "date": "2021-07-09",
        "citations": [],
    },
    "E13": {
        "section": "labs",
        "text": "Cholesterol [Mass/volume] in Serum or Plasma [LOINC 2093-3] mg/dL: 2021-01-05 200",
        "value": 200.0,
        "unit": "mg/dL",
        "date": "2021-01-05",
        "citations": [],
    },
    "E14": {
        "section": "allergies",
        "text": "No known allergies [SCT 716186003]: active",
        "citations": [],
    },
    "E15": {
        "section": "encounters",
        "text": "Emergency room admission (procedure) [SCT 50849002]: 2020-02-02",
        "date": "2020-02-02",
        "citations": [],
    },
    "E17": {
        "section": "conditions",
        "text": "Hyperlipidemia (disorder) [SCT 55822004]: active, onset 2021-03-25",
        "citations": [],
    },
    "E18": {
        "section": "conditions",
        "text": "Prediabetes (finding) [SCT 714628002]: active, onset 1984-10-17",
        "citations": [],
    },
    "E16": {
        "section": "medications",
        "text": "Kyleena 19.5 MG Intrauterine System [RxNorm 1860491]: current; 2020-01-01 active",
        "date": "2020-01-01",
        "citations": [],
    },
}


@pytest.mark.parametrize(
    ("text", "cites"),
    [
        ("Her hypertension is treated with lisinopril since 2019-04-02.", ["E2", "E8"]),
        ("She takes lisinopril for hypertension.", ["E8"]),
        ("Lisinopril 10 mg was ordered on 2019-04-02.", ["E8"]),
        ("She has high blood pressure.", ["E2"]),  # synonym of Hypertension
        ("She has type 2 diabetes.", ["E3"]),
        ("She is diabetic.", ["E3"]),
        ("She took penicillin V in 1960.", ["E7"]),
        ("Her penicillin prescriptions ended in 1960.", ["E7"]),
        ("She takes a statin.", ["E9"]),  # class named by a member
        ("She uses a hormonal contraceptive.", ["E16"]),  # product the class table lacks
        ("She is allergic to peanuts, with anaphylaxis.", ["E10"]),
        ("No allergies are recorded.", ["E14"]),
        ("She has no penicillin allergy on record.", ["E14"]),
        ("She is not taking warfarin or penicillin.", ["E8", "E9"]),
        ("She works full-time.", ["E2"]),  # social findings name no entity
        ("She was seen in the emergency room.", ["E2"]),  # encounters name no entity
        ("Her diabetes and hypertension are active [E2][E3].", ["E2", "E3"]),
        ("Her cholesterol is high.", ["E17"]),  # a measure of the cited condition
        ("Her lipids are treated with atorvastatin.", ["E17", "E9"]),
        ("She has prediabetes.", ["E18"]),
    ],
)
def test_clinical_terms_supported(text: str, cites: list[str]) -> None:
    check = check_sentence(text, cites, CLINICAL)
    assert check.ok, check.reasons


@pytest.mark.parametrize(
    ("text", "cites", "reason"),
    [
        (
            "Her hypertension is managed with penicillin V.",
            ["E2"],
            "mentions 'penicillin V', which none of its cited items support (E7 does)",
        ),
        (
            "She takes lisinopril.",
            ["E9"],
            "mentions 'lisinopril', which none of its cited items support (E8 does)",
        ),
        (
            "Her diabetes is controlled.",
            ["E2"],
            "mentions 'diabetes', which none of its cited items support (E3 does)",
        ),
        (  # in no evidence at all: a known drug name
            "Her hypertension is treated with amlodipine.",
            ["E2"],
            "mentions 'amlodipine', which none of its cited items support",
        ),
        (
            "She takes a statin for hypertension.",
            ["E2"],
            "mentions 'statin', which none of its cited items support (E9 does)",
        ),
        (
            "She takes a beta blocker.",
            ["E8"],
            "mentions 'beta blocker', which none of its cited items support",
        ),
        (
            "She has heart failure.",
            ["E2"],
            "mentions 'heart failure', which none of its cited items support",
        ),
        (  # prediabetes is not diabetes
            "She has diabetes.",
            ["E18"],
            "mentions 'diabetes', which none of its cited items support (E3 does)",
        ),
        (  # the condition supports its measure, not a drug
            "Her cholesterol is treated with amlodipine.",
            ["E17"],
            "mentions 'amlodipine', which none of its cited items support",
        ),
        (  # negation ends at the clause
            "She has no diabetes, but takes penicillin V.",
            ["E2"],
            "mentions 'penicillin V', which none of its cited items support (E7 does)",
        ),
    ],
)
def test_clinical_terms_unsupported(text: str, cites: list[str], reason: str) -> None:
    check = check_sentence(text, cites, CLINICAL)
    assert not check.ok
    assert [f.kind for f in check.findings] == ["entity"]
    assert check.reasons == [reason]


def test_verify_sentences_drops_unsupported_drug() -> None:
    v = verify_sentences(
        [
            {"text": "Her hypertension is managed with penicillin V.", "cites": ["E2"]},
            {"text": "Her hypertension is managed with lisinopril.", "cites": ["E2", "E8"]},
        ],
        CLINICAL,
    )
    assert [c.text for c in v.passed] == ["Her hypertension is managed with lisinopril."]
    assert [c.text for c in v.failed] == ["Her hypertension is managed with penicillin V."]


# --------------------------------------------------------------------------- analyte units


@pytest.mark.parametrize(
    ("text", "cites"),
    [
        ("Glucose was 5.5 mmol/L on 2021-01-05.", ["E11"]),  # 99 mg/dL
        ("Glucose was 5.49 mmol/L.", ["E11"]),
        ("Glucose was 99 mg/dL.", ["E11"]),
        ("Creatinine was 115 µmol/L in July 2021.", ["E12"]),  # 1.3 mg/dL
        ("Creatinine was 97 umol/L on 2021-01-05.", ["E12"]),  # 1.1 mg/dL
        ("Cholesterol was 5.17 mmol/L.", ["E13"]),  # 200 mg/dL
        ("Cholesterol was 5.2 mmol/L.", ["E13"]),
    ],
)
def test_analyte_conversion_supported(text: str, cites: list[str]) -> None:
    check = check_sentence(text, cites, CLINICAL)
    assert check.ok, check.reasons


@pytest.mark.parametrize(
    ("text", "cites", "kind"),
    [
        ("Glucose was 6.5 mmol/L.", ["E11"], "number"),
        ("Glucose was 5.6 mmol/L.", ["E11"], "number"),
        ("Creatinine was 130 µmol/L.", ["E12"], "number"),
        ("Cholesterol was 5.5 mmol/L.", ["E13"], "number"),
        ("Glucose was 7 mmol/L.", ["E11"], "number"),
        ("Glucose was 5.5 mmol/kg.", ["E11"], "unit"),
        # a code's digits are not values: "2345-7" supports neither 2345 nor 7
        ("Glucose was 7 mg/dL.", ["E11"], "number"),
    ],
)
def test_analyte_conversion_unsupported(text: str, cites: list[str], kind: str) -> None:
    check = check_sentence(text, cites, CLINICAL)
    assert not check.ok
    assert kind in {f.kind for f in check.findings}


def test_analyte_conversion_needs_the_code() -> None:
    # the same value without a LOINC code: mg/dL cannot become mmol/L
    check = check_sentence("Glucose was 5.5 mmol/L.", ["E2"], EV)
    assert not check.ok
    assert [f.kind for f in check.findings] == ["unit"]
    # a code from the item's codings (an item dict that carries them) counts too
    ev = {
        "E1": {
            "text": "Glucose 99 mg/dL",
            "value": 99.0,
            "unit": "mg/dL",
            "codings": [{"system": "http://loinc.org", "code": "2345-7", "display": "Glucose"}],
        }
    }
    assert check_sentence("Glucose was 5.5 mmol/L.", ["E1"], ev).ok


def test_blood_pressure_pair_and_names_with_digits() -> None:
    ev: dict[str, dict[str, Any]] = {
        "E1": {
            "section": "vitals",
            "text": "Blood pressure mm[Hg]: 2025: 01-15 156.9/111.3",
            "unit": "mm[Hg]",
            "citations": [],
        },
        "E2": {
            "section": "conditions",
            "text": "Disease caused by severe acute respiratory syndrome coronavirus 2 (disorder) "
            "[SCT 840539006]: resolved, onset 2021-02-16, resolved 2021-03-20",
            "citations": [],
        },
    }
    assert check_sentence("Blood pressure was 156.9/111.3 mmHg on 2025-01-15.", ["E1"], ev).ok
    bad = check_sentence("Blood pressure was 156.9/112.3 mm[Hg].", ["E1"], ev)
    assert bad.reasons == ["112.3 mm[Hg] not in the cited evidence"]
    # "19" of COVID-19 is part of a name, not a value; COVID names the coronavirus disease
    assert check_sentence("She had COVID-19 in February 2021.", ["E2"], ev).ok
    assert not check_sentence("She had COVID-19 in February 2021.", ["E1"], ev).ok


def test_codes_in_prose_are_checked_as_codes_not_values() -> None:
    ev = {
        "E1": {
            "handle": "E1",
            "text": "Hib (PRP-OMP) [CVX 49], last 2014-01-19",
            "date": "2014-01-19",
            "references": ["Immunization/1"],
            "codings": [{"system": "http://hl7.org/fhir/sid/cvx", "code": "49"}],
            "citations": [{"reference": "Immunization/1", "date": "2014-01-19"}],
        }
    }
    ok = check_sentence(
        "The last Hib (PRP-OMP) immunization (CVX 49) was on 2014-01-19.", ["E1"], ev
    )
    assert ok.ok, ok.reasons
    wrong = check_sentence("The Hib (CVX 50) immunization was on 2014-01-19.", ["E1"], ev)
    assert [f.kind for f in wrong.findings] == ["code"]
    bare = check_sentence("Hib was given 49 times, last on 2014-01-19.", ["E1"], ev)
    assert [f.kind for f in bare.findings] == ["number"]


def test_dates_of_the_question_may_be_restated() -> None:
    ev = {
        "E1": {
            "handle": "E1",
            "text": "Potassium [LOINC 6298-4] 5.09 mmol/L 2008-03-01 → 3.83 mmol/L 2009-11-02",
            "references": ["Observation/1"],
            "citations": [
                {"reference": "Observation/1", "date": "2008-03-01", "value": 5.09},
                {"reference": "Observation/2", "date": "2009-11-02", "value": 3.83},
            ],
        }
    }
    text = "Between 2008-01-01 and 2009-12-31 potassium fell from 5.09 to 3.83 mmol/L."
    q = "Did Potassium (LOINC 6298-4) go up or down between 2008-01-01 and 2009-12-31?"
    assert verify_sentences([{"text": text, "cites": ["E1"]}], ev, q).checks[0].ok
    plain = verify_sentences([{"text": text, "cites": ["E1"]}], ev).checks[0]
    assert [f.kind for f in plain.findings] == ["date", "date"]
    # a date the question did not give is still checked
    other = "On 2008-02-01 potassium was 5.09 mmol/L."
    assert not verify_sentences([{"text": other, "cites": ["E1"]}], ev, q).checks[0].ok


def test_question_terms_must_come_from_the_citations() -> None:
    ev = {
        "E1": {
            "handle": "E1",
            "text": "Colonoscopy [SCT 73761001] 2020-07-14",
            "date": "2020-07-14",
            "references": ["Procedure/1"],
            "citations": [{"reference": "Procedure/1", "date": "2020-07-14"}],
        },
        "E2": {
            "handle": "E2",
            "text": "Osteoporosis (disorder) [SCT 64859006] onset 2001-08-08",
            "date": "2001-08-08",
            "references": ["Condition/2"],
            "citations": [{"reference": "Condition/2", "date": "2001-08-08"}],
        },
    }
    q = "What is the date of the last Rectal polypectomy performed on the patient?"
    bad = "The last Rectal polypectomy performed on the patient was on 2020-07-14."
    [c] = verify_sentences([{"text": bad, "cites": ["E1"]}], ev, q).checks
    assert not c.ok
    assert any("polypectomy" in r for r in c.reasons)
    none = "No rectal polypectomy is recorded; the last procedure was a colonoscopy on 2020-07-14."
    assert verify_sentences([{"text": none, "cites": ["E1"]}], ev, q).checks[0].ok
    q2 = "Since when does the patient have Osteoporosis (disorder)?"
    good = "The patient has had Osteoporosis (disorder) since 2001-08-08."
    assert verify_sentences([{"text": good, "cites": ["E2"]}], ev, q2).checks[0].ok

"""The terminology layer on real wording, real codes and the real data files.

Everything here runs against :func:`tools.terminology.default_terminology` (the data
shipped in ``tools/terminology/data``), never a hand-built stand-in.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tools.codes import MEASURES
from tools.errors import TerminologyDataError
from tools.terminology import (
    ATC,
    CVX,
    ICD10,
    ICD10CM,
    LOINC,
    RXNORM,
    SNOMED,
    Code,
    Concept,
    LocalTerminology,
    Terminology,
    canonical_system,
    default_terminology,
    is_common_word,
)
from tools.terminology._data import load_table

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "synthea"
FIXTURES = ROOT / "fhir_fixtures" / "patients"


@pytest.fixture(scope="module")
def t() -> LocalTerminology:
    return default_terminology()


def ids(t: LocalTerminology, text: str) -> list[tuple[str, ...]]:
    return [m.ids for m in t.mentions(text)]


def first_ids(t: LocalTerminology, text: str) -> list[str]:
    return [m.ids[0] for m in t.mentions(text)]


# --------------------------------------------------------------------------- protocol
def test_local_terminology_implements_the_protocol(t: LocalTerminology) -> None:
    assert isinstance(t, Terminology)
    assert default_terminology() is t  # cached


def test_system_aliases_are_canonical() -> None:
    assert canonical_system("urn:oid:2.16.840.1.113883.6.96") == SNOMED
    assert canonical_system("https://loinc.org/") == LOINC
    assert canonical_system("http://hl7.org/fhir/sid/icd-10-cm") == ICD10CM
    assert canonical_system("urn:oid:2.16.840.1.113883.6.88") == RXNORM
    assert canonical_system("http://www.whocc.no/atc/") == ATC
    assert canonical_system("urn:local:labs") == "urn:local:labs"


# --------------------------------------------------------------------------- mentions
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("A1c", "hba1c"),
        ("a1c", "hba1c"),
        ("HbA1c", "hba1c"),
        ("hemoglobin A1c", "hba1c"),
        ("Haemoglobin A1c", "hba1c"),
        ("Hb A1c", "hba1c"),
        ("sugar", "glucose"),
        ("blood sugar", "glucose"),
        ("blood sugars", "glucose"),
        ("kidney function", "kidney_function"),
        ("high blood pressure", "hypertension"),
        ("HTN", "hypertension"),
        ("heart attack", "myocardial_infarction"),
        ("MI", "myocardial_infarction"),
        ("flu shot", "influenza_vaccine"),
        ("flu shots", "influenza_vaccine"),
        ("water pill", "diuretic"),
        ("water pills", "diuretic"),
        ("blood thinner", "antithrombotic"),
        ("cholesterol pill", "statin"),
        ("statins", "statin"),
        ("Lipitor", "atorvastatin"),
        ("lipitor", "atorvastatin"),
        ("Eliquis", "apixaban"),
        ("Zestril", "lisinopril"),
        ("high cholesterol", "hypercholesterolemia"),
        ("T2DM", "diabetes_type2"),
        ("type II diabetes", "diabetes_type2"),
        ("CKD stage 3", "ckd3"),
        ("Alzheimer's disease", "alzheimer"),
        ("Alzheimers disease", "alzheimer"),
        ("a-fib", "atrial_fibrillation"),
        ("afib", "atrial_fibrillation"),
        ("x-ray", "xray"),
        ("xray", "xray"),
        ("COVID-19", "covid19"),
        ("covid19", "covid19"),
        ("shortness of breath", "dyspnea"),
        ("tetanus shot", "tetanus_vaccine"),
        ("LFTs", "liver_function"),
        ("deliver", "childbirth"),
        ("heart tests", "cardiac_procedure"),
        ("cardiac workup", "cardiac_procedure"),
        ("cardiac rehab", "cardiac_rehab"),
        ("an ICD", "icd_implantation"),
        ("growth", "body_measurements"),
        ("breastfeeding", "breastfeeding"),
        ("well child visit", "physical_exam"),
    ],
)
def test_lay_terms_abbreviations_and_variants(
    t: LocalTerminology, text: str, expected: str
) -> None:
    found = t.mentions(f"She asked about {text} yesterday.")
    assert len(found) == 1, found
    assert found[0].ids[0] == expected
    assert found[0].text == text
    assert not found[0].fuzzy


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("cholestrol", "cholesterol"),
        ("diabetis", "diabetes_mellitus"),
        ("hypertention", "hypertension"),
        ("metformine", "metformin"),
        ("atorvastatine", "atorvastatin"),
        ("lisinoprill", "lisinopril"),
        ("hypothyroidsm", "hypothyroidism"),
    ],
)
def test_common_misspellings_of_long_words(t: LocalTerminology, text: str, expected: str) -> None:
    found = t.mentions(f"Patient has {text}.")
    assert [m.ids[0] for m in found] == [expected]
    assert found[0].fuzzy


@pytest.mark.parametrize(
    "text",
    [
        "The patient still contains undergone results",  # common words never corrected
        "asthmo",  # short words are never corrected
        "Tyleno and Lipitr are too short to correct",
        "Sarcoidosis and polypectomy",  # known by name: exact, never corrected
    ],
)
def test_no_spurious_corrections(t: LocalTerminology, text: str) -> None:
    assert not [m for m in t.mentions(text) if m.fuzzy]


def test_a_short_word_is_corrected_only_inside_a_name_begun(t: LocalTerminology) -> None:
    assert first_ids(t, "last flu shoot?") == ["influenza_vaccine"]
    assert [m.fuzzy for m in t.mentions("last flu shoot?")] == [True]
    assert first_ids(t, "a tetanus shoot") == ["tetanus_vaccine"]
    assert first_ids(t, "shoot") == []  # alone, a short common word is left as it is


def test_fuzzy_never_guesses_between_different_concepts(t: LocalTerminology) -> None:
    # one edit from both "hypotension" and (two from) "hypertension": the nearest wins only
    # when it is unique; "hypotention" is 1 from hypotension, 2 from hypertension
    assert first_ids(t, "hypotention") == ["hypotension"]


def test_longest_non_overlapping_mentions(t: LocalTerminology) -> None:
    text = "Chronic kidney disease stage 3 due to hypertension; type 2 diabetes mellitus."
    found = t.mentions(text)
    assert [m.ids[0] for m in found] == ["ckd3", "hypertension", "diabetes_type2"]
    for m in found:
        assert text[m.start : m.end] == m.text


def test_mentions_do_not_cross_punctuation(t: LocalTerminology) -> None:
    # "heart attack" split by a sentence end: "heart" alone (the organ), no infarction
    assert first_ids(t, "heart. Attack") == ["cardiovascular_disease"]
    assert first_ids(t, "blood, sugar") == ["glucose"]  # "sugar" alone still names glucose


def test_case_sensitive_abbreviations(t: LocalTerminology) -> None:
    assert first_ids(t, "History of MS.") == ["multiple_sclerosis"]
    assert first_ids(t, "ms jones arrived") == []  # "ms" in lower case is not MS
    assert first_ids(t, "Rule out PE.") == ["pulmonary_embolism"]
    assert first_ids(t, "pe class") == []
    # an abbreviation that is no English word is read as people type it
    assert first_ids(t, "what's her ldl?") == ["ldl"]
    assert first_ids(t, "tsh level") == ["tsh"]
    assert first_ids(t, "has he got copd") == ["copd"]
    assert first_ids(t, "add it to the list") == []  # ADD, FIT, PAD, BUN: English words
    # clinicians' lower-case shorthand, each found empty in a sweep of typed questions
    assert first_ids(t, "pt on asa?") == ["aspirin"]
    assert first_ids(t, "hx of mi?") == ["myocardial_infarction"]
    assert first_ids(t, "cr trend") == ["creatinine"]
    assert first_ids(t, "wt?") == ["weight"]
    assert first_ids(t, "any abx recently?") == ["antibiotic"]
    assert "penicillin_class" in first_ids(t, "pcn allergy?")
    assert first_ids(t, "s/p appy?") == ["appendectomy"]
    assert "smoking_status" in first_ids(t, "tob use?")
    assert first_ids(t, "a good fit") == []
    assert first_ids(t, "a hot dog bun") == []


def test_brand_of_a_combination_names_each_ingredient(t: LocalTerminology) -> None:
    (m,) = t.mentions("Percocet")
    assert set(m.ids) == {"oxycodone", "acetaminophen"}


# --------------------------------------------------------------------------- concepts_of
def test_by_snomed(t: LocalTerminology) -> None:
    (c,) = t.concepts_of(SNOMED, "44054006", "Diabetes mellitus type 2 (disorder)")
    assert c.id == "diabetes_type2"
    assert c.kind == "condition"
    assert [c.id for c in t.concepts_of("http://snomed.info/sct", "162864005")] == [
        "bmi_30_obesity"
    ]


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("E11.9", "diabetes_type2"),  # category prefix
        ("E11.65", "diabetes_type2"),
        ("E119", "diabetes_type2"),  # without its dot
        ("e11.22", "t2dm_ckd"),  # a more specific code in the data wins
        ("I10", "hypertension"),
        ("N18.30", "ckd3"),
        ("N18.6", "esrd"),
        ("E78.00", "hypercholesterolemia"),
        ("E78.5", "hyperlipidemia"),
        ("E66.3", "overweight"),
        ("I48.91", "atrial_fibrillation"),
        ("I48.92", "atrial_flutter"),
        ("J45.909", "asthma"),
        ("F32.A", "depression"),
        ("F33.1", "major_depression"),
        ("Z86.74", "history_of_cardiac_arrest"),
    ],
)
def test_by_icd10cm(t: LocalTerminology, code: str, expected: str) -> None:
    assert [c.id for c in t.concepts_of(ICD10CM, code, "whatever the display says")] == [expected]


def test_icd10cm_unknown_category_and_who_icd10(t: LocalTerminology) -> None:
    assert t.by_code(ICD10CM, "Q99.9") == ()  # not in the data
    assert [c.id for c in t.concepts_of(ICD10, "E11.9")] == ["diabetes_type2"]
    # WHO ICD-10 subcodes differ from ICD-10-CM: only the category is trusted
    assert [c.id for c in t.concepts_of(ICD10, "I48.9")] == []


def test_icd10cm_coded_condition_implies_its_parents(t: LocalTerminology) -> None:
    (rec,) = t.concepts_of(ICD10CM, "E11.22")
    for parent in ("diabetes_type2", "diabetes_mellitus", "ckd", "kidney_disease"):
        assert t.implies(rec, t.concept(parent)), parent  # type: ignore[arg-type]


def test_by_rxnorm_clinical_drug_and_ingredient(t: LocalTerminology) -> None:
    found = t.concepts_of(
        RXNORM, "999967", "amLODIPine 5 MG / Hydrochlorothiazide 12.5 MG / Olmesartan"
    )
    assert {c.id for c in found} == {"amlodipine", "hydrochlorothiazide", "olmesartan"}
    assert [c.id for c in t.concepts_of(RXNORM, "29046")] == ["lisinopril"]
    assert [c.id for c in t.concepts_of(RXNORM, "316672", "Simvistatin 10 MG")] == ["simvastatin"]


def test_by_loinc_and_cvx_and_atc(t: LocalTerminology) -> None:
    assert [c.id for c in t.concepts_of(LOINC, "4548-4")] == ["hba1c"]
    assert [c.id for c in t.concepts_of(LOINC, "33914-3")] == ["egfr"]
    assert [c.id for c in t.concepts_of(CVX, "140")] == ["cvx_140"]
    assert [c.id for c in t.concepts_of(CVX, "08")] == ["cvx_08"]
    assert [c.id for c in t.concepts_of(CVX, "8")] == ["cvx_08"]  # leading zeros don't matter
    assert [c.id for c in t.concepts_of(ATC, "C10AA05")] == ["atorvastatin"]
    assert [c.id for c in t.concepts_of(ATC, "C10AA")] == ["statin"]


@pytest.mark.parametrize(
    ("system", "code", "display", "kinds", "expected"),
    [
        ("urn:local:lab", "GLU-7", "Hemoglobin A1c, blood", {"lab", "vital"}, {"hba1c"}),
        ("urn:local:lab", "K", "POTASSIUM, SERUM", {"lab"}, {"potassium"}),
        ("urn:local:lab", "EGFR-CKDEPI", "eGFR (CKD-EPI 2021)", {"lab"}, {"egfr"}),
        ("urn:local:dx", "123", "Essential hypertension", None, {"essential_hypertension"}),
        (
            "urn:local:dx",
            "124",
            "Type 2 diabetes mellitus without complications",
            None,
            {"diabetes_type2"},
        ),
        ("urn:local:rx", "9", "Atorvastatin 40 MG Oral Tablet", {"drug"}, {"atorvastatin"}),
        ("urn:local:rx", "10", "Lipitor 20mg tab", {"drug"}, {"atorvastatin"}),
        (SNOMED, "999999999", "Gout (disorder)", None, {"gout"}),  # unknown SNOMED code
        (None, None, "Hypertensive disorder, systemic arterial (disorder)", None, {"hypertension"}),
    ],
)
def test_local_codes_fall_back_to_the_display(
    t: LocalTerminology, system: str | None, code: str | None, display: str, kinds: set[str] | None,
    expected: set[str],
) -> None:  # fmt: skip
    assert {c.id for c in t.concepts_of(system, code, display, kinds=kinds)} == expected


def test_display_fallback_respects_kinds_and_assertions(t: LocalTerminology) -> None:
    # a procedure that names a disease does not make the patient have it
    got = t.concepts_of("urn:local:proc", "1", "Screening for diabetes", kinds={"procedure"})
    assert [c.id for c in got] == ["screening"]
    assert t.concepts_of("urn:local:dx", "2", "No known history of diabetes") == ()
    assert t.concepts_of("urn:local:dx", "3", "Suspected pneumonia") == ()
    assert t.concepts_of("urn:local:dx", "4", "Family history of colon cancer") == ()
    got = {c.id for c in t.concepts_of("urn:local:dx", "5", "History of appendectomy")}
    assert got == {"appendectomy"}


# --------------------------------------------------------------------------- implies
def test_child_implies_parent_never_the_reverse(t: LocalTerminology) -> None:
    c = t.concept
    assert t.implies(c("hypercholesterolemia"), c("hyperlipidemia")) is True  # type: ignore[arg-type]
    assert t.implies(c("hyperlipidemia"), c("hypercholesterolemia")) is False  # type: ignore[arg-type]
    assert t.implies(c("hypertriglyceridemia"), c("dyslipidemia")) is True  # type: ignore[arg-type]
    assert t.implies(c("essential_hypertension"), c("hypertension")) is True  # type: ignore[arg-type]
    assert t.implies(c("hypertension"), c("essential_hypertension")) is False  # type: ignore[arg-type]
    assert t.implies(c("neuropathy_t2dm"), c("diabetes_mellitus")) is True  # type: ignore[arg-type]
    assert t.implies(c("ckd3"), c("kidney_disease")) is True  # type: ignore[arg-type]
    assert t.implies(c("nstemi"), c("myocardial_infarction")) is True  # type: ignore[arg-type]
    # SNOMED CT 399068003 |Malignant tumor of prostate| is-a 126906006 |Neoplasm of
    # prostate|: "any prostate tumor?" finds a prostate cancer (the data had lacked it)
    assert t.implies(c("prostate_cancer"), c("prostate_neoplasm")) is True  # type: ignore[arg-type]
    assert t.implies(c("prostate_cancer"), c("prostate_disease")) is True  # type: ignore[arg-type]
    assert t.implies(c("prostate_neoplasm"), c("prostate_cancer")) is False  # type: ignore[arg-type]


def test_obesity_and_overweight_are_different(t: LocalTerminology) -> None:
    c = t.concept
    assert t.implies(c("overweight"), c("obesity")) is False  # type: ignore[arg-type]
    assert t.implies(c("obesity"), c("overweight")) is False  # type: ignore[arg-type]
    # Synthea's "Body mass index 30+ - obesity (finding)" is obesity (WHO: BMI >= 30)
    (bmi30,) = t.concepts_of(SNOMED, "162864005")
    assert t.implies(bmi30, c("obesity")) is True  # type: ignore[arg-type]
    (m,) = t.mentions("The patient is obese.")
    assert t.implies(bmi30, m.concepts[0]) is True
    (overweight,) = t.concepts_of(SNOMED, "238131007")
    assert t.implies(overweight, m.concepts[0]) is False


def test_prediabetes_is_not_diabetes(t: LocalTerminology) -> None:
    (pre,) = t.concepts_of(SNOMED, "15777000")
    assert t.implies(pre, t.concept("diabetes_mellitus")) is False  # type: ignore[arg-type]


def test_drug_classes_via_atc(t: LocalTerminology) -> None:
    c = t.concept
    assert t.implies(c("atorvastatin"), c("statin")) is True  # type: ignore[arg-type]
    assert t.implies(c("metformin"), c("statin")) is False  # type: ignore[arg-type]
    assert t.implies(c("metformin"), c("antidiabetic")) is True  # type: ignore[arg-type]
    assert t.implies(c("statin"), c("atorvastatin")) is False  # type: ignore[arg-type]
    assert t.implies(c("lisinopril"), c("ace_inhibitor")) is True  # type: ignore[arg-type]
    assert t.implies(c("lisinopril"), c("antihypertensive")) is True  # type: ignore[arg-type]
    assert t.implies(c("furosemide"), c("diuretic")) is True  # type: ignore[arg-type]
    assert t.implies(c("warfarin"), c("antithrombotic")) is True  # type: ignore[arg-type]
    assert t.implies(c("clopidogrel"), c("anticoagulant")) is False  # type: ignore[arg-type]
    assert t.implies(c("aspirin"), c("nsaid")) is True  # type: ignore[arg-type]
    assert t.implies(c("hydrocodone"), c("opioid")) is True  # type: ignore[arg-type]
    assert t.implies(c("insulin_glargine"), c("insulin")) is True  # type: ignore[arg-type]
    assert t.implies(c("simvastatin"), c("atorvastatin")) is False  # type: ignore[arg-type]
    assert "atorvastatin" in t.members("statin")
    assert "metformin" not in t.members("statin")


def test_lay_wording_supported_by_recorded_codes(t: LocalTerminology) -> None:
    """The question's words, the record's codes: what the verifier will ask."""

    def supported(sentence: str, system: str, code: str) -> bool:
        recorded = t.concepts_of(system, code)
        assert recorded, (system, code)
        return all(
            any(t.implies(r, c) for r in recorded for c in m.concepts) for m in t.mentions(sentence)
        )

    assert supported("She takes a cholesterol pill", RXNORM, "314231")  # simvastatin 10 MG
    assert supported("He is on a water pill", RXNORM, "310798")  # hydrochlorothiazide
    assert supported("Her kidney function", LOINC, "33914-3")  # eGFR
    assert supported("Her kidney function", LOINC, "2160-0")  # creatinine
    assert supported("blood sugar", LOINC, "2339-0")
    assert supported("the a1c", LOINC, "4548-4")
    assert supported("got a flu shot", CVX, "140")
    assert supported("had a tetanus shot", CVX, "115")  # Tdap
    assert supported("takes Lipitor", RXNORM, "83367")
    assert not supported("takes Lipitor", RXNORM, "860975")  # metformin
    assert not supported("was seen for influenza", CVX, "140")  # a vaccination is not the flu
    assert supported("has high blood pressure", ICD10CM, "I10")
    assert supported("had a heart attack", SNOMED, "401314000")  # NSTEMI


def test_implies_is_unknown_for_concepts_outside_the_data(t: LocalTerminology) -> None:
    stranger = Concept("sct|1234", "condition", "Something", codes=(Code(SNOMED, "1234"),))
    assert t.implies(stranger, t.concept("hypertension")) is None  # type: ignore[arg-type]


# --------------------------------------------------------------------------- analytes
def test_analyte_groups(t: LocalTerminology) -> None:
    hba1c = t.analyte("4548-4")
    assert {"4548-4", "17856-6", "4549-2", "59261-8", "41995-2"} <= hba1c
    assert t.analyte("http://loinc.org|17856-6") == hba1c
    assert t.analyte(Code(LOINC, "4549-2")) == hba1c
    assert "2339-0" in t.analyte(t.concept("glucose"))  # type: ignore[arg-type]
    kidney = t.analyte(t.concept("kidney_function"))  # type: ignore[arg-type]
    assert {"33914-3", "2160-0", "6299-2"} <= kidney
    assert t.analyte("99999-9") == frozenset({"99999-9"})


def test_every_measure_is_a_concept_with_its_codes(t: LocalTerminology) -> None:
    for m in MEASURES:
        c = t.concept(m.key)
        assert c is not None, m.key
        assert c.kind == m.kind, m.key
        assert set(m.codes) <= set(c.code_in(LOINC)), m.key
        for code in m.codes:
            assert m.key in {x.id for x in t.by_code(LOINC, code)}, code


def test_polarity(t: LocalTerminology) -> None:
    assert t.concept("hba1c").polarity == "higher_worse"  # type: ignore[union-attr]
    assert t.concept("egfr").polarity == "higher_better"  # type: ignore[union-attr]
    assert t.concept("hdl").polarity == "higher_better"  # type: ignore[union-attr]
    assert t.concept("ldl").polarity == "higher_worse"  # type: ignore[union-attr]
    assert t.concept("sodium").polarity is None  # type: ignore[union-attr]


# --------------------------------------------------------------------------- data files
def test_data_coverage_floor(t: LocalTerminology) -> None:
    kinds: dict[str, int] = {}
    for c in t.concepts():
        kinds[c.kind] = kinds.get(c.kind, 0) + 1
    conditions = [c for c in t.concepts("condition") if c.code_in(SNOMED) and c.code_in(ICD10CM)]
    drugs_with_atc = [c for c in t.concepts("drug") if c.code_in(ATC)]
    branded = [c for c in drugs_with_atc if c.synonyms]
    labs = [c for c in t.concepts() if c.kind in ("lab", "vital") and c.code_in(LOINC)]
    assert len(conditions) >= 150
    assert len(drugs_with_atc) >= 200
    assert len(branded) >= 190
    assert kinds["drug_class"] >= 40
    assert len(labs) >= 60
    assert len([c for c in t.concepts("vaccine") if c.code_in(CVX)]) >= 30
    assert kinds["procedure"] >= 100


def test_every_data_file_names_its_sources() -> None:
    data = ROOT / "tools" / "terminology" / "data"
    files = sorted(data.glob("*.psv"))
    assert len(files) >= 10
    for f in files:
        head = "\n".join(line for line in f.read_text().splitlines()[:40] if line.startswith("#"))
        assert "Sources" in head or "Sources:" in head, f.name


def test_no_code_is_claimed_by_unrelated_concepts(t: LocalTerminology) -> None:
    """A code shared by several concepts must be a combination product (its ingredients)."""
    by_code: dict[Code, list[Concept]] = {}
    for c in t.concepts():
        for code in c.codes:
            by_code.setdefault(code, []).append(c)
    for code, owners in by_code.items():
        if len(owners) > 1:
            assert code.system == RXNORM, (code, owners)
            assert all(o.kind == "drug" for o in owners), (code, owners)


def test_data_errors_name_file_and_line() -> None:
    bad = "x|condition|X||SCT:1|x|\nx|condition|Again||SCT:2|again|\n"
    with pytest.raises(TerminologyDataError, match=r"conditions.psv:2.*duplicate"):
        load_table(["conditions.psv"], texts={"conditions.psv": bad})
    with pytest.raises(TerminologyDataError, match="unknown parent"):
        load_table(["conditions.psv"], texts={"conditions.psv": "y|condition|Y|nope|||\n"})
    with pytest.raises(TerminologyDataError, match="bad code"):
        load_table(["conditions.psv"], texts={"conditions.psv": "y|condition|Y||FOO:1||\n"})
    with pytest.raises(TerminologyDataError, match="unknown kind"):
        load_table(["conditions.psv"], texts={"conditions.psv": "y|planet|Y||||\n"})
    with pytest.raises(TerminologyDataError, match="monitored by 'z', no lab"):
        load_table(["conditions.psv"], texts={"conditions.psv": "y|condition|Y||||monitored=z\n"})
    with pytest.raises(TerminologyDataError, match="unknown flag 'recorded_as=chart'"):
        load_table(
            ["conditions.psv"], texts={"conditions.psv": "y|condition|Y||||recorded_as=chart\n"}
        )


def test_settings_and_where_a_concept_is_recorded() -> None:
    """Care settings are coded by the Encounter.class value set (HL7 v3 ActCode), spelled
    any way a record spells the system; a drug allergy is held in the allergy list and a
    physical examination is a visit (``recorded_as``)."""
    from tools.terminology import ACT

    t = default_terminology()
    assert [
        c.id for c in t.concepts_of("http://terminology.hl7.org/CodeSystem/v3-ActCode", "IMP")
    ] == ["inpatient"]
    assert [c.id for c in t.concepts_of("urn:oid:2.16.840.1.113883.5.4", "EMER")] == ["emergency"]
    assert t.concept("inpatient").code_in(ACT) == ("IMP",)  # type: ignore[union-attr]
    assert t.concept("drug_allergy").recorded_as == "allergy_list"  # type: ignore[union-attr]
    assert t.concept("physical_exam").recorded_as == "encounter"  # type: ignore[union-attr]
    assert t.concept("hypertension").recorded_as is None  # type: ignore[union-attr]


def test_unverified_codes_are_kept_out() -> None:
    table = load_table(
        ["conditions.psv"], texts={"conditions.psv": "y|condition|Y||SCT:123?;ICD10CM:I10|y|\n"}
    )
    t = LocalTerminology(table)
    assert t.by_code(SNOMED, "123") == ()
    assert [c.id for c in t.by_code(ICD10CM, "I10")] == ["y"]
    assert t.unverified_codes == [("y", "SCT:123?")]


# --------------------------------------------------------------------------- Synthea codes
_FIELDS = {
    "Condition": ("code",),
    "Procedure": ("code",),
    "Immunization": ("vaccineCode",),
    "MedicationRequest": ("medicationCodeableConcept",),
    "MedicationAdministration": ("medicationCodeableConcept",),
    "Medication": ("code",),
    "AllergyIntolerance": ("code",),
    "Observation": ("code",),
    "DiagnosticReport": ("code",),
}


def _codings(paths: list[Path]) -> set[tuple[str, str, str]]:
    out: set[tuple[str, str, str]] = set()
    for path in paths:
        bundle = json.loads(path.read_text())
        for entry in bundle.get("entry", []):
            res = entry.get("resource", {})
            for field in _FIELDS.get(res.get("resourceType"), ()):
                for coding in (res.get(field) or {}).get("coding", []):
                    out.add((coding.get("system", ""), coding.get("code", ""), res["resourceType"]))
            for comp in res.get("component") or []:
                for coding in comp.get("code", {}).get("coding", []):
                    out.add((coding.get("system", ""), coding.get("code", ""), "Observation"))
    return out


def _assert_all_known(t: LocalTerminology, paths: list[Path]) -> int:
    codings = _codings(paths)
    missing = sorted(c for c in codings if not t.by_code(c[0], c[1]))
    assert not missing, f"{len(missing)} codes without a concept: {missing[:20]}"
    return len(codings)


def test_every_fixture_code_has_a_concept(t: LocalTerminology) -> None:
    assert _assert_all_known(t, sorted(FIXTURES.glob("*.json"))) > 50


@pytest.mark.shared_data
def test_every_shared_synthea_code_has_a_concept(t: LocalTerminology) -> None:
    if not SHARED.is_dir():
        pytest.skip("../shared/synthea is absent")
    paths = sorted(p for p in SHARED.glob("*/*.json") if "Information" not in p.name)
    assert len(paths) >= 30
    assert _assert_all_known(t, paths) > 300


# --------------------------------------------------------------------------- common words
@pytest.mark.parametrize("word", ["contains", "undergone", "still", "recorded", "results"])
def test_common_words(word: str) -> None:
    assert is_common_word(word)


@pytest.mark.parametrize(
    "word", ["sarcoidosis", "Lipitor", "polypectomy", "atorvastatin", "cholestrol"]
)
def test_uncommon_words(word: str) -> None:
    assert not is_common_word(word)


# --------------------------------------------------------------------------- documentation
@pytest.mark.parametrize(
    "module",
    ["_model", "_text", "_english", "_local", "_context", "__init__"],
)
def test_docstring_examples(module: str) -> None:
    import doctest
    import importlib

    name = "tools.terminology" if module == "__init__" else f"tools.terminology.{module}"
    result = doctest.testmod(importlib.import_module(name))
    assert result.failed == 0
    assert result.attempted > 0


def test_a_name_never_ends_inside_a_number() -> None:
    """ "BMI 30.1" is a BMI value, not the finding "BMI 30+"; the finding's own name is read
    whole in a question ("Body mass index 30+ - obesity")."""
    t = default_terminology()
    assert [c.id for m in t.mentions("BMI 30.1 kg/m2") for c in m.concepts] == ["bmi"]
    q = "Since when does she have Body mass index 30+ - obesity (finding)?"
    assert [c.id for m in t.mentions(q) for c in m.concepts] == ["bmi_30_obesity"]

"""Records coded differently: the same FHIR R4 record in another hospital's coding.

:func:`variant_bundle` turns a Synthea-style bundle into a **clinically identical** bundle
whose codes, displays and units follow other common conventions, so that code keyed to
Synthea's conventions (SNOMED CT problem lists, LOINC-first labs, ``(disorder)`` tags,
RxNorm names, one unit per analyte) shows up in tests and benchmarks:

- **Conditions in ICD-10-CM** (:data:`ICD10CM`), FY2024 codes and titles, from the
  hand-written :data:`CONDITION_MAP` (every Condition code in ``fhir_fixtures/patients``
  and ``../shared/synthea``). The same map recodes diagnosis codes elsewhere
  (``reasonCode``, claim lines, a cause of death). SNOMED codes with no faithful single
  ICD-10-CM code stay SNOMED (:data:`UNMAPPED` says why), their displays untagged.
- **Labs with local codes**: ``Observation.code.coding[0]`` is a code of the hospital's
  lab catalogue (:data:`LAB_SYSTEM`, e.g. ``CHEM-GLU`` "GLUCOSE, SERUM"), marked
  ``userSelected``; LOINC follows as a second coding (a translation) for about half of
  the analytes (:data:`LAB_CODES`, ``keep_loinc``) and is dropped for the rest.
- **Medications** from a local formulary (:data:`FORMULARY`), displays in pharmacy form
  ("Metformin HCl 500 mg ER tab (24 hr)"); RxNorm stays as a second coding for about
  half of the drugs (chosen by a hash of the RxNorm code).
- **No SNOMED semantic tags** in any display or text ("Prediabetes (finding)" →
  "Prediabetes"), references' displays included.
- **Units in other conventions**, values converted with each analyte's molar mass and
  rounded as a lab prints them (:data:`CONVERSIONS`): glucose, cholesterol and
  triglycerides in mmol/L, creatinine in µmol/L, temperature in °F; per patient (a hash
  of the patient id), HbA1c in IFCC mmol/mol and weight/height in lb/in. Every quantity
  carries a printed ``unit`` with its UCUM ``code``.

Everything else is kept: ids, fullUrls, references, dates, statuses, values (up to the
unit conversion), notes. The function is pure (same input, byte-identical output).

CLI::

    python -m fhir_fixtures.variant                   # fhir_fixtures/patients -> fhir_fixtures/variants
    python -m fhir_fixtures.variant --check           # compare with the committed variants
    python -m fhir_fixtures.variant --out /tmp/v ../shared/synthea   # benchmarks (never commit)
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "CONDITION_MAP",
    "CONVERSIONS",
    "FORMULARY",
    "ICD10CM",
    "LAB_CODES",
    "LAB_SYSTEM",
    "UNMAPPED",
    "Conversion",
    "IcdCode",
    "LocalLab",
    "Profile",
    "dump_bundle",
    "formulary_code",
    "keeps_rxnorm",
    "main",
    "medication_display",
    "profile_of",
    "readme_section",
    "strip_semantic_tag",
    "variant_bundle",
]

Resource = dict[str, Any]
Bundle = dict[str, Any]

FIXTURES_DIR = Path(__file__).resolve().parent
ROOT = FIXTURES_DIR.parent
PATIENTS_DIR = FIXTURES_DIR / "patients"
VARIANTS_DIR = FIXTURES_DIR / "variants"

SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
UCUM = "http://unitsofmeasure.org"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
LAB_SYSTEM = "http://hospital.example.org/fhir/CodeSystem/lab-codes"
FORMULARY = "http://hospital.example.org/fhir/CodeSystem/formulary"
VARIANT_TAG = {
    "system": "urn:fhir-record-assistant:fixtures",
    "code": "coded-differently",
    "display": "Recoded by fhir_fixtures/variant.py (ICD-10-CM, local lab and drug codes)",
}

# --------------------------------------------------------------------------- conditions


@dataclass(frozen=True)
class IcdCode:
    """An ICD-10-CM code with its FY2024 tabular title (the long description)."""

    code: str
    display: str


def _icd(code: str, display: str) -> IcdCode:
    return IcdCode(code, display)


#: SNOMED CT → ICD-10-CM (FY2024, effective 2023-10-01 to 2024-09-30), by hand, for every
#: Condition code in fhir_fixtures/patients and ../shared/synthea. Targets: the NLM SNOMED
#: CT to ICD-10-CM map's default target for an adult, as carried in Synthea's
#: ``export/condition_code_map.json``; where that lists several targets or none, the
#: tabular list's inclusion terms and Excludes1 notes decide (see README.md for the four
#: departures). Codes and titles: the CMS/CDC tabular list, each checked in the FY2021 and
#: FY2025 files that bracket FY2024. Injury codes carry the 7th character "A".
CONDITION_MAP: dict[str, IcdCode] = {
    # disorders
    "10509002": _icd("J20.9", "Acute bronchitis, unspecified"),
    "75498004": _icd("J01.90", "Acute sinusitis, unspecified"),
    "307426000": _icd("N30.00", "Acute cystitis without hematuria"),
    "401314000": _icd("I21.4", "Non-ST elevation (NSTEMI) myocardial infarction"),
    # J02.9 includes "Pharyngitis (acute) NOS"; viral organism code (B97.-) not added
    "195662009": _icd("J02.9", "Acute pharyngitis, unspecified"),
    "241929008": _icd("T78.40XA", "Allergy, unspecified, initial encounter"),
    "7200002": _icd("F10.20", "Alcohol dependence, uncomplicated"),
    # etiology code; the manifestation (F02.80) is a second code
    "26929004": _icd("G30.9", "Alzheimer's disease, unspecified"),
    "271737000": _icd("D64.9", "Anemia, unspecified"),
    "74400008": _icd("K37", "Unspecified appendicitis"),
    "49436004": _icd("I48.91", "Unspecified atrial fibrillation"),
    "92691004": _icd("D07.5", "Carcinoma in situ of prostate"),
    "410429000": _icd("I46.9", "Cardiac arrest, cause unspecified"),
    # F90.9 includes "Attention-deficit hyperactivity disorder of childhood ... NOS"
    "192127007": _icd("F90.9", "Attention-deficit hyperactivity disorder, unspecified type"),
    # I50.9 includes "Congestive heart failure NOS"
    "88805009": _icd("I50.9", "Heart failure, unspecified"),
    "124171000119105": _icd(
        "G43.719", "Chronic migraine without aura, intractable, without status migrainosus"
    ),
    "431855005": _icd("N18.1", "Chronic kidney disease, stage 1"),
    "431856006": _icd("N18.2", "Chronic kidney disease, stage 2 (mild)"),
    "185086009": _icd("J44.9", "Chronic obstructive pulmonary disease, unspecified"),
    "40055000": _icd("J32.9", "Chronic sinusitis, unspecified"),
    "36971009": _icd("J32.9", "Chronic sinusitis, unspecified"),  # "Sinusitis (chronic) NOS"
    "62564004": _icd(
        "S06.0X9A",
        "Concussion with loss of consciousness of unspecified duration, initial encounter",
    ),
    "62106007": _icd("S06.0X0A", "Concussion without loss of consciousness, initial encounter"),
    "40275004": _icd("L25.9", "Unspecified contact dermatitis, unspecified cause"),
    # I25.10 includes "Atherosclerotic heart disease NOS"
    "53741008": _icd(
        "I25.10",
        "Atherosclerotic heart disease of native coronary artery without angina pectoris",
    ),
    "38822007": _icd("N30.90", "Cystitis, unspecified without hematuria"),
    # type not documented: E11 is the ICD-10-CM default (guideline I.C.4.a.2)
    "44054006": _icd("E11.9", "Type 2 diabetes mellitus without complications"),
    "127013003": _icd("E11.21", "Type 2 diabetes mellitus with diabetic nephropathy"),
    "422034002": _icd(
        "E11.319",
        "Type 2 diabetes mellitus with unspecified diabetic retinopathy without macular edema",
    ),
    "90781000119102": _icd(
        "E11.29", "Type 2 diabetes mellitus with other diabetic kidney complication"
    ),
    "368581000119106": _icd(
        "E11.40", "Type 2 diabetes mellitus with diabetic neuropathy, unspecified"
    ),
    # nonproliferative, severity not given: mild (E11.329-), eye not given: 9
    "1551000119108": _icd(
        "E11.3299",
        "Type 2 diabetes mellitus with mild nonproliferative diabetic retinopathy without "
        "macular edema, unspecified eye",
    ),
    "840539006": _icd("U07.1", "COVID-19"),
    "55680006": _icd(
        "T50.901A",
        "Poisoning by unspecified drugs, medicaments and biological substances, accidental "
        "(unintentional), initial encounter",
    ),
    "58150001": _icd(
        "S42.009A",
        "Fracture of unspecified part of unspecified clavicle, initial encounter for closed "
        "fracture",
    ),
    "65966004": _icd(
        "S52.90XA",
        "Unspecified fracture of unspecified forearm, initial encounter for closed fracture",
    ),
    "33737001": _icd(
        "S22.39XA",
        "Fracture of one rib, unspecified side, initial encounter for closed fracture",
    ),
    "21897009": _icd("F41.1", "Generalized anxiety disorder"),
    "66383009": _icd("K05.10", "Chronic gingivitis, plaque induced"),  # "Gingivitis NOS"
    "90560007": _icd("M10.9", "Gout, unspecified"),
    "80394007": _icd("R73.9", "Hyperglycemia, unspecified"),
    "55822004": _icd("E78.5", "Hyperlipidemia, unspecified"),
    "59621000": _icd("I10", "Essential (primary) hypertension"),
    "38341003": _icd("I10", "Essential (primary) hypertension"),
    "302870006": _icd("E78.1", "Pure hyperglyceridemia"),
    "389087006": _icd("R09.02", "Hypoxemia"),
    "196416002": _icd("K01.1", "Impacted teeth"),
    "307731004": _icd(
        "S46.009A",
        "Unspecified injury of muscle(s) and tendon(s) of the rotator cuff of unspecified "
        "shoulder, initial encounter",
    ),
    "312608009": _icd("T14.8XXA", "Other injury of unspecified body region, initial encounter"),
    "284551006": _icd(
        "S91.319A", "Laceration without foreign body, unspecified foot, initial encounter"
    ),
    "283371005": _icd(
        "S51.819A",
        "Laceration without foreign body of unspecified forearm, initial encounter",
    ),
    "284549007": _icd(
        "S61.419A", "Laceration without foreign body of unspecified hand, initial encounter"
    ),
    "201834006": _icd("M19.049", "Primary osteoarthritis, unspecified hand"),
    "370143000": _icd("F32.9", "Major depressive disorder, single episode, unspecified"),
    "363406005": _icd("C18.9", "Malignant neoplasm of colon, unspecified"),
    # FY2024 title; FY2025 split E88.81 into E88.810-E88.819
    "237602007": _icd("E88.81", "Metabolic syndrome"),
    "19169002": _icd("O03.9", "Complete or unspecified spontaneous abortion without complication"),
    "22298006": _icd("I21.9", "Acute myocardial infarction, unspecified"),
    "126906006": _icd("D49.59", "Neoplasm of unspecified behavior of other genitourinary organ"),
    "424132000": _icd(
        "C34.90", "Malignant neoplasm of unspecified part of unspecified bronchus or lung"
    ),
    "254637007": _icd(
        "C34.90", "Malignant neoplasm of unspecified part of unspecified bronchus or lung"
    ),
    "254632001": _icd(
        "C34.90", "Malignant neoplasm of unspecified part of unspecified bronchus or lung"
    ),
    "67811000119102": _icd(
        "C34.90", "Malignant neoplasm of unspecified part of unspecified bronchus or lung"
    ),
    "5602001": _icd("F11.10", "Opioid abuse, uncomplicated"),
    "239872002": _icd("M16.9", "Osteoarthritis of hip, unspecified"),
    "239873007": _icd("M17.9", "Osteoarthritis of knee, unspecified"),
    "64859006": _icd("M81.0", "Age-related osteoporosis without current pathological fracture"),
    "65363002": _icd("H66.90", "Otitis media, unspecified, unspecified ear"),
    "443165006": _icd(
        "M80.00XA",
        "Age-related osteoporosis with current pathological fracture, unspecified site, "
        "initial encounter for fracture",
    ),
    "446096008": _icd("J30.89", "Other allergic rhinitis"),  # "Perennial allergic rhinitis"
    "232353008": _icd("J30.89", "Other allergic rhinitis"),
    "367498001": _icd("J30.2", "Other seasonal allergic rhinitis"),
    "233604007": _icd("J18.9", "Pneumonia, unspecified organism"),
    "68496003": _icd("K63.5", "Polyp of colon"),
    "713197008": _icd("K62.1", "Rectal polyp"),
    "398254007": _icd("O14.90", "Unspecified pre-eclampsia, unspecified trimester"),
    "87433001": _icd("J43.9", "Emphysema, unspecified"),
    "770349000": _icd("A41.89", "Other specified sepsis"),
    "76571007": _icd("R65.21", "Severe sepsis with septic shock"),
    "44465007": _icd(
        "S93.409A", "Sprain of unspecified ligament of unspecified ankle, initial encounter"
    ),
    "70704007": _icd("S63.509A", "Unspecified sprain of unspecified wrist, initial encounter"),
    "43878008": _icd("J02.0", "Streptococcal pharyngitis"),
    "230690007": _icd("I63.9", "Cerebral infarction, unspecified"),
    "39848009": _icd(
        "S13.4XXA", "Sprain of ligaments of cervical spine, initial encounter"
    ),  # "Whiplash injury of cervical spine"
    # findings
    "162864005": _icd("E66.9", "Obesity, unspecified"),
    "408512008": _icd("E66.01", "Morbid (severe) obesity due to excess calories"),
    # the chronic-pain code is the first of two map groups (G89.29 would be the second)
    "278860009": _icd("M54.50", "Low back pain, unspecified"),
    # R52 excludes "acute and chronic pain, not elsewhere classified (G89.-)"
    "82423001": _icd("G89.29", "Other chronic pain"),
    "49727002": _icd("R05.9", "Cough, unspecified"),
    "267036007": _icd("R06.00", "Dyspnea, unspecified"),
    "386661006": _icd("R50.9", "Fever, unspecified"),
    "15777000": _icd("R73.03", "Prediabetes"),
    "714628002": _icd("R73.03", "Prediabetes"),
    "267102003": _icd("J02.9", "Acute pharyngitis, unspecified"),  # "Sore throat (acute) NOS"
    "56018004": _icd("R06.2", "Wheezing"),
    # social history and administrative "conditions": Z codes
    "73595000": _icd("Z73.3", "Stress, not elsewhere classified"),
    "422650009": _icd("Z60.4", "Social exclusion and rejection"),  # includes "Social isolation"
    "423315002": _icd("Z60.8", "Other problems related to social environment"),
    "424393004": _icd("Z60.8", "Other problems related to social environment"),
    "266948004": _icd("Z65.3", "Problems related to other legal circumstances"),
    "314529007": _icd(
        "Z76.89", "Persons encountering health services in other specified circumstances"
    ),
    "840544004": _icd("Z20.822", "Contact with and (suspected) exposure to COVID-19"),
    "72892002": _icd(
        "Z34.90",
        "Encounter for supervision of normal pregnancy, unspecified, unspecified trimester",
    ),
    # situations (history of)
    "428251008": _icd("Z90.49", "Acquired absence of other specified parts of digestive tract"),
    "429007001": _icd("Z86.74", "Personal history of sudden cardiac arrest"),
    "399211009": _icd("I25.2", "Old myocardial infarction"),
}

#: SNOMED Condition codes left in SNOMED CT (display untagged), and why.
UNMAPPED: dict[str, str] = {
    "160903007": "Full-time employment: not a problem; ICD-10-CM has no code (Z56 is for "
    "employment problems)",
    "160904001": "Part-time employment: not a problem; no ICD-10-CM code",
    "741062008": "Not in labor force: no ICD-10-CM code (Z56.0 is unemployment, not the same)",
    "224299000": "Received higher education: no ICD-10-CM code (Z55 is for education problems)",
    "446654005": "Refugee (person): no ICD-10-CM code for refugee status",
    "160968000": "Risk activity involvement: the map's targets disagree (Z72.89, Z91.89, R46.89)",
    "706893006": "Victim of intimate partner abuse: needs the kind of abuse and whether "
    "confirmed (T74.1-/T74.3-, Z91.41-)",
    "10939881000119105": "Unhealthy alcohol drinking behavior: F10.10 (alcohol abuse) would "
    "overstate it; Z72.89 is possible: uncertain",
    "698754002": "Chronic paralysis due to lesion of spinal cord: level and extent unknown "
    "(G82.2-, G82.5-, G83.9)",
    "263102004": "Fracture subluxation of wrist: needs a fracture and a subluxation code "
    "(S62.-, S63.0-)",
    "314994000": "Metastasis from malignant tumor of prostate: needs two codes (C79.9 and C61)",
    "132281000119108": "Acute deep venous thrombosis: site not given (I82.409 lower "
    "extremity vs I82.90 unspecified vein)",
    "162573006": "Suspected lung cancer: a suspicion not ruled out has no diagnosis code",
    "403190006": "First degree burn: ICD-10-CM has no first-degree code without a body "
    "region (T30.0 is unspecified degree)",
    "36955009": "Loss of taste: R43.2 (parageusia) vs R43.8 (other disturbances): uncertain",
    "271825005": "Respiratory distress: R06.03 (acute) vs R06.09: uncertain",
    "444814009": "Viral sinusitis: acute (J01.90) vs the index default for sinusitis NOS "
    "(J32.9): uncertain",
    "47693006": "Rupture of appendix: peritonitis extent not given (K35.2- vs K35.32)",
}

# --------------------------------------------------------------------------- labs


@dataclass(frozen=True)
class LocalLab:
    """A test of the hospital's lab catalogue: its code, printed name, and whether the
    interface still sends the LOINC code as a translation."""

    code: str
    display: str
    keep_loinc: bool


def _lab(code: str, display: str, keep_loinc: bool) -> LocalLab:
    return LocalLab(code, display, keep_loinc)


#: LOINC → local lab code, for every laboratory analyte in the fixtures and shared data.
#: Questionnaire answers, scores and vital signs Synthea files under ``laboratory`` keep
#: LOINC (they are not lab tests).
LAB_CODES: dict[str, LocalLab] = {
    # chemistry
    "2339-0": _lab("CHEM-GLUB", "GLUCOSE, BLOOD", False),
    "2345-7": _lab("CHEM-GLU", "GLUCOSE, SERUM", False),
    "15074-8": _lab("CHEM-GLUWB", "GLUCOSE, WHOLE BLOOD", True),
    "6299-2": _lab("CHEM-BUN", "UREA NITROGEN (BUN)", True),
    "3094-0": _lab("CHEM-BUNS", "UREA NITROGEN, SERUM", True),
    "38483-4": _lab("CHEM-CREAT", "CREATININE", True),
    "2160-0": _lab("CHEM-CREATS", "CREATININE, SERUM", True),
    "33914-3": _lab("CHEM-EGFR", "EGFR (MDRD)", True),
    "49765-1": _lab("CHEM-CA", "CALCIUM", False),
    "17861-6": _lab("CHEM-CAS", "CALCIUM, SERUM", False),
    "2947-0": _lab("CHEM-NA", "SODIUM", True),
    "2951-2": _lab("CHEM-NAS", "SODIUM, SERUM", True),
    "6298-4": _lab("CHEM-K", "POTASSIUM", False),
    "2823-3": _lab("CHEM-KS", "POTASSIUM, SERUM", False),
    "2069-3": _lab("CHEM-CL", "CHLORIDE", True),
    "2075-0": _lab("CHEM-CLS", "CHLORIDE, SERUM", True),
    "20565-8": _lab("CHEM-CO2", "CARBON DIOXIDE (CO2)", False),
    "2028-9": _lab("CHEM-CO2S", "CO2, TOTAL, SERUM", False),
    "14959-1": _lab("CHEM-UMACR", "MICROALBUMIN/CREATININE RATIO, URINE", False),
    "2885-2": _lab("CHEM-TP", "PROTEIN, TOTAL", True),
    "1751-7": _lab("CHEM-ALB", "ALBUMIN", False),
    "10834-0": _lab("CHEM-GLOB", "GLOBULIN (CALC)", True),
    "1975-2": _lab("CHEM-TBIL", "BILIRUBIN, TOTAL", True),
    "6768-6": _lab("CHEM-ALP", "ALKALINE PHOSPHATASE", False),
    "1742-6": _lab("CHEM-ALT", "ALT (SGPT)", True),
    "1920-8": _lab("CHEM-AST", "AST (SGOT)", False),
    "21377-7": _lab("CHEM-MG", "MAGNESIUM", False),
    "2276-4": _lab("CHEM-FERR", "FERRITIN", True),
    "14804-9": _lab("CHEM-LDH", "LDH", False),
    "2157-6": _lab("CHEM-CK", "CK, TOTAL", True),
    "1988-5": _lab("CHEM-CRP", "C-REACTIVE PROTEIN", False),
    "33959-8": _lab("CHEM-PCT", "PROCALCITONIN", True),
    "89579-7": _lab("CHEM-TROPHS", "TROPONIN I, HIGH SENSITIVITY", False),
    "33762-6": _lab("CHEM-NTBNP", "NT-PROBNP", True),
    "2857-1": _lab("CHEM-PSA", "PSA, TOTAL", False),
    "4548-4": _lab("CHEM-A1C", "HEMOGLOBIN A1C", True),
    # lipids
    "2093-3": _lab("LIP-CHOL", "CHOLESTEROL, TOTAL", False),
    "2571-8": _lab("LIP-TRIG", "TRIGLYCERIDES", True),
    "18262-6": _lab("LIP-LDLD", "LDL CHOLESTEROL, DIRECT", False),
    "2085-9": _lab("LIP-HDL", "HDL CHOLESTEROL", True),
    # hematology
    "6690-2": _lab("HEM-WBC", "WBC", True),
    "789-8": _lab("HEM-RBC", "RBC", False),
    "718-7": _lab("HEM-HGB", "HEMOGLOBIN", True),
    "4544-3": _lab("HEM-HCT", "HEMATOCRIT", False),
    "787-2": _lab("HEM-MCV", "MCV", True),
    "785-6": _lab("HEM-MCH", "MCH", False),
    "786-4": _lab("HEM-MCHC", "MCHC", True),
    "777-3": _lab("HEM-PLT", "PLATELET COUNT", False),
    "21000-5": _lab("HEM-RDWSD", "RDW-SD", True),
    "788-0": _lab("HEM-RDWCV", "RDW-CV", False),
    "32207-3": _lab("HEM-PDW", "PDW", True),
    "32623-1": _lab("HEM-MPV", "MPV", False),
    "770-8": _lab("HEM-NEUTP", "NEUTROPHILS %", True),
    "736-9": _lab("HEM-LYMPP", "LYMPHOCYTES %", False),
    "5905-5": _lab("HEM-MONOP", "MONOCYTES %", True),
    "713-8": _lab("HEM-EOSP", "EOSINOPHILS %", False),
    "706-2": _lab("HEM-BASOP", "BASOPHILS %", True),
    "751-8": _lab("HEM-NEUTA", "NEUTROPHILS, ABSOLUTE", False),
    "731-0": _lab("HEM-LYMPA", "LYMPHOCYTES, ABSOLUTE", True),
    "742-7": _lab("HEM-MONOA", "MONOCYTES, ABSOLUTE", False),
    "711-2": _lab("HEM-EOSA", "EOSINOPHILS, ABSOLUTE", True),
    "704-7": _lab("HEM-BASOA", "BASOPHILS, ABSOLUTE", False),
    # coagulation
    "6301-6": _lab("COAG-INR", "INR", True),
    "5902-2": _lab("COAG-PT", "PROTIME", False),
    "3173-2": _lab("COAG-PTT", "PTT", True),
    "48065-7": _lab("COAG-DDIM", "D-DIMER, FEU", False),
    # blood gas
    "2744-1": _lab("BG-PH", "PH, ARTERIAL", True),
    "2019-8": _lab("BG-PCO2", "PCO2, ARTERIAL", False),
    "2703-7": _lab("BG-PO2", "PO2, ARTERIAL", True),
    "1960-4": _lab("BG-HCO3", "HCO3, ARTERIAL", False),
    "2708-6": _lab("BG-O2SAT", "O2 SATURATION, ARTERIAL", True),
    "19994-3": _lab("BG-FIO2", "FIO2 (VENTILATOR SETTING)", False),
    # urinalysis and stool
    "5767-9": _lab("UA-APPEAR", "APPEARANCE, URINE", True),
    "32167-9": _lab("UA-CLAR", "CLARITY, URINE", False),
    "5778-6": _lab("UA-COLOR", "COLOR, URINE", True),
    "34533-0": _lab("UA-ODOR", "ODOR, URINE", False),
    "5792-7": _lab("UA-GLU", "GLUCOSE, URINE (DIPSTICK)", True),
    "25428-4": _lab("UA-GLUQ", "GLUCOSE, URINE (QUAL)", False),
    "20505-4": _lab("UA-BIL", "BILIRUBIN, URINE (DIPSTICK)", True),
    "5770-3": _lab("UA-BILQ", "BILIRUBIN, URINE (QUAL)", False),
    "5797-6": _lab("UA-KET", "KETONES, URINE (DIPSTICK)", True),
    "2514-8": _lab("UA-KETQ", "KETONES, URINE (QUAL)", False),
    "5811-5": _lab("UA-SG", "SPECIFIC GRAVITY, URINE", True),
    "5803-2": _lab("UA-PH", "PH, URINE", False),
    "5804-0": _lab("UA-PROT", "PROTEIN, URINE (DIPSTICK)", True),
    "20454-5": _lab("UA-PROTQ", "PROTEIN, URINE (QUAL)", False),
    "5802-4": _lab("UA-NIT", "NITRITE, URINE", True),
    "5794-3": _lab("UA-BLD", "BLOOD, URINE", False),
    "5799-2": _lab("UA-LE", "LEUKOCYTE ESTERASE, URINE", True),
    "65750-2": _lab("TOX-DAU5", "DRUG SCREEN 5 PANEL, URINE", False),
    "57905-2": _lab("STL-FIT", "OCCULT BLOOD, FECAL (FIT)", True),
    # allergen-specific IgE
    "6206-7": _lab("ALG-PEANUT", "PEANUT IGE", True),
    "6273-7": _lab("ALG-WALNUT", "WALNUT IGE", False),
    "6082-2": _lab("ALG-COD", "CODFISH IGE", True),
    "6246-3": _lab("ALG-SHRIMP", "SHRIMP IGE", False),
    "6276-0": _lab("ALG-WHEAT", "WHEAT IGE", True),
    "6106-9": _lab("ALG-EGGW", "EGG WHITE IGE", False),
    "6248-9": _lab("ALG-SOY", "SOYBEAN IGE", True),
    "7258-7": _lab("ALG-MILK", "COW MILK IGE", False),
    "6189-5": _lab("ALG-OAK", "WHITE OAK IGE", True),
    "6085-5": _lab("ALG-RAGW", "COMMON RAGWEED IGE", False),
    "6833-8": _lab("ALG-CAT", "CAT DANDER IGE", True),
    "6095-4": _lab("ALG-DMITE", "DUST MITE (D. FARINAE) IGE", False),
    "6075-6": _lab("ALG-CLAD", "CLADOSPORIUM HERBARUM IGE", True),
    "6844-5": _lab("ALG-BEE", "HONEY BEE VENOM IGE", False),
    "6158-0": _lab("ALG-LATEX", "LATEX IGE", True),
    # respiratory pathogen panel
    "92142-9": _lab("MIC-FLUA", "INFLUENZA A PCR", True),
    "92141-1": _lab("MIC-FLUB", "INFLUENZA B PCR", False),
    "92131-2": _lab("MIC-RSV", "RSV PCR", True),
    "92140-3": _lab("MIC-PIV1", "PARAINFLUENZA 1 PCR", False),
    "92139-5": _lab("MIC-PIV2", "PARAINFLUENZA 2 PCR", True),
    "92138-7": _lab("MIC-PIV3", "PARAINFLUENZA 3 PCR", False),
    "92130-4": _lab("MIC-RHINO", "RHINOVIRUS PCR", True),
    "92134-6": _lab("MIC-HMPV", "HUMAN METAPNEUMOVIRUS PCR", False),
    "94040-3": _lab("MIC-ADENO", "ADENOVIRUS PCR", True),
    "94531-1": _lab("MIC-COV2", "SARS-COV-2 PCR", False),
}

# --------------------------------------------------------------------------- units


@dataclass(frozen=True)
class Conversion:
    """A unit change for some codes: ``to = value * factor + offset``, printed with
    ``decimals`` places (0: an integer)."""

    codes: frozenset[str]
    source: str  # UCUM code converted from
    target: str  # UCUM code converted to
    unit: str  # the printed unit
    factor: float
    offset: float
    decimals: int
    when: str  # "always", "imperial" or "ifcc" (a per-patient convention)

    def apply(self, value: float) -> float | int:
        converted = round(value * self.factor + self.offset, self.decimals)
        return int(converted) if self.decimals == 0 else converted


GLUCOSE_MOLAR_MASS = 180.156  # g/mol
CHOLESTEROL_MOLAR_MASS = 386.65
TRIGLYCERIDE_MOLAR_MASS = 885.7  # as triolein, the convention for lipid panels
CREATININE_UMOL_PER_MG_DL = 88.4  # 10 / 113.12 g/mol * 1000
LB_KG = 0.45359237  # exact
IN_CM = 2.54  # exact
IFCC_SLOPE, NGSP_INTERCEPT = 10.929, 2.15  # IFCC = 10.929 * (NGSP - 2.15), mmol/mol


def _conv(
    codes: set[str],
    source: str,
    target: str,
    unit: str,
    factor: float,
    offset: float = 0.0,
    decimals: int = 1,
    when: str = "always",
) -> Conversion:
    return Conversion(frozenset(codes), source, target, unit, factor, offset, decimals, when)


#: Unit conventions of the variant (mg/dL → mmol/L: × 10 / molar mass).
CONVERSIONS: tuple[Conversion, ...] = (
    _conv({"2339-0", "2345-7"}, "mg/dL", "mmol/L", "mmol/L", 10 / GLUCOSE_MOLAR_MASS),
    _conv(
        {"2093-3", "18262-6", "2085-9"},
        "mg/dL",
        "mmol/L",
        "mmol/L",
        10 / CHOLESTEROL_MOLAR_MASS,
        decimals=2,
    ),
    _conv({"2571-8"}, "mg/dL", "mmol/L", "mmol/L", 10 / TRIGLYCERIDE_MOLAR_MASS, decimals=2),
    _conv(
        {"38483-4", "2160-0"}, "mg/dL", "umol/L", "µmol/L", CREATININE_UMOL_PER_MG_DL, decimals=0
    ),
    _conv(
        {"4548-4"},
        "%",
        "mmol/mol",
        "mmol/mol",
        IFCC_SLOPE,
        -IFCC_SLOPE * NGSP_INTERCEPT,
        decimals=0,
        when="ifcc",
    ),
    _conv({"8310-5", "8331-1"}, "Cel", "[degF]", "°F", 9 / 5, 32.0),
    _conv({"29463-7"}, "kg", "[lb_av]", "lb", 1 / LB_KG, when="imperial"),
    _conv({"8302-2"}, "cm", "[in_i]", "in", 1 / IN_CM, when="imperial"),
)

#: How the variant prints UCUM codes that are not converted.
PRINTED_UNITS: dict[str, str] = {
    "10*3/uL": "K/uL",
    "10*6/uL": "M/uL",
    "mm[Hg]": "mmHg",
    "Cel": "°C",
    "mL/min/{1.73_m2}": "mL/min/1.73 m2",
    "umol/L": "µmol/L",
    "ug/mL": "µg/mL",
    "ug/L": "µg/L",
    "/min": "/min",
    "kg/m2": "kg/m2",
}


@dataclass(frozen=True)
class Profile:
    """A patient's unit conventions (from a hash of the patient id)."""

    ifcc_hba1c: bool
    imperial: bool


def profile_of(patient_id: str) -> Profile:
    """HbA1c in IFCC mmol/mol and weight/height in lb/in for some patients."""
    digest = hashlib.sha256(f"urn:fhir-record-assistant:variant:{patient_id}".encode()).digest()
    return Profile(ifcc_hba1c=bool(digest[0] & 0b100), imperial=bool(digest[0] & 0b1000000))


# --------------------------------------------------------------------------- displays

#: SNOMED CT semantic tags (the parenthesised hierarchy at the end of a fully specified name).
SEMANTIC_TAGS = (
    "administration method",
    "assessment scale",
    "attribute",
    "basic dose form",
    "body structure",
    "cell",
    "cell structure",
    "clinical drug",
    "disorder",
    "disposition",
    "dose form",
    "environment",
    "ethnic group",
    "event",
    "finding",
    "geographic location",
    "intended site",
    "life style",
    "link assertion",
    "medicinal product",
    "medicinal product form",
    "morphologic abnormality",
    "navigational concept",
    "number",
    "observable entity",
    "occupation",
    "organism",
    "person",
    "physical force",
    "physical object",
    "procedure",
    "product",
    "qualifier value",
    "racial group",
    "record artifact",
    "regime/therapy",
    "release characteristic",
    "role",
    "situation",
    "social concept",
    "special concept",
    "specimen",
    "staging scale",
    "state of matter",
    "substance",
    "supplier",
    "transformation",
    "tumor staging",
    "unit of presentation",
)
_TAG_RE = re.compile(r"\s+\((?:" + "|".join(re.escape(t) for t in SEMANTIC_TAGS) + r")\)\s*$")


def strip_semantic_tag(text: str) -> str:
    """``"Prediabetes (finding)"`` → ``"Prediabetes"``; other text unchanged."""
    return _TAG_RE.sub("", text)


_FORMS = (
    ("Extended Release Oral Tablet", "ER tab"),
    ("Extended Release Oral Capsule", "ER cap"),
    ("Delayed Release Oral Tablet", "DR tab"),
    ("Delayed Release Oral Capsule", "DR cap"),
    ("Chewable Tablet", "chew tab"),
    ("Sublingual Tablet", "SL tab"),
    ("Oral Tablet", "tab"),
    ("Oral Capsule", "cap"),
    ("Oral Solution", "oral soln"),
    ("Oral Suspension", "oral susp"),
    ("Injectable Solution", "inj soln"),
    ("Injectable Suspension", "inj susp"),
    ("Prefilled Syringe", "prefilled syringe"),
    ("Auto-Injector", "auto-injector"),
    ("Injection", "inj"),
    ("Metered Dose Inhaler", "MDI"),
    ("Dry Powder Inhaler", "DPI"),
    ("Topical Cream", "cream"),
    ("Ophthalmic Solution", "ophth soln"),
    ("Mucosal Spray", "spray"),
    ("Transdermal System", "patch"),
    ("Drug Implant", "implant"),
)
_UNIT_WORDS = {"MG": "mg", "ML": "mL", "UNT": "units", "ACTUAT": "actuation", "HR": "hr"}
_SALTS = {"hydrochloride": "HCl", "hydrobromide": "HBr"}
_INGREDIENT_RE = re.compile(r"^(?P<name>.+?) (?P<num>\d+(?:\.\d+)?) (?P<unit>[A-Z]+(?:/[A-Z]+)?)$")
_PACKAGE_RE = re.compile(r"^(?P<num>\d+(?:\.\d+)?) (?P<unit>ML|ACTUAT|HR) (?P<rest>.+)$")


def _unit_words(unit: str) -> str:
    return "/".join(_UNIT_WORDS.get(part, part.lower()) for part in unit.split("/"))


def _ingredient_name(name: str) -> str:
    """Lower case (tall-man letters too: "HYDROcodone"), salts abbreviated, single
    letters kept ("Penicillin V", "Vitamin B 12")."""
    words = [w if len(w) == 1 else _SALTS.get(w.lower(), w.lower()) for w in name.split(" ")]
    return " ".join(words)


def _fallback_display(display: str) -> str:
    text = re.sub(
        r"(\d)\s*(MG|ML|UNT)\b",
        lambda x: f"{x[1]} {_unit_words(x[2].upper())}",
        display,
        flags=re.I,
    )
    text = re.sub(r"\bDay Pack\b", "day pack", text)
    return text[:1].upper() + text[1:]


def medication_display(display: str) -> str:
    """An RxNorm name as a pharmacy system prints it.

    ``"24 HR Metformin hydrochloride 500 MG Extended Release Oral Tablet"`` →
    ``"Metformin HCl 500 mg ER tab (24 hr)"``; a ``[Brand]`` comes first
    (``"Colcrys 0.6 mg (colchicine)"``); several ingredients join with ``-``
    ("Amoxicillin-clavulanate 250-125 mg tab"). Names it cannot parse keep their words,
    units in lower case.
    """
    text = display.strip()
    brand = None
    m = re.search(r"\s*\[(?P<brand>[^\]]+)\]$", text)
    if m:
        brand, text = m["brand"], text[: m.start()]
    text = re.sub(r"^(?:NDA\d+|Abuse-Deterrent) ", "", text)
    extras: list[str] = []
    while pm := _PACKAGE_RE.match(text):
        qty = f"{pm['num']} {_unit_words(pm['unit'])}"
        extras.append(qty + ("s" if pm["unit"] == "ACTUAT" else ""))
        text = pm["rest"]
    form = ""
    for long, short in _FORMS:
        if text.endswith(" " + long):
            form, text = short, text[: -len(long) - 1]
            break
    matches = [_INGREDIENT_RE.match(p.strip()) for p in text.split(" / ")]
    parts = [p for p in matches if p is not None]
    if len(parts) != len(matches):
        return _fallback_display(display)
    names = [_ingredient_name(p["name"]) for p in parts]
    units = [_unit_words(p["unit"]) for p in parts]
    nums = [p["num"] for p in parts]
    strength = (
        "-".join(nums) + " " + units[0]
        if len(set(units)) == 1
        else " / ".join(f"{n} {u}" for n, u in zip(nums, units, strict=True))
    )
    generic = (" / " if any("," in n for n in names) else "-").join(names)
    if brand:
        words = [brand, strength, form, f"({generic})"]
    else:
        words = [generic[:1].upper() + generic[1:], strength, form]
    return " ".join(w for w in [*words, *(f"({e})" for e in extras)] if w)


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


def formulary_code(rxnorm: str) -> str:
    """The local formulary id of an RxNorm code (stable across patients)."""
    return f"MED-{int.from_bytes(_digest('formulary:' + rxnorm)[:4], 'big') % 1_000_000:06d}"


def keeps_rxnorm(rxnorm: str) -> bool:
    """Whether the interface sends RxNorm as a translation (about half of the drugs)."""
    return _digest("rxnorm:" + rxnorm)[0] % 2 == 0


# --------------------------------------------------------------------------- transform


def _coding(system: str, code: str, display: str, *, selected: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"system": system, "code": code, "display": display}
    if selected:
        out["userSelected"] = True
    return out


def _concept(original: dict[str, Any], codings: list[dict[str, Any]], text: str) -> dict[str, Any]:
    """A recoded CodeableConcept: ``text`` only where the original had one."""
    out: dict[str, Any] = {"coding": codings}
    if "text" in original:
        out["text"] = text
    return out


def _condition_concept(cc: dict[str, Any]) -> dict[str, Any]:
    """A diagnosis CodeableConcept in ICD-10-CM (or its SNOMED coding untagged)."""
    codings = cc.get("coding") or []
    for c in codings:
        if c.get("system") == SNOMED and c.get("code") in CONDITION_MAP:
            icd = CONDITION_MAP[c["code"]]
            return _concept(cc, [_coding(ICD10CM, icd.code, icd.display)], icd.display)
    return cc


def _lab_concept(cc: dict[str, Any]) -> dict[str, Any] | None:
    for c in cc.get("coding") or []:
        if c.get("system") == LOINC and c.get("code") in LAB_CODES:
            lab = LAB_CODES[c["code"]]
            codings = [_coding(LAB_SYSTEM, lab.code, lab.display, selected=True)]
            if lab.keep_loinc:
                codings.append(_coding(LOINC, c["code"], c.get("display", "")))
            return _concept(cc, codings, lab.display)
    return None


def _medication_concept(cc: dict[str, Any]) -> dict[str, Any]:
    for c in cc.get("coding") or []:
        if c.get("system") == RXNORM and c.get("code"):
            rx = str(c["code"])
            display = medication_display(str(c.get("display") or cc.get("text") or rx))
            codings = [_coding(FORMULARY, formulary_code(rx), display, selected=True)]
            if keeps_rxnorm(rx):
                codings.append(dict(c))
            return _concept(cc, codings, display)
    return cc


def _is_lab(resource: Resource) -> bool:
    return any(
        c.get("code") == "laboratory"
        for cat in resource.get("category") or []
        for c in cat.get("coding") or []
    )


def _codes(cc: Any) -> set[str]:
    return {str(c.get("code")) for c in (cc or {}).get("coding") or [] if c.get("code")}


def _convert_quantity(q: Any, conv: Conversion) -> None:
    if not isinstance(q, dict) or not isinstance(q.get("value"), int | float):
        return
    if (q.get("code") or q.get("unit")) != conv.source:
        return
    q["value"] = conv.apply(float(q["value"]))
    q["unit"] = conv.unit
    q["system"] = UCUM
    q["code"] = conv.target


def _print_unit(q: Any) -> None:
    if isinstance(q, dict) and q.get("system") == UCUM and q.get("code") in PRINTED_UNITS:
        q["unit"] = PRINTED_UNITS[q["code"]]


def _observation(obs: Resource, profile: Profile) -> None:
    codes = _codes(obs.get("code"))
    for conv in CONVERSIONS:
        if not codes & conv.codes:
            continue
        if (conv.when == "imperial" and not profile.imperial) or (
            conv.when == "ifcc" and not profile.ifcc_hba1c
        ):
            continue
        _convert_quantity(obs.get("valueQuantity"), conv)
        for rr in obs.get("referenceRange") or []:
            _convert_quantity(rr.get("low"), conv)
            _convert_quantity(rr.get("high"), conv)
    for holder in [obs, *(c for c in obs.get("component") or [] if isinstance(c, dict))]:
        _print_unit(holder.get("valueQuantity"))
        for rr in holder.get("referenceRange") or []:
            _print_unit(rr.get("low"))
            _print_unit(rr.get("high"))
    if _is_lab(obs) and isinstance(obs.get("code"), dict):
        local = _lab_concept(obs["code"])
        if local is not None:
            obs["code"] = local


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    """Every dict in ``node``."""
    if isinstance(node, dict):
        yield node
        for v in node.values():
            yield from _walk(v)
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item)


def _recode_diagnoses(resource: Resource) -> None:
    """ICD-10-CM for every diagnosis concept (not allergy reaction manifestations)."""

    def visit(node: Any, key: str) -> Any:
        if isinstance(node, dict):
            if isinstance(node.get("coding"), list) and key != "manifestation":
                node = _condition_concept(node)
            return {k: visit(v, k) for k, v in node.items()}
        if isinstance(node, list):
            return [visit(item, key) for item in node]
        return node

    recoded = visit(resource, "")
    resource.clear()
    resource.update(recoded)


def _untag(resource: Resource) -> None:
    for node in _walk(resource):
        for k in ("display", "text"):
            if isinstance(node.get(k), str):
                node[k] = strip_semantic_tag(node[k])


def _reference_displays(resource: Resource, conditions: dict[str, str]) -> None:
    for node in _walk(resource):
        ref = node.get("reference")
        if isinstance(ref, str) and isinstance(node.get("display"), str) and ref in conditions:
            node["display"] = conditions[ref]


def _patient_id(bundle: Bundle) -> str:
    for entry in bundle.get("entry") or []:
        r = entry.get("resource") or {}
        if r.get("resourceType") == "Patient":
            return str(r.get("id", ""))
    return ""


def variant_bundle(bundle: Bundle) -> Bundle:
    """The same bundle coded differently (see the module docstring). Pure: the input
    is not modified and the output depends on nothing else."""
    out = copy.deepcopy(bundle)
    profile = profile_of(_patient_id(out))
    conditions: dict[str, str] = {}
    for entry in out.get("entry") or []:
        r = entry.get("resource")
        if not isinstance(r, dict):
            continue
        _recode_diagnoses(r)
        rtype = r.get("resourceType")
        if rtype == "Observation":
            _observation(r, profile)
        elif rtype in ("MedicationRequest", "MedicationStatement", "MedicationAdministration"):
            if isinstance(r.get("medicationCodeableConcept"), dict):
                r["medicationCodeableConcept"] = _medication_concept(r["medicationCodeableConcept"])
        elif rtype == "Medication" and isinstance(r.get("code"), dict):
            r["code"] = _medication_concept(r["code"])
        _untag(r)
        if rtype == "Condition" and isinstance(r.get("code"), dict):
            text = r["code"].get("text") or next(
                (c.get("display") for c in r["code"].get("coding") or [] if c.get("display")),
                None,
            )
            if text:
                for url in (entry.get("fullUrl"), f"Condition/{r.get('id')}"):
                    if isinstance(url, str):
                        conditions[url] = str(text)
    for entry in out.get("entry") or []:
        if isinstance(entry.get("resource"), dict):
            _reference_displays(entry["resource"], conditions)
    meta = out.setdefault("meta", {})
    tags = meta.setdefault("tag", [])
    if VARIANT_TAG not in tags:
        tags.append(dict(VARIANT_TAG))
    return out


# --------------------------------------------------------------------------- files


def dump_bundle(bundle: Bundle) -> bytes:
    """The bundle as JSON with one compact entry per line: small, and diffs show resources."""
    head = [
        f"  {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)},"
        for k, v in bundle.items()
        if k != "entry"
    ]
    lines = [
        "    " + json.dumps(entry, ensure_ascii=False, separators=(",", ":"))
        for entry in bundle["entry"]
    ]
    text = "{\n" + "\n".join(head) + '\n  "entry": [\n' + ",\n".join(lines) + "\n  ]\n}\n"
    if json.loads(text) != bundle:  # pragma: no cover - a guard on the hand-written layout
        raise AssertionError("dump_bundle wrote different JSON")
    return text.encode("utf-8")


def _inputs(paths: list[Path]) -> Iterator[tuple[Path, Path]]:
    """(file, path relative to the output directory) of every ``*.json`` bundle."""
    for root in paths:
        if root.is_file():
            yield root, Path(root.name)
            continue
        for path in sorted(root.rglob("*.json")):
            yield path, path.relative_to(root)


def build(paths: list[Path]) -> dict[Path, bytes]:
    """Relative output path → variant bytes, for every bundle under ``paths``."""
    files: dict[Path, bytes] = {}
    for path, rel in _inputs(paths):
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or data.get("resourceType") != "Bundle":
            continue
        if rel in files:
            raise ValueError(f"two inputs would write {rel}")
        files[rel] = dump_bundle(variant_bundle(data))
    return files


def compare(files: dict[Path, bytes], out: Path) -> list[str]:
    """What differs between ``files`` and the directory ``out`` (stale files included)."""
    problems = [
        str(rel)
        for rel, data in files.items()
        if not (out / rel).is_file() or (out / rel).read_bytes() != data
    ]
    if out.is_dir():
        problems += sorted(
            f"{p.relative_to(out)} (not generated)"
            for p in out.rglob("*.json")
            if p.relative_to(out) not in files
        )
    return problems


def write(files: dict[Path, bytes], out: Path) -> None:
    if out.is_dir():
        for stale in out.rglob("*.json"):
            if stale.relative_to(out) not in files:
                stale.unlink()
    for rel, data in files.items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_bytes(data)


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fhir_fixtures.variant",
        description="Write the bundles recoded (ICD-10-CM, local lab and drug codes, other "
        "units); see fhir_fixtures/README.md.",
    )
    parser.add_argument(
        "inputs",
        nargs="*",
        type=Path,
        help="bundle files or directories (default: fhir_fixtures/patients)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        help="output directory (default: fhir_fixtures/variants for the fixtures)",
    )
    parser.add_argument("--check", action="store_true", help="compare with --out; write nothing")
    args = parser.parse_args(argv)
    inputs = args.inputs or [PATIENTS_DIR]
    fixtures = all(_inside(p, PATIENTS_DIR) for p in inputs)
    if args.out is None:
        if not fixtures:
            parser.error("--out is required for inputs other than fhir_fixtures/patients")
        args.out = VARIANTS_DIR
    if not fixtures and _inside(args.out, ROOT):
        parser.error(
            f"{args.out} is inside the repository: variants of other data (e.g. "
            "../shared/synthea) are derived data and are never committed; use a temp dir"
        )
    missing = [str(p) for p in inputs if not p.exists()]
    if missing:
        parser.error(f"no such input: {', '.join(missing)}")
    files = build(inputs)
    if not files:
        parser.error("no FHIR Bundle found in the inputs")
    if args.check:
        problems = compare(files, args.out)
        for problem in problems:
            print(f"differs: {problem}", file=sys.stderr)
        print(f"{'OUT OF DATE' if problems else 'up to date'}: {len(files)} bundles in {args.out}")
        return 1 if problems else 0
    write(files, args.out)
    print(f"wrote {len(files)} bundles to {args.out}")
    return 0


# --------------------------------------------------------------------------- README


def _table(rows: Sequence[Sequence[str]], head: Sequence[str]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def readme_section(patients: Sequence[tuple[str, str]] = ()) -> str:
    """The README's section on the variant (``generate.py`` writes it into README.md);
    ``patients``: (name, patient id) of the fixture patients, for their unit conventions."""
    cond_rows = [
        (f"`{s}`", f"`{m.code}`", m.display)
        for s, m in sorted(CONDITION_MAP.items(), key=lambda x: (x[1].code, x[0]))
    ]
    unmapped_rows = [(f"`{s}`", why) for s, why in sorted(UNMAPPED.items())]
    kept = sum(1 for lab in LAB_CODES.values() if lab.keep_loinc)
    conv_rows = [
        (
            ", ".join(f"`{c}`" for c in sorted(conv.codes)),
            f"`{conv.source}` → `{conv.target}` (printed `{conv.unit}`)",
            f"× {conv.factor:.6g}" + (f" {conv.offset:+.6g}" if conv.offset else ""),
            str(conv.decimals),
            {"always": "every patient", "imperial": "imperial patients", "ifcc": "IFCC patients"}[
                conv.when
            ],
        )
        for conv in CONVERSIONS
    ]
    profile_rows = [
        (
            name,
            "mmol/mol (IFCC)" if profile_of(pid).ifcc_hba1c else "% (NGSP)",
            "lb, in" if profile_of(pid).imperial else "kg, cm",
        )
        for name, pid in patients
    ]
    metformin = medication_display(
        "24 HR Metformin hydrochloride 500 MG Extended Release Oral Tablet"
    )
    colchicine = medication_display("Colchicine 0.6 MG [Colcrys]")
    return "\n".join(
        [
            "## Variant: the same records coded differently",
            "",
            "`variants/*.json` hold each fixture patient as another hospital would send it, made by",
            "`fhir_fixtures/variant.py` (`variant_bundle(bundle)`, pure and deterministic) and written",
            "by `generate.py` too. Ids, fullUrls, references, dates, statuses, notes and every value",
            "(up to a unit conversion) are unchanged; the bundle carries `meta.tag`",
            f"`{VARIANT_TAG['system']}|{VARIANT_TAG['code']}`.",
            "",
            "```",
            ".venv/bin/python -m fhir_fixtures.variant           # rewrite fhir_fixtures/variants",
            ".venv/bin/python -m fhir_fixtures.variant --check   # compare",
            ".venv/bin/python -m fhir_fixtures.variant --out /tmp/variant-synthea ../shared/synthea",
            ".venv/bin/pytest tests/test_fixture_variant.py",
            "```",
            "",
            "Variants of `../shared/synthea` are made at run time into a temp dir (the CLI refuses",
            "to write them into the repository): they are derived data and are never committed.",
            "",
            "EHRQA on the variant (the generator asks in the record's own codes: ICD-10-CM",
            "conditions, local lab codes, answers in the recorded unit): the no-model baseline",
            "answers 100 % of `fhir-bench eval --config baseline --data fhir_fixtures/variants",
            "--questions 120 --seed 1` (as on the fixtures themselves).",
            "",
            "- **Conditions in ICD-10-CM** (`http://hl7.org/fhir/sid/icd-10-cm`), FY2024 codes and",
            "  titles as the display and text (no semantic tags). The same map recodes diagnosis",
            "  codes wherever they appear (encounter and procedure `reasonCode`, claim lines, a cause",
            "  of death); a reference's display to a Condition follows it.",
            "- **Labs with local codes**: `coding[0]` is the hospital's lab catalogue",
            f"  (`{LAB_SYSTEM}`, `userSelected`), printed as a lab",
            '  system prints it (`CHEM-GLU` "GLUCOSE, SERUM", `CHEM-A1C` "HEMOGLOBIN A1C",',
            '  `CHEM-CREAT` "CREATININE", `CHEM-EGFR` "EGFR (MDRD)"); the LOINC code follows as a',
            f"  second coding for {kept} of the {len(LAB_CODES)} analytes and is dropped for the rest",
            "  (`LAB_CODES` in `variant.py`). Questionnaire answers and scores that Synthea files",
            "  under `laboratory` keep LOINC: they are not lab tests.",
            f"- **Medications** from a local formulary (`{FORMULARY}`, ids `MED-nnnnnn`), printed as",
            f'  a pharmacy prints them ("{metformin}", "{colchicine}"); RxNorm stays as a',
            "  second coding for about half of the drugs (a hash of the RxNorm code decides).",
            "- **No SNOMED CT semantic tags** (`(disorder)`, `(finding)`, `(procedure)` …) in any",
            "  display or text. Note text (DocumentReference attachments) is left as written.",
            "- **Units**: every quantity has a printed `unit` and its UCUM `code` (`K/uL` with",
            "  `10*3/uL`, `mmHg` with `mm[Hg]`). Converted values, rounded as a lab prints them:",
            "",
            _table(conv_rows, ("codes", "unit", "factor", "decimals", "who")),
            "",
            "  Molar masses: glucose 180.156 g/mol, cholesterol 386.65, triglycerides 885.7",
            "  (triolein); creatinine mg/dL × 88.4 = µmol/L; HbA1c IFCC = 10.929 × (NGSP − 2.15)",
            '  (the NGSP/IFCC master equation). Who is an "imperial" or "IFCC" patient comes from',
            "  a hash of the patient id (`profile_of`):",
            "",
            _table(profile_rows, ("patient", "HbA1c", "weight, height")) if profile_rows else "",
            "",
            "### Condition map (SNOMED CT → ICD-10-CM FY2024)",
            "",
            "Written by hand for every Condition code in `fhir_fixtures/patients` and",
            "`../shared/synthea`, from two sources:",
            "",
            "- **Targets**: the NLM SNOMED CT to ICD-10-CM map, default (context-free) target for",
            "  an adult, as its candidate targets are carried in Synthea's",
            "  `src/main/resources/export/condition_code_map.json` (the map file itself needs a",
            "  UMLS licence and is not read here). Where that table lists several targets, or",
            "  none, the tabular list decides, and four entries depart from it: chronic pain is",
            "  `G89.29`, not `R52` (R52 Excludes1 chronic pain, G89.-); BMI 40+ is `E66.01`, not",
            "  `Z68.41` (BMI 40.0-44.9 only); normal pregnancy is `Z34.90`, not `Z34.00`/`Z34.80`",
            "  (first or other pregnancy is not recorded); pathological fracture takes `A`, not",
            "  `D`, like every injury here (7th character: initial encounter).",
            "- **Codes and titles**: the CMS/CDC ICD-10-CM tabular list, FY2024 (2023-10-01 to",
            "  2024-09-30). Every code was checked to be a valid, billable code with this title in",
            "  the tabular files of FY2021 and FY2025 (the CDC XML as packaged by",
            "  `simple-icd-10-cm` 1.2.0 and 1.3.0), which bracket FY2024; inclusion terms and",
            '  Excludes1 notes were read where candidates compete. `E88.81` "Metabolic syndrome"',
            "  is the FY2024 code (FY2025 split it into `E88.810`-`E88.819`).",
            "",
            "A concept with no faithful single code is not guessed: it stays SNOMED CT, untagged.",
            "",
            f"{len(CONDITION_MAP)} SNOMED codes mapped, {len(UNMAPPED)} left in SNOMED CT:",
            "",
            _table(cond_rows, ("SNOMED CT", "ICD-10-CM", "display")),
            "",
            "Left in SNOMED CT:",
            "",
            _table(unmapped_rows, ("SNOMED CT", "why")),
            "",
        ]
    )


if __name__ == "__main__":
    raise SystemExit(main())

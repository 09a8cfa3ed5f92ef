"""What people ask about, and how the record codes it: labs, vitals, vaccines,
procedures, conditions, drugs, allergy substances.

Each :class:`Concept` lists its codes (LOINC, SNOMED CT, CVX, RxNorm, ICD-10-CM
prefixes) and, for records coded differently, name keywords; ``lay`` holds how patients
and clinicians call it, ``shorthand`` the abbreviations and misspellings people type.

Matching (:meth:`Concept.matches`): a coding with one of the codes, or an ICD-10-CM code
starting with one of the prefixes, or, by name, a keyword found as whole words in a
display or the text (and none of the ``exclude`` words). Name matching is used
``always`` for conditions and procedures (their displays name the entity), and only for
``uncoded`` concepts for labs, vitals and vaccines: an Observation with no LOINC coding
at all (a local lab code without LOINC translation), an Immunization without CVX, so
that a coded urine glucose is never taken for a blood glucose.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from bench.clinqa.record import codings, keyed_codes, norm

__all__ = [
    "ALLERGENS",
    "CHECKUP",
    "CONDITIONS",
    "DRUGS",
    "LABS",
    "NEVER_LABS",
    "PROCEDURES",
    "SOCIAL",
    "VACCINES",
    "VITALS",
    "Concept",
    "concept",
]


def _codes(system: str, *codes: str) -> frozenset[str]:
    return frozenset(f"{system}:{c}" for c in codes)


@dataclass(frozen=True)
class Concept:
    """A thing a question names (a lab, a vaccine, a condition …)."""

    key: str
    name: str
    codes: frozenset[str] = frozenset()
    icd10: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    by_name: Literal["always", "uncoded"] = "always"
    system: str = ""  # the system whose absence lets ``uncoded`` name matching apply
    lay: tuple[str, ...] = ()
    shorthand: tuple[str, ...] = ()
    better: str | None = None  # lab: the direction that is an improvement
    kind: str = ""

    def matches(self, cc: Any) -> bool:
        """Whether a CodeableConcept (or list of them) is this concept."""
        keys = keyed_codes(cc)
        if keys & self.codes:
            return True
        if self.icd10 and any(
            k.startswith("icd10:") and k[6:].upper().startswith(self.icd10) for k in keys
        ):
            return True
        if not self.keywords:
            return False
        if self.by_name == "uncoded" and any(k.startswith(f"{self.system}:") for k in keys):
            return False
        return self.matches_name(_texts(cc))

    def matches_name(self, texts: Iterable[str]) -> bool:
        for t in texts:
            padded = f" {norm(t)} "
            if any(f" {norm(k)} " in padded for k in self.keywords) and not any(
                f" {norm(x)} " in padded for x in self.exclude
            ):
                return True
        return False

    @property
    def code_list(self) -> list[str]:
        """The codes without their system keys, sorted (for ``params``)."""
        return sorted({c.split(":", 1)[1] for c in self.codes})


def _texts(cc: Any) -> list[str]:
    out = [str(c.get("display")) for c in codings(cc) if c.get("display")]
    items = cc if isinstance(cc, list) else [cc]
    out += [str(x["text"]) for x in items if isinstance(x, dict) and x.get("text")]
    return out


# --------------------------------------------------------------------------- labs

_L = "loinc"


def _lab(key: str, name: str, codes: Iterable[str], **kw: Any) -> Concept:
    return Concept(key, name, _codes(_L, *codes), by_name="uncoded", system=_L, kind="lab", **kw)


LABS: dict[str, Concept] = {
    c.key: c
    for c in (
        _lab("a1c", "hemoglobin A1c", ["4548-4", "4549-2", "17856-6", "59261-8"],
             keywords=("hemoglobin a1c", "haemoglobin a1c", "hba1c", "a1c", "glycated hemoglobin",
                       "glycosylated hemoglobin"),
             lay=("A1c", "hemoglobin A1c", "HbA1c", "sugar average", "three-month sugar test"),
             shorthand=("A1C", "HbA1c", "Hgb A1c", "hba1c", "a1C", "ha1c", "hemoglobin a1 c",
                        "hemoglobn a1c", "glycohemoglobin"),
             better="decreased"),
        _lab("glucose", "blood glucose", ["2339-0", "2345-7", "1558-6", "41653-7", "14749-6",
                                          "15074-8", "14771-0"],
             keywords=("glucose", "blood sugar"), exclude=("urine", "csf", "tolerance", "challenge"),
             lay=("blood sugar", "glucose", "blood glucose"),
             shorthand=("glu", "BG", "glucos", "glocose", "bld sugar", "blood suger"),
             better="decreased"),
        _lab("creatinine", "creatinine", ["2160-0", "38483-4", "14682-9", "59826-8"],
             keywords=("creatinine",), exclude=("ratio", "urine", "clearance", "albumin"),
             lay=("creatinine", "creatinine level"),
             shorthand=("Cr", "creat", "creatinin", "creatnine", "Scr"),
             better="decreased"),
        _lab("egfr", "eGFR", ["33914-3", "48642-3", "48643-1", "50044-7", "62238-1", "69405-9",
                              "77147-7", "88293-6", "88294-4", "98979-8", "98980-6"],
             keywords=("egfr", "glomerular filtration rate", "estimated gfr"),
             lay=("kidney function", "eGFR", "GFR", "kidney filtration rate"),
             shorthand=("eGFR", "GFR", "egfr", "e-GFR", "egrf"),
             better="increased"),
        _lab("cholesterol", "total cholesterol", ["2093-3", "14647-2"],
             keywords=("cholesterol", "total cholesterol"),
             exclude=("hdl", "ldl", "vldl", "ratio", "high density", "low density"),
             lay=("cholesterol", "total cholesterol"),
             shorthand=("cholestrol", "cholesteral", "colesterol", "chol", "TC"),
             better="decreased"),
        _lab("ldl", "LDL cholesterol", ["18262-6", "2089-1", "13457-7", "39469-2"],
             keywords=("ldl", "low density lipoprotein"),
             lay=("bad cholesterol", "LDL", "LDL cholesterol"),
             shorthand=("LDL-C", "ldl", "LDL chol", "bad cholestrol"),
             better="decreased"),
        _lab("hdl", "HDL cholesterol", ["2085-9", "14646-4"],
             keywords=("hdl", "high density lipoprotein"),
             lay=("good cholesterol", "HDL", "HDL cholesterol"),
             shorthand=("HDL-C", "hdl", "good cholestrol"),
             better="increased"),
        _lab("triglycerides", "triglycerides", ["2571-8", "14927-8"],
             keywords=("triglyceride", "triglycerides"),
             lay=("triglycerides",),
             shorthand=("TG", "trigs", "triglicerides", "tryglycerides"),
             better="decreased"),
        _lab("potassium", "potassium", ["6298-4", "2823-3"], keywords=("potassium",),
             lay=("potassium", "potassium level"), shorthand=("K", "K+", "potasium")),
        _lab("sodium", "sodium", ["2947-0", "2951-2"], keywords=("sodium",),
             lay=("sodium", "sodium level"), shorthand=("Na", "Na+", "sodum")),
        _lab("bun", "urea nitrogen (BUN)", ["6299-2", "3094-0"],
             keywords=("urea nitrogen", "bun"),
             lay=("BUN", "urea nitrogen", "blood urea nitrogen"), shorthand=("BUN", "bun")),
        _lab("hemoglobin", "hemoglobin", ["718-7"], keywords=("hemoglobin", "haemoglobin"),
             exclude=("a1c", "glycated", "glycosylated", "urine", "mch", "mchc"),
             lay=("hemoglobin", "hemoglobin level"),
             shorthand=("Hgb", "Hb", "hemaglobin", "hgb")),
        _lab("platelets", "platelet count", ["777-3", "26515-7"],
             keywords=("platelets",), exclude=("volume", "width"),
             lay=("platelet count",), shorthand=("plt", "plts", "platelet ct")),
        _lab("wbc", "white blood cell count", ["6690-2", "26464-8"],
             keywords=("leukocytes", "white blood cells"), exclude=("urine",),
             lay=("white count", "white blood cell count"), shorthand=("WBC", "wbc", "WBCs")),
        _lab("uacr", "urine albumin/creatinine ratio", ["14959-1", "9318-7", "32294-1"],
             keywords=("microalbumin creatinine ratio", "albumin creatinine ratio"),
             lay=("urine albumin", "microalbumin", "urine microalbumin"),
             shorthand=("UACR", "ACR", "microalb"),
             better="decreased"),
        _lab("alt", "ALT", ["1742-6", "1743-4", "1744-2"],
             keywords=("alanine aminotransferase",), lay=("ALT", "liver enzyme ALT"),
             shorthand=("ALT", "SGPT")),
        _lab("psa", "PSA", ["2857-1", "10886-0", "83112-3", "35741-8"],
             keywords=("prostate specific",), lay=("PSA", "prostate blood test"),
             shorthand=("PSA",)),
        _lab("calcium", "calcium", ["49765-1", "17861-6"], keywords=("calcium",),
             exclude=("ionized", "urine"), lay=("calcium",), shorthand=("Ca", "calcum")),
    )
}  # fmt: skip

#: labs asked about as "never done" (not in the record) when a record has none of them
NEVER_LABS: dict[str, Concept] = {
    c.key: c
    for c in (
        _lab("tsh", "TSH", ["3016-3", "11580-8", "11579-0"],
             keywords=("thyroid stimulating", "tsh", "thyrotropin"),
             lay=("TSH", "thyroid level", "thyroid test"), shorthand=("TSH", "tsh")),
        _lab("vitd", "vitamin D", ["1989-3", "62292-8", "14635-7", "35365-6"],
             keywords=("vitamin d", "25 hydroxyvitamin", "calcidiol"),
             lay=("vitamin D", "vitamin D level"), shorthand=("vit D", "25-OH D")),
        _lab("inr", "INR", ["6301-6", "34714-6", "46418-0"],
             keywords=("inr", "international normalized ratio", "prothrombin"),
             lay=("INR", "clotting time"), shorthand=("INR", "PT/INR")),
        _lab("ferritin", "ferritin", ["2276-4", "20567-4", "24373-3"], keywords=("ferritin",),
             lay=("ferritin", "iron stores"), shorthand=("ferritin", "feritin")),
        _lab("b12", "vitamin B12", ["2132-9", "14685-2"], keywords=("b12", "cobalamin"),
             lay=("B12", "vitamin B12"), shorthand=("B12", "vit B12")),
        _lab("magnesium", "magnesium", ["19123-9", "2601-3"], keywords=("magnesium",),
             lay=("magnesium",), shorthand=("Mg", "mag")),
        _lab("troponin", "troponin", ["6598-7", "10839-9", "42757-5", "49563-0", "89579-7",
                                      "67151-1"],
             keywords=("troponin",), lay=("troponin",), shorthand=("trop", "TnI")),
        _lab("bnp", "BNP", ["30934-4", "33762-6", "42637-9", "83107-3"],
             keywords=("natriuretic", "bnp"), lay=("BNP", "heart failure blood test"),
             shorthand=("BNP", "NT-proBNP")),
        _lab("lipase", "lipase", ["3040-3"], keywords=("lipase",), lay=("lipase",),
             shorthand=("lipase",)),
        _lab("uric_acid", "uric acid", ["3084-1", "14933-6"], keywords=("uric acid", "urate"),
             lay=("uric acid",), shorthand=("urate",)),
    )
}  # fmt: skip

# --------------------------------------------------------------------------- vitals


def _vital(key: str, name: str, codes: Iterable[str], **kw: Any) -> Concept:
    return Concept(key, name, _codes(_L, *codes), by_name="uncoded", system=_L, kind="vital", **kw)


VITALS: dict[str, Concept] = {
    c.key: c
    for c in (
        _vital("weight", "body weight", ["29463-7", "3141-9"], keywords=("body weight",),
               lay=("weight",), shorthand=("wt", "wieght")),
        _vital("bmi", "body mass index", ["39156-5"], keywords=("body mass index",),
               lay=("BMI", "body mass index"), shorthand=("BMI", "bmi")),
        _vital("heart_rate", "heart rate", ["8867-4"], keywords=("heart rate", "pulse rate"),
               lay=("heart rate", "pulse"), shorthand=("HR", "pulse")),
        _vital("height", "body height", ["8302-2"], keywords=("body height",),
               lay=("height",), shorthand=("ht",)),
    )
}  # fmt: skip

# --------------------------------------------------------------------------- vaccines

_CVX = "cvx"


def _vax(key: str, name: str, codes: Iterable[str], **kw: Any) -> Concept:
    return Concept(
        key, name, _codes(_CVX, *codes), by_name="uncoded", system=_CVX, kind="vaccine", **kw
    )


VACCINES: dict[str, Concept] = {
    c.key: c
    for c in (
        _vax("flu", "influenza vaccine",
             ["140", "141", "150", "153", "155", "158", "161", "166", "168", "171", "185", "186",
              "197", "200", "201", "202", "205", "88", "15", "16", "111", "135", "144", "149",
              "151", "320"],
             keywords=("influenza", "flu"),
             lay=("flu shot", "flu vaccine", "influenza vaccine", "flu jab"),
             shorthand=("flu vacine", "flu vax", "influenza vacc", "flu shoot", "IIV")),
        _vax("tetanus", "tetanus-containing vaccine (Td/Tdap/DTaP)",
             ["01", "09", "20", "22", "28", "35", "50", "102", "106", "107", "110", "112", "113",
              "115", "120", "130", "132", "138", "139", "142", "146", "170", "195", "196"],
             keywords=("tetanus", "td", "tdap", "dtap"),
             lay=("tetanus shot", "tetanus booster", "Tdap"),
             shorthand=("Td", "Tdap", "tetnus shot", "tetanus vacc")),
        _vax("pneumococcal", "pneumococcal vaccine",
             ["33", "100", "109", "133", "152", "215", "216", "327"],
             keywords=("pneumococcal",),
             lay=("pneumonia shot", "pneumonia vaccine", "pneumococcal vaccine"),
             shorthand=("pneumovax", "PCV13", "PPSV23", "pnemonia shot")),
        _vax("zoster", "shingles (zoster) vaccine", ["121", "187", "188"],
             keywords=("zoster", "shingles"),
             lay=("shingles shot", "shingles vaccine"), shorthand=("Shingrix", "zoster vax")),
        _vax("hepb", "hepatitis B vaccine",
             ["08", "42", "43", "44", "45", "51", "102", "104", "110", "132", "146", "189", "193",
              "220"],
             keywords=("hep b", "hepatitis b"),
             lay=("hepatitis B vaccine", "hep B shot"), shorthand=("HBV vax", "hep b vacine")),
        _vax("hpv", "HPV vaccine", ["62", "118", "137", "165"], keywords=("hpv", "papillomavirus"),
             lay=("HPV vaccine", "HPV shot"), shorthand=("Gardasil", "HPV vax")),
        _vax("covid", "COVID-19 vaccine",
             ["207", "208", "210", "211", "212", "213", "217", "218", "219", "221", "225", "226",
              "227", "228", "229", "230", "300", "301", "302", "309", "310", "311", "312",
              "313"],
             keywords=("covid", "sars cov 2", "coronavirus"),
             lay=("COVID shot", "COVID vaccine", "coronavirus vaccine"),
             shorthand=("covid vax", "C19 vaccine", "covid jab")),
        _vax("mmr", "MMR vaccine", ["03", "94"], keywords=("mmr", "measles"),
             lay=("MMR", "measles shot"), shorthand=("MMR",)),
        _vax("hepa", "hepatitis A vaccine", ["31", "52", "83", "84", "85", "104"],
             keywords=("hep a", "hepatitis a"), lay=("hepatitis A vaccine", "hep A shot"),
             shorthand=("HAV vax",)),
        _vax("meningococcal", "meningococcal vaccine",
             ["32", "103", "108", "114", "136", "147", "148", "162", "163", "167", "203", "316"],
             keywords=("meningococcal",), lay=("meningitis vaccine", "meningococcal vaccine"),
             shorthand=("MCV4", "menactra")),
        _vax("rsv", "RSV vaccine", ["303", "304", "305", "306", "307"],
             keywords=("rsv", "respiratory syncytial"), lay=("RSV vaccine", "RSV shot"),
             shorthand=("RSV vax",)),
    )
}  # fmt: skip

# --------------------------------------------------------------------------- procedures

_S = "sct"


def _proc(key: str, name: str, codes: Iterable[str], **kw: Any) -> Concept:
    return Concept(key, name, _codes(_S, *codes), kind="procedure", **kw)


PROCEDURES: dict[str, Concept] = {
    c.key: c
    for c in (
        _proc("colonoscopy", "colonoscopy", ["73761001", "446521004", "446745002", "310634005"],
              keywords=("colonoscopy",), lay=("colonoscopy", "colon scope"),
              shorthand=("colonscopy", "colonoscopey", "scope")),
        _proc("mammogram", "mammography", ["71651007", "24623002", "43204002", "241055006"],
              keywords=("mammography", "mammogram", "mammographic"),
              lay=("mammogram", "breast screening X-ray"), shorthand=("mamogram", "mammo")),
        _proc("chest_xray", "chest X-ray", ["399208008", "168731009", "42107002"],
              keywords=("chest x ray", "x ray of chest", "radiography of chest",
                        "chest radiograph"),
              lay=("chest X-ray", "chest film"), shorthand=("CXR", "chest xray", "chest x-rey")),
        _proc("echo", "echocardiography", ["40701008", "433236007", "434158009"],
              keywords=("echocardiogram", "echocardiography"),
              lay=("echocardiogram", "heart ultrasound", "echo"), shorthand=("echo", "TTE")),
        _proc("eye_exam", "eye examination",
              ["722161008", "36228007", "314971001", "16830007", "252832004", "55468007",
               "389153003", "274795007", "700070005"],
              keywords=("eye exam", "eye examination", "retinal", "ophthalmic examination",
                        "fundoscopy", "visual acuity"),
              lay=("eye exam", "diabetic eye exam", "retina check"),
              shorthand=("eye exm", "DEE", "retinal exam")),
        _proc("depression_screen", "depression screening", ["171207006", "715252007"],
              keywords=("depression screening",),
              lay=("depression screening", "mood screening"),
              shorthand=("PHQ screen", "depression scrn")),
        _proc("spirometry", "spirometry / lung function test", ["127783003", "23426006"],
              keywords=("spirometry", "respiratory function", "pulmonary function"),
              lay=("breathing test", "lung function test", "spirometry"),
              shorthand=("PFTs", "PFT", "spirometery")),
        _proc("ecg", "electrocardiogram", ["29303009", "268400002", "164847006"],
              keywords=("electrocardiogram", "electrocardiographic", "ecg", "ekg"),
              lay=("ECG", "heart tracing", "EKG"), shorthand=("EKG", "ECG", "12-lead")),
        _proc("cardioversion", "cardioversion", ["180325003", "250980009"],
              keywords=("cardioversion",), lay=("cardioversion",),
              shorthand=("DCCV", "cardioverson")),
        _proc("appendectomy", "appendectomy", ["80146002", "6025007", "174041007"],
              keywords=("appendectomy", "appendicectomy"),
              lay=("appendectomy",), shorthand=("appy", "appendectomy")),
        _proc("pap", "cervical cancer screening (Pap)", ["90226004", "310078007", "416107004"],
              keywords=("cervical smear", "pap smear", "cervical cytology",
                        "cervical cancer screening"),
              lay=("Pap smear", "cervical screening"), shorthand=("pap", "pap smeer")),
        _proc("ct_chest", "CT of the chest", ["418891003", "16334891000119106", "169069000"],
              keywords=("computed tomography of chest", "ct of chest", "ct chest"),
              lay=("chest CT", "CT scan of the chest"), shorthand=("CT chest", "CTC")),
        _proc("suture", "wound suturing", ["288086009"], keywords=("suture",),
              lay=("stitches",), shorthand=("sutures",)),
        _proc("bone_density", "bone density scan", ["312681000", "391057001"],
              keywords=("bone density", "dual energy x ray", "densitometry"),
              lay=("bone density scan", "DEXA scan"), shorthand=("DEXA", "DXA")),
        _proc("knee_replacement", "knee replacement", ["609588000", "179344001"],
              keywords=("knee replacement", "arthroplasty of knee"),
              lay=("knee replacement",), shorthand=("TKR", "TKA")),
        _proc("cataract", "cataract surgery", ["110473004", "308694002"],
              keywords=("cataract",), lay=("cataract surgery",), shorthand=("cataract op",)),
        _proc("stress_test", "cardiac stress test", ["76746007", "91251000"],
              keywords=("stress test", "exercise tolerance test"),
              lay=("stress test", "treadmill test"), shorthand=("ETT", "stress tst")),
        _proc("mri_brain", "MRI of the brain", ["816077007", "241601008"],
              keywords=("magnetic resonance imaging of brain", "mri of brain", "mri brain"),
              lay=("brain MRI", "MRI of the head"), shorthand=("MRI brain", "head MRI")),
    )
}  # fmt: skip

# --------------------------------------------------------------------------- conditions


def _cond(key: str, name: str, codes: Iterable[str], icd10: tuple[str, ...], **kw: Any) -> Concept:
    return Concept(key, name, _codes(_S, *codes), icd10=icd10, kind="condition", **kw)


CONDITIONS: dict[str, Concept] = {
    c.key: c
    for c in (
        _cond("diabetes", "diabetes mellitus",
              ["44054006", "73211009", "46635009", "368581000119106", "127013003", "422034002",
               "1551000119108", "90781000119102", "157141000119108"],
              ("E10", "E11", "E13"), keywords=("diabetes", "diabetic"),
              exclude=("prediabetes", "gestational", "insipidus", "screening", "family history"),
              lay=("diabetes", "sugar diabetes", "type 2 diabetes"),
              shorthand=("DM", "DM2", "T2DM", "diabetis", "diabeties")),
        _cond("hypertension", "hypertension", ["38341003", "59621000", "1201005"],
              ("I10", "I11", "I12", "I13", "I15", "I16"), keywords=("hypertension", "hypertensive"),
              exclude=("pulmonary", "pregnancy", "gestational", "preeclampsia", "ocular"),
              lay=("high blood pressure", "hypertension"),
              shorthand=("HTN", "hypertention", "high bp")),
        _cond("hyperlipidemia", "hyperlipidemia", ["55822004", "13644009", "398036000"],
              ("E78.0", "E78.2", "E78.4", "E78.5"),
              keywords=("hyperlipidemia", "hyperlipidaemia", "hypercholesterolemia",
                        "dyslipidemia"),
              lay=("high cholesterol", "hyperlipidemia"),
              shorthand=("HLD", "hyperlipidemia", "high cholestrol")),
        _cond("ckd", "chronic kidney disease",
              ["431855005", "431856006", "433144002", "431857002", "433146000", "46177005",
               "709044004", "90688005"],
              ("N18",), keywords=("chronic kidney disease", "chronic renal"),
              lay=("chronic kidney disease", "kidney disease"),
              shorthand=("CKD", "chronic kidny disease")),
        _cond("asthma", "asthma", ["195967001", "233678006"], ("J45",), keywords=("asthma",),
              lay=("asthma",), shorthand=("astma", "asthama")),
        _cond("copd", "COPD", ["13645005", "185086009", "87433001"], ("J43", "J44"),
              keywords=("copd", "chronic obstructive", "emphysema"),
              lay=("COPD", "emphysema"), shorthand=("COPD", "copd")),
        _cond("heart_failure", "heart failure", ["88805009", "84114007", "42343007"], ("I50",),
              keywords=("heart failure",), lay=("heart failure",),
              shorthand=("CHF", "HF", "heart failur")),
        _cond("afib", "atrial fibrillation", ["49436004"], ("I48",),
              keywords=("atrial fibrillation",), lay=("atrial fibrillation", "AFib"),
              shorthand=("afib", "AF", "a-fib", "atrial fib")),
        _cond("depression", "depression", ["370143000", "36923009", "35489007"], ("F32", "F33"),
              keywords=("depression", "depressive"), exclude=("screening",),
              lay=("depression",), shorthand=("MDD", "depresion")),
        _cond("obesity", "obesity", ["162864005", "408512008", "414916001"], ("E66",),
              keywords=("obesity", "obese"), lay=("obesity",),
              shorthand=("obesity", "obese")),
        _cond("prediabetes", "prediabetes", ["15777000", "714628002"], ("R73.03", "R73.09"),
              keywords=("prediabetes", "prediabetic"),
              lay=("prediabetes", "borderline diabetes"), shorthand=("pre-DM", "prediabetis")),
        _cond("osteoporosis", "osteoporosis", ["64859006"], ("M80", "M81"),
              keywords=("osteoporosis",), lay=("osteoporosis", "thin bones"),
              shorthand=("osteoporosis", "osteoperosis")),
        _cond("osteoarthritis", "osteoarthritis",
              ["396275006", "239873007", "239872002", "201834006"],
              ("M15", "M16", "M17", "M18", "M19"), keywords=("osteoarthritis",),
              lay=("osteoarthritis", "wear-and-tear arthritis"), shorthand=("OA",)),
        _cond("cad", "coronary heart disease", ["53741008", "414545008"], ("I25",),
              keywords=("coronary",), lay=("coronary artery disease", "heart disease"),
              shorthand=("CAD", "CHD")),
        _cond("stroke", "stroke", ["230690007"], ("I63", "I64"),
              keywords=("stroke", "cerebrovascular accident", "cerebral infarction"),
              lay=("stroke",), shorthand=("CVA", "strok")),
        _cond("anemia", "anemia", ["271737000"], ("D50", "D51", "D52", "D53", "D63", "D64"),
              keywords=("anemia", "anaemia"), lay=("anemia", "a low blood count"),
              shorthand=("anemia", "anaemia", "anemic")),
        _cond("sinusitis", "sinusitis", ["444814009", "36971009", "40055000", "75498004"],
              ("J01", "J32"), keywords=("sinusitis",), lay=("sinus infection", "sinusitis"),
              shorthand=("sinusitus", "sinus inf")),
        _cond("pharyngitis", "sore throat / pharyngitis", ["195662009", "43878008", "162397003"],
              ("J02",), keywords=("pharyngitis", "sore throat"),
              lay=("sore throat", "strep throat"), shorthand=("pharyngitis", "strep")),
        _cond("bronchitis", "acute bronchitis", ["10509002"], ("J20",),
              keywords=("bronchitis",), exclude=("chronic obstructive", "chronic"),
              lay=("bronchitis", "chest infection"), shorthand=("bronchitus",)),
        _cond("otitis", "otitis media", ["65363002"], ("H65", "H66"), keywords=("otitis",),
              lay=("ear infection",), shorthand=("OM", "otitis")),
        _cond("covid", "COVID-19", ["840539006"], ("U07.1",),
              keywords=("covid", "coronavirus 2", "sars cov 2"),
              exclude=("suspected", "vaccin", "exposure", "screening"),
              lay=("COVID", "COVID-19"), shorthand=("covid", "C19")),
        _cond("migraine", "migraine", ["37796009", "124171000119105"], ("G43",),
              keywords=("migraine",), lay=("migraines",), shorthand=("migrane",)),
        _cond("gout", "gout", ["90560007"], ("M10", "M1A"), keywords=("gout",), lay=("gout",),
              shorthand=("gout",)),
        _cond("alzheimers", "Alzheimer's disease", ["26929004"], ("G30",),
              keywords=("alzheimer", "alzheimers", "alzheimer s"),
              lay=("Alzheimer's",), shorthand=("alzheimers", "AD")),
        _cond("rhinitis", "allergic rhinitis", ["61582004", "367498001", "446096008"],
              ("J30",), keywords=("allergic rhinitis",), lay=("hay fever", "allergic rhinitis"),
              shorthand=("hayfever", "AR")),
    )
}  # fmt: skip

#: social-history and administrative entries Synthea files as Conditions (employment,
#: education, "Medication review due" …): neither required nor penalized in a problem list
SOCIAL = Concept(
    "social",
    "social history / administrative entry",
    _codes(_S, "160903007", "160904001", "741062008", "224362002", "446654005", "266948004",
           "423315002", "73595000", "422650009", "706893006", "424393004", "314529007",
           "713458007", "32911000", "160968000", "266934004", "73438004", "105531004",
           "5251000175109", "10939881000119105", "361055000", "713458007", "706893006",
           "1149222004", "444734003"),
    icd10=("Z55", "Z56", "Z57", "Z59", "Z60", "Z62", "Z63", "Z64", "Z65", "Z91.1"),
    keywords=("employment", "education", "refugee", "criminal record", "social contact",
              "social isolation", "stress", "intimate partner", "violence",
              "medication review due", "labor force", "risk activity", "housing", "homeless",
              "transportation", "unemployed", "income", "food insecurity", "misuses drugs",
              "unhealthy alcohol", "abuse of"),
    exclude=("disorder", "fracture", "incontinence", "ulcer"),
    kind="social",
)  # fmt: skip

#: what a "check-up" is (for "since her last check-up"): encounter types
CHECKUP = Concept(
    "checkup",
    "check-up / general examination",
    _codes(_S, "185349003", "162673000", "410620009", "185345009", "86013001"),
    keywords=("check up", "checkup", "general examination", "well child", "wellness",
              "annual physical", "periodic health", "health maintenance", "preventive"),
    kind="encounter",
)  # fmt: skip

# --------------------------------------------------------------------------- drugs


def _drug(key: str, name: str, words: tuple[str, ...], **kw: Any) -> Concept:
    return Concept(key, name, keywords=words, kind="drug", **kw)


#: drugs and drug classes, matched by ingredient words in the medication's names
DRUGS: dict[str, Concept] = {
    c.key: c
    for c in (
        _drug("metformin", "metformin", ("metformin",), lay=("metformin", "Glucophage"),
              shorthand=("metfromin", "metfomin")),
        _drug("lisinopril", "lisinopril", ("lisinopril",), lay=("lisinopril",),
              shorthand=("lisinipril", "lisinopirl")),
        _drug("amlodipine", "amlodipine", ("amlodipine",), lay=("amlodipine", "Norvasc"),
              shorthand=("amlodapine", "amlodipin")),
        _drug("hctz", "hydrochlorothiazide", ("hydrochlorothiazide",),
              lay=("hydrochlorothiazide", "HCTZ"), shorthand=("HCTZ", "hctz")),
        _drug("diuretic", "a diuretic",
              ("hydrochlorothiazide", "chlorthalidone", "furosemide", "torsemide", "bumetanide",
               "spironolactone", "triamterene", "indapamide"),
              lay=("a water pill", "a diuretic"), shorthand=("diuretic", "water pill")),
        _drug("statin", "a statin",
              ("simvastatin", "atorvastatin", "rosuvastatin", "pravastatin", "lovastatin"),
              lay=("a statin", "cholesterol medicine"), shorthand=("statin", "statins")),
        _drug("insulin", "insulin", ("insulin", "humulin", "novolin", "lantus"),
              lay=("insulin",), shorthand=("insulin", "insulen")),
        _drug("aspirin", "aspirin", ("aspirin",), lay=("aspirin", "baby aspirin"),
              shorthand=("ASA", "asprin")),
        _drug("clopidogrel", "clopidogrel", ("clopidogrel",), lay=("clopidogrel", "Plavix"),
              shorthand=("plavix",)),
        _drug("warfarin", "warfarin", ("warfarin",), lay=("warfarin", "Coumadin"),
              shorthand=("coumadin",)),
        _drug("nitroglycerin", "nitroglycerin", ("nitroglycerin",),
              lay=("nitroglycerin", "nitro"), shorthand=("NTG", "nitro")),
        _drug("albuterol", "albuterol", ("albuterol",), lay=("albuterol", "rescue inhaler"),
              shorthand=("albuterol", "ventolin")),
        _drug("fluticasone", "fluticasone", ("fluticasone",), lay=("fluticasone",),
              shorthand=("flovent", "fluticasone")),
        _drug("metoprolol", "metoprolol", ("metoprolol",), lay=("metoprolol",),
              shorthand=("metoprolol", "lopressor")),
        _drug("digoxin", "digoxin", ("digoxin",), lay=("digoxin",), shorthand=("dig",)),
        _drug("furosemide", "furosemide", ("furosemide",), lay=("furosemide", "Lasix"),
              shorthand=("lasix",)),
        _drug("verapamil", "verapamil", ("verapamil",), lay=("verapamil",),
              shorthand=("verapamil",)),
        _drug("acetaminophen", "acetaminophen", ("acetaminophen",),
              lay=("acetaminophen", "Tylenol"), shorthand=("APAP", "tylenol")),
        _drug("ibuprofen", "ibuprofen", ("ibuprofen",), lay=("ibuprofen", "Advil"),
              shorthand=("motrin", "ibuprofin")),
        _drug("naproxen", "naproxen", ("naproxen",), lay=("naproxen", "Aleve"),
              shorthand=("aleve",)),
        _drug("amoxicillin", "amoxicillin", ("amoxicillin",), lay=("amoxicillin",),
              shorthand=("amox", "amoxicilin")),
        _drug("penicillin", "penicillin", ("penicillin",), lay=("penicillin",),
              shorthand=("PCN", "penicilin")),
        _drug("prednisone", "prednisone", ("prednisone", "prednisolone"),
              lay=("prednisone", "steroids"), shorthand=("pred",)),
        _drug("levothyroxine", "levothyroxine", ("levothyroxine",),
              lay=("levothyroxine", "thyroid pill"), shorthand=("synthroid",)),
        _drug("alendronate", "alendronate", ("alendronic", "alendronate"),
              lay=("alendronate", "Fosamax"), shorthand=("fosamax",)),
        _drug("donepezil", "donepezil", ("donepezil",), lay=("donepezil", "Aricept"),
              shorthand=("aricept",)),
        _drug("memantine", "memantine", ("memantine",), lay=("memantine",),
              shorthand=("namenda",)),
        _drug("sertraline", "sertraline", ("sertraline",), lay=("sertraline", "Zoloft"),
              shorthand=("zoloft",)),
        _drug("fluoxetine", "fluoxetine", ("fluoxetine",), lay=("fluoxetine", "Prozac"),
              shorthand=("prozac",)),
        _drug("citalopram", "citalopram", ("citalopram",), lay=("citalopram",),
              shorthand=("celexa",)),
        _drug("opioid", "an opioid painkiller",
              ("oxycodone", "hydrocodone", "tramadol", "fentanyl", "morphine", "meperidine",
               "codeine"),
              lay=("an opioid", "narcotic painkillers"), shorthand=("opioids", "narcs")),
        _drug("loratadine", "loratadine", ("loratadine",), lay=("loratadine", "Claritin"),
              shorthand=("claritin",)),
        _drug("cetirizine", "cetirizine", ("cetirizine",), lay=("cetirizine", "Zyrtec"),
              shorthand=("zyrtec",)),
        _drug("epinephrine", "epinephrine auto-injector", ("epinephrine",),
              lay=("an EpiPen", "epinephrine"), shorthand=("epipen",)),
        _drug("contraceptive", "hormonal contraceptive",
              ("levonorgestrel", "norethindrone", "etonogestrel", "medroxyprogesterone",
               "drospirenone", "desogestrel", "norgestimate", "ethinyl estradiol"),
              lay=("birth control", "the pill"), shorthand=("OCP", "BCP")),
    )
}  # fmt: skip

# --------------------------------------------------------------------------- allergens


def _allergen(key: str, name: str, words: tuple[str, ...], **kw: Any) -> Concept:
    return Concept(key, name, keywords=words, kind="allergen", **kw)


ALLERGENS: dict[str, Concept] = {
    c.key: c
    for c in (
        _allergen("penicillin", "penicillin",
                  ("penicillin", "penicillins", "amoxicillin", "ampicillin"),
                  codes=_codes(_S, "91936005", "764146007", "373270004"),
                  lay=("penicillin",), shorthand=("PCN", "penicilin")),
        _allergen("sulfa", "sulfa drugs", ("sulfa", "sulfonamide", "sulfamethoxazole"),
                  lay=("sulfa drugs", "sulfa"), shorthand=("sulfa",)),
        _allergen("peanut", "peanuts", ("peanut", "peanuts"), codes=_codes(_S, "91935009"),
                  lay=("peanuts",), shorthand=("peanut",)),
        _allergen("shellfish", "shellfish", ("shellfish", "shrimp", "crustacean"),
                  codes=_codes(_S, "300913006"), lay=("shellfish",), shorthand=("shelfish",)),
        _allergen("latex", "latex", ("latex",), codes=_codes(_S, "300916003"),
                  lay=("latex",), shorthand=("latex",)),
        _allergen("bee", "bee stings", ("bee", "bee venom", "hymenoptera", "wasp"),
                  codes=_codes(_S, "424213003"), lay=("bee stings",), shorthand=("bees",)),
        _allergen("eggs", "eggs", ("egg", "eggs"), codes=_codes(_S, "91930004"),
                  lay=("eggs",), shorthand=("egg",)),
        _allergen("dairy", "milk / dairy", ("dairy", "milk", "lactose", "cow s milk"),
                  codes=_codes(_S, "425525006"), lay=("dairy", "milk"), shorthand=("dairy",)),
        _allergen("aspirin", "aspirin", ("aspirin", "salicylate", "salicylates"),
                  lay=("aspirin",), shorthand=("ASA",)),
        _allergen("codeine", "codeine", ("codeine",), lay=("codeine",), shorthand=("codiene",)),
        _allergen("iodine", "iodine / contrast dye", ("iodine", "contrast"),
                  lay=("contrast dye", "iodine"), shorthand=("IV contrast",)),
        _allergen("cats", "cats / animal dander", ("cat", "cats", "dander"),
                  codes=_codes(_S, "232347008"), lay=("cats",), shorthand=("cat dander",)),
        _allergen("pollen", "pollen", ("pollen",), lay=("pollen",), shorthand=("polen",)),
    )
}  # fmt: skip

_ALL: dict[str, dict[str, Concept]] = {
    "lab": {**LABS, **NEVER_LABS},
    "vital": VITALS,
    "vaccine": VACCINES,
    "procedure": PROCEDURES,
    "condition": CONDITIONS,
    "drug": DRUGS,
    "allergen": ALLERGENS,
}


def concept(kind: str, key: str) -> Concept:
    """The concept of a kind (``lab``, ``vital``, ``vaccine``, ``procedure``,
    ``condition``, ``drug``, ``allergen``) by key (``KeyError`` if unknown)."""
    return _ALL[kind][key]

"""Known labs and vitals: LOINC synonym table, default reference ranges, thresholds.

:func:`resolve_measures` turns what a user or the model types ("HbA1c", "egfr",
"Blood Pressure", "4548-4", "http://loinc.org|2160-0", ["2160-0", "38483-4"]) into
:class:`Measure` definitions. Names are matched case-insensitively, ignoring spaces,
hyphens, underscores and dots.

Default reference ranges apply only when an Observation carries no ``referenceRange``
and are always labelled ``(default)`` with their source. They are adult ranges for
orientation, not a laboratory's own ranges:

- ADA Standards of Care in Diabetes (2024), section 2: HbA1c normal < 5.7 %, fasting
  plasma glucose normal 70–99 mg/dL. HbA1c lower limit 4.0 % is the usual laboratory
  lower limit (MedlinePlus "Hemoglobin A1C test").
- NCEP ATP III (2001): LDL-C optimal < 100 mg/dL, total cholesterol desirable
  < 200 mg/dL, HDL-C low < 40 mg/dL, triglycerides normal < 150 mg/dL.
- KDIGO 2012 CKD guideline: eGFR ≥ 60 mL/min/1.73 m² (G1–G2); albumin/creatinine ratio
  < 30 mg/g (A1); a "certain drift" in eGFR is a ≥ 25 % decline. KDIGO 2012 AKI: a rise
  in serum creatinine ≥ 0.3 mg/dL.
- MedlinePlus medical tests (basic metabolic panel, CBC, liver panel pages):
  electrolytes, BUN, creatinine, calcium, hemoglobin, etc.
- 2017 ACC/AHA blood pressure guideline: normal < 120/< 80 mm Hg.
- WHO BMI classification: normal 18.5–24.9 kg/m².
- AHA: adult resting heart rate 60–100 /min.

Treatment goals (:class:`Goal`: what "controlled" / "at goal" means for a measure in a
condition; never a reference range, never a value):

- ADA Standards of Care in Diabetes (2024), section 6: HbA1c < 7 % for many nonpregnant
  adults with diabetes (individualized; the usual goal, not every patient's).
- ADA Standards of Care (2024), section 10, and the 2017 ACC/AHA guideline: blood
  pressure < 130/80 mm Hg for adults with hypertension (or diabetes).
- 2021 ESC heart failure guideline: NT-proBNP < 125 pg/mL (non-acute setting).
- GOLD: FEV1/FVC < 70 % = airflow obstruction. 2022 AHA/ACC/HFSA HF guideline:
  LVEF ≥ 50 % = preserved.

"Clinically meaningful change" thresholds (flags in :mod:`tools.trends`) cite the same
sources where one exists (HbA1c 0.5 %, creatinine 0.3 mg/dL, eGFR 25 %, body weight 5 %);
the others are project defaults (marked ``project default``) pending clinical review.

Also here (see the comments at each table): which Conditions are social history or
administrative entries rather than clinical problems (:func:`condition_kind`, SNOMED
code lists + semantic-tag rules), which are acute / self-limiting
(:func:`is_self_limiting`), and which Procedures are routine screenings, assessments
or paperwork (:func:`is_routine_procedure`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from tools.errors import UnknownMeasure

__all__ = [
    "ADMINISTRATIVE_CODES",
    "LOINC",
    "MEASURES",
    "ROUTINE_PROCEDURE_CODES",
    "SOCIAL_HISTORY_CODES",
    "Goal",
    "Measure",
    "RefRange",
    "adhoc_measure",
    "condition_kind",
    "is_routine_procedure",
    "is_self_limiting",
    "measure_for_code",
    "resolve_measures",
    "semantic_tag",
]

LOINC = "http://loinc.org"


@dataclass(frozen=True, slots=True)
class RefRange:
    """A reference range in the measure's unit; ``None`` means unbounded."""

    low: float | None
    high: float | None
    source: str
    sex: str | None = None  # "male" / "female" / None (any)

    def text(self) -> str:
        """``70–99``, ``< 100`` or ``≥ 60``."""
        if self.low is not None and self.high is not None:
            return f"{self.low:g}–{self.high:g}"
        if self.high is not None:
            return f"≤ {self.high:g}"
        return f"≥ {self.low:g}"


@dataclass(frozen=True, slots=True)
class Goal:
    """The usual treatment goal of a measure in a condition: below ``high`` (strictly) or
    at least ``low``; ``condition`` says for whom, in words ("diabetes"); ``source`` the
    guideline and ``by`` its short name for a sentence ("ADA")."""

    high: float | None
    low: float | None
    condition: str
    source: str
    by: str

    def met(self, value: float) -> bool:
        """Whether a value (in the measure's unit) meets the goal."""
        if self.high is not None and value >= self.high:
            return False
        return not (self.low is not None and value < self.low)

    def text(self) -> str:
        """``below 7`` or ``at least 60`` (no unit)."""
        if self.high is not None:
            return f"below {self.high:g}"
        return f"at least {self.low:g}"


@dataclass(frozen=True, slots=True)
class Measure:
    """A lab or vital the tools know by name.

    ``codes`` are LOINC codes (first preferred); ``unit`` is the UCUM unit series are
    normalized to; ``molar_mass`` (g/mol) enables mg/dL ↔ mmol/L; ``change_abs`` /
    ``change_rel`` define a clinically meaningful change (absolute in ``unit``, or a
    fraction of the earlier value); ``retest_days`` is the interval after which a
    repeat is "overdue" in the brief (only for patients who have the test at all);
    ``goal`` is the usual treatment goal, where guidelines give one.
    """

    key: str
    label: str
    codes: tuple[str, ...]
    unit: str
    names: tuple[str, ...] = ()
    kind: str = "lab"
    molar_mass: float | None = None
    ranges: tuple[RefRange, ...] = ()
    change_abs: float | None = None
    change_rel: float | None = 0.10
    change_source: str = "project default"
    retest_days: int | None = None
    priority: int = 50  # lower = shown earlier in summaries and briefs
    goal: Goal | None = None
    affine: dict[tuple[str, str], tuple[float, float]] = field(default_factory=dict)
    #: the categories a value falls in, lowest first: (from, name, span), and whose they
    #: are ("WHO adult BMI categories": 25 "overweight" "25–29.9")
    bands: tuple[tuple[float, str, str], ...] = ()
    bands_by: str = ""

    def band_of(self, value: float) -> tuple[str, str] | None:
        """The category a value (in the measure's unit) falls in, with its span."""
        found = [(name, span) for low, name, span in self.bands if value >= low]
        return found[-1] if found else None

    def range_for(self, sex: str | None) -> RefRange | None:
        """The default reference range for a patient's sex (or the sex-neutral one)."""
        specific = [r for r in self.ranges if r.sex and r.sex == sex]
        if specific:
            return specific[0]
        neutral = [r for r in self.ranges if r.sex is None]
        if neutral:
            return neutral[0]
        if self.ranges:  # sex unknown: widest
            lows = [r.low for r in self.ranges if r.low is not None]
            highs = [r.high for r in self.ranges if r.high is not None]
            return RefRange(
                min(lows) if lows else None,
                max(highs) if highs else None,
                self.ranges[0].source + " (either sex)",
            )
        return None


_ADA = "ADA Standards of Care 2024"
_ATP = "NCEP ATP III"
_KDIGO = "KDIGO 2012"
_MLP = "MedlinePlus"
_BP = "ACC/AHA 2017"


def _m(
    key: str, label: str, codes: Sequence[str], unit: str, names: Sequence[str], **kw: object
) -> Measure:
    return Measure(key, label, tuple(codes), unit, tuple(names), **kw)  # type: ignore[arg-type]


MEASURES: tuple[Measure, ...] = (
    _m("hba1c", "HbA1c", ["4548-4", "17856-6", "4549-2", "41995-2", "59261-8"], "%",
       ["hba1c", "a1c", "hemoglobin a1c", "haemoglobin a1c", "glycated hemoglobin", "glycohemoglobin"],
       ranges=(RefRange(4.0, 5.6, f"{_ADA} (normal < 5.7 %); lab lower limit 4.0 % ({_MLP})"),),
       change_abs=0.5, change_rel=None, change_source="0.5 % (ADA/NICE: clinically relevant HbA1c change)",
       retest_days=182, priority=1,
       goal=Goal(7.0, None, "diabetes", f"{_ADA}, most nonpregnant adults", "ADA"),
       # NGSP % <-> IFCC mmol/mol master equation: IFCC = 10.929 * (NGSP - 2.15)
       affine={("%", "mmol/mol"): (10.929, -23.497), ("mmol/mol", "%"): (1 / 10.929, 2.15)}),
    _m("egfr", "eGFR", ["33914-3", "48642-3", "48643-1", "62238-1", "77147-7", "98979-8", "69405-9", "50044-7"],
       "mL/min/{1.73_m2}", ["egfr", "gfr", "estimated gfr", "glomerular filtration rate"],
       ranges=(RefRange(60, None, f"{_KDIGO} (G1–G2 ≥ 60)"),),
       change_rel=0.25, change_source=f"25 % decline ({_KDIGO} certain drift)", retest_days=365, priority=2,
       bands=((0, "G5, kidney failure", "below 15"), (15, "G4, severely decreased", "15–29"),
              (30, "G3b, moderately to severely decreased", "30–44"),
              (45, "G3a, mildly to moderately decreased", "45–59"),
              (60, "G2, mildly decreased", "60–89"), (90, "G1, normal or high", "90 or more")),
       bands_by="KDIGO GFR categories"),
    _m("creatinine", "Creatinine", ["2160-0", "38483-4", "14682-9", "21232-4"], "mg/dL",
       ["creatinine", "creat", "serum creatinine", "cr"], molar_mass=113.12,
       ranges=(RefRange(0.7, 1.3, _MLP, "male"), RefRange(0.6, 1.1, _MLP, "female")),
       change_abs=0.3, change_rel=None, change_source=f"0.3 mg/dL ({_KDIGO} AKI)", retest_days=365, priority=3),
    _m("uacr", "Albumin/creatinine ratio", ["14959-1", "9318-7", "32294-1"], "mg/g",
       ["uacr", "acr", "microalbumin", "albumin creatinine ratio", "microalbumin creatinine ratio"],
       ranges=(RefRange(None, 30, f"{_KDIGO} (A1 < 30 mg/g)"),), change_rel=0.3, retest_days=365, priority=4),
    _m("ldl", "LDL cholesterol", ["18262-6", "13457-7", "2089-1"], "mg/dL",
       ["ldl", "ldl cholesterol", "ldl c", "low density lipoprotein"], molar_mass=386.65,
       ranges=(RefRange(None, 99, f"{_ATP} (optimal < 100)"),), change_rel=0.15, retest_days=365, priority=5),
    _m("hdl", "HDL cholesterol", ["2085-9"], "mg/dL", ["hdl", "hdl cholesterol", "hdl c", "high density lipoprotein"],
       molar_mass=386.65, ranges=(RefRange(40, None, f"{_ATP} (low < 40)"),), change_rel=0.15, retest_days=365, priority=7),
    _m("cholesterol", "Total cholesterol", ["2093-3"], "mg/dL",
       ["total cholesterol", "cholesterol", "tc", "chol"], molar_mass=386.65,
       ranges=(RefRange(None, 199, f"{_ATP} (desirable < 200)"),), change_rel=0.15, retest_days=365, priority=6),
    _m("triglycerides", "Triglycerides", ["2571-8", "3043-7"], "mg/dL", ["triglycerides", "triglyceride", "tg", "trigs"],
       molar_mass=885.7, ranges=(RefRange(None, 149, f"{_ATP} (normal < 150)"),), change_rel=0.25, retest_days=365,
       priority=8),
    _m("glucose", "Glucose", ["2339-0", "2345-7", "1558-6", "2340-8", "15074-8", "14749-6"], "mg/dL",
       ["glucose", "blood glucose", "blood sugar", "fasting glucose", "plasma glucose"], molar_mass=180.156,
       ranges=(RefRange(70, 99, f"{_ADA} (fasting)"),), change_rel=0.15, priority=9),
    _m("bun", "Urea nitrogen", ["6299-2", "3094-0"], "mg/dL", ["bun", "urea nitrogen", "blood urea nitrogen", "urea"],
       molar_mass=28.0134, ranges=(RefRange(6, 20, _MLP),), change_rel=0.25, priority=20),
    _m("sodium", "Sodium", ["2951-2", "2947-0"], "mmol/L", ["sodium", "na"],
       ranges=(RefRange(135, 145, _MLP),), change_abs=5, change_rel=None, priority=21),
    _m("potassium", "Potassium", ["2823-3", "6298-4"], "mmol/L", ["potassium", "k"],
       ranges=(RefRange(3.7, 5.2, _MLP),), change_abs=0.5, change_rel=None, priority=21),
    _m("chloride", "Chloride", ["2075-0", "2069-3"], "mmol/L", ["chloride", "cl"],
       ranges=(RefRange(96, 106, _MLP),), change_abs=5, change_rel=None, priority=22),
    _m("co2", "Carbon dioxide", ["2028-9", "20565-8", "1963-8"], "mmol/L", ["co2", "bicarbonate", "carbon dioxide", "hco3"],
       ranges=(RefRange(23, 29, _MLP),), change_abs=4, change_rel=None, priority=22),
    _m("calcium", "Calcium", ["17861-6", "49765-1"], "mg/dL", ["calcium", "ca"], molar_mass=40.078,
       ranges=(RefRange(8.5, 10.2, _MLP),), change_abs=0.5, change_rel=None, priority=22),
    _m("hemoglobin", "Hemoglobin", ["718-7"], "g/dL", ["hemoglobin", "haemoglobin", "hgb", "hb"],
       ranges=(RefRange(13.2, 16.6, _MLP, "male"), RefRange(11.6, 15.0, _MLP, "female")),
       change_abs=1.0, change_rel=None, priority=15),
    _m("platelets", "Platelets", ["777-3"], "10*3/uL", ["platelets", "plt", "platelet count"],
       ranges=(RefRange(150, 450, _MLP),), change_rel=0.25, priority=25),
    _m("wbc", "Leukocytes", ["6690-2"], "10*3/uL", ["wbc", "leukocytes", "white blood cells", "white cell count"],
       ranges=(RefRange(4.5, 11.0, _MLP),), change_rel=0.25, priority=25),
    _m("alt", "ALT", ["1742-6"], "U/L", ["alt", "alanine aminotransferase", "sgpt"],
       ranges=(RefRange(7, 56, _MLP),), change_rel=0.5, priority=26),
    _m("ast", "AST", ["1920-8"], "U/L", ["ast", "aspartate aminotransferase", "sgot"],
       ranges=(RefRange(8, 48, _MLP),), change_rel=0.5, priority=26),
    _m("ntprobnp", "NT-proBNP", ["33762-6"], "pg/mL", ["nt probnp", "ntprobnp", "bnp"],
       ranges=(RefRange(None, 124, "ESC 2021 HF (< 125 pg/mL)"),), change_rel=0.3, priority=10),
    _m("psa", "PSA", ["2857-1"], "ng/mL", ["psa", "prostate specific antigen"],
       ranges=(RefRange(None, 4.0, _MLP),), change_rel=0.25, priority=12),
    _m("lvef", "LV ejection fraction", ["10230-1", "18043-0"], "%", ["lvef", "ejection fraction", "ef"],
       kind="vital", ranges=(RefRange(50, None, "AHA/ACC/HFSA 2022 (preserved ≥ 50 %)"),),
       change_abs=10, change_rel=None, priority=10),
    _m("fev1fvc", "FEV1/FVC", ["19926-5"], "%", ["fev1/fvc", "fev1 fvc", "fev1fvc"],
       ranges=(RefRange(70, None, "GOLD (< 70 % obstruction)"),), change_abs=5, change_rel=None, priority=14),
    _m("systolic", "Systolic BP", ["8480-6"], "mm[Hg]", ["systolic", "sbp", "systolic blood pressure", "systolic bp"],
       kind="vital", ranges=(RefRange(90, 119, f"{_BP} (normal < 120)"),), change_abs=10, change_rel=None,
       priority=11, goal=Goal(130, None, "hypertension", f"{_BP}; {_ADA}", "ACC/AHA")),
    _m("diastolic", "Diastolic BP", ["8462-4"], "mm[Hg]", ["diastolic", "dbp", "diastolic blood pressure", "diastolic bp"],
       kind="vital", ranges=(RefRange(60, 79, f"{_BP} (normal < 80)"),), change_abs=5, change_rel=None, priority=12,
       goal=Goal(80, None, "hypertension", f"{_BP}; {_ADA}", "ACC/AHA")),
    _m("weight", "Body weight", ["29463-7", "3141-9"], "kg", ["weight", "body weight", "wt"], kind="vital",
       change_rel=0.05, change_source="5 % (clinically significant weight change)", priority=13),
    _m("height", "Body height", ["8302-2", "8306-3"], "cm", ["height", "body height", "ht", "length"], kind="vital",
       change_rel=0.05, priority=40),
    _m("bmi", "BMI", ["39156-5"], "kg/m2", ["bmi", "body mass index"], kind="vital",
       ranges=(RefRange(18.5, 24.9, "WHO"),), change_rel=0.05, priority=13,
       bands=((0, "underweight", "below 18.5"), (18.5, "normal weight", "18.5–24.9"),
              (25, "overweight", "25–29.9"), (30, "obesity class I", "30–34.9"),
              (35, "obesity class II", "35–39.9"), (40, "obesity class III", "40 or more")),
       bands_by="WHO adult BMI categories"),
    _m("heart_rate", "Heart rate", ["8867-4"], "/min", ["heart rate", "pulse", "hr", "pulse rate"], kind="vital",
       ranges=(RefRange(60, 100, "AHA"),), change_abs=15, change_rel=None, priority=16),
    _m("resp_rate", "Respiratory rate", ["9279-1"], "/min", ["respiratory rate", "rr", "breathing rate"], kind="vital",
       ranges=(RefRange(12, 20, _MLP),), change_abs=4, change_rel=None, priority=17),
    _m("temperature", "Body temperature", ["8310-5", "8331-1"], "Cel", ["temperature", "body temperature", "temp"],
       kind="vital", change_abs=1.0, change_rel=None, priority=18),
    _m("spo2", "Oxygen saturation", ["2708-6", "59408-5"], "%", ["spo2", "oxygen saturation", "o2 sat", "sao2"],
       kind="vital", ranges=(RefRange(95, 100, _MLP),), change_abs=3, change_rel=None, priority=17),
    _m("pain", "Pain score", ["72514-3"], "{score}", ["pain", "pain score", "pain severity"], kind="vital",
       change_abs=2, change_rel=None, priority=30),
)  # fmt: skip

# Blood-pressure panels: the name "blood pressure" resolves to systolic + diastolic.
BP_PANEL_CODES = ("85354-9", "55284-4", "35094-2")
_BP_NAMES = ("blood pressure", "bp", "blood pressure panel")

_BY_CODE = {code: m for m in MEASURES for code in m.codes}


def _norm(name: str) -> str:
    return re.sub(r"[\s\-_.]+", " ", name.strip().lower()).strip()


_BY_NAME = {_norm(n): m for m in MEASURES for n in (*m.names, m.key, m.label)}
_CODE_RE = re.compile(r"^(?:(?P<system>[^|]+)\|)?(?P<code>\d{1,8}-\d)$")


def measure_for_code(code: str) -> Measure | None:
    """The known measure a LOINC code belongs to (``None`` if not in the table)."""
    return _BY_CODE.get(code)


def _by_name(name: str) -> list[Measure] | None:
    key = _norm(name)
    if key in _BP_NAMES or key in BP_PANEL_CODES:
        return [_BY_CODE["8480-6"], _BY_CODE["8462-4"]]
    m = _BY_NAME.get(key) or _BY_NAME.get(key.replace(" ", ""))
    return [m] if m else None


def resolve_measures(query: str | Sequence[str]) -> list[Measure]:
    """Measures for a name, a LOINC code (``4548-4`` or ``http://loinc.org|4548-4``),
    or a list of codes (one combined series). Blood pressure gives two measures.

    Raises :class:`UnknownMeasure` for a name not in the table. An unknown but
    well-formed LOINC code gives an ad-hoc measure (no default range).
    """
    if isinstance(query, str):
        found = _by_name(query)
        if found:
            return found
        parts = [p for p in re.split(r"[,\s]+", query.strip()) if p]
    else:
        parts = [str(p).strip() for p in query if str(p).strip()]
    codes: list[str] = []
    for part in parts:
        m = _CODE_RE.match(part)
        if not m or (m.group("system") and m.group("system") != LOINC):
            known = [n for meas in MEASURES for n in meas.names[:1]] + ["blood pressure"]
            raise UnknownMeasure(query if isinstance(query, str) else ",".join(parts), known)
        codes.append(m.group("code"))
    if not codes:
        raise UnknownMeasure(str(query), [m.names[0] for m in MEASURES])
    if len(codes) == 1 and codes[0] in BP_PANEL_CODES:
        return [_BY_CODE["8480-6"], _BY_CODE["8462-4"]]
    known_measures = {_BY_CODE[c].key: _BY_CODE[c] for c in codes if c in _BY_CODE}
    if len(known_measures) == 1 and all(c in _BY_CODE for c in codes):
        base = next(iter(known_measures.values()))
        if len(codes) == 1:
            return [_with_codes(base, (codes[0],))]
        return [_with_codes(base, tuple(codes))]
    if len(known_measures) > 1:
        # several known measures: one series each
        return [
            _with_codes(_BY_CODE[c], (c,)) if c in _BY_CODE else adhoc_measure((c,)) for c in codes
        ]
    return [adhoc_measure(tuple(codes))]


def _with_codes(base: Measure, codes: tuple[str, ...]) -> Measure:
    return replace(base, codes=codes)


def adhoc_measure(codes: tuple[str, ...]) -> Measure:
    """A measure for LOINC codes not in the table (no default range; 10 % threshold)."""
    return Measure(key="loinc:" + "+".join(codes), label="", codes=codes, unit="", priority=60)


# --------------------------------------------------------------------------- condition kinds
#
# Synthea (and many real problem lists) record social determinants of health and
# administrative reminders as Conditions: "Received higher education (finding)",
# "Refugee (person)", "Medication review due (situation)". They are real and useful,
# but they are not the problems a clinician manages, and ranking them with the
# disorders lets them crowd diabetes or CKD out of a budgeted summary. The record
# tools therefore sort each Condition into one of three kinds (:func:`condition_kind`):
#
# - ``"administrative"``: reminders and bookkeeping. SNOMED codes in
#   :data:`ADMINISTRATIVE_CODES`, or the semantic tag ``(record artifact)`` /
#   ``(administrative concept)``, or a ``(situation)`` whose name says something is
#   "due" (``Medication review due (situation)``).
# - ``"social"``: social history / social determinants of health. SNOMED codes in
#   :data:`SOCIAL_HISTORY_CODES` (the SDOH findings Synthea emits: employment,
#   education, criminal record, refugee status, housing, transport, social contact,
#   isolation, stress, violence and intimate-partner abuse), or the semantic tags of
#   :data:`SOCIAL_TAGS` (``(person)``, ``(social concept)``, ``(occupation)`` …), or —
#   for a code not in the lists — a ``(finding)``/``(situation)``/``(person)``/untagged
#   name matching :data:`_SOCIAL_NAME` (employment, education, housing, transport,
#   refugee, migrant, military service, criminal record, social isolation/contact,
#   intimate-partner abuse, violence in the environment). A ``(disorder)`` is never
#   social.
# - ``"problem"``: everything else, including clinical findings such as "Body mass index
#   30+ - obesity (finding)", "Prediabetes (finding)", "Chronic pain (finding)",
#   "History of myocardial infarction (situation)" and substance use ("Unhealthy
#   alcohol drinking behavior (finding)", "Smokes tobacco daily (finding)": these stay
#   problems on purpose, they change clinical management).
#
# Codes win over names: the lists are the documented source of truth, names only
# catch codes that are not listed (other SNOMED versions, other generators).

SNOMED = "http://snomed.info/sct"

SOCIAL_HISTORY_CODES: dict[str, str] = {
    "160903007": "Full-time employment (finding)",
    "160904001": "Part-time employment (finding)",
    "741062008": "Not in labor force (finding)",
    "73438004": "Unemployed (finding)",
    "224299000": "Received higher education (finding)",
    "473461003": "Educated to high school level (finding)",
    "224295006": "Only received primary school education (finding)",
    "5251000175109": "Received certificate of high school equivalency (finding)",
    "266948004": "Has a criminal record (finding)",
    "446654005": "Refugee (person)",
    "423315002": "Limited social contact (finding)",
    "422650009": "Social isolation (finding)",
    "73595000": "Stress (finding)",
    "706893006": "Victim of intimate partner abuse (finding)",
    "424393004": "Reports of violence in the environment (finding)",
    "160968000": "Risk activity involvement (finding)",
    "32911000": "Homeless (finding)",
    "105531004": "Housing unsatisfactory (finding)",
    "713458007": "Lack of access to transportation (finding)",
    "266934004": "Transport problem (finding)",
}
ADMINISTRATIVE_CODES: dict[str, str] = {
    "314529007": "Medication review due (situation)",
}
SOCIAL_TAGS = frozenset(
    {"person", "social concept", "occupation", "ethnic group", "racial group",
     "religion/philosophy", "life style"}
)  # fmt: skip
ADMINISTRATIVE_TAGS = frozenset({"record artifact", "administrative concept"})
_SNOMED_TAGS = SOCIAL_TAGS | ADMINISTRATIVE_TAGS | {
    "disorder", "finding", "situation", "procedure", "regime/therapy", "event",
    "morphologic abnormality", "observable entity", "physical object", "substance",
}  # fmt: skip
_TAG_RE = re.compile(r"\(([a-z/ ]+)\)\s*$")
_SOCIAL_NAME = re.compile(
    r"employment|employed\b|labou?r force|education|educated|\bschool\b|criminal record"
    r"|homeless|housing|transport|refugee|migrant|armed forces|military service"
    r"|social isolation|social contact|intimate partner|violence in the environment",
    re.IGNORECASE,
)
_DUE_NAME = re.compile(r"\bdue\b", re.IGNORECASE)


def semantic_tag(display: str | None) -> str | None:
    """The SNOMED CT semantic tag at the end of a display (``disorder``, ``finding`` …).

    Only recognised tags count: "Hib (PRP-OMP)" has none.
    """
    m = _TAG_RE.search(display or "")
    return m.group(1) if m and m.group(1) in _SNOMED_TAGS else None


def condition_kind(codes: Sequence[tuple[str | None, str | None]], display: str) -> str:
    """``"problem"``, ``"social"`` or ``"administrative"`` for a Condition.

    Args:
        codes: the (system, code) pairs of ``Condition.code``.
        display: its display text (the SNOMED semantic tag is read from it).
    """
    for system, code in codes:
        if system in (SNOMED, None) and code:
            if code in ADMINISTRATIVE_CODES:
                return "administrative"
            if code in SOCIAL_HISTORY_CODES:
                return "social"
    tag = semantic_tag(display)
    if tag in ADMINISTRATIVE_TAGS or (tag == "situation" and _DUE_NAME.search(display)):
        return "administrative"
    if tag in SOCIAL_TAGS:
        return "social"
    if tag in (None, "finding", "situation") and _SOCIAL_NAME.search(display):
        return "social"
    return "problem"


# Self-limiting conditions: still "active" in a record long after onset they are
# almost always a record that was never closed (Synthea leaves some open for decades).
# The record tools keep them but flag them "verify" one year after the last onset.
_SELF_LIMITING = re.compile(
    r"\bacute\b|\bviral\b|sinusitis|pharyngitis|bronchitis|otitis|cystitis|sore throat"
    r"|sprain|laceration|concussion|first degree burn|whiplash|appendicitis",
    re.IGNORECASE,
)
SELF_LIMITING_DAYS = 365


def is_self_limiting(display: str) -> bool:
    """Whether a condition's name says it is acute / self-limiting (not "chronic …")."""
    return bool(_SELF_LIMITING.search(display)) and "chronic" not in display.lower()


# --------------------------------------------------------------------------- routine procedures
#
# Screening questionnaires, assessments, medication reconciliation, referrals and
# documentation are recorded as Procedures at nearly every Synthea wellness visit; in
# a "recent procedures" list they hide the ones that matter (cardioversion,
# colonoscopy). The brief and the summary list them after the others, on one line.

ROUTINE_PROCEDURE_CODES: dict[str, str] = {
    "428191000124101": "Documentation of current medications",
    "171207006": "Depression screening (procedure)",
    "715252007": "Depression screening using Patient Health Questionnaire Nine Item score (procedure)",
    "710824005": "Assessment of health and social care needs (procedure)",
    "430193006": "Medication reconciliation (procedure)",
    "428211000124100": "Assessment of substance use (procedure)",
    "710841007": "Assessment of anxiety (procedure)",
    "762993000": "Assessment using Morse Fall Scale (procedure)",
    "713106006": "Screening for drug abuse (procedure)",
    "866148006": "Screening for domestic abuse (procedure)",
    "763302001": "Assessment using Alcohol Use Disorders Identification Test - Consumption (procedure)",
    "103697008": "Patient referral for dental care (procedure)",
    "84100007": "History taking (procedure)",
    "315639002": "Initial patient assessment (procedure)",
    "225338004": "Risk assessment (procedure)",
    "58000006": "Patient discharge (procedure)",
}
_ROUTINE_NAME = re.compile(
    r"^(screening for|depression screening|assessment (of|using)|documentation of"
    r"|medication reconciliation|patient referral|referral (to|for)|history taking"
    r"|risk assessment|initial patient assessment|patient discharge)",
    re.IGNORECASE,
)


def is_routine_procedure(code: str | None, display: str) -> bool:
    """Whether a Procedure is a routine screening / assessment / paperwork entry."""
    return (code in ROUTINE_PROCEDURE_CODES) or bool(_ROUTINE_NAME.search(display.strip()))

"""UCUM conversions (tools.units) and the measure table (tools.codes)."""

from __future__ import annotations

import pytest

from tools.codes import (
    BP_PANEL_CODES,
    MEASURES,
    condition_kind,
    is_routine_procedure,
    is_self_limiting,
    resolve_measures,
    semantic_tag,
)
from tools.errors import IncompatibleUnits, UnknownMeasure
from tools.units import (
    MOLAR_MASS_BY_LOINC,
    UnitParseError,
    analyte_conversion,
    canonical_unit,
    conversion,
    convert,
    convert_analyte,
    display_unit,
    molar_mass_of,
    parse_unit,
)


@pytest.mark.parametrize(
    ("value", "src", "dst", "molar_mass", "expected"),
    [
        (100, "mg/dL", "mmol/L", 180.156, 5.5507),  # glucose
        (1, "mg/dL", "umol/L", 113.12, 88.4017),  # creatinine
        (88.4, "umol/L", "mg/dL", 113.12, 1.0),
        (200, "mg/dL", "mmol/L", 386.65, 5.1726),  # cholesterol
        (150, "mg/dL", "mmol/L", 885.7, 1.6936),  # triglycerides
        (1, "kg", "[lb_av]", None, 2.20462),
        (154, "[lb_av]", "kg", None, 69.8532),
        (70, "kg", "g", None, 70000.0),
        (8, "[oz_av]", "g", None, 226.796),
        (5, "10*3/uL", "10*9/L", None, 5.0),
        (60, "mL/min", "mL/min/{1.73_m2}", None, 60.0),  # annotations are unity (UCUM)
        (1, "g/dL", "g/L", None, 10.0),
        (120, "mmHg", "mm[Hg]", None, 120.0),
        (120, "mm[Hg]", "kPa", None, 15.9987),
        (72, "/min", "/s", None, 1.2),
        (1, "U/L", "kU/L", None, 0.001),
        (180, "cm", "[in_i]", None, 70.866),
        (37, "Cel", "[degF]", None, 98.6),
        (98.6, "[degF]", "Cel", None, 37.0),
        (0, "Cel", "K", None, 273.15),
    ],
)
def test_convert(
    value: float, src: str, dst: str, molar_mass: float | None, expected: float
) -> None:
    assert convert(value, src, dst, molar_mass=molar_mass) == pytest.approx(expected, rel=1e-4)


def test_round_trip() -> None:
    for src, dst, mm in [
        ("mg/dL", "mmol/L", 180.156),
        ("kg", "[lb_av]", None),
        ("mg/dL", "umol/L", 113.12),
    ]:
        assert convert(
            convert(7.3, src, dst, molar_mass=mm), dst, src, molar_mass=mm
        ) == pytest.approx(7.3)


def test_incompatible_units_name_the_value() -> None:
    with pytest.raises(IncompatibleUnits) as info:
        convert(5.1, "mmol/L", "kg", what="Glucose")
    message = str(info.value)
    assert "5.1 mmol/L" in message
    assert "'kg'" in message
    assert "Glucose" in message
    # mass <-> substance needs a molar mass
    assert conversion("mg/dL", "mmol/L") is None
    assert conversion("mg/dL", "mmol/L", 180.156) is not None


def test_unknown_units_only_match_themselves() -> None:
    assert conversion("(score)", "(score)") == 1.0
    assert conversion("(score)", "{score}") is None
    with pytest.raises(UnitParseError):
        parse_unit("furlongs")


def test_parser_shapes() -> None:
    assert parse_unit("kg/m2").dims == (("g", 1), ("m", -2))
    assert parse_unit("mL/min/{1.73_m2}").dims == parse_unit("mL/min").dims
    assert parse_unit("g{total}/dL").factor == pytest.approx(parse_unit("g/dL").factor)
    assert parse_unit("10*3/uL").factor == pytest.approx(1e3 / 1e-9)
    assert parse_unit("%").factor == 0.01
    assert canonical_unit("mmHg") == "mm[Hg]"
    assert canonical_unit("lbs") == "[lb_av]"


# --------------------------------------------------------------------------- synonym table


@pytest.mark.parametrize(
    ("query", "key"),
    [
        ("HbA1c", "hba1c"),
        ("hba1c", "hba1c"),
        ("A1C", "hba1c"),
        ("eGFR", "egfr"),
        ("Creatinine", "creatinine"),
        ("LDL", "ldl"),
        ("ldl-c", "ldl"),
        ("HDL", "hdl"),
        ("Total Cholesterol", "cholesterol"),
        ("triglycerides", "triglycerides"),
        ("glucose", "glucose"),
        ("systolic", "systolic"),
        ("Diastolic", "diastolic"),
        ("weight", "weight"),
        ("BMI", "bmi"),
        ("heart rate", "heart_rate"),
        ("Heart_Rate", "heart_rate"),
        ("4548-4", "hba1c"),
        ("http://loinc.org|2160-0", "creatinine"),
    ],
)
def test_resolve_names(query: str, key: str) -> None:
    (m,) = resolve_measures(query)
    assert m.key == key


def test_blood_pressure_gives_two_series() -> None:
    for q in ("blood pressure", "BP", BP_PANEL_CODES[0]):
        assert [m.key for m in resolve_measures(q)] == ["systolic", "diastolic"]


def test_codes_lists() -> None:
    (m,) = resolve_measures(["2160-0", "38483-4"])
    assert m.key == "creatinine"
    assert m.codes == ("2160-0", "38483-4")
    (m,) = resolve_measures("38483-4")  # one code: that code only
    assert m.codes == ("38483-4",)
    (m,) = resolve_measures("12345-6")  # unknown but well-formed: ad hoc
    assert m.codes == ("12345-6",)
    assert not m.ranges
    assert [m.key for m in resolve_measures(["4548-4", "2160-0"])] == ["hba1c", "creatinine"]


def test_unknown_name() -> None:
    with pytest.raises(UnknownMeasure) as info:
        resolve_measures("unobtainium")
    assert "unobtainium" in str(info.value)
    assert "hba1c" in str(info.value)
    with pytest.raises(UnknownMeasure):
        resolve_measures("http://snomed.info/sct|4548-4")


def test_table_is_consistent() -> None:
    seen: set[str] = set()
    for m in MEASURES:
        assert m.unit
        assert m.codes
        assert m.label
        parse_unit(m.unit) if m.unit not in ("Cel",) else None
        assert not (seen & set(m.codes)), m.key
        seen |= set(m.codes)
        for r in m.ranges:
            assert r.source
            if r.low is not None and r.high is not None:
                assert r.low < r.high


# --------------------------------------------------------------------------- condition kinds


@pytest.mark.parametrize(
    ("code", "display", "kind"),
    [
        # social determinants and administrative entries, by code
        ("224299000", "Received higher education (finding)", "social"),
        ("266948004", "Has a criminal record (finding)", "social"),
        ("446654005", "Refugee (person)", "social"),
        ("73595000", "Stress (finding)", "social"),
        ("741062008", "Not in labor force (finding)", "social"),
        ("160903007", "Full-time employment (finding)", "social"),
        ("423315002", "Limited social contact (finding)", "social"),
        ("422650009", "Social isolation", "social"),  # no tag: the code decides
        ("314529007", "Medication review due (situation)", "administrative"),
        # by semantic tag or name, for codes not in the lists
        (None, "Served in armed forces (finding)", "social"),
        ("999", "Homeless", "social"),
        ("999", "Somebody (person)", "social"),
        ("999", "Influenza vaccination due (situation)", "administrative"),
        ("999", "Hospital record (record artifact)", "administrative"),
        # clinical problems stay problems
        ("44054006", "Diabetes mellitus type 2 (disorder)", "problem"),
        ("431856006", "Chronic kidney disease stage 2 (disorder)", "problem"),
        ("162864005", "Body mass index 30+ - obesity (finding)", "problem"),
        ("714628002", "Prediabetes (finding)", "problem"),
        (
            "90781000119102",
            "Microalbuminuria due to type 2 diabetes mellitus (disorder)",
            "problem",
        ),
        ("399211009", "History of myocardial infarction (situation)", "problem"),
        ("10939881000119105", "Unhealthy alcohol drinking behavior (finding)", "problem"),
        ("999", "Housing-related stress fracture (disorder)", "problem"),  # a disorder never is
        ("38341003", "Hypertension", "problem"),
    ],
)
def test_condition_kind(code: str | None, display: str, kind: str) -> None:
    assert condition_kind([("http://snomed.info/sct", code)], display) == kind


def test_codes_win_over_other_systems_and_tags() -> None:
    # the same number in another code system is not the SNOMED social code
    assert condition_kind([("http://example.org/local", "224299000")], "X (disorder)") == "problem"
    assert semantic_tag("Hib (PRP-OMP)") is None
    assert semantic_tag("Refugee (person)") == "person"
    assert semantic_tag("Acute bronchitis (disorder) ") == "disorder"


def test_acute_and_routine_rules() -> None:
    assert is_self_limiting("Acute infective cystitis (disorder)")
    assert is_self_limiting("Acute non-ST segment elevation myocardial infarction (disorder)")
    assert is_self_limiting("Viral sinusitis (disorder)")
    assert not is_self_limiting("Chronic sinusitis (disorder)")
    assert not is_self_limiting("Essential hypertension (disorder)")
    assert is_routine_procedure("171207006", "Depression screening (procedure)")
    assert is_routine_procedure(None, "Screening for domestic abuse (procedure)")
    assert is_routine_procedure(None, "Assessment using Morse Fall Scale (procedure)")
    assert not is_routine_procedure("180325003", "Direct current cardioversion (procedure)")
    assert not is_routine_procedure("73761001", "Colonoscopy")


def test_systolic_sorts_before_diastolic() -> None:
    by_key = {m.key: m for m in MEASURES}
    assert by_key["systolic"].priority < by_key["diastolic"].priority


@pytest.mark.parametrize(
    ("value", "src", "dst", "loinc", "expected"),
    [
        (99, "mg/dL", "mmol/L", "2345-7", 5.495),  # glucose, serum/plasma
        (5.5, "mmol/L", "mg/dL", "2339-0", 99.09),  # glucose, blood
        (1, "mg/dL", "umol/L", "2160-0", 88.40),  # creatinine: x 88.4
        (1.3, "mg/dL", "µmol/L", "38483-4", 114.92),
        (200, "mg/dL", "mmol/L", "2093-3", 5.173),  # total cholesterol
        (130, "mg/dL", "mmol/L", "18262-6", 3.362),  # LDL
        (50, "mg/dL", "mmol/L", "2085-9", 1.293),  # HDL
        (100, "mg/dL", "mmol/L", "2571-8", 1.129),  # triglycerides: x 0.01129
        (14, "mg/dL", "mmol/L", "6299-2", 4.998),  # BUN as urea: x 0.357
        (10, "mg/dL", "mmol/L", "17861-6", 2.495),  # calcium
        (1, "mg/dL", "umol/L", "1975-2", 17.10),  # bilirubin
        (6, "mg/dL", "umol/L", "3084-1", 356.9),  # uric acid
        (99, "mg/dL", "g/L", "2345-7", 0.99),  # plain UCUM still works
        (99, "mg/dL", "mmol/L", "http://loinc.org|2345-7", 5.495),
        (99, "mg/dL", "mmol/L", "LOINC 2345-7", 5.495),
    ],
)
def test_convert_analyte(value: float, src: str, dst: str, loinc: str, expected: float) -> None:
    assert convert_analyte(value, src, dst, loinc) == pytest.approx(expected, rel=1e-3)


def test_convert_analyte_round_trip() -> None:
    for loinc in MOLAR_MASS_BY_LOINC:
        there = convert_analyte(7.3, "mg/dL", "mmol/L", loinc)
        assert convert_analyte(there, "mmol/L", "mg/dL", loinc) == pytest.approx(7.3)


def test_convert_analyte_incompatible() -> None:
    with pytest.raises(IncompatibleUnits) as info:
        convert_analyte(99, "mg/dL", "mmol/L", "718-7")  # hemoglobin: no molar mass here
    assert "LOINC 718-7" in str(info.value)
    assert "99 mg/dL" in str(info.value)
    with pytest.raises(IncompatibleUnits):
        convert_analyte(99, "mg/dL", "mmol/L", None)
    with pytest.raises(IncompatibleUnits):
        convert_analyte(99, "mg/dL", "kg", "2345-7")  # a molar mass does not make kg a conc.
    assert analyte_conversion("mg/dL", "mmol/L", "718-7") is None
    assert analyte_conversion("mg/dL", "mmol/L", "2345-7") == pytest.approx(1 / 18.0156)
    assert molar_mass_of("2345-7") == pytest.approx(180.156)
    assert molar_mass_of("nope") is None


def test_molar_masses_agree_with_the_measure_table() -> None:
    """tools.codes keeps a molar mass per measure; the LOINC table must not contradict it."""
    for m in MEASURES:
        for code in m.codes:
            if m.molar_mass and code in MOLAR_MASS_BY_LOINC:
                assert MOLAR_MASS_BY_LOINC[code] == pytest.approx(m.molar_mass, rel=1e-3), code
        if m.molar_mass:
            assert any(c in MOLAR_MASS_BY_LOINC for c in m.codes), m.key


@pytest.mark.parametrize(
    ("code", "shown"),
    [
        ("mm[Hg]", "mmHg"),
        ("10*3/uL", "10³/µL"),
        ("10*6/uL", "10⁶/µL"),
        ("mL/min/{1.73_m2}", "mL/min/1.73 m²"),
        ("kg/m2", "kg/m²"),
        ("Cel", "°C"),
        ("[lb_av]", "lb"),
        ("ug/dL", "µg/dL"),
        ("m[iU]/L", "mIU/L"),
        ("mg/dL", "mg/dL"),
        ("%", "%"),
        ("{score}", ""),
    ],
)
def test_display_unit_reads_back_as_the_same_unit(code: str, shown: str) -> None:
    assert display_unit(code) == shown
    if shown:
        assert conversion(canonical_unit(shown), code) == 1.0

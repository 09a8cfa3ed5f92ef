"""Lab and vital trends: edge cases on small records, values checked on shared data."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from tests._record_fixtures import (
    AS_OF,
    FIXTURES,
    bp,
    bundle_files,
    find_bundle,
    load_record,
    needs_data,
    obs,
    patient,
    shared,
)
from tools.errors import IncompatibleUnits, UnknownMeasure
from tools.trends import lab_trends, theil_sen, trend, trends_by_unit


def one(record: list[dict[str, Any]], query: Any, **kw: Any) -> Any:
    (t,) = trend(record, query, as_of=AS_OF, **kw)
    return t


# --------------------------------------------------------------------------- edge cases


def test_no_labs_at_all() -> None:
    t = one([patient()], "HbA1c")
    assert t.n == 0
    assert t.latest is None
    assert t.slope_per_year is None
    assert t.direction == "insufficient data"
    assert t.flags == []
    assert t.as_dict()["points"] == []
    assert t.as_dict()["latest"] is None
    assert lab_trends([patient()], as_of=AS_OF) == []


def test_single_point() -> None:
    t = one([patient(), obs("a", "4548-4", 6.1, "%", "2020-03-04T10:00:00Z")], "hba1c")
    assert t.n == 1
    assert t.latest
    assert t.latest.value == 6.1
    assert t.latest.date == "2020-03-04"
    assert t.slope_per_year is None
    assert t.direction == "insufficient data"
    assert t.days_since_last == (AS_OF - dt.date(2020, 3, 4)).days
    assert t.latest.flag == "H"
    assert "latest high" in t.flags
    assert t.ref_source
    assert t.ref_source.startswith("default")


def test_mixed_units_are_normalized() -> None:
    record = [
        patient(),
        obs("g1", "2339-0", 90, "mg/dL", "2020-01-01"),
        obs("g2", "2339-0", 5.5, "mmol/L", "2020-06-01"),
        obs("g3", "15074-8", 6.0, "mmol/L", "2021-01-01"),  # another glucose code, in mmol/L
    ]
    t = one(record, "glucose")
    assert t.unit == "mg/dL"
    assert t.n == 3
    assert [round(p.value, 1) for p in t.points] == [90.0, 99.1, 108.1]
    assert t.points[1].original_value == 5.5
    assert t.points[1].original_unit == "mmol/L"
    t2 = one(record, "glucose", unit="mmol/L")
    assert t2.points[0].value == pytest.approx(4.996, abs=1e-3)
    assert t2.ref_text == "3.89–5.5"  # the default range converted too


def test_incompatible_units_are_refused_naming_the_values() -> None:
    record = [
        patient(),
        obs("g1", "2339-0", 90, "mg/dL", "2020-01-01"),
        obs("g2", "2339-0", 3, "kg", "2020-02-01"),
    ]
    with pytest.raises(IncompatibleUnits) as info:
        trend(record, "glucose")
    assert "Observation/g2" in str(info.value)
    assert "3 kg" in str(info.value)
    # the bulk function skips the series instead of failing
    assert all(t.key != "glucose" for t in lab_trends(record, as_of=AS_OF))


def test_values_refused_as_one_series_are_each_unit_s_own_series() -> None:
    record = [
        patient(),
        obs("g1", "2339-0", 90, "mg/dL", "2020-01-01"),
        obs("g2", "2339-0", 5.5, "mmol/L", "2020-03-01"),  # converts: glucose's own series
        obs("g3", "2339-0", 3, "kg", "2020-02-01"),
    ]
    own, other = trends_by_unit(record, ["2339-0"], as_of=AS_OF)
    assert own.unit == "mg/dL"
    assert [p.ref for p in own.points] == ["Observation/g1", "Observation/g2"]
    assert other.unit == "kg"
    assert [p.value for p in other.points] == [3]
    # every value in one unit the measure cannot read ("1" for a hemoglobin): as recorded
    (hb,) = trend([patient(), obs("h1", "718-7", 13.1, "1", "2020-01-01")], "hemoglobin")
    assert hb.unit == "1"
    assert [p.value for p in hb.points] == [13.1]


def test_missing_effective_dates() -> None:
    issued_only = obs("a2", "4548-4", 6.3, "%", None, issued="2021-01-01T00:00:00Z")
    record = [
        patient(),
        obs("a1", "4548-4", 6.0, "%", "2020-01-01"),
        issued_only,
        obs("a3", "4548-4", 9.9, "%", None),
    ]
    t = one(record, "HbA1c")
    assert [p.ref for p in t.points] == ["Observation/a1", "Observation/a2"]
    assert t.points[1].date_source == "issued"
    assert t.undated == ["Observation/a3"]
    assert t.max
    assert t.max.value == 6.3


def test_entered_in_error_and_cancelled_are_excluded() -> None:
    record = [
        patient(),
        obs("a1", "4548-4", 6.0, "%", "2020-01-01"),
        obs("a2", "4548-4", 12.0, "%", "2021-01-01", status="entered-in-error"),
        obs("a3", "4548-4", 11.0, "%", "2022-01-01", status="cancelled"),
    ]
    t = one(record, "HbA1c")
    assert [p.ref for p in t.points] == ["Observation/a1"]


def test_components_only_blood_pressure() -> None:
    record = [patient(), bp("b1", 150, 95, "2019-01-01"), bp("b2", 140, 90, "2020-01-01", with_panel_code=False),
              bp("b3", 130, 85, "2021-01-01")]  # fmt: skip
    systolic, diastolic = trend(record, "Blood Pressure", as_of=AS_OF)
    assert systolic.code == "8480-6"
    assert diastolic.code == "8462-4"
    assert [p.value for p in systolic.points] == [150, 140, 130]
    assert [p.path for p in diastolic.points] == ["component[1].valueQuantity"] * 3
    assert systolic.slope_per_year == pytest.approx(-10, rel=0.01)
    assert systolic.direction == "falling"
    assert systolic.unit == "mm[Hg]"
    assert any(f.startswith("meaningful fall since first") for f in systolic.flags)
    assert one(record, "systolic").n == 3


def test_theil_sen_is_robust_and_direction_threshold() -> None:
    assert theil_sen([0, 1, 2, 3, 4], [1, 2, 3, 4, 100]) == pytest.approx(1.0)
    assert theil_sen([1, 1], [2, 3]) is None
    # HbA1c: +0.2 % over two years is below half the 0.5 % meaningful change -> stable
    record = [patient()] + [
        obs(f"a{i}", "4548-4", 5.0 + 0.1 * i, "%", f"202{i}-01-01") for i in range(3)
    ]
    t = one(record, "HbA1c")
    assert t.direction == "stable"
    assert t.slope_per_year == pytest.approx(0.1, rel=0.01)
    assert t.change_abs == pytest.approx(0.2)
    assert t.change_pct == pytest.approx(4.0)
    record = [patient()] + [
        obs(f"a{i}", "4548-4", 5.0 + 0.3 * i, "%", f"202{i}-01-01") for i in range(3)
    ]
    assert one(record, "HbA1c").direction == "rising"


def test_hba1c_ifcc_conversion_is_not_a_plain_ratio() -> None:
    record = [
        patient(),
        obs("a1", "4548-4", 7.0, "%", "2020-01-01"),
        obs("a2", "59261-8", 53, "mmol/mol", "2021-01-01"),
    ]
    t = one(record, "HbA1c")
    assert t.points[1].value == pytest.approx(53 / 10.929 + 2.15, abs=0.01)  # ~7.0 %, not 5.3 %
    t = one(record, "HbA1c", unit="mmol/mol")
    assert t.points[0].value == pytest.approx(53.0, abs=0.1)
    assert t.threshold == pytest.approx(0.5 * 10.929, rel=1e-3)


def test_queries_by_code_and_list() -> None:
    record = [
        patient(),
        obs("c1", "2160-0", 1.0, "mg/dL", "2020-01-01"),
        obs("c2", "38483-4", 1.2, "mg/dL", "2021-01-01"),
    ]
    assert one(record, "creatinine").n == 2
    assert one(record, "2160-0").n == 1
    assert one(record, ["2160-0", "38483-4"]).n == 2
    assert one(record, "14682-9").n == 0
    with pytest.raises(UnknownMeasure):
        trend(record, "not a lab")


def test_trend_json_shape() -> None:
    record = [
        patient(),
        obs("c1", "2160-0", 1.0, "mg/dL", "2020-01-01"),
        obs("c2", "2160-0", 1.6, "mg/dL", "2021-01-01"),
    ]
    data = json.loads(json.dumps(one(record, "creatinine").as_dict()))
    for key in ("code", "display", "unit", "points", "n", "latest", "slope_per_year", "direction"):
        assert key in data
    assert data["points"][0].keys() >= {"date", "value", "ref"}
    assert data["latest"]["ref"] == "Observation/c2"
    assert data["n"] == 2
    assert data["flags"][0] == "latest high"  # 1.6 > 1.1 (female default range)
    assert any("meaningful rise since previous" in f for f in data["flags"])


def test_plot_png_and_sidecar(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from tools.plots import plot_trends

    record = [patient(), bp("b1", 150, 95, "2019-01-01"), bp("b2", 140, 90, "2020-01-01")]
    png = plot_trends(trend(record, "blood pressure", as_of=AS_OF), tmp_path / "bp.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    side = json.loads(png.with_suffix(".json").read_text())
    assert [p["ref"] for p in side["points"]] == ["Observation/b1", "Observation/b2"] * 2
    assert [p["n"] for p in side["points"]] == [1, 2, 3, 4]
    with pytest.raises(ValueError, match="nothing to plot"):
        plot_trends(trend([patient()], "hba1c"), tmp_path / "none.png")


# --------------------------------------------------------------------------- shared data


def _hba1c_values(record: list[dict[str, Any]]) -> list[tuple[str, float, str]]:
    out = []
    for r in record:
        if r["resourceType"] == "Observation" and r["code"]["coding"][0]["code"] == "4548-4":
            out.append(
                (
                    r["effectiveDateTime"],
                    float(r["valueQuantity"]["value"]),
                    f"Observation/{r['id']}",
                )
            )
    return sorted(out)


@shared
@needs_data
def test_hba1c_quirk_counts_from_data() -> None:
    total = below4 = 0
    via_trends = 0
    for path in bundle_files():
        _pid, record = load_record(path)
        values = _hba1c_values(record)
        total += len(values)
        below4 += sum(1 for _, v, _ in values if v < 4)
        t = one(record, "HbA1c")
        assert t.n == len(values)
        via_trends += sum(1 for p in t.points if p.value < 4)
    assert (below4, total) == (133, 271)  # the documented data quirk, recomputed
    assert via_trends == below4


@shared
@needs_data
@pytest.mark.parametrize(
    "name", ["Vito_Feeney", "Josue_Sipes", "Catalina_Cantu", "Fletcher_Hyatt", "Alexis_Toy"]
)
def test_shared_latest_values_and_blood_pressure(name: str) -> None:
    _pid, record = load_record(find_bundle(name))
    own = {f"{r['resourceType']}/{r['id']}" for r in record}
    for code in ("4548-4", "33914-3", "38483-4", "2093-3", "29463-7"):
        rows = sorted(
            (r["effectiveDateTime"], float(r["valueQuantity"]["value"]))
            for r in record
            if r["resourceType"] == "Observation"
            and r["code"]["coding"][0]["code"] == code
            and "valueQuantity" in r
        )
        t = one(record, code)
        # the same instant and value recorded by two Observations is one point citing both
        assert t.n == len(set(rows))
        assert len(t.references) == len(rows)
        if rows:
            assert t.latest is not None
            assert t.latest.date == rows[-1][0][:10]
            assert t.latest.original_value in {v for d, v in rows if d == rows[-1][0]}
            assert t.min
            assert t.min.value == pytest.approx(min(v for _, v in rows))
            assert t.max
            assert t.max.value == pytest.approx(max(v for _, v in rows))
        assert all(p.ref in own for p in t.points)
    systolic_rows = [
        (r["effectiveDateTime"], c["valueQuantity"]["value"])
        for r in record
        if r["resourceType"] == "Observation"
        for c in r.get("component", [])
        if c["code"]["coding"][0]["code"] == "8480-6"
    ]
    systolic, _diastolic = trend(record, "blood pressure", as_of=AS_OF)
    assert systolic.n == len(set(systolic_rows))
    if systolic_rows:
        assert systolic.latest
        assert systolic.latest.original_value == max(systolic_rows)[1]


@shared
@needs_data
def test_all_trends_of_the_largest_patient() -> None:
    _pid, record = load_record(find_bundle("Fletcher_Hyatt"))
    trends = lab_trends(record, as_of=AS_OF)
    keys = [t.key for t in trends]
    assert "egfr" in keys
    assert "hba1c" not in keys
    assert len(keys) == len(set(keys))
    assert all(t.n >= 1 and t.latest is not None for t in trends)


def test_one_measurement_recorded_twice_is_one_point_citing_both() -> None:
    """A BP panel component and a standalone systolic Observation at the same instant."""
    fixture = next(FIXTURES.glob("Cleotilde_Ruecker_*.json"))
    _pid, record = load_record(fixture)
    systolic, _diastolic = trend(record, "blood pressure", as_of=AS_OF)
    stamps = [
        (r["effectiveDateTime"], c["valueQuantity"]["value"])
        for r in record
        if r["resourceType"] == "Observation"
        for c in [r, *r.get("component", [])]
        if (c.get("code") or {}).get("coding", [{}])[0].get("code") == "8480-6"
        and "valueQuantity" in c
    ]
    assert len(stamps) > len(set(stamps))  # the fixture really records each value twice
    assert systolic.n == len(set(stamps))
    assert len(systolic.references) == len(stamps)  # every recording stays cited
    assert all(len(p.also) == 1 for p in systolic.points)

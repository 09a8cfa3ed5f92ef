"""Lab and vital trends: cited time series with units normalized, no model.

:func:`trend` answers "how has X changed" for a LOINC code, a list of codes or a common
name (see :mod:`tools.codes`); "blood pressure" gives a systolic and a diastolic
series (from the components of BP panels and from standalone Observations).
:func:`lab_trends` computes every numeric series of a record at once.

Every point cites its Observation (``Observation/…`` and the element path, e.g.
``component[1].valueQuantity``).

Definitions (documented thresholds):

- **units**: every value is converted to the measure's UCUM unit (or the most common
  unit for codes not in the table) with :mod:`tools.units`; mass ↔ substance uses the
  analyte's molar mass; HbA1c % ↔ mmol/mol uses the NGSP/IFCC master equation. A value
  that cannot be converted raises :class:`~tools.errors.IncompatibleUnits`
  naming it.
- **dates**: ``effectiveDateTime`` / ``effectiveInstant`` / ``effectivePeriod.start``,
  else ``issued`` (the point is marked ``date_source="issued"``); values with no date at
  all are listed in ``undated`` and left out of the series and statistics.
- **slope_per_year**: Theil–Sen estimator (median of pairwise slopes; pairs on the same
  day are skipped); robust to outliers. ``None`` with fewer than two dated days.
- **meaningful change** T: the measure's ``change_abs`` (in its unit) or ``change_rel`` ×
  the earlier value (see :mod:`tools.codes` for sources; 10 % for unknown codes).
- **direction**: ``rising`` / ``falling`` when the fitted change over the observed span
  (slope × span) is at least T/2 (half a meaningful change, with T taken relative to
  the median value for relative thresholds), else ``stable``; ``insufficient data``
  with fewer than two dated days.
- **flags**: ``latest high`` / ``latest low`` (outside the reference range: the
  Observation's own ``referenceRange``, else the default table's, labelled
  ``default``), ``meaningful rise|fall since previous`` (last two points differ by ≥ T),
  ``meaningful rise|fall since first`` (≥ T over the series), and ``n of m out of range``.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from tools._record import NumPoint, RecordView, Resource, fmt_num, view_of
from tools.codes import (
    MEASURES,
    Measure,
    RefRange,
    adhoc_measure,
    measure_for_code,
    resolve_measures,
)
from tools.errors import IncompatibleUnits, UnknownMeasure
from tools.units import canonical_unit, conversion, convert

__all__ = [
    "SeriesStats",
    "StatPoint",
    "Trend",
    "TrendPoint",
    "lab_trends",
    "series_stats",
    "trend",
    "trend_of_codes",
    "trends_by_unit",
]

_DAYS_PER_YEAR = 365.25


@dataclass(frozen=True, slots=True)
class TrendPoint:
    """One value of a series, converted to the trend's unit, citing its Observation."""

    date: str | None  # ISO YYYY-MM-DD
    value: float
    unit: str
    ref: str  # Observation/id
    path: str  # element path of the value
    original_value: float
    original_unit: str
    code: str
    date_source: str = "effectiveDateTime"
    range: str | None = None
    flag: str | None = None  # "H" / "L" against the range
    also: tuple[str, ...] = ()  # other Observations recording the same measurement

    def as_dict(self) -> dict[str, Any]:
        return {
            "also": list(self.also),
            "date": self.date,
            "value": self.value,
            "unit": self.unit,
            "ref": self.ref,
            "path": self.path,
            "original_value": self.original_value,
            "original_unit": self.original_unit,
            "code": self.code,
            "date_source": self.date_source,
            "range": self.range,
            "flag": self.flag,
        }


@dataclass
class Trend:
    """A cited time series with its statistics (see the module docstring)."""

    key: str
    code: str
    codes: tuple[str, ...]
    display: str
    unit: str
    points: list[TrendPoint]
    undated: list[str] = field(default_factory=list)
    ref_low: float | None = None
    ref_high: float | None = None
    ref_text: str | None = None
    ref_source: str | None = None
    slope_per_year: float | None = None
    direction: str = "insufficient data"
    change_abs: float | None = None
    change_pct: float | None = None
    threshold: float | None = None
    threshold_source: str = ""
    days_since_last: int | None = None
    flags: list[str] = field(default_factory=list)
    priority: int = 50

    @property
    def n(self) -> int:
        return len(self.points)

    @property
    def latest(self) -> TrendPoint | None:
        return self.points[-1] if self.points else None

    @property
    def first(self) -> TrendPoint | None:
        return self.points[0] if self.points else None

    @property
    def min(self) -> TrendPoint | None:
        return min(self.points, key=lambda p: p.value) if self.points else None

    @property
    def max(self) -> TrendPoint | None:
        return max(self.points, key=lambda p: p.value) if self.points else None

    @property
    def references(self) -> list[str]:
        """Every Observation cited (unique, in date order)."""
        return list(dict.fromkeys(r for p in self.points for r in (p.ref, *p.also)))

    @property
    def abnormal(self) -> bool:
        """The latest value is outside the reference range."""
        return any(f.startswith(("latest high", "latest low")) for f in self.flags)

    @property
    def changing(self) -> bool:
        """A clinically meaningful change (since the previous or the first value)."""
        return any(f.startswith("meaningful") for f in self.flags)

    def compact_line(self) -> str:
        """A shorter :meth:`summary_line` for budgets:
        ``HbA1c 3.014 % 1979-09-24 L (ref 4–5.6*); n=37 from 1969-11-17: first 6.058,
        min 2.491, max 6.058; falling -0.027/yr; ↓≥T vs first`` (``*`` = default range).
        """
        last = self.latest
        if last is None:
            return f"{self.display}: no dated values"
        u = f" {self.unit}" if self.unit else ""
        text = f"{self.display} {fmt_num(last.value)}{u} {last.date}"
        if last.flag:
            star = "" if self.ref_source == "Observation" else "*"
            text += f" {last.flag} (ref {self.ref_text}{star})"
        if self.n > 1 and self.first and self.min and self.max:
            text += (
                f"; n={self.n} from {self.first.date}: first {fmt_num(self.first.value)}, "
                f"min {fmt_num(self.min.value)}, max {fmt_num(self.max.value)}"
            )
            if self.slope_per_year is not None:
                text += f"; {self.direction} {fmt_num(self.slope_per_year, 2)}/yr"
        marks = []
        for f in self.flags:
            if f.startswith("meaningful"):
                arrow = "↑" if " rise " in f else "↓"
                marks.append(f"{arrow} vs {'prev' if 'previous' in f else 'first'}")
        if marks:
            text += "; meaningful " + ", ".join(marks)
        return text

    def summary_line(self) -> str:
        """``HbA1c 6.4 % on 2020-02-11 (H; ref 4–5.6 default); n=12 since 2011-03-04, …``."""
        last = self.latest
        if last is None:
            return f"{self.display}: no dated values"
        u = f" {self.unit}" if self.unit else ""
        text = f"{self.display}: {fmt_num(last.value)}{u} on {last.date}"
        if last.flag:
            text += f" ({last.flag}"
            text += (
                f"; ref {self.ref_text}"
                + (" default" if self.ref_source != "Observation" else "")
                + ")"
            )
        if self.n > 1 and self.first and self.min and self.max:
            text += (
                f"; n={self.n} since {self.first.date}, first {fmt_num(self.first.value)}, "
                f"min {fmt_num(self.min.value)}, max {fmt_num(self.max.value)}"
            )
            if self.slope_per_year is not None:
                text += f"; {self.direction} ({fmt_num(self.slope_per_year, 2)}{u}/yr)"
        meaningful = [f for f in self.flags if f.startswith("meaningful")]
        if meaningful:
            text += "; " + ", ".join(meaningful)
        return text

    def as_dict(self) -> dict[str, Any]:
        def pt(p: TrendPoint | None) -> dict[str, Any] | None:
            return p.as_dict() if p else None

        return {
            "key": self.key,
            "code": self.code,
            "codes": list(self.codes),
            "display": self.display,
            "unit": self.unit,
            "n": self.n,
            "points": [p.as_dict() for p in self.points],
            "undated": self.undated,
            "latest": pt(self.latest),
            "first": pt(self.first),
            "min": pt(self.min),
            "max": pt(self.max),
            "change_abs": self.change_abs,
            "change_pct": self.change_pct,
            "slope_per_year": self.slope_per_year,
            "direction": self.direction,
            "threshold": self.threshold,
            "threshold_source": self.threshold_source,
            "days_since_last": self.days_since_last,
            "reference_range": {
                "low": self.ref_low,
                "high": self.ref_high,
                "text": self.ref_text,
                "source": self.ref_source,
            },
            "flags": self.flags,
        }


# --------------------------------------------------------------------------- statistics


def theil_sen(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Median of the pairwise slopes ``(y_j - y_i) / (x_j - x_i)`` over ``x_i != x_j``."""
    slopes = [
        (ys[j] - ys[i]) / (xs[j] - xs[i])
        for i in range(len(xs))
        for j in range(i + 1, len(xs))
        if xs[j] != xs[i]
    ]
    return statistics.median(slopes) if slopes else None


def _threshold(measure: Measure, base: float, scale: float | None = 1.0) -> float:
    """T in the trend's unit (``scale`` converts the measure's unit to it)."""
    if measure.change_abs is not None and scale is not None:
        return measure.change_abs * abs(scale)
    rel = measure.change_rel if measure.change_rel is not None else 0.10
    return abs(base) * rel


# --------------------------------------------------------------------------- building


def _convert(p: NumPoint, measure: Measure, target: str) -> float | None:
    src = canonical_unit(p.unit)
    dst = canonical_unit(target)
    if (src, dst) in measure.affine:
        a, b = measure.affine[(src, dst)]
        return p.value * a + b
    if src == dst:
        return p.value
    try:
        return convert(p.value, src, dst, molar_mass=measure.molar_mass)
    except IncompatibleUnits:
        return None


def _target_unit(points: Sequence[NumPoint], measure: Measure, unit: str | None) -> str:
    if unit:
        return unit
    counts = Counter(canonical_unit(p.unit) for p in points)
    if measure.unit:
        if len(counts) == 1 and all(_convert(p, measure, measure.unit) is None for p in points):
            # every value in one unit that cannot be read in the measure's ("1" for a
            # hemoglobin): the values as recorded, in that unit, not none at all
            return next(iter(counts))
        return measure.unit
    best = max(counts.values())
    latest = max(points, key=lambda p: p.date or dt.date.min)
    return (
        canonical_unit(latest.unit)
        if counts[canonical_unit(latest.unit)] == best
        else counts.most_common(1)[0][0]
    )


def _range_in(p: NumPoint, measure: Measure, target: str) -> tuple[float | None, float | None]:
    """The Observation's own range converted to the trend's unit."""

    def conv(v: float | None) -> float | None:
        if v is None:
            return None
        return _convert(
            NumPoint(
                p.code,
                "",
                None,
                None,
                "",
                v,
                p.unit,
                p.unit_text,
                p.reference,
                p.path,
                None,
                None,
                None,
                None,
                "",
            ),
            measure,
            target,
        )

    return conv(p.ref_low), conv(p.ref_high)


def _build(
    view: RecordView,
    measure: Measure,
    unit: str | None,
    as_of: dt.date,
    only: frozenset[str] | None = None,
) -> Trend:
    raw = [
        p
        for code in measure.codes
        for p in view.points_by_code.get(code, [])
        if only is None or canonical_unit(p.unit) in only
    ]
    # one value per (Observation, path): a value coded with two codes of the same measure counts once
    seen: set[tuple[str, str]] = set()
    unique: list[NumPoint] = []
    # The same measurement recorded twice (e.g. a blood-pressure panel's systolic component
    # and a standalone systolic Observation with the same instant, value and unit) is one
    # point; the duplicate stays cited in ``also``.
    same: dict[tuple[str | None, str, float, str], NumPoint] = {}
    also: dict[tuple[str, str], list[str]] = {}
    for p in raw:
        if (p.reference, p.path) in seen:
            continue
        seen.add((p.reference, p.path))
        key = (p.date_text, p.code, p.value, p.unit)
        first = same.get(key) if p.date_text else None
        if first is not None and first.reference != p.reference:
            also.setdefault((first.reference, first.path), []).append(p.reference)
            continue
        same[key] = p
        unique.append(p)
    display = measure.label or (unique[-1].display if unique else "") or "+".join(measure.codes)
    if not unique:
        return Trend(
            measure.key,
            measure.codes[0],
            measure.codes,
            display,
            measure.unit,
            [],
            priority=measure.priority,
        )
    target = _target_unit(unique, measure, unit)
    default_range = _default_range(measure, view.sex, target)
    points: list[TrendPoint] = []
    undated: list[str] = []
    bad: list[str] = []
    obs_range: tuple[float | None, float | None, str | None] | None = None
    for p in sorted(unique, key=lambda p: (p.date or dt.date.min, p.reference, p.path)):
        value = _convert(p, measure, target)
        if value is None:
            bad.append(
                f"{p.reference} {p.path} = {fmt_num(p.value)} {p.unit_text or p.unit or '(no unit)'}"
            )
            continue
        if p.date is None:
            undated.append(p.reference)
            continue
        low, high, rtext = (None, None, None)
        if p.ref_low is not None or p.ref_high is not None:
            low, high = _range_in(p, measure, target)
            rtext = _range_text(low, high)
            obs_range = (low, high, rtext)
        elif default_range:
            low, high, rtext = default_range.low, default_range.high, default_range.text()
        flag = None
        if high is not None and value > high:
            flag = "H"
        elif low is not None and value < low:
            flag = "L"
        points.append(
            TrendPoint(
                p.date.isoformat(),
                value,
                target,
                p.reference,
                p.path,
                p.value,
                p.unit,
                p.code,
                p.date_source or "effectiveDateTime",
                rtext,
                flag,
                tuple(also.get((p.reference, p.path), ())),
            )
        )
    if bad:
        raise IncompatibleUnits(f"{display} values", target, bad)
    code = points[-1].code if points else measure.codes[0]
    t = Trend(measure.key, code if code in measure.codes else measure.codes[0], measure.codes, display, target,
              points, undated, priority=measure.priority)  # fmt: skip
    if obs_range and points[-1].range == obs_range[2]:
        t.ref_low, t.ref_high, t.ref_text, t.ref_source = (
            obs_range[0],
            obs_range[1],
            obs_range[2],
            "Observation",
        )
    elif default_range:
        t.ref_low, t.ref_high, t.ref_text = (
            default_range.low,
            default_range.high,
            default_range.text(),
        )
        t.ref_source = f"default: {default_range.source}"
    _stats(t, measure, as_of)
    return t


def _default_range(measure: Measure, sex: str | None, target: str) -> RefRange | None:
    """The default range, converted to the trend's unit (``None`` if it cannot be)."""
    rr = measure.range_for(sex)
    if rr is None or canonical_unit(target) == canonical_unit(measure.unit):
        return rr

    def conv(v: float | None) -> float | None:
        if v is None:
            return None
        a = measure.affine.get((canonical_unit(measure.unit), canonical_unit(target)))
        if a:
            return v * a[0] + a[1]
        factor = conversion(measure.unit, target, measure.molar_mass)
        return None if factor is None else v * factor

    low, high = conv(rr.low), conv(rr.high)
    if (rr.low is not None and low is None) or (rr.high is not None and high is None):
        return None
    return RefRange(
        None if low is None else float(fmt_num(low, 3)),
        None if high is None else float(fmt_num(high, 3)),
        rr.source + f" (converted to {target})",
        rr.sex,
    )


def _range_text(low: float | None, high: float | None) -> str | None:
    if low is None and high is None:
        return None
    return RefRange(low, high, "").text()


def _unit_scale(measure: Measure, target: str) -> float | None:
    """d(target)/d(measure unit): how an absolute difference converts (None: cannot)."""
    src, dst = canonical_unit(measure.unit), canonical_unit(target)
    if not src or src == dst:
        return 1.0
    if (src, dst) in measure.affine:
        return measure.affine[(src, dst)][0]
    if {src, dst} <= {"Cel", "K"}:
        return 1.0
    if {src, dst} <= {"Cel", "[degF]", "K"}:
        return 1.8 if dst == "[degF]" else 1 / 1.8
    return conversion(src, dst, measure.molar_mass)


def _stats(t: Trend, measure: Measure, as_of: dt.date) -> None:
    pts = t.points
    if not pts:
        return
    scale = _unit_scale(measure, t.unit)
    first, last = pts[0], pts[-1]
    last_date = dt.date.fromisoformat(str(last.date))
    t.days_since_last = (as_of - last_date).days
    t.change_abs = last.value - first.value
    t.change_pct = (t.change_abs / abs(first.value) * 100) if first.value else None
    xs = [dt.date.fromisoformat(str(p.date)).toordinal() / _DAYS_PER_YEAR for p in pts]
    ys = [p.value for p in pts]
    base = statistics.median(ys)
    t.threshold = _threshold(measure, base, scale)
    t.threshold_source = (
        measure.change_source
        if measure.change_abs or measure.change_rel
        else "project default (10 %)"
    )
    if len(set(xs)) >= 2:
        t.slope_per_year = theil_sen(xs, ys)
        span = max(xs) - min(xs)
        fitted = (t.slope_per_year or 0.0) * span
        if abs(fitted) >= t.threshold / 2 and t.threshold > 0:
            t.direction = "rising" if fitted > 0 else "falling"
        else:
            t.direction = "stable"
    if last.flag == "H":
        t.flags.append("latest high")
    elif last.flag == "L":
        t.flags.append("latest low")
    if len(pts) >= 2:
        prev = pts[-2]
        delta = last.value - prev.value
        if abs(delta) >= _threshold(measure, prev.value, scale) > 0:
            t.flags.append(
                f"meaningful {'rise' if delta > 0 else 'fall'} since previous ({fmt_num(prev.value)} on {prev.date})"
            )
        total = last.value - first.value
        if len(pts) > 2 and abs(total) >= _threshold(measure, first.value, scale) > 0:
            t.flags.append(
                f"meaningful {'rise' if total > 0 else 'fall'} since first ({fmt_num(first.value)} on {first.date})"
            )
    out = sum(1 for p in pts if p.flag)
    if out:
        t.flags.append(f"{out} of {len(pts)} out of range")


# --------------------------------------------------------------------------- typed statistics


class StatPoint(BaseModel):
    """One value used by a statistic: date, value in the series' unit, its Observation."""

    model_config = ConfigDict(frozen=True)

    date: str
    value: float
    ref: str


class SeriesStats(BaseModel):
    """Statistics computed by code over a series or a date window of it (inclusive).

    What a tool states about a series beyond its points: the count, first / last /
    min / max, the change (last − first) and its direction, the mean, and (whole
    series) the fitted yearly slope and its direction. Values are in ``unit`` (the
    trend's unit). ``refs``: the Observations the statistics rest on.
    """

    model_config = ConfigDict(frozen=True)

    measure: str
    codes: tuple[str, ...] = ()
    unit: str
    date_from: str | None = None
    date_to: str | None = None
    n: int
    values: tuple[StatPoint, ...] = ()
    first: StatPoint | None = None
    last: StatPoint | None = None
    min: StatPoint | None = None
    max: StatPoint | None = None
    change: float | None = None
    change_pct: float | None = None
    direction: Literal["increased", "decreased", "unchanged"] | None = None
    mean: float | None = None
    slope_per_year: float | None = None
    trend: str | None = None  # rising / falling / stable (fitted, whole series)
    reference_low: float | None = None
    reference_high: float | None = None
    reference_own: bool = False  # the range is the record's own, not a default table's
    refs: tuple[str, ...] = ()

    @property
    def window(self) -> bool:
        return self.date_from is not None or self.date_to is not None


def series_stats(
    t: Trend, date_from: dt.date | None = None, date_to: dt.date | None = None
) -> SeriesStats:
    """:class:`SeriesStats` of a trend, over its whole series or a window (inclusive)."""
    lo = date_from.isoformat() if date_from else "0000-00-00"
    hi = date_to.isoformat() if date_to else "9999-99-99"
    pts = [p for p in t.points if p.date and lo <= p.date[:10] <= hi]
    values = tuple(StatPoint(date=str(p.date), value=p.value, ref=p.ref) for p in pts)
    whole = date_from is None and date_to is None
    first, last = (values[0], values[-1]) if values else (None, None)
    change = last.value - first.value if first and last else None
    return SeriesStats(
        measure=t.display,
        codes=t.codes,
        unit=t.unit,
        date_from=date_from.isoformat() if date_from else None,
        date_to=date_to.isoformat() if date_to else None,
        n=len(values),
        values=values,
        first=first,
        last=last,
        min=min(values, key=lambda v: v.value) if values else None,
        max=max(values, key=lambda v: v.value) if values else None,
        change=change,
        change_pct=(change / abs(first.value) * 100)
        if change is not None and first and first.value
        else None,
        direction=None
        if change is None
        else ("increased" if change > 0 else "decreased" if change < 0 else "unchanged"),
        mean=statistics.fmean(v.value for v in values) if values else None,
        slope_per_year=t.slope_per_year if whole else None,
        trend=t.direction if whole and t.direction != "insufficient data" else None,
        reference_low=t.ref_low,
        reference_high=t.ref_high,
        reference_own=t.ref_source == "Observation",
        refs=tuple(dict.fromkeys(r for p in pts for r in (p.ref, *p.also))),
    )


# --------------------------------------------------------------------------- public API


def trend(
    record: Sequence[Resource] | RecordView,
    query: str | Sequence[str],
    *,
    unit: str | None = None,
    as_of: dt.date | None = None,
) -> list[Trend]:
    """The trend(s) of a lab or vital in a patient's record.

    Args:
        record: the patient's resources (or a prepared view).
        query: a name ("HbA1c", "eGFR", "blood pressure"), a LOINC code, or codes.
        unit: convert to this UCUM unit instead of the measure's default.
        as_of: reference date for ``days_since_last`` (default: today, UTC).

    Returns one :class:`Trend` per measure (two for blood pressure); a trend with no
    points when the record has no such values. Raises ``UnknownMeasure`` for an
    unknown name and ``IncompatibleUnits`` when values cannot share a unit.
    """
    view = view_of(record)
    as_of = as_of or dt.datetime.now(dt.UTC).date()
    return [_build(view, m, unit, as_of) for m in resolve_measures(query)]


def trend_of_codes(
    record: Sequence[Resource] | RecordView,
    codes: Sequence[str],
    *,
    measure_key: str | None = None,
    as_of: dt.date | None = None,
) -> Trend:
    """One series over any codes the record uses for an analyte — LOINC or a lab's own
    local codes — with the analyte's measure (unit, default range, change threshold)
    when ``measure_key`` (or one of the codes) names a known one. Values in another
    unit are converted to the measure's unit; ``IncompatibleUnits`` when they cannot be,
    ``UnknownMeasure`` when no code is given.
    """
    view = view_of(record)
    as_of = as_of or dt.datetime.now(dt.UTC).date()
    return _build(view, _measure_of(codes, measure_key), None, as_of)


def _measure_of(codes: Sequence[str], measure_key: str | None) -> Measure:
    """The measure of those codes: the known one ``measure_key`` or a code names, with
    the codes as given, else an ad-hoc measure of them."""
    wanted = tuple(dict.fromkeys(c for c in codes if c))
    if not wanted:
        raise UnknownMeasure("(no codes)")
    base = next((m for m in MEASURES if m.key == measure_key), None) if measure_key else None
    base = base or next((m for c in wanted if (m := measure_for_code(c))), None)
    return replace(base, codes=wanted) if base else adhoc_measure(wanted)


def trends_by_unit(
    record: Sequence[Resource] | RecordView,
    codes: Sequence[str],
    *,
    measure_key: str | None = None,
    as_of: dt.date | None = None,
) -> list[Trend]:
    """The series of those codes split by unit, where :func:`trend_of_codes` refuses
    them (``IncompatibleUnits``): one series for each group of units that convert to one
    another, the most used first, the measure's own unit kept for its group. A value in
    a unit nothing else is in is a series of its own, never dropped."""
    view = view_of(record)
    as_of = as_of or dt.datetime.now(dt.UTC).date()
    measure = _measure_of(codes, measure_key)
    used = Counter(
        canonical_unit(p.unit) for c in measure.codes for p in view.points_by_code.get(c, [])
    )
    groups: list[list[str]] = []
    for u, _n in used.most_common():
        group = next(
            (
                g
                for g in groups
                if (u, g[0]) in measure.affine
                or conversion(u, g[0], measure.molar_mass) is not None
            ),
            None,
        )
        if group is None:
            groups.append([u])
        else:
            group.append(u)
    own = canonical_unit(measure.unit) if measure.unit else None
    return [_build(view, measure, own if own in g else g[0], as_of, frozenset(g)) for g in groups]


def lab_trends(
    record: Sequence[Resource] | RecordView,
    *,
    as_of: dt.date | None = None,
    known_only: bool = False,
) -> list[Trend]:
    """Every numeric series in the record, ordered by clinical priority.

    Known measures (:data:`tools.codes.MEASURES`) first; other numeric codes follow as
    ad-hoc series unless ``known_only``. Codes whose values cannot share a unit are
    skipped (ask :func:`trend` for them to see the error).
    """
    view = view_of(record)
    as_of = as_of or dt.datetime.now(dt.UTC).date()
    out: list[Trend] = []
    used: set[str] = set()
    for m in MEASURES:
        if any(code in view.points_by_code for code in m.codes):
            used.update(m.codes)
            try:
                t = _build(view, m, None, as_of)
            except IncompatibleUnits:
                continue
            if t.points:
                out.append(t)
    if not known_only:
        for code in sorted(view.points_by_code):
            if code in used or measure_for_code(code):
                continue
            if not code[:1].isdigit() or "-" not in code:  # LOINC-shaped codes only
                continue
            try:
                t = _build(view, adhoc_measure((code,)), None, as_of)
            except IncompatibleUnits:
                continue
            if t.points:
                out.append(t)
    out.sort(key=lambda t: (t.priority, t.display.lower()))
    return out

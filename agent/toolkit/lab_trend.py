"""``lab_trend``: a lab or vital series by name or LOINC code, with statistics computed by
code (count, first / last, min / max, change and direction, mean; the fitted trend for
the whole series), optionally inside a date window (inclusive).

The statistics become typed support for the series' handle (a sentence stating the
window's mean or change is checked against them); a sentence citing a window rests on
the window's Observations. No values → an absence item naming the codes searched.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import Field

from tools._record import fmt_num
from tools.brief import ago_said, interval_said, overdue_lines, plain
from tools.codes import MEASURES, measure_for_code, resolve_measures
from tools.errors import IncompatibleUnits, RecordToolError
from tools.evidence import Coding, EvidenceItem, EvidenceSet, SearchScope, item_concepts
from tools.summary import handle_index, trend_line
from tools.terminology import Polarity, Terminology, default_terminology
from tools.trends import (
    SeriesStats,
    StatPoint,
    Trend,
    lab_trends,
    series_stats,
    trend,
    trend_of_codes,
    trends_by_unit,
)
from tools.units import canonical_unit, display_unit

from ..conditions import compares
from ..context import AgentContext
from ..errors import ToolCallError
from ..guard import scrub
from ._base import (
    ANY_ASK,
    Tool,
    ToolArgs,
    ToolResult,
    absence,
    ensure_evidence,
    named_concepts,
    no_care_due,
    parse_date,
)

__all__ = ["TOOL", "LabTrendArgs", "lab_trend"]

_LOINC = "http://loinc.org"
#: from this age, a result is read against the adult categories (WHO BMI, KDIGO GFR)
_ADULT_AGE = 18


class LabTrendArgs(ToolArgs):
    name: str | None = Field(None, max_length=80, description="e.g. HbA1c, eGFR, blood pressure")
    code: str | None = Field(None, max_length=40, description="LOINC")
    date_from: str | None = Field(None, max_length=30, description="YYYY-MM-DD")
    date_to: str | None = Field(None, max_length=30)
    last: int | None = Field(None, ge=1, le=50, description="the N most recent results")
    threshold: str | None = Field(
        None,
        max_length=40,
        description="a threshold the question states, e.g. '>100', '<140/90', '>=7 %'",
    )
    out_of_range: bool = Field(
        False,
        description="true, with no name: every lab or vital whose latest value is out of range",
    )
    overdue: bool = Field(
        False,
        description="true, with no name: every key lab past its usual retest interval; with "
        "a name, that lab's last result against its interval",
    )


def _num(x: float) -> str:
    return f"{x:.4g}"


def window_line(t: Trend, s: SeriesStats, d_from: dt.date | None, d_to: dt.date | None) -> str:
    """The values of a trend inside a window (up to 12 shown), first, last, change and
    direction, mean — rendered from the typed statistics."""
    window = f"from {d_from or 'the first value'} to {d_to or 'the last value'}"
    if not s.values or s.first is None or s.last is None or s.mean is None:
        return f"no {t.display} values {window} (inclusive)"
    pts = list(s.values)
    shown = pts if len(pts) <= 12 else [*pts[:6], *pts[-6:]]
    values = ", ".join(f"{_num(p.value)} on {p.date}" for p in shown)
    if len(pts) > len(shown):
        values += f" ({len(pts) - len(shown)} more in between)"
    unit = t.unit
    age = ""
    if d_to is not None:  # how old the last one is on the window's end: code counts days
        try:
            age = f" ({(d_to - dt.date.fromisoformat(s.last.date[:10])).days} days before {d_to})"
        except ValueError:
            age = ""
    return (
        f"{t.display} {window} (inclusive), {s.n} value(s) in {unit}: {values}; "
        f"first {_num(s.first.value)} {unit} on {s.first.date}, last {_num(s.last.value)} {unit} on "
        f"{s.last.date}{age}; change last - first {s.change or 0:+.4g} {unit} ({s.direction}); "
        f"mean {_num(s.mean)} {unit}"
    )


_MEASURE_KEYS = {m.key for m in MEASURES}
_SERIES_KINDS = ("lab", "vital", "assessment")


def _by_concept(
    ev: EvidenceSet, query: str, term: Terminology
) -> list[tuple[str | None, list[EvidenceItem]]]:
    """The record's numeric series a name or code stands for, grouped by analyte: a lay
    term, an abbreviation or a group ("kidney function" → eGFR and creatinine), and
    series under a lab's own local codes (found by their codes' meaning or display)."""
    series = [i for i in ev.items if i.kind == "observation" and i.values]
    code = query.strip()
    matched: dict[str | None, list[EvidenceItem]] = {}
    direct = [i for i in series if any(c.code == code for c in i.codings)]
    if direct:
        return [(None, direct)]
    wanted = [c for c in named_concepts(term, query) if c.kind in _SERIES_KINDS]
    if not wanted:
        return []
    for item in series:
        named = [c for c in item_concepts(item, term) if any(term.implies(c, w) for w in wanted)]
        # keyed by the most specific ("iop?": the right eye's and the left eye's series,
        # each coded also as intraocular pressure, are two series, not one of both eyes)
        key = next(
            (c for c in named if not any(o is not c and term.implies(o, c) for o in named)), None
        )
        if key is not None:
            matched.setdefault(key.id, []).append(item)
    return list(matched.items())


_LOINC_SHAPED = re.compile(r"\d{1,7}-\d")
#: a code, not a name: a LOINC code, or a lab's own ("CHEM-TROPHS"): capitals and digits
_CODE_SHAPED = re.compile(r"\d{1,7}-\d|[A-Z][A-Z0-9]*(?:[-_][A-Z0-9]+)+")


def _trends(ctx: AgentContext, ev: EvidenceSet, query: str) -> list[Trend]:
    """Trends by the measure table (names, LOINC codes), else by the terminology and the
    record's own codes; a table trend that finds no values is retried the second way."""
    record = ctx.cache.record or []
    as_of = ctx.as_of or ev.as_of
    known: list[Trend] = []
    try:
        known = trend(record, query, as_of=as_of)
    except IncompatibleUnits:  # values in units that cannot be read as one: each said in
        # its own unit, never none
        known = [
            t
            for m in resolve_measures(query)
            for t in trends_by_unit(record, m.codes, measure_key=m.key, as_of=as_of)
        ]
    except RecordToolError:
        known = []
    if any(t.points for t in known):
        return known
    out: list[Trend] = []
    for key, items in _by_concept(ev, query, ctx.terminology or default_terminology()):
        codes = [c.code for i in items for c in i.codings if c.code]
        # a code another series holds too (the right and the left eye's pressures, both
        # also coded "Intraocular pressure") would fetch that series' results as well
        mine = {id(i) for i in items}
        shared = {
            c.code
            for i in ev.items
            if i.kind == "observation" and id(i) not in mine
            for c in i.codings
        }
        codes = [c for c in codes if c not in shared] or codes
        if not codes:  # series named by their display alone: not a series of codes
            continue
        measure_key = key if key in _MEASURE_KEYS else None
        try:
            out.append(trend_of_codes(record, codes, measure_key=measure_key, as_of=as_of))
        except IncompatibleUnits:  # each unit's values apart, never none
            out.extend(trends_by_unit(record, codes, measure_key=measure_key, as_of=as_of))
    if out:
        return out
    if known:
        return known
    term = ctx.terminology or default_terminology()
    wanted = [c for c in named_concepts(term, query) if c.kind in _SERIES_KINDS]
    if wanted:  # a test this record never had: an empty series, said so (and citable)
        c = wanted[0]
        codes = list(c.code_in("http://loinc.org") or sorted(term.analyte(c)) or (c.id,))
        return [Trend(c.id, codes[0], tuple(codes), c.name, "", [])]
    if _CODE_SHAPED.fullmatch(query.strip()):  # a code the record does not hold: said so
        return [Trend(query.strip(), query.strip(), (query.strip(),), "", "", [])]
    raise ToolCallError(
        f"no lab or vital series in this record matches {query!r}; try another name, a LOINC code, "
        "or search_record with resource_type Observation"
    )


def _shown_unit(unit: str | None) -> str:
    """A unit as a clinician writes it, after a space (``mL/min/{1.73_m2}`` →
    " mL/min/1.73 m²"; a score's ``{score}`` is none): :func:`tools.units.display_unit`."""
    shown = display_unit(unit)
    return f" {shown}" if shown else ""


def series_statement(name: str, st: SeriesStats) -> str:
    """A series as a person reads it: the latest value, the one before it, how many results
    since when, the first and the change, the mean; every figure the tool's own
    statistic (answers taken from the record when no model sentence holds)."""
    unit = _shown_unit(st.unit)

    def value(p: StatPoint) -> str:
        return f"{fmt_num(p.value)}{unit} on {p.date[:10]}"

    if st.last is None:
        return f"{name}: no results"
    if st.n == 1 or st.first is None:
        return f"{name}: {value(st.last)}, the only result" + (
            " in that period" if st.window else ""
        )
    span = (
        f"from {st.date_from or st.first.date[:10]} to {st.date_to or st.last.date[:10]}"
        if st.window
        else f"since {st.first.date[:10]}"
    )
    text = f"{name}: {value(st.last)}, the latest of {st.n} results {span}"
    before = next((p for p in reversed(st.values) if p.date[:10] != st.last.date[:10]), None)
    if before is not None and before.date[:10] == st.first.date[:10]:
        text += f"; the one before it, the first, was {value(st.first)}"  # two days only
    else:
        if before is not None:  # of another day (a same-day twin is no "one before")
            text += f"; the one before it was {value(before)}"
        text += f"; the first was {value(st.first)}"
    if st.change is not None and st.direction:
        moved = {"increased": "up", "decreased": "down"}.get(st.direction)
        text += (
            f", so it went {moved} by {fmt_num(abs(st.change))}{unit}"
            if moved
            else ", so it is unchanged"
        )
    if st.mean is not None:
        text += f"; mean {fmt_num(st.mean)}{unit}"
    return text


def _nearest_outside(
    ctx: AgentContext,
    ev: EvidenceSet,
    index: dict[tuple[str, str], str],
    t: Trend,
    d_from: dt.date | None,
    d_to: dt.date | None,
) -> tuple[str, EvidenceItem] | None:
    """A series with no result in a period: its latest result before the period, else its
    first after it (said, and the item that holds it)."""
    whole = series_stats(t, None, None)
    before = [p for p in whole.values if d_from and p.date[:10] < d_from.isoformat()]
    after = [p for p in whole.values if d_to and p.date[:10] > d_to.isoformat()]
    point, which, where = (
        (before[-1], "the latest result", "before")
        if before
        else (after[0], "the first result", "after")
        if after
        else (None, "", "")
    )
    if point is None:
        return None
    handle = next(
        (h for p in t.points if p.ref == point.ref and (h := index.get((p.ref, p.path)))), None
    )
    if handle is None:
        return None
    unit = _shown_unit(whole.unit)
    said = (
        f"{plain(t.display) or _named(ctx, t)}: {which}, {fmt_num(point.value)}{unit} on "
        f"{point.date[:10]}, is {where} that period"
    )
    return scrub(said, ctx.patient_id), ev.get(handle)


def recent_statement(name: str, st: SeriesStats, last: int) -> str:
    """The ``last`` most recent results of a series, the most recent first ("her last 3
    A1cs"); all of them, said so, when the series holds no more."""
    unit = _shown_unit(st.unit)
    latest = list(reversed(st.values))[:last]
    said = "; ".join(f"{fmt_num(p.value)}{unit} on {p.date[:10]}" for p in latest)
    if len(latest) < last:
        scope = " in that period" if st.window else ""
        n = len(latest)
        head = (
            f"the only result{scope}"
            if n == 1
            else f"all {n} results{scope}, the most recent first"
        )
        return f"{name}: {head}: {said}"
    return f"{name}: the last {len(latest)} results, the most recent first: {said}"


#: which way is good for a measure (the terminology's polarity, from the guideline sources
#: cited in the data files), said beside a change so that "is it better?" is answered
_BETTER_WAY = {"higher_worse": "lower is better", "higher_better": "higher is better"}


def lead_statements(
    name: str, st: SeriesStats, polarity: Polarity | None = None, *, adult: bool = True
) -> dict[str, str]:
    """A series said with the statistic a question asks for first: how many results, their
    mean, the change from the first to the last, the latest against the one before (of
    another day), the lowest and highest (every figure the
    tool's own statistic; :func:`series_statement` says it all in reading order). With the
    measure's ``polarity``, a change says which way is better ("for HbA1c, lower is
    better"), never whether this change matters."""
    way = f"; for {name}, {_BETTER_WAY[polarity]}" if polarity else ""
    if st.last is None or st.first is None:
        return {}
    unit = _shown_unit(st.unit)

    def at(p: StatPoint) -> str:
        return f"{fmt_num(p.value)}{unit} on {p.date[:10]}"

    span = (
        f"from {st.date_from or st.first.date[:10]} to {st.date_to or st.last.date[:10]}"
        if st.window
        else f"since {st.first.date[:10]}"
    )
    n = f"{st.n} result{'' if st.n == 1 else 's'}"
    only = f"{name}: {at(st.last)}, the only result{' in that period' if st.window else ''}"
    out = {
        "count": f"{name}: {n} {span}, the latest {at(st.last)}",
        "first": f"{name}: the first result, {at(st.first)}, of {n} {span}",
        # ("a year ago": the most recent of those up to then, said so)
        "latest": (
            f"{name}: {at(st.last)}, the most recent of {n}{f' {span}' if st.window else ''}"
            if st.n > 1
            else only
        ),
    }
    if st.mean is not None:
        out["mean"] = f"{name}: mean {fmt_num(st.mean)}{unit} over {n} {span}"
    if st.change is not None and st.n > 1:
        moved = {"increased": "up", "decreased": "down"}.get(st.direction or "", "unchanged")
        out["change"] = (
            f"{name}: changed by {st.change:+.4g}{unit} ({moved}) from the first, "
            f"{at(st.first)}, to the last, {at(st.last)}{way if st.change else ''}"
        )
    before = next((p for p in reversed(st.values) if p.date[:10] != st.last.date[:10]), None)
    # (a same-day twin skipped, unless every result is of that day: serial troponins)
    same_day = before is None and len(st.values) > 1
    if same_day:
        before = st.values[-2]
    if before is not None:  # "higher or lower than the one before?"
        diff = st.last.value - before.value
        how = "higher than" if diff > 0 else "lower than" if diff < 0 else "the same as"
        by = f" (by {fmt_num(abs(diff))}{unit})" if diff else ""
        earlier = "the one before it that day" if same_day else "the one before"
        out["previous"] = (
            f"{name}: the latest, {at(st.last)}, is {how} {earlier}, {at(before)}{by}"
            f"{way if diff else ''}"
        )
    if st.n == 1:  # "how has it changed?" of one result: nothing to compare it with
        out["change"] = out["previous"] = f"{only}, so there is no change to show"
    if st.min is not None and st.max is not None:
        out["range"] = f"{name}: lowest {at(st.min)}, highest {at(st.max)} ({n} {span})"
        extremes = _extremes_against_range(st)
        if extremes:  # "was her potassium ever high?": the highest against the range
            out["range"] += f"; {extremes}"
    in_range = _against_range(st)
    band = _band(st) if adult else None  # (the adult categories; a child's BMI is read
    # against percentiles for age, which are another series)
    judged = [x for x in (in_range and f"is {in_range}", _against_goal(st), band) if x]
    if judged:  # "is it high?", "is it controlled?": the latest against the reference
        # range (and whose range), and against the usual treatment goal where one is known
        out["judge"] = f"{name}: the latest, {at(st.last)}, {', and '.join(judged)}"
    return out


_THRESHOLD = re.compile(
    r"\s*(?:(>=|<=|>|<)\s*(\d+(?:\.\d+)?)(?:\s*/\s*(\d+(?:\.\d+)?))?"
    r"|(\d+(?:\.\d+)?)\s*-\s*(\d+(?:\.\d+)?))\s*(\S[^<>=]*?)?\s*"
)
_COMPARED = {">": "above", ">=": "at least", "<": "below", "<=": "at most"}
_SYSTOLIC, _DIASTOLIC = "8480-6", "8462-4"
#: units a body measure is given in under one convention and asked of in another (kg or
#: lb, cm or in, °C or °F): a threshold of those series must say its unit
_TWO_CONVENTIONS = frozenset({"kg", "g", "cm", "m", "Cel", "[degF]", "[lb_av]", "[in_i]", "[ft_i]"})


@dataclass(frozen=True)
class Limit:
    """A threshold the question states, in the series' unit: a comparison (``>``, ``>=``,
    ``<``, ``<=``) with ``low``, or ``between`` ``low`` and ``high`` (inclusive)."""

    op: str
    low: float
    high: float | None = None

    def holds(self, value: float) -> bool:
        if self.op == "between":
            return self.low <= value <= (self.high if self.high is not None else self.low)
        return compares(value, self.op, self.low)

    def said(self, unit: str) -> str:
        if self.op == "between":
            return f"between {fmt_num(self.low)} and {fmt_num(self.high or self.low)}{unit}"
        return f"{_COMPARED[self.op]} {fmt_num(self.low)}{unit}"


@dataclass(frozen=True)
class _Threshold:
    """A ``threshold`` argument as written (">100", "<140/90", ">=7 %", "3.5-5"), parsed
    once for every series it is applied to."""

    op: str | None  # None: a range
    first: str | None
    second: str | None  # of a blood pressure, the diastolic's
    low: str | None
    high: str | None
    unit: str | None

    @classmethod
    def parse(cls, spec: str) -> _Threshold:
        m = _THRESHOLD.fullmatch(spec)
        if m is None:
            raise ToolCallError(
                f"threshold {spec!r}: write it as '>100', '<140/90', '>=7 %' or '3.5-5'"
            )
        return cls(*m.groups())

    def limit_for(self, t: Trend, pair: bool) -> Limit | None:
        """The limit it sets for the series ``t``, in the series' unit: of a blood pressure
        "140/90", the systolic's 140 and the diastolic's 90; a single number of a blood
        pressure (``pair``: both series found) is the systolic's. None when it sets none
        for ``t``, or its unit is not the series' (or, of a weight, a height or a
        temperature, is not said)."""
        if self.second is not None:
            limit = (
                self.first if _SYSTOLIC in t.codes
                else self.second if _DIASTOLIC in t.codes
                else None
            )  # fmt: skip
        else:
            limit = None if pair and _DIASTOLIC in t.codes else (self.first or self.low)
        if limit is None:
            return None
        series_unit = canonical_unit(t.unit)
        if self.unit and canonical_unit(self.unit).casefold() != series_unit.casefold():
            return None  # "over 200 lb" of a series in kg: the model reads it
        if not self.unit and series_unit in _TWO_CONVENTIONS:
            return None  # "weight over 200?": pounds or kilograms, which it does not say
        if self.op is None and self.low is not None and self.high is not None:
            return Limit("between", *sorted((float(self.low), float(self.high))))
        value = float(limit)
        if not self.unit and series_unit == "%" and 0 < value < 1:
            value *= 100  # "FEV1/FVC below 0.7?" of a series in %: a fraction, 70 %
        return Limit(self.op or ">", value)


def threshold_leads(name: str, st: SeriesStats, limit: Limit) -> dict[str, str]:
    """A series against a threshold the question states: ``threshold`` the latest
    against it ("is her LDL over 100?"), ``beyond`` the results beyond it ("any
    potassium over 5?"), ``count_beyond`` the same without a yes or no ("how many
    readings over 140?"); each with the count of results beyond it, which the verifier
    counts again."""
    if st.last is None or st.first is None:
        return {}
    unit = _shown_unit(st.unit)
    said = limit.said(unit)

    def at(p: StatPoint) -> str:
        return f"{fmt_num(p.value)}{unit} on {p.date[:10]}"

    def holds(p: StatPoint) -> bool:
        return limit.holds(p.value)

    span = (
        f"from {st.date_from or st.first.date[:10]} to {st.date_to or st.last.date[:10]}"
        if st.window
        else f"since {st.first.date[:10]}"
    )
    beyond = [p for p in reversed(st.values) if holds(p)]  # the most recent first
    k, n, last = len(beyond), st.n, st.last
    yes = "Yes" if holds(last) else "No"
    latest = f"{name}: the latest, {at(last)}, is {'' if holds(last) else 'not '}{said}"
    if n == 1:
        only = f"{name}: the only result{' in that period' if st.window else ''}, {at(last)}, is "
        latest = first = only + f"{'' if holds(last) else 'not '}{said}"
        first_yes = yes
    elif k in (0, n):  # none beyond it, or all: and the one nearest it (of a range, none)
        up = limit.op in (">", ">=")
        every = (
            f"none of the {n} results {span} was {said}"
            if k == 0
            else f"all {n} results {span} were {said}"
        )
        nearest, extreme = (st.max, "highest") if up == (k == 0) else (st.min, "lowest")
        tail = f"; the {extreme} was {at(nearest)}" if nearest and limit.op != "between" else ""
        latest, first, first_yes = f"{latest}; {every}", f"{name}: {every}{tail}", yes
    else:
        some = f"{k} of the {n} results {span} {'was' if k == 1 else 'were'} {said}"
        shown = ", ".join(at(p) for p in beyond[:6]) + (f", and {k - 6} more" if k > 6 else "")
        recent = "" if holds(last) else f", the most recent {at(beyond[0])}"
        after = "" if holds(last) else f"; the latest is {at(last)}"
        latest, first, first_yes = (
            f"{latest}; {some}{recent}",
            f"{name}: {some}: {shown}{after}",
            "Yes",
        )
    return {
        "threshold": f"{yes} — {latest}",
        "beyond": f"{first_yes} — {first}",
        "count_beyond": first,
    }


def _against_goal(st: SeriesStats) -> str | None:
    """The latest value against the measure's usual treatment goal ("meets the usual
    treatment goal (below 7 %, per ADA)"), or None when none is known. The condition the
    goal is for is not named: the sentence is about the result, and cites only it."""
    goal = next((m.goal for m in map(measure_for_code, st.codes) if m is not None and m.goal), None)
    if goal is None or st.last is None:
        return None
    unit = _shown_unit(st.unit)
    verdict = "meets" if goal.met(st.last.value) else "does not meet"
    return f"{verdict} the usual treatment goal ({goal.text()}{unit}, per {goal.by})"


def _band(st: SeriesStats) -> str | None:
    """The latest value's category where the measure has categories ("in the WHO adult
    BMI categories, overweight (25–29.9)"; KDIGO's GFR categories), or None."""
    m = next((m for m in map(measure_for_code, st.codes) if m is not None and m.bands), None)
    band = m.band_of(st.last.value) if m is not None and st.last is not None else None
    if m is None or band is None:
        return None
    return f"is, in the {m.bands_by}, {band[0]} ({band[1]}{_shown_unit(st.unit)})"


def _extremes_against_range(st: SeriesStats) -> str | None:
    """The lowest and highest results against the series' reference range ("the highest
    above the reference range 3.5–5.1 mmol/L (as the record gives it), the lowest within
    it"), or None when there is no range."""
    low, high = st.reference_low, st.reference_high
    if st.min is None or st.max is None or (low is None and high is None):
        return None
    shown = _against_range(st.model_copy(update={"last": st.max}))
    if shown is None:
        return None
    lowest = (
        "below it" if low is not None and st.min.value < low
        else "above it" if high is not None and st.min.value > high
        else "within it"
    )  # fmt: skip
    return f"the highest {shown}, the lowest {lowest}"


def _against_range(st: SeriesStats) -> str | None:
    """The latest value against the series' reference range ("above the reference range
    4–5.6 % (as the record gives it)"), or None when there is no range."""
    low, high, last = st.reference_low, st.reference_high, st.last
    if last is None or (low is None and high is None):
        return None
    unit = _shown_unit(st.unit)
    if low is not None and high is not None:
        shown = f"{fmt_num(low)}–{fmt_num(high)}{unit}"
    elif high is not None:
        shown = f"up to {fmt_num(high)}{unit}"
    elif low is not None:
        shown = f"from {fmt_num(low)}{unit}"
    where = (
        "above" if high is not None and last.value > high
        else "below" if low is not None and last.value < low
        else "within"
    )  # fmt: skip
    whose = (
        "as the record gives it" if st.reference_own else "a default range: the record gives none"
    )
    return f"{where} the reference range {shown} ({whose})"


def _named(ctx: AgentContext, t: Trend) -> str:
    """What a series is called in a sentence: its name, not a bare code ("no urine protein
    results", not "no 5804-0 values"); the code only when no name is known for it."""
    if t.display and t.display not in t.codes:
        return t.display
    term = ctx.terminology or default_terminology()
    for code in t.codes:
        concepts = term.concepts_of(_LOINC, code)
        if concepts:
            return concepts[0].name
    if not t.codes:
        return "such"
    return f"{'LOINC' if _LOINC_SHAPED.fullmatch(t.codes[0]) else 'code'} {t.codes[0]}"


async def lab_trend(ctx: AgentContext, args: LabTrendArgs) -> ToolResult:
    query = args.name or args.code or ""
    if not query and args.out_of_range:
        return await _out_of_range(ctx, args)
    if not query and args.overdue:
        return await _overdue(ctx)
    if not query:
        raise ToolCallError("lab_trend needs name or code (or out_of_range=true, or overdue=true)")
    ev = await ensure_evidence(ctx)
    trends = _trends(ctx, ev, query)
    index = handle_index(ev)
    d_from, d_to = parse_date(args.date_from, "date_from"), parse_date(args.date_to, "date_to")
    threshold = _Threshold.parse(args.threshold) if args.threshold else None
    result = ToolResult([])
    dead = no_care_due(ctx, ev, result) if args.overdue else []  # nothing is due then
    adult = not any(
        i.demographics and i.demographics.age is not None and i.demographics.age < _ADULT_AGE
        for i in ev.section("patient")
    )
    for t in trends:
        window = bool(d_from or d_to)
        stats = series_stats(t, d_from, d_to)
        if not stats.values:
            scope = SearchScope(
                resource_types=("Observation",),
                codes=tuple(
                    Coding(system=_LOINC if _LOINC_SHAPED.fullmatch(c) else None, code=c)
                    for c in t.codes
                ),
                name=t.display,
                date_from=d_from.isoformat() if d_from else None,
                date_to=d_to.isoformat() if d_to else None,
            )
            none = absence(ctx, ev, scope, f"{_named(ctx, t)} results")
            result.lines.append(none.line)
            result.add(ctx, none)
            result.statements.append((none.text, [none.handle]))
            nearest = _nearest_outside(ctx, ev, index, t, d_from, d_to) if window else None
            if nearest is not None:
                # "her A1cs over the last 3 years", none then: when the nearest one was
                # (an overdue test shows), whatever the question asks of that period
                said, item = nearest
                result.lines.append(item.line)
                result.add(ctx, item)
                result.statements.append((said, [item.handle]))
                both = [(none.text, [none.handle]), (said, [item.handle])]
                result.leads.setdefault(ANY_ASK, []).extend(both)
            continue
        if window:
            handles = list(
                dict.fromkeys(
                    h for p in t.points if p.ref in stats.refs and (h := index.get((p.ref, p.path)))
                )
            )
            text = f"{window_line(t, stats, d_from, d_to)} [{', '.join(handles)}]"
        else:
            line = trend_line(t, index, compact=False)
            handles = line.handles
            text = f"{line.text} [{', '.join(handles)}]"
        result.lines.append(scrub(text, ctx.patient_id))
        if handles:
            name = plain(t.display) or _named(ctx, t)
            said = series_statement(name, stats)
            result.statements.append((scrub(said, ctx.patient_id), list(handles)))
            polarity = next(
                (
                    c.polarity
                    for h in handles[:1]
                    for c in item_concepts(ev.get(h), ctx.terminology or default_terminology())
                    if c.polarity
                ),
                None,
            )
            leads = lead_statements(name, stats, polarity, adult=adult)
            limit = threshold.limit_for(t, pair=len(trends) > 1) if threshold else None
            if limit is not None:  # "ldl > 100?", "any potassium over 5?"
                leads.update(threshold_leads(name, stats, limit))
            due = _due_statement(t, name) if args.overdue and not dead else None
            if due is not None:  # "when is her next a1c due?": its last against its interval
                leads["judge"] = due
            if "latest" in leads:  # "was her A1c checked?", "any lipids this year?" (read
                # as "ever" by agent.understand): yes, and the latest of them; never a
                # "yes" to any other question ("is he growing normally?")
                leads["ever"] = f"Yes — {leads['latest']}"
            for ask, text in leads.items():
                result.leads.setdefault(ask, []).append(
                    (scrub(text, ctx.patient_id), list(handles))
                )
            if args.last:  # "her last 3 A1cs": those results, each cited
                latest = list(reversed(stats.values))[: args.last]
                refs = {p.ref for p in latest}
                cited = list(
                    dict.fromkeys(
                        h for p in t.points if p.ref in refs and (h := index.get((p.ref, p.path)))
                    )
                )
                for h in cited:
                    if h not in handles:
                        result.add(ctx, ev.get(h))
                result.leads.setdefault("recent", []).append(
                    (scrub(recent_statement(name, stats, args.last), ctx.patient_id), cited)
                )
        for h in handles:
            item = ev.get(h)
            mine = set(item.references)
            result.add(ctx, item, [stats], [r for r in stats.refs if r in mine] if window else ())
    if dead:  # "when is his next a1c due?", of a patient who has died
        result.leads["judge"] = dead
    _units_apart(ctx, trends, result)
    return result


def _units_apart(ctx: AgentContext, trends: Sequence[Trend], result: ToolResult) -> None:
    """Of a test whose results are in units that cannot be read as one (split by
    :func:`tools.trends.trends_by_unit`), say so first, whatever is asked: each unit's
    series is said apart ("the only result" is the only one in that unit), and none
    stands for all."""
    units: dict[str, list[Trend]] = {}
    for t in trends:
        units.setdefault(t.key, []).append(t)
    for split in (ts for ts in units.values() if len(ts) > 1):
        name = plain(split[0].display) or _named(ctx, split[0])
        shown = ", ".join(display_unit(t.unit) or t.unit or "no unit" for t in split)
        n = sum(len(t.points) for t in split)
        said = (
            f"{name}: {n} results in units that cannot be read as one ({shown}); each unit's "
            "said apart, not compared"
        )
        handles = [h for _s, hs in result.statements for h in hs if h in result.seen]
        head = (scrub(said, ctx.patient_id), list(dict.fromkeys(handles)))
        result.statements.insert(0, head)
        for lead in result.leads.values():
            lead.insert(0, head)


def _due_statement(t: Trend, name: str) -> str | None:
    """A key lab's last result against its usual retest interval ("HbA1c: last
    2021-03-11, 4 years ago; usually repeated every 6 months: overdue since 2021-09-09"),
    or ``None`` when the lab has no such interval or no result."""
    m = next(filter(None, map(measure_for_code, t.codes)), None)
    if m is None or not m.retest_days or t.latest is None or t.days_since_last is None:
        return None
    if not t.latest.date:
        return None
    last = dt.date.fromisoformat((t.latest.date or "")[:10])
    due = last + dt.timedelta(days=m.retest_days)
    verdict = (
        f"overdue since {due.isoformat()}"
        if t.days_since_last > m.retest_days
        else f"next due {due.isoformat()}"
    )
    return (
        f"{name}: last {last.isoformat()}, {ago_said(t.days_since_last)}; usually repeated "
        f"{interval_said(m.retest_days)}: {verdict}"
    )


async def _out_of_range(ctx: AgentContext, args: LabTrendArgs) -> ToolResult:
    """Every lab and vital series whose latest value (in the window) is outside its
    reference range — the record's own range, else a default table's, said as such
    ("any abnormal labs?"). Each is said against its range and cites its series; when
    none is, that is said, citing every series checked."""
    ev = await ensure_evidence(ctx)
    index = handle_index(ev)
    d_from, d_to = parse_date(args.date_from, "date_from"), parse_date(args.date_to, "date_to")
    span = f" from {d_from or 'the first'} to {d_to or 'the last'}" if d_from or d_to else ""
    result = ToolResult([])
    checked: list[str] = []
    out: list[tuple[str, list[str]]] = []
    for t in lab_trends(ctx.cache.record or [], as_of=ctx.as_of or ev.as_of):
        stats = series_stats(t, d_from, d_to)
        handles = list(
            dict.fromkeys(
                h for p in t.points if p.ref in stats.refs and (h := index.get((p.ref, p.path)))
            )
        )
        if stats.last is None or not handles or _against_range(stats) is None:
            continue  # no value in the window, or no range to judge it by
        checked += handles
        for h in handles:
            mine = set(ev.get(h).references)
            result.add(
                ctx, ev.get(h), [stats], [r for r in stats.refs if r in mine] if span else ()
            )
        judged = lead_statements(plain(t.display) or _named(ctx, t), stats).get("judge", "")
        if " is within " in judged:
            continue
        said = scrub(judged, ctx.patient_id)
        out.append((said, handles))
        result.lines.append(f"{said} [{', '.join(handles)}]")
    n = len(dict.fromkeys(checked))
    if out:
        head = (
            f"{len(out)} of the {n} lab and vital results with a range{span} "
            f"{'is' if len(out) == 1 else 'are'} out of range (the latest of each)"
        )
        result.statements = [(head, [h for _s, hs in out for h in hs]), *out]
    elif n:
        head = f"None of the latest lab and vital results{span} is out of range ({n} checked)"
        result.statements = [(head, list(dict.fromkeys(checked)))]
    else:
        scope = SearchScope(
            resource_types=("Observation",),
            date_from=d_from.isoformat() if d_from else None,
            date_to=d_to.isoformat() if d_to else None,
        )
        none = absence(ctx, ev, scope, "lab or vital results with a reference range")
        result.add(ctx, none)
        result.statements = [(none.text, [none.handle])]
    result.lines.insert(0, f"{result.statements[0][0]} [{', '.join(result.statements[0][1])}]")
    result.leads["judge"] = result.leads["yesno"] = list(result.statements)
    return result


async def _overdue(ctx: AgentContext) -> ToolResult:
    """The key labs the patient has had whose last result is older than their usual
    retest interval ("anything overdue?", :func:`tools.brief.overdue_lines`, as the
    brief's "Due or overdue" says them), each citing its last result; when none is, that
    is said, citing the last result of each lab checked. Nothing is due for a patient
    who has died (said, citing the patient)."""
    ev = await ensure_evidence(ctx)
    index = handle_index(ev)
    result = ToolResult([])
    dead = no_care_due(ctx, ev, result)
    if dead:
        result.statements = dead
    else:
        trends = lab_trends(ctx.cache.record or [], as_of=ctx.as_of or ev.as_of)
        checked = [
            h
            for t in trends
            if (m := next(filter(None, map(measure_for_code, t.codes)), None)) is not None
            and m.retest_days
            and t.latest is not None
            and (h := index.get((t.latest.ref, t.latest.path)))
        ]
        for h in dict.fromkeys(checked):
            result.add(ctx, ev.get(h))
        lines = overdue_lines(ev.view, ev, trends, index)
        result.statements = [(scrub(ln.text, ctx.patient_id), list(ln.handles)) for ln in lines]
        if not lines and checked:
            n = len(dict.fromkeys(checked))
            said = f"None of the key labs on record is past its usual retest interval ({n} checked)"
            result.statements = [(said, list(dict.fromkeys(checked)))]
        elif not lines:
            none = absence(ctx, ev, SearchScope(resource_types=("Observation",)), "key lab results")
            result.add(ctx, none)
            result.statements = [(none.text, [none.handle])]
    result.lines = [f"{t} [{', '.join(hs)}]" for t, hs in result.statements]
    result.leads["judge"] = result.leads["yesno"] = list(result.statements)
    return result


TOOL = Tool(
    "lab_trend",
    LabTrendArgs,
    lab_trend,
    "a lab or vital series with its change, direction and mean, optionally inside a window",
)

"""What the cited items of a sentence support, gathered from their typed fields once.

Values (every point's value with its unit and analyte, the statistics tools computed,
ages, doses, figures code computed), bounds (reference ranges and goal targets: limits,
never values), dates, codes, counts, concepts (by codings first, then by the names in
the items' typed fields), and the scopes of the searches that found nothing.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from tools.evidence import EvidenceItem, item_concepts
from tools.terminology import Terminology

from ..session import Seen
from ._text import Date, extract_dates

__all__ = ["Support", "Value", "item_concepts", "item_words", "support_of"]

_LOINC = "http://loinc.org"
# a product strength as recorded in a drug's name: "10 MG", "0.4 MG/ML", "250 MG", "5 %"
_STRENGTH_UNITS = {
    "MG": "mg",
    "MCG": "ug",
    "G": "g",
    "ML": "mL",
    "UNT": "[U]",
    "UNIT": "[U]",
    "UNITS": "[U]",
    "MEQ": "meq",
    "%": "%",
}
_STRENGTH = re.compile(
    r"(\d+(?:\.\d+)?)\s*(MG|MCG|G|ML|UNT|UNITS?|MEQ|%|mg|mcg|g|mL|ml)(?:/(?:ML|mL|ACTUAT|HR))?\b"
)


@dataclass(frozen=True)
class Value:
    """A value an item states: the number, its unit, its analyte's LOINC codes, the
    series it belongs to (handle) and its date."""

    value: float
    unit: str | None
    loinc: tuple[str, ...] = ()
    handle: str = ""
    date: str | None = None


@dataclass
class Support:
    """Everything the cited items of one sentence support."""

    items: list[Seen]
    values: list[Value] = field(default_factory=list)
    bounds: list[Value] = field(default_factory=list)  # ranges and targets: never values
    computed: list[float] = field(default_factory=list)  # counts, stats, figures
    dates: set[Date] = field(default_factory=set)
    day_dates: list[dt.date] = field(default_factory=list)
    codes: set[str] = field(default_factory=set)
    counts: set[int] = field(default_factory=set)
    ages: set[int] = field(default_factory=set)
    patient_cited: bool = False


def _date_parts(value: str | None) -> list[Date]:
    return extract_dates(value)[0] if value else []


def _loinc(item: EvidenceItem, terminology: Terminology | None) -> tuple[str, ...]:
    codes = [c.code for c in item.codings if c.code and (c.system or "").startswith(_LOINC)]
    if terminology is not None:
        for c in list(codes):
            codes.extend(sorted(terminology.analyte(c)))
    return tuple(dict.fromkeys(codes))


def support_of(
    items: Sequence[Seen],
    *,
    terminology: Terminology | None,
    birth: dt.date | None,
    as_of: dt.date | None,
) -> Support:
    sup = Support(list(items))
    for seen in items:
        item = seen.item
        loinc = _loinc(item, terminology)
        for c in item.codings:
            if c.code:
                sup.codes.add(c.code.lower())
        for p in item.points:
            for d in (p.date, p.end):
                sup.dates.update(_date_parts(d))
            if p.value is not None:
                ploinc = loinc
                if p.component and p.component.code:
                    ploinc = (p.component.code, *loinc)
                sup.values.append(Value(p.value.value, p.value.unit, ploinc, item.handle, p.day))
            if p.reference_range is not None:
                r = p.reference_range
                for b in (r.low, r.high):
                    if b is not None:
                        sup.bounds.append(
                            Value(
                                b, r.unit or (p.value.unit if p.value else None), loinc, item.handle
                            )
                        )
            if p.component and p.component.code:
                sup.codes.add(p.component.code.lower())
        if item.reference_range is not None:
            for b in (item.reference_range.low, item.reference_range.high):
                if b is not None:
                    sup.bounds.append(Value(b, item.unit, loinc, item.handle))
        for t in item.targets:
            for b in (t.low, t.high):
                if b is not None:
                    sup.bounds.append(Value(b, t.unit, loinc, item.handle))
            sup.dates.update(_date_parts(t.due))
        for dose in item.dosages:
            if dose.dose is not None:
                sup.values.append(Value(dose.dose.value, dose.dose.unit, (), item.handle))
        if item.kind in ("medication", "allergy", "order"):  # strengths in the product's name
            for name in (item.name, *(c.display or "" for c in item.codings)):
                for m in _STRENGTH.finditer(name):
                    strength = _STRENGTH_UNITS.get(m.group(2).upper(), m.group(2))
                    sup.values.append(Value(float(m.group(1)), strength, (), item.handle))
        if item.demographics is not None:
            sup.patient_cited = True
            demo = item.demographics
            sup.dates.update(_date_parts(demo.birth_date))
            sup.dates.update(_date_parts(demo.death_date))
            if demo.age is not None:
                sup.ages.add(demo.age)
        if item.scope is not None:
            sup.dates.update(_date_parts(item.scope.date_from))
            sup.dates.update(_date_parts(item.scope.date_to))
            for c in item.scope.codes:
                if c.code:
                    sup.codes.add(c.code.lower())
        sup.dates.update(_date_parts(item.date))
        if item.care is not None:
            for due in item.care.due:
                sup.dates.update(_date_parts(due))
        sup.counts.add(len(item.points))
        sup.counts.add(len({p.day for p in item.points if p.day}))
        for s in seen.stats:
            sup.counts.add(s.n)
            unit: str | None = s.unit or item.unit
            for sp in (s.first, s.last, s.min, s.max, *s.values):
                if sp is not None:
                    sup.values.append(Value(sp.value, unit, loinc, item.handle, sp.date[:10]))
                    sup.dates.update(_date_parts(sp.date))
            for x in (s.mean, s.change, s.slope_per_year):
                if x is not None:
                    sup.values.append(Value(x, unit, loinc, item.handle))
            if s.change is not None:
                sup.values.append(Value(abs(s.change), unit, loinc, item.handle))
            if s.change_pct is not None:
                sup.values.append(Value(s.change_pct, "%", (), item.handle))
                sup.values.append(Value(abs(s.change_pct), "%", (), item.handle))
            for b in (s.reference_low, s.reference_high):
                if b is not None:
                    sup.bounds.append(Value(b, unit, loinc, item.handle))
            for d in (s.date_from, s.date_to):
                sup.dates.update(_date_parts(d))
            for code in s.codes:
                sup.codes.add(code.lower())
        sup.computed.extend(seen.numbers)
    if not (len(items) == 1 and len(items[0].item.points) > 1):
        # the number of cited entries ("3 active conditions"); not when one entry holds
        # several results: "1 white count test" citing a series of 2 is no count of it
        sup.counts.add(len(items))
    sup.counts.add(sum(len(s.item.points) for s in items))
    for year, month, mday in sup.dates:
        if month and mday:
            try:
                sup.day_dates.append(dt.date(year, month, mday))
            except ValueError:
                continue
    if birth is not None:
        for day in [*sup.day_dates, *([as_of] if as_of else [])]:
            sup.ages.add(day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day)))
    return sup


def item_words(item: EvidenceItem) -> list[str]:
    """The item's own words (typed fields, not its rendered line): its name, coding
    displays, reasons, reactions, care details, dosage text, quoted note text."""
    texts = [item.name, *(c.display or "" for c in item.codings), *item.reasons, *item.reactions]
    texts += [d.text for d in item.dosages]
    if item.care is not None:
        texts += [*item.care.activities, *item.care.addresses, item.care.achievement or ""]
    texts += [t.measure or "" for t in item.targets]
    if item.quote:
        texts.append(item.quote)
    if item.category:
        texts.append(item.category)
    if item.criticality:  # an allergy's criticality is stated as such: "criticality high"
        texts.append(f"criticality {item.criticality}")
    if item.subtype:
        texts.append(item.subtype)
    texts += [p.value_text or "" for p in item.points]
    texts += [p.component.display or "" for p in item.points if p.component]
    if item.demographics is not None:
        d = item.demographics
        texts += [
            d.name or "",
            d.gender or "",
            d.race or "",
            d.ethnicity or "",
            d.marital_status or "",
            *d.languages,
        ]
        # the field names of the patient line, where the field has a value ("ethnicity …")
        labels = ("race", d.race), ("ethnicity", d.ethnicity), ("marital status", d.marital_status)
        texts += [label for label, value in labels if value]
        texts += ["language"] if d.languages else []
    return [t for t in texts if t]


def birth_of(seen: Mapping[str, Seen]) -> dt.date | None:
    """The patient's birth date, when the patient item was seen in the session."""
    for s in seen.values():
        d = s.item.demographics
        if d is not None and d.birth_date:
            try:
                return dt.date.fromisoformat(d.birth_date[:10])
            except ValueError:
                return None
    return None

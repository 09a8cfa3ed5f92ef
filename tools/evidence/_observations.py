"""Sections ``labs``, ``vitals`` and ``observations``: one series per code and unit.

Repeated values fold into a series line grouped by year
(``HbA1c … %: 2019: 03-04 6.1, 09-10 6.4; 2020: 02-11 6.4``); runs of three or more
identical values collapse (``173.5 ×8 2012-03-04…2019-05-06``); blood pressure prints
as ``120/80`` (two points, systolic and diastolic components, of one Observation).
Numbers print with at most 4 significant digits; each point keeps the exact recorded
value, its unit, interpretation and reference range (a range is never a value).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tools._record import (
    RecordView,
    Resource,
    cc_text,
    clean,
    codings_of,
    fmt_num,
    observation_category,
    observation_date,
)
from tools.codes import measure_for_code

from ._common import (
    Draft,
    Entry,
    code_tag,
    coding_objs,
    dated_list,
    day,
    group_key,
    quote,
    runs,
    source,
)
from ._model import Coding, EvidenceItem, Point, Quantity, Range

__all__ = ["BP_DIASTOLIC", "BP_SYSTOLIC", "build", "render"]

BP_SYSTOLIC, BP_DIASTOLIC = "8480-6", "8462-4"
_FLAG_CODES = {"H", "L", "HH", "LL", "A", "AA", "HU", "LU", ">", "<", "POS", "DET", "R"}
_LOINC = "http://loinc.org"


def _section(obs: Resource) -> str:
    cat = observation_category(obs)
    if cat == "laboratory":
        return "labs"
    if cat == "vital-signs":
        return "vitals"
    return "observations"


def _value(holder: Mapping[str, Any]) -> tuple[Quantity | None, str | None, str] | None:
    """(numeric value, text value, element name) of an Observation or a component."""
    q = holder.get("valueQuantity")
    if isinstance(q, dict) and isinstance(q.get("value"), int | float):
        unit = q.get("unit") or q.get("code") or ""
        return (
            Quantity(value=float(q["value"]), unit=str(unit), code=q.get("code")),
            None,
            "valueQuantity",
        )
    if holder.get("valueCodeableConcept"):
        return None, cc_text(holder["valueCodeableConcept"]), "valueCodeableConcept"
    for key in ("valueString", "valueDateTime", "valueTime"):
        if isinstance(holder.get(key), str):
            return None, clean(holder[key]), key
    if isinstance(holder.get("valueBoolean"), bool):
        return None, str(holder["valueBoolean"]).lower(), "valueBoolean"
    if isinstance(holder.get("valueInteger"), int):
        return Quantity(value=float(holder["valueInteger"]), unit=""), None, "valueInteger"
    rng = holder.get("valueRange")
    if isinstance(rng, dict):
        low = (rng.get("low") or {}).get("value")
        high = (rng.get("high") or {}).get("value")
        shown = f"{'' if low is None else fmt_num(low)}–{'' if high is None else fmt_num(high)}"
        return None, shown, "valueRange"
    ratio = holder.get("valueRatio")
    if isinstance(ratio, dict):
        num = (ratio.get("numerator") or {}).get("value")
        den = (ratio.get("denominator") or {}).get("value")
        if num is not None and den is not None:
            return None, f"{fmt_num(num)}:{fmt_num(den)}", "valueRatio"
    if holder.get("dataAbsentReason"):
        return None, f"(no value: {cc_text(holder['dataAbsentReason'])})", "dataAbsentReason"
    return None


def _range(holder: Mapping[str, Any]) -> Range | None:
    rr = holder.get("referenceRange")
    if not isinstance(rr, list) or not rr or not isinstance(rr[0], dict):
        return None
    first = rr[0]
    low = (first.get("low") or {}).get("value")
    high = (first.get("high") or {}).get("value")
    unit = (first.get("low") or first.get("high") or {}).get("unit")
    text = clean(first["text"]) if first.get("text") else None
    if text is None and low is None and high is None:
        return None
    return Range(
        low=float(low) if isinstance(low, int | float) else None,
        high=float(high) if isinstance(high, int | float) else None,
        unit=unit,
        text=text,
    )


def _interpretation(holder: Mapping[str, Any]) -> str | None:
    for c in codings_of(holder.get("interpretation")):
        code = str(c.get("code", ""))
        if code in _FLAG_CODES:
            return code
    return None


@dataclass
class _Series:
    section: str
    name: str
    codings: tuple[Coding, ...]
    unit: str
    points: list[Point] = field(default_factory=list)
    latest_date: str | None = None
    has_latest: bool = False
    range: Range | None = None
    abnormal: bool = False
    priority: int = 50
    status: str | None = None


def build(view: RecordView) -> list[Draft]:
    series: dict[tuple[str, ...], _Series] = {}

    def get(key: tuple[str, ...], section: str, code_cc: Any, unit: str) -> _Series:
        s = series.get(key)
        if s is None:
            codings = coding_objs(code_cc)
            code = next((c.code for c in codings if c.code), None)
            measure = measure_for_code(code) if code else None
            s = series[key] = _Series(
                section, cc_text(code_cc, "unnamed observation"), codings, unit,
                priority=measure.priority if measure else 50,
            )  # fmt: skip
        return s

    def add(s: _Series, point: Point, is_latest_candidate: bool = True) -> None:
        s.points.append(point)
        if point.interpretation:
            s.abnormal = True
        if not is_latest_candidate:
            return
        date = point.date
        if date is None or not s.has_latest or (date or "") >= (s.latest_date or ""):
            s.latest_date, s.has_latest = date or "", True
            if point.reference_range is not None:
                s.range = point.reference_range

    for obs in view.of_type("Observation"):
        section = _section(obs)
        date, _src = observation_date(obs)
        status = obs.get("status")
        comps = [c for c in obs.get("component") or [] if isinstance(c, dict)]
        comp_codes = {
            str(c.get("code")): i
            for i, comp in enumerate(comps)
            for c in codings_of(comp.get("code"))
        }
        handled: set[int] = set()
        if BP_SYSTOLIC in comp_codes and BP_DIASTOLIC in comp_codes:
            i_s, i_d = comp_codes[BP_SYSTOLIC], comp_codes[BP_DIASTOLIC]
            vs, vd = _value(comps[i_s]), _value(comps[i_d])
            if vs and vd and vs[0] is not None and vd[0] is not None:
                s = get(("bp",), "vitals", {"text": "Blood pressure"}, vs[0].unit or "")
                s.priority = 11
                flag = (
                    _interpretation(comps[i_s])
                    or _interpretation(comps[i_d])
                    or _interpretation(obs)
                )
                for i, v, code, display in (
                    (i_s, vs[0], BP_SYSTOLIC, "Systolic blood pressure"),
                    (i_d, vd[0], BP_DIASTOLIC, "Diastolic blood pressure"),
                ):
                    add(
                        s,
                        Point(
                            source=source(obs, f"component[{i}].valueQuantity"),
                            date=date,
                            value=v,
                            component=Coding(system=_LOINC, code=code, display=display),
                            status=status,
                            interpretation=flag,
                            reference_range=_range(comps[i]),
                        ),
                        is_latest_candidate=i == i_s,
                    )
                handled = {i_s, i_d}
        top = _value(obs)
        if top is not None:
            num, text, element = top
            unit = num.unit or "" if num is not None else ""
            key = ("obs", *group_key(obs.get("code")), unit if num is not None else "")
            s = get(key, section, obs.get("code"), unit)
            add(
                s,
                Point(
                    source=source(obs, element),
                    date=date,
                    value=num,
                    value_text=text,
                    status=status,
                    interpretation=_interpretation(obs),
                    reference_range=_range(obs),
                ),
            )
        elif not comps:
            s = get(("obs", *group_key(obs.get("code")), ""), section, obs.get("code"), "")
            add(
                s,
                Point(
                    source=source(obs, "code"), date=date, value_text="(no value)", status=status
                ),
            )
        for i, comp in enumerate(comps):
            if i in handled:
                continue
            cv = _value(comp)
            if cv is None:
                continue
            num, text, element = cv
            unit = num.unit or "" if num is not None else ""
            key = ("comp", *group_key(comp.get("code")), unit if num is not None else "")
            s = get(key, section, comp.get("code"), unit)
            add(
                s,
                Point(
                    source=source(obs, f"component[{i}].{element}"),
                    date=date,
                    value=num,
                    value_text=text,
                    component=next(iter(coding_objs(comp.get("code"))), None),
                    status=status,
                    interpretation=_interpretation(comp),
                    reference_range=_range(comp),
                ),
            )

    drafts = []
    for s in series.values():
        latest = _latest(s.points)
        flags = ("series", "abnormal") if s.abnormal else ("series",)
        item = EvidenceItem(
            handle="",
            kind="observation",
            section=s.section,
            patient_id=view.patient_id,
            name=s.name,
            codings=s.codings,
            category={"labs": "laboratory", "vitals": "vital-signs"}.get(s.section),
            points=tuple(s.points),
            unit=s.unit or None,
            reference_range=s.range,
            reference=latest.source.reference,
            path=latest.source.path,
            date=day(s.latest_date) or None,
            flags=flags,
        )
        drafts.append(
            Draft(
                item.model_copy(update={"text": render(item)}), (s.priority, s.name.lower(), s.unit)
            )
        )
    return drafts


def _latest(points: list[Point]) -> Point:
    best = points[0]
    for p in points:
        if p.component is not None and p.component.code == BP_DIASTOLIC:
            continue
        if p.date is None or best.date is None or (p.date or "") >= (best.date or ""):
            best = p
    return best


def _shown(p: Point) -> str:
    if p.value is not None:
        return fmt_num(p.value.value)
    text = p.value_text or ""
    if p.source.path.endswith("valueString"):
        return quote(text, 200)[0] + ("…" if len(text) > 200 else "")
    return text


def render(item: EvidenceItem) -> str:
    """``Hemoglobin A1c/Hemoglobin.total in Blood [LOINC 4548-4] %: 2019: 03-04 6.1, 09-10 6.4 H; ref 4–5.6``."""
    entries: list[Entry] = []
    points = list(item.points)
    i = 0
    while i < len(points):
        p = points[i]
        if p.component is not None and p.component.code == BP_SYSTOLIC and i + 1 < len(points):
            dia = points[i + 1]
            shown = f"{_shown(p)}/{_shown(dia)}"
            i += 2
        else:
            shown = _shown(p)
            i += 1
        entries.append(Entry(p.date, None, shown + (p.interpretation or "")))
    unit = f" {item.unit}" if item.unit else ""
    text = f"{item.name}{code_tag(item.codings)}{unit}: {dated_list(runs(entries))}"
    label = item.reference_range.label() if item.reference_range else None
    if label:
        text += f"; ref {label}"
    return text

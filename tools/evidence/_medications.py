"""Section ``medications``: medications folded by code, one point per
MedicationRequest / Statement / Dispense / Administration.

Current ones (a member active, on-hold or intended) come before past ones. A current
medication whose last order is more than a year before ``end`` (today, or the death
date) is kept — the record says it is active — but flagged ``stale`` with the detail
"active in record, last ordered YEAR — verify" (prescriptions are normally renewed at
least yearly), and ranked after the recently ordered ones.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from tools._record import RecordView, Resource, cc_text, clean, fmt_num, parse_date, resource_date

from ._common import (
    Draft,
    Entry,
    code_tag,
    coding_objs,
    dated_list,
    day,
    group_key,
    runs,
    sort_key_date,
    source,
)
from ._model import Dosage, EvidenceItem, Point, Quantity

__all__ = ["CURRENT", "MED_TYPES", "build", "render"]

MED_TYPES = (
    "MedicationRequest",
    "MedicationStatement",
    "MedicationDispense",
    "MedicationAdministration",
)
#: Statuses that make a medication current.
CURRENT = frozenset({"active", "on-hold", "intended"})
_STALE_DAYS = 365
_UNITS = {
    "s": "second",
    "min": "minute",
    "h": "hour",
    "d": "day",
    "wk": "week",
    "mo": "month",
    "a": "year",
}


def _concept(view: RecordView, r: Resource) -> Any:
    if r.get("medicationCodeableConcept"):
        return r["medicationCodeableConcept"]
    ref = r.get("medicationReference")
    if isinstance(ref, dict):
        target_ref = str(ref.get("reference", ""))
        if target_ref.startswith("#"):
            for c in r.get("contained") or []:
                if c.get("id") == target_ref[1:] and c.get("code"):
                    return c["code"]
        target = view.resolve(ref)
        if target and target.get("code"):
            return target["code"]
        if ref.get("display"):
            return {"text": ref["display"]}
    return {}


def _timing(rep: Mapping[str, Any]) -> str:
    """``once a day``, ``twice a day``, ``3 times a day``, ``1 time every 2 weeks``."""
    freq, period, unit = rep.get("frequency"), rep.get("period"), rep.get("periodUnit")
    if not freq or not period:
        return ""
    word = _UNITS.get(str(unit), str(unit or ""))
    times = (
        {1: "once", 2: "twice"}.get(freq, f"{freq} times")
        if isinstance(freq, int)
        else f"{freq} times"
    )
    if period == 1:
        return f"{times} a {word}".strip()
    return f"{times} every {fmt_num(period)} {word}s".strip()


def dosages(instructions: Any) -> list[Dosage]:
    """Typed dosage instructions (text as recorded, else composed from the coded parts)."""
    out: list[Dosage] = []
    for di in instructions or []:
        if not isinstance(di, dict):
            continue
        dose: Quantity | None = None
        for dr in di.get("doseAndRate") or []:
            q = dr.get("doseQuantity") if isinstance(dr, dict) else None
            if isinstance(q, dict) and isinstance(q.get("value"), int | float) and dose is None:
                dose = Quantity(
                    value=float(q["value"]), unit=q.get("unit") or q.get("code"), code=q.get("code")
                )
        timing = _timing((di.get("timing") or {}).get("repeat") or {})
        as_needed = bool(di.get("asNeededBoolean") or di.get("asNeededCodeableConcept"))
        route = cc_text(di.get("route")) or None
        if di.get("text"):
            out.append(
                Dosage(
                    text=clean(di["text"]),
                    dose=dose,
                    frequency=timing or None,
                    route=route,
                    as_needed=as_needed,
                )
            )
            continue
        bits: list[str] = []
        for dr in di.get("doseAndRate") or []:
            q = dr.get("doseQuantity") if isinstance(dr, dict) else None
            if isinstance(q, dict) and q.get("value") is not None:
                bits.append(f"{fmt_num(q['value'])} {q.get('unit') or q.get('code') or ''}".strip())
        if len(bits) == 1 and bits[0].replace(".", "", 1).isdigit():
            bits[0] += " dose" if bits[0] == "1" else " doses"
        if timing:
            bits.append(timing)
        if as_needed:
            reason = cc_text(di.get("asNeededCodeableConcept"))
            bits.append("as needed" + (f" for {reason}" if reason else ""))
        if route:
            bits.append(route)
        if bits:
            out.append(
                Dosage(
                    text=" ".join(bits),
                    dose=dose,
                    frequency=timing or None,
                    route=route,
                    as_needed=as_needed,
                )
            )
    return out


def build(view: RecordView, end: dt.date) -> list[Draft]:
    from tools._record import reason_refs_of, reasons_of

    groups: dict[tuple[str, str], list[tuple[Resource, Any]]] = defaultdict(list)
    for r in view.of_type(*MED_TYPES):
        concept = _concept(view, r)
        groups[group_key(concept)].append((r, concept))
    drafts = []
    for members in groups.values():
        members.sort(key=lambda m: (resource_date(m[0]) or "", m[0].get("id", "")))
        latest, concept = members[-1]
        codings = coding_objs(concept)
        name = cc_text(concept, "unnamed medication")
        statuses = [str(r.get("status", "unknown")) for r, _ in members]
        current = [r for (r, _), s in zip(members, statuses, strict=True) if s in CURRENT]
        points = tuple(
            Point(
                source=source(
                    r,
                    "medicationCodeableConcept"
                    if r.get("medicationCodeableConcept")
                    else "medicationReference",
                ),
                date=resource_date(r),
                status=s,
            )
            for (r, _), s in zip(members, statuses, strict=True)
        )
        doses = list(
            {
                d.text: d
                for r, _ in members
                for d in dosages(r.get("dosageInstruction") or r.get("dosage"))
            }.values()
        )
        reasons = list(dict.fromkeys(x for r, _ in members for x in reasons_of(view, r)))
        reason_refs = tuple(dict.fromkeys(x for r, _ in members for x in reason_refs_of(view, r)))
        stop_reasons = tuple(
            dict.fromkeys(
                cc_text(c, "")
                for (r, _), s in zip(members, statuses, strict=True)
                if s not in CURRENT
                for c in _status_reasons(r)
                if cc_text(c, "")
            )
        )
        primary = current[-1] if current else latest
        last = resource_date(latest)
        last_day = parse_date(last)
        stale = bool(current) and (last_day is None or (end - last_day).days > _STALE_DAYS)
        details = []
        if stale:
            verb = "ordered" if latest.get("resourceType") == "MedicationRequest" else "recorded"
            year = (day(last) or "")[:4] or "on an unknown date"
            details.append(f"active in record, last {verb} {year} — verify")
        if doses:
            details.append("dosage: " + " | ".join(d.text for d in doses))
        if reasons:
            details.append("for " + ", ".join(reasons))
        if stop_reasons:
            details.append("stopped for " + ", ".join(stop_reasons))
        flags = (("stale",) if stale else ()) + (("folded",) if len(members) > 1 else ())
        item = EvidenceItem(
            handle="",
            kind="medication",
            section="medications",
            patient_id=view.patient_id,
            name=name,
            codings=codings,
            status="current" if current else "past",
            points=points,
            dosages=tuple(doses),
            reasons=tuple(reasons),
            reason_refs=reason_refs,
            stop_reasons=stop_reasons,
            reference=source(primary, "").reference,
            path="medicationCodeableConcept",
            date=day(last),
            flags=flags,
            details=tuple(details),
        )
        sort = (0 if current else 1, int(stale), -sort_key_date(last), name.lower())
        drafts.append(Draft(item.model_copy(update={"text": render(item)}), sort))
    return drafts


def _kind(reference: str) -> str:
    rtype = reference.split("/", 1)[0]
    return {"MedicationRequest": "", "MedicationStatement": "statement "}.get(
        rtype, rtype[10:].lower() + " "
    )


def render(item: EvidenceItem) -> str:
    """``Metformin 500 MG Oral Tablet [RxNorm 860975]: current; 3 records: 2019: 03-04 active, …;
    dosage: 1 dose twice a day; for Diabetes``."""
    entries = [
        Entry(p.date, None, f"{_kind(p.source.reference)}{p.status or 'unknown'}".strip())
        for p in item.points
    ]
    compact = runs(entries) if len(entries) > 3 else entries
    count = f"{len(item.points)} records: " if len(item.points) > 1 else ""
    text = f"{item.name}{code_tag(item.codings)}: {item.status}; {count}{dated_list(compact)}"
    return text + "".join("; " + d for d in item.details)


def _status_reasons(r: Resource) -> list[Any]:
    """A stopped order's ``statusReason``: one CodeableConcept on a MedicationRequest, a
    list of them on a MedicationStatement."""
    said = r.get("statusReason")
    return said if isinstance(said, list) else [said] if isinstance(said, dict) else []

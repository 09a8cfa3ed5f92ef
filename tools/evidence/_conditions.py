"""Section ``conditions``: conditions folded by code, one point per Condition.

Order: active before resolved; clinical problems before social history before
administrative entries (:func:`tools.codes.condition_kind`, also in ``flags``); among
problems, disorders before findings, and self-limiting conditions left open for more
than a year (flag ``stale``) last; then most recent.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from tools._record import RecordView, Resource, cc_text, codings_of, parse_date, resource_date
from tools.codes import SELF_LIMITING_DAYS, condition_kind, is_self_limiting, semantic_tag

from ._common import (
    Draft,
    Entry,
    code_tag,
    coding_objs,
    dated_list,
    day,
    group_key,
    sort_key_date,
    source,
)
from ._model import EvidenceItem, Point

__all__ = ["ACTIVE", "build", "clinical_status", "render", "render_current"]

#: Clinical statuses that make a condition active.
ACTIVE = frozenset({"active", "recurrence", "relapse"})
_KIND_RANK = {"problem": 0, "social": 1, "administrative": 2}


def clinical_status(r: Resource) -> str | None:
    """The code of a resource's ``clinicalStatus``."""
    for c in codings_of(r.get("clinicalStatus")):
        if c.get("code"):
            return str(c["code"])
    return None


def _verification(r: Resource) -> str | None:
    for c in codings_of(r.get("verificationStatus")):
        if c.get("code"):
            return str(c["code"])
    return None


def _onset(r: Resource) -> str | None:
    if isinstance(r.get("onsetDateTime"), str):
        return str(r["onsetDateTime"])
    period = r.get("onsetPeriod")
    if isinstance(period, dict) and period.get("start"):
        return str(period["start"])
    return r.get("recordedDate") if isinstance(r.get("recordedDate"), str) else None


def _abatement(r: Resource) -> str | None:
    if isinstance(r.get("abatementDateTime"), str):
        return str(r["abatementDateTime"])
    period = r.get("abatementPeriod")
    if isinstance(period, dict) and period.get("end"):
        return str(period["end"])
    return None


def build(view: RecordView, end: dt.date) -> list[Draft]:
    groups: dict[tuple[str, str], list[Resource]] = defaultdict(list)
    for r in view.of_type("Condition"):
        groups[group_key(r.get("code"))].append(r)
    drafts = []
    for members in groups.values():
        members.sort(
            key=lambda r: (r.get("onsetDateTime") or resource_date(r) or "", r.get("id", ""))
        )
        latest = members[-1]
        codings = coding_objs(latest.get("code"))
        name = cc_text(latest.get("code"), "unnamed condition")
        statuses = [(clinical_status(r) or "unknown") for r in members]
        active = any(s in ACTIVE for s in statuses)
        points = tuple(
            Point(source=source(r, "code"), date=_onset(r), end=_abatement(r), status=s)
            for r, s in zip(members, statuses, strict=True)
        )
        status = "active" if active else (statuses[-1] if statuses[-1] != "unknown" else "resolved")
        last_date = max((_onset(r) or "" for r in members), default="") or None
        kind = condition_kind([(c.system, c.code) for c in codings], name)
        flags: list[str] = [] if kind == "problem" else [kind]
        details: list[str] = []
        if kind != "problem":
            details.append("social history" if kind == "social" else "administrative entry")
        last = parse_date(last_date)
        stale = bool(
            active
            and kind == "problem"
            and last is not None
            and (end - last).days > SELF_LIMITING_DAYS
            and is_self_limiting(name)
        )
        if stale:
            flags.append("stale")
            details.append("acute condition still active in record after over a year: verify")
        if len(members) > 1:
            flags.append("folded")
        tier = 1 if kind == "problem" and semantic_tag(name) == "finding" else 0
        sort: tuple[Any, ...] = (
            0 if active else 1,
            _KIND_RANK[kind],
            int(stale),
            tier,
            -sort_key_date(last_date),
            name.lower(),
        )
        item = EvidenceItem(
            handle="",
            kind="condition",
            section="conditions",
            patient_id=view.patient_id,
            name=name,
            codings=codings,
            status=status,
            verification_status=_verification(latest),
            category=kind,
            points=points,
            reference=source(latest, "code").reference,
            path="code",
            date=day(last_date),
            flags=tuple(flags),
            details=tuple(details),
        )
        drafts.append(Draft(item.model_copy(update={"text": render(item)}), sort))
    return drafts


def render_current(item: EvidenceItem) -> str:
    """The line for a list of what holds now: onset and how often recorded, without the
    status at every visit (a problem re-recorded at 33 visits is one short line:
    ``Medication review due [SCT 314529007]: active, onset 1959-05-13; recorded ×33, last
    2025-01-15``)."""
    if len(item.points) < 2:
        return item.text
    first, last = item.points[0], item.points[-1]
    text = (
        f"{item.name}{code_tag(item.codings)}: {item.status}, onset {day(first.date) or 'unknown'}"
    )
    text += f"; recorded ×{len(item.points)}, last {day(last.date) or 'undated'}"
    return text + "".join("; " + d for d in item.details)


def render(item: EvidenceItem) -> str:
    """``Prediabetes [SCT 15777000]: active, onset 2016-12-14`` or, folded,
    ``Viral sinusitis [SCT 444814009]: resolved; ×3: 2015: 01-02→01-20, …``."""
    tag = code_tag(item.codings)
    if len(item.points) == 1:
        p = item.points[0]
        when = f"onset {day(p.date)}" if p.date else "onset unknown"
        if p.end:
            when += f", resolved {day(p.end)}"
        text = f"{item.name}{tag}: {item.status}, {when}"
    else:
        entries = [
            Entry(p.date, p.end, (p.status or "") if (p.status in ACTIVE or not p.end) else "")
            for p in item.points
        ]
        text = f"{item.name}{tag}: {item.status}; ×{len(item.points)}: {dated_list(entries)}"
    return text + "".join("; " + d for d in item.details)

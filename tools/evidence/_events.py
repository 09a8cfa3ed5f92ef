"""Folding of repeated events (the same encounter type, procedure, vaccine or report):
one item per kind of event, one point per resource, listed by date."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable
from typing import Any

from tools._record import RecordView, Resource, reason_refs_of

from ._common import Draft, Entry, code_tag, coding_objs, dated_list, day, sort_key_date, source
from ._model import EvidenceItem, ItemKind, Point

__all__ = ["fold", "render", "title"]


def fold(
    view: RecordView,
    section: str,
    kind: ItemKind,
    resources: Iterable[Resource],
    *,
    key_fn: Callable[[Resource], Hashable],
    name_fn: Callable[[Resource], str],
    code_field: str,
    start_fn: Callable[[Resource], str | None],
    end_fn: Callable[[Resource], str | None] | None = None,
    reasons_fn: Callable[[Resource], list[str]] | None = None,
    subtype_fn: Callable[[Resource], str] | None = None,
    details_fn: Callable[[list[Resource]], list[str]] | None = None,
) -> list[Draft]:
    groups: dict[Any, list[Resource]] = defaultdict(list)
    for r in resources:
        groups[key_fn(r)].append(r)
    drafts = []
    for members in groups.values():
        members.sort(key=lambda r: (start_fn(r) or "", r.get("id", "")))
        latest = members[-1]
        last = start_fn(latest)
        item = EvidenceItem(
            handle="",
            kind=kind,
            section=section,
            patient_id=view.patient_id,
            name=name_fn(latest),
            codings=coding_objs(latest.get(code_field)),
            status=latest.get("status") if isinstance(latest.get("status"), str) else None,
            subtype=subtype_fn(latest) or None if subtype_fn else None,
            points=tuple(
                Point(
                    source=source(r, code_field),
                    date=start_fn(r),
                    end=end_fn(r) if end_fn else None,
                    status=r.get("status") if isinstance(r.get("status"), str) else None,
                )
                for r in members
            ),
            reasons=tuple(reasons_fn(latest)) if reasons_fn else (),
            reason_refs=tuple(reason_refs_of(view, latest)) if reasons_fn else (),
            reference=source(latest, code_field).reference,
            path=code_field,
            date=day(last),
            flags=("folded",) if len(members) > 1 else (),
            details=tuple(details_fn(members)) if details_fn else (),
        )
        sort = (-sort_key_date(last), title(item).lower())
        drafts.append(Draft(item.model_copy(update={"text": render(item)}), sort))
    return drafts


def title(item: EvidenceItem) -> str:
    """``AMB Encounter for check up for Prediabetes``: class, name, reasons."""
    head = f"{item.subtype} " if item.subtype else ""
    reasons = f" for {', '.join(item.reasons)}" if item.reasons else ""
    return f"{head}{item.name}{reasons}"


def render(item: EvidenceItem) -> str:
    """``Colonoscopy [SCT 73761001] ×2: 2015-03-04, 2020-07-14``."""
    entries = [Entry(p.date, p.end) for p in item.points]
    count = f" ×{len(item.points)}" if len(item.points) > 1 else ""
    text = f"{title(item)}{code_tag(item.codings)}{count}: {dated_list(entries)}"
    if item.details:
        text += "; " + "; ".join(item.details)
    return text


def in_window(item: EvidenceItem, start: str | None, end: str | None) -> EvidenceItem:
    """The item with only its points dated in ``[start, end]`` (ISO days, inclusive), its
    text re-rendered with that count and those dates ("Encounter for check up ×2:
    2017-03-02, 2017-09-18"); a copy, for showing what a window holds."""
    lo, hi = start or "0001-01-01", end or "9999-12-31"
    points = tuple(p for p in item.points if p.day and lo <= p.day[:10] <= hi)
    windowed = item.model_copy(update={"points": points})
    if not points or item.kind not in ("encounter", "immunization", "procedure", "report"):
        return windowed
    return windowed.model_copy(update={"text": render(windowed)})

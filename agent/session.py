"""The evidence a session has seen, typed: what the verifier and every node read.

A thread's state keeps, per evidence handle, the :class:`~tools.evidence.EvidenceItem`
(as a JSON dict, so checkpoints stay plain data), the statistics a tool computed over
its series (:class:`~tools.trends.SeriesStats`: whole series or a window) and the
resources a tool focused on (a window's Observations). Nodes turn that state into
:class:`Seen` objects with :func:`seen_of`; nothing reads the rendered lines back.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict

from tools.evidence import EvidenceItem
from tools.trends import SeriesStats

__all__ = ["Seen", "merge_seen", "seen_entry", "seen_of"]


#: Items whose points are independent dated events (a result, a visit, a dose): a
#: sentence stating one's day rests on that one.
_DATED_EVENTS = frozenset({"observation", "encounter", "immunization", "procedure", "report"})


#: a count of entries a sentence states ("10 urea nitrogen results", "3 visits")
_COUNTED = re.compile(
    r"(?<![\d.,])\b(\d{1,3})\s+(?:[A-Za-z()/-][\w()/.-]*\s+){0,4}?(?:results?|values?|measurements?|readings?|tests?|"
    r"times|entries|encounters?|visits?|doses?|records?)\b",
    re.I,
)


class Seen(BaseModel):
    """One evidence item seen in the session, with what tools computed about it."""

    model_config = ConfigDict(frozen=True)

    item: EvidenceItem
    stats: tuple[SeriesStats, ...] = ()
    focus: tuple[str, ...] = ()  # the references a tool looked at (a window's values)
    numbers: tuple[float, ...] = ()  # figures code computed about it (days since, interval)

    @property
    def handle(self) -> str:
        return self.item.handle

    def references(self, limit: int = 3, said: str = "") -> list[str]:
        """What a sentence citing this item rests on (no resource for an empty search: the
        patient's own entry is no support of "not in the record"): of a series of results or events,
        the ones whose day the sentence ``said`` states ("0.73 mg/dL on 2021-01-11": that
        Observation, not the 23 of the series); all of them (at most 20) when the sentence
        counts them ("10 urea nitrogen results"); else the part a tool focused on (a
        window's values, at most 20); else all its resources when few; else its latest
        resource."""
        if self.item.kind == "absence":
            return []  # a search that found nothing: its support is the search (``searches``)
        refs = list(self.item.references)
        if said and len(refs) > 1 and self.item.kind in _DATED_EVENTS:
            stated = [
                p.source.reference for p in self.item.points if p.day and p.day in said
            ]  # fmt: skip
            focused = [r for r in stated if r in self.focus] if self.focus else stated
            # (none of them what a tool focused on: the days said are of other entries of
            # the item — "entries dated after the death, 1996-01-25 to 1996-09-06" — not
            # the window's values another search of the turn looked at)
            if focused or stated:
                return list(dict.fromkeys(focused or stated))
        counted = [int(m.group(1)) for m in _COUNTED.finditer(said)] if said else []
        if len(refs) in counted and len(refs) <= 20:  # "10 urea nitrogen results": all ten
            return refs
        if self.focus and (len(self.focus) < len(refs) or len(refs) > limit):
            return list(self.focus)[:20]  # "1 encounter in 2015": that one, not 3 of its kind
        if len(refs) <= limit:
            return refs
        return [self.item.reference]


def seen_entry(
    item: EvidenceItem,
    stats: Iterable[SeriesStats] = (),
    focus: Iterable[str] = (),
    numbers: Iterable[float] = (),
) -> dict[str, Any]:
    """The state form of one seen item."""
    entry: dict[str, Any] = {"item": item.to_state()}
    nums = list(dict.fromkeys(numbers))
    if nums:
        entry["numbers"] = nums
    st = [s.model_dump(mode="json", exclude_defaults=True) for s in stats]
    if st:
        entry["stats"] = st
    fo = list(dict.fromkeys(focus))
    if fo:
        entry["focus"] = fo
    return entry


def merge_seen(
    left: Mapping[str, dict[str, Any]] | None, right: Mapping[str, dict[str, Any]] | None
) -> dict[str, dict[str, Any]]:
    """Reducer: items by handle; stats and focus of the same handle accumulate."""
    out = dict(left or {})
    for handle, entry in (right or {}).items():
        old = out.get(handle)
        if old is None:
            out[handle] = entry
            continue
        merged = dict(old)
        merged["item"] = entry.get("item", old.get("item"))
        stats = [
            *old.get("stats", []),
            *(s for s in entry.get("stats", []) if s not in old.get("stats", [])),
        ]
        if stats:
            merged["stats"] = stats
        for key in ("focus", "numbers"):
            values = list(dict.fromkeys([*old.get(key, []), *entry.get(key, [])]))
            if values:
                merged[key] = values
        out[handle] = merged
    return out


def seen_of(state_evidence: Mapping[str, Mapping[str, Any]] | None) -> dict[str, Seen]:
    """The typed session evidence from a state's ``evidence`` mapping."""
    return {h: Seen.model_validate(e) for h, e in (state_evidence or {}).items()}

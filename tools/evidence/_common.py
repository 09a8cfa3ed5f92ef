"""Helpers shared by the section builders: codings, sources, dated lists, runs, quotes."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tools._record import clean, codings_of, parse_date, ref_of

from ._model import Coding, EvidenceItem, SourceRef

__all__ = [
    "Draft",
    "Entry",
    "code_tag",
    "coding_objs",
    "dated_list",
    "day",
    "group_key",
    "period",
    "quote",
    "runs",
    "sort_key_date",
    "source",
]


def coding_objs(cc: Any) -> tuple[Coding, ...]:
    """The codings of a CodeableConcept (or list of them) as typed objects."""
    return tuple(
        Coding(system=c.get("system"), code=c.get("code"), display=clean(c.get("display")) or None)
        for c in codings_of(cc)
    )


def code_tag(codings: Sequence[Coding]) -> str:
    """`` [SCT 44054006]`` for the primary coding (empty without one)."""
    first = codings[0] if codings else None
    return f" [{first.short()}]" if first and first.code else ""


def day(value: str | None) -> str | None:
    """``YYYY-MM-DD`` (or a shorter partial date) of a FHIR date string."""
    if not value:
        return None
    return value[:10]


def sort_key_date(value: str | None) -> int:
    d = parse_date(value)
    return d.toordinal() if d else 0


def source(resource: Mapping[str, Any], path: str) -> SourceRef:
    """The resource as a cited source (with its ``meta.versionId`` when it has one)."""
    meta = resource.get("meta")
    version = meta.get("versionId") if isinstance(meta, Mapping) else None
    return SourceRef(
        reference=ref_of(resource), version=str(version) if version else None, path=path
    )


def group_key(cc: Any) -> tuple[str, str]:
    """What folds resources together: the first coded (system, code), else the text."""
    for c in codings_of(cc):
        if c.get("code"):
            return str(c.get("system", "")), str(c["code"])
    from tools._record import cc_text

    return "", cc_text(cc).lower()


def period(r: Mapping[str, Any], key: str, part: str) -> str | None:
    value = r.get(key)
    if isinstance(value, Mapping) and isinstance(value.get(part), str):
        return str(value[part])
    return None


def quote(text: str, limit: int) -> tuple[str, bool]:
    """Verbatim text as a one-line JSON string literal, truncated to ``limit`` chars."""
    truncated = len(text) > limit
    return json.dumps(text[:limit], ensure_ascii=False), truncated


@dataclass
class Entry:
    """One dated element of a folded line (``run``: ``end`` is the last of a run)."""

    start: str | None
    end: str | None = None
    text: str = ""
    run: bool = False


def _end_text(start: str, end: str, run: bool = False) -> str:
    if end == start:
        return ""
    arrow = "…" if run else "→"
    if end[:4] == start[:4] and len(end) >= 10:
        return arrow + end[5:10]
    return arrow + end


def dated_list(entries: Sequence[Entry]) -> str:
    """``2019: 03-04 6.1, 09-10 6.4; 2020: 02-11 6.4`` (entries sorted by date); a
    single dated entry prints whole: ``2019-03-04 6.1``."""
    if len(entries) == 1 and day(entries[0].start):
        only = entries[0]
        first = day(only.start) or ""
        last = day(only.end)
        whole = first + (_end_text(first, last, only.run) if last else "")
        return f"{whole} {only.text}".strip() if only.text else whole
    groups: list[tuple[str, list[str]]] = []
    undated: list[str] = []
    for e in sorted(entries, key=lambda e: (e.start or "", e.end or "")):
        start = day(e.start)
        if not start:
            undated.append(e.text or "?")
            continue
        year, rest = start[:4], start[5:]
        end = day(e.end)
        piece = (rest or year) + (_end_text(start, end, e.run) if end else "")
        piece = f"{piece} {e.text}".strip() if e.text else piece
        if groups and groups[-1][0] == year:
            groups[-1][1].append(piece)
        else:
            groups.append((year, [piece]))
    parts = [f"{year}: {', '.join(pieces)}" for year, pieces in groups]
    if undated:
        parts.append("undated: " + ", ".join(undated))
    return "; ".join(parts)


def runs(entries: list[Entry], min_run: int = 3) -> list[Entry]:
    """Collapse runs of ``min_run``+ consecutive identical values into one entry."""
    out: list[Entry] = []
    i = 0
    ordered = sorted(entries, key=lambda e: e.start or "")
    while i < len(ordered):
        j = i
        while (
            j + 1 < len(ordered) and ordered[j + 1].text == ordered[i].text and ordered[j + 1].start
        ):
            j += 1
        if j - i + 1 >= min_run and ordered[i].start:
            out.append(
                Entry(ordered[i].start, ordered[j].start, f"{ordered[i].text} ×{j - i + 1}", True)
            )
        else:
            out.extend(ordered[i : j + 1])
        i = j + 1
    return out


@dataclass
class Draft:
    """An item before its handle is assigned, and its sort key within the section."""

    item: EvidenceItem
    sort: tuple[Any, ...]

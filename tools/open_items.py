"""The open items of a record, ranked by code (no model): what a card names first.

In order of importance:

1. ``worsening``: a key lab whose latest value is outside its range and moving further
   out (latest high and rising, or low and falling, by a meaningful change);
2. ``overdue``: a key lab the patient has had before whose repeat interval has passed
   (:data:`tools.codes.MEASURES` ``retest_days``: HbA1c 182 days, eGFR / creatinine /
   lipids 365 days); not for deceased patients;
3. ``stale-medication``: an active medication not ordered for over a year (verify);
4. ``abnormal``: a key lab whose latest value is outside its range.

Every item cites the resources it rests on. :func:`card_summary` fits the first one in
CDS Hooks' 140-character card summary.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from tools._record import RecordView, Resource, fmt_num, is_deceased, view_of
from tools.codes import MEASURES
from tools.evidence import EvidenceSet, build_evidence
from tools.trends import Trend, lab_trends

__all__ = ["OpenItem", "card_summary", "open_items"]

Kind = Literal["worsening", "overdue", "stale-medication", "abnormal"]
_RANK: dict[str, int] = {"worsening": 0, "overdue": 1, "stale-medication": 2, "abnormal": 3}
_KEY_PRIORITY = 15
_SUMMARY_MAX = 140


@dataclass(frozen=True)
class OpenItem:
    """One open item: its kind, a short text (≤ ~100 characters) and its citations."""

    kind: Kind
    text: str
    references: tuple[str, ...]

    @property
    def rank(self) -> int:
        return _RANK[self.kind]


def _value(t: Trend) -> str:
    last = t.latest
    if last is None:
        return t.display
    unit = f" {t.unit}" if t.unit else ""
    return f"{t.display} {fmt_num(last.value)}{unit} ({last.date})"


def _worsening(t: Trend) -> bool:
    last = t.latest
    if last is None or not t.abnormal or not t.changing:
        return False
    return (last.flag == "H" and t.direction == "rising") or (
        last.flag == "L" and t.direction == "falling"
    )


def open_items(
    record: Sequence[Resource] | RecordView,
    *,
    as_of: dt.date | None = None,
    evidence: EvidenceSet | None = None,
    trends: Sequence[Trend] | None = None,
) -> list[OpenItem]:
    """The record's open items, most important first (see the module docstring)."""
    view = view_of(record)
    as_of = as_of or dt.datetime.now(dt.UTC).date()
    ev = evidence or build_evidence(view, as_of=as_of)
    series = list(trends) if trends is not None else lab_trends(view, as_of=as_of)
    key = [t for t in series if t.priority <= _KEY_PRIORITY and t.latest is not None]
    items: list[OpenItem] = []
    for t in key:
        last = t.latest
        assert last is not None
        if _worsening(t):
            word = "high" if last.flag == "H" else "low"
            items.append(
                OpenItem("worsening", f"{_value(t)} {word} and {t.direction}", (last.ref,))
            )
        elif t.abnormal:
            word = "high" if last.flag == "H" else "low"
            items.append(OpenItem("abnormal", f"{_value(t)} {word}", (last.ref,)))
    if not is_deceased(view.patient):
        by_key = {t.key: t for t in series}
        for m in MEASURES:
            s = by_key.get(m.key)
            if not m.retest_days or s is None or s.latest is None or s.days_since_last is None:
                continue
            if s.days_since_last > m.retest_days:
                items.append(
                    OpenItem(
                        "overdue",
                        f"{s.display} overdue: last {s.latest.date} ({s.days_since_last} days ago)",
                        (s.latest.ref,),
                    )
                )
    for item in ev.section("medications"):
        if item.kind == "absence" or item.status != "current" or "stale" not in item.flags:
            continue
        point = item.points[-1] if item.points else None
        since = f" since {point.day[:4]}" if point and point.day else ""
        items.append(
            OpenItem(
                "stale-medication",
                f"Active medication not reordered{since}: {item.name} (verify)",
                (item.reference,),
            )
        )
    return sorted(items, key=lambda i: i.rank)  # stable: record order within a rank


def card_summary(items: Sequence[OpenItem], limit: int = _SUMMARY_MAX) -> str:
    """A card summary (< ``limit`` characters) naming the most important open item."""
    if not items:
        return (
            "Pre-visit brief ready: no overdue labs, worsening results or stale medications found"
        )
    first = items[0]
    more = len(items) - 1
    tail = f" (+{more} more open item{'s' if more > 1 else ''})" if more else ""
    text = f"{first.text}{tail}"
    if len(text) < limit:
        return text
    room = limit - len(tail) - 2
    cut = first.text[:room].rsplit(" ", 1)[0]
    return f"{cut}…{tail}"[: limit - 1]

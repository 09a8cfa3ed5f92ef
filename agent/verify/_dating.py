"""A verified value said without its date gets the date of the result it is.

"His last cholesterol came back as 185.8 mg/dL." is true, but a clinician reading it
cannot tell a result of last week from one of ten years ago. When a sentence states no
date and every value it states is the value of one cited result on one day, that day is
written after the value ("185.8 mg/dL on 2019-09-08"); the citations then narrow to that
result (:meth:`agent.session.Seen.references`). Code adds the date from the cited
evidence; a sentence whose values belong to several days (or to none, or to a statistic
such as a mean or a change) is left as the model wrote it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from tools.evidence import EvidenceItem

from ._text import CODE_MENTION, HANDLE, NumberClaim, blanked, extract_dates, numbers

__all__ = ["dated"]

# a number that is computed over results, not one result's value
_STATISTIC = re.compile(
    r"\b(?:mean|average[ds]?|averaging|median|difference|chang\w*|rose|fell|increase\w*|"
    r"decrease\w*|dropp\w*|went\s+(?:up|down)|by|per|range[sd]?|between|lowest|highest|"
    r"min(?:imum)?|max(?:imum)?|total)\b",
    re.I,
)


def _days_of(claim: NumberClaim, items: Sequence[EvidenceItem]) -> set[str]:
    """The days of the cited results whose value is the claim's, as written (rounded)."""
    tolerance = 0.5 * 10 ** (-claim.decimals) + 1e-9
    return {
        p.day
        for item in items
        for p in item.points
        if p.day and p.value is not None and abs(p.value.value - claim.value) <= tolerance
    }


def dated(text: str, items: Sequence[EvidenceItem]) -> str:
    """``text`` with the day of the one result its values are, when it states no date."""
    body = blanked(text, HANDLE)
    found, blank = extract_dates(body)
    if found or _STATISTIC.search(blank):
        return text
    claims = [n for n in numbers(blanked(blank, CODE_MENTION)) if n.role == "value"]
    if not claims:
        return text
    days: set[str] = set()
    for claim in claims:
        own = _days_of(claim, items)
        if len(own) != 1:
            return text
        days |= own
    if len(days) != 1:
        return text
    last = claims[-1]
    end = last.end
    if last.unit:
        unit = re.match(r"\s*" + re.escape(last.unit), text[end:])
        if unit is None:
            return text
        end += unit.end()
    return f"{text[:end]} on {days.pop()}{text[end:]}"

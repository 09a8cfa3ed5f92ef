"""A request's condition on a result, checked by code: "if there is none, or it is dated
more than 730 days before 2025-06-01, order one"; "order a lipid panel unless she had one
in the past year"; "if her potassium is below 3.5, start a supplement".

A small model asked whether such a condition holds answers "not known yet" after the
search that found nothing, or reads 2021-03-11 as within two years of 2023-09-16. Code
reads the condition when every part of it is one of a few general forms, and checks it
against the latest result of the test the question names:

* none: "there is none", "no result on file", "it was never done", "she has not had
  one", optionally within a window ("none in the past 12 months");
* age: "it is (dated) more than / older than N days|weeks|months|years (before DATE |
  ago | old)", "it is dated before DATE";
* a value: "it is below / under / less than / above / over / greater than / at least /
  at most N", "< 3.5".

Parts joined by "or" hold when one holds; by "and" when all do; "unless" negates. A
condition with any other part, or both "and" and "or", is not read (``None``: the plan
asks the model, as before). Three-valued: a part about the latest value when there is no
result is unknown, not false.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["COMPARISONS", "Latest", "Verdict", "check_condition", "compares"]


@dataclass(frozen=True)
class Latest:
    """The latest result of the test a question names (``None`` for none found)."""

    date: dt.date
    value: float | None
    unit: str = ""


@dataclass(frozen=True)
class Verdict:
    """Code's reading of a request's condition: whether it holds, and why (a line the
    planner and the answer can state)."""

    holds: bool
    reason: str


_NUM = r"(\d+(?:\.\d+)?)"
_UNIT = r"(days?|weeks?|months?|years?|yrs?)"
_DATE = r"(\d{4}-\d{2}-\d{2})"
_IT = (
    r"(?:it|that|this|that one|the (?:result|value|level|reading|test)|"
    r"(?:the|her|his|their|the patient's) (?:(?:latest|last|most recent|newest) )?"
    r"[a-z0-9][\w /-]{0,40}?)"
)
_WHO = r"(?:she|he|they|the patient|this patient)"
_WINDOW = rf"(?:in|within|during|over) the (?:last|past|previous) (?:{_NUM} )?{_UNIT}"
_NONE = re.compile(
    r"(?:(?:there (?:is|are|was|were) |you find |we find |you see |it shows )?"
    r"(?:none|nothing|no (?:such |prior |previous |recent )?[a-z0-9][\w /-]{0,40}?)|(?:it|one|the test) (?:is|was|has) (?:not|never) "
    r"(?:been )?(?:done|checked|measured|recorded|found|drawn)|"
    rf"{_WHO} (?:has not|have not|hasn't|haven't|has never|have never|never) had "
    r"(?:one|it|any|the test)(?: done)?)"
    r"(?: (?:on file|recorded|in the record|found|available|on record))?"
    rf"(?: {_WINDOW})?",
    re.I,
)
#: "she had one in the past year" (its negation is "unless she had one …")
_HAD = re.compile(rf"{_WHO} (?:has |have )?had (?:one|it|the test)(?: done)?(?: {_WINDOW})", re.I)
_AGE = re.compile(
    rf"{_IT} (?:is|was|are) (?:dated )?(?:more than|older than|over|greater than) {_NUM} "
    rf"{_UNIT} (?:before {_DATE}|before today|ago|old)",
    re.I,
)
_OLDER = re.compile(rf"{_IT} (?:is|was) older than {_NUM} {_UNIT}", re.I)
_BEFORE = re.compile(rf"{_IT} (?:is|was) dated (?:before|earlier than) {_DATE}", re.I)
_VALUE = re.compile(
    rf"{_IT} (?:is|was|are|comes back|came back) ?(below|under|less than|lower than|above|"
    rf"over|greater than|higher than|more than|at least|at most|no more than|no less than|"
    rf"<=|>=|<|>|≤|≥) {_NUM}(?: ?([a-z%/\[\]{{}}µ.0-9]+))?",
    re.I,
)
#: the comparison each word of one states (also read by :mod:`agent.understand` and the
#: verifier)
COMPARISONS = {
    "below": "<", "under": "<", "less than": "<", "lower than": "<", "<": "<",
    "above": ">", "over": ">", "greater than": ">", "higher than": ">", "more than": ">",
    "exceeds": ">", "exceed": ">", "exceeded": ">", "exceeding": ">",
    "crossed": ">", "cross": ">", "crosses": ">", "topped": ">", "tops": ">",
    "reached": ">=", "reach": ">=", "reaches": ">=", "hit": ">=", "hits": ">=",
    "dipped below": "<", "dropped below": "<", "fallen below": "<", "fell below": "<",
    ">": ">", "at least": ">=", "no less than": ">=", ">=": ">=", "=>": ">=", "≥": ">=",
    "at most": "<=", "no more than": "<=", "up to": "<=", "<=": "<=", "=<": "<=", "≤": "<=",
}  # fmt: skip


def compares(value: float, op: str, limit: float) -> bool:
    """``value`` stands in the comparison ``op`` (``>``, ``>=``, ``<``, ``<=``) to ``limit``."""
    return {
        ">": value > limit, ">=": value >= limit, "<": value < limit, "<=": value <= limit
    }[op]  # fmt: skip


#: where the condition's words stop: the action after it ("…, order one") or its end
_ACTION = r"(?:order|re-?order|prescribe|start|record|refer|recheck|repeat|place|draw|get)"
_SPAN = re.compile(
    r"\b(if|unless)\b\s+(.+?)(?=,\s*(?!or\b|and\b)[a-z]+\b|[.;!?](?!\d)|"
    rf"\s+(?:then\s+)?{_ACTION}\b|$)",
    re.I,
)
_FILLER = re.compile(r"\s+for (?:this|the) patient\b", re.I)
_CONTRACTED = {"it's": "it is", "that's": "that is", "there's": "there is"}


def _days(n: float, unit: str) -> float:
    u = unit.lower().rstrip("s")
    return n * {"day": 1, "week": 7, "month": 30.44, "year": 365.25, "yr": 365.25}[u]


def _age(latest: Latest | None, days: float, ref: dt.date) -> bool | None:
    """More than ``days`` before ``ref``; unknown when there is no result."""
    return None if latest is None else (ref - latest.date).days > days


def _part(text: str, latest: Latest | None, today: dt.date) -> tuple[bool | None, str] | None:
    """One part of a condition: (holds or unknown, what was checked); ``None`` when the
    part is none of the forms code reads."""
    t = _FILLER.sub("", text.strip(" ,")).strip()
    if m := _NONE.fullmatch(t):
        if m.group(2):  # "none in the past 12 months"
            days = _days(float(m.group(1) or 1), m.group(2))
            holds = latest is None or (today - latest.date).days > days
            return holds, f"none within {m.group(1) or 1} {m.group(2)}"
        return latest is None, "none on file"
    if m := _HAD.fullmatch(t):
        days = _days(float(m.group(1) or 1), m.group(2))
        return latest is not None and (today - latest.date).days <= days, (
            f"one within {m.group(1) or 1} {m.group(2)}"
        )
    if m := _AGE.fullmatch(t):
        ref = dt.date.fromisoformat(m.group(3)) if m.group(3) else today
        return _age(latest, _days(float(m.group(1)), m.group(2)), ref), (
            f"more than {m.group(1)} {m.group(2)} before {ref.isoformat()}"
        )
    if m := _OLDER.fullmatch(t):
        return _age(latest, _days(float(m.group(1)), m.group(2)), today), (
            f"older than {m.group(1)} {m.group(2)}"
        )
    if m := _BEFORE.fullmatch(t):
        when = dt.date.fromisoformat(m.group(1))
        return (None if latest is None else latest.date < when), f"dated before {when}"
    if m := _VALUE.fullmatch(t):
        op, limit, unit = COMPARISONS[m.group(1).lower()], float(m.group(2)), m.group(3)
        if re.fullmatch(_UNIT, unit or "", re.I):
            return None  # "over 2 years": an age said another way, not a value
        if latest is None or latest.value is None:
            return None, f"{op} {m.group(2)}"
        if unit and latest.unit and unit.casefold() != latest.unit.casefold():
            return None, f"{op} {m.group(2)} {unit} (the result is in {latest.unit})"
        return compares(latest.value, op, limit), f"{op} {m.group(2)}"
    return None


def _combine(values: Sequence[bool | None], any_of: bool) -> bool | None:
    if any_of:
        return True if True in values else (False if all(v is False for v in values) else None)
    return False if False in values else (True if all(v is True for v in values) else None)


def check_condition(
    text: str, latest: Latest | None, today: dt.date, what: str = "result"
) -> Verdict | None:
    """Whether the condition of the request ``text`` holds for ``latest`` (the latest
    result of the test it names, ``None`` when none was found; ``what``: the test's name),
    ``today`` the reference day of "ago"; ``None`` when code cannot read the condition or
    it cannot be known."""
    text = text.replace("’", "'")
    text = re.sub(r"\b(she|he|it)'s (never|not|had|been)\b", r"\1 has \2", text, flags=re.I)
    for short, full in _CONTRACTED.items():
        text = re.sub(re.escape(short), full, text, flags=re.I)
    text = re.sub(r"\b(or|and),? (?:if|when)\b", r"\1", text, flags=re.I)  # "… or if it is …"
    spans = list(_SPAN.finditer(text))
    if len(spans) != 1:
        return None
    negate = spans[0].group(1).lower() == "unless"
    span = spans[0].group(2).strip()
    has_or = bool(re.search(r"\bor\b", span, re.I))
    has_and = bool(re.search(r"\band\b", span, re.I))
    if has_or and has_and:
        return None
    parts = [p for p in re.split(r",?\s+\b(?:or|and)\b\s+|,\s+", span, flags=re.I) if p.strip()]
    read = [_part(p, latest, today) for p in parts]
    if not read or any(r is None for r in read):
        return None
    checked = [r for r in read if r is not None]
    holds = _combine([h for h, _ in checked], any_of=not has_and)
    if holds is None:
        return None
    if negate:
        holds = not holds
    found = (
        f"no {what} found"
        if latest is None
        else f"the latest {what} is dated {latest.date.isoformat()}"
        + (
            f" ({latest.value:g} {latest.unit})".replace(" )", ")")
            if latest.value is not None
            else ""
        )
    )
    joiner = " and " if has_and else " or "
    said = joiner.join(why for _, why in checked)
    verdict = "holds" if holds else "does not hold"
    return Verdict(
        holds, f"{'unless' if negate else 'if'} {said}: {found}, so the condition {verdict}"
    )

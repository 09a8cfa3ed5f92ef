"""Assertion status of a span of text: affirmed, negated, historical, hypothetical,
family history or uncertain (a ConText-style rule set).

The rules live in ``data/context_rules.psv`` (their sources and format are described
there). For a span, :func:`assertion_of` looks at the sentence around it: each trigger
phrase ("no", "history of", "if", "mother", "possible") opens a scope forward,
backward or both ways; a scope ends at a terminator ("but", "however", "which", ";"), at
a trigger of another category, at the sentence's end, or after :data:`MAX_FORWARD` /
:data:`MAX_BACKWARD` words. Pseudo-triggers ("not only", "no change") are matched first
and trigger nothing. Where several categories cover a span the status is the first of
:data:`PRIORITY`; every category is kept in :attr:`Assertion.categories`.

>>> assertion_of("She denies chest pain but reports fatigue.", 11, 21).status
'negated'
>>> assertion_of("She denies chest pain but reports fatigue.", 34, 41).status
'affirmed'
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Literal, NamedTuple

from tools.errors import TerminologyDataError

__all__ = [
    "CATEGORIES",
    "CATEGORIES_ALL",
    "MAX_BACKWARD",
    "MAX_FORWARD",
    "PRIORITY",
    "Assertion",
    "Status",
    "assertion_of",
]

Status = Literal["affirmed", "negated", "historical", "hypothetical", "family", "uncertain"]
CATEGORIES: tuple[str, ...] = ("negated", "historical", "hypothetical", "family", "uncertain")
#: Every status a span can have: "affirmed" and the categories.
CATEGORIES_ALL: tuple[str, ...] = ("affirmed", *CATEGORIES)
#: Which status wins when several categories cover a span: a hypothetical or a family
#: member's condition says nothing of the patient's present state, whatever else holds;
#: a negation outranks doubt and the past ("I don't take aspirin anymore": not taking it).
PRIORITY: tuple[str, ...] = ("hypothetical", "family", "negated", "uncertain", "historical")
MAX_FORWARD = 8
MAX_BACKWARD = 6

_WORD = re.compile(r"[A-Za-z0-9]+(?:['’][A-Za-z]+)?|[;:,?]")
_SENTENCE_END = re.compile(r"[.!?](?=\s|$)|\n")
_CONTRACTIONS = {
    "n't": "not",
    "'m": "am",
    "'re": "are",
    "'ve": "have",
    "'s": "",
    "'d": "would",
    "'ll": "will",
}
_IRREGULAR = {"can't": ("can", "not"), "won't": ("will", "not"), "cannot": ("can", "not")}


@dataclass(frozen=True, slots=True)
class Assertion:
    """The assertion status of a span and the trigger phrases that decided it."""

    status: Status
    categories: frozenset[str]
    triggers: tuple[tuple[str, str], ...]  # (phrase, category)

    @property
    def affirmed(self) -> bool:
        """True when no trigger covers the span."""
        return self.status == "affirmed"


class _Rule(NamedTuple):
    phrase: str
    category: str  # a CATEGORY, "pseudo", "terminate" or "terminate:CATEGORY"
    direction: str


class _Word(NamedTuple):
    start: int
    end: int
    text: str


class _Trigger(NamedTuple):
    first: int
    last: int
    rule: _Rule


def _words(text: str, start: int, end: int) -> list[_Word]:
    out: list[_Word] = []
    for m in _WORD.finditer(text, start, end):
        w = m.group().lower().replace("’", "'")
        if w in _IRREGULAR:
            out.extend(_Word(m.start(), m.end(), part) for part in _IRREGULAR[w])
            continue
        if "'" in w:
            head, _, tail = w.partition("'")
            if head.endswith("n") and tail == "t":  # don't, doesn't, isn't
                out.append(_Word(m.start(), m.end(), head[:-1]))
                out.append(_Word(m.start(), m.end(), "not"))
                continue
            extra = _CONTRACTIONS.get("'" + tail)
            out.append(_Word(m.start(), m.end(), head))
            if extra:
                out.append(_Word(m.start(), m.end(), extra))
            continue
        out.append(_Word(m.start(), m.end(), w))
    return out


@lru_cache(maxsize=1)
def _rules() -> dict[tuple[str, ...], _Rule]:
    text = resources.files("tools.terminology").joinpath("data", "context_rules.psv")
    rules: dict[tuple[str, ...], _Rule] = {}
    for number, raw in enumerate(text.read_text("utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = [*line.split("|"), "", ""][:3]
        phrase, category, direction = (p.strip() for p in parts)
        base = category.split(":")[0]
        ok = (base in CATEGORIES and direction in ("forward", "backward", "bidirectional")) or (
            base in ("pseudo", "terminate") and not direction
        )
        if not ok or (":" in category and category.split(":")[1] not in CATEGORIES):
            raise TerminologyDataError(f"context_rules.psv:{number}", f"bad rule {line!r}")
        rules[tuple(phrase.split())] = _Rule(phrase, category, direction)
    return rules


@lru_cache(maxsize=1)
def _max_len() -> int:
    return max(len(k) for k in _rules())


def _triggers(words: list[_Word]) -> list[_Trigger]:
    """Rule phrases in the words: longest first, then leftmost, never overlapping."""
    rules = _rules()
    longest = _max_len()
    texts = [w.text for w in words]
    found: list[_Trigger] = []
    for i in range(len(words)):
        for n in range(min(longest, len(words) - i), 0, -1):
            rule = rules.get(tuple(texts[i : i + n]))
            if rule is not None:
                found.append(_Trigger(i, i + n - 1, rule))
    found.sort(key=lambda t: (t.first - t.last, t.first))
    taken = [False] * len(words)
    out: list[_Trigger] = []
    for t in found:
        if not any(taken[t.first : t.last + 1]):
            out.append(t)
            for k in range(t.first, t.last + 1):
                taken[k] = True
    out.sort(key=lambda t: t.first)
    return out


def _sentence(text: str, start: int, end: int) -> tuple[int, int]:
    left = 0
    for m in _SENTENCE_END.finditer(text, 0, start):
        left = m.end()
    m2 = _SENTENCE_END.search(text, end)
    return left, (m2.start() if m2 else len(text))


def _counted(words: list[_Word], lo: int, hi: int) -> int:
    """Words (not punctuation) strictly between indexes lo and hi."""
    return sum(1 for w in words[lo + 1 : hi] if w.text not in ";:,?")


#: Categories whose scope also ends at a trigger of another category ("denies chest pain,
#: history of asthma": asthma is not denied). Hypothetical, family and uncertain frame a
#: whole clause ("her father did not have cancer", "questionable history of asthma").
_ENDED_BY_OTHERS = frozenset({"negated", "historical"})


def _blocked(triggers: list[_Trigger], category: str, lo: int, hi: int) -> bool:
    """Whether a terminator (or, for some categories, another trigger) lies between lo and hi."""
    for t in triggers:
        if t.first <= lo or t.last >= hi:
            continue
        cat = t.rule.category
        if cat == "terminate" or cat == f"terminate:{category}":
            return True
        if cat in CATEGORIES and cat != category and category in _ENDED_BY_OTHERS:
            if t.first == lo + 1 and category == "negated" and cat == "historical":
                continue  # "no known history of X", "denies prior X": the past is denied too
            return True
    return False


def assertion_of(text: str, start: int, end: int) -> Assertion:
    """The assertion status of ``text[start:end]`` within its sentence.

    >>> assertion_of("Her mother had diabetes.", 15, 23).status
    'family'
    >>> assertion_of("If the HbA1c rises, consider insulin.", 7, 12).status
    'hypothetical'
    >>> assertion_of("There is no record of a penicillin allergy.", 24, 42).status
    'negated'
    """
    s_lo, s_hi = _sentence(text, start, end)
    words = _words(text, s_lo, s_hi)
    inside = [i for i, w in enumerate(words) if w.end > start and w.start < end]
    if not inside:
        return Assertion("affirmed", frozenset(), ())
    first, last = inside[0], inside[-1]
    triggers = _triggers(words)
    found: list[tuple[str, str]] = []
    for t in triggers:
        cat, direction = t.rule.category, t.rule.direction
        if cat not in CATEGORIES:
            continue
        if t.first <= last and t.last >= first:
            # a trigger phrase that contains the span's start or end: "not allergic to"
            # around "allergic" applies when it reaches out in its own direction
            if (t.first < first and direction != "backward") or (
                t.last > last and direction != "forward"
            ):
                found.append((t.rule.phrase, cat))
            continue
        if t.last < first and direction in ("forward", "bidirectional"):
            if _counted(words, t.last, first) < MAX_FORWARD and not _blocked(
                triggers, cat, t.last, first
            ):
                found.append((t.rule.phrase, cat))
        elif (
            t.first > last
            and direction in ("backward", "bidirectional")
            and _counted(words, last, t.first) < MAX_BACKWARD
            and not _blocked(triggers, cat, last, t.first)
        ):
            found.append((t.rule.phrase, cat))
    categories = frozenset(c for _, c in found)
    status: Status = "affirmed"
    for cat in PRIORITY:
        if cat in categories:
            status = cat  # type: ignore[assignment]
            break
    return Assertion(status, categories, tuple(found))

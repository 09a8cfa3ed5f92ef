"""Reading a sentence: its dates, numbers (with units and what role they play), codes
written in prose, and the fixed cue words of statuses, directions and record sections.

These are language facts, not clinical ones: which clinical concepts a sentence names
comes from the terminology layer (:mod:`tools.terminology`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from tools.units import UnitParseError, canonical_unit, parse_unit

from ..conditions import COMPARISONS

__all__ = [
    "CODE_MENTION",
    "HANDLE",
    "LIMIT_CONTEXT",
    "Date",
    "NumberClaim",
    "comparator_of",
    "date_ok",
    "extract_dates",
    "numbers",
    "word_spans",
]

Date = tuple[int, int | None, int | None]

_MONTHS = {
    m: i + 1
    for i, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ]
    )
    for m in names
}
MONTH_WORDS = frozenset(_MONTHS)
_MON = r"(?P<mon>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_DATE_PATTERNS = [
    re.compile(r"\b(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})(?:T[\d:.+\-Z]*)?"),
    re.compile(r"\b(?P<m>\d{1,2})/(?P<d>\d{1,2})/(?P<y>\d{4})\b"),
    re.compile(r"\b" + _MON + r"\s+(?P<d>\d{1,2})(?:st|nd|rd|th)?,?\s+(?P<y>\d{4})\b", re.I),
    re.compile(r"\b(?P<d>\d{1,2})(?:st|nd|rd|th)?\s+" + _MON + r",?\s+(?P<y>\d{4})\b", re.I),
    re.compile(r"\b" + _MON + r",?\s+(?P<y>\d{4})\b", re.I),
    re.compile(r"\b(?P<y>\d{4})-(?P<m>\d{2})\b(?!-)"),
]
HANDLE = re.compile(r"\[?\b[Ee]\d{1,5}\b\]?")
# a code written in prose: "CVX 49", "LOINC 4548-4", "(SNOMED CT 44054006)", "RxNorm: 860975",
# or a LOINC-shaped code after the word "code" ("with the code 1920-8": a code, not 1920)
CODE_MENTION = re.compile(
    r"\b(?:(?:LOINC|CVX|SNOMED(?:[ -]CT)?|SCT|RxNorm|ICD-?10(?:-CM)?|CPT|ATC)"
    r"(?:\s+code)?\s*[:#]?\s*|code\s*[:#]?\s*(?=\d{1,7}-\d\b))([A-Z]?\d[\w.-]*\w|\d)",
    re.I,
)
# a number; not the digits of a name such as "COVID-19" or "PHQ-9"
_NUMBER = re.compile(
    r"(?<![\w.])(?<![A-Za-z]-)([-+−]?\d+(?:[.,]\d+)?)(?![\w.]*\d)(\s*%|\s*[^\s\d,;:()][^\s,;:()]*)?"
)
_NOT_UNITS = frozenset(
    [
        "a",
        "am",
        "an",
        "and",
        "as",
        "at",
        "by",
        "h",
        "in",
        "is",
        "of",
        "on",
        "or",
        "pm",
        "s",
        "to",
        "was",
        "were",
        "with",
        "times",
        "time",
    ]
)
_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*[A-Za-z]|[A-Za-z]")

_NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "once": 1, "twice": 2, "thrice": 3,
    "single": 1, "both": 2,
}  # fmt: skip
_COMPARE = re.compile(
    r"(?:below|under|less than|lower than|above|over|greater than|more than|higher than|"
    r"at least|at most|exceed(?:s|ing|ed)?|<=?|>=?|≤|≥|up to|no more than|no less than)\s*$",
    re.I,
)
#: a number said of a limit, not of a result ("the normal range is up to 5.6 %", "her goal
#: is below 7 %", "between 4 and 5.6")
LIMIT_CONTEXT = re.compile(
    r"\b(?:range|normal|reference|target|goal|limit|threshold|cut-?off|between)\b[^.;]*$", re.I
)
_COUNT_NOUNS = re.compile(
    r"^\s*(?:\w+\s+){0,2}?(?:results?|values?|measurements?|readings?|times?|visits?|encounters?|"
    r"tests?|records?|entries|doses?|vaccinations?|immunizations?|shots?|prescriptions?|orders?|"
    r"conditions?|diagnoses|problems?|medications?|drugs?|allergies|procedures?|admissions?|"
    r"episodes?|occasions?|labs?|items?|reports?|notes?)\b",
    re.I,
)
_AGE = re.compile(r"(?:\bage[ds]?\b|\bat\s+age\b)\s*$|^\s*-?\s*(?:years?[- ]old|yo\b|y/o)", re.I)
_TIME_UNITS = {
    "day": 1.0, "days": 1.0, "week": 7.0, "weeks": 7.0, "month": 30.4375, "months": 30.4375,
    "year": 365.25, "years": 365.25, "yr": 365.25, "yrs": 365.25,
}  # fmt: skip

Role = Literal["value", "comparison", "range", "count", "age", "duration"]

_NEGATED = {">": "<=", ">=": "<", "<": ">=", "<=": ">"}
#: a comparison said as negated ("is not above 100 mg/dL", "has never been below 60")
_NOT = re.compile(r"(?:\bnot|n't|\bnever)\s+(?:been\s+|be\s+)?$", re.I)


def comparator_of(word: str, negated: bool = False) -> str:
    """The comparison a word states (``>``, ``>=``, ``<``, ``<=``: :data:`COMPARISONS`),
    "above" ``>``, "at most" ``<=``; ``negated`` ("not above") its complement."""
    op = COMPARISONS.get(re.sub(r"\s+", " ", word.strip().lower()), ">")
    return _NEGATED[op] if negated else op


@dataclass(frozen=True)
class NumberClaim:
    """A number the sentence states, with its unit and the role it plays.

    ``comparator`` for comparisons: ``>`` (above, over, greater than …), ``>=`` (at
    least), ``<`` (below, under …) or ``<=`` (at most, up to), each the complement when the
    comparison is negated ("not above": ``<=``).
    ``days``: a duration's length in days (``3 months`` → 91.3).
    """

    raw: str
    value: float
    unit: str | None
    role: Role
    start: int
    end: int
    comparator: str | None = None
    days: float | None = None

    @property
    def decimals(self) -> int:
        s = self.raw.replace(",", ".")
        return len(s.split(".")[1]) if "." in s else 0


def extract_dates(text: str) -> tuple[list[Date], str]:
    """Dates in ``text`` as (year, month|None, day|None), and the text without them."""
    found: list[Date] = []
    spans: list[tuple[int, int]] = []
    for pat in _DATE_PATTERNS:
        for m in pat.finditer(text):
            if any(a <= m.start() < b for a, b in spans):
                continue
            g = m.groupdict()
            month = _MONTHS[g["mon"].lower().rstrip(".")] if g.get("mon") else int(g["m"])
            day = int(g["d"]) if g.get("d") else None
            if not 1 <= month <= 12 or (day is not None and not 1 <= day <= 31):
                continue
            found.append((int(g["y"]), month, day))
            spans.append((m.start(), m.end()))
    out = text
    for a, b in sorted(spans, reverse=True):
        out = out[:a] + " " * (b - a) + out[b:]
    return found, out


def date_ok(d: Date, dates: set[Date] | list[Date]) -> bool:
    """``d`` (possibly partial: a month, a year) matches one of ``dates``."""
    y, m, day = d
    for cy, cm, cd in dates:
        if cy != y:
            continue
        if m is None or (cm == m and (day is None or cd == day)):
            return True
    return False


def _to_float(s: str) -> float:
    return float(s.replace("−", "-").replace(",", "."))


def is_unit(token: str | None) -> str | None:
    """``token`` when it parses as a UCUM unit (``mg/dL``, ``%``, ``mmol/L``), else None."""
    if not token:
        return None
    tok = token.strip().rstrip(".")
    if not tok or tok.lower() in _NOT_UNITS or (tok.isalpha() and len(tok) > 6):
        return None
    if not (tok[0].isalpha() or tok[0] in "%µ[°"):  # "111.3" is a number, not a unit
        return None
    try:
        parse_unit(canonical_unit(tok))
    except (UnitParseError, ValueError, KeyError):
        return None
    return tok


def numbers(text: str) -> list[NumberClaim]:
    """The numbers of a sentence whose dates, codes and handles were blanked out."""
    text = re.sub(r"(\d)/(?=\d)", r"\1 ", text)  # "156.9/111.3": two values
    out: list[NumberClaim] = []
    for m in _NUMBER.finditer(text):
        raw, token = m.group(1), (m.group(2) or "").strip()
        if re.match(r"^(?:st|nd|rd|th)\b", token, re.I):  # ordinals
            continue
        value = _to_float(raw)
        before = text[max(0, m.start() - 40) : m.start()]
        after = text[m.end(1) : m.end(1) + 40]
        unit = is_unit(token)
        days = None
        low_tok = token.lower().rstrip(".,")
        if low_tok in _TIME_UNITS:
            days = value * _TIME_UNITS[low_tok]
        role: Role = "value"
        comparator = None
        cmp_match = _COMPARE.search(before)
        if cmp_match:
            role = "comparison"
            negated = bool(_NOT.search(before[: cmp_match.start()]))
            comparator = comparator_of(cmp_match.group(0), negated)
        elif _AGE.search(before) or _AGE.search(after):
            role = "age"
        elif days is not None:
            role = "duration"
        elif LIMIT_CONTEXT.search(before):
            role = "range"
        elif "." not in raw and _COUNT_NOUNS.match(after):
            role = "count"
        out.append(NumberClaim(raw, value, unit, role, m.start(1), m.end(1), comparator, days))
    for m in re.finditer(r"\b(" + "|".join(_NUMBER_WORDS) + r")\b", text, re.I):
        after = text[m.end() : m.end() + 40]
        word = m.group(1).lower()
        if re.match(r"\s+of\b", after):  # "one of her medications"
            continue
        if word in ("once", "twice", "thrice") or _COUNT_NOUNS.match(after):
            out.append(
                NumberClaim(word, float(_NUMBER_WORDS[word]), None, "count", m.start(), m.end())
            )
    return sorted(out, key=lambda n: n.start)


def word_spans(text: str) -> list[tuple[str, int, int]]:
    """The words of a text with their spans (letters, inner hyphens and apostrophes)."""
    return [(m.group(), m.start(), m.end()) for m in _WORD.finditer(text)]


def states_count(text: str) -> bool:
    """Whether ``text`` states how many of something there are ("3 active conditions",
    "two vaccinations"): such a sentence rests on every entry it counts."""
    _, blank = extract_dates(text)
    return any(n.role == "count" for n in numbers(blank))


def blanked(text: str, pattern: re.Pattern[str]) -> str:
    """``text`` with what ``pattern`` matches blanked out, every other character where it was."""
    return pattern.sub(lambda m: " " * len(m.group()), text)

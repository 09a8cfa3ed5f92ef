"""Deterministic citation verifier (no model).

A sentence passes when:

1. it cites at least one handle that exists in the evidence seen in this session
   (handles never seen are removed and reported);
2. every number in it matches a value of its cited items — the item's value, its
   citations' values, the numbers in its line and in the tool lines that cited it — within
   rounding (half a unit of the sentence's last digit) or 0.5 %, after unit conversion
   when the sentence names a different unit (UCUM, :mod:`tools.units`);
3. every date in it (``2025-01-15``, ``2025-01``, ``01/15/2025``, ``January 15, 2025``,
   ``15 Jan 2025``, ``January 2025``; a bare year) matches a date of its cited items;
4. a unit written after a number is compatible with the cited value's unit.

Numbers that are a cited item's count (``3 allergies`` citing three handles) pass.
Support by an item the sentence does not cite does not count.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tools.units import UnitParseError, canonical_unit, conversion, parse_unit

__all__ = ["Finding", "SentenceCheck", "Verification", "extract_dates", "verify_sentences"]

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
_MON = r"(?P<mon>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_DATE_PATTERNS = [
    re.compile(r"\b(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})(?:T[\d:.+\-Z]*)?"),
    re.compile(r"\b(?P<m>\d{1,2})/(?P<d>\d{1,2})/(?P<y>\d{4})\b"),
    re.compile(r"\b" + _MON + r"\s+(?P<d>\d{1,2})(?:st|nd|rd|th)?,?\s+(?P<y>\d{4})\b", re.I),
    re.compile(r"\b(?P<d>\d{1,2})(?:st|nd|rd|th)?\s+" + _MON + r",?\s+(?P<y>\d{4})\b", re.I),
    re.compile(r"\b" + _MON + r",?\s+(?P<y>\d{4})\b", re.I),
    re.compile(r"\b(?P<y>\d{4})-(?P<m>\d{2})\b(?!-)"),
]
_HANDLE = re.compile(r"\[?\b[Ee]\d{1,5}\b\]?")
_NUMBER = re.compile(r"(?<![\w.])([-+−]?\d+(?:[.,]\d+)?)(?![\w.]*\d)\s*([^\s,;:()]+)?")
_NUM_ONLY = re.compile(r"(?<![A-Za-z])[-+−]?\d+(?:\.\d+)?")
_NOT_UNITS = {
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
}
_REL_TOL = 0.005

Date = tuple[int, int | None, int | None]


@dataclass
class Finding:
    """One problem with one sentence."""

    kind: str  # unknown_handle | no_citation | number | date | unit
    detail: str


@dataclass
class SentenceCheck:
    """The verdict on one sentence."""

    text: str
    cites: list[str]
    valid_cites: list[str]
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Supported: at least one valid citation and no number/date/unit finding."""
        return bool(self.valid_cites) and not any(f.kind != "unknown_handle" for f in self.findings)

    @property
    def reasons(self) -> list[str]:
        return [f.detail for f in self.findings]


@dataclass
class Verification:
    """All sentences' verdicts."""

    checks: list[SentenceCheck]

    @property
    def passed(self) -> list[SentenceCheck]:
        return [c for c in self.checks if c.ok]

    @property
    def failed(self) -> list[SentenceCheck]:
        return [c for c in self.checks if not c.ok]


def _norm_handle(h: str) -> str:
    return h.strip().strip("[]").strip().upper()


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
        out = out[:a] + " " + out[b:]
    return found, out


def _to_float(s: str) -> float:
    return float(s.replace("−", "-").replace(",", "."))


def _decimals(s: str) -> int:
    s = s.replace(",", ".")
    return len(s.split(".")[1]) if "." in s else 0


def _is_unit(token: str | None) -> str | None:
    if not token:
        return None
    tok = token.rstrip(".")
    if tok.lower() in _NOT_UNITS or (tok.isalpha() and len(tok) > 6):
        return None
    try:
        parse_unit(canonical_unit(tok))
    except (UnitParseError, ValueError, KeyError):
        return None
    return tok


@dataclass
class _Support:
    values: list[tuple[float, str | None]]
    dates: list[Date]
    count: int


def _support(items: Sequence[Mapping[str, Any]]) -> _Support:
    values: list[tuple[float, str | None]] = []
    dates: list[Date] = []
    for it in items:
        texts = [str(it.get("text") or ""), *[str(n) for n in it.get("notes") or []]]
        if isinstance(it.get("value"), int | float):
            values.append((float(it["value"]), it.get("unit")))
        for c in it.get("citations") or []:
            if isinstance(c.get("value"), int | float):
                values.append((float(c["value"]), c.get("unit")))
            if c.get("date"):
                dates.extend(extract_dates(str(c["date"]))[0])
        if it.get("date"):
            dates.extend(extract_dates(str(it["date"]))[0])
        for t in texts:
            t = _HANDLE.sub(" ", t)
            ds, rest = extract_dates(t)
            dates.extend(ds)
            # series lines: "2019: 03-04 6.1" → the year's month-day pairs
            for ym in re.finditer(r"\b(\d{4}): ([^;]*)", t):
                for md in re.finditer(r"\b(\d{2})-(\d{2})\b", ym.group(2)):
                    dates.append((int(ym.group(1)), int(md.group(1)), int(md.group(2))))
            rest = re.sub(r"\b\d{2}-\d{2}\b", " ", rest)
            unit = it.get("unit")
            for n in _NUM_ONLY.findall(rest):
                values.append((_to_float(n), unit))
                if n.startswith(("-", "−")):
                    values.append((abs(_to_float(n)), unit))
    return _Support(values, dates, len(items))


def _number_ok(raw: str, unit: str | None, sup: _Support) -> tuple[bool, str | None]:
    """(matched, unit problem). The unit problem is reported only if nothing matched."""
    x = _to_float(raw)
    tol_abs = 0.5 * 10 ** (-_decimals(raw))
    unit_problem = None
    for value, vunit in sup.values:
        candidate = value
        if unit and vunit and canonical_unit(unit) != canonical_unit(vunit):
            factor = conversion(vunit, unit)
            if factor is None:
                unit_problem = f"unit {unit} does not match the cited unit {vunit}"
                continue
            candidate = value * factor
        if abs(x - candidate) <= max(tol_abs, _REL_TOL * abs(candidate)) + 1e-9:
            return True, None
    return False, unit_problem


def _date_ok(d: Date, dates: Iterable[Date]) -> bool:
    y, m, day = d
    for cy, cm, cd in dates:
        if cy != y:
            continue
        if m is None or (cm == m and (day is None or cd == day)):
            return True
    return False


def check_sentence(
    text: str, cites: Sequence[str], evidence: Mapping[str, Mapping[str, Any]]
) -> SentenceCheck:
    """Verify one sentence against the evidence seen in the session."""
    handles = list(dict.fromkeys(_norm_handle(h) for h in cites if h.strip()))
    valid = [h for h in handles if h in evidence]
    check = SentenceCheck(text, list(cites), valid)
    for h in handles:
        if h not in evidence:
            check.findings.append(Finding("unknown_handle", f"cites {h}, never seen here"))
    if not valid:
        check.findings.append(Finding("no_citation", "no citation of evidence seen here"))
        return check
    sup = _support([evidence[h] for h in valid])
    body = _HANDLE.sub(" ", text)
    dates, rest = extract_dates(body)
    for d in dates:
        if not _date_ok(d, sup.dates):
            shown = "-".join(f"{p:02d}" if i else str(p) for i, p in enumerate(d) if p)
            check.findings.append(Finding("date", f"date {shown} not in the cited evidence"))
    for m in _NUMBER.finditer(rest):
        raw, token = m.group(1), m.group(2)
        x = _to_float(raw)
        if "." not in raw and 1900 <= x <= 2100 and _date_ok((int(x), None, None), sup.dates):
            continue
        if "." not in raw and x == sup.count:
            continue
        unit = _is_unit(token)
        ok, unit_problem = _number_ok(raw, unit, sup)
        if ok:
            continue
        if unit_problem:
            check.findings.append(Finding("unit", f"{raw} {unit}: {unit_problem}"))
        else:
            check.findings.append(
                Finding("number", f"{raw}{' ' + unit if unit else ''} not in the cited evidence")
            )
    return check


def verify_sentences(
    sentences: Sequence[Mapping[str, Any]], evidence: Mapping[str, Mapping[str, Any]]
) -> Verification:
    """Verify sentences (``{"text", "cites"}``) against the session's evidence by handle."""
    return Verification(
        [
            check_sentence(str(s.get("text", "")), list(s.get("cites") or []), evidence)
            for s in sentences
            if str(s.get("text", "")).strip()
        ]
    )

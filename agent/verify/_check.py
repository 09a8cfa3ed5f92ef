"""Checking one sentence against the typed evidence of the items it cites."""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from tools._record import fmt_num
from tools.brief import plain
from tools.codes import MEASURES, measure_for_code
from tools.evidence import EvidenceItem, Point
from tools.terminology import (
    Concept,
    Mention,
    Terminology,
    assertion_of,
    concerns,
    is_common_word,
    repeat_days,
    treats,
)
from tools.units import analyte_conversion, canonical_unit, conversion, display_unit

from ..conditions import compares
from ..session import Seen
from ..understand import window_of
from ._result import Finding, SentenceCheck
from ._support import Support, Value, item_concepts, item_words, support_of
from ._text import (
    CODE_MENTION,
    HANDLE,
    LIMIT_CONTEXT,
    MONTH_WORDS,
    NumberClaim,
    blanked,
    comparator_of,
    date_ok,
    extract_dates,
    is_unit,
    numbers,
    word_spans,
)

__all__ = ["SessionIndex", "check_sentence"]

_REL_TOL = 0.005

# --------------------------------------------------------------------------- cue words

#: Words naming a whole record section, and the resource types a "none" claim about
#: them must have searched.
_CATEGORIES: tuple[tuple[re.Pattern[str], tuple[str, ...], tuple[str, ...]], ...] = (
    (re.compile(r"\ballerg\w*|\bintoleran\w*", re.I), ("AllergyIntolerance",), ("allergy",)),
    (
        re.compile(r"\bmedications?\b|\bmedicines?\b|\bdrugs?\b|\bprescriptions?\b", re.I),
        ("MedicationRequest", "MedicationStatement"),
        ("medication",),
    ),
    (
        re.compile(r"\bconditions?\b|\bdiagnos[ie]s\b|\bproblems?\b|\bdiseases?\b", re.I),
        ("Condition",),
        ("condition",),
    ),
    (
        re.compile(r"\bimmuni[sz]ations?\b|\bvaccin\w*|\bshots?\b", re.I),
        ("Immunization",),
        ("immunization",),
    ),
    (
        re.compile(r"\bprocedures?\b|\bsurger(?:y|ies)\b|\boperations?\b", re.I),
        ("Procedure",),
        ("procedure",),
    ),
    (
        re.compile(
            r"\blab(?:oratory)?\s+(?:results?|tests?)\b|\blabs\b|\bresults?\b|\bvalues?\b|\bmeasurements?\b",
            re.I,
        ),
        ("Observation",),
        ("observation",),
    ),
    (
        re.compile(r"\bencounters?\b|\bvisits?\b|\badmissions?\b", re.I),
        ("Encounter",),
        ("encounter",),
    ),
)
_VACCINATION = re.compile(r"\bvaccin\w*|\bimmuni[sz]\w*|\bshots?\b|\bjabs?\b|\bboosters?\b", re.I)
_ACTIVE_CUE = re.compile(
    r"\b(?:active|current(?:ly)?|ongoing|still|presently|takes|taking|is on|remains?)\b", re.I
)
_INACTIVE_CUE = re.compile(
    r"\b(?:resolved|inactive|past|former(?:ly)?|previous(?:ly)?|stopped|discontinued|no longer|"
    r"historical|ended|completed|was on|"
    # "she used to take it", not "a medication used to treat hypertension"
    r"used to(?!\s+(?:treat|manage|control|lower|prevent|reduce|relieve|help|thin)\b))\b",
    re.I,
)
_PAST_TENSE = ("was on", "used to")
#: Words before a term that make it the substance of an allergy ("allergic to penicillin"):
#: only an allergy entry supports it, never a medication order of the same drug.
_ALLERGY_CUE = re.compile(
    r"\b(?:allergic|allergy|allergies|intoleran\w*|hypersensitiv\w*|reactions?)\s+(?:to|for|of)\s+"
    r"(?:\w+\s+){0,2}$",
    re.I,
)
#: Words before a drug that say it is taken ("is taking aspirin", "on warfarin",
#: "prescribed metformin"): only a medication entry supports it, never an allergy to it.
_TAKING_CUE = re.compile(
    r"\b(?:tak(?:e|es|ing)|took|on|prescribed|uses?|using|started(?:\s+on)?|receiv\w*|"
    r"continu\w*(?:\s+on)?)\s+(?:\w+\s+){0,2}$",
    re.I,
)
# "is up overall", "trending down": a verb of being or of trend before a bare up/down
_BARE = r"(?:is|are|was|were|been|be|trend\w*|moved|moving|headed|heading|overall)\s+"
_UP = re.compile(
    r"\b(?:increas\w*|rose|risen|rising|went up|gone up|going up|climb\w*|higher|upward)\b"
    rf"|\b{_BARE}up\b(?!\s+to\b)",
    re.I,
)
_DOWN = re.compile(
    r"\b(?:decreas\w*|fell|fallen|falling|dropped|dropping|went down|gone down|declin\w*|lower|downward|reduc\w*)\b"
    rf"|\b{_BARE}down\b",
    re.I,
)
_FLAT = re.compile(r"\b(?:stable|unchanged|steady|flat|no change|remained the same)\b", re.I)
_BETTER = re.compile(r"\b(?:improv\w*|better)\b", re.I)
#: which way is good for a measure, not which way it went
_POLARITY = re.compile(
    r"\b(?:lower|higher)(?: values?| numbers?| results?| readings?)? (?:is|are) better\b", re.I
)
_WORSE = re.compile(r"\b(?:worsen\w*|worse|deteriorat\w*)\b", re.I)
_CHANGE = re.compile(
    r"\b(?:by|change[sd]?|difference|increas\w*|decreas\w*|rose|fell|dropped|up|down|gain\w*|los[st]\w*|more|less|higher|lower)\b",
    re.I,
)
_KIND_TYPES: dict[str, tuple[str, ...]] = {
    "condition": ("Condition", "AllergyIntolerance"),  # allergies are recorded either way
    "finding": ("Condition", "Observation"),
    "drug": ("MedicationRequest", "MedicationStatement", "AllergyIntolerance"),
    "drug_class": ("MedicationRequest", "MedicationStatement", "AllergyIntolerance"),
    "lab": ("Observation", "DiagnosticReport"),
    "vital": ("Observation",),
    "assessment": ("Observation",),
    "vaccine": ("Immunization",),
    "procedure": ("Procedure",),
    "substance": ("AllergyIntolerance",),
    "social": ("Condition", "Observation"),
    "setting": ("Encounter",),
}
#: item kinds that cannot record a concept of a kind, whatever their name: a vaccine given
#: is an Immunization (or a procedure, a note), never an encounter or a lab result
_NOT_A_RECORD_OF = ("encounter", "patient", "goal", "care_team")
_CANNOT_RECORD: dict[str, frozenset[str]] = {
    "vaccine": frozenset({*_NOT_A_RECORD_OF, "observation", "condition", "medication", "allergy"}),
    "lab": frozenset({*_NOT_A_RECORD_OF, "immunization", "medication", "allergy"}),
    "vital": frozenset({*_NOT_A_RECORD_OF, "immunization", "medication", "allergy"}),
    "drug": frozenset({*_NOT_A_RECORD_OF, "immunization", "observation"}),
    "drug_class": frozenset({*_NOT_A_RECORD_OF, "immunization", "observation"}),
    # the patient's own entry records no problem or procedure ("a 75-year-old woman with
    # hypertension and diabetes", citing her and the hypertension: the diabetes is unsupported
    # by what is cited, not unknown)
    "condition": frozenset({"patient"}),
    "finding": frozenset({"patient"}),
    "procedure": frozenset({"patient"}),
}
_ITEM_KIND_TYPES: dict[str, str] = {
    "condition": "Condition",
    "medication": "MedicationRequest",
    "allergy": "AllergyIntolerance",
    "observation": "Observation",
    "immunization": "Immunization",
    "procedure": "Procedure",
    "encounter": "Encounter",
    "report": "DiagnosticReport",
}


def _norm(word: str) -> str:
    w = word.lower().strip("'’-")
    if len(w) > 4 and w.endswith("ies"):
        return w[:-3] + "y"
    if len(w) > 3 and w.endswith("s") and not w.endswith(("ss", "us", "is", "os")):
        return w[:-1]
    return w


def _words(texts: Sequence[str]) -> frozenset[str]:
    return frozenset(_norm(w) for t in texts for w, _a, _b in word_spans(t))


# --------------------------------------------------------------------------- session index


@dataclass
class _Indexed:
    seen: Seen
    concepts: list[Concept]
    words: frozenset[str]


@dataclass
class SessionIndex:
    """Per-verification cache: each seen item's concepts and words; the patient's name."""

    seen: Mapping[str, Seen]
    terminology: Terminology
    items: dict[str, _Indexed] = field(default_factory=dict)
    name_words: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        names: list[str] = []
        for h, s in self.seen.items():
            item = s.item
            texts = item_words(item)
            if item.scope is not None:
                texts.append(item.scope.describe())
                texts.append(item.scope.name or "")
            self.items[h] = _Indexed(s, item_concepts(item, self.terminology), _words(texts))
            if item.demographics is not None and item.demographics.name:
                names.append(item.demographics.name)
        self.name_words = _words(names)

    def supports(self, handles: Sequence[str], mentioned: Concept) -> bool | None:
        """Whether one of these (non-absence) items records ``mentioned`` or a descendant.
        An item whose concepts the terminology does not know is "unknown", unless it is of
        a kind that cannot record such a thing (an encounter records no vaccine given)."""
        unknown = False
        for h in handles:
            ix = self.items[h]
            if ix.seen.item.kind == "absence":
                continue
            if not ix.concepts and ix.seen.item.kind in _CANNOT_RECORD.get(mentioned.kind, ()):
                continue
            if not ix.concepts:
                unknown = True
            for c in ix.concepts:
                verdict = self.terminology.implies(c, mentioned)
                if verdict:
                    return True
                if verdict is None:
                    unknown = True
        return None if unknown else False

    def naming(self, concept: Concept, exclude: Sequence[str]) -> list[str]:
        """Handles of other seen items that record the concept."""
        return [
            h
            for h, ix in self.items.items()
            if h not in exclude
            and ix.seen.item.kind != "absence"
            and any(self.terminology.implies(c, concept) for c in ix.concepts)
        ]

    def word_in(self, word: str, handles: Sequence[str]) -> bool:
        return any(word in self.items[h].words for h in handles)

    def word_elsewhere(self, word: str, exclude: Sequence[str]) -> list[str]:
        return [
            h
            for h, ix in self.items.items()
            if h not in exclude
            and ix.seen.item.kind not in ("absence", "patient")
            and word in _name_words(ix.seen.item)
        ]


def _name_words(item: EvidenceItem) -> frozenset[str]:
    return _words([item.name, *(c.display or "" for c in item.codings)])


# --------------------------------------------------------------------------- numbers


def _match(
    x: float, decimals: int, unit: str | None, values: Sequence[Value]
) -> tuple[bool, str | None]:
    """(matched, unit problem): ``x`` equals one of ``values`` within rounding (half a
    unit of the sentence's last digit) or 0.5 %, after converting units (UCUM, and mass ↔
    substance concentration with the analyte's molar mass)."""
    tol_abs = 0.5 * 10 ** (-decimals)
    problem = None
    for v in values:
        candidate = v.value
        if unit and v.unit and canonical_unit(unit) != canonical_unit(v.unit):
            factor = None
            for loinc in v.loinc or ("",):
                factor = (
                    analyte_conversion(v.unit, unit, loinc) if loinc else conversion(v.unit, unit)
                )
                if factor is not None:
                    break
            if factor is None:
                problem = f"unit {unit} does not match the cited unit {v.unit}"
                continue
            candidate = v.value * factor
        if abs(x - candidate) <= max(tol_abs, _REL_TOL * abs(candidate)) + 1e-9:
            return True, None
    return False, problem


def _derived(
    x: float, decimals: int, unit: str | None, sup: Support, stated: Sequence[float]
) -> bool:
    """``x`` is the difference of two values of one cited series that the sentence itself
    states, or of two consecutive values, or of its first and last (same unit)."""
    by_series: dict[tuple[str, str], list[Value]] = {}
    for v in sup.values:
        if v.date:
            by_series.setdefault((v.handle, canonical_unit(v.unit)), []).append(v)
    tol = 0.5 * 10 ** (-decimals) + 1e-9
    for (_h, u), vals in by_series.items():
        if unit and u and canonical_unit(unit) != u:
            continue
        ordered = sorted({(v.date or "", v.value) for v in vals})
        pairs = list(itertools.pairwise(ordered))
        if ordered:
            pairs.append((ordered[0], ordered[-1]))
        mine = [
            v
            for v in ordered
            if any(
                abs(v[1] - s) <= 1e-9 + 0.5 * 10 ** (-decimals - 2)
                or abs(v[1] - s) < 0.005 * max(abs(s), 1e-9)
                for s in stated
            )
        ]
        pairs += [(a, b) for i, a in enumerate(mine) for b in mine[i + 1 :]]
        if any(abs(abs(b[1] - a[1]) - abs(x)) <= tol for a, b in pairs):
            return True
    return False


def _duration_ok(n: NumberClaim, sup: Support, as_of: dt.date | None) -> bool:
    if n.days is None:
        return False
    days = [*sup.day_dates, *([as_of] if as_of else [])]
    unit_days = n.days / n.value if n.value else 1.0
    for i, a in enumerate(days):
        for b in days[i + 1 :]:
            span = abs((b - a).days) / unit_days
            if abs(span - n.value) <= max(0.5, 0.02 * n.value) or int(span) == int(n.value):
                return True
    return any(abs(c - n.value) < 0.5 for c in sup.computed)


def _check_number(
    n: NumberClaim,
    sup: Support,
    sentence: str,
    as_of: dt.date | None,
    mentioned: list[tuple[int, int, int]],
    stated: Sequence[float] = (),
    anchors: Mapping[str, dt.date] | None = None,
) -> Finding | None:
    x = n.value
    integer = float(x).is_integer() and "." not in n.raw
    if integer and 1900 <= x <= 2100 and date_ok((int(x), None, None), sup.dates):
        return None
    shown = f"{n.raw}{' ' + n.unit if n.unit else ''}"
    if integer and int(x) in sup.ages and (n.role == "age" or sup.patient_cited):
        return None  # an age: from the birth date to the as-of date (or a cited date)
    if n.role == "age":
        return Finding("number", f"age {n.raw} does not follow from the cited dates")
    if n.role == "count":
        window = stated_window(sentence, as_of, anchors)
        if window is not None:  # "3 visits in 2017": the cited entries in that window
            if integer and int(x) in _window_counts(sup, window):
                return None
            return Finding(
                "number",
                f"count {n.raw} is not the number of the cited entries from {window[0]} to "
                f"{window[1]}",
            )
        if integer and (int(x) in sup.counts or any(int(x) == c for _y, _m, c in mentioned)):
            return None
        return Finding("number", f"count {n.raw} is not the number of the cited entries")
    if n.role == "duration" and _duration_ok(n, sup, as_of):
        return None
    dated, latest = _compared_values(sup, sentence, n.start) if n.comparator else ([], [])
    if (
        (dated or latest)
        and n.comparator
        and not LIMIT_CONTEXT.search(sentence[max(0, n.start - 50) : n.start])
    ):  # a result said against a number: the cited value the clause dates (one of them),
        # else the latest, is on that side of it (a limit or a value near the number is no
        # support: "above 5" of 4.71, with a range ending at 5.1, is false)
        if any(compares(v, n.comparator, x) for v in dated) or (
            not dated and all(compares(v, n.comparator, x) for v in latest)
        ):
            return None
        return Finding(
            "number",
            f"says {_COMPARED[n.comparator]} {shown}, but the cited value is {', '.join(f'{v:g}' for v in dated or latest)}",
        )
    if n.role in ("comparison", "range"):
        hit, _p = _match(x, n.decimals, n.unit, sup.bounds)
        if hit:  # "her goal is below 7 %", "the range is 3.5 to 5.1"
            return None
    ok, problem = _match(x, n.decimals, n.unit, sup.values)
    if ok:
        return None
    if any(abs(x - c) <= 0.5 * 10 ** (-n.decimals) + 1e-9 for c in sup.computed):
        return None
    if integer and int(x) in sup.counts:
        return None
    if _CHANGE.search(sentence) and _derived(
        x, n.decimals, n.unit, sup, [v for v in stated if v != x]
    ):
        return None
    if n.days is not None and _duration_ok(n, sup, as_of):
        return None
    bound, _p = _match(x, n.decimals, n.unit, sup.bounds)
    if bound:
        return Finding(
            "number", f"{shown} is a reference range or target limit of the cited item, not a value"
        )
    if problem:
        return Finding("unit", f"{shown}: {problem}")
    return Finding("number", f"{shown} is not in the cited evidence")


_ANSWERED = re.compile(r"^\s*(?:yes|no)\s*[—–]\s*", re.I)
_COMPARED = {">": "above", ">=": "at least", "<": "below", "<=": "at most"}
#: a count of results beyond a threshold ("2 of the 27 results since … were above 5
#: mmol/L", "none of the 13 results was below 70", "all 10 results were at least 6"):
#: checked by counting the cited results, not by finding the threshold among them
_BEYOND = re.compile(
    r"\b(?P<k>\d+|none|all)\s+(?:of\s+)?(?:the\s+|its\s+|her\s+|his\s+|their\s+)?"
    r"(?:(?P<n>\d+)\s+)?(?:[a-z]+\s+){0,2}?(?:results?|values?|readings?|measurements?)\b"
    r"[^.;:\d]*?\b(?:was|were|is|are|been)\s+(?P<cmp>above|over|below|under|at least|at most|"
    r"(?:greater|less|higher|lower|more) than|between)\s+(?P<x>\d+(?:\.\d+)?)"
    r"(?:(?:\s*[^\s\d.;,]+)?\s+and\s+(?P<y>\d+(?:\.\d+)?))?",
    re.I,
)
#: a result said to lie in a range the sentence states ("the latest … is between 3.5 and 5
#: mmol/L", "is not between 5.7 and 6.4 %"), not a limit ("the range is between …")
_IN_RANGE = re.compile(
    r"\b(?P<not>not\s+)?between\s+(?P<x>\d+(?:\.\d+)?)(?:\s*[^\s\d.;,]+)?\s+and\s+"
    r"(?P<y>\d+(?:\.\d+)?)",
    re.I,
)


def _within(v: float, low: float, high: float) -> bool:
    return min(low, high) <= v <= max(low, high)


def _beyond_findings(
    blank: str, text: str, sup: Support, check: SentenceCheck
) -> list[tuple[int, int]]:
    """Counts of results beyond a threshold the sentence states, checked against the
    cited series (the whole of one, or a window a tool computed of it), and a result said
    to lie in a range ("is between 3.5 and 5 mmol/L"), checked as a comparison; the spans
    of the numbers so checked (the count, the total, the limits), which are no values."""
    spans: list[tuple[int, int]] = []
    for m in _BEYOND.finditer(blank):
        x = float(m.group("x"))
        between = m.group("cmp").lower() == "between" and m.group("y") is not None
        op = "between" if between else comparator_of(m.group("cmp"))
        y = float(m.group("y")) if between else x

        def holds(v: float, op: str = op, x: float = x, y: float = y) -> bool:
            return _within(v, x, y) if op == "between" else compares(v, op, x)

        total = int(m.group("n")) if m.group("n") else None
        series: list[list[float]] = []
        for seen in sup.items:
            series.extend([p.value for p in s.values] for s in seen.stats)
            by_part: dict[str | None, list[float]] = {}
            for p in seen.item.points:
                if p.value is not None:
                    part = p.component.code if p.component else None
                    by_part.setdefault(part, []).append(p.value.value)
            series.extend(by_part.values())
        counts = [
            (sum(holds(v) for v in vals), len(vals))
            for vals in series
            if vals and (total is None or len(vals) == total)
        ]
        said = m.group("k").lower()
        ok = any(
            c == (0 if said == "none" else n if said == "all" else int(said)) for c, n in counts
        )
        if not ok:
            shown = f"{counts[0][0]} of the {counts[0][1]}" if counts else "a different number of"
            check.findings.append(
                Finding(
                    "number",
                    f"says {m.group('k')} result(s) {_COMPARED.get(op, op)} {m.group('x')}, but "
                    f"{shown} cited results are",
                )
            )
        spans += [m.span("k"), m.span("x"), *(m.span(g) for g in ("n", "y") if m.group(g))]
    for m in _IN_RANGE.finditer(blank):
        if any(a <= m.start("x") < b for a, b in spans) or LIMIT_CONTEXT.search(
            blank[max(0, m.start() - 50) : m.start()]
        ):
            continue  # counted above, or a limit ("the reference range is between …")
        low, high = float(m.group("x")), float(m.group("y"))
        dated, latest = _compared_values(sup, text, m.start())
        values = dated or latest
        if values:
            inside = (any if dated else all)(_within(v, low, high) for v in values)
            if inside == (not m.group("not")):
                spans += [m.span("x"), m.span("y")]
                continue
            check.findings.append(
                Finding(
                    "number",
                    f"says {'not ' if m.group('not') else ''}between {m.group('x')} and "
                    f"{m.group('y')}, but the cited value is {', '.join(f'{v:g}' for v in values)}",
                )
            )
            spans += [m.span("x"), m.span("y")]
    return spans


def _compared_values(sup: Support, sentence: str, at: int) -> tuple[list[float], list[float]]:
    """The cited values a comparison at ``at`` is about: those of the dates its clause
    states ("above 7 % in 2019", "the latest, 43.2 mg/dL on 2025-04-30, is not above
    100"), and the latest."""
    a = sentence.rfind(";", 0, at) + 1
    b = sentence.find(";", at)
    clause = sentence[a : b if b >= 0 else len(sentence)]
    stated = extract_dates(clause)[0]
    stated += [
        (int(y), None, None) for y in re.findall(r"\b(?:in|of|during) ((?:19|20)\d\d)\b", clause)
    ]
    dated = [
        v.value for v in sup.values if v.date and any(date_ok(d, [_date3(v.date)]) for d in stated)
    ]
    return dated, _latest_values(sup)


def _latest_values(sup: Support) -> list[float]:
    dated = [v for v in sup.values if v.date]
    if not dated:
        return []
    last = max(v.date or "" for v in dated)
    return [v.value for v in dated if v.date == last]


def stated_window(
    sentence: str, as_of: dt.date | None, anchors: Mapping[str, dt.date] | None = None
) -> tuple[str, str] | None:
    """The window a sentence states for what it counts ("from D1 to D2", "since D", "in
    YEAR", "in the past 6 months" …), read by the same code that reads a question's window
    (:func:`agent.understand.window_of`), as ISO days ("0001-01-01"/"9999-12-31": open)."""
    w = window_of(sentence, as_of or dt.date.today(), anchors)
    if w is None:
        return None
    lo = w.start.isoformat() if w.start else "0001-01-01"
    return lo, w.end.isoformat() if w.end else "9999-12-31"


_NOT_IN_WINDOW = re.compile(
    r"\b(?:no|none|not|nothing|never|without|before|after|prior|earlier|later|outside|since|"
    r"previous|last\s+one|born|birth|died|death|age[ds]?)\b",
    re.I,
)


def _window_date_findings(
    body: str,
    as_of: dt.date | None,
    anchors: Mapping[str, dt.date] | None,
    check: SentenceCheck,
) -> None:
    """A day the sentence states must lie in the window it states: "The most recent eGFR
    between 2011-03-24 and 2011-09-20 is 40.89 on 2021-03-28" is false although each date
    and value is in the record. A sentence that also speaks of what lies outside ("none …;
    the last one before …", a birth or a death) is left to its other checks."""
    w = window_of(body, as_of or dt.date.today(), anchors)
    if w is None:
        return
    at = body.lower().find(w.label)
    rest = body if at < 0 else body[:at] + " " * len(w.label) + body[at + len(w.label) :]
    if _NOT_IN_WINDOW.search(rest):
        return
    lo, hi = w.start or dt.date.min, w.end or dt.date.max
    for y, m, d in extract_dates(rest)[0]:
        if m is None or d is None:
            continue
        try:
            day = dt.date(y, m, d)
        except ValueError:
            continue
        if not lo <= day <= hi:
            check.findings.append(
                Finding("date", f"{day} lies outside the window the sentence states ({w.label})")
            )


#: "she was last seen on D", "her most recent visit was on D": a claim that no visit
#: came after D (a visit of a kind, "her last ER visit", is not this claim)
_LAST_VISIT = re.compile(
    r"\b(?:last|latest|most recent(?:ly)?)\s+(?:recorded\s+)?(?:seen|visit(?:ed)?|came in|"
    r"encounter|appointment)\b|\b(?:seen|visited|came in)\s+last\b",
    re.I,
)


def _last_visit_findings(
    body: str,
    dates: Sequence[tuple[int, int | None, int | None]],
    index: SessionIndex,
    as_of: dt.date | None,
    anchors: Mapping[str, dt.date] | None,
    check: SentenceCheck,
) -> None:
    """ "Last seen on 2020-07-26" is false when a visit the session has seen came after it
    (up to the reference day), or the record's last visit (``anchors["visit"]``, of the
    whole record) did: a recency claim is checked against every visit known, not only
    the ones cited."""
    if not _LAST_VISIT.search(body) or len(dates) != 1 or dates[0][2] is None:
        return
    y, m, d = dates[0]
    said = f"{y:04d}-{m:02d}-{d:02d}"
    limit = as_of.isoformat() if as_of else "9999-12-31"
    later = sorted(
        (p.day[:10], h)
        for h, ix in index.items.items()
        if ix.seen.item.kind == "encounter"
        for p in ix.seen.item.points
        if p.day and said < p.day[:10] <= limit
    )
    if later:
        day, h = later[-1]
        check.findings.append(
            Finding("date", f"says the last visit was on {said}, but {h} records one on {day}")
        )
        return
    last = (anchors or {}).get("visit")
    if last is not None and said < last.isoformat() <= limit:
        check.findings.append(
            Finding(
                "date", f"says the last visit was on {said}, but the record's last is on {last}"
            )
        )


def _window_counts(sup: Support, window: tuple[str, str]) -> set[int]:
    """Counts a sentence may state for a window: the cited entries dated in it (per item,
    in all, and as distinct days), and counts a tool computed over a series lying in it."""
    lo, hi = window
    per_item = [sum(1 for p in s.item.points if p.day and lo <= p.day <= hi) for s in sup.items]
    days = {p.day for s in sup.items for p in s.item.points if p.day and lo <= p.day <= hi}
    out = {*per_item, sum(per_item), len(days)}
    for s in sup.items:
        for st in s.stats:
            first = st.first.date[:10] if st.first is not None else None
            last = st.last.date[:10] if st.last is not None else None
            if first and last and lo <= first and last <= hi:
                out.add(st.n)
    return out


def _year_counts(sup: Support, text: str, question: str) -> list[tuple[int, int, int]]:
    """(year, month, count of cited points then) for each year a sentence or question names."""
    out = []
    years = {int(y) for y in re.findall(r"\b(19\d\d|20\d\d)\b", text + " " + question)}
    for y in years:
        total = 0
        for s in sup.items:
            n = sum(1 for p in s.item.points if p.day and p.day.startswith(str(y)))
            total += n
            out.append((y, 0, n))
        out.append((y, 0, total))
    return out


# --------------------------------------------------------------------------- terms


#: kinds of concept whose names state no fact of the record by themselves
_NOT_CLAIMS = frozenset({"body_site"})


def _candidates(m: Mention, sentence: str, term: Terminology) -> list[Concept]:
    """A mention's concepts; a disease named with a vaccination cue means its vaccine
    ("vaccinated against influenza", "a shot for shingles"), and without one, not the
    vaccine. A body part is no claim of its own ("on the other hand", "her knee"): what is
    said of it is (the sprain, the replacement)."""
    concepts = [c for c in m.concepts if c.kind not in _NOT_CLAIMS]
    vaccines = [c for c in concepts if c.kind == "vaccine"]
    others = [c for c in concepts if c.kind != "vaccine"]
    if not _VACCINATION.search(sentence):
        return others or vaccines
    if not vaccines:
        for v in term.mentions(f"{m.text} vaccine"):
            vaccines += [c for c in v.concepts if c.kind == "vaccine"]
    return vaccines or others


def _scope_covers(
    item: EvidenceItem, concept: Concept | None, types: Sequence[str], index: SessionIndex
) -> bool:
    """An absence item searched (at least) these types for the concept (or everything)."""
    scope = item.scope
    if scope is None:
        return False
    if "any" not in scope.resource_types and not set(types) & set(scope.resource_types):
        return False
    if concept is None:
        return not scope.codes and not scope.name
    if not scope.codes and not scope.name:
        return True
    term = index.terminology
    for c in scope.codes:
        for found in term.concepts_of(c.system, c.code, c.display):
            if term.implies(concept, found) or term.implies(found, concept):
                return True
    if scope.name:
        for m in term.mentions(scope.name):
            if any(term.implies(concept, c) or term.implies(c, concept) for c in m.concepts):
                return True
        if concept.name.lower() in scope.name.lower() or scope.name.lower() in concept.name.lower():
            return True
    return False


def _negative_support(
    concept: Concept | None,
    types: Sequence[str],
    valid: Sequence[str],
    index: SessionIndex,
    inventory: Mapping[str, Sequence[str]] | None,
    sections: Sequence[str] = (),
) -> bool:
    """A "none in the record" claim rests on a search that found nothing (cited), or on
    the whole section of the record, cited, of which no item records the concept."""
    for h in valid:
        if _scope_covers(index.items[h].seen.item, concept, types, index):
            return True
    if inventory and sections:
        for section in sections:
            handles = list(inventory.get(section) or [])
            if handles and set(handles) <= set(valid):
                return concept is None or not index.supports(handles, concept)
    return False


_SECTION_OF = {
    "AllergyIntolerance": "allergies",
    "MedicationRequest": "medications",
    "MedicationStatement": "medications",
    "Condition": "conditions",
    "Immunization": "immunizations",
    "Procedure": "procedures",
    "Encounter": "encounters",
}


def _term_findings(
    text: str,
    body: str,
    valid: Sequence[str],
    index: SessionIndex,
    inventory: Mapping[str, Sequence[str]] | None,
    check: SentenceCheck,
) -> list[Mention]:
    """Check every concept the sentence names; return the mentions (their spans)."""
    term = index.terminology
    mentions = term.mentions(body)
    for m in mentions:
        concepts = _candidates(m, text, term)
        if not concepts:
            continue
        status = assertion_of(text, m.start, m.end).status
        shown = text[m.start : m.end]
        if status == "hypothetical":
            check.unchecked.append(f"{shown} (hypothetical)")
            continue
        if status == "family":
            fam = [h for h in valid if index.items[h].seen.item.kind == "family_history"]
            if fam and any(index.supports(fam, c) for c in concepts):
                continue
            check.findings.append(
                Finding(
                    "entity", f"says a relative had {shown!r}; no cited family history records it"
                )
            )
            continue
        if status == "negated" and _copied_negative_value(text, m.start, valid, index, shown):
            continue  # "ethnicity Not Hispanic or Latino": a value copied, not a negative claim
        if status == "negated" and _SEVERE_BEFORE.search(text[max(0, m.start - 30) : m.start]):
            continue  # "no severe allergies": a claim of severity (_severity_findings)
        if status == "negated":
            present = [c for c in concepts if index.supports(valid, c)]
            if present:
                check.findings.append(
                    Finding("contradiction", f"says no {shown!r}, but a cited item records it")
                )
                continue
            types = tuple(t for c in concepts for t in _KIND_TYPES.get(c.kind, ()))
            sections = tuple(dict.fromkeys(_SECTION_OF[t] for t in types if t in _SECTION_OF))
            if any(
                _negative_support(c, types, valid, index, inventory, sections) for c in concepts
            ):
                continue
            check.findings.append(
                Finding(
                    "negation",
                    f"says there is no {shown!r}, but cites no search of the record that found none "
                    "(cite the search result, e.g. search_record or record_summary)",
                )
            )
            continue
        before = text[max(0, m.start - 30) : m.start]
        allergic = bool(_ALLERGY_CUE.search(before))
        taken = (
            not allergic
            and any(c.kind in ("drug", "drug_class") for c in concepts)
            and bool(_TAKING_CUE.search(before))
        )
        where_ok = (
            [h for h in valid if index.items[h].seen.item.kind == "allergy"]
            if allergic
            else [h for h in valid if index.items[h].seen.item.kind != "allergy"]
            if taken
            else valid
        )
        verdicts = [index.supports(where_ok, c) for c in concepts]
        if any(verdicts) or _treated_for(text, m.start, concepts, valid, index):
            continue
        if allergic and any(index.supports(valid, c) for c in concepts):
            check.findings.append(
                Finding("entity", f"says allergic to {shown!r}, but no cited allergy records it")
            )
            continue
        if taken and any(index.supports(valid, c) for c in concepts):
            check.findings.append(
                Finding(
                    "entity",
                    f"says {shown!r} is taken, but it cites only an allergy to it, "
                    "no medication order or dose",
                )
            )
            continue
        if any(v is None for v in verdicts):  # the terminology cannot relate them
            if not _lexical(shown, valid, index):
                check.unchecked.append(shown)
            continue
        others = [
            h
            for h in dict.fromkeys(h for c in concepts for h in index.naming(c, valid))
            if not allergic or index.items[h].seen.item.kind == "allergy"
        ]
        where = (
            f" ({', '.join(others[:3])} {'does' if len(others) == 1 else 'do'})" if others else ""
        )
        check.findings.append(
            Finding(
                "entity",
                f"mentions {shown!r}, which none of its cited items support{where}",
                supported_by=tuple(others[:3]),
            )
        )
    return mentions


_NEGATIVE_PREFIX = re.compile(r"\b(?:not|non-?|no)\s*$", re.I)


_FOR_CUE = re.compile(
    r"\b(?:for|to (?:treat|control|manage|lower))\s+(?:(?:her|his|their|the|your|my|its)\s+)?$",
    re.I,
)


def _treated_for(
    text: str, start: int, concepts: Sequence[Concept], valid: Sequence[str], index: SessionIndex
) -> bool:
    """ "losartan for her blood pressure", "metformin for his diabetes": a cited medication
    of a drug class given for the condition named (:func:`tools.terminology.treats`), or
    for a condition that the named lab or vital monitors."""
    if not _FOR_CUE.search(text[max(0, start - 40) : start]):
        return False
    drugs = [
        c
        for h in valid
        if index.items[h].seen.item.kind == "medication"
        for c in index.items[h].concepts
    ]
    return bool(drugs) and any(treats(index.terminology, drugs, c) for c in concepts)


_SEVERE = r"(?:severe|serious|life[- ]threatening|dangerous|high[- ]criticality|anaphylactic)"
_SEVERE_BEFORE = re.compile(rf"\b{_SEVERE}\s+(?:\w+\s+)?$", re.I)
_SEVERITY_CLAIMS = (
    re.compile(rf"\b{_SEVERE}\s+(?:[\w-]+\s+){{0,3}}?(?:allerg\w*|reactions?)\b", re.I),
    re.compile(
        rf"\ballerg\w*\s+(?:\w+\s+){{0,3}}?(?:is|are|was|were)\s+(?:not\s+)?{_SEVERE}", re.I
    ),
)


def _severe(item: EvidenceItem) -> bool:
    return (item.criticality or "").lower() == "high" or any(
        "(severe)" in r.lower() for r in item.reactions
    )


def _severity_findings(
    text: str, valid: Sequence[str], index: SessionIndex, check: SentenceCheck
) -> None:
    """ "No severe allergies" / "a serious penicillin allergy": an allergy's severity is
    its criticality (high) or a reaction recorded as severe. A denial holds when no allergy
    seen in the session is severe (an uncited severe one is no less severe); a claim needs
    a cited allergy that is."""
    for pattern in _SEVERITY_CLAIMS:
        m = pattern.search(text)
        if m is None:
            continue
        head = text[max(0, m.start() - 40) : m.start()]
        denied = bool(
            re.search(r"\b(?:no|not|none|nor|without|neither)\b|n't\b", head + m.group(), re.I)
        )
        cited = [
            index.items[h].seen.item for h in valid if index.items[h].seen.item.kind == "allergy"
        ]
        seen = [ix.seen.item for ix in index.items.values() if ix.seen.item.kind == "allergy"]
        if denied:
            bad = [a for a in seen if _severe(a)]
            if bad:
                check.findings.append(
                    Finding(
                        "contradiction",
                        f"says {m.group()!r} is not so, but {bad[0].name} is recorded as severe or high criticality",
                    )
                )
            elif not cited and not any(index.items[h].seen.item.kind == "absence" for h in valid):
                check.unchecked.append(f"{m.group()} (no cited allergy)")
        elif not any(_severe(a) for a in cited):
            check.findings.append(
                Finding(
                    "contradiction",
                    f"says {m.group()!r}, but no cited allergy is recorded as severe or high criticality",
                )
            )
        return


def _copied_negative_value(
    text: str, start: int, valid: Sequence[str], index: SessionIndex, shown: str
) -> bool:
    """The negation and the term together are one value of a cited item, as the record
    writes it ("Not Hispanic or Latino", "Non-smoker"): copied, not a claim of absence."""
    cue = _NEGATIVE_PREFIX.search(text[max(0, start - 12) : start])
    if cue is None:
        return False
    phrase = " ".join((cue.group() + shown).lower().split())
    return any(
        phrase in " ".join(t.lower().split())
        for h in valid
        for t in item_words(index.items[h].seen.item)
    )


def _lexical(shown: str, valid: Sequence[str], index: SessionIndex) -> bool:
    """Every content word of the mention is one of the cited items' own words."""
    words = [_norm(w) for w, _a, _b in word_spans(shown) if len(w) > 2]
    return bool(words) and all(index.word_in(w, valid) for w in words)


def _category_findings(
    text: str,
    body: str,
    valid: Sequence[str],
    index: SessionIndex,
    inventory: Mapping[str, Sequence[str]] | None,
    covered: list[tuple[int, int]],
    check: SentenceCheck,
) -> None:
    """ "No allergies are recorded": a negated section word must rest on a search of that
    section that found nothing, and no cited item may be of that section."""
    for pattern, types, kinds in _CATEGORIES:
        for m in pattern.finditer(body):
            if any(a <= m.start() < b for a, b in covered):
                continue
            if assertion_of(text, m.start(), m.end()).status != "negated":
                continue
            cited_kinds = {index.items[h].seen.item.kind for h in valid}
            if set(kinds) & cited_kinds:
                check.findings.append(
                    Finding("contradiction", f"says no {m.group()!r}, but cites such an entry")
                )
                break
            sections = tuple(dict.fromkeys(_SECTION_OF[t] for t in types if t in _SECTION_OF))
            if not _negative_support(None, types, valid, index, inventory, sections):
                check.findings.append(
                    Finding(
                        "negation",
                        f"says there are no {m.group()!r}, but cites no search of the record that "
                        "found none (cite the search result)",
                    )
                )
            break


def _status_findings(
    text: str,
    mentions: list[Mention],
    valid: Sequence[str],
    index: SessionIndex,
    check: SentenceCheck,
) -> None:
    """ "active" / "still taking" vs "resolved" / "stopped": the status the sentence gives
    must be the cited items' (conditions, medications, allergies)."""
    stateful = [
        index.items[h].seen.item
        for h in valid
        if index.items[h].seen.item.kind in ("condition", "medication", "allergy")
    ]
    if not stateful:
        return

    def relevant(pos: int) -> list[EvidenceItem]:
        if not mentions:
            return stateful
        near = min(mentions, key=lambda m: abs((m.start + m.end) // 2 - pos))
        items = [
            i
            for i in stateful
            if any(
                index.terminology.implies(c, t)
                for c in item_concepts(i, index.terminology)
                for t in near.concepts
            )
        ]
        return items or stateful

    deceased = any(
        s.item.demographics is not None and s.item.demographics.deceased
        for s in index.seen.values()
    )
    for m in _NOT_RESOLVED.finditer(text):  # "did not get better", "has not cleared up"
        items = relevant(m.start())
        if items and not any(_active(i) for i in items):
            check.findings.append(
                Finding(
                    "contradiction",
                    f"says {m.group()!r}, but {items[0].handle} is {items[0].status}",
                )
            )
            return
    for m in _INACTIVE_CUE.finditer(text):
        if assertion_of(text, m.start(), m.end()).status == "negated":
            continue
        if deceased and m.group().lower() in _PAST_TENSE:
            continue  # of a patient who died, "was on" is the tense, not a stopped order
        items = relevant(m.start())
        active = [i for i in items if _active(i)]
        if active and len(active) == len(items):
            check.findings.append(
                Finding(
                    "contradiction",
                    f"says {m.group()!r}, but {active[0].handle} is {active[0].status}",
                )
            )
            return
    for m in _ACTIVE_CUE.finditer(text):
        negated = assertion_of(text, m.start(), m.end()).status == "negated"
        items = relevant(m.start())
        inactive = [i for i in items if not _active(i)]
        if negated:
            if items and not inactive:
                check.findings.append(
                    Finding(
                        "contradiction",
                        f"says not {m.group()!r}, but {items[0].handle} is {items[0].status}",
                    )
                )
                return
            continue
        if (
            inactive
            and len(inactive) == len(items)
            and m.group().lower() not in ("takes", "taking", "is on", "remain", "remains")
        ):
            check.findings.append(
                Finding(
                    "contradiction",
                    f"says {m.group()!r}, but {inactive[0].handle} is {inactive[0].status}",
                )
            )
            return


#: that a problem goes on: "did not get better", "has not resolved", "hasn't cleared up"
_NOT_RESOLVED = re.compile(
    r"\b(?:not|n't|never)\s+(?:\w+\s+){0,2}?(?:get|got|gotten|getting)\s+better\b"
    r"|\b(?:not|n't|never)\s+(?:(?:yet|been|fully|completely)\s+)*(?:resolved|cleared|healed|"
    r"cured|gone away)\b",
    re.I,
)
_DIED = re.compile(r"\b(?:deceased|died|dead|passed away|death)\b", re.I)
_ALIVE = re.compile(r"\b(?:alive|living)\b", re.I)
#: "now" said of what holds, and the death said as the time it held
_NOW_SAID = re.compile(r"\b(?:currently|presently|at present|now|these days|today)\b", re.I)
_AT_DEATH_SAID = re.compile(
    r"\b(?:at|before|until|till|by)\s+(?:the\s+)?(?:time\s+of\s+)?(?:(?:her|his|their)\s+)?death\b"
    r"|\bwhen\s+(?:she|he|they|the patient)\s+died\b",
    re.I,
)


def _vital_findings(
    text: str, valid: Sequence[str], index: SessionIndex, check: SentenceCheck
) -> None:
    """Alive or dead, as the patient's entry records it: "Stewart Stanton is deceased"
    citing the entry of a living patient fails (it passed once: no word of it was a
    checked claim), and so does "alive" of a patient who died, whatever the sentence
    cites ("still alive as of 2025-06-01" citing a condition passed once); the entry is
    the cited one, else the one seen in the session. Of a patient who died, "now" is no
    time anything holds ("he is currently on warfarin"), unless the death is said as it
    ("current at death", "when he died")."""
    demo = [
        d for h in valid if (d := index.items[h].seen.item.demographics) is not None
    ] or [
        d for ix in index.items.values() if (d := ix.seen.item.demographics) is not None
    ]  # fmt: skip
    if not demo:
        return
    deceased = any(d.deceased for d in demo)
    for pattern, says_dead in ((_DIED, True), (_ALIVE, False)):
        for m in pattern.finditer(text):
            negated = assertion_of(text, m.start(), m.end()).status == "negated"
            if says_dead != negated and not deceased:
                check.findings.append(
                    Finding(
                        "contradiction",
                        f"says {m.group()!r}, but the patient's entry records no death",
                    )
                )
                return
            if says_dead == negated and deceased:
                check.findings.append(
                    Finding(
                        "contradiction", f"says {m.group()!r} of a patient whose death is recorded"
                    )
                )
                return
    if deceased and not _AT_DEATH_SAID.search(text):
        # "he is currently on warfarin" of a man who died: what held is said as of the
        # death ("current at death", "when he died"), never as now
        for m in _NOW_SAID.finditer(text):
            if assertion_of(text, m.start(), m.end()).status != "negated":
                check.findings.append(
                    Finding("contradiction", f"says {m.group()!r} of a patient who has died")
                )
                return


_DUE = re.compile(r"\b(?:over ?due|past due|due)\b(?!\s+to\b)", re.I)  # not "due to"


def _overdue(ix: _Indexed, term: Terminology, as_of: dt.date | None) -> bool:
    """A cited series whose last result is older than its test's repeat interval (the
    brief's "Due or overdue" rule, :attr:`tools.codes.Measure.retest_days`), or a cited
    vaccine whose last dose is older than its repeat interval (influenza: yearly)."""
    item = ix.seen.item
    days = [p.day for p in item.points if p.day]
    if not days or as_of is None:
        return False
    try:
        last = dt.date.fromisoformat(max(days)[:10])
    except ValueError:
        return False
    if item.kind == "immunization":
        every = repeat_days(term, ix.concepts)
        return every is not None and (as_of - last).days > every
    if item.kind != "observation":
        return False
    for c in item.codings:
        measure = measure_for_code(c.code or "")
        if measure is not None and measure.retest_days:
            return (as_of - last).days > measure.retest_days
    return False


def _due_findings(
    text: str,
    valid: Sequence[str],
    index: SessionIndex,
    as_of: dt.date | None,
    check: SentenceCheck,
) -> None:
    """ "X is due / overdue" rests on a cited result older than its test's repeat interval,
    and X is a test, not a problem: "Atrial fibrillation is due or overdue" passed once
    (the model folded a care-due line into the problem's name)."""
    m = _DUE.search(text)
    if m is None or assertion_of(text, m.start(), m.end()).status == "negated":
        return
    if not any(_overdue(index.items[h], index.terminology, as_of) for h in valid):
        check.findings.append(
            Finding(
                "contradiction",
                f"says {m.group()!r}, but no cited result is older than its repeat interval",
            )
        )
        return
    before = index.terminology.mentions(text[: m.start()])  # copied names too
    subject = before[-1] if before else None
    if subject is not None and all(
        c.kind in ("condition", "finding", "social") for c in subject.concepts
    ):
        check.findings.append(
            Finding("contradiction", f"says {subject.text!r} is {m.group()}: a problem is no test")
        )
        return
    # "The patient's Warfarin Sodium 5 MG Oral Tablet is due or overdue" passed in the demo's
    # brief, resting on an overdue creatinine cited beside the order (its last name read,
    # "Sodium", is a lab's): a cited medication named as what is due, or a drug named last
    head = text[: m.start()].lower()

    def just_before(name: str) -> bool:  # "<name> is due": nothing else named between
        at = head.rfind(name.lower())
        return at >= 0 and len(re.findall(r"\w+", head[at + len(name) :])) <= 3

    drug = next(
        (
            plain(it.name)
            for h in valid
            if (it := index.items[h].seen.item).kind == "medication" and just_before(plain(it.name))
        ),
        None,
    )
    if (
        drug is None
        and subject is not None
        and all(c.kind in ("drug", "drug_class") for c in subject.concepts)
    ):
        drug = subject.text
    if drug is not None:
        check.findings.append(
            Finding("contradiction", f"says {drug!r} is {m.group()}: a medication is no test")
        )


# "within the reference range", "elevated", "well controlled", "not at goal": judgements of
# a cited result, checked against its reference range or the measure's usual treatment goal
# (:class:`tools.codes.Goal`). Negated forms first: "poorly controlled" is no "controlled".
_BEING = r"\b(?:is|was|are|were|remains?|remained|stays?|stayed) (?:not )?(?:still |too |very |slightly |mildly |a bit )?"
_GOAL_WORDS = r"(?:the |her |his |their |its )?(?:usual )?(?:treatment )?(?:goal|target)s?"
_JUDGEMENTS: tuple[tuple[str, str, re.Pattern[str]], ...] = (
    ("goal", "not met", re.compile(
        r"\b(?:un|poorly |sub-?optimally |inadequately |not (?:well |adequately )?)controlled\b"
        r"|\bnot (?:under|in) (?:good )?control\b|\bout of control\b"
        rf"|\b(?:above|over|not at|not within|not meeting|does not meet|doesn't meet|short of) {_GOAL_WORDS}\b",
        re.I)),
    ("goal", "met", re.compile(
        r"\b(?:well[- ])?controlled\b|\b(?:under|in good) control\b"
        rf"|\b(?:at|within|below|under|meets|meeting|met|reach(?:es|ed)?) {_GOAL_WORDS}\b",
        re.I)),
    ("range", "outside", re.compile(
        r"\babnormal\b|\bout(?:side)? (?:of )?(?:the )?(?:(?!goal|target)[\w-]+\s+){0,3}?range\b",
        re.I)),
    ("range", "above", re.compile(
        r"\babove (?:the )?(?:upper limit of )?(?:the )?(?:(?!goal|target)[\w-]+\s+){0,3}?range\b"
        r"|\belevated\b|\bhigher than normal\b|\babove normal\b"
            rf"|{_BEING}high\b(?!\s+(?:risk|blood|cholesterol|[-\w]+ (?:diet|risk)))", re.I)),
    ("range", "below", re.compile(
        r"\bbelow (?:the )?(?:lower limit of )?(?:the )?(?:(?!goal|target)[\w-]+\s+){0,3}?range\b"
        r"|\blower than normal\b|\bbelow normal\b"
            rf"|{_BEING}low\b(?!\s+(?:risk|blood|dose|[-\w]+ (?:diet|risk)))", re.I)),
    ("range", "within", re.compile(
        r"\b(?:with)?in (?:the )?(?:(?!goal|target)[\w-]+\s+){0,3}?range\b|\bwithin normal limits\b"
        r"|\b(?:is|was|are|were|remains?|remained|stays?|stayed) (?:still )?normal\b",
        re.I)),
)  # fmt: skip


def _judged_points(item: EvidenceItem, stated: Sequence[float]) -> list[Point]:
    """The results a judgement speaks of, one per component (blood pressure: systolic and
    diastolic): the one whose value the sentence states, else the latest."""
    out = []
    parts: dict[str | None, list[Point]] = {}
    for p in item.points:
        if p.value is not None and p.day:
            parts.setdefault(p.component.code if p.component else None, []).append(p)
    for pts in parts.values():
        said = [
            p
            for p in pts
            if p.value is not None
            and any(abs(p.value.value - v) <= max(abs(v) * _REL_TOL, 0.05) for v in stated)
        ]
        out.append(said[-1] if said else pts[-1])
    return out


def _judgement(item: EvidenceItem, p: Point, what: str) -> tuple[str, str] | None:
    """``(verdict, why)`` of a cited result against its range (``above`` / ``below`` /
    ``within``) or the measure's goal (``met`` / ``not met``); None when it has none."""
    assert p.value is not None
    value, unit = p.value.value, p.value.unit or item.unit or ""
    name = (p.component.display if p.component else None) or item.name
    shown = f"{name} {fmt_num(value)} {display_unit(unit)} on {p.day}".replace("  ", " ")
    codings = [p.component] if p.component else item.codings
    measure = next((m for m in (measure_for_code(c.code or "") for c in codings) if m), None)
    if what == "goal":
        if measure is None or measure.goal is None:
            return None
        factor = conversion(unit, measure.unit) if unit else 1.0
        if factor is None:
            return None
        goal = measure.goal
        met = goal.met(value * factor)
        why = f"{shown} {'meets' if met else 'does not meet'} the goal {goal.text()} {display_unit(measure.unit)}"
        return ("met" if met else "not met", why)
    rng = p.reference_range or item.reference_range
    low, high = (rng.low, rng.high) if rng is not None else (None, None)
    if low is None and high is None and measure is not None:
        default = measure.range_for(None)
        factor = conversion(measure.unit, unit) if unit else 1.0
        if default is None or factor is None:
            return None
        low = None if default.low is None else default.low * factor
        high = None if default.high is None else default.high * factor
    if low is None and high is None:
        return None
    where = (
        "above" if high is not None and value > high
        else "below" if low is not None and value < low
        else "within"
    )  # fmt: skip
    bounds = (
        f"{fmt_num(low) if low is not None else ''}–{fmt_num(high) if high is not None else ''}"
    )
    return (where, f"{shown} is {where} the range {bounds}")


def _judgement_findings(
    text: str,
    stated: Sequence[float],
    named: Sequence[Mention],
    valid: Sequence[str],
    index: SessionIndex,
    check: SentenceCheck,
) -> None:
    """A judgement of a result ("within the reference range", "elevated", "well
    controlled", "above goal") agrees with the cited result's range or usual treatment
    goal; with no cited result that has one, it is unchecked (the sentence is shown
    marked, never as fact). "Controlled" needs every cited result with a goal at goal;
    "uncontrolled" one not at goal (blood pressure: systolic and diastolic)."""
    taken: list[tuple[int, int]] = []
    series = [
        h
        for h in valid
        if index.items[h].seen.item.kind == "observation"
        and any(p.value is not None for p in index.items[h].seen.item.points)
    ]
    for what, claim, pattern in _JUDGEMENTS:
        for m in pattern.finditer(text):
            if any(a < m.end() and m.start() < b for a, b in taken):
                continue
            taken.append((m.start(), m.end()))
            status = assertion_of(text, m.start(), m.end()).status
            if status in ("hypothetical", "family"):
                continue
            negated = status == "negated" or bool(
                claim != "not met" and re.search(r"\bnot\b", m.group(), re.I)
            )
            # of several cited results, those of the things named since the judgement
            # before it, else of the thing named last ("her HbA1c is above range, her
            # glucose within it"): the results named, or those that monitor a condition
            # named ("her diabetes is controlled" is the HbA1c's goal, not the cited
            # blood pressure's; "her blood pressure and diabetes are controlled", both)
            before = (
                [n for n in named if n.end <= m.start() and n.concepts] if len(series) > 1 else []
            )
            since = max((b for a, b in taken[:-1] if b <= m.start()), default=0)
            subject = [n for n in before if n.start >= since] or before[-1:]
            own = [
                h for h in series if any(_of_it(index, h, c) for n in subject for c in n.concepts)
            ]
            verdicts = []
            for h in own or series:
                item = index.items[h].seen.item
                for p in _judged_points(item, stated):
                    v = _judgement(item, p, what)
                    if v is not None:
                        verdicts.append(v)
            if not verdicts:
                check.unchecked.append(
                    f"{m.group()} (no cited result with a "
                    f"{'treatment goal' if what == 'goal' else 'reference range'})"
                )
                continue
            if claim == "outside":
                holds = any(v != "within" for v, _ in verdicts)
            elif claim in ("met", "within"):
                holds = all(v == claim for v, _ in verdicts)
            else:
                holds = any(v == claim for v, _ in verdicts)
            if negated and claim != "not met":  # "not within the range", "not elevated"
                holds = not holds
            if not holds:
                why = next((w for v, w in verdicts if (v == claim) == negated), verdicts[0][1])
                check.findings.append(Finding("contradiction", f"says {m.group()!r}, but {why}"))
                return


def _band_findings(
    text: str, valid: Sequence[str], index: SessionIndex, check: SentenceCheck
) -> list[tuple[int, int]]:
    """A result said to fall in a category of its measure ("is, in the WHO adult BMI
    categories, overweight"; KDIGO's GFR categories) agrees with the latest cited result
    of that measure (:meth:`tools.codes.Measure.band_of`); the spans of those phrases,
    which are then no terms or numbers of their own."""
    out: list[tuple[int, int]] = []
    for measure in (m for m in MEASURES if m.bands):
        names = sorted((n for _low, n, _span in measure.bands), key=len, reverse=True)
        said = re.compile(
            rf"\bin the {re.escape(measure.bands_by)},?\s+(?:is\s+)?"
            rf"(?P<band>{'|'.join(map(re.escape, names))})(?:\s*\((?P<span>[^)]*)\))?",
            re.I,
        )
        spans = {n.lower(): span for _low, n, span in measure.bands}
        for hit in said.finditer(text):
            out.append(hit.span())
            found = []
            for h in valid:
                item = index.items[h].seen.item
                if not any(measure_for_code(c.code or "") is measure for c in item.codings):
                    continue
                pts = [p for p in item.points if p.value is not None and p.day]
                if not pts or pts[-1].value is None:
                    continue
                last = pts[-1].value
                factor = conversion(last.unit, measure.unit) if last.unit else 1.0
                band = measure.band_of(last.value * factor) if factor is not None else None
                if band is not None:
                    found.append(band[0])
            shown = hit.group("span")
            if shown is not None and not shown.startswith(spans[hit.group("band").lower()]):
                check.findings.append(
                    Finding("number", f"({shown}) is not the span of {hit.group('band')!r}")
                )
            if not found:
                check.unchecked.append(f"{hit.group()} (no cited result of that measure)")
            elif hit.group("band").lower() not in {b.lower() for b in found}:
                check.findings.append(
                    Finding("contradiction", f"says {hit.group('band')!r}, but the cited "
                            f"result is {found[-1]} in the {measure.bands_by}")
                )  # fmt: skip
    return out


def _of_it(index: SessionIndex, handle: str, named: Concept) -> bool:
    """Whether a cited result is of what is named: it records it ("HbA1c"), or it is a
    lab or vital that shows how the condition named is doing (diabetes: HbA1c, glucose)."""
    if index.supports([handle], named):
        return True
    return any(concerns(index.terminology, named, c) for c in index.items[handle].concepts)


def _active(item: EvidenceItem) -> bool:
    return (item.status or "") in ("active", "current", "recurrence", "relapse", "on-hold")


def _direction_findings(
    text: str,
    dates: list[tuple[int, int | None, int | None]],
    claims: list[NumberClaim],
    valid: Sequence[str],
    index: SessionIndex,
    question_dates: list[tuple[int, int | None, int | None]],
    check: SentenceCheck,
) -> None:
    """ "rose", "fell", "stable", "improving": checked against the cited series. Which
    way is good for a measure ("for HbA1c, lower is better") says nothing of its course."""
    text = _POLARITY.sub(lambda m: " " * len(m.group()), text)
    cues = [
        (p, word)
        for p, word in (
            (_UP, "up"),
            (_DOWN, "down"),
            (_FLAT, "flat"),
            (_BETTER, "better"),
            (_WORSE, "worse"),
        )
        if p.search(text)
    ]
    if not cues:
        return
    series = [
        index.items[h].seen
        for h in valid
        if len(index.items[h].seen.item.values) >= 2 or index.items[h].seen.stats
    ]
    if not series:
        return
    vs_previous = bool(_VS_PREVIOUS.search(text))
    for pattern, word in cues:
        m = pattern.search(text)
        assert m is not None
        negated = assertion_of(text, m.start(), m.end()).status == "negated"
        for s in series:
            change = _change(s, dates, claims, question_dates, previous=vs_previous)
            if change is None:
                continue
            if word in ("better", "worse"):
                polarity = next(
                    (c.polarity for c in index.items[s.handle].concepts if c.polarity), None
                )
                if polarity is None:
                    check.unchecked.append(
                        f"{m.group()} (no known direction of improvement for {s.item.name})"
                    )
                    continue
                worse = change > 0 if polarity == "higher_worse" else change < 0
                says_worse = word == "worse"
                holds = change != 0 and worse == says_worse
            elif word == "flat":
                holds = change == 0 or any(st.trend == "stable" for st in s.stats)
            else:
                holds = change > 0 if word == "up" else change < 0
            if negated:
                holds = not holds
            if not holds:
                check.findings.append(
                    Finding(
                        "direction",
                        f"says {m.group()!r}, but {s.handle} went from {_endpoints(s, dates, claims, question_dates, previous=vs_previous)}",
                    )
                )
                return


def _points(s: Seen) -> list[tuple[str, float]]:
    return sorted(
        (p.day or "", p.value.value)
        for p in s.item.values
        if p.day and p.value and not (p.component and p.component.code == "8462-4")
    )


_VS_PREVIOUS = re.compile(
    r"\b(?:one|result|value|reading|measurement|test|level)s? (?:before|prior)\b"
    r"|\b(?:previous|prior|preceding) (?:one|result|value|reading|measurement|test|level)\b"
    r"|\bthan (?:the )?(?:previous|prior|last) (?:one|time)\b|\bthan before\b",
    re.I,
)


def _change(
    s: Seen,
    dates: list[tuple[int, int | None, int | None]],
    claims: list[NumberClaim],
    question_dates: list[tuple[int, int | None, int | None]],
    *,
    previous: bool = False,
) -> float | None:
    a, b = _ends(s, dates, claims, question_dates, previous=previous)
    return None if a is None or b is None else b[1] - a[1]


def _ends(
    s: Seen,
    dates: list[tuple[int, int | None, int | None]],
    claims: list[NumberClaim],
    question_dates: list[tuple[int, int | None, int | None]],
    *,
    previous: bool = False,
) -> tuple[tuple[str, float] | None, tuple[str, float] | None]:
    """The two points a direction word compares: two points the sentence names (by date,
    else by value); one named point and the one before it ("fell to 6.6 % on …"); the
    latest and the one before it when the sentence compares with "the one before" /
    "the previous result" (``previous``); the window a tool computed; else the series'
    first and last."""
    pts = _points(s)
    if not pts:
        return None, None
    full = [d for d in dates if d[2] is not None]
    named = [p for p in pts if any(date_ok(d, [_date3(p[0])]) for d in full)]
    if len(named) < 2:
        by_value: list[tuple[str, float]] = []
        for n in claims:
            hits = [p for p in pts if abs(p[1] - n.value) <= 0.5 * 10 ** (-n.decimals) + 1e-9]
            if hits:
                best = next((p for p in reversed(hits) if p in named), hits[-1])
                if best not in by_value:
                    by_value.append(best)
        if len({v for _d, v in by_value}) >= 2:
            named = sorted(set(named) | set(by_value))
        elif not named and by_value:
            named = [by_value[-1]]
    if len(named) >= 2:
        return named[0], named[-1]
    if len(named) == 1:
        earlier = [p for p in pts if p[0] < named[0][0]]
        return (earlier[-1], named[0]) if earlier else (None, None)
    if previous:  # the latest and the result of the day before it (not a same-day twin)
        earlier = [p for p in pts if p[0] < pts[-1][0]]
        if earlier:
            return earlier[-1], pts[-1]
    windows = [st for st in s.stats if st.window and st.first and st.last]
    if windows:
        st = next(
            (
                w
                for w in windows
                if any(
                    date_ok(d, [_date3(w.date_from or "")])
                    for d in [*dates, *question_dates]
                    if w.date_from
                )
            ),
            windows[-1],
        )
        if st.first is not None and st.last is not None:
            return (st.first.date, st.first.value), (st.last.date, st.last.value)
    return pts[0], pts[-1]


def _endpoints(
    s: Seen,
    dates: list[tuple[int, int | None, int | None]],
    claims: list[NumberClaim],
    question_dates: list[tuple[int, int | None, int | None]],
    *,
    previous: bool = False,
) -> str:
    a, b = _ends(s, dates, claims, question_dates, previous=previous)
    if a is None or b is None:
        return "?"
    return f"{a[1]:g} on {a[0]} to {b[1]:g} on {b[0]}"


def _date3(day: str) -> tuple[int, int | None, int | None]:
    try:
        d = dt.date.fromisoformat(day[:10])
    except ValueError:
        return (0, None, None)
    return (d.year, d.month, d.day)


def _unknown_words(
    text: str,
    body: str,
    valid: Sequence[str],
    index: SessionIndex,
    covered: list[tuple[int, int]],
    check: SentenceCheck,
) -> None:
    """No source, no assertion: a word that is not common English and that no cited item
    states is a term the verifier cannot check — unverified; if another seen item names
    it, it is unsupported."""
    for word, a, b in word_spans(body):
        if len(word) < 4 or any(x <= a < y for x, y in covered):
            continue
        low = word.lower()
        if low in MONTH_WORDS or is_unit(word) or is_common_word(low):
            continue
        n = _norm(word)
        if n in index.name_words or index.word_in(n, valid):
            continue
        elsewhere = index.word_elsewhere(n, valid)
        if elsewhere:
            check.findings.append(
                Finding(
                    "entity",
                    f"mentions {text[a:b]!r}, which none of its cited items support ({', '.join(elsewhere[:3])} {'does' if len(elsewhere) == 1 else 'do'})",
                )
            )
            continue
        check.unchecked.append(text[a:b])


# --------------------------------------------------------------------------- sentence

_SEMANTIC_TAG = re.compile(
    r"\s*\((?:disorder|finding|procedure|situation|regime/therapy|substance|observable entity)\)\s*$"
)


def _copied_names(
    text: str, valid: Sequence[str], index: SessionIndex
) -> list[tuple[int, int, bool]]:
    """Spans where the sentence copies a cited item's own name or unit (its record name,
    a coding display, with or without a SNOMED tag) — ``(start, end, from_a_search)``.
    The words and numbers of a name the record itself gives ("Body mass index 30+ -
    obesity", "pneumococcal polysaccharide vaccine, 23 valent", "Metformin 500 MG Oral
    Tablet") are that entity, not claims; the name a search looked for is what it did
    not find."""
    names: dict[str, bool] = {}
    of_allergies: dict[str, bool] = {}  # a name only cited allergies give
    for h in valid:
        item = index.items[h].seen.item
        searched = item.kind == "absence"
        pool = [item.scope.name or ""] if searched and item.scope else []
        if not searched:
            pool = [item.name, *(c.display or "" for c in item.codings)]
        for n in pool:
            n = n.strip()
            for variant in (n, _SEMANTIC_TAG.sub("", n)):
                if len(variant) >= 5 or (variant and not variant.isalpha()):
                    names.setdefault(variant, searched)
                    of_allergies[variant] = of_allergies.get(variant, True) and (
                        item.kind == "allergy"
                    )
    spans: list[tuple[int, int, bool]] = []
    low = text.lower()
    for name in sorted(names, key=len, reverse=True):
        start = 0
        needle = name.lower()
        while (i := low.find(needle, start)) >= 0:
            end = i + len(needle)
            taken = of_allergies[name] and _TAKING_CUE.search(text[max(0, i - 30) : i])
            # "she is taking aspirin", the name copied from an allergy to it: not the
            # entity, a claim the term check reads (only a medication entry supports it)
            if not taken and not any(a <= i < b for a, b, _s in spans):
                spans.append((i, end, names[name]))
            start = end
    return spans


def _masked(
    text: str, spans: Sequence[tuple[int, int, bool]], keep: tuple[int, int] | None = None
) -> str:
    """The text with copied record names replaced by letters (same length): a word such
    as "without" inside "migraine without aura" is part of a name, not a negation."""
    out = text
    for a, b, _s in spans:
        if keep == (a, b):
            continue
        out = out[:a] + "x" * (b - a) + out[b:]
    return out


def _bound_support(
    pos: int,
    mentions: Sequence[Mention],
    valid: Sequence[str],
    index: SessionIndex,
    cache: dict[tuple[str, ...], Support],
    birth: dt.date | None,
    as_of: dt.date | None,
) -> Support | None:
    """A value belongs to what the sentence names just before it ("creatinine was 99
    mg/dL"): with several items cited, it is checked against the cited items that record
    that concept, not against all of them (99 of a cited glucose is no creatinine).
    ``None`` (use every cited item): nothing named before it, or no cited item (or every
    one) records what was named."""
    before = [m for m in mentions if m.end <= pos and m.concepts]
    if len(valid) < 2 or not before:
        return None
    near = before[-1]
    own = tuple(
        h
        for h in valid
        if index.items[h].seen.item.kind != "absence"
        and any(index.supports([h], c) for c in near.concepts)
    )
    if not own or len(own) == len(valid):
        return None
    if own not in cache:
        cache[own] = support_of(
            [index.items[h].seen for h in own],
            terminology=index.terminology,
            birth=birth,
            as_of=as_of,
        )
    return cache[own]


def _norm_handle(h: str) -> str:
    return h.strip().strip("[]").strip().upper()


def check_sentence(
    text: str,
    cites: Sequence[str],
    index: SessionIndex,
    *,
    question: str = "",
    inventory: Mapping[str, Sequence[str]] | None = None,
    as_of: dt.date | None = None,
    birth: dt.date | None = None,
    anchors: Mapping[str, dt.date] | None = None,
) -> SentenceCheck:
    """Verify one sentence against the typed evidence of the items it cites."""
    handles = list(dict.fromkeys(_norm_handle(h) for h in cites if h.strip()))
    valid = [h for h in handles if h in index.items]
    check = SentenceCheck(text, list(cites), valid)
    # "No — LDL cholesterol: the latest … is not above 100 mg/dL": the answer to a yes-or-no
    # question, not a denial of what follows it
    text = _ANSWERED.sub(lambda m: " " * len(m.group()), text, count=1)
    for h in handles:
        if h not in index.items:
            check.findings.append(Finding("unknown_handle", f"cites {h}, never seen here"))
    if not valid:
        check.findings.append(Finding("no_citation", "no citation of evidence seen here"))
        return check
    sup = support_of(
        [index.items[h].seen for h in valid],
        terminology=index.terminology,
        birth=birth,
        as_of=as_of,
    )
    body = blanked(text, HANDLE)
    dates, blank = extract_dates(body)
    q_dates = extract_dates(question)[0] if question else []
    as_of_date = (as_of.year, as_of.month, as_of.day) if as_of else None
    for d in dates:
        if date_ok(d, sup.dates) or (d[2] is not None and d in q_dates) or d == as_of_date:
            continue
        shown = "-".join(f"{p:02d}" if i else str(p) for i, p in enumerate(d) if p)
        check.findings.append(Finding("date", f"date {shown} not in the cited evidence"))
    _window_date_findings(body, as_of, anchors, check)
    _last_visit_findings(body, dates, index, as_of, anchors, check)
    copied = _copied_names(blank, valid, index)
    for a, b, searched in copied:
        negated = assertion_of(_masked(text, copied, (a, b)), a, b).status == "negated"
        if negated and not searched:
            check.findings.append(
                Finding("contradiction", f"says no {text[a:b]!r}, but cites that very entry")
            )
        elif searched and not negated:
            check.findings.append(
                Finding("negation", f"states {text[a:b]!r} citing a search that found none")
            )
    masked = _masked(text, copied)
    covered: list[tuple[int, int]] = [(a, b) for a, b, _s in copied]
    for h in valid:  # a cited unit such as "10*6/uL" or "mL/min/1.73 m²" is not a number
        unit = index.items[h].seen.item.unit or ""
        for form in {unit, display_unit(unit)}:
            if any(c.isdigit() for c in form):
                covered += [(m.start(), m.end()) for m in re.finditer(re.escape(form), blank)]
    for m in CODE_MENTION.finditer(blank):
        covered.append((m.start(), m.end()))
        if m.group(1).lower() not in sup.codes:
            check.findings.append(
                Finding("code", f"{m.group(0)} is not a code of the cited evidence")
            )
    for a, b in _band_findings(text, valid, index, check):  # "in the WHO adult BMI
        # categories, overweight": checked against the cited result, not read as a problem
        covered.append((a, b))
        masked = masked[:a] + "x" * (b - a) + masked[b:]
    for a, b in covered:
        blank = blank[:a] + " " * (b - a) + blank[b:]
    mentions = _term_findings(masked, blank, valid, index, inventory, check)
    named = [(m.start, m.end) for m in mentions]
    claims = [n for n in numbers(blank) if not any(a <= n.start < b for a, b in named)]
    year_counts = _year_counts(sup, text, question)
    stated = [n.value for n in claims]
    bound: dict[tuple[str, ...], Support] = {}
    every = index.terminology.mentions(body) if len(valid) > 1 else []  # copied names too
    counted = _beyond_findings(blank, text, sup, check)
    for n in claims:
        if any(a <= n.start < b for a, b in counted):
            continue  # a count of results beyond a threshold, checked by counting them
        own = _bound_support(n.start, every, valid, index, bound, birth, as_of) or sup
        finding = _check_number(n, own, text, as_of, year_counts, stated, anchors)
        if finding is not None:
            check.findings.append(finding)
    spans = [*covered, *((m.start, m.end) for m in mentions), *((n.start, n.end) for n in claims)]
    denied = [m for m in mentions if assertion_of(masked, m.start, m.end).status == "negated"]
    if not denied and not any(s for _a, _b, s in copied):  # a concept's search covers it
        _category_findings(masked, blank, valid, index, inventory, named, check)
    _status_findings(masked, mentions, valid, index, check)
    _vital_findings(masked, valid, index, check)
    _due_findings(body, valid, index, as_of, check)
    _judgement_findings(masked, stated, every, valid, index, check)  # the mentions made once
    _severity_findings(masked, valid, index, check)
    _direction_findings(masked, dates, claims, valid, index, q_dates, check)
    _unknown_words(text, blank, valid, index, spans, check)
    check.unchecked = list(dict.fromkeys(check.unchecked))
    return check

"""Scoring: answer correctness per answer type and citations against the evidence. No LLM judge.

Answer types (``Question.answer_type``), each scored 0..1:

- ``number``: |answer − truth| ≤ max(abs, rel × |truth|) (the question's ``tolerance``,
  default abs 0.01, rel 1 %). With a unit on both sides that differs, the answer is
  converted with :func:`tools.units.conversion` (UCUM); an unconvertible unit scores 0.
  A missing unit is accepted (noted as ``unit missing``).
- ``number_date``: the number as above AND the date (day precision); 1 only if both.
- ``count``: the integer exactly.
- ``date``: the same calendar day. Text may say ``2024-06-03``, ``2024/06/03``,
  ``06/03/2024`` (US month/day), ``3 June 2024``, ``June 3, 2024``, ``Jun 3 2024``.
- ``set``: F1 of the answer's items against the truth's; an item matches by normalized
  name (lower case, semantic tags such as "(disorder)" dropped, punctuation folded) or
  by code. From free text: a truth item is found when its normalized name occurs in the
  normalized text; the answer's item count is the number of list items (lines, bullets,
  ``;``/``,`` separated). An empty truth is matched by an empty answer or "none".
- ``yesno``: the bool (text: a leading yes/no).
- ``exact``: normalized string equality; for trend direction, synonyms count
  (rose/up/higher = increased …); for gender, whole words (``female`` is not ``male``).
- ``not_in_record``: 1 when the answer says the record has no such thing
  (``AnswerRecord.not_in_record`` or a phrase like "not in the record", "no record of",
  "not found") and gives no value. On any other type, saying "not in record" scores 0.
- ``choice``: one of several accepted wordings (``answer["accept"]``: whole-word
  phrases, e.g. an encounter's class or type) is in the answer and none of the rejected
  ones (``answer["reject"]``, e.g. the other classes) is.
- ``parts``: a question asking several things (``Question.parts``, one sub-question
  each); each part is scored on its own against the best span of the answer's clauses
  (spans of different parts do not overlap), or against ``value`` given as one dict per
  part (``value``/``unit``/``date``/``not_in_record``); the score is their mean.

- ``judgement`` (:mod:`bench.judgeqa`): ``answer = {"stance": true|false|null,
  "stance_kind": …, "facts": [...]}``; the score is the mean of its components: the
  stance (when not null) read from the text (:func:`read_stance`: a leading yes/no, else
  the first stance phrase of the kind: "not controlled", "still active", "no longer on",
  "none is severe", "not due" …) and each required fact found in the text
  (``number_date``: the number ±1 % or as rounded, with its date; ``date``; ``name``: any
  alias as whole words). An answer flagged not-in-record scores 0.

Sets may carry ``answer["aliases"]`` (other names of each truth item, e.g. "metformin"
for "24 HR Metformin hydrochloride 500 MG …") and ``answer["optional"]`` (items that are
neither required nor penalized, e.g. social-history entries of a problem list).

Questions with ``params["text_rules"] == "clinqa"`` (:mod:`bench.clinqa`, questions in
people's own words) read free text more carefully: numbers that the question itself
mentions ("in the last 5 years", "since 2015") are not taken for the answer when another
number is there; "no"/"none"/"zero" is a count of 0; more "not recorded" phrasings are
understood ("no TSH on file", "wasn't checked in the past 6 months"), but on a question
whose truth is a value, a "not recorded" phrase does not void an answer that gives the
value; a yes/no answer without a leading yes/no is read from its negation or assertion,
and a trend yes/no ("is it getting worse?", with ``params["yes_direction"]``) from the
direction or "better"/"worse" it states. Other questions are scored exactly as before.

Citations: C = cited ``Type/id`` set; the evidence is grouped (a group = the resources
that support one fact). **Precision** = |C ∩ evidence| / |C| (undefined when nothing is
cited; 0 when citing on a question whose truth has no evidence); **recall** = share of
groups with at least one cited resource (undefined when there are no groups).

Per answer also: unsupported-sentence share (the answerer's dropped/flagged sentences),
model calls, tokens, latency. :func:`aggregate` gives per-category and overall figures.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import statistics
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

from bench.ehrqa.answer import AnswerRecord
from bench.ehrqa.generate import CATEGORIES, Question

__all__ = [
    "aggregate",
    "citation_scores",
    "normalize_name",
    "parse_dates",
    "parse_number",
    "parse_numbers",
    "read_stance",
    "says_not_in_record",
    "score",
    "set_f1",
    "text_only",
]

_TAG_RE = re.compile(
    r"\((disorder|finding|situation|procedure|substance|product|regime/therapy|"
    r"morphologic abnormality|observable entity|event|person|body structure|"
    r"qualifier value|record artifact|environment)\)"
)

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
_MONTH_RE = "|".join(sorted(_MONTHS, key=len, reverse=True))

_NIR_PATTERNS = (
    r"not (?:recorded |documented |found |present |listed |available )?in (?:the |this |their )?(?:patient'?s? )?(?:record|chart|data)",
    r"no (?:such |matching )?(?:record|entry|result|value|documentation|evidence|mention)s? (?:of|for)",
    r"(?:record|chart) (?:does not|doesn't|has no|holds no|contains no|shows no)",
    r"\bnot found\b",
    r"\bnot in record\b",
    r"\bno (?:\w+ )?(?:results?|values?|measurements?|data|records?) (?:found|available|recorded)",
    r"there (?:is|are) no\b",
    r"\bnever (?:recorded|measured|documented|received|performed|diagnosed)\b",
)
_NIR_MORE = (
    r"\bno (?:\w+ ){0,4}(?:is |are |was |were |has been |have been )?(?:recorded|documented|on file|found|listed|available|given|done|performed)\b",
    r"\bno (?:\w+ ){0,4}in (?:the |her |his |their |my |this )?(?:record|chart|file)\b",
    r"\bno (?:\w+ ){0,4}(?:in|during|within|over|since) (?:the )?(?:past|last|this)\b",
    r"\bno (?:\w+ ){0,4}(?:last|this) (?:year|fall|autumn|winter|spring|summer)\b",
    r"\b(?:none|nothing) (?:is |are |was |were |has been |have been )?(?:recorded|documented|on file|found|listed)\b",
    r"\bnot (?:been )?(?:recorded|documented|on file)\b",
    r"\b(?:was|were|has|have|had)(?:n't| not| never) (?:been )?(?:checked|measured|tested|done|performed|given|recorded|documented|received|had|diagnosed)\b",
    r"\b(?:does|do|did)(?:n't| not) (?:have|show|contain|list|include|find) (?:any|a|an)\b",
    r"\bcould(?:n't| not) find\b",
    r"\bno (?:record|records|entry|entries|mention|documentation|evidence)\b",
)
_NONE_RE = re.compile(r"^\s*(none|no\b|nothing|n/a|\[\])", re.I)
_ZERO_RE = re.compile(r"\b(?:no|none|zero|not any|never)\b", re.I)
_NEG_RE = re.compile(
    r"\b(?:is|are|was|were|does|do|did|has|have|had)(?:n't| not)\b|\bno longer\b|"
    r"\bnot (?:currently|active|taking|on|allergic)\b|\bno (?:known|documented|recorded|active)\b",
    re.I,
)
_POS_RE = re.compile(
    r"\b(?:is|are) (?:still |currently )?(?:allergic|taking|on|alive|living)\b|"
    r"\bstill (?:has|have|takes|take|on|active|alive|living)\b|\b(?:did|was|were) (?:get|receive|given|administered|checked|drawn|measured)\b|"
    r"\breceived\b|\b(?:has|have) (?:had|been diagnosed)\b|\bis active\b",
    re.I,
)
_BETTER_RE = re.compile(r"\b(?:improv\w*|better)\b", re.I)
_WORSE_RE = re.compile(r"\b(?:worse|worsen\w*|deteriorat\w*)\b", re.I)

_DIRECTIONS = {
    "increased": ("increased", "increase", "increasing", "rose", "risen", "went up", "up", "higher", "rising"),
    "decreased": ("decreased", "decrease", "decreasing", "declined", "declining", "fell", "fallen", "went down", "down", "lower", "falling", "dropped"),
    "unchanged": ("unchanged", "stable", "same", "no change"),
}  # fmt: skip


# --------------------------------------------------------------------------- parsing


def normalize_name(text: str) -> str:
    """Lower case, accents and semantic tags dropped, punctuation as blanks, one space."""
    text = unicodedata.normalize("NFKD", str(text))
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    text = _TAG_RE.sub(" ", text)
    text = re.sub(r"[^a-z0-9.%/]+", " ", text)
    text = re.sub(r"(?<![0-9])\.|\.(?![0-9])", " ", text)
    return " ".join(text.split())


def says_not_in_record(text: str, *, more: bool = False) -> bool:
    """Whether ``text`` says the record has no such thing; ``more`` adds the clinqa
    phrasings ("no TSH on file", "wasn't checked in the past 6 months" …)."""
    low = " ".join(text.lower().replace("’", "'").split())
    patterns = _NIR_PATTERNS + _NIR_MORE if more else _NIR_PATTERNS
    return any(re.search(p, low) for p in patterns)


def _valid(y: int, m: int, d: int) -> str | None:
    try:
        return dt.date(y, m, d).isoformat()
    except ValueError:
        return None


def parse_dates(text: str) -> list[str]:
    """Every date in ``text`` as ISO ``YYYY-MM-DD``, in order of appearance."""
    found: list[tuple[int, str]] = []
    patterns: list[tuple[str, Any]] = [
        (r"\b(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})", lambda m: _valid(int(m[1]), int(m[2]), int(m[3]))),
        (r"\b(\d{1,2})/(\d{1,2})/(\d{4})\b", lambda m: _valid(int(m[3]), int(m[1]), int(m[2]))),
        (rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+({_MONTH_RE})\.?,?\s+(\d{{4}})\b",
         lambda m: _valid(int(m[3]), _MONTHS[m[2].lower()], int(m[1]))),
        (rf"\b({_MONTH_RE})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})\b",
         lambda m: _valid(int(m[3]), _MONTHS[m[1].lower()], int(m[2]))),
    ]  # fmt: skip
    taken: list[tuple[int, int]] = []
    for pattern, conv in patterns:
        for m in re.finditer(pattern, text, re.I):
            if any(m.start() < e and s < m.end() for s, e in taken):
                continue
            iso = conv(m)
            if iso:
                taken.append((m.start(), m.end()))
                found.append((m.start(), iso))
    return [iso for _, iso in sorted(found)]


_DATE_SPANS = re.compile(
    rf"\b\d{{4}}[-/.]\d{{1,2}}[-/.]\d{{1,2}}(?:T[0-9:.+\-Z]+)?|\b\d{{1,2}}/\d{{1,2}}/\d{{4}}\b|"
    rf"\b\d{{1,2}}(?:st|nd|rd|th)?\s+(?:{_MONTH_RE})\.?,?\s+\d{{4}}\b|"
    rf"\b(?:{_MONTH_RE})\.?\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}\b",
    re.I,
)
_PER_BSA = re.compile(r"/\s*\{?1\.73\s*_?m(?:²|2)\}?")
_UNIT_ALIASES = {"percent": "%", "pct": "%", "years": "a", "year": "a", "yrs": "a"}
_NUM_RE = re.compile(
    r"(?<![\w.])([-−+]?\d+(?:[.,]\d+)?(?:[eE][-+]?\d+)?)\s*([A-Za-z%µ/\[{][^\s,;()]*)?"
)


def parse_number(text: str, *, skip_codes: Iterable[str] = ()) -> tuple[float, str | None] | None:
    """The first number in ``text`` that is not part of a date or a code, with the unit
    word that follows it (if any)."""
    found = parse_numbers(text, skip_codes=skip_codes, first_only=True)
    return found[0] if found else None


def parse_numbers(
    text: str, *, skip_codes: Iterable[str] = (), first_only: bool = False
) -> list[tuple[float, str | None]]:
    """Every number in ``text`` that is not part of a date or a code, in order, each with
    the unit word that follows it (if any)."""
    stripped = _DATE_SPANS.sub(" ", text)
    # a unit written as clinicians write it, with a space inside ("mL/min/1.73 m²"): one
    # word, as UCUM writes it, so neither its "1.73" nor its "m²" is read apart
    stripped = _PER_BSA.sub("/{1.73_m2}", stripped)
    for code in skip_codes:
        if code:
            stripped = stripped.replace(code, " ")
    stripped = re.sub(r"\b(?:LOINC|CVX|SNOMED|SCT)\s*[:#]?\s*[\d-]+", " ", stripped, flags=re.I)
    out: list[tuple[float, str | None]] = []
    for m in _NUM_RE.finditer(stripped):
        raw = m[1].replace("−", "-")
        raw = (
            raw.replace(",", "")
            if re.fullmatch(r"[-+]?\d{1,3},\d{3}", raw)
            else raw.replace(",", ".")
        )
        try:
            value = float(raw)
        except ValueError:
            if first_only:
                return out
            continue
        unit = m[2].rstrip(".:") if m[2] else None
        unit = _UNIT_ALIASES.get(unit.lower(), unit) if unit else None
        if unit and unit.lower() in ("on", "and", "in", "at", "from", "to", "as", "was", "is"):
            unit = None
        out.append((value, unit))
        if first_only:
            return out
    return out


def _strip_citations(text: str) -> str:
    """Drop ``[Type/id]``, ``(Type/id)`` and ``[E12]`` markers (not ``[Humulin]``)."""
    return re.sub(
        r"[\[(]\s*(?:[A-Z][A-Za-z]+/[A-Za-z0-9\-.]+|E\d+)(?:\s*[,;]\s*"
        r"(?:[A-Z][A-Za-z]+/[A-Za-z0-9\-.]+|E\d+))*\s*[\])]",
        " ",
        text,
    )


#: A list item's qualifier, not an item: "since 2020-11-09", "active", "recorded 2013-09-19".
_QUALIFIER = re.compile(
    r"(?:(?:since|onset|recorded|last ordered|ordered|first|on|from|until|diagnosed|started|"
    r"stopped|resolved|noted)\s+)?\d{4}(?:-\d{2}){0,2}|"
    r"active|inactive|current|past|resolved|stopped|criticality \w+",
    re.I,
)


def _items_of_text(text: str) -> list[str]:
    """List items: one per line when the text has several lines, else one per sentence
    split on ``;`` and on commas (and " and ") between items. What only qualifies an item
    (a parenthesis, "since 2020-11-09", "active") is no item of its own: "Chronic
    sinusitis: active, since 2020-06-21." is one item, not two."""
    text = _strip_citations(text)
    text = re.sub(r"\([^()]*\)", " ", text)
    # what an order was for qualifies it, whatever commas its reason holds ("…: current,
    # for Localized, primary osteoarthritis of the hand")
    text = re.sub(r",\s*for\s+[^.;\n]*", " ", text)
    lines = [ln for ln in text.splitlines() if ln.strip(" -•*\t.:")]
    if len(lines) > 1:
        parts = lines
    else:
        parts = [
            p
            for sentence in re.split(r"(?<=[.!?])\s+(?=[A-Z0-9])", text)
            for p in re.split(r";|,(?!\d)|\band\b", sentence)
        ]
    items = [p.strip(" -•*\t.:") for p in parts]
    return [p for p in items if p and not _QUALIFIER.fullmatch(p)]


# --------------------------------------------------------------------------- checks


def _units_equal(a: str, b: str) -> bool:
    return a.strip().lower().replace(" ", "") == b.strip().lower().replace(" ", "")


def _number_ok(
    truth: float, unit: str | None, got: float, got_unit: str | None, tol: dict[str, float]
) -> tuple[bool, str]:
    note = ""
    if unit and got_unit and not _units_equal(unit, got_unit):
        from tools.units import conversion

        try:
            factor = conversion(got_unit, unit)
        except Exception:  # an unparseable unit string in a free-text answer
            factor = None
        if factor is None:
            return False, f"unit {got_unit!r} not convertible to {unit!r}"
        got *= factor
        note = f"converted from {got_unit}"
    elif unit and not got_unit:
        note = "unit missing"
    allowed = max(float(tol.get("abs", 0.01)), float(tol.get("rel", 0.01)) * abs(truth))
    ok = math.isfinite(got) and abs(got - truth) <= allowed + 1e-12
    return ok, note or ("" if ok else f"{got:g} vs {truth:g} (±{allowed:g})")


def set_f1(
    truth_names: Sequence[str],
    truth_codes: Sequence[str],
    answer: Sequence[str],
    *,
    aliases: Sequence[Sequence[str]] = (),
    optional: Sequence[str] = (),
) -> tuple[float, float, float]:
    """(precision, recall, F1) of answer items against truth items (name, alias or code
    match); answer items naming an ``optional`` item are not counted."""
    truth = [normalize_name(n) for n in truth_names]
    names = [
        {truth[i], *(normalize_name(a) for a in (aliases[i] if i < len(aliases) else ()))}
        for i in range(len(truth))
    ]
    codes = [str(c) for c in truth_codes]
    extra = {normalize_name(o) for o in optional}
    got = [str(a) for a in answer if str(a).strip()]
    if not truth and not got:
        return 1.0, 1.0, 1.0
    matched: set[int] = set()
    tp_answers = 0
    for item in list(got):
        norm = normalize_name(item)
        hit = next(
            (
                i
                for i in range(len(truth))
                if i not in matched
                and (norm in names[i] or (i < len(codes) and codes[i] == item.strip()))
            ),
            None,
        )
        if hit is not None:
            matched.add(hit)
            tp_answers += 1
        elif norm in extra:
            got.remove(item)
    if not truth and not got:
        return 1.0, 1.0, 1.0
    precision = tp_answers / len(got) if got else 0.0
    recall = len(matched) / len(truth) if truth else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def _set_from_text(
    truth_names: Sequence[str],
    text: str,
    *,
    aliases: Sequence[Sequence[str]] = (),
    optional: Sequence[str] = (),
    more: bool = False,
) -> tuple[float, float, float]:
    text = _strip_citations(text)
    norm_text = f" {normalize_name(text)} "
    truth = [normalize_name(n) for n in truth_names]
    names = [
        [t, *(normalize_name(a) for a in (aliases[i] if i < len(aliases) else ()))]
        for i, t in enumerate(truth)
    ]
    extra = [e for e in (normalize_name(o) for o in optional) if e]
    # a truth entry's whole name is one item, whatever commas or "and" it holds ("insulin
    # human, isophane 70 UNT/ML / Regular Insulin, Human 30 UNT/ML"); any other text is
    # still split, so an extra item still counts
    listed = text
    for k, name in enumerate(sorted(truth_names, key=len, reverse=True)):
        if name.strip():
            listed = re.sub(re.escape(name.strip()), f" entry{k} ", listed, flags=re.I)
    items = [i for i in _items_of_text(listed) if normalize_name(i)]
    if extra:  # items that only name an optional entry are not counted
        items = [
            i for i in items
            if not any(f" {e} " in f" {normalize_name(i)} " for e in extra)
            or any(n and f" {n} " in f" {normalize_name(i)} " for ns in names for n in ns)
        ]  # fmt: skip
    if not truth:
        ok = (
            not items
            or bool(_NONE_RE.match(text))
            or says_not_in_record(text, more=more)
            or (more and bool(re.match(r"\W*(?:no|none|nothing|there are no)\b", text, re.I)))
        )
        return (1.0, 1.0, 1.0) if ok else (0.0, 1.0, 0.0)
    found = sum(1 for ns in names if any(n and f" {n} " in norm_text for n in ns))
    n_items = max(len(items), found)
    precision = found / n_items if n_items else 0.0
    recall = found / len(truth)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


#: which way is good for a measure ("for LDL cholesterol, lower is better"): not its course
_POLARITY_RE = re.compile(
    r"\b(?:lower|higher)(?: values?| numbers?| results?| readings?)? (?:is|are) better\b", re.I
)


def _direction_of(text: str) -> str | None:
    low = " ".join(_POLARITY_RE.sub(" ", text).lower().split())
    hits = []
    for label, words in _DIRECTIONS.items():
        for w in words:
            m = re.search(rf"\b{re.escape(w)}\b", low)
            if m:
                hits.append((m.start(), label))
    return min(hits)[1] if hits else None


def _yesno(text: str, question: Question | None = None) -> bool | None:
    m = re.match(r"\W*(yes|no)\b", text.strip(), re.I)
    if m:
        return m[1].lower() == "yes"
    params = question.params if question is not None else {}
    if params.get("text_rules") == "clinqa" and params.get("yes_direction"):
        return _trend_yesno(text, params)
    if says_not_in_record(text) or re.search(r"\b(has not|hasn't|never|no record)\b", text, re.I):
        return False
    if re.search(r"\b(has had|was performed|did have|yes)\b", text, re.I):
        return True
    if params.get("text_rules") == "clinqa":
        low = text.replace("’", "'")
        if _NEG_RE.search(low) or says_not_in_record(low, more=True):
            return False
        if _POS_RE.search(low):
            return True
    return None


def _trend_yesno(text: str, params: dict[str, Any]) -> bool | None:
    """A trend yes/no answered in words: the better/worse it states, else the direction."""
    text = _POLARITY_RE.sub(" ", text)
    better = params.get("better_direction")
    worse = {"increased": "decreased", "decreased": "increased"}.get(str(better))
    negated = r"(?:\bnot|n't|\bno|\bnever)\b(?:\s+\w+){0,2}\s+"
    not_better = bool(re.search(negated + "(?:improv|better)", text, re.I))
    not_worse = bool(re.search(negated + "(?:worse|deteriorat)", text, re.I))
    says_better = (bool(_BETTER_RE.search(text)) and not not_better) or not_worse
    says_worse = (bool(_WORSE_RE.search(text)) and not not_worse) or not_better
    way: str | None = None
    if better and says_better and not says_worse:
        way = better
    elif worse and says_worse and not says_better:
        way = worse
    else:
        way = _direction_of(text)
    return None if way is None else way == params["yes_direction"]


# --------------------------------------------------------------------------- judgements

_NOT = r"(?:\bnot|n't|\bnever)\s+(?:\w+\s+){0,3}?"
_Y, _N = True, False
#: a treatment goal, however qualified: "goal", "the usual treatment goal", "BP target"
_GOAL = (
    r"(?:(?:usual|treatment|blood pressure|bp|a1c|hba1c|ldl|glycemic|glycaemic)\s+)*(?:goal|target)"
)

#: per stance kind: (pattern, stance) pairs; the first match in the text wins (the
#: conclusion comes first), a longer match on the same position first
_STANCE_RULES: dict[str, tuple[tuple[str, bool], ...]] = {
    "control": (
        (_NOT + r"(?:well[- ]|adequately |optimally |fully )?(?:controlled|under control|"
         r"at (?:goal|target)|in control|within (?:the )?(?:goal|target))", _N),
        (r"\b(?:uncontrolled|poorly|inadequately controlled|suboptimal\w*|out of control)\b", _N),
        (r"\b(?:above|over|higher than|exceeds?) (?:the |her |his |their )?" + _GOAL, _N),
        (_NOT + r"(?:meet|meeting|reach\w*|achiev\w*) (?:the |her |his |their )?" + _GOAL, _N),
        (r"\b(?:well[- ]|adequately |optimally |fully )?controlled\b", _Y),
        (r"\bunder (?:good |reasonable )?control\b|\bin (?:good )?control\b", _Y),
        (r"\b(?:at|below|within|under|meets?|meeting|reach(?:es|ed)?|achieves?) "
         r"(?:the |her |his |their )?" + _GOAL, _Y),
    ),
    "resolved": (
        (_NOT + r"(?:yet |fully )?(?:resolved|cleared|better|gone|healed|recovered|over)\b", _N),
        (r"\bunresolved\b|\bongoing\b|\bpersist\w*", _N),
        (r"\bstill (?:active|ongoing|present|open|there|listed|recorded|being treated|has)", _N),
        (r"\b(?:is|remains|listed as|recorded as|marked as|currently)\s+(?:\w+\s+)?active\b", _N),
        (r"\bno longer (?:active|present|a problem|listed)|\bno (?:\w+ )?active\b", _Y),
        (r"\b(?:resolved|cleared|better|gone|healed|recovered|inactive|abated|in remission)\b",
         _Y),
    ),
    "stopped": (
        (_NOT + r"(?:been )?(?:stopped|discontinued|d/?c'?d|off|ended)\b", _N),
        (r"\bstill (?:on|taking|takes|active|prescribed|using|listed|has)\b", _N),
        (r"\b(?:is|are|remains|am)\s+(?:still\s+|currently\s+)?(?:on|taking)\b", _N),
        (r"\b(?:continues?|continuing|currently (?:takes|prescribed|active))\b", _N),
        (r"\b(?:is|remains|listed as|marked as)\s+(?:\w+\s+)?active\b|\bactive "
         r"(?:prescription|order|medication|request)", _N),
        (r"\bno longer\b|\bno active\b|\binactive\b", _Y),
        (_NOT + r"(?:currently |still )?(?:on|taking|prescribed|active)\b", _Y),
        (r"\b(?:stopped|discontinued|d/?c'?d|completed|ended|off)\b", _Y),
    ),
    "severe": (
        (r"\b(?:no|none)\b(?:\s+\w+){0,5}?\s+(?:severe|serious|dangerous|high[- ]criticality|"
         r"high[- ]risk|life[- ]threatening)", _N),
        (_NOT + r"(?:severe|serious|dangerous|high|life[- ]threatening)", _N),
        (r"\blow[- ](?:criticality|risk|severity)\b|\bcriticality(?: of| is|:)? low\b", _N),
        (r"\b(?:mild|minor|non[- ]?(?:severe|serious))\b", _N),
        (r"\b(?:severe|serious|dangerous|high[- ]criticality|high[- ]risk|life[- ]threatening|"
         r"anaphyla\w*)\b|\bcriticality(?: of| is|:)? high\b", _Y),
    ),
    "due": (
        (_NOT + r"(?:yet )?(?:due|needed|overdue|necessary|required|need|time)\b", _N),
        (r"\bno need\b|\brecently (?:had|received|got|given)\b|\bcurrent on\b", _N),
        (_NOT + r"(?:up[- ]to[- ]date|current)\b", _Y),
        (r"\bup[- ]to[- ]date\b", _N),
        (r"\b(?:over)?due\b(?!\s+to\b)|\bneeds?\b|\bshould (?:get|have|receive|be given)\b", _Y),
        (r"\b(?:recommended|out of date|behind|time for)\b", _Y),
    ),
}  # fmt: skip


def read_stance(text: str, stance_kind: str) -> bool | None:
    """The stance an answer takes: a leading yes/no ("No longer …" is not a no), else the
    first stance phrase of the kind (see :data:`_STANCE_RULES`); ``None`` when none."""
    low = " ".join(_strip_citations(text).replace("’", "'").lower().split())
    m = re.match(r"\W*(yes|yeah|yep|no|nope)\b(?!\s+longer)", low)
    if m:
        return m[1] in ("yes", "yeah", "yep")
    hits: list[tuple[int, int, bool]] = []
    for pattern, stance in _STANCE_RULES.get(stance_kind, ()):
        for found in re.finditer(pattern, low):
            hits.append((found.start(), -(found.end() - found.start()), stance))
    return min(hits)[2] if hits else None


def _numbers_in(text: str) -> list[tuple[float, int]]:
    """(value, decimals) of every number in ``text`` outside dates and citations."""
    stripped = _DATE_SPANS.sub(" ", _strip_citations(text))
    out = []
    for m in re.finditer(r"(?<![\w.])(\d+)(?:[.,](\d+))?(?![\d])", stripped):
        decimals = len(m[2]) if m[2] else 0
        out.append((float(f"{m[1]}.{m[2]}" if m[2] else m[1]), decimals))
    return out


def _value_said(truth: float, text: str) -> bool:
    """±1 %, or the value rounded to as many decimals as the answer gives (whole numbers
    only for values of 20 and more)."""
    for got, decimals in _numbers_in(text):
        if abs(got - truth) <= 0.01 * abs(truth) + 1e-9:
            return True
        if (decimals or abs(truth) >= 20) and abs(round(truth, decimals) - got) < 1e-9:
            return True
    return False


def _fact_found(fact: dict[str, Any], answer: AnswerRecord, text: str) -> bool:
    kind = fact.get("type")
    dates = set(parse_dates(text)) | {d for d in (answer.date,) if d}
    if kind == "number_date":
        return _value_said(float(fact["value"]), text) and fact["date"] in dates
    if kind == "date":
        return fact["value"] in dates
    if kind == "name":
        padded = f" {normalize_name(_strip_citations(text))} "
        return any(
            n and f" {n} " in padded for n in (normalize_name(x) for x in fact.get("names", []))
        )
    return False


def _score_judgement(question: Question, answer: AnswerRecord) -> tuple[float, str]:
    """Mean of the stance (when the truth has one) and the required facts."""
    truth = question.answer
    text = answer.text or ""
    if answer.not_in_record:
        return 0.0, "said 'not in record' but the record has it"
    parts: list[tuple[bool, str]] = []
    want = truth.get("stance")
    if want is not None:
        kind = str(truth.get("stance_kind") or question.params.get("stance_kind") or "")
        got = answer.value if isinstance(answer.value, bool) else read_stance(text, kind)
        parts.append((got is want, f"stance {got} vs {want}"))
    for i, fact in enumerate(truth.get("facts", [])):
        said = fact.get("value", fact.get("names", [""])[0] if fact.get("names") else "")
        where = f" {fact['date']}" if fact.get("date") else ""
        parts.append((_fact_found(fact, answer, text), f"fact {i + 1} ({said}{where}) missing"))
    if not parts:
        return 0.0, "nothing to score"
    value = sum(1.0 for ok, _ in parts if ok) / len(parts)
    return value, "; ".join(msg for ok, msg in parts if not ok)


def citation_scores(
    question: Question, citations: Sequence[str]
) -> tuple[float | None, float | None]:
    """(precision, recall) of the cited ``Type/id`` against the question's evidence."""
    cited = {_norm_ref(c) for c in citations if c}
    evidence = set(question.evidence)
    precision = len(cited & evidence) / len(cited) if cited else None
    groups = [set(g) for g in question.evidence_groups if g]
    recall = sum(1 for g in groups if g & cited) / len(groups) if groups else None
    return precision, recall


def _norm_ref(ref: str) -> str:
    parts = ref.strip().strip("[]").split("/")
    if len(parts) >= 4 and parts[-2] == "_history":
        parts = parts[:-2]
    return "/".join(parts[-2:]) if len(parts) >= 2 else ref.strip()


# --------------------------------------------------------------------------- scoring


def _question_numbers(question: Question) -> set[float]:
    found = re.findall(r"(?<![\w.])\d+(?:\.\d+)?", _DATE_SPANS.sub(" ", question.text))
    return {float(x) for x in found}


def _number_of(question: Question, text: str) -> tuple[float, str | None] | None:
    """The answer's number from its text (clinqa rules: the question's own numbers are
    skipped when another is there; "no"/"none" is a count of 0)."""
    skip = [str(question.params.get("code", ""))]
    if question.params.get("text_rules") != "clinqa":
        return parse_number(text, skip_codes=skip)
    nums = parse_numbers(text, skip_codes=skip)
    asked = _question_numbers(question)
    fresh = [n for n in nums if n[0] not in asked]
    if fresh:
        return fresh[0]
    if question.answer_type == "count" and _ZERO_RE.search(text):
        return 0.0, None
    return nums[0] if nums else None


def _choice_hits(truth: dict[str, Any], text: str) -> tuple[list[str], list[str]]:
    padded = f" {normalize_name(_strip_citations(text))} "
    accept = [a for a in truth.get("accept", []) if f" {normalize_name(a)} " in padded]
    reject = [r for r in truth.get("reject", []) if f" {normalize_name(r)} " in padded]
    return accept, reject


def _gives_value(question: Question, text: str) -> bool:
    """Whether free text gives a value of the question's type (clinqa: a "not recorded"
    phrase next to it does not void it)."""
    kind = question.answer_type
    if kind in ("number", "number_date", "count"):
        return _number_of(question, text) is not None
    if kind == "date":
        return bool(parse_dates(text))
    if kind == "exact":
        return _direction_of(text) is not None
    if kind == "choice":
        return bool(_choice_hits(question.answer, text)[0])
    return False


_CLAUSE_SPLIT = re.compile(
    # a sentence may start with a name written with inner capitals ("eGFR", "pH")
    r"(?<=[.!?])\s+(?=[A-Z0-9]|[a-z]+[A-Z])|\n+|;\s*|,?\s+\band\b\s+|,\s+(?:but|while|whereas)\s+"
    # "3 results since 2004-07-28, the latest 180.7 mg/dL on 2010-09-01": a count, then a value
    r"|,\s+(?=the (?:latest|last|most recent|first|earliest)\b)"
)


def _part_question(question: Question, part: dict[str, Any]) -> Question:
    return replace(
        question,
        kind=part["kind"],
        answer_type=part["answer_type"],
        answer=part["answer"],
        evidence=list(part.get("evidence", [])),
        evidence_groups=[list(g) for g in part.get("evidence_groups", [])],
        params=dict(part.get("params", {})),
        parts=[],
    )


def _score_parts(question: Question, answer: AnswerRecord) -> tuple[float, str]:
    """Each part against its best span of clauses (spans of different parts disjoint)."""
    subs = [_part_question(question, p) for p in question.parts]
    if (
        isinstance(answer.value, list)
        and len(answer.value) == len(subs)
        and all(isinstance(v, dict) for v in answer.value)
    ):
        scores = [
            score(q, AnswerRecord(text=str(v.get("text") or answer.text or ""),
                                  value=v.get("value"), unit=v.get("unit"), date=v.get("date"),
                                  not_in_record=bool(v.get("not_in_record"))),
                  with_text_score=False)["score"]
            for q, v in zip(subs, answer.value, strict=True)
        ]  # fmt: skip
    else:
        clauses = [c for c in _CLAUSE_SPLIT.split(_strip_citations(answer.text or "")) if c.strip()]
        spans = [(i, j) for i in range(len(clauses)) for j in range(i + 1, len(clauses) + 1)]
        table: list[list[tuple[float, tuple[int, int]]]] = []
        for q in subs:
            row = []
            for i, j in spans:
                got = score(q, AnswerRecord(text=" ".join(clauses[i:j])), with_text_score=False)
                if got["score"] > 0:
                    row.append((float(got["score"]), (i, j)))
            table.append(sorted(row, key=lambda x: (-x[0], x[1][1] - x[1][0]))[:12])
        scores = _best_assignment(table)
    detail = "; ".join(
        f"part {k + 1} {'ok' if v >= 1 - 1e-9 else f'{v:.2f}'}" for k, v in enumerate(scores)
    )
    return (statistics.fmean(scores) if scores else 0.0), detail


def _best_assignment(table: list[list[tuple[float, tuple[int, int]]]]) -> list[float]:
    best: tuple[float, list[float]] = (-1.0, [0.0] * len(table))

    def walk(k: int, used: list[tuple[int, int]], got: list[float]) -> None:
        nonlocal best
        if k == len(table):
            if sum(got) > best[0]:
                best = (sum(got), list(got))
            return
        walk(k + 1, used, [*got, 0.0])
        for value, (i, j) in table[k]:
            if all(j <= a or b <= i for a, b in used):
                walk(k + 1, [*used, (i, j)], [*got, value])

    walk(0, [], [])
    return best[1]


def _has_structure(answer: AnswerRecord) -> bool:
    return answer.value is not None or answer.date is not None or answer.not_in_record


def text_only(answer: AnswerRecord) -> AnswerRecord:
    """The answer without its structured fields (value, unit, date, not_in_record)."""
    return replace(answer, value=None, unit=None, date=None, not_in_record=False)


def score(
    question: Question, answer: AnswerRecord, *, with_text_score: bool = True
) -> dict[str, Any]:
    """Score one answer: ``score`` (0..1), ``correct`` (score == 1), a ``detail``, the
    citation precision/recall, and the answer's usage figures.

    ``text_score`` scores the same answer from its text alone (structured fields
    dropped): how well the text parser reads it, and what a free-text answerer with
    the same content would get.
    """
    truth = question.answer
    kind = question.answer_type
    text = answer.text or ""
    clinqa = question.params.get("text_rules") == "clinqa"
    nir = answer.not_in_record or (answer.value is None and says_not_in_record(text, more=clinqa))
    if nir and clinqa and not answer.not_in_record and _gives_value(question, text):
        nir = False  # "… 6.1 % on 2020-01-02; none recorded since": the value counts
    if nir and question.params.get("text_rules") == "judgeqa" and not answer.not_in_record:
        nir = not _gives_value(question, text)  # judgeqa: a named reason counts as well
    value: float = 0.0
    detail = ""
    if answer.error:
        detail = f"error: {answer.error}"
    elif kind == "parts":
        value, detail = _score_parts(question, answer)
    elif kind == "not_in_record":
        value = 1.0 if nir and answer.value is None else 0.0
        detail = "" if value else "did not say 'not in record'"
    elif kind == "set":
        extras = {"aliases": truth.get("aliases", ()), "optional": truth.get("optional", ())}
        if answer.value is not None and isinstance(answer.value, list | tuple):
            p, r, f1 = set_f1(truth["value"], truth.get("codes", []), answer.value, **extras)
        elif nir and not truth["value"]:
            p, r, f1 = 1.0, 1.0, 1.0
        else:
            p, r, f1 = _set_from_text(truth["value"], text, more=clinqa, **extras)
        value = f1
        detail = f"set P={p:.2f} R={r:.2f}"
    elif kind == "yesno":
        if isinstance(answer.value, bool):
            yn: bool | None = answer.value
        elif clinqa:  # a leading yes/no wins over a "none recorded" phrase after it
            found = _yesno(text, question)
            yn = found if found is not None else (False if nir else None)
        else:
            yn = False if nir else _yesno(text)
        value = 1.0 if yn is truth["value"] else 0.0
        detail = "" if value else f"{yn} vs {truth['value']}"
    elif kind == "judgement":
        value, detail = _score_judgement(question, answer)
    elif nir:
        detail = "said 'not in record' but the record has it"
    elif kind in ("number", "number_date", "count"):
        got: tuple[float, str | None] | None
        if isinstance(answer.value, int | float) and not isinstance(answer.value, bool):
            got = (float(answer.value), answer.unit)
        else:
            got = _number_of(question, text)
            if (
                got
                and question.kind == "lab_change"
                and got[0] > 0
                and _direction_of(text) == "decreased"
            ):
                got = (-got[0], got[1])
        if got is None:
            detail = "no number found"
        elif kind == "count":
            ok = got[0] == float(truth["value"])
            value = 1.0 if ok else 0.0
            detail = "" if ok else f"{got[0]:g} vs {truth['value']}"
        else:
            ok, detail = _number_ok(
                float(truth["value"]), truth.get("unit"), got[0], got[1] or answer.unit,
                truth.get("tolerance") or {},
            )  # fmt: skip
            if kind == "number_date":
                day = answer.date or next(iter(parse_dates(text)), None)
                date_ok = day == truth["date"]
                if not date_ok:
                    detail = (detail + "; " if detail else "") + f"date {day} vs {truth['date']}"
                ok = ok and date_ok
            value = 1.0 if ok else 0.0
    elif kind == "choice":
        accept, reject = _choice_hits(truth, str(answer.value) if answer.value else text)
        value = 1.0 if accept and not reject else 0.0
        detail = "" if value else (f"names {reject}" if reject else "no accepted wording")
    elif kind == "date":
        day = (
            answer.value[:10]
            if isinstance(answer.value, str) and parse_dates(answer.value)
            else next(iter(parse_dates(text)), None)
        )
        value = 1.0 if day == truth["value"] else 0.0
        detail = "" if value else f"{day} vs {truth['value']}"
    elif kind == "exact":
        want = str(truth["value"]).lower()
        got_s = str(answer.value) if answer.value is not None else text
        if question.kind == "lab_direction" or (clinqa and want in _DIRECTIONS):
            ok = (_direction_of(got_s) or normalize_name(got_s)) == want
        elif question.kind == "gender":
            words = set(normalize_name(got_s).split())
            ok = want in words and not (words & {"male", "female", "other", "unknown"} - {want})
        else:
            ok = normalize_name(got_s) == normalize_name(want)
        value = 1.0 if ok else 0.0
        detail = "" if ok else f"{got_s[:60]!r} vs {want!r}"
    else:
        detail = f"unknown answer type {kind}"
    precision, recall = citation_scores(question, answer.citations)
    text_value = value
    if with_text_score and not answer.error and _has_structure(answer):
        text_value = score(question, text_only(answer), with_text_score=False)["score"]
    return {
        "question_id": question.id,
        "patient_id": question.patient_id,
        "category": question.category,
        "kind": question.kind,
        "answer_type": kind,
        "score": round(value, 6),
        "correct": value >= 1.0 - 1e-9,
        "text_score": round(text_value, 6),
        "detail": detail,
        "citation_precision": precision,
        "citation_recall": recall,
        "n_cited": len(answer.citations),
        "sentences_total": answer.sentences_total,
        "sentences_unsupported": answer.sentences_unsupported,
        "model_calls": answer.usage.model_calls,
        "prompt_tokens": answer.usage.prompt_tokens,
        "completion_tokens": answer.usage.completion_tokens,
        "latency_s": answer.latency_s,
        "error": answer.error,
    }


def _mean(values: Iterable[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return statistics.fmean(vals) if vals else None


def _summary(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    lat = sorted(float(r["latency_s"]) for r in rows)
    sent_total = sum(int(r["sentences_total"]) for r in rows)
    sent_bad = sum(int(r["sentences_unsupported"]) for r in rows)
    return {
        "n": len(rows),
        "accuracy": _mean(r["score"] for r in rows),
        "exact": _mean(1.0 if r["correct"] else 0.0 for r in rows),
        "text_accuracy": _mean(r.get("text_score", r["score"]) for r in rows),
        "citation_precision": _mean(r["citation_precision"] for r in rows),
        "citation_recall": _mean(r["citation_recall"] for r in rows),
        "cited_share": _mean(1.0 if r["n_cited"] else 0.0 for r in rows),
        "unsupported_sentence_share": (sent_bad / sent_total) if sent_total else None,
        "model_calls_mean": _mean(float(r["model_calls"]) for r in rows),
        "tokens_mean": _mean(float(r["prompt_tokens"] + r["completion_tokens"]) for r in rows),
        "latency_mean_s": _mean(lat),
        "latency_p95_s": lat[min(len(lat) - 1, math.ceil(0.95 * len(lat)) - 1)] if lat else None,
        "errors": sum(1 for r in rows if r.get("error")),
    }


def aggregate(
    rows: Sequence[dict[str, Any]], *, categories: Sequence[str] | None = None
) -> dict[str, Any]:
    """Overall (micro: every question counts once; macro: mean of the category
    accuracies), per category (in ``categories`` order, default :data:`CATEGORIES`; others
    follow, sorted) and per answer type."""
    by_cat: dict[str, list[dict[str, Any]]] = defaultdict(list)
    by_type: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_cat[r["category"]].append(r)
        by_type[r["answer_type"]].append(r)
    order = CATEGORIES if categories is None else categories
    per_cat = {c: _summary(by_cat[c]) for c in order if c in by_cat}
    per_cat.update({c: _summary(v) for c, v in sorted(by_cat.items()) if c not in per_cat})
    overall = _summary(rows)
    accs = [v["accuracy"] for v in per_cat.values() if v["accuracy"] is not None]
    overall["accuracy_macro"] = statistics.fmean(accs) if accs else None
    overall["min_category"] = None
    if accs and min(accs) < max(accs):
        overall["min_category"] = min(per_cat.items(), key=lambda kv: kv[1]["accuracy"] or 0.0)[0]
    return {
        "overall": overall,
        "per_category": per_cat,
        "per_answer_type": {t: _summary(v) for t, v in sorted(by_type.items())},
    }

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
_NONE_RE = re.compile(r"^\s*(none|no\b|nothing|n/a|\[\])", re.I)

_DIRECTIONS = {
    "increased": ("increased", "increase", "rose", "risen", "went up", "up", "higher", "rising"),
    "decreased": ("decreased", "decrease", "fell", "fallen", "went down", "down", "lower", "falling", "dropped"),
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


def says_not_in_record(text: str) -> bool:
    low = " ".join(text.lower().split())
    return any(re.search(p, low) for p in _NIR_PATTERNS)


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
_UNIT_ALIASES = {"percent": "%", "pct": "%", "years": "a", "year": "a", "yrs": "a"}
_NUM_RE = re.compile(
    r"(?<![\w.])([-−+]?\d+(?:[.,]\d+)?(?:[eE][-+]?\d+)?)\s*([A-Za-z%µ/\[{][^\s,;()]*)?"
)


def parse_number(text: str, *, skip_codes: Iterable[str] = ()) -> tuple[float, str | None] | None:
    """The first number in ``text`` that is not part of a date or a code, with the unit
    word that follows it (if any)."""
    stripped = _DATE_SPANS.sub(" ", text)
    for code in skip_codes:
        if code:
            stripped = stripped.replace(code, " ")
    stripped = re.sub(r"\b(?:LOINC|CVX|SNOMED|SCT)\s*[:#]?\s*[\d-]+", " ", stripped, flags=re.I)
    m = _NUM_RE.search(stripped)
    if not m:
        return None
    raw = m[1].replace("−", "-")
    raw = (
        raw.replace(",", "") if re.fullmatch(r"[-+]?\d{1,3},\d{3}", raw) else raw.replace(",", ".")
    )
    try:
        value = float(raw)
    except ValueError:
        return None
    unit = m[2].rstrip(".:") if m[2] else None
    unit = _UNIT_ALIASES.get(unit.lower(), unit) if unit else None
    if unit and unit.lower() in ("on", "and", "in", "at", "from", "to", "as", "was", "is"):
        unit = None
    return value, unit


def _strip_citations(text: str) -> str:
    """Drop ``[Type/id]``, ``(Type/id)`` and ``[E12]`` markers (not ``[Humulin]``)."""
    return re.sub(
        r"[\[(]\s*(?:[A-Z][A-Za-z]+/[A-Za-z0-9\-.]+|E\d+)(?:\s*[,;]\s*"
        r"(?:[A-Z][A-Za-z]+/[A-Za-z0-9\-.]+|E\d+))*\s*[\])]",
        " ",
        text,
    )


def _items_of_text(text: str) -> list[str]:
    """List items: one per line when the text has several lines, else split on ``;``
    and on commas (and " and ") between items."""
    text = _strip_citations(text)
    lines = [ln for ln in text.splitlines() if ln.strip(" -•*\t.:")]
    parts = lines if len(lines) > 1 else re.split(r";|,(?!\d)|\band\b", text)
    return [p.strip(" -•*\t.:") for p in parts if p.strip(" -•*\t.:")]


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
    truth_names: Sequence[str], truth_codes: Sequence[str], answer: Sequence[str]
) -> tuple[float, float, float]:
    """(precision, recall, F1) of answer items against truth items (name or code match)."""
    truth = [normalize_name(n) for n in truth_names]
    codes = [str(c) for c in truth_codes]
    got = [str(a) for a in answer if str(a).strip()]
    if not truth and not got:
        return 1.0, 1.0, 1.0
    matched: set[int] = set()
    tp_answers = 0
    for item in got:
        norm = normalize_name(item)
        hit = next(
            (
                i
                for i in range(len(truth))
                if i not in matched
                and (truth[i] == norm or (i < len(codes) and codes[i] == item.strip()))
            ),
            None,
        )
        if hit is not None:
            matched.add(hit)
            tp_answers += 1
    precision = tp_answers / len(got) if got else 0.0
    recall = len(matched) / len(truth) if truth else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def _set_from_text(truth_names: Sequence[str], text: str) -> tuple[float, float, float]:
    text = _strip_citations(text)
    norm_text = f" {normalize_name(text)} "
    truth = [normalize_name(n) for n in truth_names]
    items = [i for i in _items_of_text(text) if normalize_name(i)]
    if not truth:
        ok = not items or bool(_NONE_RE.match(text)) or says_not_in_record(text)
        return (1.0, 1.0, 1.0) if ok else (0.0, 1.0, 0.0)
    found = sum(1 for t in truth if t and f" {t} " in norm_text)
    n_items = max(len(items), found)
    precision = found / n_items if n_items else 0.0
    recall = found / len(truth)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def _direction_of(text: str) -> str | None:
    low = " ".join(text.lower().split())
    hits = []
    for label, words in _DIRECTIONS.items():
        for w in words:
            m = re.search(rf"\b{re.escape(w)}\b", low)
            if m:
                hits.append((m.start(), label))
    return min(hits)[1] if hits else None


def _yesno(text: str) -> bool | None:
    m = re.match(r"\W*(yes|no)\b", text.strip(), re.I)
    if m:
        return m[1].lower() == "yes"
    if says_not_in_record(text) or re.search(r"\b(has not|hasn't|never|no record)\b", text, re.I):
        return False
    if re.search(r"\b(has had|was performed|did have|yes)\b", text, re.I):
        return True
    return None


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
    nir = answer.not_in_record or (answer.value is None and says_not_in_record(text))
    value: float = 0.0
    detail = ""
    if answer.error:
        detail = f"error: {answer.error}"
    elif kind == "not_in_record":
        value = 1.0 if nir and answer.value is None else 0.0
        detail = "" if value else "did not say 'not in record'"
    elif kind == "set":
        if answer.value is not None and isinstance(answer.value, list | tuple):
            p, r, f1 = set_f1(truth["value"], truth.get("codes", []), answer.value)
        elif nir and not truth["value"]:
            p, r, f1 = 1.0, 1.0, 1.0
        else:
            p, r, f1 = _set_from_text(truth["value"], text)
        value = f1
        detail = f"set P={p:.2f} R={r:.2f}"
    elif kind == "yesno":
        yn = answer.value if isinstance(answer.value, bool) else (False if nir else _yesno(text))
        value = 1.0 if yn is truth["value"] else 0.0
        detail = "" if value else f"{yn} vs {truth['value']}"
    elif nir:
        detail = "said 'not in record' but the record has it"
    elif kind in ("number", "number_date", "count"):
        got: tuple[float, str | None] | None
        if isinstance(answer.value, int | float) and not isinstance(answer.value, bool):
            got = (float(answer.value), answer.unit)
        else:
            got = parse_number(text, skip_codes=[str(question.params.get("code", ""))])
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
        if question.kind == "lab_direction":
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


def aggregate(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Overall (micro: every question counts once; macro: mean of the category
    accuracies), per category (in :data:`CATEGORIES` order) and per answer type."""
    by_cat: dict[str, list[dict[str, Any]]] = defaultdict(list)
    by_type: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_cat[r["category"]].append(r)
        by_type[r["answer_type"]].append(r)
    per_cat = {c: _summary(by_cat[c]) for c in CATEGORIES if c in by_cat}
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

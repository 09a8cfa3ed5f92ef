"""Deterministic citation verifier (no model).

A sentence passes when:

1. it cites at least one handle that exists in the evidence seen in this session
   (handles never seen are removed and reported);
2. every number in it matches a value of its cited items — the item's value, its
   citations' values, the numbers in its line and in the tool lines that cited it — within
   rounding (half a unit of the sentence's last digit) or 0.5 %, after unit conversion
   when the sentence names a different unit (UCUM, :mod:`tools.units`). Mass ↔ substance
   concentration (mg/dL ↔ mmol/L, mg/dL ↔ µmol/L) converts with the molar mass of the
   cited item's LOINC analyte (:func:`tools.units.analyte_conversion`; the code comes
   from the item's ``codings`` / ``code`` or its line's ``[LOINC 2345-7]`` tag, whose
   digits are not values). ``156.9/111.3`` is two values; the digits of a name such as
   ``COVID-19`` or ``PHQ-9`` are not a value;
3. every date in it (``2025-01-15``, ``2025-01``, ``01/15/2025``, ``January 15, 2025``,
   ``15 Jan 2025``, ``January 2025``; a bare year) matches a date of its cited items,
   except a full date the user wrote in the question (a window restated);
4. a unit written after a number is compatible with the cited value's unit;
5. every clinical term in it is supported by its cited items (finding kind ``entity``:
   "mentions 'penicillin V', which none of its cited items support (E7 does)"). Words
   are compared normalised (case, punctuation and hyphens, plurals) after a small synonym
   table ("high blood pressure" = "hypertension", "A1c" = "HbA1c", "flu" = "influenza");
   a term is supported when a cited item's line, tool lines or coding displays contain
   it (a measure also by a condition defined by it: "cholesterol" by Hyperlipidemia,
   "triglycerides" by Hypertriglyceridemia). A term is checked when it is

   a. a word of the *name* of an evidence item seen in the session (its line up to the
      code tag; not demographics, encounters, questionnaire items, social or
      administrative conditions, routine procedures) — the finding names those items; or
   b. in the curated high-risk list of :mod:`agent._vocabulary` (generic drug names,
      drug classes, condition, lab, allergen, vaccine and procedure names), even when no
      evidence names it. A drug class ("statin", "beta blocker") is supported by a cited
      item naming a member, or by a cited medication / allergy whose product the class
      table does not know.

   c. a content word of the user's question (≥ 5 letters, not generic, not a question
      template word), when the sentence repeats it: "The last rectal polypectomy was on
      2020-07-14" citing an unrelated procedure is dropped.

   Generic words (patient, record, history, active, taking, level, blood, test, dose
   forms, units, qualifiers, body parts …) never count. Terms after a negation cue
   ("no", "not", "never", "without", "denies" …) up to the end of the clause are not
   checked: "No penicillin allergy is recorded" passes when it cites the allergy list.

6. a code written in prose ("CVX 49", "LOINC 4548-4", "SNOMED CT 44054006") is a code of a
   cited item (finding kind ``code``); its digits are not a value.

Numbers that are a cited item's count (``3 allergies`` citing three handles) pass.
Support by an item the sentence does not cite does not count.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tools.codes import condition_kind, is_routine_procedure
from tools.units import (
    UnitParseError,
    analyte_conversion,
    canonical_unit,
    molar_mass_of,
    parse_unit,
)

from ._vocabulary import (
    DRUG_CLASSES,
    DRUG_NAMES,
    GENERIC_WORDS,
    HIGH_RISK_TERMS,
    NEGATION_CUES,
    RELATED_TERMS,
    SCOPE_ENDS,
    SYNONYMS,
)

__all__ = [
    "EvidenceIndex",
    "Finding",
    "SentenceCheck",
    "Verification",
    "check_sentence",
    "extract_dates",
    "verify_sentences",
]

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
# a number; not the digits of a name such as "COVID-19" or "PHQ-9"
_NUMBER = re.compile(
    r"(?<![\w.])(?<![A-Za-z]-)([-+−]?\d+(?:[.,]\d+)?)(?![\w.]*\d)\s*([^\s,;:()]+)?"
)
# a record line's code tag: "[LOINC 2345-7]", "[SCT 44054006]", "[RxNorm 834061]"
_CODE_TAG = re.compile(r"\[[A-Za-z][\w.-]* [\w.:-]+\]")
_LOINC_TAG = re.compile(r"\[LOINC (\d{1,7}-\d)\]")
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

    kind: str  # unknown_handle | no_citation | number | date | unit | code | entity
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
        """Supported: at least one valid citation and no number/date/unit/entity finding."""
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
    values: list[tuple[float, str | None, str | None]]  # value, unit, LOINC code
    dates: list[Date]
    count: int


def _loinc_codes(item: Mapping[str, Any]) -> list[str]:
    """The item's LOINC codes: from ``codings`` / ``code`` when the dict has them, and
    from the code tag of its text line (``Glucose [LOINC 2345-7] mg/dL: …``)."""
    codes: list[str] = []
    codings = list(item.get("codings") or [])
    if isinstance(item.get("code"), Mapping):
        codings.append(item["code"])
    for c in codings:
        if isinstance(c, Mapping) and c.get("code") and "loinc" in str(c.get("system")).lower():
            codes.append(str(c["code"]))
    codes.extend(_LOINC_TAG.findall(str(item.get("text") or "")))
    return list(dict.fromkeys(codes))


def _support(items: Sequence[Mapping[str, Any]]) -> _Support:
    values: list[tuple[float, str | None, str | None]] = []
    dates: list[Date] = []
    for it in items:
        codes = _loinc_codes(it)
        loinc = next((c for c in codes if molar_mass_of(c)), codes[0] if codes else None)
        texts = [str(it.get("text") or ""), *[str(n) for n in it.get("notes") or []]]
        if isinstance(it.get("value"), int | float):
            values.append((float(it["value"]), it.get("unit"), loinc))
        for c in it.get("citations") or []:
            if isinstance(c.get("value"), int | float):
                values.append((float(c["value"]), c.get("unit"), loinc))
            if c.get("date"):
                dates.extend(extract_dates(str(c["date"]))[0])
        if it.get("date"):
            dates.extend(extract_dates(str(it["date"]))[0])
        for t in texts:
            t = _HANDLE.sub(" ", _CODE_TAG.sub(" ", t))  # codes are not values
            ds, rest = extract_dates(t)
            dates.extend(ds)
            # series lines: "2019: 03-04 6.1" → the year's month-day pairs
            for ym in re.finditer(r"\b(\d{4}): ([^;]*)", t):
                for md in re.finditer(r"\b(\d{2})-(\d{2})\b", ym.group(2)):
                    dates.append((int(ym.group(1)), int(md.group(1)), int(md.group(2))))
            rest = re.sub(r"\b\d{2}-\d{2}\b", " ", rest)
            unit = it.get("unit")
            for n in _NUM_ONLY.findall(rest):
                values.append((_to_float(n), unit, loinc))
                if n.startswith(("-", "−")):
                    values.append((abs(_to_float(n)), unit, loinc))
    return _Support(values, dates, len(items))


def _number_ok(raw: str, unit: str | None, sup: _Support) -> tuple[bool, str | None]:
    """(matched, unit problem). The unit problem is reported only if nothing matched.

    A sentence unit that differs from the cited one is converted (UCUM, and mass ↔
    substance concentration with the molar mass of the cited item's LOINC analyte).
    """
    x = _to_float(raw)
    tol_abs = 0.5 * 10 ** (-_decimals(raw))
    unit_problem = None
    for value, vunit, loinc in sup.values:
        candidate = value
        if unit and vunit and canonical_unit(unit) != canonical_unit(vunit):
            factor = analyte_conversion(vunit, unit, loinc)
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


# --------------------------------------------------------------------------- clinical terms

_WORD = re.compile(r"[A-Za-z0-9]+")
_CLAUSE_BREAK = re.compile(r"[,;:()\[\]!?]|\.(?!\d)")
_NAME_END = re.compile(r" ?\[[A-Za-z][\w.-]* [\w.:-]+\]|: ")
_SCT_TAG = re.compile(r"\[SCT (\d+)\]")
_AXIS = re.compile(r"\[[^\]]*\]")  # LOINC's "[Mass/volume]", "[Presence]" …
_METHOD = re.compile(r"\sby\s.*$")  # "… in Urine by Test strip"
_LOINC_SECTIONS = {"labs", "vitals", "observations", "reports"}
_QUESTIONNAIRE = re.compile(
    r"^(?:are|do|does|did|have|has|had|how|what|when|where|which|who|why|is|in the past|"
    r"within|at any)\b|\b(?:score|questionnaire|scale|item)\b",
    re.I,
)
# Record sections whose item names are entities a sentence could name (not the patient's
# demographics, not encounters: "visit", "check up" and "emergency" are everyday words).
_NAMELESS_SECTIONS = {"patient", "encounters"}


def _stem(word: str) -> str:
    """Lower case and a simple plural strip, the same for sentences, evidence and lists."""
    w = word.lower()
    if len(w) > 4 and w.endswith("ies"):
        return w[:-3] + "y"
    if len(w) > 3 and w.endswith("s") and not w.endswith(("ss", "us", "is", "os")):
        return w[:-1]
    return w


def _stems(text: str) -> tuple[str, ...]:
    return tuple(_stem(w) for w in _WORD.findall(text))


_SYNONYMS: dict[tuple[str, ...], tuple[str, ...]] = {
    _stems(k): _stems(v) for k, v in SYNONYMS.items()
}
_SYN_MAX = max(len(k) for k in _SYNONYMS)
_GENERIC = frozenset(_stem(w) for w in GENERIC_WORDS | set(_MONTHS))
_NEGATION = frozenset(_stem(w) for w in NEGATION_CUES)
_SCOPE_ENDS = frozenset(_stem(w) for w in SCOPE_ENDS)
_CLASSES: dict[str, tuple[str, ...]] = {
    " ".join(_stems(k)): tuple(s.lower() for s in v) for k, v in DRUG_CLASSES.items()
}
_HIGH_RISK = frozenset(" ".join(_stems(t)) for t in HIGH_RISK_TERMS)
_PHRASES = frozenset(t for t in _HIGH_RISK | set(_CLASSES) if " " in t)
_PHRASE_MAX = max(len(p.split()) for p in _PHRASES)
_RELATED: dict[str, frozenset[str]] = {
    " ".join(_stems(k)): frozenset(_stems(v)) for k, v in RELATED_TERMS.items()
}


@dataclass(frozen=True, slots=True)
class _Tok:
    norm: str
    start: int
    end: int
    negated: bool = False


def _tokens(text: str) -> list[_Tok]:
    """Normalised words with their spans; synonyms replaced; ``negated`` when a negation
    cue precedes the word in its clause (up to , ; : ( ) or "but", "however" …)."""
    text = re.sub(r"n[’']t\b", lambda m: " no"[: len(m.group())], text)
    raw: list[tuple[str, int, int, bool]] = []
    last = 0
    for m in _WORD.finditer(text):
        brk = bool(_CLAUSE_BREAK.search(text, last, m.start()))
        raw.append((_stem(m.group()), m.start(), m.end(), brk))
        last = m.end()
    out: list[_Tok] = []
    negated = False
    i = 0
    while i < len(raw):
        for k in range(min(_SYN_MAX, len(raw) - i), 0, -1):
            key = tuple(r[0] for r in raw[i : i + k])
            if key in _SYNONYMS:
                words, span = _SYNONYMS[key], raw[i : i + k]
                break
        else:
            words, span = (raw[i][0],), raw[i : i + 1]
        if span[0][3] or words[0] in _SCOPE_ENDS:
            negated = False
        for w in words:
            out.append(_Tok(w, span[0][1], span[-1][2], negated))
        if any(w in _NEGATION for w in words):
            negated = True
        i += len(span)
    return out


def _joined(texts: Iterable[str]) -> str:
    """`` w w w | w w `` — each text's normalised words, for whole-phrase lookups."""
    return " " + " | ".join(" ".join(t.norm for t in _tokens(x)) for x in texts if x) + " "


def _is_term(word: str) -> bool:
    if word in _HIGH_RISK or word in _CLASSES:
        return True
    return len(word) >= 3 and word.isalpha() and word not in _GENERIC


def _class_member(cls: str, words: Iterable[str]) -> bool:
    stems = _CLASSES[cls]
    return any(w.startswith(stems) or w.endswith(stems) for w in words)


@dataclass
class _ItemTerms:
    support: str  # every normalised word the item states (text, notes, coding displays)
    words: frozenset[str]
    names: str  # the words of the entity it names, "" when it names none
    name_words: frozenset[str]
    section: str | None

    def says(self, term: str) -> bool:
        """Whether the item supports ``term``: its words contain it; a drug class also by
        naming a member, or by being a medication / allergy whose product the class table
        does not know; a measure by a condition defined by it (:data:`RELATED_TERMS`,
        and "triglycerides" by "Hypertriglyceridemia")."""
        if term in _CLASSES and (
            _class_member(term, self.words)
            or (self.section in _DRUG_SECTIONS and not self.words & _DRUGS)
        ):
            return True
        if f" {term} " in self.support:
            return True
        if any(term in rel and f" {c} " in self.support for c, rel in _RELATED.items()):
            return True
        # the analyte of a hyper-/hypo- condition: "triglycerides" ~ "Hypertriglyceridemia"
        stem = term.rstrip("e")
        return len(stem) >= 5 and any(
            w.startswith(("hyper", "hypo")) and stem in w[4:] for w in self.words
        )

    def names_term(self, term: str) -> bool:
        if term in _CLASSES and _class_member(term, self.name_words):
            return True
        return f" {term} " in self.names


_DRUG_SECTIONS = {"medications", "allergies"}
_DRUGS = frozenset(_stem(w) for w in DRUG_NAMES)


def _displays(item: Mapping[str, Any]) -> list[str]:
    codings = list(item.get("codings") or [])
    if isinstance(item.get("code"), Mapping):
        codings.append(item["code"])
    return [str(c["display"]) for c in codings if isinstance(c, Mapping) and c.get("display")]


def _entity_name(item: Mapping[str, Any], text: str, displays: list[str]) -> list[str]:
    """The names an item gives its entity: its line up to the code tag (without LOINC's
    bracketed axes and a lab's "by <method>"), and its codings' displays. None for demographics,
    encounters, questionnaire items, social / administrative conditions and routine
    procedures: their words are everyday ones ("Are you worried about losing your
    housing?", "Full-time employment (finding)")."""
    section = item.get("section")
    if section in _NAMELESS_SECTIONS:
        return []
    name = _NAME_END.split(text, maxsplit=1)[0].strip()
    sct = _SCT_TAG.search(text)
    code = sct.group(1) if sct else None
    if section == "conditions" and condition_kind([(None, code)], name) != "problem":
        return []
    if section == "procedures" and is_routine_procedure(code, name):
        return []
    out = []
    for n in [name, *displays]:
        n = _AXIS.sub(" ", n)
        if section in _LOINC_SECTIONS:
            n = _METHOD.sub(" ", n)
        if "?" in n or _QUESTIONNAIRE.search(n) or len(n.split()) > 12:
            continue
        out.append(n)
    return out


def _item_terms(item: Mapping[str, Any]) -> _ItemTerms:
    text = _HANDLE.sub(" ", str(item.get("text") or ""))
    displays = _displays(item)
    texts = [text, *[str(n) for n in item.get("notes") or []], *displays]
    support = _joined(texts)
    names = _joined(_entity_name(item, text, displays))
    return _ItemTerms(
        support,
        frozenset(support.split()),
        names,
        frozenset(names.split()),
        item.get("section"),
    )


class EvidenceIndex:
    """The words of every evidence item seen in a session, for the clinical-term check.

    Build it once per verification (:func:`verify_sentences` does) and pass it to
    :func:`check_sentence`.
    """

    def __init__(self, evidence: Mapping[str, Mapping[str, Any]]) -> None:
        self.items = {_norm_handle(h): _item_terms(it) for h, it in evidence.items()}

    def naming(self, term: str, exclude: Iterable[str]) -> list[str]:
        """Handles of the items (not in ``exclude``) whose name includes ``term``."""
        skip = set(exclude)
        return [h for h, it in self.items.items() if h not in skip and it.names_term(term)]


#: Words of question templates that name no entity (never checked as question terms).
_QUESTION_TEMPLATE_WORDS = """performed received given taken measured ordered administered value values
    result results measurement measurements date dates onset encounter encounters visit
    visits immunization immunizations vaccine vaccines vaccination procedure procedures
    condition conditions diagnosis diagnoses problem problems medication medications drug
    drugs allergy allergies intolerance intolerances observation observations lab labs
    average mean change difference increase increased decrease decreased compare comparing
    period between inclusive years whole number count recent latest earliest highest lowest
    level levels test tests performed kind record show shows list give answer please"""
_QUESTION_WORDS = frozenset(_stem(w) for w in _QUESTION_TEMPLATE_WORDS.split())


def _question_terms(question: str) -> frozenset[str]:
    """The question's own content words (≥ 5 letters, not generic, not template words):
    a sentence that repeats one must get it from its citations, not from the question."""
    return frozenset(
        t.norm
        for t in _tokens(question)
        if len(t.norm) >= 5
        and t.norm.isalpha()
        and t.norm not in _GENERIC
        and t.norm not in _QUESTION_WORDS
    )


def _entity_findings(
    text: str, valid: Sequence[str], index: EvidenceIndex, asked: frozenset[str] = frozenset()
) -> list[Finding]:
    """Clinical terms of the sentence that none of its cited items support (``asked``:
    the question's content words, checked like terms: "the last rectal polypectomy was
    on …" citing an unrelated procedure is not supported by it)."""
    cited = [index.items[h] for h in valid if h in index.items]
    toks = _tokens(_HANDLE.sub(lambda m: " " * len(m.group()), text))
    findings: list[Finding] = []
    i = 0
    while i < len(toks):
        term, n = toks[i].norm, 1
        for k in range(min(_PHRASE_MAX, len(toks) - i), 1, -1):
            phrase = " ".join(t.norm for t in toks[i : i + k])
            if phrase in _PHRASES:
                term, n = phrase, k
                break
        if (n == 1 and not _is_term(term)) or toks[i].negated:
            i += n
            continue
        if any(it.says(term) for it in cited):
            i += n
            continue
        others = index.naming(term, valid)
        if not others and term not in _HIGH_RISK and term not in _CLASSES and term not in asked:
            i += n
            continue
        if others:  # show the whole name the sentence took from that item: "penicillin V"
            named = index.items[others[0]]
            while i + n < len(toks) and f" {toks[i + n].norm} " in named.names:
                if any(it.says(toks[i + n].norm) for it in cited):
                    break
                n += 1
        shown = text[toks[i].start : toks[i + n - 1].end]
        where = (
            f" ({', '.join(others[:3])} {'does' if len(others) == 1 else 'do'})" if others else ""
        )
        findings.append(
            Finding("entity", f"mentions {shown!r}, which none of its cited items support{where}")
        )
        i += n
    return findings


# a code written in prose: "CVX 49", "LOINC 4548-4", "(SNOMED CT 44054006)", "RxNorm: 860975"
_CODE_MENTION = re.compile(
    r"\b(?:LOINC|CVX|SNOMED(?:[ -]CT)?|SCT|RxNorm|ICD-?10(?:-CM)?|CPT)"
    r"(?:\s+code)?\s*[:#]?\s*(\d[\w.-]*\w|\d)",
    re.I,
)


def _cited_codes(valid: Sequence[str], evidence: Mapping[str, Mapping[str, Any]]) -> set[str]:
    codes: set[str] = set()
    for h in valid:
        item = evidence[h]
        for c in item.get("codings") or ():
            if isinstance(c, Mapping) and c.get("code"):
                codes.add(str(c["code"]).lower())
        texts = [str(item.get("text") or ""), *(str(n) for n in item.get("notes") or ())]
        for t in texts:
            for tag in _CODE_TAG.findall(t):
                codes.add(tag.strip("[]").split(" ", 1)[1].lower())
    return codes


def _code_check(m: re.Match[str], codes: set[str], check: SentenceCheck) -> str:
    """A code named in the sentence must be a code of a cited item; it is not a value."""
    if m.group(1).lower() not in codes:
        check.findings.append(Finding("code", f"{m.group(0)} is not a code of the cited evidence"))
    return " "


def check_sentence(
    text: str,
    cites: Sequence[str],
    evidence: Mapping[str, Mapping[str, Any]],
    index: EvidenceIndex | None = None,
    question: str = "",
) -> SentenceCheck:
    """Verify one sentence against the evidence seen in the session.

    ``index`` is :class:`EvidenceIndex` of ``evidence`` (built here when not given).
    Dates written in ``question`` (the user's own window, "between 2008-01-01 and …") may
    be restated: they are the user's words, not claims from the record.
    """
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
    asked = extract_dates(question)[0] if question else []
    for d in dates:
        if not _date_ok(d, sup.dates) and not (d[2] is not None and d in asked):
            shown = "-".join(f"{p:02d}" if i else str(p) for i, p in enumerate(d) if p)
            check.findings.append(Finding("date", f"date {shown} not in the cited evidence"))
    if _CODE_MENTION.search(rest):  # the cited items' codes, gathered once per sentence
        codes = _cited_codes(valid, evidence)
        rest = _CODE_MENTION.sub(lambda m: _code_check(m, codes, check), rest)
    rest = re.sub(r"(\d)/(?=\d)", r"\1 / ", rest)  # "156.9/111.3": two values
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
    terms = _question_terms(question) if question else frozenset()
    check.findings.extend(_entity_findings(text, valid, index or EvidenceIndex(evidence), terms))
    return check


def verify_sentences(
    sentences: Sequence[Mapping[str, Any]],
    evidence: Mapping[str, Mapping[str, Any]],
    question: str = "",
) -> Verification:
    """Verify sentences (``{"text", "cites"}``) against the session's evidence by handle
    (``question``: full dates the user wrote may be restated, see :func:`check_sentence`)."""
    index = EvidenceIndex(evidence)
    return Verification(
        [
            check_sentence(
                str(s.get("text", "")), list(s.get("cites") or []), evidence, index, question
            )
            for s in sentences
            if str(s.get("text", "")).strip()
        ]
    )

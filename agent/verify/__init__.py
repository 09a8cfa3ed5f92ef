"""Deterministic citation verifier (no model): every sentence is checked against the
typed evidence (:mod:`tools.evidence`) of the items it cites — never against rendered
text — with the terminology layer (:mod:`tools.terminology`) for clinical concepts.

A sentence is **verified** when it cites at least one handle seen in the session and
every fact it states is supported by its cited items:

1. **dates** (``2025-01-15``, ``01/15/2025``, ``January 15, 2025``, ``January 2025``, a
   bare year) are dates of its cited items (points' dates and ends, birth and death,
   windows, due dates), the as-of date, or a full date the user wrote in the question;
2. **numbers** are values of its cited items (every point's value, within rounding or
   0.5 %, after unit conversion: UCUM, and mass ↔ substance concentration by the
   analyte's molar mass), or follow from them: statistics a tool computed (count,
   first/last/min/max, change, mean, slope), a difference of two values of one series
   when the sentence speaks of a change, durations between cited dates (or to the
   as-of date), ages from the birth date, counts of the cited entries (in a year the
   sentence or question names too). A **reference range, a goal target or a code is
   never a value**: "HbA1c was 5.6 %" citing a series whose range ends at 5.6 fails; a
   comparison of a result ("above 7 %", "not below 60", "at most 70") holds when the
   cited value of the day or year its clause states, else the latest, is on that side
   of it, or in the range it states ("is between 3.5 and 5 mmol/L"; a comparison of a
   limit, "her goal is below 7 %", when it is a cited limit); a
   count of results beyond a threshold ("2 of the 27 results were above 5 mmol/L") is
   counted again over the cited series; a leading "Yes —" / "No —" answers the
   question and denies nothing;
3. **codes** written in prose ("CVX 49", "LOINC 4548-4") are codes of its cited items;
4. **clinical concepts** it names (by the terminology: codings first, then names, lay
   terms, abbreviations, brands, misspellings) are recorded by a cited item — the same
   concept or a more specific one (child implies parent, never the reverse; a drug
   supports its class); a disease named with a vaccination cue means its vaccine;
5. **assertions** (negated, family history, hypothetical: a ConText-style rule set)
   are respected: a **negative claim** ("no known drug allergies", "no HbA1c on file")
   must cite the search that found nothing (an *absence* item of a tool), or the whole
   record section, and no cited item may record what it denies; a relative's condition
   must be a cited family history; a hypothetical statement is not a record fact;
6. **statuses** ("active", "still taking" vs "resolved", "stopped") agree with the
   cited conditions', medications' and allergies' statuses; **directions** ("rose",
   "fell", "stable", "improving", "worsening") agree with the cited series (between
   the dates or values the sentence names, else the window a tool computed, else first
   → last; "improving" needs the measure's known polarity).

**No source, no assertion**: a word that is not common English (``wordfreq``) and that
no cited item states cannot be checked: the sentence is **unverified** (shown marked,
the term listed in ``unchecked``), never passed silently; when another item of the
session names it, the sentence fails (it took the term from the wrong citation).
Ordinary words never count, whatever the question's wording.

**The patient's own answers** (the pre-visit intake) are cited as
``QuestionnaireResponse/ID#linkId``: :func:`verify_reported` resolves those handles
against the QuestionnaireResponse's items (and record references against the record) and
checks quoted words, dates and yes/no against them (:mod:`agent.verify._reported`).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from tools.terminology import Terminology, default_terminology

from ..session import Seen
from ._check import SessionIndex, check_sentence
from ._dating import dated
from ._reported import QR_HANDLE, qr_items, verify_reported
from ._result import Finding, SentenceCheck, Verification
from ._support import birth_of
from ._text import HANDLE, extract_dates, numbers, states_count

__all__ = [
    "QR_HANDLE",
    "Finding",
    "SentenceCheck",
    "SessionIndex",
    "Verification",
    "check_sentence",
    "dated",
    "extract_dates",
    "qr_items",
    "states_count",
    "verify_reported",
    "verify_sentences",
]


def verify_sentences(
    sentences: Sequence[Mapping[str, Any]],
    seen: Mapping[str, Seen],
    *,
    question: str = "",
    inventory: Mapping[str, Sequence[str]] | None = None,
    terminology: Terminology | None = None,
    as_of: dt.date | None = None,
    anchors: Mapping[str, dt.date] | None = None,
    recite: bool = False,
    recite_to: Sequence[str] = (),
    trim: bool = False,
) -> Verification:
    """Verify sentences (``{"text", "cites"}``) against the session's typed evidence.

    ``inventory``: the handles of each section of the whole record (a sentence citing a
    whole section may say what it does not contain); ``question``: full dates the user
    wrote may be restated; ``anchors``: the record's last visit and check-up
    (:func:`agent.understand.anchors_of`), for "since his last physical"; ``recite``: a
    sentence that fails only by citing the wrong items is checked against the items that
    record what it names (:func:`_recited`); ``recite_to``: with ``recite``, the handles
    a sentence citing nothing seen (a mistyped handle) is checked against instead (the
    question's own search results); ``trim``: a citation of a passing sentence that
    supports nothing it says is removed (:func:`_trimmed`).
    """
    index = SessionIndex(seen, terminology or default_terminology())
    birth = birth_of(seen)

    def check(text: str, cites: list[str]) -> SentenceCheck:
        return check_sentence(
            text,
            cites,
            index,
            question=question,
            inventory=inventory,
            as_of=as_of,
            birth=birth,
            anchors=anchors,
        )

    def kind_of(handle: str) -> str:
        return seen[handle].item.kind

    person = next((h for h, s in seen.items() if s.item.kind == "patient"), None)
    checks = []
    for s in sentences:
        text = str(s.get("text", ""))
        if text.strip():
            c = check(text, list(s.get("cites") or []))
            fallback = recite_to if _claims_something(text, index) else ()
            if not c.ok and recite:
                c = _recited(c, check, fallback, kind_of, index)
            if c.ok and recite and person:
                c = _who_cited(c, check, person)
            checks.append(_trimmed(c, check, index) if trim and c.ok else c)
    return Verification(checks)


def _who_cited(
    passed: SentenceCheck, check: Callable[[str, list[str]], SentenceCheck], person: str
) -> SentenceCheck:
    """A sentence that says the patient's age or sex ("Margery Gibson, 78-year-old
    female, has …") cites her own entry, where they come from (an age is checked against
    the birth date whether or not it is cited); added, and checked again, when missing."""
    if person in passed.valid_cites or not _WHO.search(passed.text):
        return passed
    again: SentenceCheck = check(passed.text, [*passed.cites, person])
    if not again.ok or again.verdict != passed.verdict:
        return passed
    again.recited_from = (
        passed.recited_from if passed.recited_from is not None else list(passed.cites)
    )
    return again


#: the patient's age or sex said ("Margery Gibson, 78-year-old female, has …")
_WHO = re.compile(
    r"\b\d{1,3}[- ]?(?:years?|yrs?)[- ]old\b|\bage[sd]?\s+\d{1,3}\b"
    r"|\b(?:female|male|woman|man|girl|boy)\b",
    re.I,
)


def _trimmed(
    passed: SentenceCheck,
    check: Callable[[str, list[str]], SentenceCheck],
    index: SessionIndex,
) -> SentenceCheck:
    """A passing sentence without the citations that support nothing it says ("She was
    given lisinopril for hypertension", citing the order, her hypertension and three
    blood pressure readings: the order and the hypertension). A cited item that records
    nothing the sentence names is left out (last first) when the sentence still passes
    without it, as it was (verified or unverified, nothing more unchecked): the check
    decides, so an item a value, a date, a count or a negative claim rests on stays; an
    item that records what the sentence names stays, though another supports it too.
    ``uncited`` lists what was left out."""
    if len(passed.valid_cites) < 2:
        return passed
    named = [
        c for m in index.terminology.mentions(HANDLE.sub(" ", passed.text)) for c in m.concepts
    ]
    best, cites = passed, list(passed.cites)
    for h in reversed(passed.valid_cites):
        if len(best.valid_cites) < 2:
            break
        if any(index.supports([h], c) for c in named):
            continue
        if index.items[h].seen.item.kind == "patient" and _WHO.search(passed.text):
            continue  # "a 78-year-old woman": her entry is where age and sex come from
        trial = [x for x in cites if x != h]
        again = check(passed.text, trial)
        if (
            again.ok
            and again.verdict == best.verdict
            and len(again.unchecked) <= len(best.unchecked)
        ):
            best, cites = again, trial
    if best is passed:
        return passed
    best.recited_from = passed.recited_from
    best.uncited = [h for h in passed.valid_cites if h not in best.valid_cites]
    return best


def _claims_something(text: str, index: SessionIndex) -> bool:
    """A number, a date or a clinical term beside its handles ("Seen at E999." claims
    nothing, and is not given a citation it never asked for)."""
    bare = HANDLE.sub(" ", text)
    return bool(re.search(r"\d", bare)) or bool(index.terminology.mentions(bare))


def _names_only(failed: SentenceCheck) -> bool:
    """The sentence states no date and no measured value (digits inside a name, "type 2
    diabetes", "stage 1", are no value), and fails only for names its citations do not
    record."""
    dates, bare = extract_dates(HANDLE.sub(" ", failed.text))
    return (
        not dates
        and not any(n.unit for n in numbers(bare))
        and all(f.kind == "entity" and f.supported_by for f in failed.findings)
    )


def _monitored(failed: SentenceCheck, better: Sequence[str], index: SessionIndex) -> list[str]:
    """The conditions a sentence names beside a cited result that monitors them ("her
    diabetes is controlled: HbA1c 6.6 %…", citing the HbA1c): the items that record them,
    to be cited beside the result (never in its place: the value is the result's)."""
    term = index.terminology
    watched: set[str] = set()
    for h in failed.valid_cites:
        ix = index.items[h]
        if ix.seen.item.kind == "observation":
            for c in ix.concepts:
                watched |= {c.id, *term.ancestors(c)}
    out = []
    for h in better:
        ix = index.items[h]
        if ix.seen.item.kind != "condition":
            continue
        for c in ix.concepts:
            monitors = {
                m
                for a in (c.id, *term.ancestors(c))
                if (k := term.concept(a))
                for m in k.monitored_by
            }
            if monitors & watched:
                out.append(h)
                break
    return out


def _recited(
    failed: SentenceCheck,
    check: Any,
    fallback: Sequence[str],
    kind_of: Callable[[str], str],
    index: SessionIndex,
) -> SentenceCheck:
    """A sentence that points at the wrong items (it names what other seen items record:
    "mentions 'LDL cholesterol' … (E9 does)"; its values and dates then fail too) is
    checked again against those items in place of its own citations (never beside them:
    a value of the wrong item must not prop up the right one; a sentence of names alone,
    with no value or date, may keep its own beside them); when every claim then holds, it
    stands with the corrected citations (``recited_from`` keeps the model's). Nothing is taken on trust: every claim is
    checked against what is finally cited."""
    better = list(dict.fromkeys(h for f in failed.findings for h in f.supported_by))
    if not better and not failed.valid_cites:  # it cites nothing seen: the question's own
        better = list(dict.fromkeys(fallback))
    if not better:
        return failed
    tries = [[h] for h in better] + ([better] if len(better) > 1 else [])
    beside = _monitored(failed, better, index)
    if beside:  # "her diabetes is controlled: HbA1c 6.6 %" citing the HbA1c: and diabetes
        # (one condition entry first, the tightest citation)
        tries[:0] = [list(dict.fromkeys([*failed.valid_cites, h])) for h in beside]
    if failed.valid_cites and _names_only(failed):
        # a list of names citing some of them ("She has A, B and C", citing A and B): the
        # items that record the others are added to its own; with no number or date in
        # it, and all of one kind (a relation across kinds, "a statin for her diabetes",
        # is not a list), an added item can only support the names it records
        # (of the items that record a name it says: the patient's own entry, "a
        # 75-year-old woman with A, B and C", or a result cited beside the problems,
        # is no kind of the list; the check still reads them, and trimming drops them)
        named = [
            c for m in index.terminology.mentions(HANDLE.sub(" ", failed.text)) for c in m.concepts
        ]
        kinds = {
            kind_of(h)
            for h in failed.valid_cites
            if kind_of(h) != "patient" and any(index.supports([h], c) for c in named)
        }
        if len(kinds) == 1:  # the added items of its kind only (the check decides)
            tries.append(
                list(
                    dict.fromkeys(
                        [*failed.valid_cites, *(h for h in better if kind_of(h) in kinds)]
                    )
                )
            )
    for cites in tries:  # one entry first (the tightest citation), then all of them
        again: SentenceCheck = check(failed.text, cites)
        if again.ok:
            again.recited_from = list(failed.cites)
            return again
    return failed

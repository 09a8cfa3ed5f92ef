"""What a request asks the assistant to *do*, read by code: record a vital sign, order a
test, prescribe, refer — and whether a condition governs it ("if there is none, order
one").

A small local model reads "Pulse is 82 bpm; please record it" as a question about the
heart rate and answers from the record, taking no action. When the deployment offers the
write tools and a request asks for one, the plan step is therefore constrained to call
it (:func:`agent.schemas.action_plan`): the model still writes every argument (which
vital, which drug and dose), code only sees to it that an explicit instruction is not
silently dropped. What is written is a draft order or observation on a server that
allows writes, tagged as the assistant's (:mod:`agent.toolkit._write`).

Only general English request forms count: an imperative verb at the start of a clause or
after a request word ("please", "can you", "go ahead and"), or a request noun ("new
prescription", "place a referral"). A question ("Was she referred to cardiology?",
"Should we start insulin?") asks for no action; past forms ("ordered", "recorded")
report one. No benchmark's wording is encoded here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Act", "acts_of", "stated_codes"]


@dataclass(frozen=True)
class Act:
    """A write the request asks for: the tool that makes it, and whether the request
    states a condition for it (then the plan checks the condition first)."""

    tool: str
    conditional: bool


#: where an imperative may start: a clause's start, or after a request word
_LEAD = (
    r"(?:^|[.;:!?\n]\s*|,\s*|\s[-–—]\s*|\b(?:please|pls|kindly|then|and|also|now|so|just|"
    r"can you|could you|would you|will you|go ahead and|I'?d like (?:you )?to|"
    r"I want (?:you )?to|let'?s)\s+)"
)
_VERB = {
    "record": r"record|chart|document|log|enter|file|add",
    "order": r"order|re-?order|recheck",
    "prescribe": r"prescribe|start|restart|resume|put|begin|initiate|add|order",
    "refer": r"refer",
}
_IMPERATIVE = {
    key: re.compile(_LEAD + rf"(?:{verbs})\b(?!\s+(?:me|us|by|with|for|of|in)\b)", re.I)
    for key, verbs in _VERB.items()
}
#: request nouns: "new prescription", "place a referral", "put in the consult"
_NOUN = {
    "prescribe": re.compile(r"\bnew (?:prescription|rx|medication|med)\b", re.I),
    "refer": re.compile(
        r"\b(?:place|put in|put through|send|make|write|enter|submit|order|new)\s+"
        r"(?:(?:a|an|the|her|his|their|this|my)\s+)?(?:[\w-]+\s+){0,2}"
        r"(?:referral|consult(?:ation)?)\b",
        re.I,
    ),
}
#: a sentence that asks about something, not for something ("Was she referred…?",
#: "Should we start insulin?"); "can/could/would/will you …" is a request
_QUESTION = re.compile(
    r"\s*(?:does|did|do|is|was|were|are|has|have|had|should|shall|may|might|must|"
    r"when|what|which|who|whom|why|how|where)\b",
    re.I,
)
_CONDITION = re.compile(
    r"\b(?:if|unless|in case|only when|provided that|otherwise|whether)\b", re.I
)
_DOSE = re.compile(
    r"\b\d+(?:\.\d+)?\s*(?:mg|mcg|µg|ug|g|mL|ml|units?|IU|mEq|puffs?|tabs?|tablets?|caps?)\b",
    re.I,
)
_LAB_WORDS = re.compile(
    r"\b(?:lab|labs|test|panel|level|LOINC|blood work|bloods|culture)\b|\d{1,7}-\d\b", re.I
)
#: an object that points back at what the sentence named: "order a new one"
_POINTS_BACK = re.compile(
    r"\s*(?:a\s+)?(?:new\s+|repeat\s+)?(?:one|it|that|this|them|another)\b", re.I
)
#: a measurement in a vital sign's own unit names the vital ("Weighed him just now: 82 kg")
_VITAL_QUANTITY = re.compile(
    r"\b\d{2,3}\s*/\s*\d{2,3}\b(?!\s*/)|\b\d+(?:\.\d+)?\s*(?:kg|kilograms?|lbs?|pounds|"
    r"mm\s?\[?hg\]?|bpm|(?:beats|breaths)?\s?(?:/|per |a )min(?:ute)?|"
    r"°\s?[cf]|degrees?\s*(?:c|f|celsius|fahrenheit)?)(?![\w/])",
    re.I,
)
_SENTENCE = re.compile(r"(?<=[.!?;])\s+|\n+")


def _after(sentence: str, pattern: re.Pattern[str]) -> list[str]:
    """The text after each match of ``pattern`` to the end of its sentence."""
    return [sentence[m.end() :] for m in pattern.finditer(sentence)]


def acts_of(text: str, named: Sequence[tuple[int, str]]) -> list[Act]:
    """The writes ``text`` asks for, in the order of :data:`agent.toolkit` write tools.

    ``named``: where the terminology found a concept in ``text`` (its start) and the
    concept's kind ("vital", "lab", "drug", …), so that "order" is a test's order when
    a lab follows it and a prescription when a drug or a dose does."""
    conditional = bool(_CONDITION.search(text))
    tools: list[str] = []
    kinds = {kind for _start, kind in named}
    if _VITAL_QUANTITY.search(text):
        kinds.add("vital")
    offset = 0
    for sentence in _SENTENCE.split(text):
        start = text.find(sentence, offset)
        offset = start + len(sentence)
        if _QUESTION.match(sentence) and not re.match(
            r"\s*(?:can|could|would|will) you\b", sentence, re.I
        ):
            continue

        def kinds_after(rest: str, s0: int = start, s: str = sentence) -> set[str]:
            """What the verb's object names ("order a TSH"; "order a new one": what
            the request named before)."""
            if _POINTS_BACK.match(rest):
                return kinds
            begin = s0 + len(s) - len(rest)
            return {k for at, k in named if begin <= at < s0 + len(s)}

        if "vital" in kinds and _IMPERATIVE["record"].search(sentence):
            tools.append("record_vital")
        for rest in _after(sentence, _IMPERATIVE["order"]):
            if kinds_after(rest) & {"lab"} or _LAB_WORDS.search(rest):
                tools.append("order_lab")
        for rest in _after(sentence, _IMPERATIVE["prescribe"]):
            if kinds_after(rest) & {"drug", "drug_class"} or _DOSE.search(rest):
                tools.append("order_medication")
        if _NOUN["prescribe"].search(sentence):
            tools.append("order_medication")
        if _IMPERATIVE["refer"].search(sentence) or _NOUN["refer"].search(sentence):
            tools.append("refer_patient")
    return [Act(tool, conditional) for tool in dict.fromkeys(tools)]


#: a code the request states with its system: "RxNorm 67108", "LOINC: 4548-4",
#: "(RXCUI 29046)", "SNOMED CT code 394579002"
_STATED = {
    "rxnorm": re.compile(r"\b(?:RxNorm|RXCUI)(?:\s+code)?\s*[:#]?\s*(\d{1,10})\b", re.I),
    "loinc": re.compile(r"\bLOINC(?:\s+code)?\s*[:#]?\s*(\d{1,7}-\d)\b", re.I),
    "snomed": re.compile(r"\bSNOMED(?:[ -]?CT)?(?:\s+code)?\s*[:#]?\s*(\d{6,18})\b", re.I),
}


def stated_codes(text: str) -> dict[str, tuple[str, ...]]:
    """The codes ``text`` states with their system, by system ("rxnorm", "loinc",
    "snomed"), in order: an action's arguments then take one of them
    (:func:`agent.schemas.action_plan`), so a code the user gave is never dropped or
    mistyped by the model."""
    found = {
        system: tuple(dict.fromkeys(m.group(1) for m in pattern.finditer(text)))
        for system, pattern in _STATED.items()
    }
    return {system: codes for system, codes in found.items() if codes}

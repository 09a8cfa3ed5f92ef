"""Tokens for matching: case-, punctuation-, hyphen-, plural- and British-spelling-insensitive.

Text and the data files' names go through the same :func:`norm`, so "HbA1c", "hba1c",
"Alzheimer's", "Alzheimers", "haemoglobin", "hemoglobin", "statins" and "statin" meet.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import NamedTuple

__all__ = ["Token", "norm", "norm_phrase", "strip_semantic_tag", "tokenize"]

_TOKEN = re.compile(r"[A-Za-z0-9]+(?:['’][A-Za-z]+)*")
_TAG = re.compile(
    r"\s*\((?:disorder|finding|situation|procedure|regime/therapy|event|person|"
    r"observable entity|morphologic abnormality|substance|product|medicinal product|"
    r"physical object|body structure|qualifier value|record artifact|"
    r"administrative concept|social concept|occupation|clinical drug|life style)\)\s*$",
    re.IGNORECASE,
)


class Token(NamedTuple):
    """One word of a text: offsets, the raw text and its normalized form."""

    start: int
    end: int
    raw: str
    norm: str


@lru_cache(maxsize=65536)
def norm(word: str) -> str:
    """The matching form of one word.

    >>> [norm(w) for w in ["Statins", "Alzheimer's", "Haemoglobin", "allergies", "tumour"]]
    ['statin', 'alzheimer', 'hemoglobin', 'allergy', 'tumor']
    >>> [norm(w) for w in ["A1cs", "BPs", "CTs", "B12", "Ms", "bus"]]
    ['a1c', 'bp', 'ct', 'b12', 'ms', 'bus']
    """
    w = word.lower().replace("’", "'")
    if "'" in w:
        head, _, tail = w.partition("'")
        w = head if tail == "s" else head + tail.replace("'", "")
    if len(w) >= 5 and w.isalpha():
        # British -> American spelling (haem-, anaem-, oesophag-, oedema, tumour)
        if "ae" in w:
            w = w.replace("ae", "e")
        if len(w) >= 6 and "oe" in w:
            w = w.replace("oe", "e")
        if len(w) >= 6 and w.endswith("our"):
            w = w[:-3] + "or"
    if re.fullmatch(r"[A-Z]{2,}[0-9]*s|[A-Za-z]*[0-9][A-Za-z]*[A-Za-z]s", word):
        w = w[:-1]  # an abbreviation's plural: "BPs", "CTs", "A1cs", "HbA1cs"
    elif len(w) > 3 and w.isalpha():
        if w.endswith("ies") and len(w) > 4:
            w = w[:-3] + "y"
        elif w.endswith("s") and not w.endswith(("ss", "us", "is")):
            w = w[:-1]
    return w


def tokenize(text: str) -> list[Token]:
    """The words of a text with their offsets and normalized forms."""
    return [Token(m.start(), m.end(), m.group(), norm(m.group())) for m in _TOKEN.finditer(text)]


def norm_phrase(text: str) -> tuple[str, ...]:
    """The normalized tokens of a phrase (a name or synonym in the data files)."""
    return tuple(norm(m.group()) for m in _TOKEN.finditer(text))


def strip_semantic_tag(display: str) -> str:
    """A SNOMED CT display without its semantic tag: "Gout (disorder)" -> "Gout"."""
    return _TAG.sub("", display).strip()

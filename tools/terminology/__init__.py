"""Clinical terminology: what a code, a display or a sentence means, and what implies what.

The verifier, the prefetch step and the intake interview ask one protocol,
:class:`Terminology`, four questions:

- :meth:`~Terminology.concepts_of` — what does this coding denote? **Codings first**: a
  SNOMED CT, ICD-10-CM (a category such as E11 covers E11.9 and E11.65), RxNorm, LOINC,
  CVX or ATC code found in the data wins; an unknown or local code falls back to the
  concepts its **display** names (with or without a SNOMED semantic tag; negated or
  hypothetical wording in a display names nothing).
- :meth:`~Terminology.mentions` — which concepts does free text name? Longest matches
  over a token trie, insensitive to case, punctuation, hyphens, plurals and British
  spelling; abbreviations ("HTN", "A1c"), lay terms ("sugar", "water pill", "heart
  attack"), brand names ("Lipitor") and bounded spelling correction of long uncommon
  words ("cholestrol").
- :meth:`~Terminology.implies` — does a recorded concept support a mentioned one? **A
  child implies its parent, never the reverse**: Hypercholesterolemia supports
  "hyperlipidemia", Hyperlipidemia does not support "hypercholesterolemia"; Overweight
  and Obesity support neither; a drug supports its classes (atorvastatin -> statin).
- :meth:`~Terminology.analyte` — which LOINC codes measure the same thing (HbA1c is
  4548-4, 17856-6, 4549-2, 17855-8, 41995-2, 59261-8, 62388-4).

:class:`LocalTerminology` answers from **local data files** shipped in
``tools/terminology/data`` (one concept per line; each file names its sources: SNOMED CT
as used in Synthea, ICD-10-CM 2024, WHO ATC/DDD 2024, LOINC, CDC CVX, RxNorm), loaded once
and cached (:func:`default_terminology`). :class:`ServerTerminology` adds an **optional
FHIR terminology server** (``$lookup``, ``$subsumes``, ``$translate``) consulted in
:meth:`~Terminology.prepare` for codes the local data does not know.

:func:`assertion_of` tells whether a span of a sentence is affirmed, negated, historical,
hypothetical, about a family member or uncertain; :func:`is_common_word` tells ordinary
English from possible clinical terms.

>>> t = default_terminology()
>>> [m.concepts[0].id for m in t.mentions("Takes Lipitor; HTN and diabetis")]
['atorvastatin', 'hypertension', 'diabetes_mellitus']
>>> t.implies(t.concept("atorvastatin"), t.concept("statin"))
True
>>> assertion_of("No known drug allergies are recorded.", 9, 23).status
'negated'
"""

from __future__ import annotations

from tools.terminology._context import CATEGORIES_ALL, Assertion, Status, assertion_of
from tools.terminology._english import COMMON_ZIPF, is_common_word
from tools.terminology._local import LocalTerminology, default_terminology
from tools.terminology._model import (
    ACT,
    ATC,
    CVX,
    ICD10,
    ICD10CM,
    KINDS,
    LOINC,
    RXNORM,
    SNOMED,
    Code,
    Concept,
    Kind,
    Mention,
    Polarity,
    canonical_system,
)
from tools.terminology._protocol import Terminology
from tools.terminology._relations import (
    concerns,
    control_measures,
    given_for,
    repeat_days,
    screening_ways,
    screenings,
    treating_class,
    treats,
)
from tools.terminology._server import ServerTerminology

__all__ = [
    "ACT",
    "ATC",
    "CATEGORIES_ALL",
    "COMMON_ZIPF",
    "CVX",
    "ICD10",
    "ICD10CM",
    "KINDS",
    "LOINC",
    "RXNORM",
    "SNOMED",
    "Assertion",
    "Code",
    "Concept",
    "Kind",
    "LocalTerminology",
    "Mention",
    "Polarity",
    "ServerTerminology",
    "Status",
    "Terminology",
    "assertion_of",
    "canonical_system",
    "concerns",
    "control_measures",
    "default_terminology",
    "given_for",
    "is_common_word",
    "repeat_days",
    "screening_ways",
    "screenings",
    "treating_class",
    "treats",
]

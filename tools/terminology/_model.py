"""The typed core: code systems, :class:`Code`, :class:`Concept`, :class:`Mention`.

Everything here is immutable and hashable, so concepts can be shared between threads,
cached and used as dict keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, get_args

__all__ = [
    "ACT",
    "ATC",
    "CVX",
    "ICD10",
    "ICD10CM",
    "KINDS",
    "LOINC",
    "RXNORM",
    "SNOMED",
    "SYSTEM_ALIASES",
    "Code",
    "Concept",
    "Kind",
    "Mention",
    "Polarity",
    "RecordedAs",
    "Sex",
    "canonical_system",
]

#: Canonical code-system URIs (the ones HL7 publishes for FHIR R4).
SNOMED = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
ICD10 = "http://hl7.org/fhir/sid/icd-10"  # WHO ICD-10 (categories shared with ICD-10-CM)
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
LOINC = "http://loinc.org"
CVX = "http://hl7.org/fhir/sid/cvx"
ATC = "http://www.whocc.no/atc"
#: HL7 v3 ActCode: the FHIR R4 Encounter.class value set (AMB, EMER, IMP …)
ACT = "http://terminology.hl7.org/CodeSystem/v3-ActCode"

#: Other spellings of the same systems seen in real records, mapped to the canonical URI
#: (OIDs, ``urn:oid:``, trailing slashes, http/https, the short names of the data files).
SYSTEM_ALIASES: dict[str, str] = {
    "sct": SNOMED,
    "snomed": SNOMED,
    "snomedct": SNOMED,
    "2.16.840.1.113883.6.96": SNOMED,
    "icd10cm": ICD10CM,
    "icd-10-cm": ICD10CM,
    "2.16.840.1.113883.6.90": ICD10CM,
    "http://hl7.org/fhir/sid/icd-10-us": ICD10CM,
    "icd10": ICD10,
    "2.16.840.1.113883.6.3": ICD10,
    "rxn": RXNORM,
    "rxnorm": RXNORM,
    "2.16.840.1.113883.6.88": RXNORM,
    "loinc": LOINC,
    "2.16.840.1.113883.6.1": LOINC,
    "cvx": CVX,
    "2.16.840.1.113883.12.292": CVX,
    "atc": ATC,
    "2.16.840.1.113883.6.73": ATC,
    "act": ACT,
    "v3-actcode": ACT,
    "2.16.840.1.113883.5.4": ACT,
    "http://hl7.org/fhir/v3/actcode": ACT,
    "http://www.whocc.no/atc/": ATC,
}

Kind = Literal[
    "condition",
    "finding",
    "drug",
    "drug_class",
    "lab",
    "vital",
    "assessment",
    "vaccine",
    "procedure",
    "substance",
    "body_site",
    "social",
    "setting",
]
#: Every concept kind. ``assessment`` = questionnaire scores and screening items
#: (PHQ-9, AUDIT-C, pain scale); ``social`` = social history (employment, housing);
#: ``setting`` = where care took place (inpatient, emergency, virtual: an Encounter's
#: class); ``substance`` = allergens that are not drugs (peanut, latex, pollen).
KINDS: tuple[str, ...] = get_args(Kind)

#: For labs and vitals: which direction of change is a deterioration.
Polarity = Literal["higher_worse", "higher_better"]
#: Where a record holds a concept when not where its kind is held (:attr:`Concept.recorded_as`).
RecordedAs = Literal["allergy_list", "encounter", "anywhere"]

#: the sex a screening is recommended for (Patient.gender's codes)
Sex = Literal["female", "male"]


def canonical_system(system: str | None) -> str:
    """The canonical URI of a code system, whatever spelling a record uses.

    >>> canonical_system("urn:oid:2.16.840.1.113883.6.96")
    'http://snomed.info/sct'
    >>> canonical_system("https://loinc.org/")
    'http://loinc.org'
    """
    if not system:
        return ""
    s = system.strip()
    low = s.lower()
    if low.startswith("urn:oid:"):
        low = low[8:]
    if low in SYSTEM_ALIASES:
        return SYSTEM_ALIASES[low]
    if low.startswith("https://"):
        low = "http://" + low[8:]
    low = low.rstrip("/")
    for canonical in (SNOMED, ICD10CM, ICD10, RXNORM, LOINC, CVX, ATC, ACT):
        if low == canonical.lower():
            return canonical
    return SYSTEM_ALIASES.get(low, s)


@dataclass(frozen=True, slots=True, order=True)
class Code:
    """One code in one code system (``system`` is the canonical URI).

    >>> Code(SNOMED, "38341003")
    Code(system='http://snomed.info/sct', code='38341003')
    """

    system: str
    code: str

    @classmethod
    def of(cls, system: str | None, code: str) -> Code:
        """A code with its system spelled canonically (see :func:`canonical_system`)."""
        return cls(canonical_system(system), code.strip())


@dataclass(frozen=True, slots=True)
class Concept:
    """A clinical concept the terminology knows.

    Attributes:
        id: a stable, readable identifier (``"hypertension"``, ``"atorvastatin"``).
        kind: one of :data:`KINDS`.
        name: the preferred name.
        synonyms: other names, abbreviations, lay terms and brand names (matched in text).
        codes: the codes that denote this concept (SNOMED CT, ICD-10-CM, RxNorm, LOINC ...).
        parents: is-a parents (concept ids); the relation is transitive.
        classes: for drugs, the drug-class concept ids (via ATC and curated classes).
        polarity: for labs and vitals, ``higher_worse`` / ``higher_better`` / ``None``.
        monitored_by: for a condition, the labs or vitals that show how it is doing
            (diabetes: HbA1c, glucose); its children share them.
        monitors: for a lab or vital, the conditions it shows how they are doing (the
            reverse of ``monitored_by``, derived when the data is loaded).
        treats: for a drug class, the conditions or findings it is given for
            (antihypertensives: hypertension; analgesics: pain); a drug of the class is
            "for" them and their kinds.
        repeat_days: for a vaccine, how often adults are to get it again (influenza:
            yearly); its children share it. For a way of screening, how often it is
            repeated (a colonoscopy every 10 years).
        ages: for what a screening is for (colorectal cancer screening) or a vaccine
            given once in adult life (zoster), the ages, inclusive, at which it is
            recommended (45–75; 50 and older: ``(50, None)``); ``None`` for anything else.
        sex: for what a screening is for, the sex it is recommended for (mammography:
            ``"female"``), or ``None`` for everyone.
        by: whose recommendation ``ages``, ``sex`` and the ``repeat_days`` of the ways
            of doing it are (``"USPSTF"``).
        recorded_as: where a record holds it, when not where its kind is held:
            ``"allergy_list"`` (a drug allergy is an AllergyIntolerance coded by the drug,
            never named "drug allergy"), ``"encounter"`` (a physical examination is a
            visit, an Encounter's type), ``"anywhere"`` (an advance directive may be a
            problem-list entry, an observation, a document or a consent: the whole
            record is searched).
        sources: where the concept comes from (a data file name, ``"server"``, ...).
    """

    id: str
    kind: Kind
    name: str
    synonyms: tuple[str, ...] = ()
    codes: tuple[Code, ...] = ()
    parents: tuple[str, ...] = ()
    classes: tuple[str, ...] = ()
    polarity: Polarity | None = None
    monitored_by: tuple[str, ...] = ()
    monitors: tuple[str, ...] = ()
    treats: tuple[str, ...] = ()
    repeat_days: int | None = None
    ages: tuple[int, int | None] | None = None
    sex: Sex | None = None
    by: str | None = None
    recorded_as: RecordedAs | None = None
    sources: tuple[str, ...] = field(default=(), compare=False)

    def code_in(self, system: str) -> tuple[str, ...]:
        """This concept's codes in one system (canonical URI or alias)."""
        system = canonical_system(system)
        return tuple(c.code for c in self.codes if c.system == system)


@dataclass(frozen=True, slots=True)
class Mention:
    """A span of text that names one or more concepts.

    ``start``/``end`` are character offsets into the text given to
    :meth:`~tools.terminology.Terminology.mentions`; ``text`` is ``text[start:end]``.
    Several concepts share a mention when a name is ambiguous within the data
    (rare; e.g. a brand that names a combination product gives each ingredient).
    ``fuzzy`` is true when the span matched only after a spelling correction.
    """

    start: int
    end: int
    text: str
    concepts: tuple[Concept, ...]
    fuzzy: bool = False

    @property
    def ids(self) -> tuple[str, ...]:
        """The concept ids of this mention."""
        return tuple(c.id for c in self.concepts)

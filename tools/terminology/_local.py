"""The terminology of the local data files: codes, names, is-a and drug classes in memory."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Collection, Iterable, Iterator
from functools import cache, lru_cache

from tools.terminology._data import ConceptTable, load_table
from tools.terminology._match import Trie
from tools.terminology._model import (
    CVX,
    ICD10,
    ICD10CM,
    LOINC,
    Code,
    Concept,
    Mention,
    canonical_system,
)
from tools.terminology._text import strip_semantic_tag

__all__ = ["LocalTerminology", "default_terminology", "normalize_code"]

#: Assertion statuses under which a display's mention still says what the entry *is*
#: ("History of appendectomy" is an appendectomy); negated, hypothetical, uncertain and
#: family-history mentions do not ("Suspected lung cancer" is not lung cancer).
_DISPLAY_KEEP = frozenset({"affirmed", "historical"})
_ICD_SHAPE = re.compile(r"^[A-Z][0-9][0-9A-Z](?:\.?[0-9A-Z]{1,4})?$")


def normalize_code(system: str, code: str) -> str:
    """A code as the data files spell it: ICD-10 upper case with its dot, CVX without
    leading zeros, others stripped.

    >>> normalize_code("http://hl7.org/fhir/sid/icd-10-cm", "e1165")
    'E11.65'
    >>> normalize_code("http://hl7.org/fhir/sid/cvx", "08")
    '8'
    """
    code = code.strip()
    if system in (ICD10CM, ICD10):
        code = code.upper()
        if len(code) > 3 and "." not in code:
            code = code[:3] + "." + code[3:]
    elif system == CVX:
        code = code.lstrip("0") or "0"
    return code


#: a unit of a strength or amount right after its number ("0.25 MG/ACTUAT", "5 ML"):
#: milligrams, not magnesium
_UNIT_AFTER_NUMBER = re.compile(r"(?i)(?:mg|mcg|ug|g|kg|ml|l|meq|mmol|iu|units?)")
_NUMBER_BEFORE = re.compile(r"\d\s*$")


def _a_unit(text: str, start: int, end: int) -> bool:
    return bool(
        _UNIT_AFTER_NUMBER.fullmatch(text[start:end]) and _NUMBER_BEFORE.search(text[:start])
    )


class LocalTerminology:
    """Concepts from the data files shipped in ``tools/terminology/data``.

    Build it once (loading and indexing takes a fraction of a second) and share it:
    :func:`default_terminology` returns a cached instance. All methods are synchronous,
    thread-safe for reading and do no I/O.

    >>> t = default_terminology()
    >>> [m.concepts[0].id for m in t.mentions("On Lipitor for high blood pressure")]
    ['atorvastatin', 'hypertension']
    >>> t.implies(t.concept("hypercholesterolemia"), t.concept("hyperlipidemia"))
    True
    >>> t.implies(t.concept("hyperlipidemia"), t.concept("hypercholesterolemia"))
    False
    """

    def __init__(self, table: ConceptTable | None = None) -> None:
        table = table if table is not None else load_table()
        self._table = table
        self._concepts = table.concepts
        self._by_code: dict[Code, list[str]] = defaultdict(list)
        self._children: dict[str, list[str]] = defaultdict(list)
        self._trie = Trie()
        for c in self._concepts.values():
            for code in c.codes:
                key = Code(code.system, normalize_code(code.system, code.code))
                if c.id not in self._by_code[key]:
                    self._by_code[key].append(c.id)
            for p in c.parents:
                self._children[p].append(c.id)
            if c.id not in table.notext:
                self._trie.add(strip_semantic_tag(c.name), c.id)
            for s in c.synonyms:
                self._trie.add(s, c.id)

    # ------------------------------------------------------------------ lookup
    def concept(self, concept_id: str) -> Concept | None:
        """A concept by id."""
        return self._concepts.get(concept_id)

    def concepts(self, kind: str | None = None) -> Iterator[Concept]:
        """Every concept (of one kind)."""
        return (c for c in self._concepts.values() if kind is None or c.kind == kind)

    def __len__(self) -> int:
        return len(self._concepts)

    def knows_word(self, word: str) -> bool:
        """Whether a word occurs in some concept's name (after normalization)."""
        return self._trie.knows(word)

    @property
    def unverified_codes(self) -> list[tuple[str, str]]:
        """Codes the data files mark unverified (``code?``): listed, never used."""
        return list(self._table.unverified)

    # ------------------------------------------------------------------ text
    def mentions(self, text: str) -> list[Mention]:
        """Longest non-overlapping concept mentions, left to right.

        >>> t = default_terminology()
        >>> [(m.text, m.ids) for m in t.mentions("her a1c and kidney function")]
        [('a1c', ('hba1c',)), ('kidney function', ('kidney_function',))]
        """
        _, hits = self._trie.hits(text)
        concepts = self._concepts
        return [
            Mention(
                h.start, h.end, text[h.start : h.end], tuple(concepts[i] for i in h.ids), h.fuzzy
            )
            for h in hits
            if not _a_unit(text, h.start, h.end)
        ]

    # ------------------------------------------------------------------ codings
    def by_code(self, system: str | None, code: str | None) -> tuple[Concept, ...]:
        """The concepts a code denotes in the local data (no display fallback).

        ICD-10-CM codes fall back to their parent codes (E11.65 -> E11.6 -> E11), so a
        concept coded with a category covers its subcodes. WHO ICD-10 codes are looked
        up in the ICD-10-CM table at the category (3-character) level only.
        """
        if not code:
            return ()
        sys = canonical_system(system)
        norm = normalize_code(sys, code)
        ids = self._by_code.get(Code(sys, norm))
        if ids:
            return tuple(self._concepts[i] for i in ids)
        if sys in (ICD10CM, ICD10) and _ICD_SHAPE.match(norm):
            candidates = [norm[:k] for k in range(len(norm) - 1, 2, -1) if norm[k - 1] != "."]
            if sys == ICD10:
                candidates = [norm[:3]]
            for prefix in candidates:
                ids = self._by_code.get(Code(ICD10CM, prefix.rstrip(".")))
                if ids:
                    return tuple(self._concepts[i] for i in ids)
        return ()

    def concepts_of(
        self,
        system: str | None,
        code: str | None,
        display: str | None = None,
        *,
        kinds: Collection[str] | None = None,
    ) -> tuple[Concept, ...]:
        """The concepts of one coding: by the code first, else by the display text.

        The display fallback strips a SNOMED semantic tag, finds the concept mentions in
        it, and keeps those that are asserted (not negated, hypothetical, uncertain or
        family history) and, when ``kinds`` is given, of those kinds (pass the kinds the
        resource type can hold: a Procedure display "Screening for diabetes" names no
        condition the patient has).

        >>> t = default_terminology()
        >>> [c.id for c in t.concepts_of("http://hl7.org/fhir/sid/icd-10-cm", "E11.65")]
        ['diabetes_type2']
        >>> [c.id for c in t.concepts_of("urn:local:lab", "GLU-7", "Hemoglobin A1c, blood")]
        ['hba1c']
        """
        found = self.by_code(system, code)
        if found or not display:
            return found
        return self.concepts_in_display(display, kinds=kinds)

    def concepts_in_display(
        self, display: str, *, kinds: Collection[str] | None = None
    ) -> tuple[Concept, ...]:
        """The asserted concepts a display text names (see :meth:`concepts_of`)."""
        from tools.terminology._context import assertion_of

        text = strip_semantic_tag(display)
        out: dict[str, Concept] = {}
        for m in self.mentions(text):
            if assertion_of(text, m.start, m.end).status not in _DISPLAY_KEEP:
                continue
            for c in m.concepts:
                if kinds is None or c.kind in kinds:
                    out.setdefault(c.id, c)
        return tuple(out.values())

    # ------------------------------------------------------------------ relations
    def ancestors(self, concept: Concept | str) -> frozenset[str]:
        """Every is-a ancestor id, and for a drug its classes and their ancestors."""
        cid = concept if isinstance(concept, str) else concept.id
        return self._ancestors(cid)

    @cache  # noqa: B019 - the instance lives as long as its cache
    def _ancestors(self, cid: str) -> frozenset[str]:
        c = self._concepts.get(cid)
        if c is None:
            return frozenset()
        out: set[str] = set()
        for p in (*c.parents, *c.classes):
            out.add(p)
            out |= self._ancestors(p)
        return frozenset(out)

    def descendants(self, concept: Concept | str) -> frozenset[str]:
        """Every is-a descendant id (not drugs of a class: see :meth:`members`)."""
        cid = concept if isinstance(concept, str) else concept.id
        out: set[str] = set()
        todo = list(self._children.get(cid, ()))
        while todo:
            x = todo.pop()
            if x not in out:
                out.add(x)
                todo.extend(self._children.get(x, ()))
        return frozenset(out)

    def members(self, drug_class: Concept | str) -> frozenset[str]:
        """The drugs in a drug class (and in its subclasses)."""
        cid = drug_class if isinstance(drug_class, str) else drug_class.id
        return frozenset(
            c.id
            for c in self._concepts.values()
            if c.kind == "drug" and cid in self._ancestors(c.id)
        )

    def implies(self, recorded: Concept, mentioned: Concept) -> bool | None:
        """Whether a recorded concept supports a mention of another (child -> parent).

        ``None`` when either concept is not in the local data (nothing is known of it).

        >>> t = default_terminology()
        >>> t.implies(t.concept("atorvastatin"), t.concept("statin"))
        True
        >>> t.implies(t.concept("metformin"), t.concept("statin"))
        False
        >>> t.implies(t.concept("overweight"), t.concept("obesity"))
        False
        """
        if recorded.id == mentioned.id:
            return True
        if set(recorded.codes) & set(mentioned.codes):
            return True
        if recorded.id not in self._concepts or mentioned.id not in self._concepts:
            return None
        return mentioned.id in self._ancestors(recorded.id)

    # ------------------------------------------------------------------ analytes
    def analyte(self, code_or_concept: str | Code | Concept) -> frozenset[str]:
        """The LOINC codes of an analyte: a lab concept with its descendants.

        A LOINC code (``"4548-4"``, ``"http://loinc.org|4548-4"`` or a :class:`Code`)
        gives the codes of the analyte it belongs to; an unknown code gives itself.

        >>> sorted(default_terminology().analyte("17856-6"))[:3]
        ['17855-8', '17856-6', '41995-2']
        """
        x = code_or_concept
        if isinstance(x, Concept):
            ids = {x.id, *self.descendants(x)}
            return (
                frozenset(
                    code.code
                    for i in ids
                    for code in self._concepts[i].codes
                    if code.system == LOINC
                )
                if x.id in self._concepts
                else frozenset(x.code_in(LOINC))
            )
        code = x.code if isinstance(x, Code) else x.rsplit("|", 1)[-1].strip()
        found = self.by_code(LOINC, code)
        if not found:
            return frozenset({code})
        out: set[str] = set()
        for c in found:
            out |= self.analyte(c)
        return frozenset(out)

    async def prepare(self, codings: Iterable[Code], mentioned: Iterable[Concept] = ()) -> None:
        """Nothing to prepare: the local data is in memory."""
        return None


@lru_cache(maxsize=1)
def default_terminology() -> LocalTerminology:
    """The shared local terminology (loaded on first use, then cached)."""
    return LocalTerminology()

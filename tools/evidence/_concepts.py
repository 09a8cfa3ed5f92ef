"""The clinical concepts an evidence item records, by the terminology layer."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from tools.terminology import ACT, KINDS, Concept, Terminology, assertion_of

from ._model import EvidenceItem, EvidenceSet

__all__ = ["KINDS_BY_ITEM", "item_concepts"]


#: What a coding may name, by the kind of item that carries it (a Procedure display such
#: as "Screening for diabetes" names a procedure, not the condition).
KINDS_BY_ITEM: dict[str, tuple[str, ...]] = {
    "condition": ("condition", "finding", "social", "assessment"),
    "medication": ("drug", "drug_class"),
    "allergy": ("drug", "drug_class", "substance", "condition"),
    "observation": ("lab", "vital", "assessment", "finding", "social", "condition"),
    "procedure": ("procedure",),
    "immunization": ("vaccine",),
    "order": ("lab", "vital", "procedure"),
    # an encounter's type may name anything ("Asthma follow-up", "General examination")
    # but its setting, which its class says ("Obstetric emergency hospital admission" is
    # an emergency encounter, not an inpatient stay)
    "encounter": tuple(k for k in KINDS if k != "setting"),
}


#: what an entry's name says is not the patient's own, or not found: "No known allergy",
#: "Suspected lung cancer", "Family history of diabetes"
_NOT_THE_PATIENTS = frozenset({"negated", "uncertain", "hypothetical", "family"})


def item_concepts(item: EvidenceItem, terminology: Terminology) -> list[Concept]:
    """The concepts an item records: by its codings first (code, then display, of the
    kinds its resource type can name), then mentioned in its other typed fields
    (reasons, reactions, activities …). An encounter records its setting (its class:
    inpatient, emergency …). An allergy item records an allergic condition
    (a drug allergy when its allergen is a drug)."""
    out: dict[str, Concept] = {}
    kinds = KINDS_BY_ITEM.get(item.kind)
    # by code first: a known code's meaning beats a display's words ("GLUCOSE, URINE
    # (DIPSTICK)" coded LOINC 5792-7 is urine glucose, not blood glucose)
    for c in item.codings:
        for concept in terminology.concepts_of(c.system, c.code, None, kinds=kinds):
            out.setdefault(concept.id, concept)
    if not out:
        for c in item.codings:
            for concept in terminology.concepts_of(c.system, c.code, c.display, kinds=kinds):
                out.setdefault(concept.id, concept)
    if not out:
        # by its name's words, as they assert it: "Contact with and (suspected) exposure
        # to COVID-19" names no COVID-19 the patient has
        for m in terminology.mentions(item.name):
            if assertion_of(item.name, m.start, m.end).status in _NOT_THE_PATIENTS:
                continue  # (a history of it is still of it: "History of appendectomy")
            for concept in m.concepts:
                if kinds is None or concept.kind in kinds:
                    out.setdefault(concept.id, concept)
    for p in item.points:
        if p.component is not None:
            for concept in terminology.concepts_of(
                p.component.system, p.component.code, p.component.display
            ):
                out.setdefault(concept.id, concept)
    if item.kind == "encounter" and item.subtype:  # where it took place: its class
        for concept in terminology.concepts_of(ACT, item.subtype, None, kinds=("setting",)):
            out.setdefault(concept.id, concept)
    if item.kind == "allergy":
        drug = any(c.kind in ("drug", "drug_class") for c in out.values()) or "medication" in (
            item.category or ""
        )
        for extra in ("allergic_condition", *(("drug_allergy",) if drug else ())):
            found = terminology.concept(extra)
            if found is not None:
                out.setdefault(found.id, found)
    others = [*item.reasons, *item.reactions, *(d.text for d in item.dosages)]
    if item.care is not None:
        others += [*item.care.activities, *item.care.addresses]
    others += [t.measure or "" for t in item.targets]
    if item.quote:
        others.append(item.quote)
    if item.kind in ("goal", "care_plan", "family_history", "note", "report", "other"):
        others.append(item.name)
    for concept in _mentioned(terminology, others):
        out.setdefault(concept.id, concept)
    return list(out.values())


def _mentioned(terminology: Terminology, texts: Iterable[str]) -> list[Concept]:
    return [c for t in texts if t for m in terminology.mentions(t) for c in m.concepts]


def items_of(
    evidence: EvidenceSet,
    concepts: Sequence[Concept],
    terminology: Terminology,
    sections: Iterable[str] = ("conditions",),
) -> list[EvidenceItem]:
    """The items of those sections that record any of the concepts or a kind of one
    (:func:`item_concepts`): a problem's entries ("Chronic kidney disease stage 2" of
    chronic kidney disease), a procedure's."""
    return [
        item
        for section in sections
        for item in evidence.section(section)
        if any(
            terminology.implies(k, c) for k in item_concepts(item, terminology) for c in concepts
        )
    ]

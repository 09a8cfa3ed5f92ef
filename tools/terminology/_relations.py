"""Relations the data files state beside is-a: what a drug is given for
(:attr:`Concept.treats`, on its drug classes), how often a vaccine is repeated
(:attr:`Concept.repeat_days`) and which lab or vital shows how a condition is doing
(:attr:`Concept.monitored_by`); all are inherited down the is-a hierarchy. Screening
schedules (:func:`screenings`, :func:`screening_ways`): what a screening is for carries
its ages, sex and source, each way of doing it how often it is repeated."""

from __future__ import annotations

from collections.abc import Iterable

from tools.terminology._model import Concept
from tools.terminology._protocol import Terminology

__all__ = [
    "concerns",
    "control_measures",
    "given_for",
    "repeat_days",
    "screening_ways",
    "screenings",
    "treating_class",
    "treats",
]


def _with_ancestors(term: Terminology, concepts: Iterable[Concept]) -> list[Concept]:
    """The concepts, their drug classes, and the is-a ancestors of both (ancestors are
    transitive: one call each)."""
    out: dict[str, Concept] = {}
    for c in concepts:
        classes = [k for k in map(term.concept, c.classes) if k is not None]
        for x in (c, *classes):
            out.setdefault(x.id, x)
            for a in map(term.concept, term.ancestors(x)):
                if a is not None:
                    out.setdefault(a.id, a)
    return list(out.values())


def given_for(term: Terminology, drugs: Iterable[Concept]) -> list[Concept]:
    """The conditions drugs are given for, by their drug classes (losartan, an ARB, a
    renin-angiotensin agent, an antihypertensive: hypertension)."""
    found: dict[str, Concept] = {}
    for k in _with_ancestors(term, drugs):
        for t in map(term.concept, k.treats):
            if t is not None:
                found.setdefault(t.id, t)
    return list(found.values())


def concerns(term: Terminology, condition: Concept, named: Concept) -> bool:
    """Whether what is named is that condition, a kind of it ("essential hypertension"
    for hypertension), or a lab or vital that monitors it ("blood pressure", "sugar")."""
    if term.implies(named, condition):
        return True
    watched = {w for c in _with_ancestors(term, [condition]) for w in c.monitored_by}
    return any(term.implies(named, w) for w in map(term.concept, watched) if w is not None)


def treating_class(term: Terminology, drugs: Iterable[Concept], named: Concept) -> Concept | None:
    """The drug class of one of the drugs that is given for what is named
    (:func:`concerns`) or for a kind of it ("for her bones": a bisphosphonate, given for
    osteoporosis), or ``None``; of several, the most specific (naproxen for pain: an
    NSAID, not the analgesics that include them)."""
    found = [
        k
        for k in _with_ancestors(term, drugs)
        if any(
            t is not None and (concerns(term, t, named) or term.implies(t, named))
            for t in map(term.concept, k.treats)
        )
    ]
    return next(
        (k for k in found if not any(o is not k and term.implies(o, k) for o in found)),
        found[0] if found else None,
    )


def treats(term: Terminology, drugs: Iterable[Concept], named: Concept) -> bool:
    """Whether one of the drugs is given for what is named (:func:`treating_class`)."""
    return treating_class(term, drugs, named) is not None


def repeat_days(term: Terminology, concepts: Iterable[Concept]) -> int | None:
    """How often a vaccine is given again (the shortest interval among the concepts and
    their ancestors), or ``None`` when none is known."""
    days = [c.repeat_days for c in _with_ancestors(term, concepts) if c.repeat_days]
    return min(days) if days else None


def screenings(term: Terminology, concepts: Iterable[Concept]) -> list[Concept]:
    """What the named concepts are screenings for, each with a schedule
    (:attr:`Concept.ages`): the concept itself or its nearest such ancestor ("a
    mammogram": breast cancer screening), else the scheduled screenings under it ("cancer
    screenings": breast, cervical, colorectal), by id; empty when none."""
    out: dict[str, Concept] = {}
    for c in concepts:
        up = [a for a in _with_ancestors(term, [c]) if a.ages]
        if up:
            for a in up:
                out.setdefault(a.id, a)
            continue
        below = (term.concept(d) for d in sorted(term.descendants(c)))
        for d in below:
            if d is not None and d.ages:
                out.setdefault(d.id, d)
    return list(out.values())


def screening_ways(term: Terminology, screening: Concept) -> list[Concept]:
    """The ways of doing a screening that say how often they are repeated (colorectal
    cancer screening: a colonoscopy every 10 years, a stool test yearly), the longest
    interval first."""
    found = [term.concept(d) for d in term.descendants(screening)]
    ways = [c for c in found if c is not None and c.repeat_days]
    if screening.repeat_days:
        ways.append(screening)
    return sorted(ways, key=lambda c: (-(c.repeat_days or 0), c.id))


def control_measures(term: Terminology, measure: Concept) -> list[Concept]:
    """What says whether the conditions a lab or vital monitors are controlled: each
    condition's first monitor ("sugar", glucose, monitors diabetes, whose control HbA1c
    shows; "cholesterol" monitors hyperlipidemia: LDL). The measure itself when it is
    that first monitor (blood pressure for hypertension); empty when it monitors none."""
    found: dict[str, Concept] = {}
    for m in _with_ancestors(term, [measure]):
        for condition in map(term.concept, m.monitors):
            if condition is not None and condition.monitored_by:
                first = term.concept(condition.monitored_by[0])
                if first is not None:
                    found.setdefault(first.id, first)
    return list(found.values())

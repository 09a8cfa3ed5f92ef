"""Load the concept files in ``data/`` (and the lab table of :mod:`tools.codes`).

Format (one concept per line; ``#`` starts a comment line; fields separated by ``|``,
lists inside a field by ``;``)::

    id|kind|name|parents|codes|synonyms|extra
    hypertension|condition|Hypertension|cardiovascular_disease|SCT:38341003;ICD10CM:I10|high blood pressure;=HTN|

- ``codes``: ``PREFIX:code`` with PREFIX one of SCT, ICD10CM, RXN, LOINC, CVX, ATC, ACT (HL7 v3
  ActCode: an Encounter's class). A code
  ending in ``?`` is one the compiler could not verify: it is kept in the file for a
  reviewer but never loaded (a wrong code is worse than a missing one).
- ``synonyms``: other names; ``=NAME`` matches case-sensitively (abbreviations that are
  also English words, e.g. ``=MS``, ``=PE``). The ``name`` itself is matched too.
- ``extra``: space-separated flags: ``polarity=higher_worse|higher_better``,
  ``classes=a,b`` (drug classes beyond ATC), ``monitored=a,b`` (for a condition, the
  labs or vitals that show how it is doing: diabetes → HbA1c), ``treats=a,b`` (for a
  drug class, the conditions or findings it is given for: antihypertensives →
  hypertension, analgesics → pain),
  ``every=DAYS`` (for a vaccine, how often adults get it again: influenza 365; for a way
  of screening, how often it is repeated: colonoscopy 3650), ``ages=LO-HI`` or
  ``ages=LO-`` (and older), ``sex=female|male`` and ``by=WHO`` (for what a screening or
  a vaccine given once is for, the ages and sex it is recommended at and by whom:
  colorectal cancer screening ``ages=45-75 by=USPSTF``, zoster vaccine ``ages=50- by=CDC``),
  ``recorded_as=allergy_list|encounter|anywhere``
  (held elsewhere than its kind: a drug allergy in the allergy list, a physical
  examination as a visit), ``notext`` (the name is not matched in free
  text: "History of appendectomy" is a record entry, not a phrase to look for).

Drugs belong to a drug class when one of their ATC codes starts with one of the class's
ATC codes (atorvastatin C10AA05 is a statin, C10AA), or when ``classes=`` says so.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from importlib import resources
from typing import cast, get_args

from tools.errors import TerminologyDataError
from tools.terminology._model import (
    ACT,
    ATC,
    CVX,
    ICD10CM,
    KINDS,
    LOINC,
    RXNORM,
    SNOMED,
    Code,
    Concept,
    Kind,
    Polarity,
    RecordedAs,
    Sex,
)

__all__ = ["DATA_FILES", "PREFIXES", "ConceptTable", "load_table"]

PREFIXES: dict[str, str] = {
    "SCT": SNOMED,
    "ICD10CM": ICD10CM,
    "RXN": RXNORM,
    "LOINC": LOINC,
    "CVX": CVX,
    "ATC": ATC,
    "ACT": ACT,
}

#: The data files, in load order (a concept's parents may be in an earlier or later file).
DATA_FILES: tuple[str, ...] = (
    "conditions.psv",
    "findings.psv",
    "drug_classes.psv",
    "drugs.psv",
    "labs.psv",
    "observations.psv",
    "vaccines.psv",
    "procedures.psv",
    "substances.psv",
    "settings.psv",
    "body_sites.psv",
)


@dataclass
class ConceptTable:
    """Every concept by id, plus what the loader derived (unverified codes, text flags)."""

    concepts: dict[str, Concept] = field(default_factory=dict)
    notext: set[str] = field(default_factory=set)
    unverified: list[tuple[str, str]] = field(default_factory=list)  # (concept id, code)


def _split(field_text: str) -> list[str]:
    return [p.strip() for p in field_text.split(";") if p.strip()]


def _parse_line(line: str, where: str, table: ConceptTable) -> Concept:
    parts = line.split("|")
    if len(parts) != 7:
        raise TerminologyDataError(where, f"expected 7 '|'-separated fields, got {len(parts)}")
    cid, kind, name, parents, codes, synonyms, extra = (p.strip() for p in parts)
    if not cid or not name:
        raise TerminologyDataError(where, "id and name are required")
    if kind not in KINDS:
        raise TerminologyDataError(where, f"unknown kind {kind!r} (one of {', '.join(KINDS)})")
    parsed: list[Code] = []
    for item in _split(codes):
        prefix, sep, code = item.partition(":")
        if not sep or prefix not in PREFIXES or not code:
            raise TerminologyDataError(where, f"bad code {item!r} (PREFIX:code)")
        if code.endswith("?"):
            table.unverified.append((cid, item))
            continue
        parsed.append(Code(PREFIXES[prefix], code))
    polarity: str | None = None
    classes: tuple[str, ...] = ()
    monitored: tuple[str, ...] = ()
    treats: tuple[str, ...] = ()
    repeat_days: int | None = None
    ages: tuple[int, int | None] | None = None
    sex: str | None = None
    by: str | None = None
    recorded_as: str | None = None
    for flag in extra.split():
        key, _, value = flag.partition("=")
        if key == "polarity" and value in ("higher_worse", "higher_better"):
            polarity = value
        elif key == "classes" and value:
            classes = tuple(v for v in value.split(",") if v)
        elif key == "monitored" and value:
            monitored = tuple(v for v in value.split(",") if v)
        elif key == "every" and value.isdigit():
            repeat_days = int(value)
        elif key == "ages" and re.fullmatch(r"\d{1,3}-(?:\d{1,3})?", value):
            low, _, high = value.partition("-")
            lo, hi = int(low), (int(high) if high else None)
            if hi is not None and lo > hi:
                raise TerminologyDataError(where, f"bad ages {value!r} (LO-HI, LO <= HI)")
            ages = (lo, hi)
        elif key == "sex" and value in get_args(Sex):
            sex = value
        elif key == "by" and value:
            by = value
        elif key == "treats" and value:
            treats = tuple(v for v in value.split(",") if v)
        elif key == "recorded_as" and value in get_args(RecordedAs):
            recorded_as = value
        elif key == "notext" and not value:
            table.notext.add(cid)
        else:
            raise TerminologyDataError(where, f"unknown flag {flag!r}")
    return Concept(
        id=cid,
        kind=cast(Kind, kind),
        name=name,
        synonyms=tuple(_split(synonyms)),
        codes=tuple(parsed),
        parents=tuple(_split(parents)),
        classes=classes,
        polarity=cast(Polarity | None, polarity),
        monitored_by=monitored,
        treats=treats,
        repeat_days=repeat_days,
        ages=ages,
        sex=cast(Sex | None, sex),
        by=by,
        recorded_as=cast(RecordedAs | None, recorded_as),
        sources=(where.split(":")[0],),
    )


def _read(name: str) -> str:
    return resources.files("tools.terminology").joinpath("data", name).read_text("utf-8")


def _merge_measures(table: ConceptTable) -> None:
    """Every measure of :data:`tools.codes.MEASURES` is a lab/vital concept with its codes."""
    from tools.codes import MEASURES

    concepts = table.concepts
    for m in MEASURES:
        loinc = tuple(Code(LOINC, c) for c in m.codes)
        known = concepts.get(m.key)
        if known is None:
            raise TerminologyDataError(
                "labs.psv", f"tools.codes.MEASURES has {m.key!r}, which labs.psv does not define"
            )
        merged = known.codes + tuple(c for c in loinc if c not in known.codes)
        concepts[m.key] = replace(known, codes=merged, sources=(*known.sources, "tools.codes"))


def _link_classes(table: ConceptTable) -> None:
    concepts = table.concepts
    class_atc = [
        (c.id, code.code)
        for c in concepts.values()
        if c.kind == "drug_class"
        for code in c.codes
        if code.system == ATC
    ]
    for cid, c in list(concepts.items()):
        if c.kind != "drug":
            continue
        atc = [code.code for code in c.codes if code.system == ATC]
        found = [k for k, prefix in class_atc if any(a.startswith(prefix) for a in atc)]
        classes = tuple(dict.fromkeys([*c.classes, *found]))
        if classes != c.classes:
            concepts[cid] = replace(c, classes=classes)


def _link_monitors(table: ConceptTable) -> None:
    """Each lab or vital's :attr:`Concept.monitors`: the conditions whose
    ``monitored_by`` names it, in the data's order."""
    concepts = table.concepts
    for c in list(concepts.values()):
        for m in c.monitored_by:
            lab = concepts[m]
            concepts[m] = replace(lab, monitors=(*lab.monitors, c.id))


def _check(table: ConceptTable) -> None:
    concepts = table.concepts
    for c in concepts.values():
        for p in c.parents:
            if p not in concepts:
                raise TerminologyDataError(c.sources[0], f"{c.id}: unknown parent {p!r}")
        for m in c.monitored_by:
            if m not in concepts or concepts[m].kind not in ("lab", "vital", "assessment"):
                raise TerminologyDataError(c.sources[0], f"{c.id}: monitored by {m!r}, no lab")
        for t in c.treats:
            if t not in concepts or concepts[t].kind not in ("condition", "finding"):
                raise TerminologyDataError(
                    c.sources[0], f"{c.id}: treats {t!r}, no condition or finding"
                )
        for k in c.classes:
            if concepts.get(k) is None or concepts[k].kind != "drug_class":
                raise TerminologyDataError(c.sources[0], f"{c.id}: unknown drug class {k!r}")
    # no is-a cycles
    state: dict[str, int] = {}

    def visit(cid: str, path: tuple[str, ...]) -> None:
        if state.get(cid) == 2:
            return
        if state.get(cid) == 1:
            raise TerminologyDataError("data", "is-a cycle: " + " -> ".join((*path, cid)))
        state[cid] = 1
        for p in concepts[cid].parents:
            visit(p, (*path, cid))
        state[cid] = 2

    for cid in concepts:
        visit(cid, ())


def load_table(
    files: Iterable[str] = DATA_FILES, *, texts: dict[str, str] | None = None
) -> ConceptTable:
    """Parse and check the data files (``texts`` overrides file contents, for tests)."""
    table = ConceptTable()
    files = tuple(files)
    for name in files:
        text = texts[name] if texts and name in texts else _read(name)
        for number, raw in enumerate(text.splitlines(), 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            where = f"{name}:{number}"
            concept = _parse_line(line, where, table)
            if concept.id in table.concepts:
                raise TerminologyDataError(where, f"duplicate concept id {concept.id!r}")
            table.concepts[concept.id] = concept
    if "labs.psv" in files:
        _merge_measures(table)
    _link_classes(table)
    _check(table)
    _link_monitors(table)
    return table

"""Clinical scores computed from the record's typed evidence, each point resting on the
entries that earn it (code computes; a model only phrases what this returns).

:func:`cha2ds2_vasc`: the CHA₂DS₂-VASc stroke-risk score of atrial fibrillation (Lip et al.,
Chest 2010; the criteria as the 2020 ESC atrial fibrillation guideline defines them:
vascular disease includes significant coronary artery disease). Each criterion counts an
entry on the problem list of any clinical status (a stroke resolved is still a prior
stroke), never one entered in error or refuted; age is the record's (at its reference
day, or at death). What the record does not hold (an echocardiogram's ejection fraction,
hypertension treated but not listed) is not counted, and the result says so: it is the
score *of the record*, for a clinician to check, not a decision.

>>> from tools.evidence import build_evidence
>>> import datetime as dt
>>> record = [{"resourceType": "Patient", "id": "p", "gender": "female",
...            "birthDate": "1955-01-01"}]
>>> score = cha2ds2_vasc(build_evidence(record, as_of=dt.date(2025, 6, 1)))
>>> score.total, [(c.label, c.points) for c in score.criteria if c.points]
(2, [('age 65–74', 1), ('female sex', 1)])
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .evidence import EvidenceItem, EvidenceSet, item_concepts
from .terminology import Terminology, default_terminology

__all__ = ["Criterion", "Score", "cha2ds2_vasc"]

#: a Condition entry that does not count (it was never true of the patient)
_VOID = frozenset({"entered-in-error", "refuted"})


@dataclass(frozen=True)
class Criterion:
    """One criterion of a score: what it is, the points it earns here, and the entries
    (evidence items) it rests on; ``points`` 0 with no entries: none found in the record."""

    label: str
    points: int
    items: tuple[EvidenceItem, ...] = ()
    weight: int = 1  # what the criterion earns when met

    @property
    def name(self) -> str:
        """The label without its gloss ("vascular disease", not "… (myocardial …)")."""
        return self.label.split(" (")[0]


@dataclass(frozen=True)
class Score:
    """A computed score: its name, total and criteria (each with its entries); ``missing``:
    what it needs that the record did not give (no birth date, no sex)."""

    name: str
    total: int
    criteria: tuple[Criterion, ...]
    missing: tuple[str, ...] = field(default_factory=tuple)
    patient: EvidenceItem | None = None


def _entries(
    ev: EvidenceSet, term: Terminology, ids: tuple[str, ...], unless: tuple[str, ...] = ()
) -> tuple[EvidenceItem, ...]:
    wanted = [c for i in ids if (c := term.concept(i)) is not None]
    excluded = [c for i in unless if (c := term.concept(i)) is not None]
    out = []
    for item in ev.items:
        if item.kind != "condition" or (item.verification_status or "") in _VOID:
            continue
        recorded = item_concepts(item, term)[:1]  # what the entry is (its code), not its reasons
        if any(term.implies(r, w) for r in recorded for w in wanted) and not any(
            term.implies(r, x) for r in recorded for x in excluded
        ):
            out.append(item)
    return tuple(sorted(out, key=lambda i: (i.points[0].day or "") if i.points else ""))


def cha2ds2_vasc(ev: EvidenceSet, terminology: Terminology | None = None) -> Score:
    """The CHA₂DS₂-VASc score of the record (see the module docstring)."""
    term = terminology or default_terminology()
    patient = next((i for i in ev.section("patient") if i.demographics), None)
    demo = patient.demographics if patient else None
    age = demo.age if demo else None
    sex = (demo.gender or "").lower() if demo else ""
    missing = []
    if age is None:
        missing.append("age (no birth date)")
    if sex not in ("female", "male"):
        missing.append("sex")

    def of(label: str, weight: int, *ids: str, unless: tuple[str, ...] = ()) -> Criterion:
        items = _entries(ev, term, ids, unless)
        return Criterion(label, weight if items else 0, items, weight)

    ages = (
        Criterion("age 75 or over", 2 if age is not None and age >= 75 else 0, (), 2),
        Criterion("age 65–74", 1 if age is not None and 65 <= age < 75 else 0, (), 1),
    )
    criteria = (
        of("congestive heart failure", 1, "heart_failure", "cardiomyopathy"),
        of("hypertension", 1, "hypertension"),
        *ages,
        of("diabetes", 1, "diabetes_mellitus", unless=("gestational_diabetes",)),
        of("prior stroke or TIA", 2, "stroke", "tia"),
        of(
            "vascular disease (myocardial infarction, coronary artery disease, peripheral "
            "artery disease or aortic plaque)",
            1,
            "myocardial_infarction",
            "coronary_heart_disease",
            "peripheral_vascular_disease",
        ),
        Criterion("female sex", 1 if sex == "female" else 0, (), 1),
    )
    return Score(
        "CHA2DS2-VASc",
        sum(c.points for c in criteria),
        criteria,
        tuple(missing),
        patient,
    )

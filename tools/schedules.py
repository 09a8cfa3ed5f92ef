"""Cancer screenings and vaccines given once in adult life, judged from the record's
dates by a published schedule.

What a screening is for carries the ages and sex it is recommended for and by whom
(:attr:`tools.terminology.Concept.ages`, ``sex``, ``by``: colorectal cancer screening,
ages 45–75, USPSTF); each way of doing it, how often it is repeated (a colonoscopy every
10 years, a stool test yearly). A vaccine given once in adult life carries its ages
itself (zoster, 50 and older, CDC) and is its own way, done once. A screening is up to
date when one way of doing it was done within its interval (a vaccine: ever), else due
(none on record, or the last one too long ago), for a patient of those ages and that
sex; outside them it is not judged. A patient who has died is due nothing. The agent
says these as answers (``agent.toolkit``); the brief lists the ones due
(:mod:`tools.brief`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

from tools.evidence import EvidenceItem, EvidenceSet, item_concepts
from tools.terminology import Concept, Terminology, screening_ways, screenings

__all__ = [
    "CANCER_SCREENING",
    "VACCINE",
    "ScreeningStatus",
    "ages_said",
    "every",
    "plus",
    "scheduled_care",
    "screening_status",
    "ways_said",
]

#: a point that does not say it was done (a procedure not done, an entry in error)
_NOT_DONE = frozenset({"not-done", "entered-in-error"})
#: the kinds of entry that may record a screening done
_DONE_KINDS = frozenset(
    {"procedure", "report", "imaging_study", "observation", "encounter", "immunization"}
)
#: the terminology's group of every scheduled cancer screening, and of every vaccine
CANCER_SCREENING = "cancer_screening"
VACCINE = "vaccine"


@dataclass(frozen=True, slots=True)
class ScreeningStatus:
    """One screening (or vaccine given once) judged for one patient on one day.

    Attributes:
        screening: what it is for (colorectal cancer screening), with its ages, sex, by.
        verdict: ``"due"``, ``"not_due"`` (one way done within its interval) or
            ``"not_judged"`` (outside its ages, of the other sex, or the age unknown).
        why: for ``"not_judged"``: ``"age"``, ``"sex"`` or ``"age_unknown"``.
        ways: the ways of doing it, the longest interval first (a vaccine given once:
            itself, with no interval).
        age: the patient's age on the day judged; ``gender``: Patient.gender.
        patient: the patient's evidence item (the age and sex rest on it).
        last: the last one done of any way (its day, its entry, the way), or ``None``.
        current: for ``"not_due"``: the one within its interval (day, entry, way).
    """

    screening: Concept
    verdict: Literal["due", "not_due", "not_judged"]
    why: Literal["", "age", "sex", "age_unknown"]
    ways: tuple[Concept, ...]
    age: int | None
    gender: str | None
    patient: EvidenceItem
    last: tuple[dt.date, EvidenceItem, Concept] | None
    current: tuple[dt.date, EvidenceItem, Concept] | None = None

    @property
    def next_due(self) -> dt.date | None:
        """When the one within its interval runs out (2024-06-03 plus 10 years:
        2034-06-03), or ``None`` (none within it, or given once)."""
        if self.current is None or not self.current[2].repeat_days:
            return None
        day, _item, way = self.current
        return plus(day, way.repeat_days or 0)

    @property
    def entries(self) -> list[EvidenceItem]:
        """What it rests on: the patient (age and sex), then the entries named."""
        out = [self.patient]
        for x in (self.current, self.last):
            if x is not None and x[1] not in out:
                out.append(x[1])
        return out


def plus(day: dt.date, days: int) -> dt.date:
    """A day so many days later, by whole years when the interval is whole years
    (2024-06-03 plus 3650 days is 2034-06-03, not 2034-06-01)."""
    if days % 365:
        return day + dt.timedelta(days=days)
    year = day.year + days // 365
    if (day.month, day.day) == (2, 29):
        return day.replace(year=year, day=28)
    return day.replace(year=year)


def every(days: int | None) -> str:
    """How often, said as a clinician says it ("every 10 years", "yearly"; ``None``:
    "once")."""
    if not days:
        return "once"
    if days == 365:
        return "yearly"
    if days % 365 == 0:
        return f"every {days // 365} years"
    return f"every {days} days"


def ages_said(ages: tuple[int, int | None]) -> str:
    """ "ages 45–75", "ages 50 and older"."""
    lo, hi = ages
    return f"ages {lo}–{hi}" if hi is not None else f"ages {lo} and older"


def ways_said(ways: Sequence[Concept]) -> str:
    """How a screening is done and how often ("colonoscopy every 10 years or fecal occult
    blood test yearly"): each way by its common name, its first synonym ("Pap smear",
    where its name is the record's display, "Cytopathology procedure, preparation of
    smear, genital source")."""
    return " or ".join(
        f"{w.synonyms[0] if w.synonyms else w.name.lower()} {every(w.repeat_days)}" for w in ways
    )


def _last_done(
    term: Terminology, ev: EvidenceSet, way: Concept
) -> tuple[dt.date, EvidenceItem, Concept] | None:
    """The last time the record says a way of screening was done, and its entry."""
    best: tuple[dt.date, EvidenceItem, Concept] | None = None
    for item in ev.items:
        if item.kind not in _DONE_KINDS:
            continue
        if not any(term.implies(c, way) for c in item_concepts(item, term)):
            continue
        for p in item.points:
            if p.day and (p.status or "") not in _NOT_DONE:
                day = dt.date.fromisoformat(p.day)
                if best is None or day > best[0]:
                    best = (day, item, way)
    return best


def screening_status(
    ev: EvidenceSet,
    wanted: Sequence[Concept],
    *,
    as_of: dt.date,
    terminology: Terminology,
) -> list[ScreeningStatus]:
    """Each screening the concepts name (:func:`tools.terminology.screenings`: "a
    mammogram" is breast cancer screening; "cancer screenings" all three) judged for the
    record's patient on ``as_of``. Empty for a patient who has died, or a record without
    its patient."""
    patient = next((i for i in ev.section("patient") if i.demographics), None)
    if patient is None or patient.demographics is None or patient.demographics.deceased:
        return []
    who = patient.demographics
    out: list[ScreeningStatus] = []
    for screening in screenings(terminology, wanted):
        if screening.ages is None:
            continue
        ways = tuple(screening_ways(terminology, screening))
        if not ways and screening.kind == "vaccine":
            ways = (screening,)  # given once: any dose on record is it
        if not ways:
            continue
        done = [d for w in ways if (d := _last_done(terminology, ev, w)) is not None]
        due = ScreeningStatus(
            screening=screening,
            verdict="due",
            why="",
            ways=ways,
            age=who.age,
            gender=who.gender,
            patient=patient,
            last=max(done, key=lambda d: d[0], default=None),
        )
        lo, hi = screening.ages
        if screening.sex and who.gender != screening.sex:
            out.append(replace(due, verdict="not_judged", why="sex"))
        elif who.age is None or who.age < lo or (hi is not None and who.age > hi):
            out.append(
                replace(due, verdict="not_judged", why="age_unknown" if who.age is None else "age")
            )
        elif current := [
            d for d in done if d[2].repeat_days is None or (as_of - d[0]).days <= d[2].repeat_days
        ]:
            now = max(current, key=lambda d: d[0])
            out.append(replace(due, verdict="not_due", current=now))
        else:
            out.append(due)
    return out


def scheduled_care(
    ev: EvidenceSet, *, as_of: dt.date, terminology: Terminology
) -> list[ScreeningStatus]:
    """Every scheduled cancer screening, then every vaccine given once in adult life,
    judged (:func:`screening_status`)."""
    groups = [g for g in map(terminology.concept, (CANCER_SCREENING, VACCINE)) if g is not None]
    return screening_status(ev, groups, as_of=as_of, terminology=terminology)

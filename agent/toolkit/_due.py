"""What is due, judged by code from the record's dates and a published schedule: the
vaccines given again every so often (the CDC adult schedule: influenza yearly, tetanus
every 10 years) and the cancer screenings (USPSTF: colorectal, breast, cervical; judged
by :mod:`tools.schedules`), each with the ages and sex it is recommended for. A patient
who has died is due nothing (:func:`agent.toolkit._base.no_care_due`, checked by the
caller)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from tools.brief import plain
from tools.evidence import EvidenceItem, EvidenceSet, item_concepts
from tools.schedules import ScreeningStatus, ages_said, screening_status, ways_said
from tools.terminology import Concept, Terminology, default_terminology, repeat_days

from ..context import AgentContext
from ..guard import scrub
from ._base import ToolResult

__all__ = ["screenings_due", "vaccines_due"]


#: below this age the CDC child and adolescent schedule applies (its own doses and ages:
#: a Tdap at 11–12 after the DTaP series), not the adult intervals; the yearly influenza
#: vaccine is for everyone from 6 months
_ADULT_AGE = 19


def vaccines_due(
    ctx: AgentContext,
    ev: EvidenceSet,
    items: list[EvidenceItem],
    result: ToolResult,
    *,
    wanted: Sequence[Concept] = (),
    searched: Sequence[str] = (),
) -> list[tuple[str, list[str]]]:
    """A vaccine given again every so often (:func:`tools.terminology.repeat_days`: the
    CDC adult schedule's influenza yearly, tetanus every 10 years), from its last dose:
    due, or not yet (a patient who has died: :func:`no_care_due`). Of a child, only the
    yearly influenza vaccine is judged; the others are said not judged, with the age."""
    term = ctx.terminology or default_terminology()
    child = next(
        (
            i
            for i in ev.section("patient")
            if i.demographics and i.demographics.age is not None and i.demographics.age < _ADULT_AGE
        ),
        None,
    )
    as_of = ctx.as_of or dt.datetime.now(dt.UTC).date()
    latest: dict[int, tuple[str, EvidenceItem]] = {}  # per interval: the last dose of all
    for item in items:  # (a flu shot coded 140 one year and 150 the next is one series)
        days = sorted(p.day for p in item.points if p.day)
        every = (
            repeat_days(term, item_concepts(item, term)) if item.kind == "immunization" else None
        )
        if every and days and days[-1] > latest.get(every, ("", item))[0]:
            latest[every] = (days[-1][:10], item)
    out: list[tuple[str, list[str]]] = []
    named = [w for w in wanted if w.kind == "vaccine"]  # (not a colonoscopy's interval)
    every_named = repeat_days(term, named) if named and searched and not items else None
    kin = _given_for_the_same(term, ev, named[0], every_named) if every_named else []
    if kin:  # "tdap up to date?", none, a Td on record: the booster is judged by the Td
        judged = vaccines_due(ctx, ev, kin, result)
        for item in kin:
            result.add(ctx, item)
        none = f"{plain(named[0].name)}: none on record; "
        return [(scrub(none, ctx.patient_id) + text, [*searched, *hs]) for text, hs in judged]
    if every_named:  # "do I need a tetanus booster?", none on record: due, for an adult
        period = "yearly" if every_named == 365 else f"every {round(every_named / 365)} years"
        name = plain(named[0].name)
        if child is not None and child.demographics and every_named != 365:
            said = (
                f"{name}: none on record; at age {child.demographics.age} the CDC child and "
                "adolescent schedule applies (its doses by age), which is not judged here"
            )
            result.add(ctx, child)
            return [(scrub(said, ctx.patient_id), [*searched, child.handle])]
        said = f"{name}: none on record; given {period} (CDC adult schedule): due"
        return [(scrub(said, ctx.patient_id), list(searched))]
    for every, (day, item) in latest.items():
        period = "yearly" if every == 365 else f"every {round(every / 365)} years"
        ago = (as_of - dt.date.fromisoformat(day)).days
        if every == 365:
            since = "within the year" if ago <= every else "more than a year ago"
        else:
            since = f"{ago // 365} years ago" if ago >= 365 else "within the year"
        verdict = "due" if ago > every else "not due yet"
        if child is not None and child.demographics and every != 365:
            said = (
                f"{plain(item.name)}: last given {day}, {since}; at age "
                f"{child.demographics.age} the CDC child and adolescent schedule applies "
                "(its doses by age), which is not judged here"
            )
            result.add(ctx, child)
            out.append((scrub(said, ctx.patient_id), [item.handle, child.handle]))
            continue
        said = (
            f"{plain(item.name)}: last given {day}, {since}; given {period} "
            f"(CDC {'' if every == 365 and child is not None else 'adult '}schedule): {verdict}"
        )
        out.append((scrub(said, ctx.patient_id), [item.handle]))
    return out


def _given_for_the_same(
    term: Terminology, ev: EvidenceSet, named: Concept, every: int
) -> list[EvidenceItem]:
    """The doses on record of what the named vaccine is given again as (the concept its
    interval is of: a Td for "tdap up to date?", both tetanus boosters), when it has none
    of its own."""
    carriers = [
        c
        for cid in (named.id, *term.ancestors(named))
        if (c := term.concept(cid)) is not None and c.repeat_days == every
    ]
    return [
        i
        for i in ev.items
        if i.kind == "immunization"
        and any(term.implies(c, k) for c in item_concepts(i, term) for k in carriers)
    ]


def _ago(as_of: dt.date, day: dt.date) -> str:
    years = (as_of - day).days // 365
    if years < 1:
        return "within the year"
    return "1 year ago" if years == 1 else f"{years} years ago"


def _said(st: ScreeningStatus, as_of: dt.date) -> str:
    """A screening's (or a vaccine's) verdict as one sentence: "Colorectal cancer
    screening: Colonoscopy last done 2024-06-03, within the year; colonoscopy every 10
    years or fecal occult blood test yearly, at ages 45–75 (USPSTF): not due yet (next by
    2034-06-03)"; "Zoster vaccine: none on record; shingles shot once, at ages 50 and
    older (CDC adult schedule); at age 66: due"."""
    s = st.screening
    ages = ages_said(s.ages) if s.ages else "ages not stated"
    by = f" ({s.by})" if s.by else ""
    name = plain(s.name)
    if st.why == "sex":
        whom = "women" if s.sex == "female" else "men"
        return (
            f"{name}: recommended for {whom}, {ages}{by}; not judged for a patient "
            f"recorded as {st.gender or 'of unrecorded sex'}"
        )
    if st.verdict == "not_judged":
        at = "the age not recorded" if st.age is None else f"at age {st.age}"
        said = f"{name}: recommended at {ages}{by}; {at}, not judged here"
        if st.last is not None:
            said += f" (last: {plain(st.last[1].name)}, {st.last[0].isoformat()})"
        return said
    rule = f"{ways_said(st.ways)}, at {ages}{by}"
    shown = st.current or st.last
    if shown is None:
        return f"{name}: none on record; {rule}; at age {st.age}: due"
    day, item, _way = shown
    verb = "given" if item.kind == "immunization" else "last done"
    done = f"{name}: {plain(item.name)} {verb} {day.isoformat()}, {_ago(as_of, day)}"
    if st.verdict == "not_due":
        until = f" (next by {st.next_due.isoformat()})" if st.next_due is not None else ""
        return f"{done}; {rule}: not due{' yet' if until else ''}{until}"
    return f"{done}; {rule}: due"


def screenings_due(
    ctx: AgentContext,
    ev: EvidenceSet,
    screenings: list[Concept],
    result: ToolResult,
    *,
    asked: bool,
    searched: list[str] | None = None,
) -> list[tuple[str, list[str]]]:
    """Each screening or once-given vaccine (:func:`tools.terminology.screenings` of what
    is named; :func:`tools.schedules.screening_status`) said with its verdict. Of the
    other sex it is said only when ``asked`` by name ("is he due for a mammogram?"), and
    left out of "his cancer screenings", as is one the patient is too young for, or a
    vaccine past its ages (hepatitis B to 59); a screening past its ages is said not
    judged (USPSTF leaves colorectal screening at 76–85 to the person). Each statement
    cites the patient (age and sex) and the last one done, or, when none is,
    ``searched``: the search that found none."""
    term = ctx.terminology or default_terminology()
    as_of = ctx.as_of or dt.datetime.now(dt.UTC).date()
    out: list[tuple[str, list[str]]] = []
    for st in screening_status(ev, screenings, as_of=as_of, terminology=term):
        lo = st.screening.ages[0] if st.screening.ages else 0
        too_young = st.why == "age" and (st.age or 0) < lo
        vaccine_past = st.why == "age" and st.screening.kind == "vaccine"
        if not asked and (st.why == "sex" or too_young or vaccine_past):
            continue  # "anything overdue?" of a man, of a child, or a vaccine of younger
            # adults (hepatitis B to 59): not these
        for item in st.entries:
            result.add(ctx, item)
        handles = [i.handle for i in st.entries]
        if st.verdict == "due" and st.last is None:
            handles.extend(searched or ())
        out.append((scrub(_said(st, as_of), ctx.patient_id), handles))
    return out

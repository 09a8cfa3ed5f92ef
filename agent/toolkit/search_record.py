"""``search_record``: search the session patient's record by type, name, code, status
and date range.

With a ``resource_type``, what FHIR can filter (code, date range, status) is pushed to
the source's search, bound to the session patient (in the parameters, and checked on
every result); the matches' evidence items are then filtered again on their typed
fields, so the result is the same on sources that ignore or reject a parameter. Without
a ``resource_type``, the evidence is filtered locally. A search that finds nothing
returns a citable *absence* item saying what was searched (support for "not in the
record").
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Sequence
from typing import Any

from pydantic import Field

from tools._record import parse_date as fhir_date
from tools.brief import plain, sentence_case
from tools.errors import UnsupportedSearch
from tools.evidence import (
    Coding,
    EvidenceItem,
    EvidenceSet,
    SearchScope,
    age,
    in_window,
    item_concepts,
    items_of,
)
from tools.fhir_version import (
    ACTIVE_CONDITION_STATUSES,
    PATIENT_SEARCH_PARAM,
    SEARCH_CODE_PARAM,
    SEARCH_DATE_PARAM,
    SEARCH_STATUS_PARAM,
    SEARCHABLE_TYPES,
    patient_ids_of,
)
from tools.schedules import VACCINE
from tools.terminology import (
    Concept,
    Terminology,
    assertion_of,
    concerns,
    default_terminology,
    screenings,
    treating_class,
)

from ..context import AgentContext
from ..errors import ToolCallError
from ..guard import scrub
from ._base import (
    ANY_ASK,
    Tool,
    ToolArgs,
    ToolResult,
    absence,
    addressed,
    at_death,
    bounded,
    coding_arg,
    diagnosed_at,
    ensure_evidence,
    holds_now,
    last_day,
    named_concepts,
    no_care_due,
    none_given_for,
    none_on_the_list,
    order_visits,
    ordered_at,
    parse_date,
    reason_lead,
    statement,
    window_ends,
)
from ._due import screenings_due, vaccines_due

__all__ = ["TOOL", "SearchRecordArgs", "search_record"]


class SearchRecordArgs(ToolArgs):
    resource_type: str | None = Field(None, max_length=40, description=", ".join(SEARCHABLE_TYPES))
    name: str | None = Field(None, max_length=120)
    code: str | None = Field(None, max_length=120)
    date_from: str | None = Field(None, max_length=30, description="YYYY-MM-DD")
    date_to: str | None = Field(None, max_length=30)
    status: str | None = Field(None, max_length=40)
    given_for: str | None = Field(
        None,
        max_length=120,
        description="medications or procedures: those given or done for this condition (or "
        "what shows it: 'blood pressure'), by their own reason (or the drug's class)",
    )
    suspected: bool = Field(
        False,
        description="with given_for: also those done or given for a suspicion of it (its "
        "workup: 'Suspected lung cancer')",
    )
    begun: bool = Field(
        False,
        description="with a window: only what began in it (started, new), not what was "
        "ordered before it and is still active (unless nothing began in it)",
    )
    treatment: bool = Field(
        False,
        description="with given_for: only what treats it (not the exams, imaging, screening "
        "or tests done for it)",
    )
    site: str | None = Field(
        None,
        max_length=60,
        description="a body site ('knee'): only entries whose names name it (surgery on the knee)",
    )
    age_at: bool = Field(
        False,
        description="also the patient's age when each entry began",
        json_schema_extra={"prompt": False},  # set by code ("how old was she when …?")
    )


def _param_sets(
    ctx: AgentContext,
    rtype: str,
    code: Coding | None,
    status: str,
    d_from: dt.date | None,
    d_to: dt.date | None,
) -> list[dict[str, list[str]]]:
    """The searches to try, most specific first (FHIR names, generic names, patient only).

    Only what cannot drop a match of the local filter is pushed: dates widened by a day
    (time zones), a status only when it is a code of the type's status parameter.
    """
    base: dict[str, list[str]] = {PATIENT_SEARCH_PARAM.get(rtype, "patient"): [ctx.patient_id]}
    dates: list[str] = []
    if d_from:
        dates.append(f"ge{(d_from - dt.timedelta(days=1)).isoformat()}")
    if d_to:
        dates.append(f"le{(d_to + dt.timedelta(days=1)).isoformat()}")
    token = None
    if code:
        token = f"{code.system}|{code.code}" if code.system else code.code
    by_reference = rtype.startswith("Medication") and any(
        r.get("resourceType") == rtype and "medicationReference" in r
        for r in ctx.cache.record or []
    )  # evidence codes of a medicationReference come from the Medication: not searchable
    st = None
    if status and rtype in SEARCH_STATUS_PARAM and status in SEARCH_STATUS_PARAM[rtype][1]:
        st = (
            ",".join(ACTIVE_CONDITION_STATUSES)
            if rtype == "Condition" and status == "active"
            else status
        )
    out: list[dict[str, list[str]]] = []
    # an order written before a window may still be active in it: medication dates are
    # filtered here (:func:`_active_through`), never by the source
    dated = dates and rtype in SEARCH_DATE_PARAM and not rtype.startswith("Medication")
    for fhir in (True, False):
        params = dict(base)
        if dated:
            params[SEARCH_DATE_PARAM[rtype] if fhir else "date"] = dates
        names = SEARCH_CODE_PARAM.get(rtype)
        name = (names[0] if fhir else names[1]) if names else None
        if token and name and not by_reference:
            params[name] = [token]
        if st:
            params[SEARCH_STATUS_PARAM[rtype][0] if fhir else "status"] = [st]
        if params not in out:
            out.append(params)
    if base not in out:
        out.append(base)
    return out


def _named(item: EvidenceItem, name: str, wanted: list[Concept], term: Terminology) -> bool:
    """The item records what ``name`` means (by the terminology: "diabetes" finds Type 2
    diabetes mellitus coded ICD-10 E11.9, "statin" finds atorvastatin), or its own names
    (name, coding displays, reasons) contain ``name``; for a body site, any of the site's
    names as a word ("knees": Osteoarthritis of knee, Total knee replacement)."""
    if wanted and any(term.implies(c, w) for c in item_concepts(item, term) for w in wanted):
        return True
    if wanted and all(w.kind in _DRUGS for w in wanted) and item.kind not in _DRUG_ENTRIES:
        return False  # "was he on opioids?": not "Opioid abuse", whose name says the word
    texts = [item.name, *(c.display or "" for c in item.codings), *item.reasons]
    sites = [w for w in wanted if w.kind == "body_site"]
    if sites:
        said = _site_words(tuple(sites))
        return any(said.search(t) for t in texts)
    return any(name in t.lower() for t in texts)


@functools.lru_cache(maxsize=64)
def _site_words(sites: tuple[Concept, ...]) -> re.Pattern[str]:
    """The names of body sites as words ("ankle", "ankles"), without the word before
    them a synonym may carry ("her back": "back")."""
    words = {
        re.sub(r"^(?:her|his|my|their|your|the)\s+", "", n.lower())
        for c in sites
        for n in (c.name, *c.synonyms)
    }
    alternatives = "|".join(sorted(map(re.escape, words), key=len, reverse=True))
    return re.compile(rf"\b(?:{alternatives})\b", re.I)


def _has_status(item: EvidenceItem, status: str) -> bool:
    """The item's status (current/past medications, a folded condition's), else (not for
    conditions and allergies: folded) a cited resource's own FHIR status."""
    if (item.status or "").lower() == status:
        return True
    if item.kind in ("condition", "allergy"):
        return False
    return any((p.status or "").lower() == status for p in item.points)


def _within(item: EvidenceItem, d_from: dt.date | None, d_to: dt.date | None) -> bool:
    days = [p.day for p in item.points if p.day] or ([item.date] if item.date else [])
    for d in days:
        try:
            day = dt.date.fromisoformat(str(d)[:10])
        except ValueError:
            continue
        if (d_from is None or day >= d_from) and (d_to is None or day <= d_to):
            return True
    return False


def _active_through(item: EvidenceItem, d_from: dt.date | None, d_to: dt.date | None) -> bool:
    """A medication whose every order predates the window and that is still current: it
    was being taken in the window (by the record), though nothing is dated in it."""
    if d_from is None or item.kind != "medication" or not holds_now(item):
        return False  # (a window with no start has nothing to predate: "up to then")
    days = sorted(str(p.day)[:10] for p in item.points if p.day)
    return (
        bool(days)
        and days[-1] < d_from.isoformat()
        and (d_to is None or days[0] <= d_to.isoformat())
    )


_PLURAL = {
    "Encounter": "encounters",
    "Procedure": "procedures",
    "Immunization": "immunizations",
    "Condition": "conditions",
    "MedicationRequest": "medication orders",
    "AllergyIntolerance": "allergies",
    "Observation": "observations",
    "CarePlan": "care plans",
    "CareTeam": "care teams",
    "Goal": "goals",
    "Device": "devices",
    "DocumentReference": "notes",
}


#: the types that record the same thing in other ways: a medication given in hospital is
#: a MedicationAdministration, one the patient reports a MedicationStatement, with no
#: MedicationRequest ("what was he on for the clot?": the enoxaparin he was given)
_KIN = {
    "MedicationRequest": ("MedicationStatement", "MedicationAdministration", "MedicationDispense"),
}
_DRUGS = frozenset({"drug", "drug_class"})
#: what a drug is found in by the words of its name: its orders and doses, an allergy to
#: it (not a problem or a finding whose name says the word: "Opioid abuse")
_DRUG_ENTRIES = frozenset({"medication", "allergy"})
#: what a current list is, said with its count ("Current medications: 8 in all")
_CURRENT_LIST = {
    "MedicationRequest": "current medications",
    "Condition": "active conditions",
    "AllergyIntolerance": "active allergies",
}


async def search_record(ctx: AgentContext, args: SearchRecordArgs) -> ToolResult:
    ev = await ensure_evidence(ctx)
    rtype = args.resource_type or ""
    name = (args.name or "").lower()
    code = coding_arg(args.code)
    status = (args.status or "").lower()
    d_from, d_to = parse_date(args.date_from, "date_from"), parse_date(args.date_to, "date_to")
    items: list[EvidenceItem] = list(ev.items)
    kin: list[str] = []
    if rtype:
        if rtype == "Patient":
            raise ToolCallError("use record_summary with section=patient for demographics")
        if rtype not in SEARCHABLE_TYPES:
            raise ToolCallError(
                f"unknown resource_type {rtype!r}; one of {', '.join(sorted(SEARCHABLE_TYPES))}"
            )
        kin = [rtype, *_kin_held(items, rtype)]
        if rtype == "Immunization" and name and "Procedure" in _held(items):
            kin.append("Procedure")  # a vaccination recorded as a procedure ("Vaccination
            # for diphtheria, pertussis, and tetanus"), found by the vaccine's name
        refs: set[str] = set()
        for t in kin:
            found: list[dict[str, Any]] | None = None
            for params in _param_sets(ctx, t, code, status, d_from, d_to):
                try:
                    found = await ctx.source.search(t, params)
                    break
                except UnsupportedSearch:
                    continue
            if found is None:  # the source cannot search this type: the evidence has it all
                refs |= {r for i in items for r in i.references if r.startswith(f"{t}/")}
            else:
                refs |= {
                    f"{r.get('resourceType')}/{r.get('id')}"
                    for r in found
                    if r.get("resourceType") == t and ctx.patient_id in patient_ids_of(r)
                }
        items = [i for i in items if refs.intersection(i.references)]
    related: list[tuple[Concept, EvidenceItem]] = []
    related_why: dict[str, str] = {}  # a drug related by its class says so
    term = ctx.terminology or default_terminology()
    wanted = named_concepts(term, args.name or "") if name else []
    if name:
        pool = items
        items = [i for i in items if _named(i, name, wanted, term)]
        if not items:
            related = _related(pool, wanted, term) or _broader(pool, wanted, term)
            if not related:
                related, related_why = _treated_unlisted(ctx, ev.items, wanted)
    if code:
        items = [i for i in items if _coded(i, code)]
    if status:
        items = [i for i in items if _has_status(i, status)]
    if args.site:  # "has he had surgery on his knee?": the surgeries that name the knee
        sites = [c for m in term.mentions(args.site) for c in m.concepts if c.kind == "body_site"]
        site = (
            _site_words(tuple(sites)) if sites else re.compile(rf"\b{re.escape(args.site)}\b", re.I)
        )
        items = [i for i in items if _at_site(i, site)]
        if name and not items and not related and sites:
            # "spinal cord injury?", none by that name: what the record holds of that
            # part of the body ("Chronic paralysis due to lesion of spinal cord")
            related = [(sites[0], i) for i in pool if _at_site(i, site)]
    why: dict[str, str] = {}
    unlinked: list[EvidenceItem] = []
    given_before: list[EvidenceItem] = []
    if args.given_for:  # "what is she taking for her blood pressure?"
        pool = items
        items, why = _given_for(ctx, items, args.given_for, suspected=args.suspected)
        if args.treatment:  # "how was the fracture treated?": not the X-ray done for it
            items = [i for i in items if not _examines(term, i)]
        if rtype == "Encounter" and name and not items:
            # "any ER visits for his arm?", none with that reason: the visits of that
            # setting that record no reason (a visit often records none)
            unlinked = [i for i in pool if not i.reasons]
        named = [w for w in wanted if w.kind in _DRUGS]
        if not items and named and not related:
            # "cad - on a beta blocker?", none given for it: the drugs of that name on
            # record for another reason that hold now, or were ordered since it began
            # (the metoprolol given for heart failure; not a course for a sore throat
            # decades before the pneumonia asked of)
            began = _onset(ev, named_concepts(term, args.given_for), term)
            related = [
                (named[0], i)
                for i in pool
                if i.kind == "medication"
                and ((holds_now(i) and "stale" not in i.flags) or last_day(i) >= began)
            ]
        if status and not items and rtype == "MedicationRequest":
            # "is she on anything for her cholesterol?", nothing current: what was given
            # for it before, after that search's "nothing found"
            meds = [i for i in ev.items if i.kind == "medication"]
            given_before, why = _given_for(ctx, meds, args.given_for)
    # a drug asked of as taken in a period ("courses of antibiotics in the last 5 years"):
    # its orders and doses, never the allergy to it (the record saying she should not be)
    taken_in = bool(d_from or d_to) and not rtype and any(w.kind in _DRUGS for w in wanted)
    if taken_in:
        items = [i for i in items if i.kind != "allergy"]
    spanning: list[EvidenceItem] = []
    if d_from or d_to:
        spanning = [i for i in items if _active_through(i, d_from, d_to)]
        items = [i for i in items if _within(i, d_from, d_to)]
        if args.begun:  # "what was he started on after the MI?": those first ordered then,
            # not renewals of what was begun before (none begun: "nothing found", then
            # what ran through it)
            began_on = {
                i.handle: min((str(p.day) for p in i.points if p.day), default="") for i in items
            }
            begun = [i for i in items if d_from is None or began_on[i.handle] >= d_from.isoformat()]
            spanning = [] if begun else spanning
            items = begun
    scope = SearchScope(
        resource_types=tuple(kin) if rtype else ("any",),  # "any": the whole record
        codes=(code,) if code else (),
        name=args.name or None,
        status=status or None,
        date_from=d_from.isoformat() if d_from else None,
        date_to=d_to.isoformat() if d_to else None,
        given_for=args.given_for or None,
        site=args.site or None,
    )
    what = (
        args.name
        or (code.short() if code else "")
        or ("medications" if len(kin) > 1 and rtype == "MedicationRequest" else None)
        or _PLURAL.get(rtype, "matching entries")
    )
    if args.site:
        what = f"{what} of the {args.site.lower()}"
    if status == "past" and rtype == "MedicationRequest" and not (args.name or code):
        what = f"past {what}"  # "what meds were stopped last year?": none that ended
    if args.given_for:
        what = (
            f"procedures done for {args.given_for}"
            if rtype == "Procedure"
            else f"{_plural((args.name or 'visit').lower())} for {args.given_for}"
            if rtype == "Encounter"
            else f"{'current ' if status == 'active' else ''}medications given for {args.given_for}"
        )
    if given_before:  # none current: that "nothing found", then what was given before
        before = [
            (i, f"{statement(i).rstrip('.')}{why.get(i.handle, '')}.")
            for i in given_before[: ctx.settings.max_lines]
        ]
        return _found_instead(ctx, what, scope, "not current", before)
    if (d_from or d_to) and (items or spanning):
        one_day = d_from is not None and d_from == d_to  # "at the time", of one day
        # none written in the window: that search's "nothing found" first ("any new meds
        # since her last visit?": none), then what was ordered before and still holds
        if items:
            result = _windowed(ctx, items, scope)
        elif name or code or one_day:
            # (of a named thing: "yes", it was on through it; of one day, "was she on
            # anything at the time?": what held that day, whenever it was ordered)
            result = ToolResult([])
        else:
            result = bounded(ctx, [], what, scope)
        through = f"on {d_from}" if one_day else "through the period"
        for item in spanning[: ctx.settings.max_lines]:
            # "was she on metformin in 2015?": an order written before, still active
            said = (
                f"{statement(item).rstrip('.')} — active {through} (ordered before it, not stopped)"
            )
            result.lines.append(f"active through the period: {scrub(item.line, ctx.patient_id)}")
            result.add(ctx, item)
            result.statements.append((scrub(said, ctx.patient_id), [item.handle]))
        if not spanning and result.statements[0][0].startswith("In all, "):
            result.leads["count"] = list(result.statements)  # "how many visits in 2017?"
        if name or code:  # "a meningococcal vaccine in the past decade?": yes, these
            each = [(t, hs) for t, hs in result.statements if not t.startswith("In all, ")]
            if each:
                yes = [(f"Yes — {each[0][0]}", each[0][1]), *each[1:]]
                result.leads["yesno"] = result.leads["ever"] = yes
        elif result.statements:  # "was she on anything at the time?": what there was
            result.leads["yesno"] = result.leads["ever"] = list(result.statements)
        return result
    undated = [
        i
        for i in (
            _of_any_date(ev, kin, name, wanted, term, code)
            if (d_from or d_to) and not args.given_for
            else []
        )
        if not (taken_in and i.kind == "allergy")
        # of the status searched ("what was stopped last year?": not a current order)
        and not (status and not _has_status(i, status))
    ]
    if (d_from or d_to) and (near := _nearest(undated, d_from, d_to)) is not None:
        # "any vaccines last year?", none then: that "nothing found", and the nearest entry
        # outside the period (when the last one was), whatever is asked of the period
        return _found_instead(ctx, what, scope, "nearest outside the period", [near])
    # a current list (active problems, current medications) is given whole, up to three
    # times the usual lines: a clinician's list cut at 20 would drop problems unsaid
    whole = status == "active" and not (name or code)
    history = rtype == "Condition" and not (name or code or status or args.given_for)
    if history:  # "pmh?", "what problems has she had?": the problems, those active first,
        # then the others, the most recent first (a social or administrative entry on the
        # problem list is left to its own question: "employment?", "social history?")
        problems = [i for i in items if not {"social", "administrative"} & set(i.flags)]
        items = [
            *(i for i in problems if i.status == "active"),
            *sorted((i for i in problems if i.status != "active"), key=last_day, reverse=True),
        ]
    limit = ctx.settings.max_lines * (3 if whole or history else 1)
    result = bounded(ctx, items, what, scope, limit, current=whole)
    if why:  # a drug taken in by its class says so ("— an antihypertensive agent")
        result.statements = [
            (f"{text}{why.get(hs[0], '')}" if len(hs) == 1 else text, hs)
            for text, hs in result.statements
        ]
    if args.given_for and any(i.kind == "medication" for i in items):
        # "any changes to her afib meds?": each drug given for it, its doses
        result.leads["dose"] = _doses(ctx, items, [], term)
    if whole and items and len(items) <= limit:  # "how many meds is he on?": code counts
        listed = what if args.given_for else _CURRENT_LIST.get(rtype or "", f"current {what}")
        said = f"{sentence_case(listed)}: {len(items)} in all"
        result.leads["count"] = [
            (scrub(said, ctx.patient_id), [i.handle for i in items]),
            *result.statements,
        ]
    if (name or code) and result.statements and items:
        shown = items[: ctx.settings.max_lines]
        if any(_answers_by_value(i) for i in shown):  # "is she a smoker?": "Never smoker";
            # a value recorded is the answer, never "yes" because an entry exists ("does
            # she drink?": an AUDIT-C score of 0 is an answer of no)
            by_value = sorted(range(len(shown)), key=lambda k: not _answers_by_value(shown[k]))
            result.leads["yesno"] = result.leads["ever"] = [
                (scrub(statement(shown[k]), ctx.patient_id), [shown[k].handle]) for k in by_value
            ]
        else:
            # a drug named without a resource type: "is she on aspirin?" is not answered
            # yes by an allergy to it, which is the record saying she should not be
            taken = not rtype and any(w.kind in ("drug", "drug_class") for w in wanted)
            not_taken = (
                _allergy_not_taken(ctx, shown, args.name or name)
                if taken and all(i.kind == "allergy" for i in shown)
                else None
            )
            if not_taken:  # "what antibiotics has she had?": none, only the allergy
                result.statements = [
                    (t[5:] if t.startswith("No — ") else t, hs) for t, hs in not_taken
                ]
            result.leads["yesno"] = not_taken or _yes_or_not_now(ctx, shown, taken=taken)
            current = _current(ctx, shown, taken=taken)
            if current:  # "what statin is she on?": those she is on, or none now
                result.leads["current"] = current
            ended = _ended(ctx, shown)
            if ended:  # "is she off metformin?", "has her sinusitis resolved?"
                result.leads["ended"] = ended
            if any(i.kind == "medication" for i in items):  # "has the dose changed?"
                result.leads["dose"] = _doses(ctx, items, wanted, term)
                # "why was the colchicine stopped?": the reason its order gives, or none
                result.leads["stop_reason"] = [
                    (scrub(_why_stopped(i), ctx.patient_id), [i.handle])
                    for i in shown
                    if i.kind == "medication"
                ]
            first = next((i for i in shown if not taken or i.kind != "allergy"), shown[0])
            result.leads["ever"] = not_taken or (  # "has she ever had X?": any entry
                [
                    (scrub(f"Yes — {statement(first)}", ctx.patient_id), [first.handle]),
                    *(
                        (scrub(statement(i), ctx.patient_id), [i.handle])
                        for i in shown
                        if i is not first
                    ),
                ]
            )
    allergies = [i for i in items[: ctx.settings.max_lines] if i.kind == "allergy"]
    if allergies and len(allergies) == len(items[: ctx.settings.max_lines]):
        # "how severe is it?", "how bad are her allergies?": each one's criticality and
        # the reactions the record gives, with their severity
        result.leads["judge"] = [
            (scrub(_severity(i), ctx.patient_id), [i.handle]) for i in allergies
        ]
    if (
        args.age_at
        and items
        and (aged := _ages_at(ctx, ev, items[: ctx.settings.max_lines], result))
    ):
        result.leads["birth"] = aged  # "how old was she when she got diabetes?"
    # "is she due for a flu shot?", or of all her vaccines ("anything due?"); of a patient
    # who has died, nothing is
    vaccines = rtype == "Immunization" or any(i.kind == "immunization" for i in items)
    # "is she due for a mammogram?", "up to date on her cancer screenings?": by her age,
    # sex and the last one done (of a patient who has died, nothing is)
    screens = (
        screenings(term, wanted)
        if name
        else screenings(term, [v])  # "up to date on her shots?": those given once, too
        if rtype == "Immunization" and (v := term.concept(VACCINE)) is not None
        else []
    )
    due = (no_care_due(ctx, ev, result) if vaccines or screens else None) or [
        *(
            vaccines_due(
                ctx,
                ev,
                items,
                result,
                wanted=wanted,
                searched=[] if items else [h for _, hs in result.statements for h in hs],
            )
            if name or code or rtype == "Immunization"
            else []
        ),
        *screenings_due(
            ctx,
            ev,
            screens,
            result,
            asked=len(screens) == 1,
            searched=[] if items else [h for _, hs in result.statements for h in hs],
        ),
    ]
    if due:  # "is she due for a flu shot?": from the last dose and the schedule
        result.leads["judge"] = due
    for item in unlinked[: ctx.settings.max_lines]:
        if d_from or d_to:
            continue
        result.lines.append(f"no reason recorded: {scrub(item.line, ctx.patient_id)}")
        result.add(ctx, item)
        said = statement(item).rstrip(".") + " (the record gives no reason for it)."
        result.statements.append((scrub(said, ctx.patient_id), [item.handle]))
    if unlinked and not items and not (d_from or d_to):  # "how many admissions for chf?",
        # none for it: the "nothing found" and the visits that give no reason, whatever
        # is asked (which of them it was, the record does not say)
        result.leads.setdefault(ANY_ASK, list(result.statements))
    for group, item in related[: ctx.settings.max_lines]:
        # "my last Tdap?": none, but a Td (tetanus, diphtheria) is what the record holds
        result.lines.append(
            f"related ({plain(group.name).lower()}): {scrub(item.line, ctx.patient_id)}"
        )
        result.add(ctx, item)
        how = (  # a vaccine's group, what a broader problem entry includes, a body part
            f"broader than {plain(group.name).lower()}"
            if item.kind == "condition" and group.kind == "condition"
            else f"of the {plain(group.name).lower()}"
            if group.kind == "body_site"
            else plain(group.name).lower()
        )
        said = f"Related on record ({how}): {statement(item)}{related_why.get(item.handle, '')}"
        result.statements.append((scrub(said, ctx.patient_id), [item.handle]))
    if related and not items and rtype == "Condition" and result.statements:
        # "does she have asthma?", no such problem but its inhalers and care plan: none on
        # the problem list, which is not "none in the record" (the search's own absence)
        none = absence(ctx, ev, scope, what)
        result.statements[0] = (scrub(none_on_the_list(none), ctx.patient_id), [none.handle])
    if related and not items and args.given_for and result.statements:
        # "cad - on a beta blocker?", none given for it but one for another reason: none
        # recorded for it, which is not none on record (the related one said next)
        none = absence(ctx, ev, scope, what)
        said = none_given_for(none, args.given_for, args.name or what)
        result.statements[0] = (scrub(said, ctx.patient_id), [none.handle])
    if related and not items:  # "any mental health issues?", none by that name: the
        # "nothing found" and what is related, whatever is asked ("my last Tdap?": a Td)
        result.leads.setdefault(ANY_ASK, list(result.statements))
    return result


def _found_instead(
    ctx: AgentContext,
    what: str,
    scope: SearchScope,
    label: str,
    instead: list[tuple[EvidenceItem, str]],
) -> ToolResult:
    """A search that found nothing, said first, then the entries the record holds in its
    place (``label``: how they stand to it, "nearest outside the period", "not current"),
    each with what is said of it: the answer to whatever is asked (:data:`ANY_ASK`)."""
    result = bounded(ctx, [], what, scope)
    for item, said in instead:
        result.lines.append(f"{label}: {scrub(item.line, ctx.patient_id)}")
        result.add(ctx, item)
        result.statements.append((scrub(said, ctx.patient_id), [item.handle]))
    result.leads[ANY_ASK] = list(result.statements)
    return result


def _ages_at(
    ctx: AgentContext, ev: EvidenceSet, items: list[EvidenceItem], result: ToolResult
) -> list[tuple[str, list[str]]]:
    """The patient's age when each entry began ("how old was she when she got diabetes?",
    "at what age did he have his appendectomy?"), from the birth date on the Patient
    resource (cited beside the entry); none without a birth date."""
    people = [i for i in ev.section("patient") if i.demographics and i.demographics.birth_date]
    if not people:
        return []
    person = people[0]
    born = fhir_date(person.demographics.birth_date if person.demographics else None)
    out: list[tuple[str, list[str]]] = []
    for item in items:
        days = [d for p in item.points if (d := fhir_date(p.day))]
        days = days or [d for d in [fhir_date(item.date)] if d]
        if born is None or not days or min(days) < born:
            continue
        first = min(days)
        when = "since" if item.kind == "condition" else "first" if len(days) > 1 else "on"
        said = (
            f"{plain(item.name)}: {when} {first.isoformat()}, at age {age(born, first)} "
            f"(born on {born.isoformat()})."
        )
        out.append((scrub(said, ctx.patient_id), [item.handle, person.handle]))
    if out:
        result.add(ctx, person)
    return out


def _severity(item: EvidenceItem) -> str:
    """How serious an allergy is, as the record says it: its criticality and its reactions
    (each with its severity), or that it gives none."""
    criticality = (
        f"criticality {item.criticality}" if item.criticality else "no criticality recorded"
    )
    reactions = (
        f"reactions: {'; '.join(item.reactions)}" if item.reactions else "no reaction recorded"
    )
    return (
        f"{plain(item.name)} ({item.status or 'status not recorded'}): {criticality}; {reactions}."
    )


def _why_stopped(item: EvidenceItem) -> str:
    """Why an order was stopped, as its ``statusReason`` says it, or that the record gives
    no reason (never the reason it was ordered for, which its statement says); a current
    order was not stopped."""
    said = statement(item).rstrip(".")
    if holds_now(item):
        return f"{said} — not stopped: current on record."
    if item.stop_reasons:
        return f"{said} — stopped for {'; '.join(item.stop_reasons)}."
    return f"{said} — the record gives no reason for stopping it."


def _plural(name: str) -> str:
    return name if name.endswith("s") else f"{name}s"


def _given_for(
    ctx: AgentContext, items: list[EvidenceItem], what: str, *, suspected: bool = False
) -> tuple[list[EvidenceItem], dict[str, str]]:
    """The medications given (or procedures done) for what is named: its own reason names it (or a
    kind of it: "Essential hypertension" for hypertension; or what it is monitored by:
    diabetes for "sugar"), or — when the order records no reason — the drug's class is
    given for it (:func:`tools.terminology.treating_class`: losartan, an
    antihypertensive; verapamil ordered for atrial fibrillation is not counted as a blood
    pressure drug). Those taken in by their class carry the class's name in their
    statement. ``suspected``: also those whose reason is a suspicion of it (a workup)."""
    term = ctx.terminology or default_terminology()
    wanted = [_allergy_to(term, c) for m in term.mentions(what) for c in m.concepts]
    sites = [w for w in wanted if w.kind == "body_site"]
    kept: list[EvidenceItem] = []
    why: dict[str, str] = {}
    for item in items:
        if item.kind == "care_plan" and wanted and item.care is not None:
            # "how was the burn treated?": the plan of care that addresses it
            plans_for = addressed(term, item)
            if any(term.implies(r, w) or concerns(term, r, w) for r in plans_for for w in wanted):
                kept.append(item)
            continue
        if item.kind not in ("medication", "procedure", "encounter") or not wanted:
            continue
        if sites:  # "what does she take for her hip?": for what its reason names of the hip
            if any(_site_words(tuple(sites)).search(r) for r in item.reasons):
                kept.append(item)
            continue
        reasons = _reason_concepts(ctx, term, item)
        if any(term.implies(r, w) or concerns(term, r, w) for r in reasons for w in wanted):
            kept.append(item)
            continue
        if suspected and any(  # (a suspicion of lung cancer, found to be small cell)
            term.implies(r, w) or term.implies(w, r)
            for text in item.reasons
            for r in _suspected(term, text)
            for w in wanted
        ):  # done or given for a suspicion of it ("Suspected lung cancer": the chest X-ray,
            # the CT and the biopsy that found the cancer), said with that reason
            kept.append(item)
            continue
        symptoms = [w for w in wanted if w.kind == "finding"]
        if reasons and item.kind == "medication" and symptoms:
            # a symptom is relieved whatever it is a symptom of ("what's she taking for
            # pain?": the naproxen ordered for her hip arthritis, an NSAID); a disease is
            # not (verapamil ordered for atrial fibrillation is no blood pressure drug)
            drugs = item_concepts(item, term)
            k = next((k for w in symptoms if (k := treating_class(term, drugs, w))), None)
            if k is not None:
                kept.append(item)
                why[item.handle] = f" — {plain(k.name)[:1].lower()}{plain(k.name)[1:]}"
                continue
        if reasons or item.kind != "medication":
            continue  # it says what it is for, and it is something else (or says nothing)
        visit = ordered_at(ctx, item)
        if visit is not None and any(
            term.implies(r, w) or concerns(term, r, w)
            for r in _reason_concepts(ctx, term, visit)
            for w in wanted
        ):  # no reason of its own, ordered at a visit for it ("what antibiotic for the
            # ear infection?": the cefuroxime ordered at the visit for otitis media)
            kept.append(item)
            reason = "; ".join(plain(r) for r in visit.reasons) or "it"
            why[item.handle] = f" — ordered at the visit for {reason} ({last_day(item)[:10]})"
            continue
        named = _diagnosed_there(ctx, term, item, wanted)
        if named is not None:  # no reason of its own, ordered at a visit that diagnosed it
            # and nothing else ("how was the burn treated?": the acetaminophen ordered at
            # the ER visit where the burn was recorded; not the iron ordered at a check-up
            # that found anemia and prediabetes, for the prediabetes)
            kept.append(item)
            why[item.handle] = (
                f" — ordered at the visit where {plain(named.name)} was diagnosed"
                f" ({(named.date or '')[:10]})"
            )
            continue
        drugs = item_concepts(item, term)
        k = next((k for w in wanted if (k := treating_class(term, drugs, w))), None)
        if k is not None:
            kept.append(item)
            why[item.handle] = f" — {plain(k.name)[:1].lower()}{plain(k.name)[1:]}"
    return kept, why


def _suspected_in(term: Terminology, text: str) -> tuple[Concept, ...]:
    """What a reason's words name as suspected, not found ("Suspected lung cancer",
    "possible pneumonia", "rule out MI"): the concepts named after an uncertainty trigger
    (:func:`tools.terminology.assertion_of`), with the trigger's words left out of the name
    (the whole "Suspected lung cancer" names a situation of its own, which no cancer is)."""
    words = list(re.finditer(r"\S+", text))
    for k in range(1, min(4, len(words))):
        rest = " " * words[k].start() + text[words[k].start() :]
        found = tuple(
            c
            for m in term.mentions(rest)
            if assertion_of(text, m.start, m.end).status == "uncertain"
            for c in m.concepts
        )
        if found:
            return found
    return ()


def _suspected(term: Terminology, text: str) -> tuple[Concept, ...]:
    return _suspected_in(term, plain(text))


#: the kinds of procedure that examine or test rather than treat
_EXAMINING = ("imaging", "screening", "assessment_procedure", "physical_exam", "lab_procedure",
              "biopsy", "endoscopy", "respiratory_function_measurement", "history_taking")  # fmt: skip


#: the drugs given to examine, not to treat
_EXAMINING_DRUGS = ("mydriatic", "local_anesthetic")


def _examines(term: Terminology, item: EvidenceItem) -> bool:
    """A procedure that examines, images, screens or tests (an eye exam done for a
    diabetes, the MRI that staged a cancer), not one that treats."""
    if item.kind != "procedure":
        return False
    groups = [g for g in map(term.concept, _EXAMINING) if g is not None]
    return any(term.implies(c, g) for c in item_concepts(item, term) for g in groups)


def _diagnosed_there(
    ctx: AgentContext, term: Terminology, item: EvidenceItem, wanted: list[Concept]
) -> EvidenceItem | None:
    """The problem of those wanted that a visit the order was written at diagnosed, when
    that visit diagnosed nothing else (each visit of a folded order on its own: ibuprofen
    ordered for a whiplash in 2016 and at the ankle sprain's ER visit in 2019), or
    ``None``."""
    drugs = item_concepts(item, term)
    if any(term.implies(d, g) for d in drugs for g in map(term.concept, _EXAMINING_DRUGS) if g):
        return None  # drops that dilate the pupil for an eye exam treat nothing
    for visit in order_visits(ctx, item):
        found = diagnosed_at(ctx, [visit])
        of_it = [
            f
            for f in found
            if any(
                term.implies(r, w) or concerns(term, r, w)
                for r in item_concepts(f, term)
                for w in wanted
            )
        ]
        if of_it and len(of_it) == len(found):
            return of_it[0]
    return None


def _allergy_to(term: Terminology, concept: Concept) -> Concept:
    """What is given for an allergen ("her food allergies": what is she prescribed for
    them?) is given for the allergy to it: the nearest condition the allergen is filed
    under (allergic conditions); any other concept is itself."""
    if concept.kind != "substance":
        return concept
    todo, seen = list(concept.parents), set()
    while todo:
        parent = term.concept(todo.pop(0))
        if parent is None or parent.id in seen:
            continue
        if parent.kind == "condition":
            return parent
        seen.add(parent.id)
        todo.extend(parent.parents)
    return concept


def _reason_concepts(ctx: AgentContext, term: Terminology, item: EvidenceItem) -> list[Concept]:
    """What an order, a procedure or a visit was for: the concepts its reasons' words name
    and those of the entries its ``reasonReference`` points to, by their codes (Synthea's
    "Diabetes" is coded as type 2 diabetes, which "type 1 diabetes?" is not), the most
    specific kept."""
    found = [c for r in item.reasons for m in term.mentions(plain(r)) for c in m.concepts]
    ev = ctx.cache.evidence
    if ev is not None and item.reason_refs:
        by_ref = ctx.cache.by_reference()
        for ref in item.reason_refs:
            handle = by_ref.get(ref)
            if handle and handle != item.handle:
                found += item_concepts(ev.get(handle), term)
    return [c for c in found if not any(o is not c and term.implies(o, c) for o in found)]


def _onset(ev: EvidenceSet, problems: list[Concept], term: Terminology) -> str:
    """The first day the record holds any of those problems ("9999" when it holds
    none: nothing is ordered since)."""
    days = [p.day for item in items_of(ev, problems, term) for p in item.points if p.day]
    return min(days, default="9999")


def _wanted_drug(wanted: list[Concept]) -> bool:
    """Whether a drug itself is asked of (not a class of them, nor what they are for)."""
    return any(c.kind == "drug" for c in wanted)


def _doses(
    ctx: AgentContext, items: list[EvidenceItem], wanted: list[Concept], term: Terminology
) -> list[tuple[str, list[str]]]:
    """Whether a drug's dose changed ("has the warfarin dose changed?", "did they increase
    her simvastatin?"), from its orders: each strength or form is an entry of its own
    (Simvastatin 10 MG, then 20 MG), each with the dosages its orders give. More than one
    strength, form or dosage is a change, said with each and its dates; one is none. A
    combination product counts only when the drug is ordered in nothing else."""
    meds = [i for i in items if i.kind == "medication"]
    named = {c.id for c in wanted}
    drugs_of = {
        i.handle: frozenset(c.id for c in item_concepts(i, term) if c.kind == "drug") for i in meds
    }
    alone = [
        i
        for i in meds
        if (drugs := drugs_of[i.handle])
        and drugs <= named | {a for d in drugs for a in term.ancestors(d) if a in named}
    ]
    products = sorted(alone or meds, key=lambda i: (i.points[0].day or "") if i.points else "")
    by_drug: dict[frozenset[str], list[EvidenceItem]] = {}
    for i in products:  # (a class's drugs each on its own: "have her bp meds changed?")
        by_drug.setdefault(drugs_of[i.handle] or frozenset({i.handle}), []).append(i)
    if len(by_drug) > 1 and not _wanted_drug(wanted):
        return [said for group in by_drug.values() for said in _doses(ctx, group, [], term)]

    def said(i: EvidenceItem) -> str:
        days = [p.day for p in i.points if p.day]
        when = (
            f"ordered {days[0]}" if len(set(days)) == 1 else f"ordered {days[0]} to {days[-1]}"
        ) if days else "order date not recorded"  # fmt: skip
        n = f", {len(i.points)} orders" if len(i.points) > 1 else ""
        dosage = f"; dosage: {' | '.join(d.text for d in i.dosages)}" if i.dosages else ""
        return f"{plain(i.name)}: {when}{n} ({i.status or 'status not recorded'}){dosage}"

    if len(products) > 1 or any(len(i.dosages) > 1 for i in products):
        head = f"Yes — {len(products)} strengths or forms ordered" if len(products) > 1 else (
            "Yes — its orders give more than one dosage"
        )  # fmt: skip
        out = [(scrub(head, ctx.patient_id), [i.handle for i in products])]
        out.extend((scrub(said(i), ctx.patient_id), [i.handle]) for i in products)
        return out
    only = products[0]
    head = (
        "No change of dose on record — one order"
        if len(only.points) <= 1
        else f"No change of dose on record — every order ({len(only.points)}) the same"
    )
    return [(scrub(f"{head}: {said(only)}", ctx.patient_id), [only.handle])]


def _answers_by_value(item: EvidenceItem) -> bool:
    """An observation that records an answer ("Tobacco smoking status: Never smoker"): its
    value says yes or no, not that the entry exists."""
    return item.kind == "observation" and any(
        p.value is not None or p.value_text for p in item.points
    )


def _verdict_first(
    ctx: AgentContext, verdict: str, first: EvidenceItem, others: list[EvidenceItem]
) -> list[tuple[str, list[str]]]:
    """``first`` said with the verdict before it ("Yes — …", "None current — …"), then
    ``others`` as the record states them."""
    out = [(scrub(f"{verdict} — {statement(first)}", ctx.patient_id), [first.handle])]
    return out + [(scrub(statement(i), ctx.patient_id), [i.handle]) for i in others]


def _yes_or_not_now(
    ctx: AgentContext, items: list[EvidenceItem], *, taken: bool = False
) -> list[tuple[str, list[str]]]:
    """A yes/no question about a named thing, answered by code from what the search
    found: "Yes" when an entry holds now (an active problem, a current order, an active
    allergy) or happened (a procedure, a dose, a result); "No, not currently" when every
    entry is resolved or stopped. Each entry follows as the record states it.
    ``taken``: a drug asked of ("is she on aspirin?"): an allergy to it is no "yes"."""

    def holds(i: EvidenceItem) -> bool:
        if taken and i.kind == "allergy":
            return False
        if i.kind in ("condition", "medication", "allergy"):
            return holds_now(i)
        return True

    yes = [i for i in items if holds(i)]
    first = (yes or [i for i in items if not taken or i.kind != "allergy"] or items)[0]
    verdict = "Yes" if yes else "No, not at death" if at_death(first) else "No, not currently"
    return _verdict_first(ctx, verdict, first, [i for i in items if i is not first])


def _current(
    ctx: AgentContext, items: list[EvidenceItem], *, taken: bool = False
) -> list[tuple[str, list[str]]]:
    """A named thing asked of as it stands ("what statin is she on?", "which inhaler does
    he use now?"): the entries that hold now (an active problem, a current order), else
    "None current —" and the entries as the record states them (a past order is no answer
    of what she is on, said without its verdict). ``taken``: a drug asked of, so an allergy
    to it is not among what she is on. Empty when no problem or order was found."""
    kept = [i for i in items if i.kind in ("condition", "medication")]
    if not kept:
        return []
    now = [i for i in kept if holds_now(i)]
    if now:
        rest = [i for i in items if i not in now and not (taken and i.kind == "allergy")]
        return [(scrub(statement(i), ctx.patient_id), [i.handle]) for i in [*now, *rest]]
    verdict = "None current at death" if at_death(kept[0]) else "None current"
    return _verdict_first(ctx, verdict, kept[0], kept[1:])


def _allergy_not_taken(
    ctx: AgentContext, items: list[EvidenceItem], what: str
) -> list[tuple[str, list[str]]]:
    """A drug asked of that the record holds only as an allergy ("is she on aspirin?"):
    no order or dose of it, and the allergy, said first."""
    first, *rest = items
    out = [
        (
            scrub(
                f"No — no order or dose of {what} is recorded; the record lists an allergy: "
                f"{statement(first)}",
                ctx.patient_id,
            ),
            [first.handle],
        )
    ]
    return out + [(scrub(statement(i), ctx.patient_id), [i.handle]) for i in rest]


def _ended(ctx: AgentContext, items: list[EvidenceItem]) -> list[tuple[str, list[str]]]:
    """Whether a named problem, medication or allergy has ended, by its entries'
    statuses: "Yes" when none holds now (every episode resolved, every order stopped or
    completed), the latest first; "No" when one still does, that one first."""
    kept = [i for i in items if i.kind in ("condition", "medication", "allergy")]
    if not kept:
        return []
    now = [i for i in kept if holds_now(i)]
    latest = sorted(kept, key=last_day)
    first = now[0] if now else latest[-1]
    return _verdict_first(ctx, "No" if now else "Yes", first, [i for i in kept if i is not first])


def _related(
    pool: list[EvidenceItem], wanted: list[Concept], term: Terminology
) -> list[tuple[Concept, EvidenceItem]]:
    """For a vaccine the record lacks, the entries of vaccines that share a component
    with it (a combination vaccine is a child of each component's group: Tdap of the
    tetanus, diphtheria and pertussis vaccines), most recent first."""
    out: list[tuple[Concept, EvidenceItem]] = []
    for w in wanted:
        if w.kind != "vaccine":
            continue
        for gid in w.parents:
            group = term.concept(gid)
            if group is None or not group.parents:  # the root ("vaccine"): no relation
                continue
            seen = {id(i) for _g, i in out}
            out.extend(
                (group, item)
                for item in pool
                if item.kind in ("immunization", "procedure")
                and id(item) not in seen
                and _named(item, group.name.lower(), [group], term)
            )
    return sorted(out, key=lambda gi: last_day(gi[1]), reverse=True)


def _broader(
    pool: list[EvidenceItem], wanted: list[Concept], term: Terminology
) -> list[tuple[Concept, EvidenceItem]]:
    """For a problem the record lacks, its entries of something broader that includes it
    (a strict ancestor: "prostate cancer?", no such entry, but a "Neoplasm of prostate"),
    each labelled by what is asked, most recent first: the record may hold the thing
    coded less precisely."""
    out: list[tuple[Concept, EvidenceItem]] = []
    for w in wanted:
        if w.kind != "condition":
            continue
        for item in pool:
            if item.kind != "condition" or any(i is item for _w, i in out):
                continue
            concepts = item_concepts(item, term)
            if any(c.id != w.id and term.implies(w, c) and c.codes for c in concepts):
                out.append((w, item))
    return sorted(out, key=lambda wi: last_day(wi[1]), reverse=True)


def _treated_unlisted(
    ctx: AgentContext, pool: Sequence[EvidenceItem], wanted: list[Concept]
) -> tuple[list[tuple[Concept, EvidenceItem]], dict[str, str]]:
    """For a problem the problem list lacks, what the record holds for it all the same: the
    current medications given for it (by their reason or their class) and the active care
    plans that address it ("do I have asthma?", no Asthma entry, but an albuterol inhaler
    and an asthma self-management plan)."""
    term = ctx.terminology or default_terminology()
    out: list[tuple[Concept, EvidenceItem]] = []
    why: dict[str, str] = {}
    current = [i for i in pool if i.kind == "medication" and i.status == "current"]
    for w in wanted:
        if w.kind != "condition":
            continue
        treated, by_class = _given_for(ctx, current, w.name)
        why.update(by_class)
        plans = [
            i
            for i in pool
            if i.kind == "care_plan"
            and (i.status or "") == "active"
            and any(term.implies(c, w) for c in item_concepts(i, term))
        ]
        out.extend((w, i) for i in [*treated, *plans] if all(i is not o for _c, o in out))
    return out, why


def _at_site(item: EvidenceItem, site: re.Pattern[str]) -> bool:
    """Whether an entry's name, a coding's display or a reason names the part of the body
    (a suture done for a laceration of the hand is of the hand)."""
    return any(
        site.search(t) for t in (item.name, *(c.display or "" for c in item.codings), *item.reasons)
    )


def _coded(item: EvidenceItem, code: Coding) -> bool:
    return any(c.code == code.code and code.system in (None, c.system) for c in item.codings)


def _kin_held(items: Sequence[EvidenceItem], rtype: str) -> list[str]:
    """The types of :data:`_KIN` that record what ``rtype`` does and that the record holds."""
    kin = _KIN.get(rtype, ())
    if not kin:
        return []
    held = _held(items)
    return [t for t in kin if t in held]


def _held(items: Sequence[EvidenceItem]) -> set[str]:
    """The resource types the items rest on."""
    return {r.split("/", 1)[0] for i in items for r in i.references}


def _of_any_date(
    ev: EvidenceSet,
    kin: Sequence[str],
    name: str,
    wanted: list[Concept],
    term: Terminology,
    code: Coding | None,
) -> list[EvidenceItem]:
    """The entries a windowed search would find on any date (the source's search was of
    the window's): of the types searched (none: any), named (``name`` lower-cased, read as
    ``wanted``) or coded so, by the same tests as the search itself."""
    return [
        i
        for i in ev.items
        if i.kind != "absence"
        and (not kin or any(r.split("/", 1)[0] in kin for r in i.references))
        and (not name or _named(i, name, wanted, term))
        and (code is None or _coded(i, code))
    ]


def _nearest(
    items: list[EvidenceItem], d_from: dt.date | None, d_to: dt.date | None
) -> tuple[EvidenceItem, str] | None:
    """Of entries none of which is dated in a period: the latest dated before it (and the
    same entry's first after it, when there is one), else the first after it, said
    ("Influenza …: 2021-03-28, the latest before that period")."""
    dated = [(p.day[:10], i) for i in items for p in i.points if p.day]
    before = [d for d in dated if d_from and d[0] < d_from.isoformat()]
    after = [d for d in dated if d_to and d[0] > d_to.isoformat()]
    if before:
        day, item = max(before, key=lambda d: d[0])
        which = "the latest before that period"
        later = [d for d, i in after if i is item]
        if later:  # "flu vax 2024?": none in 2024; 2022-11-16 before, 2025-01-15 after
            which += f"; {min(later)}, the first after it"
    elif after:
        day, item = min(after, key=lambda d: d[0])
        which = "the first after that period"
    else:
        return None
    return item, f"{plain(item.name)}: {day}, {which}"


def _windowed(ctx: AgentContext, items: list[EvidenceItem], scope: SearchScope) -> ToolResult:
    """What a window holds: each item with only its entries in the window (a visit type
    seen 20 times over the years shows the 2 of 2017), and the count in all: code counts,
    the model does not."""
    lo, hi = scope.date_from, scope.date_to
    span = f"up to {hi}" if hi and not lo else f"from {lo} to {hi or 'the last'}"
    shown = [(i, in_window(i, lo, hi)) for i in items[: ctx.settings.max_lines]]
    result = ToolResult([])
    total = 0
    for item, w in shown:
        n = len(w.points)
        total += n
        result.lines.append(scrub(w.line, ctx.patient_id))
        result.add(ctx, item, (), [p.source.reference for p in w.points])
        if item.kind == "procedure" and n == 1 and len(item.points) == 1:
            said = statement(item)  # one procedure, with what it was done for
        elif item.kind in ("encounter", "immunization", "procedure", "report") and n:
            days = [p.day for p in w.points if p.day]
            more = f", and {len(days) - 6} more" if len(days) > 6 else ""
            said = f"{plain(item.name)}: {n} {span} ({', '.join(days[-6:][::-1])}{more})"
        else:
            said = statement(w)
        result.statements.append((scrub(said, ctx.patient_id), [item.handle]))
    # "last visit in 2020?", "his last visit before he died" (up to the death)
    said = "" if lo == hi else span if lo or not hi else f"up to {hi}"
    result.leads.update(window_ends(ctx, shown, said))
    if lo and lo == hi and shown and all(i.kind in ("procedure", "encounter") for i, _w in shown):
        # "what was it for?" of the visit a turn answered (its day): each entry of that day
        # with the reason the record links, or that it gives none
        result.leads["reason"] = reason_lead(ctx, result, shown)
    noun = _PLURAL.get(scope.resource_types[0], "entries")
    if total == 1:  # "1 encounter", "1 medication order", "1 entry"
        noun = "allergy" if noun == "allergies" else "entry" if noun == "entries" else noun[:-1]
    handles = [i.handle for i, _w in shown]
    if len(items) > len(shown):
        result.lines.append(f"({len(items) - len(shown)} more not shown; narrow the search)")
    else:
        result.lines.append(f"In all: {total} {noun} {span} [{', '.join(handles)}]")
        result.statements.insert(0, (f"In all, {total} {noun} {span}", handles))
    return result


TOOL = Tool(
    "search_record",
    SearchRecordArgs,
    search_record,
    "find record entries by type, name, code (e.g. LOINC 4548-4), status and dates",
)

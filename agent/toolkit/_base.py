"""What a tool is (:class:`Tool`), what it returns (:class:`ToolResult`), and the
per-invocation record cache every tool reads (:func:`ensure_evidence`)."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from tools._record import fmt_num, observation_category, ref_of, view_of
from tools.brief import plain, sentence_case
from tools.evidence import (
    ENCOUNTER_CLASSES,
    Coding,
    EvidenceItem,
    EvidenceSet,
    SearchScope,
    build_evidence,
    current_text,
)
from tools.terminology import Concept, Terminology
from tools.trends import SeriesStats
from tools.units import display_unit

from ..context import AgentContext
from ..errors import ToolCallError
from ..guard import scrub, scrub_item
from ..session import seen_entry

__all__ = [
    "ANY_ASK",
    "HOLDING",
    "Tool",
    "ToolArgs",
    "ToolResult",
    "absence",
    "addressed",
    "at_death",
    "bounded",
    "coding_arg",
    "diagnosed_at",
    "ensure_evidence",
    "holds_now",
    "last_day",
    "named_concepts",
    "new_handle",
    "no_care_due",
    "none_on_the_list",
    "order_visits",
    "parse_date",
    "reason_lead",
    "statement",
    "window_ends",
]


class ToolArgs(BaseModel):
    """Base of every tool's argument model: strings, unknown keys refused."""

    model_config = {"extra": "forbid", "str_strip_whitespace": True}


#: the key of :attr:`ToolResult.leads` whose statements answer any statistic asked
ANY_ASK = "*"


@dataclass
class ToolResult:
    """What a tool returns: lines for the model, the evidence they show (state entries:
    :func:`agent.session.seen_entry`), and one usage entry per model call the tool made
    (``view_image``)."""

    lines: list[str]
    seen: dict[str, dict[str, Any]] = field(default_factory=dict)
    usage: list[dict[str, Any]] = field(default_factory=list)
    statements: list[tuple[str, list[str]]] = field(default_factory=list)
    """What the result says as plain statements with the handles each rests on (an
    item's line, a trend's summary): shown as the record's own words when no model
    sentence holds."""
    leads: dict[str, list[tuple[str, list[str]]]] = field(default_factory=dict)
    """The same facts said with one statistic first, for a question that asks for it
    (``count``: "HbA1c: 8 results since 2016-12-14, the latest …"; ``mean``, ``change``,
    ``range``): used in place of ``statements`` then (:attr:`agent.understand.Focus.asks`).
    Under :data:`ANY_ASK`: what answers whatever is asked (a period with nothing in it, a
    computed score)."""

    def add(
        self,
        ctx: AgentContext,
        item: EvidenceItem,
        stats: Iterable[SeriesStats] = (),
        focus: Iterable[str] = (),
    ) -> None:
        """Show ``item`` (scrubbed of other patients' ids) with what the tool computed."""
        self.seen[item.handle] = seen_entry(scrub_item(item, ctx.patient_id), stats, focus)


Runner = Callable[[AgentContext, Any], Awaitable[ToolResult]]


@dataclass(frozen=True)
class Tool:
    """A model-facing tool: its name, typed arguments (whose field descriptions make the
    prompt's tool list and the JSON schema), the coroutine that runs it, and when it is
    offered (``needs``: ``images`` for a multimodal model, ``writes`` when the deployment
    allows writes)."""

    name: str
    args: type[ToolArgs]
    run: Runner
    description: str
    needs: Literal["images", "writes"] | None = None

    def parse(self, raw: dict[str, str]) -> ToolArgs:
        """Validate raw string arguments (raises :class:`ToolCallError` with the reasons)."""
        try:
            return self.args.model_validate(raw)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'args'}: {e['msg']}" for e in exc.errors()
            )
            raise ToolCallError(f"bad arguments for {self.name}: {problems}") from None

    @property
    def arg_names(self) -> tuple[str, ...]:
        return tuple(self.args.model_fields)

    def prompt_line(self) -> str:
        """``- lab_trend: name (…), code (…), date_from (YYYY-MM-DD), …: what it does``."""
        parts = []
        for name, f in self.args.model_fields.items():
            extra = f.json_schema_extra if isinstance(f.json_schema_extra, dict) else {}
            if extra.get("prompt") is False:
                continue  # an argument code sets, not the model
            parts.append(f"{name} ({f.description})" if f.description else name)
        return f"- {self.name}: {', '.join(parts)}: {self.description}"

    def json_schema(self) -> dict[str, Any]:
        """The tool as a JSON-schema function definition (name, description, parameters)."""
        return {
            "name": self.name,
            "description": self.description,
            "parameters": self.args.model_json_schema(),
        }


async def ensure_evidence(ctx: AgentContext) -> EvidenceSet:
    """The session patient's evidence (fetched once per invocation).

    Building it is CPU work (tens of ms on a large record), so it runs in a worker thread: a
    service answering other requests on the same event loop is not held up meanwhile."""
    if ctx.cache.evidence is None:
        record = await ctx.source.everything(ctx.patient_id)
        ctx.cache.record = record
        # the record classified once, kept for the checks that read it whole (entries
        # dated after a death), then its evidence
        ctx.cache.view = await asyncio.to_thread(view_of, record)
        ctx.cache.evidence = await asyncio.to_thread(
            build_evidence, ctx.cache.view, as_of=ctx.as_of
        )
    return ctx.cache.evidence


def new_handle(ctx: AgentContext, ev: EvidenceSet) -> str:
    """A handle for an item a tool makes (after the record's own, unique in the thread)."""
    ctx.cache.next_handle = max(ctx.cache.next_handle, len(ev.items) + 1)
    handle = f"E{ctx.cache.next_handle}"
    ctx.cache.next_handle += 1
    return handle


def absence(ctx: AgentContext, ev: EvidenceSet, scope: SearchScope, what: str) -> EvidenceItem:
    """A citable item for a search of the whole record that found nothing."""
    key = scope.model_dump_json()
    handle = ctx.cache.absences.get(key)
    if handle is None:
        handle = ctx.cache.absences[key] = new_handle(ctx, ev)
    return EvidenceItem(
        handle=handle,
        kind="absence",
        section="searches",
        patient_id=ctx.patient_id,
        name=what,
        scope=scope,
        reference=f"Patient/{ctx.patient_id}",
        path="",
        text=f"not in this patient's record: no {what} (searched {scope.describe()}: nothing found)",
    )


def _event_name(item: EvidenceItem) -> str:
    """An entry's name as a reader reads it; a visit's with its class ("Encounter
    Inpatient (inpatient)"), which is what a reader asks about."""
    name = plain(item.name)
    if item.kind == "encounter" and item.subtype:
        name = f"{name} ({ENCOUNTER_CLASSES.get(item.subtype.upper(), item.subtype)})"
    return name


def latest_statement(item: EvidenceItem) -> str:
    """A repeated event said by its most recent day alone, and how many there are ("when
    was her last flu shot?": that day, which the sentence then rests on, not the 8 before)."""
    days = sorted({p.day for p in item.points if p.day})
    if len(days) < 2:
        return statement(item)
    return f"{_event_name(item)}: {days[-1]}, the latest of {len(item.points)} on record"


def stay_statement(item: EvidenceItem) -> str | None:
    """A visit's most recent stay with its length ("how long was his last hospital stay?":
    "Encounter Inpatient (inpatient): 2019-03-02 to 2019-03-06, 4 days"), or ``None``
    when the record gives it no end."""
    stays = [p for p in item.points if p.day and p.end]
    if item.kind != "encounter" or not stays:
        return None
    last = max(stays, key=lambda p: p.day or "")
    start, end = last.day or "", (last.end or "")[:10]
    try:
        days = (dt.date.fromisoformat(end) - dt.date.fromisoformat(start)).days
    except ValueError:
        return None
    length = "the same day" if days == 0 else f"{days} day{'s' if days != 1 else ''}"
    return f"{_event_name(item)}: {start} to {end}, {length}"


def latest_episode(item: EvidenceItem) -> str:
    """A problem of several episodes said by its latest ("when was the last one?": the sore
    throat of 2019, then the earlier ones); any other entry as :func:`statement` says it."""
    episodes = _episode_spans(item) if item.kind == "condition" else []
    if len(episodes) < 2:
        return statement(item)
    earlier = "; ".join(episodes[:-1][-4:])
    status = f"{item.status}, " if item.status else ""
    return (
        f"{plain(item.name)}: {status}the latest of {len(episodes)} episodes {episodes[-1]}"
        f" (earlier: {earlier})"
    )


def first_statement(item: EvidenceItem) -> str:
    """An item said by when it began ("since when?", "when was he first prescribed it?"):
    a condition with its onset, a medication with its first order, a repeated event with
    its earliest day and how many there are."""
    days = sorted({p.day for p in item.points if p.day})
    name = plain(item.name)
    if item.kind == "medication" and days:
        more = f"; {len(item.points)} orders, the last {days[-1]}" if len(days) > 1 else ""
        return f"{name}: first ordered {days[0]}{more} ({_status(item)})"
    if item.kind in _EVENT_KINDS and len(days) > 1:
        return f"{_event_name(item)}: {days[0]}, the first of {len(item.points)} on record"
    episodes = _episode_spans(item) if item.kind == "condition" else []
    if len(episodes) > 1:  # "when was her first pregnancy?": the first episode of several
        later = "; ".join(episodes[1:][-4:])
        return f"{name}: {episodes[0]}, the first of {len(episodes)} episodes (then {later})"
    return statement(item)


def _episode_spans(item: EvidenceItem) -> list[str]:
    """A problem's episodes, oldest first ("2010-06-27 to 2011-01-30"; one still going
    after the last ended: "since 2000-10-03"); fewer than two: one span, said as such."""
    spans = sorted({(p.day, p.end[:10]) for p in item.points if p.day and p.end})
    if not spans:
        return []
    said = [f"{a} to {b}" for a, b in spans]
    again = sorted(p.day for p in item.points if p.day and not p.end and p.day > spans[-1][1])
    if again:
        said.append(f"since {again[0]}")
    if any(p.day and not p.end and p.day <= spans[-1][1] for p in item.points):
        return []  # a problem held all along beside its episodes: said as one
    return said


def _for(item: EvidenceItem) -> str:
    """ ", for Hypertension": what an order or a visit was for, as the record links it
    (reasonReference / reasonCode); nothing when it gives no reason."""
    reasons = list(dict.fromkeys(plain(r) for r in item.reasons if r.strip()))
    return f", for {', '.join(reasons)}" if reasons else ""


#: The statuses in which an entry holds: an active problem or allergy, a current order.
HOLDING = frozenset({"active", "current", "recurrence", "relapse"})


def holds_now(item: EvidenceItem) -> bool:
    """An active problem or allergy, a current order (by the entry's status); of a patient
    who has died, as the record left it at death (the item's flag ``died``)."""
    return (item.status or "").lower() in HOLDING


def at_death(item: EvidenceItem) -> bool:
    """An entry of a patient who has died (the flag ``died``): what held is said as of
    the death, never as now."""
    return "died" in item.flags


def _status(item: EvidenceItem) -> str:
    """An entry's status as a reader takes it: "active", "past"; of a patient who has
    died, a status that held is said as of the death ("active at death", "current at
    death"), never as now."""
    status = item.status or "status not recorded"
    return f"{status} at death" if holds_now(item) and at_death(item) else status


_NOT_A_PROBLEM = {"social": " (social history)", "administrative": " (administrative)"}


def statement(item: EvidenceItem) -> str:
    """An item as a person reads it, for answers taken from the record as it stands.

    A model line is compact and coded ("Malignant tumor of colon [SCT 363406005]: active,
    onset 1966-09-02"; repeated events folded by year: "×3: 2013: 02-17, 04-21; 2014:
    01-19"); read by a person that is a puzzle. So: conditions with their status and
    onset, medications with their status and last order, results with the latest value,
    repeated events with how many and the most recent date whole; other items as their
    line. Every figure comes from the item's own fields."""
    name = plain(item.name)
    first, last = (item.points[0], item.points[-1]) if item.points else (None, None)
    if item.kind == "condition" and first is not None:
        # a social or administrative entry on the problem list says so ("Full-time
        # employment (social history)"): not a diagnosis, though coded as a Condition
        kind = next((_NOT_A_PROBLEM[f] for f in _NOT_A_PROBLEM if f in item.flags), "")
        episodes = _episode_spans(item)
        if len(episodes) > 1:  # "how many pregnancies?", "colon polyps - when?": each
            # episode, not one span across them; one still going first, since when
            going = episodes[-1] if episodes[-1].startswith("since ") else ""
            ended = episodes[:-1] if going else episodes
            said = "; ".join(ended[-5:])
            older = f"; and {len(ended) - 5} before" if len(ended) > 5 else ""
            if going:
                return f"{name}{kind}: {_status(item)}, {going} (earlier: {said}{older})"
            return f"{name}{kind}: {_status(item)}, {len(episodes)} episodes ({said}{older})"
        text = f"{name}{kind}: {_status(item)}, since {first.day or 'an unknown date'}"
        if last is not None and last.end and item.status != "active":
            text += f", resolved {last.end[:10]}"
        return text
    if item.kind == "medication":
        latest = item.latest
        text = f"{name}: {_status(item)}"
        if latest is not None and latest.day:
            verb = _MEDICATION_VERBS.get(latest.source.type, "ordered")
            text += f", last {verb} {latest.day}"
        text += _for(item)
        if "stale" in item.flags:  # (of a patient who has died, no task left to verify)
            text += (
                " (an old order, never stopped)"
                if at_death(item)
                else (" (verify: an old order still active)")
            )
        return text
    if item.kind == "allergy":
        kind = "intolerance" if item.subtype == "intolerance" else "allergy"
        named = re.search(r"\b(?:allerg|intoleran)", name, re.I)  # "Latex allergy"
        text = name if named else f"{kind} to {name}"
        what = ", ".join(
            b
            for b in (
                item.category and f"{item.category} {kind}",
                item.status or "status not recorded",
                item.criticality and f"criticality {item.criticality}",
            )
            if b
        )
        text = f"{sentence_case(text)} ({what})"
        if first is not None and first.day:
            text += f", recorded {first.day}"
        if item.reactions:
            text += f"; reaction{'s' if len(item.reactions) > 1 else ''}: " + ", ".join(
                r[:1].lower() + r[1:] for r in item.reactions
            )
        return text
    if item.kind == "care_plan" and first is not None:  # (its line is coded: "Care plan
        # Diabetes self management plan [SCT 698360004]: active since …")
        care = item.care
        when = (
            f", {first.day} to {last.end[:10]}"
            if last is not None and last.end and first.day
            else f", since {first.day}"
            if first.day
            else ""
        )
        text = f"{name} (care plan): {item.status or 'status not recorded'}{when}"
        if care is not None and care.addresses:
            text += "; addresses " + ", ".join(plain(a) for a in care.addresses)
        if care is not None and care.activities:
            text += "; activities: " + ", ".join(a[:1].lower() + a[1:] for a in care.activities)
        return text
    if item.kind == "encounter" and item.subtype:  # the class a reader asks about
        name = _event_name(item)
        if len({p.day for p in item.points if p.day}) == 1 and first is not None:
            return f"{name}: {first.day}{_for(item)}"
    days = sorted({p.day for p in item.points if p.day})
    valueless = all(p.value is None and p.value_text is None for p in item.points)
    if item.kind == "observation" and not valueless and item.latest is not None:
        latest = item.latest
        shown = (
            f"{fmt_num(latest.value.value)} {display_unit(latest.value.unit)}".strip()
            if latest.value is not None
            else plain(latest.value_text or "")
        )
        text = f"{name}: {shown} on {latest.day or 'an unknown date'}"
        if len(days) > 1:
            text += f" (the latest of {len(item.points)} results since {days[0]})"
        return text
    if len(days) == 1 and valueless and item.kind in ("procedure", "immunization", "report"):
        # one event: its day and what it was for, no code tag ("… [SCT 703423002]")
        return f"{name}: {days[0]}{_for(item)}"
    if len(days) < 2 or not valueless:
        return item.text
    earlier = ", ".join(reversed(days[:-1][-4:]))
    more = len(days) - 1 - min(4, len(days) - 1)
    tail = f", and {more} before" if more else ""
    return (
        f"{name}: {len(item.points)} on record, most recent {days[-1]} (earlier: {earlier}{tail})"
    )


#: what the latest resource of a medication says was done: ordered, or given in hospital,
#: dispensed, reported taken
_MEDICATION_VERBS = {
    "MedicationAdministration": "given",
    "MedicationDispense": "dispensed",
    "MedicationStatement": "reported",
}
_EVENT_KINDS = ("encounter", "procedure", "immunization", "report")
#: what a list counts (not the notes that mention it)
_ENTRY_KINDS = ("condition", "medication", "allergy")


def window_ends(
    ctx: AgentContext, shown: Sequence[tuple[EvidenceItem, EvidenceItem]], span: str
) -> dict[str, list[tuple[str, list[str]]]]:
    """Of the visits, procedures, vaccines and reports a window holds (each entry beside
    itself with only its entries in the window), the most recent and the first, by day:
    "last visit in 2020?" — "The most recent from 2020-01-01 to 2020-12-31: Follow-up
    encounter (ambulatory): 2020-12-03" (each entry of that day said); of a window of one
    day (``span`` empty: "at his last visit"), the entries of that day."""
    dated = [
        (day, item, w)
        for item, w in shown
        if item.kind in _EVENT_KINDS
        for day in sorted({p.day[:10] for p in w.points if p.day})
    ]
    leads: dict[str, list[tuple[str, list[str]]]] = {}
    if not dated:
        return leads
    for ask, day, which in (
        ("latest", max(d for d, _i, _w in dated), "The most recent"),
        ("first", min(d for d, _i, _w in dated), "The first"),
    ):
        that_day = list({id(i): (i, w) for d, i, w in dated if d == day}.values())
        said = [f"{_event_name(w)}: {day}" for _i, w in that_day]
        if span:  # the first entry of that day says which it is
            said[0] = f"{which} {span}: {said[0]}"
        leads[ask] = [
            (scrub(text, ctx.patient_id), [item.handle])
            for text, (item, _w) in zip(said, that_day, strict=True)
        ]
    return leads


def _previous_event(
    ctx: AgentContext, events: Sequence[EvidenceItem]
) -> list[tuple[str, list[str]]]:
    """The one before the most recent ("when was her last colonoscopy?" — "and the one
    before?"): the entries of the day before the latest day, said beside the latest; of
    one day only, that there is none before it."""
    days = sorted({p.day[:10] for i in events for p in i.points if p.day}, reverse=True)
    day = days[1] if len(days) > 1 else days[0]
    said = (
        f"the one before the most recent ({days[0]})"
        if len(days) > 1
        else "the only one on record (none before it)"
    )
    return [
        (scrub(f"{_event_name(i)}: {day}, {said}", ctx.patient_id), [i.handle])
        for i in events
        if any(p.day and p.day[:10] == day for p in i.points)
    ]


def _episodes(item: EvidenceItem) -> int:
    """How many times an entry is on record: a problem's episodes (each one that ended,
    and one still going: a chronic problem recorded again at every visit is one), a drug
    or an allergy once, however often ordered or recorded."""
    if item.kind != "condition":
        return 1
    ended = sum(1 for p in item.points if p.end)
    return max(1, ended + any(not p.end for p in item.points))


#: what an order, a procedure or a visit records as its reason (:func:`_for`)
_REASONED_KINDS = frozenset({"medication", "procedure", "encounter", "other"})
_NO_REASON = " — the record gives no reason for it"


def bounded(
    ctx: AgentContext,
    items: Sequence[EvidenceItem],
    what: str,
    scope: SearchScope | None = None,
    limit: int | None = None,
    *,
    current: bool = False,
) -> ToolResult:
    """At most ``limit`` (default ``max_lines``) items as lines; an absence item when
    there are none. ``current``: a list of what holds now, each line without the item's
    history (:func:`tools.evidence.current_text`)."""
    limit = limit or ctx.settings.max_lines
    shown = list(items)[:limit]
    lines = [f"{i.handle} {current_text(i)}" if current else i.line for i in shown]
    result = ToolResult([scrub(line, ctx.patient_id) for line in lines])
    for i in shown:
        result.add(ctx, i)
        result.statements.append((scrub(statement(i), ctx.patient_id), [i.handle]))
    left = len(items) - len(shown)
    events = [i for i in shown if i.kind in _EVENT_KINDS and any(p.day for p in i.points)]
    if events:  # "when was her last visit?": the most recent entry first
        last = max(events, key=lambda i: max(p.day or "" for p in i.points))
        said = f"The most recent: {latest_statement(last)}"
        result.leads["latest"] = [(scrub(said, ctx.patient_id), [last.handle])]
        if last.kind in _REASONED_KINDS:  # "what was his last ER visit for?"
            result.leads["latest_reason"] = latest_reason_lead(ctx, result, last)
        if (
            last.kind == "procedure"
            and not any(i.kind == "observation" for i in shown)
            and (found := results_at(ctx, result, last))
        ):  # "what did the allergy screening show?": what was recorded at its visit (not
            # when the search found the results it names: "dre findings?")
            result.leads["results"] = [(scrub(said, ctx.patient_id), [last.handle]), *found]
        if not left and len(events) == len(shown):  # "how many ER visits?": code counts
            total = sum(len(i.points) for i in events)
            said = f"{sentence_case(plain(what))}: {total} in all"
            done_on = {p.day for i in events for p in i.points if p.day}
            if len(events) > 1 and len(done_on) < total:
                # "how many eye exams?": 58 procedures, done at 9 visits
                said += f", on {len(done_on)} days"
            result.leads["count"] = [
                (scrub(said, ctx.patient_id), [i.handle for i in events]),
                *result.statements,
            ]
            if len(events) == 1 and f": {total} on record" in result.statements[0][0]:
                # one entry whose statement says its count ("Pulmonary rehabilitation: 8 on
                # record, most recent …"): said once
                result.leads["count"] = list(result.statements)
        stay = stay_statement(last)
        if stay is not None:  # "how long was her last hospital stay?"
            result.leads["length"] = [
                (scrub(f"The most recent: {stay}", ctx.patient_id), [last.handle])
            ]
        earliest = min(events, key=lambda i: min(p.day or "9999" for p in i.points))
        said = f"The first: {first_statement(earliest)}"
        result.leads["first"] = [(scrub(said, ctx.patient_id), [earliest.handle])]
        result.leads["previous"] = _previous_event(ctx, events)
    elif shown and all(i.kind in ("medication", "condition", "observation") for i in shown):
        # "when was it last ordered?": each medication with its last order; "when was the
        # appendectomy?", recorded only as a history of it: each entry with its dates;
        # "last covid test result?": a coded result, with its latest
        result.leads["latest"] = [
            (scrub(latest_episode(i), ctx.patient_id), [i.handle]) if i.kind == "condition" else st
            for i, st in zip(shown, result.statements, strict=False)
        ]
    entries = [i for i in shown if i.kind in _ENTRY_KINDS]
    if entries and not left and not events:  # "any fractures?" — "how many?": code counts
        total = sum(_episodes(i) for i in entries)
        said = f"{sentence_case(plain(what))}: {total} on record"
        orders = sum(len(i.points) for i in entries if i.kind == "medication")
        if entries[0].kind == "medication" and orders > total:
            said += f" ({orders} orders)"  # "how many times was the statin refilled?"
        days = sorted({p.day for i in entries for p in i.points if p.day})
        if entries[0].kind == "condition" and 1 < len(days) < total and len(days) <= 6:
            # "how many fractures?": a fracture and its cause recorded on one day are two
            # entries of one event, which the days show
            said += f", on {len(days)} dates ({', '.join(days)})"
        result.leads["count"] = [
            (scrub(said, ctx.patient_id), [i.handle for i in entries]),
            *result.statements,
        ]
    if shown and not events:  # "since when does she have X?", "when was she first prescribed Y?"
        began = sorted(shown, key=lambda i: min((p.day for p in i.points if p.day), default="9999"))
        result.leads["first"] = [
            (scrub(first_statement(i), ctx.patient_id), [i.handle]) for i in began
        ]
    reasoned = [i for i in shown if i.kind in _REASONED_KINDS]
    if reasoned and all(i.kind in _REASONED_KINDS or i.kind == "care_plan" for i in shown):
        # "why is she on warfarin?", "what was the visit for?" (of the orders an inhaler
        # names, not the asthma care plan it found beside them)
        result.leads["reason"] = reason_lead(ctx, result, [(i, i) for i in reasoned])
    if not items:
        if scope is not None and ctx.cache.evidence is not None:
            none = absence(ctx, ctx.cache.evidence, scope, what)
            result.lines = [none.line]
            result.add(ctx, none)
            result.statements.append((none.text, [none.handle]))
        else:
            result.lines = [f"no {what} found"]
    elif left:
        result.lines.append(f"({left} more {what} not shown; narrow the search)")
    return result


def _visit_of(resource: dict[str, Any]) -> Any:
    """The visit a resource was written at: its ``encounter`` (a MedicationAdministration
    names it ``context``, an Encounter or an EpisodeOfCare)."""
    context = resource.get("context")
    if isinstance(context, dict) and str(context.get("reference", "")).startswith("Encounter/"):
        return resource.get("encounter") or context
    return resource.get("encounter")


def last_day(item: EvidenceItem) -> str:
    """The day of an item's latest entry ("" when none is dated)."""
    return max((p.day or "" for p in item.points), default="")


def ordered_at(ctx: AgentContext, item: EvidenceItem) -> EvidenceItem | None:
    """The visit an order was written at (its latest resource's ``encounter``), as the
    evidence holds it."""
    ev = ctx.cache.evidence
    visits = order_visits(ctx, item)
    if ev is None or not visits:
        return None
    handle = ctx.cache.by_reference().get(visits[-1])
    return ev.get(handle) if handle else None


#: observation categories a visit records that are no procedure's result
_NOT_RESULTS = frozenset({"social-history", "survey", "vital-signs"})


def results_at(
    ctx: AgentContext, result: ToolResult, item: EvidenceItem
) -> list[tuple[str, list[str]]]:
    """What was recorded at the visit of an item's latest entry (a procedure's: "what did
    the allergy screening show?"): each result with its value that day, then the problems
    diagnosed there, each cited and added to ``result``; none when the entry names no
    visit."""
    view, ev = ctx.cache.view, ctx.cache.evidence
    visits = order_visits(ctx, item)
    if view is None or ev is None or not visits:
        return []
    visit, by_ref = visits[-1], ctx.cache.by_reference()
    reported = {  # a panel's results are its report's (a lab order of their own), not
        # what the procedure found ("echo results?": not the metabolic panel drawn then)
        ref_of(res)
        for report in view.of_type("DiagnosticReport")
        for link in report.get("result") or []
        if (res := view.resolve(link)) is not None
    }
    out: list[tuple[str, list[str]]] = []
    for r in view.of_type("Observation"):
        if ref_of(r) in reported:
            continue
        at = view.resolve(_visit_of(r))
        handle = by_ref.get(ref_of(r)) if at is not None and ref_of(at) == visit else None
        if handle is None:
            continue
        if observation_category(r) in _NOT_RESULTS:
            continue  # the visit's vital signs and questionnaires are not what it found
        found = ev.get(handle)
        point = next((p for p in found.points if p.source.reference == ref_of(r)), None)
        if point is None or (point.value is None and not point.value_text):
            continue
        shown = (
            f"{fmt_num(point.value.value)} {display_unit(point.value.unit)}".strip()
            if point.value is not None
            else plain(point.value_text or "")
        )
        result.add(ctx, found)
        out.append((f"{plain(found.name)}: {shown} on {point.day}", [handle]))
    for problem in diagnosed_at(ctx, [visit]):
        result.add(ctx, problem)
        out.append((f"Diagnosed at that visit: {statement(problem)}", [problem.handle]))
    said = {t: hs for t, hs in out}  # (a result recorded twice: said once)
    return [(scrub(t, ctx.patient_id), hs) for t, hs in said.items()]


def order_visits(ctx: AgentContext, item: EvidenceItem) -> list[str]:
    """The visits (``Encounter/…``) an order's resources were written at, in the order of
    their latest orders (the last is the visit of the latest)."""
    view = ctx.cache.view
    if view is None:
        return []
    out = []
    for point in item.points:
        resource = view.by_ref.get(point.source.reference) or {}
        visit = view.resolve(_visit_of(resource))
        if visit is not None:
            out.append(ref_of(visit))
    return list(dict.fromkeys(out[::-1]))[::-1]  # (each once, at its latest order)


def named_concepts(term: Terminology, name: str) -> list[Concept]:
    """The concepts a tool's ``name`` argument names: the one whose own name it is, when
    one is ("Hemoglobin in stool (fecal immunochemical test)", not also the blood's
    hemoglobin its first word names), else every concept its words mention."""
    said = [c for m in term.mentions(name) for c in m.concepts]
    exact = [c for c in said if c.name.lower() == name.strip().lower()]
    return exact or said


def diagnosed_at(ctx: AgentContext, visits: Iterable[str]) -> list[EvidenceItem]:
    """The problems recorded at the visits (each Condition whose ``encounter`` is one of
    those Encounter references), as the evidence holds them: what a visit the record gives
    no reason for found."""
    ev = ctx.cache.evidence
    if ev is None:
        return []
    at = ctx.cache.diagnosed_by_visit()  # (built once per evidence)
    handles = dict.fromkeys(h for v in visits for h in at.get(v, ()))
    return [ev.get(h) for h in handles]


def addressed(term: Terminology, item: EvidenceItem) -> list[Concept]:
    """The concepts a care plan addresses, by the names of its ``addresses`` (without
    their semantic tag: "(disorder)" names any disease)."""
    if item.care is None:
        return []
    return [c for a in item.care.addresses for m in term.mentions(plain(a)) for c in m.concepts]


def none_on_the_list(item: EvidenceItem) -> str:
    """A search of problems that found nothing, said as none on the problem list (beside
    what the record holds that is related: "does she have asthma?", her inhalers), not as
    none in the record."""
    searched = f" (searched {item.scope.describe()}: nothing found)" if item.scope else ""
    return f"Not on the problem list: no {item.name}{searched}."


def none_given_for(item: EvidenceItem, given_for: str, name: str) -> str:
    """A search of what is given for a problem that found nothing, said as none recorded
    for it (beside one of that kind given for another reason: "cad - on a beta blocker?",
    the metoprolol for his heart failure), not as none in the record."""
    searched = f" (searched {item.scope.describe()}: nothing found)" if item.scope else ""
    return f"Not recorded as given for {given_for}: no {name}{searched}."


def reason_lead(
    ctx: AgentContext, result: ToolResult, shown: Sequence[tuple[EvidenceItem, EvidenceItem]]
) -> list[tuple[str, list[str]]]:
    """Each order, procedure or visit (an item beside what is said of it: itself, or only
    its entries of a window) with the reason the record links (reasonReference /
    reasonCode), or that it gives none — never a guess; the reasons' own entries cited."""
    out = []
    for i, w in shown:
        if i.kind not in _REASONED_KINDS:
            continue
        by_visit = i.kind == "medication" and not _for(w)
        # one visit that gives no reason: what was diagnosed at it ("what was the ER
        # visit for?": none given, an acute allergic reaction recorded there)
        one_visit = i.kind == "encounter" and not _for(w) and len(w.points) == 1
        cited = [i.handle, *_reasons_cited(ctx, result, i)]
        said = statement(w)
        visit = ordered_at(ctx, i) if by_visit else None
        found = diagnosed_at(ctx, (p.source.reference for p in w.points)) if one_visit else []
        if visit is not None and visit.reasons:
            # no reason of its own, written at a visit that gives one ("why is she on
            # the inhaler?": ordered at the visit for asthma); the visit cited
            result.add(ctx, visit)
            reasons = "; ".join(dict.fromkeys(plain(r) for r in visit.reasons))
            said = f"{said.rstrip('.')}{_NO_REASON}; ordered at the visit for {reasons} ({last_day(i)[:10]})."
            cited.append(visit.handle)
        elif found:
            said = _found_there(ctx, result, said, found, cited)
        elif visit is not None and (found := diagnosed_at(ctx, order_visits(ctx, i)[-1:])):
            # a visit that gives no reason either: what was diagnosed at it ("naproxen -
            # why?": ordered at the ER visit that recorded a laceration)
            where = f"at the visit it was last ordered at ({last_day(i)[:10]})"
            said = _found_there(ctx, result, said, found, cited, where)
        elif not _for(w):
            said = f"{said.rstrip('.')}{_NO_REASON}."
        out.append((scrub(said, ctx.patient_id), cited))
    return out


def _found_there(
    ctx: AgentContext,
    result: ToolResult,
    said: str,
    found: list[EvidenceItem],
    cited: list[str],
    where: str = "at that visit",
) -> str:
    """A visit's (or an order's) statement that gives no reason, with the problems
    diagnosed at the visit (each added to the result and to ``cited``)."""
    for f in found:
        result.add(ctx, f)
        cited.append(f.handle)
    names = "; ".join(dict.fromkeys(plain(f.name) for f in found))
    return f"{said.rstrip('.')}{_NO_REASON}; diagnosed {where}: {names}."


def latest_reason_lead(
    ctx: AgentContext, result: ToolResult, last: EvidenceItem
) -> list[tuple[str, list[str]]]:
    """The most recent of a visit, an order or a procedure with its reason ("what was his
    last ER visit for?"): the reason the record links, else that it gives none and, of a
    visit, the problems diagnosed at that visit (its latest day's)."""
    said = f"The most recent: {latest_statement(last)}"
    cited = [last.handle]
    if _for(last):
        if len({p.day for p in last.points if p.day}) > 1:  # (one day's statement says it)
            said = f"{said.rstrip('.')}{_for(last)}."
        cited.extend(_reasons_cited(ctx, result, last))
        return [(scrub(said, ctx.patient_id), cited)]
    day = max(p.day or "" for p in last.points)
    visits = [p.source.reference for p in last.points if p.day == day]
    found = diagnosed_at(ctx, visits) if last.kind == "encounter" else []
    said = (
        _found_there(ctx, result, said, found, cited)
        if found
        else f"{said.rstrip('.')}{_NO_REASON}."
    )
    return [(scrub(said, ctx.patient_id), cited)]


def _reasons_cited(ctx: AgentContext, result: ToolResult, item: EvidenceItem) -> list[str]:
    """The entries an order, procedure or visit gives as its reason (the Condition its
    ``reasonReference`` points to), added to what the result shows: "for Essential
    hypertension" rests on that entry as well as on the order."""
    ev = ctx.cache.evidence
    if ev is None or not item.reason_refs:
        return []
    by_ref = ctx.cache.by_reference()
    out = []
    for ref in item.reason_refs:
        handle = by_ref.get(ref)
        if handle and handle != item.handle and handle not in out:
            result.add(ctx, ev.get(handle))
            out.append(handle)
    return out


def parse_date(value: str | None, name: str) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value.strip()[:10])
    except ValueError as exc:
        raise ToolCallError(f"{name} must be a date YYYY-MM-DD, not {value!r}") from exc


def coding_arg(value: str | None) -> Coding | None:
    """``4548-4``, ``LOINC 4548-4``, ``[SCT 44054006]`` or ``system|code`` → a Coding."""
    import re

    from tools.fhir_version import CODE_SYSTEMS

    v = (value or "").strip().strip("[]").strip()
    if not v:
        return None
    system: str | None = None
    if "|" in v:
        sys_part, _, v = v.partition("|")
        system = sys_part.strip() or None
    else:
        parts = v.replace(":", " ").split()
        if len(parts) == 2 and parts[0].lower().replace("-", "") in CODE_SYSTEMS:
            system, v = CODE_SYSTEMS[parts[0].lower().replace("-", "")], parts[1]
    v = v.strip()
    if not re.match(r"^[A-Za-z0-9][A-Za-z0-9.\-_]{0,63}$", v):
        raise ToolCallError(
            f"code must be one code, e.g. 4548-4, LOINC 4548-4 or http://loinc.org|4548-4; "
            f"not {value!r}"
        )
    return Coding(system=system, code=v)


def no_care_due(
    ctx: AgentContext, ev: EvidenceSet, result: ToolResult
) -> list[tuple[str, list[str]]] | None:
    """For a patient who has died, what is due ("anything overdue?", "is he due for a flu
    shot?") is nothing: that statement, citing the patient (added to ``result``); else
    ``None``."""
    dead = [i for i in ev.section("patient") if i.demographics and i.demographics.deceased]
    if not dead:
        return None
    result.add(ctx, dead[0])
    return [("No care is due: the record says the patient has died", [dead[0].handle])]

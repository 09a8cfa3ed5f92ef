"""Record summary under a token budget (no model).

:func:`summarize` selects and orders facts from the evidence by clinical priority and
stops at the budget (counted with the Gemma 3 tokenizer, see :mod:`tools.tokens`):

1. the patient line (always), and a record check when entries are dated after the
recorded death; 2. active problems (clinical: disorders, then findings; social
history and administrative entries are not problems, see below); 3. current
medications (recently ordered first; ones last ordered more than a year ago are kept
but marked "active in record, last ordered YEAR — verify"); 4. allergies (or "none
recorded"); 5. abnormal labs/vitals with their trends (latest value out of range, or a
clinically meaningful change of a key measure); 6. recent encounters (the five
latest); 7. active care plans and goals; 8. other labs/vitals; 9. recent procedures
(significant ones first, routine screenings and assessments on one line) and
immunizations; 10. social history (social determinants of health and administrative
entries such as "Medication review due", see :func:`tools.codes.condition_kind`);
11. resolved problems and past medications.

Filling is greedy in three passes: first the core (5 problems, 5 medications, 6
allergies: a small budget never drops an allergy for a tenth problem), then each group
up to a quota (10 problems, 10 medications, 8 abnormal labs, 3 encounters, …) so that
one long list cannot crowd out the others, then the remaining lines in priority order.

Each line cites evidence handles (``[E12]``) — the same handles as
:func:`tools.evidence.build_evidence` gives the same record — and the JSON form lists
the FHIR references the lines rest on. The last line says what was left out and how
to get it (evidence section or ``trend NAME``).

Lines are counted one by one: Gemma 3 splits newlines out before anything else, so
the text's count is the sum of its lines' counts plus one per line break (exact).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tools._record import (
    RecordView,
    Resource,
    cc_text,
    codings_of,
    parse_date,
    reasons_of,
    ref_of,
    resource_date,
    view_of,
)
from tools.evidence import EvidenceItem, EvidenceSet, build_evidence
from tools.tokens import TokenCounter, token_counter
from tools.trends import Trend, lab_trends

__all__ = ["DEFAULT_BUDGET", "Summary", "summarize"]

DEFAULT_BUDGET = 2000
_KEY_PRIORITY = 15  # measures up to this priority (tools.codes) are "key" labs/vitals
# First-pass line quotas per block (then the rest in priority order): see ``summarize``.
_QUOTA = {"problems": 10, "medications": 10, "allergies": 6, "abnormal": 8, "encounters": 3,
          "care": 3, "labs": 4, "procedures": 2, "immunizations": 2, "social": 3,
          "past_problems": 3, "past_medications": 3}  # fmt: skip
_CORE_QUOTA = {"problems": 5, "medications": 5, "allergies": 6}


@dataclass
class Line:
    """One statement: its text, the evidence handles and FHIR references behind it, and
    the typed facts it states beyond its items' own fields: a trend's statistics, and
    figures code computed (``numbers``: days since a result, a retest interval)."""

    text: str
    handles: list[str] = field(default_factory=list)
    refs: list[str] = field(default_factory=list)
    trend: Trend | None = None
    numbers: tuple[float, ...] = ()


@dataclass
class Block:
    """A titled group of lines with the section that holds the rest."""

    key: str
    title: str
    lines: list[Line]
    more: str  # where to get what does not fit
    total: int | None = None  # how many such facts exist (for the "left out" line)


@dataclass
class Summary:
    """A budgeted summary: text, citations, token count, and what was left out."""

    text: str
    citations: list[str]
    handles: list[str]
    tokens: int
    budget: int
    counter: str
    exact: bool
    omitted: dict[str, int]
    lines: list[Line] = field(default_factory=list)  # the lines shown, in order

    def as_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "citations": self.citations,
            "handles": self.handles,
            "tokens": self.tokens,
            "budget": self.budget,
            "token_counter": self.counter,
            "token_count_exact": self.exact,
            "omitted": self.omitted,
        }


# --------------------------------------------------------------------------- facts


def handle_index(ev: EvidenceSet) -> dict[tuple[str, str], str]:
    """(reference, path) -> handle, for linking trend points back to evidence items."""
    index: dict[tuple[str, str], str] = {}
    for item in ev.items:
        for p in item.points:
            index.setdefault((p.source.reference, p.source.path), item.handle)
    return index


def condition_kind_of(item: EvidenceItem) -> str:
    """``problem``, ``social`` or ``administrative`` (from the evidence item's flags)."""
    for kind in ("social", "administrative"):
        if kind in item.flags:
            return kind
    return "problem"


def problem_lines(ev: EvidenceSet, active: bool, kinds: Sequence[str] = ("problem",)) -> list[Line]:
    """Active (or resolved) conditions of these kinds: name, onset, cited to the onset
    instance (active) or the latest instance (resolved). Acute / self-limiting conditions
    left open for over a year say so ("verify")."""
    out = []
    for item in ev.section("conditions"):
        if item.kind == "absence":  # the record has no conditions at all
            if active and "problem" in kinds:
                out.append(Line(item.text, [item.handle], []))
            continue
        if (item.status == "active") != active or condition_kind_of(item) not in kinds:
            continue
        first = item.points[0] if item.points else None
        n = len(item.points)
        if active:
            onset = f", since {first.day}" if first and first.day else ""
            text = f"{item.name}{onset}" + (f" (recorded ×{n})" if n > 1 else "")
            if "stale" in item.flags:
                text += "; acute condition still active in record after over a year: verify"
            refs = [first.source.reference] if first else [item.reference]
        else:
            last = item.points[-1] if item.points else None
            text = f"{item.name}, {'last ' if n > 1 else ''}onset {last.day if last else '?'}"
            text += f" (×{n})" if n > 1 else ""
            refs = [last.source.reference] if last else [item.reference]
        out.append(Line(text, [item.handle], refs))
    return out


def social_lines(ev: EvidenceSet) -> list[Line]:
    """Social history: active social-determinant entries, then administrative entries
    (marked), then inactive social entries (marked)."""
    active = problem_lines(ev, True, ("social",))
    admin = problem_lines(ev, True, ("administrative",))
    for ln in admin:
        ln.text = "administrative: " + ln.text
    past = problem_lines(ev, False, ("social", "administrative"))
    for ln in past:
        ln.text = "no longer active: " + ln.text
    return active + admin + past


def medication_lines(ev: EvidenceSet, current: bool) -> list[Line]:
    """Current (or past) medications with dosage and reason, cited to the orders.

    Current ones last ordered more than a year ago come after the others and carry the
    evidence detail "active in record, last ordered YEAR — verify"."""
    out = []
    for item in ev.section("medications"):
        if item.kind == "absence":  # the record has no medications at all
            if current:
                out.append(Line(item.text, [item.handle], []))
            continue
        if (item.status == "current") != current:
            continue
        last = item.points[-1] if item.points else None
        since = (
            f"last recorded {last.day}" if last and last.day and "stale" not in item.flags else ""
        )
        text = "; ".join(x for x in [item.name, since, *item.details] if x)
        out.append(Line(text, [item.handle], [item.reference]))
    return out


def allergy_lines(ev: EvidenceSet) -> list[Line]:
    """Allergies with criticality, status and reactions (or the record's "none recorded")."""
    return [Line(i.text, [i.handle], list(i.references)) for i in ev.section("allergies")]


def trend_line(t: Trend, index: dict[tuple[str, str], str], compact: bool = True) -> Line:
    """A trend's summary line, cited to the points it states (latest, first, min, max)."""
    cited = [p for p in (t.latest, t.first, t.min, t.max) if p is not None]
    if len(t.points) >= 2:
        cited.append(t.points[-2])
    refs = list(dict.fromkeys(p.ref for p in cited))
    handles = list(dict.fromkeys(index[(p.ref, p.path)] for p in cited if (p.ref, p.path) in index))
    return Line(t.compact_line() if compact else t.summary_line(), handles, refs, trend=t)


def encounter_lines(view: RecordView, ev: EvidenceSet, n: int) -> list[Line]:
    """The ``n`` most recent encounters, one line each."""
    index = handle_index(ev)
    encs = sorted(
        view.of_type("Encounter"),
        key=lambda r: ((r.get("period") or {}).get("start") or "", r.get("id", "")),
        reverse=True,
    )
    out = []
    for r in encs[:n]:
        period = r.get("period") or {}
        start = str(period.get("start") or "")[:10] or "undated"
        end = str(period.get("end") or "")[:10]
        cls = (r.get("class") or {}).get("code") or ""
        reasons = reasons_of(view, r)
        text = f"{start}{'→' + end if end and end != start else ''} {cls} {cc_text(r.get('type'), 'encounter')}"
        if any(reasons):
            text += " for " + ", ".join(x for x in reasons if x)
        handle = index.get((ref_of(r), "type"))
        out.append(Line(text.replace("  ", " "), [handle] if handle else [], [ref_of(r)]))
    return out


def care_lines(ev: EvidenceSet) -> list[Line]:
    """Active care plans and goals in progress."""
    out = []
    for item in ev.section("care_plans"):
        if item.kind == "care_team":
            continue
        if item.status in ("active", "accepted", "planned", "proposed", "on-hold"):
            out.append(Line(item.text, [item.handle], [item.reference]))
    return out


def recent_lines(items: Sequence[EvidenceItem], n: int) -> list[Line]:
    """The ``n`` most recent of these folded items (procedures, immunizations)."""
    out = [Line(i.text, [i.handle], []) for i in items if i.kind == "absence"]
    items = sorted(
        (i for i in items if i.kind != "absence"),
        key=lambda i: (i.date or "", i.handle),
        reverse=True,
    )
    for item in items[:n]:
        last = max(item.points, key=lambda p: p.day or "") if item.points else None
        count = f" (×{len(item.points)})" if len(item.points) > 1 else ""
        when = f"last {last.day}" if last and last.day else "undated"
        name = item.name + (f" for {', '.join(item.reasons)}" if item.reasons else "")
        out.append(
            Line(
                f"{name}{count}, {when}",
                [item.handle],
                [last.source.reference if last else item.reference],
            )
        )
    return out


def procedure_lines(ev: EvidenceSet, n: int) -> list[Line]:
    """The ``n`` most recent significant procedures, then one line for the routine
    screenings, assessments and paperwork done on their latest date (flag ``routine``
    in the evidence), cited to those procedures."""
    items = ev.section("procedures")
    main = [i for i in items if "routine" not in i.flags]
    routine = [i for i in items if "routine" in i.flags]
    out = recent_lines(main, n)
    if routine:

        def last_date(item: EvidenceItem) -> str:
            return max((p.day or "" for p in item.points), default="")

        latest = max(last_date(i) for i in routine)
        on_day = sorted((i for i in routine if last_date(i) == latest), key=lambda i: i.handle)
        refs = [
            max(i.points, key=lambda p: p.day or "").source.reference if i.points else i.reference
            for i in on_day
        ]
        names = ", ".join(dict.fromkeys(_plain_name(i) for i in on_day))
        earlier = len({_plain_name(i) for i in routine} - {_plain_name(i) for i in on_day})
        text = f"Routine screenings and assessments on {latest or 'an unknown date'}: {names}"
        if earlier:
            text += f" (+{earlier} other kind{'s' if earlier > 1 else ''} earlier)"
        out.append(Line(text, [i.handle for i in on_day], list(dict.fromkeys(refs))))
    return out


def _plain_name(item: EvidenceItem) -> str:
    """A procedure's name without its SNOMED semantic tag."""
    name = item.code.display if item.code and item.code.display else item.name
    return name.removesuffix(" (procedure)").removesuffix(" (regime/therapy)")


# Death certification entries are dated after death by design (Synthea records them).
_DEATH_CERT_CODES = {"308646001", "69453-9", "69409-1"}


def after_death_line(view: RecordView, ev: EvidenceSet | None = None) -> Line | None:
    """A record check: clinical entries dated after the recorded death date (a wrong
    death date, or entries filed on the wrong patient). Death certification entries
    (SNOMED 308646001, LOINC 69453-9, 69409-1) do not count. Cites up to five."""
    died = parse_date((view.patient or {}).get("deceasedDateTime"))
    if died is None:
        return None
    late: list[tuple[str, str]] = []
    for r in view.kept:
        when = resource_date(r)
        day = parse_date(when)
        if day is None or day <= died:
            continue
        codes = {str(c.get("code")) for key in ("code", "type") for c in codings_of(r.get(key))}
        if codes & _DEATH_CERT_CODES:
            continue
        late.append((str(when)[:10], ref_of(r)))
    if not late:
        return None
    late.sort()
    kinds: dict[str, int] = {}
    for _d, ref in late:
        kinds[ref.split("/")[0]] = kinds.get(ref.split("/")[0], 0) + 1
    what = ", ".join(f"{n} {t}" for t, n in sorted(kinds.items(), key=lambda x: (-x[1], x[0])))
    cited = [ref for _d, ref in late[:4]] + ([late[-1][1]] if len(late) > 4 else [])
    text = (
        f"Record check: {len(late)} entries dated after the recorded death ({died.isoformat()}), "
        f"{late[0][0]} to {late[-1][0]} ({what}): verify"
    )
    refs = list(dict.fromkeys(cited))
    handles: list[str] = []
    if ev is not None:
        by_ref: dict[str, str] = {}
        for item in ev.items:
            for cited_ref in item.references:
                by_ref.setdefault(cited_ref, item.handle)
        handles = list(dict.fromkeys(by_ref[x] for x in refs if x in by_ref))
    return Line(text, handles, refs)


def _blocks(view: RecordView, ev: EvidenceSet, trends: Sequence[Trend]) -> list[Block]:
    index = handle_index(ev)
    abnormal = [t for t in trends if t.abnormal or (t.changing and t.priority <= _KEY_PRIORITY)]
    normal = [t for t in trends if t not in abnormal]
    allergies = allergy_lines(ev)
    n_enc = len(view.of_type("Encounter"))
    return [
        Block(
            "problems", "Active problems", problem_lines(ev, True), "evidence section conditions"
        ),
        Block(
            "medications",
            "Active medications",
            medication_lines(ev, True),
            "evidence section medications",
        ),
        Block("allergies", "Allergies", allergies, "evidence section allergies"),
        Block(
            "abnormal",
            "Abnormal labs/vitals, key changes (* default range)",
            [trend_line(t, index) for t in abnormal],
            "trend NAME or evidence sections labs, vitals",
        ),
        Block(
            "encounters",
            "Recent encounters",
            encounter_lines(view, ev, 5),
            "evidence section encounters",
            n_enc,
        ),
        Block("care", "Active care plans and goals", care_lines(ev), "evidence section care_plans"),
        Block(
            "labs",
            "Other labs/vitals (latest)",
            [trend_line(t, index) for t in normal],
            "trend NAME or evidence sections labs, vitals",
        ),
        Block(
            "procedures",
            "Procedures (most recent)",
            procedure_lines(ev, 5),
            "evidence section procedures",
            # the routine line stands for all routine kinds
            sum("routine" not in i.flags for i in ev.section("procedures"))
            + any("routine" in i.flags for i in ev.section("procedures")),
        ),
        Block(
            "immunizations",
            "Immunizations (most recent)",
            recent_lines(ev.section("immunizations"), 5),
            "evidence section immunizations",
            len(ev.section("immunizations")),
        ),
        Block(
            "social",
            "Social history (not clinical problems)",
            social_lines(ev),
            "evidence section conditions",
        ),
        Block(
            "past_problems",
            "Resolved problems",
            problem_lines(ev, False),
            "evidence section conditions",
        ),
        Block(
            "past_medications",
            "Past medications",
            medication_lines(ev, False),
            "evidence section medications",
        ),
    ]


# --------------------------------------------------------------------------- budget


def _counts(counter: TokenCounter, texts: Sequence[str]) -> list[int]:
    many = getattr(counter, "count_many", None)
    if callable(many):
        return list(many(texts))
    return [counter.count(t) for t in texts]


def summarize(
    record: Sequence[Resource] | RecordView,
    *,
    budget: int = DEFAULT_BUDGET,
    as_of: dt.date | None = None,
    counter: TokenCounter | None = None,
    evidence: EvidenceSet | None = None,
    trends: Sequence[Trend] | None = None,
) -> Summary:
    """A summary of the record that fits ``budget`` tokens.

    Args:
        record: the patient's resources (or a prepared view).
        budget: the token budget (Gemma 3 tokens; with the approximate fallback
            counter, an estimate — ``Summary.exact`` says which).
        as_of: reference date (ages, "time since").
        counter: the token counter (default: exact Gemma 3 when installed).
        evidence, trends: reuse already built evidence / trends of this record.
    """
    view = view_of(record)
    as_of = as_of or dt.datetime.now(dt.UTC).date()
    ev = evidence or build_evidence(view, as_of=as_of)
    trends = list(trends) if trends is not None else lab_trends(view, as_of=as_of)
    counter = counter or token_counter()
    pid = view.patient_id or "?"
    header = f"Summary of Patient/{pid} as of {as_of.isoformat()} (cite [E#] handles)."
    patient = ev.section("patient")
    fixed: list[Line] = [Line(header)]
    if patient:
        fixed.append(Line(patient[0].text, [patient[0].handle], [patient[0].reference]))
    check = after_death_line(view, ev)
    if check is not None:
        fixed.append(check)
    blocks = _blocks(view, ev, trends)

    def render(line: Line) -> str:
        return line.text + (f" [{', '.join(line.handles)}]" if line.handles else "")

    # count everything once (batched), then fill greedily
    all_lines = fixed + [ln for b in blocks for ln in b.lines]
    titles = [f"{b.title}:" for b in blocks]
    costs = _counts(counter, [render(x) for x in all_lines] + titles)
    line_cost = {id(x): c for x, c in zip(all_lines, costs, strict=False)}
    title_cost = dict(zip([b.key for b in blocks], costs[len(all_lines) :], strict=True))
    fixed_cost = sum(line_cost[id(x)] + 1 for x in fixed)

    def fill(reserve: int) -> dict[str, list[Line]]:
        """Greedy in three passes: the core, then up to each block's quota (so a long
        problem list cannot crowd out medications and allergies), then the rest, in
        priority order."""
        used = fixed_cost
        chosen: dict[str, list[Line]] = {}
        for quotas in (_CORE_QUOTA, _QUOTA, None):
            quota_pass = quotas is not None
            for b in blocks:
                take = chosen.setdefault(b.key, [])
                if quotas is None:
                    limit = len(b.lines)
                else:
                    limit = quotas.get(b.key, 0 if quotas is _CORE_QUOTA else 3)
                stopped = False
                for ln in b.lines[len(take) : limit]:
                    c = line_cost[id(ln)] + 3  # "- " prefix and the newline
                    if not take:
                        c += title_cost[b.key] + 1
                    if used + c > budget - reserve:
                        stopped = True
                        break
                    take.append(ln)
                    used += c
                if stopped and not quota_pass:
                    break  # keep strict priority order in the last pass
        return {k: v for k, v in chosen.items() if v}

    def finish(chosen: dict[str, list[Line]]) -> tuple[str, int, dict[str, int]]:
        """Assemble and count exactly; drop lowest-priority lines until it fits."""
        while True:
            text, omitted = _assemble(fixed, blocks, chosen, render)
            tokens = counter.count(text)
            if tokens > budget:  # try the short form of the "left out" line
                short, short_omitted = _assemble(fixed, blocks, chosen, render, compact=True)
                short_tokens = counter.count(short)
                if short_tokens < tokens:
                    text, tokens, omitted = short, short_tokens, short_omitted
            if tokens <= budget or not chosen:
                return text, tokens, omitted
            last_key = [b.key for b in blocks if b.key in chosen][-1]
            chosen[last_key].pop()
            if not chosen[last_key]:
                del chosen[last_key]

    # the "left out" line's size is known only at the end: try a few reserves for it
    best: tuple[int, str, int, dict[str, int], dict[str, list[Line]]] | None = None
    for reserve in (120, 80, 50, 25):
        chosen = fill(reserve)
        text, tokens, omitted = finish(chosen)
        n = sum(len(v) for v in chosen.values())
        if tokens <= budget and (best is None or n > best[0]):
            best = (n, text, tokens, omitted, chosen)
    if best is None:  # not even the patient line fits: return the minimum, over budget
        best = (0, text, tokens, omitted, chosen)
    _n, text, tokens, omitted, chosen = best
    cited_lines = fixed + [ln for lines in chosen.values() for ln in lines]
    citations = list(dict.fromkeys(r for ln in cited_lines for r in ln.refs))
    handles = list(dict.fromkeys(h for ln in cited_lines for h in ln.handles))
    return Summary(
        text, citations, handles, tokens, budget, counter.name, counter.exact, omitted, cited_lines
    )


def _assemble(
    fixed: list[Line],
    blocks: list[Block],
    chosen: dict[str, list[Line]],
    render: Any,
    compact: bool = False,
) -> tuple[str, dict[str, int]]:
    lines = [render(x) for x in fixed]
    omitted: dict[str, int] = {}
    left: list[str] = []
    for b in blocks:
        shown = chosen.get(b.key, [])
        total = b.total if b.total is not None else len(b.lines)
        if shown:
            extra = f" ({len(shown)} of {total})" if total > len(shown) else ""
            lines.append(f"{b.title}{extra}:")
            lines.extend(f"- {render(x)}" for x in shown)
        missing = total - len(shown)
        if missing > 0:
            omitted[b.key] = missing
            left.append(
                f"{b.key} {missing}" if compact else f"{missing} {b.title.lower()} ({b.more})"
            )
    if left and compact:
        lines.append(
            "Left out for the budget (see the evidence sections): " + ", ".join(left) + "."
        )
    elif left:
        lines.append("Left out for the budget: " + "; ".join(left) + ".")
    else:
        lines.append("Nothing left out.")
    return "\n".join(lines), omitted

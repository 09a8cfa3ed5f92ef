"""Record summary under a token budget (no model).

:func:`summarize` selects and orders facts from the evidence by clinical priority and
stops at the budget (counted with the Gemma 3 tokenizer, see :mod:`tools.tokens`):

1. the patient line (always); 2. active problems; 3. current medications;
4. allergies (or "none recorded"); 5. abnormal labs/vitals with their trends (latest
value out of range, or a clinically meaningful change of a key measure); 6. recent
encounters (the five latest); 7. active care plans and goals; 8. other labs/vitals;
9. recent procedures and immunizations; 10. resolved problems and past medications.

Filling is greedy in two passes: first each group up to a quota (10 problems, 10
medications, 6 allergies, 8 abnormal labs, 3 encounters, …) so that one long list
cannot crowd out the others, then the remaining lines in priority order.

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

from tools._record import RecordView, Resource, cc_text, ref_of, view_of
from tools.evidence import EvidenceItem, EvidenceSet, build_evidence
from tools.tokens import TokenCounter, token_counter
from tools.trends import Trend, lab_trends

__all__ = ["DEFAULT_BUDGET", "Summary", "summarize"]

DEFAULT_BUDGET = 2000
_KEY_PRIORITY = 15  # measures up to this priority (tools.codes) are "key" labs/vitals
# First-pass line quotas per block (then the rest in priority order): see ``summarize``.
_QUOTA = {"problems": 10, "medications": 10, "allergies": 6, "abnormal": 8, "encounters": 3,
          "care": 3, "labs": 4, "procedures": 2, "immunizations": 2, "past_problems": 3,
          "past_medications": 3}  # fmt: skip


@dataclass
class Line:
    """One statement: its text, the evidence handles and FHIR references behind it."""

    text: str
    handles: list[str] = field(default_factory=list)
    refs: list[str] = field(default_factory=list)


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
        for c in item.citations:
            index.setdefault((c.reference, c.path), item.handle)
    return index


def _first_ref(item: EvidenceItem) -> list[str]:
    return [item.citations[0].reference] if item.citations else [item.reference]


def problem_lines(ev: EvidenceSet, active: bool) -> list[Line]:
    """Active (or resolved) conditions: name, onset, cited to the onset instance."""
    out = []
    for item in ev.section("conditions"):
        if (item.status == "active") != active:
            continue
        first = item.citations[0] if item.citations else None
        n = len(item.citations)
        if active:
            onset = f", since {first.date}" if first and first.date else ""
            text = f"{item.value}{onset}" + (f" (recorded ×{n})" if n > 1 else "")
            refs = [first.reference] if first else [item.reference]
        else:
            last = item.citations[-1] if item.citations else None
            text = f"{item.value}, {'last ' if n > 1 else ''}onset {last.date if last else '?'}"
            text += f" (×{n})" if n > 1 else ""
            refs = [last.reference] if last else [item.reference]
        out.append(Line(text, [item.handle], refs))
    return out


def medication_lines(ev: EvidenceSet, current: bool) -> list[Line]:
    """Current (or past) medications with dosage and reason, cited to the orders."""
    out = []
    for item in ev.section("medications"):
        if (item.status == "current") != current:
            continue
        last = item.citations[-1] if item.citations else None
        since = f"last recorded {last.date}" if last and last.date else ""
        text = "; ".join(x for x in [str(item.value), since, *item.details] if x)
        out.append(Line(text, [item.handle], [item.reference]))
    return out


def allergy_lines(ev: EvidenceSet) -> list[Line]:
    """Allergies with criticality, status and reactions."""
    return [Line(i.text, [i.handle], list(i.references)) for i in ev.section("allergies")]


def trend_line(t: Trend, index: dict[tuple[str, str], str], compact: bool = True) -> Line:
    """A trend's summary line, cited to the points it states (latest, first, min, max)."""
    cited = [p for p in (t.latest, t.first, t.min, t.max) if p is not None]
    if len(t.points) >= 2:
        cited.append(t.points[-2])
    refs = list(dict.fromkeys(p.ref for p in cited))
    handles = list(dict.fromkeys(index[(p.ref, p.path)] for p in cited if (p.ref, p.path) in index))
    return Line(t.compact_line() if compact else t.summary_line(), handles, refs)


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
        reasons = [cc_text(c) for c in r.get("reasonCode") or []]
        reasons += [view.ref_display(x) for x in r.get("reasonReference") or []]
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
        if item.text.startswith("Care team"):
            continue
        if item.status in ("active", "accepted", "planned", "proposed", "on-hold"):
            out.append(Line(item.text, [item.handle], [item.reference]))
    return out


def recent_lines(ev: EvidenceSet, section: str, n: int) -> list[Line]:
    """The ``n`` most recent items of a folded section (procedures, immunizations)."""
    items = sorted(ev.section(section), key=lambda i: (i.date or "", i.handle), reverse=True)
    out = []
    for item in items[:n]:
        last = max(item.citations, key=lambda c: c.date or "") if item.citations else None
        count = f" (×{len(item.citations)})" if len(item.citations) > 1 else ""
        when = f"last {last.date}" if last and last.date else "undated"
        out.append(
            Line(
                f"{item.value}{count}, {when}",
                [item.handle],
                [last.reference if last else item.reference],
            )
        )
    return out


def _blocks(view: RecordView, ev: EvidenceSet, trends: Sequence[Trend]) -> list[Block]:
    index = handle_index(ev)
    abnormal = [t for t in trends if t.abnormal or (t.changing and t.priority <= _KEY_PRIORITY)]
    normal = [t for t in trends if t not in abnormal]
    allergies = allergy_lines(ev)
    if not allergies and view.patient is not None:
        allergies = [Line("No allergies recorded (no AllergyIntolerance in the record)", [], [])]
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
            recent_lines(ev, "procedures", 5),
            "evidence section procedures",
            len(ev.section("procedures")),
        ),
        Block(
            "immunizations",
            "Immunizations (most recent)",
            recent_lines(ev, "immunizations", 5),
            "evidence section immunizations",
            len(ev.section("immunizations")),
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
        """Greedy in two passes: first up to each block's quota (so a long problem list
        cannot crowd out medications and allergies), then the rest, in priority order."""
        used = fixed_cost
        chosen: dict[str, list[Line]] = {}
        for quota_pass in (True, False):
            for b in blocks:
                take = chosen.setdefault(b.key, [])
                limit = _QUOTA.get(b.key, 3) if quota_pass else len(b.lines)
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
                    break  # keep strict priority order in the second pass
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
    return Summary(text, citations, handles, tokens, budget, counter.name, counter.exact, omitted)


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

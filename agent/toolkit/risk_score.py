"""``risk_score``: a clinical score computed by code from the record (:mod:`tools.scores`),
said with the points each criterion earns and the entries it rests on, cited; what the
score needs and the record does not hold is said as not found, never assumed."""

from __future__ import annotations

import re

from pydantic import Field

from tools.brief import plain
from tools.evidence import SearchScope, item_concepts
from tools.scores import Score, cha2ds2_vasc
from tools.terminology import default_terminology

from ..context import AgentContext
from ..errors import ToolCallError
from ..guard import scrub
from ._base import ANY_ASK, Tool, ToolArgs, ToolResult, absence, ensure_evidence

__all__ = ["SCORES", "TOOL", "RiskScoreArgs", "risk_score"]

#: the scores this tool computes, by the names people write them ("chads", "CHA2DS2-VASc")
SCORES: dict[str, re.Pattern[str]] = {
    "CHA2DS2-VASc": re.compile(
        r"\bcha2?ds2?[-\s]?vasc\b|\bcha₂ds₂[-\s]?vasc\b|\bchads(?:[-\s]?vasc|2|₂)?\b"
        # "her stroke risk" (the score estimates it in atrial fibrillation)
        r"|\bstroke risk\b|\brisk (?:of|for) (?:a )?stroke\b",
        re.I,
    ),
}


class RiskScoreArgs(ToolArgs):
    name: str = Field(max_length=40, description="one of " + ", ".join(SCORES))


def _said(score: Score, age: int | None) -> str:
    met = []
    for c in score.criteria:
        if not c.points:
            continue
        if c.items:
            first = c.items[0]
            since = first.points[0].day[:10] if first.points and first.points[0].day else ""
            what = f"{plain(first.name)}" + (f", since {since}" if since else "")
            met.append(f"{c.name} +{c.points} ({what})")
        elif c.label.startswith("age") and age is not None:
            met.append(f"{c.label} +{c.points} (age {age})")
        else:
            met.append(f"{c.label} +{c.points}")
    unmet = [c.name for c in score.criteria if not c.points and c.weight]
    unmet = [u for u in unmet if not u.startswith("age") and u != "female sex"]
    text = f"{score.name} score from the record: {score.total}"
    if met:
        text += " — " + "; ".join(met)
    if unmet:
        text += "; not found in the record: " + ", ".join(unmet)
    if score.missing:
        text += "; the record does not give " + " or ".join(score.missing)
    return text


async def risk_score(ctx: AgentContext, args: RiskScoreArgs) -> ToolResult:
    wanted = next((n for n, p in SCORES.items() if p.search(args.name) or n == args.name), None)
    if wanted is None:
        raise ToolCallError(f"risk_score computes {', '.join(SCORES)}; not {args.name!r}")
    ev = await ensure_evidence(ctx)
    term = ctx.terminology or default_terminology()
    score = cha2ds2_vasc(ev, term)
    demo = score.patient.demographics if score.patient else None
    said = scrub(_said(score, demo.age if demo else None), ctx.patient_id)
    items = [i for c in score.criteria for i in c.items[:1]]
    if score.patient is not None:
        items.insert(0, score.patient)
    result = ToolResult([])
    for item in dict.fromkeys(items):
        result.lines.append(scrub(item.line, ctx.patient_id))
        result.add(ctx, item)
    handles = [i.handle for i in dict.fromkeys(items)]
    result.lines.append(f"computed: {said} [{', '.join(handles)}]")
    statements = [(said, handles)]
    af = term.concept("atrial_fibrillation")
    if af is not None and not any(
        i.kind == "condition" and any(term.implies(c, af) for c in item_concepts(i, term))
        for i in ev.items
    ):  # the score is of stroke risk in atrial fibrillation
        none = absence(
            ctx,
            ev,
            SearchScope(resource_types=("Condition",), name=af.name),
            "Atrial fibrillation",
        )
        result.lines.append(none.line)
        result.add(ctx, none)
        statements.append(
            (
                "No atrial fibrillation is on the record (the score estimates the stroke risk "
                "of atrial fibrillation)",
                [none.handle],
            )
        )
    result.statements.extend(statements)
    result.leads[ANY_ASK] = list(statements)  # what the score is, whatever is asked of it
    return result


TOOL = Tool(
    "risk_score",
    RiskScoreArgs,
    risk_score,
    "a clinical score computed from the record, each point cited (CHA2DS2-VASc)",
)

"""``record_summary``: every evidence item of one section of the record (an absence item
when the section is empty: "no allergies recorded" rests on it)."""

from __future__ import annotations

from pydantic import Field

from tools.brief import last_visit_lines, plain, sentence_case
from tools.evidence import SECTIONS, EvidenceItem, SearchScope
from tools.summary import after_death_line, handle_index
from tools.trends import lab_trends

from ..context import AgentContext
from ..errors import ToolCallError
from ..guard import scrub
from ._base import Tool, ToolArgs, ToolResult, absence, bounded, ensure_evidence, statement

__all__ = ["SECTION_TYPES", "TOOL", "RecordSummaryArgs", "record_summary"]

#: The FHIR resource types behind each evidence section (what an empty section searched).
SECTION_TYPES: dict[str, tuple[str, ...]] = {
    "patient": ("Patient",),
    "conditions": ("Condition",),
    "medications": (
        "MedicationRequest",
        "MedicationStatement",
        "MedicationDispense",
        "MedicationAdministration",
    ),
    "allergies": ("AllergyIntolerance",),
    "labs": ("Observation",),
    "vitals": ("Observation",),
    "observations": ("Observation",),
    "reports": ("DiagnosticReport",),
    "encounters": ("Encounter",),
    "procedures": ("Procedure",),
    "immunizations": ("Immunization",),
    "care_plans": ("CarePlan", "Goal", "CareTeam"),
    "notes": ("DocumentReference", "DiagnosticReport"),
    "images": ("Media", "DocumentReference", "DiagnosticReport", "ImagingStudy"),
    "other": ("FamilyMemberHistory", "Device"),
}


#: what a section holds, as its "nothing found" says it
_WHAT = {"other": "family history or devices", "care_plans": "care plans, goals or care teams"}

#: sections the tool derives from the others: the last visit and what changed at it
_DERIVED = ("last_visit",)


class RecordSummaryArgs(ToolArgs):
    section: str = Field(max_length=40, description="one of " + ", ".join([*SECTIONS, *_DERIVED]))


async def record_summary(ctx: AgentContext, args: RecordSummaryArgs) -> ToolResult:
    section = args.section.lower()
    if section == "last_visit":
        return await _last_visit(ctx)
    if section not in SECTIONS:
        raise ToolCallError(f"section must be one of {', '.join([*SECTIONS, *_DERIVED])}")
    ev = await ensure_evidence(ctx)
    what = _WHAT.get(section, section.replace("_", " "))
    items = ev.section(section)
    # who pays is said when asked ("what insurance?"), not with every demographic
    shown = [i for i in items if i.kind != "coverage"]
    result = bounded(ctx, shown, what, SearchScope(resource_types=SECTION_TYPES[section]))
    if section == "patient":
        result.leads.update(_vital_leads(ctx, items))
        if (
            "death" in result.leads
            and ctx.cache.view is not None
            and (check := after_death_line(ctx.cache.view, ev))
        ):  # "when did he die?": and the entries the record dates after it, to verify
            for h in check.handles:
                result.add(ctx, ev.get(h))
            for ask in ("death", "dead"):
                result.leads[ask].append((scrub(check.text, ctx.patient_id), list(check.handles)))
        for cover in (i for i in items if i.kind == "coverage"):
            result.add(ctx, cover)
    if section == "allergies":
        _active_allergies_first(ev.section(section), result)
        if judged := _serious_allergies(ctx, ev.section(section)):
            result.leads["judge"] = judged  # "any severe allergies?"
    return result


def _serious(item: EvidenceItem) -> bool:
    return item.criticality == "high" or "severe" in item.reaction_severities


def _serious_allergies(ctx: AgentContext, items: list[EvidenceItem]) -> list[tuple[str, list[str]]]:
    """ "Any severe allergies?", "are her allergies serious?": the active allergies recorded
    as high criticality or with a severe reaction, each said; else that none is, with
    those whose criticality and reaction severity the record leaves unsaid (then their
    severity is not known), and each allergy as recorded."""
    active = [i for i in items if i.kind == "allergy" and i.status not in _NO_LONGER]
    if not active:
        return []
    serious = [i for i in active if _serious(i)]
    if serious:
        return [
            (scrub(f"Yes — {statement(serious[0])}", ctx.patient_id), [serious[0].handle]),
            *((scrub(statement(i), ctx.patient_id), [i.handle]) for i in serious[1:]),
        ]
    n = len(active)
    whole = f"none of the {n} active allergies is" if n > 1 else "the one active allergy is not"
    ungraded = [
        i for i in active if i.criticality not in ("low", "high") and not i.reaction_severities
    ]
    said = f"No — {whole} recorded as high criticality or with a severe reaction"
    if ungraded:
        k = len(ungraded)
        said = (
            f"{sentence_case(whole)} recorded as high criticality or with a severe reaction, but "
            f"{k} {'has' if k == 1 else 'have'} no criticality or reaction severity recorded "
            "(their severity is not known)"
        )
    return [
        (scrub(said, ctx.patient_id), [i.handle for i in active]),
        *((scrub(statement(i), ctx.patient_id), [i.handle]) for i in active),
    ]


async def _last_visit(ctx: AgentContext) -> ToolResult:
    """The last visit and what changed in the record since the visit before it (problems
    begun or resolved, medications ordered, key results out of range at it), as the
    brief's "Last visit" says it (:func:`tools.brief.last_visit_lines`): "what happened at
    her last visit?", "what changed since the last visit?"."""
    ev = await ensure_evidence(ctx)
    index = handle_index(ev)
    lines = last_visit_lines(
        ev, lab_trends(ctx.cache.record or [], as_of=ctx.as_of or ev.as_of), index
    )
    result = ToolResult([])
    for ln in lines:
        for h in ln.handles:
            result.add(ctx, ev.get(h))
        result.statements.append((scrub(ln.text, ctx.patient_id), list(ln.handles)))
    if not lines:
        none = absence(ctx, ev, SearchScope(resource_types=SECTION_TYPES["encounters"]), "visits")
        result.add(ctx, none)
        result.statements = [(none.text, [none.handle])]
    result.lines = [f"{t} [{', '.join(hs)}]" for t, hs in result.statements]
    result.leads["latest"] = list(result.statements)
    return result


_NO_LONGER = ("inactive", "resolved")


def _active_allergies_first(items: list[EvidenceItem], result: ToolResult) -> None:
    """Said for "known allergies?": each active allergy (or one without a status), then how
    many more are recorded as no longer active, in one sentence citing them (each is still a
    line the planner sees, marked with its status). When none is active, each is said."""
    past = {i.handle for i in items if i.status in _NO_LONGER}
    if not past or len(past) == len(items):
        return
    kept = [(text, hs) for text, hs in result.statements if not set(hs) & past]
    n = len(past)
    said = f"{n} more {'allergy is' if n == 1 else 'allergies are'} recorded as no longer active."
    result.statements = [*kept, (said, [i.handle for i in items if i.handle in past])]


def _vital_leads(
    ctx: AgentContext, items: list[EvidenceItem]
) -> dict[str, list[tuple[str, list[str]]]]:
    """The patient's entry said for "date of death?" (the death first, not the birth),
    "is she alive?" (as far as the record says), "male or female?", "when was she
    born?" (that fact first, not the whole demographic line) and "who is her PCP?" (the
    general practitioner the Patient names, or that it names none)."""
    out: dict[str, list[tuple[str, list[str]]]] = {}
    for i in items:
        d = i.demographics
        if i.kind != "patient" or d is None:
            continue
        if d.deceased and d.death_date:
            age = f", at age {d.age}" if d.age is not None else ""
            said = f"{plain(i.name)} died on {d.death_date}{age}."
            out["death"] = [(scrub(said, ctx.patient_id), [i.handle])]
            out["dead"] = [(scrub(f"Yes — {said}", ctx.patient_id), [i.handle])]
            out["alive"] = [(scrub(f"No — {said}", ctx.patient_id), [i.handle])]
        else:  # (as far as the record says: "has he passed?", "when did he die?")
            none = f"no death is recorded for {plain(i.name)}."
            out["alive"] = [(scrub(f"Yes — {none}", ctx.patient_id), [i.handle])]
            out["dead"] = [(scrub(f"No — {none}", ctx.patient_id), [i.handle])]
            out["death"] = [(scrub(sentence_case(none), ctx.patient_id), [i.handle])]
        if d.gender:  # "male or female?": the record's administrative gender, first
            said = f"{plain(i.name)} is recorded as {d.gender} (administrative gender)."
            out["sex"] = [(scrub(said, ctx.patient_id), [i.handle])]
        gps = ", ".join(d.general_practitioners)
        said = (
            f"The general practitioner on record for {plain(i.name)}: {gps}."
            if gps
            else f"No general practitioner is recorded for {plain(i.name)} "
            "(the Patient resource names none)."
        )
        out["pcp"] = [(scrub(said, ctx.patient_id), [i.handle])]
        who = plain(i.name)
        for ask, held, what, none in (
            ("kin", d.contacts, "Contact on record for", "No contact person (emergency contact "
             "or next of kin) is recorded for"),
            ("phone", d.telecoms, "Phone or e-mail on record for", "No phone number or e-mail "
             "is recorded for"),
            ("address", d.addresses, "Address on record for", "No address is recorded for"),
            ("marital", (d.marital_status,) if d.marital_status else (),
             "Marital status on record for", "No marital status is recorded for"),
            ("language", d.languages or _languages_observed(ctx),
             "Language on record for", "No language is recorded for"),
        ):  # fmt: skip
            said = (
                f"{what} {who}: {'; '.join(held)}."
                if held
                else f"{none} {who} (the Patient resource lists none)."
            )
            out[ask] = [(scrub(said, ctx.patient_id), [i.handle])]
        cover = next((c for c in items if c.kind == "coverage"), None)
        if cover is not None:  # "what insurance does she have?": each Coverage, else
            # the insurers the claims were billed to
            out["insurance"] = [(scrub(f"{cover.text}.", ctx.patient_id), [cover.handle])]
        else:
            said = (
                f"No insurance is recorded for {who} (no Coverage, claim or explanation of "
                "benefit in the record)."
            )
            out["insurance"] = [(scrub(said, ctx.patient_id), [i.handle])]
        if d.birth_date:  # "when was she born?", "how old is he?"
            age = ""
            if d.age is not None and d.deceased:
                age = f", died at age {d.age}" + (f" on {d.death_date}" if d.death_date else "")
            elif d.age is not None:
                age = f", age {d.age}" + (f" on {d.age_at}" if d.age_at else "")
            said = f"{plain(i.name)} was born on {d.birth_date}{age}."
            out["birth"] = [(scrub(said, ctx.patient_id), [i.handle])]
    return out


def _languages_observed(ctx: AgentContext) -> tuple[str, ...]:
    """A preferred language recorded as an observation (LOINC 54899-0), where the Patient
    gives none."""
    ev = ctx.cache.evidence
    if ev is None:
        return ()
    found = (
        p.value_text
        for i in ev.items
        if i.kind == "observation" and any(c.code == _PREFERRED_LANGUAGE for c in i.codings)
        for p in i.points[-1:]
        if p.value_text
    )
    return tuple(dict.fromkeys(found))


#: LOINC "Preferred language"
_PREFERRED_LANGUAGE = "54899-0"

TOOL = Tool(
    "record_summary", RecordSummaryArgs, record_summary, "every entry of one record section"
)

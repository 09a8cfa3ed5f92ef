"""Deterministic prefetch: the tool calls a question obviously needs, run before planning.

A small local model plans tool calls unreliably (it answers from the summary instead of
calling ``lab_trend``, or invents arguments). The calls that can be read off the
question by code are therefore made up front, in parallel, through the same
patient-bound tools, and the planner sees their results. What the question is about
comes from :func:`agent.understand.understand` (the terminology and general patterns,
never a benchmark's wording):

* codes written in the question: LOINC → ``lab_trend(code=…)``; CVX → a search of
  Immunizations; SNOMED / ICD-10 → a search by code;
* each concept it names: a lab, vital or score → ``lab_trend`` (with the question's
  window); a condition or finding → a search of Conditions; a drug or drug class → a
  search of the whole record (medications and allergies); a vaccine → Immunizations; a
  procedure → Procedures; an allergen → AllergyIntolerances; a care setting
  ("hospitalized", "the ER") → the Encounters of that class. A search that finds
  nothing yields a citable *absence* item, which is what a "not in the record" answer
  rests on;
* each record section it asks for (allergies, medications, conditions, immunizations,
  encounters, procedures, vitals, the patient's own demographics): the section, or its *current* entries when the
  question asks what is active now, or the window's entries (counts are the tool's).

Only codes, concept names from the terminology's data, fixed section names, statuses
and dates ever become arguments: no free text of the question reaches a tool.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any

from tools.evidence import EvidenceItem, EvidenceSet, item_concepts, items_of
from tools.terminology import (
    LOINC,
    Concept,
    Terminology,
    control_measures,
    default_terminology,
)

from .toolkit._base import addressed
from .toolkit.risk_score import SCORES
from .understand import Focus, allergen_tests, names_a_section, understand

__all__ = ["CONTEXT", "prefetch_calls"]

#: what a call's ``asks`` is when it says the occasion the question is of, not what it
#: asks ("any abnormal labs at her last visit?": the visit's own search, which says which
#: visit): its latest entry is said, and it answers nothing
CONTEXT = "context"

_LOINC = re.compile(r"(?<![\w.-])(\d{1,7}-\d)(?![\w.-]*\d)")
#: a lab's own code the question gives after the word "code" ("GLUCOSE, BLOOD (code
#: CHEM-GLUB)"): capitals and digits joined by a hyphen or underscore, not a word
_LOCAL_CODE = re.compile(r"\bcode\s*[:#]?\s*([A-Z][A-Z0-9]*(?:[-_][A-Z0-9]+)+)(?![\w-])")
_CVX = re.compile(r"\bCVX\s*(?:code\s*)?[:#]?\s*(\d{1,4})\b", re.I)
_SNOMED = re.compile(r"\b(?:SNOMED(?:[ -]CT)?|SCT)\s*(?:code\s*)?[:#]?\s*(\d{6,18})\b", re.I)
_ICD10 = re.compile(
    r"\bICD-?10(?:-CM)?\s*(?:code\s*)?[:#]?\s*([A-TV-Z]\d{2}(?:\.\w{1,4})?)\b", re.I
)

#: Where a named concept of each kind is searched (a resource type, or ``None``: the
#: whole record).
_SEARCH_TYPE: dict[str, str | None] = {
    "condition": "Condition",
    "finding": "Condition",
    "social": "Condition",
    "drug": None,
    "drug_class": None,
    "vaccine": "Immunization",
    "procedure": "Procedure",
    "substance": "AllergyIntolerance",
    "setting": "Encounter",  # "hospitalized?", "ER visits": the encounters of that class
    "body_site": None,  # "what happened to my ankle?": whatever the record says of it
}
_SERIES = ("lab", "vital", "assessment")
#: the kinds a body site narrows ("surgery on his knee", "pain in her hip")
_OF_A_SITE = frozenset({"condition", "finding", "procedure"})


def _in_setting(words: str) -> re.Pattern[str]:
    """ "last in the ER", "been in (the) hospital": a visit's setting asked of as a place."""
    return re.compile(
        rf"\b(?:last|been|ended up|admitted|seen)\s+(?:in|to|at)\s+(?:the\s+)?{re.escape(words)}",
        re.I,
    )


#: what "anything overdue?" searches beside the labs and vaccines: the cancer screenings
#: (the terminology's group; each judged by the patient's age and sex)
_SCREENINGS = "Cancer screening"


def _screened_for(words: str) -> re.Pattern[str]:
    """A condition tested for ("tested for diabetes", "screened her for it", "diabetes
    screening", "a kidney disease check")."""
    w = re.escape(words)
    return re.compile(
        r"\b(?:test(?:ed)?|screen(?:ed)?|check(?:ed)?)\s+(?:(?:him|her|them|me)\s+)?for\s+"
        rf"(?:(?:her|his|my|their)\s+)?{w}\b"
        rf"|\b{w}\s+(?:screening|screen|tests?|testing|check)\b",
        re.I,
    )


def _observable(concept: Concept) -> bool:
    """A concept coded in LOINC alone is something observed ("smoking status", "preferred
    language"): an Observation's code, whatever the concept's kind (not a Condition)."""
    return bool(concept.codes) and all(c.system == LOINC for c in concept.codes)


def _monitors(concept: Concept, term: Terminology) -> list[Concept]:
    """The labs or vitals that show how a condition is doing (its own, else its nearest
    ancestor's: type 2 diabetes shares diabetes's HbA1c)."""
    todo, seen = [concept], set()
    while todo:
        c = todo.pop(0)
        if c.id in seen:
            continue
        seen.add(c.id)
        if c.monitored_by:
            return [m for mid in c.monitored_by if (m := term.concept(mid)) is not None]
        todo.extend(p for pid in c.parents if (p := term.concept(pid)) is not None)
    return []


def _results_of(
    evidence: EvidenceSet, concept: Concept, term: Terminology
) -> Iterator[EvidenceItem]:
    """The record's observations of the lab or vital that hold a value, numeric or coded
    ("SARS-CoV-2 RNA …: Detected")."""
    return (
        i
        for i in evidence.items
        if i.kind == "observation"
        and (i.values or any(p.value_text for p in i.points))
        and any(term.implies(c, concept) for c in item_concepts(i, term))
    )


def _coded_only(evidence: EvidenceSet | None, concept: Concept, term: Terminology) -> bool:
    """Whether the record holds results of the test and none of them is a number ("covid
    test?": "Detected"): entries to say, not a series to trend."""
    if evidence is None:
        return False
    held = list(_results_of(evidence, concept, term))
    return bool(held) and not any(i.values for i in held)


def _result_days(
    evidence: EvidenceSet, concept: Concept, term: Terminology, *, enough: int | None = None
) -> int:
    """On how many days the record holds a result of the lab or vital (counting stops at
    ``enough``)."""
    days: set[str | None] = set()
    for i in _results_of(evidence, concept, term):
        days.update(p.day for p in i.points)
        if enough is not None and len(days) >= enough:
            break
    return len(days)


def _has_results(evidence: EvidenceSet | None, concept: Concept, term: Terminology) -> bool:
    """Whether the record holds a result of the lab or vital (``True`` when no record is
    given: the search says)."""
    return evidence is None or _result_days(evidence, concept, term, enough=1) > 0


def _as_panel(concept: Concept, term: Terminology, evidence: EvidenceSet | None) -> Concept | None:
    """A coded test the record holds only as reports (a lipid panel, a metabolic panel:
    DiagnosticReports that list their results, no result of the panel's own code): the
    group of tests it belongs to (lipid tests; for a panel of no narrower group, all
    lab tests), else ``None``."""
    if evidence is None or not concept.codes or _has_results(evidence, concept, term):
        return None
    reported = any(
        term.implies(c, concept)
        for i in evidence.items
        if i.kind == "report"
        for c in item_concepts(i, term)
    )
    if not reported:
        return None
    return next((p for p in map(term.concept, concept.parents) if p is not None), None)


def _on_record(evidence: EvidenceSet, concept: Concept, term: Terminology) -> bool:
    """Whether the record holds an entry of the condition (any status)."""
    return any(
        term.implies(c, concept)
        for i in evidence.items
        if i.kind == "condition"
        for c in item_concepts(i, term)
    )


def _control(concept: Concept, term: Terminology, evidence: EvidenceSet | None) -> list[Concept]:
    """What shows whether a condition, or the condition a lab or vital monitors, is
    controlled: the condition's first monitor that the record holds results of ("is her
    diabetes controlled?": HbA1c, else glucose; "is his sugar under control?": HbA1c,
    then the glucose named)."""
    if concept.kind in _SERIES:
        found = [m for m in control_measures(term, concept) if _has_results(evidence, m, term)]
        return [*(m for m in found if m.id != concept.id), concept]
    monitors = _monitors(concept, term)
    held = [m for m in monitors if _has_results(evidence, m, term)]
    return held[:1] or monitors


def _call(tool: str, **args: str) -> dict[str, Any]:
    return {"tool": tool, "args": {k: v for k, v in args.items() if v}, "prefetch": True}


def _entries_of(
    focus: Focus, words: str, concept: Concept, rtype: str, window: dict[str, str]
) -> dict[str, Any]:
    """The search of a test's entries of one resource type (its reports, or its coded
    results), not of its series."""
    return _asked(
        focus,
        words,
        concept,
        _call("search_record", resource_type=rtype, name=concept.name, **window),
    )


def _asked(focus: Focus, words: str, concept: Concept, call: dict[str, Any]) -> dict[str, Any]:
    """``call`` with the question's ``words`` it reads (two readings of the same words:
    one found, the other's "nothing found" is no answer) and the statistic its own part
    of the question asks for (``asks``), when the question has several parts."""
    asked = {"asks": focus.part_asks[concept.id]} if concept.id in focus.part_asks else {}
    return {**call, "words": words.lower(), **asked}


def _whole(call: dict[str, Any]) -> dict[str, Any]:
    """A call that returns a whole clinical list (the allergies, the current problems or
    medications): an answer that drew on some of it is completed from it."""
    return {**call, "whole": True}


def _its_entries(concept: Concept, words: str, asks: str) -> dict[str, Any]:
    """The search of a problem's own entries beside what is given or done for it ("how
    was it diagnosed?", "chf - when diagnosed and what meds?"), with words of its own: what
    the other search found, or that it found nothing, is said beside it."""
    return _call("search_record", name=concept.name, resource_type="Condition") | {
        "asks": asks,
        "words": words,
    }


def _done_for(
    focus: Focus,
    words: str,
    concept: Concept,
    term: Terminology,
    evidence: EvidenceSet | None,
    window: dict[str, str],
    done_for: list[Concept],
    with_medications: bool,
) -> list[dict[str, Any]]:
    """The searches of what was done for a problem: its procedures (of a treatment asked,
    not the exams and scans; with the medications, one found is the answer); of "how was
    it diagnosed?", when it was (its first entry), what was done for it or a suspicion of
    it up to then and the results that showed it (the HbA1c of a diabetes, the troponin
    of an infarction); of a treatment, the care plan that addresses it."""
    calls: list[dict[str, Any]] = []
    done = _whole(
        _call(
            "search_record",
            resource_type="Procedure",
            given_for=_treated(concept, term),
            **({"name": done_for[0].name} if done_for else {}),
            **window,
        )
    ) | ({"words": words} if with_medications else {})
    if focus.treated:  # "how was it treated?": not the exams and scans done for it
        done["args"]["treatment"] = "true"
    if focus.workup:
        calls.append(_its_entries(concept, f"{words} (diagnosed)", "first"))
        done["args"]["suspected"] = "true"
        done["words"] = words  # (one found, the other search's "nothing found" is not said)
    calls.append(done)
    if focus.workup:
        calls.extend(
            {**_call("lab_trend", name=m.name, **window), "asks": "latest", "words": words}
            for m in _monitors(concept, term)[:2]
            if _has_results(evidence, m, term)
        )
    if with_medications and _planned_for(evidence, concept, term):
        # "how was the burn treated?": and the plan of care that addresses it
        calls.append(
            _whole(
                _call(
                    "search_record",
                    resource_type="CarePlan",
                    given_for=_treated(concept, term),
                    **window,
                )
            )
            | {"words": words}
        )
    return calls


def _planned_for(evidence: EvidenceSet | None, concept: Concept, term: Terminology) -> bool:
    """Whether a care plan in the record addresses the concept (or a kind of it)."""
    return evidence is not None and any(
        term.implies(c, concept)
        for i in evidence.items
        if i.kind == "care_plan"
        for c in addressed(term, i)
    )


#: a procedure's result asked of ("biopsy result?", "what did the scope show?")
_RESULT_OF = re.compile(r"\bresults?\b|\bfindings?\b|\bpath(?:ology)?\b|\bshow(?:ed)?\W*$", re.I)


def _allergy_said_of(question: str, words: str) -> bool:
    """Whether the question's allergy words are said of the drug ``words`` names
    ("allergic to penicillin?", "sulfa allergy?", "penicillin - any reaction?"), not of
    something else beside it ("bee sting allergy - does she have an epipen?")."""
    w = re.escape(words)
    allergy = r"(?:allerg\w*|intoleran\w*|reactions?|reacted|sensitiv\w*|ADRs?)"
    return bool(
        re.search(rf"{allergy}\s+(?:to\s+|with\s+)?(?:[\w'-]+\s+){{0,3}}?{w}\b", question, re.I)
        or re.search(rf"\b{w}\W*(?:[\w'-]+\W+){{0,3}}?{allergy}", question, re.I)
    )


#: The sections a window narrows, and the resource type searched for them.
_WINDOWED = {
    "medications": "MedicationRequest",
    "conditions": "Condition",
    "immunizations": "Immunization",
    "procedures": "Procedure",
}
#: What naming a concept of a section's kind means: the search of that concept answers.
_KIND_OF = {
    "medications": "drug",
    "conditions": "condition",
    "immunizations": "vaccine",
    "procedures": "procedure",
}


#: the last visit itself, asked of as a whole ("what happened at her last visit?")
_AT_LAST_VISIT = re.compile(
    r"\b(?:at|during|from|since|in|of)\s+(?:her|his|their|my|your|the)\s+(?:last|latest|most "
    r"recent|previous|prior)\s+(?:visit|appointment|encounter|check-?up|consultation)\b",
    re.I,
)
#: "what did the doctor say was wrong with me last time?", "what happened the last time
#: I was in?": the last visit, when the question names nothing else ("what brought her
#: in last time?" asks the visits' reason, the encounters answer)
_LAST_TIME = re.compile(
    r"\b(?:the )?last time (?:I|she|he|they|we|you) (?:was|were|came|saw|visited)\b"
    r"|\blast time\s*\??\s*$",
    re.I,
)

#: a death asked of its cause ("what did he die of?", "why did she die?", "what killed him?")
_CAUSE = re.compile(r"\bdie[ds]? (?:of|from)\b|\bwhy did\b|\bcause\b|\bwhat killed\b", re.I)

#: a test asked of as due ("is she due for a lipid panel?", "next a1c due?")
_DUE = re.compile(r"\b(?:over)?due\b", re.I)

#: whether a condition is controlled, not whether one value is normal
_CONTROL = re.compile(
    r"\b(?:(?:un|well[- ]|poorly |badly )?controlled|(?:under|out of) control|managed"
    r"|at (?:goal|target)|on target|(?:to|within|in|above|below) (?:the )?(?:goal|target))\b",
    re.I,
)

#: medications asked of as begun in a window ("started on", "new meds", "added")
_BEGUN = re.compile(r"\b(?:started|start|new|begun|began|initiated|added|put\s+on)\b", re.I)

#: what a care question asks for by name: the teams, the goals, the plans
_CARE_KINDS = (
    ("CareTeam", re.compile(r"\bcare ?teams?\b", re.I)),
    ("Goal", re.compile(r"\bgoals?\b", re.I)),
    ("CarePlan", re.compile(r"\bplans?\b", re.I)),
)


def _section_calls(
    focus: Focus, named: set[str], sections: list[str], question: str = ""
) -> list[dict[str, Any]]:
    window = focus.window.args() if focus.window else {}
    out = []
    for section in sections:
        rtype = _WINDOWED.get(section)
        if section == "medications" and "drug" not in named and focus.stopped:
            # "what meds did he stop?", "past medications?": the orders no longer current
            # (stopped, completed, ended), by the record's own status; of a window ("what
            # was stopped last year?"), those ordered in it
            out.append(
                _whole(
                    _call(
                        "search_record",
                        resource_type="MedicationRequest",
                        status="past",
                        **window,
                    )
                )
            )
            continue
        if window and rtype and not focus.current and _KIND_OF.get(section) not in named:
            # "what medications was she on in 2015?": the entries of that window (orders
            # written, problems noted, doses given), counted by the tool
            call = _call("search_record", resource_type=rtype, **window)
            if rtype == "MedicationRequest" and _BEGUN.search(question):
                # "what meds was he started on after the heart attack?": those begun then,
                # not those ordered before and still active
                call["args"]["begun"] = "true"
            out.append(call)
            continue
        if section == "allergies" and not named & {"substance", "drug"}:
            # "allergic to latex?" is answered by that search, not by the whole list
            out.append(_whole(_call("record_summary", section="allergies")))
        elif section == "medications" and "drug" not in named:
            if focus.current:
                out.append(
                    _whole(
                        _call("search_record", resource_type="MedicationRequest", status="active")
                    )
                )
            else:
                out.append(_call("record_summary", section="medications"))
        elif section == "conditions" and "condition" not in named:
            if focus.current:
                out.append(
                    _whole(_call("search_record", resource_type="Condition", status="active"))
                )
            else:  # "pmh?", "what problems has she had?": the problem list, resolved too
                out.append(_whole(_call("search_record", resource_type="Condition")))
        elif section == "immunizations" and "vaccine" not in named:
            if "due" in sections:  # "is she up to date on her shots?": each repeated
                # vaccine's last dose against its interval (not the whole list)
                out.append(_call("search_record", resource_type="Immunization"))
            else:  # "what vaccines has he had?": the immunization history, as recorded
                out.append(_whole(_call("record_summary", section="immunizations")))
        elif section == "procedures" and "procedure" not in named:
            out.append(_call("record_summary", section="procedures"))
        elif section == "encounters" and "setting" not in named:
            if window:
                out.append(_call("search_record", resource_type="Encounter", **window))
            else:
                out.append(_call("record_summary", section="encounters"))
        elif section == "labs" and "due" in sections:
            continue  # "is she up to date on her labs?": the labs past their interval (due)
        elif section in ("labs", "vitals") and focus.judge and "lab" not in named:
            # "any abnormal labs?": each result out of range, against its range
            out.append(_whole(_call("lab_trend", out_of_range="true", **window)))
        elif section == "labs" and not named & {"lab", "observation", "procedure"}:
            # ("echo results?": the procedure's, not every lab)
            if window:  # "her labs in the past 6 months": the results of that window
                out.append(_call("search_record", resource_type="Observation", **window))
            else:
                out.append(_call("record_summary", section="labs"))
        elif section == "vitals":
            out.append(_call("record_summary", section="vitals"))
        elif section == "due" and not named:
            # "anything overdue?": the key labs past their retest interval, the
            # vaccines given again every so often (flu yearly, tetanus every 10 years)
            # ("up to date on her shots?" asks the vaccines only; "… on her labs?" the labs)
            if "immunizations" not in sections:
                out.append(_call("lab_trend", overdue="true"))
            if "labs" not in sections and "immunizations" not in sections:
                out.append(_call("search_record", resource_type="Immunization"))
                # and the cancer screenings, by her age and sex (USPSTF)
                out.append(_call("search_record", resource_type="Procedure", name=_SCREENINGS))
        elif section == "patient":
            # (dated by the death: "his last A1c before he died": when he died, beside it)
            asks = {"asks": "death"} if focus.by_death else {}
            out.append({**_call("record_summary", section="patient"), **asks})
        elif section == "family":  # family history: FamilyMemberHistory (with devices)
            out.append(_whole(_call("record_summary", section="other")))
        elif section == "devices":
            out.append(_whole(_call("search_record", resource_type="Device")))
        elif section == "notes":  # "what did the last note say?": the notes, latest first
            out.append(_call("record_summary", section="notes"))
        elif section == "care_plans":  # "who is on her care team?": the teams; "her
            # goals?": the goals; else the plans, goals and teams, as recorded
            asked = [t for t, said in _CARE_KINDS if said.search(question)]
            out.extend(_whole(_call("search_record", resource_type=t)) for t in asked)
            if not asked:
                out.append(_whole(_call("record_summary", section="care_plans")))
    return out


#: what joins two things asked of in one list ("amputations or surgeries?")
_JOINED = re.compile(r"\s*(?:,|or|and|and/or|&)\s*(?:(?:any|other|her|his|my|their)\s+)*", re.I)


def _listed(question: str, first: str, second: str) -> bool:
    """Whether the question names two things one after the other in a list ("any
    amputations or surgeries?", "surgeries and amputations?"): each is asked of, the
    broader as well as the one it includes."""
    q = question.lower()
    for a, b in ((first.lower(), second.lower()), (second.lower(), first.lower())):
        i, j = q.find(a), q.find(b)
        if i >= 0 and i + len(a) <= j and _JOINED.fullmatch(q[i + len(a) : j]):
            return True
    return False


def _treated(concept: Concept, term: Terminology) -> str:
    """What a thing is treated for, by name: a condition itself; a result that monitors
    one condition, that condition ("is she on anything for her cholesterol?": for
    hyperlipidemia, not for "Total cholesterol")."""
    if concept.kind in ("lab", "vital") and len(concept.monitors) == 1:
        treated = term.concept(concept.monitors[0])
        if treated is not None:
            return treated.name
    if concept.kind == "lab" and not concept.monitors:
        # a group of tests ("is she on anything for her kidneys?": the kidney function
        # tests): the condition its tests monitor that includes every other they do
        # (kidney disease: chronic kidney disease is one), if there is one
        monitors = [
            m
            for cid in term.descendants(concept)
            if (d := term.concept(cid)) is not None
            for cm in d.monitors
            if (m := term.concept(cm)) is not None
        ]
        broadest = [m for m in monitors if all(term.implies(o, m) for o in monitors)]
        if broadest:
            return broadest[0].name
    return concept.name


def prefetch_calls(
    question: str,
    evidence: EvidenceSet | None = None,
    *,
    limit: int = 4,
    terminology: Terminology | None = None,
    as_of: dt.date | None = None,
    previous: Focus | None = None,
    focus: Focus | None = None,
) -> list[dict[str, Any]]:
    """The tool calls to run before planning (``{"tool", "args", "prefetch": True}``);
    ``focus``: the question already read by :func:`agent.understand.understand`."""
    term = terminology or default_terminology()
    day = as_of or (evidence.as_of if evidence is not None else dt.date.today())
    if focus is None:
        focus = understand(
            question, terminology=term, as_of=day, evidence=evidence, previous=previous
        )
    window = focus.window.args() if focus.window else {}
    calls: list[dict[str, Any]] = []
    codes = list(dict.fromkeys([*_LOINC.findall(question), *_LOCAL_CODE.findall(question)]))
    calls.extend(_call("lab_trend", code=c, **window) for c in codes[:2])
    named: set[str] = {"lab"} if codes else set()  # "Calcium (LOINC 49765-1) results"
    for cvx in dict.fromkeys(_CVX.findall(question)):
        calls.append(_call("search_record", resource_type="Immunization", code=f"CVX {cvx}"))
        named.add("vaccine")
    for sct in dict.fromkeys(_SNOMED.findall(question)):
        calls.append(_call("search_record", code=f"SNOMED {sct}"))
    for icd in dict.fromkeys(_ICD10.findall(question)):
        calls.append(_call("search_record", code=f"ICD10CM {icd}"))
    for score, said in SCORES.items():  # "what's her CHA2DS2-VASc?": computed by code
        if said.search(question):
            calls.append({**_call("risk_score", name=score), "asks": "score"})
    sections_words = set(focus.sections)
    concepts = focus.concepts
    # "is she due for a lipid panel?", "a1c overdue?": a named lab's last result against
    # its usual retest interval
    due_asked = "due" in sections_words or bool(_DUE.search(question))
    at_visit = _AT_LAST_VISIT.search(question)
    if (
        at_visit
        and not at_visit.group(0).lower().startswith("since")
        and concepts
        and all(w.lower() in at_visit.group(0).lower() for w, _c in concepts)
    ):  # "did they find anything wrong at my last checkup?": of the visit as a whole
        concepts = []
    # a body site beside what is asked of it ("surgery on his knee?", "knee pain?"): that
    # thing, of the site; a site alone: whatever the record says of it
    sites = [c for _w, c in concepts if c.kind == "body_site"]
    others = [c for _w, c in concepts if c.kind in _OF_A_SITE]
    # "was the cut on his hand sutured?": the site is the cut's, not the suture's
    site_of_topic = bool(sites) and any(
        c.kind != "body_site" and c.id in focus.topic for _w, c in concepts
    )
    done_for = [  # "did he have surgery for the colon cancer?": the surgeries whose reason
        # names it, not every surgery and every procedure done for it
        c for _w, c in concepts if c.kind == "procedure" and c.id not in focus.given_for
    ] if "procedures" in sections_words and focus.given_for else []  # fmt: skip
    # "was he hospitalized for his breathing?", "any ER visits for chest pain?", "visits
    # for her diabetes?": the visits (of that setting) whose reason names it, not the
    # setting's every visit and the condition's entries beside them
    seen_for: list[Concept | None] = (
        [c for _w, c in concepts if c.kind == "setting" and c.id not in focus.given_for]
        or ([None] if "encounters" in sections_words else [])
        if focus.given_for and not sections_words & {"medications", "procedures"}
        else []
    )
    # a combination named by one word ("Bactrim": sulfamethoxazole and trimethoprim): one
    # search by that word, not one for each ingredient saying the same thing twice
    combos = {
        w for w, c in concepts
        if c.kind == "drug" and sum(1 for v, d in concepts if v == w and d.kind == "drug") > 1
    }  # fmt: skip
    combo_searched: set[str] = set()
    # "was he screened for diabetes?", "any diabetes screening?": the conditions tested for
    screened = {
        w for w, c in concepts if c.kind == "condition" and _screened_for(w).search(question)
    }
    for words, concept in concepts:
        kind = concept.kind
        if concept in done_for or (seen_for and concept in seen_for):
            continue
        if kind == "procedure" and not concept.codes[1:] and screened - {words}:
            continue  # "any diabetes screening?": the tests for it (below), not any screening
        if seen_for and concept.id in focus.given_for:
            setting = seen_for[0]
            calls.append(
                _whole(
                    _call(
                        "search_record",
                        resource_type="Encounter",
                        given_for=_treated(concept, term),
                        **({"name": setting.name} if setting is not None else {}),
                        **window,
                    )
                )
            )
            named.update(("setting", "condition"))
            continue
        if (
            "medications" in sections_words
            and concept.id in focus.given_for
            # ("what antibiotic did she get for the uti?": the class's, searched below,
            # not everything given for it)
            and not any(c.kind == "drug_class" for _w, c in concepts)
        ):
            # "what is she taking for her blood pressure?", "hypertension meds?": the
            # medications given for it (by their orders' reasons or their class)
            # (asked in the past tense: "what was the strep throat treated with?", any status)
            status = {} if window or focus.asks == "ever" or focus.past else {"status": "active"}
            if kind in ("condition", "finding") and concept.id in focus.part_asks:
                # a part of its own asks of the problem ("chf - when diagnosed and what
                # meds?", "is she diabetic, and what is she on for it?"): its entries (the
                # first, unless that part asks otherwise), then what is given for it
                of_part = focus.part_asks[concept.id]
                asks = of_part if of_part in ("first", "latest", "yesno") else "first"
                calls.append(_its_entries(concept, f"{words.lower()} (itself)", asks))
                named.add("condition")
            # (with its procedures, below: "how was the fracture treated?", one of the two
            # found is the answer, and the other's "nothing found" is not said)
            both = (
                {"words": words}
                if "procedures" in sections_words
                or sum(1 for w, _c in concepts if w == words) > 1  # "memory problems":
                # dementia and memory impairment, one of the two found is the answer
                else {}
            )
            calls.append(
                _whole(
                    _call(
                        "search_record",
                        resource_type="MedicationRequest",
                        given_for=_treated(concept, term),
                        **status,
                        **window,
                    )
                )
                | both
            )
            named.add("drug")
            if "procedures" not in sections_words:
                continue
        if "procedures" in sections_words and concept.id in focus.given_for:
            # (and the medications, above: "what did they do for her ankle sprain?")
            # "what procedures did he have for the cancer?": those whose reason names it
            medications = "medications" in sections_words
            calls.extend(
                _done_for(focus, words, concept, term, evidence, window, done_for, medications)
            )
            named.add("procedure")
            continue
        if any(
            o is not concept
            and w != words
            and term.implies(o, concept)
            and not term.implies(concept, o)  # two drugs of one combination product
            and not _listed(question, w, words)
            # (each asked in a part of its own: "on a statin, and why was the simvastatin
            # stopped?")
            and focus.part_asks.get(o.id) == focus.part_asks.get(concept.id)
            for w, o in focus.concepts
        ):
            continue  # a broader word for something named more precisely ("disorder")
        if (
            not concept.codes
            and not concept.parents
            and kind not in _SERIES
            and kind != "drug_class"  # a class of its members ("rate control"), by is-a
            and (codes or focus.sections)
        ):
            continue  # a category word ("immunization"), not what is asked
        if kind in _SERIES:
            if codes or (concept.id == "lab_test" and "labs" in sections_words):
                continue
            if focus.asks == "judge" and _CONTROL.search(question):
                # "is his sugar under control?": what shows the control of the condition
                # it monitors (HbA1c for diabetes, LDL for hyperlipidemia), then itself
                calls.extend(
                    _call("lab_trend", name=m.name, **window)
                    for m in _control(concept, term, evidence)
                    if m.id != concept.id
                )
            panel = _as_panel(concept, term, evidence)
            if panel is not None:
                # "last lipid panel?": the record holds the panel as a report of its
                # results, not as a result: the reports (their dates), and the results
                # of the group of tests it belongs to (LDL, HDL, …)
                if not due_asked:  # (asked when due, its tests' intervals say it)
                    calls.append(_entries_of(focus, words, concept, "DiagnosticReport", window))
                if panel.id != "lab_test":
                    due = {"overdue": "true"} if due_asked else {}
                    calls.append(_call("lab_trend", name=panel.name, **due, **window))
                named.add("lab")
                continue
            if _coded_only(evidence, concept, term):
                # "covid test?": results the record codes ("Detected"), no numbers to trend
                calls.append(_entries_of(focus, words, concept, "Observation", window))
                named.add("lab")
                continue
            due = {"overdue": "true"} if due_asked else {}  # "when is her next a1c
            # due?": its last result against its usual interval
            call = _asked(
                focus, words, concept, _call("lab_trend", name=concept.name, **due, **window)
            )
            if focus.recent:  # "her last 3 A1cs": that many of the latest, most recent first
                call = {
                    **call,
                    "args": {**call["args"], "last": str(focus.recent)},
                    "asks": "recent",
                }
            elif threshold := focus.part_thresholds.get(concept.id, focus.threshold):
                # "ldl > 100?", "any potassium over 5?", "ldl > 100 and a1c > 7?": against it
                call = {**call, "args": {**call["args"], "threshold": threshold}}
            calls.append(call)
            named.add("lab")
            continue
        if _observable(concept):  # "smoking status": an Observation's code and its value
            args = {"name": concept.name, **window}
            calls.append(
                _asked(
                    focus,
                    words,
                    concept,
                    _call("search_record", resource_type="Observation", **args),
                )
            )
            if any(  # "alcohol use": also alcoholism on the problem list
                (d := term.concept(cid)) is not None and d.kind in ("condition", "finding")
                for cid in term.descendants(concept)
            ):
                calls.append(
                    _asked(
                        focus,
                        words,
                        concept,
                        _call("search_record", resource_type="Condition", **args),
                    )
                )
            named.add("observation")
            continue
        if kind not in _SEARCH_TYPE:
            continue
        if (
            kind == "setting"
            and "encounters" in sections_words
            and not _in_setting(words).search(question)
        ):
            continue  # "was her last visit an ER visit or a clinic visit?": the visits say,
            # each with its setting ("when was he last in the ER?" asks the ER's)

        if kind == "condition" and "immunizations" in sections_words and not named & {"vaccine"}:
            continue  # "vaccinated against pneumonia?": the vaccines answer, not her diagnoses
        if (
            kind == "condition"
            and any(s in sections_words for s in ("allergies", "conditions"))
            and not concept.codes
            and names_a_section(words)
        ):
            continue  # a section word ("problems", "allergies"), not "cardiac problems"
        if concept.recorded_as == "allergy_list":  # "any drug allergies?": the list says,
            sections_words.add("allergies")  # each entry with its category (medication …)
            continue
        rtype = _SEARCH_TYPE[kind]
        if concept.recorded_as == "encounter":  # "his last physical": a visit, by its type
            rtype = "Encounter"
        elif concept.recorded_as == "anywhere":  # "code status?": an entry, an observation,
            rtype = None  # a document or a consent: the whole record
        if (
            kind in ("drug", "drug_class")
            and "allergies" in sections_words
            and _allergy_said_of(question, words)
        ):  # "allergic to penicillin?": not her prescriptions (but "bee sting allergy -
            rtype = "AllergyIntolerance"  # does she have an epipen?": the prescription)
        if kind == "body_site" and others:
            continue  # "surgery on his knee?": the surgeries of the knee (site= below)
        args = {"name": concept.name, **window}
        given = (
            next((g for cid in focus.given_for if (g := term.concept(cid))), None)
            if kind == "drug_class"
            else None
        )
        if given is not None:  # "what chemo for the lung cancer?": those of the class
            args["given_for"] = _treated(given, term)  # given for it, not all
        if words in combos:
            if words in combo_searched:
                continue
            combo_searched.add(words)
            args["name"] = next(  # as the terminology spells it ("Bactrim")
                (n.lstrip("=") for n in concept.synonyms if n.lstrip("=").lower() == words.lower()),
                words,
            )
        if rtype:
            args["resource_type"] = rtype
        if sites and kind in _OF_A_SITE and not (kind == "procedure" and site_of_topic):
            args["site"] = sites[0].name
        if kind == "condition" and words in screened:
            # "was he screened for diabetes?", "any diabetes screening?": the tests that
            # show it (HbA1c, glucose), first, then the entry (or none)
            calls.extend(
                {**_call("lab_trend", name=m.name, **window), "asks": "latest"}
                for m in _monitors(concept, term)
            )
        entry = _asked(focus, words, concept, _call("search_record", **args))
        if concept.id in focus.topic:  # "stroke - any clot retrieval?": the stroke as it
            entry = {**entry, "topic": True}  # stands, no "Yes —" of its own
        if kind == "condition" and words in screened:
            entry = {**entry, "asks": None, "whole": True}  # as it stands: no "yes" of it
        calls.append(entry)
        if (
            rtype == "Procedure"
            and _RESULT_OF.search(question)
            and evidence is not None
            and any(
                term.implies(c, concept)
                for i in evidence.items
                if i.kind == "observation"
                for c in item_concepts(i, term)
            )
        ):
            # "prostate biopsy result?", "what did the colonoscopy show?": the procedure,
            # and the observations coded as its result (a biopsy's finding), if any
            calls.append(
                _asked(focus, words, concept, _call("search_record", **args))
                | {"args": {**args, "resource_type": "Observation"}}
            )
        if rtype == "Procedure" and evidence is not None and _on_record(evidence, concept, term):
            # "when did he have his appendix out?": a record may hold only its history, a
            # condition entry ("History of appendectomy")
            args["resource_type"] = "Condition"
            calls.append(_asked(focus, words, concept, _call("search_record", **args)))
        if (
            kind in ("condition", "finding")
            and focus.asks in (None, "yesno")
            and (not window or kind == "finding")
            and evidence is not None
            and not _on_record(evidence, concept, term)
        ):  # "is she overweight?", with no such entry: what shows it (her BMI), judged
            # against its range, beside the search that found none
            shows = [m for m in _monitors(concept, term) if _has_results(evidence, m, term)]
            # ("has he lost weight?", no such entry: his latest weight against the one
            # before; "any weight loss since?": its change over that window)
            asks = ("change" if window else "previous") if kind == "finding" else "judge"
            calls.extend(
                {**_call("lab_trend", name=m.name, **window), "asks": asks} for m in shows[:1]
            )
        if focus.asks == "judge":  # "is her diabetes controlled?": and what shows it
            shown_by = (
                _control(concept, term, evidence)
                if _CONTROL.search(question)
                else _monitors(concept, term)
            )
            if (
                kind in ("condition", "finding")
                and evidence is not None
                and any(_has_results(evidence, m, term) for m in shown_by)
            ):  # its entries are said as they stand, what shows it judged: that is the
                # answer ("is her diabetes controlled?": the diabetes, and the HbA1c
                # against its range and goal), which code says without a model
                entries = next(c for c in reversed(calls) if c["tool"] == "search_record")
                calls[calls.index(entries)] = {**entries, "asks": None, "whole": True}
                # what shows it that the record holds (no "no FEV1 results" beside the
                # FEV1/FVC that shows his COPD)
                shown_by = [m for m in shown_by if _has_results(evidence, m, term)]
            calls.extend(_call("lab_trend", name=m.name, **window) for m in shown_by)
        elif focus.asks == "change" and kind in ("condition", "finding"):
            # "is his diabetes getting worse?", "is her anemia better?": the course of what
            # shows it (the HbA1c, the hemoglobin), beside its entries
            # what shows it whose results make a course (two or more), else what holds one
            monitors = _monitors(concept, term)
            days = {
                m.id: _result_days(evidence, m, term, enough=2) if evidence is not None else 2
                for m in monitors
            }
            held = [m for m in monitors if days[m.id]]
            shows = [m for m in held if days[m.id] >= 2][:1] or held[:1]
            if shows:  # its entries are said as they stand (no statistic of their own)
                entries = next(c for c in reversed(calls) if c["tool"] == "search_record")
                calls[calls.index(entries)] = {**entries, "asks": None, "whole": True}
            calls.extend(
                {**_call("lab_trend", name=m.name, **window), "asks": "change"} for m in shows
            )
        if (
            kind == "substance"
            and focus.asks in (None, "yesno")
            and evidence is not None
            and not items_of(evidence, [concept], term, ("allergies",))
        ):  # "peanut allergy?", none recorded: the allergen's IgE results, beside the
            # search that found none
            calls.extend(
                {**_call("lab_trend", name=t.name, **window), "asks": "latest"}
                for t in allergen_tests([concept], term)
                if _has_results(evidence, t, term)
            )
        if kind == "body_site":  # "any problems with her knees?": not every problem
            named.update(("condition", "procedure"))
        named.add(
            "condition"
            if kind in ("condition", "finding", "social")
            else kind
            if kind != "drug_class"
            else "drug"
        )
    if (
        focus.asks == "death"
        and _CAUSE.search(question)
        and (cause := term.concept("cause_of_death"))
    ):
        # "what did he die of?", "why did she die?": the death certificate's cause too
        calls.append(  # (its recorded value is the answer: no statistic asked of it)
            {**_call("search_record", resource_type="Observation", name=cause.name), "asks": None}
        )
    sections = [*focus.sections, *sorted(sections_words - set(focus.sections))]
    if not concepts and (
        (set(sections) <= {"encounters"} and at_visit)
        or (not sections and _LAST_TIME.search(question))
    ):
        # "what happened at her last visit?", "what changed since the last visit?": the
        # visit and what changed at it (problems, orders, results out of range)
        calls.append(_whole(_call("record_summary", section="last_visit")))
        sections = []
    calls.extend(_section_calls(focus, named, sections, question))
    if (
        at_visit
        and focus.window
        and focus.window.start == focus.window.end  # its day ("since her last visit": not)
        and (set(sections) - {"encounters"} or concepts)
    ):
        # "any abnormal labs at her last visit?": the visit's own search says which visit
        # (its day), not what is asked of the results
        calls = [
            {**c, "asks": CONTEXT}
            if c["tool"] == "search_record"
            and c["args"].get("resource_type") == "Encounter"
            and not c["args"].get("name")
            else c
            for c in calls
        ]
    if focus.asks == "birth" and concepts:
        # "how old was she when she got diabetes?": the age when each entry began
        calls = [
            {**c, "args": {**c["args"], "age_at": "true"}}
            if c["tool"] == "search_record" and c["args"].get("name")
            else c
            for c in calls
        ]
    unique: list[dict[str, Any]] = []
    for c in calls:
        if c not in unique:
            unique.append(c)
    return unique[:limit]

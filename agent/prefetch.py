"""Deterministic prefetch: the tool calls a question obviously needs, run before planning.

A small local model plans tool calls unreliably (a 1.5B model often answers from the
summary instead of calling ``lab_trend``, or invents arguments). The calls that can be
read off the question text by code are therefore made up front, in parallel, through the
same patient-bound tools (``run_tool``), and the planner sees their results with the
summary. The model can still ask for more; prefetching only saves it a round.

Rules (each at most once; at most ``limit`` calls, in this order):

* a LOINC code (``4548-4``) → ``lab_trend(code=…)`` (with ``date_from``/``date_to`` when
  the question gives a window "between 2008-01-01 and 2009-12-31"); else a lab or vital named in the
  question that the trend table knows (``HbA1c``, ``eGFR``, ``blood pressure`` …) →
  ``lab_trend(name=…)``;
* a CVX code (``CVX 49``) → ``search_record(Immunization, code=…)``; a SNOMED code
  (``SNOMED 44054006``) → ``search_record(code=…)``;
* a condition, procedure, immunization, medication or allergy of *this record* whose
  coded name appears in the question (``Colonoscopy``, ``Osteoporosis (disorder)``) →
  ``search_record(<its type>, code=<its code>)`` (arguments from the record, not the text);
* words naming a record section (immunization/vaccine, encounter/visit, procedure,
  medication, allergy, condition/diagnosis) → ``record_summary(section=…)``.

Only codes and fixed section names ever become arguments: no free text of the question
reaches a tool, so a question cannot smuggle a patient id or a query string through here
(the tools would refuse it anyway).
"""

from __future__ import annotations

import re
from typing import Any

from tools.codes import MEASURES
from tools.evidence import EvidenceSet

__all__ = ["prefetch_calls"]

_LOINC = re.compile(r"(?<![\w.-])(\d{1,7}-\d)(?![\w.-]*\d)")
_WINDOW = re.compile(
    r"\b(?:between|from)\s+(\d{4}-\d{2}-\d{2})\s+(?:and|to|until)\s+(\d{4}-\d{2}-\d{2})\b", re.I
)
_CVX = re.compile(r"\bCVX\s*(?:code\s*)?[:#]?\s*(\d{1,4})\b", re.I)
_SNOMED = re.compile(r"\b(?:SNOMED(?:[ -]CT)?|SCT)\s*(?:code\s*)?[:#]?\s*(\d{6,18})\b", re.I)

#: Lab/vital names the trend table resolves, longest first ("hemoglobin a1c" before "a1c").
_LAB_NAMES: tuple[str, ...] = tuple(
    sorted(
        {n.lower() for m in MEASURES for n in (*m.names, m.label) if len(n) >= 3}
        | {"blood pressure"},
        key=len,
        reverse=True,
    )
)

_SECTIONS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("immunizations", re.compile(r"\b(immuni[sz]\w*|vaccin\w*|shots?)\b", re.I)),
    ("encounters", re.compile(r"\b(encounters?|visits?|admissions?|appointments?)\b", re.I)),
    ("procedures", re.compile(r"\b(procedures?|surger\w*|operations?)\b", re.I)),
    ("medications", re.compile(r"\b(medications?|medicines?|drugs?|prescri\w*)\b", re.I)),
    ("allergies", re.compile(r"\b(allerg\w*|intoleran\w*)\b", re.I)),
    ("conditions", re.compile(r"\b(conditions?|diagnos\w*|problems?|disorders?)\b", re.I)),
)


def _call(tool: str, **args: str) -> dict[str, Any]:
    return {"tool": tool, "args": args, "prefetch": True}


_LINKED_SECTIONS = ("conditions", "procedures", "immunizations", "medications", "allergies")
_TAG = re.compile(r"\s*\((?:disorder|finding|procedure|situation|regime/therapy)\)\s*$")


def _norm(text: str) -> str:
    return " " + re.sub(r"[^a-z0-9]+", " ", text.lower()).strip() + " "


def _linked(question: str, evidence: EvidenceSet | None) -> list[dict[str, Any]]:
    """Record entities named in the question: one search by type and code each."""
    if evidence is None:
        return []
    q = _norm(question)
    found: dict[tuple[str, str], int] = {}
    for item in evidence.items:
        if item.section not in _LINKED_SECTIONS or not item.reference:
            continue
        rtype = item.reference.split("/", 1)[0]
        for c in item.codings:
            name = _norm(_TAG.sub("", c.display or ""))
            if c.code and len(name.strip()) >= 4 and name in q:
                key = (rtype, c.code)
                found[key] = max(found.get(key, 0), len(name))
    ranked = sorted(found.items(), key=lambda kv: -kv[1])  # longest (most specific) first
    return [
        _call("search_record", resource_type=rtype, code=code) for (rtype, code), _ in ranked[:2]
    ]


def prefetch_calls(
    question: str, evidence: EvidenceSet | None = None, *, limit: int = 4
) -> list[dict[str, Any]]:
    """The tool calls to run before planning (``{"tool", "args", "prefetch": True}``)."""
    calls: list[dict[str, Any]] = []
    window: dict[str, str] = {}
    if m := _WINDOW.search(question):
        window = {"date_from": m.group(1), "date_to": m.group(2)}
    codes = list(dict.fromkeys(_LOINC.findall(question)))
    calls.extend(_call("lab_trend", code=c, **window) for c in codes[:2])
    if not codes:
        low = f" {question.lower()} "
        for name in _LAB_NAMES:
            if re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", low):
                calls.append(_call("lab_trend", name=name, **window))
                break
    for cvx in dict.fromkeys(_CVX.findall(question)):
        calls.append(_call("search_record", resource_type="Immunization", code=cvx))
    for sct in dict.fromkeys(_SNOMED.findall(question)):
        calls.append(_call("search_record", code=sct))
    seen = {c["args"].get("code") for c in calls}
    calls.extend(c for c in _linked(question, evidence) if c["args"]["code"] not in seen)
    wanted = {"search_record"} if any(c["tool"] == "search_record" for c in calls) else set()
    for section, pattern in _SECTIONS:
        if pattern.search(question) and not (section == "immunizations" and wanted):
            calls.append(_call("record_summary", section=section))
    return calls[:limit]

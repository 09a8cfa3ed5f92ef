"""Extractive pre-visit brief in Markdown (no model): the baseline and the fallback.

Sections: patient (and a record check when entries are dated after the recorded
death), problems (clinical: disorders first, then findings; acute or self-limiting ones
left open for over a year say "verify"), medications (recently ordered first; ones last
ordered more than a year ago marked "active in record, last ordered YEAR — verify"),
allergies, key labs with trends, recent care (encounters; significant procedures, then
routine screenings and assessments on one line; immunizations), open items (key labs
overdue, active care plans, goals in progress), past problems, social history (social
determinants of health and administrative entries such as "Medication review due",
:func:`tools.codes.condition_kind`), and the record counts. Every line ends with the
FHIR references it rests on, ``[Condition/abc]`` style; :attr:`Brief.citations` lists
them all (``Type/id``).

Open items — "overdue": a key lab the patient has had before (a measure with a
``retest_days`` interval in :mod:`tools.codes`: HbA1c 182 days per ADA; eGFR,
creatinine, albumin/creatinine ratio and lipids 365 days) whose last value is older
than the interval on the brief's date. Not reported for deceased patients.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tools._record import RecordView, Resource, view_of
from tools.codes import MEASURES
from tools.evidence import EvidenceSet, build_evidence
from tools.summary import (
    Line,
    after_death_line,
    allergy_lines,
    care_lines,
    encounter_lines,
    handle_index,
    medication_lines,
    problem_lines,
    procedure_lines,
    recent_lines,
    social_lines,
    trend_line,
)
from tools.trends import Trend, lab_trends

__all__ = ["Brief", "brief_sections", "build_brief"]

_KEY_PRIORITY = 15


@dataclass
class Brief:
    """The Markdown brief, its sections (lines with citations) and all citations."""

    markdown: str
    citations: list[str]
    sections: dict[str, list[dict[str, Any]]]

    def as_dict(self) -> dict[str, Any]:
        return {"text": self.markdown, "markdown": self.markdown, "citations": self.citations,
                "sections": self.sections}  # fmt: skip


def _overdue(view: RecordView, trends: Sequence[Trend], as_of: dt.date) -> list[Line]:
    if view.patient is not None and (
        view.patient.get("deceasedDateTime") or view.patient.get("deceasedBoolean") is True
    ):
        return []
    by_key = {t.key: t for t in trends}
    out = []
    for m in MEASURES:
        t = by_key.get(m.key)
        if not m.retest_days or t is None or t.latest is None or t.days_since_last is None:
            continue
        if t.days_since_last > m.retest_days:
            out.append(
                Line(
                    f"{t.display} overdue: last {t.latest.date} ({t.days_since_last} days ago; "
                    f"repeat every {m.retest_days} days)",
                    [],
                    [t.latest.ref],
                )
            )
    return out


def brief_sections(
    view: RecordView,
    ev: EvidenceSet,
    trends: Sequence[Trend],
    as_of: dt.date,
    *,
    max_encounters: int = 5,
) -> dict[str, list[Line]]:
    """The brief's sections as cited lines: what any brief (extractive or model-written)
    must cover. Keys are the section titles, in order."""
    index = handle_index(ev)
    key = [t for t in trends if t.priority <= _KEY_PRIORITY or t.abnormal]
    patient = ev.section("patient")
    check = after_death_line(view, ev)
    return {
        "Patient": (
            [
                Line(
                    patient[0].text.removeprefix("Patient: "),
                    [patient[0].handle],
                    [patient[0].reference],
                )
            ]
            if patient
            else []
        )
        + ([check] if check else []),
        "Problems": problem_lines(ev, True),
        "Medications": medication_lines(ev, True),
        "Allergies": allergy_lines(ev)
        or [Line("No allergies recorded (no AllergyIntolerance in the record)", [], [])],
        "Key labs and trends": [trend_line(t, index, compact=False) for t in key],
        "Recent encounters": encounter_lines(view, ev, max_encounters),
        "Recent procedures": procedure_lines(ev, 5),
        "Immunizations": recent_lines(ev.section("immunizations"), 5),
        "Open items": _overdue(view, trends, as_of) + care_lines(ev),
        "Past problems": problem_lines(ev, False),
        "Social history": social_lines(ev),
    }


def build_brief(
    record: Sequence[Resource] | RecordView,
    *,
    as_of: dt.date | None = None,
    evidence: EvidenceSet | None = None,
    trends: Sequence[Trend] | None = None,
    max_encounters: int = 5,
) -> Brief:
    """Build the extractive pre-visit brief of a patient's record."""
    view = view_of(record)
    as_of = as_of or dt.datetime.now(dt.UTC).date()
    ev = evidence or build_evidence(view, as_of=as_of)
    trends = list(trends) if trends is not None else lab_trends(view, as_of=as_of)
    sections = brief_sections(view, ev, trends, as_of, max_encounters=max_encounters)
    name = f"Patient/{view.patient_id}" if view.patient_id else "unknown patient"
    md = [
        f"# Pre-visit brief: {name}",
        f"_Extractive (no model), as of {as_of.isoformat()}. Each line cites the FHIR resources it "
        "comes from. Record text is quoted as data. Ranges marked default are not the lab's own._",
    ]
    for title, lines in sections.items():
        md.append(f"\n## {title}")
        if not lines:
            md.append("- none recorded")
        for ln in lines:
            cites = " ".join(f"[{r}]" for r in ln.refs)
            md.append(f"- {ln.text} {cites}".rstrip())
    md.append(f"\n_{ev.counts_line}_")
    citations = list(
        dict.fromkeys(r for lines in sections.values() for ln in lines for r in ln.refs)
    )
    return Brief(
        "\n".join(md),
        citations,
        {k: [{"text": ln.text, "citations": ln.refs} for ln in v] for k, v in sections.items()},
    )

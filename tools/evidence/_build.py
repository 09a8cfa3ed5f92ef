"""Assemble the sections into an :class:`~tools.evidence.EvidenceSet` with handles."""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Sequence

from tools._record import RecordView, Resource, is_deceased, record_end, view_of

from . import (
    _allergies,
    _care,
    _conditions,
    _encounters,
    _immunizations,
    _medications,
    _observations,
    _other,
    _patient,
    _procedures,
    _reports,
)
from ._common import Draft
from ._model import SECTIONS, EvidenceItem, EvidenceSet, SearchScope

__all__ = ["build_evidence", "counts_line"]


def counts_line(view: RecordView) -> str:
    """``Record: 812 resources; evidence from 640 (…); excluded: …; not clinical evidence: …``."""
    kept_types = sorted(((len(v), k) for k, v in view.by_type.items()), reverse=True)
    kept = sum(n for n, _ in kept_types)
    line = f"Record: {view.total} resources; evidence from {kept + (1 if view.patient else 0)}"
    if kept_types:
        line += " (" + ", ".join(f"{n} {t}" for n, t in kept_types) + ")"
    if view.excluded:
        by_reason: dict[str, Counter[str]] = defaultdict(Counter)
        for ref, why in view.excluded_refs:
            by_reason[why][ref.split("/")[0]] += 1
        line += "; excluded: " + ", ".join(
            f"{n} {why} ({', '.join(f'{k} {t}' for t, k in sorted(by_reason[why].items()))})"
            for why, n in sorted(view.excluded.items())
        )
    else:
        line += "; excluded: none"
    if view.not_evidence:
        line += "; not clinical evidence: " + ", ".join(
            f"{n} {t}" for t, n in sorted(view.not_evidence.items(), key=lambda x: (-x[1], x[0]))
        )
    return line + "."


#: Sections whose emptiness is itself a clinical fact ("no known allergies"): an empty one
#: gets an ``absence`` item saying what the whole record lacks, so a negative answer can
#: cite it. (The record is the patient's whole compartment: ``RecordSource.everything``.)
_NOTED_WHEN_EMPTY: tuple[tuple[str, tuple[str, ...], str, str], ...] = (
    ("allergies", ("AllergyIntolerance",), "allergies recorded", "No allergies recorded (no AllergyIntolerance in the record)"),
    ("medications", ("MedicationRequest", "MedicationStatement"), "medications recorded",
     "No medications recorded (no MedicationRequest or MedicationStatement in the record)"),
    ("conditions", ("Condition",), "conditions recorded", "No conditions recorded (no Condition in the record)"),
    ("immunizations", ("Immunization",), "immunizations recorded",
     "No immunizations recorded (no Immunization in the record)"),
)  # fmt: skip


def _absences(view: RecordView, drafts: list[Draft]) -> list[Draft]:
    if view.patient is None:
        return []
    present = {d.item.section for d in drafts}
    out = []
    for section, types, what, text in _NOTED_WHEN_EMPTY:
        if section in present:
            continue
        item = EvidenceItem(
            handle="",
            kind="absence",
            section=section,
            patient_id=view.patient_id,
            name=what,
            scope=SearchScope(resource_types=types),
            reference=f"Patient/{view.patient_id}",
            text=text,
        )
        out.append(Draft(item, (9,)))
    return out


#: The kinds whose status a death fixes: a problem, an order, an allergy.
_ENDED_AT_DEATH = frozenset({"condition", "medication", "allergy"})


def build_evidence(
    record: Sequence[Resource] | RecordView,
    *,
    as_of: dt.date | None = None,
    note_chars: int = 400,
) -> EvidenceSet:
    """Build the evidence of a patient's record.

    Args:
        record: the patient's resources (``RecordSource.everything``), one patient only.
        as_of: the reference date for ages (default: today, UTC).
        note_chars: how much of each note's text to quote before truncating.
    """
    view = view_of(record)
    as_of = as_of or dt.datetime.now(dt.UTC).date()
    end = record_end(view.patient, as_of)
    reports, report_notes, report_images = _reports.build(view, note_chars)
    doc_notes, doc_images = _reports.build_documents(view, note_chars)
    drafts: list[Draft] = [
        *_patient.build(view, as_of),
        *_conditions.build(view, end),
        *_medications.build(view, end),
        *_allergies.build(view),
        *_observations.build(view),
        *reports,
        *_encounters.build(view),
        *_procedures.build(view),
        *_immunizations.build(view),
        *_care.build(view),
        *report_notes,
        *doc_notes,
        *report_images,
        *doc_images,
        *_other.build(view),
    ]
    drafts += _absences(view, drafts)
    if is_deceased(view.patient):
        # the record ends at death: a problem "active" or an order "current" is as it was
        # left then, and every answer must say so ("active at death"), never "now"
        drafts = [
            Draft(d.item.model_copy(update={"flags": (*d.item.flags, "died")}), d.sort)
            if d.item.kind in _ENDED_AT_DEATH
            else d
            for d in drafts
        ]
    order = {name: i for i, name in enumerate(SECTIONS)}
    # who pays is numbered last (no handle of the care shifts for it), though of the
    # patient's own section
    drafts.sort(
        key=lambda d: (
            d.item.kind == "coverage",
            order[d.item.section],
            d.sort,
            d.item.text,
            d.item.reference,
        )
    )
    items = [d.item.model_copy(update={"handle": f"E{i}"}) for i, d in enumerate(drafts, start=1)]
    return EvidenceSet(
        items, patient_id=view.patient_id, as_of=as_of, counts_line=counts_line(view), view=view
    )

"""Evidence: a patient's record as typed, cited facts (no model).

:func:`build_evidence` turns a record (the ``list[dict]`` from
``RecordSource.everything``) into an :class:`EvidenceSet` of :class:`EvidenceItem`.
Each item is one fact (or a folded group of the same fact) with a short handle (``E12``)
and typed fields — codings, statuses, dated :class:`Point` s citing each FHIR resource
(with its version and element path), values with their units, reference ranges as
:class:`Range` (never values), goal targets, dosages — so a model can cite ``E12`` and a
verifier can check a claim against the fields, never against text. Each item's ``text``
is the compact line a model reads, rendered from those fields by its section's module.

Sections, in order (one module each): patient, conditions, medications, allergies,
labs / vitals / observations, reports, encounters, procedures, immunizations,
care_plans (plans, goals, care teams), notes, images, other.

Compactness without losing facts:

- repeated entries fold into one item that cites all of them: the same condition
  recorded at many encounters, the same medication ordered many times, the same vaccine,
  encounter type or procedure;
- repeated lab/vital values fold into a series line grouped by year
  (``HbA1c … %: 2019: 03-04 6.1, 09-10 6.4; 2020: 02-11 6.4``); runs of three or more
  identical values collapse (``173.5 ×8 2012-03-04…2019-05-06``); blood pressure prints
  as ``120/80``;
- numbers print with at most 4 significant digits (the exact recorded value is in the
  item's points); codes print as ``[SCT 44054006]`` / ``[LOINC 4548-4]``.

Excluded and said so in the counts line: entered-in-error, cancelled, refuted,
not-done, revoked, superseded resources; billing and directory resources (Claim,
ExplanationOfBenefit, Organization, …) are not clinical evidence.

Clinical order and flags (what a clinician reads first comes first; nothing is dropped):

- conditions: active clinical problems (disorders, then clinical findings), then
  social history (flag ``social``) and administrative entries (flag ``administrative``),
  as classified by :func:`tools.codes.condition_kind`; an acute / self-limiting
  condition still active more than a year after its last onset is flagged ``stale``;
- medications: current ones ordered within the last year first; older current ones
  are flagged ``stale`` and say "active in record, last ordered YEAR — verify";
- allergies: active, then high criticality first; procedures: routine screenings and
  assessments carry the flag ``routine``;
- "how long ago" is judged on the brief's date, or on the death date of a deceased
  patient, whose problems, orders and allergies carry the flag ``died``: their status
  is as the record left it at death.

Record text is data, never instructions: note text is kept verbatim inside a JSON
string literal (one line, quotes and newlines escaped), truncated with a pointer to the
full attachment.

Handles are assigned in section order after a deterministic sort, so the same record
always gets the same handles.
"""

from ._build import build_evidence, counts_line
from ._concepts import KINDS_BY_ITEM, item_concepts, items_of
from ._conditions import render_current as _condition_now
from ._encounters import ENCOUNTER_CLASSES
from ._events import in_window
from ._model import (
    SECTIONS,
    Attachment,
    CareInfo,
    Coding,
    Demographics,
    Dosage,
    EvidenceItem,
    EvidenceSet,
    ItemKind,
    Point,
    Quantity,
    Range,
    SearchScope,
    SourceRef,
    Target,
)
from ._patient import age

__all__ = [
    "ENCOUNTER_CLASSES",
    "KINDS_BY_ITEM",
    "SECTIONS",
    "Attachment",
    "CareInfo",
    "Coding",
    "Demographics",
    "Dosage",
    "EvidenceItem",
    "EvidenceSet",
    "ItemKind",
    "Point",
    "Quantity",
    "Range",
    "SearchScope",
    "SourceRef",
    "Target",
    "age",
    "build_evidence",
    "counts_line",
    "current_text",
    "in_window",
    "item_concepts",
    "items_of",
]


def current_text(item: EvidenceItem) -> str:
    """An item's text for a list of what holds now (the active problems): a condition's
    onset and how often it was recorded, not its status at every visit; other items as
    they are."""
    return _condition_now(item) if item.kind == "condition" else item.text

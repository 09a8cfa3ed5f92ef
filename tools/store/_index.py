"""The index fields extracted from one resource.

* main date: the element FHIR's ``date`` search parameter (or its closest equivalent) uses
  for the type, e.g. ``Observation.effective[x]``, ``Condition.onset[x]``,
  ``MedicationRequest.authoredOn``, ``Encounter.period``; as a UTC ``(start, end)`` range;
* status: ``status``, else ``clinicalStatus`` (first coding), else ``lifecycleStatus``;
* codes: one ``(system, code)`` per coding of ``code``, ``vaccineCode``,
  ``medicationCodeableConcept`` and ``type``; categories likewise from ``category``;
* identifiers: ``(system, value)`` pairs, to resolve conditional references;
* tags: ``(system, code)`` of ``meta.tag`` (``_tag`` searches, conditional creates keyed
  by a tag: the write-back's idempotency key, :mod:`tools.writeback`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from tools.store._dates import MAX, MIN, date_range

__all__ = ["CODE_ELEMENTS", "MAIN_DATE", "IndexFields", "extract"]

# Element names; a trailing "[x]" is a choice element (effectiveDateTime, effectivePeriod...).
MAIN_DATE: Final[dict[str, tuple[str, ...]]] = {
    "Patient": ("birthDate",),
    "Observation": ("effective[x]", "issued"),
    "DiagnosticReport": ("effective[x]", "issued"),
    "Condition": ("onset[x]", "recordedDate"),
    "Procedure": ("performed[x]",),
    "Encounter": ("period",),
    "Immunization": ("occurrence[x]", "recorded"),
    "MedicationRequest": ("authoredOn",),
    "MedicationAdministration": ("effective[x]",),
    "MedicationDispense": ("whenHandedOver", "whenPrepared"),
    "MedicationStatement": ("effective[x]", "dateAsserted"),
    "AllergyIntolerance": ("recordedDate", "onset[x]"),
    "CarePlan": ("period",),
    "CareTeam": ("period",),
    "Claim": ("billablePeriod", "created"),
    "ExplanationOfBenefit": ("billablePeriod", "created"),
    "Coverage": ("period",),
    "Goal": ("start[x]", "statusDate"),
    "ImagingStudy": ("started",),
    "Appointment": ("start",),
    "DocumentReference": ("date",),
    "Composition": ("date",),
    "Media": ("created[x]",),
    "FamilyMemberHistory": ("date",),
    "ServiceRequest": ("authoredOn", "occurrence[x]"),
    "QuestionnaireResponse": ("authored",),
    "Provenance": ("recorded", "occurred[x]"),
    "SupplyDelivery": ("occurrence[x]",),
}
_FALLBACK_DATE: Final = (
    "effective[x]",
    "occurrence[x]",
    "performed[x]",
    "onset[x]",
    "period",
    "authoredOn",
    "recorded",
    "recordedDate",
    "issued",
    "date",
)
_CHOICE_SUFFIXES: Final = ("DateTime", "Period", "Instant", "Date")

CODE_ELEMENTS: Final = ("code", "vaccineCode", "medicationCodeableConcept", "type")

Coding = tuple[str, str]


@dataclass(slots=True)
class IndexFields:
    """What the store indexes of one resource (besides its type, id and patients)."""

    date_start: str | None
    date_end: str | None
    status: str | None
    codes: set[Coding]
    categories: set[Coding]
    identifiers: set[Coding]
    tags: set[Coding] = field(default_factory=set)


def _range_of(value: Any) -> tuple[str, str] | None:
    """A date string or a Period as a UTC range; ``None`` for anything else."""
    if isinstance(value, str):
        return date_range(value)
    if isinstance(value, dict):
        start, end = value.get("start"), value.get("end")
        if not isinstance(start, str) and not isinstance(end, str):
            return None
        lo = date_range(start)[0] if isinstance(start, str) else MIN
        hi = date_range(end)[1] if isinstance(end, str) else MAX
        return lo, hi
    return None


def _main_date(resource: dict[str, Any], rtype: str) -> tuple[str, str] | None:
    for name in MAIN_DATE.get(rtype, _FALLBACK_DATE):
        if name.endswith("[x]"):
            base = name[:-3]
            for suffix in _CHOICE_SUFFIXES:
                value = resource.get(base + suffix)
                if value is not None:
                    found = _range_of(value)
                    if found:
                        return found
        else:
            value = resource.get(name)
            if value is not None:
                found = _range_of(value)
                if found:
                    return found
    return None


def _codings(value: Any, out: set[Coding]) -> None:
    """Add the codings of a CodeableConcept, a list of them, or a bare code string."""
    if isinstance(value, list):
        for item in value:
            _codings(item, out)
    elif isinstance(value, dict):
        for coding in value.get("coding") or ():
            if isinstance(coding, dict):
                code = coding.get("code")
                if isinstance(code, str):
                    system = coding.get("system")
                    out.add((system if isinstance(system, str) else "", code))
    elif isinstance(value, str):
        out.add(("", value))


def _status(resource: dict[str, Any]) -> str | None:
    status = resource.get("status")
    if isinstance(status, str):
        return status
    clinical = resource.get("clinicalStatus")
    if isinstance(clinical, dict):
        found: set[Coding] = set()
        _codings(clinical, found)
        codes = [c for s, c in found if s] or [c for _, c in found]
        if codes:
            return sorted(codes)[0]
    lifecycle = resource.get("lifecycleStatus")
    return lifecycle if isinstance(lifecycle, str) else None


def _identifiers(value: Any) -> set[Coding]:
    out: set[Coding] = set()
    for ident in value if isinstance(value, list) else [value]:
        if isinstance(ident, dict):
            val = ident.get("value")
            if isinstance(val, str):
                system = ident.get("system")
                out.add((system if isinstance(system, str) else "", val))
    return out


def extract(resource: dict[str, Any]) -> IndexFields:
    """The index fields of one resource. Raises ``ValueError`` for a malformed date."""
    rtype = str(resource.get("resourceType"))
    dates = _main_date(resource, rtype)
    codes: set[Coding] = set()
    for name in CODE_ELEMENTS:
        value = resource.get(name)
        if value is not None:
            _codings(value, codes)
    categories: set[Coding] = set()
    category = resource.get("category")
    if category is not None:
        _codings(category, categories)
    identifier = resource.get("identifier")
    tags: set[Coding] = set()
    meta = resource.get("meta")
    if isinstance(meta, dict) and isinstance(meta.get("tag"), list):
        _codings({"coding": meta["tag"]}, tags)
    return IndexFields(
        date_start=dates[0] if dates else None,
        date_end=dates[1] if dates else None,
        status=_status(resource),
        codes=codes,
        categories=categories,
        identifiers=_identifiers(identifier) if identifier is not None else set(),
        tags=tags,
    )

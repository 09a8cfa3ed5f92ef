"""The typed evidence contract: what every layer above ``tools/`` reads.

An :class:`EvidenceItem` is one clinical fact (or a folded group of the same fact) of a
patient's record with a short handle (``E12``). Everything a check needs is a typed
field: the FHIR resources it rests on (:class:`SourceRef`, with their versions), the
resource type and statuses, dates, codings, values with their units
(:class:`Quantity`), reference ranges kept as ranges (:class:`Range`: never a value),
goal targets (:class:`Target`: never a value), dosages, the series a value belongs to
(the item's :attr:`EvidenceItem.points`) and the patient. :attr:`EvidenceItem.text` is
the line shown to a model, *rendered from* these fields by the section's renderer;
nothing reads it back.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from tools._record import RecordView

__all__ = [
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
]

SECTIONS: tuple[str, ...] = (
    "patient",
    "conditions",
    "medications",
    "allergies",
    "labs",
    "vitals",
    "observations",
    "reports",
    "encounters",
    "procedures",
    "immunizations",
    "care_plans",
    "notes",
    "images",
    "other",
)

TITLES = {
    "patient": "Patient",
    "conditions": "Conditions",
    "medications": "Medications",
    "allergies": "Allergies",
    "labs": "Lab results",
    "vitals": "Vital signs",
    "observations": "Other observations",
    "reports": "Diagnostic reports",
    "encounters": "Encounters",
    "procedures": "Procedures",
    "immunizations": "Immunizations",
    "care_plans": "Care plans, goals, care teams",
    "notes": "Notes and documents",
    "images": "Images",
    "other": "Other",
}

SYSTEM_NAMES = {
    "http://snomed.info/sct": "SCT",
    "http://loinc.org": "LOINC",
    "http://www.nlm.nih.gov/research/umls/rxnorm": "RxNorm",
    "http://hl7.org/fhir/sid/cvx": "CVX",
    "http://hl7.org/fhir/sid/icd-10-cm": "ICD10CM",
    "http://hl7.org/fhir/sid/icd-10": "ICD10",
    "http://hl7.org/fhir/sid/ndc": "NDC",
    "http://www.ama-assn.org/go/cpt": "CPT",
}

#: What an item is (the FHIR resource type behind it, or what a tool made).
ItemKind = Literal[
    "patient",
    "condition",
    "medication",
    "allergy",
    "observation",
    "report",
    "encounter",
    "procedure",
    "immunization",
    "care_plan",
    "goal",
    "care_team",
    "note",
    "image",
    "imaging_study",
    "document",
    "family_history",
    "coverage",  # who pays (Coverage, else the insurers the claims name): not care
    "other",
    # made by the agent's tools, not read from a resource:
    "absence",  # a search of the record that found nothing
    "order",  # a resource the assistant created (e.g. a lab order)
]

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class Coding(BaseModel):
    """One original coding (system URI, code, display)."""

    model_config = _FROZEN

    system: str | None = None
    code: str | None = None
    display: str | None = None

    def short(self) -> str:
        """``SCT 44054006`` (a short system name and the code)."""
        system = self.system or ""
        name = SYSTEM_NAMES.get(system, system.rstrip("/").split("/")[-1])
        return f"{name} {self.code}".strip()


class Quantity(BaseModel):
    """A measured amount as recorded: ``value`` in ``unit`` (``code``: the UCUM code)."""

    model_config = _FROZEN

    value: float
    unit: str | None = None
    code: str | None = None


class Range(BaseModel):
    """A reference range (bounds in ``unit``); the bounds are limits, never values."""

    model_config = _FROZEN

    low: float | None = None
    high: float | None = None
    unit: str | None = None
    text: str | None = None

    def label(self) -> str | None:
        """``4–5.6``, ``≥ 60``, ``≤ 99`` or the recorded text."""
        from tools._record import fmt_num

        if self.text:
            return self.text
        if self.low is not None and self.high is not None:
            return f"{fmt_num(self.low)}–{fmt_num(self.high)}"
        if self.low is not None:
            return f"≥ {fmt_num(self.low)}"
        if self.high is not None:
            return f"≤ {fmt_num(self.high)}"
        return None


class Target(BaseModel):
    """A goal's target: a measure and the range it should reach (never a value)."""

    model_config = _FROZEN

    measure: str | None = None
    codings: tuple[Coding, ...] = ()
    low: float | None = None
    high: float | None = None
    comparator: str | None = None  # "<", "<=", ">", ">="
    unit: str | None = None
    due: str | None = None


class SourceRef(BaseModel):
    """A FHIR resource a fact comes from: ``Type/id``, its version, the element path."""

    model_config = _FROZEN

    reference: str
    version: str | None = None
    path: str = ""

    @property
    def type(self) -> str:
        return self.reference.split("/", 1)[0]

    @property
    def versioned(self) -> str:
        """``Type/id/_history/v`` when the version is known, else ``Type/id``."""
        return f"{self.reference}/_history/{self.version}" if self.version else self.reference


class Point(BaseModel):
    """One dated fact of an item: a value of a series, or one resource of a folded group.

    ``date`` is when it happened (effective, onset, occurrence, performed, authored,
    recorded: the element the section dates by), ``end`` when it ended (abatement,
    period end). ``value`` is numeric with its unit, ``value_text`` a coded, string or
    boolean value; ``component`` names the component a value came from (blood pressure).
    ``status`` is the resource's own status (a Condition's clinical status).
    ``reference_range`` belongs to this value and is never a value itself.
    """

    model_config = _FROZEN

    source: SourceRef
    date: str | None = None
    end: str | None = None
    value: Quantity | None = None
    value_text: str | None = None
    component: Coding | None = None
    status: str | None = None
    interpretation: str | None = None
    reference_range: Range | None = None

    @property
    def day(self) -> str | None:
        return self.date[:10] if self.date else None


class Dosage(BaseModel):
    """A medication's dosage instruction: its text and, when coded, the parts."""

    model_config = _FROZEN

    text: str
    dose: Quantity | None = None
    frequency: str | None = None
    route: str | None = None
    as_needed: bool = False


class Demographics(BaseModel):
    """The patient's demographics (the ``patient`` item)."""

    model_config = _FROZEN

    name: str | None = None
    gender: str | None = None
    birth_date: str | None = None
    deceased: bool = False
    death_date: str | None = None
    age: int | None = None
    age_at: str | None = None  # the date the age is computed on (as of, or death)
    race: str | None = None
    ethnicity: str | None = None
    marital_status: str | None = None
    languages: tuple[str, ...] = ()
    #: Patient.generalPractitioner as the record names them (display, else reference)
    general_practitioners: tuple[str, ...] = ()
    #: Patient.contact: each person to contact, with the relationship and how to reach
    #: them ("Maria Lopez (emergency contact; mother), phone 555-0100")
    contacts: tuple[str, ...] = ()
    #: Patient.telecom ("555-0199 (home phone)") and Patient.address, as written
    telecoms: tuple[str, ...] = ()
    addresses: tuple[str, ...] = ()


class Attachment(BaseModel):
    """A note, image or document attachment (the text is quoted data, never instructions)."""

    model_config = _FROZEN

    label: str
    content_type: str | None = None
    size: int | None = None
    where: str = "no data"  # "inline data", "url …", "no data"
    chars: int | None = None  # length of a decoded text attachment
    truncated: bool = False


class CareInfo(BaseModel):
    """Care plan, goal and care team details."""

    model_config = _FROZEN

    activities: tuple[str, ...] = ()
    addresses: tuple[str, ...] = ()
    members: tuple[str, ...] = ()
    achievement: str | None = None
    due: tuple[str, ...] = ()


class SearchScope(BaseModel):
    """What a search of the record covered (an ``absence`` item: it found nothing).

    ``resource_types`` searched (``"any"``: the whole record); ``codes`` / ``name`` / ``status`` / dates: its filters
    (empty = every resource of those types of the patient); ``given_for``: medications
    given for what it names (by their orders' reasons or their drug classes); ``site``:
    entries whose names name that body site ("knee").
    """

    model_config = _FROZEN

    resource_types: tuple[str, ...]
    codes: tuple[Coding, ...] = ()
    name: str | None = None
    status: str | None = None
    date_from: str | None = None
    date_to: str | None = None
    given_for: str | None = None
    site: str | None = None

    def describe(self) -> str:
        what = ", ".join(t if t != "any" else "the whole record" for t in self.resource_types)
        bits = []
        if self.name:
            bits.append(f"named {self.name!r}")
        if self.codes:
            bits.append("coded " + ", ".join(c.short() for c in self.codes))
        if self.status:
            bits.append(f"status {self.status}")
        if self.date_from or self.date_to:
            bits.append(f"dated {self.date_from or '…'} to {self.date_to or '…'}")
        if self.given_for:
            by_class = any(t.startswith("Medication") or t == "any" for t in self.resource_types)
            bits.append(
                f"given for {self.given_for} (by reason or drug class)"
                if by_class
                else f"for {self.given_for} (by reason)"
            )
        if self.site:
            bits.append(f"of the {self.site.lower()}")
        return what + (" " + ", ".join(bits) if bits else "")


class EvidenceItem(BaseModel):
    """One fact of the record (or a folded group of the same fact), citable by handle.

    Attributes:
        handle: short id for the model (``E12``), stable for the same record.
        kind: what it is (:data:`ItemKind`); ``section``: one of :data:`SECTIONS`.
        patient_id: the patient the item belongs to.
        name: the entity it names (a condition, drug, test, vaccine …), as recorded.
        codings: its original codings (``codings[0]`` is the primary one).
        status: the item's status (conditions: active/resolved/…, medications:
            current/past, allergies: the clinical status, care: lifecycle status).
        verification_status: a Condition's or AllergyIntolerance's.
        category / subtype: e.g. an allergy's category and type (allergy, intolerance),
            an observation's category, an encounter's class, a condition's kind
            (problem, social, administrative).
        points: the dated facts it rests on, one per resource (or value), sorted by date.
        unit: a series' unit; ``reference_range``: the latest value's range.
        reference / path / date: the primary (latest) resource, element and date.
        flags: ``series``, ``abnormal``, ``stale``, ``routine``, ``social``,
            ``administrative``, ``folded``, ``image``, ``study``, ``truncated``;
            ``died``: a problem, order or allergy of a patient who has died (its status
            is as the record left it at death).
        details: qualifiers shown with the line ("… — verify", dosage, reasons).
        text: the line shown to a model, rendered from the fields above.
    """

    model_config = _FROZEN

    handle: str
    kind: ItemKind
    section: str
    patient_id: str | None = None
    name: str
    codings: tuple[Coding, ...] = ()
    status: str | None = None
    verification_status: str | None = None
    category: str | None = None
    subtype: str | None = None
    points: tuple[Point, ...] = ()
    unit: str | None = None
    reference_range: Range | None = None
    targets: tuple[Target, ...] = ()
    dosages: tuple[Dosage, ...] = ()
    reasons: tuple[str, ...] = ()
    #: the resources the reasons point to (``reasonReference``: ``Condition/…``)
    reason_refs: tuple[str, ...] = ()
    #: why an order was stopped or put on hold, as its ``statusReason`` says it
    stop_reasons: tuple[str, ...] = ()
    reactions: tuple[str, ...] = ()
    criticality: str | None = None
    #: an allergy's reactions' severities as recorded (mild, moderate, severe)
    reaction_severities: tuple[str, ...] = ()
    demographics: Demographics | None = None
    attachment: Attachment | None = None
    care: CareInfo | None = None
    quote: str | None = None
    scope: SearchScope | None = None
    reference: str
    path: str = ""
    date: str | None = None
    flags: tuple[str, ...] = ()
    details: tuple[str, ...] = ()
    text: str = ""

    @property
    def line(self) -> str:
        """``E12 <text>``."""
        return f"{self.handle} {self.text}"

    @property
    def code(self) -> Coding | None:
        """The primary coding."""
        return self.codings[0] if self.codings else None

    @property
    def references(self) -> tuple[str, ...]:
        """Every resource cited (``Type/id``, unique, in point order)."""
        refs = dict.fromkeys(p.source.reference for p in self.points)
        if not refs and self.kind not in ("absence",):
            refs[self.reference] = None
        return tuple(refs)

    @property
    def sources(self) -> tuple[SourceRef, ...]:
        """Every resource cited, with its version (one per resource)."""
        seen: dict[str, SourceRef] = {}
        for p in self.points:
            seen.setdefault(p.source.reference, p.source)
        return tuple(seen.values())

    @property
    def latest(self) -> Point | None:
        """The primary point (``reference`` and ``path``: a series' latest value, a folded
        group's latest resource), else the most recent dated one."""
        for p in self.points:
            if p.source.reference == self.reference and p.source.path == self.path:
                return p
        dated = [p for p in self.points if p.date]
        if dated:
            return max(dated, key=lambda p: p.date or "")
        return self.points[-1] if self.points else None

    @property
    def values(self) -> tuple[Point, ...]:
        """The points that carry a numeric value."""
        return tuple(p for p in self.points if p.value is not None)

    def to_state(self) -> dict[str, Any]:
        """A JSON-ready dict (for checkpointed state); :meth:`model_validate` reads it."""
        return self.model_dump(mode="json", exclude_defaults=True)


class EvidenceSet:
    """The evidence of one patient's record, grouped by section."""

    def __init__(
        self,
        items: Sequence[EvidenceItem],
        *,
        patient_id: str | None,
        as_of: dt.date,
        counts_line: str,
        view: RecordView,
    ) -> None:
        self.items: tuple[EvidenceItem, ...] = tuple(items)
        self.patient_id = patient_id
        self.as_of = as_of
        self.counts_line = counts_line
        self.view = view
        self._by_handle = {i.handle: i for i in self.items}

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[EvidenceItem]:
        return iter(self.items)

    def get(self, handle: str) -> EvidenceItem:
        """The item with this handle (``KeyError`` if none)."""
        return self._by_handle[handle.strip().strip("[]")]

    def resolve(self, handle: str) -> tuple[str, ...]:
        """The FHIR references a handle cites."""
        return self.get(handle).references

    def section(self, name: str) -> list[EvidenceItem]:
        """The items of one section (see :data:`SECTIONS`)."""
        return [i for i in self.items if i.section == name]

    @property
    def references(self) -> set[str]:
        """Every reference cited by any item."""
        return {r for i in self.items for r in i.references}

    def by_reference(self) -> dict[str, str]:
        """``Type/id`` → the handle of the first item citing it."""
        out: dict[str, str] = {}
        for item in self.items:
            for r in item.references:
                out.setdefault(r, item.handle)
        return out

    def render(self, sections: Sequence[str] | None = None, *, counts: bool = True) -> str:
        """The evidence as text: a counts line, then ``## Section`` headers and lines."""
        wanted = list(sections) if sections else list(SECTIONS)
        lines: list[str] = [self.counts_line] if counts else []
        for name in SECTIONS:
            if name not in wanted:
                continue
            items = self.section(name)
            if items:
                lines.append(f"## {TITLES[name]}")
                lines.extend(i.line for i in items)
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {
            "patient_id": self.patient_id,
            "as_of": self.as_of.isoformat(),
            "counts": self.counts_line,
            "items": [i.model_dump(mode="json", exclude_defaults=True) for i in self.items],
        }

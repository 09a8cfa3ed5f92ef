"""One pass over a patient's record, shared by evidence, trends, summary and brief.

:class:`RecordView` classifies every resource once: clinical and kept, excluded (and
why: entered-in-error, cancelled, refuted, not-done, …), or not clinical evidence
(billing, directory). It indexes numeric Observation values by code for trends.
Internal module: the public API is in :mod:`tools.evidence` and :mod:`tools.trends`.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tools.fhir_version import CLINICAL_TYPES

__all__ = [
    "NumPoint",
    "Payer",
    "RecordView",
    "Resource",
    "cc_text",
    "clean",
    "codings_of",
    "exclusion_reason",
    "fmt_num",
    "is_deceased",
    "json_object",
    "label_text",
    "numeric_points",
    "observation_category",
    "observation_date",
    "parse_date",
    "reason_refs_of",
    "reasons_of",
    "record_end",
    "ref_of",
    "resource_date",
    "view_of",
]

Resource = dict[str, Any]

_ZW = dict.fromkeys(map(ord, "\u200b\u200c\u200d\ufeff"), None)


def clean(text: Any) -> str:
    """A display string without zero-width characters and surrounding blanks."""
    return str(text).translate(_ZW).strip() if text is not None else ""


def ref_of(resource: Mapping[str, Any]) -> str:
    """``Type/id`` of a resource."""
    return f"{resource.get('resourceType')}/{resource.get('id')}"


def codings_of(cc: Any) -> list[dict[str, Any]]:
    """The codings of a CodeableConcept (or of a list of them)."""
    if isinstance(cc, list):
        return [c for x in cc for c in codings_of(x)]
    if not isinstance(cc, dict):
        return []
    return [c for c in cc.get("coding") or [] if isinstance(c, dict)]


def cc_text(cc: Any, default: str = "") -> str:
    """Human text of a CodeableConcept: its text, else the first display, else a code."""
    if isinstance(cc, list):
        return "; ".join(t for t in (cc_text(x) for x in cc) if t) or default
    if not isinstance(cc, dict):
        return default
    if cc.get("text"):
        return clean(cc["text"])
    for c in codings_of(cc):
        if c.get("display"):
            return clean(c["display"])
    for c in codings_of(cc):
        if c.get("code"):
            return clean(c["code"])
    return default


def label_text(text: str) -> str:
    """A code-like label made readable: ``Medication_Review_Due`` → ``Medication Review Due``.

    Only single-token texts with underscores change (Synthea writes its internal
    reason names into ``reasonCode.text``); anything with a space is left as recorded.
    """
    stripped = text.strip()
    if "_" in stripped and " " not in stripped:
        return " ".join(part for part in stripped.split("_") if part)
    return text


def fmt_num(value: float | int, sig: int = 4) -> str:
    """A number with at most ``sig`` significant digits, never in exponent notation.

    Integers print as integers; 3.5968342163945523 prints as 3.597; 56.893 as 56.89.
    """
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int) or (
        isinstance(value, float) and value.is_integer() and abs(value) < 1e15
    ):
        return str(int(value))
    if not math.isfinite(value):
        return str(value)
    magnitude = math.floor(math.log10(abs(value))) if value else 0
    decimals = max(0, sig - 1 - magnitude)
    text = f"{value:.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def parse_date(value: Any) -> dt.date | None:
    """The calendar date of a FHIR date/dateTime/instant string (partial dates allowed)."""
    if not isinstance(value, str) or len(value) < 4:
        return None
    try:
        year = int(value[0:4])
        month = int(value[5:7]) if len(value) >= 7 else 1
        day = int(value[8:10]) if len(value) >= 10 else 1
        return dt.date(year, month, day)
    except ValueError:
        return None


# --------------------------------------------------------------------------- exclusions

_STATUS_EXCLUDED = {
    "entered-in-error": "entered-in-error",
    "cancelled": "cancelled",
    "not-done": "not-done",
    "revoked": "revoked",
    "superseded": "superseded",
}


#: The HL7 security label of AI-asserted content (``meta.security`` code AIAST): what this
#: assistant writes back after a clinician approves it.
_AI_ASSERTED = "AIAST"


def exclusion_reason(resource: Mapping[str, Any]) -> str | None:
    """Why a clinical resource is not evidence (``None``: it is).

    Besides void statuses (entered-in-error, cancelled, refuted, …), content labelled
    AI-asserted (``meta.security`` AIAST: a brief or answer this assistant wrote and a
    clinician approved) is not evidence for the assistant: it would cite its own earlier
    output instead of the record it was drawn from."""
    rtype = resource.get("resourceType")
    meta = resource.get("meta")
    if isinstance(meta, Mapping) and any(
        isinstance(label, Mapping) and label.get("code") == _AI_ASSERTED
        for label in meta.get("security") or []
    ):
        return "AI-asserted (approved assistant output)"
    for key in ("status", "docStatus", "lifecycleStatus"):
        status = resource.get(key)
        if isinstance(status, str) and status in _STATUS_EXCLUDED:
            if rtype == "Goal" and status == "cancelled":
                return "cancelled"
            return _STATUS_EXCLUDED[status]
    if rtype == "Goal" and resource.get("lifecycleStatus") == "rejected":
        return "rejected"
    for c in codings_of(resource.get("verificationStatus")):
        code = c.get("code")
        if code in ("entered-in-error", "refuted"):
            return str(code)
    return None


# --------------------------------------------------------------------------- dates


def resource_date(resource: Mapping[str, Any]) -> str | None:
    """The clinically relevant date string of a resource (effective/onset/authored…)."""
    for key in (
        "effectiveDateTime",
        "effectiveInstant",
        "occurrenceDateTime",
        "onsetDateTime",
        "authoredOn",
        "started",
        "recordedDate",
        "date",
        "created",
        "issued",
        "dateAsserted",
        "whenHandedOver",
    ):
        value = resource.get(key)
        if isinstance(value, str):
            return value
    for key in ("effectivePeriod", "period", "performedPeriod", "onsetPeriod", "occurrencePeriod"):
        period = resource.get(key)
        if isinstance(period, dict) and isinstance(period.get("start"), str):
            return str(period["start"])
    performed = resource.get("performedDateTime")
    if isinstance(performed, str):
        return performed
    return None


def observation_date(obs: Mapping[str, Any]) -> tuple[str | None, str]:
    """(date string, the element it came from) of an Observation; ``issued`` last."""
    for key in ("effectiveDateTime", "effectiveInstant"):
        if isinstance(obs.get(key), str):
            return obs[key], key
    period = obs.get("effectivePeriod")
    if isinstance(period, dict) and isinstance(period.get("start"), str):
        return period["start"], "effectivePeriod.start"
    if isinstance(obs.get("issued"), str):
        return obs["issued"], "issued"
    return None, ""


# --------------------------------------------------------------------------- numeric points


@dataclass(frozen=True, slots=True)
class NumPoint:
    """One numeric value of an Observation (top level or a component)."""

    code: str  # the matching code
    display: str
    date: dt.date | None
    date_text: str | None
    date_source: str  # effectiveDateTime / issued / ""
    value: float
    unit: str  # UCUM code when given, else the unit text
    unit_text: str
    reference: str
    path: str  # valueQuantity / component[1].valueQuantity
    ref_low: float | None
    ref_high: float | None
    ref_text: str | None
    interpretation: str | None
    category: str


def _quantity(q: Any) -> tuple[float, str, str] | None:
    if not isinstance(q, dict):
        return None
    value = q.get("value")
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    unit_code = q.get("code") if q.get("system") in (None, "http://unitsofmeasure.org") else None
    unit_text = q.get("unit") or q.get("code") or ""
    return float(value), str(unit_code or unit_text), str(unit_text)


def _ref_range(rr: Any) -> tuple[float | None, float | None, str | None]:
    if not isinstance(rr, list) or not rr or not isinstance(rr[0], dict):
        return None, None, None
    first = rr[0]
    low = _quantity(first.get("low"))
    high = _quantity(first.get("high"))
    text = first.get("text")
    if not text and (low or high):
        if low and high:
            text = f"{fmt_num(low[0])}–{fmt_num(high[0])}"
        elif low:
            text = f"≥ {fmt_num(low[0])}"
        elif high:
            text = f"≤ {fmt_num(high[0])}"
    return (low[0] if low else None), (high[0] if high else None), (clean(text) if text else None)


def _interp(cc: Any) -> str | None:
    for c in codings_of(cc):
        if c.get("code"):
            return str(c["code"])
    text = cc_text(cc)
    return text or None


def observation_category(obs: Mapping[str, Any]) -> str:
    """The first category code of an Observation (``laboratory``, ``vital-signs`` …)."""
    for c in codings_of(obs.get("category")):
        if c.get("code"):
            code = str(c["code"])
            return "vital-signs" if code == "vital-sign" else code
    return ""


def numeric_points(obs: Mapping[str, Any]) -> list[NumPoint]:
    """Every numeric value of an Observation, keyed by each of its codes."""
    date_text, date_source = observation_date(obs)
    date = parse_date(date_text)
    ref = ref_of(obs)
    category = observation_category(obs)
    out: list[NumPoint] = []

    def add(code_cc: Any, holder: Mapping[str, Any], prefix: str) -> None:
        q = _quantity(holder.get("valueQuantity"))
        path = prefix + "valueQuantity"
        if q is None and isinstance(holder.get("valueInteger"), int):
            q = (float(holder["valueInteger"]), "", "")
            path = prefix + "valueInteger"
        if q is None:
            return
        low, high, rtext = _ref_range(holder.get("referenceRange"))
        interp = _interp(holder.get("interpretation"))
        display = cc_text(code_cc)
        for c in codings_of(code_cc):
            code = c.get("code")
            if not code:
                continue
            out.append(
                NumPoint(
                    str(code),
                    display,
                    date,
                    date_text,
                    date_source,
                    q[0],
                    q[1],
                    q[2],
                    ref,
                    path,
                    low,
                    high,
                    rtext,
                    interp,
                    category,
                )
            )

    add(obs.get("code"), obs, "")
    for i, comp in enumerate(obs.get("component") or []):
        if isinstance(comp, dict):
            add(comp.get("code"), comp, f"component[{i}].")
    return out


# --------------------------------------------------------------------------- the view


def is_deceased(patient: Mapping[str, Any] | None) -> bool:
    """Whether a Patient resource records a death (``deceasedDateTime``, or
    ``deceasedBoolean`` true)."""
    p = patient or {}
    return bool(p.get("deceasedDateTime")) or p.get("deceasedBoolean") is True


def record_end(patient: Mapping[str, Any] | None, as_of: dt.date) -> dt.date:
    """The date a record's "how long ago" questions are asked on: the death date of a
    deceased patient (when recorded and earlier), else ``as_of``."""
    died = parse_date((patient or {}).get("deceasedDateTime"))
    return min(died, as_of) if died else as_of


@dataclass(frozen=True, slots=True)
class Payer:
    """Who pays for the patient's care, as one billing resource says it (not evidence
    of care): a Coverage (its payor or plan, status and period) or a claim
    (ExplanationOfBenefit or Claim: the insurer or coverage it was billed to, its date)."""

    reference: str
    version: str | None
    kind: str  # "coverage" | "claim"
    name: str
    day: str | None = None
    status: str | None = None
    end: str | None = None


def json_object(value: Any) -> dict[str, Any]:
    """A JSON object, or an empty one for anything else."""
    return value if isinstance(value, dict) else {}


def _payer(res: Resource) -> Payer | None:
    rtype = res.get("resourceType")
    meta = json_object(res.get("meta"))
    version = str(meta["versionId"]) if meta.get("versionId") else None
    if rtype == "Coverage":
        names = [
            str(p.get("display"))
            for p in res.get("payor") or []
            if isinstance(p, dict) and p.get("display")
        ]
        plan = cc_text(res.get("type"))
        name = clean(", ".join(dict.fromkeys([*names, plan] if plan else names)))
        period = json_object(res.get("period"))
        if not name:
            return None
        return Payer(
            ref_of(res), version, "coverage", name,
            str(period.get("start") or "")[:10] or None, str(res.get("status") or "") or None,
            str(period.get("end") or "")[:10] or None,
        )  # fmt: skip
    insurer = json_object(res.get("insurer"))
    name = str(insurer.get("display") or "")
    for ins in res.get("insurance") or []:
        cov = ins.get("coverage") if isinstance(ins, dict) else None
        if not name and isinstance(cov, dict) and cov.get("display"):
            name = str(cov["display"])
    period = json_object(res.get("billablePeriod"))
    day = str(period.get("start") or res.get("created") or "")[:10] or None
    return Payer(ref_of(res), version, "claim", clean(name), day) if clean(name) else None


@dataclass
class RecordView:
    """A patient's record classified once (see module docstring)."""

    patient: Resource | None
    kept: list[Resource]
    by_type: dict[str, list[Resource]]
    by_ref: dict[str, Resource]
    excluded: Counter[str]
    excluded_refs: list[tuple[str, str]]  # (reference, reason)
    not_evidence: Counter[str]
    total: int
    points_by_code: dict[str, list[NumPoint]] = field(default_factory=dict)
    #: who pays, from the billing resources (Coverage, ExplanationOfBenefit, Claim)
    payers: list[Payer] = field(default_factory=list)

    @property
    def patient_id(self) -> str | None:
        return str(self.patient["id"]) if self.patient and self.patient.get("id") else None

    @property
    def sex(self) -> str | None:
        gender = self.patient.get("gender") if self.patient else None
        return str(gender) if gender in ("male", "female") else None

    def of_type(self, *types: str) -> list[Resource]:
        """The kept resources of these types."""
        return [r for t in types for r in self.by_type.get(t, [])]

    def resolve(self, reference: Any) -> Resource | None:
        """The kept or excluded resource a Reference points to (``Type/id``)."""
        if isinstance(reference, dict):
            reference = reference.get("reference")
        if not isinstance(reference, str):
            return None
        return self.by_ref.get(reference) or self.by_ref.get("/".join(reference.split("/")[-2:]))

    def ref_display(self, reference: Any) -> str:
        """A short display of what a Reference points to."""
        target = self.resolve(reference)
        if target is not None:
            for key in ("code", "medicationCodeableConcept", "vaccineCode", "type", "category"):
                if target.get(key):
                    text = cc_text(target[key])
                    if text:
                        return text
        if isinstance(reference, dict) and reference.get("display"):
            return clean(reference["display"])
        return ""


def reasons_of(view: RecordView, resource: Mapping[str, Any]) -> list[str]:
    """The reasons of an encounter, procedure or order (``reasonCode`` texts, readable,
    then what ``reasonReference`` points to), without duplicates."""
    texts = [label_text(cc_text(c)) for c in resource.get("reasonCode") or []]
    texts += [view.ref_display(ref) for ref in resource.get("reasonReference") or []]
    return list(dict.fromkeys(t for t in texts if t))


def reason_refs_of(view: RecordView, resource: Mapping[str, Any]) -> list[str]:
    """The resources an encounter, procedure or order gives as its reason
    (``reasonReference``), as ``Type/id`` of the record, those it holds."""
    out = []
    for ref in resource.get("reasonReference") or []:
        target = view.resolve(ref)
        if target is not None:
            out.append(ref_of(target))
    return list(dict.fromkeys(out))


def view_of(record: Sequence[Resource] | RecordView) -> RecordView:
    """Classify a record (the output of ``RecordSource.everything``)."""
    if isinstance(record, RecordView):
        return record
    patient: Resource | None = None
    kept: list[Resource] = []
    by_type: dict[str, list[Resource]] = defaultdict(list)
    by_ref: dict[str, Resource] = {}
    excluded: Counter[str] = Counter()
    excluded_refs: list[tuple[str, str]] = []
    not_evidence: Counter[str] = Counter()
    points: dict[str, list[NumPoint]] = defaultdict(list)
    payers: list[Payer] = []
    for res in _iter(record):
        rtype = str(res.get("resourceType"))
        if rtype not in CLINICAL_TYPES and rtype not in ("Medication", "Specimen"):
            not_evidence[rtype] += 1
            if rtype in _BILLING and (payer := _payer(res)) is not None:
                payers.append(payer)
            continue
        by_ref[ref_of(res)] = res
        if rtype == "Patient":
            if patient is None:
                patient = res
            continue
        reason = exclusion_reason(res)
        if reason:
            excluded[reason] += 1
            excluded_refs.append((ref_of(res), reason))
            continue
        kept.append(res)
        by_type[rtype].append(res)
        if rtype == "Observation":
            for p in numeric_points(res):
                points[p.code].append(p)
    return RecordView(
        patient, kept, dict(by_type), by_ref, excluded, excluded_refs, not_evidence,
        len(by_ref) + sum(not_evidence.values()), dict(points), payers,
    )  # fmt: skip


_BILLING = frozenset({"Coverage", "ExplanationOfBenefit", "Claim"})


def _iter(record: Iterable[Any]) -> Iterable[Resource]:
    for res in record:
        if isinstance(res, dict) and res.get("resourceType"):
            yield res

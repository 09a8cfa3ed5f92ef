"""Raw FHIR R4 bundles as plain dicts, for the clinqa ground truth (stdlib only).

Independent of ``tools/`` and ``agent/`` (the code under test): the bundle is read with
``json``; a resource's id is its ``id`` or, failing that, the uuid of its ``urn:uuid:``
fullUrl (what the record store stores it under); references resolve by ``urn:uuid:…``,
the fullUrl and ``Type/id``.

Helpers here are format-level only (days, codings, statuses); what counts as *active*,
*current* or *latest* lives in :mod:`bench.clinqa.truth`.
"""

from __future__ import annotations

import functools
import json
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.ehrqa.score import normalize_name

__all__ = [
    "EXCLUDED_STATUS",
    "SYSTEMS",
    "Record",
    "bundle_files",
    "codings",
    "day",
    "excluded",
    "keyed_codes",
    "label",
    "load_record",
    "load_records",
    "norm",
    "ref",
    "status_code",
]

JSON = dict[str, Any]

#: code systems by the short key used in :mod:`bench.clinqa.concepts` (URI and OID forms)
SYSTEMS: dict[str, str] = {
    "http://loinc.org": "loinc",
    "urn:oid:2.16.840.1.113883.6.1": "loinc",
    "http://snomed.info/sct": "sct",
    "urn:oid:2.16.840.1.113883.6.96": "sct",
    "http://hl7.org/fhir/sid/cvx": "cvx",
    "urn:oid:2.16.840.1.113883.12.292": "cvx",
    "http://www.nlm.nih.gov/research/umls/rxnorm": "rxnorm",
    "urn:oid:2.16.840.1.113883.6.88": "rxnorm",
    "http://hl7.org/fhir/sid/icd-10-cm": "icd10",
    "http://hl7.org/fhir/sid/icd-10": "icd10",
    "urn:oid:2.16.840.1.113883.6.90": "icd10",
    "urn:oid:2.16.840.1.113883.6.3": "icd10",
}

#: a resource with one of these ``status`` values is void everywhere
EXCLUDED_STATUS = frozenset({"entered-in-error", "cancelled"})
_VOID_VERIFICATION = frozenset({"entered-in-error", "refuted"})


def norm(text: Any) -> str:
    """Lower case, accents and SNOMED semantic tags dropped, punctuation as blanks."""
    return _norm(str(text or ""))


@functools.lru_cache(maxsize=65536)
def _norm(text: str) -> str:
    return normalize_name(text).replace("/", " ")


def day(value: Any) -> str | None:
    """The recorded calendar day (``YYYY-MM-DD``) of a FHIR date/dateTime, no time-zone
    conversion; ``None`` for partial dates (``2019``, ``2019-03``) and non-dates."""
    if isinstance(value, str) and re.match(r"\d{4}-\d{2}-\d{2}", value):
        return value[:10]
    return None


def codings(cc: Any) -> list[JSON]:
    """Every coding of a CodeableConcept (or of a list of them)."""
    if isinstance(cc, list):
        return [c for x in cc for c in codings(x)]
    if not isinstance(cc, dict):
        return []
    return [c for c in cc.get("coding") or [] if isinstance(c, dict)]


def keyed_codes(cc: Any) -> set[str]:
    """``{"loinc:4548-4", "sct:44054006", …}`` for the known systems (others as
    ``other:CODE``)."""
    out = set()
    for c in codings(cc):
        code = c.get("code")
        if code:
            out.add(f"{SYSTEMS.get(str(c.get('system') or ''), 'other')}:{str(code).strip()}")
    return out


def label(cc: Any) -> str:
    """What the concept is called in the record: the first coding display, else the
    CodeableConcept's text, else its first code."""
    for c in codings(cc):
        if c.get("display"):
            return str(c["display"]).strip()
    if isinstance(cc, dict) and cc.get("text"):
        return str(cc["text"]).strip()
    for c in codings(cc):
        if c.get("code"):
            return str(c["code"])
    return ""


def status_code(cc: Any) -> str | None:
    """A status that is a CodeableConcept (clinicalStatus …) or a plain code."""
    if isinstance(cc, str):
        return cc
    for c in codings(cc):
        if c.get("code"):
            return str(c["code"])
    return None


def excluded(r: JSON) -> bool:
    """Void resources: ``status`` entered-in-error/cancelled, or a ``verificationStatus``
    entered-in-error/refuted."""
    if r.get("status") in EXCLUDED_STATUS:
        return True
    return status_code(r.get("verificationStatus")) in _VOID_VERIFICATION


def ref(r: JSON) -> str:
    return f"{r['resourceType']}/{r['id']}"


@dataclass
class Record:
    """One patient's resources from one bundle."""

    path: str
    patient: JSON
    resources: list[JSON]
    by_key: dict[str, JSON] = field(default_factory=dict)
    by_type: dict[str, list[JSON]] = field(default_factory=dict)
    cache: dict[Any, Any] = field(default_factory=dict, repr=False)  # derived facts

    def __post_init__(self) -> None:
        grouped: dict[str, list[JSON]] = defaultdict(list)
        for r in self.resources:
            grouped[str(r["resourceType"])].append(r)
            self.by_key.setdefault(ref(r), r)
        self.by_type = dict(grouped)

    @property
    def patient_id(self) -> str:
        return str(self.patient["id"])

    @property
    def gender(self) -> str:
        return str(self.patient.get("gender") or "unknown")

    def of(self, rtype: str) -> list[JSON]:
        """The resources of a type, void ones (see :func:`excluded`) left out."""
        return [r for r in self.by_type.get(rtype, []) if not excluded(r)]

    def resolve(self, reference: Any) -> JSON | None:
        value = reference.get("reference") if isinstance(reference, dict) else reference
        return self.by_key.get(value) if isinstance(value, str) else None

    def names(self) -> tuple[str, str, str]:
        """(given, family, prefix) of the official name, Synthea's digit suffixes dropped
        ("Kallie862" → "Kallie")."""
        names = self.patient.get("name") or [{}]
        n = next((x for x in names if x.get("use") == "official"), names[0])

        def clean(s: Any) -> str:
            return re.sub(r"\d+", "", str(s or "")).strip()

        given = clean((n.get("given") or [""])[0])
        prefix = clean((n.get("prefix") or [""])[0])
        return given, clean(n.get("family")), prefix

    @property
    def display_name(self) -> str:
        given, family, _ = self.names()
        return f"{given} {family}".strip()


def load_record(path: str | Path) -> Record | None:
    """The patient of a Bundle file (``None`` when the file holds no single Patient,
    e.g. Synthea's shared hospital/practitioner bundles)."""
    try:
        bundle = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        return None
    resources: list[JSON] = []
    urls: dict[str, JSON] = {}
    for entry in bundle.get("entry") or []:
        r = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(r, dict) or not r.get("resourceType"):
            continue
        full = entry.get("fullUrl")
        if not r.get("id") and isinstance(full, str) and full.startswith("urn:uuid:"):
            r = {**r, "id": full[len("urn:uuid:") :]}
        if not r.get("id"):
            continue
        resources.append(r)
        if isinstance(full, str):
            urls[full] = r
    patients = [r for r in resources if r["resourceType"] == "Patient"]
    if len(patients) != 1:
        return None
    rec = Record(str(path), patients[0], resources)
    rec.by_key.update(urls)
    return rec


def bundle_files(data: str | Path) -> list[Path]:
    """Every ``*.json`` under ``data`` (a file or a directory), sorted."""
    root = Path(data)
    if root.is_file():
        return [root]
    return sorted(p for p in root.rglob("*.json") if p.is_file())


def load_records(data: str | Path | Iterable[str | Path]) -> list[Record]:
    """Every patient under ``data`` (files that are not one patient's Bundle skipped),
    sorted by patient id."""
    paths = (
        bundle_files(data)
        if isinstance(data, str | Path)
        else [p for d in data for p in bundle_files(d)]
    )
    out = [r for r in (load_record(p) for p in paths) if r is not None]
    return sorted(out, key=lambda r: r.patient_id)

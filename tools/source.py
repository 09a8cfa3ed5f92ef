"""``RecordSource``: the one interface over a FHIR server and the embedded store.

Everything above ``tools`` reads a patient's record through this protocol, so it works
the same on a hospital's FHIR R4 server (:class:`tools.fhir.FhirClient`) and on the
on-premises store (:class:`tools.store.RecordStore`).

Resources are plain ``dict`` objects parsed once from JSON (validated at the boundary
by :mod:`tools.fhir_version`, not on every read).

Search parameters use FHIR's own names and syntax. A parameter may repeat, so values
are a string or a sequence of strings::

    await source.search("Observation", {"patient": "p1", "code": "http://loinc.org|4548-4",
                                        "date": ["ge2020-01-01", "lt2021-01-01"],
                                        "_sort": "date"})
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeAlias, runtime_checkable

from tools.errors import WriteRefused

__all__ = [
    "PatientRow",
    "RecordSource",
    "RecordWriter",
    "Resource",
    "SearchParams",
    "check_transaction",
    "check_write",
    "normalize_params",
]

Resource: TypeAlias = dict[str, Any]
SearchParams: TypeAlias = Mapping[str, str | Sequence[str]]


@dataclass(frozen=True, slots=True)
class PatientRow:
    """One line of a patient listing."""

    id: str
    name: str
    birth_date: str | None
    gender: str | None
    deceased: bool
    resource_count: int | None  # None where the source cannot count cheaply

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "birth_date": self.birth_date,
            "gender": self.gender,
            "deceased": self.deceased,
            "resource_count": self.resource_count,
        }


def normalize_params(params: SearchParams | None) -> list[tuple[str, str]]:
    """Flatten search parameters to ``(name, value)`` pairs, keeping repeats and order."""
    pairs: list[tuple[str, str]] = []
    for name, value in (params or {}).items():
        if isinstance(value, str):
            pairs.append((name, value))
        else:
            pairs.extend((name, str(v)) for v in value)
    return pairs


@runtime_checkable
class RecordSource(Protocol):
    """Read access to patients' FHIR R4 records. All methods are async.

    Implementations raise only :class:`tools.errors.SourceError` subclasses.
    """

    @property
    def label(self) -> str:
        """A short description for messages, e.g. ``store sqlite:///…`` or the base URL."""
        ...

    async def read(self, reference: str) -> Resource:
        """Read one resource by ``Type/id``.

        Raises ``ResourceNotFound`` (or ``ResourceGone``) when it does not exist.
        """
        ...

    async def search(
        self, resource_type: str, params: SearchParams | None = None
    ) -> list[Resource]:
        """All matches of a search (every page), as resources.

        Resources included by ``_include`` are returned too. Unsupported parameters
        raise ``UnsupportedSearch`` rather than being silently ignored.
        """
        ...

    async def everything(self, patient_id: str, *, since: str | None = None) -> list[Resource]:
        """The patient's complete record: the Patient and every resource in its compartment.

        With ``since`` (a FHIR instant), only the resources whose ``meta.lastUpdated`` is
        later (as FHIR's ``$everything?_since=``; the Patient only if it changed): what an
        incremental sync needs. Raises ``UnsupportedSearch`` when the source cannot filter
        by update time. Never includes another patient's resources. Raises
        ``PatientNotFound``.
        """
        ...

    async def patients(self) -> list[PatientRow]:
        """The patients this source holds (for a server: the Patient search)."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


@runtime_checkable
class RecordWriter(Protocol):
    """Write access (create only) to one patient's record, scoped like every read.

    Implemented by :class:`tools.fhir.FhirClient` (``POST [base]/[type]``, ``POST
    [base]`` for a transaction) and :class:`tools.store.RecordStore` (one database
    transaction). The assistant writes what a session asked for (an order) or what a
    person approved (a draft, :mod:`tools.drafts`), nothing else.
    """

    async def create(self, resource: Resource, *, patient_id: str) -> Resource:
        """Create ``resource`` (no ``id``) in ``patient_id``'s compartment.

        Returns the created resource as stored, with its new ``id`` and
        ``meta.lastUpdated``. Raises ``WriteRefused`` (before anything is sent) when the
        resource's subject/patient is not ``Patient/{patient_id}`` or it names another
        patient; otherwise the source's usual errors.
        """
        ...

    async def transaction(self, bundle: Resource, *, patient_id: str) -> Resource:
        """Apply a FHIR ``transaction`` Bundle of creates for ``patient_id``: all or nothing.

        Entries are ``POST`` creates (optionally conditional: ``request.ifNoneExist``,
        whose match is returned with status ``200 OK`` instead of a new resource) that
        may reference each other by ``urn:uuid:`` fullUrls. Checked first with
        :func:`check_transaction` (``WriteRefused``, nothing sent). Returns the
        ``transaction-response`` Bundle: one entry per request entry, in order, with
        ``response.status`` (``201 Created`` / ``200 OK``) and ``response.location``
        (``Type/id/_history/v``). On any failure nothing of the bundle is kept.
        """
        ...


def _patient_references(value: Any) -> set[str]:
    """The ids of every ``Patient/<id>`` reference anywhere in a resource."""
    found: set[str] = set()
    if isinstance(value, dict):
        ref = value.get("reference")
        if isinstance(ref, str):
            parts = ref.split("/")
            found.update(parts[i + 1] for i in range(len(parts) - 1) if parts[i] == "Patient")
        for item in value.values():
            found |= _patient_references(item)
    elif isinstance(value, list):
        for item in value:
            found |= _patient_references(item)
    return found


def check_write(resource: Any, patient_id: str, where: str = "") -> str:
    """Check that ``resource`` may be created for the session patient; its type.

    Raises ``WriteRefused`` unless it is a JSON object with a ``resourceType`` other than
    Patient, no ``id`` (the source assigns one), a subject/patient that is exactly
    ``Patient/{patient_id}``, and no reference to any other patient.
    """
    # imported here: tools.fhir_version imports fhir.resources (slow) and this module is
    # imported by everything
    from tools.fhir_version import patient_ids_of

    at = f" to {where}" if where else ""
    if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
        raise WriteRefused(f"Refused to write{at}: not a FHIR resource (no `resourceType`).")
    rtype = str(resource["resourceType"])
    if rtype == "Patient":
        raise WriteRefused(
            f"Refused to write{at}: creating Patient resources is not allowed; the assistant "
            f"only adds resources to the session patient's record (Patient/{patient_id})."
        )
    if resource.get("id") is not None:
        raise WriteRefused(
            f"Refused to write {rtype}{at}: it already has an id ({resource.get('id')!r}); "
            "create() assigns a new one. Leave `id` out."
        )
    owners = patient_ids_of(resource)
    others = (owners | _patient_references(resource)) - {patient_id}
    if owners != {patient_id} or others:
        named = ", ".join(f"Patient/{o}" for o in sorted(others)) or "no patient"
        raise WriteRefused(
            f"Refused to write {rtype}{at}: writes are bound to the session patient "
            f"Patient/{patient_id}, but the resource's subject/patient names {named}. "
            f"Set its subject (or patient) to Patient/{patient_id}."
        )
    return rtype


#: Types a write-back may create without a patient of their own: the model as a Device,
#: and a Provenance whose targets are entries of the same transaction.
_UNOWNED_TYPES = frozenset({"Device", "Provenance"})


def check_transaction(bundle: Any, patient_id: str, where: str = "") -> list[str]:
    """Check a transaction Bundle of creates for ``patient_id``; the entries' types.

    Raises ``WriteRefused`` unless it is a ``transaction`` Bundle whose every entry is a
    ``POST`` of a resource without ``id`` (never a Patient) that names no other patient;
    whose resources either belong to ``Patient/{patient_id}`` or are a Device (the model)
    or a Provenance whose targets are entries of this bundle; and whose ``urn:uuid:``
    references all name entries of this bundle.
    """
    from tools.fhir_version import patient_ids_of

    at = f" to {where}" if where else ""
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise WriteRefused(f"Refused to write{at}: not a FHIR Bundle.")
    if bundle.get("type") != "transaction":
        raise WriteRefused(
            f"Refused to write{at}: Bundle.type is {bundle.get('type')!r}, not 'transaction'."
        )
    entries = bundle.get("entry")
    if not isinstance(entries, list) or not entries:
        raise WriteRefused(f"Refused to write{at}: the transaction has no entries.")
    full_urls = {e.get("fullUrl") for e in entries if isinstance(e, dict)} - {None}
    types: list[str] = []
    for n, entry in enumerate(entries, 1):
        pos = f"entry {n}"
        request = entry.get("request") if isinstance(entry, dict) else None
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(request, dict) or str(request.get("method", "")).upper() != "POST":
            raise WriteRefused(
                f"Refused to write{at}: {pos} is not a POST; a write-back only creates."
            )
        if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
            raise WriteRefused(f"Refused to write{at}: {pos} has no FHIR resource.")
        rtype = str(resource["resourceType"])
        if request.get("url") != rtype:
            raise WriteRefused(
                f"Refused to write{at}: {pos} posts to {request.get('url')!r}, not {rtype!r}."
            )
        if rtype == "Patient" or resource.get("id") is not None:
            raise WriteRefused(
                f"Refused to write{at}: {pos} ({rtype}) creates a Patient or carries an id; "
                "a write-back only adds new resources to the patient's record."
            )
        owners = patient_ids_of(resource)
        others = (owners | _patient_references(resource)) - {patient_id}
        if others:
            named = ", ".join(f"Patient/{o}" for o in sorted(others))
            raise WriteRefused(
                f"Refused to write{at}: {pos} ({rtype}) names {named}; writes are bound to "
                f"Patient/{patient_id}."
            )
        if not owners and rtype not in _UNOWNED_TYPES:
            raise WriteRefused(
                f"Refused to write{at}: {pos} ({rtype}) belongs to no patient; its subject/"
                f"patient must be Patient/{patient_id}."
            )
        if rtype == "Provenance":
            targets = [
                t.get("reference") for t in resource.get("target") or [] if isinstance(t, dict)
            ]
            if not targets or any(t not in full_urls for t in targets):
                raise WriteRefused(
                    f"Refused to write{at}: {pos} (Provenance) must target entries of the same "
                    "transaction (their fullUrl)."
                )
        for ref in _urn_references(resource):
            if ref not in full_urls:
                raise WriteRefused(
                    f"Refused to write{at}: {pos} ({rtype}) references {ref}, which no entry of "
                    "the transaction has as its fullUrl."
                )
        types.append(rtype)
    return types


def _urn_references(value: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(value, dict):
        ref = value.get("reference")
        if isinstance(ref, str) and ref.startswith("urn:uuid:"):
            found.add(ref)
        for item in value.values():
            found |= _urn_references(item)
    elif isinstance(value, list):
        for item in value:
            found |= _urn_references(item)
    return found

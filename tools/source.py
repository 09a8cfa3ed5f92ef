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

__all__ = ["PatientRow", "RecordSource", "Resource", "SearchParams", "normalize_params"]

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

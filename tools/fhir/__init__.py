"""Async FHIR R4 client: :class:`FhirClient` implements :class:`tools.source.RecordSource`.

::

    async with FhirClient(FhirServerConfig(base_url="https://ehr.example/fhir")) as source:
        record = await source.everything("123")      # the complete record, nothing else
        labs = await source.search("Observation", {"patient": "123", "category": "laboratory"})

Auth (none, static bearer, SMART Backend Services) comes from ``config.auth``; see
:mod:`tools.fhir._auth`. Retries, timeouts and concurrency come from ``config.limits``.
"""

from __future__ import annotations

from typing import Any

from tools.fhir._auth import BearerTokenAuth, SmartBackendServicesAuth, build_auth
from tools.fhir._capabilities import Capabilities
from tools.fhir._client import FhirClient
from tools.fhir._everything import EverythingResult, Strategy

__all__ = [
    "BearerTokenAuth",
    "Capabilities",
    "EverythingResult",
    "FhirClient",
    "SmartBackendServicesAuth",
    "Strategy",
    "build_auth",
    "from_url",
]


def from_url(url: str, **kwargs: Any) -> FhirClient:
    """Shorthand for :meth:`FhirClient.from_url` (the CLI's ``--source http://...``)."""
    return FhirClient.from_url(url, **kwargs)

"""The services, their prefetch, reading the record for a hook, and the card.

The record for a call comes from the ``prefetch`` the CDS client sent (templates below),
and what it did not send is read from its ``fhirServer`` with its ``fhirAuthorization``
access token. The token lives in that request's FHIR client only: it is never stored,
logged or handed to the background brief (which reads an in-memory snapshot of the record
fetched for the request, in a temporary store deleted afterwards).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from pydantic import SecretStr

from tools.brief import Brief
from tools.config import BearerAuth, FhirServerConfig, Limits
from tools.errors import AssistantError, ResourceNotFound, UnsupportedSearch
from tools.fhir import FhirClient
from tools.fhir_version import patient_ids_of
from tools.open_items import OpenItem, card_summary
from tools.source import Resource
from tools.store import RecordStore

__all__ = [
    "PREFETCH",
    "SERVICES",
    "FetchedRecord",
    "PrefetchMissing",
    "build_card",
    "fetch_record",
    "snapshot_store",
]

log = logging.getLogger("surfaces.cds")

_P = "{{context.patientId}}"
#: What the brief needs, as CDS Hooks prefetch templates (the patient's record by type).
PREFETCH: dict[str, str] = {
    "patient": f"Patient/{_P}",
    "conditions": f"Condition?patient={_P}",
    "medications": f"MedicationRequest?patient={_P}",
    "allergies": f"AllergyIntolerance?patient={_P}",
    "observations": f"Observation?patient={_P}",
    "encounters": f"Encounter?patient={_P}",
    "procedures": f"Procedure?patient={_P}",
    "immunizations": f"Immunization?patient={_P}",
    "careplans": f"CarePlan?patient={_P}",
    "goals": f"Goal?patient={_P}",
}

SERVICES: dict[str, dict[str, Any]] = {
    "patient-brief": {
        "hook": "patient-view",
        "id": "patient-brief",
        "title": "Cited record brief",
        "description": "The patient's most important open item (an overdue key lab, a worsening "
        "abnormal result, a stale active medication) and the top facts of the record, each "
        "citing its FHIR resources; a link to the full pre-visit brief for review.",
        "prefetch": PREFETCH,
        "usageRequirements": "Register the EHR's JWT issuer and JWKS URLs in [cds] clients.",
    },
    "previsit-brief": {
        "hook": "appointment-book",
        "id": "previsit-brief",
        "title": "Pre-visit brief for the booked patient",
        "description": "When an appointment is booked: the pre-visit brief's open items and top "
        "facts, a draft brief linked to the appointment for review, or a link to start the "
        "pre-visit intake.",
        "prefetch": PREFETCH,
    },
}

_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


class PrefetchMissing(AssistantError):
    """The record cannot be had: no prefetch for it and no fhirServer to read it from."""


@dataclass
class FetchedRecord:
    """The patient's record for one call, and where it came from."""

    patient_id: str
    resources: list[Resource]
    from_prefetch: list[str] = field(default_factory=list)
    from_server: list[str] = field(default_factory=list)
    dropped: int = 0

    @property
    def versions(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for r in self.resources:
            version = (r.get("meta") or {}).get("versionId")
            if isinstance(version, str):
                out[f"{r.get('resourceType')}/{r.get('id')}"] = version
        return out


def _resources_of(value: Any) -> list[Resource]:
    if not isinstance(value, dict):
        return []
    if value.get("resourceType") == "Bundle":
        return [
            e["resource"]
            for e in value.get("entry") or []
            if isinstance(e, dict) and isinstance(e.get("resource"), dict)
        ]
    return [value] if isinstance(value.get("resourceType"), str) else []


def _fhir_client(
    server: str, authorization: Mapping[str, Any] | None, timeout: float
) -> FhirClient:
    token = (authorization or {}).get("access_token")
    auth = BearerAuth(token=SecretStr(str(token))) if token else None
    limits = Limits(timeout_s=timeout, connect_timeout_s=min(timeout, 5.0), max_retries=1)
    config = FhirServerConfig(base_url=server.rstrip("/"), limits=limits)
    if auth is not None:
        config = config.model_copy(update={"auth": auth})
    return FhirClient(config, everything_strategy="per-type")


async def fetch_record(
    patient_id: str,
    prefetch: Mapping[str, Any] | None,
    fhir_server: str | None,
    fhir_authorization: Mapping[str, Any] | None,
    *,
    timeout_s: float,
) -> FetchedRecord:
    """The patient's record from the prefetch, with what is missing read from fhirServer.

    A key sent as ``null`` means "no such data"; a key left out is read from the server.
    Resources of any other patient are dropped. Raises :class:`PrefetchMissing` when a
    key is missing and there is no ``fhirServer``, or the Patient cannot be had.
    """
    if not _ID.match(patient_id):
        raise PrefetchMissing(f"context.patientId {patient_id!r} is not a FHIR id.")
    given = dict(prefetch or {})
    record = FetchedRecord(patient_id, [])
    missing: list[tuple[str, str]] = []
    for key, template in PREFETCH.items():
        query = template.replace(_P, patient_id)
        if key in given:
            record.resources.extend(_resources_of(given[key]))
            record.from_prefetch.append(key)
        else:
            missing.append((key, query))
    if missing:
        if not fhir_server:
            raise PrefetchMissing(
                f"The prefetch lacks {', '.join(k for k, _ in missing)} and the call names no "
                "fhirServer to read them from."
            )
        client = _fhir_client(fhir_server, fhir_authorization, timeout_s)
        try:
            results = await asyncio.gather(*(_query(client, q) for _, q in missing))
        finally:
            await client.aclose()  # the token goes with the client
        for (key, _), found in zip(missing, results, strict=True):
            record.resources.extend(found)
            record.from_server.append(key)
    kept: dict[str, Resource] = {}
    for r in record.resources:
        owner = {str(r.get("id"))} if r.get("resourceType") == "Patient" else patient_ids_of(r)
        if owner != {patient_id}:
            record.dropped += 1
            continue
        kept[f"{r.get('resourceType')}/{r.get('id')}"] = r
    record.resources = list(kept.values())
    if f"Patient/{patient_id}" not in kept:
        raise PrefetchMissing(f"Patient/{patient_id} is neither in the prefetch nor readable.")
    return record


async def _query(client: FhirClient, query: str) -> list[Resource]:
    if "?" not in query:
        try:
            return [await client.read(query)]
        except ResourceNotFound:
            return []
    rtype, _, qs = query.partition("?")
    params: dict[str, list[str]] = {}
    for name, value in parse_qsl(qs, keep_blank_values=True):
        params.setdefault(name, []).append(value)
    try:
        return await client.search(rtype, params)
    except UnsupportedSearch:
        pass
    if "patient" in params:  # a server without `patient` on this type: try `subject`
        alt = {**{k: v for k, v in params.items() if k != "patient"},
               "subject": [f"Patient/{p}" for p in params["patient"]]}  # fmt: skip
        try:
            return await client.search(rtype, alt)
        except UnsupportedSearch:
            pass
    log.warning("cds: %s cannot search %s by patient; left out of the brief", client.label, rtype)
    return []


@contextlib.asynccontextmanager
async def snapshot_store(record: FetchedRecord) -> AsyncIterator[RecordStore]:
    """The call's record in a temporary store (for the background brief); deleted after."""
    folder = Path(tempfile.mkdtemp(prefix="fa-cds-"))
    store = RecordStore(folder / "snapshot.db", validation="none")
    try:
        await asyncio.to_thread(store.import_resources, record.resources, "cds snapshot")
        yield store
    finally:
        store.close()
        shutil.rmtree(folder, ignore_errors=True)


def _cites(refs: list[str] | tuple[str, ...]) -> str:
    return " ".join(f"[{r}]" for r in refs)


def build_card(
    *,
    items: list[OpenItem],
    brief: Brief,
    model_lines: list[tuple[str, list[str]]] | None,
    brief_link: str | None,
    model_pending: bool,
    intake_link: str | None,
    source_label: str,
) -> dict[str, Any]:
    """One CDS card: summary from code (the first open item), detail with cited facts."""
    detail: list[str] = []
    if items:
        detail.append("**Open items**")
        detail.extend(f"- {i.text} {_cites(i.references)}" for i in items[:6])
    if model_lines:
        detail.append("\n**Brief** _(model-written; every sentence checked against its citations)_")
        detail.extend(f"- {text} {_cites(refs)}".rstrip() for text, refs in model_lines[:8])
    else:
        for title in ("Problems", "Medications", "Allergies"):
            lines = brief.sections.get(title) or []
            if lines:
                detail.append(f"\n**{title}**")
                detail.extend(f"- {ln['text']} {_cites(ln['citations'])}" for ln in lines[:4])
        detail.append("\n_Extractive (no model): each line is taken from the cited resources._")
    links: list[dict[str, str]] = []
    if brief_link:
        label = (
            "Pre-visit brief (model-written, completing in the background)"
            if model_pending
            else "Pre-visit brief for review"
        )
        links.append({"label": label, "url": brief_link, "type": "absolute"})
    if intake_link:
        links.append(
            {"label": "Start the pre-visit intake", "url": intake_link, "type": "absolute"}
        )
    worsening = bool(items) and items[0].kind == "worsening"
    card: dict[str, Any] = {
        "uuid": str(uuid.uuid4()),
        "summary": card_summary(items),
        "indicator": "warning" if worsening else "info",
        "detail": "\n".join(detail).strip(),
        "source": {"label": source_label},
    }
    if links:
        card["links"] = links
    return card

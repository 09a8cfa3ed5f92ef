"""Copy patients' records from any :class:`~tools.source.RecordSource` into the store.

The first sync of a patient from a source fetches ``source.everything(pid)``. The store
then remembers, per (source label, patient), the newest ``meta.lastUpdated`` it received
(or, when the resources carry none, the local UTC time at which that sync started); the
next sync asks every patient-compartment type for ``_lastUpdated=gt<that>`` only. Every
sync is one store transaction together with its new mark, so an interrupted sync leaves
the previous state, and repeating a sync is harmless (unchanged resources stay unchanged).

Limitation: an incremental sync sees changed and new resources, not deletions on the
source (that needs the source's ``_history``); delete the patient and sync again to drop
them.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Literal

from tools.errors import AssistantError, UnsupportedSearch
from tools.source import RecordSource, Resource
from tools.store._dates import instant, now_utc, to_fhir_instant
from tools.store._store import RecordStore
from tools.store._validation import Validation

__all__ = ["SyncReport", "sync_all", "sync_patient"]


@dataclass(slots=True)
class SyncReport:
    """What one patient's sync did."""

    source: str
    patient_id: str
    mode: Literal["full", "incremental"] = "full"
    since: str | None = None  # the `_lastUpdated=gt` bound used (None: full sync)
    next_since: str | None = None  # the bound the next sync will use
    fetched: int = 0
    imported: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    note: str = ""
    error: AssistantError | None = None

    @property
    def ok(self) -> bool:
        """True unless the sync failed (the store is then as it was)."""
        return self.error is None


def _newest(resources: list[Resource]) -> str | None:
    """The greatest meta.lastUpdated, as the source wrote it (None if none carry one)."""
    best: tuple[str, str] | None = None
    for resource in resources:
        meta = resource.get("meta")
        value = meta.get("lastUpdated") if isinstance(meta, dict) else None
        if isinstance(value, str):
            try:
                key = instant(value)
            except ValueError:
                continue
            if best is None or key > best[0]:
                best = (key, value)
    return best[1] if best else None


def _dedupe(resources: list[Resource]) -> list[Resource]:
    unique: dict[str, Resource] = {}
    for resource in resources:
        unique[f"{resource.get('resourceType')}/{resource.get('id')}"] = resource
    return list(unique.values())


async def sync_patient(
    source: RecordSource,
    store: RecordStore,
    patient_id: str,
    since: str | None = None,
    *,
    validation: Validation | None = None,
) -> SyncReport:
    """Bring one patient's record in ``store`` up to date with ``source``.

    ``since`` overrides the remembered bound (a FHIR instant; ``_lastUpdated=gt<since>``).
    Raises the source's ``SourceError`` (e.g. ``PatientNotFound``) or the import's
    ``ImportFailed``; nothing is written then.
    """
    label = source.label
    report = SyncReport(source=label, patient_id=patient_id)
    started = to_fhir_instant(now_utc())
    if since is None:
        since = await asyncio.to_thread(store.sync_since, label, patient_id)
    resources: list[Resource]
    if since is None:
        resources = await source.everything(patient_id)
    else:
        try:
            resources = await source.everything(patient_id, since=since)
            report.mode, report.since = "incremental", since
        except UnsupportedSearch as exc:
            report.note = f"incremental search not supported ({exc}); fetched everything"
            resources = await source.everything(patient_id)
    resources = _dedupe(resources)
    report.fetched = len(resources)
    newest = _newest(resources)
    if newest is None:
        newest = since if since is not None and not resources else started
    report.next_since = newest
    imported = await asyncio.to_thread(
        store.import_resources,
        resources,
        f"{label} Patient/{patient_id}",
        validation=validation,
        _mark=(label, patient_id, newest),
    )
    report.imported, report.updated = imported.imported, imported.updated
    report.unchanged, report.skipped = imported.unchanged, imported.skipped
    return report


async def sync_all(
    source: RecordSource,
    store: RecordStore,
    patient_ids: list[str] | None = None,
    since: str | None = None,
    *,
    validation: Validation | None = None,
) -> list[SyncReport]:
    """Sync several patients (default: every patient ``source.patients()`` lists).

    One patient's failure is recorded in its report (``error``) and the others continue.
    """
    if patient_ids is None:
        patient_ids = [row.id for row in await source.patients()]
    reports: list[SyncReport] = []
    for patient_id in patient_ids:
        try:
            reports.append(
                await sync_patient(source, store, patient_id, since, validation=validation)
            )
        except AssistantError as exc:
            reports.append(SyncReport(source=source.label, patient_id=patient_id, error=exc))
    return reports

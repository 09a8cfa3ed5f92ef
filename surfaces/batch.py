"""Event-triggered briefs for integration engines: a draft brief for every booked
``Appointment`` of a day (``fhir-assistant batch --appointments DATE`` and
``POST /v1/batch/appointments``).

Appointments are searched on the source (``Appointment?date=DATE&status=booked``); each
one's patient is its ``Patient`` participant. Briefs are drafted concurrently up to a
limit; each draft is keyed by ``{appointment id}@{date}`` in the drafts table, so a run
that crashed (or was interrupted) is resumed by running it again: drafts already made are
not redone. Nothing is written to the record: the drafts wait for a person's approval.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Literal

from agent.config import DeploymentConfig
from agent.models import ChatModel
from tools.drafts import WriteBack
from tools.errors import AssistantError, UnsupportedSearch
from tools.source import RecordSource, Resource

from .drafting import draft_brief

__all__ = ["BatchItem", "BatchReport", "booked_appointments", "run_batch"]

Outcome = Literal["drafted", "done-before", "failed"]


@dataclass
class BatchItem:
    """What happened to one appointment."""

    appointment: str
    patient: str | None
    outcome: Outcome
    draft_id: str | None = None
    error: str | None = None
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "appointment": self.appointment,
            "patient": self.patient,
            "outcome": self.outcome,
            "draft_id": self.draft_id,
            "error": self.error,
            "seconds": round(self.seconds, 2),
        }


@dataclass
class BatchReport:
    date: str
    mode: Literal["extractive", "model"]
    items: list[BatchItem] = field(default_factory=list)
    seconds: float = 0.0

    def count(self, outcome: Outcome) -> int:
        return sum(1 for i in self.items if i.outcome == outcome)

    @property
    def failed(self) -> list[BatchItem]:
        return [i for i in self.items if i.outcome == "failed"]

    def as_dict(self) -> dict[str, Any]:
        return {
            "date": self.date,
            "mode": self.mode,
            "appointments": len(self.items),
            "drafted": self.count("drafted"),
            "done_before": self.count("done-before"),
            "failed": self.count("failed"),
            "seconds": round(self.seconds, 2),
            "items": [i.as_dict() for i in self.items],
        }


def _patient_of(appointment: Resource) -> str | None:
    for participant in appointment.get("participant") or []:
        ref = ((participant or {}).get("actor") or {}).get("reference")
        if isinstance(ref, str) and ref.split("/")[-2:-1] == ["Patient"]:
            return ref.split("/")[-1]
    return None


async def booked_appointments(source: RecordSource, date: str) -> list[Resource]:
    """The booked appointments starting on ``date`` (YYYY-MM-DD), in start order."""
    try:
        found = await source.search("Appointment", {"date": date, "status": "booked"})
    except UnsupportedSearch as exc:
        raise UnsupportedSearch(
            f"{source.label} cannot search appointments by date and status: {exc}"
        ) from exc
    found = [a for a in found if a.get("resourceType") == "Appointment"]
    return sorted(found, key=lambda a: (str(a.get("start", "")), str(a.get("id"))))


async def run_batch(
    desk: WriteBack,
    date: str,
    *,
    deployment: DeploymentConfig,
    source: RecordSource | None = None,
    model: ChatModel | None = None,
    concurrency: int = 2,
    created_by: str = "batch",
    on_item: Callable[[BatchItem, int, int], None] | None = None,
    model_slot: Callable[[], AbstractAsyncContextManager[Any]] | None = None,
) -> BatchReport:
    """Draft a brief for every booked appointment of ``date`` (see the module docstring).

    ``model``: a model-written brief (serialized: one model run at a time), else the
    extractive brief; ``model_slot()`` (the service's model gate) is held around each
    model run, else one model run at a time. ``on_item(item, done, total)`` is called as
    each one finishes.
    Failures of one appointment (a missing patient, a source error, a model error) are
    reported in its item; the others go on.
    """
    src = source or desk.source
    started = time.perf_counter()
    appointments = await booked_appointments(src, date)
    report = BatchReport(date=date, mode="model" if model is not None else "extractive")
    limit = asyncio.Semaphore(max(1, concurrency))
    model_lock = asyncio.Lock()
    slot = model_slot or (lambda: model_lock)
    done = 0

    async def one(appointment: Resource) -> BatchItem:
        nonlocal done
        ref = f"Appointment/{appointment.get('id')}"
        patient = _patient_of(appointment)
        key = f"{appointment.get('id')}@{date}"
        item = BatchItem(ref, patient, "failed")
        t0 = time.perf_counter()
        async with limit:
            try:
                existing = await desk.drafts.by_batch_key(key)
                if existing is not None:
                    item.outcome, item.draft_id = "done-before", existing.id
                elif patient is None:
                    item.error = "the appointment names no Patient participant"
                else:
                    if model is not None:
                        async with slot():
                            draft = await draft_brief(
                                desk, patient, deployment=deployment, source=src, model=model,
                                created_by=created_by, appointment=ref, batch_key=key,
                            )  # fmt: skip
                    else:
                        draft = await draft_brief(
                            desk, patient, deployment=deployment, source=src, extractive=True,
                            created_by=created_by, appointment=ref, batch_key=key,
                        )  # fmt: skip
                    item.outcome, item.draft_id = "drafted", draft.id
            except AssistantError as exc:
                item.error = f"{type(exc).__name__}: {exc}"
            except Exception as exc:  # one appointment's bug must not stop the day's batch
                item.error = f"unexpected {type(exc).__name__}: {exc}"
        item.seconds = time.perf_counter() - t0
        done += 1
        if on_item is not None:
            on_item(item, done, len(appointments))
        return item

    report.items = list(await asyncio.gather(*(one(a) for a in appointments)))
    report.seconds = time.perf_counter() - started
    return report

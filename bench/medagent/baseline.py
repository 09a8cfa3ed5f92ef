"""The deterministic, no-model baseline for the MedAgentBench-style tasks.

**Oracle routing** (like :mod:`bench.ehrqa.baseline`): it reads ``task.kind`` and
``task.params`` instead of understanding the text, and then does the task with the
project's tools only: :func:`tools.lookup.find_patients`, ``RecordSource.search`` and
``RecordWriter.create``. It never reads ``task.expected``. Its score is what the tools
can do when a planner routes every task perfectly — not a model result.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from bench.medagent.answer import TaskAnswer
from bench.medagent.generate import Task
from tools import orders, writes
from tools.errors import AssistantError
from tools.lookup import find_patients
from tools.source import RecordSource, RecordWriter, Resource

__all__ = ["BASELINE_TAG", "BaselineAnswerer", "lab_order"]

LOINC = "http://loinc.org"
BASELINE_TAG = {
    "system": "urn:fhir-record-assistant:tag",
    "code": "assistant-generated",
    "display": "Created by the medagent baseline (benchmark)",
}
_EXCLUDED = {"entered-in-error", "cancelled"}


def lab_order(patient_id: str, code: str, display: str, reason: str) -> Resource:
    """The assistant's ServiceRequest shape (:func:`tools.orders.lab_order`), tagged as the
    benchmark baseline's."""
    return orders.lab_order(patient_id, code, display, reason, tag=BASELINE_TAG)


def _when(obs: Resource) -> str | None:
    for key in ("effectiveDateTime", "effectiveInstant"):
        if isinstance(obs.get(key), str):
            return str(obs[key])
    period = obs.get("effectivePeriod")
    if isinstance(period, dict) and isinstance(period.get("start"), str):
        return str(period["start"])
    return obs.get("issued") if isinstance(obs.get("issued"), str) else None


def _is_lab(obs: Resource) -> bool:
    return any(
        c.get("code") == "laboratory"
        for cat in obs.get("category") or []
        if isinstance(cat, dict)
        for c in cat.get("coding") or []
        if isinstance(c, dict)
    )


class BaselineAnswerer:
    """No-model task runner over a RecordSource (and RecordWriter for orders)."""

    name = "baseline"

    def __init__(self, source: RecordSource) -> None:
        self.source = source

    async def answer(self, task: Task, patient_id: str | None) -> TaskAnswer:
        started = time.perf_counter()
        try:
            handler = getattr(self, f"_{task.kind}", None)
            if handler is None:
                out = TaskAnswer(error=f"no route for kind {task.kind}")
            else:
                out = await handler(task, patient_id)
        except AssistantError as exc:
            out = TaskAnswer(error=f"{type(exc).__name__}: {exc}")
        out.latency_s = time.perf_counter() - started
        return out

    async def _find_patient(self, task: Task, patient_id: str | None) -> TaskAnswer:
        rows = await find_patients(
            self.source, name=task.params["name"], birth_date=task.params["birth_date"]
        )
        if len(rows) != 1:
            return TaskAnswer(
                text=f"{len(rows)} patients match; not guessing.", error="not exactly one match"
            )
        return TaskAnswer(text=f"Patient/{rows[0].id}", value=rows[0].id)

    async def _labs(
        self, patient_id: str, code: str, start: str | None, end: str
    ) -> list[tuple[str, str, Resource]]:
        """(local day, recorded dateTime, Observation) of the lab values in the window."""
        end_d = dt.date.fromisoformat(end)
        dates = [f"le{(end_d + dt.timedelta(days=1)).isoformat()}"]
        if start is not None:
            dates.append(f"ge{(dt.date.fromisoformat(start) - dt.timedelta(days=1)).isoformat()}")
        found = await self.source.search(
            "Observation", {"patient": patient_id, "code": f"{LOINC}|{code}", "date": dates}
        )
        out = []
        for obs in found:
            q: Any = obs.get("valueQuantity")
            when = _when(obs)
            if (
                obs.get("status") in _EXCLUDED
                or not _is_lab(obs)
                or not isinstance(q, dict)
                or not isinstance(q.get("value"), int | float)
                or when is None
            ):
                continue
            day = when[:10]  # the recorded local day, as the task states windows
            if (start is None or day >= start) and day <= end:
                out.append((day, when, obs))
        return sorted(out, key=lambda t: t[1])

    async def _lab_window(self, task: Task, patient_id: str | None) -> TaskAnswer:
        if patient_id is None:
            return TaskAnswer(error="no session patient")
        p = task.params
        labs = await self._labs(patient_id, p["code"], p["start"], p["end"])
        if not labs:
            return TaskAnswer(text="none", none=True)
        day, _, obs = labs[-1]
        q = obs["valueQuantity"]
        unit = str(q.get("unit") or q.get("code") or "")
        value = q["value"]
        return TaskAnswer(
            text=f"{value} {unit} on {day} [Observation/{obs.get('id')}]",
            value=value,
            unit=unit,
            date=day,
        )

    async def _write(self, patient_id: str, resource: Resource) -> TaskAnswer:
        if not isinstance(self.source, RecordWriter):
            return TaskAnswer(error="the source cannot write")
        created = await self.source.create(resource, patient_id=patient_id)
        ref = f"{created.get('resourceType')}/{created.get('id')}"
        return TaskAnswer(text=f"wrote {ref}.", ordered=[ref])

    async def _record_vital(self, task: Task, patient_id: str | None) -> TaskAnswer:
        if patient_id is None:
            return TaskAnswer(error="no session patient")
        p = task.params
        value = f"{p['systolic']}/{p['diastolic']}" if "systolic" in p else p["value"]
        return await self._write(
            patient_id,
            writes.vital_observation(
                patient_id, p["vital"], value, unit=p["unit"], tag=BASELINE_TAG
            ),
        )

    async def _medication_order(self, task: Task, patient_id: str | None) -> TaskAnswer:
        if patient_id is None:
            return TaskAnswer(error="no session patient")
        p = task.params
        # the task's own structured params, mapped back to the builder's words
        freq = next(
            k
            for k, v in writes.FREQUENCIES.items()
            if (v[1], float(v[2]), v[3]) == (p["frequency"], float(p["period"]), p["period_unit"])
        )
        return await self._write(
            patient_id,
            writes.medication_order(
                patient_id,
                drug=p["drug"],
                rxnorm=p["rxnorm"],
                dose=p["dose"],
                dose_unit_word=p["dose_unit"],
                route=p["route"],
                frequency=freq,
                tag=BASELINE_TAG,
            ),
        )

    async def _referral(self, task: Task, patient_id: str | None) -> TaskAnswer:
        if patient_id is None:
            return TaskAnswer(error="no session patient")
        p = task.params
        return await self._write(
            patient_id,
            writes.referral(
                patient_id, specialty=p["specialty_code"], reason=p["reason"], tag=BASELINE_TAG
            ),
        )

    async def _window_value(self, task: Task, patient_id: str | None) -> TaskAnswer:
        if patient_id is None:
            return TaskAnswer(error="no session patient")
        p = task.params
        labs = await self._labs(patient_id, p["code"], p["start"], p["end"])
        if p["op"] == "count":
            return TaskAnswer(text=f"{len(labs)} results", value=len(labs), none=not labs)
        if not labs:
            return TaskAnswer(text="none", none=True)
        values = [float(obs["valueQuantity"]["value"]) for _, _, obs in labs]
        got = {"mean": sum(values) / len(values), "min": min(values), "max": max(values)}[p["op"]]
        q = labs[0][2]["valueQuantity"]
        unit = str(q.get("unit") or q.get("code") or "")
        return TaskAnswer(text=f"{got:.4g} {unit} ({len(values)} results)", value=got, unit=unit)

    async def _conditional_order(self, task: Task, patient_id: str | None) -> TaskAnswer:
        if patient_id is None:
            return TaskAnswer(error="no session patient")
        p = task.params
        labs = await self._labs(patient_id, p["code"], None, p["ref_date"])
        ref = dt.date.fromisoformat(p["ref_date"])
        if labs:
            last = labs[-1][0]
            since = (ref - dt.date.fromisoformat(last)).days
            found = f"latest {p['display']} on {last} ({since} days before {p['ref_date']})"
            due = since > int(p["days"])
        else:
            found, due = f"no {p['display']} on or before {p['ref_date']}", True
        if not due:
            return TaskAnswer(text=f"{found}; no order needed.", ordered=[])
        if not isinstance(self.source, RecordWriter):
            return TaskAnswer(text=found, error="the source cannot write")
        created = await self.source.create(
            lab_order(patient_id, p["code"], p["display"], f"{found}; due per the task"),
            patient_id=patient_id,
        )
        ref_created = f"ServiceRequest/{created.get('id')}"
        return TaskAnswer(text=f"{found}; ordered {ref_created}.", ordered=[ref_created])

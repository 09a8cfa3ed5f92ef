"""``record_vital``: record a vital sign taken now (an Observation) for the session
patient — a write.

Offered only when the deployment allows writes (``AgentSettings.allow_writes``) and the
source is a :class:`tools.source.RecordWriter`. The resource is built by
:func:`tools.writes.vital_observation` (category vital-signs, LOINC code, UCUM unit,
status final, effective now, the assistant's tag); the subject is the session patient
from the context, never from the arguments. The same reading written by the assistant in
the last 15 minutes is returned instead of a second copy. The written Observation becomes
a citable evidence item.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import Field

from tools.evidence import Coding
from tools.orders import LOINC_SYSTEM
from tools.source import Resource
from tools.writes import vital_kind, vital_observation

from ..context import AgentContext
from ._base import Tool, ToolArgs, ToolResult
from ._write import at, build, check_writes, create, existing, one_writer, written_result

__all__ = ["TOOL", "RecordVitalArgs", "record_vital"]


class RecordVitalArgs(ToolArgs):
    """A vital sign measured now: which one, its value and the unit it was given in."""

    vital: str = Field(
        min_length=2,
        max_length=40,
        description="blood pressure, heart rate, respiratory rate, weight, height, "
        "temperature or oxygen saturation",
    )
    value: str = Field(min_length=1, max_length=20, description="number; BP as 128/82")
    unit: str | None = Field(None, max_length=20, description="as stated, e.g. mmHg, kg, lb, °C")


def _values(r: Resource) -> list[Any]:
    if isinstance(r.get("valueQuantity"), dict):
        return [r["valueQuantity"].get("value")]
    return [(c.get("valueQuantity") or {}).get("value") for c in r.get("component") or []]


async def record_vital(ctx: AgentContext, args: RecordVitalArgs) -> ToolResult:
    check_writes(ctx)
    pid = ctx.patient_id
    resource = build(lambda: vital_observation(pid, args.vital, args.value, unit=args.unit))
    v = vital_kind(args.vital)
    shown = "/".join(f"{x:g}" for x in _values(resource)) + f" {v.unit}"
    coding = Coding(system=LOINC_SYSTEM, code=v.code, display=v.display)
    now = dt.datetime.now(dt.UTC)

    def same(r: Resource) -> bool:
        when = str(r.get("effectiveDateTime") or "")
        try:
            recent = now - dt.datetime.fromisoformat(when.replace("Z", "+00:00")) < dt.timedelta(
                minutes=15
            )
        except ValueError:
            return False
        return recent and _values(r) == _values(resource)

    since = (now.date() - dt.timedelta(days=1)).isoformat()
    async with one_writer(ctx):
        found = await existing(
            ctx, "Observation", {"code": f"{LOINC_SYSTEM}|{v.code}", "date": f"ge{since}"}, same
        )
        if found is not None:
            ref = f"Observation/{found.get('id')}"
            when = str(found.get("effectiveDateTime", ""))
            text = f"already recorded (not recorded again): {v.display} {shown}: {ref}, at {when}"
            said = f"{v.display} {shown} was already recorded{at(when)}; not recorded again"
            return await written_result(ctx, ref, when, coding, v.display, text, found, said=said)
        created = await create(ctx, resource)
        ref = f"Observation/{created.get('id')}"
        when = str(created.get("effectiveDateTime", resource["effectiveDateTime"]))
        text = (
            f"recorded {v.display} {shown} (LOINC {v.code}): {ref}, status final, "
            f"category vital-signs, effective {when}"
        )
        said = f"Recorded {v.display} {shown} (LOINC {v.code}){at(when)}"
        return await written_result(
            ctx, ref, when, coding, f"{v.display} {shown}", text, {**resource, **created}, said=said
        )


TOOL = Tool(
    "record_vital",
    RecordVitalArgs,
    record_vital,
    "records a vital sign measured now in this patient's chart (an Observation); only when "
    "the user gives a reading to record",
    needs="writes",
)

"""``order_lab``: order a lab test (a ServiceRequest) for the session patient — a write.

Offered only when the deployment allows writes (``AgentSettings.allow_writes``) and the
source is a :class:`tools.source.RecordWriter`. The subject is the session patient from
the context, never from the arguments. An active order for the same LOINC code that the
assistant already created is returned instead of a duplicate (a resumed thread may run
the call again). The created order becomes a citable evidence item.
"""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from tools.evidence import Coding
from tools.orders import lab_order

from ..context import AgentContext
from ._base import Tool, ToolArgs, ToolResult
from ._write import at, check_writes, create, existing, one_writer, written_result

__all__ = ["TOOL", "OrderLabArgs", "order_lab"]

_LOINC = "http://loinc.org"
_LOINC_CODE = re.compile(r"^\d{1,7}-\d$")


class OrderLabArgs(ToolArgs):
    code: str = Field(
        max_length=20, description="LOINC", json_schema_extra={"code_system": "loinc"}
    )
    display: str = Field(min_length=1, max_length=200, description="test name")
    reason: str = Field(
        min_length=1,
        max_length=500,
        description="why, in a few words, from the question and the record",
    )

    @field_validator("code")
    @classmethod
    def _loinc(cls, v: str) -> str:
        if not _LOINC_CODE.match(v):
            raise ValueError(f"code must be a LOINC code such as 4548-4, not {v!r}")
        return v


async def order_lab(ctx: AgentContext, args: OrderLabArgs) -> ToolResult:
    check_writes(ctx)
    code, display, reason = args.code, " ".join(args.display.split()), " ".join(args.reason.split())
    pid = ctx.patient_id
    coding = Coding(system=_LOINC, code=code, display=display)
    named = f"{display} (LOINC {code})"
    async with one_writer(ctx):  # parallel identical calls: one order
        found = await existing(
            ctx,
            "ServiceRequest",
            {"code": f"{_LOINC}|{code}"},
            lambda r: r.get("status") == "active",
        )
        if found is not None:
            ref = f"ServiceRequest/{found.get('id')}"
            when = str(found.get("authoredOn", ""))
            text = f"already ordered (not ordered again): {named}: {ref}, status active, authored {when or 'unknown'}"
            said = f"{named} was already ordered by the assistant{at(when)}; not ordered again"
            return await written_result(ctx, ref, when, coding, display, text, said=said)
        created = await create(ctx, lab_order(pid, code, display, reason))
        ref = f"ServiceRequest/{created.get('id')}"
        when = str(created.get("authoredOn", ""))
        text = f"ordered {named}: {ref}, status active, intent order, authored {when}; reason: {reason}"
        said = f"Ordered {named}{at(when)}; reason: {reason}"
        return await written_result(ctx, ref, when, coding, display, text, said=said)


TOOL = Tool(
    "order_lab",
    OrderLabArgs,
    order_lab,
    "orders the test for this patient (a ServiceRequest); only when the question asks for an "
    "order and its condition holds in the record",
    needs="writes",
)

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

from tools.errors import ImportFailed, UnsupportedSearch, WriteRefused
from tools.evidence import Coding, EvidenceItem, Point, SourceRef
from tools.fhir_version import patient_ids_of
from tools.orders import is_assistant_order, lab_order
from tools.source import RecordWriter

from ..context import AgentContext
from ..errors import ToolCallError, ToolCallRefused
from ._base import Tool, ToolArgs, ToolResult, ensure_evidence, new_handle
from ._write import one_writer

__all__ = ["TOOL", "OrderLabArgs", "order_lab"]

_LOINC = "http://loinc.org"
_LOINC_CODE = re.compile(r"^\d{1,7}-\d$")


class OrderLabArgs(ToolArgs):
    code: str = Field(
        max_length=20, description="LOINC", json_schema_extra={"code_system": "loinc"}
    )
    display: str = Field(min_length=1, max_length=200, description="test name")
    reason: str = Field(
        min_length=1, max_length=500, description="why, in a few words (e.g. no HbA1c in 2 years)"
    )

    @field_validator("code")
    @classmethod
    def _loinc(cls, v: str) -> str:
        if not _LOINC_CODE.match(v):
            raise ValueError(f"code must be a LOINC code such as 4548-4, not {v!r}")
        return v


async def order_lab(ctx: AgentContext, args: OrderLabArgs) -> ToolResult:
    async with one_writer(ctx):  # parallel identical calls: one order
        return await _order_lab(ctx, args)


async def _order_lab(ctx: AgentContext, args: OrderLabArgs) -> ToolResult:
    if not ctx.settings.allow_writes:
        raise ToolCallError("writes are disabled for this deployment")
    if not isinstance(ctx.source, RecordWriter):
        raise ToolCallError(
            "writes are disabled for this deployment: the record source cannot create resources"
        )
    code, display, reason = args.code, " ".join(args.display.split()), " ".join(args.reason.split())
    pid = ctx.patient_id
    coding = Coding(system=_LOINC, code=code, display=display)
    try:
        existing = await ctx.source.search(
            "ServiceRequest", {"patient": pid, "code": f"{_LOINC}|{code}"}
        )
    except UnsupportedSearch:
        existing = []
    for sr in existing:
        if is_assistant_order(sr) and sr.get("status") == "active" and pid in patient_ids_of(sr):
            ref = f"ServiceRequest/{sr.get('id')}"
            return await _result(
                ctx,
                ref,
                str(sr.get("authoredOn", "")),
                coding,
                f"already ordered (not ordered again): {display} (LOINC {code}): {ref}, "
                f"status active, authored {sr.get('authoredOn', 'unknown')}",
            )
    resource = lab_order(pid, code, display, reason)
    now = str(resource["authoredOn"])
    try:
        created = await ctx.source.create(resource, patient_id=pid)
    except WriteRefused as exc:
        raise ToolCallRefused(f"refused: {exc}") from None
    except ImportFailed as exc:
        raise ToolCallError(f"the order was not stored: {exc}") from None
    ref = f"ServiceRequest/{created.get('id')}"
    authored = str(created.get("authoredOn", now))
    return await _result(
        ctx,
        ref,
        authored,
        coding,
        f"ordered {display} (LOINC {code}): {ref}, status active, intent order, "
        f"authored {authored}; reason: {reason}",
    )


async def _result(
    ctx: AgentContext, ref: str, authored: str, coding: Coding, text: str
) -> ToolResult:
    """The tool line and a citable evidence item (a new handle) for a created order."""
    ev = await ensure_evidence(ctx)
    handle = ctx.cache.written.get(ref) or new_handle(ctx, ev)
    ctx.cache.written[ref] = handle
    item = EvidenceItem(
        handle=handle,
        kind="order",
        section="orders",
        patient_id=ctx.patient_id,
        name=coding.display or coding.code or "lab order",
        codings=(coding,),
        status="active",
        points=(
            Point(
                source=SourceRef(reference=ref, path="code"), date=authored or None, status="active"
            ),
        ),
        reference=ref,
        path="code",
        date=authored[:10] or None,
        text=text,
    )
    result = ToolResult([f"{text} [{handle}]"])
    result.add(ctx, item)
    result.statements.append((text, [handle]))
    return result


TOOL = Tool(
    "order_lab",
    OrderLabArgs,
    order_lab,
    "orders the test for this patient (a ServiceRequest); only when the question asks for an "
    "order and its condition holds in the record",
    needs="writes",
)

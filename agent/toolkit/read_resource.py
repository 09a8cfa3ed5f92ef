"""``read_resource``: the evidence of one of the session patient's resources by
``Type/id`` (refused for anything outside the patient's record)."""

from __future__ import annotations

from pydantic import Field

from tools.errors import ResourceNotFound
from tools.fhir_version import patient_ids_of

from ..context import AgentContext
from ..errors import ToolCallError, ToolCallRefused
from ..guard import REFERENCE
from ._base import Tool, ToolArgs, ToolResult, bounded, ensure_evidence

__all__ = ["TOOL", "ReadResourceArgs", "read_resource"]


class ReadResourceArgs(ToolArgs):
    reference: str = Field(max_length=120, description="Type/id of this patient's resource")


async def read_resource(ctx: AgentContext, args: ReadResourceArgs) -> ToolResult:
    ref = args.reference
    m = REFERENCE.match(ref)
    if not m:
        raise ToolCallError("reference must look like Type/id, e.g. Observation/abc")
    if m.group(1) == "Patient" and m.group(2) != ctx.patient_id:
        raise ToolCallRefused(
            f"refused: this session can only read Patient/{ctx.patient_id}'s record."
        )
    ev = await ensure_evidence(ctx)
    known = [i for i in ev.items if ref in i.references]
    if not known:
        try:
            resource = await ctx.source.read(ref)
        except ResourceNotFound:
            raise ToolCallError("no such resource in this patient's record") from None
        if ctx.patient_id not in patient_ids_of(resource):
            raise ToolCallRefused(
                "refused: that resource does not belong to this session's patient."
            )
        raise ToolCallError(
            "that resource is in the record but not shown as evidence (excluded: entered "
            "in error, cancelled, or administrative)"
        )
    return bounded(ctx, known, "evidence lines")


TOOL = Tool("read_resource", ReadResourceArgs, read_resource, "the evidence of one resource")

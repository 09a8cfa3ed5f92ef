"""``refer_patient``: refer the session patient to a specialty with a reason (a referral
ServiceRequest) — a write.

Offered only when the deployment allows writes (``AgentSettings.allow_writes``) and the
source is a :class:`tools.source.RecordWriter`. The resource is built by
:func:`tools.writes.referral` (category SNOMED 3457005, the specialty's SNOMED code as
code and performerType, the reason, status active, intent order, the assistant's tag);
an unknown specialty is sent back as a tool error. An active referral to the same
specialty that the assistant already wrote is returned instead of a duplicate. The
written ServiceRequest becomes a citable evidence item.
"""

from __future__ import annotations

from pydantic import Field

from tools.evidence import Coding
from tools.source import Resource
from tools.writes import REFERRAL_CATEGORY, SNOMED_SYSTEM, referral

from ..context import AgentContext
from ._base import Tool, ToolArgs, ToolResult
from ._write import at, build, check_writes, create, existing, one_writer, written_result

__all__ = ["TOOL", "ReferPatientArgs", "refer_patient"]


class ReferPatientArgs(ToolArgs):
    """A referral: the specialty and why."""

    specialty: str = Field(min_length=2, max_length=60, description="e.g. cardiology")
    reason: str = Field(min_length=2, max_length=300)


async def refer_patient(ctx: AgentContext, args: ReferPatientArgs) -> ToolResult:
    check_writes(ctx)
    pid = ctx.patient_id
    resource = build(lambda: referral(pid, specialty=args.specialty, reason=args.reason))
    spec = resource["performerType"]["coding"][0]
    coding = Coding(system=SNOMED_SYSTEM, code=spec["code"], display=spec["display"])
    reason = str(resource["reasonCode"][0]["text"])

    def same(r: Resource) -> bool:
        codes = {
            c.get("code")
            for c in ((r.get("performerType") or {}).get("coding") or [])
            + ((r.get("code") or {}).get("coding") or [])
            if isinstance(c, dict)
        }
        return r.get("status") == "active" and spec["code"] in codes

    system, code, _ = REFERRAL_CATEGORY
    async with one_writer(ctx):
        found = await existing(ctx, "ServiceRequest", {"category": f"{system}|{code}"}, same)
        if found is not None:
            ref = f"ServiceRequest/{found.get('id')}"
            when = str(found.get("authoredOn", ""))
            text = (
                f"already referred (not referred again): {spec['display']}: {ref}, status active, "
                f"authored {when}"
            )
            said = f"A referral to {spec['display']} was already placed by the assistant{at(when)}"
            return await written_result(
                ctx,
                ref,
                when,
                coding,
                f"Referral to {spec['display']}",
                text,
                said=f"{said}; not placed again",
            )
        created = await create(ctx, resource)
        ref = f"ServiceRequest/{created.get('id')}"
        when = str(created.get("authoredOn", resource["authoredOn"]))
        text = (
            f"referred to {spec['display']} (SNOMED {spec['code']}): {ref}, status active, "
            f"intent order, authored {when}; reason: {reason}"
        )
        said = f"Referred to {spec['display']} (SNOMED {spec['code']}){at(when)}; reason: {reason}"
        return await written_result(
            ctx, ref, when, coding, f"Referral to {spec['display']}", text, said=said
        )


TOOL = Tool(
    "refer_patient",
    ReferPatientArgs,
    refer_patient,
    "refers this patient to a specialty (a referral ServiceRequest); only when the user asks "
    "for a referral, with their reason",
    needs="writes",
)

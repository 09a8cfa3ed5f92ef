"""``order_medication``: prescribe a drug with dose, route and frequency (a
MedicationRequest) for the session patient — a write.

Offered only when the deployment allows writes (``AgentSettings.allow_writes``) and the
source is a :class:`tools.source.RecordWriter`. The resource is built by
:func:`tools.writes.medication_order` (status active, intent order, the RxNorm code when
given, a UCUM dose, a SNOMED route, a timing, the assistant's tag); words such as "by
mouth", "BID" or "units" are mapped there, and an unknown one is sent back as a tool
error (nothing is guessed). The subject is the session patient from the context. An
active order for the same drug that the assistant already wrote is returned instead of a
duplicate. The written MedicationRequest becomes a citable evidence item.
"""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from tools.evidence import Coding
from tools.source import Resource
from tools.writes import RXNORM_SYSTEM, medication_order

from ..context import AgentContext
from ._base import Tool, ToolArgs, ToolResult
from ._write import at, build, check_writes, create, existing, one_writer, written_result

__all__ = ["TOOL", "OrderMedicationArgs", "order_medication"]


class OrderMedicationArgs(ToolArgs):
    """A prescription: the drug (RxNorm code when known), dose, route and frequency."""

    drug: str = Field(min_length=2, max_length=120, description="drug name")
    rxnorm: str | None = Field(
        None,
        max_length=12,
        description="RxNorm code if given",
        json_schema_extra={"code_system": "rxnorm"},
    )
    dose: str = Field(min_length=1, max_length=12, description="number, e.g. 500")
    dose_unit: str = Field(min_length=1, max_length=20, description="mg, mcg, g, mL, units, puffs")
    route: str = Field(min_length=2, max_length=40, description="e.g. by mouth, IV, subcutaneous")
    frequency: str = Field(
        min_length=2, max_length=40, description="e.g. twice daily, every 8 hours"
    )
    reason: str | None = Field(None, max_length=300)

    @field_validator("rxnorm")
    @classmethod
    def _rxnorm(cls, v: str | None) -> str | None:
        v = (v or "").strip().removeprefix("RxNorm").strip() or None
        if v is not None and not re.fullmatch(r"\d{1,10}", v):
            raise ValueError(f"rxnorm must be an RxNorm code such as 6809, not {v!r}")
        return v


def _drug_key(r: Resource) -> tuple[set[str], str]:
    concept = r.get("medicationCodeableConcept") or {}
    codes = {
        str(c.get("code"))
        for c in concept.get("coding") or []
        if isinstance(c, dict) and c.get("system") == RXNORM_SYSTEM
    }
    return codes, str(concept.get("text") or "").casefold()


async def order_medication(ctx: AgentContext, args: OrderMedicationArgs) -> ToolResult:
    check_writes(ctx)
    pid = ctx.patient_id
    resource = build(
        lambda: medication_order(
            pid,
            drug=args.drug,
            rxnorm=args.rxnorm,
            dose=args.dose,
            dose_unit_word=args.dose_unit,
            route=args.route,
            frequency=args.frequency,
            reason=args.reason,
        )
    )
    drug = str(resource["medicationCodeableConcept"]["text"])
    coding = Coding(system=RXNORM_SYSTEM if args.rxnorm else None, code=args.rxnorm, display=drug)
    dosage = str(resource["dosageInstruction"][0]["text"])
    codes, name = _drug_key(resource)

    def same(r: Resource) -> bool:
        their_codes, their_name = _drug_key(r)
        return r.get("status") == "active" and (
            bool(codes & their_codes) or (not codes and their_name == name)
        )

    params = {"code": f"{RXNORM_SYSTEM}|{args.rxnorm}"} if args.rxnorm else {}
    async with one_writer(ctx):
        found = await existing(ctx, "MedicationRequest", params, same)
        if found is not None:
            ref = f"MedicationRequest/{found.get('id')}"
            when = str(found.get("authoredOn", ""))
            text = f"already ordered (not ordered again): {drug}: {ref}, status active, authored {when}"
            said = f"{drug} was already ordered by the assistant{at(when)}; not ordered again"
            return await written_result(ctx, ref, when, coding, drug, text, said=said)
        created = await create(ctx, resource)
        ref = f"MedicationRequest/{created.get('id')}"
        when = str(created.get("authoredOn", resource["authoredOn"]))
        code = f" (RxNorm {args.rxnorm})" if args.rxnorm else ""
        text = f"ordered {drug}{code} {dosage}: {ref}, status active, intent order, authored {when}"
        said = f"Ordered {drug}{code} {dosage}{at(when)}"
        return await written_result(ctx, ref, when, coding, f"{drug} {dosage}", text, said=said)


TOOL = Tool(
    "order_medication",
    OrderMedicationArgs,
    order_medication,
    "prescribes a drug for this patient (a MedicationRequest); only when the user asks to "
    "start or prescribe it, with the dose, route and frequency they gave",
    needs="writes",
)

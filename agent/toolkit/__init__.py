"""The model-facing tools as a typed registry, all bound to the session's patient in code.

One module per tool, each with a pydantic argument model (whose field descriptions make
the prompt's tool list and the JSON schema) and a docstring: :mod:`.search_record`,
:mod:`.read_resource`, :mod:`.record_summary`, :mod:`.lab_trend`, :mod:`.risk_score`, the writes
:mod:`.order_lab`, :mod:`.order_medication`, :mod:`.refer_patient` and
:mod:`.record_vital` (offered only when the deployment allows writes; shared parts in
:mod:`._write`), :mod:`.view_image` (offered to multimodal models). The patient guard (:mod:`agent.guard`) checks every call's raw
arguments before its model validates them; unknown tools and bad arguments raise
:class:`agent.errors.ToolCallError`, calls that would leave the patient
:class:`agent.errors.ToolCallRefused` (the node turns both into a tool-error line the
model sees, bounded by ``AgentSettings.max_tool_errors``). Source errors propagate.
"""

from __future__ import annotations

from typing import Any

from ..context import AgentContext
from ..errors import ToolCallError
from ..guard import check_args
from ..schemas import ToolCall
from . import (
    lab_trend,
    order_lab,
    order_medication,
    read_resource,
    record_summary,
    record_vital,
    refer_patient,
    risk_score,
    search_record,
    view_image,
)
from ._base import ANY_ASK, Tool, ToolArgs, ToolResult, ensure_evidence, statement

__all__ = [
    "ANY_ASK",
    "REGISTRY",
    "Tool",
    "ToolArgs",
    "ToolResult",
    "available",
    "ensure_evidence",
    "prompt_lines",
    "run_tool_call",
    "statement",
    "tool_schemas",
]

#: Every tool, by name, in the order the prompt lists them.
REGISTRY: dict[str, Tool] = {
    t.name: t
    for t in (
        search_record.TOOL,
        read_resource.TOOL,
        record_summary.TOOL,
        lab_trend.TOOL,
        risk_score.TOOL,
        view_image.TOOL,
        order_lab.TOOL,
        order_medication.TOOL,
        refer_patient.TOOL,
        record_vital.TOOL,
    )
}


def available(*, multimodal: bool, allow_writes: bool) -> list[Tool]:
    """The tools offered to a model: images only to a multimodal one, writes only when on."""
    return [
        t
        for t in REGISTRY.values()
        if t.needs is None
        or (t.needs == "images" and multimodal)
        or (t.needs == "writes" and allow_writes)
    ]


def prompt_lines(*, multimodal: bool, allow_writes: bool) -> list[str]:
    """The prompt's tool list, generated from the registry."""
    return [t.prompt_line() for t in available(multimodal=multimodal, allow_writes=allow_writes)]


def tool_schemas(*, multimodal: bool = True, allow_writes: bool = True) -> list[dict[str, Any]]:
    """The tools as JSON-schema function definitions (for documentation and servers)."""
    return [t.json_schema() for t in available(multimodal=multimodal, allow_writes=allow_writes)]


async def run_tool_call(ctx: AgentContext, call: ToolCall | dict[str, Any]) -> ToolResult:
    """Run one model tool call for the session patient.

    Raises ToolCallError / ToolCallRefused (sent back to the model); source errors
    (:class:`tools.errors.SourceError`) propagate.
    """
    c = call if isinstance(call, ToolCall) else ToolCall.model_validate(call)
    tool = REGISTRY.get(c.tool)
    if tool is None:
        raise ToolCallError(f"unknown tool {c.tool!r}; available: {', '.join(REGISTRY)}")
    check_args(ctx.patient_id, c.args, tool.arg_names)
    return await tool.run(ctx, tool.parse(c.args))

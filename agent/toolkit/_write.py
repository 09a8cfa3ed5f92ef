"""What the write tools share (:mod:`.record_vital`, :mod:`.order_medication`,
:mod:`.refer_patient`; :mod:`.order_lab` predates it): the writes gate, the
"already written" look-up that keeps a re-run call from writing twice, the create with
its errors mapped for the model, and the citable evidence item of what was written."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from tools.errors import ImportFailed, RecordToolError, UnsupportedSearch, WriteRefused
from tools.evidence import Coding, EvidenceItem, Point, SourceRef, build_evidence
from tools.fhir_version import patient_ids_of
from tools.source import RecordWriter, Resource
from tools.writes import is_assistant_write

from ..context import AgentContext
from ..errors import ToolCallError, ToolCallRefused
from ._base import ToolResult, ensure_evidence, new_handle

__all__ = [
    "at",
    "build",
    "check_writes",
    "create",
    "existing",
    "one_writer",
    "written_result",
]

_LOCKS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)


@asynccontextmanager
async def one_writer(ctx: AgentContext) -> AsyncIterator[None]:
    """One look-up-then-create at a time per patient (on this event loop): the calls of a
    step run in parallel, and two identical ones must not both find nothing and write."""
    locks = _LOCKS.setdefault(asyncio.get_running_loop(), {})
    lock = locks.setdefault(ctx.patient_id, asyncio.Lock())
    async with lock:
        yield


def check_writes(ctx: AgentContext) -> RecordWriter:
    """The source as a writer; ToolCallError when writes are off or it cannot write."""
    if not ctx.settings.allow_writes:
        raise ToolCallError("writes are disabled for this deployment")
    if not isinstance(ctx.source, RecordWriter):
        raise ToolCallError(
            "writes are disabled for this deployment: the record source cannot create resources"
        )
    return ctx.source


def build(make: Callable[[], Resource]) -> Resource:
    """Run a :mod:`tools.writes` builder; its refusal (an unknown route, a bad value)
    goes back to the model as a tool error."""
    try:
        return make()
    except RecordToolError as exc:
        raise ToolCallError(str(exc)) from None


async def existing(
    ctx: AgentContext,
    resource_type: str,
    params: dict[str, Any],
    same: Callable[[Resource], bool],
) -> Resource | None:
    """An assistant-written resource of the session patient matching ``same`` (a resumed
    thread or a repeated call must not write twice), or None."""
    try:
        found = await ctx.source.search(resource_type, {"patient": ctx.patient_id, **params})
    except UnsupportedSearch:
        return None
    for r in found:
        if is_assistant_write(r) and ctx.patient_id in patient_ids_of(r) and same(r):
            return r
    return None


async def create(ctx: AgentContext, resource: Resource) -> Resource:
    """Create ``resource`` for the session patient (the writer refuses any other)."""
    writer = check_writes(ctx)
    try:
        return await writer.create(resource, patient_id=ctx.patient_id)
    except WriteRefused as exc:
        raise ToolCallRefused(f"refused: {exc}") from None
    except ImportFailed as exc:
        raise ToolCallError(f"nothing was stored: {exc}") from None


async def written_result(
    ctx: AgentContext,
    ref: str,
    date: str,
    coding: Coding,
    name: str,
    text: str,
    observation: Resource | None = None,
    *,
    said: str | None = None,
) -> ToolResult:
    """The tool line and a citable evidence item (a new handle) for a written resource.

    ``observation``: a written Observation, whose item is then built as the record's own
    results are (its value and unit, so that "her weight, 112.8 kg, was recorded" is
    checked against the value written, not against an order's name). ``said``: the
    write as the answer tells a person ("Ordered HbA1c (LOINC 4548-4), 2026-12-04 09:18
    UTC; reason: …"), without the FHIR status words of the tool line ``text``."""
    sentence = f"{said.rstrip('.')}." if said else text
    ev = await ensure_evidence(ctx)
    handle = ctx.cache.written.get(ref) or new_handle(ctx, ev)
    ctx.cache.written[ref] = handle
    built = (
        [i for i in build_evidence([observation], as_of=ev.as_of).items if i.reference == ref]
        if observation is not None
        else []
    )
    if len(built) == 1:
        result = ToolResult([f"{text} [{handle}]"])
        result.add(ctx, built[0].model_copy(update={"handle": handle}))
        result.statements.append((sentence, [handle]))
        return result
    item = EvidenceItem(
        handle=handle,
        kind="order",
        section="orders",
        patient_id=ctx.patient_id,
        name=name,
        codings=(coding,),
        status="active",
        points=(Point(source=SourceRef(reference=ref, path="code"), date=date or None),),
        reference=ref,
        path="code",
        date=date[:10] or None,
        text=text,
    )
    result = ToolResult([f"{text} [{handle}]"])
    result.add(ctx, item)
    result.statements.append((sentence, [handle]))
    return result


def at(when: str) -> str:
    """ " on 2026-12-04 at 09:18 UTC" for a written resource's instant (empty if none)."""
    if not when:
        return ""
    day, _, time = when.partition("T")
    hhmm = time[:5]
    return f" on {day}" + (f" at {hhmm} UTC" if hhmm and time.endswith(("Z", "+00:00")) else "")

"""``view_image``: let a multimodal model look at one image attachment of the session
patient's record.

``handle`` is an image item of the evidence (section images, flag ``image``); a
``Type/id`` of one of the patient's image resources is accepted too. The image is loaded
by :func:`tools.attachments.load_image` (patient-bound, Binary/<id> urls only, size and
type checked, downscaled to 896 px) and shown to the session model with the fixed
:data:`agent.prompts.VIEW_IMAGE` prompt. The tool line is labelled as the model's
reading, not a record fact; the evidence item keeps only the record's own fields (a
reading never becomes support for the verifier). The model call is counted in usage.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import Field

from tools.attachments import AttachmentError, AttachmentRefused, image_attachments, load_image
from tools.fhir_version import patient_ids_of

from .. import prompts
from ..context import AgentContext
from ..errors import (
    ContextOverflow,
    MalformedOutput,
    ModelTimeout,
    ToolCallError,
    ToolCallRefused,
    UnsupportedInput,
)
from ..guard import REFERENCE, scrub
from ..models import ImagePart
from ._base import Tool, ToolArgs, ToolResult, ensure_evidence

__all__ = ["TOOL", "ViewImageArgs", "view_image"]

#: Longest model reading of an image kept in a tool line, and its token budget.
_READING_CHARS = 1200
_READING_TOKENS = 400


class ViewImageArgs(ToolArgs):
    handle: str = Field(max_length=80, description="an image item of this patient's record")


def _ref(resource: dict[str, Any]) -> str:
    return f"{resource.get('resourceType')}/{resource.get('id')}"


def _not_viewable(ctx: AgentContext, ref: str, shown: str, handle: str | None = None) -> str:
    what = handle or ref
    resource = next((r for r in ctx.cache.record or [] if _ref(r) == ref), None)
    if resource is not None and any(a.dicom for a in image_attachments([resource])):
        return (
            f"{what} is a DICOM image; DICOM is not supported here (open it in the PACS "
            f"viewer). Viewable image handles: {shown}"
        )
    return f"{what} is not an image that can be viewed; image handles: {shown}"


async def view_image(ctx: AgentContext, args: ViewImageArgs) -> ToolResult:
    if not ctx.multimodal:
        raise ToolCallError("view_image is not available: this model cannot see images")
    wanted = args.handle.strip("[]").strip()
    if not wanted:
        raise ToolCallError("view_image needs handle: an image item's handle, e.g. E40")
    ev = await ensure_evidence(ctx)
    record = ctx.cache.record or []
    viewable = [i for i in ev.section("images") if "image" in i.flags]
    shown = ", ".join(i.handle for i in viewable) or "none in this record"
    if REFERENCE.match(wanted):
        if wanted not in {_ref(r) for r in record}:
            raise ToolCallRefused("refused: no such resource in this session patient's record.")
        match = [i for i in viewable if wanted in i.references]
        if not match:
            raise ToolCallError(_not_viewable(ctx, wanted, shown))
        item = match[0]
    else:
        try:
            item = ev.get(wanted)
        except KeyError:
            raise ToolCallError(
                f"{wanted!r} is not an evidence handle of this patient; image handles: {shown}"
            ) from None
    if "study" in item.flags:
        raise ToolCallError(
            f"{item.handle} is an imaging study (DICOM, not inline); DICOM images cannot be "
            f"viewed here. Image handles: {shown}"
        )
    if "image" not in item.flags:
        raise ToolCallError(_not_viewable(ctx, item.reference, shown, item.handle))
    resource = next((r for r in record if _ref(r) == item.reference), None)
    if resource is None or ctx.patient_id not in patient_ids_of(resource):
        raise ToolCallRefused("refused: that image is not in this session patient's record.")
    try:
        image = await load_image(
            ctx.source,
            resource,
            item.path,
            patient_id=ctx.patient_id,
            record_refs={_ref(r) for r in record},
        )
    except AttachmentRefused as exc:
        raise ToolCallRefused(f"refused: {exc}") from None
    except AttachmentError as exc:
        raise ToolCallError(str(exc)) from None
    att = image.attachment
    label = scrub(" ".join((att.title or item.name or "image").split()), ctx.patient_id)
    day = (att.date or "")[:10] or item.date or "undated"
    messages = prompts.view_image_messages(
        ctx.patient_id,
        f"{label} ({att.content_type}, {day})",
        ImagePart(image.data, image.mime_type),
    )
    budget = min(ctx.settings.max_tokens or _READING_TOKENS, _READING_TOKENS)
    try:
        result = await ctx.model.generate(messages, max_tokens=budget)
    except (UnsupportedInput, ContextOverflow, ModelTimeout, MalformedOutput) as exc:
        raise ToolCallError(f"the model could not look at the image: {exc}") from None
    reading = " ".join(str(result.output).split())
    if len(reading) > _READING_CHARS:
        reading = reading[:_READING_CHARS].rstrip() + " …"
    quoted = json.dumps(reading or "(no description)", ensure_ascii=False)
    size = f"{image.width}×{image.height} px" + (
        f", downscaled from {image.original_width}×{image.original_height}"
        if image.downscaled
        else ""
    )
    line = (
        f"{item.handle} image ({item.reference}, {day}, {label}; {size}): "
        f"model's reading, not a record fact: {quoted}"
    )
    u = result.usage
    usage = {
        "node": "view_image",
        "calls": u.calls,
        "prompt_tokens": u.prompt_tokens,
        "completion_tokens": u.completion_tokens,
        "seconds": round(u.seconds, 3),
    }
    out = ToolResult([scrub(line, ctx.patient_id)], usage=[usage])
    out.add(ctx, item)
    return out


TOOL = Tool(
    "view_image", ViewImageArgs, view_image, "look at an image of this record", needs="images"
)

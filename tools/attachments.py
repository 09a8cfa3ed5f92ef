"""Image attachments in a patient's record: find them, load one for viewing (no model).

FHIR R4 keeps images as ``Attachment`` elements in three places:

* ``Media.content``;
* ``DocumentReference.content[i].attachment``;
* ``DiagnosticReport.presentedForm[i]``.

:func:`image_attachments` lists them (resource reference, element path, content type,
title, creation date, size); :func:`load_image` decodes one to bytes a vision model can
take: checked, bounded and downscaled.

Safety rules, all enforced here (the caller passes the session's patient id):

* the resource holding the attachment must belong to the patient;
* inline ``data`` is decoded; an attachment given only by ``url`` is fetched through the
  :class:`~tools.source.RecordSource` when the url is a relative ``Binary/<id>``
  reference, never any other url (``http…``, ``urn:…``, ``file:…``: refused, nothing is
  fetched). A Binary with a ``securityContext`` must point at the patient (or at one of
  the patient's resources); without one it is accepted because the resource referencing
  it is the patient's;
* at most :data:`MAX_BYTES` of image data; PNG, JPEG, GIF and WebP only (DICOM and other
  types are refused with a message saying so);
* the bytes must decode as an image of an allowed format with Pillow (the declared
  ``contentType`` is not trusted); the image is downscaled to :data:`MAX_SIDE` pixels on
  its longer side (MedGemma's input size), first frame only, and re-encoded as PNG
  (JPEG sources stay JPEG).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import io
import re
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from tools._record import clean, ref_of
from tools.errors import AttachmentError, AttachmentRefused, ResourceNotFound
from tools.fhir_version import patient_ids_of
from tools.source import RecordSource, Resource

__all__ = [
    "DICOM_TYPES",
    "IMAGE_TYPES",
    "MAX_BYTES",
    "MAX_PIXELS",
    "MAX_SIDE",
    "AttachmentError",
    "AttachmentRefused",
    "ImageAttachment",
    "LoadedImage",
    "find_image_attachment",
    "image_attachments",
    "load_image",
    "prepare_image",
]

#: Largest image (decoded bytes) that is loaded.
MAX_BYTES: Final = 10 * 1024 * 1024
#: Longest side, in pixels, of the image handed to a model (MedGemma's 896×896 input).
MAX_SIDE: Final = 896
#: Largest image (width × height) that is decoded at all (decompression bombs).
MAX_PIXELS: Final = 50_000_000
#: Content types that can be viewed, and the Pillow format each must decode as.
IMAGE_TYPES: Final[Mapping[str, str]] = {
    "image/png": "PNG",
    "image/jpeg": "JPEG",
    "image/jpg": "JPEG",
    "image/pjpeg": "JPEG",
    "image/gif": "GIF",
    "image/webp": "WEBP",
}
#: DICOM content types: listed as images, but refused when loaded.
DICOM_TYPES: Final = frozenset({"application/dicom", "image/dicom", "application/dicom+json"})

_BINARY_URL = re.compile(r"^Binary/([A-Za-z0-9\-.]{1,64})$")
_REFERENCE = re.compile(r"([A-Z][A-Za-z]{1,40})/([A-Za-z0-9\-.]{1,64})(?:/_history/[^/]+)?$")


@dataclass(frozen=True, slots=True)
class ImageAttachment:
    """One image attachment of a record.

    Attributes:
        reference: the resource holding it (``Media/abc``).
        path: the element path of the Attachment in that resource
            (``content``, ``content[0].attachment``, ``presentedForm[1]``).
        content_type: the declared MIME type, lower case, without parameters.
        title: the attachment's title, else the resource's label.
        date: the attachment's ``creation``, else the resource's date (as recorded).
        size: the declared size in bytes, else the decoded size of inline data.
        url: the attachment's url, if any.
        inline: the image is in the attachment's ``data``.
    """

    reference: str
    path: str
    content_type: str
    title: str | None
    date: str | None
    size: int | None
    url: str | None
    inline: bool

    @property
    def supported(self) -> bool:
        """A content type :func:`load_image` can view (PNG, JPEG, GIF, WebP)."""
        return self.content_type in IMAGE_TYPES

    @property
    def dicom(self) -> bool:
        return self.content_type in DICOM_TYPES

    def as_dict(self) -> dict[str, Any]:
        return {
            "reference": self.reference,
            "path": self.path,
            "content_type": self.content_type,
            "title": self.title,
            "date": self.date,
            "size": self.size,
            "url": self.url,
            "inline": self.inline,
        }


@dataclass(frozen=True, slots=True)
class LoadedImage:
    """An image ready for a model.

    Attributes:
        attachment: where it came from.
        data: the encoded image (PNG, or JPEG for JPEG sources), at most ``MAX_SIDE`` px.
        mime_type: ``image/png`` or ``image/jpeg``.
        width / height: of ``data``.
        original_width / original_height: of the recorded image.
        original_bytes: size of the recorded (decoded) image.
        source_format: the format the recorded bytes decoded as (``PNG``, ``JPEG``, …).
    """

    attachment: ImageAttachment
    data: bytes
    mime_type: str
    width: int
    height: int
    original_width: int
    original_height: int
    original_bytes: int
    source_format: str

    @property
    def downscaled(self) -> bool:
        return (self.width, self.height) != (self.original_width, self.original_height)


# --------------------------------------------------------------------------- finding


def _content_type(att: Mapping[str, Any]) -> str:
    return str(att.get("contentType") or "").split(";", 1)[0].strip().lower()


def _attachments_of(resource: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    rtype = resource.get("resourceType")
    if rtype == "Media":
        att = resource.get("content")
        if isinstance(att, dict):
            yield "content", att
    elif rtype == "DocumentReference":
        for i, content in enumerate(resource.get("content") or []):
            att = content.get("attachment") if isinstance(content, dict) else None
            if isinstance(att, dict):
                yield f"content[{i}].attachment", att
    elif rtype == "DiagnosticReport":
        for i, att in enumerate(resource.get("presentedForm") or []):
            if isinstance(att, dict):
                yield f"presentedForm[{i}]", att


def _period_start(value: Any) -> str | None:
    return value.get("start") if isinstance(value, dict) else None


def _resource_date(resource: Mapping[str, Any]) -> str | None:
    rtype = resource.get("resourceType")
    if rtype == "Media":
        found = resource.get("createdDateTime") or _period_start(resource.get("createdPeriod"))
        found = found or resource.get("issued")
    elif rtype == "DocumentReference":
        found = resource.get("date") or _period_start((resource.get("context") or {}).get("period"))
    else:
        found = resource.get("effectiveDateTime") or _period_start(resource.get("effectivePeriod"))
        found = found or resource.get("issued")
    return str(found) if found else None


def _label(resource: Mapping[str, Any]) -> str | None:
    for key in ("code", "type", "modality"):
        cc = resource.get(key)
        if isinstance(cc, list):
            cc = cc[0] if cc else None
        if isinstance(cc, dict):
            text = clean(cc.get("text"))
            if text:
                return text
            for coding in cc.get("coding") or []:
                if isinstance(coding, dict) and clean(coding.get("display")):
                    return clean(coding.get("display"))
    return clean(resource.get("description")) or None


def _inline_size(data: str) -> int:
    s = "".join(data.split())
    return max(0, len(s) * 3 // 4 - s[-2:].count("="))


def _attachment_info(
    resource: Mapping[str, Any], path: str, att: Mapping[str, Any]
) -> ImageAttachment:
    size = att.get("size")
    data = att.get("data")
    declared = size if isinstance(size, int) and not isinstance(size, bool) else None
    return ImageAttachment(
        reference=ref_of(resource),
        path=path,
        content_type=_content_type(att),
        title=clean(att.get("title")) or _label(resource),
        date=str(att["creation"]) if att.get("creation") else _resource_date(resource),
        size=declared
        if declared is not None
        else (_inline_size(data) if isinstance(data, str) else None),
        url=str(att["url"]) if isinstance(att.get("url"), str) else None,
        inline=isinstance(data, str) and bool(data),
    )


def _is_image(att: Mapping[str, Any]) -> bool:
    ctype = _content_type(att)
    return ctype.startswith("image/") or ctype in DICOM_TYPES


def image_attachments(
    record: Iterable[Mapping[str, Any]], patient_id: str | None = None
) -> list[ImageAttachment]:
    """Every image attachment (``image/*`` or DICOM) in a record, in record order.

    With ``patient_id``, only attachments of resources that belong to that patient.
    """
    out: list[ImageAttachment] = []
    for resource in record:
        if patient_id is not None and patient_id not in patient_ids_of(dict(resource)):
            continue
        for path, att in _attachments_of(resource):
            if _is_image(att):
                out.append(_attachment_info(resource, path, att))
    return out


def find_image_attachment(
    resource: Mapping[str, Any], path: str | None = None
) -> tuple[ImageAttachment, Mapping[str, Any]]:
    """The image attachment at ``path`` of a resource (or its first one): info and element.

    Raises AttachmentError when there is none.
    """
    for p, att in _attachments_of(resource):
        if (path is None or p == path) and _is_image(att):
            return _attachment_info(resource, p, att), att
    where = f" at {path}" if path else ""
    raise AttachmentError(f"{ref_of(resource)} has no image attachment{where}.")


# --------------------------------------------------------------------------- loading


def _check_type(content_type: str, where: str) -> None:
    if content_type in DICOM_TYPES:
        raise AttachmentError(
            f"{where} is a DICOM image ({content_type}); DICOM is not supported here. "
            "Open it in the PACS viewer; only PNG, JPEG, GIF and WebP images can be viewed."
        )
    if content_type not in IMAGE_TYPES:
        raise AttachmentError(
            f"{where} has content type {content_type or 'unknown'!r}; only PNG, JPEG, GIF and "
            "WebP images can be viewed."
        )


def _decode(data: str, where: str, max_bytes: int) -> bytes:
    if _inline_size(data) > max_bytes:
        raise AttachmentError(
            f"{where} is about {_inline_size(data)} bytes; images over {max_bytes} bytes are "
            "not loaded."
        )
    try:
        raw = base64.b64decode("".join(data.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise AttachmentError(f"{where}: the image data is not valid base64 ({exc}).") from None
    if not raw:
        raise AttachmentError(f"{where}: the image data is empty.")
    if len(raw) > max_bytes:
        raise AttachmentError(
            f"{where} is {len(raw)} bytes; images over {max_bytes} bytes are not loaded."
        )
    return raw


def _security_context_ok(
    binary: Mapping[str, Any], patient_id: str, allowed_refs: Collection[str]
) -> bool:
    ctx = binary.get("securityContext")
    if ctx is None:
        return True
    ref = ctx.get("reference") if isinstance(ctx, dict) else None
    if not isinstance(ref, str):
        return False
    m = _REFERENCE.search(ref)
    if not m:
        return False
    rtype, rid = m.group(1), m.group(2)
    if rtype == "Patient":
        return rid == patient_id
    return f"{rtype}/{rid}" in allowed_refs


async def _fetch_binary(
    source: RecordSource,
    url: str,
    where: str,
    patient_id: str,
    allowed_refs: Collection[str],
) -> tuple[str, str]:
    """(base64 data, contentType) of a relative ``Binary/<id>`` the patient may see."""
    m = _BINARY_URL.match(url.strip())
    if not m:
        raise AttachmentRefused(
            f"{where} points at {url!r}: only relative Binary/<id> references in the "
            "record's source are fetched, never other urls. Open the image in the source "
            "system instead."
        )
    ref = f"Binary/{m.group(1)}"
    try:
        binary = await source.read(ref)
    except ResourceNotFound:
        raise AttachmentError(f"{where}: {ref} does not exist in {source.label}.") from None
    if binary.get("resourceType") != "Binary":
        raise AttachmentError(f"{where}: {ref} is not a Binary resource.")
    if not _security_context_ok(binary, patient_id, allowed_refs):
        raise AttachmentRefused(
            f"{where}: {ref} belongs to another security context than this patient's "
            "record; not loaded."
        )
    data = binary.get("data")
    if not isinstance(data, str) or not data:
        raise AttachmentError(f"{where}: {ref} holds no data.")
    return data, _content_type(binary)


def prepare_image(
    raw: bytes, *, max_side: int = MAX_SIDE, where: str = "the image"
) -> tuple[bytes, str, int, int, int, int, str]:
    """Decode, check and downscale encoded image bytes (blocking; Pillow).

    Returns ``(data, mime_type, width, height, original_width, original_height, format)``.
    Raises AttachmentError for bytes that are not a PNG/JPEG/GIF/WebP image or are too big.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    allowed = set(IMAGE_TYPES.values())
    try:
        with Image.open(io.BytesIO(raw)) as img:
            fmt = str(img.format or "")
            if fmt not in allowed:
                raise AttachmentError(
                    f"{where} decodes as {fmt or 'an unknown format'}, not as PNG, JPEG, GIF "
                    "or WebP; not loaded."
                )
            ow, oh = img.size
            if ow < 1 or oh < 1 or ow * oh > MAX_PIXELS:
                raise AttachmentError(
                    f"{where} is {ow}×{oh} pixels; images over {MAX_PIXELS} pixels are not loaded."
                )
            img.seek(0)
            img.load()
            frame: Image.Image = ImageOps.exif_transpose(img) or img
            if frame.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N"):
                frame = frame.convert("I").point(lambda v: v * (1 / 256)).convert("L")
            elif frame.mode == "F":
                frame = frame.convert("L")
            if frame.mode in ("RGBA", "LA", "PA") or (
                frame.mode == "P" and "transparency" in frame.info
            ):
                rgba = frame.convert("RGBA")
                background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                frame = Image.alpha_composite(background, rgba).convert("RGB")
            elif frame.mode not in ("RGB", "L"):
                frame = frame.convert("RGB")
            else:
                frame = frame.copy()
    except AttachmentError:
        raise
    except Image.DecompressionBombError:
        raise AttachmentError(f"{where} is too large to decode safely; not loaded.") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise AttachmentError(f"{where} is not a readable image ({exc}).") from None
    frame.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    if fmt == "JPEG":
        frame.save(out, format="JPEG", quality=90)
        mime = "image/jpeg"
    else:
        frame.save(out, format="PNG", optimize=True)
        mime = "image/png"
    return out.getvalue(), mime, frame.width, frame.height, ow, oh, fmt


async def load_image(
    source: RecordSource,
    resource: Resource,
    path: str | None = None,
    *,
    patient_id: str,
    record_refs: Collection[str] = (),
    max_bytes: int = MAX_BYTES,
    max_side: int = MAX_SIDE,
) -> LoadedImage:
    """Load the image attachment at ``path`` of ``resource`` (the patient's) for a model.

    Args:
        source: where a ``Binary/<id>`` url is read from.
        resource: the Media / DocumentReference / DiagnosticReport holding the image.
        path: the attachment's element path (see :class:`ImageAttachment`); default: the
            resource's first image attachment.
        patient_id: the session's patient; the resource must belong to them.
        record_refs: ``Type/id`` of the patient's resources (a Binary whose
            ``securityContext`` names one of them is the patient's).

    Raises:
        AttachmentRefused: another patient's resource or Binary, or a url outside the source.
        AttachmentError: no such attachment, unsupported type (DICOM…), too large, not an image.
        tools.errors.SourceError: reading the Binary failed.
    """
    ref = ref_of(resource)
    if patient_id not in patient_ids_of(resource):
        raise AttachmentRefused(f"{ref} does not belong to Patient/{patient_id}; not loaded.")
    info, att = find_image_attachment(resource, path)
    where = f"{ref} {info.path}"
    _check_type(info.content_type, where)
    if info.size is not None and info.size > max_bytes:
        raise AttachmentError(
            f"{where} is {info.size} bytes; images over {max_bytes} bytes are not loaded."
        )
    data = att.get("data")
    if not (isinstance(data, str) and data):
        if not info.url:
            raise AttachmentError(f"{where} has neither inline data nor a url.")
        data, binary_type = await _fetch_binary(
            source, info.url, where, patient_id, {*record_refs, ref}
        )
        if binary_type:
            _check_type(binary_type, f"{where} ({info.url})")
    raw = _decode(data, where, max_bytes)
    out, mime, w, h, ow, oh, fmt = await asyncio.to_thread(
        prepare_image, raw, max_side=max_side, where=where
    )
    return LoadedImage(info, out, mime, w, h, ow, oh, len(raw), fmt)

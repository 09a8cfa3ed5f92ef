"""Sections ``reports``, ``notes`` and ``images``: diagnostic reports (folded when they
only carry a code, one item per conclusion), and the attachments of DiagnosticReport,
DocumentReference and Media resources (text notes quoted as data, images viewable),
and ImagingStudy summaries (DICOM, never inline).

Record text is data, never instructions: note text is kept verbatim inside a JSON
string literal (one line, quotes and newlines escaped), truncated with a pointer to the
full attachment.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from tools._record import RecordView, Resource, cc_text, clean, resource_date

from ._common import (
    Draft,
    code_tag,
    coding_objs,
    day,
    group_key,
    period,
    quote,
    sort_key_date,
    source,
)
from ._events import fold
from ._model import Attachment, EvidenceItem, Point

__all__ = ["build", "render"]


def build(view: RecordView, note_chars: int) -> tuple[list[Draft], list[Draft], list[Draft]]:
    """(reports, notes, images)."""
    reports = view.of_type("DiagnosticReport")
    plain = [r for r in reports if not r.get("conclusion") and not r.get("presentedForm")]
    drafts = fold(
        view, "reports", "report", plain,
        key_fn=lambda r: group_key(r.get("code")),
        name_fn=lambda r: cc_text(r.get("code"), "report")
        + (f" ({r.get('status')})" if r.get("status") not in (None, "final") else ""),
        code_field="code",
        start_fn=lambda r: r.get("effectiveDateTime") or resource_date(r),
    )  # fmt: skip
    notes: list[Draft] = []
    images: list[Draft] = []
    for r in reports:
        if r in plain:
            continue
        d = r.get("effectiveDateTime") or resource_date(r)
        title = cc_text(r.get("code"), "report")
        if r.get("conclusion") or r.get("conclusionCode"):
            concl = clean(r.get("conclusion")) or cc_text(r.get("conclusionCode"))
            cut = len(concl) > note_chars
            item = EvidenceItem(
                handle="",
                kind="report",
                section="reports",
                patient_id=view.patient_id,
                name=title,
                codings=coding_objs(r.get("code")),
                status=r.get("status"),
                points=(
                    Point(
                        source=source(r, "conclusion"),
                        date=d,
                        value_text=concl,
                        status=r.get("status"),
                    ),
                ),
                quote=concl[:note_chars],
                reference=source(r, "").reference,
                path="conclusion",
                date=day(d),
                flags=("truncated",) if cut else (),
            )
            drafts.append(
                Draft(
                    item.model_copy(update={"text": render(item)}),
                    (-sort_key_date(d), title.lower()),
                )
            )
        for i, att in enumerate(r.get("presentedForm") or []):
            n, im = _attachment(view, r, att, f"presentedForm[{i}]", title, d, note_chars)
            notes.extend(n)
            images.extend(im)
    return drafts, notes, images


def _attachment(
    view: RecordView,
    r: Resource,
    att: Any,
    path: str,
    title: str,
    date: str | None,
    note_chars: int,
) -> tuple[list[Draft], list[Draft]]:
    """A note item for text attachments, an image item for image/* ones, else a document."""
    if not isinstance(att, dict):
        return [], []
    ctype = str(att.get("contentType") or "")
    label = clean(att.get("title")) or title
    size = att.get("size")
    sort = (-sort_key_date(date), label.lower(), source(r, "").reference)
    base: dict[str, Any] = {
        "handle": "",
        "patient_id": view.patient_id,
        "name": label,
        "reference": source(r, "").reference,
        "date": day(date),
        "status": r.get("status"),
    }
    if ctype.startswith("image/"):
        where = (
            "inline data"
            if att.get("data")
            else (f"url {att['url']}" if att.get("url") else "no data")
        )
        item = EvidenceItem(
            **base,
            kind="image",
            section="images",
            points=(Point(source=source(r, path), date=date),),
            attachment=Attachment(
                label=label,
                content_type=ctype,
                size=size if isinstance(size, int) else None,
                where=where,
            ),
            path=path,
            flags=("image",),
        )
        return [], [Draft(item.model_copy(update={"text": render(item)}), sort)]
    if ctype.startswith("text/plain") and att.get("data"):
        try:
            body = base64.b64decode(att["data"]).decode("utf-8", "replace")
        except (binascii.Error, ValueError):
            body = ""
        cut = len(body) > note_chars
        item = EvidenceItem(
            **base,
            kind="note",
            section="notes",
            points=(Point(source=source(r, path + ".data"), date=date),),
            attachment=Attachment(
                label=label,
                content_type="text/plain",
                chars=len(body),
                truncated=cut,
                where="inline data",
            ),
            quote=body[:note_chars],
            path=path + ".data",
            flags=("truncated",) if cut else (),
        )
        return [Draft(item.model_copy(update={"text": render(item)}), sort)], []
    where = (
        f"url {att['url']}" if att.get("url") else ("inline data" if att.get("data") else "no data")
    )
    item = EvidenceItem(
        **base,
        kind="document",
        section="notes",
        points=(Point(source=source(r, path), date=date),),
        attachment=Attachment(
            label=label,
            content_type=ctype or None,
            size=size if isinstance(size, int) else None,
            where=where,
        ),
        path=path,
    )
    return [Draft(item.model_copy(update={"text": render(item)}), sort)], []


def build_documents(view: RecordView, note_chars: int) -> tuple[list[Draft], list[Draft]]:
    """(notes, images) of DocumentReference, Media and ImagingStudy resources."""
    notes: list[Draft] = []
    images: list[Draft] = []
    for r in view.of_type("DocumentReference"):
        date = (
            r.get("date") or period(r.get("context") or {}, "period", "start") or resource_date(r)
        )
        title = cc_text(r.get("type"), "") or clean(r.get("description")) or "document"
        for i, content in enumerate(r.get("content") or []):
            n, im = _attachment(
                view,
                r,
                (content or {}).get("attachment"),
                f"content[{i}].attachment",
                title,
                date,
                note_chars,
            )
            notes.extend(n)
            images.extend(im)
    for r in view.of_type("Media"):
        date = r.get("createdDateTime") or period(r, "createdPeriod", "start") or resource_date(r)
        title = cc_text(r.get("modality"), "") or cc_text(r.get("type"), "") or "media"
        n, im = _attachment(view, r, r.get("content"), "content", title, date, note_chars)
        notes.extend(n)
        images.extend(im)
    for r in view.of_type("ImagingStudy"):
        date = r.get("started") or resource_date(r)
        parts = []
        for s in r.get("series") or []:
            modality = (
                (s.get("modality") or {}).get("display")
                or (s.get("modality") or {}).get("code")
                or ""
            )
            body = (s.get("bodySite") or {}).get("display") or ""
            titles = [clean(i.get("title")) for i in s.get("instance") or [] if i.get("title")]
            parts.append(
                " ".join(x for x in (modality, body) if x)
                + (f" ({', '.join(dict.fromkeys(titles))})" if titles else "")
            )
        counts = (
            f"{r.get('numberOfSeries', '?')} series, {r.get('numberOfInstances', '?')} instances"
        )
        item = EvidenceItem(
            handle="",
            kind="imaging_study",
            section="images",
            patient_id=view.patient_id,
            name="; ".join(parts) or "no series",
            status=r.get("status"),
            points=(Point(source=source(r, "series"), date=date, value_text=counts),),
            reference=source(r, "").reference,
            path="series",
            date=day(date),
            flags=("study",),
        )
        text = render(item)
        images.append(Draft(item.model_copy(update={"text": text}), (-sort_key_date(date), text)))
    return notes, images


def render(item: EvidenceItem) -> str:
    """The line of a report conclusion, note, image, document or imaging study."""
    when = day(item.date) or "undated"
    att = item.attachment
    if item.kind == "report":
        quoted = quote(item.quote or "", len(item.quote or "") + 1)[0]
        return f"{item.name}{code_tag(item.codings)} {day(item.date)}: conclusion {quoted}"
    if item.kind == "image" and att is not None:
        bits = [att.content_type or ""] + ([f"{att.size} bytes"] if att.size else [])
        return f"Image {when}: {att.label} ({', '.join(bits)}; {att.where}); viewable"
    if item.kind == "note" and att is not None:
        quoted = quote(item.quote or "", len(item.quote or "") + 1)[0]
        text = f"Note {when}: {att.label} (text/plain, {att.chars} chars): {quoted}"
        if att.truncated:
            text += f" …[truncated; full text: {item.reference} {item.path}]"
        return text
    if item.kind == "document" and att is not None:
        return f"Document {when}: {att.label} ({att.content_type or 'unknown type'}; {att.where}; not decoded)"
    if item.kind == "imaging_study":
        counts = item.points[0].value_text if item.points else "? series, ? instances"
        return f"Imaging study {when}: {item.name}; {counts} (DICOM, not inline)"
    from ._events import render as render_event

    return render_event(item)

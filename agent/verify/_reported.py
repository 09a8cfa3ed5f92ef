"""Citations of the patient's own answers: ``QuestionnaireResponse/ID#linkId``.

The pre-visit intake's brief states what the patient said and what the chart says. Its
sentences cite QuestionnaireResponse items (``QuestionnaireResponse/ID#linkId``) and
record resources (``Type/id``). :func:`verify_reported` resolves both kinds of handle
and checks each sentence against what it cites, with the verifier's verdict types:

1. every handle resolves: the QR's id (its ``id`` or its ``identifier`` value) and an
   item with that ``linkId``; a record reference to a resource of the record (unknown
   handles are removed; a sentence with none left fails, ``no_citation``);
2. every **quoted span** (``“…”``) is the patient's words, an answer or the question
   of a cited item, or text of a cited record resource (``entity`` otherwise): a
   sentence never puts words in the patient's mouth;
3. every **date** (``2026-11-20``) is an answer or the authored date of a cited item,
   or appears in a cited resource (``date``);
4. a bare **yes / no** outside the quotes agrees with a cited boolean answer
   (``contradiction``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from ._result import Finding, SentenceCheck, Verification

__all__ = ["QR_HANDLE", "qr_items", "verify_reported"]

QR_HANDLE = re.compile(r"^QuestionnaireResponse/([A-Za-z0-9\-.]{1,64})#([A-Za-z0-9\-._]{1,64})$")
_QUOTE = re.compile(r"\u201c([^\u201d]*)\u201d")
_ISO = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
_YESNO = re.compile(r"(?<![\w'])(yes|no)(?![\w'])", re.IGNORECASE)


def qr_items(qr: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``linkId`` → item of a QuestionnaireResponse (nested items included)."""
    out: dict[str, dict[str, Any]] = {}

    def walk(items: Any) -> None:
        for item in items or []:
            if isinstance(item, dict) and isinstance(item.get("linkId"), str):
                out[item["linkId"]] = item
                walk(item.get("item"))
                for a in item.get("answer") or []:
                    walk((a or {}).get("item"))

    walk(qr.get("item"))
    return out


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().casefold()


def _item_texts(item: Mapping[str, Any]) -> list[str]:
    texts: list[str] = [str(item["text"])] if item.get("text") else []  # what was asked
    for ext in item.get("extension") or []:
        if isinstance(ext.get("valueString"), str):
            texts.append(ext["valueString"])
    for a in item.get("answer") or []:
        for key, value in a.items():
            if key == "valueString" or key == "valueDate":
                texts.append(str(value))
            elif key == "valueCoding":
                texts.extend(str(value.get(k, "")) for k in ("display", "code"))
            elif key == "valueQuantity":
                texts.append(f"{value.get('value')} {value.get('unit', '')}".strip())
            elif key == "valueBoolean":
                texts.append("yes" if value else "no")
    return texts


def _ids(qr: Mapping[str, Any]) -> set[str]:
    ids = {str(qr["id"])} if qr.get("id") else set()
    ident = qr.get("identifier")
    for i in ident if isinstance(ident, list) else [ident]:
        if isinstance(i, dict) and i.get("value"):
            ids.add(str(i["value"]))
    return ids


def verify_reported(
    sentences: Sequence[Mapping[str, Any]],
    qr: Mapping[str, Any],
    record: Sequence[Mapping[str, Any]],
    *,
    qr_id: str | None = None,
) -> Verification:
    """Check sentences (``{"text", "cites"}``) that cite the patient's answers
    (``QuestionnaireResponse/ID#linkId``) and record resources (``Type/id``)."""
    items = qr_items(qr)
    ids = _ids(qr) | ({qr_id} if qr_id else set())
    resources = {f"{r.get('resourceType')}/{r.get('id')}": r for r in record}
    dumped: dict[str, str] = {}
    checks: list[SentenceCheck] = []
    for s in sentences:
        text = str(s.get("text", ""))
        cites = [str(c) for c in s.get("cites") or []]
        valid: list[str] = []
        check = SentenceCheck(text, cites, valid)
        cited_texts: list[str] = []
        booleans: set[bool] = set()
        dates: set[str] = set()
        for c in dict.fromkeys(cites):
            m = QR_HANDLE.match(c)
            if m:
                item = items.get(m[2])
                if m[1] not in ids or item is None:
                    check.findings.append(Finding("unknown_handle", f"cites {c}: no such answer"))
                    continue
                valid.append(c)
                cited_texts.extend(_item_texts(item))
                for a in item.get("answer") or []:
                    if isinstance(a.get("valueBoolean"), bool):
                        booleans.add(a["valueBoolean"])
                    if isinstance(a.get("valueDate"), str):
                        dates.add(a["valueDate"])
                if isinstance(qr.get("authored"), str):
                    dates.add(qr["authored"][:10])
                continue
            base = c.split("#", 1)[0]
            if base not in resources:
                check.findings.append(Finding("unknown_handle", f"cites {c}, not in the record"))
                continue
            valid.append(base)
            if base not in dumped:
                dumped[base] = orjson.dumps(resources[base]).decode()
            cited_texts.append(dumped[base])
        if not valid:
            check.findings.append(
                Finding("no_citation", "no citation of an answer or a record entry")
            )
            checks.append(check)
            continue
        pool = _norm(" \u2016 ".join(cited_texts))
        for quoted in _QUOTE.findall(text):
            if _norm(quoted) and _norm(quoted) not in pool:
                check.findings.append(
                    Finding("entity", f"quoted \u201c{quoted}\u201d is in none of its citations")
                )
        outside = _QUOTE.sub(" ", text)
        for day in _ISO.findall(outside):
            if day not in dates and day not in pool:
                check.findings.append(Finding("date", f"date {day} not in its citations"))
        for word in _YESNO.findall(outside):
            said = word.lower() == "yes"
            if booleans and said not in booleans:
                check.findings.append(
                    Finding("contradiction", f"says {word!r}, the cited answer says otherwise")
                )
        checks.append(check)
    return Verification(checks)

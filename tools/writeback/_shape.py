"""The resources of a write-back and their transaction Bundle (see the package docstring)."""

from __future__ import annotations

import base64
import hashlib
import uuid
from typing import Any, Final
from urllib.parse import quote

import orjson
from pydantic import BaseModel, ConfigDict, Field

from tools.fhir_version import validate

__all__ = [
    "AIAST",
    "AI_DEVICE_TYPE",
    "AI_PROVENANCE_PROFILE",
    "DRAFT_IDENTIFIER",
    "MODEL_IDENTIFIER",
    "WRITEBACK_TAG",
    "CitedSource",
    "ExtraEntry",
    "ModelAgent",
    "Person",
    "WritePlan",
    "WriteSpec",
    "attachment_text",
    "build_transaction",
    "content_hash",
    "write_key",
]

#: ``meta.tag`` system of the idempotency keys (``{key}.document``, ``{key}.provenance``…).
WRITEBACK_TAG: Final = "urn:fhir-assistant:writeback"
#: ``DocumentReference.identifier`` system: the draft the document was approved from.
DRAFT_IDENTIFIER: Final = "urn:fhir-assistant:draft"
#: ``Device.identifier`` system: deployment / model / configuration hash.
MODEL_IDENTIFIER: Final = "urn:fhir-assistant:model"
#: The security label for AI-asserted content (v3 ObservationValue; AI Transparency IG).
AIAST: Final = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
    "code": "AIAST",
    "display": "Artificial Intelligence asserted",
}
AI_PROVENANCE_PROFILE: Final = (
    "http://hl7.org/fhir/uv/aitransparency/StructureDefinition/AI-Provenance"
)
AI_DEVICE_TYPE: Final = {
    "system": "http://hl7.org/fhir/uv/aitransparency/CodeSystem/AIdeviceTypeCS",
    "code": "Artificial-Intelligence",
    "display": "Artificial Intelligence",
}
_PARTICIPANT: Final = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
_DATA_OPERATION: Final = "http://terminology.hl7.org/CodeSystem/v3-DataOperation"
_MARKDOWN: Final = "text/markdown; charset=utf-8"
_MODEL_DRAFT_ID: Final = "model-draft"


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CitedSource(_Frozen):
    """A resource the text cites: ``Type/id`` and the version the draft was built from.

    ``reference`` may also be an extra's ``full_url`` (a resource written in the same
    transaction, e.g. the intake's QuestionnaireResponse).
    """

    reference: str
    version: str | None = None

    @property
    def versioned(self) -> str:
        """``Type/id/_history/v`` when the version is known (and not an in-bundle urn)."""
        if self.version and not self.reference.startswith("urn:"):
            return f"{self.reference}/_history/{self.version}"
        return self.reference


class ExtraEntry(_Frozen):
    """A resource created in the same transaction as the document (no ``id``).

    ``full_url`` (``urn:uuid:…``) lets the document, the Provenance and other extras
    reference it; ``ai_generated`` makes it a target of the Provenance too.
    """

    resource: dict[str, Any]
    full_url: str = Field(default_factory=lambda: f"urn:uuid:{uuid.uuid4()}")
    ai_generated: bool = False
    label: str = ""


class ModelAgent(_Frozen):
    """What wrote the draft: the model (name, version) in a deployment (name, config hash)."""

    name: str
    version: str = ""
    deployment: str = ""
    config_hash: str = ""
    software: str = ""

    @property
    def identifier(self) -> str:
        return "/".join(p or "-" for p in (self.deployment, self.name, self.config_hash))


class Person(_Frozen):
    """The approving person: a FHIR reference (``Practitioner/123``) and/or an identifier
    (the token's ``iss`` and ``sub``), with a display name."""

    reference: str | None = None
    display: str = ""
    system: str | None = None
    value: str | None = None

    def as_reference(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.reference:
            out["reference"] = self.reference
        if self.value:
            ident: dict[str, Any] = {"value": self.value}
            if self.system:
                ident["system"] = self.system
            out["identifier"] = ident
        out["display"] = self.display or self.value or self.reference or "unknown"
        return out


class WriteSpec(_Frozen):
    """Everything an approved draft's write needs (no I/O; see :func:`build_transaction`)."""

    draft_id: str
    patient_id: str
    title: str
    markdown: str = Field(description="the approved text")
    model_markdown: str = Field(description="what the model (or the extractive code) wrote")
    citations: tuple[CitedSource, ...] = ()
    extras: tuple[ExtraEntry, ...] = ()
    model: ModelAgent
    approver: Person
    created: str = Field(description="when the draft was generated (FHIR instant)")
    approved_at: str = Field(description="when the person approved it (FHIR instant)")
    encounter: str | None = None
    appointment: str | None = None
    doc_type: dict[str, Any] = Field(
        default_factory=lambda: {
            "system": "http://loinc.org",
            "code": "60591-5",
            "display": "Patient summary Document",
        }
    )
    category: dict[str, Any] = Field(
        default_factory=lambda: {
            "system": "http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category",
            "code": "clinical-note",
            "display": "Clinical Note",
        }
    )
    reason: dict[str, Any] = Field(
        default_factory=lambda: {
            "system": "http://terminology.hl7.org/CodeSystem/v3-ActReason",
            "code": "TREAT",
            "display": "treatment",
        }
    )

    @property
    def edited(self) -> bool:
        return self.markdown != self.model_markdown


class WritePlan(BaseModel):
    """The transaction Bundle and how to recognise what it writes."""

    model_config = ConfigDict(frozen=True)

    bundle: dict[str, Any]
    key: str
    slots: tuple[str, ...] = Field(description="per entry: device, document, provenance, extraN")
    document_hash: str = Field(description="Attachment.hash of the document (SHA-1, base64)")

    def tag(self, slot: str) -> str:
        return f"{self.key}.{slot}"


def content_hash(text: str) -> str:
    """SHA-256 (hex) of a text: what the idempotency key and the draft record compare."""
    return hashlib.sha256(text.encode()).hexdigest()


def write_key(draft_id: str, markdown: str, extras: tuple[ExtraEntry, ...] = ()) -> str:
    """The idempotency key of one approval: the draft id and the approved content."""
    body = orjson.dumps(
        [draft_id, content_hash(markdown), [e.resource for e in extras]],
        option=orjson.OPT_SORT_KEYS,
    )
    return hashlib.sha256(body).hexdigest()[:32]


def attachment_text(resource: dict[str, Any]) -> str | None:
    """The Markdown of a DocumentReference written here (its first attachment), or None."""
    for content in resource.get("content") or []:
        data = (content.get("attachment") or {}).get("data")
        if isinstance(data, str):
            try:
                return base64.b64decode(data).decode()
            except (ValueError, UnicodeDecodeError):
                return None
    return None


def _sha1_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha1(data, usedforsecurity=False).digest()).decode()


def _attachment(text: str, title: str, when: str) -> tuple[dict[str, Any], str]:
    data = text.encode()
    digest = _sha1_b64(data)
    attachment = {
        "contentType": _MARKDOWN,
        "language": "en",
        "data": base64.b64encode(data).decode(),
        "size": len(data),
        "hash": digest,
        "title": title,
        "creation": when,
    }
    return attachment, digest


def _tag(key: str, slot: str) -> dict[str, str]:
    return {"system": WRITEBACK_TAG, "code": f"{key}.{slot}"}


def _device(spec: WriteSpec) -> dict[str, Any]:
    m = spec.model
    versions = [
        {"type": {"text": "model"}, "value": m.version or m.name},
        {"type": {"text": "deployment-config-hash"}, "value": m.config_hash or "-"},
    ]
    if m.software:
        versions.append({"type": {"text": "software"}, "value": m.software})
    return {
        "resourceType": "Device",
        "identifier": [{"system": MODEL_IDENTIFIER, "value": m.identifier}],
        "status": "active",
        "type": {"coding": [AI_DEVICE_TYPE], "text": "AI model"},
        "deviceName": [
            {"name": m.name, "type": "model-name"},
            {"name": "fhir-record-assistant", "type": "manufacturer-name"},
        ],
        "version": versions,
        "note": [{"text": f"deployment {m.deployment or '-'}; config {m.config_hash or '-'}"}],
    }


def _document(spec: WriteSpec, key: str, device_url: str) -> tuple[dict[str, Any], str]:
    attachment, digest = _attachment(spec.markdown, spec.title, spec.approved_at)
    related: list[dict[str, Any]] = []
    if spec.appointment:
        related.append({"reference": spec.appointment})
    related.extend({"reference": e.full_url, "display": e.label or None} for e in spec.extras)
    related.extend({"reference": c.reference} for c in spec.citations)
    related = [{k: v for k, v in r.items() if v} for r in related]
    context: dict[str, Any] = {}
    if spec.encounter:
        context["encounter"] = [{"reference": spec.encounter}]
    if related:
        first: dict[str, dict[str, Any]] = {}
        for r in related:
            first.setdefault(r["reference"], r)
        context["related"] = list(first.values())
    doc: dict[str, Any] = {
        "resourceType": "DocumentReference",
        "meta": {"security": [AIAST], "tag": [_tag(key, "document")]},
        "identifier": [{"system": DRAFT_IDENTIFIER, "value": spec.draft_id}],
        "status": "current",
        "docStatus": "final",
        "type": {"coding": [spec.doc_type]},
        "category": [{"coding": [spec.category]}],
        "subject": {"reference": f"Patient/{spec.patient_id}"},
        "date": spec.approved_at,
        "author": [{"reference": device_url, "display": spec.model.name}],
        "authenticator": spec.approver.as_reference(),
        "description": spec.title,
        "content": [{"attachment": attachment}],
    }
    if context:
        doc["context"] = context
    return doc, digest


def _provenance(spec: WriteSpec, key: str, device_url: str, doc_url: str) -> dict[str, Any]:
    targets = [{"reference": doc_url}]
    targets.extend({"reference": e.full_url} for e in spec.extras if e.ai_generated)
    entities: list[dict[str, Any]] = [
        {"role": "source", "what": {"reference": c.versioned}} for c in spec.citations
    ]
    prov: dict[str, Any] = {
        "resourceType": "Provenance",
        "meta": {"profile": [AI_PROVENANCE_PROFILE], "tag": [_tag(key, "provenance")]},
        "target": targets,
        "occurredPeriod": {"start": spec.created, "end": spec.approved_at},
        "recorded": spec.approved_at,
        "reason": [{"coding": [spec.reason]}],
        "activity": {
            "coding": [{"system": _DATA_OPERATION, "code": "CREATE", "display": "create"}]
        },
        "agent": [
            {
                "type": {"coding": [{"system": _PARTICIPANT, "code": "author"}]},
                "role": [{"coding": [AI_DEVICE_TYPE]}],
                "who": {"reference": device_url, "display": spec.model.name},
            },
            {
                "type": {"coding": [{"system": _PARTICIPANT, "code": "verifier"}]},
                "who": spec.approver.as_reference(),
            },
        ],
    }
    if spec.edited:
        # What the model wrote, kept beside what the person approved: the approved
        # document is a revision of this one (entity role `revision`).
        original, _ = _attachment(spec.model_markdown, f"{spec.title} (as generated)", spec.created)
        prov["contained"] = [
            {
                "resourceType": "DocumentReference",
                "id": _MODEL_DRAFT_ID,
                "meta": {"security": [AIAST]},
                "status": "superseded",
                "docStatus": "preliminary",
                "type": {"coding": [spec.doc_type]},
                "subject": {"reference": f"Patient/{spec.patient_id}"},
                "date": spec.created,
                "description": "The text as the model generated it, before the approver's edits",
                "content": [{"attachment": original}],
            }
        ]
        entities.append({"role": "revision", "what": {"reference": f"#{_MODEL_DRAFT_ID}"}})
    if entities:
        prov["entity"] = entities
    return prov


def build_transaction(spec: WriteSpec) -> WritePlan:
    """The transaction Bundle of conditional creates for an approved draft (validated)."""
    key = write_key(spec.draft_id, spec.markdown, spec.extras)
    device_url = (
        f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, MODEL_IDENTIFIER + spec.model.identifier)}"
    )
    doc_url = f"urn:uuid:{uuid.uuid4()}"
    prov_url = f"urn:uuid:{uuid.uuid4()}"
    document, digest = _document(spec, key, device_url)
    provenance = _provenance(spec, key, device_url, doc_url)
    device = _device(spec)
    entries: list[tuple[str, str, dict[str, Any], str]] = [
        (
            "device",
            device_url,
            device,
            "identifier=" + quote(f"{MODEL_IDENTIFIER}|{spec.model.identifier}", safe="|:/"),
        ),
        ("document", doc_url, document, f"_tag={WRITEBACK_TAG}|{key}.document"),
        ("provenance", prov_url, provenance, f"_tag={WRITEBACK_TAG}|{key}.provenance"),
    ]
    for n, extra in enumerate(spec.extras, 1):
        slot = f"extra{n}"
        resource = dict(extra.resource)
        meta = dict(resource.get("meta") or {})
        meta["tag"] = [*meta.get("tag", []), _tag(key, slot)]
        resource["meta"] = meta
        entries.append((slot, extra.full_url, resource, f"_tag={WRITEBACK_TAG}|{key}.{slot}"))
    for slot, _, resource, _ in entries:
        validate(resource, f"write-back {slot} of draft {spec.draft_id}")
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": url,
                "resource": resource,
                "request": {"method": "POST", "url": resource["resourceType"], "ifNoneExist": ine},
            }
            for _, url, resource, ine in entries
        ],
    }
    return WritePlan(
        bundle=bundle, key=key, slots=tuple(e[0] for e in entries), document_hash=digest
    )

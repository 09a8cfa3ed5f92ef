"""FHIR shaping of an approved draft: the resources a write-back creates, in one Bundle.

Pure functions, no I/O and no model knowledge: :func:`build_transaction` turns a
:class:`WriteSpec` (the approved Markdown, its citations with their versions, the model,
the approving person, optional extra resources) into a FHIR R4 ``transaction`` Bundle of
conditional creates::

    Device             the model (AI Transparency IG: an AI device), keyed by identifier
    DocumentReference  the approved Markdown, AIAST-labelled, linked to the patient (and
                       the encounter / appointment), author = the Device,
                       authenticator = the approving person
    Provenance         AIProvenance: target the document (+ extras marked ai_generated),
                       agents the Device (author) and the person (verifier), one entity
                       (role source) per cited resource, version-specific; when the person
                       edited the text, the model's text as a contained DocumentReference
                       with an entity of role revision
    extras             e.g. intake's QuestionnaireResponse and Consent, written alongside

Idempotency: every created resource carries ``meta.tag`` ``{WRITEBACK_TAG}|{key}.{slot}``
and its entry's ``ifNoneExist`` is ``_tag=...`` (the Device: ``identifier=...``), where
``key`` derives from the draft id and the approved content (:func:`write_key`). A
repeated write of the same approval matches what the first one created and creates
nothing. Every resource is validated as FHIR R4 (:func:`tools.fhir_version.validate`)
before the Bundle is returned.
"""

from tools.writeback._shape import (
    AI_DEVICE_TYPE,
    AI_PROVENANCE_PROFILE,
    AIAST,
    DRAFT_IDENTIFIER,
    MODEL_IDENTIFIER,
    WRITEBACK_TAG,
    CitedSource,
    ExtraEntry,
    ModelAgent,
    Person,
    WritePlan,
    WriteSpec,
    attachment_text,
    build_transaction,
    content_hash,
    write_key,
)

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

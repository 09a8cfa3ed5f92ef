"""Drafting briefs and answers for review: what the API, the CLI, CDS Hooks and the batch
share on top of :mod:`tools.drafts` (which knows no model).

::

    desk = open_writeback(deployment, source)                    # drafts table + writer
    draft = await draft_brief(desk, patient_id, deployment=deployment, extractive=True)
    draft = await draft_brief(desk, patient_id, deployment=deployment, model=chat_model)
    draft = await draft_answer(desk, answer, deployment=deployment, model_name=model.name)
    draft = await draft_intake(desk, outcome, deployment=deployment)  # intake brief + its QR
"""

from __future__ import annotations

import asyncio
import importlib.metadata
from typing import Any

from agent.answer import CitedAnswer
from agent.config import DeploymentConfig, build_terminology, config_hash
from agent.context import AgentSettings
from agent.intake import IntakeOutcome
from agent.models import ChatModel
from agent.run import brief as agent_brief
from tools.brief import build_brief
from tools.config import StoreConfig, default_store_url
from tools.drafts import Draft, DraftKind, DraftStore, WritableSource, WriteBack
from tools.errors import ResourceNotFound
from tools.source import RecordSource
from tools.terminology import Terminology
from tools.writeback import CitedSource, ExtraEntry, ModelAgent

__all__ = [
    "EXTRACTIVE_MODEL",
    "draft_answer",
    "draft_brief",
    "draft_intake",
    "drafts_database",
    "model_agent",
    "open_writeback",
]

#: The "model" of a draft built by code alone (the extractive brief).
EXTRACTIVE_MODEL = "extractive-brief (no model)"
#: The "model" of an intake brief written by code from the answers and the record.
INTAKE_MODEL = "intake-brief (no model)"


def _software() -> str:
    try:
        return f"fhir-record-assistant {importlib.metadata.version('fhir-record-assistant')}"
    except importlib.metadata.PackageNotFoundError:
        return "fhir-record-assistant"


def _model_version(deployment: DeploymentConfig) -> str:
    cfg: Any = deployment.model
    for attr in ("model",):
        value = getattr(cfg, attr, None)
        if isinstance(value, str):
            return value
    gguf = getattr(cfg, "gguf", None)
    if gguf is not None:
        for attr in ("path", "file", "package"):
            value = getattr(gguf, attr, None)
            if value:
                return str(value)
        parts = getattr(gguf, "parts", None)
        if parts:
            return f"{parts[0]} (+{len(parts) - 1} parts)"
    return deployment.model.backend


def model_agent(
    deployment: DeploymentConfig, model_name: str | None = None, *, extractive: bool = False
) -> ModelAgent:
    """What wrote a draft, for its Provenance: the model (or the extractive code), the
    deployment and its configuration hash."""
    if extractive:
        return ModelAgent(
            name=EXTRACTIVE_MODEL,
            version=_software(),
            deployment=deployment.name,
            config_hash=config_hash(deployment),
            software=_software(),
        )
    return ModelAgent(
        name=model_name or deployment.model.name or deployment.model.backend,
        version=_model_version(deployment),
        deployment=deployment.name,
        config_hash=config_hash(deployment),
        software=_software(),
    )


def drafts_database(deployment: DeploymentConfig, store: str | None = None) -> str:
    """Where drafts live: ``[service] database``, else the record store (``store`` or the
    deployment's), else the default store: beside the audit trail."""
    if deployment.service.database:
        return deployment.service.database
    if store:
        return store
    if isinstance(deployment.source, StoreConfig):
        return deployment.source.url
    return default_store_url()


def open_writeback(
    deployment: DeploymentConfig, source: WritableSource, database: str | None = None
) -> WriteBack:
    """The deployment's :class:`WriteBack` over ``source`` (close ``desk.drafts`` after)."""
    store = DraftStore(database or drafts_database(deployment))
    return WriteBack(store, source, deployment.writeback)


async def _patient_exists(source: RecordSource, patient_id: str) -> None:
    from tools.errors import PatientNotFound

    try:
        await source.read(f"Patient/{patient_id}")
    except ResourceNotFound:
        raise PatientNotFound(patient_id, source.label) from None


async def extractive_markdown(source: RecordSource, patient_id: str) -> tuple[str, list[str]]:
    """The extractive brief's Markdown and citations (no model)."""
    record = await source.everything(patient_id)
    brief = await asyncio.to_thread(build_brief, record)
    return brief.markdown, brief.citations


async def draft_brief(
    desk: WriteBack,
    patient_id: str,
    *,
    deployment: DeploymentConfig,
    source: RecordSource | None = None,
    model: ChatModel | None = None,
    extractive: bool = False,
    settings: AgentSettings | None = None,
    terminology: Terminology | None = None,
    created_by: str = "",
    appointment: str | None = None,
    batch_key: str | None = None,
) -> Draft:
    """A pre-visit brief as a draft: extractive (no model), or model-written and verified."""
    src = source or desk.source
    if extractive or model is None:
        await _patient_exists(src, patient_id)
        markdown, citations = await extractive_markdown(src, patient_id)
        return await desk.create_draft(
            patient_id=patient_id,
            kind="brief",
            markdown=markdown,
            citations=citations,
            model=model_agent(deployment, extractive=True),
            extractive=True,
            created_by=created_by,
            appointment=appointment,
            batch_key=batch_key,
        )
    answer = await agent_brief(
        patient_id,
        source=src,
        model=model,
        settings=settings or deployment.agent,
        terminology=terminology or build_terminology(deployment),
    )
    return await draft_answer(
        desk,
        answer,
        deployment=deployment,
        model_name=model.name,
        created_by=created_by,
        appointment=appointment,
        batch_key=batch_key,
    )


async def draft_answer(
    desk: WriteBack,
    answer: CitedAnswer,
    *,
    deployment: DeploymentConfig,
    model_name: str | None = None,
    kind: DraftKind | None = None,
    created_by: str = "",
    appointment: str | None = None,
    batch_key: str | None = None,
    draft_id: str | None = None,
    versions: dict[str, str] | None = None,
) -> Draft:
    """A verified answer (or model brief) as a draft; ``draft_id``: complete that pending
    draft instead of creating one. ``versions`` (``Type/id`` → versionId): the versions
    of the record the answer was built from, when it is not this source's (CDS Hooks)."""
    citations: list[str | CitedSource] = [
        CitedSource(reference=c.reference, version=versions.get(c.reference))
        if versions is not None
        else c.reference
        for c in answer.cited
    ]
    resolve = versions is None
    agent = model_agent(deployment, model_name)
    if draft_id is not None:
        return await desk.complete(
            draft_id,
            markdown=answer.to_markdown(),
            model=agent,
            citations=citations,
            answer=answer.as_dict(),
            resolve_versions=resolve,
        )
    return await desk.create_draft(
        patient_id=answer.patient_id,
        kind=kind or ("brief" if answer.mode == "brief" else "answer"),
        markdown=answer.to_markdown(),
        citations=citations,
        answer=answer.as_dict(),
        model=agent,
        created_by=created_by,
        appointment=appointment,
        batch_key=batch_key,
        resolve_versions=resolve,
    )


async def draft_intake(
    desk: WriteBack,
    outcome: IntakeOutcome,
    *,
    deployment: DeploymentConfig,
    created_by: str = "",
) -> Draft:
    """A finished interview as a draft: the cited intake brief, with its
    QuestionnaireResponse as an extra written in the same transaction on approval.

    The brief's ``QuestionnaireResponse/ID#linkId`` citations name the QR by the id it
    carries as ``identifier`` (:data:`agent.intake.QR_IDENTIFIER`); the draft cites the
    QR's entry of the transaction, so the Provenance and the DocumentReference point at
    the QuestionnaireResponse the server creates.
    """
    qr = ExtraEntry(
        resource=outcome.questionnaire_response,
        label="Pre-visit intake answers (QuestionnaireResponse)",
        ai_generated=False,
    )
    chart = [c.reference for c in outcome.brief.cited if c.type != "QuestionnaireResponse"]
    citations: list[str | CitedSource] = [*chart, CitedSource(reference=qr.full_url)]
    agent = model_agent(deployment, extractive=True).model_copy(update={"name": INTAKE_MODEL})
    return await desk.create_draft(
        patient_id=outcome.patient_id,
        kind="intake",
        markdown=outcome.brief.to_markdown(),
        citations=citations,
        answer=outcome.brief.as_dict(),
        extras=[qr],
        model=agent,
        extractive=True,
        encounter=outcome.encounter,
        appointment=outcome.appointment,
        created_by=created_by,
    )

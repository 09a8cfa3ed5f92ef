"""The warm resources of one worker process: the model, the record source, the audit
trail, the thread registry and checkpointer, the model gate and the authenticator.

Built once when the worker starts (:func:`open_state`, used by the app's lifespan); the
model loads in the background so ``/health`` answers at once and ``/ready`` turns true
when it is loaded. Nothing here is per request, and nothing is kept between requests but
the model's own prompt cache: workers are stateless, so any number of them can serve the
same threads when the database is PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from agent.config import DeploymentConfig, build_terminology, config_hash
from agent.context import AgentSettings
from agent.models import (
    ChatModel,
    ChatResult,
    ChatStream,
    Message,
    SchemaLike,
    Usage,
    WarmResult,
)
from agent.models._config import OpenAIConfig
from agent.threads import default_threads_db, is_postgres_url, open_checkpointer
from surfaces._sources import open_source
from tools.audit import AuditLog, PatientIdHasher
from tools.config import FhirServerConfig, StoreConfig, default_store_url
from tools.drafts import DraftStore, WritableSource, WriteBack
from tools.source import PatientRow, RecordSource, Resource, SearchParams
from tools.terminology import Terminology

from ._auth import Authenticator
from ._gate import ModelGate
from ._threads import ThreadRegistry

__all__ = ["CountingSource", "MeteredModel", "ServiceState", "open_state", "usage_meter"]

log = logging.getLogger("surfaces.service")

#: The model usage of the current request (set per request; see :class:`MeteredModel`).
usage_meter: contextvars.ContextVar[list[Usage] | None] = contextvars.ContextVar(
    "usage_meter", default=None
)


class MeteredModel:
    """A :class:`ChatModel` that passes every call to the warm model and adds its usage
    (tokens, prompt-cache hits, time to first token) to the current request's meter."""

    def __init__(self, inner: ChatModel) -> None:
        self.inner = inner
        self.name = inner.name

    async def generate(
        self,
        messages: Sequence[Message],
        *,
        schema: SchemaLike | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        on_token: Any = None,
    ) -> ChatResult[Any]:
        result: ChatResult[Any] = await self.inner.generate(
            messages,
            schema=schema,
            max_tokens=max_tokens,
            temperature=temperature,
            on_token=on_token,
        )
        meter = usage_meter.get()
        if meter is not None:
            meter.append(result.usage)
        return result

    def stream(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> ChatStream:
        return self.inner.stream(messages, max_tokens=max_tokens, temperature=temperature)

    async def warm(self, prompts: Sequence[Sequence[Message]]) -> WarmResult | None:
        warm = getattr(self.inner, "warm", None)  # a duck-typed (test) model may lack it
        result: WarmResult | None = await warm(prompts) if warm is not None else None
        return result

    async def aclose(self) -> None:
        await self.inner.aclose()


class CountingSource:
    """A per-request view of the shared record source that counts what it returns, per
    resource type (for the audit's "resources read")."""

    def __init__(self, inner: RecordSource) -> None:
        self.inner = inner
        self.counts: dict[str, int] = {}

    def _count(self, resources: Sequence[Resource]) -> None:
        for r in resources:
            rtype = str(r.get("resourceType", "?"))
            self.counts[rtype] = self.counts.get(rtype, 0) + 1

    @property
    def label(self) -> str:
        return self.inner.label

    async def read(self, reference: str) -> Resource:
        resource = await self.inner.read(reference)
        self._count([resource])
        return resource

    async def search(
        self, resource_type: str, params: SearchParams | None = None
    ) -> list[Resource]:
        found = await self.inner.search(resource_type, params)
        self._count(found)
        return found

    async def everything(self, patient_id: str, *, since: str | None = None) -> list[Resource]:
        record = await self.inner.everything(patient_id, since=since)
        self._count(record)
        return record

    async def patients(self) -> list[PatientRow]:
        return await self.inner.patients()

    async def transaction(self, bundle: Resource, *, patient_id: str) -> Resource:
        """A write of the shared source (the intake's Consent); refused if it cannot write."""
        writer = getattr(self.inner, "transaction", None)
        if writer is None:
            from tools.errors import WriteRefused

            raise WriteRefused(f"The record source {self.inner.label} cannot write.")
        result: Resource = await writer(bundle, patient_id=patient_id)
        return result

    async def aclose(self) -> None:  # the shared source outlives the request
        return None


@dataclass
class ServiceState:
    """Everything a worker holds while it runs (see the module docstring)."""

    deployment: DeploymentConfig
    config_hash: str
    model: MeteredModel
    model_backend: str
    source: RecordSource
    audit: AuditLog
    threads: ThreadRegistry
    checkpointer: Any
    gate: ModelGate
    auth: Authenticator
    hasher: PatientIdHasher
    settings: AgentSettings
    terminology: Terminology
    multimodal: bool
    writeback: WriteBack | None = None
    background: set[asyncio.Task[Any]] = field(default_factory=set)
    insecure: bool = False
    public_url: str | None = None
    model_loaded: bool = False
    model_error: str | None = None
    started: float = field(default_factory=time.monotonic)
    load_task: asyncio.Task[None] | None = None

    @property
    def observer(self) -> str:
        return f"fhir-assistant {self.deployment.name}"

    @property
    def store_url(self) -> str:
        return self.audit.url


def service_database(deployment: DeploymentConfig) -> str:
    """Where the audit trail and thread registry live (see ``ServiceConfig.database``)."""
    if deployment.service.database:
        return deployment.service.database
    if isinstance(deployment.source, StoreConfig):
        return deployment.source.url
    return default_store_url()


def threads_location(deployment: DeploymentConfig, database: str) -> str:
    """Where the checkpoints live (see ``ServiceConfig.threads``)."""
    if deployment.service.threads:
        return deployment.service.threads
    if is_postgres_url(database):
        return database
    return str(default_threads_db())


async def _load_model(state: ServiceState) -> None:
    """Load an in-process model's weights now (a remote model needs nothing)."""
    started = time.perf_counter()
    inner = state.model.inner
    try:
        load = getattr(inner, "load", None)
        if load is not None:
            await load()
        state.model_loaded = True
        log.info("model %s ready in %.1f s", state.model.name, time.perf_counter() - started)
    except Exception as exc:  # reported by /ready; model requests answer 503
        state.model_error = f"{type(exc).__name__}: {exc}"
        log.error("model %s failed to load: %s", state.model.name, state.model_error)


@contextlib.asynccontextmanager
async def open_state(
    deployment: DeploymentConfig,
    *,
    model: ChatModel | None = None,
    source: RecordSource | None = None,
    insecure: bool = False,
    public_url: str | None = None,
    settings: AgentSettings | None = None,
    jwks_transport: Any = None,
) -> AsyncIterator[ServiceState]:
    """Open the worker's resources; close them (model, source, databases) on exit.

    ``model`` / ``source`` replace the deployment's (tests inject a scripted model)."""
    from agent.models import accepts_images, build_chat_model

    cfg = deployment.service
    database = service_database(deployment)
    audit = AuditLog(database)
    threads = ThreadRegistry(database)
    drafts = DraftStore(database)
    chat = model if model is not None else build_chat_model(deployment.model)
    src = source if source is not None else open_source(deployment.source)
    remote = isinstance(deployment.model, OpenAIConfig) and model is None
    limits = cfg.limits
    gate = ModelGate(
        limits.max_concurrent_remote if remote else 1,
        limits.queue_length,
        limits.max_queue_wait_s,
    )
    try:
        async with open_checkpointer(threads_location(deployment, database)) as saver:
            state = ServiceState(
                deployment=deployment,
                config_hash=config_hash(deployment),
                model=MeteredModel(chat),
                model_backend=deployment.model.backend,
                source=src,
                audit=audit,
                threads=threads,
                checkpointer=saver,
                gate=gate,
                auth=Authenticator(cfg.auth, insecure=insecure, jwks_transport=jwks_transport),
                hasher=PatientIdHasher.from_env(cfg.audit.log_key_env),
                settings=settings
                or deployment.agent.model_copy(
                    update={
                        "time_budget_s": min(
                            deployment.agent.time_budget_s, limits.request_timeout_s
                        )
                    }
                ),
                terminology=build_terminology(deployment),
                multimodal=accepts_images(deployment.model),
                insecure=insecure,
                public_url=public_url or cfg.public_url,
                writeback=WriteBack(drafts, cast(WritableSource, src), deployment.writeback),
            )
            state.load_task = asyncio.create_task(_load_model(state))
            try:
                yield state
            finally:
                for task in list(state.background):
                    task.cancel()
                for task in list(state.background):
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task
                state.load_task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await state.load_task
    finally:
        with contextlib.suppress(Exception):
            await chat.aclose()
        with contextlib.suppress(Exception):
            await src.aclose()
        audit.close()
        threads.close()
        drafts.close()


def source_kind(state: ServiceState) -> str:
    return "fhir" if isinstance(state.deployment.source, FhirServerConfig) else "store"

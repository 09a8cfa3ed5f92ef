"""``FhirClient``: the :class:`~tools.source.RecordSource` over a FHIR R4 server."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

import httpx
import orjson
from pydantic import SecretStr

from tools.config import BearerAuth, FhirServerConfig, Limits, NoAuth
from tools.errors import (
    FhirAuthError,
    FhirHttpError,
    FhirProtocolError,
    FhirTimeout,
    FhirUnreachable,
    PatientNotFound,
    ResourceGone,
    ResourceNotFound,
    SourceError,
    outcome_text,
)
from tools.fhir._auth import build_auth
from tools.fhir._capabilities import Capabilities
from tools.fhir._everything import EverythingResult, Strategy, fetch_changed, fetch_everything
from tools.fhir._http import FhirHttp, public_url
from tools.fhir._retry import Sleep
from tools.fhir_version import FHIR_MIME
from tools.source import (
    PatientRow,
    Resource,
    SearchParams,
    check_transaction,
    check_write,
    normalize_params,
)

__all__ = ["FhirClient"]

log = logging.getLogger("tools.fhir")

_ID = r"[A-Za-z0-9\-.]{1,64}"
_REFERENCE_RE = re.compile(
    rf"^(?P<type>[A-Z][A-Za-z]{{1,63}})/(?P<id>{_ID})(?:/_history/(?P<vid>{_ID}))?$"
)
_ID_RE = re.compile(rf"^{_ID}$")
_LOCATION_RE = re.compile(
    rf"(?:^|/)(?P<type>[A-Z][A-Za-z]{{1,63}})/(?P<id>{_ID})(?:/_history/{_ID})?/?$"
)


class FhirClient:
    """Read a FHIR R4 server as a :class:`~tools.source.RecordSource`.

    Args:
        config: base URL, auth and limits.
        transport: an httpx transport to use instead of the network (tests).
        auth: an ``httpx.Auth`` to use instead of the one ``config.auth`` describes.
        sleep: how to wait between retries (defaults to ``asyncio.sleep``).
        clock: wall clock (``time.time``) for ``Retry-After`` dates and token expiry.
        everything_strategy: ``auto`` (``$everything`` plus gap-filling when the server
            declares it and ``config.prefer_everything``, else per-type searches),
            ``everything`` or ``per-type``.

    Use as ``async with FhirClient(config) as source: ...`` or call :meth:`aclose`.
    """

    def __init__(
        self,
        config: FhirServerConfig,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        auth: httpx.Auth | None = None,
        sleep: Sleep = asyncio.sleep,
        clock: Callable[[], float] = time.time,
        everything_strategy: Strategy = "auto",
    ) -> None:
        self.config = config
        self.everything_strategy: Strategy = everything_strategy
        self._http = FhirHttp(
            config.base_url,
            config.limits,
            transport=transport,
            auth=auth if auth is not None else build_auth(config, clock=clock),
            sleep=sleep,
            clock=clock,
        )
        self._caps: Capabilities | None = None
        self._caps_lock = asyncio.Lock()

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        token: str | None = None,
        limits: Limits | None = None,
        prefer_everything: bool = True,
        **kwargs: Any,
    ) -> FhirClient:
        """A client for a base URL (the CLI's ``--source http://...``).

        ``token`` adds a static bearer token; other keyword arguments go to the
        constructor (``transport``, ``sleep``, ``everything_strategy``, ...).
        Raises pydantic's ValidationError for a URL that is not http(s).
        """
        config = FhirServerConfig(
            base_url=url,
            auth=BearerAuth(token=SecretStr(token)) if token else NoAuth(),
            limits=limits or Limits(),
            prefer_everything=prefer_everything,
        )
        return cls(config, **kwargs)

    # ------------------------------------------------------------------ RecordSource

    @property
    def label(self) -> str:
        """The server's base URL (without credentials)."""
        return public_url(self._http.base_url)

    @property
    def requests(self) -> int:
        """HTTP requests made so far (retries included)."""
        return self._http.requests

    async def read(self, reference: str) -> Resource:
        """Read ``Type/id`` (or ``Type/id/_history/vid``, or an absolute URL on this server)."""
        ref = self._relative(reference)
        match = _REFERENCE_RE.match(ref)
        if not match:
            raise ResourceNotFound(
                reference, self.label, "not a `Type/id` reference (e.g. `Observation/123`)"
            )
        rtype = match["type"]
        try:
            resource, url = await self._http.get_json(f"{self._http.base_url}/{ref}")
        except FhirHttpError as exc:
            detail = outcome_text(exc.outcome)
            if exc.status == 404:
                raise ResourceNotFound(ref, self.label, detail) from exc
            if exc.status == 410:
                raise ResourceGone(ref, self.label, detail) from exc
            raise
        if resource.get("resourceType") != rtype:
            raise FhirProtocolError(
                f"GET {public_url(url)} returned a {resource.get('resourceType')}, not a {rtype}. "
                "Check that the base URL points at a FHIR R4 endpoint."
            )
        return resource

    async def search(
        self, resource_type: str, params: SearchParams | None = None
    ) -> list[Resource]:
        """Every match of a search (all pages), ``_include``d resources too.

        Sends ``Prefer: handling=strict``; a parameter the server rejects or reports as
        ignored raises UnsupportedSearch.
        """
        return await self._http.search(resource_type, normalize_params(params))

    async def everything(self, patient_id: str, *, since: str | None = None) -> list[Resource]:
        """The patient's complete record; never another patient's resources.

        ``since``: only what changed after that instant (``_lastUpdated=gt``, per type).
        """
        if since is not None:
            if not _ID_RE.match(patient_id):
                raise PatientNotFound(patient_id, self.label)
            caps = await self.capabilities()
            return (await fetch_changed(self._http, caps, patient_id, since)).resources
        return (await self.fetch_everything(patient_id)).resources

    async def fetch_everything(
        self, patient_id: str, *, strategy: Strategy | None = None
    ) -> EverythingResult:
        """:meth:`everything` with the details: strategy used, dropped counts, scans."""
        if not _ID_RE.match(patient_id):
            raise PatientNotFound(patient_id, self.label)
        return await fetch_everything(
            self._http,
            await self.capabilities(),
            patient_id,
            strategy=strategy or self.everything_strategy,
            prefer_everything=self.config.prefer_everything,
        )

    async def patients(self) -> list[PatientRow]:
        """Every Patient on the server (``resource_count`` is None: not cheap to count)."""
        return [_patient_row(p) for p in await self.search("Patient")]

    async def aclose(self) -> None:
        """Close the connections."""
        await self._http.aclose()

    # ------------------------------------------------------------------ RecordWriter

    async def create(self, resource: Resource, *, patient_id: str) -> Resource:
        """``POST [base]/[type]``: create ``resource`` for ``patient_id``; the created resource.

        Checked first (``WriteRefused``, nothing sent): the resource has no ``id`` and its
        subject/patient is ``Patient/{patient_id}`` (see :func:`tools.source.check_write`).
        Sends ``Prefer: return=representation``; the answer's body is returned when it is
        the created resource, else the resource is read back from the ``Location`` header.
        A POST is never retried (a retry after a lost answer could create it twice):
        FhirTimeout / FhirUnreachable then mean the outcome is unknown. Error statuses
        raise FhirHttpError and its subclasses (the server's OperationOutcome in the
        message: e.g. 400/422 for a resource the server rejects).
        """
        rtype = check_write(resource, patient_id, self.label)
        url = f"{self._http.base_url}/{rtype}"
        response = await self._post(url, orjson.dumps(resource))
        created = _created(response, rtype)
        if created is not None:
            return created
        location = response.headers.get("location") or response.headers.get("content-location")
        match = _LOCATION_RE.search(location or "")
        if match is None or match["type"] != rtype:
            raise FhirProtocolError(
                f"POST {public_url(url)} answered HTTP {response.status_code} without the "
                f"created {rtype} or a Location header naming it ({location!r}). The resource "
                "may have been created; search for it before retrying."
            )
        return await self.read(f"{rtype}/{match['id']}")

    async def transaction(self, bundle: Resource, *, patient_id: str) -> Resource:
        """``POST [base]`` a transaction Bundle of creates for ``patient_id`` (all or nothing).

        Checked first (``WriteRefused``, nothing sent; see
        :func:`tools.source.check_transaction`). Never retried: FhirTimeout /
        FhirUnreachable mean the outcome is unknown (a conditional create makes resending
        safe). Returns the ``transaction-response`` Bundle; an error status raises
        FhirHttpError with the server's OperationOutcome (the server rolled back).
        """
        check_transaction(bundle, patient_id, self.label)
        url = self._http.base_url
        response = await self._post(url, orjson.dumps(bundle))
        try:
            body: Any = orjson.loads(response.content) if response.content else None
        except orjson.JSONDecodeError:
            body = None
        entries = body.get("entry") if isinstance(body, dict) else None
        if (
            not isinstance(body, dict)
            or body.get("type") != "transaction-response"
            or not isinstance(entries, list)
            or len(entries) != len(bundle.get("entry") or [])
        ):
            raise FhirProtocolError(
                f"POST {public_url(url)} (transaction) answered HTTP {response.status_code} "
                "without a transaction-response Bundle with one entry per request. The "
                "transaction may have been applied; search for its resources before retrying."
            )
        return dict(body)

    async def _post(self, url: str, content: bytes) -> httpx.Response:
        """One POST (never retried); an error status raises the mapped FhirHttpError."""
        headers = {
            "Content-Type": FHIR_MIME,
            "Accept": FHIR_MIME,
            "Prefer": "return=representation",
        }
        http = self._http
        try:
            async with http._semaphore:
                http.requests += 1
                response = await http._client.post(url, content=content, headers=headers)
        except httpx.TimeoutException as exc:
            raise FhirTimeout(public_url(url), http.limits.timeout_s, 1) from exc
        except httpx.TransportError as exc:
            raise FhirUnreachable(public_url(url), f"{type(exc).__name__}: {exc}") from exc
        except httpx.RequestError as exc:
            raise FhirProtocolError(f"POST {public_url(url)} failed: {exc}.") from exc
        if not 200 <= response.status_code < 300:
            try:
                http._parse(response)  # raises the mapped FhirHttpError subclass
            except SourceError as exc:
                exc.args = tuple(
                    a.replace(" GET ", " POST ", 1) if isinstance(a, str) else a for a in exc.args
                )
                raise
        return response

    async def __aenter__(self) -> FhirClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ capabilities

    async def capabilities(self) -> Capabilities:
        """The server's CapabilityStatement (``GET metadata``), fetched once and cached.

        A server without a readable statement gets :meth:`Capabilities.unknown` (the
        client then probes); auth failures and unreachable servers raise.
        """
        if self._caps is not None:
            return self._caps
        async with self._caps_lock:
            if self._caps is None:
                self._caps = await self._fetch_capabilities()
        return self._caps

    async def capability_statement(self) -> dict[str, Any]:
        """The server's CapabilityStatement as sent (``GET metadata``, not cached).

        Raises:
            FhirHttpError, FhirProtocolError, FhirAuthError: as for any request (a body
            that is not JSON is a ``FhirProtocolError``).
        """
        statement, _ = await self._http.get_json(f"{self._http.base_url}/metadata")
        return statement

    async def _fetch_capabilities(self) -> Capabilities:
        url = f"{self._http.base_url}/metadata"
        try:
            statement, _ = await self._http.get_json(url)
        except FhirAuthError:
            raise
        except (FhirHttpError, FhirProtocolError) as exc:
            log.warning(
                "no usable CapabilityStatement from %s (%s); probing instead", self.label, exc
            )
            return Capabilities.unknown()
        if statement.get("resourceType") != "CapabilityStatement":
            log.warning(
                "%s/metadata is a %s; probing instead", self.label, statement.get("resourceType")
            )
            return Capabilities.unknown()
        caps = Capabilities.parse(statement)
        if caps.fhir_version and not caps.fhir_version.startswith("4.0"):
            log.warning(
                "%s declares FHIR %s; the assistant reads FHIR R4 (4.0.x)",
                self.label,
                caps.fhir_version,
            )
        return caps

    # ------------------------------------------------------------------ helpers

    def _relative(self, reference: str) -> str:
        base = self._http.base_url + "/"
        return reference[len(base) :] if reference.startswith(base) else reference


def _created(response: httpx.Response, rtype: str) -> Resource | None:
    """The created resource in a POST's answer body, or None (empty / an OperationOutcome)."""
    if not response.content:
        return None
    try:
        body: Any = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return None
    if isinstance(body, dict) and body.get("resourceType") == rtype and body.get("id"):
        return body
    return None


def _patient_row(patient: Resource) -> PatientRow:
    return PatientRow(
        id=str(patient.get("id", "")),
        name=_display_name(patient),
        birth_date=patient.get("birthDate") if isinstance(patient.get("birthDate"), str) else None,
        gender=patient.get("gender") if isinstance(patient.get("gender"), str) else None,
        deceased=bool(patient.get("deceasedBoolean")) or "deceasedDateTime" in patient,
        resource_count=None,
    )


def _display_name(patient: Resource) -> str:
    names = [n for n in patient.get("name") or [] if isinstance(n, dict)]
    if not names:
        return ""
    name = next((n for n in names if n.get("use") == "official"), names[0])
    if isinstance(name.get("text"), str) and name["text"].strip():
        return str(name["text"]).strip()
    given = [g for g in name.get("given") or [] if isinstance(g, str)]
    family = name.get("family")
    return " ".join([*given, family if isinstance(family, str) else ""]).strip()

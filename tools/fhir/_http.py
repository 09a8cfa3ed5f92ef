"""The HTTP layer of the FHIR client: GET with retries, error mapping, Bundle paging.

Every answer body is parsed once, with orjson. Every failure leaves as a
:class:`tools.errors.SourceError` subclass that names the URL and says what to do.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urljoin

import httpx
import orjson

from tools.config import Limits
from tools.errors import (
    FhirAuthError,
    FhirHttpError,
    FhirProtocolError,
    FhirRateLimited,
    FhirServerError,
    FhirTimeout,
    FhirUnreachable,
    PagingLoop,
    SourceError,
    UnsupportedSearch,
    outcome_text,
)
from tools.fhir._retry import (
    RETRY_STATUSES,
    Sleep,
    backoff_delay,
    is_retryable_exception,
    retry_after_seconds,
)
from tools.fhir_version import FHIR_MIME
from tools.source import Resource

__all__ = ["FhirHttp", "public_url"]

log = logging.getLogger("tools.fhir")

RESOURCE_TYPE_RE = re.compile(r"^[A-Z][A-Za-z]{1,63}$")
Params = Sequence[tuple[str, str]]


def public_url(url: str | httpx.URL) -> str:
    """A URL fit for messages and logs: without user info (credentials)."""
    u = httpx.URL(str(url))
    return str(u.copy_with(userinfo=b"")) if u.userinfo else str(u)


def _outcome(parsed: Any) -> dict[str, Any] | None:
    if isinstance(parsed, dict) and parsed.get("resourceType") == "OperationOutcome":
        return parsed
    return None


class FhirHttp:
    """GETs against one FHIR base URL, bounded, retried and mapped to the error tree.

    Args:
        base_url: the FHIR base (``https://host/fhir``), without a trailing slash.
        limits: timeouts, retries, concurrency and paging limits.
        transport: an httpx transport (tests pass ``httpx.MockTransport``).
        auth: the ``httpx.Auth`` flow to apply to every request.
        sleep: how to wait between retries (``asyncio.sleep``; tests record instead).
        clock: wall clock for ``Retry-After`` HTTP dates.
    """

    def __init__(
        self,
        base_url: str,
        limits: Limits,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        auth: httpx.Auth | None = None,
        sleep: Sleep = asyncio.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.limits = limits
        self._sleep = sleep
        self._clock = clock
        self._semaphore = asyncio.Semaphore(limits.max_concurrency)
        self._base = httpx.URL(self.base_url)
        self.requests = 0  # HTTP attempts made (retries included), for diagnostics
        self._client = httpx.AsyncClient(
            transport=transport,
            auth=auth,
            timeout=httpx.Timeout(limits.timeout_s, connect=limits.connect_timeout_s),
            limits=httpx.Limits(
                max_connections=limits.max_concurrency,
                max_keepalive_connections=limits.max_concurrency,
            ),
            headers={"Accept": FHIR_MIME, "User-Agent": "fhir-record-assistant"},
            follow_redirects=False,
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    # ------------------------------------------------------------------ GET

    async def get_json(
        self, url: str, params: Params | None = None, *, strict: bool = False
    ) -> tuple[dict[str, Any], str]:
        """GET ``url`` and return the parsed JSON object and the URL actually fetched.

        ``strict`` sends ``Prefer: handling=strict`` so that servers reject search
        parameters they do not support instead of ignoring them.

        Retries 429/502/503/504, timeouts and dropped connections with exponential
        backoff (``Retry-After`` honoured, every wait capped by ``backoff_max_s``).
        Raises FhirHttpError (or a subclass) for error statuses, FhirUnreachable,
        FhirTimeout or FhirProtocolError otherwise.
        """
        headers = {"Prefer": "handling=strict"} if strict else None
        request_params = httpx.QueryParams(list(params)) if params else None
        retries = self.limits.max_retries
        for attempt in range(retries + 1):
            try:
                async with self._semaphore:
                    self.requests += 1
                    response = await self._client.get(url, params=request_params, headers=headers)
            except httpx.ConnectError as exc:
                raise FhirUnreachable(_failed_url(exc, url), _describe(exc)) from exc
            except httpx.TransportError as exc:
                if not is_retryable_exception(exc):
                    raise FhirUnreachable(_failed_url(exc, url), _describe(exc)) from exc
                if attempt < retries:
                    delay = backoff_delay(attempt, self.limits)
                    log.debug(
                        "GET %s failed (%s); retry %d in %.2fs",
                        public_url(url),
                        _describe(exc),
                        attempt + 1,
                        delay,
                    )
                    await self._sleep(delay)
                    continue
                if isinstance(exc, httpx.TimeoutException):
                    raise FhirTimeout(
                        _failed_url(exc, url), self.limits.timeout_s, attempt + 1
                    ) from exc
                raise FhirUnreachable(
                    _failed_url(exc, url), f"{_describe(exc)}, after {attempt + 1} attempt(s)"
                ) from exc
            except httpx.RequestError as exc:  # undecodable body, too many redirects
                raise FhirProtocolError(
                    f"GET {_failed_url(exc, url)} failed: {_describe(exc)}. "
                    "Check that the base URL points at a FHIR R4 endpoint."
                ) from exc
            if response.status_code in RETRY_STATUSES and attempt < retries:
                wait = retry_after_seconds(response.headers.get("Retry-After"), self._clock)
                delay = backoff_delay(attempt, self.limits, wait)
                log.debug(
                    "GET %s answered %d; retry %d in %.2fs",
                    public_url(response.request.url),
                    response.status_code,
                    attempt + 1,
                    delay,
                )
                await self._sleep(delay)
                continue
            return self._parse(response), str(response.request.url)
        raise AssertionError("unreachable")  # pragma: no cover

    def _parse(self, response: httpx.Response) -> dict[str, Any]:
        url = public_url(response.request.url)
        status = response.status_code
        try:
            parsed: Any = orjson.loads(response.content) if response.content else None
        except orjson.JSONDecodeError:
            parsed = None
            if 200 <= status < 300:
                ctype = response.headers.get("content-type", "no content type")
                raise FhirProtocolError(
                    f"GET {url} answered HTTP {status} with a body that is not JSON ({ctype}: "
                    f"{response.text.strip()[:120]!r}). Check that the base URL points at a FHIR R4 "
                    "endpoint (often ending in /fhir) that serves application/fhir+json."
                ) from None
        if 200 <= status < 300:
            if not isinstance(parsed, dict) or not isinstance(parsed.get("resourceType"), str):
                raise FhirProtocolError(
                    f"GET {url} answered HTTP {status} with JSON that is not a FHIR resource "
                    "(no resourceType). Check that the base URL points at a FHIR R4 endpoint."
                )
            return parsed
        outcome = _outcome(parsed)
        body = "" if outcome else response.text
        if status in (401, 403):
            raise FhirAuthError(status, url, outcome, body)
        if status == 429:
            raise FhirRateLimited(status, url, outcome, body)
        if status >= 500:
            raise FhirServerError(status, url, outcome, body)
        if 300 <= status < 400:
            where = response.headers.get("location", "another address")
            raise FhirHttpError(
                status,
                url,
                outcome,
                body,
                hint=f"The server redirects to {where}; use that address as the base URL.",
            )
        raise FhirHttpError(status, url, outcome, body)

    # ------------------------------------------------------------------ paging

    def resolve_link(self, link: str, current: str) -> str:
        """An absolute URL for a Bundle link (absolute, base-relative or query-only).

        Links that point at another origin (a proxy's internal host name, typically)
        are rewritten onto the configured base's origin, so that credentials are only
        ever sent to the configured server.
        """
        if link.startswith("?"):
            absolute = current.split("?", 1)[0] + link
        else:
            absolute = urljoin(self.base_url + "/", link)
        u = httpx.URL(absolute)
        b = self._base
        if (u.scheme, u.host, u.port) != (b.scheme, b.host, b.port):
            log.debug("rewriting a paging link from %s onto %s", u.host, b.host)
            u = u.copy_with(scheme=b.scheme, host=b.host, port=b.port)
        return str(u)

    async def pages(
        self,
        url: str,
        params: Params | None = None,
        *,
        strict: bool = True,
        what: str = "",
    ) -> list[Resource]:
        """Every resource of a searchset (matches and ``_include``s), following ``next``.

        Raises PagingLoop when a ``next`` link repeats a page already fetched and
        SourceError when ``limits.max_pages`` would be exceeded. With ``strict``, an
        OperationOutcome entry saying a parameter was not supported raises
        UnsupportedSearch (a lenient server ignored it; the matches would be wrong).
        """
        resources: list[Resource] = []
        seen_keys: set[tuple[str, str]] = set()
        fetched: set[str] = set()
        page_params: Params | None = params
        pages = 0
        while True:
            bundle, fetched_url = await self.get_json(url, page_params, strict=strict)
            pages += 1
            fetched.add(fetched_url)
            if bundle.get("resourceType") != "Bundle":
                raise FhirProtocolError(
                    f"GET {public_url(fetched_url)} returned a {bundle.get('resourceType')}, not a "
                    "Bundle. The server does not answer FHIR searches at this address."
                )
            for entry in bundle.get("entry") or []:
                if not isinstance(entry, dict):
                    continue
                resource = entry.get("resource")
                if not isinstance(resource, dict):
                    continue
                mode = (entry.get("search") or {}).get("mode")
                if mode == "outcome" or resource.get("resourceType") == "OperationOutcome":
                    self._check_outcome(resource, fetched_url, strict, what)
                    continue
                key = (str(resource.get("resourceType")), str(resource.get("id")))
                if resource.get("id") is not None:
                    if key in seen_keys:
                        continue
                    seen_keys.add(key)
                resources.append(resource)
            link = _next_link(bundle)
            if link is None:
                return resources
            nxt = self.resolve_link(link, fetched_url)
            if nxt in fetched:
                raise PagingLoop(public_url(nxt), pages)
            if pages >= self.limits.max_pages:
                raise SourceError(
                    f"{what or public_url(url)}: stopped after limits.max_pages={self.limits.max_pages} "
                    f"pages ({len(resources)} resources so far) with more to come; the result would be "
                    "incomplete. Raise `limits.max_pages` or `limits.page_size`, or narrow the search."
                )
            url, page_params = nxt, None

    def _check_outcome(self, outcome: Resource, url: str, strict: bool, what: str) -> None:
        issues = [i for i in outcome.get("issue") or [] if isinstance(i, dict)]
        text = outcome_text(outcome)
        if strict and any(
            i.get("code") == "not-supported" and i.get("severity") in ("warning", "error", "fatal")
            for i in issues
        ):
            raise UnsupportedSearch(
                f"{what or 'The search'} was only partly honoured by {self.base_url} "
                f"(GET {public_url(url)}: {text}). Remove or change the unsupported parameter."
            )
        if text:
            log.debug("search outcome from %s: %s", public_url(url), text)

    async def search(
        self, resource_type: str, params: Params, *, strict: bool = True
    ) -> list[Resource]:
        """``GET [base]/[type]?params`` through every page; ``_count`` = ``limits.page_size``.

        A 400/404/405/422 answer (parameter or type not supported) raises UnsupportedSearch
        with the server's OperationOutcome text; other errors propagate.
        """
        if not RESOURCE_TYPE_RE.match(resource_type):
            raise UnsupportedSearch(
                f"{resource_type!r} is not a FHIR resource type name (expected e.g. `Observation`)."
            )
        pairs = list(params)
        if not any(name == "_count" for name, _ in pairs):
            pairs.append(("_count", str(self.limits.page_size)))
        query = "&".join(f"{k}={v}" for k, v in params)
        what = f"Search {resource_type}{'?' + query if query else ''}"
        try:
            return await self.pages(
                f"{self.base_url}/{resource_type}", pairs, strict=strict, what=what
            )
        except FhirHttpError as exc:
            if exc.status in (400, 404, 405, 422):
                reason = outcome_text(exc.outcome) or f"HTTP {exc.status}"
                raise UnsupportedSearch(
                    f"{what} is not supported by {self.base_url} ({reason}). "
                    "Use parameters the server's CapabilityStatement declares (GET metadata)."
                ) from exc
            raise


def _next_link(bundle: dict[str, Any]) -> str | None:
    for link in bundle.get("link") or []:
        if isinstance(link, dict) and link.get("relation") == "next":
            url = link.get("url")
            if isinstance(url, str) and url:
                return url
    return None


def _failed_url(exc: httpx.RequestError, url: str) -> str:
    """The URL of the request that failed: the FHIR URL, or e.g. the token endpoint."""
    try:
        return public_url(exc.request.url)
    except RuntimeError:  # no request attached
        return public_url(url)


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__

"""An optional FHIR terminology server behind the same :class:`Terminology` protocol.

:class:`ServerTerminology` answers from the local data first and asks a FHIR R4
terminology server (``CodeSystem/$lookup``, ``CodeSystem/$subsumes``,
``ConceptMap/$translate``; ``Parameters`` in and out) about what the local data does not
know: a SNOMED CT, ICD-10-CM or LOINC code outside the data files, or whether such a code
is subsumed by a concept a sentence mentions. All I/O happens in :meth:`prepare`, which
the caller awaits once per batch; the synchronous calls read its cache, so the verifier
stays synchronous and deterministic. Requests are bounded (``max_concurrency``), timed
out (``timeout_s``) and cached (``cache_size`` answers, least recently used evicted).

Every failure of the server is a :class:`~tools.errors.TerminologyServerError` that names
the URL. :meth:`prepare` keeps going when one request fails (the error is kept in
:attr:`ServerTerminology.errors`; ``strict=True`` raises it), and a relation it could
not settle is reported by :meth:`implies` as ``None`` (unknown), never guessed.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any, cast

import httpx

from tools.errors import TerminologyServerError, outcome_text
from tools.terminology._local import LocalTerminology, default_terminology, normalize_code
from tools.terminology._model import (
    ICD10,
    ICD10CM,
    KINDS,
    LOINC,
    RXNORM,
    SNOMED,
    Code,
    Concept,
    Kind,
    Mention,
    canonical_system,
)

__all__ = ["LookupResult", "ServerTerminology"]

#: Subsumption outcomes of ``$subsumes`` (FHIR R4 concept-subsumption-outcome).
_OUTCOMES = frozenset({"equivalent", "subsumes", "subsumed-by", "not-subsumed"})
_MISSING = object()


@dataclass(frozen=True, slots=True)
class LookupResult:
    """What ``$lookup`` says of a code: its display and its parent codes (if sent)."""

    code: Code
    display: str
    parents: tuple[str, ...] = ()


class _Lru:
    def __init__(self, size: int) -> None:
        self._size = size
        self._data: OrderedDict[Any, Any] = OrderedDict()

    def get(self, key: Any) -> Any:
        if key not in self._data:
            return _MISSING
        self._data.move_to_end(key)
        return self._data[key]

    def put(self, key: Any, value: Any) -> None:
        self._data[key] = value
        self._data.move_to_end(key)
        while len(self._data) > self._size:
            self._data.popitem(last=False)

    def __len__(self) -> int:
        return len(self._data)


def _params(body: Any, url: str) -> list[dict[str, Any]]:
    if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
        kind = body.get("resourceType") if isinstance(body, dict) else type(body).__name__
        raise TerminologyServerError(url, f"expected a FHIR Parameters resource, got {kind!r}")
    return [p for p in body.get("parameter") or [] if isinstance(p, dict)]


def _value(param: dict[str, Any]) -> Any:
    for key, value in param.items():
        if key.startswith("value"):
            return value
    return None


class ServerTerminology:
    """Local terminology data plus a FHIR terminology server for the rest.

    Args:
        local: the local terminology (default: :func:`default_terminology`).
        base_url: the server's FHIR base, e.g. ``https://tx.example.org/fhir``.
        timeout_s: per-request timeout.
        max_concurrency: requests in flight at once.
        cache_size: answers kept (lookups, subsumptions and translations each).
        auth: an ``httpx.Auth`` (bearer token, SMART Backend Services), or ``None``.
        transport: an ``httpx`` transport (tests; otherwise the default network one).
        systems: the code systems to ask the server about.
    """

    def __init__(
        self,
        local: LocalTerminology | None = None,
        base_url: str = "",
        *,
        timeout_s: float = 10.0,
        max_concurrency: int = 4,
        cache_size: int = 10_000,
        auth: httpx.Auth | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        systems: Collection[str] = (SNOMED, ICD10CM, ICD10, LOINC, RXNORM),
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must be an http(s) URL, got {base_url!r}")
        self.local = local if local is not None else default_terminology()
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self._auth = auth
        self._transport = transport
        self._max_concurrency = max_concurrency
        self._systems = frozenset(canonical_system(s) for s in systems)
        self._lookups = _Lru(cache_size)
        self._subsumes = _Lru(cache_size)
        self._translations = _Lru(cache_size)
        self.errors: list[TerminologyServerError] = []
        self.requests = 0  # requests sent (cache hits are not requests)

    @classmethod
    def from_config(cls, config: Any, local: LocalTerminology | None = None) -> ServerTerminology:
        """A server terminology for a :class:`tools.config.TerminologyConfig` with a URL."""
        from tools.config import FhirServerConfig
        from tools.fhir._auth import build_auth

        if not config.server_url:
            raise ValueError("TerminologyConfig.server_url is not set")
        auth = build_auth(FhirServerConfig(base_url=config.server_url, auth=config.auth))
        return cls(
            local,
            config.server_url,
            timeout_s=config.timeout_s,
            max_concurrency=config.max_concurrency,
            cache_size=config.cache_size,
            auth=auth,
        )

    # ------------------------------------------------------------------ HTTP
    async def _get(self, client: httpx.AsyncClient, gate: asyncio.Semaphore, path: str,
                   params: dict[str, str]) -> list[dict[str, Any]] | None:  # fmt: skip
        url = f"{self.base_url}/{path}"
        async with gate:
            self.requests += 1
            try:
                response = await client.get(url, params=params)
            except httpx.TimeoutException as exc:
                raise TerminologyServerError(
                    url, f"no answer within {self.timeout_s:g} s ({type(exc).__name__})"
                ) from exc
            except httpx.TransportError as exc:
                raise TerminologyServerError(url, f"cannot reach the server ({exc})") from exc
        if response.status_code == 404:
            return None  # the server does not know the code
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code >= 400:
            detail = outcome_text(body if isinstance(body, dict) else None) or response.text[:200]
            raise TerminologyServerError(url, detail or "error", response.status_code)
        if body is None:
            raise TerminologyServerError(url, "the answer is not JSON")
        return _params(body, url)

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            timeout=httpx.Timeout(self.timeout_s),
            auth=self._auth,
            transport=self._transport,
            headers={"Accept": "application/fhir+json"},
        )

    async def _lookup(
        self, client: httpx.AsyncClient, gate: asyncio.Semaphore, code: Code
    ) -> LookupResult | None:
        cached = self._lookups.get(code)
        if cached is not _MISSING:
            return cached
        params = await self._get(client, gate, "CodeSystem/$lookup",
                                 {"system": code.system, "code": code.code, "property": "parent"})  # fmt: skip
        result = None
        if params is not None:
            display = ""
            parents: list[str] = []
            for p in params:
                if p.get("name") == "display":
                    display = str(_value(p) or "")
                elif p.get("name") == "property":
                    parts = {q.get("name"): _value(q) for q in p.get("part") or []}
                    if parts.get("code") == "parent" and parts.get("value"):
                        parents.append(str(parts["value"]))
            result = LookupResult(code, display, tuple(parents))
        self._lookups.put(code, result)
        return result

    async def _subsume(self, client: httpx.AsyncClient, gate: asyncio.Semaphore, system: str,
                       code_a: str, code_b: str) -> str | None:  # fmt: skip
        key = (system, code_a, code_b)
        cached = self._subsumes.get(key)
        if cached is not _MISSING:
            return cached
        params = await self._get(client, gate, "CodeSystem/$subsumes",
                                 {"system": system, "codeA": code_a, "codeB": code_b})  # fmt: skip
        outcome = None
        for p in params or []:
            if p.get("name") == "outcome" and _value(p) in _OUTCOMES:
                outcome = str(_value(p))
        self._subsumes.put(key, outcome)
        return outcome

    async def _translate(self, client: httpx.AsyncClient, gate: asyncio.Semaphore, code: Code,
                         target: str) -> tuple[Code, ...]:  # fmt: skip
        key = (code, target)
        cached = self._translations.get(key)
        if cached is not _MISSING:
            return cached
        params = await self._get(client, gate, "ConceptMap/$translate",
                                 {"system": code.system, "code": code.code, "targetsystem": target})  # fmt: skip
        found: list[Code] = []
        for p in params or []:
            if p.get("name") != "match":
                continue
            parts = {q.get("name"): _value(q) for q in p.get("part") or []}
            concept = parts.get("concept")
            ok = parts.get("equivalence", "equivalent") in (
                "equivalent",
                "equal",
                "wider",
                "subsumes",
            )
            if ok and isinstance(concept, dict) and concept.get("code"):
                found.append(Code.of(concept.get("system") or target, str(concept["code"])))
        self._translations.put(key, tuple(found))
        return tuple(found)

    # ------------------------------------------------------------------ public async API
    async def lookup(self, system: str, code: str) -> LookupResult | None:
        """``CodeSystem/$lookup`` (cached); ``None`` when the server does not know the code."""
        async with self._client() as client:
            return await self._lookup(client, asyncio.Semaphore(1), Code.of(system, code))

    async def subsumes(self, system: str, code_a: str, code_b: str) -> str | None:
        """``CodeSystem/$subsumes`` of A and B: equivalent, subsumes, subsumed-by, not-subsumed."""
        async with self._client() as client:
            return await self._subsume(
                client, asyncio.Semaphore(1), canonical_system(system), code_a, code_b
            )

    async def translate(self, system: str, code: str, target_system: str) -> tuple[Code, ...]:
        """``ConceptMap/$translate`` into ``target_system`` (equivalent or wider matches)."""
        async with self._client() as client:
            return await self._translate(client, asyncio.Semaphore(1), Code.of(system, code),
                                         canonical_system(target_system))  # fmt: skip

    async def prepare(
        self, codings: Iterable[Code], mentioned: Iterable[Concept] = (), *, strict: bool = False
    ) -> None:
        """Ask the server what the synchronous calls will need about these codings.

        For each coding the local data does not know (in a system the server is asked
        about): ``$lookup`` (its display), ``$translate`` to SNOMED CT when it is not SNOMED,
        and ``$subsumes`` against every mentioned concept's codes in the same system. A
        failed request is kept in :attr:`errors` (``strict=True`` raises the first one).
        """
        todo = []
        for c in codings:
            code = Code(canonical_system(c.system), c.code)
            if code.system in self._systems and not self.local.by_code(code.system, code.code):
                todo.append(code)
        if not todo:
            return
        wanted = list(mentioned)
        gate = asyncio.Semaphore(self._max_concurrency)
        failures: list[TerminologyServerError] = []

        async def one(code: Code) -> None:
            try:
                await self._lookup(client, gate, code)
                targets = [code]
                if code.system != SNOMED:
                    for target in await self._translate(client, gate, code, SNOMED):
                        if not self.local.by_code(target.system, target.code):
                            await self._lookup(client, gate, target)
                            targets.append(target)
                for target in targets:
                    for concept in wanted:
                        for mcode in concept.code_in(target.system):
                            await self._subsume(client, gate, target.system, mcode, target.code)
            except TerminologyServerError as exc:
                failures.append(exc)

        async with self._client() as client:
            await asyncio.gather(*(one(code) for code in dict.fromkeys(todo)))
        self.errors.extend(failures)
        if strict and failures:
            raise failures[0]

    # ------------------------------------------------------------------ the protocol
    def mentions(self, text: str) -> list[Mention]:
        """As :meth:`LocalTerminology.mentions`."""
        return self.local.mentions(text)

    def concept(self, concept_id: str) -> Concept | None:
        """A local concept by id."""
        return self.local.concept(concept_id)

    def ancestors(self, concept: Concept | str) -> frozenset[str]:
        """Is-a ancestors from the local data (the server's hierarchy is asked per pair,
        through :meth:`implies`)."""
        return self.local.ancestors(concept)

    def descendants(self, concept: Concept | str) -> frozenset[str]:
        """Is-a descendants from the local data."""
        return self.local.descendants(concept)

    def analyte(self, code_or_concept: str | Code | Concept) -> frozenset[str]:
        """As :meth:`LocalTerminology.analyte`."""
        return self.local.analyte(code_or_concept)

    def concepts_of(
        self,
        system: str | None,
        code: str | None,
        display: str | None = None,
        *,
        kinds: Collection[str] | None = None,
    ) -> tuple[Concept, ...]:
        """Local codes first; then what :meth:`prepare` learnt from the server (its
        translations into codes the local data knows, its display), then the display.

        A code known only to the server also yields a concept of its own (``sources``
        ``("server",)``, id ``system|code``) so :meth:`implies` can use ``$subsumes``.
        """
        found = self.local.by_code(system, code)
        if found or not code:
            return found
        sys = canonical_system(system)
        key = Code(sys, normalize_code(sys, code))
        translated = self._translations.get((key, SNOMED))
        candidates = [key, *(() if translated is _MISSING else translated)]
        out: dict[str, Concept] = {}
        stubs: list[Concept] = []
        displays = [display] if display else []
        for cand in candidates:
            for c in self.local.by_code(cand.system, cand.code):
                out.setdefault(c.id, c)
            looked = self._lookups.get(cand)
            if isinstance(looked, LookupResult):
                displays.append(looked.display)
                allowed = sorted(k for k in kinds or () if k in KINDS)
                kind = cast(Kind, allowed[0] if allowed else "finding")
                name = looked.display or cand.code
                stubs.append(Concept(f"{cand.system}|{cand.code}", kind, name, codes=(cand,),
                                     sources=("server",)))  # fmt: skip
        if not out:
            for text in displays:
                for c in self.local.concepts_in_display(text, kinds=kinds):
                    out.setdefault(c.id, c)
        for stub in stubs:
            out.setdefault(stub.id, stub)
        return tuple(out.values())

    def implies(self, recorded: Concept, mentioned: Concept) -> bool | None:
        """Local answer first; for codes only the server knows, its ``$subsumes`` answer."""
        local = self.local.implies(recorded, mentioned)
        if local is True:
            return True
        decided: bool | None = None
        for rcode in recorded.codes:
            for mcode in mentioned.code_in(rcode.system):
                outcome = self._subsumes.get((rcode.system, mcode, rcode.code))
                if outcome in ("equivalent", "subsumes"):
                    return True
                if outcome in ("subsumed-by", "not-subsumed"):
                    decided = False
        if decided is not None:
            return decided
        return local

"""FhirClient against scripted servers (httpx.MockTransport): paging, retries, error
mapping, everything() strategies and scope filtering, concurrency bound."""

from __future__ import annotations

import asyncio
import email.utils
import re
import socket
from collections.abc import Callable, Coroutine
from typing import Any

import httpx
import orjson
import pytest

from tools.config import FhirServerConfig, Limits
from tools.errors import (
    FhirAuthError,
    FhirHttpError,
    FhirProtocolError,
    FhirRateLimited,
    FhirServerError,
    FhirTimeout,
    FhirUnreachable,
    PagingLoop,
    PatientNotFound,
    ResourceGone,
    ResourceNotFound,
    SourceError,
    UnsupportedSearch,
)
from tools.fhir import Capabilities, FhirClient, from_url
from tools.fhir._everything import patient_search_plan
from tools.fhir_version import PATIENT_SEARCH_PARAM
from tools.source import RecordSource

BASE = "http://fhir.test/fhir"
Handler = (
    Callable[[httpx.Request], httpx.Response]
    | Callable[[httpx.Request], Coroutine[None, None, httpx.Response]]
)


# --------------------------------------------------------------------------- helpers


def respond(
    status: int = 200, body: Any = None, headers: dict[str, str] | None = None
) -> httpx.Response:
    content = orjson.dumps(body) if body is not None else b""
    return httpx.Response(
        status,
        content=content,
        headers={"Content-Type": "application/fhir+json", **(headers or {})},
    )


def outcome(text: str, code: str = "processing", severity: str = "error") -> dict[str, Any]:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": severity, "code": code, "diagnostics": text}],
    }


def bundle(
    resources: list[dict[str, Any]],
    next_url: str | None = None,
    include: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    entries = [{"resource": r, "search": {"mode": "match"}} for r in resources]
    entries += [{"resource": r, "search": {"mode": "include"}} for r in include or []]
    out: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "entry": entries}
    if next_url:
        out["link"] = [{"relation": "next", "url": next_url}]
    return out


def obs(oid: str, patient: str = "p1") -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": oid,
        "subject": {"reference": f"Patient/{patient}"},
    }


class Recorder:
    """Records retry sleeps instead of sleeping."""

    def __init__(self) -> None:
        self.sleeps: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.sleeps.append(seconds)


def make_client(
    handler: Handler, *, strategy: Any = "auto", clock: Any = None, **limits: Any
) -> tuple[FhirClient, Recorder]:
    sleep = Recorder()
    settings = {"max_retries": 3, "backoff_base_s": 0.5, "backoff_max_s": 30.0, **limits}
    config = FhirServerConfig(base_url=BASE, limits=Limits(**settings))
    extra: dict[str, Any] = {"clock": clock} if clock else {}
    client = FhirClient(
        config,
        transport=httpx.MockTransport(handler),
        sleep=sleep,
        everything_strategy=strategy,
        **extra,
    )
    return client, sleep


# --------------------------------------------------------------------------- basics


async def test_client_is_a_record_source_and_reads() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        assert request.url.path == "/fhir/Observation/o1"
        return respond(200, obs("o1"))

    client, _ = make_client(handler)
    async with client:
        assert isinstance(client, RecordSource)
        assert client.label == BASE
        assert await client.read("Observation/o1") == obs("o1")
        assert await client.read(f"{BASE}/Observation/o1") == obs("o1")
    assert seen[0].headers["Accept"] == "application/fhir+json"
    assert "Prefer" not in seen[0].headers  # strict handling is for searches


async def test_read_rejects_a_malformed_reference_without_a_request() -> None:
    client, _ = make_client(lambda r: pytest.fail("no request expected"))
    async with client:
        with pytest.raises(ResourceNotFound, match="not a `Type/id` reference"):
            await client.read("Observation?code=1")


async def test_read_of_the_wrong_type_is_a_protocol_error() -> None:
    client, _ = make_client(lambda r: respond(200, {"resourceType": "Patient", "id": "o1"}))
    async with client:
        with pytest.raises(FhirProtocolError, match="returned a Patient, not a Observation"):
            await client.read("Observation/o1")


async def test_non_json_body_is_a_protocol_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="<html>login</html>", headers={"Content-Type": "text/html"})

    client, _ = make_client(handler)
    async with client:
        with pytest.raises(FhirProtocolError, match=r"not JSON.*text/html"):
            await client.read("Patient/p1")


async def test_bearer_token_from_url_is_sent() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return respond(200, {"resourceType": "Patient", "id": "p1"})

    client = from_url(BASE, token="s3cret", transport=httpx.MockTransport(handler))
    async with client:
        await client.read("Patient/p1")
    assert seen[0].headers["Authorization"] == "Bearer s3cret"


# --------------------------------------------------------------------------- paging


async def test_paging_follows_relative_absolute_and_query_only_next_links() -> None:
    seen: list[str] = []
    practitioner = {"resourceType": "Practitioner", "id": "dr1"}

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        page = request.url.params.get("page", "1")
        if page == "1":
            assert request.headers["Prefer"] == "handling=strict"
            assert request.url.params.get_list("date") == ["ge2020", "lt2021"]
            assert request.url.params["_count"] == "2"
            # base-relative next link, with the same practitioner included
            return respond(
                200, bundle([obs("o1"), obs("o2")], "Observation?page=2", [practitioner])
            )
        if page == "2":
            return respond(
                200, bundle([obs("o3"), obs("o4")], f"{BASE}/Observation?page=3", [practitioner])
            )
        if page == "3":
            return respond(200, bundle([obs("o5")], "?page=4"))  # relative to the current page
        return respond(200, bundle([obs("o6")]))

    client, _ = make_client(handler, page_size=2)
    async with client:
        found = await client.search(
            "Observation",
            {"patient": "p1", "date": ["ge2020", "lt2021"], "_include": "Observation:performer"},
        )
    ids = [r["id"] for r in found]
    assert ids == ["o1", "o2", "dr1", "o3", "o4", "o5", "o6"]  # include kept once
    assert seen[1:] == [
        f"{BASE}/Observation?page=2",
        f"{BASE}/Observation?page=3",
        f"{BASE}/Observation?page=4",
    ]


async def test_page_loop_is_detected() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        page = request.url.params.get("page", "1")
        nxt = {"1": "Observation?page=2", "2": "Observation?page=3", "3": "Observation?page=2"}[
            page
        ]
        return respond(200, bundle([obs(f"o{page}")], nxt))

    client, _ = make_client(handler)
    async with client:
        with pytest.raises(
            PagingLoop, match=r"page=2 repeats a page already fetched \(after 3 pages\)"
        ):
            await client.search("Observation", {"patient": "p1"})


async def test_max_pages_stops_an_endless_search() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params.get("page", "1"))
        return respond(200, bundle([obs(f"o{page}")], f"Observation?page={page + 1}"))

    client, _ = make_client(handler, max_pages=5)
    async with client:
        with pytest.raises(SourceError, match=r"limits.max_pages=5.*incomplete"):
            await client.search("Observation")


async def test_next_link_on_another_origin_is_rewritten_onto_the_base() -> None:
    hosts: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        hosts.append(request.url.host)
        if "page" not in request.url.params:
            return respond(200, bundle([obs("o1")], "http://internal:8080/fhir/Observation?page=2"))
        return respond(200, bundle([obs("o2")]))

    client, _ = make_client(handler)
    async with client:
        assert len(await client.search("Observation")) == 2
    assert hosts == ["fhir.test", "fhir.test"]


async def test_unsupported_parameter_raises_unsupported_search() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return respond(400, outcome("Unknown search parameter 'colour'", "not-supported"))

    client, _ = make_client(handler)
    async with client:
        with pytest.raises(UnsupportedSearch, match="Unknown search parameter 'colour'"):
            await client.search("Observation", {"colour": "red"})


async def test_lenient_server_ignoring_a_parameter_raises_unsupported_search() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        result = bundle([obs("o1")])
        warning = outcome(
            "Unknown search parameter 'colour'; parameter ignored", "not-supported", "warning"
        )
        result["entry"].append({"resource": warning, "search": {"mode": "outcome"}})
        return respond(200, result)

    client, _ = make_client(handler)
    async with client:
        with pytest.raises(UnsupportedSearch, match=r"only partly honoured.*colour"):
            await client.search("Observation", {"colour": "red"})


# --------------------------------------------------------------------------- retries


async def test_retries_429_with_retry_after_then_503_then_succeeds() -> None:
    attempts = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            return respond(429, outcome("slow down"), {"Retry-After": "2"})
        if attempts == 2:
            return respond(503, outcome("maintenance"))
        return respond(200, obs("o1"))

    client, sleep = make_client(handler)
    async with client:
        assert (await client.read("Observation/o1"))["id"] == "o1"
    assert attempts == 3
    assert sleep.sleeps == [2.0, 1.0]  # Retry-After, then backoff 0.5 * 2**1


async def test_retry_after_http_date_and_cap() -> None:
    now = 1_700_000_000.0
    answers = [
        respond(503, None, {"Retry-After": email.utils.formatdate(now + 7, usegmt=True)}),
        respond(429, None, {"Retry-After": "3600"}),  # capped by backoff_max_s
        respond(200, obs("o1")),
    ]
    client, sleep = make_client(lambda r: answers.pop(0), clock=lambda: now, backoff_max_s=10.0)
    async with client:
        await client.read("Observation/o1")
    assert sleep.sleeps == [pytest.approx(7.0), 10.0]


async def test_persistent_429_raises_rate_limited_with_status_and_outcome() -> None:
    attempts = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal attempts
        attempts += 1
        return respond(429, outcome("quota of 10 requests/s exceeded"))

    client, sleep = make_client(handler, max_retries=3)
    async with client:
        with pytest.raises(FhirRateLimited) as info:
            await client.read("Observation/o1")
    assert attempts == 4
    assert sleep.sleeps == [0.5, 1.0, 2.0]
    assert info.value.status == 429
    assert info.value.outcome is not None
    assert "HTTP 429" in str(info.value)
    assert "quota of 10 requests/s exceeded" in str(info.value)
    assert "max_concurrency" in str(info.value)


async def test_persistent_503_raises_server_error() -> None:
    client, sleep = make_client(lambda r: respond(503, outcome("database down")), max_retries=2)
    async with client:
        with pytest.raises(FhirServerError, match=r"HTTP 503.*database down") as info:
            await client.search("Observation")
    assert info.value.status == 503
    assert len(sleep.sleeps) == 2


async def test_500_is_not_retried() -> None:
    attempts = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal attempts
        attempts += 1
        return httpx.Response(500, text="NullPointerException")

    client, sleep = make_client(handler)
    async with client:
        with pytest.raises(FhirServerError, match="NullPointerException"):
            await client.read("Observation/o1")
    assert attempts == 1
    assert sleep.sleeps == []


@pytest.mark.parametrize(
    ("status", "error", "text"),
    [
        (401, FhirAuthError, "HTTP 401"),
        (403, FhirAuthError, "HTTP 403"),
        (404, ResourceNotFound, "Observation/o1 was not found"),
        (410, ResourceGone, "Observation/o1 was deleted"),
        (418, FhirHttpError, "HTTP 418"),
    ],
)
async def test_status_mapping(status: int, error: type[Exception], text: str) -> None:
    client, sleep = make_client(lambda r: respond(status, outcome("the reason")))
    async with client:
        with pytest.raises(error, match=text) as info:
            await client.read("Observation/o1")
    assert "the reason" in str(info.value)
    assert sleep.sleeps == []
    if isinstance(info.value, FhirHttpError):
        assert info.value.status == status
        assert info.value.outcome == outcome("the reason")


async def test_connect_error_is_unreachable_without_retries() -> None:
    attempts = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal attempts
        attempts += 1
        raise httpx.ConnectError("Connection refused", request=request)

    client, sleep = make_client(handler)
    async with client:
        with pytest.raises(
            FhirUnreachable, match=r"Cannot reach the FHIR server at .*Connection refused"
        ):
            await client.read("Patient/p1")
    assert attempts == 1
    assert sleep.sleeps == []


async def test_really_unreachable_port() -> None:
    with socket.socket() as sock:  # a loopback port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = FhirClient(FhirServerConfig(base_url=f"http://127.0.0.1:{port}/fhir"))
    async with client:
        with pytest.raises(FhirUnreachable, match=f"127.0.0.1:{port}"):
            await client.read("Patient/p1")


async def test_timeouts_are_retried_then_raise_fhir_timeout() -> None:
    attempts = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal attempts
        attempts += 1
        raise httpx.ReadTimeout("timed out", request=request)

    client, sleep = make_client(handler, max_retries=2, timeout_s=3.0)
    async with client:
        with pytest.raises(FhirTimeout, match=r"within 3 s \(3 attempt\(s\)\)"):
            await client.read("Patient/p1")
    assert attempts == 3
    assert sleep.sleeps == [0.5, 1.0]


async def test_connection_reset_is_retried() -> None:
    answers: list[Any] = [httpx.ReadError("Connection reset by peer"), respond(200, obs("o1"))]

    def handler(request: httpx.Request) -> httpx.Response:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    client, sleep = make_client(handler)
    async with client:
        assert (await client.read("Observation/o1"))["id"] == "o1"
    assert sleep.sleeps == [0.5]


# --------------------------------------------------------------------------- everything


def capability(types: dict[str, list[str] | None], everything: bool = False) -> dict[str, Any]:
    resources = []
    for rtype, params in types.items():
        res: dict[str, Any] = {"type": rtype}
        if params is not None:
            res["searchParam"] = [{"name": p, "type": "reference"} for p in params]
        if rtype == "Patient" and everything:
            res["operation"] = [
                {
                    "name": "everything",
                    "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything",
                }
            ]
        resources.append(res)
    return {
        "resourceType": "CapabilityStatement",
        "fhirVersion": "4.0.1",
        "rest": [{"mode": "server", "resource": resources}],
    }


class MiniServer:
    """A scripted FHIR server over a list of resources.

    ``indexed``: resource type -> the reference search parameters it honours (others are
    unknown: 400 with ``Prefer: handling=strict``, silently ignored without it).
    ``everything``: whether ``Patient/{id}/$everything`` exists; it returns every
    resource referencing the patient *through an indexed parameter*, plus the
    practitioners they reference (like sekmet) and, with ``leak``, one resource of
    another patient.
    """

    def __init__(
        self,
        resources: list[dict[str, Any]],
        indexed: dict[str, list[str]],
        *,
        everything: bool = False,
        declare: bool = True,
        leak: dict[str, Any] | None = None,
        delay: float = 0.0,
        unknown_types: frozenset[str] = frozenset(),
        forbidden_types: frozenset[str] = frozenset(),
    ) -> None:
        self.unknown_types = unknown_types
        self.forbidden_types = forbidden_types
        self.resources = resources
        self.indexed = indexed
        self.everything = everything
        self.declare = declare
        self.leak = leak
        self.delay = delay
        self.requests: list[httpx.Request] = []
        self.in_flight = 0
        self.max_in_flight = 0

    def statement(self) -> dict[str, Any]:
        types: dict[str, list[str] | None] = {t: p for t, p in self.indexed.items()}
        types.setdefault("Patient", [])
        return capability(types, self.everything)

    def _refs(self, resource: dict[str, Any], param: str) -> set[str]:
        paths = ("patient", "subject") if param == "patient" else (param,)
        values: list[Any] = []
        for path in paths:
            value = resource.get(path)
            values += value if isinstance(value, list) else [value]
        return {v["reference"] for v in values if isinstance(v, dict) and "reference" in v}

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            return self.answer(request)
        finally:
            self.in_flight -= 1

    def answer(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/fhir/")
        if path == "metadata":
            if not self.declare:
                return respond(404, outcome("no metadata here"))
            return respond(200, self.statement())
        if m := re.fullmatch(r"Patient/([^/]+)/\$everything", path):
            if not self.everything:
                return respond(
                    404, outcome("Operation $everything is not supported", "not-supported")
                )
            return self.everything_of(m[1])
        if m := re.fullmatch(r"([A-Za-z]+)/([^/]+)", path):
            for r in self.resources:
                if r["resourceType"] == m[1] and r["id"] == m[2]:
                    return respond(200, r)
            return respond(404, outcome(f"{path} not found", "not-found"))
        if re.fullmatch(r"[A-Za-z]+", path):
            return self.search(path, request)
        return respond(400, outcome(f"unsupported request {path}"))

    def everything_of(self, pid: str) -> httpx.Response:
        if not any(r["resourceType"] == "Patient" and r["id"] == pid for r in self.resources):
            return respond(404, outcome(f"Patient/{pid} not found", "not-found"))
        found = [r for r in self.resources if r["resourceType"] == "Patient" and r["id"] == pid]
        for r in self.resources:
            params = self.indexed.get(r["resourceType"], [])
            if any(f"Patient/{pid}" in self._refs(r, p) for p in params):
                found.append(r)
        practitioners = {ref for r in found for ref in self._refs(r, "performer")}
        found += [r for r in self.resources if f"{r['resourceType']}/{r['id']}" in practitioners]
        if self.leak:
            found.append(self.leak)
        return respond(200, bundle(found))

    def search(self, rtype: str, request: httpx.Request) -> httpx.Response:
        if rtype in self.unknown_types:
            return respond(404, outcome(f"Unknown resource type '{rtype}'", "not-supported"))
        if rtype in self.forbidden_types:
            return respond(403, outcome(f"scope does not permit {rtype}", "forbidden"))
        strict = request.headers.get("Prefer") == "handling=strict"
        matches = [r for r in self.resources if r["resourceType"] == rtype]
        for name, value in request.url.params.multi_items():
            if name == "_count":
                continue
            if name == "_id":
                matches = [r for r in matches if r["id"] == value]
                continue
            if name not in self.indexed.get(rtype, []):
                if strict:
                    return respond(
                        400, outcome(f"Unknown search parameter '{name}'", "not-supported")
                    )
                continue  # silently ignored: every resource of the type matches
            ref = value if "/" in value else f"Patient/{value}"
            matches = [r for r in matches if ref in self._refs(r, name)]
        return respond(200, bundle(matches))


def record() -> list[dict[str, Any]]:
    """Two patients; p1 has Observations, a Condition, a Goal and a CareTeam."""

    def ref(pid: str) -> dict[str, str]:
        return {"reference": f"Patient/{pid}"}

    return [
        {"resourceType": "Patient", "id": "p1"},
        {"resourceType": "Patient", "id": "p2"},
        {"resourceType": "Practitioner", "id": "dr1"},
        {**obs("o1", "p1"), "performer": [{"reference": "Practitioner/dr1"}]},
        obs("o2", "p1"),
        obs("o3", "p2"),
        {"resourceType": "Condition", "id": "c1", "subject": ref("p1")},
        {"resourceType": "Condition", "id": "c2", "subject": ref("p2")},
        {"resourceType": "Goal", "id": "g1", "subject": ref("p1")},
        {"resourceType": "Goal", "id": "g2", "subject": ref("p2")},
        {"resourceType": "CareTeam", "id": "ct1", "subject": ref("p1")},
        {"resourceType": "CareTeam", "id": "ct2", "subject": ref("p2")},
        {"resourceType": "Coverage", "id": "cov1", "beneficiary": ref("p1")},
    ]


P1_RECORD = {
    ("Patient", "p1"),
    ("Observation", "o1"),
    ("Observation", "o2"),
    ("Condition", "c1"),
    ("Goal", "g1"),
    ("CareTeam", "ct1"),
    ("Coverage", "cov1"),
}

# Like sekmet: Goal and CareTeam are not indexed (and not declared); Condition only by subject.
SEKMET_LIKE = {
    "Observation": ["patient", "subject"],
    "Condition": ["subject"],
    "Coverage": ["beneficiary"],
}


def keys(resources: list[dict[str, Any]]) -> set[tuple[str, str]]:
    return {(r["resourceType"], r["id"]) for r in resources}


def searched(server: MiniServer) -> list[str]:
    return [
        f"{r.url.path.removeprefix('/fhir/')}?{'&'.join(f'{k}={v}' for k, v in r.url.params.multi_items() if k != '_count')}"
        for r in server.requests
        if re.fullmatch(r"/fhir/[A-Za-z]+", r.url.path) and r.url.path != "/fhir/metadata"
    ]


async def test_everything_without_operation_uses_per_type_searches() -> None:
    server = MiniServer(record(), SEKMET_LIKE, everything=False)
    client, _ = make_client(server)
    async with client:
        result = await client.fetch_everything("p1")
    assert result.strategy == "per-type"
    assert keys(result.resources) == P1_RECORD
    assert result.resources[0] == {"resourceType": "Patient", "id": "p1"}
    assert not any("$everything" in r.url.path for r in server.requests)
    calls = searched(server)
    assert "Observation?patient=p1" in calls
    assert "Condition?subject=Patient/p1" in calls  # patient not declared: subject used
    assert "Coverage?beneficiary=Patient/p1" in calls
    assert "Goal?" in calls  # undeclared types: fetched and filtered
    assert "CareTeam?" in calls
    assert set(result.scanned_types) >= {"Goal", "CareTeam"}
    assert result.dropped_foreign == 2  # g2, ct2
    assert all(
        r.headers.get("Prefer") == "handling=strict" for r in server.requests if "?" in str(r.url)
    )


async def test_everything_operation_is_used_and_gaps_filled() -> None:
    server = MiniServer(record(), SEKMET_LIKE, everything=True)
    client, _ = make_client(server)
    async with client:
        result = await client.fetch_everything("p1")
    assert result.strategy == "everything"
    assert keys(result.resources) == P1_RECORD  # Goal/CareTeam filled in, Practitioner dropped
    assert {"Goal", "CareTeam"} <= set(result.gap_types)
    assert "Observation" not in result.gap_types
    assert result.dropped_unrelated == 1  # the Practitioner $everything adds
    assert not any(c.startswith("Observation?") for c in searched(server))


async def test_scope_filter_drops_a_foreign_patients_resource_from_everything() -> None:
    server = MiniServer(record(), SEKMET_LIKE, everything=True, leak=obs("o3", "p2"))
    client, _ = make_client(server)
    async with client:
        result = await client.fetch_everything("p1")
    assert ("Observation", "o3") not in keys(result.resources)
    assert keys(result.resources) == P1_RECORD
    assert result.dropped_foreign >= 1


async def test_lenient_server_ignoring_patient_parameter_is_filtered() -> None:
    # No CapabilityStatement, nothing strict: every search answers every resource of its type.
    server = MiniServer(record(), {}, declare=False)

    async def lenient(request: httpx.Request) -> httpx.Response:
        stripped = request.headers.copy()
        stripped.pop("Prefer", None)
        return await server(httpx.Request(request.method, request.url, headers=stripped))

    client, _ = make_client(lenient)
    async with client:
        result = await client.fetch_everything("p1")
    assert keys(result.resources) == P1_RECORD
    assert result.dropped_foreign == 4  # o3, c2, g2, ct2: the server ignored `patient`
    assert ("Observation", "o3") not in keys(result.resources)


async def test_strict_rejection_falls_back_from_patient_to_subject() -> None:
    server = MiniServer(record(), {"Observation": ["subject"]}, declare=False)
    client, _ = make_client(server, strategy="per-type")
    async with client:
        result = await client.fetch_everything("p1")
    assert keys(result.resources) == P1_RECORD
    calls = searched(server)
    assert calls.index("Observation?patient=p1") < calls.index("Observation?subject=Patient/p1")


async def test_unsearchable_unlisted_types_are_skipped_but_forbidden_ones_raise() -> None:
    server = MiniServer(record(), SEKMET_LIKE, unknown_types=frozenset({"Goal", "Media"}))
    client, _ = make_client(server, strategy="per-type")
    async with client:
        result = await client.fetch_everything("p1")
    assert set(result.skipped_types) == {"Goal", "Media"}
    assert keys(result.resources) == P1_RECORD - {("Goal", "g1")}

    server = MiniServer(record(), SEKMET_LIKE, forbidden_types=frozenset({"Observation"}))
    client, _ = make_client(server, strategy="per-type")
    async with client:
        with pytest.raises(FhirAuthError, match=r"HTTP 403.*scope does not permit Observation"):
            await client.fetch_everything("p1")


def test_capability_statement_parsing() -> None:
    statement = capability({"Observation": ["patient", "code"], "Goal": None})
    statement["rest"][0]["operation"] = [
        {
            "name": "patient-everything",
            "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything|4.0.1",
        }
    ]
    caps = Capabilities.parse(statement)
    assert caps.known
    assert caps.fhir_version == "4.0.1"
    assert caps.has_patient_everything
    assert caps.declared_params("Observation") == {"patient", "code"}
    assert caps.declared_params("Goal") is None
    assert caps.lists_type("Goal") is True
    assert caps.lists_type("CareTeam") is False
    assert patient_search_plan("Observation", caps) == ["patient"]
    assert patient_search_plan("Goal", caps) == ["patient", "subject"]  # nothing declared: probe
    assert patient_search_plan("CareTeam", caps) == []  # not listed: fetch and filter
    assert patient_search_plan("Coverage", Capabilities.unknown()) == ["beneficiary"]
    assert patient_search_plan("Condition", Capabilities.unknown()) == ["patient", "subject"]
    assert not Capabilities.parse(capability({"Patient": []})).has_patient_everything


@pytest.mark.parametrize("everything", [True, False])
async def test_unknown_patient_raises_patient_not_found(everything: bool) -> None:
    client, _ = make_client(MiniServer(record(), SEKMET_LIKE, everything=everything))
    async with client:
        with pytest.raises(PatientNotFound, match="Patient/nobody was not found"):
            await client.everything("nobody")
        with pytest.raises(PatientNotFound):
            await client.everything("../metadata")  # not an id: no request


async def test_missing_operation_despite_declaration_falls_back() -> None:
    server = MiniServer(record(), SEKMET_LIKE, everything=False)
    client, _ = make_client(server, strategy="everything")  # forced, but the server 404s it
    async with client:
        result = await client.fetch_everything("p1")
    assert result.strategy == "per-type"
    assert keys(result.resources) == P1_RECORD


async def test_capabilities_are_fetched_once() -> None:
    server = MiniServer(record(), SEKMET_LIKE, everything=True)
    client, _ = make_client(server)
    async with client:
        await asyncio.gather(
            client.everything("p1"), client.everything("p2"), client.everything("p1")
        )
    assert sum(1 for r in server.requests if r.url.path == "/fhir/metadata") == 1


async def test_concurrency_bound_is_respected() -> None:
    server = MiniServer(record(), SEKMET_LIKE, delay=0.01)
    client, _ = make_client(server, strategy="per-type", max_concurrency=3)
    async with client:
        result = await client.fetch_everything("p1")
    assert keys(result.resources) == P1_RECORD
    assert len(server.requests) >= len(PATIENT_SEARCH_PARAM)
    assert server.max_in_flight == 3  # concurrent, and never more than the bound


async def test_patients_lists_rows() -> None:
    patients = [
        {
            "resourceType": "Patient",
            "id": "p1",
            "name": [{"use": "official", "given": ["Ana", "B."], "family": "Diaz"}],
            "birthDate": "1970-02-03",
            "gender": "female",
            "deceasedDateTime": "2020-01-01",
        },
        {"resourceType": "Patient", "id": "p2", "name": [{"text": "Bo Ek"}]},
    ]
    client, _ = make_client(lambda r: respond(200, bundle(patients)))
    async with client:
        rows = await client.patients()
    assert [r.as_dict() for r in rows] == [
        {
            "id": "p1",
            "name": "Ana B. Diaz",
            "birth_date": "1970-02-03",
            "gender": "female",
            "deceased": True,
            "resource_count": None,
        },
        {
            "id": "p2",
            "name": "Bo Ek",
            "birth_date": None,
            "gender": None,
            "deceased": False,
            "resource_count": None,
        },
    ]

"""ServerTerminology against a scripted loopback FHIR terminology server.

No real terminology server (Snowstorm, Ontoserver, HAPI) can run here, so
:class:`FakeTerminologyServer` — a fake, named as such — is a small ``http.server`` on
127.0.0.1 that speaks the three operations the client uses (``CodeSystem/$lookup``,
``CodeSystem/$subsumes``, ``ConceptMap/$translate``) with FHIR R4 ``Parameters``
bodies, over a six-concept SNOMED CT hierarchy. The client under test is the real one,
over real HTTP.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from tools.config import TerminologyConfig
from tools.errors import TerminologyServerError
from tools.terminology import SNOMED, Code, ServerTerminology, Terminology, default_terminology

# child -> parent (SNOMED CT codes; the first two are made up, unknown to the local data)
PARENT = {
    "9990001": "44054006",  # "Type 2 diabetes mellitus with gastroparesis" -> T2DM
    "9990002": "38341003",  # "Renovascular hypertension variant" -> hypertension
    "44054006": "73211009",
    "38341003": "64572001",
    "73211009": "64572001",
}
DISPLAY = {
    "9990001": "Type 2 diabetes mellitus with gastroparesis (disorder)",
    "9990002": "Secondary hypertension variant (disorder)",
    "44054006": "Diabetes mellitus type 2 (disorder)",
    "38341003": "Hypertensive disorder, systemic arterial (disorder)",
    "73211009": "Diabetes mellitus (disorder)",
    "64572001": "Disease (disorder)",
}
TRANSLATE = {("urn:local:dx", "DX42"): ("9990002", "equivalent")}


def _ancestors(code: str) -> list[str]:
    out = []
    while code in PARENT:
        code = PARENT[code]
        out.append(code)
    return out


class FakeTerminologyServer:
    """A scripted FHIR terminology server on loopback (a fake: see the module docstring)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], str | None]] = []
        self.mode = "ok"  # "ok" | "slow" | "error" | "garbage"
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                url = urlparse(self.path)
                q = {k: v[0] for k, v in parse_qs(url.query).items()}
                fake.requests.append((url.path, q, self.headers.get("Authorization")))
                if fake.mode == "slow":
                    time.sleep(1.0)
                if fake.mode == "error":
                    return self._send(500, {"resourceType": "OperationOutcome", "issue": [
                        {"severity": "error", "code": "exception", "diagnostics": "index offline"}]})  # fmt: skip
                if fake.mode == "garbage":
                    return self._send(200, {"resourceType": "Bundle"})
                if url.path.endswith("/CodeSystem/$lookup"):
                    return self._lookup(q)
                if url.path.endswith("/CodeSystem/$subsumes"):
                    return self._subsumes(q)
                if url.path.endswith("/ConceptMap/$translate"):
                    return self._translate(q)
                return self._send(404, {"resourceType": "OperationOutcome", "issue": []})

            def _lookup(self, q: dict[str, str]) -> None:
                code = q.get("code", "")
                if q.get("system") != SNOMED or code not in DISPLAY:
                    return self._send(404, {"resourceType": "OperationOutcome", "issue": [
                        {"severity": "error", "code": "not-found", "diagnostics": "unknown code"}]})  # fmt: skip
                params: list[dict[str, Any]] = [
                    {"name": "name", "valueString": "SNOMED CT"},
                    {"name": "display", "valueString": DISPLAY[code]},
                ]
                if code in PARENT:
                    params.append({"name": "property", "part": [
                        {"name": "code", "valueCode": "parent"},
                        {"name": "value", "valueCode": PARENT[code]}]})  # fmt: skip
                self._send(200, {"resourceType": "Parameters", "parameter": params})

            def _subsumes(self, q: dict[str, str]) -> None:
                a, b = q["codeA"], q["codeB"]
                if a == b:
                    outcome = "equivalent"
                elif a in _ancestors(b):
                    outcome = "subsumes"
                elif b in _ancestors(a):
                    outcome = "subsumed-by"
                else:
                    outcome = "not-subsumed"
                self._send(200, {"resourceType": "Parameters",
                                 "parameter": [{"name": "outcome", "valueCode": outcome}]})  # fmt: skip

            def _translate(self, q: dict[str, str]) -> None:
                hit = TRANSLATE.get((q.get("system", ""), q.get("code", "")))
                params: list[dict[str, Any]] = [{"name": "result", "valueBoolean": bool(hit)}]
                if hit and q.get("targetsystem") == SNOMED:
                    params.append({"name": "match", "part": [
                        {"name": "equivalence", "valueCode": hit[1]},
                        {"name": "concept", "valueCoding": {"system": SNOMED, "code": hit[0]}}]})  # fmt: skip
                self._send(200, {"resourceType": "Parameters", "parameter": params})

            def _send(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/fhir+json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/fhir"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FakeTerminologyServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


@pytest.fixture
def fake() -> Iterator[FakeTerminologyServer]:
    with FakeTerminologyServer() as server:
        yield server


def test_server_terminology_implements_the_protocol(fake: FakeTerminologyServer) -> None:
    assert isinstance(ServerTerminology(base_url=fake.url), Terminology)


async def test_lookup_subsumes_translate(fake: FakeTerminologyServer) -> None:
    st = ServerTerminology(base_url=fake.url)
    found = await st.lookup(SNOMED, "9990001")
    assert found is not None
    assert found.display.startswith("Type 2 diabetes mellitus with gastroparesis")
    assert found.parents == ("44054006",)
    assert await st.lookup(SNOMED, "123") is None  # 404: the server does not know it
    assert await st.subsumes(SNOMED, "73211009", "9990001") == "subsumes"
    assert await st.subsumes(SNOMED, "9990001", "73211009") == "subsumed-by"
    assert await st.subsumes(SNOMED, "38341003", "9990001") == "not-subsumed"
    assert await st.translate("urn:local:dx", "DX42", SNOMED) == (Code(SNOMED, "9990002"),)
    assert await st.translate("urn:local:dx", "nope", SNOMED) == ()


async def test_prepare_then_sync_answers(fake: FakeTerminologyServer) -> None:
    local = default_terminology()
    st = ServerTerminology(local, fake.url)
    diabetes, hypertension = local.concept("diabetes_mellitus"), local.concept("hypertension")
    assert diabetes is not None
    assert hypertension is not None
    unknown = Code(SNOMED, "9990001")
    # before prepare: the local data knows nothing of the code, and says so
    assert st.concepts_of(SNOMED, "9990001") == ()
    await st.prepare([unknown, Code(SNOMED, "44054006")], [diabetes, hypertension])
    paths = [p for p, _, _ in fake.requests]
    assert paths.count("/fhir/CodeSystem/$lookup") == 1  # the known code is not looked up
    found = st.concepts_of(SNOMED, "9990001")
    ids = [c.id for c in found]
    assert "diabetes_type2" in ids  # from the server's display
    stub = next(c for c in found if c.sources == ("server",))
    assert st.implies(stub, diabetes) is True  # $subsumes
    assert st.implies(stub, hypertension) is False
    assert st.implies(local.concept("essential_hypertension"), hypertension) is True  # type: ignore[arg-type]
    # a second prepare is answered from the cache
    before = len(fake.requests)
    await st.prepare([unknown], [diabetes, hypertension])
    assert len(fake.requests) == before


async def test_translate_to_a_locally_known_code(fake: FakeTerminologyServer) -> None:
    local = default_terminology()
    st = ServerTerminology(local, fake.url)
    hypertension = local.concept("hypertension")
    assert hypertension is not None
    await st.prepare([Code("urn:local:dx", "DX42")], [hypertension])
    # urn:local:dx is not a system the server is asked about by default
    assert fake.requests == []
    st2 = ServerTerminology(local, fake.url, systems=("urn:local:dx",))
    await st2.prepare([Code("urn:local:dx", "DX42")], [hypertension])
    found = st2.concepts_of("urn:local:dx", "DX42", kinds={"condition"})
    assert any(st2.implies(c, hypertension) for c in found)


async def test_server_down_is_a_clear_error_and_unknown_stays_unknown() -> None:
    with FakeTerminologyServer() as server:
        url = server.url
    st = ServerTerminology(base_url=url, timeout_s=2)
    with pytest.raises(TerminologyServerError, match="cannot reach") as info:
        await st.lookup(SNOMED, "9990001")
    assert info.value.url.startswith(url)
    assert info.value.status is None
    diabetes = default_terminology().concept("diabetes_mellitus")
    assert diabetes is not None
    await st.prepare([Code(SNOMED, "9990001")], [diabetes])  # keeps going, keeps the error
    assert len(st.errors) == 1
    with pytest.raises(TerminologyServerError):
        await st.prepare([Code(SNOMED, "9990003")], [diabetes], strict=True)
    # nothing was learnt: the code stays unknown, and relations to it undecided
    assert st.concepts_of(SNOMED, "9990001") == ()
    stranger = default_terminology().concept("hypertension")
    assert stranger is not None


async def test_timeout(fake: FakeTerminologyServer) -> None:
    fake.mode = "slow"
    st = ServerTerminology(base_url=fake.url, timeout_s=0.2)
    with pytest.raises(TerminologyServerError, match=r"no answer within 0.2 s"):
        await st.lookup(SNOMED, "9990001")


async def test_http_error_carries_the_operation_outcome(fake: FakeTerminologyServer) -> None:
    fake.mode = "error"
    st = ServerTerminology(base_url=fake.url)
    with pytest.raises(TerminologyServerError, match="index offline") as info:
        await st.subsumes(SNOMED, "73211009", "9990001")
    assert info.value.status == 500


async def test_an_answer_that_is_not_parameters(fake: FakeTerminologyServer) -> None:
    fake.mode = "garbage"
    st = ServerTerminology(base_url=fake.url)
    with pytest.raises(TerminologyServerError, match="expected a FHIR Parameters"):
        await st.lookup(SNOMED, "9990001")


async def test_bounded_concurrency_and_cache_size(fake: FakeTerminologyServer) -> None:
    st = ServerTerminology(base_url=fake.url, max_concurrency=2, cache_size=2)
    codes = [Code(SNOMED, c) for c in ("9990001", "9990002", "1", "2", "3")]
    await st.prepare(codes)
    assert st.requests == 5
    assert len(st._lookups) == 2  # least recently used answers were evicted


async def test_from_config_with_bearer_auth(fake: FakeTerminologyServer) -> None:
    cfg = TerminologyConfig.model_validate(
        {"server_url": fake.url, "auth": {"kind": "bearer", "token": "s3cret"}, "timeout_s": 3}
    )
    st = ServerTerminology.from_config(cfg)
    await st.lookup(SNOMED, "9990001")
    assert fake.requests[-1][2] == "Bearer s3cret"


def test_config_validation() -> None:
    assert TerminologyConfig().server_url is None
    with pytest.raises(ValueError, match="http"):
        TerminologyConfig(server_url="ftp://tx.example.org")
    with pytest.raises(ValueError, match="server_url is not set"):
        ServerTerminology.from_config(TerminologyConfig())

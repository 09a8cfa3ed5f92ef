"""SMART Backend Services auth: the signed assertion, token caching and refresh, errors;
against a scripted token endpoint and against a real one (sekmet-fhir)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import jwt
import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.sekmet import SekmetServer, running_sekmet
from tools.config import FhirServerConfig, Limits, SmartBackendAuth
from tools.errors import ConfigError, FhirAuthError, TokenError
from tools.fhir import FhirClient, SmartBackendServicesAuth

BASE = "http://fhir.test/fhir"
TOKEN_URL = "http://auth.test/oauth/token"
CLIENT_ID = "assistant-client"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP384R1())


def write_key(key: PrivateKey, path: Path) -> Path:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


def write_public_key(key: PrivateKey, path: Path) -> Path:
    path.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return path


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


class AuthServer:
    """SMART discovery + token endpoint + a FHIR read that checks the bearer token."""

    def __init__(self, key: PrivateKey, algorithm: str, *, expires_in: int = 300) -> None:
        self.public_key = key.public_key()
        self.algorithm = algorithm
        self.expires_in = expires_in
        self.discoveries = 0
        self.token_forms: list[dict[str, str]] = []
        self.assertions: list[tuple[dict[str, Any], dict[str, Any]]] = []  # (header, claims)
        self.valid: set[str] = set()
        self.fhir_calls: list[str | None] = []  # the Authorization header of each FHIR call
        self.token_answer: httpx.Response | None = None
        self.discovery_answer: httpx.Response | None = None
        self.revoke_after_use = False

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0)  # let concurrent requests interleave
        if request.url.path == "/fhir/.well-known/smart-configuration":
            self.discoveries += 1
            if self.discovery_answer is not None:
                return self.discovery_answer
            return httpx.Response(
                200,
                json={"token_endpoint": TOKEN_URL, "grant_types_supported": ["client_credentials"]},
            )
        if str(request.url) == TOKEN_URL:
            return self.token(request)
        if request.url.path == "/fhir/Patient/p1":
            header = request.headers.get("Authorization")
            self.fhir_calls.append(header)
            token = (header or "").removeprefix("Bearer ")
            if token not in self.valid:
                return httpx.Response(401, json={"resourceType": "OperationOutcome", "issue": []})
            if self.revoke_after_use:
                self.valid.discard(token)
            return httpx.Response(
                200, content=orjson.dumps({"resourceType": "Patient", "id": "p1"})
            )
        return httpx.Response(404)

    def token(self, request: httpx.Request) -> httpx.Response:
        assert request.method == "POST"
        assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
        form = dict(parse_qsl(request.content.decode()))
        self.token_forms.append(form)
        assertion = form["client_assertion"]
        header = jwt.get_unverified_header(assertion)
        claims = jwt.decode(
            assertion,
            self.public_key,
            algorithms=[self.algorithm],
            audience=TOKEN_URL,
            options={"require": ["iss", "sub", "aud", "exp", "iat", "jti"]},
        )
        self.assertions.append((header, claims))
        if self.token_answer is not None:
            return self.token_answer
        token = f"token-{len(self.token_forms)}"
        self.valid.add(token)
        return httpx.Response(
            200, json={"access_token": token, "token_type": "Bearer", "expires_in": self.expires_in}
        )


def smart_config(key_path: Path, algorithm: str = "RS384", **extra: Any) -> FhirServerConfig:
    auth = SmartBackendAuth(
        client_id=CLIENT_ID,
        private_key_path=key_path,
        key_id="key-1",
        algorithm=algorithm,
        scope="system/Patient.rs system/Observation.rs",
        **extra,
    )
    return FhirServerConfig(base_url=BASE, auth=auth, limits=Limits(max_retries=0))


def client_for(
    config: FhirServerConfig, server: AuthServer, clock: Clock | None = None
) -> FhirClient:
    return FhirClient(config, transport=httpx.MockTransport(server), clock=clock or Clock())


# --------------------------------------------------------------------------- the assertion


@pytest.mark.parametrize("algorithm", ["RS384", "ES384"])
async def test_assertion_is_signed_with_the_right_claims_and_headers(
    algorithm: str, rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey, tmp_path: Path
) -> None:
    key: PrivateKey = rsa_key if algorithm == "RS384" else ec_key
    server = AuthServer(key, algorithm)
    client = client_for(smart_config(write_key(key, tmp_path / "key.pem"), algorithm), server)
    async with client:
        assert (await client.read("Patient/p1"))["id"] == "p1"
        assert (await client.read("Patient/p1"))["id"] == "p1"
    assert server.discoveries == 1
    assert len(server.token_forms) == 1
    form = server.token_forms[0]
    assert form["grant_type"] == "client_credentials"
    assert form["client_assertion_type"] == ASSERTION_TYPE
    assert form["scope"] == "system/Patient.rs system/Observation.rs"
    header, claims = server.assertions[0]  # signature and aud verified by the server
    assert header == {"alg": algorithm, "kid": "key-1", "typ": "JWT"}
    assert claims["iss"] == claims["sub"] == CLIENT_ID
    assert claims["aud"] == TOKEN_URL
    now = time.time()
    assert now < claims["exp"] <= now + 300
    assert claims["iat"] <= now + 1
    assert len(claims["jti"]) >= 16
    assert server.fhir_calls == ["Bearer token-1", "Bearer token-1"]


async def test_one_token_request_for_many_concurrent_calls(
    rsa_key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    server = AuthServer(rsa_key, "RS384")
    client = client_for(smart_config(write_key(rsa_key, tmp_path / "key.pem")), server)
    async with client:
        results = await asyncio.gather(*(client.read("Patient/p1") for _ in range(20)))
    assert len(results) == 20
    assert server.discoveries == 1
    assert len(server.token_forms) == 1
    assert set(server.fhir_calls) == {"Bearer token-1"}


async def test_token_is_refreshed_before_it_expires(
    rsa_key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    server = AuthServer(rsa_key, "RS384", expires_in=300)
    clock = Clock()
    config = smart_config(write_key(rsa_key, tmp_path / "key.pem"), refresh_margin_s=60)
    async with client_for(config, server, clock) as client:
        await client.read("Patient/p1")
        clock.now += 239  # 61 s before expiry: still good
        await client.read("Patient/p1")
        assert len(server.token_forms) == 1
        clock.now += 2  # 59 s before expiry: inside the margin
        await client.read("Patient/p1")
    assert len(server.token_forms) == 2
    assert server.fhir_calls == ["Bearer token-1", "Bearer token-1", "Bearer token-2"]
    jtis = [claims["jti"] for _, claims in server.assertions]
    assert len(set(jtis)) == 2  # a fresh assertion each time


async def test_a_401_refreshes_the_token_once_and_retries(
    rsa_key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    server = AuthServer(rsa_key, "RS384")
    server.revoke_after_use = True  # each token works once (the server "forgets" it)
    async with client_for(smart_config(write_key(rsa_key, tmp_path / "key.pem")), server) as client:
        await client.read("Patient/p1")
        await client.read("Patient/p1")  # token-1 revoked: 401, refresh, retry with token-2
    assert server.fhir_calls == ["Bearer token-1", "Bearer token-1", "Bearer token-2"]
    assert len(server.token_forms) == 2


async def test_concurrent_401s_share_one_refresh(
    rsa_key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    server = AuthServer(rsa_key, "RS384")
    async with client_for(smart_config(write_key(rsa_key, tmp_path / "key.pem")), server) as client:
        await client.read("Patient/p1")
        server.valid.clear()  # the server restarts and forgets every token
        await asyncio.gather(*(client.read("Patient/p1") for _ in range(10)))
    assert len(server.token_forms) == 2


async def test_persistent_401_raises_auth_error_after_one_refresh(
    rsa_key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    server = AuthServer(rsa_key, "RS384")
    server.token_answer = httpx.Response(200, json={"access_token": "useless", "expires_in": 300})
    async with client_for(smart_config(write_key(rsa_key, tmp_path / "key.pem")), server) as client:
        with pytest.raises(FhirAuthError, match=r"HTTP 401.*SMART Backend Services") as info:
            await client.read("Patient/p1")
    assert info.value.status == 401
    assert len(server.token_forms) == 2
    assert server.fhir_calls == ["Bearer useless", "Bearer useless"]


# --------------------------------------------------------------------------- errors


async def test_refused_token_request_is_a_token_error(
    rsa_key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    server = AuthServer(rsa_key, "RS384")
    server.token_answer = httpx.Response(
        401, json={"error": "invalid_client", "error_description": "no key with kid key-1"}
    )
    async with client_for(smart_config(write_key(rsa_key, tmp_path / "key.pem")), server) as client:
        with pytest.raises(TokenError) as info:
            await client.read("Patient/p1")
    message = str(info.value)
    assert (
        f"SMART token request to {TOKEN_URL} was refused (HTTP 401 invalid_client: no key"
        in message
    )
    assert "`auth.key_id` (key-1)" in message
    assert server.fhir_calls == []


async def test_failed_discovery_is_a_token_error(
    rsa_key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    server = AuthServer(rsa_key, "RS384")
    server.discovery_answer = httpx.Response(404, text="not found")
    async with client_for(smart_config(write_key(rsa_key, tmp_path / "key.pem")), server) as client:
        with pytest.raises(
            TokenError, match=r"smart-configuration returned HTTP 404.*auth.token_url"
        ):
            await client.read("Patient/p1")


async def test_configured_token_url_skips_discovery(
    rsa_key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    server = AuthServer(rsa_key, "RS384")
    config = smart_config(write_key(rsa_key, tmp_path / "key.pem"), token_url=TOKEN_URL)
    async with client_for(config, server) as client:
        await client.read("Patient/p1")
    assert server.discoveries == 0
    assert len(server.token_forms) == 1


@pytest.mark.parametrize(
    ("answer", "text"),
    [
        (httpx.Response(200, json={"token_type": "bearer"}), "without an `access_token`"),
        (httpx.Response(200, text="<html>"), "without an `access_token`"),
        (
            httpx.Response(200, json={"access_token": "x", "token_type": "mac"}),
            "only bearer tokens",
        ),
        (httpx.Response(503, text="down for maintenance"), "HTTP 503 down for maintenance"),
    ],
)
async def test_bad_token_answers_are_token_errors(
    answer: httpx.Response, text: str, rsa_key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    server = AuthServer(rsa_key, "RS384")
    server.token_answer = answer
    async with client_for(smart_config(write_key(rsa_key, tmp_path / "key.pem")), server) as client:
        with pytest.raises(TokenError, match=text):
            await client.read("Patient/p1")


def test_key_problems_are_config_errors(
    rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match=r"not an RSA private key.*RS384"):
        FhirClient(smart_config(write_key(ec_key, tmp_path / "ec.pem"), "RS384"))
    with pytest.raises(ConfigError, match=r"not an EC P-384 private key.*ES384"):
        FhirClient(smart_config(write_key(rsa_key, tmp_path / "rsa.pem"), "ES384"))
    with pytest.raises(ConfigError, match=r"Cannot read the SMART private key .*missing.pem"):
        FhirClient(smart_config(tmp_path / "missing.pem"))
    (tmp_path / "junk.pem").write_text("not a key")
    with pytest.raises(ConfigError, match="not an unencrypted PEM private key"):
        FhirClient(smart_config(tmp_path / "junk.pem"))


def test_sync_use_is_refused(rsa_key: rsa.RSAPrivateKey, tmp_path: Path) -> None:
    config = smart_config(write_key(rsa_key, tmp_path / "key.pem")).auth
    assert isinstance(config, SmartBackendAuth)
    auth = SmartBackendServicesAuth(config, BASE)
    transport = httpx.MockTransport(lambda r: httpx.Response(200))
    with (
        httpx.Client(auth=auth, transport=transport) as sync_client,
        pytest.raises(RuntimeError, match="AsyncClient only"),
    ):
        sync_client.get(f"{BASE}/metadata")


# --------------------------------------------------------------------------- a real server


@pytest.fixture(scope="module")
def smart_sekmet(
    tmp_path_factory: pytest.TempPathFactory,
    rsa_key: rsa.RSAPrivateKey,
    ec_key: ec.EllipticCurvePrivateKey,
) -> Iterator[SekmetServer]:
    """sekmet requiring SMART (or a static bearer token), with both public keys registered."""
    workdir = tmp_path_factory.mktemp("sekmet-smart")
    settings = {
        "server_auth": {
            "types": ["smart", "bearer"],
            "tokens": ["static-token-for-tests"],
            "smart_clients": [
                {
                    "client_id": "assistant-rsa",
                    "public_key_path": str(write_public_key(rsa_key, workdir / "rsa.pub.pem")),
                    "scopes": "system/*.rs",
                },
                {
                    "client_id": "assistant-ec",
                    "public_key_path": str(write_public_key(ec_key, workdir / "ec.pub.pem")),
                    "scopes": "system/*.rs",
                },
            ],
        }
    }
    with running_sekmet(workdir, settings) as server:
        yield server


@pytest.mark.integration
@pytest.mark.parametrize("algorithm", ["RS384", "ES384"])
async def test_smart_against_sekmet(
    algorithm: str,
    smart_sekmet: SekmetServer,
    rsa_key: rsa.RSAPrivateKey,
    ec_key: ec.EllipticCurvePrivateKey,
    tmp_path: Path,
) -> None:
    key: PrivateKey = rsa_key if algorithm == "RS384" else ec_key
    auth = SmartBackendAuth(
        client_id="assistant-rsa" if algorithm == "RS384" else "assistant-ec",
        private_key_path=write_key(key, tmp_path / "key.pem"),
        key_id="k1",
        algorithm=algorithm,
        scope="system/Patient.rs",
    )
    config = FhirServerConfig(base_url=smart_sekmet.base_url, auth=auth)
    async with FhirClient(config) as client:
        # discovery, a signed assertion, a token, then an authorised search
        assert await client.patients() == []
        assert await client.patients() == []
    async with FhirClient(FhirServerConfig(base_url=smart_sekmet.base_url)) as anonymous:
        with pytest.raises(FhirAuthError, match="HTTP 401"):
            await anonymous.patients()


@pytest.mark.integration
async def test_static_bearer_and_refused_client_against_sekmet(
    smart_sekmet: SekmetServer, tmp_path: Path
) -> None:
    async with FhirClient.from_url(smart_sekmet.base_url, token="static-token-for-tests") as client:
        assert await client.patients() == []
    # A key the server does not know for this client. (An ES384 assertion for the RSA
    # client would do too, but sekmet 0.1.1 answers that with a 500: pyjwt's TypeError.)
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    wrong = SmartBackendAuth(
        client_id="assistant-rsa",
        private_key_path=write_key(stranger, tmp_path / "stranger.pem"),
        key_id="k1",
        algorithm="RS384",
    )
    async with FhirClient(FhirServerConfig(base_url=smart_sekmet.base_url, auth=wrong)) as client:
        with pytest.raises(TokenError, match=r"refused \(HTTP 401 invalid_client"):
            await client.patients()

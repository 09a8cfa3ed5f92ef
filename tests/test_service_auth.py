"""Authentication and authorization of the HTTP service: real JWTs signed by a test issuer
(JWKS from a file or a real loopback HTTP server), SMART v2/v1 scopes, the patient claim,
API keys (hashed), and the loopback-only insecure flag."""

from __future__ import annotations

import json
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import jwt
import pytest

from surfaces.service import _auth, create_app, hash_api_key, parse_scopes, verify_api_key
from surfaces.service._serve import serve
from tests.agent_fixtures import ADAN, CLEOTILDE, agent_store  # noqa: F401
from tests.service_fixtures import (
    Issuer,
    api_key,
    deployment,
    jwks_server,
    scripted,
    service_client,
    threads_key_env,  # noqa: F401
)
from tools.errors import ConfigError


def outcome_of(resp: httpx.Response, status: int) -> str:
    assert resp.status_code == status, resp.text[:500]
    body = resp.json()
    assert body["resourceType"] == "OperationOutcome"
    return str(body["issue"][0]["diagnostics"])


@pytest.fixture(scope="module")
def issuer() -> Issuer:
    return Issuer()


@pytest.fixture
def jwks_file(issuer: Issuer, tmp_path: Path) -> Path:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(issuer.jwks()))
    return path


def auth_dep(store: Path, tmp: Path, **auth: Any) -> Any:
    return deployment(store, tmp, service={"auth": auth})


async def test_no_credentials_401_with_www_authenticate(
    agent_store: Path,  # noqa: F811
    tmp_path: Path,
    jwks_file: Path,
    issuer: Issuer,
) -> None:
    dep = auth_dep(
        agent_store,
        tmp_path,
        issuer=issuer.issuer,
        audience=issuer.audience,
        jwks_file=str(jwks_file),
    )
    async with service_client(create_app(dep, model=scripted())) as c:
        resp = await c.get(f"/v1/patients/{CLEOTILDE}/summary")
        assert "No credentials" in outcome_of(resp, 401)
        assert resp.headers["www-authenticate"].startswith("Bearer")
        assert resp.json()["issue"][0]["code"] == "login"
        # liveness needs no credentials
        assert (await c.get("/health")).status_code == 200
        # a credential in another scheme is refused as such
        basic = await c.get("/v1/patients", headers={"Authorization": "Basic YTpi"})
        assert "Bearer" in outcome_of(basic, 401)


async def test_jwt_checks(
    agent_store: Path,  # noqa: F811
    tmp_path: Path,
    jwks_file: Path,
    issuer: Issuer,
) -> None:
    dep = auth_dep(
        agent_store,
        tmp_path,
        issuer=issuer.issuer,
        audience=issuer.audience,
        jwks_file=str(jwks_file),
        leeway_s=5,
    )
    url = f"/v1/patients/{CLEOTILDE}/summary"

    def bearer(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    async with service_client(create_app(dep, model=scripted())) as c:
        ok = await c.get(url, headers=bearer(issuer.token()))
        assert ok.status_code == 200, ok.text
        ec = await c.get(url, headers=bearer(issuer.token(kid="ec-1")))
        assert ec.status_code == 200, ec.text

        expired = issuer.token(expires_in=-60)
        assert "expired" in outcome_of(await c.get(url, headers=bearer(expired)), 401)
        future = issuer.token(nbf=int(time.time()) + 600)
        assert "not valid yet" in outcome_of(await c.get(url, headers=bearer(future)), 401)
        wrong_aud = issuer.token(aud="https://other.invalid")
        assert "not for this service" in outcome_of(
            await c.get(url, headers=bearer(wrong_aud)), 401
        )
        wrong_iss = issuer.token(iss="https://evil.invalid")
        assert "another issuer" in outcome_of(await c.get(url, headers=bearer(wrong_iss)), 401)

        # alg none and HMAC are refused before any key is used
        unsigned = jwt.encode(
            {
                "iss": issuer.issuer,
                "aud": issuer.audience,
                "exp": int(time.time()) + 60,
                "scope": "user/*.rs",
                "sub": "x",
            },
            None,
            algorithm="none",
        )
        assert "never `none`" in outcome_of(await c.get(url, headers=bearer(unsigned)), 401)
        hmac = jwt.encode(
            {
                "iss": issuer.issuer,
                "aud": issuer.audience,
                "exp": int(time.time()) + 60,
                "scope": "user/*.rs",
                "sub": "x",
            },
            "a-shared-secret-of-32-bytes-or-more!!",
            algorithm="HS256",
            headers={"kid": "rsa-1"},
        )
        assert "HS256" in outcome_of(await c.get(url, headers=bearer(hmac)), 401)

        # a valid signature by a key the issuer does not publish
        other = Issuer()
        forged = other.token()
        assert "not valid" in outcome_of(await c.get(url, headers=bearer(forged)), 401)
        tampered = issuer.token()[:-4] + "AAAA"
        outcome_of(await c.get(url, headers=bearer(tampered)), 401)
        outcome_of(await c.get(url, headers=bearer("not-a-token")), 401)


async def test_jwks_uri_is_cached_and_refreshed_on_unknown_kid(
    agent_store: Path,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The cache's clock is stepped by the test, so a slow machine cannot turn a burst
    # into two refresh windows (it once counted 3 fetches where 2 were due).
    now = [1000.0]
    monkeypatch.setattr(_auth, "time", SimpleNamespace(monotonic=lambda: now[0]))
    issuer = Issuer()
    url = f"/v1/patients/{CLEOTILDE}/summary"
    with jwks_server(issuer) as (jwks_uri, fetches):
        dep = auth_dep(
            agent_store,
            tmp_path,
            issuer=issuer.issuer,
            audience=issuer.audience,
            jwks_uri=jwks_uri,
            jwks_min_refresh_s=0.5,
        )
        async with service_client(create_app(dep, model=scripted())) as c:
            for _ in range(3):
                r = await c.get(url, headers={"Authorization": f"Bearer {issuer.token()}"})
                assert r.status_code == 200
            assert len(fetches) == 1  # cached
            now[0] += 0.6
            new_kid = issuer.rotate()  # the issuer publishes a new key and signs with it
            r = await c.get(url, headers={"Authorization": f"Bearer {issuer.token(kid=new_kid)}"})
            assert r.status_code == 200, r.text
            assert len(fetches) == 2  # refreshed once for the unknown kid
            # unknown kids in a burst: at most one refetch per jwks_min_refresh_s
            stranger = Issuer()
            stranger.kids = {"rsa-99": stranger.rsa_key}
            bad = stranger.token(kid="rsa-99")
            for _ in range(5):
                msg = outcome_of(await c.get(url, headers={"Authorization": f"Bearer {bad}"}), 401)
                assert "rsa-99" in msg
                now[0] += 0.09
            assert len(fetches) == 2
            now[0] += 0.1  # the window is over: the next unknown kid may refetch once
            outcome_of(await c.get(url, headers={"Authorization": f"Bearer {bad}"}), 401)
            assert len(fetches) == 3


async def test_scopes_and_patient_claim(
    agent_store: Path,  # noqa: F811
    tmp_path: Path,
    jwks_file: Path,
    issuer: Issuer,
) -> None:
    dep = auth_dep(
        agent_store,
        tmp_path,
        issuer=issuer.issuer,
        audience=issuer.audience,
        jwks_file=str(jwks_file),
    )

    def get(c: httpx.AsyncClient, path: str, **token: Any) -> Any:
        return c.get(path, headers={"Authorization": f"Bearer {issuer.token(**token)}"})

    async with service_client(create_app(dep, model=scripted())) as c:
        cleo = f"/v1/patients/{CLEOTILDE}"
        # SMART v2 patient scope + patient claim: that patient only
        assert (
            await get(c, f"{cleo}/summary", scope="patient/*.rs", patient=CLEOTILDE)
        ).status_code == 200
        msg = outcome_of(
            await get(c, f"/v1/patients/{ADAN}/summary", scope="patient/*.rs", patient=CLEOTILDE),
            403,
        )
        assert f"Patient/{ADAN}" in msg
        # a patient claim binds even with broad user scopes
        outcome_of(
            await get(c, f"/v1/patients/{ADAN}/summary", scope="user/*.rs", patient=CLEOTILDE), 403
        )
        # a patient/ scope without a patient in context grants nothing
        outcome_of(await get(c, f"{cleo}/summary", scope="patient/*.rs"), 403)
        # the patient search is narrowed to the bound patient
        found = (await get(c, "/v1/patients", scope="patient/*.rs", patient=CLEOTILDE)).json()
        assert [p["id"] for p in found["patients"]] == [CLEOTILDE]
        # resource-specific scopes: Observation is enough for trends, not for the summary
        narrow = "user/Patient.rs user/Observation.rs"
        assert (await get(c, f"{cleo}/trends/HbA1c", scope=narrow)).status_code == 200
        msg = outcome_of(await get(c, f"{cleo}/summary", scope=narrow), 403)
        assert "Condition" in msg
        # read without search is not enough for a search
        outcome_of(await get(c, "/v1/patients", scope="user/Patient.r"), 403)
        # SMART v1 read scopes are accepted
        assert (await get(c, f"{cleo}/summary", scope="user/*.read")).status_code == 200
        assert (await get(c, f"{cleo}/summary", scope="system/*.read")).status_code == 200
        # no usable scope at all
        outcome_of(await get(c, f"{cleo}/summary", scope="openid fhirUser"), 403)
        # the audit trail needs an AuditEvent scope at user/system level
        outcome_of(await get(c, "/v1/audit", scope="user/*.rs", patient=CLEOTILDE, sub="p"), 403)
        outcome_of(await get(c, "/v1/audit", scope="user/Observation.rs"), 403)
        assert (await get(c, "/v1/audit", scope="system/AuditEvent.rs")).status_code == 200


async def test_threads_belong_to_their_caller(
    agent_store: Path,  # noqa: F811
    tmp_path: Path,
    jwks_file: Path,
    issuer: Issuer,
) -> None:
    dep = auth_dep(
        agent_store,
        tmp_path,
        issuer=issuer.issuer,
        audience=issuer.audience,
        jwks_file=str(jwks_file),
    )
    alice = {"Authorization": f"Bearer {issuer.token(sub='alice')}"}
    bob = {"Authorization": f"Bearer {issuer.token(sub='bob')}"}
    bound = {
        "Authorization": f"Bearer {issuer.token(sub='alice', scope='patient/*.rs', patient=ADAN)}"
    }
    async with service_client(create_app(dep, model=scripted())) as c:
        ask = await c.post(f"/v1/patients/{CLEOTILDE}/ask", json={"question": "Hi?"}, headers=alice)
        thread = ask.json()["thread_id"]
        assert (await c.get(f"/v1/threads/{thread}", headers=alice)).status_code == 200
        outcome_of(await c.get(f"/v1/threads/{thread}", headers=bob), 404)
        outcome_of(await c.delete(f"/v1/threads/{thread}", headers=bob), 404)
        follow = await c.post(
            f"/v1/patients/{CLEOTILDE}/ask",
            json={"question": "More?", "thread_id": thread},
            headers=bob,
        )
        outcome_of(follow, 404)
        listed = (await c.get(f"/v1/patients/{CLEOTILDE}/threads", headers=bob)).json()
        assert listed == {"threads": []}
        # alice bound to another patient cannot read her Cleotilde thread
        outcome_of(await c.get(f"/v1/threads/{thread}", headers=bound), 403)
        assert (await c.delete(f"/v1/threads/{thread}", headers=alice)).status_code == 204


async def test_api_keys(agent_store: Path, tmp_path: Path) -> None:  # noqa: F811
    engine_key, engine = api_key("lab-engine", ("system/*.rs",))
    bound_key, bound = api_key("kiosk", ("patient/*.rs",), patient=CLEOTILDE)
    audit_key, auditor = api_key("siem", ("system/AuditEvent.rs",))
    dep = auth_dep(agent_store, tmp_path, api_keys=[engine, bound, auditor])
    assert engine_key not in json.dumps(dep.model_dump(mode="json"))  # only the hash is kept
    cleo = f"/v1/patients/{CLEOTILDE}/summary"
    async with service_client(create_app(dep, model=scripted())) as c:
        assert (
            await c.get(cleo, headers={"Authorization": f"Bearer {engine_key}"})
        ).status_code == 200
        assert (await c.get(cleo, headers={"X-API-Key": engine_key})).status_code == 200
        outcome_of(await c.get(cleo, headers={"X-API-Key": engine_key[:-2] + "xx"}), 401)
        assert (await c.get(cleo, headers={"X-API-Key": bound_key})).status_code == 200
        outcome_of(
            await c.get(f"/v1/patients/{ADAN}/summary", headers={"X-API-Key": bound_key}), 403
        )
        outcome_of(await c.get(cleo, headers={"X-API-Key": audit_key}), 403)
        audit = await c.get("/v1/audit", headers={"X-API-Key": audit_key})
        assert audit.status_code == 200
        whos = {
            e["resource"]["agent"][0]["who"]["identifier"]["value"] for e in audit.json()["entry"]
        }
        assert {"api-key:lab-engine", "api-key:kiosk"} <= whos
        # a bearer JWT is refused when no issuer is configured
        jwt_like = Issuer().token()
        assert "no issuer" in outcome_of(
            await c.get(cleo, headers={"Authorization": f"Bearer {jwt_like}"}), 401
        )


def test_api_key_hashes() -> None:
    for kind in ("scrypt", "pbkdf2_sha256"):
        stored = hash_api_key("fa_secret", kind=kind)
        assert stored.startswith(kind + "$")
        assert "fa_secret" not in stored
        assert verify_api_key("fa_secret", stored)
        assert not verify_api_key("fa_secreT", stored)
    assert hash_api_key("k") != hash_api_key("k")  # salted
    assert not verify_api_key("k", "scrypt$garbage")


def test_scope_parsing() -> None:
    s = {
        (x.context, x.resource, "".join(sorted(x.permissions)))
        for x in parse_scopes(
            "openid fhirUser launch/patient patient/*.rs user/Observation.read system/*.cruds "
            "patient/Condition.rs?category=problem user/*.* bad/*.rs user/Obs-x.rs"
        )
    }
    assert s == {
        ("patient", "*", "rs"),
        ("user", "Observation", "rs"),
        ("system", "*", "cdrsu"),
        ("patient", "Condition", "rs"),
        ("user", "*", "cdrsu"),
    }


def test_insecure_flag_is_loopback_only(agent_store: Path, tmp_path: Path) -> None:  # noqa: F811
    config = tmp_path / "dep.toml"
    config.write_text(
        'name = "t"\n[model]\nbackend = "openai"\nbase_url = "http://127.0.0.1:9/v1"\n'
        f'model = "m"\n[source]\nkind = "store"\nurl = "{agent_store}"\n'
    )
    with pytest.raises(ConfigError, match="only on a loopback host"):
        serve(config, host="0.0.0.0", insecure_no_auth=True)


def test_service_config_is_checked(tmp_path: Path) -> None:
    from agent.config import parse_deployment

    def load(auth: dict[str, Any]) -> Any:
        return parse_deployment(
            {
                "name": "t",
                "model": {"backend": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "m"},
                "service": {"auth": auth},
            },
            origin="t.toml",
            base_dir=tmp_path,
        )

    with pytest.raises(ConfigError, match=r"service\.auth\.algorithms.*HMAC"):
        load(
            {
                "issuer": "https://i",
                "audience": "a",
                "jwks_uri": "https://i/k",
                "algorithms": ["HS256"],
            }
        )
    with pytest.raises(ConfigError, match="missing"):
        load({"issuer": "https://i"})
    with pytest.raises(ConfigError, match="never the key itself"):
        load({"api_keys": [{"name": "k", "hash": "fa_plaintext"}]})
    ok = load({"issuer": "https://i", "audience": "a", "jwks_file": "keys/jwks.json"})
    assert ok.service.auth.jwks_file == tmp_path / "keys" / "jwks.json"
    assert ok.service.auth.jwt_enabled

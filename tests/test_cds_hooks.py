"""CDS Hooks end to end: a scripted CDS client (it signs its own ES384 and RS384 JWTs,
its JWKS served on loopback) calls the service, with sekmet-fhir as the ``fhirServer``.
Prefetch, no prefetch, expired token, wrong audience, replayed jti, a jku outside the
allowlist; the fhirAuthorization token never reaches a log, the audit or the database;
the time budget with a slow model (a FAKE, scripted, named as such) whose brief completes
in the background behind the card's link; appointment-book; feedback and its export."""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import sqlite3
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from agent.models import ChatResult, Message
from surfaces.service import create_app
from tests.agent_fixtures import CLEOTILDE, ScriptedChatModel, agent_store  # noqa: F401
from tests.sekmet import SekmetServer, load_bundles, running_sekmet
from tests.service_fixtures import (
    Issuer,
    deployment,
    jwks_server,
    scripted,
    service_client,
    threads_key_env,  # noqa: F401  (fixture)
)
from tools.audit import AuditLog
from tools.open_items import card_summary, open_items

ROOT = Path(__file__).resolve().parents[1]
CLEO_FILE = next((ROOT / "fhir_fixtures" / "patients").glob(f"*{CLEOTILDE}.json"))
SERVICE_URL = "https://assistant.test.invalid/cds-services"
EHR = "https://ehr.test.invalid"
SECRET_TOKEN = "ehr-access-token-" + uuid.uuid4().hex
PREFETCH_QUERIES = {
    "patient": "Patient/{pid}",
    "conditions": "Condition?patient={pid}",
    "medications": "MedicationRequest?patient={pid}",
    "allergies": "AllergyIntolerance?patient={pid}",
    "observations": "Observation?patient={pid}",
    "encounters": "Encounter?patient={pid}",
    "procedures": "Procedure?patient={pid}",
    "immunizations": "Immunization?patient={pid}",
    "careplans": "CarePlan?patient={pid}",
    "goals": "Goal?patient={pid}",
}


class CdsClient:
    """A scripted CDS client (an EHR): signs ES384 / RS384 JWTs with its own keys."""

    def __init__(self) -> None:
        self.keys = {
            "ec-1": ec.generate_private_key(ec.SECP384R1()),
            "rsa-1": rsa.generate_private_key(65537, 2048),
        }

    def jwks(self) -> dict[str, Any]:
        keys = []
        for kid, key in self.keys.items():
            algo = (
                jwt.algorithms.ECAlgorithm if kid.startswith("ec") else jwt.algorithms.RSAAlgorithm
            )
            jwk = json.loads(algo.to_jwk(key.public_key()))
            jwk.update(
                {"kid": kid, "use": "sig", "alg": "ES384" if kid.startswith("ec") else "RS384"}
            )
            keys.append(jwk)
        return {"keys": keys}

    def token(
        self,
        *,
        alg: str = "ES384",
        aud: str = SERVICE_URL,
        iss: str = EHR,
        expires_in: int = 300,
        iat_ago: int = 0,
        jti: str | None = None,
        jku: str | None = None,
    ) -> str:
        kid = "ec-1" if alg.startswith("ES") else "rsa-1"
        now = int(time.time())
        claims = {"iss": iss, "aud": aud, "sub": "dr-ehr-user", "iat": now - iat_ago,
                  "exp": now + expires_in, "jti": jti or uuid.uuid4().hex}  # fmt: skip
        headers: dict[str, Any] = {"kid": kid, "typ": "JWT"}
        if jku:
            headers["jku"] = jku
        return jwt.encode(claims, self.keys[kid], algorithm=alg, headers=headers)


class SlowModel(ScriptedChatModel):
    """A FAKE chat model: scripted answers, each after ``delay_s`` (a slow CPU model)."""

    def __init__(self, steps: Sequence[Any], delay_s: float) -> None:
        super().__init__(list(steps), repeat=True)
        self.delay_s = delay_s

    async def generate(self, messages: Sequence[Message], **kw: Any) -> ChatResult[Any]:
        await asyncio.sleep(self.delay_s)
        return await super().generate(messages, **kw)


@pytest.fixture(scope="module")
def ehr_client() -> CdsClient:
    return CdsClient()


@pytest.fixture(scope="module")
def ehr_jwks(ehr_client: CdsClient) -> Iterator[str]:
    holder = Issuer()
    holder.jwks = ehr_client.jwks  # type: ignore[method-assign]
    with jwks_server(holder) as (url, _fetches):
        yield url


@pytest.fixture(scope="module")
def fhir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SekmetServer, str]]:
    with running_sekmet(tmp_path_factory.mktemp("sekmet-cds")) as server:
        (loaded,) = load_bundles(server.base_url, [CLEO_FILE])
        assert loaded.patient_id
        yield server, loaded.patient_id


@pytest.fixture
def dep(agent_store: Path, tmp_path: Path, ehr_jwks: str) -> Any:  # noqa: F811
    store = tmp_path / "records.db"
    shutil.copy(agent_store, store)
    return _dep(store, tmp_path, ehr_jwks)


def _dep(store: Path, tmp: Path, jwks_url: str, **cds: Any) -> Any:
    data = deployment(store, tmp)
    return data.model_copy(
        update={
            "cds": data.cds.model_validate(
                {
                    "service_url": SERVICE_URL,
                    "clients": [{"issuer": EHR, "jwks_urls": [jwks_url]}],
                    "model_brief": False,
                    **cds,
                }
            )
        }
    )


def hook_request(pid: str, server: SekmetServer | None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/dr-1", "patientId": pid},
    }
    if server is not None:
        body["fhirServer"] = server.base_url
        body["fhirAuthorization"] = {"access_token": SECRET_TOKEN, "token_type": "Bearer",
                                     "expires_in": 300, "scope": "patient/*.rs", "subject": "cds"}  # fmt: skip
    body.update(extra)
    return body


def prefetch_of(
    server: SekmetServer, pid: str, keys: Sequence[str] | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, query in PREFETCH_QUERIES.items():
        if keys is not None and key not in keys:
            continue
        out[key] = httpx.get(
            f"{server.base_url}/{query.format(pid=pid)}", params={"_count": 1000}
        ).json()
    return out


def expected_summary(server: SekmetServer, pid: str) -> str:
    record = []
    for value in prefetch_of(server, pid).values():
        if value.get("resourceType") == "Bundle":
            record.extend(e["resource"] for e in value.get("entry") or [])
        else:
            record.append(value)
    return card_summary(open_items(record))


async def test_discovery(dep: Any) -> None:
    app = create_app(dep, model=scripted(), insecure_no_auth=True)
    async with service_client(app) as c:
        services = (await c.get("/cds-services")).json()["services"]
    hooks = {s["id"]: s["hook"] for s in services}
    assert hooks == {"patient-brief": "patient-view", "previsit-brief": "appointment-book"}
    assert services[0]["prefetch"]["patient"] == "Patient/{{context.patientId}}"


@pytest.mark.integration
async def test_patient_view_fhir_server_and_prefetch(
    dep: Any, fhir: tuple[SekmetServer, str], ehr_client: CdsClient, tmp_path: Path
) -> None:
    server, pid = fhir
    summary = expected_summary(server, pid)
    assert len(summary) < 140
    app = create_app(dep, model=scripted(), insecure_no_auth=True)
    async with service_client(app) as c:
        # no prefetch: everything read from the fhirServer (ES384)
        auth = {"Authorization": f"Bearer {ehr_client.token(alg='ES384')}"}
        resp = await c.post(
            "/cds-services/patient-brief", json=hook_request(pid, server), headers=auth
        )
        assert resp.status_code == 200, resp.text
        (card,) = resp.json()["cards"]
        assert card["summary"] == summary
        assert card["source"]["label"] == "FHIR record assistant"
        assert card["indicator"] in ("info", "warning")
        assert "**Open items**" in card["detail"]
        assert "[Observation/" in card["detail"]
        (link,) = card["links"]
        assert link["type"] == "absolute"
        assert link["url"].startswith("http://assistant.test/v1/drafts/")
        draft_path = httpx.URL(link["url"]).path
        draft = (await c.get(draft_path)).json()
        assert draft["patient_id"] == pid
        assert draft["status"] == "draft"
        assert draft["extractive"]
        assert all(cit["version"] for cit in draft["citations"])

        # everything prefetched, no fhirServer (RS384)
        auth = {"Authorization": f"Bearer {ehr_client.token(alg='RS384')}"}
        body = hook_request(pid, None, prefetch=prefetch_of(server, pid))
        resp = await c.post("/cds-services/patient-brief", json=body, headers=auth)
        assert resp.status_code == 200, resp.text
        assert resp.json()["cards"][0]["summary"] == summary

        # part prefetched, the rest read from the fhirServer; a null key means "none"
        partial = prefetch_of(server, pid, ["patient", "observations"])
        partial["goals"] = None
        auth = {"Authorization": f"Bearer {ehr_client.token()}"}
        resp = await c.post("/cds-services/patient-brief", json=hook_request(pid, server, prefetch=partial), headers=auth)  # fmt: skip
        assert resp.json()["cards"][0]["summary"] == summary

        # nothing to read from: 412
        auth = {"Authorization": f"Bearer {ehr_client.token()}"}
        resp = await c.post(
            "/cds-services/patient-brief", json=hook_request(pid, None), headers=auth
        )
        assert resp.status_code == 412
        assert resp.json()["resourceType"] == "OperationOutcome"
    log = AuditLog(tmp_path / "service.db")
    calls = [e for e in log.entries() if e.action == "cds.patient-view"]
    log.close()
    assert [e.status for e in calls] == [200, 200, 200, 412]
    assert calls[0].who == "dr-ehr-user"
    assert calls[0].who_system == EHR
    assert calls[0].patient_id == pid
    assert calls[0].resource_counts["Observation"] > 10


@pytest.mark.integration
async def test_bad_tokens_are_refused_before_reading(
    dep: Any, fhir: tuple[SekmetServer, str], ehr_client: CdsClient, ehr_jwks: str, tmp_path: Path
) -> None:
    server, pid = fhir
    app = create_app(dep, model=scripted(), insecure_no_auth=True)
    replay = ehr_client.token(jti="once-only")
    cases = {
        "expired": ehr_client.token(expires_in=-120),
        "wrong audience": ehr_client.token(aud="https://elsewhere.invalid/cds-services"),
        "stale iat": ehr_client.token(iat_ago=3600, expires_in=3600),
        "unknown issuer": ehr_client.token(iss="https://rogue.invalid"),
        "jku not allowed": ehr_client.token(jku="http://127.0.0.1:9/evil-jwks.json"),
        "hmac": jwt.encode(
            {
                "iss": EHR,
                "aud": SERVICE_URL,
                "exp": int(time.time()) + 60,
                "iat": int(time.time()),
                "jti": "h",
            },
            "secret-of-32-bytes-long-enough!!",
            algorithm="HS256",
        ),
    }
    async with service_client(app) as c:
        first = await c.post("/cds-services/patient-brief", json=hook_request(pid, server),
                             headers={"Authorization": f"Bearer {replay}"})  # fmt: skip
        assert first.status_code == 200, first.text
        again = await c.post("/cds-services/patient-brief", json=hook_request(pid, server),
                             headers={"Authorization": f"Bearer {replay}"})  # fmt: skip
        assert again.status_code == 401
        assert "replayed" in again.json()["issue"][0]["diagnostics"]
        for why, token in cases.items():
            resp = await c.post("/cds-services/patient-brief", json=hook_request(pid, server),
                                headers={"Authorization": f"Bearer {token}"})  # fmt: skip
            assert resp.status_code == 401, (why, resp.text)
            assert resp.json()["issue"][0]["code"] == "login"
        ok_jku = ehr_client.token(jku=ehr_jwks)  # the allowlisted jku is fine
        resp = await c.post("/cds-services/patient-brief", json=hook_request(pid, server),
                            headers={"Authorization": f"Bearer {ok_jku}"})  # fmt: skip
        assert resp.status_code == 200
        missing = await c.post("/cds-services/patient-brief", json=hook_request(pid, server))
        assert missing.status_code == 401
    log = AuditLog(tmp_path / "service.db")
    refused = [e for e in log.entries() if e.action == "cds.patient-view" and e.status == 401]
    log.close()
    assert len(refused) == len(cases) + 2
    assert all(e.resource_counts == {} for e in refused)  # nothing was read


@pytest.mark.integration
async def test_fhir_authorization_token_never_kept(
    dep: Any,
    fhir: tuple[SekmetServer, str],
    ehr_client: CdsClient,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server, pid = fhir
    caplog.set_level(logging.DEBUG)
    app = create_app(dep, model=scripted(), insecure_no_auth=True)
    async with service_client(app) as c:
        auth = {"Authorization": f"Bearer {ehr_client.token()}"}
        resp = await c.post(
            "/cds-services/patient-brief", json=hook_request(pid, server), headers=auth
        )
        assert resp.status_code == 200
        bad = hook_request(pid, server)
        bad["fhirServer"] = "http://127.0.0.1:9/fhir"  # unreachable: the error path too
        auth = {"Authorization": f"Bearer {ehr_client.token()}"}
        resp = await c.post("/cds-services/patient-brief", json=bad, headers=auth)
        assert resp.status_code >= 400
        assert SECRET_TOKEN not in resp.text
    assert SECRET_TOKEN not in caplog.text
    assert len(caplog.records) > 3  # the service did log
    dump = "\n".join(sqlite3.connect(tmp_path / "service.db").iterdump())
    assert "cds.patient-view" in dump
    assert SECRET_TOKEN not in dump
    assert SECRET_TOKEN not in (server.log_tail(10**7) if False else "")


@pytest.mark.integration
async def test_time_budget_background_model_brief(
    agent_store: Path,  # noqa: F811
    tmp_path: Path,
    ehr_jwks: str,
    fhir: tuple[SekmetServer, str],
    ehr_client: CdsClient,
) -> None:
    from tests.service_fixtures import answering

    server, pid = fhir
    store = tmp_path / "records.db"
    shutil.copy(agent_store, store)
    dep = _dep(store, tmp_path, ehr_jwks, model_brief=True, time_budget_s=3.0, model_wait_s=0)
    model = SlowModel([answering("Her record was read.", "E1")], delay_s=4.0)
    app = create_app(dep, model=model, insecure_no_auth=True)
    async with service_client(app) as c:
        auth = {"Authorization": f"Bearer {ehr_client.token()}"}
        started = time.monotonic()
        resp = await c.post(
            "/cds-services/patient-brief", json=hook_request(pid, server), headers=auth
        )
        took = time.monotonic() - started
        assert resp.status_code == 200, resp.text
        assert took < 3.0 + 1.0, took
        (card,) = resp.json()["cards"]
        assert "_Extractive (no model)" in card["detail"]
        (link,) = card["links"]
        assert "completing in the background" in link["label"]
        path = httpx.URL(link["url"]).path
        assert (await c.get(path)).json()["status"] == "pending"
        md = await c.get(path, headers={"Accept": "text/markdown"})
        assert "still being written" in md.text
        deadline = time.monotonic() + 60
        while (draft := (await c.get(path)).json())["status"] == "pending":
            assert time.monotonic() < deadline
            await asyncio.sleep(0.2)
        assert draft["status"] == "draft", draft.get("error")
        assert draft["answer"]["mode"] == "brief"
        assert draft["model"]["name"] == model.name
        # a draft from the call's own record: its citations carry the server's versions
        assert all(cit["version"] for cit in draft["citations"])


@pytest.mark.integration
async def test_appointment_book_and_feedback(
    agent_store: Path,  # noqa: F811
    tmp_path: Path,
    ehr_jwks: str,
    fhir: tuple[SekmetServer, str],
    ehr_client: CdsClient,
) -> None:
    server, pid = fhir
    store = tmp_path / "records.db"
    shutil.copy(agent_store, store)
    dep = _dep(store, tmp_path, ehr_jwks,
               intake_url="{public_url}/app/intake?patient={patient_id}&appointment={appointment_id}")  # fmt: skip
    app = create_app(dep, model=scripted(), insecure_no_auth=True)
    body = hook_request(pid, server)
    body["hook"] = "appointment-book"
    body["context"]["appointments"] = {
        "resourceType": "Bundle", "type": "collection",
        "entry": [{"resource": {"resourceType": "Appointment", "id": "appt-77", "status": "proposed",
                                "participant": [{"actor": {"reference": f"Patient/{pid}"}, "status": "needs-action"}]}}],
    }  # fmt: skip
    async with service_client(app) as c:
        auth = {"Authorization": f"Bearer {ehr_client.token(alg='RS384')}"}
        wrong = await c.post("/cds-services/patient-brief", json=body, headers=auth)
        assert wrong.status_code == 400
        auth = {"Authorization": f"Bearer {ehr_client.token(alg='RS384')}"}
        resp = await c.post("/cds-services/previsit-brief", json=body, headers=auth)
        assert resp.status_code == 200, resp.text
        (card,) = resp.json()["cards"]
        labels = [link["label"] for link in card["links"]]
        assert labels == ["Pre-visit brief for review", "Start the pre-visit intake"]
        assert card["links"][1]["url"].endswith(f"/app/intake?patient={pid}&appointment=appt-77")
        draft = (await c.get(httpx.URL(card["links"][0]["url"]).path)).json()
        assert draft["appointment"] == "Appointment/appt-77"

        feedback = {"feedback": [{"card": card["uuid"], "outcome": "overridden",
                                  "overrideReason": {"reason": {"code": "not-relevant", "display": "Not relevant"},
                                                     "userComment": "seen last week"},
                                  "outcomeTimestamp": "2026-01-01T10:00:00Z"}]}  # fmt: skip
        auth = {"Authorization": f"Bearer {ehr_client.token()}"}
        ok = await c.post("/cds-services/previsit-brief/feedback", json=feedback, headers=auth)
        assert ok.status_code == 200, ok.text
        bad = await c.post("/cds-services/previsit-brief/feedback", json={"feedback": [{"card": "x", "outcome": "meh"}]},
                           headers={"Authorization": f"Bearer {ehr_client.token()}"})  # fmt: skip
        assert bad.status_code == 400
        unsigned = await c.post("/cds-services/previsit-brief/feedback", json=feedback)
        assert unsigned.status_code == 401
        exported = (await c.get("/v1/cds/feedback")).json()
    assert exported["count"] == 1
    (row,) = exported["feedback"]
    assert row["card"] == card["uuid"]
    assert row["outcome"] == "overridden"
    assert row["client"] == EHR
    assert row["feedback"]["overrideReason"]["userComment"] == "seen last week"

"""``POST /v1/patients/{id}/warm``: authenticated, bound to the caller's patient, audited,
queued behind the model gate, and it hands the model the prompts whose shared prefix is
what every ask prompt for the record starts with. The model here is a FAKE (scripted,
named as such) that records what it was asked to warm; the real prefix cache is tested
on llama.cpp in test_models_kvcache.py."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from agent.models import Message, WarmResult
from agent.models._kvcache import longest_common_prefix
from surfaces.service import create_app
from tests.agent_fixtures import ADAN, CLEOTILDE, ScriptedChatModel, agent_store  # noqa: F401
from tests.service_fixtures import (
    answering,
    api_key,
    deployment,
    scripted,
    service_client,
    threads_key_env,  # noqa: F401
)
from tools.audit import AuditLog


class WarmingFakeModel(ScriptedChatModel):
    """A FAKE MODEL that records the prompts it is asked to warm (no computation)."""

    def __init__(self) -> None:
        super().__init__([answering()], repeat=True)
        self.warmed: list[list[list[Message]]] = []

    async def warm(self, prompts: Sequence[Sequence[Message]]) -> WarmResult:
        self.warmed.append([list(p) for p in prompts])
        texts = ["\n".join(f"{m.role}:{m.text}" for m in p) for p in prompts]
        n = longest_common_prefix(*texts)  # characters stand in for tokens here
        return WarmResult(
            prefix_tokens=n,
            evaluated_tokens=0 if len(self.warmed) > 1 else n,
            cached=len(self.warmed) > 1,
            saved=True,
            seconds=0.0,
        )


@pytest.fixture
def keyed(agent_store: Path, tmp_path: Path) -> tuple[Any, str, str]:  # noqa: F811
    key, entry = api_key("kiosk", ("patient/*.rs",), patient=CLEOTILDE)
    wide_key, wide = api_key("lab-engine", ("system/*.rs",))
    dep = deployment(agent_store, tmp_path, service={"auth": {"api_keys": [entry, wide]}})
    return dep, key, wide_key


def outcome_of(resp: Any, status: int) -> str:
    assert resp.status_code == status, resp.text[:500]
    body = resp.json()
    assert body["resourceType"] == "OperationOutcome"
    return str(body["issue"][0]["diagnostics"])


async def test_warm_auth_patient_binding_audit_and_gate(keyed: tuple[Any, str, str]) -> None:
    dep, key, wide_key = keyed
    model = WarmingFakeModel()
    app = create_app(dep, model=model)
    bound = {"X-API-Key": key}
    async with service_client(app) as c:
        state = app.state.service
        outcome_of(await c.post(f"/v1/patients/{CLEOTILDE}/warm"), 401)
        outcome_of(await c.post(f"/v1/patients/{ADAN}/warm", headers=bound), 403)
        assert model.warmed == []  # refused before anything reached the model
        served = state.gate.served
        first = await c.post(f"/v1/patients/{CLEOTILDE}/warm", headers=bound)
        assert first.status_code == 200, first.text
        assert state.gate.served == served + 1  # it took a model slot like ask does
        again = (await c.post(f"/v1/patients/{CLEOTILDE}/warm", headers=bound)).json()
        missing = await c.post("/v1/patients/nobody-here/warm", headers={"X-API-Key": wide_key})
        outcome_of(missing, 404)
    body = first.json()
    assert body["patient"] == CLEOTILDE
    assert body["supported"] is True
    assert body["saved"] is True
    assert body["cached"] is False
    assert body["prefix_tokens"] > 0
    assert body["evaluated_tokens"] == body["prefix_tokens"]
    assert body["model"] == "scripted-fake-model"
    assert again["cached"] is True
    assert again["evaluated_tokens"] == 0

    # the prompts: the plan and compose prompts of the ask workflow, for this patient,
    # sharing the system prompt and the record summary block, differing right after it
    prompts = model.warmed[0]
    assert len(prompts) >= 2
    system = {p[0].text for p in prompts}
    assert len(system) == 1
    assert f"Patient/{CLEOTILDE}" in system.pop()
    users = [p[-1].text for p in prompts]
    shared = users[0][: longest_common_prefix(*users)]
    assert shared.startswith("RECORD DATA (summary)")
    assert "Cleotilde Ruecker" in shared
    assert shared.rstrip().endswith(">>>")
    assert ADAN not in "".join(users)

    entries = AuditLog(dep.service.database).entries()
    warms = [e for e in entries if e.action == "patient.warm"]
    assert [(e.status, e.patient_id) for e in warms] == [
        (401, CLEOTILDE),
        (403, ADAN),
        (200, CLEOTILDE),
        (200, CLEOTILDE),
        (404, "nobody-here"),
    ]
    ok = warms[2]
    assert ok.who == "api-key:kiosk"
    assert ok.model == "scripted-fake-model"
    assert sum(ok.resource_counts.values()) > 10  # the whole record was read


async def test_warm_with_a_model_without_prefix_cache(agent_store: Path, tmp_path: Path) -> None:  # noqa: F811
    dep = deployment(agent_store, tmp_path)
    app = create_app(dep, model=scripted(), insecure_no_auth=True)
    async with service_client(app) as c:
        resp = await c.post(f"/v1/patients/{CLEOTILDE}/warm")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["supported"] is False
    assert body["prefix_tokens"] == 0
    assert body["saved"] is False
    assert body["record_seconds"] >= 0

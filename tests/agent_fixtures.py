"""Test helpers for the agent: a store with the fixture patients, a scripted fake of the
chat MODEL only (tools, store and verifier are real), and a fault-injecting RecordSource.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from agent.errors import MalformedOutput
from agent.models import ChatResult, ChatStream, Message, Usage
from tools.errors import FhirServerError
from tools.source import PatientRow, Resource, SearchParams
from tools.store import RecordStore

ROOT = Path(__file__).resolve().parents[1]
DEBORA = "3f96088f-1f08-47cd-b67b-a57e269ce08b"
CLEOTILDE = "4b54bebd-7f01-4a33-8494-0214dc432e46"
ADAN = "2ccc21b0-f707-43eb-a896-248f843c1308"
LUIGI = "85c63cf3-278e-454c-b5ba-df5889815eb7"

Step = dict[str, Any] | Callable[[Sequence[Message]], dict[str, Any]] | str


@pytest.fixture(scope="session")
def agent_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store file holding the five fixture patients (imported once per session)."""
    path = tmp_path_factory.mktemp("agent") / "records.db"
    store = RecordStore(path)
    try:
        store.import_paths([ROOT / "fhir_fixtures" / "patients"])
    finally:
        store.close()
    return path


class ScriptedChatModel:
    """A FAKE chat MODEL: replays fixed structured outputs, one per ``generate`` call.

    Each step is a dict (validated against the requested schema, as a real backend's
    constrained output would be) or a function of the messages returning one. Records
    every prompt in ``calls``. Past the script it raises (a test bug), unless ``repeat``.
    """

    name = "scripted-fake-model"

    def __init__(self, steps: Sequence[Step], *, repeat: bool = False) -> None:
        self.steps = list(steps)
        self.repeat = repeat
        self.calls: list[list[Message]] = []

    async def generate(
        self,
        messages: Sequence[Message],
        *,
        schema: Any = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        on_token: Any = None,
    ) -> ChatResult[Any]:
        self.calls.append(list(messages))
        i = len(self.calls) - 1
        if i >= len(self.steps):
            if not self.repeat:
                raise AssertionError(f"scripted model called {i + 1} times; script has {i}")
            i = len(self.steps) - 1
        step = self.steps[i]
        data = step(messages) if callable(step) else step
        if data == "malformed":
            raise MalformedOutput("scripted malformed output", "{", 1, self.name)
        text = json.dumps(data)
        if on_token is not None:
            on_token(text)
        prompt = sum(len(m.text) for m in messages) // 4
        output = schema.model_validate(data) if schema is not None else text
        return ChatResult(output, text, Usage(prompt, len(text) // 4, 0.001), "stop", self.name)

    def stream(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> ChatStream:
        raise NotImplementedError("the scripted model only replays structured outputs")

    async def aclose(self) -> None:
        return None


class FaultInjectingSource:
    """A RecordSource wrapper (a FAULT INJECTOR) that raises FhirServerError on the Nth
    call (1-based, counting read/search/everything), until ``heal()``."""

    def __init__(self, inner: Any, fail_on: int) -> None:
        self.inner = inner
        self.fail_on = fail_on
        self.n = 0
        self.healed = False

    @property
    def label(self) -> str:
        return f"fault-injector({self.inner.label})"

    def heal(self) -> None:
        self.healed = True

    def _tick(self, what: str) -> None:
        self.n += 1
        if not self.healed and self.n >= self.fail_on:
            raise FhirServerError(503, f"http://fault.invalid/{what}", body="injected failure")

    async def read(self, reference: str) -> Resource:
        self._tick(reference)
        return await self.inner.read(reference)

    async def search(
        self, resource_type: str, params: SearchParams | None = None
    ) -> list[Resource]:
        self._tick(resource_type)
        return await self.inner.search(resource_type, params)

    async def everything(self, patient_id: str, *, since: str | None = None) -> list[Resource]:
        self._tick("everything")
        return await self.inner.everything(patient_id, since=since)

    async def patients(self) -> list[PatientRow]:
        return await self.inner.patients()

    async def aclose(self) -> None:
        await self.inner.aclose()


def answer(*sentences: tuple[str, list[str]]) -> dict[str, Any]:
    """A plan step that answers now."""
    return {
        "action": "answer",
        "calls": [],
        "sentences": [{"text": t, "cites": c} for t, c in sentences],
    }


def tools(*calls: tuple[str, dict[str, str]]) -> dict[str, Any]:
    """A plan step asking for tool calls."""
    return {"action": "tools", "calls": [{"tool": t, "args": a} for t, a in calls], "sentences": []}


def composed(*sentences: tuple[str, list[str]]) -> dict[str, Any]:
    """A compose/repair step."""
    return {"sentences": [{"text": t, "cites": c} for t, c in sentences]}


def plan_first(**overrides: object) -> object:
    """Settings for tests of the planning round: no shortcut to the answer after the
    prefetched searches (``answer_after_prefetch``, ``answer_nothing_found``), so the
    script starts with a plan."""
    from agent.context import AgentSettings

    settings = {"answer_after_prefetch": False, "answer_nothing_found": False,
                "answer_computed": False, **overrides}  # fmt: skip
    return AgentSettings(**settings)  # type: ignore[arg-type]


def model_phrases(**overrides: object) -> object:
    """Settings for tests of the model's answer to a question code could answer itself (the
    latest value, a yes/no): the model is asked (``answer_computed`` off)."""
    from agent.context import AgentSettings

    return AgentSettings(**{"answer_computed": False, **overrides})  # type: ignore[arg-type]

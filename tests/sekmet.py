"""A real FHIR R4 server for integration tests: sekmet-fhir, started on a free loopback port.

``sekmet_server`` (session scope, registered in ``conftest.py``) is an empty server with
no auth; :func:`load_bundles` POSTs transaction Bundles into it and returns, per bundle,
the ids the server assigned (sekmet gives every POSTed resource a new id). Tests that
need another configuration (e.g. SMART auth) use :func:`running_sekmet` directly.

sekmet is started as its own process (``.venv/bin/sekmet serve``) with a generated
settings file (JSON, which is YAML), in a temporary directory, and stopped afterwards.
Never ``import sekmet`` from the tests: this module's directory is on ``sys.path`` and
would shadow the package.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

__all__ = [
    "SHARED_DATA",
    "LoadedBundle",
    "SekmetServer",
    "load_bundles",
    "running_sekmet",
    "sekmet_server",
    "shared_bundle",
]

# The shared Synthea data lives beside the repository: ../shared/synthea
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "synthea"
ENV_OVERRIDES = (
    "SEKMET_CONFIG",
    "SEKMET_BASE_URL",
    "SEKMET_DB",
    "SEKMET_PORT",
    "SEKMET_PUBLIC_URL",
)
START_TIMEOUT_S = 30.0


@dataclass
class SekmetServer:
    """A running sekmet process."""

    base_url: str  # http://127.0.0.1:PORT/fhir
    root_url: str  # http://127.0.0.1:PORT
    workdir: Path
    process: subprocess.Popen[bytes]

    @property
    def log_path(self) -> Path:
        return self.workdir / "sekmet.log"

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _sekmet_executable() -> str:
    exe = Path(sys.executable).parent / "sekmet"
    if exe.exists():
        return str(exe)
    found = shutil.which("sekmet")
    if not found:
        pytest.fail("sekmet-fhir is not installed; install the dev extra: pip install -e '.[dev]'")
    return found


def _start(workdir: Path, settings: Mapping[str, Any]) -> SekmetServer:
    port = _free_port()
    root = f"http://127.0.0.1:{port}"
    config = {
        "base_url": f"{root}/fhir",
        "host": "127.0.0.1",
        "port": port,
        "data_dir": str(workdir / "data"),
        "own_private_key_path": str(workdir / "keys" / "sekmet_private.pem"),
        "log_inbound": False,
        "simulator": {"enabled": False, "auto": []},
        **settings,
    }
    settings_path = workdir / "settings.yaml"
    settings_path.write_text(json.dumps(config, indent=2))  # JSON is YAML
    env = {k: v for k, v in os.environ.items() if k not in ENV_OVERRIDES}
    with (workdir / "sekmet.log").open("wb") as log:
        process = subprocess.Popen(
            [_sekmet_executable(), "serve", "--config", str(settings_path)],
            cwd=workdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = SekmetServer(f"{root}/fhir", root, workdir, process)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            if httpx.get(f"{server.base_url}/metadata", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    _stop(server)
    raise RuntimeError(
        f"sekmet did not answer {server.base_url}/metadata within {START_TIMEOUT_S:g} s "
        f"(exit code {process.returncode}). Its log:\n{server.log_tail()}"
    )


def _stop(server: SekmetServer) -> None:
    if server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(timeout=10)


@contextlib.contextmanager
def running_sekmet(
    workdir: Path, settings: Mapping[str, Any] | None = None
) -> Iterator[SekmetServer]:
    """Start sekmet in ``workdir`` with extra ``settings`` (see sekmet/config.py); stop it after.

    Retries on another port if the first one was taken in the meantime.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    error: Exception | None = None
    for _ in range(3):
        try:
            server = _start(workdir, settings or {})
        except RuntimeError as exc:
            error = exc
            continue
        try:
            yield server
        finally:
            _stop(server)
        return
    raise RuntimeError(f"could not start sekmet: {error}")


@pytest.fixture(scope="session")
def sekmet_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SekmetServer]:
    """An empty sekmet-fhir server (no auth), shared by the whole session."""
    with running_sekmet(tmp_path_factory.mktemp("sekmet")) as server:
        yield server


# --------------------------------------------------------------------------- loading


@dataclass
class LoadedBundle:
    """One bundle as the server stored it.

    Attributes:
        path: the file.
        assigned: the bundle's ``fullUrl`` -> ``Type/id`` on the server.
        resources: the bundle's resources, with the ids the server assigned.
        patient_id: the server id of the bundle's Patient (None for shared bundles).
        mentions_patient: ``(type, id)`` of the Patient and of every resource holding a
            reference to it (anywhere in the resource).
    """

    path: Path
    assigned: dict[str, str]
    resources: list[dict[str, Any]] = field(default_factory=list)
    patient_id: str | None = None
    mentions_patient: set[tuple[str, str]] = field(default_factory=set)

    def record_keys(self, types: Iterable[str]) -> set[tuple[str, str]]:
        """``(type, id)`` of the resources of ``types`` that reference the bundle's Patient
        (or are it): what ``everything()`` of that patient must return, judged from the
        file alone."""
        return self.keys(types) & self.mentions_patient

    def record_counts(self, types: Iterable[str]) -> Counter[str]:
        return Counter(t for t, _ in self.record_keys(types))

    def keys(self, types: Iterable[str] | None = None) -> set[tuple[str, str]]:
        """``(type, id)`` of the resources, optionally of the given types only."""
        wanted = set(types) if types is not None else None
        return {
            (r["resourceType"], r["id"])
            for r in self.resources
            if wanted is None or r["resourceType"] in wanted
        }

    def counts(self, types: Iterable[str] | None = None) -> Counter[str]:
        wanted = set(types) if types is not None else None
        return Counter(
            r["resourceType"]
            for r in self.resources
            if wanted is None or r["resourceType"] in wanted
        )


def _as_transaction(bundle: dict[str, Any]) -> dict[str, Any]:
    """Turn a ``collection`` Bundle into a transaction (PUT when an id is given, else POST)."""
    if bundle.get("type") in ("transaction", "batch"):
        return bundle
    entries = []
    for entry in bundle.get("entry") or []:
        resource = entry["resource"]
        rtype = resource["resourceType"]
        request = (
            {"method": "PUT", "url": f"{rtype}/{resource['id']}"}
            if resource.get("id")
            else {"method": "POST", "url": rtype}
        )
        entries.append({**entry, "request": entry.get("request") or request})
    return {**bundle, "type": "transaction", "entry": entries}


def _references(value: Any) -> Iterator[str]:
    """Every ``reference`` string anywhere in a resource."""
    if isinstance(value, dict):
        ref = value.get("reference")
        if isinstance(ref, str):
            yield ref
        for item in value.values():
            yield from _references(item)
    elif isinstance(value, list):
        for item in value:
            yield from _references(item)


def _local_reference(location: str, base_url: str) -> str:
    ref = location.removeprefix(base_url.rstrip("/") + "/")
    parts = ref.split("/")
    return f"{parts[0]}/{parts[1]}"


def load_bundles(
    base_url: str, paths: Iterable[Path], *, timeout_s: float = 300.0
) -> list[LoadedBundle]:
    """POST each Bundle file (in order) to ``base_url`` as a transaction.

    Shared bundles (e.g. Synthea's hospital/practitioner information) must come before
    the bundles that reference them. Raises AssertionError with the server's answer when
    a bundle is refused.
    """
    loaded: list[LoadedBundle] = []
    with httpx.Client(timeout=timeout_s) as client:
        for path in paths:
            bundle = _as_transaction(json.loads(Path(path).read_bytes()))
            response = client.post(
                base_url,
                content=json.dumps(bundle).encode(),
                headers={
                    "Content-Type": "application/fhir+json",
                    "Accept": "application/fhir+json",
                },
            )
            assert response.status_code == 200, (
                f"loading {path} into {base_url} failed: HTTP {response.status_code}: "
                f"{response.text[:2000]}"
            )
            answers = response.json().get("entry") or []
            entries = bundle.get("entry") or []
            assert len(answers) == len(entries), (
                f"{path}: {len(answers)} answers for {len(entries)} entries"
            )
            result = LoadedBundle(Path(path), {})
            for entry, answer in zip(entries, answers, strict=True):
                reply = answer.get("response") or {}
                where = reply.get("location") or answer.get("fullUrl")
                assert where, f"{path}: no location for {entry.get('fullUrl')}: {answer}"
                ref = _local_reference(where, base_url)
                rtype, rid = ref.split("/")
                if entry.get("fullUrl"):
                    result.assigned[entry["fullUrl"]] = ref
                resource = {**entry["resource"], "id": rid}
                assert resource["resourceType"] == rtype
                result.resources.append(resource)
                if rtype == "Patient":
                    assert result.patient_id is None, f"{path} holds more than one Patient"
                    result.patient_id = rid
            # How the bundle itself refers to its Patient: fullUrl, or Patient/<id in the file>
            patient_refs = {
                ref
                for entry in entries
                if entry["resource"]["resourceType"] == "Patient"
                for ref in (entry.get("fullUrl"), f"Patient/{entry['resource'].get('id')}")
                if ref
            }
            for entry, resource in zip(entries, result.resources, strict=True):
                if resource["resourceType"] == "Patient" or any(
                    ref in patient_refs for ref in _references(entry["resource"])
                ):
                    result.mentions_patient.add((resource["resourceType"], resource["id"]))
            loaded.append(result)
    return loaded


def shared_bundle(pattern: str) -> Path:
    """One file of the shared Synthea data (``../shared/synthea``); skips when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared Synthea data not found at {SHARED_DATA}")
    matches = sorted(SHARED_DATA.glob(pattern))
    if not matches:
        pytest.skip(f"no shared Synthea bundle matches {pattern} in {SHARED_DATA}")
    return matches[0]

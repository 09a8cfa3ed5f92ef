"""Deployment files: every file in configs/ loads; bad files fail with clear messages."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from agent.config import DeploymentConfig, load_deployment, parse_deployment
from agent.errors import UnsafeEndpoint
from agent.models import (
    LlamaCppConfig,
    OpenAIChatModel,
    OpenAIConfig,
    TransformersConfig,
    build_chat_model,
)
from tools.config import StoreConfig
from tools.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / "configs").glob("*.toml"))
EXPECTED = {
    "cpu-demo.toml",
    "medgemma-27b-vllm.toml",
    "medgemma-27b-transformers.toml",
    "medgemma-27b-gguf.toml",
    "medgemma-4b-gguf.toml",
}


def test_expected_configs_exist() -> None:
    assert {p.name for p in CONFIGS} >= EXPECTED


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_config_loads(path: Path) -> None:
    dep = load_deployment(path)
    assert isinstance(dep, DeploymentConfig)
    assert dep.name == path.stem
    assert isinstance(dep.source, StoreConfig)  # the embedded store by default
    build_chat_model(dep.model)  # builds without loading anything


def test_config_kinds() -> None:
    by = {p.name: load_deployment(p) for p in CONFIGS}
    assert isinstance(by["medgemma-27b-vllm.toml"].model, OpenAIConfig)
    assert isinstance(by["medgemma-27b-transformers.toml"].model, TransformersConfig)
    gguf = by["medgemma-27b-gguf.toml"].model
    assert isinstance(gguf, LlamaCppConfig)
    assert gguf.gguf.path is not None
    assert gguf.gguf.path.name == "medgemma-27b-it-UD-Q4_K_XL.gguf"
    demo = by["cpu-demo.toml"].model
    assert isinstance(demo, LlamaCppConfig)
    assert demo.gguf.package or demo.gguf.parts


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "deploy.toml"
    p.write_text(text)
    return p


def test_unknown_backend(tmp_path: Path) -> None:
    p = _write(tmp_path, 'name = "x"\n[model]\nbackend = "ollama"\nmodel = "m"\n')
    with pytest.raises(ConfigError) as info:
        load_deployment(p)
    msg = str(info.value)
    assert str(p) in msg
    assert "model.backend" in msg
    assert "'ollama'" in msg
    assert "llamacpp" in msg


def test_missing_backend_and_field(tmp_path: Path) -> None:
    p = _write(tmp_path, 'name = "x"\n[model]\nmodel = "m"\n')
    with pytest.raises(ConfigError, match="missing `backend`"):
        load_deployment(p)
    p = _write(
        tmp_path, 'name = "x"\n[model]\nbackend = "openai"\nbase_url = "http://127.0.0.1:8000/v1"\n'
    )
    with pytest.raises(ConfigError, match=r"model\.model: required field is missing"):
        load_deployment(p)
    p = _write(tmp_path, '[model]\nbackend = "transformers"\nmodel = "/m"\n')
    with pytest.raises(ConfigError, match="name: required field is missing"):
        load_deployment(p)


def test_unknown_field_and_bad_value(tmp_path: Path) -> None:
    p = _write(
        tmp_path,
        'name = "x"\n[model]\nbackend = "llamacpp"\nn_ctxx = 4096\ntemperature = 9\n'
        '[model.gguf]\npath = "m.gguf"\n',
    )
    with pytest.raises(ConfigError) as info:
        load_deployment(p)
    msg = str(info.value)
    assert "model.n_ctxx: unknown field" in msg
    assert "model.temperature" in msg


def test_gguf_source_needs_exactly_one(tmp_path: Path) -> None:
    p = _write(
        tmp_path,
        'name = "x"\n[model]\nbackend = "llamacpp"\n[model.gguf]\npath = "a.gguf"\npackage = "p"\nfile = "f"\n',
    )
    with pytest.raises(ConfigError, match="exactly one"):
        load_deployment(p)


def test_relative_gguf_path_is_relative_to_the_file(tmp_path: Path) -> None:
    p = _write(
        tmp_path,
        'name = "x"\n[model]\nbackend = "llamacpp"\n[model.gguf]\npath = "models/m.gguf"\n',
    )
    dep = load_deployment(p)
    assert isinstance(dep.model, LlamaCppConfig)
    assert dep.model.gguf.path == tmp_path / "models" / "m.gguf"


def test_non_loopback_endpoint_refused(tmp_path: Path) -> None:
    body = 'name = "x"\n[model]\nbackend = "openai"\nmodel = "m"\nbase_url = "https://gpu01.internal:8000/v1"\n'
    p = _write(tmp_path, body)
    with pytest.raises(UnsafeEndpoint) as info:
        load_deployment(p)
    msg = str(info.value)
    assert isinstance(info.value, ConfigError)
    assert str(p) in msg
    assert "gpu01.internal" in msg
    assert "allowed_hosts" in msg
    # allowed on purpose
    p = _write(tmp_path, body + 'allowed_hosts = ["gpu01.internal"]\n')
    dep = load_deployment(p)
    assert isinstance(dep.model, OpenAIConfig)


def test_endpoint_checked_without_a_file_too() -> None:
    with pytest.raises(ValidationError, match="allowed_hosts"):
        OpenAIConfig(backend="openai", model="m", base_url="http://8.8.8.8/v1")
    # a config built around validation is still refused by the backend itself
    sneaky = OpenAIConfig.model_construct(
        backend="openai", model="m", base_url="http://8.8.8.8/v1", allowed_hosts=()
    )
    with pytest.raises(UnsafeEndpoint):
        OpenAIChatModel(sneaky)
    with pytest.raises(UnsafeEndpoint):
        parse_deployment(
            {
                "name": "x",
                "model": {"backend": "openai", "model": "m", "base_url": "http://10.1.1.1/v1"},
            }
        )


def test_toml_syntax_and_missing_file(tmp_path: Path) -> None:
    p = _write(tmp_path, 'name = "x\n')
    with pytest.raises(ConfigError, match="TOML syntax error"):
        load_deployment(p)
    with pytest.raises(ConfigError, match="Cannot read"):
        load_deployment(tmp_path / "nope.toml")


def test_api_key_env(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = OpenAIConfig(
        backend="openai", model="m", base_url="http://127.0.0.1:1/v1", api_key_env="MY_KEY"
    )
    monkeypatch.setenv("MY_KEY", "s3cret")
    assert cfg.resolved_api_key() == "s3cret"
    assert "s3cret" not in repr(
        OpenAIConfig(
            backend="openai", model="m", base_url="http://127.0.0.1:1/v1", api_key="s3cret"
        )
    )

"""The in-process transformers backend, end to end on a tiny random Gemma 3 (offline)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import BaseModel

from agent.errors import ContextOverflow, MalformedOutput, ModelLoadError
from agent.models import Message, TransformersChatModel, TransformersConfig, build_chat_model
from tests.models_fixtures import require, tiny_gemma3_dir  # noqa: F401  (fixture)

pytestmark = [pytest.mark.slow, pytest.mark.runtime("transformers")]


class Answer(BaseModel):
    value: float
    citation: str


def _cfg(path: Path, **kw: object) -> TransformersConfig:
    base: dict[str, object] = {
        "backend": "transformers",
        "model": str(path),
        "dtype": "float32",
        "device": "cpu",
        "max_tokens": 12,
        "threads": 2,
    }
    base.update(kw)
    return TransformersConfig.model_validate(base)


@pytest.fixture(scope="module")
async def tiny_model(tiny_gemma3_dir: Path) -> AsyncIterator[TransformersChatModel]:  # noqa: F811
    model = build_chat_model(_cfg(tiny_gemma3_dir))
    assert isinstance(model, TransformersChatModel)
    await model.load()
    yield model
    await model.aclose()


async def test_text_generation_streams(tiny_model: TransformersChatModel) -> None:
    pieces: list[str] = []
    res = await tiny_model.generate(
        [Message.system("Be brief."), Message.user("Hello there")], on_token=pieces.append
    )
    assert isinstance(res.output, str)
    u = res.usage
    assert u.prompt_tokens > 10
    assert 1 <= u.completion_tokens <= 12
    assert u.ttft_s is not None
    assert 0 < u.ttft_s <= u.seconds
    assert res.finish_reason in ("stop", "length")
    # the streamed pieces are the decoded answer
    assert "".join(pieces).strip() == res.text.strip()


async def test_image_and_text(tiny_model: TransformersChatModel) -> None:
    from PIL import Image

    img = Image.new("RGB", (40, 30), (200, 10, 10))
    res = await tiny_model.generate([Message.user("What is in this image?", img)])
    text_only = await tiny_model.generate([Message.user("What is in this image?")])
    # 4 image soft tokens + begin/end-of-image markers + separators are in the prompt
    assert res.usage.prompt_tokens >= text_only.usage.prompt_tokens + 6
    png = Image.new("RGB", (10, 10), (0, 0, 255))
    import io

    buf = io.BytesIO()
    png.save(buf, format="PNG")
    res2 = await tiny_model.generate([Message.user("And this?", buf.getvalue())])
    assert res2.usage.prompt_tokens == res.usage.prompt_tokens - len(
        "What is in this image?"
    ) + len("And this?")


async def test_structured_with_random_weights_is_malformed(
    tiny_model: TransformersChatModel,
) -> None:
    # Random weights produce garbage and this backend has no constrained decoding: the
    # bounded repair loop runs (1 + max_repairs calls) and then gives up with the raw text.
    with pytest.raises(MalformedOutput) as info:
        await tiny_model.generate([Message.user("Latest HbA1c?")], schema=Answer)
    err = info.value
    assert err.attempts == 1 + tiny_model.config.max_repairs
    assert isinstance(err.raw, str)
    assert "not valid JSON" in err.reason or "empty" in err.reason or "schema" in err.reason


async def test_context_overflow_detected_before_generation(tiny_gemma3_dir: Path) -> None:  # noqa: F811
    model = TransformersChatModel(_cfg(tiny_gemma3_dir, max_context_tokens=256))
    try:
        with pytest.raises(ContextOverflow) as info:
            await model.generate([Message.user("word " * 300)], max_tokens=50)
        err = info.value
        assert err.limit == 256
        assert err.max_tokens == 50
        assert err.prompt_tokens is not None
        assert err.prompt_tokens > 256
        assert f"{err.prompt_tokens} tokens" in str(err)
    finally:
        await model.aclose()


async def test_missing_model_dir(tmp_path: Path) -> None:
    require("transformers")
    model = TransformersChatModel(_cfg(tmp_path / "nope"))
    with pytest.raises(ModelLoadError, match="does not exist"):
        await model.load()


async def test_four_bit_on_cpu_is_refused(tiny_gemma3_dir: Path) -> None:  # noqa: F811
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present: 4-bit is allowed there")
    model = TransformersChatModel(_cfg(tiny_gemma3_dir, quantization="4bit", device=None))
    with pytest.raises(ModelLoadError, match="CUDA GPU"):
        await model.load()

"""view_image: image attachments found and loaded by tools/attachments.py (no model), and the
agent tool showing one to a multimodal model (a scripted fake, and the tiny random Gemma 3)."""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from agent import AgentSettings, ask
from agent.context import AgentContext
from agent.errors import ToolCallError, ToolCallRefused
from agent.models import ImagePart, Message
from agent.schemas import ToolCall
from agent.toolkit import run_tool_call
from tests._record_fixtures import MemorySource, patient
from tests.agent_fixtures import (
    DEBORA,
    LUIGI,
    ScriptedChatModel,
    agent_store,  # noqa: F401
    answer,
    plan_first,
    tools,
)
from tests.models_fixtures import tiny_gemma3_dir  # noqa: F401  (fixture)
from tools import (
    AttachmentError,
    AttachmentRefused,
    image_attachments,
    load_image,
)
from tools.attachments import MAX_SIDE
from tools.store import RecordStore

pytestmark = pytest.mark.asyncio

MEDIA = "Media/6dba9b81-4574-586a-b493-f89f20a2bac4"
REPORT = "DiagnosticReport/706baa89-69df-5ae5-b37e-052ae66ef6ea"


@pytest.fixture
def store(agent_store: Path) -> RecordStore:  # noqa: F811
    return RecordStore(agent_store)


def _encoded(size: tuple[int, int], fmt: str = "PNG", mode: str = "RGB") -> bytes:
    color: Any = 30000 if mode.startswith("I") else 0 if mode == "P" else (30, 60, 90)
    img = Image.new(mode, size, color)
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


def _media(
    mid: str,
    *,
    data: bytes | None = None,
    url: str | None = None,
    content_type: str = "image/png",
    pid: str = "p1",
    **att: Any,
) -> dict[str, Any]:
    content: dict[str, Any] = {"contentType": content_type, "title": f"image {mid}", **att}
    if data is not None:
        content["data"] = base64.b64encode(data).decode("ascii")
    if url is not None:
        content["url"] = url
    return {
        "resourceType": "Media",
        "id": mid,
        "status": "completed",
        "subject": {"reference": f"Patient/{pid}"},
        "createdDateTime": "2024-03-04T10:00:00Z",
        "content": content,
    }


def _binary(bid: str, data: bytes, context: str | None) -> dict[str, Any]:
    r: dict[str, Any] = {
        "resourceType": "Binary",
        "id": bid,
        "contentType": "image/png",
        "data": base64.b64encode(data).decode("ascii"),
    }
    if context:
        r["securityContext"] = {"reference": context}
    return r


class CountingSource(MemorySource):
    """MemorySource that records every read (to prove nothing external is fetched)."""

    def __init__(self, records: dict[str, list[dict[str, Any]]]) -> None:
        super().__init__(records)
        self.reads: list[str] = []

    async def read(self, reference: str) -> dict[str, Any]:
        self.reads.append(reference)
        return await super().read(reference)


def _pixels(data: bytes) -> tuple[str, tuple[int, int]]:
    with Image.open(io.BytesIO(data)) as img:
        return str(img.format), img.size


# --------------------------------------------------------------------------- tools level


async def test_luigi_image_attachments_found_and_loaded(store: RecordStore) -> None:
    record = await store.everything(LUIGI)
    found = {a.reference: a for a in image_attachments(record, LUIGI)}
    assert set(found) == {MEDIA, REPORT}
    media, report = found[MEDIA], found[REPORT]
    assert (media.path, media.content_type) == ("content", "image/png")
    assert media.title == "Chest X-ray, lateral view (synthetic image)"
    assert (report.path, report.title) == (
        "presentedForm[0]",
        "Chest X-ray, PA view (synthetic image)",
    )
    assert media.inline
    assert report.inline
    assert media.url is None
    assert media.date
    assert media.date[:4] >= "2015"
    assert media.date == report.date
    assert media.size
    assert media.size > 100
    # another patient's record lists nothing of Luigi's
    assert image_attachments(record, DEBORA) == []

    by_ref = {f"{r['resourceType']}/{r['id']}": r for r in record}
    img = await load_image(store, by_ref[MEDIA], "content", patient_id=LUIGI)
    assert img.mime_type == "image/png"
    assert img.source_format == "PNG"
    assert _pixels(img.data) == ("PNG", (img.width, img.height))
    assert (img.original_width, img.original_height) == (56, 72)  # Media.width / height
    assert not img.downscaled
    assert img.original_bytes == media.size
    pa = await load_image(store, by_ref[REPORT], None, patient_id=LUIGI)
    assert pa.attachment.path == "presentedForm[0]"
    assert max(pa.width, pa.height) <= MAX_SIDE
    with pytest.raises(AttachmentRefused, match="does not belong"):
        await load_image(store, by_ref[MEDIA], patient_id=DEBORA)


@pytest.mark.parametrize(
    ("size", "fmt", "mode", "mime", "expected"),
    [
        ((2000, 1000), "JPEG", "RGB", "image/jpeg", (896, 448)),
        ((1200, 3000), "PNG", "RGBA", "image/png", (358, 896)),
        ((1000, 900), "GIF", "P", "image/png", (896, 806)),
        ((1000, 100), "WEBP", "RGB", "image/png", (896, 90)),
        ((50, 40), "PNG", "I;16", "image/png", (50, 40)),
    ],
)
async def test_large_images_are_downscaled(
    size: tuple[int, int], fmt: str, mode: str, mime: str, expected: tuple[int, int]
) -> None:
    data = _encoded(size, fmt, mode)
    ctype = {"JPEG": "image/jpeg", "PNG": "image/png", "GIF": "image/gif", "WEBP": "image/webp"}
    media = _media("m1", data=data, content_type=ctype[fmt])
    src = MemorySource({"p1": [patient(), media]})
    img = await load_image(src, media, patient_id="p1")
    assert img.mime_type == mime
    assert (img.width, img.height) == expected
    assert _pixels(img.data)[1] == expected
    assert img.downscaled == (size != expected)
    assert img.source_format == fmt


async def test_binary_urls_only_within_the_patient() -> None:
    png = _encoded((30, 20))
    ok = _media("m-ok", url="Binary/b-ok")
    no_ctx = _media("m-noctx", url="Binary/b-noctx")
    by_resource = _media("m-res", url="Binary/b-res")
    foreign = _media("m-foreign", url="Binary/b-foreign")
    external = _media("m-ext", url="https://images.example.org/x.png")
    urn = _media("m-urn", url="urn:uuid:0b1e0c52-1f3a-4c55-9f3e-8e1c2d3a4b5c")
    traversal = _media("m-dots", url="Binary/../Patient/p2")
    records = {
        "p1": [patient(), ok, no_ctx, by_resource, foreign, external, urn, traversal],
        "p2": [patient("p2")],
        "binaries": [
            _binary("b-ok", png, "Patient/p1"),
            _binary("b-noctx", png, None),
            _binary("b-res", png, "Media/m-res"),
            _binary("b-foreign", png, "Patient/p2"),
        ],
    }
    src = CountingSource(records)
    for media in (ok, no_ctx, by_resource):
        img = await load_image(src, media, patient_id="p1", record_refs={"Media/m-res"})
        assert (img.width, img.height) == (30, 20)
        assert not img.attachment.inline
    assert src.reads == ["Binary/b-ok", "Binary/b-noctx", "Binary/b-res"]
    with pytest.raises(AttachmentRefused, match="another security context"):
        await load_image(src, foreign, patient_id="p1")
    src.reads.clear()
    for media in (external, urn, traversal):
        with pytest.raises(AttachmentRefused, match="only relative Binary/<id>"):
            await load_image(src, media, patient_id="p1")
    assert src.reads == []  # nothing outside the source was fetched


async def test_refusals_and_limits() -> None:
    src = MemorySource({"p1": [patient()]})
    big = _media("m-big", data=_encoded((20, 20)), size=11 * 1024 * 1024)
    with pytest.raises(AttachmentError, match="bytes; images over"):
        await load_image(src, big, patient_id="p1")
    with pytest.raises(AttachmentError, match="images over 100 bytes"):
        await load_image(
            src, _media("m", data=_encoded((200, 200))), patient_id="p1", max_bytes=100
        )
    dicom = _media("m-dcm", data=b"\0" * 200, content_type="application/dicom")
    with pytest.raises(AttachmentError, match="DICOM is not supported"):
        await load_image(src, dicom, patient_id="p1")
    tiff = _media("m-tif", data=_encoded((10, 10), "TIFF"), content_type="image/tiff")
    with pytest.raises(AttachmentError, match="only PNG, JPEG, GIF and WebP"):
        await load_image(src, tiff, patient_id="p1")
    fake = _media("m-fake", data=b"this is not an image at all", content_type="image/png")
    with pytest.raises(AttachmentError, match="not a readable image"):
        await load_image(src, fake, patient_id="p1")
    bmp = _media("m-bmp", data=_encoded((10, 10), "BMP"), content_type="image/png")
    with pytest.raises(AttachmentError, match="decodes as BMP"):
        await load_image(src, bmp, patient_id="p1")
    note = {**_media("m-txt"), "content": {"contentType": "text/plain", "data": "aGk="}}
    with pytest.raises(AttachmentError, match="no image attachment"):
        await load_image(src, note, patient_id="p1")
    listed = image_attachments([patient(), dicom, tiff, note])
    assert [(a.reference, a.dicom, a.supported) for a in listed] == [
        ("Media/m-dcm", True, False),
        ("Media/m-tif", False, False),
    ]


# --------------------------------------------------------------------------- the agent tool


def _ctx(source: Any, model: Any, pid: str = LUIGI, multimodal: bool = True) -> AgentContext:
    return AgentContext(patient_id=pid, source=source, model=model, multimodal=multimodal)


def _reading(images_seen: list[ImagePart]) -> Any:
    def step(messages: Sequence[Message]) -> str:
        images_seen.extend(img for m in messages for img in m.images)
        return "Lateral chest radiograph; no focal opacity is visible. Unsure about detail."

    return step


async def test_view_image_tool_on_luigi(store: RecordStore) -> None:
    seen: list[ImagePart] = []
    model = ScriptedChatModel([_reading(seen)])
    ctx = _ctx(store, model)
    result = await run_tool_call(ctx, ToolCall(tool="view_image", args={"handle": MEDIA}))
    (line,) = result.lines
    (handle,) = result.seen
    assert line.startswith(f"{handle} image ({MEDIA}, ")
    assert "Chest X-ray, lateral view (synthetic image)" in line
    assert "model's reading, not a record fact" in line
    assert "no focal opacity" in line
    # the evidence item keeps the record's own line; the reading is no verifier support
    assert "stats" not in result.seen[handle]
    assert "no focal opacity" not in result.seen[handle]["item"]["text"]
    assert result.usage
    assert result.usage[0]["node"] == "view_image"
    assert result.usage[0]["calls"] == 1
    (img,) = seen
    data, mime = img.to_bytes()
    assert mime == "image/png"
    assert _pixels(data) == ("PNG", (56, 72))
    # the prompt is the fixed VIEW_IMAGE prompt, with the label fenced as data
    prompt = model.calls[0][-1].text
    assert "Describe only what is" in prompt
    assert "RECORD DATA" in prompt
    # the same image by its handle
    again = await run_tool_call(
        _ctx(store, ScriptedChatModel([_reading([])])),
        {"tool": "view_image", "args": {"handle": handle}},
    )
    assert again.lines[0].startswith(f"{handle} image ({MEDIA}, ")


async def test_view_image_refusals(store: RecordStore) -> None:
    model = ScriptedChatModel([])  # never called
    debora = await store.everything(DEBORA)
    foreign = next(r for r in debora if r["resourceType"] == "Observation")
    cases: list[tuple[dict[str, str], type[Exception], str]] = [
        ({"handle": f"Observation/{foreign['id']}"}, ToolCallRefused, "no such resource"),
        ({"handle": f"Patient/{DEBORA}"}, ToolCallRefused, "another patient"),
        ({"handle": "E99999"}, ToolCallError, "not an evidence handle"),
        ({"handle": "E1"}, ToolCallError, "is not an image"),
        ({"handle": ""}, ToolCallError, "needs handle"),
        ({"handle": "E1", "url": "https://x.example/a.png"}, ToolCallRefused, "not allowed"),
    ]
    for args, exc, message in cases:
        with pytest.raises(exc, match=message):
            await run_tool_call(_ctx(store, model), ToolCall(tool="view_image", args=args))
    with pytest.raises(ToolCallError, match="not available"):
        await run_tool_call(
            _ctx(store, model, multimodal=False),
            ToolCall(tool="view_image", args={"handle": MEDIA}),
        )
    assert model.calls == []


async def test_view_image_external_url_refused() -> None:
    external = _media("m-ext", url="https://images.example.org/x.png")
    dicom = _media("m-dcm", data=b"\0" * 64, content_type="application/dicom")
    src = CountingSource({"p1": [patient(), external, dicom]})
    model = ScriptedChatModel([])
    ctx = _ctx(src, model, pid="p1")
    with pytest.raises(ToolCallRefused, match="only relative Binary/<id>"):
        await run_tool_call(ctx, ToolCall(tool="view_image", args={"handle": "Media/m-ext"}))
    with pytest.raises(ToolCallError, match="DICOM"):
        await run_tool_call(ctx, ToolCall(tool="view_image", args={"handle": "Media/m-dcm"}))
    assert model.calls == []
    assert src.reads == []


def _image_handle(messages: Sequence[Message]) -> str:
    text = messages[-1].text
    m = re.search(r"\b(E\d+) Image [^\n]*lateral view", text)
    assert m, text
    return m.group(1)


async def test_graph_plan_calls_view_image(store: RecordStore) -> None:
    seen: list[ImagePart] = []
    handles: list[str] = []

    def view(messages: Sequence[Message]) -> dict[str, Any]:
        handles.append(_image_handle(messages))
        return tools(("view_image", {"handle": handles[0]}))

    def final(messages: Sequence[Message]) -> dict[str, Any]:
        assert "model's reading, not a record fact" in messages[-1].text
        return answer(("The lateral chest X-ray image shows no focal opacity.", [handles[0]]))

    model = ScriptedChatModel(
        [tools(("record_summary", {"section": "images"})), view, _reading(seen), final]
    )
    a = await ask(
        "What does the chest X-ray image show?",
        patient_id=LUIGI,
        source=store,
        model=model,
        multimodal=True,
        settings=plan_first(),
    )
    (img,) = seen
    data, mime = img.to_bytes()
    fmt, size = _pixels(data)
    assert mime in ("image/png", "image/jpeg")
    assert fmt in ("PNG", "JPEG")
    assert max(size) <= MAX_SIDE
    assert [s.text for s in a.sentences] == [
        "The lateral chest X-ray image shows no focal opacity."
    ]
    assert a.sentences[0].references == [MEDIA]
    assert a.usage.model_calls == 4  # plan, plan, the image reading, plan
    assert a.usage.tool_calls >= 2  # the model's record_summary and view_image (+ prefetch)


# --------------------------------------------------------------------------- a real model


class _ImagesToRealModel:
    """Plan/compose steps from a script; a call with an image goes to a real model."""

    name = "routing"

    def __init__(self, script: ScriptedChatModel, real: Any) -> None:
        self.script, self.real = script, real
        self.image_calls: list[Any] = []

    async def generate(self, messages: Sequence[Message], **kw: Any) -> Any:
        if any(m.images for m in messages):
            result = await self.real.generate(messages, **kw)
            self.image_calls.append(result)
            return result
        return await self.script.generate(messages, **kw)

    def stream(self, *a: Any, **kw: Any) -> Any:
        raise NotImplementedError

    async def aclose(self) -> None:
        return None


@pytest.mark.slow
@pytest.mark.runtime("transformers")
async def test_view_image_with_tiny_gemma3(store: RecordStore, tiny_gemma3_dir: Path) -> None:  # noqa: F811
    from agent.models import TransformersConfig, build_chat_model

    real = build_chat_model(
        TransformersConfig.model_validate(
            {
                "backend": "transformers",
                "model": str(tiny_gemma3_dir),
                "dtype": "float32",
                "device": "cpu",
                "max_tokens": 12,
                "threads": 2,
            }
        )
    )
    try:
        result = await run_tool_call(
            AgentContext(
                patient_id=LUIGI,
                source=store,
                model=real,
                multimodal=True,
                settings=AgentSettings(max_tokens=8),
            ),
            ToolCall(tool="view_image", args={"handle": REPORT}),
        )
        assert "model's reading, not a record fact" in result.lines[0]
        assert result.usage[0]["completion_tokens"] >= 1
        # image soft tokens are in the prompt: far more than the text alone
        assert result.usage[0]["prompt_tokens"] > 20

        # the whole graph: scripted plan, the image reading by the real model
        script = ScriptedChatModel(
            [
                tools(("view_image", {"handle": MEDIA})),
                answer(("A lateral chest X-ray image is in the record.", [])),
            ],
            repeat=True,
        )
        model = _ImagesToRealModel(script, real)
        a = await ask(
            "Show me the chest X-ray.",
            patient_id=LUIGI,
            source=store,
            model=model,
            multimodal=True,
            # the script starts with a plan (no shortcut to the answer after the prefetch)
            settings=plan_first(max_tokens=8, max_steps=2, repair=False),
        )
        assert len(model.image_calls) == 1
        assert a.usage.model_calls == len(script.calls) + 1
    finally:
        await real.aclose()

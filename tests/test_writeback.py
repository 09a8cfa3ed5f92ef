"""Draft → approve → write-back (tools.drafts, tools.writeback) on the embedded store and on
a real FHIR server (sekmet-fhir): the resources written, idempotency, edits in the
Provenance, rejection, approval required, and all-or-nothing transactions proven with a
fault injected into the store's own database transaction and with a transaction the real
server refuses."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

import tools.store._store as store_module
from tests.agent_fixtures import CLEOTILDE, DEBORA
from tests.sekmet import SekmetServer, load_bundles, running_sekmet
from tools.brief import build_brief
from tools.drafts import DraftStore, WriteBack, person
from tools.errors import (
    ApprovalRequired,
    DraftConflict,
    DraftError,
    WriteBackFailed,
    WriteRefused,
)
from tools.fhir import FhirClient
from tools.source import RecordWriter, check_transaction
from tools.store import RecordStore
from tools.writeback import (
    AI_PROVENANCE_PROFILE,
    MODEL_IDENTIFIER,
    WRITEBACK_TAG,
    ExtraEntry,
    ModelAgent,
    attachment_text,
)

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fhir_fixtures" / "patients"
DEBORA_FILE = FIXTURES / f"Debora_Nazario_{DEBORA}.json"
CLEO_FILE = FIXTURES / f"Cleotilde_Ruecker_{CLEOTILDE}.json"
MODEL = ModelAgent(name="scripted-test-model", version="1", deployment="test", config_hash="c0ffee")


@pytest.fixture(scope="module")
def store_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("writeback") / "records.db"
    with RecordStore(path) as store:
        assert store.import_paths([DEBORA_FILE, CLEO_FILE]).ok
    return path


@pytest.fixture
def store(store_path: Path) -> Iterator[RecordStore]:
    with RecordStore(store_path) as s:
        yield s


@pytest.fixture
def desk(store: RecordStore, tmp_path: Path) -> Iterator[WriteBack]:
    drafts = DraftStore(tmp_path / "drafts.db")
    yield WriteBack(drafts, store)
    drafts.close()


async def _brief_draft(desk: WriteBack, patient_id: str, **kw: Any) -> Any:
    record = await desk.source.everything(patient_id)
    brief = build_brief(record)
    return await desk.create_draft(
        patient_id=patient_id,
        markdown=brief.markdown,
        citations=brief.citations,
        model=MODEL,
        extractive=True,
        created_by="test",
        **kw,
    )


def _qr(patient_id: str) -> dict[str, Any]:
    return {
        "resourceType": "QuestionnaireResponse",
        "status": "completed",
        "subject": {"reference": f"Patient/{patient_id}"},
        "authored": "2025-01-02T10:00:00Z",
        "item": [{"linkId": "reason", "answer": [{"valueString": "tired all the time"}]}],
    }


# --------------------------------------------------------------------------- the store


async def test_approve_writes_document_provenance_and_device(
    desk: WriteBack, store: RecordStore
) -> None:
    assert isinstance(store, RecordWriter)
    draft = await _brief_draft(desk, DEBORA, appointment=None)
    assert draft.status == "draft"
    assert draft.citations
    assert all(c.version == "1" for c in draft.citations), draft.citations[:3]
    before = store.count()

    result = await desk.approve(draft.id, "Practitioner/dr-1")
    assert result.created
    assert result.checked
    assert [r.split("/")[0] for r in result.written] == [
        "Device",
        "DocumentReference",
        "Provenance",
    ]
    assert store.count() == before + 3

    doc = await store.read(result.document or "")
    assert doc["subject"] == {"reference": f"Patient/{DEBORA}"}
    assert {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
            "code": "AIAST", "display": "Artificial Intelligence asserted"} in doc["meta"]["security"]  # fmt: skip
    assert attachment_text(doc) == draft.markdown
    assert doc["content"][0]["attachment"]["contentType"].startswith("text/markdown")
    assert doc["author"][0]["reference"] == result.written[0]
    assert doc["authenticator"]["reference"] == "Practitioner/dr-1"

    prov = await store.read(result.provenance or "")
    assert prov["meta"]["profile"] == [AI_PROVENANCE_PROFILE]
    assert prov["target"] == [{"reference": result.document}]
    agents = {a["type"]["coding"][0]["code"]: a["who"] for a in prov["agent"]}
    assert agents["author"]["reference"] == result.written[0]
    assert agents["verifier"]["reference"] == "Practitioner/dr-1"
    sources = [e["what"]["reference"] for e in prov["entity"] if e["role"] == "source"]
    assert sources == [f"{c}/_history/1" for c in (c.reference for c in draft.citations)]
    assert not any(e["role"] == "revision" for e in prov["entity"])
    assert "contained" not in prov

    device = await store.read(result.written[0])
    assert device["deviceName"][0]["name"] == "scripted-test-model"
    assert {"type": {"text": "deployment-config-hash"}, "value": "c0ffee"} in device["version"]

    stored = await desk.get(draft.id)
    assert stored.status == "written"
    assert stored.written == result.written
    assert [f.kind for f in stored.feedback] == ["approved"]

    # a repeated approval writes nothing and returns the same references
    again = await desk.approve(draft.id, "Practitioner/dr-1")
    assert again.written == result.written
    assert not again.created
    assert store.count() == before + 3
    # the document is found by its idempotency tag
    found = await store.search(
        "DocumentReference", {"_tag": f"{WRITEBACK_TAG}|{stored.write_key}.document"}
    )
    assert [f["id"] for f in found] == [result.document.split("/")[1]]  # type: ignore[union-attr]

    # a second draft reuses the model's Device (conditional create by identifier)
    second = await _brief_draft(desk, DEBORA)
    other = await desk.approve(second.id, "Practitioner/dr-1")
    assert other.written[0] == result.written[0]
    assert other.document != result.document
    assert store.count() == before + 5


async def test_edits_are_recorded_and_in_the_provenance(
    desk: WriteBack, store: RecordStore
) -> None:
    draft = await _brief_draft(desk, DEBORA)
    edited = draft.markdown.replace("# Pre-visit brief", "# Pre-visit brief (reviewed)")
    edited += "\n\nReviewed with the patient; see the medication list.\n"
    result = await desk.approve(draft.id, person("dr-who@hospital", display="Dr Who"), edits=edited)
    assert result.edited
    stored = await desk.get(draft.id)
    assert stored.approved_markdown == edited
    assert stored.markdown == draft.markdown  # the model's text is kept
    assert "+# Pre-visit brief (reviewed)" in stored.diff
    assert "-# Pre-visit brief" in stored.diff
    assert [f.kind for f in stored.feedback] == ["edited"]

    doc = await store.read(result.document or "")
    assert attachment_text(doc) == edited
    assert doc["authenticator"]["identifier"]["value"] == "dr-who@hospital"
    prov = await store.read(result.provenance or "")
    (original,) = prov["contained"]
    assert original["id"] == "model-draft"
    assert original["status"] == "superseded"
    text = base64.b64decode(original["content"][0]["attachment"]["data"]).decode()
    assert text == draft.markdown
    assert {"role": "revision", "what": {"reference": "#model-draft"}} in prov["entity"]

    # approving again with the same edits: same references; with other text: refused
    assert (await desk.approve(draft.id, "dr-who@hospital", edits=edited)).written == result.written
    assert (await desk.approve(draft.id, "dr-who@hospital")).written == result.written
    with pytest.raises(DraftConflict, match="already approved and written"):
        await desk.approve(draft.id, "dr-who@hospital", edits=edited + "more")


async def test_reject_and_approval_required(desk: WriteBack, store: RecordStore) -> None:
    draft = await _brief_draft(desk, CLEOTILDE)
    before = store.count()
    with pytest.raises(ApprovalRequired, match="has not been approved"):
        await desk.write(draft.id)
    with pytest.raises(DraftError, match="needs a reason"):
        await desk.reject(draft.id, "  ")
    rejected = await desk.reject(
        draft.id, "Lists a medication she stopped in 2019", who="Practitioner/dr-2"
    )
    assert rejected.status == "rejected"
    assert rejected.feedback[-1].kind == "rejected"
    assert rejected.feedback[-1].reason == "Lists a medication she stopped in 2019"
    assert rejected.feedback[-1].who == "Practitioner/dr-2"
    with pytest.raises(DraftConflict, match="was rejected by Practitioner/dr-2"):
        await desk.approve(draft.id, "Practitioner/dr-2")
    with pytest.raises(DraftConflict, match="rejected"):
        await desk.write(draft.id)
    assert store.count() == before
    # an empty edit is not an approval
    other = await _brief_draft(desk, CLEOTILDE)
    with pytest.raises(DraftError, match="empty"):
        await desk.approve(other.id, "Practitioner/dr-2", edits="   ")
    assert (await desk.get(other.id)).status == "draft"


async def test_failed_transaction_keeps_nothing_and_retry_writes_once(
    desk: WriteBack, store: RecordStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A FAULT INJECTOR inside the store's database transaction: the rows are inserted,
    then the database fails; the transaction must roll back every one of them."""
    draft = await _brief_draft(desk, DEBORA)
    before = store.type_counts()
    real_write = store_module._write
    calls = {"n": 0}

    def failing_write(conn: Any, rows: Any, now: str, on_chunk: Any) -> Any:
        counts = real_write(conn, rows, now, on_chunk)  # the rows are in the transaction
        calls["n"] += 1
        raise OperationalError("INSERT", {}, Exception("disk I/O error (injected)"))
        return counts

    monkeypatch.setattr(store_module, "_write", failing_write)
    with pytest.raises(WriteBackFailed, match="nothing of it was kept") as err:
        await desk.approve(draft.id, "Practitioner/dr-1")
    assert calls["n"] == 1
    assert "injected" in str(err.value)
    assert store.type_counts() == before
    stored = await desk.get(draft.id)
    assert stored.status == "approved"  # the approval is kept; the write is not
    assert stored.error
    assert "injected" in stored.error

    monkeypatch.setattr(store_module, "_write", real_write)
    result = await desk.approve(draft.id, "Practitioner/dr-1")
    assert result.created
    counts = store.type_counts()
    assert counts["DocumentReference"] == before.get("DocumentReference", 0) + 1
    assert counts["Provenance"] == before.get("Provenance", 0) + 1
    assert (await desk.get(draft.id)).error is None


async def test_extras_written_in_the_same_transaction(desk: WriteBack, store: RecordStore) -> None:
    qr = ExtraEntry(resource=_qr(DEBORA), label="intake answers")
    draft = await desk.create_draft(
        patient_id=DEBORA,
        kind="intake",
        markdown="# Intake brief\n- Reports being tired all the time [QuestionnaireResponse#reason]\n",
        citations=[qr.full_url + "#reason", f"Patient/{DEBORA}"],
        extras=[qr],
        model=MODEL,
    )
    assert [c.reference for c in draft.citations] == [qr.full_url, f"Patient/{DEBORA}"]
    result = await desk.approve(draft.id, "Practitioner/dr-1")
    assert [r.split("/")[0] for r in result.written] == [
        "Device", "DocumentReference", "Provenance", "QuestionnaireResponse"
    ]  # fmt: skip
    written_qr = result.extras[qr.full_url]
    assert written_qr == result.written[3]
    stored = await store.read(written_qr)
    assert stored["item"][0]["answer"][0]["valueString"] == "tired all the time"
    prov = await store.read(result.provenance or "")
    assert {"role": "source", "what": {"reference": written_qr}} in prov["entity"]
    doc = await store.read(result.document or "")
    assert {"reference": written_qr, "display": "intake answers"} in doc["context"]["related"]
    assert (await desk.approve(draft.id, "Practitioner/dr-1")).written == result.written


async def test_concurrent_approvals_write_once(desk: WriteBack, store: RecordStore) -> None:
    draft = await _brief_draft(desk, CLEOTILDE)
    before = store.count()
    results = await asyncio.gather(
        *(desk.approve(draft.id, "Practitioner/dr-3") for _ in range(3)), return_exceptions=True
    )
    written = [r for r in results if not isinstance(r, BaseException)]
    assert written, results
    assert all(r.written == written[0].written for r in written)
    assert store.count() == before + 2  # document + provenance (the Device exists already)


async def test_transaction_refused_in_code(store: RecordStore) -> None:
    doc = {
        "resourceType": "DocumentReference",
        "status": "current",
        "subject": {"reference": f"Patient/{CLEOTILDE}"},
        "content": [{"attachment": {"contentType": "text/plain", "data": "aGk="}}],
    }
    bundle = {"resourceType": "Bundle", "type": "transaction",
              "entry": [{"resource": doc, "request": {"method": "POST", "url": "DocumentReference"}}]}  # fmt: skip
    with pytest.raises(WriteRefused, match=f"names Patient/{CLEOTILDE}"):
        await store.transaction(bundle, patient_id=DEBORA)
    put = {**bundle, "entry": [{**bundle["entry"][0], "request": {"method": "PUT", "url": "X/1"}}]}
    with pytest.raises(WriteRefused, match="not a POST"):
        check_transaction(put, CLEOTILDE)
    orphan = {"resourceType": "Provenance", "target": [{"reference": "DocumentReference/x"}],
              "recorded": "2025-01-01T00:00:00Z", "agent": [{"who": {"display": "x"}}]}  # fmt: skip
    with pytest.raises(WriteRefused, match="must target entries of the same transaction"):
        check_transaction(
            {
                **bundle,
                "entry": [{"resource": orphan, "request": {"method": "POST", "url": "Provenance"}}],
            },
            CLEOTILDE,
        )


# --------------------------------------------------------------------------- sekmet


@pytest.fixture(scope="module")
def sekmet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SekmetServer, str]]:
    """A fresh sekmet (writes must not leak into the shared one) with Débora loaded."""
    with running_sekmet(tmp_path_factory.mktemp("sekmet-writeback")) as server:
        (loaded,) = load_bundles(server.base_url, [DEBORA_FILE])
        assert loaded.patient_id
        yield server, loaded.patient_id


async def _count(client: FhirClient, rtype: str) -> int:
    return len(await client.search(rtype))


@pytest.mark.integration
async def test_write_back_on_sekmet(sekmet: tuple[SekmetServer, str], tmp_path: Path) -> None:
    server, pid = sekmet
    drafts = DraftStore(tmp_path / "drafts.db")
    async with FhirClient.from_url(server.base_url) as client:
        desk = WriteBack(drafts, client)
        draft = await _brief_draft(desk, pid)
        assert all(c.version for c in draft.citations)
        edited = draft.markdown + "\nSeen and agreed.\n"
        result = await desk.approve(draft.id, "Practitioner/dr-1", edits=edited)
        assert result.created
        assert [r.split("/")[0] for r in result.written] == [
            "Device",
            "DocumentReference",
            "Provenance",
        ]
        doc = await client.read(result.document or "")
        assert attachment_text(doc) == edited
        assert doc["subject"]["reference"] == f"Patient/{pid}"
        assert doc["meta"]["security"][0]["code"] == "AIAST"
        prov = await client.read(result.provenance or "")
        assert prov["target"][0]["reference"] == result.document
        assert prov["contained"][0]["id"] == "model-draft"
        assert any(e["role"] == "revision" for e in prov["entity"])
        sources = [e["what"]["reference"] for e in prov["entity"] if e["role"] == "source"]
        assert sources
        assert all("/_history/" in s for s in sources)

        docs = await _count(client, "DocumentReference")
        provs = await _count(client, "Provenance")
        again = await desk.approve(draft.id, "Practitioner/dr-1", edits=edited)
        assert again.written == result.written
        assert not again.created
        # the transaction itself is idempotent on the server (conditional creates), not
        # only the draft's state: resend the same approval's bundle directly
        stored, rev = await drafts.get(draft.id)
        stored.status = "approved"
        assert await drafts.replace(stored, rev)
        third = await desk.approve(draft.id, "Practitioner/dr-1")
        assert third.written == result.written
        assert not third.created
        assert await _count(client, "DocumentReference") == docs
        assert await _count(client, "Provenance") == provs
        models = await client.search(
            "Device", {"identifier": f"{MODEL_IDENTIFIER}|{MODEL.identifier}"}
        )
        assert [f"Device/{d['id']}" for d in models] == [result.written[0]]
    drafts.close()


@pytest.mark.integration
async def test_failed_transaction_on_sekmet_keeps_nothing(
    sekmet: tuple[SekmetServer, str], tmp_path: Path
) -> None:
    """The real server refuses the last entry (a conditional reference that matches
    nothing): it must roll back the Device, the document and the Provenance too."""
    server, pid = sekmet
    drafts = DraftStore(tmp_path / "drafts.db")
    async with FhirClient.from_url(server.base_url) as client:
        desk = WriteBack(drafts, client)
        bad = _qr(pid)
        bad["author"] = {"reference": "Practitioner?identifier=urn:test|nobody"}
        draft = await desk.create_draft(
            patient_id=pid,
            kind="intake",
            markdown="# Intake brief\n",
            citations=[f"Patient/{pid}"],
            extras=[ExtraEntry(resource=bad)],
            model=ModelAgent(name="another-model", config_hash="feed"),
        )
        before = {t: await _count(client, t) for t in ("Device", "DocumentReference", "Provenance", "QuestionnaireResponse")}  # fmt: skip
        with pytest.raises(WriteBackFailed, match="rolled back"):
            await desk.approve(draft.id, "Practitioner/dr-1")
        after = {t: await _count(client, t) for t in before}
        assert after == before
        stored = await desk.get(draft.id)
        assert stored.status == "approved"
        assert stored.error
    drafts.close()

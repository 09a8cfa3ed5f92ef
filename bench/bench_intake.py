"""Benchmark: the pre-visit intake on simulated patients built from the shared Synthea
records (``../shared/synthea``), with scripted answers that plant facts.

For every patient: the interview runs through the real graph and the encrypted
checkpointer (SQLite in a temporary directory), rules-only answer reading (no model;
``[intake] model_parsing`` off), over an in-memory writable copy of the record. The
scripted patient consents, answers "hmm" to the onset question once (a follow-up), and
plants:

- **stopped medication**: "no, I stopped taking it a few weeks ago" to the first
  current medication (when the record has one) → expected ``medication-stopped``;
- **new allergy**: a drug the record lists no allergy to ("latex, I get a rash" if the
  record has a penicillin allergy, else "penicillin, I got hives") → ``allergy-not-on-file``;
- **new symptom**: "yes" to new problems, "a painful swollen left knee" →
  ``condition-not-on-file``; and, when an abnormal lab is asked about, "yes" and
  "feeling dizzy in the mornings" to the first one → ``symptom-matches-lab``.

Every other answer is neutral (confirms allergies, still takes the other medications,
no side effects, "about the same", "I don't know" to the weight).

Measured per patient, then summed or as medians: questions asked (follow-ups included)
and planned; planted facts that reach the brief (the planted words in a brief sentence
that cites the answer ``QuestionnaireResponse/ID#linkId``); discrepancy recall and
precision against the planted ones (by kind and linkId; any other discrepancy found
counts against precision); citation precision of the brief (sentences kept by the
verifier's reported-answer check over all sentences written); time per turn (the
answer's graph step and checkpoint) and to finish (QR, discrepancies, brief).

Run: ``.venv/bin/python bench/bench_intake.py [--limit N] [--json] [--config C]``. With
``--config configs/cpu-demo.toml`` the deployment's model also reads what the rules cannot
and rephrases every question (``model_parsing`` and ``model_rephrase`` on), so time per turn
includes the model calls.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agent.intake import IntakeRunner, model_reader, model_rephraser, qr_id_for  # noqa: E402
from agent.threads import open_checkpointer  # noqa: E402
from tests._record_fixtures import bundle_files, load_record  # noqa: E402
from tools.config import IntakeConfig  # noqa: E402
from tools.errors import PatientNotFound, ResourceNotFound  # noqa: E402

TODAY = dt.date(2026, 12, 3)
STOPPED = "no, I stopped taking it a few weeks ago"
SYMPTOM = "a painful swollen left knee"
LAB_SYMPTOM = "feeling dizzy in the mornings"


class MemoryRecord:
    """One patient's record in memory, writable (the Consent a "yes" writes)."""

    label = "memory"

    def __init__(self, pid: str, resources: list[dict[str, Any]]) -> None:
        self.pid = pid
        self.resources = resources
        self.written: list[dict[str, Any]] = []

    async def everything(
        self, patient_id: str, *, since: str | None = None
    ) -> list[dict[str, Any]]:
        if patient_id != self.pid:
            raise PatientNotFound(patient_id, self.label)
        return [*self.resources, *self.written]

    async def read(self, reference: str) -> dict[str, Any]:
        for r in [*self.resources, *self.written]:
            if f"{r['resourceType']}/{r.get('id')}" == reference:
                return r
        raise ResourceNotFound(reference, self.label)

    async def search(self, resource_type: str, params: Any = None) -> list[dict[str, Any]]:
        return [r for r in [*self.resources, *self.written] if r["resourceType"] == resource_type]

    async def transaction(self, bundle: dict[str, Any], *, patient_id: str) -> dict[str, Any]:
        out = []
        for n, entry in enumerate(bundle["entry"]):
            resource = dict(entry["resource"], id=f"w{len(self.written)}-{n}")
            self.written.append(resource)
            out.append({"response": {"status": "201 Created", "location": f"{resource['resourceType']}/{resource['id']}/_history/1"}})  # fmt: skip
        return {"resourceType": "Bundle", "type": "transaction-response", "entry": out}

    async def patients(self) -> list[Any]:
        return []

    async def aclose(self) -> None:
        return None


def _allergy_words(resources: list[dict[str, Any]]) -> str:
    text = json.dumps([r for r in resources if r["resourceType"] == "AllergyIntolerance"]).lower()
    return "latex, I get a rash" if "penicillin" in text else "penicillin, I got hives"


async def _patient(path: Path, saver: Any, model: Any = None) -> dict[str, Any] | None:
    pid, resources = load_record(path)
    source = MemoryRecord(pid, resources)
    helpers: dict[str, Any] = {}
    if model is not None:
        helpers = {"reader": model_reader(model, today=TODAY), "rephraser": model_rephraser(model)}
    runner = IntakeRunner(source, saver, IntakeConfig(), today=TODAY, **helpers)
    allergy = _allergy_words(resources)
    planted: dict[str, tuple[str, str]] = {}  # kind → (link id, words)
    expected: set[tuple[str, str]] = set()
    turn_ms: list[float] = []
    onset_asked = 0
    first_lab: str | None = None
    first_med: str | None = None
    turn = await runner.start(pid, reason="follow-up visit")
    asked = 0
    while turn.status == "question":
        q = turn.question or {}
        lid = str(q["link_id"])
        if lid == "consent":
            words = "yes"
        elif lid == "reason":
            words = "my regular check-up, and my knee hurts"
        elif lid == "onset":
            onset_asked += 1
            words = "hmm" if onset_asked == 1 else "2 weeks ago"
        elif lid == "severity":
            words = "moderate"
        elif lid == "course":
            words = "about the same"
        elif lid == "new-problem":
            words = "yes"
        elif lid == "new-problem-detail":
            words = SYMPTOM
            planted["condition-not-on-file"] = (lid, SYMPTOM)
            expected.add(("condition-not-on-file", "new-problem"))
        elif lid.endswith("-taking"):
            if first_med is None:
                first_med = lid
                words = STOPPED
                planted["medication-stopped"] = (lid, STOPPED)
                expected.add(("medication-stopped", lid))
            else:
                words = "yes"
        elif lid.endswith("-as-prescribed"):
            words = "yes"
        elif lid.endswith("-side-effects"):
            words = "none"
        elif lid == "new-allergy":
            words = "yes"
        elif lid == "new-allergy-detail":
            words = allergy
            planted["allergy-not-on-file"] = (lid, allergy)
            expected.add(("allergy-not-on-file", "new-allergy"))
        elif lid.startswith("allergy-"):
            words = "yes"
        elif lid.startswith("lab-") and not lid.endswith("-detail"):
            if first_lab is None:
                first_lab = lid
                words = "yes"
            else:
                words = "no"
        elif lid.startswith("lab-") and lid.endswith("-detail"):
            words = LAB_SYMPTOM
            planted["symptom-matches-lab"] = (lid, LAB_SYMPTOM)
            expected.add(("symptom-matches-lab", lid.removesuffix("-detail")))
        elif lid.startswith("goal-"):
            words = "making progress"
        elif lid == "weight":
            words = "I don't know"
        else:
            words = "no"
        start = time.perf_counter()
        turn = await runner.answer(turn.thread_id, words)
        turn_ms.append((time.perf_counter() - start) * 1000)
        asked += 1
    start = time.perf_counter()
    outcome = await runner.finish(turn.thread_id)
    finish_ms = (time.perf_counter() - start) * 1000
    found = {(d.kind, d.link_ids[0]) for d in outcome.discrepancies}
    hits = found & expected
    handle = f"QuestionnaireResponse/{qr_id_for(outcome.thread_id)}#"
    reached = 0
    for lid, words in planted.values():
        if any(
            words in s.text and f"{handle}{lid}" in s.references for s in outcome.brief.sentences
        ):
            reached += 1
    written = len(outcome.brief.sentences) + len(outcome.brief.dropped)
    return {
        "patient": path.stem[:40],
        "planned": len(outcome.plan.questions),
        "asked": asked,  # consent and the follow-up included
        "questions": len(outcome.questionnaire_response["item"]),
        "planted": len(planted),
        "reached": reached,
        "expected": len(expected),
        "found": len(found),
        "true_found": len(hits),
        "sentences": written,
        "kept": len(outcome.brief.sentences),
        "turn_ms": statistics.median(turn_ms) if turn_ms else 0.0,
        "finish_ms": finish_ms,
        "unexpected": sorted(f"{k}:{lid}" for k, lid in found - expected),
    }


async def run(limit: int | None, config: str | None = None) -> list[dict[str, Any]]:
    paths = bundle_files()[: limit or None]
    rows: list[dict[str, Any]] = []
    model = None
    if config:
        from agent.config import load_deployment
        from agent.models import build_chat_model

        model = build_chat_model(load_deployment(config).model)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            os.environ.setdefault("FHIR_ASSISTANT_THREADS_KEY", "44" * 32)
            async with open_checkpointer(Path(tmp) / "threads.db") as saver:
                for path in paths:
                    row = await _patient(path, saver, model)
                    if row is not None:
                        rows.append(row)
    finally:
        if model is not None:
            await model.aclose()
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="only the first N patients")
    parser.add_argument("--json", action="store_true", help="print rows as JSON")
    parser.add_argument(
        "--config", default=None, help="a deployment whose model reads answers and rephrases"
    )
    args = parser.parse_args()
    if not bundle_files():
        print("no shared data at ../shared/synthea", file=sys.stderr)
        return 1
    rows = asyncio.run(run(args.limit, args.config))
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    head = f"{'patient':<40} {'plan':>4} {'asked':>5} {'plant':>5} {'brief':>5} {'exp':>3} {'found':>5} {'ok':>3} {'ms/turn':>7} {'finish':>7}"  # fmt: skip
    print(head)
    for r in rows:
        print(f"{r['patient']:<40} {r['planned']:>4} {r['asked']:>5} {r['planted']:>5} {r['reached']:>5} "
              f"{r['expected']:>3} {r['found']:>5} {r['true_found']:>3} {r['turn_ms']:>7.1f} {r['finish_ms']:>7.0f}"
              + (f"  extra: {', '.join(r['unexpected'])}" if r["unexpected"] else ""))  # fmt: skip
    planted = sum(r["planted"] for r in rows)
    reached = sum(r["reached"] for r in rows)
    expected = sum(r["expected"] for r in rows)
    found = sum(r["found"] for r in rows)
    true = sum(r["true_found"] for r in rows)
    kept = sum(r["kept"] for r in rows)
    written = sum(r["sentences"] for r in rows)
    print()
    print(f"patients: {len(rows)}")
    print(f"questions planned: median {statistics.median(r['planned'] for r in rows):.0f}, max {max(r['planned'] for r in rows)}")  # fmt: skip
    print(f"answers given (consent and follow-ups included): median {statistics.median(r['asked'] for r in rows):.0f}, max {max(r['asked'] for r in rows)}")  # fmt: skip
    print(f"planted facts reaching the brief (cited to their answer): {reached}/{planted} = {reached / planted:.1%}")  # fmt: skip
    print(f"discrepancy recall: {true}/{expected} = {true / expected:.1%}; precision: {true}/{found} = {true / found:.1%}")  # fmt: skip
    print(f"brief citation precision (sentences kept by the check): {kept}/{written} = {kept / written:.1%}")  # fmt: skip
    print(f"time per turn: median {statistics.median(r['turn_ms'] for r in rows):.1f} ms; finish (QR + brief): median {statistics.median(r['finish_ms'] for r in rows):.0f} ms")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Agent figures with a real model on the fixture patients: model calls, tokens and
seconds per question, and the share of sentences the verifier dropped.

    .venv/bin/python bench/bench_agent.py [--config configs/cpu-demo.toml] [--brief]

Imports the fixture patients into a temporary store, asks a handful of questions
(no threads), prints one line per question and the totals.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agent.config import load_deployment  # noqa: E402
from agent.models import build_chat_model  # noqa: E402
from agent.run import ask, brief  # noqa: E402
from tools.store import RecordStore  # noqa: E402

DEBORA = "3f96088f-1f08-47cd-b67b-a57e269ce08b"
CLEOTILDE = "4b54bebd-7f01-4a33-8494-0214dc432e46"
LUIGI = "85c63cf3-278e-454c-b5ba-df5889815eb7"
QUESTIONS: list[tuple[str, str]] = [
    (DEBORA, "What is the latest HbA1c and is it above target?"),
    (DEBORA, "Which medication allergies does she have?"),
    (DEBORA, "What do the patient portal notes say?"),
    (CLEOTILDE, "How has her eGFR changed over time?"),
    (LUIGI, "What active problems does he have?"),
]


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default=str(ROOT / "configs" / "cpu-demo.toml"))
    ap.add_argument("--brief", action="store_true", help="also time one model-written brief")
    ap.add_argument("-n", type=int, default=len(QUESTIONS), help="number of questions")
    args = ap.parse_args()
    cfg = load_deployment(args.config)
    model = build_chat_model(cfg.model)
    with tempfile.TemporaryDirectory() as tmp:
        store = RecordStore(Path(tmp) / "records.db")
        store.import_paths([ROOT / "fhir_fixtures" / "patients"])
        t0 = time.perf_counter()
        await model.generate(
            [__import__("agent.models", fromlist=["Message"]).Message.user("hi")], max_tokens=1
        )
        print(f"model load: {time.perf_counter() - t0:.1f} s ({cfg.name})")
        rows = []
        for pid, q in QUESTIONS[: args.n]:
            t = time.perf_counter()
            a = await ask(q, patient_id=pid, source=store, model=model)
            secs = time.perf_counter() - t
            kept, dropped = len(a.sentences), len(a.dropped)
            tokens = a.usage.prompt_tokens + a.usage.completion_tokens
            rows.append((a.usage.model_calls, tokens, secs, kept, dropped))
            print(
                f"{q[:50]:50} calls={a.usage.model_calls} tools={a.usage.tool_calls} "
                f"tokens={a.usage.prompt_tokens}+{a.usage.completion_tokens} {secs:.1f}s "
                f"kept={kept} dropped={dropped}"
            )
            for s in a.sentences:
                print(f"    ✓ {s.text} {s.handles}")
            for d in a.dropped:
                print(f"    ✗ {d.text} {d.handles}: {'; '.join(d.reasons)}")
        n = len(rows)
        if n:
            sent = sum(r[3] + r[4] for r in rows)
            print(
                f"\nper question (n={n}): model calls {sum(r[0] for r in rows) / n:.2f}, "
                f"tokens {sum(r[1] for r in rows) / n:.0f}, seconds {sum(r[2] for r in rows) / n:.1f}; "
                f"sentences dropped by the verifier {sum(r[4] for r in rows)}/{sent}"
                f" ({100 * sum(r[4] for r in rows) / max(sent, 1):.0f} %)"
            )
        if args.brief:
            t = time.perf_counter()
            b = await brief(DEBORA, source=store, model=model)
            verified = sum(s.status == "verified" for s in b.sentences)
            print(
                f"\nbrief: calls={b.usage.model_calls} tokens={b.usage.prompt_tokens}+"
                f"{b.usage.completion_tokens} {time.perf_counter() - t:.1f}s verified={verified} "
                f"extractive={len(b.sentences) - verified} dropped={len(b.dropped)}"
            )
        store.close()
    await model.aclose()


if __name__ == "__main__":
    asyncio.run(main())

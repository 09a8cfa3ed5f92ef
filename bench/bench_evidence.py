"""Benchmark: how compact the evidence and the summary are, and how fast they build.

For every shared Synthea patient (``../shared/synthea``), with the Gemma 3 tokenizer:

- raw: tokens of the patient's bundle file as distributed (pretty-printed FHIR JSON);
- raw compact: tokens of the patient's resources as compact JSON, one per line (what
  ``RecordSource.everything`` returns, serialized with no whitespace);
- evidence: tokens of the full evidence text (``EvidenceSet.render()``);
- summary: tokens of the default budgeted summary;
- ms ev+trends: time to build the evidence and every lab/vital trend;
- ms all: evidence + all trends + the summary (token counting included).

Times are the median of ``--repeat`` runs (the tokenizer is loaded once beforehand).
Run: ``.venv/bin/python bench/bench_evidence.py [--repeat 3] [--json]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests._record_fixtures import bundle_files, load_record  # noqa: E402
from tools._record import view_of  # noqa: E402
from tools.evidence import build_evidence  # noqa: E402
from tools.summary import DEFAULT_BUDGET, summarize  # noqa: E402
from tools.tokens import token_counter  # noqa: E402
from tools.trends import lab_trends  # noqa: E402

AS_OF = dt.date(2026, 1, 1)


def _ms(fn: Any, repeat: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print rows as JSON")
    args = parser.parse_args()
    paths = bundle_files()
    if not paths:
        print("no shared data at ../shared/synthea", file=sys.stderr)
        return 1
    counter = token_counter("auto")
    print(
        f"token counter: {counter.name}{'' if counter.exact else ' (APPROXIMATE)'}; budget {DEFAULT_BUDGET}"
    )
    rows = []
    for path in paths:
        _pid, record = load_record(path)
        raw = counter.count(path.read_text(encoding="utf-8"))
        compact = counter.count(
            "\n".join(json.dumps(r, separators=(",", ":"), ensure_ascii=False) for r in record)
        )

        def ev_trends(record: list[dict[str, Any]] = record) -> Any:
            view = view_of(record)
            return build_evidence(view, as_of=AS_OF), lab_trends(view, as_of=AS_OF), view

        ms_ev, (ev, trends, _view) = _ms(ev_trends, args.repeat)

        def everything(record: list[dict[str, Any]] = record) -> Any:
            view = view_of(record)
            ev = build_evidence(view, as_of=AS_OF)
            tr = lab_trends(view, as_of=AS_OF)
            return summarize(view, as_of=AS_OF, counter=counter, evidence=ev, trends=tr)

        ms_all, summary = _ms(everything, args.repeat)
        evidence_tokens = counter.count(ev.render())
        rows.append(
            {
                "patient": path.name.split("_")[0] + "_" + path.name.split("_")[1],
                "resources": len(record),
                "raw": raw,
                "raw_compact": compact,
                "evidence": evidence_tokens,
                "summary": summary.tokens,
                "x_raw": raw / evidence_tokens,
                "x_compact": compact / evidence_tokens,
                "items": len(ev.items),
                "trends": len(trends),
                "ms_ev_trends": ms_ev,
                "ms_all": ms_all,
            }
        )
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    head = f"{'patient':28} {'res':>5} {'raw':>8} {'compact':>8} {'evidence':>8} {'summary':>7} {'x raw':>6} {'x cmp':>6} {'ms ev+tr':>8} {'ms all':>7}"
    print(head)
    print("-" * len(head))
    for r in rows:
        print(
            f"{r['patient'][:28]:28} {r['resources']:5d} {r['raw']:8d} {r['raw_compact']:8d} {r['evidence']:8d} "
            f"{r['summary']:7d} {r['x_raw']:6.1f} {r['x_compact']:6.1f} {r['ms_ev_trends']:8.1f} {r['ms_all']:7.1f}"
        )
    med = {k: statistics.median(r[k] for r in rows) for k in rows[0] if k != "patient"}
    print("-" * len(head))
    print(
        f"{'median':28} {med['resources']:5.0f} {med['raw']:8.0f} {med['raw_compact']:8.0f} {med['evidence']:8.0f} "
        f"{med['summary']:7.0f} {med['x_raw']:6.1f} {med['x_compact']:6.1f} {med['ms_ev_trends']:8.1f} {med['ms_all']:7.1f}"
    )
    largest = max(rows, key=lambda r: r["raw"])
    print(
        f"largest ({largest['patient']}): evidence + all trends {largest['ms_ev_trends']:.1f} ms, "
        f"+ summary {largest['ms_all']:.1f} ms; max summary {max(r['summary'] for r in rows)} tokens; "
        f"median raw/evidence {statistics.median(r['raw'] for r in rows) / statistics.median(r['evidence'] for r in rows):.1f}x"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

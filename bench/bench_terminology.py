"""Benchmark: how fast the terminology layer reads text and codes.

Measured in one run, side by side:

- load: parse and index the data files (a fresh ``LocalTerminology``);
- mentions: sentences of 20 words (clinical, lay, brand and misspelled wording mixed
  with ordinary words, as an assistant or a patient writes them), scanned by the token
  trie; and the same sentences scanned by one compiled regular expression over every
  name (the obvious alternative), as a ratio;
- concepts_of: codings resolved by code (SNOMED, ICD-10-CM subcodes, RxNorm, LOINC) and
  by display only (local codes);
- implies: recorded x mentioned concept pairs;
- assertion_of: the status of one span per sentence.

Run: ``.venv/bin/python bench/bench_terminology.py [--sentences 20000] [--json]``.
The goal is >= 10,000 sentences/s for mentions on one core.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tools.terminology import (  # noqa: E402
    ICD10CM,
    LOINC,
    RXNORM,
    SNOMED,
    LocalTerminology,
    assertion_of,
    default_terminology,
)
from tools.terminology._text import strip_semantic_tag  # noqa: E402

_FILLER_TEXT = (
    "the patient was seen for a follow up visit and her most recent results were reviewed "
    "with no changes to the plan since last spring she reports feeling well overall but "
    "asks about whether anything should be repeated before the next appointment today"
)
FILLER = _FILLER_TEXT.split(" ")
TERMS = [
    "HbA1c", "a1c", "blood sugar", "kidney function", "high blood pressure", "HTN",
    "heart attack", "flu shot", "water pill", "blood thinner", "Lipitor", "metformin",
    "cholestrol", "diabetis", "hypertention", "metformine", "eGFR", "creatinine",
    "atorvastatin 40 mg", "type 2 diabetes", "CKD stage 3", "colonoscopy", "asthma",
    "lisinopril", "statin", "LDL", "potassium", "tetanus shot", "COPD", "atrial fibrillation",
]  # fmt: skip


def sentences(n: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        words = rng.sample(FILLER, 17)
        for _ in range(2):
            words.insert(rng.randrange(len(words)), rng.choice(TERMS))
        out.append(" ".join(words).capitalize() + ".")
    return out


def _rate(fn: Any, items: list[Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = [fn(x) for x in items]
    return len(items) / (time.perf_counter() - start), result


def regex_baseline(t: LocalTerminology) -> re.Pattern[str]:
    names = {
        strip_semantic_tag(n).lower().lstrip("=")
        for c in t.concepts()
        for n in (c.name, *c.synonyms)
    }
    ordered = sorted(names, key=len, reverse=True)
    return re.compile(r"\b(?:" + "|".join(re.escape(n) for n in ordered) + r")\b", re.IGNORECASE)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=20_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows: dict[str, Any] = {}

    start = time.perf_counter()
    t = LocalTerminology()
    rows["load_ms"] = (time.perf_counter() - start) * 1000
    rows["concepts"] = len(t)
    default_terminology()

    texts = sentences(args.sentences)
    t.mentions(texts[0])  # warm the spelling-correction word list
    rows["mentions_per_s"], found = _rate(t.mentions, texts)
    rows["mentions_found"] = sum(len(f) for f in found)
    rows["mentions_fuzzy"] = sum(m.fuzzy for f in found for m in f)
    pattern = regex_baseline(t)
    rows["regex_per_s"], regex_found = _rate(pattern.findall, texts)
    rows["regex_found"] = sum(len(f) for f in regex_found)
    rows["trie_vs_regex"] = rows["mentions_per_s"] / rows["regex_per_s"]

    codings = [
        (SNOMED, "44054006", None), (ICD10CM, "E11.65", None), (ICD10CM, "N18.30", None),
        (RXNORM, "314231", None), (LOINC, "4548-4", None), (SNOMED, "38341003", None),
    ] * 2000  # fmt: skip
    rows["by_code_per_s"], _ = _rate(lambda c: t.concepts_of(*c), codings)
    displays = [
        ("urn:local", "x1", "Hemoglobin A1c, blood"),
        ("urn:local", "x2", "Essential hypertension (disorder)"),
        ("urn:local", "x3", "Atorvastatin 40 MG Oral Tablet"),
    ] * 2000
    rows["by_display_per_s"], _ = _rate(lambda c: t.concepts_of(*c), displays)

    pairs = [(a, b) for a in t.concepts("drug") for b in t.concepts("drug_class")][:20_000]
    rows["implies_per_s"], _ = _rate(lambda p: t.implies(*p), pairs)

    spans = []
    for text, f in zip(texts, found, strict=True):
        if f:
            spans.append((text, f[0].start, f[0].end))
    rows["assertion_per_s"], _ = _rate(lambda s: assertion_of(*s), spans)

    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"load: {rows['load_ms']:.0f} ms for {rows['concepts']} concepts")
    print(
        f"mentions: {rows['mentions_per_s']:,.0f} sentences/s (20 words; "
        f"{rows['mentions_found']} mentions, {rows['mentions_fuzzy']} by spelling correction)"
    )
    print(
        f"one regex over all names: {rows['regex_per_s']:,.0f} sentences/s "
        f"({rows['regex_found']} matches, no lay-term plurals/variants/misspellings)"
    )
    print(f"trie / regex: {rows['trie_vs_regex']:.2f}x")
    print(
        f"concepts_of by code: {rows['by_code_per_s']:,.0f}/s; by display: {rows['by_display_per_s']:,.0f}/s"
    )
    print(f"implies: {rows['implies_per_s']:,.0f} pairs/s")
    print(f"assertion_of: {rows['assertion_per_s']:,.0f} spans/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The judgeqa question set: hand-written phrasings × judgements computed from the record.

For every patient, every askable question is listed per category (a :class:`Draft`);
then ``n`` are drawn with a seeded RNG, round-robin over the categories, over the
patients within a category (in a seeded order) and over the variants within a category
(the stance, or what is asked about); each is worded with a phrasing and register of
:mod:`bench.judgeqa.phrasing` drawn by the same RNG.

Same data + seed + reference date → byte-identical questions (:func:`dump`).
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.clinqa.concepts import CONDITIONS
from bench.clinqa.record import Record, load_records
from bench.ehrqa.generate import DEFAULT_REFERENCE_DATE, Question, dump
from bench.judgeqa.concepts import ACUTE, CONTROL, DRUGS_J
from bench.judgeqa.phrasing import PHRASES, render
from bench.judgeqa.truth import COMMON, DEFINITIONS, Fact, compute, med_groups

__all__ = [
    "CATEGORIES",
    "DEFAULT_REFERENCE_DATE",
    "Draft",
    "drafts_for_patient",
    "dump",
    "generate",
    "load_questions",
]

#: categories in report order
CATEGORIES: tuple[str, ...] = (
    "control",
    "resolved",
    "stopped",
    "treated_for",
    "why_med",
    "visit_reason",
    "allergy_severity",
    "flu_due",
)

#: categories asked of deceased patients too (about the past: "what was it for?")
_PAST_OK = {"why_med", "visit_reason"}

_CONTROL_KEY = {"diabetes": "control_diabetes", "hypertension": "control_bp",
                "hyperlipidemia": "control_ldl"}  # fmt: skip

#: what a condition is called in "what is she taking for her …?"
_TREATED_WORDS: dict[str, tuple[str, ...]] = {
    "diabetes": ("diabetes", "sugar"),
    "hypertension": ("blood pressure", "high blood pressure", "hypertension"),
    "hyperlipidemia": ("cholesterol", "high cholesterol"),
    "heart_failure": ("heart failure",),
    "copd": ("COPD", "emphysema", "lungs"),
    "asthma": ("asthma",),
    "osteoarthritis": ("arthritis", "osteoarthritis"),
    "alzheimers": ("Alzheimer's", "memory"),
    "gout": ("gout",),
    "depression": ("depression",),
    "afib": ("AFib", "atrial fibrillation"),
}


@dataclass
class Draft:
    """An askable question before it is worded."""

    category: str
    variant: str  # what the round-robin within a category rotates on
    kind: str
    phrase_key: str
    params: dict[str, Any]
    fact: Fact
    words: tuple[str, ...] = ()  # the ways to name what is asked about ({x})


def _deceased(rec: Record) -> bool:
    return bool(rec.patient.get("deceasedDateTime") or rec.patient.get("deceasedBoolean"))


def _the(word: str) -> str:
    """ "a statin" → "the statin" (for "is she off the statin?")."""
    return re.sub(r"^(?:a|an)\s+", "the ", word)


def _stance_variant(fact: Fact) -> str:
    s = fact.answer.get("stance")
    return "none" if s is None else ("yes" if s else "no")


def _draft(
    category: str,
    variant: str,
    kind: str,
    key: str,
    rec: Record,
    ref: str,
    params: dict[str, Any],
    words: Iterable[str] = (),
) -> Draft | None:
    fact = compute(kind, rec, params, ref)
    if fact is None:
        return None
    if variant.endswith(":"):
        variant += _stance_variant(fact)
    return Draft(category, variant, kind, key, params, fact, tuple(words))


def drafts_for_patient(rec: Record, ref: str) -> dict[str, list[Draft]]:
    """Every askable question about one patient, per category."""
    pools: dict[str, list[Draft]] = {c: [] for c in CATEGORIES}

    def add(d: Draft | None) -> None:
        if d is not None:
            pools[d.category].append(d)

    for cond, target in CONTROL.items():
        add(_draft("control", f"{target.measure}:", "control", _CONTROL_KEY[cond], rec, ref,
                   {"condition": cond, "measure": target.measure}))  # fmt: skip
    for c in ACUTE.values():
        add(_draft("resolved", "resolved:", "resolved", "resolved", rec, ref,
                   {"concept": c.key, "name": c.name}, c.lay))  # fmt: skip
    for c in DRUGS_J.values():
        add(_draft("stopped", "stopped:", "stopped", "stopped", rec, ref,
                   {"concept": c.key, "name": c.name, "keywords": list(c.keywords)},
                   [_the(w) for w in c.lay]))  # fmt: skip
    for c in CONDITIONS.values():
        words = _TREATED_WORDS.get(c.key) or tuple(w for w in c.lay if len(w.split()) <= 3)
        add(_draft("treated_for", c.key, "treated_for", "treated_for", rec, ref,
                   {"concept": c.key, "name": c.name}, words))  # fmt: skip
    for short in sorted(med_groups(rec)):
        d = _draft("why_med", "", "why_med", "why_med_past", rec, ref, {"drug": short}, [short])
        if d is not None:
            d.variant = "active" if d.fact.info.get("active") else "past"
            if d.variant == "active" and not _deceased(rec):
                d.phrase_key = "why_med_active"
            add(d)
    add(_draft("visit_reason", "visit", "visit_reason", "visit_reason", rec, ref, {}))
    add(_draft("allergy_severity", "severe:", "allergy_severity", "allergy_severity", rec, ref,
               {}))  # fmt: skip
    add(_draft("flu_due", "due:", "flu_due", "flu_due", rec, ref, {"vaccine": "flu"}))
    if _deceased(rec):
        for cat in CATEGORIES:
            if cat not in _PAST_OK:
                pools[cat] = []
    return pools


# --------------------------------------------------------------------------- wording


def _title_name(rec: Record) -> str:
    _, family, prefix = rec.names()
    if not family:
        return "the patient"
    title = prefix or {"female": "Ms.", "male": "Mr."}.get(rec.gender, "")
    return f"{title} {family}".strip()


def _voices(key: str, rec: Record) -> list[str]:
    voices = [v for v in ("clin", "formal", "patient") if PHRASES[key].get(v)]
    if _deceased(rec) and "patient" in voices:
        voices.remove("patient")
    return voices


def _word(draft: Draft, rec: Record, rng: random.Random) -> tuple[str, int, str, dict[str, Any]]:
    key = draft.phrase_key
    voice = rng.choice(_voices(key, rec))
    templates = PHRASES[key][voice]
    index = rng.randrange(len(templates))
    flat = [t for v in ("clin", "formal", "patient") for t in PHRASES[key].get(v, [])]
    slots: dict[str, Any] = {}
    if draft.words:
        slots["x"] = rng.choice(draft.words)
    text = render(templates[index], gender=rec.gender, name=_title_name(rec), **slots)
    return text, flat.index(templates[index]), voice, slots


def _definition(d: Draft, ref_date: str) -> str:
    text = DEFINITIONS[d.kind]
    what = d.params.get("name") or d.params.get("concept") or d.params.get("drug")
    if what:
        text += f" Asked about: {what}."
    return f"{text} Reference date {ref_date}. {COMMON}"


def _qid(*bits: Any) -> str:
    raw = json.dumps(bits, sort_keys=True, default=str)
    return hashlib.sha1(raw.encode()).hexdigest()[:12]


def _question(d: Draft, rec: Record, rng: random.Random, ref_date: str) -> Question:
    text, index, voice, slots = _word(d, rec, rng)
    params = {
        **d.params,
        "ref_date": ref_date,
        "text_rules": "judgeqa",
        "voice": voice,
        "variant": d.variant,
    }
    if d.fact.answer_type == "judgement":
        params["stance_kind"] = d.fact.answer["stance_kind"]
    if slots.get("x"):
        params["asked_as"] = slots["x"]
    qid = _qid(d.category, rec.patient_id, d.kind, d.params)
    return Question(
        id=f"judgeqa-{d.category}-{qid}",
        patient_id=rec.patient_id,
        patient_name=rec.display_name,
        category=d.category,
        kind=d.kind,
        answer_type=d.fact.answer_type,
        text=text,
        answer=d.fact.answer,
        evidence=d.fact.evidence,
        evidence_groups=d.fact.groups,
        params=params,
        definition=_definition(d, ref_date),
        phrasing=index,
    )


# --------------------------------------------------------------------------- drawing


def _pick(
    drafts: list[Draft], variant_order: list[str], pointer: int, rng: random.Random
) -> tuple[Draft, int]:
    """A draft of the next variant (in rotation) this patient has."""
    have = {d.variant for d in drafts}
    for step in range(len(variant_order)):
        variant = variant_order[(pointer + step) % len(variant_order)]
        if variant in have:
            pool = [d for d in drafts if d.variant == variant]
            return rng.choice(pool), pointer + step + 1
    raise AssertionError("no draft")  # pragma: no cover


def generate(
    data: str | Path | Iterable[str | Path],
    n: int,
    *,
    seed: int = 1,
    ref_date: str = DEFAULT_REFERENCE_DATE,
    categories: Sequence[str] = CATEGORIES,
) -> list[Question]:
    """``n`` questions over the patients under ``data`` (see the module docstring)."""
    records = load_records(data)
    rng = random.Random(seed)
    pools: dict[str, dict[str, list[Draft]]] = {c: {} for c in categories}
    by_id = {r.patient_id: r for r in records}
    for rec in records:
        drafts = drafts_for_patient(rec, ref_date)
        for c in categories:
            if drafts.get(c):
                pools[c][rec.patient_id] = list(drafts[c])
    order: dict[str, list[str]] = {}
    variants: dict[str, list[str]] = {}
    for c in categories:
        order[c] = sorted(pools[c])
        rng.shuffle(order[c])
        variants[c] = sorted({d.variant for ds in pools[c].values() for d in ds})
        rng.shuffle(variants[c])
    next_patient = dict.fromkeys(categories, 0)
    next_variant = dict.fromkeys(categories, 0)
    out: list[Question] = []
    active = [c for c in categories if order[c]]
    while len(out) < n and active:
        for c in list(active):
            if len(out) >= n:
                break
            if not any(pools[c].get(p) for p in order[c]):
                active.remove(c)
                continue
            start = next_patient[c] % len(order[c])
            pid = next(p for p in order[c][start:] + order[c][:start] if pools[c].get(p))
            next_patient[c] = order[c].index(pid) + 1
            draft, next_variant[c] = _pick(pools[c][pid], variants[c], next_variant[c], rng)
            pools[c][pid].remove(draft)
            out.append(_question(draft, by_id[pid], rng, ref_date))
    return out[:n]


def load_questions(path: str | Path) -> list[Question]:
    """Questions written by :func:`dump`."""
    return [Question.from_dict(d) for d in json.loads(Path(path).read_text(encoding="utf-8"))]

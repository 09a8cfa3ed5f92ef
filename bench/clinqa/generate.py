"""The clinqa question set: hand-written phrasings × facts computed from the raw record.

For every patient, every askable question is listed per category (a :class:`Draft`: the
kind, its parameters, the ground truth of :mod:`bench.clinqa.truth`, the phrasing key);
then ``n`` are drawn with a seeded RNG, round-robin over the categories, over the
patients within a category (in a seeded order), and over the question kinds within a
category; each is worded with a phrasing and register (:mod:`bench.clinqa.phrasing`)
drawn by the same RNG. A follow-up thread counts as two questions (both turns).

Same data + seed + reference date → byte-identical questions (:func:`dump`).
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.clinqa.concepts import (
    ALLERGENS,
    CONDITIONS,
    DRUGS,
    LABS,
    NEVER_LABS,
    PROCEDURES,
    VACCINES,
    VITALS,
    Concept,
)
from bench.clinqa.phrasing import PHRASES, render
from bench.clinqa.record import Record, codings, load_records
from bench.clinqa.truth import COMMON, DEFINITIONS, Fact, compute, encounters, results
from bench.clinqa.windows import Window, relative_windows, since_year
from bench.ehrqa.generate import DEFAULT_REFERENCE_DATE, Question, dump

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
    "birth_death",
    "last_encounter",
    "lab_latest",
    "vitals",
    "allergies",
    "immunizations",
    "current_medications",
    "active_conditions",
    "lab_count",
    "lab_trend",
    "procedures",
    "not_in_record",
    "relative_dates",
    "two_in_one",
    "abbreviations",
    "follow_up",
)

#: procedures not asked about ("never done") for patients under 18, or of one sex
_ADULT_ONLY = {"colonoscopy", "mammogram", "bone_density", "knee_replacement", "cataract",
               "stress_test", "pap", "ct_chest"}  # fmt: skip
_SEX_ONLY = {"mammogram": "female", "pap": "female", "psa": "male"}
_PLURAL = {"suture"}  # "stitches": no "last {x}" wording
_FOLLOW_LABS = {"cholesterol": "ldl", "ldl": "hdl", "creatinine": "egfr", "egfr": "creatinine",
                "a1c": "glucose", "glucose": "a1c", "sodium": "potassium", "hdl": "ldl"}  # fmt: skip
#: the labs people ask about most: drawn three times as often as the others
_COMMON_LABS = {"a1c", "glucose", "egfr", "creatinine", "cholesterol", "ldl", "hdl",
                "triglycerides", "potassium"}  # fmt: skip
_NO_ALLERGY_ASKED = ("penicillin", "sulfa", "latex", "peanut", "codeine", "iodine")
_NO_CONDITION_ASKED = ("asthma", "diabetes", "hypertension", "copd", "heart_failure", "afib")
#: conditions whose onset is a diagnosis date a person would ask for (not acute episodes)
_CHRONIC = {"diabetes", "hypertension", "hyperlipidemia", "ckd", "asthma", "copd",
            "heart_failure", "afib", "depression", "obesity", "prediabetes", "osteoporosis",
            "osteoarthritis", "cad", "alzheimers", "migraine", "gout", "rhinitis"}  # fmt: skip


@dataclass
class Part:
    """One asked fact: a kind with its parameters, the truth, and what fills the
    template's slots (``x``/``y``: a concept, worded when the question is drawn)."""

    kind: str
    params: dict[str, Any]
    fact: Fact
    concept: Concept | None = None


@dataclass
class Draft:
    """An askable question before it is worded (or a two-turn thread)."""

    category: str
    variant: str  # what the round-robin over kinds rotates on
    phrase_key: str
    parts: list[Part]
    empty: bool = False  # a window with nothing in it (drawn less often)
    turn2: Draft | None = None
    slots: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- helpers


def _age(rec: Record, ref_date: str) -> int | None:
    fact = compute("age", rec, {}, ref_date)
    return int(fact.answer["value"]) if fact else None


def _deceased(rec: Record) -> bool:
    return bool(rec.patient.get("deceasedDateTime") or rec.patient.get("deceasedBoolean"))


def _domain(c: Concept) -> str:
    return "vital" if c.kind == "vital" else c.kind


def _params(c: Concept | None, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if c is not None:
        out = {"concept": c.key, "domain": _domain(c), "name": c.name, "codes": c.code_list}
        if c.icd10:
            out["icd10"] = list(c.icd10)
        if c.kind in ("drug", "allergen") or c.by_name == "always":
            out["keywords"] = list(c.keywords)
    out.update(extra)
    return out


def _part(
    kind: str, rec: Record, ref_date: str, c: Concept | None = None, **extra: Any
) -> Part | None:
    params = _params(c, **extra)
    fact = compute(kind, rec, params, ref_date)
    return Part(kind, params, fact, c) if fact is not None else None


def _window_part(
    kind: str, rec: Record, ref_date: str, w: Window, c: Concept | None = None, **extra: Any
) -> Part | None:
    """The part over every reading of the window; ``None`` when the readings disagree."""
    facts = []
    for start, end in w.spans:
        params = _params(c, window=w.key, start=start, end=end, **extra)
        fact = compute(kind, rec, params, ref_date)
        if fact is None:
            return None
        facts.append((params, fact))
    first = facts[0][1]
    if any(f.answer != first.answer or f.evidence != first.evidence for _, f in facts[1:]):
        return None
    params = dict(facts[0][0])
    if len(w.spans) > 1:
        params["readings"] = [list(s) for s in w.spans]
    return Part(kind, params, first, c)


def _is_nir(p: Part | None) -> bool:
    return p is not None and p.fact.answer_type == "not_in_record"


def _empty(p: Part) -> bool:
    v = p.fact.answer.get("value")
    return p.fact.answer_type == "not_in_record" or v in (0, False)


def _mentions(rec: Record, c: Concept) -> bool:
    """Whether any resource of the record (any status) names or codes the concept:
    a "not in the record" question is only asked when none does."""
    key = ("mentions", c.kind, c.key)
    if key not in rec.cache:
        if "coded" not in rec.cache:
            unique = {
                json.dumps(r[k], sort_keys=True): r[k]
                for r in rec.resources
                for k in (
                    "code",
                    "vaccineCode",
                    "type",
                    "medicationCodeableConcept",
                    "procedureCode",
                )
                if r.get(k)
            }
            rec.cache["coded"] = [unique[k] for k in sorted(unique)]
        rec.cache[key] = any(
            c.matches(cc) or c.matches_name(str(x.get("display")) for x in codings(cc))
            for cc in rec.cache["coded"]
        )
    return bool(rec.cache[key])


def _lab_years(rec: Record, c: Concept) -> list[int]:
    """Years Y for "since Y" trend questions: the window holds ≥ 2 results and starts
    after the first result (so it differs from the whole record)."""
    days = sorted({p.day for p in results(rec, c)})
    years = sorted({int(d[:4]) for d in days})
    return [y for y in years[1:] if sum(1 for d in days if d >= f"{y}-01-01") >= 2]


# --------------------------------------------------------------------------- per category


def _birth_death(rec: Record, ref: str) -> list[Draft]:
    out = []
    dead = _deceased(rec)
    for kind, key in (("birth_date", "birth_date"), ("alive", "alive"),
                      ("age", "age_deceased" if dead else "age")):  # fmt: skip
        p = _part(kind, rec, ref)
        if p:
            out.append(Draft("birth_death", kind, key, [p]))
    if dead:
        p = _part("death_date", rec, ref)
        if p and not _is_nir(p):
            out.append(Draft("birth_death", "death_date", "death_date", [p]))
    return out


def _last_encounter(rec: Record, ref: str) -> list[Draft]:
    out = []
    for kind in ("last_encounter_date", "last_encounter_kind"):
        p = _part(kind, rec, ref)
        if p and not _is_nir(p):
            out.append(Draft("last_encounter", kind, kind, [p]))
    return out


def _present_labs(rec: Record, ref: str, pool: dict[str, Concept]) -> list[Concept]:
    return [c for c in pool.values() if results(rec, c)]


def _lab_latest(rec: Record, ref: str) -> list[Draft]:
    out = []
    for c in _present_labs(rec, ref, LABS):
        p = _part("lab_latest", rec, ref, c)
        if p and not _is_nir(p):
            out.append(Draft("lab_latest", "lab_latest", "lab_latest", [p]))
    return out


def _vitals(rec: Record, ref: str) -> list[Draft]:
    out = []
    for c in _present_labs(rec, ref, VITALS):
        p = _part("lab_latest", rec, ref, c)
        if p and not _is_nir(p):
            out.append(Draft("vitals", c.key, "vital_latest", [p]))
    return out


def _allergies(rec: Record, ref: str) -> list[Draft]:
    p = _part("allergies", rec, ref)
    out = [Draft("allergies", "allergies", "allergies", [p])] if p else []
    asked_no = 0
    for c in ALLERGENS.values():
        q = _part("allergy_to", rec, ref, c)
        if q is None:
            continue
        if q.fact.answer["value"]:
            out.append(Draft("allergies", "allergy_to:yes", "allergy_to", [q]))
        elif c.key in _NO_ALLERGY_ASKED and asked_no < 2 and not _mentions(rec, c):
            asked_no += 1
            out.append(Draft("allergies", "allergy_to:no", "allergy_to", [q]))
    return out


def _immunizations(rec: Record, ref: str) -> list[Draft]:
    out = []
    for c in VACCINES.values():
        p = _part("vaccine_last", rec, ref, c)
        if p and not _is_nir(p):
            variant = "vaccine_last:flu" if c.key == "flu" else "vaccine_last:other"
            out.append(Draft("immunizations", variant, "vaccine_last", [p]))
    return out


def _drugs_present(rec: Record, ref: str) -> list[tuple[Concept, Part]]:
    out = []
    for c in DRUGS.values():
        p = _part("med_still", rec, ref, c)
        if p:
            out.append((c, p))
    return out


def _medications(rec: Record, ref: str) -> list[Draft]:
    dead = _deceased(rec)
    p = _part("current_medications", rec, ref)
    key = "current_medications_deceased" if dead else "current_medications"
    out = [Draft("current_medications", "current_medications", key, [p])] if p else []
    for c, still in _drugs_present(rec, ref):
        if not dead:
            yes = still.fact.answer["value"]
            out.append(Draft("current_medications", f"med_still:{'yes' if yes else 'no'}",
                             "med_still", [still]))  # fmt: skip
        last = _part("med_last_ordered", rec, ref, c)
        if last and not _is_nir(last):
            out.append(Draft("current_medications", "med_last_ordered", "med_last_ordered", [last]))
    return out


def _conditions(rec: Record, ref: str) -> list[Draft]:
    p = _part("active_conditions", rec, ref)
    out = [Draft("active_conditions", "active_conditions", "active_conditions", [p])] if p else []
    for c in CONDITIONS.values():
        has = _part("condition_has", rec, ref, c)
        if has is None:
            continue
        if has.fact.answer["value"]:
            out.append(Draft("active_conditions", "condition_has:yes", "condition_has", [has]))
        elif has.fact.info.get("resolved"):
            out.append(Draft("active_conditions", "condition_has:resolved",
                             "condition_has_still", [has]))  # fmt: skip
        elif c.key in _NO_CONDITION_ASKED and not _mentions(rec, c):
            out.append(Draft("active_conditions", "condition_has:no", "condition_has", [has]))
        onset = _part("condition_onset", rec, ref, c) if c.key in _CHRONIC else None
        if onset and not _is_nir(onset):
            out.append(Draft("active_conditions", "condition_onset", "condition_onset", [onset]))
    return out


def _lab_count(rec: Record, ref: str) -> list[Draft]:
    out = []
    for c in _present_labs(rec, ref, LABS):
        p = _part("lab_count", rec, ref, c)
        if p:
            out.append(Draft("lab_count", "lab_count", "lab_count", [p]))
    return out


def _lab_trend(rec: Record, ref: str) -> list[Draft]:
    out = []
    for c in _present_labs(rec, ref, LABS):
        windows: list[Window | None] = [None] + [since_year(y, ref) for y in _lab_years(rec, c)]
        for w in windows:
            extra = {} if w is None else {"window": w.key, "start": w.start, "end": w.end}
            since = {"since": f" {w.phrases[0]}" if w else ""}
            d = _part("lab_direction", rec, ref, c, **extra)
            if d:
                out.append(Draft("lab_trend", "lab_direction", "lab_direction", [d], slots=since))
            if c.better is None:
                continue
            worse = "decreased" if c.better == "increased" else "increased"
            for polarity, yes_dir in (("worse", worse), ("better", c.better)):
                y = _part("lab_trend_yesno", rec, ref, c, yes_direction=yes_dir,
                          better_direction=c.better, polarity=polarity, **extra)  # fmt: skip
                if y:
                    out.append(Draft("lab_trend", f"lab_trend_yesno:{polarity}",
                                     f"lab_trend_yesno_{polarity}", [y], slots=since))  # fmt: skip
        v = _part("lab_vs_previous", rec, ref, c)
        if v:
            out.append(Draft("lab_trend", "lab_vs_previous", "lab_vs_previous", [v]))
    return out


def _procedures(rec: Record, ref: str) -> list[Draft]:
    out = []
    adult = (_age(rec, ref) or 0) >= 18
    for c in PROCEDURES.values():
        ever = _part("procedure_ever", rec, ref, c)
        if ever is None:
            continue
        if ever.fact.answer["value"]:
            out.append(Draft("procedures", "procedure_ever:yes", "procedure_ever", [ever]))
            last = _part("procedure_last", rec, ref, c)
            if last and c.key not in _PLURAL:
                out.append(Draft("procedures", "procedure_last", "procedure_last", [last]))
        elif _askable_absent(rec, c, adult):
            out.append(Draft("procedures", "procedure_ever:no", "procedure_ever", [ever]))
    return out


def _askable_absent(rec: Record, c: Concept, adult: bool) -> bool:
    if c.key in _ADULT_ONLY and not adult:
        return False
    if c.key in _SEX_ONLY and rec.gender != _SEX_ONLY[c.key]:
        return False
    return not _mentions(rec, c)


def _not_in_record(rec: Record, ref: str) -> list[Draft]:
    out = []
    adult = (_age(rec, ref) or 0) >= 18
    for c in [*LABS.values(), *NEVER_LABS.values()]:
        if _askable_absent(rec, c, adult):
            p = _part("lab_latest", rec, ref, c)
            if _is_nir(p) and p:
                out.append(Draft("not_in_record", "lab", "lab_latest", [p]))
    for c in VACCINES.values():
        if c.key not in ("mmr", "hepa", "meningococcal") and _askable_absent(rec, c, adult):
            p = _part("vaccine_last", rec, ref, c)
            if _is_nir(p) and p:
                out.append(Draft("not_in_record", "vaccine", "vaccine_last", [p]))
    for c in PROCEDURES.values():
        if c.key not in _PLURAL and _askable_absent(rec, c, adult):
            p = _part("procedure_last", rec, ref, c)
            if _is_nir(p) and p:
                out.append(Draft("not_in_record", "procedure", "procedure_last", [p]))
    for c in CONDITIONS.values():
        if c.key in _CHRONIC and _askable_absent(rec, c, adult):
            p = _part("condition_onset", rec, ref, c)
            if _is_nir(p) and p:
                out.append(Draft("not_in_record", "condition", "condition_onset", [p]))
    return out


def _relative(rec: Record, ref: str) -> list[Draft]:
    if _deceased(rec) or not encounters(rec):
        return []
    out = []
    labs = _present_labs(rec, ref, LABS)
    vaccines = [c for c in VACCINES.values() if c.key == "flu" or not _is_nir(
        _part("vaccine_last", rec, ref, c))]  # fmt: skip
    for w in relative_windows(ref):
        slots = {"w": w.phrases}
        p = _window_part("encounter_count_window", rec, ref, w)
        if p:
            out.append(Draft("relative_dates", "encounter_count_window",
                             "encounter_count_window", [p], _empty(p), slots=slots))  # fmt: skip
        for c in labs:
            for kind, key in (
                ("lab_latest", "lab_latest_window"),
                ("lab_count", "lab_count_window"),
            ):
                p = _window_part(kind, rec, ref, w, c)
                if p:
                    out.append(Draft("relative_dates", key, key, [p], _empty(p), slots=slots))
        for c in vaccines:
            p = _window_part("vaccine_in_window", rec, ref, w, c)
            if p:
                out.append(Draft("relative_dates", "vaccine_in_window", "vaccine_in_window",
                                 [p], _empty(p), slots=slots))  # fmt: skip
    p2 = _part("visits_since_checkup", rec, ref)
    if p2:
        out.append(Draft("relative_dates", "visits_since_checkup", "visits_since_checkup",
                         [p2], _empty(p2)))  # fmt: skip
    for c in labs:
        p3 = _part("lab_at_last_visit", rec, ref, c)
        if p3:
            out.append(Draft("relative_dates", "lab_at_last_visit", "lab_at_last_visit",
                             [p3], _empty(p3)))  # fmt: skip
    return out


def _two_in_one(rec: Record, ref: str, pools: dict[str, list[Draft]]) -> list[Draft]:
    """Pairs of scalar facts drawn from the other categories' drafts."""
    by: dict[str, list[Part]] = {}
    for d in pools["lab_latest"]:
        by.setdefault("lab", []).append(d.parts[0])
    for d in pools["procedures"]:
        if d.variant == "procedure_last":
            by.setdefault("procedure", []).append(d.parts[0])
    for d in pools["immunizations"]:
        by.setdefault("vaccine", []).append(d.parts[0])
    for d in pools["active_conditions"]:
        if d.variant == "condition_has:yes":
            by.setdefault("condition", []).append(d.parts[0])
    for d in pools["lab_count"]:
        by.setdefault("count", []).append(d.parts[0])
    for d in pools["birth_death"]:
        if d.variant == "birth_date":
            by.setdefault("birth", []).append(d.parts[0])
    for d in pools["last_encounter"]:
        if d.variant == "last_encounter_date":
            by.setdefault("visit", []).append(d.parts[0])
    for d in pools["not_in_record"]:
        if d.variant == "procedure":
            by.setdefault("procedure_nir", []).append(d.parts[0])
    out = []

    def add(key: str, a: Part, b: Part) -> None:
        out.append(Draft("two_in_one", key, f"pair:{key}", [a, b]))

    for a in by.get("lab", []):
        for b in [*by.get("procedure", []), *by.get("procedure_nir", [])[:2]]:
            add("lab+procedure", a, b)
        for b in by.get("vaccine", []):
            add("lab+vaccine", a, b)
        for b in by.get("lab", []):
            if a.concept and b.concept and a.concept.key < b.concept.key:
                add("lab+lab", a, b)
        for b in by.get("condition", []):
            add("condition+lab", b, a)
    for a in by.get("birth", []):
        for b in by.get("visit", []):
            add("birth+visit", a, b)
    for a in by.get("vaccine", []):
        for b in by.get("vaccine", []):
            if a.concept and b.concept and a.concept.key == "flu" and b.concept.key != "flu":
                add("vaccine+vaccine", a, b)
    for a in by.get("count", []):
        for b in by.get("lab", []):
            if a.concept and b.concept and a.concept.key == b.concept.key:
                add("count+latest", a, b)
    return out


_SHORT_KINDS = {
    "lab_latest": "lab_latest",
    "condition_has:yes": "condition_has",
    "med_still:yes": "med_still",
    "med_still:no": "med_still",
    "procedure_last": "procedure_last",
    "vaccine_last:flu": "vaccine_last",
    "vaccine_last:other": "vaccine_last",
    "allergies": "allergies",
    "birth_date": "birth_date",
    "last_encounter_date": "last_encounter_date",
    "lab_count": "lab_count",
    "current_medications": "current_medications",
}


def _abbreviations(rec: Record, ref: str, pools: dict[str, list[Draft]]) -> list[Draft]:
    out = []
    for cat in ("lab_latest", "active_conditions", "current_medications", "procedures",
                "immunizations", "allergies", "birth_death", "last_encounter", "lab_count"):  # fmt: skip
        for d in pools[cat]:
            kind = _SHORT_KINDS.get(d.variant)
            if kind is None or d.phrase_key.endswith("_deceased"):
                continue
            c = d.parts[0].concept
            if c is not None and not c.shorthand:
                continue
            out.append(Draft("abbreviations", kind, f"short:{kind}", d.parts))
    return out


def _follow_up(rec: Record, ref: str, pools: dict[str, list[Draft]]) -> list[Draft]:
    out = []

    def thread(variant: str, first: Draft, key2: str, part2: Part | None, **slots: Any) -> None:
        if part2 is None or _is_nir(part2):
            return
        second = Draft("follow_up", variant, key2, [part2], slots=slots)
        out.append(Draft("follow_up", variant, first.phrase_key, first.parts, turn2=second,
                         slots=dict(first.slots)))  # fmt: skip

    for d in pools["lab_latest"]:
        c = d.parts[0].concept
        assert c is not None
        thread("vs_previous", d, "turn2:vs_previous", _part("lab_vs_previous", rec, ref, c))
        thread("count", d, "turn2:count", _part("lab_count", rec, ref, c))
        thread("direction", d, "turn2:direction", _part("lab_direction", rec, ref, c))
        other = LABS.get(_FOLLOW_LABS.get(c.key, ""))
        if other is not None:
            p = _part("lab_latest", rec, ref, other)
            thread("other_lab", d, "turn2:other_lab", p, y=other)
    for d in pools["procedures"]:
        c = d.parts[0].concept
        if d.variant == "procedure_ever:yes" and c is not None and c.key not in _PLURAL:
            thread(
                "procedure_last", d, "turn2:procedure_last", _part("procedure_last", rec, ref, c)
            )
    for d in pools["last_encounter"]:
        if d.variant == "last_encounter_date":
            thread("encounter_kind", d, "turn2:encounter_kind",
                   _part("last_encounter_kind", rec, ref))  # fmt: skip
    for d in pools["active_conditions"]:
        c = d.parts[0].concept
        if d.variant == "condition_has:yes" and c is not None and c.key in _CHRONIC:
            thread("onset", d, "turn2:onset", _part("condition_onset", rec, ref, c))
    for d in pools["immunizations"]:
        c = d.parts[0].concept
        if c is not None and c.key == "flu":
            for other in VACCINES.values():
                if other.key != "flu":
                    thread("other_vaccine", d, "turn2:other_vaccine",
                           _part("vaccine_last", rec, ref, other), y=other)  # fmt: skip
    for d in pools["current_medications"]:
        c = d.parts[0].concept
        if d.variant.startswith("med_still") and c is not None:
            thread("med_last_ordered", d, "turn2:med_last_ordered",
                   _part("med_last_ordered", rec, ref, c))  # fmt: skip
    return out


def drafts_for_patient(rec: Record, ref_date: str) -> dict[str, list[Draft]]:
    """Every askable question about one patient, per category."""
    pools: dict[str, list[Draft]] = {
        "birth_death": _birth_death(rec, ref_date),
        "last_encounter": _last_encounter(rec, ref_date),
        "lab_latest": _lab_latest(rec, ref_date),
        "vitals": _vitals(rec, ref_date),
        "allergies": _allergies(rec, ref_date),
        "immunizations": _immunizations(rec, ref_date),
        "current_medications": _medications(rec, ref_date),
        "active_conditions": _conditions(rec, ref_date),
        "lab_count": _lab_count(rec, ref_date),
        "lab_trend": _lab_trend(rec, ref_date),
        "procedures": _procedures(rec, ref_date),
        "not_in_record": _not_in_record(rec, ref_date),
        "relative_dates": _relative(rec, ref_date),
    }
    pools["two_in_one"] = _two_in_one(rec, ref_date, pools)
    pools["abbreviations"] = _abbreviations(rec, ref_date, pools)
    pools["follow_up"] = _follow_up(rec, ref_date, pools)
    return pools


# --------------------------------------------------------------------------- wording


def _title_name(rec: Record) -> str:
    _, family, prefix = rec.names()
    if not family:
        return "the patient"
    title = prefix or {"female": "Ms.", "male": "Mr."}.get(rec.gender, "")
    return f"{title} {family}".strip()


def _words(c: Concept | None, rng: random.Random, rec: Record, short: bool) -> str:
    if c is None:
        return ""
    if short:
        return rng.choice(c.shorthand)
    options = list(c.lay)
    if c.key == "glucose" and not results(rec, LABS["a1c"]):
        options.append("sugar")  # "sugar" only where it cannot mean the A1c
    return rng.choice(options)


def _voices(key: str, rec: Record) -> list[str]:
    voices = [v for v in ("clin", "formal", "patient") if PHRASES[key].get(v)]
    if _deceased(rec) and "patient" in voices and len(voices) > 1:
        voices.remove("patient")
    return voices


def _word(
    draft: Draft, rec: Record, rng: random.Random, ctx: dict[str, Any] | None = None
) -> tuple[str, int, str, dict[str, Any]]:
    """(text, phrasing index, voice, slots used) for a draft."""
    key = draft.phrase_key
    voice = rng.choice(_voices(key, rec))
    templates = PHRASES[key][voice]
    index = rng.randrange(len(templates))
    flat = [t for v in ("clin", "formal", "patient") for t in PHRASES[key].get(v, [])]
    short = key.startswith("short:")
    slots: dict[str, Any] = dict(ctx or {})
    concepts = [p.concept for p in draft.parts]
    if "x" not in slots and concepts and concepts[0] is not None:
        slots["x"] = _words(concepts[0], rng, rec, False)
    if short and concepts[0] is not None:
        slots["s"] = _words(concepts[0], rng, rec, True)
    if len(concepts) > 1 and concepts[1] is not None:
        slots["y"] = _words(concepts[1], rng, rec, False)
    for name, value in draft.slots.items():
        if isinstance(value, Concept):
            slots[name] = _words(value, rng, rec, False)
        elif isinstance(value, tuple):
            slots[name] = rng.choice(value)
        else:
            slots[name] = value
    if "{since}" in templates[index] and "since" not in slots:
        slots["since"] = ""
    text = render(templates[index], gender=rec.gender, name=_title_name(rec), **slots)
    return text, flat.index(templates[index]), voice, slots


# --------------------------------------------------------------------------- questions


def _definition(p: Part, slots: dict[str, Any], ref_date: str) -> str:
    text = DEFINITIONS[p.kind]
    if p.concept is not None:
        text += f" Concept: {p.concept.name} ({p.concept.key})."
    if "start" in p.params:
        said = slots.get("w") or slots.get("since", "").strip() or p.params.get("window")
        text += f" Window '{said}': {p.params['start']} to {p.params['end']}"
        if p.params.get("readings"):
            text += (
                " (every reading: "
                + "; ".join(f"{a} to {b}" for a, b in p.params["readings"])
                + ", same answer)"
            )
        text += "."
    return f"{text} Reference date {ref_date}. {COMMON}"


def _qid(*bits: Any) -> str:
    raw = json.dumps(bits, sort_keys=True, default=str)
    return hashlib.sha1(raw.encode()).hexdigest()[:12]


def _part_dict(p: Part, slots: dict[str, Any], ref_date: str) -> dict[str, Any]:
    return {
        "kind": p.kind,
        "answer_type": p.fact.answer_type,
        "answer": p.fact.answer,
        "evidence": p.fact.evidence,
        "evidence_groups": p.fact.groups,
        "params": {**p.params, "ref_date": ref_date, "text_rules": "clinqa"},
        "definition": _definition(p, slots, ref_date),
    }


def _question(
    draft: Draft,
    rec: Record,
    text: str,
    phrasing: int,
    voice: str,
    slots: dict[str, Any],
    ref_date: str,
    *,
    thread: str = "",
    turn: int = 0,
    history: Sequence[str] = (),
) -> Question:
    parts = [_part_dict(p, slots, ref_date) for p in draft.parts]
    common = {"voice": voice, "variant": draft.variant, "text_rules": "clinqa"}
    if len(parts) == 1:
        one = parts[0]
        params = {**one["params"], **common}
        kind, answer_type, answer = one["kind"], one["answer_type"], one["answer"]
        evidence, groups, definition = one["evidence"], one["evidence_groups"], one["definition"]
        sub: list[dict[str, Any]] = []
    else:
        params = {"ref_date": ref_date, **common}
        kind, answer_type = "two_in_one", "parts"
        answer = {"value": [p["answer"] for p in parts]}
        evidence = sorted({r for p in parts for r in p["evidence"]})
        groups = [g for p in parts for g in p["evidence_groups"]]
        definition = " | ".join(f"Part {i + 1}: {p['definition']}" for i, p in enumerate(parts))
        sub = parts
    qid = _qid(draft.category, rec.patient_id, [(p["kind"], p["params"]) for p in parts],
               thread, turn)  # fmt: skip
    return Question(
        id=f"clinqa-{draft.category}-{qid}",
        patient_id=rec.patient_id,
        patient_name=rec.display_name,
        category=draft.category,
        kind=kind,
        answer_type=answer_type,
        text=text,
        answer=answer,
        evidence=evidence,
        evidence_groups=groups,
        params=params,
        definition=definition,
        phrasing=phrasing,
        thread=thread,
        turn=turn,
        history=list(history),
        parts=sub,
    )


def _questions_of(draft: Draft, rec: Record, rng: random.Random, ref_date: str) -> list[Question]:
    text, index, voice, slots = _word(draft, rec, rng)
    if draft.turn2 is None:
        return [_question(draft, rec, text, index, voice, slots, ref_date)]
    tid = "thread-" + _qid(rec.patient_id, draft.variant, [p.params for p in draft.parts],
                           [p.params for p in draft.turn2.parts])  # fmt: skip
    first = _question(draft, rec, text, index, voice, slots, ref_date, thread=tid, turn=1)
    # the follow-up keeps the first turn's register, and words its own slots
    second_key = draft.turn2.phrase_key
    voices = _voices(second_key, rec)
    v2 = voice if voice in voices else voices[0]
    templates = PHRASES[second_key][v2]
    i2 = rng.randrange(len(templates))
    flat = [t for v in ("clin", "formal", "patient") for t in PHRASES[second_key].get(v, [])]
    slots2 = {k: (_words(v, rng, rec, False) if isinstance(v, Concept) else v)
              for k, v in draft.turn2.slots.items()}  # fmt: skip
    text2 = render(templates[i2], gender=rec.gender, name=_title_name(rec), **slots2)
    second = _question(draft.turn2, rec, text2, flat.index(templates[i2]), v2, slots2, ref_date,
                       thread=tid, turn=2, history=[text])  # fmt: skip
    return [first, second]


def _weight(draft: Draft) -> float:
    concepts = [p.concept for p in draft.parts]
    return 3.0 if any(c is not None and c.key in _COMMON_LABS for c in concepts) else 1.0


def _pick(
    drafts: list[Draft], variant_order: list[str], pointer: int, rng: random.Random
) -> tuple[Draft, int]:
    """A draft of the next variant (in rotation) this patient has; empty-window drafts
    are drawn a quarter of the time at most."""
    have = {d.variant for d in drafts}
    for step in range(len(variant_order)):
        variant = variant_order[(pointer + step) % len(variant_order)]
        if variant in have:
            pool = [d for d in drafts if d.variant == variant]
            full = [d for d in pool if not d.empty]
            if full and (len(full) == len(pool) or rng.random() >= 0.25):
                pool = full
            weights = [_weight(d) for d in pool]
            return rng.choices(pool, weights)[0], pointer + step + 1
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
    rounds = 0
    while len(out) < n and active:
        rounds += 1
        for c in list(active):
            if len(out) >= n:
                break
            if c == "follow_up" and rounds % 2 == 0 and len(active) > 1:
                continue  # a thread is two questions: one every other round
            patients = [p for p in order[c] if pools[c].get(p)]
            if not patients:
                active.remove(c)
                continue
            if c == "follow_up" and n - len(out) < 2:
                continue
            start = next_patient[c] % len(order[c])
            pid = next(p for p in order[c][start:] + order[c][:start] if pools[c].get(p))
            next_patient[c] = order[c].index(pid) + 1
            draft, next_variant[c] = _pick(pools[c][pid], variants[c], next_variant[c], rng)
            pools[c][pid].remove(draft)
            out.extend(_questions_of(draft, by_id[pid], rng, ref_date))
        if len(out) == n - 1 and active == ["follow_up"]:
            break
    return out[:n]


def load_questions(path: str | Path) -> list[Question]:
    """Questions written by :func:`dump`."""
    return [Question.from_dict(d) for d in json.loads(Path(path).read_text(encoding="utf-8"))]

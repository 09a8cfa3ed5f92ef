"""Ground truth of the judgement questions, computed from the raw record (stdlib only).

Every kind has a function ``(record, params, ref_date) -> Fact | None`` in :data:`KINDS`
and a written definition in :data:`DEFINITIONS`; ``None`` means not askable on this
record (the answer would be ambiguous). The void-status rules, what *active* means for a
Condition, which results and encounters count, are those of :mod:`bench.clinqa.truth`
(reused, not rewritten).

A ``judgement`` answer is ``{"stance": true|false|null, "stance_kind": …, "facts": […]}``:
the stance (null: not scored, e.g. an A1c between 7 and 8 %) and the facts the answer
must state (a value with its date, a date, a name); see :mod:`bench.ehrqa.score`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

from bench.clinqa.concepts import ALLERGENS, CONDITIONS, LABS, VACCINES, Concept
from bench.clinqa.record import JSON, Record, codings, day, keyed_codes, label, norm, ref
from bench.clinqa.truth import (
    COMMON,
    Fact,
    Result,
    encounter_day,
    encounters,
    results,
)
from bench.clinqa.truth import _allergies as active_allergies
from bench.clinqa.truth import _allergy_aliases as allergy_aliases
from bench.clinqa.truth import _drug_aliases as drug_aliases
from bench.clinqa.truth import _immunizations as immunizations
from bench.clinqa.truth import _is_active_condition as is_active
from bench.clinqa.truth import _meds as meds
from bench.clinqa.truth import _type_terms as type_terms
from bench.judgeqa.concepts import ACUTE, CONTROL, DRUGS_J, TREATS

__all__ = [
    "COMMON",
    "DEFINITIONS",
    "KINDS",
    "Fact",
    "compute",
    "condition_aliases",
    "drug_short_name",
    "med_groups",
    "reasons",
]

_RESULT_STATUS = {"final", "amended", "corrected"}
_BP_PANEL = {"loinc:85354-9", "loinc:55284-4", "loinc:35094-2"}
_SYSTOLIC = "loinc:8480-6"
_DIASTOLIC = "loinc:8462-4"
_OFF = {"stopped", "completed"}


# --------------------------------------------------------------------------- names


#: lay names of conditions no concept covers (for "why is she on …?" answers)
_LAY_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    (r"\b(?:carcinoma|neoplasm|cancer|malignant)\b.*\blung\b|\blung\b.*\b(?:carcinoma|cancer)",
     ("lung cancer",)),
    (r"\bmalignant\b.*\bcolon\b|\bcolon cancer\b", ("colon cancer", "bowel cancer")),
    (r"\bprostate\b.*\b(?:carcinoma|neoplasm|malignant|cancer)|\b(?:carcinoma|neoplasm)\b.*"
     r"\bprostate\b", ("prostate cancer",)),
    (r"\battention deficit\b", ("ADHD", "attention deficit disorder")),
    (r"\bviral sinusitis\b", ("sinusitis", "sinus infection")),
    (r"\bcystitis\b", ("cystitis", "bladder infection", "UTI", "urinary tract infection")),
    (r"\bpharyngitis\b|\bsore throat\b", ("sore throat", "pharyngitis")),
)  # fmt: skip
_LEADING = re.compile(r"^(?:acute|chronic|viral|primary|localized|localised|seasonal)\s+", re.I)


def condition_aliases(name: str, cc: Any = None) -> list[str]:
    """Other names of a condition an answer may use: the concept's lay names (clinqa
    conditions, judgeqa acute ones), the name without a leading "acute"/"viral"/…,
    lay names of cancers and ADHD."""
    out: list[str] = []
    target = cc if cc is not None else {"text": name}
    for c in [*CONDITIONS.values(), *ACUTE.values()]:
        if c.matches(target) or c.matches_name([name]):
            out += [*c.lay, c.name]
    bare = re.sub(r"\s*\([^)]*\)\s*$", "", name).strip()
    while _LEADING.match(bare):
        bare = _LEADING.sub("", bare)
    if bare and norm(bare) != norm(name):
        out.append(bare)
    for pattern, lay in _LAY_RULES:
        if re.search(pattern, name, re.I):
            out += list(lay)
    seen = {norm(name)}
    uniq = []
    for a in out:
        if norm(a) and norm(a) not in seen and "/" not in a:
            seen.add(norm(a))
            uniq.append(a)
    return uniq


def drug_short_name(name: str) -> str:
    """What people call a medication: its ingredient ("Metformin", "Simvistatin" as the
    record spells it), its brand for a multi-ingredient product with one ("Humulin"),
    else the ingredients joined ("fluticasone/salmeterol")."""
    text = re.sub(
        r"^(?:\s*(?:[\d.]+\s*(?:HR|ML|ACTUAT|MG|MCG|UNT|DAY)\b|NDA\d+|Abuse-Deterrent))+\s+",
        "",
        name,
        flags=re.I,
    )
    heads = []
    for part in re.split(r"\s/\s", text):
        head = re.split(r"\s(?=[\d.]+\s*(?:MG|MCG|UNT|ML|%|G)\b)|\s\d|\d", part, maxsplit=1)[0]
        words = head.strip(" ,").split()
        if words and not re.match(r"[\d.]", words[0]):
            heads.append(words[0].strip(",").lower())
    brand = re.findall(r"\[([^\]]+)\]", name)
    if len(heads) > 1 and brand:
        return brand[0]
    if not heads:
        return name
    return "/".join(dict.fromkeys(heads))


#: the records' spellings and brands → the ingredient an answer may name instead
_SPELLINGS = {"simvistatin": "simvastatin", "lasix": "furosemide", "toprol": "metoprolol",
              "humulin": "insulin"}  # fmt: skip


def _med_aliases(name: str) -> list[str]:
    out = drug_aliases(name)
    for word, ingredient in _SPELLINGS.items():
        if f" {word} " in f" {norm(name)} ":
            out.append(ingredient)
    return list(dict.fromkeys(out))


def med_groups(rec: Record) -> dict[str, list[tuple[JSON, Any, str]]]:
    """MedicationRequests/Statements by short name (:func:`drug_short_name`)."""
    out: dict[str, list[tuple[JSON, Any, str]]] = {}
    for r, cc, when in meds(rec):
        name = label(cc)
        if name:
            out.setdefault(drug_short_name(name).lower(), []).append((r, cc, when))
    return out


def reasons(rec: Record, med: JSON) -> list[tuple[str, Any, str | None]]:
    """(name, CodeableConcept, Condition ref or None) of a medication's reasons:
    ``reasonReference`` Conditions (void ones skipped) and ``reasonCode`` concepts."""
    out: list[tuple[str, Any, str | None]] = []
    for x in med.get("reasonReference") or []:
        target = rec.resolve(x)
        if target and target.get("resourceType") == "Condition" and target in rec.of("Condition"):
            out.append((label(target.get("code")), target.get("code"), ref(target)))
    for cc in med.get("reasonCode") or []:
        if label(cc):
            out.append((label(cc), cc, None))
    return out


# --------------------------------------------------------------------------- control


def bp_results(rec: Record) -> list[tuple[str, JSON, float | None, float | None]]:
    """(day, resource, systolic, diastolic) of blood pressures: panels (85354-9 …) with
    8480-6/8462-4 components, and standalone 8480-6/8462-4 Observations."""
    out = []
    for r in rec.of("Observation"):
        if r.get("status") not in _RESULT_STATUS:
            continue
        keys = keyed_codes(r.get("code"))
        when = day(r.get("effectiveDateTime")) or day((r.get("effectivePeriod") or {}).get("start"))
        if not when:
            continue
        sys_v = dia_v = None
        if keys & _BP_PANEL or r.get("component"):
            for comp in r.get("component") or []:
                q = (comp.get("valueQuantity") or {}).get("value")
                ck = keyed_codes(comp.get("code"))
                if isinstance(q, int | float):
                    if _SYSTOLIC in ck:
                        sys_v = float(q)
                    elif _DIASTOLIC in ck:
                        dia_v = float(q)
        q = (r.get("valueQuantity") or {}).get("value")
        if isinstance(q, int | float):
            if _SYSTOLIC in keys:
                sys_v = float(q)
            elif _DIASTOLIC in keys:
                dia_v = float(q)
        if sys_v is not None or dia_v is not None:
            out.append((when, r, sys_v, dia_v))
    return sorted(out, key=lambda x: (x[0], x[1]["id"]))


def _has_active(rec: Record, c: Concept) -> bool:
    return any(c.matches(r.get("code")) and is_active(r) for r in rec.of("Condition"))


def _stance(values: list[float], t: Any) -> bool | None:
    if all(v < g for v, g in zip(values, t.good, strict=True)):
        return True
    if any(v >= b for v, b in zip(values, t.bad, strict=True)):
        return False
    return None


def control(rec: Record, params: dict[str, Any], ref_date: str) -> Fact | None:
    """Controlled per the latest result of the condition's measure (see DEFINITIONS)."""
    t = CONTROL[params["condition"]]
    if not _has_active(rec, CONDITIONS[t.condition]):
        return None
    if t.measure == "bp":
        bps = bp_results(rec)
        if not bps:
            return None
        last = bps[-1][0]
        today = [b for b in bps if b[0] == last]
        sys_vals = {b[2] for b in today if b[2] is not None}
        dia_vals = {b[3] for b in today if b[3] is not None}
        if len(sys_vals) != 1 or len(dia_vals) != 1:
            return None  # no pair, or two different readings on the latest day
        s, d = sys_vals.pop(), dia_vals.pop()
        facts = [
            {"type": "number_date", "value": s, "unit": t.unit, "date": last, "what": "systolic"},
            {"type": "number_date", "value": d, "unit": t.unit, "date": last, "what": "diastolic"},
        ]
        stance = _stance([s, d], t)
        groups = [[ref(b[1]) for b in today]]
        info: dict[str, Any] = {"value": f"{s:g}/{d:g}", "date": last}
    else:
        points: list[Result] = results(rec, LABS[t.measure])
        if not points:
            return None
        last = points[-1].day
        today_r = [p for p in points if p.day == last]
        if len({(p.value, p.unit) for p in today_r}) != 1:
            return None
        p = today_r[-1]
        if norm(p.unit).replace(" ", "") != norm(t.unit).replace(" ", ""):
            return None  # another unit (mmol/L, mmol/mol): bands not comparable
        facts = [{"type": "number_date", "value": p.value, "unit": p.unit, "date": last}]
        stance = _stance([p.value], t)
        groups = [[x.ref for x in today_r]]
        info = {"value": f"{p.value:g} {p.unit}", "date": last}
    answer = {"stance": stance, "stance_kind": "control", "facts": facts}
    # the condition's own entries support "her diabetes is controlled" too: citing them is
    # no imprecision, and not required
    cond = CONDITIONS[t.condition]
    extra = [ref(r) for r in rec.of("Condition") if cond.matches(r.get("code")) and is_active(r)]
    return Fact("judgement", answer, groups, extra=extra, info=info)


# --------------------------------------------------------------------------- resolved


def resolved(rec: Record, params: dict[str, Any], ref_date: str) -> Fact | None:
    c = ACUTE[params["concept"]]
    episodes = [r for r in rec.of("Condition") if c.matches(r.get("code"))]
    if not episodes:
        return None
    active = [r for r in episodes if is_active(r)]
    if not active and any(
        is_active(r) and any(k in label(r.get("code")).lower() for k in c.keywords)
        for r in rec.of("Condition")
    ):
        return None  # a chronic form is active ("chronic sinusitis"): "has it resolved?" is
        # ambiguous, the acute episode resolved and the chronic one not
    groups = [[ref(r) for r in active]] if active else [[ref(r) for r in episodes]]
    answer = {"stance": not active, "stance_kind": "resolved", "facts": []}
    return Fact("judgement", answer, groups, info={"episodes": len(episodes)})


# --------------------------------------------------------------------------- stopped


def _drug_meds(rec: Record, c: Concept) -> list[tuple[JSON, str]]:
    out = []
    for r, cc, when in meds(rec):
        texts = [label(cc), *(str(x.get("display")) for x in codings(cc) if x.get("display"))]
        if c.matches_name(texts):
            out.append((r, when))
    return out


def stopped(rec: Record, params: dict[str, Any], ref_date: str) -> Fact | None:
    matching = _drug_meds(rec, DRUGS_J[params["concept"]])
    if not matching:
        return None
    active = [r for r, _ in matching if r.get("status") == "active"]
    if active:
        answer = {"stance": False, "stance_kind": "stopped", "facts": []}
        return Fact("judgement", answer, [[ref(r) for r in active]])
    if any(r.get("status") not in _OFF for r, _ in matching):
        return None  # on-hold, draft, unknown: neither on nor off
    last = max(w for _, w in matching)
    latest = [ref(r) for r, w in matching if w == last]
    answer = {"stance": True, "stance_kind": "stopped", "facts": []}
    return Fact("judgement", answer, [latest], info={"last": last})


# --------------------------------------------------------------------------- relations


def treated_for(rec: Record, params: dict[str, Any], ref_date: str) -> Fact | None:
    """The active medications whose recorded reason is a Condition of the concept."""
    c = CONDITIONS[params["concept"]]
    if not _has_active(rec, c):
        return None
    by_name: dict[str, list[JSON]] = {}
    names: dict[str, str] = {}
    unexplained: list[str] = []
    for r, cc, _ in meds(rec):
        if r.get("status") != "active" or not label(cc):
            continue
        why = reasons(rec, r)
        if any(c.matches(x[1]) for x in why):
            by_name.setdefault(norm(label(cc)), []).append(r)
            names.setdefault(norm(label(cc)), label(cc))
        elif not why:
            unexplained.append(label(cc))
    if not by_name:
        return None
    words = TREATS.get(c.key)
    if unexplained and (
        words is None or any(f" {w} " in f" {norm(n)} " for n in unexplained for w in words)
    ):
        return None  # an active drug that may be for it has no recorded reason
    values = list(names.values())
    answer = {"value": values, "aliases": [_med_aliases(n) for n in values]}
    groups = [[ref(r) for r in rs] for rs in by_name.values()]
    return Fact("set", answer, groups)


def why_med(rec: Record, params: dict[str, Any], ref_date: str) -> Fact | None:
    """The recorded reason of the drug's latest order (one reason, else not asked)."""
    group = med_groups(rec).get(params["drug"])
    if not group:
        return None
    last = max(w for _, _, w in group)
    latest = [r for r, _, w in group if w == last]
    why = [x for r in latest for x in reasons(rec, r)]
    if len({norm(x[0]) for x in why}) != 1:
        return None
    name, cc, _ = why[0]
    accept = [name, *condition_aliases(name, cc)]
    groups = [[ref(r) for r in latest]]
    conds = sorted({x[2] for x in why if x[2]})
    if conds:
        groups.append(conds)
    info = {"active": any(r.get("status") == "active" for r in latest), "last": last}
    return Fact("choice", {"value": name, "accept": accept, "reject": []}, groups, info=info)


_VAGUE_TYPES = {
    "encounter for problem",
    "encounter for problem procedure",
    "encounter for symptom",
    "encounter for symptom procedure",
    "inpatient stay",
    "death certification",
    "consultation for treatment",
    "emergency room admission",
    "emergency room admission procedure",
    "patient encounter procedure",
    "encounter inpatient",
    "hospital admission",
    "admission to hospital",
    "telephone encounter",
    "emergency hospital admission",
}


def _encounter_reasons(rec: Record, enc: JSON) -> list[tuple[str, Any]]:
    out = [(label(cc), cc) for cc in enc.get("reasonCode") or [] if label(cc)]
    for x in enc.get("reasonReference") or []:
        target = rec.resolve(x)
        if target and target.get("resourceType") == "Condition":
            out.append((label(target.get("code")), target.get("code")))
    return out


def visit_reason(rec: Record, params: dict[str, Any], ref_date: str) -> Fact | None:
    """The reason of the latest encounter (reasonCode / reasonReference), else a specific
    type (a check-up); the type's wording is always accepted too."""
    encs = encounters(rec)
    if not encs:
        return None
    last = encounter_day(encs[-1])
    today = [e for e in encs if encounter_day(e) == last]
    reasoned = [e for e in today if _encounter_reasons(rec, e)]
    if len(reasoned) == 1:
        enc = reasoned[0]
        accept: list[str] = []
        for name, cc in _encounter_reasons(rec, enc):
            accept += [name, *condition_aliases(name, cc)]
        value = accept[0]
    elif not reasoned and len({norm(label(e.get("type"))) for e in today}) == 1:
        enc = today[-1]
        typ = label(enc.get("type"))
        if not typ or norm(typ) in _VAGUE_TYPES:
            return None
        value = typ
        accept = []
    else:
        return None
    accept += [t for t in type_terms(label(enc.get("type"))) if norm(t) not in _VAGUE_TYPES]
    accept = [a for i, a in enumerate(accept) if norm(a) not in {norm(b) for b in accept[:i]}]
    if not accept:
        return None
    answer = {"value": value, "accept": accept, "reject": []}
    return Fact("choice", answer, [[ref(e) for e in today]], info={"date": last})


# --------------------------------------------------------------------------- allergies


def _severe(r: JSON) -> bool:
    return r.get("criticality") == "high" or any(
        x.get("severity") == "severe" for x in r.get("reaction") or [] if isinstance(x, dict)
    )


def _graded(r: JSON) -> bool:
    return r.get("criticality") in ("low", "high") or any(
        isinstance(x, dict) and x.get("severity") for x in r.get("reaction") or []
    )


def _allergen_names(name: str, cc: Any) -> list[str]:
    out = [name, *allergy_aliases(name)]
    for c in ALLERGENS.values():
        if c.matches(cc) or c.matches_name([name]):
            out += list(c.lay)
    return list(dict.fromkeys(out))


def allergy_severity(rec: Record, params: dict[str, Any], ref_date: str) -> Fact | None:
    allergies = active_allergies(rec)
    if not allergies:
        return None
    severe = [r for r in allergies if _severe(r)]
    if not severe and not all(_graded(r) for r in allergies):
        return None  # an allergy without criticality or reaction severity: unknown
    if severe:
        by_name: dict[str, list[JSON]] = {}
        for r in severe:
            by_name.setdefault(norm(label(r.get("code"))), []).append(r)
        facts = [
            {"type": "name", "names": _allergen_names(label(rs[0].get("code")), rs[0].get("code"))}
            for rs in by_name.values()
        ]
        groups = [[ref(r) for r in rs] for rs in by_name.values()]
        answer = {"stance": True, "stance_kind": "severe", "facts": facts}
    else:
        answer = {"stance": False, "stance_kind": "severe", "facts": []}
        groups = [[ref(r) for r in allergies]]
    crit = sorted({str(r.get("criticality")) for r in allergies})
    return Fact("judgement", answer, groups, info={"criticality": crit})


# --------------------------------------------------------------------------- flu


def flu_due(rec: Record, params: dict[str, Any], ref_date: str) -> Fact | None:
    """Due when the last completed flu shot is ≥ 400 days before today (or there is
    none), not due when ≤ 330 days; in between not asked."""
    birth = day(rec.patient.get("birthDate"))
    today = dt.date.fromisoformat(ref_date)
    if birth and (today - dt.date.fromisoformat(birth)).days < 365:
        return None  # infants: not a question to ask
    given = immunizations(rec, VACCINES["flu"])
    if not given:
        answer = {"stance": True, "stance_kind": "due", "facts": []}
        return Fact("judgement", answer, [[ref(rec.patient)]], info={"last": None})
    last = given[-1][0]
    days = (today - dt.date.fromisoformat(last)).days
    if 330 < days < 400:
        return None
    answer = {
        "stance": days >= 400,
        "stance_kind": "due",
        "facts": [{"type": "date", "value": last}],
    }
    return Fact(
        "judgement",
        answer,
        [[ref(r) for d, r in given if d == last]],
        info={"last": last, "days": days},
    )


# --------------------------------------------------------------------------- registry

KindFn = Callable[[Record, dict[str, Any], str], Fact | None]

KINDS: dict[str, KindFn] = {
    "control": control,
    "resolved": resolved,
    "stopped": stopped,
    "treated_for": treated_for,
    "why_med": why_med,
    "visit_reason": visit_reason,
    "allergy_severity": allergy_severity,
    "flu_due": flu_due,
}

DEFINITIONS: dict[str, str] = {
    "control": "Asked when the condition (diabetes, hypertension, hyperlipidemia) is active "
    "(clinicalStatus active/recurrence/relapse or absent, no abatement) and has a result. The "
    "latest result (all results of that day must agree): HbA1c (LOINC 4548-4/17856-6 …, in %): "
    "< 7 controlled, ≥ 8 not, 7–8 no stance scored; blood pressure (8480-6/8462-4, panel "
    "components or standalone): < 130/80 controlled, ≥ 140 systolic or ≥ 90 diastolic not, "
    "else no stance; LDL (18262-6/2089-1 …, mg/dL): < 100 controlled, ≥ 160 not, else no "
    "stance. Facts required: the value(s) (±1 %, or the value rounded as said) and the day.",
    "resolved": "An acute condition the patient has had (a Condition of the concept): yes "
    "(resolved) when every episode is resolved/inactive/remission or has abatement[x]; no when "
    "one is active (evidence: the active ones; for yes: all episodes, one group).",
    "stopped": "Yes (off it) when the drug (ingredient words in the medication's name) has "
    "MedicationRequests/Statements and every one is stopped/completed (evidence: the latest); "
    "no when one is active (evidence: the active ones). Not asked when one is on-hold/draft/"
    "unknown and none active.",
    "treated_for": "The distinct names of ACTIVE medication orders whose reasonReference "
    "Condition (or reasonCode) is of the condition concept; asked when the condition is "
    "active, at least one such order exists, and no active order without a reason is of a "
    "drug that could treat it. One evidence group per medication.",
    "why_med": "The reason (reasonReference Condition or reasonCode) of the drug's latest "
    "order(s) (drug = the ingredient's name, all strengths); asked when there is exactly one "
    "reason. Any name of the condition counts (its display, lay names).",
    "visit_reason": "The latest Encounter day: the reasonCode/reasonReference names of the "
    "one Encounter with a reason, or (when none has one) the single specific type (check-up, "
    "follow-up …; not 'encounter for problem'); the type's wording is always accepted.",
    "allergy_severity": "Active AllergyIntolerances: yes (serious) when one has criticality "
    "high or a reaction of severity severe, and their names are required; no when none is "
    "(every one graded low or with non-severe reactions). Not asked without allergies or "
    "with an ungraded one.",
    "flu_due": "The latest completed influenza Immunization (CVX flu codes): ≥ 400 days "
    "before today → due (yes), ≤ 330 days → not due (no), in between not asked; none ever → "
    "due (evidence: the Patient). Fact required: the day of the last flu shot, when there "
    "is one. Living patients over one year old.",
}


def compute(kind: str, rec: Record, params: dict[str, Any], ref_date: str) -> Fact | None:
    """The ground truth of one question kind on one record."""
    return KINDS[kind](rec, params, ref_date)

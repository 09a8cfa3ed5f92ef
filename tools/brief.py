"""The pre-visit brief, written by code from the record (no model): a first screen a
clinician reads in a minute, then the history, collapsed.

First screen (at most about 350 words; longer lists end with "+N more"):

- **the patient**: name, age, sex (death), and a record check when entries are dated
  after the recorded death;
- **active problems**: clinical problems only (disorders, then findings; social history
  and administrative entries are not problems: :func:`tools.codes.condition_kind`), the
  ones under current care first (a current medication given for it, an open care plan
  addressing it, a recent encounter for it: the record's own links), then by onset; an
  acute or self-limiting condition left open for over a year says "verify";
- **current medications** with dose and reason; one last ordered more than a year ago
  says "active in record, last ordered YEAR — verify";
- **allergies** (or "No allergies recorded", itself a cited fact of the record);
- **results to review**: key labs and vitals whose latest value is out of range or
  changed meaningfully (the thresholds of :mod:`tools.trends`), with the value before;
- **due or overdue**: a key lab the patient has had whose last value is older than its
  repeat interval (:mod:`tools.codes`: HbA1c 6 months per ADA; eGFR, creatinine,
  albumin/creatinine ratio and lipids yearly; not for a deceased patient; those last
  done the same day share a line), then the cancer screenings due by the patient's age
  and sex (:mod:`tools.schedules`, USPSTF: none on record, or the last one too long ago);
- **last visit**: its date and kind, and what changed since the visit before it
  (problems begun or resolved, medications ordered: current or since stopped) and the
  key results out of range at it.

History (collapsed): recent encounters, open care plans and goals, procedures (routine screenings on one line),
immunizations, other key results, past problems, past medications, social history.

Every line cites the FHIR resources it rests on (``[Condition/abc]`` in the Markdown;
:attr:`Line.handles` / :attr:`Line.refs` for a model or a verifier), and record text is
quoted as recorded.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tools._record import RecordView, Resource, fmt_num, is_deceased, view_of
from tools.codes import MEASURES
from tools.evidence import EvidenceItem, EvidenceSet, build_evidence, item_concepts
from tools.schedules import ages_said, scheduled_care, ways_said
from tools.summary import (
    Line,
    after_death_line,
    condition_kind_of,
    handle_index,
    procedure_lines,
    recent_lines,
    social_lines,
)
from tools.terminology import Terminology, default_terminology
from tools.trends import Trend, lab_trends
from tools.units import display_unit

__all__ = [
    "FIRST_SCREEN_WORDS",
    "Brief",
    "BriefSection",
    "ago_said",
    "brief_sections",
    "build_brief",
    "interval_said",
    "last_visit_lines",
    "overdue_lines",
    "plain",
    "screening_lines",
    "sentence_case",
]

#: The first screen's word budget: what a clinician reads in about a minute.
FIRST_SCREEN_WORDS = 350
_KEY_PRIORITY = 15
_MAX = {"Active problems": 8, "Current medications": 8, "Allergies": 6, "Results to review": 6,
        "Due or overdue": 5, "Last visit": 4,
        # of a patient who has died, the lists as the record left them then
        "Active problems at death": 8, "Medications at death": 8}  # fmt: skip
_OPEN = ("active", "accepted", "planned", "proposed", "on-hold", "in-progress")
_TAGS = (
    r"\((?:disorder|finding|situation|procedure|regime/therapy|record artifact|"
    r"observable entity|qualifier value)\)"
)
_TAG = re.compile(rf"\s*{_TAGS}\s*$")  # at the end of a name
_INLINE_TAG = re.compile(rf" {_TAGS}")  # anywhere in a line of names


@dataclass
class BriefSection:
    """A titled group of cited lines; ``first_screen`` sections come first, the others
    are the collapsed history."""

    title: str
    lines: list[Line]
    first_screen: bool = True
    more: int = 0  # lines left out of the first screen (shown under the history)


@dataclass
class Brief:
    """The Markdown brief, its sections (cited lines) and all citations."""

    markdown: str
    citations: list[str]
    sections: dict[str, list[dict[str, Any]]]
    first_screen_words: int = 0
    parts: list[BriefSection] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"text": self.markdown, "markdown": self.markdown, "citations": self.citations,
                "sections": self.sections, "first_screen_words": self.first_screen_words}  # fmt: skip


def plain(name: str) -> str:
    """A display without its SNOMED semantic tag: "Gout (disorder)" → "Gout"."""
    return _TAG.sub("", name).strip()


def sentence_case(text: str) -> str:
    """The text with a capital first letter, unless its first word is written with
    capitals inside it already ("eGFR", "pH", "mRNA": not "EGFR")."""
    first = text.split(maxsplit=1)[0] if text.strip() else ""
    if any(ch.isupper() for ch in first[1:]):
        return text
    return text[:1].upper() + text[1:]


def _untagged(line: Line) -> Line:
    """A summary line for a clinician: SNOMED semantic tags dropped from every name in it
    ("Sputum examination (procedure) for Acute bronchitis (disorder)" → "Sputum examination
    for Acute bronchitis")."""
    return dataclasses.replace(line, text=_INLINE_TAG.sub("", line.text))


def _month(day: str | None) -> str:
    return (day or "")[:7] or "an unknown date"


def ago_said(days: int) -> str:
    """How long ago, as a clinician says it: "12 days", "7 months", "over 5 years"."""
    if days < 62:
        return f"{days} days ago"
    if days < 730:
        return f"{days * 12 // 365} months ago"
    years = days * 100 // 36525
    return f"{'over ' if days - years * 365.25 > 31 else ''}{years} years ago"


def _join(names: Sequence[str]) -> str:
    """ "HbA1c, creatinine and LDL cholesterol": names after the first lower-cased unless
    they are acronyms or start with one."""
    rest = [n[:1].lower() + n[1:] if n[1:2].islower() else n for n in names[1:]]
    return names[0] if not rest else ", ".join([names[0], *rest[:-1]]) + " and " + rest[-1]


def interval_said(days: int) -> str:
    """How often, as a clinician says it: "every year", "every 6 months"."""
    if days % 365 == 0:
        n = days // 365
        return "every year" if n == 1 else f"every {n} years"
    months = round(days / 30.4)
    return f"every {months} months"


# --------------------------------------------------------------------------- lines


def _patient(ev: EvidenceSet) -> list[Line]:
    out = []
    for item in ev.section("patient"):
        d = item.demographics
        if d is None:
            continue
        who = d.name or "The patient"
        sex = d.gender or "sex not recorded"
        if d.deceased:
            death = f"died {d.death_date}" if d.death_date else "deceased (date not recorded)"
            age = f" at {d.age}" if d.age is not None and d.death_date else ""
            text = f"{who}, {sex}, born {d.birth_date or 'on an unknown date'}, {death}{age} (DECEASED)"
        elif d.age is not None:
            text = f"{who}, {d.age}-year-old {sex}, born {d.birth_date}"
        else:
            text = f"{who}, {sex}, birth date not recorded"
        out.append(Line(text, [item.handle], list(item.references)))
    return out


def _key(name: str) -> str:
    return plain(name).casefold()


def _managed(ev: EvidenceSet, terminology: Terminology) -> Counter[str]:
    """How much current care each active problem (by handle) gets in the record: a current
    medication given for it (2; 1 when not reordered for over a year), an open care plan
    or goal addressing it (1 each), an encounter for it within the two years before the
    last one (1, at most 2), another active problem that is a kind of it (1 each: a
    complication such as diabetic neuropathy counts for diabetes). Links are the record's
    own (``reasonReference``/``reasonCode``, ``CarePlan.addresses``) matched by concept
    (:mod:`tools.terminology`) or by name, never by the record's wording conventions."""
    problems = [
        i
        for i in ev.section("conditions")
        if i.kind == "condition" and i.status == "active" and condition_kind_of(i) == "problem"
    ]
    own = {i.handle: {c.id for c in item_concepts(i, terminology)} for i in problems}
    # a link naming a narrow class the problem belongs to ("diabetes" for type 2
    # diabetes) is about it too; a broad one ("disease") is not
    near = {
        h: ids
        | {
            a
            for c in ids
            for a in terminology.ancestors(c)
            if len(terminology.descendants(a)) <= 20
        }
        for h, ids in own.items()
    }

    def about(texts: Sequence[str]) -> list[str]:
        keys = {_key(t) for t in texts}
        found = {c.id for t in texts for m in terminology.mentions(t) for c in m.concepts}
        return [i.handle for i in problems if _key(i.name) in keys or near[i.handle] & found]

    score: Counter[str] = Counter()
    for m in ev.section("medications"):
        if m.kind == "medication" and m.status == "current" and m.reasons:
            score.update({h: 1 if "stale" in m.flags else 2 for h in about(m.reasons)})
    for c in ev.section("care_plans"):
        if c.kind in ("care_plan", "goal") and c.status in _OPEN:
            score.update(about([*(c.care.addresses if c.care else ()), c.name]))
    days = [p.day for e in ev.section("encounters") for p in e.points if p.day]
    if days:
        since = str(int(max(days)[:4]) - 2) + max(days)[4:]
        for e in ev.section("encounters"):
            recent = min(2, sum(1 for p in e.points if p.day and p.day >= since))
            if recent and e.reasons:
                score.update({h: recent for h in about(e.reasons)})
    for i in problems:
        above = {a for c in own[i.handle] for a in terminology.ancestors(c)}
        score.update(
            h for h in own if h != i.handle and own[h] & above and not own[h] & own[i.handle]
        )
    return score


def _problems(
    ev: EvidenceSet, active: bool, terminology: Terminology | None = None, *, died: bool = False
) -> list[Line]:
    out = []
    items = ev.section("conditions")
    if active:  # the problems under current care first, then by onset (latest first)
        managed = _managed(ev, terminology or default_terminology())
        items = sorted(items, key=lambda i: ("stale" in i.flags, -managed[i.handle]))
    for item in items:
        if item.kind == "absence":
            if active:
                out.append(Line("No conditions recorded", [item.handle], []))
            continue
        if (item.status == "active") != active or condition_kind_of(item) != "problem":
            continue
        first, last = item.points[0], item.points[-1]
        if active:
            text = f"{plain(item.name)} — since {first.day or 'an unknown date'}"
            if "stale" in item.flags and died:  # no task left to verify
                text = f"{plain(item.name)} — active in record since {_month(first.day)[:4]}, an acute condition never closed"
            elif "stale" in item.flags:
                text = f"{plain(item.name)} — active in record since {_month(first.day)[:4]}, an acute condition: verify"
            refs = [first.source.reference]
        else:
            text = f"{plain(item.name)} — {'last ' if len(item.points) > 1 else ''}{last.day or ''}"
            if last.end:
                text += f", resolved {last.end[:10]}"
            refs = [last.source.reference]
        out.append(Line(text.rstrip(" —"), [item.handle], refs))
    return out


def _stroke_risk(ev: EvidenceSet, terminology: Terminology, *, died: bool = False) -> list[Line]:
    """For active atrial fibrillation: its CHA₂DS₂-VASc score from the record
    (:func:`tools.scores.cha2ds2_vasc`, what earns each point) and the anticoagulant among
    the current medications, or that none is — what a clinician checks before the visit."""
    from tools.scores import cha2ds2_vasc

    af = terminology.concept("atrial_fibrillation")
    anticoagulant = terminology.concept("anticoagulant")
    if af is None or anticoagulant is None:
        return []
    active = [
        i
        for i in ev.section("conditions")
        if i.kind == "condition"
        and i.status == "active"
        and any(terminology.implies(c, af) for c in item_concepts(i, terminology)[:1])
    ]
    if not active:
        return []
    score = cha2ds2_vasc(ev, terminology)
    earned = [
        f"{c.name}{f' +{c.points}' if c.points > 1 else ''}" for c in score.criteria if c.points
    ]
    cited = [active[0], *(c.items[0] for c in score.criteria if c.items)]
    if score.patient is not None:
        cited.append(score.patient)
    text = f"CHA2DS2-VASc {score.total} from the record" + (
        f" ({', '.join(earned)})" if earned else ""
    )
    if score.missing:
        text += f"; the record does not give {' or '.join(score.missing)}"
    taking = [
        m
        for m in ev.section("medications")
        if m.kind == "medication"
        and m.status == "current"
        and any(terminology.implies(c, anticoagulant) for c in item_concepts(m, terminology))
    ]
    lines = [
        Line(
            f"Atrial fibrillation — {text}",
            list(dict.fromkeys(i.handle for i in cited)),
            list(dict.fromkeys(i.reference for i in cited)),
        )
    ]
    if taking:
        names = ", ".join(plain(m.name) for m in taking)
        stale = any("stale" in m.flags for m in taking)
        # (of a patient who has died, no task is left to verify)
        old = "" if not stale else " (an old order)" if died else " (an old order: verify)"
        lines.append(
            Line(
                f"Anticoagulant: {names}{old}",
                [m.handle for m in taking],
                [m.reference for m in taking],
            )
        )
    else:
        meds = [m for m in ev.section("medications") if m.kind == "medication"]
        lines.append(
            Line(
                "No anticoagulant among the current medications",
                [m.handle for m in meds][:1],
                [],
            )
        )
    return lines


def _medications(ev: EvidenceSet, current: bool, *, died: bool = False) -> list[Line]:
    out = []
    for item in ev.section("medications"):
        if item.kind == "absence":
            if current:
                out.append(Line("No medications recorded", [item.handle], []))
            continue
        if (item.status == "current") != current:
            continue
        text = item.name
        doses = [d.text for d in item.dosages]
        if doses:
            text += f", {doses[0]}"
        if item.reasons:
            text += f" — for {', '.join(plain(r) for r in item.reasons)}"
        last = item.latest
        if "stale" in item.flags:  # (of a patient who has died, no task left to verify)
            year = _month(last.day if last else None)[:4]
            text += (
                f" — active in record, last ordered {year}, never stopped"
                if died
                else f" — active in record, last ordered {year}: verify"
            )
        elif last and last.day:
            text += f" ({'last ordered' if current else 'last'} {last.day})"
        out.append(Line(text, [item.handle], [item.reference]))
    return out


def _allergies(ev: EvidenceSet) -> list[Line]:
    out = []
    for item in ev.section("allergies"):
        if item.kind == "absence":
            out.append(Line("No allergies recorded", [item.handle], []))
            continue
        if item.status not in ("active", "unknown", None):
            continue
        bits = []
        if item.criticality:
            bits.append(f"{item.criticality} criticality")
        if item.reactions:
            bits.append("reaction: " + ", ".join(item.reactions))
        text = plain(item.name) + (f" — {'; '.join(bits)}" if bits else "")
        out.append(Line(text, [item.handle], list(item.references)))
    return out


def _result(t: Trend, index: dict[tuple[str, str], str]) -> Line | None:
    last = t.latest
    if last is None:
        return None
    shown = display_unit(t.unit)
    unit = f" {shown}" if shown else ""
    text = f"{t.display} {fmt_num(last.value)}{unit} on {last.date}"
    cited = [last]
    if last.flag:
        default = " default" if t.ref_source != "Observation" else ""
        text += f" — {'high' if last.flag == 'H' else 'low'} (ref {t.ref_text}{unit}{default})"
    earlier = [p for p in t.points if p.date and last.date and p.date < last.date]
    if earlier and earlier[-1].value != last.value:
        prev = earlier[-1]
        text += f"; {'up' if last.value > prev.value else 'down'} from {fmt_num(prev.value)} on {prev.date}"
        cited.append(prev)
    meaningful = any(f.startswith("meaningful") and "first" in f for f in t.flags)
    if len(earlier) > 1 and meaningful and t.first:
        text += f"; first {fmt_num(t.first.value)} on {t.first.date}"
        cited.append(t.first)
    refs = list(dict.fromkeys(p.ref for p in cited))
    handles = list(dict.fromkeys(h for p in cited if (h := index.get((p.ref, p.path)))))
    return Line(text, handles, refs, trend=t)


def overdue_lines(
    view: RecordView, ev: EvidenceSet, trends: Sequence[Trend], index: dict[tuple[str, str], str]
) -> list[Line]:
    """The key labs the patient has had whose last result is older than their usual
    retest interval (:attr:`tools.codes.Measure.retest_days`), those last done the same
    day in one line ("HbA1c overdue — last 2024-06-03, 12 months ago (recommended every
    6 months)"), citing the last results; none for a patient who has died."""
    out: list[Line] = []
    if is_deceased(view.patient):
        return out  # nothing is due for a deceased patient
    if trends:
        by_key = {t.key: t for t in trends}
        groups: dict[tuple[str, int, int], list[Trend]] = {}
        for m in MEASURES:  # in priority order; those last done the same day share a line
            t = by_key.get(m.key)
            if not m.retest_days or t is None or t.latest is None or t.days_since_last is None:
                continue
            if t.days_since_last > m.retest_days:
                due_key = (t.latest.date or "", t.days_since_last, m.retest_days)
                groups.setdefault(due_key, []).append(t)
        for (day, since, every), group in groups.items():
            lasts = [t.latest for t in group if t.latest]
            out.append(
                Line(
                    f"{_join([t.display for t in group])} overdue — last {day}, {ago_said(since)} "
                    f"(recommended {interval_said(every)})",
                    list(dict.fromkeys(h for p in lasts if (h := index.get((p.ref, p.path))))),
                    list(dict.fromkeys(p.ref for p in lasts)),
                    numbers=(float(since), float(every)),
                )
            )
    return out


def screening_lines(ev: EvidenceSet, as_of: dt.date, terminology: Terminology) -> list[Line]:
    """The cancer screenings and once-in-adult-life vaccines due by the patient's age and
    sex (:mod:`tools.schedules`: USPSTF, the CDC adult schedule), in one line: "Due by age
    and sex — zoster vaccine (none on record; CDC, ages 50 and older); colorectal cancer
    screening (last Colonoscopy 2012-05-01, over 13 years ago; colonoscopy every 10
    years)"; citing the patient and the last one done of each. None when nothing is due."""
    parts: list[str] = []
    entries: list[EvidenceItem] = []
    numbers: list[float] = []
    for st in scheduled_care(ev, as_of=as_of, terminology=terminology):
        if st.verdict != "due" or st.screening.ages is None:
            continue
        name = plain(st.screening.name)
        name = name[:1].lower() + name[1:]
        if st.last is None:
            by = f"{st.screening.by}, " if st.screening.by else ""
            parts.append(f"{name} (none on record; {by}{ages_said(st.screening.ages)})")
        else:
            day, item, way = st.last
            parts.append(
                f"{name} (last {plain(item.name)} {day.isoformat()}, {ago_said((as_of - day).days)}; "
                f"{ways_said([way])})"
            )
        entries += [e for e in st.entries if e not in entries]
        lo, hi = st.screening.ages
        numbers += [float(lo), *((float(hi),) if hi is not None else ())]
        numbers += [float(w.repeat_days) for w in st.ways if w.repeat_days]
    if not parts:
        return []
    return [
        Line(
            "Due by age and sex — " + "; ".join(parts),
            [i.handle for i in entries],
            list(dict.fromkeys(r for i in entries for r in i.references)),
            numbers=tuple(numbers),
        )
    ]


def _care(ev: EvidenceSet) -> list[Line]:
    """Open goals, then open care plans."""
    goals: list[Line] = []
    plans: list[Line] = []
    for item in ev.section("care_plans"):
        if item.kind == "care_team":
            continue
        if item.status in _OPEN:
            if item.kind == "goal":
                words = item.name.split()
                name = " ".join(words[:14]) + (" …" if len(words) > 14 else "")
                goals.append(Line(f"Goal: {name} ({item.status})", [item.handle], [item.reference]))
            else:
                since = item.points[-1].day if item.points else None
                text = f"Care plan: {plain(item.name)}" + (f" (since {since})" if since else "")
                plans.append(Line(text, [item.handle], [item.reference]))
    return goals + plans


def last_visit_lines(
    ev: EvidenceSet, trends: Sequence[Trend], index: dict[tuple[str, str], str]
) -> list[Line]:
    """The last visit, and what changed in the record since the visit before it: problems
    that began or resolved, medications ordered (current or since stopped), and the key
    results out of range at the last visit."""
    visits = [(p.day, i, p) for i in ev.section("encounters") for p in i.points if p.day]
    if not visits:
        return []
    day, enc, point = max(visits, key=lambda v: (v[0] or "", v[2].source.reference))
    before = [v for v in visits if v[0] and v[0] < (day or "")]
    prev = max(v[0] or "" for v in before) if before else None
    kind = f"{enc.subtype + ' ' if enc.subtype else ''}{plain(enc.name)}"
    reasons = f" for {', '.join(plain(r) for r in enc.reasons)}" if enc.reasons else ""
    out = [Line(f"{day}: {kind}{reasons}", [enc.handle], [point.source.reference])]

    def changed(d: str | None) -> bool:
        return bool(d) and (d or "") > (prev or "") and (prev is not None or d == day)

    since = f"since {prev}" if prev else "then"
    problems = [i for i in ev.section("conditions") if i.kind == "condition" and condition_kind_of(i) == "problem"]  # fmt: skip
    new = [i for i in problems if i.points and changed(i.points[0].day)]
    ended = [i for i in problems if i.status != "active" and i.points and changed((i.points[-1].end or "")[:10])]  # fmt: skip
    if new or ended:
        bits = []
        if new:
            bits.append("new " + ", ".join(plain(i.name) for i in new))
        if ended:
            bits.append("resolved " + ", ".join(plain(i.name) for i in ended))
        items = [*new, *ended]
        refs = [i.points[0].source.reference for i in new] + [
            i.points[-1].source.reference for i in ended
        ]
        out.append(Line(f"Problems {since}: " + "; ".join(bits), [i.handle for i in items],
                        list(dict.fromkeys(refs))))  # fmt: skip
    meds = [i for i in ev.section("medications") if i.kind == "medication"
            and any(changed(p.day) for p in i.points)]  # fmt: skip
    if meds:
        names = [f"{i.name}{'' if i.status == 'current' else ' (since stopped)'}" for i in meds]
        out.append(Line(f"Ordered {since}: " + ", ".join(names), [i.handle for i in meds],
                        [p.source.reference for i in meds for p in i.points if changed(p.day)]))  # fmt: skip
    flagged = [
        t
        for t in trends
        if t.priority <= _KEY_PRIORITY and t.latest and t.latest.date == day and t.latest.flag
    ]
    if flagged:
        latest = [t.latest for t in flagged if t.latest]
        out.append(
            Line(
                "Out of range then: "
                + ", ".join(
                    f"{t.display} {fmt_num(t.latest.value)} {display_unit(t.unit)}".strip()
                    for t in flagged
                    if t.latest
                ),
                list(dict.fromkeys(h for p in latest if (h := index.get((p.ref, p.path))))),
                list(dict.fromkeys(p.ref for p in latest)),
            )
        )
    return out


def _encounters(ev: EvidenceSet, n: int) -> list[Line]:
    visits = sorted(
        ((p.day or "", i, p) for i in ev.section("encounters") for p in i.points),
        key=lambda v: (v[0], v[2].source.reference),
        reverse=True,
    )
    out = []
    for day, item, p in visits[:n]:
        kind = f"{item.subtype + ' ' if item.subtype else ''}{plain(item.name)}"
        reasons = f" for {', '.join(plain(r) for r in item.reasons)}" if item.reasons else ""
        end = f"→{p.end[:10]}" if p.end and p.end[:10] != day else ""
        out.append(
            Line(f"{day or 'undated'}{end}: {kind}{reasons}", [item.handle], [p.source.reference])
        )
    return out


# --------------------------------------------------------------------------- sections


def brief_sections(
    view: RecordView,
    ev: EvidenceSet,
    trends: Sequence[Trend],
    as_of: dt.date,
    *,
    max_encounters: int = 5,
) -> list[BriefSection]:
    """The brief's sections as cited lines: the first screen (lists cut to fit, the rest
    moved to the history), then the collapsed history."""
    index = handle_index(ev)
    key = [t for t in trends if t.priority <= _KEY_PRIORITY]
    to_review = [t for t in key if t.abnormal] + [t for t in key if t.changing and not t.abnormal]
    results = [ln for t in to_review if (ln := _result(t, index))]
    others = [ln for t in key if t not in to_review and (ln := _result(t, index))]
    abnormal_other = [
        ln
        for t in trends
        if t.priority > _KEY_PRIORITY and t.abnormal and (ln := _result(t, index))
    ]
    patient = _patient(ev)
    check = after_death_line(view, ev)
    gaps = screening_lines(ev, as_of, default_terminology())  # none for a patient who died
    died = is_deceased(view.patient)
    first = [
        BriefSection("Patient", patient + ([check] if check else [])),
        BriefSection(
            "Active problems at death" if died else "Active problems",
            _problems(ev, True, died=died),
        ),
        BriefSection(
            "Medications at death" if died else "Current medications",
            _medications(ev, True, died=died),
        ),
        BriefSection("Allergies", _allergies(ev)),
        *(
            [BriefSection("Stroke risk", risk)]
            if (risk := _stroke_risk(ev, default_terminology(), died=died))
            else []
        ),
        BriefSection("Results to review", results),
        *(
            []
            if died
            else [BriefSection("Due or overdue", overdue_lines(view, ev, trends, index) + gaps)]
        ),
        BriefSection("Last visit", last_visit_lines(ev, trends, index)),
    ]
    spill: dict[str, list[Line]] = {}
    for s in first:
        cap = _MAX.get(s.title)
        if cap is not None and len(s.lines) > cap:
            spill[s.title] = s.lines[cap:]
            s.more = len(s.lines) - cap
            s.lines = s.lines[:cap]
    # keep the first screen within its word budget: the care due by age and sex goes first
    # (below the problems, medications and results a clinician acts on), then shorten the
    # longest lists
    while _words(first) > FIRST_SCREEN_WORDS:
        due = next((s for s in first if s.title == "Due or overdue"), None)
        if due is not None and gaps and gaps[0] in due.lines:
            due.lines.remove(gaps[0])
            spill.setdefault(due.title, []).append(gaps[0])
            due.more += 1
            continue
        longest = max(
            (s for s in first[1:] if len(s.lines) > 2), key=lambda s: len(s.lines), default=None
        )
        if longest is None:
            break
        spill.setdefault(longest.title, []).insert(0, longest.lines.pop())
        longest.more += 1
    history = [
        BriefSection(f"More {title.lower()}", lines, first_screen=False)
        for title, lines in spill.items()
    ]
    history += [
        BriefSection("Recent encounters", _encounters(ev, max_encounters), first_screen=False),
        BriefSection("Care plans and goals", _care(ev), first_screen=False),
        BriefSection(
            "Procedures", [_untagged(ln) for ln in procedure_lines(ev, 5)], first_screen=False
        ),
        BriefSection(
            "Immunizations", recent_lines(ev.section("immunizations"), 5), first_screen=False
        ),
        BriefSection("Other key results", others, first_screen=False),
        BriefSection("Other results out of range", abnormal_other, first_screen=False),
        BriefSection("Past problems", _problems(ev, False), first_screen=False),
        BriefSection("Past medications", _medications(ev, False)[:8], first_screen=False),
        BriefSection("Social history", social_lines(ev), first_screen=False),
    ]
    return first + history


def _words(sections: Sequence[BriefSection]) -> int:
    return sum(len(ln.text.split()) for s in sections for ln in s.lines) + sum(
        len(s.title.split()) for s in sections
    )


def _cites(ln: Line) -> str:
    if ln.refs:
        return " " + " ".join(f"[{r}]" for r in dict.fromkeys(ln.refs))
    return ""


def build_brief(
    record: Sequence[Resource] | RecordView,
    *,
    as_of: dt.date | None = None,
    evidence: EvidenceSet | None = None,
    trends: Sequence[Trend] | None = None,
    max_encounters: int = 5,
) -> Brief:
    """Build the extractive pre-visit brief of a patient's record."""
    view = view_of(record)
    as_of = as_of or dt.datetime.now(dt.UTC).date()
    ev = evidence or build_evidence(view, as_of=as_of)
    trends = list(trends) if trends is not None else lab_trends(view, as_of=as_of)
    parts = brief_sections(view, ev, trends, as_of, max_encounters=max_encounters)
    first = [s for s in parts if s.first_screen]
    patient = ev.section("patient")
    who = patient[0].demographics if patient else None
    title = (
        who.name
        if who and who.name
        else (f"Patient/{view.patient_id}" if view.patient_id else "unknown patient")
    )
    md = [
        # of a patient who has died, a review of the record, not a brief for a visit
        f"# Record review: {title} (died {who.death_date or 'on an unknown date'})"
        if who and who.deceased
        else f"# Pre-visit brief: {title}",
        f"_As of {as_of.isoformat()}. Written from the record by code (no model); every line cites the "
        "FHIR resources it comes from. Record text is quoted as recorded._",
    ]
    for s in parts:
        if not s.first_screen and s is next(p for p in parts if not p.first_screen):
            md.append("\n<details><summary>History, other results and social context</summary>\n")
        if not s.lines and not s.first_screen:
            continue
        md.append(f"\n## {s.title}")
        if not s.lines:
            md.append("- none recorded")
        for ln in s.lines:
            md.append(f"- {ln.text}{_cites(ln)}")
        if s.more:
            md.append(f"- _+{s.more} more under the history below_")
    if any(not s.first_screen for s in parts):
        md.append("\n</details>")
    md.append(f"\n_{ev.counts_line}_")
    citations = list(dict.fromkeys(r for s in parts for ln in s.lines for r in ln.refs))
    return Brief(
        "\n".join(md),
        citations,
        {s.title: [{"text": ln.text, "citations": ln.refs} for ln in s.lines] for s in parts},
        first_screen_words=_words(first),
        parts=parts,
    )

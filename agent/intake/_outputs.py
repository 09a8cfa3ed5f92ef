"""The interview's outputs: the ``QuestionnaireResponse`` and the cited pre-visit brief.

:func:`questionnaire_response` turns the answers into a FHIR R4 ``QuestionnaireResponse``
(questionnaire canonical, subject, encounter / appointment, author and source = the
Patient, authored, one item per question asked with its typed answer; "skip" and "I
don't know" as ``data-absent-reason`` codings; the patient's own words on every item).

:func:`intake_brief` writes the brief by code (extractive, no model) as a
:class:`agent.answer.CitedAnswer`: patient-reported facts cite
``QuestionnaireResponse/ID#linkId``, chart facts cite the record's resources, and every
sentence goes through the verifier's reported-answer check
(:func:`agent.verify.verify_reported`); a sentence that fails it is dropped, never shown.
The **Discrepancies** section (:func:`discrepancies`) lists where the answers and the
chart disagree:

* ``medication-stopped``: an active medication the patient says they no longer take;
* ``allergy-not-on-file``: a new allergy the chart does not list;
* ``allergy-disputed``: an allergy on file the patient says is not true;
* ``symptom-matches-lab``: a symptom the patient reports that matches an abnormal lab
  (by the measure, :data:`SYMPTOMS_BY_MEASURE`, or the patient's own "yes" to the lab's
  question);
* ``condition-not-on-file``: a problem the patient reports that no condition of the
  chart names (by concept through the terminology, else by name).
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from agent.answer import AnswerSentence, CitedAnswer, CitedResource, DroppedSentence
from agent.guard import scrub_item
from agent.session import merge_seen, seen_entry, seen_of
from agent.verify import Finding, verify_reported, verify_sentences
from tools._record import Resource, view_of
from tools.brief import brief_sections, plain
from tools.evidence import EvidenceSet, build_evidence, item_concepts
from tools.terminology import Terminology, default_terminology
from tools.trends import lab_trends

from ._model import PlannedQuestion, RecordedAnswer
from ._plan import ANSWER_SYSTEM, IntakePlan

__all__ = [
    "DATA_ABSENT",
    "QR_IDENTIFIER",
    "SYMPTOMS_BY_MEASURE",
    "WORDS_EXTENSION",
    "Discrepancy",
    "DiscrepancyKind",
    "IntakeOutcome",
    "discrepancies",
    "intake_brief",
    "qr_id_for",
    "questionnaire_response",
]

#: ``QuestionnaireResponse.identifier`` system: the interview's id, so a brief's
#: ``QuestionnaireResponse/ID#linkId`` citation resolves once the server assigns its id.
QR_IDENTIFIER = "urn:fhir-assistant:intake"
#: The patient's own words on every QuestionnaireResponse item.
WORDS_EXTENSION = "urn:fhir-assistant:intake:patient-words"
APPOINTMENT_EXTENSION = "urn:fhir-assistant:intake:appointment"
DATA_ABSENT = "http://terminology.hl7.org/CodeSystem/data-absent-reason"

#: Lay symptom words (stems) that go with an abnormal measure (keys of
#: :data:`tools.codes.MEASURES`, i.e. by LOINC code): a reported symptom with one of these
#: while that measure is out of range is a ``symptom-matches-lab`` discrepancy to review.
SYMPTOMS_BY_MEASURE: dict[str, tuple[str, ...]] = {
    "hba1c": ("thirst", "urinat", "peeing", "blurr", "tired", "fatigue", "exhaust", "weight loss"),
    "glucose": ("thirst", "urinat", "peeing", "blurr", "tired", "fatigue", "shak", "sweat", "dizz"),
    "systolic": ("headache", "dizz", "nosebleed", "chest pain", "blurr", "short of breath"),
    "diastolic": ("headache", "dizz", "nosebleed", "chest pain", "blurr"),
    "egfr": ("swell", "swollen", "itch", "urinat", "tired", "fatigue", "nause"),
    "creatinine": ("swell", "swollen", "itch", "urinat", "tired", "fatigue", "nause"),
    "hemoglobin": ("tired", "fatigue", "short of breath", "breathless", "dizz", "pale", "headache"),
    "potassium": ("palpitat", "weak", "cramp", "irregular heart"),
    "ntprobnp": ("short of breath", "breathless", "swell", "swollen", "cough"),
    "ldl": ("chest pain",),
    "cholesterol": ("chest pain",),
    "heart_rate": ("palpitat", "dizz", "faint", "racing"),
    "spo2": ("short of breath", "breathless", "cough"),
    "temperature": ("fever", "chills", "sweat"),
}

DiscrepancyKind = Literal[
    "medication-stopped",
    "allergy-not-on-file",
    "allergy-disputed",
    "symptom-matches-lab",
    "condition-not-on-file",
]


@dataclass(frozen=True)
class Discrepancy:
    """Where the patient's answers and the chart disagree (both sides cited)."""

    kind: DiscrepancyKind
    text: str
    link_ids: tuple[str, ...]
    references: tuple[str, ...]
    subject: str = ""


@dataclass
class IntakeOutcome:
    """A finished interview: its plan, answers, QuestionnaireResponse and brief."""

    patient_id: str
    thread_id: str
    plan: IntakePlan
    answers: dict[str, RecordedAnswer]
    questionnaire_response: Resource
    brief: CitedAnswer
    discrepancies: list[Discrepancy] = field(default_factory=list)
    consent: str | None = None
    appointment: str | None = None
    encounter: str | None = None

    @property
    def qr_id(self) -> str:
        return qr_id_for(self.thread_id)

    def as_dict(self) -> dict[str, Any]:
        return {
            "questionnaire_response": self.questionnaire_response,
            "brief": self.brief.as_dict(),
            "discrepancies": [
                {
                    "kind": d.kind,
                    "text": d.text,
                    "link_ids": list(d.link_ids),
                    "references": list(d.references),
                }
                for d in self.discrepancies
            ],
            "questionnaire": self.plan.questionnaire(),
            "thread_id": self.thread_id,
            "consent": self.consent,
        }


def qr_id_for(thread_id: str) -> str:
    """The interview's QuestionnaireResponse id as the brief cites it (a uuid from the
    thread id; the resource carries it as ``identifier`` ``QR_IDENTIFIER|id``)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{QR_IDENTIFIER}:{thread_id}"))


def _answer_elements(q: PlannedQuestion, a: RecordedAnswer) -> list[dict[str, Any]]:
    if a.status == "skipped":
        return [{"valueCoding": {"system": DATA_ABSENT, "code": "asked-declined",
                                 "display": "Asked But Declined"}}]  # fmt: skip
    if a.status == "unknown":
        return [{"valueCoding": {"system": DATA_ABSENT, "code": "asked-unknown",
                                 "display": "Asked But Unknown"}}]  # fmt: skip
    if a.value is None:
        return []
    return [a.value.fhir(ANSWER_SYSTEM)]


def questionnaire_response(
    plan: IntakePlan,
    answers: dict[str, RecordedAnswer],
    *,
    thread_id: str,
    authored: str,
    encounter: str | None = None,
    appointment: str | None = None,
    complete: bool = True,
) -> Resource:
    """The FHIR R4 QuestionnaireResponse of the interview (no id: a create)."""
    pid = plan.patient_id
    items = []
    for q in plan.questions:
        a = answers.get(q.link_id)
        if a is None:
            continue
        item: dict[str, Any] = {"linkId": q.link_id, "text": q.text}
        elements = _answer_elements(q, a)
        if elements:
            item["answer"] = elements
        words = a.words if a.first_words is None else f"{a.first_words} / {a.words}"
        item["extension"] = [{"url": WORDS_EXTENSION, "valueString": words}]
        items.append(item)
    qr: Resource = {
        "resourceType": "QuestionnaireResponse",
        "identifier": {"system": QR_IDENTIFIER, "value": qr_id_for(thread_id)},
        "questionnaire": plan.canonical,
        "status": "completed" if complete else "in-progress",
        "subject": {"reference": f"Patient/{pid}"},
        "authored": authored,
        "author": {"reference": f"Patient/{pid}"},
        "source": {"reference": f"Patient/{pid}"},
        "item": items,
    }
    if encounter:
        qr["encounter"] = {"reference": encounter}
    if appointment:
        qr["extension"] = [
            {"url": APPOINTMENT_EXTENSION, "valueReference": {"reference": appointment}}
        ]
    return qr


# --------------------------------------------------------------------------- brief


def _q(words: str) -> str:
    """The patient's words, quoted (one line)."""
    flat = re.sub(r"\s+", " ", words.strip())
    return f"\u201c{flat}\u201d"


def _yes(answers: dict[str, RecordedAnswer], link_id: str) -> bool | None:
    a = answers.get(link_id)
    if a is None or a.status != "answered" or a.value is None:
        return None
    return a.value.boolean


def _words(answers: dict[str, RecordedAnswer], link_id: str) -> str | None:
    a = answers.get(link_id)
    if a is None or a.status not in ("answered", "unparsed"):
        return None
    return a.words.strip() or None


def _stems_in(text: str, stems: Sequence[str]) -> list[str]:
    low = text.lower()
    return [s for s in stems if re.search(rf"\b{re.escape(s)}", low)]


def discrepancies(
    plan: IntakePlan,
    answers: dict[str, RecordedAnswer],
    record: Sequence[Resource],
    *,
    terminology: Terminology | None = None,
) -> list[Discrepancy]:
    """Where the answers and the chart disagree (see the module docstring)."""
    term = terminology or default_terminology()
    out: list[Discrepancy] = []
    for q in plan.questions:
        if (
            q.kind == "medication"
            and q.link_id.endswith("-taking")
            and _yes(answers, q.link_id) is False
        ):
            out.append(Discrepancy(
                "medication-stopped",
                f"The chart lists {_q(q.subject)} as an active medication, but the patient says "
                f"they no longer take it ({_q(answers[q.link_id].words)})",
                (q.link_id,), q.about, q.subject,
            ))  # fmt: skip
        if q.kind == "allergy" and _yes(answers, q.link_id) is False:
            out.append(Discrepancy(
                "allergy-disputed",
                f"The chart lists an allergy to {_q(q.subject)}, but the patient says it is not "
                f"correct ({_q(answers[q.link_id].words)})",
                (q.link_id,), q.about, q.subject,
            ))  # fmt: skip
    # a new allergy the chart does not list
    new = _words(answers, "new-allergy-detail") if _yes(answers, "new-allergy") else None
    if new:
        on_file = [q.subject for q in plan.questions if q.kind == "allergy"]
        ev = build_evidence(view_of(record))
        on_file += [plain(a.name) for a in ev.section("allergies") if a.kind == "allergy"]
        known = any(_same_thing(new, name, term) for name in on_file)
        if not known:
            out.append(Discrepancy(
                "allergy-not-on-file",
                f"The patient reports a new allergy not on file: {_q(new)}",
                ("new-allergy", "new-allergy-detail"), (), new,
            ))  # fmt: skip
    # symptoms that match an abnormal lab
    reported: list[tuple[str, str]] = [
        (lid, w) for lid in ("reason", "new-problem-detail") if (w := _words(answers, lid))
    ]
    for q in plan.questions:
        if q.kind != "lab" or q.link_id.endswith("-detail"):
            continue
        detail = _words(answers, f"{q.link_id}-detail")
        stems = SYMPTOMS_BY_MEASURE.get(str(q.facts.get("measure", "")), ())
        flag = "high" if q.facts.get("flag") == "H" else "low"
        lab = f"{q.subject} {flag} on {q.facts.get('date')}"
        if _yes(answers, q.link_id) and detail:
            out.append(Discrepancy(
                "symptom-matches-lab",
                f"The patient reports {_q(detail)}, with {lab} to review",
                (q.link_id, f"{q.link_id}-detail"), q.about, q.subject,
            ))  # fmt: skip
            continue
        for lid, words in reported:
            hits = _stems_in(words, stems)
            if hits:
                out.append(Discrepancy(
                    "symptom-matches-lab",
                    f"The patient reports {_q(words)}, which may match {lab}",
                    (lid,), q.about, q.subject,
                ))  # fmt: skip
                break
    # a condition the patient reports that the chart lacks
    problem = _words(answers, "new-problem-detail") if _yes(answers, "new-problem") else None
    if problem:
        ev = build_evidence(view_of(record))
        conditions = [c for c in ev.section("conditions") if c.kind == "condition"]
        said = {c.id for m in term.mentions(problem) for c in m.concepts}
        charted = any(
            (said and said & {c.id for c in item_concepts(c, term)})
            or _same_thing(problem, plain(c.name), term)
            for c in conditions
        )
        if not charted:
            out.append(Discrepancy(
                "condition-not-on-file",
                f"The patient reports a new problem the chart does not list: {_q(problem)}",
                ("new-problem", "new-problem-detail"), (), problem,
            ))  # fmt: skip
    return out


def _same_thing(words: str, name: str, term: Terminology) -> bool:
    """The patient's words name the record's entry: a shared concept, or a shared
    significant word (≥ 5 letters) of the entry's name."""
    said = {c.id for m in term.mentions(words) for c in m.concepts}
    named = {c.id for m in term.mentions(name) for c in m.concepts}
    if said and named and said & named:
        return True
    low = words.lower()
    return any(w in low for w in re.findall(r"[a-z]{5,}", name.lower()))


@dataclass
class _Sentence:
    text: str
    links: list[str]
    refs: list[str]
    section: str


def intake_brief(
    plan: IntakePlan,
    answers: dict[str, RecordedAnswer],
    record: Sequence[Resource],
    qr: Resource,
    *,
    thread_id: str,
    found: Sequence[Discrepancy] | None = None,
    terminology: Terminology | None = None,
    as_of: dt.date | None = None,
) -> CitedAnswer:
    """The pre-visit intake brief (extractive, cited, checked by the verifier)."""
    qrid = qr_id_for(thread_id)
    view = view_of(record)
    as_of = as_of or dt.date.fromisoformat(plan.as_of)
    found = (
        list(found)
        if found is not None
        else discrepancies(plan, answers, record, terminology=terminology)
    )
    out: list[_Sentence] = []

    def add(section: str, text: str, links: Sequence[str] = (), refs: Sequence[str] = ()) -> None:
        out.append(_Sentence(text, list(links), list(refs), section))

    def said(lid: str) -> str | None:
        a = answers.get(lid)
        if a is None:
            return None
        if a.status == "skipped":
            return "skipped"
        if a.status == "unknown":
            return "does not know"
        if a.status == "unparsed" or a.value is None:
            return _q(a.words)
        if a.value.string is not None:
            return _q(a.value.string)
        return f"{a.value.text()} ({_q(a.words)})"

    # Reason for visit
    sec = "Reason for visit"
    if plan.reason:
        add(sec, f"Scheduled reason: {_q(plan.reason)}", ["reason"] if "reason" in answers else [],
            plan.reason_refs)  # fmt: skip
    for lid, label in (("reason", "In the patient's words"), ("onset", "Started"),
                       ("severity", "Severity now"), ("course", "Course")):  # fmt: skip
        if (s := said(lid)) is not None:
            add(sec, f"{label}: {s}", [lid])
    # Discrepancies
    for d in found:
        add("Discrepancies", d.text, d.link_ids, d.references)
    if not found:
        add(
            "Discrepancies",
            "None found between the answers and the chart",
            [lid for lid in answers if lid in {q.link_id for q in plan.questions}][:1],
        )
    # Medications
    for q in plan.questions:
        if q.kind == "medication" and q.link_id.endswith("-taking") and q.link_id in answers:
            base = q.link_id.removesuffix("-taking")
            bits = [f"still taking: {said(q.link_id)}"]
            links = [q.link_id]
            for suffix, label in (
                ("-as-prescribed", "as prescribed"),
                ("-side-effects", "side effects"),
            ):
                if (s := said(base + suffix)) is not None:
                    bits.append(f"{label}: {s}")
                    links.append(base + suffix)
            add("Medications", f"{_q(q.subject)}: {'; '.join(bits)}", links, q.about)
    # Allergies
    for q in plan.questions:
        if q.kind == "allergy" and (s := said(q.link_id)) is not None:
            add("Allergies", f"{_q(q.subject)} on file; still correct: {s}", [q.link_id], q.about)
    if (s := said("new-allergy")) is not None:
        detail = said("new-allergy-detail")
        add("Allergies", f"New allergies: {s}" + (f"; {detail}" if detail else ""),
            ["new-allergy", *(["new-allergy-detail"] if detail else [])])  # fmt: skip
    # Results and symptoms
    for q in plan.questions:
        if (
            q.kind == "lab"
            and not q.link_id.endswith("-detail")
            and (s := said(q.link_id)) is not None
        ):
            detail = said(f"{q.link_id}-detail")
            flag = "high" if q.facts.get("flag") == "H" else "low"
            add("Results and related symptoms",
                f"{q.subject} {flag} on {q.facts.get('date')}; related symptoms: {s}"
                + (f"; {detail}" if detail else ""),
                [q.link_id, *([f"{q.link_id}-detail"] if detail else [])], q.about)  # fmt: skip
    # New problems
    if (s := said("new-problem")) is not None:
        detail = said("new-problem-detail")
        since = f" since {plan.last_encounter}" if plan.last_encounter else ""
        add("New problems", f"New problems{since}: {s}" + (f"; {detail}" if detail else ""),
            ["new-problem", *(["new-problem-detail"] if detail else [])])  # fmt: skip
    # Screenings, immunizations, goals, measurements
    for q in plan.questions:
        s = said(q.link_id)
        if s is None:
            continue
        if q.kind == "overdue":
            add("Due or overdue", f"{q.subject} due (last {q.facts.get('last')}); done elsewhere since: {s}",
                [q.link_id], q.about)  # fmt: skip
        elif q.kind == "immunization":
            add("Due or overdue", f"Flu vaccine (last on file {q.facts.get('last')}); had one since: {s}",
                [q.link_id], q.about)  # fmt: skip
        elif q.kind == "goal":
            add("Care goals", f"{_q(q.subject)}: {s}", [q.link_id], q.about)
        elif q.kind == "measurement":
            add("Measurements", f"{q.subject} now, as reported: {s}", [q.link_id], q.about)
    # Not answered
    gaps = [
        q
        for q in plan.questions
        if (a := answers.get(q.link_id)) and a.status in ("skipped", "unknown")
    ]
    for q in gaps:
        a = answers[q.link_id]
        add("Not answered", f"{q.link_id}: {'skipped' if a.status == 'skipped' else 'does not know'}",
            [q.link_id])  # fmt: skip
    # Chart context: the record's active problems (extractive lines of tools.brief)
    ev = build_evidence(view, as_of=as_of)
    for part in brief_sections(view, ev, lab_trends(view, as_of=as_of), as_of):
        if part.title == "Active problems":
            for ln in part.lines:
                if ln.refs:
                    add("Active problems (chart)", ln.text, refs=ln.refs)

    # verify every sentence (reported answers against the QR, chart facts against the record)
    sentences = [
        {
            "text": s.text,
            "cites": [*(f"QuestionnaireResponse/{qrid}#{lid}" for lid in s.links), *s.refs],
        }
        for s in out
    ]
    checks = verify_reported(sentences, qr, record, qr_id=qrid)
    # chart-only lines also go through the record verifier, against the typed evidence of
    # the resources they cite (the same check as every answer's sentences)
    chart = _verify_chart(
        [(n, sent) for n, sent in enumerate(out) if not sent.links and sent.refs],
        ev,
        plan.patient_id,
        terminology,
    )
    for n, failed in chart.items():
        checks.checks[n].findings.extend(failed)
    kept: list[AnswerSentence] = []
    dropped: list[DroppedSentence] = []
    cited: dict[str, CitedResource] = {}
    by_ref = {f"{r.get('resourceType')}/{r.get('id')}": r for r in record}
    qtext = {q.link_id: q.text for q in plan.questions}
    for sent, chk in zip(out, checks.checks, strict=True):
        if not chk.ok:
            dropped.append(
                DroppedSentence(
                    text=sent.text, handles=chk.cites, reasons=chk.reasons, section=sent.section
                )
            )
            continue
        refs = list(dict.fromkeys(chk.valid_cites))
        kept.append(AnswerSentence(text=sent.text, handles=refs, references=refs,
                                   status="verified" if chk.verdict == "verified" else "unverified",
                                   unchecked=chk.unchecked, section=sent.section))  # fmt: skip
        for r in refs:
            if r in cited:
                continue
            rtype, _, rest = r.partition("/")
            rid, _, link = rest.partition("#")
            res = by_ref.get(f"{rtype}/{rid}") or {}
            display = f"answer to: {qtext.get(link, link)}" if link else _display(res)
            date = qr.get("authored") if link else _date(res)
            cited[r] = CitedResource(
                reference=r, type=rtype, id=rid, date=date, display=display[:160]
            )
    patient = view.patient or {}
    names = patient.get("name") or [{}]
    title = " ".join([*(names[0].get("given") or []), names[0].get("family") or ""]).strip()
    return CitedAnswer(
        patient_id=plan.patient_id,
        mode="intake",
        question=plan.reason,
        sentences=kept,
        cited=list(cited.values()),
        dropped=dropped,
        thread_id=thread_id,
        title=title or f"Patient/{plan.patient_id}",
    )


def _verify_chart(
    lines: Sequence[tuple[int, _Sentence]],
    ev: EvidenceSet,
    patient_id: str,
    terminology: Terminology | None,
) -> dict[int, list[Finding]]:
    """The record verifier's findings on chart-only lines (by their position)."""
    if not lines:
        return {}
    by_ref = ev.by_reference()
    seen: dict[str, dict[str, Any]] = {}
    batch = []
    for _, sent in lines:
        handles = list(dict.fromkeys(by_ref[r] for r in sent.refs if r in by_ref))
        for h in handles:
            seen = merge_seen(seen, {h: seen_entry(scrub_item(ev.get(h), patient_id))})
        batch.append({"text": sent.text, "cites": handles})
    result = verify_sentences(
        batch, seen_of(seen), terminology=terminology or default_terminology(), as_of=ev.as_of
    )
    return {
        n: [f for f in chk.findings if f.kind != "unknown_handle"]
        or ([] if chk.ok else chk.findings)
        for (n, _), chk in zip(lines, result.checks, strict=True)
        if not chk.ok
    }


def _display(resource: Resource) -> str:
    for key in ("code", "medicationCodeableConcept", "vaccineCode", "type"):
        cc = resource.get(key)
        if isinstance(cc, list):
            cc = cc[0] if cc else None
        if isinstance(cc, dict):
            text = cc.get("text") or next(
                (c.get("display") for c in cc.get("coding") or [] if c.get("display")), None
            )
            if text:
                return plain(str(text))
    return ""


def _date(resource: Resource) -> str | None:
    for key in (
        "effectiveDateTime",
        "occurrenceDateTime",
        "authoredOn",
        "recordedDate",
        "onsetDateTime",
        "start",
        "date",
        "issued",
    ):
        value = resource.get(key)
        if isinstance(value, str):
            return value[:10]
    return None

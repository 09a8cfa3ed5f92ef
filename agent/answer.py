"""``CitedAnswer``: the agent's output, rendered as Markdown (footnote citations) or JSON."""

from __future__ import annotations

from typing import Any, Literal

import orjson
from pydantic import BaseModel, Field

__all__ = [
    "AnswerSentence",
    "CitedAnswer",
    "CitedResource",
    "CitedSearch",
    "DroppedSentence",
    "RunUsage",
]


class AnswerSentence(BaseModel):
    """A sentence that reaches the clinician.

    ``status``: ``verified`` (every fact it states checked against its citations),
    ``unverified`` (nothing in it contradicts its citations, but the terms in
    ``unchecked`` could not be checked: shown marked, never as fact), ``extractive``
    (a line of the record itself, no model). ``searches`` are the handles of the
    searches it rests on ("not in the record" sentences).
    """

    text: str
    handles: list[str] = Field(default_factory=list)
    references: list[str] = Field(default_factory=list)
    status: Literal["verified", "unverified", "extractive"] = "verified"
    unchecked: list[str] = Field(default_factory=list)
    searches: list[str] = Field(default_factory=list)
    section: str | None = None


class CitedResource(BaseModel):
    """A FHIR resource cited by the answer."""

    reference: str
    type: str
    id: str
    date: str | None = None
    display: str = ""


class CitedSearch(BaseModel):
    """A search of the patient's record that found nothing, cited by a negative answer."""

    handle: str
    resource_types: list[str] = Field(default_factory=list)
    codes: list[str] = Field(default_factory=list)
    description: str = ""


class DroppedSentence(BaseModel):
    """A sentence the verifier removed, and why."""

    text: str
    handles: list[str] = Field(default_factory=list)
    reasons: list[str] = Field(default_factory=list)
    section: str | None = None


class RunUsage(BaseModel):
    """What the answer cost."""

    model_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    tool_calls: int = 0
    steps: int = 0


class CitedAnswer(BaseModel):
    """The verified answer of ``ask`` or ``brief``, or the pre-visit intake's brief
    (``mode="intake"``: patient-reported facts cite ``QuestionnaireResponse/ID#linkId``)."""

    patient_id: str
    mode: Literal["ask", "brief", "intake"] = "ask"
    question: str = ""
    sentences: list[AnswerSentence] = Field(default_factory=list)
    cited: list[CitedResource] = Field(default_factory=list)
    searches: list[CitedSearch] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    dropped: list[DroppedSentence] = Field(default_factory=list)
    usage: RunUsage = Field(default_factory=RunUsage)
    thread_id: str | None = None
    title: str | None = None  # a brief's subject (the patient's name)
    #: a brief's subject who has died: the death date ("" when not recorded); the brief is
    #: then a review of the record, not a pre-visit brief
    died: str | None = None
    collapsed: list[str] = Field(default_factory=list)  # sections shown folded (a brief's history)

    @property
    def text(self) -> str:
        """The answer text (sentences joined, no citations)."""
        return " ".join(s.text for s in self.sentences)

    @property
    def unchecked_terms(self) -> list[str]:
        """Every term the verifier could not check (the sentences marked unverified)."""
        return list(dict.fromkeys(t for s in self.sentences for t in s.unchecked))

    def as_dict(self) -> dict[str, Any]:
        data = self.model_dump(mode="json")
        data["text"] = self.text
        data["unchecked_terms"] = self.unchecked_terms
        return data

    def to_json(self) -> str:
        return orjson.dumps(self.as_dict(), option=orjson.OPT_INDENT_2).decode()

    def to_markdown(self) -> str:
        """Markdown with footnote-style citations (``[^1]`` → the FHIR resource)."""
        numbers: dict[str, int] = {}
        for s in self.sentences:
            for r in [*s.references, *s.searches]:
                numbers.setdefault(r, len(numbers) + 1)
        by_ref = {c.reference: c for c in self.cited}
        by_search = {c.handle: c for c in self.searches}
        out: list[str] = []
        if self.mode == "brief":
            who = self.title or f"Patient/{self.patient_id}"
            out.append(
                f"# Record review: {who} (died {self.died or 'on an unknown date'})"
                if self.died is not None
                else f"# Pre-visit brief: {who}"
            )
            if any(s.status != "extractive" for s in self.sentences):
                out.append(
                    "_The overview is written by the model, every sentence checked against the "
                    "resources it cites; the sections below are the record's own entries, "
                    "written by code. Citations at the end._"
                )
            elif not self.dropped:  # an extractive brief: no model was asked
                out.append(
                    "_Written from the record by code (no model); every line cites the FHIR "
                    "resources it comes from. Citations at the end._"
                )
            else:  # nothing the model wrote survived the check: say so, not "written by the model"
                out.append(
                    "_No overview: what the model wrote did not pass the citation check "
                    f"({len(self.dropped)} sentence(s) removed). Every line below is the "
                    "record's own entry, written by code. Citations at the end._"
                )
        elif self.mode == "intake":
            out.append(f"# Pre-visit intake: {self.title or f'Patient/{self.patient_id}'}")
            out.append(
                "_Written by code from the patient's answers and the record (no model). "
                "Patient-reported facts cite the patient's answers "
                "(QuestionnaireResponse/ID#linkId), chart facts the record's resources; every "
                "line was checked against what it cites. Patient words are quoted as typed._"
            )
        elif self.question:
            out.append(f"**Q:** {self.question}\n")
        section: str | None = None
        para: list[str] = []

        def flush() -> None:
            if para:
                out.append(" ".join(para))
                para.clear()

        folded = False
        for s in self.sentences:
            if s.section != section:
                flush()
                section = s.section
                if section in self.collapsed and not folded:
                    out.append(
                        "\n<details><summary>History, other results and social context</summary>\n"
                    )
                    folded = True
                if section:
                    out.append(f"\n## {section}")
            marks = "".join(f"[^{numbers[r]}]" for r in [*s.references, *s.searches])
            tag = (
                " _(extractive)_"
                if s.status == "extractive" and self.mode not in ("brief", "intake")
                else ""
            )
            if s.status == "unverified":
                tag = f" _(unverified: {', '.join(s.unchecked) or 'could not be checked'})_"
            line = f"{s.text.rstrip()}{marks}{tag}"
            if self.mode in ("brief", "intake"):
                out.append(f"- {line}")
            else:
                para.append(line)
        flush()
        if folded:
            out.append("\n</details>")
        if not self.sentences:
            out.append("_No verified answer could be given from the record._")
        if self.warnings:
            out.append("\n**Warnings**")
            out.extend(f"- {w}" for w in self.warnings)
        if self.dropped:
            out.append(f"\n_{len(self.dropped)} sentence(s) removed by the citation check._")
        if numbers:
            out.append("")
            for ref, n in numbers.items():
                if ref in by_search:
                    out.append(f"[^{n}]: searched {by_search[ref].description}: nothing found")
                    continue
                c = by_ref.get(ref)
                extra = f" ({c.date})" if c and c.date else ""
                disp = f": {c.display}" if c and c.display else ""
                out.append(f"[^{n}]: {ref}{extra}{disp}")
        u = self.usage
        out.append(
            f"\n_{u.model_calls} model call(s), {u.prompt_tokens}+{u.completion_tokens} tokens, "
            f"{u.seconds:.1f} s._"
        )
        return "\n".join(out).strip() + "\n"

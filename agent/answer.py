"""``CitedAnswer``: the agent's output, rendered as Markdown (footnote citations) or JSON."""

from __future__ import annotations

from typing import Any, Literal

import orjson
from pydantic import BaseModel, Field

__all__ = ["AnswerSentence", "CitedAnswer", "CitedResource", "DroppedSentence", "RunUsage"]


class AnswerSentence(BaseModel):
    """A sentence that reaches the clinician."""

    text: str
    handles: list[str] = Field(default_factory=list)
    references: list[str] = Field(default_factory=list)
    status: Literal["verified", "extractive"] = "verified"
    section: str | None = None


class CitedResource(BaseModel):
    """A FHIR resource cited by the answer."""

    reference: str
    type: str
    id: str
    date: str | None = None
    display: str = ""


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
    """The verified answer of ``ask`` or ``brief``."""

    patient_id: str
    mode: Literal["ask", "brief"] = "ask"
    question: str = ""
    sentences: list[AnswerSentence] = Field(default_factory=list)
    cited: list[CitedResource] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    dropped: list[DroppedSentence] = Field(default_factory=list)
    usage: RunUsage = Field(default_factory=RunUsage)
    thread_id: str | None = None

    @property
    def text(self) -> str:
        """The answer text (sentences joined, no citations)."""
        return " ".join(s.text for s in self.sentences)

    def as_dict(self) -> dict[str, Any]:
        data = self.model_dump(mode="json")
        data["text"] = self.text
        return data

    def to_json(self) -> str:
        return orjson.dumps(self.as_dict(), option=orjson.OPT_INDENT_2).decode()

    def to_markdown(self) -> str:
        """Markdown with footnote-style citations (``[^1]`` → the FHIR resource)."""
        numbers: dict[str, int] = {}
        for s in self.sentences:
            for r in s.references:
                numbers.setdefault(r, len(numbers) + 1)
        by_ref = {c.reference: c for c in self.cited}
        out: list[str] = []
        if self.mode == "brief":
            out.append(f"# Pre-visit brief: Patient/{self.patient_id}")
            out.append("_Model-written; every sentence checked against the cited FHIR resources._")
        elif self.question:
            out.append(f"**Q:** {self.question}\n")
        section: str | None = None
        para: list[str] = []

        def flush() -> None:
            if para:
                out.append(" ".join(para))
                para.clear()

        for s in self.sentences:
            if s.section != section:
                flush()
                section = s.section
                if section:
                    out.append(f"\n## {section}")
            marks = "".join(f"[^{numbers[r]}]" for r in s.references)
            tag = " _(extractive)_" if s.status == "extractive" else ""
            line = f"{s.text.rstrip()}{marks}{tag}"
            if self.mode == "brief":
                out.append(f"- {line}")
            else:
                para.append(line)
        flush()
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

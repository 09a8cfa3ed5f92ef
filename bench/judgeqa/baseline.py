"""The oracle answerer of judgeqa: the ground truth said in words (no model, no record
tools), citing one resource per evidence group. It proves the scorer reads a right
answer as right (100 %); it measures nothing about the assistant."""

from __future__ import annotations

import time
from typing import Any

from bench.ehrqa.answer import AnswerRecord
from bench.ehrqa.generate import Question

__all__ = ["OracleAnswerer", "say"]

_STANCE_WORDS: dict[str, tuple[str, str]] = {
    "control": ("Yes, it is well controlled.", "No, it is not controlled."),
    "resolved": ("Yes, it has resolved.", "No, it is still active."),
    "stopped": ("Yes, it has been stopped.", "No, it is still active."),
    "severe": ("Yes, there is a high-criticality allergy.", "No, none of them is severe."),
    "due": ("Yes, it is due.", "No, it is not due yet."),
}


def _fact_words(fact: dict[str, Any]) -> str:
    if fact["type"] == "number_date":
        what = f"{fact['what']} " if fact.get("what") else ""
        return f"The latest {what}value was {fact['value']:.4g} {fact['unit']} on {fact['date']}."
    if fact["type"] == "date":
        return f"The last one was on {fact['value']}."
    return f"{fact['names'][0]}."


def say(question: Question) -> str:
    """The truth of a question in words."""
    a = question.answer
    if question.answer_type == "judgement":
        out = []
        if a.get("stance") is not None:
            out.append(_STANCE_WORDS[a["stance_kind"]][0 if a["stance"] else 1])
        else:
            out.append("It is borderline.")
        out += [_fact_words(f) for f in a.get("facts", [])]
        return " ".join(out)
    if question.answer_type == "set":
        return "\n".join(f"- {x}" for x in a["value"]) if a["value"] else "None."
    if question.answer_type == "choice":
        return f"It was for {a['accept'][0]}."
    return str(a.get("value"))


class OracleAnswerer:
    """Answers with the ground truth (``question.answer``) rendered as text."""

    name = "oracle"

    def __init__(self, source: Any = None) -> None:
        self.source = source

    async def answer(self, question: Question, patient_id: str) -> AnswerRecord:
        started = time.perf_counter()
        cites = [g[0] for g in question.evidence_groups if g]
        text = say(question)
        return AnswerRecord(
            text=text,
            citations=cites,
            sentences_total=max(1, text.count(". ")),
            latency_s=time.perf_counter() - started,
        )

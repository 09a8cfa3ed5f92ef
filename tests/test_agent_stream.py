"""``SentenceStreamer``: prose out of streamed structured output, split at every position."""

from __future__ import annotations

import json
from collections.abc import Iterable

import pytest

from agent._stream import SentenceStreamer


def _run(chunks: Iterable[str]) -> str:
    s = SentenceStreamer()
    return "".join(s.feed(c) for c in chunks) + s.close()


def _every_split(text: str, expected: str) -> None:
    """Every one-cut and (sampled) two-cut split, and one character at a time."""
    for i in range(len(text) + 1):
        got = _run([text[:i], text[i:]])
        assert got == expected, f"split at {i}: {text[:i]!r} | {text[i:]!r}"
        for j in range(i, len(text) + 1, 5):
            assert _run([text[:i], text[i:j], text[j:]]) == expected, (i, j)
    assert _run(list(text)) == expected


COMPOSE = {
    "sentences": [
        {"text": 'She said "no" \\ to Lisinopril/ACE.', "cites": ["E35"]},
        {"cites": ["E2", "E3"], "text": "HbA1c\t6.6 %\non 2025-01-15 — stable 😀 é."},
    ]
}
COMPOSE_PROSE = 'She said "no" \\ to Lisinopril/ACE. HbA1c\t6.6 %\non 2025-01-15 — stable 😀 é.\n'


@pytest.mark.parametrize("ascii_only", [True, False])
def test_compose_text_only_escapes_across_every_split(ascii_only: bool) -> None:
    # ensure_ascii: é, — and the emoji arrive as \\u escapes (a surrogate pair for 😀)
    text = json.dumps(COMPOSE, ensure_ascii=ascii_only)
    if ascii_only:
        assert "\\ud83d\\ude00" in text
    _every_split(text, COMPOSE_PROSE)


def test_plan_with_tool_calls_streams_nothing() -> None:
    plan = {
        "action": "tools",
        "calls": [{"tool": "search_record", "args": {"resource_type": "AllergyIntolerance"}}],
        "sentences": [{"text": "should not show", "cites": []}],
    }
    _every_split(json.dumps(plan), "")


def test_plan_that_answers_streams_its_sentences() -> None:
    plan = {"action": "answer", "calls": [], "sentences": [{"text": "Now.", "cites": ["E1"]}]}
    _every_split(json.dumps(plan, indent=2), "Now.\n")


def test_several_documents_fences_thinking_and_other_values() -> None:
    docs = [
        '<think>maybe {"sentences": [{"text": "hidden"}]}</think>',
        "```json\n"
        + json.dumps({"action": "tools", "calls": [{"tool": "x", "args": {}}], "sentences": []})
        + "\n```\n",
        json.dumps({"sentences": [{"text": "One.", "cites": [], "n": -1.5e3, "ok": True}]}),
        json.dumps({"meta": {"text": "nested, not a sentence"}, "sentences": []}),
        json.dumps({"sentences": [{"text": "", "cites": []}, {"text": "Two.", "cites": [None]}]}),
    ]
    _every_split("".join(docs), "One.\nTwo.\n")


def test_cut_off_and_malformed_output_end_the_line() -> None:
    assert _run(['{"sentences": [{"text": "Half a sen']) == "Half a sen\n"
    # malformed JSON ends the document quietly; the next document streams again
    assert _run(['{"sentences": [{"text": "A." ] } {"sentences":[{"text":"B."}]}']) == "A.\nB.\n"
    assert _run(["no json at all"]) == ""


def test_lone_surrogates_and_bad_escapes_do_not_raise() -> None:
    text = '{"sentences": [{"text": "x\\ud83d y \\uZZ \\q"}]}'
    out = _run([text])
    assert out.startswith("x\ufffd y ")
    assert out.endswith("\n")

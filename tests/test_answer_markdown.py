"""How a CitedAnswer reads as Markdown: what a clinician sees of the verifier's work."""

from __future__ import annotations

from agent.answer import AnswerSentence, CitedAnswer, CitedResource, DroppedSentence

_PT = "Patient/p1"


def _brief(*, model_sentence: bool) -> CitedAnswer:
    sentences = [
        AnswerSentence(text="Hypertension — since 1967-06-19", references=["Condition/c1"],
                       status="extractive", section="Active problems"),
    ]  # fmt: skip
    if model_sentence:
        sentences.insert(0, AnswerSentence(text="Her hypertension has been on file since 1967.",
                                           references=["Condition/c1"], section="Overview"))  # fmt: skip
    return CitedAnswer(
        patient_id="p1",
        mode="brief",
        title="Ann Example",
        sentences=sentences,
        cited=[CitedResource(reference="Condition/c1", type="Condition", id="c1")],
        dropped=[DroppedSentence(text="Her blood sugar is high (5.3 %).", reasons=["unit"])],
    )


def test_a_brief_whose_overview_survived_says_the_model_wrote_it() -> None:
    md = _brief(model_sentence=True).to_markdown()
    assert "The overview is written by the model" in md
    assert "## Overview" in md
    assert "Her hypertension has been on file since 1967.[^1]" in md
    assert "1 sentence(s) removed by the citation check" in md


def test_a_brief_whose_overview_was_all_dropped_does_not_claim_one() -> None:
    md = _brief(model_sentence=False).to_markdown()
    assert "written by the model" not in md
    assert "No overview: what the model wrote did not pass the citation check" in md
    assert "(1 sentence(s) removed)" in md
    assert "- Hypertension — since 1967-06-19[^1]" in md
    assert _PT not in md  # only what is cited is listed


def test_an_extractive_brief_names_no_model() -> None:
    brief = _brief(model_sentence=False)
    brief.dropped = []
    md = brief.to_markdown()
    assert "Written from the record by code (no model)" in md
    assert "model wrote" not in md


def test_the_brief_of_a_patient_who_died_is_a_review_of_the_record() -> None:
    brief = _brief(model_sentence=True)
    assert brief.to_markdown().startswith("# Pre-visit brief: Ann Example\n")
    brief.died = "2019-06-01"
    assert brief.to_markdown().startswith("# Record review: Ann Example (died 2019-06-01)\n")
    brief.died = ""  # deceased, with no date recorded
    assert brief.to_markdown().startswith("# Record review: Ann Example (died on an unknown date)")

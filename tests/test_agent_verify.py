"""The deterministic citation verifier (agent.verify)."""

from __future__ import annotations

from typing import Any

import pytest

from agent.verify import check_sentence, extract_dates, verify_sentences

EV: dict[str, dict[str, Any]] = {
    "E1": {
        "text": "HbA1c %: 2019: 03-04 6.1, 09-10 6.4; 2020: 02-11 6.4",
        "value": 6.4,
        "unit": "%",
        "date": "2020-02-11",
        "citations": [
            {"reference": "Observation/a", "date": "2019-03-04", "value": 6.1, "unit": "%"}
        ],
        "notes": ["HbA1c: 6.4 % on 2020-02-11; falling -0.3/yr"],
    },
    "E2": {
        "text": "Glucose 100 mg/dL",
        "value": 100.0,
        "unit": "mg/dL",
        "date": "2021-01-01",
        "citations": [],
    },
    "E3": {
        "text": "Body weight 80 kg",
        "value": 80.0,
        "unit": "kg",
        "date": "2022-05-06",
        "citations": [],
    },
    "E4": {
        "text": "Creatinine 1.2 mg/dL",
        "value": 1.2,
        "unit": "mg/dL",
        "date": "2022-05-06",
        "citations": [],
    },
}


@pytest.mark.parametrize(
    ("text", "cites"),
    [
        ("HbA1c was 6.4 % on 2020-02-11.", ["E1"]),
        ("HbA1c was 6.4% on Feb 11, 2020.", ["E1"]),
        ("HbA1c was 6.1 % on 03/04/2019.", ["E1"]),
        ("HbA1c was 6.1 % on 4 March 2019.", ["E1"]),
        ("HbA1c was measured in March 2019.", ["E1"]),
        ("HbA1c has been tracked since 2019.", ["E1"]),
        ("HbA1c falls by 0.3 per year.", ["E1"]),
        ("Weight was 80.0 kg.", ["E3"]),
        ("Weight was 176 [lb_av].", ["E3"]),
        ("Weight was 80000 g.", ["E3"]),
        ("Glucose 1 g/L.", ["E2"]),
        ("Creatinine was 1.2 mg/dL [E4].", ["[E4]"]),
        ("Two results: glucose and weight.", ["E2", "E3"]),
        ("2 results were recorded.", ["E2", "E3"]),
    ],
)
def test_supported(text: str, cites: list[str]) -> None:
    check = check_sentence(text, cites, EV)
    assert check.ok, check.reasons


@pytest.mark.parametrize(
    ("text", "cites", "kind"),
    [
        ("HbA1c was 6.9 %.", ["E1"], "number"),
        ("HbA1c was 6.4 % on 2020-02-12.", ["E1"], "date"),
        ("HbA1c was 6.4 % in June 2021.", ["E1"], "date"),
        ("Glucose 100 kg.", ["E2"], "unit"),
        ("Weight was 90 kg.", ["E3"], "number"),
        ("Creatinine was 1.2 mg/dL.", ["E2"], "number"),  # supported by E4, which is not cited
        ("Glucose was 100 mg/dL.", ["E99"], "no_citation"),
        ("Glucose was 100 mg/dL.", [], "no_citation"),
    ],
)
def test_unsupported(text: str, cites: list[str], kind: str) -> None:
    check = check_sentence(text, cites, EV)
    assert not check.ok
    assert kind in {f.kind for f in check.findings}


def test_unknown_handle_is_removed_but_valid_one_kept() -> None:
    check = check_sentence("Glucose was 100 mg/dL.", ["E2", "E77"], EV)
    assert check.ok
    assert check.valid_cites == ["E2"]
    assert any("E77" in r for r in check.reasons)


def test_rounding_tolerance() -> None:
    ev = {"E1": {"text": "x", "value": 6.449, "unit": "%", "citations": []}}
    assert check_sentence("Value 6.4 %.", ["E1"], ev).ok
    assert check_sentence("Value 6.45 %.", ["E1"], ev).ok
    assert not check_sentence("Value 6.5 %.", ["E1"], ev).ok


def test_extract_dates_formats() -> None:
    dates, rest = extract_dates("on 2020-02-11, 03/04/2019, January 5, 2021, 7 Aug 2018, May 2017")
    assert dates == [(2020, 2, 11), (2019, 3, 4), (2021, 1, 5), (2018, 8, 7), (2017, 5, None)]
    assert not any(ch.isdigit() for ch in rest)


def test_verify_sentences_splits() -> None:
    v = verify_sentences(
        [
            {"text": "Glucose 100 mg/dL.", "cites": ["E2"]},
            {"text": "Glucose 7.", "cites": ["E2"]},
            {"text": " ", "cites": []},
        ],
        EV,
    )
    assert [c.text for c in v.passed] == ["Glucose 100 mg/dL."]
    assert [c.text for c in v.failed] == ["Glucose 7."]

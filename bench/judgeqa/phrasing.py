"""The judgement questions, written by hand in three registers.

``clin`` (clinician shorthand), ``formal`` (full third-person sentences) and ``patient``
(the patient asking about themselves; never asked of a deceased patient). Every yes/no
wording is phrased so that *yes* is the stance the truth calls ``true`` (controlled,
resolved, off the drug, serious, due): no "is she still on …?" next to "is she off …?".

Slots as in :func:`bench.clinqa.phrasing.render` (``{sub}``, ``{pos}``, ``{is}``,
``{has}``, ``{name}`` …); ``{x}`` is what is asked about (a drug, a condition).
"""

from __future__ import annotations

from bench.clinqa.phrasing import a_an, render

__all__ = ["PHRASES", "a_an", "render"]

P = dict[str, list[str]]

PHRASES: dict[str, P] = {
    "control_diabetes": {
        "clin": [
            "DM controlled?",
            "Is {pos} sugar under control?",
            "How's {pos} diabetes control?",
            "Diabetes at goal?",
        ],
        "formal": [
            "How well controlled is {pos} diabetes?",
            "Is {name}'s diabetes under control?",
            "Is {pos} diabetes adequately controlled at the moment?",
            "Would you say {pos} diabetes is well controlled?",
        ],
        "patient": [
            "Is my diabetes under control?",
            "Is my sugar where it should be?",
            "How well am I controlling my diabetes?",
        ],
    },
    "control_bp": {
        "clin": [
            "BP controlled?",
            "Is {pos} BP at goal?",
            "HTN under control?",
            "How's {pos} blood pressure control?",
        ],
        "formal": [
            "Is {pos} blood pressure controlled?",
            "Is {name}'s hypertension well controlled?",
            "How well controlled is {pos} blood pressure?",
            "Is {pos} blood pressure at target?",
        ],
        "patient": [
            "Is my blood pressure under control?",
            "Is my blood pressure where it should be?",
            "Are my pressures OK now?",
        ],
    },
    "control_ldl": {
        "clin": [
            "LDL at goal?",
            "Lipids controlled?",
            "{Pos} lipids at goal?",
            "HLD under control?",
        ],
        "formal": [
            "Is {pos} cholesterol at goal?",
            "Is {name}'s hyperlipidemia well controlled?",
            "How well controlled is {pos} LDL cholesterol?",
            "Is {pos} high cholesterol under control?",
        ],
        "patient": [
            "Is my cholesterol under control?",
            "Is my bad cholesterol where it should be?",
            "Is my cholesterol at goal now?",
        ],
    },
    "resolved": {
        "clin": [
            "{X} resolved?",
            "Has the {x} cleared?",
            "Is that {x} cleared up?",
            "{X} better?",
        ],
        "formal": [
            "Has {pos} {x} resolved?",
            "Is {name}'s {x} better now?",
            "Has {pos} {x} cleared up?",
            "Is the {x} resolved, according to the chart?",
        ],
        "patient": [
            "Has my {x} cleared up?",
            "Is my {x} gone now?",
            "Did my {x} get better?",
            "Is my {x} resolved?",
        ],
    },
    "stopped": {
        "clin": [
            "Off {x}?",
            "{Is} {sub} off {bx} now?",
            "{X} stopped?",
            "{X} d/c'd?",
        ],
        "formal": [
            "Is {sub} off {x}?",
            "Did they stop {pos} {bx}?",
            "Has {sub} come off {x}?",
            "Has {name}'s {bx} been discontinued?",
        ],
        "patient": [
            "Am I off {x} now?",
            "Did they stop my {bx}?",
            "Was my {bx} discontinued?",
            "Have I come off {x}?",
        ],
    },
    "treated_for": {
        "clin": [
            "Meds for {pos} {x}?",
            "What's {sub} on for {x}?",
            "{X} meds?",
            "What's {sub} taking for the {x}?",
        ],
        "formal": [
            "What is {sub} taking for {pos} {x}?",
            "Which medications is {name} on for {pos} {x}?",
            "What is {pos} {x} being treated with?",
            "What does {sub} take for {pos} {x}?",
        ],
        "patient": [
            "What am I taking for my {x}?",
            "Which of my medicines are for my {x}?",
            "What do I take for my {x}?",
        ],
    },
    "why_med_active": {
        "clin": [
            "Why is {sub} on {x}?",
            "Indication for {pos} {x}?",
            "{X} - for what?",
            "What's the {x} for?",
        ],
        "formal": [
            "Why is {sub} taking {x}?",
            "What is {pos} {x} prescribed for?",
            "For what condition is {name} on {x}?",
            "What is the indication for {pos} {x}?",
        ],
        "patient": [
            "Why am I on {x}?",
            "What is my {x} for?",
            "What was I prescribed {x} for?",
        ],
    },
    "why_med_past": {
        "clin": [
            "What was the {x} for?",
            "Indication for the {x}?",
            "Why was {sub} on {x}?",
            "{X} - what for?",
        ],
        "formal": [
            "What was {pos} {x} prescribed for?",
            "Why was {name} given {x}?",
            "For what condition was {sub} last prescribed {x}?",
            "What condition was {pos} {x} meant to treat?",
        ],
        "patient": [
            "What was my {x} for?",
            "Why was I given {x}?",
            "What did they prescribe me {x} for?",
        ],
    },
    "visit_reason": {
        "clin": [
            "Reason for last visit?",
            "Last visit - what for?",
            "Why was {sub} last seen?",
            "What brought {obj} in last time?",
        ],
        "formal": [
            "What was {pos} last visit for?",
            "Why did {sub} come in last time?",
            "What was the reason for {name}'s most recent visit?",
            "What was {pos} latest encounter about?",
        ],
        "patient": [
            "What was my last visit for?",
            "Why did I come in last time?",
            "What was my most recent appointment about?",
        ],
    },
    "allergy_severity": {
        "clin": [
            "Any severe allergies?",
            "Serious allergies?",
            "Any high-risk allergies?",
            "Allergies serious?",
        ],
        "formal": [
            "Are {pos} allergies serious?",
            "Does {name} have any severe allergies?",
            "Are any of {pos} allergies dangerous?",
            "Does {sub} have a high-criticality allergy?",
        ],
        "patient": [
            "Are my allergies serious?",
            "Do I have any dangerous allergies?",
            "Are any of my allergies severe?",
        ],
    },
    "flu_due": {
        "clin": [
            "Due for flu shot?",
            "Flu vaccine due?",
            "Does {sub} need {pos} flu shot?",
            "Needs flu vax?",
        ],
        "formal": [
            "Is {sub} due for a flu shot?",
            "Does {sub} need {pos} flu vaccine?",
            "Is {name} due for an influenza vaccination?",
            "Should {sub} get a flu shot now?",
        ],
        "patient": [
            "Am I due for a flu shot?",
            "Do I need my flu vaccine?",
            "Is it time for my flu shot?",
            "Should I get a flu shot?",
        ],
    },
}

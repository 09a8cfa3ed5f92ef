"""The questions, written by hand in the words clinicians and patients use.

Three registers per question kind: ``clin`` (clinician shorthand: "last a1c?"),
``formal`` (full third-person sentences) and ``patient`` (the patient asking about
themselves: "when did I last get my flu shot?"). Follow-up turns (``turn2:*``) refer back
with "it", "that" or "that one"; abbreviation questions (``short:*``) use the shorthand
and misspellings of :mod:`bench.clinqa.concepts`; two-in-one questions (``pair:*``) ask
two things at once.

Slots: ``{sub}``/``{Sub}`` she/he/they, ``{obj}`` her/him/them, ``{pos}``/``{Pos}``
her/his/their, ``{is}`` ``{was}`` ``{has}`` ``{does}`` (agreeing with the pronoun),
``{name}`` ("Ms. Frami"), ``{x}`` / ``{y}`` what is asked about, ``{a_x}`` with its
article, ``{bx}`` without one, ``{w}`` a relative window ("in the past 6 months"),
``{since}`` a trend's start ("since 2015"), ``{s}`` a shorthand.

Nothing here was derived from the agent or from ``bench/ehrqa/generate.py``.
"""

from __future__ import annotations

import re
import string
from typing import Any

__all__ = ["PHRASES", "Voice", "a_an", "bare", "render"]

Voice = str  # "clin" | "formal" | "patient"

P = dict[str, list[str]]

PHRASES: dict[str, P] = {
    # ------------------------------------------------------------------ birth / death
    "birth_date": {
        "clin": ["DOB?", "Date of birth?", "{Pos} DOB?", "Birthdate?"],
        "formal": [
            "What is {pos} date of birth?",
            "When was {sub} born?",
            "What birth date do we have on file for {name}?",
            "Can you confirm {pos} date of birth?",
        ],
        "patient": [
            "What date of birth is in my record?",
            "What birthday do you have on file for me?",
            "Can you check the birth date on my chart?",
        ],
    },
    "death_date": {
        "clin": ["Date of death?", "DOD?", "When did {sub} pass?"],
        "formal": [
            "When did {sub} die?",
            "What is the recorded date of death?",
            "When did {name} pass away?",
            "On what date did {sub} die?",
        ],
    },
    "alive": {
        "clin": ["Still alive?", "Is {sub} still living?"],
        "formal": [
            "Is {sub} still alive?",
            "Is {name} still living, according to the chart?",
            "As far as the record shows, is {sub} alive?",
        ],
    },
    "age": {
        "clin": ["Age?", "How old?", "Pt age?"],
        "formal": ["How old is {sub}?", "What is {pos} age?", "How old is {name} now?"],
        "patient": ["How old does my record say I am?", "What age do you have me down as?"],
    },
    "age_deceased": {
        "clin": ["Age at death?", "How old when {sub} died?"],
        "formal": [
            "How old was {sub} when {sub} died?",
            "At what age did {name} die?",
            "What was {pos} age at the time of death?",
        ],
    },
    # ------------------------------------------------------------------ encounters
    "last_encounter_date": {
        "clin": [
            "Last visit?",
            "When was {sub} last seen?",
            "Date of last encounter?",
            "Last appt?",
            "Last seen when?",
        ],
        "formal": [
            "When was {pos} most recent visit?",
            "When did {sub} last come in?",
            "When was {name} last seen?",
            "What was the date of {pos} last encounter?",
        ],
        "patient": [
            "When was my last appointment?",
            "When did I last see a doctor?",
            "When was I last in?",
        ],
    },
    "last_encounter_kind": {
        "clin": [
            "What kind of visit was {pos} last one?",
            "Last encounter type?",
            "Last visit: ER, inpatient or clinic?",
        ],
        "formal": [
            "What type of visit was {pos} most recent encounter?",
            "Was {pos} last visit an office visit, an ER visit or a hospital stay?",
            "What was {pos} last visit for?",
        ],
        "patient": [
            "What kind of appointment was my last one?",
            "Was my last visit a regular appointment or the ER?",
        ],
    },
    # ------------------------------------------------------------------ labs, vitals
    "lab_latest": {
        "clin": [
            "Last {x}?",
            "Latest {x}?",
            "Most recent {x}?",
            "What was the last {x}?",
            "{Pos} latest {x} value?",
        ],
        "formal": [
            "What was {pos} most recent {x} result?",
            "What is {pos} latest {x}, and when was it taken?",
            "Can you give me {pos} last {x} level?",
            "What did {pos} last {x} come back as?",
            "Where was {pos} {x} at the last check?",
        ],
        "patient": [
            "What was my last {x}?",
            "What was my {x} the last time it was checked?",
            "How was my {x} at my last blood test?",
            "What's my most recent {x} number?",
        ],
    },
    "vital_latest": {
        "clin": ["Last {x}?", "Most recent {x}?", "Latest recorded {x}?"],
        "formal": [
            "What was {pos} {x} at the last measurement?",
            "What is {pos} most recent recorded {x}?",
            "What {x} was recorded for {obj} most recently?",
        ],
        "patient": [
            "What was my {x} the last time it was measured?",
            "What's my latest {x} on file?",
        ],
    },
    "lab_count": {
        "clin": ["How many {x} results?", "Number of {x} checks on file?", "How many {x} draws?"],
        "formal": [
            "How many times has {pos} {x} been checked?",
            "How many {x} results are in {pos} record?",
            "How often has {sub} had {pos} {x} measured?",
            "How many {x} tests has {name} had?",
        ],
        "patient": [
            "How many times have I had my {x} checked?",
            "How many {x} tests have I had?",
        ],
    },
    "lab_direction": {
        "clin": [
            "{x} trend{since}?",
            "{x} going up or down{since}?",
            "Is {pos} {x} rising or falling{since}?",
        ],
        "formal": [
            "Has {pos} {x} gone up or down{since}?",
            "Comparing {pos} first and most recent {x}{since}, is it higher or lower?",
            "Is {pos} {x} trending up or down{since}?",
            "How has {pos} {x} changed{since}: up or down?",
        ],
        "patient": [
            "Is my {x} going up or down{since}?",
            "Has my {x} gone up or down{since}?",
        ],
    },
    "lab_trend_yesno_worse": {
        "clin": ["{x} getting worse{since}?", "Is {pos} {x} worsening{since}?"],
        "formal": [
            "Is {pos} {x} getting worse{since}?",
            "Has {pos} {x} gotten worse{since}?",
            "Has {pos} {x} deteriorated{since}?",
        ],
        "patient": ["Is my {x} getting worse{since}?", "Has my {x} gotten worse{since}?"],
    },
    "lab_trend_yesno_better": {
        "clin": ["{x} improved{since}?", "{x} better{since}?"],
        "formal": [
            "Has {pos} {x} improved{since}?",
            "Is {pos} {x} any better{since}?",
            "Has {pos} {x} gotten better{since}?",
        ],
        "patient": ["Has my {x} improved{since}?", "Is my {x} any better{since}?"],
    },
    "lab_vs_previous": {
        "clin": [
            "Last {x} up or down from the previous one?",
            "{x}: higher or lower than the time before?",
        ],
        "formal": [
            "Was {pos} most recent {x} higher or lower than the one before?",
            "How does {pos} latest {x} compare with the previous result: higher or lower?",
        ],
        "patient": ["Was my last {x} higher or lower than the one before it?"],
    },
    # ------------------------------------------------------------------ problems
    "active_conditions": {
        "clin": ["Active problems?", "Problem list?", "Active dx?", "Current conditions?"],
        "formal": [
            "What are {pos} active diagnoses?",
            "What conditions does {sub} currently have?",
            "What's on {pos} problem list?",
            "Which health problems are active for {name}?",
        ],
        "patient": [
            "What conditions do I have?",
            "What health problems are listed for me?",
            "What diagnoses are in my record right now?",
        ],
    },
    "condition_has": {
        "clin": ["Does {sub} have {x}?", "Any {x}?", "{x} on the problem list?"],
        "formal": [
            "Does {sub} have {x}?",
            "Is {x} one of {pos} current problems?",
            "Does {name} have {x}?",
        ],
        "patient": ["Do I have {x}?", "Does my chart say I have {x}?"],
    },
    "condition_has_still": {
        "clin": ["Still has {x}?", "{x} still active?"],
        "formal": [
            "Does {sub} still have {x}?",
            "Is {pos} {x} still active?",
            "Is {x} still on {pos} active problem list?",
        ],
        "patient": ["Do I still have {x}?", "Is my {x} still listed as active?"],
    },
    "condition_onset": {
        "clin": ["{x} onset?", "When was {x} diagnosed?", "Dx date for {x}?"],
        "formal": [
            "When was {sub} first diagnosed with {x}?",
            "When did {pos} {x} start?",
            "Since when {has} {sub} had {x}?",
            "When was {x} first recorded for {obj}?",
        ],
        "patient": ["When was I diagnosed with {x}?", "When did I first get {x}?"],
    },
    # ------------------------------------------------------------------ medications
    "current_medications": {
        "clin": ["Current meds?", "Med list?", "What's {sub} on?", "Active medications?"],
        "formal": [
            "What medications {is} {sub} currently taking?",
            "What {is} {sub} taking now?",
            "Which prescriptions are active for {obj}?",
            "Can you list {pos} current medications?",
            "What is {name} on at the moment?",
        ],
        "patient": [
            "What medicines am I on?",
            "What am I supposed to be taking right now?",
            "Which of my prescriptions are still active?",
        ],
    },
    "current_medications_deceased": {
        "clin": ["Active meds at time of death?", "Meds at the end?"],
        "formal": [
            "What medications was {sub} on at the time of death?",
            "What was {sub} taking at the end?",
            "Which prescriptions were still active when {sub} died?",
        ],
    },
    "med_still": {
        "clin": ["Still on {x}?", "On {x}?", "Is {sub} still on {x}?"],
        "formal": [
            "{Is} {sub} still taking {x}?",
            "Is {x} still one of {pos} active medications?",
            "{Does} {sub} still have an active prescription for {x}?",
            "Is {name} currently on {x}?",
        ],
        "patient": ["Am I still on {x}?", "Am I still supposed to take {x}?"],
    },
    "med_last_ordered": {
        "clin": ["When was {x} last prescribed?", "Last {bx} Rx date?"],
        "formal": [
            "When was {x} last ordered for {obj}?",
            "When was {pos} most recent prescription for {x} written?",
        ],
        "patient": ["When was {x} last prescribed for me?"],
    },
    # ------------------------------------------------------------------ allergies
    "allergies": {
        "clin": ["Allergies?", "Any allergies?", "Allergy list?", "Known allergies?"],
        "formal": [
            "What allergies does {sub} have?",
            "{Does} {sub} have any allergies on file?",
            "Please list {pos} allergies.",
            "Is {name} allergic to anything?",
        ],
        "patient": [
            "What am I allergic to?",
            "Do I have any allergies in my chart?",
            "What allergies do you have listed for me?",
        ],
    },
    "allergy_to": {
        "clin": ["Allergic to {x}?", "Any {x} allergy?"],
        "formal": [
            "{Is} {sub} allergic to {x}?",
            "{Does} {sub} have an allergy to {x}?",
            "Is there a documented allergy to {x}?",
        ],
        "patient": ["Am I allergic to {x}?", "Does my chart say I'm allergic to {x}?"],
    },
    # ------------------------------------------------------------------ events
    "vaccine_last": {
        "clin": ["Last {x}?", "Date of last {x}?", "When was {pos} last {x}?"],
        "formal": [
            "When did {sub} last receive {a_x}?",
            "When was {pos} most recent {x}?",
            "When did {name} last get {a_x}?",
            "What is the date of {pos} last {x}?",
        ],
        "patient": [
            "When did I last get my {x}?",
            "When was my last {x}?",
            "When did I have my last {x}?",
        ],
    },
    "procedure_ever": {
        "clin": ["Ever had {a_x}?", "Any {x} on record?", "{X} ever done?"],
        "formal": [
            "Has {sub} ever had {a_x}?",
            "Is there any record of {a_x}?",
            "Has {name} had {a_x} at any point?",
        ],
        "patient": ["Have I ever had {a_x}?", "Did I ever get {a_x}?"],
    },
    "procedure_last": {
        "clin": ["Last {x}?", "Date of last {x}?", "When was {pos} last {x}?"],
        "formal": [
            "When was {pos} most recent {x}?",
            "When did {sub} last have {a_x}?",
            "On what date was {pos} last {x} done?",
        ],
        "patient": ["When did I last have {a_x}?", "When was my last {x}?"],
    },
    # ------------------------------------------------------------------ relative dates
    "encounter_count_window": {
        "clin": ["How many visits {w}?", "Number of encounters {w}?"],
        "formal": [
            "How many times was {sub} seen {w}?",
            "How many encounters did {sub} have {w}?",
            "How often did {name} come in {w}?",
        ],
        "patient": [
            "How many appointments did I have {w}?",
            "How many times did I see the doctor {w}?",
        ],
    },
    "lab_latest_window": {
        "clin": ["Latest {x} {w}?", "Any {x} {w}? Value?"],
        "formal": [
            "What was {pos} most recent {x} {w}?",
            "Was {pos} {x} checked {w}, and if so what was the latest value?",
        ],
        "patient": ["What was my latest {x} {w}?"],
    },
    "lab_count_window": {
        "clin": ["How many {x} results {w}?", "Number of {x} checks {w}?"],
        "formal": [
            "How many times was {pos} {x} checked {w}?",
            "How many {x} tests did {sub} have {w}?",
        ],
        "patient": ["How many times was my {x} checked {w}?"],
    },
    "vaccine_in_window": {
        "clin": ["{X} {w}?", "Got {a_x} {w}?"],
        "formal": [
            "Did {sub} get {a_x} {w}?",
            "Did {name} receive {a_x} {w}?",
        ],
        "patient": ["Did I get my {x} {w}?", "Did I have {a_x} {w}?"],
    },
    "visits_since_checkup": {
        "clin": ["Visits since last check-up?", "How many encounters since {pos} last physical?"],
        "formal": [
            "How many times has {sub} been seen since {pos} last check-up?",
            "Since {pos} last annual physical, how many visits has {sub} had?",
        ],
        "patient": ["How many times have I been in since my last check-up?"],
    },
    "lab_at_last_visit": {
        "clin": ["{x} checked at last visit?", "{x} drawn at the last encounter?"],
        "formal": [
            "Was {pos} {x} checked at {pos} last visit?",
            "Did they check {pos} {x} at the most recent visit?",
        ],
        "patient": ["Did they check my {x} at my last visit?"],
    },
    # ------------------------------------------------------------------ two in one
    "pair:lab+procedure": {
        "clin": ["Last {x} + date of last {y}?", "Latest {x}, and last {y}?"],
        "formal": [
            "What's {pos} latest {x} and when was {pos} last {y}?",
            "Can you tell me {pos} most recent {x} result and the date of {pos} last {y}?",
        ],
        "patient": ["What was my last {x}, and when did I last have {a_y}?"],
    },
    "pair:lab+vaccine": {
        "clin": ["Last {x} and last {y}?"],
        "formal": [
            "What was {pos} last {x}, and when did {sub} last get {a_y}?",
            "Give me {pos} most recent {x} and the date of {pos} last {y}.",
        ],
        "patient": ["What was my last {x} and when was my last {y}?"],
    },
    "pair:birth+visit": {
        "clin": ["DOB and last visit date?"],
        "formal": [
            "What's {pos} date of birth and when was {sub} last seen?",
            "Please confirm {pos} birth date and the date of {pos} most recent visit.",
        ],
        "patient": ["Can you confirm my date of birth and tell me when my last appointment was?"],
    },
    "pair:lab+lab": {
        "clin": ["Latest {x} and {y}?", "Last {x}/{y}?"],
        "formal": [
            "What were {pos} most recent {x} and {y}?",
            "Can you pull {pos} latest {x} and {pos} latest {y}?",
        ],
        "patient": ["What were my last {x} and {y} results?"],
    },
    "pair:condition+lab": {
        "clin": ["{X}? And last {y}?"],
        "formal": [
            "Does {sub} have {x}, and what was {pos} last {y}?",
            "Is {x} on {pos} problem list, and what's {pos} most recent {y}?",
        ],
        "patient": ["Do I have {x}, and what was my last {y}?"],
    },
    "pair:vaccine+vaccine": {
        "clin": ["Last {x} and last {y} dates?"],
        "formal": [
            "When were {pos} last {x} and {pos} last {y}?",
            "When did {sub} last get {a_x}, and when {a_y}?",
        ],
        "patient": ["When did I last get {a_x}, and when did I last get {a_y}?"],
    },
    "pair:count+latest": {
        "clin": ["How many {x} results, and the last value?"],
        "formal": [
            "How many {x} results does {sub} have, and what was the latest?",
            "How many times has {pos} {x} been checked, and what was the most recent value?",
        ],
        "patient": ["How many times has my {x} been checked, and what was the last result?"],
    },
    # ------------------------------------------------------------------ shorthand / typos
    "short:lab_latest": {
        "clin": [
            "lst {s}?",
            "{s} lvl?",
            "whats {pos} {s}",
            "most recent {s} pls",
            "last {s} result??",
            "wat was {pos} last {s}",
        ],
        "patient": ["wat was my last {s}", "my {s} last time??"],
    },
    "short:condition_has": {
        "clin": ["hx {s}?", "h/o {s}?", "pt w/ {s}?", "does pt have {s}", "{s} on problem list?"],
        "patient": ["do i have {s}"],
    },
    "short:med_still": {
        "clin": ["still on {s}?", "pt on {s}?", "{s} still active?", "taking {s}?"],
        "patient": ["am i still on {s}"],
    },
    "short:procedure_last": {
        "clin": ["last {s}?", "{s} date?", "when was last {s}", "lst {s} done when"],
        "patient": ["when was my last {s}"],
    },
    "short:vaccine_last": {
        "clin": ["last {s}?", "{s} given when?", "when was {pos} last {s}", "date of last {s}"],
        "patient": ["when did i get my last {s}"],
    },
    "short:allergies": {
        "clin": [
            "any alergies?",
            "allergys?",
            "alergies on file?",
            "pt allergic to anythng?",
            "ALLERGIES??",
        ],
        "patient": ["do i have any alergies", "what am i alergic to"],
    },
    "short:birth_date": {"clin": ["pt dob?", "DOB pls", "d.o.b.?"]},
    "short:last_encounter_date": {
        "clin": ["lst visit?", "last appt when?", "date last seen?", "when was pt last in"],
        "patient": ["when was my lst appt"],
    },
    "short:lab_count": {
        "clin": ["# of {s} results?", "how many {s} on file", "no. of {s} checks?"],
    },
    "short:current_medications": {
        "clin": ["curent meds?", "med lsit?", "what meds is pt on", "active rx?"],
        "patient": ["what meds am i on rn"],
    },
    # ------------------------------------------------------------------ follow-up turns
    "turn2:vs_previous": {
        "clin": ["Up or down from the one before?", "Higher or lower than the prior?"],
        "formal": [
            "Is that higher or lower than the one before?",
            "How does that compare with the previous result: higher or lower?",
        ],
        "patient": ["Is that higher or lower than the one before it?"],
    },
    "turn2:count": {
        "clin": ["How many of those on file?", "How many times checked?"],
        "formal": [
            "How many times has that been checked?",
            "How many results like that are in {pos} record?",
        ],
        "patient": ["How many times have I had that test?"],
    },
    "turn2:procedure_last": {
        "clin": ["When?", "Date of the last one?"],
        "formal": ["When was that?", "When was the last one?", "When did {sub} last have it?"],
        "patient": ["When was the last one?", "When was that?"],
    },
    "turn2:encounter_kind": {
        "clin": ["What kind of visit?", "What type was it?"],
        "formal": ["What kind of visit was it?", "What was that visit for?"],
        "patient": ["What kind of appointment was that?"],
    },
    "turn2:onset": {
        "clin": ["Since when?", "Dx date?"],
        "formal": ["When was it diagnosed?", "When was that first recorded?"],
        "patient": ["When was I diagnosed with it?"],
    },
    "turn2:other_lab": {
        "clin": ["And {y}?", "What about {y}?"],
        "formal": ["And {pos} {y}?", "What about the {y}?"],
        "patient": ["And my {y}?", "What about my {y}?"],
    },
    "turn2:other_vaccine": {
        "clin": ["And {y}?", "What about {y}?"],
        "formal": ["What about {pos} {y}?", "And {pos} last {y}?"],
        "patient": ["What about my {y}?", "And my last {y}?"],
    },
    "turn2:med_last_ordered": {
        "clin": ["Last Rx date?", "When last ordered?"],
        "formal": ["When was it last prescribed?", "When was that last ordered?"],
        "patient": ["When was it last prescribed?"],
    },
    "turn2:direction": {
        "clin": ["Trend: up or down overall?"],
        "formal": [
            "Is it going up or down overall?",
            "Has it gone up or down since the first one?",
        ],
        "patient": ["Is it going up or down over time?"],
    },
}

_AN_LETTERS = set("AEFHILMNORSX")  # spelled-out initials that start with a vowel sound


def a_an(text: str) -> str:
    """``text`` with "a"/"an" (none for a plural or an article already there)."""
    if re.match(r"(?i)(a|an|the|my|her|his|their)\s", text) or text.endswith("s"):
        return text
    first = text.split()[0] if text.split() else text
    if first.isupper() and len(first) > 1:  # an initialism: "an ECG", "a CT"
        return f"{'an' if first[0] in _AN_LETTERS else 'a'} {text}"
    return f"{'an' if text[:1].lower() in 'aeio' else 'a'} {text}"


def bare(text: str) -> str:
    """``text`` without a leading article ("a statin" → "statin")."""
    return re.sub(r"(?i)^(a|an|the)\s+", "", text)


_PRONOUNS = {
    "female": ("she", "her", "her", "is", "was", "has", "does"),
    "male": ("he", "him", "his", "is", "was", "has", "does"),
}
_THEY = ("they", "them", "their", "are", "were", "have", "do")


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def render(template: str, *, gender: str, name: str, **slots: str) -> str:
    """Fill a template's slots (see the module docstring); the first letter of a
    sentence is capitalized unless the template is deliberately lower case."""
    sub, obj, pos, is_, was, has, does = _PRONOUNS.get(gender, _THEY)
    values: dict[str, Any] = {
        "sub": sub, "Sub": _cap(sub), "obj": obj, "pos": pos, "Pos": _cap(pos),
        "is": is_, "Is": _cap(is_), "was": was, "has": has, "does": does, "Does": _cap(does),
        "name": name,
    }  # fmt: skip
    for key, value in slots.items():
        values[key] = value
        if key in ("x", "y"):
            values[key.upper()] = _cap(value)
            values[f"a_{key}"] = a_an(value)
            values[f"b{key}"] = bare(value)
    used = {f for _, f, _, _ in string.Formatter().parse(template) if f}
    missing = used - set(values)
    if missing:
        raise KeyError(f"template {template!r} needs {sorted(missing)}")
    text = template.format_map(values)
    return text if template[:1].islower() else _cap(text)

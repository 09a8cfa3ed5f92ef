"""Reading a patient's free-text answer as a typed value, by rules first (no model).

:func:`parse_answer` returns a :class:`Parsed`: ``skipped`` ("skip", "pass", "prefer not
to say"), ``unknown`` ("I don't know", "not sure"), ``answered`` with a typed value, or
``unclear`` (the interview then asks one follow-up). The rules:

* **boolean**: a leading yes/no word ("yes", "yeah", "no", "nope", "not anymore", "I
  stopped"...); both a yes and a no, or neither: unclear;
* **choice**: exactly one option whose display or a synonym appears in the words;
* **quantity**: one number, with a unit when the patient gave one ("82 kg", "180 lbs");
* **date**: ISO dates (``2026-11-20``, ``2026-11``), ``11/20/2026``, month names
  ("November 20", "Nov 2026"), and relative ones ("3 days ago", "two weeks ago",
  "yesterday", "last month", "since Monday") against the interview's date;
* **string**: the words as typed.

Patient text is data: nothing here acts on what the words say, it only classifies them.
:func:`in_words` is the check a model's reading must pass (its value must appear in the
patient's own words).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Literal

from ._model import AnswerValue, PlannedQuestion

__all__ = ["Parsed", "in_words", "normalize", "parse_answer", "parse_date", "parse_quantity"]

_SKIP = re.compile(
    r"^(?:skip(?: (?:it|this|this one|question))?|pass|next|no comment|"
    r"(?:i(?:'d| would)? )?(?:prefer|rather) not (?:to )?(?:say|answer)|"
    r"i(?: do not|'d rather not| don't) want to (?:say|answer)|decline)\W*$"
)
_UNKNOWN = re.compile(
    r"^(?:i )?(?:don'?t|do not|dont) know\b|^(?:i'?m |i am )?(?:not sure|unsure)\b|^idk\b|"
    r"^dunno\b|^(?:i )?(?:have )?no idea\b|^i(?:'ve| have) no idea\b|^(?:i )?(?:can'?t|cannot) remember\b|^(?:i )?(?:don'?t|do not) remember\b|"
    r"^unknown\W*$|^not certain\b"
)
_YES = re.compile(
    r"^(?:yes|yeah|yep|yup|ya|y|sure|correct|right|true|of course|definitely|absolutely|"
    r"i do|i am|i have|i still do|still|still taking|i'm still|i still|affirmative|ok|okay|"
    r"that's right|that is right|that's correct|mostly)\b"
)
_NO = re.compile(
    r"^(?:no|nope|nah|n|not really|not anymore|not any more|no longer|never|none|nothing|"
    r"negative|false|i don'?t|i do not|i'?m not|i am not|i haven'?t|i have not|"
    r"i stopped|i(?: have|'ve) stopped|i(?: have|'ve) not|stopped|i quit|quit|not at all|"
    r"wrong|incorrect)\b"
)
_NUMBER_WORDS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
    "couple of": 2, "a couple of": 2, "few": 3, "a few": 3, "several": 3,
}  # fmt: skip
_UNIT_DAYS = {"day": 1, "week": 7, "month": 30, "year": 365}
_MONTHS = {
    m: i
    for i, names in enumerate(
        [
            ("january", "jan"), ("february", "feb"), ("march", "mar"), ("april", "apr"),
            ("may",), ("june", "jun"), ("july", "jul"), ("august", "aug"),
            ("september", "sep", "sept"), ("october", "oct"), ("november", "nov"),
            ("december", "dec"),
        ],
        1,
    )
    for m in names
}  # fmt: skip
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_UNITS = {
    "kg": "kg", "kgs": "kg", "kilo": "kg", "kilos": "kg", "kilograms": "kg", "kilogram": "kg",
    "lb": "[lb_av]", "lbs": "[lb_av]", "pound": "[lb_av]", "pounds": "[lb_av]",
    "cm": "cm", "m": "m", "in": "[in_i]", "inch": "[in_i]", "inches": "[in_i]",
    "mmhg": "mm[Hg]", "bpm": "/min", "%": "%", "mg/dl": "mg/dL", "mmol/l": "mmol/L",
}  # fmt: skip
_UNIT_DISPLAY = {"[lb_av]": "lb", "[in_i]": "in", "mm[Hg]": "mmHg"}
_NUM = r"(\d+(?:[.,]\d+)?)"


@dataclass(frozen=True)
class Parsed:
    """What the rules made of an answer."""

    status: Literal["answered", "skipped", "unknown", "unclear"]
    value: AnswerValue | None = None


def normalize(text: str) -> str:
    """Lower case, curly quotes straightened, spaces collapsed, trailing punctuation off."""
    t = text.strip().lower().replace("\u2019", "'").replace("\u2018", "'")
    t = re.sub(r"\s+", " ", t)
    return t.strip(" .!?,;")


def _boolean(t: str) -> bool | None:
    """A leading yes or no (the longer match wins: "i have stopped" over "i have");
    a yes followed by "stopped" / "no longer" is unclear."""
    yes, no = _YES.match(t), _NO.match(t)
    if yes and no:
        if len(yes[0]) == len(no[0]):
            return None
        yes, no = (yes, None) if len(yes[0]) > len(no[0]) else (None, no)
    if yes:
        if re.search(r"\b(?:stopped|no longer|not anymore|quit)\b", t[yes.end() :]):
            return None
        return True
    if no:
        return False
    return None


def _choice(q: PlannedQuestion, t: str) -> AnswerValue | None:
    hits = []
    for o in q.options:
        names = [o.display.lower(), o.code.lower().replace("-", " "), *o.synonyms]
        if any(re.search(rf"\b{re.escape(n)}\b", t) for n in names if n):
            hits.append(o)
    if len(hits) == 1:
        return AnswerValue(code=hits[0].code, display=hits[0].display)
    if not hits and t.isdigit() and 1 <= int(t) <= len(q.options):  # "2" = the 2nd option
        o = q.options[int(t) - 1]
        return AnswerValue(code=o.code, display=o.display)
    return None


def parse_quantity(t: str, default_unit: str | None = None) -> AnswerValue | None:
    """One number (with its unit, when given) in the words; None for none or several."""
    found = re.findall(rf"{_NUM}\s*([a-z%/\[\]]+)?", t)
    if len(found) != 1:
        return None
    num, unit_word = found[0]
    value = float(num.replace(",", "."))
    unit = _UNITS.get(unit_word.strip()) if unit_word else None
    if unit_word and unit is None and unit_word not in ("about", "around"):
        unit = unit_word  # a unit we do not know: kept as written
    unit = unit or default_unit
    return AnswerValue(quantity=value, unit=_UNIT_DISPLAY.get(unit or "", unit))


def _count(word: str) -> int | None:
    if word.isdigit():
        return int(word)
    return _NUMBER_WORDS.get(word.strip())


def parse_date(t: str, today: dt.date) -> str | None:
    """A date (``YYYY-MM-DD``, or ``YYYY-MM`` / ``YYYY`` when only that was said)."""
    if m := re.search(r"\b(\d{4})-(\d{2})-(\d{2})\b", t):
        try:
            return dt.date(int(m[1]), int(m[2]), int(m[3])).isoformat()
        except ValueError:
            return None
    if m := re.search(r"\b(\d{4})-(\d{2})\b", t):
        return f"{m[1]}-{m[2]}" if 1 <= int(m[2]) <= 12 else None
    if m := re.search(r"\b(\d{1,2})/(\d{1,2})/(\d{4})\b", t):  # US order, as Synthea's locale
        try:
            return dt.date(int(m[3]), int(m[1]), int(m[2])).isoformat()
        except ValueError:
            return None
    if re.search(r"\btoday\b|\bthis morning\b|\btonight\b", t):
        return today.isoformat()
    if re.search(r"\byesterday\b|\blast night\b", t):
        return (today - dt.timedelta(days=1)).isoformat()
    number = r"(\d+|an?|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|(?:a )?couple of|(?:a )?few|several)"
    if m := re.search(rf"\b{number}\s+(day|week|month|year)s?\s+ago\b", t):
        n = _count(m[1])
        if n is not None:
            return _back(today, n, m[2])
    if m := re.search(
        r"\b(?:for|since) (?:the )?(?:past|last) " + number + r"\s+(day|week|month|year)s?\b", t
    ):
        n = _count(m[1])
        if n is not None:
            return _back(today, n, m[2])
    if m := re.search(r"\blast (week|month|year)\b", t):
        return _back(today, 1, m[1])
    for i, day in enumerate(_WEEKDAYS):
        if re.search(rf"\b(?:since |on |last )?{day}\b", t):
            back = (today.weekday() - i) % 7 or 7
            return (today - dt.timedelta(days=back)).isoformat()
    month_names = "|".join(sorted(_MONTHS, key=len, reverse=True))
    if m := re.search(rf"\b({month_names})\.? (\d{{1,2}})(?:st|nd|rd|th)?,? (\d{{4}})\b", t):
        return _safe(int(m[3]), _MONTHS[m[1]], int(m[2]))
    if m := re.search(
        rf"\b(\d{{1,2}})(?:st|nd|rd|th)? (?:of )?({month_names})\.?,? (\d{{4}})\b", t
    ):
        return _safe(int(m[3]), _MONTHS[m[2]], int(m[1]))
    if m := re.search(rf"\b({month_names})\.? (\d{{1,2}})(?:st|nd|rd|th)?\b", t):
        year = today.year
        found = _safe(year, _MONTHS[m[1]], int(m[2]))
        if found and found > today.isoformat():
            found = _safe(year - 1, _MONTHS[m[1]], int(m[2]))
        return found
    if m := re.search(rf"\b({month_names})\.?,? (\d{{4}})\b", t):
        return f"{m[2]}-{_MONTHS[m[1]]:02d}"
    if m := re.search(rf"\b(?:in |since |last )?({month_names})\b", t):
        month = _MONTHS[m[1]]
        year = today.year if month <= today.month else today.year - 1
        return f"{year}-{month:02d}"
    if m := re.search(r"\b(?:in |since )?(19\d{2}|20\d{2})\b", t):
        return m[1] if m[1] <= str(today.year) else None
    return None


def _safe(year: int, month: int, day: int) -> str | None:
    try:
        return dt.date(year, month, day).isoformat()
    except ValueError:
        return None


def _back(today: dt.date, n: int, unit: str) -> str:
    if unit == "month":
        month = today.month - n
        year = today.year + (month - 1) // 12
        month = (month - 1) % 12 + 1
        day = min(today.day, 28)
        return dt.date(year, month, day).isoformat()
    if unit == "year":
        return _safe(today.year - n, today.month, min(today.day, 28)) or ""
    return (today - dt.timedelta(days=n * _UNIT_DAYS[unit])).isoformat()


def parse_answer(question: PlannedQuestion, words: str, today: dt.date) -> Parsed:
    """What the rules make of ``words`` as an answer to ``question``."""
    t = normalize(words)
    if not t:
        return Parsed("unclear")
    if _SKIP.match(t):
        return Parsed("skipped")
    if _UNKNOWN.match(t):
        return Parsed("unknown")
    if question.type == "string":
        return Parsed("answered", AnswerValue(string=words.strip()))
    if question.type == "boolean":
        b = _boolean(t)
        return Parsed("answered", AnswerValue(boolean=b)) if b is not None else Parsed("unclear")
    if question.type == "choice":
        v = _choice(question, t)
        return Parsed("answered", v) if v is not None else Parsed("unclear")
    if question.type == "quantity":
        q = parse_quantity(t, question.unit)
        return Parsed("answered", q) if q is not None else Parsed("unclear")
    if question.type == "date":
        d = parse_date(t, today)
        return Parsed("answered", AnswerValue(date=d)) if d else Parsed("unclear")
    return Parsed("unclear")


def in_words(question: PlannedQuestion, value: AnswerValue, words: str, today: dt.date) -> bool:
    """Whether ``value`` (e.g. a model's reading) is what the patient's own words say.

    The rules must read the same value from the words, or (a choice) the option's display
    or a synonym, (a quantity) its number, (a date) a date expression that resolves to it
    must appear in them. A value the patient did not say is never recorded.
    """
    t = normalize(words)
    ruled = parse_answer(question, words, today)
    if ruled.status == "answered" and ruled.value == value:
        return True
    if value.boolean is not None:
        return _boolean(t) is value.boolean
    if value.code is not None:
        option = next((o for o in question.options if o.code == value.code), None)
        names = [option.display.lower(), *option.synonyms] if option else []
        return any(re.search(rf"\b{re.escape(n)}\b", t) for n in names if n)
    if value.quantity is not None:
        nums = {float(n.replace(",", ".")) for n in re.findall(_NUM, t)}
        return value.quantity in nums
    if value.date is not None:
        return parse_date(t, today) == value.date or value.date in t
    if value.string is not None:
        return bool(value.string.strip()) and value.string.strip().lower() in t
    return False

"""The other resources the assistant writes: a vital sign, a medication order, a referral.

Pure builders (no I/O) beside :func:`tools.orders.lab_order`; every resource carries
:data:`tools.orders.ASSISTANT_TAG` in ``meta.tag`` (so :func:`is_assistant_write` /
:func:`tools.orders.is_assistant_order` tell it from the record's own), names the patient
as ``subject`` and has no id (the writer assigns one)::

    obs = vital_observation("pid", "blood_pressure", "128/82")
    rx = medication_order("pid", drug="metformin", rxnorm="6809", dose="500", dose_unit="mg",
                          route="by mouth", frequency="twice daily")
    sr = referral("pid", specialty="cardiology", reason="palpitations")
    created = await source.create(obs, patient_id="pid")   # a RecordWriter

* :func:`vital_observation`: a vital-signs ``Observation`` (category ``vital-signs``, the
  LOINC code of :data:`VITALS`, UCUM units, status ``final``, effective now); blood pressure
  is the panel 85354-9 with systolic 8480-6 and diastolic 8462-4 components.
* :func:`medication_order`: a ``MedicationRequest`` (status ``active``, intent ``order``,
  ``medicationCodeableConcept`` with the RxNorm code when given, one ``dosageInstruction``
  with a UCUM ``doseQuantity``, a SNOMED route (:data:`ROUTES`) and a ``timing``
  (:data:`FREQUENCIES`)).
* :func:`referral`: a ``ServiceRequest`` (category SNOMED 3457005 "Patient referral",
  code and ``performerType`` the SNOMED specialty of :data:`SPECIALTIES`, the reason as
  ``reasonCode`` text and a note, status ``active``, intent ``order``).

Words a clinician uses ("by mouth", "BID", "units", "heart rate") are mapped to codes by
:func:`route_coding`, :func:`timing`, :func:`ucum_unit`, :func:`vital_kind` and
:func:`specialty_coding`; an unknown word raises :class:`tools.errors.RecordToolError`
(nothing is guessed).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from tools.errors import RecordToolError
from tools.orders import ASSISTANT_TAG, LOINC_SYSTEM, is_assistant_order

__all__ = [
    "BP_DIASTOLIC",
    "BP_PANEL",
    "BP_SYSTOLIC",
    "FREQUENCIES",
    "REFERRAL_CATEGORY",
    "ROUTES",
    "RXNORM_SYSTEM",
    "SNOMED_SYSTEM",
    "SPECIALTIES",
    "UCUM_SYSTEM",
    "VITALS",
    "Vital",
    "dose_unit",
    "is_assistant_write",
    "medication_order",
    "referral",
    "route_coding",
    "specialty_coding",
    "timing",
    "ucum_unit",
    "vital_kind",
    "vital_observation",
]

SNOMED_SYSTEM: Final = "http://snomed.info/sct"
RXNORM_SYSTEM: Final = "http://www.nlm.nih.gov/research/umls/rxnorm"
UCUM_SYSTEM: Final = "http://unitsofmeasure.org"
_OBS_CATEGORY: Final = "http://terminology.hl7.org/CodeSystem/observation-category"
_GTS: Final = "http://terminology.hl7.org/CodeSystem/v3-GTSAbbreviation"

#: Whether a resource carries the assistant's tag (same test as for lab orders).
is_assistant_write = is_assistant_order


@dataclass(frozen=True)
class Vital:
    """A vital sign the assistant can record: LOINC code and display, UCUM unit."""

    key: str
    code: str
    display: str
    unit: str  # UCUM code (also used as the unit shown)
    low: float
    high: float  # plausible range: a value outside is refused (a typo, not a reading)


BP_PANEL: Final = ("85354-9", "Blood pressure panel with all children optional")
BP_SYSTOLIC: Final = ("8480-6", "Systolic blood pressure")
BP_DIASTOLIC: Final = ("8462-4", "Diastolic blood pressure")

#: The vital signs, by key (blood pressure's range applies to each component).
VITALS: Final[dict[str, Vital]] = {
    v.key: v
    for v in (
        Vital("blood_pressure", BP_PANEL[0], BP_PANEL[1], "mm[Hg]", 20, 300),
        Vital("heart_rate", "8867-4", "Heart rate", "/min", 10, 300),
        Vital("respiratory_rate", "9279-1", "Respiratory rate", "/min", 2, 80),
        Vital("body_weight", "29463-7", "Body weight", "kg", 0.2, 400),
        Vital("body_height", "8302-2", "Body height", "cm", 20, 260),
        Vital("body_temperature", "8310-5", "Body temperature", "Cel", 25, 45),
        Vital("oxygen_saturation", "59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry", "%", 30, 100),
    )
}  # fmt: skip

_VITAL_WORDS: Final[dict[str, str]] = {
    "blood pressure": "blood_pressure", "bp": "blood_pressure",
    "heart rate": "heart_rate", "pulse": "heart_rate", "hr": "heart_rate",
    "respiratory rate": "respiratory_rate", "rr": "respiratory_rate",
    "respirations": "respiratory_rate", "breathing rate": "respiratory_rate",
    "weight": "body_weight", "body weight": "body_weight",
    "height": "body_height", "body height": "body_height",
    "temperature": "body_temperature", "body temperature": "body_temperature",
    "temp": "body_temperature",
    "oxygen saturation": "oxygen_saturation", "spo2": "oxygen_saturation",
    "o2 sat": "oxygen_saturation", "pulse oximetry": "oxygen_saturation",
}  # fmt: skip

# unit words → (UCUM code, factor to the vital's unit)
_UNIT_WORDS: Final[dict[str, tuple[str, float]]] = {
    "mmhg": ("mm[Hg]", 1), "mm[hg]": ("mm[Hg]", 1), "mm hg": ("mm[Hg]", 1),
    "/min": ("/min", 1), "bpm": ("/min", 1), "beats/min": ("/min", 1),
    "beats per minute": ("/min", 1), "breaths/min": ("/min", 1),
    "breaths per minute": ("/min", 1), "per minute": ("/min", 1), "{beats}/min": ("/min", 1),
    "kg": ("kg", 1), "kilograms": ("kg", 1), "g": ("kg", 0.001),
    "lb": ("kg", 0.45359237), "lbs": ("kg", 0.45359237), "[lb_av]": ("kg", 0.45359237),
    "pounds": ("kg", 0.45359237),
    "cm": ("cm", 1), "m": ("cm", 100), "in": ("cm", 2.54), "[in_i]": ("cm", 2.54),
    "inches": ("cm", 2.54),
    "cel": ("Cel", 1), "°c": ("Cel", 1), "c": ("Cel", 1), "degc": ("Cel", 1),
    "celsius": ("Cel", 1),
    "%": ("%", 1), "percent": ("%", 1),
}  # fmt: skip
#: Fahrenheit words: not a factor (°C = (°F - 32) × 5/9), converted in vital_observation
_FAHRENHEIT: Final = frozenset({"f", "°f", "degf", "[degf]", "fahrenheit", "deg f", "degrees f"})

#: Administration routes: words → SNOMED CT route code and display.
ROUTES: Final[dict[str, tuple[str, str]]] = {
    "oral": ("26643006", "Oral route"),
    "subcutaneous": ("34206005", "Subcutaneous route"),
    "intravenous": ("47625008", "Intravenous route"),
    "intramuscular": ("78421000", "Intramuscular route"),
    "inhalation": ("447694001", "Respiratory tract route"),
    "sublingual": ("37839007", "Sublingual route"),
    "topical": ("6064005", "Topical route"),
    "rectal": ("37161004", "Rectal route"),
    "transdermal": ("45890007", "Transdermal route"),
}  # fmt: skip

_ROUTE_WORDS: Final[dict[str, str]] = {
    "oral": "oral", "po": "oral", "by mouth": "oral", "orally": "oral", "per os": "oral",
    "subcutaneous": "subcutaneous", "subcutaneously": "subcutaneous", "sc": "subcutaneous",
    "sq": "subcutaneous", "subq": "subcutaneous", "sub-q": "subcutaneous",
    "intravenous": "intravenous", "intravenously": "intravenous", "iv": "intravenous",
    "intramuscular": "intramuscular", "intramuscularly": "intramuscular", "im": "intramuscular",
    "inhaled": "inhalation", "inhalation": "inhalation", "by inhalation": "inhalation",
    "inh": "inhalation", "respiratory tract": "inhalation",
    "sublingual": "sublingual", "sublingually": "sublingual", "sl": "sublingual",
    "under the tongue": "sublingual",
    "topical": "topical", "topically": "topical",
    "rectal": "rectal", "rectally": "rectal", "pr": "rectal",
    "transdermal": "transdermal", "patch": "transdermal",
}  # fmt: skip

#: Frequencies: key → (GTS code, times per period, period, unit, display).
FREQUENCIES: Final[dict[str, tuple[str, int, float, str, str]]] = {
    "QD": ("QD", 1, 1, "d", "once daily"),
    "BID": ("BID", 2, 1, "d", "twice daily"),
    "TID": ("TID", 3, 1, "d", "three times daily"),
    "QID": ("QID", 4, 1, "d", "four times daily"),
    "Q4H": ("Q4H", 1, 4, "h", "every 4 hours"),
    "Q6H": ("Q6H", 1, 6, "h", "every 6 hours"),
    "Q8H": ("Q8H", 1, 8, "h", "every 8 hours"),
    "Q12H": ("Q12H", 1, 12, "h", "every 12 hours"),
    "QWK": ("WK", 1, 1, "wk", "once weekly"),
}

_FREQ_WORDS: Final[dict[str, str]] = {
    "qd": "QD", "daily": "QD", "once daily": "QD", "once a day": "QD", "every day": "QD",
    "od": "QD", "once per day": "QD", "q24h": "QD", "every 24 hours": "QD",
    "bid": "BID", "twice daily": "BID", "twice a day": "BID", "two times a day": "BID",
    "2 times a day": "BID", "two times daily": "BID",
    "tid": "TID", "three times daily": "TID", "three times a day": "TID",
    "3 times a day": "TID",
    "qid": "QID", "four times daily": "QID", "four times a day": "QID", "4 times a day": "QID",
    "q4h": "Q4H", "every 4 hours": "Q4H", "every four hours": "Q4H",
    "q6h": "Q6H", "every 6 hours": "Q6H", "every six hours": "Q6H",
    "q8h": "Q8H", "every 8 hours": "Q8H", "every eight hours": "Q8H",
    "q12h": "Q12H", "every 12 hours": "Q12H", "every twelve hours": "Q12H",
    "weekly": "QWK", "once weekly": "QWK", "once a week": "QWK", "every week": "QWK",
    "qwk": "QWK",
}  # fmt: skip

# dose unit words → (UCUM code, display)
_DOSE_UNITS: Final[dict[str, tuple[str, str]]] = {
    "mg": ("mg", "mg"), "milligram": ("mg", "mg"), "milligrams": ("mg", "mg"),
    "g": ("g", "g"), "gram": ("g", "g"), "grams": ("g", "g"),
    "mcg": ("ug", "mcg"), "ug": ("ug", "mcg"), "µg": ("ug", "mcg"),
    "microgram": ("ug", "mcg"), "micrograms": ("ug", "mcg"),
    "ml": ("mL", "mL"), "milliliter": ("mL", "mL"), "milliliters": ("mL", "mL"),
    "millilitre": ("mL", "mL"), "millilitres": ("mL", "mL"),
    "unit": ("[IU]", "units"), "units": ("[IU]", "units"), "iu": ("[IU]", "units"),
    "[iu]": ("[IU]", "units"), "international units": ("[IU]", "units"),
    "puff": ("{puff}", "puffs"), "puffs": ("{puff}", "puffs"), "{puff}": ("{puff}", "puffs"),
    "tablet": ("{tbl}", "tablets"), "tablets": ("{tbl}", "tablets"),
    "tab": ("{tbl}", "tablets"), "tabs": ("{tbl}", "tablets"), "{tbl}": ("{tbl}", "tablets"),
    "meq": ("meq", "mEq"),
}  # fmt: skip

#: Clinical specialties for referrals: key → (SNOMED CT code, display).
SPECIALTIES: Final[dict[str, tuple[str, str]]] = {
    "cardiology": ("394579002", "Cardiology"),
    "endocrinology": ("394583002", "Endocrinology"),
    "nephrology": ("394589003", "Nephrology"),
    "neurology": ("394591006", "Neurology"),
    "dermatology": ("394582007", "Dermatology"),
    "gastroenterology": ("394584008", "Gastroenterology"),
    "pulmonology": ("418112009", "Pulmonary medicine"),
    "rheumatology": ("394810000", "Rheumatology"),
    "ophthalmology": ("394594003", "Ophthalmology"),
    "psychiatry": ("394587001", "Psychiatry"),
    "urology": ("394612005", "Urology"),
    "orthopedics": ("394801008", "Trauma and orthopedics"),
    "oncology": ("394593009", "Medical oncology"),
    "physical therapy": ("722138006", "Physiotherapy"),
}

_SPECIALTY_WORDS: Final[dict[str, str]] = {
    "cardiologist": "cardiology", "heart": "cardiology", "cardiac": "cardiology",
    "endocrinologist": "endocrinology", "endocrine": "endocrinology",
    "nephrologist": "nephrology", "kidney": "nephrology", "renal": "nephrology",
    "neurologist": "neurology",
    "dermatologist": "dermatology", "skin": "dermatology",
    "gastroenterologist": "gastroenterology", "gi": "gastroenterology",
    "pulmonologist": "pulmonology", "pulmonary": "pulmonology", "lung": "pulmonology",
    "respiratory medicine": "pulmonology", "pulmonary medicine": "pulmonology",
    "rheumatologist": "rheumatology",
    "ophthalmologist": "ophthalmology", "eye": "ophthalmology", "eye clinic": "ophthalmology",
    "psychiatrist": "psychiatry", "mental health": "psychiatry",
    "urologist": "urology",
    "orthopedic": "orthopedics", "orthopaedics": "orthopedics", "orthopedic surgery": "orthopedics",
    "orthopaedic": "orthopedics", "orthopedist": "orthopedics",
    "oncologist": "oncology", "medical oncology": "oncology",
    "physiotherapy": "physical therapy", "pt": "physical therapy",
    "physical therapist": "physical therapy",
}  # fmt: skip

#: ServiceRequest.category of a referral.
REFERRAL_CATEGORY: Final = (SNOMED_SYSTEM, "3457005", "Patient referral")


def _norm(text: str) -> str:
    return " ".join(text.casefold().replace("_", " ").split()).strip(" .")


def _now() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _number(value: str | float, what: str) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    text = str(value).strip()
    if re.fullmatch(r"\d{1,3}(?:,\d{3})+", text):  # 5,000 or 5.000? never guessed
        raise RecordToolError(
            f"{what} {value!r} is ambiguous: write it without a comma, such as 5000 or 5.0"
        )
    text = text.replace(",", ".")
    if not re.fullmatch(r"\d{1,6}(\.\d{1,4})?", text):
        raise RecordToolError(f"{what} must be a number such as 72 or 36.8, not {value!r}")
    return float(text)


#: a number followed by its unit in one field: "40 mg", "128/82 mmHg", "49.5kg"
_WITH_UNIT = re.compile(r"\s*(\d[\d.,]*(?:\s*/\s*\d[\d.,]*)?)\s*((?:[^\W\d_]|[°%{\[]).{0,19}?)\s*")


def _split_unit(
    value: str | float, unit: str | None, same: Callable[[str, str], bool]
) -> tuple[str | float, str | None]:
    """``value`` and ``unit`` with a unit written into the value moved out ("40 mg" with
    unit "mg" or none is 40 mg); a value whose own unit differs from ``unit`` (by
    ``same``) is an error, never a guess between the two."""
    m = _WITH_UNIT.fullmatch(str(value)) if isinstance(value, str) else None
    if m is None:
        return value, unit
    number, own = m.group(1), m.group(2)
    if unit and unit.strip() and not same(own, unit):
        raise RecordToolError(f"the value {value!r} and its unit {unit!r} disagree")
    return number, unit if unit and unit.strip() else own


def _num(value: float) -> int | float:
    return int(value) if float(value).is_integer() else round(value, 4)


def _tag(tag: dict[str, str] | None) -> dict[str, Any]:
    return {"tag": [dict(tag or ASSISTANT_TAG)]}


# --------------------------------------------------------------------------- lookups


def vital_kind(name: str) -> Vital:
    """The vital sign for a word ("blood pressure", "BP", "pulse", "weight", a LOINC code)."""
    n = _norm(name)
    key = _VITAL_WORDS.get(n) or (n.replace(" ", "_") if n.replace(" ", "_") in VITALS else None)
    if key is None:
        key = next((v.key for v in VITALS.values() if v.code == n), None)
    if key is None:
        raise RecordToolError(
            f"unknown vital sign {name!r}; one of: {', '.join(k.replace('_', ' ') for k in VITALS)}"
        )
    return VITALS[key]


def ucum_unit(vital: Vital, unit: str | None) -> tuple[str, float]:
    """(UCUM unit, factor to it) for a unit word given with a vital (None: its own).
    Fahrenheit for a temperature is ``("[degF]", 1.0)``: not a factor, converted by
    :func:`vital_observation`."""
    if not unit or not unit.strip():
        return vital.unit, 1.0
    if vital.unit == "Cel" and _norm(unit) in _FAHRENHEIT:
        return "[degF]", 1.0
    got = _UNIT_WORDS.get(_norm(unit)) or _UNIT_WORDS.get(unit.strip().casefold())
    if got is None and unit.strip() == vital.unit:
        got = (vital.unit, 1.0)
    if got is None or got[0] != vital.unit:
        raise RecordToolError(
            f"unit {unit!r} does not fit {vital.display} (recorded in {vital.unit})"
        )
    return got


def route_coding(route: str) -> dict[str, str]:
    """The SNOMED CT coding of a route ("by mouth", "PO", "subcutaneous", "IV", ...)."""
    n = _norm(route)
    key = _ROUTE_WORDS.get(n) or (n if n in ROUTES else None)
    if key is None:
        key = next((k for k, (code, _) in ROUTES.items() if code == n), None)
    if key is None:
        raise RecordToolError(f"unknown route {route!r}; one of: {', '.join(ROUTES)}")
    code, display = ROUTES[key]
    return {"system": SNOMED_SYSTEM, "code": code, "display": display}


def timing(frequency: str) -> dict[str, Any]:
    """An R4 Timing for a frequency ("twice daily", "BID", "every 8 hours", ...)."""
    n = _norm(frequency)
    key = _FREQ_WORDS.get(n) or (n.upper() if n.upper() in FREQUENCIES else None)
    if key is None:
        raise RecordToolError(
            f"unknown frequency {frequency!r}; e.g. "
            + ", ".join(v[4] for v in FREQUENCIES.values())
        )
    code, times, period, unit, display = FREQUENCIES[key]
    return {
        "repeat": {"frequency": times, "period": _num(period), "periodUnit": unit},
        "code": {"coding": [{"system": _GTS, "code": code}], "text": display},
    }


def dose_unit(unit: str) -> tuple[str, str]:
    """(UCUM code, display) of a dose unit ("mg", "mcg", "units", "puffs", "mL")."""
    got = _DOSE_UNITS.get(_norm(unit)) or _DOSE_UNITS.get(unit.strip())
    if got is None:
        raise RecordToolError(
            f"unknown dose unit {unit!r}; one of: mg, g, mcg, mL, units, puffs, tablets, mEq"
        )
    return got


def specialty_coding(specialty: str) -> dict[str, str]:
    """The SNOMED CT coding of a specialty ("cardiology", "a cardiologist", "kidney")."""
    n = _norm(specialty)
    n = re.sub(r"^(?:an?|the)\s+", "", n)
    n = re.sub(r"\s+(?:clinic|service|department|specialist)$", "", n) or n
    key = n if n in SPECIALTIES else _SPECIALTY_WORDS.get(n)
    if key is None:
        key = next((k for k, (code, _) in SPECIALTIES.items() if code == n), None)
    if key is None:
        raise RecordToolError(f"unknown specialty {specialty!r}; one of: {', '.join(SPECIALTIES)}")
    code, display = SPECIALTIES[key]
    return {"system": SNOMED_SYSTEM, "code": code, "display": display}


# --------------------------------------------------------------------------- builders


def _quantity(value: float, unit: str) -> dict[str, Any]:
    return {"value": _num(value), "unit": unit, "system": UCUM_SYSTEM, "code": unit}


def _check_range(vital: Vital, value: float, what: str) -> None:
    if not vital.low <= value <= vital.high:
        raise RecordToolError(
            f"{what} {_num(value)} {vital.unit} is outside {vital.low}-{vital.high}: not recorded"
        )


def vital_observation(
    patient_id: str,
    vital: str,
    value: str | float,
    *,
    unit: str | None = None,
    effective: str | None = None,
    tag: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A vital-signs Observation (no id) for ``patient_id``.

    ``value`` is a number, or ``"128/82"`` for a blood pressure; ``unit`` a unit word
    (converted: pounds to kg, inches to cm); ``effective`` defaults to now (UTC).
    """
    v = vital_kind(vital)
    value, unit = _split_unit(value, unit, lambda a, b: ucum_unit(v, a) == ucum_unit(v, b))
    now = effective or _now()
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "meta": _tag(tag),
        "status": "final",
        "category": [
            {
                "coding": [
                    {"system": _OBS_CATEGORY, "code": "vital-signs", "display": "Vital Signs"}
                ],
                "text": "Vital signs",
            }
        ],
        "code": {
            "coding": [{"system": LOINC_SYSTEM, "code": v.code, "display": v.display}],
            "text": v.display,
        },
        "subject": {"reference": f"Patient/{patient_id}"},
        "effectiveDateTime": now,
        "issued": _now(),
    }
    ucum, factor = ucum_unit(v, unit)
    if v.key == "blood_pressure":
        m = re.fullmatch(r"\s*(\d{1,3}(?:\.\d+)?)\s*/\s*(\d{1,3}(?:\.\d+)?)\s*", str(value))
        if not m:
            raise RecordToolError(
                f"a blood pressure is systolic/diastolic such as 128/82, not {value!r}"
            )
        sys_v, dia_v = float(m.group(1)), float(m.group(2))
        _check_range(v, sys_v, "systolic")
        _check_range(v, dia_v, "diastolic")
        if dia_v >= sys_v:
            raise RecordToolError(f"diastolic {m.group(2)} is not below systolic {m.group(1)}")
        resource["component"] = [
            {
                "code": {
                    "coding": [{"system": LOINC_SYSTEM, "code": code, "display": display}],
                    "text": display,
                },
                "valueQuantity": _quantity(val, ucum),
            }
            for (code, display), val in ((BP_SYSTOLIC, sys_v), (BP_DIASTOLIC, dia_v))
        ]
        return resource
    number = _number(value, v.display) * factor
    if ucum == "[degF]":
        ucum, number = "Cel", (number - 32) * 5 / 9
    _check_range(v, number, v.display)
    resource["valueQuantity"] = _quantity(round(number, 2), ucum)
    return resource


def medication_order(
    patient_id: str,
    *,
    drug: str,
    dose: str | float,
    dose_unit_word: str,
    route: str,
    frequency: str,
    rxnorm: str | None = None,
    reason: str | None = None,
    tag: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A MedicationRequest (no id) ordering ``drug`` for ``patient_id``: status active,
    intent order, authored now, one dosage instruction (dose, route, timing)."""
    name = " ".join(drug.split())
    if not name:
        raise RecordToolError("the drug needs a name")
    if rxnorm is not None and not re.fullmatch(r"\d{1,10}", rxnorm.strip()):
        raise RecordToolError(f"an RxNorm code is digits such as 6809, not {rxnorm!r}")
    dose, unit_word = _split_unit(
        dose, dose_unit_word, lambda a, b: dose_unit(a)[0] == dose_unit(b)[0]
    )
    amount = _number(dose, "the dose")
    if amount <= 0:
        raise RecordToolError("the dose must be above zero")
    unit_code, unit_display = dose_unit(unit_word or dose_unit_word)
    route_c = route_coding(route)
    when = timing(frequency)
    concept: dict[str, Any] = {"text": name}
    if rxnorm:
        concept["coding"] = [{"system": RXNORM_SYSTEM, "code": rxnorm.strip(), "display": name}]
    text = (
        f"{_num(amount)} {unit_display} {route_c['display'].lower().replace(' route', '')} "
        f"{when['code']['text']}"
    )
    resource: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "meta": _tag(tag),
        "status": "active",
        "intent": "order",
        "medicationCodeableConcept": concept,
        "subject": {"reference": f"Patient/{patient_id}"},
        "authoredOn": _now(),
        "dosageInstruction": [
            {
                "text": text,
                "timing": when,
                "route": {"coding": [route_c], "text": route_c["display"]},
                "doseAndRate": [
                    {
                        "type": {
                            "coding": [
                                {
                                    "system": "http://terminology.hl7.org/CodeSystem/dose-rate-type",
                                    "code": "ordered",
                                    "display": "Ordered",
                                }
                            ]
                        },
                        "doseQuantity": {
                            "value": _num(amount),
                            "unit": unit_display,
                            "system": UCUM_SYSTEM,
                            "code": unit_code,
                        },
                    }
                ],
            }
        ],
    }
    if reason and reason.strip():
        resource["reasonCode"] = [{"text": " ".join(reason.split())}]
        resource["note"] = [{"text": f"Reason: {' '.join(reason.split())}"}]
    return resource


def referral(
    patient_id: str, *, specialty: str, reason: str, tag: dict[str, str] | None = None
) -> dict[str, Any]:
    """A referral ServiceRequest (no id) to ``specialty`` for ``patient_id``."""
    spec = specialty_coding(specialty)
    why = " ".join(reason.split())
    if not why:
        raise RecordToolError("a referral needs a reason")
    system, code, display = REFERRAL_CATEGORY
    return {
        "resourceType": "ServiceRequest",
        "meta": _tag(tag),
        "status": "active",
        "intent": "order",
        "category": [{"coding": [{"system": system, "code": code, "display": display}]}],
        "code": {"coding": [spec], "text": f"Referral to {spec['display'].lower()}"},
        "performerType": {"coding": [spec], "text": spec["display"]},
        "subject": {"reference": f"Patient/{patient_id}"},
        "authoredOn": _now(),
        "reasonCode": [{"text": why}],
        "note": [{"text": f"Reason: {why}"}],
    }

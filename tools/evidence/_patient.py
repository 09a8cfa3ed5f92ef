"""Section ``patient``: demographics (name, sex, birth, death or age, race, ethnicity,
marital status, language, general practitioner), cited to the Patient resource."""

from __future__ import annotations

import datetime as dt

from tools._record import RecordView, cc_text, clean, parse_date, ref_of

from ._common import Draft, day, source
from ._model import Demographics, EvidenceItem, Point

__all__ = ["age", "build", "render"]


def age(birth: dt.date, at: dt.date) -> int:
    """Whole years from ``birth`` to ``at``."""
    return at.year - birth.year - ((at.month, at.day) < (birth.month, birth.day))


def build(view: RecordView, as_of: dt.date) -> list[Draft]:
    p = view.patient
    if not p:
        return []
    names = p.get("name") or []
    official = next((n for n in names if n.get("use") == "official"), names[0] if names else None)
    name = None
    if isinstance(official, dict):
        joined = official.get("text") or " ".join(
            [*official.get("given", []), official.get("family", "")]
        )
        name = clean(joined) or None
    birth = parse_date(p.get("birthDate"))
    died_text = p.get("deceasedDateTime")
    died = parse_date(died_text)
    deceased = bool(died) or p.get("deceasedBoolean") is True
    race = ethnicity = None
    for ext in p.get("extension") or []:
        url = str(ext.get("url", ""))
        if url.endswith("us-core-race") or url.endswith("us-core-ethnicity"):
            text = next(
                (
                    e.get("valueString")
                    for e in ext.get("extension") or []
                    if e.get("url") == "text"
                ),
                None,
            )
            if text and url.endswith("race"):
                race = clean(text)
            elif text:
                ethnicity = clean(text)
    langs = tuple(
        x
        for x in (
            cc_text(c.get("language")) for c in p.get("communication") or [] if isinstance(c, dict)
        )
        if x
    )
    gps = tuple(
        x
        for x in (
            clean(str(g.get("display") or g.get("reference") or ""))
            for g in p.get("generalPractitioner") or []
            if isinstance(g, dict)
        )
        if x
    )
    at = died or as_of
    demographics = Demographics(
        name=name,
        gender=str(p["gender"]) if p.get("gender") else None,
        birth_date=birth.isoformat() if birth else None,
        deceased=deceased,
        death_date=died.isoformat() if died else None,
        age=age(birth, at) if birth and (died or not deceased) else None,
        age_at=at.isoformat(),
        race=race,
        ethnicity=ethnicity,
        marital_status=cc_text(p.get("maritalStatus")) or None,
        languages=langs,
        general_practitioners=gps,
    )
    points = [
        Point(source=source(p, "birthDate"), date=p.get("birthDate"), value_text=p.get("birthDate"))
    ]
    if gps:
        points.append(Point(source=source(p, "generalPractitioner"), value_text=", ".join(gps)))
    if deceased:
        points.append(
            Point(
                source=source(p, "deceasedDateTime" if died else "deceasedBoolean"),
                date=died_text if died else None,
                value_text="deceased",
            )
        )
    item = EvidenceItem(
        handle="",
        kind="patient",
        section="patient",
        patient_id=view.patient_id,
        name=name or ref_of(p),
        status="deceased" if deceased else "alive",
        points=tuple(points),
        demographics=demographics,
        reference=ref_of(p),
        path="birthDate",
        date=day(p.get("birthDate")),
    )
    return [Draft(item.model_copy(update={"text": render(item)}), (0,))]


def render(item: EvidenceItem) -> str:
    """``Patient: Debora Nazario, female, born 1961-04-12, age 63 on 2024-06-01, …``."""
    d = item.demographics or Demographics()
    parts: list[str] = []
    if d.name:
        parts.append(d.name)
    if d.gender:
        parts.append(d.gender)
    if d.birth_date:
        parts.append(f"born {d.birth_date}")
    if d.deceased:
        if d.death_date and d.age is not None:
            parts.append(f"DECEASED {d.death_date} at age {d.age}")
        elif d.death_date:
            parts.append(f"DECEASED {d.death_date}")
        else:
            parts.append("DECEASED (date unknown)")
    elif d.age is not None:
        parts.append(f"age {d.age} on {d.age_at}")
    if d.race:
        parts.append(f"race {d.race}")
    if d.ethnicity:
        parts.append(f"ethnicity {d.ethnicity}")
    if d.marital_status:
        parts.append(f"marital status {d.marital_status}")
    if d.languages:
        parts.append("language " + ", ".join(d.languages))
    if d.general_practitioners:
        parts.append("general practitioner " + ", ".join(d.general_practitioners))
    return "Patient: " + ", ".join(parts)

"""Section ``patient``: demographics (name, sex, birth, death or age, race, ethnicity,
marital status, language, general practitioner, contacts, phone, address), cited to the
Patient resource."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tools._record import Payer, RecordView, cc_text, clean, json_object, parse_date, ref_of

from ._common import Draft, codings_of, day, source
from ._model import Demographics, EvidenceItem, Point, SourceRef

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
    contacts = tuple(x for x in map(_contact, p.get("contact") or []) if x)
    telecoms = tuple(x for x in map(_telecom, p.get("telecom") or []) if x)
    addresses = tuple(x for x in map(_address, p.get("address") or []) if x)
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
        marital_status=_marital(p.get("maritalStatus")),
        languages=langs,
        general_practitioners=gps,
        contacts=contacts,
        telecoms=telecoms,
        addresses=addresses,
    )
    points = [
        Point(source=source(p, "birthDate"), date=p.get("birthDate"), value_text=p.get("birthDate"))
    ]
    if gps:
        points.append(Point(source=source(p, "generalPractitioner"), value_text=", ".join(gps)))
    for path, said in (("contact", contacts), ("telecom", telecoms), ("address", addresses)):
        if said:
            points.append(Point(source=source(p, path), value_text="; ".join(said)))
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
    out = [Draft(item.model_copy(update={"text": render(item)}), (0,))]
    said, source_kind, paid_by = _insurance(view)
    if said:  # who pays, an item of its own (its sources are billing resources)
        cover = EvidenceItem(
            handle="",
            kind="coverage",
            section="patient",
            patient_id=view.patient_id,
            name="Insurance",
            subtype=source_kind,
            points=tuple(paid_by),
            reference=paid_by[0].source.reference,
            path=paid_by[0].source.path,
        )
        text = (
            f"Insurance (Coverage): {'; '.join(said)}"
            if source_kind == "coverage"
            else f"Insurance, from the claims (no Coverage resource): {'; '.join(said)}"
        )
        out.append(Draft(cover.model_copy(update={"text": text}), (1,)))
    return out


def _insurance(view: RecordView) -> tuple[tuple[str, ...], str | None, list[Point]]:
    """Who pays: each Coverage (active first), else the insurers the claims name (from
    the explanations of benefit, else the claims), the latest first, each with its count
    and span. The points cite the Coverage or each insurer's latest claim; they carry no
    date (a claim is no event of care: a search of a period never finds the patient by
    it)."""
    coverages = [p for p in view.payers if p.kind == "coverage"]
    if coverages:
        coverages.sort(key=lambda p: (p.status != "active", p.day or ""))
        said = []
        for p in coverages:
            bits = [x for x in (p.status, f"from {p.day}" if p.day else "",
                                f"to {p.end}" if p.end else "") if x]  # fmt: skip
            said.append(f"{p.name} ({', '.join(bits)})" if bits else p.name)
        points = [
            Point(source=SourceRef(reference=p.reference, version=p.version, path="payor"),
                  value_text=text)
            for p, text in zip(coverages, said, strict=True)
        ]  # fmt: skip
        return tuple(said), "coverage", points
    claims = [p for p in view.payers if p.reference.startswith("ExplanationOfBenefit/")] or [
        p for p in view.payers if p.kind == "claim"
    ]
    by_name: dict[str, list[Payer]] = {}
    for p in sorted(claims, key=lambda p: p.day or ""):
        by_name.setdefault(p.name, []).append(p)
    ranked = sorted(by_name.items(), key=lambda kv: kv[1][-1].day or "", reverse=True)[:3]
    said, points = [], []
    for name, ps in ranked:
        days = [p.day for p in ps if p.day]
        span = (
            f"{len(ps)} claims, {days[0]} to {days[-1]}"
            if len(ps) > 1 and days
            else f"claim of {days[-1]}"
            if days
            else f"{len(ps)} claim{'s' if len(ps) > 1 else ''}"
        )
        said.append(f"{name} ({span})")
        last = ps[-1]
        points.append(
            Point(source=SourceRef(reference=last.reference, version=last.version,
                                   path="insurer"), value_text=said[-1])
        )  # fmt: skip
    return tuple(said), ("claims" if said else None), points


def _telecom(t: object) -> str | None:
    """``555-0199 (home phone)``: a ContactPoint's value, its use and system."""
    if not isinstance(t, dict) or not t.get("value"):
        return None
    kind = " ".join(str(x) for x in (t.get("use"), t.get("system")) if x)
    return clean(f"{t['value']} ({kind})" if kind else str(t["value"]))


def _address(a: object) -> str | None:
    """``12 Main St, Boston, MA 02118, US``: an Address as written (its text, else parts)."""
    if not isinstance(a, dict):
        return None
    if a.get("text"):
        return clean(str(a["text"]))
    region = " ".join(str(x) for x in (a.get("state"), a.get("postalCode")) if x)
    parts = [*(str(x) for x in a.get("line") or []), a.get("city"), region, a.get("country")]
    return clean(", ".join(str(x) for x in parts if x)) or None


#: HL7 v2 table 0131 (contact role), the codes a Patient.contact.relationship often
#: carries without a display
_V2_0131 = {
    "C": "emergency contact",
    "N": "next of kin",
    "E": "employer",
    "F": "federal agency",
    "I": "insurance company",
    "O": "other",
    "S": "state agency",
    "U": "unknown",
}


def _relationship(cc: object) -> str:
    """A contact's relationship: its text or display, else a v2-0131 code's meaning."""
    if isinstance(cc, dict) and not cc.get("text"):
        for c in cc.get("coding") or []:
            if isinstance(c, dict) and not c.get("display") and c.get("code") in _V2_0131:
                return _V2_0131[str(c["code"])]
    return cc_text(cc)


#: HL7 v3 MaritalStatus (the FHIR R4 marital-status value set), for a record that gives
#: the code as its display ("M")
_MARITAL = {
    "A": "annulled", "D": "divorced", "I": "interlocutory", "L": "legally separated",
    "M": "married", "P": "polygamous", "S": "never married", "T": "domestic partner",
    "U": "unmarried", "W": "widowed",
}  # fmt: skip


def _marital(cc: Any) -> str | None:
    """A marital status as said: its text or display, the v3 code's meaning beside a bare
    code ("M (married)")."""
    said = cc_text(cc) or None
    code = next((str(c.get("code")) for c in codings_of(cc) if c.get("code")), None)
    if said and code and said == code and code in _MARITAL:
        return f"{said} ({_MARITAL[code]})"
    return said


def _contact(c: object) -> str | None:
    """``Maria Lopez (emergency contact; mother), 555-0100 (mobile phone)``: a
    Patient.contact's name (or organization), relationships and ways to reach them."""
    if not isinstance(c, dict):
        return None
    n = json_object(c.get("name"))
    who = n.get("text") or " ".join([*n.get("given", []), n.get("family", "")]).strip()
    org = json_object(c.get("organization"))
    who = who or org.get("display") or ""
    roles = [x for x in (_relationship(r) for r in c.get("relationship") or []) if x]
    reach = [x for x in map(_telecom, c.get("telecom") or []) if x]
    if not who and not reach:
        return None
    said = (who or "unnamed") + (f" ({'; '.join(roles)})" if roles else "")
    return clean(", ".join([said, *reach]))


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
    if d.contacts:
        parts.append("contact " + "; ".join(d.contacts))
    return "Patient: " + ", ".join(parts)

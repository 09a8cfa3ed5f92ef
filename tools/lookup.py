"""Find a patient by name and birth date (the MedAgentBench "find the patient" step).

::

    rows = await find_patients(source, name="Frankie174 Jast432", birth_date="1963-05-21")

One FHIR search, ``Patient?name=<word>&name=<word>…&birthdate=<date>`` (each word of the
name must match: FHIR string search, i.e. some part of a name starts with it, ignoring
case and accents), on any :class:`~tools.source.RecordSource`. A FHIR server is searched
with ``Prefer: handling=strict`` (as every :class:`~tools.fhir.FhirClient` search), so a
server that does not support a parameter answers with an error instead of ignoring it;
the matches are then checked again here (birth date equal, every word matching a name
part), so a lenient server that ignored a parameter still cannot return someone else.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from typing import Any

from tools.errors import RecordToolError
from tools.source import PatientRow, RecordSource, Resource

__all__ = ["find_patients", "fold", "patient_row", "search_patients"]

_SPLIT = re.compile(r"[\s,]+")


def fold(text: str) -> str:
    """Case- and accent-insensitive form of ``text`` (how names are compared)."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def _parts(patient: Resource) -> list[str]:
    parts: list[str] = []
    for name in patient.get("name") or ():
        if not isinstance(name, dict):
            continue
        for key in ("family", "given", "prefix", "suffix", "text"):
            value = name.get(key)
            for v in value if isinstance(value, list) else [value]:
                if isinstance(v, str):
                    parts.extend(fold(w) for w in _SPLIT.split(v) if w)
    return parts


def _display_name(patient: Resource) -> str:
    names = [n for n in patient.get("name") or () if isinstance(n, dict)]
    if not names:
        return ""
    name = next((n for n in names if n.get("use") == "official"), names[0])
    if isinstance(name.get("text"), str) and name["text"].strip():
        return str(name["text"]).strip()
    given = [g for g in name.get("given") or () if isinstance(g, str)]
    family = name.get("family")
    return " ".join([*given, family if isinstance(family, str) else ""]).strip()


def patient_row(patient: Resource) -> PatientRow:
    """A Patient resource as a listing row (no resource count)."""
    birth: Any = patient.get("birthDate")
    gender: Any = patient.get("gender")
    return PatientRow(
        id=str(patient.get("id", "")),
        name=_display_name(patient),
        birth_date=birth if isinstance(birth, str) else None,
        gender=gender if isinstance(gender, str) else None,
        deceased=bool(patient.get("deceasedBoolean")) or "deceasedDateTime" in patient,
        resource_count=None,
    )


async def find_patients(source: RecordSource, *, name: str, birth_date: str) -> list[PatientRow]:
    """The patients whose name matches every word of ``name`` and born on ``birth_date``.

    ``birth_date`` is ``YYYY-MM-DD``. Returns an empty list when nobody matches and
    several rows when the search is ambiguous (the caller decides; never a guess).
    Raises ``RecordToolError`` for an empty name or a malformed date, and the source's
    errors (e.g. ``UnsupportedSearch`` when a server cannot search by name/birthdate).
    """
    if not [w for w in _SPLIT.split(name.strip()) if w]:
        raise RecordToolError("find_patients needs a name (e.g. 'Frankie174 Jast432').")
    return await search_patients(source, name=name, birth_date=birth_date)


async def search_patients(
    source: RecordSource, *, name: str | None = None, birth_date: str | None = None
) -> list[PatientRow]:
    """Patients matching every word of ``name`` and/or born on ``birth_date`` (at least
    one must be given), checked again here as :func:`find_patients` does.

    Raises ``RecordToolError`` when neither is given or the date is malformed.
    """
    words = [w for w in _SPLIT.split((name or "").strip()) if w]
    if not words and not birth_date:
        raise RecordToolError("search_patients needs a name or a birth date.")
    params: dict[str, str | list[str]] = {}
    born: str | None = None
    if birth_date is not None:
        try:
            born = dt.date.fromisoformat(birth_date.strip()).isoformat()
        except ValueError:
            raise RecordToolError(
                f"birth_date must be a date YYYY-MM-DD, not {birth_date!r}."
            ) from None
        params["birthdate"] = born
    if words:
        params["name"] = words
    found = await source.search("Patient", params)
    wanted = [fold(w) for w in words]
    rows: dict[str, PatientRow] = {}
    for patient in found:
        if patient.get("resourceType") != "Patient":
            continue
        if born is not None and patient.get("birthDate") != born:
            continue
        parts = _parts(patient)
        if all(any(p.startswith(w) for p in parts) for w in wanted):
            rows.setdefault(str(patient.get("id")), patient_row(patient))
    return list(rows.values())

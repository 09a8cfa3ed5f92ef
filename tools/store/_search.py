"""FHIR search parameters translated to one SQL query over the index tables.

Supported (anything else raises :class:`~tools.errors.UnsupportedSearch`):

* ``patient`` / ``subject`` (and the type's own patient parameter, e.g. Coverage's
  ``beneficiary``): ``id``, ``Patient/id`` or an absolute URL; comma = OR;
* ``_id``: comma = OR; ``identifier``: ``system|value`` or ``value``; ``_tag``
  (``meta.tag``): ``system|code`` or ``code``;
* ``code``: ``system|code``, ``code``, ``|code`` (no system) or ``system|`` (any code of
  the system); comma = OR; matched against code, vaccineCode, medicationCodeableConcept
  and type. ``category`` likewise against category;
* ``status`` (also ``clinical-status``): status, else clinicalStatus, else lifecycleStatus;
* ``date``: the type's main date (see :mod:`tools.store._index`), ``_lastUpdated``:
  meta.lastUpdated; prefixes ``eq`` (default) ``ne`` ``gt`` ``lt`` ``ge`` ``le`` with
  FHIR's range semantics, partial dates allowed (``2020``, ``2020-05``); repeat the
  parameter to AND (``date=ge2020&date=lt2021``);
* ``_sort``: ``date``, ``-date``, ``_lastUpdated``, ``-_lastUpdated`` (comma-separated);
  without it, results come in import order;
* ``_count``: accepted (a positive integer) and ignored: ``search()`` returns every match
  on every source, so a page size has no meaning here;
* Patient only: ``name``, ``family``, ``given`` (FHIR string search: a value matches when
  some part of a name — family, given, prefix, suffix, text — starts with it, ignoring
  case and accents; ``:exact`` = equals, case- and accent-sensitive; comma = OR), checked
  on the stored resource after the SQL query (Patients are few), ``birthdate`` (a date,
  prefixes as for ``date``) and ``gender``.

Repeating any parameter ANDs the repeats.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

import sqlalchemy as sa

from tools.errors import UnsupportedSearch
from tools.fhir_version import PATIENT_SEARCH_PARAM
from tools.source import Resource, SearchParams, normalize_params
from tools.store._dates import date_range
from tools.store._models import CODE, IDENTIFIER, PATIENT, RESOURCE
from tools.store._validation import known_type

__all__ = ["StoreSearch", "build_query", "build_search", "patient_id_of"]

_DATE_PREFIXES: Final = ("eq", "ne", "gt", "lt", "ge", "le")
_UNSUPPORTED_PREFIXES: Final = ("sa", "eb", "ap")
_PATIENT_PARAMS: Final = frozenset({"patient", "subject"})
_SORTS: Final = {"date": "date_start", "_lastUpdated": "last_updated"}
_SUPPORTED: Final = (
    "patient, subject, _id, identifier, _tag, code, category, status, date, _lastUpdated, "
    "_sort, "
    "_count; for Patient also name, family, given (:exact), birthdate, gender"
)
_NAME_PARAMS: Final = ("name", "family", "given")


def _unsupported(resource_type: str, detail: str) -> UnsupportedSearch:
    return UnsupportedSearch(
        f"Cannot search {resource_type} in the record store: {detail}. "
        f"Supported parameters: {_SUPPORTED}."
    )


def patient_id_of(value: str) -> str:
    """``x``, ``Patient/x`` or ``http://.../Patient/x`` -> ``x``."""
    if "/" not in value:
        return value
    parts = value.rstrip("/").split("/")
    for i in range(len(parts) - 1):
        if parts[i] == "Patient":
            return parts[i + 1]
    return parts[-1]


def _values(resource_type: str, name: str, value: str) -> list[str]:
    values = [v.strip() for v in value.split(",")]
    if not value.strip() or any(not v for v in values):
        raise _unsupported(resource_type, f"`{name}` has an empty value")
    return values


def _token_condition(table: sa.Table, values: list[str]) -> sa.ColumnElement[bool]:
    """OR of ``system|code`` / ``code`` / ``|code`` / ``system|`` tokens."""
    clauses: list[sa.ColumnElement[bool]] = []
    value_col = table.c.code if "code" in table.c else table.c.value
    for token in values:
        if "|" in token:
            system, _, code = token.partition("|")
            if code:
                clauses.append(sa.and_(table.c.system == system, value_col == code))
            else:
                clauses.append(table.c.system == system)
        else:
            clauses.append(value_col == token)
    return sa.or_(*clauses)


def _date_condition(
    resource_type: str, name: str, value: str, lo: Any, hi: Any
) -> sa.ColumnElement[bool]:
    prefix = "eq"
    if len(value) > 2 and value[:2].isalpha():
        prefix, value = value[:2], value[2:]
        if prefix in _UNSUPPORTED_PREFIXES:
            raise _unsupported(resource_type, f"the `{prefix}` prefix of `{name}` is not supported")
        if prefix not in _DATE_PREFIXES:
            raise _unsupported(resource_type, f"`{prefix}` is not a FHIR date prefix")
    try:
        start, end = date_range(value)
    except ValueError as exc:
        raise _unsupported(resource_type, f"`{name}`: {exc}") from None
    inside = sa.and_(lo >= start, hi <= end)
    conditions: dict[str, sa.ColumnElement[bool]] = {
        "eq": inside,
        "ne": sa.or_(lo < start, hi > end),
        "gt": hi > end,
        "ge": sa.or_(hi > end, inside),
        "lt": lo < start,
        "le": sa.or_(lo < start, inside),
    }
    return conditions[prefix]


def _fold(text: str) -> str:
    """Case- and accent-insensitive form of a string (FHIR string search)."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def _name_parts(patient: Resource, param: str) -> list[str]:
    parts: list[str] = []
    for name in patient.get("name") or ():
        if not isinstance(name, dict):
            continue
        keys = {"family": ("family",), "given": ("given",)}.get(
            param, ("family", "given", "prefix", "suffix", "text")
        )
        for key in keys:
            value = name.get(key)
            for v in value if isinstance(value, list) else [value]:
                if isinstance(v, str) and v.strip():
                    parts.append(v.strip())
                    if key == "text":  # "Anna Maria Smith": every word is a part too
                        parts.extend(v.split())
    return parts


def _name_filter(param: str, exact: bool, values: list[str]) -> Callable[[Resource], bool]:
    if exact:
        return lambda r: any(v in _name_parts(r, param) for v in values)
    folded = [_fold(v) for v in values]
    return lambda r: any(
        _fold(part).startswith(v) for part in _name_parts(r, param) for v in folded
    )


def _gender_filter(wanted: set[str]) -> Callable[[Resource], bool]:
    return lambda r: r.get("gender") in wanted


@dataclass
class StoreSearch:
    """A search as one SQL query plus checks on the stored resources it returns."""

    query: sa.Select[Any]
    filters: list[Callable[[Resource], bool]] = field(default_factory=list)

    def matches(self, resource: Resource) -> bool:
        return all(f(resource) for f in self.filters)


def build_query(resource_type: str, params: SearchParams | None) -> sa.Select[Any]:
    """The SELECT of ``(body, version_id, last_updated)`` rows matching a search that needs
    no checks after SQL (all but Patient name searches; those raise UnsupportedSearch here:
    use :func:`build_search`)."""
    search = build_search(resource_type, params)
    if search.filters:
        raise _unsupported(resource_type, "name searches need build_search()")
    return search.query


def build_search(resource_type: str, params: SearchParams | None) -> StoreSearch:
    """The SELECT of ``(body, version_id, last_updated)`` rows matching a search, and the
    checks the returned resources must also pass (Patient name parameters).

    Raises ``UnsupportedSearch`` for an unknown type, parameter, modifier or value.
    """
    if not known_type(resource_type):
        raise UnsupportedSearch(f"`{resource_type}` is not a FHIR R4 resource type.")
    r = RESOURCE
    query = sa.select(r.c.body, r.c.version_id, r.c.last_updated).where(
        r.c.resource_type == resource_type
    )
    patient_params = _PATIENT_PARAMS | {PATIENT_SEARCH_PARAM.get(resource_type, "patient")}
    order: list[sa.ColumnElement[Any]] = []
    filters: list[Callable[[Resource], bool]] = []
    is_patient = resource_type == "Patient"
    for raw_name, value in normalize_params(params):
        name, _, modifier = raw_name.partition(":")
        allowed = (name in patient_params and modifier == "Patient") or (
            is_patient and name in _NAME_PARAMS and modifier == "exact"
        )
        if modifier and not allowed:
            raise _unsupported(resource_type, f"the modifier `:{modifier}` of `{name}`")
        if is_patient and name in _NAME_PARAMS:
            filters.append(
                _name_filter(name, modifier == "exact", _values(resource_type, name, value))
            )
        elif is_patient and name == "birthdate":
            query = query.where(
                r.c.date_start.is_not(None),
                _date_condition(resource_type, name, value, r.c.date_start, r.c.date_end),
            )
        elif is_patient and name == "gender":
            filters.append(_gender_filter(set(_values(resource_type, name, value))))
        elif name in patient_params and name != "_id":
            ids = [patient_id_of(v) for v in _values(resource_type, name, value)]
            query = query.where(
                r.c.ref.in_(sa.select(PATIENT.c.ref).where(PATIENT.c.patient_id.in_(ids)))
            )
        elif name == "_id":
            query = query.where(r.c.resource_id.in_(_values(resource_type, name, value)))
        elif name in ("code", "category", "_tag"):
            tokens = _values(resource_type, name, value)
            kind = "tag" if name == "_tag" else name
            sub = sa.select(CODE.c.ref).where(CODE.c.kind == kind, _token_condition(CODE, tokens))
            query = query.where(r.c.ref.in_(sub))
        elif name == "identifier":
            tokens = _values(resource_type, name, value)
            sub = sa.select(IDENTIFIER.c.ref).where(
                IDENTIFIER.c.resource_type == resource_type, _token_condition(IDENTIFIER, tokens)
            )
            query = query.where(r.c.ref.in_(sub))
        elif name in ("status", "clinical-status"):
            query = query.where(r.c.status.in_(_values(resource_type, name, value)))
        elif name == "date":
            query = query.where(
                r.c.date_start.is_not(None),
                _date_condition(resource_type, name, value, r.c.date_start, r.c.date_end),
            )
        elif name == "_lastUpdated":
            col = r.c.last_updated
            query = query.where(_date_condition(resource_type, name, value, col, col))
        elif name == "_sort":
            for key in _values(resource_type, name, value):
                column = r.c[_SORTS[key.lstrip("-")]] if key.lstrip("-") in _SORTS else None
                if column is None:
                    raise _unsupported(
                        resource_type, f"`_sort={key}` (sort by date or _lastUpdated)"
                    )
                order.append(column.desc().nulls_last() if key[0] == "-" else column.nulls_last())
        elif name == "_count":
            if not value.isdigit() or int(value) < 1:
                raise _unsupported(resource_type, f"`_count={value}` is not a positive integer")
        else:
            raise _unsupported(resource_type, f"the parameter `{raw_name}`")
    return StoreSearch(query.order_by(*order, r.c.pk), filters)

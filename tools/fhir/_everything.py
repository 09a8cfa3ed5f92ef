"""A patient's complete record from a FHIR server, and nothing of anybody else's.

Two strategies, both complete:

* ``everything``: ``GET Patient/{id}/$everything`` (following its paging), then the
  compartment types the server's CapabilityStatement does not tie to a patient (so its
  $everything cannot know about them) are filled in by per-type searches.
* ``per-type``: one search per compartment type (:data:`PATIENT_SEARCH_PARAM`), run
  concurrently (bounded by ``limits.max_concurrency``).

A per-type search sends ``Prefer: handling=strict`` and tries the patient parameters the
server declares, in order (``patient=id``, then e.g. ``subject=Patient/id``); when the
server rejects every one, the whole type is fetched and filtered. Whatever the path,
every resource is filtered client-side with :func:`patient_ids_of`: resources of other
patients and resources outside the compartment (Practitioner, Organization, ...) are
dropped and counted.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Iterable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from tools.errors import FhirHttpError, FhirProtocolError, PatientNotFound, UnsupportedSearch
from tools.fhir._capabilities import Capabilities
from tools.fhir._http import FhirHttp
from tools.fhir_version import PATIENT_REFERENCE_PATHS, PATIENT_SEARCH_PARAM, patient_ids_of
from tools.source import Resource

__all__ = [
    "COMPARTMENT_TYPES",
    "EverythingResult",
    "Strategy",
    "fetch_changed",
    "fetch_everything",
    "gather_all",
    "patient_search_plan",
    "read_patient",
]

log = logging.getLogger("tools.fhir")

T = TypeVar("T")
Strategy = Literal["auto", "everything", "per-type"]

COMPARTMENT_TYPES: tuple[str, ...] = tuple(t for t in PATIENT_SEARCH_PARAM if t != "Patient")
_DEFAULT_PATHS = ("subject", "patient")


@dataclass(frozen=True, slots=True)
class EverythingResult:
    """The outcome of :meth:`FhirClient.fetch_everything`.

    Attributes:
        patient_id: the patient asked for.
        resources: the Patient first, then every resource of its compartment.
        strategy: the path taken (``everything`` or ``per-type``).
        gap_types: types searched after ``$everything`` because the server cannot tie
            them to a patient (empty for ``per-type``).
        scanned_types: types fetched whole and filtered, for want of a patient parameter.
        skipped_types: types the server does not list and cannot search at all.
        dropped_foreign: resources of other patients the server returned (dropped).
        dropped_unrelated: resources outside the patient compartment (dropped).
    """

    patient_id: str
    resources: list[Resource]
    strategy: Literal["everything", "per-type"]
    gap_types: tuple[str, ...] = ()
    scanned_types: tuple[str, ...] = ()
    skipped_types: tuple[str, ...] = ()
    dropped_foreign: int = 0
    dropped_unrelated: int = 0


async def gather_all(coros: Iterable[Coroutine[Any, Any, T]]) -> list[T]:
    """Run coroutines concurrently; on the first failure cancel the rest and re-raise it."""
    tasks = [asyncio.ensure_future(c) for c in coros]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


def _candidate_params(resource_type: str) -> list[str]:
    primary = PATIENT_SEARCH_PARAM[resource_type]
    names = [primary, *PATIENT_REFERENCE_PATHS.get(resource_type, _DEFAULT_PATHS)]
    return list(dict.fromkeys(names))


def _param_value(name: str, patient_id: str) -> str:
    return patient_id if name == "patient" else f"Patient/{patient_id}"


def patient_search_plan(resource_type: str, caps: Capabilities) -> list[str]:
    """The patient search parameters to try for a type, in order; empty means "fetch all".

    Only declared parameters are tried when the server declares any for the type; a type
    the server does not list goes straight to fetch-and-filter (its parameters are unknown).
    """
    names = _candidate_params(resource_type)
    declared = caps.declared_params(resource_type)
    if declared is not None:
        return [n for n in names if n in declared]
    if caps.lists_type(resource_type) is False and caps.declares_search_params:
        return []
    return names


def _covered_by_everything(resource_type: str, caps: Capabilities) -> bool:
    declared = caps.declared_params(resource_type)
    return declared is not None and any(n in declared for n in _candidate_params(resource_type))


How = Literal["searched", "scanned", "skipped"]


async def _type_for_patient(
    http: FhirHttp,
    caps: Capabilities,
    resource_type: str,
    patient_id: str,
    extra: tuple[tuple[str, str], ...] = (),
) -> tuple[list[Resource], How]:
    """The resources of one type for a patient (still unfiltered), and how they were found.

    A type the server does not list and cannot search at all (UnsupportedSearch: 400,
    404, 405, 422) is skipped; any other failure (403 included) propagates, since the
    record would be incomplete.
    """
    for name in patient_search_plan(resource_type, caps):
        try:
            found = await http.search(
                resource_type, [(name, _param_value(name, patient_id)), *extra]
            )
        except UnsupportedSearch as exc:
            log.debug("%s: %s", resource_type, exc)
            continue
        return found, "searched"
    log.info(
        "%s: no patient search parameter works on %s; fetching every %s and filtering client-side",
        resource_type,
        http.base_url,
        resource_type,
    )
    try:
        return await http.search(resource_type, list(extra)), "scanned"
    except UnsupportedSearch as exc:
        if caps.lists_type(resource_type):
            raise
        log.info("%s is not searchable on %s (%s); skipped", resource_type, http.base_url, exc)
        return [], "skipped"


async def read_patient(http: FhirHttp, patient_id: str) -> Resource:
    """``GET Patient/{id}``; PatientNotFound on 404/410."""
    url = f"{http.base_url}/Patient/{patient_id}"
    try:
        patient, _ = await http.get_json(url)
    except FhirHttpError as exc:
        if exc.status in (404, 410):
            raise PatientNotFound(patient_id, http.base_url) from exc
        raise
    if patient.get("resourceType") != "Patient":
        raise FhirProtocolError(
            f"GET {url} returned a {patient.get('resourceType')}, not a Patient. "
            "The server does not answer FHIR reads at this address."
        )
    return patient


@dataclass
class _Found:
    resources: list[Resource]
    scanned: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()


async def _types_for_patient(
    http: FhirHttp,
    caps: Capabilities,
    types: Iterable[str],
    patient_id: str,
    extra: tuple[tuple[str, str], ...] = (),
) -> _Found:
    types = list(types)
    results = await gather_all(_type_for_patient(http, caps, t, patient_id, extra) for t in types)
    return _Found(
        [r for found, _ in results for r in found],
        tuple(t for t, (_, how) in zip(types, results, strict=True) if how == "scanned"),
        tuple(t for t, (_, how) in zip(types, results, strict=True) if how == "skipped"),
    )


async def _via_everything(
    http: FhirHttp, caps: Capabilities, patient_id: str
) -> EverythingResult | None:
    """$everything plus gap-filling (run side by side); None when the server turns the
    operation down."""
    what = f"Patient/{patient_id}/$everything"
    gaps = tuple(t for t in COMPARTMENT_TYPES if not _covered_by_everything(t, caps))
    operation = asyncio.ensure_future(
        http.pages(
            f"{http.base_url}/{what}",
            [("_count", str(http.limits.page_size))],
            strict=False,
            what=what,
        )
    )
    filling = asyncio.ensure_future(_types_for_patient(http, caps, gaps, patient_id))
    try:
        found = await operation
    except BaseException as exc:
        filling.cancel()
        await asyncio.gather(filling, return_exceptions=True)
        if not isinstance(exc, FhirHttpError):
            raise
        if exc.status == 404:
            await read_patient(http, patient_id)  # PatientNotFound, or the operation is missing
        elif exc.status == 410:
            raise PatientNotFound(patient_id, http.base_url) from exc
        elif exc.status not in (400, 405, 422, 501):
            raise
        log.warning("%s failed on %s (%s); using per-type searches", what, http.base_url, exc)
        return None
    filled = await filling
    resources = found + filled.resources
    if not any(r.get("resourceType") == "Patient" and r.get("id") == patient_id for r in resources):
        resources.insert(0, await read_patient(http, patient_id))
    return _scoped(patient_id, resources, "everything", gaps, filled)


async def _via_per_type(http: FhirHttp, caps: Capabilities, patient_id: str) -> EverythingResult:
    patient, found = await asyncio.gather(
        read_patient(http, patient_id),
        _types_for_patient(http, caps, COMPARTMENT_TYPES, patient_id),
    )
    return _scoped(patient_id, [patient, *found.resources], "per-type", (), found)


def _scoped(
    patient_id: str,
    resources: list[Resource],
    strategy: Literal["everything", "per-type"],
    gaps: tuple[str, ...],
    found: _Found,
) -> EverythingResult:
    """Deduplicate, put the Patient first, and drop everything not of this patient."""
    kept: list[Resource] = []
    seen: set[tuple[str, str]] = set()
    foreign = unrelated = 0
    for resource in resources:
        key = (str(resource.get("resourceType")), str(resource.get("id")))
        if key in seen:
            continue
        seen.add(key)
        owners = patient_ids_of(resource)
        if patient_id in owners:
            kept.append(resource)
        elif owners:
            foreign += 1
        else:
            unrelated += 1
    if foreign:
        log.debug("everything(%s): dropped %d resource(s) of other patients", patient_id, foreign)
    if unrelated:
        log.debug(
            "everything(%s): dropped %d resource(s) outside the compartment", patient_id, unrelated
        )
    kept.sort(key=lambda r: r.get("resourceType") != "Patient")  # stable: Patient first
    return EverythingResult(
        patient_id, kept, strategy, gaps, found.scanned, found.skipped, foreign, unrelated
    )


async def fetch_changed(
    http: FhirHttp, caps: Capabilities, patient_id: str, since: str
) -> EverythingResult:
    """The patient's compartment resources updated after ``since`` (a FHIR instant).

    One search per compartment type with ``_lastUpdated=gt{since}``, through the same
    patient-parameter plan and client-side scoping as a full retrieval (so servers that
    reject ``patient=`` on some types still work). The Patient is included only if it
    changed. A server that cannot filter by ``_lastUpdated`` raises ``UnsupportedSearch``
    (the caller then fetches everything).
    """
    extra = (("_lastUpdated", f"gt{since}"),)
    patient_changed = http.search("Patient", [("_id", patient_id), *extra])
    patients, found = await asyncio.gather(
        patient_changed, _types_for_patient(http, caps, COMPARTMENT_TYPES, patient_id, extra)
    )
    return _scoped(patient_id, [*patients, *found.resources], "per-type", (), found)


async def fetch_everything(
    http: FhirHttp,
    caps: Capabilities,
    patient_id: str,
    *,
    strategy: Strategy = "auto",
    prefer_everything: bool = True,
) -> EverythingResult:
    """The patient's complete record (see the module docstring for the strategies)."""
    use_operation = strategy == "everything" or (
        strategy == "auto" and prefer_everything and caps.has_patient_everything
    )
    if use_operation:
        result = await _via_everything(http, caps, patient_id)
        if result is not None:
            return result
    return await _via_per_type(http, caps, patient_id)

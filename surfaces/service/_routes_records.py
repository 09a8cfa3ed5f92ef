"""Record endpoints (no model): patient search, summary, trends (JSON and PNG), extractive brief."""

from __future__ import annotations

import asyncio
import datetime as dt
import tempfile
import threading
from pathlib import Path as FsPath
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response

from tools.brief import build_brief
from tools.errors import RecordToolError
from tools.lookup import search_patients
from tools.source import PatientRow
from tools.summary import DEFAULT_BUDGET, summarize
from tools.trends import Trend, lab_trends, trend

from ._context import RECORD, RequestContext, access
from ._errors import error_responses
from ._schemas import (
    ExtractiveBrief,
    PatientId,
    PatientList,
    PatientOut,
    SummaryOut,
    TrendList,
    TrendOut,
)

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["records"])

_READ_ERRORS = error_responses(401, 403, 404, 422, 500, 502, 503, 504)
_TRENDS = ("Patient", "Observation")
Measure = Annotated[
    str,
    Path(
        min_length=1,
        max_length=100,
        description='a name ("HbA1c", "eGFR", "blood pressure") or LOINC code(s)',
        examples=["4548-4"],
    ),
]
_PLOT_LOCK = threading.Lock()  # matplotlib's pyplot is not thread-safe


def _out(row: PatientRow) -> PatientOut:
    return PatientOut(**row.as_dict())


@router.get(
    "/patients",
    summary="Search patients by name and/or birth date (none: list them)",
    response_model=PatientList,
    responses=error_responses(401, 403, 422, 500, 502, 503, 504),
)
async def search(
    rq: Annotated[
        RequestContext,
        Depends(
            access(
                "patients.search",
                ("Patient",),
                interaction="search-type",
                needed="s",
                patient_param=None,
            )
        ),
    ],
    name: Annotated[
        str | None,
        Query(max_length=200, description="every word must start a part of the name"),
    ] = None,
    birthdate: Annotated[dt.date | None, Query(description="YYYY-MM-DD")] = None,
    count: Annotated[int, Query(alias="_count", ge=1, le=1000, description="at most")] = 50,
) -> PatientList:
    words = (name or "").strip()
    rq.entry.query = (
        "&".join(f"{k}={v}" for k, v in (("name", words), ("birthdate", birthdate)) if v) or None
    )
    if words or birthdate:
        rows = await search_patients(
            rq.source,
            name=words or None,
            birth_date=birthdate.isoformat() if birthdate else None,
        )
    else:
        rows = await rq.source.patients()
    principal = rq.principal
    if principal is not None and principal.patient is not None:
        rows = [r for r in rows if r.id == principal.patient]
    rows = rows[:count]
    rq.entry.patients_found = [r.id for r in rows]
    return await rq.done(PatientList(patients=[_out(r) for r in rows], count=len(rows)))


@router.get(
    "/patients/{patient_id}/summary",
    summary="The record summary within a token budget (cited)",
    response_model=SummaryOut,
    responses=_READ_ERRORS,
)
async def summary(
    patient_id: PatientId,
    rq: Annotated[RequestContext, Depends(access("patient.summary", RECORD))],
    budget: Annotated[int, Query(ge=100, le=100_000, description="token budget")] = DEFAULT_BUDGET,
) -> SummaryOut:
    record = await rq.source.everything(patient_id)
    result = await asyncio.to_thread(summarize, record, budget=budget)
    body = SummaryOut(patient=patient_id, **result.as_dict())
    return await rq.done(body, cited=result.citations)


def _trend_out(t: Trend) -> TrendOut:
    return TrendOut.model_validate(t.as_dict())


@router.get(
    "/patients/{patient_id}/trends",
    summary="Every lab and vital series of the record, by clinical priority",
    response_model=TrendList,
    responses=_READ_ERRORS,
)
async def trends(
    patient_id: PatientId,
    rq: Annotated[RequestContext, Depends(access("patient.trends", _TRENDS))],
) -> TrendList:
    record = await rq.source.everything(patient_id)
    found = await asyncio.to_thread(lab_trends, record)
    refs = [r for t in found for r in t.references]
    return await rq.done(
        TrendList(patient=patient_id, trends=[_trend_out(t) for t in found]), cited=refs
    )


async def _trend(
    rq: RequestContext, patient_id: str, measure: str, unit: str | None
) -> list[Trend]:
    record = await rq.source.everything(patient_id)
    return await asyncio.to_thread(trend, record, measure, unit=unit)


@router.get(
    "/patients/{patient_id}/trends/{measure}",
    summary="One lab or vital (name such as HbA1c, eGFR, blood pressure; or LOINC code)",
    response_model=TrendList,
    responses=_READ_ERRORS,
)
async def one_trend(
    patient_id: PatientId,
    measure: Measure,
    rq: Annotated[RequestContext, Depends(access("patient.trend", _TRENDS))],
    unit: Annotated[
        str | None, Query(max_length=40, description="convert to this UCUM unit")
    ] = None,
) -> TrendList:
    found = await _trend(rq, patient_id, measure, unit)
    refs = [r for t in found for r in t.references]
    return await rq.done(
        TrendList(patient=patient_id, query=measure, trends=[_trend_out(t) for t in found]),
        cited=refs,
    )


def _png(found: list[Trend]) -> bytes:
    from tools.plots import plot_trends

    with _PLOT_LOCK, tempfile.TemporaryDirectory(prefix="fa-plot-") as tmp:
        path = plot_trends(found, FsPath(tmp) / "trend.png")
        return path.read_bytes()


@router.get(
    "/patients/{patient_id}/trends/{measure}/plot",
    summary="The trend as a PNG plot (reference band, numbered points)",
    response_class=Response,
    responses={
        200: {
            "content": {"image/png": {"schema": {"type": "string", "format": "binary"}}},
            "description": "PNG; point numbers map to the Observations in the JSON trend",
        },
        **_READ_ERRORS,
    },
)
async def plot(
    patient_id: PatientId,
    measure: Measure,
    rq: Annotated[RequestContext, Depends(access("patient.trend.plot", _TRENDS))],
    unit: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    found = await _trend(rq, patient_id, measure, unit)
    if not any(t.points for t in found):
        raise RecordToolError(
            f"Nothing to plot: Patient/{patient_id} has no dated values for {measure!r}."
        )
    png = await asyncio.to_thread(_png, found)
    refs = [r for t in found for r in t.references]
    await rq.done(None, cited=refs)
    return Response(png, media_type="image/png")


@router.get(
    "/patients/{patient_id}/brief/extractive",
    summary="The extractive pre-visit brief (no model; every line cited)",
    response_model=ExtractiveBrief,
    responses=_READ_ERRORS,
)
async def extractive_brief(
    patient_id: PatientId,
    rq: Annotated[RequestContext, Depends(access("patient.brief.extractive", RECORD))],
) -> ExtractiveBrief:
    record = await rq.source.everything(patient_id)
    brief = await asyncio.to_thread(build_brief, record)
    body = ExtractiveBrief(
        patient=patient_id,
        markdown=brief.markdown,
        citations=brief.citations,
        sections=brief.sections,
    )
    return await rq.done(body, cited=brief.citations)

"""CLI commands for the record tools: ``summarize``, ``trend``, ``brief`` (no model).

Wiring (for ``surfaces/cli.py``)::

    from surfaces import _record_commands
    _record_commands.register(app)

Each command is a thin wrapper over a pure async function that takes a
:class:`tools.source.RecordSource` and returns the text to print, so other surfaces
(HTTP API, tests) call the same code::

    await run_summarize(source, patient_id, budget=2000, as_json=False) -> str
    await run_trend(source, patient_id, query, as_json=False, plot=None) -> str
    await run_brief(source, patient_id, as_json=False) -> str

The commands take ``--source`` (a FHIR server URL or a store location) and honour the
root ``--store`` option, through :mod:`surfaces._sources` (same precedence as the
other commands). Errors of the assistant's tree print on stderr and exit with 1.

JSON outputs: ``summarize`` → ``text``, ``citations`` (``Type/id``), ``handles``,
``tokens``, ``budget``, ``token_counter``, ``token_count_exact``, ``omitted`` (lines
left out per block: ``problems``, ``medications``, …, ``social``, ``past_problems``);
``trend`` → the trend object (``code``, ``display``, ``unit``, ``points`` each with
``date``, ``value``, ``ref``…, ``n``, ``latest``, ``slope_per_year``, ``direction``,
…) and, for blood pressure, the same keys for systolic plus ``series`` with both;
``brief`` → ``text`` (Markdown), ``citations``, ``sections`` (title → lines with their
citations, in order: Patient, Problems, Medications, Allergies, Key labs and trends,
Recent encounters, Recent procedures, Immunizations, Open items, Past problems, Social
history).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from tools.brief import build_brief
from tools.errors import AssistantError
from tools.source import RecordSource
from tools.summary import DEFAULT_BUDGET, summarize
from tools.trends import trend

__all__ = ["register", "run_brief", "run_summarize", "run_trend"]


def _json(data: Any) -> str:
    return orjson.dumps(data, option=orjson.OPT_INDENT_2).decode()


async def run_summarize(
    source: RecordSource,
    patient_id: str,
    budget: int = DEFAULT_BUDGET,
    as_json: bool = False,
    *,
    as_of: dt.date | None = None,
) -> str:
    """The budgeted summary of a patient's record (text, or JSON with citations)."""
    record = await source.everything(patient_id)
    result = summarize(record, budget=budget, as_of=as_of)
    if as_json:
        return _json({"patient": patient_id, **result.as_dict()})
    note = "" if result.exact else " (approximate count: tokenizer not installed)"
    return f"{result.text}\n\n[{result.tokens} of {budget} tokens, {result.counter}{note}]"


async def run_trend(
    source: RecordSource,
    patient_id: str,
    query: str,
    as_json: bool = False,
    plot: Path | None = None,
    *,
    unit: str | None = None,
    as_of: dt.date | None = None,
) -> str:
    """The trend of a lab or vital (text, or JSON); optionally a PNG plot + JSON side-car."""
    record = await source.everything(patient_id)
    trends = trend(record, query, unit=unit, as_of=as_of)
    note = ""
    written: Path | None = None
    if plot is not None:
        from tools.plots import plot_trends

        if any(t.points for t in trends):
            written = plot_trends(trends, plot)
            note = f"plot: {written} (points listed in {written.with_suffix('.json')})"
        else:
            note = "plot: not written (no dated values)"
    if as_json:
        data: dict[str, Any] = {"patient": patient_id, "query": query, **trends[0].as_dict()}
        if len(trends) > 1:
            data["series"] = [t.as_dict() for t in trends]
        if plot is not None:
            data["plot"] = str(written) if written else None
        return _json(data)
    lines = []
    for t in trends:
        if not t.points:
            lines.append(
                f"{t.display}: no values in the record"
                + (f" ({len(t.undated)} undated)" if t.undated else "")
            )
            continue
        lines.append(t.summary_line())
        lines.append(f"  reference range: {t.ref_text or 'none'} ({t.ref_source or 'n/a'})")
        if t.days_since_last is not None:
            lines.append(
                f"  last tested {t.days_since_last} days ago; flags: {', '.join(t.flags) or 'none'}"
            )
        for p in t.points:
            flag = f" {p.flag}" if p.flag else ""
            lines.append(f"  {p.date}  {p.value:g} {p.unit}{flag}  [{p.ref}]")
        if t.undated:
            lines.append(f"  undated (not in the series): {', '.join(t.undated)}")
    if note:
        lines.append(note)
    return "\n".join(lines)


async def run_brief(
    source: RecordSource, patient_id: str, as_json: bool = False, *, as_of: dt.date | None = None
) -> str:
    """The extractive pre-visit brief (Markdown, or JSON with citations)."""
    record = await source.everything(patient_id)
    brief = build_brief(record, as_of=as_of)
    if as_json:
        return _json({"patient": patient_id, **brief.as_dict()})
    return brief.markdown


# --------------------------------------------------------------------------- typer glue

SourceOpt = Annotated[
    str | None,
    typer.Option("--source", help="A FHIR server URL or store location (default: the store)."),
]
PatientOpt = Annotated[str, typer.Option("--patient", help="Patient id.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def _execute(
    ctx: typer.Context, source: str | None, job: Callable[[RecordSource], Awaitable[str]]
) -> None:
    from surfaces._sources import open_source, source_config, store_of

    store = store_of(ctx)

    async def go() -> str:
        src = open_source(source_config(source, store))
        try:
            return await job(src)
        finally:
            await src.aclose()

    try:
        text = asyncio.run(go())
    except AssistantError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(text)


def register(app: typer.Typer) -> None:
    """Add the ``summarize``, ``trend`` and ``brief`` commands to ``app``."""

    @app.command("summarize")
    def summarize_cmd(
        ctx: typer.Context,
        patient: PatientOpt,
        budget: Annotated[
            int, typer.Option("--budget", min=100, help="Token budget (Gemma 3 tokens).")
        ] = DEFAULT_BUDGET,
        as_json: JsonOpt = False,
        source: SourceOpt = None,
    ) -> None:
        """Summarize a patient's record within a token budget, with citations."""
        _execute(ctx, source, lambda src: run_summarize(src, patient, budget, as_json))

    @app.command("trend")
    def trend_cmd(
        ctx: typer.Context,
        name_or_code: Annotated[
            str, typer.Argument(help="A name (HbA1c, eGFR, blood pressure…) or LOINC code(s).")
        ],
        patient: PatientOpt,
        as_json: JsonOpt = False,
        plot: Annotated[
            Path | None, typer.Option("--plot", help="Write a PNG plot (and a JSON side-car).")
        ] = None,
        unit: Annotated[
            str | None, typer.Option("--unit", help="Convert values to this UCUM unit.")
        ] = None,
        source: SourceOpt = None,
    ) -> None:
        """Show a lab or vital's time series: values, range, slope, direction, flags."""
        _execute(
            ctx, source, lambda src: run_trend(src, patient, name_or_code, as_json, plot, unit=unit)
        )

    @app.command("brief")
    def brief_cmd(
        ctx: typer.Context,
        patient: PatientOpt,
        extractive: Annotated[
            bool,
            typer.Option(
                "--extractive", help="The extractive brief: no model, every line from the record."
            ),
        ] = False,
        config: Annotated[
            Path | None,
            typer.Option(
                "--config",
                help="Deployment file for the model-written brief (default: configs/cpu-demo.toml).",
            ),
        ] = None,
        as_json: JsonOpt = False,
        source: SourceOpt = None,
        draft: Annotated[
            bool,
            typer.Option(
                "--draft",
                help="Keep it as a draft for review (prints its draft_id); `approve` writes it "
                "to the record.",
            ),
        ] = False,
    ) -> None:
        """Write a pre-visit brief in Markdown; every sentence cites its FHIR resources.

        By default a model writes it and the verifier checks every sentence; with
        ``--extractive`` it is assembled from the record without a model. With ``--draft``
        it is stored as a draft that a person approves (``approve``) or rejects.
        """
        if draft:
            from surfaces._draft_commands import run_brief_draft

            run_brief_draft(
                ctx, patient, extractive=extractive, config=config, source=source, as_json=as_json
            )
            return
        if extractive:
            _execute(ctx, source, lambda src: run_brief(src, patient, as_json))
            return
        from agent.config import load_deployment
        from surfaces._agent_commands import DEFAULT_CONFIG, run_model_brief

        try:
            deployment = load_deployment(config or DEFAULT_CONFIG)
        except AssistantError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
        _execute(ctx, source, lambda src: run_model_brief(src, patient, deployment, as_json))

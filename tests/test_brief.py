"""Extractive pre-visit brief, and the CLI commands over a RecordSource."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from tests._record_fixtures import (
    PID,
    MemorySource,
    bp,
    bundle_files,
    condition,
    find_bundle,
    load_record,
    med,
    obs,
    patient,
)
from tools.brief import build_brief

AS_OF = dt.date(2026, 1, 1)
shared = pytest.mark.shared_data
needs_data = pytest.mark.skipif(not bundle_files(), reason="../shared/synthea is absent")
CITE = re.compile(r"\[([A-Za-z]+/[A-Za-z0-9\-.]+)\]")


def _record() -> list[dict[str, Any]]:
    return [
        patient(),
        condition("c1", "44054006", "Diabetes", "2010-01-01"),
        med("m1", "860975", "metformin 500 MG", "2015-01-01"),
        obs("a1", "4548-4", 6.0, "%", "2018-01-01"),
        obs("a2", "4548-4", 6.8, "%", "2019-01-01"),
        bp("b1", 150, 95, "2019-01-01"),
        {
            "resourceType": "CarePlan",
            "id": "cp1",
            "status": "active",
            "intent": "plan",
            "category": [{"text": "Diabetes self management plan"}],
            "subject": {"reference": f"Patient/{PID}"},
            "period": {"start": "2010-01-01"},
        },
    ]


def _bullets_cite(markdown: str) -> None:
    for line in markdown.splitlines():
        if line.startswith("- ") and not line.startswith(
            ("- none recorded", "- No allergies recorded")
        ):
            assert CITE.search(line), line


def test_brief_sections_and_citations() -> None:
    record = _record()
    brief = build_brief(record, as_of=AS_OF)
    md = brief.markdown
    for title in (
        "## Problems",
        "## Medications",
        "## Allergies",
        "## Key labs and trends",
        "## Open items",
    ):
        assert title in md
    assert "Diabetes, since 2010-01-01 [Condition/c1]" in md
    assert "metformin 500 MG" in md
    assert "[MedicationRequest/m1]" in md
    assert "HbA1c: 6.8 % on 2019-01-01 (H" in md
    assert "[Observation/a2]" in md
    assert "HbA1c overdue: last 2019-01-01" in md  # > 182 days before AS_OF
    assert "Diabetes self management plan" in md
    assert "[CarePlan/cp1]" in md
    _bullets_cite(md)
    own = {f"{r['resourceType']}/{r['id']}" for r in record}
    assert set(brief.citations) <= own
    assert set(CITE.findall(md)) == set(brief.citations)
    data = brief.as_dict()
    assert data["text"] == md
    assert data["citations"] == brief.citations


def test_deceased_patient_has_no_overdue_items() -> None:
    record = _record()
    record[0] = patient(deceasedDateTime="2019-06-01T00:00:00Z")
    md = build_brief(record, as_of=AS_OF).markdown
    assert "overdue" not in md
    assert "DECEASED 2019-06-01" in md


def test_empty_record_brief() -> None:
    md = build_brief([patient()], as_of=AS_OF).markdown
    assert "## Problems\n- none recorded" in md
    assert "No allergies recorded" in md


@shared
@needs_data
@pytest.mark.parametrize("name", ["Fletcher_Hyatt", "Josue_Sipes", "Jorge_Brekke", "Carroll471"])
def test_shared_brief(name: str) -> None:
    _pid, record = load_record(find_bundle(name))
    brief = build_brief(record, as_of=AS_OF)
    _bullets_cite(brief.markdown)
    own = {f"{r['resourceType']}/{r['id']}" for r in record}
    assert brief.citations
    assert set(brief.citations) <= own
    active = {
        r["code"]["coding"][0]["display"]
        for r in record
        if r["resourceType"] == "Condition" and r["clinicalStatus"]["coding"][0]["code"] == "active"
    }
    problems = brief.markdown.split("## Problems")[1].split("## Medications")[0]
    for display in active:
        assert display in problems
    allergies = {
        r["code"]["coding"][0]["display"]
        for r in record
        if r["resourceType"] == "AllergyIntolerance"
    }
    for display in allergies:
        assert display in brief.markdown


# --------------------------------------------------------------------------- CLI


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> tuple[typer.Typer, CliRunner]:
    from surfaces import _record_commands, _sources

    source = MemorySource({PID: _record()})
    monkeypatch.setattr(_sources, "open_source", lambda config: source)
    app = typer.Typer()

    @app.callback()
    def root(store: str | None = typer.Option(None, "--store")) -> None:
        pass

    _record_commands.register(app)
    return app, CliRunner()


def test_cli_summarize_json(cli: tuple[typer.Typer, CliRunner]) -> None:
    app, runner = cli
    result = runner.invoke(app, ["summarize", "--patient", PID, "--budget", "500", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["text"].startswith("Summary of Patient/p1")
    assert data["tokens"] <= 500
    assert "Condition/c1" in data["citations"]
    assert all("/" in c for c in data["citations"])
    text = runner.invoke(app, ["summarize", "--patient", PID])
    assert text.exit_code == 0
    assert "tokens" in text.stdout.splitlines()[-1]


def test_cli_trend_json_and_plot(cli: tuple[typer.Typer, CliRunner], tmp_path: Path) -> None:
    app, runner = cli
    result = runner.invoke(app, ["trend", "--patient", PID, "HbA1c", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    for key in ("code", "display", "unit", "points", "n", "latest", "slope_per_year", "direction"):
        assert key in data
    assert data["code"] == "4548-4"
    assert data["n"] == 2
    assert data["latest"]["value"] == 6.8
    assert [p["ref"] for p in data["points"]] == ["Observation/a1", "Observation/a2"]
    bp_result = runner.invoke(app, ["trend", "--patient", PID, "blood pressure", "--json"])
    bp_data = json.loads(bp_result.stdout)
    assert bp_data["code"] == "8480-6"
    assert [s["code"] for s in bp_data["series"]] == [
        "8480-6",
        "8462-4",
    ]
    if pytest.importorskip("matplotlib"):
        png = tmp_path / "a1c.png"
        plotted = runner.invoke(app, ["trend", "--patient", PID, "hba1c", "--plot", str(png)])
        assert plotted.exit_code == 0, plotted.output
        assert png.exists()
        assert png.with_suffix(".json").exists()
        assert "Observation/a2" in plotted.stdout


def test_cli_brief_and_errors(cli: tuple[typer.Typer, CliRunner]) -> None:
    app, runner = cli
    result = runner.invoke(app, ["brief", "--patient", PID, "--extractive", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["text"].startswith("# Pre-visit brief")
    assert "Condition/c1" in data["citations"]
    missing = runner.invoke(app, ["brief", "--patient", "nobody", "--extractive"])
    assert missing.exit_code == 1
    assert "Patient/nobody was not found" in missing.output
    unknown = runner.invoke(app, ["trend", "--patient", PID, "unobtainium"])
    assert unknown.exit_code == 1
    assert "Unknown lab or vital" in unknown.output

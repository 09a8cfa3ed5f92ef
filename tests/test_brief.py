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
    AS_OF,
    FIXTURES,
    PID,
    SOCIAL,
    MemorySource,
    bp,
    condition,
    find_bundle,
    load_record,
    med,
    needs_data,
    obs,
    patient,
    shared,
)
from tools.brief import build_brief, plain

CITE = re.compile(r"\[([A-Za-z]+/[A-Za-z0-9\-.]+)\]")
FIXTURE_DATE = dt.date(2025, 6, 1)  # the fixtures' reference date


def _section(markdown: str, title: str) -> str:
    """The body of one ``## title`` section of a brief."""
    return markdown.split(f"\n## {title}\n")[1].split("\n## ")[0].split("\n_Record:")[0]


def _bullets(markdown: str, title: str) -> list[str]:
    return [ln for ln in _section(markdown, title).splitlines() if ln.startswith("- ")]


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
        if line.startswith("- ") and not re.match(
            r"- (none recorded|No \w+ recorded|_\+\d+ more)", line
        ):
            assert CITE.search(line), line


def _first_screen(markdown: str) -> str:
    return markdown.split("<details>")[0]


def test_brief_sections_and_citations() -> None:
    record = _record()
    brief = build_brief(record, as_of=AS_OF)
    md = brief.markdown
    titles = re.findall(r"^## (.+)$", _first_screen(md), flags=re.M)
    assert titles == [
        "Patient",
        "Active problems",
        "Current medications",
        "Allergies",
        "Results to review",
        "Due or overdue",
        "Last visit",
    ]
    assert "- Diabetes — since 2010-01-01 [Condition/c1]" in md
    assert "metformin 500 MG" in md
    assert "[MedicationRequest/m1]" in md
    assert "HbA1c 6.8 % on 2019-01-01 — high (ref 4–5.6 % default); up from 6 on 2018-01-01" in md
    assert "[Observation/a2]" in md
    assert "HbA1c overdue — last 2019-01-01" in md  # > 182 days before AS_OF
    assert "(recommended every 6 months)" in md
    # the care due by her age (75) and sex, none on record: one line, citing her
    assert (
        "- Due by age and sex — colorectal cancer screening (none on record; USPSTF, ages "
        "45–75); pneumococcal vaccine (none on record; CDC, ages 65 and older); zoster "
        "vaccine (none on record; CDC, ages 50 and older) [Patient/p1]"
    ) in _section(md, "Due or overdue")
    assert "Care plan: Diabetes self management plan" in md
    assert "[CarePlan/cp1]" in md
    assert "<details>" in md  # the history is folded
    _bullets_cite(md)
    own = {f"{r['resourceType']}/{r['id']}" for r in record}
    assert set(brief.citations) <= own
    assert set(CITE.findall(md)) == set(brief.citations)
    data = brief.as_dict()
    assert data["text"] == md
    assert data["citations"] == brief.citations
    assert 0 < data["first_screen_words"] <= 350


def test_deceased_patient_has_no_overdue_items() -> None:
    record = _record()
    record[0] = patient(deceasedDateTime="2019-06-01T00:00:00Z")
    md = build_brief(record, as_of=AS_OF).markdown
    assert "overdue" not in md
    assert "Due by age" not in md
    assert "died 2019-06-01" in md
    assert "(DECEASED)" in md
    # the lists as the record left them at the death, never "current"
    titles = re.findall(r"^## (.+)$", md, flags=re.M)
    assert titles[1:3] == ["Active problems at death", "Medications at death"], titles
    assert "Current medications" not in md
    # a review of the record, not a brief for a visit; an order left open at the death is
    # said so, with no task to verify
    assert md.startswith("# Record review: Patient/p1 (died 2019-06-01)\n"), md[:80]
    assert "- metformin 500 MG — active in record, last ordered 2015, never stopped" in md
    assert "verify" not in md


def test_empty_record_brief() -> None:
    md = build_brief([patient()], as_of=AS_OF).markdown
    assert "## Active problems\n- No conditions recorded" in md
    assert "## Current medications\n- No medications recorded" in md
    assert "## Allergies\n- No allergies recorded" in md
    assert "## Results to review\n- none recorded" in md


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
    assert brief.first_screen_words <= 350
    active = {
        r["code"]["coding"][0]["display"]
        for r in record
        if r["resourceType"] == "Condition" and r["clinicalStatus"]["coding"][0]["code"] == "active"
    }
    # (of a patient who has died, the problems as the record left them then)
    title = "Active problems at death" if "(DECEASED)" in brief.markdown else "Active problems"
    problems = _section(brief.markdown, title) + _section_or(
        brief.markdown, f"More {title.lower()}"
    )
    social = _section_or(brief.markdown, "Social history")
    for display in active - SOCIAL:
        assert plain(display) in problems, display
    for display in active & SOCIAL:
        assert display in social
        assert plain(display) not in problems
    allergies = {
        r["code"]["coding"][0]["display"]
        for r in record
        if r["resourceType"] == "AllergyIntolerance"
    }
    for display in allergies:
        assert plain(display) in brief.markdown


def _section_or(markdown: str, title: str) -> str:
    return _section(markdown, title) if f"\n## {title}\n" in markdown else ""


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


# --------------------------------------------------------------------------- clinical quality


def _fixture(name: str) -> list[dict[str, Any]]:
    (path,) = FIXTURES.glob(f"{name}_*.json")
    return load_record(path)[1]


def test_fixture_brief_problems_are_clinical_and_social_history_comes_last() -> None:
    record = _fixture("Cleotilde_Ruecker")
    brief = build_brief(record, as_of=FIXTURE_DATE)
    md = brief.markdown
    _bullets_cite(md)
    titles = re.findall(r"^## (.+)$", md, flags=re.M)
    assert titles[:4] == ["Patient", "Active problems", "Current medications", "Allergies"]
    assert titles[-1] == "Social history"
    problems = _bullets(md, "Active problems") + _bullets(md, "More active problems")
    text = "\n".join(problems)
    for name in SOCIAL:
        assert plain(name) not in text, name
    # the problems under current care first (three current medications are given for
    # atrial fibrillation; the diabetic kidney disease has its complications on file),
    # then disorders and clinical findings (which stay problems) by onset, then the
    # acute condition left open since 1969, flagged
    assert problems[0].startswith("- Atrial fibrillation — since 2025-02-22")
    assert problems[1].startswith("- Disorder of kidney due to diabetes mellitus — since")
    assert problems.index(next(p for p in problems if "Anemia" in p)) > 5
    for finding in ("Body mass index 30+ - obesity", "Prediabetes"):
        assert finding in text
    assert "Microalbuminuria due to type 2 diabetes mellitus" in text
    assert problems[-1].startswith("- Acute infective cystitis — active in record since 1969")
    assert "an acute condition: verify" in problems[-1]
    active = {
        r["code"]["coding"][0]["display"]
        for r in record
        if r["resourceType"] == "Condition" and r["clinicalStatus"]["coding"][0]["code"] == "active"
    }
    social = "\n".join(_bullets(md, "Social history"))
    for name in active & SOCIAL:
        assert name in social
    assert "- administrative: Medication review due (situation), since 1947-03-26" in social
    assert "- no longer active: Victim of intimate partner abuse (finding)" in social
    assert "Part-time employment" not in _section(md, "Past problems")
    assert brief.first_screen_words <= 350


def test_fixture_brief_flags_old_active_medications() -> None:
    md = build_brief(_fixture("Cleotilde_Ruecker"), as_of=FIXTURE_DATE).markdown
    meds = _bullets(md, "Current medications") + _bullets(md, "More current medications")
    meds = [m for m in meds if not m.startswith("- _+")]
    assert [m.split(" ")[1] for m in meds[:3]] == ["Digoxin", "verapamil", "Warfarin"]
    assert all("verify" not in m for m in meds[:3])
    assert all("active in record, last ordered" in m and ": verify" in m for m in meds[3:])
    assert len(meds) == 8
    assert meds[-1].startswith("- Penicillin V Potassium 250 MG Oral Tablet")
    assert "last ordered 1960: verify" in meds[-1]


def test_fixture_briefs_are_readable() -> None:
    for name in (
        "Cleotilde_Ruecker",
        "Debora_Nazario",
        "Luigi_Schmitt",
        "Jarred_Cormier",
        "Adan_Moen",
    ):
        record = _fixture(name)
        brief = build_brief(record, as_of=FIXTURE_DATE)
        md = brief.markdown
        _bullets_cite(md)
        assert set(brief.citations) <= {f"{r['resourceType']}/{r['id']}" for r in record}
        assert "{'" not in md, name  # Synthea's Python-dict goal descriptions are parsed
        assert "careplan-category" not in md
        assert "(disorder)" not in _first_screen(md), name
        assert not re.search(r"for [A-Za-z]+_[A-Za-z_]+", md), name  # Medication_Review_Due
        assert brief.first_screen_words <= 350, name
        titles = re.findall(r"^## (.+)$", md, flags=re.M)
        if "Social history" in titles:
            assert titles.index("Results to review") < titles.index("Social history")
    md = build_brief(_fixture("Debora_Nazario"), as_of=FIXTURE_DATE).markdown
    assert _bullets(md, "Active problems")[0].startswith("- Diabetes mellitus type 2 — since")
    allergies = _bullets(md, "Allergies")
    assert allergies[0].startswith("- Lisinopril — high criticality")  # criticality high first
    care = _section(md, "Care plans and goals")  # in the history: nothing is due there
    assert "- Goal: Hemoglobin A1c total in Blood < 7 (active)" in care
    assert "- Goal: Maintain blood pressure below 140/90 mmHg (active)" in care
    assert "Goal:" not in _first_screen(md)
    results = _bullets(md, "Results to review")
    assert results[0].startswith("- HbA1c 6.6 % on 2025-01-15 — high")
    md = build_brief(_fixture("Cleotilde_Ruecker"), as_of=FIXTURE_DATE).markdown
    procedures = _bullets(md, "Procedures")
    assert procedures[0].startswith("- Direct current cardioversion for ")  # no semantic tag
    assert procedures[-1].startswith("- Routine screenings and assessments on 2025-04-30: ")
    assert "Depression screening" in procedures[-1]
    assert sum("Depression screening" in p for p in procedures) == 1


@shared
@needs_data
def test_entries_after_death_are_flagged() -> None:
    _pid, record = load_record(find_bundle("Fletcher_Hyatt"))
    md = build_brief(record, as_of=AS_OF).markdown
    (check,) = [b for b in _bullets(md, "Patient") if "Record check" in b]  # first screen
    assert "39 entries dated after the recorded death (1996-01-21)" in check
    assert "1996-01-25 to 1996-09-06" in check
    assert len(CITE.findall(check)) == 5
    # a death certificate filed after death is not flagged
    _pid, record = load_record(find_bundle("Bambi_Murray"))
    assert "Record check" not in build_brief(record, as_of=AS_OF).markdown


def test_atrial_fibrillation_shows_its_stroke_risk_and_anticoagulant() -> None:
    # the score a clinician checks before an AF visit, from the record (what earns each
    # point, cited), and the anticoagulant among the current medications; none for a
    # patient without atrial fibrillation
    b = build_brief(_fixture("Cleotilde_Ruecker"), as_of=FIXTURE_DATE)
    risk = b.sections["Stroke risk"]
    assert risk[0]["text"].startswith(
        "Atrial fibrillation — CHA2DS2-VASc 5 from the record (hypertension, age 75 or over "
        "+2, diabetes, female sex)"
    ), risk
    assert any(c.startswith("Patient/") for c in risk[0]["citations"])
    assert risk[1]["text"] == "Anticoagulant: Warfarin Sodium 5 MG Oral Tablet"
    assert "Stroke risk" not in build_brief(_fixture("Debora_Nazario"), as_of=FIXTURE_DATE).sections
    assert b.first_screen_words <= 350


@shared
@needs_data
def test_care_due_by_age_gives_way_to_problems_on_the_first_screen() -> None:
    # Margery Gibson's first screen is at its word budget: the zoster vaccine due by her
    # age had pushed two active problems (osteoporosis, a stroke) below the fold; the care
    # due by age and sex is folded first
    _pid, record = load_record(find_bundle("Margery_Gibson"))
    md = build_brief(record, as_of=AS_OF).markdown
    first = _first_screen(md)
    assert "Osteoporosis — since 2019-09-30" in first
    assert "Stroke — since 2011-10-24" in first
    assert "Due by age and sex — zoster vaccine (none on record" not in first
    assert "Due by age and sex — zoster vaccine (none on record" in _section(
        md, "More due or overdue"
    )

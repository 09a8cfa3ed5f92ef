"""A question set beside EHRQA (``clinqa``, ``judgeqa``): its run configuration, its run,
its ``python -m`` entry point and its ``fhir-bench`` command, written once.

A set is its generator, its category order, its oracle answerer and its default size;
everything else — resumable reports, the answerers (``baseline``, ``record-only``, a
deployment config), the command line — is the shared runner's (:mod:`bench.ehrqa.run`)::

    CLINQA = QuestionSet("clinqa", "questions in people's own words", generate,
                         CATEGORIES, baseline_factory, default_questions=200)
    CLINQA.register(app)        # fhir-bench clinqa …
    CLINQA.main(argv)           # python -m bench.clinqa.run …
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from bench.ehrqa.generate import DEFAULT_REFERENCE_DATE
from bench.ehrqa.run import (
    AnswererFactory,
    QuestionGenerator,
    RunConfig,
    markdown_table,
    run_eval,
)

__all__ = ["QuestionSet"]


@dataclass(frozen=True)
class QuestionSet:
    """One question set: ``name`` (the command and report name), ``title`` (what it asks,
    for help texts), its generator and category order, ``baseline`` (the oracle's
    answerer factory for a reference date) and its default number of questions."""

    name: str
    title: str
    generator: QuestionGenerator
    categories: tuple[str, ...]
    baseline: Callable[[str], AnswererFactory]
    default_questions: int = 200

    def config(
        self,
        data: str | Path,
        questions: int,
        *,
        seed: int = 1,
        out: str | Path | None = None,
        answerer: str = "baseline",
        ref_date: str = DEFAULT_REFERENCE_DATE,
        fresh: bool = False,
        progress: bool = True,
        plot: bool = True,
    ) -> RunConfig:
        """A :class:`RunConfig` for this set (its generator and category order)."""
        return RunConfig(
            data,
            questions,
            seed=seed,
            out=out,
            answerer=answerer,
            ref_date=ref_date,
            fresh=fresh,
            progress=progress,
            plot=plot,
            bench=self.name,
            generator=self.generator,
            categories=self.categories,
        )

    def run(
        self, cfg: RunConfig, factory: AnswererFactory | None = None, *, command: str | None = None
    ) -> dict[str, Any] | None:
        """Run the set (default answerer: the oracle); the report, or ``None`` when the
        data directory is absent."""
        return run_eval(cfg, factory or self.baseline(cfg.ref_date), command=command)

    def main(self, argv: Sequence[str] | None = None) -> int:
        """``python -m bench.<name>.run``: the oracle on a data directory."""
        import argparse

        ap = argparse.ArgumentParser(description=f"{self.name}: {self.title}.")
        ap.add_argument("--data", required=True, help="dir of FHIR Bundles (fixtures or synthea)")
        ap.add_argument("--questions", type=int, default=self.default_questions)
        ap.add_argument("--seed", type=int, default=1)
        ap.add_argument("--out", help="report path (REPORT.json); default reports/…")
        ap.add_argument("--ref-date", default=DEFAULT_REFERENCE_DATE)
        ap.add_argument("--fresh", action="store_true", help="discard earlier results")
        ap.add_argument("--no-progress", action="store_true")
        args = ap.parse_args(argv)
        cfg = self.config(
            args.data,
            args.questions,
            seed=args.seed,
            out=args.out,
            ref_date=args.ref_date,
            fresh=args.fresh,
            progress=not args.no_progress,
        )
        rest = argv if argv is not None else sys.argv[1:]
        report = self.run(cfg, command=f"python -m bench.{self.name}.run " + " ".join(rest))
        if report is not None:
            print(markdown_table(report))
        return 0

    def command(self) -> Callable[..., None]:
        """The ``fhir-bench <name>`` command: ``--config baseline`` (the oracle),
        ``record-only`` (the agent with a silent fake model: what code alone answers) or a
        deployment config ``configs/*.toml`` (the agent with that config's model, question
        text only, follow-ups on one thread, exactly as ``fhir-bench eval``)."""
        qset = self

        def set_command(
            config: Annotated[
                str,
                typer.Option(
                    "--config",
                    help="`baseline`; `record-only` (the agent with a silent fake model: what "
                    "code alone answers); or a deployment config configs/*.toml",
                ),
            ],
            data: Annotated[
                Path,
                typer.Option("--data", help="Directory of FHIR R4 Bundles (fixtures, synthea)"),
            ],
            questions: Annotated[
                int, typer.Option("--questions", help="Number of questions")
            ] = qset.default_questions,
            seed: Annotated[int, typer.Option("--seed", help="Question-draw seed")] = 1,
            out: Annotated[
                Path | None,
                typer.Option("--out", help="Report path REPORT.json (+ .md, .png, .results.jsonl)"),
            ] = None,
            ref_date: Annotated[
                str, typer.Option("--ref-date", help="Reference date ('today' for relative dates)")
            ] = DEFAULT_REFERENCE_DATE,
            fresh: Annotated[bool, typer.Option("--fresh", help="Discard earlier results")] = False,
        ) -> None:
            from bench.ehrqa.cli import AgentUnavailable, agent_factory
            from tools.errors import AssistantError

            factory: AnswererFactory | None = None
            name = "baseline"
            if config == "record-only":
                from bench.ehrqa.agent_answerer import record_only

                name = "record-only"
                factory = lambda source: record_only(source, ref_date)  # noqa: E731
            elif config != "baseline":
                try:
                    factory = agent_factory(Path(config), ref_date)
                except AgentUnavailable as exc:
                    typer.echo(f"error: {exc}", err=True)
                    raise typer.Exit(2) from None
                name = Path(config).stem
            cfg = qset.config(
                data,
                questions,
                seed=seed,
                out=out,
                answerer=name,
                ref_date=ref_date,
                fresh=fresh,
                progress=sys.stderr.isatty(),
            )
            command = (
                f"fhir-bench {qset.name} --config {config} --data {data} --questions {questions} "
                f"--seed {seed}" + (f" --out {out}" if out else "")
            )
            try:
                report = qset.run(cfg, factory, command=command)
            except AssistantError as exc:  # e.g. the model file is missing or the runtime fails
                typer.echo(f"error: {exc}", err=True)
                raise typer.Exit(1) from None
            if report is None:
                return
            typer.echo(markdown_table(report))
            typer.echo(f"report: {cfg.out}", err=True)

        set_command.__doc__ = f"Run the {self.name} question set ({self.title}) and write reports."
        return set_command

    def register(self, app: typer.Typer) -> None:
        """Add ``fhir-bench <name>`` to the Typer app."""
        app.command(self.name, help=f"Run the {self.name} question set ({self.title}).")(
            self.command()
        )

"""``fhir-bench``: the benchmarks' own command line (the product never imports ``bench``).

::

    fhir-bench eval --config configs/cpu-demo.toml --data ../shared/synthea --questions 36
    fhir-bench clinqa --config baseline --data ../shared/synthea --questions 200 --seed 1
    fhir-bench judgeqa --config baseline --data ../shared/synthea --questions 80 --seed 1
    fhir-bench medagent --data ../shared/synthea --tasks 60 [--config configs/cpu-demo.toml]
"""

from __future__ import annotations

import logging

import typer

from bench.clinqa import cli as clinqa_cli
from bench.ehrqa import cli as ehrqa_cli
from bench.judgeqa import cli as judgeqa_cli
from bench.medagent import cli as medagent_cli

__all__ = ["app", "main"]

app = typer.Typer(
    name="fhir-bench",
    help="Benchmarks of the FHIR record assistant (EHRQA, clinqa, judgeqa, MedAgentBench-style tasks).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


ehrqa_cli.register(app)
clinqa_cli.register(app)
judgeqa_cli.register(app)
medagent_cli.register(app)


def main() -> None:
    """Console-script entry point."""
    app()

"""``fhir-bench clinqa``: the independently written question set as a CLI command.

``--config baseline`` runs the no-model oracle baseline
(:class:`bench.clinqa.baseline.OracleBaseline`); ``record-only`` the agent with a silent
fake model; a ``configs/*.toml`` deployment config runs the agent (``agent.run.ask``,
question text only, follow-ups on one thread) with that config's model, exactly as
``fhir-bench eval`` does (:meth:`bench.ehrqa.question_set.QuestionSet.command`).
"""

from __future__ import annotations

import typer

from bench.clinqa.run import CLINQA

__all__ = ["clinqa_command", "register"]

clinqa_command = CLINQA.command()


def register(app: typer.Typer) -> None:
    """Add the ``clinqa`` command to the ``fhir-bench`` Typer app."""
    CLINQA.register(app)

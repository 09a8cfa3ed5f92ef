"""``fhir-bench judgeqa``: the judgements-and-relations question set as a CLI command.

``--config baseline`` runs the oracle (:class:`bench.judgeqa.baseline.OracleAnswerer`,
the truth in words: it proves the scorer); ``record-only`` the agent with a silent fake
model; a ``configs/*.toml`` deployment config runs the agent with that config's model,
exactly as ``fhir-bench eval`` does (:meth:`bench.ehrqa.question_set.QuestionSet.command`,
which loads the agent only when asked for: this module imports nothing from ``tools/`` or
``agent/``).
"""

from __future__ import annotations

import typer

from bench.judgeqa.run import JUDGEQA

__all__ = ["judgeqa_command", "register"]

judgeqa_command = JUDGEQA.command()


def register(app: typer.Typer) -> None:
    """Add the ``judgeqa`` command to the ``fhir-bench`` Typer app."""
    JUDGEQA.register(app)

"""Runner glue: the clinqa questions through :func:`bench.ehrqa.run.run_eval`.

The same machinery as EHRQA (resumable ``REPORT.results.jsonl``, ``REPORT.json``,
``REPORT.md``, ``REPORT.png``, ``REPORT.questions.json``), with the clinqa generator,
its category order, and the oracle baseline (:class:`bench.clinqa.baseline.OracleBaseline`)
as the default answerer (:class:`bench.ehrqa.question_set.QuestionSet`)::

    python -m bench.clinqa.run --data ../shared/synthea --questions 200 --seed 1 \\
        --out bench/clinqa/results/baseline-synthea.json
"""

from __future__ import annotations

from collections.abc import Sequence

from bench.clinqa.generate import CATEGORIES, generate
from bench.ehrqa.generate import DEFAULT_REFERENCE_DATE
from bench.ehrqa.question_set import QuestionSet
from bench.ehrqa.run import AnswererFactory

__all__ = ["CLINQA", "baseline_factory", "clinqa_config", "main", "run_clinqa"]


def baseline_factory(ref_date: str = DEFAULT_REFERENCE_DATE) -> AnswererFactory:
    """The oracle baseline on a run's record store."""
    from bench.clinqa.baseline import OracleBaseline

    return lambda source: OracleBaseline(source, ref_date=ref_date)


CLINQA = QuestionSet(
    "clinqa", "questions in people's own words", generate, CATEGORIES, baseline_factory, 200
)
clinqa_config = CLINQA.config
run_clinqa = CLINQA.run


def main(argv: Sequence[str] | None = None) -> int:
    return CLINQA.main(argv)


if __name__ == "__main__":
    raise SystemExit(main())

"""Runner glue: the judgeqa questions through :func:`bench.ehrqa.run.run_eval`.

The same machinery as EHRQA and clinqa (resumable ``REPORT.results.jsonl``,
``REPORT.json``, ``REPORT.md``, ``REPORT.png``, ``REPORT.questions.json``), with the
judgeqa generator, its category order and the oracle (:mod:`bench.judgeqa.baseline`) as
the default answerer (:class:`bench.ehrqa.question_set.QuestionSet`)::

    python -m bench.judgeqa.run --data ../shared/synthea --questions 80 --seed 1 \\
        --out /tmp/jq/base.json
"""

from __future__ import annotations

from collections.abc import Sequence

from bench.ehrqa.generate import DEFAULT_REFERENCE_DATE
from bench.ehrqa.question_set import QuestionSet
from bench.ehrqa.run import AnswererFactory
from bench.judgeqa.generate import CATEGORIES, generate

__all__ = ["JUDGEQA", "baseline_factory", "judgeqa_config", "main", "run_judgeqa"]


def baseline_factory(ref_date: str = DEFAULT_REFERENCE_DATE) -> AnswererFactory:
    """The oracle (the truth in words) on a run's record store."""
    from bench.judgeqa.baseline import OracleAnswerer

    return lambda source: OracleAnswerer(source)


JUDGEQA = QuestionSet(
    "judgeqa", "judgements, relations and prose", generate, CATEGORIES, baseline_factory, 80
)
judgeqa_config = JUDGEQA.config
run_judgeqa = JUDGEQA.run


def main(argv: Sequence[str] | None = None) -> int:
    return JUDGEQA.main(argv)


if __name__ == "__main__":
    raise SystemExit(main())

"""judgeqa: questions whose answers are judgements, relations and prose (is her diabetes
controlled? what is he taking for his blood pressure? why is she on metformin?), each
with a definite ground truth computed from the raw bundles.

Independent of the agent (``agent/``) and the record tools (``tools/``): the phrasings
(:mod:`bench.judgeqa.phrasing`), the concepts (:mod:`bench.judgeqa.concepts`, on top of
:mod:`bench.clinqa.concepts`) and the ground truth (:mod:`bench.judgeqa.truth`, standard
library only) were written for this set. Scored with :mod:`bench.ehrqa.score` (answer
type ``judgement``) and run with :mod:`bench.ehrqa.run`; see ``bench/judgeqa/README.md``.
"""

from bench.judgeqa.generate import CATEGORIES, generate, load_questions

__all__ = ["CATEGORIES", "generate", "load_questions"]

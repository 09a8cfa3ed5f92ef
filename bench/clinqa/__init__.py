"""clinqa: a second EHR question set, written by hand in clinicians' and patients' words.

Independent of the agent and of ``bench/ehrqa/generate.py``: the phrasings
(:mod:`bench.clinqa.phrasing`), the concepts (:mod:`bench.clinqa.concepts`) and the
ground truth (:mod:`bench.clinqa.truth`, read from the raw bundles with the standard
library only) were written for this set. Scored with :mod:`bench.ehrqa.score` and run
with :mod:`bench.ehrqa.run`; see ``bench/clinqa/README.md``.
"""

from bench.clinqa.generate import CATEGORIES, generate, load_questions

__all__ = ["CATEGORIES", "generate", "load_questions"]

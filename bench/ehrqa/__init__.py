"""EHRQA: an offline EHR question-answering benchmark with ground-truth evidence.

- :mod:`bench.ehrqa.generate`: questions, answers and evidence from raw FHIR Bundles;
- :mod:`bench.ehrqa.answer`: :class:`~bench.ehrqa.answer.Answerer` protocol and
  :class:`~bench.ehrqa.answer.AnswerRecord`;
- :mod:`bench.ehrqa.baseline`: the no-model, oracle-routed baseline answerer;
- :mod:`bench.ehrqa.score`: answer and citation scoring (no LLM judge);
- :mod:`bench.ehrqa.run`: the runner (``python -m bench.ehrqa.run``);
- :mod:`bench.ehrqa.cli`: ``register(app)`` adds ``fhir-bench eval``.

See ``bench/ehrqa/README.md``.
"""

"""MedAgentBench-style tasks on Synthea data, with FHIR write-back graded on server state.

- :mod:`bench.medagent.generate`: tasks and ground truth from the raw Bundles (plain
  code, not the tools under test): ``find_patient``, ``lab_window``, ``conditional_order``
  (the default set), and with ``kinds`` / ``--kinds v2|all`` the MedAgentBench v2 kinds
  ``record_vital``, ``medication_order``, ``referral``, ``window_value``;
- :mod:`bench.medagent.answer`: :class:`~bench.medagent.answer.MedAgentAnswerer` protocol
  and :class:`~bench.medagent.answer.TaskAnswer`;
- :mod:`bench.medagent.baseline`: the deterministic no-model answerer (oracle routing);
- :mod:`bench.medagent.grade`: answers vs truth; orders, vitals, prescriptions and
  referrals vs the server's resources (its state after the run);
- :mod:`bench.medagent.run`: the runner (``python -m bench.medagent.run``), which loads
  the bundles into a fresh store or an EMPTY test server (``--server``);
- :mod:`bench.medagent.cli`: ``register(app)`` adds ``fhir-bench medagent``;
  :func:`bench.medagent.cli.agent_factory` is the hook for the agent answerer.

Figures and commands: ``bench/medagent/README.md``.
"""

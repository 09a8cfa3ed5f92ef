"""Shared pytest fixtures and hooks (each fixture lives in a helper module; register it here).

The repository root is on ``sys.path`` (``pythonpath`` in pyproject.toml), so tests
import ``tools`` and helper modules as ``tests.<name>``.

Model runtimes: a test that loads llama.cpp or transformers (in-process or through a
subprocess) carries ``@pytest.mark.runtime("llamacpp")`` / ``runtime("transformers")``.
Before the first such test, the runtime is probed once in a child process
(``tests/runtime_health.py``); if it crashed, ``tests/test_runtime_health.py`` fails once
with the reason and the marked tests are skipped, so the run survives a bad build.
"""

from __future__ import annotations

import pytest

from tests import runtime_health
from tests.sekmet import sekmet_server  # noqa: F401  (session: a running sekmet-fhir)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The runtime health checks run first, so their failure heads the report."""
    items.sort(key=lambda item: 0 if item.nodeid.startswith(runtime_health.HEALTH_TEST) else 1)


@pytest.hookimpl(tryfirst=True)  # before any fixture (e.g. a loaded model) is set up
def pytest_runtest_setup(item: pytest.Item) -> None:
    for mark in item.iter_markers("runtime"):
        for runtime in mark.args:
            reason = runtime_health.skip_reason(runtime)
            if reason is not None:
                pytest.skip(reason)

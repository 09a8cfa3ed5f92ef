"""Shared pytest fixtures (each lives in a helper module; register it here).

The repository root is on ``sys.path`` (``pythonpath`` in pyproject.toml), so tests
import ``tools`` and helper modules as ``tests.<name>``.
"""

from __future__ import annotations

from tests.sekmet import sekmet_server  # noqa: F401  (session: a running sekmet-fhir)

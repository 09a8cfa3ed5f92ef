"""The project's own synthetic FHIR R4 fixture patients (see ``README.md`` here).

``patients/*.json`` are transaction Bundles written by :mod:`fhir_fixtures.generate`;
``manifest.json`` describes them. Everything here is synthetic.
"""

from __future__ import annotations

from pathlib import Path

FIXTURES_DIR = Path(__file__).resolve().parent
PATIENTS_DIR = FIXTURES_DIR / "patients"
MANIFEST_PATH = FIXTURES_DIR / "manifest.json"

__all__ = ["FIXTURES_DIR", "MANIFEST_PATH", "PATIENTS_DIR"]

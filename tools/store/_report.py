"""What an import did: per file counts, patients and errors, and progress events."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from tools.errors import ImportFailed

__all__ = ["FileReport", "ImportProgress", "ImportReport", "ProgressCallback"]


@dataclass(slots=True)
class FileReport:
    """The outcome of importing one file (one database transaction).

    ``imported`` new resources, ``updated`` changed ones, ``unchanged`` identical ones (or
    conditional creates whose target already existed), ``skipped`` copies that were not
    applied because the stored version is newer, or because a shared resource (no patient,
    e.g. an Organization copied into many bundles) without version metadata is already
    stored. When ``error`` is set, nothing of the file was kept and the counts are 0.
    """

    path: str
    resources: int = 0
    imported: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    patients: list[str] = field(default_factory=list)
    error: ImportFailed | None = None
    note: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True unless the file failed."""
        return self.error is None

    def as_dict(self) -> dict[str, object]:
        """A JSON-friendly view (for ``--json`` output)."""
        return {
            "path": self.path,
            "resources": self.resources,
            "imported": self.imported,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "skipped": self.skipped,
            "patients": list(self.patients),
            "error": str(self.error) if self.error else None,
            "error_type": type(self.error).__name__ if self.error else None,
            "note": self.note,
            "seconds": round(self.seconds, 3),
        }


@dataclass(slots=True)
class ImportReport:
    """The outcome of one ``import_paths`` call, file by file."""

    files: list[FileReport] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when every file was imported (the CLI exits non-zero otherwise)."""
        return all(f.ok for f in self.files)

    @property
    def errors(self) -> list[FileReport]:
        """The files that failed (nothing of them was kept)."""
        return [f for f in self.files if not f.ok]

    def _sum(self, name: str) -> int:
        return sum(int(getattr(f, name)) for f in self.files)

    @property
    def resources(self) -> int:
        """Resources read from the files that were imported."""
        return self._sum("resources")

    @property
    def imported(self) -> int:
        return self._sum("imported")

    @property
    def updated(self) -> int:
        return self._sum("updated")

    @property
    def unchanged(self) -> int:
        return self._sum("unchanged")

    @property
    def skipped(self) -> int:
        return self._sum("skipped")

    @property
    def patients(self) -> list[str]:
        """Every patient touched, sorted."""
        return sorted({p for f in self.files for p in f.patients})

    @property
    def rate(self) -> float:
        """Resources per second over the whole call."""
        return self.resources / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, object]:
        """A JSON-friendly view (for ``--json`` output)."""
        return {
            "ok": self.ok,
            "resources": self.resources,
            "imported": self.imported,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "skipped": self.skipped,
            "patients": self.patients,
            "seconds": round(self.seconds, 3),
            "files": [f.as_dict() for f in self.files],
        }


@dataclass(frozen=True, slots=True)
class ImportProgress:
    """One progress event.

    ``stage`` is ``"writing"`` while a file's transaction is open (``written`` of
    ``resources`` rows so far; raising from the callback then rolls the file back), and
    ``"done"`` after it committed or failed (``report`` is set).
    """

    path: str
    stage: Literal["writing", "done"]
    file_index: int
    files_total: int
    resources: int
    written: int
    report: FileReport | None = None


ProgressCallback = Callable[[ImportProgress], None]

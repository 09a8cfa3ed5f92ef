"""A run's results file: one JSON row per finished item, appended as it comes.

The first line names the run (``{"run": identity}``); a file written for another run is
refused, so an interrupted benchmark resumes only the run it belongs to. A line cut by an
interruption is skipped (its item runs again).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO, Any

__all__ = ["load_done", "open_results"]


def load_done(
    path: Path, identity: dict[str, Any], fresh: bool, key: str
) -> dict[str, dict[str, Any]]:
    """The rows already in ``path`` by their ``key`` (``{}`` when new or ``fresh``, which
    deletes the file). Raises SystemExit when the file belongs to another run."""
    if fresh and path.exists():
        path.unlink()
    done: dict[str, dict[str, Any]] = {}
    if not path.exists():
        return done
    lines = path.read_text(encoding="utf-8").splitlines()
    if lines:
        head = json.loads(lines[0])
        if head.get("run") != identity:
            raise SystemExit(
                f"{path} holds results of another run ({head.get('run')}); "
                "use --fresh to start over or another --out."
            )
    for line in lines[1:]:
        try:
            row = json.loads(line)
        except ValueError:  # a line cut by an interruption
            continue
        done[row[key]] = row
    return done


def open_results(path: Path, identity: dict[str, Any]) -> IO[str]:
    """``path`` opened for appending rows: the run's line first when the file is new; a
    line cut by an interruption is ended, so the next row is not glued onto it."""
    new = not path.exists() or path.stat().st_size == 0
    cut = False
    if not new:
        with path.open("rb") as fh:
            fh.seek(-1, 2)
            cut = fh.read(1) != b"\n"
    out = path.open("a", encoding="utf-8")
    if new:
        out.write(json.dumps({"run": identity}) + "\n")
    elif cut:
        out.write("\n")
    return out

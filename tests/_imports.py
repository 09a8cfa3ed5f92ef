"""The modules a Python file imports (read from its syntax tree, nothing executed): for the
tests that keep a benchmark's ground truth independent of the code it measures."""

from __future__ import annotations

import ast
from pathlib import Path

__all__ = ["imported_modules"]


def imported_modules(path: Path) -> set[str]:
    """Every module named by an ``import`` or ``from … import`` in the file."""
    tree = ast.parse(path.read_text())
    return {
        (node.module or "") if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }

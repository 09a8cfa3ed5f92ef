"""The agent must not be fitted to the benchmarks' wording (issue 15): no run of five
words from a question template (a string with a question mark) of ``bench/ehrqa/generate.py`` or ``bench/clinqa``,
or from a task text of ``bench/medagent/generate.py``, appears in a string of ``agent/`` or ``tools/``, and neither imports ``bench``."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = [ROOT / "bench/ehrqa/generate.py", ROOT / "bench/clinqa/phrasing.py"]
MEDAGENT = ROOT / "bench/medagent/generate.py"
PRODUCT = [ROOT / "agent", ROOT / "tools"]
N = 5


def _strings(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = [
        n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
    ]
    docs = {
        ast.get_docstring(n, clean=False)
        for n in ast.walk(tree)
        if isinstance(n, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
    }
    return [s for s in out if s not in docs]


def _strings_of(path: Path, name: str) -> set[str]:
    """The string constants assigned to the module-level ``name``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {
        n.value
        for node in tree.body
        if isinstance(node, ast.Assign | ast.AnnAssign)
        and name
        in {
            t.id
            for t in getattr(node, "targets", [getattr(node, "target", None)])
            if isinstance(t, ast.Name)
        }
        for n in ast.walk(node)
        if isinstance(n, ast.Constant) and isinstance(n.value, str)
    }


def _words(text: str) -> list[str]:
    text = re.sub(r"\{[^}]*\}", " | ", text.lower())  # a placeholder breaks a run
    return re.findall(r"[a-z']+|\|", text)


def _shingles(text: str) -> set[tuple[str, ...]]:
    w = _words(text)
    return {tuple(w[i : i + N]) for i in range(len(w) - N + 1) if "|" not in w[i : i + N]}


def test_no_template_wording_in_the_product() -> None:
    questions = [s for p in TEMPLATES for s in _strings(p) if "?" in s and "://" not in s]
    # the MedAgentBench-style task texts (instructions as well as questions)
    definitions = _strings_of(MEDAGENT, "DEFINITIONS")  # how truth is computed: not task text
    questions += [
        s for s in _strings(MEDAGENT) if "patient" in s and "://" not in s and s not in definitions
    ]
    template = set().union(*(_shingles(s) for s in questions))
    assert len(template) > 200  # the templates were read
    found = []
    for root in PRODUCT:
        for path in root.rglob("*.py"):
            for s in _strings(path):
                hit = _shingles(s) & template
                if hit:
                    found.append(f"{path.relative_to(ROOT)}: {' '.join(sorted(hit)[0])!r}")
    assert not found, "\n".join(found)


def test_the_product_does_not_import_bench() -> None:
    for root in PRODUCT:
        for path in root.rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                names = (
                    [a.name for a in node.names] if isinstance(node, ast.Import)
                    else [node.module or ""] if isinstance(node, ast.ImportFrom) else []
                )  # fmt: skip
                assert not any(n == "bench" or n.startswith("bench.") for n in names), path

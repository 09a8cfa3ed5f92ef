"""Reading ``requirements.lock``, the hash-pinned lock of the whole dependency set.

The lock is written by ``./dev lock`` (``uv pip compile --generate-hashes``) and is the only
thing ``./dev`` installs from. This module is standard library only, because ``./dev``
runs it with a bare virtual environment's interpreter before anything is installed::

    python -m surfaces._lock subset requirements.lock --build -o build.txt     # build tools
    python -m surfaces._lock subset requirements.lock --exclude llama-cpp-python -o rest.txt
    python -m surfaces._lock extraneous requirements.lock                      # not in the lock

:func:`compare_installed` is what ``fhir-assistant doctor`` reports.
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import re
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "LOCK_FILE",
    "LockEntry",
    "LockMismatch",
    "build_closure",
    "compare_installed",
    "normalize",
    "read_lock",
]

#: The lock of a source checkout (absent in an installed wheel).
LOCK_FILE = Path(__file__).resolve().parents[1] / "requirements.lock"

#: The dependency group of pyproject.toml that holds the build backends.
BUILD_GROUP = "build"

_REQ = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)")


def normalize(name: str) -> str:
    """PEP 503 name normalization (``Llama_CPP.python`` -> ``llama-cpp-python``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class LockEntry:
    """One pinned package: its requirement block (with hashes) and who needs it."""

    name: str
    version: str
    text: str
    via: tuple[str, ...]


def read_lock(path: Path = LOCK_FILE) -> list[LockEntry]:
    """The entries of a ``uv pip compile --generate-hashes`` output, in file order."""
    entries: list[LockEntry] = []
    block: list[str] = []
    via: list[str] = []
    head: re.Match[str] | None = None

    def flush() -> None:
        if head is not None:
            entries.append(
                LockEntry(normalize(head[1]), head[2], "\n".join(block) + "\n", tuple(via))
            )

    for line in path.read_text(encoding="utf-8").splitlines():
        match = _REQ.match(line)
        if match:
            flush()
            head, block, via = match, [line], []
        elif head is not None and line.startswith("    --hash="):
            block.append(line)
        elif head is not None and line.lstrip().startswith("#"):
            note = line.lstrip()[1:].strip()
            if note.startswith("via"):
                note = note[3:].strip()
            if note:
                via.append(note)
    flush()
    return entries


def build_closure(entries: list[LockEntry], group: str = BUILD_GROUP) -> list[LockEntry]:
    """The build tools (the ``build`` dependency group) and everything they depend on."""
    chosen = {e.name for e in entries if any(f":{group})" in v for v in e.via)}
    while True:
        more = {
            e.name
            for e in entries
            if e.name not in chosen and any(normalize(v) in chosen for v in e.via)
        }
        if not more:
            return [e for e in entries if e.name in chosen]
        chosen |= more


@dataclass(frozen=True)
class LockMismatch:
    """Installed distributions against the lock."""

    missing: tuple[str, ...]  # "name==version" in the lock, not installed
    different: tuple[str, ...]  # "name: installed X, locked Y"
    extra: tuple[str, ...]  # installed, not in the lock (the project itself excluded)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.different or self.extra)


def _installed() -> dict[str, str]:
    out: dict[str, str] = {}
    for dist in md.distributions():
        name = dist.metadata["Name"]
        if name:
            out[normalize(name)] = dist.version
    return out


def compare_installed(
    entries: list[LockEntry], ignore: tuple[str, ...] = ("fhir-record-assistant", "pip")
) -> LockMismatch:
    """What differs between this interpreter's installed distributions and the lock."""
    installed = _installed()
    locked = {e.name: e.version for e in entries}
    missing = tuple(f"{n}=={v}" for n, v in sorted(locked.items()) if n not in installed)
    different = tuple(
        f"{n}: installed {installed[n]}, locked {v}"
        for n, v in sorted(locked.items())
        if n in installed and installed[n] != v
    )
    extra = tuple(
        f"{n}=={v}" for n, v in sorted(installed.items()) if n not in locked and n not in ignore
    )
    return LockMismatch(missing, different, extra)


def _main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m surfaces._lock", description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sp = sub.add_parser("subset", help="write part of the lock (hashes kept) to a file")
    sp.add_argument("lock", type=Path)
    sp.add_argument("--build", action="store_true", help="only the build tools (+ deps)")
    sp.add_argument("--only", action="append", default=[], help="only this package")
    sp.add_argument("--exclude", action="append", default=[], help="leave this package out")
    sp.add_argument("-o", "--output", type=Path, required=True)
    vp = sub.add_parser("version", help="print the locked version of a package")
    vp.add_argument("lock", type=Path)
    vp.add_argument("name")
    xp = sub.add_parser("extraneous", help="installed packages that are not in the lock")
    xp.add_argument("lock", type=Path)
    args = ap.parse_args(argv)
    entries = read_lock(args.lock)
    if not entries:
        print(f"{args.lock}: no pinned requirements found", file=sys.stderr)
        return 1
    if args.cmd == "version":
        for e in entries:
            if e.name == normalize(args.name):
                print(e.version)
                return 0
        return 1
    if args.cmd == "extraneous":
        for item in compare_installed(entries).extra:
            print(item.split("==")[0])
        return 0
    chosen = build_closure(entries) if args.build else entries
    if args.only:
        only = {normalize(n) for n in args.only}
        chosen = [e for e in chosen if e.name in only]
    drop = {normalize(n) for n in args.exclude}
    chosen = [e for e in chosen if e.name not in drop]
    args.output.write_text("".join(e.text for e in chosen), encoding="utf-8")
    print(len(chosen))
    return 0


if __name__ == "__main__":
    sys.exit(_main())

"""A content-addressed, size-bounded directory of llama.cpp prompt-prefix states.

One file per warmed token prefix (``<key>.kvstate``), where the key is the sha256 of the
model identity (GGUF sha256 or path/size/mtime, ``n_ctx``, chat format, KV layout options,
llama-cpp-python version) and of the exact token ids of the prefix. A record that changed
gives a different summary, hence different tokens and another key: a stale state can never
be loaded for it (the old entry just ages out).

File layout: the magic ``FHIRKV01``, an 8-byte little-endian header length, a JSON header
(``identity``, ``n_tokens``, ``state_bytes``, ``state_sha256``), the prefix's token ids
(int32 little-endian), then the llama.cpp context state (``llama_state_get_data``: the KV
cells of the prefix and the last logits; not llama-cpp-python's ``LlamaState.scores``,
an ``n_batch × n_vocab`` float array of ~300 MB that sampling does not use).

* Writes go to a temporary file in the same directory and are renamed into place, so a
  reader never sees half a file and concurrent workers on one directory are safe (two
  workers writing one key write the same bytes; the last rename wins).
* Least-recently-used eviction keeps the directory under ``capacity_bytes``: a hit
  touches the file's mtime; a write evicts the oldest entries.
* An unreadable entry (bad magic, truncated, checksum mismatch, a name that does not match
  its content) is deleted and logged; the caller then evaluates the prompt as if there
  were no cache. Entries of another model identity sharing the directory are left alone.
* The states are derived from patient records (PHI): the directory is created ``0700``
  and files ``0600``; keep it on the same protected storage as the record store.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import struct
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["PrefixDiskCache", "PrefixEntry", "identity_hash", "longest_common_prefix"]

log = logging.getLogger("agent.models.kvcache")

MAGIC = b"FHIRKV01"
SUFFIX = ".kvstate"
_STALE_TMP_S = 3600.0


def identity_hash(identity: Mapping[str, Any]) -> str:
    """The sha256 of a model identity (a JSON-serialisable mapping)."""
    return hashlib.sha256(json.dumps(dict(identity), sort_keys=True).encode()).hexdigest()


def _token_bytes(tokens: Sequence[int]) -> bytes:
    return struct.pack(f"<{len(tokens)}i", *tokens)


def longest_common_prefix(*seqs: Sequence[int]) -> int:
    """The length of the longest common prefix of token sequences."""
    if not seqs:
        return 0
    n = min(len(s) for s in seqs)
    first = seqs[0]
    for i in range(n):
        t = first[i]
        if any(s[i] != t for s in seqs[1:]):
            return i
    return n


@dataclass(frozen=True, slots=True)
class PrefixEntry:
    """A saved prefix: its file, its tokens and the size of its state."""

    path: Path
    tokens: tuple[int, ...]
    state_bytes: int

    @property
    def n_tokens(self) -> int:
        return len(self.tokens)


class _Unreadable(Exception):
    """An entry that cannot be used (the reason is the message)."""


class _OtherModel(Exception):
    """An entry written for another model identity (left alone: another worker's)."""


class PrefixDiskCache:
    """Prefix states of one model in ``directory`` (see the module docstring)."""

    def __init__(self, directory: Path, capacity_bytes: int, identity: Mapping[str, Any]) -> None:
        self.directory = Path(directory)
        self.capacity_bytes = capacity_bytes
        self.identity = identity_hash(identity)
        self._index: dict[str, PrefixEntry | None] = {}  # file name -> entry (None: not ours)
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            os.chmod(self.directory, 0o700)
        except OSError as exc:  # not our directory: say so, the cache still works
            log.warning(
                "prompt prefix cache: could not restrict %s to 0700 (%s); it holds state "
                "derived from patient records",
                self.directory,
                exc,
            )

    # ------------------------------------------------------------------ keys

    def key(self, tokens: Sequence[int]) -> str:
        h = hashlib.sha256(self.identity.encode())
        h.update(_token_bytes(tokens))
        return h.hexdigest()

    def path_of(self, tokens: Sequence[int]) -> Path:
        return self.directory / f"{self.key(tokens)}{SUFFIX}"

    # ------------------------------------------------------------------ reading

    def _read_head(self, path: Path, *, with_state: bool) -> tuple[PrefixEntry, bytes | None]:
        try:
            with path.open("rb") as fh:
                if fh.read(len(MAGIC)) != MAGIC:
                    raise _Unreadable("not a prefix-cache file (bad magic)")
                raw_len = fh.read(8)
                if len(raw_len) != 8:
                    raise _Unreadable("truncated header")
                (head_len,) = struct.unpack("<Q", raw_len)
                if head_len > 1 << 20:
                    raise _Unreadable("header too large")
                try:
                    head = json.loads(fh.read(head_len))
                    n = int(head["n_tokens"])
                    size = int(head["state_bytes"])
                    ident = str(head["identity"])
                    digest = str(head["state_sha256"])
                except (ValueError, KeyError, TypeError) as exc:
                    raise _Unreadable(f"bad header ({exc})") from None
                raw_tokens = fh.read(4 * n)
                if len(raw_tokens) != 4 * n:
                    raise _Unreadable("truncated token list")
                tokens = struct.unpack(f"<{n}i", raw_tokens)
                if ident != self.identity:
                    raise _OtherModel
                if f"{self.key(tokens)}{SUFFIX}" != path.name:
                    raise _Unreadable("the file name does not match its content")
                entry = PrefixEntry(path, tuple(tokens), size)
                if not with_state:
                    return entry, None
                state = fh.read(size + 1)
        except OSError as exc:
            if isinstance(exc, FileNotFoundError):
                raise
            raise _Unreadable(str(exc)) from None
        if len(state) != size:
            raise _Unreadable(f"state is {len(state)} bytes, header says {size}")
        if hashlib.sha256(state).hexdigest() != digest:
            raise _Unreadable("state checksum mismatch")
        return entry, state

    def discard(self, path: Path, why: str) -> None:
        """Delete an unusable entry and say why (the prompt is evaluated instead)."""
        log.warning(
            "prompt prefix cache: removed unusable entry %s (%s); the prompt is evaluated "
            "without it",
            path.name,
            why,
        )
        self._index.pop(path.name, None)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()

    def entries(self) -> list[PrefixEntry]:
        """This model's entries now in the directory (headers read once per file)."""
        out: list[PrefixEntry] = []
        names: set[str] = set()
        try:
            listing = list(os.scandir(self.directory))
        except FileNotFoundError:
            return []
        for de in listing:
            if not de.name.endswith(SUFFIX):
                continue
            names.add(de.name)
            if de.name not in self._index:
                path = Path(de.path)
                try:
                    self._index[de.name] = self._read_head(path, with_state=False)[0]
                except FileNotFoundError:
                    continue
                except _OtherModel:
                    self._index[de.name] = None
                except _Unreadable as exc:
                    self.discard(path, str(exc))
                    continue
            entry = self._index[de.name]
            if entry is not None:
                out.append(entry)
        for gone in set(self._index) - names:  # evicted by another worker
            del self._index[gone]
        return out

    def best_prefix(self, tokens: Sequence[int], *, longer_than: int = 0) -> PrefixEntry | None:
        """The longest saved prefix of ``tokens`` with more than ``longer_than`` tokens."""
        best: PrefixEntry | None = None
        for e in self.entries():
            n = e.n_tokens
            if n <= longer_than or n > len(tokens) or (best is not None and n <= best.n_tokens):
                continue
            if tuple(tokens[:n]) == e.tokens:
                best = e
        return best

    def contains(self, tokens: Sequence[int]) -> bool:
        """Whether this exact prefix is saved (touches it: it was just asked for)."""
        path = self.path_of(tokens)
        if not path.is_file():
            return False
        self.touch(path)
        return True

    def read(self, entry: PrefixEntry) -> bytes | None:
        """The saved state of ``entry``; None (the entry deleted, logged) when unreadable
        or gone."""
        try:
            _, state = self._read_head(entry.path, with_state=True)
        except FileNotFoundError:
            self._index.pop(entry.path.name, None)
            return None
        except (_Unreadable, _OtherModel) as exc:
            self.discard(entry.path, str(exc) or "written for another model")
            return None
        self.touch(entry.path)
        return state

    @staticmethod
    def touch(path: Path) -> None:
        with contextlib.suppress(OSError):
            os.utime(path)

    # ------------------------------------------------------------------ writing

    def write(self, tokens: Sequence[int], state: bytes) -> Path | None:
        """Save a prefix's state atomically, then evict to the size bound. None when the
        state alone exceeds the bound (not kept; logged)."""
        total = len(MAGIC) + 8 + 4 * len(tokens) + len(state) + 256
        if total > self.capacity_bytes:
            log.warning(
                "prompt prefix cache: a %d-token state (%.1f MB) exceeds the cache bound "
                "(%.1f MB, [model] disk_cache_mb); not saved",
                len(tokens),
                len(state) / 1e6,
                self.capacity_bytes / 1e6,
            )
            return None
        head = json.dumps(
            {
                "identity": self.identity,
                "n_tokens": len(tokens),
                "state_bytes": len(state),
                "state_sha256": hashlib.sha256(state).hexdigest(),
            }
        ).encode()
        target = self.path_of(tokens)
        tmp = self.directory / f".tmp-{os.getpid()}-{os.urandom(6).hex()}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(MAGIC)
                fh.write(struct.pack("<Q", len(head)))
                fh.write(head)
                fh.write(_token_bytes(tokens))
                fh.write(state)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        self._index[target.name] = PrefixEntry(target, tuple(tokens), len(state))
        self.evict(keep=target)
        return target

    def evict(self, keep: Path | None = None) -> int:
        """Delete least-recently-used entries until the directory fits its bound (and
        temporary files a crashed writer left behind); returns the bytes now used."""
        files: list[tuple[float, int, Path]] = []
        now = time.time()
        for de in os.scandir(self.directory):
            try:
                st = de.stat()
            except FileNotFoundError:
                continue
            if de.name.startswith(".tmp-"):
                if now - st.st_mtime > _STALE_TMP_S:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(de.path)
                continue
            if de.name.endswith(SUFFIX):
                files.append((st.st_mtime, st.st_size, Path(de.path)))
        used = sum(size for _, size, _ in files)
        for _, size, path in sorted(files, key=lambda f: f[0]):
            if used <= self.capacity_bytes:
                break
            if keep is not None and path == keep:
                continue
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                log.info("prompt prefix cache: evicted %s (%.1f MB)", path.name, size / 1e6)
            self._index.pop(path.name, None)
            used -= size
        return used

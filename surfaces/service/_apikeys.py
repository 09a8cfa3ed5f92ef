"""Static API keys: minted once, stored only as a salted slow hash, compared in constant time.

::

    key, line = mint_api_key("lab-engine", scopes=("system/*.rs",))
    print(key)    # shown once: fa_3q…  (give it to the client)
    print(line)   # the [[service.auth.api_keys]] entry for the deployment file

Hashes are ``scrypt$N$r$p$salt$hash`` (the default: memory-hard, N=2^14, r=8, p=1) or
``pbkdf2_sha256$iterations$salt$hash``, salt and hash base64, from :mod:`hashlib`. A
presented key is hashed with each configured key's parameters and compared with
:func:`hmac.compare_digest`. Verified keys are remembered for the process (keyed by a
SHA-256 of the key, never the key), so the slow hash runs once per key, not per request.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from collections.abc import Sequence

from tools.config import ApiKey

__all__ = ["KEY_PREFIX", "ApiKeyVerifier", "hash_api_key", "mint_api_key", "verify_api_key"]

KEY_PREFIX = "fa_"
_SCRYPT = (1 << 14, 8, 1)
_PBKDF2_ITERATIONS = 600_000


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def hash_api_key(key: str, *, kind: str = "scrypt", salt: bytes | None = None) -> str:
    """The storable hash of ``key`` (``scrypt$…`` or ``pbkdf2_sha256$…``)."""
    salt = salt or os.urandom(16)
    if kind == "scrypt":
        n, r, p = _SCRYPT
        digest = hashlib.scrypt(key.encode(), salt=salt, n=n, r=r, p=p, dklen=32)
        return f"scrypt${n}${r}${p}${_b64(salt)}${_b64(digest)}"
    if kind == "pbkdf2_sha256":
        digest = hashlib.pbkdf2_hmac("sha256", key.encode(), salt, _PBKDF2_ITERATIONS)
        return f"pbkdf2_sha256${_PBKDF2_ITERATIONS}${_b64(salt)}${_b64(digest)}"
    raise ValueError(f"unknown hash kind {kind!r}: scrypt or pbkdf2_sha256")


def verify_api_key(key: str, stored: str) -> bool:
    """Whether ``key`` matches the stored hash (constant-time comparison)."""
    parts = stored.split("$")
    try:
        if parts[0] == "scrypt" and len(parts) == 6:
            n, r, p = (int(x) for x in parts[1:4])
            salt, want = base64.b64decode(parts[4]), base64.b64decode(parts[5])
            got = hashlib.scrypt(key.encode(), salt=salt, n=n, r=r, p=p, dklen=len(want))
        elif parts[0] == "pbkdf2_sha256" and len(parts) == 4:
            iterations = int(parts[1])
            salt, want = base64.b64decode(parts[2]), base64.b64decode(parts[3])
            got = hashlib.pbkdf2_hmac("sha256", key.encode(), salt, iterations, len(want))
        else:
            return False
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, want)


def mint_api_key(
    name: str,
    *,
    scopes: Sequence[str] = ("system/*.rs",),
    patient: str | None = None,
    kind: str = "scrypt",
) -> tuple[str, str]:
    """A new random key and the TOML entry that configures it (with its hash only)."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    entry = ApiKey(
        name=name, hash=hash_api_key(key, kind=kind), scopes=tuple(scopes), patient=patient
    )
    scope_list = ", ".join(f'"{s}"' for s in entry.scopes)
    lines = [
        "[[service.auth.api_keys]]",
        f'name = "{entry.name}"',
        f'hash = "{entry.hash}"',
        f"scopes = [{scope_list}]",
    ]
    if patient:
        lines.append(f'patient = "{patient}"')
    return key, "\n".join(lines)


class ApiKeyVerifier:
    """Finds the configured key a presented key matches (cached per process)."""

    def __init__(self, keys: Sequence[ApiKey]) -> None:
        self.keys = list(keys)
        self._known: dict[bytes, ApiKey] = {}

    def match(self, presented: str) -> ApiKey | None:
        fingerprint = hashlib.sha256(presented.encode()).digest()
        hit = self._known.get(fingerprint)
        if hit is not None:
            return hit
        for key in self.keys:
            if verify_api_key(presented, key.hash):
                self._known[fingerprint] = key
                return key
        return None

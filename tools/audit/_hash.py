"""Patient ids in logs: a keyed hash (HMAC-SHA-256), never the id itself.

With the same key (``$FHIR_ASSISTANT_LOG_KEY`` by default, see
:class:`tools.config.AuditSettings`), the same patient always hashes to the same token,
so an operator can follow one patient's requests through the logs and, holding the key,
check whether a given id is behind a token; without the key the token says nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import os

__all__ = ["PatientIdHasher"]


class PatientIdHasher:
    """``hasher(patient_id) -> "p-<12 hex digits>"`` (``-`` for None).

    Args:
        key: the secret; None makes a random one (tokens then differ between processes).
    """

    def __init__(self, key: bytes | str | None = None) -> None:
        if key is None:
            key = os.urandom(32)
        self._key = key.encode() if isinstance(key, str) else key
        self.ephemeral = False

    @classmethod
    def from_env(cls, name: str) -> PatientIdHasher:
        """The key from environment variable ``name``, or a random per-process key
        (``.ephemeral`` is then True, for a startup warning)."""
        value = os.environ.get(name)
        hasher = cls(value or None)
        hasher.ephemeral = not value
        return hasher

    def __call__(self, patient_id: str | None) -> str:
        if not patient_id:
            return "-"
        digest = hmac.new(self._key, patient_id.encode(), hashlib.sha256).hexdigest()
        return f"p-{digest[:12]}"

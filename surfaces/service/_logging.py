"""Logs without PHI.

The service's own log lines carry no names, no question/answer/record text and no patient
ids: a patient appears as a keyed hash (:class:`tools.audit.PatientIdHasher`), requests by
route template (``/v1/patients/{patient_id}/summary``), never by URL. Uvicorn's access log
(which prints URLs with ids and search terms) is replaced by :func:`access_line`.

:class:`RedactingFilter` is a second net on every handler: lines from other libraries that
name a patient (``Patient/<id>``, ``patient=<id>``, ``subject=…``) get the id replaced by its
hash, and the query strings of URLs (where FHIR search terms sit) are cut.
"""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Callable
from typing import IO

__all__ = ["RedactingFilter", "configure_logging"]

_PATIENT_REF = re.compile(r"((?:Patient|/patients)/)([A-Za-z0-9\-.]{1,64})")
_PATIENT_PARAM = re.compile(r"((?:patient|subject|_id)=)([^&\s,;)\"']+)", re.IGNORECASE)
_HASHED = re.compile(r"p-[0-9a-f]{12}")
_QUERY = re.compile(r"(https?://[^\s?\"']+)\?[^\s\"']*")


class RedactingFilter(logging.Filter):
    """Hash patient ids and cut URL query strings in every record that passes."""

    def __init__(self, hasher: Callable[[str | None], str]) -> None:
        super().__init__()
        self.hasher = hasher

    def _hash(self, m: re.Match[str]) -> str:
        value = m.group(2)
        if value == "-" or _HASHED.fullmatch(value):  # already hashed (or none)
            return m.group(0)
        return m.group(1) + self.hasher(value)

    def _clean(self, text: str) -> str:
        text = _QUERY.sub(r"\1?…", text)
        text = _PATIENT_REF.sub(self._hash, text)
        return _PATIENT_PARAM.sub(self._hash, text)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it to the handler
            return True
        cleaned = self._clean(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[1] is not None:
            # the traceback's frames stay; the exception's message may hold record text
            exc = record.exc_info[1]
            frames = "".join(traceback.format_tb(exc.__traceback__))
            record.msg = f"{record.getMessage()} [{type(exc).__name__}]\n{frames.rstrip()}"
            record.args = None
            record.exc_info = None
            record.exc_text = None
        return True


def configure_logging(
    hasher: Callable[[str | None], str], level: int = logging.INFO, stream: IO[str] | None = None
) -> logging.Handler:
    """Root logging for ``serve``: one handler (stderr, or ``stream``) with
    :class:`RedactingFilter`; returns it."""
    root = logging.getLogger()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter(hasher))
    root.handlers = [handler]
    root.setLevel(logging.WARNING)
    for name in ("surfaces", "agent", "tools", "uvicorn.error"):
        logging.getLogger(name).setLevel(level)
    logging.getLogger("uvicorn.access").disabled = True
    # its DEBUG lines carry every SSE chunk (answers): never below WARNING
    logging.getLogger("sse_starlette").setLevel(logging.WARNING)
    return handler

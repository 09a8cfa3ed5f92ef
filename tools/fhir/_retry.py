"""Retry policy for idempotent GETs: which failures to retry and how long to wait."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Awaitable, Callable

import httpx

from tools.config import Limits

__all__ = [
    "RETRY_STATUSES",
    "Sleep",
    "backoff_delay",
    "is_retryable_exception",
    "retry_after_seconds",
]

# 429 Too Many Requests, 502 Bad Gateway, 503 Service Unavailable, 504 Gateway Timeout.
# A plain 500 is usually a deterministic server bug and is not retried.
RETRY_STATUSES = frozenset({429, 502, 503, 504})

Sleep = Callable[[float], Awaitable[None]]
"""An ``asyncio.sleep``-like coroutine function; injectable so tests do not really wait."""


def is_retryable_exception(exc: BaseException) -> bool:
    """Timeouts and dropped connections (reset, closed mid-answer) are worth retrying.

    A refused connection or a DNS failure (``httpx.ConnectError``) is not: it will not
    heal within a backoff, and the user should hear about it at once.
    """
    if isinstance(exc, httpx.TimeoutException):
        return True
    return isinstance(exc, httpx.NetworkError | httpx.RemoteProtocolError) and not isinstance(
        exc, httpx.ConnectError
    )


def retry_after_seconds(value: str | None, now: Callable[[], float] = time.time) -> float | None:
    """Parse a ``Retry-After`` header: delta-seconds or an HTTP date. None when absent/invalid."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - now())


def backoff_delay(attempt: int, limits: Limits, retry_after: float | None = None) -> float:
    """Seconds to wait before retry number ``attempt + 1`` (``attempt`` counts from 0).

    The server's ``Retry-After`` wins when given; otherwise exponential backoff from
    ``limits.backoff_base_s``. Either way the wait is capped by ``limits.backoff_max_s``.
    """
    delay = retry_after if retry_after is not None else limits.backoff_base_s * (2**attempt)
    return min(delay, limits.backoff_max_s)

"""Admission to the model: a bounded queue in front of a fixed number of slots.

An in-process model (llama.cpp, transformers) generates for one request at a time: the
gate has one slot, and a request holds it for its whole agent run (plan, tools,
compose, verify), so one patient's calls follow each other and reuse the prompt cache.
An OpenAI-compatible server batches concurrent requests itself: the gate then has
``max_concurrent_remote`` slots.

A request is refused at once (:class:`ServiceBusy`, HTTP 503 with ``Retry-After``) when
``queue_length`` requests already wait, or when the expected wait (requests ahead ×
the recent mean run time ÷ slots) exceeds ``max_queue_wait_s``; a request that waits
longer than that bound anyway is refused then. Nothing is lost: a refused request did
nothing yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator

from ._errors import ServiceBusy

__all__ = ["ModelGate"]


class ModelGate:
    """``async with gate.slot(): ...`` runs the block when a model slot is free.

    Args:
        slots: requests served at once (1 for an in-process model).
        queue_length: requests that may wait; more are refused.
        max_wait_s: the longest a request may wait (predicted, then actual).
        initial_estimate_s: assumed run time until one has been measured.
    """

    def __init__(
        self,
        slots: int,
        queue_length: int,
        max_wait_s: float,
        *,
        initial_estimate_s: float = 10.0,
    ) -> None:
        self.slots = slots
        self.queue_length = queue_length
        self.max_wait_s = max_wait_s
        self._sem = asyncio.Semaphore(slots)
        self._waiting = 0
        self._running = 0
        self._mean_s = initial_estimate_s
        self.served = 0
        self.refused = 0

    @property
    def waiting(self) -> int:
        return self._waiting

    @property
    def running(self) -> int:
        return self._running

    def expected_wait_s(self) -> float:
        """Expected wait of a request arriving now."""
        ahead = self._waiting + max(0, self._running - self.slots + 1)
        if self._running < self.slots and self._waiting == 0:
            return 0.0
        return ahead * self._mean_s / self.slots

    def _busy(self, why: str, wait: float) -> ServiceBusy:
        self.refused += 1
        retry = math.ceil(min(max(wait, self._mean_s), 3600))
        return ServiceBusy(
            f"The model is busy: {why}. Retry after about {retry} s; nothing was done for "
            "this request.",
            retry,
        )

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold a model slot for the block (see the class docstring for refusals)."""
        free = self._running < self.slots and self._waiting == 0
        if not free:
            if self._waiting >= self.queue_length:
                raise self._busy(
                    f"{self._waiting} request(s) already wait (queue length {self.queue_length})",
                    self.expected_wait_s(),
                )
            expected = self.expected_wait_s()
            if expected > self.max_wait_s:
                raise self._busy(
                    f"the expected wait ({expected:.0f} s) exceeds the limit "
                    f"({self.max_wait_s:g} s)",
                    expected,
                )
        self._waiting += 1
        try:
            async with asyncio.timeout(self.max_wait_s):
                await self._sem.acquire()
        except TimeoutError:
            raise self._busy(
                f"waited {self.max_wait_s:g} s for a model slot", self.expected_wait_s()
            ) from None
        finally:
            self._waiting -= 1
        self._running += 1
        started = time.monotonic()
        try:
            yield
        finally:
            self._running -= 1
            self._sem.release()
            took = time.monotonic() - started
            self.served += 1
            self._mean_s = 0.7 * self._mean_s + 0.3 * took if self.served > 1 else took

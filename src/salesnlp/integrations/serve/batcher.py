"""Micro-batching: concurrent requests' notes are classified together.

Requests put their notes on a bounded queue and wait; one worker thread takes what is
queued (up to ``max_batch_notes``, waiting at most ``max_wait`` seconds for more after
the first arrives), runs one ``classify_many`` over all of it and hands each request its
results. Many clients sending one note each thus get close to the throughput of
batched calls. A full queue refuses new work at once (:class:`QueueFull`), so the
service answers 503 instead of queueing without bound.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)


class QueueFull(Exception):
    """The queue holds as many notes as it may; try again later."""


@dataclass
class _Job:
    texts: list[str]
    future: asyncio.Future
    loop: asyncio.AbstractEventLoop
    queued: float = field(default_factory=time.perf_counter)


class Batcher:
    """Coalesces the notes of concurrent requests into batched ``classify_many`` calls.

    Args:
        classify_many: the function that classifies a list of notes.
        max_batch_notes: the most notes in one call.
        max_wait: seconds to wait for more notes after the first one arrives.
        max_queue: the most notes waiting; more raise :class:`QueueFull`.
        on_batch: called with each batch's size (for metrics).
    """

    def __init__(self, classify_many: Callable[[list[str]], list], *, max_batch_notes: int = 64,
                 max_wait: float = 0.004, max_queue: int = 4096,
                 on_batch: Callable[[int], None] | None = None) -> None:
        self.classify_many = classify_many
        self.max_batch_notes = max_batch_notes
        self.max_wait = max_wait
        self.max_queue = max_queue
        self.on_batch = on_batch
        self._jobs: queue.Queue[_Job | None] = queue.Queue()
        self._pending = 0  # notes queued or being classified
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._thread = threading.Thread(target=self._run, name="salesnlp-batcher", daemon=True)
        self._thread.start()

    @property
    def depth(self) -> int:
        """Notes waiting or being classified."""
        return self._pending

    async def submit(self, texts: list[str]) -> list:
        """Classify ``texts`` in the next batch; their results, in order."""
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._pending + len(texts) > self.max_queue:
                raise QueueFull
            self._pending += len(texts)
        job = _Job(texts, loop.create_future(), loop)
        self._jobs.put(job)
        return await job.future

    def drain(self, timeout: float = 30.0) -> bool:
        """Wait until every accepted note is classified (for a graceful shutdown)."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    def close(self) -> None:
        self._jobs.put(None)
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            batch = [job]
            size = len(job.texts)
            deadline = time.perf_counter() + self.max_wait
            while size < self.max_batch_notes:
                try:
                    more = self._jobs.get(timeout=max(0.0, deadline - time.perf_counter()))
                except queue.Empty:
                    break
                if more is None:
                    self._jobs.put(None)
                    break
                batch.append(more)
                size += len(more.texts)
            self._classify(batch, size)

    def _classify(self, batch: list[_Job], size: int) -> None:
        texts = [t for job in batch for t in job.texts]
        try:
            results = self.classify_many(texts)
            error = None
        except Exception as exc:  # noqa: BLE001 - handed to the waiting requests
            logger.exception("batch of %d notes failed", size)
            results, error = [], exc
        if self.on_batch is not None:
            self.on_batch(size)
        start = 0
        for job in batch:
            part = results[start : start + len(job.texts)]
            start += len(job.texts)
            job.loop.call_soon_threadsafe(_settle, job.future, part, error)
        with self._idle:
            self._pending -= size
            self._idle.notify_all()


def _settle(future: asyncio.Future, results: list, error: Exception | None) -> None:
    if future.done():  # the client went away
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(results)

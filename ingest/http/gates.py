"""Per-host politeness: a concurrency limit and a minimum delay between request starts."""

from __future__ import annotations

import threading
import time


class HostGate:
    """Per-host concurrency limit and minimum delay between request starts."""

    def __init__(self, concurrency: int, delay: float):
        self.sem = threading.BoundedSemaphore(max(1, concurrency))
        self.delay = delay
        self.lock = threading.Lock()
        self.next_start = 0.0

    def __enter__(self) -> None:
        self.sem.acquire()
        if self.delay > 0:
            with self.lock:
                now = time.monotonic()
                wait = self.next_start - now
                self.next_start = max(now, self.next_start) + self.delay
            if wait > 0:
                time.sleep(wait)

    def __exit__(self, *exc: object) -> None:
        self.sem.release()

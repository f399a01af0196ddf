"""Feed watching: one polling round over a shard of feeds, queueing the new items.

``FeedWatcher`` is the synchronous half of ``rasad.triggers.FeedWatchTrigger`` (the Airflow
trigger lives with the wiring, which owns the Elasticsearch setup it runs first). The feed
list is read from the registry named by the settings, re-read when the file changes.

Each round polls the shard's due feeds with conditional GETs through the one HTTP client
(SSRF guard, size caps, robots.txt, per-host concurrency and delay, Retry-After), in
worker threads so the event loop never blocks; writes the new items to the work queue;
only then advances the feeds' validators; and yields one event with counts only. The
processing DAG reads the queue, never the event, so coalesced or dropped events lose
nothing.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

IDLE_TICK = 2.0  # seconds between looks at the shard when no feed is due sooner
ERROR_BACKOFF_CAP = 60.0


def shard_of(feed_id: str, shards: int) -> int:
    """The shard a feed belongs to (stable across processes and releases)."""
    return int(hashlib.sha1(feed_id.encode(), usedforsecurity=False).hexdigest()[:8], 16) % max(1, shards)


@dataclass
class RoundReport:
    polled: int = 0
    queued: int = 0
    known: int = 0
    failed: int = 0
    next_due: float = IDLE_TICK  # seconds until the shard's next feed is due


class FeedWatcher:
    """The synchronous half of the trigger: one polling round over a shard (runs in a thread)."""

    def __init__(self, shard: int, shards: int, settings: Any = None,
                 prepare: Callable[[Any], Any] | None = None):  # fmt: skip
        from rasad.core.es import make_client  # noqa: PLC0415
        from rasad.core.settings import load_settings  # noqa: PLC0415
        from rasad.ingest.http.client import HttpClient  # noqa: PLC0415
        from rasad.ingest.queue import WorkQueue  # noqa: PLC0415
        from rasad.ingest.store import IngestStore  # noqa: PLC0415

        self.shard, self.shards = shard, shards
        self.s = settings or load_settings()
        es = make_client(self.s)
        self.store = IngestStore(es, self.s)
        self.queue = WorkQueue(es, self.s)
        self.client = HttpClient(self.s)
        if prepare is not None:  # the wiring passes its setup: templates before the first write
            prepare(self.s)
        self._registry: tuple[float, list[Any]] | None = None
        self._next: dict[str, float] = {}  # feed id -> monotonic time it is next due

    def specs(self) -> list[Any]:
        """The shard's enabled feeds, re-read when the registry file changes."""
        from rasad.ingest.feeds import load_registry  # noqa: PLC0415

        path = Path(self.s.path(self.s.feeds_file))
        mtime = path.stat().st_mtime
        if self._registry is None or self._registry[0] != mtime:
            specs = [f for f in load_registry(path) if shard_of(f.id, self.shards) == self.shard]
            self._registry = (mtime, specs)
            self._next = {f.id: self._next.get(f.id, 0.0) for f in specs}
        return self._registry[1]

    def poll_round(self) -> RoundReport:
        """Poll the feeds due now; queue their items before their state advances."""
        from rasad.core.records import parse_iso  # noqa: PLC0415
        from rasad.ingest.stage import poll_feeds  # noqa: PLC0415
        from rasad.ingest.store import CLOCK_REFRESH  # noqa: PLC0415

        specs = self.specs()
        mono = time.monotonic()
        due = [f for f in specs if self._next.get(f.id, 0.0) <= mono]
        rep = RoundReport()
        if due:
            now = datetime.now(timezone.utc)
            # The schedule lives here, so a 304 need not be written (the stored clock lags by
            # at most CLOCK_REFRESH); the states come back with the report, not re-read.
            pr = poll_feeds(due, self.client, self.store, self.queue, now=now, workers=self.s.fetch_workers,
                            jitter=self.s.poll_jitter, clock_refresh=CLOCK_REFRESH)  # fmt: skip
            for f in due:
                nxt = parse_iso(pr.states[f.id].next_poll)
                wait = (nxt - now).total_seconds() if nxt else f.poll_interval
                self._next[f.id] = mono + max(0.5, wait)
            rep.polled = pr.polled
            rep.queued, rep.known = pr.queued, pr.known
            rep.failed = sum(1 for o in pr.feeds if o.status == "error")
        if self._next:
            rep.next_due = max(0.2, min(IDLE_TICK, min(self._next.values()) - time.monotonic()))
        return rep

    def close(self) -> None:
        self.client.close()

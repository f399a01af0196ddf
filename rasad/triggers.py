"""The Airflow trigger that watches the feeds: poll a shard, queue new items, fire an event.

``FeedWatchTrigger`` is attached to an asset with an ``AssetWatcher`` (rasad/dagkit.py).
The triggerer imports it by class path, so it lives in the installed package, and its
identity is its class path plus kwargs: those stay small and stable (shard number and
shard count). It is wiring, not ingest: it runs the pipeline's setup before the first
write, which the ingest stage cannot import.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from typing import Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from rasad.ingest.watch import ERROR_BACKOFF_CAP, FeedWatcher

log = logging.getLogger(__name__)


def _watcher(shard: int, shards: int) -> FeedWatcher:
    from rasad.pipeline import ensure_setup  # noqa: PLC0415

    return FeedWatcher(shard, shards, prepare=ensure_setup)


class FeedWatchTrigger(BaseEventTrigger):
    """Watch shard ``shard`` of ``shards`` of the feed registry; fire when new items are queued."""

    def __init__(self, shard: int = 0, shards: int = 1):
        super().__init__()
        self.shard = int(shard)
        self.shards = int(shards)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (f"{type(self).__module__}.{type(self).__qualname__}", {"shard": self.shard, "shards": self.shards})

    async def run(self) -> AsyncIterator[TriggerEvent]:
        watcher: FeedWatcher | None = None
        failures = 0
        while True:
            try:
                if watcher is None:
                    watcher = await asyncio.to_thread(_watcher, self.shard, self.shards)
                rep = await asyncio.to_thread(watcher.poll_round)
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as e:  # a bad registry or Elasticsearch down: keep watching, back off
                failures += 1
                delay = min(ERROR_BACKOFF_CAP, 2.0 * 2 ** min(failures, 5))
                log.warning("feed watch shard %d/%d: %s: %s (retry in %.0fs)", self.shard, self.shards,
                            type(e).__name__, e, delay)  # fmt: skip
                await asyncio.sleep(delay)
                continue
            if rep.queued:
                log.info("shard %d/%d: %d feed(s) polled, %d new item(s) queued", self.shard, self.shards,
                         rep.polled, rep.queued)  # fmt: skip
                # Counts only: the consumer reads the queue, so a coalesced event loses nothing.
                yield TriggerEvent({"shard": self.shard, "queued": rep.queued, "polled": rep.polled,
                                    "at": datetime.now(timezone.utc).isoformat()})  # fmt: skip
            await asyncio.sleep(rep.next_due)

"""A named lease in Elasticsearch: one holder at a time across every worker and host.

Used to keep one event model: batches run in parallel, but each assigns its articles to
events (load the state, assign in arrival order, save) while holding the ``events``
lease, so no two batches ever assign against diverging copies of the state. The lease
document is written with optimistic concurrency; a holder that died leaves a lease that
expires after ``ttl`` seconds, and the same owner (a retried task) takes it back at once.
The lease is only ever read by id, which is real-time, so its writes need no refresh.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta, timezone
from types import TracebackType

from elasticsearch import BadRequestError, ConflictError, Elasticsearch, NotFoundError

from rasad.core.es import replica_count, single_index
from rasad.core.records import parse_iso, utc_iso
from rasad.core.settings import Settings

log = logging.getLogger(__name__)


def ensure_locks_index(es: Elasticsearch, settings: Settings) -> bool:
    """Create the leases' index with this cluster's replica count; True if it was made now.

    No template covers it, so left to the first write it would get Elasticsearch's default of
    one replica: a single node would stay yellow, and a 0-replica setting would not apply.
    """
    index = single_index(settings, "locks")
    if es.indices.exists(index=index):
        return False
    try:
        es.indices.create(index=index, settings={"number_of_shards": 1,
                                                 "number_of_replicas": replica_count(es, settings)})  # fmt: skip
    except BadRequestError as e:
        if "resource_already_exists" not in str(e):
            raise
        return False  # created meanwhile by another worker
    return True


class LeaseTimeout(TimeoutError):
    """The lease stayed held by someone else for longer than we may wait (transient)."""


class Lease:
    """``with Lease(es, settings, "events", owner):`` holds the lease for the block."""

    def __init__(self, es: Elasticsearch, settings: Settings, name: str, owner: str, ttl: float = 300.0,
                 wait: float = 600.0, poll: float = 0.2):  # fmt: skip
        self.es, self.name, self.owner, self.settings = es, name, owner, settings
        self.index = single_index(settings, "locks")
        self.ttl, self.wait, self.poll = ttl, wait, poll
        self.waited = 0.0

    def _try(self) -> bool:
        now = datetime.now(timezone.utc)
        doc = {"name": self.name, "owner": self.owner, "until": utc_iso(now + timedelta(seconds=self.ttl)),
               "taken_at": utc_iso(now)}  # fmt: skip
        try:
            cur = self.es.get(index=self.index, id=self.name)
        except NotFoundError:
            try:
                self.es.create(index=self.index, id=self.name, document=doc)
                return True
            except ConflictError:
                return False
        src = cur["_source"]
        until = parse_iso(src.get("until"))
        if src.get("owner") != self.owner and until is not None and until > now:
            return False
        try:
            self.es.index(index=self.index, id=self.name, document=doc, if_seq_no=cur["_seq_no"],
                          if_primary_term=cur["_primary_term"])  # fmt: skip
            return True
        except ConflictError:
            return False

    def acquire(self) -> None:
        """Wait until the lease is ours (raises ``LeaseTimeout`` after ``wait`` seconds)."""
        t0 = time.monotonic()
        ensure_locks_index(self.es, self.settings)
        while not self._try():
            if time.monotonic() - t0 > self.wait:
                raise LeaseTimeout(f"lease {self.name!r} still held by another worker after {self.wait:.0f}s")
            time.sleep(self.poll)
        self.waited = time.monotonic() - t0

    def release(self) -> None:
        """Give the lease up if we still hold it."""
        try:
            cur = self.es.get(index=self.index, id=self.name)
            if cur["_source"].get("owner") == self.owner:
                self.es.delete(index=self.index, id=self.name, if_seq_no=cur["_seq_no"],
                               if_primary_term=cur["_primary_term"])  # fmt: skip
        except (NotFoundError, ConflictError):
            pass  # expired and taken by someone else, or already gone

    def __enter__(self) -> Lease:
        self.acquire()
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.release()

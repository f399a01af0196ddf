"""The durable work queue between feed watching and processing, kept in Elasticsearch.

Every new feed item becomes one queue document whose ``_id`` is derived from the item
(canonical URL), written with ``create``: a second poll, a second watcher or a replay
finds it already there and adds nothing. Batches claim items with a lease under
optimistic concurrency (``if_seq_no``/``if_primary_term``), so two workers never hold the
same item. The worker renews the lease while it works on a batch (:class:`ClaimKeeper`, a
heartbeat), so the lease can be short: a claim whose worker died, or whose tasks all failed
while Elasticsearch was down and so could hand nothing back, is free again once its lease
runs out, minutes later, not after the longest batch anyone might run. An item
ends ``done`` (with its outcome and article id) or ``failed`` (with the reason); an item
whose page failed transiently goes back to ``new`` with a ``not_before`` time.

Lifecycle: new -> claimed -> done | failed, and claimed -> new (retry later).
Alerting is acknowledged separately (``alerted``), so a run that died between indexing
and mailing leaves its articles visible to the next run's alert step.

Elasticsearch being unreachable is not handled here: the caller's task fails and, since
nothing was acknowledged, its retry (or the next run) does the work again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import urlsplit

from elasticsearch import Elasticsearch, NotFoundError, helpers

from rasad.core.es import single_index
from rasad.core.records import article_id, parse_iso, utc_iso
from rasad.core.settings import Settings

log = logging.getLogger(__name__)

NEW, CLAIMED, DONE, FAILED = "new", "claimed", "done", "failed"
MAX_ATTEMPTS = 5  # transient page failures before an item is given up
PAGE_SIZE = 1000

MAPPING: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "state": {"type": "keyword"},
        "key": {"type": "keyword"},  # the document id again: a sort tie-breaker (sorting on _id is refused)
        "feed_id": {"type": "keyword"},
        "host": {"type": "keyword"},
        "batch": {"type": "keyword"},
        "lease_until": {"type": "date"},
        "not_before": {"type": "date"},
        "attempts": {"type": "integer"},
        "enqueued_at": {"type": "date"},
        "published": {"type": "date"},
        "claimed_at": {"type": "date"},
        "done_at": {"type": "date"},
        "outcome": {"type": "keyword"},
        "reason": {"type": "keyword", "ignore_above": 2000},
        "article_id": {"type": "keyword"},
        "alerted": {"type": "boolean"},
        "alerted_at": {"type": "date"},
        # The feed item as the feed gave it; read back, never searched.
        "item": {"type": "object", "enabled": False},
    },
}


class QueueError(RuntimeError):
    """A queue write was refused for a reason other than a conflict (names the item)."""


def queue_id(canonical_url: str) -> str:
    """The queue document id of an item: its article id, so one URL is one piece of work."""
    return article_id(canonical_url)


def fallback_id(feed_id: str, link: str) -> str:
    """Id for an item whose URL cannot be canonicalised (it is queued to be failed with a reason)."""
    return "raw-" + hashlib.sha256(f"{feed_id}\n{link}".encode()).hexdigest()[:32]


@dataclass
class QueueEntry:
    """One queued item as read back for processing (with its version, for the next write)."""

    id: str
    source: dict[str, Any]
    seq_no: int
    primary_term: int

    @property
    def item(self) -> dict[str, Any]:
        return self.source.get("item") or {}


@dataclass
class Batch:
    """A claimed batch: its id and how many items and hosts it holds (what XCom carries)."""

    id: str
    items: int
    hosts: int

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class QueueCounts:
    by_state: dict[str, int] = field(default_factory=dict)
    oldest_new: str | None = None
    unalerted: int = 0


def _host(link: str) -> str:
    try:
        return (urlsplit(link).hostname or "").lower()
    except ValueError:
        return ""


class WorkQueue:
    """The queue index: enqueue, claim, complete, retry, and the alert acknowledgement."""

    def __init__(self, es: Elasticsearch, settings: Settings):
        self.es = es
        self.s = settings
        self.index = single_index(settings, "queue")
        self._ensured = False

    def ensure(self) -> None:
        """Create the queue index if missing (idempotent; replicas from the settings)."""
        if self._ensured:
            return
        if not self.es.indices.exists(index=self.index):
            try:
                from rasad.core.es import replica_count  # noqa: PLC0415

                self.es.indices.create(index=self.index, mappings=MAPPING, settings={
                    "number_of_shards": 1, "number_of_replicas": replica_count(self.es, self.s)})  # fmt: skip
            except Exception as e:  # created meanwhile by another worker
                if "resource_already_exists" not in str(e):
                    raise
        self._ensured = True

    # -- producing ----------------------------------------------------------------------
    def enqueue(self, entries: list[tuple[str, dict[str, Any]]], now: datetime) -> tuple[int, int]:
        """Write new items (id, item dict) with ``create``; returns (added, already known).

        Raises on anything but a conflict, so the caller does not advance a feed's validators
        over items that are not durable yet.
        """
        if not entries:
            return 0, 0
        self.ensure()
        at = utc_iso(now)
        actions = [
            {"_op_type": "create", "_index": self.index, "_id": qid,
             "_source": {"state": NEW, "key": qid, "feed_id": item.get("feed_id"), "host": _host(item.get("link") or ""),
                         "attempts": int(item.get("attempts") or 0), "enqueued_at": at, "not_before": at,
                         "published": item.get("published"), "alerted": False, "item": item}}
            for qid, item in entries
        ]  # fmt: skip
        added = known = 0
        for ok, info in helpers.streaming_bulk(self.es, actions, raise_on_error=False, raise_on_exception=True,
                                               max_retries=3, initial_backoff=0.5, chunk_size=500):  # fmt: skip
            res = info.get("create", {})
            if ok:
                added += 1
            elif res.get("status") == 409:
                known += 1
            else:
                raise QueueError(f"queue write refused for item {res.get('_id')}: {res.get('error')}")
        self.es.indices.refresh(index=self.index)
        return added, known

    # -- claiming -----------------------------------------------------------------------
    def _claimable_query(self, now: datetime) -> dict[str, Any]:
        at = utc_iso(now)
        return {"bool": {"should": [
            {"bool": {"filter": [{"term": {"state": NEW}}, {"range": {"not_before": {"lte": at}}}]}},
            # A claim whose worker died (no completion before its lease ran out) is free again.
            {"bool": {"filter": [{"term": {"state": CLAIMED}}, {"range": {"lease_until": {"lt": at}}}]}},
        ], "minimum_should_match": 1}}  # fmt: skip

    def has_claimable(self, now: datetime) -> bool:
        """Whether anything is claimable now (one count; a missing queue index holds nothing)."""
        try:
            return self.es.count(index=self.index, query=self._claimable_query(now))["count"] > 0
        except NotFoundError:
            return False

    def _search(self, query: dict[str, Any], size: int, sort: list | None = None,
                fields: list[str] | None = None) -> list[QueueEntry]:  # fmt: skip
        """Entries matching ``query`` in ``sort`` order; ``fields``: read only these of each source."""
        self.ensure()
        out: list[QueueEntry] = []
        search_after = None
        sort = sort or [{"enqueued_at": "asc"}, {"key": "asc"}]
        while len(out) < size:
            kw: dict[str, Any] = {"index": self.index, "query": query, "size": min(PAGE_SIZE, size - len(out)),
                                  "sort": sort, "seq_no_primary_term": True}  # fmt: skip
            if fields is not None:
                kw["source_includes"] = fields
            if search_after:
                kw["search_after"] = search_after
            hits = self.es.search(**kw)["hits"]["hits"]
            out += [QueueEntry(h["_id"], h.get("_source") or {}, h["_seq_no"], h["_primary_term"]) for h in hits]
            if len(hits) < kw["size"]:
                break
            search_after = hits[-1]["sort"]
        return out

    def _write_versioned(self, updates: list[tuple[QueueEntry, dict[str, Any]]],
                         partial: bool = False, refresh: bool = True) -> list[QueueEntry]:  # fmt: skip
        """Write each entry's new source (``partial``: merge these fields into it) if nobody changed it
        since it was read; return those written (``refresh``: make them searchable at once)."""
        if not updates:
            return []
        op = "update" if partial else "index"
        actions = [{"_op_type": op, "_index": self.index, "_id": e.id, ("doc" if partial else "_source"): src,
                    "if_seq_no": e.seq_no, "if_primary_term": e.primary_term} for e, src in updates]  # fmt: skip
        by_id = {e.id: (e, src) for e, src in updates}
        written: list[QueueEntry] = []
        for ok, info in helpers.streaming_bulk(self.es, actions, raise_on_error=False, raise_on_exception=True,
                                               max_retries=3, initial_backoff=0.5, chunk_size=500):  # fmt: skip
            res = info.get(op, {})
            if ok:
                e, src = by_id[res["_id"]]
                written.append(QueueEntry(e.id, src, res["_seq_no"], res["_primary_term"]))
            elif res.get("status") != 409:  # 409: another worker got there first, it is theirs
                raise QueueError(f"queue update refused for item {res.get('_id')}: {res.get('error')}")
        if refresh:
            self.es.indices.refresh(index=self.index)
        return written

    def keep(self, entries: list[QueueEntry], lease_seconds: float, now: datetime) -> ClaimKeeper:
        """Renew ``entries``' claim in the background until :meth:`ClaimKeeper.stop` (started)."""
        keeper = ClaimKeeper(self, entries, lease_seconds, now)
        keeper.start()
        return keeper

    def claim(self, batch_prefix: str, now: datetime, max_items: int, batch_size: int,
              lease_seconds: int) -> list[Batch]:  # fmt: skip
        """Claim up to ``max_items`` claimable items and split them into batches grouped by host.

        A host's items stay in one batch, so per-host politeness holds inside one task.
        Batch ids are ``<batch_prefix>-<n>``: a retried planning task with the same prefix
        claims anew, and its batches are found by id.
        """
        found = self._search(self._claimable_query(now), max_items)
        if not found:
            return []
        by_host: dict[str, list[QueueEntry]] = {}
        for e in found:
            by_host.setdefault(e.source.get("host") or "", []).append(e)
        groups: list[list[str]] = []  # bins of hosts, filled largest host first
        sizes: list[int] = []
        for host in sorted(by_host, key=lambda h: (-len(by_host[h]), h)):
            n = len(by_host[host])
            for i, sz in enumerate(sizes):
                if sz + n <= batch_size:
                    groups[i].append(host)
                    sizes[i] += n
                    break
            else:
                groups.append([host])
                sizes.append(n)
        lease = utc_iso(now + timedelta(seconds=lease_seconds))
        updates = []
        batch_of: dict[str, str] = {}
        for i, hosts in enumerate(groups):
            bid = f"{batch_prefix}-{i}"
            for h in hosts:
                for e in by_host[h]:
                    batch_of[e.id] = bid
                    updates.append((e, {**e.source, "state": CLAIMED, "batch": bid, "lease_until": lease,
                                        "claimed_at": utc_iso(now)}))  # fmt: skip
        written = self._write_versioned(updates)
        counts: dict[str, list[str]] = {}
        for e in written:
            counts.setdefault(batch_of[e.id], []).append(e.source.get("host") or "")
        return [Batch(bid, len(hs), len(set(hs))) for bid, hs in sorted(counts.items())]

    def batch_entries(self, batch_id: str) -> list[QueueEntry]:
        """The items a batch still holds (claimed by it and not yet completed)."""
        q = {"bool": {"filter": [{"term": {"batch": batch_id}}, {"term": {"state": CLAIMED}}]}}
        return self._search(q, 100_000)

    @staticmethod
    def held_query(batch_prefix: str) -> dict[str, Any]:
        """Items the batches named ``<batch_prefix>...`` still hold."""
        return {"bool": {"filter": [{"prefix": {"batch": batch_prefix}}, {"term": {"state": CLAIMED}}]}}

    def release_run(self, batch_prefix: str, now: datetime) -> int:
        """Hand back what a run's batches still hold (their tasks failed for good): claimable at once."""
        held = self._search(self.held_query(batch_prefix), 100_000)
        at = utc_iso(now)
        return len(self._write_versioned([(e, {**e.source, "state": NEW, "batch": None, "lease_until": None,
                                               "not_before": at}) for e in held]))  # fmt: skip

    # -- completing ---------------------------------------------------------------------
    def complete(self, done: list[tuple[QueueEntry, str, str | None, str | None]], now: datetime) -> int:
        """Mark entries done: (entry, outcome, article id or None, reason or None)."""
        at = utc_iso(now)
        ups = [(e, {**e.source, "state": DONE, "outcome": outcome, "article_id": aid, "reason": reason,
                    "done_at": at, "lease_until": None, "alerted": e.source.get("alerted", False)})
               for e, outcome, aid, reason in done]  # fmt: skip
        return len(self._write_versioned(ups))

    def retry_later(self, entries: list[tuple[QueueEntry, str]], now: datetime, base_delay: float = 30.0) -> tuple[int, int]:
        """Put transiently failed entries back (with backoff), or fail those out of attempts.

        Returns (requeued, given up).
        """
        at = utc_iso(now)
        ups = []
        gave_up = 0
        for e, reason in entries:
            attempts = int(e.source.get("attempts") or 0) + 1
            if attempts >= MAX_ATTEMPTS:
                gave_up += 1
                ups.append((e, {**e.source, "state": FAILED, "attempts": attempts, "reason": reason,
                                "outcome": "fetch_error", "done_at": at, "lease_until": None}))  # fmt: skip
            else:
                nb = utc_iso(now + timedelta(seconds=base_delay * (2 ** (attempts - 1))))
                ups.append((e, {**e.source, "state": NEW, "attempts": attempts, "reason": reason,
                                "not_before": nb, "batch": None, "lease_until": None}))  # fmt: skip
        self._write_versioned(ups)
        return len(ups) - gave_up, gave_up

    def fail(self, entries: list[tuple[QueueEntry, str, str]], now: datetime) -> int:
        """Mark entries failed for good: (entry, outcome, reason)."""
        at = utc_iso(now)
        ups = [(e, {**e.source, "state": FAILED, "outcome": outcome, "reason": reason, "done_at": at,
                    "lease_until": None}) for e, outcome, reason in entries]  # fmt: skip
        return len(self._write_versioned(ups))

    # -- alert acknowledgement ----------------------------------------------------------
    UNALERTED: ClassVar[dict[str, Any]] = {"bool": {"filter": [{"term": {"state": DONE}}, {"term": {"alerted": False}},
                                                               {"exists": {"field": "article_id"}}]}}  # fmt: skip

    def unalerted(self, limit: int = 10_000) -> list[QueueEntry]:
        """Done items with an article that the alert step has not acknowledged yet (oldest first).

        Only each entry's ``article_id`` is read (with its version, for :meth:`mark_alerted`): a
        long cycle leaves thousands, and their feed items would make the alert step's memory grow
        with the cycle's length."""
        return self._search(self.UNALERTED, limit, sort=[{"done_at": "asc"}, {"key": "asc"}], fields=["article_id"])

    def mark_alerted(self, entries: list[QueueEntry], now: datetime) -> int:
        """Acknowledge that the alert step handled these items (each only if unchanged since it was read)."""
        at = utc_iso(now)
        done = {"alerted": True, "alerted_at": at}
        return len(self._write_versioned([(e, done) for e in entries], partial=True))

    # -- reporting and retention --------------------------------------------------------
    def counts(self) -> QueueCounts:
        """How many items are in each state (for the maintenance report and `rasad queue status`)."""
        self.ensure()
        res = self.es.search(index=self.index, size=0, aggs={
            "states": {"terms": {"field": "state", "size": 10}},
            "oldest_new": {"filter": {"term": {"state": NEW}}, "aggs": {"t": {"min": {"field": "enqueued_at"}}}},
            "unalerted": {"filter": {"bool": {"filter": [{"term": {"state": DONE}}, {"term": {"alerted": False}},
                                                         {"exists": {"field": "article_id"}}]}}},
        })  # fmt: skip
        aggs = res["aggregations"]
        oldest = aggs["oldest_new"]["t"].get("value_as_string")
        return QueueCounts({b["key"]: b["doc_count"] for b in aggs["states"]["buckets"]}, oldest,
                           aggs["unalerted"]["doc_count"])  # fmt: skip

    def failures(self, limit: int = 50) -> list[dict[str, Any]]:
        """The most recent failed items with their reasons."""
        hits = self._search({"term": {"state": FAILED}}, limit, sort=[{"done_at": "desc"}, {"key": "asc"}])
        return [{"id": e.id, "feed_id": e.source.get("feed_id"), "link": e.item.get("link"),
                 "outcome": e.source.get("outcome"), "reason": e.source.get("reason")} for e in hits]  # fmt: skip

    def purge(self, before: datetime) -> int:
        """Delete finished items older than ``before`` (no delete-by-query: search, then bulk delete).

        Forgetting an old item is safe: the articles index still knows its URL.
        """
        q = {"bool": {"filter": [{"terms": {"state": [DONE, FAILED]}}, {"range": {"done_at": {"lt": utc_iso(before)}}},
                                 {"bool": {"should": [{"term": {"alerted": True}}, {"term": {"state": FAILED}},
                                                      {"bool": {"must_not": {"exists": {"field": "article_id"}}}}]}}]}}  # fmt: skip
        deleted = 0
        while True:
            hits = self._search(q, PAGE_SIZE)
            if not hits:
                return deleted
            ok, _ = helpers.bulk(self.es, [{"_op_type": "delete", "_index": self.index, "_id": e.id} for e in hits],
                                 raise_on_error=False)  # fmt: skip
            deleted += ok
            self.es.indices.refresh(index=self.index)
            if ok == 0:
                return deleted

    def get(self, qid: str) -> dict[str, Any] | None:
        """One queue document's source, or None."""
        try:
            return self.es.get(index=self.index, id=qid)["_source"]
        except NotFoundError:
            return None


class ClaimKeeper:
    """A worker's heartbeat on the items of the batch it works on: every third of the lease it
    moves their ``lease_until`` on to a full lease from now.

    It renews the very ``QueueEntry`` objects the worker acknowledges with, in place (new
    ``seq_no``/``primary_term``), so the worker's own closing writes never conflict with its
    heartbeat; the worker stops the keeper before them. A renewal that fails (Elasticsearch
    unreachable) is logged and tried again at the next beat: the claim then runs out on its
    own, which is the point. An entry that another run took meanwhile (a 409: our lease had
    run out) is left to that run; the worker's writes for it are refused the same way.

    Times follow the clock the batch was claimed with (``now`` plus the time elapsed), so a
    caller that claims at a fixed ``now`` renews on the same scale.
    """

    def __init__(self, queue: WorkQueue, entries: list[QueueEntry], lease_seconds: float, now: datetime) -> None:
        self.q, self.entries, self.lease = queue, entries, float(lease_seconds)
        self._base, self._t0 = now, time.monotonic()
        self.interval = max(1.0, self.lease / 3)
        self.renewals = 0
        self.lost: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="claim-keeper", daemon=True)

    def start(self) -> None:
        if self.entries:
            self._thread.start()

    def renew(self) -> int:
        """One beat: extend every still-held entry's lease; returns how many were renewed."""
        until = utc_iso(self._base + timedelta(seconds=time.monotonic() - self._t0 + self.lease))
        held = [e for e in self.entries if e.id not in self.lost]
        written = {w.id: w for w in self.q._write_versioned(
            [(e, {**e.source, "lease_until": until}) for e in held], refresh=False)}  # fmt: skip
        for e in held:
            w = written.get(e.id)
            if w is None:
                self.lost.add(e.id)
                log.warning("claim on queue item %s was taken over by another run after its lease ran out", e.id)
                continue
            e.source, e.seq_no, e.primary_term = w.source, w.seq_no, w.primary_term
        self.renewals += 1
        return len(written)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.renew()
            except Exception as e:  # a missed beat is retried; the lease runs out if they all miss
                log.warning("could not renew the claim on %d queue item(s): %s", len(self.entries), e)

    def stop(self) -> None:
        """No more renewals (waits for one in flight): the worker's own writes may follow."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()


def item_published(entry: QueueEntry) -> datetime | None:
    """The item's feed date (for ordering and reports)."""
    return parse_iso(entry.item.get("published"))

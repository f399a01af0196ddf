"""What ingest needs to remember, kept in Elasticsearch so every worker and every run sees it.

Feed polling state (validators for conditional GET, health, backoff) and the look-ups
dedup needs against already stored articles (ids, GUIDs, content hashes, near-duplicate
bands). Ingest only reads articles; the indexing stage writes them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from elasticsearch import Elasticsearch, NotFoundError, helpers

from rasad.core.es import single_index
from rasad.core.records import parse_iso, utc_iso
from rasad.core.settings import Settings

log = logging.getLogger(__name__)

HEALTH_OK = "ok"
HEALTH_FAILING = "failing"  # failing, backing off, still polled
HEALTH_FLAGGED = "flagged"  # failed feed_flag_after times in a row: needs a person
HEALTH_NEW = "new"
LOOKUP_CHUNK = 1000  # ids/terms per look-up query (well under index.max_result_window)
UNION_CAP = 2000  # stored articles one near-duplicate union search may return (else: a search per article)


def _chunks(values: list[str], size: int = LOOKUP_CHUNK) -> Iterator[list[str]]:
    for i in range(0, len(values), size):
        yield values[i : i + size]


@dataclass
class FeedState:
    feed_id: str
    url: str = ""
    name: str = ""
    etag: str | None = None
    last_modified: str | None = None
    last_polled: str | None = None
    last_success: str | None = None
    last_error: str | None = None
    last_error_kind: str | None = None
    consecutive_failures: int = 0
    next_poll: str | None = None
    items_seen: int = 0
    new_articles: int = 0
    health: str = HEALTH_NEW
    updated_at: str | None = None
    # Items whose page download failed transiently, as FeedItem dicts: retried at the next
    # poll even when the feed answers 304 (the validators were already saved by then).
    pending_items: list[dict] = field(default_factory=list)

    def due(self, now: datetime) -> bool:
        """Whether the feed should be polled at ``now``."""
        nxt = parse_iso(self.next_poll)
        return nxt is None or now >= nxt


# A 304 moves only a feed's clock. A poller that keeps its schedule in memory (the watcher)
# saves the clock only when something else changed or the stored one is this old: an idle
# cycle then writes nothing. The stored clock lags by at most this much, so after a restart
# a feed is polled early at most once (never late), and the maintenance report's "overdue
# for an hour" still means nobody polls it.
CLOCK_REFRESH = timedelta(minutes=10)
CLOCK_FIELDS = frozenset({"last_polled", "last_success", "next_poll", "updated_at"})
_NON_CLOCK_FIELDS = tuple(f.name for f in dataclasses.fields(FeedState) if f.name not in CLOCK_FIELDS)


def state_needs_saving(stored: FeedState, new: FeedState, now: datetime, refresh: timedelta | None) -> bool:
    """Whether a poll's new state must be written (``refresh`` None: always; else see CLOCK_REFRESH)."""
    if refresh is None:
        return True
    if any(getattr(stored, name) != getattr(new, name) for name in _NON_CLOCK_FIELDS):
        return True
    polled = parse_iso(stored.last_polled)
    return polled is None or now - polled >= refresh


def backoff_seconds(failures: int, interval: int, cap: int) -> int:
    """Delay before the next poll after ``failures`` consecutive failures (exponential, capped)."""
    if failures <= 0:
        return interval
    return int(min(cap, interval * (2 ** min(failures, 30))))


def record_success(state: FeedState, now: datetime, interval: int, etag: str | None,
                   last_modified: str | None, items: int, new: int) -> FeedState:  # fmt: skip
    """State after a successful poll (also after a 304); the validators given replace the stored ones."""
    return dataclasses.replace(
        state,
        etag=etag,
        last_modified=last_modified,
        last_polled=utc_iso(now),
        last_success=utc_iso(now),
        consecutive_failures=0,
        next_poll=utc_iso(now + timedelta(seconds=interval)),
        items_seen=state.items_seen + items,
        new_articles=state.new_articles + new,
        health=HEALTH_OK,
        updated_at=utc_iso(now),
    )


def record_failure(state: FeedState, now: datetime, interval: int, kind: str, reason: str,
                   cap: int, flag_after: int, retry_after: float | None = None) -> FeedState:  # fmt: skip
    """State after a failed poll: back off exponentially; flag (never drop) a feed that keeps failing.

    A server's Retry-After is honoured even beyond the cap: coming back earlier only earns another 429.
    """
    failures = state.consecutive_failures + 1
    delay = backoff_seconds(failures, interval, cap)
    if retry_after is not None:
        delay = max(delay, int(min(retry_after, 7 * 86400)))
    return dataclasses.replace(
        state,
        last_polled=utc_iso(now),
        last_error=reason[:2000],
        last_error_kind=kind,
        consecutive_failures=failures,
        next_poll=utc_iso(now + timedelta(seconds=delay)),
        health=HEALTH_FLAGGED if failures >= flag_after else HEALTH_FAILING,
        updated_at=utc_iso(now),
    )


class IngestStore:
    """Elasticsearch-backed feed state and article look-ups for dedup."""

    def __init__(self, es: Elasticsearch, settings: Settings):
        self.es = es
        self.s = settings
        self.feeds_index = single_index(settings, "feeds")
        self.articles_alias = settings.index("articles")

    # ------------------------------------------------------------ feed state
    def load_states(self, feed_ids: list[str]) -> dict[str, FeedState]:
        """Stored state of each feed (a fresh state for feeds never polled)."""
        out = {fid: FeedState(feed_id=fid) for fid in feed_ids}
        names = {f.name for f in dataclasses.fields(FeedState)}
        for chunk in _chunks(list(dict.fromkeys(feed_ids))):
            try:
                res = self.es.mget(index=self.feeds_index, ids=chunk)
            except NotFoundError:
                return out  # no feed polled yet on this cluster
            for doc in res["docs"]:
                if doc.get("found"):
                    src = {k: v for k, v in doc["_source"].items() if k in names}
                    out[doc["_id"]] = FeedState(**src)
        return out

    def save_state(self, state: FeedState) -> None:
        """Write one feed's state (idempotent: keyed by feed id)."""
        self.es.index(index=self.feeds_index, id=state.feed_id, document=dataclasses.asdict(state))

    def save_states(self, states: list[FeedState]) -> None:
        """Write many feed states in one bulk request and make them visible at once."""
        if not states:
            return
        actions = [{"_op_type": "index", "_index": self.feeds_index, "_id": st.feed_id,
                    "_source": dataclasses.asdict(st)} for st in states]  # fmt: skip
        _, failed = helpers.bulk(self.es, actions, raise_on_error=False, max_retries=3, initial_backoff=0.5)
        if failed:  # with raise_on_error=False: the refused actions
            raise RuntimeError(f"feed state write refused: {failed[:3] if isinstance(failed, list) else failed}")
        self.refresh_states()

    def add_new_articles(self, counts: dict[str, int]) -> None:
        """Add each feed's new-article count of a fetch run to its state.

        Read-modify-write guarded by each document's sequence number (not a script: clusters
        without the painless module, like the local test node, refuse scripts), for all the
        batch's feeds in one mget and one bulk; a feed another worker saved meanwhile (409) is
        read and written again.
        """
        pending = {f: n for f, n in counts.items() if n > 0}
        for _ in range(5):
            if not pending:
                return
            try:
                docs = self.es.mget(index=self.feeds_index, ids=list(pending))["docs"]
            except NotFoundError:
                return  # no feed state stored at all (items fed in by hand)
            ops: list[dict[str, Any]] = []
            for d in docs:
                if not d.get("found"):
                    continue  # items fed in by hand, from a feed never polled: nothing to count against
                src = dict(d["_source"])
                src["new_articles"] = int(src.get("new_articles") or 0) + pending[d["_id"]]
                ops += [{"index": {"_index": d["_index"], "_id": d["_id"], "if_seq_no": d["_seq_no"],
                                   "if_primary_term": d["_primary_term"]}}, src]  # fmt: skip
            if not ops:
                return
            again: dict[str, int] = {}
            for item in self.es.bulk(operations=ops)["items"]:
                r = item["index"]
                if r.get("status") == 409:
                    again[r["_id"]] = pending[r["_id"]]  # saved by another worker meanwhile: read again
                elif r.get("error"):
                    log.warning("feed %s: new-article count not saved: %s", r["_id"], r["error"])
            pending = again

    def refresh_states(self) -> None:
        """Make the states just saved visible to searches (`rasad feeds status`, dashboards) at once."""
        with contextlib.suppress(NotFoundError):  # no feed saved yet: nothing to show
            self.es.indices.refresh(index=self.feeds_index)

    def all_states(self) -> list[FeedState]:
        """Every stored feed state, for `rasad feeds status`."""
        try:
            res = self.es.search(index=self.feeds_index, size=10000, sort=[{"feed_id": "asc"}])
        except NotFoundError:
            return []
        names = {f.name for f in dataclasses.fields(FeedState)}
        return [FeedState(**{k: v for k, v in h["_source"].items() if k in names}) for h in res["hits"]["hits"]]

    # ------------------------------------------------------------ article look-ups
    def _search(self, query: dict, size: int, fields: list[str]) -> list[dict[str, Any]]:
        try:
            res = self.es.search(index=self.articles_alias, query=query, size=size, source={"includes": fields},
                                 ignore_unavailable=True, allow_no_indices=True)  # fmt: skip
        except NotFoundError:
            return []
        return [h["_source"] | {"_id": h["_id"]} for h in res["hits"]["hits"]]

    def existing_ids(self, ids: list[str]) -> set[str]:
        """Which of these article ids are already stored."""
        out: set[str] = set()
        for chunk in _chunks(list(dict.fromkeys(ids))):
            out |= {h["_id"] for h in self._search({"ids": {"values": chunk}}, len(chunk), ["id"])}
        return out

    def known_guids_many(self, guids_by_feed: dict[str, list[str]]) -> set[tuple[str, str]]:
        """Which GUIDs of these feeds are already stored, as (feed id, GUID) pairs.

        One search per ``LOOKUP_CHUNK`` pairs instead of one per feed (a batch holds dozens of
        feeds, and each search has a fixed cost on the node). A pair crowded out of the hits (a
        GUID stored on very many articles) is only downloaded again: the article id and the
        content hash still find it.
        """
        pairs = [(f, g) for f, gs in guids_by_feed.items() for g in dict.fromkeys(gs)]
        out: set[tuple[str, str]] = set()
        for i in range(0, len(pairs), LOOKUP_CHUNK):
            chunk = pairs[i : i + LOOKUP_CHUNK]
            feeds: dict[str, list[str]] = {}
            for f, g in chunk:
                feeds.setdefault(f, []).append(g)
            q = {"bool": {"should": [{"bool": {"filter": [{"term": {"feed_id": f}}, {"terms": {"guid": gs}}]}}
                                     for f, gs in feeds.items()], "minimum_should_match": 1}}  # fmt: skip
            wanted = set(chunk)
            for h in self._search(q, min(10_000, len(chunk) * 2), ["feed_id", "guid"]):
                pair = (h.get("feed_id"), h.get("guid"))
                if pair in wanted:
                    out.add(pair)
        return out

    def by_content_hash(self, hashes: list[str]) -> dict[str, dict[str, Any]]:
        """Stored articles (id, source) with these exact content hashes; the original wins over its copies."""
        out: dict[str, dict[str, Any]] = {}
        for chunk in _chunks(list(dict.fromkeys(hashes))):
            hits = self._search({"terms": {"content_hash": chunk}}, len(chunk) * 3,
                                ["id", "source", "content_hash", "duplicate_of"])  # fmt: skip
            for h in hits:
                prev = out.get(h["content_hash"])
                if prev is None or (prev.get("duplicate_of") and not h.get("duplicate_of")):
                    out[h["content_hash"]] = h
        return out

    def near_candidates_many(self, band_lists: list[list[str]], since: datetime) -> list[list[dict[str, Any]]]:
        """Per article (its LSH bands), the stored articles fetched after ``since`` sharing a band with it.

        One search per 100 articles, over all their bands: each search has a fixed cost on the
        node (parse, rewrite, a fetch phase) that a filter over 16 terms does not amortise, and
        a search per article cost the node ~4 ms of CPU an article (bench/bench_e2e.py). The
        union finds every stored article sharing a band with any of the 100, each fetched once;
        each article's candidates are then picked by their bands (the first 50 in index order,
        as a search of its own gives). A union matching more than ``UNION_CAP`` stored articles
        (a band very many share) falls back to one search per article.
        """
        out: list[list[dict[str, Any]]] = []
        fields = ["id", "source", "minhash", "duplicate_of", "fetched_at", "minhash_bands"]
        for i in range(0, len(band_lists), 100):
            chunk = band_lists[i : i + 100]
            union = sorted({b for bands in chunk for b in bands})
            if not union:
                out += [[] for _ in chunk]
                continue
            query = _near_query(union, since)
            try:
                res = self.es.search(index=self.articles_alias, query=query, size=UNION_CAP, source={"includes": fields},
                                     track_total_hits=UNION_CAP + 1, sort=["_doc"], ignore_unavailable=True,
                                     allow_no_indices=True)  # fmt: skip
            except NotFoundError:
                out += [[] for _ in chunk]
                continue
            if res["hits"]["total"]["value"] > UNION_CAP:
                out += self._near_candidates_each(chunk, since)
                continue
            hits = [h["_source"] | {"_id": h["_id"]} for h in res["hits"]["hits"]]
            by_band: dict[str, list[int]] = {}
            for k, h in enumerate(hits):
                for band in h.pop("minhash_bands", None) or []:
                    by_band.setdefault(band, []).append(k)
            for bands in chunk:
                picked = sorted({k for band in bands for k in by_band.get(band, ())})[:50]
                out.append([hits[k] for k in picked])
        return out

    def _near_candidates_each(self, band_lists: list[list[str]], since: datetime) -> list[list[dict[str, Any]]]:
        """One search per article (msearch): the fallback when a union search matches too many."""
        fields = ["id", "source", "minhash", "duplicate_of", "fetched_at"]
        searches: list[dict[str, Any]] = []
        for bands in band_lists:
            searches.append({"index": self.articles_alias, "ignore_unavailable": True, "allow_no_indices": True})
            searches.append({"size": 50 if bands else 0, "_source": fields, "sort": ["_doc"],
                             "query": _near_query(bands or ["-"], since)})  # fmt: skip
        res = self.es.msearch(searches=searches)
        out = []
        for r in res["responses"]:
            hits = r.get("hits", {}).get("hits", []) if "error" not in r else []
            out.append([h["_source"] | {"_id": h["_id"]} for h in hits])
        return out


def _near_query(bands: list[str], since: datetime) -> dict[str, Any]:
    """Stored articles sharing one of these LSH bands, fetched after ``since``."""
    return {"bool": {"filter": [{"terms": {"minhash_bands": bands}}, {"range": {"fetched_at": {"gte": utc_iso(since)}}}]}}


def utcnow() -> datetime:
    """Current time in UTC (one place, so a run can be given a fixed clock)."""
    return datetime.now(timezone.utc)

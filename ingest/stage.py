"""The ingest stage: due feeds -> new feed items -> downloaded, cleaned, de-duplicated Articles.

``poll_feeds`` and ``fetch_articles`` are what both the Airflow DAG and ``rasad run``
call. One bad feed or page never stops the others: each failure is recorded with its
kind and reason, and every item ends with exactly one outcome in the report.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from rasad.core import records
from rasad.core.records import Article, article_id, parse_iso, utc_iso
from rasad.ingest.dedup import NEAR_DUP_JACCARD, content_hash, minhash_from_stored, minhash_text, title_hash
from rasad.ingest.extract.article import extract_article
from rasad.ingest.extract.model import Extracted, FeedHints
from rasad.ingest.feeds import FeedItem, FeedSpec, parse_feed
from rasad.ingest.http.client import HttpClient
from rasad.ingest.http.result import FetchError
from rasad.ingest.store import (
    FeedState,
    IngestStore,
    record_failure,
    record_success,
    state_needs_saving,
    utcnow,
)
from rasad.ingest.urls import URLError, canonicalize_url

if TYPE_CHECKING:
    from rasad.ingest.queue import WorkQueue

log = logging.getLogger(__name__)
NEAR_DUP_WINDOW = timedelta(days=3)


@dataclass
class FeedOutcome:
    feed_id: str
    status: str  # ok | not_modified | error | skipped (not due)
    items: int = 0
    error_kind: str | None = None
    error: str | None = None
    malformed: str | None = None


@dataclass
class PollReport:
    items: list[FeedItem] = field(default_factory=list)
    feeds: list[FeedOutcome] = field(default_factory=list)
    queued: int = 0  # items new to the work queue
    known: int = 0  # items the queue already had (seen before)
    # Every feed's state after this poll (saved or not): its next_poll is when it is due.
    states: dict[str, FeedState] = field(default_factory=dict)
    saved: int = 0  # feed states written

    @property
    def polled(self) -> int:
        return sum(1 for f in self.feeds if f.status != "skipped")


@dataclass
class FetchReport:
    articles: list[Article] = field(default_factory=list)  # new + near-duplicates, to be enriched
    done: list[Article] = field(default_factory=list)  # every item's article (any status), in input order
    retry: list[FeedItem] = field(default_factory=list)  # transient page failures: try again later
    # Per item, keyed by its article id (or its raw link when the URL is unusable): the
    # outcome and reason, so the work queue can close every item with what happened to it.
    item_status: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    outcomes: Counter = field(default_factory=Counter)  # one count per item
    failures: Counter = field(default_factory=Counter)  # reason kind -> count
    errors: list[str] = field(default_factory=list)


def _poll_one(spec: FeedSpec, state: FeedState, client: HttpClient, now: datetime,
              cap: int, flag_after: int) -> tuple[FeedState, FeedOutcome, list[FeedItem]]:  # fmt: skip
    try:
        res = client.fetch_feed(spec.url, state.etag, state.last_modified)
    except FetchError as e:
        st = record_failure(state, now, spec.poll_interval, e.kind, e.reason, cap, flag_after, e.retry_after)
        return st, FeedOutcome(spec.id, "error", error_kind=e.kind, error=e.reason), []
    if res.not_modified:
        # A 304 may omit the validators; the stored ones are still the right ones to send.
        st = record_success(state, now, spec.poll_interval, res.etag or state.etag,
                            res.last_modified or state.last_modified, 0, 0)  # fmt: skip
        return st, FeedOutcome(spec.id, "not_modified"), []
    parsed = parse_feed(res.body, spec.id, res.url, spec.language, res.content_type)
    if parsed.error:
        st = record_failure(state, now, spec.poll_interval, "bad_feed", parsed.error, cap, flag_after)
        return st, FeedOutcome(spec.id, "error", error_kind="bad_feed", error=parsed.error), []
    st = record_success(state, now, spec.poll_interval, res.etag, res.last_modified, len(parsed.items), 0)
    return st, FeedOutcome(spec.id, "ok", items=len(parsed.items), malformed=parsed.malformed), parsed.items


def queue_entries(items: list[FeedItem]) -> list[tuple[str, dict]]:
    """Feed items as (queue id, item dict) pairs; one entry per canonical URL."""
    from rasad.ingest.queue import fallback_id, queue_id  # noqa: PLC0415

    out: dict[str, dict] = {}
    for item in items:
        try:
            qid = queue_id(canonicalize_url(item.link))
        except URLError:
            qid = fallback_id(item.feed_id, item.link)  # queued so that it fails with its reason
        d = dataclasses.asdict(item)
        d["published"] = utc_iso(item.published)
        out.setdefault(qid, d)
    return list(out.items())


def item_from_dict(d: dict) -> FeedItem:
    """A FeedItem from its queue/JSON form."""
    fields = {f.name for f in dataclasses.fields(FeedItem)}
    return FeedItem(**{k: v for k, v in d.items() if k in fields and k != "published"},
                    published=parse_iso(d.get("published")))  # fmt: skip


def poll_feeds(specs: list[FeedSpec], client: HttpClient, store: IngestStore, queue: WorkQueue | None = None,
               now: datetime | None = None, force: bool = False, workers: int = 8,
               jitter: float = 0.0, clock_refresh: timedelta | None = None) -> PollReport:  # fmt: skip
    """Poll every due feed (conditional GET), queue its items, then advance its state.

    Acknowledge last: a feed's validators and next-poll time are saved only after its
    items are durable in the work queue, so a crash in between means the feed is polled
    again (and the queue's idempotent ids make that harmless). ``jitter`` spreads the next
    polls by up to that fraction of each feed's interval, so feeds do not march in step.
    Changed states are written in one bulk request. ``clock_refresh`` (for a caller that
    schedules from ``report.states``, like the watcher): a state whose only change is its
    clock is written only once the stored clock is that old (see ingest.store.CLOCK_REFRESH).
    """
    import random  # noqa: PLC0415

    from rasad.ingest.queue import WorkQueue  # noqa: PLC0415

    queue = queue or WorkQueue(store.es, store.s)
    now = now or utcnow()
    states = store.load_states([s.id for s in specs])
    stored = {fid: dataclasses.replace(st) for fid, st in states.items()}  # work() edits states in place
    report = PollReport(states=states)
    due: list[FeedSpec] = []
    for spec in specs:
        st = states[spec.id]
        if force or st.due(now):
            due.append(spec)
        else:
            report.feeds.append(FeedOutcome(spec.id, "skipped"))
    s = store.s

    def work(spec: FeedSpec) -> tuple[FeedState, FeedOutcome, list[FeedItem]]:
        st = states[spec.id]
        if st.url and st.url != spec.url:
            # The registry moved the feed: validators of the old address mean nothing here.
            st.etag = st.last_modified = None
        st.url, st.name = spec.url, spec.name
        try:
            return _poll_one(spec, st, client, now, s.feed_backoff_cap, s.feed_flag_after)
        except Exception as e:  # one bad feed never stops the others
            log.exception("feed %s crashed", spec.id)
            reason = f"{type(e).__name__}: {e}"
            st2 = record_failure(st, now, spec.poll_interval, "internal", reason, s.feed_backoff_cap, s.feed_flag_after)
            return st2, FeedOutcome(spec.id, "error", error_kind="internal", error=reason), []

    results: list[tuple[FeedState, FeedOutcome, list[FeedItem]]] = []
    if due:
        with ThreadPoolExecutor(max_workers=max(1, min(workers, len(due)))) as pool:
            results = list(pool.map(work, due))
    entries = queue_entries([i for _, _, items in results for i in items])
    added, known = queue.enqueue(entries, now)  # raises: then no feed state advances
    report.queued, report.known = added, known
    changed = []
    for (st, outcome, items), spec in zip(results, due, strict=True):
        if jitter and outcome.status != "error" and st.next_poll:
            nxt = parse_iso(st.next_poll)
            if nxt:
                st.next_poll = utc_iso(nxt + timedelta(seconds=random.uniform(0, jitter * spec.poll_interval)))
        report.states[spec.id] = st
        if state_needs_saving(stored[spec.id], st, now, clock_refresh):
            changed.append(st)
        report.feeds.append(outcome)
        report.items.extend(items)
    if changed:
        store.save_states(changed)
    report.saved = len(changed)
    return report


def _hints(item: FeedItem, spec: FeedSpec | None = None) -> FeedHints:
    published = item.published
    if published is not None and not item.published_has_offset:
        published = published.replace(tzinfo=None)  # the site's wall clock: read in spec.timezone
    return FeedHints(
        title=item.title, summary=item.summary, content=item.content, published=published,
        author=item.author, language_hint=item.language_hint, timezone=spec.timezone if spec else None,
    )  # fmt: skip


def fetch_articles(items: list[FeedItem], specs: dict[str, FeedSpec], client: HttpClient, store: IngestStore,
                   now: datetime | None = None, workers: int = 8,
                   extract: Callable[..., Extracted] | None = None) -> FetchReport:  # fmt: skip
    """Download and clean the items not seen before; drop exact duplicates, link near-duplicates.

    ``extract`` runs ``extract_article``'s job elsewhere (``ExtractPool.call``: a warm worker
    process per core); by default it runs in the downloading thread.
    """
    report = download_articles(items, specs, client, store, now=now, workers=workers, extract=extract)
    return dedup_articles(report, store, now=now)


def download_articles(items: list[FeedItem], specs: dict[str, FeedSpec], client: HttpClient, store: IngestStore,
                      now: datetime | None = None, workers: int = 8,
                      extract: Callable[..., Extracted] | None = None) -> FetchReport:  # fmt: skip
    """Steps 1 and 2 of :func:`fetch_articles`: skip what is stored, download and extract the rest.

    Reads the store but writes nothing, so ``rasad run`` can do it for the next batch while the
    previous one is still being clustered and indexed. :func:`dedup_articles` must then run
    after that batch is indexed: content dedup compares against what the store holds.
    """
    extract = extract or extract_article
    now = now or utcnow()
    report = FetchReport()
    # 1. Canonical URL and GUID: skip what is stored already or repeated in this batch.
    candidates: list[tuple[FeedItem, str]] = []
    seen_ids: set[str] = set()
    seen_guids: set[tuple[str, str]] = set()
    canonical: list[tuple[FeedItem, str]] = []
    for item in items:
        try:
            canon = canonicalize_url(item.link)
        except URLError as e:
            report.outcomes["bad_url"] += 1
            report.failures["bad_url"] += 1
            report.errors.append(f"{item.feed_id}: {e}")
            report.item_status[item.link] = ("bad_url", str(e))
            continue
        canonical.append((item, canon))
    unreliable = _unreliable_guids(canonical)
    for listed, canon in canonical:
        # A guid the feed reuses for different links identifies nothing: key the item by its link.
        unusable = listed.guid and (listed.feed_id, listed.guid) in unreliable
        item = dataclasses.replace(listed, guid=None) if unusable else listed
        aid = article_id(canon)
        key = (item.feed_id, item.guid or "")
        if aid in seen_ids or (item.guid and key in seen_guids):
            report.outcomes[records.STATUS_DUPLICATE] += 1
            report.item_status.setdefault(aid, (records.STATUS_DUPLICATE, "repeated in this batch"))
            continue
        seen_ids.add(aid)
        if item.guid:
            seen_guids.add(key)
        candidates.append((item, canon))
    stored = store.existing_ids([article_id(c) for _, c in candidates])
    by_feed: dict[str, list[str]] = {}
    for item, _ in candidates:
        if item.guid:
            by_feed.setdefault(item.feed_id, []).append(item.guid)
    known_guids = store.known_guids_many(by_feed)
    todo = []
    for item, canon in candidates:
        if article_id(canon) in stored or (item.guid and (item.feed_id, item.guid) in known_guids):
            report.outcomes[records.STATUS_DUPLICATE] += 1
            report.item_status[article_id(canon)] = (records.STATUS_DUPLICATE, "already stored")
        else:
            todo.append((item, canon))

    # 2. Download and extract, in parallel (the HTTP client enforces per-host politeness).
    retry: list[FeedItem] = []  # transient download failures, for the feeds' retry queues

    def work(pair: tuple[FeedItem, str]) -> Article:
        try:
            return _fetch_one(pair)
        except Exception as e:  # one bad page never takes the batch down
            item, canon = pair
            log.exception("fetching %s crashed", item.link)
            art = Article(url=item.link, canonical_url=canon, feed_id=item.feed_id, source=item.feed_id,
                          guid=item.guid, title=item.title, fetched_at=utc_iso(now))  # fmt: skip
            art.status, art.status_reason = records.STATUS_FETCH_ERROR, f"internal: {type(e).__name__}: {e}"
            return art

    def _fetch_one(pair: tuple[FeedItem, str]) -> Article:
        item, canon = pair
        spec = specs.get(item.feed_id)
        art = Article(
            url=item.link, canonical_url=canon, feed_id=item.feed_id,
            source=spec.name if spec else item.feed_id, guid=item.guid,
            title=item.title, summary=item.summary, fetched_at=utc_iso(now),
            language_hint=item.language_hint or (spec.language if spec else None),
            country=spec.country if spec else None, feed_tags=list(spec.tags) if spec else [],
        )  # fmt: skip
        body, ctype, final_url = b"", None, item.link
        try:
            res = client.fetch_page(item.link)
            body, ctype, final_url = res.body, res.content_type, res.url
        except FetchError as e:
            if e.kind in ("blocked_ssrf", "blocked_robots"):
                art.status, art.status_reason = records.STATUS_BLOCKED, f"{e.kind}: {e.reason}"
                return art
            if e.kind == "not_html":
                # Refused unread (a PDF, video, archive): recorded as such, never as page text.
                if not (item.content or item.summary):
                    art.status, art.status_reason = records.STATUS_NOT_HTML, f"not_html: {e.reason}"
                    return art
                art.status_reason = f"not_html: {e.reason}"
            else:
                # The page is unreachable: the feed's own content may still carry the article.
                art.status_reason = f"{e.kind}: {e.reason}"
                if not (item.content or item.summary):
                    art.status = records.STATUS_FETCH_ERROR
                    if e.transient:
                        retry.append(item)  # tried again at the feed's next poll
                    return art
        try:
            ex = extract(body, final_url, ctype, _hints(item, spec))
        except Exception as e:  # extraction must never take the batch down
            log.exception("extraction crashed for %s", item.link)
            art.status, art.status_reason = records.STATUS_FETCH_ERROR, f"extract: {type(e).__name__}: {e}"
            return art
        art.title = ex.title or item.title
        art.text = ex.text or ""
        art.author = ex.author
        art.published = utc_iso(ex.published) if ex.published else utc_iso(item.published)
        art.published_source = ex.published_source
        art.language = ex.language
        art.sitename = ex.sitename
        art.image = ex.image
        art.text_source = ex.text_source
        if ex.status != "ok":
            art.status = records.STATUS_NOT_HTML if ex.status == "not_html" else records.STATUS_NO_TEXT
            art.status_reason = f"{ex.status}: {ex.status_reason}"
        elif art.status_reason and ex.text_source != "page":
            art.status_reason = f"page unusable ({art.status_reason}); text from {ex.text_source}"
        if ex.prepared is not None:  # fingerprints, tags and search forms the extraction worker computed
            ex.prepared.apply_to(art)
        return art

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        report.done = list(pool.map(work, todo))
    report.retry = retry
    return report


def dedup_articles(report: FetchReport, store: IngestStore, now: datetime | None = None) -> FetchReport:
    """Step 3 of :func:`fetch_articles` on what :func:`download_articles` fetched (``report.done``).

    Exact (same text) and near (MinHash) duplicates against the store and the batch; fills
    ``report.articles`` and every item's status, and counts the new articles per feed.
    """
    now = now or utcnow()
    fetched = report.done
    ok = [a for a in fetched if a.status == records.STATUS_NEW]
    for a in fetched:
        if a.status != records.STATUS_NEW:
            report.outcomes[a.status] += 1
            report.failures[(a.status_reason or a.status).split(":")[0]] += 1
            report.errors.append(f"{a.feed_id} {a.url}: {a.status}: {a.status_reason}")
    for a in ok:
        a.title_hash = title_hash(a.source, a.title)
        if a.content_hash is not None:
            continue  # computed with the text by the extraction worker (enrich.prepare)
        a.content_hash = content_hash(a.text)
        mh = minhash_text(a.text)
        if mh:
            a.minhash, a.minhash_bands = list(mh.signature), mh.bands
    stored_hashes = store.by_content_hash([a.content_hash for a in ok if a.content_hash])
    with_bands = [a for a in ok if a.minhash_bands]
    near_lists = store.near_candidates_many([a.minhash_bands for a in with_bands], now - NEAR_DUP_WINDOW)
    stored_near = {a.id: cands for a, cands in zip(with_bands, near_lists, strict=True)}
    batch_hashes: dict[str, Article] = {}
    batch_bands: dict[str, list[Article]] = {}
    for a in ok:
        prior = stored_hashes.get(a.content_hash or "")
        prior_src = prior["source"] if prior else None
        prior_id = (prior.get("duplicate_of") or prior["_id"]) if prior else None
        if prior is None and a.content_hash in batch_hashes:
            b = batch_hashes[a.content_hash]
            prior_src, prior_id = b.source, b.duplicate_of or b.id
        if prior_id is not None:
            if prior_src == a.source:
                # The same text again from the same source under another URL: one article.
                report.outcomes[records.STATUS_DUPLICATE] += 1
                a.status = records.STATUS_DUPLICATE
                continue
            a.duplicate_of = prior_id
            a.status = records.STATUS_NEAR_DUPLICATE
        elif a.minhash:
            mh = minhash_from_stored(a.minhash)
            best: tuple[float, str] | None = None
            for cand in stored_near.get(a.id, []):
                other = minhash_from_stored(cand.get("minhash"))
                if other and mh:
                    j = mh.jaccard(other)
                    if j >= NEAR_DUP_JACCARD and (best is None or j > best[0]):
                        best = (j, cand.get("duplicate_of") or cand["_id"])
            for band in a.minhash_bands:
                for b in batch_bands.get(band, []):
                    other = minhash_from_stored(b.minhash)
                    if other and mh:
                        j = mh.jaccard(other)
                        if j >= NEAR_DUP_JACCARD and (best is None or j > best[0]):
                            best = (j, b.duplicate_of or b.id)
            if best:
                a.duplicate_of = best[1]
                a.status = records.STATUS_NEAR_DUPLICATE
        if a.content_hash:
            batch_hashes.setdefault(a.content_hash, a)
        for band in a.minhash_bands:
            batch_bands.setdefault(band, []).append(a)
        report.outcomes[a.status] += 1
        report.articles.append(a)
    new_per_feed = Counter(a.feed_id for a in report.articles)
    try:
        store.add_new_articles(dict(new_per_feed))
    except Exception as e:  # bookkeeping only: the articles themselves must still go on
        log.warning("could not update feed counters: %s", e)
    for a in fetched:
        report.item_status[a.id] = (a.status, a.status_reason)
    return report


def _unreliable_guids(items: list[tuple[FeedItem, str]]) -> set[tuple[str, str]]:
    """GUIDs one feed gives to different articles in one batch (some CMSs repeat one GUID for all).

    Trusting such a GUID would drop every article after the first as a duplicate.
    """
    urls: dict[tuple[str, str], set[str]] = {}
    for item, canon in items:
        if item.guid:
            urls.setdefault((item.feed_id, item.guid), set()).add(canon)
    return {key for key, canons in urls.items() if len(canons) > 1}

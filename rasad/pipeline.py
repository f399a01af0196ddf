"""The steps of monitoring, as the DAGs and ``rasad run`` call them.

poll (feeds -> work queue) -> claim (queue -> batches) -> process each batch (fetch,
extract, dedup, tag, cluster, index) -> alert (indexed articles -> mails).

Every step takes ids and returns counts: what travels between Airflow tasks is a batch
id and a handful of numbers, never articles. Each step reads its input from the store
(the work queue, the articles index), so a task cleared a week later, after
``airflow db clean``, still finds it. Each step acknowledges last: the queue item is
marked done only after its article is indexed, and alerted only after the alert step
ran, so a crash anywhere means "do it again", and deterministic ids make that harmless.

Stages are imported inside the steps: importing this module (as DAG files do at parse
time) stays cheap.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections import Counter
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from rasad.core.settings import Settings, load_settings

if TYPE_CHECKING:  # for annotations only: the stages are imported inside the steps
    from collections.abc import Callable, Iterator

    from rasad.ingest.queue import QueueEntry

log = logging.getLogger(__name__)
PREPARE_JOB = "rasad.enrich.prepare:extract_and_prepare"  # what an extraction-pool worker runs per page
PREPARE_WARMUP = "rasad.enrich.prepare_warmup"  # what the pool's fork server builds once for it
MAX_ERRORS = 20  # error lines a step returns (the summary's, not a log of everything)
ALERT_CHUNK = 500  # articles the alert step holds at once (their matches go to the ledger in between)


@dataclass
class CycleSummary:
    feeds_polled: int = 0
    feeds_not_modified: int = 0
    feeds_failed: int = 0
    items_seen: int = 0
    items_queued: int = 0
    batches: int = 0
    new_articles: int = 0
    duplicates: int = 0
    near_duplicates: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    retry_later: int = 0
    tagged: int = 0
    events_new: int = 0
    indexed: int = 0
    dead_lettered: int = 0
    alerts_matched: int = 0
    alerts_already_sent: int = 0  # matches a rule had already alerted on (dedup across runs)
    alerts_folded: int = 0  # near-duplicates folded into an earlier alert
    alerts_snoozed: int = 0
    alerts_waiting: int = 0  # items waiting for their digest
    alerts_sent: int = 0
    alerts_retry_later: int = 0
    alerts_failed: int = 0
    alerts_mails_by_recipient: dict[str, int] = field(default_factory=dict)  # alert mails sent, per recipient
    cluster: str = ""
    errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def add(self, counts: dict[str, Any]) -> None:
        """Add one step's counts (numbers add up, dicts merge, errors append)."""
        for k, v in counts.items():
            if not hasattr(self, k):
                continue
            cur = getattr(self, k)
            if isinstance(cur, bool) or k == "cluster":
                setattr(self, k, v)
            elif isinstance(cur, int):
                setattr(self, k, cur + int(v or 0))
            elif isinstance(cur, dict):
                for kk, vv in (v or {}).items():
                    cur[kk] = cur.get(kk, 0) + vv
            elif isinstance(cur, list):
                cur.extend(v or [])
                del cur[50:]


def _settings(settings: Settings | None) -> Settings:
    # Airflow tasks pass none: they read the environment, like every other entry point.
    return settings if settings is not None else load_settings()


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(timezone.utc)


def step_setup(settings: Settings | None = None) -> dict:
    """Install index templates, indices and the work queue (idempotent); name the cluster."""
    from rasad.core.es import describe_cluster, make_client  # noqa: PLC0415
    from rasad.indexing.setup import setup_indices  # noqa: PLC0415
    from rasad.ingest.queue import WorkQueue  # noqa: PLC0415
    from rasad.lease import ensure_locks_index  # noqa: PLC0415

    s = _settings(settings)
    es = make_client(s)
    cluster = describe_cluster(es)
    log.info("writing to %s", cluster)
    from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415

    # Independent indices: made at once (each waits ~0.2 s on the master).
    with ThreadPoolExecutor(3, thread_name_prefix="setup") as pool:
        indices = pool.submit(setup_indices, es, s)
        queue = pool.submit(WorkQueue(es, s).ensure)
        locks = pool.submit(ensure_locks_index, es, s)  # the setup marker and the leases live there
        rep = indices.result()
        queue.result()
        locks.result()
    return {"cluster": cluster, "created": len(rep.indices_created)}


def _setup_version() -> str:
    """A fingerprint of the index templates this code installs (changes when they change)."""
    import hashlib  # noqa: PLC0415
    from pathlib import Path  # noqa: PLC0415

    from rasad import indexing  # noqa: PLC0415

    h = hashlib.sha256()
    for p in sorted((Path(indexing.__file__).parent / "templates").glob("*")):
        h.update(p.name.encode() + b"\0" + p.read_bytes())
    return h.hexdigest()[:16]


def ensure_setup(settings: Settings | None = None) -> bool:
    """Run ``step_setup`` unless this cluster and prefix already have this code's templates.

    One GET instead of a dozen template and index writes at the start of every task:
    the marker is written only after a setup that completed.
    """
    from elasticsearch import NotFoundError  # noqa: PLC0415

    from rasad.core.es import make_client, single_index  # noqa: PLC0415

    s = _settings(settings)
    es = make_client(s)
    index, marker = single_index(s, "locks"), f"setup-{_setup_version()}"
    try:
        es.get(index=index, id=marker)
        return False
    except NotFoundError:
        pass
    step_setup(s)
    es.index(index=index, id=marker, document={"name": marker, "at": datetime.now(timezone.utc).isoformat()})
    return True


def step_poll(settings: Settings | None = None, feeds_file: str | None = None, force: bool = False,
              now: datetime | None = None) -> dict:  # fmt: skip
    """Poll every due feed once and queue the new items (what a watcher does, in this process)."""
    from rasad.core.es import make_client  # noqa: PLC0415
    from rasad.core.memory import tune_allocator  # noqa: PLC0415
    from rasad.ingest.feeds import load_registry  # noqa: PLC0415

    tune_allocator()  # before the download threads: page bodies must not pin their arenas
    from rasad.ingest.http.client import HttpClient  # noqa: PLC0415
    from rasad.ingest.queue import WorkQueue  # noqa: PLC0415
    from rasad.ingest.stage import poll_feeds  # noqa: PLC0415
    from rasad.ingest.store import IngestStore  # noqa: PLC0415

    s = _settings(settings)
    ensure_setup(s)  # feed states and queue items land in indices made from our templates
    es = make_client(s)
    specs = load_registry(s.path(feeds_file or s.feeds_file))
    client = HttpClient(s)
    try:
        rep = poll_feeds(specs, client, IngestStore(es, s), WorkQueue(es, s), now=now, force=force,
                         workers=s.fetch_workers, jitter=s.poll_jitter)  # fmt: skip
    finally:
        client.close()
    feeds = rep.feeds
    errors = [f"feed {f.feed_id}: {f.error_kind}: {f.error}" for f in feeds if f.status == "error"]
    failures = Counter(f"feed:{f.error_kind}" for f in feeds if f.status == "error")
    out = {
        "feeds_polled": sum(1 for f in feeds if f.status != "skipped"),
        "feeds_not_modified": sum(1 for f in feeds if f.status == "not_modified"),
        "feeds_failed": sum(1 for f in feeds if f.status == "error"),
        "items_seen": len(rep.items), "items_queued": rep.queued, "failures": dict(failures),
        "errors": errors[:MAX_ERRORS],
    }  # fmt: skip
    log.info("poll: %d feed(s) polled, %d item(s) seen, %d new in the queue, %d feed error(s)",
             out["feeds_polled"], out["items_seen"], rep.queued, out["feeds_failed"])  # fmt: skip
    return out


def step_claim(run_key: str, settings: Settings | None = None, now: datetime | None = None) -> list[dict]:
    """Claim what the queue holds into batches grouped by host; returns [{id, items, hosts}]."""
    from rasad.core.es import make_client  # noqa: PLC0415
    from rasad.ingest.queue import WorkQueue  # noqa: PLC0415

    s = _settings(settings)
    q = WorkQueue(make_client(s), s)
    if not q.has_claimable(_now(now)):
        return []  # an idle run: one count, nothing written, so no setup check either
    # Templates and indices exist before this run writes anything (a fresh cluster or a new
    # index prefix needs nothing else); the batches and the alert step write after this.
    ensure_setup(s)
    batches = q.claim(run_key, _now(now), max_items=s.batch_size * s.max_batches, batch_size=s.batch_size,
                      lease_seconds=s.claim_lease)  # fmt: skip
    log.info("claim: %d batch(es), %d item(s)", len(batches), sum(b.items for b in batches))
    return [{**b.to_dict(), "only": len(batches) == 1} for b in batches]


def _extract_pool(s: Settings, standalone: bool) -> Any:
    """This process's warm extraction pool (``extract_workers``), or None: extract in the download threads.

    ``auto`` means one worker per core when one process does the whole run (``rasad run``), and no
    pool inside an Airflow task: there the executor's parallel batch tasks already use the cores, and
    a pool per short-lived task would start cold each time (seconds of latency). A number applies to both.
    """
    from rasad.ingest.extract_pool import PRELOAD, resolve_workers, shared_pool  # noqa: PLC0415

    if not standalone and str(s.extract_workers).strip().lower() in ("", "auto"):
        return None
    n = resolve_workers(s.extract_workers)
    # The workers extract each page and prepare its article (enrich.prepare): fingerprints, tags
    # and search forms on every core, not in this process after the batch is extracted.
    return shared_pool(n, s.extract_timeout, job=PREPARE_JOB, preload=[*PRELOAD, PREPARE_WARMUP]) if n else None


def _pool_extract(pool: Any, s: Settings) -> Callable[..., Any]:
    """Extract a page in ``pool``, its article's fingerprints, tags and search forms with it (enrich.prepare)."""
    seeds = str(s.path(s.seeds_dir))

    def extract(*args: Any) -> Any:
        return pool.call(*args, seeds)

    return extract


@dataclass
class FetchedBatch:
    """A claimed batch after download and extraction (:func:`fetch_batch`), before anything is written."""

    batch_id: str
    entries: list[Any]  # the batch's QueueEntry objects
    report: Any = None  # the ingest FetchReport; None for an empty batch
    fetch_s: float = 0.0
    keeper: Any = None  # the ClaimKeeper renewing the entries' claim until they are acknowledged

    def stop_keeping(self) -> None:
        """Stop renewing the claim: before the acknowledgement, or when the batch is given up."""
        if self.keeper is not None:
            self.keeper.stop()


def fetch_batch(batch_id: str, settings: Settings | None = None, feeds_file: str | None = None,
                now: datetime | None = None, standalone: bool = False,
                extract: Callable[..., Any] | None = None) -> FetchedBatch:  # fmt: skip
    """Read a claimed batch's items, download and extract them. Writes nothing.

    ``standalone``: one process runs every batch (``rasad run``), so ``extract_workers: auto`` uses a pool.
    ``extract``: what extracts a page instead (``process_queue`` passes the pool's call behind its gate).
    """
    from rasad.core.es import make_client  # noqa: PLC0415
    from rasad.ingest.feeds import load_registry  # noqa: PLC0415
    from rasad.ingest.http.client import HttpClient  # noqa: PLC0415
    from rasad.ingest.queue import WorkQueue  # noqa: PLC0415
    from rasad.ingest.stage import download_articles, item_from_dict  # noqa: PLC0415
    from rasad.ingest.store import IngestStore  # noqa: PLC0415

    s = _settings(settings)
    now = _now(now)
    es = make_client(s)
    t0 = time.monotonic()
    q = WorkQueue(es, s)
    entries = q.batch_entries(batch_id)
    if not entries:
        return FetchedBatch(batch_id, [])  # already done by an earlier try, or taken over after its lease ran out
    # The claim is renewed from here until finish_batch acknowledges it: a short lease that
    # only a working batch keeps alive (a dead or failed one's items come back minutes later).
    keeper = q.keep(entries, s.claim_lease, now)
    try:
        specs = {f.id: f for f in load_registry(s.path(feeds_file or s.feeds_file), include_disabled=True)}
        items = [item_from_dict(e.item) for e in entries]
        if extract is None:
            pool = _extract_pool(s, standalone)
            extract = _pool_extract(pool, s) if pool else None
        client = HttpClient(s)
        try:
            rep = download_articles(items, specs, client, IngestStore(es, s), now=now, workers=s.fetch_workers,
                                    extract=extract)  # fmt: skip
        finally:
            client.close()
    except BaseException:
        keeper.stop()
        raise
    return FetchedBatch(batch_id, entries, rep, round(time.monotonic() - t0, 2), keeper)


def finish_batch(fetched: FetchedBatch, settings: Settings | None = None, now: datetime | None = None) -> dict:
    """Dedup, tag, cluster and index a fetched batch; close its queue items (acknowledge last)."""
    try:
        return _finish_batch(fetched, _settings(settings), _now(now))
    finally:
        fetched.stop_keeping()  # (already stopped before a successful acknowledgement)


def _finish_batch(fetched: FetchedBatch, s: Settings, now: datetime) -> dict:
    from rasad.core import records  # noqa: PLC0415
    from rasad.core.es import make_client  # noqa: PLC0415
    from rasad.enrich.stage import cluster_articles, tag_articles  # noqa: PLC0415
    from rasad.indexing.bulk import index_articles  # noqa: PLC0415
    from rasad.indexing.events import index_events  # noqa: PLC0415
    from rasad.ingest.queue import WorkQueue, fallback_id  # noqa: PLC0415
    from rasad.ingest.stage import dedup_articles  # noqa: PLC0415
    from rasad.ingest.store import IngestStore  # noqa: PLC0415
    from rasad.lease import Lease  # noqa: PLC0415

    batch_id, entries = fetched.batch_id, fetched.entries
    out: dict[str, Any] = {"batch": batch_id, "items": len(entries)}
    if not entries:
        return out
    es = make_client(s)
    q = WorkQueue(es, s)
    clock = [time.monotonic()]
    timings: dict[str, float] = {"fetch_s": fetched.fetch_s}

    def lap(name: str) -> None:
        t = time.monotonic()
        timings[name] = round(t - clock[0], 2)
        clock[0] = t

    # Content dedup after the previous batch is indexed: it compares against what the store holds.
    rep = dedup_articles(fetched.report, IngestStore(es, s), now=now)
    lap("dedup_s")
    tagged = tag_articles(rep.articles, s)
    lap("tag_s")
    # One event model: batches assign in turn, each in its own arrival order (docs/service.md).
    with Lease(es, s, "events", owner=batch_id) as lease:
        enriched = cluster_articles(tagged, s, es)
        idx = index_articles(es, s, enriched.articles)
        # No refresh per batch: only the alert step searches them, and it refreshes them first.
        index_events(es, s, enriched.events, enriched.signals, refresh=False)
    lap("cluster_index_s")
    # Acknowledge last: every write above is keyed by id, so a crash before this line
    # means the retry rewrites the same documents.
    retry_links = {i.link for i in rep.retry}
    done: list[tuple[QueueEntry, str, str | None, str | None]] = []
    retry, failed = [], []
    for e in entries:
        link = e.item.get("link") or ""
        status, reason = rep.item_status.get(e.id) or rep.item_status.get(link) or (None, None)
        if link in retry_links:
            retry.append((e, reason or "transient page failure"))
        elif e.id == fallback_id(e.item.get("feed_id") or "", link) or status == "bad_url":
            failed.append((e, "bad_url", reason or "unusable URL"))
        elif status is None:
            done.append((e, "unaccounted", None, "no outcome recorded"))
        else:
            aid = e.id if status in (records.STATUS_NEW, records.STATUS_NEAR_DUPLICATE) else None
            if status == records.STATUS_DUPLICATE and reason == "already stored":
                # A retry after a crash between indexing and this acknowledgement: the article
                # is ours and may not have been alerted yet (the alert step's keys dedupe).
                aid = e.id
            done.append((e, status, aid, reason))
    fetched.stop_keeping()  # its last renewal is in the entries' versions the closing writes use
    q.complete(done, now)
    requeued, gave_up = q.retry_later(retry, now)
    q.fail(failed, now)
    outcomes = Counter(rep.outcomes)
    out.update({
        "new_articles": outcomes.get("new", 0) + outcomes.get("near_duplicate", 0),
        "duplicates": outcomes.get("duplicate", 0), "near_duplicates": outcomes.get("near_duplicate", 0),
        "failures": dict(rep.failures), "retry_later": requeued, "tagged": sum(1 for a in tagged if a.tagger_version),
        "events_new": enriched.events_new, "indexed": idx.indexed, "dead_lettered": idx.dead_lettered,
        "lease_wait_s": round(lease.waited, 2), "timings": timings,
        "errors": (rep.errors + enriched.errors + idx.errors)[:MAX_ERRORS],
    })  # fmt: skip
    if gave_up:
        out["failures"]["gave_up"] = out["failures"].get("gave_up", 0) + gave_up
    lap("ack_s")
    log.info("batch %s: %d item(s), %d new article(s), %d indexed, %d new event(s), %d to retry; %s",
             batch_id, len(entries), out["new_articles"], idx.indexed, enriched.events_new, requeued, timings)  # fmt: skip
    return out


def step_process_batch(batch_id: str, settings: Settings | None = None, feeds_file: str | None = None,
                       now: datetime | None = None, standalone: bool = False) -> dict:  # fmt: skip
    """Fetch, extract, dedup, tag, cluster and index one claimed batch; close its queue items.

    ``standalone``: one process runs every batch (``rasad run``), so ``extract_workers: auto`` uses a pool.
    """
    s = _settings(settings)
    now = _now(now)
    return finish_batch(fetch_batch(batch_id, s, feeds_file, now=now, standalone=standalone), s, now=now)


_NOT_FOR_ALERTS = ("*_search", "timestamp", "indexed_at", "minhash", "minhash_bands")


def _load_articles(es: Any, s: Settings, ids: list[str]) -> list[Any]:
    from rasad.core.records import Article  # noqa: PLC0415

    out = []
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        # Left on the server: the search forms (as long as the text again) and the near-duplicate
        # signature, which no rule or mail reads; the alert step moved them twice per article.
        res = es.search(index=s.index("articles"), query={"ids": {"values": chunk}}, size=len(chunk),
                        source_excludes=list(_NOT_FOR_ALERTS), ignore_unavailable=True,
                        allow_no_indices=True)  # fmt: skip
        out += [Article.from_doc(h["_source"]) for h in res["hits"]["hits"]]
    return out


def _load_signals(es: Any, s: Settings, article_ids: list[str]) -> list[dict]:
    from rasad.core.es import single_index  # noqa: PLC0415

    out = []
    for i in range(0, len(article_ids), 500):
        res = es.search(index=single_index(s, "signals"), query={"terms": {"article_id": article_ids[i : i + 500]}},
                        size=10_000, ignore_unavailable=True, allow_no_indices=True)  # fmt: skip
        out += [h["_source"] for h in res["hits"]["hits"]]
    return sorted(out, key=lambda d: (d.get("at") or "", d.get("id") or ""))


def _nothing_to_alert(es: Any, s: Settings, q: Any, now: datetime, release_run: str | None) -> bool:
    """True when no article waits for alerting, no claim of the run is left to release, and no
    alert item or mail is due: one round trip (an idle run's alert step stops here)."""
    from rasad.alerts.deliver import STALE_SENDING  # noqa: PLC0415
    from rasad.alerts.ledger import AlertLedger, ledger_index  # noqa: PLC0415

    queue_work = [q.UNALERTED] + ([q.held_query(f"{release_run}~")] if release_run else [])
    searches: list[dict[str, Any]] = []
    for index, query in ((q.index, {"bool": {"should": queue_work, "minimum_should_match": 1}}),
                         (ledger_index(s), AlertLedger.work_query(now, now - STALE_SENDING))):  # fmt: skip
        searches += [{"index": index, "ignore_unavailable": True, "allow_no_indices": True},
                     {"size": 0, "track_total_hits": 1, "query": query}]  # fmt: skip
    res = es.msearch(searches=searches)["responses"]
    # An error (a shard failure) is not "nothing": the full step runs and reports it.
    return all("error" not in r and r["hits"]["total"]["value"] == 0 for r in res)


def _alert_counts(d: dict[str, Any], articles: int, released: int) -> dict:
    return {
        "alerts_matched": d.get("matched", 0), "alerts_already_sent": d.get("already_alerted", 0),
        "alerts_folded": d.get("folded", 0), "alerts_snoozed": d.get("snoozed", 0),
        "alerts_waiting": d.get("waiting", 0), "alerts_sent": d.get("sent", 0),
        "alerts_retry_later": d.get("retry_later", 0), "alerts_failed": d.get("failed", 0),
        "alerts_mails_by_recipient": d.get("mails_by_recipient", {}), "articles": articles, "released": released,
        "errors": list(d.get("errors", []))[:MAX_ERRORS],
    }  # fmt: skip


def step_alert(settings: Settings | None = None, rules_file: str | None = None, now: datetime | None = None,
               release_run: str | None = None) -> dict:  # fmt: skip
    """Match every indexed, not yet alerted article (and its event signals) against the rules; mail what is due.

    Works from the queue's acknowledgements, not from this run's batches: articles whose
    run died before its alert step are picked up here. Mails are keyed per rule and
    article, so a retry never sends one twice.
    """
    from rasad.alerts.deliver import send_alert_chunks  # noqa: PLC0415
    from rasad.alerts.rules import load_rules  # noqa: PLC0415
    from rasad.core.es import make_client  # noqa: PLC0415
    from rasad.indexing.events import refresh_signals  # noqa: PLC0415
    from rasad.ingest.queue import WorkQueue  # noqa: PLC0415

    s = _settings(settings)
    now = _now(now)
    rules = load_rules(s.path(rules_file or s.rules_file))
    if rules_file:  # the mails' footer names the file the rules really came from
        s = s.replace(rules_file=rules_file)
    es = make_client(s)
    q = WorkQueue(es, s)
    if _nothing_to_alert(es, s, q, now, release_run):
        return _alert_counts({}, 0, 0)
    released = q.release_run(f"{release_run}~", now) if release_run else 0
    pending = q.unalerted()
    ids = sorted({e.source["article_id"] for e in pending})
    if ids:  # the batches wrote their events and signals without a refresh each (finish_batch)
        refresh_signals(es, s)
    loaded = [0]

    def chunks() -> Iterator[tuple[list[Any], list[dict]]]:
        # A chunk of articles at a time (a long `rasad run` cycle can leave thousands): each
        # chunk's matches go to the ledger, and the mails are planned from it after the last.
        for i in range(0, len(ids), ALERT_CHUNK):
            part = ids[i : i + ALERT_CHUNK]
            articles = _load_articles(es, s, part)
            loaded[0] += len(articles)
            yield articles, _load_signals(es, s, part)

    rep = send_alert_chunks(es, s, rules, chunks(), now=now)
    q.mark_alerted(pending, now)
    out = _alert_counts(dataclasses.asdict(rep), loaded[0], released)
    log.info("alert: %d article(s), %d match(es), %d mail(s) sent", loaded[0], out["alerts_matched"],
             out["alerts_sent"])  # fmt: skip
    return out


def step_digest(settings: Settings | None = None, rules_file: str | None = None, now: datetime | None = None) -> dict:
    """Deliver whatever digests (and retries of earlier mails) are due now."""
    from rasad.alerts.deliver import send_alerts  # noqa: PLC0415
    from rasad.alerts.rules import load_rules  # noqa: PLC0415
    from rasad.core.es import make_client  # noqa: PLC0415

    s = _settings(settings)
    rules = load_rules(s.path(rules_file or s.rules_file))
    ensure_setup(s)
    rep = send_alerts(make_client(s), s, rules, [], now=_now(now), signals=[])
    d = dataclasses.asdict(rep)
    log.info("digest: %d mail(s) sent, %d waiting", d.get("sent", 0), d.get("waiting", 0))
    return {"alerts_sent": d.get("sent", 0), "alerts_waiting": d.get("waiting", 0),
            "alerts_failed": d.get("failed", 0), "alerts_mails_by_recipient": d.get("mails_by_recipient", {})}  # fmt: skip


class CoreGate:
    """How many pages may be in extraction at once (:func:`process_queue`): every core while the
    main thread waits for the next batch, one fewer while it dedups, tags, clusters and indexes
    one, so that work never competes with a full pool for the cores.
    """

    def __init__(self, cores: int) -> None:
        self._free = max(1, cores)
        self._cond = threading.Condition()

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one core while the block runs (waits for one to come free)."""
        with self._cond:
            self._cond.wait_for(lambda: self._free > 0)
            self._free -= 1
        try:
            yield
        finally:
            with self._cond:
                self._free += 1
                self._cond.notify_all()


def process_queue(settings: Settings | None = None, feeds_file: str | None = None, rules_file: str | None = None,
                  run_key: str | None = None, now: datetime | None = None) -> CycleSummary:  # fmt: skip
    """Claim and process batches until the queue has nothing claimable, then alert (one process).

    By default the batches go in turn: download and extract one (on every core, in the pool),
    then dedup, tag, cluster and index it. With ``overlap_batches: true`` the two stages
    overlap: while this thread works on one batch, a second thread downloads and extracts the
    next on the cores this thread leaves free (:class:`CoreGate`), one batch ahead, no more.
    Nothing the prefetch does is written, so a crash loses only work: the next run claims the
    items again once their lease has run out. On 2 cores with the Elasticsearch node on the
    same machine the overlap was slower in each of three runs (docs/scaling.md): three busy
    processes on two cores cost ~10 ms more of our CPU per article than the idle core they
    fill. Without a pool (``extract_workers: 0``) the batches always go in turn.
    """
    from concurrent.futures import Future, ThreadPoolExecutor  # noqa: PLC0415

    from rasad.core.memory import release_free_memory  # noqa: PLC0415

    s = _settings(settings)
    summary = CycleSummary()
    key = run_key or f"local-{datetime.now(timezone.utc):%Y%m%dT%H%M%S%f}"
    rounds = [0]
    claimed: list[str] = []

    def next_batch() -> str | None:
        # Claim the next round only when this one is used up: a round claims up to max_batches.
        if not claimed:
            batches = step_claim(f"{key}-r{rounds[0]}", s, now=now)
            rounds[0] += 1
            summary.batches += len(batches)
            claimed.extend(b["id"] for b in batches)
        return claimed.pop(0) if claimed else None

    first = next_batch()
    pool = _extract_pool(s, standalone=True) if first is not None else None  # (an idle cycle starts none)
    if pool is None or not s.overlap_batches:
        batch_id = first
        while batch_id is not None:
            summary.add(finish_batch(fetch_batch(batch_id, s, feeds_file, now, True), s, now=now))
            release_free_memory()  # the batch's garbage is gone: its holes go back before the next one
            batch_id = next_batch()
        summary.add(step_alert(s, rules_file, now=now))
        return summary

    gate = CoreGate(pool.workers)
    in_pool = _pool_extract(pool, s)

    def extract(*args: Any) -> Any:
        with gate.slot():
            return in_pool(*args)

    # If a batch's processing raises, the batch being prefetched is finished (or fails) before
    # the error propagates: the executor waits for it. Nothing of it is written either way.
    with ThreadPoolExecutor(1, thread_name_prefix="prefetch") as ahead:

        def prefetch(batch_id: str | None) -> Future | None:
            if batch_id is None:
                return None
            return ahead.submit(fetch_batch, batch_id, s, feeds_file, now, True, extract)

        current = prefetch(first)
        try:
            while current is not None:
                fetched = current.result()
                # The next claim happens before this batch is acknowledged: its items are claimed
                # by this run already, so the next round gets only what is left.
                current = prefetch(next_batch())
                with gate.slot():
                    summary.add(finish_batch(fetched, s, now=now))
                del fetched
                release_free_memory()
        finally:
            if current is not None:  # a batch's error: the one fetched ahead is given up, its claim not renewed
                with suppress(BaseException):
                    current.result().stop_keeping()
    summary.add(step_alert(s, rules_file, now=now))
    return summary


def summarize_run(values: dict[str, Any], polled: dict | None = None) -> CycleSummary:
    """A run's summary from the processing DAG's task values (claim, process[...], alert)."""
    summary = CycleSummary()
    if polled:
        summary.add(polled)
    summary.batches += len(values.get("claim") or [])
    for part in values.get("process") or []:
        summary.add(part or {})
        summary.add((part or {}).get("alert") or {})  # the inline alert of a run's only batch
    summary.add(values.get("alert") or {})
    return summary


def run_cycle(settings: Settings | None = None, feeds_file: str | None = None, rules_file: str | None = None,
              force: bool = False) -> CycleSummary:  # fmt: skip
    """One full cycle in this process (``rasad run``): poll, then work the queue dry, then alert.

    The same steps the service runs; an Elasticsearch outage raises (nothing is parked on
    this machine's disk) and running the command again resumes from the queue.
    """
    s = _settings(settings)
    pool = _extract_pool(s, standalone=True)
    if pool is not None:  # the workers start while the feeds are polled
        pool.warm_in_background()
    from rasad.core.es import describe_cluster, make_client  # noqa: PLC0415

    cluster = describe_cluster(make_client(s))
    log.info("writing to %s", cluster)
    ensure_setup(s)  # (step_setup once for this code's templates, not again in the poll step's check)
    polled = step_poll(s, feeds_file, force=force)
    summary = process_queue(s, feeds_file, rules_file)
    summary.add(polled)
    summary.cluster = cluster
    return summary


def maintenance_report(settings: Settings | None = None, now: datetime | None = None) -> dict:
    """Feed health, queue and dead-letter summary, and retention (the daily maintenance)."""
    from rasad.core.es import make_client  # noqa: PLC0415
    from rasad.indexing.maintenance import run_retention, summarize_health  # noqa: PLC0415

    s = _settings(settings)
    now = _now(now)
    ensure_setup(s)
    es = make_client(s)
    health = summarize_health(es, s, now)
    health["retention"] = run_retention(es, s, now)
    return health


def clean_before(now: datetime | None = None, days: int = 7) -> str:
    """The cut-off for ``airflow db clean`` (XCom, runs, task instances older than this)."""
    return (_now(now) - timedelta(days=days)).isoformat()

"""Bulk indexing: deterministic ids, per-item errors classified, nothing silently dropped.

* Ids are the article id (hash of the canonical URL), event id, ...: a re-run overwrites,
  never duplicates. An article already stored in another month's index (re-fetched after
  the month turned) is written back to that index, not duplicated into the new month.
* Actions stream to Elasticsearch in chunks bounded by count and bytes; 429/502/503/504,
  per item or for a whole request, are retried with exponential backoff.
* Each failed item is classified: *rejected* (a mapping conflict, a malformed value:
  retrying cannot help) goes to the dead-letter index with Elasticsearch's reason;
  *transient* (still overloaded/unavailable after the retries) makes the write raise.
* If Elasticsearch cannot be reached, the write raises ``IndexingUnavailable``. Nothing is
  parked on a worker's disk: the work queue has not acknowledged the batch, so the task's
  retry (or the next run, on any worker) writes the same ids again.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from elasticsearch import ApiError, Elasticsearch, helpers

from rasad.core.es import OUTAGE_ERRORS, article_index, single_index
from rasad.core.records import Article, now_iso
from rasad.core.settings import Settings
from rasad.enrich.normalize import search_form

log = logging.getLogger(__name__)
CHUNK_BYTES = 8 * 1024 * 1024
CHUNK_DOCS = 500
MAX_RETRIES = 5
INITIAL_BACKOFF = 0.5
MAX_BACKOFF = 30.0
TRANSIENT_STATUSES = (429, 502, 503, 504)
# After the per-item retries: rounds of waiting for every shard to have a primary (a node
# left, a replica is being promoted, a master is being elected) and sending the rest again.
RECOVERY_ROUNDS = 3
RECOVERY_WAIT = "30s"
RECOVERY_PAUSE = 1.0  # seconds before the first round; doubled each round
TRANSIENT = "transient"
REJECTED = "rejected"
# The node is gone (not merely slow to answer one item): queue everything, replay later.


@dataclass
class IndexReport:
    indexed: int = 0
    created: int = 0
    updated: int = 0
    dead_lettered: int = 0
    rerouted: int = 0  # written back to the month index that already held the article
    error_types: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    resent: int = 0  # items sent again once the cluster recovered (a node left mid-bulk)

    def note_error(self, message: str, kind: str) -> None:
        """Count one error by type; keep the first messages for the run summary."""
        self.error_types[kind] = self.error_types.get(kind, 0) + 1
        if len(self.errors) < 100:
            self.errors.append(message)




def classify_failure(status: int, error: Any) -> str:
    """``transient`` (overload/unavailable: replay later) or ``rejected`` (dead-letter it)."""
    if status in TRANSIENT_STATUSES:
        return TRANSIENT
    etype = error.get("type", "") if isinstance(error, dict) else ""
    if etype in ("es_rejected_execution_exception", "unavailable_shards_exception", "cluster_block_exception"):
        return TRANSIENT
    return REJECTED


def article_action(settings: Settings, article: Article, now: str | None = None) -> dict[str, Any]:
    """The bulk action for one article, with the Python-normalised search fields added."""
    doc = article.to_doc()
    doc["title_search"] = search_form(article.title or "")
    doc["text_search"] = search_form(article.text or "")
    doc["summary_search"] = search_form(article.summary or "")
    doc["timestamp"] = article.published or article.fetched_at
    doc["indexed_at"] = now or now_iso()
    return {"_op_type": "index", "_index": article_index(settings, article.fetched_at), "_id": article.id, "_source": doc}


def route_existing(es: Elasticsearch, settings: Settings, actions: Iterable[dict], report: IndexReport,
                   batch: int = CHUNK_DOCS) -> Iterator[dict]:  # fmt: skip
    """Send articles already stored in another month's index back to that index."""
    alias = settings.index("articles")
    it = iter(actions)
    while chunk := list(islice(it, batch)):
        ids = [a["_id"] for a in chunk]
        res = es.search(index=alias, query={"ids": {"values": ids}}, size=len(ids), source=False,
                        ignore_unavailable=True, allow_no_indices=True, track_total_hits=False)  # fmt: skip
        stored = {h["_id"]: h["_index"] for h in res["hits"]["hits"]}
        for a in chunk:
            where = stored.get(a["_id"])
            if where and where != a["_index"]:
                report.rerouted += 1
                yield {**a, "_index": where}
            else:
                yield a


def _dead_letter_action(settings: Settings, action: dict, error: Any, status: int, now: str) -> dict:
    err = error if isinstance(error, dict) else {"type": "unknown", "reason": str(error)}
    reason = err.get("reason") or str(err)
    cause = err.get("caused_by")
    if isinstance(cause, dict) and cause.get("reason"):
        reason = f"{reason} (caused by {cause.get('type')}: {cause['reason']})"
    kind = action["_index"].removeprefix(settings.index_prefix + "-").split("-")[0]
    return {
        "_op_type": "index",
        "_index": single_index(settings, "deadletter"),
        "_id": f"{action['_index']}:{action['_id']}",  # one entry per document, however often it fails
        "_source": {
            "target_index": action["_index"], "doc_id": action["_id"], "doc_kind": kind,
            "error_type": err.get("type"), "error_class": REJECTED, "reason": reason, "status": status,
            "failed_at": now, "source": action.get("_source"),
        },
    }  # fmt: skip


def write_actions(es: Elasticsearch, settings: Settings, actions: Iterable[dict], report: IndexReport,
                  now: str, chunk_docs: int = CHUNK_DOCS, chunk_bytes: int = CHUNK_BYTES,
                  progress: Callable[[int], None] | None = None) -> list[dict]:  # fmt: skip
    """Stream actions to Elasticsearch and classify each item; returns the transient failures.

    Rejected items are dead-lettered here. ``progress(n)`` is called with the number of
    items answered so far (the next chunk is sent only after the call returns). Raises ``OUTAGE_ERRORS`` (or an ``ApiError``)
    when Elasticsearch cannot be reached; the caller decides where the actions go then.

    Items still refused as transient after the per-item retries (a node left mid-bulk and
    its shards have no primary yet, or a master election blocks writes) are sent again once
    the cluster has a primary for every shard (health yellow), up to ``RECOVERY_ROUNDS``
    times. Sending an item twice cannot duplicate it: every action is keyed by its
    deterministic id into a fixed index, so a copy that did land is overwritten.
    """
    failures = _write_pass(es, settings, actions, report, now, chunk_docs, chunk_bytes, progress)
    for attempt in range(RECOVERY_ROUNDS):
        if not failures:
            break
        time.sleep(RECOVERY_PAUSE * 2**attempt)  # overload (429) needs time, not only assigned primaries
        log.warning("%d item(s) refused as transient; waiting for the cluster to recover and sending them again",
                    len(failures))  # fmt: skip
        wait_for_primaries(es, sorted({f[0]["_index"] for f in failures}))
        report.resent += len(failures)
        failures = _write_pass(es, settings, [f[0] for f in failures], report, now, chunk_docs, chunk_bytes, None)
    for _action, message, kind in failures:
        report.note_error(message, kind)
    return [f[0] for f in failures]


def wait_for_primaries(es: Elasticsearch, indices: list[str], timeout: str = RECOVERY_WAIT) -> str:
    """Wait (bounded) until every shard of ``indices`` has a primary again; the health status seen.

    Only these indices: another index that lost its only copy must not hold the write up.
    """
    try:
        h = es.options(ignore_status=408).cluster.health(index=",".join(indices), wait_for_status="yellow",
                                                         timeout=timeout)  # fmt: skip
    except (*OUTAGE_ERRORS, ApiError) as e:
        log.warning("cluster health unavailable while recovering: %s", e)
        return "unknown"
    return str(h.get("status", "unknown"))


def _write_pass(es: Elasticsearch, settings: Settings, actions: Iterable[dict], report: IndexReport, now: str,
                chunk_docs: int, chunk_bytes: int,
                progress: Callable[[int], None] | None) -> list[tuple[dict, str, str]]:  # fmt: skip
    """One pass of ``write_actions``: transient failures come back as (action, message, kind)."""
    # Actions waiting for their result, by id (a chunk may hold one id twice); only the
    # chunk in flight is held, so memory stays bounded on an endless stream.
    waiting: dict[str, deque[dict]] = defaultdict(deque)
    transient: list[tuple[dict, str, str]] = []
    dead: list[dict] = []

    def remember(it: Iterable[dict]) -> Iterator[dict]:
        for a in it:
            waiting[a["_id"]].append(a)
            yield a

    results = helpers.streaming_bulk(
        es, remember(actions), chunk_size=chunk_docs, max_chunk_bytes=chunk_bytes,
        raise_on_error=False, raise_on_exception=True, max_retries=MAX_RETRIES,
        initial_backoff=INITIAL_BACKOFF, max_backoff=MAX_BACKOFF, retry_on_status=TRANSIENT_STATUSES,
    )  # fmt: skip
    answered = 0
    for ok, item in results:
        res = next(iter(item.values()))
        doc_id = res.get("_id", "")
        queue = waiting.get(doc_id)
        action = queue.popleft() if queue else None
        if queue is not None and not queue:
            del waiting[doc_id]
        answered += 1
        if progress is not None:
            progress(answered)
        if ok:
            report.indexed += 1
            if res.get("result") == "created":
                report.created += 1
            else:
                report.updated += 1
            continue
        status = int(res.get("status") or 0)
        error = res.get("error", {})
        etype = error.get("type", "unknown") if isinstance(error, dict) else "unknown"
        cls = classify_failure(status, error)
        message, kind = f"{doc_id}: {cls} {status} {etype}: {_reason(error)}", f"{cls}:{etype}"
        if action is None:  # cannot happen with ids we sent; never drop silently
            report.note_error(message, kind)
            log.error("no action for failed item %s: %s", doc_id, error)
            continue
        if cls == TRANSIENT:
            transient.append((action, message, kind))  # noted by the caller only if it never lands
        else:
            report.note_error(message, kind)
            log.warning("rejected %s/%s: %s", action["_index"], doc_id, _reason(error))
            dead.append(_dead_letter_action(settings, action, error, status, now))
            if len(dead) >= chunk_docs:
                _write_dead_letters(es, dead, report)
                dead = []
    _write_dead_letters(es, dead, report)
    return transient


def _reason(error: Any) -> str:
    return str(error.get("reason", error)) if isinstance(error, dict) else str(error)


def _write_dead_letters(es: Elasticsearch, dead: list[dict], report: IndexReport) -> None:
    if not dead:
        return
    ok, failed = helpers.bulk(es, dead, raise_on_error=False, max_retries=MAX_RETRIES,
                              initial_backoff=INITIAL_BACKOFF, retry_on_status=TRANSIENT_STATUSES)  # fmt: skip
    report.dead_lettered += ok
    for f in failed if isinstance(failed, list) else []:
        # The dead-letter index itself refused: say so loudly, this is the last stop.
        report.note_error(f"dead-letter write failed: {f}", "deadletter_failed")
        log.error("could not dead-letter %s", f)


class IndexingUnavailable(RuntimeError):
    """Elasticsearch could not take the documents now (unreachable, or still overloaded after
    the retries). Transient: the task fails with nothing acknowledged, and its retry or the
    next run writes the same ids again."""


def write_or_raise(es: Elasticsearch, settings: Settings, actions: list[dict], report: IndexReport,
                   now: str, refresh: str | None, progress: Callable[[int], None] | None = None) -> None:  # fmt: skip
    """Write the actions (rejected ones dead-lettered), then refresh the ``refresh`` indices (None: none);
    raise ``IndexingUnavailable`` if any could not land."""
    try:
        transient = write_actions(es, settings, actions, report, now, progress=progress) if actions else []
        if refresh:
            es.indices.refresh(index=refresh, allow_no_indices=True, ignore_unavailable=True)
    except (*OUTAGE_ERRORS, ApiError) as e:
        if isinstance(e, ApiError) and e.status_code not in TRANSIENT_STATUSES:
            raise
        raise IndexingUnavailable(f"Elasticsearch unavailable while writing {len(actions)} document(s): "
                                  f"{type(e).__name__}: {e}") from e  # fmt: skip
    if transient:
        raise IndexingUnavailable(f"{len(transient)} of {len(actions)} document(s) still refused as overloaded "
                                  f"after {MAX_RETRIES} retries (first: {report.errors[:1]})")  # fmt: skip


def index_articles(es: Elasticsearch, settings: Settings, articles: list[Article],
                   progress: Callable[[int], None] | None = None) -> IndexReport:  # fmt: skip
    """Index articles; raise ``IndexingUnavailable`` when Elasticsearch cannot take them now."""
    now = now_iso()
    return index_article_actions(es, settings, [article_action(settings, a, now) for a in articles], now, progress)


def index_article_actions(es: Elasticsearch, settings: Settings, actions: list[dict], now: str | None = None,
                          progress: Callable[[int], None] | None = None) -> IndexReport:  # fmt: skip
    """Write prepared article actions: month re-routing, retries, dead-letter; raise when ES is unavailable."""
    report = IndexReport()
    now = now or now_iso()
    try:
        actions = list(route_existing(es, settings, actions, report))
    except OUTAGE_ERRORS as e:
        raise IndexingUnavailable(f"Elasticsearch unavailable: {type(e).__name__}: {e}") from e
    write_or_raise(es, settings, actions, report, now, refresh=settings.index("articles"), progress=progress)
    return report


def index_article_stream(es: Elasticsearch, settings: Settings, articles: Iterable[Article],
                         progress: Callable[[int], None] | None = None) -> IndexReport:  # fmt: skip
    """Index an unbounded stream (backfills) in constant memory: one chunk in flight at a time.

    Rejected documents are dead-lettered; documents Elasticsearch could not take raise
    ``IndexingUnavailable``, and re-running the backfill is safe because every write is keyed by id.
    """
    report = IndexReport()
    now = now_iso()
    actions = (article_action(settings, a, now) for a in articles)
    transient = write_actions(es, settings, route_existing(es, settings, actions, report), report, now,
                              progress=progress)  # fmt: skip
    if transient:
        raise IndexingUnavailable(f"{len(transient)} document(s) still refused as overloaded after retries")
    es.indices.refresh(index=settings.index("articles"), allow_no_indices=True, ignore_unavailable=True)
    return report

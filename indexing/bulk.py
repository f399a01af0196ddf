"""Bulk indexing of articles: deterministic ids, per-item errors classified, nothing silently dropped.

* Ids are the article id (hash of the canonical URL): a re-run overwrites, never duplicates.
* 429/503 per item or per request are retried with backoff by ``streaming_bulk``.
* An item Elasticsearch rejects for good (mapping conflict, bad value) goes to the
  dead-letter index with its reason.
* If Elasticsearch cannot be reached at all, the documents go to a durable local outbox
  (``indexing/outbox.py``) and are replayed first on the next run.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from elasticsearch import ApiError, Elasticsearch, helpers
from elasticsearch import ConnectionError as ESConnectionError

from enrich.normalize import search_form
from indexing.outbox import Outbox
from rasad.es import article_index, single_index
from rasad.records import Article, utc_iso
from rasad.settings import Settings

log = logging.getLogger(__name__)
CHUNK_BYTES = 5 * 1024 * 1024
CHUNK_DOCS = 500


@dataclass
class IndexReport:
    indexed: int = 0
    created: int = 0
    updated: int = 0
    dead_lettered: int = 0
    queued_in_outbox: int = 0
    replayed_from_outbox: int = 0
    errors: list[str] = field(default_factory=list)


def article_action(settings: Settings, article: Article, now: str | None = None) -> dict[str, Any]:
    """The bulk action for one article, with the Python-normalised search fields added."""
    doc = article.to_doc()
    doc["title_search"] = search_form(article.title or "")
    doc["text_search"] = search_form(article.text or "")
    doc["indexed_at"] = now or utc_iso(None) or ""
    return {"_op_type": "index", "_index": article_index(settings, article.fetched_at), "_id": article.id, "_source": doc}


def _dead_letter(es: Elasticsearch, settings: Settings, action: dict, error: dict, status: int, now: str) -> None:
    err = error if isinstance(error, dict) else {"type": "unknown", "reason": str(error)}
    es.index(
        index=single_index(settings, "deadletter"),
        id=f"{action['_index']}:{action['_id']}",
        document={
            "target_index": action["_index"], "doc_id": action["_id"], "error_type": err.get("type"),
            "reason": err.get("reason") or str(err), "status": status, "failed_at": now,
            "source": action.get("_source"),
        },
    )  # fmt: skip


def bulk_write(es: Elasticsearch, settings: Settings, actions: Iterable[dict], report: IndexReport, now: str) -> None:
    """Stream actions to Elasticsearch; classify each item's result into the report."""
    by_id: dict[tuple[str, str], dict] = {}

    def remember(it: Iterable[dict]) -> Iterator[dict]:
        for a in it:
            by_id[(a["_index"], a["_id"])] = a
            yield a

    for ok, item in helpers.streaming_bulk(
        es, remember(actions), chunk_size=CHUNK_DOCS, max_chunk_bytes=CHUNK_BYTES,
        raise_on_error=False, raise_on_exception=True, max_retries=5, initial_backoff=0.5, max_backoff=30,
    ):  # fmt: skip
        op, res = next(iter(item.items()))
        key = (res.get("_index", ""), res.get("_id", ""))
        action = by_id.pop(key, None)
        if ok:
            report.indexed += 1
            if res.get("result") == "created":
                report.created += 1
            else:
                report.updated += 1
            continue
        status = res.get("status", 0)
        error = res.get("error", {})
        if action is None:  # the index name in the reply is concrete; find the action by id
            action = next((a for (i, d), a in by_id.items() if d == res.get("_id")), None)
        log.warning("rejected %s: %s", key, error)
        report.errors.append(f"{key[1]}: {error.get('type') if isinstance(error, dict) else error}")
        if action is not None:
            _dead_letter(es, settings, action, error, status, now)
            report.dead_lettered += 1


def index_articles(es: Elasticsearch, settings: Settings, articles: list[Article]) -> IndexReport:
    """Index articles (replaying the outbox first); on an outage queue them in the outbox."""
    report = IndexReport()
    now = utc_iso(None) or ""
    outbox = Outbox(settings.var_path / "outbox" / "articles")
    actions = [article_action(settings, a, now) for a in articles]
    try:
        pending = outbox.pending()
        if pending:
            bulk_write(es, settings, (a for _, batch in pending for a in batch), report, now)
            report.replayed_from_outbox = sum(len(b) for _, b in pending)
            outbox.remove([name for name, _ in pending])
        if actions:
            bulk_write(es, settings, actions, report, now)
        es.indices.refresh(index=settings.index("articles"), allow_no_indices=True, ignore_unavailable=True)
    except (ESConnectionError, ApiError) as e:
        if isinstance(e, ApiError) and getattr(e, "status_code", 0) not in (429, 502, 503, 504):
            raise
        # Elasticsearch is unreachable: keep everything locally, replay next run. Writes are
        # keyed by id, so documents that did reach the index before the outage are
        # simply overwritten on replay, never duplicated.
        outbox.put(actions)
        report.queued_in_outbox = len(actions)
        report.errors.append(f"Elasticsearch unavailable, {len(actions)} article(s) queued in the outbox: {e}")
        log.error("Elasticsearch unavailable; queued %d articles in %s", len(actions), outbox.folder)
    return report

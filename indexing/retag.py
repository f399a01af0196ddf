"""Re-tag stored articles in place when the seeds (entities, taxonomy) change.

Articles are read back from Elasticsearch (their stored title and text: nothing is
downloaded again), re-tagged with ``rasad.enrich.tagging``, and written back to the very
index and id they came from. Only the tag fields change; each write is conditional on
the document's sequence number, so an article the pipeline rewrote meanwhile is not
clobbered with stale text (it is counted as ``conflicts`` and is tagged by that run).
Articles already tagged by the current tagger version are skipped unless ``force``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from elasticsearch import Elasticsearch, helpers

from rasad.core.records import Article, utc_iso
from rasad.core.settings import Settings
from rasad.indexing.bulk import CHUNK_DOCS, MAX_RETRIES, TRANSIENT_STATUSES
from rasad.indexing.search import parse_since

log = logging.getLogger(__name__)
TAG_FIELDS = ("entities", "topics", "tagger_version", "entity_ids", "topic_ids", "entities_by_type")


@dataclass
class RetagReport:
    tagger_version: str = ""
    seen: int = 0
    retagged: int = 0
    changed: int = 0  # tags differ from what was stored
    skipped_current: int = 0
    conflicts: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


def retag_query(since: str | None, skip_version: str | None, now: datetime,
                topics: list[str] | None = None) -> dict[str, Any]:  # fmt: skip
    """Which stored articles to re-tag: seen since ``since``, tagged with any of ``topics``, not at ``skip_version``."""
    filters: list[dict] = []
    if topics:
        filters.append({"terms": {"topic_ids": list(topics)}})
    if since:
        filters.append({"range": {"timestamp": {"gte": utc_iso(parse_since(since, now))}}})
    must_not = [{"term": {"tagger_version": skip_version}}] if skip_version else []
    return {"bool": {"filter": filters, "must_not": must_not}}


def iter_stored(es: Elasticsearch, index: str, query: dict, page: int = 500) -> Iterator[dict]:
    """Every matching hit (with ``_seq_no``), paged with a point in time and search_after."""
    pit = es.open_point_in_time(index=index, keep_alive="5m", ignore_unavailable=True)["id"]
    try:
        after = None
        while True:
            kwargs: dict[str, Any] = {"search_after": after} if after else {}
            res = es.search(pit={"id": pit, "keep_alive": "5m"}, query=query, size=page, seq_no_primary_term=True,
                            sort=[{"_shard_doc": "asc"}], **kwargs)  # fmt: skip
            hits = res["hits"]["hits"]
            if not hits:
                return
            pit = res.get("pit_id", pit)
            yield from hits
            after = hits[-1]["sort"]
    finally:
        es.close_point_in_time(id=pit)


def retag_source(source: dict, tag: Callable[[Article], Article]) -> dict:
    """The stored document with its tag fields recomputed from its own title and text."""
    article = tag(Article.from_doc(source))
    fresh = article.to_doc()
    return {**source, **{k: fresh[k] for k in TAG_FIELDS}}


def retag_articles(es: Elasticsearch, settings: Settings, since: str | None = None, force: bool = False,
                   progress: bool = True, now: datetime | None = None,
                   topics: list[str] | None = None) -> RetagReport:  # fmt: skip
    """Re-enrich stored articles from their stored text and update them in place."""
    from rasad.enrich.tagging import get_tagger, tag_article  # noqa: PLC0415 - spaCy is heavy

    tagger = get_tagger(settings.path(settings.seeds_dir))
    report = RetagReport(tagger_version=str(getattr(tagger, "version", "")))
    alias = settings.index("articles")
    query = retag_query(since, None if force else report.tagger_version or None, now or datetime.now(timezone.utc),
                        topics)  # fmt: skip
    total = es.count(index=alias, query=query, ignore_unavailable=True, allow_no_indices=True)["count"]
    if not force:
        all_since = retag_query(since, None, now or datetime.now(timezone.utc), topics)
        everything = es.count(index=alias, query=all_since, ignore_unavailable=True, allow_no_indices=True)["count"]
        report.skipped_current = everything - total
    bar = _progress(total, progress)

    def actions() -> Iterator[dict]:
        for hit in iter_stored(es, alias, query):
            report.seen += 1
            src = hit["_source"]
            try:
                new = retag_source(src, lambda a: tag_article(a, tagger))
            except Exception as e:  # one bad article never stops the rest
                report.failed += 1
                report.errors.append(f"{hit['_id']}: tagging failed: {e}")
                log.exception("re-tagging %s failed", hit["_id"])
                bar.update(1)
                continue
            if any(new.get(k) != src.get(k) for k in ("entity_ids", "topic_ids", "entities", "topics")):
                report.changed += 1
            yield {"_op_type": "index", "_index": hit["_index"], "_id": hit["_id"], "_source": new,
                   "if_seq_no": hit["_seq_no"], "if_primary_term": hit["_primary_term"]}  # fmt: skip

    try:
        for ok, item in helpers.streaming_bulk(es, actions(), chunk_size=CHUNK_DOCS, raise_on_error=False,
                                               max_retries=MAX_RETRIES, retry_on_status=TRANSIENT_STATUSES):  # fmt: skip
            bar.update(1)
            res = next(iter(item.values()))
            if ok:
                report.retagged += 1
            elif res.get("status") == 409:
                report.conflicts += 1
            else:
                report.failed += 1
                report.errors.append(f"{res.get('_id')}: {res.get('status')} {res.get('error')}")
    finally:
        bar.close()
    es.indices.refresh(index=alias, ignore_unavailable=True, allow_no_indices=True)
    return report


def _progress(total: int, enabled: bool) -> Any:
    from tqdm import tqdm  # noqa: PLC0415

    return tqdm(total=total, unit="article", desc="re-tagging", disable=not enabled, dynamic_ncols=True)

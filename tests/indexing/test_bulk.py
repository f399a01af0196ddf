"""Bulk indexing on the real node: idempotent re-runs, dead-lettering, transient failures kept."""

from __future__ import annotations

import dataclasses

import pytest

from rasad.core.es import single_index
from rasad.indexing.bulk import TRANSIENT, IndexingUnavailable, classify_failure, index_articles
from rasad.indexing.setup import setup_indices
from tests.indexing.conftest import make_article


def _count(es, index: str) -> int:
    es.indices.refresh(index=index, ignore_unavailable=True, allow_no_indices=True)
    return es.count(index=index, ignore_unavailable=True, allow_no_indices=True)["count"]


def test_rerun_creates_no_duplicate(es, settings, seeds):
    setup_indices(es, settings)
    first = index_articles(es, settings, seeds)
    assert (first.indexed, first.created, first.dead_lettered) == (5, 5, 0)
    again = index_articles(es, settings, [dataclasses.replace(a) for a in seeds])
    assert (again.indexed, again.created, again.updated) == (5, 0, 5)
    assert _count(es, settings.index("articles")) == 5


def test_article_refetched_in_a_later_month_is_not_duplicated(es, settings, seeds):
    setup_indices(es, settings)
    a = seeds[0]
    index_articles(es, settings, [a])
    later = dataclasses.replace(a, fetched_at="2025-07-15T00:00:00Z", title=a.title + " (محدث)")
    rep = index_articles(es, settings, [later])
    assert rep.rerouted == 1 and rep.created == 0
    hits = es.search(index=settings.index("articles"), query={"ids": {"values": [a.id]}})["hits"]["hits"]
    assert len(hits) == 1
    assert hits[0]["_index"].endswith("-2025.05") and hits[0]["_source"]["title"].endswith("(محدث)")


def test_mapping_conflict_goes_to_dead_letter_with_reason(es, settings, seeds):
    setup_indices(es, settings)
    bad = make_article("bad-date", "عنوان", "نص الخبر", published="الأحد الماضي")  # not a date
    rep = index_articles(es, settings, [*seeds, bad])
    assert rep.indexed == 5 and rep.dead_lettered == 1
    assert any(k.startswith("rejected:") for k in rep.error_types)
    dl = single_index(settings, "deadletter")
    es.indices.refresh(index=dl)
    hits = es.search(index=dl, query={"term": {"doc_id": bad.id}})["hits"]["hits"]
    assert len(hits) == 1
    entry = hits[0]["_source"]
    assert entry["error_class"] == "rejected" and entry["status"] == 400
    assert "published" in entry["reason"]
    assert entry["source"]["title"] == "عنوان"  # the whole document is kept for a later fix
    assert entry["target_index"].startswith(settings.index("articles"))
    # Failing again does not pile up copies in the dead-letter index.
    index_articles(es, settings, [bad])
    assert _count(es, dl) == 1


def test_blocked_index_is_transient_raises_and_a_retry_writes_it_not_dead_lettered(es, settings, seeds):
    setup_indices(es, settings)
    index = settings.index("articles") + "-2025.05"
    es.indices.create(index=index)
    es.indices.put_settings(index=index, settings={"index.blocks.write": True})
    try:
        with pytest.raises(IndexingUnavailable, match="still refused"):
            index_articles(es, settings, seeds)
    finally:
        es.indices.put_settings(index=index, settings={"index.blocks.write": False})
    assert not (settings.var_path / "outbox").exists()  # nothing parked on this machine's disk
    # The task's retry writes the same ids: everything lands once.
    rep = index_articles(es, settings, seeds)
    assert rep.indexed == 5
    assert _count(es, settings.index("articles")) == 5
    assert _count(es, single_index(settings, "deadletter")) == 0


def test_classify_failure():
    assert classify_failure(429, {"type": "es_rejected_execution_exception"}) == TRANSIENT
    assert classify_failure(503, {"type": "unavailable_shards_exception"}) == TRANSIENT
    assert classify_failure(400, {"type": "document_parsing_exception"}) == "rejected"
    assert classify_failure(400, {"type": "strict_dynamic_mapping_exception"}) == "rejected"

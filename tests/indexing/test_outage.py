"""An Elasticsearch outage in the middle of a run loses nothing and duplicates nothing.

The test runs a node of its own (never the session node), stops it after two chunks of a
run have been written, and starts it again. The write raises (the task fails, nothing is
acknowledged, nothing is parked on local disk) and the retry writes the same ids again.
"""

from __future__ import annotations

import uuid

import pytest

from rasad import esnode
from rasad.core.es import make_client
from rasad.indexing.bulk import CHUNK_DOCS, IndexingUnavailable, index_articles
from rasad.indexing.setup import setup_indices
from tests.conftest import own_es_node
from tests.indexing.conftest import make_article

N = 3 * CHUNK_DOCS + 123  # four chunks: the node dies after the second


@pytest.fixture
def own_node(tmp_path):
    """A second, throwaway node this test may stop and start."""
    with own_es_node("test-outage") as (base, url, port, home):
        s = base.replace(es_url=url, index_prefix=f"o{uuid.uuid4().hex[:8]}", var_dir=str(tmp_path / "var"))
        yield s, port, home


def _articles(n: int, tag: str) -> list:
    body = "تواصل موسكو اتصالاتها مع حركة طالبان في كابول بشأن التعاون الأمني والاقتصادي. " * 12
    return [make_article(f"{tag}/{i}", f"خبر رقم {i} عن طالبان", body + str(i)) for i in range(n)]


def test_node_stopped_mid_run_then_restarted_loses_and_duplicates_nothing(own_node):
    s, port, home = own_node
    es = make_client(s, request_timeout=10)
    setup_indices(es, s)
    articles = _articles(N, "run1")
    stopped = []

    def stop_after_two_chunks(answered: int) -> None:
        if answered == 2 * CHUNK_DOCS and not stopped:
            stopped.append(esnode.stop_node(s, port=port, home=home))

    with pytest.raises(IndexingUnavailable, match="unavailable"):
        index_articles(es, s, articles, progress=stop_after_two_chunks)
    assert stopped == [True]
    assert not (s.var_path / "outbox").exists()

    # While the node is down, a second batch fails the same way (some are the same ids).
    more = _articles(50, "run2") + articles[:10]
    with pytest.raises(IndexingUnavailable):
        index_articles(es, s, more)

    esnode.start_node(s, port=port, home=home)
    es = make_client(s, request_timeout=30)
    # The retries: both batches again, in either order.
    r2 = index_articles(es, s, more)
    r1 = index_articles(es, s, articles)
    assert r1.dead_lettered == 0 and r2.dead_lettered == 0 and r1.errors == [] == r2.errors
    assert r1.indexed == N and r2.indexed == len(more)

    es.indices.refresh(index=s.index("articles"))
    expected = {a.id for a in articles} | {a.id for a in more}
    assert es.count(index=s.index("articles"))["count"] == len(expected) == N + 50
    stored = set()
    for hit in _scan_ids(es, s.index("articles")):
        assert hit not in stored, f"duplicate {hit}"
        stored.add(hit)
    assert stored == expected


def _scan_ids(es, index: str):
    from elasticsearch import helpers

    for h in helpers.scan(es, index=index, query={"query": {"match_all": {}}}, _source=False):
        yield h["_id"]

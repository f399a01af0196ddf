"""An Elasticsearch outage in the middle of a run loses nothing and duplicates nothing.

The test runs a node of its own (never the session node), stops it after two chunks of a
run have been written, and starts it again: the next run replays the outbox.
"""

from __future__ import annotations

import os
import shutil
import uuid

import pytest

from indexing.bulk import CHUNK_DOCS, index_articles, outbox_for
from indexing.setup import setup_indices
from rasad import esnode
from rasad.es import make_client
from rasad.settings import load_settings
from tests.conftest import free_port
from tests.indexing.conftest import make_article

N = 3 * CHUNK_DOCS + 123  # four chunks: the node dies after the second


@pytest.fixture
def own_node(tmp_path):
    """A second, throwaway node this test may stop and start."""
    base = load_settings()
    port = free_port()
    home = base.cache_path / "nodes" / f"test-outage-{port}-{os.getpid()}"
    info = esnode.start_node(base, port=port, home=home)
    s = base.replace(es_url=info.url, index_prefix=f"o{uuid.uuid4().hex[:8]}", var_dir=str(tmp_path / "var"))
    yield s, port, home
    esnode.stop_node(base, port=port, home=home)
    shutil.rmtree(home, ignore_errors=True)


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

    rep = index_articles(es, s, articles, progress=stop_after_two_chunks)
    assert stopped == [True]
    assert rep.indexed == 2 * CHUNK_DOCS  # what reached the node before it went down
    assert rep.queued_in_outbox == N  # everything of this run is kept; replay overwrites by id
    assert any(k.startswith("outage:") for k in rep.error_types)
    assert len(outbox_for(s)) == N

    # While the node is down, a second run queues its articles too (some are the same ids).
    more = _articles(50, "run2") + articles[:10]
    down = index_articles(es, s, more)
    assert down.indexed == 0 and down.queued_in_outbox == len(more)

    esnode.start_node(s, port=port, home=home)
    es = make_client(s, request_timeout=30)
    replay = index_articles(es, s, [])
    assert replay.replayed_from_outbox == N + len(more) and replay.queued_in_outbox == 0
    assert replay.dead_lettered == 0 and replay.errors == []
    assert len(outbox_for(s)) == 0

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

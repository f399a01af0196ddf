"""A node of the three-node cluster is killed (SIGKILL) while 5,000 articles are indexed.

Runs against the session's cluster (`make test-cluster`, RASAD_TEST_ES_NODES=3); on a
single-node session it is skipped, because there is no second node to fail over to.
The killed node is the elected master and holds a primary of the articles index, so the
bulk meets a lost coordinating node, a replica promotion and a master election at once.
"""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from rasad import esnode
from rasad.core.es import describe_cluster, make_client
from rasad.core.records import Article
from rasad.core.settings import load_settings
from rasad.indexing.bulk import index_articles
from rasad.indexing.setup import setup_indices

ARTICLES = 5_000
KILL_AFTER = 1_000  # answered items before the kill: the rest is written through the failover


def articles(n: int) -> list[Article]:
    """``n`` distinct Arabic articles over one month (deterministic ids from their URLs)."""
    out = []
    for i in range(n):
        url = f"https://news.example.org/node-loss/{i}"
        out.append(Article(url=url, canonical_url=url, feed_id=f"feed-{i % 20}", source=f"Source {i % 20}",
                           title=f"طالبان وروسيا: خبر رقم {i}", text=f"قال مسؤولون في كابول وموسكو إن المحادثات {i} مستمرة. " * 8,
                           language="ar", fetched_at=f"2025-05-{1 + i % 28:02d}T10:00:00Z",
                           published=f"2025-05-{1 + i % 28:02d}T09:00:00Z"))  # fmt: skip
    return out


def _master_name(es) -> str:
    return es.cat.master(format="json")[0]["node"]


def test_a_node_killed_mid_bulk_loses_nothing_and_duplicates_nothing(es_cluster, settings, monkeypatch):
    if es_cluster is None:
        pytest.skip("needs the three-node session cluster: make test-cluster (RASAD_TEST_ES_NODES=3)")
    # Three primaries (and a replica each): every node holds part of the index being written.
    monkeypatch.setenv("RASAD_ES_SHARDS", "3")
    s = load_settings()
    es = make_client(s, request_timeout=60)
    victim = None
    try:
        rep = setup_indices(es, s)
        assert rep.replicas == 1, "auto replicas on a three-node cluster"
        index = f"{s.index('articles')}-2025.05"
        es.indices.create(index=index)
        es.cluster.health(index=index, wait_for_status="green", timeout="60s")
        before = describe_cluster(es)
        master = _master_name(es)
        primaries = {r["node"] for r in es.cat.shards(index=index, format="json") if r["prirep"] == "p"}
        victim = next(i for i, n in enumerate(es_cluster.nodes) if n.name == master)
        assert master in primaries, f"master {master} holds no primary of {index}: {primaries}"
        pid = esnode.cluster_status(s, es_cluster.home).nodes[victim].pid
        assert pid, f"no pid for node {master}"

        reached = threading.Event()
        killed_at: list[float] = []

        def kill_when_reached() -> None:
            if reached.wait(timeout=600):
                time.sleep(0.2)  # into the next chunk's request, not between two requests
                os.kill(pid, signal.SIGKILL)
                killed_at.append(time.monotonic())

        killer = threading.Thread(target=kill_when_reached, daemon=True)
        killer.start()

        def progress(done: int) -> None:
            if done >= KILL_AFTER:
                reached.set()

        docs = articles(ARTICLES)
        t0 = time.monotonic()
        report = index_articles(es, s, docs, progress=progress)
        elapsed = time.monotonic() - t0
        killer.join(timeout=5)
        assert killed_at, "the node was never killed"
        print(f"\n{ARTICLES} articles in {elapsed:.1f}s, node {master} (pid {pid}) SIGKILLed "
              f"{killed_at[0] - t0:.1f}s in; report: indexed {report.indexed}, resent after recovery "
              f"{report.resent}, errors {report.error_types}")  # fmt: skip
        print("before:", before)
        print("after: ", describe_cluster(es))

        # Nothing lost, nothing parked for later, nothing dead-lettered.
        assert report.indexed == ARTICLES, report.errors[:5]
        assert report.dead_lettered == 0 and not report.errors
        es.indices.refresh(index=s.index("articles"))
        assert es.count(index=s.index("articles"))["count"] == ARTICLES
        # Nothing duplicated: each id once, in the one month index (ids are url hashes).
        dup = es.search(index=s.index("articles"), size=0,
                        aggs={"ids": {"terms": {"field": "id", "min_doc_count": 2, "size": 10}}})  # fmt: skip
        assert dup["aggregations"]["ids"]["buckets"] == []
        assert {a.id for a in docs} == {h["_id"] for h in es.search(index=s.index("articles"), size=ARTICLES,
                                                                     source=False)["hits"]["hits"]}  # fmt: skip
        assert _master_name(es) != master, "a new master was elected"
        assert es.cluster.health()["status"] in ("yellow", "green")
    finally:
        # The node comes back with its old data; the cluster must return to green (the
        # rest of the session runs on it too).
        if victim is not None:
            esnode.start_cluster_node(s, es_cluster.home, victim)
        health = esnode.wait_for_cluster([n.port for n in es_cluster.nodes], "green", len(es_cluster.nodes), 240)
    assert health["status"] == "green" and health["number_of_nodes"] == 3
    assert es.count(index=s.index("articles"))["count"] == ARTICLES
    print("restarted:", describe_cluster(es))

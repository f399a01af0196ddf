"""Indexing throughput on one node against a local three-node cluster, in the same run.

    .venv/bin/python bench/bench_cluster.py [--docs 5000] [--rounds 3] [--nodes 3]

Starts a single node, then (after stopping it) a cluster of ``--nodes`` nodes from the same
server zip, each on free loopback ports with 512m heap (settings es_heap). On each it writes
the same prepared documents with ``rasad.indexing.bulk.index_article_actions`` (bench_indexing's
part 1, our indexer only) into fresh indices from the templates, best of ``--rounds``:
the single node with 0 replicas, the cluster with the settings' defaults (``auto``: 1
replica, so every document is written twice) and, for comparison, the cluster with 0
replicas and one primary shard per node. Prints docs/s, the ratio to the single node and
the machine load (the machine is shared: read the ratios, not the absolute numbers).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_indexing import drop, free_port, fresh, seed_vocabulary, synthetic_articles, time_ours

from rasad import esnode
from rasad.core.es import describe_cluster, make_client
from rasad.core.settings import Settings, load_settings
from rasad.indexing.bulk import article_action


def load() -> str:
    """The machine's 1/5/15-minute load averages."""
    return "load {:.1f} {:.1f} {:.1f}".format(*os.getloadavg())


def best_rate(es, base: Settings, actions: list[dict], rounds: int, label: str) -> float:
    """Best docs/s of ``rounds`` writes of ``actions`` into fresh indices."""
    best = float("inf")
    for r in range(rounds):
        s = fresh(base, "".join(c for c in label if c.isalnum()).lower()[:12])
        try:
            dt, count = time_ours(es, s, actions)
        finally:
            drop(es, s)
        assert count == len(actions), f"{label}: {count} stored of {len(actions)}"
        best = min(best, dt)
        print(f"  round {r + 1} {label:<22} {len(actions) / dt:8,.0f} docs/s  ({dt:.1f}s, {load()})")
    return len(actions) / best


def main(argv: list[str] | None = None) -> int:
    """Measure and print the single-node and cluster figures."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--docs", type=int, default=5_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--nodes", type=int, default=3)
    args = ap.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)
    base = load_settings()
    prep = fresh(base, "prep")
    actions = [article_action(prep, a) for a in synthetic_articles(args.docs, 1, seed_vocabulary(), "cluster")]
    print(f"{args.docs} documents, {args.rounds} rounds each; heap {base.es_heap} per node; {os.cpu_count()} cores; "
          f"{load()}")  # fmt: skip
    rates: dict[str, float] = {}

    port = free_port()
    home = base.cache_path / "nodes" / f"bench-{port}-{os.getpid()}"
    node = esnode.start_node(base, port=port, home=home)
    try:
        single = base.replace(es_url=node.url)
        es = make_client(single, request_timeout=120)
        print("\n== single node:", describe_cluster(es))
        rates["1 node, 0 replicas"] = best_rate(es, single, actions, args.rounds, "1 node, 0 replicas")
    finally:
        esnode.stop_node(base, port=port, home=home)
        shutil.rmtree(home, ignore_errors=True)

    ports = sorted({free_port() for _ in range(args.nodes * 3)})[: args.nodes]
    chome = base.cache_path / "nodes" / f"bench-cluster-{ports[0]}-{os.getpid()}"
    t = time.perf_counter()
    cluster = esnode.start_cluster(base, nodes=args.nodes, home=chome, http_ports=ports)
    print(f"\n== {args.nodes}-node cluster green in {time.perf_counter() - t:.0f}s")
    try:
        cs = base.replace(es_url=cluster.url)
        es = make_client(cs, request_timeout=120)
        print(describe_cluster(es))
        label = f"{args.nodes} nodes, 1 replica"
        rates[label] = best_rate(es, cs.replace(es_replicas="auto"), actions, args.rounds, label)
        label = f"{args.nodes} nodes, 0 rep, {args.nodes} shards"
        rates[label] = best_rate(es, cs.replace(es_replicas="0", es_shards=args.nodes), actions, args.rounds, label)
    finally:
        esnode.stop_cluster(base, chome)
        shutil.rmtree(chome, ignore_errors=True)

    first = next(iter(rates.values()))
    print(f"\n| setup | docs/s (best of {args.rounds}) | ratio to 1 node |\n| --- | ---: | ---: |")
    for label, rate in rates.items():
        print(f"| {label} | {rate:,.0f} | {rate / first:.2f} |")
    print(load())
    return 0


if __name__ == "__main__":
    sys.exit(main())

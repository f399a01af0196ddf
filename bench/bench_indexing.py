"""Indexing benchmark: our indexer against the client's plain ``helpers.bulk``, and a 100k stream.

    .venv/bin/python bench/bench_indexing.py [--docs 5000] [--rounds 4] [--stream 100000]

Starts its own Elasticsearch node on a free loopback port (or uses RASAD_ES_URL when set).
Part 1 writes the same prepared documents with ``rasad.indexing.bulk.index_article_actions``
(month re-routing lookup, classification, dead-letter handling) and with plain
``elasticsearch.helpers.bulk``, alternating, each into fresh indices created from the same
templates, and prints docs/s and the ratio (bar: >= 0.8). Part 2 streams synthetic articles
through ``index_article_stream`` (documents built lazily, search forms included) and prints
the process RSS at checkpoints: errors must be zero and memory flat.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import socket
import sys
import time
import uuid
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from elasticsearch import helpers

from rasad import esnode
from rasad.core.es import make_client
from rasad.core.records import Article, EntityTag, TopicTag
from rasad.core.settings import PROJECT_ROOT, Settings, load_settings
from rasad.indexing.bulk import (
    CHUNK_BYTES,
    CHUNK_DOCS,
    article_action,
    index_article_actions,
    index_article_stream,
)
from rasad.indexing.setup import setup_indices

ENTITIES = [("taliban", "group", "Taliban", "طالبان"), ("russia", "place", "Russia", "روسيا"),
            ("vladimir_putin", "person", "Vladimir Putin", "فلاديمير بوتين"),
            ("isis_k", "group", "ISIS-K", "داعش خراسان"), ("kabul", "place", "Kabul", "كابول")]  # fmt: skip
TOPICS = ["diplomacy.rapprochement", "security.terrorism", "economy.trade", "geopolitics"]


def seed_vocabulary() -> list[str]:
    """Words of the five seed articles: realistic Arabic tokens with clitics and punctuation."""
    words: list[str] = []
    for p in sorted((PROJECT_ROOT / "seeds").glob("*.txt")):
        words += p.read_text(encoding="utf-8").split()
    return words


def synthetic_articles(n: int, seed: int, words: list[str], tag: str, text_words: int = 180):
    """``n`` articles (lazily) with seed-like text, entities and topics; ids unique per ``tag``."""
    rnd = random.Random(seed)
    for i in range(n):
        start = rnd.randrange(0, len(words) - text_words)
        text = " ".join(words[start : start + text_words]) + f" ({i})"
        ents = rnd.sample(ENTITIES, 2)
        url = f"https://bench.example.org/{tag}/{i}"
        day = 1 + i % 28
        yield Article(
            url=url, canonical_url=url, feed_id=f"feed-{i % 40}", source=f"Source {i % 40}",
            title=" ".join(words[start : start + 12]), text=text, language="ar",
            published=f"2025-05-{day:02d}T{i % 24:02d}:00:00Z", fetched_at=f"2025-05-{day:02d}T{i % 24:02d}:05:00Z",
            entities=[EntityTag(id=e[0], type=e[1], name=e[2], name_ar=e[3]) for e in ents],
            topics=[TopicTag(id=rnd.choice(TOPICS), label="t", score=0.7)], tagger_version="bench",
        )  # fmt: skip


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fresh(base: Settings, label: str) -> Settings:
    """Settings with a new index prefix (own templates and indices) and its own var dir."""
    prefix = f"bench{label}{uuid.uuid4().hex[:6]}"
    return base.replace(index_prefix=prefix, var_dir=str(Path("/tmp") / f"rasad-bench-{prefix}"))


def drop(es, s: Settings) -> None:
    """Delete a run's indices and templates."""
    es.indices.delete(index=f"{s.index_prefix}-*", ignore_unavailable=True, allow_no_indices=True)
    es.options(ignore_status=404).indices.delete_index_template(name=f"{s.index_prefix}-*")
    shutil.rmtree(s.var_path, ignore_errors=True)


def retarget(actions: list[dict], s: Settings) -> list[dict]:
    """The same documents aimed at this run's indices."""
    return [{**a, "_index": s.index("articles") + "-" + a["_index"].rsplit("-", 1)[1]} for a in actions]


def time_ours(es, s: Settings, actions: list[dict]) -> tuple[float, int]:
    setup_indices(es, s)
    mine = retarget(actions, s)
    t = time.perf_counter()
    rep = index_article_actions(es, s, mine)
    dt = time.perf_counter() - t
    assert rep.errors == [] and rep.indexed == len(actions), rep.errors[:3]
    return dt, es.count(index=s.index("articles"))["count"]


def time_plain(es, s: Settings, actions: list[dict]) -> tuple[float, int]:
    setup_indices(es, s)
    mine = retarget(actions, s)  # the client's defaults otherwise (no retries, no dead-letter)
    t = time.perf_counter()
    ok, errors = helpers.bulk(es, mine, chunk_size=CHUNK_DOCS, max_chunk_bytes=CHUNK_BYTES)
    es.indices.refresh(index=s.index("articles"))
    dt = time.perf_counter() - t
    assert ok == len(actions) and not errors
    return dt, es.count(index=s.index("articles"))["count"]


def rss_mb() -> float:
    """Resident memory of this process in MiB."""
    return psutil.Process().memory_info().rss / 2**20


def main(argv: list[str] | None = None) -> int:
    """Run both parts and print the figures; exit 1 if a bar is missed."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--docs", type=int, default=5_000, help="documents per comparison round")
    ap.add_argument("--rounds", type=int, default=4, help="alternating rounds (best of each side: the machine is shared)")
    ap.add_argument("--stream", type=int, default=100_000, help="articles in the streaming run")
    args = ap.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)  # progress shows as it happens, also when piped

    base = load_settings()
    node = None
    if not os.environ.get("RASAD_ES_URL"):
        port = free_port()
        home = base.cache_path / "nodes" / f"bench-{port}-{os.getpid()}"
        t = time.perf_counter()
        node = esnode.start_node(base, port=port, home=home)
        base = base.replace(es_url=node.url)
        print(f"started Elasticsearch {node.version} at {node.url} in {time.perf_counter() - t:.0f}s")
    es = make_client(base, request_timeout=120)
    words = seed_vocabulary()
    failed = False
    try:
        # ---------------------------------------------------------------- part 1
        prep = fresh(base, "prep")
        t = time.perf_counter()
        actions = [article_action(prep, a) for a in synthetic_articles(args.docs, 1, words, "cmp")]
        build = time.perf_counter() - t
        size = sum(len(a["_source"]["text"]) for a in actions) / len(actions)
        print(f"\n== ours vs helpers.bulk: {args.docs} documents (~{size:.0f} chars of text each), "
              f"{args.rounds} alternating rounds")  # fmt: skip
        print(f"building the documents (search forms included): {args.docs / build:,.0f} docs/s (not timed below)")
        best = {"ours": float("inf"), "plain": float("inf")}
        for r in range(args.rounds):
            for name, fn in (("ours", time_ours), ("plain", time_plain)) if r % 2 == 0 else (
                    ("plain", time_plain), ("ours", time_ours)):  # fmt: skip
                s = fresh(base, name)
                try:
                    dt, count = fn(es, s, actions)
                finally:
                    drop(es, s)
                assert count == args.docs, f"{name}: {count} stored of {args.docs}"
                best[name] = min(best[name], dt)
                print(f"  round {r + 1} {name:<5} {args.docs / dt:8,.0f} docs/s  ({dt:.1f}s)")
        ours, plain = args.docs / best["ours"], args.docs / best["plain"]
        ratio = ours / plain
        print(f"best: ours {ours:,.0f} docs/s, helpers.bulk {plain:,.0f} docs/s, ratio {ratio:.2f} (bar >= 0.8)")
        failed |= ratio < 0.8
        del actions

        # ---------------------------------------------------------------- part 2
        s = fresh(base, "stream")
        setup_indices(es, s)
        print(f"\n== stream of {args.stream:,} articles (built lazily, indexed in chunks of {CHUNK_DOCS})")
        checkpoints: list[tuple[int, float]] = []
        step = max(1, args.stream // 10)
        t0 = time.perf_counter()

        def checkpoint(done: int) -> None:
            if done % step == 0:
                checkpoints.append((done, rss_mb()))
                el = time.perf_counter() - t0
                print(f"  {done:>8,} indexed  {done / el:7,.0f} docs/s  RSS {checkpoints[-1][1]:6.1f} MiB")

        try:
            rep = index_article_stream(es, s, synthetic_articles(args.stream, 2, words, "stream"), progress=checkpoint)
            total = time.perf_counter() - t0
            stored = es.count(index=s.index("articles"))["count"]
        finally:
            drop(es, s)
        growth = checkpoints[-1][1] - checkpoints[0][1] if checkpoints else 0.0
        errors = len(rep.errors) + rep.dead_lettered
        print(f"stream: {rep.indexed:,} indexed, {stored:,} stored, {errors} errors, {args.stream / total:,.0f} docs/s "
              f"overall, RSS {checkpoints[0][1]:.0f} -> {checkpoints[-1][1]:.0f} MiB "
              f"(growth after the first checkpoint {growth:+.1f} MiB; bound 64 MiB)")  # fmt: skip
        failed |= errors > 0 or stored != args.stream or growth > 64
    finally:
        if node is not None:
            esnode.stop_node(base, port=node.port, home=node.home)
            shutil.rmtree(node.home, ignore_errors=True)
    print("\nFAIL" if failed else "\nOK: all bars met")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

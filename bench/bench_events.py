"""Benchmark of event assignment: articles/s with >= 50,000 active events, peak memory, bounded state.

A synthetic stream (deterministic seed) of bilingual-looking articles: most start a new
story (as most real news items are one-offs), the rest follow up a recent story with
its key words, entities and topic. 200,000 articles spread over 8 days with the default
72-hour window keep 50,000+ events active once the window has filled, and let eviction
show that the state stops growing. Run:

    .venv/bin/python bench/bench_events.py [--articles 200000] [--json]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from enrich.events import ClusterConfig, ClusterItem, EventClusterer  # noqa: E402

START = datetime(2026, 1, 1, tzinfo=timezone.utc)
SPAN = timedelta(days=8)


def rss_mb() -> float:
    """Current resident set size in MB (Linux /proc)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mb() -> float:
    """Peak resident set size of this process in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def generate_stream(n: int, seed: int = 7, p_new: float = 0.75):
    """Yield ``n`` synthetic ClusterItems in time order."""
    rng = random.Random(seed)
    common = [f"common{i}" for i in range(3000)]
    stories: list[tuple[list[str], list[str], str, str]] = []  # key words, entities, topic, language
    step = SPAN / n
    for i in range(n):
        if not stories or rng.random() < p_new:
            lang = "ar" if rng.random() < 0.6 else "en"
            keys = [f"k{rng.randrange(1_000_000)}" for _ in range(6)]
            ents = [f"ent.{rng.randrange(40_000)}", f"ent.{rng.randrange(40_000)}", f"gpe.{rng.randrange(60)}"]
            stories.append((keys, ents, f"topic.{rng.randrange(30)}", lang))
            story = stories[-1]
        else:
            # Follow-ups favour recent stories, as news does.
            story = stories[max(0, len(stories) - 1 - int(rng.expovariate(1 / 3000)))]
        keys, ents, topic, lang = story
        title = rng.sample(keys, 4) + rng.sample(common, 4)
        body = rng.sample(keys, 3) + [rng.choice(common) for _ in range(40)]
        yield ClusterItem(
            id=f"syn{i:07d}",
            time=START + i * step,
            title=" ".join(title),
            text=" ".join(body),
            language=lang,
            entity_ids=ents,
            topic_ids=[topic],
            source=f"source{rng.randrange(200)}",
        )
        if len(stories) > 200_000:
            del stories[:100_000]


def run(n: int, checkpoint: int) -> dict:
    """Stream ``n`` articles through a default clusterer; measure speed, memory and state size."""
    clusterer = EventClusterer(ClusterConfig())
    rows = []
    t_seg = time.perf_counter()
    t_all = t_seg
    loaded_time = 0.0
    loaded_count = 0
    for i, item in enumerate(generate_stream(n), 1):
        t0 = time.perf_counter()
        clusterer.assign(item)
        dt = time.perf_counter() - t0
        if len(clusterer.events) >= 50_000:
            loaded_time += dt
            loaded_count += 1
        if i % checkpoint == 0:
            now = time.perf_counter()
            size = clusterer.state_size()
            rows.append(
                {
                    "articles": i,
                    "articles_per_s": checkpoint / (now - t_seg),
                    "rss_mb": round(rss_mb(), 1),
                    **size,
                }
            )
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)  # progress, in case of a long run
            t_seg = time.perf_counter()
    state = clusterer.export_state()
    state_json_mb = len(json.dumps(state)) / 1e6
    return {
        "articles": n,
        "seconds": time.perf_counter() - t_all,
        "loaded_articles": loaded_count,
        "loaded_articles_per_s": loaded_count / loaded_time if loaded_time else None,
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "final_state_json_mb": round(state_json_mb, 1),
        "checkpoints": rows,
        "stats": dict(clusterer.stats),
    }


def main(argv: list[str]) -> int:
    """Run the benchmark and print a table (or JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=200_000)
    parser.add_argument("--checkpoint", type=int, default=20_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = run(args.articles, args.checkpoint)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    cols = ["articles", "articles_per_s", "rss_mb", "events", "centroid_features", "postings", "id_postings", "token_buckets", "burst_cells", "seen_ids"]
    print("  ".join(f"{c:>17}" for c in cols))
    for row in result["checkpoints"]:
        print("  ".join(f"{row[c]:>17,.0f}" for c in cols))
    rate = result["loaded_articles_per_s"]
    print(
        f"\n{result['articles']:,} articles in {result['seconds']:.0f} s; "
        f"assignment with >= 50,000 active events: "
        + (f"{rate:,.0f} articles/s over {result['loaded_articles']:,} articles" if rate else "never reached")
        + f"; peak RSS {result['peak_rss_mb']:,.0f} MB; exported state {result['final_state_json_mb']} MB of JSON"
    )
    print(f"stats: {result['stats']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

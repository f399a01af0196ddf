"""Benchmark of event assignment: articles/s with >= 50,000 active events, peak memory, bounded state.

A synthetic, deterministic (seeded) bilingual stream. Words follow a Zipf law over a
50,000-word vocabulary per language, so word postings in the candidate index run up to
the ``max_posting`` cap as they do on real news; most articles start a story (most news
items are one-offs), the rest follow up a recent story with its key words, entities and
topic, sometimes in the other language. 200,000 articles over 6 days with the default
72-hour window keep 60,000+ events active once the window has filled (after ~100,000
articles), and eviction shows the state then stops growing.

Printed, in one run:
* baseline: articles/s of the same stream with the active set capped at 1,000 events;
* loaded: articles/s over every article assigned while >= 50,000 events were active,
  and the ratio to the baseline (CPU time and wall time, both: the machine is shared);
* at checkpoints: active events, index sizes, RSS and live Python memory blocks; peak RSS;
* the exported state at the end (60,000+ events): export time, JSON size, zlib size (what
  ``rasad.enrich.event_store`` stores), and the time to rebuild a clusterer from it.

    .venv/bin/python bench/bench_events.py [--articles 200000] [--days 6] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
import zlib
from base64 import b64encode
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rasad.enrich.events import ClusterConfig, ClusterItem, EventClusterer

START = datetime(2026, 1, 1, tzinfo=timezone.utc)
VOCABULARY = 50_000
ENTITIES = 40_000
LOADED_EVENTS = 50_000
BASELINE_EVENTS = 1_000
_LATIN = "abcdefghijklmnopqrstuvwxyz"
_ARABIC = "ابتثجحخدذرزسشصضطظعغفقكلمنهوي"


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


def spell_word(rank: int, alphabet: str) -> str:
    """A made-up word for a vocabulary rank (3+ letters, distinct per rank)."""
    n = rank + len(alphabet) ** 2  # at least three letters
    letters = []
    while n:
        n, r = divmod(n, len(alphabet))
        letters.append(alphabet[r])
    return "".join(letters)


def zipf_weights(n: int, s: float = 1.05) -> np.ndarray:
    """Probabilities of ranks 1..n under a Zipf law with exponent ``s``."""
    w = 1.0 / np.arange(1, n + 1) ** s
    return w / w.sum()


def generate_stream(
    n: int, days: float = 6.0, seed: int = 7, p_new: float = 0.7, chunk: int = 2_000
) -> Iterator[ClusterItem]:
    """Yield ``n`` synthetic ClusterItems in time order."""
    rng = np.random.default_rng(seed)
    words = {
        "en": [spell_word(r, _LATIN) for r in range(VOCABULARY)],
        # Arabic words carry the definite article now and then, as in real text.
        "ar": [("ال" if r % 5 == 0 else "") + spell_word(r, _ARABIC) for r in range(VOCABULARY)],
    }
    word_p = zipf_weights(VOCABULARY)
    entity_p = zipf_weights(ENTITIES, 1.0)
    country_p = zipf_weights(60, 1.0)
    topic_p = zipf_weights(30, 1.0)
    stories: list[tuple[list[int], list[str], list[str], str, str]] = []  # keys, names, entities, topic, lang
    step = timedelta(days=days) / n
    title_n, body_n = 5, 50
    for base in range(0, n, chunk):
        m = min(chunk, n - base)
        background = rng.choice(VOCABULARY, size=(m, title_n + body_n), p=word_p).tolist()
        uniform = rng.random((m, 4)).tolist()
        picks = rng.integers(0, 1 << 30, size=(m, 12)).tolist()
        popular = rng.choice(ENTITIES, size=m, p=entity_p).tolist()
        countries = rng.choice(60, size=m, p=country_p).tolist()
        topics = rng.choice(30, size=m, p=topic_p).tolist()
        for j in range(m):
            i = base + j
            u = uniform[j]
            r = picks[j]
            if not stories or u[0] < p_new:
                # Key words from the middle and tail of the vocabulary (shared with other
                # stories, as real words are) and two names unique to the story.
                keys = [500 + r[k] % (VOCABULARY - 500) for k in range(6)]
                names = [f"n{r[6] % 10_000_000}", f"n{r[7] % 10_000_000}"]
                entities = [f"gpe.{countries[j]}", f"ent.{popular[j]}", f"ent.{r[8] % ENTITIES}"]
                topic = f"topic.{topics[j]}"
                stories.append((keys, names, entities, topic, "ar" if u[1] < 0.6 else "en"))
                story = stories[-1]
                lang = story[4]
            else:
                # Follow-ups favour recent stories, as news does; one in ten is in the other language.
                back = min(len(stories) - 1, int(-3000 * np.log1p(-u[2] * 0.999)))
                story = stories[len(stories) - 1 - back]
                lang = story[4] if u[3] >= 0.1 else ("en" if story[4] == "ar" else "ar")
            keys, names, entities, topic, _ = story
            vocab = words[lang]
            bg = background[j]
            # A title: one name, 3 of the story's key words, 5 background words; a lead: both
            # names, 4 key words, 50 background words.
            title = [names[r[9] % 2]] + [vocab[keys[(r[10] + k) % 6]] for k in range(3)]
            title += [vocab[w] for w in bg[:title_n]]
            body = [names[0], names[1]] + [vocab[keys[(r[11] + k) % 6]] for k in range(4)]
            body += [vocab[w] for w in bg[title_n:]]
            yield ClusterItem(
                id=f"syn{i:07d}",
                time=START + i * step,
                title=" ".join(title),
                text=" ".join(body),
                language=lang,
                entity_ids=entities,
                topic_ids=[topic],
                source=f"source{r[9] % 300}",
            )
        if len(stories) > 40_000:  # follow-ups reach back ~3,000 stories: keep the generator small
            del stories[:20_000]


def measure_state(clusterer: EventClusterer) -> dict[str, Any]:
    """Export the state as the pipeline stores it (JSON, zlib level 6, base64); time a reload."""
    t0 = time.perf_counter()
    state = clusterer.export_state()
    t1 = time.perf_counter()
    raw = json.dumps(state, separators=(",", ":")).encode()
    t2 = time.perf_counter()
    packed = zlib.compress(raw, 6)
    blob_mb = len(b64encode(packed)) / 1e6
    t3 = time.perf_counter()
    EventClusterer.from_state(json.loads(zlib.decompress(packed)))
    t4 = time.perf_counter()
    sizes: dict[str, float] = {}
    for part in ("events", "token_df", "id_df", "bursts", "seen"):
        sizes[part] = round(len(json.dumps(state[part], separators=(",", ":"))) / 1e6, 1)
    return {
        "events": len(clusterer.events),
        "export_s": round(t1 - t0, 2),
        "json_dumps_s": round(t2 - t1, 2),
        "compress_s": round(t3 - t2, 2),
        "reload_s": round(t4 - t3, 2),
        "json_mb": round(len(raw) / 1e6, 1),
        "json_mb_by_part": sizes,
        "zlib_mb": round(len(packed) / 1e6, 1),
        "base64_mb": round(blob_mb, 1),
    }


def run_baseline(n: int, days: float, warmup: int) -> dict[str, Any]:
    """Articles/s on the same stream with the active set held at BASELINE_EVENTS events."""
    clusterer = EventClusterer(ClusterConfig(max_active_events=BASELINE_EVENTS))
    cpu = wall = 0.0
    count = 0
    for i, item in enumerate(generate_stream(n, days), 1):
        c0, w0 = time.process_time(), time.perf_counter()
        clusterer.assign(item)
        c1, w1 = time.process_time(), time.perf_counter()
        if i > warmup:
            cpu += c1 - c0
            wall += w1 - w0
            count += 1
    return {
        "articles": count,
        "active_events": len(clusterer.events),
        "cpu_articles_per_s": count / cpu,
        "wall_articles_per_s": count / wall,
    }


def run(n: int, days: float, checkpoint: int) -> dict[str, Any]:
    """Stream ``n`` articles through a default clusterer; measure speed, memory and state size."""
    rss_before = rss_mb()
    clusterer = EventClusterer(ClusterConfig())
    rows = []
    cpu_loaded = wall_loaded = 0.0
    loaded = 0
    seg_cpu = seg_wall = 0.0
    started_cpu, started_wall = time.process_time(), time.perf_counter()
    for i, item in enumerate(generate_stream(n, days), 1):
        c0, w0 = time.process_time(), time.perf_counter()
        clusterer.assign(item)
        c1, w1 = time.process_time(), time.perf_counter()
        seg_cpu += c1 - c0
        seg_wall += w1 - w0
        if len(clusterer.events) >= LOADED_EVENTS:
            cpu_loaded += c1 - c0
            wall_loaded += w1 - w0
            loaded += 1
        if i % checkpoint == 0:
            rows.append(
                {
                    "articles": i,
                    "cpu_articles_per_s": round(checkpoint / seg_cpu),
                    "wall_articles_per_s": round(checkpoint / seg_wall),
                    "rss_mb": round(rss_mb(), 1),
                    # Live small Python objects: flat when the state is, whatever the allocator keeps.
                    "py_blocks_k": round(sys.getallocatedblocks() / 1000),
                    **clusterer.state_size(),
                }
            )
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)  # progress of a long run
            seg_cpu = seg_wall = 0.0
    cpu_s, wall_s = time.process_time() - started_cpu, time.perf_counter() - started_wall
    peak_streaming = peak_rss_mb()  # before the export below, which needs memory of its own
    state = measure_state(clusterer)
    return {
        "articles": n,
        "days": days,
        "cpu_s": cpu_s,
        "wall_s": wall_s,
        "loaded_articles": loaded,
        "loaded_cpu_articles_per_s": loaded / cpu_loaded if cpu_loaded else None,
        "loaded_wall_articles_per_s": loaded / wall_loaded if wall_loaded else None,
        "rss_before_mb": round(rss_before, 1),
        "peak_rss_streaming_mb": round(peak_streaming, 1),
        "peak_rss_with_export_mb": round(peak_rss_mb(), 1),
        "checkpoints": rows,
        "state": state,
        "stats": dict(clusterer.stats),
    }


def main(argv: list[str]) -> int:
    """Run the baseline and the loaded benchmark; print a table (or JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=200_000)
    parser.add_argument("--days", type=float, default=6.0, help="time span of the stream")
    parser.add_argument("--checkpoint", type=int, default=20_000)
    parser.add_argument("--baseline-articles", type=int, default=12_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    started_cpu, started_wall = time.process_time(), time.perf_counter()
    # Same arrival rate as the main run, so only the size of the active set differs.
    base_days = args.days * args.baseline_articles / args.articles
    baseline = run_baseline(args.baseline_articles, base_days, warmup=2_000)
    result = run(args.articles, args.days, args.checkpoint)
    result["baseline"] = baseline
    result["total_cpu_s"] = time.process_time() - started_cpu
    result["total_wall_s"] = time.perf_counter() - started_wall
    result["load_average"] = [round(x, 2) for x in os.getloadavg()]  # the machine is shared
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    cols = ["articles", "cpu_articles_per_s", "wall_articles_per_s", "rss_mb", "py_blocks_k", "events",
            "centroid_features", "postings", "id_postings", "token_buckets", "burst_cells", "seen_ids"]  # fmt: skip
    heads = ["articles", "art/s cpu", "art/s wall", "RSS MB", "py blocks k", "events", "centroid_feat",
             "postings", "id_postings", "token_bkts", "burst_cells", "seen_ids"]  # fmt: skip
    print("  ".join(f"{h:>13}" for h in heads))
    for row in result["checkpoints"]:
        print("  ".join(f"{row[c]:>13,.0f}" for c in cols))
    b = baseline
    print(
        f"\nbaseline, {b['active_events']:,} active events: {b['cpu_articles_per_s']:,.0f} articles/s CPU, "
        f"{b['wall_articles_per_s']:,.0f} wall (over {b['articles']:,} articles)"
    )
    cpu_rate, wall_rate = result["loaded_cpu_articles_per_s"], result["loaded_wall_articles_per_s"]
    if cpu_rate:
        print(
            f"loaded, >= {LOADED_EVENTS:,} active events: {cpu_rate:,.0f} articles/s CPU, "
            f"{wall_rate:,.0f} wall (over {result['loaded_articles']:,} articles); "
            f"ratio to baseline {cpu_rate / b['cpu_articles_per_s']:.2f} CPU"
        )
    else:
        print(f"loaded: never reached {LOADED_EVENTS:,} active events")
    print(
        f"main run: {result['articles']:,} articles in {result['cpu_s']:.0f} s CPU / "
        f"{result['wall_s']:.0f} s wall; RSS before the clusterer {result['rss_before_mb']:,.0f} MB, "
        f"peak RSS while streaming {result['peak_rss_streaming_mb']:,.0f} MB, "
        f"with the state export and reload below {result['peak_rss_with_export_mb']:,.0f} MB"
    )
    st = result["state"]
    print(
        f"exported state at {st['events']:,} events: export {st['export_s']} s + json {st['json_dumps_s']} s "
        f"+ zlib {st['compress_s']} s; {st['json_mb']} MB JSON {st['json_mb_by_part']}, "
        f"{st['zlib_mb']} MB zlib, {st['base64_mb']} MB base64 document; reload {st['reload_s']} s"
    )
    print(f"stats: {result['stats']}")
    print(f"whole bench: {result['total_cpu_s']:.0f} s CPU, {result['total_wall_s']:.0f} s wall; "
          f"load average at the end {result['load_average']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Tagging benchmark on real Arabic news (SaudiNewsNet, research-only: read in place, never copied).

Prints articles/s and words/s of the full spaCy tagger (single process) next to the floor measured
in the same run: one bare multi-pattern scan of the same text (normalise + Aho-Corasick + clitic
boundary check, no spaCy), and the ratio. Then streams distinct articles (real articles with a
per-article novel-word suffix so that every article brings new vocabulary) and reports RSS growth.

Usage: .venv/bin/python bench/bench_tagging.py [--stream 50000] [--words 400]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
import zipfile
from pathlib import Path

from rasad.enrich.tagging import get_tagger

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "arabic-news" / "saudinewsnet"


def load_articles() -> list[tuple[str, str]]:
    """(title, text) of every SaudiNewsNet article in the sample."""
    out = []
    for z in sorted(CORPUS.glob("*.zip")):
        with zipfile.ZipFile(z) as zf:
            for name in zf.namelist():
                for a in json.loads(zf.read(name)):
                    out.append((a.get("title") or "", a.get("content") or ""))
    return out


def rss_mb() -> float:
    """Current resident set size in MB (Linux /proc)."""
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * resource.getpagesize() / 1e6


def to_length(articles: list[tuple[str, str]], words: int) -> list[tuple[str, str]]:
    """Articles cut or joined to about ``words`` words (real text, consecutive articles)."""
    out = []
    buf: list[str] = []
    for title, text in articles:
        buf.extend(text.split(" "))
        while len(buf) >= words:
            out.append((title, " ".join(buf[:words])))
            buf = buf[words:]
    return out


def main() -> None:
    """Run the benchmark and print the figures."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--stream", type=int, default=50_000, help="distinct articles for the memory test")
    ap.add_argument("--words", type=int, default=400)
    args = ap.parse_args()
    tagger = get_tagger()
    engine = tagger.engine
    raw = load_articles()
    arts = to_length(raw, args.words)
    n_words = sum(len(t.split()) for _, t in arts)
    tagger.tag(*arts[0], "ar")
    for title, text in arts[:300]:  # warm-up: the common vocabulary
        tagger.tag(title, text, "ar")

    t0 = time.perf_counter()
    for title, text in arts:
        engine.scan(title + "\n\n" + text)
    floor = time.perf_counter() - t0
    t0 = time.perf_counter()
    for title, text in arts:
        tagger.tag(title, text, "ar")
    full = time.perf_counter() - t0
    print(f"articles: {len(arts)} of ~{args.words} words ({n_words / len(arts):.0f} avg), single process; "
          f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print(f"floor (normalise + one Aho-Corasick scan + boundary check): {len(arts) / floor:,.0f} articles/s, "
          f"{n_words / floor:,.0f} words/s")
    print(f"full spaCy tagger: {len(arts) / full:,.0f} articles/s, {n_words / full:,.0f} words/s, "
          f"{full / floor:.2f}x the floor")

    t0 = time.perf_counter()
    for title, text in raw:
        tagger.tag(title, text, "ar")
    dt = time.perf_counter() - t0
    print(f"full tagger on the unmodified corpus ({len(raw)} articles, "
          f"{sum(len(t.split()) for _, t in raw) / len(raw):.0f} words avg): {len(raw) / dt:,.0f} articles/s")

    # Memory: distinct articles, each with 30 words never seen before.
    base = rss_mb()
    peak = base
    t0 = time.perf_counter()
    for i in range(args.stream):
        title, text = raw[i % len(raw)]
        novel = " ".join(f"كلمة{i}x{j}" for j in range(30))
        tagger.tag(title, text + " " + novel, "ar")
        if i % 5000 == 4999:
            peak = max(peak, rss_mb())
            print(f"  {i + 1:>6} distinct articles: RSS {rss_mb():.0f} MB (+{rss_mb() - base:.1f}), "
                  f"{len(tagger.nlp('ar').vocab.strings)} strings, {tagger.resets} vocab resets")
    dt = time.perf_counter() - t0
    print(f"memory: RSS {base:.0f} MB -> {rss_mb():.0f} MB after {args.stream} distinct articles "
          f"(+{rss_mb() - base:.1f} MB, peak +{peak - base:.1f} MB), {args.stream / dt:,.0f} articles/s")


if __name__ == "__main__":
    main()

"""Bar 3: false positives on unrelated real news, and precision against ANERcorp gold labels.

1. SaudiNewsNet (research-only, read in place): share of articles with any topic / any entity,
   and a reproducible random sample of tagged articles printed for manual review.
2. ANERcorp (CAMeL splits, research-only, read in place): precision of our person / place /
   organisation mentions against its gold labels, counted only for the entities we know
   (a mention is correct when the gold tags the same tokens with a compatible class).

Usage: .venv/bin/python bench/eval_tagging_fp.py [--sample 50] [--seed 4]
"""

from __future__ import annotations

import argparse
import random
from collections import Counter
from pathlib import Path

from bench_tagging import load_articles  # same folder: run as a script

from rasad.enrich.tagging import get_tagger

ANER = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "arabic-ner" / "anercorp-camel-splits"
OUR_TO_ANER = {"person": {"PERS"}, "place": {"LOC"}, "group": {"ORG"}, "organization": {"ORG"},
               "institution": {"ORG"}, "media": {"ORG"}}


def eval_saudinewsnet(sample: int, seed: int) -> None:
    """Print the tagged shares and a random sample of tagged articles for review."""
    tagger = get_tagger()
    arts = load_articles()
    tagged = []
    n_topic = n_entity = 0
    ent_counts: Counter[str] = Counter()
    topic_counts: Counter[str] = Counter()
    for i, (title, text) in enumerate(arts):
        ents, topics = tagger.tag(title, text, "ar")
        n_entity += bool(ents)
        n_topic += bool(topics)
        ent_counts.update(e.id for e in ents)
        topic_counts.update(t.id for t in topics)
        if ents or topics:
            tagged.append((i, title, ents, topics))
    print(f"SaudiNewsNet: {len(arts)} articles; any entity: {n_entity} ({100 * n_entity / len(arts):.1f}%), "
          f"any topic: {n_topic} ({100 * n_topic / len(arts):.1f}%)")
    print("top entities:", ", ".join(f"{k}={v}" for k, v in ent_counts.most_common(15)))
    print("topics:", ", ".join(f"{k}={v}" for k, v in topic_counts.most_common()))
    rng = random.Random(seed)
    for i, title, ents, topics in rng.sample(tagged, min(sample, len(tagged))):
        mentions = "; ".join(f"{e.id}:{'|'.join(sorted({m.text for m in e.mentions}))}" for e in ents)
        print(f"--- #{i} {title[:80]}\n    entities: {mentions}\n    topics: {[(t.id, t.score) for t in topics]}")


def read_aner(path: Path) -> list[list[tuple[str, str]]]:
    """Sentences of (token, BIO tag) from a CoNLL-style file."""
    sents: list[list[tuple[str, str]]] = []
    cur: list[tuple[str, str]] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) < 2:
            if cur:
                sents.append(cur)
                cur = []
            continue
        cur.append((parts[0], parts[-1]))
    if cur:
        sents.append(cur)
    return sents


def eval_anercorp() -> None:
    """Precision of our PER/LOC/ORG mentions on ANERcorp, per split file found."""
    tagger = get_tagger()
    ents_kb = tagger.knowledge.entities
    files = sorted(p for p in ANER.rglob("*") if p.is_file() and p.suffix in (".txt", ".conll", ".tsv", ""))
    files = [f for f in files if f.name.lower() not in ("source.md", "readme.md", "license")]
    for f in files:
        sents = read_aner(f)
        if not sents:
            continue
        tp = fp = 0
        errors: Counter[str] = Counter()
        for sent in sents:
            text = ""
            spans = []
            for tok, tag in sent:
                if text:
                    text += " "
                spans.append((len(text), len(text) + len(tok), tag))
                text += tok
            ents, _ = tagger.tag("", text, "ar")
            for e in ents:
                wanted = OUR_TO_ANER.get(ents_kb[e.id].type)
                if not wanted:
                    continue
                for m in e.mentions:
                    tags = [tag for s, t_end, tag in spans if s < m.end and m.start < t_end]
                    classes = {t.split("-", 1)[1] for t in tags if "-" in t}
                    if classes & wanted:
                        tp += 1
                    else:
                        fp += 1
                        errors[f"{e.id}:{m.text}:{'/'.join(tags)}"] += 1
        prec = tp / (tp + fp) if tp + fp else float("nan")
        print(f"ANERcorp {f.name}: {len(sents)} sentences, our PER/LOC/ORG mentions {tp + fp}, precision {prec:.3f}")
        print("  most frequent disagreements:", ", ".join(f"{k}×{v}" for k, v in errors.most_common(12)))


def main() -> None:
    """Run both evaluations."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--sample", type=int, default=50)
    ap.add_argument("--seed", type=int, default=4)
    args = ap.parse_args()
    eval_saudinewsnet(args.sample, args.seed)
    eval_anercorp()


if __name__ == "__main__":
    main()

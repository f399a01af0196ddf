"""Extraction quality: token-level F1 of extracted text against gold article bodies.

Gold sets (read from ``../shared/corpus/article-html`` when present, else from the
permissively licensed copies in ``tests/resources/ingest/gold``):

- ``zyte``: the Zyte article-extraction benchmark (181 pages, ``articleBody``).
- ``fundus``: fundus parser fixtures (lb/uk/us; summary + section headlines + paragraphs).
- ``newspaper4k``: newspaper4k pages with their expected ``txt``.

Also reported: trafilatura's own must-contain / must-not-contain snippets on its
evaluation pages (incl. the Arabic *Assabah* page) and publication dates on fundus pages.

The score is the Zyte benchmark's: bag-of-words precision/recall/F1 per page, averaged
over pages. Tokens are Unicode ``\\w+`` runs, lower-cased.

Usage::

    .venv/bin/python bench/eval_extraction.py            # ours vs bare trafilatura, per set
    .venv/bin/python bench/eval_extraction.py --write-baseline
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_CORPUS = REPO_ROOT.parent / "shared" / "corpus" / "article-html"
FIXTURE_GOLD = REPO_ROOT / "tests" / "resources" / "ingest" / "gold"
BASELINE_PATH = REPO_ROOT / "tests" / "resources" / "ingest" / "extraction_baseline.json"

TOKEN_RE = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class GoldPage:
    """One page with its known article body."""

    set_name: str
    name: str
    url: str
    body: bytes
    gold_text: str


def tokenize_text(text: str) -> list[str]:
    """Lower-cased Unicode word tokens, as the scorer counts them."""
    return TOKEN_RE.findall(text.lower())


def score_tokens(predicted: str, gold: str) -> tuple[float, float, float]:
    """Bag-of-words precision, recall and F1 of ``predicted`` against ``gold``."""
    pred, ref = Counter(tokenize_text(predicted)), Counter(tokenize_text(gold))
    if not pred and not ref:
        return 1.0, 1.0, 1.0
    if not pred or not ref:
        return 0.0, 0.0, 0.0
    common = sum((pred & ref).values())
    precision = common / sum(pred.values())
    recall = common / sum(ref.values())
    f1 = 0.0 if common == 0 else 2 * precision * recall / (precision + recall)
    return precision, recall, f1


def find_corpus_root() -> tuple[Path, str]:
    """The full shared corpus when it sits beside the clone, else the copied fixtures."""
    if (SHARED_CORPUS / "zyte-article-extraction-benchmark" / "ground-truth.json").exists():
        return SHARED_CORPUS, "shared"
    return FIXTURE_GOLD, "fixtures"


def load_zyte(root: Path) -> Iterable[GoldPage]:
    """Zyte benchmark pages (``html/<id>.html.gz``) with ``articleBody``."""
    folder = root / "zyte-article-extraction-benchmark"
    truth_path = folder / "ground-truth.json"
    if not truth_path.exists():
        return
    truth = json.loads(truth_path.read_text(encoding="utf-8"))
    for path in sorted((folder / "html").glob("*.html.gz")):
        key = path.name.removesuffix(".html.gz")
        if key in truth:
            yield GoldPage(
                "zyte", key, truth[key]["url"], gzip.decompress(path.read_bytes()), truth[key]["articleBody"]
            )


def _fundus_gold(expected: dict) -> str:
    body = expected.get("body") or {}
    parts = list(body.get("summary") or [])
    for section in body.get("sections") or []:
        parts.extend(section.get("headline") or [])
        parts.extend(section.get("paragraphs") or [])
    return "\n".join(parts)


def load_fundus(root: Path) -> Iterable[GoldPage]:
    """fundus fixtures: parser versions in key order line up with the pages in date order."""
    folder = root / "fundus"
    for country in sorted(p for p in folder.glob("*") if p.is_dir()):
        meta = json.loads((country / "meta.info").read_text(encoding="utf-8"))
        for expected_path in sorted(country.glob("*.json")):
            publisher = expected_path.stem
            versions = json.loads(expected_path.read_text(encoding="utf-8"))
            pages = sorted(country.glob(f"{publisher}_*.html.gz"))
            if len(pages) != len(versions):
                continue
            for page, expected in zip(pages, versions.values(), strict=True):
                gold = _fundus_gold(expected)
                if gold.strip() and page.name in meta:
                    yield GoldPage(
                        "fundus",
                        f"{country.name}/{page.name}",
                        meta[page.name]["url"],
                        gzip.decompress(page.read_bytes()),
                        gold,
                    )


def load_newspaper4k(root: Path) -> Iterable[GoldPage]:
    """newspaper4k pages that have an expected ``txt`` (the homepage has none)."""
    folder = root / "newspaper4k"
    for txt in sorted((folder / "txt").glob("*.txt")):
        html = folder / "html" / f"{txt.stem}.html"
        meta_path = folder / "metadata" / f"{txt.stem}.json"
        url = ""
        if meta_path.exists():
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            url = meta.get("canonical_link") or meta.get("url") or ""
        if html.exists():
            yield GoldPage("newspaper4k", txt.stem, url, html.read_bytes(), txt.read_text(encoding="utf-8"))


def load_gold_pages(root: Path | None = None) -> list[GoldPage]:
    """Every gold page available under ``root`` (default: shared corpus or fixtures)."""
    root = root or find_corpus_root()[0]
    pages: list[GoldPage] = []
    for loader in (load_zyte, load_fundus, load_newspaper4k):
        pages.extend(loader(root))
    return pages


def extract_bare(page: GoldPage) -> str:
    """Bare ``trafilatura.extract`` with default settings: the reference we must not fall below."""
    import trafilatura

    from rasad.ingest.extract.prune_selectors import bare_trafilatura

    with bare_trafilatura():  # as shipped (our selectors give the same output, this keeps it provable)
        return trafilatura.extract(page.body, url=page.url or None) or ""


def extract_ours(page: GoldPage) -> str:
    """The project's extraction path, text only."""
    from rasad.ingest.extract.article import extract_article

    return extract_article(page.body, page.url or "", None).text


def evaluate_pages(pages: list[GoldPage], extractor: Callable[[GoldPage], str]) -> dict[str, dict]:
    """Mean precision/recall/F1 per gold set and over all pages, plus seconds spent."""
    per_set: dict[str, list[tuple[float, float, float]]] = {}
    started = time.perf_counter()
    for page in pages:
        per_set.setdefault(page.set_name, []).append(score_tokens(extractor(page), page.gold_text))
    elapsed = time.perf_counter() - started
    result: dict[str, dict] = {}
    all_scores = [s for scores in per_set.values() for s in scores]
    for name, scores in [*per_set.items(), ("all", all_scores)]:
        n = len(scores) or 1
        result[name] = {
            "pages": len(scores),
            "precision": round(sum(s[0] for s in scores) / n, 4),
            "recall": round(sum(s[1] for s in scores) / n, 4),
            "f1": round(sum(s[2] for s in scores) / n, 4),
        }
    result["all"]["seconds"] = round(elapsed, 2)
    return result


def evaluate_snippets(root: Path, extractor: Callable[[GoldPage], str]) -> dict[str, int]:
    """trafilatura's own criteria: must-contain snippets found, must-not-contain snippets leaked."""
    folder = root / "trafilatura-eval"
    spec_path = folder / "evaldata.subset.json"
    counts = {"pages": 0, "with_total": 0, "with_found": 0, "without_total": 0, "without_leaked": 0}
    if not spec_path.exists():
        return counts
    for url, spec in json.loads(spec_path.read_text(encoding="utf-8")).items():
        page = GoldPage(
            "trafilatura-eval", spec["file"], url, (folder / "html" / spec["file"]).read_bytes(), ""
        )
        text = extractor(page)
        counts["pages"] += 1
        counts["with_total"] += len(spec["with"])
        counts["with_found"] += sum(snippet in text for snippet in spec["with"])
        counts["without_total"] += len(spec["without"])
        counts["without_leaked"] += sum(snippet in text for snippet in spec["without"])
    return counts


def evaluate_fundus_dates(root: Path) -> dict[str, int]:
    """Dates against fundus's ``publishing_date``: ours to the minute, bare trafilatura to the day."""
    from datetime import datetime

    import trafilatura

    from rasad.ingest.extract.article import extract_article

    counts = {"pages": 0, "ours_exact": 0, "bare_same_day": 0}
    folder = root / "fundus"
    for country in sorted(p for p in folder.glob("*") if p.is_dir()):
        for expected_path in sorted(country.glob("*.json")):
            versions = json.loads(expected_path.read_text(encoding="utf-8"))
            pages = sorted(country.glob(f"{expected_path.stem}_*.html.gz"))
            if len(pages) != len(versions):
                continue
            for page, expected in zip(pages, versions.values(), strict=True):
                if not expected.get("publishing_date"):
                    continue
                want = datetime.fromisoformat(expected["publishing_date"])
                want = want if want.tzinfo else want.replace(tzinfo=UTC)
                body = gzip.decompress(page.read_bytes())
                ours = extract_article(body, "").published
                bare = trafilatura.bare_extraction(body, with_metadata=True)
                counts["pages"] += 1
                counts["ours_exact"] += bool(ours and abs((ours - want).total_seconds()) <= 60)
                counts["bare_same_day"] += bool(bare and bare.date == want.date().isoformat())
    return counts


def main(argv: list[str] | None = None) -> int:
    """Print ours vs bare F1 per gold set; optionally pin them in the baseline file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write-baseline", action="store_true", help=f"write {BASELINE_PATH.name}")
    args = parser.parse_args(argv)
    baseline = json.loads(BASELINE_PATH.read_text(encoding="utf-8")) if BASELINE_PATH.exists() else {}
    for source, root in (("shared", SHARED_CORPUS), ("fixtures", FIXTURE_GOLD)):
        pages = load_gold_pages(root)
        if not pages:
            print(f"[{source}] no gold pages under {root}")
            continue
        ours = evaluate_pages(pages, extract_ours)
        bare = evaluate_pages(pages, extract_bare)
        print(f"[{source}] {len(pages)} pages from {root}")
        print(f"  {'set':<12} {'pages':>5} {'ours P/R/F1':>22} {'bare P/R/F1':>22}")
        for name in ours:
            o, b = ours[name], bare[name]
            print(
                f"  {name:<12} {o['pages']:>5} {o['precision']:>6.3f} {o['recall']:>6.3f} {o['f1']:>6.3f}"
                f"   {b['precision']:>6.3f} {b['recall']:>6.3f} {b['f1']:>6.3f}"
            )
        print(f"  seconds: ours {ours['all']['seconds']}, bare {bare['all']['seconds']}")
        snippets = {
            "ours": evaluate_snippets(root, extract_ours),
            "bare": evaluate_snippets(root, extract_bare),
        }
        for who, c in snippets.items():
            print(
                f"  trafilatura-eval snippets ({who}): must-contain {c['with_found']}/{c['with_total']}, "
                f"boilerplate leaked {c['without_leaked']}/{c['without_total']} on {c['pages']} pages"
            )
        dates = evaluate_fundus_dates(root)
        print(
            f"  fundus dates: ours exact to the minute {dates['ours_exact']}/{dates['pages']}, "
            f"trafilatura same day {dates['bare_same_day']}/{dates['pages']}"
        )
        for who in ("ours", "bare"):  # wall seconds depend on machine load: not pinned
            ours_or_bare = ours if who == "ours" else bare
            ours_or_bare["all"].pop("seconds", None)
        baseline[source] = {"ours": ours, "bare": bare, "snippets": snippets, "dates": dates}
    if args.write_baseline:
        BASELINE_PATH.write_text(json.dumps(baseline, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"wrote {BASELINE_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

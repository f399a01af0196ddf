"""Extraction throughput: the project's path vs bare ``trafilatura.extract``, same pages, same run.

Pages: the gold article pages (``../shared/corpus/article-html`` when present, else the
copied fixtures), our Arabic WordPress fixtures, and link-heavy variants of some of them:
a real article body with a generated 1,500-link mega-menu (semantic ``<nav>`` and an
unlabelled ``<div><ul>`` style). The two extractors alternate page by page, for several
rounds, so machine load hits both alike, and the clock is this process's CPU time (the
machine is shared; wall time swings with other jobs). Prints pages/s per group and the
ratio ours / bare (target ≥ 0.9).

Usage::

    .venv/bin/python bench/bench_extract.py [--rounds 3] [--limit N]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench.eval_extraction import load_gold_pages  # noqa: E402

FIXTURE_PAGES = REPO_ROOT / "tests" / "resources" / "ingest" / "pages"
MENU_WORDS_AR = ["سياسة", "اقتصاد", "رياضة", "ثقافة", "محليات", "دولي", "تقارير", "فيديو", "صور", "منوعات", "صحة", "تكنولوجيا", "مقالات", "حوادث", "برلمان", "محافظات", "تعليم", "سيارات", "عقارات", "بورصة"]
MENU_WORDS_EN = ["politics", "business", "sport", "culture", "local", "world", "reports", "video", "photos", "health", "tech", "opinion", "crime", "parliament", "regions", "education", "cars", "property", "markets"]


def build_mega_menu(
    links: int, seed: int, style: str = "nav", words: tuple[str, ...] | list[str] = MENU_WORDS_AR
) -> str:
    """A site-wide mega-menu with ``links`` links in 2-level lists (``style``: "nav" or "div")."""
    rng = random.Random(seed)
    per_column = 40
    columns = []
    for col in range(max(1, links // per_column)):
        items = "".join(
            f'<li class="menu-item"><a href="/section/{col}/{i}/">'
            f"{rng.choice(words)} {rng.choice(words)}</a></li>"
            for i in range(per_column)
        )
        columns.append(
            f'<li class="menu-item has-children"><a href="/section/{col}/">{rng.choice(words)}</a>'
            f'<ul class="sub-menu">{items}</ul></li>'
        )
    inner = f'<ul class="menu">{"".join(columns)}</ul>'
    if style == "nav":
        return f'<nav class="mega-menu" role="navigation">{inner}</nav>'
    # Unlabelled: no nav element, no menu class; only the shape gives it away.
    unlabelled = (
        inner.replace('class="menu"', 'class="lst"').replace("menu-item", "it").replace("sub-menu", "sub")
    )
    return f'<div class="hdr-links"><div class="wrap">{unlabelled}</div></div>'


def add_mega_menu(page: bytes, links: int, seed: int, style: str, arabic: bool) -> bytes:
    """The page with a mega-menu inserted right after ``<body ...>``."""
    menu = build_mega_menu(links, seed, style, MENU_WORDS_AR if arabic else MENU_WORDS_EN).encode("utf-8")
    lower = page.lower()
    start = lower.find(b"<body")
    end = page.find(b">", start) + 1 if start >= 0 else 0
    return page[:end] + menu + page[end:]


def load_bench_pages(limit: int | None = None) -> dict[str, list[tuple[bytes, str]]]:
    """Page groups: normal gold pages, Arabic fixtures, and link-heavy variants."""
    gold = [(p.body, p.url) for p in load_gold_pages()]
    if limit:
        gold = gold[:limit]
    arabic = [
        (path.read_bytes(), f"https://example.org/{path.stem}")
        for path in sorted(FIXTURE_PAGES.glob("*.html"))
    ]
    heavy: list[tuple[bytes, str]] = []
    utf8_arabic = [
        (path.read_bytes(), f"https://example.org/{path.stem}")
        for path in sorted(FIXTURE_PAGES.glob("*_utf8.html"))
    ]
    for i, (body, url) in enumerate(utf8_arabic[:2] + gold[:10]):
        style = "nav" if i % 2 == 0 else "div"
        heavy.append((add_mega_menu(body, 1500, seed=i, style=style, arabic=i < 2), url))
    return {"normal": gold, "arabic_fixtures": arabic, "link_heavy": heavy}


def run_bench(groups: dict[str, list[tuple[bytes, str]]], rounds: int) -> dict[str, dict[str, float]]:
    """Seconds spent by ours and bare per group, alternating the two page by page."""
    import trafilatura

    from rasad.ingest.extract.article import extract_article
    from rasad.ingest.extract.prune_selectors import bare_trafilatura

    # Warm both paths (imports, lazily built models, regex caches) outside the clock.
    for body, url in [pages[0] for pages in groups.values() if pages]:
        extract_article(body, url)
        with bare_trafilatura():
            trafilatura.extract(body, url=url)
    results: dict[str, dict[str, float]] = {}
    for name, pages in groups.items():
        ours = bare = 0.0
        for round_no in range(rounds):
            for body, url in pages:
                # Alternate who goes first so cache effects do not favour one side.
                order = (0, 1) if round_no % 2 == 0 else (1, 0)
                for who in order:
                    started = time.process_time()
                    if who == 0:
                        extract_article(body, url)
                        ours += time.process_time() - started
                    else:
                        with bare_trafilatura():  # trafilatura as shipped, not with our selectors
                            trafilatura.extract(body, url=url)
                        bare += time.process_time() - started
        n = len(pages) * rounds
        results[name] = {
            "pages": len(pages),
            "ours_pps": n / ours if ours else 0.0,
            "bare_pps": n / bare if bare else 0.0,
            "ours_s": ours,
            "bare_s": bare,
        }
    # What link farms cost our path without the pruning step (the figure that justifies it).
    heavy = groups.get("link_heavy") or []
    if heavy:
        import rasad.ingest.extract.article as extract_module  # where the threshold is read

        threshold = extract_module.LINK_HEAVY_THRESHOLD
        extract_module.LINK_HEAVY_THRESHOLD = 10**9
        try:
            started = time.process_time()
            for body, url in heavy:
                extract_article(body, url)
            unpruned = time.process_time() - started
        finally:
            extract_module.LINK_HEAVY_THRESHOLD = threshold
        results["link_heavy"]["unpruned_pps"] = len(heavy) / unpruned if unpruned else 0.0
    total_n = sum(r["pages"] for r in results.values()) * rounds
    ours_all = sum(r["ours_s"] for r in results.values())
    bare_all = sum(r["bare_s"] for r in results.values())
    results["all"] = {
        "pages": total_n // rounds,
        "ours_pps": total_n / ours_all,
        "bare_pps": total_n / bare_all,
        "ours_s": ours_all,
        "bare_s": bare_all,
    }
    return results


def main(argv: list[str] | None = None) -> int:
    """Print pages/s of ours and bare trafilatura per page group and their ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--limit", type=int, default=None, help="use only the first N gold pages")
    args = parser.parse_args(argv)
    groups = load_bench_pages(args.limit)
    results = run_bench(groups, args.rounds)
    print(f"{'group':<16} {'pages':>5} {'ours p/s':>9} {'bare p/s':>9} {'ratio':>6}")
    for name, r in results.items():
        ratio = r["ours_pps"] / r["bare_pps"] if r["bare_pps"] else 0.0
        print(f"{name:<16} {r['pages']:>5} {r['ours_pps']:>9.1f} {r['bare_pps']:>9.1f} {ratio:>6.2f}")
    if "unpruned_pps" in results.get("link_heavy", {}):
        print(f"link_heavy without pruning (ours): {results['link_heavy']['unpruned_pps']:.1f} p/s")
    ratio_all = results["all"]["ours_pps"] / results["all"]["bare_pps"]
    print(f"ratio ours/bare over all pages: {ratio_all:.2f} (target >= 0.9)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

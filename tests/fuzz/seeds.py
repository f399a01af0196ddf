"""Seed inputs: the real corpus in ../shared/corpus (read in place, never copied) and the repo's fixtures.

The shared corpus may be missing on a machine; the repo's own fixtures are always there, so
every target has seeds either way.
"""

from __future__ import annotations

import gzip
import zipfile
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
CORPUS = PROJECT.parent / "shared" / "corpus"
REGRESSIONS = PROJECT / "tests" / "resources" / "fuzz"
MAX_SEED = 512 * 1024


def _read(paths: list[Path], limit: int = MAX_SEED) -> list[bytes]:
    out = []
    for p in sorted(set(paths)):
        try:
            data = p.read_bytes()
            if p.suffix == ".gz":
                data = gzip.decompress(data)
        except (OSError, EOFError, gzip.BadGzipFile):
            continue
        if data and len(data) <= limit:
            out.append(data)
    return out


def feed_seeds() -> list[bytes]:
    """Feed documents: feedparser's test feeds, real feeds, the repo's feed fixtures and the demo feeds."""
    paths: list[Path] = []
    for root in (CORPUS / "feedparser-tests", CORPUS / "real-feeds", PROJECT / "tests/resources/ingest/feeds",
                 PROJECT / "examples/demo/site"):  # fmt: skip
        for ext in ("*.xml", "*.rss", "*.atom", "*.json"):
            paths += root.rglob(ext)
    return _read([p for p in paths if p.name not in ("articles.json",)])


def page_seeds() -> list[bytes]:
    """Article pages: the extraction corpora, the repo's page fixtures and the demo site's pages."""
    paths: list[Path] = []
    for root in (CORPUS / "article-html", PROJECT / "tests/resources/ingest", PROJECT / "examples/demo/site"):
        paths += root.rglob("*.html")
        paths += root.rglob("*.html.gz")
    return _read(paths)


def yaml_seeds(kind: str) -> list[str]:
    """Feed registries or alert-rule files shipped with the project."""
    names = {"feeds": ["config/feeds.yaml", "examples/demo/feeds.yaml"], "rules": ["examples/demo/rules.yaml"]}
    out = [(PROJECT / n).read_text(encoding="utf-8") for n in names[kind] if (PROJECT / n).exists()]
    for p in sorted(PROJECT.glob(f"tests/resources/**/*{kind}*.yaml")):
        if REGRESSIONS not in p.parents:  # the regression inputs are replayed, not mutated
            out.append(p.read_text(encoding="utf-8"))
    return out


def text_seeds(limit: int = 400) -> list[str]:
    """Real article texts: the seed articles, the tagging dev sets and (when present) SaudiNewsNet."""
    out: list[str] = []
    for p in sorted((PROJECT / "seeds").rglob("*.md")) + sorted((PROJECT / "seeds").rglob("*.txt")):
        out.append(p.read_text(encoding="utf-8"))
    for p in (PROJECT / "tests/resources/enrich/dev_ar.txt", PROJECT / "tests/resources/enrich/dev_en.txt"):
        if p.exists():
            out += [t for t in p.read_text(encoding="utf-8").split("\n\n") if t.strip()][:200]
    import json

    for z in sorted((CORPUS / "arabic-news" / "saudinewsnet").glob("*.zip"))[:2]:
        with zipfile.ZipFile(z) as zf:
            for name in zf.namelist()[:2]:
                try:
                    for a in json.loads(zf.read(name).decode("utf-8"))[: limit // 4]:
                        out.append((a.get("title") or "") + "\n" + (a.get("content") or "")[:3000])
                except (ValueError, UnicodeDecodeError, AttributeError):
                    continue
    return out[:limit] or ["طالبان وروسيا في موسكو", "Taliban delegation in Moscow"]

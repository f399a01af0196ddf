"""Articles for the indexing tests: the five real seed articles, and small hand-made ones."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from rasad.core.records import Article, EntityTag, Mention, TopicTag

PROJECT = Path(__file__).resolve().parents[2]
SEEDS = PROJECT / "seeds"


def make_article(n: int | str, title: str, text: str, *, source: str = "Test Wire", language: str = "ar",
                 fetched_at: str = "2025-05-02T10:00:00Z", published: str | None = "2025-05-02T09:00:00Z",
                 **kw) -> Article:  # fmt: skip
    """An article with a deterministic URL from ``n``."""
    url = f"https://news.example.org/{n}"
    return Article(url=url, canonical_url=url, feed_id="test-feed", source=source, title=title, text=text,
                   language=language, fetched_at=fetched_at, published=published, **kw)  # fmt: skip


def seed_articles() -> list[Article]:
    """The five seed articles (seeds/*.txt: title on the first line, then a dateline and the body)."""
    out = []
    for i, p in enumerate(sorted(SEEDS.glob("*.txt"))):
        lines = p.read_text(encoding="utf-8").strip().splitlines()
        out.append(make_article(f"seed/{p.stem}", lines[0].strip(), "\n".join(lines[1:]).strip(),
                                source=f"Seed source {i % 3}", fetched_at=f"2025-05-0{i + 1}T08:00:00Z",
                                published=f"2025-05-0{i + 1}T07:30:00Z"))  # fmt: skip
    return out


def entity_articles() -> list[Article]:
    """One tagged article per entity type in seeds/entities.yaml (so every entities_by_type.* field exists)."""
    data = yaml.safe_load((SEEDS / "entities.yaml").read_text(encoding="utf-8"))
    taxonomy = yaml.safe_load((SEEDS / "taxonomy.yaml").read_text(encoding="utf-8"))
    topic = next(t for t in taxonomy["topics"] if t.get("parent"))
    by_type: dict[str, dict] = {}
    for e in data["entities"]:
        by_type.setdefault(str(e["type"]).lower(), e)
    out = []
    for i, (etype, e) in enumerate(sorted(by_type.items())):
        text = f"ذكر التقرير {e['name_ar']} في سياق الأحداث الأخيرة."
        start = text.index(e["name_ar"])
        tag = EntityTag(id=e["id"], type=etype, name=e["name"], name_ar=e["name_ar"],
                        mentions=[Mention("text", start, start + len(e["name_ar"]), e["name_ar"])])  # fmt: skip
        out.append(make_article(f"entity/{etype}", f"خبر عن {e['name_ar']}", text, entities=[tag],
                                topics=[TopicTag(id=topic["id"], label=topic["label"], score=0.8)],
                                language="ar" if i % 2 else "en", tagger_version="test"))  # fmt: skip
    return out


@pytest.fixture
def seeds() -> list[Article]:
    """Fresh copies of the seed articles."""
    return seed_articles()

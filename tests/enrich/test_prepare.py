"""An article prepared in the extraction worker is the article the stages would have made.

Real pages (Arabic and English, from the test resources), the shipped seeds' real tagger, and a
real worker process of the extraction pool running the pipeline's job.
"""

from __future__ import annotations

import dataclasses

from rasad.core.records import Article
from rasad.core.settings import PROJECT_ROOT
from rasad.enrich.normalize import search_form
from rasad.enrich.prepare import extract_and_prepare, prepare_article
from rasad.enrich.stage import tag_articles
from rasad.enrich.tagging import get_tagger, tag_article
from rasad.ingest.dedup import content_hash, minhash_text
from rasad.ingest.extract.article import extract_article
from rasad.ingest.extract.model import FeedHints
from rasad.ingest.extract_pool import PRELOAD, ExtractPool
from rasad.pipeline import PREPARE_JOB, PREPARE_WARMUP

RESOURCES = PROJECT_ROOT / "tests" / "resources" / "ingest"
SEEDS = str(PROJECT_ROOT / "seeds")
HINTS = FeedHints(title="موسكو تستقبل وفد طالبان", summary="ملخص قصير", language_hint="ar")


def _pages() -> list[tuple[bytes, str]]:
    pages = [(p.read_bytes(), f"https://example.org/{p.stem}") for p in sorted((RESOURCES / "pages").glob("*.html"))]
    gold = sorted((RESOURCES / "gold").rglob("*.html*"))
    pages += [(p.read_bytes(), f"https://example.com/{p.stem}") for p in gold[:10]]
    return pages


def _article(ex: object, url: str) -> Article:
    """The article the download thread builds from an extraction (ingest.stage)."""
    return Article(url=url, canonical_url=url, feed_id="f", source="Feed", title=ex.title or HINTS.title or "",  # type: ignore[attr-defined]
                   text=ex.text or "", language=ex.language)  # type: ignore[attr-defined]  # fmt: skip


def _as_the_stages_make_it(a: Article) -> tuple:
    """Fingerprints (dedup), tags (tag stage) and search forms (indexing), computed in this process."""
    mh = minhash_text(a.text)
    tagged = tag_article(dataclasses.replace(a), get_tagger(SEEDS))
    return (content_hash(a.text), list(mh.signature) if mh else [], mh.bands if mh else [],
            [dataclasses.asdict(e) for e in tagged.entities], [dataclasses.asdict(t) for t in tagged.topics],
            tagged.tagger_version, search_form(a.title), search_form(a.text))  # fmt: skip


def _as_prepared(a: Article) -> tuple:
    # search_form returns the worker's form once (it was remembered by apply_to).
    return (a.content_hash, a.minhash, a.minhash_bands, [dataclasses.asdict(e) for e in a.entities],
            [dataclasses.asdict(t) for t in a.topics], a.tagger_version, search_form(a.title),
            search_form(a.text))  # fmt: skip


def test_a_worker_prepares_what_the_stages_would_compute():
    pages = _pages()
    assert len(pages) >= 12
    with ExtractPool(1, timeout=120, job=PREPARE_JOB, preload=[*PRELOAD, PREPARE_WARMUP]) as pool:
        got = [pool.call(body, url, "text/html", HINTS, SEEDS) for body, url in pages]
    tagged_any = 0
    for (body, url), ex in zip(pages, got, strict=True):
        plain = extract_article(body, url, "text/html", HINTS)
        assert dataclasses.replace(ex, prepared=None) == plain, url  # extraction itself unchanged
        if not plain.text:
            assert ex.prepared is None, url
            continue
        expected = _as_the_stages_make_it(_article(plain, url))
        a = _article(ex, url)
        assert ex.prepared.apply_to(a), url
        assert _as_prepared(a) == expected, url
        tagged_any += bool(a.entities)
    assert tagged_any >= 3  # the seed story's pages carry entities: the comparison is not of empties


def test_the_stages_keep_what_was_prepared_and_do_the_rest():
    body, url = _pages()[0]
    ex = extract_and_prepare(body, url, "text/html", HINTS, SEEDS)
    a = _article(ex, url)
    assert ex.prepared.apply_to(a)
    mentions = a.entities
    other = _article(extract_article(body, url, "text/html", HINTS), url)  # not prepared: tagged here
    out = tag_articles([a, other], settings_for_seeds())
    assert out[0].entities is mentions  # kept, not tagged again
    assert other.tagger_version == a.tagger_version and other.entities == a.entities


def test_a_changed_article_gets_nothing():
    body, url = _pages()[0]
    ex = extract_and_prepare(body, url, "text/html", HINTS, SEEDS)
    for change in ({"title": "another title"}, {"text": ex.text + " more"}, {"language": "en"}):
        a = dataclasses.replace(_article(ex, url), **change)
        assert not ex.prepared.apply_to(a)
        assert a.content_hash is None and a.tagger_version is None and not a.minhash


def test_nothing_is_prepared_without_seeds_or_without_text():
    body, url = _pages()[0]
    assert extract_and_prepare(body, url, "text/html", HINTS).prepared is None
    empty = extract_and_prepare(b"<html><body><p>x</p></body></html>", "https://example.org/e", "text/html", None, SEEDS)
    assert empty.prepared is None
    short = prepare_article("عنوان", "نص قصير", "ar", SEEDS)  # too short for a MinHash: hash only
    assert short.content_hash and not short.minhash and short.tagger_version


def settings_for_seeds():
    from rasad.core.settings import load_settings

    return load_settings().replace(seeds_dir=SEEDS)

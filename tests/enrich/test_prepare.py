"""An article prepared in the extraction worker is the article the stages would have made.

Real pages (Arabic and English, from the test resources), the shipped seeds' real tagger, and a
real worker process of the extraction pool running the pipeline's job.
"""

from __future__ import annotations

import dataclasses

from rasad.core.records import Article
from rasad.core.settings import PROJECT_ROOT
from rasad.enrich.events.cluster import ClusterItem, EventClusterer
from rasad.enrich.events.tokens import leading_tokens, remember_tokens, tokenize_text
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
            tagged.tagger_version, search_form(a.title), search_form(a.text), tokenize_text(a.title),
            tokenize_text(a.text)[:200])  # fmt: skip


def _as_prepared(a: Article) -> tuple:
    # search_form returns the worker's form once (it was remembered by apply_to).
    return (a.content_hash, a.minhash, a.minhash_bands, [dataclasses.asdict(e) for e in a.entities],
            [dataclasses.asdict(t) for t in a.topics], a.tagger_version, search_form(a.title),
            search_form(a.text), leading_tokens(a.title), leading_tokens(a.text, 200))  # fmt: skip


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


def test_prepared_articles_form_the_same_events():
    pages = _pages()
    plain, prepared = [], []
    for i, (body, url) in enumerate(pages * 2):  # each page twice: the copies join their first
        link = f"{url}?copy={i}"
        ex = extract_and_prepare(body, url, "text/html", HINTS, SEEDS)
        if not ex.text:
            continue
        a, b = _article(ex, link), _article(ex, link)
        for art in (a, b):
            art.fetched_at = f"2026-12-01T10:{i:02d}:00Z"
        tag_article(a, get_tagger(SEEDS))
        assert ex.prepared.apply_to(b)  # tagged, and its tokens remembered for the clusterer
        plain.append(ClusterItem.from_article(a))
        prepared.append(ClusterItem.from_article(b))
    whole, early = EventClusterer(), EventClusterer()
    got = [(x.event_id, x.is_new) for x in map(early.assign, prepared)]
    assert got == [(x.event_id, x.is_new) for x in map(whole.assign, plain)]
    assert early.export_state() == whole.export_state()
    assert sum(1 for _, new in got if not new) >= len(got) // 2


def test_remembered_tokens_serve_only_what_they_hold():
    text = " ".join(f"كلمة{i} word{i}" for i in range(300))
    full = tokenize_text(text)
    remember_tokens(text, full[:256], complete=False)
    assert leading_tokens(text, 200) == full[:200]  # served from the head
    remember_tokens(text, full[:256], complete=False)
    assert leading_tokens(text, 400) == full[:400]  # more than the head holds: tokenised again
    remember_tokens(text, full[:5], complete=False)
    assert leading_tokens(text) == full  # all of them asked: tokenised again
    assert leading_tokens(text, 10) == full[:10]  # taken once: now computed


def settings_for_seeds():
    from rasad.core.settings import load_settings

    return load_settings().replace(seeds_dir=SEEDS)


def test_the_tagger_version_is_known_without_building_a_tagger(tmp_path):
    from rasad.enrich.tagging import tagger_version

    assert tagger_version(SEEDS) == get_tagger(SEEDS).version
    for name in ("entities.yaml", "taxonomy.yaml"):
        (tmp_path / name).write_bytes((PROJECT_ROOT / "seeds" / name).read_bytes())
    assert tagger_version(tmp_path) == get_tagger(tmp_path).version  # the same data: the same version
    (tmp_path / "taxonomy.yaml").write_bytes((tmp_path / "taxonomy.yaml").read_bytes() + b"\n# edited\n")
    assert tagger_version(tmp_path) != get_tagger(SEEDS).version  # other data: another version


def test_a_tagger_that_cannot_be_built_leaves_the_tagging_to_the_stage(tmp_path):
    body, url = _pages()[0]
    missing = str(tmp_path / "no-seeds-here")
    ex = extract_and_prepare(body, url, "text/html", HINTS, missing)
    a = _article(ex, url)
    assert ex.prepared.apply_to(a)
    assert a.content_hash == content_hash(a.text) and a.tagger_version is None  # fingerprints only
    tag_articles([a], settings_for_seeds())  # the stage tags it, with the configured seeds
    assert a.tagger_version == get_tagger(SEEDS).version

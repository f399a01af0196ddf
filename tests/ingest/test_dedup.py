"""Bar 3: one story under many URLs and GUIDs is one article; a syndicated copy is linked; re-polls are conditional.

Real loopback news sites, the real HttpClient, the real extraction, the real Elasticsearch node.
"""

from __future__ import annotations

import zlib
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from html import escape

from rasad.core import records
from rasad.core.settings import PROJECT_ROOT
from rasad.indexing.bulk import index_articles
from rasad.ingest.dedup import content_hash, minhash_text
from rasad.ingest.feeds import FeedSpec
from rasad.ingest.http.client import HttpClient
from rasad.ingest.stage import fetch_articles, poll_feeds
from rasad.ingest.store import IngestStore
from rasad.pipeline import step_setup
from tests.ingest.test_http import Handler, LoopbackServer

NOW = datetime(2025, 11, 21, 12, 0, tzinfo=timezone.utc)


def story_paragraphs() -> list[str]:
    """The first seed article's paragraphs (real Arabic news text)."""
    text = (PROJECT_ROOT / "seeds" / "000_fb7922bf096f1193.txt").read_text(encoding="utf-8")
    return [p.strip() for p in text.split("\n") if len(p.split()) > 12]


def article_html(title: str, paragraphs: list[str]) -> bytes:
    """A news page with the boilerplate real sites wrap around the body."""
    body = "".join(f"<p>{escape(p)}</p>" for p in paragraphs)
    return f"""<!doctype html><html lang="ar" dir="rtl"><head><meta charset="utf-8"><title>{escape(title)}</title>
<meta property="og:title" content="{escape(title)}"></head><body>
<header><nav><a href="/">الرئيسية</a> <a href="/world">العالم</a> <a href="/sport">رياضة</a></nav></header>
<main><article><h1>{escape(title)}</h1><time datetime="2025-11-21T09:00:00Z">21 نوفمبر 2025</time>{body}</article></main>
<footer><p>جميع الحقوق محفوظة</p></footer></body></html>""".encode()


def rss(title: str, items: list[dict[str, str]]) -> bytes:
    """An RSS 2.0 document."""
    parts = []
    for it in items:
        guid = f"<guid isPermaLink=\"false\">{escape(it['guid'])}</guid>" if it.get("guid") else ""
        parts.append(f"<item><title>{escape(it['title'])}</title><link>{escape(it['link'])}</link>{guid}"
                     f"<pubDate>{format_datetime(NOW)}</pubDate><description>{escape(it.get('summary', ''))}"
                     f"</description></item>")  # fmt: skip
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>{escape(title)}</title>'
            f"<link>http://example.invalid/</link><language>ar</language>{''.join(parts)}</channel></rss>").encode()  # fmt: skip


def feed_route(server: LoopbackServer, path: str, body: bytes,
               last_modified: str = "Fri, 21 Nov 2025 09:00:00 GMT") -> None:  # fmt: skip
    """Serve a feed with ETag and Last-Modified, answering 304 to a matching conditional GET."""
    etag = f'"{zlib.crc32(body):08x}"'

    def route(h: Handler) -> None:
        if h.headers.get("If-None-Match") == etag or (
            not h.headers.get("If-None-Match") and h.headers.get("If-Modified-Since") == last_modified
        ):
            h.send_response(304)
            h.send_header("ETag", etag)
            h.send_header("Content-Length", "0")
            h.end_headers()
            return
        h.reply(200, body, {"Content-Type": "application/rss+xml; charset=utf-8", "ETag": etag,
                            "Last-Modified": last_modified})  # fmt: skip

    server.routes[path] = route


def test_one_story_many_urls_one_article_syndicated_copy_linked_repoll_conditional(settings, es):
    s = settings.replace(allow_private_networks=True, backoff_base=0.01, retries=1)
    step_setup(s)
    paras = story_paragraphs()
    assert sum(len(p.split()) for p in paras) > 150
    hosts = {"news.test", "m.news.test", "www.news.test", "wire.test"}
    client = HttpClient(s, resolver=lambda host, port: ["127.0.0.1"] if host in hosts else [])
    store = IngestStore(es, s)
    with LoopbackServer() as site, LoopbackServer() as wire:
        page = article_html("روسيا تمهد لتحالف أمني مع طالبان", paras)
        for p in ("/world/story-1", "/world/story-1/", "/world/story-1/amp"):
            site.add(p, page)
        base, mobile = f"http://news.test:{site.port}", f"http://m.news.test:{site.port}"
        variants = [
            (f"{base}/world/story-1", "story-1"),
            (f"{base}/world/story-1?utm_source=rss&utm_medium=feed", "story-1"),
            (f"{base}/world/story-1?fbclid=IwAR0xyz", "story-1"),
            (f"{mobile}/world/story-1", "story-1"),
            (f"{base}/world/story-1/amp", "urn:news:20251121:1"),
            (f"{base}/world/story-1#comments", "urn:news:20251121:1"),
            (f"{base}/world/story-1/", "urn:news:20251121:1"),
            (f"http://NEWS.Test:{site.port}/world/story-1", "urn:news:20251121:1"),
        ]
        items = [{"title": "روسيا تمهد لتحالف أمني مع طالبان", "link": u, "guid": g} for u, g in variants]
        feed_route(site, "/feed.xml", rss("News Site", items))
        news = FeedSpec("news-site", f"{base}/feed.xml", "News Site", "ar", "SA", 900)

        # 1. First poll: eight items, two GUIDs, one story -> one article, one page download.
        polled = poll_feeds([news], client, store, now=NOW)
        assert polled.feeds[0].status == "ok" and len(polled.items) == 8
        fetched = fetch_articles(polled.items, {news.id: news}, client, store, now=NOW)
        assert [a.status for a in fetched.articles] == [records.STATUS_NEW]
        assert fetched.outcomes == {records.STATUS_NEW: 1, records.STATUS_DUPLICATE: 7}
        original = fetched.articles[0]
        assert original.canonical_url == f"https://news.test:{site.port}/world/story-1"
        assert original.text_source == "page" and "طالبان" in original.text and original.minhash
        assert [p for p in site.paths() if p.startswith("/world")] == ["/world/story-1"]
        assert index_articles(es, s, fetched.articles).indexed == 1

        # 2. A wire copy on another site, new headline, a sentence changed: kept and linked.
        copy = list(paras)
        copy[0] = "موسكو - وكالات: " + copy[0]
        copy[-1] = copy[-1] + " وأكدت مصادر مطلعة أن المحادثات ستستأنف الأسبوع المقبل."
        wire.add("/2025/11/21/russia-taliban.html", article_html("موسكو وطالبان: شراكة أمنية في مواجهة داعش", copy))
        wire_base = f"http://wire.test:{wire.port}"
        feed_route(wire, "/rss", rss("Wire", [{"title": "موسكو وطالبان: شراكة أمنية في مواجهة داعش",
                                               "link": f"{wire_base}/2025/11/21/russia-taliban.html",
                                               "guid": "wire-77"}]))  # fmt: skip
        wire_spec = FeedSpec("wire", f"{wire_base}/rss", "Wire Service", "ar", None, 900)
        polled_wire = poll_feeds([wire_spec], client, store, now=NOW + timedelta(minutes=5))
        fetched_wire = fetch_articles(polled_wire.items, {wire_spec.id: wire_spec}, client, store,
                                      now=NOW + timedelta(minutes=5))  # fmt: skip
        assert len(fetched_wire.articles) == 1
        syndicated = fetched_wire.articles[0]
        assert syndicated.status == records.STATUS_NEAR_DUPLICATE and syndicated.duplicate_of == original.id
        assert syndicated.content_hash != original.content_hash and syndicated.title != original.title
        assert minhash_text(syndicated.text).jaccard(minhash_text(original.text)) >= 0.6
        index_articles(es, s, fetched_wire.articles)

        # 3. Re-polling the unchanged feed: a conditional request, a 304, nothing created.
        site_requests = len(site.requests)
        again = poll_feeds([news], client, store, now=NOW + timedelta(hours=1))
        assert again.feeds[0].status == "not_modified" and again.items == []
        path, headers = site.requests[-1]
        assert path == "/feed.xml" and len(site.requests) == site_requests + 1
        assert headers["if-none-match"].startswith('"') and headers["if-modified-since"] == "Fri, 21 Nov 2025 09:00:00 GMT"
        assert fetch_articles(again.items, {news.id: news}, client, store, now=NOW).articles == []
        state = store.load_states([news.id])[news.id]
        assert state.health == "ok" and state.items_seen == 8 and state.new_articles == 1

        # 4. The feed changes: the same story under a new slug with a known GUID, and an exact
        #    copy of its text under yet another URL of the same site: both are duplicates.
        site.add("/world/story-1-updated", page)
        site.add("/print/story-1", page)
        changed = rss("News Site", [
            {"title": "محدث", "link": f"{base}/world/story-1-updated", "guid": "story-1"},
            {"title": "نسخة للطباعة", "link": f"{base}/print/story-1", "guid": "print-1"},
        ])  # fmt: skip
        feed_route(site, "/feed.xml", changed, last_modified="Fri, 21 Nov 2025 13:00:00 GMT")
        polled4 = poll_feeds([news], client, store, now=NOW + timedelta(hours=2))
        fetched4 = fetch_articles(polled4.items, {news.id: news}, client, store, now=NOW + timedelta(hours=2))
        assert fetched4.articles == [] and fetched4.outcomes == {records.STATUS_DUPLICATE: 2}
        assert "/world/story-1-updated" not in site.paths()  # known GUID: not even downloaded
        assert es.count(index=s.index("articles"))["count"] == 2


def test_exact_fingerprint_ignores_formatting_and_arabic_letter_forms():
    a = "قالت موسكو إنّ «طالبان» شريكٌ — في الحرب على الإرهاب."
    b = "قالت  موسكو ان طالبان شريك في الحرب على الارهاب"
    assert content_hash(a) == content_hash(b)
    assert content_hash(a) != content_hash(a.replace("موسكو", "كابل"))


def test_minhash_separates_different_stories_and_skips_short_texts():
    paras = story_paragraphs()
    other = (PROJECT_ROOT / "seeds" / "004_2d74ac5e9dc5bed1.txt").read_text(encoding="utf-8")
    mine = minhash_text(" ".join(paras))
    assert mine.jaccard(minhash_text(" ".join(paras[:-1]))) > 0.6
    assert mine.jaccard(minhash_text(other)) < 0.2
    assert minhash_text("نص قصير جدا") is None
    assert len(mine.bands) == 16 and mine.bands == minhash_text(" ".join(paras)).bands  # stable


def test_near_candidates_of_many_articles_are_each_articles_own_in_one_search(settings, es, monkeypatch):
    """One search over a chunk's bands gives every article the candidates its own search gives."""
    from rasad.core.records import Article, utc_iso
    from rasad.ingest import store as store_mod

    s = settings
    step_setup(s)
    store = IngestStore(es, s)
    texts = [(PROJECT_ROOT / "seeds" / p).read_text(encoding="utf-8") for p in sorted(
        x.name for x in (PROJECT_ROOT / "seeds").glob("*.txt"))]  # fmt: skip
    stored = []
    for n, text in enumerate(texts):  # each seed twice: itself and a copy with its last paragraph cut
        for variant, body in (("", text), ("-cut", text.rsplit("\n", 2)[0])):
            a = Article(url=f"https://news.test/{n}{variant}", canonical_url=f"https://news.test/{n}{variant}",
                        feed_id="f", source="News", title=f"t{n}", fetched_at=utc_iso(NOW))  # fmt: skip
            a.text = body
            mh = minhash_text(body)
            a.minhash, a.minhash_bands = list(mh.signature), mh.bands
            stored.append(a)
    assert index_articles(es, s, stored).indexed == len(stored)
    probes = [minhash_text(t).bands for t in texts] + [[], ["no-such-band"], stored[0].minhash_bands[:3]]
    since = NOW - timedelta(days=1)
    union = store.near_candidates_many(probes, since)
    each = store._near_candidates_each(probes, since)
    assert union == each
    assert all(stored[2 * n].id in {c["_id"] for c in union[n]} for n in range(len(texts)))  # each finds itself
    assert union[len(texts)] == [] and union[len(texts) + 1] == []
    # A union that matches more than the cap falls back to the per-article searches: same answer.
    monkeypatch.setattr(store_mod, "UNION_CAP", 3)
    assert store.near_candidates_many(probes, since) == each
    # And nothing fetched before the window counts.
    assert store.near_candidates_many(probes, NOW + timedelta(days=1)) == [[] for _ in probes]

"""Feed state in the real Elasticsearch node (back-off, flagging, recovery) and per-item outcomes of the stage."""

from __future__ import annotations

from datetime import timedelta

from rasad.cli import main
from rasad.core import records
from rasad.core.records import parse_iso
from rasad.core.settings import PROJECT_ROOT
from rasad.ingest.feeds import FeedItem, FeedSpec
from rasad.ingest.http.client import HttpClient
from rasad.ingest.stage import fetch_articles, poll_feeds
from rasad.ingest.store import HEALTH_FAILING, HEALTH_FLAGGED, HEALTH_OK, IngestStore, backoff_seconds
from rasad.pipeline import step_setup
from tests.ingest.test_dedup import NOW, article_html, rss, story_paragraphs
from tests.ingest.test_http import HTML, Handler, LoopbackServer


def test_backoff_is_exponential_and_capped():
    assert [backoff_seconds(n, 600, 86400) for n in range(5)] == [600, 1200, 2400, 4800, 9600]
    assert backoff_seconds(12, 600, 86400) == 86400 and backoff_seconds(99, 600, 3600) == 3600


def test_failing_feed_backs_off_is_flagged_keeps_being_polled_and_recovers(settings, es, capsys):
    s = settings.replace(allow_private_networks=True, retries=0, feed_flag_after=3, feed_backoff_cap=7200)
    step_setup(s)
    store = IngestStore(es, s)
    client = HttpClient(s)
    healthy = [False]
    with LoopbackServer() as site:
        body = rss("Site", [{"title": "t", "link": f"{site.base_url}/a", "guid": "a"}])

        def feed(h: Handler) -> None:
            if healthy[0]:
                h.reply(200, body, {"Content-Type": "application/rss+xml", "ETag": '"e1"'})
            else:
                h.reply(503, b"maintenance")

        site.routes["/feed.xml"] = feed
        site.add("/html-instead.xml", b"<!doctype html><html><body>Moved</body></html>")
        spec = FeedSpec("flaky", f"{site.base_url}/feed.xml", "Flaky", "ar", None, 600)
        broken = FeedSpec("broken", f"{site.base_url}/html-instead.xml", "Broken", "en", None, 600)

        now = NOW
        expected_delays = [1200, 2400, 4800, 7200]
        for n, delay in enumerate(expected_delays, start=1):
            rep = poll_feeds([spec], client, store, now=now)
            assert rep.feeds[0].status == "error" and rep.feeds[0].error_kind == "http_5xx"
            st = store.load_states([spec.id])[spec.id]
            assert st.consecutive_failures == n and st.last_error_kind == "http_5xx"
            assert st.health == (HEALTH_FLAGGED if n >= 3 else HEALTH_FAILING)
            assert parse_iso(st.next_poll) - now == timedelta(seconds=delay)
            # Not due yet: skipped without a request.
            before = len(site.requests)
            assert poll_feeds([spec], client, store, now=now + timedelta(seconds=delay - 1)).feeds[0].status == "skipped"
            assert len(site.requests) == before
            now += timedelta(seconds=delay)

        # Flagged, not dropped: `rasad feeds status` shows it, and it recovers by itself.
        assert main(["feeds", "status"]) == 0
        table = capsys.readouterr().out
        assert "flaky" in table and HEALTH_FLAGGED in table and "http_5xx" in table
        healthy[0] = True
        rep = poll_feeds([spec, broken], client, store, now=now)
        by_id = {f.feed_id: f for f in rep.feeds}
        assert by_id["flaky"].status == "ok" and by_id["flaky"].items == 1
        assert by_id["broken"].status == "error" and by_id["broken"].error_kind == "bad_feed"
        assert "HTML page" in by_id["broken"].error
        states = store.load_states(["flaky", "broken"])
        assert states["flaky"].health == HEALTH_OK and states["flaky"].consecutive_failures == 0
        assert states["flaky"].etag == '"e1"' and states["flaky"].last_success == records.utc_iso(now)
        assert parse_iso(states["flaky"].next_poll) - now == timedelta(seconds=600)
        assert states["broken"].health == HEALTH_FAILING and states["broken"].last_error_kind == "bad_feed"


def test_retry_after_defers_the_next_poll(settings, es):
    s = settings.replace(allow_private_networks=True, retries=3)
    step_setup(s)
    store = IngestStore(es, s)
    with LoopbackServer() as site:
        site.add("/feed.xml", b"", status=429, headers={"Retry-After": "7200"})
        spec = FeedSpec("busy", f"{site.base_url}/feed.xml", "Busy", None, None, 300)
        rep = poll_feeds([spec], HttpClient(s), store, now=NOW)
        assert rep.feeds[0].error_kind == "http_429" and site.paths() == ["/feed.xml"]
        st = store.load_states([spec.id])[spec.id]
        assert parse_iso(st.next_poll) - NOW >= timedelta(seconds=7200)


def test_every_item_gets_exactly_one_outcome(settings, es):
    s = settings.replace(allow_private_networks=True, retries=0)
    step_setup(s)
    store = IngestStore(es, s)
    paras = story_paragraphs()
    with LoopbackServer() as site:
        site.add("/robots.txt", "User-agent: *\nDisallow: /private/\n", headers={"Content-Type": "text/plain"})
        site.add("/news/ok", article_html("خبر", paras))
        other = (PROJECT_ROOT / "seeds" / "003_be535f35dcace768.txt").read_text(encoding="utf-8")
        site.add("/news/other", article_html("خبر آخر", [p for p in other.split("\n") if len(p.split()) > 12]))
        site.add("/files/report.pdf", b"%PDF-1.7\n" + bytes(range(256)) * 100, headers={"Content-Type": "application/pdf"})
        site.add("/news/gone", b"", status=404)
        site.add("/private/secret", HTML)
        b = site.base_url
        items = [
            FeedItem("f", f"{b}/news/ok", "g1", "خبر"),
            FeedItem("f", f"{b}/news/other", "g2", "خبر آخر"),
            FeedItem("f", f"{b}/files/report.pdf", "g3", "تقرير"),
            FeedItem("f", f"{b}/news/gone", "g4", "محذوف"),
            FeedItem("f", f"{b}/private/secret", "g5", "سري"),
            FeedItem("f", "javascript:alert(1)", "g6", "bad"),
            FeedItem("f", f"{b}/news/ok?utm_source=x", "g7", "خبر"),
            FeedItem("f", f"{b}/news/gone-but-summarised", "g8", "ملخص", summary=" ".join(paras[:2])),
        ]
        spec = FeedSpec("f", f"{b}/feed.xml", "Site", "ar", None, 600)
        rep = fetch_articles(items, {"f": spec}, HttpClient(s), store, now=NOW)
        assert sum(rep.outcomes.values()) == len(items)
        assert rep.outcomes == {records.STATUS_NEW: 3, records.STATUS_NOT_HTML: 1, records.STATUS_FETCH_ERROR: 1,
                                records.STATUS_BLOCKED: 1, "bad_url": 1, records.STATUS_DUPLICATE: 1}  # fmt: skip
        assert rep.failures["not_html"] == 1 and rep.failures["blocked_robots"] == 1 and rep.failures["http_4xx"] == 1
        assert "/private/secret" not in site.paths()
        summarised = next(a for a in rep.articles if a.url.endswith("gone-but-summarised"))
        assert summarised.text_source == "feed_summary" and "http_4xx" in summarised.status_reason


def test_a_guid_shared_by_different_articles_is_not_trusted(settings, es):
    s = settings.replace(allow_private_networks=True, respect_robots=False)
    step_setup(s)
    paras = story_paragraphs()
    with LoopbackServer() as site:
        site.add("/a", article_html("أ", paras[:4]))
        site.add("/b", article_html("ب", paras[4:]))
        items = [FeedItem("cms", f"{site.base_url}/a", "https://cms.example/feed"),
                 FeedItem("cms", f"{site.base_url}/b", "https://cms.example/feed")]  # fmt: skip
        spec = FeedSpec("cms", f"{site.base_url}/feed.xml", "CMS", "ar", None, 600)
        rep = fetch_articles(items, {"cms": spec}, HttpClient(s), IngestStore(es, s), now=NOW)
        assert rep.outcomes[records.STATUS_NEW] == 2


def test_new_article_counts_of_many_feeds_are_added_in_one_round_trip_and_survive_a_concurrent_save(settings, es):
    from rasad.ingest.store import FeedState

    step_setup(settings)
    store = IngestStore(es, settings)
    store.save_states([FeedState(feed_id="a", new_articles=4), FeedState(feed_id="b")])
    store.add_new_articles({"a": 2, "b": 3, "never-polled": 5, "c": 0})
    states = store.load_states(["a", "b", "never-polled"])
    assert (states["a"].new_articles, states["b"].new_articles, states["never-polled"].new_articles) == (6, 3, 0)
    assert not es.exists(index=store.feeds_index, id="never-polled")

    # Another worker saves feed "a" between this one's read and its write: the write is refused
    # (409) and done again on the new version, so neither count is lost.
    real_bulk = es.bulk
    raced = []

    def bulk_after_a_concurrent_save(**kw):
        if not raced:
            raced.append(1)
            other = store.load_states(["a"])["a"]
            other.new_articles += 10
            store.save_state(other)
        return real_bulk(**kw)

    es.bulk = bulk_after_a_concurrent_save
    try:
        store.add_new_articles({"a": 1})
    finally:
        del es.bulk
    assert raced and store.load_states(["a"])["a"].new_articles == 17

"""A page that fails transiently is retried at the feed's next poll, even when the feed answers 304."""

from __future__ import annotations

from datetime import timedelta

from ingest.feeds import FeedSpec
from ingest.http import HttpClient
from ingest.stage import MAX_PAGE_ATTEMPTS, fetch_articles, poll_feeds
from ingest.store import IngestStore
from rasad import records
from rasad.pipeline import step_setup
from tests.ingest.test_dedup import NOW, article_html, feed_route, rss, story_paragraphs
from tests.ingest.test_http import Handler, LoopbackServer


def test_transient_page_failure_is_retried_after_a_304_and_then_given_up(settings, es):
    s = settings.replace(allow_private_networks=True, retries=0, respect_robots=False)
    step_setup(s)
    store = IngestStore(es, s)
    client = HttpClient(s)
    page_up = [False]
    with LoopbackServer() as site:
        page = article_html("روسيا وطالبان", story_paragraphs())

        def flaky(h: Handler) -> None:
            if page_up[0]:
                h.reply(200, page, {"Content-Type": "text/html; charset=utf-8"})
            else:
                h.reply(503, b"busy")

        site.routes["/a.html"] = flaky
        site.add("/never.html", b"down", status=502)
        feed_route(site, "/feed.xml", rss("Site", [
            {"title": "روسيا وطالبان", "link": f"{site.base_url}/a.html", "guid": "a"},
            {"title": "never", "link": f"{site.base_url}/never.html", "guid": "n"},
        ]))  # fmt: skip
        spec = FeedSpec("flaky-pages", f"{site.base_url}/feed.xml", "Flaky", "ar", None, 60)

        def cycle(now):  # noqa: ANN001, ANN202
            polled = poll_feeds([spec], client, store, now=now)
            return polled, fetch_articles(polled.items, {spec.id: spec}, client, store, now=now)

        polled, fetched = cycle(NOW)
        assert polled.feeds[0].status == "ok"
        assert fetched.outcomes[records.STATUS_FETCH_ERROR] == 2 and not fetched.articles
        pending = store.load_states([spec.id])[spec.id].pending_items
        assert sorted(p["guid"] for p in pending) == ["a", "n"] and {p["attempts"] for p in pending} == {1}

        # Next poll: the feed has not changed (304), but the queued items are tried again.
        page_up[0] = True
        polled, fetched = cycle(NOW + timedelta(minutes=2))
        assert polled.feeds[0].status == "not_modified"
        assert [a.guid for a in fetched.articles] == ["a"]
        assert [p["guid"] for p in store.load_states([spec.id])[spec.id].pending_items] == ["n"]

        # A page that never comes back is given up after MAX_PAGE_ATTEMPTS tries.
        for i in range(MAX_PAGE_ATTEMPTS):
            cycle(NOW + timedelta(minutes=4 + 2 * i))
        assert store.load_states([spec.id])[spec.id].pending_items == []
        tries = [p for p, _ in site.requests if p == "/never.html"]
        assert len(tries) == MAX_PAGE_ATTEMPTS

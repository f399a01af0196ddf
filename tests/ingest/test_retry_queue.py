"""A page that fails transiently goes back to the work queue with a backoff, is retried
even though its feed answers 304, and is given up (failed, with its reason) after
MAX_ATTEMPTS tries. Real Elasticsearch, real loopback HTTP."""

from __future__ import annotations

from datetime import timedelta

from rasad.ingest.feeds import FeedSpec
from rasad.ingest.http.client import HttpClient
from rasad.ingest.queue import CLAIMED, DONE, FAILED, MAX_ATTEMPTS, NEW, WorkQueue
from rasad.ingest.stage import poll_feeds
from rasad.ingest.store import IngestStore
from rasad.pipeline import step_claim, step_process_batch, step_setup
from tests.ingest.test_dedup import NOW, article_html, feed_route, rss, story_paragraphs
from tests.ingest.test_http import Handler, LoopbackServer


def _states(q: WorkQueue) -> dict[str, str]:
    q.es.indices.refresh(index=q.index)
    hits = q.es.search(index=q.index, size=100)["hits"]["hits"]
    return {h["_source"]["item"]["guid"]: h["_source"]["state"] for h in hits}


def test_transient_page_failure_is_retried_after_a_304_and_then_given_up(settings, es, tmp_path):
    s = settings.replace(allow_private_networks=True, retries=0, respect_robots=False)
    step_setup(s)
    store = IngestStore(es, s)
    q = WorkQueue(es, s)
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
        feeds = tmp_path / "feeds.yaml"
        feeds.write_text(f"feeds:\n  - id: flaky-pages\n    url: {spec.url}\n    name: Flaky\n    language: ar\n"
                         "    poll_interval: 1m\n", encoding="utf-8")  # fmt: skip

        def process(now, key):
            batches = step_claim(key, s, now=now)
            return [step_process_batch(b["id"], s, str(feeds), now=now) for b in batches]

        polled = poll_feeds([spec], client, store, q, now=NOW)
        assert polled.feeds[0].status == "ok" and polled.queued == 2
        (res,) = process(NOW, "r1")
        assert res["new_articles"] == 0 and res["retry_later"] == 2
        assert _states(q) == {"a": NEW, "n": NEW}
        # Not before the backoff: a claim right away finds nothing.
        assert step_claim("r1b", s, now=NOW + timedelta(seconds=1)) == []

        # The feed has not changed (304), yet the queued items are tried again.
        page_up[0] = True
        later = NOW + timedelta(minutes=2)
        assert poll_feeds([spec], client, store, q, now=later).feeds[0].status == "not_modified"
        (res,) = process(later, "r2")
        assert res["new_articles"] == 1 and res["indexed"] == 1
        assert _states(q) == {"a": DONE, "n": NEW}

        # A page that never comes back is given up after MAX_ATTEMPTS tries, with its reason.
        t = later
        for i in range(MAX_ATTEMPTS):
            t += timedelta(hours=1)
            process(t, f"r3-{i}")
        assert _states(q) == {"a": DONE, "n": FAILED}
        tries = [p for p, _ in site.requests if p == "/never.html"]
        assert len(tries) == MAX_ATTEMPTS
        (failed,) = q.failures()
        assert failed["outcome"] == "fetch_error" and "502" in failed["reason"]
        assert CLAIMED not in _states(q).values()

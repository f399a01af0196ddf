"""`rasad run`'s batch loop: the next batch downloads while one is indexed; the alert step reads in chunks.

Real loopback sites on two loopback addresses (two hosts, so two batches), the real HTTP
client and extraction, the real Elasticsearch node and a real SMTP server.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone
from html import escape
from pathlib import Path

import pytest
import yaml

from rasad import pipeline
from rasad.core.settings import PROJECT_ROOT
from tests.ingest.test_dedup import feed_route, rss
from tests.ingest.test_http import LoopbackServer


def seed_paragraphs(name: str) -> list[str]:
    text = next((PROJECT_ROOT / "seeds").glob(f"{name}_*.txt")).read_text(encoding="utf-8")
    return [p.strip() for p in text.split("\n") if len(p.split()) > 12]


def page(title: str, paragraphs: list[str], when: datetime) -> bytes:
    body = "".join(f"<p>{escape(p)}</p>" for p in paragraphs)
    return f"""<!doctype html><html lang="ar" dir="rtl"><head><meta charset="utf-8"><title>{escape(title)}</title>
</head><body><nav><a href="/">الرئيسية</a> <a href="/world">العالم</a></nav>
<main><article><h1>{escape(title)}</h1><time datetime="{when:%Y-%m-%dT%H:%M:%SZ}"></time>{body}</article></main>
<footer><p>جميع الحقوق محفوظة</p></footer></body></html>""".encode()


def registry(tmp_path: Path, **urls: str) -> Path:
    """A feeds.yaml of Arabic feeds, id -> URL (each named after its id)."""
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(yaml.safe_dump({"feeds": [{"id": fid, "url": url, "name": fid.title(), "language": "ar"}
                                               for fid, url in urls.items()]}), encoding="utf-8")  # fmt: skip
    return feeds


class Recorder:
    """Wraps a pipeline function (calling the real one) and records when and where each call ran."""

    def __init__(self, fn):
        self.fn, self.calls = fn, []

    def __call__(self, batch, *args, **kwargs):
        start = time.monotonic()
        try:
            return self.fn(batch, *args, **kwargs)
        finally:
            bid = batch if isinstance(batch, str) else batch.batch_id
            self.calls.append((bid, start, time.monotonic(), threading.current_thread().name))


@pytest.mark.parametrize("overlap", [True, False], ids=["overlapped", "in-turn"])
def test_batches_overlap_or_go_in_turn_and_dedup_still_sees_the_previous_one(settings, es, mail_sink, monkeypatch,
                                                                            tmp_path, overlap):  # fmt: skip
    # One item a batch at most: the first site's two items make one batch, the wire's copy the next.
    s = settings.replace(allow_private_networks=True, respect_robots=False, batch_size=1, extract_workers="1",
                         overlap_batches=overlap)
    now = datetime.now(timezone.utc)
    story, other = seed_paragraphs("000"), seed_paragraphs("002")
    copy = ["موسكو - وكالات: " + story[0], *story[1:-1], story[-1] + " وأكدت مصادر مطلعة أن المحادثات ستستأنف."]
    with LoopbackServer("127.0.0.1") as news, LoopbackServer("127.0.0.2") as wire:
        news.add("/a.html", page("روسيا تمهد لتحالف أمني مع طالبان", story, now))
        news.add("/b.html", page("طالبان وداعش خراسان: تقرير", other, now))
        wire.add("/copy.html", page("موسكو وطالبان: شراكة أمنية", copy, now))
        feed_route(news, "/feed.xml", rss("News", [
            {"title": "روسيا تمهد لتحالف أمني مع طالبان", "link": f"{news.base_url}/a.html", "guid": "a"},
            {"title": "طالبان وداعش خراسان: تقرير", "link": f"{news.base_url}/b.html", "guid": "b"},
        ]))  # fmt: skip
        feed_route(wire, "/rss", rss("Wire", [
            {"title": "موسكو وطالبان: شراكة أمنية", "link": f"{wire.base_url}/copy.html", "guid": "w"},
        ]))  # fmt: skip
        feeds = registry(tmp_path, news=f"{news.base_url}/feed.xml", wire=f"{wire.base_url}/rss")
        rules = tmp_path / "rules.yaml"
        rules.write_text(yaml.safe_dump({"rules": [
            {"name": "taliban", "keywords": {"any": ["طالبان"]}, "recipients": ["a@example.org"]},
        ]}, allow_unicode=True), encoding="utf-8")  # fmt: skip

        fetch, finish = Recorder(pipeline.fetch_batch), Recorder(pipeline.finish_batch)
        monkeypatch.setattr(pipeline, "fetch_batch", fetch)
        monkeypatch.setattr(pipeline, "finish_batch", finish)
        monkeypatch.setattr(pipeline, "ALERT_CHUNK", 1)  # every article its own chunk: still one mail
        pipeline.step_setup(s)
        assert pipeline.step_poll(s, str(feeds))["items_queued"] == 3
        summary = pipeline.process_queue(s, str(feeds), str(rules))

    assert summary.batches == 2 and summary.indexed == 3 and summary.errors == []
    # Overlapped: the wire's batch was downloaded while the first was still being indexed, in another
    # thread. In turn: only after it.
    (_, _, f_end, f_thread), (second, _, _, _) = finish.calls
    fetched = {bid: (start, thread) for bid, start, _, thread in fetch.calls}
    if overlap:
        assert fetched[second][0] < f_end and fetched[second][1] != f_thread
    else:
        assert fetched[second][0] >= f_end and fetched[second][1] == f_thread
    # Either way its dedup ran after the first batch was indexed: the copy is linked to the original.
    assert summary.near_duplicates == 1 and summary.new_articles == 3
    es.indices.refresh(index=s.index("articles"))
    docs = {h["_source"]["url"]: h["_source"] for h in
            es.search(index=s.index("articles"), size=10)["hits"]["hits"]}  # fmt: skip
    original, syndicated = docs[f"{news.base_url}/a.html"], docs[f"{wire.base_url}/copy.html"]
    assert syndicated["duplicate_of"] == original["id"]
    # Three chunks of one article, one mail: both stories in it, the copy folded into the original.
    msgs = mail_sink.messages()
    assert len(msgs) == 1 and summary.alerts_sent == 1 and summary.alerts_matched == 3
    text = msgs[0].get_body(preferencelist=("plain",)).get_content()
    assert "2 new articles" in str(msgs[0]["Subject"])
    assert "روسيا تمهد لتحالف أمني مع" in text and "وداعش خراسان: تقرير" in text  # (keywords are bracketed)
    assert summary.alerts_folded == 1


def test_a_batch_that_works_past_its_lease_keeps_its_claim_and_lands_once(settings, es, tmp_path):
    """A page that takes three leases to answer: the batch renews its claim meanwhile (the
    ClaimKeeper's heartbeat), so runs claiming every half second get nothing, and the batch
    still acknowledges its item (its renewals never make its own closing write conflict)."""
    from rasad.ingest.queue import DONE, WorkQueue

    s = settings.replace(allow_private_networks=True, respect_robots=False, claim_lease=3, extract_workers="0")
    now = datetime.now(timezone.utc)
    with LoopbackServer("127.0.0.1") as news:
        body = page("روسيا تمهد لتحالف أمني مع طالبان", seed_paragraphs("000"), now)

        def slow(h):
            time.sleep(9)
            h.reply(200, body, None)

        news.routes["/slow.html"] = slow
        feed_route(news, "/feed.xml", rss("News", [
            {"title": "روسيا تمهد لتحالف أمني مع طالبان", "link": f"{news.base_url}/slow.html", "guid": "s"},
        ]))  # fmt: skip
        feeds = registry(tmp_path, news=f"{news.base_url}/feed.xml")
        pipeline.step_setup(s)
        assert pipeline.step_poll(s, str(feeds))["items_queued"] == 1
        (batch,) = pipeline.step_claim("run1", s)
        out: dict = {}
        worker = threading.Thread(target=lambda: out.update(pipeline.step_process_batch(batch["id"], s, str(feeds))))
        worker.start()
        stolen, tries = [], 0
        while worker.is_alive():
            stolen += pipeline.step_claim(f"thief{tries}", s)
            tries += 1
            time.sleep(0.5)
        worker.join()
    assert tries >= 15 and stolen == []
    assert out["new_articles"] == 1 and out["indexed"] == 1, out
    counts = WorkQueue(es, s).counts()
    assert counts.by_state == {DONE: 1}

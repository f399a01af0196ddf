"""The watcher's polling rounds against a real node and a loopback feed: a 304 writes nothing,
the schedule holds in memory and across a restart, failures and changes are saved at once."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest

from rasad.core.es import single_index
from rasad.core.records import parse_iso
from rasad.ingest.feeds import load_registry
from rasad.ingest.store import CLOCK_REFRESH, FeedState, record_failure, record_success, state_needs_saving
from tests.ingest.test_dedup import NOW, rss
from tests.ingest.test_http import Handler, LoopbackServer


def test_only_a_clock_that_moved_is_left_unsaved_until_it_is_old():
    stored = record_success(FeedState("f", url="u"), NOW, 60, '"e1"', None, 3, 0)
    later = NOW + timedelta(minutes=2)
    same = record_success(stored, later, 60, '"e1"', None, 0, 0)
    assert not state_needs_saving(stored, same, later, CLOCK_REFRESH)
    assert state_needs_saving(stored, same, later, None)  # callers without a schedule of their own
    assert state_needs_saving(stored, same, NOW + CLOCK_REFRESH, CLOCK_REFRESH)
    assert state_needs_saving(stored, record_success(stored, later, 60, '"e2"', None, 0, 0), later, CLOCK_REFRESH)
    assert state_needs_saving(stored, record_failure(stored, later, 60, "timeout", "t", 3600, 3), later, CLOCK_REFRESH)
    assert state_needs_saving(FeedState("f"), same, later, CLOCK_REFRESH)  # never stored


def test_the_registry_is_parsed_once_per_content(tmp_path):
    path = tmp_path / "feeds.yaml"
    entry = "feeds:\n  - id: a\n    url: https://a.example/rss\n    name: {}\n"
    path.write_text(entry.format("Alpha"), encoding="utf-8")
    first, again = load_registry(path), load_registry(path)
    assert first == again and first[0] is again[0]  # the same parsed spec, not a re-parse
    path.write_text(entry.format("Alphb"), encoding="utf-8")  # same size, likely the same mtime tick
    assert load_registry(path)[0].name == "Alphb"


def _version(es, s, feed_id: str) -> int:
    return es.get(index=single_index(s, "feeds"), id=feed_id)["_version"]


def _wait_due(watcher) -> None:
    time.sleep(max(0.0, max(watcher._next.values()) - time.monotonic()) + 0.1)


def test_idle_rounds_write_nothing_and_keep_the_schedule(settings, es, tmp_path, monkeypatch):
    from rasad.ingest.watch import FeedWatcher
    from rasad.pipeline import ensure_setup

    healthy = [True]
    with LoopbackServer() as site:
        body = rss("Site", [{"title": "t", "link": f"{site.base_url}/a", "guid": "a"}])

        def feed(h: Handler) -> None:
            if not healthy[0]:
                h.reply(503, b"down")
            elif h.headers.get("If-None-Match") == '"e1"':
                h.reply(304, b"", {"ETag": '"e1"'})
            else:
                h.reply(200, body, {"Content-Type": "application/rss+xml", "ETag": '"e1"'})

        site.routes["/feed.xml"] = feed
        registry = tmp_path / "feeds.yaml"
        registry.write_text(f"feeds:\n  - id: f1\n    url: {site.base_url}/feed.xml\n    name: F1\n"
                            "    poll_interval: 1s\n", encoding="utf-8")  # fmt: skip
        s = settings.replace(allow_private_networks=True, respect_robots=False, retries=0, poll_jitter=0.0,
                             feeds_file=str(registry))  # fmt: skip
        watcher = FeedWatcher(0, 1, settings=s, prepare=ensure_setup)
        assert watcher.poll_round().queued == 1
        v1 = _version(es, s, "f1")

        _wait_due(watcher)
        rep = watcher.poll_round()
        assert rep.polled == 1 and site.requests[-1][1].get("if-none-match") == '"e1"'
        assert _version(es, s, "f1") == v1  # a 304: nothing written
        # The stored next poll is past, yet the watcher's own schedule says "not yet".
        stored_next = es.get(index=single_index(s, "feeds"), id="f1")["_source"]["next_poll"]
        assert parse_iso(stored_next) < datetime.now(timezone.utc)
        n = len(site.requests)
        assert watcher.poll_round().polled == 0 and len(site.requests) == n

        # A restart: the lagging stored clock means one early poll, then the interval again.
        watcher.close()
        watcher = FeedWatcher(0, 1, settings=s, prepare=ensure_setup)
        assert watcher.poll_round().polled == 1
        assert watcher.poll_round().polled == 0 and len(site.requests) == n + 1

        # A failure is saved at once, with its backoff, and the watcher waits for it.
        healthy[0] = False
        _wait_due(watcher)
        started = time.monotonic()
        assert watcher.poll_round().failed == 1
        stored = es.get(index=single_index(s, "feeds"), id="f1")
        assert stored["_version"] == v1 + 1 and stored["_source"]["consecutive_failures"] == 1
        # 2 s of backoff (stored to the second, so more than 1 s from now), not the 1 s interval.
        assert watcher._next["f1"] - started > 1.0

        # Recovery is saved; then, once the stored clock is CLOCK_REFRESH old, a 304 is saved too.
        healthy[0] = True
        _wait_due(watcher)
        watcher.poll_round()
        assert _version(es, s, "f1") == v1 + 2
        monkeypatch.setattr("rasad.ingest.store.CLOCK_REFRESH", timedelta(0))
        _wait_due(watcher)
        assert watcher.poll_round().polled == 1 and _version(es, s, "f1") == v1 + 3
        watcher.close()


@pytest.mark.parametrize("release_run", [None, "run-1"])
def test_an_idle_run_claims_and_alerts_nothing_and_writes_nothing(settings, es, tmp_path, release_run):
    from rasad.pipeline import step_alert, step_claim, step_setup
    from tests.service.farm import RULES

    (tmp_path / "rules.yaml").write_text(RULES, encoding="utf-8")
    s = settings.replace(rules_file=str(tmp_path / "rules.yaml"))
    step_setup(s)
    es.indices.refresh(index=f"{s.index_prefix}-*")
    before = es.indices.stats(index=f"{s.index_prefix}-*", metric="indexing")["_all"]["primaries"]["indexing"]
    assert step_claim("run-1~1", s) == []
    out = step_alert(s, release_run=release_run)
    assert out["articles"] == 0 and out["alerts_sent"] == 0 and out["released"] == 0
    es.indices.refresh(index=f"{s.index_prefix}-*")
    after = es.indices.stats(index=f"{s.index_prefix}-*", metric="indexing")["_all"]["primaries"]["indexing"]
    assert after["index_total"] == before["index_total"]

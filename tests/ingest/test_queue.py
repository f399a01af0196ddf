"""The work queue against a real node: idempotent enqueue, claims that never overlap,
abandoned claims that come back, acknowledgement last."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone

from rasad.core.records import parse_iso
from rasad.ingest.queue import CLAIMED, DONE, NEW, WorkQueue, queue_id
from rasad.lease import Lease, LeaseTimeout

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


def _items(n: int, hosts: int = 3) -> list[tuple[str, dict]]:
    out = []
    for i in range(n):
        link = f"https://site{i % hosts}.example/news/{i}"
        out.append((queue_id(link), {"feed_id": f"f{i % hosts}", "link": link, "guid": str(i), "title": f"t{i}",
                                     "published": "2026-03-01T11:00:00Z"}))  # fmt: skip
    return out


def test_enqueue_is_idempotent(es, settings):
    q = WorkQueue(es, settings)
    items = _items(10)
    assert q.enqueue(items, NOW) == (10, 0)
    assert q.enqueue(items + _items(12)[10:], NOW) == (2, 10)
    assert q.counts().by_state == {NEW: 12}


def test_claims_group_hosts_never_overlap_and_abandoned_claims_return(es, settings):
    q = WorkQueue(es, settings)
    q.enqueue(_items(30, hosts=3), NOW)
    batches = q.claim("run1", NOW, max_items=100, batch_size=10, lease_seconds=60)
    assert sorted(b.items for b in batches) == [10, 10, 10] and all(b.hosts == 1 for b in batches)
    for b in batches:
        hosts = {e.source["host"] for e in q.batch_entries(b.id)}
        assert len(hosts) == 1
    # Everything is held: a second run finds nothing until the lease runs out.
    assert q.claim("run2", NOW + timedelta(seconds=30), 100, 10, 60) == []
    taken = q.claim("run3", NOW + timedelta(seconds=61), 100, 10, 60)
    assert sum(b.items for b in taken) == 30
    assert q.batch_entries(batches[0].id) == []  # the dead run's batch is no longer its own


def test_a_working_batch_keeps_its_claim_past_the_lease_and_acknowledges_without_conflict(es, settings):
    """The keeper's heartbeat: a batch working three leases long stays its own, and its own
    closing writes are not refused by its renewals (it acknowledges with their versions)."""
    q = WorkQueue(es, settings)
    q.enqueue(_items(6, hosts=2), NOW)
    (b,) = q.claim("run1", NOW, max_items=100, batch_size=10, lease_seconds=3)
    entries = q.batch_entries(b.id)
    keeper = q.keep(entries, 3, NOW)  # a beat a second
    t0 = time.monotonic()
    try:
        while time.monotonic() - t0 < 7.5:  # two and a half leases; another run tries every half second
            later = NOW + timedelta(seconds=time.monotonic() - t0)
            assert q.claim("run2", later, 100, 10, 3) == [], "a renewed claim was taken"
            time.sleep(0.5)
    finally:
        keeper.stop()
    assert keeper.renewals >= 5 and not keeper.lost
    held = {e.id: parse_iso(e.source["lease_until"]) for e in q.batch_entries(b.id)}
    assert len(held) == 6 and min(held.values()) >= NOW + timedelta(seconds=7.5)
    assert q.complete([(e, "new", e.id, None) for e in entries], NOW + timedelta(seconds=8)) == 6
    assert q.counts().by_state == {DONE: 6}


def test_a_claim_nobody_renews_comes_back_after_one_lease_and_the_old_holder_writes_nothing(es, settings):
    """A batch whose tasks all failed while Elasticsearch was down renews nothing and hands
    nothing back: its items are claimable one lease after the last heartbeat. The old
    holder, should it wake up, neither renews nor acknowledges what the new run holds."""
    q = WorkQueue(es, settings)
    q.enqueue(_items(4, hosts=1), NOW)
    (b,) = q.claim("dead", NOW, 10, 10, lease_seconds=60)
    stale = q.batch_entries(b.id)
    keeper = q.keep(stale, 60, NOW)
    keeper.renew()  # one heartbeat, then the worker dies
    keeper.stop()
    assert q.claim("next", NOW + timedelta(seconds=61), 10, 10, 60) == []  # the heartbeat moved it on
    (taken,) = q.claim("next", NOW + timedelta(seconds=121), 10, 10, 60)
    assert taken.items == 4 and q.batch_entries(b.id) == []
    assert keeper.renew() == 0 and keeper.lost == {e.id for e in stale}
    assert q.complete([(e, "new", e.id, None) for e in stale], NOW) == 0
    assert {e.source["batch"] for e in q.batch_entries(taken.id)} == {taken.id}


def test_two_workers_claiming_at_once_share_nothing(es, settings):
    q1, q2 = WorkQueue(es, settings), WorkQueue(es, settings)
    q1.enqueue(_items(200, hosts=20), NOW)
    got: dict[str, list[str]] = {}

    def work(q: WorkQueue, name: str) -> None:
        ids = []
        for b in q.claim(name, NOW, 200, 20, 600):
            ids += [e.id for e in q.batch_entries(b.id)]
        got[name] = ids

    ts = [threading.Thread(target=work, args=(q, n)) for q, n in ((q1, "a"), (q2, "b"))]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not set(got["a"]) & set(got["b"])
    assert len(got["a"]) + len(got["b"]) == 200


def test_complete_then_alert_acknowledgement(es, settings):
    q = WorkQueue(es, settings)
    q.enqueue(_items(4), NOW)
    (b,) = q.claim("r", NOW, 10, 10, 60)
    entries = q.batch_entries(b.id)
    assert {e.source["state"] for e in entries} == {CLAIMED}
    q.complete([(e, "new", e.id, None) for e in entries[:3]] + [(entries[3], "duplicate", None, "stored")], NOW)
    assert q.counts().by_state == {DONE: 4}
    pending = q.unalerted()
    assert len(pending) == 3  # the duplicate has no article of its own to alert on
    q.mark_alerted(pending, NOW)
    assert q.unalerted() == [] and q.counts().unalerted == 0
    # Retention forgets finished, acknowledged items.
    assert q.purge(NOW + timedelta(days=1)) == 4
    assert q.counts().by_state == {}


def test_lease_has_one_holder_expires_and_the_same_owner_takes_it_back(es, settings):
    import pytest

    a = Lease(es, settings, "events", "batch-a", ttl=60, wait=0.5)
    a.acquire()
    with pytest.raises(LeaseTimeout):
        Lease(es, settings, "events", "batch-b", ttl=60, wait=0.5).acquire()
    Lease(es, settings, "events", "batch-a", ttl=60, wait=0.5).acquire()  # a retried task, same owner
    a.release()
    Lease(es, settings, "events", "batch-b", ttl=60, wait=0.5).acquire()  # released: free at once

    # A holder that died: its lease runs out and another takes it.
    Lease(es, settings, "dead", "crashed", ttl=1, wait=0.5).acquire()
    c = Lease(es, settings, "dead", "batch-c", ttl=60, wait=30)
    c.acquire()
    assert c.waited > 0


def test_the_locks_index_gets_the_clusters_replica_count(es, settings):
    from rasad.core.es import replica_count, single_index
    from rasad.lease import ensure_locks_index

    index = single_index(settings, "locks")
    with Lease(es, settings, "events", "batch-a", ttl=60, wait=0.5):
        pass
    got = es.indices.get_settings(index=index, name="index.number_of_replicas", flat_settings=True)
    # (left to the first write it had Elasticsearch's default of 1: a single node stayed yellow)
    assert int(got[index]["settings"]["index.number_of_replicas"]) == replica_count(es, settings)
    assert ensure_locks_index(es, settings) is False  # there already: nothing done

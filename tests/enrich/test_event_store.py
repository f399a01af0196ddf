"""Events and their signals through the pipeline's enrich stage against the real node,
with a restart (state reloaded from Elasticsearch) in the middle of the stream."""

from __future__ import annotations

import dataclasses
import itertools
import json
from pathlib import Path

import pytest

from rasad.core.records import Article, EntityTag, TopicTag
from rasad.core.settings import load_settings
from rasad.enrich.stage import cluster_articles
from rasad.indexing.events import index_events
from rasad.indexing.setup import setup_indices

STREAM = Path(__file__).resolve().parents[1] / "resources" / "enrich" / "events" / "stream.jsonl"


def articles() -> list[Article]:
    out = []
    for line in STREAM.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        a = Article(
            url=f"https://news.example/{row['id']}", canonical_url=f"https://news.example/{row['id']}",
            feed_id=row["source"].lower().replace(" ", "-"), source=row["source"], title=row["title"],
            text=row["text"], published=row["time"], fetched_at=row["time"], language=row["language"],
            entities=[EntityTag(e, "org", e, e) for e in row["entity_ids"]],
            topics=[TopicTag(t, t, 1.0) for t in row["topic_ids"]],
        )  # fmt: skip
        a.gold = row["gold"]  # type: ignore[attr-defined]
        out.append(a)
    return out


def run(es, settings, batches: list[list[Article]]) -> tuple[dict[str, str], list[dict]]:
    """Run the batches as separate cycles (each reloads the state from Elasticsearch)."""
    setup_indices(es, settings)
    assignment: dict[str, str] = {}
    signals: list[dict] = []
    for batch in batches:
        res = cluster_articles(batch, settings, es)
        index_events(es, settings, res.events, res.signals)
        assignment.update({a.id: a.event_id for a in res.articles})
        signals += res.signals
    return assignment, signals


def query_signals(es, settings, kind: str) -> list[dict]:
    es.indices.refresh(index=settings.index("signals"))
    res = es.search(index=settings.index("signals"), size=500, query={"term": {"kind": kind}})
    return [h["_source"] for h in res["hits"]["hits"]]


@pytest.fixture
def second_prefix(settings, es, monkeypatch):
    s2 = load_settings(index_prefix=settings.index_prefix + "b")
    yield s2
    es.indices.delete(index=f"{s2.index_prefix}-*", ignore_unavailable=True, allow_no_indices=True)
    es.options(ignore_status=404).indices.delete_index_template(name=f"{s2.index_prefix}-*")


@pytest.mark.parametrize("cut", [17, 40])
def test_restart_mid_stream_gives_the_same_events_and_signals(settings, es, second_prefix, cut):
    arts = articles()
    one_pass, sig_one = run(es, second_prefix, [articles()])
    restarted, sig_two = run(es, settings, [arts[:cut], arts[cut:]])
    assert restarted == one_pass
    assert [s["id"] for s in sig_two] == [s["id"] for s in sig_one]
    # Events survive the restart: the stored events are the same in both runs.
    for s in (settings, second_prefix):
        es.indices.refresh(index=s.index("events"))
    ev1 = {h["_id"]: h["_source"]["article_count"] for h in es.search(index=second_prefix.index("events"), size=500)["hits"]["hits"]}
    ev2 = {h["_id"]: h["_source"]["article_count"] for h in es.search(index=settings.index("events"), size=500)["hits"]["hits"]}
    assert ev1 == ev2 and sum(ev1.values()) == len(arts)


def test_new_confirmed_and_breaking_are_queryable(settings, es):
    arts = articles()
    assignment, _signals = run(es, settings, [arts[:30], arts[30:]])
    events = set(assignment.values())
    new = query_signals(es, settings, "new")
    assert {s["event_id"] for s in new} == events  # exactly one `new` per event
    assert len(new) == len(events)
    confirmed = query_signals(es, settings, "confirmed")
    assert confirmed, "the stream has events reported by 3+ sources"
    es.indices.refresh(index=settings.index("events"))
    for s in confirmed:
        ev = es.get(index=f"{settings.index('events')}-v1", id=s["event_id"])["_source"]
        assert ev["source_count"] >= 3 and "confirmed" in ev["signals"]
        assert s["title"] and s["source_count"] >= 3
    breaking = query_signals(es, settings, "breaking")
    assert "breaking:entity:org.isis_k:2026-03-02T10" in {s["id"] for s in breaking}
    assert all(s["entity_id"] or s["topic_id"] for s in breaking)
    # Gold: cross-language members of one gold story share the event.
    by_gold: dict[str, set[str]] = {}
    for a in arts:
        by_gold.setdefault(a.gold, set()).add(assignment[a.id])  # type: ignore[attr-defined]
    assert sum(len(v) for v in by_gold.values()) <= len(by_gold) + 3


def test_reprocessing_the_same_articles_changes_nothing(settings, es):
    arts = articles()
    first, _ = run(es, settings, [arts])
    again, sig = run(es, settings, [articles()])
    assert again == first
    assert sig == []  # already-seen articles fire no signal a second time


def test_two_concurrent_cycles_cannot_overwrite_each_others_events(settings, es):
    from elasticsearch import ConflictError

    from rasad.enrich.event_store import EventStateStore

    setup_indices(es, settings)
    first, second = EventStateStore(es, settings), EventStateStore(es, settings)
    a, b = first.load(), second.load()  # both start from "no state yet"
    first.save(a, "2026-03-01T00:00:00Z")
    with pytest.raises(ConflictError):
        second.save(b, "2026-03-01T00:00:01Z")  # would silently drop the first one's events
    third = EventStateStore(es, settings)
    c = third.load()
    third.save(c, "2026-03-01T00:00:02Z")  # loaded after the first save: fine


def test_a_state_larger_than_one_part_round_trips_and_old_generations_go(settings, es, monkeypatch):
    import rasad.enrich.event_store as store_mod

    monkeypatch.setattr(store_mod, "PART_BYTES", 256)  # force many parts on a small stream
    setup_indices(es, settings)
    arts = articles()
    cluster_articles(arts[:40], settings, es)
    st = store_mod.EventStateStore(es, settings)
    reloaded = st.load()
    from rasad.enrich.events.cluster import ClusterItem, EventClusterer
    from rasad.enrich.stage import _arrival_key

    reference = EventClusterer()  # the same articles, never stored
    for a in sorted(articles()[:40], key=_arrival_key):
        reference.assign(ClusterItem.from_article(a))
    assert reloaded.export_state() == json.loads(json.dumps(reference.export_state()))
    head = es.get(index=st.index, id=store_mod.STATE_ID)["_source"]
    assert head["parts"] > 3
    cluster_articles(arts[40:], settings, es)  # a second save: new generation, old parts deleted
    es.indices.refresh(index=st.index)
    gens = {h["_source"]["generation"] for h in es.search(index=st.index, size=1000, query={"exists": {"field": "part"}})["hits"]["hits"]}
    assert gens == {es.get(index=st.index, id=store_mod.STATE_ID)["_source"]["generation"]}


def test_clustering_raises_when_elasticsearch_is_down_so_the_batch_is_retried():
    # Under the service an outage fails the batch's task with nothing acknowledged in the
    # work queue; the retry clusters the same articles against the saved state.
    import pytest

    from rasad.core.es import OUTAGE_ERRORS, make_client
    from rasad.enrich.stage import cluster_articles as cluster
    from tests.conftest import free_port

    s = load_settings(es_url=f"http://127.0.0.1:{free_port()}")  # nobody listens there
    arts = articles()[:5]
    with pytest.raises(OUTAGE_ERRORS):
        cluster(arts, s, make_client(s, request_timeout=2))
    assert all(a.event_id is None for a in arts)  # nothing half-assigned


def test_state_saved_by_the_earlier_one_document_format_still_loads(settings, es):
    import zlib
    from base64 import b64encode

    import rasad.enrich.event_store as store_mod

    setup_indices(es, settings)
    arts = articles()[:20]
    reference = cluster_articles(arts, settings, es)  # fills an index we then replace
    st = store_mod.EventStateStore(es, settings)
    state = st.load().export_state()
    # What the first release wrote: one strict index with only blob/events/updated_at.
    es.indices.delete(index=st.index)
    es.indices.create(index=st.index, mappings={"dynamic": "strict", "properties": {
        "blob": {"type": "binary"}, "events": {"type": "integer"}, "updated_at": {"type": "date"}}})  # fmt: skip
    es.index(index=st.index, id=store_mod.STATE_ID, refresh=True, document={
        "blob": b64encode(zlib.compress(json.dumps(state).encode())).decode(), "events": 1,
        "updated_at": "2026-03-01T00:00:00Z"})  # fmt: skip
    upgraded = store_mod.EventStateStore(es, settings)
    assert upgraded.load().export_state() == state
    res = cluster_articles(articles()[20:30], settings, es)  # saves in the new format over it
    assert res.articles and all(a.event_id for a in res.articles)
    assert es.get(index=st.index, id=store_mod.STATE_ID)["_source"]["parts"] >= 1
    assert reference.articles


def test_stored_event_states_keep_their_numbers_packed_and_earlier_json_ones_still_load():
    """The vectors go after the JSON as packed arrays: the same state comes back (arrays for lists),
    a plain-JSON state of an earlier release decodes as before, and a damaged one is refused."""
    from base64 import b64decode

    from rasad.enrich.event_store import _decode_state, decode_state, encode_state, event_model_doc
    from rasad.enrich.events.cluster import EventClusterer

    clusterer = EventClusterer()
    for it in stream_items():
        clusterer.assign(it)
    states = json.loads(json.dumps(clusterer.export_state()))["events"]
    assert len(states) > 5
    for st in states:
        raw = encode_state(st)
        back = decode_state(raw)
        as_lists = {name: {lang: [list(b), list(w)] for lang, (b, w) in back[name].items()}
                    for name in ("centroids", "title_vectors")}  # fmt: skip
        assert {**back, **as_lists} == st
        assert all(type(b).__name__ == "array" for b, _ in back["centroids"].values())
        assert _decode_state(event_model_doc(st)["state"]) == back
        assert decode_state(json.dumps(st).encode()) == st  # an earlier release's form
        with pytest.raises(ValueError, match=f"event state '{st['id']}': 3 bytes left after its vectors"):
            decode_state(raw + b"xyz")
    one = json.loads(json.dumps(states[0]))
    one["centroids"][next(iter(one["centroids"]))][1].pop()
    with pytest.raises(ValueError, match=r"centroids\[.*\] has \d+ buckets but \d+ weights"):
        encode_state(one)
    assert b64decode(event_model_doc(states[0])["state"])  # still base64 text for the stored field


def converging_articles() -> list[Article]:
    """tests/enrich/test_events.converging_stream as articles: two halves of a story, then a bridge."""
    from tests.enrich.test_events import converging_stream

    out = []
    for it in converging_stream():
        when = it.time.strftime("%Y-%m-%dT%H:%M:%SZ")
        url = f"https://news.example/{it.id}"
        out.append(Article(url=url, canonical_url=url, feed_id=it.source, source=it.source, title=it.title,
                           text="", published=when, fetched_at=when, language="en"))  # fmt: skip
    return out


def test_a_merge_across_cycles_is_stored_and_followed(settings, es):
    """Events made in one cycle merge in the next (state from the node); the records point at the survivor."""
    arts = converging_articles()
    _, signals = run(es, settings, [arts[:4], arts[4:]])
    quake, tsunami = arts[0].id, arts[2].id
    gone, survivor = f"ev-{quake}", f"ev-{tsunami}"
    assert [a.event_id for a in arts[:4]] == [gone, f"ev-{arts[1].id}", survivor, f"ev-{arts[3].id}"]
    assert [a.event_id for a in arts[4:]] == [survivor, survivor]  # this cycle's articles: the survivor
    es.indices.refresh(index=settings.index("events"))
    stored = {h["_id"]: h["_source"] for h in es.search(index=settings.index("events"), size=50)["hits"]["hits"]}
    assert stored[gone]["merged_into"] == survivor and stored[gone]["article_count"] == 1
    assert stored[survivor]["merged_ids"] == [gone] and stored[survivor]["merged_into"] is None
    assert stored[survivor]["article_count"] == 4 and len(stored) == 4
    [merged] = query_signals(es, settings, "merged")
    assert merged["id"] == f"{gone}:merged" and merged["event_id"] == survivor
    assert merged["details"] == {**merged["details"], "merged_event": gone, "merged_into": survivor}
    assert [s["id"] for s in signals if s["kind"] == "merged"] == [merged["id"]]
    # A third cycle (state reloaded again) still knows where the merged-away event went.
    again = cluster_articles(converging_articles()[:1], settings, es)
    assert again.articles[0].event_id == survivor and again.events == [] and again.signals == []


# ----- one document per event: partial loads, eviction order, writers, migration ------------------


def stream_items():
    from rasad.enrich.events.cluster import ClusterItem
    from rasad.enrich.stage import _arrival_key

    return [ClusterItem.from_article(a) for a in sorted(articles(), key=_arrival_key)]


def tied_stream(n: int = 90):
    """Bilingual stream items re-timed so that many share one timestamp (ties in last_touch_s)."""
    from datetime import timedelta

    items = stream_items()
    out = []
    start = items[0].time
    for i in range(n):
        it = items[i % len(items)]
        out.append(dataclasses.replace(it, id=f"{it.id}-r{i // len(items)}", time=start + timedelta(minutes=20 * (i // 3))))
    return out


def trace(assignments) -> list[tuple]:
    return [(a.event_id, a.is_new, a.duplicate, tuple(a.evicted), tuple((m.event_id, m.into) for m in a.merged),
             tuple(s.id for s in a.signals)) for a in assignments]  # fmt: skip


def stored_run(es, settings, items, cuts, config):
    """Assign items in batches split at ``cuts``, each batch with a fresh client and store (partial load)."""
    from rasad.core.es import make_client
    from rasad.enrich.event_store import EventStateStore

    out = []
    bounds = [0, *cuts, len(items)]
    for lo, hi in itertools.pairwise(bounds):
        store = EventStateStore(make_client(settings), settings)
        clusterer = store.load_for(items[lo:hi], config)
        out += [clusterer.assign(it) for it in items[lo:hi]]
        store.save(clusterer, "2026-03-03T00:00:00Z")
    return out


SMALL = {"max_active_events": 5, "window_hours": 1.5}  # eviction by the cap and by the window, often


@pytest.mark.parametrize("cuts", [[1], [5, 6, 30, 31, 32, 60], [13, 47, 71, 88]])
def test_batches_in_fresh_stores_give_what_one_in_memory_model_gives(settings, es, cuts):
    """Restart equivalence: the whole stream in one in-memory model vs. split at arbitrary points,
    each part loading only what it needs; small windows, so eviction (with tied clocks) is exercised."""
    from rasad.enrich.event_store import EventStateStore
    from rasad.enrich.events.cluster import ClusterConfig, EventClusterer

    config = ClusterConfig(**SMALL)
    items = tied_stream()
    memory = EventClusterer(config)
    expected = trace([memory.assign(it) for it in items])
    assert sum(len(t[3]) for t in expected) > 15, "the stream evicts"
    got = trace(stored_run(es, settings, items, cuts, config))
    assert got == expected
    # The stored state is the in-memory model's: events, eviction order, shared part.
    reloaded = EventStateStore(es, settings).load()
    assert reloaded.export_state() == json.loads(json.dumps(memory.export_state()))


def test_the_bilingual_stream_is_unchanged_through_the_store(settings, es):
    from rasad.enrich.events.cluster import EventClusterer

    items = stream_items()
    memory = EventClusterer()
    expected = trace([memory.assign(it) for it in items])
    assert trace(stored_run(es, settings, items, [10, 11, 25, 40, 52], None)) == expected


def test_a_batch_loads_only_the_events_it_can_meet(settings, es):
    """A batch about one story reads that story's event, not the other active events."""
    from rasad.enrich.event_store import EventStateStore
    from rasad.enrich.events.cluster import ClusterItem

    items = stream_items()
    stored_run(es, settings, items, [], None)
    store = EventStateStore(es, settings)
    last = items[-1]
    follow_up = ClusterItem("late-1", last.time, last.title, last.text, last.language, last.entity_ids,
                            last.topic_ids, "Another Source")  # fmt: skip
    clusterer = store.load_for([follow_up])
    active = store.stats["active"]
    assert active > 10 and 0 < store.stats["events_loaded"] < active / 2
    assert clusterer.active_count == active
    assert not clusterer.assign(follow_up).is_new


WRITER = r"""
import json, sys, time
from pathlib import Path
from rasad.enrich.event_store import EventStateStore
from rasad.enrich.events.cluster import ClusterItem
from rasad.core.es import make_client
from rasad.core.settings import load_settings
from elasticsearch import ConflictError
s = load_settings()
rows = json.loads(sys.argv[1])
items = [ClusterItem(**{**r, "time": __import__("datetime").datetime.fromisoformat(r["time"])}) for r in rows]
store = EventStateStore(make_client(s), s)
clusterer = store.load_for(items)
ids = [clusterer.assign(it).event_id for it in items]
print("loaded", flush=True)
go = Path(sys.argv[2])
while not go.exists():
    time.sleep(0.01)
try:
    store.save(clusterer, "2026-03-03T00:00:00Z")
    print(json.dumps({"saved": ids}))
except ConflictError:
    print(json.dumps({"conflict": ids}))
"""


def test_two_writer_processes_on_one_state_one_wins_the_other_writes_nothing(settings, es, tmp_path):
    import os
    import subprocess
    import sys

    from rasad.enrich.event_store import EventStateStore

    items = stream_items()
    stored_run(es, settings, items[:30], [], None)
    before = EventStateStore(es, settings).load().export_state()
    go = tmp_path / "go"

    def spawn(part):
        rows = [{"id": it.id, "time": it.time.isoformat(), "title": it.title, "text": it.text,
                 "language": it.language, "entity_ids": it.entity_ids, "topic_ids": it.topic_ids,
                 "source": it.source} for it in part]  # fmt: skip
        return subprocess.Popen([sys.executable, "-c", WRITER, json.dumps(rows), str(go)], stdout=subprocess.PIPE,
                                text=True, env=os.environ.copy(), cwd=Path(__file__).resolve().parents[2])  # fmt: skip

    a, b = spawn(items[30:45]), spawn(items[45:])
    assert a.stdout.readline().strip() == "loaded" and b.stdout.readline().strip() == "loaded"
    go.touch()  # both save at once
    outs = [json.loads(p.communicate(timeout=120)[0].strip().splitlines()[-1]) for p in (a, b)]
    assert sorted(next(iter(o)) for o in outs) == ["conflict", "saved"]
    winner = 0 if "saved" in outs[0] else 1
    # The stored state is exactly the winner's: the state before plus its batch, nothing of the loser's.
    from rasad.enrich.events.cluster import EventClusterer

    expected = EventClusterer.from_state(before)
    for it in (items[30:45], items[45:])[winner]:
        expected.assign(it)
    assert EventStateStore(es, settings).load().export_state() == json.loads(json.dumps(expected.export_state()))


def test_a_state_of_the_previous_generation_format_is_converted_once(settings, es):
    import zlib
    from base64 import b64encode

    import rasad.enrich.event_store as store_mod
    from rasad.enrich.events.cluster import EventClusterer

    items = stream_items()
    memory = EventClusterer()
    for it in items[:40]:
        memory.assign(it)
    state = memory.export_state()
    for ev in state["events"]:  # what the previous release exported: no touch_seq yet
        del ev["touch_seq"]
    state["version"] = 3
    del state["touch_seq"]
    st = store_mod.EventStateStore(es, settings)
    st._ensure()
    raw = zlib.compress(json.dumps(state).encode())
    es.index(index=st.index, id="g1-00000", document={"blob": b64encode(raw).decode(), "generation": "g1", "part": 0})
    es.index(index=st.index, id=store_mod.STATE_ID, refresh=True, document={
        "generation": "g1", "parts": 1, "events": len(state["events"]), "bytes": len(raw),
        "updated_at": "2026-03-01T00:00:00Z"})  # fmt: skip
    rest = stored_run(es, settings, items[40:], [7], None)  # the first batch converts, then goes on
    assert trace(rest) == trace([memory.assign(it) for it in items[40:]])
    head = es.get(index=st.index, id=store_mod.STATE_ID)["_source"]
    assert head["format"] == store_mod.FORMAT and head["events"] == len(memory.events)
    es.indices.refresh(index=st.index)
    assert not es.search(index=st.index, query={"term": {"generation": "g1"}})["hits"]["hits"]  # old parts gone
    assert es.count(index=st.model_index)["count"] == len(memory.events)

"""Where the event clusterer keeps its state between runs: Elasticsearch, one document per event.

Two indices:

* ``eventstate``: the small shared part (``EventClusterer.export_globals()``: configuration, clock,
  token and id frequencies, bursts, seen ids, merge links, the eviction counter), compressed and
  split into parts of at most ``PART_BYTES``, and a head document that names the current
  generation of parts, the batch number and the number of active events.
* ``eventmodel``: one document per active event: its exported model state (not indexed), its
  centroids as a ``sparse_vector`` (``<lang>:<bucket>`` -> weight / norm, so a bool of ``term``
  queries with the article's weights as boosts scores an event by exactly the partial dot product
  the clusterer ranks candidates by), the keys it can be found by (``leads``: its text buckets,
  ``e:``/``t:`` ids, ``lang:`` centroid languages) and its place in the eviction order.

A batch task is a fresh process, so ``load_for(items)`` reads only what the batch can need: the
shared part, the candidates of each article (found by Elasticsearch over the article's probe
buckets and entity ids, as the clusterer would find them), the events that leave the window while
the batch runs (the head of the eviction order), and counts of the events holding each of the
batch's buckets and ids (a terms aggregation: the generic-word weighting and the posting limit
read them). ``save`` writes only the events the batch changed and deletes those that left.

Concurrent writers: ``save`` first claims the head with optimistic concurrency (``if_seq_no``): a
writer that loaded before someone else saved gets ``ConflictError`` before it writes anything. Then
the events go out with external versions (the batch number), then the head switches to the new
shared part. A crash between the claim and the switch leaves the head marked ``pending`` with the
old shared part, and events that batch already wrote: the next load logs it and goes on (the batch
is retried; its articles are not in the old seen ids, so they are assigned again).
"""

from __future__ import annotations

import json
import logging
import struct
import sys
import time
import uuid
import zlib
from array import array
from base64 import b64decode, b64encode
from collections import deque
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from itertools import islice
from typing import Any

from elasticsearch import Elasticsearch, NotFoundError, helpers

from rasad.core.es import replica_count, single_index
from rasad.core.records import now_iso
from rasad.core.settings import Settings
from rasad.enrich.events.cluster import STATE_VERSION, ClusterConfig, ClusterItem, EventClusterer

log = logging.getLogger(__name__)
STATE_ID = "clusterer"
FORMAT = "per-event-1"  # the head of a state stored one document per event
# Compressed bytes per part: base64 makes a part's request 4/3 of this, under 10 MB.
PART_BYTES = 6 * 1024 * 1024
# Level 1: on an 80 MB state 0.6 s instead of 3 s at level 6, for 10% more bytes.
COMPRESS_LEVEL = 1
# Elasticsearch ranks candidates with float features (9 significant bits): ask for more than the
# clusterer scores, so a near tie at the cut-off cannot leave a true candidate out. With 3 instead
# of 10 the MStream NMI through the store is unchanged (identical to the in-memory model) and
# bench/bench_events.py --store put 1,496 of 1,500 articles where the whole model does (1,499
# with 10), loading 20% fewer events.
CANDIDATE_SLACK = 3
MGET_IDS = 500  # events per mget: ~4-10 KB each, far below 10 MB a response
SEARCHES_PER_MSEARCH = 50  # with the states: ~1-3 MB a response (100 raised a long cycle's peak by ~9 MB)
AGG_KEYS = 20_000  # keys per terms aggregation (its buckets stay below search.max_buckets)
BULK_BYTES = 8 * 1024 * 1024
STATE_MAPPING: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "blob": {"type": "binary"},  # a part: a slice of the zlib-compressed JSON state
        "generation": {"type": "keyword"},
        "part": {"type": "integer"},
        "parts": {"type": "integer"},  # head: how many parts the current generation has
        "events": {"type": "integer"},
        "bytes": {"type": "long"},
        "updated_at": {"type": "date"},
        "format": {"type": "keyword"},
        "batch": {"type": "long"},  # head: saves so far (the events' external version)
        "pending": {"type": "long"},  # head: the batch being written, while it is
    },
}
MODEL_MAPPING = {
    # No _source: a document is read back only as its stored state, and fetching stored fields
    # from small documents is several times faster than from a source that also holds the vectors.
    "_source": {"enabled": False},
    "dynamic": "strict",
    "properties": {
        "state": {"type": "binary", "store": True},  # zlib of encode_state(Event.export_state())
        "vec": {"type": "sparse_vector"},
        "leads": {"type": "keyword"},
        "touch_seq": {"type": "long"},
        "last_touch_s": {"type": "double"},
    },
}


def event_model_doc(state: dict[str, Any]) -> dict[str, Any]:
    """The stored document of one event (its exported state plus what finds it)."""
    vec: dict[str, float] = {}
    leads: list[str] = []
    for lang, (buckets, weights) in state["centroids"].items():
        norm = state["norms"][lang]
        leads.append(f"lang:{lang}")
        for b, w in zip(buckets, weights, strict=True):
            key = f"{lang}:{b}"
            leads.append(key)
            vec[key] = w / norm
    leads += ["e:" + k for k in state["entities"]]
    leads += ["t:" + k for k in state["topics"]]
    blob = zlib.compress(encode_state(state), COMPRESS_LEVEL)
    return {"state": b64encode(blob).decode("ascii"), "vec": vec, "leads": leads, "touch_seq": state["touch_seq"],
            "last_touch_s": state["last_touch_s"]}  # fmt: skip


def _state_of(hit: dict[str, Any]) -> dict[str, Any]:
    """The exported event state in a hit or mget doc that asked for the stored ``state`` field."""
    return _decode_state(hit["fields"]["state"][0])


# A stored state is JSON with its centroids and title vectors (most of its numbers) appended as
# packed little-endian arrays. Decoded from JSON lists, each number became a Python object that
# lived only until the Event packed it again; late in a long cycle a batch decodes over a thousand
# states, and those short-lived objects, interleaved with the ones that stay, left the heap's
# pages partly used: the process's peak grew with the cycle (issue 13). Earlier states are plain
# JSON (they start with "{") and still load.
_PACKED_STATE = b"\x00rasad-state-1\x00"
_VECTOR_FIELDS = ("centroids", "title_vectors")


def _packed(code: str, values: Iterable[Any]) -> bytes:
    a = array(code, values)
    if sys.byteorder != "little":
        a.byteswap()
    return a.tobytes()


def _unpacked(code: str, raw: bytes) -> array:
    """Inverse of ``_packed``."""
    a = array(code)
    a.frombytes(raw)
    if sys.byteorder != "little":
        a.byteswap()
    return a


def encode_state(state: dict[str, Any]) -> bytes:
    """The stored form of an exported event state (before compression); ``decode_state`` inverts it."""
    head = dict(state)
    numbers: list[bytes] = []
    for name in _VECTOR_FIELDS:
        lengths = {}
        for lang, (buckets, weights) in state[name].items():
            if len(buckets) != len(weights):
                raise ValueError(f"event {state.get('id')!r}: {name}[{lang!r}] has {len(buckets)} buckets "
                                 f"but {len(weights)} weights")  # fmt: skip
            lengths[lang] = len(buckets)
            numbers += [_packed("q", buckets), _packed("d", weights)]
        head[name] = lengths
    text = json.dumps(head, separators=(",", ":")).encode()
    return b"".join([_PACKED_STATE, struct.pack("<I", len(text)), text, *numbers])


def decode_state(raw: bytes) -> dict[str, Any]:
    """An exported event state from ``encode_state`` output (or plain JSON, the earlier form); its
    centroids and title vectors come as pairs of arrays (buckets, weights), not lists."""
    if not raw.startswith(_PACKED_STATE):
        return json.loads(raw)
    pos = len(_PACKED_STATE)
    (n,) = struct.unpack_from("<I", raw, pos)
    pos += 4
    state = json.loads(raw[pos : pos + n])
    pos += n
    for name in _VECTOR_FIELDS:
        vectors = {}
        for lang, count in state[name].items():
            size = 8 * count  # "q" and "d" items are 8 bytes
            vectors[lang] = (_unpacked("q", raw[pos : pos + size]), _unpacked("d", raw[pos + size : pos + 2 * size]))
            pos += 2 * size
        state[name] = vectors
    if pos != len(raw):
        raise ValueError(f"event state {state.get('id')!r}: {len(raw) - pos} bytes left after its vectors")
    return state


def _decode_state(blob: str) -> dict[str, Any]:
    """An event state from its stored form (base64 of zlib-compressed ``encode_state`` output)."""
    return decode_state(zlib.decompress(b64decode(blob)))


def _drain_states(blobs: list[str]) -> Iterable[dict[str, Any]]:
    """The decoded states of ``blobs``, in order, each blob let go as it is read (the list empties)."""
    blobs.reverse()
    while blobs:
        yield _decode_state(blobs.pop())


class EventStateStore:
    """Load and save the clusterer's state (shared part + one document per event)."""

    def __init__(self, es: Elasticsearch, settings: Settings):
        self.es = es
        self.s = settings
        self.index = single_index(settings, "eventstate")
        self.model_index = single_index(settings, "eventmodel")
        self._version: tuple[int, int] | None = None
        self._generation: tuple[str, int] | None = None
        self._batch = 0
        self._src: dict[str, Any] = {}
        self.stats: dict[str, Any] = {}  # what the last load read (for benchmarks and logs)
        self.save_stats: dict[str, Any] = {}  # what the last save wrote

    # ----- indices --------------------------------------------------------------------------

    def _create(self, index: str, mapping: dict[str, Any]) -> bool:
        if self.es.indices.exists(index=index):
            return False
        try:
            replicas = replica_count(self.es, self.s)  # a cluster keeps a copy: losing a node loses no state
            self.es.indices.create(index=index, mappings=mapping,
                                   settings={"number_of_shards": 1, "number_of_replicas": replicas})  # fmt: skip
            return True
        except Exception as e:  # a concurrent creator won the race
            if "resource_already_exists" not in str(e):
                raise
            return False

    def _ensure(self) -> None:
        if not self._create(self.index, STATE_MAPPING):
            # An index made by an earlier version lacks the newer fields: put-mapping only adds.
            self.es.indices.put_mapping(index=self.index, properties=STATE_MAPPING["properties"])
        self._create(self.model_index, MODEL_MAPPING)

    # ----- load -----------------------------------------------------------------------------

    def _head(self) -> dict[str, Any] | None:
        self._version = self._generation = None
        self._batch = 0
        try:
            head = self.es.get(index=self.index, id=STATE_ID)
        except NotFoundError:
            return None
        self._version = (head["_seq_no"], head["_primary_term"])
        self._src = head["_source"]
        return self._src

    def _read_parts(self, src: dict[str, Any]) -> dict[str, Any]:
        gen, parts = src["generation"], src["parts"]
        self._generation = (gen, parts)
        ids = [f"{gen}-{i:05d}" for i in range(parts)]
        blob = b""
        for i in range(0, len(ids), 1):  # one part per request: each response stays under 10 MB
            [doc] = self.es.mget(index=self.index, ids=ids[i : i + 1])["docs"]
            if not doc.get("found"):
                raise RuntimeError(f"event state generation {gen} is incomplete: missing {doc['_id']}")
            blob += b64decode(doc["_source"]["blob"])
        return json.loads(zlib.decompress(blob))

    def _load_legacy(self, src: dict[str, Any]) -> EventClusterer:
        """A state in one blob (the head itself, or a generation of parts): the formats before this one."""
        if "generation" not in src:  # the first one-document format: the state is in the head
            return EventClusterer.from_state(json.loads(zlib.decompress(b64decode(src["blob"]))))
        return EventClusterer.from_state(self._read_parts(src))

    def _migrate(self, src: dict[str, Any]) -> EventClusterer:
        """Convert a whole-state save (today's earlier formats) to one document per event, once."""
        clusterer = self._load_legacy(src)
        log.info("event state: converting a %d-event state to one document per event", len(clusterer.events))
        self._ensure()
        states = [e.export_state() for e in clusterer.events.values()]
        self._write_events(states, [], version=1)
        self._commit(clusterer, now_iso(), batch=1, claim=False)
        clusterer.take_changes()
        return clusterer

    def _open_head(self, src: dict[str, Any]) -> dict[str, Any]:
        """The shared state a current-format head points to (after the pending check); notes its batch."""
        self._check_pending(src)
        self._batch = src.get("batch", 0)
        return self._read_parts(src)

    def load(self, config: ClusterConfig | None = None) -> EventClusterer:
        """The whole stored clusterer (every active event), or a fresh one if none was stored yet."""
        src = self._head()
        if src is None:
            return EventClusterer(config)
        if src.get("format") != FORMAT:
            return self._migrate(src)
        shared = self._open_head(src)
        events = [_state_of(h) for h in self._scan({"match_all": {}}, source=True)]
        return EventClusterer.from_parts(shared, events, active=len(events))

    def load_for(self, items: list[ClusterItem], config: ClusterConfig | None = None) -> EventClusterer:
        """A clusterer holding only what assigning ``items`` (in this order) needs; it then assigns
        them as the whole model would, up to Elasticsearch's ranking of near-tied candidates."""
        src = self._head()
        if src is None:
            self.stats = {"events_loaded": 0, "active": 0}
            return EventClusterer(config)
        if src.get("format") != FORMAT:
            return self._migrate(src)
        t0 = time.perf_counter()
        shared = self._open_head(src)
        active = int(src.get("events") or 0)
        probe = EventClusterer.from_parts(shared, [], active=active)  # globals only: for the preview
        cfg = probe.config
        t_shared = time.perf_counter()
        previews = probe.preview(items)
        keys: dict[str, None] = {}
        for p in previews:
            lang = p.item.language
            keys[f"lang:{lang}"] = None
            keys.update((f"{lang}:{b}", None) for b, _ in p.vector)
            keys.update(("e:" + k, None) for k, _ in p.entities)
        t_preview = time.perf_counter()
        counts = self._counts(list(keys))
        t_counts = time.perf_counter()
        # Every key the batch carries is listed, zero counts included: the model indexes only those.
        text_counts: dict[str, dict[int, int]] = {}
        id_counts: dict[str, int] = {}
        lang_counts: dict[str, int] = {}
        for key in keys:
            n = counts.get(key, 0)
            kind, _, rest = key.partition(":")
            if kind == "lang":
                lang_counts[rest] = n
            elif kind == "e":
                id_counts[key] = n
            else:
                text_counts.setdefault(kind, {})[int(rest)] = n
        wanted: dict[str, None] = {}
        searches: list[dict[str, Any]] = []
        size = cfg.candidates + CANDIDATE_SLACK
        for p in previews:
            lang = p.item.language
            wanted[f"ev-{p.item.id}"] = None  # an id the article would start an event under, if taken
            text, entities = p.probes(cfg, text_counts.get(lang, {}), lang_counts.get(lang, 0), id_counts)
            if text:
                should: list[dict[str, Any]] = [{"term": {"vec": {"value": f"{lang}:{b}", "boost": w}}} for b, w in text]
                searches.append({"size": size, "_source": False, "stored_fields": ["state"], "track_total_hits": False,
                                 "query": {"bool": {"should": should}}})  # fmt: skip
            if len(entities) >= cfg.cross_min_shared_entities:
                should = [{"constant_score": {"filter": {"term": {"leads": "e:" + k}}, "boost": idf}}
                          for k, idf in entities]  # fmt: skip
                searches.append({"size": size, "_source": False, "stored_fields": ["state"], "track_total_hits": False,
                                 "query": {"bool": {"should": should,
                                                    "minimum_should_match": cfg.cross_min_shared_entities}}})  # fmt: skip
        # The candidates' states come back with the hits (no mget after the searches: that was
        # half the load time at 72,000 events); only the eviction head and new ids are fetched after.
        # Kept compressed until the model is built: decoded, a state is ~5x larger than the
        # Event made of it, and a batch late in a long cycle loads over a thousand.
        fetched: dict[str, str] = {}
        for hit in self._msearch(searches):
            wanted[hit["_id"]] = None
            if hit["_id"] not in fetched:
                fetched[hit["_id"]] = hit["fields"]["state"][0]
        t_search = time.perf_counter()
        evicting = self._eviction_head(probe, items, active)
        wanted.update((i, None) for i in evicting)
        t_evict = time.perf_counter()
        blobs = list(fetched.values()) + self._mget_blobs([i for i in wanted if i not in fetched])
        del fetched
        loaded = len(blobs)
        t_mget = time.perf_counter()
        # The probe becomes the model (its preview changed nothing): the shared part is decoded once.
        probe.load_parts(_drain_states(blobs), active, text_counts, id_counts, lang_counts,
                          shared.get("version", STATE_VERSION))
        clusterer = probe
        t_end = time.perf_counter()
        # Where a load's time goes (the benchmark prints it; a slow batch task logs it).
        self.stats = {"events_loaded": loaded, "active": active, "searches": len(searches),
                      "keys": len(keys), "evicting": len(evicting),
                      "seconds": {"shared": round(t_shared - t0, 3), "preview": round(t_preview - t_shared, 3),
                                  "counts": round(t_counts - t_preview, 3), "search": round(t_search - t_counts, 3),
                                  "evicting": round(t_evict - t_search, 3), "mget": round(t_mget - t_evict, 3),
                                  "build": round(t_end - t_mget, 3)}}  # fmt: skip
        return clusterer

    def _check_pending(self, src: dict[str, Any]) -> None:
        if src.get("pending"):
            log.warning("event state: batch %s was claimed but never committed (a writer died mid-save); "
                        "events it wrote stay, its shared part was lost", src["pending"])  # fmt: skip

    def _counts(self, keys: list[str]) -> dict[str, int]:
        """Active events holding each key (a terms aggregation over ``leads``, exact on one shard)."""
        out: dict[str, int] = {}
        for i in range(0, len(keys), AGG_KEYS):
            chunk = keys[i : i + AGG_KEYS]
            res = self.es.search(index=self.model_index, size=0, aggs={"n": {"terms": {
                "field": "leads", "include": chunk, "size": len(chunk)}}})  # fmt: skip
            out.update((b["key"], b["doc_count"]) for b in res["aggregations"]["n"]["buckets"])
        return out

    def _msearch(self, searches: list[dict[str, Any]]) -> Iterable[dict[str, Any]]:
        """Every hit of ``searches``, in order. Two requests are in flight at a time, so the node
        searches the next chunk while this process decodes the states of the last one."""

        def run(chunk: list[dict[str, Any]]) -> list[dict[str, Any]]:
            body: list[dict[str, Any]] = []
            for q in chunk:
                body += [{}, q]
            return self.es.msearch(index=self.model_index, searches=body)["responses"]

        chunks = iter([searches[i : i + SEARCHES_PER_MSEARCH] for i in range(0, len(searches), SEARCHES_PER_MSEARCH)])
        with ThreadPoolExecutor(max_workers=2) as pool:
            # Submitted two ahead, not all at once (pool.map would): the responses of a large batch
            # (~2 MB each) would otherwise all be held before the first is read.
            ahead = deque(pool.submit(run, c) for c in islice(chunks, 2))
            while ahead:
                responses = ahead.popleft().result()
                nxt = next(chunks, None)
                if nxt is not None:
                    ahead.append(pool.submit(run, nxt))
                for r in responses:
                    if "error" in r:
                        raise RuntimeError(f"event candidate search failed: {r['error']}")
                    yield from r["hits"]["hits"]
                del responses

    def _eviction_head(self, probe: EventClusterer, items: list[ClusterItem], active: int) -> list[str]:
        """Ids of the events that may leave the window while ``items`` are assigned (oldest first)."""
        cfg = probe.config
        times = [it.time.timestamp() for it in items]
        clock = probe._clock
        if times:
            clock = max(times) if clock is None else max(clock, *times)
        if clock is None:
            return []
        horizon = clock - cfg.window_hours * 3600.0
        ids = [h["_id"] for h in self._scan({"range": {"last_touch_s": {"lt": horizon}}})]
        # The cap: at most one eviction per new event beyond max_active_events.
        over = active + len(items) - cfg.max_active_events + 1
        if over > len(ids):
            ids += [h["_id"] for h in self._scan({"match_all": {}}, limit=over)][len(ids) :]
        return ids

    def _scan(self, query: dict[str, Any], source: bool = False, limit: int | None = None) -> Iterable[dict[str, Any]]:
        """Hits in eviction order (by touch_seq, unique: pages with search_after, no _id sort)."""
        after = None
        seen = 0
        page = 200 if source else 5000
        while limit is None or seen < limit:
            kw: dict[str, Any] = {"search_after": after} if after is not None else {}
            if source:
                kw["stored_fields"] = ["state"]
            n = page if limit is None else min(page, limit - seen)
            res = self.es.search(index=self.model_index, query=query, size=n, sort=[{"touch_seq": "asc"}],
                                 source=False, track_total_hits=False, **kw)  # fmt: skip
            hits = res["hits"]["hits"]
            if not hits:
                return
            yield from hits
            seen += len(hits)
            after = hits[-1]["sort"]

    def _mget_blobs(self, ids: list[str]) -> list[str]:
        """The stored (compressed) states of these events, those that exist."""
        out = []
        for i in range(0, len(ids), MGET_IDS):
            docs = self.es.mget(index=self.model_index, ids=ids[i : i + MGET_IDS], stored_fields=["state"])["docs"]
            out += [d["fields"]["state"][0] for d in docs if d.get("found")]
        return out

    # ----- save -----------------------------------------------------------------------------

    def save(self, clusterer: EventClusterer, now: str) -> None:
        """Store what changed since the load, only if nobody else saved since our ``load``.

        Two cycles running at once (a manual ``rasad run`` beside the DAG) would otherwise
        silently drop one another's events; the loser raises ``ConflictError`` before it
        writes anything, and its task is retried from the newer state.
        """
        t0 = time.perf_counter()
        self._ensure()
        changed, removed = clusterer.take_changes()
        batch = self._batch + 1
        self._claim(batch, now)
        t_claim = time.perf_counter()
        # The node writes the events while this process serialises the shared part.
        with ThreadPoolExecutor(max_workers=1) as pool:
            writing = pool.submit(self._write_events, changed, removed, batch)
            raw = self._globals_blob(clusterer)
            writing.result()
        t_events = time.perf_counter()
        self._commit(clusterer, now, batch=batch, claim=True, raw=raw)
        self.save_stats = {"changed": len(changed), "removed": len(removed), "seconds": {
            "claim": round(t_claim - t0, 3), "events": round(t_events - t_claim, 3),
            "shared": round(time.perf_counter() - t_events, 3)}}  # fmt: skip

    def _claim(self, batch: int, now: str) -> None:
        """Take the head for this save (ConflictError if someone saved since our load)."""
        if self._version is None:
            head = {"format": FORMAT, "pending": batch, "batch": 0, "events": 0, "updated_at": now}
            res = self.es.create(index=self.index, id=STATE_ID, document=head)
        else:
            head = self._src | {"pending": batch}
            res = self.es.index(index=self.index, id=STATE_ID, document=head, if_seq_no=self._version[0],
                                if_primary_term=self._version[1])  # fmt: skip
        self._version = (res["_seq_no"], res["_primary_term"])

    def _write_events(self, changed: list[dict[str, Any]], removed: list[str], version: int) -> None:
        actions: list[dict[str, Any]] = [
            {"_op_type": "index", "_index": self.model_index, "_id": st["id"], "version": version,
             "version_type": "external_gte", "_source": event_model_doc(st)}
            for st in changed
        ]  # fmt: skip
        actions += [{"_op_type": "delete", "_index": self.model_index, "_id": e, "version": version,
                     "version_type": "external_gte"} for e in removed]  # fmt: skip
        if not actions:
            return
        errors = []
        for ok, item in helpers.streaming_bulk(self.es, actions, max_chunk_bytes=BULK_BYTES, chunk_size=2000,
                                               raise_on_error=False, max_retries=3):  # fmt: skip
            if not ok:
                op, info = next(iter(item.items()))
                if op == "delete" and info.get("status") == 404:
                    continue  # an event created and gone in this batch was never stored
                errors.append(info)
        if errors:
            raise RuntimeError(f"event state: {len(errors)} event documents not written, e.g. {errors[0]}")
        self.es.indices.refresh(index=self.model_index)  # the next batch's searches must see them

    @staticmethod
    def _globals_blob(clusterer: EventClusterer) -> bytes:
        return zlib.compress(json.dumps(clusterer.export_globals(), separators=(",", ":")).encode(), COMPRESS_LEVEL)

    def _commit(self, clusterer: EventClusterer, now: str, batch: int, claim: bool, raw: bytes | None = None) -> None:
        raw = self._globals_blob(clusterer) if raw is None else raw
        gen = uuid.uuid4().hex[:12]
        chunks = [raw[i : i + PART_BYTES] for i in range(0, len(raw), PART_BYTES)] or [b""]
        # Parts are written one per request: each stays below the request size limit.
        for i, chunk in enumerate(chunks):
            self.es.index(index=self.index, id=f"{gen}-{i:05d}",
                          document={"blob": b64encode(chunk).decode("ascii"), "generation": gen, "part": i})  # fmt: skip
        head = {"format": FORMAT, "generation": gen, "parts": len(chunks), "events": clusterer.active_count,
                "bytes": len(raw), "batch": batch, "pending": None, "updated_at": now}  # fmt: skip
        try:
            if self._version is None:
                res = self.es.create(index=self.index, id=STATE_ID, document=head)
            else:  # no refresh: the head and parts are read by id, which is real-time
                res = self.es.index(index=self.index, id=STATE_ID, document=head,
                                    if_seq_no=self._version[0], if_primary_term=self._version[1])  # fmt: skip
        except Exception:
            self._delete_parts(gen, len(chunks))  # our generation never became current
            raise
        self._version = (res["_seq_no"], res["_primary_term"])
        self._batch = batch
        old, self._generation = self._generation, (gen, len(chunks))
        if old:
            self._delete_parts(*old)

    def _delete_parts(self, gen: str, parts: int) -> None:
        actions = [{"_op_type": "delete", "_index": self.index, "_id": f"{gen}-{i:05d}"} for i in range(parts)]
        helpers.bulk(self.es, actions, raise_on_error=False)

"""Where the event clusterer keeps its state between runs: Elasticsearch, so events survive
restarts and any worker continues exactly where the last run stopped.

The state (the clusterer's ``export_state()``) is compressed and split into parts of at
most ``PART_BYTES``, because a large active window (tens of thousands of events) makes
it bigger than one Elasticsearch request may be (100 MiB by default). Each save writes a
new *generation* of parts, then switches the small head document to it with optimistic
concurrency, then deletes the old generation: a crash at any point leaves the previous
complete state readable. Reloading and continuing gives the same events as never stopping.
"""

from __future__ import annotations

import json
import logging
import uuid
import zlib
from base64 import b64decode, b64encode
from typing import Any

from elasticsearch import Elasticsearch, NotFoundError, helpers

from rasad.core.es import replica_count, single_index
from rasad.core.settings import Settings
from rasad.enrich.events.cluster import ClusterConfig, EventClusterer

log = logging.getLogger(__name__)
STATE_ID = "clusterer"
PART_BYTES = 8 * 1024 * 1024  # compressed bytes per part document
# Level 1: on an 80 MB state 0.6 s instead of 3 s at level 6, for 10% more bytes.
COMPRESS_LEVEL = 1
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
    },
}


class EventStateStore:
    """Load and save the clusterer's state (a head document and compressed parts)."""

    def __init__(self, es: Elasticsearch, settings: Settings):
        self.es = es
        self.s = settings
        self.index = single_index(settings, "eventstate")
        self._version: tuple[int, int] | None = None
        self._generation: tuple[str, int] | None = None

    def _ensure(self) -> None:
        if not self.es.indices.exists(index=self.index):
            try:
                replicas = replica_count(self.es, self.s)  # a cluster keeps a copy: losing a node loses no state
                self.es.indices.create(index=self.index, mappings=STATE_MAPPING,
                                       settings={"number_of_shards": 1, "number_of_replicas": replicas})  # fmt: skip
                return
            except Exception as e:  # a concurrent creator won the race
                if "resource_already_exists" not in str(e):
                    raise
        # An index made by an earlier version lacks the part fields: put-mapping only adds.
        self.es.indices.put_mapping(index=self.index, properties=STATE_MAPPING["properties"])

    def load(self, config: ClusterConfig | None = None) -> EventClusterer:
        """The stored clusterer, or a fresh one if none was stored yet."""
        self._version = self._generation = None
        try:
            head = self.es.get(index=self.index, id=STATE_ID)
        except NotFoundError:
            return EventClusterer(config)
        self._version = (head["_seq_no"], head["_primary_term"])
        src = head["_source"]
        if "generation" not in src:  # the earlier one-document format: the state is in the head
            return EventClusterer.from_state(json.loads(zlib.decompress(b64decode(src["blob"]))))
        gen, parts = src["generation"], src["parts"]
        self._generation = (gen, parts)
        ids = [f"{gen}-{i:05d}" for i in range(parts)]
        docs = self.es.mget(index=self.index, ids=ids)["docs"]
        missing = [d["_id"] for d in docs if not d.get("found")]
        if missing:
            raise RuntimeError(f"event state generation {gen} is incomplete: missing {missing[:3]}")
        blob = b"".join(b64decode(d["_source"]["blob"]) for d in docs)
        return EventClusterer.from_state(json.loads(zlib.decompress(blob)))

    def save(self, clusterer: EventClusterer, now: str) -> None:
        """Store the clusterer's state, only if nobody else saved one since our ``load``.

        Two cycles running at once (a manual ``rasad run`` beside the DAG) would otherwise
        silently drop one another's events; the loser raises ``ConflictError`` and its task
        is retried from the newer state.
        """
        self._ensure()
        raw = zlib.compress(json.dumps(clusterer.export_state(), separators=(",", ":")).encode(), COMPRESS_LEVEL)
        gen = uuid.uuid4().hex[:12]
        chunks = [raw[i : i + PART_BYTES] for i in range(0, len(raw), PART_BYTES)] or [b""]
        # Parts are written one per request: each stays far below the request size limit.
        for i, chunk in enumerate(chunks):
            self.es.index(index=self.index, id=f"{gen}-{i:05d}",
                          document={"blob": b64encode(chunk).decode("ascii"), "generation": gen, "part": i})  # fmt: skip
        head = {"generation": gen, "parts": len(chunks), "events": len(clusterer.events), "bytes": len(raw),
                "updated_at": now}  # fmt: skip
        try:
            if self._version is None:
                self.es.create(index=self.index, id=STATE_ID, document=head, refresh="wait_for")
            else:
                self.es.index(index=self.index, id=STATE_ID, document=head, refresh="wait_for",
                              if_seq_no=self._version[0], if_primary_term=self._version[1])  # fmt: skip
        except Exception:
            self._delete_parts(gen, len(chunks))  # our generation never became current
            raise
        old, self._generation = self._generation, (gen, len(chunks))
        if old:
            self._delete_parts(*old)

    def _delete_parts(self, gen: str, parts: int) -> None:
        actions = [{"_op_type": "delete", "_index": self.index, "_id": f"{gen}-{i:05d}"} for i in range(parts)]
        helpers.bulk(self.es, actions, raise_on_error=False)

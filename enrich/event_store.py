"""Where the event clusterer keeps its state between runs: Elasticsearch, so events survive
restarts and any worker continues exactly where the last run stopped.

The state is one document (the clusterer's ``export_state()``, stored unindexed) in its
own small index. Reloading it and continuing gives the same events as never stopping.
"""

from __future__ import annotations

import json
import logging
import zlib
from base64 import b64decode, b64encode

from elasticsearch import Elasticsearch, NotFoundError

from enrich.events.cluster import ClusterConfig, EventClusterer
from rasad.es import single_index
from rasad.settings import Settings

log = logging.getLogger(__name__)
STATE_ID = "clusterer"
STATE_MAPPING = {
    "dynamic": "strict",
    "properties": {
        "blob": {"type": "binary"},  # zlib-compressed JSON of the clusterer state
        "events": {"type": "integer"},
        "updated_at": {"type": "date"},
    },
}


class EventStateStore:
    """Load and save the clusterer's state (one document, compressed)."""

    def __init__(self, es: Elasticsearch, settings: Settings):
        self.es = es
        self.index = single_index(settings, "eventstate")

    def _ensure(self) -> None:
        if not self.es.indices.exists(index=self.index):
            try:
                self.es.indices.create(index=self.index, mappings=STATE_MAPPING,
                                       settings={"number_of_shards": 1, "number_of_replicas": 0})  # fmt: skip
            except Exception as e:  # a concurrent creator won the race
                if "resource_already_exists" not in str(e):
                    raise

    def load(self, config: ClusterConfig | None = None) -> EventClusterer:
        """The stored clusterer, or a fresh one if none was stored yet."""
        self._version: tuple[int, int] | None = None
        try:
            doc = self.es.get(index=self.index, id=STATE_ID)
        except NotFoundError:
            return EventClusterer(config)
        self._version = (doc["_seq_no"], doc["_primary_term"])
        state = json.loads(zlib.decompress(b64decode(doc["_source"]["blob"])))
        return EventClusterer.from_state(state)

    def save(self, clusterer: EventClusterer, now: str) -> None:
        """Store the clusterer's state, only if nobody else saved one since our ``load``.

        Two cycles running at once (a manual ``rasad run`` beside the DAG) would otherwise
        silently drop one another's events; the loser raises ``ConflictError`` and its task
        is retried from the newer state.
        """
        self._ensure()
        raw = json.dumps(clusterer.export_state(), separators=(",", ":")).encode()
        blob = b64encode(zlib.compress(raw, 6)).decode("ascii")
        doc = {"blob": blob, "events": len(clusterer.events), "updated_at": now}
        version = getattr(self, "_version", None)
        if version is None:
            self.es.create(index=self.index, id=STATE_ID, document=doc, refresh="wait_for")
        else:
            self.es.index(index=self.index, id=STATE_ID, document=doc, refresh="wait_for",
                          if_seq_no=version[0], if_primary_term=version[1])  # fmt: skip

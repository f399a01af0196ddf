"""Write events and their signals (from the enrich stage) to Elasticsearch.

Events are keyed by their deterministic id, signals by theirs, so re-running a cycle
overwrites instead of duplicating.
"""

from __future__ import annotations

from datetime import datetime, timezone

from elasticsearch import Elasticsearch, helpers

from rasad.es import single_index
from rasad.records import utc_iso
from rasad.settings import Settings

SIGNALS_MAPPING = {
    "dynamic": "strict",
    "properties": {
        "id": {"type": "keyword"},
        "kind": {"type": "keyword"},
        "at": {"type": "date"},
        "article_id": {"type": "keyword"},
        "event_id": {"type": "keyword"},
        "key": {"type": "keyword"},
        "entity_id": {"type": "keyword"},
        "topic_id": {"type": "keyword"},
        "title": {"type": "text", "fields": {"raw": {"type": "keyword", "ignore_above": 512}}},
        "titles": {"type": "object", "enabled": False},
        "article_ids": {"type": "keyword"},
        "entity_ids": {"type": "keyword"},
        "topic_ids": {"type": "keyword"},
        "source_count": {"type": "integer"},
        "article_count": {"type": "integer"},
        "details": {"type": "object", "enabled": False},
    },
}


def event_document(ev: dict, now: str) -> dict:
    """An event from the clusterer as stored in the events index."""
    titles = ev.get("titles") or {}
    return {
        "id": ev["id"], "first_seen": ev["first_seen"], "last_seen": ev["last_seen"],
        "title": titles.get("ar") or titles.get("en") or next(iter(titles.values()), ""),
        "titles": titles, "article_count": ev["article_count"], "source_count": ev["source_count"],
        "sources": ev["sources"], "languages": ev["languages"], "entity_ids": ev.get("top_entities", []),
        "topic_ids": ev.get("top_topics", []), "article_ids": ev.get("member_ids", []),
        "signals": ["confirmed"] if ev.get("confirmed") else [], "updated_at": now,
    }  # fmt: skip


def index_events(es: Elasticsearch, settings: Settings, events: list[dict], signals: list[dict]) -> dict:
    """Upsert changed events and new signals; returns counts."""
    now = utc_iso(datetime.now(timezone.utc)) or ""
    ev_index = single_index(settings, "events")
    sig_index = single_index(settings, "signals")
    if signals and not es.indices.exists(index=sig_index):
        try:
            es.indices.create(index=sig_index, mappings=SIGNALS_MAPPING, aliases={settings.index("signals"): {}},
                              settings={"number_of_shards": 1, "number_of_replicas": 0})  # fmt: skip
        except Exception as e:
            if "resource_already_exists" not in str(e):
                raise
    actions = [{"_index": ev_index, "_id": e["id"], "_source": event_document(e, now)} for e in events]
    actions += [{"_index": sig_index, "_id": s["id"], "_source": s} for s in signals]
    ok, errors = helpers.bulk(es, actions, raise_on_error=False, refresh="wait_for") if actions else (0, [])
    return {"events_indexed": len(events), "signals_indexed": len(signals), "errors": [str(e)[:300] for e in errors]}

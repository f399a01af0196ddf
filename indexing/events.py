"""Write events and their signals (from the enrich stage) to Elasticsearch.

Events are keyed by their deterministic id, signals by theirs, so re-running a cycle
overwrites instead of duplicating. An event merged into another stays as a record whose
``merged_into`` names the survivor (whose ``merged_ids`` lists it), so a link to it still
leads somewhere and the dashboard can hide it. They go through the same writer as articles:
retries and dead-letter for rejected documents; when Elasticsearch is down the write raises
and the task's retry does it again.
"""

from __future__ import annotations

from elasticsearch import Elasticsearch

from rasad.core.es import single_index
from rasad.core.records import now_iso
from rasad.core.settings import Settings
from rasad.indexing.bulk import IndexReport, write_or_raise


def event_document(ev: dict, now: str) -> dict:
    """An event from the clusterer (``Event.to_doc()``) as stored in the events index."""
    titles = ev.get("titles") or {}
    return {
        "id": ev["id"], "first_seen": ev["first_seen"], "last_seen": ev["last_seen"],
        "title": titles.get("ar") or titles.get("en") or next(iter(titles.values()), ""),
        "titles": titles, "article_count": ev["article_count"], "source_count": ev["source_count"],
        "sources": ev["sources"], "languages": ev["languages"], "entity_ids": ev.get("top_entities", []),
        "topic_ids": ev.get("top_topics", []), "article_ids": ev.get("member_ids", []),
        "signals": ["confirmed"] if ev.get("confirmed") else [], "updated_at": now,
        "merged_into": ev.get("merged_into"), "merged_ids": ev.get("merged_ids", []),
    }  # fmt: skip


def index_events(es: Elasticsearch, settings: Settings, events: list[dict], signals: list[dict],
                 refresh: bool = True) -> IndexReport:  # fmt: skip
    """Upsert changed events and new signals (dead-letter on rejection; raises when ES is unavailable).

    ``refresh=False`` leaves them to the indices' own refresh (within a second): for a caller
    whose readers refresh first, as the alert step does (:func:`refresh_signals`).
    """
    now = now_iso()
    report = IndexReport()
    ev_index = single_index(settings, "events")
    sig_index = single_index(settings, "signals")
    actions = [{"_op_type": "index", "_index": ev_index, "_id": e["id"], "_source": event_document(e, now)}
               for e in events]  # fmt: skip
    actions += [{"_op_type": "index", "_index": sig_index, "_id": s["id"], "_source": s} for s in signals]
    if actions:
        write_or_raise(es, settings, actions, report, now, refresh=f"{ev_index},{sig_index}" if refresh else None)
    return report


def refresh_signals(es: Elasticsearch, settings: Settings) -> None:
    """Make every event and signal written so far searchable (the alert step reads signals by search)."""
    es.indices.refresh(index=f"{single_index(settings, 'events')},{single_index(settings, 'signals')}",
                       allow_no_indices=True, ignore_unavailable=True)  # fmt: skip

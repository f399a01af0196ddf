"""The enrich stage: clean Articles -> tagged Articles grouped into events.

Called by the DAG and ``rasad run`` through ``rasad.pipeline.step_enrich``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from rasad.core.records import Article, now_iso
from rasad.core.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class EnrichResult:
    articles: list[Article]
    events: list[dict] = field(default_factory=list)  # changed events, as stored
    signals: list[dict] = field(default_factory=list)  # new / confirmed / breaking
    events_new: int = 0
    events_merged: int = 0  # events found to be one story with another and folded into it
    errors: list[str] = field(default_factory=list)


def tag_articles(articles: list[Article], settings: Settings) -> list[Article]:
    """Tag every article against the seeds' entities and taxonomy (a failure leaves one article untagged)."""
    from rasad.enrich.tagging import get_tagger, tag_article, tagger_version  # noqa: PLC0415 - spaCy is heavy

    seeds = settings.path(settings.seeds_dir)
    version = tagger_version(seeds)  # the tagger is built only if an article still needs it
    out: list[Article] = []
    for a in articles:
        if a.tagger_version == version:  # tagged by this tagger already (enrich.prepare)
            out.append(a)
            continue
        try:
            out.append(tag_article(a, get_tagger(seeds)))
        except Exception:  # keep the article untagged rather than lose it
            log.exception("tagging failed for %s", a.url)
            out.append(a)
    return out


def _arrival_key(a: Article) -> tuple[str, str]:
    # Within one poll batch "arrival" is arbitrary; publication time (then id) makes the
    # order, and so the events, reproducible.
    return (a.published or a.fetched_at or "", a.id)


def signal_record(sig: object, event_doc: dict | None) -> dict:
    """A signal as the alert stage and the signals index read it."""
    d = sig.to_doc()  # type: ignore[attr-defined]
    key = d.get("key") or ""
    ev = event_doc or {}
    titles = ev.get("titles") or {}
    return {
        "id": d["id"], "kind": d["kind"], "at": d["time"], "article_id": d["article_id"],
        "event_id": d.get("event_id"), "key": key or None,
        "entity_id": key.split(":", 1)[1] if key.startswith("entity:") else None,
        "topic_id": key.split(":", 1)[1] if key.startswith("topic:") else None,
        "title": titles.get("ar") or titles.get("en") or next(iter(titles.values()), ""),
        "titles": titles, "article_ids": ev.get("member_ids", [])[:50],
        "entity_ids": ev.get("top_entities", []), "topic_ids": ev.get("top_topics", []),
        "source_count": ev.get("source_count", 0), "article_count": ev.get("article_count", 0),
        "details": d.get("details", {}),
    }  # fmt: skip


def cluster_articles(articles: list[Article], settings: Settings, es: object | None = None) -> EnrichResult:
    """Assign each article to an event (state loaded from and saved to Elasticsearch)."""
    from rasad.core.es import make_client  # noqa: PLC0415
    from rasad.enrich.event_store import EventStateStore  # noqa: PLC0415
    from rasad.enrich.events.cluster import ClusterItem  # noqa: PLC0415

    store = EventStateStore(es or make_client(settings), settings)  # type: ignore[arg-type]
    queue: list[tuple[Article, ClusterItem]] = []
    for a in sorted(articles, key=_arrival_key):
        if not (a.title or a.text):
            continue
        try:
            queue.append((a, ClusterItem.from_article(a)))
        except ValueError:  # no time at all: cannot be placed in the stream
            log.warning("article %s has no time; not clustered", a.url)
    # Elasticsearch being down raises here: the batch's task fails with nothing acknowledged,
    # and its retry clusters the same articles against the saved state. Only the events these
    # articles can join (and those leaving the window meanwhile) are read.
    clusterer = store.load_for([item for _, item in queue])
    result = EnrichResult(articles)
    docs: dict[str, dict] = {}
    raw_signals = []
    for a, item in queue:
        asg = clusterer.assign(item)
        a.event_id = asg.event_id
        if asg.duplicate:
            continue
        # Snapshot now: a later article may push this event out of the active window.
        docs[asg.event_id] = clusterer.events[asg.event_id].to_doc()
        for merge in asg.merged:  # the merged-away event's record now points at the survivor
            docs[merge.event_id] = merge.doc
        result.events_new += int(asg.is_new)
        result.events_merged += len(asg.merged)
        raw_signals.extend(asg.signals)
    # Articles of this batch carry the event that holds them now (an earlier batch's articles keep
    # the old id; its event record says where it went: ``merged_into``).
    for a in articles:
        if a.event_id:
            a.event_id = clusterer.resolve_event(a.event_id)
    result.events = list(docs.values())
    result.signals = [signal_record(s, docs.get(s.event_id or "")) for s in raw_signals]
    store.save(clusterer, now_iso())
    # Where the batch's event-state I/O went, phase by phase (docs/events.md explains the phases).
    log.info("event state: %d of %d events loaded for %d articles; load %s s, save %s s", store.stats.get(
        "events_loaded", 0), store.stats.get("active", 0), len(queue), store.stats.get("seconds"),
        store.save_stats.get("seconds"))  # fmt: skip
    return result


def enrich_articles(articles: list[Article], settings: Settings, es: object | None = None) -> EnrichResult:
    """Tag the articles, then group them into events."""
    tagged = tag_articles(articles, settings)
    return cluster_articles(tagged, settings, es)

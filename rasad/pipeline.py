"""One monitoring cycle: poll -> fetch -> enrich -> index -> alert.

Each step takes and returns plain JSON-able data, so the Airflow DAG can pass results
between tasks through XCom and ``rasad run`` can call the very same functions in one
process. Stages are imported inside the steps: importing this module (as the DAG file
does at parse time) stays cheap.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rasad.records import Article, parse_iso, utc_iso
from rasad.settings import Settings, load_settings

log = logging.getLogger(__name__)


@dataclass
class CycleSummary:
    feeds_polled: int = 0
    feeds_not_modified: int = 0
    feeds_failed: int = 0
    items_seen: int = 0
    new_articles: int = 0
    duplicates: int = 0
    near_duplicates: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    tagged: int = 0
    events_new: int = 0
    indexed: int = 0
    dead_lettered: int = 0
    queued_in_outbox: int = 0
    alerts_matched: int = 0
    alerts_already_sent: int = 0  # matches a rule had already alerted on (dedup across runs)
    alerts_folded: int = 0  # near-duplicates folded into an earlier alert
    alerts_snoozed: int = 0
    alerts_waiting: int = 0  # items waiting for their digest
    alerts_sent: int = 0
    alerts_retry_later: int = 0
    alerts_failed: int = 0
    alerts_mails_by_recipient: dict[str, int] = field(default_factory=dict)  # alert mails sent, per recipient
    errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _settings(settings: Settings | None) -> Settings:
    # Airflow tasks pass none: they read the environment, like every other entry point.
    return settings if settings is not None else load_settings()


def _item_to_dict(item: Any) -> dict:
    d = dataclasses.asdict(item)
    d["published"] = utc_iso(item.published)
    return d


def _item_from_dict(d: dict) -> Any:
    from ingest.feeds import FeedItem  # noqa: PLC0415

    return FeedItem(**{**d, "published": parse_iso(d.get("published"))})


def step_setup(settings: Settings | None = None) -> dict:
    """Install index templates and indices (idempotent)."""
    from indexing.setup import setup_indices  # noqa: PLC0415
    from rasad.es import make_client  # noqa: PLC0415

    s = _settings(settings)
    return dataclasses.asdict(setup_indices(make_client(s), s))


def step_poll(settings: Settings | None = None, feeds_file: str | None = None, force: bool = False,
              now: datetime | None = None) -> dict:  # fmt: skip
    """Poll due feeds; returns {'items': [...], 'feeds': [...]}."""
    from ingest.feeds import load_registry  # noqa: PLC0415
    from ingest.http import HttpClient  # noqa: PLC0415
    from ingest.stage import poll_feeds  # noqa: PLC0415
    from ingest.store import IngestStore  # noqa: PLC0415
    from rasad.es import make_client  # noqa: PLC0415

    s = _settings(settings)
    specs = load_registry(s.path(feeds_file or s.feeds_file))
    client = HttpClient(s)
    try:
        rep = poll_feeds(specs, client, IngestStore(make_client(s), s), now=now, force=force, workers=s.fetch_workers)
    finally:
        client.close()
    return {"items": [_item_to_dict(i) for i in rep.items], "feeds": [dataclasses.asdict(f) for f in rep.feeds]}


def step_fetch(polled: dict, settings: Settings | None = None, feeds_file: str | None = None,
               now: datetime | None = None) -> dict:  # fmt: skip
    """Download and clean new items; returns {'articles': [...], 'outcomes': {...}, 'failures': {...}}."""
    from ingest.feeds import load_registry  # noqa: PLC0415
    from ingest.http import HttpClient  # noqa: PLC0415
    from ingest.stage import fetch_articles  # noqa: PLC0415
    from ingest.store import IngestStore  # noqa: PLC0415
    from rasad.es import make_client  # noqa: PLC0415

    s = _settings(settings)
    specs = {f.id: f for f in load_registry(s.path(feeds_file or s.feeds_file), include_disabled=True)}
    items = [_item_from_dict(d) for d in polled.get("items", [])]
    client = HttpClient(s)
    try:
        rep = fetch_articles(items, specs, client, IngestStore(make_client(s), s), now=now, workers=s.fetch_workers)
    finally:
        client.close()
    return {
        "articles": [a.to_doc() for a in rep.articles],
        "outcomes": dict(rep.outcomes),
        "failures": dict(rep.failures),
        "errors": rep.errors[:200],
    }


def step_enrich(fetched: dict, settings: Settings | None = None) -> dict:
    """Tag articles and group them into events; returns {'articles': [...], 'events': {...}}."""
    from enrich.stage import enrich_articles  # noqa: PLC0415

    s = _settings(settings)
    articles = [Article.from_doc(d) for d in fetched.get("articles", [])]
    result = enrich_articles(articles, s)
    return {"articles": [a.to_doc() for a in result.articles], "events_new": result.events_new,
            "events": result.events, "signals": result.signals, "errors": result.errors}  # fmt: skip


def step_index(enriched: dict, settings: Settings | None = None) -> dict:
    """Index enriched articles (and their events); returns the index report."""
    from indexing.bulk import index_articles  # noqa: PLC0415
    from rasad.es import make_client  # noqa: PLC0415

    from indexing.events import index_events  # noqa: PLC0415

    s = _settings(settings)
    es = make_client(s)
    articles = [Article.from_doc(d) for d in enriched.get("articles", [])]
    out = dataclasses.asdict(index_articles(es, s, articles))
    events, signals = enriched.get("events", []), enriched.get("signals", [])
    ev = index_events(es, s, events, signals)
    out["events_indexed"] = len(events) if not ev.queued_in_outbox else 0
    out["signals_indexed"] = len(signals) if not ev.queued_in_outbox else 0
    out["dead_lettered"] = out.get("dead_lettered", 0) + ev.dead_lettered
    out["queued_in_outbox"] = out.get("queued_in_outbox", 0) + ev.queued_in_outbox
    out.setdefault("errors", []).extend(ev.errors)
    return out


def step_alert(enriched: dict, settings: Settings | None = None, rules_file: str | None = None,
               now: datetime | None = None, indexed: dict | None = None) -> dict:  # fmt: skip
    """Match the new articles against the alert rules and deliver due mails."""
    from alerts.deliver import send_alerts  # noqa: PLC0415
    from alerts.rules import load_rules  # noqa: PLC0415
    from rasad.es import make_client  # noqa: PLC0415

    s = _settings(settings)
    rules = load_rules(s.path(rules_file or s.rules_file))
    if rules_file:  # the mails' footer names the file the rules really came from
        s = s.replace(rules_file=rules_file)
    docs = list(enriched.get("articles", []))
    seen = {d["id"] for d in docs}
    # Articles an earlier run queued in the outbox (Elasticsearch was down) reach the index
    # in this run's index step; they were never matched against the rules, so match them now.
    docs += [d for d in (indexed or {}).get("replayed_articles", []) if d.get("id") not in seen]
    articles = [Article.from_doc(d) for d in docs]
    rep = send_alerts(make_client(s), s, rules, articles, now=now, signals=enriched.get("signals", []))
    return dataclasses.asdict(rep)


def summarize(polled: dict, fetched: dict, enriched: dict, indexed: dict, alerted: dict) -> CycleSummary:
    """The cycle's summary from each step's result (each item counted once)."""
    feeds = polled.get("feeds", [])
    outcomes = Counter(fetched.get("outcomes", {}))
    failures = Counter(fetched.get("failures", {}))
    for f in feeds:
        if f["status"] == "error":
            failures[f"feed:{f.get('error_kind')}"] += 1
    errors = [f"feed {f['feed_id']}: {f.get('error_kind')}: {f.get('error')}" for f in feeds if f["status"] == "error"]
    errors += fetched.get("errors", []) + enriched.get("errors", []) + indexed.get("errors", []) + alerted.get("errors", [])
    return CycleSummary(
        feeds_polled=sum(1 for f in feeds if f["status"] != "skipped"),
        feeds_not_modified=sum(1 for f in feeds if f["status"] == "not_modified"),
        feeds_failed=sum(1 for f in feeds if f["status"] == "error"),
        items_seen=len(polled.get("items", [])),
        new_articles=outcomes.get("new", 0) + outcomes.get("near_duplicate", 0),
        duplicates=outcomes.get("duplicate", 0),
        near_duplicates=outcomes.get("near_duplicate", 0),
        failures=dict(failures),
        tagged=sum(1 for a in enriched.get("articles", []) if a.get("tagger_version")),
        events_new=enriched.get("events_new", 0),
        indexed=indexed.get("indexed", 0),
        dead_lettered=indexed.get("dead_lettered", 0),
        queued_in_outbox=indexed.get("queued_in_outbox", 0),
        alerts_matched=alerted.get("matched", 0),
        alerts_already_sent=alerted.get("already_alerted", 0),
        alerts_folded=alerted.get("folded", 0),
        alerts_snoozed=alerted.get("snoozed", 0),
        alerts_waiting=alerted.get("waiting", 0),
        alerts_sent=alerted.get("sent", 0),
        alerts_retry_later=alerted.get("retry_later", 0),
        alerts_failed=alerted.get("failed", 0),
        alerts_mails_by_recipient=dict(alerted.get("mails_by_recipient") or {}),
        errors=errors[:50],
    )


def run_cycle(settings: Settings | None = None, feeds_file: str | None = None, rules_file: str | None = None,
              force: bool = False) -> CycleSummary:  # fmt: skip
    """One full cycle in this process, through the same steps the DAG runs."""
    s = _settings(settings)
    step_setup(s)
    polled = step_poll(s, feeds_file, force=force)
    fetched = step_fetch(polled, s, feeds_file)
    enriched = step_enrich(fetched, s)
    indexed = step_index(enriched, s)
    alerted = step_alert(enriched, s, rules_file, indexed=indexed)
    return summarize(polled, fetched, enriched, indexed, alerted)

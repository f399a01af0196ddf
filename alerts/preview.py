"""``rasad alerts preview``: the mails the alert step would send for stored articles, sent to nobody.

It runs the pipeline's own decisions (alerts/plan.py) over the articles stored in
Elasticsearch, against an in-memory overlay of the ledger, so what it prints is what the
alert step then sends: same items, same digests, same subjects and bodies, same Message-IDs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any

from elasticsearch import Elasticsearch, NotFoundError

from rasad.alerts.deliver import collect_items, render_schedule
from rasad.alerts.ledger import AlertLedger
from rasad.alerts.plan import (
    EmptyLedger,
    LedgerView,
    MailPlan,
    OverlayLedger,
    Waiting,
    classify_new,
    schedule_mails,
)
from rasad.alerts.rules import AlertRule
from rasad.alerts.smtp import smtp_config
from rasad.core.records import Article, utc_iso
from rasad.core.settings import Settings
from rasad.indexing.events import refresh_signals

_SINCE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(value: str) -> timedelta:
    """'24h', '90m', '7d', '2w', '30s' as a timedelta; ValueError otherwise."""
    m = _SINCE_RE.match(value or "")
    if not m:
        raise ValueError(f"{value!r} is not a duration like 24h, 90m, 7d")
    return timedelta(**{_UNITS[m.group(2)]: float(m.group(1))})


@dataclass
class Preview:
    """Mails that would go out now, and what would wait (digest period open, throttle, snooze)."""

    mails: list[tuple[MailPlan, EmailMessage]] = field(default_factory=list)
    waiting: list[Waiting] = field(default_factory=list)
    articles: int = 0
    matched: int = 0
    already_alerted: int = 0


def stored_articles(es: Elasticsearch, settings: Settings, since: datetime, page: int = 500) -> list[Article]:
    """Articles fetched since ``since``, in fetch order."""
    out: list[Article] = []
    after = None
    while True:
        kw: dict[str, Any] = {"search_after": after} if after else {}
        try:
            res = es.search(
                index=settings.index("articles"),
                size=page,
                sort=[{"fetched_at": "asc"}, {"id": "asc"}],
                query={"range": {"fetched_at": {"gte": utc_iso(since)}}},
                **kw,
            )
        except NotFoundError:
            return out
        hits = res["hits"]["hits"]
        out += [Article.from_doc(h["_source"]) for h in hits]
        if len(hits) < page:
            return out
        after = hits[-1]["sort"]


def stored_signals(es: Elasticsearch, settings: Settings, article_ids: list[str]) -> list[dict]:
    """Event signals fired by these articles (the events stage stores them in ``<prefix>-signals``)."""
    out: list[dict] = []
    refresh_signals(es, settings)  # the batches write them without a refresh each, as for the alert step
    for i in range(0, len(article_ids), 1000):
        try:
            res = es.search(
                index=settings.index("signals"),
                size=10_000,
                sort=[{"id": "asc"}],
                query={"terms": {"article_id": article_ids[i : i + 1000]}},
            )
        except NotFoundError:
            return out
        out += [h["_source"] for h in res["hits"]["hits"]]
    return out


def preview_alerts(
    es: Elasticsearch,
    settings: Settings,
    rules: list[AlertRule],
    since: timedelta,
    now: datetime,
    include_alerted: bool = False,
) -> Preview:
    """What the alert step would send now for the articles fetched in the last ``since``."""
    articles = stored_articles(es, settings, now - since)
    base: LedgerView = EmptyLedger() if include_alerted else AlertLedger(es, settings)
    signals = stored_signals(es, settings, [a.id for a in articles]) if articles else []
    items = collect_items(es, settings, rules, articles, signals, now)
    new, already = classify_new(base, rules, items, now)
    schedule = schedule_mails(OverlayLedger(base, new), rules, now)
    mail_from = smtp_config(settings).mail_from
    return Preview(
        render_schedule(schedule, settings, mail_from, now),
        schedule.waiting,
        len(articles),
        len(items),
        already,
    )

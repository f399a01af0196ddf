"""Daily upkeep of the store: feed health, queue and dead-letter summary, retention.

Read-mostly and idempotent: the maintenance DAG may run it twice without harm. Old
monthly article indices are deleted whole (the only way to drop old documents on a
cluster without the reindex module's delete-by-query), finished queue items by id.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any

from elasticsearch import Elasticsearch, NotFoundError

from rasad.core.es import single_index
from rasad.core.settings import Settings
from rasad.ingest.queue import WorkQueue
from rasad.ingest.store import HEALTH_FAILING, HEALTH_FLAGGED, IngestStore

log = logging.getLogger(__name__)


def summarize_health(es: Elasticsearch, settings: Settings, now: datetime) -> dict[str, Any]:
    """Counts an operator reads each morning: feeds by health, overdue feeds, queue states, dead letters."""
    states = IngestStore(es, settings).all_states()
    by_health: dict[str, int] = {}
    overdue = []
    for st in states:
        by_health[st.health] = by_health.get(st.health, 0) + 1
        nxt = st.next_poll
        # Due for more than an hour: no watcher is polling it (triggerer down, shard missing).
        if nxt and nxt < (now - timedelta(hours=1)).isoformat():
            overdue.append(st.feed_id)
    problems = [{"feed_id": st.feed_id, "health": st.health, "failures": st.consecutive_failures,
                 "last_error_kind": st.last_error_kind, "last_error": (st.last_error or "")[:300],
                 "last_success": st.last_success}
                for st in states if st.health in (HEALTH_FAILING, HEALTH_FLAGGED)]  # fmt: skip
    q = WorkQueue(es, settings)
    counts = q.counts()
    try:
        dead = es.count(index=single_index(settings, "deadletter"))["count"]
    except NotFoundError:
        dead = 0
    return {
        "feeds": len(states), "feeds_by_health": by_health, "feeds_overdue": sorted(overdue),
        "feed_problems": problems, "queue": counts.by_state, "queue_oldest_new": counts.oldest_new,
        "queue_unalerted": counts.unalerted, "queue_failures": q.failures(20), "dead_letters": dead,
    }  # fmt: skip


def old_article_indices(es: Elasticsearch, settings: Settings, now: datetime) -> list[str]:
    """Monthly article indices older than ``article_retention_months`` (none when it is 0)."""
    months = settings.article_retention_months
    if months <= 0:
        return []
    y, m = now.year, now.month - months
    while m <= 0:
        y, m = y - 1, m + 12
    cutoff = f"{y:04d}.{m:02d}"
    prefix = settings.index("articles") + "-"
    names = es.indices.get(index=prefix + "*", allow_no_indices=True, ignore_unavailable=True)
    return sorted(n for n in names if n.startswith(prefix) and n[len(prefix):] < cutoff)


def run_retention(es: Elasticsearch, settings: Settings, now: datetime) -> dict[str, Any]:
    """Delete article indices past retention and finished queue items past ``queue_retention_days``."""
    old = old_article_indices(es, settings, now)
    for name in old:
        es.indices.delete(index=name, ignore_unavailable=True)
        log.info("retention: deleted %s", name)
    purged = WorkQueue(es, settings).purge(now - timedelta(days=settings.queue_retention_days))
    return {"deleted_indices": old, "queue_items_purged": purged}


def health_mail(report: dict[str, Any], settings: Settings, now: datetime) -> EmailMessage:
    """The feed-health report as a plain-text mail to the operator."""
    msg = EmailMessage()
    problems = report.get("feed_problems", [])
    msg["Subject"] = f"[Rasad] feed health {now:%Y-%m-%d}: {len(problems)} feed(s) need a look"
    msg["From"] = settings.mail_from
    msg["To"] = settings.operator_email or ""
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = make_msgid(domain=settings.mail_from.rsplit("@", 1)[-1].strip(">") or "localhost")
    msg["Auto-Submitted"] = "auto-generated"
    lines = [f"Feeds: {report['feeds']} {report['feeds_by_health']}",
             (f"Queue: {report['queue']} (oldest waiting: {report['queue_oldest_new'] or '-'}, "
              f"not yet alerted: {report['queue_unalerted']})"),
             f"Dead letters: {report['dead_letters']}",
             f"Retention: {report.get('retention', {})}", ""]  # fmt: skip
    if report["feeds_overdue"]:
        lines.append("Overdue (not polled for over an hour): " + ", ".join(report["feeds_overdue"]))
    for p in problems:
        lines.append(f"- {p['feed_id']}: {p['health']}, {p['failures']} failure(s) in a row, "
                     f"{p['last_error_kind']}: {p['last_error']} (last success {p['last_success'] or 'never'})")  # fmt: skip
    for f in report.get("queue_failures", [])[:20]:
        lines.append(f"- failed item {f['link']} ({f['feed_id']}): {f['outcome']}: {f['reason']}")
    msg.set_content("\n".join(lines) + "\n")
    return msg

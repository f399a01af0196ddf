"""The alert step: match, record, schedule, render and deliver, through the Elasticsearch ledger.

Order of writes, and why nothing is lost or repeated:

1. Each new match becomes an *item* created under its idempotency key (rule + article or
   rule + signal). A key that exists means "already alerted": skipped.
2. Due items are planned into per-recipient mails (alerts/plan.py), leaving out what each
   recipient already has. For each mail, its *deliveries* (recipient + article or signal)
   are reserved first (``op_type=create``), then the mail is stored, rendered once, with its
   Message-ID under a deterministic key, then items every recipient has are marked
   ``mailed``. A delivery another mail holds means another run carries that article: this
   mail is dropped for now and its items wait. A crash after reserving leaves reservations
   that hold the articles back for RESERVATION_STALE, then are taken over.
3. Delivery claims a mail (pending -> sending, with optimistic concurrency), hands it to
   SMTP, then records ``sent``. 4xx replies and unreachable servers: back to pending with
   exponential backoff. 5xx: ``failed`` with the server's reply.

The crash window: if the process dies after the SMTP server accepted a mail and before
``sent`` was recorded, the mail stays in ``sending``. After ``STALE_SENDING`` a later run
sends it again, byte for byte the same, with the same Message-ID. So delivery is **at
least once**: never lost, and duplicated only in that window, as an identical message
that clients and list servers can recognise by its Message-ID. docs/alerts.md explains.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from elasticsearch import ConflictError, Elasticsearch

from rasad.alerts.items import AlertItem, item_from_match, item_from_signal
from rasad.alerts.ledger import FAILED, PENDING, SENDING, SENT, AlertLedger, item_doc, mail_doc
from rasad.alerts.match import match_articles, match_signal
from rasad.alerts.plan import MAILED, LedgerView, MailSchedule, classify_new, schedule_mails
from rasad.alerts.render import build_mail, wire_text
from rasad.alerts.rules import AlertRule
from rasad.alerts.smtp import SmtpConfig, SmtpFailure, SmtpSender, smtp_config
from rasad.core.records import Article, utc_iso
from rasad.core.settings import Settings

log = logging.getLogger(__name__)
STALE_SENDING = timedelta(minutes=10)  # far longer than any SMTP timeout: a claim this old is a dead worker's
MAX_ATTEMPTS = 8  # 4xx replies: 30 s, 1, 2, 4, 8, 16, 32 min, 1 h, then "failed"; connection failures never expire
BACKOFF_FIRST = 30.0
BACKOFF_CAP = 3600.0


@dataclass
class AlertReport:
    """What one alert step did (every match counted once)."""

    matched: int = 0
    queued: int = 0
    already_alerted: int = 0
    folded: int = 0
    snoozed: int = 0
    mails_created: int = 0
    waiting: int = 0
    sent: int = 0
    retry_later: int = 0
    failed: int = 0
    deferred: int = 0  # mails left for the next cycle: another run was mailing one of their articles
    mails_by_recipient: dict[str, int] = field(default_factory=dict)  # mails sent in this step, per recipient
    errors: list[str] = field(default_factory=list)


def backoff(attempts: int) -> timedelta:
    """Delay before retry number ``attempts`` (1-based): exponential, capped at an hour."""
    return timedelta(seconds=min(BACKOFF_CAP, BACKOFF_FIRST * 2 ** (attempts - 1)))


def collect_items(
    es: Elasticsearch | None,
    settings: Settings,
    rules: list[AlertRule],
    articles: list[Article],
    signals: list[dict[str, Any]] | None,
    now: datetime,
) -> list[AlertItem]:
    """Alert items of every rule's matches on these articles and signals."""
    created = utc_iso(now) or ""
    items = [item_from_match(m, created) for m in match_articles(rules, articles)]
    for rule in rules:
        for sig in signals or []:
            reasons = match_signal(rule, sig)
            if reasons is not None:
                related = signal_articles(es, settings, sig) if es is not None else []
                items.append(item_from_signal(rule.name, sig, reasons, created, related))
    return items


def signal_articles(
    es: Elasticsearch, settings: Settings, signal: dict[str, Any], limit: int = 5
) -> list[dict]:
    """Title, link and source of a signal's first articles (from the store; empty if unavailable)."""
    ids = list(signal.get("article_ids") or [])[:limit]
    if not ids:
        return []
    try:
        res = es.search(
            index=settings.index("articles"),
            query={"ids": {"values": ids}},
            size=limit,
            source_includes=["id", "title", "url", "source", "language", "published"],
        )
    except Exception as e:  # the mail still goes out, without the list
        log.warning("could not read the articles of signal %s: %s", signal.get("id"), e)
        return []
    by_id = {h["_id"]: {**h["_source"], "id": h["_id"]} for h in res["hits"]["hits"]}
    return [by_id[i] for i in ids if i in by_id]


def render_schedule(schedule: MailSchedule, settings: Settings, mail_from: str, now: datetime) -> list[tuple]:
    """(plan, message) for every scheduled mail."""
    return [
        (
            p,
            build_mail(
                p,
                mail_from=mail_from,
                rules_file=settings.rules_file,
                kibana_url=settings.kibana_url,
                date=now,
            ),
        )
        for p in schedule.mails
    ]


def record_and_schedule(
    ledger: AlertLedger,
    settings: Settings,
    rules: list[AlertRule],
    items: list[AlertItem],
    mail_from: str,
    report: AlertReport,
    now: datetime,
) -> None:
    """Steps 1 and 2: record new items, then store every mail due now and mark its items."""
    record_items(ledger, rules, items, report, now)
    schedule_and_store(ledger, settings, rules, mail_from, report, now)


def record_items(
    ledger: AlertLedger, rules: list[AlertRule], items: list[AlertItem], report: AlertReport, now: datetime
) -> None:
    """Step 1: record the items not alerted before (folded into related ones where they repeat a story).

    The ledger is refreshed after, so the next call (the next chunk of one alert step) sees
    these items as already alerted and as related items to fold into.
    """
    by_name = {r.name: r for r in rules}
    new, already = classify_new(ledger, rules, items, now)
    report.already_alerted += already
    docs = [item_doc(i, s, by_name[i.rule].mode, list(by_name[i.rule].recipients), now) for i, s in new]
    created, existed = ledger.create_many(docs)
    report.already_alerted += len(existed)  # a concurrent run recorded it first
    made = set(created)
    for i, status in new:
        if i.key in made:  # status is queued | folded | snoozed, each a counter of the report
            setattr(report, status, getattr(report, status) + 1)
    ledger.refresh()


def schedule_and_store(
    ledger: AlertLedger,
    settings: Settings,
    rules: list[AlertRule],
    mail_from: str,
    report: AlertReport,
    now: datetime,
) -> None:
    """Step 2: plan every mail due now from the ledger's items, store each and mark its items."""
    view: LedgerView = ledger
    schedule = schedule_mails(view, rules, now)
    ledger.mark_items(schedule.already_mailed, MAILED, now)
    report.waiting = sum(len(w.items) for w in schedule.waiting)
    got: dict[str, set[str]] = {}
    for plan, msg in render_schedule(schedule, settings, mail_from, now):
        if plan.thread and plan.thread.is_root and ledger.get(plan.key) is not None:
            report.deferred += 1  # another run started this thread just now: the next cycle replies to it
            continue
        # Deliveries first, then the mail: a crash in between leaves records that name this
        # mail's key, which the same plan (same key) reclaims, and a dead run's are taken over.
        if not ledger.reserve(plan, schedule.deliveries, now):
            report.deferred += 1
            continue
        doc = mail_doc(plan, str(msg["Subject"]), str(msg["Message-ID"]), wire_text(msg), mail_from, now)
        created, _ = ledger.create_many([doc])
        report.mails_created += len(created)
        for k in plan.item_keys:
            got.setdefault(k, set()).add(plan.to)
    # An item is mailed once every recipient of its rule has it (only after its mails are stored).
    done = [k for k, who in got.items() if schedule.pending.get(k, set()) <= who]
    ledger.mark_items(done, MAILED, now)
    ledger.refresh()


def deliver_pending(
    es: Elasticsearch,
    settings: Settings,
    report: AlertReport | None = None,
    now: datetime | None = None,
    config: SmtpConfig | None = None,
) -> AlertReport:
    """Send every due mail in the ledger, recording each outcome; stop early if the server is unreachable."""
    now = now or datetime.now(timezone.utc)
    report = report or AlertReport()
    ledger = AlertLedger(es, settings)
    config = config or smtp_config(settings)
    with SmtpSender(config) as sender:
        for hit in ledger.due_mails(now, now - STALE_SENDING):
            doc, key = hit["_source"], hit["_id"]
            try:
                # Claim it: a concurrent worker that claimed it first makes this fail, so one sender only.
                claim = es.update(
                    index=ledger.index,
                    id=key,
                    if_seq_no=hit["_seq_no"],
                    if_primary_term=hit["_primary_term"],
                    doc={"status": SENDING, "updated_at": utc_iso(now)},
                )
            except ConflictError:
                continue
            attempts = int(doc.get("attempts") or 0) + 1
            try:
                refused = sender.send(
                    doc["payload"]["raw"], doc["recipients"], doc["payload"].get("mail_from")
                )
            except SmtpFailure as f:
                # An unreachable server says nothing about the mail: however long the outage,
                # keep it pending (backoff capped at an hour); only replies count toward the limit.
                if f.transient and (f.connection or attempts < MAX_ATTEMPTS):
                    new = {
                        "status": PENDING,
                        "attempts": attempts,
                        "last_error": f.reply,
                        "next_attempt_at": utc_iso(now + backoff(attempts)),
                        "updated_at": utc_iso(now),
                    }
                    report.retry_later += 1
                else:
                    new = {
                        "status": FAILED,
                        "attempts": attempts,
                        "last_error": f.reply,
                        "updated_at": utc_iso(now),
                    }
                    report.failed += 1
                report.errors.append(f"alert mail {key} (rule {doc.get('rule')}): {f.reply}")
                log.warning("alert mail %s not delivered (%s): %s", key, new["status"], f.reply)
                es.update(
                    index=ledger.index,
                    id=key,
                    doc=new,
                    if_seq_no=claim["_seq_no"],
                    if_primary_term=claim["_primary_term"],
                )
                if f.connection:
                    break  # the server is unreachable: the rest stay pending, untouched, for the next run
                continue
            es.update(
                index=ledger.index,
                id=key,
                doc={
                    "status": SENT,
                    "attempts": attempts,
                    "sent_at": utc_iso(now),
                    "updated_at": utc_iso(now),
                    "last_error": "; ".join(f"refused {r}: {m}" for r, m in refused.items()) or None,
                },
            )
            report.sent += 1
            for r in doc["recipients"]:
                report.mails_by_recipient[r] = report.mails_by_recipient.get(r, 0) + 1
    ledger.refresh()
    return report


def send_alerts(
    es: Elasticsearch,
    settings: Settings,
    rules: list[AlertRule],
    articles: list[Article],
    now: datetime | None = None,
    signals: list[dict[str, Any]] | None = None,
) -> AlertReport:
    """Match articles and event signals against the rules, record and schedule alerts, deliver what is due."""
    return send_alert_chunks(es, settings, rules, [(articles, signals or [])], now)


def send_alert_chunks(
    es: Elasticsearch,
    settings: Settings,
    rules: list[AlertRule],
    chunks: Iterable[tuple[list[Article], list[dict[str, Any]]]],
    now: datetime | None = None,
) -> AlertReport:
    """:func:`send_alerts` over (articles, signals) chunks read one at a time: one mail per rule and recipient.

    Each chunk's matches are recorded in the ledger before the next chunk is read, and the mails
    are planned from the ledger once, after the last: memory holds one chunk, not every article
    of a long cycle, and the mails are the same as if every article had come at once.
    """
    now = now or datetime.now(timezone.utc)
    report = AlertReport()
    ledger = AlertLedger(es, settings)
    ledger.ensure()
    config = smtp_config(settings)
    for articles, signals in chunks:
        items = collect_items(es, settings, rules, articles, signals, now)
        report.matched += len(items)
        record_items(ledger, rules, items, report, now)
    schedule_and_store(ledger, settings, rules, config.mail_from, report, now)
    deliver_pending(es, settings, report, now, config)
    return report

"""Alert outbox (in Elasticsearch) and SMTP delivery that never loses or repeats a mail.

Every alert is first written to the outbox with ``op_type=create`` under its
idempotency key (rule + article, or rule + signal), so an article alerts a rule at most
once across runs and restarts. Delivery then moves it pending -> sending -> sent.

Delivery semantics: **at least once, with a stable Message-ID**. The rendered message
(with its Message-ID derived from the idempotency key) is stored before sending. If the
process dies after the SMTP server accepted a mail but before the outbox recorded
``sent``, the alert is left in ``sending``; after ``STALE_SENDING`` it is sent again with
the same Message-ID, which mail clients and most servers use to fold the copy. A mail is
never lost; in that one crash window it may be delivered twice with the same id.

Transient SMTP failures (4xx replies, connection refused/timeouts) are retried with
exponential backoff; permanent ones (5xx) are marked ``failed`` with the server's reply.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import logging
import smtplib
import socket
import ssl
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from elasticsearch import ConflictError, Elasticsearch, NotFoundError

from alerts.match import RuleMatch, match_articles
from alerts.render import build_message
from alerts.rules import AlertRule
from rasad.es import single_index
from rasad.records import Article, utc_iso
from rasad.settings import Settings

log = logging.getLogger(__name__)
STALE_SENDING = timedelta(minutes=10)
MAX_ATTEMPTS = 8
PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed"


@dataclass
class AlertReport:
    matched: int = 0
    queued: int = 0
    already_alerted: int = 0
    sent: int = 0
    retry_later: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


def alert_key(rule: str, subject_id: str) -> str:
    """Idempotency key of an alert: one per (rule, article) or (rule, signal)."""
    return hashlib.sha256(f"{rule}\x00{subject_id}".encode()).hexdigest()[:32]


def message_id_for(key: str) -> str:
    """Stable Message-ID for an alert, so a resend after a crash is recognisably the same mail."""
    return f"<{key}@rasad.alerts>"


def queue_matches(es: Elasticsearch, settings: Settings, rules: dict[str, AlertRule], matches: list[RuleMatch],
                  report: AlertReport, now: datetime) -> None:  # fmt: skip
    """Write one outbox entry per new (rule, article) match; existing keys are left alone."""
    index = single_index(settings, "alerts")
    for m in matches:
        rule = rules[m.rule]
        key = alert_key(rule.name, m.article.id)
        msg = build_message(
            rule, [m], mail_from=settings.mail_from, rules_file=settings.rules_file,
            kibana_url=settings.kibana_url, message_id=message_id_for(key), date=now,
        )  # fmt: skip
        doc = {
            "id": key, "rule": rule.name, "kind": "article", "mode": rule.mode, "status": PENDING,
            "recipients": list(rule.recipients), "subject": str(msg["Subject"]), "article_ids": [m.article.id],
            "event_id": m.article.event_id, "message_id": message_id_for(key), "attempts": 0,
            "created_at": utc_iso(now), "updated_at": utc_iso(now), "next_attempt_at": utc_iso(now),
            "payload": {"raw": msg.as_string(), "reasons": m.reasons},
        }  # fmt: skip
        try:
            es.create(index=index, id=key, document=doc, refresh="wait_for")
            report.queued += 1
        except ConflictError:
            report.already_alerted += 1


def _smtp_send(settings: Settings, raw: str, recipients: list[str]) -> None:
    msg = email.message_from_string(raw, policy=email.policy.SMTP)
    if settings.smtp_ssl:
        conn: smtplib.SMTP = smtplib.SMTP_SSL(settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout,
                                              context=ssl.create_default_context())  # fmt: skip
    else:
        conn = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout)
    try:
        if settings.smtp_starttls and not settings.smtp_ssl:
            conn.starttls(context=ssl.create_default_context())
        if settings.smtp_user and settings.smtp_password:
            conn.login(settings.smtp_user, settings.smtp_password)
        conn.send_message(msg, to_addrs=recipients)
    finally:
        try:
            conn.quit()
        except (smtplib.SMTPException, OSError):
            conn.close()


def _classify(exc: Exception) -> tuple[bool, str]:
    """(transient?, reply text) for an SMTP failure."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [c for c, _ in exc.recipients.values()]
        text = "; ".join(f"{r}: {c} {m.decode(errors='replace') if isinstance(m, bytes) else m}"
                         for r, (c, m) in exc.recipients.items())  # fmt: skip
        return all(400 <= c < 500 for c in codes), text
    if isinstance(exc, smtplib.SMTPResponseException):
        msg = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        return 400 <= exc.smtp_code < 500, f"{exc.smtp_code} {msg}"
    if isinstance(exc, (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError, ConnectionError,
                        socket.timeout, TimeoutError, OSError)):  # fmt: skip
        return True, f"{type(exc).__name__}: {exc}"
    return False, f"{type(exc).__name__}: {exc}"


def deliver_pending(es: Elasticsearch, settings: Settings, report: AlertReport, now: datetime | None = None) -> None:
    """Send every due outbox entry (pending, or stuck in sending), recording each outcome."""
    now = now or datetime.now(timezone.utc)
    index = single_index(settings, "alerts")
    try:
        es.indices.refresh(index=index)
        res = es.search(
            index=index, size=500, seq_no_primary_term=True, sort=[{"created_at": "asc"}],
            query={"bool": {"should": [
                {"bool": {"filter": [{"term": {"status": PENDING}}, {"range": {"next_attempt_at": {"lte": utc_iso(now)}}}]}},
                {"bool": {"filter": [{"term": {"status": SENDING}}, {"range": {"updated_at": {"lte": utc_iso(now - STALE_SENDING)}}}]}},
            ], "minimum_should_match": 1}},
        )  # fmt: skip
    except NotFoundError:
        return
    for hit in res["hits"]["hits"]:
        doc = hit["_source"]
        key = hit["_id"]
        try:
            # Claim it: a concurrent worker that claimed it first makes this fail, so one sender only.
            upd = es.update(index=index, id=key, if_seq_no=hit["_seq_no"], if_primary_term=hit["_primary_term"],
                            doc={"status": SENDING, "updated_at": utc_iso(now)}, refresh="wait_for")  # fmt: skip
        except ConflictError:
            continue
        attempts = int(doc.get("attempts") or 0) + 1
        try:
            _smtp_send(settings, doc["payload"]["raw"], doc["recipients"])
        except Exception as exc:  # classified below; one bad mail never stops the others
            transient, reply = _classify(exc)
            if transient and attempts < MAX_ATTEMPTS:
                delay = timedelta(seconds=min(3600, 30 * 2 ** (attempts - 1)))
                new = {"status": PENDING, "attempts": attempts, "last_error": reply,
                       "next_attempt_at": utc_iso(now + delay), "updated_at": utc_iso(now)}  # fmt: skip
                report.retry_later += 1
            else:
                new = {"status": FAILED, "attempts": attempts, "last_error": reply, "updated_at": utc_iso(now)}
                report.failed += 1
            report.errors.append(f"alert {key} ({doc.get('rule')}): {reply}")
            log.warning("alert %s not delivered: %s", key, reply)
            es.update(index=index, id=key, doc=new, if_seq_no=upd["_seq_no"], if_primary_term=upd["_primary_term"],
                      refresh="wait_for")  # fmt: skip
            continue
        es.update(index=index, id=key, refresh="wait_for",
                  doc={"status": SENT, "attempts": attempts, "sent_at": utc_iso(now), "updated_at": utc_iso(now),
                       "last_error": None})  # fmt: skip
        report.sent += 1


def send_alerts(es: Elasticsearch, settings: Settings, rules: list[AlertRule], articles: list[Article],
                now: datetime | None = None) -> AlertReport:  # fmt: skip
    """Match new articles against the rules, queue new alerts, and deliver everything due."""
    now = now or datetime.now(timezone.utc)
    report = AlertReport()
    matches = match_articles(rules, articles)
    report.matched = len(matches)
    queue_matches(es, settings, {r.name: r for r in rules}, matches, report, now)
    deliver_pending(es, settings, report, now)
    return report

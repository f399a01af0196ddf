"""What to record and what to mail: dedup, near-duplicate folding, snooze, throttle, digest windows.

Pure logic over an ``OutboxView`` (what the outbox already holds), so the pipeline
(alerts/deliver.py) and ``rasad alerts preview`` run the very same decisions; the first
writes them to Elasticsearch, the second only prints them.

Item statuses: ``queued`` (waiting for a mail), ``mailed`` (in a mail), ``folded``
(a near-duplicate shown as "+N more sources" under the item it folded into, never mailed
on its own), ``snoozed`` (matched while the rule was snoozed: recorded, never sent).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Protocol

from alerts.items import ARTICLE, AlertItem, alert_key
from alerts.rules import AlertRule
from rasad.records import parse_iso

QUEUED, MAILED, FOLDED, SNOOZED = "queued", "mailed", "folded", "snoozed"
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


class OutboxView(Protocol):
    """Read-only questions the planner asks of the outbox."""

    def existing_keys(self, keys: list[str]) -> set[str]: ...  # noqa: D102
    def related_items(self, rule: str, ids: list[str]) -> list[AlertItem]: ...  # noqa: D102
    def queued_items(self, rule: str) -> list[AlertItem]: ...  # noqa: D102
    def folded_items(self, rule: str, keys: list[str], since: str) -> list[AlertItem]: ...  # noqa: D102
    def mails_since(self, rule: str, since: datetime) -> int: ...  # noqa: D102
    def mailed_ids(self, rule: str, ids: list[str]) -> set[str]: ...  # noqa: D102


class EmptyOutbox:
    """An outbox that has never sent anything (``preview --include-alerted``)."""

    def existing_keys(self, keys: list[str]) -> set[str]:
        """None of the keys exist."""
        return set()

    def related_items(self, rule: str, ids: list[str]) -> list[AlertItem]:
        """No items."""
        return []

    def queued_items(self, rule: str) -> list[AlertItem]:
        """No items."""
        return []

    def folded_items(self, rule: str, keys: list[str], since: str) -> list[AlertItem]:
        """No items."""
        return []

    def mails_since(self, rule: str, since: datetime) -> int:
        """No mails."""
        return 0

    def mailed_ids(self, rule: str, ids: list[str]) -> set[str]:
        """No mails."""
        return set()


class OverlayOutbox:
    """An outbox view plus items recorded in memory only (a dry run sees its own new items)."""

    def __init__(self, base: OutboxView, added: list[tuple[AlertItem, str]]):
        self.base = base
        self.added = added

    def _added(self, rule: str, status: str) -> list[AlertItem]:
        return [i for i, s in self.added if i.rule == rule and s == status]

    def existing_keys(self, keys: list[str]) -> set[str]:
        """Keys in the base or added here."""
        mine = {i.key for i, _ in self.added}
        return self.base.existing_keys(keys) | (set(keys) & mine)

    def related_items(self, rule: str, ids: list[str]) -> list[AlertItem]:
        """Items of the rule under any of ``ids``."""
        extra = [i for i, _ in self.added if i.rule == rule and set(i.own_ids) & set(ids)]
        return self.base.related_items(rule, ids) + extra

    def queued_items(self, rule: str) -> list[AlertItem]:
        """Queued items of the rule."""
        return self.base.queued_items(rule) + self._added(rule, QUEUED)

    def folded_items(self, rule: str, keys: list[str], since: str) -> list[AlertItem]:
        """Items of the rule recorded since ``since`` that folded into one of ``keys``."""
        mine = [i for i in self._added(rule, FOLDED) if i.folded_into in keys]
        return self.base.folded_items(rule, keys, since) + mine

    def mails_since(self, rule: str, since: datetime) -> int:
        """Mails of the rule created since ``since``."""
        return self.base.mails_since(rule, since)

    def mailed_ids(self, rule: str, ids: list[str]) -> set[str]:
        """Which of ``ids`` already went out in a mail of the rule."""
        return self.base.mailed_ids(rule, ids)


@dataclass
class MailPlan:
    """One mail to create: which rule, which items, which mode, and its idempotency key."""

    key: str
    rule: AlertRule
    mode: str  # immediate | hourly | daily | throttled
    items: list[AlertItem]
    folded: dict[str, list[AlertItem]] = field(default_factory=dict)  # primary key -> near-duplicates
    window: tuple[datetime, datetime] | None = None

    @property
    def article_ids(self) -> list[str]:
        ids = [i.article_id for i in self.items if i.article_id]
        ids += [f.article_id for fs in self.folded.values() for f in fs if f.article_id]
        return list(dict.fromkeys(ids))

    @property
    def signal_ids(self) -> list[str]:
        return [i.signal["id"] for i in self.items if i.signal]


@dataclass
class Waiting:
    """Queued items of a rule that are not due yet (a digest period still open, throttle, snooze)."""

    rule: AlertRule
    items: list[AlertItem]
    due_at: datetime
    why: str


@dataclass
class MailSchedule:
    """The mails due now, crash leftovers to mark mailed, and what waits for later."""

    mails: list[MailPlan] = field(default_factory=list)
    already_mailed: list[str] = field(default_factory=list)  # queued item keys found in an existing mail
    waiting: list[Waiting] = field(default_factory=list)


def hour_start(now: datetime, rule: AlertRule) -> datetime:
    """Start of the clock hour containing ``now`` in the rule's time zone."""
    local = now.astimezone(rule.tz)
    return local.replace(minute=0, second=0, microsecond=0).astimezone(now.tzinfo)


def period_start(rule: AlertRule, now: datetime) -> datetime:
    """The latest digest boundary at or before ``now`` (hourly: the hour; daily: the last send_at)."""
    if rule.mode != "daily":
        return hour_start(now, rule)
    local = now.astimezone(rule.tz)
    h, m = (int(x) for x in rule.send_at.split(":"))
    boundary = datetime.combine(local.date(), time(h, m), tzinfo=rule.tz)
    if boundary > local:
        boundary = datetime.combine(local.date() - DAY, time(h, m), tzinfo=rule.tz)
    return boundary.astimezone(now.tzinfo)


def next_boundary(rule: AlertRule, now: datetime) -> datetime:
    """The next digest boundary after ``now``."""
    start = period_start(rule, now)
    step = DAY if rule.mode == "daily" else HOUR
    # Add in local wall-clock time so a daily digest stays at send_at across DST changes.
    local = (start.astimezone(rule.tz).replace(tzinfo=None) + step).replace(tzinfo=rule.tz)
    return local.astimezone(now.tzinfo)


def _created(item: AlertItem) -> datetime:
    return parse_iso(item.created_at)  # type: ignore[return-value]


def _digest_key(rule: AlertRule, mode: str, boundary: datetime, items: list[AlertItem]) -> str:
    digest = hashlib.sha256("\n".join(sorted(i.key for i in items)).encode()).hexdigest()[:16]
    return alert_key(rule.name, f"digest:{mode}:{boundary.isoformat()}:{digest}")


def mail_key_immediate(item: AlertItem) -> str:
    """Idempotency key of the immediate mail of one item (stable across crashes and restarts)."""
    return alert_key(item.rule, f"mail:{item.key}")


def order_items(items: list[AlertItem]) -> list[AlertItem]:
    """Digest order: newest publication first (then match time, then key), whatever the arrival order."""
    return sorted(items, key=lambda i: (i.published or i.created_at, i.created_at, i.key), reverse=True)


def classify_items(
    rule: AlertRule, items: list[AlertItem], related: list[AlertItem], now: datetime
) -> list[tuple[AlertItem, str]]:
    """Status of each new item of one rule: folded into an earlier near-duplicate, snoozed, or queued."""
    primary_of: dict[str, str] = {}
    for e in related:
        for i in e.own_ids:
            primary_of.setdefault(i, e.folded_into or e.key)
    out: list[tuple[AlertItem, str]] = []
    # Originals before their near-duplicates, so a batch holding both keeps the original as primary.
    for it in sorted(items, key=lambda i: i.duplicate_of is not None):
        if it.type == ARTICLE:
            primary = next((primary_of[i] for i in it.own_ids if i in primary_of), None)
            if primary and primary != it.key:
                it.folded_into = primary
                out.append((it, FOLDED))
                continue
            for i in it.own_ids:
                primary_of.setdefault(i, it.key)
        out.append((it, SNOOZED if rule.snoozed(now) else QUEUED))
    return out


def classify_new(
    view: OutboxView, rules: list[AlertRule], items: list[AlertItem], now: datetime
) -> tuple[list[tuple[AlertItem, str]], int]:
    """New items to record with their status, and how many matches were already alerted."""
    out: list[tuple[AlertItem, str]] = []
    already = 0
    for rule in rules:
        mine: dict[str, AlertItem] = {}
        for it in items:
            if it.rule == rule.name:
                mine.setdefault(it.key, it)
        known = view.existing_keys(list(mine))
        already += len(known)
        fresh = [it for k, it in mine.items() if k not in known]
        ids = sorted({i for it in fresh for i in it.own_ids})
        related = view.related_items(rule.name, ids) if ids else []
        out += classify_items(rule, fresh, related, now)
    return out, already


def schedule_rule(
    rule: AlertRule, queued: list[AlertItem], folded: list[AlertItem], mails_this_hour: int, now: datetime
) -> tuple[list[MailPlan], list[Waiting]]:
    """The mails one rule sends now from its queued items, and what stays queued (and until when)."""
    if not queued:
        return [], []
    by_primary: dict[str, list[AlertItem]] = {}
    for f in folded:
        if f.folded_into:
            by_primary.setdefault(f.folded_into, []).append(f)

    def fold(items: list[AlertItem]) -> dict[str, list[AlertItem]]:
        return {i.key: sorted(by_primary[i.key], key=lambda f: f.key) for i in items if i.key in by_primary}

    queued = sorted(queued, key=lambda i: (i.created_at, i.published or "", i.key))
    if rule.snoozed(now):
        until = parse_iso(rule.snooze_until)
        return [], [Waiting(rule, queued, until, "snoozed")]  # type: ignore[arg-type]
    plans: list[MailPlan] = []
    waiting: list[Waiting] = []
    if rule.mode == "immediate":
        h0 = hour_start(now, rule)
        if rule.throttle_per_hour is None:
            plans += [MailPlan(mail_key_immediate(i), rule, "immediate", [i], fold([i])) for i in queued]
            return plans, waiting
        old = [i for i in queued if _created(i) < h0]
        current = [i for i in queued if _created(i) >= h0]
        used = mails_this_hour
        if old:  # throttled in an hour that has ended: the digest that opens this hour
            old = order_items(old)
            start = min(hour_start(_created(i), rule) for i in old)
            plans.append(
                MailPlan(
                    _digest_key(rule, "throttled", h0, old), rule, "throttled", old, fold(old), (start, h0)
                )
            )
            used += 1
        held = []
        for i in current:
            if used < rule.throttle_per_hour:
                plans.append(MailPlan(mail_key_immediate(i), rule, "immediate", [i], fold([i])))
                used += 1
            else:
                held.append(i)
        if held:
            waiting.append(
                Waiting(rule, held, h0 + HOUR, f"throttled: {rule.throttle_per_hour} mail(s) per hour")
            )
        return plans, waiting
    boundary = period_start(rule, now)
    due = order_items([i for i in queued if _created(i) < boundary])
    later = [i for i in queued if _created(i) >= boundary]
    if due:
        step = DAY if rule.mode == "daily" else HOUR
        start = min(boundary - step, min(_created(i) for i in due))
        plans.append(
            MailPlan(
                _digest_key(rule, rule.mode, boundary, due),
                rule,
                rule.mode,
                due,
                fold(due),
                (start, boundary),
            )
        )
    if later:
        waiting.append(Waiting(rule, later, next_boundary(rule, now), f"{rule.mode} digest"))
    return plans, waiting


def schedule_mails(view: OutboxView, rules: list[AlertRule], now: datetime) -> MailSchedule:
    """Every mail due now for these rules, from the items queued in the outbox."""
    out = MailSchedule()
    for rule in rules:
        queued = view.queued_items(rule.name)
        if not queued:
            continue
        # A crash after a mail was created but before its items were marked leaves them
        # queued; they are in that mail already and must not go out twice.
        mailed = view.mailed_ids(rule.name, [i.subject_id for i in queued])
        leftovers = [i for i in queued if i.subject_id in mailed]
        out.already_mailed += [i.key for i in leftovers]
        queued = [i for i in queued if i.subject_id not in mailed]
        keys = [i.key for i in queued]
        folded = view.folded_items(rule.name, keys, min(i.created_at for i in queued)) if keys else []
        plans, waiting = schedule_rule(
            rule, queued, folded, view.mails_since(rule.name, hour_start(now, rule)), now
        )
        out.mails += plans
        out.waiting += waiting
    return out

"""What to record and what to mail: dedup, folding, snooze, throttle, digests, one inbox per recipient.

Pure logic over an ``LedgerView`` (what the ledger already holds), so the pipeline
(alerts/deliver.py) and ``rasad alerts preview`` run the very same decisions; the first
writes them to Elasticsearch, the second only prints them.

Two levels:

- **Rules** decide what matches and *when* it is due: an item is recorded per (rule,
  article) or (rule, signal) with its status: ``queued`` (waiting for a mail), ``mailed``
  (every recipient of the rule has it), ``folded`` (a near-duplicate shown as "+N more
  sources" under the item it folded into), ``snoozed`` (matched while the rule was
  snoozed: recorded, never sent). Immediate items are due at once, digest items at the end
  of their period in the rule's time zone.
- **Recipients** are the unit of delivery. What is due for one recipient in a cycle, across
  all rules, goes out as: one mail per event thread (signals of an event, and immediate
  articles of an event the recipient follows), one mail with every other immediate article,
  and one digest per (mode, time zone, period). Each article or signal reaches a recipient
  once: a *delivery record* keyed by (recipient, article or signal) says which mail carried it.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any, Protocol

from rasad.alerts.items import ARTICLE, SIGNAL, AlertItem
from rasad.alerts.rules import AlertRule
from rasad.core.records import parse_iso

QUEUED, MAILED, FOLDED, SNOOZED = "queued", "mailed", "folded", "snoozed"
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
IMMEDIATE, EVENT, EVENTS = "immediate", "event", "events"


def delivery_key(recipient: str, subject_id: str) -> str:
    """Idempotency key of one delivery: this article (or signal) reached this recipient."""
    return hashlib.sha256(f"{recipient.lower()}\x00{subject_id}".encode()).hexdigest()[:32]


def thread_key(recipient: str, event_id: str) -> str:
    """Key (and so Message-ID) of the first mail of an event's thread for one recipient."""
    return hashlib.sha256(f"thread\x00{recipient.lower()}\x00{event_id}".encode()).hexdigest()[:32]


def mail_key(recipient: str, group: str, subject_ids: list[str]) -> str:
    """Deterministic key of a recipient's mail: the same due items in the same group give the same key."""
    digest = hashlib.sha256("\n".join(sorted(subject_ids)).encode()).hexdigest()[:16]
    return hashlib.sha256(f"{recipient.lower()}\x00{group}\x00{digest}".encode()).hexdigest()[:32]


class LedgerView(Protocol):
    """Read-only questions the planner asks of the ledger."""

    def existing_keys(self, keys: list[str]) -> set[str]: ...
    def related_items(self, rule: str, ids: list[str]) -> list[AlertItem]: ...
    def queued_items(self, rule: str) -> list[AlertItem]: ...
    def folded_items(self, rule: str, keys: list[str], since: str) -> list[AlertItem]: ...
    def mails_to_since(self, recipient: str, since: datetime) -> int: ...
    def deliveries(self, keys: list[str]) -> dict[str, dict[str, Any]]: ...
    def thread_mails(self, recipient: str, event_ids: list[str]) -> dict[str, list[dict[str, Any]]]: ...


class EmptyLedger:
    """A ledger that has never sent anything (``preview --include-alerted``)."""

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

    def mails_to_since(self, recipient: str, since: datetime) -> int:
        """No mails."""
        return 0

    def deliveries(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        """No deliveries."""
        return {}

    def thread_mails(self, recipient: str, event_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
        """No threads."""
        return {}


class OverlayLedger:
    """A ledger view plus items recorded in memory only (a dry run sees its own new items)."""

    def __init__(self, base: LedgerView, added: list[tuple[AlertItem, str]]):
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
        """Queued items of the rule, oldest first."""
        return sorted(self.base.queued_items(rule) + self._added(rule, QUEUED), key=lambda i: i.created_at)

    def folded_items(self, rule: str, keys: list[str], since: str) -> list[AlertItem]:
        """Folded items pointing at ``keys``."""
        extra = [i for i in self._added(rule, FOLDED) if i.folded_into in set(keys)]
        return self.base.folded_items(rule, keys, since) + extra

    def mails_to_since(self, recipient: str, since: datetime) -> int:
        """Mails to the recipient created since ``since``."""
        return self.base.mails_to_since(recipient, since)

    def deliveries(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        """Delivery records of the base."""
        return self.base.deliveries(keys)

    def thread_mails(self, recipient: str, event_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
        """Earlier mails of these events' threads in the base."""
        return self.base.thread_mails(recipient, event_ids)


@dataclass
class Thread:
    """Where a mail sits in a recipient's thread about one event."""

    event_id: str
    root_key: str  # key of the thread's first mail: its Message-ID is what later mails refer to
    subject: str  # the event's title, the same in every mail of the thread
    is_root: bool
    shown: list[str] = field(default_factory=list)  # article ids earlier mails of the thread showed
    last: dict[str, Any] = field(default_factory=dict)  # the previous mail's state {kinds, source_count, ...}


@dataclass
class MailPlan:
    """One mail to create: for whom, which items, which mode, and its idempotency key."""

    key: str
    rule: AlertRule  # the first rule of the mail: its time zone is the mail's
    mode: str  # immediate | hourly | daily | throttled | event | events
    items: list[AlertItem]
    folded: dict[str, list[AlertItem]] = field(default_factory=dict)  # primary key -> near-duplicates
    window: tuple[datetime, datetime] | None = None
    recipient: str = ""
    rules: list[AlertRule] = field(default_factory=list)  # every rule with an item in the mail
    item_keys: list[str] = field(default_factory=list)  # every rule item the mail carries (merged ones too)
    thread: Thread | None = None

    @property
    def to(self) -> str:
        """The one address the mail goes to."""
        return self.recipient or self.rule.recipients[0]

    @property
    def all_rules(self) -> list[AlertRule]:
        return self.rules or [self.rule]

    @property
    def article_ids(self) -> list[str]:
        ids = [i.article_id for i in self.items if i.article_id]
        ids += [f.article_id for fs in self.folded.values() for f in fs if f.article_id]
        return list(dict.fromkeys(ids))

    @property
    def signal_ids(self) -> list[str]:
        return [s["id"] for i in self.items for s in signals_of(i)]

    @property
    def subject_ids(self) -> list[str]:
        """What the mail delivers: its articles (near-duplicates too) and signals."""
        return self.article_ids + self.signal_ids


def signals_of(item: AlertItem) -> list[dict[str, Any]]:
    """The signals an item carries (a merged event item may carry several of one event)."""
    if item.signal is None:
        return []
    return list(item.signal.get("merged") or [item.signal])


@dataclass
class Waiting:
    """Queued items that are not due yet (a digest period still open, throttle, snooze, a busy peer)."""

    rule: AlertRule
    items: list[AlertItem]
    due_at: datetime
    why: str
    recipient: str = ""


@dataclass
class MailSchedule:
    """The mails due now, items every recipient already has, what waits, and who still lacks what."""

    mails: list[MailPlan] = field(default_factory=list)
    already_mailed: list[str] = field(default_factory=list)  # queued item keys every recipient has
    waiting: list[Waiting] = field(default_factory=list)
    pending: dict[str, set[str]] = field(default_factory=dict)  # queued item key -> recipients lacking it
    deliveries: dict[str, dict[str, Any]] = field(default_factory=dict)  # the records the plan read


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
    view: LedgerView, rules: list[AlertRule], items: list[AlertItem], now: datetime
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


RESERVATION_STALE = timedelta(minutes=10)  # a reservation this old without its mail is a dead run's
KIND_ORDER = {"new": 0, "confirmed": 1, "breaking": 2}


@dataclass
class Due:
    """A rule's item that is due now, and the digest group it is due in (``immediate`` if none)."""

    item: AlertItem
    rule: AlertRule
    group: str
    mode: str
    window: tuple[datetime, datetime] | None = None


def due_items(rule: AlertRule, queued: list[AlertItem], now: datetime) -> tuple[list[Due], list[Waiting]]:
    """Which of a rule's queued items are due now (immediate: all; digests: closed periods) and which wait."""
    if not queued:
        return [], []
    queued = sorted(queued, key=lambda i: (i.created_at, i.published or "", i.key))
    if rule.snoozed(now):
        until = parse_iso(rule.snooze_until)
        return [], [Waiting(rule, queued, until, "snoozed")]  # type: ignore[arg-type]
    if rule.mode == IMMEDIATE:
        return [Due(i, rule, IMMEDIATE, IMMEDIATE) for i in queued], []
    boundary = period_start(rule, now)
    due = [i for i in queued if _created(i) < boundary]
    later = [i for i in queued if _created(i) >= boundary]
    out: list[Due] = []
    if due:
        step = DAY if rule.mode == "daily" else HOUR
        start = min(boundary - step, *(_created(i) for i in due))
        group = f"{rule.mode}|{rule.timezone}|{boundary.isoformat()}"
        out = [Due(i, rule, group, rule.mode, (start, boundary)) for i in due]
    waiting = [Waiting(rule, later, next_boundary(rule, now), f"{rule.mode} digest")] if later else []
    return out, waiting


def _subject_ids(item: AlertItem) -> list[str]:
    """The ids a recipient may already have this item under (an article's original counts too)."""
    if item.type == SIGNAL:
        return [s["id"] for s in signals_of(item)]
    return item.own_ids


def _delivery_state(rec: dict[str, Any] | None, now: datetime) -> str:
    """'had' (a stored mail carries it), 'busy' (a live run is storing one), or 'todo'."""
    if rec is None:
        return "todo"
    if rec.get("mail_exists"):
        return "had"
    made = parse_iso(rec.get("created_at"))
    return "busy" if made is not None and now - made < RESERVATION_STALE else "todo"


@dataclass
class _Entry:
    """One article or event in a recipient's mail, with every rule item it stands for."""

    dues: list[Due]
    folded: list[AlertItem] = field(default_factory=list)
    articles: list[_Entry] = field(default_factory=list)  # event entries: the event's articles

    @property
    def first(self) -> Due:
        return self.dues[0]


def _reasons(dues: list[Due]) -> list[str]:
    """Why an entry is in the mail: each rule with its reasons (an entry may stand for several rules)."""
    out: list[str] = []
    for d in dues:
        why = ", ".join(d.item.reasons)
        line = f"{d.rule.name}: {why}" if why else d.rule.name
        if line not in out:
            out.append(line)
    return out


def _merge_event(dues: list[Due]) -> AlertItem:
    """One item for all due signals of an event: the latest kind leads, every signal is listed."""
    sigs: dict[str, dict[str, Any]] = {}
    for d in dues:
        for s in signals_of(d.item):
            sigs.setdefault(s["id"], s)
    ordered = sorted(sigs.values(), key=lambda s: (KIND_ORDER.get(s.get("kind") or "", 9), s["id"]))
    lead = max(dues, key=lambda d: (KIND_ORDER.get((d.item.signal or {}).get("kind") or "", -1), d.item.key))
    related: list[dict[str, Any]] = []
    for d in dues:
        for r in d.item.related:
            if r not in related:
                related.append(r)
    signal = {k: v for k, v in (lead.item.signal or {}).items() if k != "merged"}
    signal["merged"] = [{k: v for k, v in s.items() if k != "merged"} for s in ordered]
    return dataclasses.replace(lead.item, signal=signal, related=related, reasons=_reasons(dues))


def _item_of(entry: _Entry) -> AlertItem:
    if entry.first.item.type == SIGNAL:
        return _merge_event(entry.dues)
    return dataclasses.replace(entry.first.item, reasons=_reasons(entry.dues))


def _plan(recipient: str, key: str, mode: str, entries: list[_Entry], window=None, thread=None) -> MailPlan:
    items: list[AlertItem] = []
    folded: dict[str, list[AlertItem]] = {}
    dues: list[Due] = []
    for e in entries:
        it = _item_of(e)
        items.append(it)
        dues += e.dues
        if e.folded:
            folded[it.key] = e.folded
        for a in e.articles:
            ai = _item_of(a)
            if e.dues:  # the article is also the event's: say so where it is shown
                also = [
                    f"{d.rule.name}: {(d.item.signal or {}).get('kind') or 'event'} event" for d in e.dues
                ]
                ai = dataclasses.replace(ai, reasons=ai.reasons + list(dict.fromkeys(also)))
            items.append(ai)
            dues += a.dues
            if a.folded:
                folded[ai.key] = a.folded
    rules: list[AlertRule] = []
    for d in dues:
        if d.rule not in rules:
            rules.append(d.rule)
    return MailPlan(
        key,
        rules[0],
        mode,
        items,
        folded,
        window,
        recipient=recipient,
        rules=rules,
        item_keys=list(dict.fromkeys(d.item.key for d in dues)),
        thread=thread,
    )


def _thread(recipient: str, event_id: str, title: str, earlier: list[dict[str, Any]]) -> Thread:
    root = thread_key(recipient, event_id)
    if not earlier:
        return Thread(event_id, root, f"[Rasad] {title}", True)
    first = next((m for m in earlier if m.get("id") == root), earlier[0])
    shown = list(dict.fromkeys(a for m in earlier for a in m.get("article_ids") or []))
    last = ((earlier[-1].get("payload") or {}).get("thread")) or {}
    return Thread(event_id, root, first.get("subject") or f"[Rasad] {title}", False, shown, last)


def plan_recipient(
    view: LedgerView,
    recipient: str,
    dues: list[Due],
    folded_by_key: dict[str, list[AlertItem]],
    now: datetime,
) -> tuple[list[MailPlan], list[Waiting]]:
    """The mails one recipient gets now from the items due for them (none of which they have yet)."""
    plans: list[MailPlan] = []
    waiting: list[Waiting] = []
    # One entry per event (its signals) and per article, whatever number of rules matched it.
    events: dict[str, _Entry] = {}
    articles: dict[str, _Entry] = {}
    for d in dues:
        if d.item.type == SIGNAL:
            ev = d.item.event_id or (d.item.signal or {}).get("id") or d.item.key
            events.setdefault(ev, _Entry([])).dues.append(d)
        else:
            articles.setdefault(d.item.article_id or d.item.key, _Entry([])).dues.append(d)
    for e in articles.values():  # immediate first: an article due now goes out now
        e.dues.sort(key=lambda d: (d.group != IMMEDIATE, d.group))
    # Near-duplicates shown as "+N more sources" under one article are not shown again on their own.
    for e in articles.values():
        seen: set[str] = set()
        for d in e.dues:
            for f in folded_by_key.get(d.item.key, []):
                if f.article_id and f.article_id not in seen and f.article_id != d.item.article_id:
                    seen.add(f.article_id)
                    e.folded.append(f)
        e.folded.sort(key=lambda f: f.key)
    for aid in list(articles):
        holder = next(
            (e for k, e in articles.items() if k != aid and any(f.article_id == aid for f in e.folded)), None
        )
        if holder is not None:
            holder.dues += articles.pop(aid).dues
    # Immediate articles of an event the recipient follows (a signal due now or a thread already
    # open) join that event's mail, so the story stays in one thread and the article is shown once.
    imm_events = sorted({e.first.item.event_id for e in articles.values() if e.first.group == IMMEDIATE
                         and e.first.item.event_id})  # fmt: skip
    earlier = (
        view.thread_mails(recipient, sorted(set(imm_events) | set(events))) if imm_events or events else {}
    )
    for aid, e in list(articles.items()):
        if e.first.group != IMMEDIATE:
            continue
        ev = e.first.item.event_id
        host = None
        for k, sig in events.items():
            ids = {i for d in sig.dues for s in signals_of(d.item) for i in s.get("article_ids") or []}
            if aid in ids or (ev and k == ev):
                host = k
                break
        if host is None and ev and earlier.get(ev):
            events[ev] = _Entry([])
            host = ev
        if host is not None:
            events[host].articles.append(articles.pop(aid))
    # The recipient's throttle: the lowest throttle_per_hour of their rules in this cycle.
    throttles = [d.rule.throttle_per_hour for d in dues if d.rule.throttle_per_hour]
    h0 = hour_start(now, dues[0].rule) if dues else now
    used = view.mails_to_since(recipient, h0) if throttles else 0
    event_plans: list[MailPlan] = []
    for ev in sorted(events):
        e = events[ev]
        sig_items = [d.item for d in e.dues]
        title = sig_items[0].title if sig_items else e.articles[0].first.item.title
        th = _thread(recipient, ev, title, earlier.get(ev, []))
        if e.dues:
            shown_here = {a.first.item.article_id for a in e.articles}
            for d in e.dues:  # what the thread already showed, or this mail shows as an item, is not repeated
                d.item = dataclasses.replace(
                    d.item,
                    related=[r for r in d.item.related if r.get("id") not in shown_here | set(th.shown)],
                )
        # Without a signal this cycle, the thread's new articles are the mail's items.
        e_plan = _plan(recipient, "", EVENT, [e] if e.dues else e.articles, thread=th)
        e_plan.key = th.root_key if th.is_root else mail_key(recipient, f"event|{ev}", e_plan.subject_ids)
        event_plans.append(e_plan)
    if throttles and len(event_plans) > max(1, min(throttles) - used):
        # Past the throttle: this cycle's events fold into one mail (outside their threads).
        folded_in: list[_Entry] = []
        for ev in sorted(events):
            folded_in += [events[ev]] if events[ev].dues else events[ev].articles
        p = _plan(recipient, "", EVENTS, folded_in)
        p.key = mail_key(recipient, EVENTS, p.subject_ids)
        event_plans = [p]
    plans += event_plans
    used += len(event_plans)
    # Every other immediate article: one mail; items of throttled rules wait once the hour is full.
    send, held = [], []
    for e in sorted(articles.values(), key=lambda e: (e.first.item.created_at, e.first.item.key)):
        if e.first.group != IMMEDIATE:
            continue
        limits = [d.rule.throttle_per_hour for d in e.dues if d.group == IMMEDIATE]
        caps = [limit for limit in limits if limit]
        old = _created(e.first.item) < hour_start(now, e.first.rule)
        # Held only when every rule that wants it now is throttled: one unthrottled rule sends it.
        if caps and len(caps) == len(limits) and used >= min(caps) and not old:
            held.append(e)
        else:
            send.append(e)
    for e in send + held:
        articles.pop(e.first.item.article_id or e.first.item.key, None)
    if send:
        # Only items the throttle held in an earlier hour: the "held back" digest that opens this hour.
        held_over = all(
            _created(e.first.item) < hour_start(now, e.first.rule) and e.first.rule.throttle_per_hour
            for e in send
        )
        mode = "throttled" if held_over else IMMEDIATE
        window = None
        if held_over:
            start = min(hour_start(_created(e.first.item), e.first.rule) for e in send)
            window = (start, hour_start(now, send[0].first.rule))
        ordered = (
            send if mode == IMMEDIATE else sorted(send, key=lambda e: _order_key(e.first.item), reverse=True)
        )
        p = _plan(recipient, "", mode, ordered, window)
        p.key = mail_key(recipient, IMMEDIATE, p.subject_ids)
        plans.append(p)
        used += 1
    by_rule: dict[str, list[_Entry]] = {}
    for e in held:
        by_rule.setdefault(e.first.rule.name, []).append(e)
    for group in by_rule.values():
        r = group[0].first.rule
        limit = min(d.rule.throttle_per_hour or 0 for e in group for d in e.dues)
        waiting.append(
            Waiting(
                r,
                [d.item for e in group for d in e.dues],
                hour_start(now, r) + HOUR,
                f"throttled: {limit} mail(s) per hour",
                recipient,
            )  # fmt: skip
        )
    # Digests: one per (mode, time zone, period), leaving out what the recipient already has.
    groups: dict[str, list[_Entry]] = {}
    for e in articles.values():
        groups.setdefault(e.first.group, []).append(e)
    for g in sorted(groups):
        entries = sorted(groups[g], key=lambda e: _order_key(e.first.item), reverse=True)
        d0 = entries[0].first
        start = min(e.first.window[0] for e in entries if e.first.window)
        p = _plan(recipient, "", d0.mode, entries, (start, d0.window[1]) if d0.window else None)
        p.key = mail_key(recipient, g, p.subject_ids)
        plans.append(p)
    return plans, waiting


def _order_key(item: AlertItem) -> tuple:
    return (item.published or item.created_at, item.created_at, item.key)


def schedule_mails(view: LedgerView, rules: list[AlertRule], now: datetime) -> MailSchedule:
    """Every mail due now, one inbox per recipient, from the items queued in the ledger."""
    out = MailSchedule()
    dues: list[Due] = []
    folded_by_key: dict[str, list[AlertItem]] = {}
    queued_of: list[tuple[AlertItem, AlertRule]] = []
    for rule in rules:
        # A fixed order whatever order the store returns ties in: preview and cycle plan alike.
        queued = sorted(view.queued_items(rule.name), key=lambda i: (i.created_at, i.published or "", i.key))
        if not queued:
            continue
        queued_of += [(i, rule) for i in queued]
        for f in view.folded_items(rule.name, [i.key for i in queued], min(i.created_at for i in queued)):
            folded_by_key.setdefault(f.folded_into or "", []).append(f)
        d, w = due_items(rule, queued, now)
        dues += d
        out.waiting += w
    keys = sorted(
        {delivery_key(r, s) for i, rule in queued_of for r in rule.recipients for s in _subject_ids(i)}
    )
    out.deliveries = view.deliveries(keys) if keys else {}
    due_keys = {d.item.key for d in dues}
    per_recipient: dict[str, list[Due]] = {}
    due_of = {d.item.key: d for d in dues}
    for item, rule in queued_of:
        lacking = out.pending.setdefault(item.key, set())
        for r in rule.recipients:
            states = [
                _delivery_state(out.deliveries.get(delivery_key(r, s)), now) for s in _subject_ids(item)
            ]
            if "had" in states:
                continue  # the recipient has it (from another rule, an earlier cycle, or its original)
            lacking.add(r)
            if "busy" in states:
                out.waiting.append(
                    Waiting(rule, [item], now + RESERVATION_STALE, "another run is mailing it", r)
                )
            elif item.key in due_keys:
                per_recipient.setdefault(r, []).append(due_of[item.key])
        if not lacking:
            out.already_mailed.append(item.key)
    for r in sorted(per_recipient):
        plans, waiting = plan_recipient(view, r, per_recipient[r], folded_by_key, now)
        out.mails += plans
        out.waiting += waiting
    return out

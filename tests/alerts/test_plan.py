"""Digest windows, throttle and folding decisions (pure: alerts/plan.py over an in-memory ledger)."""

from __future__ import annotations

import textwrap
from datetime import datetime, timezone

from rasad.alerts.items import ARTICLE, AlertItem
from rasad.alerts.plan import (
    FOLDED,
    QUEUED,
    SNOOZED,
    EmptyLedger,
    OverlayLedger,
    classify_items,
    delivery_key,
    due_items,
    next_boundary,
    period_start,
    schedule_mails,
)
from rasad.alerts.rules import validate_rules
from tests.alerts.conftest import at


def rule(mode: str = "immediate", tz: str = "UTC", extra: str = "", name: str = "r"):
    rules, problems = validate_rules(
        textwrap.dedent(f"""
        rules:
          - name: {name}
            keywords: [x]
            recipients: [a@example.org]
            mode: {mode}
            timezone: {tz}
            {extra}
    """)
    )
    assert problems == [], problems
    return rules[0]


def item(n: int, created: str, dup: str | None = None, rule_name: str = "r") -> AlertItem:
    return AlertItem(
        key=f"k{n}" if rule_name == "r" else f"{rule_name}-k{n}",
        rule=rule_name,
        type=ARTICLE,
        created_at=created,
        title=f"t{n}",
        article_id=f"a{n}",
        duplicate_of=dup,
        published=created,
    )


def utc(text: str) -> str:
    return at(text).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_daily_boundary_is_send_at_in_the_rule_time_zone_across_dst():
    r = rule("daily", "Europe/Berlin", "send_at: '08:00'")
    # 2025-10-26: Berlin leaves summer time (UTC+2 -> UTC+1).
    assert period_start(r, at("2025-10-25 06:30")) == at("2025-10-25 06:00")  # 08:00 CEST
    assert period_start(r, at("2025-10-25 05:59")) == at("2025-10-24 06:00")
    assert next_boundary(r, at("2025-10-25 06:30")) == at("2025-10-26 07:00")  # 08:00 CET
    riyadh = rule("daily", "Asia/Riyadh", "send_at: '07:30'")
    assert period_start(riyadh, at("2025-11-22 04:29")) == at("2025-11-21 04:30")


def test_hourly_boundaries_follow_half_hour_time_zones():
    r = rule("hourly", "Asia/Kolkata")  # UTC+5:30: local hours start at :30 UTC
    assert period_start(r, at("2025-11-22 10:29")) == at("2025-11-22 09:30")
    assert next_boundary(r, at("2025-11-22 10:29")) == at("2025-11-22 10:30")


def plan(rules, queued, now, view=None):
    return schedule_mails(OverlayLedger(view or EmptyLedger(), [(i, QUEUED) for i in queued]), rules, now)


def test_hourly_digest_takes_only_items_of_closed_periods():
    r = rule("hourly")
    queued = [
        item(1, utc("2025-11-22 09:10")),
        item(2, utc("2025-11-22 09:50")),
        item(3, utc("2025-11-22 10:01")),
    ]
    sched = plan([r], queued, at("2025-11-22 10:02"))
    assert [[i.key for i in p.items] for p in sched.mails] == [["k2", "k1"]]  # newest first
    assert sched.mails[0].window == (at("2025-11-22 09:00"), at("2025-11-22 10:00"))
    assert sched.mails[0].to == "a@example.org"
    [w] = sched.waiting
    assert [i.key for i in w.items] == ["k3"] and w.due_at == at("2025-11-22 11:00")
    again = plan([r], queued[:2], at("2025-11-22 10:30"))
    assert again.mails[0].key == sched.mails[0].key  # same period, same items: same idempotency key


class SentThisHour(EmptyLedger):
    def __init__(self, n: int):
        self.n = n

    def mails_to_since(self, recipient, since):
        return self.n


def test_throttle_counts_the_recipients_mails_of_the_clock_hour():
    r = rule("immediate", extra="throttle_per_hour: 3")
    queued = [item(i, utc("2025-11-22 10:10")) for i in range(5)]
    sched = plan([r], queued, at("2025-11-22 10:20"), SentThisHour(1))  # one mail already this hour
    assert [(p.mode, len(p.items)) for p in sched.mails] == [("immediate", 5)]  # one mail per cycle
    sched = plan([r], queued, at("2025-11-22 10:20"), SentThisHour(3))  # the hour is full: all wait
    assert sched.mails == [] and len(sched.waiting[0].items) == 5 and sched.waiting[0].recipient
    sched = plan([r], queued, at("2025-11-22 11:00"), SentThisHour(0))
    assert [(p.mode, len(p.items)) for p in sched.mails] == [("throttled", 5)]


def test_an_article_of_two_rules_is_one_entry_with_both_reasons_and_never_comes_again():
    r1, r2 = rule(name="r"), rule(name="s")
    i1, i2 = item(1, utc("2025-11-22 10:00")), item(1, utc("2025-11-22 10:00"), rule_name="s")
    i1.reasons, i2.reasons = ["keyword «x»"], ["entity X"]
    [mail] = plan([r1, r2], [i1, i2], at("2025-11-22 10:01")).mails
    assert [i.reasons for i in mail.items] == [["r: keyword «x»", "s: entity X"]]
    assert mail.item_keys == ["k1", "s-k1"] and [x.name for x in mail.rules] == ["r", "s"]

    class Had(EmptyLedger):
        def deliveries(self, keys):
            k = delivery_key("a@example.org", "a1")
            return {k: {"mail_exists": True, "payload": {"mail": "m"}}} if k in keys else {}

    sched = plan([r1, r2], [i1, i2], at("2025-11-22 10:01"), Had())
    assert sched.mails == [] and sorted(sched.already_mailed) == ["k1", "s-k1"]


def test_near_duplicates_fold_into_their_original_even_when_they_arrive_first():
    r = rule()
    items = [
        item(2, "2025-11-22T10:00:00Z", dup="a1"),
        item(1, "2025-11-22T10:00:00Z"),
        item(3, "2025-11-22T10:00:00Z", dup="a1"),
    ]
    out = classify_items(r, items, [], at("2025-11-22 10:00"))
    status = {i.key: (s, i.folded_into) for i, s in out}
    assert status == {"k1": (QUEUED, None), "k2": (FOLDED, "k1"), "k3": (FOLDED, "k1")}
    # The original never matched this rule: the first near-duplicate becomes the primary.
    out = classify_items(
        r,
        [item(5, "2025-11-22T10:00:00Z", dup="a9"), item(6, "2025-11-22T10:00:00Z", dup="a9")],
        [],
        at("2025-11-22 10:00"),
    )
    assert [(i.key, s) for i, s in out] == [("k5", QUEUED), ("k6", FOLDED)]


def test_snoozed_rule_records_snoozed_items_and_holds_queued_ones():
    r = rule(extra="snooze_until: '2025-11-22T12:00:00Z'")
    out = classify_items(r, [item(1, "2025-11-22T10:00:00Z")], [], at("2025-11-22 10:00"))
    assert out[0][1] == SNOOZED
    due, waiting = due_items(r, [item(2, "2025-11-22T09:00:00Z")], at("2025-11-22 10:00"))
    assert due == [] and waiting[0].why == "snoozed" and waiting[0].due_at == at("2025-11-22 12:00")
    assert r.snoozed(at("2025-11-22 11:59")) and not r.snoozed(at("2025-11-22 12:00"))


def test_overlay_lets_a_dry_run_see_its_own_items():
    r = rule()
    new = [(item(1, "2025-11-22T10:00:00Z"), QUEUED), (item(2, "2025-11-22T10:00:00Z", dup="a1"), FOLDED)]
    new[1][0].folded_into = "k1"
    sched = schedule_mails(
        OverlayLedger(EmptyLedger(), new), [r], datetime(2025, 11, 22, 10, tzinfo=timezone.utc)
    )
    [plan] = sched.mails
    assert [i.key for i in plan.items] == ["k1"] and [f.key for f in plan.folded["k1"]] == ["k2"]
    assert plan.article_ids == ["a1", "a2"]

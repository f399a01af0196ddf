"""Digest windows, throttle and folding decisions (pure: alerts/plan.py over an in-memory outbox)."""

from __future__ import annotations

import textwrap
from datetime import datetime, timezone

from alerts.items import ARTICLE, AlertItem
from alerts.plan import (
    FOLDED,
    QUEUED,
    SNOOZED,
    EmptyOutbox,
    OverlayOutbox,
    classify_items,
    next_boundary,
    period_start,
    schedule_mails,
    schedule_rule,
)
from alerts.rules import validate_rules
from tests.alerts.conftest import at


def rule(mode: str = "immediate", tz: str = "UTC", extra: str = ""):
    rules, problems = validate_rules(
        textwrap.dedent(f"""
        rules:
          - name: r
            keywords: [x]
            recipients: [a@example.org]
            mode: {mode}
            timezone: {tz}
            {extra}
    """)
    )
    assert problems == [], problems
    return rules[0]


def item(n: int, created: str, dup: str | None = None) -> AlertItem:
    return AlertItem(
        key=f"k{n}",
        rule="r",
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


def test_hourly_digest_takes_only_items_of_closed_periods():
    r = rule("hourly")
    queued = [
        item(1, utc("2025-11-22 09:10")),
        item(2, utc("2025-11-22 09:50")),
        item(3, utc("2025-11-22 10:01")),
    ]
    plans, waiting = schedule_rule(r, queued, [], 0, at("2025-11-22 10:02"))
    assert [[i.key for i in p.items] for p in plans] == [["k2", "k1"]]  # newest first
    assert plans[0].window == (at("2025-11-22 09:00"), at("2025-11-22 10:00"))
    assert [i.key for i in waiting[0].items] == ["k3"] and waiting[0].due_at == at("2025-11-22 11:00")
    again, _ = schedule_rule(r, queued[:2], [], 0, at("2025-11-22 10:30"))
    assert again[0].key == plans[0].key  # same period, same items: same idempotency key


def test_throttle_counts_mails_of_the_clock_hour():
    r = rule("immediate", extra="throttle_per_hour: 3")
    now = at("2025-11-22 10:20")
    queued = [item(i, utc("2025-11-22 10:10")) for i in range(5)]
    plans, waiting = schedule_rule(r, queued, [], 1, now)  # one mail already this hour
    assert [p.mode for p in plans] == ["immediate", "immediate"] and len(waiting[0].items) == 3
    plans, waiting = schedule_rule(r, waiting[0].items, [], 0, at("2025-11-22 11:00"))
    assert [p.mode for p in plans] == ["throttled"] and waiting == []
    assert len(plans[0].items) == 3


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
    plans, waiting = schedule_rule(r, [item(2, "2025-11-22T09:00:00Z")], [], 0, at("2025-11-22 10:00"))
    assert plans == [] and waiting[0].why == "snoozed" and waiting[0].due_at == at("2025-11-22 12:00")
    assert r.snoozed(at("2025-11-22 11:59")) and not r.snoozed(at("2025-11-22 12:00"))


def test_overlay_lets_a_dry_run_see_its_own_items():
    r = rule()
    new = [(item(1, "2025-11-22T10:00:00Z"), QUEUED), (item(2, "2025-11-22T10:00:00Z", dup="a1"), FOLDED)]
    new[1][0].folded_into = "k1"
    sched = schedule_mails(
        OverlayOutbox(EmptyOutbox(), new), [r], datetime(2025, 11, 22, 10, tzinfo=timezone.utc)
    )
    [plan] = sched.mails
    assert [i.key for i in plan.items] == ["k1"] and [f.key for f in plan.folded["k1"]] == ["k2"]
    assert plan.article_ids == ["a1", "a2"]

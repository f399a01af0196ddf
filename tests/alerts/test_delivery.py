"""Alert delivery against a real SMTP server (aiosmtpd) and a real Elasticsearch ledger: one mail per recipient."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from datetime import timedelta

from rasad.alerts.deliver import STALE_SENDING, AlertReport, deliver_pending, record_and_schedule, send_alerts
from rasad.alerts.ledger import AlertLedger
from rasad.alerts.rules import validate_rules
from rasad.core.settings import PROJECT_ROOT
from tests.alerts.conftest import at, make_article
from tests.alerts.smtp_servers import ScriptedHandler, ScriptedSmtp
from tests.conftest import free_port


def rules_from(text: str):
    rules, problems = validate_rules(textwrap.dedent(text))
    assert problems == []
    return rules


TALIBAN = """
rules:
  - name: taliban
    keywords: [طالبان, Taliban]
    recipients: {recipients}
    mode: {mode}
    timezone: Asia/Riyadh
    {extra}
"""


TWO = "[analyst@example.org, desk@example.org]"


def taliban(mode: str = "immediate", extra: str = "", recipients: str = TWO):
    return rules_from(TALIBAN.format(mode=mode, extra=extra, recipients=recipients))


def taliban1(mode: str = "immediate", extra: str = ""):
    return taliban(mode, extra, "[analyst@example.org]")


def arabic(n: int, source: str = "Source A", **kw):
    return make_article(
        f"موسكو تستقبل وفداً لطالبان للمرة {n}",
        f"قال مسؤول إن وفد طالبان وصل إلى موسكو {n}.",
        source=source,
        url=f"https://a.example/{n}",
        **kw,
    )


def english(n: int, **kw):
    return make_article(
        f"Moscow hosts Taliban delegation, round {n}",
        f"The Taliban delegation arrived {n}.",
        lang="en",
        source="Global Wire",
        url=f"https://b.example/{n}",
        **kw,
    )


def ledger_docs(es, settings, kind):
    return AlertLedger(es, settings).all_docs(kind)


def test_one_mail_per_recipient_with_every_article_of_the_cycle(es, smtp):
    now = at("2025-11-22 10:05")
    rep = send_alerts(es, smtp.settings, taliban(), [arabic(1), english(1), make_article("طقس جدة")], now=now)
    assert (rep.matched, rep.queued, rep.mails_created, rep.sent, rep.failed) == (2, 2, 2, 2, 0)
    assert rep.mails_by_recipient == {"analyst@example.org": 1, "desk@example.org": 1}
    assert len(smtp.received) == 2
    for r in smtp.received:
        msg = r.message
        assert r.rcpt_tos == [msg["To"]]  # one recipient per message, and the header names only them
        assert msg.get_content_type() == "multipart/alternative"
        assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
        assert msg["X-Rasad-Rule"] == "taliban"
        assert msg["Subject"].startswith("[Rasad] taliban: 2 new articles: ")
        text = msg.get_body(("plain",)).get_content()
        assert "للمرة 1" in text and "round 1" in text
    assert sorted(r.rcpt_tos[0] for r in smtp.received) == ["analyst@example.org", "desk@example.org"]
    mails = ledger_docs(es, smtp.settings, "mail")
    assert {m["status"] for m in mails} == {"sent"} and all(m["attempts"] == 1 for m in mails)
    assert {m["message_id"] for m in mails} == {r.message["Message-ID"] for r in smtp.received}
    assert {d["status"] for d in ledger_docs(es, smtp.settings, "item")} == {"mailed"}
    assert len(ledger_docs(es, smtp.settings, "delivery")) == 4  # 2 articles x 2 recipients


def test_hourly_digest_groups_the_hour_in_the_rule_time_zone(es, smtp):
    rules = taliban("hourly")
    s = smtp.settings
    # 10:05 and 10:40 UTC are 13:05 and 13:40 in Riyadh: one digest for 13:00-14:00, sent after 14:00.
    assert send_alerts(es, s, rules, [arabic(1), english(1)], now=at("2025-11-22 10:05")).sent == 0
    assert send_alerts(es, s, rules, [arabic(2)], now=at("2025-11-22 10:40")).sent == 0
    rep = send_alerts(es, s, rules, [arabic(3)], now=at("2025-11-22 11:02"))
    assert (rep.sent, rep.waiting) == (2, 1)  # one digest per recipient
    assert len(smtp.received) == 2
    digest = smtp.received[0].message
    assert digest["Subject"] == "[Rasad] taliban: 3 articles (hourly digest 13:00–14:00 Asia/Riyadh)"
    text = digest.get_body(("plain",)).get_content()
    assert "للمرة 1" in text and "round 1" in text and "للمرة 2" in text and "للمرة 3" not in text
    rep = send_alerts(es, s, rules, [], now=at("2025-11-22 12:00"))
    assert rep.sent == 2 and len(smtp.received) == 4
    assert "للمرة 3" in smtp.received[2].message.get_body(("plain",)).get_content()
    assert send_alerts(es, s, rules, [], now=at("2025-11-22 13:00")).sent == 0


def test_throttle_caps_mails_per_hour_per_recipient_and_holds_the_rest_for_the_next_hour(es, smtp):
    rules = taliban("immediate", "throttle_per_hour: 2")
    s = smtp.settings
    rep = send_alerts(es, s, rules, [arabic(i) for i in range(1, 6)], now=at("2025-11-22 10:00"))
    assert (rep.queued, rep.sent, rep.waiting) == (5, 2, 0)  # five articles, one mail per recipient
    assert send_alerts(es, s, rules, [arabic(6)], now=at("2025-11-22 10:30")).sent == 2
    rep = send_alerts(es, s, rules, [arabic(7), arabic(8)], now=at("2025-11-22 10:40"))
    assert (rep.sent, rep.waiting) == (0, 4)  # two mails each this hour already: both wait, for each
    rep = send_alerts(es, s, rules, [], now=at("2025-11-22 11:00"))
    assert rep.sent == 2
    digest = smtp.received[4].message
    assert "2 articles" in digest["Subject"] and "held back by the throttle" in digest["Subject"]
    text = digest.get_body(("plain",)).get_content()
    assert all(f"للمرة {i}" in text for i in (7, 8))
    per_hour: dict[tuple, int] = {}
    for m in ledger_docs(es, s, "mail"):
        k = (m["recipients"][0], m["created_at"][:13])
        per_hour[k] = per_hour.get(k, 0) + 1
    assert max(per_hour.values()) <= 2
    assert len(smtp.received) == 6


def _run_in_fresh_process(settings, rules_text: str, articles, now: str) -> dict:
    """send_alerts in a new Python process: nothing survives from this one but the ledger."""
    code = textwrap.dedent("""
        import dataclasses, json, sys
        from rasad.alerts.deliver import send_alerts
        from rasad.alerts.rules import validate_rules
        from rasad.core.es import make_client
        from rasad.core.records import Article, parse_iso
        from rasad.core.settings import load_settings
        data = json.load(sys.stdin)
        s = load_settings().replace(rules_file=data["rules_file"])
        rules, problems = validate_rules(data["rules"])
        assert not problems, problems
        rep = send_alerts(make_client(s), s, rules, [Article.from_doc(d) for d in data["articles"]],
                          now=parse_iso(data["now"]))
        print(json.dumps(dataclasses.asdict(rep)))
    """)
    env = {
        **os.environ,
        "RASAD_SMTP_HOST": settings.smtp_host,
        "RASAD_SMTP_PORT": str(settings.smtp_port),
        "RASAD_ES_URL": settings.es_url,
        "RASAD_INDEX_PREFIX": settings.index_prefix,
    }
    payload = json.dumps(
        {
            "rules": rules_text,
            "articles": [a.to_doc() for a in articles],
            "now": now,
            "rules_file": settings.rules_file,
        }
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        input=payload,
        capture_output=True,
        text=True,
        env=env,
        cwd=PROJECT_ROOT,
        timeout=120,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_dedup_across_two_runs_and_across_a_restart(es, smtp):
    text = TALIBAN.format(mode="immediate", extra="", recipients=TWO)
    rules = rules_from(text)
    batch = [arabic(1), english(1)]
    first = send_alerts(es, smtp.settings, rules, batch, now=at("2025-11-22 10:00"))
    assert first.sent == 2
    second = send_alerts(es, smtp.settings, rules, [*batch, arabic(2)], now=at("2025-11-22 10:05"))
    assert (second.already_alerted, second.queued, second.sent) == (2, 1, 2)
    # A restart: a new process with nothing in memory sees the same articles again.
    third = _run_in_fresh_process(
        smtp.settings, textwrap.dedent(text), [*batch, arabic(2)], "2025-11-22T10:10:00Z"
    )
    assert (third["already_alerted"], third["queued"], third["sent"]) == (3, 0, 0)
    assert len(smtp.received) == 4
    assert len({r.message["Message-ID"] for r in smtp.received}) == 4


def test_near_duplicates_fold_into_the_first_alert(es, smtp):
    original = arabic(1)
    dups = [arabic(1, source=f"Source {c}", duplicate_of=original.id) for c in "BCD"]
    for d, c in zip(dups, "bcd", strict=True):
        d.url = d.canonical_url = f"https://{c}.example/1"
    rep = send_alerts(
        es, smtp.settings, taliban(), [dups[0], original, dups[1], dups[2]], now=at("2025-11-22 10:00")
    )
    assert (rep.queued, rep.folded, rep.sent) == (1, 3, 2)
    msg = smtp.received[0].message
    assert msg["Subject"].endswith("(+3 more sources)")
    text = msg.get_body(("plain",)).get_content()
    assert "+3 مصادر أخرى: Source B, Source C, Source D" in text and "Source D: https://d.example/1" in text
    assert "+3 مصادر أخرى: <bdi>Source B</bdi>، " in msg.get_body(("html",)).get_content().replace(
        '<a href="https://b.example/1">', ""
    ).replace("</a>", "")
    # A later near-duplicate of an alert already sent is recorded, not mailed again.
    late = arabic(1, source="Source E", duplicate_of=original.id)
    late.url = late.canonical_url = "https://e.example/1"
    rep = send_alerts(es, smtp.settings, taliban(), [late], now=at("2025-11-22 10:20"))
    assert (rep.folded, rep.sent) == (1, 0)
    assert len(smtp.received) == 2


def test_snoozed_rule_records_but_sends_nothing_until_the_snooze_ends(es, smtp):
    rules = taliban("immediate", "snooze_until: '2025-11-22T15:00'")  # Riyadh time = 12:00 UTC
    assert rules[0].snooze_until == "2025-11-22T12:00:00Z"
    rep = send_alerts(es, smtp.settings, rules, [arabic(1)], now=at("2025-11-22 10:00"))
    assert (rep.snoozed, rep.sent) == (1, 0)
    rep = send_alerts(es, smtp.settings, rules, [arabic(1), arabic(2)], now=at("2025-11-22 12:30"))
    assert (rep.already_alerted, rep.queued, rep.sent) == (1, 1, 2)
    assert [r.message["Subject"] for r in smtp.received] == [
        "[Rasad] taliban: موسكو تستقبل وفداً لطالبان للمرة 2"
    ] * 2


def test_451_is_retried_with_backoff_then_delivered_once(es, ledger_settings):
    port = free_port()
    handler = ScriptedHandler(data_replies=["451 4.7.1 Greylisted, please try again later"])
    s = ledger_settings.replace(smtp_port=port)
    with ScriptedSmtp(port, handler) as server:
        t0 = at("2025-11-22 10:00")
        rep = send_alerts(es, s, taliban1(), [arabic(1)], now=t0)
        assert (rep.sent, rep.retry_later, rep.failed) == (0, 1, 0)
        [mail] = ledger_docs(es, s, "mail")
        assert (mail["status"], mail["attempts"]) == ("pending", 1)
        assert mail["last_error"] == "451 4.7.1 Greylisted, please try again later"
        assert mail["next_attempt_at"] == "2025-11-22T10:00:30Z"
        assert deliver_pending(es, s, now=t0 + timedelta(seconds=10)).sent == 0  # not due yet
        assert deliver_pending(es, s, now=t0 + timedelta(seconds=31)).sent == 1
        assert deliver_pending(es, s, now=t0 + timedelta(hours=2)).sent == 0
        assert handler.data_attempts == 2 and len(server.received) == 1
        [mail] = ledger_docs(es, s, "mail")
        assert (mail["status"], mail["attempts"], mail["last_error"]) == ("sent", 2, None)


def test_550_is_marked_failed_with_the_server_reply(es, ledger_settings):
    port = free_port()
    handler = ScriptedHandler(data_replies=["550 5.7.1 Message rejected by policy (rasad-test)"])
    s = ledger_settings.replace(smtp_port=port)
    with ScriptedSmtp(port, handler) as server:
        rep = send_alerts(es, s, taliban1(), [arabic(1)], now=at("2025-11-22 10:00"))
        assert (rep.sent, rep.retry_later, rep.failed) == (0, 0, 1)
        assert "550 5.7.1 Message rejected by policy (rasad-test)" in rep.errors[0]
        [mail] = ledger_docs(es, s, "mail")
        assert (mail["status"], mail["attempts"]) == ("failed", 1)
        assert mail["last_error"] == "550 5.7.1 Message rejected by policy (rasad-test)"
        assert deliver_pending(es, s, now=at("2025-11-23 10:00")).sent == 0  # never retried
        assert handler.data_attempts == 1 and server.received == []


def test_550_for_one_recipient_fails_only_that_recipients_mail(es, ledger_settings):
    port = free_port()
    handler = ScriptedHandler(rcpt_replies={"desk@example.org": "550 5.1.1 <desk@example.org>: no such user"})
    s = ledger_settings.replace(smtp_port=port)
    with ScriptedSmtp(port, handler) as server:
        rep = send_alerts(es, s, taliban(), [arabic(1)], now=at("2025-11-22 10:00"))
        assert (rep.sent, rep.failed) == (1, 1) and [r.rcpt_tos for r in server.received] == [
            ["analyst@example.org"]
        ]
        mails = {m["recipients"][0]: m for m in ledger_docs(es, s, "mail")}
        assert mails["analyst@example.org"]["status"] == "sent"
        assert mails["desk@example.org"]["status"] == "failed"
        assert "550 5.1.1 <desk@example.org>: no such user" in mails["desk@example.org"]["last_error"]


def test_smtp_down_loses_nothing_and_the_next_run_delivers_each_mail_once(es, ledger_settings):
    port = free_port()  # nobody listens: connection refused
    s = ledger_settings.replace(smtp_port=port)
    t0 = at("2025-11-22 10:00")
    rep = send_alerts(es, s, taliban(), [arabic(1), arabic(2), english(1)], now=t0)
    assert (rep.queued, rep.mails_created, rep.sent, rep.failed) == (3, 2, 0, 0)
    assert rep.retry_later == 1  # the first attempt found the server down; the other was not tried
    assert {m["status"] for m in ledger_docs(es, s, "mail")} == {"pending"}
    with ScriptedSmtp(port) as server:
        rep = send_alerts(es, s, taliban(), [arabic(1), arabic(2), english(1)], now=t0 + timedelta(minutes=5))
        assert (rep.already_alerted, rep.sent) == (3, 2)
        assert send_alerts(es, s, taliban(), [], now=t0 + timedelta(minutes=10)).sent == 0
        assert len(server.received) == 2
        assert len({r.message["Message-ID"] for r in server.received}) == 2
    assert {m["status"] for m in ledger_docs(es, s, "mail")} == {"sent"}


def test_a_day_long_smtp_outage_never_fails_a_mail(es, ledger_settings):
    """Connection failures never use up the retry budget: after a day down, the mail still goes out once."""
    port = free_port()
    s = ledger_settings.replace(smtp_port=port)
    t0 = at("2025-11-22 10:00")
    send_alerts(es, s, taliban1(), [arabic(1)], now=t0)
    for hour in range(1, 25):  # far more tries than MAX_ATTEMPTS, an hour apart (the backoff cap)
        rep = send_alerts(es, s, taliban1(), [], now=t0 + timedelta(hours=hour))
        assert rep.failed == 0
    (mail,) = ledger_docs(es, s, "mail")
    assert mail["status"] == "pending" and mail["attempts"] > 8
    with ScriptedSmtp(port) as server:
        assert send_alerts(es, s, taliban1(), [], now=t0 + timedelta(hours=26)).sent == 1
        assert len(server.received) == 1


def test_crash_after_the_server_accepted_resends_the_same_message_once(es, ledger_settings):
    """The documented semantics: at least once; a mail accepted but not recorded is resent, identical."""
    port = free_port()
    child: dict[str, subprocess.Popen] = {}

    def kill_sender() -> None:  # the server has the message; the sender dies before recording "sent"
        child["p"].send_signal(signal.SIGKILL)
        child["p"].wait(timeout=30)

    handler = ScriptedHandler(on_data=kill_sender)
    s = ledger_settings.replace(smtp_port=port)
    t0 = at("2025-11-22 10:00")
    ledger = AlertLedger(es, s)
    ledger.ensure()
    from rasad.alerts.deliver import collect_items

    record_and_schedule(
        ledger,
        s,
        taliban1(),
        collect_items(es, s, taliban1(), [arabic(1)], None, t0),
        s.mail_from,
        AlertReport(),
        t0,
    )
    code = (
        "from rasad.alerts.deliver import deliver_pending; from rasad.core.es import make_client;"
        "from rasad.core.settings import load_settings; from rasad.core.records import parse_iso;"
        "s = load_settings(); deliver_pending(make_client(s), s, now=parse_iso('2025-11-22T10:00:00Z'))"
    )
    env = {
        **os.environ,
        "RASAD_SMTP_PORT": str(port),
        "RASAD_ES_URL": s.es_url,
        "RASAD_INDEX_PREFIX": s.index_prefix,
    }
    with ScriptedSmtp(port, handler) as server:
        child["p"] = subprocess.Popen([sys.executable, "-c", code], env=env, cwd=PROJECT_ROOT)
        assert child["p"].wait(timeout=120) == -signal.SIGKILL
        handler.on_data = None
        assert len(server.received) == 1
        [mail] = ledger_docs(es, s, "mail")
        assert mail["status"] == "sending"  # accepted by the server, not recorded: the crash window
        # Within STALE_SENDING the claim may belong to a live worker: nothing is sent.
        assert deliver_pending(es, s, now=t0 + STALE_SENDING - timedelta(seconds=1)).sent == 0
        assert deliver_pending(es, s, now=t0 + STALE_SENDING + timedelta(seconds=1)).sent == 1
        assert deliver_pending(es, s, now=t0 + 3 * STALE_SENDING).sent == 0
        assert len(server.received) == 2
        first, second = (r.raw for r in server.received)
        assert first == second  # byte for byte the same message, same Message-ID
        [mail] = ledger_docs(es, s, "mail")
        assert (mail["status"], mail["attempts"]) == ("sent", 1)


def test_event_signal_alerts_once_per_signal(es, smtp):
    rules = rules_from("""
        rules:
          - name: new-security-events
            kind: new_event
            topics: [security.attacks]
            recipients: [desk@example.org]
            timezone: Asia/Riyadh
    """)
    sig = {
        "id": "ev42:new",
        "kind": "new",
        "event_id": "ev42",
        "entity_id": None,
        "topic_id": None,
        "at": "2025-09-18T12:45:00Z",
        "title": "«داعش خراسان» يتبنى هجوماً في بدخشان",
        "titles": {"ar": "«داعش خراسان» يتبنى هجوماً في بدخشان", "en": "ISIS-K claims Badakhshan attack"},
        "article_ids": [],
        "entity_ids": ["isis_k"],
        "topic_ids": ["security.attacks"],
        "source_count": 2,
        "article_count": 3,
    }
    other = {**sig, "id": "ev43:new", "event_id": "ev43", "topic_ids": ["economy"]}
    confirmed = {**sig, "id": "ev42:confirmed", "kind": "confirmed"}
    rep = send_alerts(
        es, smtp.settings, rules, [], now=at("2025-11-22 10:00"), signals=[sig, other, confirmed]
    )
    assert (rep.matched, rep.sent) == (1, 1)
    msg = smtp.received[0].message
    assert (
        msg["Subject"] == "[Rasad] «داعش خراسان» يتبنى هجوماً في بدخشان"
    )  # the event's title: the thread's subject
    page = msg.get_body(("html",)).get_content()
    assert 'dir="rtl" lang="ar"' in page and '<div class="title-alt" dir="ltr" lang="en"' in page
    assert "event_id%3A%22ev42%22" in page and "2 sources, 3 articles" in page
    # Signals carry ids; the mail shows the seeds' names for them.
    assert "داعش خراسان" in page and "isis_k" not in page.replace("isis_k%", "")
    text = msg.get_body(("plain",)).get_content()
    assert "security.attacks" not in text
    again = send_alerts(es, smtp.settings, rules, [], now=at("2025-11-22 10:05"), signals=[sig])
    assert (again.already_alerted, again.sent) == (1, 0)
    assert len(smtp.received) == 1

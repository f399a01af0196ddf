"""One inbox, not a flood (issue 11): per-recipient mails across rules, event threads, headers, exactly once.

Real parts only: the demo site on loopback, a real Elasticsearch node, aiosmtpd, the real
``notmuch`` binary, and real subprocesses for concurrent cycles.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
from collections import Counter
from email.utils import getaddresses, parsedate_to_datetime
from pathlib import Path

import pytest

from rasad.alerts.deliver import send_alerts
from rasad.alerts.rules import validate_rules
from rasad.core.settings import PROJECT_ROOT
from tests.alerts.conftest import at, make_article
from tests.alerts.smtp_servers import ScriptedHandler, ScriptedSmtp
from tests.conftest import free_port

URL_RE = re.compile(r"https?://[^\s)]+")


def rules_from(text: str):
    rules, problems = validate_rules(textwrap.dedent(text))
    assert problems == [], problems
    return rules


def article_urls(msg, site: str) -> list[str]:
    """Article links a mail's text shows (the Kibana links are another host)."""
    text = msg.get_body(("plain",)).get_content()
    return [u for u in URL_RE.findall(text) if u.startswith(site)]


def check_headers(msg, recipient: str, everyone: set[str], domain: str) -> None:
    """Bar 4: the headers real mail systems expect, and nobody else's address."""
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["Precedence"] == "bulk"
    assert msg["List-Id"] == f"Rasad alerts <alerts.{domain}>"
    unsub = str(msg["List-Unsubscribe"])
    assert unsub.startswith("<mailto:") and unsub.endswith(">") and "unsubscribe" in unsub
    assert parsedate_to_datetime(str(msg["Date"])).tzinfo is not None
    assert re.fullmatch(rf"<[0-9a-f]{{32}}@{re.escape(domain)}>", str(msg["Message-ID"]))
    for h in ("In-Reply-To", "References"):
        if msg[h]:
            assert re.fullmatch(rf"<[0-9a-f]{{32}}@{re.escape(domain)}>", str(msg[h]))
    assert [a for _, a in getaddresses([str(msg["To"])])] == [recipient]
    assert msg["Cc"] is None and msg["Bcc"] is None
    others = everyone - {recipient}
    head = "\n".join(f"{k}: {v}" for k, v in msg.items())
    assert not any(o in head for o in others), head


# --------------------------------------------------------------------------- bar 1 (and 4) on the demo


def test_demo_cycle_sends_one_inbox_per_recipient(demo_env, es, mail_sink, demo_site, capsys):
    """Bar 1: each recipient gets each article at most once per cycle; the analyst <= 3 mails; +1 for one more."""
    from rasad.pipeline import run_cycle, step_alert
    from rasad.report import print_summary

    s, _rules = demo_env
    summary = run_cycle(s).to_dict()
    es.indices.refresh(index=s.index("articles"))
    first = mail_sink.messages()
    per = Counter(str(m["To"]) for m in first)
    everyone = set(per)
    with capsys.disabled():
        print(f"\n[bar 1] demo cycle 1: {len(first)} mails; per recipient: {dict(sorted(per.items()))}")
        print_summary(summary)
    assert summary["alerts_mails_by_recipient"] == dict(per)
    assert per["analyst@example.org"] <= 3, per
    for rcpt in everyone:
        shown = Counter(u for m in first if str(m["To"]) == rcpt for u in article_urls(m, demo_site.base_url))
        assert shown and max(shown.values()) == 1, (rcpt, shown.most_common(3))
    for m in first:
        check_headers(m, str(m["To"]), everyone, "localhost")

    # A second cycle with one new matching article: exactly one more mail for the analyst.
    hit = es.search(index=s.index("articles"), size=1, query={"match": {"text_search": "طالبان"}},
                    sort=[{"fetched_at": "asc"}])["hits"]["hits"][0]["_source"]  # fmt: skip
    new = dict(hit, url=hit["url"] + "?second", canonical_url=hit["canonical_url"] + "-second",
               title="طالبان وموسكو: جولة ثانية من المحادثات", event_id="ev-second-cycle")  # fmt: skip
    # The new article reaches the index and the work queue says it is done: the next
    # cycle's alert step picks it up (the service's path, without re-fetching a page).
    from datetime import datetime, timezone

    from rasad.core.records import Article
    from rasad.indexing.bulk import index_articles
    from rasad.ingest.queue import WorkQueue

    art = Article.from_doc({k: v for k, v in new.items()
                            if not k.endswith("_search") and k not in ("timestamp", "indexed_at")})  # fmt: skip
    index_articles(es, s, [art])
    q = WorkQueue(es, s)
    now = datetime.now(timezone.utc)
    q.enqueue([(art.id, {"feed_id": art.feed_id, "link": art.url, "guid": None, "title": art.title})], now)
    (batch,) = q.claim("second", now, 10, 10, 60)
    q.complete([(e, "new", e.id, None) for e in q.batch_entries(batch.id)], now)
    alerted = step_alert(s)
    time.sleep(0.3)  # the sink writes the last file after it answers
    second = mail_sink.messages()[len(first) :]
    per2 = Counter(str(m["To"]) for m in second)
    with capsys.disabled():
        print(f"[bar 1] demo cycle 2 (one new matching article): per recipient {dict(sorted(per2.items()))}")
    assert per2["analyst@example.org"] == 1 and alerted["alerts_mails_by_recipient"]["analyst@example.org"] == 1
    [mail] = [m for m in second if str(m["To"]) == "analyst@example.org"]
    assert article_urls(mail, demo_site.base_url) == [new["url"]]
    for m in second:
        check_headers(m, str(m["To"]), everyone | set(per2), "localhost")


# --------------------------------------------------------------------------- bar 2: notmuch threads

THREAD_RULES = """
rules:
  - name: iskp-words
    keywords: [داعش خراسان, ISKP]
    recipients: [analyst@example.org, desk@example.org]
  - name: new-events
    kind: new_event
    topics: [security.attacks]
    recipients: [analyst@example.org]
  - name: confirmed-events
    kind: confirmed_event
    topics: [security.attacks]
    recipients: [analyst@example.org]
"""


def iskp(n: int, event: str = "ev1"):
    return make_article(
        f"«داعش خراسان» يتبنى هجوماً في بدخشان، تقرير {n}",
        f"أعلن تنظيم داعش خراسان مسؤوليته عن الهجوم، بحسب المصدر {n}.",
        source=f"Source {n}",
        url=f"https://news.example/{event}/{n}",
        event_id=event,
    )


def signal(event: str, kind: str, title: str, ids: list[str], sources: int, articles: int) -> dict:
    return {
        "id": f"{event}:{kind}", "kind": kind, "event_id": event, "at": "2025-11-22T10:00:00Z",
        "title": title, "titles": {"ar": title}, "article_ids": ids, "entity_ids": ["isis_k"],
        "topic_ids": ["security.attacks"], "source_count": sources, "article_count": articles,
    }  # fmt: skip


def notmuch(cfg: Path, *args: str) -> str:
    out = subprocess.run(
        ["notmuch", *args], env={**os.environ, "NOTMUCH_CONFIG": str(cfg)}, capture_output=True, text=True,
        timeout=60, check=True,
    )  # fmt: skip
    return out.stdout


def test_notmuch_shows_one_thread_per_event(es, smtp, tmp_path):
    """Bar 2: new-event mail, then more articles, then `confirmed`: one thread; another event: another."""
    if shutil.which("notmuch") is None:
        pytest.skip("notmuch is not installed (scripts/install-system-deps.sh installs it)")
    rules = rules_from(THREAD_RULES)
    s = smtp.settings
    t1 = "«داعش خراسان» يتبنى هجوماً في بدخشان"
    a1, a2, a3, a4 = (iskp(n) for n in range(1, 5))
    b1 = make_article(
        "انقطاع الكهرباء في قندهار", "خبر آخر.", url="https://news.example/ev2/1", event_id="ev2"
    )
    sig1 = signal("ev1", "new", t1, [a1.id], 1, 1)
    sig2 = signal("ev2", "new", "هجوم على محطة كهرباء في قندهار", [b1.id], 1, 1)
    send_alerts(es, s, rules, [a1, b1], now=at("2025-11-22 10:00"), signals=[sig1, sig2])
    send_alerts(es, s, rules, [a2, a3], now=at("2025-11-22 10:20"))
    conf = signal("ev1", "confirmed", t1, [a.id for a in (a1, a2, a3, a4)], 4, 4)
    send_alerts(es, s, rules, [a4], now=at("2025-11-22 10:40"), signals=[conf])

    everyone = {"analyst@example.org", "desk@example.org"}
    for r in smtp.received:
        assert r.rcpt_tos == [str(r.message["To"])]
        check_headers(r.message, r.rcpt_tos[0], everyone, "localhost")
    mine = [r.message for r in smtp.received if r.rcpt_tos == ["analyst@example.org"]]
    ev1 = [m for m in mine if m["X-Rasad-Event"] == "ev1"]
    assert len(ev1) == 3 and len(mine) == 4, [m["Subject"] for m in mine]
    assert {m["Subject"] for m in ev1} == {f"[Rasad] {t1}"}  # the thread's subject stays the event's title
    root = ev1[0]["Message-ID"]
    assert ev1[0]["In-Reply-To"] is None
    assert all(m["In-Reply-To"] == root and m["References"] == root for m in ev1[1:])
    last = ev1[2].get_body(("plain",)).get_content()
    assert (
        "New since the last mail: Confirmed event; now 4 sources, 4 articles (was 1 source, 1 article)"
        in last
    )
    # The keyword hit that is also the new event's article is shown once, in the event mail, with both reasons.
    first_text = ev1[0].get_body(("plain",)).get_content()
    assert first_text.count(a1.url) == 1 and "iskp-words: " in first_text and "new-events: " in first_text

    maildir = tmp_path / "maildir"
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True)
    for n, r in enumerate(smtp.received):
        if r.rcpt_tos == ["analyst@example.org"]:
            (maildir / "new" / f"{n:04d}.eml").write_bytes(r.raw)
    cfg = tmp_path / "notmuch-config"
    cfg.write_text(
        f"[database]\npath={maildir}\n[user]\nname=Analyst\nprimary_email=analyst@example.org\n"
        "[new]\ntags=inbox;\n[search]\nexclude_tags=\n[maildir]\nsynchronize_flags=false\n",
        encoding="utf-8",
    )
    notmuch(cfg, "new", "--quiet")
    threads = json.loads(notmuch(cfg, "search", "--format=json", "*"))
    print("\n[bar 2] notmuch search:", [(t["thread"], t["total"], t["subject"]) for t in threads])
    assert sorted(t["total"] for t in threads) == [1, 3]
    [story] = [t for t in threads if t["total"] == 3]
    assert story["subject"] == f"[Rasad] {t1}"
    ids = notmuch(cfg, "search", "--output=messages", f"thread:{story['thread']}").split()
    assert sorted(ids) == sorted(f"id:{m['Message-ID'].strip('<>')}" for m in ev1)


# --------------------------------------------------------------------------- bar 3: concurrent cycles

CONCURRENT_RULES = """
rules:
  - name: taliban
    keywords: [طالبان]
    recipients: [analyst@example.org, desk@example.org]
  - name: moscow
    keywords: [موسكو]
    recipients: [analyst@example.org]
"""


def _cycle_process(settings, articles, now: str, start_at: float, folder: Path) -> subprocess.Popen:
    """A cycle in its own process that starts send_alerts at ``start_at`` (so two really overlap)."""
    code = textwrap.dedent("""
        import dataclasses, json, sys, time
        from rasad.alerts.deliver import send_alerts
        from rasad.alerts.rules import validate_rules
        from rasad.core.es import make_client
        from rasad.core.records import Article, parse_iso
        from rasad.core.settings import load_settings
        data = json.load(open(sys.argv[1], encoding="utf-8"))
        s = load_settings().replace(rules_file=data["rules_file"])
        rules, _ = validate_rules(data["rules"])
        arts = [Article.from_doc(d) for d in data["articles"]]
        client = make_client(s)
        client.cluster.health()
        time.sleep(max(0.0, data["start_at"] - time.time()))
        rep = send_alerts(client, s, rules, arts, now=parse_iso(data["now"]))
        print(json.dumps(dataclasses.asdict(rep)))
    """)
    env = {**os.environ, "RASAD_SMTP_HOST": settings.smtp_host, "RASAD_SMTP_PORT": str(settings.smtp_port),
           "RASAD_ES_URL": settings.es_url, "RASAD_INDEX_PREFIX": settings.index_prefix}  # fmt: skip
    payload = {"rules": textwrap.dedent(CONCURRENT_RULES), "articles": [a.to_doc() for a in articles],
               "now": now, "rules_file": settings.rules_file, "start_at": start_at}  # fmt: skip
    path = folder / f"cycle-{time.time_ns()}.json"
    path.write_text(json.dumps(payload), encoding="utf-8")
    return subprocess.Popen([sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE, text=True,
                            env=env, cwd=PROJECT_ROOT)  # fmt: skip


def test_two_concurrent_cycles_never_deliver_an_article_twice(es, ledger_settings, tmp_path):
    """Bar 3: two overlapping cycles at once, then a later one: every (recipient, article) exactly once."""
    port = free_port()
    s = ledger_settings.replace(smtp_port=port)
    arts = [
        make_article(
            f"وفد طالبان في موسكو، الجولة {n}",
            f"وصل وفد طالبان إلى موسكو {n}.",
            url=f"https://news.example/c/{n}",
        )  # fmt: skip
        for n in range(1, 19)
    ]
    from rasad.alerts.ledger import AlertLedger

    AlertLedger(es, s).ensure()
    handler = ScriptedHandler()
    with ScriptedSmtp(port, handler) as server:
        for rnd in range(3):  # several tries: each a fresh pair of racing processes, sharing two articles
            batch = arts[rnd * 6 : rnd * 6 + 6]
            start = time.time() + 6
            now = f"2025-11-22T1{rnd}:00:00Z"
            procs = [_cycle_process(s, batch[:4], now, start, tmp_path),
                     _cycle_process(s, batch[2:], now, start, tmp_path)]  # fmt: skip
            reports = [json.loads(p.communicate(timeout=180)[0].strip().splitlines()[-1]) for p in procs]
            assert all(p.returncode == 0 for p in procs)
            print(f"\n[bar 3] round {rnd}: deferred {[r['deferred'] for r in reports]}, "
                  f"sent {[r['sent'] for r in reports]}")  # fmt: skip
        # Past any reservation window: whatever a run deferred goes out now, once.
        send_alerts(es, s, rules_from(CONCURRENT_RULES), [], now=at("2025-11-22 13:00"))
        got = Counter(
            (r.rcpt_tos[0], u)
            for r in server.received
            for u in article_urls(r.message, "https://news.example/")
        )
    assert all(len(r.rcpt_tos) == 1 for r in server.received)
    want = {(rc, a.url) for a in arts for rc in ("analyst@example.org", "desk@example.org")}
    assert set(got) == want, sorted(want - set(got))
    assert max(got.values()) == 1, [k for k, v in got.items() if v > 1]
    print(f"[bar 3] {len(server.received)} mails, {len(got)} (recipient, article) pairs, each exactly once")


def test_a_mail_whose_article_another_mail_reserved_is_not_stored(es, smtp):
    """The conflict path of two runs, made deterministic: the second plan to reserve an article yields."""
    from rasad.alerts.ledger import AlertLedger
    from rasad.alerts.plan import QUEUED, EmptyLedger, OverlayLedger, schedule_mails

    s = smtp.settings
    ledger = AlertLedger(es, s)
    ledger.ensure()
    rules = rules_from(CONCURRENT_RULES)[:1]
    a1, a2, a3 = (make_article(f"طالبان {n}", "طالبان", url=f"https://news.example/r/{n}") for n in (1, 2, 3))
    from rasad.alerts.deliver import collect_items

    now = at("2025-11-22 10:00")

    def plans(arts):
        items = collect_items(es, s, rules, arts, None, now)
        return schedule_mails(OverlayLedger(EmptyLedger(), [(i, QUEUED) for i in items]), rules, now).mails

    [p12, _] = plans([a1, a2])  # run A: articles 1 and 2, for the analyst and the desk
    [p23, _] = plans([a2, a3])  # run B: articles 2 and 3
    assert p12.to == p23.to and p12.key != p23.key
    assert ledger.reserve(p12, {}, now)
    assert ledger.reserve(p12, ledger.deliveries([]), now)  # the same plan again (a crash, a re-run): ours
    assert not ledger.reserve(p23, {}, now)  # article 2 is run A's: B stores nothing, keeps nothing
    ledger.refresh()
    docs = ledger.all_docs("delivery")
    assert sorted(d["article_ids"][0] for d in docs) == sorted([a1.id, a2.id])
    assert {d["payload"]["mail"] for d in docs} == {p12.key}


def test_a_rule_added_later_does_not_resend_what_the_recipient_had(es, smtp):
    """The documented case: a new rule matching an old article records it, and mails nobody who had it."""
    s = smtp.settings
    a = make_article("وفد طالبان في موسكو", "وصل وفد طالبان إلى موسكو.", url="https://news.example/late/1")
    first = rules_from(CONCURRENT_RULES)[:1]
    send_alerts(es, s, first, [a], now=at("2025-11-22 10:00"))
    later = rules_from(
        CONCURRENT_RULES.replace("[analyst@example.org]\n", "[analyst@example.org, new@example.org]\n")
    )
    rep = send_alerts(es, s, later, [a], now=at("2025-11-22 10:05"))
    assert (rep.already_alerted, rep.queued, rep.sent) == (1, 1, 1)  # only the new address gets it
    assert sorted(r.rcpt_tos for r in smtp.received) == [["analyst@example.org"], ["desk@example.org"],
                                                           ["new@example.org"]]  # fmt: skip
    assert dataclasses.asdict(rep)["mails_by_recipient"] == {"new@example.org": 1}


def test_a_crash_between_reserving_and_storing_the_mail_holds_then_sends_once(es, smtp):
    """What a run killed after reserving its deliveries leaves: the articles wait RESERVATION_STALE, then go once."""
    from datetime import timedelta

    from rasad.alerts.deliver import collect_items
    from rasad.alerts.ledger import AlertLedger
    from rasad.alerts.plan import QUEUED, RESERVATION_STALE, EmptyLedger, OverlayLedger, schedule_mails

    s = smtp.settings
    ledger = AlertLedger(es, s)
    ledger.ensure()
    rules = rules_from(CONCURRENT_RULES)[:1]
    arts = [make_article(f"طالبان {n}", "طالبان", url=f"https://news.example/k/{n}") for n in (1, 2)]
    t0 = at("2025-11-22 10:00")
    items = collect_items(es, s, rules, arts, None, t0)
    dead = schedule_mails(OverlayLedger(EmptyLedger(), [(i, QUEUED) for i in items]), rules, t0).mails
    assert all(ledger.reserve(p, {}, t0) for p in dead)  # ... and the run dies before storing its mails
    ledger.refresh()
    rep = send_alerts(es, s, rules, arts, now=t0 + timedelta(minutes=1))
    assert (rep.queued, rep.sent, rep.waiting) == (2, 0, 4)  # 2 articles x 2 recipients held back
    later = t0 + RESERVATION_STALE + timedelta(minutes=1)
    rep = send_alerts(es, s, rules, [], now=later)
    assert rep.sent == 2 and sorted(rep.mails_by_recipient) == ["analyst@example.org", "desk@example.org"]
    assert send_alerts(es, s, rules, [], now=later + timedelta(minutes=5)).sent == 0
    got = Counter(
        (r.rcpt_tos[0], u) for r in smtp.received for u in article_urls(r.message, "https://news.example/")
    )
    assert sorted(got.values()) == [1, 1, 1, 1]


def test_reserving_deliveries_is_all_or_nothing_against_another_mail(es, smtp):
    """A mail whose deliveries overlap another mail's gets none of them: what it created is given back."""
    import dataclasses as dc

    from rasad.alerts.deliver import collect_items
    from rasad.alerts.ledger import AlertLedger
    from rasad.alerts.plan import QUEUED, EmptyLedger, OverlayLedger, delivery_key, schedule_mails

    s = smtp.settings
    ledger = AlertLedger(es, s)
    ledger.ensure()
    rules = rules_from(CONCURRENT_RULES)[:1]
    arts = [make_article(f"طالبان {n}", "طالبان", url=f"https://news.example/r/{n}") for n in (1, 2, 3)]
    t0 = at("2025-11-23 10:00")

    def plan_for(some):
        items = collect_items(es, s, rules, some, None, t0)
        plans = schedule_mails(OverlayLedger(EmptyLedger(), [(i, QUEUED) for i in items]), rules, t0).mails
        return next(p for p in plans if p.to == "analyst@example.org")

    first = plan_for(arts[1:2])  # the middle article only
    assert ledger.reserve(first, {}, t0)
    # The same mail again (a retry that did not see its own records): they are its own, nothing changes.
    assert ledger.reserve(first, {}, t0)
    rival = dc.replace(plan_for(arts), key="rival-mail")  # all three: two fresh, one held by the first mail
    assert set(rival.subject_ids) == {a.id for a in arts}
    assert not ledger.reserve(rival, {}, t0)
    ledger.refresh()
    held = {a.id: ledger.get(delivery_key(first.to, a.id)) for a in arts}
    assert held[arts[1].id]["payload"]["mail"] == first.key
    assert held[arts[0].id] is None and held[arts[2].id] is None  # given back, so they are not stuck

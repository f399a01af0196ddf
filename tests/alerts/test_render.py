"""Bar 2 and the mail's content: injection attempts neutralised, directions, highlights, links, footer."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from rasad.alerts.deliver import send_alerts
from rasad.alerts.items import item_from_match
from rasad.alerts.match import match_article
from rasad.alerts.plan import MailPlan
from rasad.alerts.render import build_mail, highlight_html, kibana_event_url, safe_header, safe_url, wire_text
from rasad.alerts.rules import validate_rules
from tests.alerts.conftest import at, make_article

PROJECT = Path(__file__).resolve().parents[2]
HOSTILE_TITLE = "Taliban talks\r\nBcc: victim@evil.example\r\nX-Evil: 1\n\n<script>alert('t')</script>"
HOSTILE_TEXT = (
    "The Taliban said <img src=x onerror=alert(1)> and </div><script>alert(2)</script> "
    "then \r\n.\r\nQUIT\r\n and more."
)


def rule_of(text: str):
    rules, problems = validate_rules(textwrap.dedent(text))
    assert problems == []
    return rules[0]


RULE = """
rules:
  - name: taliban
    keywords: [طالبان, Taliban]
    recipients: [analyst@example.org]
"""


def mail_for(article, rule_text: str = RULE, kibana: str = "http://kibana.test:5601"):
    rule = rule_of(rule_text)
    m = match_article(rule, article)
    assert m is not None
    item = item_from_match(m, "2025-11-22T10:00:00Z")
    plan = MailPlan("k" * 32, rule, "immediate", [item])
    return build_mail(
        plan,
        mail_from="Rasad <alerts@rasad.example>",
        rules_file="config/rules.yaml",
        kibana_url=kibana,
        date=at("2025-11-22 10:00"),
    )


def test_header_injection_in_a_title_stays_inside_the_subject():
    a = make_article(HOSTILE_TITLE, HOSTILE_TEXT, lang="en", source="Evil\r\nBcc: x@evil.example")
    msg = mail_for(a)
    raw = msg.as_string()
    header_block = raw.split("\n\n", 1)[0]
    assert not re.search(r"^(Bcc|X-Evil):", header_block, re.M | re.I)
    assert "Bcc" not in msg and "X-Evil" not in msg
    assert "\n" not in msg["Subject"] and "\r" not in msg["Subject"]
    assert msg["Subject"].startswith("[Rasad] taliban: Taliban talks Bcc: victim@evil.example X-Evil: 1")
    assert msg["To"] == "analyst@example.org"


def test_html_injection_in_title_text_source_and_url_stays_text():
    a = make_article(
        HOSTILE_TITLE,
        HOSTILE_TEXT,
        lang="en",
        source="<b onmouseover=x>Src</b>",
        url="javascript:alert(document.cookie)",
    )
    html_part = mail_for(a).get_body(("html",)).get_content()
    assert "<script" not in html_part.lower()
    assert "<img" not in html_part.lower() and "<b onmouseover" not in html_part
    assert "&lt;script&gt;alert(&#x27;t&#x27;)&lt;/script&gt;" in html_part
    assert "&lt;img src=x onerror=alert(1)&gt;" in html_part
    assert "javascript:" not in html_part  # the link is dropped, the title kept as text
    assert html_part.count('<div class="item"') == 1 and html_part.count("</div>") == html_part.count("<div")


def test_header_and_html_injection_end_to_end_through_smtp(es, smtp):
    rule = rule_of(RULE)
    a = make_article(HOSTILE_TITLE, HOSTILE_TEXT, lang="en", url="https://x.example/1")
    rep = send_alerts(es, smtp.settings, [rule], [a], now=at("2025-11-22 10:00"))
    assert rep.sent == 1
    [got] = smtp.received
    assert got.rcpt_tos == ["analyst@example.org"]  # no smuggled Bcc recipient
    msg = got.message
    assert "Bcc" not in msg and "X-Evil" not in msg
    assert "QUIT" in msg.get_body(("plain",)).get_content()  # the dot line was data, not a command
    assert "<script" not in msg.get_body(("html",)).get_content().lower()


def test_a_long_arabic_subject_survives_the_wire_intact():
    import email

    title = "روسيا تمهد لتحالف أمني مع «طالبان» لمواجهة تهديد «داعش خراسان» بعد رفعها من قائمة الإرهاب"
    msg = mail_for(make_article(title, "نص"))
    raw = wire_text(msg)
    assert all(len(line) <= 998 for line in raw.split("\r\n")) and raw.isascii()
    back = email.message_from_string(raw, policy=email.policy.default)
    assert back["Subject"] == msg["Subject"] == f"[Rasad] taliban: {title}"


def test_safe_header_and_url_helpers():
    assert safe_header("a\r\nb\u2028c\x00d\u202ee") == "a b c d e"
    assert len(safe_header("x" * 500)) == 180
    assert safe_url("https://a.example/x?y=1") == "https://a.example/x?y=1"
    for bad in (
        "javascript:alert(1)",
        "data:text/html,x",
        "//a.example",
        "https://a.example/\nx",
        "vbscript:x",
    ):
        assert safe_url(bad) is None
    assert highlight_html("a<b>c", [(1, 4)]) == "a<mark>&lt;b&gt;</mark>c"
    assert highlight_html("abcdef", [(1, 3), (2, 5)]) == "a<mark>bcde</mark>f"
    assert "event_id%3A%22ev%27%29%22" in kibana_event_url("http://k:5601/", "ev')")


def test_arabic_and_english_items_carry_their_direction_and_the_footer_names_the_rule():
    ar = make_article("موسكو تستقبل وفداً لطالبان", "قال مسؤول إن وفد طالبان وصل.", event_id="ev1")
    en = make_article("Moscow hosts a Taliban delegation", "The Taliban delegation arrived.", lang="en")
    rule = rule_of(RULE.replace("recipients", "mode: hourly\n    recipients"))
    items = [item_from_match(match_article(rule, x), "2025-11-22T10:00:00Z") for x in (ar, en)]  # type: ignore[arg-type]
    plan = MailPlan("d" * 32, rule, "hourly", items, window=(at("2025-11-22 09:00"), at("2025-11-22 10:00")))
    msg = build_mail(
        plan,
        mail_from="alerts@rasad.example",
        rules_file="config/rules.yaml",
        kibana_url="http://kibana.test:5601",
    )
    page = msg.get_body(("html",)).get_content()
    assert re.search(r'<div class="item" dir="rtl" lang="ar"', page)
    assert re.search(r'<div class="item" dir="ltr" lang="en"', page)
    assert (
        "ل<mark>طالبان</mark>" in page
    )  # the tagger highlights the name, not its clitic and "<mark>Taliban</mark>" in page
    assert 'href="http://kibana.test:5601/app/discover#/' in page and "event_id%3A%22ev1%22" in page
    text = msg.get_body(("plain",)).get_content()
    assert "Sent by Rasad rule 'taliban' (hourly)" in text and "config/rules.yaml" in text
    assert "موسكو تستقبل وفداً ل[طالبان]" in text
    assert msg["Subject"] == "[Rasad] taliban: 2 articles (hourly digest 09:00–10:00 UTC)"


@pytest.mark.parametrize("seed", ["000_fb7922bf096f1193.txt", "004_2d74ac5e9dc5bed1.txt"])
def test_highlights_come_from_the_tagger_offsets(seed):
    from rasad.enrich.tagging import tag_article

    title, _, body = (PROJECT / "seeds" / seed).read_text(encoding="utf-8").partition("\n")
    a = tag_article(make_article(title.strip(), body.strip()))
    rule = rule_of("""
        rules:
          - name: taliban-entity
            entities: [taliban]
            topics: [diplomacy.recognition, diplomacy.rapprochement, diplomacy.delisting]
            recipients: [analyst@example.org]
    """)
    m = match_article(rule, a)
    assert m is not None
    ent = next(e for e in a.entities if e.id == "taliban")
    item = item_from_match(m, "2025-11-22T10:00:00Z")
    for s, e in item.title_spans:  # every highlighted title span is a tagger mention or evidence
        assert any((x.start, x.end) == (s, e) for x in m.highlights if x.field == "title")
    assert (
        any(a.title[s:e] == ent.mentions[0].text for s, e in item.title_spans)
        or ent.mentions[0].field == "text"
    )
    for s, e in item.snippet_spans:
        assert item.snippet[s:e].strip() and "…" not in item.snippet[s:e]
    html_part = (
        mail_for(
            a,
            """
        rules:
          - name: taliban-entity
            entities: [taliban]
            recipients: [analyst@example.org]
    """,
        )
        .get_body(("html",))
        .get_content()
    )
    marked = re.findall(r"<mark>(.*?)</mark>", html_part)
    assert marked and all("طالبان" in w for w in marked)


def test_a_long_digest_lists_the_items_past_the_first_forty_one_line_each():
    rule = rule_of(RULE.replace("recipients", "mode: daily\n    recipients"))
    arts = [
        make_article(f"طالبان خبر رقم {n}", "نص عن طالبان " * 30, url=f"https://a.example/{n}")
        for n in range(45)
    ]
    items = [item_from_match(match_article(rule, a), "2025-11-22T10:00:00Z") for a in arts]  # type: ignore[arg-type]
    msg = build_mail(
        MailPlan("e" * 32, rule, "daily", items),
        mail_from="a@rasad.example",
        rules_file="r.yaml",
        kibana_url="http://k",
    )
    page = msg.get_body(("html",)).get_content()
    assert (
        page.count('<div class="item"') == 40
        and page.count('<li class="brief-item" dir="rtl" lang="ar">') == 5
    )
    assert all(f'href="https://a.example/{n}"' in page for n in range(45))  # every item still linked
    assert "5 more:\n- طالبان خبر رقم 40 · Source A" in msg.get_body(("plain",)).get_content()
    assert msg.get_body(("html",))["Content-Transfer-Encoding"] == "base64"

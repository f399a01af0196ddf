"""Feed registry validation (through the real CLI) and feed parsing."""

from __future__ import annotations

import json
from datetime import timezone

import pytest

from rasad.cli import main
from rasad.ingest.feeds import (
    RegistryError,
    check_entities,
    load_registry,
    parse_feed,
    parse_interval,
    validate_registry,
)

GOOD = """version: 1
feeds:
  - id: aljazeera-ar
    url: https://www.aljazeera.net/aljazeerarss/a7c186be-1baa-4bd4-9d80-a84db769f779/73d0e1b4-532f-45ef-b135-bfdff8b8cab9
    name: الجزيرة
    language: ar
    country: QA
    poll_interval: 15m
    tags: [arabic, gulf]
  - id: bbc-world
    url: https://feeds.bbci.co.uk/news/world/rss.xml
    name: BBC World
    language: en
    enabled: false
"""

BAD = """version: 1
feeds:
  - id: ok-feed
    url: https://example.com/rss
    name: Fine
  - id: Bad ID
    url: ftp://example.com/rss
    name: Broken
    language: Arabic
    country: qa
    poll_interval: every hour
    enabled: "yes"
    tags: arabic
    colour: red
  - id: ok-feed
    url: https://example.com/rss
  - just a string
  - id: twice
    url: https://example.com/twice
    url: https://example.com/twice-again
"""


def test_valid_registry_loads_with_defaults(tmp_path):
    path = tmp_path / "feeds.yaml"
    path.write_text(GOOD, encoding="utf-8")
    specs = load_registry(path)
    assert [s.id for s in specs] == ["aljazeera-ar"]
    assert specs[0].poll_interval == 900 and specs[0].tags == ("arabic", "gulf") and specs[0].country == "QA"
    assert [s.id for s in load_registry(path, include_disabled=True)] == ["aljazeera-ar", "bbc-world"]
    assert main(["feeds", "check", str(path)]) == 0


def test_check_reports_every_problem_with_line_and_field(tmp_path, capsys):
    path = tmp_path / "feeds.yaml"
    path.write_text(BAD, encoding="utf-8")
    assert main(["feeds", "check", str(path)]) == 1
    out = capsys.readouterr().out
    expected = [
        (6, "feeds[1].id"), (7, "feeds[1].url"), (9, "feeds[1].language"), (10, "feeds[1].country"),
        (11, "feeds[1].poll_interval"), (12, "feeds[1].enabled"), (13, "feeds[1].tags"), (14, "feeds[1].colour"),
        (15, "feeds[2].id"), (16, "feeds[2].url"), (17, "feeds[3]"), (20, "feeds[4].url"),
    ]  # fmt: skip
    for line, fld in expected:
        assert f"{path}:{line}: {fld}:" in out, (line, fld, out)
    assert "duplicate id 'ok-feed' (first at line 3)" in out
    assert "field given twice" in out
    assert "1 valid feed(s), 12 problem(s)" in out


def test_check_reports_yaml_syntax_errors_and_missing_files(tmp_path, capsys):
    path = tmp_path / "feeds.yaml"
    path.write_text("feeds:\n  - id: a\n    url: [unclosed\n", encoding="utf-8")
    assert main(["feeds", "check", str(path)]) == 1
    assert f"{path}:" in capsys.readouterr().out
    assert main(["feeds", "check", str(tmp_path / "missing.yaml")]) == 2
    with pytest.raises(RegistryError):
        load_registry(tmp_path / "missing.yaml")
    _, problems = validate_registry("feeds: {}\nextra: 1\n", "f.yaml")
    assert problems == ["f.yaml:1: expected a mapping with a 'feeds:' list"]


def test_parse_interval():
    assert parse_interval("30s") == 30 and parse_interval("2h") == 7200 and parse_interval(600) == 600
    for bad in ("0m", "soon", True, -5):
        with pytest.raises(ValueError):
            parse_interval(bad)


RSS = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/" xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel><title>الرصد</title><link>https://news.example/</link><language>ar</language>
<item><title>موسكو تستقبل وفد طالبان</title><link>/world/1?utm_source=rss</link>
<guid isPermaLink="false">story-1</guid><pubDate>Fri, 21 Nov 2025 10:30:00 +0300</pubDate>
<dc:creator>بواسطة أحمد</dc:creator><description>ملخص &lt;b&gt;الخبر&lt;/b&gt;</description>
<content:encoded><![CDATA[<p>نص كامل</p><script>alert(1)</script>]]></content:encoded></item>
<item><title>no link</title><guid isPermaLink="false">x</guid></item>
<item><title>guid link</title><guid>https://news.example/world/3</guid></item>
</channel></rss>"""


def test_rss_items_carry_what_the_feed_says():
    parsed = parse_feed(RSS.encode(), "demo", "https://news.example/rss.xml", content_type="application/rss+xml")
    assert parsed.error is None and parsed.malformed is None and parsed.title == "الرصد"
    first, third = parsed.items
    assert first.link == "https://news.example/world/1?utm_source=rss"  # relative link resolved
    assert first.guid == "story-1" and first.language_hint == "ar" and first.author == "بواسطة أحمد"
    assert first.published.tzinfo == timezone.utc and first.published.hour == 7
    assert "نص كامل" in first.content and "<script" not in first.content  # sanitised
    assert third.link == "https://news.example/world/3"  # a URL GUID stands in for the link
    assert parsed.entries_without_link == 1


def test_atom_and_json_feed():
    atom = b"""<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>A</title>
<entry><title>E</title><id>urn:1</id><link rel="alternate" href="https://a.example/e1"/>
<updated>2025-11-21T10:00:00Z</updated><summary>s</summary></entry></feed>"""
    item = parse_feed(atom, "a").items[0]
    assert item.link == "https://a.example/e1" and item.guid == "urn:1" and item.published.day == 21
    doc = {"version": "https://jsonfeed.org/version/1.1", "title": "J", "home_page_url": "https://j.example/",
           "language": "ar", "items": [
               {"id": "1", "url": "/p/1", "title": "عنوان", "content_html": "<p>x</p>",
                "date_published": "2025-11-21T10:00:00+03:00", "authors": [{"name": "سارة"}]},
               {"id": "2", "content_text": "no url"}, "junk"]}  # fmt: skip
    parsed = parse_feed(json.dumps(doc).encode(), "j", content_type="application/feed+json")
    assert [i.link for i in parsed.items] == ["https://j.example/p/1"]
    assert parsed.items[0].author == "سارة" and parsed.items[0].published.hour == 7
    assert parsed.items[0].language_hint == "ar" and parsed.entries_without_link == 1 and parsed.malformed


@pytest.mark.parametrize(("body", "words"), [
    (b"", "empty"),
    (b"<!doctype html><html><head><title>Not found</title></head><body>oops</body></html>", "HTML page"),
    (b'{"items": []}', "not a JSON Feed"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4, "not a feed"),
    (b"<rss><channel><item><title>x</title></item>", "no items recovered"),
])  # fmt: skip
def test_unusable_feeds_give_a_clear_error(body, words):
    parsed = parse_feed(body, "x")
    assert parsed.items == [] and parsed.error and words in parsed.error


def test_entity_checks_are_exact():
    assert check_entities(b"<rss><channel><title>no doctype &amp; fine</title></channel></rss>") is None
    assert check_entities(b'<!DOCTYPE rss [<!ENTITY a "x">]><rss>&a;</rss>') is None
    assert "external" in check_entities(b'<!DOCTYPE rss [<!ENTITY a SYSTEM "http://evil/x">]><rss>&a;</rss>')
    assert "billion" in check_entities(b'<!DOCTYPE rss [<!ENTITY a "x"><!ENTITY b "&a;&a;">]><rss>&b;</rss>')
    many = b"".join(b'<!ENTITY e%d "x">' % i for i in range(100))
    assert "entities" in check_entities(b"<!DOCTYPE rss [" + many + b"]><rss/>")

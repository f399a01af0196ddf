"""Times done right: a feed's IANA ``timezone`` reads naive page times; naive is never taken as UTC.

Sites in Riyadh (UTC+3, no DST), Cairo (UTC+2, +3 in summer since 2023), Beirut (UTC+2/+3,
DST) and Kabul (UTC+4:30).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from lxml import html

from rasad.ingest.dates import PageDate, find_published_date, load_timezone, resolve_published
from rasad.ingest.extract.article import extract_article
from rasad.ingest.extract.model import FeedHints
from rasad.ingest.feeds import FeedItem, FeedSpec, parse_feed, validate_registry

RESOURCES = Path(__file__).resolve().parents[1] / "resources" / "ingest"
RELATED = RESOURCES / "related_links"
RIYADH_PAGE = (RELATED / "ar_jannah_riyadh.html").read_bytes()  # «21 نوفمبر 2025 - 10:30 ص», no offset
CAIRO_PAGE = (RELATED / "ar_portal_cairo.html").read_bytes()  # «الجمعة، ٢١ نوفمبر ٢٠٢٥ ٠٨:١٥ م», no offset


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def page_with_byline_date(date_text: str, head: str = "") -> bytes:
    """A small article page whose only date is a visible byline date (no offset on the page)."""
    body = " ".join(["وقال المسؤول إن المحادثات تناولت التعاون الأمني والتجاري بين البلدين."] * 6)
    return (
        f'<html lang="ar"><head><meta charset="utf-8"><title>خبر</title>{head}</head><body><article>'
        f"<h1>عنوان الخبر</h1><div class='post-meta'><span class='date'>{date_text}</span></div>"
        f"<p>{body}</p><p>{body}</p></article></body></html>"
    ).encode()


# --- the four sites ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "local_text", "expected"),
    [
        # Riyadh, UTC+3 all year: the case
        ("Asia/Riyadh", "21 نوفمبر 2025 - 10:30 ص", utc(2025, 11, 21, 7, 30)),
        ("Asia/Riyadh", "21 يوليو 2025 - 10:30 ص", utc(2025, 7, 21, 7, 30)),
        # Cairo: UTC+2 in winter, UTC+3 from the last Friday of April to the last Thursday of October
        ("Africa/Cairo", "21 نوفمبر 2025 - 08:15 م", utc(2025, 11, 21, 18, 15)),
        ("Africa/Cairo", "10 يوليو 2025 - 08:15 م", utc(2025, 7, 10, 17, 15)),
        # Beirut: UTC+2 in winter, UTC+3 from the last Sunday of March to the last Sunday of October
        ("Asia/Beirut", "21 تشرين الثاني 2025 الساعة 18:15", utc(2025, 11, 21, 16, 15)),
        ("Asia/Beirut", "21 تموز 2025 الساعة 18:15", utc(2025, 7, 21, 15, 15)),
        # Kabul, UTC+4:30
        ("Asia/Kabul", "۳۰ نوفمبر ۲۰۲۵ ۰۲:۰۵ م", utc(2025, 11, 30, 9, 35)),
        ("Asia/Kabul", "November 21, 2025 at 2:05 pm", utc(2025, 11, 21, 9, 35)),
    ],
)
def test_naive_page_time_is_read_in_the_feeds_timezone(zone: str, local_text: str, expected: datetime) -> None:
    result = extract_article(page_with_byline_date(local_text), "https://site.example/news/1", None,
                             FeedHints(timezone=zone))  # fmt: skip
    assert result.published == expected
    assert result.published_source == f"page: text time read in {zone}"


def test_riyadh_page_time_is_stored_as_0730z_never_as_1030z() -> None:
    """The issue's example on a full WordPress-like page: «21 نوفمبر 2025 - 10:30 ص» on a Riyadh site."""
    url = "https://najdtoday.example/world/2025/11/21/afghan-delegation-riyadh/"
    configured = extract_article(RIYADH_PAGE, url, None, FeedHints(timezone="Asia/Riyadh"))
    assert configured.published == utc(2025, 11, 21, 7, 30)
    # Not configured, no feed date: only the day is kept, and the record says so.
    bare = extract_article(RIYADH_PAGE, url)
    assert bare.published == utc(2025, 11, 21) and bare.published != utc(2025, 11, 21, 10, 30)
    assert bare.published_source is not None and bare.published_source.endswith("time unknown")
    # Not configured, the feed has a time with an offset: the feed's time wins over the naive one.
    feed_time = datetime(2025, 11, 21, 10, 31, tzinfo=timezone(timedelta(hours=3)))
    with_feed = extract_article(RIYADH_PAGE, url, None, FeedHints(published=feed_time))
    assert with_feed.published == utc(2025, 11, 21, 7, 31)
    assert with_feed.published_source == "feed: page text time has no offset and no timezone is configured"


def test_cairo_portal_page_in_winter_time() -> None:
    result = extract_article(CAIRO_PAGE, "https://alwadi.example/arab-world/2025/11/21/x/", None,
                             FeedHints(timezone="Africa/Cairo"))  # fmt: skip
    assert result.published == utc(2025, 11, 21, 18, 15)


def test_beirut_ambiguous_and_skipped_hours_are_resolved_as_documented() -> None:
    # 2025-10-26 00:00 Beirut clocks go back to 23:00: 23:30 on the 25th happens twice; the
    # earlier (summer, UTC+3) reading is taken. 2025-03-30 00:00 clocks jump to 01:00.
    twice = PageDate(datetime(2025, 10, 25, 23, 30), True, "text")
    assert resolve_published(twice, None, "Asia/Beirut").value == utc(2025, 10, 25, 20, 30)
    skipped = PageDate(datetime(2025, 3, 30, 0, 30), True, "text")
    assert resolve_published(skipped, None, "Asia/Beirut").value == utc(2025, 3, 29, 22, 30)


def test_kabul_offset_on_the_page_wins_whatever_zone_is_configured() -> None:
    page = (RELATED / "en_wire.html").read_bytes()  # JSON-LD datePublished 2025-11-21T14:05:00+04:30
    url = "https://frontierpost.example/afghanistan/2025/11/21/kabul-market-blast/"
    for zone in (None, "Asia/Kabul", "Europe/London"):
        result = extract_article(page, url, None, FeedHints(timezone=zone))
        assert result.published == utc(2025, 11, 21, 9, 35)
        assert result.published_source == "page: jsonld time with offset"


# --- aware beats naive; page and feed reconciled -------------------------------------------------


def test_an_aware_page_date_beats_a_naive_one_on_the_same_page() -> None:
    tree = html.fromstring(
        '<html><head><script type="application/ld+json">{"@type":"NewsArticle",'
        '"datePublished":"2025-11-21T10:30:00"}</script>'
        '<meta property="article:published_time" content="2025-11-21T07:30:00+00:00"></head>'
        "<body><h1>t</h1></body></html>"
    )
    found = find_published_date(tree)
    assert found == PageDate(utc(2025, 11, 21, 7, 30), True, "meta") and found.aware


def test_naive_metadata_time_is_read_in_the_zone_too() -> None:
    head = '<meta property="article:published_time" content="2025-07-21T09:00:00">'
    page = page_with_byline_date("", head=head)
    beirut = extract_article(page, "https://x.example/a", None, FeedHints(timezone="Asia/Beirut"))
    assert beirut.published == utc(2025, 7, 21, 6, 0) and beirut.published_source == "page: meta time read in Asia/Beirut"
    unknown = extract_article(page, "https://x.example/a")
    assert unknown.published == utc(2025, 7, 21) and unknown.published_source.endswith("time unknown")


def test_a_wrong_zone_is_caught_by_the_feeds_time() -> None:
    # The page says 10:30 (Riyadh); the registry says Cairo; the feed says 07:30Z. Read in Cairo the
    # page would be 08:30Z, exactly one hour off the feed: the same minute in another zone.
    page = PageDate(datetime(2025, 11, 21, 10, 30), True, "text")
    feed = utc(2025, 11, 21, 7, 30)
    chosen = resolve_published(page, feed, "Africa/Cairo")
    assert chosen.value == feed and chosen.source == "feed: page time read in Africa/Cairo is +1 h off the feed's; zone doubtful"
    # A page time minutes away from the feed's is an independent record: the page's own wins.
    later = resolve_published(page, utc(2025, 11, 21, 8, 2), "Africa/Cairo")
    assert later.value == utc(2025, 11, 21, 8, 30) and later.source.startswith("page:")


@pytest.mark.parametrize(
    ("page", "feed", "zone", "value", "source"),
    [
        # nothing: nothing
        (None, None, None, None, None),
        # feed only
        (None, utc(2025, 11, 21, 7, 30), None, utc(2025, 11, 21, 7, 30), "feed: no date on the page; feed time with offset"),
        # a naive feed time (some CMSs write pubDate without a zone) is read in the zone, else day only
        (None, datetime(2025, 11, 21, 10, 30), "Asia/Riyadh", utc(2025, 11, 21, 7, 30),
         "feed: no date on the page; feed time read in Asia/Riyadh"),
        (None, datetime(2025, 11, 21, 10, 30), None, utc(2025, 11, 21),
         "feed_day: feed time has no offset and no timezone is configured; time unknown"),
        # a day-only page date takes the feed's time when it agrees, judged on the local day:
        # 22:30Z on the 20th is 01:30 on the 21st in Riyadh
        (PageDate(datetime(2025, 11, 21), False, "text"), utc(2025, 11, 20, 22, 30), "Asia/Riyadh",
         utc(2025, 11, 20, 22, 30), "feed: page text gives the day only, the feed's time agrees"),
        (PageDate(datetime(2025, 11, 21), False, "url"), utc(2025, 12, 30, 8, 0), None, utc(2025, 11, 21),
         "page_day: url day, the feed's date is days away; time unknown"),
        # a naive page time, no zone, and a feed date days away: the page's day, not the feed's time
        (PageDate(datetime(2025, 11, 21, 10, 30), True, "text"), utc(2025, 12, 30, 8, 0), None,
         utc(2025, 11, 21), "page_day: text time has no offset and no timezone is configured, the feed's date is days away; time unknown"),
    ],
)  # fmt: skip
def test_resolution_table(page: PageDate | None, feed: datetime | None, zone: str | None,
                          value: datetime | None, source: str | None) -> None:  # fmt: skip
    chosen = resolve_published(page, feed, zone)
    assert (chosen.value, chosen.source) == (value, source)
    assert chosen.time_known == (source is not None and not source.endswith("time unknown"))


@pytest.mark.parametrize("zone", [None, "Asia/Riyadh", "Africa/Cairo", "Asia/Beirut", "Asia/Kabul"])
def test_a_naive_local_time_is_never_stored_as_utc(zone: str | None) -> None:
    """Bar 3: whatever is configured, the wall-clock reading 10:30 never comes out as 10:30Z."""
    naive = PageDate(datetime(2025, 11, 21, 10, 30), True, "text")
    for feed in (None, utc(2025, 11, 21, 7, 0), datetime(2025, 11, 21, 10, 30)):
        chosen = resolve_published(naive, feed, zone)
        assert chosen.value != utc(2025, 11, 21, 10, 30), (zone, feed, chosen)
        assert chosen.value is not None and chosen.value.tzinfo is not None


# --- the registry --------------------------------------------------------------------------------

REGISTRY = """version: 1
feeds:
  - id: riyadh
    url: https://riyadh.example/feed
    timezone: Asia/Riyadh
  - id: cairo
    url: https://cairo.example/feed
    timezone: africa/cairo
  - id: beirut
    url: https://beirut.example/feed
    timezone: +03:00
  - id: kabul
    url: https://kabul.example/feed
    timezone: Asia/Kabol
  - id: nozone
    url: https://nozone.example/feed
"""


def test_registry_timezone_is_validated_with_file_line_and_field() -> None:
    specs, problems = validate_registry(REGISTRY, "feeds.yaml")
    assert [(s.id, s.timezone) for s in specs] == [("riyadh", "Asia/Riyadh"), ("nozone", None)]
    assert problems == [
        "feeds.yaml:8: feeds[1].timezone: 'africa/cairo' is not an IANA time zone name (did you mean 'Africa/Cairo'?)",
        "feeds.yaml:11: feeds[2].timezone: '+03:00' is an offset, not a zone: offsets change with daylight saving "
        "time; use the IANA name of the site's city (Asia/Riyadh, Africa/Cairo, Asia/Beirut, Asia/Kabul)",
        "feeds.yaml:14: feeds[3].timezone: 'Asia/Kabol' is not an IANA time zone name (like Asia/Riyadh or Africa/Cairo)",
    ]


def test_feeds_check_cli_reports_a_bad_timezone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from rasad.cli import main

    path = tmp_path / "feeds.yaml"
    path.write_text(REGISTRY, encoding="utf-8")
    assert main(["feeds", "check", str(path)]) == 1
    out = capsys.readouterr().out
    assert f"{path}:14: feeds[3].timezone: 'Asia/Kabol' is not an IANA time zone name" in out
    assert "2 valid feed(s), 3 problem(s)" in out


def test_shipped_registries_name_valid_zones() -> None:
    from rasad.core.settings import PROJECT_ROOT

    for name in ("config/feeds.yaml", "examples/demo/feeds.yaml"):
        text = (PROJECT_ROOT / name).read_text(encoding="utf-8")
        specs, problems = validate_registry(text, name)
        assert not problems and specs and all(s.timezone for s in specs), (name, problems)
        for spec in specs:
            load_timezone(spec.timezone)


def test_extract_cli_timezone(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from rasad.cli import main

    page = str(RELATED / "ar_jannah_riyadh.html")
    assert main(["extract", page, "--timezone", "Asia/Riyadh"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["published"] == "2025-11-21T07:30:00Z" and out["published_source"] == "page: text time read in Asia/Riyadh"
    with pytest.raises(SystemExit):
        main(["extract", page, "--timezone", "GMT+3"])
    assert "is an offset, not a zone" in capsys.readouterr().err


# --- through the stage: registry zone → article record ----------------------------------------


def test_stage_reads_page_times_in_the_feeds_zone_and_records_the_choice(settings, es) -> None:
    from rasad.ingest.http.client import HttpClient
    from rasad.ingest.stage import fetch_articles
    from rasad.ingest.store import IngestStore
    from rasad.pipeline import step_setup
    from tests.ingest.test_http import LoopbackServer

    s = settings.replace(allow_private_networks=True, respect_robots=False)
    step_setup(s)
    with LoopbackServer() as site:
        site.add("/riyadh/1", RIYADH_PAGE)
        site.add("/cairo/1", CAIRO_PAGE)
        site.add("/beirut/1", page_with_byline_date(""))  # no date on the page at all
        b = site.base_url
        specs = {
            "riyadh": FeedSpec("riyadh", f"{b}/riyadh.xml", "Najd Today", "ar", "SA", 600, timezone="Asia/Riyadh"),
            "cairo": FeedSpec("cairo", f"{b}/cairo.xml", "Alwadi", "ar", "EG", 600),  # no zone configured
            "beirut": FeedSpec("beirut", f"{b}/beirut.xml", "Sharq", "ar", "LB", 600, timezone="Asia/Beirut"),
        }
        # The Beirut feed wrote «2025-11-21 18:15:00» without a zone (parse_feed flags it).
        beirut_feed = parse_feed(
            b'<rss version="2.0"><channel><item><title>t</title><link>' + f"{b}/beirut/1".encode()
            + b"</link><pubDate>2025-11-21 18:15:00</pubDate></item></channel></rss>", "beirut"
        ).items[0]  # fmt: skip
        assert beirut_feed.published_has_offset is False
        items = [
            FeedItem("riyadh", f"{b}/riyadh/1", "r1", "خبر", published=utc(2025, 11, 21, 7, 30)),
            FeedItem("cairo", f"{b}/cairo/1", "c1", "خبر", published=None),
            beirut_feed,
        ]
        rep = fetch_articles(items, specs, HttpClient(s), IngestStore(es, s), now=utc(2025, 11, 22))
    by_feed = {a.feed_id: a for a in rep.articles}
    assert by_feed["riyadh"].published == "2025-11-21T07:30:00Z"
    assert by_feed["riyadh"].published_source == "page: text time read in Asia/Riyadh"
    # Cairo page at «٠٨:١٥ م» with no zone and no feed date: the day only, never 20:15Z.
    assert by_feed["cairo"].published == "2025-11-21T00:00:00Z"
    assert by_feed["cairo"].published_source == (
        "page_day: text time has no offset and no timezone is configured; time unknown"
    )
    assert by_feed["cairo"].to_doc()["published_source"].endswith("time unknown")
    # The Beirut feed's zone-less time is read in Asia/Beirut (UTC+2 in November), not as UTC.
    assert by_feed["beirut"].published == "2025-11-21T16:15:00Z"
    assert by_feed["beirut"].published_source == "feed: no date on the page; feed time read in Asia/Beirut"


@pytest.mark.parametrize(
    ("pub_date", "has_offset", "value"),
    [
        ("Fri, 21 Nov 2025 10:30:00 +0300", True, utc(2025, 11, 21, 7, 30)),
        ("Fri, 21 Nov 2025 10:30:00 GMT", True, utc(2025, 11, 21, 10, 30)),
        ("2025-11-21T10:30:00+04:30", True, utc(2025, 11, 21, 6, 0)),
        # no zone: feedparser would say UTC (ISO) or drop it (RFC 822); both are flagged
        ("2025-11-21 10:30:00", False, utc(2025, 11, 21, 10, 30)),
        ("Fri, 21 Nov 2025 10:30:00", False, utc(2025, 11, 21, 10, 30)),
    ],
)
def test_feed_dates_without_a_zone_are_flagged(pub_date: str, has_offset: bool, value: datetime) -> None:
    body = (f'<rss version="2.0"><channel><item><title>t</title><link>https://a.example/1</link>'
            f"<pubDate>{pub_date}</pubDate></item></channel></rss>").encode()  # fmt: skip
    item = parse_feed(body, "f").items[0]
    assert (item.published, item.published_has_offset) == (value, has_offset)

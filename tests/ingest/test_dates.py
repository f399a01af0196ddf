"""Arabic dates: month-name families, digits, d/m/y order, page-date search and reconciliation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from lxml import html

from rasad.ingest.dates import (
    PageDate,
    date_from_url,
    find_published_date,
    parse_arabic_date,
    parse_arabic_date_precise,
    parse_iso_datetime,
    reconcile_dates,
)

PAGES = Path(__file__).resolve().parents[1] / "resources" / "ingest" / "pages"


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def local(*parts: int) -> datetime:
    """A wall-clock time with no zone: what a page says when it states no offset."""
    return datetime(*parts)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Levantine / Iraqi month names: the case trafilatura turned into 2025-01-01
        ("21 تشرين الثاني 2025", local(2025, 11, 21)),
        ("نُشر في 3 كانون الثاني 2024", local(2024, 1, 3)),
        ("الأحد 9 كانون الأول 2023", local(2023, 12, 9)),
        ("14 أيلول 2025", local(2025, 9, 14)),
        ("30 آب 2025", local(2025, 8, 30)),
        ("1 شباط 2022", local(2022, 2, 1)),
        ("17 آذار 2021", local(2021, 3, 17)),
        ("5 نيسان 2020", local(2020, 4, 5)),
        ("2 تشرين الأول 2025", local(2025, 10, 2)),
        ("الجمعة 21 تشرين الثاني/نوفمبر 2025", local(2025, 11, 21)),
        # Egyptian / Gulf month names, Arabic-Indic and Persian digits, times with ص/م
        ("21 نوفمبر 2025", local(2025, 11, 21)),
        ("الجمعة ٢١ نوفمبر ٢٠٢٥ - ٠٣:٤٥ م", local(2025, 11, 21, 15, 45)),
        ("۲۱ نوفمبر ۲۰۲۵", local(2025, 11, 21)),
        ("3 أيار 2024 10:05 ص", local(2024, 5, 3, 10, 5)),
        ("21 نوفمبر 2025 - الساعة 9:05 مساءً", local(2025, 11, 21, 21, 5)),
        ("12 إبريل 2019", local(2019, 4, 12)),
        ("7 يونيه 2018", local(2018, 6, 7)),
        # Maghrebi variants (Algeria/Tunisia, Morocco)
        ("5 جانفي 2024", local(2024, 1, 5)),
        ("12 فيفري 2024 على الساعة 14:30", local(2024, 2, 12, 14, 30)),
        ("9 أفريل 2023", local(2023, 4, 9)),
        ("1 جويلية 2022", local(2022, 7, 1)),
        ("15 أوت 2021", local(2021, 8, 15)),
        ("12 غشت 2023", local(2023, 8, 12)),
        ("4 شتنبر 2023", local(2023, 9, 4)),
        ("21 نونبر 2025", local(2025, 11, 21)),
        ("31 دجنبر 2024", local(2024, 12, 31)),
        # numeric: day/month/year is the Arabic order; ISO stays year-first
        ("21/11/2025", local(2025, 11, 21)),
        ("٠٣/٠٢/٢٠٢٥", local(2025, 2, 3)),
        ("2025-11-21 12:30", local(2025, 11, 21, 12, 30)),
        # a Hijri date next to the Gregorian one: only the Gregorian is read
        ("30 جمادى الأولى 1447 هـ الموافق 21 نوفمبر 2025 م", local(2025, 11, 21)),
        # bilingual bylines
        ("November 21, 2025 at 3:45 pm", local(2025, 11, 21, 15, 45)),
        ("21 novembre 2025", local(2025, 11, 21)),
    ],
)
def test_parse_arabic_date(text: str, expected: datetime) -> None:
    assert parse_arabic_date(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "نوفمبر 2025",  # no day: a guessed day would be a wrong date
        "31 شباط 2025",  # no such day
        "21 تشرين الثاني/أكتوبر 2025",  # the two month names disagree
        "1447/5/30 هـ",  # Hijri
        "الساعة 12:00",
        "الاباء 2025",  # «اب» inside a word is not August
        "",
    ],
)
def test_incomplete_or_impossible_dates_are_none(text: str) -> None:
    assert parse_arabic_date(text) is None


def test_time_of_day_is_reported() -> None:
    assert parse_arabic_date_precise("21 نوفمبر 2025") == (local(2025, 11, 21), False)
    assert parse_arabic_date_precise("21 نوفمبر 2025 ٠٣:٤٥ م") == (local(2025, 11, 21, 15, 45), True)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2025-11-21T10:00:00+03:00", (utc(2025, 11, 21, 7, 0), True)),
        ("2025-11-21T10:00:00+0300", (utc(2025, 11, 21, 7, 0), True)),
        ("2025-11-21T23:30:00-05:00", (utc(2025, 11, 22, 4, 30), True)),
        ("2025-11-21T10:00:00.123Z", (utc(2025, 11, 21, 10, 0), True)),
        ("2025-11-21", (local(2025, 11, 21), False)),
        ("2025-11-21T10:30:00", (local(2025, 11, 21, 10, 30), True)),  # no offset: stays naive
        ("not a date", None),
        ("2025-13-40", None),
    ],
)
def test_parse_iso_datetime(value: str, expected: tuple[datetime, bool] | None) -> None:
    assert parse_iso_datetime(value) == expected


def tree_of(body: str) -> html.HtmlElement:
    return html.fromstring(f"<html><head></head><body>{body}</body></html>")


def test_levantine_byline_date_is_found_where_trafilatura_guessed_january() -> None:
    tree = html.fromstring((PAGES / "wp_levant_utf8.html").read_bytes())
    found = find_published_date(tree, "https://alrasd.example/?p=48213")
    assert found == PageDate(local(2025, 11, 21), False, "text")


def test_todays_date_in_top_bar_and_related_posts_are_not_the_article_date() -> None:
    # The top bar says ٢٣ نوفمبر (today), related stories say ١٥/١٢/٨ نوفمبر; the byline says ٢١.
    tree = html.fromstring((PAGES / "wp_egypt_utf8.html").read_bytes())
    found = find_published_date(tree, "https://nile.example/world/1202/")
    assert found is not None
    assert found.value == local(2025, 11, 21, 15, 45) and found.precise and not found.aware


def test_year_only_evidence_gives_no_date_rather_than_first_of_january() -> None:
    # No metadata, no dated byline near a headline, no date in the URL: htmldate would answer
    # 2025-01-01 from the bare year; that filler must not come through.
    tree = tree_of("<div><p>تقرير عن التعاون الأمني في عام 2025 بين موسكو وكابول، وفق مصادر مطلعة.</p></div>")
    assert find_published_date(tree, "https://example.org/news/report") is None


def test_structured_metadata_wins_and_keeps_the_offset() -> None:
    tree = html.fromstring(
        '<html><head><meta property="article:published_time" content="2025-11-21T09:00:00+0000">'
        '<script type="application/ld+json">'
        '{"@type":"NewsArticle","datePublished":"2025-11-21T12:00:00+03:00"}'
        "</script></head><body><h1>عنوان</h1><span class='date'>20 نوفمبر 2025</span></body></html>"
    )
    assert find_published_date(tree) == PageDate(utc(2025, 11, 21, 9, 0), True, "jsonld")


def test_time_element_and_precise_candidate_preferred() -> None:
    tree = html.fromstring(
        '<html><head><meta name="dc.date" content="2023-04-26"></head><body>'
        '<time datetime="2023-04-26T14:20:55-04:00">April 26</time></body></html>'
    )
    assert find_published_date(tree) == PageDate(utc(2023, 4, 26, 18, 20, 55), True, "time")


def test_url_date_overrules_a_visible_date_days_away() -> None:
    tree = tree_of(
        "<article><h1>عنوان</h1><div class='post-meta'>"
        "<span class='date'>3 نوفمبر 2025</span></div></article>"
    )
    assert find_published_date(tree, "https://x.example/2025/11/21/story/") == PageDate(
        local(2025, 11, 21), False, "url"
    )
    assert date_from_url("https://x.example/2025/02/30/story/") is None


def test_reconcile_dates() -> None:
    feed = datetime(2025, 11, 21, 13, 5, tzinfo=timezone(timedelta(hours=3)))
    day_only = PageDate(local(2025, 11, 21), False, "text")
    precise = PageDate(utc(2025, 11, 21, 9, 0), True, "meta")
    assert reconcile_dates(None, None) is None
    assert reconcile_dates(None, feed) == utc(2025, 11, 21, 10, 5)
    assert reconcile_dates(day_only, feed) == utc(2025, 11, 21, 10, 5)  # same day: the feed adds the time
    assert reconcile_dates(precise, feed) == utc(2025, 11, 21, 9, 0)  # the page's own timestamp wins
    far_feed = datetime(2025, 12, 30, 8, 0, tzinfo=UTC)
    assert reconcile_dates(day_only, far_feed) == utc(2025, 11, 21)  # disagreement: keep what the page proves
    # A naive feed time without a zone is not taken as UTC: only its day is kept.
    assert reconcile_dates(None, datetime(2025, 11, 21, 8, 0)) == utc(2025, 11, 21)
    assert reconcile_dates(None, datetime(2025, 11, 21, 8, 0), "Asia/Riyadh") == utc(2025, 11, 21, 5, 0)

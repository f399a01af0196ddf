"""Page bytes → Extracted: encodings, boilerplate, metadata, gates, feed fallbacks, CLI."""

from __future__ import annotations

import gzip
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from rasad.ingest.extract.article import extract_article
from rasad.ingest.extract.bylines import clean_byline
from rasad.ingest.extract.decode import decode_html, parse_html
from rasad.ingest.extract.feedtext import html_fragment_to_text
from rasad.ingest.extract.linkfarms import prune_link_farms
from rasad.ingest.extract.model import FeedHints
from rasad.ingest.extract.sniff import sniff_not_html

RESOURCES = Path(__file__).resolve().parents[1] / "resources" / "ingest"
PAGES = RESOURCES / "pages"
sys.path.insert(0, str(RESOURCES.parents[2]))
from bench.bench_extract import add_mega_menu  # noqa: E402

BOILERPLATE = [
    "اترك تعليق",
    "لن يتم نشر عنوان بريدك الإلكتروني",
    "الحقول الإلزامية",
    "Previous post",
    "Next post",
    "المقال السابق",
    "المقال التالي",
    "مقالات ذات صلة",
    "أخبار ذات صلة",
    "شارك هذا المقال",
    "شارك الخبر",
    "فيسبوك",
    "واتساب",
    "جميع الحقوق محفوظة",
    "سياسة الخصوصية",
    "الأكثر قراءة",
    "الأكثر مشاهدة",
    "النشرة البريدية",
    "إرسال التعليق",
    "الوسوم",
    "تصفّح المقالات",
    "روسيا تعيد فتح سفارتها",
    "أسعار الذهب اليوم",
    "تسجيل الدخول",
    "اتصل بنا",
]
LEVANT = {
    "title": "موسكو تستقبل وفد طالبان وسط مخاوف من تمدد داعش خراسان",
    "first": "استقبلت العاصمة الروسية موسكو يوم الخميس وفداً رفيع المستوى",
    "last": "تجفيف مصادر تمويل الجماعات المسلحة",
    "author": "أحمد الخطيب",
    "published": datetime(2025, 11, 21, tzinfo=UTC),  # the byline gives the day only
    "sitename": "صحيفة الرصد العربي",
    "timezone": "Asia/Beirut",
}
EGYPT = {
    "title": "الخارجية الروسية: التعاون مع كابول ضرورة لمواجهة الإرهاب",
    "first": "أكدت وزارة الخارجية الروسية، اليوم الجمعة",
    "last": "المؤسسات الحكومية والمنظمات الدولية",
    "author": "محمد عبد الله",
    "published": datetime(2025, 11, 21, 13, 45, tzinfo=UTC),  # «٠٣:٤٥ م» in Cairo (UTC+2 in November)
    "sitename": "بوابة النيل الإخبارية",
    "timezone": "Africa/Cairo",
}
WP_PAGES = {
    "wp_levant_utf8.html": LEVANT,
    "wp_levant_cp1256_declared_latin1.html": LEVANT,
    "wp_levant_cp1256_no_charset.html": LEVANT,
    "wp_egypt_utf8.html": EGYPT,
    "wp_egypt_cp1256.html": EGYPT,
    "wp_egypt_cp1256_declared_utf8.html": EGYPT,
}


@pytest.mark.parametrize("name", sorted(WP_PAGES))
def test_arabic_wordpress_pages_clean_in_every_encoding(name: str) -> None:
    expected = WP_PAGES[name]
    result = extract_article(
        (PAGES / name).read_bytes(), "https://news.example/?p=1", None, FeedHints(timezone=expected["timezone"])
    )
    assert result.status == "ok", result.status_reason
    assert result.text_source == "page"
    assert result.text.startswith(expected["first"])
    assert expected["last"] in result.text
    leaked = [snippet for snippet in BOILERPLATE if snippet in result.text]
    assert not leaked, leaked
    assert result.title == expected["title"]
    assert result.author == expected["author"]  # «بواسطة» / «كتب:» gone
    assert result.published == expected["published"]
    assert result.sitename == expected["sitename"]
    assert result.language == "ar"


def test_windows_1256_with_wrong_declaration_decodes_to_arabic() -> None:
    body = (PAGES / "wp_levant_cp1256_declared_latin1.html").read_bytes()
    text, codec = decode_html(body, "text/html; charset=ISO-8859-1")
    assert codec == "cp1256"
    assert "موسكو تستقبل وفد طالبان" in text
    # A genuine Latin-1 page keeps its declared charset.
    latin = (
        "<html><head><meta charset='iso-8859-1'></head><body><p>Café à Montréal, déjà vu.</p></body></html>"
    )
    text, codec = decode_html(latin.encode("latin-1"))
    assert codec == "iso8859-1" and "Montréal" in text


@pytest.mark.parametrize(
    ("text", "codec", "expected_codec"),
    [
        (
            "أعلنت وزارة الصحة تسجيل حالات جديدة من الإصابة بالكوليرا في عدة محافظات.",
            "iso-8859-6",
            "iso8859-6",
        ),
        ("أعلنت وزارة الصحة تسجيل حالات جديدة من الإصابة بالكوليرا في عدة محافظات.", "cp1256", "cp1256"),
        ("Le gouvernement a annoncé un plan de soutien à l'économie, déjà critiqué.", "latin-1", "cp1252"),
        ("Правительство объявило о новых мерах поддержки экономики.", "cp1251", "cp1251"),
        # Czech: the windows-1252 preference for Western pages must not swallow Central European ones
        (
            "Vláda oznámila nový plán na podporu ekonomiky, který bude zaveden příští rok. Řekl ministr.",
            "cp1250",
            "cp1250",
        ),
    ],
)
def test_undeclared_legacy_encodings_are_detected(text: str, codec: str, expected_codec: str) -> None:
    body = f"<html><body><p>{' '.join([text] * 4)}</p></body></html>".encode(codec)
    decoded, used = decode_html(body)
    assert used == expected_codec
    assert text in decoded


@pytest.mark.parametrize(
    ("body", "content_type", "reason"),
    [
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", None, "PDF document"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "text/html", "PNG image"),
        (b"<html><body>x</body></html>", "application/pdf", "content type application/pdf"),
        (b"\x00\x01\x02\x03binary\x00\x00", None, "binary content (NUL bytes)"),
        (
            b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>',
            None,
            "a feed document, not a page",
        ),
        (b"", None, "empty body"),
        (b"just some words without any markup at all", "text/plain", "no markup in the first 2 KB"),
    ],
)
def test_non_html_is_refused_with_a_reason(body: bytes, content_type: str | None, reason: str) -> None:
    assert sniff_not_html(body, content_type) == reason
    result = extract_article(body, "https://x.example/file", content_type)
    assert result.status == "not_html"
    assert result.status_reason == reason
    assert result.text == "" and result.text_source is None


def short_page(body_html: str, head: str = "") -> bytes:
    return (
        f"<html><head><title>قصير</title>{head}</head><body><article><h1>عنوان الخبر</h1>"
        f"{body_html}</article></body></html>"
    ).encode()


FEED_CONTENT = (
    "".join(
        f"<p>الفقرة {i}: قالت وزارة الخارجية الروسية إن المحادثات مع وفد طالبان تناولت الأمن على الحدود "
        f"والتعاون الاقتصادي ومكافحة تنظيم داعش خراسان في آسيا الوسطى.</p>"
        for i in range(6)
    )
    + '<p>The post <a href="https://x.example/a">عنوان</a> appeared first on Example News.</p>'
)


def test_stub_page_falls_back_to_feed_content_then_summary() -> None:
    page = short_page("<p>التفاصيل بعد قليل.</p>")
    hints = FeedHints(title="عنوان من الخلاصة", content=FEED_CONTENT, summary="ملخص قصير جداً")
    result = extract_article(page, "https://x.example/a", "text/html", hints)
    assert result.status == "ok" and result.text_source == "feed_content"
    assert result.text.startswith("الفقرة 0:") and "appeared first on" not in result.text
    assert "page no_text" in result.status_reason
    summary = " ".join(["أكد مسؤولون روس أن الحوار مع طالبان سيستمر رغم الانتقادات الغربية."] * 4)
    result = extract_article(page, "https://x.example/a", None, FeedHints(summary=summary))
    assert result.text_source == "feed_summary" and result.status == "ok"
    result = extract_article(page, "https://x.example/a", None, FeedHints(summary="ملخص قصير"))
    assert result.status == "no_text" and result.text == "" and result.text_source is None
    assert "too short" in result.status_reason


def test_feed_content_wins_when_page_extraction_lost_most_of_the_article() -> None:
    paragraph = "<p>" + " ".join(["كلمة"] * 35) + "</p>"
    result = extract_article(
        short_page(paragraph), "https://x.example/a", None, FeedHints(content=FEED_CONTENT * 3)
    )
    assert result.text_source == "feed_content" and result.status == "ok"


def test_paywall_stub_is_marked_not_indexed() -> None:
    teaser = (
        "<p>Gaming used to be so simple. We would buy a game, sit down in front of a console, "
        "grind our way to the end, then repeat. Now we spend money over and over on virtual perks "
        "and play on phones while socializing with friends.</p>"
        "<p>Subscribe to continue reading this article. Already a subscriber? Sign in.</p>"
    )
    result = extract_article(short_page(teaser), "https://x.example/p")
    assert result.status == "paywall" and result.text == ""
    structured = short_page(
        teaser.split("<p>Subscribe", maxsplit=1)[0] * 2,
        head='<script type="application/ld+json">{"@type":"NewsArticle",'
        '"isAccessibleForFree": false}</script>',
    )
    assert extract_article(structured, "https://x.example/p").status == "paywall"


def test_dates_page_day_refined_by_feed_time() -> None:
    body = (PAGES / "wp_levant_utf8.html").read_bytes()
    feed_time = datetime(2025, 11, 21, 14, 10, tzinfo=UTC)
    result = extract_article(body, "https://alrasd.example/?p=48213", None, FeedHints(published=feed_time))
    assert result.published == feed_time


def test_mega_menu_is_pruned_and_text_unchanged() -> None:
    plain = (PAGES / "wp_egypt_utf8.html").read_bytes()
    for style in ("nav", "div"):
        heavy = add_mega_menu(plain, 1500, seed=3, style=style, arabic=True)
        tree, _ = parse_html(heavy)
        assert prune_link_farms(tree) >= 1500
        assert (
            extract_article(heavy, "https://nile.example/world/1202/").text
            == extract_article(plain, "https://nile.example/world/1202/").text
        )


def test_gzip_body_is_inflated() -> None:
    body = gzip.compress((PAGES / "wp_egypt_utf8.html").read_bytes())
    assert extract_article(body, "https://nile.example/world/1202/").status == "ok"


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("بواسطة أحمد الخطيب", "أحمد الخطيب"),
        ("كتب: محمد عبد الله", "محمد عبد الله"),
        ("كتبت - سارة علي", "سارة علي"),
        ("بقلم: د. خالد يوسف", "د. خالد يوسف"),
        ("By Jane Doe", "Jane Doe"),
        ("Written by Jane Doe | Staff Writer", "Jane Doe"),
        ("Par Jean Dupont", "Jean Dupont"),
        ("Von Anna Schmidt", "Anna Schmidt"),
        ("Jane Doe; By John Roe", "Jane Doe; John Roe"),
        ("بواسطة", None),
        (None, None),
        ("Byron Smith", "Byron Smith"),  # a name that starts with "By" keeps it
    ],
)
def test_clean_byline(raw: str | None, clean: str | None) -> None:
    assert clean_byline(raw) == clean


def test_html_fragment_to_text_keeps_paragraphs_and_drops_feed_trailers() -> None:
    fragment = (
        "<p>سطر أول</p><p>سطر <b>ثان</b></p><script>x()</script><p>ظهرت المقالة عنوان أولاً على موقع.</p>"
    )
    assert html_fragment_to_text(fragment) == "سطر أول\nسطر ثان"


def test_cli_prints_json(capsys: pytest.CaptureFixture[str]) -> None:
    from rasad.cli import main

    page = str(PAGES / "wp_egypt_cp1256.html")
    code = main(["extract", page, "--url", "https://nile.example/world/1202/", "--timezone", "Africa/Cairo"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert set(out) >= {"url", "title", "text", "author", "published", "language", "sitename", "text_source"}
    assert out["url"] == "https://nile.example/world/1202/"
    assert out["published"] == "2025-11-21T13:45:00Z"
    assert out["published_source"] == "page: text time read in Africa/Cairo"
    # Without a zone the naive «٠٣:٤٥ م» is not passed off as 15:45 UTC: only the day is given.
    assert main(["extract", page]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["published"] == "2025-11-21T00:00:00Z" and out["published_source"].endswith("time unknown")
    assert out["language"] == "ar" and out["text_source"] == "page" and out["author"] == "محمد عبد الله"


def test_cli_reports_non_article(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from rasad.cli import main

    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(b"%PDF-1.4\n...")
    assert main(["extract", str(pdf)]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "not_html" and out["text"] == ""

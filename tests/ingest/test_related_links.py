"""Inline "read also / related / more" links: gone from the text, the paragraphs around them kept."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lxml import html

from rasad.ingest.extract.article import extract_article
from rasad.ingest.extract.feedtext import html_fragment_to_text
from rasad.ingest.related_links import remove_related_links

FIXTURES = Path(__file__).resolve().parents[1] / "resources" / "ingest" / "related_links"
EXPECTED = json.loads((FIXTURES / "expected.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_pages_lose_every_related_link_and_keep_every_paragraph(name: str) -> None:
    spec = EXPECTED[name]
    result = extract_article((FIXTURES / name).read_bytes(), spec["url"])
    assert result.status == "ok" and result.text_source == "page", result.status_reason
    leaked = [s for s in spec["drop"] if s in result.text]
    lost = [s for s in spec["keep"] if s not in result.text]
    assert not leaked, f"{name}: related-link label or headline left in the text: {leaked}"
    assert not lost, f"{name}: article paragraphs lost: {lost}"


def test_zero_leaks_over_the_fixture_set() -> None:
    """Bar 2 of issue 12, as one figure: labels and linked headlines left in the text, all pages."""
    leaks = total = 0
    for name, spec in EXPECTED.items():
        text = extract_article((FIXTURES / name).read_bytes(), spec["url"]).text
        leaks += sum(s in text for s in spec["drop"])
        total += len(spec["drop"])
    print(f"\ninline related links: {leaks} leaks of {total} snippets on {len(EXPECTED)} pages")
    assert total >= 40 and leaks == 0


def _after(fragment: str) -> str:
    root = html.fromstring(f"<div>{fragment}</div>")
    remove_related_links(root)
    return " ".join(" ".join(block.text_content().split()) for block in root.iter("p", "li"))


@pytest.mark.parametrize(
    "label",
    [
        "اقرأ أيضاً:",
        "اقرأ أيضا",
        "اقرا ايضا:",
        "إقرأ أيضًا -",
        "إقرأ المزيد",
        "اقرأ المزيد:",
        "شاهد أيضاً:",
        "شاهد ايضا",
        "للمزيد:",
        "ذات صلة:",
        "مواضيع ذات صلة:",
        "أخبار ذات صلة",
        "اقـرأ أيضـاً:",
        "«اقرأ أيضاً»",
        "Read more:",
        "READ MORE:",
        "Read more",
        "Related:",
        "RELATED:",
        "Also read:",
        "Read also",
        "See also:",
        "More:",
        "Related coverage:",
        "Don't miss:",
        "▶ Read more:",
    ],
)
def test_label_and_link_paragraph_is_removed(label: str) -> None:
    out = _after(f'<p>أول فقرة.</p><p>{label} <a href="/other/1">عنوان خبر آخر</a></p><p>Last paragraph.</p>')
    assert out == "أول فقرة. Last paragraph.", out


@pytest.mark.parametrize(
    "paragraph",
    [
        # a link inside an ordinary sentence
        'وقال المتحدث إن <a href="/x">البيان الرسمي</a> صدر مساء أمس بعد اجتماع مطول للحكومة.',
        # sentences that begin like a label but go on with ordinary text
        'More than 50 people were killed, <a href="/x">officials said</a> on Monday in Kabul.',
        'See also the report by <a href="/x">the UN mission</a>, which found many more cases in 2024.',
        'Related talks were held in Doha, <a href="/x">according to Qatar</a>, without any breakthrough.',
        'للمزيد من المعلومات يمكن زيارة <a href="/x">موقع الوزارة</a> حيث نشرت التفاصيل الكاملة للقرار.',
        'شاهد عيان قال لـ<a href="/x">رويترز</a> إن الانفجار وقع قرب مدخل السوق المزدحم.',
        # a label without a link is not a related link (the next paragraph is text)
        "اقرأ أيضاً ما قاله الوزير في مؤتمره الصحفي عن خطة الحكومة للأشهر المقبلة.",
        # a share/anchor link after the label is not another article
        'Read more: <a href="#comments">comments</a> and more text that goes on for a while here.',
    ],
)
def test_legitimate_paragraphs_with_links_stay(paragraph: str) -> None:
    text = " ".join(html.fromstring(f"<p>{paragraph}</p>").text_content().split())
    assert _after(f"<p>{paragraph}</p>") == text


def test_label_alone_then_link_blocks_go_together_but_not_a_text_paragraph() -> None:
    out = _after(
        '<p>فقرة أولى.</p><p><strong>ذات صلة</strong></p><p><a href="/a">عنوان أ</a></p>'
        '<ul><li><a href="/b">عنوان ب</a></li></ul><p>فقرة تالية عادية <a href="/c">فيها رابط</a> ونص كثير بعده.</p>'
    )
    assert out == "فقرة أولى. فقرة تالية عادية فيها رابط ونص كثير بعده."
    # «ذات صلة» followed by ordinary text is left alone: nothing link-only follows it.
    assert _after("<p>ذات صلة</p><p>نص عادي بلا روابط.</p>") == "ذات صلة نص عادي بلا روابط."


def test_line_after_br_goes_and_the_rest_of_the_paragraph_stays() -> None:
    root = html.fromstring(
        '<div><p>الفقرة الأولى تنتهي هنا.<br><strong>اقرأ أيضاً:</strong> <a href="/x">عنوان آخر</a>'
        "<br>ويكمل النص بعد ذلك.</p></div>"
    )
    assert remove_related_links(root) == 1
    assert (
        html.tostring(root, encoding="unicode")
        == "<div><p>الفقرة الأولى تنتهي هنا.<br>ويكمل النص بعد ذلك.</p></div>"
    )


def test_feed_content_loses_related_links_too() -> None:
    fragment = (
        "<p>فقرة أولى من الخبر.</p><p>اقرأ أيضاً: <a href='https://x.example/2'>عنوان خبر آخر</a></p>"
        "<p>Read more: <a href='https://x.example/3'>Another headline</a></p><p>فقرة أخيرة.</p>"
    )
    assert html_fragment_to_text(fragment) == "فقرة أولى من الخبر.\nفقرة أخيرة."

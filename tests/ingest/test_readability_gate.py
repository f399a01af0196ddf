"""The readability gate: skipped only where it cannot lose an article, and nothing worse where skipped.

The quality check runs on every gold page (``../shared/corpus/article-html`` beside the clone,
else the copied fixtures), with and without the gate, scored against the gold text.
"""

from __future__ import annotations

import pytest
from lxml import etree
from trafilatura.settings import Extractor

from bench.eval_extraction import extract_ours, find_corpus_root, load_gold_pages, score_tokens
from rasad.ingest.extract import readability_gate
from rasad.ingest.extract.article import extract_article
from rasad.ingest.extract.prune_selectors import bare_trafilatura
from rasad.ingest.extract.readability_gate import counts, skip_readability, without_gate

SENTENCES = [
    "أعلنت وزارة الخارجية الروسية اليوم أن وفداً من حركة طالبان سيزور موسكو الأسبوع المقبل.",
    "وقال المتحدث إن المحادثات ستتناول التعاون الأمني ومكافحة تنظيم داعش خراسان في المنطقة.",
    "وأضاف أن بلاده ترى في الحوار مع كابل وسيلة لحماية حدود آسيا الوسطى من تسلل المسلحين.",
    "وكانت المحكمة العليا الروسية قد رفعت الحركة من قائمة المنظمات المحظورة في وقت سابق.",
    "ويرى محللون أن الهجوم على قاعة الحفلات قرب موسكو سرّع هذا التقارب بين الطرفين.",
    "من جهتها رحبت الحكومة الأفغانية المؤقتة بالخطوة ودعت إلى توسيع التبادل التجاري.",
    "وتخشى عواصم غربية أن يمنح الاعتراف الروسي الحركة شرعية دون ضمانات لحقوق النساء.",
    "وتشير تقارير أممية إلى أن الفرع الخراساني للتنظيم جند مقاتلين من دول الجوار.",
]
PARAGRAPH = f"<p>{SENTENCES[0]} {SENTENCES[1]}</p>"


def _paragraph(n: int) -> str:
    """A distinct paragraph each time (trafilatura drops repeated ones)."""
    return f"<p>{SENTENCES[n % 8]} {SENTENCES[(n + 3) % 8]} {SENTENCES[(n * 5 + 1) % 8]} ({n})</p>"


def _page(paragraphs: int, extra: str = "") -> bytes:
    body = "".join(_paragraph(n) for n in range(paragraphs))
    return (
        f"<html lang='ar'><head><title>خبر</title></head><body><nav><a href='/'>الرئيسية</a></nav>"
        f"<article><h1>خبر</h1>{body}{extra}</article><footer>جميع الحقوق محفوظة</footer></body></html>"
    ).encode()


def _delta(run: callable) -> dict[str, int]:
    before = counts()
    run()
    after = counts()
    return {k: after[k] - before[k] for k in after}


def test_install_routes_stage_two_and_every_way_out_restores_trafilatura() -> None:
    from trafilatura import core, external

    extract_article(_page(6), "https://example.org/a")  # installs, as in a worker
    assert readability_gate.installed()
    gated = (core._extract_and_compare, external.try_readability)
    readability_gate.install()  # idempotent
    assert (core._extract_and_compare, external.try_readability) == gated
    for block in (without_gate, bare_trafilatura):
        with block():
            assert not readability_gate.installed()
            assert core._extract_and_compare.__module__ == "trafilatura.core"
            assert external.try_readability.__module__ == "trafilatura.external"
            extract_article(_page(6), "https://example.org/a")  # extract_article inside stays ungated
            assert not readability_gate.installed()
        assert readability_gate.installed()
        assert (core._extract_and_compare, external.try_readability) == gated


def test_a_long_sound_extraction_skips_readability_with_the_same_text() -> None:
    page = _page(8)
    with without_gate():
        expected = extract_article(page, "https://example.org/a")
    got: list = []
    assert _delta(lambda: got.append(extract_article(page, "https://example.org/a"))) == {"skipped": 1, "compared": 0}
    assert got[0] == expected
    assert len(got[0].text) >= 1000


def test_short_or_deficient_extractions_and_other_modes_still_ask_readability() -> None:
    import trafilatura

    extract_article(_page(6), "https://example.org/a")
    # One paragraph: under 2 x min_extracted_size, readability may still double it.
    assert _delta(lambda: extract_article(_page(1), "https://example.org/a")) == {"skipped": 0, "compared": 1}
    # Deficient bodies: trafilatura's rule lets readability win on length alone.
    text = "x" * 2000
    sound = etree.fromstring("<body><p>a</p><p>b</p><table><tr><td>c</td></tr></table></body>")
    tables = etree.fromstring("<body><p>a</p><table><tr><td>b</td></tr></table><table/></body>")
    no_paragraph_text = etree.fromstring("<body><p/><list><item>a</item></list></body>")
    precision = Extractor(precision=True)
    assert skip_readability(sound, text, precision)
    assert not skip_readability(tables, text, precision)
    assert not skip_readability(no_paragraph_text, text, precision)
    assert not skip_readability(sound, text[: 2 * precision.min_extracted_size - 1], precision)
    assert not skip_readability(sound, text, Extractor())  # balanced
    assert not skip_readability(sound, text, Extractor(recall=True))
    # The default (balanced) mode of trafilatura.extract is never gated.
    assert _delta(lambda: trafilatura.extract(_page(8), url="https://example.org/a")) == {"skipped": 0, "compared": 1}


@pytest.fixture(scope="module")
def gold() -> list:
    return load_gold_pages(find_corpus_root()[0])


def test_on_the_gold_pages_it_skips_most_and_never_scores_worse(gold: list) -> None:
    with without_gate():
        ungated = [extract_ours(page) for page in gold]
    before = counts()
    gated = [extract_ours(page) for page in gold]
    skipped = counts()["skipped"] - before["skipped"]
    changed = [
        (page.name, score_tokens(old, page.gold_text)[2], score_tokens(new, page.gold_text)[2])
        for page, old, new in zip(gold, ungated, gated, strict=True)
        if old != new
    ]
    print(f"\nreadability skipped on {skipped} of {len(gold)} gold pages; texts changed: {changed}")
    worse = [c for c in changed if c[2] < c[1]]
    assert not worse, f"skipping readability lost article text on {worse}"
    assert len(changed) <= max(1, len(gold) // 100), changed
    # The gate is what keeps extraction fast: a trafilatura upgrade that defeats it must show.
    assert skipped >= 0.8 * len(gold), f"readability skipped on only {skipped} of {len(gold)} pages"

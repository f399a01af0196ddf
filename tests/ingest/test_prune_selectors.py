"""trafilatura's pruning XPaths evaluated in Python select exactly what lxml selects.

The pages: every page of ``../shared/corpus/article-html`` when it sits beside the clone (the
gold corpora and the three Arabic layouts of the end-to-end farm), else the copied fixtures.
"""

from __future__ import annotations

import contextlib
import gzip
from copy import deepcopy
from pathlib import Path

import pytest
from lxml import etree
from lxml.html import fromstring

from rasad.ingest.extract import prune_selectors
from rasad.ingest.extract.article import extract_article, strip_inert_elements
from rasad.ingest.extract.decode import parse_html
from rasad.ingest.extract.prune_selectors import Unsupported, bare_trafilatura, parse_selector
from rasad.ingest.extract.readability_gate import without_gate

REPO = Path(__file__).resolve().parents[2]
SHARED_HTML = REPO.parent / "shared" / "corpus" / "article-html"
FIXTURES = (REPO / "tests" / "resources" / "ingest" / "gold", REPO / "tests" / "resources" / "ingest" / "pages")
RE_NS = {"re": "http://exslt.org/regular-expressions"}

# What makes extraction slow: these must keep translating after a trafilatura upgrade.
EXPENSIVE = ("OVERALL_DISCARD_XPATH", "REMOVE_COMMENTS_XPATH", "REMOVE_COMMENTS_AND_LISTS_XPATH",
             "RAW_TREE_PRUNE_XPATH")  # fmt: skip


def _read(path: Path) -> bytes:
    raw = path.read_bytes()
    return gzip.decompress(raw) if path.suffix == ".gz" else raw


def _page_files() -> list[Path]:
    roots = [SHARED_HTML] if SHARED_HTML.is_dir() else list(FIXTURES)
    files = [p for root in roots for p in sorted(root.rglob("*")) if p.name.endswith((".html", ".htm", ".html.gz"))]
    assert len(files) >= 30, f"expected the gold pages under {roots}, found {len(files)}"
    return files


@pytest.fixture(scope="module")
def pages() -> list[tuple[str, bytes]]:
    return [(str(p.relative_to(p.parents[2])), _read(p)) for p in _page_files()]


@pytest.fixture(scope="module")
def translated() -> dict[str, tuple[etree.XPath, prune_selectors.PruneSelector]]:
    from trafilatura import xpaths

    with bare_trafilatura():
        out = {}
        for name in prune_selectors.PRUNE_LISTS:
            for index, expression in enumerate(getattr(xpaths, name)):
                with contextlib.suppress(Unsupported):
                    out[f"{name}[{index}]"] = (expression, parse_selector(expression))
    return out


def test_the_expensive_expressions_translate(translated: dict) -> None:
    from trafilatura import xpaths

    for name in EXPENSIVE:
        for index in range(len(getattr(xpaths, name))):
            assert f"{name}[{index}]" in translated, f"{name}[{index}] is left to lxml: extraction is slow again"


def _trees(body: bytes) -> list[etree._Element]:
    """The tree we hand trafilatura, and that tree as trafilatura prunes it after cleaning and conversion."""
    from trafilatura.htmlprocessing import convert_tags, tree_cleaning
    from trafilatura.settings import Extractor

    tree, _ = parse_html(body, None)
    if tree is None:
        return []
    strip_inert_elements(tree)
    cleaned = convert_tags(tree_cleaning(deepcopy(tree), Extractor()), Extractor())
    return [tree, cleaned]


def test_every_translated_expression_selects_what_lxml_selects(pages: list, translated: dict) -> None:
    compared = 0
    for name, body in pages:
        for stage, tree in enumerate(_trees(body)):
            for key, (original, selector) in translated.items():
                expected = original(tree)
                got = selector(tree)
                assert got == expected, f"{key} on {name} (tree {stage}): {len(got)} elements, lxml {len(expected)}"
                compared += 1
    print(f"\n{compared} selections compared on {len(pages)} pages, all identical")


def test_extraction_is_identical_with_and_without(pages: list) -> None:
    sample = pages[::4] if len(pages) > 90 else pages
    with without_gate():  # the selectors alone (the readability gate has its own tests)
        for name, body in sample:
            with bare_trafilatura():
                expected = extract_article(body, "https://example.org/a")
            got = extract_article(body, "https://example.org/a")
            assert got == expected, f"extraction of {name} differs with the Python selectors"
    assert prune_selectors.installed()


def _same(xpath: str, html: str) -> list[str]:
    original = etree.XPath(xpath, namespaces=RE_NS)
    tree = fromstring(html)
    selector = parse_selector(original)
    expected = original(tree)
    assert selector(tree) == expected, f"{xpath} on {html}"
    assert selector(tree) == expected  # a second time: from what it remembered
    return [e.get("id") or e.tag for e in expected]


def test_xpath_details_are_kept() -> None:
    # @id|@class: the first of the two in source order, not either of them.
    assert _same(".//*[re:test(@id|@class, 'cookie')]",
                 '<div><p class="x" id="cookie-1">a</p><p id="cookie-2" class="x">b</p></div>') == ["cookie-2"]  # fmt: skip
    # An absent attribute is the empty string to re:test, so '^$' matches it; @a='x' is false.
    assert _same(".//*[self::p][re:test(@class, '^$')]", '<div><p class="">a</p><p id="q">b</p><p class="c">c</p></div>') == [
        "p", "q"]  # fmt: skip
    assert _same(".//*[@class='c' or @data-x]", '<div><p class="c d" id="a">a</p><p data-x="" id="b">b</p></div>') == ["b"]
    # translate: first occurrence decides, characters without a counterpart are dropped.
    assert _same(".//*[contains(translate(@role, 'NAa', 'n'), 'nvigtion')]",
                 '<div><nav role="Navigation" id="n">x</nav><p role="navigation" id="m">y</p></div>') == ["n", "m"]  # fmt: skip
    # not(.//h1) looks at descendants: never remembered by attributes alone.
    xpath = ".//*[self::div or self::section][re:test(@class, 'scroll')][not(.//h1) or re:test(@id, '^keep')]"
    assert _same(xpath, '<div><div class="scroll" id="a"><h1>t</h1></div><div class="scroll" id="b">x</div>'
                        '<section class="scroll" id="keep"><h1>t</h1></section></div>') == ["b", "keep"]  # fmt: skip
    # A tag test inside a predicate is remembered per tag.
    xpath = ".//*[self::div or self::ul][re:test(@class, 'c')][not(self::ul) or re:test(@id, 'x')]"
    assert _same(xpath, '<div><ul class="c" id="u">a</ul><div class="c" id="d">b</div><ul class="c" id="x">c</ul></div>') == [
        "d", "x"]  # fmt: skip
    # Comments and processing instructions are not elements.
    assert _same(".//*[not(@id)]", "<div><!-- c --><?pi x?><p>a</p><p id='i'>b</p></div>") == ["p"]
    # starts-with on a union, contains on a plain attribute.
    assert _same(".//*[starts-with(@id|@class, 'reply-') or contains(@style, 'display:none')]",
                 '<div><p class="reply-1" id="r">a</p><p id="t" class="reply-2">c</p>'
                 '<p id="s" style="a;display:none">b</p></div>') == ["r", "s"]  # fmt: skip


@pytest.mark.parametrize("xpath", [
    ".//header",
    ".//cite|.//quote",
    ".//*[self::div and @id]",
    ".//*[re:test(@class, 'x', 'i')]",
    ".//*[count(.//p) > 2]",
    ".//*[contains(string(.), 'x')]",
    "//*[@id]",
])  # fmt: skip
def test_what_is_not_translated_is_refused(xpath: str) -> None:
    with pytest.raises(Unsupported):
        parse_selector(etree.XPath(xpath, namespaces=RE_NS))


def test_install_is_idempotent_and_bare_trafilatura_restores_it() -> None:
    from trafilatura import xpaths

    count = prune_selectors.install()
    assert count >= 8 and prune_selectors.install() == count
    assert isinstance(xpaths.OVERALL_DISCARD_XPATH[0], prune_selectors.PruneSelector)
    with bare_trafilatura():
        assert isinstance(xpaths.OVERALL_DISCARD_XPATH[0], etree.XPath)
        assert prune_selectors.install() == 0  # extract_article inside the block stays bare
        assert isinstance(xpaths.OVERALL_DISCARD_XPATH[0], etree.XPath)
    assert isinstance(xpaths.OVERALL_DISCARD_XPATH[0], prune_selectors.PruneSelector)

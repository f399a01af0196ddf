"""Pruning link farms: navigation blocks that are nearly all links, on link-heavy pages."""

from __future__ import annotations

from lxml.html import HtmlElement

_NAV_CANDIDATES = (
    "//nav | //*[@role='navigation' or @role='menubar' or @role='menu']"
    " | //ul[contains(@class,'menu') or contains(@id,'menu') or contains(@class,'nav')]"
    " | //div[contains(@class,'mega') or contains(@class,'menu') or contains(@id,'menu')]"
)


def _link_density(element: HtmlElement) -> tuple[float, int]:
    """Share of the element's characters that sit inside links, and its number of links."""
    # XPath string collection runs in libxml2; a Python walk over 1,500 links cost ~100 ms.
    total = len("".join(element.xpath(".//text()")).strip())
    links = int(element.xpath("count(.//a)"))
    linked = len("".join(element.xpath(".//a//text()")).strip())
    return (linked / total if total else 1.0), links


def _is_attached(element: HtmlElement, root: HtmlElement) -> bool:
    return any(ancestor is root for ancestor in element.iterancestors())


def prune_link_farms(tree: HtmlElement) -> int:
    """Remove navigation blocks that are nearly all links from a link-heavy page; returns links removed.

    Candidates are navigation landmarks and menu-classed lists, plus any list of 40+ links
    (unlabelled menus); one is removed only if ≥70% (≥85% for unlabelled lists) of its text
    is link text and it neither is nor holds the article.
    """
    removed = 0
    for query, min_density in (
        (_NAV_CANDIDATES, 0.7),
        ("//ul[count(.//a) >= 40] | //ol[count(.//a) >= 40]", 0.85),
    ):
        for element in tree.xpath(query):
            # Outer blocks come first in document order; their inner lists go with them.
            if not _is_attached(element, tree):
                continue
            if element.xpath(
                "self::article or self::main or ancestor::article or ancestor::main or .//article or .//main"
            ):
                continue
            density, links = _link_density(element)
            if links >= 10 and density >= min_density:
                removed += links
                element.drop_tree()
    return removed

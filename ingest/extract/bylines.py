"""The page's byline: author markup scoped to the article, cleaned of prefixes, dates and noise."""

from __future__ import annotations

import re

from lxml.etree import XPath
from lxml.html import HtmlElement

_BYLINE_PREFIXES = (
    "بواسطة",
    "بقلم",
    "كتب",
    "كتبت",
    "كتبه",
    "كتبها",
    "إعداد",
    "اعداد",
    "تقرير",
    "تحرير",
    "المحرر",
    "الكاتب",
    "الكاتبة",
    "مراسل",
    "written by",
    "posted by",
    "reported by",
    "story by",
    "words by",
    "by",
    "author",
    "par",
    "écrit par",
    "publié par",
    "von",
    "por",
    "oleh",
    "yazan",
)  # not "di"/"de"/"van": they start surnames (Di Maria, De Gaulle)
# A prefix counts only as a whole word followed by a separator or the end («Byron» keeps «By»,
# «كتبت» is not «كتب» + «ت»); longest first so «written by» wins over «by».
_PREFIX_ALT = "|".join(
    re.escape(p).replace("\\ ", r"\s+") for p in sorted(_BYLINE_PREFIXES, key=len, reverse=True)
)
_BYLINE_PREFIX_RE = re.compile(
    r"^(?:\s*(?:" + _PREFIX_ALT + r")(?:\s*[:：\-–—|]\s*|\s+|\s*$))+", re.IGNORECASE
)
_BYLINE_SUFFIX_RE = re.compile(
    r"\s*[|\-–—]\s*(?:staff\s+writer|correspondent|مراسل\S*|محرر\S*)\s*$", re.IGNORECASE
)


def clean_byline(author: str | None) -> str | None:
    """Strip «بواسطة», «كتب», «By», «Par»… and role suffixes from a byline; None if nothing is left."""
    if not author:
        return None
    parts = []
    for raw in re.split(r"\s*;\s*", author):
        part = _BYLINE_SUFFIX_RE.sub("", _BYLINE_PREFIX_RE.sub("", raw.strip())).strip(" :-–—|,،")
        if part and part not in parts:
            parts.append(part)
    return "; ".join(parts) or None


# Class/id tokens of blocks whose names are not the article's byline (comment authors,
# sidebars, related stories). Matched per token: WordPress puts "category-world" on the
# article wrapper itself, so a substring test would discard every byline.
_BYLINE_DISCARD_RE = re.compile(
    r"(?:^|\s)(?:comment|sidebar|widget|related|jp-relatedposts|is-hidden|article-share|article-support|"
    r"meta-date|quote|print)",
    re.IGNORECASE,
)
# Specific markup first (tier 0), generic class names second (tier 1), as trafilatura ranks
# them, but in one precompiled pass without its EXSLT regex tests (~5 ms a page on big trees).
_BYLINE_XPATH = XPath(
    ".//*[@class or @id or @rel or @itemprop]"
    "[@rel='author' or @itemprop='author' or contains(@class,'author')"
    " or contains(@class,'byline') or contains(@id,'author') or contains(@class,'writer')"
    " or contains(@class,'posted-by') or contains(@class,'submitted-by') or contains(@class,'journalist')"
    " or contains(@class,'AuthorName') or contains(@class,'authorName')] | .//author"
)
_BYLINE_SPECIFIC_RE = re.compile(r"^(?:author|byline)$|author-?name|author_name|AuthorName|authorName")
_BYLINE_GENERIC_TAGS = {"a", "div", "p", "span", "h3", "h4", "address", "author"}
_ARTICLE_XPATH = XPath("//article[1]")
_H1_XPATH = XPath("//h1[1]")


def _is_byline_noise(element: HtmlElement) -> bool:
    if element.tag in {"time", "figure"}:
        return True
    return any(
        _BYLINE_DISCARD_RE.search(value)
        for value in (element.get("class", ""), element.get("id", ""))
        if value
    )


def _byline_text(element: HtmlElement) -> str:
    # Space-joined like trafilatura's itertext join: "<a>Meg James</a><span>Staff Writer</span>"
    # must not become "Meg JamesStaff Writer".
    parts = [element.text or ""]
    for child in element:
        if isinstance(child.tag, str) and not _is_byline_noise(child):
            parts.append(_byline_text(child))
        parts.append(child.tail or "")
    return " ".join(parts)


def _byline_tier(element: HtmlElement) -> int | None:
    if element.get("rel") == "author" or element.get("itemprop") == "author" or element.tag == "author":
        return 0
    if any(_BYLINE_SPECIFIC_RE.search(v) for v in (element.get("class", ""), element.get("id", "")) if v):
        return 0
    return 1 if element.tag in _BYLINE_GENERIC_TAGS else None


def _byline_scope(tree: HtmlElement) -> HtmlElement:
    """Where bylines sit: the article element, else the block around the headline, else the page."""
    articles = _ARTICLE_XPATH(tree)
    if articles:
        return articles[0]
    headings = _H1_XPATH(tree)
    if headings:
        scope = headings[0]
        for _ in range(4):
            parent = scope.getparent()
            if parent is None or parent.tag == "body":
                break
            scope = parent
        return scope
    return tree


def find_byline(tree: HtmlElement) -> str | None:
    """The page's byline from author markup, skipping comments, sidebars, dates and figures.

    Searched in the article (or the block around the headline) first, which is where
    bylines are and is a fraction of the page, then in the whole page.
    """
    scope = _byline_scope(tree)
    for root in (scope, tree) if scope is not tree else (tree,):
        best: tuple[int, str] | None = None
        for element in _BYLINE_XPATH(root)[:60]:
            tier = _byline_tier(element)
            if tier is None or (best and best[0] <= tier):
                continue
            if _is_byline_noise(element) or any(_is_byline_noise(a) for a in element.iterancestors()):
                continue
            content = " ".join(_byline_text(element).split())
            if 2 < len(content) < 120:
                best = (tier, content)
                if tier == 0:
                    break
        if best:
            from trafilatura.json_metadata import normalize_authors

            # trafilatura's clean-up: drops dates, @handles, emoji and "By"-style prefixes
            return normalize_authors(None, best[1]) or None
    return None

"""A feed item's HTML content or summary as plain text (what the extraction falls back to)."""

from __future__ import annotations

import re

from rasad.ingest.related_links import remove_related_links

_FEED_TRAILER_RE = re.compile(
    r"\n?\s*(?:The post .{1,300}? appeared first on .{1,200}?\.?|"
    r"ظهرت المقالة .{1,300}? أولاً? على .{1,200}?\.?|"
    r"Continue reading\.*|Read more\.*|(?:اقرأ|إقرأ) (?:المزيد|أيضا)\.*)\s*$",
    re.IGNORECASE,
)
_NOT_XML_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_BLOCK_TAGS = {
    "p",
    "div",
    "br",
    "li",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "blockquote",
    "tr",
    "section",
    "article",
    "figcaption",
    "pre",
}


def html_fragment_to_text(fragment: str) -> str:
    """Plain text from a feed's HTML content or summary, one paragraph per line."""
    from lxml import html as lxml_html

    fragment = _NOT_XML_RE.sub("", fragment)  # lxml refuses control characters and lone surrogates
    if "<" not in fragment:
        text = fragment
    else:
        try:
            root = lxml_html.fragment_fromstring(fragment, create_parent="div")
        except Exception:
            return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", fragment)).strip()
        for bad in root.xpath(".//script | .//style | .//iframe | .//form"):
            bad.drop_tree()
        remove_related_links(root)  # feeds' content:encoded carries the same «اقرأ أيضاً» lines
        for element in root.iter():
            if isinstance(element.tag, str) and element.tag in _BLOCK_TAGS:
                element.tail = "\n" + (element.tail or "")
        text = root.text_content()
    lines = [re.sub(r"[ \t\u00a0]+", " ", line).strip() for line in text.splitlines()]
    text = "\n".join(line for line in lines if line)
    return _FEED_TRAILER_RE.sub("", text).strip()

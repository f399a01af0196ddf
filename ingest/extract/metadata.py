"""Title, author, site name and image of a page: JSON-LD first, then meta tags, then markup."""

from __future__ import annotations

from lxml.html import HtmlElement

from rasad.ingest.extract.bylines import find_byline
from rasad.ingest.extract.jsonld import read_jsonld_article


def read_metadata(tree: HtmlElement) -> dict[str, str | None]:
    """Title, author, site name and image from meta tags, JSON-LD and page markup."""
    from trafilatura.metadata import examine_meta, extract_sitename, extract_title

    meta = examine_meta(tree)
    if meta.author and " " not in meta.author:
        meta.author = None  # trafilatura's rule: one-token "authors" are usually handles or site names
    jsonld = read_jsonld_article(tree)
    title = jsonld.get("title") or meta.title or extract_title(tree)
    author = jsonld.get("author") or meta.author or find_byline(tree)
    sitename = (jsonld.get("sitename") or meta.sitename or extract_sitename(tree) or "").lstrip("@") or None
    return {
        "title": title,
        "author": author,
        "sitename": sitename,
        "image": meta.image or jsonld.get("image"),
    }

"""The page's JSON-LD article object: headline, author, publisher and image."""

from __future__ import annotations

from html import unescape

from lxml.html import HtmlElement

_ARTICLE_TYPES = {
    "newsarticle",
    "article",
    "reportagenewsarticle",
    "analysisnewsarticle",
    "opinionnewsarticle",
    "blogposting",
    "liveblogposting",
    "backgroundnewsarticle",
    "reviewnewsarticle",
    "report",
    "socialmediaposting",
    "scholarlyarticle",
    "techarticle",
}


def _names(value: object) -> list[str]:
    """Person/organisation names from a JSON-LD author/publisher value."""
    if isinstance(value, str):
        return [value] if value.strip() and not value.startswith("http") else []
    if isinstance(value, dict):
        return _names(value.get("name"))
    if isinstance(value, list):
        return [name for item in value for name in _names(item)]
    return []


def _image_url(value: object) -> str | None:
    if isinstance(value, str):
        return value or None
    if isinstance(value, dict):
        return _image_url(value.get("url") or value.get("contentUrl"))
    if isinstance(value, list) and value:
        return _image_url(value[0])
    return None


def read_jsonld_article(tree: HtmlElement) -> dict[str, str | None]:
    """headline, author, publisher and image of the page's JSON-LD article object, if any."""
    import json

    for script in tree.xpath("//script[@type='application/ld+json']/text()"):
        try:
            data = json.loads(script, strict=False)
        except ValueError:
            continue  # broken JSON-LD is common; the meta tags and markup still answer
        stack = data if isinstance(data, list) else [data]
        while stack:
            item = stack.pop(0)
            if isinstance(item, list):
                stack.extend(item)
                continue
            if not isinstance(item, dict):
                continue
            if "@graph" in item:
                stack.extend(item["@graph"] if isinstance(item["@graph"], list) else [item["@graph"]])
            kinds = item.get("@type")
            kinds = [kinds] if isinstance(kinds, str) else (kinds or [])
            if any(isinstance(k, str) and k.lower() in _ARTICLE_TYPES for k in kinds):
                # CMSs often HTML-escape JSON-LD strings a second time (&quot; in headlines).
                authors = [unescape(a).strip() for a in _names(item.get("author"))]
                publisher = _names(item.get("publisher"))
                headline = item.get("headline") or item.get("name")
                return {
                    "title": unescape(headline).strip() or None if isinstance(headline, str) else None,
                    "author": "; ".join(dict.fromkeys(a for a in authors if a)) or None,
                    "sitename": unescape(publisher[0]).strip() or None if publisher else None,
                    "image": _image_url(item.get("image")),
                }
    return {}

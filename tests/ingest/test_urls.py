"""Canonical URLs: variants of one article collapse, different articles stay apart."""

from __future__ import annotations

import pytest

from rasad.ingest.urls import URLError, canonicalize_url, unwrap_amp_cache

CANON = "https://example.com/world/2025/11/story-1"
VARIANTS = [
    "https://example.com/world/2025/11/story-1",
    "http://example.com/world/2025/11/story-1",  # scheme
    "HTTPS://EXAMPLE.COM/world/2025/11/story-1",  # scheme and host case
    "https://www.example.com/world/2025/11/story-1",
    "https://m.example.com/world/2025/11/story-1",  # mobile host
    "https://amp.example.com/world/2025/11/story-1",
    "https://example.com/world/2025/11/story-1/amp",  # AMP path
    "https://example.com/world/2025/11/story-1/amp/",
    "https://example.com/amp/world/2025/11/story-1",
    "https://example.com/world/2025/11/story-1?amp=1",
    "https://example.com/world/2025/11/story-1?outputType=amp",
    "https://example.com:443/world/2025/11/story-1",  # default ports
    "http://example.com:80/world/2025/11/story-1",
    "https://example.com/world/2025/11/story-1/",  # trailing slash
    "https://example.com//world/2025/11/story-1",
    "https://example.com/world/2025/11/story-1#comments",  # fragment
    "https://example.com/world/2025/11/story-1?utm_source=rss&utm_medium=feed&utm_campaign=x",
    "https://example.com/world/2025/11/story-1?fbclid=IwAR0abc&gclid=xyz",
    "https://example.com/world/2025/11/story-1?traffic_source=rss",
    "https://example.com./world/2025/11/story-1",
    "https://www-example-com.cdn.ampproject.org/c/s/www.example.com/world/2025/11/story-1",
    "https://www.google.com/amp/s/www.example.com/world/2025/11/story-1",
    "  https://user:pw@Example.com/world/2025/11/story-1  ",
]


@pytest.mark.parametrize("url", VARIANTS)
def test_variants_collapse_to_one_canonical_url(url):
    assert canonicalize_url(url) == CANON


def test_content_selecting_parts_are_kept_apart():
    urls = [
        "https://example.com/world/2025/11/story-1",
        "https://example.com/world/2025/11/Story-1",  # path case is the server's business
        "https://example.com/article?id=1",
        "https://example.com/article?id=2",
        "https://example.com:8443/world/2025/11/story-1",
        "https://news.example.com/world/2025/11/story-1",
        "https://example.com/world/2025/11/story-1?page=2",
        "https://example.com/world/2025/11/story-1?cid=9",  # some CMSs use cid for the content id
    ]
    assert len({canonicalize_url(u) for u in urls}) == len(urls)


def test_query_order_and_arabic_encoding_are_normalised():
    assert canonicalize_url("https://x.com/a?b=2&a=1") == canonicalize_url("https://x.com/a?a=1&b=2&utm_term=z")
    raw = canonicalize_url("https://aljazeera.net/news/2025/11/21/روسيا-وطالبان")
    encoded = canonicalize_url("https://www.aljazeera.net/news/2025/11/21/%d8%b1%d9%88%d8%b3%d9%8a%d8%a7-"
                               "%d9%88%d8%b7%d8%a7%d9%84%d8%a8%d8%a7%d9%86?traffic_source=rss")  # fmt: skip
    assert raw == encoded and raw.isascii()
    assert canonicalize_url("https://مثال.إختبار/خبر").startswith("https://xn--")


@pytest.mark.parametrize("bad", ["ftp://example.com/a", "javascript:alert(1)", "/relative/path", "http://",
                                 "http://[::1", "http://example.com:99999/a", "mailto:a@b.c"])  # fmt: skip
def test_non_article_urls_raise_urlerror(bad):
    with pytest.raises(URLError):
        canonicalize_url(bad)


def test_unwrap_amp_cache_leaves_ordinary_urls_alone():
    assert unwrap_amp_cache("https://www.google.com/search?q=amp") == "https://www.google.com/search?q=amp"
    assert unwrap_amp_cache("https://example.com/amp/x") == "https://example.com/amp/x"

"""What extraction reads from the feed (``FeedHints``) and returns (``Extracted``, with its status)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

STATUS_OK = "ok"
STATUS_NO_TEXT = "no_text"
STATUS_NOT_HTML = "not_html"
STATUS_PAYWALL = "paywall"


@dataclass
class FeedHints:
    """What the feed said about an item, used to fill gaps the page leaves."""

    title: str | None = None
    summary: str | None = None
    content: str | None = None  # content:encoded / Atom content, HTML
    published: datetime | None = None
    author: str | None = None
    language_hint: str | None = None
    timezone: str | None = None  # the feed's IANA zone: how naive page times are read


@dataclass
class Extracted:
    """Clean article text and metadata from one page (and its feed item)."""

    title: str | None
    text: str
    author: str | None
    published: datetime | None  # UTC
    sitename: str | None
    image: str | None
    language: str | None
    text_source: str | None  # page | feed_content | feed_summary
    status: str  # ok | no_text | not_html | paywall
    status_reason: str | None = None
    published_source: str | None = None  # which date won and why (ingest.dates.resolve_published)
    # Fingerprints, search forms and tags an extraction worker computed from this text
    # (rasad.enrich.prepare.Prepared, from the pool job extract_and_prepare), or None.
    prepared: Any = None

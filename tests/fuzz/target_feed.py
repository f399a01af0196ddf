"""Feed bytes -> the whole feed path: entity vetting (XML hardening), parsing, item fields, canonical URLs."""

from __future__ import annotations

import json
import random
import traceback
from datetime import datetime
from typing import Any

from tests.fuzz.engine import Contained, PropertyFailure, Target
from tests.fuzz.mutate import XML_TOKENS, mutate_bytes
from tests.fuzz.seeds import feed_seeds

CONTENT_TYPES = [None, "application/rss+xml", "application/atom+xml; charset=utf-8", "text/xml; charset=windows-1256",
                 "application/xml; charset=bogus", "text/html", "application/json", "application/feed+json",
                 "text/plain; charset=utf-16", "application/rss+xml; charset=iso-8859-6", ""]  # fmt: skip
BASES = ["", "https://www.aljazeera.net/feed", "http://example.org/a/b/rss.xml", "https://[::1]:8080/x",
         "http://xn--mgbh0fb.xn--kgbechtv/rss", "https://news.example.com:99999/"]  # fmt: skip


class FeedTarget(Target):
    name = "feed"
    extension = "feed"

    def setup(self) -> None:
        self.seeds = feed_seeds()
        for s in self.seeds[:20]:
            self.check((s, None, ""))

    def generate(self, rng: random.Random) -> tuple[bytes, str | None, str]:
        body = mutate_bytes(rng, rng.choice(self.seeds), XML_TOKENS, self.seeds)
        return body, rng.choice(CONTENT_TYPES), rng.choice(BASES)

    def encode(self, value: tuple[bytes, str | None, str]) -> bytes:
        body, ctype, url = value
        return json.dumps({"content_type": ctype, "url": url}).encode() + b"\n" + body

    def decode(self, data: bytes) -> tuple[bytes, str | None, str]:
        head, _, body = data.partition(b"\n")
        meta = json.loads(head)
        return body, meta["content_type"], meta["url"]

    def shrink(self, value: Any) -> list[Any]:
        body, ctype, url = value
        return [(b, ctype, url) for b in super().shrink(body)]

    def check(self, value: tuple[bytes, str | None, str]) -> None:
        from rasad.core.records import article_id
        from rasad.ingest import feeds
        from rasad.ingest.urls import URLError, canonicalize_url

        body, ctype, url = value
        parsed = feeds.parse_feed(body, "fuzz", url, None, ctype)
        if parsed.error and parsed.error.startswith("feed parser crashed"):
            try:
                feeds._parse_feed(body, "fuzz", url, None, ctype)
            except Exception as e:  # where did it raise: feedparser itself, or our code?
                frames = traceback.extract_tb(e.__traceback__)
                if "/feedparser/" in frames[-1].filename:
                    raise Contained(f"feedparser: {type(e).__name__}: {e} (reported as: {parsed.error[:120]})") from None
                raise
            raise PropertyFailure(parsed.error)
        if parsed.error is not None and not (isinstance(parsed.error, str) and parsed.error.strip()):
            raise PropertyFailure(f"feed error without a reason: {parsed.error!r}")
        for item in parsed.items:
            for name in ("link", "title", "summary", "content"):
                v = getattr(item, name)
                if not isinstance(v, str):
                    raise PropertyFailure(f"item.{name} is {type(v).__name__}, not str: {v!r}")
            if not item.link or item.link != item.link.strip():
                raise PropertyFailure(f"item link empty or not stripped: {item.link!r}")
            if item.published is not None and (not isinstance(item.published, datetime) or item.published.tzinfo is None):
                raise PropertyFailure(f"item.published not an aware datetime: {item.published!r}")
            for name in ("link", "title", "summary", "content", "guid", "author"):
                v = getattr(item, name) or ""
                if any("\ud800" <= c <= "\udfff" for c in v):
                    raise PropertyFailure(f"item.{name} holds a lone surrogate (cannot be indexed or mailed): {v[:80]!r}")
            for name in ("guid", "author", "language_hint"):
                v = getattr(item, name)
                if v is not None and not isinstance(v, str):
                    raise PropertyFailure(f"item.{name} is {type(v).__name__}: {v!r}")
            try:
                canon = canonicalize_url(item.link)
            except URLError as e:
                if repr(item.link.strip())[:40] not in str(e) and repr(item.link)[:40] not in str(e):
                    raise PropertyFailure(f"URLError does not name the URL {item.link!r}: {e}") from None
                continue
            if not canon.startswith("https://"):
                raise PropertyFailure(f"canonical URL not https: {canon!r} from {item.link!r}")
            again = canonicalize_url(canon)
            if again != canon:
                raise PropertyFailure(f"canonicalisation not idempotent: {item.link!r} -> {canon!r} -> {again!r}")
            article_id(canon)

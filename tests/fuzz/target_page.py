"""Page bytes with any declared, wrong or missing charset -> extraction, metadata and dates."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta
from typing import Any

from tests.fuzz.engine import PropertyFailure, Target
from tests.fuzz.mutate import HTML_TOKENS, mutate_bytes, mutate_text
from tests.fuzz.seeds import page_seeds

CONTENT_TYPES = [None, "text/html", "text/html; charset=utf-8", "text/html; charset=windows-1256",
                 "text/html; charset=iso-8859-1", "text/html; charset=iso-8859-6", "text/html; charset=utf-16",
                 "text/html; charset=x-unknown", "text/html; charset=", "application/xhtml+xml", "text/plain",
                 "application/octet-stream", "application/pdf", "text/html; charset=\"utf-8\"; q=1", ""]  # fmt: skip
URLS = ["", "https://www.aljazeera.net/news/2025/5/9/article", "http://example.org/2025/13/45/x.html",
        "https://news.example.com/amp/x", "http://[::1]/a", "javascript:alert(1)"]  # fmt: skip
HINT_TEXT = ["", "طالبان في موسكو", "<p>" + "نص الخبر " * 40 + "</p>", "<script>alert(1)</script>" * 3,
             "Taliban delegation in Moscow. " * 20]  # fmt: skip
STATUSES = {"ok", "no_text", "not_html", "paywall"}
SOURCES = {"page", "feed_content", "feed_summary", None}


class PageTarget(Target):
    name = "page"
    extension = "page"

    def setup(self) -> None:
        from rasad.ingest.language import detect_language

        self.seeds = page_seeds()
        # lingua builds a detector per script on first use (seconds, ~200 MB): load them all now,
        # so the per-input time and memory are the page's, not a one-off model load.
        for sample in ("هذا نص عربي طويل بما يكفي لكي يكتشف لغته الكاشف", "This is an English text long enough",
                       "Это русский текст достаточной длины для детектора"):  # fmt: skip
            detect_language(sample * 3)
        for s in self.seeds[:5]:
            self.check({"body": s, "content_type": None, "url": "", "hints": None})

    def generate(self, rng: random.Random) -> dict[str, Any]:
        body = mutate_bytes(rng, rng.choice(self.seeds), HTML_TOKENS, self.seeds)
        hints = None
        if rng.random() < 0.5:
            hints = {k: (mutate_text(rng, rng.choice(HINT_TEXT)) if rng.random() < 0.5 else rng.choice(HINT_TEXT))
                     for k in ("title", "summary", "content", "author")}  # fmt: skip
            hints["published"] = rng.choice([None, "2025-05-09T10:00:00+00:00", "0001-01-01T00:00:00+00:00",
                                             "9999-12-31T23:59:59+00:00"])  # fmt: skip
            hints["language_hint"] = rng.choice([None, "ar", "en", "xx", ""])
        return {"body": body, "content_type": rng.choice(CONTENT_TYPES), "url": rng.choice(URLS), "hints": hints}

    def encode(self, value: dict[str, Any]) -> bytes:
        head = {k: v for k, v in value.items() if k != "body"}
        return json.dumps(head, ensure_ascii=True).encode() + b"\n" + value["body"]

    def decode(self, data: bytes) -> dict[str, Any]:
        head, _, body = data.partition(b"\n")
        return {**json.loads(head), "body": body}

    def shrink(self, value: dict[str, Any]) -> list[Any]:
        return [{**value, "body": b} for b in super().shrink(value["body"])]

    def check(self, value: dict[str, Any]) -> None:
        from rasad.ingest.dates import normalize_date_text, parse_arabic_date
        from rasad.ingest.extract.article import extract_article
        from rasad.ingest.extract.model import FeedHints

        h = value["hints"]
        hints = None
        if h is not None:
            pub = datetime.fromisoformat(h["published"]) if h.get("published") else None
            hints = FeedHints(title=h["title"], summary=h["summary"], content=h["content"], published=pub,
                              author=h["author"], language_hint=h["language_hint"])  # fmt: skip
        ex = extract_article(value["body"], value["url"], value["content_type"], hints)
        if ex.status not in STATUSES:
            raise PropertyFailure(f"unknown status {ex.status!r}")
        if ex.text_source not in SOURCES:
            raise PropertyFailure(f"unknown text_source {ex.text_source!r}")
        if not isinstance(ex.text, str) or (ex.status == "ok") != bool(ex.text):
            raise PropertyFailure(f"status {ex.status} with text of {len(ex.text or '')} chars")
        if ex.status != "ok" and not ex.status_reason:
            raise PropertyFailure(f"status {ex.status} without a reason")
        for name in ("title", "author", "sitename", "image", "language"):
            v = getattr(ex, name)
            if v is not None and not isinstance(v, str):
                raise PropertyFailure(f"{name} is {type(v).__name__}: {v!r}")
        if ex.published is not None and (ex.published.tzinfo is None or ex.published.utcoffset() != timedelta(0)):
            raise PropertyFailure(f"published not in UTC: {ex.published!r}")
        # The date helpers on text from the page itself (visible dates are found in such text).
        for piece in (ex.text[:300], ex.title or "", (ex.author or "")[:100]):
            normalize_date_text(piece)
            parse_arabic_date(piece)

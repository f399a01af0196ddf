"""The one record that travels through every stage: an ``Article``.

Ingest fills the source fields, enrich adds tags and the event id, indexing
writes it, alerts read it. Stages never invent their own article type, so a
field added here is visible everywhere (and in the Elasticsearch mapping,
which is kept in step by ``tests/indexing/test_mappings.py``).
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

# Outcome of one feed item, counted exactly once per item in a cycle.
STATUS_NEW = "new"
STATUS_DUPLICATE = "duplicate"  # same canonical URL / GUID / exact text as a stored article
STATUS_NEAR_DUPLICATE = "near_duplicate"  # kept, but linked with duplicate_of
STATUS_NO_TEXT = "no_text"  # page gave too little text (stub, paywall, empty)
STATUS_FETCH_ERROR = "fetch_error"
STATUS_BLOCKED = "blocked"  # robots.txt or SSRF guard refused it
STATUS_NOT_HTML = "not_html"


def article_id(canonical_url: str) -> str:
    """Deterministic document id for an article: a hash of its canonical URL."""
    return hashlib.sha256(canonical_url.encode("utf-8")).hexdigest()[:32]


def utc_iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with a trailing Z, or None."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_iso() -> str:
    """The current time as ISO 8601 UTC (``utc_iso`` of now)."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(value: str | None) -> datetime | None:
    """Inverse of :func:`utc_iso` (accepts any ISO 8601 string)."""
    if not value:
        return None
    dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc)


@dataclass
class Mention:
    """Where an entity or topic keyword was found, in the original (un-normalised) text."""

    field: str  # "title" or "text"
    start: int
    end: int
    text: str


@dataclass
class EntityTag:
    id: str
    type: str
    name: str  # canonical English name
    name_ar: str
    mentions: list[Mention] = field(default_factory=list)


@dataclass
class TopicTag:
    id: str
    label: str
    score: float
    label_ar: str = ""
    evidence: list[Mention] = field(default_factory=list)


@dataclass
class Article:
    """A news article from the moment a feed names it until it is indexed and alerted on."""

    url: str
    canonical_url: str
    feed_id: str
    source: str  # human name of the feed / site
    guid: str | None = None
    title: str = ""
    text: str = ""
    summary: str = ""
    author: str | None = None
    published: str | None = None  # ISO 8601 UTC
    published_source: str | None = None  # which date won and why; "…; time unknown": only the day is known
    fetched_at: str | None = None  # ISO 8601 UTC
    language: str | None = None
    language_hint: str | None = None
    sitename: str | None = None
    image: str | None = None
    text_source: str | None = None  # page | feed_content | feed_summary
    content_hash: str | None = None  # exact fingerprint of normalised text
    title_hash: str | None = None  # normalised title within the source
    minhash: list[int] = field(default_factory=list)  # near-duplicate signature (ingest/dedup.py)
    minhash_bands: list[str] = field(default_factory=list)  # LSH band keys of that signature
    duplicate_of: str | None = None
    status: str = STATUS_NEW
    status_reason: str | None = None
    topics: list[TopicTag] = field(default_factory=list)
    entities: list[EntityTag] = field(default_factory=list)
    event_id: str | None = None
    tagger_version: str | None = None
    country: str | None = None
    feed_tags: list[str] = field(default_factory=list)

    @property
    def id(self) -> str:
        return article_id(self.canonical_url)

    @property
    def word_count(self) -> int:
        return len(self.text.split())

    def to_doc(self) -> dict[str, Any]:
        """The JSON document stored in Elasticsearch."""
        doc = dataclasses.asdict(self)
        doc["id"] = self.id
        doc["word_count"] = self.word_count
        doc["entity_ids"] = [e.id for e in self.entities]
        doc["topic_ids"] = [t.id for t in self.topics]
        by_type: dict[str, list[str]] = {}
        for e in self.entities:
            by_type.setdefault(e.type.lower(), []).append(e.name)
        doc["entities_by_type"] = by_type
        return doc

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Article:
        """Rebuild an article from its stored document (unknown keys are ignored)."""
        names = {f.name for f in dataclasses.fields(cls)}
        kw = {k: v for k, v in doc.items() if k in names}
        kw["topics"] = [
            TopicTag(**{**t, "evidence": [Mention(**m) for m in t.get("evidence", [])]})
            for t in doc.get("topics") or []
        ]
        kw["entities"] = [
            EntityTag(**{**e, "mentions": [Mention(**m) for m in e.get("mentions", [])]})
            for e in doc.get("entities") or []
        ]
        return cls(**kw)

"""Feed registry (YAML) and feed parsing (feedparser), both pure: bytes or text in, data out.

The registry is validated as a whole and every problem is reported with its line and
field, so a typo in one entry is found before a scheduled run silently skips it.
Parsing never raises on bad input: a feed that cannot be read gives a ``FeedParse``
whose ``error`` says why, and an ill-formed feed that still has items keeps them.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import feedparser
import yaml

FEED_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
INTERVAL_RE = re.compile(r"^(\d+)\s*(s|m|h|d)$")
INTERVAL_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
KNOWN_FIELDS = {"id", "url", "name", "language", "country", "poll_interval", "enabled", "tags"}
# An entity declaration in a feed is either an XML bomb (billion laughs) or an external
# entity (XXE) attempt; news feeds never need one, so such feeds are refused outright.
_ENTITY_DECL = re.compile(rb"<!ENTITY", re.IGNORECASE)
_DOCTYPE_SCAN = 64 * 1024


class RegistryError(ValueError):
    """The feed registry has problems; ``problems`` lists each with file, line and field."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class FeedSpec:
    id: str
    url: str
    name: str
    language: str | None = None
    country: str | None = None
    poll_interval: int = 900  # seconds
    enabled: bool = True
    tags: tuple[str, ...] = ()


@dataclass
class FeedItem:
    """One entry of a feed, as the feed describes it (before its page is downloaded)."""

    feed_id: str
    link: str
    guid: str | None
    title: str = ""
    summary: str = ""
    content: str = ""
    published: datetime | None = None
    author: str | None = None
    language_hint: str | None = None


@dataclass
class FeedParse:
    items: list[FeedItem] = field(default_factory=list)
    error: str | None = None  # set when the feed yields nothing usable
    malformed: str | None = None  # set when the XML was ill-formed but items were recovered
    title: str | None = None
    entries_without_link: int = 0


def parse_interval(value: Any) -> int:
    """'15m' -> 900 seconds; plain numbers are seconds."""
    if isinstance(value, (int, float)) and value > 0:
        return int(value)
    m = INTERVAL_RE.match(str(value).strip().lower())
    if not m or int(m.group(1)) <= 0:
        raise ValueError(f"{value!r} is not an interval like 30s, 15m, 1h or 1d")
    return int(m.group(1)) * INTERVAL_UNITS[m.group(2)]


def _line_map(text: str) -> dict[int, dict[str, int]]:
    """For each feed entry (by index), the 1-based line of each of its keys."""
    lines: dict[int, dict[str, int]] = {}
    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        return lines
    if not isinstance(root, yaml.MappingNode):
        return lines
    for key, val in root.value:
        if key.value == "feeds" and isinstance(val, yaml.SequenceNode):
            for i, item in enumerate(val.value):
                entry = {"": item.start_mark.line + 1}
                if isinstance(item, yaml.MappingNode):
                    for k, v in item.value:
                        entry[k.value] = k.start_mark.line + 1
                lines[i] = entry
    return lines


def load_registry(path: str | Path, *, include_disabled: bool = False) -> list[FeedSpec]:
    """Read and validate a feed registry; raise RegistryError listing every problem."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise RegistryError([f"{p}: cannot read: {e.strerror}"]) from None
    specs, problems = validate_registry(text, str(p))
    if problems:
        raise RegistryError(problems)
    return [s for s in specs if s.enabled or include_disabled]


def validate_registry(text: str, name: str = "<feeds>") -> tuple[list[FeedSpec], list[str]]:
    """Parse registry text; return the valid specs and the list of problems (file:line: field: why)."""
    problems: list[str] = []
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{name}:{mark.line + 1}" if mark else name
        return [], [f"{where}: not valid YAML: {getattr(e, 'problem', e)}"]
    if not isinstance(data, dict) or not isinstance(data.get("feeds"), list):
        return [], [f"{name}:1: expected a mapping with a 'feeds:' list"]
    lines = _line_map(text)
    specs: list[FeedSpec] = []
    seen: dict[str, int] = {}
    seen_urls: dict[str, int] = {}
    for i, entry in enumerate(data["feeds"]):
        at = lines.get(i, {})

        def where(key: str = "", _at: dict[str, int] = at, _i: int = i) -> str:
            line = _at.get(key) or _at.get("", 0)
            return f"{name}:{line}: feeds[{_i}]" + (f".{key}" if key else "")

        if not isinstance(entry, dict):
            problems.append(f"{where()}: expected a mapping, got {type(entry).__name__}")
            continue
        bad = False
        for key in sorted(set(entry) - KNOWN_FIELDS):
            problems.append(f"{where(key)}: unknown field (known: {', '.join(sorted(KNOWN_FIELDS))})")
            bad = True
        fid = entry.get("id")
        if not isinstance(fid, str) or not FEED_ID_RE.match(fid):
            problems.append(f"{where('id')}: id {fid!r} must match {FEED_ID_RE.pattern}")
            bad = True
        elif fid in seen:
            problems.append(f"{where('id')}: duplicate id {fid!r} (first at line {seen[fid]})")
            bad = True
        else:
            seen[fid] = at.get("id", 0)
        url = entry.get("url")
        if not isinstance(url, str) or not re.match(r"^https?://[^\s/]+", url):
            problems.append(f"{where('url')}: url {url!r} must be an http(s) URL")
            bad = True
        elif url in seen_urls:
            problems.append(f"{where('url')}: same url as the feed at line {seen_urls[url]}")
        else:
            seen_urls[url] = at.get("url", 0)
        fname = entry.get("name", fid)
        if not isinstance(fname, str) or not fname.strip():
            problems.append(f"{where('name')}: name must be a non-empty string")
            bad = True
        lang = entry.get("language")
        if lang is not None and (not isinstance(lang, str) or not re.match(r"^[a-z]{2,3}$", lang)):
            problems.append(f"{where('language')}: language {lang!r} must be an ISO 639 code like ar or en")
            bad = True
        country = entry.get("country")
        if country is not None and (not isinstance(country, str) or not re.match(r"^[A-Z]{2}$", country)):
            problems.append(f"{where('country')}: country {country!r} must be an ISO 3166 alpha-2 code like QA")
            bad = True
        try:
            interval = parse_interval(entry.get("poll_interval", "15m"))
        except ValueError as e:
            problems.append(f"{where('poll_interval')}: {e}")
            bad = True
            interval = 0
        enabled = entry.get("enabled", True)
        if not isinstance(enabled, bool):
            problems.append(f"{where('enabled')}: enabled must be true or false, got {enabled!r}")
            bad = True
        tags = entry.get("tags", []) or []
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            problems.append(f"{where('tags')}: tags must be a list of strings")
            bad = True
        if not bad:
            specs.append(
                FeedSpec(fid, url, fname, lang, country, interval, enabled, tuple(tags))  # type: ignore[arg-type]
            )
    return specs, problems


def _entry_time(entry: Any) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        t = entry.get(key)
        if t:
            try:
                return datetime.fromtimestamp(calendar.timegm(t), tz=timezone.utc)
            except (OverflowError, ValueError, TypeError):
                continue
    return None


def parse_feed(body: bytes, feed_id: str, url: str = "", language_hint: str | None = None,
               content_type: str | None = None) -> FeedParse:  # fmt: skip
    """Parse feed bytes into items; never raises on bad input."""
    head = body[:_DOCTYPE_SCAN]
    if b"<!DOCTYPE" in head.upper() and _ENTITY_DECL.search(head):
        return FeedParse(error="feed declares XML entities (refused: XML bomb / external entity risk)")
    if not body.strip():
        return FeedParse(error="empty response body")
    headers = {"content-location": url} if url else {}
    if content_type:
        headers["content-type"] = content_type
    try:
        parsed = feedparser.parse(body, response_headers=headers, sanitize_html=True, resolve_relative_uris=True)
    except Exception as e:  # feedparser is robust, but one bad feed must never stop the others
        return FeedParse(error=f"feed parser crashed: {type(e).__name__}: {e}")
    result = FeedParse(title=parsed.feed.get("title"))
    feed_lang = parsed.feed.get("language") or language_hint
    for entry in parsed.entries:
        link = entry.get("link") or ""
        if not link:
            for alt in entry.get("links", []):
                if alt.get("href") and alt.get("rel", "alternate") == "alternate":
                    link = alt["href"]
                    break
        guid = entry.get("id") or None
        if not link and guid and re.match(r"^https?://", guid):
            link = guid
        if not link:
            result.entries_without_link += 1
            continue
        content = ""
        for c in entry.get("content", []) or []:
            if c.get("value"):
                content = c["value"]
                break
        result.items.append(
            FeedItem(
                feed_id=feed_id,
                link=link.strip(),
                guid=guid,
                title=(entry.get("title") or "").strip(),
                summary=entry.get("summary") or "",
                content=content,
                published=_entry_time(entry),
                author=entry.get("author"),
                language_hint=(entry.get("language") or feed_lang or None),
            )
        )
    if parsed.bozo:
        exc = parsed.get("bozo_exception")
        why = f"{type(exc).__name__}: {exc}" if exc else "ill-formed"
        if result.items:
            result.malformed = why
        elif not parsed.version:
            result.error = f"not a feed ({why})"
        else:
            result.malformed = why
    elif not parsed.version and not result.items:
        result.error = "not an RSS/Atom feed"
    return result

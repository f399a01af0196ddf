"""Feed registry (YAML) and feed parsing (feedparser), both pure: bytes or text in, data out.

The registry is validated as a whole and every problem is reported with its line and
field, so a typo in one entry is found before a scheduled run silently skips it.
Parsing never raises on bad input: a feed that cannot be read gives a ``FeedParse``
whose ``error`` says why, and an ill-formed feed that still has items keeps them.
RSS, RDF and Atom go through feedparser; JSON Feed (which feedparser 6 cannot read) is
parsed here. Entity declarations are vetted before any XML parser sees the bytes.
"""

from __future__ import annotations

import calendar
import codecs
import email.utils
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import feedparser
import yaml

from rasad.core.yamllines import MAX_FLOW_DEPTH, error_line, flow_too_deep, item_key_lines, safe_load, top_key_lines
from rasad.ingest.dates import load_timezone

FEED_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
INTERVAL_RE = re.compile(r"^(\d+)\s*(s|m|h|d)$")
INTERVAL_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
KNOWN_FIELDS = {"id", "url", "name", "language", "country", "poll_interval", "enabled", "tags", "timezone"}
KNOWN_TOP_LEVEL = {"version", "feeds"}
# Entity declarations are how XML bombs (billion laughs, quadratic blow-up) and external
# entity (XXE) attacks are built. News feeds need none beyond a few plain abbreviations,
# so a feed is refused if it declares an external or parameter entity, an entity that
# refers to other entities, many entities, or would expand beyond MAX_ENTITY_EXPANSION.
_DOCTYPE = re.compile(rb"<!DOCTYPE", re.IGNORECASE)
_ENTITY_MARK = re.compile(rb"<!ENTITY", re.IGNORECASE)
_ENTITY_DECL = re.compile(
    rb"""<!ENTITY\s+(%\s+)?([^\s>%&;"']+)\s+((?:"[^"]*"|'[^']*'|[^>"'])*)>""", re.IGNORECASE
)
MAX_ENTITIES = 64
MAX_ENTITY_EXPANSION = 1024 * 1024  # bytes the declared entities may add to the document
# feedparser "bozo" reasons that say nothing about the document's structure.
_SOFT_BOZO = {"CharacterEncodingOverride", "NonXMLContentType"}
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_BAD_CHAR_REF = re.compile(rb"&#(?:[xX]0*([0-9a-fA-F]{1,16})|0*([0-9]{1,24}));")
_HTML_PAGE = re.compile(rb"<(?:!doctype\s+html|html)[\s>]", re.IGNORECASE)


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
    # IANA zone of the site (Asia/Riyadh): page times written without an offset are read in
    # it. Without one such times are never taken as UTC (see ingest.dates.resolve_published).
    timezone: str | None = None


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
    attempts: int = 0  # page downloads already tried and failed transiently (retry queue)
    # False when the feed wrote the time without a zone ("2025-11-21 10:30:00"): feedparser
    # labels such a time UTC; it is the site's wall clock, read in the feed's timezone later.
    published_has_offset: bool = True


@dataclass
class FeedParse:
    items: list[FeedItem] = field(default_factory=list)
    error: str | None = None  # set when the feed yields nothing usable
    malformed: str | None = None  # set when the XML was ill-formed but items were recovered
    title: str | None = None
    entries_without_link: int = 0


def parse_interval(value: Any) -> int:
    """'15m' -> 900 seconds; plain numbers are seconds."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not an interval like 30s, 15m, 1h or 1d")
    if isinstance(value, (int, float)) and 0 < value < 10**9:  # .inf and 1e300 are no interval either
        return int(value)
    m = INTERVAL_RE.match(str(value).strip().lower())
    if not m or int(m.group(1)) <= 0:
        raise ValueError(f"{value!r} is not an interval like 30s, 15m, 1h or 1d")
    return int(m.group(1)) * INTERVAL_UNITS[m.group(2)]


# Parsed registries by path: (text, specs). Parsing 500 feeds costs ~0.18 s of CPU, and
# every poll and every batch reads the registry; reading the file and comparing the text
# takes ~0.1 ms, and unlike an mtime check it cannot miss a rewrite within one timestamp tick.
_REGISTRY_CACHE: dict[str, tuple[str, list[FeedSpec]]] = {}
_REGISTRY_CACHE_MAX = 16


def load_registry(path: str | Path, *, include_disabled: bool = False) -> list[FeedSpec]:
    """Read and validate a feed registry (parsed once per content); raise RegistryError listing every problem."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise RegistryError([f"{p}: cannot read: {e.strerror}"]) from None
    hit = _REGISTRY_CACHE.get(str(p))
    if hit is not None and hit[0] == text:
        specs = hit[1]
    else:
        specs, problems = validate_registry(text, str(p))
        if problems:
            raise RegistryError(problems)
        if str(p) not in _REGISTRY_CACHE and len(_REGISTRY_CACHE) >= _REGISTRY_CACHE_MAX:
            _REGISTRY_CACHE.pop(next(iter(_REGISTRY_CACHE)))
        _REGISTRY_CACHE[str(p)] = (text, specs)
    return [s for s in specs if s.enabled or include_disabled]


def validate_registry(text: str, name: str = "<feeds>") -> tuple[list[FeedSpec], list[str]]:
    """Parse registry text; return the valid specs and the list of problems (file:line: field: why)."""
    problems: list[str] = []
    deep = flow_too_deep(text)
    if deep:
        return [], [f"{name}:{deep}: not valid YAML: brackets nested more than {MAX_FLOW_DEPTH} levels deep"]
    try:
        data = safe_load(text)
    except yaml.YAMLError as e:
        return [], [f"{name}:{error_line(e, text)}: not valid YAML: {getattr(e, 'problem', None) or e}"]
    except RecursionError:  # PyYAML composes recursively: thousands of nested [ or { exhaust the stack
        return [], [f"{name}:1: not valid YAML: nested too deeply"]
    if not isinstance(data, dict) or not isinstance(data.get("feeds"), list):
        return [], [f"{name}:1: expected a mapping with a 'feeds:' list"]
    lines, repeated = item_key_lines(text, "feeds")
    unknown = sorted(set(map(str, data)) - KNOWN_TOP_LEVEL)
    top = top_key_lines(text) if unknown or data.get("version", 1) != 1 else {}
    for key in unknown:
        problems.append(f"{name}:{top.get(key, 1)}: {key}: unknown top-level field "
                        f"(known: {', '.join(sorted(KNOWN_TOP_LEVEL))})")  # fmt: skip
    if data.get("version", 1) != 1:
        problems.append(f"{name}:{top.get('version', 1)}: version: {data.get('version')!r} is not a registry "
                        "version this release reads (1)")  # fmt: skip
    for i, key, line in repeated:
        problems.append(f"{name}:{line}: feeds[{i}].{key}: field given twice in one entry (YAML keeps only the last)")
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
        bad = any(r[0] == i for r in repeated)
        for key in sorted(set(entry) - KNOWN_FIELDS, key=str):  # YAML keys may be numbers, booleans, null
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
        fname = entry.get("name", fid if isinstance(fid, str) else "?")
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
        zone = entry.get("timezone")
        if zone is not None:
            try:
                if not isinstance(zone, str):  # (load_timezone is cached: it needs a hashable name)
                    raise ValueError(f"must be an IANA time zone name like Asia/Riyadh, got {zone!r}")
                load_timezone(zone)
            except ValueError as e:
                problems.append(f"{where('timezone')}: {e}")
                bad = True
        if not bad:
            specs.append(
                FeedSpec(fid, url, fname, lang, country, interval, enabled, tuple(tags), zone)  # type: ignore[arg-type]
            )
    return specs, problems


def _scan_bytes(body: bytes) -> bytes:
    """The body as UTF-8 for pattern checks, so a UTF-16/32 feed cannot hide a declaration."""
    enc = None
    if body.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        enc = "utf-32"
    elif body.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        enc = "utf-16"
    elif b"\x00" in body[:64]:
        head = body[:64]
        even, odd = head[0::2].count(0), head[1::2].count(0)
        if head[:4] in (b"\x00\x00\x00<", b"<\x00\x00\x00"):
            enc = "utf-32-be" if head[0] == 0 else "utf-32-le"
        else:
            enc = "utf-16-be" if even > odd else "utf-16-le"
    if enc is None:
        return body
    return body.decode(enc, "replace").encode("utf-8")


def check_entities(body: bytes) -> str | None:
    """Why a feed's entity declarations make it unsafe to parse, or None if it has none that are."""
    text = _scan_bytes(body)
    if not _DOCTYPE.search(text) or not _ENTITY_MARK.search(text):
        return None
    marks = len(_ENTITY_MARK.findall(text))
    decls = _ENTITY_DECL.findall(text)
    if len(decls) != marks:
        return "feed has an entity declaration that cannot be vetted (refused: XML bomb / external entity risk)"
    if len(decls) > MAX_ENTITIES:
        return f"feed declares {len(decls)} entities (refused: XML bomb risk)"
    expansion = 0
    for percent, name, declared in decls:
        label = name.decode("utf-8", "replace")
        rest = declared.strip()
        if re.match(rb"(?:SYSTEM|PUBLIC)\b", rest, re.IGNORECASE):
            return f"feed declares external entity {label!r} (refused: external entity / XXE)"
        if percent:
            return f"feed declares parameter entity {label!r} (refused: XML bomb / external entity risk)"
        value = rest[1:-1] if rest[:1] in (b'"', b"'") else rest
        if b"&" in value or b"%" in value:
            return f"entity {label!r} refers to other entities (refused: XML bomb, billion laughs)"
        expansion += text.count(b"&" + name + b";") * len(value)
        if expansion > MAX_ENTITY_EXPANSION:
            return f"entities would expand beyond {MAX_ENTITY_EXPANSION} bytes (refused: XML bomb, quadratic blow-up)"
    return None


def _char_ref(m: re.Match[bytes]) -> bytes:
    cp = int(m.group(1), 16) if m.group(1) else int(m.group(2))
    return b"&#xFFFD;" if cp == 0 or cp > 0x10FFFF or 0xD800 <= cp <= 0xDFFF else m.group(0)


def fix_char_refs(body: bytes) -> bytes:
    """Numeric character references to no character (&#x110000;, &#xD800;, &#0;) as U+FFFD.

    feedparser turns them into chr() errors or lone surrogates that no encoder accepts, and the
    whole feed is lost for one bad reference.
    """
    return _BAD_CHAR_REF.sub(_char_ref, body) if b"&#" in body else body


def _json_time(value: Any) -> tuple[datetime | None, bool]:
    """(UTC time, whether the value stated its offset) of a JSON Feed date."""
    if not isinstance(value, str) or not value.strip():
        return None, True
    try:
        dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None, True
    return (dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)).astimezone(timezone.utc), dt.tzinfo is not None


def _json_text(obj: dict[str, Any], key: str) -> str:
    """A JSON Feed string field, or "" when it is missing or not a string."""
    value = obj.get(key)
    return value if isinstance(value, str) else ""


def _json_author(obj: dict[str, Any]) -> str | None:
    authors = obj.get("authors")
    if isinstance(authors, list):
        names = [name for a in authors if isinstance(a, dict) and isinstance(name := a.get("name"), str)]
        if names:
            return ", ".join(names)
    author = obj.get("author")
    if isinstance(author, dict) and isinstance(author.get("name"), str):
        return author["name"]
    return None


def parse_json_feed(body: bytes, feed_id: str, url: str = "", language_hint: str | None = None) -> FeedParse:
    """Parse a JSON Feed (jsonfeed.org 1.0/1.1); never raises on bad input."""
    try:
        text = body.decode("utf-8-sig")
        data = json.loads(text)
        if "\\u" in text and _LONE_SURROGATE.search(json.dumps(data, ensure_ascii=False)):
            # "\ud800" escapes decode to lone surrogates, which nothing downstream can encode.
            data = json.loads(_LONE_SURROGATE.sub("\ufffd", json.dumps(data, ensure_ascii=False)))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        return FeedParse(error=f"not a feed (invalid JSON: {type(e).__name__}: {str(e)[:200]})")
    if not isinstance(data, dict) or not str(data.get("version", "")).startswith("https://jsonfeed.org/version/"):
        return FeedParse(error="not a feed (a JSON document that is not a JSON Feed)")
    items = data.get("items")
    if not isinstance(items, list):
        return FeedParse(error="JSON Feed without an 'items' list")
    title = data.get("title") if isinstance(data.get("title"), str) else None
    base = data.get("home_page_url") if isinstance(data.get("home_page_url"), str) else url
    feed_lang = data.get("language") if isinstance(data.get("language"), str) else language_hint
    result = FeedParse(title=title)
    skipped = 0
    for it in items:
        if not isinstance(it, dict):
            skipped += 1
            continue
        link = it.get("url") or it.get("external_url") or ""
        guid = it.get("id")
        guid = str(guid) if guid not in (None, "") else None
        if not link and guid and re.match(r"^https?://", guid):
            link = guid
        if not isinstance(link, str) or not link.strip():
            result.entries_without_link += 1
            continue
        content = _json_text(it, "content_html") or _json_text(it, "content_text")
        published, has_offset = _json_time(it.get("date_published"))
        if published is None:
            published, has_offset = _json_time(it.get("date_modified"))
        result.items.append(FeedItem(
            feed_id=feed_id, link=urljoin(base or "", link.strip()), guid=guid, title=_json_text(it, "title").strip(),
            summary=_json_text(it, "summary"), content=content,
            published=published, published_has_offset=has_offset,
            author=_json_author(it) or _json_author(data),
            language_hint=(it.get("language") if isinstance(it.get("language"), str) else None) or feed_lang,
        ))  # fmt: skip
    if skipped:
        result.malformed = f"{skipped} item(s) are not JSON objects"
    return result


# A zone at the end of a feed date: RFC 822 names and offsets, or ISO 8601 Z/±hh:mm.
_ZONE_AT_END = re.compile(r"(?:Z|[+-]\d\d(?::?\d\d)?|\b(?:GMT|UTC|UT|[ECMP][SD]T|[A-IK-Z]))\s*$", re.IGNORECASE)


def _entry_time(entry: Any) -> tuple[datetime | None, bool]:
    """(UTC time, whether the feed stated the zone) of an entry's date.

    feedparser reads a zone-less ISO date as UTC and drops a zone-less RFC 822 one; both
    are the site's wall clock, so they come back with ``False`` (see FeedItem).
    """
    for key in ("published", "updated", "created"):
        raw = dict.get(entry, key)  # plain dict look-up: FeedParserDict's fallback mapping warns
        t = dict.get(entry, f"{key}_parsed")
        has_offset = not isinstance(raw, str) or bool(_ZONE_AT_END.search(raw.strip()))
        if t:
            try:
                return datetime.fromtimestamp(calendar.timegm(t), tz=timezone.utc), has_offset
            except (OverflowError, ValueError, TypeError):
                continue
        if isinstance(raw, str) and raw.strip() and not has_offset:
            try:
                naive = email.utils.parsedate_to_datetime(raw)
            except (TypeError, ValueError, IndexError):
                continue
            if naive.tzinfo is None:
                return naive.replace(tzinfo=timezone.utc), False
    return None, True


def parse_feed(body: bytes, feed_id: str, url: str = "", language_hint: str | None = None,
               content_type: str | None = None) -> FeedParse:  # fmt: skip
    """Parse feed bytes (RSS, RDF, Atom or JSON Feed) into items; never raises on bad input."""
    try:
        return _parse_feed(body, feed_id, url, language_hint, content_type)
    except Exception as e:  # one bad feed must never stop the others
        return FeedParse(error=f"feed parser crashed: {type(e).__name__}: {str(e)[:300]}")


def _parse_feed(body: bytes, feed_id: str, url: str, language_hint: str | None,
                content_type: str | None) -> FeedParse:  # fmt: skip
    if not body.strip():
        return FeedParse(error="empty response body")
    unsafe = check_entities(body)
    if unsafe:
        return FeedParse(error=unsafe)
    body = fix_char_refs(body)
    head = body.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if head in (b"{", b"[") or "json" in (content_type or "").lower():
        return parse_json_feed(body, feed_id, url, language_hint)
    # Without a Content-Type feedparser flags every feed as "NonXMLContentType"; a feed
    # read from disk or served without one is XML as far as we know.
    headers = {"content-type": content_type or "application/xml"}
    if url:
        headers["content-location"] = url
    parsed = feedparser.parse(body, response_headers=headers, sanitize_html=True, resolve_relative_uris=True)
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
        if not isinstance(link, str):
            result.entries_without_link += 1
            continue
        published, has_offset = _entry_time(entry)
        result.items.append(
            FeedItem(
                feed_id=feed_id,
                link=link.strip(),
                guid=guid,
                title=(entry.get("title") or "").strip(),
                summary=entry.get("summary") or "",
                content=content,
                published=published,
                published_has_offset=has_offset,
                author=entry.get("author"),
                language_hint=(entry.get("language") or feed_lang or None),
            )
        )
    if parsed.bozo:
        exc = parsed.get("bozo_exception")
        why = f"{type(exc).__name__}: {exc}" if exc else "ill-formed"
        if result.items or type(exc).__name__ in _SOFT_BOZO:
            result.malformed = why  # items recovered, or only a charset/header quibble
        elif not parsed.version:
            page = " (the URL returned an HTML page)" if _HTML_PAGE.search(body[:4096]) else ""
            result.error = f"not a feed{page}: {why}"
        else:
            result.error = f"ill-formed {parsed.version} feed, no items recovered: {why}"
    elif not parsed.version and not result.items:
        result.error = "not a feed: no items and no RSS, RDF, Atom or JSON Feed format recognised"
    return result

"""Full-text search over stored articles, the same on every cluster.

The query goes through ``rasad.enrich.normalize.search_form`` exactly as the indexed
``*_search`` fields did, so «طالبان» finds «لطالبان» and «وطالبان» and «موسكو» finds
«بموسكو» even on a node without the ``arabic`` analyzer. Where setup installed
``.arabic`` subfields, they are searched too (their light stemming can add plural and
suffixed forms); a hit needs every query word in either way.

Highlights are computed here rather than by Elasticsearch: its highlighter can only mark
the normalised ``*_search`` text, which is not what the article says. We mark the words
of the original title and text whose search form equals a query word, so the snippet is
the article's own wording.
"""

from __future__ import annotations

import json
import re
import shutil
import unicodedata
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Any

from elasticsearch import Elasticsearch

from rasad.core.records import parse_iso, utc_iso
from rasad.core.settings import Settings
from rasad.enrich.normalize import search_form
from rasad.indexing.setup import installed_analyzers

SEARCH_FIELDS = ("title_search^3", "summary_search^2", "text_search")
ARABIC_FIELDS = ("title.arabic^3", "summary.arabic^2", "text.arabic")
SOURCE_FIELDS = ["id", "title", "url", "source", "feed_id", "language", "published", "fetched_at", "timestamp",
                 "topic_ids", "entity_ids", "entities.name", "entities.type", "summary", "text", "event_id"]  # fmt: skip
# A word of the original text: letters/digits plus Arabic diacritics and tatweel, which
# Python's \w does not count as word characters but which sit inside Arabic words.
WORD_RE = re.compile(r"[\w\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0640]+")
_SURROGATE_RE = re.compile("[\ud800-\udfff]")
MAX_FILTER_CHARS = 256
SINCE_RE = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$", re.IGNORECASE)
SINCE_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class SearchError(ValueError):
    """A search argument is malformed (the message says which and how to write it)."""


@dataclass
class SearchQuery:
    text: str = ""
    topic: str | None = None
    entity: str | None = None
    since: str | None = None
    lang: str | None = None
    limit: int = 20


@dataclass
class SearchHit:
    id: str
    score: float | None
    title: str
    url: str
    source: str
    language: str | None
    published: str | None
    topic_ids: list[str]
    entities: list[str]
    highlights: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class SearchResult:
    total: int
    took_ms: int
    query: dict[str, Any]
    analyzers: list[str]
    hits: list[SearchHit]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (what ``rasad search --json`` prints)."""
        return asdict(self)


def parse_since(value: str, now: datetime) -> datetime:
    """``24h``, ``30m``, ``7d``, ``2w`` before ``now``, or an ISO 8601 date/time."""
    m = SINCE_RE.match(value)
    try:
        if m:
            return now - timedelta(**{SINCE_UNITS[m.group(2).lower()]: int(m.group(1))})
        return parse_iso(value.strip()) or now
    except (ValueError, OverflowError):  # OverflowError: 999999999d reaches before year 1
        raise SearchError(f"--since {value!r}: write e.g. 24h, 30m, 7d, 2w or an ISO date like 2025-05-01") from None


def query_terms(text: str) -> list[str]:
    """The words of a query in search form (what the ``*_search`` fields hold), unique, in order."""
    seen: dict[str, None] = {}
    for w in WORD_RE.findall(search_form(text)):
        seen.setdefault(w.lower(), None)
    return list(seen)


def build_search(q: SearchQuery, analyzers: dict[str, str], now: datetime) -> dict[str, Any]:
    """The search request body (query, filters, sort, size) for one query."""
    filters: list[dict] = []
    for flag, value in (("--topic", q.topic), ("--entity", q.entity), ("--lang", q.lang)):
        # Ids and names are short; a huge one makes Elasticsearch refuse the whole request (400).
        if value and len(value) > MAX_FILTER_CHARS:
            raise SearchError(f"{flag}: {len(value)} characters; ids and names are at most {MAX_FILTER_CHARS}")
    if q.topic:
        # Topic ids are hierarchical (diplomacy.recognition): a parent finds its children.
        filters.append({"bool": {"should": [{"term": {"topic_ids": q.topic}},
                                            {"prefix": {"topic_ids": q.topic + "."}}],
                                 "minimum_should_match": 1}})  # fmt: skip
    if q.entity:
        filters.append({"bool": {"should": [
            {"term": {f: {"value": q.entity, "case_insensitive": True}}}
            for f in ("entity_ids", "entities.name", "entities.name_ar")
        ], "minimum_should_match": 1}})  # fmt: skip
    if q.lang:
        filters.append({"term": {"language": q.lang}})
    if q.since:
        filters.append({"range": {"timestamp": {"gte": utc_iso(parse_since(q.since, now))}}})
    text = q.text.strip()
    if text:
        phrase = len(text) > 1 and text[0] == text[-1] == '"'
        normalised = search_form(text.strip('"'))
        ways = [_text_clause(normalised, SEARCH_FIELDS, phrase)]
        if "arabic" in analyzers:
            ways.append(_text_clause(text.strip('"'), ARABIC_FIELDS, phrase))
        must: list[dict] = [{"bool": {"should": ways, "minimum_should_match": 1}}]
        sort: list[Any] = ["_score", {"timestamp": {"order": "desc", "missing": "_last"}}]
    else:
        must = [{"match_all": {}}]
        sort = [{"timestamp": {"order": "desc", "missing": "_last"}}]
    return {
        "query": {"bool": {"must": must, "filter": filters}},
        "sort": sort,
        "size": max(1, min(q.limit, 500)),
        "_source": SOURCE_FIELDS,
        "track_total_hits": True,
    }


def _text_clause(text: str, fields: tuple[str, ...], phrase: bool) -> dict[str, Any]:
    if phrase:
        return {"multi_match": {"query": text, "fields": list(fields), "type": "phrase"}}
    # cross_fields + and: every word must occur, in the title or the text (all these
    # fields share one analyzer, which cross_fields needs).
    return {"multi_match": {"query": text, "fields": list(fields), "type": "cross_fields", "operator": "and"}}


def highlight_text(text: str, terms: set[str], pre: str = "<em>", post: str = "</em>",
                   fragment_chars: int = 160, max_fragments: int = 3) -> list[str]:  # fmt: skip
    """Fragments of ``text`` around the words whose search form is a query term, marked up."""
    if not text or not terms:
        return []
    spans = [(m.start(), m.end()) for m in WORD_RE.finditer(text) if _word_matches(m.group(), terms)]
    if not spans:
        return []
    windows: list[list[int]] = []  # [start, end, first span index, last span index]
    for i, (s, e) in enumerate(spans):
        if windows and s - windows[-1][0] < fragment_chars:
            windows[-1][1], windows[-1][3] = e, i
        else:
            windows.append([s, e, i, i])
        if len(windows) > max_fragments:
            windows.pop()
            break
    out = []
    for start, end, first, last in windows:
        pad = max(0, (fragment_chars - (end - start)) // 2)
        lo, hi = _snap(text, start - pad, left=True), _snap(text, end + pad, left=False)
        pieces, pos = [], lo
        for s, e in spans[first : last + 1]:
            pieces += [text[pos:s], pre, text[s:e], post]
            pos = e
        pieces.append(text[pos:hi])
        frag = " ".join("".join(pieces).split())
        out.append(("… " if lo > 0 else "") + frag + (" …" if hi < len(text) else ""))
    return out


def _word_matches(word: str, terms: set[str]) -> bool:
    return search_form(word).strip().lower() in terms


def _snap(text: str, pos: int, left: bool) -> int:
    """Move a fragment edge to a word boundary so no word is cut in half."""
    if pos <= 0:
        return 0
    if pos >= len(text):
        return len(text)
    if left:
        while pos > 0 and not text[pos - 1].isspace():
            pos -= 1
    else:
        while pos < len(text) and not text[pos].isspace():
            pos += 1
    return pos


def search_articles(es: Elasticsearch, settings: Settings, q: SearchQuery, now: datetime | None = None,
                    pre: str = "<em>", post: str = "</em>") -> SearchResult:  # fmt: skip
    """Run a search against the articles alias and return hits with highlights."""
    now = now or datetime.now(timezone.utc)
    # A lone surrogate (undecodable bytes on the command line arrive as \udcXX) is no valid JSON
    # for Elasticsearch: it would answer 400 instead of searching.
    cleaned: dict[str, Any] = {k: _SURROGATE_RE.sub("\ufffd", v) for k in ("text", "topic", "entity", "since", "lang")
                               if isinstance(v := getattr(q, k), str)}  # fmt: skip
    q = replace(q, **cleaned)
    analyzers = installed_analyzers(es, settings)
    body = build_search(q, analyzers, now)
    res = es.search(index=settings.index("articles"), ignore_unavailable=True, allow_no_indices=True, **body)
    terms = set(query_terms(q.text.strip('"'))) if q.text.strip() else set()
    hits = []
    for h in res["hits"]["hits"]:
        src = h["_source"]
        hl = {}
        for name in ("title", "text"):
            frags = highlight_text(src.get(name) or "", terms, pre, post,
                                   fragment_chars=10_000 if name == "title" else 160)  # fmt: skip
            if frags:
                hl[name] = frags
        hits.append(SearchHit(
            id=h["_id"], score=h.get("_score"), title=src.get("title") or "", url=src.get("url") or "",
            source=src.get("source") or src.get("feed_id") or "", language=src.get("language"),
            published=src.get("published") or src.get("timestamp"), topic_ids=src.get("topic_ids") or [],
            entities=[e.get("name", "") for e in src.get("entities") or []], highlights=hl,
        ))  # fmt: skip
    return SearchResult(
        total=res["hits"]["total"]["value"], took_ms=res.get("took", 0),
        query={k: v for k, v in asdict(q).items() if v not in (None, "")},
        analyzers=["standard (search_form)"] + [f"{a} (.{a} subfields)" for a in analyzers], hits=hits,
    )  # fmt: skip


# --------------------------------------------------------------------------- output


def display_width(text: str) -> int:
    """Columns a string takes in a terminal (combining marks none, wide characters two)."""
    width = 0
    for ch in text:
        if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf"):
            continue
        width += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return width


def fit(text: str, width: int) -> str:
    """Cut ``text`` (logical order) to at most ``width`` columns, with an ellipsis when cut."""
    text = " ".join(text.split())
    if display_width(text) <= width:
        return text
    out, used = [], 0
    for ch in text:
        w = display_width(ch)
        if used + w > width - 1:
            break
        out.append(ch)
        used += w
    return "".join(out).rstrip() + "…"


def visual(text: str, enabled: bool = True) -> str:
    """Text in display order for a terminal without its own bidi support (python-bidi)."""
    if not enabled or not re.search("[\u0590-\u08ff\ufb1d-\ufefc]", text):
        return text
    from bidi import get_display  # noqa: PLC0415 - only needed for terminal output

    return get_display(text)


def _pad(text: str, width: int) -> str:
    return text + " " * max(0, width - display_width(text))


def _emphasise(line: str, words: set[str], bidi: bool, color: bool) -> str:
    """Display order first, then ANSI bold around matched words (codes never enter bidi)."""
    shown = visual(line, bidi)
    if not color:
        return shown
    for w in sorted(words, key=len, reverse=True):
        form = visual(w, bidi)
        shown = re.sub(rf"(?<![\w]){re.escape(form)}(?![\w])", f"\x1b[1m{form}\x1b[22m", shown)
    return shown


def render_table(result: SearchResult, bidi: bool = True, color: bool = False, width: int | None = None) -> str:
    """The result as a readable table: one block per hit, right-to-left text in display order."""
    width = width or shutil.get_terminal_size((120, 24)).columns
    lines = [f"{result.total} article(s), {result.took_ms} ms; analyzers: {', '.join(result.analyzers)}"]
    if not result.hits:
        return "\n".join(lines)
    cols = [("#", 3), ("published", 16), ("source", 18), ("lang", 4)]
    fixed = sum(w for _, w in cols) + 2 * len(cols)
    title_w = max(20, width - fixed)
    header = "  ".join(_pad(n, w) for n, w in cols) + "  title"
    lines += [header, "-" * min(width, fixed + title_w)]
    marker = re.compile(r"\x00(.*?)\x01")
    for i, h in enumerate(result.hits, 1):
        date = (h.published or "")[:16].replace("T", " ")
        cells = [str(i), date, fit(h.source, 18), h.language or "-"]
        title = fit(_plain(h.highlights.get("title", [h.title])[0]), title_w)
        words = set(marker.findall("".join(h.highlights.get("title", []) + h.highlights.get("text", []))))
        lines.append("  ".join(_pad(c, w) for c, (_, w) in zip(cells, cols, strict=True)) + "  " + _emphasise(title, words, bidi, color))
        indent = " " * (cols[0][1] + 2)
        tags = []
        if h.topic_ids:
            tags.append("topics: " + ", ".join(h.topic_ids[:6]))
        if h.entities:
            tags.append("entities: " + ", ".join(dict.fromkeys(h.entities))[:80])
        if tags:
            lines.append(indent + fit("   ".join(tags), width - len(indent)))
        for frag in h.highlights.get("text", [])[:2]:
            lines.append(indent + _emphasise(fit(_plain(frag), width - len(indent)), words, bidi, color))
        lines.append(indent + h.url)
    return "\n".join(lines)


def _plain(fragment: str) -> str:
    return fragment.replace("\x00", "").replace("\x01", "")


def render_json(result: SearchResult) -> str:
    """The result as JSON (highlights marked with <em>…</em>)."""
    return json.dumps(result.to_dict(), ensure_ascii=False, indent=2)

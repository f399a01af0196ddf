"""A loopback feed farm and a timing SMTP sink, for the service's end-to-end tests and the
latency benchmark.

The farm serves many RSS feeds from several virtual hosts (each its own loopback address,
127.0.0.x, so per-host politeness applies as on the internet). Items appear at scheduled
times; each feed answers conditional GETs (ETag) with 304 while nothing new is visible;
each item's page is a realistic news page. It records when each item was first served
in a feed response: the moment our poll first saw it.

The sink is a real SMTP server (aiosmtpd) that records when each message was accepted
and which farm items it names.
"""

from __future__ import annotations

import hashlib
import html
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email import message_from_bytes, policy
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ITEM_RE = re.compile(r"/article/(\d+)/(\d+)\.html")
DEMO_SITE = Path(__file__).resolve().parents[2] / "examples" / "demo" / "site"


def _sentence_pool(lang: str) -> list[str]:
    """Sentences of the demo site's real-looking articles (so farm pages read like news and
    are not near-duplicates of each other: each page takes its own sample)."""
    out = []
    for page in sorted((DEMO_SITE / lang / "news").rglob("*.html")):
        text = page.read_bytes().decode("utf-8", errors="replace")
        for para in re.findall(r"<p[^>]*>(.*?)</p>", text, flags=re.S):
            plain = html.unescape(re.sub(r"<[^>]+>", "", para)).strip()
            out += [x.strip() for x in re.split(r"(?<=[.!?؟])\s+", plain) if len(x.split()) >= 6]
    return out


POOL = {"ar": _sentence_pool("ar"), "en": _sentence_pool("en")}


@dataclass
class FarmItem:
    feed: int
    n: int
    publish_at: float  # wall-clock time it becomes visible
    lang: str
    title: str
    host: int | None = None  # the page's virtual host if not the feed's (an aggregator's feed)

    @property
    def key(self) -> str:
        return f"{self.feed}/{self.n}"


@dataclass
class FeedFarm:
    """Feeds ``0..feeds-1`` spread over ``hosts`` loopback addresses 127.0.0.(11+i), one port."""

    feeds: int
    hosts: int
    port: int
    items: list[FarmItem] = field(default_factory=list)
    first_served: dict[str, float] = field(default_factory=dict)
    requests: int = 0
    not_modified: int = 0
    window: int = 20  # items a feed shows (the newest)
    _servers: list[ThreadingHTTPServer] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def host_of(self, feed: int) -> str:
        return f"127.0.0.{11 + feed % self.hosts}"

    def feed_url(self, feed: int) -> str:
        return f"http://{self.host_of(feed)}:{self.port}/feed/{feed}.xml"

    def page_url(self, item: FarmItem) -> str:
        host = self.host_of(item.feed if item.host is None else item.host)
        return f"http://{host}:{self.port}/article/{item.feed}/{item.n}.html"

    def add_item(self, feed: int, publish_at: float, lang: str | None = None, host: int | None = None) -> FarmItem:
        """Schedule a new item of ``feed`` to appear at ``publish_at`` (time.time()); its page on
        virtual host ``host`` (0-based), by default the feed's own."""
        with self._lock:
            n = sum(1 for i in self.items if i.feed == feed)
            lang = lang or ("ar" if (feed + n) % 3 else "en")
            word = "طالبان" if lang == "ar" else "Taliban"
            tag = hashlib.sha1(f"{feed}/{n}".encode(), usedforsecurity=False).hexdigest()[:6]
            title = (f"موسكو و{word}: جولة محادثات جديدة رقم {feed}-{n} ({tag})" if lang == "ar"
                     else f"Moscow and the {word}: new round of talks {feed}-{n} ({tag})")  # fmt: skip
            item = FarmItem(feed, n, publish_at, lang, title, host)
            self.items.append(item)
            return item

    def visible(self, feed: int, now: float) -> list[FarmItem]:
        with self._lock:
            return sorted((i for i in self.items if i.feed == feed and i.publish_at <= now),
                          key=lambda i: -i.publish_at)[: self.window]  # fmt: skip

    def by_key(self, key: str) -> FarmItem | None:
        return next((i for i in self.items if i.key == key), None)

    # -- rendering ----------------------------------------------------------------------
    def rss(self, feed: int, items: list[FarmItem]) -> bytes:
        entries = "".join(
            f"<item><title>{html.escape(i.title)}</title><link>{self.page_url(i)}</link>"
            f"<guid isPermaLink=\"false\">farm-{i.key}</guid>"
            f"<pubDate>{format_datetime(datetime.fromtimestamp(i.publish_at, timezone.utc))}</pubDate>"
            f"<description>{html.escape(i.title)}</description></item>"
            for i in items
        )
        return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Farm feed {feed}</title>'
                f"<link>http://{self.host_of(feed)}:{self.port}/</link><description>farm</description>"
                f"{entries}</channel></rss>").encode()  # fmt: skip

    def page(self, item: FarmItem) -> bytes:
        import random

        rnd = random.Random(item.key)
        pool = POOL[item.lang]
        sents = rnd.sample(pool, min(len(pool), 12))
        body = "".join(f"<p>{' '.join(sents[k:k + 3])}</p>" for k in range(0, len(sents), 3))
        menu = "".join(f'<li><a href="/section/{k}">قسم {k}</a></li>' for k in range(40))
        related = "".join(f'<li><a href="/article/{item.feed}/{k}.html">خبر ذو صلة {k}</a></li>' for k in range(6))
        when = datetime.fromtimestamp(item.publish_at, timezone.utc).isoformat()
        d = "rtl" if item.lang == "ar" else "ltr"
        return (f'<!doctype html><html lang="{item.lang}" dir="{d}"><head><meta charset="utf-8">'
                f"<title>{html.escape(item.title)}</title>"
                f'<meta property="article:published_time" content="{when}"></head><body>'
                f'<header><nav><ul class="menu">{menu}</ul></nav></header>'
                f"<main><article><h1>{html.escape(item.title)}</h1><time datetime=\"{when}\">{when}</time>"
                f"{body}</article><aside><h3>أخبار ذات صلة</h3><ul>{related}</ul></aside></main>"
                f"<footer><p>© Farm News</p></footer></body></html>").encode()  # fmt: skip

    # -- serving ------------------------------------------------------------------------
    def _handler(self) -> type[BaseHTTPRequestHandler]:
        farm = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, fmt: str, *args: object) -> None:
                pass

            def _send(self, status: int, body: bytes, ctype: str, headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                if body:
                    self.wfile.write(body)

            def do_GET(self) -> None:  # http.server's naming
                with farm._lock:
                    farm.requests += 1
                m = re.fullmatch(r"/feed/(\d+)\.xml", self.path)
                if m:
                    feed = int(m.group(1))
                    now = time.time()
                    items = farm.visible(feed, now)
                    etag = '"' + hashlib.sha1(",".join(i.key for i in items).encode(), usedforsecurity=False).hexdigest()[:16] + '"'
                    if self.headers.get("If-None-Match") == etag:
                        with farm._lock:
                            farm.not_modified += 1
                        self._send(304, b"", "application/rss+xml", {"ETag": etag})
                        return
                    with farm._lock:
                        for i in items:
                            farm.first_served.setdefault(i.key, now)
                    self._send(200, farm.rss(feed, items), "application/rss+xml; charset=utf-8", {"ETag": etag})
                    return
                m = ITEM_RE.fullmatch(self.path)
                if m:
                    item = farm.by_key(f"{m.group(1)}/{m.group(2)}")
                    if item and item.publish_at <= time.time():
                        self._send(200, farm.page(item), "text/html; charset=utf-8")
                        return
                self._send(404, b"not found", "text/plain")

        return Handler

    def __enter__(self) -> FeedFarm:
        handler = self._handler()
        for h in range(self.hosts):
            srv = ThreadingHTTPServer((f"127.0.0.{11 + h}", self.port), handler)
            srv.daemon_threads = True
            threading.Thread(target=srv.serve_forever, daemon=True).start()
            self._servers.append(srv)
        return self

    def __exit__(self, *exc: object) -> None:
        for srv in self._servers:
            srv.shutdown()
            srv.server_close()

    def registry(self, path: Path, interval: str = "60s") -> Path:
        """Write a feed registry for every feed of the farm."""
        return write_registry(path, self.feeds, self.feed_url, lambda f: "ar" if f % 3 else "en", interval)


RULES = """version: 1
rules:
  - name: story
    keywords:
      any: ["طالبان", "Taliban"]
    recipients: ["analyst@example.org"]
    mode: immediate
"""


@dataclass
class Received:
    at: float
    recipients: list[str]
    subject: str
    message_id: str
    items: list[str]  # farm item keys named in the mail


class TimingSink:
    """A real SMTP server on loopback that records each accepted message with its time."""

    def __init__(self, port: int):
        self.port = port
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._controller = None

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's API
        at = time.time()
        msg = message_from_bytes(envelope.content, policy=policy.default)
        parts = []
        for part in msg.walk():
            if part.get_content_maintype() == "text":
                try:
                    parts.append(part.get_content())
                except Exception:  # a part we cannot decode still counts as received
                    parts.append("")
        keys = sorted({f"{a}/{b}" for a, b in ITEM_RE.findall(" ".join(parts))})
        with self._lock:
            self.received.append(Received(at, list(envelope.rcpt_tos), str(msg["Subject"] or ""),
                                          str(msg["Message-ID"] or ""), keys))  # fmt: skip
        return "250 OK"

    def __enter__(self) -> TimingSink:
        from aiosmtpd.controller import Controller

        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._controller:
            self._controller.stop()

    def first_mail(self) -> dict[str, float]:
        """Item key -> when the first mail naming it was accepted."""
        out: dict[str, float] = {}
        with self._lock:
            for r in self.received:
                for k in r.items:
                    out.setdefault(k, r.at)
        return out

    def copies(self) -> dict[tuple[str, str], int]:
        """(recipient, item) -> how many accepted mails named it (1 is right)."""
        out: dict[tuple[str, str], int] = {}
        with self._lock:
            for r in self.received:
                for rcpt in r.recipients:
                    for k in r.items:
                        out[(rcpt, k)] = out.get((rcpt, k), 0) + 1
        return out


# -- a farm of real pages (issue 13: the throughput benchmark) ---------------------------------
#
# SaudiNewsNet and the Arabic page layouts are read from ../shared/corpus at run time and
# never copied into the repository (research-use licence; see each SOURCE.md).

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus"
SAUDINEWSNET = CORPUS / "arabic-news" / "saudinewsnet"
# Three real Arabic article layouts: an ASP.NET news site (~500 KB, most of it markup and
# scripts), a Drupal/RDFa newspaper, and an older CNN Arabic page.
ARABIC_LAYOUTS = {
    "lbcgroup": ("article-html/fundus/lb/LBCGroup_2026_01_08.html.gz", "div"),
    "assabah": ("article-html/trafilatura-eval/html/assabah.com.tn.article.html", "p"),
    "cnn-arabic": ("article-html/newspaper4k/html/arabic_article.html", "p"),
}
_TITLE_MARK, _BODY_MARK = "\ue000RASAD-TITLE\ue000", "\ue000RASAD-BODY\ue000"


def load_saudinewsnet() -> list[dict]:
    """Every SaudiNewsNet article of the shared sample (title, content, source, ...), in file order."""
    import json
    import zipfile

    out: list[dict] = []
    for z in sorted(SAUDINEWSNET.glob("*.zip")):
        with zipfile.ZipFile(z) as zf:
            for name in zf.namelist():
                out += [a for a in json.loads(zf.read(name)) if len((a.get("content") or "").split()) >= 60]
    return out


def _read_corpus_page(rel: str) -> bytes:
    import gzip

    raw = (CORPUS / rel).read_bytes()
    return gzip.decompress(raw) if rel.endswith(".gz") else raw


@dataclass
class PageLayout:
    """A real page with its article body and headline cut out, to be filled with other articles."""

    name: str
    template: str  # the page, with _TITLE_MARK and _BODY_MARK where the headline and body were
    paragraph_tag: str

    @classmethod
    def from_page(cls, name: str, page: bytes, paragraph_tag: str) -> PageLayout:
        """Find the element holding the article text (what trafilatura extracts) and mark it."""
        import trafilatura
        from lxml import html as lxml_html

        text = trafilatura.extract(page) or ""
        tree = lxml_html.fromstring(page)
        lines = [ln for ln in text.splitlines() if len(ln) > 40]
        best = None  # the deepest element that holds most of the extracted lines
        for el in tree.iter():
            if not isinstance(el.tag, str) or el.tag in ("html", "body"):
                continue
            content = el.text_content()
            held = sum(ln[:40] in content for ln in lines)
            if held >= 0.8 * len(lines) and (best is None or len(content) < len(best.text_content())):
                best = el
        if best is None:
            raise ValueError(f"{name}: no element holds the article text")
        for child in list(best):
            best.remove(child)
        best.text = _BODY_MARK
        heads = [(tree.findtext(".//title") or "").strip(), *(h.text_content().strip() for h in tree.iter("h1"))]
        heads += tree.xpath("//meta[@property='og:title']/@content")
        # The headline wherever the page states it: <title>, its <h1>s, the social-card metas.
        for el in [*tree.iter("title"), *(h for h in tree.iter("h1") if len(h.text_content().strip()) > 15)]:
            for child in list(el):
                el.remove(child)
            el.text = _TITLE_MARK
        for meta in tree.xpath("//meta[@property='og:title' or @name='twitter:title' or @name='title']"):
            meta.set("content", _TITLE_MARK)
        out = lxml_html.tostring(tree, encoding="unicode", doctype="<!DOCTYPE html>")
        # ...and wherever else it is repeated (JSON-LD, share buttons, hidden fields).
        forms = {f for h in heads if len(h) > 15 for f in (h, html.escape(h), html.escape(h, quote=False))}
        for form in sorted(forms, key=len, reverse=True):
            out = out.replace(form, _TITLE_MARK)
        return cls(name, out, paragraph_tag)

    def render(self, title: str, text: str) -> bytes:
        """The layout with ``title`` as its headline and ``text`` (sentences) as its paragraphs."""
        sents = [s.strip() for s in re.split(r"(?<=[.!?؟])\s+", text) if s.strip()]
        tag = self.paragraph_tag
        body = "".join(f"<{tag}>{html.escape(' '.join(sents[k:k + 3]))}</{tag}>" for k in range(0, len(sents), 3))
        return self.template.replace(_TITLE_MARK, html.escape(title)).replace(_BODY_MARK, body).encode("utf-8")


def arabic_layouts() -> list[PageLayout]:
    """The three real Arabic layouts of ``ARABIC_LAYOUTS``, as templates."""
    return [PageLayout.from_page(name, _read_corpus_page(rel), tag) for name, (rel, tag) in ARABIC_LAYOUTS.items()]


def english_pages() -> list[bytes]:
    """Real English article pages of the gold corpora (Zyte benchmark, fundus uk/us, newspaper4k)."""
    sys_path_root = str(Path(__file__).resolve().parents[2])
    import sys

    if sys_path_root not in sys.path:
        sys.path.insert(0, sys_path_root)
    from bench.eval_extraction import load_gold_pages

    out = []
    for p in load_gold_pages():
        words = p.gold_text.lower().split()
        if len(words) >= 80 and sum(w in ("the", "and", "of", "to") for w in words) >= 0.06 * len(words):
            out.append(p.body)
    return out


@dataclass
class CorpusFarm(FeedFarm):
    """A FeedFarm whose pages are real: SaudiNewsNet articles in real Arabic layouts, real English pages.

    Feed ``f`` is Arabic when ``f % 3`` (one layout per feed, as a site has one), else English.
    Within a feed no two items share a text (they would be duplicates, not articles); across
    feeds texts may repeat, as syndicated stories do. Every item is visible at once.
    """

    arabic: list[dict] = field(default_factory=list)
    layouts: list[PageLayout] = field(default_factory=list)
    english: list[bytes] = field(default_factory=list)
    _by_key: dict[str, FarmItem] = field(default_factory=dict)
    _per_feed: dict[int, list[FarmItem]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.arabic = self.arabic or load_saudinewsnet()
        self.layouts = self.layouts or arabic_layouts()
        self.english = self.english or english_pages()

    def feed_lang(self, feed: int) -> str:
        return "ar" if feed % 3 else "en"

    def add_item(self, feed: int, publish_at: float, lang: str | None = None) -> FarmItem:
        with self._lock:
            n = len(self._per_feed.get(feed, []))
            lang = self.feed_lang(feed)
            if lang == "ar":
                title = self.arabic[(feed * 97 + n) % len(self.arabic)].get("title") or f"خبر {feed}-{n}"
            else:
                title = f"World news {feed}-{n}"
            item = FarmItem(feed, n, publish_at, lang, f"{title} ({feed}-{n})")
            self.items.append(item)
            self._by_key[item.key] = item
            self._per_feed.setdefault(feed, []).append(item)
            return item

    def visible(self, feed: int, now: float) -> list[FarmItem]:
        with self._lock:
            return [i for i in self._per_feed.get(feed, []) if i.publish_at <= now]

    def by_key(self, key: str) -> FarmItem | None:
        return self._by_key.get(key)

    def page(self, item: FarmItem) -> bytes:
        if item.lang == "en":
            return self.english[(item.feed * 31 + item.n) % len(self.english)]
        art = self.arabic[(item.feed * 97 + item.n) % len(self.arabic)]
        layout = self.layouts[(item.feed // 3 + item.feed) % len(self.layouts)]
        return layout.render(art.get("title") or item.title, art["content"])

    def registry(self, path: Path, interval: str = "60s") -> Path:
        """Write a feed registry for every feed of the farm."""
        return write_registry(path, self.feeds, self.feed_url, self.feed_lang, interval)

    def all_pages(self) -> list[tuple[bytes, str]]:
        """(page bytes, URL) of every item, as the farm serves them."""
        return [(self.page(i), self.page_url(i)) for i in self.items]


def write_registry(path: Path, feeds: int, url_of: Callable[[int], str], lang_of: Callable[[int], str],
                   interval: str) -> Path:  # fmt: skip
    """A feed registry with one entry per farm feed (ids farm-0, farm-1, ...)."""
    lines = ["feeds:"]
    for f in range(feeds):
        lines += [f"  - id: farm-{f}", f"    url: {url_of(f)}", f"    name: Farm {f}",
                  f"    language: {lang_of(f)}", f"    poll_interval: {interval}"]  # fmt: skip
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def service_env(es_url: str, prefix: str, feeds: Path, rules: Path, smtp_port: int, var_dir: Path,
                **extra: str) -> dict[str, str]:  # fmt: skip
    """The RASAD_* environment of a live service over a loopback farm, a test node and an SMTP sink."""
    return {
        "RASAD_ES_URL": es_url, "RASAD_INDEX_PREFIX": prefix, "RASAD_FEEDS_FILE": str(feeds),
        "RASAD_RULES_FILE": str(rules), "RASAD_SMTP_HOST": "127.0.0.1", "RASAD_SMTP_PORT": str(smtp_port),
        "RASAD_ALLOW_PRIVATE_NETWORKS": "1", "RASAD_RESPECT_ROBOTS": "0", "RASAD_VAR_DIR": str(var_dir),
        "RASAD_POLL_JITTER": "0", **extra,
    }  # fmt: skip

"""The HTTP client against real loopback servers: decoding, redirects, retries, politeness, timeouts.

``LoopbackServer`` (a real ``http.server`` on 127.0.0.1 whose routes are Python functions)
is also used by the security, stage and dedup tests.
"""

from __future__ import annotations

import contextlib
import gzip
import threading
import time
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import brotli
import pytest

from rasad.core.settings import load_settings
from rasad.ingest.http.client import HttpClient
from rasad.ingest.http.result import FetchError
from rasad.ingest.http.robots import parse_robots

Route = Callable[["Handler"], None]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # http.server's naming
        srv: LoopbackServer = self.server.owner  # type: ignore[attr-defined]
        with srv.lock:
            srv.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
        route = srv.routes.get(self.path) or srv.routes.get(self.path.split("?", 1)[0])
        if route is None:
            self.reply(404, b"not found")
            return
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client hung up on purpose
            route(self)

    def reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        """Send a complete response."""
        self.send_response(status)
        hdrs = {"Content-Type": "text/html; charset=utf-8", **(headers or {})}
        for k, v in hdrs.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class LoopbackServer:
    """A real threaded HTTP server on a loopback address; ``routes`` maps a path to a function of the handler."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host  # another loopback address (127.0.0.2, ...) is another host to the HTTP client
        self.routes: dict[str, Route] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer((host, 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.owner = self  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def add(self, path: str, body: bytes | str = b"", status: int = 200, headers: dict[str, str] | None = None) -> None:
        """Serve a fixed response at ``path``."""
        data = body.encode("utf-8") if isinstance(body, str) else body
        self.routes[path] = lambda h: h.reply(status, data, headers)

    def paths(self) -> list[str]:
        """Paths requested so far, in order."""
        with self.lock:
            return [p for p, _ in self.requests]

    def __enter__(self) -> LoopbackServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def make_settings(**overrides: object):
    """Settings for loopback tests: private networks allowed, quick backoff, robots honoured."""
    base = {"allow_private_networks": True, "backoff_base": 0.01, "retries": 2, "per_host_delay": 0.0,
            "total_timeout": 10.0, "read_timeout": 5.0, "connect_timeout": 2.0}  # fmt: skip
    return load_settings(**{**base, **overrides})


@pytest.fixture
def server():
    with LoopbackServer() as srv:
        yield srv


HTML = ("<html><head><title>t</title></head><body><p>" + "كلمة " * 200 + "</p></body></html>").encode()


def test_gzip_deflate_and_brotli_bodies_are_decoded(server):
    server.add("/gz", gzip.compress(HTML), headers={"Content-Encoding": "gzip"})
    server.add("/br", brotli.compress(HTML), headers={"Content-Encoding": "br"})
    server.add("/raw-deflate", zlib.compress(HTML)[2:-4], headers={"Content-Encoding": "deflate"})
    server.add("/zlib-deflate", zlib.compress(HTML), headers={"Content-Encoding": "deflate"})
    server.add("/two", gzip.compress(gzip.compress(HTML)), headers={"Content-Encoding": "gzip, gzip"})
    client = HttpClient(make_settings())
    for path in ("/gz", "/br", "/raw-deflate", "/zlib-deflate", "/two"):
        assert client.get(server.base_url + path, 1 << 20).body == HTML, path
    ua = server.requests[0][1]
    assert ua["user-agent"].startswith("Rasad/") and "br" in ua["accept-encoding"]


def test_corrupt_encoding_is_a_permanent_error(server):
    server.add("/bad", b"this is not gzip at all", headers={"Content-Encoding": "gzip"})
    server.add("/odd", b"x", headers={"Content-Encoding": "compress"})
    client = HttpClient(make_settings())
    for path in ("/bad", "/odd"):
        with pytest.raises(FetchError) as ei:
            client.get(server.base_url + path, 1 << 20)
        assert ei.value.kind == "bad_encoding" and not ei.value.transient
    assert server.paths().count("/bad") == 1  # not retried


def test_redirects_are_followed_and_limited(server):
    for i in range(8):
        server.add(f"/r{i}", status=302, headers={"Location": f"/r{i + 1}"})
    server.add("/r8", HTML)
    client = HttpClient(make_settings(max_redirects=10))
    res = client.get(server.base_url + "/r3", 1 << 20)
    assert res.url == server.base_url + "/r8" and len(res.redirects) == 5 and res.body == HTML
    with pytest.raises(FetchError) as ei:
        HttpClient(make_settings(max_redirects=3)).get(server.base_url + "/r0", 1 << 20)
    assert ei.value.kind == "too_many_redirects"


def test_5xx_is_retried_then_succeeds(server):
    calls = []

    def flaky(h: Handler) -> None:
        calls.append(1)
        h.reply(503 if len(calls) < 3 else 200, b"busy" if len(calls) < 3 else HTML)

    server.routes["/flaky"] = flaky
    res = HttpClient(make_settings(retries=3)).get(server.base_url + "/flaky", 1 << 20)
    assert res.status == 200 and len(calls) == 3


def test_5xx_gives_up_after_the_configured_retries(server):
    server.add("/down", b"down", status=502)
    with pytest.raises(FetchError) as ei:
        HttpClient(make_settings(retries=2)).get(server.base_url + "/down", 1 << 20)
    assert ei.value.kind == "http_5xx" and ei.value.transient
    assert server.paths().count("/down") == 3


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 451])
def test_4xx_is_not_retried(server, status):
    server.add("/gone", b"no", status=status)
    with pytest.raises(FetchError) as ei:
        HttpClient(make_settings(retries=3)).get(server.base_url + "/gone", 1 << 20)
    assert ei.value.kind == "http_4xx" and ei.value.status == status and not ei.value.transient
    assert server.paths().count("/gone") == 1


def test_429_waits_for_retry_after(server):
    calls: list[float] = []

    def limited(h: Handler) -> None:
        calls.append(time.monotonic())
        if len(calls) == 1:
            h.reply(429, b"slow down", {"Retry-After": "1"})
        else:
            h.reply(200, HTML)

    server.routes["/limited"] = limited
    res = HttpClient(make_settings(retries=2)).get(server.base_url + "/limited", 1 << 20)
    assert res.status == 200 and len(calls) == 2
    assert calls[1] - calls[0] >= 0.95  # backoff_base is 0.01: only Retry-After explains the wait


def test_long_retry_after_is_not_waited_for_in_process(server):
    server.add("/later", b"", status=429, headers={"Retry-After": "3600"})
    start = time.monotonic()
    with pytest.raises(FetchError) as ei:
        HttpClient(make_settings(retries=3)).get(server.base_url + "/later", 1 << 20)
    assert time.monotonic() - start < 2
    assert ei.value.kind == "http_429" and ei.value.retry_after == 3600
    assert server.paths().count("/later") == 1


def test_conditional_get_sends_validators_and_reads_304(server):
    def feed(h: Handler) -> None:
        if h.headers.get("If-None-Match") == '"v1"':
            h.send_response(304)
            h.send_header("ETag", '"v1"')
            h.send_header("Content-Length", "0")
            h.end_headers()
        else:
            h.reply(200, b"<rss/>", {"ETag": '"v1"', "Last-Modified": "Sun, 23 Nov 2025 10:00:00 GMT"})

    server.routes["/feed"] = feed
    client = HttpClient(make_settings())
    first = client.fetch_feed(server.base_url + "/feed")
    assert first.etag == '"v1"' and first.last_modified and not first.not_modified
    second = client.fetch_feed(server.base_url + "/feed", first.etag, first.last_modified)
    assert second.not_modified and second.body == b""
    hdrs = server.requests[-1][1]
    assert hdrs["if-none-match"] == '"v1"' and hdrs["if-modified-since"] == "Sun, 23 Nov 2025 10:00:00 GMT"


def test_per_host_concurrency_and_delay(server):
    active = [0]
    peak = [0]
    starts: list[float] = []
    lock = threading.Lock()

    def slow(h: Handler) -> None:
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
            starts.append(time.monotonic())
        time.sleep(0.15)
        with lock:
            active[0] -= 1
        h.reply(200, HTML)

    server.routes["/slow"] = slow
    client = HttpClient(make_settings(per_host_concurrency=2, per_host_delay=0.05))
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: client.get(f"{server.base_url}/slow?i={i}", 1 << 20), range(8)))
    assert peak[0] == 2
    gaps = [b - a for a, b in zip(sorted(starts), sorted(starts)[1:], strict=False)]
    assert min(gaps) >= 0.04


def test_a_slow_trickle_cannot_outlive_the_total_deadline(server):
    def trickle(h: Handler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "text/html")
        h.send_header("Content-Length", "100000")
        h.end_headers()
        for _ in range(400):  # one byte every 50 ms: each read is quick, the whole is not
            h.wfile.write(b"a")
            h.wfile.flush()
            time.sleep(0.05)

    server.routes["/trickle"] = trickle
    start = time.monotonic()
    with pytest.raises(FetchError) as ei:
        HttpClient(make_settings(total_timeout=1.0, read_timeout=5.0, retries=0)).get(server.base_url + "/trickle", 1 << 20)
    assert ei.value.kind == "timeout"
    assert time.monotonic() - start < 2.5


def test_non_ascii_links_are_percent_encoded_on_the_wire(server):
    server.add("/ar/%D8%AE%D8%A8%D8%B1%20%D8%B9%D8%A7%D8%AC%D9%84", HTML)
    res = HttpClient(make_settings()).get(server.base_url + "/ar/خبر عاجل", 1 << 20)
    assert res.status == 200


def test_robots_rules_follow_rfc9309_longest_match():
    rules = parse_robots(
        "User-agent: *\nDisallow: /\n\nUser-agent: rasad\nUser-agent: other\nDisallow: /news/\n"
        "Allow: /news/world/\nDisallow: /*.pdf$\nCrawl-delay: 2\n",
        "Rasad",
    )
    assert rules.allowed("http://x/news/world/a")
    assert not rules.allowed("http://x/news/local/a")
    assert not rules.allowed("http://x/files/report.pdf") and rules.allowed("http://x/files/report.pdf?x=1")
    assert rules.allowed("http://x/about") and rules.crawl_delay == 2.0
    star = parse_robots("User-agent: *\nDisallow: /private\n", "Rasad")
    assert not star.allowed("http://x/private/1") and star.allowed("http://x/public")
    assert parse_robots("", "Rasad").allowed("http://x/anything")


def test_robots_rules_compare_percent_encoded_and_raw_arabic_paths():
    rules = parse_robots("User-agent: *\nDisallow: /%D8%AE%D8%A8%D8%B1/\nDisallow: /ملف/\nAllow: /\n", "Rasad")
    assert not rules.allowed("http://x/خبر/1") and not rules.allowed("http://x/%D8%AE%D8%A8%D8%B1/1")
    assert not rules.allowed("http://x/%D9%85%D9%84%D9%81/2") and not rules.allowed("http://x/ملف/2")
    assert rules.allowed("http://x/robots.txt") and rules.allowed("http://x/other")

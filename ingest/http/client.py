"""The one HTTP client for feeds, pages and robots.txt. Nothing else in Rasad opens sockets to the web.

It owns: timeouts (connect, read, and a total deadline per request that a slow trickle
cannot outlive), body-size caps (counted on *decoded* bytes and enforced while
decompressing, so a gzip or brotli bomb is cut off after at most cap+1 bytes of output),
redirects followed by hand (each hop re-checked), gzip/deflate/brotli, a clear
User-Agent, a per-host concurrency limit and delay, robots.txt for article pages
(RFC 9309 matching, cached per origin, Crawl-delay honoured up to a bound), early refusal
of binary page bodies, and retries for transient failures only (timeouts, connection
errors, 429 honouring Retry-After, 5xx) with exponential backoff.

SSRF guard: URLs come from untrusted feeds. Every hop's host is resolved once, every
address is checked (loopback, private, link-local, multicast, reserved, CGNAT and cloud
metadata are refused unless ``allow_private_networks``; metadata and link-local always),
IPv4 addresses embedded in IPv6 (mapped, 6to4, Teredo, NAT64) are checked too, and the
connection goes to the checked address itself, so DNS rebinding between check and
connect cannot slip through.
"""

from __future__ import annotations

import email.utils
import logging
import random
import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from urllib.parse import SplitResult, quote, urljoin, urlsplit

import urllib3
from urllib3.exceptions import HTTPError as Urllib3HTTPError
from urllib3.exceptions import ProtocolError, ReadTimeoutError

from rasad.core.settings import Settings
from rasad.ingest.http.bodies import CHUNK, brotli, decoders_for, is_binary_type
from rasad.ingest.http.gates import HostGate
from rasad.ingest.http.result import FetchError, FetchResult
from rasad.ingest.http.robots import (
    MAX_CRAWL_DELAY,
    ROBOTS_FAILURE_TTL,
    ROBOTS_MAX_BYTES,
    ROBOTS_TTL,
    RobotsRules,
    parse_robots,
)
from rasad.ingest.http.ssrf import METADATA_HOSTS, check_address

log = logging.getLogger(__name__)

MAX_RETRY_WAIT = 30.0  # a Retry-After longer than this is not waited for in-process: the feed backs off instead


def _parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def _request_target(path: str, query: str) -> str:
    # Feeds carry raw Arabic and spaces in links; the request line must be ASCII.
    target = quote(path or "/", safe="/%:@!$&'()*+,;=-._~")
    if query:
        target += "?" + quote(query, safe="=&%:@!$'()*+,;/?-._~")
    return target


Resolver = Callable[[str, int], list[str]]


def _split_url(url: str) -> tuple[SplitResult, int | None, str]:
    """The URL's parts, explicit port and lower-case scheme; a malformed URL is a permanent error."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as e:
        raise FetchError("bad_url", str(e), url) from None
    return parts, port, parts.scheme.lower()


class HttpClient:
    """Polite, capped, SSRF-guarded HTTP GET for feeds, pages and robots.txt.

    ``resolver`` replaces DNS (host, port -> addresses); ``trusted_hosts`` names hosts an
    operator vouches for (an internal feed mirror): their addresses are not checked, but
    every redirect they send still is.
    """

    def __init__(self, settings: Settings, resolver: Resolver | None = None, trusted_hosts: Iterable[str] = ()):
        self.s = settings
        self._resolver = resolver or self._resolve
        self.trusted_hosts = {h.lower() for h in trusted_hosts}
        self._pools: dict[tuple, urllib3.HTTPConnectionPool] = {}
        self._pools_lock = threading.Lock()
        self._gates: dict[str, HostGate] = {}
        self._robots: dict[str, tuple[float, RobotsRules | FetchError | None]] = {}
        self._robots_locks: dict[str, threading.Lock] = {}
        self._robots_lock = threading.Lock()
        self.sleep = time.sleep  # one place to wait, so a caller can observe backoff
        self.max_retry_wait = MAX_RETRY_WAIT
        self.agent_token = settings.user_agent.split("/", 1)[0].strip() or "Rasad"
        self.accept_encoding = "gzip, deflate, br" if brotli is not None else "gzip, deflate"

    # ------------------------------------------------------------------ plumbing
    @staticmethod
    def _resolve(host: str, port: int) -> list[str]:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as e:
            raise FetchError("dns", f"cannot resolve {host}: {e}", host) from None
        ips = list(dict.fromkeys(str(i[4][0]) for i in infos))
        return sorted(ips, key=lambda ip: ":" in ip)  # IPv4 first: many hosts have no IPv6 route

    def _gate(self, host: str) -> HostGate:
        with self._pools_lock:
            gate = self._gates.get(host)
            if gate is None:
                gate = self._gates[host] = HostGate(self.s.per_host_concurrency, self.s.per_host_delay)
            return gate

    def _pool(self, scheme: str, ip: str, port: int, host: str) -> urllib3.HTTPConnectionPool:
        key = (scheme, ip, port, host)
        with self._pools_lock:
            pool = self._pools.get(key)
            if pool is None:
                timeout = urllib3.Timeout(connect=self.s.connect_timeout, read=self.s.read_timeout)
                size = max(1, self.s.per_host_concurrency)
                if scheme == "https":
                    pool = urllib3.HTTPSConnectionPool(
                        ip, port, timeout=timeout, retries=False, maxsize=size, block=False,
                        server_hostname=host, assert_hostname=host,
                    )  # fmt: skip
                else:
                    pool = urllib3.HTTPConnectionPool(ip, port, timeout=timeout, retries=False, maxsize=size)
                self._pools[key] = pool
            return pool

    def _target(self, url: str) -> tuple[str, str, int, str, str]:
        """Check one hop: scheme, host, port, resolved and vetted address, request target."""
        parts, port, scheme = _split_url(url)
        if scheme not in ("http", "https"):
            raise FetchError("bad_url", f"scheme {scheme!r} is not http(s)", url)
        host = (parts.hostname or "").rstrip(".").lower()
        if not host:
            raise FetchError("bad_url", "no host", url)
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            if not host.isascii():
                raise FetchError("bad_url", f"host {host!r} is not a valid domain name", url) from None
        port = port or (443 if scheme == "https" else 80)
        if host in METADATA_HOSTS:
            raise FetchError("blocked_ssrf", f"{host} is a cloud metadata host", url)
        ips = self._resolver(host, port)
        if not ips:
            raise FetchError("dns", f"{host} resolved to no address", url)
        if host not in self.trusted_hosts:
            for ip in ips:
                why = check_address(ip, self.s.allow_private_networks)
                if why:
                    raise FetchError("blocked_ssrf", f"{host} resolves to {why}", url)
        return scheme, ips[0], port, host, _request_target(parts.path, parts.query)

    def _read_body(self, resp: urllib3.BaseHTTPResponse, url: str, max_bytes: int, deadline: float,
                   truncate: bool) -> bytes:  # fmt: skip
        """Stream, decode and cap a body; a slow trickle cannot outlive the deadline."""
        try:
            decoders = decoders_for(resp.headers.get("content-encoding"))
        except ValueError as e:
            raise FetchError("bad_encoding", f"unsupported Content-Encoding {e}", url) from None
        out = bytearray()
        sock = getattr(getattr(resp, "connection", None), "sock", None)
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise FetchError("timeout", f"total time over {self.s.total_timeout}s", url)
                if sock is not None:
                    sock.settimeout(max(0.05, min(self.s.read_timeout, remaining)))
                raw = resp.read1(CHUNK, decode_content=False)
                if not raw:
                    break
                data = raw
                for dec in decoders:
                    data = dec.feed(data, max_bytes - len(out) + 1)
                out += data
                if len(out) > max_bytes:
                    if truncate:
                        return bytes(out[:max_bytes])
                    raise FetchError("too_large", f"body exceeds cap of {max_bytes} bytes", url)
        except (ReadTimeoutError, TimeoutError) as e:
            raise FetchError("timeout", f"read timed out: {e}", url) from None
        except (zlib.error, ValueError) as e:
            raise FetchError("bad_encoding", f"cannot decode {resp.headers.get('content-encoding')}: {e}", url) from None
        except (ProtocolError, Urllib3HTTPError, OSError) as e:
            raise FetchError("connection", str(e), url) from None
        except Exception as e:  # brotli.error has no common base with the others
            if brotli is not None and isinstance(e, brotli.error):
                raise FetchError("bad_encoding", f"cannot decode br: {e}", url) from None
            raise
        return bytes(out)

    # ------------------------------------------------------------------ one attempt
    def _get_once(self, url: str, max_bytes: int, headers: dict[str, str], *, refuse_binary: bool = False,
                  truncate: bool = False) -> FetchResult:  # fmt: skip
        start = time.monotonic()
        deadline = start + self.s.total_timeout
        redirects: list[str] = []
        current = url
        while True:
            scheme, ip, port, host, target = self._target(current)
            default_port = 443 if scheme == "https" else 80
            req_headers = {
                "Host": host if port == default_port else f"{host}:{port}",
                "User-Agent": self.s.user_agent,
                "Accept-Encoding": self.accept_encoding,
                "Accept": "*/*",
                **headers,
            }
            pool = self._pool(scheme, ip, port, host)
            with self._gate(host):
                try:
                    resp = pool.urlopen(
                        "GET", target, headers=req_headers, redirect=False, retries=False,
                        preload_content=False, decode_content=False, assert_same_host=False,
                    )  # fmt: skip
                except urllib3.exceptions.NewConnectionError as e:
                    # Checked first: urllib3 makes it a subclass of ConnectTimeoutError.
                    raise FetchError("connection", str(e), current) from None
                except (ReadTimeoutError, TimeoutError, urllib3.exceptions.ConnectTimeoutError) as e:
                    raise FetchError("timeout", str(e), current) from None
                except urllib3.exceptions.SSLError as e:
                    raise FetchError("connection", f"TLS: {e}", current) from None
                except (Urllib3HTTPError, OSError, ValueError) as e:
                    raise FetchError("connection", str(e), current) from None
                complete = False
                try:
                    status = resp.status
                    # A 304 has no body (RFC 9110 15.4.5): its connection stays good for the next
                    # request (an idle poll is one 304 per feed; reconnecting each time was most of it).
                    complete = status == 304
                    hdrs = {k.lower(): v for k, v in resp.headers.items()}
                    if status in (301, 302, 303, 307, 308) and hdrs.get("location"):
                        if len(redirects) >= self.s.max_redirects:
                            raise FetchError("too_many_redirects", f"more than {self.s.max_redirects}", url)
                        redirects.append(current)
                        current = urljoin(current, hdrs["location"].strip())
                        continue
                    body = b""
                    if 200 <= status < 300:
                        if refuse_binary and is_binary_type(hdrs.get("content-type")):
                            raise FetchError("not_html", f"content type {hdrs.get('content-type')}", current, status)
                        declared = hdrs.get("content-length", "")
                        if declared.isdigit() and int(declared) > max_bytes and not truncate \
                                and not hdrs.get("content-encoding"):  # fmt: skip
                            raise FetchError("too_large", f"Content-Length {declared} > cap {max_bytes}", current)
                        body = self._read_body(resp, current, max_bytes, deadline, truncate)
                        complete = True
                finally:
                    if not complete:
                        # An unread body must not go back to the pool: the next request would read it.
                        resp.close()
                    resp.release_conn()
            result = FetchResult(current, status, body, hdrs, url, redirects, time.monotonic() - start)
            if status == 304 or 200 <= status < 300:
                return result
            retry_after = _parse_retry_after(hdrs.get("retry-after"))
            if status == 429:
                raise FetchError("http_429", "too many requests", current, 429, retry_after)
            if status >= 500 and status not in (501, 505):
                raise FetchError("http_5xx", f"HTTP {status}", current, status, retry_after)
            raise FetchError("http_4xx" if status < 500 else "http_5xx_permanent", f"HTTP {status}", current, status)

    # ------------------------------------------------------------------ public
    def get(self, url: str, max_bytes: int, headers: dict[str, str] | None = None, *,
            refuse_binary: bool = False, truncate: bool = False) -> FetchResult:  # fmt: skip
        """GET with retries on transient failures; raises FetchError when it gives up."""
        attempt = 0
        while True:
            try:
                return self._get_once(url, max_bytes, headers or {}, refuse_binary=refuse_binary, truncate=truncate)
            except FetchError as e:
                attempt += 1
                if not e.transient or attempt > self.s.retries or e.kind == "dns":
                    raise
                if e.retry_after is not None and e.retry_after > self.max_retry_wait:
                    raise  # the caller defers (feed state keeps next_poll past Retry-After)
                delay = self.s.backoff_base * (2 ** (attempt - 1)) * (1.0 + 0.1 * random.random())
                if e.retry_after is not None:
                    delay = max(delay, e.retry_after)
                log.info("retrying %s in %.2fs after %s", url, delay, e)
                self.sleep(delay)

    def fetch_feed(self, url: str, etag: str | None = None, last_modified: str | None = None) -> FetchResult:
        """Conditional GET of a feed (304 comes back as a result with ``not_modified``)."""
        headers = {"Accept": "application/rss+xml, application/atom+xml, application/feed+json, "
                             "application/xml;q=0.9, */*;q=0.5"}  # fmt: skip
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        return self.get(url, self.s.max_feed_bytes, headers)

    def fetch_page(self, url: str) -> FetchResult:
        """GET an article page, honouring robots.txt when configured to; binary bodies are refused unread."""
        if self.s.respect_robots and not self.allowed_by_robots(url):
            raise FetchError("blocked_robots", "disallowed by robots.txt", url)
        return self.get(url, self.s.max_page_bytes, {"Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5"},
                        refuse_binary=True)  # fmt: skip

    def _robots_for(self, origin: str) -> RobotsRules | None:
        """Rules for one origin, fetched once per TTL however many threads ask at once."""
        with self._robots_lock:
            lock = self._robots_locks.setdefault(origin, threading.Lock())
        with lock:
            now = time.monotonic()
            cached = self._robots.get(origin)
            if cached is None or cached[0] < now:
                entry: RobotsRules | FetchError | None
                ttl = ROBOTS_TTL
                try:
                    res = self.get(origin + "/robots.txt", ROBOTS_MAX_BYTES, {"Accept": "text/plain,*/*;q=0.5"},
                                   truncate=True)  # fmt: skip
                    entry = parse_robots(res.body.decode("utf-8", "replace"), self.agent_token)
                except FetchError as e:
                    if e.kind in ("http_4xx", "bad_encoding", "too_many_redirects"):
                        entry = None  # RFC 9309 2.3.1.3: "unavailable" robots.txt -> everything allowed
                    elif e.kind == "blocked_ssrf":
                        raise
                    else:
                        # RFC 9309 2.3.1.4: unreachable (5xx, network) -> assume disallowed, and ask again soon.
                        entry = FetchError("robots_unavailable", f"robots.txt unavailable: {e.reason}", origin)
                        ttl = ROBOTS_FAILURE_TTL
                if isinstance(entry, RobotsRules) and entry.crawl_delay:
                    gate = self._gate((urlsplit(origin).hostname or "").lower())
                    gate.delay = max(gate.delay, min(entry.crawl_delay, MAX_CRAWL_DELAY))
                cached = (now + ttl, entry)
                self._robots[origin] = cached
        entry = cached[1]
        if isinstance(entry, FetchError):
            raise FetchError(entry.kind, entry.reason, entry.url)
        return entry

    def allowed_by_robots(self, url: str) -> bool:
        """Whether robots.txt of the URL's origin lets our User-Agent fetch it (cached per origin)."""
        parts, port, scheme = _split_url(url)
        host = (parts.hostname or "").lower()
        if scheme not in ("http", "https") or not host:
            raise FetchError("bad_url", "not an http(s) URL with a host", url)
        netloc = f"[{host}]" if ":" in host else host
        origin = f"{scheme}://{netloc}" + (f":{port}" if port else "")
        rules = self._robots_for(origin)
        return True if rules is None else rules.allowed(url)

    def close(self) -> None:
        """Close pooled connections."""
        with self._pools_lock:
            for pool in self._pools.values():
                pool.close()
            self._pools.clear()


_default_client: HttpClient | None = None


def fetch_page(url: str, settings: Settings | None = None) -> FetchResult:
    """Fetch one page with a process-wide client (for the CLI)."""
    global _default_client  # noqa: PLW0603 - one client per CLI process (its pools), replaced when settings are given
    if _default_client is None or settings is not None:
        from rasad.core.settings import load_settings  # noqa: PLC0415

        _default_client = HttpClient(settings or load_settings())
    return _default_client.fetch_page(url)

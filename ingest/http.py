"""The one HTTP client for feeds, pages and robots.txt. Nothing else in Rasad opens sockets to the web.

It owns: timeouts (connect, read, and a total deadline per request), body-size caps
(counted on *decoded* bytes, so a gzip bomb is cut off too), redirects followed by hand
(each hop re-checked), gzip/deflate/brotli, a clear User-Agent, a per-host concurrency
limit and delay, robots.txt for article pages (cached per host), and retries for transient
failures only (timeouts, connection resets, 429 honouring Retry-After, 5xx) with
exponential backoff.

SSRF guard: URLs come from untrusted feeds. Every hop's host is resolved once, every
address is checked (loopback, private, link-local, multicast, reserved, cloud metadata
are refused unless ``allow_private_networks``), and the connection goes to the checked
address itself, so DNS rebinding between check and connect cannot slip through.
"""

from __future__ import annotations

import email.utils
import ipaddress
import logging
import socket
import threading
import time
import urllib.robotparser
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from urllib.parse import urljoin, urlsplit

import urllib3
from urllib3.exceptions import HTTPError as Urllib3HTTPError
from urllib3.exceptions import ProtocolError, ReadTimeoutError

from rasad.settings import Settings

log = logging.getLogger(__name__)

# Error kinds. Transient ones are retried (and a feed failing with them backs off);
# permanent ones are recorded with their reason and skipped.
TRANSIENT_KINDS = {"timeout", "connection", "http_5xx", "http_429", "dns", "robots_unavailable"}
PERMANENT_KINDS = {
    "http_4xx", "too_large", "too_many_redirects", "blocked_ssrf", "blocked_robots",
    "bad_url", "not_modified",
}  # fmt: skip
METADATA_HOSTS = {"metadata.google.internal", "metadata", "instance-data"}


class FetchError(Exception):
    """A request that did not produce a usable body; ``kind`` says why, ``transient`` whether to retry."""

    def __init__(self, kind: str, reason: str, url: str, status: int | None = None, retry_after: float | None = None):
        super().__init__(f"{kind}: {reason} ({url})")
        self.kind = kind
        self.reason = reason
        self.url = url
        self.status = status
        self.retry_after = retry_after

    @property
    def transient(self) -> bool:
        return self.kind in TRANSIENT_KINDS


@dataclass
class FetchResult:
    url: str  # final URL after redirects
    status: int
    body: bytes
    headers: dict[str, str]
    requested_url: str
    redirects: list[str] = field(default_factory=list)
    elapsed: float = 0.0

    @property
    def content_type(self) -> str | None:
        return self.headers.get("content-type")

    @property
    def etag(self) -> str | None:
        return self.headers.get("etag")

    @property
    def last_modified(self) -> str | None:
        return self.headers.get("last-modified")

    @property
    def not_modified(self) -> bool:
        return self.status == 304


def check_address(ip: str, allow_private: bool) -> str | None:
    """Reason an address must not be fetched, or None if it is a public unicast address."""
    addr = ipaddress.ip_address(ip)
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
        addr = addr.ipv4_mapped
    if str(addr) in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200"):
        return f"{addr} is a cloud metadata address"
    if addr.is_multicast:
        return f"{addr} is a multicast address"
    if addr.is_unspecified:
        return f"{addr} is unspecified"
    if allow_private:
        return None
    for attr, what in (
        ("is_loopback", "loopback"),
        ("is_link_local", "link-local"),
        ("is_private", "private"),
        ("is_reserved", "reserved"),
    ):
        if getattr(addr, attr):
            return f"{addr} is a {what} address"
    if isinstance(addr, ipaddress.IPv4Address) and addr in ipaddress.ip_network("100.64.0.0/10"):
        return f"{addr} is a carrier-grade NAT address"
    return None


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
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


class _HostGate:
    """Per-host concurrency limit and minimum delay between request starts."""

    def __init__(self, concurrency: int, delay: float):
        self.sem = threading.BoundedSemaphore(max(1, concurrency))
        self.delay = delay
        self.lock = threading.Lock()
        self.next_start = 0.0

    def __enter__(self) -> None:
        self.sem.acquire()
        if self.delay > 0:
            with self.lock:
                now = time.monotonic()
                wait = self.next_start - now
                self.next_start = max(now, self.next_start) + self.delay
            if wait > 0:
                time.sleep(wait)

    def __exit__(self, *exc: object) -> None:
        self.sem.release()


class HttpClient:
    """Polite, capped, SSRF-guarded HTTP GET for feeds, pages and robots.txt."""

    def __init__(self, settings: Settings, resolver: Callable[[str, int], list[str]] | None = None):
        self.s = settings
        self._resolver = resolver or self._resolve
        self._pools: dict[tuple, urllib3.HTTPConnectionPool] = {}
        self._pools_lock = threading.Lock()
        self._gates: dict[str, _HostGate] = {}
        self._robots: dict[str, tuple[float, urllib.robotparser.RobotFileParser | None]] = {}
        self._robots_lock = threading.Lock()
        self.sleep = time.sleep  # tests may shorten backoff; production sleeps for real

    # ------------------------------------------------------------------ plumbing
    @staticmethod
    def _resolve(host: str, port: int) -> list[str]:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as e:
            raise FetchError("dns", f"cannot resolve {host}: {e}", host) from None
        return list(dict.fromkeys(i[4][0] for i in infos))

    def _gate(self, host: str) -> _HostGate:
        with self._pools_lock:
            gate = self._gates.get(host)
            if gate is None:
                gate = self._gates[host] = _HostGate(self.s.per_host_concurrency, self.s.per_host_delay)
            return gate

    def _pool(self, scheme: str, ip: str, port: int, host: str) -> urllib3.HTTPConnectionPool:
        key = (scheme, ip, port, host)
        with self._pools_lock:
            pool = self._pools.get(key)
            if pool is None:
                timeout = urllib3.Timeout(connect=self.s.connect_timeout, read=self.s.read_timeout)
                if scheme == "https":
                    pool = urllib3.HTTPSConnectionPool(
                        ip, port, timeout=timeout, retries=False, maxsize=4,
                        server_hostname=host, assert_hostname=host,
                    )  # fmt: skip
                else:
                    pool = urllib3.HTTPConnectionPool(ip, port, timeout=timeout, retries=False, maxsize=4)
                self._pools[key] = pool
            return pool

    def _target(self, url: str) -> tuple[str, str, int, str, str]:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise FetchError("bad_url", f"scheme {scheme!r} is not http(s)", url)
        host = (parts.hostname or "").lower()
        if not host:
            raise FetchError("bad_url", "no host", url)
        try:
            port = parts.port or (443 if scheme == "https" else 80)
        except ValueError:
            raise FetchError("bad_url", "invalid port", url) from None
        if host in METADATA_HOSTS:
            raise FetchError("blocked_ssrf", f"{host} is a cloud metadata host", url)
        ips = self._resolver(host, port)
        if not ips:
            raise FetchError("dns", f"{host} resolved to no address", url)
        for ip in ips:
            why = check_address(ip, self.s.allow_private_networks)
            if why:
                raise FetchError("blocked_ssrf", f"{host} resolves to {why}", url)
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        return scheme, ips[0], port, host, path

    # ------------------------------------------------------------------ one attempt
    def _get_once(self, url: str, max_bytes: int, headers: dict[str, str]) -> FetchResult:
        start = time.monotonic()
        deadline = start + self.s.total_timeout
        redirects: list[str] = []
        current = url
        while True:
            scheme, ip, port, host, path = self._target(current)
            default_port = 443 if scheme == "https" else 80
            req_headers = {
                "Host": host if port == default_port else f"{host}:{port}",
                "User-Agent": self.s.user_agent,
                "Accept-Encoding": "gzip, deflate, br",
                "Accept": "*/*",
                **headers,
            }
            pool = self._pool(scheme, ip, port, host)
            with self._gate(host):
                try:
                    resp = pool.urlopen(
                        "GET", path, headers=req_headers, redirect=False, retries=False,
                        preload_content=False, decode_content=True,
                    )  # fmt: skip
                except (ReadTimeoutError, TimeoutError, urllib3.exceptions.ConnectTimeoutError) as e:
                    raise FetchError("timeout", str(e), current) from None
                except (Urllib3HTTPError, OSError) as e:
                    raise FetchError("connection", str(e), current) from None
                try:
                    status = resp.status
                    hdrs = {k.lower(): v for k, v in resp.headers.items()}
                    if status in (301, 302, 303, 307, 308) and hdrs.get("location"):
                        resp.drain_conn()
                        if len(redirects) >= self.s.max_redirects:
                            raise FetchError("too_many_redirects", f"more than {self.s.max_redirects}", url)
                        redirects.append(current)
                        current = urljoin(current, hdrs["location"])
                        continue
                    declared = hdrs.get("content-length")
                    if declared and declared.isdigit() and int(declared) > max_bytes and status == 200:
                        raise FetchError("too_large", f"Content-Length {declared} > cap {max_bytes}", current)
                    chunks: list[bytes] = []
                    size = 0
                    try:
                        for chunk in resp.stream(65536, decode_content=True):
                            size += len(chunk)
                            if size > max_bytes:
                                raise FetchError("too_large", f"body exceeds cap of {max_bytes} bytes", current)
                            if time.monotonic() > deadline:
                                raise FetchError("timeout", f"total time over {self.s.total_timeout}s", current)
                            chunks.append(chunk)
                    except (ReadTimeoutError, TimeoutError) as e:
                        raise FetchError("timeout", str(e), current) from None
                    except (ProtocolError, Urllib3HTTPError, OSError) as e:
                        raise FetchError("connection", str(e), current) from None
                finally:
                    resp.release_conn()
            body = b"".join(chunks)
            result = FetchResult(current, status, body, hdrs, url, redirects, time.monotonic() - start)
            if status == 304:
                return result
            if status == 429:
                raise FetchError("http_429", "too many requests", current, 429, _parse_retry_after(hdrs.get("retry-after")))
            if status >= 500:
                raise FetchError("http_5xx", f"HTTP {status}", current, status, _parse_retry_after(hdrs.get("retry-after")))
            if status >= 400:
                raise FetchError("http_4xx", f"HTTP {status}", current, status)
            return result

    # ------------------------------------------------------------------ public
    def get(self, url: str, max_bytes: int, headers: dict[str, str] | None = None) -> FetchResult:
        """GET with retries on transient failures; raises FetchError when it gives up."""
        attempt = 0
        while True:
            try:
                return self._get_once(url, max_bytes, headers or {})
            except FetchError as e:
                attempt += 1
                if not e.transient or attempt > self.s.retries or e.kind == "dns":
                    raise
                delay = self.s.backoff_base * (2 ** (attempt - 1))
                if e.retry_after is not None:
                    delay = max(delay, min(e.retry_after, 120.0))
                log.info("retrying %s in %.1fs after %s", url, delay, e)
                self.sleep(delay)

    def fetch_feed(self, url: str, etag: str | None = None, last_modified: str | None = None) -> FetchResult:
        """Conditional GET of a feed (304 comes back as a result with ``not_modified``)."""
        headers = {"Accept": "application/rss+xml, application/atom+xml, application/xml;q=0.9, */*;q=0.5"}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        return self.get(url, self.s.max_feed_bytes, headers)

    def fetch_page(self, url: str) -> FetchResult:
        """GET an article page, honouring robots.txt when configured to."""
        if self.s.respect_robots and not self.allowed_by_robots(url):
            raise FetchError("blocked_robots", "disallowed by robots.txt", url)
        return self.get(url, self.s.max_page_bytes, {"Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5"})

    def allowed_by_robots(self, url: str) -> bool:
        """Whether robots.txt of the URL's host lets our User-Agent fetch it (cached per host)."""
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        now = time.monotonic()
        with self._robots_lock:
            cached = self._robots.get(origin)
        if cached is None or cached[0] < now:
            parser: urllib.robotparser.RobotFileParser | None
            try:
                res = self.get(origin + "/robots.txt", 512 * 1024)
                parser = urllib.robotparser.RobotFileParser()
                parser.parse(res.body.decode("utf-8", "replace").splitlines())
            except FetchError as e:
                if e.kind in ("http_4xx",):
                    parser = None  # no robots.txt: everything allowed
                elif e.kind == "blocked_ssrf":
                    raise
                else:
                    # RFC 9309: an unreachable robots.txt means "assume disallowed" for now.
                    raise FetchError("robots_unavailable", f"robots.txt unavailable: {e.reason}", url) from None
            cached = (now + 3600.0, parser)
            with self._robots_lock:
                self._robots[origin] = cached
        parser = cached[1]
        if parser is None:
            return True
        agent = self.s.user_agent.split("/", 1)[0]
        return parser.can_fetch(agent, url)

    def close(self) -> None:
        """Close pooled connections."""
        with self._pools_lock:
            for pool in self._pools.values():
                pool.close()
            self._pools.clear()


_default_client: HttpClient | None = None


def fetch_page(url: str, settings: Settings | None = None) -> FetchResult:
    """Fetch one page with a process-wide client (for the CLI)."""
    global _default_client
    if _default_client is None or settings is not None:
        from rasad.settings import load_settings  # noqa: PLC0415

        _default_client = HttpClient(settings or load_settings())
    return _default_client.fetch_page(url)

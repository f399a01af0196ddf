"""Hostile input against real loopback servers: SSRF, XML bombs, oversized and binary bodies, robots.txt."""

from __future__ import annotations

import gzip
import threading
import time
import tracemalloc
import zlib
from concurrent.futures import ThreadPoolExecutor

import brotli
import pytest

from rasad.ingest.feeds import parse_feed
from rasad.ingest.http.client import HttpClient
from rasad.ingest.http.result import FetchError
from rasad.ingest.http.ssrf import check_address
from tests.ingest.test_http import HTML, Handler, LoopbackServer, make_settings

MB = 1024 * 1024


@pytest.fixture
def server():
    with LoopbackServer() as srv:
        yield srv


# --------------------------------------------------------------------------- SSRF


@pytest.mark.parametrize(
    "ip",
    ["127.0.0.1", "127.8.9.10", "10.1.2.3", "172.16.0.1", "192.168.1.1", "100.64.0.1", "0.0.0.0",  # noqa: S104 - addresses the guard must refuse
     "::1", "fc00::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "2002:7f00:1::", "64:ff9b::a00:1", "240.0.0.1"],
)  # fmt: skip
def test_non_public_addresses_are_refused(ip):
    assert check_address(ip, allow_private=False)


@pytest.mark.parametrize("ip", ["169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200",
                                "169.254.1.1", "fe80::1", "224.0.0.1", "::ffff:169.254.169.254"])  # fmt: skip
def test_metadata_link_local_and_multicast_are_refused_even_when_private_is_allowed(ip):
    assert check_address(ip, allow_private=True)


@pytest.mark.parametrize("ip", ["93.184.216.34", "2606:4700::1111", "8.8.8.8"])
def test_public_addresses_pass(ip):
    assert check_address(ip, allow_private=False) is None


def test_loopback_is_refused_by_default_and_nothing_is_sent(server):
    server.add("/secret", b"internal data")
    client = HttpClient(make_settings(allow_private_networks=False))
    for url in (server.base_url + "/secret", f"http://localhost:{server.port}/secret",
                f"http://2130706433:{server.port}/secret", f"http://0x7f.1:{server.port}/secret"):  # fmt: skip
        with pytest.raises(FetchError) as ei:
            client.get(url, MB)
        assert ei.value.kind == "blocked_ssrf", url
    with pytest.raises(FetchError) as ei:
        client.fetch_page(f"http://metadata.google.internal:{server.port}/computeMetadata/v1/")
    assert ei.value.kind == "blocked_ssrf"
    assert server.paths() == []


def test_names_resolving_to_private_addresses_are_refused_before_connecting(server):
    names = {"intranet.example": ["10.0.0.7"], "meta.example": ["169.254.169.254"],
             "mixed.example": ["93.184.216.34", "127.0.0.1"]}  # fmt: skip
    client = HttpClient(make_settings(allow_private_networks=False), resolver=lambda host, port: names[host])
    for host in names:
        with pytest.raises(FetchError) as ei:
            client.get(f"http://{host}/", MB)
        assert ei.value.kind == "blocked_ssrf", host
    # Metadata stays refused when private networks are allowed (the demo's setting).
    open_client = HttpClient(make_settings(allow_private_networks=True), resolver=lambda host, port: names[host])
    with pytest.raises(FetchError):
        open_client.get("http://meta.example/latest/meta-data/", MB)


def test_redirect_from_an_allowed_host_to_loopback_is_refused(server):
    """news.example is vouched for (trusted), so the first hop is fetched; where it redirects is checked again."""
    server.add("/story-1", status=302, headers={"Location": f"http://127.0.0.1:{server.port}/secret"})
    server.add("/story-2", status=301, headers={"Location": f"http://internal.example:{server.port}/secret"})
    server.add("/story-3", status=307, headers={"Location": f"http://[::1]:{server.port}/secret"})
    server.add("/story-4", status=302, headers={"Location": "file:///etc/passwd"})
    server.add("/secret", b"internal data")
    addresses = {"news.example": ["127.0.0.1"], "internal.example": ["127.0.0.1"], "127.0.0.1": ["127.0.0.1"],
                 "::1": ["::1"]}  # fmt: skip
    client = HttpClient(make_settings(allow_private_networks=False, respect_robots=False),
                        resolver=lambda host, port: addresses[host], trusted_hosts=["news.example"])  # fmt: skip
    for i, kind in ((1, "blocked_ssrf"), (2, "blocked_ssrf"), (3, "blocked_ssrf"), (4, "bad_url")):
        with pytest.raises(FetchError) as ei:
            client.fetch_page(f"http://news.example:{server.port}/story-{i}")
        assert ei.value.kind == kind
    assert "/secret" not in server.paths()
    assert list(server.paths()) == ["/story-1", "/story-2", "/story-3", "/story-4"]


# --------------------------------------------------------------------------- XML bombs


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE rss [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<rss version="2.0"><channel><title>&lol9;</title>
<item><title>&lol9;</title><link>http://example.com/a</link></item></channel></rss>
"""


def _xxe_feed(target: str, kind: str = "SYSTEM") -> bytes:
    return f"""<?xml version="1.0"?>
<!DOCTYPE rss [ <!ENTITY xxe {kind} "file://{target}"> ]>
<rss version="2.0"><channel><title>t</title>
<item><title>&xxe;</title><link>http://example.com/a</link><description>&xxe;</description></item>
</channel></rss>""".encode()


def _quadratic_feed() -> bytes:
    big = "A" * 50_000
    refs = "&a;" * 20_000
    return f"""<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "{big}">]>
<rss version="2.0"><channel><title>t</title><item><title>x</title><link>http://example.com/a</link>
<description>{refs}</description></item></channel></rss>""".encode()


def _fetch_and_parse(server: LoopbackServer, path: str, body: bytes):
    server.add(path, body, headers={"Content-Type": "application/rss+xml"})
    res = HttpClient(make_settings()).fetch_feed(server.base_url + path)
    tracemalloc.start()
    start = time.monotonic()
    parsed = parse_feed(res.body, "bomb", res.url, content_type=res.content_type)
    elapsed = time.monotonic() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return parsed, elapsed, peak


def test_billion_laughs_is_refused_without_memory_blow_up(server):
    parsed, elapsed, peak = _fetch_and_parse(server, "/lol.xml", BILLION_LAUGHS)
    assert parsed.error and "billion laughs" in parsed.error and parsed.items == []
    assert elapsed < 1.0 and peak < 5 * MB
    utf16 = BILLION_LAUGHS.decode().replace('<?xml version="1.0"?>', '<?xml version="1.0" encoding="utf-16"?>')
    parsed16, _, peak16 = _fetch_and_parse(server, "/lol16.xml", utf16.encode("utf-16"))
    assert parsed16.error and "billion laughs" in parsed16.error and peak16 < 5 * MB


def test_quadratic_blow_up_is_refused(server):
    parsed, _elapsed, peak = _fetch_and_parse(server, "/quad.xml", _quadratic_feed())
    assert parsed.error and "quadratic" in parsed.error
    assert peak < 20 * MB


@pytest.mark.parametrize("kind", ["SYSTEM", 'PUBLIC "-//x//y"'])
def test_external_entities_are_refused_and_no_file_is_read(server, tmp_path, kind):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT", encoding="utf-8")
    parsed, _, _ = _fetch_and_parse(server, "/xxe.xml", _xxe_feed(str(secret), kind))
    assert parsed.error and "external entity" in parsed.error
    assert "TOP-SECRET" not in repr(parsed)
    # Parameter entities (out-of-band XXE) likewise.
    oob = f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY % p SYSTEM "file://{secret}"> %p;]><rss/>'.encode()
    assert "entity" in (parse_feed(oob, "x").error or "")


def test_plain_internal_entities_still_parse():
    body = b"""<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY site "Example News">]>
<rss version="2.0"><channel><title>&site;</title><item><title>About &site;</title>
<link>http://example.com/a</link></item></channel></rss>"""
    parsed = parse_feed(body, "x")
    assert parsed.error is None and parsed.items[0].title == "About Example News"


# --------------------------------------------------------------------------- size caps


def _stream_forever(total: int, sent: list[int]):
    chunk = b"<p>" + b"x" * 65530 + b"</p>"

    def route(h: Handler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "text/html; charset=utf-8")
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        while sent[0] < total:
            h.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sent[0] += len(chunk)
        h.wfile.write(b"0\r\n\r\n")

    return route


def test_a_500_mb_page_is_cut_off_at_the_cap_quickly_and_unbuffered(server):
    sent = [0]
    server.routes["/huge"] = _stream_forever(500 * MB, sent)
    client = HttpClient(make_settings(max_page_bytes=2 * MB, respect_robots=False, retries=0))
    tracemalloc.start()
    start = time.monotonic()
    with pytest.raises(FetchError) as ei:
        client.fetch_page(server.base_url + "/huge")
    elapsed = time.monotonic() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert ei.value.kind == "too_large" and not ei.value.transient
    assert elapsed < 3.0 and peak < 8 * MB
    time.sleep(0.2)
    assert sent[0] < 50 * MB  # the server was cut off too, not drained to the end


def test_declared_oversize_is_refused_before_reading(server):
    def declared(h: Handler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "text/html")
        h.send_header("Content-Length", str(500 * MB))
        h.end_headers()
        h.wfile.write(b"x" * 1024)

    server.routes["/declared"] = declared
    start = time.monotonic()
    with pytest.raises(FetchError) as ei:
        HttpClient(make_settings(max_page_bytes=MB, respect_robots=False)).fetch_page(server.base_url + "/declared")
    assert ei.value.kind == "too_large" and "Content-Length" in ei.value.reason
    assert time.monotonic() - start < 1.0


def _gzip_bomb(size: int) -> bytes:
    comp = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = b"\0" * MB
    return b"".join([comp.compress(zeros) for _ in range(size // MB)] + [comp.flush()])


@pytest.mark.parametrize("encoding", ["gzip", "br"])
def test_compression_bombs_are_cut_off_at_the_decoded_cap(server, encoding):
    body = _gzip_bomb(300 * MB) if encoding == "gzip" else brotli.compress(b"\0" * (64 * MB), quality=1)
    assert len(body) < 400 * 1024  # a small download that would inflate to hundreds of MB
    server.add("/bomb", body, headers={"Content-Encoding": encoding})
    tracemalloc.start()
    with pytest.raises(FetchError) as ei:
        HttpClient(make_settings(max_page_bytes=MB, respect_robots=False)).fetch_page(server.base_url + "/bomb")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert ei.value.kind == "too_large" and peak < 8 * MB


def test_a_feed_gzip_bomb_is_cut_off_at_the_feed_cap(server):
    server.add("/feed.xml", _gzip_bomb(200 * MB), headers={"Content-Encoding": "gzip",
                                                            "Content-Type": "application/rss+xml"})  # fmt: skip
    with pytest.raises(FetchError) as ei:
        HttpClient(make_settings(max_feed_bytes=2 * MB)).fetch_feed(server.base_url + "/feed.xml")
    assert ei.value.kind == "too_large"


# --------------------------------------------------------------------------- binary bodies


@pytest.mark.parametrize("ctype", ["application/pdf", "image/jpeg", "video/mp4", "application/octet-stream",
                                   "application/zip"])  # fmt: skip
def test_binary_pages_are_refused_unread(server, ctype):
    sent = [0]
    server.routes["/file"] = _stream_forever(200 * MB, sent)
    original = server.routes["/file"]

    def typed(h: Handler) -> None:
        h.send_header = _override_type(h.send_header, ctype)  # type: ignore[method-assign]
        original(h)

    server.routes["/file"] = typed
    with pytest.raises(FetchError) as ei:
        HttpClient(make_settings(respect_robots=False)).fetch_page(server.base_url + "/file")
    assert ei.value.kind == "not_html" and ctype in ei.value.reason and not ei.value.transient
    time.sleep(0.2)
    assert sent[0] < 50 * MB


def _override_type(send_header, ctype: str):
    def send(key: str, value: str) -> None:
        send_header(key, ctype if key.lower() == "content-type" else value)

    return send


def test_feeds_and_xhtml_pages_are_not_taken_for_binary(server):
    server.add("/x", HTML, headers={"Content-Type": "application/xhtml+xml"})
    assert HttpClient(make_settings(respect_robots=False)).fetch_page(server.base_url + "/x").body == HTML


# --------------------------------------------------------------------------- robots.txt


def test_robots_txt_is_honoured_and_fetched_once_per_host(server):
    server.add("/robots.txt", "User-agent: *\nDisallow: /\n\nUser-agent: Rasad\nDisallow: /private/\n"
                              "Allow: /private/open\n", headers={"Content-Type": "text/plain"})  # fmt: skip
    for p in ("/news/1", "/news/2", "/private/open-letter", "/private/x"):
        server.add(p, HTML)
    client = HttpClient(make_settings())
    with ThreadPoolExecutor(6) as pool:
        list(pool.map(lambda i: client.fetch_page(f"{server.base_url}/news/{1 + i % 2}"), range(6)))
    assert client.fetch_page(server.base_url + "/private/open-letter").status == 200
    with pytest.raises(FetchError) as ei:
        client.fetch_page(server.base_url + "/private/x")
    assert ei.value.kind == "blocked_robots"
    assert server.paths().count("/robots.txt") == 1
    assert "/private/x" not in server.paths()
    # Another host (same machine, other port) has its own robots.txt.
    with LoopbackServer() as other:
        other.add("/robots.txt", "User-agent: *\nDisallow: /news/\n", headers={"Content-Type": "text/plain"})
        other.add("/news/1", HTML)
        with pytest.raises(FetchError):
            client.fetch_page(other.base_url + "/news/1")
        assert other.paths() == ["/robots.txt"]


def test_missing_robots_allows_and_unreachable_robots_disallows(server):
    server.add("/a", HTML)
    client = HttpClient(make_settings(retries=0))
    assert client.fetch_page(server.base_url + "/a").status == 200  # robots.txt 404: everything allowed
    with LoopbackServer() as broken:
        broken.add("/robots.txt", b"oops", status=503)
        broken.add("/a", HTML)
        for _ in range(3):
            with pytest.raises(FetchError) as ei:
                client.fetch_page(broken.base_url + "/a")
            assert ei.value.kind == "robots_unavailable"
        assert broken.paths() == ["/robots.txt"]  # the failure is cached too, not asked for every page


def test_crawl_delay_spaces_requests(server):
    server.add("/robots.txt", "User-agent: *\nCrawl-delay: 0.4\n", headers={"Content-Type": "text/plain"})
    server.add("/a", HTML)
    client = HttpClient(make_settings())
    start = time.monotonic()
    for _ in range(3):
        client.fetch_page(server.base_url + "/a")
    assert time.monotonic() - start >= 0.75


def test_gzip_robots_and_threads_do_not_race(server):
    server.add("/robots.txt", gzip.compress(b"User-agent: *\nDisallow: /x\n"),
               headers={"Content-Encoding": "gzip", "Content-Type": "text/plain"})  # fmt: skip
    client = HttpClient(make_settings())
    barrier = threading.Barrier(4)

    def ask(_: int) -> bool:
        barrier.wait()
        return client.allowed_by_robots(server.base_url + "/x/1")

    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(ask, range(4))) == [False] * 4
    assert server.paths().count("/robots.txt") == 1

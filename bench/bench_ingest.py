"""End-to-end ingest throughput on a loopback feed farm: poll_feeds + fetch_articles (with extraction).

One real HTTP server on 127.0.0.1 serves N feeds x M items and every article page, under ten
virtual host names (a resolver maps them to 127.0.0.1, so per-host politeness works as it
would on the web). State and dedup look-ups go to a real Elasticsearch node: RASAD_ES_URL
if it answers, else one started here through rasad.esnode (and stopped afterwards).

    .venv/bin/python bench/bench_ingest.py [--feeds 50] [--items 20] [--workers 8]

Prints items/s for the first poll+fetch (everything new), and the cost of a re-poll where
every feed answers 304. The extraction-only comparison with bare trafilatura is
bench/bench_extract.py (run with --with-extract to run it after this one).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import threading
import time
import uuid
import zlib
from email.utils import format_datetime
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rasad.core.settings import load_settings  # noqa: E402

HOSTS = [f"site{k}.farm" for k in range(10)]


def build_vocabulary() -> list[str]:
    """Real Arabic words from the seed articles."""
    words: list[str] = []
    for p in sorted((ROOT / "seeds").glob("*.txt")):
        words += [w for w in p.read_text(encoding="utf-8").split() if len(w) > 2]
    return sorted(set(words))


def build_farm(n_feeds: int, n_items: int, port: int) -> dict[str, tuple[bytes, str]]:
    """path -> (body, content type) for every feed and page of the farm."""
    rng = random.Random(20251121)
    vocab = build_vocabulary()
    files: dict[str, tuple[bytes, str]] = {}
    from datetime import datetime, timedelta, timezone

    base_time = datetime(2025, 11, 21, 12, 0, tzinfo=timezone.utc)
    for f in range(n_feeds):
        host = HOSTS[f % len(HOSTS)]
        items = []
        for i in range(n_items):
            title = " ".join(rng.choices(vocab, k=8))
            paras = ["".join(" ".join(rng.choices(vocab, k=60)) + ".") for _ in range(5)]
            menu = "".join(f'<li><a href="/section/{k}">{escape(rng.choice(vocab))}</a></li>' for k in range(40))
            page = (f'<!doctype html><html lang="ar"><head><meta charset="utf-8"><title>{escape(title)}</title></head>'
                    f"<body><header><nav><ul>{menu}</ul></nav></header><article><h1>{escape(title)}</h1>"
                    + "".join(f"<p>{escape(p)}</p>" for p in paras)
                    + "</article><footer>© الموقع</footer></body></html>").encode()  # fmt: skip
            path = f"/f{f}/a{i}.html"
            files[f"{host}{path}"] = (page, "text/html; charset=utf-8")
            when = format_datetime(base_time - timedelta(minutes=f * n_items + i))
            items.append(f"<item><title>{escape(title)}</title><link>http://{host}:{port}{path}?utm_source=rss</link>"
                         f'<guid isPermaLink="false">f{f}-{i}</guid><pubDate>{when}</pubDate>'
                         f"<description>{escape(paras[0][:200])}</description></item>")  # fmt: skip
        feed = (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Feed {f}</title>'
                f"<link>http://{host}/</link><language>ar</language>{''.join(items)}</channel></rss>").encode()  # fmt: skip
        files[f"{host}/feeds/{f}.xml"] = (feed, "application/rss+xml")
    for host in HOSTS:
        files[f"{host}/robots.txt"] = (b"User-agent: *\nDisallow: /private/\n", "text/plain")
    return files


class FarmHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # http.server's naming
        host = (self.headers.get("Host") or "").split(":")[0]
        entry = self.server.files.get(host + self.path.split("?")[0])  # type: ignore[attr-defined]
        if entry is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body, ctype = entry
        etag = f'"{zlib.crc32(body):08x}"'
        if self.headers.get("If-None-Match") == etag:
            self.send_response(304)
            self.send_header("ETag", etag)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("ETag", etag)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def es_url_for_bench(settings) -> tuple[str, object | None]:
    """A reachable Elasticsearch: RASAD_ES_URL if it answers, else a node started here."""
    from rasad.core.es import make_client

    if os.environ.get("RASAD_ES_URL"):
        try:
            if make_client(settings, request_timeout=5).ping():
                return settings.es_url, None
        except Exception:  # noqa: S110 - any failure means: start our own
            pass
    import socket

    from rasad import esnode

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    home = settings.cache_path / "nodes" / f"bench-{port}-{os.getpid()}"
    print(f"starting a local Elasticsearch node on port {port} ...", flush=True)
    info = esnode.start_node(settings, port=port, home=home)
    return info.url, (port, home)


def run(n_feeds: int, n_items: int, workers: int) -> None:
    from rasad import esnode
    from rasad.core.es import make_client
    from rasad.indexing.bulk import index_articles
    from rasad.ingest.feeds import FeedSpec
    from rasad.ingest.http.client import HttpClient
    from rasad.ingest.stage import fetch_articles, poll_feeds
    from rasad.ingest.store import IngestStore
    from rasad.pipeline import step_setup

    base = load_settings()
    url, started = es_url_for_bench(base)
    s = base.replace(es_url=url, index_prefix=f"bench{uuid.uuid4().hex[:8]}", allow_private_networks=True,
                     fetch_workers=workers)  # fmt: skip
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), FarmHandler)
    httpd.daemon_threads = True
    port = httpd.server_address[1]
    httpd.files = build_farm(n_feeds, n_items, port)  # type: ignore[attr-defined]
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    es = make_client(s)
    try:
        step_setup(s)
        store = IngestStore(es, s)
        client = HttpClient(s, resolver=lambda host, p: ["127.0.0.1"])
        specs = [FeedSpec(f"farm-{f}", f"http://{HOSTS[f % len(HOSTS)]}:{port}/feeds/{f}.xml", f"Farm {f}", "ar",
                          None, 300) for f in range(n_feeds)]  # fmt: skip
        by_id = {sp.id: sp for sp in specs}
        total = n_feeds * n_items
        print(f"feed farm: {n_feeds} feeds x {n_items} items = {total} items on {len(HOSTS)} hosts; "
              f"workers={workers}, per_host_concurrency={s.per_host_concurrency}, per_host_delay={s.per_host_delay}s")  # fmt: skip

        t0 = time.perf_counter()
        polled = poll_feeds(specs, client, store, workers=workers)
        t1 = time.perf_counter()
        fetched = fetch_articles(polled.items, by_id, client, store, workers=workers)
        t2 = time.perf_counter()
        assert len(polled.items) == total, len(polled.items)
        print(f"poll:  {len(polled.items)} items from {polled.polled} feeds in {t1 - t0:.2f}s "
              f"({polled.polled / (t1 - t0):.1f} feeds/s)")  # fmt: skip
        print(f"fetch: {len(fetched.articles)} new articles in {t2 - t1:.2f}s "
              f"({len(fetched.articles) / (t2 - t1):.1f} pages/s, outcomes {dict(fetched.outcomes)})")  # fmt: skip
        print(f"END-TO-END poll+fetch(+extract, +dedup): {total / (t2 - t0):.1f} items/s")

        t3 = time.perf_counter()
        rep = index_articles(es, s, fetched.articles)
        t4 = time.perf_counter()
        print(f"index: {rep.indexed} articles in {t4 - t3:.2f}s (not part of the items/s figure)")

        repoll = poll_feeds(specs, client, store, force=True, workers=workers)
        again = fetch_articles(repoll.items, by_id, client, store, workers=workers)
        t5 = time.perf_counter()
        not_modified = sum(1 for f in repoll.feeds if f.status == "not_modified")
        print(f"re-poll: {not_modified}/{n_feeds} feeds answered 304, {len(again.articles)} new articles, "
              f"{t5 - t4:.2f}s")  # fmt: skip
        client.close()
    finally:
        httpd.shutdown()
        try:
            es.indices.delete(index=f"{s.index_prefix}-*", ignore_unavailable=True, allow_no_indices=True)
            es.options(ignore_status=404).indices.delete_index_template(name=f"{s.index_prefix}-*")
        except Exception as e:  # cleanup must not keep the node running
            print(f"cleanup failed: {e}")
        if started:
            p, home = started
            esnode.stop_node(base, port=p, home=home)
            shutil.rmtree(home, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--feeds", type=int, default=50)
    ap.add_argument("--items", type=int, default=20)
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--with-extract", action="store_true", help="also run bench/bench_extract.py afterwards")
    args = ap.parse_args(argv)
    run(args.feeds, args.items, args.workers)
    if args.with_extract and (ROOT / "bench" / "bench_extract.py").is_file():
        return subprocess.call([sys.executable, str(ROOT / "bench" / "bench_extract.py")])
    return 0


if __name__ == "__main__":
    sys.exit(main())

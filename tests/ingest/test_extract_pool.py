"""Extraction in the process pool: the same results as in-process, and one bad page never stops a batch.

Real worker processes throughout: pages that really crash their worker (``os._exit``) or
really hang, a real loopback site, the real Elasticsearch node for the stage's store.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from rasad.core import records
from rasad.core.settings import PROJECT_ROOT
from rasad.ingest.extract.article import extract_article
from rasad.ingest.extract.model import FeedHints
from rasad.ingest.extract_pool import ExtractionTimeout, ExtractPool, WorkerDied, resolve_workers
from rasad.ingest.feeds import FeedItem, FeedSpec
from rasad.ingest.http.client import HttpClient
from rasad.ingest.stage import fetch_articles
from rasad.ingest.store import IngestStore
from rasad.pipeline import step_setup
from tests.ingest.test_dedup import NOW, article_html, story_paragraphs
from tests.ingest.test_http import LoopbackServer

PAGES = PROJECT_ROOT / "tests" / "resources" / "ingest" / "pages"
GOLD = PROJECT_ROOT / "tests" / "resources" / "ingest" / "gold"
CRASH, HANG = b"<!-- crash this worker -->", b"<!-- hang this worker -->"
JOB = "tests.ingest.test_extract_pool:misbehaving_extract"


def misbehaving_extract(body: bytes, *args: object) -> object:
    """extract_article, except that marked pages kill their worker process or never return."""
    if CRASH in body:
        os._exit(3)  # as a segfault in libxml2 or the OOM killer would
    if HANG in body:
        time.sleep(3600)
    return extract_article(body, *args)  # type: ignore[arg-type]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead for our purposes
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def _wait_gone(pids: list[int], seconds: float) -> list[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.2)
    return [p for p in pids if _alive(p)]


def test_extract_workers_setting():
    assert resolve_workers("auto", cores=4) == 4 and resolve_workers(None, cores=2) == 2
    assert resolve_workers("0") == 0 and resolve_workers(3) == 3
    for bad in ("many", "-1"):
        with pytest.raises(ValueError, match="extract_workers"):
            resolve_workers(bad)


def test_the_pool_gives_the_in_process_results():
    pages = [(p.read_bytes(), f"https://example.org/{p.stem}", None) for p in sorted(PAGES.glob("*.html"))]
    pages += [(p.read_bytes(), f"https://example.com/{p.stem}", "text/html") for p in sorted(GOLD.rglob("*.html*"))][:8]
    hints = FeedHints(title="عنوان من الموجز", summary="ملخص قصير", language_hint="ar")
    with ThreadedPool(ExtractPool(2, timeout=120)) as pool:
        got = pool.map([(b, u, c, hints) for b, u, c in pages])
    assert len(pages) >= 10
    for (body, url, ctype), result in zip(pages, got, strict=True):
        assert result == extract_article(body, url, ctype, hints), url


class ThreadedPool:
    """Calls the pool from several threads at once, as the download threads do."""

    def __init__(self, pool: ExtractPool):
        self.pool = pool

    def map(self, calls: list[tuple]) -> list[object]:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(6) as threads:
            return list(threads.map(lambda args: self.pool.call(*args), calls))

    def __enter__(self) -> ThreadedPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.pool.close()


def test_a_crashing_and_a_hanging_page_fail_alone_and_the_batch_goes_on(settings, es):
    s = settings.replace(allow_private_networks=True, respect_robots=False)
    step_setup(s)
    paras = story_paragraphs()
    pool = ExtractPool(2, timeout=20, job=JOB)
    try:
        with LoopbackServer() as site:
            names = [f"ok{k}" for k in range(6)]
            for k, name in enumerate(names):
                site.add(f"/news/{name}", article_html(f"خبر رقم {k}", paras[k:] + paras[:k]))
            site.add("/news/crash", article_html("خبر يسقط العامل", paras).replace(b"<main>", CRASH + b"<main>"))
            site.add("/news/hang", article_html("خبر لا ينتهي", paras[1:]).replace(b"<main>", HANG + b"<main>"))
            b = site.base_url
            items = [FeedItem("f", f"{b}/news/{n}", n, n) for n in ["crash", *names[:3], "hang", *names[3:]]]
            spec = FeedSpec("f", f"{b}/feed.xml", "Site", "ar", None, 600)
            rep = fetch_articles(items, {"f": spec}, HttpClient(s), IngestStore(es, s), now=NOW, workers=4,
                                 extract=pool.call)  # fmt: skip
        by_url = {a.url.rsplit("/", 1)[1]: a for a in rep.done}
        assert sum(rep.outcomes.values()) == len(items)
        crashed, hung = by_url["crash"], by_url["hang"]
        assert crashed.status == records.STATUS_FETCH_ERROR and "WorkerDied" in crashed.status_reason
        assert hung.status == records.STATUS_FETCH_ERROR and "ExtractionTimeout" in hung.status_reason
        # Every other page was extracted, whatever was in flight beside the bad ones.
        assert {by_url[n].status for n in names} <= {records.STATUS_NEW, records.STATUS_NEAR_DUPLICATE}
        assert all(len(by_url[n].text.split()) > 100 for n in names)
        # One rebuild for the hang, one for the crash (however many pages were in flight).
        assert 1 <= pool.restarts <= 3 and pool.isolated >= 1
        # The pool works on afterwards.
        assert pool.call(article_html("بعد ذلك", paras), f"{b}/after", None, None).status == "ok"
    finally:
        pids = pool.pids()
        pool.close()
    assert _wait_gone(pids, 10) == []
    with pytest.raises(RuntimeError, match="closed"):
        pool.call(b"<html></html>", "", None, None)


def test_direct_timeout_and_death_errors():
    with ExtractPool(1, timeout=3, job=JOB) as pool:
        with pytest.raises(ExtractionTimeout):
            pool.call(HANG, "", None, None)
        with pytest.raises(WorkerDied):
            pool.call(CRASH, "", None, None)


def test_workers_exit_when_their_owner_is_killed_by_sigterm(tmp_path):
    """SIGTERM with no handler ends the owner at once (no clean-up runs): its workers must not stay behind."""
    script = tmp_path / "owner.py"
    script.write_text(textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(PROJECT_ROOT)!r})
        from rasad.ingest.extract_pool import ExtractPool
        if __name__ == "__main__":
            pool = ExtractPool(2).warm()
            print(" ".join(map(str, pool.pids())), flush=True)
            time.sleep(600)
    """))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        line = proc.stdout.readline()
        pids = [int(x) for x in line.split()]
        assert len(pids) == 2 and all(_alive(p) for p in pids)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        assert _wait_gone(pids, 15) == [], "extraction workers outlived their owner"
    finally:
        if proc.poll() is None:
            proc.kill()


def test_workers_are_replaced_after_their_pages_while_pages_are_queued():
    """More pages than workers x max_tasks_per_child, queued all at once: every page is extracted.

    ``ProcessPoolExecutor(max_tasks_per_child=...)`` stops replacing its exited workers while a
    backlog is queued and waits forever (CPython gh-115634); the pool replaces whole generations
    itself instead. This test hung on that code.
    """
    from concurrent.futures import ThreadPoolExecutor

    body = (PAGES / "wp_egypt_cp1256.html").read_bytes()
    want = extract_article(body, "https://example.org/a")
    with ExtractPool(1, timeout=60, max_tasks_per_child=2) as pool:
        with ThreadPoolExecutor(8) as threads:  # 8 pages in flight, as the download threads do
            futures = [threads.submit(pool.call, body, "https://example.org/a") for _ in range(24)]
            results = [f.result(timeout=180) for f in futures]
        assert results == [want] * 24 and want.status == "ok"
        assert pool.recycled == 11 and pool.restarts == 0  # 12 generations of 2 pages
        assert len(pool.pids()) == 1

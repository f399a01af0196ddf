"""What the service benchmarks share: an Elasticsearch node of their own, a loopback feed farm,
its registry and alert rules, and settings that point at all of them.

``FarmProcess`` serves the farm from a child process, so a benchmark that measures the CPU
of its own process counts ours only, not the farm's (the farm stands for the web).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rasad.core.settings import Settings, load_settings
from tests.conftest import free_port
from tests.service.farm import RULES, FeedFarm

NODE_START_WAIT = 900.0  # a loaded shared machine can take minutes to start a node


@contextlib.contextmanager
def own_node(tag: str, wait: float = NODE_START_WAIT) -> Iterator[tuple[Settings, str, int, Path]]:
    """A throwaway node (like tests.conftest.own_es_node, with a longer start wait), stopped by
    its pid afterwards, also when its start timed out (the node may come up after its launcher)."""
    from rasad import esnode

    base = load_settings()
    port = free_port()
    home = base.cache_path / "nodes" / f"{tag}-{port}-{os.getpid()}"
    try:
        info = esnode.start_node(base, port=port, home=home, wait=wait)
        yield base, info.url, port, home
    finally:
        esnode.stop_node(base, port=port, home=home)
        shutil.rmtree(home, ignore_errors=True)


@dataclass
class BenchSetup:
    settings: Settings  # the node, a fresh index prefix, the farm's registry and rules, a temp var dir
    es_url: str
    es_home: Path
    tmp: Path
    prefix: str


@contextlib.contextmanager
def node_and_farm(tag: str, farm: Any, interval: str, keep: bool = False) -> Iterator[BenchSetup]:
    """Start a node of one's own and ``farm`` (a FeedFarm or FarmProcess); write its registry and the rules.

    ``keep``: leave the node and the temp dir in place afterwards (to look at what was stored).
    """
    with contextlib.ExitStack() as stack:
        base, es_url, _port, es_home = stack.enter_context(own_node(tag))
        tmp = Path(tempfile.mkdtemp(prefix=f"rasad-{tag}-"))
        if not keep:
            stack.callback(shutil.rmtree, tmp, ignore_errors=True)
        stack.enter_context(farm)
        feeds = farm.registry(tmp / "feeds.yaml", interval=interval)
        (tmp / "rules.yaml").write_text(RULES, encoding="utf-8")
        prefix = f"{tag.replace('-', '')[:8]}{uuid.uuid4().hex[:8]}"
        s = base.replace(es_url=es_url, index_prefix=prefix, allow_private_networks=True, respect_robots=False,
                         feeds_file=str(feeds), rules_file=str(tmp / "rules.yaml"), var_dir=str(tmp / "var"))  # fmt: skip
        try:
            yield BenchSetup(s, es_url, es_home, tmp, prefix)
        finally:
            if keep:
                farm.__exit__(None, None, None)
                stack.pop_all()  # the node and the temp dir outlive the benchmark


def _serve_farm(conn: Any, feeds: int, hosts: int, port: int) -> None:
    farm = FeedFarm(feeds=feeds, hosts=hosts, port=port)
    with farm:
        conn.send("ready")
        while True:
            cmd, *args = conn.recv()
            if cmd == "add":
                farm.add_item(*args)
                conn.send(None)
            elif cmd == "stats":
                conn.send((farm.requests, farm.not_modified))
            else:
                break


class FarmProcess:
    """A FeedFarm served by a child process (stopped by its own pid on exit)."""

    def __init__(self, feeds: int, hosts: int, port: int | None = None):
        self.layout = FeedFarm(feeds=feeds, hosts=hosts, port=port or free_port())  # URLs only, never served here
        self._conn: Any = None
        self._proc: Any = None

    def __enter__(self) -> FarmProcess:
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        f = self.layout
        self._proc = ctx.Process(target=_serve_farm, args=(child, f.feeds, f.hosts, f.port), daemon=True)
        self._proc.start()
        if not self._conn.poll(60) or self._conn.recv() != "ready":
            raise RuntimeError("the farm process did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._proc is None:
            return
        with contextlib.suppress(OSError):
            self._conn.send(("stop",))
        self._proc.join(10)
        if self._proc.is_alive():
            self._proc.terminate()  # SIGTERM to this child's pid only
            self._proc.join(5)
        self._proc = None

    def add_item(self, feed: int, publish_at: float) -> None:
        """Schedule an item of ``feed`` (FeedFarm.add_item, in the child)."""
        self._conn.send(("add", feed, publish_at))
        self._conn.recv()

    def stats(self) -> tuple[int, int]:
        """(requests served, of which answered 304) so far."""
        self._conn.send(("stats",))
        return self._conn.recv()

    def registry(self, path: Path, interval: str = "60s") -> Path:
        """Write a feed registry for every feed of the farm."""
        return self.layout.registry(path, interval)

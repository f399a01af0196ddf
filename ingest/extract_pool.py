"""Extraction on every core: a pool of warm worker processes for :func:`rasad.ingest.extract.article.extract_article`.

Extraction is pure CPU in Python and lxml and holds the GIL, so threads only add switching
(issue 13: 171 ms of CPU a page in an 8-thread pool against 66 ms in a plain loop). Downloads
stay in threads; each downloaded page is handed to this pool and the thread waits for its
result, so a batch streams through download and extraction with at most ``fetch_workers``
pages in flight and nothing held beyond them.

Why it is built this way:

- **forkserver, not fork**: the parent has HTTP, Elasticsearch and (under Airflow) supervisor
  threads; forking it can copy a held lock into the child. The fork server imports the
  extraction modules once and forks each worker from that clean, warm process.
- **Warm and bounded**: the fork server builds the language models once
  (:mod:`rasad.ingest.pool_warmup`), every worker forks with them, and the workers are replaced
  after ``MAX_TASKS_PER_CHILD`` pages each, so lxml/libxml2 fragmentation cannot grow
  without bound. The pool is made once per process and reused by every batch. The replacing is
  ours, a whole generation at a time: ``ProcessPoolExecutor(max_tasks_per_child=...)`` can stop
  replacing exited workers while pages are queued, and then waits forever (CPython gh-115634,
  Python 3.11 to 3.13; it hung a 2,000-article `rasad run` here with no worker left).
- **One bad page never stops the others**: a page that takes longer than the timeout is
  reported as timed out and the pool is killed and rebuilt (the stuck worker cannot be
  interrupted otherwise); pages that were in flight when a worker died are tried again, each
  alone in a process of its own, so only the page that kills its process is reported.
- **Clean shutdown**: ``close()`` (also at exit) terminates the workers; each worker also
  exits by itself when the process that made the pool is gone (SIGKILL, SIGTERM without
  clean-up), so no orphan is left holding memory.
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from typing import Any

log = logging.getLogger(__name__)

# Pages a worker extracts before it is replaced by a fresh fork (bounded memory).
MAX_TASKS_PER_CHILD = 1000
# Modules the fork server imports once, so every worker starts with them loaded.
PRELOAD = ["rasad.ingest.pool_warmup"]
# Seconds a worker may take to start (fork from the warm fork server) on a loaded machine.
STARTUP_TIMEOUT = 300
DEFAULT_JOB = "rasad.ingest.extract.article:extract_article"


class ExtractionTimeout(Exception):
    """A page's extraction took longer than the pool's timeout (its worker was killed)."""


class WorkerDied(Exception):
    """The worker process extracting a page died (crash, out of memory, killed from outside)."""


def resolve_workers(value: object, cores: int | None = None) -> int:
    """Worker count from the ``extract_workers`` setting: ``auto`` = the cores; 0 = extract in-process."""
    cores = cores or os.cpu_count() or 1
    text = str(value).strip().lower() if value is not None else "auto"
    if text in ("", "auto"):
        return cores
    try:
        n = int(text)
    except ValueError:
        raise ValueError(f"extract_workers = {value!r}: expected 'auto' or a number of processes") from None
    if n < 0:
        raise ValueError(f"extract_workers = {value!r}: must be 'auto', 0 (in-process) or more")
    return n


def _load_job(path: str) -> Callable[..., Any]:
    import importlib  # noqa: PLC0415

    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


_job: Callable[..., Any] | None = None


def _watch_parent(parent: int) -> None:
    while True:
        time.sleep(1.0)
        try:
            os.kill(parent, 0)
        except ProcessLookupError:
            os._exit(0)  # the pool's owner is gone: nobody will read our results
        except PermissionError:
            pass  # alive, owned by another user (never the case here, but not "gone")


def _init_worker(parent: int, job: str) -> None:
    """Runs once in each worker (forked warm from the fork server): load the job, watch the owner."""
    global _job  # noqa: PLW0603 - the job a pool worker runs, set once when the worker starts
    _job = _load_job(job)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True, name="watch-parent").start()


def _run(*args: Any) -> Any:
    assert _job is not None  # noqa: S101 - narrows the type: _init_worker ran in this worker
    return _job(*args)


class ExtractPool:
    """A pool of ``workers`` warm processes running ``job`` (default: ``extract_article``) per page."""

    def __init__(self, workers: int, timeout: float = 120.0, job: str = DEFAULT_JOB,
                 max_tasks_per_child: int = MAX_TASKS_PER_CHILD, preload: list[str] | None = None):  # fmt: skip
        if workers < 1:
            raise ValueError("an ExtractPool needs at least one worker")
        self.workers, self.timeout, self.job = workers, timeout, job
        # What the fork server imports before it forks any worker (the first pool of a process
        # starts it, so a later pool's preload is imported by each worker on its first page).
        self.preload = list(preload) if preload is not None else list(PRELOAD)
        self.max_tasks_per_child = max_tasks_per_child
        self._ctx = multiprocessing.get_context("forkserver")
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        self._generation = 0
        self._killed: set[int] = set()  # generations we terminated ourselves (after a timeout)
        self._retired: dict[int, ProcessPoolExecutor] = {}  # replaced generations finishing their pages
        self._submitted = 0  # pages submitted to the current generation
        self.recycled = 0  # generations replaced after their pages (bounded memory), not after a failure
        self._closed = False
        self._warming: list[Any] = []
        self.restarts = 0
        self.isolated = 0  # pages retried alone after a worker died

    # -- the pool itself -------------------------------------------------------------------
    def _current(self) -> tuple[ProcessPoolExecutor, int]:
        """The current generation's executor, made if need be (under the lock)."""
        with self._lock:
            return self._current_locked()

    def _current_locked(self) -> tuple[ProcessPoolExecutor, int]:
        if self._closed:
            raise RuntimeError("the extraction pool is closed")
        if self._pool is not None and self._submitted >= self.workers * self.max_tasks_per_child:
            # Done with this generation: its queued pages still finish, then its workers exit.
            self._retired = {g: p for g, p in self._retired.items() if _has_live_workers(p)}
            self._retired[self._generation] = self._pool
            self._pool.shutdown(wait=False)
            self._pool = None
            self.recycled += 1
        if self._pool is None:
            self._ctx.set_forkserver_preload(self.preload)
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers, mp_context=self._ctx, initializer=_init_worker,
                initargs=(os.getpid(), self.job),
            )  # fmt: skip
            self._generation += 1
            self._submitted = 0
            # Started now, and waited for before a page's clock starts: a timeout measures
            # the page, not the workers' start on a loaded machine.
            self._warming = [self._pool.submit(os.getpid) for _ in range(self.workers)]
        return self._pool, self._generation

    def _submit(self, args: tuple) -> tuple[Any, int]:
        """Submit one page to the current generation (replacing it first if it has had its pages)."""
        with self._lock:  # counting and submitting together: a generation is never retired under a page
            pool, gen = self._current_locked()
            self._submitted += 1
            return pool.submit(_run, *args), gen

    def _wait_started(self) -> None:
        for f in list(self._warming):
            try:
                f.result(timeout=STARTUP_TIMEOUT)
            except Exception:
                return

    def _discard(self, generation: int, kill: bool) -> None:
        """Drop the pool of ``generation`` (terminating its workers if ``kill``); the next call makes a new one."""
        with self._lock:
            pool = self._retired.pop(generation, None)  # a replaced generation's page hung or a worker died
            if pool is None:
                if generation != self._generation or self._pool is None:
                    return  # another thread already replaced it
                pool, self._pool = self._pool, None
            if kill:
                self._killed.add(generation)
            self.restarts += 1
        _terminate(pool)

    def warm(self) -> ExtractPool:
        """Start the workers now, instead of on the first page."""
        self._current()
        self._wait_started()
        return self

    def warm_in_background(self) -> None:
        """Start the workers in a thread (while feeds are polled, say); errors surface on first use."""

        def go() -> None:
            try:
                self.warm()
            except Exception as e:
                log.warning("extraction pool did not start in the background: %s", e)

        threading.Thread(target=go, daemon=True, name="extract-pool-warm").start()

    def pids(self) -> list[int]:
        """Process ids of the current workers."""
        with self._lock:
            procs = getattr(self._pool, "_processes", None) or {}
            return list(procs)

    def close(self) -> None:
        """Terminate the workers; later calls raise."""
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
            retired, self._retired = list(self._retired.values()), {}
        for p in [*retired, *([pool] if pool is not None else [])]:
            _terminate(p)

    def __enter__(self) -> ExtractPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- one page ----------------------------------------------------------------------------
    def call(self, *args: Any) -> Any:
        """Run the job on one page's arguments in a worker; raises what the job raised,
        ExtractionTimeout or WorkerDied."""
        for _ in range(3):  # a pool killed for another page's timeout: simply submit again
            _, gen = self._current()
            self._wait_started()
            try:
                future, gen = self._submit(args)
            except BrokenProcessPool:
                self._discard(gen, kill=False)  # a worker died since: the next try makes a new pool
                continue
            try:
                return future.result(timeout=self.timeout)
            except FutureTimeout:
                self._discard(gen, kill=True)
                raise ExtractionTimeout(f"extraction took longer than {self.timeout:g} s") from None
            except BrokenProcessPool:
                killed = gen in self._killed
                self._discard(gen, kill=False)
                if not killed:
                    return self._call_alone(args)  # a worker died: was it this page?
        return self._call_alone(args)

    def _call_alone(self, args: tuple) -> Any:
        """Run one page in a process of its own: if it dies, it was this page."""
        self.isolated += 1
        solo = ProcessPoolExecutor(max_workers=1, mp_context=self._ctx, initializer=_init_worker,
                                   initargs=(os.getpid(), self.job))  # fmt: skip
        try:
            solo.submit(os.getpid).result(timeout=STARTUP_TIMEOUT)  # started, job loaded: now the page's clock
            future = solo.submit(_run, *args)
            try:
                return future.result(timeout=self.timeout)
            except FutureTimeout:
                raise ExtractionTimeout(f"extraction took longer than {self.timeout:g} s") from None
            except BrokenProcessPool:
                raise WorkerDied("the extraction worker died on this page") from None
        finally:
            _terminate(solo)


def _has_live_workers(pool: ProcessPoolExecutor) -> bool:
    return any(p.is_alive() for p in (getattr(pool, "_processes", None) or {}).values())


def _terminate(pool: ProcessPoolExecutor) -> None:
    procs = list((getattr(pool, "_processes", None) or {}).values())
    for p in procs:
        if p.is_alive():
            p.terminate()
    pool.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        p.join(timeout=5)
        if p.is_alive():
            p.kill()


_shared: dict[tuple, ExtractPool] = {}
_shared_lock = threading.Lock()


def shared_pool(workers: int, timeout: float, job: str = DEFAULT_JOB, preload: list[str] | None = None) -> ExtractPool:
    """The process's pool for these settings, made on first use and reused by every batch."""
    key = (workers, timeout, job, os.getpid())
    with _shared_lock:
        pool = _shared.get(key)
        if pool is None or pool._closed:
            pool = _shared[key] = ExtractPool(workers, timeout, job=job, preload=preload)
        return pool


def close_shared_pools() -> None:
    """Terminate every shared pool of this process (at exit, and for tests)."""
    with _shared_lock:
        pools = list(_shared.values())
        _shared.clear()
    for pool in pools:
        pool.close()


atexit.register(close_shared_pools)

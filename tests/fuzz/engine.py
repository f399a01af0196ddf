"""The fuzz loop: deterministic inputs from (target, seed, index), properties checked on each, limits measured.

A target is a class with ``setup()`` (load seeds, warm up), ``generate(rng)`` (one input),
``check(input)`` (run the code under test and raise :class:`PropertyFailure` when a property
does not hold) and ``encode``/``decode`` (how an input is saved as a regression file). Any
other exception out of ``check`` is an uncaught exception of the code under test: a crash.

Limits: each input's CPU time (this process's, so that ten other jobs on a shared 2-core
machine do not count against the input) must stay under ``TIME_LIMIT``; wall time is measured
and reported too, and a watchdog interrupts an input after ``HANG_SECONDS`` of wall time.

Memory, two figures. Per input (the limit): the kernel's peak-RSS mark is reset before each
input (``/proc/self/clear_refs``), so the mark afterwards minus the RSS before is what that one
input took at its peak; an input over ``MEMORY_LIMIT_MB`` is a finding. Per process (reported):
the highest mark seen minus the RSS after ``setup()``, which also counts what stays between
inputs (caches, the spaCy vocabulary until the tagger renews it, allocator fragmentation).
Where the mark cannot be reset, the per-input figure falls back to the per-process one.
"""

from __future__ import annotations

import os
import random
import resource
import signal
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TIME_LIMIT = 2.0  # seconds per input (issue 14)
MEMORY_LIMIT_MB = 256  # per input, above the worker's RSS after setup
HANG_SECONDS = 30  # an input still running after this is stopped and reported as a hang


class PropertyFailure(AssertionError):
    """A property that must hold on every input did not (the message says which and where)."""


class Contained(Exception):
    """A third-party library raised inside code that catches it and reports a typed outcome with a reason.

    Not a crash of Rasad (the caller gets an error naming the feed or page, and the others go on),
    but counted and reported: each is input the library could not handle.
    """


class Hang(BaseException):
    """Raised by the watchdog inside an input that ran past HANG_SECONDS."""


@dataclass
class Finding:
    index: int
    kind: str  # crash | property | slow | memory | hang | contained
    message: str
    seconds: float
    path: str | None = None


@dataclass
class Stats:
    target: str
    seed: int
    inputs: int = 0
    crashes: int = 0  # uncaught exceptions and property failures
    contained: int = 0  # third-party exceptions caught and reported by Rasad (see Contained)
    over_time: int = 0
    slowest_seconds: float = 0.0  # CPU seconds of the slowest input
    slowest_index: int = -1
    slowest_wall_seconds: float = 0.0
    total_seconds: float = 0.0
    cpu_seconds: float = 0.0  # this process's CPU time over the inputs (the machine may be shared)
    baseline_rss_mb: float = 0.0
    peak_rss_mb: float = 0.0
    input_peak_mb: float = 0.0  # the most one input took above the RSS it started from
    input_peak_index: int = -1
    over_memory: int = 0
    findings: list[Finding] = field(default_factory=list)

    def merge(self, other: Stats) -> None:
        """Fold another worker's figures into these."""
        self.inputs += other.inputs
        self.crashes += other.crashes
        self.contained += other.contained
        self.over_time += other.over_time
        if other.slowest_seconds > self.slowest_seconds:
            self.slowest_seconds, self.slowest_index = other.slowest_seconds, other.slowest_index
        self.slowest_wall_seconds = max(self.slowest_wall_seconds, other.slowest_wall_seconds)
        self.total_seconds = max(self.total_seconds, other.total_seconds)
        self.cpu_seconds += other.cpu_seconds
        self.baseline_rss_mb = max(self.baseline_rss_mb, other.baseline_rss_mb)
        self.peak_rss_mb = max(self.peak_rss_mb, other.peak_rss_mb)
        if other.input_peak_mb > self.input_peak_mb:
            self.input_peak_mb, self.input_peak_index = other.input_peak_mb, other.input_peak_index
        self.over_memory += other.over_memory
        self.findings += other.findings

    @property
    def growth_mb(self) -> float:
        return self.peak_rss_mb - self.baseline_rss_mb


class Target:
    """Base class of a fuzz target (see the module docstring)."""

    name = "target"
    extension = "bin"

    def setup(self) -> None:
        """Load seeds and warm caches (once per worker)."""

    def teardown(self) -> None:
        """Release what setup started."""

    def generate(self, rng: random.Random) -> Any:
        raise NotImplementedError

    def check(self, value: Any) -> None:
        raise NotImplementedError

    def encode(self, value: Any) -> bytes:
        return value if isinstance(value, bytes) else str(value).encode("utf-8", "surrogatepass")

    def decode(self, data: bytes) -> Any:
        return data

    def shrink(self, value: Any) -> list[Any]:
        """Smaller variants of an input, for minimisation (halves, then chunks removed)."""
        return _shrink_sequence(value)


def _shrink_sequence(value: Any) -> list[Any]:
    if not isinstance(value, (bytes, str)) or len(value) < 2:
        return []
    n = len(value)
    out = []
    chunk = n // 2
    while chunk >= 1:
        for start in range(0, n, chunk):
            out.append(value[:start] + value[start + chunk :])
        if len(out) > 64:
            break
        chunk //= 2
    return out


def input_rng(seed: int, index: int) -> random.Random:
    """The generator of input ``index`` under ``seed`` (string seeds hash the same on every run)."""
    return random.Random(f"rasad-fuzz:{seed}:{index}")


def rss_mb() -> float:
    """This process's resident set size now, in MB."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb() -> float:
    """This process's peak resident set size so far, in MB: the address space's high-water mark.

    Not ``ru_maxrss``: Linux keeps that across fork and exec, so a worker spawned by a large
    process (the test suite's, ~1 GB) would report its parent's peak as its own.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak_rss() -> bool:
    """Reset this process's peak-RSS mark (VmHWM) to its RSS now; False where Linux does not allow it."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _on_alarm(signum: int, frame: Any) -> None:
    raise Hang(f"input still running after {HANG_SECONDS}s")


def run_one(target: Target, value: Any) -> tuple[str | None, str, float, float]:
    """Run one input: (finding kind or None, message, CPU seconds, wall seconds)."""
    old = signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(HANG_SECONDS)
    t0 = time.perf_counter()
    c0 = time.process_time()
    kind, message = None, ""
    try:
        target.check(value)
    except PropertyFailure as e:
        kind, message = "property", str(e)
    except Contained as e:
        kind, message = "contained", str(e)
    except Hang as e:
        kind, message = "hang", str(e)
    except Exception as e:  # an uncaught exception of the code under test is what we look for
        kind, message = "crash", f"{type(e).__name__}: {e}\n{traceback.format_exc()}"
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    return kind, message, time.process_time() - c0, time.perf_counter() - t0


def fuzz(target: Target, seed: int, indices: range, crash_dir: Path | None = None,
         progress_every: int = 0, label: str = "", max_seconds: float | None = None) -> Stats:  # fmt: skip
    """Generate and check the inputs ``indices`` (stopping after ``max_seconds``); the figures and findings."""
    target.setup()
    stats = Stats(target.name, seed, baseline_rss_mb=rss_mb(), peak_rss_mb=peak_rss_mb())  # setup's peak too
    t_start = time.perf_counter()
    cpu_start = time.process_time()
    for i in indices:
        if max_seconds is not None and time.perf_counter() - t_start > max_seconds:
            break
        value = target.generate(input_rng(seed, i))
        rss_before = rss_mb()
        per_input = reset_peak_rss()
        kind, message, seconds, wall = run_one(target, value)
        mark = peak_rss_mb()
        stats.peak_rss_mb = max(stats.peak_rss_mb, mark)
        took = mark - (rss_before if per_input else stats.baseline_rss_mb)
        if took > stats.input_peak_mb:
            stats.input_peak_mb, stats.input_peak_index = took, i
        stats.inputs += 1
        if seconds > stats.slowest_seconds:
            stats.slowest_seconds, stats.slowest_index = seconds, i
        stats.slowest_wall_seconds = max(stats.slowest_wall_seconds, wall)
        if kind is None and seconds > TIME_LIMIT:
            kind, message = "slow", f"took {seconds:.2f}s CPU, {wall:.2f}s wall (limit {TIME_LIMIT}s)"
        if kind is None and took > MEMORY_LIMIT_MB:
            kind, message = "memory", f"took {took:.0f} MB above its starting RSS (limit {MEMORY_LIMIT_MB} MB)"
        if kind:
            if kind == "slow":
                stats.over_time += 1
            elif kind == "memory":
                stats.over_memory += 1
            elif kind == "contained":
                stats.contained += 1
            else:
                stats.crashes += 1
            path = None
            if kind == "contained" and stats.contained > 20:
                continue  # counted; the first ones are kept as examples
            if crash_dir is not None and len(stats.findings) < 50:
                crash_dir.mkdir(parents=True, exist_ok=True)
                p = crash_dir / f"{target.name}-{seed}-{i}.{target.extension}"
                p.write_bytes(target.encode(value))
                p.with_suffix(p.suffix + ".txt").write_text(f"{kind}: {message}\n", encoding="utf-8")
                path = str(p)
            stats.findings.append(Finding(i, kind, message[:4000], seconds, path))
        if progress_every and stats.inputs % progress_every == 0:
            el = time.perf_counter() - t_start
            print(f"[{target.name}{label}] {stats.inputs} inputs, {stats.crashes} crashes, {stats.over_time} slow, "
                  f"{stats.inputs / el:.0f}/s, peak {stats.peak_rss_mb:.0f} MB, one input at most "
                  f"+{stats.input_peak_mb:.0f} MB", flush=True)  # fmt: skip
    stats.total_seconds = time.perf_counter() - t_start
    stats.cpu_seconds = time.process_time() - cpu_start
    stats.peak_rss_mb = max(stats.peak_rss_mb, peak_rss_mb())
    target.teardown()
    return stats


def minimise(target: Target, value: Any, still_fails: Any = None, budget: float = 120.0) -> Any:
    """Greedily shrink an input while it still fails the same way (same finding kind)."""
    kind0 = run_one(target, value)[0]
    fails = still_fails or (lambda v: run_one(target, v)[0] == kind0)
    deadline = time.monotonic() + budget
    improved = True
    while improved and time.monotonic() < deadline:
        improved = False
        for smaller in target.shrink(value):
            if time.monotonic() > deadline:
                break
            if fails(smaller):
                value, improved = smaller, True
                break
    return value


def _pool_worker(args: tuple[str, int, int, int, int, str | None, int, float | None]) -> Stats:
    from tests.fuzz.targets import load_target

    name, seed, start, stop, step, crash_dir, progress, max_seconds = args
    return fuzz(load_target(name), seed, range(start, stop, step), Path(crash_dir) if crash_dir else None,
                progress_every=progress, label=f"#{start}", max_seconds=max_seconds)  # fmt: skip


def fuzz_pool(name: str, seed: int, inputs: int, workers: int, crash_dir: str | None = None, progress: int = 0,
              max_seconds: float | None = None) -> Stats:  # fmt: skip
    """Inputs ``0..inputs-1`` of target ``name`` interleaved over ``workers`` spawned processes; merged figures.

    Each worker runs the target's own setup; the inputs are the same as in one process (they depend
    on (seed, index) only), so a finding is replayed the same way.
    """
    import multiprocessing as mp

    jobs = [(name, seed, w, inputs, workers, crash_dir, progress, max_seconds) for w in range(workers)]
    if workers == 1:
        return _pool_worker(jobs[0])
    with mp.get_context("spawn").Pool(workers) as pool:
        parts = pool.map(_pool_worker, jobs)
    total = Stats(name, seed)
    for part in parts:
        total.merge(part)
    return total

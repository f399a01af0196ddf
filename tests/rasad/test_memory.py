"""glibc allocator settings: freed page bodies are returned, not pinned in per-thread arenas."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from rasad.core import memory

# Eight download threads, each holding a few 150-500 KB bodies at a time between small records
# that live on: the main process's allocation pattern during a cycle. Prints VmRSS in MB after.
WORKLOAD = """
import collections, sys, threading
if sys.argv[1] == "tuned":
    from rasad.core.memory import tune_allocator
    assert tune_allocator(), "tune_allocator did not apply"
keep = []
def work(seed):
    window = collections.deque()
    for i in range(400):
        window.append(bytearray(150_000 + (i * 7919 + seed * 31) % 350_000))
        keep.append(bytearray(3000 + i % 500))
        if len(window) > 6:
            window.popleft()
threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
for t in threads: t.start()
for t in threads: t.join()
print(next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmRSS")) / 1024)
"""


def _rss_mb(mode: str, **env: str) -> float:
    clean = {k: v for k, v in os.environ.items() if k not in memory._ENV_OVERRIDES}
    out = subprocess.run([sys.executable, "-c", WORKLOAD, mode], env={**clean, **env}, capture_output=True,
                         text=True, check=True, timeout=120)  # fmt: skip
    return float(out.stdout.strip())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc mallopt")
def test_tuned_allocator_returns_the_bodies() -> None:
    plain = min(_rss_mb("plain") for _ in range(2))
    tuned = max(_rss_mb("tuned") for _ in range(2))
    print(f"\nRSS after 8 threads x 400 bodies: plain {plain:.0f} MB, tuned {tuned:.0f} MB")
    assert tuned <= 0.75 * plain, (plain, tuned)


def test_an_operator_setting_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory._State, "tuned", None)
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert memory.tune_allocator() is False
    assert memory.tune_allocator() is False  # decided once per process


# Many small objects, every other one then freed: the heap keeps its size (its top is live) and
# is full of holes. Prints VmRSS in MB before and after release_free_memory().
HOLES = """
from rasad.core.memory import release_free_memory
keep, drop = [], []
for i in range(60_000):
    (keep if i % 8 == 0 else drop).append(bytearray(2_000))
del drop
before = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmRSS")) / 1024
released = release_free_memory()
after = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmRSS")) / 1024
print(before, after, released)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc_trim")
def test_release_free_memory_hands_back_the_holes() -> None:
    out = subprocess.run([sys.executable, "-c", HOLES], capture_output=True, text=True, check=True, timeout=120)
    before, after, released = out.stdout.split()
    print(f"\nRSS with 105 MB of holes: {float(before):.0f} MB, after release_free_memory {float(after):.0f} MB")
    assert released == "True"
    assert float(after) <= float(before) - 60, (before, after)

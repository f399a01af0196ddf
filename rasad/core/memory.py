"""glibc allocator settings for the process that downloads pages: freed page bodies go back to the OS.

Why: glibc serves an allocation above its mmap threshold (128 KB) with its own mapping, which
``free`` unmaps. But the threshold adapts: after the first such block is freed it rises to that
block's size (up to 32 MB), so from then on 200-500 KB page bodies come from the heap arenas,
one arena per download thread (up to 8 per core), and the holes they leave between smaller
live objects are never returned. The main process of a 2,000-article cycle peaked at 287 MB
instead of 220 MB that way, and kept growing with the cycle's length (bench/bench_e2e.py; the
same run with ``MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=131072`` gave 186 MB at 500 and
220 MB at 2,000). Fixing the threshold (which stops the adaptation) and capping the arenas at
two gives the same here without asking whoever starts the process to set environment variables.

A setting the operator made through the environment is left alone; on other C libraries this
does nothing.

:func:`release_free_memory` (``malloc_trim(0)``, after each batch of a ``rasad run`` cycle) hands
back the free pages inside the heap too: glibc returns only the top of a heap by itself, and a
batch's objects (pages, a thousand loaded event states, responses) leave holes between the few
that live on, on which the next batch's peak then stacks.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import sys

log = logging.getLogger(__name__)

# mallopt parameters (glibc malloc.h).
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
MMAP_THRESHOLD_BYTES = 128 * 1024  # glibc's own starting value, kept fixed
ARENA_MAX = 2

_ENV_OVERRIDES = ("MALLOC_ARENA_MAX", "MALLOC_MMAP_THRESHOLD_", "GLIBC_TUNABLES")


class _State:
    tuned: bool | None = None  # None: not tried yet in this process
    trim: object = None  # glibc's malloc_trim, once looked up (False: not available)


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")


def release_free_memory() -> bool:
    """Return the heap's free pages to the OS (glibc ``malloc_trim(0)``); whether anything was released."""
    if _State.trim is None:
        _State.trim = False
        if sys.platform.startswith("linux"):
            try:
                trim = _libc().malloc_trim
                trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
                _State.trim = trim
            except (OSError, AttributeError):  # not glibc
                pass
    return bool(_State.trim and _State.trim(0))  # type: ignore[operator]


def tune_allocator() -> bool:
    """Fix glibc's mmap threshold and cap its arenas, once per process; whether it applied."""
    if _State.tuned is not None:
        return _State.tuned
    _State.tuned = False
    if not sys.platform.startswith("linux") or any(os.environ.get(name) for name in _ENV_OVERRIDES):
        return False
    try:
        mallopt = _libc().mallopt
    except (OSError, AttributeError):  # not glibc (musl has no tunable arenas)
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # mallopt returns 1 on success, 0 on an unknown parameter or value.
    _State.tuned = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(mallopt(M_ARENA_MAX, ARENA_MAX))
    if not _State.tuned:
        log.debug("mallopt refused the settings: allocator left as it is")
    return _State.tuned

"""Hashed features and time-decayed document frequencies: the bounded half of the model.

Tokens and entity ids are hashed into a fixed number of buckets, and document
frequencies decay with a half-life on the stream clock, so neither the vocabulary
nor the IDF statistics grow with the length of the stream.
"""

from __future__ import annotations

import math
import zlib
from array import array
from collections.abc import Iterable
from typing import Any

import numpy as np

# Decay is applied lazily: increments are scaled up by 2**(age/half-life) instead of
# every stored count being scaled down. Past this exponent the store is renormalised
# so float32 cells never overflow, and often enough (every 8 half-lives) that the prune
# below keeps an exported state to the vocabulary of the recent past.
_RESCALE_EXPONENT = 8.0
# A count that has decayed below this (about 7 half-lives for a token seen once) is dropped.
_PRUNE_BELOW = 0.01


def hash_feature(token: str, bits: int) -> int:
    """Deterministic bucket of a token (stable across processes, unlike ``hash``)."""
    return zlib.crc32(token.encode("utf-8")) & ((1 << bits) - 1)


class DecayedFrequency:
    """Document frequency per hashed bucket, decaying with a half-life in seconds."""

    def __init__(self, bits: int, half_life_s: float) -> None:
        self.bits = bits
        self.half_life_s = half_life_s
        self._cells = array("f", bytes(4 * (1 << bits)))
        self._ref_time: float | None = None  # clock at which a stored count equals its value
        self._total = 0.0  # decayed number of documents, same scaling as the cells

    def _scale(self, now: float) -> float:
        if self._ref_time is None:
            self._ref_time = now
        return 2.0 ** ((now - self._ref_time) / self.half_life_s)

    def add_document(self, buckets: Iterable[int], now: float) -> None:
        """Count one document containing these (distinct) buckets at stream time ``now``."""
        # The exponent is checked before 2**exponent is taken: a stream that jumps years ahead
        # (an old page date, then a fresh one) would overflow the float.
        if self._ref_time is not None and (now - self._ref_time) / self.half_life_s > _RESCALE_EXPONENT:
            self._renormalise(now)
        weight = self._scale(now)
        cells = self._cells
        for bucket in buckets:
            cells[bucket] += weight
        self._total += weight

    def _renormalise(self, now: float) -> None:
        exponent = (now - (self._ref_time if self._ref_time is not None else now)) / self.half_life_s
        factor = 1.0 / 2.0**exponent if exponent < 1000 else 0.0  # past 1000 half-lives nothing is left
        # In float64, then stored as float32: the same rounding as a cell-by-cell loop.
        scaled = self._view().astype(np.float64) * factor
        scaled[scaled < _PRUNE_BELOW] = 0.0
        self._view()[:] = scaled
        self._total *= factor
        self._ref_time = now

    def _view(self) -> np.ndarray:
        # A numpy view of the same memory: bulk operations in C, per-bucket access stays on
        # the array (numpy scalar indexing is slower than array's for single cells).
        return np.frombuffer(self._cells, dtype=np.float32)

    def idf(self, bucket: int, now: float) -> float:
        """Smoothed inverse document frequency of a bucket at stream time ``now``."""
        scale = self._scale(now)
        return math.log1p((1.0 + self._total / scale) / (0.5 + self._cells[bucket] / scale))

    def idf_many(self, buckets: Iterable[int], now: float) -> list[float]:
        """IDF of several buckets at once (one scale computation)."""
        scale = self._scale(now)
        numerator = 1.0 + self._total / scale
        cells = self._cells
        return [math.log1p(numerator / (0.5 + cells[b] / scale)) for b in buckets]

    def copy(self) -> DecayedFrequency:
        """An independent copy (to look ahead without changing this one)."""
        freq = DecayedFrequency(self.bits, self.half_life_s)
        freq._cells = array("f", self._cells)
        freq._ref_time = self._ref_time
        freq._total = self._total
        return freq

    def export_state(self) -> dict[str, Any]:
        """JSON-serialisable state: only non-zero cells are written."""
        view = self._view()
        index = np.flatnonzero(view)
        return {
            "bits": self.bits,
            "half_life_s": self.half_life_s,
            "ref_time": self._ref_time,
            "total": self._total,
            "index": index.tolist(),
            "values": view[index].astype(np.float64).tolist(),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> DecayedFrequency:
        """Rebuild exactly what :meth:`export_state` wrote."""
        freq = cls(state["bits"], state["half_life_s"])
        freq._ref_time = state["ref_time"]
        freq._total = state["total"]
        index = np.asarray(state["index"], dtype=np.intp)
        freq._view()[index] = np.asarray(state["values"], dtype=np.float64)
        return freq

    @property
    def nonzero(self) -> int:
        """How many buckets hold a count (a measure of the live vocabulary)."""
        return int(np.count_nonzero(self._view()))

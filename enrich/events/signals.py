"""Event signals (``new``, ``confirmed``, ``breaking``) and the hourly burst detector.

Every signal has a deterministic id, so a consumer that upserts signals by id (the
alerting stage) sends each alert once even when a stream is reprocessed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

SIGNAL_NEW = "new"
SIGNAL_CONFIRMED = "confirmed"
SIGNAL_BREAKING = "breaking"
SIGNAL_MERGED = "merged"

_HOUR_S = 3600


def hour_label(hour: int) -> str:
    """ISO label of an hour bucket (hours since the epoch), e.g. ``2026-11-23T14``."""
    return datetime.fromtimestamp(hour * _HOUR_S, tz=timezone.utc).strftime("%Y-%m-%dT%H")


@dataclass(frozen=True)
class Signal:
    """One alertable fact about the stream; ``id`` is stable across reprocessing."""

    id: str
    kind: str  # new | confirmed | breaking | merged
    time: datetime  # time of the article that made it fire
    article_id: str  # the article that made it fire
    event_id: str | None = None  # the event it concerns (breaking: the article's event; merged: the survivor)
    key: str | None = None  # breaking only: "entity:<id>" or "topic:<id>"
    details: dict[str, Any] = field(default_factory=dict)

    def to_doc(self) -> dict[str, Any]:
        """JSON-serialisable form (the time as ISO 8601 UTC)."""
        return {
            "id": self.id,
            "kind": self.kind,
            "time": self.time.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "article_id": self.article_id,
            "event_id": self.event_id,
            "key": self.key,
            "details": dict(self.details),
        }


def new_signal(event_id: str, article_id: str, time: datetime) -> Signal:
    """The ``new`` signal of an event, fired by its first article."""
    return Signal(f"{event_id}:{SIGNAL_NEW}", SIGNAL_NEW, time, article_id, event_id)


def confirmed_signal(event_id: str, article_id: str, time: datetime, sources: list[str]) -> Signal:
    """The ``confirmed`` signal of an event, fired once when enough distinct sources report it."""
    return Signal(
        f"{event_id}:{SIGNAL_CONFIRMED}",
        SIGNAL_CONFIRMED,
        time,
        article_id,
        event_id,
        details={"sources": sources},
    )


def merged_signal(event_id: str, into: str, article_id: str, time: datetime, similarity: float) -> Signal:
    """The ``merged`` signal: ``event_id`` turned out to be the same story as ``into`` and now lives on in it."""
    return Signal(
        f"{event_id}:{SIGNAL_MERGED}",
        SIGNAL_MERGED,
        time,
        article_id,
        into,
        details={"merged_event": event_id, "merged_into": into, "similarity": round(similarity, 4)},
    )


@dataclass(frozen=True)
class Burst:
    """An hour in which a key's article count jumped above its own baseline."""

    key: str
    hour: int
    count: int
    baseline_mean: float
    baseline_std: float
    z: float


class BurstDetector:
    """Hourly article counts per key (entity or topic) with a z-score against the past hours.

    The baseline of hour ``h`` is the ``baseline_hours`` hours before it (hours with no
    article count as zero). The spread is floored at the Poisson value sqrt(mean) and at
    1, because a key that was flat at 0 or 1 articles an hour has a sample deviation
    near zero and would otherwise turn its second article into an infinite z-score.
    Nothing fires until the stream itself is ``baseline_hours`` old: at a cold start
    every key would look new.
    """

    def __init__(self, baseline_hours: int, z_threshold: float, min_count: int) -> None:
        self.baseline_hours = baseline_hours
        self.z_threshold = z_threshold
        self.min_count = min_count
        self._counts: dict[str, dict[int, int]] = {}
        self._fired: dict[str, int] = {}  # "key@hour" -> hour, to fire once per key and hour
        self._first_hour: int | None = None
        self._clock_hour: int | None = None

    def observe(self, keys: list[str], time_s: float, clock_s: float) -> list[Burst]:
        """Count one article carrying ``keys`` at ``time_s``; return the bursts it completes."""
        hour = int(time_s // _HOUR_S)
        clock_hour = int(clock_s // _HOUR_S)
        if self._first_hour is None:
            self._first_hour = hour
        self._first_hour = min(self._first_hour, hour)
        if self._clock_hour is None or clock_hour > self._clock_hour:
            self._clock_hour = clock_hour
            self._prune(clock_hour)
        if hour < clock_hour - self.baseline_hours:
            return []  # too late to matter: its hour has left the baseline window
        warm = hour - self._first_hour >= self.baseline_hours
        bursts: list[Burst] = []
        for key in keys:
            hours = self._counts.setdefault(key, {})
            count = hours.get(hour, 0) + 1
            hours[hour] = count
            if not warm or count < self.min_count or f"{key}@{hour}" in self._fired:
                continue
            baseline = [hours.get(h, 0) for h in range(hour - self.baseline_hours, hour)]
            mean = sum(baseline) / len(baseline)
            std = math.sqrt(sum((c - mean) ** 2 for c in baseline) / len(baseline))
            z = (count - mean) / max(std, math.sqrt(mean), 1.0)
            if z >= self.z_threshold:
                self._fired[f"{key}@{hour}"] = hour
                bursts.append(Burst(key, hour, count, mean, std, z))
        return bursts

    def _prune(self, clock_hour: int) -> None:
        # Keep twice the baseline so a late article (hour just inside the window) still
        # sees a full baseline behind it.
        oldest = clock_hour - 2 * self.baseline_hours
        for key in list(self._counts):
            hours = self._counts[key]
            for h in [h for h in hours if h < oldest]:
                del hours[h]
            if not hours:
                del self._counts[key]
        for tag in [t for t, h in self._fired.items() if h < oldest]:
            del self._fired[tag]

    @property
    def size(self) -> int:
        """Number of stored (key, hour) counts: the detector's memory footprint."""
        return sum(len(h) for h in self._counts.values()) + len(self._fired)

    def export_state(self) -> dict[str, Any]:
        """JSON-serialisable state."""
        return {
            "baseline_hours": self.baseline_hours,
            "z_threshold": self.z_threshold,
            "min_count": self.min_count,
            "counts": {k: [[h, c] for h, c in hours.items()] for k, hours in self._counts.items()},
            "fired": [[t, h] for t, h in self._fired.items()],
            "first_hour": self._first_hour,
            "clock_hour": self._clock_hour,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> BurstDetector:
        """Rebuild exactly what :meth:`export_state` wrote."""
        det = cls(state["baseline_hours"], state["z_threshold"], state["min_count"])
        det._counts = {k: dict(pairs) for k, pairs in state["counts"].items()}
        det._fired = dict(state["fired"])
        det._first_hour = state["first_hour"]
        det._clock_hour = state["clock_hour"]
        return det

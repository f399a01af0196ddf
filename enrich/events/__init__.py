"""Events: online story clustering and new-event signals (pure core, no I/O)."""

from rasad.enrich.events.cluster import (
    Assignment,
    ClusterConfig,
    ClusterItem,
    Event,
    EventClusterer,
    EventMerge,
)
from rasad.enrich.events.signals import SIGNAL_BREAKING, SIGNAL_CONFIRMED, SIGNAL_MERGED, SIGNAL_NEW, Signal

__all__ = [
    "SIGNAL_BREAKING",
    "SIGNAL_CONFIRMED",
    "SIGNAL_MERGED",
    "SIGNAL_NEW",
    "Assignment",
    "ClusterConfig",
    "ClusterItem",
    "Event",
    "EventClusterer",
    "EventMerge",
    "Signal",
]

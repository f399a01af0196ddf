"""Values computed elsewhere for a given text, each taken once by the code that would compute it.

The extraction workers compute an article's search forms and event tokens (rasad.enrich.prepare);
the indexing and the clusterer, which would compute them again from the same text, take them
from here instead. Keyed by the text itself (equal text, equal value), taken once, and bounded in
case an article is never indexed or clustered.
"""

from __future__ import annotations

from typing import Generic, TypeVar

V = TypeVar("V")


class Handoff(Generic[V]):
    """text -> a value computed for it, taken at most once; cleared past ``max_entries``."""

    def __init__(self, max_entries: int = 4096) -> None:
        self._values: dict[str, V] = {}
        self.max_entries = max_entries

    def put(self, text: str, value: V) -> None:
        if not text:
            return
        if len(self._values) >= self.max_entries:
            self._values.clear()
        self._values[text] = value

    def take(self, text: str) -> V | None:
        return self._values.pop(text, None) if self._values else None
